//! Messages whose bytes are not proven, in one list: *damaged* (present but
//! failing a check: a v1 record's HighwayHash-64, a v2 entry that contradicts
//! itself, a v2 entry in an undecodable chunk) and *suspect* (v2 bytes nothing
//! contradicts and nothing proves: in a CRC-failed chunk, or next to corrupt
//! bytes). For each: where it lies and which check it failed; its raw bytes for
//! the hex view; and the export of those bytes into a folder of their own, with
//! the lost ranges listed — never mixed into a restorable copy.

use super::read::{MessageReader, ReadError};
use crate::format::headers::flags;
use crate::format::s2::ChunkStatus;
use crate::model::{Backup, FindingKind};
use serde::Serialize;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// The two words for bytes that are present but not proven.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Trust {
    /// Present but failing a check.
    Damaged,
    /// Not contradicted, not proven (v2 has no per-message checksum).
    Suspect,
}

impl Trust {
    /// The flag word the Messages pane shows.
    pub fn label(self) -> &'static str {
        match self {
            Trust::Damaged => "DAMAGED",
            Trust::Suspect => "SUSPECT",
        }
    }
    pub fn word(self) -> &'static str {
        match self {
            Trust::Damaged => "damaged",
            Trust::Suspect => "suspect",
        }
    }
}

/// Where the bytes of one untrusted message are: a row of `messages` (v2
/// flagged rows) or one of `damaged_records` (not a row).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    Row(usize),
    Record(usize),
}

/// One damaged or suspect message, with where it lies and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Untrusted {
    pub seq: u64,
    pub trust: Trust,
    /// The subject its bytes name (not trusted).
    pub subject: Option<String>,
    /// Decompressed archive offset of its first byte (v1: the record; v2: the header block).
    pub offset: u64,
    pub length: u64,
    /// The tar member (v1) or entry name (v2).
    pub entry: Option<String>,
    /// The check it failed, and where.
    pub reason: String,
    #[serde(skip)]
    pub place: Place,
}

/// What explains flagged rows, gathered once: the chunks that failed (in offset
/// order) and the first finding naming each sequence.
struct Evidence<'a> {
    bad_chunks: Vec<&'a crate::format::s2::ChunkRecord>,
    /// Intact chunks changed where nothing read shows it, with the writer's block size.
    changed_chunks: &'a [(crate::format::s2::ChunkRecord, u32)],
    findings: std::collections::HashMap<u64, &'a str>,
    /// Chunk sequence → the object whose SHA-256 made it suspect.
    objects: std::collections::HashMap<u64, &'a crate::model::ObjectSuspect>,
}

impl<'a> Evidence<'a> {
    fn gather(backup: &'a Backup) -> Self {
        let mut findings = std::collections::HashMap::new();
        for finding in backup.findings.iter() {
            if let (Some(seq), FindingKind::EntryHeader | FindingKind::LostData) =
                (finding.seq, finding.kind)
            {
                findings.entry(seq).or_insert(finding.message.as_str());
            }
        }
        Self {
            bad_chunks: backup
                .chunks
                .iter()
                .filter(|chunk| chunk.status != ChunkStatus::Ok)
                .collect(),
            changed_chunks: &backup.changed_chunks,
            findings,
            objects: backup
                .object_suspects
                .iter()
                .flat_map(|object| object.chunk_seqs.iter().map(move |&seq| (seq, object)))
                .collect(),
        }
    }

    /// The first failed chunk overlapping `start..end` (binary search: linear overall).
    fn chunk(&self, start: u64, end: u64) -> Option<&'a crate::format::s2::ChunkRecord> {
        let first = self
            .bad_chunks
            .partition_point(|chunk| chunk.decompressed_end() <= start);
        self.bad_chunks
            .get(first)
            .copied()
            .filter(|chunk| chunk.decompressed_offset < end)
    }

    fn reason(&self, backup: &Backup, row: usize) -> Option<(Trust, String)> {
        let row_flags = backup.messages.flags(row);
        if row_flags & flags::UNTRUSTED == 0 {
            return None;
        }
        let message = backup.messages.row(row)?;
        let trust = if row_flags & flags::DAMAGED != 0 {
            Trust::Damaged
        } else {
            Trust::Suspect
        };
        let start = message.offset;
        let end = start + u64::from(message.hdr_len) + u64::from(message.data_len);
        let chunk = self.chunk(start, end);
        let mut reasons = Vec::new();
        if let Some(finding) = self
            .findings
            .get(&message.seq)
            .filter(|_| trust == Trust::Damaged || chunk.is_none())
        {
            reasons.push((*finding).to_string());
        }
        if let Some(chunk) = chunk {
            reasons.push(format!(
                "its bytes lie {}",
                super::wording::failed_chunk_text(chunk)
            ));
        }
        let changed = self
            .changed_chunks
            .iter()
            .find(|(chunk, _)| chunk.decompressed_offset < end && chunk.decompressed_end() > start);
        if let Some((chunk, block)) = changed.filter(|_| reasons.is_empty()) {
            reasons.push(format!(
                "it comes just before a missing sequence in {}: bytes were inserted or deleted there and no entry shows where, so it may hold the bytes of the message(s) missing after it",
                super::wording::changed_chunk_text(chunk, *block)
            ));
        }
        if let Some(object) = self.objects.get(&message.seq) {
            reasons.push(super::wording::object_suspect_text(object, true));
        }
        if reasons.is_empty() {
            reasons.push("its bytes touch damaged or lost bytes of the archive".into());
        }
        Some((
            trust,
            format!(
                "{}; message bytes at decompressed offset {start}..{end}",
                reasons.join("; ")
            ),
        ))
    }
}

