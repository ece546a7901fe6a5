//! v1: messages that read as live but may have been deleted, because the records
//! of their deletion are lost. A user delete leaves a tombstone in the blocks, but
//! limit trimming (max_msgs, max_msgs_per_subject: KV history) is recorded only in
//! index.db's delete maps; when index.db is lost or cannot be trusted, those
//! messages come back in a restore. So do messages below the first sequence that
//! backup.json records whose tombstones are lost. They are named by a finding, and
//! a salvage asks whether to keep them.
//!
//! When block bytes are lost too, tombstones may have been among them, and the
//! messages they deleted cannot be named: the scan counts the candidates (written
//! before the damage) and bounds how many were deleted by backup.json's deleted
//! count less the deletions the archive shows.

use super::Scan;
use crate::format::index_db::{IndexBlock, IndexDb};
use crate::model::{to_ranges, Backup, Finding, FindingKind, Severity, UnnamedDeletes};
use crate::ops::wording::{group, ranges_text};
use crate::util::fxhash::FxHashMap;

/// The rows `keep` marks live that may have been deleted, by what says so.
#[derive(Debug, Default)]
pub(super) struct MaybeDeleted {
    /// An index.db that parses but is not trusted lists them as deleted.
    pub(super) by_index: Vec<u64>,
    /// Without index.db: the stream's message limits would have removed them.
    pub(super) by_limits: Vec<u64>,
    /// Without index.db: a later message on their subject rolled it up.
    pub(super) by_rollup: Vec<u64>,
    /// Below the first sequence backup.json records.
    pub(super) below_first: Vec<u64>,
}

