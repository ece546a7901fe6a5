//! Consumers: v2 consumer entries, v1 `obs/NAME/` files (meta.inf, meta.sum,
//! o.dat) turned into the model's consumers, and the checks of their state
//! against the stream.
//!
//! No byte parsing of its own: `o.dat` is decoded by `format::index_db`.

use super::ConsumerFiles;
use crate::format::hash::Hh64Key;
use crate::format::index_db;
use crate::model::{Backup, ConsumerInfo, ConsumerState, Finding, FindingKind};
use serde_json::Value;
use std::collections::BTreeMap;

pub(super) fn parse_v2_consumer(
    backup: &mut Backup,
    consumer_name: &str,
    entry: &str,
    data: &[u8],
    offset: u64,
) {
    let value: Value = match serde_json::from_slice(data) {
        Ok(value) => value,
        Err(error) => {
            backup.findings.push(
                Finding::error(
                    FindingKind::ConsumerMeta,
                    format!("consumer {consumer_name:?} is not valid JSON: {error}"),
                )
                .entry(entry.to_string())
                .offset(offset),
            );
            // Still a consumer of the backup, by its entry's name: without a config
            // it is named wherever it is left out (salvage, pre-flight, restore).
            backup
                .consumers
                .push(ConsumerInfo::new(consumer_name, Value::Null, entry));
            return;
        }
    };
    let config = value
        .get("config")
        .cloned()
        .filter(|config| !config.is_null());
    let state = value.get("state").filter(|state| !state.is_null());
    if config.is_none() {
        backup.findings.push(
            Finding::error(
                FindingKind::ConsumerMeta,
                format!("consumer {consumer_name:?} is missing config"),
            )
            .entry(entry.to_string())
            .offset(offset),
        );
    }
    if state.is_none() {
        backup.findings.push(
            Finding::error(
                FindingKind::ConsumerState,
                format!("consumer {consumer_name:?} is missing state"),
            )
            .entry(entry.to_string())
            .offset(offset),
        );
    }
    let mut consumer = ConsumerInfo::new(consumer_name, config.unwrap_or(Value::Null), entry);
    match state.map(ConsumerState::from_json) {
        Some(Some(read)) => {
            consumer.state = read;
            consumer.state_read = true;
        }
        Some(None) => backup.findings.push(
            Finding::error(
                FindingKind::ConsumerState,
                format!("consumer {consumer_name:?}: its state does not parse (delivered, ack_floor, pending or redelivered of the wrong shape)"),
            )
            .entry(entry.to_string())
            .offset(offset),
        ),
        None => {}
    }
    backup.consumers.push(consumer);
}

/// Turns the collected `obs/NAME/` files of a v1 archive into consumers.
pub(super) fn build_v1_consumers(
    backup: &mut Backup,
    consumer_files: BTreeMap<String, ConsumerFiles>,
) {
    let stream_name = backup.stream_name.clone();
    for (name, files) in consumer_files {
        let entry = format!("obs/{name}/");
        let (config, created) = v1_consumer_meta(backup, &stream_name, &name, &entry, &files);
        let state = v1_consumer_state(backup, &name, &entry, &files);
        let mut consumer = ConsumerInfo::new(name, config, entry);
        consumer.created = created;
        if let Some(state) = state {
            consumer.state = state;
            consumer.state_read = true;
        }
        // Kept only when it gave a config: writers copy it as it is.
        if consumer.config.is_object() {
            consumer.meta_inf_raw = files.meta_inf.map(|(raw, _)| raw);
        }
        backup.consumers.push(consumer);
    }
}

