//! Consumer state as the server's CONSUMER.INFO reports it, computed from the
//! scanned model: `num_pending` by the server's rules (filters, live messages,
//! `last_per_subject`, start rules when the archive has no state), ack pending,
//! redelivered, pause at the snapshot time, priority groups; and where one
//! message stands for each consumer.
//!
//! Cost: one pass over the subject table per consumer, plus at most half of the
//! message index (the shorter side of the start sequence) for filtered consumers;
//! per-subject first/last sequences are built once, only when a rule needs them.
//!
//! Reads the model only: no archive bytes, no I/O.

use crate::model::config::DeliverPolicy;
use crate::model::{
    Backup, ConsumerConfig, ConsumerInfo, ConsumerStatus, MessageStanding, SequencePair,
};
use crate::util::subject::subject_matches;
use crate::util::time::parse_rfc3339_ns;
use std::cell::OnceCell;

/// The consumer config fields these rules read (from `ConsumerInfo.typed`).
#[derive(Debug, Clone, Default)]
struct Settings {
    deliver_policy: String,
    opt_start_seq: u64,
    opt_start_time_ns: Option<i64>,
    max_deliver: i64,
    pause_until_ns: Option<i64>,
    priority_groups: Vec<String>,
}

fn settings(typed: &ConsumerConfig) -> Settings {
    Settings {
        // `undefined` (and absent) is read as `all`, as the server does.
        deliver_policy: match &typed.deliver_policy {
            None | Some(DeliverPolicy::Undefined) => "all".to_string(),
            Some(policy) => policy.as_str().to_string(),
        },
        opt_start_seq: typed.opt_start_seq.unwrap_or(0),
        opt_start_time_ns: typed.opt_start_time.as_deref().and_then(parse_rfc3339_ns),
        max_deliver: typed.max_deliver.unwrap_or(0),
        // Go's zero time means "not paused".
        pause_until_ns: typed
            .pause_until
            .as_deref()
            .and_then(parse_rfc3339_ns)
            .filter(|&ns| ns != 0),
        priority_groups: typed.priority_groups.clone().unwrap_or_default(),
    }
}

/// The stream side of the rules, with per-subject tables built on first use.
struct StreamView<'a> {
    backup: &'a Backup,
    /// Highest live sequence per subject id (0: none).
    last_by_subject: OnceCell<Vec<u64>>,
    /// Lowest live sequence per subject id (0: none).
    first_by_subject: OnceCell<Vec<u64>>,
}

impl<'a> StreamView<'a> {
    fn new(backup: &'a Backup) -> Self {
        Self {
            backup,
            last_by_subject: OnceCell::new(),
            first_by_subject: OnceCell::new(),
        }
    }

    fn last_by_subject(&self) -> &[u64] {
        self.last_by_subject.get_or_init(|| {
            let mut last = vec![0u64; self.backup.subjects.len()];
            let messages = &self.backup.messages;
            for (&seq, &id) in messages.seq.iter().zip(&messages.subject_id) {
                if let Some(slot) = last.get_mut(id as usize) {
                    *slot = (*slot).max(seq);
                }
            }
            last
        })
    }

    fn first_by_subject(&self) -> &[u64] {
        self.first_by_subject.get_or_init(|| {
            let mut first = vec![0u64; self.backup.subjects.len()];
            let messages = &self.backup.messages;
            for (&seq, &id) in messages.seq.iter().zip(&messages.subject_id) {
                if let Some(slot) = first.get_mut(id as usize) {
                    if *slot == 0 || seq < *slot {
                        *slot = seq;
                    }
                }
            }
            first
        })
    }

    /// Which subject ids match any of `filters`; `None`: every subject (no filter, or `>`).
    fn mask(&self, filters: &[String]) -> Option<Vec<bool>> {
        if filters.is_empty() || filters.iter().any(|f| f.is_empty() || f == ">") {
            return None;
        }
        let subjects = &self.backup.subjects;
        Some(
            (0..subjects.len())
                .map(|id| {
                    let name = subjects.name(id as u32);
                    filters.iter().any(|filter| subject_matches(filter, name))
                })
                .collect(),
        )
    }

