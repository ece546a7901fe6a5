//! v1: messages that read as live but may have been deleted, because the records
//! of their deletion are lost. A user delete leaves a tombstone in the blocks, but
//! limit trimming (max_msgs, max_msgs_per_subject: KV history) is recorded only in
//! index.db's delete maps; when index.db is lost or cannot be trusted, those
//! messages come back in a restore. They are named by a finding, and a salvage asks
//! whether to keep them.

use super::Scan;
use crate::format::index_db::{IndexBlock, IndexDb};
use crate::model::{Backup, Finding, FindingKind};
use crate::ops::wording::{group, ranges_text};
use crate::util::fxhash::FxHashMap;

/// Sequences of the rows `keep` marks live that may have been deleted: those an
/// index.db that parses but is not trusted says are deleted; without one, those
/// the stream's message limits would have removed.
pub(super) fn maybe_deleted(
    backup: &Backup,
    scan: &Scan,
    keep: &[bool],
    untrusted: Option<&IndexDb>,
) -> Vec<u64> {
    let live = keep
        .iter()
        .enumerate()
        .filter(|(_, &kept)| kept)
        .map(|(row, _)| row);
    match untrusted {
        Some(index) => {
            let blocks: FxHashMap<u64, &IndexBlock> = index
                .blocks
                .iter()
                .map(|block| (block.index, block))
                .collect();
            live.filter(|&row| {
                let seq = backup.messages.seq[row];
                let block = scan
                    .row_block
                    .get(row)
                    .and_then(|block_index| blocks.get(block_index));
                // Above a block's (or the index's) last sequence: written after index.db.
                seq < index.first_seq
                    || block.is_some_and(|block| {
                        seq < block.first_seq
                            || (seq <= block.last_seq && block.deleted.binary_search(&seq).is_ok())
                    })
            })
            .map(|row| backup.messages.seq[row])
            .collect()
        }
        None => trimmed_by_limits(backup, live.collect()),
    }
}

/// Of the live rows, those the stream's max_msgs_per_subject and max_msgs limits
/// would have removed (all but the newest per subject, and overall).
fn trimmed_by_limits(backup: &Backup, mut rows: Vec<usize>) -> Vec<u64> {
    let Some(config) = &backup.config else {
        return Vec::new();
    };
    let positive = |limit: Option<i64>| limit.filter(|&limit| limit > 0).map(|limit| limit as u64);
    let per_subject = positive(config.max_msgs_per_subject);
    let overall = positive(config.max_msgs);
    if per_subject.is_none() && overall.is_none() {
        return Vec::new();
    }
    // Newest first.
    rows.sort_unstable_by_key(|&row| std::cmp::Reverse(backup.messages.seq[row]));
    let mut on_subject: FxHashMap<u32, u64> = FxHashMap::default();
    let mut out = Vec::new();
    let mut newer = 0u64;
    for row in rows {
        let seen = on_subject
            .entry(backup.messages.subject_id[row])
            .or_insert(0);
        let over_subject = per_subject.is_some_and(|limit| *seen >= limit);
        let over_all = overall.is_some_and(|limit| newer >= limit);
        if over_subject || over_all {
            out.push(backup.messages.seq[row]);
            continue;
        }
        *seen += 1;
        newer += 1;
    }
    out
}

/// Records the sequences that may have been deleted and the finding naming them.
pub(super) fn report_maybe_deleted(backup: &mut Backup, mut seqs: Vec<u64>, from_index: bool) {
    seqs.sort_unstable();
    seqs.dedup();
    let Some(&first) = seqs.first() else {
        backup.maybe_deleted = seqs;
        return;
    };
    let mut ranges: Vec<(u64, u64)> = Vec::new();
    for &seq in &seqs {
        match ranges.last_mut() {
            Some((_, to)) if *to + 1 == seq => *to = seq,
            _ => ranges.push((seq, seq)),
        }
    }
    let records = if from_index {
        "index.db's delete maps, which cannot be trusted here (see above), and no tombstone in the blocks; a restore brings them back"
    } else {
        "the lost index.db (the stream's limits removed them without a tombstone; a restore into a server with the same limits trims them again)"
    };
    backup.findings.push(
        Finding::warning(
            FindingKind::MaybeDeleted,
            format!(
                "{} message(s) may have been deleted: their deletion records were in {records}; sequences {}. A salvage asks whether to keep them (--maybe-deleted keep|drop)",
                group(seqs.len() as u64),
                ranges_text(&ranges)
            ),
        )
        .entry("msgs/index.db")
        .seq(first),
    );
    backup.maybe_deleted = seqs;
}
