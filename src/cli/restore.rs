//! `restore`: into a local store directory (`--store-dir`) or a running
//! server (`--server`). Exit 0 restored, 1 restore failed, 2 bad input.
//! Arguments and printing only: the checks and the restore are `ops::preflight` and
//! `ops::restore_*`.

use anyhow::{anyhow, Result};
use jsbackup::model::Backup;
use jsbackup::ops::config_check::ConfigPolicy;
use jsbackup::ops::nats_client::Auth;
use jsbackup::ops::preflight::{self, server_preflight, store_preflight, ArchivePlan, Check};
use jsbackup::ops::restore_damage::DamageAccount;
use jsbackup::ops::restore_local::{
    restore_target, restore_to_store, ConsumerSelection, LocalRestoreOptions, RestoreReport,
};
use jsbackup::ops::restore_server::{restore_to_server, ServerRestoreOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("target").required(true).args(["store_dir", "server"])))]
pub struct RestoreArgs {
    /// Backup directory (backup.json + stream.tar.s2) or data file.
    pub path: PathBuf,
    /// Write the stream into this nats-server store directory (server stopped).
    #[arg(long)]
    pub store_dir: Option<PathBuf>,
    /// Account directory inside the store.
    #[arg(long, default_value = "$G", requires = "store_dir")]
    pub account: String,
    /// Restore into this running server (nats://host:port).
    #[arg(long)]
    pub server: Option<String>,
    #[arg(long, requires = "server", requires = "password")]
    pub user: Option<String>,
    #[arg(long, requires = "user")]
    pub password: Option<String>,
    #[arg(long, requires = "server", conflicts_with = "user")]
    pub token: Option<String>,
    /// NATS credentials file (JWT + nkey): not supported yet, refused with a clear error.
    #[arg(long, requires = "server")]
    pub creds: Option<std::path::PathBuf>,
    /// Replica count of the restored stream (server restores).
    #[arg(long, requires = "server")]
    pub replicas: Option<u64>,
    /// Stream config to restore with (StreamConfig JSON or `nats stream info --json` output).
    /// A --store-dir restore applies its limits and max_age as the server will.
    #[arg(long)]
    pub config: Option<std::path::PathBuf>,
    /// Restore under a new stream name.
    #[arg(long = "stream")]
    pub stream: Option<String>,
    /// Only these consumers (comma separated).
    #[arg(long, value_delimiter = ',', conflicts_with = "no_consumers")]
    pub consumers: Option<Vec<String>>,
    /// Leave all consumers out.
    #[arg(long)]
    pub no_consumers: bool,
    /// Leave out messages whose Nats-TTL has expired (they become deleted sequences).
    /// A --store-dir restore does this (and applies the limits and max_age) by default.
    #[arg(long)]
    pub drop_expired: bool,
    /// --store-dir: write every archive message and consumer state as in the archive,
    /// instead of what nats-server settles at once it loads the store (limits of the
    /// config used, max_age, expired Nats-TTLs, as of --now).
    #[arg(long, requires = "store_dir", conflicts_with = "drop_expired")]
    pub keep_expired: bool,
    /// Replace an existing stream directory (store only).
    #[arg(long, requires = "store_dir")]
    pub replace: bool,
    /// Reference time for TTLs and max_age (--drop-expired, --store-dir) (RFC 3339); default now.
    #[arg(long)]
    pub now: Option<String>,
    /// Restore the intact part of a damaged backup and report what was left out
    /// (without it a damaged backup is refused).
    #[arg(long)]
    pub salvage: bool,
    /// Salvage: keep or drop the messages that may have been deleted (their
    /// deletion records are lost); required when there are such messages.
    #[arg(long, value_enum)]
    pub maybe_deleted: Option<super::export::MaybeDeletedArg>,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Leave out stream/consumer config fields the target nats-server version
    /// would refuse (unknown or wrongly typed), with a note, instead of refusing.
    #[arg(long)]
    pub drop_unknown_config: bool,
    /// Storage of the restored stream: `file` writes a memory-storage stream as
    /// file storage (a server never loads memory streams from a store directory).
    #[arg(long, value_parser = ["file"], requires = "store_dir")]
    pub storage: Option<String>,
    /// nats-server version that will load a --store-dir restore (default: the newest known).
    #[arg(long, requires = "store_dir")]
    pub server_version: Option<String>,
}

