//! Triage of a scanned backup: the accounting in the three words (intact,
//! damaged, lost, plus deleted and suspect with why), the predicted server
//! restore, what a salvage keeps, and a plain-language impact and next step for
//! every finding. `report` renders it as JSON and Markdown.

use crate::format::headers::flags;
use crate::format::s2::{ChunkStatus, RangeReader};
use crate::model::{to_ranges, ArchiveFormat, Backup, Finding, FindingKind, Severity};
use crate::ops::export::{export, ExportOptions};
use crate::ops::predict::{group, predict_restore, ranges_text, Outcome, RestorePrediction};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::sync::atomic::AtomicBool;

/// Messages that are present but not proven intact, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Suspect {
    pub seqs: Vec<(u64, u64)>,
    pub count: u64,
    pub why: String,
}

/// The counts every view uses, in the same words.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Accounting {
    /// Messages whose bytes passed every check.
    pub intact: u64,
    /// Bytes present but failing a check.
    pub damaged: Vec<u64>,
    /// Sequences whose bytes are not in the archive any more.
    pub lost: Vec<(u64, u64)>,
    /// Sequences the server deleted.
    pub deleted: Vec<(u64, u64)>,
    pub suspect: Vec<Suspect>,
}

/// What a salvage (`export --salvage`, the source's format) would write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SalvagePlan {
    pub format: Option<ArchiveFormat>,
    pub keeps: u64,
    pub of: u64,
    /// Consumers the salvage cannot write (no readable config).
    pub consumers_left_out: Vec<String>,
    /// Of `keeps`, the messages named as maybe deleted (left out when the user
    /// chooses `drop`).
    pub maybe_deleted_kept: u64,
    pub summary: String,
}

/// One finding with what it means and what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Explained {
    pub finding: Finding,
    pub impact: String,
    pub next_step: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Triage {
    pub data_file_sha256: Option<String>,
    pub server_version_guess: String,
    pub accounting: Accounting,
    pub restore: Vec<RestorePrediction>,
    pub salvage: Option<SalvagePlan>,
    /// (seq, subject when its bytes still name one) of each damaged sequence.
    pub damaged_subjects: Vec<(u64, Option<String>)>,
    pub findings: Vec<Explained>,
}

pub fn accounting(backup: &Backup) -> Accounting {
    let bad_chunks: Vec<_> = backup
        .chunks
        .iter()
        .filter(|chunk| chunk.status != ChunkStatus::Ok)
        .collect();
    // Suspect rows grouped by the bad chunk they touch (chunks are in offset order).
    let mut by_chunk: Vec<Vec<u64>> = vec![Vec::new(); bad_chunks.len()];
    let mut elsewhere: Vec<usize> = Vec::new();
    let mut suspect_rows = 0u64;
    let in_objects: std::collections::HashSet<u64> = backup
        .object_suspects
        .iter()
        .flat_map(|object| object.chunk_seqs.iter().copied())
        .collect();
    for row in 0..backup.messages.len() {
        if backup.messages.flags(row) & flags::UNTRUSTED == 0 {
            continue;
        }
        suspect_rows += 1;
        if in_objects.contains(&backup.messages.seq[row]) {
            continue;
        }
        let (start, end) = (backup.messages.offset(row), backup.messages.end(row));
        let first = bad_chunks.partition_point(|chunk| chunk.decompressed_end() <= start);
        match bad_chunks.get(first) {
            Some(chunk) if chunk.decompressed_offset < end => {
                by_chunk[first].push(backup.messages.seq[row])
            }
            _ => elsewhere.push(row),
        }
    }
    let mut suspect = by_chunk_suspects(bad_chunks.iter().copied(), by_chunk, |chunk| {
        format!(
            "their bytes lie {}",
            super::wording::failed_chunk_text(chunk)
        )
    });
    suspect.extend(suspect_elsewhere(backup, elsewhere));
    suspect.extend(backup.object_suspects.iter().map(|object| Suspect {
        count: object.chunk_seqs.len() as u64,
        seqs: to_ranges(object.chunk_seqs.iter().copied()),
        why: super::wording::object_suspect_text(object, false),
    }));
    Accounting {
        intact: (backup.messages.len() as u64).saturating_sub(suspect_rows),
        damaged: backup.damaged_seqs.clone(),
        lost: backup.lost.clone(),
        deleted: backup.deleted.clone(),
        suspect,
    }
}

