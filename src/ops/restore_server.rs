//! Restore a backup into a running nats-server through the JetStream API
//! (`$JS.API.STREAM.RESTORE.<name>`, chunks as acked requests, an empty
//! end-of-upload request, final `stream_create_response`).
//!
//! Pre-flight checks run before a byte of the archive is sent: server
//! reachable, JetStream enabled, the stream name free, the archive format
//! supported by the server version. The archive goes up unchanged when it can
//! (v2 under any name to ≥ 2.15; v1 under its own name with all consumers). A
//! rename of a v1 archive, a consumer subset, `--drop-expired` or a damaged
//! archive is re-encoded on the fly from the index: as v2 for ≥ 2.15, as a v1
//! tar for older servers (which also receive v2 archives that way). Nothing is
//! staged on disk: the encoder streams into the acked upload. If the upload
//! fails after the server started the restore, the half-created stream is
//! deleted and the error says so.

use crate::format::filestore_write::{encode_odat, meta_inf_json};
use crate::format::s2_write::S2Writer;
use crate::format::write_v1::{V1Consumer, V1Writer};
use crate::format::write_v2::V2Writer;
use crate::model::archived_consumer_state;
use crate::model::{ArchiveFormat, Backup, ConsumerInfo};
use crate::ops::config_check::{check_restore_configs, schema_version, CheckedConfigs};
use crate::ops::export::v2_consumer_entry;
use crate::ops::export_drops::{MaybeDeletedChoice, MaybeDeletedOutcome, MaybeDeletedRule};
use crate::ops::nats_client::{Auth, Client, NatsError};
use crate::ops::restore_local::{
    consumer_meta_inf_of, for_each_restored_message, refuse_unless_salvage, restore_target,
    stream_created, stream_last_ts, stream_meta_inf, ConsumerSelection, RestoreError,
    RestoreReport,
};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct ServerRestoreOptions {
    pub url: String,
    pub auth: Auth,
    pub stream_name: Option<String>,
    pub consumers: ConsumerSelection,
    /// Leave out expired TTL messages when the archive is re-encoded (a v2
    /// restore on the server drops them anyway).
    pub drop_expired: bool,
    pub reference_ns: i64,
    /// A stream config to restore with instead of the backup's (StreamConfig JSON,
    /// or a `nats stream info --json` document with a `config` key).
    pub config_override: Option<Value>,
    /// Replica count for the restored stream.
    pub replicas: Option<u64>,
    /// Restore the intact part of a damaged backup (else a damaged backup is refused).
    pub salvage: bool,
    /// Salvage: keep or drop the messages that may have been deleted
    /// (`Backup::maybe_deleted`); a salvage with such messages refuses without it.
    pub maybe_deleted: Option<MaybeDeletedChoice>,
    pub api_timeout: Duration,
    pub chunk_timeout: Duration,
    /// How long to wait for the server's final reply; `None`: scaled to the archive size.
    pub final_timeout: Option<Duration>,
    /// Leave out config fields the server's version would refuse (with a note)
    /// instead of refusing the restore.
    pub drop_unknown_config: bool,
}

impl ServerRestoreOptions {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            auth: Auth::None,
            stream_name: None,
            consumers: ConsumerSelection::All,
            drop_expired: false,
            reference_ns: crate::util::time::now_ns(),
            config_override: None,
            replicas: None,
            salvage: false,
            maybe_deleted: None,
            api_timeout: Duration::from_secs(10),
            chunk_timeout: Duration::from_secs(30),
            final_timeout: None,
            drop_unknown_config: false,
        }
    }
}

/// How long the server may take to answer the end of an upload: a minute plus
/// what unpacking the archive at a slow 2 MiB/s takes (it writes every message).
pub fn final_timeout_for(backup: &Backup) -> Duration {
    let bytes = backup.decompressed_bytes.max(backup.source.data_file_bytes);
    Duration::from_secs(60 + bytes / (2 << 20))
}

