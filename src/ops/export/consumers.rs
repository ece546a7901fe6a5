//! `export-consumers`: each consumer's config and state as JSON files that
//! `nats consumer add --config` and a reader of the state take.

use super::{io_error, select_consumers, write_file_synced, ExportError};
use crate::model::Backup;
use crate::ops::selection::ConsumerSelection;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// What `export_consumers` wrote.
#[derive(Debug, Clone, Serialize)]
pub struct ConsumerExport {
    pub name: String,
    pub config_file: PathBuf,
    pub state_file: PathBuf,
}

/// A file name for a consumer (names may hold characters a file system refuses).
fn consumer_file_stem(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c == '/' || c == '\\' || c == '\0' {
                '_'
            } else {
                c
            }
        })
        .collect()
}

/// Writes `NAME.json` (ConsumerConfig for `nats consumer add STREAM --config FILE`)
/// and `NAME.state.json` (delivered, ack_floor, pending, redelivered) per consumer
/// into `out_dir` (created if missing). Refuses to overwrite any existing file.
pub fn export_consumers(
    backup: &Backup,
    selection: &ConsumerSelection,
    out_dir: &Path,
) -> Result<Vec<ConsumerExport>, ExportError> {
    let consumers = select_consumers(backup, selection)?;
    let mut planned = Vec::new();
    for consumer in &consumers {
        let stem = consumer_file_stem(&consumer.name);
        let config_file = out_dir.join(format!("{stem}.json"));
        let state_file = out_dir.join(format!("{stem}.state.json"));
        for path in [&config_file, &state_file] {
            if path.exists() {
                return Err(ExportError::Exists(path.clone()));
            }
        }
        planned.push((consumer, config_file, state_file));
    }
    std::fs::create_dir_all(out_dir).map_err(|error| io_error("creating", out_dir, error))?;
    let mut written = Vec::new();
    for (consumer, config_file, state_file) in planned {
        // The archive's config is the server's ConsumerConfig as stored (v1 meta.inf
        // with `Created`/`Name` already removed by the index): every key is one the
        // consumer create API and `nats consumer add --config` accept.
        let config = consumer.config.clone();
        let config_text = serde_json::to_vec_pretty(&config)
            .map_err(|error| io_error("encoding", &config_file, error))?;
        let state_text = serde_json::to_vec_pretty(&consumer.state.to_json())
            .map_err(|error| io_error("encoding", &state_file, error))?;
        write_new_file(&config_file, &config_text)?;
        write_new_file(&state_file, &state_text)?;
        written.push(ConsumerExport {
            name: consumer.name.clone(),
            config_file,
            state_file,
        });
    }
    Ok(written)
}

/// Writes a file that must not exist yet (temp file next to it, fsync, then a
/// no-replace link into place).
fn write_new_file(path: &Path, bytes: &[u8]) -> Result<(), ExportError> {
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = path.with_file_name(format!(".{name}.jsbackup-tmp-{}", std::process::id()));
    write_file_synced(&temp, bytes)?;
    // hard_link fails if the target exists, so nothing is ever replaced.
    let linked = std::fs::hard_link(&temp, path);
    // The link decides the outcome; the temp name is a second link to the same file, harmless if it stays.
    let _ = std::fs::remove_file(&temp);
    match linked {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
            Err(ExportError::Exists(path.to_path_buf()))
        }
        Err(error) => Err(io_error("writing", path, error)),
    }
}
