//! Restore into a live nats-server through jsbackup's own NATS client and the
//! JetStream restore API: unchanged archives, renames, consumer subsets
//! (re-encoded as v2), and the refusals (existing stream, old server,
//! unreachable server, a failure after the upload began).

mod common;
mod restore_support;

use common::{fixture, free_port, read_json, NatsServer};
use jsbackup::ops::nats_client::{Auth, Client};
use jsbackup::ops::restore_local::{ConsumerSelection, RestoreReport};
use jsbackup::ops::restore_server::{restore_to_server, ServerRestoreError, ServerRestoreOptions};
use restore_support::{check_stream, open, u64_at, want_for};
use serde_json::{json, Value};
use std::sync::atomic::AtomicBool;

fn restore(
    rel: &str,
    server: &NatsServer,
    rename: Option<&str>,
    consumers: Option<&[&str]>,
) -> Result<RestoreReport, ServerRestoreError> {
    let backup = open(&fixture(rel));
    let mut options = ServerRestoreOptions::new(server.url.clone());
    options.stream_name = rename.map(str::to_string);
    if let Some(list) = consumers {
        options.consumers = ConsumerSelection::Only(list.iter().map(|s| s.to_string()).collect());
    }
    let cancel = AtomicBool::new(false);
    let mut last = (0u64, 0u64);
    let result = restore_to_server(
        &backup,
        &options,
        &mut |done, total| last = (done, total),
        &cancel,
    );
    if result.is_ok() {
        assert!(last.0 > 0 && last.0 == last.1, "progress ended at {last:?}");
    }
    result
}

fn restore_and_check(
    rel: &str,
    version: &str,
    full: &str,
    rename: Option<&str>,
    consumers: Option<&[&str]>,
) {
    let what = format!("{rel} -> server {full} as {rename:?} consumers {consumers:?}");
    let server = NatsServer::start(version, None);
    let report = restore(rel, &server, rename, consumers)
        .unwrap_or_else(|e| panic!("{what}: {e}\n{}", server.log()));
    let exp = read_json(&fixture(rel).join("expected.json"));
    let name = rename.map(str::to_string).unwrap_or_else(|| {
        exp["stream"]["config"]["name"]
            .as_str()
            .expect("name")
            .to_string()
    });
    assert_eq!(report.stream_name, name);
    assert!(report.server_stream_info.is_some());
    let want = want_for(&exp, full, consumers);
    assert_eq!(
        report.messages,
        u64_at(&want.state["messages"]),
        "{what}: report"
    );
    let mut conn = server.connect();
    assert_eq!(conn.stream_names(), vec![name.clone()]);
    check_stream(&what, &server, &mut conn, &name, &want);
}

#[test]
fn v2_orders_renamed_with_consumer_subset() {
    restore_and_check(
        "v2/orders",
        "2.15",
        "2.15.1",
        Some("ORDERS_S"),
        Some(&["processor", "eu-shipping"]),
    );
}

#[test]
fn v1_orders_renamed_with_consumer_subset() {
    restore_and_check(
        "v1/orders",
        "2.15",
        "2.15.1",
        Some("ORDERS_S"),
        Some(&["processor", "delayed"]),
    );
}

#[test]
fn unchanged_archives() {
    // v2 renamed with all consumers: sent unchanged.
    restore_and_check("v2/orders", "2.15", "2.15.1", Some("ORDERS_R"), None);
    restore_and_check("v2/trailing-deletes", "2.15", "2.15.1", None, None);
    // v1 under its own name: sent unchanged, also to 2.14.
    restore_and_check("v1/orders", "2.14", "2.14.6", None, None);
    restore_and_check("v1/kv", "2.15", "2.15.1", None, None);
}

#[test]
fn existing_stream_is_refused_before_sending() {
    let server = NatsServer::start("2.15", None);
    restore("v2/orders", &server, None, None).expect("first restore");
    let mut conn = server.connect();
    let before = conn.stream_info("ORDERS")["state"].clone();
    let error = restore("v1/orders", &server, None, None).expect_err("exists");
    let text = error.to_string();
    assert!(matches!(error, ServerRestoreError::Preflight(_)), "{text}");
    assert!(
        text.contains("already exists") && text.contains("ORDERS"),
        "{text}"
    );
    assert_eq!(conn.stream_info("ORDERS")["state"], before);
}

#[test]
fn older_server_gets_a_reencoded_v1_archive() {
    // 2.14 cannot read v2: the archive goes as a v1 tar written from the index.
    restore_and_check("v2/orders", "2.14", "2.14.6", None, None);
    restore_and_check("v2/trailing-deletes", "2.14", "2.14.6", Some("TD2"), None);
    restore_and_check(
        "v2/orders",
        "2.14",
        "2.14.6",
        Some("ORDERS_OLD"),
        Some(&["processor", "audit-push"]),
    );
    restore_and_check(
        "v1/orders",
        "2.14",
        "2.14.6",
        Some("ORDERS_V1"),
        Some(&["delayed"]),
    );
}

