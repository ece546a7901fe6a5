//! Headless subcommands. They parse arguments, call `ops`, and print.

pub mod bench;
pub mod export;
pub mod restore;
pub mod screenshot;

use anyhow::{anyhow, Context, Result};
use jsbackup::model::{Backup, Severity, StreamConfig};
use jsbackup::ops::index::{open_backup, OpenError, ScanControl};
use jsbackup::ops::read::MessageReader;
use jsbackup::ops::report;
use jsbackup::util::subject::subject_matches;
use jsbackup::util::time::{format_rfc3339_ns, now_ns, parse_rfc3339_ns};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub struct InfoArgs {
    /// Backup directory (backup.json + stream.tar.s2) or data file.
    pub path: PathBuf,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Reference time for TTL expiry (RFC 3339); default now.
    #[arg(long)]
    pub now: Option<String>,
    /// Stream config the restore will use (StreamConfig JSON or `nats stream info --json`
    /// output), for `restore_prediction`; default the backup's.
    #[arg(long)]
    pub config: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct MessagesArgs {
    pub path: PathBuf,
    /// NDJSON, one message per line.
    #[arg(long)]
    pub json: bool,
    /// Only subjects matching this NATS wildcard filter.
    #[arg(long)]
    pub subject: Option<String>,
    #[arg(long)]
    pub from_seq: Option<u64>,
    #[arg(long)]
    pub to_seq: Option<u64>,
    /// Include `hdr` and `data` (base64 of the stored bytes).
    #[arg(long)]
    pub raw: bool,
    #[arg(long)]
    pub now: Option<String>,
}

#[derive(clap::Args)]
pub struct VerifyArgs {
    pub path: PathBuf,
    #[arg(long)]
    pub json: bool,
}

pub fn reference_time(now: &Option<String>) -> Result<i64> {
    match now {
        None => Ok(now_ns()),
        Some(text) => {
            parse_rfc3339_ns(text).ok_or_else(|| anyhow!("--now {text:?} is not an RFC 3339 time"))
        }
    }
}

/// Opens a backup for a subcommand; unreadable input is an error (exit 2).
pub fn load(path: &Path) -> Result<Backup> {
    let mut control = ScanControl::default();
    match open_backup(path, &mut control) {
        Ok(backup) => Ok(backup),
        Err(OpenError::Unreadable(message, _)) => Err(anyhow!(message)),
        Err(error) => Err(anyhow!(error)),
    }
}

pub fn info(args: &InfoArgs) -> Result<u8> {
    let reference_ns = reference_time(&args.now)?;
    let backup = load(&args.path)?;
    let restore_config = match &args.config {
        Some(path) => {
            let text =
                std::fs::read(path).with_context(|| format!("--config {}", path.display()))?;
            let value: serde_json::Value = serde_json::from_slice(&text)
                .with_context(|| format!("--config {}: not JSON", path.display()))?;
            if !value.get("config").unwrap_or(&value).is_object() {
                return Err(anyhow!(
                    "--config {}: not a StreamConfig object (or stream info with a \"config\" key)",
                    path.display()
                ));
            }
            Some(value)
        }
        None => None,
    };
    if args.json {
        let document = report::info_json_with(&backup, reference_ns, restore_config.as_ref());
        println!("{}", serde_json::to_string_pretty(&document)?);
        return Ok(0);
    }
    print!(
        "{}",
        text_summary(&backup, reference_ns, restore_config.as_ref())
    );
    Ok(0)
}

fn text_summary(
    backup: &Backup,
    reference_ns: i64,
    restore_config: Option<&serde_json::Value>,
) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let state = &backup.state;
    let _ = writeln!(
        out,
        "Stream {} ({} backup)",
        backup.stream_name,
        backup.format.map(|f| f.label()).unwrap_or("?")
    );
    let _ = writeln!(
        out,
        "  file:        {} ({} bytes, {} decompressed)",
        backup.source.data_file.display(),
        backup.source.data_file_bytes,
        backup.decompressed_bytes
    );
    if let Some(config) = backup.config.as_ref().map(StreamConfig::to_json) {
        let subjects = config
            .get("subjects")
            .map(|s| s.to_string())
            .unwrap_or_default();
        let _ = writeln!(out, "  subjects:    {subjects}");
        for key in [
            "storage",
            "retention",
            "max_msgs",
            "max_bytes",
            "max_age",
            "max_msgs_per_subject",
            "num_replicas",
        ] {
            if let Some(value) = config.get(key) {
                let _ = writeln!(out, "  {:<12} {value}", format!("{key}:"));
            }
        }
    }
    let _ = writeln!(out, "State (scanned):");
    let _ = writeln!(out, "  messages:    {}", state.messages);
    let _ = writeln!(out, "  bytes:       {}", state.bytes);
    let _ = writeln!(
        out,
        "  first seq:   {} @ {}",
        state.first_seq,
        format_rfc3339_ns(state.first_ts_ns)
    );
    let _ = writeln!(
        out,
        "  last seq:    {} @ {}",
        state.last_seq,
        format_rfc3339_ns(state.last_ts_ns)
    );
    let _ = writeln!(out, "  deleted:     {}", state.num_deleted);
    let _ = writeln!(out, "  subjects:    {}", state.num_subjects);
    let _ = writeln!(out, "  consumers:   {}", state.consumer_count);
    if let Some(declared) = &backup.declared_state {
        let _ = writeln!(
            out,
            "Declared (backup.json): {} messages, first {} last {}, {} consumers",
            declared.messages, declared.first_seq, declared.last_seq, declared.consumer_count
        );
    }
    out.push_str(&consumers_text(backup));
    let ttl = report::ttl_summary(backup, reference_ns);
    if ttl.messages_with_ttl > 0 {
        let _ = writeln!(
            out,
            "TTL: {} messages carry Nats-TTL, {} expired at {}",
            ttl.messages_with_ttl,
            ttl.expired,
            format_rfc3339_ns(reference_ns)
        );
    }
    out.push_str(&restore_text(backup, reference_ns, restore_config));
    if backup.findings.is_empty() {
        let _ = writeln!(out, "Findings: none");
    } else {
        let _ = writeln!(out, "Findings:");
        for finding in &backup.findings {
            let _ = writeln!(
                out,
                "  [{}] {}: {} ({})",
                finding.severity.label(),
                finding.kind.label(),
                finding.message,
                finding.location()
            );
        }
    }
    out
}

