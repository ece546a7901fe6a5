//! Typed configs and the config schema check, on every fixture and against a
//! real nats-server: every stream config (backup.json, v1 meta.inf) and every
//! consumer config (expected.json, the archive) goes JSON → typed → JSON
//! unchanged; the typed fields say what the server's JSON says; the fixtures'
//! own configs pass the check for the server version that wrote them; and a
//! backup.json whose config has an unknown key and `subjects` as a string is
//! refused by `jsbackup restore` (naming both fields) and, with
//! `--drop-unknown-config`, restored into a store that nats-server 2.15.1 loads.

mod common;
mod restore_support;

use common::{all_fixtures, read_json, NatsServer, TempDir};
use jsbackup::model::{ConsumerConfig, Nanos, StreamConfig};
use jsbackup::ops::config_check::{check_consumer_config, check_stream_config, schema_version};
use restore_support::{label, open, u64_at};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

fn fixture_dirs() -> Vec<PathBuf> {
    ["v1", "v2", "v1-older", "corrupt"]
        .iter()
        .flat_map(|group| all_fixtures(group))
        .collect()
}

fn assert_stream_round_trip(what: &str, original: &Value) -> StreamConfig {
    let typed =
        StreamConfig::from_json(original).unwrap_or_else(|| panic!("{what}: not an object"));
    assert_eq!(
        &typed.to_json(),
        original,
        "{what}: typed config changed the JSON"
    );
    // Field order too: a re-written meta.inf keeps the server's order.
    assert_eq!(
        serde_json::to_string(&typed.to_json()).expect("json"),
        serde_json::to_string(original).expect("json"),
        "{what}: field order"
    );
    typed
}

fn assert_consumer_round_trip(what: &str, original: &Value) -> ConsumerConfig {
    let typed =
        ConsumerConfig::from_json(original).unwrap_or_else(|| panic!("{what}: not an object"));
    assert_eq!(
        &typed.to_json(),
        original,
        "{what}: typed config changed the JSON"
    );
    typed
}

/// The typed fields agree with the JSON the server wrote.
fn assert_stream_fields(what: &str, typed: &StreamConfig, json: &Value) {
    assert_eq!(typed.name(), json["name"].as_str().unwrap_or(""), "{what}");
    if let Some(storage) = json["storage"].as_str() {
        assert_eq!(typed.storage().as_str(), storage, "{what}");
        assert!(typed.storage().is_known(), "{what}");
        assert_eq!(typed.is_memory(), storage == "memory", "{what}");
    }
    if let Some(retention) = json["retention"].as_str() {
        assert_eq!(typed.retention().as_str(), retention, "{what}");
    }
    if let Some(discard) = json["discard"].as_str() {
        assert_eq!(
            typed.discard.as_ref().map(|d| d.as_str()),
            Some(discard),
            "{what}"
        );
    }
    for key in ["max_age", "duplicate_window", "subject_delete_marker_ttl"] {
        assert_eq!(
            typed.duration(key),
            json[key].as_i64().map(Nanos),
            "{what}: {key}"
        );
    }
    assert!(
        typed.extra.is_empty(),
        "{what}: fields the server wrote are not all typed: {:?}",
        typed.extra
    );
}

#[test]
fn every_fixture_stream_config_round_trips() {
    let mut checked = 0;
    for dir in fixture_dirs() {
        let what = label(&dir);
        let backup_json = dir.join("backup.json");
        if let Ok(text) = std::fs::read(&backup_json) {
            if let Ok(value) = serde_json::from_slice::<Value>(&text) {
                if let Some(config) = value.get("config") {
                    let typed = assert_stream_round_trip(&format!("{what} backup.json"), config);
                    if !dir.starts_with(common::fixture("corrupt")) {
                        assert_stream_fields(&format!("{what} backup.json"), &typed, config);
                    }
                    checked += 1;
                }
            }
        }
        let backup = open(&dir);
        if let Some(raw) = &backup.meta_inf_raw {
            let mut meta: Value = serde_json::from_slice(raw).expect("meta.inf is JSON");
            if let Some(object) = meta.as_object_mut() {
                object.remove("Created");
            }
            let typed = assert_stream_round_trip(&format!("{what} meta.inf"), &meta);
            assert_stream_fields(&format!("{what} meta.inf"), &typed, &meta);
            assert_eq!(
                backup.config.as_ref(),
                Some(&typed),
                "{what}: Backup.config"
            );
            checked += 1;
        }
        if let Some(config) = &backup.config {
            assert_eq!(config.name(), backup.stream_name, "{what}");
        }
    }
    assert!(checked >= 20, "only {checked} configs checked");
}