/// Runs the restore; `cancel` is set by SIGINT/SIGTERM (see main.rs).
pub fn restore(args: &RestoreArgs, cancel: &AtomicBool) -> Result<u8> {
    let reference_ns = super::reference_time(&args.now)?;
    let consumers = match (&args.consumers, args.no_consumers) {
        (_, true) => ConsumerSelection::None,
        (Some(names), false) => {
            ConsumerSelection::Only(names.iter().map(|name| name.trim().to_string()).collect())
        }
        (None, false) => ConsumerSelection::All,
    };
    let backup = match load_cancellable(&args.path, cancel)? {
        Some(backup) => backup,
        None => {
            eprintln!("jsbackup: restore cancelled while reading the backup; nothing was written");
            return Ok(1);
        }
    };
    let quiet = args.json;
    let server_restore = args.server.is_some();
    let mut last_percent = u64::MAX;
    let printed = std::cell::Cell::new(false);
    let mut progress = |done: u64, total: u64| {
        if quiet || total == 0 {
            return;
        }
        if server_restore && done == total {
            // restore_to_server reports `total` only once everything is sent.
            eprint!("\rrestoring… 100%  waiting for the server to finish…");
            // Progress display only: a stderr that cannot flush loses nothing.
            let _ = std::io::stderr().flush();
            printed.set(true);
            return;
        }
        let percent = done.saturating_mul(100) / total;
        if percent != last_percent && percent.is_multiple_of(10) {
            last_percent = percent;
            printed.set(true);
            eprint!("\rrestoring… {percent:3}%");
            // Progress display only: a stderr that cannot flush loses nothing.
            let _ = std::io::stderr().flush();
        }
    };
    let (checks, outcome) = if let Some(store_dir) = &args.store_dir {
        to_store(
            args,
            store_dir,
            &backup,
            consumers,
            reference_ns,
            &mut progress,
            cancel,
        )?
    } else if let Some(url) = &args.server {
        to_server(
            args,
            url,
            &backup,
            consumers,
            reference_ns,
            &mut progress,
            cancel,
        )?
    } else {
        return Err(anyhow!("give --store-dir DIR or --server URL"));
    };
    if printed.get() {
        eprintln!();
    }
    match outcome {
        Ok(report) => {
            if args.json {
                let mut value = serde_json::to_value(&report)?;
                value["ok"] = serde_json::Value::Bool(true);
                value["preflight"] = serde_json::to_value(&checks)?;
                outln!("{}", serde_json::to_string_pretty(&value)?)?;
            } else {
                print_report(&report, args.store_dir.is_some())?;
            }
            Ok(0)
        }
        Err((true, message)) => Err(anyhow!(message)),
        Err((false, message)) => {
            if args.json {
                let mut value =
                    serde_json::json!({"ok": false, "error": message, "preflight": checks});
                let damage = DamageAccount::of(&backup);
                if damage.is_damaged() && !args.salvage {
                    // The refusal: what a salvage would leave out, for scripts.
                    value["dropped"] = serde_json::to_value(&damage)?;
                }
                outln!("{value}")?;
            } else {
                eprintln!("jsbackup: restore failed: {message}");
            }
            Ok(1)
        }
    }
}

/// What a restore ended with: the report, or (bad input?, message).
type Outcome = Result<RestoreReport, (bool, String)>;
type Progress<'a> = dyn FnMut(u64, u64) + 'a;

