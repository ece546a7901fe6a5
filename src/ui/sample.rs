//! The sample backup embedded in the binary (a real v2 fixture), written to a
//! temp directory on a worker thread so "Open the sample backup" works from anywhere.
//! Never writes on the UI thread.

use std::io::Write;
use std::path::{Path, PathBuf};

const BACKUP_JSON: &[u8] = include_bytes!("../../assets/sample/orders-v2/backup.json");
const STREAM_TAR_S2: &[u8] = include_bytes!("../../assets/sample/orders-v2/stream.tar.s2");

/// Writes the sample (if not already there) and returns its directory.
pub fn write_sample() -> Result<PathBuf, String> {
    let directory = std::env::temp_dir()
        .join(format!("jsbackup-sample-{}", env!("CARGO_PKG_VERSION")))
        .join("orders-v2");
    std::fs::create_dir_all(&directory)
        .map_err(|error| format!("{}: {error}", directory.display()))?;
    write_if_different(&directory.join("backup.json"), BACKUP_JSON)?;
    write_if_different(&directory.join("stream.tar.s2"), STREAM_TAR_S2)?;
    Ok(directory)
}

fn write_if_different(path: &Path, content: &[u8]) -> Result<(), String> {
    if std::fs::read(path).is_ok_and(|existing| existing == content) {
        return Ok(());
    }
    let temporary = path.with_extension(format!("tmp-{}", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(content)?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)
    })();
    result.map_err(|error| {
        // The write error is the one reported; a leftover temp file is harmless.
        let _ = std::fs::remove_file(&temporary);
        format!("{}: {error}", path.display())
    })
}
