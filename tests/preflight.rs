//! Restore pre-flight (ops::preflight) as the GUI and `jsbackup restore` run
//! it: store checks on real directories, server checks against real
//! nats-server 2.14.6 and 2.15.1, and the CLI printing them and refusing on a
//! failed one (nothing written, nothing created on the server).

mod common;
mod restore_support;

use common::{read_json, NatsServer, TempDir};
use jsbackup::ops::config_check::ConfigPolicy;
use jsbackup::ops::nats_client::Auth;
use jsbackup::ops::preflight::{
    archive_checks, blocked, server_preflight, store_preflight, ArchivePlan, Check,
};
use jsbackup::ops::restore_local::ConsumerSelection;
use restore_support::open;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// A copy of fixture `rel` whose backup.json config is changed by `edit`.
fn edited_copy(root: &Path, rel: &str, edit: impl Fn(&mut Value)) -> PathBuf {
    let source = common::fixture(rel);
    let dir = root.join(rel.replace('/', "-"));
    std::fs::create_dir_all(&dir).expect("mkdir");
    for entry in std::fs::read_dir(&source).expect("list fixture") {
        let path = entry.expect("entry").path();
        let file = path.file_name().expect("file name");
        if file != "backup.json" {
            std::fs::copy(&path, dir.join(file)).expect("copy fixture file");
        }
    }
    let mut backup_json = read_json(&source.join("backup.json"));
    edit(&mut backup_json["config"]);
    std::fs::write(
        dir.join("backup.json"),
        serde_json::to_vec(&backup_json).expect("json"),
    )
    .expect("write backup.json");
    dir
}

fn failures(checks: &[Check]) -> Vec<&str> {
    checks
        .iter()
        .filter(|check| check.failed())
        .map(|check| check.text.as_str())
        .collect()
}

fn store_checks(dir: &Path, store: &Path, replace: bool, policy: &ConfigPolicy) -> Vec<Check> {
    let backup = open(dir);
    store_preflight(
        &backup,
        store,
        "$G",
        &backup.stream_name,
        replace,
        &ConsumerSelection::All,
        policy,
    )
}

#[test]
fn store_checks_name_what_blocks_the_restore() {
    let work = TempDir::new("preflight-store");
    let store = work.join("store");
    let orders = common::fixture("v1/orders");
    let fresh = store_checks(&orders, &store, false, &ConfigPolicy::default());
    assert!(!blocked(&fresh), "{fresh:?}");
    assert!(
        fresh
            .iter()
            .any(|check| check.ok.is_none() && check.text.contains("will be created")),
        "{fresh:?}"
    );
    assert!(
        fresh.iter().any(|check| check
            .text
            .contains("accepts the stream and consumer configs")),
        "{fresh:?}"
    );

    let target = store.join("jetstream/$G/streams/ORDERS");
    std::fs::create_dir_all(&target).expect("mkdir");
    let taken = store_checks(&orders, &store, false, &ConfigPolicy::default());
    let failed = failures(&taken);
    assert_eq!(failed.len(), 1, "{taken:?}");
    assert!(
        failed[0].contains(&target.display().to_string()) && failed[0].contains("already exists")
    );
    assert!(!blocked(&store_checks(
        &orders,
        &store,
        true,
        &ConfigPolicy::default()
    )));

    let memory = edited_copy(work.path(), "v2/orders", |config| {
        config["storage"] = json!("memory")
    });
    let checks = store_checks(
        &memory,
        &work.join("other"),
        false,
        &ConfigPolicy::default(),
    );
    let failed = failures(&checks);
    assert_eq!(failed.len(), 1, "{checks:?}");
    assert!(failed[0].contains("memory storage"), "{failed:?}");

    let file = work.join("a-file");
    std::fs::write(&file, b"x").expect("write");
    let checks = store_checks(&orders, &file, false, &ConfigPolicy::default());
    assert!(
        failures(&checks)
            .iter()
            .any(|text| text.contains("not a directory")),
        "{checks:?}"
    );

    let old_server = ConfigPolicy {
        target_version: Some("2.10.0".into()),
        drop_unknown: false,
        ..ConfigPolicy::default()
    };
    // v1/orders comes from 2.14: its allow_msg_ttl and consumers' pause_until are newer than 2.10.
    let checks = store_checks(&orders, &work.join("s3"), false, &old_server);
    let failed = failures(&checks);
    assert_eq!(failed.len(), 1, "{checks:?}");
    assert!(
        failed[0].contains("\"allow_msg_ttl\"") && failed[0].contains("2.11"),
        "{failed:?}"
    );
}