/// Why a flagged row of `messages` is not trusted, if it is flagged.
pub fn row_reason(backup: &Backup, row: usize) -> Option<(Trust, String)> {
    if backup.messages.flags(row) & flags::UNTRUSTED == 0 {
        return None;
    }
    Evidence::gather(backup).reason(backup, row)
}

/// Every damaged or suspect message, by sequence.
pub fn untrusted_messages(backup: &Backup) -> Vec<Untrusted> {
    let mut list: Vec<Untrusted> = backup
        .damaged_records
        .iter()
        .enumerate()
        .map(|(index, record)| Untrusted {
            seq: record.seq,
            trust: Trust::Damaged,
            subject: record.subject.clone(),
            offset: record.offset,
            length: record.len,
            entry: Some(record.entry.clone()),
            reason: record.reason.clone(),
            place: Place::Record(index),
        })
        .collect();
    let evidence = Evidence::gather(backup);
    for row in 0..backup.messages.len() {
        let Some((trust, reason)) = evidence.reason(backup, row) else {
            continue;
        };
        let Some(message) = backup.messages.row(row) else {
            continue;
        };
        let subject = backup.subjects.name(message.subject_id).to_string();
        list.push(Untrusted {
            seq: message.seq,
            trust,
            entry: Some(subject.clone()),
            subject: Some(subject),
            offset: message.offset,
            length: u64::from(message.hdr_len) + u64::from(message.data_len),
            reason,
            place: Place::Row(row),
        });
    }
    list.sort_by_key(|item| item.seq);
    list
}

/// The bytes of a damaged record as the archive holds them.
pub fn read_record(
    reader: &mut MessageReader,
    backup: &Backup,
    index: usize,
) -> Result<Vec<u8>, ReadError> {
    let record = backup
        .damaged_records
        .get(index)
        .ok_or(ReadError::NoRow(index))?;
    let len = usize::try_from(record.len).unwrap_or(usize::MAX);
    reader.read_range(record.seq, record.offset, len)
}

/// What [`export_damaged`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DamagedExport {
    pub path: PathBuf,
    pub damaged: u64,
    pub suspect: u64,
    /// Messages whose bytes could not be read at all (listed in the index with the error).
    pub unreadable: u64,
    pub lost_ranges: u64,
    pub bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum DamagedExportError {
    #[error("{0} exists: choose a new folder (nothing is overwritten)")]
    Exists(PathBuf),
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Read(#[from] ReadError),
    #[error("cancelled after {0} messages; nothing was written")]
    Cancelled(u64),
}

fn io_error(
    action: &'static str,
    path: &Path,
) -> impl FnOnce(std::io::Error) -> DamagedExportError {
    let path = path.to_path_buf();
    move |source| DamagedExportError::Io {
        action,
        path,
        source,
    }
}

/// The name of the index file in an export of damaged bytes.
pub const INDEX_FILE: &str = "index.ndjson";

/// Writes each damaged or suspect message's raw bytes into `out` (a new folder,
/// never the restorable copy) as `seq-N.bin`, and `index.ndjson`: one line per
/// message (seq, trust, subject, offset, length, entry, reason, file), then one
/// per lost range. Built in a temp folder beside `out`, synced, then renamed.
pub fn export_damaged(
    backup: &Backup,
    out: &Path,
    progress: &mut dyn FnMut(u64, u64),
    cancel: &AtomicBool,
) -> Result<DamagedExport, DamagedExportError> {
    if out.exists() {
        return Err(DamagedExportError::Exists(out.to_path_buf()));
    }
    let parent = out
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = out
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| "damaged".into());
    let temp = super::temp_dirs::temp_path(parent, &name);
    if temp.exists() {
        super::temp_dirs::remove_any(&temp).map_err(io_error("removing stale", &temp))?;
    }
    std::fs::create_dir(&temp).map_err(io_error("creating", &temp))?;
    let result = write_export(backup, &temp, progress, cancel);
    let summary = match result {
        Ok(summary) => summary,
        Err(error) => {
            // Partial output is removed; the error says why.
            if let Err(remove) = std::fs::remove_dir_all(&temp) {
                return Err(DamagedExportError::Io {
                    action: "removing the partial export (after an error) in",
                    path: temp,
                    source: std::io::Error::other(format!("{remove}; first error: {error}")),
                });
            }
            return Err(error);
        }
    };
    sync_dir(&temp)?;
    // Checked again: renaming onto an empty directory would replace it.
    if out.exists() {
        std::fs::remove_dir_all(&temp).map_err(io_error("removing", &temp))?;
        return Err(DamagedExportError::Exists(out.to_path_buf()));
    }
    std::fs::rename(&temp, out).map_err(io_error("renaming the finished export to", out))?;
    sync_dir(parent)?;
    Ok(DamagedExport {
        path: out.to_path_buf(),
        ..summary
    })
}