#[test]
fn unreachable_server_is_a_clear_error() {
    let port = free_port();
    let backup = open(&fixture("v2/kv"));
    let options = ServerRestoreOptions::new(format!("nats://127.0.0.1:{port}"));
    let error = restore_to_server(&backup, &options, &mut |_, _| {}, &AtomicBool::new(false))
        .expect_err("closed port");
    let text = error.to_string();
    assert!(
        text.contains("cannot connect") && text.contains(&port.to_string()),
        "{text}"
    );
}

#[test]
fn failure_after_start_leaves_no_stream() {
    let server = NatsServer::start("2.15", None);
    let mut conn = server.connect();
    // A stream that takes the subjects first: the v2 restore fails when it
    // creates the stream from state.json.
    conn.create_stream(&json!({"name": "TAKEN", "subjects": ["orders.>"], "storage": "file"}));
    let error =
        restore("v2/orders", &server, Some("ORDERS2"), Some(&["processor"])).expect_err("overlap");
    let text = error.to_string();
    assert!(
        matches!(error, ServerRestoreError::Transfer { .. }),
        "{text}"
    );
    assert!(text.contains("overlap"), "{text}");
    assert!(text.contains("ORDERS2"), "{text}");
    assert_eq!(conn.stream_names(), vec!["TAKEN".to_string()], "{text}");
}

#[test]
fn client_speaks_the_api() {
    let server = NatsServer::start("2.15", None);
    let mut client = Client::connect(&server.url, &Auth::None).expect("connect");
    assert!(client.server_version().starts_with("2.15"));
    let info = client
        .request_json(
            "$JS.API.STREAM.INFO.NOPE",
            &Value::Null,
            std::time::Duration::from_secs(5),
        )
        .expect("api");
    assert_eq!(info["error"]["code"], 404, "{info}");
    let error = client
        .request("nobody.here", b"x", std::time::Duration::from_secs(5))
        .expect_err("no responders");
    assert!(error.to_string().contains("no responders"), "{error}");
    // Still usable after an error.
    let account = client
        .request_json(
            "$JS.API.INFO",
            &Value::Null,
            std::time::Duration::from_secs(5),
        )
        .expect("api");
    assert!(account.get("error").is_none(), "{account}");
}

