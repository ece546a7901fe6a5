//! Restore a backup into a local filestore directory that a stock nats-server
//! (2.14 / 2.15) loads at startup: `STORE/jetstream/ACC/streams/NAME/`.
//!
//! Messages are read one row at a time through [`MessageReader`] and streamed
//! into blocks; the stream directory is built in a hidden sibling temp dir,
//! fsynced, and renamed into place at the end. On any error or cancel the temp
//! dir is removed and nothing at the target changes. The server must not be
//! running on the store while it is written (it reads stream dirs at startup).

use crate::format::filestore_write::{
    consumer_meta_inf, encode_odat, meta_inf_json, write_consumer_files, write_stream_meta_files,
    BlockSummary, BlockWriter, EncodeError, DEFAULT_BLOCK_SIZE,
};
use crate::model::{reconcile_with_stream, Backup, ConsumerInfo, ConsumerState, StreamConfig};
use crate::ops::config_check::{check_restore_configs, ConfigPolicy};
use crate::ops::export_drops::MaybeDeletedRule;
pub use crate::ops::export_drops::{MaybeDeletedChoice, MaybeDeletedOutcome};
use crate::ops::read::ReadError;
pub use crate::ops::restore_damage::{refuse_unless_salvage, DamageAccount};
use crate::ops::restore_prediction::{settle, DroppedCounts, Settled, Target};
use crate::ops::temp_dirs::{missing_ancestors, remove_any, remove_stale_temp_dirs, temp_path};
use place::{move_into_place, remove_created_ancestors, sync_dir};
use serde::Serialize;
use serde_json::Value;
use std::cell::RefCell;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

pub use crate::ops::selection::ConsumerSelection;
pub(crate) use rows::for_each_restored_message;
pub use rows::{skip_reason, RowRule, SkipReason};

#[derive(Debug, Clone)]
pub struct LocalRestoreOptions {
    /// The server's `store_dir` (the directory that holds `jetstream/`).
    pub store_dir: PathBuf,
    /// Account directory name; `$G` for the global account.
    pub account: String,
    /// Restore under this name instead of the backup's.
    pub stream_name: Option<String>,
    pub consumers: ConsumerSelection,
    /// Write every archive message and consumer state as they are. Without it
    /// (the default) the store holds what nats-server settles at once it loads
    /// it, judged at `reference_ns`: the rows the limits of the config used,
    /// max_age and expired `Nats-TTL`s drop are left out as deleted sequences,
    /// and the consumers are settled the same way (`restore_prediction`).
    pub keep_expired: bool,
    pub reference_ns: i64,
    /// `--config`: the stream config to write instead of the backup's (a
    /// StreamConfig, or stream info with a `config` key); the name stays the target's.
    pub config_override: Option<Value>,
    /// Replace an existing stream directory of the same name.
    pub replace: bool,
    /// Config fields the target version would refuse: refuse or drop.
    pub config_policy: ConfigPolicy,
    /// Restore the intact part of a damaged backup (else a damaged backup is refused).
    pub salvage: bool,
    /// Salvage: keep or drop the messages that may have been deleted
    /// (`Backup::maybe_deleted`); a salvage with such messages refuses without it.
    pub maybe_deleted: Option<MaybeDeletedChoice>,
}

impl LocalRestoreOptions {
    pub fn new(store_dir: impl Into<PathBuf>) -> Self {
        Self {
            store_dir: store_dir.into(),
            account: "$G".to_string(),
            stream_name: None,
            consumers: ConsumerSelection::All,
            keep_expired: false,
            reference_ns: crate::util::time::now_ns(),
            config_override: None,
            replace: false,
            config_policy: ConfigPolicy::default(),
            salvage: false,
            maybe_deleted: None,
        }
    }
}