fn sync_dir(dir: &Path) -> Result<(), DamagedExportError> {
    File::open(dir)
        .and_then(|handle| handle.sync_all())
        .map_err(io_error("syncing", dir))
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), DamagedExportError> {
    let mut file = File::create_new(path).map_err(io_error("creating", path))?;
    file.write_all(bytes).map_err(io_error("writing", path))?;
    file.sync_all().map_err(io_error("syncing", path))
}

fn write_export(
    backup: &Backup,
    dir: &Path,
    progress: &mut dyn FnMut(u64, u64),
    cancel: &AtomicBool,
) -> Result<DamagedExport, DamagedExportError> {
    let list = untrusted_messages(backup);
    let total = list.len() as u64;
    let mut reader = MessageReader::open(backup)?;
    let mut index = String::new();
    let mut summary = DamagedExport {
        path: dir.to_path_buf(),
        damaged: 0,
        suspect: 0,
        unreadable: 0,
        lost_ranges: backup.lost.len() as u64,
        bytes: 0,
    };
    for (done, item) in list.iter().enumerate() {
        if done % 64 == 0 {
            if cancel.load(Ordering::Relaxed) {
                return Err(DamagedExportError::Cancelled(done as u64));
            }
            progress(done as u64, total);
        }
        match item.trust {
            Trust::Damaged => summary.damaged += 1,
            Trust::Suspect => summary.suspect += 1,
        }
        let len = usize::try_from(item.length).unwrap_or(usize::MAX);
        let mut line = serde_json::json!({
            "seq": item.seq,
            "trust": item.trust.word(),
            "subject": item.subject,
            "offset": item.offset,
            "length": item.length,
            "entry": item.entry,
            "reason": item.reason,
        });
        match reader.read_range(item.seq, item.offset, len) {
            Ok(bytes) => {
                let file = format!("seq-{}.bin", item.seq);
                write_synced(&dir.join(&file), &bytes)?;
                summary.bytes += bytes.len() as u64;
                line["file"] = serde_json::Value::String(file);
            }
            Err(error) => {
                summary.unreadable += 1;
                line["read_error"] = serde_json::Value::String(error.to_string());
            }
        }
        index.push_str(&line.to_string());
        index.push('\n');
    }
    for &(from, to) in &backup.lost {
        let line = serde_json::json!({
            "lost": { "from": from, "to": to },
            "reason": "bytes not in the archive: the backup's state says these sequences exist, but they could not be read",
        });
        index.push_str(&line.to_string());
        index.push('\n');
    }
    write_synced(&dir.join(INDEX_FILE), index.as_bytes())?;
    progress(total, total);
    Ok(summary)
}

/// A new folder for the damaged bytes: beside the backup (or where
/// [`super::triage::salvage_output_dir`] moves it when that is read-only), named
/// `STREAM-damaged-bytes`, `-2`, `-3`, … so nothing existing is touched.
pub fn default_out_dir(backup: &Backup) -> PathBuf {
    let opened = &backup.source.opened;
    let beside = if opened.is_dir() {
        opened.parent()
    } else {
        opened.parent().and_then(Path::parent)
    }
    .filter(|parent| !parent.as_os_str().is_empty())
    .map(Path::to_path_buf)
    .unwrap_or_else(|| PathBuf::from("."));
    let folder = super::triage::salvage_output_dir(&beside);
    let stream = if backup.stream_name.is_empty() {
        "backup"
    } else {
        backup.stream_name.as_str()
    };
    let base = format!("{stream}-damaged-bytes");
    let mut candidate = folder.join(&base);
    for number in 2..1000 {
        if !candidate.exists() {
            break;
        }
        candidate = folder.join(format!("{base}-{number}"));
    }
    candidate
}
