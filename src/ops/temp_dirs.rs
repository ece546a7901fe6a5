//! The hidden siblings a writer builds in (`.NAME.jsbackup-tmp-PID`): finding
//! those a killed process left behind, and removing whatever stands in a
//! target's place (directory, regular file or symlink alike), and the missing
//! parent directories a writer creates (to remove again on failure).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// The marker between a name and the PID of the process that writes it.
pub const TEMP_MARKER: &str = ".jsbackup-tmp-";

/// `DIR/.NAME.jsbackup-tmp-PID` for this process.
pub fn temp_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!(".{name}{TEMP_MARKER}{}", std::process::id()))
}

/// The PID in a `.NAME.jsbackup-tmp-PID` file name.
fn temp_owner(file_name: &str) -> Option<u32> {
    let rest = file_name.strip_prefix('.')?;
    let (_, pid) = rest.rsplit_once(TEMP_MARKER)?;
    pid.parse().ok()
}

/// Is the process `pid` still running? Unknown counts as running (keep its files).
fn process_alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    #[cfg(target_os = "linux")]
    {
        Path::new("/proc").join(pid.to_string()).exists()
    }
    #[cfg(not(target_os = "linux"))]
    {
        true
    }
}

/// Removes the temp dirs in `dir` whose process is gone; returns a note per dir
/// (removed, or why it could not be).
pub fn remove_stale_temp_dirs(dir: &Path) -> Vec<String> {
    remove_stale_temp_dirs_matching(dir, |_| true)
}

/// [`remove_stale_temp_dirs`] for the names `wanted` accepts only (a shared
/// directory such as the temp directory holds other writers' files).
pub fn remove_stale_temp_dirs_matching(dir: &Path, wanted: impl Fn(&str) -> bool) -> Vec<String> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut notes = Vec::new();
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = temp_owner(&name).filter(|_| wanted(&name)) else {
            continue;
        };
        if process_alive(pid) {
            continue;
        }
        let path = entry.path();
        notes.push(match remove_any(&path) {
            Ok(()) => format!(
                "removed {} left by an interrupted run (process {pid} is gone)",
                path.display()
            ),
            Err(error) => format!(
                "could not remove {} left by an interrupted run (process {pid}): {error}",
                path.display()
            ),
        });
    }
    notes.sort();
    notes
}

/// Removes `path` whatever it is: a directory tree, a file, or a symlink (not its target).
pub fn remove_any(path: &Path) -> io::Result<()> {
    match path.symlink_metadata() {
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(error),
    }
}

/// Ancestors of `dir` that do not exist yet, deepest last.
pub fn missing_ancestors(dir: &Path) -> Vec<PathBuf> {
    let mut missing = Vec::new();
    let mut current = Some(dir);
    while let Some(path) = current {
        if path.as_os_str().is_empty() || path.symlink_metadata().is_ok() {
            break;
        }
        missing.push(path.to_path_buf());
        current = path.parent();
    }
    missing.reverse();
    missing
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_pid_is_read_from_the_name() {
        assert_eq!(temp_owner(".ORDERS.jsbackup-tmp-123"), Some(123));
        assert_eq!(temp_owner(".A.B.jsbackup-tmp-7"), Some(7));
        assert_eq!(temp_owner("ORDERS"), None);
        assert_eq!(temp_owner(".ORDERS.jsbackup-old-123"), None);
        assert_eq!(temp_owner(".X.jsbackup-tmp-abc"), None);
    }

    #[test]
    fn stale_dirs_of_gone_processes_are_removed() {
        let dir = std::env::temp_dir().join(format!("jsbackup-stale-{}", std::process::id()));
        // A leftover from an earlier run may or may not exist.
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("mkdir");
        // PID 0x7fff_fff0 is above any Linux pid_max, so no such process exists.
        let stale = dir.join(".S.jsbackup-tmp-2147483632");
        fs::create_dir_all(stale.join("msgs")).expect("mkdir stale");
        let own = temp_path(&dir, "S");
        fs::create_dir(&own).expect("mkdir own");
        let notes = remove_stale_temp_dirs(&dir);
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(notes[0].contains("2147483632 is gone"), "{notes:?}");
        assert!(!stale.exists());
        assert!(own.exists());
        fs::remove_dir_all(&dir).expect("cleanup");
    }
}
