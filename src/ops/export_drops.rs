//! What an export leaves out and why: the counts by reason, and the salvage's
//! choice about messages that may have been deleted.

use crate::ops::filter::Reason;
use serde::Serialize;

/// What a salvage does with messages that may have been deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaybeDeletedChoice {
    Keep,
    Drop,
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
