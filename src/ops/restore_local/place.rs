//! Putting a finished stream directory in place: the rename of the temp dir to
//! its target (moving a replaced stream aside and back on failure), directory
//! fsyncs, and removal of the ancestor directories a failed restore created.

use super::{io_error, RestoreError};
use crate::ops::temp_dirs::remove_any;
use std::fs::{self, File};
use std::path::{Path, PathBuf};

/// Fsyncs the directory at `path`.
pub(super) fn sync_dir(path: &Path) -> Result<(), RestoreError> {
    File::open(path)
        .and_then(|dir| dir.sync_all())
        .map_err(io_error("fsync directory", path))
}

/// Removes the directories in `created` (from missing_ancestors), deepest first.
pub(super) fn remove_created_ancestors(created: &[PathBuf]) {
    for dir in created.iter().rev() {
        // Best effort: a directory someone else filled meanwhile stays (remove_dir
        // only removes empty ones), and the restore's own error is what to report.
        let _ = fs::remove_dir(dir);
    }
}

pub(super) type Rename<'a> = dyn Fn(&Path, &Path) -> std::io::Result<()> + 'a;

/// Renames `temp` to `target` with `rename` (tests force its failures). A
/// directory, file or symlink already at `target` (when replacing) is moved
/// aside first, put back if the new one cannot be moved in, and removed once the
/// new directory is in place; a failure to remove it is a note (the restore
/// itself succeeded), never an error.
pub(super) fn move_into_place(
    rename: &Rename<'_>,
    temp: &Path,
    target: &Path,
    streams_dir: &Path,
    exists: bool,
    stream_name: &str,
    pid: u32,
) -> Result<Option<String>, RestoreError> {
    let mut note = None;
    if exists {
        let old = streams_dir.join(format!(".{stream_name}.jsbackup-old-{pid}"));
        remove_any(&old).map_err(io_error("remove the leftover", &old))?;
        rename(target, &old).map_err(io_error("move aside the existing", target))?;
        if let Err(source) = rename(temp, target) {
            // Put the old stream back; if that fails too, say where it is kept.
            return Err(match rename(&old, target) {
                Ok(()) => RestoreError::Io {
                    action: "rename into place",
                    path: target.to_path_buf(),
                    source,
                },
                Err(restore_error) => RestoreError::RollbackFailed {
                    target: target.to_path_buf(),
                    kept: old,
                    rename_error: source,
                    restore_error,
                },
            });
        }
        if let Err(error) = remove_any(&old) {
            note = Some(format!(
                "the new stream is in place, but the replaced copy at {} could not be removed: {error}",
                old.display()
            ));
        }
    } else {
        rename(temp, target).map_err(io_error("rename into place", target))?;
    }
    sync_dir(streams_dir)?;
    Ok(note)
}