#[test]
fn every_fixture_consumer_config_round_trips() {
    let mut checked = 0;
    for dir in fixture_dirs() {
        let what = label(&dir);
        let exp = read_json(&dir.join("expected.json"));
        for consumer in exp["consumers"].as_array().into_iter().flatten() {
            let name = consumer["name"].as_str().unwrap_or("?");
            let config = &consumer["config"];
            let typed = assert_consumer_round_trip(&format!("{what} expected {name}"), config);
            assert!(
                typed.extra.is_empty(),
                "{what} {name}: untyped {:?}",
                typed.extra
            );
            if let Some(ack) = config["ack_policy"].as_str() {
                assert_eq!(typed.ack_policy.as_ref().map(|a| a.as_str()), Some(ack));
            }
            if let Some(deliver) = config["deliver_policy"].as_str() {
                assert_eq!(
                    typed.deliver_policy.as_ref().map(|d| d.as_str()),
                    Some(deliver)
                );
            }
            assert_eq!(
                typed.ack_wait,
                config["ack_wait"].as_i64().map(Nanos),
                "{what} {name}"
            );
            let backoff: Option<Vec<Nanos>> = config["backoff"]
                .as_array()
                .map(|list| list.iter().filter_map(Value::as_i64).map(Nanos).collect());
            assert_eq!(typed.backoff, backoff, "{what} {name}");
            checked += 1;
        }
        let backup = open(&dir);
        for consumer in &backup.consumers {
            if consumer.config.is_object() {
                assert_consumer_round_trip(
                    &format!("{what} archive {}", consumer.name),
                    &consumer.config,
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 20, "only {checked} consumer configs checked");
}

/// The schema tables accept what each fixture's own server wrote.
#[test]
fn fixture_configs_pass_the_check_for_their_server_version() {
    for dir in ["v1", "v2", "v1-older"]
        .iter()
        .flat_map(|group| all_fixtures(group))
    {
        let what = label(&dir);
        let exp = read_json(&dir.join("expected.json"));
        let version_text = exp["server_version"].as_str().expect("server_version");
        let version = schema_version(version_text).expect("a version");
        let backup = open(&dir);
        let config = backup.config.as_ref().expect("config").to_json();
        let issues = check_stream_config(&config, version);
        assert!(issues.is_empty(), "{what} ({version_text}): {issues:?}");
        if let Some(raw) = &backup.meta_inf_raw {
            let meta: Value = serde_json::from_slice(raw).expect("meta.inf");
            let issues = check_stream_config(&meta, version);
            assert!(
                issues.is_empty(),
                "{what} meta.inf ({version_text}): {issues:?}"
            );
        }
        for consumer in &backup.consumers {
            let issues = check_consumer_config(&consumer.config, version);
            assert!(
                issues.is_empty(),
                "{what} {} ({version_text}): {issues:?}",
                consumer.name
            );
        }
    }
}

/// A copy of `v2/orders` whose backup.json config has an unknown key and
/// `subjects` as a string.
fn hostile_backup(root: &Path) -> PathBuf {
    let source = common::fixture("v2/orders");
    let dir = root.join("orders-bad-config");
    std::fs::create_dir_all(&dir).expect("mkdir");
    for entry in std::fs::read_dir(&source).expect("list fixture") {
        let path = entry.expect("entry").path();
        let file = path.file_name().expect("file name");
        if file != "backup.json" {
            std::fs::copy(&path, dir.join(file)).expect("copy fixture file");
        }
    }
    let mut backup_json = read_json(&source.join("backup.json"));
    backup_json["config"]["from_the_future"] = json!({"knob": 1});
    backup_json["config"]["subjects"] = json!("orders.>");
    std::fs::write(
        dir.join("backup.json"),
        serde_json::to_vec_pretty(&backup_json).expect("json"),
    )
    .expect("write backup.json");
    dir
}

fn run_restore(dir: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_jsbackup"))
        .arg("restore")
        .arg(dir)
        .args(args)
        .output()
        .expect("run jsbackup")
}

#[test]
fn unknown_config_fields_are_refused_or_dropped_and_the_server_loads_the_store() {
    let work = TempDir::new("typed-config");
    let dir = hostile_backup(work.path());
    let store = work.join("store");
    let store_arg = store.to_str().expect("utf-8 path");

    let refused = run_restore(&dir, &["--store-dir", store_arg, "--json"]);
    assert_eq!(
        refused.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let report: Value = serde_json::from_slice(&refused.stdout).expect("json");
    assert_eq!(report["ok"], false);
    let error = report["error"].as_str().unwrap_or_default();
    assert!(error.contains("\"from_the_future\""), "{error}");
    assert!(error.contains("\"subjects\""), "{error}");
    assert!(error.contains("--drop-unknown-config"), "{error}");
    let failed: Vec<&Value> = report["preflight"]
        .as_array()
        .expect("preflight list")
        .iter()
        .filter(|check| check["ok"] == false)
        .collect();
    assert_eq!(failed.len(), 1, "{report}");
    assert!(
        !store.join("jetstream").exists(),
        "a refused restore leaves nothing at the store"
    );

    let plain = run_restore(&dir, &["--store-dir", store_arg]);
    let stderr = String::from_utf8_lossy(&plain.stderr);
    assert_eq!(plain.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("pre-flight:") && stderr.contains("FAIL"),
        "{stderr}"
    );

    let dropped = run_restore(
        &dir,
        &["--store-dir", store_arg, "--drop-unknown-config", "--json"],
    );
    assert_eq!(
        dropped.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&dropped.stderr)
    );
    let report: Value = serde_json::from_slice(&dropped.stdout).expect("json");
    let notes: Vec<&str> = report["notes"]
        .as_array()
        .expect("notes")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        notes
            .iter()
            .any(|note| note.contains("dropped") && note.contains("\"from_the_future\"")),
        "{notes:?}"
    );
    assert!(
        notes
            .iter()
            .any(|note| note.contains("dropped") && note.contains("\"subjects\"")),
        "{notes:?}"
    );

    let exp = read_json(&common::fixture("v2/orders").join("expected.json"));
    let name = exp["stream"]["name"].as_str().expect("stream name");
    let meta_inf = store
        .join("jetstream/$G/streams")
        .join(name)
        .join("meta.inf");
    let meta: Value =
        serde_json::from_slice(&std::fs::read(&meta_inf).expect("meta.inf")).expect("json");
    assert!(
        meta.get("from_the_future").is_none() && meta.get("subjects").is_none(),
        "{meta}"
    );

    let server = NatsServer::start("2.15", Some(&store));
    let mut conn = server.connect();
    assert_eq!(
        conn.stream_names(),
        vec![name.to_string()],
        "{}",
        server.log()
    );
    let info = conn.stream_info(name);
    assert!(info.get("error").is_none(), "{info}");
    assert_eq!(
        u64_at(&info["state"]["messages"]),
        u64_at(&exp["state"]["messages"]),
        "{info}"
    );
    // Without subjects in the config the server uses the stream name.
    assert_eq!(info["config"]["subjects"], json!([name]), "{info}");
    assert!(!server.log().contains("unknown field"), "{}", server.log());
}