/// One group of suspect rows per chunk that has any, with the chunk's reason.
fn by_chunk_suspects<T>(
    chunks: impl Iterator<Item = T>,
    by_chunk: Vec<Vec<u64>>,
    why: impl Fn(T) -> String,
) -> Vec<Suspect> {
    chunks
        .zip(by_chunk)
        .filter(|(_, seqs)| !seqs.is_empty())
        .map(|(chunk, seqs)| Suspect {
            count: seqs.len() as u64,
            seqs: to_ranges(seqs),
            why: why(chunk),
        })
        .collect()
}

/// Suspect rows that touch no failed chunk, grouped by why: in a chunk whose
/// length shows bytes inserted or deleted, before sequences that are missing, or
/// next to damage found while reading.
fn suspect_elsewhere(backup: &Backup, elsewhere: Vec<usize>) -> Vec<Suspect> {
    // Changed chunks are recorded in offset order, as the scan met them.
    let changed = &backup.changed_chunks;
    let mut by_chunk: Vec<Vec<u64>> = vec![Vec::new(); changed.len()];
    let mut before_gap = Vec::new();
    let mut other = Vec::new();
    for row in elsewhere {
        let seq = backup.messages.seq[row];
        let (start, end) = (backup.messages.offset(row), backup.messages.end(row));
        let first = changed.partition_point(|(chunk, _)| chunk.decompressed_end() <= start);
        let gap_after = backup
            .messages
            .seq
            .get(row + 1)
            .is_some_and(|&next| next > seq.saturating_add(1));
        match changed.get(first) {
            Some((chunk, _)) if chunk.decompressed_offset < end && gap_after => {
                by_chunk[first].push(seq)
            }
            _ if gap_after => before_gap.push(seq),
            _ => other.push(seq),
        }
    }
    let mut out = by_chunk_suspects(changed.iter(), by_chunk, |(chunk, block)| {
        format!(
            "they come just before a missing sequence in {}: bytes were inserted or deleted there and no entry shows where, so one of them may hold the bytes of the message(s) missing after it",
            super::wording::changed_chunk_text(chunk, *block)
        )
    });
    for (seqs, why) in [
        (before_gap, "they come just before missing sequences, where bytes were lost: their own bytes may hold some of those"),
        (other, "their bytes touch damaged or lost bytes of the archive"),
    ] {
        if !seqs.is_empty() {
            out.push(Suspect {
                count: seqs.len() as u64,
                seqs: to_ranges(seqs),
                why: why.into(),
            });
        }
    }
    out
}

/// A guess from what the archive holds (format, metadata the server stamps).
pub fn server_version_guess(backup: &Backup) -> String {
    let stamped = backup
        .config
        .as_ref()
        .and_then(|config| config.metadata.as_ref())
        .and_then(|metadata| metadata.get("_nats.ver"))
        .map(String::as_str);
    match (stamped, backup.format) {
        (Some(version), _) => format!("{version} (stamped in the stream metadata)"),
        (None, Some(ArchiveFormat::V2)) => "2.15 or later (v2 NATSARC1 archive)".into(),
        (None, Some(ArchiveFormat::V1)) => "2.14 or earlier (v1 tar archive)".into(),
        (None, None) => "unknown".into(),
    }
}

fn sha256_of(path: &std::path::Path) -> Option<String> {
    let mut file = std::fs::File::open(path).ok()?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let read = file.read(&mut buffer).ok()?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Some(
        hasher
            .finalize()
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect(),
    )
}

