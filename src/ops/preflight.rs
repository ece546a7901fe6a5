//! Restore pre-flight: the checks made before a restore writes anything, as
//! one list for the GUI's Restore dialog and `jsbackup restore` (which prints
//! them and refuses on a failed one). Store checks read the file system and
//! server checks talk to the server: run them off the UI thread.
//!
//! Checks only: never writes, creates or deletes anything.

use crate::model::{Backup, StreamConfig};
use crate::ops::config_check::{check_restore_configs, schema_version, ConfigPolicy};
use crate::ops::nats_client::{Auth, Client};
use crate::ops::restore_damage::DamageAccount;
use crate::ops::restore_local::{renamed_config, validate_stream_name, ConsumerSelection};
use crate::ops::restore_prediction::{predict_for, Target};
use crate::ops::restore_server::{choose_payload, Payload};
use crate::util::time::format_rfc3339_ns;
use serde::Serialize;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One pre-flight line: passed (`Some(true)`), blocks the restore (`Some(false)`), note (`None`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub ok: Option<bool>,
    pub text: String,
}

impl Check {
    pub fn pass(text: impl Into<String>) -> Self {
        Self {
            ok: Some(true),
            text: text.into(),
        }
    }
    pub fn fail(text: impl Into<String>) -> Self {
        Self {
            ok: Some(false),
            text: text.into(),
        }
    }
    pub fn note(text: impl Into<String>) -> Self {
        Self {
            ok: None,
            text: text.into(),
        }
    }

    pub fn failed(&self) -> bool {
        self.ok == Some(false)
    }
}

/// True when a check blocks the restore.
pub fn blocked(checks: &[Check]) -> bool {
    checks.iter().any(Check::failed)
}

/// The failed checks as one refusal message (CLI error, GUI result).
pub fn refusal(checks: &[Check]) -> String {
    let failed: Vec<&str> = checks
        .iter()
        .filter(|check| check.failed())
        .map(|check| check.text.as_str())
        .collect();
    format!("refused by the pre-flight checks: {}", failed.join("; "))
}

/// What a restore does with the archive itself, whatever the target.
#[derive(Debug, Clone, Copy)]
pub struct ArchivePlan<'a> {
    /// Restore the intact part of a damaged backup.
    pub salvage: bool,
    /// `--config`: the stream config used instead of the backup's.
    pub config: Option<&'a Value>,
    /// The moment TTL and max_age are measured at.
    pub reference_ns: i64,
    /// Into a store directory: the restore leaves out what the server drops when it
    /// loads the store (unless `--keep-expired`; then the server drops it itself).
    pub local: bool,
    /// A memory-storage stream is written as file storage.
    pub storage_file: bool,
}

/// Checks of the archive, the same for every target: damage blocks the restore
/// unless salvaging (the restores refuse it again as a backstop), and what the
/// server will have dropped once it settles (restore_prediction).
pub fn archive_checks(backup: &Backup, plan: &ArchivePlan<'_>) -> Vec<Check> {
    let mut checks = Vec::new();
    let damage = DamageAccount::of(backup);
    if damage.is_damaged() {
        if plan.salvage {
            checks.push(Check::note(format!(
                "salvage: restores {}, leaves out {}",
                damage.written_of_archive(),
                damage.dropped_text()
            )));
        } else {
            checks.push(Check::fail(format!(
                "{}; tick \"salvage\" (or pass --salvage) to restore the intact part",
                damage.damage_text(backup)
            )));
        }
    }
    if plan.salvage {
        checks.extend(maybe_deleted_checks(backup));
    }
    let memory = backup.config.as_ref().is_some_and(StreamConfig::is_memory);
    let as_file = plan.storage_file && memory;
    // As file storage the stored sizes (bytes) are the file store's.
    let file_config = if as_file {
        let mut config = match plan.config {
            Some(config) => config.get("config").unwrap_or(config).clone(),
            None => backup
                .config
                .as_ref()
                .map(StreamConfig::to_json)
                .unwrap_or_default(),
        };
        config["storage"] = Value::from("file");
        Some(config)
    } else {
        None
    };
    // A store is opened by the server: its own rules (restore_prediction::Target).
    let target = if plan.local {
        Target::Store
    } else {
        Target::Server
    };
    let prediction = predict_for(
        backup,
        file_config.as_ref().or(plan.config),
        plan.reference_ns,
        target,
    );
    let storage = if as_file { ", as file storage" } else { "" };
    let when = format_rfc3339_ns(prediction.reference_ns);
    let settled = &prediction.state;
    let by = if plan.local {
        "once nats-server loads the store"
    } else {
        "once the server settles"
    };
    if prediction.dropped.total == 0 {
        checks.push(Check::pass(format!(
            "as of {when} no limit, max_age or TTL drops a message: the stream keeps {} message(s){storage}",
            crate::util::grouped(settled.messages)
        )));
    } else {
        checks.push(Check::note(format!(
            "this restore will drop {} (the stream's limits and TTLs as of {when}, {by}); \
             {} message(s) remain, first_seq {}, last_seq {}{storage}",
            prediction.dropped.text(),
            crate::util::grouped(settled.messages),
            settled.first_seq,
            settled.last_seq
        )));
    }
    checks
}

