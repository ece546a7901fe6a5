//! CLI output hygiene: text output escapes control characters in subjects, consumer
//! names and headers (a backup cannot drive the terminal), `--json` keeps them
//! exact, and a closed stdout pipe ends the command quietly with exit 0.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is a failed test

mod common;
use common::jsbackup;

use common::TempDir;
use jsbackup::format::s2_write::S2Writer;
use jsbackup::format::write_v2::V2Writer;
use serde_json::{json, Value};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The archive readers refuse ASCII control bytes in subjects; C1 controls (CSI,
/// U+009B, which some terminals take as ESC [; NEL, U+0085, a line break) pass.
const EVIL_SUBJECT: &str = "evil.\u{9b}31m\u{85}.red";
const EVIL_CONSUMER: &str = "c1\nConsumer fake: delivered 9/9";
const EVIL_HEADER: &str = "X-Evil: a\u{1b}]0;title\u{7}b";

/// A v2 data file with a control character in a subject, a consumer name and a header.
fn evil_backup(dir: &Path) -> PathBuf {
    let path = dir.join("stream.tar.s2");
    let file = std::fs::File::create(&path).expect("create");
    let ts = 1_764_000_000_000_000_000i64;
    let state = json!({
        "messages": 1, "bytes": 0, "first_seq": 1, "first_ts": "2025-11-24T16:00:00Z",
        "last_seq": 1, "last_ts": "2025-11-24T16:00:00Z", "consumer_count": 1
    });
    let mut writer = V2Writer::new(
        S2Writer::new(file),
        ts,
        &serde_json::to_vec(&state).expect("json"),
    )
    .expect("v2 writer");
    let consumer = json!({
        "config": {"durable_name": EVIL_CONSUMER, "ack_policy": "explicit"},
        "state": {"delivered": {"consumer_seq": 0, "stream_seq": 0},
                  "ack_floor": {"consumer_seq": 0, "stream_seq": 0}}
    });
    writer
        .consumer(EVIL_CONSUMER, &serde_json::to_vec(&consumer).expect("json"))
        .expect("consumer");
    let headers = format!("NATS/1.0\r\n{EVIL_HEADER}\r\n\r\n");
    writer
        .message(
            EVIL_SUBJECT.as_bytes(),
            ts,
            1,
            headers.as_bytes(),
            b"payload",
        )
        .expect("message");
    writer
        .finish()
        .expect("finish")
        .finish()
        .expect("s2 finish");
    path
}

#[test]
fn text_output_escapes_control_characters_and_json_keeps_them() {
    let tmp = TempDir::new("cli-output");
    let path = evil_backup(tmp.path());
    let path = path.to_str().expect("utf-8");

    let text = jsbackup(&["messages", path, "--raw"]);
    assert!(
        text.status.success(),
        "{}",
        String::from_utf8_lossy(&text.stderr)
    );
    let stdout = String::from_utf8(text.stdout).expect("utf-8");
    assert!(
        !stdout.contains(['\u{1b}', '\u{7}', '\u{9b}', '\u{85}']),
        "{stdout:?}"
    );
    assert!(stdout.contains(r"evil.\x9b31m\x85.red"), "{stdout:?}");
    assert!(stdout.contains(r"X-Evil: a\x1b]0;title\x07b"), "{stdout:?}");

    let json = jsbackup(&["messages", path, "--json"]);
    assert!(json.status.success());
    let line: Value = serde_json::from_slice(&json.stdout).expect("one NDJSON line");
    assert_eq!(line["subject"], EVIL_SUBJECT);

    let info = jsbackup(&["info", path]);
    assert!(
        info.status.success(),
        "{}",
        String::from_utf8_lossy(&info.stderr)
    );
    let stdout = String::from_utf8(info.stdout).expect("utf-8");
    assert!(
        stdout.contains(r"Consumer c1\nConsumer fake: delivered 9/9:"),
        "{stdout}"
    );
    // No line of its own starts with the forged text.
    assert!(
        !stdout.lines().any(|line| line.starts_with("Consumer fake")),
        "{stdout}"
    );
    let info_json = jsbackup(&["info", path, "--json"]);
    assert!(info_json.status.success());
    let document: Value = serde_json::from_slice(&info_json.stdout).expect("json");
    assert!(
        document
            .to_string()
            .contains(&serde_json::to_string(EVIL_CONSUMER).expect("json")),
        "the JSON keeps the name exact: {document}"
    );
}

#[test]
fn closed_stdout_pipe_exits_quietly_with_zero() {
    let dir = common::fixture("v2/orders");
    for args in [
        vec!["messages", dir.to_str().expect("utf-8"), "--raw"],
        vec!["messages", dir.to_str().expect("utf-8"), "--json", "--raw"],
        vec!["info", dir.to_str().expect("utf-8")],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_jsbackup"))
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        // Read one byte (the command has started writing), then close our end.
        let mut stdout = child.stdout.take().expect("stdout");
        let mut first = [0u8; 1];
        stdout.read_exact(&mut first).expect("first byte");
        drop(stdout);
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .expect("stderr")
            .read_to_string(&mut stderr)
            .expect("stderr");
        let status = child.wait().expect("wait");
        assert!(status.success(), "{args:?}: {status}, stderr {stderr:?}");
        assert_eq!(stderr, "", "{args:?}");
    }
}
