//! `restore` (owned by the restore work).

use anyhow::{anyhow, Result};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct RestoreArgs {
    pub path: PathBuf,
}

pub fn restore(args: &RestoreArgs) -> Result<u8> {
    let _ = args;
    Err(anyhow!("restore is not implemented yet"))
}
