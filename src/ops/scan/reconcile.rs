//! Reconciling what the scan read with what the backup declares: the damage a
//! chunk's CRC or decoding reveals, the scanned stream state, deleted versus lost
//! sequences (deleted: the server removed them; lost: their bytes are gone; damaged:
//! present but failing a check), and declared versus scanned state.
//!
//! It reads what the scan gathered: no I/O, no archive bytes.

use crate::format::filestore;
use crate::format::headers::flags;
use crate::format::s2::{ChunkStatus, LOOKBACK};
use crate::model::{
    ArchiveFormat, Backup, DamagedRecord, Finding, FindingKind, Severity, StreamConfig, StreamState,
};
use crate::ops::wording::group;

/// Flags messages whose bytes lie in a chunk that failed its CRC or did not decode
/// as suspect (v2 has no per-message checksum: nothing contradicts them, nothing
/// proves them). Returns where the messages removed because their bytes were
/// zero-filled lie (damaged).
pub(super) fn mark_damaged_chunks(backup: &mut Backup) -> Vec<DamagedRecord> {
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
    // v1 rows are records that passed their HighwayHash-64 check: intact wherever they lie.
    if backup.format == Some(ArchiveFormat::V1) {
        return Vec::new();
    }
    let mut keep = vec![true; backup.messages.len()];
    let mut zero_filled = Vec::new();
    for (row, keep_row) in keep.iter_mut().enumerate() {
        let (start, end) = (backup.messages.offset(row), backup.messages.end(row));
        // The bad chunks are in decompressed order and do not overlap: only those
        // from the first that ends after `start` can touch the row (a scan of all
        // of them per row was quadratic in an archive of many small failed chunks).
        let first = bad.partition_point(|&(_, to, _)| to <= start);
        for &(from, to, status) in bad.get(first..).unwrap_or_default() {
            if from >= end.max(start + 1) {
                break;
            }
            if start < to && end > from {
                backup.messages.set_flags(row, flags::SUSPECT);
                // Zero-filled bytes are not the message.
                if status == ChunkStatus::Undecodable && *keep_row {
                    *keep_row = false;
                    zero_filled.push(zero_filled_record(backup, row, start, end, from));
                }
            }
        }
    }
    let removed: Vec<u64> = zero_filled.iter().map(|record| record.seq).collect();
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
    zero_filled
}

/// A v2 message whose bytes lie (partly) in an undecodable chunk: damaged.
fn zero_filled_record(
    backup: &Backup,
    row: usize,
    start: u64,
    end: u64,
    chunk_from: u64,
) -> DamagedRecord {
    let seq = backup.messages.seq[row];
    DamagedRecord {
        seq,
        offset: start,
        len: end - start,
        entry: backup
            .subjects
            .name(backup.messages.subject_id[row])
            .to_string(),
        subject: Some(
            backup
                .subjects
                .name(backup.messages.subject_id[row])
                .to_string(),
        )
        .filter(|subject| !subject.is_empty()),
        ts_ns: backup.messages.ts_ns.get(row).copied(),
        reason: format!(
            "its bytes lie in the S2 chunk at decompressed offset {chunk_from}, which could not be decoded (read as zeros)"
        ),
    }
}

