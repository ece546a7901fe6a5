//! Consumer state as CONSUMER.INFO reports it, computed offline by
//! `ops::consumer_state`: every fixture's consumers against its `expected.json`,
//! and consumers with each deliver policy, filters, acks, deletes, a pause and a
//! priority group against a real server's CONSUMER.INFO at snapshot time.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is a failed test

mod common;

use common::{all_fixtures, header_block, read_json, snapshot_via_api, NatsConn, NatsServer};
use jsbackup::ops::consumer_state;
use jsbackup::ops::scan::{open_backup, ScanControl};
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Fields compared with the server's CONSUMER.INFO.
const FIELDS: [&str; 6] = [
    "num_pending",
    "num_ack_pending",
    "num_redelivered",
    "delivered",
    "ack_floor",
    "paused",
];

fn info(dir: &Path) -> Value {
    let output = Command::new(env!("CARGO_BIN_EXE_jsbackup"))
        .args(["info", dir.to_str().expect("path"), "--json"])
        .output()
        .expect("run jsbackup");
    assert!(
        output.status.success(),
        "{}: {}",
        dir.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("info JSON")
}

fn ours<'a>(info: &'a Value, name: &str, label: &str) -> &'a Value {
    info["consumers"]
        .as_array()
        .and_then(|list| list.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("{label}: consumer {name} missing from info --json"))
}

/// The server omits `paused` when false; sequence pairs are compared without `last_active`.
fn field(value: &Value, key: &str) -> Value {
    match (key, value.get(key)) {
        ("paused", None) => Value::Bool(false),
        ("delivered" | "ack_floor", Some(pair)) => {
            json!({"consumer_seq": pair["consumer_seq"], "stream_seq": pair["stream_seq"]})
        }
        (_, Some(found)) => found.clone(),
        (_, None) => Value::Null,
    }
}

#[test]
fn every_fixture_consumer_matches_its_consumer_info() {
    let mut compared = 0;
    for group in ["v1", "v2", "v1-older"] {
        for dir in all_fixtures(group) {
            let expected = read_json(&dir.join("expected.json"));
            let got = info(&dir);
            let label = dir.display().to_string();
            let consumers = expected["consumers"].as_array().expect("consumers");
            assert_eq!(
                got["consumers"].as_array().map(Vec::len),
                Some(consumers.len()),
                "{label}: consumer count"
            );
            for consumer in consumers {
                let name = consumer["name"].as_str().expect("name");
                let mine = ours(&got, name, &label);
                for key in FIELDS {
                    assert_eq!(
                        field(mine, key),
                        field(consumer, key),
                        "{label}: consumer {name}: {key}"
                    );
                }
                compared += 1;
            }
        }
    }
    // v1/v2 empty, orders (4 each), trailing-deletes and 2.10 orders (3).
    assert!(
        compared >= 15,
        "only {compared} consumers compared: fixtures missing?"
    );
}

