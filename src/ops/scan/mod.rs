//! The scan: one sequential pass over a backup's archive that fills the model
//! (config, states, consumers, the message table, deleted/lost ranges, findings).
//!
//! This module opens and locates the data file, drives progress and cancel, and
//! picks the format; `v1`/`v1_blocks`/`v1_state` read a filestore tar, `v2` a
//! NATSARC1 entry stream, `reconcile` sets declared against scanned state and
//! tells deleted from lost from damaged, `consumers` reads and checks consumers.
//! Byte-level parsing and resync live in `format`; the policy (when to resync,
//! what to report) lives here.
//!
//! Never draws or prints.

pub mod budget;
pub mod chunk_lengths;
mod consumers;
mod objects;
mod reconcile;
mod v1;
mod v1_blocks;
mod v1_deletions;
mod v1_state;
mod v2;
mod v2_checks;
mod v2_rows;

use crate::format::s2::{
    ChunkRecord, ChunkSource, ChunkStatus, DecodedStream, S2Problem, StreamStop,
};
use crate::format::tar::find_header as find_tar_header;
use crate::format::v2::MAGIC as V2_MAGIC;
use crate::model::{ArchiveFormat, Backup, Finding, FindingKind, StreamConfig, StreamState};
use crate::util::fxhash::FxHashSet;
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
    /// After the scan: object-store chunks read back for their digests; the byte
    /// counts are then of those chunks' data.
    pub checking_objects: bool,
}

/// Receives progress and the model built so far.
pub type ProgressCallback<'a> = &'a mut dyn FnMut(&ScanProgress, &Backup);

