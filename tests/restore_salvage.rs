//! No silent loss: `restore` of every damaged fixture (`corrupt/`) is refused
//! without `--salvage` and leaves nothing (no store directory; no stream on the
//! server); with `--salvage` it restores the intact part, and what it reports
//! as dropped is what `verify --json` reports for the archive. A real
//! nats-server loads / holds what was restored.

mod common;

use common::{all_fixtures, read_json, NatsServer, TempDir};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

fn jsbackup(args: &[&str], path: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_jsbackup"))
        .arg(args[0])
        .arg(path)
        .args(&args[1..])
        .output()
        .expect("run jsbackup")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `verify --json` of the archive: (summary, error findings).
fn verify(dir: &Path) -> (Value, u64) {
    let out = jsbackup(&["verify", "--json"], dir);
    let document: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("verify --json {}: {e}", dir.display()));
    let summary = document["summary"].clone();
    let errors = summary["errors"].as_u64().expect("summary.errors");
    (summary, errors)
}

/// The declared message count of the fixture's backup.json.
fn declared_messages(dir: &Path) -> u64 {
    read_json(&dir.join("backup.json"))["state"]["messages"]
        .as_u64()
        .expect("backup.json state.messages")
}

/// The refusal names the damage and points at --salvage; the JSON says so too.
fn assert_refused(what: &str, out: &Output, summary: &Value) {
    assert_eq!(out.status.code(), Some(1), "{what}: {}", text(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{what}: --json on failure: {e}: {}", text(&out.stdout)));
    assert_eq!(report["ok"], false, "{what}");
    let error = report["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("--salvage") && error.contains("damaged"),
        "{what}: {error}"
    );
    assert!(
        error.contains(&format!("{} error finding", summary["errors"])),
        "{what}: the refusal counts the error findings: {error}"
    );
    assert_eq!(
        report["dropped"]["damaged_seqs"], summary["damaged_seqs"],
        "{what}"
    );
    assert_eq!(
        report["dropped"]["lost_ranges"], summary["lost_ranges"],
        "{what}"
    );
}

/// The salvage report's accounting equals verify's.
fn assert_accounting(what: &str, report: &Value, summary: &Value, declared: u64) {
    assert_eq!(report["ok"], true, "{what}: {report}");
    assert_eq!(report["salvaged"], true, "{what}");
    assert_eq!(report["archive_messages"], declared, "{what}");
    let dropped = &report["dropped"];
    assert_eq!(dropped["damaged_seqs"], summary["damaged_seqs"], "{what}");
    assert_eq!(dropped["lost_ranges"], summary["lost_ranges"], "{what}");
    assert_eq!(
        dropped["sequences_lost"], summary["sequences_lost"],
        "{what}"
    );
    assert_eq!(
        dropped["suspect_messages"], summary["messages_suspect"],
        "{what}"
    );
    assert_eq!(
        dropped["intact_messages"], summary["messages_intact"],
        "{what}"
    );
    assert_eq!(dropped["error_findings"], summary["errors"], "{what}");
}

#[test]
fn every_corrupt_fixture_into_a_store() {
    let fixtures = all_fixtures("corrupt");
    assert!(fixtures.len() >= 8, "{fixtures:?}");
    for dir in fixtures {
        let what = format!("{} -> store", dir.display());
        let (summary, errors) = verify(&dir);
        assert!(
            errors > 0,
            "{what}: a corrupt fixture without error findings"
        );
        let root = TempDir::new("salvage-store");
        let store = root.join("store");
        let store_arg = store.to_str().expect("utf-8");

        let refused = jsbackup(&["restore", "--store-dir", store_arg, "--json"], &dir);
        assert_refused(&what, &refused, &summary);
        assert!(
            !store.exists(),
            "{what}: the refusal created {}",
            store.display()
        );

        let out = jsbackup(
            &["restore", "--store-dir", store_arg, "--json", "--salvage"],
            &dir,
        );
        assert_eq!(out.status.code(), Some(0), "{what}: {}", text(&out.stderr));
        let report: Value = serde_json::from_slice(&out.stdout).expect("json report");
        assert_accounting(&what, &report, &summary, declared_messages(&dir));
        assert_eq!(report["messages"], summary["messages_intact"], "{what}");

        // The text output states written vs archive and what was left out.
        let name = report["stream_name"].as_str().expect("stream_name");
        let text_store = root.join("text-store");
        let again = jsbackup(
            &[
                "restore",
                "--store-dir",
                text_store.to_str().expect("utf-8"),
                "--salvage",
            ],
            &dir,
        );
        let stdout = text(&again.stdout);
        assert_eq!(
            again.status.code(),
            Some(0),
            "{what}: {}",
            text(&again.stderr)
        );
        assert!(
            stdout.contains(&format!(
                "messages {} written of {} in the archive",
                summary["messages_intact"],
                declared_messages(&dir)
            )) && stdout.contains("salvaged: left out"),
            "{what}: {stdout}"
        );

        // A real server loads exactly the intact messages.
        let server = NatsServer::start("2.15", Some(&store));
        let mut conn = server.connect();
        let info = conn.stream_info(name);
        assert_eq!(
            info["state"]["messages"],
            summary["messages_intact"],
            "{what}: {info}\n{}",
            server.log()
        );
    }
}

#[test]
fn every_corrupt_fixture_into_a_server() {
    // 2.14 gets the salvage as a v1 tar written from the index.
    for version in ["2.15", "2.14"] {
        salvage_into_server(version);
    }
}

fn salvage_into_server(version: &str) {
    let server = NatsServer::start(version, None);
    let mut conn = server.connect();
    for (index, dir) in all_fixtures("corrupt").into_iter().enumerate() {
        let what = format!("{} -> server {version}", dir.display());
        let (summary, _) = verify(&dir);
        let name = format!("SALVAGED{index}");
        let refused = jsbackup(
            &[
                "restore",
                "--server",
                &server.url,
                "--stream",
                &name,
                "--json",
            ],
            &dir,
        );
        assert_refused(&what, &refused, &summary);
        let info = conn.stream_info(&name);
        assert_eq!(info["error"]["code"], 404, "{what}: {info}");

        let out = jsbackup(
            &[
                "restore",
                "--server",
                &server.url,
                "--stream",
                &name,
                "--json",
                "--salvage",
            ],
            &dir,
        );
        assert_eq!(out.status.code(), Some(0), "{what}: {}", text(&out.stderr));
        let report: Value = serde_json::from_slice(&out.stdout).expect("json report");
        assert_accounting(&what, &report, &summary, declared_messages(&dir));
        let info = conn.stream_info(&name);
        assert_eq!(
            info["state"]["messages"], summary["messages_intact"],
            "{what}: {info}"
        );
        assert_eq!(report["messages"], info["state"]["messages"], "{what}");
        // Several fixtures share subjects: make room for the next one.
        conn.delete_stream(&name);
    }
}

/// An intact backup needs no --salvage and reports nothing dropped.
#[test]
fn intact_backup_reports_written_of_archive() {
    let dir = common::fixture("v2/orders");
    let root = TempDir::new("intact-store");
    let store = root.join("store");
    let out = jsbackup(
        &[
            "restore",
            "--store-dir",
            store.to_str().expect("utf-8"),
            "--json",
        ],
        &dir,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).expect("json");
    let declared = declared_messages(&dir);
    assert_eq!(report["messages"], declared);
    assert_eq!(report["archive_messages"], declared);
    assert_eq!(report["salvaged"], false);
    assert_eq!(report["dropped"]["error_findings"], 0);
    assert_eq!(report["dropped"]["damaged_seqs"], Value::Array(vec![]));
}
