//! Export: write a new backup directory (`backup.json` + `stream.tar.s2`) from
//! an indexed backup — filtered by `ops::filter` (the Messages pane's filter), with a
//! chosen set of consumers, converted between v1 and v2, or salvaged from a
//! damaged archive. Also `export_consumers`: consumer configs and states as JSON
//! files that `nats consumer add --config` accepts.
//!
//! Dropped messages become deleted gaps: the stream keeps its first/last
//! sequence, so consumer positions stay valid. Output is deterministic: the
//! same backup and options give the same bytes.

use crate::format::filestore::record_size;
use crate::format::filestore_write::{
    consumer_meta_inf, encode_odat_at, meta_inf_json, EncodeError,
};
use crate::format::s2_write::S2Writer;
use crate::format::write_v1::{V1Consumer, V1WriteError, V1Writer};
use crate::format::write_v2::V2Writer;
use crate::model::{
    archived_consumer_state, ArchiveFormat, Backup, ConsumerInfo, ConsumerState, Severity,
    StreamConfig, StreamState,
};
use crate::ops::filter::{Compiled, Expr, FilterError, MessageFilter, Reason, Test};
use crate::ops::read::{MessageReader, ReadError};
use crate::util::time::format_rfc3339_ns;
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::HashSet;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// The data file name: the one every jsm.go version reads, for v1 and v2 content.
pub const DATA_FILE_NAME: &str = "stream.tar.s2";

use crate::ops::export_drops::count_drop;
pub use crate::ops::export_drops::{
    maybe_deleted_ranges, DropCounts, MaybeDeletedChoice, MaybeDeletedOutcome, MaybeDeletedRule,
    MaybeDeletedUnchosen,
};
/// Which consumers go into the export (the same choice a restore takes).
pub use crate::ops::restore_local::ConsumerSelection;

mod consumers;
pub use consumers::{export_consumers, ConsumerExport};

#[derive(Debug, Clone, Default)]
pub struct ExportOptions {
    /// Output format; `None` keeps the input's (v2 for a salvage).
    pub format: Option<ArchiveFormat>,
    pub consumers: ConsumerSelection,
    /// Which messages to keep: the same filter the Messages pane and `jsbackup messages` run.
    pub filter: MessageFilter,
    /// Drop messages whose `Nats-TTL` has run out at `reference_ns` (default: now).
    pub drop_expired: bool,
    pub reference_ns: Option<i64>,
    /// Count what would be kept and dropped; write nothing.
    pub dry_run: bool,
    /// Write whatever could be read from a damaged backup, with consistent state.
    pub salvage: bool,
    /// Salvage: keep or drop the messages that may have been deleted
    /// (`Backup::maybe_deleted`); a salvage with such messages refuses without it.
    pub maybe_deleted: Option<MaybeDeletedChoice>,
}

/// Progress as plain numbers.
#[derive(Debug, Clone, Copy, Default)]
pub struct ExportProgress {
    pub messages_done: u64,
    pub messages_total: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExportReport {
    pub out: PathBuf,
    pub format: ArchiveFormat,
    pub dry_run: bool,
    pub salvage: bool,
    pub source_messages: u64,
    pub kept_messages: u64,
    pub dropped: DropCounts,
    /// Of the kept messages, those the scan named as maybe deleted (kept by the
    /// `keep` choice; a `drop` leaves them out).
    pub kept_maybe_deleted: u64,
    pub consumers: Vec<String>,
    /// Consumers selected but not written, with why (a restore would refuse them).
    pub consumers_left_out: Vec<LeftOutConsumer>,
    /// The state written to `backup.json` (and v2 `state.json`).
    #[serde(serialize_with = "serialize_state")]
    pub state: StreamState,
    /// Size of the written data file (0 for a dry run).
    pub data_file_bytes: u64,
}

/// A selected consumer the export does not write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeftOutConsumer {
    pub name: String,
    pub why: String,
}

