//! Which archive rows a restore writes, and the walk that reads them: damaged
//! rows are always left out; then either the settled rows of the restore
//! prediction (a local restore by default), or, if asked, the rows whose
//! `Nats-TTL` ran out; a salvage with `--maybe-deleted drop` also leaves out
//! the rows that may have been deleted. Left-out rows become deleted sequences.

use super::RestoreReport;
use crate::format::headers::flags;
use crate::model::Backup;
use crate::ops::export_drops::MaybeDeletedRule;
use crate::ops::read::{MessageReader, ReadError};

/// What a restore leaves out besides damaged rows.
#[derive(Debug, Clone, Copy)]
pub enum RowRule<'a> {
    /// Every intact row.
    All,
    /// Rows whose `Nats-TTL` has expired at this reference time are left out.
    DropExpired(i64),
    /// Only the rows marked true (indexed like `backup.messages`): the settled
    /// rows of `restore_prediction::settle`.
    Settled(&'a [bool]),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    Damaged,
    /// A salvage chose to drop the messages that may have been deleted.
    MaybeDeleted,
    Expired,
    /// Dropped by a limit, max_age or TTL rule of the settled prediction.
    Settled,
}

/// Why a row is not restored (`None`: restore it).
pub fn skip_reason(backup: &Backup, row: usize, rule: RowRule<'_>) -> Option<SkipReason> {
    let message = backup.messages.row(row)?;
    if message.flags & flags::UNTRUSTED != 0 {
        return Some(SkipReason::Damaged);
    }
    match rule {
        RowRule::All => None,
        RowRule::DropExpired(reference_ns) => backup
            .messages
            .ttl_of(message.seq)
            .is_expired(message.ts_ns, reference_ns)
            .then_some(SkipReason::Expired),
        RowRule::Settled(keep) => {
            (!keep.get(row).copied().unwrap_or(true)).then_some(SkipReason::Settled)
        }
    }
}

/// Why a row is not restored under `rule` and the salvage's `maybe_deleted`
/// rule: damaged first, then maybe deleted, then `rule`'s reason.
fn row_skip(
    backup: &Backup,
    row: usize,
    rule: RowRule<'_>,
    maybe_deleted: MaybeDeletedRule<'_>,
) -> Option<SkipReason> {
    let reason = skip_reason(backup, row, rule);
    if reason == Some(SkipReason::Damaged) {
        return reason;
    }
    let seq = backup.messages.seq.get(row).copied()?;
    if maybe_deleted.drops(seq) {
        return Some(SkipReason::MaybeDeleted);
    }
    reason
}

/// Calls `push(seq, ts_ns, subject, headers, data)` for every row a restore
/// keeps under `rules`, counting the rows it leaves out in `report`.
/// `before_row(row)` runs first for every row (cancel and progress).
pub(crate) fn for_each_kept_row<E>(
    backup: &Backup,
    (rule, maybe_deleted): (RowRule<'_>, MaybeDeletedRule<'_>),
    report: &mut RestoreReport,
    read_error: impl Fn(ReadError) -> E,
    mut before_row: impl FnMut(usize) -> Result<(), E>,
    mut push: impl FnMut(u64, i64, &[u8], &[u8], &[u8]) -> Result<(), E>,
) -> Result<(), E> {
    let mut reader = if backup.messages.is_empty() {
        None
    } else {
        Some(MessageReader::open(backup).map_err(&read_error)?)
    };
    for row in 0..backup.messages.len() {
        before_row(row)?;
        match row_skip(backup, row, rule, maybe_deleted) {
            Some(SkipReason::Damaged) => {
                report.damaged_skipped += 1;
                continue;
            }
            Some(SkipReason::MaybeDeleted) => {
                report.dropped.maybe_deleted += 1;
                continue;
            }
            Some(SkipReason::Expired) => {
                report.expired_dropped += 1;
                continue;
            }
            Some(SkipReason::Settled) => {
                report.settled_skipped += 1;
                continue;
            }
            None => {}
        }
        let (Some(reader), Some(message)) = (reader.as_mut(), backup.messages.row(row)) else {
            continue;
        };
        let bytes = reader.read_row(backup, row).map_err(&read_error)?;
        let subject = backup.subjects.name(message.subject_id);
        push(
            message.seq,
            message.ts_ns,
            subject.as_bytes(),
            &bytes.headers,
            &bytes.data,
        )?;
    }
    Ok(())
}

/// [`for_each_kept_row`] with every intact row, or without the expired ones
/// (the server restore's `--drop-expired`), and without the maybe-deleted ones
/// when the salvage's rule drops them.
pub(crate) fn for_each_restored_message<E>(
    backup: &Backup,
    (drop_expired, reference_ns): (bool, i64),
    maybe_deleted: MaybeDeletedRule<'_>,
    report: &mut RestoreReport,
    read_error: impl Fn(ReadError) -> E,
    before_row: impl FnMut(usize) -> Result<(), E>,
    push: impl FnMut(u64, i64, &[u8], &[u8], &[u8]) -> Result<(), E>,
) -> Result<(), E> {
    let rule = if drop_expired {
        RowRule::DropExpired(reference_ns)
    } else {
        RowRule::All
    };
    for_each_kept_row(
        backup,
        (rule, maybe_deleted),
        report,
        read_error,
        before_row,
        push,
    )
}
