//! `export` and `export-consumers` (owned by the export work).

use anyhow::{anyhow, Result};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct ExportArgs {
    pub path: PathBuf,
    pub out: PathBuf,
}

#[derive(clap::Args)]
pub struct ExportConsumersArgs {
    pub path: PathBuf,
    pub out_dir: PathBuf,
}

pub fn export(args: &ExportArgs) -> Result<u8> {
    let _ = args;
    Err(anyhow!("export is not implemented yet"))
}

pub fn export_consumers(args: &ExportConsumersArgs) -> Result<u8> {
    let _ = args;
    Err(anyhow!("export-consumers is not implemented yet"))
}
