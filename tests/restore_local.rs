//! Local-store restore: every v1 and v2 fixture is written into a store
//! directory, a real nats-server loads it, and what the server reports is
//! compared with the fixture's expected.json (state, deleted list, every
//! message, consumers). Plus renames, consumer subsets, 2.14 loading a store
//! made from a v2 archive, and the failure paths.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is a failed test

mod common;
mod restore_support;

use common::{all_fixtures, read_json, NatsServer, TempDir};
use jsbackup::model::Backup;
use jsbackup::ops::restore_local::{
    restore_to_store, ConsumerSelection, LocalRestoreOptions, RestoreError, RestoreReport,
};
use restore_support::{check_stream, label, open, u64_at, want_for};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

fn restore(backup: &Backup, options: &LocalRestoreOptions) -> Result<RestoreReport, RestoreError> {
    let cancel = AtomicBool::new(false);
    let mut calls = 0u64;
    let result = restore_to_store(backup, options, &mut |_, _| calls += 1, &cancel);
    if result.is_ok() {
        assert!(calls > 0, "progress was never reported");
    }
    result
}

fn stream_dir(store: &Path, name: &str) -> PathBuf {
    store
        .join("jetstream")
        .join("$G")
        .join("streams")
        .join(name)
}

fn restore_and_check(dir: &Path, version: &str, rename: Option<&str>, consumers: Option<&[&str]>) {
    let what = format!(
        "{} -> store -> {version}{}{}",
        label(dir),
        rename.map(|n| format!(" as {n}")).unwrap_or_default(),
        consumers
            .map(|c| format!(" consumers {c:?}"))
            .unwrap_or_default()
    );
    let exp = read_json(&dir.join("expected.json"));
    let backup = open(dir);
    let store = TempDir::new("store");
    let mut options = LocalRestoreOptions::new(store.path());
    options.stream_name = rename.map(str::to_string);
    if let Some(list) = consumers {
        options.consumers = ConsumerSelection::Only(list.iter().map(|s| s.to_string()).collect());
    }
    let report = restore(&backup, &options).unwrap_or_else(|e| panic!("{what}: {e}"));
    let name = rename
        .map(str::to_string)
        .unwrap_or_else(|| backup.stream_name.clone());
    assert_eq!(report.stream_name, name);
    let target = stream_dir(store.path(), &name);
    assert!(
        target.join("meta.inf").is_file(),
        "{what}: no meta.inf in {}",
        target.display()
    );
    let leftovers: Vec<_> = std::fs::read_dir(target.parent().expect("streams dir"))
        .expect("list streams")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{what}: temp debris {leftovers:?}");

    let want = want_for(&exp, "2.15.1", consumers);
    let server = NatsServer::start(version, Some(store.path()));
    let mut conn = server.connect();
    assert_eq!(
        conn.stream_names(),
        vec![name.clone()],
        "{what}\n{}",
        server.log()
    );
    check_stream(&what, &server, &mut conn, &name, &want);
    let log = server.log();
    assert!(!log.contains("checksums do not match"), "{what}: {log}");
    assert!(!log.contains("Error unmarshalling"), "{what}: {log}");

    // A second start (now with the server's own index.db) gives the same.
    drop(conn);
    server.stop();
    let server = NatsServer::start(version, Some(store.path()));
    let mut conn = server.connect();
    check_stream(
        &format!("{what} (second start)"),
        &server,
        &mut conn,
        &name,
        &want,
    );
}

#[test]
fn every_v1_fixture_restores_to_a_store_2_15_loads() {
    let fixtures = all_fixtures("v1");
    assert!(fixtures.len() >= 6, "{fixtures:?}");
    for dir in fixtures {
        restore_and_check(&dir, "2.15", None, None);
    }
}

#[test]
fn every_v2_fixture_restores_to_a_store_2_15_loads() {
    let fixtures = all_fixtures("v2");
    assert!(fixtures.len() >= 6, "{fixtures:?}");
    for dir in fixtures {
        restore_and_check(&dir, "2.15", None, None);
    }
}

#[test]
fn renamed_with_consumer_subset() {
    for rel in ["v2/orders", "v1/orders"] {
        let dir = common::fixture(rel);
        restore_and_check(&dir, "2.15", Some("ORDERS_COPY"), None);
        restore_and_check(
            &dir,
            "2.15",
            Some("ORDERS_B"),
            Some(&["processor", "eu-shipping"]),
        );
        restore_and_check(&dir, "2.15", None, Some(&[]));
    }
}