fn serialize_state<S: serde::Serializer>(
    state: &StreamState,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    state_json(state).serialize(serializer)
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{0} already exists; choose a new output path (export never overwrites)")]
    Exists(PathBuf),
    #[error("the backup is damaged ({count} error finding(s); first: {first}); use --salvage to write what can be read")]
    Damaged { count: usize, first: String },
    #[error("the backup has no stream config (no backup.json config and no meta.inf): cannot write backup.json")]
    NoConfig,
    #[error("the backup has no stream name: cannot key the v1 checksums")]
    NoStreamName,
    #[error("consumer {name:?} is not in the backup (it has: {available})")]
    UnknownConsumer { name: String, available: String },
    #[error("the stream uses memory storage: a v1 archive restores it empty (servers ≤ 2.14 cannot back up or restore memory streams); export as v2")]
    MemoryAsV1,
    #[error("the backup has no readable archive format")]
    NoFormat,
    #[error("{0}")]
    MaybeDeletedUnchosen(#[from] MaybeDeletedUnchosen),
    #[error("reading {0}")]
    Read(#[from] ReadError),
    #[error("filter: {0}")]
    Filter(#[from] FilterError),
    #[error("encoding the v1 store: {0}")]
    Encode(#[from] EncodeError),
    #[error("writing the v1 archive: {0}")]
    V1(#[from] V1WriteError),
    #[error("{action} {path}: {message}")]
    Io {
        action: &'static str,
        path: PathBuf,
        message: String,
    },
    #[error("cancelled")]
    Cancelled,
}

fn io_error(action: &'static str, path: &Path, error: impl std::fmt::Display) -> ExportError {
    ExportError::Io {
        action,
        path: path.to_path_buf(),
        message: error.to_string(),
    }
}

/// The export's filter: the message filter, then `drop_expired`.
fn compile_filter(
    backup: &Backup,
    options: &ExportOptions,
    reference_ns: i64,
) -> Result<Compiled, ExportError> {
    let mut clauses = options.filter.clauses()?;
    if options.drop_expired {
        clauses.push((
            Reason::Expired,
            Expr::Not(Box::new(Expr::Test(Test::TtlExpired))),
        ));
    }
    Ok(Compiled::new(backup, &clauses, reference_ns))
}

/// The consumers the selection names, in backup order.
fn select_consumers<'a>(
    backup: &'a Backup,
    selection: &ConsumerSelection,
) -> Result<Vec<&'a ConsumerInfo>, ExportError> {
    if let Some(name) = selection.unknown_names(backup).first() {
        let available: Vec<&str> = backup.consumers.iter().map(|c| c.name.as_str()).collect();
        return Err(ExportError::UnknownConsumer {
            name: (*name).clone(),
            available: if available.is_empty() {
                "no consumers".into()
            } else {
                available.join(", ")
            },
        });
    }
    Ok(selection.kept(backup))
}

/// StreamState JSON in the server's key order, with its `omitempty` fields.
pub fn state_json(state: &StreamState) -> Value {
    let mut object = Map::new();
    object.insert("messages".into(), state.messages.into());
    object.insert("bytes".into(), state.bytes.into());
    object.insert("first_seq".into(), state.first_seq.into());
    object.insert(
        "first_ts".into(),
        format_rfc3339_ns(state.first_ts_ns).into(),
    );
    object.insert("last_seq".into(), state.last_seq.into());
    object.insert("last_ts".into(), format_rfc3339_ns(state.last_ts_ns).into());
    if state.num_subjects > 0 {
        object.insert("num_subjects".into(), state.num_subjects.into());
    }
    if state.num_deleted > 0 {
        object.insert("num_deleted".into(), state.num_deleted.into());
    }
    object.insert("consumer_count".into(), state.consumer_count.into());
    Value::Object(object)
}

/// When the backup was taken (v2 state.json time), else the best time the archive has.
fn snapshot_time_ns(backup: &Backup) -> i64 {
    if let Some(ns) = backup.snapshot_time_ns {
        return ns;
    }
    let created = backup
        .created
        .as_deref()
        .and_then(crate::util::time::parse_rfc3339_ns)
        .unwrap_or(0);
    let declared = backup
        .declared_state
        .as_ref()
        .map(|s| s.last_ts_ns)
        .unwrap_or(0);
    backup.state.last_ts_ns.max(declared).max(created)
}

fn stream_config(backup: &Backup) -> Option<StreamConfig> {
    backup.config.clone().or_else(|| {
        backup
            .backup_json
            .as_ref()
            .and_then(|json| json.get("config"))
            .and_then(StreamConfig::from_json)
    })
}

/// What will be written: kept rows, the state and the consumers.
struct Plan<'a> {
    keep: Vec<bool>,
    dropped: DropCounts,
    state: StreamState,
    consumers: Vec<(&'a ConsumerInfo, ConsumerState)>,
    left_out: Vec<LeftOutConsumer>,
    format: ArchiveFormat,
    config: Value,
}

fn plan<'a>(
    backup: &'a Backup,
    options: &ExportOptions,
    unreadable: &HashSet<usize>,
    cancel: Option<&AtomicBool>,
) -> Result<Plan<'a>, ExportError> {
    let format = match (options.format, backup.format) {
        (Some(format), _) => format,
        (None, Some(format)) => format,
        (None, None) => return Err(ExportError::NoFormat),
    };
    let typed = stream_config(backup).ok_or(ExportError::NoConfig)?;
    if format == ArchiveFormat::V1 && typed.is_memory() {
        return Err(ExportError::MemoryAsV1);
    }
    let memory = format == ArchiveFormat::V2 && typed.is_memory();
    let config = typed.to_json();
    let reference_ns = options
        .reference_ns
        .unwrap_or_else(crate::util::time::now_ns);
    let rows = backup.messages.len();
    let mut keep = vec![false; rows];
    let mut dropped = DropCounts::default();
    let mut state = StreamState {
        first_seq: backup.state.first_seq,
        last_seq: backup.state.last_seq,
        ..StreamState::default()
    };
    let mut subjects_seen: HashSet<u32> = HashSet::new();
    let mut first_ts: Option<i64> = None;
    let mut last_message: Option<(u64, i64)> = None;
    let compiled = compile_filter(backup, options, reference_ns)?;
    let maybe_deleted = MaybeDeletedRule::new(backup, options.salvage, options.maybe_deleted);
    let mut matcher = compiled.matcher(backup)?;
    for (row, kept) in keep.iter_mut().enumerate() {
        if row % 4096 == 0 && cancelled(cancel) {
            return Err(ExportError::Cancelled);
        }
        if unreadable.contains(&row) {
            dropped.unreadable += 1;
            continue;
        }
        if maybe_deleted.drops(backup.messages.seq[row]) {
            dropped.maybe_deleted += 1;
            continue;
        }
        if let Some(reason) = matcher.rejection(row) {
            count_drop(&mut dropped, reason);
            continue;
        }
        let Some(message) = backup.messages.row(row) else {
            continue;
        };
        *kept = true;
        let subject_len = backup.subjects.name(message.subject_id).len();
        let hdr = message.hdr_len as usize;
        let data = message.data_len as usize;
        state.messages += 1;
        state.bytes += if memory {
            (subject_len + hdr + data + 16) as u64
        } else {
            record_size(subject_len, hdr, data)
        };
        subjects_seen.insert(message.subject_id);
        first_ts.get_or_insert(message.ts_ns);
        last_message = Some((message.seq, message.ts_ns));
    }
    // A message above the declared last sequence (v2 may carry one) extends the range.
    if let Some((seq, _)) = last_message {
        state.last_seq = state.last_seq.max(seq);
    }
    state.first_ts_ns = first_ts.unwrap_or(0);
    state.last_ts_ns = match last_message {
        Some((seq, ts)) if seq == state.last_seq => ts,
        _ => {
            let source_last = backup.state.last_ts_ns;
            let declared = backup
                .declared_state
                .as_ref()
                .map(|s| s.last_ts_ns)
                .unwrap_or(0);
            let fallback = if source_last != 0 {
                source_last
            } else {
                declared
            };
            fallback.max(last_message.map(|(_, ts)| ts).unwrap_or(0))
        }
    };
    state.num_subjects = subjects_seen.len() as u64;
    let first = state.first_seq.max(1);
    state.num_deleted = if state.last_seq >= first {
        (state.last_seq - first + 1).saturating_sub(state.messages)
    } else {
        0
    };
    // Without a config the restore refuses the consumer ("missing config"): left
    // out, and said.
    let (with_config, without): (Vec<&ConsumerInfo>, Vec<&ConsumerInfo>) =
        select_consumers(backup, &options.consumers)?
            .into_iter()
            .partition(|consumer| consumer.config.is_object());
    let consumers: Vec<(&ConsumerInfo, ConsumerState)> = with_config
        .into_iter()
        .map(|consumer| (consumer, archived_consumer_state(&consumer.state)))
        .collect();
    let left_out = without
        .into_iter()
        .map(|consumer| LeftOutConsumer {
            name: consumer.name.clone(),
            why: "no readable config (its meta.inf is damaged or missing), and a restore refuses a consumer without one".into(),
        })
        .collect();
    state.consumer_count = consumers.len() as u64;
    Ok(Plan {
        keep,
        dropped,
        state,
        consumers,
        left_out,
        format,
        config,
    })
}

fn cancelled(cancel: Option<&AtomicBool>) -> bool {
    cancel.is_some_and(|flag| flag.load(Ordering::Relaxed))
}

/// Salvage pre-pass: rows whose bytes cannot be read back, and rows the scan marked
/// damaged (bytes in or next to a CRC-failed or lost range): a salvage never
/// launders damage into the restorable copy.
fn find_unreadable(
    backup: &Backup,
    cancel: Option<&AtomicBool>,
) -> Result<HashSet<usize>, ExportError> {
    let mut reader = MessageReader::open(backup)?;
    let mut unreadable = HashSet::new();
    for row in 0..backup.messages.len() {
        if row % 4096 == 0 && cancelled(cancel) {
            return Err(ExportError::Cancelled);
        }
        let damaged = backup.messages.flags(row) & crate::format::headers::flags::UNTRUSTED != 0;
        if damaged || reader.read_row(backup, row).is_err() {
            unreadable.insert(row);
        }
    }
    Ok(unreadable)
}

/// Writes a new backup directory at `out` (which must not exist).
pub fn export(
    backup: &Backup,
    out: &Path,
    options: &ExportOptions,
    progress: &mut dyn FnMut(&ExportProgress),
    cancel: Option<&AtomicBool>,
) -> Result<ExportReport, ExportError> {
    if out.exists() {
        return Err(ExportError::Exists(out.to_path_buf()));
    }
    if !options.salvage && backup.has_errors() {
        let errors: Vec<&crate::model::Finding> = backup
            .findings
            .iter()
            .filter(|finding| finding.severity == Severity::Error)
            .collect();
        return Err(ExportError::Damaged {
            count: errors.len(),
            first: errors
                .first()
                .map(|finding| finding.message.clone())
                .unwrap_or_default(),
        });
    }
    crate::ops::export_drops::require_maybe_deleted_choice(
        backup,
        options.salvage,
        options.maybe_deleted,
    )?;
    let mut options = options.clone();
    // A salvaged backup defaults to v2 (2.15+); `--format v1` targets older servers.
    if options.salvage && options.format.is_none() {
        options.format = Some(ArchiveFormat::V2);
    }
    let unreadable = if options.salvage {
        find_unreadable(backup, cancel)?
    } else {
        HashSet::new()
    };
    let plan = plan(backup, &options, &unreadable, cancel)?;
    let mut report = ExportReport {
        out: out.to_path_buf(),
        format: plan.format,
        dry_run: options.dry_run,
        salvage: options.salvage,
        source_messages: backup.messages.len() as u64,
        kept_messages: plan.state.messages,
        dropped: plan.dropped,
        kept_maybe_deleted: backup
            .maybe_deleted
            .iter()
            .filter_map(|&seq| backup.messages.find_seq(seq))
            .filter(|&row| plan.keep.get(row).copied().unwrap_or(false))
            .count() as u64,
        consumers: plan
            .consumers
            .iter()
            .map(|(consumer, _)| consumer.name.clone())
            .collect(),
        consumers_left_out: plan.left_out.clone(),
        state: plan.state.clone(),
        data_file_bytes: 0,
    };
    if options.dry_run {
        return Ok(report);
    }
    let temp = temp_dir_for(out)?;
    let result = write_into(backup, &plan, &temp, progress, cancel).and_then(|bytes| {
        report.data_file_bytes = bytes;
        publish(&temp, out)
    });
    if result.is_err() {
        // The write error is the one reported; a failed cleanup leaves only the temp dir.
        let _ = std::fs::remove_dir_all(&temp);
    }
    result.map(|()| report)
}

fn temp_dir_for(out: &Path) -> Result<PathBuf, ExportError> {
    let parent = match out.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = out
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| "export".into());
    let temp = parent.join(format!(".{name}.jsbackup-tmp-{}", std::process::id()));
    if temp.exists() {
        std::fs::remove_dir_all(&temp).map_err(|error| io_error("removing stale", &temp, error))?;
    }
    std::fs::create_dir(&temp).map_err(|error| io_error("creating", &temp, error))?;
    Ok(temp)
}

