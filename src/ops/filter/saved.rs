//! Saved filter expressions per stream, kept between runs in one small JSON file
//! (`$XDG_CONFIG_HOME/jsbackup/saved-filters.json`, else `~/.config/…`).
//! Written like every writer here: temp file, fsync, rename.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Most expressions kept per stream (the file stays small whatever is clicked).
pub const MAX_PER_STREAM: usize = 50;

/// Stream name → expressions, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedFilters {
    pub streams: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, thiserror::Error)]
pub enum SavedError {
    #[error("{action} {path}: {message}")]
    Io {
        action: &'static str,
        path: PathBuf,
        message: String,
    },
    #[error("{path} is not a saved-filters file: {message}")]
    Format { path: PathBuf, message: String },
}

fn io(action: &'static str, path: &Path, error: impl std::fmt::Display) -> SavedError {
    SavedError::Io {
        action,
        path: path.to_path_buf(),
        message: error.to_string(),
    }
}

/// Where the file lives, from the environment (`None` without a home directory).
pub fn default_path() -> Option<PathBuf> {
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|path| path.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config")))?;
    Some(config.join("jsbackup").join("saved-filters.json"))
}

/// Larger files are refused rather than read (the file is ours and small).
const MAX_FILE_BYTES: u64 = 4 << 20;

/// Reads the file; a missing file is an empty set.
pub fn load(path: &Path) -> Result<SavedFilters, SavedError> {
    match std::fs::metadata(path) {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Ok(SavedFilters::default())
        }
        Err(error) => return Err(io("reading", path, error)),
        Ok(meta) if meta.len() > MAX_FILE_BYTES => {
            return Err(SavedError::Format {
                path: path.to_path_buf(),
                message: format!("{} bytes (more than {MAX_FILE_BYTES})", meta.len()),
            })
        }
        Ok(_) => {}
    }
    let bytes = std::fs::read(path).map_err(|error| io("reading", path, error))?;
    serde_json::from_slice(&bytes).map_err(|error| SavedError::Format {
        path: path.to_path_buf(),
        message: error.to_string(),
    })
}

/// Writes the file (its folder created if missing): temp file, fsync, rename.
pub fn store(path: &Path, saved: &SavedFilters) -> Result<(), SavedError> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    std::fs::create_dir_all(dir).map_err(|error| io("creating", dir, error))?;
    let text = serde_json::to_vec_pretty(saved).map_err(|error| io("encoding", path, error))?;
    let temp = path.with_extension(format!("json.tmp-{}", std::process::id()));
    let written = std::fs::File::create(&temp)
        .and_then(|mut file| {
            file.write_all(&text)?;
            file.sync_all()
        })
        .map_err(|error| io("writing", &temp, error))
        .and_then(|()| {
            std::fs::rename(&temp, path).map_err(|error| io("renaming to", path, error))
        });
    if written.is_err() {
        // The returned error reports the failure; removing the temp file is best
        // effort (a leftover `.tmp-PID` beside the target is harmless).
        let _ = std::fs::remove_file(&temp);
    }
    written
}

/// What a change does to one stream's list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Save(String),
    Forget(String),
}

/// Read-modify-write of one stream's list (other streams' entries stay as they
/// are on disk); returns the stream's list after the change.
pub fn update(path: &Path, stream: &str, change: &Change) -> Result<Vec<String>, SavedError> {
    let mut saved = load(path)?;
    let list = saved.streams.entry(stream.to_string()).or_default();
    match change {
        Change::Save(expression) => {
            let expression = expression.trim().to_string();
            list.retain(|kept| *kept != expression);
            if !expression.is_empty() {
                list.insert(0, expression);
            }
            list.truncate(MAX_PER_STREAM);
        }
        Change::Forget(expression) => list.retain(|kept| kept != expression.trim()),
    }
    let after = list.clone();
    if after.is_empty() {
        saved.streams.remove(stream);
    }
    store(path, &saved)?;
    Ok(after)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_per_stream_newest_first_and_forgets() {
        let dir = std::env::temp_dir().join(format!(
            "jsbackup-saved-filters-{}-{}",
            std::process::id(),
            crate::util::time::now_ns()
        ));
        let path = dir.join("nested").join("saved-filters.json");
        assert_eq!(load(&path).unwrap(), SavedFilters::default());
        update(&path, "ORDERS", &Change::Save("damaged".into())).unwrap();
        update(&path, "KV_x", &Change::Save("kv delete".into())).unwrap();
        let list = update(&path, "ORDERS", &Change::Save(" size > 1k ".into())).unwrap();
        assert_eq!(list, vec!["size > 1k".to_string(), "damaged".to_string()]);
        // Saving again moves it to the front without a duplicate.
        let list = update(&path, "ORDERS", &Change::Save("damaged".into())).unwrap();
        assert_eq!(list, vec!["damaged".to_string(), "size > 1k".to_string()]);
        let list = update(&path, "ORDERS", &Change::Forget("damaged".into())).unwrap();
        assert_eq!(list, vec!["size > 1k".to_string()]);
        let reread = load(&path).unwrap();
        assert_eq!(reread.streams["KV_x"], vec!["kv delete".to_string()]);
        assert_eq!(reread.streams["ORDERS"], vec!["size > 1k".to_string()]);
        // A file that is not ours is an error, not an empty set that would overwrite it.
        std::fs::write(&path, b"[1, 2").unwrap();
        assert!(matches!(load(&path), Err(SavedError::Format { .. })));
        assert!(update(&path, "ORDERS", &Change::Save("x".into())).is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"[1, 2");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
