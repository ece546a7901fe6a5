//! What a restore of this archive would leave once the server settles, at a
//! reference time: the limits of the config that will be used applied in the
//! order the file store applies them when it opens (max_msgs, max_bytes —
//! both only with discard old —, max_age, max_msgs_per_subject), then messages
//! whose `Nats-TTL` ran out dropped (sequences kept as deleted); consumers as
//! the server leaves them (pending acks of dropped messages terminated, the
//! ack floor moved past them, num_pending counted over what is left).
//!
//! Two targets: a restore through the server's API ([`Target::Server`]), and a
//! local store (`--store-dir`) that nats-server opens at startup
//! ([`Target::Store`]): there every limit is applied as the store opens, so
//! max_age spares no `Nats-TTL: never` message (filestore `expireMsgsOnRecover`),
//! and a consumer past `last_seq` is reconciled as the server reconciles it when it
//! loads it (`reconcile_with_stream`).
//! [`settle`] also hands the local restore the rows to write and the consumer
//! states to store, so what it writes is what the prediction says.
//!
//! Reads the model only: no archive bytes, no I/O; the restore itself is `restore_local` /
//! `restore_server`.

use crate::format::filestore::record_size;
use crate::format::headers::Ttl;
use crate::model::config::Discard;
use crate::model::{
    reconcile_with_stream, ArchiveFormat, Backup, ConsumerState, ConsumerStatus, PendingEntry,
    SequencePair, StreamConfig, StreamState,
};
use crate::ops::consumer_state;
use serde::Serialize;
use serde_json::Value;

/// Messages a restore drops, by the rule that drops them (each counted once, first rule wins).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DroppedCounts {
    pub max_msgs: u64,
    pub max_bytes: u64,
    pub max_age: u64,
    pub max_msgs_per_subject: u64,
    pub ttl_expired: u64,
    pub total: u64,
}

impl DroppedCounts {
    /// "1,204 messages: 1,180 past max_age, 24 TTL expired" (empty reasons left out).
    pub fn text(&self) -> String {
        let grouped = crate::util::grouped;
        let reasons: Vec<String> = [
            (self.max_msgs, "over max_msgs"),
            (self.max_bytes, "over max_bytes"),
            (self.max_age, "past max_age"),
            (self.max_msgs_per_subject, "over max_msgs_per_subject"),
            (self.ttl_expired, "TTL expired"),
        ]
        .iter()
        .filter(|(count, _)| *count > 0)
        .map(|(count, reason)| format!("{} {reason}", grouped(*count)))
        .collect();
        format!("{} message(s): {}", grouped(self.total), reasons.join(", "))
    }
}

/// A consumer after the restore settles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PredictedConsumer {
    pub name: String,
    pub delivered: SequencePair,
    pub ack_floor: SequencePair,
    pub num_pending: u64,
    pub num_ack_pending: u64,
    pub num_redelivered: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RestorePrediction {
    pub reference_ns: i64,
    pub state: StreamState,
    pub dropped: DroppedCounts,
    pub consumers: Vec<PredictedConsumer>,
}

/// Where the restore goes: the rules differ in one place (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Target {
    /// `$JS.API.STREAM.RESTORE`.
    #[default]
    Server,
    /// A local store directory nats-server opens at startup.
    Store,
}

/// A prediction with what a local restore needs to write it: which rows stay
/// (indexed like `backup.messages`) and each consumer's settled state (in
/// `backup.consumers` order).
#[derive(Debug, Clone)]
pub struct Settled {
    pub prediction: RestorePrediction,
    pub keep: Vec<bool>,
    pub consumer_states: Vec<ConsumerState>,
}

/// The stream config fields the rules read.
struct Limits {
    discard_old: bool,
    max_msgs: Option<u64>,
    max_bytes: Option<u64>,
    max_age_ns: Option<i64>,
    max_msgs_per_subject: Option<u64>,
    allow_msg_ttl: bool,
    memory: bool,
}

fn limits(config: Option<&StreamConfig>) -> Limits {
    let positive = |value: Option<i64>| value.filter(|&value| value > 0);
    Limits {
        discard_old: config
            .and_then(|config| config.discard.as_ref())
            .is_none_or(|discard| *discard == Discard::Old),
        max_msgs: positive(config.and_then(|c| c.max_msgs)).map(|value| value as u64),
        max_bytes: positive(config.and_then(|c| c.max_bytes)).map(|value| value as u64),
        max_age_ns: config
            .and_then(StreamConfig::max_age_limit)
            .map(|age| age.0),
        max_msgs_per_subject: positive(config.and_then(|c| c.max_msgs_per_subject))
            .map(|value| value as u64),
        allow_msg_ttl: config.and_then(|c| c.allow_msg_ttl).unwrap_or(false),
        memory: config.is_some_and(StreamConfig::is_memory),
    }
}

