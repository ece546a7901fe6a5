//! Stream state and consumer state, shaped like the server's JSON.
//! Plain data: no I/O and no scanning; the scan fills it, `ops` reads it.

use super::config::ConsumerConfig;
use serde::Serialize;
use serde_json::Value;

/// `StreamState` as the server reports it (times as Unix ns, 0 = zero time).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StreamState {
    pub messages: u64,
    pub bytes: u64,
    pub first_seq: u64,
    pub last_seq: u64,
    #[serde(skip)]
    pub first_ts_ns: i64,
    #[serde(skip)]
    pub last_ts_ns: i64,
    pub num_deleted: u64,
    pub num_subjects: u64,
    pub consumer_count: u64,
}

impl StreamState {
    /// Parses the server's StreamState JSON (backup.json `state`, v2 state.json).
    pub fn from_json(value: &Value) -> Option<Self> {
        let object = value.as_object()?;
        let number = |key: &str| object.get(key).and_then(Value::as_u64).unwrap_or(0);
        let time = |key: &str| {
            object
                .get(key)
                .and_then(Value::as_str)
                .and_then(crate::util::time::parse_rfc3339_ns)
                .unwrap_or(0)
        };
        Some(Self {
            messages: number("messages"),
            bytes: number("bytes"),
            first_seq: number("first_seq"),
            last_seq: number("last_seq"),
            first_ts_ns: time("first_ts"),
            last_ts_ns: time("last_ts"),
            num_deleted: number("num_deleted"),
            num_subjects: number("num_subjects"),
            consumer_count: number("consumer_count"),
        })
    }

    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "messages": self.messages,
            "bytes": self.bytes,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "first_ts": crate::util::time::format_rfc3339_ns(self.first_ts_ns),
            "last_ts": crate::util::time::format_rfc3339_ns(self.last_ts_ns),
            "num_deleted": self.num_deleted,
            "num_subjects": self.num_subjects,
            "consumer_count": self.consumer_count,
        })
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SequencePair {
    pub consumer_seq: u64,
    pub stream_seq: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PendingEntry {
    pub stream_seq: u64,
    pub consumer_seq: u64,
    /// Delivery time, Unix ns (whole seconds in v1 `o.dat`).
    pub timestamp_ns: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ConsumerState {
    pub delivered: SequencePair,
    pub ack_floor: SequencePair,
    /// Sorted by stream sequence.
    pub pending: Vec<PendingEntry>,
    /// (stream sequence, delivery count), sorted by stream sequence.
    pub redelivered: Vec<(u64, u64)>,
}

impl ConsumerState {
    /// The v2 `state` JSON shape (`pending` keys are decimal stream sequences).
    pub fn to_json(&self) -> Value {
        let mut object = serde_json::Map::new();
        object.insert(
            "delivered".into(),
            serde_json::json!({"consumer_seq": self.delivered.consumer_seq, "stream_seq": self.delivered.stream_seq}),
        );
        object.insert(
            "ack_floor".into(),
            serde_json::json!({"consumer_seq": self.ack_floor.consumer_seq, "stream_seq": self.ack_floor.stream_seq}),
        );
        if !self.pending.is_empty() {
            let pending: serde_json::Map<String, Value> = self
                .pending
                .iter()
                .map(|entry| {
                    (
                        entry.stream_seq.to_string(),
                        serde_json::json!({"Sequence": entry.consumer_seq, "Timestamp": entry.timestamp_ns}),
                    )
                })
                .collect();
            object.insert("pending".into(), Value::Object(pending));
        }
        if !self.redelivered.is_empty() {
            let redelivered: serde_json::Map<String, Value> = self
                .redelivered
                .iter()
                .map(|(seq, count)| (seq.to_string(), Value::from(*count)))
                .collect();
            object.insert("redelivered".into(), Value::Object(redelivered));
        }
        Value::Object(object)
    }

    /// Parses the v2 `state` JSON.
    pub fn from_json(value: &Value) -> Option<Self> {
        let object = value.as_object()?;
        let pair = |key: &str| {
            let pair = object.get(key);
            SequencePair {
                consumer_seq: pair
                    .and_then(|p| p.get("consumer_seq"))
                    .and_then(Value::as_u64)
                    .unwrap_or(0),
                stream_seq: pair
                    .and_then(|p| p.get("stream_seq"))
                    .and_then(Value::as_u64)
                    .unwrap_or(0),
            }
        };
        let mut pending: Vec<PendingEntry> = object
            .get("pending")
            .and_then(Value::as_object)
            .map(|map| {
                map.iter()
                    .filter_map(|(key, entry)| {
                        Some(PendingEntry {
                            stream_seq: key.parse().ok()?,
                            consumer_seq: entry
                                .get("Sequence")
                                .and_then(Value::as_u64)
                                .unwrap_or(0),
                            timestamp_ns: entry
                                .get("Timestamp")
                                .and_then(Value::as_i64)
                                .unwrap_or(0),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        pending.sort_by_key(|entry| entry.stream_seq);
        let mut redelivered: Vec<(u64, u64)> = object
            .get("redelivered")
            .and_then(Value::as_object)
            .map(|map| {
                map.iter()
                    .filter_map(|(key, count)| Some((key.parse().ok()?, count.as_u64()?)))
                    .collect()
            })
            .unwrap_or_default();
        redelivered.sort_unstable();
        Some(Self {
            delivered: pair("delivered"),
            ack_floor: pair("ack_floor"),
            pending,
            redelivered,
        })
    }
}

/// One consumer as the archive holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsumerInfo {
    pub name: String,
    /// ConsumerConfig JSON as the archive holds it (v1: `meta.inf` without
    /// `Created`/`Name`): what is shown raw and written back. Change it with
    /// [`ConsumerInfo::set_config`] so `typed` follows.
    pub config: Value,
    /// `config` typed (fields that do not fit stay in its `extra`): what the
    /// rules and the panes read.
    pub typed: ConsumerConfig,
    pub created: Option<String>,
    pub state: ConsumerState,
    /// Entry the consumer came from (`obs/NAME/` or `consumers/NAME`).
    pub entry: String,
    /// v1: exact bytes of `meta.inf` (for `meta.sum`).
    pub meta_inf_raw: Option<Vec<u8>>,
    /// The archive's state for it was decoded (v1 `o.dat`, v2 the entry's `state`);
    /// when false, `state` is the default and says nothing.
    pub state_read: bool,
}

impl ConsumerInfo {
    /// A consumer with `config` (typed once here) and no state.
    pub fn new(name: impl Into<String>, config: Value, entry: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            typed: ConsumerConfig::from_json(&config).unwrap_or_default(),
            config,
            created: None,
            state: ConsumerState::default(),
            entry: entry.into(),
            meta_inf_raw: None,
            state_read: false,
        }
    }

    /// The archive gave a config (a JSON object); without one the server refuses
    /// the consumer, and its kind, filters and position are not known.
    pub fn config_read(&self) -> bool {
        self.config.is_object()
    }

    /// Replaces the config JSON and its typed form together.
    pub fn set_config(&mut self, config: Value) {
        self.typed = ConsumerConfig::from_json(&config).unwrap_or_default();
        self.config = config;
    }

    pub fn is_durable(&self) -> bool {
        self.typed.is_durable()
    }
    pub fn is_push(&self) -> bool {
        self.typed
            .deliver_subject
            .as_deref()
            .is_some_and(|subject| !subject.is_empty())
    }
    pub fn filter_subjects(&self) -> Vec<String> {
        let mut filters: Vec<String> = Vec::new();
        if let Some(filter) = self.typed.filter_subject.as_deref() {
            if !filter.is_empty() {
                filters.push(filter.to_string());
            }
        }
        filters.extend(self.typed.filter_subjects.iter().flatten().cloned());
        filters
    }
    pub fn ack_policy(&self) -> String {
        self.typed
            .ack_policy
            .as_ref()
            .map_or("none", |policy| policy.as_str())
            .to_string()
    }
}

/// A consumer as CONSUMER.INFO reports it, computed from the archive (`ops::consumer_state`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ConsumerStatus {
    /// Live messages at or after `next_seq` that match the filters (subjects for
    /// `last_per_subject`), clamped as the server clamps it.
    pub num_pending: u64,
    /// What the server reports once restarted or restored from this archive: for
    /// `last_per_subject` it counts subjects, not messages, after a restart.
    pub num_pending_after_restore: u64,
    /// False for a `last_per_subject` consumer without a creation time (v2): its
    /// `num_pending` at the snapshot depends on when it was created, so
    /// `num_pending` is the after-restore count.
    pub num_pending_exact: bool,
    pub num_ack_pending: u64,
    /// 0 when `max_deliver` is 1 (the server hides redeliveries then).
    pub num_redelivered: u64,
    pub delivered: SequencePair,
    pub ack_floor: SequencePair,
    /// `pause_until` is after `reference_ns`.
    pub paused: bool,
    /// Time left of the pause at `reference_ns` (0 when not paused).
    pub pause_remaining_ns: i64,
    /// Group names the server lists (it reports the first configured group).
    pub priority_groups: Vec<String>,
    /// The stream sequence the consumer reads next (the server's `sseq`).
    pub next_seq: u64,
    /// The first message counted in `num_pending`.
    pub first_pending_seq: Option<u64>,
    /// The lowest live sequence the consumer still owes: its oldest pending ack
    /// or, without one, `first_pending_seq`.
    pub first_owed_seq: Option<u64>,
    /// The archive held the consumer's state; when false, `delivered`, `ack_floor`
    /// and `next_seq` come from the server's start rules for a new consumer.
    pub state_recorded: bool,
    /// The time `paused` is judged at (the snapshot time), Unix ns.
    pub reference_ns: i64,
}

/// Where one message stands for one consumer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageStanding {
    /// Its subject is outside the consumer's filters.
    NotFiltered,
    /// Delivered and not yet acknowledged.
    AckPending,
    /// Not delivered yet (counted in `num_pending`).
    NotDelivered,
    /// The consumer is past it (acknowledged, or skipped by its start rules).
    Past,
}
