//! Typed stream and consumer configs, shaped like nats-server's JSON
//! (`StreamConfig` / `ConsumerConfig` json tags).
//!
//! Every known field is an `Option` so that what was absent stays absent;
//! durations are [`Nanos`] (the server writes nanoseconds); policies are enums
//! that keep values this build does not know; fields this build does not know,
//! and known fields whose JSON type is wrong, are kept in `extra` as written.
//! So `to_value(from_json(v)) == v` for any JSON object `v`: a config from a
//! newer server round-trips in meaning. Which fields a given server version
//! accepts is `ops::config_check`'s business.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt;

/// A Go `time.Duration` as the server writes it in JSON: nanoseconds.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Nanos(pub i64);

impl fmt::Display for Nanos {
    /// Human form: `7d`, `2m`, `1h30m`, `1s500ms`, `0s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [(u64, &str); 7] = [
            (86_400_000_000_000, "d"),
            (3_600_000_000_000, "h"),
            (60_000_000_000, "m"),
            (1_000_000_000, "s"),
            (1_000_000, "ms"),
            (1_000, "us"),
            (1, "ns"),
        ];
        if self.0 == 0 {
            return f.write_str("0s");
        }
        if self.0 < 0 {
            f.write_str("-")?;
        }
        let mut rest = self.0.unsigned_abs();
        for (size, unit) in UNITS {
            let count = rest / size;
            if count > 0 {
                write!(f, "{count}{unit}")?;
                rest %= size;
            }
        }
        Ok(())
    }
}

macro_rules! string_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $($variant,)+
            /// A value this build does not know, kept exactly as written.
            Other(String),
        }

        impl $name {
            /// The JSON strings the server accepts for this field.
            pub const KNOWN: &'static [&'static str] = &[$($text),+];

            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $text,)+
                    Self::Other(text) => text,
                }
            }

            pub fn parse(text: &str) -> Self {
                match text {
                    $($text => Self::$variant,)+
                    other => Self::Other(other.to_string()),
                }
            }

            pub fn is_known(&self) -> bool {
                !matches!(self, Self::Other(_))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                String::deserialize(deserializer).map(|text| Self::parse(&text))
            }
        }
    };
}

string_enum!(
    /// `storage`: where the server keeps the messages.
    Storage { File => "file", Memory => "memory" }
);
string_enum!(
    /// `retention`.
    Retention { Limits => "limits", Interest => "interest", WorkQueue => "workqueue" }
);
string_enum!(
    /// `discard`: what a full stream drops.
    Discard { Old => "old", New => "new" }
);
string_enum!(
    /// `compression` of the filestore blocks.
    Compression { None => "none", S2 => "s2" }
);
string_enum!(
    /// `persist_mode` (2.12+).
    PersistMode { Default => "default", Async => "async" }
);
string_enum!(
    /// `deliver_policy` of a consumer (`undefined` is read as `all`).
    DeliverPolicy {
        All => "all",
        Last => "last",
        New => "new",
        ByStartSequence => "by_start_sequence",
        ByStartTime => "by_start_time",
        LastPerSubject => "last_per_subject",
        Undefined => "undefined",
    }
);
string_enum!(
    /// `ack_policy` of a consumer.
    AckPolicy { None => "none", All => "all", Explicit => "explicit", FlowControl => "flow_control" }
);
string_enum!(
    /// `replay_policy` of a consumer.
    ReplayPolicy { Instant => "instant", Original => "original" }
);
string_enum!(
    /// `priority_policy` of a consumer (2.11+).
    PriorityPolicy {
        None => "none",
        Overflow => "overflow",
        PinnedClient => "pinned_client",
        Prioritized => "prioritized",
    }
);

/// `consumer_limits` of a stream.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConsumerLimits {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inactive_threshold: Option<Nanos>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_ack_pending: Option<i64>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A stream config (`StreamConfig`), v1 `meta.inf` without `Created`, or the
/// `config` of `backup.json`. Build it with [`StreamConfig::from_json`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StreamConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subjects: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<Retention>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_consumers: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_msgs: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<Nanos>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_msgs_per_subject: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_msg_size: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discard: Option<Discard>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<Storage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_replicas: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_ack: Option<bool>,
    /// Servers before 2.14 only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_owner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicate_window: Option<Nanos>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mirror: Option<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sources: Option<Vec<Map<String, Value>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compression: Option<Compression>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_seq: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_transform: Option<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub republish: Option<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_direct: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mirror_direct: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discard_new_per_subject: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deny_delete: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deny_purge: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_rollup_hdrs: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consumer_limits: Option<ConsumerLimits>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_msg_ttl: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_delete_marker_ttl: Option<Nanos>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_msg_counter: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_atomic: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_msg_schedules: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persist_mode: Option<PersistMode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_batched: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<BTreeMap<String, String>>,
    /// Fields this build does not know, and known fields with an unexpected
    /// JSON type (or `null`), exactly as written.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
    /// The order the fields were read in; `to_json` writes them in that order
    /// (so a re-written `meta.inf` keeps the server's field order).
    #[serde(skip)]
    pub key_order: Vec<String>,
}

