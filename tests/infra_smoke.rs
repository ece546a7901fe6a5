//! Proves the test harness in `tests/common` works against the real servers:
//! both nats-server versions start, the tiny client speaks the protocol, and
//! ORIGINAL fixtures restored through the server's own restore API match
//! their `expected.json`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is a failed test

mod common;

use std::path::Path;
use std::time::Duration;

use common::{
    all_fixtures, expected, fixture, read_json, restore_via_api, snapshot_via_api, NatsConn,
    NatsServer, TempDir,
};
use serde_json::Value;

const V215: &str = "2.15.1";
const V214: &str = "2.14.6";

/// The state fields every restore comparison checks.
const STATE_KEYS: [&str; 4] = ["messages", "first_seq", "last_seq", "num_deleted"];

fn u64_of(v: &Value, what: &str) -> u64 {
    // num_deleted is omitted from JSON when zero.
    if v.is_null() {
        return 0;
    }
    v.as_u64()
        .unwrap_or_else(|| panic!("{what} is not an integer: {v}"))
}

fn assert_state_matches(label: &str, got: &Value, want: &Value) {
    for key in STATE_KEYS {
        assert_eq!(
            u64_of(&got[key], &format!("{label}: server state.{key}")),
            u64_of(&want[key], &format!("{label}: expected state.{key}")),
            "{label}: state.{key} differs\n  server:   {got}\n  expected: {want}"
        );
    }
}

fn stream_name(fixture_dir: &Path) -> String {
    read_json(&fixture_dir.join("backup.json"))["config"]["name"]
        .as_str()
        .expect("backup.json config.name")
        .to_string()
}

/// Fixtures whose state changes with the clock (per-message TTL, max_age):
/// their state right after a restore depends on when the test runs.
fn time_dependent(exp: &Value) -> bool {
    let cfg = &exp["stream"]["config"];
    cfg["allow_msg_ttl"] == true
        || cfg["max_age"].as_u64().unwrap_or(0) > 0
        || exp["restored"].as_object().is_some_and(|r| {
            r.values()
                .any(|v| v.get("state_3s_after_restore").is_some())
        })
}

#[test]
fn servers_report_their_versions() {
    for (version, full) in [("2.15", V215), ("2.14", V214)] {
        let server = NatsServer::start(version, None);
        assert!(server.log().contains("Server is ready"));
        let mut conn = server.connect();
        assert!(
            conn.server_version().starts_with(full),
            "nats-server {version} reports {:?}",
            conn.server_version()
        );
        assert_eq!(
            conn.info()["jetstream"],
            true,
            "JetStream is off: {}",
            conn.info()
        );
        let account = conn.api_ok("$JS.API.INFO", &Value::Null);
        assert_eq!(account["streams"], 0, "fresh server has streams: {account}");
        assert!(conn.stream_names().is_empty());
        conn.flush(Duration::from_secs(5)).expect("flush");
    }
}

#[test]
fn request_without_responders_is_an_error() {
    let server = NatsServer::start("2.15", None);
    let mut conn = server.connect();
    let err = conn
        .request("nobody.listens.here", b"x", Duration::from_secs(5))
        .expect_err("no responders");
    assert!(err.contains("no responders"), "{err}");
    // The connection is still usable afterwards.
    let info = conn.stream_info("NOPE");
    assert_eq!(info["error"]["code"], 404, "{info}");
}

