//! The one in-memory picture of a backup that both formats produce: stream
//! config and state, consumers, a compact message index and findings.
//! No I/O here.

pub mod config;
pub mod findings;
pub mod message_table;
pub mod odat;
pub mod state;

/// Per-message flags and TTL as the scan stores them in the message table.
pub use crate::format::headers::{flags, Ttl};
pub use config::{ConsumerConfig, Nanos, Storage, StreamConfig};
pub use findings::{Finding, FindingKind, Findings, Severity};
pub use message_table::{MessageRow, MessageTable, SubjectTable};
pub use odat::{archived_consumer_state, reconcile_with_stream};
pub use state::{
    ConsumerInfo, ConsumerState, ConsumerStatus, MessageStanding, PendingEntry, SequencePair,
    StreamState,
};

use crate::format::s2::ChunkRecord;
use std::path::PathBuf;
use std::sync::Arc;

/// Which on-wire format an archive uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum ArchiveFormat {
    #[serde(rename = "v1")]
    V1,
    #[serde(rename = "v2")]
    V2,
}

impl ArchiveFormat {
    pub fn label(self) -> &'static str {
        match self {
            ArchiveFormat::V1 => "v1",
            ArchiveFormat::V2 => "v2",
        }
    }
}

/// A named piece of the archive (tar member or v2 entry) with its decompressed position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryInfo {
    pub name: String,
    /// Decompressed offset of the entry header.
    pub header_offset: u64,
    /// Decompressed offset of the entry's data.
    pub data_offset: u64,
    pub size: u64,
}

/// v1: among the messages read live, some may have been deleted whose deletion
/// records are lost, and which ones cannot be told.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UnnamedDeletes {
    /// How many messages read live could be among them.
    pub candidates: u64,
    /// The sequence range those candidates span.
    pub first_seq: u64,
    pub last_seq: u64,
    /// At most this many of them were deleted: backup.json's deleted count less the
    /// deletions the archive shows (all candidates without backup.json).
    pub at_most: u64,
    /// backup.json's deleted count, when there is one.
    pub declared_deleted: Option<u64>,
    pub shown_deleted: u64,
}

/// A message whose bytes are present but fail a check, kept out of `messages`
/// (v1: a record failing its HighwayHash-64; v2: an entry whose chunk did not
/// decode). Its bytes are shown for inspection, never restored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DamagedRecord {
    pub seq: u64,
    /// Decompressed offset of the record's (v1) or message's (v2) first byte.
    pub offset: u64,
    /// Its length as its own header says, cut to the bytes the archive holds.
    pub len: u64,
    /// The tar member (v1) or entry name (v2) it was read from.
    pub entry: String,
    /// The subject its bytes name, when they read as one (not trusted).
    pub subject: Option<String>,
    /// The stored time its bytes say, Unix ns (not trusted).
    pub ts_ns: Option<i64>,
    /// The check it failed and where, in words.
    pub reason: String,
}

/// Where the files of a backup are.
#[derive(Debug, Clone, Default)]
pub struct BackupSource {
    /// The path the user opened (directory or data file).
    pub opened: PathBuf,
    /// The S2 data file (`stream.tar.s2` / `stream.arc.s2`).
    pub data_file: PathBuf,
    /// `backup.json` beside it, when present.
    pub backup_json: Option<PathBuf>,
    pub data_file_bytes: u64,
}

/// An object whose chunk messages hold changed bytes that nothing else shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectSuspect {
    pub name: String,
    pub meta_seq: u64,
    /// The chunk messages' sequences, ascending.
    pub chunk_seqs: Vec<u64>,
}