/// Stored size of a row as the server accounts `bytes`.
fn row_bytes(backup: &Backup, row: usize, memory: bool) -> u64 {
    let subject_len = backup
        .subjects
        .name(backup.messages.subject_id.get(row).copied().unwrap_or(0))
        .len();
    let hdr = backup.messages.hdr_len(row) as usize;
    let data = backup.messages.data_len.get(row).copied().unwrap_or(0) as usize;
    if memory {
        (subject_len + hdr + data + 16) as u64
    } else {
        record_size(subject_len, hdr, data)
    }
}

/// Marks the rows each rule drops; returns the counts.
fn apply_rules(
    backup: &Backup,
    limits: &Limits,
    reference_ns: i64,
    target: Target,
    keep: &mut [bool],
) -> DroppedCounts {
    let messages = &backup.messages;
    let mut dropped = DroppedCounts::default();
    // A v2 restore skips expired entries as it stores them, before any limit; a v1
    // restore opens the store (limits) and the TTL timer expires messages afterwards.
    let ttl_first = backup.format == Some(ArchiveFormat::V2);
    if limits.allow_msg_ttl && ttl_first {
        dropped.ttl_expired = drop_expired(backup, reference_ns, keep);
    }
    let mut live = keep.iter().filter(|kept| **kept).count() as u64;
    if limits.discard_old {
        if let Some(max) = limits.max_msgs {
            for slot in keep.iter_mut() {
                if live <= max {
                    break;
                }
                if *slot {
                    *slot = false;
                    live -= 1;
                    dropped.max_msgs += 1;
                }
            }
        }
        if let Some(max) = limits.max_bytes {
            let sizes: Vec<u64> = (0..keep.len())
                .map(|row| row_bytes(backup, row, limits.memory))
                .collect();
            let mut total: u64 = keep
                .iter()
                .zip(&sizes)
                .filter(|(kept, _)| **kept)
                .map(|(_, size)| size)
                .sum();
            for (slot, size) in keep.iter_mut().zip(&sizes) {
                if total <= max {
                    break;
                }
                if *slot {
                    *slot = false;
                    total -= size;
                    dropped.max_bytes += 1;
                }
            }
        }
    }
    if let Some(max_age) = limits.max_age_ns {
        let cutoff = reference_ns.saturating_sub(max_age);
        // The age timer spares `Nats-TTL: never` (v2 restores store, then age out); a
        // store expires by age as it opens, sparing nothing.
        let spare_never = ttl_first && target == Target::Server;
        for ((slot, &ts), &seq) in keep.iter_mut().zip(&messages.ts_ns).zip(&messages.seq) {
            if *slot && ts <= cutoff && !(spare_never && messages.ttl_of(seq) == Ttl::Never) {
                *slot = false;
                dropped.max_age += 1;
            }
        }
    }
    if let Some(max) = limits.max_msgs_per_subject {
        let mut seen = vec![0u64; backup.subjects.len()];
        for (slot, &id) in keep.iter_mut().zip(&messages.subject_id).rev() {
            if let (true, Some(count)) = (*slot, seen.get_mut(id as usize)) {
                *count += 1;
                if *count > max {
                    *slot = false;
                    dropped.max_msgs_per_subject += 1;
                }
            }
        }
    }
    if limits.allow_msg_ttl && !ttl_first {
        dropped.ttl_expired = drop_expired(backup, reference_ns, keep);
    }
    dropped.total = dropped.max_msgs
        + dropped.max_bytes
        + dropped.max_age
        + dropped.max_msgs_per_subject
        + dropped.ttl_expired;
    dropped
}

/// Drops kept rows whose `Nats-TTL` ran out by `reference_ns`; returns how many.
fn drop_expired(backup: &Backup, reference_ns: i64, keep: &mut [bool]) -> u64 {
    let messages = &backup.messages;
    let mut expired = 0;
    for &(seq, ttl) in &messages.ttls {
        let Some(row) = messages.find_seq(seq) else {
            continue;
        };
        let stored_ns = messages.ts_ns.get(row).copied().unwrap_or(0);
        if let Some(slot) = keep.get_mut(row) {
            if *slot && ttl.is_expired(stored_ns, reference_ns) {
                *slot = false;
                expired += 1;
            }
        }
    }
    expired
}

