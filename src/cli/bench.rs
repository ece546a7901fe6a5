//! `bench`: indexing speed and memory.

use anyhow::{anyhow, Result};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct BenchArgs {
    pub path: PathBuf,
}

pub fn bench(args: &BenchArgs) -> Result<u8> {
    let _ = args;
    Err(anyhow!("bench is not implemented yet"))
}