/// A consumer whose config cannot be read is reported as unknown, never as a fresh
/// consumer with defaults: v2 `orders` with its first consumer's entry made invalid
/// JSON (nothing of it readable), v1 `orders` with its first consumer's meta.inf
/// broken (its o.dat still gives the positions CONSUMER.INFO reported).
#[test]
fn a_consumer_whose_config_does_not_parse_is_unknown_not_a_fresh_one() {
    for (fixture, member_of) in [("v2/orders", "consumers/"), ("v1/orders", "obs/")] {
        let source = common::fixture(fixture);
        let expected = read_json(&source.join("expected.json"));
        let consumers = expected["consumers"].as_array().expect("consumers");
        let broken = consumers[0]["name"].as_str().expect("name");
        let mut data =
            common::s2::decompress(&std::fs::read(source.join("stream.tar.s2")).expect("read"));
        // v2: the entry's name then its JSON; v1: the member's path, then (after its
        // ustar header) the meta.inf JSON, whose first key's quote is broken.
        let name = format!("{member_of}{broken}");
        let at = data
            .windows(name.len())
            .position(|window| window == name.as_bytes())
            .expect("the consumer's entry");
        let quote = at
            + data[at..]
                .windows(2)
                .position(|pair| pair == b"{\"")
                .expect("its JSON")
            + 1;
        data[quote] = b'#';
        let dir = common::TempDir::new("consumer-unreadable");
        std::fs::write(dir.join("stream.tar.s2"), common::s2::uncompressed(&data)).expect("write");
        std::fs::copy(source.join("backup.json"), dir.join("backup.json")).expect("copy");
        let got = info(dir.path());
        let mine = ours(&got, broken, fixture);
        assert_eq!(mine["config_read"], false, "{fixture}: {mine:#}");
        for key in ["num_pending", "durable", "paused", "next_seq"] {
            assert!(
                mine[key].is_null(),
                "{fixture}: {key} is not known: {mine:#}"
            );
        }
        if fixture.starts_with("v1") {
            // Its o.dat is intact: the positions are the server's.
            for key in ["delivered", "ack_floor", "num_ack_pending"] {
                assert_eq!(
                    field(mine, key),
                    field(&consumers[0], key),
                    "{fixture}: {key}"
                );
            }
        } else {
            assert!(mine["delivered"].is_null(), "{fixture}: {mine:#}");
        }
        // The others are untouched.
        for consumer in &consumers[1..] {
            let name = consumer["name"].as_str().expect("name");
            let other = ours(&got, name, fixture);
            assert_eq!(other["config_read"], true);
            for key in FIELDS {
                assert_eq!(
                    field(other, key),
                    field(consumer, key),
                    "{fixture}: {name}: {key}"
                );
            }
        }
    }
}

fn create_consumer(conn: &mut NatsConn, stream: &str, config: Value) {
    let name = config["durable_name"].as_str().expect("durable_name");
    conn.api_ok(
        &format!("$JS.API.CONSUMER.CREATE.{stream}.{name}"),
        &json!({"stream_name": stream, "config": config}),
    );
}

/// Pulls `batch` messages and acks those whose position (0-based) `ack` accepts.
fn fetch(conn: &mut NatsConn, stream: &str, name: &str, batch: usize, ack: impl Fn(usize) -> bool) {
    let inbox = conn.new_inbox();
    let sid = conn.subscribe(&inbox).expect("subscribe");
    conn.publish(
        &format!("$JS.API.CONSUMER.MSG.NEXT.{stream}.{name}"),
        Some(&inbox),
        None,
        format!("{{\"batch\":{batch},\"expires\":2000000000}}").as_bytes(),
    )
    .expect("fetch");
    for position in 0..batch {
        let message = conn
            .next_msg(sid, Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("{name}: message {position} of {batch}: {e}"));
        if ack(position) {
            if let Some(reply) = &message.reply {
                conn.publish(reply, None, None, b"+ACK").expect("ack");
            }
        }
    }
    conn.flush(Duration::from_secs(5)).expect("flush");
    conn.unsubscribe(sid).expect("unsubscribe");
}

fn publish_batch(conn: &mut NatsConn, from: u32, to: u32) {
    for index in from..to {
        let region = ["a", "b", "c"][(index % 3) as usize];
        let subject = format!("ev.{region}.{}", index % 7);
        let headers =
            (index % 5 == 0).then(|| header_block(&[("Nats-Msg-Id", &format!("m{index}"))]));
        conn.js_publish(&subject, headers.as_deref(), format!("{index}").as_bytes());
    }
}

fn delete(conn: &mut NatsConn, seq: u64) {
    conn.api_ok(
        "$JS.API.STREAM.MSG.DELETE.EV",
        &json!({"seq": seq, "no_erase": true}),
    );
}