/// Everything known about one backup after a scan.
#[derive(Debug, Clone)]
pub struct Backup {
    pub source: BackupSource,
    pub format: Option<ArchiveFormat>,
    /// Stream name (v1 `meta.inf`, else `backup.json`).
    pub stream_name: String,
    /// Stream config (v1 `meta.inf` without `Created`, else `backup.json` config),
    /// typed; unknown fields kept as written.
    pub config: Option<StreamConfig>,
    /// The exact bytes of v1 `meta.inf` (hashes cover these).
    pub meta_inf_raw: Option<Vec<u8>>,
    pub created: Option<String>,
    /// `backup.json` as parsed.
    pub backup_json: Option<serde_json::Value>,
    /// State the snapshot response carried (`backup.json`).
    pub declared_state: Option<StreamState>,
    /// State carried inside the archive (v2 `state.json`, v1 `index.db`).
    pub archive_state: Option<StreamState>,
    /// State computed from the scan.
    pub state: StreamState,
    pub consumers: Vec<ConsumerInfo>,
    pub messages: MessageTable,
    pub subjects: SubjectTable,
    /// Deleted sequences as inclusive ranges, ascending.
    pub deleted: Vec<(u64, u64)>,
    pub findings: Findings,
    /// Sequences whose bytes are present but damaged (checksum), excluded from `messages`.
    pub damaged_seqs: Vec<u64>,
    /// v1: those of `damaged_seqs` whose record checksum passes but whose subject
    /// and data are split wrongly (sorted): a server restores and serves them as
    /// they read.
    pub split_damaged: Vec<u64>,
    /// v1: live-looking messages whose deletion records may be lost (sorted): a
    /// salvage asks whether to keep them.
    pub maybe_deleted: Vec<u64>,
    /// v1: deletions that may come back but cannot be named: their tombstones may
    /// have been in lost or damaged block bytes, and index.db is lost.
    pub unnamed_deletes: Option<UnnamedDeletes>,
    /// Where the bytes of each damaged sequence are (by sequence; one per damaged
    /// sequence whose bytes the scan located).
    pub damaged_records: Vec<DamagedRecord>,
    /// Sequence ranges the archive should hold but that could not be read at all.
    pub lost: Vec<(u64, u64)>,
    pub chunks: Arc<Vec<ChunkRecord>>,
    /// v2: intact chunks whose length is not the writer's block size (the second
    /// value) with nothing read in them showing where bytes were inserted or
    /// deleted; the messages in them before a missing sequence are suspect.
    pub changed_chunks: Vec<(ChunkRecord, u32)>,
    /// v2 object-store streams: objects whose chunks agree with their meta
    /// message in count and size but not in SHA-256; their chunk messages are suspect.
    pub object_suspects: Vec<ObjectSuspect>,
    pub entries: Vec<EntryInfo>,
    /// When the backup was taken (v2 state.json entry time), Unix ns.
    pub snapshot_time_ns: Option<i64>,
    /// The archive ended properly (v1 tar trailer / v2 sentinel) without damage.
    pub complete: bool,
    pub decompressed_bytes: u64,
}

impl Backup {
    /// An empty backup of no file, for unit tests that fill in what they need.
    #[cfg(test)]
    pub(crate) fn for_tests() -> Self {
        Self::empty(BackupSource {
            opened: "x".into(),
            data_file: "x".into(),
            backup_json: None,
            data_file_bytes: 0,
        })
    }

    /// A backup of no file holding one row per (seq, subject, flags): one data
    /// byte each, time = seq, for unit tests of rules over the rows.
    #[cfg(test)]
    pub(crate) fn for_tests_with_rows(rows: &[(u64, &str, u16)]) -> Self {
        let mut backup = Self::for_tests();
        for &(seq, subject, row_flags) in rows {
            let subject_id = backup.subjects.intern(subject.as_bytes());
            backup.messages.push(MessageRow {
                seq,
                ts_ns: seq as i64,
                subject_id,
                hdr_len: 0,
                data_len: 1,
                offset: seq * 100,
                flags: row_flags,
            });
        }
        backup
    }

    pub fn empty(source: BackupSource) -> Self {
        Self {
            source,
            format: None,
            stream_name: String::new(),
            config: None,
            meta_inf_raw: None,
            created: None,
            backup_json: None,
            declared_state: None,
            archive_state: None,
            state: StreamState::default(),
            consumers: Vec::new(),
            messages: MessageTable::default(),
            subjects: SubjectTable::default(),
            deleted: Vec::new(),
            findings: Findings::new(),
            damaged_seqs: Vec::new(),
            split_damaged: Vec::new(),
            maybe_deleted: Vec::new(),
            unnamed_deletes: None,
            damaged_records: Vec::new(),
            lost: Vec::new(),
            chunks: Arc::new(Vec::new()),
            changed_chunks: Vec::new(),
            object_suspects: Vec::new(),
            entries: Vec::new(),
            snapshot_time_ns: None,
            complete: false,
            decompressed_bytes: 0,
        }
    }

    /// Some S2 chunk failed its CRC, did not decode or is lost.
    pub fn has_failed_chunks(&self) -> bool {
        self.chunks
            .iter()
            .any(|chunk| chunk.status != crate::format::s2::ChunkStatus::Ok)
    }

    pub fn has_errors(&self) -> bool {
        self.findings
            .iter()
            .any(|finding| finding.severity == Severity::Error)
    }

    /// Number of deleted sequences.
    pub fn deleted_count(&self) -> u64 {
        self.deleted
            .iter()
            .map(|(from, to)| to.saturating_sub(*from).saturating_add(1))
            .fold(0u64, u64::saturating_add)
    }
}

/// Turns a sorted list of sequences into inclusive ranges.
pub fn to_ranges(sorted: impl IntoIterator<Item = u64>) -> Vec<(u64, u64)> {
    let mut ranges: Vec<(u64, u64)> = Vec::new();
    for seq in sorted {
        match ranges.last_mut() {
            Some((_, to)) if to.checked_add(1) == Some(seq) => *to = seq,
            Some((_, to)) if *to >= seq => {}
            _ => ranges.push((seq, seq)),
        }
    }
    ranges
}