/// What a restore did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RestoreReport {
    pub stream_name: String,
    /// Stream directory or server URL.
    pub target: String,
    /// Messages written (local) or that the server holds after the restore.
    pub messages: u64,
    /// Messages the archive says it holds (see `dropped.archive_messages_from`).
    pub archive_messages: u64,
    /// The damaged backup was restored with `salvage`.
    pub salvaged: bool,
    /// What the archive holds that was not restored (all empty for an intact backup).
    pub dropped: DamageAccount,
    /// Salvage: the choice about the messages that may have been deleted (absent
    /// when there were none); `dropped.maybe_deleted` counts those left out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maybe_deleted: Option<MaybeDeletedOutcome>,
    pub bytes: u64,
    pub first_seq: u64,
    pub last_seq: u64,
    pub blocks: u64,
    pub consumers: Vec<String>,
    pub expired_dropped: u64,
    pub damaged_skipped: u64,
    /// Rows a local restore left out by the settle rules (see `settled`).
    pub settled_skipped: u64,
    /// Local restores without `--keep-expired`: what the settle rules dropped, per
    /// reason, as `restore_prediction` counts them at the same reference time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settled: Option<SettledDrops>,
    pub replaced: bool,
    pub elapsed_ms: u64,
    /// Server restores: bytes sent and the server's final stream info.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes_sent: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_stream_info: Option<Value>,
    pub notes: Vec<String>,
}

/// What a local restore's settle rules dropped (the prediction's counts).
#[derive(Debug, Clone, Default, Serialize)]
pub struct SettledDrops {
    /// RFC 3339: the moment TTLs and max_age were judged at.
    pub reference_time: String,
    /// `backup` or `override` (`--config`).
    pub config: &'static str,
    pub dropped: DroppedCounts,
}

#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// The request cannot be carried out as asked (exit code 2).
    #[error("{0}")]
    BadInput(String),
    #[error("stream directory {} already exists; pass --replace to overwrite it", .0.display())]
    Exists(PathBuf),
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("reading the backup: {0}")]
    Read(#[from] ReadError),
    #[error("encoding the store: {0}")]
    Encode(#[from] EncodeError),
    #[error("restore cancelled; nothing was written at {}", .0.display())]
    Cancelled(PathBuf),
    /// The new stream could not be moved into place and the old one could not be
    /// put back: the old stream is intact at `kept`.
    #[error(
        "cannot rename the restored stream into {} ({rename_error}), and putting the existing stream back failed ({restore_error}): it is kept at {}; move it back to {} by hand",
        target.display(),
        kept.display(),
        target.display()
    )]
    RollbackFailed {
        target: PathBuf,
        kept: PathBuf,
        rename_error: std::io::Error,
        restore_error: std::io::Error,
    },
    /// The backup is damaged and no salvage was asked for; nothing was written.
    #[error("{0}")]
    Damaged(String),
}

impl RestoreError {
    pub fn is_bad_input(&self) -> bool {
        matches!(self, RestoreError::BadInput(_))
    }
}

fn io_error<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> RestoreError + 'a {
    move |source| RestoreError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// Checks a stream name the way the server does for API subjects and directories.
pub fn validate_stream_name(name: &str) -> Result<(), RestoreError> {
    let bad = name.is_empty()
        || name.len() > 255
        || name == "."
        || name == ".."
        || name.chars().any(|c| {
            c.is_whitespace() || c.is_control() || matches!(c, '.' | '*' | '>' | '/' | '\\')
        });
    if bad {
        return Err(RestoreError::BadInput(format!(
            "{name:?} is not a valid stream name (no spaces, '.', '*', '>', '/', '\\'; 1-255 bytes)"
        )));
    }
    Ok(())
}

fn validate_consumer_name(name: &str) -> Result<(), RestoreError> {
    let bad = name.is_empty()
        || name == "."
        || name == ".."
        || name
            .chars()
            .any(|c| c.is_control() || matches!(c, '/' | '\\'));
    if bad {
        return Err(RestoreError::BadInput(format!(
            "consumer name {name:?} cannot be used as a directory name"
        )));
    }
    Ok(())
}

