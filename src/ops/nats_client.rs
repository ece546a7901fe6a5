//! A small synchronous NATS client: just enough of the protocol (INFO,
//! CONNECT, PING/PONG, SUB/UNSUB, PUB/HPUB, MSG/HMSG) to drive the JetStream
//! API with request/reply over one `std::net::TcpStream`.
//!
//! Why not async-nats: restore is a strictly sequential stop-and-wait upload
//! (one request in flight, as jsm.go does), which a blocking socket does
//! with no runtime; async-nats would pull tokio, rustls and friends into a
//! desktop binary for no gain. Auth: user/password and token go in CONNECT;
//! credentials files (JWT + nkey signature) and TLS are not supported yet.

use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How to authenticate in CONNECT.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Auth {
    #[default]
    None,
    UserPassword {
        user: String,
        password: String,
    },
    Token(String),
}

#[derive(Debug, thiserror::Error)]
pub enum NatsError {
    #[error("bad server URL {url:?}: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("cannot connect to {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("server {url} refused the connection: {message}")]
    Refused { url: String, message: String },
    #[error("server {url}: {message}")]
    Protocol { url: String, message: String },
    #[error("connection to {url} lost: {reason}")]
    Io { url: String, reason: String },
    #[error("no reply on {subject} within {timeout:?} from {url}")]
    Timeout {
        url: String,
        subject: String,
        timeout: Duration,
    },
    #[error("nobody answers on {subject} at {url} (no responders)")]
    NoResponders { url: String, subject: String },
    #[error("cancelled while waiting on {subject}")]
    Cancelled { subject: String },
}

/// A received message. `headers` is the raw block of an HMSG.
#[derive(Debug, Clone, Default)]
pub struct Message {
    pub subject: String,
    pub reply: Option<String>,
    pub headers: Option<Vec<u8>>,
    pub data: Vec<u8>,
}

impl Message {
    /// Inline status code of the header block (`NATS/1.0 503`).
    pub fn status(&self) -> Option<u16> {
        let headers = self.headers.as_deref()?;
        let line_end = headers
            .iter()
            .position(|&b| b == b'\r')
            .unwrap_or(headers.len());
        let line = std::str::from_utf8(headers.get(..line_end)?).ok()?;
        line.strip_prefix("NATS/1.0")?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    }
}