/// A v1 consumer's config and creation time from its meta.inf, with meta.sum checked.
fn v1_consumer_meta(
    backup: &mut Backup,
    stream_name: &str,
    name: &str,
    entry: &str,
    files: &ConsumerFiles,
) -> (Value, Option<String>) {
    let Some((raw, offset)) = &files.meta_inf else {
        backup.findings.push(
            Finding::error(
                FindingKind::ConsumerMeta,
                format!("consumer {name:?}: meta.inf is missing (the restore requires it)"),
            )
            .entry(format!("{entry}meta.inf")),
        );
        return (Value::Null, None);
    };
    let mut config = Value::Null;
    let mut created = None;
    match serde_json::from_slice::<Value>(raw) {
        Ok(Value::Object(mut object)) => {
            created = object
                .remove("Created")
                .and_then(|c| c.as_str().map(str::to_string));
            object.remove("Name");
            config = Value::Object(object);
        }
        _ => backup.findings.push(
            Finding::error(
                FindingKind::ConsumerMeta,
                format!("consumer {name:?}: meta.inf is not a JSON object"),
            )
            .entry(format!("{entry}meta.inf"))
            .offset(*offset),
        ),
    }
    let expected = Hh64Key::new(&format!("{stream_name}/{name}")).sum_hex(raw);
    match &files.meta_sum {
        Some(sum) if sum.as_slice() == expected.as_bytes() => {}
        Some(sum) => backup.findings.push(
            Finding::error(
                FindingKind::MetaSum,
                format!(
                    "consumer {name:?}: meta.sum is {:?}, expected {expected}",
                    String::from_utf8_lossy(sum)
                ),
            )
            .entry(format!("{entry}meta.sum")),
        ),
        None => backup.findings.push(
            Finding::error(
                FindingKind::MetaSum,
                format!("consumer {name:?}: meta.sum is missing (the restore requires it)"),
            )
            .entry(format!("{entry}meta.sum")),
        ),
    }
    (config, created)
}

/// A v1 consumer's state from its o.dat.
fn v1_consumer_state(
    backup: &mut Backup,
    name: &str,
    entry: &str,
    files: &ConsumerFiles,
) -> Option<ConsumerState> {
    match &files.odat {
        Some((raw, offset)) => match index_db::parse_odat(raw) {
            Ok(decoded) => Some(ConsumerState::from_odat(&decoded)),
            Err(reason) => {
                backup.findings.push(
                    Finding::error(
                        FindingKind::ConsumerState,
                        format!("consumer {name:?}: {reason}"),
                    )
                    .entry(format!("{entry}o.dat"))
                    .offset(*offset),
                );
                None
            }
        },
        None => {
            backup.findings.push(
                Finding::warning(
                    FindingKind::ConsumerState,
                    format!("consumer {name:?}: o.dat is missing; its state is unknown"),
                )
                .entry(format!("{entry}o.dat")),
            );
            None
        }
    }
}

pub(super) fn check_consumers(backup: &mut Backup) {
    let last_seq = backup.state.last_seq;
    let mut findings = Vec::new();
    for consumer in &backup.consumers {
        let state = &consumer.state;
        if state.ack_floor.stream_seq > state.delivered.stream_seq
            || state.ack_floor.consumer_seq > state.delivered.consumer_seq
        {
            findings.push(
                Finding::error(
                    FindingKind::ConsumerState,
                    format!("consumer {:?}: ack floor is beyond delivered (the server rejects this state)", consumer.name),
                )
                .entry(consumer.entry.clone()),
            );
        }
        if let Some(bad) = state.pending.iter().find(|entry| {
            entry.stream_seq <= state.ack_floor.stream_seq
                || entry.stream_seq > state.delivered.stream_seq
        }) {
            findings.push(
                Finding::error(
                    FindingKind::ConsumerState,
                    format!(
                        "consumer {:?}: pending sequence {} is outside (ack floor, delivered]",
                        consumer.name, bad.stream_seq
                    ),
                )
                .entry(consumer.entry.clone())
                .seq(bad.stream_seq),
            );
        }
        if state.delivered.stream_seq > last_seq {
            findings.push(
                Finding::warning(
                    FindingKind::ConsumerPastStream,
                    format!(
                        "consumer {:?}: delivered stream sequence {} is past the stream's last sequence {last_seq}",
                        consumer.name, state.delivered.stream_seq
                    ),
                )
                .entry(consumer.entry.clone()),
            );
        }
    }
    backup.findings.extend(findings);
}
