//! Which stream and consumer config fields a nats-server version accepts, and
//! the check of a config against them before it is written into a store or
//! sent to a server.
//!
//! The server decodes `meta.inf` with `DisallowUnknownFields` (jetstream.go):
//! an unknown field leaves the stream or consumer offline ("json: unknown
//! field"), a wrong JSON type fails the decode. The tables below are the json
//! tags of `StreamConfig` / `ConsumerConfig` (and their nested structs) read
//! from nats-server's sources at v2.10.29, v2.11.9, v2.12.5, v2.14.5 and main
//! (2.15.0-dev); 2.14 and 2.15 accept the same fields, 2.14 dropped
//! `template_owner`. Go matches JSON keys case-insensitively, and so does this.
//!
//! It reports; it changes a config only when asked (`drop_fields` on the caller's copy),
//! and does no I/O.

use crate::model::ConsumerInfo;
use serde_json::{Map, Value};

/// A server version as (major, minor); only the minor decides the schema.
pub type Version = (u64, u64);

/// The schema used when the target's version is not known (a local store):
/// the newest this build knows.
pub const NEWEST: Version = (2, 15);

/// What the server's decoder accepts for one field.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Str,
    Bool,
    /// A JSON integer in this range (Go `int`, `int32`, `int64`).
    Int(i64, i64),
    /// A non-negative JSON integer (Go `uint64`).
    UInt,
    /// Nanoseconds (Go `time.Duration`, an int64).
    Duration,
    /// An RFC 3339 string (Go `time.Time`).
    Time,
    StrList,
    DurationList,
    /// A JSON object of strings (Go `map[string]string`).
    StrMap,
    /// One of these strings, each accepted since a version.
    Enum(&'static [(&'static str, Version)]),
    Object(&'static [Field]),
    ObjectList(&'static [Field]),
}

/// One field: its JSON name, kind, and the versions that accept it.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub name: &'static str,
    pub kind: Kind,
    pub since: Version,
    /// First version that no longer accepts it.
    pub until: Option<Version>,
}

const fn field(name: &'static str, kind: Kind) -> Field {
    Field {
        name,
        kind,
        since: (2, 10),
        until: None,
    }
}

const fn since(name: &'static str, kind: Kind, since: Version) -> Field {
    Field {
        name,
        kind,
        since,
        until: None,
    }
}

const I32: Kind = Kind::Int(i32::MIN as i64, i32::MAX as i64);
const I64: Kind = Kind::Int(i64::MIN, i64::MAX);
const V210: Version = (2, 10);

const TRANSFORM: &[Field] = &[field("src", Kind::Str), field("dest", Kind::Str)];
const REPUBLISH: &[Field] = &[
    field("src", Kind::Str),
    field("dest", Kind::Str),
    field("headers_only", Kind::Bool),
];
const PLACEMENT: &[Field] = &[
    field("cluster", Kind::Str),
    field("tags", Kind::StrList),
    since("preferred", Kind::Str, (2, 11)),
];
const EXTERNAL: &[Field] = &[field("api", Kind::Str), field("deliver", Kind::Str)];
const SOURCE_CONSUMER: &[Field] = &[
    field("name", Kind::Str),
    field("deliver_subject", Kind::Str),
];
const SOURCE: &[Field] = &[
    field("name", Kind::Str),
    field("opt_start_seq", Kind::UInt),
    field("opt_start_time", Kind::Time),
    field("filter_subject", Kind::Str),
    field("subject_transforms", Kind::ObjectList(TRANSFORM)),
    field("external", Kind::Object(EXTERNAL)),
    since("consumer", Kind::Object(SOURCE_CONSUMER), (2, 14)),
];
const CONSUMER_LIMITS: &[Field] = &[
    field("inactive_threshold", Kind::Duration),
    field("max_ack_pending", I64),
];

