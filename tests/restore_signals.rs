//! Interruption: SIGINT and SIGTERM during `restore --server` of a
//! 200,000-message archive (made by a real server at test time) end the
//! process within 10 s and leave no stream on the server; SIGINT during a
//! local restore leaves no store directory; a SIGKILLed local restore's temp
//! directory is removed (and reported) by the next restore into that store.

mod common;

use common::{fixture, snapshot_via_api, wait_until, NatsServer, TempDir};
use serde_json::json;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const MESSAGES: u64 = 200_000;
const EXIT_LIMIT: Duration = Duration::from_secs(10);

/// Publishes `MESSAGES` messages of 200 incompressible bytes into stream BIG
/// and snapshots it into `out` (a v2 backup directory).
fn make_big_backup(server: &NatsServer, out: &Path) {
    let mut conn = server.connect();
    conn.create_stream(&json!({"name": "BIG", "subjects": ["big.>"], "storage": "file"}));
    let inbox = conn.new_inbox();
    let sid = conn
        .subscribe(&format!("{inbox}.*"))
        .expect("subscribe acks");
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut payload = vec![0u8; 200];
    const BATCH: u64 = 2_000;
    for batch in 0..MESSAGES / BATCH {
        for i in 0..BATCH {
            for byte in payload.iter_mut() {
                // xorshift: cheap bytes S2 cannot compress.
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                *byte = state as u8;
            }
            let seq = batch * BATCH + i;
            conn.publish(
                &format!("big.{}", seq % 50),
                Some(&format!("{inbox}.{seq}")),
                None,
                &payload,
            )
            .expect("publish");
        }
        for _ in 0..BATCH {
            let ack = conn
                .next_msg(sid, Duration::from_secs(30))
                .expect("publish ack");
            assert!(
                !String::from_utf8_lossy(&ack.data).contains("error"),
                "{}",
                String::from_utf8_lossy(&ack.data)
            );
        }
    }
    let info = conn.stream_info("BIG");
    assert_eq!(info["state"]["messages"], MESSAGES, "{info}");
    snapshot_via_api(&mut conn, "BIG", out).expect("snapshot BIG");
    let bytes = std::fs::metadata(out.join("stream.tar.s2"))
        .expect("archive")
        .len();
    eprintln!("archive of {MESSAGES} messages: {bytes} bytes");
}

/// A running `jsbackup restore`, its stderr collected by a thread.
struct Running {
    child: Child,
    stderr: mpsc::Receiver<Vec<u8>>,
    seen: Vec<u8>,
}

impl Running {
    fn start(backup: &Path, args: &[&str]) -> Running {
        let mut child = Command::new(env!("CARGO_BIN_EXE_jsbackup"))
            .arg("restore")
            .arg(backup)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run jsbackup");
        let mut pipe = child.stderr.take().expect("stderr");
        let (sender, stderr) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(read) = pipe.read(&mut buf) {
                if read == 0 || sender.send(buf[..read].to_vec()).is_err() {
                    break;
                }
            }
        });
        Running {
            child,
            stderr,
            seen: Vec::new(),
        }
    }

    /// Waits until stderr shows `needle` (a progress line): the write is under way.
    fn wait_for(&mut self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(120);
        while !String::from_utf8_lossy(&self.seen).contains(needle) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(bytes) => self.seen.extend(bytes),
                Err(_) => panic!(
                    "no {needle:?} on stderr; so far: {}",
                    String::from_utf8_lossy(&self.seen)
                ),
            }
        }
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal}");
    }

    /// Waits for the exit (killing it after `EXIT_LIMIT`); (exit code, stderr, time).
    fn finish(mut self) -> (Option<i32>, String, Duration) {
        let started = Instant::now();
        let child = &mut self.child;
        let exited = wait_until(EXIT_LIMIT, || matches!(child.try_wait(), Ok(Some(_))));
        let elapsed = started.elapsed();
        if !exited {
            let _ = self.child.kill();
        }
        let status = self.child.wait().expect("wait");
        while let Ok(bytes) = self.stderr.recv_timeout(Duration::from_secs(2)) {
            self.seen.extend(bytes);
        }
        let stderr = String::from_utf8_lossy(&self.seen).into_owned();
        assert!(
            exited,
            "still running {EXIT_LIMIT:?} after the signal: {stderr}"
        );
        (status.code(), stderr, elapsed)
    }
}

fn streams_dir(store: &Path) -> PathBuf {
    store.join("jetstream").join("$G").join("streams")
}

fn dot_entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|entry| entry.file_name().to_string_lossy().into_owned())
                .filter(|name| name.starts_with('.'))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn interrupted_restores_leave_nothing_behind() {
    let work = TempDir::new("signals");
    let backup = work.join("big");
    let server = NatsServer::start("2.15", None);
    make_big_backup(&server, &backup);

    // Server restores: SIGINT and SIGTERM during the upload.
    let mut conn = server.connect();
    for signal in ["INT", "TERM"] {
        let name = format!("BIG_{signal}");
        let mut running = Running::start(&backup, &["--server", &server.url, "--stream", &name]);
        running.wait_for("restoring…");
        let upload_started = Instant::now();
        running.wait_for("restoring…  30%");
        let into_upload = upload_started.elapsed();
        running.signal(signal);
        let (code, stderr, elapsed) = running.finish();
        eprintln!(
            "SIG{signal} {into_upload:?} into restore --server: exit {code:?} after {elapsed:?}"
        );
        assert_eq!(code, Some(1), "{stderr}");
        assert!(
            stderr.contains("cancelled")
                && (stderr.contains("was deleted") || stderr.contains("no stream")),
            "{stderr}"
        );
        let info = conn.stream_info(&name);
        assert_eq!(info["error"]["code"], 404, "SIG{signal}: {info}");
        // A retry is not told "already exists".
        assert!(!conn.stream_names().contains(&name));
    }

    // Local restore: SIGINT leaves no store directory.
    let store = work.join("store-int");
    let store_arg = store.to_str().expect("utf-8").to_string();
    let mut running = Running::start(&backup, &["--store-dir", &store_arg]);
    running.wait_for("restoring…");
    running.signal("INT");
    let (code, stderr, elapsed) = running.finish();
    eprintln!("SIGINT during restore --store-dir: exit {code:?} after {elapsed:?}");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("cancelled"), "{stderr}");
    assert!(!store.exists(), "{stderr}");

    // Local restore killed outright: its temp dir stays, and the next restore removes it.
    let store = work.join("store-kill");
    let store_arg = store.to_str().expect("utf-8").to_string();
    let mut running = Running::start(&backup, &["--store-dir", &store_arg]);
    running.wait_for("restoring…");
    let pid = running.child.id();
    running.child.kill().expect("SIGKILL");
    running.child.wait().expect("wait");
    let temp_name = format!(".BIG.jsbackup-tmp-{pid}");
    assert_eq!(dot_entries(&streams_dir(&store)), vec![temp_name.clone()]);
    let next = Command::new(env!("CARGO_BIN_EXE_jsbackup"))
        .arg("restore")
        .arg(fixture("v2/kv"))
        .args(["--store-dir", &store_arg])
        .output()
        .expect("run jsbackup");
    let stdout = String::from_utf8_lossy(&next.stdout);
    assert_eq!(
        next.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&next.stderr)
    );
    assert!(
        stdout.contains(&temp_name) && stdout.contains(&format!("process {pid} is gone")),
        "{stdout}"
    );
    assert!(dot_entries(&streams_dir(&store)).is_empty());
}
