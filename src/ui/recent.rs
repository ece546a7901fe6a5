//! Recently opened paths, persisted as a small JSON file in the user's config
//! directory. Loading happens before the event loop, saving on a short-lived
//! thread; a file that cannot be read or decoded is ignored (never a crash).

use std::path::PathBuf;

const MAX_RECENT: usize = 10;

fn config_file() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|value| !value.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config")))?;
    Some(base.join("jsbackup").join("recent.json"))
}

/// Reads the persisted list (empty when missing or unreadable).
pub fn load() -> Vec<PathBuf> {
    let Some(path) = config_file() else {
        return Vec::new();
    };
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Vec::new();
    };
    match serde_json::from_str::<Vec<PathBuf>>(&text) {
        Ok(list) => list.into_iter().take(MAX_RECENT).collect(),
        Err(error) => {
            eprintln!("jsbackup: ignoring {}: {error}", path.display());
            Vec::new()
        }
    }
}

/// Moves `path` to the front of `list`.
pub fn remember(list: &mut Vec<PathBuf>, path: PathBuf) {
    list.retain(|existing| existing != &path);
    list.insert(0, path);
    list.truncate(MAX_RECENT);
}

/// Saves the list on a background thread (temp file + rename).
pub fn save_in_background(list: Vec<PathBuf>) {
    // The recent list is a convenience: not saving it loses no backup data, and there is no window to tell at exit.
    let _ = std::thread::Builder::new()
        .name("save-recent".into())
        .spawn(move || {
            let Some(path) = config_file() else {
                return;
            };
            let Ok(text) = serde_json::to_string_pretty(&list) else {
                return;
            };
            if let Some(parent) = path.parent() {
                // A missing folder makes the write below fail, which is handled there.
                let _ = std::fs::create_dir_all(parent);
            }
            let temporary = path.with_extension("json.tmp");
            if std::fs::write(&temporary, text).is_ok() {
                // Best effort (see above): the previous list stays in place.
                let _ = std::fs::rename(&temporary, &path);
            }
        });
}
