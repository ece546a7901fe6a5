//! Data file `-`: a backup read from standard input is spooled once to a private
//! temp file and reads exactly like the same bytes in a file; over the size cap it
//! is refused with the cap named; the spool is gone afterwards, also after SIGINT.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is a failed test

mod common;

use common::TempDir;
use serde_json::Value;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// Runs `jsbackup ARGS` with `input` on standard input and `TMPDIR` set to `tmp`.
fn run_with_stdin(args: &[&str], input: &[u8], tmp: &Path, max_mb: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_jsbackup"));
    command
        .args(args)
        .env("TMPDIR", tmp)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    match max_mb {
        Some(cap) => command.env("JSBACKUP_STDIN_MAX_MB", cap),
        None => command.env_remove("JSBACKUP_STDIN_MAX_MB"),
    };
    let mut child = command.spawn().expect("run jsbackup");
    let mut stdin = child.stdin.take().expect("stdin");
    // A refusal may close the pipe before everything is written.
    let _ = stdin.write_all(input);
    drop(stdin);
    child.wait_with_output().expect("wait jsbackup")
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_jsbackup"))
        .args(args)
        .output()
        .expect("run jsbackup")
}

/// `info --json` without the fields that name the file it was read from.
fn without_paths(mut info: Value) -> Value {
    let source = info["source"].as_object_mut().expect("source");
    source.remove("path");
    source.remove("data_file");
    info
}

fn leftovers(tmp: &Path) -> Vec<String> {
    std::fs::read_dir(tmp)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

const NOW: &str = "2030-01-01T00:00:00Z";

#[test]
fn standard_input_reads_like_the_file() {
    for rel in ["v1/orders", "v2/orders", "v1/compressed", "v2/compressed"] {
        let bytes = std::fs::read(common::fixture(rel).join("stream.tar.s2")).unwrap();
        // The data file alone (no backup.json beside it), as standard input has none.
        let alone = TempDir::new("stdin-alone");
        let data = alone.join("stream.tar.s2");
        std::fs::write(&data, &bytes).unwrap();
        let data = data.to_str().unwrap();
        let tmp = TempDir::new("stdin-tmp");
        for (piped, from_file) in [
            (
                vec!["info", "-", "--json", "--now", NOW],
                vec!["info", data, "--json", "--now", NOW],
            ),
            (
                vec!["verify", "-", "--json"],
                vec!["verify", data, "--json"],
            ),
            (
                vec!["messages", "-", "--json"],
                vec!["messages", data, "--json"],
            ),
        ] {
            let from_stdin = run_with_stdin(&piped, &bytes, tmp.path(), None);
            let direct = run(&from_file);
            assert_eq!(
                from_stdin.status.code(),
                direct.status.code(),
                "{rel} {piped:?}"
            );
            assert!(
                !direct.stdout.is_empty(),
                "{rel} {from_file:?}: {}",
                String::from_utf8_lossy(&direct.stderr)
            );
            match piped[0] {
                "info" => {
                    let a: Value = serde_json::from_slice(&from_stdin.stdout).unwrap();
                    let b: Value = serde_json::from_slice(&direct.stdout).unwrap();
                    assert_eq!(a["source"]["data_file_bytes"], bytes.len() as u64);
                    assert_eq!(without_paths(a), without_paths(b), "{rel}");
                }
                "verify" => {
                    let mut a: Value = serde_json::from_slice(&from_stdin.stdout).unwrap();
                    let mut b: Value = serde_json::from_slice(&direct.stdout).unwrap();
                    for report in [&mut a, &mut b] {
                        let object = report.as_object_mut().unwrap();
                        object.remove("path");
                        object.remove("data_file");
                    }
                    assert_eq!(a, b, "{rel}");
                }
                _ => assert_eq!(from_stdin.stdout, direct.stdout, "{rel} messages"),
            }
            assert!(
                leftovers(tmp.path()).is_empty(),
                "{rel}: {:?}",
                leftovers(tmp.path())
            );
        }
    }
}

#[test]
fn standard_input_over_the_cap_is_refused() {
    // A real archive followed by more bytes: over 1 MB in all.
    let archive = std::fs::read(common::fixture("v2/compressed").join("stream.tar.s2")).unwrap();
    let bytes = archive.repeat(1_000_001usize.div_ceil(archive.len()));
    assert!(bytes.len() > 1_000_000);
    let tmp = TempDir::new("stdin-cap");
    for command in ["info", "verify", "messages"] {
        let out = run_with_stdin(&[command, "-"], &bytes, tmp.path(), Some("1"));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{command}: {stderr}");
        assert!(
            stderr.contains("more than 1 MB") && stderr.contains("JSBACKUP_STDIN_MAX_MB"),
            "{command}: {stderr}"
        );
        assert!(out.stdout.is_empty());
        assert!(
            leftovers(tmp.path()).is_empty(),
            "{:?}",
            leftovers(tmp.path())
        );
    }
}

/// Interrupted while standard input is still open: the spool goes with the process.
#[test]
fn sigint_while_reading_standard_input_removes_the_spool() {
    let tmp = TempDir::new("stdin-sigint");
    let mut child = Command::new(env!("CARGO_BIN_EXE_jsbackup"))
        .args(["info", "-"])
        .env("TMPDIR", tmp.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run jsbackup");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(&[0xff, 6, 0, 0]).unwrap();
    stdin.flush().unwrap();
    let spool = tmp.join(format!(".stdin.jsbackup-tmp-{}", child.id()));
    assert!(
        common::wait_until(Duration::from_secs(10), || spool
            .join("stream.tar.s2")
            .exists()),
        "no spool at {}",
        spool.display()
    );
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(
        common::wait_until(Duration::from_secs(10), || matches!(
            child.try_wait(),
            Ok(Some(_))
        )),
        "still running after SIGINT"
    );
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130));
    assert!(!spool.exists(), "{:?}", leftovers(tmp.path()));
    drop(stdin);
}
