//! What an export leaves out and why: the counts by reason, and the salvage's
//! choice about messages that may have been deleted — the one rule both a
//! salvaging export and a salvaging restore follow (refuse without a choice;
//! `drop` leaves them out as deleted sequences, `keep` keeps them).

use crate::model::{to_ranges, Backup};
use crate::ops::filter::Reason;
use crate::ops::wording::{group, ranges_text};
use serde::Serialize;

/// What a salvage does with messages that may have been deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MaybeDeletedChoice {
    Keep,
    Drop,
}

impl MaybeDeletedChoice {
    /// The `--maybe-deleted` value.
    pub fn label(self) -> &'static str {
        match self {
            MaybeDeletedChoice::Keep => "keep",
            MaybeDeletedChoice::Drop => "drop",
        }
    }
}

/// A salvage of a backup with messages that may have been deleted, asked for
/// without saying whether to keep them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} message(s) may have been deleted (their deletion records are lost; sequences {sequences}): choose whether the salvage keeps them with --maybe-deleted keep|drop", group(*.count as u64))]
pub struct MaybeDeletedUnchosen {
    pub count: usize,
    /// The sequences as abbreviated ranges ("15–16, 40").
    pub sequences: String,
}

/// The choice a salvage of `backup` must have: an error when the scan named
/// messages that may have been deleted and none was made (nothing to choose
/// without a salvage: the backup is then restored or exported as read).
pub fn require_maybe_deleted_choice(
    backup: &Backup,
    salvage: bool,
    choice: Option<MaybeDeletedChoice>,
) -> Result<(), MaybeDeletedUnchosen> {
    if !salvage || choice.is_some() || backup.maybe_deleted.is_empty() {
        return Ok(());
    }
    Err(MaybeDeletedUnchosen {
        count: backup.maybe_deleted.len(),
        sequences: maybe_deleted_ranges(backup),
    })
}

/// `Backup::maybe_deleted` as abbreviated ranges.
pub fn maybe_deleted_ranges(backup: &Backup) -> String {
    ranges_text(&to_ranges(backup.maybe_deleted.iter().copied()))
}

/// Which messages a salvage leaves out because they may have been deleted.
#[derive(Debug, Clone, Copy)]
pub struct MaybeDeletedRule<'a> {
    /// Sorted; empty unless a salvage chose `drop`.
    dropped: &'a [u64],
}

impl<'a> MaybeDeletedRule<'a> {
    pub fn new(backup: &'a Backup, salvage: bool, choice: Option<MaybeDeletedChoice>) -> Self {
        let drop = salvage && choice == Some(MaybeDeletedChoice::Drop);
        Self {
            dropped: if drop { &backup.maybe_deleted } else { &[] },
        }
    }

    /// Leaves nothing out (not a salvage).
    pub fn none() -> Self {
        Self { dropped: &[] }
    }

    /// Is sequence `seq` left out?
    pub fn drops(&self, seq: u64) -> bool {
        self.dropped.binary_search(&seq).is_ok()
    }

    /// Does the rule leave anything out?
    pub fn drops_any(&self) -> bool {
        !self.dropped.is_empty()
    }
}

/// What a salvage did with the messages that may have been deleted (reports).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MaybeDeletedOutcome {
    pub choice: MaybeDeletedChoice,
    /// Messages the scan named as maybe deleted.
    pub messages: u64,
    /// Their sequences as abbreviated ranges.
    pub sequences: String,
}

impl MaybeDeletedOutcome {
    /// The outcome of a salvage of `backup` (`None`: nothing to choose).
    pub fn of(backup: &Backup, salvage: bool, choice: Option<MaybeDeletedChoice>) -> Option<Self> {
        if !salvage || backup.maybe_deleted.is_empty() {
            return None;
        }
        Some(Self {
            choice: choice?,
            messages: backup.maybe_deleted.len() as u64,
            sequences: maybe_deleted_ranges(backup),
        })
    }

