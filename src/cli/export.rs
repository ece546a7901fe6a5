//! `export` and `export-consumers`: arguments in, `ops::export` does the work.

use super::filter::FilterArgs;
use super::{load, reference_time};
use anyhow::Result;
use jsbackup::model::ArchiveFormat;
use jsbackup::ops::export::{
    self, ConsumerSelection, ExportOptions, ExportReport, MaybeDeletedChoice,
};
use std::path::PathBuf;

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum FormatArg {
    /// PAX tar of the file store (restores into every server, ≤ 2.14 included).
    V1,
    /// NATSARC1 (restores into 2.15+).
    V2,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum MaybeDeletedArg {
    /// Keep them, as a restore of the damaged backup would.
    Keep,
    /// Leave them out, as deleted sequences.
    Drop,
}

impl MaybeDeletedArg {
    pub fn choice(self) -> MaybeDeletedChoice {
        match self {
            MaybeDeletedArg::Keep => MaybeDeletedChoice::Keep,
            MaybeDeletedArg::Drop => MaybeDeletedChoice::Drop,
        }
    }
}

#[derive(clap::Args)]
pub struct ExportArgs {
    /// Backup directory (backup.json + stream.tar.s2) or data file.
    pub path: PathBuf,
    /// New backup directory to create (must not exist).
    pub out: PathBuf,
    /// Output format (default: the input's).
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,
    /// Only these consumers (comma separated).
    #[arg(long, value_delimiter = ',', conflicts_with = "no_consumers")]
    pub consumers: Option<Vec<String>>,
    /// Leave every consumer out.
    #[arg(long)]
    pub no_consumers: bool,
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Drop messages whose Nats-TTL has run out (at --now).
    #[arg(long)]
    pub drop_expired: bool,
    /// Reference time for --drop-expired and --expired (RFC 3339); default now.
    #[arg(long)]
    pub now: Option<String>,
    /// Print what would be kept and dropped; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Write whatever can be read from a damaged backup, with consistent state.
    #[arg(long)]
    pub salvage: bool,
    /// Salvage: keep or drop the messages that may have been deleted (their
    /// deletion records are lost); required when there are such messages.
    #[arg(long, value_enum)]
    pub maybe_deleted: Option<MaybeDeletedArg>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args)]
pub struct ExportConsumersArgs {
    pub path: PathBuf,
    /// Directory for NAME.json and NAME.state.json (created if missing).
    pub out_dir: PathBuf,
    /// Only these consumers (comma separated).
    #[arg(long, value_delimiter = ',')]
    pub consumers: Option<Vec<String>>,
    #[arg(long)]
    pub json: bool,
}

fn selection(consumers: &Option<Vec<String>>, none: bool) -> ConsumerSelection {
    match (consumers, none) {
        (_, true) => ConsumerSelection::None,
        (Some(names), false) => ConsumerSelection::Only(names.clone()),
        (None, false) => ConsumerSelection::All,
    }
}

/// Runs the export; `cancel` is set by SIGINT/SIGTERM (see main.rs).
pub fn export(args: &ExportArgs, cancel: &std::sync::atomic::AtomicBool) -> Result<u8> {
    let options = ExportOptions {
        format: args.format.map(|format| match format {
            FormatArg::V1 => ArchiveFormat::V1,
            FormatArg::V2 => ArchiveFormat::V2,
        }),
        consumers: selection(&args.consumers, args.no_consumers),
        filter: args.filter.to_filter()?,
        drop_expired: args.drop_expired,
        reference_ns: Some(reference_time(&args.now)?),
        dry_run: args.dry_run,
        salvage: args.salvage,
        maybe_deleted: args.maybe_deleted.map(MaybeDeletedArg::choice),
    };
    let backup = load(&args.path)?;
    let mut options = options;
    if options.format.is_none() {
        // The source's format, salvage included: v1 stays v1 so the server that made it can restore it.
        options.format = backup.format;
    }
    let report = export::export(&backup, &args.out, &options, &mut |_| {}, Some(cancel))?;
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        print_report(&report)?;
    }
    Ok(0)
}

fn print_report(report: &ExportReport) -> std::io::Result<()> {
    let dropped = &report.dropped;
    if report.dry_run {
        outln!(
            "dry run: nothing written ({} output)",
            report.format.label()
        )?;
    } else {
        outln!(
            "wrote {} ({} backup, {} bytes of data{})",
            report.out.display(),
            report.format.label(),
            report.data_file_bytes,
            if report.salvage { ", salvaged" } else { "" }
        )?;
    }
    outln!(
        "messages: {} kept of {}, {} dropped",
        report.kept_messages,
        report.source_messages,
        dropped.total()
    )?;
    for (label, count) in [
        ("outside --from-seq/--to-seq", dropped.sequence_range),
        ("outside --since/--until", dropped.time_range),
        ("subject not in --subject", dropped.subject_not_included),
        ("subject in --exclude-subject", dropped.subject_excluded),
        ("TTL expired", dropped.expired),
        (
            "not matching --header/--payload-*/--kv-op/--damaged",
            dropped.filter_fields,
        ),
        ("not matching --where", dropped.filter_expression),
        ("unreadable (damaged)", dropped.unreadable),
        ("may have been deleted", dropped.maybe_deleted),
    ] {
        if count > 0 {
            outln!("  dropped {count}: {label}")?;
        }
    }
    let state = &report.state;
    outln!(
        "state: first_seq {} last_seq {} messages {} bytes {} deleted {} subjects {}",
        state.first_seq,
        state.last_seq,
        state.messages,
        state.bytes,
        state.num_deleted,
        state.num_subjects
    )?;
    if report.consumers.is_empty() {
        outln!("consumers: none")?;
    } else {
        outln!("consumers: {}", report.consumers.join(", "))?;
    }
    for left_out in &report.consumers_left_out {
        outln!("consumer left out: {} ({})", left_out.name, left_out.why)?;
    }
    Ok(())
}

pub fn export_consumers(args: &ExportConsumersArgs) -> Result<u8> {
    let backup = load(&args.path)?;
    let written =
        export::export_consumers(&backup, &selection(&args.consumers, false), &args.out_dir)?;
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&written)?)?;
    } else if written.is_empty() {
        outln!("no consumers to write")?;
    } else {
        for consumer in &written {
            outln!(
                "{}: {} and {}",
                consumer.name,
                consumer.config_file.display(),
                consumer.state_file.display()
            )?;
        }
    }
    Ok(0)
}