/// Cancel flag and progress callback of a scan.
#[derive(Default)]
pub struct ScanControl<'a> {
    pub cancel: Option<&'a AtomicBool>,
    /// Called now and then with progress and the model built so far.
    pub on_progress: Option<ProgressCallback<'a>>,
    /// Bytes the scan may hold besides the message table; `None`: the
    /// `JSBACKUP_SCAN_MEMORY_MB` environment variable, else [`budget::DEFAULT_BUDGET`].
    pub memory_budget: Option<u64>,
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
pub(super) const MAX_REPEATED_FINDINGS: u64 = 100;

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
    let stream = super::decode::threaded_stream(BufReader::with_capacity(1 << 20, file));
    scan_decoded(stream, &mut backup, control)?;
    if backup.format.is_none() {
        let reason = backup
            .findings
            .first()
            .map(|finding| finding.message.clone())
            .unwrap_or_else(|| "nothing readable".into());
        let mut message = format!("{}: {reason}", backup.source.data_file.display());
        // What that costs, when backup.json says what the stream held.
        if let Some(state) = backup
            .declared_state
            .as_ref()
            .filter(|state| state.messages > 0)
        {
            message.push_str(&format!(
                "; nothing in the file can be decoded: the {} message{} that backup.json declares (seq {}–{}) are all lost from this copy",
                crate::model::findings::group_thousands(state.messages),
                if state.messages == 1 { "" } else { "s" },
                state.first_seq,
                state.last_seq
            ));
        }
        return Err(OpenError::Unreadable(message, Box::new(backup)));
    }
    // After the scan: reassembling objects reads the chunk messages back.
    objects::check_objects(&mut backup, control);
    if control
        .cancel
        .is_some_and(|flag| flag.load(std::sync::atomic::Ordering::Relaxed))
    {
        return Err(OpenError::Cancelled);
    }
    backup.findings.seal();
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
    let (format, start_readable) = match detect_format(&mut stream, backup) {
        Some((format, start_readable)) => (Some(format), start_readable),
        None => (None, true),
    };
    let mut scan = Scan {
        budget: budget::Budget::new(control.memory_budget),
        ..Scan::default()
    };
    match format {
        Some(ArchiveFormat::V2) => {
            backup.format = format;
            v2::scan_v2(&mut stream, backup, &mut scan, control, start_readable)?;
        }
        Some(ArchiveFormat::V1) => {
            backup.format = format;
            v1::scan_v1(&mut stream, backup, &mut scan, control)?;
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
    let zero_filled = reconcile::mark_damaged_chunks(backup);
    reconcile::finish_model(backup);
    backup.damaged_seqs = std::mem::take(&mut scan.damaged_seqs);
    backup
        .damaged_seqs
        .extend(zero_filled.iter().map(|record| record.seq));
    backup.damaged_seqs.sort_unstable();
    backup.damaged_seqs.dedup();
    backup.split_damaged = std::mem::take(&mut scan.split_damaged);
    backup.split_damaged.sort_unstable();
    backup.damaged_records = std::mem::take(&mut scan.damaged_records);
    backup.damaged_records.extend(zero_filled);
    backup.damaged_records.sort_by_key(|record| record.seq);
    backup.damaged_records.dedup_by_key(|record| record.seq);
    reconcile::damaged_are_not_deleted(backup);
    reconcile::find_lost_ranges(backup, scan.saw_end, &scan.index_live);
    // Chunk lengths first: rows the gap count flags are no damage read inside a chunk.
    chunk_lengths::check_chunk_lengths(backup);
    reconcile::gaps_state_does_not_explain(backup);
    reconcile::compare_states(backup);
    consumers::check_consumers(backup);
    budget::check_sequences(backup);
    backup.complete = scan.saw_end && !backup.has_errors();
    backup.findings.seal();
    Ok(())
}

/// The most bytes of failed chunks at the start that format detection looks past
/// (they are held in memory while it does).
const MAX_BAD_START: u64 = 16 << 20;

/// The archive's format, and whether its start is readable. When the first chunk is
/// lost or damaged the magic (v2) or first tar header (v1) is gone: the first bytes
/// that read as v2 entries or as a tar header decide.
fn detect_format<S: ChunkSource>(
    stream: &mut DecodedStream<S>,
    backup: &Backup,
) -> Option<(ArchiveFormat, bool)> {
    const PROBE: usize = 1 << 20;
    let mut start_lost = false;
    loop {
        match stream.peek(8) {
            Ok(bytes) if bytes == V2_MAGIC => return Some((ArchiveFormat::V2, !start_lost)),
            Ok(_) => break,
            Err(StreamStop::Discontinuity) => {
                stream.accept_discontinuity();
                start_lost = true;
            }
            Err(StreamStop::End) => {
                return (!stream.buffered().is_empty()).then_some((ArchiveFormat::V1, true));
            }
        }
    }
    let mut at_stop = stream.fill(PROBE).is_err();
    let start_damaged = start_lost
        || stream
            .chunks
            .chunks
            .first()
            .is_some_and(|chunk| chunk.status != ChunkStatus::Ok);
    // The bytes of chunks at the start that fail their CRC (zeros, garbage) say
    // nothing about the format: entries are looked for after them.
    let start = stream.pos();
    let bad_len = damaged_range_end(&stream.chunks.chunks, start, start + 1)
        .map_or(0, |end| end.saturating_sub(start))
        .min(MAX_BAD_START);
    if bad_len > 0 {
        at_stop = stream.fill(bad_len as usize + PROBE).is_err();
    }
    let buffered = stream.buffered();
    let entries_from = (bad_len as usize).min(buffered.len());
    let tar_at = find_tar_header(buffered);
    if tar_at == Some(0) && !start_damaged {
        return Some((ArchiveFormat::V1, true));
    }
    let expect = crate::format::v2::Expectation {
        previous_seq: 0,
        ts_range: v2_checks::timestamp_range(backup),
    };
    let v2_at = match crate::format::v2::find_entry_start(buffered, entries_from, &expect, at_stop)
    {
        crate::format::v2::EntrySearch::Found { at, .. } => Some(at),
        _ => None,
    };
    match (v2_at, tar_at) {
        (Some(entry), Some(header)) if entry < header => Some((ArchiveFormat::V2, false)),
        (Some(_), None) => Some((ArchiveFormat::V2, false)),
        _ => Some((ArchiveFormat::V1, tar_at == Some(0))),
    }
}

/// Scan-time facts that are not part of the final model.
#[derive(Default)]
pub(super) struct Scan {
    pub(super) saw_end: bool,
    /// v1: block index of each candidate row, and its record length.
    pub(super) row_block: Vec<u64>,
    pub(super) row_record_len: Vec<u32>,
    /// v1: damaged (checksum) message sequences, excluded from the live set.
    pub(super) damaged_seqs: Vec<u64>,
    /// v1: those whose checksum passes but whose subject cannot be real.
    pub(super) split_damaged: Vec<u64>,
    /// Where those damaged records' bytes are.
    pub(super) damaged_records: Vec<crate::model::DamagedRecord>,
    pub(super) tombstones: FxHashSet<u64>,
    pub(super) erased: FxHashSet<u64>,
    pub(super) highest_seq_seen: u64,
    /// v1: block index → (length, last 8 bytes), for index.db trust checks.
    pub(super) blocks: BTreeMap<u64, (u64, [u8; 8])>,
    pub(super) index_db: Option<Vec<u8>>,
    pub(super) index_db_entry_offset: u64,
    /// v1 consumers by directory name: meta.inf, meta.sum, o.dat.
    pub(super) consumer_files: BTreeMap<String, ConsumerFiles>,
    pub(super) meta_sum: Option<Vec<u8>>,
    pub(super) progress_at: u64,
    /// v1: per block, the decompressed offset of its first bad record and of its end.
    pub(super) block_first_bad: BTreeMap<u64, (u64, u64)>,
    /// v1 (≤ 2.9): raw `msgs/N.idx` by block index.
    pub(super) legacy_idx: BTreeMap<u64, Vec<u8>>,
    /// v1: the sequences a parsed index.db says are live, as ranges per block.
    pub(super) index_live: Vec<(u64, u64, Vec<u64>)>,
    /// v2: number of consumer entries declared in state.json.
    pub(super) declared_consumers: Option<u64>,
    /// What the scan holds besides the message table, against its budget.
    pub(super) budget: budget::Budget,
    /// v2: consumer names seen (a second entry of a name is a finding, not a consumer).
    pub(super) consumer_names: FxHashSet<String>,
    /// v1: decompressed ranges of the S2 chunks that failed their CRC, in order, and
    /// how many chunk records have been looked at for them.
    pub(super) bad_chunks: Vec<(u64, u64)>,
    pub(super) chunks_noted: usize,
    /// v1: subjects of records read from bytes whose S2 CRC holds (or confirmed).
    pub(super) proven_subjects: FxHashSet<u32>,
}

impl Scan {
    /// Notes the chunks decoded since the last call that failed their CRC.
    pub(super) fn note_bad_chunks(&mut self, chunks: &[ChunkRecord]) {
        for chunk in chunks.get(self.chunks_noted..).unwrap_or_default() {
            if chunk.status != ChunkStatus::Ok {
                self.bad_chunks
                    .push((chunk.decompressed_offset, chunk.decompressed_end()));
            }
        }
        self.chunks_noted = self.chunks_noted.max(chunks.len());
    }

    /// Does any byte of `from..to` lie in a chunk that failed its CRC?
    pub(super) fn in_bad_chunk(&self, from: u64, to: u64) -> bool {
        let first = self.bad_chunks.partition_point(|&(_, end)| end <= from);
        self.bad_chunks
            .get(first)
            .is_some_and(|&(start, _)| start < to)
    }
}

#[derive(Default)]
pub(super) struct ConsumerFiles {
    pub(super) meta_inf: Option<(Vec<u8>, u64)>,
    pub(super) meta_sum: Option<Vec<u8>>,
    pub(super) odat: Option<(Vec<u8>, u64)>,
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

pub(super) fn report_progress<S: ChunkSource>(
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
                checking_objects: false,
            },
            backup,
        );
    }
    Ok(())
}

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

/// When any byte of `from..to` lies in a chunk that failed its CRC (or did not
/// decode), the end of that run of bad chunks.
pub(super) fn damaged_range_end(chunks: &[ChunkRecord], from: u64, to: u64) -> Option<u64> {
    // Chunks are in decompressed order: start at the first one that ends after `from`.
    let first = chunks.partition_point(|chunk| chunk.decompressed_end() <= from);
    let to = to.max(from + 1);
    let mut bad_end: Option<u64> = None;
    for chunk in chunks.get(first..).unwrap_or_default() {
        let bad = chunk.status != ChunkStatus::Ok;
        let touches = chunk.decompressed_offset < to;
        let extends = bad_end == Some(chunk.decompressed_offset);
        if bad && (touches || extends) {
            bad_end = Some(chunk.decompressed_end());
        } else if bad_end.is_some() || !touches {
            break;
        }
    }
    bad_end
}