/// `StreamConfig` json tags (plus `Created` of `FileStreamInfo` in `meta.inf`).
pub const STREAM_FIELDS: &[Field] = &[
    field("name", Kind::Str),
    field("description", Kind::Str),
    field("subjects", Kind::StrList),
    field(
        "retention",
        Kind::Enum(&[("limits", V210), ("interest", V210), ("workqueue", V210)]),
    ),
    field("max_consumers", I64),
    field("max_msgs", I64),
    field("max_bytes", I64),
    field("max_age", Kind::Duration),
    field("max_msgs_per_subject", I64),
    field("max_msg_size", I32),
    field("discard", Kind::Enum(&[("old", V210), ("new", V210)])),
    field("storage", Kind::Enum(&[("file", V210), ("memory", V210)])),
    field("num_replicas", I64),
    field("no_ack", Kind::Bool),
    Field {
        name: "template_owner",
        kind: Kind::Str,
        since: V210,
        until: Some((2, 14)),
    },
    field("duplicate_window", Kind::Duration),
    field("placement", Kind::Object(PLACEMENT)),
    field("mirror", Kind::Object(SOURCE)),
    field("sources", Kind::ObjectList(SOURCE)),
    field("compression", Kind::Enum(&[("none", V210), ("s2", V210)])),
    field("first_seq", Kind::UInt),
    field("subject_transform", Kind::Object(TRANSFORM)),
    field("republish", Kind::Object(REPUBLISH)),
    field("allow_direct", Kind::Bool),
    field("mirror_direct", Kind::Bool),
    field("discard_new_per_subject", Kind::Bool),
    field("sealed", Kind::Bool),
    field("deny_delete", Kind::Bool),
    field("deny_purge", Kind::Bool),
    field("allow_rollup_hdrs", Kind::Bool),
    field("consumer_limits", Kind::Object(CONSUMER_LIMITS)),
    since("allow_msg_ttl", Kind::Bool, (2, 11)),
    since("subject_delete_marker_ttl", Kind::Duration, (2, 11)),
    since("allow_msg_counter", Kind::Bool, (2, 12)),
    since("allow_atomic", Kind::Bool, (2, 12)),
    since("allow_msg_schedules", Kind::Bool, (2, 12)),
    since(
        "persist_mode",
        Kind::Enum(&[("default", (2, 12)), ("async", (2, 12))]),
        (2, 12),
    ),
    since("allow_batched", Kind::Bool, (2, 14)),
    field("metadata", Kind::StrMap),
    field("Created", Kind::Time),
];

/// `ConsumerConfig` json tags (plus `Created`/`Name` of `FileConsumerInfo`).
pub const CONSUMER_FIELDS: &[Field] = &[
    field("durable_name", Kind::Str),
    field("name", Kind::Str),
    field("description", Kind::Str),
    field(
        "deliver_policy",
        Kind::Enum(&[
            ("all", V210),
            ("last", V210),
            ("new", V210),
            ("by_start_sequence", V210),
            ("by_start_time", V210),
            ("last_per_subject", V210),
            ("undefined", V210),
        ]),
    ),
    field("opt_start_seq", Kind::UInt),
    field("opt_start_time", Kind::Time),
    field(
        "ack_policy",
        Kind::Enum(&[
            ("none", V210),
            ("all", V210),
            ("explicit", V210),
            ("flow_control", (2, 14)),
        ]),
    ),
    field("ack_wait", Kind::Duration),
    field("max_deliver", I64),
    field("backoff", Kind::DurationList),
    field("filter_subject", Kind::Str),
    field("filter_subjects", Kind::StrList),
    field(
        "replay_policy",
        Kind::Enum(&[("instant", V210), ("original", V210)]),
    ),
    field("rate_limit_bps", Kind::UInt),
    field("sample_freq", Kind::Str),
    field("max_waiting", I64),
    field("max_ack_pending", I64),
    field("flow_control", Kind::Bool),
    field("headers_only", Kind::Bool),
    field("max_batch", I64),
    field("max_expires", Kind::Duration),
    field("max_bytes", I64),
    field("deliver_subject", Kind::Str),
    field("deliver_group", Kind::Str),
    field("idle_heartbeat", Kind::Duration),
    field("inactive_threshold", Kind::Duration),
    field("num_replicas", I64),
    field("mem_storage", Kind::Bool),
    field("direct", Kind::Bool),
    since("sourcing", Kind::Bool, (2, 14)),
    field("metadata", Kind::StrMap),
    since("pause_until", Kind::Time, (2, 11)),
    since("priority_groups", Kind::StrList, (2, 11)),
    since(
        "priority_policy",
        Kind::Enum(&[
            ("none", (2, 11)),
            ("overflow", (2, 11)),
            ("pinned_client", (2, 11)),
            ("prioritized", (2, 12)),
        ]),
        (2, 11),
    ),
    since("priority_timeout", Kind::Duration, (2, 11)),
    field("Created", Kind::Time),
];

/// The schema version for a server version string ("2.15.1", "v2.14.6-RC.1");
/// versions past the newest known use the newest, before 2.10 use 2.10.
pub fn schema_version(server_version: &str) -> Option<Version> {
    let (major, minor, _) = crate::ops::restore_server::parse_version(server_version)?;
    Some((major, minor).clamp(V210, NEWEST))
}