fn publish(temp: &Path, out: &Path) -> Result<(), ExportError> {
    sync_dir(temp)?;
    // Checked again: renaming onto an existing empty directory would replace it.
    if out.exists() {
        return Err(ExportError::Exists(out.to_path_buf()));
    }
    std::fs::rename(temp, out)
        .map_err(|error| io_error("renaming the finished export to", out, error))?;
    if let Some(parent) = out.parent().filter(|parent| !parent.as_os_str().is_empty()) {
        sync_dir(parent)?;
    }
    Ok(())
}

fn sync_dir(dir: &Path) -> Result<(), ExportError> {
    File::open(dir)
        .and_then(|handle| handle.sync_all())
        .map_err(|error| io_error("syncing", dir, error))
}

fn write_file_synced(path: &Path, bytes: &[u8]) -> Result<(), ExportError> {
    let mut file = File::create(path).map_err(|error| io_error("creating", path, error))?;
    file.write_all(bytes)
        .map_err(|error| io_error("writing", path, error))?;
    file.sync_all()
        .map_err(|error| io_error("syncing", path, error))
}

/// Writes the data file and `backup.json` into `dir`; returns the data file size.
fn write_into(
    backup: &Backup,
    plan: &Plan,
    dir: &Path,
    progress: &mut dyn FnMut(&ExportProgress),
    cancel: Option<&AtomicBool>,
) -> Result<u64, ExportError> {
    let data_path = dir.join(DATA_FILE_NAME);
    let file = File::create(&data_path).map_err(|error| io_error("creating", &data_path, error))?;
    let framed = S2Writer::new(BufWriter::with_capacity(1 << 20, file));
    let write_error = |error: std::io::Error| io_error("writing", &data_path, error);
    let snapshot_ns = snapshot_time_ns(backup);
    let framed = match plan.format {
        ArchiveFormat::V2 => write_v2_body(
            backup,
            plan,
            framed,
            snapshot_ns,
            progress,
            cancel,
            &data_path,
        )?,
        ArchiveFormat::V1 => write_v1_body(
            backup,
            plan,
            framed,
            snapshot_ns,
            progress,
            cancel,
            &data_path,
        )?,
    };
    let buffered = framed.finish().map_err(write_error)?;
    let file = buffered
        .into_inner()
        .map_err(|error| write_error(error.into_error()))?;
    file.sync_all().map_err(write_error)?;
    let data_bytes = file.metadata().map_err(write_error)?.len();
    let mut meta = Map::new();
    meta.insert("config".into(), plan.config.clone());
    meta.insert("state".into(), state_json(&plan.state));
    let json_path = dir.join("backup.json");
    let text = serde_json::to_vec_pretty(&Value::Object(meta))
        .map_err(|error| io_error("encoding", &json_path, error))?;
    write_file_synced(&json_path, &text)?;
    Ok(data_bytes)
}