/// A consumer config (`ConsumerConfig`), v1 `obs/NAME/meta.inf` without
/// `Created`/`Name`, or the `config` of a v2 consumer entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConsumerConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub durable_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deliver_policy: Option<DeliverPolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opt_start_seq: Option<u64>,
    /// RFC 3339, as Go writes a `time.Time`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opt_start_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ack_policy: Option<AckPolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ack_wait: Option<Nanos>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_deliver: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff: Option<Vec<Nanos>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter_subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter_subjects: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay_policy: Option<ReplayPolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit_bps: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_freq: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_waiting: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_ack_pending: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_control: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers_only: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_batch: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_expires: Option<Nanos>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deliver_subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deliver_group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_heartbeat: Option<Nanos>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inactive_threshold: Option<Nanos>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_replicas: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem_storage: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direct: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sourcing: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause_until: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_groups: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_policy: Option<PriorityPolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_timeout: Option<Nanos>,
    /// Fields this build does not know, and known fields with an unexpected
    /// JSON type (or `null`), exactly as written.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
    /// The order the fields were read in; `to_json` writes them in that order
    /// (so a re-written `meta.inf` keeps the server's field order).
    #[serde(skip)]
    pub key_order: Vec<String>,
}

/// Parses `value` into `T` so that serializing it gives `value` back: a field
/// that does not survive its typed slot (wrong JSON type, `null`, an integer
/// out of range) is kept in the flattened `extra` instead of failing the whole.
fn round_tripping<T>(value: &Value, extra: impl Fn(&mut T) -> &mut Map<String, Value>) -> Option<T>
where
    T: serde::de::DeserializeOwned + Serialize + Default,
{
    let object = value.as_object()?;
    let survives = |candidate: &Value| {
        serde_json::from_value::<T>(candidate.clone())
            .ok()
            .filter(|parsed| serde_json::to_value(parsed).ok().as_ref() == Some(candidate))
    };
    if let Some(parsed) = survives(value) {
        return Some(parsed);
    }
    let mut fitting = Map::new();
    let mut misfits = Map::new();
    for (key, field) in object {
        let single = Value::Object(Map::from_iter([(key.clone(), field.clone())]));
        if survives(&single).is_some() {
            fitting.insert(key.clone(), field.clone());
        } else {
            misfits.insert(key.clone(), field.clone());
        }
    }
    // Fields that survive alone survive together; should that ever not hold,
    // every field is kept untyped rather than lost.
    let mut parsed = match serde_json::from_value::<T>(Value::Object(fitting)) {
        Ok(parsed) => parsed,
        Err(_) => {
            let mut parsed = T::default();
            extra(&mut parsed).extend(object.clone());
            return Some(parsed);
        }
    };
    extra(&mut parsed).extend(misfits);
    Some(parsed)
}

/// `value`'s fields in `order` first, then any others in their own order.
fn in_order(value: Value, order: &[String]) -> Value {
    let Value::Object(mut fields) = value else {
        return value;
    };
    let mut ordered = Map::new();
    for key in order {
        if let Some(field) = fields.shift_remove(key) {
            ordered.insert(key.clone(), field);
        }
    }
    ordered.extend(fields);
    Value::Object(ordered)
}

impl StreamConfig {
    /// The typed config of a JSON value; `None` when it is not an object.
    pub fn from_json(value: &Value) -> Option<Self> {
        let mut config = round_tripping(value, |config: &mut Self| &mut config.extra)?;
        config.key_order = value.as_object()?.keys().cloned().collect();
        Some(config)
    }

    /// The config as the server's JSON (the fields as they were read).
    pub fn to_json(&self) -> Value {
        in_order(
            serde_json::to_value(self).unwrap_or_else(|_| Value::Object(self.extra.clone())),
            &self.key_order,
        )
    }

    /// The stream name the config carries (empty when absent).
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or_default()
    }

    /// The storage type; the server's default is file storage.
    pub fn storage(&self) -> Storage {
        self.storage.clone().unwrap_or(Storage::File)
    }

    /// Memory storage: never loaded from a store directory, not in v1 archives.
    pub fn is_memory(&self) -> bool {
        self.storage == Some(Storage::Memory)
    }

    /// The retention policy; the server's default is limits.
    pub fn retention(&self) -> Retention {
        self.retention.clone().unwrap_or(Retention::Limits)
    }

    /// `max_msg_size` when it limits anything (> 0).
    pub fn max_msg_size_limit(&self) -> Option<i64> {
        self.max_msg_size.filter(|size| *size > 0)
    }

    /// The duration fields present, by JSON name (display them as durations).
    pub fn durations(&self) -> Vec<(&'static str, Nanos)> {
        let limits = self.consumer_limits.as_ref();
        [
            ("max_age", self.max_age),
            ("duplicate_window", self.duplicate_window),
            ("subject_delete_marker_ttl", self.subject_delete_marker_ttl),
            (
                "consumer_limits.inactive_threshold",
                limits.and_then(|limits| limits.inactive_threshold),
            ),
        ]
        .into_iter()
        .filter_map(|(key, value)| value.map(|value| (key, value)))
        .collect()
    }

    /// The duration of field `key` (a JSON name), when it is a duration field.
    pub fn duration(&self, key: &str) -> Option<Nanos> {
        self.durations()
            .into_iter()
            .find_map(|(name, value)| (name == key).then_some(value))
    }

    /// `max_age` when it limits anything (0 means no limit).
    pub fn max_age_limit(&self) -> Option<Nanos> {
        self.max_age.filter(|age| age.0 > 0)
    }
}