#[derive(Debug, thiserror::Error)]
pub enum ServerRestoreError {
    /// The request cannot be carried out as asked (exit code 2).
    #[error("{0}")]
    BadInput(String),
    #[error("{0}")]
    Nats(#[from] NatsError),
    /// Refused before anything was sent; the server is unchanged.
    #[error("{0}; nothing was sent")]
    Preflight(String),
    /// The backup is damaged and no salvage was asked for; nothing was sent.
    #[error("{0}")]
    Damaged(String),
    /// Failed during or after the upload.
    #[error("restore of stream {stream:?} into {url} failed: {message}; {cleanup}")]
    Transfer {
        stream: String,
        url: String,
        message: String,
        cleanup: String,
    },
}

impl ServerRestoreError {
    pub fn is_bad_input(&self) -> bool {
        matches!(self, ServerRestoreError::BadInput(_))
    }
}

impl From<RestoreError> for ServerRestoreError {
    fn from(error: RestoreError) -> Self {
        match error {
            RestoreError::Damaged(message) => ServerRestoreError::Damaged(message),
            other => ServerRestoreError::BadInput(other.to_string()),
        }
    }
}

/// What goes over the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload {
    /// The archive's data file byte for byte.
    Original,
    /// A v2 archive written from the index (rename of v1, consumer subset, damage left out).
    ReencodedV2,
    /// A v1 tar archive written from the index, for servers older than 2.15.
    ReencodedV1,
}

/// Parses "2.15.1" (with any suffix) into (major, minor, patch).
pub fn parse_version(text: &str) -> Option<(u64, u64, u64)> {
    let mut parts = text.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    let patch = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    Some((major, minor, patch))
}

/// Picks the payload for a backup and a server version, or says why not.
pub fn choose_payload(
    backup: &Backup,
    renamed: bool,
    consumers: &ConsumerSelection,
    drop_expired: bool,
    server_version: &str,
) -> Result<Payload, String> {
    let v2_capable = parse_version(server_version).is_some_and(|version| version >= (2, 15, 0));
    let intact = backup.complete && !backup.has_errors();
    let needs_change = !consumers.keeps_all(backup) || !intact || drop_expired;
    let payload = match backup.format {
        Some(ArchiveFormat::V2) if !needs_change => Payload::Original,
        Some(ArchiveFormat::V1) if !needs_change && !renamed => Payload::Original,
        Some(_) => Payload::ReencodedV2,
        None => {
            return Err(
                "the archive format is unknown; open it with `jsbackup verify` first".into(),
            )
        }
    };
    let needs_v2 = payload == Payload::ReencodedV2 || backup.format == Some(ArchiveFormat::V2);
    if needs_v2 && !v2_capable {
        if parse_version(server_version).is_none() {
            return Err(format!(
                "the server reports version {server_version:?}, which cannot be compared with 2.15; \
                 restore to a local store with --store-dir instead"
            ));
        }
        // Older servers only take v1: write a tar from the index.
        return Ok(Payload::ReencodedV1);
    }
    Ok(payload)
}

fn api_error(reply: &Value) -> Option<String> {
    let error = reply.get("error")?;
    Some(format!(
        "{} (code {}, err_code {})",
        error
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or("error"),
        error.get("code").and_then(Value::as_u64).unwrap_or(0),
        error.get("err_code").and_then(Value::as_u64).unwrap_or(0)
    ))
}

/// `--config` (a StreamConfig, or stream info with a `config` key) replaces the
/// archive's config under the target name; `--replicas` sets `num_replicas`.
fn apply_config_options(
    config: &mut Value,
    stream_name: &str,
    options: &ServerRestoreOptions,
) -> Result<(), ServerRestoreError> {
    if let Some(replacement) = &options.config_override {
        let replacement = replacement.get("config").unwrap_or(replacement);
        let Value::Object(fields) = replacement else {
            return Err(ServerRestoreError::BadInput(
                "the --config file is not a JSON object (StreamConfig, or stream info with a \"config\" key)".into(),
            ));
        };
        let mut fields = fields.clone();
        fields.insert("name".into(), Value::from(stream_name));
        *config = Value::Object(fields);
    }
    if let Some(replicas) = options.replicas {
        config["num_replicas"] = Value::from(replicas);
    }
    Ok(())
}