/// Consumers over a stream with per-subject limits and deletes: every deliver
/// policy, single and multiple filters, acks pending, a pause, a priority group.
fn build(conn: &mut NatsConn) -> Vec<String> {
    conn.create_stream(&json!({
        "name": "EV",
        "subjects": ["ev.>"],
        "storage": "file",
        "max_msgs_per_subject": 20,
    }));
    publish_batch(conn, 0, 120);
    for seq in [3, 4, 40, 41, 42, 77] {
        delete(conn, seq);
    }
    let start_time = conn.get_msg("EV", 90).expect("message 90")["time"].clone();
    let pull = |name: &str| json!({"durable_name": name, "ack_policy": "explicit"});
    let mut configs = vec![
        pull("all"),
        json!({"durable_name": "multi", "ack_policy": "explicit", "filter_subjects": ["ev.a.*", "ev.c.>"]}),
        json!({"durable_name": "single", "ack_policy": "explicit", "filter_subject": "ev.b.3"}),
        json!({"durable_name": "new", "ack_policy": "explicit", "deliver_policy": "new"}),
        json!({"durable_name": "last", "ack_policy": "explicit", "deliver_policy": "last"}),
        json!({"durable_name": "last-b", "ack_policy": "explicit", "deliver_policy": "last", "filter_subject": "ev.b.*"}),
        json!({"durable_name": "lps", "ack_policy": "explicit", "deliver_policy": "last_per_subject", "filter_subject": "ev.>"}),
        json!({"durable_name": "lps-a", "ack_policy": "explicit", "deliver_policy": "last_per_subject", "filter_subject": "ev.a.>"}),
        json!({"durable_name": "by-seq", "ack_policy": "explicit", "deliver_policy": "by_start_sequence", "opt_start_seq": 50, "filter_subject": "ev.c.*"}),
        json!({"durable_name": "by-time", "ack_policy": "explicit", "deliver_policy": "by_start_time", "opt_start_time": start_time, "filter_subject": "ev.a.*"}),
        json!({"durable_name": "paused", "ack_policy": "explicit", "pause_until": "2099-01-01T00:00:00Z"}),
        json!({"durable_name": "grouped", "ack_policy": "explicit", "priority_groups": ["jobs"], "priority_policy": "overflow"}),
        json!({"durable_name": "once", "ack_policy": "explicit", "max_deliver": 1, "ack_wait": 1_000_000_000u64}),
    ];
    for config in configs.drain(..) {
        create_consumer(conn, "EV", config);
    }
    fetch(conn, "EV", "all", 12, |position| position % 3 == 0);
    fetch(conn, "EV", "multi", 9, |position| position < 4);
    fetch(conn, "EV", "lps", 5, |_| true);
    fetch(conn, "EV", "by-seq", 3, |_| false);
    // More messages and deletes after the consumers exist, some ahead of them.
    publish_batch(conn, 120, 170);
    for seq in [125, 126, 140, 166] {
        delete(conn, seq);
    }
    // Never delivered: the archive's state is what the start rules set.
    let fresh = [
        json!({"durable_name": "fresh-new", "ack_policy": "explicit", "deliver_policy": "new"}),
        json!({"durable_name": "fresh-last", "ack_policy": "explicit", "deliver_policy": "last", "filter_subjects": ["ev.a.1", "ev.b.2"]}),
        json!({"durable_name": "fresh-lps", "ack_policy": "explicit", "deliver_policy": "last_per_subject", "filter_subject": "ev.c.*"}),
        json!({"durable_name": "fresh-time", "ack_policy": "explicit", "deliver_policy": "by_start_time", "opt_start_time": start_time, "filter_subject": "ev.b.>"}),
        json!({"durable_name": "fresh-seq", "ack_policy": "explicit", "deliver_policy": "by_start_sequence", "opt_start_seq": 130}),
        json!({"durable_name": "fresh-all", "ack_policy": "explicit", "filter_subject": "ev.a.>"}),
    ];
    for config in fresh {
        create_consumer(conn, "EV", config);
    }
    // Acks are applied asynchronously: wait until the counts settle.
    let expected_ack_pending = [("all", 8u64), ("multi", 5), ("lps", 0), ("by-seq", 3)];
    let deadline = Instant::now() + Duration::from_secs(10);
    for (name, pending) in expected_ack_pending {
        while conn.consumer_info("EV", name)["num_ack_pending"] != pending {
            assert!(
                Instant::now() < deadline,
                "{name}: acks never settled: {}",
                conn.consumer_info("EV", name)
            );
            std::thread::yield_now();
        }
    }
    conn.consumer_names("EV")
}