/// One field the target would refuse.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ConfigIssue {
    /// Dotted path inside the config (`subjects`, `placement.zone`, `sources[0].x`).
    pub field: String,
    pub problem: String,
}

impl std::fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}: {}", self.field, self.problem)
    }
}

fn accepts(field: &Field, version: Version) -> bool {
    version >= field.since && field.until.is_none_or(|until| version < until)
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

fn is_integer_in(value: &Value, min: i64, max: i64) -> bool {
    value
        .as_i64()
        .is_some_and(|number| number >= min && number <= max)
}

/// Why `value` does not decode as `kind` (None: it does). `null` always decodes.
fn kind_problem(
    kind: Kind,
    value: &Value,
    version: Version,
    path: &str,
    issues: &mut Vec<ConfigIssue>,
) -> Option<String> {
    if value.is_null() {
        return None;
    }
    let ok = match kind {
        Kind::Str => value.is_string(),
        Kind::Bool => value.is_boolean(),
        Kind::Int(min, max) => is_integer_in(value, min, max),
        Kind::UInt => value.as_u64().is_some(),
        Kind::Duration => value.as_i64().is_some(),
        Kind::Time => value
            .as_str()
            .is_some_and(|text| crate::util::time::parse_rfc3339_ns(text).is_some()),
        Kind::StrList => value
            .as_array()
            .is_some_and(|items| items.iter().all(|item| item.is_string() || item.is_null())),
        Kind::DurationList => value
            .as_array()
            .is_some_and(|items| items.iter().all(|item| item.as_i64().is_some())),
        Kind::StrMap => value
            .as_object()
            .is_some_and(|map| map.values().all(|item| item.is_string() || item.is_null())),
        Kind::Enum(values) => {
            let Some(text) = value.as_str() else {
                return Some(format!(
                    "is {}, the server wants a string",
                    json_type(value)
                ));
            };
            return match values.iter().find(|(name, _)| *name == text) {
                Some((_, since)) if version >= *since => None,
                Some((_, since)) => Some(format!(
                    "{text:?} needs nats-server {}.{} or later",
                    since.0, since.1
                )),
                None => Some(format!(
                    "{text:?} is not one of {}",
                    values
                        .iter()
                        .map(|(name, _)| *name)
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            };
        }
        Kind::Object(fields) => match value.as_object() {
            Some(object) => {
                check_object(object, fields, version, path, issues);
                true
            }
            None => false,
        },
        Kind::ObjectList(fields) => match value.as_array() {
            Some(items) => {
                for (index, item) in items.iter().enumerate() {
                    let item_path = format!("{path}[{index}]");
                    match item {
                        Value::Object(object) => {
                            check_object(object, fields, version, &item_path, issues)
                        }
                        Value::Null => {}
                        other => issues.push(ConfigIssue {
                            field: item_path,
                            problem: format!("is {}, the server wants an object", json_type(other)),
                        }),
                    }
                }
                true
            }
            None => false,
        },
    };
    (!ok).then(|| {
        format!(
            "is {}, the server wants {}",
            json_type(value),
            kind_name(kind)
        )
    })
}

fn json_type(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(_) => "a boolean".into(),
        Value::Number(number) => format!("the number {number}"),
        Value::String(text) => format!("the string {text:?}"),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Str => "a string",
        Kind::Bool => "a boolean",
        Kind::Int(min, _) if min == i64::from(i32::MIN) => "a 32-bit integer",
        Kind::Int(..) => "an integer",
        Kind::UInt => "a non-negative integer",
        Kind::Duration => "an integer (nanoseconds)",
        Kind::Time => "an RFC 3339 time string",
        Kind::StrList => "an array of strings",
        Kind::DurationList => "an array of integers (nanoseconds)",
        Kind::StrMap => "an object of strings",
        Kind::Enum(_) => "a string",
        Kind::Object(_) => "an object",
        Kind::ObjectList(_) => "an array of objects",
    }
}

fn find_field<'a>(fields: &'a [Field], key: &str) -> Option<&'a Field> {
    fields.iter().find(|field| field.name == key).or_else(|| {
        fields
            .iter()
            .find(|field| field.name.eq_ignore_ascii_case(key))
    })
}