/// v1 messages that may have been deleted: named ones wait for the salvage's
/// keep-or-drop choice; unnamed ones are restored, and the line says how many.
fn maybe_deleted_checks(backup: &Backup) -> Vec<Check> {
    let mut checks = Vec::new();
    if !backup.maybe_deleted.is_empty() {
        checks.push(Check::note(format!(
            "{} message(s) may have been deleted, their deletion records lost (sequences {}): kept or left out as chosen (--maybe-deleted keep|drop)",
            crate::util::grouped(backup.maybe_deleted.len() as u64),
            crate::ops::export::maybe_deleted_ranges(backup)
        )));
    }
    if let Some(unnamed) = &backup.unnamed_deletes {
        checks.push(Check::note(crate::ops::wording::unnamed_deletes_text(
            unnamed,
        )));
    }
    checks
}

/// Whether the target nats-server `version` accepts the stream and consumer
/// configs (renamed to `name`) as they would be written.
pub fn config_checks(
    backup: &Backup,
    name: &str,
    consumers: &ConsumerSelection,
    policy: &ConfigPolicy,
) -> Vec<Check> {
    let version = match policy.version() {
        Ok(version) => version,
        Err(message) => return vec![Check::fail(message)],
    };
    let mut config = match renamed_config(backup, name) {
        Ok(config) => config,
        Err(error) => return vec![Check::fail(error.to_string())],
    };
    let selected = consumers.kept(backup);
    match check_restore_configs(&mut config, &selected, version, policy.drop_unknown) {
        Ok(checked) if checked.notes.is_empty() => vec![Check::pass(format!(
            "nats-server {}.{} accepts the stream and consumer configs",
            version.0, version.1
        ))],
        Ok(checked) => checked.notes.into_iter().map(Check::note).collect(),
        Err(message) => vec![Check::fail(message)],
    }
}

/// `STORE/jetstream/ACCOUNT/streams/NAME`.
pub fn stream_dir(store: &Path, account: &str, name: &str) -> PathBuf {
    store
        .join("jetstream")
        .join(account)
        .join("streams")
        .join(name)
}

/// File-system checks of a local restore target (runs on a worker).
pub fn store_preflight(
    backup: &Backup,
    store: &Path,
    account: &str,
    name: &str,
    replace: bool,
    consumers: &ConsumerSelection,
    policy: &ConfigPolicy,
) -> Vec<Check> {
    let mut checks = Vec::new();
    match validate_stream_name(name) {
        Ok(()) => {}
        Err(error) => checks.push(Check::fail(error.to_string())),
    }
    if backup.config.as_ref().is_some_and(StreamConfig::is_memory) {
        checks.push(if policy.storage_file {
            Check::note("the stream uses memory storage: it is written as file storage (--storage file)")
        } else {
            Check::fail(
                "the stream uses memory storage: a server never loads it from a store directory (restore to a server, or store it as file storage: --storage file)",
            )
        });
    }
    match std::fs::metadata(store) {
        Ok(meta) if meta.is_dir() => checks.push(Check::pass(format!(
            "store directory {} exists",
            store.display()
        ))),
        Ok(_) => checks.push(Check::fail(format!(
            "{} is a file, not a directory",
            store.display()
        ))),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            checks.push(Check::note(format!(
                "store directory {} does not exist: it will be created",
                store.display()
            )))
        }
        Err(error) => checks.push(Check::fail(format!(
            "cannot read {}: {error}",
            store.display()
        ))),
    }
    let target = stream_dir(store, account, name);
    if target.symlink_metadata().is_ok() {
        if replace {
            checks.push(Check::note(format!(
                "{} exists: it will be replaced (you are asked again)",
                target.display()
            )));
        } else {
            checks.push(Check::fail(format!(
                "{} already exists: choose another stream name, or replace it",
                target.display()
            )));
        }
    } else {
        checks.push(Check::pass(format!(
            "stream directory {} is free",
            target.display()
        )));
    }
    for consumer in &backup.consumers {
        if !consumer.config.is_object() {
            checks.push(Check::note(format!(
                "consumer {} has no config in the backup: untick it",
                consumer.name
            )));
        }
    }
    checks.extend(config_checks(backup, name, consumers, policy));
    checks
}

