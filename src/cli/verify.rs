//! `jsbackup verify`: every check (framing, records, state, content), each finding
//! with its impact and next step, the predicted server restore, and optionally a
//! Markdown triage report (`--report FILE.md`).

use super::{load, reference_time};
use anyhow::{Context, Result};
use jsbackup::model::Severity;
use jsbackup::ops::content_checks::{self, CheckOptions};
use jsbackup::ops::predict::group;
use jsbackup::ops::{damaged, report, triage};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct VerifyArgs {
    pub path: PathBuf,
    #[arg(long)]
    pub json: bool,
    /// Also write a Markdown triage report (identity, findings, accounting,
    /// predicted restore, salvage) to this file; it must not exist.
    #[arg(long, value_name = "FILE.md")]
    pub report: Option<PathBuf>,
    /// Reference time for TTL expiry in the restore prediction (RFC 3339); default now.
    #[arg(long)]
    pub now: Option<String>,
    /// Also write the raw bytes of every damaged or suspect message, and the lost
    /// ranges, into this new folder with an `index.ndjson`, for inspection (never a
    /// restorable copy); it must not exist.
    #[arg(long, value_name = "DIR")]
    pub damaged_out: Option<PathBuf>,
}

pub fn verify(args: &VerifyArgs) -> Result<u8> {
    let reference_ns = reference_time(&args.now)?;
    if let Some(path) = &args.report {
        anyhow::ensure!(
            !path.exists(),
            "{} already exists; choose a new report path (verify never overwrites)",
            path.display()
        );
    }
    if let Some(dir) = &args.damaged_out {
        anyhow::ensure!(
            !dir.exists(),
            "{} already exists; choose a new folder for the damaged bytes (verify never overwrites)",
            dir.display()
        );
    }
    let mut backup = load(&args.path)?;
    content_checks::run(&mut backup, CheckOptions { headers: true }, None)
        .context("reading messages for the content checks")?;
    let result = triage::triage(&backup, reference_ns, None, true);
    if let Some(path) = &args.report {
        let text = report::triage_markdown(&backup, &result);
        write_new_file(path, text.as_bytes())?;
    }
    if let Some(dir) = &args.damaged_out {
        let cancel = std::sync::atomic::AtomicBool::new(false);
        let written = damaged::export_damaged(&backup, dir, &mut |_, _| {}, &cancel)
            .with_context(|| format!("writing the damaged bytes to {}", dir.display()))?;
        // On stderr, so `--json` output stays one document.
        eprintln!(
            "damaged bytes: {} damaged and {} suspect messages ({} unreadable), {} lost ranges listed, {} bytes, in {}",
            group(written.damaged),
            group(written.suspect),
            group(written.unreadable),
            group(written.lost_ranges),
            group(written.bytes),
            written.path.display()
        );
    }
    let errors = backup
        .findings
        .iter()
        .filter(|finding| finding.severity == Severity::Error)
        .count();
    if args.json {
        let document = report::verify_json(&args.path, &backup, &result);
        outln!("{}", serde_json::to_string_pretty(&document)?)?;
    } else {
        for explained in &result.findings {
            let finding = &explained.finding;
            let location = finding.location();
            let location = if location.is_empty() {
                String::new()
            } else {
                format!(" ({location})")
            };
            outln!(
                "[{}] {}: {}{location}",
                finding.severity.label(),
                finding.kind.label(),
                finding.message
            )?;
            outln!("    impact: {}", explained.impact)?;
            outln!("    next:   {}", explained.next_step)?;
        }
        let accounting = &result.accounting;
        let suspect: u64 = accounting.suspect.iter().map(|s| s.count).sum();
        let lost: u64 = accounting.lost.iter().map(|(from, to)| to - from + 1).sum();
        outln!(
            "{}: {} messages intact, {} suspect, {} damaged, {} sequence{} lost; {errors} error{}",
            args.path.display(),
            group(accounting.intact),
            group(suspect),
            group(accounting.damaged.len() as u64),
            group(lost),
            if lost == 1 { "" } else { "s" },
            if errors == 1 { "" } else { "s" }
        )?;
        for prediction in &result.restore {
            outln!(
                "restore with nats-server {}: {}",
                prediction.servers.join(" and "),
                prediction.summary
            )?;
        }
        if !backup.maybe_deleted.is_empty() {
            outln!(
                "may have been deleted: {} message(s), sequences {} (a salvage asks: --maybe-deleted keep|drop)",
                group(backup.maybe_deleted.len() as u64),
                jsbackup::ops::export::maybe_deleted_ranges(&backup)
            )?;
        }
        if let Some(unnamed) = &backup.unnamed_deletes {
            outln!(
                "not named: {}",
                jsbackup::ops::wording::unnamed_deletes_text(unnamed)
            )?;
        }
        if let Some(plan) = &result.salvage {
            outln!("salvage: {}", plan.summary)?;
        }
    }
    Ok(if errors > 0 { 1 } else { 0 })
}

/// Writes a file that must not exist yet: temp file, fsync, rename.
pub fn write_new_file(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| "report.md".into());
    let temp = parent.join(format!(".{name}.jsbackup-tmp-{}", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let mut file = std::fs::File::create_new(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        if path.exists() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "appeared while writing",
            ));
        }
        std::fs::rename(&temp, path)
    })();
    if let Err(error) = result {
        match std::fs::remove_file(&temp) {
            Err(cleanup) if cleanup.kind() != std::io::ErrorKind::NotFound => {
                eprintln!("jsbackup: cannot remove {}: {cleanup}", temp.display());
            }
            _ => {}
        }
        return Err(error).with_context(|| format!("writing {}", path.display()));
    }
    Ok(())
}