/// Prints the checks (plain output) and runs `restore` unless one failed.
fn unless_blocked(checks: &[Check], json: bool, restore: impl FnOnce() -> Outcome) -> Outcome {
    if !json {
        print_preflight(checks);
    }
    if preflight::blocked(checks) {
        Err((false, preflight::refusal(checks)))
    } else {
        restore()
    }
}

/// The stream name a restore writes (the backup's unless --stream renames it).
fn target_name(
    args: &RestoreArgs,
    backup: &Backup,
    consumers: &ConsumerSelection,
) -> Result<String> {
    // Name and consumers first: bad input is exit 2, as the restore itself says.
    restore_target(backup, args.stream.as_deref(), consumers)
        .map_err(|error| anyhow!(error.to_string()))?;
    Ok(args
        .stream
        .clone()
        .unwrap_or_else(|| backup.stream_name.clone()))
}

/// `--config FILE` as JSON.
fn config_override(args: &RestoreArgs) -> Result<Option<serde_json::Value>> {
    let Some(path) = &args.config else {
        return Ok(None);
    };
    let text =
        std::fs::read(path).map_err(|error| anyhow!("--config {}: {error}", path.display()))?;
    let value: serde_json::Value = serde_json::from_slice(&text)
        .map_err(|error| anyhow!("--config {}: not JSON: {error}", path.display()))?;
    Ok(Some(value))
}

fn to_store(
    args: &RestoreArgs,
    store_dir: &Path,
    backup: &Backup,
    consumers: ConsumerSelection,
    reference_ns: i64,
    progress: &mut Progress<'_>,
    cancel: &AtomicBool,
) -> Result<(Vec<Check>, Outcome)> {
    let name = target_name(args, backup, &consumers)?;
    let options = LocalRestoreOptions {
        store_dir: store_dir.to_path_buf(),
        account: args.account.clone(),
        stream_name: args.stream.clone(),
        consumers,
        keep_expired: args.keep_expired,
        reference_ns,
        config_override: config_override(args)?,
        replace: args.replace,
        salvage: args.salvage,
        maybe_deleted: args
            .maybe_deleted
            .map(super::export::MaybeDeletedArg::choice),
        config_policy: ConfigPolicy {
            target_version: args.server_version.clone(),
            drop_unknown: args.drop_unknown_config,
            storage_file: args.storage.is_some(),
        },
    };
    let mut checks = preflight::archive_checks(
        backup,
        &ArchivePlan {
            salvage: args.salvage,
            config: options.config_override.as_ref(),
            reference_ns,
            local: true,
            storage_file: args.storage.is_some(),
        },
    );
    checks.extend(store_preflight(
        backup,
        store_dir,
        &options.account,
        &name,
        options.replace,
        &options.consumers,
        &options.config_policy,
    ));
    let outcome = unless_blocked(&checks, args.json, || {
        restore_to_store(backup, &options, progress, cancel)
            .map_err(|error| (error.is_bad_input(), error.to_string()))
    });
    Ok((checks, outcome))
}

