//! Local restores (`--store-dir`) write what nats-server settles at: every
//! clean fixture (v1, v2, v1-older) restored into a store by the CLI with the
//! default rules, then loaded by a real nats-server 2.15.1 (v1 also 2.14.6),
//! settles at exactly `restore_prediction` computed for that moment (the
//! `store_dir` variant when it differs): STREAM.INFO state and every
//! CONSUMER.INFO. The same with a `--config` that sets max_msgs (and max_age),
//! or max_msgs_per_subject, below what the archive holds. The restore report's per-reason counts are
//! the prediction's at the restore's reference time. With `--keep-expired`
//! the written store, read back offline, holds every archive message. A
//! consumer delivered past the stream's last sequence is written as the server
//! reconciles it when it loads a raw one (delivered back to the highest pending).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is a failed test

mod common;
use common::{jsbackup, stdout_json};
mod restore_support;

use common::{all_fixtures, read_json, NatsConn, NatsServer, TempDir};
use jsbackup::format::filestore_write::encode_odat;
use jsbackup::format::s2_write::S2Writer;
use jsbackup::format::write_v1::TarWriter;
use jsbackup::model::PendingEntry;
use jsbackup::ops::read::MessageReader;
use jsbackup::ops::restore_local::{restore_to_store, ConsumerSelection, LocalRestoreOptions};
use jsbackup::ops::restore_prediction::{predict_for, Target};
use restore_support::{digest_prefix, label, open, u64_at};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

