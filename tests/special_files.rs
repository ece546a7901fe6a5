//! Regular files only: a FIFO (or a directory) where a data file or
//! backup.json should be is refused at once by `info`, `verify` and `restore`
//! (the binary runs under a watchdog, so a hang fails the test instead of
//! stalling it); an empty backup.json gives a clear error.

mod common;

use common::{fixture, TempDir};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs `jsbackup ARGS` and kills it if it is still running after `limit`.
/// Returns the output and how long it took.
fn run_with_watchdog(args: &[&str], path: &Path, limit: Duration) -> (Output, Duration) {
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_jsbackup"))
        .arg(args[0])
        .arg(path)
        .args(&args[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run jsbackup");
    let finished = common::wait_until(limit, || matches!(child.try_wait(), Ok(Some(_))));
    let elapsed = started.elapsed();
    if !finished {
        // The watchdog: a hang is the failure being tested for.
        let _ = child.kill();
    }
    let output = child.wait_with_output().expect("wait jsbackup");
    assert!(
        finished,
        "jsbackup {args:?} {} still running after {limit:?} (killed)",
        path.display()
    );
    (output, elapsed)
}

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("run mkfifo");
    assert!(status.success(), "mkfifo {}", path.display());
}

fn assert_refused_quickly(args: &[&str], path: &Path, what: &str) {
    let (out, elapsed) = run_with_watchdog(args, path, Duration::from_secs(5));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?} {what}: {stderr}");
    assert!(
        stderr.contains(what) && stderr.contains("not a regular file"),
        "{args:?}: {stderr}"
    );
    assert!(
        elapsed <= Duration::from_secs(1),
        "{args:?} {what}: refused after {elapsed:?}"
    );
    eprintln!("{args:?} refused {what} in {elapsed:?}");
}

#[test]
fn fifo_data_file_is_refused_at_once() {
    let dir = TempDir::new("fifo");
    let fifo = dir.join("stream.tar.s2");
    mkfifo(&fifo);
    for args in [&["info"][..], &["verify", "--json"][..], &["messages"][..]] {
        assert_refused_quickly(args, &fifo, "a FIFO");
        // The directory holding it is refused the same way.
        assert_refused_quickly(args, dir.path(), "a FIFO");
    }
    let store = dir.join("store");
    assert_refused_quickly(
        &["restore", "--store-dir", store.to_str().expect("utf-8")],
        dir.path(),
        "a FIFO",
    );
    assert!(!store.exists());
}

#[test]
fn fifo_or_directory_backup_json_is_refused_at_once() {
    let dir = TempDir::new("fifo-json");
    std::fs::copy(
        fixture("v2/orders").join("stream.tar.s2"),
        dir.join("stream.tar.s2"),
    )
    .expect("copy archive");
    mkfifo(&dir.join("backup.json"));
    assert_refused_quickly(&["info"], dir.path(), "a FIFO");
    assert_refused_quickly(&["verify"], &dir.join("stream.tar.s2"), "a FIFO");

    let other = TempDir::new("dir-json");
    std::fs::copy(
        fixture("v2/orders").join("stream.tar.s2"),
        other.join("stream.tar.s2"),
    )
    .expect("copy archive");
    std::fs::create_dir(other.join("backup.json")).expect("mkdir backup.json");
    assert_refused_quickly(&["info"], other.path(), "a directory");
}

#[test]
fn empty_backup_json_is_a_clear_error() {
    let dir = TempDir::new("empty-json");
    std::fs::copy(
        fixture("v2/orders").join("stream.tar.s2"),
        dir.join("stream.tar.s2"),
    )
    .expect("copy archive");
    std::fs::write(dir.join("backup.json"), b"").expect("empty backup.json");
    let store = dir.join("store");
    let (out, _) = run_with_watchdog(
        &["restore", "--store-dir", store.to_str().expect("utf-8")],
        dir.path(),
        Duration::from_secs(20),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("backup.json is empty") && !stderr.contains("\"\" is not a valid"),
        "{stderr}"
    );
    assert!(!store.exists());
}
