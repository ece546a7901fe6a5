//! Index a backup: one sequential pass over the archive that fills the model
//! (config, states, consumers, compact message index, deleted ranges, findings).

use crate::format::filestore::{self, RecordKind};
use crate::format::hash::Hh64Key;
use crate::format::headers::{self, flags, Ttl};
use crate::format::index_db::{self, IndexDb};
use crate::format::legacy_idx;
use crate::format::s2::{ChunkSource, ChunkStatus, DecodedStream, S2Problem, StreamStop};
use crate::format::tar::{TarError, TarEvent, TarReader};
use crate::format::v2::{self, EntryError};
use crate::model::{
    ArchiveFormat, Backup, ConsumerInfo, ConsumerState, EntryInfo, Finding, FindingKind,
    MessageRow, PendingEntry, SequencePair, Severity, StreamConfig, StreamState,
};
use crate::util::fxhash::{FxHashMap, FxHashSet};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{BufReader, Read};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Progress of a scan, as plain numbers the UI formats.
#[derive(Debug, Clone, Copy, Default)]
pub struct ScanProgress {
    pub file_bytes_done: u64,
    pub file_bytes_total: u64,
    pub messages: u64,
    pub decompressed_bytes: u64,
}

/// Receives progress and the model built so far.
pub type ProgressCallback<'a> = &'a mut dyn FnMut(&ScanProgress, &Backup);

/// Cancel flag and progress callback of a scan.
#[derive(Default)]
pub struct ScanControl<'a> {
    pub cancel: Option<&'a AtomicBool>,
    /// Called now and then with progress and the model built so far.
    pub on_progress: Option<ProgressCallback<'a>>,
}