/// What a salvage in the source's format would keep (a dry run: nothing is written).
pub fn salvage_plan(backup: &Backup, cancel: Option<&AtomicBool>) -> Option<SalvagePlan> {
    let options = ExportOptions {
        format: backup.format,
        salvage: true,
        dry_run: true,
        // What a salvage keeps at most: messages that may have been deleted are a choice.
        maybe_deleted: Some(crate::ops::export::MaybeDeletedChoice::Keep),
        ..ExportOptions::default()
    };
    let out = std::env::temp_dir().join(format!("jsbackup-salvage-plan-{}", std::process::id()));
    let report = export(backup, &out, &options, &mut |_| {}, cancel).ok()?;
    // Out of what the backup should hold: the declared count when it says more.
    let declared = [&backup.declared_state, &backup.archive_state]
        .iter()
        .filter_map(|state| state.as_ref().map(|state| state.messages))
        .max()
        .unwrap_or(0);
    let of = (backup.messages.len() as u64 + backup.damaged_seqs.len() as u64).max(declared);
    let consumers_left_out: Vec<String> = report
        .consumers_left_out
        .iter()
        .map(|left_out| left_out.name.clone())
        .collect();
    let mut summary = format!(
        "a salvage ({}) keeps {} of {} messages",
        backup.format.map_or("?", |format| format.label()),
        group(report.kept_messages),
        group(of)
    );
    if !consumers_left_out.is_empty() {
        summary.push_str(&format!(
            "; it leaves out consumer(s) {} (no readable config: a restore refuses a consumer without one)",
            consumers_left_out.join(", ")
        ));
    }
    Some(SalvagePlan {
        format: backup.format,
        keeps: report.kept_messages,
        of,
        consumers_left_out,
        maybe_deleted_kept: report.kept_maybe_deleted,
        summary,
    })
}

/// Where a salvaged copy goes by default: `preferred` (beside the backup) unless
/// that folder cannot be written (read-only evidence); then `$HOME`, then the
/// current directory. Writability is tried with a small file that is removed.
pub fn salvage_output_dir(preferred: &std::path::Path) -> std::path::PathBuf {
    let mut candidates = vec![preferred.to_path_buf()];
    if let Some(home) = std::env::var_os("HOME").filter(|home| !home.is_empty()) {
        candidates.push(std::path::PathBuf::from(home));
    }
    if let Ok(current) = std::env::current_dir() {
        candidates.push(current);
    }
    for dir in &candidates {
        if is_writable_dir(dir) {
            return dir.clone();
        }
    }
    preferred.to_path_buf()
}

fn is_writable_dir(dir: &std::path::Path) -> bool {
    let probe = dir.join(format!(".jsbackup-write-probe-{}", std::process::id()));
    match std::fs::File::create_new(&probe) {
        Ok(file) => {
            drop(file);
            // A probe left behind is harmless; the folder is writable either way.
            std::fs::remove_file(&probe).is_ok() || probe.exists()
        }
        Err(_) => false,
    }
}

/// v1: the subject a damaged record still names (its bytes failed the checksum,
/// so it is shown as read, not trusted).
fn damaged_subjects(backup: &Backup) -> Vec<(u64, Option<String>)> {
    let mut out: Vec<(u64, Option<String>)> = Vec::new();
    let file = std::fs::File::open(&backup.source.data_file).ok();
    let mut range = file.map(|file| RangeReader::new(file, backup.chunks.clone()));
    for &seq in backup.damaged_seqs.iter().take(1000) {
        let offset = backup
            .findings
            .iter()
            .find(|f| f.kind == FindingKind::RecordChecksum && f.seq == Some(seq))
            .and_then(|f| f.offset);
        let subject = match (offset, range.as_mut()) {
            (Some(offset), Some(range)) => record_subject(range, offset),
            _ => None,
        };
        out.push((seq, subject));
    }
    out
}

/// Subject of a filestore record at `offset`: length(4) seq(8) ts(8) subject_len(2) subject.
fn record_subject(range: &mut RangeReader<std::fs::File>, offset: u64) -> Option<String> {
    let head = range.read(offset, 22).ok()?;
    let len = u16::from_le_bytes([*head.get(20)?, *head.get(21)?]) as usize;
    let subject = range.read(offset + 22, len).ok()?;
    let text = String::from_utf8(subject).ok()?;
    text.chars().all(|c| !c.is_control()).then_some(text)
}

/// Everything a triage report holds. Reads the data file (salvage plan, damaged
/// records, and its SHA-256 when `hash_data_file`).
pub fn triage(
    backup: &Backup,
    reference_ns: i64,
    cancel: Option<&AtomicBool>,
    hash_data_file: bool,
) -> Triage {
    let accounting = accounting(backup);
    let restore = predict_restore(backup, reference_ns);
    let salvage = if backup.has_errors() {
        salvage_plan(backup, cancel)
    } else {
        None
    };
    let damaged_subjects = damaged_subjects(backup);
    let findings = backup
        .findings
        .iter()
        .map(|finding| {
            explain(
                backup,
                finding,
                &restore,
                salvage.as_ref(),
                &damaged_subjects,
            )
        })
        .collect();
    Triage {
        data_file_sha256: if hash_data_file {
            sha256_of(&backup.source.data_file)
        } else {
            None
        },
        server_version_guess: server_version_guess(backup),
        accounting,
        restore,
        salvage,
        damaged_subjects,
        findings,
    }
}