fn to_server(
    args: &RestoreArgs,
    url: &str,
    backup: &Backup,
    consumers: ConsumerSelection,
    reference_ns: i64,
    progress: &mut Progress<'_>,
    cancel: &AtomicBool,
) -> Result<(Vec<Check>, Outcome)> {
    let mut options = ServerRestoreOptions::new(url);
    options.auth = match (&args.user, &args.password, &args.token) {
        (Some(user), Some(password), _) => Auth::UserPassword {
            user: user.clone(),
            password: password.clone(),
        },
        (_, _, Some(token)) => Auth::Token(token.clone()),
        _ => Auth::None,
    };
    if let Some(creds) = &args.creds {
        return Err(anyhow!(
            "--creds {}: credentials files (JWT + nkey signing) are not supported yet; use --user/--password or --token",
            creds.display()
        ));
    }
    options.config_override = config_override(args)?;
    let name = target_name(args, backup, &consumers)?;
    options.replicas = args.replicas;
    options.stream_name = args.stream.clone();
    options.consumers = consumers;
    options.drop_expired = args.drop_expired;
    options.reference_ns = reference_ns;
    options.drop_unknown_config = args.drop_unknown_config;
    options.salvage = args.salvage;
    options.maybe_deleted = args
        .maybe_deleted
        .map(super::export::MaybeDeletedArg::choice);
    let mut checks = preflight::archive_checks(
        backup,
        &ArchivePlan {
            salvage: args.salvage,
            config: options.config_override.as_ref(),
            reference_ns,
            local: false,
            storage_file: false,
        },
    );
    checks.extend(server_preflight(
        backup,
        url,
        &options.auth,
        &name,
        &options.consumers,
        options.drop_expired,
        options.drop_unknown_config,
    ));
    let outcome = unless_blocked(&checks, args.json, || {
        restore_to_server(backup, &options, progress, cancel)
            .map_err(|error| (error.is_bad_input(), error.to_string()))
    });
    Ok((checks, outcome))
}

/// The pre-flight checks, one per line, on standard error (before the result).
fn print_preflight(checks: &[Check]) {
    if checks.is_empty() {
        return;
    }
    eprintln!("pre-flight:");
    for check in checks {
        let mark = match check.ok {
            Some(true) => "ok  ",
            Some(false) => "FAIL",
            None => "note",
        };
        eprintln!("  {mark} {}", check.text);
    }
}

/// Like `super::load`, but a signal stops the scan too (`None`: cancelled).
fn load_cancellable(
    path: &std::path::Path,
    cancel: &AtomicBool,
) -> Result<Option<jsbackup::model::Backup>> {
    use jsbackup::ops::scan::{open_backup, OpenError, ScanControl};
    let mut control = ScanControl {
        cancel: Some(cancel),
        on_progress: None,
        memory_budget: None,
    };
    match open_backup(path, &mut control) {
        Ok(backup) => Ok(Some(backup)),
        Err(OpenError::Cancelled) => Ok(None),
        Err(OpenError::Unreadable(message, _)) => Err(anyhow!(message)),
        Err(error) => Err(anyhow!(error)),
    }
}

fn print_report(report: &RestoreReport, local: bool) -> std::io::Result<()> {
    outln!(
        "restored stream {} into {}",
        report.stream_name,
        report.target
    )?;
    outln!(
        "  messages {} written of {} in the archive ({})  bytes {}  sequences {}..{}",
        report.messages,
        report.archive_messages,
        report.dropped.archive_messages_from,
        report.bytes,
        report.first_seq,
        report.last_seq
    )?;
    if report.salvaged {
        outln!("  salvaged: left out {}", report.dropped.dropped_text())?;
    }
    if let Some(outcome) = &report.maybe_deleted {
        outln!("  {}", outcome.text())?;
    }
    if let Some(settled) = &report.settled {
        outln!(
            "  settled as of {} ({} config): {}",
            settled.reference_time,
            settled.config,
            if settled.dropped.total == 0 {
                "nothing dropped".to_string()
            } else {
                format!("dropped {}", settled.dropped.text())
            }
        )?;
    }
    if local {
        outln!("  blocks {}", report.blocks)?;
    }
    if let Some(sent) = report.bytes_sent {
        outln!("  sent {sent} bytes")?;
    }
    let consumers = if report.consumers.is_empty() {
        "none".to_string()
    } else {
        report.consumers.join(", ")
    };
    outln!("  consumers {consumers}")?;
    for note in &report.notes {
        outln!("  note: {note}")?;
    }
    if report.replaced {
        outln!("  replaced the existing stream directory")?;
    }
    if local {
        outln!("  start (or restart) nats-server on this store to load it")?;
    }
    outln!("  took {} ms", report.elapsed_ms)?;
    Ok(())
}