/// Stream creation time to write: the original (v1 `meta.inf`), else when the backup was taken.
pub fn stream_created(backup: &Backup) -> String {
    if let Some(created) = &backup.created {
        return created.clone();
    }
    let ns = backup
        .snapshot_time_ns
        .filter(|ns| *ns != 0)
        .unwrap_or_else(crate::util::time::now_ns);
    crate::util::time::format_rfc3339_ns(ns)
}

/// What both restores start from: the (possibly new) stream name, checked; the
/// selected consumers; and the stream config under that name.
pub fn restore_target<'a>(
    backup: &'a Backup,
    requested_name: Option<&str>,
    selection: &ConsumerSelection,
) -> Result<(String, Vec<&'a ConsumerInfo>, Value), RestoreError> {
    let stream_name = requested_name.map_or_else(|| backup.stream_name.clone(), str::to_string);
    if stream_name.is_empty() && requested_name.is_none() {
        let json = match &backup.source.backup_json {
            Some(path) if std::fs::metadata(path).is_ok_and(|meta| meta.len() == 0) => {
                format!("{} is empty", path.display())
            }
            Some(path) => format!("{} names no stream (config.name)", path.display()),
            None => "there is no backup.json".to_string(),
        };
        return Err(RestoreError::BadInput(format!(
            "the backup names no stream: {json} and the archive holds no meta.inf or state with a name; \
             give the name with --stream"
        )));
    }
    validate_stream_name(&stream_name)?;
    let consumers = selection.select(backup)?;
    let config = renamed_config(backup, &stream_name)?;
    Ok((stream_name, consumers, config))
}

/// The stream config with `name` set to `stream_name`.
pub fn renamed_config(backup: &Backup, stream_name: &str) -> Result<Value, RestoreError> {
    let Some(config) = &backup.config else {
        return Err(RestoreError::BadInput(format!(
            "the backup of {:?} has no stream config (no meta.inf / backup.json config)",
            backup.stream_name
        )));
    };
    let mut config = config.to_json();
    if let Value::Object(fields) = &mut config {
        fields.insert("name".into(), Value::from(stream_name));
    }
    Ok(config)
}

/// `last_ts` to give the trailing skip record: the archive's own, else the scan's.
pub fn stream_last_ts(backup: &Backup) -> i64 {
    [&backup.archive_state, &backup.declared_state]
        .into_iter()
        .flatten()
        .map(|state| state.last_ts_ns)
        .find(|ts| *ts != 0)
        .unwrap_or(backup.state.last_ts_ns)
}

/// The stream's `meta.inf` under `stream_name`: the original bytes when the
/// name is unchanged (nothing re-serialized), else written from `config`.
pub(crate) fn stream_meta_inf(
    backup: &Backup,
    stream_name: &str,
    config: &Value,
) -> Result<Vec<u8>, EncodeError> {
    match &backup.meta_inf_raw {
        Some(raw) if stream_name == backup.stream_name => Ok(raw.clone()),
        _ => meta_inf_json(&stream_created(backup), config),
    }
}

