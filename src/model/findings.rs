//! Findings: what is wrong (or notable) in a backup, and exactly where.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn label(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// Kinds of finding, stable names for scripts (`--json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    S2Framing,
    S2Crc,
    S2Truncated,
    NotAnArchive,
    TarHeader,
    TarTruncated,
    TarMissingTrailer,
    UnexpectedEntry,
    ErrorsTxt,
    MetaInf,
    MetaSum,
    BackupJson,
    BlockRecord,
    RecordChecksum,
    IndexDb,
    IndexDbStale,
    ConsumerMeta,
    ConsumerState,
    StateJson,
    EntryOrder,
    EntryHeader,
    EntryTruncated,
    MissingSentinel,
    SequenceOrder,
    MessageSize,
    InvalidTtl,
    StateMismatch,
    ConsumerCountMismatch,
    ConsumerPastStream,
    LostData,
    /// Object store: reassembled chunks disagree with the object's meta message.
    ObjectDigest,
    /// Object store: a meta message that cannot be read, or chunks without one.
    ObjectMeta,
    /// KV: more revisions of a key than the bucket's history, or a purge not rolled up.
    KvHistory,
    /// KV: a key the KV API would refuse.
    KvKey,
    /// A subject no NATS client can publish to.
    InvalidSubject,
    /// A header block that does not parse as `NATS/1.0` headers.
    HeaderParse,
}

impl FindingKind {
    pub fn label(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|value| value.as_str().map(str::to_string))
            .unwrap_or_default()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub severity: Severity,
    pub kind: FindingKind,
    pub message: String,
    /// Tar member or v2 entry name.
    pub entry: Option<String>,
    pub seq: Option<u64>,
    /// Decompressed byte offset.
    pub offset: Option<u64>,
    /// Byte offset in the compressed data file (the S2 chunk).
    pub file_offset: Option<u64>,
}

impl Finding {
    pub fn new(severity: Severity, kind: FindingKind, message: impl Into<String>) -> Self {
        Self {
            severity,
            kind,
            message: message.into(),
            entry: None,
            seq: None,
            offset: None,
            file_offset: None,
        }
    }
    pub fn error(kind: FindingKind, message: impl Into<String>) -> Self {
        Self::new(Severity::Error, kind, message)
    }
    pub fn warning(kind: FindingKind, message: impl Into<String>) -> Self {
        Self::new(Severity::Warning, kind, message)
    }
    pub fn info(kind: FindingKind, message: impl Into<String>) -> Self {
        Self::new(Severity::Info, kind, message)
    }
    pub fn entry(mut self, entry: impl Into<String>) -> Self {
        self.entry = Some(entry.into());
        self
    }
    pub fn seq(mut self, seq: u64) -> Self {
        self.seq = Some(seq);
        self
    }
    pub fn offset(mut self, offset: u64) -> Self {
        self.offset = Some(offset);
        self
    }
    pub fn file_offset(mut self, file_offset: u64) -> Self {
        self.file_offset = Some(file_offset);
        self
    }

    /// "entry msgs/1.blk · seq 1000 · offset 198986" for display.
    pub fn location(&self) -> String {
        let mut parts = Vec::new();
        if let Some(entry) = &self.entry {
            parts.push(format!("entry {entry}"));
        }
        if let Some(seq) = self.seq {
            parts.push(format!("seq {seq}"));
        }
        if let Some(offset) = self.offset {
            parts.push(format!("offset {offset}"));
        }
        if let Some(file_offset) = self.file_offset {
            parts.push(format!("file offset {file_offset}"));
        }
        parts.join(" · ")
    }
}
