//! jsbackup command line: with no subcommand (or just a path) it opens the GUI;
//! subcommands run the same operations headless.
//! Arguments and output only.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

mod cli;

#[derive(Parser)]
#[command(
    name = "jsbackup",
    version,
    about = "Open, browse, verify, export and restore NATS JetStream stream backups (v1 tar and v2 NATSARC1)",
    args_conflicts_with_subcommands = true
)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// A backup directory or data file to open in the GUI.
    path: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Summary of a backup: stream, config, state, subjects, consumers, TTL, findings.
    Info(cli::InfoArgs),
    /// List live messages in sequence order.
    Messages(cli::MessagesArgs),
    /// Check everything the format allows and list what is damaged, and where.
    Verify(cli::VerifyArgs),
    /// Write a new backup: filtered, consumer subset, converted (v1 ↔ v2) or salvaged.
    Export(cli::export::ExportArgs),
    /// Write each selected consumer's config and state as JSON files.
    ExportConsumers(cli::export::ExportConsumersArgs),
    /// Restore into a local JetStream store directory or a running server.
    Restore(cli::restore::RestoreArgs),
    /// Render a pane of the app for a backup to a PNG file (under X11/Xvfb).
    Screenshot(cli::screenshot::ScreenshotArgs),
    /// Measure indexing speed and memory on an archive.
    Bench(cli::bench::BenchArgs),
    /// Open the desktop app.
    Gui { path: Option<PathBuf> },
}

fn main() -> ExitCode {
    // The local UTC offset can only be read safely while the process has one thread.
    jsbackup::ui::widgets::init_local_offset();
    let mut args = Args::parse();
    let graceful = matches!(args.command, Some(Command::Export(_) | Command::Restore(_)));
    let cancel = graceful.then(cancel_on_signals);
    // Data file `-`: standard input, spooled to a private file (removed when
    // `_stdin` drops) that the command reads like any data file.
    let _stdin = match data_path(&mut args.command) {
        Some(path) if path.as_os_str() == jsbackup::ops::stdin_spool::STDIN_ARG => {
            match cli::stdin::spool_stdin(cancel.as_ref()) {
                Ok(spool) => {
                    *path = spool.path().to_path_buf();
                    Some(spool)
                }
                Err(error) => {
                    eprintln!("jsbackup: {error:#}");
                    return ExitCode::from(2);
                }
            }
        }
        _ => None,
    };
    let cancel = cancel.unwrap_or_default();
    let result = match args.command {
        Some(Command::Info(info)) => cli::info(&info),
        Some(Command::Messages(messages)) => cli::messages(&messages),
        Some(Command::Verify(verify)) => cli::verify(&verify),
        Some(Command::Export(export)) => cli::export::export(&export, &cancel),
        Some(Command::ExportConsumers(export)) => cli::export::export_consumers(&export),
        Some(Command::Restore(restore)) => cli::restore::restore(&restore, &cancel),
        Some(Command::Screenshot(screenshot)) => cli::screenshot::screenshot(&screenshot),
        Some(Command::Bench(bench)) => cli::bench::bench(&bench),
        Some(Command::Gui { path }) => cli::gui(path),
        None => cli::gui(args.path),
    };
    match cli::quiet_on_broken_pipe(result) {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("jsbackup: {error:#}");
            ExitCode::from(2)
        }
    }
}

/// The backup path of a command that reads one (where `-` means standard input).
fn data_path(command: &mut Option<Command>) -> Option<&mut PathBuf> {
    match command.as_mut()? {
        Command::Info(args) => Some(&mut args.path),
        Command::Messages(args) => Some(&mut args.path),
        Command::Verify(args) => Some(&mut args.path),
        Command::Export(args) => Some(&mut args.path),
        Command::ExportConsumers(args) => Some(&mut args.path),
        Command::Restore(args) => Some(&mut args.path),
        _ => None,
    }
}

/// A cancel flag that SIGINT and SIGTERM set, so a long write stops the way
/// the GUI's Cancel button stops it (temp dirs removed, a half-restored stream
/// deleted). A second signal ends the process at once (exit 130).
fn cancel_on_signals() -> Arc<AtomicBool> {
    let cancel = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // The shutdown hook goes first: it fires only when the flag is already set.
        let installed =
            signal_hook::flag::register_conditional_shutdown(signal, 130, cancel.clone())
                .and_then(|_| signal_hook::flag::register(signal, cancel.clone()));
        if let Err(error) = installed {
            eprintln!("jsbackup: cannot handle signal {signal} ({error}); an interrupt ends the process without cleanup");
        }
    }
    cancel
}