fn check_object(
    object: &Map<String, Value>,
    fields: &[Field],
    version: Version,
    prefix: &str,
    issues: &mut Vec<ConfigIssue>,
) {
    for (key, value) in object {
        let path = join(prefix, key);
        match find_field(fields, key) {
            None => issues.push(ConfigIssue {
                field: path,
                problem: format!(
                    "unknown field: nats-server {}.{} refuses it (\"json: unknown field\")",
                    version.0, version.1
                ),
            }),
            Some(field) if !accepts(field, version) => issues.push(ConfigIssue {
                field: path,
                problem: match field.until {
                    Some(until) if version >= until => {
                        format!("not accepted since nats-server {}.{}", until.0, until.1)
                    }
                    _ => format!(
                        "needs nats-server {}.{} or later (target {}.{})",
                        field.since.0, field.since.1, version.0, version.1
                    ),
                },
            }),
            Some(field) => {
                if let Some(problem) = kind_problem(field.kind, value, version, &path, issues) {
                    issues.push(ConfigIssue {
                        field: path,
                        problem,
                    });
                }
            }
        }
    }
}

/// The fields of a stream config that `version` would refuse.
pub fn check_stream_config(config: &Value, version: Version) -> Vec<ConfigIssue> {
    check(config, STREAM_FIELDS, version, "stream config")
}

/// The fields of a consumer config that `version` would refuse.
pub fn check_consumer_config(config: &Value, version: Version) -> Vec<ConfigIssue> {
    check(config, CONSUMER_FIELDS, version, "consumer config")
}

fn check(config: &Value, fields: &[Field], version: Version, what: &str) -> Vec<ConfigIssue> {
    let mut issues = Vec::new();
    match config {
        Value::Object(object) => check_object(object, fields, version, "", &mut issues),
        other => issues.push(ConfigIssue {
            field: String::new(),
            problem: format!("the {what} is {}, not an object", json_type(other)),
        }),
    }
    issues
}

/// Removes the fields `issues` name from `config` (a top-level field, or one
/// inside a nested object or list of objects). Returns how many were removed.
pub fn drop_fields(config: &mut Value, issues: &[ConfigIssue]) -> usize {
    issues
        .iter()
        .filter(|issue| remove_path(config, &issue.field))
        .count()
}

fn remove_path(value: &mut Value, path: &str) -> bool {
    if path.is_empty() {
        return false;
    }
    // Walk "a.b[2].c": split on '.', and "name[i]" steps into a list.
    let mut current = value;
    let parts: Vec<&str> = path.split('.').collect();
    let Some((last, walk)) = parts.split_last() else {
        return false;
    };
    for part in walk {
        let (name, index) = split_index(part);
        let Some(next) = current.get_mut(name) else {
            return false;
        };
        current = match index {
            Some(index) => match next.get_mut(index) {
                Some(item) => item,
                None => return false,
            },
            None => next,
        };
    }
    let (name, index) = split_index(last);
    match (index, current) {
        (None, Value::Object(object)) => object.shift_remove(name).is_some(),
        (Some(index), Value::Object(object)) => match object.get_mut(name) {
            Some(Value::Array(items)) if index < items.len() => {
                items.remove(index);
                true
            }
            _ => false,
        },
        _ => false,
    }
}

fn split_index(part: &str) -> (&str, Option<usize>) {
    match part.strip_suffix(']').and_then(|rest| rest.split_once('[')) {
        Some((name, index)) => match index.parse() {
            Ok(index) => (name, Some(index)),
            Err(_) => (part, None),
        },
        None => (part, None),
    }
}

/// How a restore treats config fields the target would refuse.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigPolicy {
    /// The server version that will load the config; `None`: the newest known
    /// (a local store, whose server is not running).
    pub target_version: Option<String>,
    /// Leave refused fields out (with a note) instead of refusing the restore.
    pub drop_unknown: bool,
    /// Write a memory-storage stream as file storage (`--storage file`): a
    /// server never loads memory streams from a store directory.
    pub storage_file: bool,
}

impl ConfigPolicy {
    /// The schema version to check against.
    pub fn version(&self) -> Result<Version, String> {
        match &self.target_version {
            None => Ok(NEWEST),
            Some(text) => schema_version(text)
                .ok_or_else(|| format!("{text:?} is not a nats-server version (like 2.15.1)")),
        }
    }
}

/// The configs a restore writes, after the check.
#[derive(Debug, Clone, Default)]
pub struct CheckedConfigs {
    /// One line per dropped field.
    pub notes: Vec<String>,
    /// The stream config lost fields (its original `meta.inf` bytes cannot be used).
    pub stream_edited: bool,
    /// Copies of the consumers whose config lost fields (no original `meta.inf`).
    pub edited_consumers: Vec<ConsumerInfo>,
}