/// A consumer's `meta.inf`: the original bytes (v1), else written from its config.
pub(crate) fn consumer_meta_inf_of(
    backup: &Backup,
    consumer: &ConsumerInfo,
) -> Result<Vec<u8>, EncodeError> {
    match &consumer.meta_inf_raw {
        Some(raw) => Ok(raw.clone()),
        None => {
            let created = consumer
                .created
                .clone()
                .unwrap_or_else(|| stream_created(backup));
            consumer_meta_inf(&created, &consumer.name, &consumer.config)
        }
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), RestoreError> {
    let mut file = File::create(path).map_err(io_error("create", path))?;
    file.write_all(bytes).map_err(io_error("write", path))?;
    file.sync_all().map_err(io_error("fsync", path))
}

/// Restores `backup` into `options.store_dir`. See the module docs.
pub fn restore_to_store(
    backup: &Backup,
    options: &LocalRestoreOptions,
    progress: &mut dyn FnMut(u64, u64),
    cancel: &AtomicBool,
) -> Result<RestoreReport, RestoreError> {
    let started = std::time::Instant::now();
    let (stream_name, consumers, mut config) =
        restore_target(backup, options.stream_name.as_deref(), &options.consumers)?;
    let overridden = settled::apply_config_override(
        &mut config,
        &stream_name,
        options.config_override.as_ref(),
    )?;
    let dropped = refuse_unless_salvage(backup, options.salvage, options.maybe_deleted)?;
    let maybe_deleted = MaybeDeletedRule::new(backup, options.salvage, options.maybe_deleted);
    let version = options
        .config_policy
        .version()
        .map_err(RestoreError::BadInput)?;
    let checked = check_restore_configs(
        &mut config,
        &consumers,
        version,
        options.config_policy.drop_unknown,
    )
    .map_err(RestoreError::BadInput)?;
    let consumers: Vec<&ConsumerInfo> = consumers
        .iter()
        .map(|consumer| checked.consumer(consumer))
        .collect();
    let as_file = storage_as_file(backup, options, &mut config)?;
    let meta_inf = if checked.stream_edited || as_file || overridden {
        meta_inf_json(&stream_created(backup), &config)?
    } else {
        stream_meta_inf(backup, &stream_name, &config)?
    };
    validate_dir_names(options, &consumers)?;
    // What nats-server settles at once it loads the store, under the config written.
    let settled = (!options.keep_expired)
        .then(|| settle(backup, Some(&config), options.reference_ns, Target::Store));
    let streams_dir = options
        .store_dir
        .join("jetstream")
        .join(&options.account)
        .join("streams");
    let target = streams_dir.join(&stream_name);
    let exists = target.symlink_metadata().is_ok();
    if exists && !options.replace {
        return Err(RestoreError::Exists(target));
    }
    let pid = std::process::id();
    let (created_ancestors, stale_notes, temp) = prepare_streams_dir(&streams_dir, &stream_name)?;
    let plan = StreamPlan {
        stream_name: &stream_name,
        meta_inf: &meta_inf,
        consumers: &consumers,
        settled: settled.as_ref(),
        maybe_deleted,
    };
    let written = write_stream_dir(backup, &plan, &temp, progress, cancel);
    let mut report = match written {
        Ok(mut report) => {
            report.notes.extend(checked.notes);
            report
        }
        Err(error) => {
            // The error being reported matters more than a failed cleanup of the temp dir.
            let _ = remove_any(&temp);
            remove_created_ancestors(&created_ancestors);
            return Err(match error {
                RestoreError::Cancelled(_) => RestoreError::Cancelled(target),
                other => other,
            });
        }
    };
    let rename = |from: &Path, to: &Path| fs::rename(from, to);
    let moved = move_into_place(
        &rename,
        &temp,
        &target,
        &streams_dir,
        exists,
        &stream_name,
        pid,
    );
    match moved {
        Ok(Some(note)) => report.notes.push(note),
        Ok(None) => {}
        Err(error) => {
            // The error being reported matters more than a failed cleanup of the temp dir.
            let _ = remove_any(&temp);
            remove_created_ancestors(&created_ancestors);
            return Err(error);
        }
    }
    report.notes.extend(stale_notes);
    if as_file {
        report
            .notes
            .push("memory storage written as file storage (--storage file)".into());
    }
    settled::report(
        &mut report,
        backup,
        settled.as_ref(),
        &config,
        options,
        overridden,
    );
    finish_report(&mut report, dropped, exists, &target, started);
    report.maybe_deleted = MaybeDeletedOutcome::of(backup, options.salvage, options.maybe_deleted);
    Ok(report)
}

/// What `write_stream_dir` writes: the stream under its name, its `meta.inf`,
/// the selected consumers, and the settled rows and consumer states (`None`:
/// everything as in the archive).
struct StreamPlan<'a> {
    stream_name: &'a str,
    meta_inf: &'a [u8],
    consumers: &'a [&'a ConsumerInfo],
    settled: Option<&'a Settled>,
    /// The salvage's rule for messages that may have been deleted.
    maybe_deleted: MaybeDeletedRule<'a>,
}

