//! Findings: what is wrong (or notable) in a backup, and exactly where, and the
//! bounded list that holds them (the first [`MAX_STORED_PER_KIND`] of a kind are
//! kept, the rest only counted).

use serde::Serialize;
use std::collections::BTreeMap;

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
    /// A member or entry larger than the server would write or accept.
    TooLarge,
    /// The scan reached its memory budget and stopped.
    MemoryBudget,
    /// A gap of sequences the server would struggle to load.
    SequenceGap,
    /// A sequence with the filestore's flag bits set.
    SequenceFlags,
    /// v1: live-looking messages whose deletion records are lost.
    MaybeDeleted,
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

/// Findings of one kind stored one by one; the rest of that kind are counted in
/// one summary finding ("and 1,234 more like this"), so a crafted archive with
/// millions of bad entries costs a counter, not gigabytes. Small enough that a
/// report listing several kinds at the cap (about 700 bytes of JSON per finding
/// with its impact and next step) stays well under 1 MiB.
pub const MAX_STORED_PER_KIND: u64 = 200;

/// The findings of a backup: a list bounded per kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Findings {
    list: Vec<Finding>,
    /// Per kind: how many were pushed, and where its summary sits in `list`.
    per_kind: BTreeMap<FindingKind, (u64, Option<usize>)>,
}

impl Findings {
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether a finding of `kind` would still be stored (callers that build
    /// costly messages can skip them; the count is kept by [`Findings::count_only`]).
    pub fn stores(&self, kind: FindingKind) -> bool {
        self.per_kind
            .get(&kind)
            .is_none_or(|(count, _)| *count < MAX_STORED_PER_KIND)
    }

    /// Counts one more finding of `kind` without building it (past the cap).
    pub fn count_only(&mut self, kind: FindingKind, severity: Severity) {
        let entry = self.per_kind.entry(kind).or_insert((0, None));
        entry.0 += 1;
        let omitted = entry.0.saturating_sub(MAX_STORED_PER_KIND);
        match entry.1 {
            Some(position) => {
                if let Some(summary) = self.list.get_mut(position) {
                    // Only the count changes: rewritten at powers of two and by `seal`.
                    if omitted.is_power_of_two() {
                        summary.message = summary_message(kind, omitted);
                    }
                    summary.severity = summary.severity.max(severity);
                }
            }
            None => {
                entry.1 = Some(self.list.len());
                let message = summary_message(kind, omitted);
                self.list.push(Finding::new(severity, kind, message));
            }
        }
    }

    pub fn push(&mut self, finding: Finding) {
        let _stored_at = self.push_indexed(finding);
    }

    /// Like [`Findings::push`]; returns where the finding is stored (none past the
    /// cap), for a message that later evidence rewords.
    pub fn push_indexed(&mut self, finding: Finding) -> Option<usize> {
        if !self.stores(finding.kind) {
            self.count_only(finding.kind, finding.severity);
            return None;
        }
        self.per_kind.entry(finding.kind).or_insert((0, None)).0 += 1;
        self.list.push(finding);
        Some(self.list.len() - 1)
    }

    /// Replaces the message of the finding stored at `index`.
    pub fn reword(&mut self, index: usize, message: String) {
        if let Some(finding) = self.list.get_mut(index) {
            finding.message = message;
        }
    }

    /// Brings every summary's count up to date (call when a scan ends).
    pub fn seal(&mut self) {
        for (kind, (count, position)) in &self.per_kind {
            let (Some(position), omitted) = (position, count.saturating_sub(MAX_STORED_PER_KIND))
            else {
                continue;
            };
            if let Some(summary) = self.list.get_mut(*position) {
                summary.message = summary_message(*kind, omitted);
            }
        }
    }

    /// Findings of every kind, pushed or counted.
    pub fn total(&self) -> u64 {
        self.per_kind.values().map(|(count, _)| *count).sum()
    }
}

fn summary_message(kind: FindingKind, omitted: u64) -> String {
    format!(
        "and {} more {} finding{} like this (only the first {MAX_STORED_PER_KIND} are listed)",
        group_thousands(omitted),
        kind.label(),
        if omitted == 1 { "" } else { "s" }
    )
}

/// 1234567 → "1,234,567".
pub fn group_thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

impl std::ops::Deref for Findings {
    type Target = [Finding];
    fn deref(&self) -> &[Finding] {
        &self.list
    }
}

impl Extend<Finding> for Findings {
    fn extend<T: IntoIterator<Item = Finding>>(&mut self, iter: T) {
        for finding in iter {
            self.push(finding);
        }
    }
}

impl<'a> IntoIterator for &'a Findings {
    type Item = &'a Finding;
    type IntoIter = std::slice::Iter<'a, Finding>;
    fn into_iter(self) -> Self::IntoIter {
        self.list.iter()
    }
}

impl Serialize for Findings {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.list.serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn findings_past_the_cap_are_counted_in_one_summary() {
        let mut findings = Findings::new();
        for index in 0..MAX_STORED_PER_KIND + 1_234 {
            findings.push(Finding::warning(
                FindingKind::EntryOrder,
                format!("entry {index}"),
            ));
        }
        findings.push(Finding::error(FindingKind::S2Crc, "crc"));
        findings.seal();
        assert_eq!(findings.len() as u64, MAX_STORED_PER_KIND + 2);
        assert_eq!(findings.total(), MAX_STORED_PER_KIND + 1_235);
        let summary = &findings[MAX_STORED_PER_KIND as usize];
        assert_eq!(summary.kind, FindingKind::EntryOrder);
        assert!(
            summary
                .message
                .starts_with("and 1,234 more entry_order findings"),
            "{}",
            summary.message
        );
    }
}
