//! JSON views of a backup for scripts (`info --json`, `messages --json`).

use crate::format::headers::Ttl;
use crate::model::{Backup, ConsumerInfo, StreamConfig, StreamState};
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

pub fn consumer_json(consumer: &ConsumerInfo) -> Value {
    let state = &consumer.state;
    json!({
        "name": consumer.name,
        "durable": consumer.is_durable(),
        "config": consumer.config,
        "created": consumer.created,
        "delivered": {"consumer_seq": state.delivered.consumer_seq, "stream_seq": state.delivered.stream_seq},
        "ack_floor": {"consumer_seq": state.ack_floor.consumer_seq, "stream_seq": state.ack_floor.stream_seq},
        "num_ack_pending": state.pending.len(),
        "num_redelivered": state.redelivered.len(),
        "pending": state.pending.iter().map(|entry| json!({
            "stream_seq": entry.stream_seq,
            "consumer_seq": entry.consumer_seq,
            "time": format_rfc3339_ns(entry.timestamp_ns),
        })).collect::<Vec<_>>(),
        "redelivered": state.redelivered.iter().map(|(seq, count)| json!({"stream_seq": seq, "count": count})).collect::<Vec<_>>(),
    })
}

/// The `info --json` document.
pub fn info_json(backup: &Backup, reference_ns: i64) -> Value {
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
        "consumers": backup.consumers.iter().map(consumer_json).collect::<Vec<_>>(),
        "ttl": {
            "messages_with_ttl": ttl.messages_with_ttl,
            "expired": ttl.expired,
            "invalid": ttl.invalid,
            "reference_time": format_rfc3339_ns(reference_ns),
        },
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