/// Calls `each(seq, ts, subject, headers, data)` for every kept message, in order.
fn for_each_kept(
    backup: &Backup,
    plan: &Plan,
    progress: &mut dyn FnMut(&ExportProgress),
    cancel: Option<&AtomicBool>,
    mut each: impl FnMut(u64, i64, &[u8], &[u8], &[u8]) -> Result<(), ExportError>,
) -> Result<(), ExportError> {
    let mut reader = MessageReader::open(backup)?;
    let total = plan.state.messages;
    let mut done = 0u64;
    for (row, &kept) in plan.keep.iter().enumerate() {
        if !kept {
            continue;
        }
        let Some(message) = backup.messages.row(row) else {
            continue;
        };
        let bytes = reader.read_row(backup, row)?;
        let subject = backup.subjects.name(message.subject_id);
        each(
            message.seq,
            message.ts_ns,
            subject.as_bytes(),
            &bytes.headers,
            &bytes.data,
        )?;
        done += 1;
        if done.is_multiple_of(1024) {
            if cancelled(cancel) {
                return Err(ExportError::Cancelled);
            }
            progress(&ExportProgress {
                messages_done: done,
                messages_total: total,
            });
        }
    }
    progress(&ExportProgress {
        messages_done: done,
        messages_total: total,
    });
    Ok(())
}