#[test]
fn store_from_v2_archive_loads_in_2_14() {
    for rel in ["v2/orders", "v2/trailing-deletes", "v2/kv"] {
        restore_and_check(&common::fixture(rel), "2.14", None, None);
    }
}

#[test]
fn existing_stream_dir_is_refused_unless_replace() {
    let dir = common::fixture("v2/orders");
    let backup = open(&dir);
    let store = TempDir::new("store");
    let target = stream_dir(store.path(), &backup.stream_name);
    std::fs::create_dir_all(&target).expect("mkdir");
    std::fs::write(target.join("marker"), b"keep me").expect("marker");
    let options = LocalRestoreOptions::new(store.path());
    let error = restore(&backup, &options).expect_err("must refuse");
    assert!(matches!(error, RestoreError::Exists(_)), "{error}");
    assert!(error.to_string().contains("already exists"), "{error}");
    assert_eq!(
        std::fs::read(target.join("marker")).expect("marker kept"),
        b"keep me"
    );
    let entries: Vec<_> = std::fs::read_dir(target.parent().expect("parent"))
        .expect("list")
        .filter_map(Result::ok)
        .map(|e| e.file_name())
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");

    let mut options = LocalRestoreOptions::new(store.path());
    options.replace = true;
    let report = restore(&backup, &options).expect("replace");
    assert!(report.replaced);
    assert!(!target.join("marker").exists());
    assert!(target.join("meta.inf").is_file());
}

#[test]
fn unwritable_target_leaves_no_debris() {
    let dir = common::fixture("v2/orders");
    let backup = open(&dir);
    let root = TempDir::new("ro");
    // A file where the store's jetstream directory should be: nothing can be
    // created below it (works even as root, unlike permission bits).
    std::fs::write(root.join("jetstream"), b"not a directory").expect("file");
    let error = restore(&backup, &LocalRestoreOptions::new(root.path())).expect_err("must fail");
    let text = error.to_string();
    assert!(text.contains("jetstream"), "error names the path: {text}");
    let entries: Vec<_> = std::fs::read_dir(root.path())
        .expect("list")
        .filter_map(Result::ok)
        .collect();
    assert_eq!(entries.len(), 1, "debris: {entries:?}");

    // A store directory that does not exist below a missing parent is
    // created; on failure the created parents are removed again.
    let missing = root.join("a").join("b");
    let cancel = AtomicBool::new(true);
    let error = restore_to_store(
        &backup,
        &LocalRestoreOptions::new(&missing),
        &mut |_, _| {},
        &cancel,
    )
    .expect_err("cancelled");
    assert!(matches!(error, RestoreError::Cancelled(_)), "{error}");
    assert!(!root.join("a").exists(), "created parents left behind");

    // Read-only directories (meaningful when not running as root).
    let ro = root.join("readonly");
    std::fs::create_dir(&ro).expect("mkdir");
    let mut perms = std::fs::metadata(&ro).expect("meta").permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o555);
    std::fs::set_permissions(&ro, perms.clone()).expect("chmod");
    let probe = std::fs::create_dir(ro.join("probe"));
    if probe.is_err() {
        let error =
            restore(&backup, &LocalRestoreOptions::new(ro.join("store"))).expect_err("read-only");
        assert!(error.to_string().contains("readonly"), "{error}");
        assert_eq!(std::fs::read_dir(&ro).expect("list").count(), 0);
    }
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&ro, perms).expect("chmod back");
}

#[test]
fn unknown_consumer_and_bad_name_are_bad_input() {
    let backup = open(&common::fixture("v2/orders"));
    let store = TempDir::new("store");
    let mut options = LocalRestoreOptions::new(store.path());
    options.consumers = ConsumerSelection::Only(vec!["nope".into()]);
    let error = restore(&backup, &options).expect_err("unknown consumer");
    assert!(
        error.is_bad_input() && error.to_string().contains("nope"),
        "{error}"
    );
    let mut options = LocalRestoreOptions::new(store.path());
    options.stream_name = Some("bad.name".into());
    assert!(restore(&backup, &options)
        .expect_err("bad name")
        .is_bad_input());
    assert!(!store.join("jetstream").exists());
}

