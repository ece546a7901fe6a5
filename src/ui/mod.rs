//! The egui desktop app (owned by the GUI work).

use std::path::PathBuf;

/// Runs the desktop app, opening `path` if given.
pub fn run_app(path: Option<PathBuf>) -> anyhow::Result<()> {
    let _ = path;
    anyhow::bail!("the GUI is not built yet")
}