/// Creates `streams_dir` (remembering which ancestors it created), removes stale
/// temp dirs of earlier runs, and returns the fresh temp path for `stream_name`.
fn prepare_streams_dir(
    streams_dir: &Path,
    stream_name: &str,
) -> Result<(Vec<PathBuf>, Vec<String>, PathBuf), RestoreError> {
    let created_ancestors = missing_ancestors(streams_dir);
    if let Err(source) = fs::create_dir_all(streams_dir) {
        remove_created_ancestors(&created_ancestors);
        return Err(RestoreError::Io {
            action: "create directory",
            path: streams_dir.to_path_buf(),
            source,
        });
    }
    let stale_notes = remove_stale_temp_dirs(streams_dir);
    let temp = temp_path(streams_dir, stream_name);
    if let Err(source) = remove_any(&temp) {
        remove_created_ancestors(&created_ancestors);
        return Err(RestoreError::Io {
            action: "remove the leftover",
            path: temp,
            source,
        });
    }
    Ok((created_ancestors, stale_notes, temp))
}

/// Refuses a memory stream unless `--storage file`, and then rewrites `config` to
/// file storage; true when it was rewritten.
fn storage_as_file(
    backup: &Backup,
    options: &LocalRestoreOptions,
    config: &mut Value,
) -> Result<bool, RestoreError> {
    let memory = backup.config.as_ref().is_some_and(StreamConfig::is_memory);
    if memory && !options.config_policy.storage_file {
        return Err(RestoreError::BadInput(format!(
            "stream {:?} uses memory storage; a server never loads memory streams from its store directory (restore to a server instead, or store it as file storage: --storage file)",
            backup.stream_name
        )));
    }
    let as_file = memory && options.config_policy.storage_file;
    if as_file {
        config["storage"] = Value::from("file");
    }
    Ok(as_file)
}

/// Checks that the account and every consumer name are usable as directory names.
fn validate_dir_names(
    options: &LocalRestoreOptions,
    consumers: &[&ConsumerInfo],
) -> Result<(), RestoreError> {
    validate_consumer_name(&options.account).map_err(|_| {
        RestoreError::BadInput(format!(
            "{:?} is not a valid account directory name",
            options.account
        ))
    })?;
    for consumer in consumers {
        validate_consumer_name(&consumer.name)?;
    }
    Ok(())
}

/// Fills the damage, replace, target and timing fields of a finished restore's report.
fn finish_report(
    report: &mut RestoreReport,
    dropped: DamageAccount,
    exists: bool,
    target: &Path,
    started: std::time::Instant,
) {
    report.salvaged = dropped.is_damaged();
    report.archive_messages = dropped.archive_messages;
    // Counted while the rows were written.
    let maybe_deleted = report.dropped.maybe_deleted;
    report.dropped = dropped;
    report.dropped.maybe_deleted = maybe_deleted;
    report.replaced = exists;
    report.target = target.display().to_string();
    report.elapsed_ms = started.elapsed().as_millis() as u64;
}