/// The server-side pre-flight: JetStream enabled and available to this account,
/// and no stream of that name yet.
fn check_server(
    client: &mut Client,
    stream_name: &str,
    version: &str,
    options: &ServerRestoreOptions,
) -> Result<(), ServerRestoreError> {
    if client.info().get("jetstream").and_then(Value::as_bool) == Some(false) {
        return Err(ServerRestoreError::Preflight(format!(
            "JetStream is not enabled on {} (server {version})",
            options.url
        )));
    }
    let account = client.request_json("$JS.API.INFO", &Value::Null, options.api_timeout)?;
    if let Some(error) = api_error(&account) {
        return Err(ServerRestoreError::Preflight(format!(
            "JetStream is not available for this account on {}: {error}",
            options.url
        )));
    }
    let info_subject = format!("$JS.API.STREAM.INFO.{stream_name}");
    let existing = client.request_json(&info_subject, &Value::Null, options.api_timeout)?;
    match existing.get("error") {
        None => Err(ServerRestoreError::Preflight(format!(
            "stream {stream_name:?} already exists on {}; delete it first or restore under another name with --stream",
            options.url
        ))),
        Some(error) if error.get("code").and_then(Value::as_u64) == Some(404) => Ok(()),
        Some(_) => Err(ServerRestoreError::Preflight(format!(
            "cannot check whether stream {stream_name:?} exists on {}: {}",
            options.url,
            api_error(&existing).unwrap_or_default()
        ))),
    }
}

/// What goes up (the archive unchanged or re-encoded) and the configs as this
/// server version accepts them (or with its refused fields dropped).
fn payload_and_configs(
    backup: &Backup,
    renamed: bool,
    version: &str,
    config: &mut Value,
    selected: &[&ConsumerInfo],
    options: &ServerRestoreOptions,
) -> Result<(Payload, CheckedConfigs), ServerRestoreError> {
    let mut payload = choose_payload(
        backup,
        renamed,
        &options.consumers,
        options.drop_expired,
        version,
    )
    .map_err(ServerRestoreError::Preflight)?;
    let checked = match schema_version(version) {
        Some(schema) => {
            check_restore_configs(config, selected, schema, options.drop_unknown_config)
                .map_err(ServerRestoreError::Preflight)?
        }
        None => CheckedConfigs::default(),
    };
    let drops_maybe_deleted =
        MaybeDeletedRule::new(backup, options.salvage, options.maybe_deleted).drops_any();
    if (checked.edited() || drops_maybe_deleted) && payload == Payload::Original {
        // The archive's own meta.inf / consumer entries carry the refused fields,
        // or its messages those the salvage leaves out.
        payload = if backup.format == Some(ArchiveFormat::V2) {
            Payload::ReencodedV2
        } else {
            Payload::ReencodedV1
        };
    }
    Ok((payload, checked))
}

/// Sends the restore request; the reply's `deliver_subject` is where the chunks go.
fn begin_restore(
    client: &mut Client,
    stream_name: &str,
    request: &Value,
    options: &ServerRestoreOptions,
) -> Result<String, ServerRestoreError> {
    let reply = client.request_json(
        &format!("$JS.API.STREAM.RESTORE.{stream_name}"),
        request,
        options.chunk_timeout,
    )?;
    if let Some(error) = api_error(&reply) {
        return Err(ServerRestoreError::Preflight(format!(
            "the server refused to restore stream {stream_name:?}: {error}"
        )));
    }
    reply
        .get("deliver_subject")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| {
            ServerRestoreError::Preflight(format!(
                "the restore reply has no deliver_subject: {reply}"
            ))
        })
}

/// The stream state from the server's final `stream_create_response`.
fn fill_final_state(report: &mut RestoreReport, final_reply: Value) {
    let state = final_reply.get("state").cloned().unwrap_or(Value::Null);
    let number = |key: &str| state.get(key).and_then(Value::as_u64).unwrap_or(0);
    report.messages = number("messages");
    report.bytes = number("bytes");
    report.first_seq = number("first_seq");
    report.last_seq = number("last_seq");
    report.server_stream_info = Some(final_reply);
}

