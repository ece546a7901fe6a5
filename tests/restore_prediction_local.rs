//! Local restores (`--store-dir`) loaded by a real nats-server 2.15.1: the
//! state it settles at equals `restore_prediction` (`info --json`) computed
//! for that moment (TTL fixtures); a memory-storage backup taken from a real
//! server just now is refused into a store without `--storage file`, and with
//! it loads as a file-storage stream holding what the prediction says.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is a failed test

mod common;
use common::{jsbackup, stdout_json};

use common::{header_block, snapshot_via_api, NatsServer, TempDir};
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

/// `info --json` restore_prediction at `now` (RFC 3339), with `config` if given.
fn prediction(dir: &Path, now: &str, config: Option<&Path>) -> Value {
    let dir = dir.to_str().expect("utf-8");
    let mut args = vec!["info", dir, "--json", "--now", now];
    if let Some(config) = config {
        args.extend(["--config", config.to_str().expect("utf-8")]);
    }
    let output = jsbackup(&args);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout_json("info", &output)["restore_prediction"].clone()
}

const STATE_FIELDS: [&str; 6] = [
    "messages",
    "bytes",
    "first_seq",
    "last_seq",
    "num_deleted",
    "num_subjects",
];

/// The server's settled state of `stream` equals the prediction computed right
/// after it settled (TTL expiry runs after load: wait for the predicted count).
fn assert_settles_at_prediction(what: &str, server: &NatsServer, stream: &str, dir: &Path) {
    let mut conn = server.connect();
    let now = || jsbackup::util::time::format_rfc3339_ns(jsbackup::util::time::now_ns());
    let settled = common::wait_until(Duration::from_secs(30), || {
        let info = conn.stream_info(stream);
        let predicted = prediction(dir, &now(), None);
        info["state"]["messages"] == predicted["state"]["messages"]
    });
    let info = conn.stream_info(stream);
    let predicted = prediction(dir, &now(), None);
    assert!(
        settled,
        "{what}: never settled at the prediction: {info} vs {predicted}"
    );
    for field in STATE_FIELDS {
        // The server leaves out a num_deleted of 0.
        assert_eq!(
            info["state"][field].as_u64().unwrap_or(0),
            predicted["state"][field].as_u64().expect("predicted field"),
            "{what}: state.{field}: server {} vs prediction {}",
            info["state"],
            predicted["state"]
        );
    }
}

#[test]
fn ttl_fixtures_restored_into_a_store_settle_at_the_prediction() {
    for rel in ["v1/ttl", "v2/ttl"] {
        let dir = common::fixture(rel);
        let expected = common::expected(rel);
        let stream = expected["stream"]
            .as_str()
            .or_else(|| expected["config"]["name"].as_str())
            .map(str::to_string)
            .unwrap_or_else(|| {
                common::read_json(&dir.join("backup.json"))["config"]["name"]
                    .as_str()
                    .expect("stream name")
                    .to_string()
            });
        let root = TempDir::new("prediction-local");
        let store = root.join("store");
        let out = jsbackup(&[
            "restore",
            dir.to_str().expect("utf-8"),
            "--store-dir",
            store.to_str().expect("utf-8"),
            "--json",
        ]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{rel}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report = stdout_json(rel, &out);
        // The pre-flight said what the load will drop, before anything was written.
        let checks = report["preflight"].as_array().expect("preflight");
        assert!(
            checks.iter().any(|check| {
                let text = check["text"].as_str().unwrap_or_default();
                text.starts_with("this restore will drop")
                    || text.contains("no limit, max_age or TTL drops")
            }),
            "{rel}: {checks:?}"
        );
        let server = NatsServer::start("2.15", Some(&store));
        assert_settles_at_prediction(rel, &server, &stream, &dir);
        server.stop();
    }
}

/// A memory-storage stream on a real 2.15.1 server, snapshotted now.
fn memory_backup(dir: &Path) -> u64 {
    let server = NatsServer::start("2.15", None);
    let mut conn = server.connect();
    conn.create_stream(&json!({
        "name": "MEMS",
        "subjects": ["mem.>"],
        "storage": "memory",
        "max_msgs_per_subject": 20,
    }));
    let published = 120u64;
    for index in 0..published {
        let headers =
            (index % 4 == 0).then(|| header_block(&[("Nats-Msg-Id", &format!("m-{index}"))]));
        conn.js_publish(
            &format!("mem.s{}", index % 6),
            headers.as_deref(),
            format!("{{\"n\":{index}}}").as_bytes(),
        );
    }
    snapshot_via_api(&mut conn, "MEMS", dir).expect("snapshot of the memory stream");
    let messages = conn.stream_info("MEMS")["state"]["messages"]
        .as_u64()
        .expect("messages");
    server.stop();
    messages
}

#[test]
fn memory_backup_restores_into_a_store_as_file_storage() {
    let root = TempDir::new("prediction-memory");
    let dir = root.join("MEMS");
    let live_messages = memory_backup(&dir);
    let dir_arg = dir.to_str().expect("utf-8");
    let store = root.join("store");
    let store_arg = store.to_str().expect("utf-8");

    let refused = jsbackup(&["restore", dir_arg, "--store-dir", store_arg, "--json"]);
    assert_eq!(refused.status.code(), Some(1));
    let error = stdout_json("refused", &refused)["error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        error.contains("memory storage") && error.contains("--storage file"),
        "{error}"
    );
    assert!(!store.exists(), "a refused restore creates nothing");

    let out = jsbackup(&[
        "restore",
        dir_arg,
        "--store-dir",
        store_arg,
        "--storage",
        "file",
        "--json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = stdout_json("restore --storage file", &out);
    assert_eq!(report["messages"].as_u64(), Some(live_messages), "{report}");
    let texts: Vec<&str> = report["preflight"]
        .as_array()
        .expect("preflight")
        .iter()
        .chain(report["notes"].as_array().expect("notes"))
        .map(|value| {
            value["text"]
                .as_str()
                .or(value.as_str())
                .unwrap_or_default()
        })
        .collect();
    assert!(
        texts.iter().any(|text| text.contains("as file storage")),
        "{texts:?}"
    );

    let server = NatsServer::start("2.15", Some(&store));
    let mut conn = server.connect();
    let info = conn.stream_info("MEMS");
    assert_eq!(info["config"]["storage"], "file", "{info}");
    // The prediction for file storage: the backup's config with storage file.
    let mut config = common::read_json(&dir.join("backup.json"))["config"].clone();
    config["storage"] = json!("file");
    let config_path = root.join("file-config.json");
    std::fs::write(&config_path, serde_json::to_vec(&config).expect("json")).expect("write config");
    let now = jsbackup::util::time::format_rfc3339_ns(jsbackup::util::time::now_ns());
    let predicted = prediction(&dir, &now, Some(&config_path));
    assert_eq!(
        info["state"]["messages"].as_u64(),
        Some(live_messages),
        "{info}"
    );
    for field in STATE_FIELDS {
        // The server leaves out a num_deleted of 0.
        assert_eq!(
            info["state"][field].as_u64().unwrap_or(0),
            predicted["state"][field].as_u64().expect("predicted field"),
            "state.{field}: server {} vs prediction {}",
            info["state"],
            predicted["state"]
        );
    }
    server.stop();
}