/// The settled stream state over the rows kept.
fn predicted_state(backup: &Backup, keep: &[bool], memory: bool) -> StreamState {
    let messages = &backup.messages;
    let kept_rows: Vec<usize> = (0..keep.len()).filter(|&row| keep[row]).collect();
    let count = kept_rows.len() as u64;
    let last_seq = backup.state.last_seq;
    // The first live message, or past the last sequence when none is left.
    let first_seq = kept_rows
        .first()
        .and_then(|&row| messages.seq.get(row).copied())
        .unwrap_or(last_seq.saturating_add(1));
    let mut subjects = vec![false; backup.subjects.len()];
    for &row in &kept_rows {
        if let Some(seen) = messages
            .subject_id
            .get(row)
            .and_then(|&id| subjects.get_mut(id as usize))
        {
            *seen = true;
        }
    }
    StreamState {
        messages: count,
        bytes: kept_rows
            .iter()
            .map(|&row| row_bytes(backup, row, memory))
            .sum(),
        first_seq,
        last_seq,
        first_ts_ns: kept_rows
            .first()
            .and_then(|&row| messages.ts_ns.get(row).copied())
            .unwrap_or(0),
        last_ts_ns: backup.state.last_ts_ns,
        num_deleted: if count == 0 {
            0
        } else {
            (last_seq - first_seq + 1).saturating_sub(count)
        },
        num_subjects: subjects.iter().filter(|&&seen| seen).count() as u64,
        consumer_count: backup.consumers.len() as u64,
    }
}

/// The model as the restored server holds it: dropped rows removed, consumers'
/// pending acks of dropped messages terminated and their ack floors moved.
fn settled_model(backup: &Backup, keep: &[bool], state: StreamState, target: Target) -> Backup {
    let mut settled = backup.clone();
    settled.messages.retain_rows(keep);
    settled.messages.recount_subjects(&mut settled.subjects);
    settled.state = state;
    let first_seq = settled.state.first_seq;
    let last_seq = settled.state.last_seq;
    for consumer in &mut settled.consumers {
        if target == Target::Store {
            consumer.state = reconcile_with_stream(&consumer.state, last_seq);
        }
        let state = &mut consumer.state;
        let had_pending = !state.pending.is_empty();
        let dropped: Vec<PendingEntry> = state
            .pending
            .iter()
            .filter(|entry| settled.messages.find_seq(entry.stream_seq).is_none())
            .copied()
            .collect();
        state
            .pending
            .retain(|entry| settled.messages.find_seq(entry.stream_seq).is_some());
        state
            .redelivered
            .retain(|(seq, _)| settled.messages.find_seq(*seq).is_some());
        for entry in dropped {
            if entry.stream_seq < first_seq {
                // checkPending: a pending message below the first sequence is gone;
                // the floor rises to it.
                state.ack_floor.stream_seq = state.ack_floor.stream_seq.max(entry.stream_seq);
                state.ack_floor.consumer_seq = state.ack_floor.consumer_seq.max(entry.consumer_seq);
            } else {
                move_ack_floor(state, entry);
            }
        }
        // Nothing left pending: the floor is what was delivered.
        if had_pending && state.pending.is_empty() {
            state.ack_floor = state.delivered;
        }
    }
    settled
}

/// `restore_prediction` of `info --json`.
pub fn prediction_json(prediction: &RestorePrediction, config_overridden: bool) -> Value {
    let pair = |pair: &SequencePair| serde_json::json!({"consumer_seq": pair.consumer_seq, "stream_seq": pair.stream_seq});
    serde_json::json!({
        "reference_time": crate::util::time::format_rfc3339_ns(prediction.reference_ns),
        "config": if config_overridden { "override" } else { "backup" },
        "state": prediction.state.to_json(),
        "dropped": prediction.dropped,
        "consumers": prediction.consumers.iter().map(|consumer| serde_json::json!({
            "name": consumer.name,
            "delivered": pair(&consumer.delivered),
            "ack_floor": pair(&consumer.ack_floor),
            "num_pending": consumer.num_pending,
            "num_ack_pending": consumer.num_ack_pending,
            "num_redelivered": consumer.num_redelivered,
        })).collect::<Vec<_>>(),
    })
}