#[test]
fn cli_restore_server_exit_codes() {
    let bin = env!("CARGO_BIN_EXE_jsbackup");
    let server = NatsServer::start("2.15", None);
    let run = |rel: &str, args: &[&str]| {
        std::process::Command::new(bin)
            .arg("restore")
            .arg(fixture(rel))
            .arg("--server")
            .arg(&server.url)
            .args(args)
            .output()
            .expect("run jsbackup")
    };
    let ok = run("v2/kv", &["--json", "--stream", "KV_COPY"]);
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let report: Value = serde_json::from_slice(&ok.stdout).expect("json");
    assert_eq!(report["stream_name"], "KV_COPY");
    assert_eq!(report["server_stream_info"]["config"]["name"], "KV_COPY");
    let again = run("v2/kv", &["--stream", "KV_COPY"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    let bad = run("v2/kv", &["--consumers", "nope"]);
    assert_eq!(bad.status.code(), Some(2));
}

/// The server dies while chunks are being uploaded: a clear error, and after the
/// server comes back on the same store, no half-restored stream is left.
#[test]
fn server_killed_mid_upload_is_a_clear_error() {
    for rel in ["v2/compressed", "v1/compressed"] {
        let store = common::TempDir::new("jsbackup-kill-store");
        let server = NatsServer::start("2.15", Some(store.path()));
        let backup = open(&fixture(rel));
        let options = ServerRestoreOptions::new(server.url.clone());
        let pid = server.pid().to_string();
        let mut killed = false;
        let result = restore_to_server(
            &backup,
            &options,
            &mut |done, _total| {
                if done > 0 && !killed {
                    killed = true;
                    let _ = std::process::Command::new("kill")
                        .args(["-9", &pid])
                        .status();
                }
            },
            &AtomicBool::new(false),
        );
        assert!(killed, "{rel}: the upload never reported progress");
        let error = result.expect_err("the server died mid-upload");
        let text = error.to_string();
        assert!(
            text.contains(&server.url) || text.contains("connection") || text.contains("server"),
            "{rel}: unclear error: {text}"
        );
        drop(server);
        // Back on the same store: the stream must not exist half-restored, or the
        // error must have said so.
        let again = NatsServer::start("2.15", Some(store.path()));
        let mut conn = again.connect();
        let names = conn.stream_names();
        let stream = backup.stream_name.clone();
        assert!(
            !names.contains(&stream) || text.contains("partially") || text.contains("half"),
            "{rel}: stream {stream} left behind after a failed restore and the error did not say so: {text}"
        );
    }
}

/// `--config` replaces the stream config (name kept as asked), `--replicas` sets the count.
#[test]
fn config_override_and_replicas() {
    let server = NatsServer::start("2.15", None);
    let backup = open(&fixture("v2/orders"));
    let mut config = backup.config.as_ref().expect("config").to_json();
    config["description"] = Value::from("restored with a config override");
    let mut options = ServerRestoreOptions::new(server.url.clone());
    options.stream_name = Some("ORDERS_CFG".into());
    options.config_override = Some(json!({ "config": config }));
    options.replicas = Some(1);
    restore_to_server(&backup, &options, &mut |_, _| {}, &AtomicBool::new(false)).expect("restore");
    let mut conn = server.connect();
    let info = conn.stream_info("ORDERS_CFG");
    assert_eq!(
        info["config"]["description"], "restored with a config override",
        "{info}"
    );
    assert_eq!(info["config"]["num_replicas"], 1);
    let expected = read_json(&fixture("v2/orders").join("expected.json"));
    assert_eq!(info["state"]["messages"], expected["state"]["messages"]);
}

/// A request nobody answers gives up soon after its cancel flag is set, long
/// before its timeout (the end-of-upload wait uses it).
#[test]
fn a_silent_reply_wait_is_cancellable() {
    let server = NatsServer::start("2.15", None);
    let mut silent = server.connect();
    silent.subscribe("silent.>").expect("subscribe");
    silent
        .flush(std::time::Duration::from_secs(5))
        .expect("flush");
    let mut client = Client::connect(&server.url, &Auth::None).expect("connect");
    let cancel = std::sync::Arc::new(AtomicBool::new(false));
    let trigger = cancel.clone();
    let canceller = std::thread::spawn(move || {
        // Not a timing assumption: only makes sure the request is already waiting.
        std::thread::sleep(std::time::Duration::from_millis(300));
        trigger.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    let started = std::time::Instant::now();
    let error = client
        .request_cancellable(
            "silent.end",
            b"",
            std::time::Duration::from_secs(60),
            &cancel,
        )
        .expect_err("cancelled");
    let elapsed = started.elapsed();
    canceller.join().expect("canceller");
    assert!(
        matches!(
            error,
            jsbackup::ops::nats_client::NatsError::Cancelled { .. }
        ),
        "{error}"
    );
    assert!(
        elapsed < std::time::Duration::from_secs(2),
        "cancel took {elapsed:?}"
    );
}

/// Cancel while "waiting for the server to finish…" (progress at 100%): the
/// end of the upload is not sent, the error says so, and no stream is left.
#[test]
fn cancel_while_waiting_for_the_server_leaves_no_stream() {
    let server = NatsServer::start("2.15", None);
    let backup = open(&fixture("v2/orders"));
    let mut options = ServerRestoreOptions::new(server.url.clone());
    options.stream_name = Some("WAITING".into());
    let cancel = AtomicBool::new(false);
    let mut below_total = 0u64;
    let result = restore_to_server(
        &backup,
        &options,
        &mut |done, total| {
            if done < total {
                below_total += 1;
            } else {
                cancel.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        },
        &cancel,
    );
    assert!(below_total > 0, "100% was reported before the upload ended");
    let text = result.expect_err("cancelled").to_string();
    assert!(
        text.contains("cancelled while waiting for the server to finish"),
        "{text}"
    );
    let mut conn = server.connect();
    assert_eq!(conn.stream_info("WAITING")["error"]["code"], 404, "{text}");
}

/// Without `salvage` a damaged backup is refused before connecting; with it
/// the report states written vs archive and what was dropped.
#[test]
fn damaged_backup_needs_salvage() {
    let server = NatsServer::start("2.15", None);
    let backup = open(&fixture("corrupt/v2-truncated"));
    let mut options = ServerRestoreOptions::new(server.url.clone());
    let error = restore_to_server(&backup, &options, &mut |_, _| {}, &AtomicBool::new(false))
        .expect_err("refused");
    assert!(matches!(error, ServerRestoreError::Damaged(_)), "{error}");
    assert!(error.to_string().contains("--salvage"), "{error}");
    let mut conn = server.connect();
    assert_eq!(conn.stream_info(&backup.stream_name)["error"]["code"], 404);
    options.salvage = true;
    let report = restore_to_server(&backup, &options, &mut |_, _| {}, &AtomicBool::new(false))
        .expect("salvage");
    assert!(report.salvaged);
    let expected = read_json(&fixture("corrupt/v2-truncated").join("backup.json"));
    assert_eq!(
        report.archive_messages,
        u64_at(&expected["state"]["messages"])
    );
    assert_eq!(
        report.dropped.lost_ranges,
        backup
            .lost
            .iter()
            .map(|(a, b)| [*a, *b])
            .collect::<Vec<_>>()
    );
    let info = conn.stream_info(&backup.stream_name);
    assert_eq!(u64_at(&info["state"]["messages"]), report.messages);
    assert_eq!(
        report.messages + report.dropped.sequences_lost,
        report.archive_messages,
        "every message is written or accounted as lost"
    );
}
