//! JSON views of a backup for scripts (`info --json`, `messages --json`).

use crate::format::headers::Ttl;
use crate::model::{Backup, ConsumerInfo, ConsumerStatus, SequencePair, StreamConfig, StreamState};
use crate::ops::{consumer_state, restore_prediction};
use crate::util::time::format_rfc3339_ns;
use serde_json::{json, Map, Value};

/// TTL counts at a reference time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TtlSummary {
    pub messages_with_ttl: u64,
    pub expired: u64,
    pub invalid: u64,
}

pub fn ttl_summary(backup: &Backup, reference_ns: i64) -> TtlSummary {
    let mut summary = TtlSummary::default();
    for &(seq, ttl) in &backup.messages.ttls {
        summary.messages_with_ttl += 1;
        if ttl == Ttl::Invalid {
            summary.invalid += 1;
        }
        if let Some(row) = backup.messages.find_seq(seq) {
            if ttl.is_expired(backup.messages.ts_ns[row], reference_ns) {
                summary.expired += 1;
            }
        }
    }
    summary
}

pub fn state_json(state: &StreamState) -> Value {
    state.to_json()
}

/// One consumer with the server's CONSUMER.INFO field names (`status` from
/// `ops::consumer_state`), plus its config, pending-ack list and redelivery counts.
pub fn consumer_json(consumer: &ConsumerInfo, status: &ConsumerStatus) -> Value {
    let state = &consumer.state;
    let pair = |pair: &SequencePair| json!({"consumer_seq": pair.consumer_seq, "stream_seq": pair.stream_seq});
    let mut object = json!({
        "name": consumer.name,
        "durable": consumer.is_durable(),
        "config": consumer.config,
        "created": consumer.created,
        "delivered": pair(&status.delivered),
        "ack_floor": pair(&status.ack_floor),
        "num_ack_pending": status.num_ack_pending,
        "num_redelivered": status.num_redelivered,
        "num_pending": status.num_pending,
        "num_pending_after_restore": status.num_pending_after_restore,
        "num_pending_exact": status.num_pending_exact,
        "paused": status.paused,
        "ts": format_rfc3339_ns(status.reference_ns),
        "state_recorded": status.state_recorded,
        "next_seq": status.next_seq,
        "first_pending_seq": status.first_pending_seq,
        "first_owed_seq": status.first_owed_seq,
        "pending": state.pending.iter().map(|entry| json!({
            "stream_seq": entry.stream_seq,
            "consumer_seq": entry.consumer_seq,
            "time": format_rfc3339_ns(entry.timestamp_ns),
        })).collect::<Vec<_>>(),
        "redelivered": state.redelivered.iter().map(|(seq, count)| json!({"stream_seq": seq, "count": count})).collect::<Vec<_>>(),
    });
    // The server omits these when empty (`omitempty`).
    if status.paused {
        object["pause_remaining"] = status.pause_remaining_ns.into();
    }
    if !status.priority_groups.is_empty() {
        object["priority_groups"] = status
            .priority_groups
            .iter()
            .map(|group| json!({"group": group}))
            .collect::<Vec<_>>()
            .into();
    }
    object
}

/// The `info --json` document.
pub fn info_json(backup: &Backup, reference_ns: i64) -> Value {
    info_json_with(backup, reference_ns, None)
}

/// The `info --json` document; `restore_config` replaces the stream config for
/// `restore_prediction` (as `restore --config` does).
pub fn info_json_with(backup: &Backup, reference_ns: i64, restore_config: Option<&Value>) -> Value {
    let prediction = restore_prediction::predict(backup, restore_config, reference_ns);
    let subjects: Map<String, Value> = backup
        .subjects
        .live_counts()
        .into_iter()
        .map(|(subject, count)| (subject.to_string(), Value::from(count)))
        .collect();
    let ttl = ttl_summary(backup, reference_ns);
    json!({
        "format": backup.format.map(|format| format.label()),
        "source": {
            "path": backup.source.opened.display().to_string(),
            "data_file": backup.source.data_file.display().to_string(),
            "data_file_bytes": backup.source.data_file_bytes,
            "decompressed_bytes": backup.decompressed_bytes,
            "s2_chunks": backup.chunks.len(),
        },
        "stream": {
            "name": backup.stream_name,
            "created": backup.created,
            "config": backup.config.as_ref().map(StreamConfig::to_json),
        },
        "snapshot_time": backup.snapshot_time_ns.map(format_rfc3339_ns),
        "complete": backup.complete,
        "state": state_json(&backup.state),
        "declared_state": backup.declared_state.as_ref().map(state_json),
        "archive_state": backup.archive_state.as_ref().map(state_json),
        "subjects": subjects,
        "deleted": backup.deleted.iter().map(|(from, to)| json!([from, to])).collect::<Vec<_>>(),
        "consumers": backup
            .consumers
            .iter()
            .zip(consumer_state::compute_all(backup))
            .map(|(consumer, status)| consumer_json(consumer, &status))
            .collect::<Vec<_>>(),
        "ttl": {
            "messages_with_ttl": ttl.messages_with_ttl,
            "expired": ttl.expired,
            "invalid": ttl.invalid,
            "reference_time": format_rfc3339_ns(reference_ns),
        },
        "restore_prediction": restore_prediction::prediction_json(&prediction, restore_config.is_some()),
        "findings": backup.findings,
    })
}

/// One NDJSON line of `messages --json` (without the raw bytes).
pub fn message_json(backup: &Backup, row: usize, reference_ns: i64) -> Option<Value> {
    let message = backup.messages.row(row)?;
    let ttl = backup.messages.ttl_of(message.seq);
    let ttl_value = match ttl {
        Ttl::None => Value::Null,
        Ttl::Never => Value::from("never"),
        Ttl::Seconds(seconds) => Value::from(seconds),
        // The documented values are seconds, "never" or null; an unparseable header is
        // null here, flagged by `ttl_invalid` (and a finding).
        Ttl::Invalid => Value::Null,
    };
    Some(json!({
        "seq": message.seq,
        "subject": backup.subjects.name(message.subject_id),
        "time": format_rfc3339_ns(message.ts_ns),
        "hdr_len": message.hdr_len,
        "data_len": message.data_len,
        "ttl": ttl_value,
        "expired": ttl.is_expired(message.ts_ns, reference_ns),
        "ttl_invalid": ttl == Ttl::Invalid,
    }))
}