    fn live_matching(&self, mask: &[bool]) -> u64 {
        let subjects = &self.backup.subjects;
        if subjects.counts.len() == subjects.len() {
            return mask
                .iter()
                .zip(&subjects.counts)
                .filter(|(matches, _)| **matches)
                .map(|(_, count)| *count)
                .sum();
        }
        count_matching(&self.backup.messages.subject_id, mask)
    }

    /// Live matching messages with a sequence ≥ `from_seq`.
    fn count_from(&self, mask: Option<&[bool]>, from_seq: u64) -> u64 {
        let messages = &self.backup.messages;
        let start = messages.lower_bound(from_seq).min(messages.len());
        let rows = messages.len();
        let Some(mask) = mask else {
            return (rows - start) as u64;
        };
        let (before, after) = messages
            .subject_id
            .split_at(start.min(messages.subject_id.len()));
        // Walk the shorter side of `start`.
        if before.len() <= after.len() {
            self.live_matching(mask)
                .saturating_sub(count_matching(before, mask))
        } else {
            count_matching(after, mask)
        }
    }

    /// Matching subjects whose last live message is at or after `from_seq`.
    fn subjects_from(&self, mask: Option<&[bool]>, from_seq: u64) -> u64 {
        self.last_by_subject()
            .iter()
            .enumerate()
            .filter(|(id, &last)| last != 0 && last >= from_seq && matches(mask, *id))
            .count() as u64
    }

    /// Matching subjects whose last live message up to `upto` lies in `from..=upto`.
    fn lasts_between(&self, mask: Option<&[bool]>, from: u64, upto: u64) -> u64 {
        let messages = &self.backup.messages;
        let start = messages.lower_bound(from);
        let end = messages.lower_bound(upto.saturating_add(1)).max(start);
        let (Some(seqs), Some(ids)) = (
            messages.seq.get(start..end),
            messages.subject_id.get(start..end),
        ) else {
            return 0;
        };
        // A row is its subject's last up to `upto` when no later row of the subject is ≤ `upto`.
        let mut seen = vec![false; self.backup.subjects.len()];
        let mut count = 0;
        for (_, &id) in seqs.iter().zip(ids).rev() {
            if let Some(slot) = seen.get_mut(id as usize) {
                if !*slot && matches(mask, id as usize) {
                    count += 1;
                }
                *slot = true;
            }
        }
        count
    }

    /// First live matching message at or after `from_seq`.
    fn first_from(&self, mask: Option<&[bool]>, from_seq: u64) -> Option<u64> {
        let messages = &self.backup.messages;
        let start = messages.lower_bound(from_seq);
        let tail = messages.subject_id.get(start..)?;
        let offset = tail.iter().position(|&id| matches(mask, id as usize))?;
        messages.seq.get(start + offset).copied()
    }
}

fn matches(mask: Option<&[bool]>, id: usize) -> bool {
    mask.is_none_or(|mask| mask.get(id).copied().unwrap_or(false))
}

fn count_matching(subject_ids: &[u32], mask: &[bool]) -> u64 {
    subject_ids
        .iter()
        .filter(|&&id| mask.get(id as usize).copied().unwrap_or(false))
        .count() as u64
}

/// When the backup was taken: the v2 snapshot time, else the latest time the archive names.
pub fn snapshot_reference_ns(backup: &Backup) -> i64 {
    if let Some(ns) = backup.snapshot_time_ns {
        return ns;
    }
    let created = backup
        .created
        .as_deref()
        .and_then(parse_rfc3339_ns)
        .unwrap_or(0);
    let declared = backup
        .declared_state
        .as_ref()
        .map(|state| state.last_ts_ns)
        .unwrap_or(0);
    backup.state.last_ts_ns.max(declared).max(created)
}