    /// "2 message(s) may have been deleted (sequences 15–16): left out as deleted (--maybe-deleted drop)".
    pub fn text(&self) -> String {
        format!(
            "{} message(s) may have been deleted (sequences {}): {} (--maybe-deleted {})",
            group(self.messages),
            self.sequences,
            match self.choice {
                MaybeDeletedChoice::Drop => "left out as deleted",
                MaybeDeletedChoice::Keep => "kept",
            },
            self.choice.label()
        )
    }
}

/// Messages dropped, by the first reason that applied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DropCounts {
    pub sequence_range: u64,
    pub time_range: u64,
    pub subject_not_included: u64,
    pub subject_excluded: u64,
    pub expired: u64,
    /// Header, payload, KV-operation or damaged filters.
    pub filter_fields: u64,
    /// The `where` expression.
    pub filter_expression: u64,
    /// Salvage only: the index had the message but its bytes could not be read.
    pub unreadable: u64,
    /// Salvage only: it may have been deleted (its deletion record is lost) and
    /// `--maybe-deleted drop` was chosen.
    pub maybe_deleted: u64,
}

impl DropCounts {
    pub fn total(&self) -> u64 {
        self.sequence_range
            + self.time_range
            + self.subject_not_included
            + self.subject_excluded
            + self.expired
            + self.filter_fields
            + self.filter_expression
            + self.unreadable
            + self.maybe_deleted
    }
}

pub(crate) fn count_drop(counts: &mut DropCounts, reason: Reason) {
    match reason {
        Reason::SequenceRange => counts.sequence_range += 1,
        Reason::TimeRange => counts.time_range += 1,
        Reason::SubjectNotIncluded => counts.subject_not_included += 1,
        Reason::SubjectExcluded => counts.subject_excluded += 1,
        Reason::Expired => counts.expired += 1,
        Reason::Fields => counts.filter_fields += 1,
        Reason::Expression => counts.filter_expression += 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backup_with(maybe_deleted: Vec<u64>) -> Backup {
        let mut backup = Backup::for_tests();
        backup.maybe_deleted = maybe_deleted;
        backup
    }

    #[test]
    fn a_salvage_needs_the_choice_and_drop_leaves_them_out() {
        let backup = backup_with(vec![15, 16, 40]);
        let unchosen = require_maybe_deleted_choice(&backup, true, None).expect_err("refused");
        assert_eq!(unchosen.count, 3);
        assert_eq!(unchosen.sequences, "15–16, 40");
        assert!(unchosen.to_string().contains("--maybe-deleted keep|drop"));
        // Not a salvage, or a choice made, or nothing named: no question.
        assert!(require_maybe_deleted_choice(&backup, false, None).is_ok());
        assert!(
            require_maybe_deleted_choice(&backup, true, Some(MaybeDeletedChoice::Keep)).is_ok()
        );
        assert!(require_maybe_deleted_choice(&backup_with(Vec::new()), true, None).is_ok());

        let drop = MaybeDeletedRule::new(&backup, true, Some(MaybeDeletedChoice::Drop));
        assert!(drop.drops(16) && !drop.drops(17) && drop.drops_any());
        let keep = MaybeDeletedRule::new(&backup, true, Some(MaybeDeletedChoice::Keep));
        assert!(!keep.drops(16) && !keep.drops_any());
        let not_salvage = MaybeDeletedRule::new(&backup, false, Some(MaybeDeletedChoice::Drop));
        assert!(!not_salvage.drops(16));

        let outcome = MaybeDeletedOutcome::of(&backup, true, Some(MaybeDeletedChoice::Drop))
            .expect("outcome");
        assert_eq!(
            outcome.text(),
            "3 message(s) may have been deleted (sequences 15–16, 40): left out as deleted (--maybe-deleted drop)"
        );
        assert_eq!(
            MaybeDeletedOutcome::of(&backup, false, Some(MaybeDeletedChoice::Drop)),
            None
        );
    }
}