fn compare_with_server(version: &str) {
    let server = NatsServer::start(version, None);
    let mut conn = server.connect();
    let names = build(&mut conn);
    assert_eq!(names.len(), 19, "{version}: consumers created");
    let scratch = common::TempDir::new("jsbackup-consumers");
    let dir = scratch.join("EV");
    snapshot_via_api(&mut conn, "EV", &dir).expect("snapshot");
    let got = info(&dir);
    let mut pending_total = 0;
    for name in &names {
        let live = conn.consumer_info("EV", name);
        let label = format!("{version} {name}");
        let mine = ours(&got, name, &label);
        for key in FIELDS {
            if key == "num_pending" && mine["num_pending_exact"] == false {
                // v2 keeps no creation time: a running last_per_subject consumer's count
                // is known only as it will be after the restore (checked below).
                assert_eq!(
                    (version, &live["config"]["deliver_policy"]),
                    ("2.15", &json!("last_per_subject")),
                    "{label}"
                );
                continue;
            }
            assert_eq!(
                field(mine, key),
                field(&live, key),
                "{label}: {key}: server {live}"
            );
        }
        assert_eq!(
            field(mine, "priority_groups"),
            field(&live, "priority_groups")
                .as_array()
                .map_or(Value::Null, |groups| {
                    groups
                        .iter()
                        .map(|g| json!({"group": g["group"]}))
                        .collect()
                }),
            "{label}: priority_groups"
        );
        pending_total += live["num_pending"].as_u64().unwrap_or(0);
    }
    assert!(
        pending_total > 0,
        "{version}: the scenario leaves messages pending"
    );
    assert_eq!(ours(&got, "paused", version)["paused"], true);

    // Restored into a fresh server, each consumer reports `num_pending_after_restore`.
    let target = NatsServer::start(version, None);
    let mut restored = target.connect();
    common::restore_via_api(&mut restored, &dir, "EV").expect("restore");
    for name in &names {
        let label = format!("{version} {name} restored");
        let after = restored.consumer_info("EV", name);
        let mine = ours(&got, name, &label);
        assert_eq!(
            mine["num_pending_after_restore"], after["num_pending"],
            "{label}: server {after}"
        );
    }

    // The start rules, applied offline to the never-delivered consumers' configs,
    // land where the server put them.
    let backup = open_backup(&dir, &mut ScanControl::default()).expect("open snapshot");
    for consumer in backup
        .consumers
        .iter()
        .filter(|c| c.name.starts_with("fresh-"))
    {
        let live = conn.consumer_info("EV", &consumer.name);
        let status = consumer_state::compute_as_new(&backup, consumer);
        let label = format!("{version} {} as new", consumer.name);
        assert!(!status.state_recorded, "{label}");
        assert_eq!(
            Some(status.delivered.stream_seq),
            live["delivered"]["stream_seq"].as_u64(),
            "{label}: start sequence: server {live}"
        );
        assert_eq!(
            Some(status.num_pending),
            live["num_pending"].as_u64(),
            "{label}: num_pending: server {live}"
        );
    }
}

#[test]
fn v2_consumers_match_consumer_info_of_a_real_server() {
    compare_with_server("2.15");
}

#[test]
fn v1_consumers_match_consumer_info_of_a_real_server() {
    compare_with_server("2.14");
}