/// The server's `checkNumPending`: nothing past the last sequence, never more than
/// the stream holds or than sequences remain.
fn clamp_pending(backup: &Backup, next_seq: u64, count: impl FnOnce(u64) -> u64) -> u64 {
    let stream = &backup.state;
    if stream.messages == 0 || next_seq > stream.last_seq {
        return 0;
    }
    count(next_seq)
        .min(stream.messages)
        .min(stream.last_seq - next_seq + 1)
}

/// The server's `selectStartingSeqNo`: where a consumer without stored state starts.
fn start_seq(view: &StreamView, settings: &Settings, filters: &[String]) -> u64 {
    let backup = view.backup;
    let state = &backup.state;
    let mask = view.mask(filters);
    let per_filter = |pick: &[u64], want_max: bool| -> Vec<Option<u64>> {
        let subjects = &backup.subjects;
        filters
            .iter()
            .map(|filter| {
                let seqs = (0..subjects.len())
                    .filter(|&id| subject_matches(filter, subjects.name(id as u32)))
                    .filter_map(|id| pick.get(id).copied().filter(|&seq| seq != 0));
                if want_max {
                    seqs.max()
                } else {
                    seqs.min()
                }
            })
            .collect()
    };
    let mut seq = if settings.opt_start_seq != 0 {
        settings.opt_start_seq
    } else {
        match settings.deliver_policy.as_str() {
            "all" => state.first_seq,
            "last" if mask.is_none() => state.last_seq,
            "last" => per_filter(view.last_by_subject(), true)
                .into_iter()
                .flatten()
                .max()
                .unwrap_or(0),
            "last_per_subject" => {
                let per_subject_limit = backup
                    .config
                    .as_ref()
                    .and_then(|config| config.max_msgs_per_subject);
                if per_subject_limit == Some(1) {
                    state.first_seq
                } else {
                    view.last_by_subject()
                        .iter()
                        .enumerate()
                        .filter(|(id, &last)| last != 0 && matches(mask.as_deref(), *id))
                        .map(|(_, &last)| last)
                        .min()
                        .unwrap_or(state.last_seq)
                }
            }
            _ => match settings.opt_start_time_ns {
                Some(time_ns) => {
                    let messages = &backup.messages;
                    let row = messages.ts_ns.partition_point(|&ts| ts < time_ns);
                    let mut seq = messages.seq.get(row).copied().unwrap_or(state.last_seq + 1);
                    if mask.is_some() {
                        // Skip ahead to the nearest first message of a filter.
                        let nearest = per_filter(view.first_by_subject(), false)
                            .into_iter()
                            .flatten()
                            .filter(|&first| first >= seq)
                            .fold(state.last_seq, u64::min);
                        if nearest > seq && nearest < state.last_seq {
                            seq = nearest;
                        }
                    }
                    seq
                }
                None => state.last_seq + 1,
            },
        }
    };
    if state.first_seq == 0 && settings.opt_start_seq == 0 {
        seq = 1;
    } else if seq > state.last_seq && settings.opt_start_seq == 0 {
        seq = state.last_seq + 1;
    } else if seq < state.first_seq {
        seq = state.first_seq;
    }
    seq
}