/// A v2 consumer entry: `{"config": …, "state": …}` (state in the v2 shape).
pub(crate) fn v2_consumer_entry(
    config: &Value,
    state: &ConsumerState,
) -> Result<Vec<u8>, serde_json::Error> {
    let mut entry = Map::new();
    entry.insert("config".into(), config.clone());
    entry.insert("state".into(), state.to_json());
    serde_json::to_vec(&Value::Object(entry))
}

fn write_v2_body<W: Write>(
    backup: &Backup,
    plan: &Plan,
    out: W,
    snapshot_ns: i64,
    progress: &mut dyn FnMut(&ExportProgress),
    cancel: Option<&AtomicBool>,
    path: &Path,
) -> Result<W, ExportError> {
    let write_error = |error: std::io::Error| io_error("writing", path, error);
    let state = serde_json::to_vec(&state_json(&plan.state))
        .map_err(|error| io_error("encoding state.json for", path, error))?;
    let mut writer = V2Writer::new(out, snapshot_ns, &state).map_err(write_error)?;
    for (consumer, state) in &plan.consumers {
        let json = v2_consumer_entry(&consumer.config, state)
            .map_err(|error| io_error("encoding a consumer for", path, error))?;
        writer
            .consumer(&consumer.name, &json)
            .map_err(write_error)?;
    }
    for_each_kept(
        backup,
        plan,
        progress,
        cancel,
        |seq, ts, subject, headers, data| {
            writer
                .message(subject, ts, seq, headers, data)
                .map_err(write_error)
        },
    )?;
    writer.finish().map_err(write_error)
}