/// 5 million messages over 100,000 subjects, six consumers: all statuses in well under a second.
#[test]
fn status_is_near_linear_on_a_big_index() {
    use jsbackup::model::{Backup, BackupSource, ConsumerInfo, MessageRow};
    let mut backup = Backup::empty(BackupSource::default());
    let rows: u64 = 5_000_000;
    backup.messages.reserve(rows as usize);
    for seq in 1..=rows {
        let id = backup
            .subjects
            .intern(format!("big.{}.{}", seq % 10, seq % 100_000).as_bytes());
        backup.messages.push(MessageRow {
            seq,
            ts_ns: seq as i64,
            subject_id: id,
            hdr_len: 0,
            data_len: 1,
            offset: seq * 10,
            flags: 0,
        });
    }
    backup.messages.finish();
    backup.messages.recount_subjects(&mut backup.subjects);
    backup.state.messages = rows;
    backup.state.first_seq = 1;
    backup.state.last_seq = rows;
    let consumer = |name: &str, config: Value, delivered: u64| {
        let mut info = ConsumerInfo::new(name, config, format!("consumers/{name}"));
        info.state.delivered.stream_seq = delivered;
        info.state.ack_floor.stream_seq = delivered;
        info.state_read = true;
        info
    };
    backup.consumers = vec![
        consumer("all", json!({}), 10),
        consumer("one", json!({"filter_subject": "big.3.*"}), 1_000_000),
        consumer("late", json!({"filter_subject": "big.3.*"}), 4_000_000),
        consumer(
            "multi",
            json!({"filter_subjects": ["big.1.>", "big.2.>"]}),
            2_500_000,
        ),
        consumer(
            "lps",
            json!({"deliver_policy": "last_per_subject", "filter_subject": "big.4.*"}),
            4_990_000,
        ),
        consumer("exact", json!({"filter_subject": "big.7.7"}), 0),
    ];
    let started = Instant::now();
    let statuses = consumer_state::compute_all(&backup);
    let elapsed = started.elapsed();
    eprintln!("6 consumers over {rows} messages: {elapsed:?}");
    // Counts from the construction: subject `big.(seq%10).(seq%100000)`.
    let tenth_after = |from: u64| (from + 1..=rows).filter(|seq| seq % 10 == 3).count() as u64;
    assert_eq!(statuses[0].num_pending, rows - 10);
    assert_eq!(statuses[1].num_pending, tenth_after(1_000_000));
    assert_eq!(statuses[2].num_pending, tenth_after(4_000_000));
    assert_eq!(statuses[3].num_pending, 2 * (rows - 2_500_000) / 10);
    // Subjects big.4.N have their last message at 4,900,000 + N.
    let late_subjects = (0..100_000u64)
        .filter(|n| n % 10 == 4 && 4_900_000 + n > 4_990_000)
        .count() as u64;
    assert_eq!(statuses[4].num_pending, late_subjects);
    let exact = (1..=rows).filter(|seq| seq % 100_000 == 7).count() as u64;
    assert_eq!(statuses[5].num_pending, exact);
    assert_eq!(statuses[5].first_pending_seq, Some(7));
    assert!(
        elapsed < Duration::from_secs(if cfg!(debug_assertions) { 10 } else { 1 }),
        "took {elapsed:?}"
    );
}