fn api_error(reply: &Value) -> Option<String> {
    let error = reply.get("error")?;
    Some(format!(
        "{} (code {})",
        error
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or("error"),
        error.get("code").and_then(Value::as_u64).unwrap_or(0)
    ))
}

/// The checks `restore_to_server` makes before sending, as a list (runs on a worker).
pub fn server_preflight(
    backup: &Backup,
    url: &str,
    auth: &Auth,
    name: &str,
    consumers: &ConsumerSelection,
    drop_expired: bool,
    drop_unknown_config: bool,
) -> Vec<Check> {
    let mut checks = Vec::new();
    if let Err(error) = validate_stream_name(name) {
        checks.push(Check::fail(error.to_string()));
        return checks;
    }
    let mut client = match Client::connect(url, auth) {
        Ok(client) => client,
        Err(error) => {
            checks.push(Check::fail(error.to_string()));
            return checks;
        }
    };
    let version = client.server_version();
    checks.push(Check::pass(format!(
        "reachable: nats-server {version} at {url}"
    )));
    if client.info().get("jetstream").and_then(Value::as_bool) == Some(false) {
        checks.push(Check::fail(format!("JetStream is not enabled on {url}")));
        return checks;
    }
    let timeout = Duration::from_secs(5);
    match client.request_json("$JS.API.INFO", &Value::Null, timeout) {
        Ok(reply) => match api_error(&reply) {
            Some(error) => {
                checks.push(Check::fail(format!(
                    "JetStream is not available for this account: {error}"
                )));
                return checks;
            }
            None => checks.push(Check::pass("JetStream is enabled for this account")),
        },
        Err(error) => {
            checks.push(Check::fail(format!("JetStream does not answer: {error}")));
            return checks;
        }
    }
    match client.request_json(
        &format!("$JS.API.STREAM.INFO.{name}"),
        &Value::Null,
        timeout,
    ) {
        Ok(reply) => match reply.get("error") {
            None => checks.push(Check::fail(format!(
                "stream {name} already exists on the server: delete it first or choose another name"
            ))),
            Some(error) if error.get("code").and_then(Value::as_u64) == Some(404) => {
                checks.push(Check::pass(format!("stream name {name} is free")))
            }
            Some(_) => checks.push(Check::fail(format!(
                "cannot check whether stream {name} exists: {}",
                api_error(&reply).unwrap_or_default()
            ))),
        },
        Err(error) => checks.push(Check::fail(format!(
            "cannot check whether stream {name} exists: {error}"
        ))),
    }
    let policy = ConfigPolicy {
        target_version: Some(version.clone()),
        drop_unknown: drop_unknown_config,
        storage_file: false,
    };
    let config_lines = if schema_version(&version).is_some() {
        config_checks(backup, name, consumers, &policy)
    } else {
        Vec::new()
    };
    // Dropped fields (notes) mean the archive's own configs cannot go up as they are.
    let config_edited = config_lines.iter().any(|check| check.ok.is_none());
    let renamed = name != backup.stream_name;
    match choose_payload(backup, renamed, consumers, drop_expired, &version) {
        Ok(payload) => checks.push(Check::pass(format!(
            "nats-server {version} can read it: {}",
            match payload {
                Payload::Original if config_edited => {
                    "a re-encoded archive is sent (without the refused config fields)"
                }
                Payload::Original => "the archive goes up unchanged",
                Payload::ReencodedV2 => "a re-encoded v2 archive is sent",
                Payload::ReencodedV1 => "a re-encoded v1 (tar) archive is sent",
            }
        ))),
        Err(message) => checks.push(Check::fail(message)),
    }
    checks.extend(config_lines);
    checks
}