/// Restores `backup` into the server at `options.url`. `progress(sent, total)` in
/// bytes; `sent == total` only once everything is sent and the server is being
/// waited for ("waiting for the server to finish…"). Cancel works at any point;
/// after the restore began, a half-created stream is deleted.
pub fn restore_to_server(
    backup: &Backup,
    options: &ServerRestoreOptions,
    progress: &mut dyn FnMut(u64, u64),
    cancel: &AtomicBool,
) -> Result<RestoreReport, ServerRestoreError> {
    let started = std::time::Instant::now();
    let (stream_name, selected, mut config) =
        restore_target(backup, options.stream_name.as_deref(), &options.consumers)?;
    let dropped = refuse_unless_salvage(backup, options.salvage, options.maybe_deleted)?;
    apply_config_options(&mut config, &stream_name, options)?;
    let renamed = stream_name != backup.stream_name;

    // Pre-flight.
    let mut client = Client::connect(&options.url, &options.auth)?;
    let version = client.server_version();
    check_server(&mut client, &stream_name, &version, options)?;
    let (payload, checked) =
        payload_and_configs(backup, renamed, &version, &mut config, &selected, options)?;
    let selected: Vec<&ConsumerInfo> = selected
        .iter()
        .map(|consumer| checked.consumer(consumer))
        .collect();

    // Restore request.
    let state = backup
        .backup_json
        .as_ref()
        .and_then(|json| json.get("state"))
        .cloned()
        .unwrap_or_else(|| backup.state.to_json());
    let request = json!({"config": config, "state": state});
    if cancel.load(Ordering::Relaxed) {
        return Err(ServerRestoreError::Preflight(
            "restore cancelled before the upload began".into(),
        ));
    }
    let deliver = begin_restore(&mut client, &stream_name, &request, options)?;

    let chunk_size = client.max_payload().clamp(1024, 128 * 1024);
    let total = backup.source.data_file_bytes.max(1);
    let mut uploader = Uploader {
        client,
        deliver,
        chunk_size,
        buf: Vec::with_capacity(chunk_size),
        sent: 0,
        total,
        chunk_timeout: options.chunk_timeout,
        progress,
        cancel,
        end_sent: false,
    };
    let mut report = RestoreReport {
        stream_name: stream_name.clone(),
        target: options.url.clone(),
        archive_messages: dropped.archive_messages,
        salvaged: dropped.is_damaged(),
        dropped,
        maybe_deleted: MaybeDeletedOutcome::of(backup, options.salvage, options.maybe_deleted),
        ..RestoreReport::default()
    };
    let upload = match payload {
        Payload::Original => upload_original(backup, &mut uploader),
        Payload::ReencodedV2 => {
            upload_reencoded(backup, &selected, options, &mut uploader, &mut report)
        }
        Payload::ReencodedV1 => upload_reencoded_v1(
            backup,
            &stream_name,
            (&config, checked.stream_edited),
            &selected,
            options,
            &mut uploader,
            &mut report,
        ),
    };
    let final_timeout = options
        .final_timeout
        .unwrap_or_else(|| final_timeout_for(backup));
    let final_reply = upload.and_then(|()| uploader.finish(final_timeout));
    let mut client = uploader.client;
    let final_reply = match final_reply {
        Ok(reply) => reply,
        Err(message) => {
            let cleanup = delete_half_restored(
                &mut client,
                &stream_name,
                options.api_timeout,
                uploader.end_sent,
            );
            return Err(ServerRestoreError::Transfer {
                stream: stream_name,
                url: options.url.clone(),
                message,
                cleanup,
            });
        }
    };
    report.bytes_sent = Some(uploader.sent);
    report.consumers = selected.iter().map(|c| c.name.clone()).collect();
    fill_final_state(&mut report, final_reply);
    report.notes.extend(checked.notes);
    report.notes.push(match payload {
        Payload::Original => format!("sent the archive unchanged to server {version}"),
        Payload::ReencodedV2 => format!("sent a re-encoded v2 archive to server {version}"),
        Payload::ReencodedV1 => format!("sent a re-encoded v1 (tar) archive to server {version}"),
    });
    report.elapsed_ms = started.elapsed().as_millis() as u64;
    Ok(report)
}

/// How long a cancelled restore whose end-of-upload was sent watches for the
/// stream the server may still create from it.
const END_SENT_GRACE: Duration = Duration::from_secs(5);

/// Deletes the stream a failed restore may have left; returns what happened.
/// After the end of the upload was sent, the server may still be creating the
/// stream: it is watched for up to `END_SENT_GRACE`.
fn delete_half_restored(
    client: &mut Client,
    stream_name: &str,
    timeout: Duration,
    end_sent: bool,
) -> String {
    let watch_until = std::time::Instant::now() + END_SENT_GRACE;
    let info = loop {
        // The server may still be finishing; give it a moment to settle.
        std::thread::sleep(Duration::from_millis(200));
        let info = client.request_json(
            &format!("$JS.API.STREAM.INFO.{stream_name}"),
            &Value::Null,
            timeout,
        );
        let absent = matches!(&info, Ok(reply) if reply.get("error").is_some());
        if !(absent && end_sent && std::time::Instant::now() < watch_until) {
            break info;
        }
    };
    match info {
        Ok(info) if info.get("error").is_some() && end_sent => format!(
            "no stream {stream_name:?} appeared on the server within {} s; it had the whole \
             upload, so check later that none was created",
            END_SENT_GRACE.as_secs()
        ),
        Ok(info) if info.get("error").is_some() => {
            format!("no stream {stream_name:?} was left on the server")
        }
        Ok(_) => match client.request_json(
            &format!("$JS.API.STREAM.DELETE.{stream_name}"),
            &Value::Null,
            timeout,
        ) {
            Ok(reply) if reply.get("error").is_none() => {
                format!("the half-restored stream {stream_name:?} was deleted")
            }
            Ok(reply) => format!(
                "the half-restored stream {stream_name:?} could NOT be deleted: {}",
                api_error(&reply).unwrap_or_default()
            ),
            Err(error) => {
                format!("the half-restored stream {stream_name:?} could NOT be deleted: {error}")
            }
        },
        Err(error) => {
            format!("could not check for a half-restored stream {stream_name:?}: {error}")
        }
    }
}