/// `info --json [--config FILE]` for a backup directory.
fn info_with_config(dir: &Path, config: Option<&Path>) -> Value {
    let mut command = Command::new(env!("CARGO_BIN_EXE_jsbackup"));
    command.args(["info", dir.to_str().expect("path"), "--json"]);
    if let Some(config) = config {
        command.arg("--config").arg(config);
    }
    let output = command.output().expect("run jsbackup");
    assert!(
        output.status.success(),
        "{}: {}",
        dir.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("info JSON")
}

const STATE_FIELDS: [&str; 6] = [
    "messages",
    "bytes",
    "first_seq",
    "last_seq",
    "num_deleted",
    "num_subjects",
];

fn state_fields(state: &Value) -> Vec<u64> {
    STATE_FIELDS
        .iter()
        .map(|key| state[*key].as_u64().unwrap_or(0))
        .collect()
}

/// Config edits a restore may be given, from what the fixture holds.
fn scenarios(expected: &Value) -> Vec<Option<Value>> {
    let messages = expected["state"]["messages"].as_u64().unwrap_or(0);
    let bytes = expected["state"]["bytes"].as_u64().unwrap_or(0);
    if messages == 0 {
        return vec![None];
    }
    let hour_ns = 3_600_000_000_000u64;
    vec![
        None,
        Some(json!({"max_msgs": (messages / 2).max(1)})),
        Some(json!({"max_bytes": (bytes / 3).max(1)})),
        Some(json!({"max_msgs_per_subject": 2})),
        Some(json!({"max_age": hour_ns})),
        Some(json!({"max_msgs": (messages / 2).max(1), "max_age": hour_ns})),
    ]
}

/// The server's own restore, retried (at most twice) only on one error: right after
/// the previous scenario's stream of the same name was deleted, nats-server 2.15.1
/// sometimes answers "failed to store message sequence 1: expected sequence does not
/// match store" (its new store still saw the old last sequence). Seen once in ~90
/// restores; any other error, or the same one three times, fails the test.
fn restore_retrying_server_race(conn: &mut NatsConn, dir: &Path, stream: &str, label: &str) {
    for attempt in 1..=3 {
        match common::restore_via_api(conn, dir, stream) {
            Ok(_) => return,
            Err(e) if attempt < 3 && e.contains("expected sequence does not match store") => {
                eprintln!("{label}: attempt {attempt}: {e}; restoring again");
                // The failed restore may or may not have left the stream behind.
                if conn.stream_names().iter().any(|name| name == stream) {
                    conn.delete_stream(stream);
                }
            }
            Err(e) => panic!("{label}: {e}"),
        }
    }
}

/// Restores `fixture` (its config edited by `edit`) into `conn`'s server and
/// checks the settled stream and consumers against `restore_prediction`.
fn check_restore(conn: &mut NatsConn, version: &str, fixture: &Path, edit: Option<&Value>) {
    let scratch = common::TempDir::new("jsbackup-prediction");
    let dir = scratch.join("backup");
    std::fs::create_dir_all(&dir).expect("scratch dir");
    std::fs::copy(fixture.join("stream.tar.s2"), dir.join("stream.tar.s2")).expect("copy");
    let mut meta = read_json(&fixture.join("backup.json"));
    let config_path = scratch.join("config.json");
    if let Some(edit) = edit {
        for (key, value) in edit.as_object().expect("edit") {
            meta["config"][key] = value.clone();
        }
        std::fs::write(&config_path, meta["config"].to_string()).expect("config");
    }
    std::fs::write(dir.join("backup.json"), meta.to_string()).expect("backup.json");
    let stream = meta["config"]["name"].as_str().expect("name").to_string();
    let label = format!("{version} {} {edit:?}", fixture.display());
    restore_retrying_server_race(conn, &dir, &stream, &label);
    // Predicted after the restore, so TTLs and max_age are judged no earlier than the server.
    let predicted = info_with_config(fixture, edit.map(|_| config_path.as_path()))
        ["restore_prediction"]
        .clone();
    let want = state_fields(&predicted["state"]);
    let settled = common::wait_until(Duration::from_secs(10), || {
        state_fields(&conn.stream_info(&stream)["state"]) == want
    });
    let live = conn.stream_info(&stream)["state"].clone();
    assert!(
        settled,
        "{label}: {STATE_FIELDS:?} predicted {want:?}, server {:?}\nprediction {predicted}",
        state_fields(&live)
    );
    for consumer in predicted["consumers"].as_array().expect("consumers") {
        let name = consumer["name"].as_str().expect("name");
        let info = conn.consumer_info(&stream, name);
        for key in [
            "num_pending",
            "num_ack_pending",
            "num_redelivered",
            "delivered",
            "ack_floor",
        ] {
            assert_eq!(
                field(consumer, key),
                field(&info, key),
                "{label}: consumer {name}: {key}: server {info}"
            );
        }
    }
    conn.delete_stream(&stream);
}

#[test]
fn restore_prediction_matches_real_restores() {
    let mut checked = 0;
    for version in ["2.15", "2.14"] {
        let server = NatsServer::start(version, None);
        let mut conn = server.connect();
        let groups: &[&str] = if version == "2.15" {
            &["v2", "v1", "v1-older"]
        } else {
            &["v1", "v1-older"]
        };
        for group in groups {
            for fixture in all_fixtures(group) {
                let expected = read_json(&fixture.join("expected.json"));
                for edit in scenarios(&expected) {
                    check_restore(&mut conn, version, &fixture, edit.as_ref());
                    checked += 1;
                }
            }
        }
    }
    assert!(checked >= 100, "only {checked} restores checked");
}

/// The fixture's v1 archive with `obs/<consumer>/o.dat` (and its PAX header) left out.
fn without_odat(fixture: &Path, consumer: &str, out_dir: &Path) {
    use std::io::{Read, Write};
    let file = std::fs::File::open(fixture.join("stream.tar.s2")).expect("open archive");
    let mut tar = Vec::new();
    minlz::Reader::new(file)
        .read_to_end(&mut tar)
        .expect("decompress archive");
    let target = format!("obs/{consumer}/o.dat");
    let mut kept = Vec::with_capacity(tar.len());
    let mut pending_pax: Option<std::ops::Range<usize>> = None;
    let mut pos = 0;
    while pos + 512 <= tar.len() {
        let header = &tar[pos..pos + 512];
        if header.iter().all(|&b| b == 0) {
            kept.extend_from_slice(&tar[pos..]);
            break;
        }
        let size_field = String::from_utf8_lossy(&header[124..136]);
        let size = u64::from_str_radix(size_field.trim_matches(|c: char| c == '\0' || c == ' '), 8)
            .expect("tar size") as usize;
        let end = pos + 512 + size.div_ceil(512) * 512;
        let name = String::from_utf8_lossy(&header[..100])
            .trim_end_matches('\0')
            .to_string();
        if header[156] == b'x' {
            pending_pax = Some(pos..end);
        } else {
            let pax_path = pending_pax.as_ref().and_then(|range| {
                let records =
                    String::from_utf8_lossy(&tar[range.start + 512..range.end]).to_string();
                records
                    .lines()
                    .find_map(|line| line.split_once(" path=").map(|(_, p)| p.to_string()))
            });
            let path = pax_path.unwrap_or(name);
            if !path.ends_with(&target) {
                if let Some(range) = pending_pax.take() {
                    kept.extend_from_slice(&tar[range]);
                }
                kept.extend_from_slice(&tar[pos..end]);
            }
            pending_pax = None;
        }
        pos = end;
    }
    assert!(kept.len() < tar.len(), "{target} not found in the archive");
    std::fs::create_dir_all(out_dir).expect("dir");
    let out = std::fs::File::create(out_dir.join("stream.tar.s2")).expect("create");
    let mut writer = minlz::Writer::new(out);
    writer.write_all(&kept).expect("compress");
    writer.flush().expect("flush");
    drop(writer);
    std::fs::copy(fixture.join("backup.json"), out_dir.join("backup.json")).expect("backup.json");
}

/// A v1 consumer without `o.dat`: the server starts it by its start rules, and so does `info`.
#[test]
fn missing_consumer_state_follows_the_start_rules_like_a_restored_server() {
    let fixture = common::fixture("v1/orders");
    let expected = read_json(&fixture.join("expected.json"));
    let scratch = common::TempDir::new("jsbackup-no-odat");
    let dir = scratch.join("ORDERS");
    let name = "eu-shipping";
    without_odat(&fixture, name, &dir);
    let got = info(&dir);
    let mine = ours(&got, name, "no o.dat");
    assert_eq!(mine["state_recorded"], false);
    // The archive's recorded position is not what a fresh start gives.
    let recorded = expected["consumers"]
        .as_array()
        .and_then(|list| list.iter().find(|c| c["name"] == name))
        .expect("eu-shipping in expected.json");
    assert_ne!(field(mine, "delivered"), field(recorded, "delivered"));
    for version in ["2.14", "2.15"] {
        let server = NatsServer::start(version, None);
        let mut conn = server.connect();
        common::restore_via_api(&mut conn, &dir, "ORDERS").expect("restore");
        let live = conn.consumer_info("ORDERS", name);
        for key in ["delivered", "ack_floor", "num_pending", "num_ack_pending"] {
            assert_eq!(
                field(mine, key),
                field(&live, key),
                "{version}: {key}: server {live}"
            );
        }
    }
}