impl CheckedConfigs {
    /// The consumer to write: its edited copy, else the original.
    pub fn consumer<'a>(&'a self, original: &'a ConsumerInfo) -> &'a ConsumerInfo {
        self.edited_consumers
            .iter()
            .find(|edited| edited.name == original.name)
            .unwrap_or(original)
    }

    /// Anything inside the archive (stream or consumer config) was edited.
    pub fn edited(&self) -> bool {
        self.stream_edited || !self.edited_consumers.is_empty()
    }
}

/// Checks the stream config (`config`, edited in place when dropping) and the
/// consumers' configs against `version`. Refuses with every field named, or,
/// with `drop_unknown`, drops them and says so in the notes.
pub fn check_restore_configs(
    config: &mut Value,
    consumers: &[&ConsumerInfo],
    version: Version,
    drop_unknown: bool,
) -> Result<CheckedConfigs, String> {
    let mut checked = CheckedConfigs::default();
    let mut refused: Vec<String> = Vec::new();
    let stream_issues = check_stream_config(config, version);
    for issue in &stream_issues {
        refused.push(format!("stream config field {issue}"));
    }
    let mut consumer_issues = Vec::new();
    for consumer in consumers {
        // A consumer without any config is refused elsewhere (nothing to check).
        if !consumer.config.is_object() {
            continue;
        }
        let issues = check_consumer_config(&consumer.config, version);
        for issue in &issues {
            refused.push(format!("consumer {:?} config field {issue}", consumer.name));
        }
        if !issues.is_empty() {
            consumer_issues.push((*consumer, issues));
        }
    }
    if refused.is_empty() {
        return Ok(checked);
    }
    if !drop_unknown {
        return Err(format!(
            "nats-server {}.{} would refuse the config: {}; pass --drop-unknown-config to leave these fields out",
            version.0,
            version.1,
            refused.join("; ")
        ));
    }
    if !stream_issues.is_empty() {
        drop_fields(config, &stream_issues);
        checked.stream_edited = true;
    }
    for (consumer, issues) in consumer_issues {
        let mut edited = consumer.clone();
        let mut config = edited.config.clone();
        drop_fields(&mut config, &issues);
        edited.set_config(config);
        edited.meta_inf_raw = None;
        checked.edited_consumers.push(edited);
    }
    checked.notes = refused
        .into_iter()
        .map(|line| format!("dropped {line}"))
        .collect();
    Ok(checked)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_and_ill_typed_fields_are_named() {
        let config = json!({
            "name": "S", "subjects": "orders.>", "storage": "file",
            "future_knob": 1, "placement": {"cluster": "c", "zone": "z"},
            "max_msg_size": 5_000_000_000i64, "retention": "forever",
            "sources": [{"name": "A", "bogus": true}],
        });
        let issues = check_stream_config(&config, (2, 15));
        let fields: Vec<&str> = issues.iter().map(|issue| issue.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "subjects",
                "future_knob",
                "placement.zone",
                "max_msg_size",
                "retention",
                "sources[0].bogus"
            ]
        );
        assert!(
            issues[0].problem.contains("array of strings"),
            "{}",
            issues[0]
        );
        assert!(issues[1].problem.contains("unknown field"), "{}", issues[1]);
        let mut cleaned = config.clone();
        assert_eq!(drop_fields(&mut cleaned, &issues), 6);
        assert!(check_stream_config(&cleaned, (2, 15)).is_empty());
        assert_eq!(cleaned["placement"], json!({"cluster": "c"}));
        assert_eq!(cleaned["sources"], json!([{"name": "A"}]));
    }

    #[test]
    fn versions_decide_which_fields_exist() {
        let config = json!({"name": "S", "template_owner": "T", "allow_batched": true});
        assert_eq!(check_stream_config(&config, (2, 12)).len(), 1);
        let newest = check_stream_config(&config, (2, 15));
        assert_eq!(newest.len(), 1);
        assert_eq!(newest[0].field, "template_owner");
        let consumer = json!({"ack_policy": "flow_control", "ACK_WAIT": 5});
        assert_eq!(check_consumer_config(&consumer, (2, 12)).len(), 1);
        assert!(check_consumer_config(&consumer, (2, 14)).is_empty());
        assert_eq!(schema_version("2.15.1"), Some((2, 15)));
        assert_eq!(schema_version("2.16.0"), Some(NEWEST));
        assert_eq!(schema_version("2.9.0"), Some((2, 10)));
    }
}
