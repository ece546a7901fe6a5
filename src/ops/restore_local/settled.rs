//! The settle rules of a local restore: `--config` replacing the stream config,
//! the settled consumer state each consumer is written with, and the report's
//! account of what was dropped (the `restore_prediction` counts, so the restore
//! output, the pre-flight and `info --json` say the same).

use super::{LocalRestoreOptions, RestoreError, RestoreReport, SettledDrops};
use crate::model::{Backup, ConsumerInfo, ConsumerState};
use crate::ops::restore_prediction::{predict_for, Settled, Target};
use crate::util::time::format_rfc3339_ns;
use serde_json::Value;

/// `--config` (a StreamConfig, or stream info with a `config` key) replaces
/// `config`, keeping `stream_name`; true when it did.
pub(super) fn apply_config_override(
    config: &mut Value,
    stream_name: &str,
    replacement: Option<&Value>,
) -> Result<bool, RestoreError> {
    let Some(replacement) = replacement else {
        return Ok(false);
    };
    let replacement = replacement.get("config").unwrap_or(replacement);
    let Value::Object(fields) = replacement else {
        return Err(RestoreError::BadInput(
            "the --config file is not a JSON object (StreamConfig, or stream info with a \"config\" key)".into(),
        ));
    };
    let mut fields = fields.clone();
    fields.insert("name".into(), Value::from(stream_name));
    *config = Value::Object(fields);
    Ok(true)
}

/// The settled state to write for `consumer` (`None`: no settle rules, write the archive's).
pub(super) fn consumer_state(
    backup: &Backup,
    settled: Option<&Settled>,
    consumer: &ConsumerInfo,
) -> Option<ConsumerState> {
    let settled = settled?;
    let index = backup
        .consumers
        .iter()
        .position(|candidate| candidate.name == consumer.name)?;
    settled.consumer_states.get(index).cloned()
}

/// The report's `settled` counts, or with `--keep-expired` a note on what the
/// server will drop by itself.
pub(super) fn report(
    report: &mut RestoreReport,
    backup: &Backup,
    settled: Option<&Settled>,
    config: &Value,
    options: &LocalRestoreOptions,
    overridden: bool,
) {
    match settled {
        Some(settled) => report.settled = Some(drops(settled, overridden)),
        None => report
            .notes
            .push(kept_note(backup, config, options.reference_ns)),
    }
}

fn drops(settled: &Settled, overridden: bool) -> SettledDrops {
    SettledDrops {
        reference_time: format_rfc3339_ns(settled.prediction.reference_ns),
        config: if overridden { "override" } else { "backup" },
        dropped: settled.prediction.dropped,
    }
}

pub(super) fn dropped_note(settled: &Settled) -> String {
    format!(
        "left out what nats-server drops when it loads the store (as of {}): {}; their sequences stay deleted",
        format_rfc3339_ns(settled.prediction.reference_ns),
        settled.prediction.dropped.text()
    )
}

/// `--keep-expired`: what the server will drop by itself once it loads the store.
fn kept_note(backup: &Backup, config: &Value, reference_ns: i64) -> String {
    let prediction = predict_for(backup, Some(config), reference_ns, Target::Store);
    if prediction.dropped.total == 0 {
        "kept every message (--keep-expired)".to_string()
    } else {
        format!(
            "kept every message (--keep-expired): nats-server drops {} itself once it loads the store (as of {})",
            prediction.dropped.text(),
            format_rfc3339_ns(reference_ns)
        )
    }
}
