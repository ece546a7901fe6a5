//! Finding the files of a backup from what the user opened.

use crate::model::BackupSource;
use std::path::{Path, PathBuf};

/// Data file names the nats CLI writes, in the order we look for them.
pub const DATA_FILE_NAMES: [&str; 2] = ["stream.tar.s2", "stream.arc.s2"];

#[derive(Debug, thiserror::Error)]
pub enum LocateError {
    #[error("{path}: no such file or directory")]
    NotFound { path: PathBuf },
    #[error("{path}: directory holds neither stream.tar.s2 nor stream.arc.s2")]
    NoDataFile { path: PathBuf },
    #[error("{path}: {message}")]
    Io { path: PathBuf, message: String },
    #[error("{path}: {reason}")]
    NotABackup {
        path: PathBuf,
        reason: super::sniff::NotABackup,
    },
}

/// Resolves a backup directory, a data file, or a `backup.json` to its files.
pub fn locate(path: &Path) -> Result<BackupSource, LocateError> {
    let metadata = std::fs::metadata(path).map_err(|error| match error.kind() {
        std::io::ErrorKind::NotFound => LocateError::NotFound {
            path: path.to_path_buf(),
        },
        _ => LocateError::Io {
            path: path.to_path_buf(),
            message: error.to_string(),
        },
    })?;
    let (directory, data_file) = if metadata.is_dir() {
        let data_file = DATA_FILE_NAMES
            .iter()
            .map(|name| path.join(name))
            .find(|candidate| candidate.is_file())
            .ok_or_else(|| LocateError::NoDataFile {
                path: path.to_path_buf(),
            })?;
        (path.to_path_buf(), data_file)
    } else if path.file_name().is_some_and(|name| name == "backup.json") {
        let directory = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        let data_file = DATA_FILE_NAMES
            .iter()
            .map(|name| directory.join(name))
            .find(|candidate| candidate.is_file())
            .ok_or_else(|| LocateError::NoDataFile {
                path: directory.clone(),
            })?;
        (directory, data_file)
    } else {
        (
            path.parent().unwrap_or(Path::new(".")).to_path_buf(),
            path.to_path_buf(),
        )
    };
    super::sniff::check_data_file(&data_file).map_err(|reason| LocateError::NotABackup {
        path: data_file.clone(),
        reason,
    })?;
    let backup_json = directory.join("backup.json");
    let data_file_bytes = std::fs::metadata(&data_file).map(|m| m.len()).unwrap_or(0);
    Ok(BackupSource {
        opened: path.to_path_buf(),
        data_file,
        backup_json: backup_json.is_file().then_some(backup_json),
        data_file_bytes,
    })
}

/// Is `path` a directory written by `nats account backup` (sub-directories with backup.json)?
pub fn account_backup_streams(path: &Path) -> Vec<PathBuf> {
    if !path.is_dir() || DATA_FILE_NAMES.iter().any(|name| path.join(name).is_file()) {
        return Vec::new();
    }
    let Ok(entries) = std::fs::read_dir(path) else {
        return Vec::new();
    };
    let mut streams: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|child| {
            child.is_dir()
                && DATA_FILE_NAMES
                    .iter()
                    .any(|name| child.join(name).is_file())
        })
        .collect();
    streams.sort();
    streams
}
