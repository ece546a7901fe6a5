//! Data file `-`: standard input, spooled once (with the `JSBACKUP_STDIN_MAX_MB` cap)
//! before the command runs, and removed afterwards or on SIGINT/SIGTERM.

use anyhow::Result;
use jsbackup::ops::stdin_spool::{self, Spool};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Spools standard input. `cancel` is the flag of a command that cancels cleanly on
/// a signal (export, restore: the spool goes when the command returns); without
/// one, a signal removes the spool and ends the process (exit 130).
pub fn spool_stdin(cancel: Option<&Arc<AtomicBool>>) -> Result<Spool> {
    let parent = std::env::temp_dir();
    let max_mb = stdin_spool::max_mb_from_env()?;
    let flag = match cancel {
        Some(flag) => Arc::clone(flag),
        None => remove_on_signal(jsbackup::ops::temp_dirs::temp_path(&parent, "stdin")),
    };
    let spool = stdin_spool::spool(&mut std::io::stdin().lock(), &parent, max_mb, &flag)?;
    Ok(spool)
}

/// A flag that SIGINT/SIGTERM set, watched by a thread that then removes `dir` and
/// ends the process: reading commands have no cancel path of their own.
fn remove_on_signal(dir: std::path::PathBuf) -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        if let Err(error) = signal_hook::flag::register(signal, Arc::clone(&flag)) {
            eprintln!("jsbackup: cannot handle signal {signal} ({error}); an interrupt leaves {} for the next run to remove", dir.display());
        }
    }
    let watched = Arc::clone(&flag);
    std::thread::spawn(move || loop {
        if watched.load(Ordering::Relaxed) {
            // Exiting either way; a leftover is removed by the next run.
            let _ = jsbackup::ops::temp_dirs::remove_any(&dir);
            std::process::exit(130);
        }
        std::thread::sleep(Duration::from_millis(50));
    });
    flag
}