fn write_stream_dir(
    backup: &Backup,
    plan: &StreamPlan<'_>,
    temp: &Path,
    progress: &mut dyn FnMut(u64, u64),
    cancel: &AtomicBool,
) -> Result<RestoreReport, RestoreError> {
    let stream_name = plan.stream_name;
    fs::create_dir(temp).map_err(io_error("create directory", temp))?;
    let msgs_dir = temp.join("msgs");
    fs::create_dir(&msgs_dir).map_err(io_error("create directory", &msgs_dir))?;

    let total = backup.messages.len() as u64;
    let mut report = RestoreReport {
        stream_name: stream_name.to_string(),
        ..RestoreReport::default()
    };
    let reuse = can_reuse_blocks(backup, stream_name, plan.settled);
    let summary = if reuse && !plan.maybe_deleted.drops_any() {
        // A clean v1 archive under its own name: its verified blocks (and index.db) are
        // exactly the server's files, so they are copied instead of re-encoded.
        let summary = copy_archive_blocks(backup, &msgs_dir, progress, cancel, temp)?;
        report
            .notes
            .push("message blocks reused from the v1 archive after verification".into());
        summary
    } else {
        let rule = match plan.settled {
            Some(settled) => RowRule::Settled(&settled.keep),
            None => RowRule::All,
        };
        write_blocks(
            backup,
            (rule, plan.maybe_deleted),
            stream_name,
            &msgs_dir,
            &mut report,
            progress,
            cancel,
            temp,
        )?
    };
    let last_seq = backup.state.last_seq;
    progress(total, total);
    sync_dir(&msgs_dir)?;

    write_stream_meta_files(stream_name, plan.meta_inf, |file, bytes| {
        write_synced(&temp.join(file), bytes)
    })?;

    if !plan.consumers.is_empty() {
        let obs = temp.join("obs");
        fs::create_dir(&obs).map_err(io_error("create directory", &obs))?;
        for consumer in plan.consumers {
            let state = settled::consumer_state(backup, plan.settled, consumer)
                .unwrap_or_else(|| reconcile_with_stream(&consumer.state, last_seq));
            write_consumer(
                backup,
                stream_name,
                consumer,
                &obs.join(&consumer.name),
                &state,
            )?;
            report.consumers.push(consumer.name.clone());
        }
        sync_dir(&obs)?;
    }
    sync_dir(temp)?;

    report.messages = summary.messages;
    report.bytes = summary.bytes;
    report.blocks = summary.blocks;
    report.first_seq = plan.settled.map_or(backup.state.first_seq, |settled| {
        settled.prediction.state.first_seq
    });
    report.last_seq = last_seq;
    if report.damaged_skipped > 0 {
        report.notes.push(format!(
            "{} damaged message(s) left out; their sequences come back as deleted",
            report.damaged_skipped
        ));
    }
    if report.dropped.maybe_deleted > 0 {
        report.notes.push(format!(
            "{} message(s) that may have been deleted left out (--maybe-deleted drop); their sequences come back as deleted",
            report.dropped.maybe_deleted
        ));
    }
    if let Some(settled) = plan.settled {
        report.expired_dropped = settled.prediction.dropped.ttl_expired;
        if settled.prediction.dropped.total > 0 {
            report.notes.push(settled::dropped_note(settled));
        }
    }
    Ok(report)
}

/// Re-encodes the live messages into new blocks.
#[allow(clippy::too_many_arguments)]
fn write_blocks(
    backup: &Backup,
    rules: (RowRule<'_>, MaybeDeletedRule<'_>),
    stream_name: &str,
    msgs_dir: &Path,
    report: &mut RestoreReport,
    progress: &mut dyn FnMut(u64, u64),
    cancel: &AtomicBool,
    temp: &Path,
) -> Result<BlockSummary, RestoreError> {
    let total = backup.messages.len() as u64;
    // The sink's own error (with its path) is kept to report instead of the wrapped one.
    let sink_error: RefCell<Option<RestoreError>> = RefCell::new(None);
    let mut writer = BlockWriter::new(stream_name, DEFAULT_BLOCK_SIZE, |index, bytes: &[u8]| {
        let path = msgs_dir.join(format!("{index}.blk"));
        write_synced(&path, bytes).map_err(|error| {
            let message = error.to_string();
            *sink_error.borrow_mut() = Some(error);
            std::io::Error::other(message)
        })
    });
    rows::for_each_kept_row(
        backup,
        rules,
        report,
        RestoreError::Read,
        |row| {
            if row % 256 == 0 {
                if cancel.load(Ordering::Relaxed) {
                    return Err(RestoreError::Cancelled(temp.to_path_buf()));
                }
                progress(row as u64, total);
            }
            Ok(())
        },
        |seq, ts_ns, subject, headers, data| {
            writer
                .push_message(seq, ts_ns, subject, headers, data)
                .map_err(|error| {
                    sink_error
                        .borrow_mut()
                        .take()
                        .unwrap_or(RestoreError::Encode(error))
                })
        },
    )?;
    if cancel.load(Ordering::Relaxed) {
        return Err(RestoreError::Cancelled(temp.to_path_buf()));
    }
    match writer.finish(backup.state.last_seq, stream_last_ts(backup)) {
        Ok(summary) => Ok(summary),
        Err(error) => Err(sink_error
            .borrow_mut()
            .take()
            .unwrap_or(RestoreError::Encode(error))),
    }
}