/// `restore_prediction` with `store_dir`: what a local restore (`--store-dir`)
/// settles at instead, when that differs from `server` (see [`Target::Store`]).
pub fn with_store_prediction(
    mut json: Value,
    backup: &Backup,
    config: Option<&Value>,
    server: &RestorePrediction,
) -> Value {
    let store = predict_for(backup, config, server.reference_ns, Target::Store);
    if store != *server {
        json["store_dir"] = prediction_json(&store, config.is_some());
    }
    json
}

/// The server's `moveAckFloor` after a pending message is terminated.
fn move_ack_floor(state: &mut ConsumerState, terminated: PendingEntry) {
    match state.pending.first() {
        None => state.ack_floor = state.delivered,
        Some(next) if terminated.consumer_seq == state.ack_floor.consumer_seq + 1 => {
            let next = state
                .pending
                .iter()
                .find(|entry| entry.stream_seq > terminated.stream_seq)
                .copied()
                .unwrap_or(*next);
            state.ack_floor = SequencePair {
                consumer_seq: next.consumer_seq.saturating_sub(1),
                stream_seq: next.stream_seq.saturating_sub(1),
            };
        }
        Some(_) => {}
    }
}

/// Predicts the settled state of a restore through the server at `reference_ns`,
/// with the backup's stream config or `config` (an edited config for the restore).
pub fn predict(backup: &Backup, config: Option<&Value>, reference_ns: i64) -> RestorePrediction {
    settle(backup, config, reference_ns, Target::Server).prediction
}

/// As [`predict`], for `target`.
pub fn predict_for(
    backup: &Backup,
    config: Option<&Value>,
    reference_ns: i64,
    target: Target,
) -> RestorePrediction {
    settle(backup, config, reference_ns, target).prediction
}

/// A store target reconciles a consumer delivered past `last_seq`.
fn needs_reconcile(backup: &Backup) -> bool {
    let last_seq = backup.state.last_seq;
    backup
        .consumers
        .iter()
        .any(|consumer| consumer.state.delivered.stream_seq > last_seq)
}

/// The prediction with the rows kept and the consumers' settled states.
pub fn settle(
    backup: &Backup,
    config: Option<&Value>,
    reference_ns: i64,
    target: Target,
) -> Settled {
    // As `restore --config`: a StreamConfig, or stream info with a "config" key.
    let replacement = config
        .map(|value| value.get("config").unwrap_or(value))
        .and_then(StreamConfig::from_json);
    let limits = limits(replacement.as_ref().or(backup.config.as_ref()));
    let mut keep = vec![true; backup.messages.len()];
    let dropped = apply_rules(backup, &limits, reference_ns, target, &mut keep);
    // A config that changes the storage (a memory stream stored as file) changes `bytes`.
    let storage_changed =
        limits.memory != backup.config.as_ref().is_some_and(StreamConfig::is_memory);
    let mut state = if dropped.total == 0 && !storage_changed {
        backup.state.clone()
    } else {
        predicted_state(backup, &keep, limits.memory)
    };
    if state.messages == 0 {
        let opened_as_store = backup.format == Some(ArchiveFormat::V1) || target == Target::Store;
        if opened_as_store && state.first_seq == 0 && state.last_seq == 0 {
            // A store that never held a message loads as first 0, last 0, and
            // counts that one "sequence" as deleted (2.14.6 and 2.15.1 alike).
            state.num_deleted = 1;
        } else {
            // An emptied store reports its first sequence as the one after the last.
            state.first_seq = state.last_seq.saturating_add(1);
        }
    }
    let settled;
    let model = if dropped.total == 0 && !(target == Target::Store && needs_reconcile(backup)) {
        backup
    } else {
        settled = settled_model(backup, &keep, state.clone(), target);
        &settled
    };
    let statuses: Vec<ConsumerStatus> = consumer_state::compute_all(model);
    let consumers = model
        .consumers
        .iter()
        .zip(statuses)
        .map(|(consumer, status)| PredictedConsumer {
            name: consumer.name.clone(),
            delivered: status.delivered,
            ack_floor: status.ack_floor,
            num_pending: status.num_pending_after_restore,
            num_ack_pending: status.num_ack_pending,
            num_redelivered: status.num_redelivered,
        })
        .collect();
    Settled {
        prediction: RestorePrediction {
            reference_ns,
            state,
            dropped,
            consumers,
        },
        keep,
        consumer_states: model
            .consumers
            .iter()
            .map(|consumer| consumer.state.clone())
            .collect(),
    }
}