impl ScanControl<'_> {
    fn cancelled(&self) -> bool {
        self.cancel.is_some_and(|flag| flag.load(Ordering::Relaxed))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Locate(#[from] super::open::LocateError),
    #[error("{path}: {message}")]
    Io { path: String, message: String },
    #[error("cancelled")]
    Cancelled,
    /// Nothing could be read; the backup (with its findings) says why.
    #[error("{0}")]
    Unreadable(String, Box<Backup>),
}

/// Findings of one kind listed one by one before they are summarised.
const MAX_REPEATED_FINDINGS: u64 = 100;

/// Default `max_payload` of a server: messages above it fail a v2 restore.
pub const DEFAULT_MAX_PAYLOAD: u64 = 1 << 20;

/// Opens and indexes a backup directory or data file.
pub fn open_backup(path: &Path, control: &mut ScanControl) -> Result<Backup, OpenError> {
    let source = super::open::locate(path)?;
    let file = std::fs::File::open(&source.data_file).map_err(|error| OpenError::Io {
        path: source.data_file.display().to_string(),
        message: error.to_string(),
    })?;
    let mut backup = Backup::empty(source);
    read_backup_json(&mut backup);
    // Size the index from the declared count, bounded by the file size so a hostile
    // backup.json cannot make us allocate much.
    if let Some(declared) = &backup.declared_state {
        let bound = (backup.source.data_file_bytes / 8).min(16 << 20);
        backup
            .messages
            .reserve(declared.messages.min(bound) as usize);
    }
    // Decoding runs on background threads, ahead of the parser.
    let stream = DecodedStream::threaded(BufReader::with_capacity(1 << 20, file));
    scan_decoded(stream, &mut backup, control)?;
    if backup.format.is_none() {
        let reason = backup
            .findings
            .first()
            .map(|finding| finding.message.clone())
            .unwrap_or_else(|| "nothing readable".into());
        let message = format!("{}: {reason}", backup.source.data_file.display());
        return Err(OpenError::Unreadable(message, Box::new(backup)));
    }
    Ok(backup)
}

/// Indexes an S2 stream from any reader (the data file's bytes).
pub fn scan_stream<R: Read>(
    reader: R,
    backup: &mut Backup,
    control: &mut ScanControl,
) -> Result<(), OpenError> {
    scan_decoded(DecodedStream::new(reader), backup, control)
}

/// Indexes an already framed stream (inline or threaded decoding).
pub fn scan_decoded<S: ChunkSource>(
    mut stream: DecodedStream<S>,
    backup: &mut Backup,
    control: &mut ScanControl,
) -> Result<(), OpenError> {
    let format = match stream.peek(8) {
        Ok(bytes) if bytes == v2::MAGIC => Some(ArchiveFormat::V2),
        Ok(_) => Some(ArchiveFormat::V1),
        Err(_) => {
            if stream.buffered().is_empty() {
                None
            } else {
                Some(ArchiveFormat::V1)
            }
        }
    };
    let mut scan = Scan::default();
    match format {
        Some(ArchiveFormat::V2) => {
            backup.format = format;
            scan_v2(&mut stream, backup, &mut scan, control)?;
        }
        Some(ArchiveFormat::V1) => {
            backup.format = format;
            scan_v1(&mut stream, backup, &mut scan, control)?;
        }
        None => {}
    }
    backup.decompressed_bytes = stream.chunks.decompressed_pos();
    backup.chunks = Arc::new(std::mem::take(&mut stream.chunks.chunks));
    report_s2_problems(&stream.chunks.problems, backup);
    if format.is_none() {
        if backup.findings.is_empty() {
            backup.findings.push(Finding::error(
                FindingKind::NotAnArchive,
                "the data file is empty: no S2 chunk and no archive",
            ));
        }
        return Ok(());
    }
    let zero_filled = mark_damaged_chunks(backup);
    finish_model(backup);
    backup.damaged_seqs = std::mem::take(&mut scan.damaged_seqs);
    backup.damaged_seqs.extend(zero_filled);
    backup.damaged_seqs.sort_unstable();
    backup.damaged_seqs.dedup();
    find_lost_ranges(backup, scan.saw_end, &scan.index_live);
    compare_states(backup);
    check_consumers(backup);
    backup.complete = scan.saw_end && !backup.has_errors();
    Ok(())
}

/// Scan-time facts that are not part of the final model.
#[derive(Default)]
struct Scan {
    saw_end: bool,
    /// v1: block index of each candidate row, and its record length.
    row_block: Vec<u64>,
    row_record_len: Vec<u32>,
    /// v1: damaged (checksum) message sequences, excluded from the live set.
    damaged_seqs: Vec<u64>,
    tombstones: FxHashSet<u64>,
    erased: FxHashSet<u64>,
    highest_seq_seen: u64,
    /// v1: block index → (length, last 8 bytes), for index.db trust checks.
    blocks: BTreeMap<u64, (u64, [u8; 8])>,
    index_db: Option<Vec<u8>>,
    index_db_entry_offset: u64,
    /// v1 consumers by directory name: meta.inf, meta.sum, o.dat.
    consumer_files: BTreeMap<String, ConsumerFiles>,
    meta_sum: Option<Vec<u8>>,
    progress_at: u64,
    /// v1: per block, the decompressed offset of its first bad record and of its end.
    block_first_bad: BTreeMap<u64, (u64, u64)>,
    /// v1 (≤ 2.9): raw `msgs/N.idx` by block index.
    legacy_idx: BTreeMap<u64, Vec<u8>>,
    /// v1: the sequences a parsed index.db says are live, as ranges per block.
    index_live: Vec<(u64, u64, Vec<u64>)>,
    /// v2: number of consumer entries declared in state.json.
    declared_consumers: Option<u64>,
}

#[derive(Default)]
struct ConsumerFiles {
    meta_inf: Option<(Vec<u8>, u64)>,
    meta_sum: Option<Vec<u8>>,
    odat: Option<(Vec<u8>, u64)>,
}

fn read_backup_json(backup: &mut Backup) {
    let Some(path) = backup.source.backup_json.clone() else {
        return;
    };
    let text = match std::fs::read(&path) {
        Ok(text) => text,
        Err(error) => {
            backup.findings.push(
                Finding::warning(
                    FindingKind::BackupJson,
                    format!("backup.json cannot be read: {error}"),
                )
                .entry("backup.json"),
            );
            return;
        }
    };
    if text.is_empty() {
        backup.findings.push(
            Finding::warning(
                FindingKind::BackupJson,
                "backup.json is empty: the nats CLI leaves it empty when the backup failed",
            )
            .entry("backup.json"),
        );
        return;
    }
    match serde_json::from_slice::<Value>(&text) {
        Ok(value) => {
            if let Some(config) = value.get("config") {
                if let Some(name) = config.get("name").and_then(Value::as_str) {
                    backup.stream_name = name.to_string();
                }
                backup.config = StreamConfig::from_json(config);
            }
            backup.declared_state = value.get("state").and_then(StreamState::from_json);
            backup.backup_json = Some(value);
        }
        Err(error) => backup.findings.push(
            Finding::warning(
                FindingKind::BackupJson,
                format!("backup.json is not valid JSON: {error}"),
            )
            .entry("backup.json"),
        ),
    }
}

fn report_progress<S: ChunkSource>(
    stream: &DecodedStream<S>,
    backup: &Backup,
    scan: &mut Scan,
    control: &mut ScanControl,
) -> Result<(), OpenError> {
    let messages = backup.messages.len() as u64;
    if messages < scan.progress_at {
        return Ok(());
    }
    scan.progress_at = messages + 16_384;
    if control.cancelled() {
        return Err(OpenError::Cancelled);
    }
    if let Some(callback) = control.on_progress.as_mut() {
        callback(
            &ScanProgress {
                file_bytes_done: stream.file_pos(),
                file_bytes_total: backup.source.data_file_bytes,
                messages,
                decompressed_bytes: stream.pos(),
            },
            backup,
        );
    }
    Ok(())
}

// ---------------------------------------------------------------- v2

fn scan_v2<S: ChunkSource>(
    stream: &mut DecodedStream<S>,
    backup: &mut Backup,
    scan: &mut Scan,
    control: &mut ScanControl,
) -> Result<(), OpenError> {
    if let Err(message) = v2::read_magic(stream) {
        backup
            .findings
            .push(Finding::error(FindingKind::NotAnArchive, message).offset(0));
        return Ok(());
    }
    let max_msg_size = backup
        .config
        .as_ref()
        .and_then(StreamConfig::max_msg_size_limit);
    let mut entry_number: u64 = 0;
    let mut out_of_order: u64 = 0;
    let mut previous_seq: u64 = 0;
    let mut seen_message = false;
    let mut header_scratch: Vec<u8> = Vec::new();
    loop {
        report_progress(stream, backup, scan, control)?;
        let header = match v2::next_entry_header(stream) {
            Ok(header) => header,
            Err(EntryError::CleanEnd) => {
                backup.findings.push(
                    Finding::error(
                        FindingKind::MissingSentinel,
                        format!(
                            "archive ends after {entry_number} entries without the end-of-backup sentinel: the backup is truncated or incomplete (a restore fails with EOF)"
                        ),
                    )
                    .offset(stream.pos())
                    .seq(previous_seq),
                );
                break;
            }
            Err(EntryError::TruncatedHeader { offset }) => {
                backup.findings.push(
                    Finding::error(
                        FindingKind::EntryTruncated,
                        format!(
                            "archive ends inside an entry header (after sequence {previous_seq})"
                        ),
                    )
                    .offset(offset),
                );
                break;
            }
            Err(EntryError::BadHeader { offset, reason }) => {
                let finding = Finding::error(
                    FindingKind::EntryHeader,
                    format!("invalid entry header after sequence {previous_seq}: {reason}"),
                )
                .offset(offset);
                if report_and_resync(stream, backup, finding, previous_seq) {
                    continue;
                }
                break;
            }
            Err(EntryError::Discontinuity { .. }) => {
                if !resync_v2(stream, backup, previous_seq) {
                    break;
                }
                continue;
            }
        };
        entry_number += 1;
        // An entry read out of zero-filled bytes (a chunk that did not decode) is not an entry.
        if let Some(end) = undecodable_chunk_end(stream, header.offset) {
            let skip = end.saturating_sub(stream.pos());
            let _ = stream.skip(skip);
            let finding = Finding::error(
                FindingKind::LostData,
                format!(
                    "entries in decompressed bytes {}..{end} are unreadable (undecodable S2 chunk)",
                    header.offset
                ),
            )
            .seq(previous_seq.saturating_add(1))
            .offset(header.offset);
            if report_and_resync(stream, backup, finding, previous_seq) {
                continue;
            }
            break;
        }
        if header.sequence == 0 {
            let name = header.name_lossy();
            if header.is_sentinel() {
                if let Some((trailing, _)) = stream.peek(1).ok().map(|b| (b.len(), 0)) {
                    if trailing > 0 {
                        backup.findings.push(
                            Finding::warning(
                                FindingKind::EntryOrder,
                                "bytes follow the end-of-backup sentinel",
                            )
                            .offset(stream.pos()),
                        );
                    }
                }
                scan.saw_end = true;
                break;
            }
            // A metadata entry: read it whole.
            let size = header.data_len();
            if size > v2::MAX_META_ENTRY {
                let finding = Finding::error(
                    FindingKind::EntryHeader,
                    format!("entry {name:?} declares {size} bytes"),
                )
                .entry(name.clone())
                .offset(header.offset);
                if report_and_resync(stream, backup, finding, previous_seq) {
                    continue;
                }
                break;
            }
            let data = match stream.take(size as usize) {
                Ok(data) => data.to_vec(),
                Err(stop) => {
                    backup.findings.push(
                        Finding::error(
                            FindingKind::EntryTruncated,
                            format!(
                                "entry {name:?} declares {size} bytes but the archive ends first"
                            ),
                        )
                        .entry(name.clone())
                        .offset(header.offset),
                    );
                    if stop == StreamStop::Discontinuity && resync_v2(stream, backup, previous_seq)
                    {
                        continue;
                    }
                    break;
                }
            };
            backup.entries.push(EntryInfo {
                name: name.clone(),
                header_offset: header.offset,
                data_offset: header.data_offset,
                size,
            });
            if name == "state.json" {
                if entry_number != 1 {
                    backup.findings.push(
                        Finding::error(
                            FindingKind::EntryOrder,
                            "state.json is not the first entry",
                        )
                        .entry(name.clone())
                        .offset(header.offset),
                    );
                }
                backup.snapshot_time_ns = Some(header.timestamp_ns);
                match serde_json::from_slice::<Value>(&data) {
                    Ok(value) => {
                        for field in ["messages", "bytes", "first_seq", "last_seq", "consumer_count"] {
                            if value.get(field).and_then(Value::as_u64).is_none() {
                                backup.findings.push(
                                    Finding::warning(FindingKind::StateJson, format!("state.json lacks the numeric field {field:?}"))
                                        .entry("state.json")
                                        .offset(header.data_offset),
                                );
                            }
                        }
                        backup.archive_state = StreamState::from_json(&value);
                        scan.declared_consumers = value.get("consumer_count").and_then(Value::as_u64);
                    }
                    Err(error) => backup.findings.push(
                        Finding::error(FindingKind::StateJson, format!("state.json is not valid JSON ({error}); a restore fails with \"error in state.json\""))
                            .entry("state.json")
                            .offset(header.data_offset + json_error_offset(&data, &error)),
                    ),
                }
            } else if let Some(consumer_name) = name.strip_prefix("consumers/") {
                if entry_number == 1 {
                    backup.findings.push(
                        Finding::error(FindingKind::EntryOrder, "the first entry is not state.json (a restore fails with \"expected state.json first\")")
                            .entry(name.clone())
                            .offset(header.offset),
                    );
                }
                if seen_message {
                    backup.findings.push(
                        Finding::error(
                            FindingKind::EntryOrder,
                            "consumer entry after message entries",
                        )
                        .entry(name.clone())
                        .offset(header.offset),
                    );
                }
                parse_v2_consumer(backup, consumer_name, &name, &data, header.data_offset);
            } else {
                backup.findings.push(
                    Finding::error(
                        FindingKind::EntryOrder,
                        format!("entry {name:?} has sequence 0 but is neither state.json, a consumer nor the sentinel (a restore fails with \"expected message sequence\")"),
                    )
                    .entry(name.clone())
                    .offset(header.offset),
                );
            }
            continue;
        }
        // Built only when a finding needs it: most entries never do.
        let name = || header.name_lossy();
        // A message entry: if it does not look like one, the bytes here are corrupt.
        if let Some(reason) =
            implausible_message(&header, previous_seq, backup.archive_state.as_ref())
        {
            flag_suspect_previous(backup, previous_seq);
            let finding =
                Finding::error(
                    FindingKind::EntryHeader,
                    format!("the entry at decompressed offset {} (after sequence {previous_seq}) is not a plausible message entry: {reason}", header.offset),
                )
                .seq(previous_seq.saturating_add(1))
                .offset(header.offset);
            if report_and_resync(stream, backup, finding, previous_seq) {
                continue;
            }
            break;
        }
        if entry_number == 1 {
            backup.findings.push(
                Finding::error(
                    FindingKind::EntryOrder,
                    "the first entry is a message, not state.json",
                )
                .entry(name())
                .seq(header.sequence)
                .offset(header.offset),
            );
        }
        seen_message = true;
        if header.header_size > v2::MAX_HEADER_BLOCK {
            let finding = Finding::error(
                FindingKind::EntryHeader,
                format!(
                    "sequence {} declares a {}-byte header block",
                    header.sequence, header.header_size
                ),
            )
            .entry(name())
            .seq(header.sequence)
            .offset(header.offset);
            if report_and_resync(stream, backup, finding, previous_seq) {
                continue;
            }
            break;
        }
        header_scratch.clear();
        let header_read = match stream.take(header.header_size as usize) {
            Ok(block) => {
                header_scratch.extend_from_slice(block);
                Ok(())
            }
            Err(stop) => Err(stop),
        };
        let body_read =
            header_read.and_then(|()| stream.skip(header.payload_size).map_err(|(_, stop)| stop));
        if let Err(stop) = body_read {
            let available = stream.pos().saturating_sub(header.data_offset);
            backup.findings.push(
                Finding::error(
                    FindingKind::EntryTruncated,
                    format!(
                        "entry for seq {} declares {} bytes but only {available} follow: truncated entry (a restore fails reading it)",
                        header.sequence,
                        header.data_len()
                    ),
                )
                .entry(name())
                .seq(header.sequence)
                .offset(header.offset),
            );
            if stop == StreamStop::Discontinuity && resync_v2(stream, backup, previous_seq) {
                continue;
            }
            break;
        }
        if header.sequence <= previous_seq {
            out_of_order += 1;
            if out_of_order > MAX_REPEATED_FINDINGS {
                continue;
            }
            backup.findings.push(
                Finding::error(
                    FindingKind::SequenceOrder,
                    format!("message sequence {} out of order (after {previous_seq}); a restore aborts here", header.sequence),
                )
                .entry(name())
                .seq(header.sequence)
                .offset(header.offset),
            );
            continue;
        }
        previous_seq = header.sequence;
        let total = header.data_len();
        if total > DEFAULT_MAX_PAYLOAD {
            backup.findings.push(
                Finding::warning(
                    FindingKind::MessageSize,
                    format!("sequence {} is {total} bytes, above the default max_payload of 1 MiB: a restore into a server with default limits fails", header.sequence),
                )
                .entry(name())
                .seq(header.sequence)
                .offset(header.offset),
            );
        }
        if let Some(limit) = max_msg_size {
            if total > limit as u64 {
                backup.findings.push(
                    Finding::warning(
                        FindingKind::MessageSize,
                        format!(
                            "sequence {} is {total} bytes, above the stream's max_msg_size {limit}",
                            header.sequence
                        ),
                    )
                    .entry(name())
                    .seq(header.sequence)
                    .offset(header.offset),
                );
            }
        }
        let (message_flags, ttl) = headers::classify(&header_scratch);
        if ttl == Ttl::Invalid {
            note_invalid_ttl(backup, ttl, header.sequence, &name(), header.offset);
        }
        let subject_id = backup.subjects.intern(&header.name);
        if ttl != Ttl::None {
            backup.messages.ttls.push((header.sequence, ttl));
        }
        backup.messages.push(MessageRow {
            seq: header.sequence,
            ts_ns: header.timestamp_ns,
            subject_id,
            hdr_len: header.header_size as u32,
            data_len: header.payload_size.min(u64::from(u32::MAX)) as u32,
            offset: header.data_offset,
            flags: message_flags,
        });
    }
    if out_of_order > MAX_REPEATED_FINDINGS {
        backup.findings.push(Finding::error(
            FindingKind::SequenceOrder,
            format!("{out_of_order} message entries out of sequence order in all ({MAX_REPEATED_FINDINGS} listed)"),
        ));
    }
    let consumers_found = backup.consumers.len() as u64;
    if let Some(declared) = scan.declared_consumers {
        if declared != consumers_found {
            backup.findings.push(
                Finding::error(
                    FindingKind::ConsumerCountMismatch,
                    format!(
                        "state.json declares {declared} consumers but the archive holds {consumers_found} consumer entries (a restore fails with \"expected consumer\")"
                    ),
                )
                .entry("state.json"),
            );
        }
    }
    Ok(())
}

fn note_invalid_ttl(backup: &mut Backup, ttl: Ttl, seq: u64, entry: &str, offset: u64) {
    if ttl == Ttl::Invalid {
        backup.findings.push(
            Finding::error(
                FindingKind::InvalidTtl,
                format!("sequence {seq} has an unparseable Nats-TTL header: the server aborts a v2 restore on it"),
            )
            .entry(entry.to_string())
            .seq(seq)
            .offset(offset),
        );
    }
}

/// Byte offset of a serde_json error inside `data` (line/column → offset).
fn json_error_offset(data: &[u8], error: &serde_json::Error) -> u64 {
    let mut line = 1usize;
    let mut offset = 0usize;
    for (index, &byte) in data.iter().enumerate() {
        if line == error.line() {
            offset = index + error.column().saturating_sub(1);
            break;
        }
        if byte == b'\n' {
            line += 1;
        }
    }
    offset as u64
}

fn parse_v2_consumer(
    backup: &mut Backup,
    consumer_name: &str,
    entry: &str,
    data: &[u8],
    offset: u64,
) {
    let value: Value = match serde_json::from_slice(data) {
        Ok(value) => value,
        Err(error) => {
            backup.findings.push(
                Finding::error(
                    FindingKind::ConsumerMeta,
                    format!("consumer {consumer_name:?} is not valid JSON: {error}"),
                )
                .entry(entry.to_string())
                .offset(offset),
            );
            return;
        }
    };
    let config = value
        .get("config")
        .cloned()
        .filter(|config| !config.is_null());
    let state = value.get("state").filter(|state| !state.is_null());
    if config.is_none() {
        backup.findings.push(
            Finding::error(
                FindingKind::ConsumerMeta,
                format!("consumer {consumer_name:?} is missing config"),
            )
            .entry(entry.to_string())
            .offset(offset),
        );
    }
    if state.is_none() {
        backup.findings.push(
            Finding::error(
                FindingKind::ConsumerState,
                format!("consumer {consumer_name:?} is missing state"),
            )
            .entry(entry.to_string())
            .offset(offset),
        );
    }
    backup.consumers.push(ConsumerInfo {
        name: consumer_name.to_string(),
        config: config.unwrap_or(Value::Null),
        created: None,
        state: state.and_then(ConsumerState::from_json).unwrap_or_default(),
        entry: entry.to_string(),
        meta_inf_raw: None,
    });
}

/// The message just before corrupt bytes may have run into them: flag it.
fn flag_suspect_previous(backup: &mut Backup, previous_seq: u64) {
    let Some(row) = backup.messages.find_seq(previous_seq) else {
        return;
    };
    backup.messages.set_flags(row, flags::DAMAGED);
    backup.findings.push(
        Finding::warning(
            FindingKind::LostData,
            format!("sequence {previous_seq} is the last entry before corrupt bytes: its payload may hold some of them (v2 has no per-message checksum)"),
        )
        .seq(previous_seq),
    );
}

/// End of the undecodable (zero-filled) chunk holding `offset`, if any.
fn undecodable_chunk_end<S: ChunkSource>(stream: &DecodedStream<S>, offset: u64) -> Option<u64> {
    stream
        .chunks
        .chunks
        .iter()
        .rev()
        .take_while(|chunk| chunk.decompressed_end() > offset)
        .find(|chunk| {
            chunk.status == ChunkStatus::Undecodable && chunk.decompressed_offset <= offset
        })
        .map(|chunk| chunk.decompressed_end())
}

/// Why a message entry header cannot be real, if it cannot.
fn implausible_message(
    header: &v2::EntryHeader,
    previous_seq: u64,
    state: Option<&StreamState>,
) -> Option<String> {
    if header.name.is_empty() || header.name.len() > 65_536 {
        return Some(format!("subject of {} bytes", header.name.len()));
    }
    if header.name.iter().any(|&byte| byte <= b' ' || byte == 0x7f) {
        return Some("subject holds spaces or control bytes".into());
    }
    if header.header_size > 0 && header.header_size < 10 {
        return Some(format!("header block of {} bytes", header.header_size));
    }
    if header.payload_size > 64 << 20 {
        return Some(format!(
            "payload of {} bytes (the server's max_payload limit is 64 MiB)",
            header.payload_size
        ));
    }
    if let Some(state) = state {
        // The snapshot can end with at most a message or so past last_seq.
        if state.last_seq > 0
            && header.sequence > state.last_seq.saturating_add(1_000_000)
            && header.sequence > previous_seq.saturating_add(1_000_000)
        {
            return Some(format!(
                "sequence {} is far past the snapshot's last sequence {}",
                header.sequence, state.last_seq
            ));
        }
    }
    None
}

/// Records what is wrong here, then looks for the next readable entry; false when none.
fn report_and_resync<S: ChunkSource>(
    stream: &mut DecodedStream<S>,
    backup: &mut Backup,
    finding: Finding,
    previous_seq: u64,
) -> bool {
    backup.findings.push(finding);
    resync_v2(stream, backup, previous_seq)
}

/// Searches forward for the next plausible message entry; true when found.
fn resync_v2<S: ChunkSource>(
    stream: &mut DecodedStream<S>,
    backup: &mut Backup,
    previous_seq: u64,
) -> bool {
    stream.accept_discontinuity();
    let lost_from = stream.pos();
    const WINDOW: usize = 1 << 16;
    loop {
        stream.accept_discontinuity();
        let stop = stream.fill(WINDOW).err();
        let buffered = stream.buffered();
        let mut found: Option<(usize, u64)> = None;
        for start in 0..buffered.len() {
            let Some((candidate, used)) =
                v2::plausible_message_header(&buffered[start..], previous_seq)
            else {
                continue;
            };
            // Confirm with the entry that follows (or the sentinel), when it is in view.
            let next_at = start + used + candidate.data_len() as usize;
            let confirmed = match buffered.get(next_at..) {
                Some(rest) if rest.len() >= 5 => {
                    rest[..5] == [0, 0, 0, 0, 0]
                        || v2::plausible_message_header(rest, candidate.sequence).is_some()
                }
                _ => stop.is_some() && next_at == buffered.len(),
            };
            if confirmed {
                found = Some((start, candidate.sequence));
                break;
            }
        }
        if let Some((start, next_seq)) = found {
            let _ = stream.skip(start as u64);
            backup.findings.push(
                Finding::error(
                    FindingKind::LostData,
                    format!(
                        "resynchronised at sequence {next_seq}: decompressed bytes {lost_from}..{} are unreadable; sequences {}..{} are lost",
                        stream.pos(),
                        previous_seq.saturating_add(1),
                        next_seq.saturating_sub(1)
                    ),
                )
                .seq(previous_seq.saturating_add(1))
                .offset(lost_from),
            );
            return true;
        }
        if stop == Some(StreamStop::End) {
            backup.findings.push(
                Finding::error(
                    FindingKind::LostData,
                    format!("no readable entry after decompressed offset {lost_from}: every sequence after {previous_seq} is lost"),
                )
                .seq(previous_seq.saturating_add(1))
                .offset(lost_from),
            );
            return false;
        }
        // Keep a tail in case a header straddles the window edge; bytes before a
        // discontinuity are not contiguous with what follows, so drop them all.
        let keep = if stop == Some(StreamStop::Discontinuity) {
            0
        } else {
            64.min(buffered.len())
        };
        let advance = buffered.len() - keep;
        if advance == 0 && stop.is_none() {
            return false;
        }
        let _ = stream.skip(advance as u64);
    }
}

// ---------------------------------------------------------------- v1

fn block_index_of(name: &str) -> Option<u64> {
    name.strip_prefix("msgs/")?
        .strip_suffix(".blk")?
        .parse()
        .ok()
}

fn scan_v1<S: ChunkSource>(
    stream: &mut DecodedStream<S>,
    backup: &mut Backup,
    scan: &mut Scan,
    control: &mut ScanControl,
) -> Result<(), OpenError> {
    let mut tar = TarReader::new();
    let mut data: Vec<u8> = Vec::new();
    let mut stream_key_name: Option<String> = None;
    loop {
        report_progress(stream, backup, scan, control)?;
        let header = match tar.next(stream) {
            Ok(TarEvent::End) => {
                scan.saw_end = true;
                break;
            }
            Ok(TarEvent::Member(header)) => header,
            Err(error) => {
                if handle_tar_error(stream, &mut tar, backup, error) {
                    continue;
                }
                break;
            }
        };
        let name = header.name.replace('\\', "/");
        backup.entries.push(EntryInfo {
            name: name.clone(),
            header_offset: header.header_offset,
            data_offset: header.data_offset,
            size: header.size,
        });
        if !header.is_regular() {
            backup.findings.push(
                Finding::error(
                    FindingKind::UnexpectedEntry,
                    format!("tar member {name:?} is not a regular file (type {:?}); the server rejects the restore", header.typeflag as char),
                )
                .entry(name.clone())
                .offset(header.header_offset),
            );
            continue;
        }
        if name.split('/').any(|part| part == "..") || name.starts_with('/') {
            backup.findings.push(
                Finding::error(
                    FindingKind::UnexpectedEntry,
                    format!("tar member {name:?} points outside the stream directory"),
                )
                .entry(name.clone())
                .offset(header.header_offset),
            );
            continue;
        }
        if let Err(error) = tar.read_data(stream, header.size, &mut data) {
            backup.findings.push(
                Finding::error(
                    FindingKind::TarTruncated,
                    format!(
                        "tar member {name:?} is cut short: {} of {} bytes present",
                        data.len(),
                        header.size
                    ),
                )
                .entry(name.clone())
                .offset(header.data_offset),
            );
            // Keep every whole record of a cut block.
            if let Some(block_index) = block_index_of(&name) {
                let key = block_key(backup, stream_key_name.as_deref(), block_index);
                scan_block(
                    backup,
                    scan,
                    &name,
                    block_index,
                    &data,
                    header.data_offset,
                    &key,
                );
                // Bytes went missing inside the block: what follows the gap, up to the
                // next tar header, still holds records whose checksums can be verified.
                if let TarError::Discontinuity { offset } = error {
                    let mut rest = Vec::new();
                    let rest_offset = stream.pos();
                    let max_keep = (header.size as usize).saturating_sub(data.len());
                    let found = tar.resync_collecting(stream, &mut rest, max_keep);
                    let before = backup.messages.len();
                    scan_block_rest(backup, scan, &name, block_index, &rest, rest_offset, &key);
                    let recovered = backup.messages.len() - before;
                    let message = match found {
                        Some(next) => format!(
                            "bytes of {name} are missing from decompressed offset {offset}; {recovered} message(s) after the gap recovered by their checksums; resynchronised at the tar header at {next}"
                        ),
                        None => format!(
                            "bytes of {name} are missing from decompressed offset {offset}; {recovered} message(s) after the gap recovered by their checksums; no tar header follows"
                        ),
                    };
                    backup.findings.push(
                        Finding::error(FindingKind::LostData, message)
                            .entry(name.clone())
                            .offset(offset),
                    );
                    if found.is_some() {
                        continue;
                    }
                    break;
                }
            }
            if handle_tar_error(stream, &mut tar, backup, error) {
                continue;
            }
            break;
        }
        if name == "meta.inf" {
            stream_key_name = parse_meta_inf(backup, &data, header.data_offset);
        } else if name == "meta.sum" {
            scan.meta_sum = Some(data.clone());
        } else if let Some(block_index) = block_index_of(&name) {
            scan_block(
                backup,
                scan,
                &name,
                block_index,
                &data,
                header.data_offset,
                &block_key(backup, stream_key_name.as_deref(), block_index),
            );
        } else if name == "msgs/index.db" {
            scan.index_db = Some(data.clone());
            scan.index_db_entry_offset = header.data_offset;
        } else if let Some(block_index) = name
            .strip_prefix("msgs/")
            .and_then(|rest| rest.strip_suffix(".idx"))
            .and_then(|number| number.parse::<u64>().ok())
        {
            // ≤ 2.9: the block's state and delete list.
            scan.legacy_idx.insert(block_index, data.clone());
        } else if name.starts_with("msgs/") && name.ends_with(".fss") {
            // ≤ 2.9 per-block subject summaries: the blocks say the same.
        } else if let Some(rest) = name.strip_prefix("obs/") {
            match rest.rsplit_once('/') {
                Some((consumer, file)) if !consumer.is_empty() => {
                    let files = scan.consumer_files.entry(consumer.to_string()).or_default();
                    match file {
                        "meta.inf" => files.meta_inf = Some((data.clone(), header.data_offset)),
                        "meta.sum" => files.meta_sum = Some(data.clone()),
                        "o.dat" => files.odat = Some((data.clone(), header.data_offset)),
                        _ => backup.findings.push(
                            Finding::warning(
                                FindingKind::UnexpectedEntry,
                                format!("unexpected consumer file {name:?}"),
                            )
                            .entry(name.clone())
                            .offset(header.header_offset),
                        ),
                    }
                }
                _ => backup.findings.push(
                    Finding::warning(
                        FindingKind::UnexpectedEntry,
                        format!("unexpected member {name:?}"),
                    )
                    .entry(name.clone())
                    .offset(header.header_offset),
                ),
            }
        } else if name == "errors.txt" {
            backup.findings.push(
                Finding::error(
                    FindingKind::ErrorsTxt,
                    format!("the server failed while writing this snapshot, the archive is incomplete: {}", String::from_utf8_lossy(&data)),
                )
                .entry(name.clone())
                .offset(header.data_offset),
            );
        } else {
            backup.findings.push(
                Finding::warning(
                    FindingKind::UnexpectedEntry,
                    format!("unexpected member {name:?}"),
                )
                .entry(name.clone())
                .offset(header.header_offset),
            );
        }
    }
    finish_v1(backup, scan);
    Ok(())
}

/// Reports a tar error; true when reading can go on (after resynchronising).
fn handle_tar_error<S: ChunkSource>(
    stream: &mut DecodedStream<S>,
    tar: &mut TarReader,
    backup: &mut Backup,
    error: TarError,
) -> bool {
    match error {
        TarError::MissingTrailer { offset } => {
            backup.findings.push(
                Finding::error(
                    FindingKind::TarMissingTrailer,
                    "tar ends without the end-of-archive marker (two zero blocks): the archive is incomplete",
                )
                .offset(offset),
            );
            false
        }
        TarError::Truncated { offset, what } => {
            backup.findings.push(
                Finding::error(
                    FindingKind::TarTruncated,
                    format!("archive ends inside a tar {what}: the archive is incomplete"),
                )
                .offset(offset),
            );
            false
        }
        TarError::BadHeader { offset, reason } => {
            backup.findings.push(
                Finding::error(FindingKind::TarHeader, format!("bad tar header: {reason}"))
                    .offset(offset),
            );
            resync_tar(stream, tar, backup, offset)
        }
        TarError::Discontinuity { offset } => resync_tar(stream, tar, backup, offset),
    }
}

fn resync_tar<S: ChunkSource>(
    stream: &mut DecodedStream<S>,
    tar: &mut TarReader,
    backup: &mut Backup,
    from: u64,
) -> bool {
    match tar.resync(stream) {
        Some(offset) => {
            backup.findings.push(
                Finding::error(
                    FindingKind::LostData,
                    format!("resynchronised at the tar header at decompressed offset {offset}; bytes {from}..{offset} are unreadable"),
                )
                .offset(from),
            );
            true
        }
        None => {
            backup.findings.push(
                Finding::error(
                    FindingKind::LostData,
                    format!("no readable tar header after decompressed offset {from}"),
                )
                .offset(from),
            );
            false
        }
    }
}

fn parse_meta_inf(backup: &mut Backup, data: &[u8], offset: u64) -> Option<String> {
    backup.meta_inf_raw = Some(data.to_vec());
    match serde_json::from_slice::<Value>(data) {
        Ok(Value::Object(mut object)) => {
            backup.created = object
                .remove("Created")
                .and_then(|created| created.as_str().map(str::to_string));
            let name = object
                .get("name")
                .and_then(Value::as_str)
                .map(str::to_string);
            if let Some(name) = &name {
                if !backup.stream_name.is_empty() && backup.stream_name != *name {
                    backup.findings.push(
                        Finding::warning(
                            FindingKind::MetaInf,
                            format!(
                                "meta.inf names stream {name:?} but backup.json names {:?}",
                                backup.stream_name
                            ),
                        )
                        .entry("meta.inf"),
                    );
                }
                backup.stream_name = name.clone();
            }
            backup.config = StreamConfig::from_json(&Value::Object(object));
            name
        }
        Ok(_) | Err(_) => {
            backup.findings.push(
                Finding::error(
                    FindingKind::MetaInf,
                    "meta.inf is not a JSON object (the restore requires it)",
                )
                .entry("meta.inf")
                .offset(offset),
            );
            None
        }
    }
}

/// Record checksums of block N are keyed by "STREAM-N", with the stream name of
/// meta.inf (else backup.json's).
fn block_key(backup: &Backup, meta_inf_name: Option<&str>, block_index: u64) -> Hh64Key {
    let stream_name = meta_inf_name.unwrap_or(&backup.stream_name);
    Hh64Key::new(&format!("{stream_name}-{block_index}"))
}

/// The part of a block after lost bytes: records are searched from the first one
/// whose checksum verifies; the block's own length and last checksum are not known.
fn scan_block_rest(
    backup: &mut Backup,
    scan: &mut Scan,
    entry: &str,
    block_index: u64,
    rest: &[u8],
    rest_offset: u64,
    key: &Hh64Key,
) {
    let mut budget = rest.len().saturating_mul(4).saturating_add(1 << 20);
    let Some(first) = find_next_record(rest, 0, key, &mut budget) else {
        return;
    };
    let known = scan.blocks.get(&block_index).copied();
    scan_block(
        backup,
        scan,
        entry,
        block_index,
        &rest[first..],
        rest_offset + first as u64,
        key,
    );
    // Keep the block's length and last checksum from the part read before the gap.
    if let Some(known) = known {
        scan.blocks.insert(block_index, known);
    }
}

#[allow(clippy::too_many_arguments)]
fn scan_block(
    backup: &mut Backup,
    scan: &mut Scan,
    entry: &str,
    block_index: u64,
    data: &[u8],
    data_offset: u64,
    key: &Hh64Key,
) {
    let mut last8 = [0u8; 8];
    if data.len() >= 8 {
        last8.copy_from_slice(&data[data.len() - 8..]);
    }
    scan.blocks.insert(block_index, (data.len() as u64, last8));
    let mut last_in_block: u64 = 0;
    let mut damaged: Vec<(u64, u64)> = Vec::new();
    let mut visit = |record: &filestore::Record| {
        scan.highest_seq_seen = scan.highest_seq_seen.max(record.seq);
        if !record.checksum_ok {
            damaged.push((record.seq, record.offset as u64));
            if record.kind == RecordKind::Message {
                scan.damaged_seqs.push(record.seq);
            }
            return;
        }
        match record.kind {
            RecordKind::Tombstone => {
                scan.tombstones.insert(record.seq);
            }
            RecordKind::Erased => {
                if record.seq != 0 {
                    scan.erased.insert(record.seq);
                }
            }
            RecordKind::Zero => {}
            RecordKind::Message => {
                // Duplicates and out-of-order records inside a block are ignored, like the server.
                if record.seq <= last_in_block {
                    return;
                }
                last_in_block = record.seq;
                let subject = data
                    .get(record.subject_start..record.subject_start + record.subject_len)
                    .unwrap_or_default();
                let header_block = data
                    .get(record.hdr_start..record.hdr_start + record.hdr_len)
                    .unwrap_or_default();
                let (message_flags, ttl) = headers::classify(header_block);
                let subject_id = backup.subjects.intern(subject);
                if ttl != Ttl::None {
                    backup.messages.ttls.push((record.seq, ttl));
                }
                backup.messages.push(MessageRow {
                    seq: record.seq,
                    ts_ns: record.ts_ns,
                    subject_id,
                    hdr_len: record.hdr_len as u32,
                    data_len: record.data_len as u32,
                    offset: data_offset + record.hdr_start as u64,
                    flags: message_flags,
                });
                scan.row_block.push(block_index);
                scan.row_record_len.push(record.len);
            }
        }
    };
    // Walk the block; after a malformed record, look for the next record whose checksum
    // verifies and go on from there (the server would truncate the block instead).
    let mut start = 0usize;
    // Verifying candidates hashes bytes; bound the total so hostile blocks stay linear.
    let mut hash_budget = data.len().saturating_mul(4).saturating_add(1 << 20);
    let mut framing_errors: Vec<(usize, String, Option<usize>)> = Vec::new();
    while start < data.len() {
        let slice = &data[start..];
        let walked = filestore::walk_records(slice, key, |record| {
            let mut absolute = *record;
            absolute.offset += start;
            absolute.subject_start += start;
            absolute.hdr_start += start;
            absolute.data_start += start;
            visit(&absolute);
        });
        let Err(error) = walked else { break };
        let bad_at = start + error.offset;
        let next = find_next_record(data, bad_at + 1, key, &mut hash_budget);
        framing_errors.push((bad_at, error.reason, next));
        match next {
            Some(next) => start = next,
            None => break,
        }
    }
    let first_bad = damaged
        .iter()
        .map(|(_, offset)| *offset as usize)
        .chain(framing_errors.iter().map(|(bad_at, _, _)| *bad_at))
        .min();
    if let Some(first_bad) = first_bad {
        scan.block_first_bad.insert(
            block_index,
            (
                data_offset + first_bad as u64,
                data_offset + data.len() as u64,
            ),
        );
    }
    for (seq, offset) in damaged {
        backup.findings.push(
            Finding::error(
                FindingKind::RecordChecksum,
                format!("message seq {seq} in {entry} fails its record checksum (HighwayHash-64): its bytes are damaged"),
            )
            .entry(entry.to_string())
            .seq(seq)
            .offset(data_offset + offset),
        );
    }
    for (bad_at, reason, next) in framing_errors {
        let message = match next {
            Some(next) => format!(
                "{entry}: record at block offset {bad_at} is malformed ({reason}); bytes {bad_at}..{next} of the block are unreadable, reading resumed at the next record whose checksum verifies (the server would truncate the block here)"
            ),
            None => format!(
                "{entry}: record at block offset {bad_at} is malformed ({reason}); the {} bytes after it hold no readable record (the server truncates the block here)",
                data.len() - bad_at
            ),
        };
        backup.findings.push(
            Finding::error(FindingKind::BlockRecord, message)
                .entry(entry.to_string())
                .offset(data_offset + bad_at as u64),
        );
    }
}

/// The next offset ≥ `from` where a whole record with a valid checksum starts.
fn find_next_record(
    data: &[u8],
    from: usize,
    key: &Hh64Key,
    hash_budget: &mut usize,
) -> Option<usize> {
    let mut position = from;
    while position + filestore::EMPTY_RECORD_LEN <= data.len() {
        let candidate = &data[position..];
        let raw_len = u32::from_le_bytes([candidate[0], candidate[1], candidate[2], candidate[3]]);
        let len = (raw_len & !filestore::HBIT) as usize;
        let subject_len = usize::from(u16::from_le_bytes([candidate[20], candidate[21]]));
        let plausible = len >= filestore::EMPTY_RECORD_LEN
            && len <= candidate.len()
            && len <= filestore::RL_BAD_THRESHOLD as usize
            && subject_len + filestore::EMPTY_RECORD_LEN <= len;
        if plausible {
            if *hash_budget < len {
                return None;
            }
            *hash_budget -= len;
            let mut verified = false;
            let one = filestore::walk_records(&candidate[..len], key, |record| {
                verified = record.checksum_ok && record.offset == 0;
            });
            if one.is_ok() && verified {
                return Some(position);
            }
        }
        position += 1;
    }
    None
}

/// Is index.db trustworthy for these blocks (the server's rules)?
fn index_db_trust(index: &IndexDb, blocks: &BTreeMap<u64, (u64, [u8; 8])>) -> Result<(), String> {
    let Some(last_listed) = index.blocks.last() else {
        return Err("index.db lists no blocks".into());
    };
    if last_listed.index != index.last_block_index {
        return Err(format!(
            "last listed block {} is not the last block index {}",
            last_listed.index, index.last_block_index
        ));
    }
    match blocks.get(&index.last_block_index) {
        Some((_, last8)) if *last8 == index.last_checksum => {}
        Some(_) => return Err(format!("the last checksum of msgs/{}.blk does not match index.db (blocks changed after the index was written)", index.last_block_index)),
        None => return Err(format!("msgs/{}.blk is missing", index.last_block_index)),
    }
    if let Some((&highest, _)) = blocks.iter().next_back() {
        if highest > index.last_block_index {
            return Err(format!("msgs/{highest}.blk is newer than index.db"));
        }
    }
    let mut msgs = 0u64;
    let mut bytes = 0u64;
    let mut last_seq = 0u64;
    let mut first_seq: Option<u64> = None;
    let count = index.blocks.len();
    for (position, block) in index.blocks.iter().enumerate() {
        let kept = block.msgs() > 0 || position + 1 == count;
        if !kept {
            continue;
        }
        if !blocks.contains_key(&block.index) {
            return Err(format!(
                "msgs/{}.blk is listed in index.db but missing",
                block.index
            ));
        }
        msgs = msgs.saturating_add(block.msgs());
        bytes = bytes.saturating_add(block.bytes);
        last_seq = last_seq.max(block.last_seq);
        match first_seq {
            None => first_seq = Some(block.first_seq),
            Some(current) if block.first_seq < current && block.first_ts_ns != 0 => {
                first_seq = Some(block.first_seq)
            }
            _ => {}
        }
    }
    if msgs != index.msgs || bytes != index.bytes || last_seq != index.last_seq {
        return Err(format!(
            "block totals (msgs {msgs}, bytes {bytes}, last_seq {last_seq}) disagree with the header (msgs {}, bytes {}, last_seq {})",
            index.msgs, index.bytes, index.last_seq
        ));
    }
    if let Some(first) = first_seq {
        if first > 1 && first != index.first_seq {
            return Err(format!(
                "block first sequence {first} disagrees with the header {}",
                index.first_seq
            ));
        }
    }
    Ok(())
}

fn finish_v1(backup: &mut Backup, scan: &mut Scan) {
    let stream_name = backup.stream_name.clone();
    // meta.sum
    if let (Some(raw), Some(sum)) = (&backup.meta_inf_raw, &scan.meta_sum) {
        let expected = Hh64Key::new(&stream_name).sum_hex(raw);
        if sum.as_slice() != expected.as_bytes() {
            backup.findings.push(
                Finding::error(
                    FindingKind::MetaSum,
                    format!("meta.sum is {:?}, expected {expected}: a server skips this stream at startup", String::from_utf8_lossy(sum)),
                )
                .entry("meta.sum"),
            );
        }
    } else if backup.meta_inf_raw.is_none() {
        backup.findings.push(
            Finding::error(
                FindingKind::MetaInf,
                "meta.inf is missing: the server refuses the restore",
            )
            .entry("meta.inf"),
        );
    } else {
        backup
            .findings
            .push(Finding::warning(FindingKind::MetaSum, "meta.sum is missing").entry("meta.sum"));
    }
    // index.db
    let mut trusted: Option<IndexDb> = None;
    let mut parsed_index_last: Option<u64> = None;
    if let Some(raw) = scan.index_db.take() {
        match index_db::parse_index_db(&raw, &stream_name) {
            Ok(index) => {
                scan.index_live = index
                    .blocks
                    .iter()
                    .filter(|block| block.last_seq >= block.first_seq.max(index.first_seq))
                    .map(|block| {
                        (
                            block.first_seq.max(index.first_seq),
                            block.last_seq,
                            block.deleted.clone(),
                        )
                    })
                    .collect();
                backup.archive_state = Some(StreamState {
                    messages: index.msgs,
                    bytes: index.bytes,
                    first_seq: index.first_seq,
                    last_seq: index.last_seq,
                    first_ts_ns: index.first_ts_ns,
                    last_ts_ns: index.last_ts_ns,
                    num_deleted: if index.last_seq > index.first_seq {
                        (index.last_seq - index.first_seq)
                            .saturating_add(1)
                            .saturating_sub(index.msgs)
                    } else {
                        0
                    },
                    num_subjects: index.subjects.len() as u64,
                    consumer_count: scan.consumer_files.len() as u64,
                });
                parsed_index_last = Some(index.last_seq);
                match index_db_trust(&index, &scan.blocks) {
                    Ok(()) => trusted = Some(index),
                    Err(reason) => backup.findings.push(
                        Finding::warning(
                            FindingKind::IndexDbStale,
                            format!("index.db is not used ({reason}); deletions made through limits (max_msgs, max_bytes, KV history, max_age) cannot be seen from blocks alone"),
                        )
                        .entry("msgs/index.db")
                        .offset(scan.index_db_entry_offset),
                    ),
                }
            }
            Err(reason) => backup.findings.push(
                Finding::error(
                    FindingKind::IndexDb,
                    format!("index.db cannot be used: {reason}"),
                )
                .entry("msgs/index.db")
                .offset(scan.index_db_entry_offset),
            ),
        }
    } else if !scan.blocks.is_empty() {
        backup.findings.push(
            Finding::info(FindingKind::IndexDb, "no msgs/index.db: state rebuilt from blocks; deletions made through limits cannot be seen")
                .entry("msgs/index.db"),
        );
    }
    // ≤ 2.9 archives: a block's .idx is used when it parses, adds up and matches the block.
    let mut legacy: FxHashMap<u64, legacy_idx::LegacyIdx> = FxHashMap::default();
    if trusted.is_none() {
        for (block_index, raw) in std::mem::take(&mut scan.legacy_idx) {
            let entry = format!("msgs/{block_index}.idx");
            match legacy_idx::parse_legacy_idx(&raw) {
                Ok(idx) => {
                    let matches = match scan.blocks.get(&block_index) {
                        Some((len, last8)) => {
                            *last8 == idx.last_checksum || (*len == 0 && idx.msgs == 0)
                        }
                        None => false,
                    };
                    if matches {
                        legacy.insert(block_index, idx);
                    } else {
                        backup.findings.push(
                            Finding::warning(FindingKind::IndexDbStale, format!("{entry} does not match its block: the block's deletes are rebuilt from records"))
                                .entry(entry),
                        );
                    }
                }
                Err(reason) => backup.findings.push(
                    Finding::warning(FindingKind::IndexDb, format!("{entry}: {reason}"))
                        .entry(entry),
                ),
            }
        }
    }
    // Liveness (format document §5.7).
    let (first_seq, last_seq) = match &trusted {
        Some(index) => (index.first_seq, index.last_seq),
        None => {
            // The server keeps a stale index.db's last_seq when it is above what the
            // blocks show (it writes a tombstone there), so sequences are not reused.
            let last = scan
                .highest_seq_seen
                .max(scan.tombstones.iter().copied().max().unwrap_or(0))
                .max(parsed_index_last.unwrap_or(0))
                .max(legacy.values().map(|idx| idx.last_seq).max().unwrap_or(0));
            let first = backup
                .messages
                .seq
                .iter()
                .copied()
                .filter(|seq| !scan.tombstones.contains(seq) && !scan.erased.contains(seq))
                .min()
                .unwrap_or(if last == 0 { 0 } else { last.saturating_add(1) });
            (first, last)
        }
    };
    let block_map: FxHashMap<u64, &index_db::IndexBlock> = trusted
        .as_ref()
        .map(|index| {
            index
                .blocks
                .iter()
                .map(|block| (block.index, block))
                .collect()
        })
        .unwrap_or_default();
    let mut keep = vec![false; backup.messages.len()];
    // Sequences normally ascend through the blocks; only when they do not is a set needed
    // to keep the first copy of a sequence.
    let mut highest_kept = 0u64;
    let mut seen: Option<FxHashSet<u64>> = None;
    for (row, keep_row) in keep.iter_mut().enumerate() {
        let seq = backup.messages.seq[row];
        if seq < first_seq
            || seq > last_seq
            || scan.tombstones.contains(&seq)
            || scan.erased.contains(&seq)
        {
            continue;
        }
        if trusted.is_none() {
            let block_index = scan.row_block.get(row).copied().unwrap_or(0);
            if let Some(idx) = legacy.get(&block_index) {
                if seq < idx.first_seq
                    || seq > idx.last_seq
                    || idx.deleted.binary_search(&seq).is_ok()
                {
                    continue;
                }
            }
        }
        if trusted.is_some() {
            let block_index = scan.row_block.get(row).copied().unwrap_or(0);
            let Some(block) = block_map.get(&block_index) else {
                continue;
            };
            if seq < block.first_seq
                || seq > block.last_seq
                || block.deleted.binary_search(&seq).is_ok()
            {
                continue;
            }
        }
        if seq <= highest_kept {
            let set = seen.get_or_insert_with(|| {
                backup.messages.seq[..row]
                    .iter()
                    .copied()
                    .filter(|&earlier| earlier <= highest_kept)
                    .collect()
            });
            if !set.insert(seq) {
                continue;
            }
        } else if let Some(set) = seen.as_mut() {
            set.insert(seq);
        }
        highest_kept = highest_kept.max(seq);
        *keep_row = true;
    }
    let record_len = std::mem::take(&mut scan.row_record_len);
    let live_bytes: u64 = record_len
        .iter()
        .zip(keep.iter())
        .filter(|(_, &kept)| kept)
        .map(|(&len, _)| u64::from(len))
        .sum();
    backup.messages.retain_rows(&keep);
    backup.messages.sort_by_seq();
    backup.state.bytes = live_bytes;
    backup.state.first_seq = first_seq;
    backup.state.last_seq = last_seq;
    if trusted.is_none() {
        // Rebuilding a block without a usable index, the server cuts it at the first bad record.
        for (&block_index, &(bad_at, block_end)) in &scan.block_first_bad {
            let after: Vec<u64> = (0..backup.messages.len())
                .filter(|&row| {
                    let offset = backup.messages.offset(row);
                    offset > bad_at && offset < block_end
                })
                .map(|row| backup.messages.seq[row])
                .collect();
            if let (Some(first), Some(last)) = (after.first(), after.last()) {
                backup.findings.push(
                    Finding::warning(
                        FindingKind::BlockRecord,
                        format!(
                            "without a usable index.db, nats-server rebuilds msgs/{block_index}.blk and truncates it at its first bad record: restoring this archive as it is loses {} intact messages ({first}..{last}); `export --salvage` keeps them",
                            after.len()
                        ),
                    )
                    .entry(format!("msgs/{block_index}.blk"))
                    .seq(*first)
                    .offset(bad_at),
                );
            }
        }
    }
    if let Some(index) = &trusted {
        let live = backup.messages.len() as u64;
        if live != index.msgs {
            backup.findings.push(
                Finding::warning(
                    FindingKind::StateMismatch,
                    format!("index.db counts {} messages, {live} readable", index.msgs),
                )
                .entry("msgs/index.db"),
            );
        }
    }
    // Consumers.
    let consumer_files = std::mem::take(&mut scan.consumer_files);
    for (name, files) in consumer_files {
        let entry = format!("obs/{name}/");
        let mut config = Value::Null;
        let mut created = None;
        let mut meta_raw = None;
        match &files.meta_inf {
            Some((raw, offset)) => {
                meta_raw = Some(raw.clone());
                match serde_json::from_slice::<Value>(raw) {
                    Ok(Value::Object(mut object)) => {
                        created = object
                            .remove("Created")
                            .and_then(|c| c.as_str().map(str::to_string));
                        object.remove("Name");
                        config = Value::Object(object);
                    }
                    _ => backup.findings.push(
                        Finding::error(
                            FindingKind::ConsumerMeta,
                            format!("consumer {name:?}: meta.inf is not a JSON object"),
                        )
                        .entry(format!("{entry}meta.inf"))
                        .offset(*offset),
                    ),
                }
                let expected = Hh64Key::new(&format!("{stream_name}/{name}")).sum_hex(raw);
                match &files.meta_sum {
                    Some(sum) if sum.as_slice() == expected.as_bytes() => {}
                    Some(sum) => backup.findings.push(
                        Finding::error(
                            FindingKind::MetaSum,
                            format!(
                                "consumer {name:?}: meta.sum is {:?}, expected {expected}",
                                String::from_utf8_lossy(sum)
                            ),
                        )
                        .entry(format!("{entry}meta.sum")),
                    ),
                    None => backup.findings.push(
                        Finding::error(
                            FindingKind::MetaSum,
                            format!(
                                "consumer {name:?}: meta.sum is missing (the restore requires it)"
                            ),
                        )
                        .entry(format!("{entry}meta.sum")),
                    ),
                }
            }
            None => backup.findings.push(
                Finding::error(
                    FindingKind::ConsumerMeta,
                    format!("consumer {name:?}: meta.inf is missing (the restore requires it)"),
                )
                .entry(format!("{entry}meta.inf")),
            ),
        }
        let mut state = ConsumerState::default();
        match &files.odat {
            Some((raw, offset)) => match index_db::parse_odat(raw) {
                Ok(decoded) => {
                    state.ack_floor = SequencePair {
                        consumer_seq: decoded.ack_floor.0,
                        stream_seq: decoded.ack_floor.1,
                    };
                    state.delivered = SequencePair {
                        consumer_seq: decoded.delivered.0,
                        stream_seq: decoded.delivered.1,
                    };
                    state.pending = decoded
                        .pending
                        .iter()
                        .map(|&(stream_seq, consumer_seq, timestamp_ns)| PendingEntry {
                            stream_seq,
                            consumer_seq,
                            timestamp_ns,
                        })
                        .collect();
                    state.redelivered = decoded.redelivered;
                }
                Err(reason) => backup.findings.push(
                    Finding::error(
                        FindingKind::ConsumerState,
                        format!("consumer {name:?}: {reason}"),
                    )
                    .entry(format!("{entry}o.dat"))
                    .offset(*offset),
                ),
            },
            None => backup.findings.push(
                Finding::warning(
                    FindingKind::ConsumerState,
                    format!("consumer {name:?}: o.dat is missing; its state is unknown"),
                )
                .entry(format!("{entry}o.dat")),
            ),
        }
        backup.consumers.push(ConsumerInfo {
            name,
            config,
            created,
            state,
            entry,
            meta_inf_raw: meta_raw,
        });
    }
}

// ---------------------------------------------------------------- both

fn report_s2_problems(problems: &[S2Problem], backup: &mut Backup) {
    for problem in problems {
        let (kind, message) = match problem {
            S2Problem::NoIdentifier { .. } => (FindingKind::NotAnArchive, problem.to_string()),
            S2Problem::CrcMismatch { .. } => (FindingKind::S2Crc, problem.to_string()),
            S2Problem::Truncated { .. } => (
                FindingKind::S2Truncated,
                format!("{problem}: the last chunk is incomplete"),
            ),
            _ => (FindingKind::S2Framing, problem.to_string()),
        };
        let mut finding = Finding::error(kind, message).file_offset(problem.file_offset());
        if let S2Problem::CrcMismatch {
            decompressed_offset,
            ..
        }
        | S2Problem::Undecodable {
            decompressed_offset,
            ..
        } = problem
        {
            finding = finding.offset(*decompressed_offset);
        }
        backup.findings.push(finding);
    }
}

/// Flags messages whose bytes lie in a chunk that failed its CRC or did not decode.
/// Returns the sequences removed because their bytes were zero-filled.
fn mark_damaged_chunks(backup: &mut Backup) -> Vec<u64> {
    let bad: Vec<(u64, u64, ChunkStatus)> = backup
        .chunks
        .iter()
        .filter(|chunk| chunk.status != ChunkStatus::Ok)
        .map(|chunk| {
            (
                chunk.decompressed_offset,
                chunk.decompressed_end(),
                chunk.status,
            )
        })
        .collect();
    if bad.is_empty() {
        return Vec::new();
    }
    let v1 = backup.format == Some(ArchiveFormat::V1);
    let mut keep = vec![true; backup.messages.len()];
    for (row, keep_row) in keep.iter_mut().enumerate() {
        let start = backup.messages.offset(row);
        let end = start
            + u64::from(backup.messages.hdr_len(row))
            + u64::from(backup.messages.data_len[row]);
        for &(from, to, status) in &bad {
            if start < to && end > from {
                backup.messages.set_flags(row, flags::DAMAGED);
                // Zero-filled bytes are not the message; v1 record checksums already excluded bad records.
                if status == ChunkStatus::Undecodable && !v1 {
                    *keep_row = false;
                }
            }
        }
    }
    let removed: Vec<u64> = keep
        .iter()
        .zip(backup.messages.seq.iter())
        .filter(|(kept, _)| !**kept)
        .map(|(_, &seq)| seq)
        .collect();
    if !removed.is_empty() {
        backup.messages.retain_rows(&keep);
        backup.findings.push(Finding::error(
            FindingKind::LostData,
            format!(
                "{} message(s) have bytes in an undecodable S2 chunk and are left out (first: sequence {})",
                removed.len(),
                removed[0]
            ),
        ));
    }
    removed
}

fn finish_model(backup: &mut Backup) {
    backup.messages.finish();
    backup.messages.ttls.sort_unstable_by_key(|(seq, _)| *seq);
    backup.messages.ttls.dedup_by_key(|(seq, _)| *seq);
    // Keep TTLs only for live messages.
    let seqs = &backup.messages.seq;
    backup
        .messages
        .ttls
        .retain(|(seq, _)| seqs.binary_search(seq).is_ok());
    backup.messages.recount_subjects(&mut backup.subjects);
    let messages = backup.messages.len() as u64;
    if backup.format == Some(ArchiveFormat::V2) {
        let archive = backup.archive_state.clone().unwrap_or_default();
        let first_message = backup.messages.seq.first().copied();
        let last_message = backup.messages.seq.last().copied().unwrap_or(0);
        // A restore compacts to state.json's first_seq and then skips the gap up to
        // the first message entry, so the first entry is the stream's first sequence.
        let first_seq = first_message.unwrap_or(archive.first_seq);
        backup.state.first_seq = first_seq;
        backup.state.last_seq = archive.last_seq.max(last_message);
        let memory = backup.config.as_ref().is_some_and(StreamConfig::is_memory);
        let mut bytes = 0u64;
        for row in 0..backup.messages.len() {
            let subject_len = backup.subjects.name(backup.messages.subject_id[row]).len();
            let hdr = backup.messages.hdr_len(row) as usize;
            let data = backup.messages.data_len[row] as usize;
            bytes += if memory {
                (subject_len + hdr + data + 16) as u64
            } else {
                filestore::record_size(subject_len, hdr, data)
            };
        }
        backup.state.bytes = bytes;
    }
    backup.state.messages = messages;
    backup.state.num_subjects = backup.subjects.live_subject_count();
    backup.state.consumer_count = backup.consumers.len() as u64;
    let fallback = backup.archive_state.clone().unwrap_or_default();
    backup.state.first_ts_ns = backup
        .messages
        .ts_ns
        .first()
        .copied()
        .unwrap_or(fallback.first_ts_ns);
    backup.state.last_ts_ns = backup
        .messages
        .ts_ns
        .last()
        .copied()
        .unwrap_or(fallback.last_ts_ns);
    // Deleted: everything in [max(first, 1), last] that is not live.
    let first = backup.state.first_seq.max(1);
    let last = backup.state.last_seq;
    let mut deleted: Vec<(u64, u64)> = Vec::new();
    if last >= first {
        let mut next = Some(first);
        for &seq in &backup.messages.seq {
            if seq < first || seq > last {
                continue;
            }
            let Some(from) = next else { break };
            if seq > from {
                deleted.push((from, seq - 1));
            }
            next = seq.checked_add(1);
        }
        if let Some(from) = next.filter(|&from| from <= last) {
            deleted.push((from, last));
        }
    }
    backup.deleted = deleted;
    backup.state.num_deleted = backup.deleted_count();
}

/// `ranges` minus `remove`, both sorted and non-overlapping, in linear time.
fn subtract_ranges(ranges: &[(u64, u64)], remove: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let mut out = Vec::with_capacity(ranges.len());
    let mut cut = 0usize;
    for &(from, to) in ranges {
        let mut start = Some(from);
        while let Some(&(_, cut_to)) = remove.get(cut) {
            if cut_to < from {
                cut += 1;
                continue;
            }
            break;
        }
        let mut index = cut;
        while let (Some(current), Some(&(cut_from, cut_to))) = (start, remove.get(index)) {
            if cut_from > to {
                break;
            }
            if cut_from > current {
                out.push((current, cut_from - 1));
            }
            start = cut_to.checked_add(1).filter(|&next| next <= to);
            if cut_to > to {
                break;
            }
            index += 1;
        }
        if let Some(current) = start {
            if current <= to {
                out.push((current, to));
            }
        }
    }
    out
}

/// Sequences the archive should hold (per its declared states) but that were not read.
fn find_lost_ranges(backup: &mut Backup, saw_end: bool, index_live: &[(u64, u64, Vec<u64>)]) {
    let damaged_archive = backup.findings.iter().any(|finding| {
        finding.severity == Severity::Error
            && matches!(
                finding.kind,
                FindingKind::S2Framing
                    | FindingKind::S2Truncated
                    | FindingKind::TarHeader
                    | FindingKind::TarTruncated
                    | FindingKind::BlockRecord
                    | FindingKind::LostData
            )
    });
    let mut index_ranges: Vec<(u64, u64)> = Vec::new();
    if damaged_archive {
        // index.db says which sequences were live: those neither read nor damaged are lost.
        // Walk each block's range by the sorted sequences it excludes, never one by one.
        for (first, last, deleted) in index_live {
            let (first, last) = (*first, *last);
            let live_from = backup.messages.lower_bound(first);
            let live_to = backup.messages.lower_bound(last.saturating_add(1));
            let mut excluded: Vec<u64> =
                backup.messages.seq[live_from..live_to.max(live_from)].to_vec();
            excluded.extend(
                deleted
                    .iter()
                    .copied()
                    .filter(|seq| (first..=last).contains(seq)),
            );
            excluded.extend(
                backup
                    .damaged_seqs
                    .iter()
                    .copied()
                    .filter(|seq| (first..=last).contains(seq)),
            );
            excluded.sort_unstable();
            excluded.dedup();
            let mut next = Some(first);
            for seq in excluded {
                let Some(from) = next else { break };
                if seq > from {
                    index_ranges.push((from, seq - 1));
                }
                next = seq.checked_add(1);
            }
            if let Some(from) = next.filter(|&from| from <= last) {
                index_ranges.push((from, last));
            }
        }
    }
    for &(from, to) in &index_ranges {
        backup.findings.push(
            Finding::error(
                FindingKind::LostData,
                format!("messages {from}..{to} are live in index.db but could not be read from the blocks: lost"),
            )
            .entry("msgs/index.db")
            .seq(from),
        );
    }
    let mut lost: Vec<(u64, u64)> = backup
        .findings
        .iter()
        .filter(|finding| finding.kind == FindingKind::LostData)
        .filter_map(|finding| {
            let from = finding.seq?;
            let next = backup.messages.lower_bound(from);
            let to = backup.messages.seq.get(next)?.checked_sub(1)?;
            (to >= from).then_some((from, to))
        })
        .collect();
    if !saw_end && index_live.is_empty() {
        let declared_last = [&backup.declared_state, &backup.archive_state]
            .iter()
            .filter_map(|state| state.as_ref().map(|state| state.last_seq))
            .max()
            .unwrap_or(0);
        let scanned_last = backup.messages.seq.last().copied().unwrap_or(0);
        if declared_last > scanned_last {
            let from = scanned_last.saturating_add(1);
            backup.findings.push(
                Finding::error(
                    FindingKind::LostData,
                    format!(
                        "the archive is incomplete: sequences {from}..{declared_last} (declared by the backup's state) are not in it; those that were live messages are lost"
                    ),
                )
                .seq(from),
            );
            lost.push((from, declared_last));
        }
    }
    lost.extend(index_ranges);
    lost.sort_unstable();
    // Merge overlapping ranges.
    let mut merged: Vec<(u64, u64)> = Vec::with_capacity(lost.len());
    for (from, to) in lost {
        match merged.last_mut() {
            Some((_, last_to)) if from <= last_to.saturating_add(1) => {
                *last_to = (*last_to).max(to)
            }
            _ => merged.push((from, to)),
        }
    }
    let lost = merged;
    // Lost sequences are unknown, not deleted: subtract them (both lists are sorted).
    if !lost.is_empty() {
        backup.deleted = subtract_ranges(&backup.deleted, &lost);
        backup.state.num_deleted = backup.deleted_count();
    }
    backup.lost = lost;
}

fn compare_states(backup: &mut Backup) {
    let scanned = backup.state.clone();
    let pairs: Vec<(&str, Option<StreamState>)> = vec![
        ("backup.json", backup.declared_state.clone()),
        (
            if backup.format == Some(ArchiveFormat::V2) {
                "state.json"
            } else {
                "msgs/index.db"
            },
            backup.archive_state.clone(),
        ),
    ];
    for (source, declared) in pairs {
        let Some(declared) = declared else { continue };
        let mut differences = Vec::new();
        for (field, declared_value, scanned_value) in [
            ("messages", declared.messages, scanned.messages),
            ("bytes", declared.bytes, scanned.bytes),
            ("first_seq", declared.first_seq, scanned.first_seq),
            ("last_seq", declared.last_seq, scanned.last_seq),
        ] {
            if declared_value != scanned_value {
                differences.push(format!(
                    "{field} {declared_value} declared, {scanned_value} scanned"
                ));
            }
        }
        if !differences.is_empty() {
            backup.findings.push(
                Finding::warning(
                    FindingKind::StateMismatch,
                    format!(
                        "{source} disagrees with the scan: {}",
                        differences.join("; ")
                    ),
                )
                .entry(source),
            );
        }
        if source == "backup.json" && declared.consumer_count != scanned.consumer_count {
            backup.findings.push(
                Finding::info(
                    FindingKind::ConsumerCountMismatch,
                    format!(
                        "backup.json counts {} consumers, the archive holds {} (backups made with --no-consumers, or memory-storage consumers in v1, differ)",
                        declared.consumer_count, scanned.consumer_count
                    ),
                )
                .entry("backup.json"),
            );
        }
    }
}

fn check_consumers(backup: &mut Backup) {
    let last_seq = backup.state.last_seq;
    let mut findings = Vec::new();
    for consumer in &backup.consumers {
        let state = &consumer.state;
        if state.ack_floor.stream_seq > state.delivered.stream_seq
            || state.ack_floor.consumer_seq > state.delivered.consumer_seq
        {
            findings.push(
                Finding::error(
                    FindingKind::ConsumerState,
                    format!("consumer {:?}: ack floor is beyond delivered (the server rejects this state)", consumer.name),
                )
                .entry(consumer.entry.clone()),
            );
        }
        if let Some(bad) = state.pending.iter().find(|entry| {
            entry.stream_seq <= state.ack_floor.stream_seq
                || entry.stream_seq > state.delivered.stream_seq
        }) {
            findings.push(
                Finding::error(
                    FindingKind::ConsumerState,
                    format!(
                        "consumer {:?}: pending sequence {} is outside (ack floor, delivered]",
                        consumer.name, bad.stream_seq
                    ),
                )
                .entry(consumer.entry.clone())
                .seq(bad.stream_seq),
            );
        }
        if state.delivered.stream_seq > last_seq {
            findings.push(
                Finding::warning(
                    FindingKind::ConsumerPastStream,
                    format!(
                        "consumer {:?}: delivered stream sequence {} is past the stream's last sequence {last_seq}",
                        consumer.name, state.delivered.stream_seq
                    ),
                )
                .entry(consumer.entry.clone()),
            );
        }
    }
    backup.findings.extend(findings);
}

#[cfg(test)]
mod tests {
    use super::subtract_ranges;

    #[test]
    fn subtracting_ranges() {
        let ranges = [(1, 10), (20, 30), (40, 40), (50, u64::MAX)];
        let remove = [(0, 2), (5, 6), (9, 21), (25, 25), (40, 40), (60, u64::MAX)];
        assert_eq!(
            subtract_ranges(&ranges, &remove),
            vec![(3, 4), (7, 8), (22, 24), (26, 30), (50, 59)]
        );
        assert_eq!(subtract_ranges(&ranges, &[]), ranges.to_vec());
        assert_eq!(subtract_ranges(&[], &remove), Vec::<(u64, u64)>::new());
    }
}