fn arg(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// What a local restore settles at, per `info --json --now NOW [--config FILE]`:
/// `restore_prediction.store_dir` when present, else `restore_prediction`.
fn store_prediction(dir: &Path, now: &str, config: Option<&Path>) -> Value {
    let mut args = vec!["info", arg(dir), "--json", "--now", now];
    if let Some(config) = config {
        args.extend(["--config", arg(config)]);
    }
    let output = jsbackup(&args);
    assert!(
        output.status.success(),
        "info {}: {}",
        dir.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let prediction = stdout_json("info", &output)["restore_prediction"].clone();
    match prediction.get("store_dir") {
        Some(store) => store.clone(),
        None => prediction,
    }
}

fn now_text() -> String {
    jsbackup::util::time::format_rfc3339_ns(jsbackup::util::time::now_ns())
}

const STATE_FIELDS: [&str; 7] = [
    "messages",
    "bytes",
    "first_seq",
    "last_seq",
    "num_deleted",
    "num_subjects",
    "consumer_count",
];

fn state_fields(state: &Value) -> Vec<u64> {
    // The server leaves out zero counts.
    STATE_FIELDS
        .iter()
        .map(|key| u64_at(&state[*key]))
        .collect()
}

const CONSUMER_FIELDS: [&str; 5] = [
    "delivered",
    "ack_floor",
    "num_pending",
    "num_ack_pending",
    "num_redelivered",
];

fn consumer_field(value: &Value, key: &str) -> Value {
    match (key, value.get(key)) {
        ("delivered" | "ack_floor", Some(pair)) => {
            json!({"consumer_seq": u64_at(&pair["consumer_seq"]), "stream_seq": u64_at(&pair["stream_seq"])})
        }
        (_, found) => json!(found.map_or(0, u64_at)),
    }
}

/// A `--config` edit of the fixture's config, written next to the store.
#[derive(Clone, Copy, Debug)]
enum Scenario {
    /// The backup's config.
    Backup,
    /// max_msgs half of what the archive holds.
    HalfMaxMsgs,
    /// max_msgs half, max_age one hour (every fixture message is days old).
    HalfMaxMsgsAndHourMaxAge,
    /// max_msgs_per_subject 100: drops inside the stream (orders), so pending acks of
    /// dropped messages are settled by the restore, not by the server's ack floor check.
    HundredPerSubject,
}

fn config_for(fixture: &Path, scenario: Scenario, out: &Path) -> Option<PathBuf> {
    let expected = read_json(&fixture.join("expected.json"));
    let half = (u64_at(&expected["state"]["messages"]) / 2).max(1);
    let mut config = read_json(&fixture.join("backup.json"))["config"].clone();
    match scenario {
        Scenario::Backup => return None,
        Scenario::HalfMaxMsgs => config["max_msgs"] = json!(half),
        Scenario::HalfMaxMsgsAndHourMaxAge => {
            config["max_msgs"] = json!(half);
            config["max_age"] = json!(3_600_000_000_000u64);
        }
        Scenario::HundredPerSubject => config["max_msgs_per_subject"] = json!(100),
    }
    let path = out.join(format!("{}-config.json", label(fixture).replace('/', "_")));
    std::fs::write(&path, config.to_string()).expect("write config");
    Some(path)
}

fn stream_name(fixture: &Path) -> String {
    read_json(&fixture.join("backup.json"))["config"]["name"]
        .as_str()
        .expect("config.name")
        .to_string()
}

/// Restores `fixture` into `store` with the CLI; checks that the report's
/// per-reason counts are the prediction's at its reference time and returns
/// the config used.
fn restore_settled(
    fixture: &Path,
    store: &Path,
    version: &str,
    config: Option<&Path>,
) -> (String, Value) {
    let server_version = if version == "2.14" {
        "2.14.6"
    } else {
        "2.15.1"
    };
    let mut args = vec![
        "restore",
        arg(fixture),
        "--store-dir",
        arg(store),
        "--server-version",
        server_version,
        "--json",
    ];
    if let Some(config) = config {
        args.extend(["--config", arg(config)]);
    }
    let what = format!("{} {version} {config:?}", label(fixture));
    let output = jsbackup(&args);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{what}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report = stdout_json(&what, &output);
    let settled = &report["settled"];
    let reference = settled["reference_time"]
        .as_str()
        .unwrap_or_else(|| panic!("{what}: no settled in {report}"));
    assert_eq!(
        settled["config"],
        if config.is_some() {
            "override"
        } else {
            "backup"
        },
        "{what}"
    );
    let predicted = store_prediction(fixture, reference, config);
    assert_eq!(
        settled["dropped"], predicted["dropped"],
        "{what}: the report's drops are the prediction's"
    );
    // The pre-flight said the same before anything was written.
    let total = u64_at(&predicted["dropped"]["total"]);
    let line = report["preflight"]
        .as_array()
        .expect("preflight")
        .iter()
        .filter_map(|check| check["text"].as_str())
        .find(|text| text.contains(&format!("as of {reference}")))
        .unwrap_or_else(|| panic!("{what}: no prediction line in {report}"))
        .to_string();
    if total == 0 {
        assert!(
            line.contains("no limit, max_age or TTL drops"),
            "{what}: {line}"
        );
    } else {
        assert!(
            line.starts_with(&format!(
                "this restore will drop {} message(s)",
                jsbackup::util::grouped(total)
            )),
            "{what}: {line}"
        );
    }
    assert_eq!(
        u64_at(&report["messages"]),
        u64_at(&predicted["state"]["messages"]),
        "{what}: messages written: {report}"
    );
    (what, predicted)
}

/// The server's stream and consumers equal the prediction computed after it settled.
fn assert_settled(what: &str, conn: &mut NatsConn, fixture: &Path, config: Option<&Path>) {
    let stream = stream_name(fixture);
    let mut predicted = Value::Null;
    let mut live = Value::Null;
    // TTL and age expiry run after the load: poll until the two agree.
    let settled = common::wait_until(Duration::from_secs(15), || {
        live = conn.stream_info(&stream);
        predicted = store_prediction(fixture, &now_text(), config);
        state_fields(&live["state"]) == state_fields(&predicted["state"])
    });
    assert!(
        settled,
        "{what}: {STATE_FIELDS:?}: server {:?} vs prediction {:?}\nserver {live}\nprediction {predicted}",
        state_fields(&live["state"]),
        state_fields(&predicted["state"])
    );
    for consumer in predicted["consumers"].as_array().expect("consumers") {
        let name = consumer["name"].as_str().expect("name");
        let info = conn.consumer_info(&stream, name);
        for key in CONSUMER_FIELDS {
            assert_eq!(
                consumer_field(&info, key),
                consumer_field(consumer, key),
                "{what}: consumer {name}: {key}: server {info}\nprediction {consumer}"
            );
        }
    }
}

/// One store per group and scenario (the streams of a group do not overlap),
/// loaded by one server of `version`; returns the streams checked.
fn check_group(version: &str, group: &str, scenario: Scenario) -> usize {
    let root = TempDir::new("settle-local");
    let store = root.join("store");
    let fixtures = all_fixtures(group);
    let mut restored = Vec::new();
    for fixture in &fixtures {
        let config = config_for(fixture, scenario, root.path());
        let (what, _) = restore_settled(fixture, &store, version, config.as_deref());
        restored.push((what, fixture.clone(), config));
    }
    let server = NatsServer::start(version, Some(&store));
    let mut conn = server.connect();
    for (what, fixture, config) in &restored {
        assert_settled(
            &format!("{what} {scenario:?}"),
            &mut conn,
            fixture,
            config.as_deref(),
        );
    }
    let log = server.log();
    assert!(!log.contains("checksums do not match"), "{log}");
    assert!(!log.contains("past last stream sequence"), "{log}");
    drop(conn);
    server.stop();
    restored.len()
}

#[test]
fn every_clean_fixture_restored_into_a_store_settles_at_the_prediction() {
    let mut streams = 0;
    for (version, groups) in [
        ("2.15", &["v1", "v2", "v1-older"][..]),
        ("2.14", &["v1", "v1-older"][..]),
    ] {
        for group in groups {
            for scenario in [
                Scenario::Backup,
                Scenario::HalfMaxMsgs,
                Scenario::HalfMaxMsgsAndHourMaxAge,
                Scenario::HundredPerSubject,
            ] {
                streams += check_group(version, group, scenario);
            }
        }
    }
    // 2.15: 6 + 6 + 2 fixtures, 2.14: 6 + 2, each in four scenarios.
    assert!(streams >= 88, "only {streams} restores checked");
}

/// The written store as a v1 archive (the filestore files under their archive
/// names), opened by jsbackup's own v1 scanner.
fn read_back(stream_dir: &Path, out: &Path) -> jsbackup::model::Backup {
    fn files(dir: &Path, prefix: &str, into: &mut Vec<(String, PathBuf)>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .expect("list store")
            .map(|entry| entry.expect("entry").path())
            .collect();
        entries.sort();
        for path in entries {
            let name = format!(
                "{prefix}{}",
                path.file_name().expect("name").to_string_lossy()
            );
            if path.is_dir() {
                files(&path, &format!("{name}/"), into);
            } else {
                into.push((name, path));
            }
        }
    }
    let mut members = Vec::new();
    files(stream_dir, "", &mut members);
    std::fs::create_dir_all(out).expect("mkdir");
    let archive = out.join("stream.tar.s2");
    let file = std::fs::File::create(&archive).expect("create archive");
    let mut tar = TarWriter::new(S2Writer::new(file), jsbackup::util::time::now_ns());
    for (name, path) in members {
        tar.append(&name, &std::fs::read(&path).expect("read"))
            .expect("append");
    }
    tar.finish().expect("tar").finish().expect("s2");
    open(&archive)
}

#[test]
fn keep_expired_writes_every_archive_message() {
    let mut checked = 0;
    for group in ["v1", "v2", "v1-older"] {
        for fixture in all_fixtures(group) {
            let what = label(&fixture);
            let expected = read_json(&fixture.join("expected.json"));
            let root = TempDir::new("keep-expired");
            let store = root.join("store");
            let output = jsbackup(&[
                "restore",
                arg(&fixture),
                "--store-dir",
                arg(&store),
                "--keep-expired",
                "--json",
            ]);
            assert_eq!(
                output.status.code(),
                Some(0),
                "{what}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            let report = stdout_json(&what, &output);
            assert!(report.get("settled").is_none(), "{what}: {report}");
            assert_eq!(
                u64_at(&report["messages"]),
                u64_at(&expected["state"]["messages"]),
                "{what}: {report}"
            );
            let stream = stream_name(&fixture);
            let dir = store
                .join("jetstream")
                .join("$G")
                .join("streams")
                .join(&stream);
            let back = read_back(&dir, &root.join("read-back"));
            assert!(!back.has_errors(), "{what}: {:?}", back.findings);
            assert_eq!(
                back.state.messages,
                u64_at(&expected["state"]["messages"]),
                "{what}"
            );
            assert_eq!(
                back.state.last_seq,
                u64_at(&expected["state"]["last_seq"]),
                "{what}"
            );
            let columns = expected["messages"]["columns"].as_array().expect("columns");
            let col = |name: &str| {
                columns
                    .iter()
                    .position(|c| c.as_str().is_some_and(|c| c.starts_with(name)))
                    .unwrap_or_else(|| panic!("no column {name}"))
            };
            let rows = expected["messages"]["rows"].as_array().expect("rows");
            assert_eq!(back.messages.len(), rows.len(), "{what}: rows");
            let mut reader =
                (!rows.is_empty()).then(|| MessageReader::open(&back).expect("reader"));
            for (index, row) in rows.iter().enumerate() {
                let message = back.messages.row(index).expect("row");
                let bytes = reader
                    .as_mut()
                    .expect("reader")
                    .read_row(&back, index)
                    .expect("read row");
                let got = (
                    message.seq,
                    back.subjects.name(message.subject_id).to_string(),
                    bytes.headers.len() as u64,
                    bytes.data.len() as u64,
                    digest_prefix(&bytes.headers, &bytes.data),
                );
                let want = (
                    u64_at(&row[col("seq")]),
                    row[col("subject")].as_str().unwrap_or("").to_string(),
                    u64_at(&row[col("hdr_len")]),
                    u64_at(&row[col("data_len")]),
                    row[col("sha256")].as_str().unwrap_or("").to_string(),
                );
                assert_eq!(got, want, "{what}: row {index}");
            }
            checked += 1;
        }
    }
    assert!(checked >= 14, "only {checked} fixtures");
}

/// v1/orders with `processor` pushed past the stream's end (delivered 100 past
/// last_seq, one more pending 50 past it), and that state as a raw `o.dat`.
fn processor_past_the_end(fixture: &Path) -> (jsbackup::model::Backup, Vec<u8>) {
    let mut backup = open(fixture);
    let index = backup
        .consumers
        .iter()
        .position(|consumer| consumer.name == "processor")
        .expect("processor");
    let last_seq = backup.state.last_seq;
    let state = &mut backup.consumers[index].state;
    assert!(!state.pending.is_empty() && state.delivered.stream_seq < last_seq);
    state.delivered.stream_seq = last_seq + 100;
    state.delivered.consumer_seq += 50;
    state.pending.push(PendingEntry {
        stream_seq: last_seq + 50,
        consumer_seq: state.delivered.consumer_seq - 1,
        timestamp_ns: jsbackup::util::time::now_ns(),
    });
    let raw_odat = encode_odat(&state.to_odat());
    (backup, raw_odat)
}

/// `processor` of v1/orders pushed past the stream's end (delivered 2100 of
/// last_seq 2000, one more pending at 2050), as a damaged or hand-edited archive
/// may hold it. The server, loading a raw `o.dat` like that, rolls delivered back
/// to the highest pending left; the restore writes that state, and the
/// prediction says so.
#[test]
fn consumer_past_the_stream_end_is_written_as_the_server_reconciles_it() {
    let fixture = common::fixture("v1/orders");
    let (backup, raw_odat) = processor_past_the_end(&fixture);
    let predicted = predict_for(&backup, None, jsbackup::util::time::now_ns(), Target::Store)
        .consumers
        .into_iter()
        .find(|consumer| consumer.name == "processor")
        .expect("predicted processor");
    assert!(
        predicted.delivered.stream_seq <= backup.state.last_seq,
        "{predicted:?}"
    );

    let root = TempDir::new("settle-reconcile");
    let restore = |store: &Path| {
        let mut options = LocalRestoreOptions::new(store);
        options.consumers = ConsumerSelection::Only(vec!["processor".into()]);
        restore_to_store(&backup, &options, &mut |_, _| {}, &AtomicBool::new(false))
            .expect("restore")
    };
    for version in ["2.15", "2.14"] {
        // Ours, and the same store with the raw state for the server to reconcile.
        let ours = root.join(format!("ours-{version}"));
        let raw = root.join(format!("raw-{version}"));
        restore(&ours);
        restore(&raw);
        let odat = raw.join("jetstream/$G/streams/ORDERS/obs/processor/o.dat");
        std::fs::write(&odat, &raw_odat).expect("write raw o.dat");
        let mut seen = Vec::new();
        for store in [&ours, &raw] {
            let server = NatsServer::start(version, Some(store));
            let mut conn = server.connect();
            let info = conn.consumer_info("ORDERS", "processor");
            let fields: Vec<Value> = CONSUMER_FIELDS
                .iter()
                .map(|key| consumer_field(&info, key))
                .collect();
            seen.push((fields, info, server.log()));
            server.stop();
        }
        let want: Vec<Value> = CONSUMER_FIELDS
            .iter()
            .map(|key| consumer_field(&serde_json::to_value(&predicted).expect("json"), key))
            .collect();
        assert_eq!(seen[0].0, want, "{version}: ours: {}", seen[0].1);
        assert_eq!(
            seen[1].0, want,
            "{version}: raw, reconciled by the server: {}",
            seen[1].1
        );
        assert!(
            seen[1].2.contains("past last stream sequence"),
            "{version}: the server reconciled the raw state: {}",
            seen[1].2
        );
        assert!(
            !seen[0].2.contains("past last stream sequence"),
            "{version}: ours needs no reconciling: {}",
            seen[0].2
        );
    }
}

/// The same consumer past the stream's end, restored into a running server. The
/// ground truth is the server's own restore of the original archive: the store
/// with the raw `o.dat` above, read back as a v1 archive and sent through the
/// restore API. jsbackup's re-encoded upload (a v1 tar for 2.14, v2 for 2.15, as a
/// consumer subset is chosen) must leave the same consumer state, and the
/// server-restore prediction must say it.
#[test]
fn consumer_past_the_stream_end_restored_into_a_server_as_the_server_does() {
    use jsbackup::ops::restore_server::{restore_to_server, ServerRestoreOptions};
    let fixture = common::fixture("v1/orders");
    let (backup, raw_odat) = processor_past_the_end(&fixture);
    let root = TempDir::new("settle-reconcile-server");
    // The original archive: a store of the backup with the raw o.dat, read back.
    let store = root.join("raw-store");
    let mut options = LocalRestoreOptions::new(&store);
    options.consumers = ConsumerSelection::Only(vec!["processor".into()]);
    restore_to_store(&backup, &options, &mut |_, _| {}, &AtomicBool::new(false)).expect("restore");
    let stream_dir = store.join("jetstream/$G/streams/ORDERS");
    std::fs::write(stream_dir.join("obs/processor/o.dat"), &raw_odat).expect("raw o.dat");
    let original = root.join("original");
    read_back(&stream_dir, &original);
    std::fs::copy(fixture.join("backup.json"), original.join("backup.json")).expect("copy");
    let predicted = predict_for(
        &backup,
        None,
        jsbackup::util::time::now_ns(),
        Target::Server,
    )
    .consumers
    .into_iter()
    .find(|consumer| consumer.name == "processor")
    .expect("predicted processor");
    let predicted: Vec<Value> = CONSUMER_FIELDS
        .iter()
        .map(|key| consumer_field(&serde_json::to_value(&predicted).expect("json"), key))
        .collect();
    let fields = |conn: &mut NatsConn| -> (Vec<Value>, Value) {
        let info = conn.consumer_info("ORDERS", "processor");
        (
            CONSUMER_FIELDS
                .iter()
                .map(|key| consumer_field(&info, key))
                .collect(),
            info,
        )
    };
    for version in ["2.14", "2.15"] {
        // Two servers: both streams are ORDERS on the same subjects.
        let server = NatsServer::start(version, None);
        let mut conn = server.connect();
        common::restore_via_api(&mut conn, &original, "ORDERS")
            .unwrap_or_else(|error| panic!("{version}: original: {error}\n{}", server.log()));
        let (truth, truth_info) = fields(&mut conn);
        server.stop();
        let server = NatsServer::start(version, None);
        let mut conn = server.connect();
        let mut options = ServerRestoreOptions::new(server.url.clone());
        options.consumers = ConsumerSelection::Only(vec!["processor".into()]);
        restore_to_server(&backup, &options, &mut |_, _| {}, &AtomicBool::new(false))
            .unwrap_or_else(|error| panic!("{version}: ours: {error}\n{}", server.log()));
        let (ours, ours_info) = fields(&mut conn);
        server.stop();
        assert_eq!(
            ours, truth,
            "{version}: ours {ours_info}\nthe server's restore of the original {truth_info}"
        );
        assert_eq!(predicted, truth, "{version}: the prediction: {truth_info}");
    }
}