fn write_v1_body<W: Write>(
    backup: &Backup,
    plan: &Plan,
    out: W,
    snapshot_ns: i64,
    progress: &mut dyn FnMut(&ExportProgress),
    cancel: Option<&AtomicBool>,
    path: &Path,
) -> Result<W, ExportError> {
    let write_error = |error: std::io::Error| io_error("writing", path, error);
    let stream_name = match plan.config.get("name").and_then(Value::as_str) {
        Some(name) if !name.is_empty() => name.to_string(),
        _ if !backup.stream_name.is_empty() => backup.stream_name.clone(),
        _ => return Err(ExportError::NoStreamName),
    };
    let snapshot_text = format_rfc3339_ns(snapshot_ns);
    // A v1 source's meta.inf is kept byte for byte (its hash and Created stay valid).
    let meta_inf = match (&backup.meta_inf_raw, backup.format) {
        (Some(raw), Some(ArchiveFormat::V1)) if backup.stream_name == stream_name => raw.clone(),
        _ => {
            let created = backup
                .created
                .clone()
                .unwrap_or_else(|| snapshot_text.clone());
            meta_inf_json(&created, &plan.config)?
        }
    };
    let mut consumers = Vec::with_capacity(plan.consumers.len());
    let base_secs = snapshot_ns.div_euclid(1_000_000_000);
    for (consumer, state) in &plan.consumers {
        let meta_inf = match (&consumer.meta_inf_raw, backup.format) {
            (Some(raw), Some(ArchiveFormat::V1)) => raw.clone(),
            _ => {
                let created = consumer
                    .created
                    .clone()
                    .unwrap_or_else(|| snapshot_text.clone());
                consumer_meta_inf(&created, &consumer.name, &consumer.config)?
            }
        };
        consumers.push(V1Consumer {
            name: consumer.name.clone(),
            meta_inf,
            odat: encode_odat_at(&state.to_odat(), base_secs),
        });
    }
    let mut writer =
        V1Writer::new(out, snapshot_ns, &stream_name, &meta_inf).map_err(write_error)?;
    for_each_kept(
        backup,
        plan,
        progress,
        cancel,
        |seq, ts, subject, headers, data| Ok(writer.message(seq, ts, subject, headers, data)?),
    )?;
    let (out, _summary) = writer.finish(plan.state.last_seq, plan.state.last_ts_ns, &consumers)?;
    Ok(out)
}