impl ConsumerConfig {
    /// The typed config of a JSON value; `None` when it is not an object.
    pub fn from_json(value: &Value) -> Option<Self> {
        let mut config = round_tripping(value, |config: &mut Self| &mut config.extra)?;
        config.key_order = value.as_object()?.keys().cloned().collect();
        Some(config)
    }

    pub fn to_json(&self) -> Value {
        in_order(
            serde_json::to_value(self).unwrap_or_else(|_| Value::Object(self.extra.clone())),
            &self.key_order,
        )
    }

    /// The duration fields present, by JSON name (`backoff` entries as `backoff[i]`).
    pub fn durations(&self) -> Vec<(String, Nanos)> {
        let mut found: Vec<(String, Nanos)> = [
            ("ack_wait", self.ack_wait),
            ("max_expires", self.max_expires),
            ("idle_heartbeat", self.idle_heartbeat),
            ("inactive_threshold", self.inactive_threshold),
            ("priority_timeout", self.priority_timeout),
        ]
        .into_iter()
        .filter_map(|(key, value)| value.map(|value| (key.to_string(), value)))
        .collect();
        for (index, value) in self.backoff.iter().flatten().enumerate() {
            found.push((format!("backoff[{index}]"), *value));
        }
        found
    }

    /// Durable consumers have a `durable_name`.
    pub fn is_durable(&self) -> bool {
        self.durable_name
            .as_deref()
            .is_some_and(|name| !name.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn durations_read_as_people_write_them() {
        let cases = [
            (0, "0s"),
            (30_000_000_000, "30s"),
            (604_800_000_000_000, "7d"),
            (120_000_000_000, "2m"),
            (5_400_000_000_000, "1h30m"),
            (1_500_000_000, "1s500ms"),
            (-2_000_000, "-2ms"),
            (1, "1ns"),
        ];
        for (ns, text) in cases {
            assert_eq!(Nanos(ns).to_string(), text);
        }
        assert_eq!(Nanos(i64::MIN).to_string().chars().next(), Some('-'));
    }

    #[test]
    fn unknown_and_ill_typed_fields_are_kept() {
        let value = json!({
            "name": "S",
            "subjects": "not.a.list",
            "storage": "tape",
            "max_age": 1_000_000_000,
            "future_field": {"x": [1, 2]},
            "placement": null,
            "consumer_limits": {"max_ack_pending": 5, "new_limit": true}
        });
        let config = StreamConfig::from_json(&value).unwrap();
        assert_eq!(config.name(), "S");
        assert_eq!(config.storage, Some(Storage::Other("tape".into())));
        assert_eq!(config.max_age, Some(Nanos(1_000_000_000)));
        assert_eq!(config.subjects, None);
        assert_eq!(config.extra.get("subjects"), Some(&json!("not.a.list")));
        assert!(config.extra.contains_key("future_field"));
        assert!(config.extra.contains_key("placement"));
        let limits = config.consumer_limits.clone().unwrap();
        assert_eq!(limits.extra.get("new_limit"), Some(&json!(true)));
        assert_eq!(config.to_json(), value);
    }

    #[test]
    fn consumer_policies_parse_and_round_trip() {
        let value = json!({
            "durable_name": "D",
            "deliver_policy": "by_start_sequence",
            "ack_policy": "explicit",
            "replay_policy": "original",
            "backoff": [1_000_000_000, 5_000_000_000i64],
            "opt_start_seq": 3,
            "unknown": 1
        });
        let config = ConsumerConfig::from_json(&value).unwrap();
        assert_eq!(config.deliver_policy, Some(DeliverPolicy::ByStartSequence));
        assert_eq!(config.ack_policy, Some(AckPolicy::Explicit));
        assert_eq!(config.replay_policy, Some(ReplayPolicy::Original));
        assert_eq!(config.backoff.as_deref().map(<[Nanos]>::len), Some(2));
        assert!(config.is_durable());
        assert_eq!(config.to_json(), value);
        assert!(ConsumerConfig::from_json(&json!([1])).is_none());
    }
}
