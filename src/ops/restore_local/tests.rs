//! Unit tests of the restore's move into place and its rollback.

use super::*;

/// A fresh directory for one test (removed when dropped).
struct TestDir(PathBuf);

impl TestDir {
    fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "jsbackup-restore-local-{name}-{}",
            std::process::id()
        ));
        // A leftover from an earlier run of the same test is stale.
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).unwrap();
        Self(path)
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        // Cleanup only; a failure leaves a directory in the temp dir.
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Moving the new stream in fails and so does putting the old one back:
/// the error names the kept copy, and the copy is there.
#[test]
fn failed_rollback_names_the_kept_copy() {
    let dir = TestDir::new("rollback-failed");
    let streams = dir.path();
    let target = streams.join("S");
    let temp = streams.join(".S.jsbackup-tmp-1");
    fs::create_dir(&target).unwrap();
    fs::write(target.join("meta.inf"), b"old").unwrap();
    fs::create_dir(&temp).unwrap();
    // Only the first rename (moving the existing stream aside) works.
    let calls = std::cell::Cell::new(0);
    let rename = |from: &Path, to: &Path| {
        calls.set(calls.get() + 1);
        if calls.get() == 1 {
            fs::rename(from, to)
        } else {
            Err(std::io::Error::other("injected failure"))
        }
    };
    let error = move_into_place(&rename, &temp, &target, streams, true, "S", 1)
        .expect_err("both renames fail");
    let kept = streams.join(".S.jsbackup-old-1");
    match &error {
        RestoreError::RollbackFailed { kept: path, .. } => assert_eq!(path, &kept),
        other => panic!("expected RollbackFailed, got {other:?}"),
    }
    let message = error.to_string();
    assert!(message.contains(&kept.display().to_string()), "{message}");
    assert!(message.contains("injected failure"), "{message}");
    assert_eq!(fs::read(kept.join("meta.inf")).unwrap(), b"old");
    assert_eq!(calls.get(), 3);
}

/// When only moving the new stream in fails, the old stream is back in place.
#[test]
fn rollback_puts_the_old_stream_back() {
    let dir = TestDir::new("rollback");
    let streams = dir.path();
    let target = streams.join("S");
    fs::create_dir(&target).unwrap();
    fs::write(target.join("meta.inf"), b"old").unwrap();
    let missing_temp = streams.join(".S.jsbackup-tmp-1");
    let rename = |from: &Path, to: &Path| fs::rename(from, to);
    let error = move_into_place(&rename, &missing_temp, &target, streams, true, "S", 1)
        .expect_err("the temp dir is missing");
    assert!(matches!(
        error,
        RestoreError::Io {
            action: "rename into place",
            ..
        }
    ));
    assert_eq!(fs::read(target.join("meta.inf")).unwrap(), b"old");
}