fn run(args: &[&str]) -> (Option<i32>, Value, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_jsbackup"))
        .arg("restore")
        .args(args)
        .output()
        .expect("run jsbackup");
    let json = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
    (
        output.status.code(),
        json,
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn cli_prints_the_checks_and_refuses_on_a_failed_one() {
    let work = TempDir::new("preflight-cli");
    let store = work.join("store");
    let store_arg = store.to_str().expect("utf-8");
    let orders = common::fixture("v2/orders");
    let orders_arg = orders.to_str().expect("utf-8");
    let (code, report, stderr) = run(&[orders_arg, "--store-dir", store_arg, "--json"]);
    assert_eq!(code, Some(0), "{stderr}");
    let checks = report["preflight"].as_array().expect("preflight in --json");
    assert!(checks.len() >= 3, "{report}");
    assert!(checks.iter().all(|check| check["ok"] != false), "{report}");

    let (code, _, stderr) = run(&[orders_arg, "--store-dir", store_arg]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("pre-flight:"), "{stderr}");
    assert!(
        stderr.contains("FAIL") && stderr.contains("already exists"),
        "{stderr}"
    );

    let memory = edited_copy(work.path(), "v2/orders", |config| {
        config["storage"] = json!("memory")
    });
    let other = work.join("other");
    let (code, report, _) = run(&[
        memory.to_str().expect("utf-8"),
        "--store-dir",
        other.to_str().expect("utf-8"),
        "--json",
    ]);
    assert_eq!(code, Some(1));
    assert_eq!(report["ok"], false);
    assert!(
        report["error"]
            .as_str()
            .unwrap_or("")
            .contains("memory storage"),
        "{report}"
    );
    assert!(!other.exists(), "a refused restore creates nothing");
}

fn server_checks(server: &NatsServer, dir: &Path, name: &str, drop_unknown: bool) -> Vec<Check> {
    let backup = open(dir);
    server_preflight(
        &backup,
        &server.url,
        &Auth::None,
        name,
        &ConsumerSelection::All,
        false,
        drop_unknown,
    )
}

#[test]
fn server_checks_against_real_servers() {
    let work = TempDir::new("preflight-server");
    let hostile = edited_copy(work.path(), "v2/orders", |config| {
        config["from_the_future"] = json!(1);
        config["subjects"] = json!("orders.>");
    });
    for (version, full) in [("2.14", "2.14.6"), ("2.15", "2.15.1")] {
        let server = NatsServer::start(version, None);
        let good = server_checks(&server, &common::fixture("v2/orders"), "ORDERS", false);
        assert!(!blocked(&good), "{version}: {good:?}");
        assert!(
            good[0].text.contains(&format!("nats-server {full}")),
            "{good:?}"
        );
        let schema = if version == "2.14" { "2.14" } else { "2.15" };
        assert!(
            good.iter().any(|check| check.text
                == format!("nats-server {schema} accepts the stream and consumer configs")),
            "{good:?}"
        );
        let refused = server_checks(&server, &hostile, "ORDERS", false);
        let failed = failures(&refused);
        assert_eq!(failed.len(), 1, "{refused:?}");
        assert!(
            failed[0].contains("\"from_the_future\"") && failed[0].contains("\"subjects\""),
            "{failed:?}"
        );
        let dropped = server_checks(&server, &hostile, "ORDERS", true);
        assert!(!blocked(&dropped), "{dropped:?}");
        assert!(
            dropped
                .iter()
                .any(|check| check.text.contains("re-encoded")),
            "{version}: dropped fields cannot go up in the original archive: {dropped:?}"
        );
        assert_eq!(
            dropped
                .iter()
                .filter(|check| check.ok.is_none() && check.text.starts_with("dropped"))
                .count(),
            2,
            "{dropped:?}"
        );
    }
}

#[test]
fn cli_server_restore_refuses_then_drops_unknown_config() {
    let work = TempDir::new("preflight-server-cli");
    let hostile = edited_copy(work.path(), "v2/orders", |config| {
        config["from_the_future"] = json!(1);
        config["subjects"] = json!("orders.>");
    });
    let hostile_arg = hostile.to_str().expect("utf-8");
    let server = NatsServer::start("2.15", None);
    let (code, report, stderr) = run(&[hostile_arg, "--server", &server.url, "--json"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        report["error"]
            .as_str()
            .unwrap_or("")
            .contains("\"from_the_future\""),
        "{report}"
    );
    let mut conn = server.connect();
    assert!(
        conn.stream_names().is_empty(),
        "a refused restore creates no stream"
    );

    let (code, report, stderr) = run(&[
        hostile_arg,
        "--server",
        &server.url,
        "--json",
        "--drop-unknown-config",
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    let exp = read_json(&common::fixture("v2/orders").join("expected.json"));
    let info = conn.stream_info("ORDERS");
    assert_eq!(
        info["state"]["messages"], exp["state"]["messages"],
        "{info}"
    );
    assert!(info["config"].get("from_the_future").is_none(), "{info}");
    assert_eq!(info["config"]["subjects"], json!(["ORDERS"]), "{info}");
    let notes = report["notes"].as_array().expect("notes");
    assert!(
        notes
            .iter()
            .any(|note| note.as_str().unwrap_or("").contains("dropped")),
        "{report}"
    );
}

/// `jsbackup info --json --now NOW` (the restore_prediction the checks quote).
fn info_prediction(dir: &Path, now: &str) -> Value {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_jsbackup"))
        .args(["info", "--json", "--now", now])
        .arg(dir)
        .output()
        .expect("run jsbackup info");
    let info: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("info --json {}: {e}", dir.display()));
    info["restore_prediction"].clone()
}

/// The archive checks the CLI and the GUI show first: a damaged backup is a
/// failed check naming the damage and pointing at salvage (a note once
/// salvaging); what the restore will drop is the restore_prediction of
/// `info --json` at the same moment, with its counts.
#[test]
fn archive_checks_name_the_damage_and_what_a_restore_drops() {
    for dir in common::all_fixtures("corrupt") {
        let backup = open(&dir);
        let plan = |salvage| ArchivePlan {
            salvage,
            config: None,
            reference_ns: jsbackup::util::time::now_ns(),
            local: true,
            storage_file: false,
        };
        let checks = archive_checks(&backup, &plan(false));
        let failed = failures(&checks);
        assert_eq!(failed.len(), 1, "{}: {checks:?}", dir.display());
        assert!(
            failed[0].contains("damaged") && failed[0].contains("--salvage"),
            "{}: {failed:?}",
            dir.display()
        );
        let checks = archive_checks(&backup, &plan(true));
        assert!(!blocked(&checks), "{}: {checks:?}", dir.display());
        assert!(
            checks
                .iter()
                .any(|check| check.text.starts_with("salvage: ")),
            "{}: {checks:?}",
            dir.display()
        );
    }
    for rel in ["v1/ttl", "v2/ttl"] {
        let dir = common::fixture(rel);
        let backup = open(&dir);
        let snapshot_ns = backup.state.last_ts_ns;
        // At the last message and a year later (every TTL of the fixtures has run out).
        for reference_ns in [snapshot_ns, snapshot_ns + 365 * 86_400 * 1_000_000_000] {
            let now = jsbackup::util::time::format_rfc3339_ns(reference_ns);
            let predicted = info_prediction(&dir, &now);
            let dropped = predicted["dropped"]["total"].as_u64().expect("dropped");
            let remain = predicted["state"]["messages"].as_u64().expect("messages");
            let checks = archive_checks(
                &backup,
                &ArchivePlan {
                    salvage: false,
                    config: None,
                    reference_ns,
                    local: false,
                    storage_file: false,
                },
            );
            assert!(!blocked(&checks), "{rel}: {checks:?}");
            let line = checks
                .iter()
                .find(|check| check.text.contains(&format!("as of {now}")))
                .unwrap_or_else(|| panic!("{rel}: no prediction line: {checks:?}"));
            if dropped == 0 {
                assert_eq!(line.ok, Some(true), "{rel}: {line:?}");
            } else {
                assert_eq!(line.ok, None, "{rel}: a drop is a note: {line:?}");
                let ttl = predicted["dropped"]["ttl_expired"].as_u64().expect("ttl");
                assert!(
                    line.text.starts_with(&format!(
                        "this restore will drop {} message(s): ",
                        jsbackup::util::grouped(dropped)
                    )) && line
                        .text
                        .contains(&format!("{} TTL expired", jsbackup::util::grouped(ttl))),
                    "{rel}: {line:?} vs {predicted}"
                );
            }
            assert!(
                line.text.contains(&format!(
                    "{} message(s) remain",
                    jsbackup::util::grouped(remain)
                )) || line.text.contains(&format!(
                    "keeps {} message(s)",
                    jsbackup::util::grouped(remain)
                )),
                "{rel}: {line:?} vs {predicted}"
            );
        }
        // A year on, the fixture's TTL messages are gone: the line is a drop.
        let later = archive_checks(
            &backup,
            &ArchivePlan {
                salvage: false,
                config: None,
                reference_ns: snapshot_ns + 365 * 86_400 * 1_000_000_000,
                local: true,
                storage_file: false,
            },
        );
        assert!(
            later
                .iter()
                .any(|check| check.text.starts_with("this restore will drop")),
            "{rel}: {later:?}"
        );
    }
}