/// One line per consumer with the state CONSUMER.INFO would report.
fn consumers_text(backup: &Backup) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let statuses = jsbackup::ops::consumer_state::compute_all(backup);
    for (consumer, status) in backup.consumers.iter().zip(&statuses) {
        let _ = writeln!(
            out,
            "Consumer {}: delivered {}/{} ack floor {}/{} num_pending {} ack pending {} redelivered {}{}",
            consumer.name,
            status.delivered.consumer_seq,
            status.delivered.stream_seq,
            status.ack_floor.consumer_seq,
            status.ack_floor.stream_seq,
            status.num_pending,
            status.num_ack_pending,
            status.num_redelivered,
            if status.paused { " (paused)" } else { "" }
        );
    }
    out
}

/// What a restore at `reference_ns` would leave.
fn restore_text(
    backup: &Backup,
    reference_ns: i64,
    restore_config: Option<&serde_json::Value>,
) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let prediction =
        jsbackup::ops::restore_prediction::predict(backup, restore_config, reference_ns);
    let dropped = &prediction.dropped;
    let _ = writeln!(
        out,
        "Restore at {}: {} messages left (first seq {}), {} dropped: {} max_msgs, {} max_bytes, {} max_age, {} max_msgs_per_subject, {} TTL expired",
        format_rfc3339_ns(reference_ns),
        prediction.state.messages,
        prediction.state.first_seq,
        dropped.total,
        dropped.max_msgs,
        dropped.max_bytes,
        dropped.max_age,
        dropped.max_msgs_per_subject,
        dropped.ttl_expired
    );
    out
}

