//! Headless subcommands. They parse arguments, call `ops`, and print.

/// `println!` that returns the write error instead of panicking, so a closed
/// stdout (`jsbackup verify X | head`) ends the command through
/// [`quiet_on_broken_pipe`] instead of a panic.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)
    }};
}

pub mod bench;
pub mod export;
pub mod filter;
pub mod restore;
pub mod screenshot;
pub mod stdin;
pub mod verify;

pub use verify::{verify, VerifyArgs};

use anyhow::{anyhow, Context, Result};
use jsbackup::model::{Backup, StreamConfig};
use jsbackup::ops::read::MessageReader;
use jsbackup::ops::report;
use jsbackup::ops::scan::{open_backup, OpenError, ScanControl};
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
    #[command(flatten)]
    pub filter: filter::FilterArgs,
    /// Include `hdr` and `data` (base64 of the stored bytes).
    #[arg(long)]
    pub raw: bool,
    /// Reference time for TTL expiry (`expired`, --expired, `ttl expired`); default now.
    #[arg(long)]
    pub now: Option<String>,
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
        outln!("{}", serde_json::to_string_pretty(&document)?)?;
        return Ok(0);
    }
    let mut out = std::io::stdout().lock();
    out.write_all(text_summary(&backup, reference_ns, restore_config.as_ref()).as_bytes())?;
    out.flush()?;
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
        escape_control(&backup.stream_name),
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
                escape_control(&finding.message),
                escape_control(&finding.location())
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
        if !consumer.config_read() {
            // Kind, filters and start rules all come from the config: only a
            // recorded state says anything.
            let position = if consumer.state_read {
                format!(
                    "its state says delivered {}/{} ack floor {}/{}, but what it has pending is not known",
                    consumer.state.delivered.consumer_seq,
                    consumer.state.delivered.stream_seq,
                    consumer.state.ack_floor.consumer_seq,
                    consumer.state.ack_floor.stream_seq
                )
            } else {
                "its position is not known".to_string()
            };
            let _ = writeln!(
                out,
                "Consumer {}: config unreadable ({} is damaged): {position}; a restore refuses it and a salvage leaves it out",
                escape_control(&consumer.name),
                escape_control(&consumer.entry)
            );
            continue;
        }
        let _ = writeln!(
            out,
            "Consumer {}: delivered {}/{} ack floor {}/{} num_pending {} ack pending {} redelivered {}{}",
            escape_control(&consumer.name),
            status.delivered.consumer_seq,
            status.delivered.stream_seq,
            status.ack_floor.consumer_seq,
            status.ack_floor.stream_seq,
            status.num_pending,
            status.num_ack_pending,
            status.num_redelivered,
            if status.paused { " (paused)" } else { "" }
        );
        if !status.state_recorded {
            let _ = writeln!(
                out,
                "  (the archive holds no readable state for it: the positions are the server's start rules for a new consumer)"
            );
        }
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
    let filter = args.filter.to_filter()?;
    let backup = load(&args.path)?;
    let compiled = filter
        .compile(&backup, reference_ns)
        .map_err(|error| filter::where_error(&filter, error))?;
    let mut reader = if args.raw {
        Some(MessageReader::open(&backup)?)
    } else {
        None
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut failure: Option<anyhow::Error> = None;
    let never = std::sync::atomic::AtomicBool::new(false);
    let mut each = |row: usize| {
        if failure.is_none() {
            if let Err(error) = message_line(
                &backup,
                row,
                reference_ns,
                reader.as_mut(),
                args.json,
                &mut out,
            ) {
                failure = Some(error);
            }
        }
    };
    jsbackup::ops::filter::display::scan(&backup, &compiled, &never, &mut each, &mut |_, _| {})?;
    if let Some(error) = failure {
        return Err(error);
    }
    out.flush()?;
    Ok(0)
}

/// One message: an NDJSON line (`--json`, exact) or a text line (control characters escaped).
fn message_line(
    backup: &Backup,
    row: usize,
    reference_ns: i64,
    reader: Option<&mut MessageReader>,
    json: bool,
    out: &mut impl Write,
) -> Result<()> {
    let bytes = match reader {
        Some(reader) => Some(
            reader
                .read_row(backup, row)
                .with_context(|| format!("reading sequence {row}"))?,
        ),
        None => None,
    };
    // The same objects the app's NDJSON export writes (ops::dump).
    let Some(line) = jsbackup::ops::dump::row_json(
        backup,
        row,
        reference_ns,
        bytes
            .as_ref()
            .map(|bytes| (bytes.headers.as_slice(), bytes.data.as_slice())),
    ) else {
        return Ok(());
    };
    let seq = line["seq"].as_u64().unwrap_or(0);
    let headers = bytes.map(|bytes| bytes.headers).unwrap_or_default();
    if json {
        writeln!(out, "{line}")?;
        return Ok(());
    }
    writeln!(
        out,
        "{seq:>10}  {}  {}  hdr={} data={}",
        line["time"].as_str().unwrap_or(""),
        escape_control(line["subject"].as_str().unwrap_or("")),
        line["hdr_len"],
        line["data_len"]
    )?;
    // With --raw the text form also lists the headers, one per line.
    for header_line in String::from_utf8_lossy(&headers).split("\r\n").skip(1) {
        if !header_line.is_empty() {
            writeln!(out, "            {}", escape_control(header_line))?;
        }
    }
    Ok(())
}

/// Text for a terminal: control characters as `\xNN` (`\n`, `\r`, `\t` by name),
/// backslashes doubled, so a subject or name cannot move the cursor or fake a line.
pub fn escape_control(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(|c| c.is_control() || c == '\\') {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => escaped.push_str("\\n"),
            '\r' => escaped.push_str("\\r"),
            '\t' => escaped.push_str("\\t"),
            '\\' => escaped.push_str("\\\\"),
            c if (c as u32) < 0x100 && c.is_control() => {
                escaped.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if c.is_control() => escaped.push_str(&format!("\\u{{{:04x}}}", c as u32)),
            c => escaped.push(c),
        }
    }
    std::borrow::Cow::Owned(escaped)
}

/// A closed stdout (`jsbackup messages X | head`) ends the command quietly with 0.
pub fn quiet_on_broken_pipe(result: Result<u8>) -> Result<u8> {
    match result {
        Err(error)
            if error.chain().any(|cause| {
                cause
                    .downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            Ok(0)
        }
        other => other,
    }
}
pub fn gui(path: Option<PathBuf>) -> Result<u8> {
    jsbackup::ui::run_app(path)?;
    Ok(0)
}