/// Sends the archive in acked chunks; a `Write` so encoders can stream into it.
struct Uploader<'a> {
    client: Client,
    deliver: String,
    chunk_size: usize,
    buf: Vec<u8>,
    sent: u64,
    total: u64,
    chunk_timeout: Duration,
    progress: &'a mut dyn FnMut(u64, u64),
    cancel: &'a AtomicBool,
    /// The end-of-upload message went out: the server may still create the stream.
    end_sent: bool,
}

impl Uploader<'_> {
    fn send_chunk(&mut self, chunk_index_bytes: usize) -> Result<(), String> {
        if self.cancel.load(Ordering::Relaxed) {
            return Err("cancelled".into());
        }
        let piece: Vec<u8> = self
            .buf
            .drain(..chunk_index_bytes.min(self.buf.len()))
            .collect();
        let reply = self
            .client
            .request_cancellable(&self.deliver, &piece, self.chunk_timeout, self.cancel)
            .map_err(|error| match error {
                NatsError::Cancelled { .. } => "cancelled".to_string(),
                other => format!("sending the chunk at byte {}: {other}", self.sent),
            })?;
        if !reply.data.is_empty() {
            let text = String::from_utf8_lossy(&reply.data).into_owned();
            let message = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|value| api_error(&value))
                .unwrap_or(text);
            return Err(format!(
                "the server rejected the chunk at byte {}: {message}",
                self.sent
            ));
        }
        self.sent += piece.len() as u64;
        // `total` itself means "all sent, waiting for the server" (see `restore_to_server`).
        (self.progress)(self.sent.min(self.total.saturating_sub(1)), self.total);
        Ok(())
    }

    fn push(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.buf.extend_from_slice(bytes);
        while self.buf.len() >= self.chunk_size {
            self.send_chunk(self.chunk_size)?;
        }
        Ok(())
    }

    /// Sends the rest and the end-of-upload message; returns the final reply.
    fn finish(&mut self, final_timeout: Duration) -> Result<Value, String> {
        if !self.buf.is_empty() {
            self.send_chunk(self.buf.len())?;
        }
        (self.progress)(self.total, self.total);
        if self.cancel.load(Ordering::Relaxed) {
            return Err(
                "cancelled while waiting for the server to finish (the end of the upload was not sent)"
                    .into(),
            );
        }
        self.end_sent = true;
        let reply = self
            .client
            .request_cancellable(&self.deliver, b"", final_timeout, self.cancel)
            .map_err(|error| match error {
                NatsError::Cancelled { .. } => {
                    "cancelled while waiting for the server to finish".to_string()
                }
                other => format!("waiting for the server to finish the restore: {other}"),
            })?;
        let value: Value = serde_json::from_slice(&reply.data).map_err(|_| {
            format!(
                "unexpected final reply: {:?}",
                String::from_utf8_lossy(&reply.data)
                    .chars()
                    .take(300)
                    .collect::<String>()
            )
        })?;
        if let Some(error) = api_error(&value) {
            return Err(format!("the server reports: {error}"));
        }
        Ok(value)
    }
}

impl Write for Uploader<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.push(bytes).map_err(std::io::Error::other)?;
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn upload_original(backup: &Backup, uploader: &mut Uploader) -> Result<(), String> {
    let path = &backup.source.data_file;
    let mut file = std::fs::File::open(path)
        .map_err(|error| format!("cannot open {}: {error}", path.display()))?;
    let mut chunk = vec![0u8; uploader.chunk_size];
    loop {
        let read = match file.read(&mut chunk) {
            Ok(0) => return Ok(()),
            Ok(read) => read,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(format!("cannot read {}: {error}", path.display())),
        };
        uploader.push(chunk.get(..read).unwrap_or_default())?;
    }
}

