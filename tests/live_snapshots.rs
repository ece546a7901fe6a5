//! Backups taken just now from real servers (not the shipped fixtures): file and
//! memory storage, per-subject limits, deletes with and without erase, TTL and
//! Msg-Id headers, a durable consumer. `info` must agree with the live server's
//! STREAM.INFO (state, deleted sequences, subjects) and CONSUMER.INFO.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is a failed test

mod common;

use common::{header_block, snapshot_via_api, NatsServer, TempDir};
use serde_json::{json, Value};
use std::process::Command;

fn info(dir: &std::path::Path) -> Value {
    let output = Command::new(env!("CARGO_BIN_EXE_jsbackup"))
        .args(["info", dir.to_str().expect("path"), "--json"])
        .output()
        .expect("run jsbackup");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("info JSON")
}

fn build_stream(conn: &mut common::NatsConn, storage: &str, retention: &str) {
    conn.create_stream(&json!({
        "name": "LIVE",
        "subjects": ["live.>"],
        "storage": storage,
        "retention": retention,
        "max_msgs_per_subject": 12,
        "allow_msg_ttl": true,
    }));
    for index in 0..300u32 {
        let subject = format!("live.s{}", index % 10);
        let headers = match index % 3 {
            0 => Some(header_block(&[("Nats-Msg-Id", &format!("m-{index}"))])),
            1 => Some(header_block(&[("Nats-TTL", "1h")])),
            _ => None,
        };
        let body = format!("{{\"n\":{index}}}");
        conn.js_publish(&subject, headers.as_deref(), body.as_bytes());
    }
    // Interior deletes, one erased, and a trailing one.
    let live: Vec<u64> = {
        let state = conn.stream_info("LIVE");
        let first = state["state"]["first_seq"].as_u64().expect("first");
        let last = state["state"]["last_seq"].as_u64().expect("last");
        (first..=last).collect()
    };
    for (position, erase) in [(5usize, false), (17, true), (40, false)] {
        if let Some(seq) = live.get(position) {
            conn.api_ok(
                "$JS.API.STREAM.MSG.DELETE.LIVE",
                &json!({"seq": seq, "no_erase": !erase}),
            );
        }
    }
    if let Some(last) = live.last() {
        conn.api_ok(
            "$JS.API.STREAM.MSG.DELETE.LIVE",
            &json!({"seq": last, "no_erase": true}),
        );
    }
    conn.api_ok(
        "$JS.API.CONSUMER.CREATE.LIVE.reader",
        &json!({"stream_name": "LIVE", "config": {"durable_name": "reader", "ack_policy": "explicit", "filter_subject": "live.s3"}}),
    );
    // Fetch 6 messages and ack every other one: pending acks and a moved ack floor.
    let inbox = conn.new_inbox();
    let sid = conn.subscribe(&inbox).expect("subscribe");
    conn.publish(
        "$JS.API.CONSUMER.MSG.NEXT.LIVE.reader",
        Some(&inbox),
        None,
        br#"{"batch":6,"expires":2000000000}"#,
    )
    .expect("fetch");
    for index in 0..6 {
        let message = conn
            .next_msg(sid, std::time::Duration::from_secs(5))
            .expect("fetched message");
        if index % 2 == 0 {
            if let Some(reply) = &message.reply {
                conn.publish(reply, None, None, b"+ACK").expect("ack");
            }
        }
    }
    conn.flush(std::time::Duration::from_secs(5))
        .expect("flush");
    conn.unsubscribe(sid).expect("unsubscribe");
    // Acks are applied asynchronously: wait until the consumer shows them (3 pending,
    // floor past the first acked delivery) so the snapshot and CONSUMER.INFO agree.
    let settled = common::wait_until(std::time::Duration::from_secs(10), || {
        let info = conn.consumer_info("LIVE", "reader");
        info["num_ack_pending"] == 3 && info["ack_floor"]["consumer_seq"].as_u64() >= Some(1)
    });
    assert!(
        settled,
        "the consumer never showed its acks: {}",
        conn.consumer_info("LIVE", "reader")
    );
}

fn compare(version: &str, storage: &str, retention: &str) {
    let server = NatsServer::start(version, None);
    let mut conn = server.connect();
    build_stream(&mut conn, storage, retention);
    let scratch = TempDir::new("jsbackup-live");
    let dir = scratch.join("LIVE");
    snapshot_via_api(&mut conn, "LIVE", &dir).expect("snapshot");
    let live = conn.stream_info("LIVE");
    let got = info(&dir);
    let label = format!("{version} {storage} {retention}");
    for field in [
        "messages",
        "bytes",
        "first_seq",
        "last_seq",
        "num_deleted",
        "num_subjects",
    ] {
        assert_eq!(
            got["state"][field].as_u64().unwrap_or(0),
            live["state"][field].as_u64().unwrap_or(0),
            "{label}: state.{field}: ours {} server {}",
            got["state"],
            live["state"]
        );
    }
    let mut deleted: Vec<u64> = Vec::new();
    for range in got["deleted"].as_array().expect("deleted") {
        deleted.extend(range[0].as_u64().expect("from")..=range[1].as_u64().expect("to"));
    }
    let mut live_deleted: Vec<u64> = live["state"]["deleted"]
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(Value::as_u64)
                .filter(|&seq| seq != 0)
                .collect()
        })
        .unwrap_or_default();
    live_deleted.sort_unstable();
    assert!(
        live_deleted.len() >= 4,
        "{label}: the scenario deletes sequences: {}",
        live["state"]
    );
    assert_eq!(deleted, live_deleted, "{label}: deleted sequences");
    assert_eq!(
        got["subjects"], live["state"]["subjects"],
        "{label}: subjects"
    );
    assert!(
        got["state"]["messages"].as_u64().unwrap_or(0) < 300 - 4,
        "{label}: per-subject limits should have trimmed messages"
    );
    let consumer = conn.consumer_info("LIVE", "reader");
    let ours = got["consumers"]
        .as_array()
        .and_then(|list| list.iter().find(|c| c["name"] == "reader"))
        .unwrap_or_else(|| panic!("{label}: consumer missing: {}", got["consumers"]));
    for field in ["delivered", "ack_floor"] {
        for part in ["consumer_seq", "stream_seq"] {
            assert_eq!(
                ours[field][part], consumer[field][part],
                "{label}: consumer {field}.{part}"
            );
        }
    }
    for field in ["num_ack_pending", "num_redelivered"] {
        assert_eq!(ours[field], consumer[field], "{label}: consumer {field}");
    }
    assert_eq!(
        consumer["num_ack_pending"], 3,
        "{label}: the scenario leaves 3 acks pending"
    );
    let errors: Vec<&Value> = got["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|finding| finding["severity"] == "error")
        .collect();
    assert!(errors.is_empty(), "{label}: {errors:?}");
    assert_eq!(
        got["format"],
        if version == "2.14" { "v1" } else { "v2" },
        "{label}"
    );
}

#[test]
fn v2_file_storage_snapshot_matches_the_server() {
    compare("2.15", "file", "limits");
}

#[test]
fn v2_memory_storage_snapshot_matches_the_server() {
    compare("2.15", "memory", "limits");
}

#[test]
fn v1_file_storage_snapshot_matches_the_server() {
    compare("2.14", "file", "limits");
}

/// Work-queue acks remove messages: tombstones in v1 blocks, gaps in v2.
#[test]
fn work_queue_snapshots_match_the_server() {
    compare("2.14", "file", "workqueue");
    compare("2.15", "file", "workqueue");
}