#[test]
fn drop_expired_leaves_gaps_and_keeps_last_seq() {
    let dir = common::fixture("v2/ttl");
    let exp = read_json(&dir.join("expected.json"));
    let backup = open(&dir);
    let store = TempDir::new("store");
    // The default: expired messages are left out as the server would drop them.
    let options = LocalRestoreOptions::new(store.path());
    let report = restore(&backup, &options).expect("restore");
    let now = jsbackup::util::time::now_ns();
    let expired = exp["ttl"]["messages"]
        .as_array()
        .expect("ttl.messages")
        .iter()
        .filter(|m| m["ttl_seconds"].as_i64().unwrap_or(0) > 0)
        .filter(|m| {
            m["expires_at"]
                .as_str()
                .and_then(jsbackup::util::time::parse_rfc3339_ns)
                .is_some_and(|t| t < now)
        })
        .count() as u64;
    assert_eq!(report.expired_dropped, expired, "{report:?}");
    assert_eq!(report.last_seq, u64_at(&exp["state"]["last_seq"]));
    let server = NatsServer::start("2.15", Some(store.path()));
    let mut conn = server.connect();
    let info = conn.stream_info(&backup.stream_name);
    assert_eq!(
        u64_at(&info["state"]["last_seq"]),
        u64_at(&exp["state"]["last_seq"]),
        "{info}"
    );
    assert_eq!(
        u64_at(&info["state"]["messages"]),
        u64_at(&exp["state"]["messages"]) - expired,
        "{info}"
    );
}

#[test]
fn cli_restore_store_exit_codes() {
    let bin = env!("CARGO_BIN_EXE_jsbackup");
    let dir = common::fixture("v1/orders");
    let store = TempDir::new("store");
    let run = |args: &[&str]| {
        std::process::Command::new(bin)
            .arg("restore")
            .arg(&dir)
            .args(args)
            .output()
            .expect("run jsbackup")
    };
    let store_arg = store.path().to_str().expect("utf-8 path");
    let ok = run(&["--store-dir", store_arg, "--json"]);
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let report: Value = serde_json::from_slice(&ok.stdout).expect("json report");
    assert_eq!(report["ok"], true);
    assert_eq!(report["messages"], 1674);
    let again = run(&["--store-dir", store_arg]);
    assert_eq!(
        again.status.code(),
        Some(1),
        "existing stream is a failed restore"
    );
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    let bad = run(&[
        "--store-dir",
        store_arg,
        "--consumers",
        "nope",
        "--stream",
        "X",
    ]);
    assert_eq!(bad.status.code(), Some(2));
    let neither = run(&[]);
    assert_eq!(neither.status.code(), Some(2));
}

/// `--replace` treats a regular file or a symlink in the stream's place like a
/// directory: replaced (the symlink's target untouched), no `-old-` copy left.
#[test]
fn replace_handles_a_file_or_a_symlink_in_the_way() {
    let dir = common::fixture("v2/orders");
    let exp = read_json(&dir.join("expected.json"));
    let backup = open(&dir);
    for kind in ["file", "symlink", "dangling symlink", "directory"] {
        let store = TempDir::new("replace");
        let target = stream_dir(store.path(), &backup.stream_name);
        let streams = target.parent().expect("streams dir").to_path_buf();
        std::fs::create_dir_all(&streams).expect("mkdir");
        let elsewhere = store.join("elsewhere");
        std::fs::create_dir(&elsewhere).expect("mkdir elsewhere");
        std::fs::write(elsewhere.join("keep"), b"not ours").expect("write");
        match kind {
            "file" => std::fs::write(&target, b"a file").expect("file"),
            "symlink" => std::os::unix::fs::symlink(&elsewhere, &target).expect("symlink"),
            "dangling symlink" => {
                std::os::unix::fs::symlink(store.join("missing"), &target).expect("symlink")
            }
            _ => std::fs::create_dir(&target).expect("dir"),
        }
        let refused = restore(&backup, &LocalRestoreOptions::new(store.path()))
            .expect_err("exists without --replace");
        assert!(
            matches!(refused, RestoreError::Exists(_)),
            "{kind}: {refused}"
        );

        let mut options = LocalRestoreOptions::new(store.path());
        options.replace = true;
        let report = restore(&backup, &options).unwrap_or_else(|e| panic!("{kind}: {e}"));
        assert!(report.replaced, "{kind}");
        let meta = std::fs::symlink_metadata(&target).expect("target");
        assert!(meta.is_dir(), "{kind}: the target is now a directory");
        assert!(target.join("meta.inf").is_file(), "{kind}");
        let entries: Vec<String> = std::fs::read_dir(&streams)
            .expect("list")
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(entries, vec![backup.stream_name.clone()], "{kind}: debris");
        assert_eq!(
            std::fs::read(elsewhere.join("keep")).expect("symlink target kept"),
            b"not ours",
            "{kind}"
        );
        let server = NatsServer::start("2.15", Some(store.path()));
        let mut conn = server.connect();
        let info = conn.stream_info(&backup.stream_name);
        assert_eq!(
            info["state"]["messages"], exp["state"]["messages"],
            "{kind}: {info}"
        );
    }
}