/// Blocks can be copied when nothing about them changes and nothing is damaged.
fn can_reuse_blocks(backup: &Backup, stream_name: &str, settled: Option<&Settled>) -> bool {
    let dropping = settled.is_some_and(|settled| settled.prediction.dropped.total > 0);
    backup.format == Some(crate::model::ArchiveFormat::V1)
        && stream_name == backup.stream_name
        && backup.complete
        && !backup.has_errors()
        && backup.damaged_seqs.is_empty()
        && backup.lost.is_empty()
        && !dropping
        && backup
            .entries
            .iter()
            .any(|entry| entry.name.starts_with("msgs/") && entry.name.ends_with(".blk"))
}

/// Copies `msgs/*.blk` and `msgs/index.db` out of the archive through the chunk index.
fn copy_archive_blocks(
    backup: &Backup,
    msgs_dir: &Path,
    progress: &mut dyn FnMut(u64, u64),
    cancel: &AtomicBool,
    temp: &Path,
) -> Result<BlockSummary, RestoreError> {
    let file = fs::File::open(&backup.source.data_file)
        .map_err(io_error("open", &backup.source.data_file))?;
    let mut reader = crate::format::s2::RangeReader::new(file, backup.chunks.clone());
    let files: Vec<_> = backup
        .entries
        .iter()
        .filter(|entry| {
            entry.name.strip_prefix("msgs/").is_some_and(|file| {
                (file.ends_with(".blk") && !file.contains('/')) || file == "index.db"
            })
        })
        .collect();
    let total_bytes: u64 = files.iter().map(|entry| entry.size).sum();
    let mut done = 0u64;
    let mut blocks = 0u64;
    for entry in files {
        if cancel.load(Ordering::Relaxed) {
            return Err(RestoreError::Cancelled(temp.to_path_buf()));
        }
        let Some(file_name) = entry.name.strip_prefix("msgs/") else {
            continue;
        };
        let size = usize::try_from(entry.size)
            .map_err(|_| RestoreError::BadInput(format!("{} is too large to copy", entry.name)))?;
        let bytes = reader
            .read(entry.data_offset, size)
            .map_err(|error| RestoreError::BadInput(format!("{}: {error}", entry.name)))?;
        write_synced(&msgs_dir.join(file_name), &bytes)?;
        if file_name.ends_with(".blk") {
            blocks += 1;
        }
        done += entry.size;
        progress(done, total_bytes.max(1));
    }
    Ok(BlockSummary {
        blocks,
        messages: backup.messages.len() as u64,
        bytes: backup.state.bytes,
        last_message_seq: backup.messages.seq.last().copied().unwrap_or(0),
        trailing_skip: false,
    })
}

fn write_consumer(
    backup: &Backup,
    stream_name: &str,
    consumer: &ConsumerInfo,
    dir: &Path,
    state: &ConsumerState,
) -> Result<(), RestoreError> {
    if !consumer.config.is_object() {
        return Err(RestoreError::BadInput(format!(
            "consumer {:?} ({}) has no config in the backup; leave it out with --consumers",
            consumer.name, consumer.entry
        )));
    }
    fs::create_dir(dir).map_err(io_error("create directory", dir))?;
    let meta_inf = consumer_meta_inf_of(backup, consumer)?;
    let odat = encode_odat(&state.to_odat());
    write_consumer_files(
        stream_name,
        &consumer.name,
        &meta_inf,
        &odat,
        |file, bytes| write_synced(&dir.join(file), bytes),
    )?;
    sync_dir(dir)
}

mod place;
mod rows;
mod settled;

#[cfg(test)]
mod tests;