impl MaybeDeleted {
    /// Every sequence named, sorted.
    pub(super) fn all(&self) -> Vec<u64> {
        let mut out: Vec<u64> = self
            .by_index
            .iter()
            .chain(&self.by_limits)
            .chain(&self.by_rollup)
            .chain(&self.below_first)
            .copied()
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// Sequences of the rows `keep` marks live that may have been deleted: those an
/// index.db that parses but is not trusted says are deleted; without one, those
/// the stream's message limits would have removed; and those below backup.json's
/// first sequence.
pub(super) fn maybe_deleted(
    backup: &Backup,
    scan: &Scan,
    keep: &[bool],
    untrusted: Option<&IndexDb>,
) -> MaybeDeleted {
    let live = keep
        .iter()
        .enumerate()
        .filter(|(_, &kept)| kept)
        .map(|(row, _)| row);
    let below_first = below_declared_first(backup, keep);
    match untrusted {
        Some(index) => {
            let blocks: FxHashMap<u64, &IndexBlock> = index
                .blocks
                .iter()
                .map(|block| (block.index, block))
                .collect();
            let by_index = live
                .filter(|&row| {
                    let seq = backup.messages.seq[row];
                    let block = scan
                        .row_block
                        .get(row)
                        .and_then(|block_index| blocks.get(block_index));
                    // Above a block's (or the index's) last sequence: written after index.db.
                    seq < index.first_seq
                        || block.is_some_and(|block| {
                            seq < block.first_seq
                                || (seq <= block.last_seq
                                    && block.deleted.binary_search(&seq).is_ok())
                        })
                })
                .map(|row| backup.messages.seq[row])
                .collect();
            MaybeDeleted {
                by_index,
                below_first,
                ..MaybeDeleted::default()
            }
        }
        None => {
            let live: Vec<usize> = live.collect();
            MaybeDeleted {
                by_limits: trimmed_by_limits(backup, live.clone()),
                by_rollup: rolled_up(backup, live),
                below_first,
                ..MaybeDeleted::default()
            }
        }
    }
}

/// Live rows below the first sequence backup.json records: deleted by the time the
/// backup was taken (a stream's first sequence only moves up), though no record of
/// the deletion survives in the archive.
fn below_declared_first(backup: &Backup, keep: &[bool]) -> Vec<u64> {
    let Some(declared) = backup
        .declared_state
        .as_ref()
        .filter(|state| state.first_seq > 0)
    else {
        return Vec::new();
    };
    live_seqs(backup, keep)
        .filter(|&seq| seq < declared.first_seq)
        .collect()
}

/// The sequences of the rows `keep` marks live.
fn live_seqs<'a>(backup: &'a Backup, keep: &'a [bool]) -> impl Iterator<Item = u64> + 'a {
    keep.iter()
        .enumerate()
        .filter(|(_, &kept)| kept)
        .map(|(row, _)| backup.messages.seq[row])
}

/// Error findings whose bytes, when they lie among the message blocks, may have
/// held tombstones.
const LOSS_KINDS: [FindingKind; 7] = [
    FindingKind::S2Framing,
    FindingKind::S2Truncated,
    FindingKind::TarHeader,
    FindingKind::TarTruncated,
    FindingKind::BlockRecord,
    FindingKind::RecordChecksum,
    FindingKind::LostData,
];

/// The decompressed offset of the last place where block bytes were lost or are
/// damaged; `u64::MAX` when a loss has no known place. A tombstone is appended to
/// the block being written, so one in bytes lost at `p` names a message written
/// before it: a sequence below that of the first record read after `p`.
fn last_block_damage(backup: &Backup, scan: &Scan) -> Option<u64> {
    let is_block = |name: &str| name.starts_with("msgs/") && name.ends_with(".blk");
    let last_block = backup
        .entries
        .iter()
        .filter(|entry| is_block(&entry.name))
        .map(|entry| entry.data_offset)
        .max()
        .unwrap_or(0);
    // index.db and consumer files follow the blocks (2.10.21+): damage there hides
    // no tombstone.
    let blocks_end = backup
        .entries
        .iter()
        .filter(|entry| !is_block(&entry.name) && entry.header_offset > last_block)
        .filter(|entry| entry.name == "msgs/index.db" || entry.name.starts_with("obs/"))
        .map(|entry| entry.header_offset)
        .min()
        .unwrap_or(u64::MAX);
    let in_blocks = scan
        .block_first_bad
        .values()
        .map(|&(_, block_end)| block_end);
    let from_findings = backup
        .findings
        .iter()
        .filter(|finding| finding.severity == Severity::Error && LOSS_KINDS.contains(&finding.kind))
        .filter_map(|finding| match finding.offset {
            Some(offset) if offset < blocks_end => Some(offset),
            Some(_) => None,
            None => Some(u64::MAX),
        });
    // Findings past the per-kind cap are only counted: their places are unknown.
    let omitted = (backup.findings.total() > backup.findings.len() as u64).then_some(u64::MAX);
    in_blocks.chain(from_findings).chain(omitted).max()
}

/// Deletions that may come back without a name: block bytes were lost where
/// tombstones may have been, and index.db (which would list every deletion) is lost
/// too. The candidates are the live rows written before the last such place; how
/// many of them were deleted is bounded by backup.json's deleted count less the
/// deletions the archive still shows. `None` when that bound is 0 or unknown
/// damage is absent.
pub(super) fn unnamed_deletes(
    backup: &Backup,
    scan: &Scan,
    keep: &[bool],
    named: &[u64],
) -> Option<UnnamedDeletes> {
    let declared = backup.declared_state.as_ref();
    let damage = last_block_damage(backup, scan)?;
    let below_seq = (0..backup.messages.len())
        .filter(|&row| backup.messages.offset(row) > damage)
        .map(|row| backup.messages.seq[row])
        .min()
        .unwrap_or(u64::MAX);
    // Without backup.json every sequence is in range and nothing bounds the count.
    let in_declared = |seq: u64| {
        declared.is_none_or(|declared| seq >= declared.first_seq && seq <= declared.last_seq)
    };
    let candidates: Vec<u64> = live_seqs(backup, keep)
        .filter(|&seq| seq < below_seq && in_declared(seq) && named.binary_search(&seq).is_err())
        .collect();
    let shown = scan
        .tombstones
        .iter()
        .chain(
            scan.erased
                .iter()
                .filter(|seq| !scan.tombstones.contains(seq)),
        )
        .filter(|&&seq| in_declared(seq))
        .count() as u64
        + named.iter().filter(|&&seq| in_declared(seq)).count() as u64;
    let at_most = declared
        .map_or(u64::MAX, |declared| {
            declared.num_deleted.saturating_sub(shown)
        })
        .min(candidates.len() as u64);
    if at_most == 0 {
        return None;
    }
    Some(UnnamedDeletes {
        candidates: candidates.len() as u64,
        first_seq: candidates.iter().copied().min().unwrap_or(0),
        last_seq: candidates.iter().copied().max().unwrap_or(0),
        at_most,
        declared_deleted: declared.map(|declared| declared.num_deleted),
        shown_deleted: shown,
    })
}

/// The finding of deletions that may come back unnamed.
pub(super) fn report_unnamed_deletes(backup: &mut Backup, unnamed: Option<UnnamedDeletes>) {
    let Some(found) = &unnamed else {
        backup.unnamed_deletes = None;
        return;
    };
    backup.findings.push(
        Finding::warning(
            FindingKind::MaybeDeleted,
            format!(
                "{}. A salvage or restore keeps them all",
                crate::ops::wording::capitalise(&crate::ops::wording::unnamed_deletes_why(found))
            ),
        )
        .seq(found.first_seq),
    );
    backup.unnamed_deletes = unnamed;
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

/// Of the live rows, those older than a message with a `Nats-Rollup` header on
/// their subject (a KV purge is one): the rollup removed them, and only index.db
/// recorded it. Taken as a subject rollup: an `all` rollup removes more, which the
/// unnamed count bounds.
fn rolled_up(backup: &Backup, mut rows: Vec<usize>) -> Vec<u64> {
    use crate::format::headers::flags;
    // Newest first.
    rows.sort_unstable_by_key(|&row| std::cmp::Reverse(backup.messages.seq[row]));
    let mut rolled: crate::util::fxhash::FxHashSet<u32> = Default::default();
    let mut out = Vec::new();
    for row in rows {
        let subject = backup.messages.subject_id[row];
        if rolled.contains(&subject) {
            out.push(backup.messages.seq[row]);
        } else if backup.messages.flags(row) & flags::ROLLUP != 0 {
            rolled.insert(subject);
        }
    }
    out
}

/// Records the sequences that may have been deleted and the finding naming them,
/// with what says so for each group.
pub(super) fn report_maybe_deleted(backup: &mut Backup, found: &MaybeDeleted) {
    let seqs = found.all();
    let Some(&first) = seqs.first() else {
        backup.maybe_deleted = seqs;
        return;
    };
    let declared_first = backup
        .declared_state
        .as_ref()
        .map_or(0, |state| state.first_seq);
    let mut why = Vec::new();
    if !found.by_index.is_empty() {
        why.push(format!(
            "{} are listed as deleted by index.db's delete maps, which cannot be trusted here (see above), and no tombstone in the blocks says so",
            group(found.by_index.len() as u64)
        ));
    }
    if !found.by_limits.is_empty() {
        why.push(format!(
            "{} would have been removed by the stream's limits (max_msgs, max_msgs_per_subject), which only the lost index.db recorded; a restore into a server with the same limits trims them again",
            group(found.by_limits.len() as u64)
        ));
    }
    if !found.by_rollup.is_empty() {
        why.push(format!(
            "{} come before a later message on their subject with a Nats-Rollup header (as a KV purge writes), which removed them; only the lost index.db recorded that",
            group(found.by_rollup.len() as u64)
        ));
    }
    if !found.below_first.is_empty() {
        why.push(format!(
            "{} lie below the first sequence backup.json records ({declared_first}): deleted before the backup was taken, and no record of their deletion is left",
            group(found.below_first.len() as u64)
        ));
    }
    backup.findings.push(
        Finding::warning(
            FindingKind::MaybeDeleted,
            format!(
                "{} message(s) may have been deleted: {}; sequences {}. A salvage asks whether to keep them (--maybe-deleted keep|drop)",
                group(seqs.len() as u64),
                why.join("; "),
                ranges_text(&to_ranges(seqs.iter().copied()))
            ),
        )
        .entry("msgs/index.db")
        .seq(first),
    );
    backup.maybe_deleted = seqs;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::headers::flags;

    /// A KV purge (a rollup of its subject) removed every older revision of the
    /// key; only index.db recorded that. Other keys and newer revisions stay.
    #[test]
    fn revisions_before_a_rollup_of_their_subject_are_named() {
        let purge = flags::KV_PURGE | flags::ROLLUP;
        let backup = Backup::for_tests_with_rows(&[
            (1, "$KV.b.a", 0),
            (2, "$KV.b.x", 0),
            (3, "$KV.b.a", 0),
            (4, "$KV.b.a", purge),
            (5, "$KV.b.a", 0),
            (6, "$KV.b.x", flags::KV_DELETE),
        ]);
        let rows = (0..backup.messages.len()).collect();
        let mut named = rolled_up(&backup, rows);
        named.sort_unstable();
        assert_eq!(named, vec![1, 3]);
    }
}