fn subject_of(backup: &Backup, seq: u64, damaged: &[(u64, Option<String>)]) -> Option<String> {
    if let Some(row) = backup.messages.find_seq(seq) {
        return Some(
            backup
                .subjects
                .name(backup.messages.subject_id[row])
                .to_string(),
        );
    }
    damaged
        .iter()
        .find(|(damaged_seq, _)| *damaged_seq == seq)
        .and_then(|(_, subject)| subject.clone())
}

/// "a restore with nats-server 2.15 fails with `…`; salvage keeps 21,402 of 27,556".
fn restore_line(restore: &[RestorePrediction]) -> String {
    restore
        .iter()
        .map(|prediction| {
            format!(
                "nats-server {}: {}",
                prediction.servers.join(" and "),
                prediction.summary
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn salvage_line(backup: &Backup, salvage: Option<&SalvagePlan>) -> String {
    let command = format!(
        "`jsbackup export {} {}-salvaged --salvage`",
        backup.source.opened.display(),
        if backup.stream_name.is_empty() {
            "stream"
        } else {
            backup.stream_name.as_str()
        }
    );
    match salvage {
        Some(plan) => format!(
            "Save a salvaged copy ({command}, or \"Save salvaged copy…\" in the app): {}; restore that instead, and ask for a new backup if the stream still exists.",
            plan.summary
        ),
        None => format!("Save a salvaged copy ({command}) and restore that."),
    }
}

/// The restore line after an object finding: the stream restores apart from it,
/// or fails for other reasons.
fn restore_besides(fails: bool, restore_text: &str) -> String {
    if fails {
        format!("Apart from this: {restore_text}.")
    } else {
        format!("The stream itself restores ({restore_text}).")
    }
}

/// The impact line and next step of one finding.
pub fn explain(
    backup: &Backup,
    finding: &Finding,
    restore: &[RestorePrediction],
    salvage: Option<&SalvagePlan>,
    damaged: &[(u64, Option<String>)],
) -> Explained {
    let fails = restore.iter().any(|p| p.outcome == Outcome::Fails);
    let restore_text = restore_line(restore);
    let subject = finding
        .seq
        .and_then(|seq| subject_of(backup, seq, damaged))
        .map(|subject| format!(" (subject {subject})"))
        .unwrap_or_default();
    // The restore line names lost ranges itself when the restore fails.
    let lost = if backup.lost.is_empty() || restore_text.contains("lost") {
        String::new()
    } else {
        format!(" (lost: seq {})", ranges_text(&backup.lost))
    };
    // Anything short of a clean success is worth a salvaged copy.
    let clean_restore = restore.iter().all(|p| p.outcome == Outcome::Succeeds);
    let (impact, next_step) = match finding.kind {
        FindingKind::S2Crc | FindingKind::S2Framing | FindingKind::S2Truncated => (
            format!("The compressed framing is damaged here{lost}. {restore_text}."),
            if finding.kind == FindingKind::S2Truncated {
                format!("The file is cut short: copy the backup again from where it was made (an interrupted transfer?). Otherwise: {}", salvage_line(backup, salvage))
            } else {
                salvage_line(backup, salvage)
            },
        ),
        FindingKind::RecordChecksum => (
            format!(
                "Seq {}{subject} is damaged: its bytes are present but fail the HighwayHash-64 record checksum. {restore_text}.",
                finding.seq.map_or("?".into(), |seq| seq.to_string())
            ),
            format!("Inspect its bytes in the Messages pane (hex). {}", salvage_line(backup, salvage)),
        ),
        FindingKind::LostData | FindingKind::TarTruncated | FindingKind::EntryTruncated => (
            format!("Messages are lost: their bytes are not in the archive{lost}. {restore_text}."),
            format!("If the stream still exists on the server, take a new backup. {}", salvage_line(backup, salvage)),
        ),
        FindingKind::BlockRecord | FindingKind::TarHeader => (
            format!("The archive's structure is damaged here{lost}. {restore_text}."),
            salvage_line(backup, salvage),
        ),
        FindingKind::MissingSentinel => (
            format!("The archive ends without its end-of-backup marker, so it may be incomplete. {restore_text}."),
            salvage_line(backup, salvage),
        ),
        FindingKind::StateJson | FindingKind::MetaInf => (
            format!("Stream metadata cannot be read. {restore_text}."),
            salvage_line(backup, salvage),
        ),
        FindingKind::IndexDb => (
            format!("The stream's state file (index.db) cannot be used: the state is rebuilt from the message blocks, and deletions only it recorded are not seen. {restore_text}."),
            salvage_line(backup, salvage),
        ),
        FindingKind::MaybeDeleted => (
            "A restore brings these messages back although the stream had deleted them; consumers and readers would see them again.".into(),
            // The named ones carry index.db as their entry; the unnamed count has none.
            if finding.entry.is_none() || backup.maybe_deleted.is_empty() {
                "If the stream still exists on the server, compare with it (STREAM.INFO, `nats stream view`) before restoring; otherwise tell the stream's users that deleted messages may reappear.".into()
            } else {
                "Save a salvaged copy with --maybe-deleted drop (\"leave out\" in the dialog) to leave the named ones out, or keep them (--maybe-deleted keep).".into()
            },
        ),
        FindingKind::ConsumerCountMismatch if finding.severity == Severity::Error => (
            format!(
                "Consumers the archive declares could not be read. {restore_text}. A salvaged copy holds only the {} consumer(s) that were read; the others are lost with the damaged bytes.",
                backup.consumers.len()
            ),
            format!(
                "Recreate the missing consumers from their configs (on the server if it still exists, or from your deployment) after restoring a salvaged copy. {}",
                salvage_line(backup, salvage)
            ),
        ),
        FindingKind::StateMismatch | FindingKind::IndexDbStale | FindingKind::ConsumerCountMismatch => (
            if backup.has_errors() {
                "The counts disagree because of the damage reported by the error findings; nothing more is wrong here.".into()
            } else {
                "The states recorded in the backup disagree with the messages it holds: the backup may have been taken while the stream changed.".into()
            },
            "No action of its own; compare with STREAM.INFO on the server if it still exists.".into(),
        ),
        FindingKind::ObjectDigest => (
            format!("A get() of this object{subject} fails with a digest mismatch: its chunks here do not add up to what its meta message records. {}", restore_besides(fails, &restore_text)),
            "Upload the object again from its source after the restore, or delete it.".into(),
        ),
        FindingKind::ObjectMeta if finding.severity == Severity::Error => (
            format!("The object this meta message describes cannot be fetched: its name, size and digest are unreadable. {}", restore_besides(fails, &restore_text)),
            "Upload the object again from its source after the restore, or delete it.".into(),
        ),
        FindingKind::ObjectMeta => (
            "No get() returns these chunks: they take space in the bucket and nothing else.".into(),
            "Nothing to do before a restore; purge their subject afterwards to reclaim the space.".into(),
        ),
        FindingKind::KvHistory | FindingKind::KvKey => (
            format!("The KV bucket's history in this backup does not follow its own rules{subject}; readers may see revisions the server would have removed."),
            "Check the key's history after a restore (`nats kv history`) and purge it if needed.".into(),
        ),
        FindingKind::InvalidTtl => (
            format!("A Nats-TTL value the server rejects{subject}. {restore_text}."),
            "Export without this message (or with the TTL header fixed) and restore that.".into(),
        ),
        _ => match finding.severity {
            Severity::Error => (
                format!("{restore_text}."),
                if fails || !clean_restore { salvage_line(backup, salvage) } else { "Review the evidence at this location.".into() },
            ),
            Severity::Warning => (
                "Not damage by itself; the restore is not affected by it alone.".into(),
                "Review it if the stream's clients depend on this.".into(),
            ),
            Severity::Info => ("For information.".into(), "Nothing to do.".into()),
        },
    };
    Explained {
        finding: finding.clone(),
        impact,
        next_step,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn salvage_goes_elsewhere_when_the_evidence_folder_cannot_be_written() {
        let writable = std::env::temp_dir();
        assert_eq!(salvage_output_dir(&writable), writable);
        // A folder that cannot take a file (here: it does not exist).
        let unwritable = writable.join(format!("jsbackup-no-such-dir-{}", std::process::id()));
        let chosen = salvage_output_dir(&unwritable);
        assert_ne!(chosen, unwritable);
        assert!(is_writable_dir(&chosen), "{}", chosen.display());
    }
}