pub fn messages(args: &MessagesArgs) -> Result<u8> {
    let reference_ns = reference_time(&args.now)?;
    let backup = load(&args.path)?;
    let mut reader = if args.raw {
        Some(MessageReader::open(&backup)?)
    } else {
        None
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let start = backup.messages.lower_bound(args.from_seq.unwrap_or(0));
    for row in start..backup.messages.len() {
        let seq = backup.messages.seq[row];
        if args.to_seq.is_some_and(|to| seq > to) {
            break;
        }
        let subject = backup.subjects.name(backup.messages.subject_id[row]);
        if let Some(filter) = &args.subject {
            if !subject_matches(filter, subject) {
                continue;
            }
        }
        let bytes = match reader.as_mut() {
            Some(reader) => Some(
                reader
                    .read_row(&backup, row)
                    .with_context(|| format!("reading sequence {seq}"))?,
            ),
            None => None,
        };
        // The same objects the app's NDJSON export writes (ops::dump).
        let Some(line) = jsbackup::ops::dump::row_json(
            &backup,
            row,
            reference_ns,
            bytes
                .as_ref()
                .map(|bytes| (bytes.headers.as_slice(), bytes.data.as_slice())),
        ) else {
            continue;
        };
        if args.json {
            writeln!(out, "{line}")?;
        } else {
            writeln!(
                out,
                "{seq:>10}  {}  {subject}  hdr={} data={}",
                line["time"].as_str().unwrap_or(""),
                line["hdr_len"],
                line["data_len"]
            )?;
        }
    }
    out.flush()?;
    Ok(0)
}

pub fn verify(args: &VerifyArgs) -> Result<u8> {
    let backup = load(&args.path)?;
    let count = |severity: Severity| {
        backup
            .findings
            .iter()
            .filter(|f| f.severity == severity)
            .count()
    };
    let errors = count(Severity::Error);
    let damaged_in_bad_chunks = backup
        .messages
        .count_flagged(jsbackup::format::headers::flags::DAMAGED);
    let lost_sequences: u64 = backup.lost.iter().map(|(from, to)| to - from + 1).sum();
    if args.json {
        let document = serde_json::json!({
            "path": args.path.display().to_string(),
            "format": backup.format.map(|f| f.label()),
            "complete": backup.complete,
            "summary": {
                "messages_intact": backup.messages.len() - damaged_in_bad_chunks,
                "messages_suspect": damaged_in_bad_chunks,
                "messages_damaged": backup.damaged_seqs.len(),
                "damaged_seqs": backup.damaged_seqs,
                "sequences_lost": lost_sequences,
                "lost_ranges": backup.lost.iter().map(|(from, to)| [from, to]).collect::<Vec<_>>(),
                "errors": errors,
                "warnings": count(Severity::Warning),
            },
            "findings": backup.findings,
        });
        println!("{}", serde_json::to_string_pretty(&document)?);
    } else {
        for finding in &backup.findings {
            let location = finding.location();
            let location = if location.is_empty() {
                String::new()
            } else {
                format!(" ({location})")
            };
            println!(
                "[{}] {}: {}{location}",
                finding.severity.label(),
                finding.kind.label(),
                finding.message
            );
        }
        println!(
            "{}: {} messages intact, {damaged_in_bad_chunks} suspect (CRC failure or next to corrupt bytes), {} damaged, {lost_sequences} sequences lost; {errors} errors",
            args.path.display(),
            backup.messages.len() - damaged_in_bad_chunks,
            backup.damaged_seqs.len()
        );
    }
    Ok(if errors > 0 { 1 } else { 0 })
}

pub fn gui(path: Option<PathBuf>) -> Result<u8> {
    jsbackup::ui::run_app(path)?;
    Ok(0)
}