fn compute_one(
    view: &StreamView,
    consumer: &ConsumerInfo,
    recorded: bool,
    reference_ns: i64,
) -> ConsumerStatus {
    let backup = view.backup;
    let settings = settings(&consumer.typed);
    let filters = consumer.filter_subjects();
    let mask = view.mask(&filters);
    let state = &consumer.state;
    let (delivered, ack_floor, next_seq) = if recorded {
        (
            state.delivered,
            state.ack_floor,
            state.delivered.stream_seq.saturating_add(1),
        )
    } else {
        let next_seq = start_seq(view, &settings, &filters);
        let floor = SequencePair {
            consumer_seq: 0,
            stream_seq: next_seq.saturating_sub(1),
        };
        (floor, floor, next_seq)
    };
    let last_per_subject = settings.deliver_policy == "last_per_subject";
    // After a restart the server counts subjects (`NumPending(.., lastPerSubject)`).
    let after_restore = clamp_pending(backup, next_seq, |seq| {
        if last_per_subject {
            view.subjects_from(mask.as_deref(), seq)
        } else {
            view.count_from(mask.as_deref(), seq)
        }
    });
    let creation_seq = consumer
        .created
        .as_deref()
        .and_then(parse_rfc3339_ns)
        .filter(|&ns| ns > 0)
        .map(|created_ns| {
            let messages = &backup.messages;
            let row = messages.ts_ns.partition_point(|&ts| ts <= created_ns);
            row.checked_sub(1)
                .and_then(|row| messages.seq.get(row).copied())
                .unwrap_or(0)
        });
    let num_pending = match creation_seq {
        // A running last_per_subject consumer delivers the last message per subject
        // as of its creation, then every message after it (`lastSeqSkipList`).
        Some(created_at) if last_per_subject && recorded => {
            clamp_pending(backup, next_seq, |seq| {
                if seq > created_at {
                    view.count_from(mask.as_deref(), seq)
                } else {
                    view.lasts_between(mask.as_deref(), seq, created_at)
                        + view.count_from(mask.as_deref(), created_at.saturating_add(1))
                }
            })
        }
        _ => after_restore,
    };
    let first_pending_seq = if num_pending == 0 {
        None
    } else {
        view.first_from(mask.as_deref(), next_seq)
    };
    let oldest_ack = state
        .pending
        .iter()
        .map(|entry| entry.stream_seq)
        .find(|&seq| backup.messages.find_seq(seq).is_some());
    let first_owed_seq = match (oldest_ack, first_pending_seq) {
        (Some(ack), Some(next)) => Some(ack.min(next)),
        (ack, next) => ack.or(next),
    };
    let (paused, pause_remaining_ns) = match settings.pause_until_ns {
        Some(until) if until > reference_ns => (true, until - reference_ns),
        _ => (false, 0),
    };
    ConsumerStatus {
        num_pending,
        num_pending_after_restore: after_restore,
        num_pending_exact: !last_per_subject || creation_seq.is_some(),
        num_ack_pending: state.pending.len() as u64,
        num_redelivered: if settings.max_deliver == 1 {
            0
        } else {
            state.redelivered.len() as u64
        },
        delivered,
        ack_floor,
        paused,
        pause_remaining_ns,
        priority_groups: settings.priority_groups.into_iter().take(1).collect(),
        next_seq,
        first_pending_seq,
        first_owed_seq,
        state_recorded: recorded,
        reference_ns,
    }
}

/// Every consumer's status, in `backup.consumers` order, judged at the snapshot time.
pub fn compute_all(backup: &Backup) -> Vec<ConsumerStatus> {
    let view = StreamView::new(backup);
    let reference_ns = snapshot_reference_ns(backup);
    backup
        .consumers
        .iter()
        .map(|consumer| compute_one(&view, consumer, consumer.state_read, reference_ns))
        .collect()
}

/// What the server would report for a consumer with this config created on the
/// stream as the archive holds it: its stored state ignored, the start rules applied.
pub fn compute_as_new(backup: &Backup, consumer: &ConsumerInfo) -> ConsumerStatus {
    let mut fresh = consumer.clone();
    fresh.state = Default::default();
    compute_one(
        &StreamView::new(backup),
        &fresh,
        false,
        snapshot_reference_ns(backup),
    )
}

/// Where the message `seq` on `subject` stands for a consumer with `status`.
pub fn standing(
    consumer: &ConsumerInfo,
    status: &ConsumerStatus,
    seq: u64,
    subject: &str,
) -> MessageStanding {
    let filters = consumer.filter_subjects();
    let selected = filters.is_empty()
        || filters
            .iter()
            .any(|filter| filter.is_empty() || subject_matches(filter, subject));
    if !selected {
        return MessageStanding::NotFiltered;
    }
    if consumer
        .state
        .pending
        .binary_search_by_key(&seq, |entry| entry.stream_seq)
        .is_ok()
    {
        return MessageStanding::AckPending;
    }
    if seq >= status.next_seq {
        MessageStanding::NotDelivered
    } else {
        MessageStanding::Past
    }
}