fn upload_reencoded(
    backup: &Backup,
    consumers: &[&ConsumerInfo],
    options: &ServerRestoreOptions,
    uploader: &mut Uploader,
    report: &mut RestoreReport,
) -> Result<(), String> {
    let mut state = backup.state.to_json();
    let first_seq = match (backup.state.first_seq, backup.messages.seq.first()) {
        (0, Some(&first)) => first,
        (first, _) => first,
    };
    state["first_seq"] = json!(first_seq);
    state["consumer_count"] = json!(consumers.len());
    let state_bytes = serde_json::to_vec(&state).map_err(|error| error.to_string())?;
    let snapshot_ns = backup
        .snapshot_time_ns
        .unwrap_or_else(crate::util::time::now_ns);
    // An upload failure surfaces as an io::Error carrying the uploader's message.
    let mut writer = match V2Writer::new(S2Writer::new(&mut *uploader), snapshot_ns, &state_bytes) {
        Ok(writer) => writer,
        Err(error) => return Err(error.to_string()),
    };
    for consumer in consumers {
        let state = archived_consumer_state(&consumer.state);
        let bytes =
            v2_consumer_entry(&consumer.config, &state).map_err(|error| error.to_string())?;
        writer
            .consumer(&consumer.name, &bytes)
            .map_err(|error| error.to_string())?;
    }
    for_each_message(
        backup,
        options,
        report,
        |seq, ts_ns, subject, headers, data| {
            writer
                .message(subject, ts_ns, seq, headers, data)
                .map_err(|error| error.to_string())
        },
    )?;
    let s2 = writer.finish().map_err(|error| error.to_string())?;
    s2.finish().map_err(|error| error.to_string())?;
    Ok(())
}

/// Streams the selected rows through `push` (skipping damaged and, if asked, expired ones).
fn for_each_message(
    backup: &Backup,
    options: &ServerRestoreOptions,
    report: &mut RestoreReport,
    push: impl FnMut(u64, i64, &[u8], &[u8], &[u8]) -> Result<(), String>,
) -> Result<(), String> {
    for_each_restored_message(
        backup,
        (options.drop_expired, options.reference_ns),
        MaybeDeletedRule::new(backup, options.salvage, options.maybe_deleted),
        report,
        |error| error.to_string(),
        |_| Ok(()),
        push,
    )
}

/// A v1 tar (meta.inf, blocks, obs/) under `stream_name`, for servers before 2.15.
fn upload_reencoded_v1(
    backup: &Backup,
    stream_name: &str,
    (config, config_edited): (&Value, bool),
    consumers: &[&ConsumerInfo],
    options: &ServerRestoreOptions,
    uploader: &mut Uploader,
    report: &mut RestoreReport,
) -> Result<(), String> {
    let last_seq = backup.state.last_seq;
    let meta_inf = if config_edited {
        meta_inf_json(&stream_created(backup), config)
    } else {
        stream_meta_inf(backup, stream_name, config)
    }
    .map_err(|error| error.to_string())?;
    let mut v1_consumers = Vec::new();
    for consumer in consumers {
        let meta = consumer_meta_inf_of(backup, consumer)
            .map_err(|error| format!("consumer {:?}: {error}", consumer.name))?;
        v1_consumers.push(V1Consumer {
            name: consumer.name.clone(),
            meta_inf: meta,
            odat: encode_odat(&archived_consumer_state(&consumer.state).to_odat()),
        });
    }
    let mtime_ns = backup
        .snapshot_time_ns
        .unwrap_or_else(crate::util::time::now_ns);
    let mut writer = V1Writer::new(
        S2Writer::new(&mut *uploader),
        mtime_ns,
        stream_name,
        &meta_inf,
    )
    .map_err(|error| error.to_string())?;
    for_each_message(
        backup,
        options,
        report,
        |seq, ts_ns, subject, headers, data| {
            writer
                .message(seq, ts_ns, subject, headers, data)
                .map_err(|error| error.to_string())
        },
    )?;
    let (s2, _) = writer
        .finish(last_seq, stream_last_ts(backup), &v1_consumers)
        .map_err(|error| error.to_string())?;
    s2.finish().map_err(|error| error.to_string())?;
    Ok(())
}