#[test]
fn restore_original_v2_orders_into_2_15() {
    let dir = fixture("v2/orders");
    let exp = expected("v2/orders");
    let want = &exp["restored"][V215]["state"];
    assert!(
        want.is_object(),
        "expected.json has no restored.{V215}.state"
    );
    let name = stream_name(&dir);

    let server = NatsServer::start("2.15", None);
    let mut conn = server.connect();
    let fin = restore_via_api(&mut conn, &dir, &name)
        .unwrap_or_else(|e| panic!("restore failed: {e}\n{}", server.log()));
    assert_eq!(
        fin["type"], "io.nats.jetstream.api.v1.stream_create_response",
        "{fin}"
    );

    let info = conn.stream_info(&name);
    assert!(info.get("error").is_none(), "{info}");
    assert_state_matches("v2/orders", &info["state"], want);
    assert_eq!(conn.stream_names(), vec![name.clone()]);

    // Deleted sequences, as the server lists them, match too.
    let deleted: Vec<u64> = info["state"]["deleted"]
        .as_array()
        .map(|a| a.iter().map(|v| v.as_u64().expect("deleted seq")).collect())
        .unwrap_or_default();
    let want_deleted: Vec<u64> = exp["restored"][V215]["deleted_seqs"]
        .as_array()
        .expect("restored deleted_seqs")
        .iter()
        .map(|v| v.as_u64().expect("deleted seq"))
        .collect();
    assert_eq!(deleted, want_deleted);

    // The first stored message is the first row of expected messages.
    let columns = exp["messages"]["columns"].as_array().expect("columns");
    let col = |name: &str| {
        columns
            .iter()
            .position(|c| c == name)
            .unwrap_or_else(|| panic!("no column {name:?} in {columns:?}"))
    };
    let first_row = &exp["messages"]["rows"][0];
    let first_seq = u64_of(&want["first_seq"], "first_seq");
    assert_eq!(first_row[col("seq")], first_seq);
    let msg = conn
        .get_msg(&name, first_seq)
        .unwrap_or_else(|| panic!("no message at seq {first_seq}"));
    assert_eq!(msg["seq"], first_seq);
    assert_eq!(msg["subject"], first_row[col("subject")], "{msg}");
    let decoded = conn.get_msg_decoded(&name, first_seq).expect("message");
    assert_eq!(
        decoded.hdrs.len() as u64,
        u64_of(&first_row[col("hdr_len")], "hdr_len")
    );
    assert_eq!(
        decoded.data.len() as u64,
        u64_of(&first_row[col("data_len")], "data_len")
    );

    // A deleted sequence has no message.
    if let Some(&gap) = want_deleted.first() {
        assert!(
            conn.get_msg(&name, gap).is_none(),
            "seq {gap} should be deleted"
        );
    }

    // Consumers came back with the stream.
    let consumers = conn.consumer_names(&name);
    assert_eq!(
        consumers.len() as u64,
        u64_of(&want["consumer_count"], "consumer_count"),
        "{consumers:?}"
    );
    for c in &consumers {
        let ci = conn.consumer_info(&name, c);
        assert_eq!(ci["name"], c.as_str(), "{ci}");
    }
}

/// Every original v1/v1-older/v2 fixture restores through the server API
/// into each server version we run and for which expected.json has a result.
#[test]
fn restore_every_original_fixture() {
    let servers = [
        (V215, NatsServer::start("2.15", None)),
        (V214, NatsServer::start("2.14", None)),
    ];
    let mut conns: Vec<NatsConn> = servers.iter().map(|(_, s)| s.connect()).collect();
    let mut checked = 0;
    for group in ["v1", "v1-older", "v2"] {
        for dir in all_fixtures(group) {
            let exp = read_json(&dir.join("expected.json"));
            let name = stream_name(&dir);
            let label_base = format!("{group}/{}", dir.file_name().unwrap().to_string_lossy());
            for ((version, server), conn) in servers.iter().zip(conns.iter_mut()) {
                let want = &exp["restored"][*version];
                if !want.is_object() {
                    continue;
                }
                let label = format!("{label_base} -> {version}");
                assert_eq!(
                    want["ok"], true,
                    "{label}: expected.json says restore failed"
                );
                restore_via_api(conn, &dir, &name)
                    .unwrap_or_else(|e| panic!("{label}: {e}\n{}", server.log()));
                let info = conn.stream_info(&name);
                assert!(info.get("error").is_none(), "{label}: {info}");
                if !time_dependent(&exp) {
                    assert_state_matches(&label, &info["state"], &want["state"]);
                }
                conn.delete_stream(&name);
                checked += 1;
            }
        }
    }
    // 6 v1 fixtures x 2 servers + 2 v1-older + 6 v2 at the time of writing.
    assert!(checked >= 10, "only {checked} restores checked");
}

/// snapshot_via_api produces a backup the server restores to the same state,
/// and a store survives a graceful restart.
#[test]
fn snapshot_roundtrip_and_restart() {
    let dir = fixture("v2/orders");
    let name = stream_name(&dir);
    let store = TempDir::new("store");
    let out = TempDir::new("snap");

    let server = NatsServer::start("2.15", Some(store.path()));
    assert_eq!(server.store_dir, store.path());
    let mut conn = server.connect();
    restore_via_api(&mut conn, &dir, &name).expect("restore");
    let before = conn.stream_info(&name)["state"].clone();
    let resp = snapshot_via_api(&mut conn, &name, out.path()).expect("snapshot");
    assert_eq!(resp["state"]["messages"], before["messages"], "{resp}");
    assert!(std::fs::metadata(out.join("stream.tar.s2")).unwrap().len() > 0);
    drop(conn);
    server.stop();

    // Same store, new process: the stream is still there.
    let server = NatsServer::start("2.15", Some(store.path()));
    let mut conn = server.connect();
    let after = conn.stream_info(&name);
    assert!(after.get("error").is_none(), "{after}\n{}", server.log());
    assert_state_matches("after restart", &after["state"], &before);

    // Our own snapshot restores elsewhere to the same state.
    let other = NatsServer::start("2.15", None);
    let mut oc = other.connect();
    restore_via_api(&mut oc, out.path(), &name)
        .unwrap_or_else(|e| panic!("restore of our snapshot: {e}\n{}", other.log()));
    assert_state_matches(
        "snapshot roundtrip",
        &oc.stream_info(&name)["state"],
        &before,
    );
}