enum Frame {
    Info(Value),
    Msg { sid: u64, message: Message },
    Ping,
    Pong,
    Ok,
    Err(String),
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const READ_CHUNK: usize = 64 * 1024;
/// How often a cancellable request looks at its cancel flag while it waits.
const CANCEL_POLL: Duration = Duration::from_millis(100);

/// One connection. Replies arrive on one wildcard inbox subscription.
pub struct Client {
    url: String,
    stream: TcpStream,
    buf: Vec<u8>,
    info: Value,
    inbox_prefix: String,
    inbox_sid: u64,
    next_reply: u64,
}

fn unique_token() -> String {
    let nanos = crate::util::time::now_ns() as u64;
    let mixed = nanos ^ (u64::from(std::process::id()) << 32) ^ 0x9e37_79b9_7f4a_7c15;
    format!("{mixed:x}")
}

/// `nats://host:port`, `host:port` or `host` (port 4222) → "host:port".
pub fn parse_url(url: &str) -> Result<String, NatsError> {
    let bad = |reason: &str| NatsError::BadUrl {
        url: url.to_string(),
        reason: reason.to_string(),
    };
    let rest = match url.split_once("://") {
        Some(("nats", rest)) => rest,
        Some(("tls", _)) | Some(("wss", _)) | Some(("ws", _)) => {
            return Err(bad(
                "only plain nats:// connections are supported (no TLS or websocket)",
            ))
        }
        Some((scheme, _)) => return Err(bad(&format!("unknown scheme {scheme:?}"))),
        None => url,
    };
    if rest.contains('@') {
        return Err(bad(
            "put credentials in --user/--password or --token, not in the URL",
        ));
    }
    let rest = rest.trim_end_matches('/');
    if rest.is_empty() {
        return Err(bad("no host"));
    }
    let has_port = match rest.rsplit_once(':') {
        Some((_, port)) => {
            !port.is_empty() && port.chars().all(|c| c.is_ascii_digit()) && !rest.ends_with(']')
        }
        None => false,
    };
    Ok(if has_port {
        rest.to_string()
    } else {
        format!("{rest}:4222")
    })
}

impl Client {
    /// Connects: INFO, CONNECT (with auth), PING → PONG.
    pub fn connect(url: &str, auth: &Auth) -> Result<Client, NatsError> {
        let hostport = parse_url(url)?;
        let connect_error = |reason: String| NatsError::Connect {
            url: url.to_string(),
            reason,
        };
        let addrs: Vec<_> = hostport
            .to_socket_addrs()
            .map_err(|error| connect_error(format!("cannot resolve {hostport}: {error}")))?
            .collect();
        let mut last_error = format!("{hostport} resolves to no address");
        let mut connected = None;
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
                Ok(stream) => {
                    connected = Some(stream);
                    break;
                }
                Err(error) => last_error = format!("{addr}: {error}"),
            }
        }
        let stream = connected.ok_or_else(|| connect_error(last_error))?;
        let _ = stream.set_nodelay(true);
        let mut client = Client {
            url: url.to_string(),
            stream,
            buf: Vec::with_capacity(READ_CHUNK),
            info: Value::Null,
            inbox_prefix: format!("_INBOX.jsbackup{}", unique_token()),
            inbox_sid: 1,
            next_reply: 0,
        };
        let deadline = Instant::now() + CONNECT_TIMEOUT;
        match client.next_frame(deadline, "INFO")? {
            Frame::Info(info) => client.info = info,
            _ => {
                return Err(
                    client.protocol("the server did not start with INFO; is this a NATS port?")
                )
            }
        }
        if client.info.get("tls_required").and_then(Value::as_bool) == Some(true) {
            return Err(
                client.protocol("the server requires TLS, which jsbackup does not support yet")
            );
        }
        let mut connect = json!({
            "verbose": false,
            "pedantic": false,
            "headers": true,
            "no_responders": true,
            "protocol": 1,
            "lang": "rust",
            "version": env!("CARGO_PKG_VERSION"),
            "name": "jsbackup",
        });
        match auth {
            Auth::None => {}
            Auth::UserPassword { user, password } => {
                connect["user"] = Value::from(user.as_str());
                connect["pass"] = Value::from(password.as_str());
            }
            Auth::Token(token) => connect["auth_token"] = Value::from(token.as_str()),
        }
        let inbox = format!("{}.*", client.inbox_prefix);
        client.write(format!("CONNECT {connect}\r\nPING\r\nSUB {inbox} 1\r\n").as_bytes())?;
        loop {
            match client.next_frame(deadline, "PONG")? {
                Frame::Pong => return Ok(client),
                Frame::Err(message) => {
                    return Err(NatsError::Refused {
                        url: url.to_string(),
                        message,
                    })
                }
                Frame::Ping => client.write(b"PONG\r\n")?,
                Frame::Info(info) => client.info = info,
                Frame::Ok | Frame::Msg { .. } => {}
            }
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// The server's INFO object.
    pub fn info(&self) -> &Value {
        &self.info
    }

    /// `version` from INFO, e.g. "2.15.1".
    pub fn server_version(&self) -> String {
        self.info
            .get("version")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    }

    /// `max_payload` from INFO (1 MiB by default).
    pub fn max_payload(&self) -> usize {
        self.info
            .get("max_payload")
            .and_then(Value::as_u64)
            .unwrap_or(1 << 20) as usize
    }

    fn protocol(&self, message: &str) -> NatsError {
        NatsError::Protocol {
            url: self.url.clone(),
            message: message.to_string(),
        }
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), NatsError> {
        self.stream.write_all(bytes).map_err(|error| NatsError::Io {
            url: self.url.clone(),
            reason: format!("write: {error}"),
        })
    }

    /// Reads more bytes; `Ok(false)` on timeout.
    fn fill(&mut self, deadline: Instant) -> Result<bool, NatsError> {
        let now = Instant::now();
        if now >= deadline {
            return Ok(false);
        }
        let wait = (deadline - now).max(Duration::from_millis(1));
        let _ = self.stream.set_read_timeout(Some(wait));
        let mut chunk = [0u8; READ_CHUNK];
        match self.stream.read(&mut chunk) {
            Ok(0) => Err(NatsError::Io {
                url: self.url.clone(),
                reason: "closed by the server".into(),
            }),
            Ok(read) => {
                self.buf
                    .extend_from_slice(chunk.get(..read).unwrap_or_default());
                Ok(true)
            }
            Err(error)
                if matches!(
                    error.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                Ok(false)
            }
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => Ok(true),
            Err(error) => Err(NatsError::Io {
                url: self.url.clone(),
                reason: format!("read: {error}"),
            }),
        }
    }

    fn parse_frame(&mut self) -> Result<Option<Frame>, NatsError> {
        let Some(eol) = self.buf.windows(2).position(|pair| pair == b"\r\n") else {
            if self.buf.len() > 1 << 20 {
                return Err(self.protocol("a protocol line longer than 1 MiB"));
            }
            return Ok(None);
        };
        let line = String::from_utf8_lossy(self.buf.get(..eol).unwrap_or_default()).into_owned();
        let mut parts = line.split_ascii_whitespace();
        let op = parts.next().unwrap_or("").to_ascii_uppercase();
        let args: Vec<&str> = parts.collect();
        let bad_line = || NatsError::Protocol {
            url: self.url.clone(),
            message: format!("malformed line {line:?}"),
        };
        let frame = match op.as_str() {
            "MSG" | "HMSG" => {
                let with_headers = op == "HMSG";
                let fixed = if with_headers { 4 } else { 3 };
                if args.len() != fixed && args.len() != fixed + 1 {
                    return Err(bad_line());
                }
                let number = |index: usize| -> Result<usize, NatsError> {
                    args.get(index)
                        .and_then(|text| text.parse::<usize>().ok())
                        .ok_or_else(bad_line)
                };
                let total = number(args.len() - 1)?;
                let header_len = if with_headers {
                    number(args.len() - 2)?
                } else {
                    0
                };
                if header_len > total {
                    return Err(bad_line());
                }
                let start = eol + 2;
                if self.buf.len() < start + total + 2 {
                    return Ok(None);
                }
                let sid = args
                    .get(1)
                    .and_then(|text| text.parse::<u64>().ok())
                    .ok_or_else(bad_line)?;
                let reply = (args.len() == fixed + 1)
                    .then(|| args.get(2).map(|text| text.to_string()))
                    .flatten();
                let body = self.buf.get(start..start + total).unwrap_or_default();
                let message = Message {
                    subject: args
                        .first()
                        .map(|text| text.to_string())
                        .unwrap_or_default(),
                    reply,
                    headers: with_headers
                        .then(|| body.get(..header_len).unwrap_or_default().to_vec()),
                    data: body.get(header_len..).unwrap_or_default().to_vec(),
                };
                self.buf.drain(..start + total + 2);
                return Ok(Some(Frame::Msg { sid, message }));
            }
            "PING" => Frame::Ping,
            "PONG" => Frame::Pong,
            "+OK" => Frame::Ok,
            "-ERR" => Frame::Err(
                line.get(4..)
                    .unwrap_or("")
                    .trim()
                    .trim_matches('\'')
                    .to_string(),
            ),
            "INFO" => {
                let text = line.get(4..).unwrap_or("").trim();
                Frame::Info(serde_json::from_str(text).map_err(|_| bad_line())?)
            }
            _ => return Err(bad_line()),
        };
        self.buf.drain(..eol + 2);
        Ok(Some(frame))
    }

    fn next_frame(&mut self, deadline: Instant, waiting_for: &str) -> Result<Frame, NatsError> {
        loop {
            if let Some(frame) = self.parse_frame()? {
                return Ok(frame);
            }
            if !self.fill(deadline)? {
                return Err(NatsError::Timeout {
                    url: self.url.clone(),
                    subject: waiting_for.to_string(),
                    timeout: CONNECT_TIMEOUT,
                });
            }
        }
    }

    /// Publishes without waiting.
    pub fn publish(
        &mut self,
        subject: &str,
        reply: Option<&str>,
        headers: Option<&[u8]>,
        payload: &[u8],
    ) -> Result<(), NatsError> {
        let reply = reply.map(|reply| format!(" {reply}")).unwrap_or_default();
        let mut out = Vec::with_capacity(payload.len() + 128);
        match headers {
            Some(headers) => {
                out.extend_from_slice(
                    format!(
                        "HPUB {subject}{reply} {} {}\r\n",
                        headers.len(),
                        headers.len() + payload.len()
                    )
                    .as_bytes(),
                );
                out.extend_from_slice(headers);
            }
            None => out.extend_from_slice(
                format!("PUB {subject}{reply} {}\r\n", payload.len()).as_bytes(),
            ),
        }
        out.extend_from_slice(payload);
        out.extend_from_slice(b"\r\n");
        self.write(&out)
    }

    /// Request/reply: publishes with a fresh reply subject and waits for the
    /// answer. A "503 no responders" status is an error.
    pub fn request(
        &mut self,
        subject: &str,
        payload: &[u8],
        timeout: Duration,
    ) -> Result<Message, NatsError> {
        self.request_until(subject, payload, timeout, None)
    }

    /// [`request`](Self::request) that gives up with [`NatsError::Cancelled`]
    /// within ~100 ms of `cancel` being set.
    pub fn request_cancellable(
        &mut self,
        subject: &str,
        payload: &[u8],
        timeout: Duration,
        cancel: &AtomicBool,
    ) -> Result<Message, NatsError> {
        self.request_until(subject, payload, timeout, Some(cancel))
    }

    fn request_until(
        &mut self,
        subject: &str,
        payload: &[u8],
        timeout: Duration,
        cancel: Option<&AtomicBool>,
    ) -> Result<Message, NatsError> {
        if cancel.is_some_and(|flag| flag.load(Ordering::Relaxed)) {
            return Err(NatsError::Cancelled {
                subject: subject.to_string(),
            });
        }
        self.next_reply += 1;
        let reply = format!("{}.{}", self.inbox_prefix, self.next_reply);
        self.publish(subject, Some(&reply), None, payload)?;
        let deadline = Instant::now() + timeout;
        loop {
            let wait_until = match cancel {
                Some(_) => deadline.min(Instant::now() + CANCEL_POLL),
                None => deadline,
            };
            let frame = match self.next_frame(wait_until, subject) {
                Err(NatsError::Timeout { .. }) => {
                    if cancel.is_some_and(|flag| flag.load(Ordering::Relaxed)) {
                        return Err(NatsError::Cancelled {
                            subject: subject.to_string(),
                        });
                    }
                    if Instant::now() < deadline {
                        continue;
                    }
                    return Err(NatsError::Timeout {
                        url: self.url.clone(),
                        subject: subject.to_string(),
                        timeout,
                    });
                }
                other => other?,
            };
            match frame {
                Frame::Msg { sid, message }
                    if sid == self.inbox_sid && message.subject == reply =>
                {
                    if message.status() == Some(503) && message.data.is_empty() {
                        return Err(NatsError::NoResponders {
                            url: self.url.clone(),
                            subject: subject.to_string(),
                        });
                    }
                    return Ok(message);
                }
                // A late reply to an earlier, timed-out request.
                Frame::Msg { .. } | Frame::Pong | Frame::Ok => {}
                Frame::Ping => self.write(b"PONG\r\n")?,
                Frame::Info(info) => self.info = info,
                Frame::Err(message) => {
                    return Err(NatsError::Protocol {
                        url: self.url.clone(),
                        message: format!("-ERR {message} (while waiting on {subject})"),
                    })
                }
            }
        }
    }

    /// A JSON request; the reply parsed as JSON (an API `error` stays in the value).
    pub fn request_json(
        &mut self,
        subject: &str,
        body: &Value,
        timeout: Duration,
    ) -> Result<Value, NatsError> {
        let payload = if body.is_null() {
            Vec::new()
        } else {
            serde_json::to_vec(body).unwrap_or_default()
        };
        let reply = self.request(subject, &payload, timeout)?;
        serde_json::from_slice(&reply.data).map_err(|error| NatsError::Protocol {
            url: self.url.clone(),
            message: format!(
                "reply on {subject} is not JSON ({error}): {:?}",
                String::from_utf8_lossy(&reply.data)
                    .chars()
                    .take(200)
                    .collect::<String>()
            ),
        })
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            parse_url("nats://127.0.0.1:4222").ok().as_deref(),
            Some("127.0.0.1:4222")
        );
        assert_eq!(
            parse_url("localhost").ok().as_deref(),
            Some("localhost:4222")
        );
        assert!(parse_url("tls://x:1").is_err());
        assert!(parse_url("nats://u:p@x:1").is_err());
        assert!(parse_url("").is_err());
    }

    #[test]
    fn status_line() {
        let message = Message {
            headers: Some(b"NATS/1.0 503\r\n\r\n".to_vec()),
            ..Message::default()
        };
        assert_eq!(message.status(), Some(503));
        assert_eq!(Message::default().status(), None);
    }
}