pub(super) fn finish_model(backup: &mut Backup) {
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

/// A damaged sequence is present (its bytes fail a check), not deleted: the
/// deleted ranges leave it out.
pub(super) fn damaged_are_not_deleted(backup: &mut Backup) {
    if backup.damaged_seqs.is_empty() {
        return;
    }
    let damaged = crate::model::to_ranges(backup.damaged_seqs.iter().copied());
    backup.deleted = subtract_ranges(&backup.deleted, &damaged);
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

/// Sequences index.db says were live but that were neither read nor found damaged,
/// once the archive is known to be damaged. Each block's range is walked by the sorted
/// sequences it excludes, never one by one.
fn index_db_lost_ranges(backup: &Backup, index_live: &[(u64, u64, Vec<u64>)]) -> Vec<(u64, u64)> {
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
    if !damaged_archive {
        return index_ranges;
    }
    for (first, last, deleted) in index_live {
        let (first, last) = (*first, *last);
        let live_from = backup.messages.lower_bound(first);
        let live_to = backup.messages.lower_bound(last.saturating_add(1));
        let mut excluded: Vec<u64> = backup
            .messages
            .seq
            .get(live_from..live_to.max(live_from))
            .unwrap_or_default()
            .to_vec();
        let in_block = |seq: &u64| (first..=last).contains(seq);
        excluded.extend(deleted.iter().copied().filter(in_block));
        excluded.extend(backup.damaged_seqs.iter().copied().filter(in_block));
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
    index_ranges
}

/// Sequences the archive should hold (per its declared states) but that were not read.
pub(super) fn find_lost_ranges(
    backup: &mut Backup,
    saw_end: bool,
    index_live: &[(u64, u64, Vec<u64>)],
) {
    let index_ranges = index_db_lost_ranges(backup, index_live);
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
    let lost = merge_ranges(lost);
    // Lost sequences are unknown, not deleted: subtract them (both lists are sorted).
    if !lost.is_empty() {
        backup.deleted = subtract_ranges(&backup.deleted, &lost);
        backup.state.num_deleted = backup.deleted_count();
    }
    backup.lost = lost;
}

/// An inclusive range of sequences.
type SeqRange = (u64, u64);

/// v2 keeps no delete records and no per-message checksum: bytes deleted inside an
/// entry can leave a whole entry that swallowed its neighbours, and their
/// sequences read as deleted. state.json counts the deleted sequences when the
/// snapshot started: a gap beyond that count is lost, not deleted (or deleted
/// while the snapshot ran), and the message before it may hold the lost bytes.
pub(super) fn gaps_state_does_not_explain(backup: &mut Backup) {
    /// Above this many gaps per unexplained sequence, a gap is most likely a real
    /// deletion: the messages before the gaps stay trusted and only the count is told.
    const GAPS_PER_UNEXPLAINED: u64 = 4;
    if backup.format != Some(ArchiveFormat::V2) {
        return;
    }
    let Some(declared) = backup
        .archive_state
        .as_ref()
        .or(backup.declared_state.as_ref())
        .map(|state| state.num_deleted)
    else {
        return;
    };
    let missing = backup.deleted_count();
    let Some(unexplained) = missing.checked_sub(declared).filter(|&count| count > 0) else {
        return;
    };
    let all_gaps = backup.deleted.clone();
    // A message that swallowed the next one's bytes changed its chunk's length: a
    // gap after a message in chunks whose length vouches for them is a deletion.
    let vouch = super::chunk_lengths::LengthVouch::of(backup);
    let (vouched, gaps): (Vec<SeqRange>, Vec<SeqRange>) =
        all_gaps.iter().partition(|&&(from, _)| {
            let previous = from
                .checked_sub(1)
                .and_then(|previous| backup.messages.find_seq(previous));
            match (&vouch, previous) {
                (Some(vouch), Some(row)) => {
                    let start = backup.messages.offset(row).saturating_sub(LOOKBACK as u64);
                    vouch.covers(start, backup.messages.end(row))
                }
                _ => false,
            }
        });
    let vouched_note = if vouched.is_empty() {
        String::new()
    } else {
        format!(
            "; {} gap(s) follow messages in S2 chunks of the writer's block size, which no inserted or deleted byte changed: those are deletions",
            group(vouched.len() as u64)
        )
    };
    let marked =
        !gaps.is_empty() && gaps.len() as u64 <= unexplained.saturating_mul(GAPS_PER_UNEXPLAINED);
    let what = if declared == 0 {
        "none of them is a deletion the snapshot saw: they are counted as lost"
    } else if marked {
        "each other gap may be lost bytes, so the message before each one is suspect"
    } else if gaps.is_empty() {
        "they were deleted while the snapshot ran, or lie in the damaged bytes reported"
    } else {
        "which gaps they are cannot be told apart from the deletions"
    };
    // A warning: a live stream's messages deleted while the snapshot ran leave
    // the same gaps, and nothing else here says the archive is damaged.
    backup.findings.push(Finding::warning(
        FindingKind::LostData,
        format!(
            "state.json counts {} deleted sequence(s), but {} sequence(s) are missing from the readable entries: at least {} were lost, not deleted (or deleted while the snapshot ran){vouched_note}; {what}",
            group(declared),
            group(missing),
            group(unexplained),
        ),
    ));
    if marked {
        let mut told = 0u64;
        for &(from, to) in &gaps {
            let Some(previous) = from.checked_sub(1) else {
                continue;
            };
            let Some(row) = backup.messages.find_seq(previous) else {
                continue;
            };
            backup.messages.set_flags(row, flags::SUSPECT);
            told += 1;
            if told <= super::MAX_REPEATED_FINDINGS {
                backup.findings.push(
                    Finding::warning(
                        FindingKind::LostData,
                        format!("sequence {previous} is the last entry before sequences {from}..{to}, which state.json does not count as deleted: its bytes may hold theirs (v2 has no per-message checksum)"),
                    )
                    .seq(previous),
                );
            }
        }
    }
    if declared == 0 {
        let mut lost = std::mem::take(&mut backup.lost);
        lost.extend(all_gaps);
        backup.lost = merge_ranges(lost);
        backup.deleted.clear();
        backup.state.num_deleted = 0;
    }
}

/// Sorted ranges with overlapping and adjacent ones joined.
fn merge_ranges(mut ranges: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    ranges.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
    for (from, to) in ranges {
        match merged.last_mut() {
            Some((_, last_to)) if from <= last_to.saturating_add(1) => {
                *last_to = (*last_to).max(to)
            }
            _ => merged.push((from, to)),
        }
    }
    merged
}

pub(super) fn compare_states(backup: &mut Backup) {
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
