//! Finding the files of a backup from what the user opened. Data files and
//! `backup.json` must be regular files (or symlinks to them): a FIFO, device or
//! socket would block a read forever or never end, so it is refused at once.

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
    #[error("{path} is {kind}, not a regular file; a backup is read from regular files only")]
    NotRegular { path: PathBuf, kind: &'static str },
}

/// What a non-regular file is, for the error.
fn file_kind(meta: &std::fs::Metadata) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let kind = meta.file_type();
        if kind.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if kind.is_socket() {
            return "a socket";
        }
        if kind.is_char_device() || kind.is_block_device() {
            return "a device";
        }
    }
    if meta.is_dir() {
        "a directory"
    } else {
        "not a regular file"
    }
}

/// `Ok(true)` for a regular file, `Ok(false)` when nothing is there, else refused.
fn regular_file(path: &Path) -> Result<bool, LocateError> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => Ok(true),
        Ok(meta) => Err(LocateError::NotRegular {
            path: path.to_path_buf(),
            kind: file_kind(&meta),
        }),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(error) => Err(LocateError::Io {
            path: path.to_path_buf(),
            message: error.to_string(),
        }),
    }
}

/// The first data file present in `directory`; refused when it is not a regular file.
fn data_file_in(directory: &Path) -> Result<PathBuf, LocateError> {
    for name in DATA_FILE_NAMES {
        let candidate = directory.join(name);
        if regular_file(&candidate)? {
            return Ok(candidate);
        }
    }
    Err(LocateError::NoDataFile {
        path: directory.to_path_buf(),
    })
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
        (path.to_path_buf(), data_file_in(path)?)
    } else if path.file_name().is_some_and(|name| name == "backup.json") {
        regular_file(path)?;
        let directory = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        let data_file = data_file_in(&directory)?;
        (directory, data_file)
    } else {
        regular_file(path)?;
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
    let has_backup_json = regular_file(&backup_json)?;
    let data_file_bytes = std::fs::metadata(&data_file).map(|m| m.len()).unwrap_or(0);
    Ok(BackupSource {
        opened: path.to_path_buf(),
        data_file,
        backup_json: has_backup_json.then_some(backup_json),
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
