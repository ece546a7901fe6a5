//! A backup read from standard input (data file `-`): copied once, with a size cap,
//! into a private temp directory (`TMPDIR/.stdin.jsbackup-tmp-PID`, mode 0700) so
//! the scan can seek, and removed when the [`Spool`] is dropped. Spools left by a
//! killed process are removed by the next one.
//!
//! Never prints; the caller decides the cap and what a signal does.

use super::temp_dirs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// The data file argument that means standard input.
pub const STDIN_ARG: &str = "-";
/// Environment variable: the largest standard input read, in MB (10^6 bytes).
pub const MAX_MB_ENV: &str = "JSBACKUP_STDIN_MAX_MB";
/// The cap when [`MAX_MB_ENV`] is not set: a large stream backup, while a stray
/// endless pipe cannot fill the temp file system.
pub const DEFAULT_MAX_MB: u64 = 4096;

/// The name the spool directory is built from (`.stdin.jsbackup-tmp-PID`).
const SPOOL_NAME: &str = "stdin";
/// The data file's name inside the spool directory.
const SPOOL_FILE: &str = "stream.tar.s2";

#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("standard input holds more than {max_mb} MB, the cap for reading a backup from `-` (set {MAX_MB_ENV} to raise it, or save the backup to a file and open that)")]
    TooLarge { max_mb: u64 },
    #[error("{MAX_MB_ENV}={value:?} is not a whole number of MB")]
    BadCap { value: String },
    #[error("reading standard input: {0}")]
    Read(io::Error),
    #[error("{path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error("cancelled while reading standard input")]
    Cancelled,
}

/// The cap from [`MAX_MB_ENV`], else [`DEFAULT_MAX_MB`].
pub fn max_mb_from_env() -> Result<u64, SpoolError> {
    match std::env::var(MAX_MB_ENV) {
        Ok(value) => value
            .trim()
            .parse()
            .map_err(|_| SpoolError::BadCap { value }),
        Err(_) => Ok(DEFAULT_MAX_MB),
    }
}

/// Standard input saved to a private file; the directory goes when this is dropped.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    file: PathBuf,
}

impl Spool {
    /// The spooled data file.
    pub fn path(&self) -> &Path {
        &self.file
    }

    /// The private directory holding it (removed on drop).
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        // Nothing to report to at this point; a leftover is removed by the next run.
        let _ = temp_dirs::remove_any(&self.dir);
    }
}

/// Copies `input` into a new spool under `parent` (the temp directory), at most
/// `max_mb` MB; `cancel` stops the copy. Stale spools of gone processes are removed first.
pub fn spool(
    input: &mut dyn Read,
    parent: &Path,
    max_mb: u64,
    cancel: &AtomicBool,
) -> Result<Spool, SpoolError> {
    let stale_prefix = format!(".{SPOOL_NAME}{}", temp_dirs::TEMP_MARKER);
    // Notes about removed leftovers are not the user's business here.
    let _ =
        temp_dirs::remove_stale_temp_dirs_matching(parent, |name| name.starts_with(&stale_prefix));
    let dir = temp_dirs::temp_path(parent, SPOOL_NAME);
    let write_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| SpoolError::Write { path, source }
    };
    // A leftover of an earlier process with this PID is ours to replace.
    temp_dirs::remove_any(&dir).map_err(write_error(&dir))?;
    create_private_dir(&dir).map_err(write_error(&dir))?;
    let spool = Spool {
        file: dir.join(SPOOL_FILE),
        dir,
    };
    let mut out = std::fs::File::create(&spool.file).map_err(write_error(&spool.file))?;
    let max_bytes = max_mb.saturating_mul(1_000_000);
    let mut buffer = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        if cancel.load(Ordering::Relaxed) {
            return Err(SpoolError::Cancelled);
        }
        let got = match input.read(&mut buffer) {
            Ok(0) => break,
            Ok(got) => got,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(SpoolError::Read(error)),
        };
        total += got as u64;
        if total > max_bytes {
            return Err(SpoolError::TooLarge { max_mb });
        }
        out.write_all(buffer.get(..got).unwrap_or_default())
            .map_err(write_error(&spool.file))?;
    }
    out.flush().map_err(write_error(&spool.file))?;
    Ok(spool)
}

fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("jsbackup-spool-{name}-{}", std::process::id()));
        // A leftover from an earlier run may or may not exist.
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("mkdir");
        dir
    }

    #[test]
    fn spooled_bytes_are_kept_until_drop() {
        let parent = scratch("keep");
        let never = AtomicBool::new(false);
        let spool = spool(&mut &b"hello"[..], &parent, 1, &never).expect("spool");
        assert_eq!(std::fs::read(spool.path()).expect("read"), b"hello");
        let dir = spool.dir().to_path_buf();
        drop(spool);
        assert!(!dir.exists());
        std::fs::remove_dir_all(&parent).expect("cleanup");
    }

    #[test]
    fn over_the_cap_is_refused_and_leaves_nothing() {
        let parent = scratch("cap");
        let never = AtomicBool::new(false);
        let big = vec![7u8; 1_000_001];
        let error = spool(&mut &big[..], &parent, 1, &never).expect_err("over the cap");
        assert!(error.to_string().contains("more than 1 MB"), "{error}");
        assert_eq!(std::fs::read_dir(&parent).expect("list").count(), 0);
        std::fs::remove_dir_all(&parent).expect("cleanup");
    }
}
