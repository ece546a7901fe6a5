//! `screenshot` (owned by the GUI work).

use anyhow::{anyhow, Result};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct ScreenshotArgs {
    pub path: PathBuf,
}

pub fn screenshot(args: &ScreenshotArgs) -> Result<u8> {
    let _ = args;
    Err(anyhow!("screenshot is not implemented yet"))
}
