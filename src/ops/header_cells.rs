//! Header facts for table columns: how many header lines a message has, the
//! values of chosen header keys, and which keys occur in a stream (sampled).
//! All read message bytes, so they run on worker threads.

use crate::format::headers::{count_headers, server_header_value};
use crate::model::Backup;
use crate::ops::read::MessageReader;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

/// What the table shows for one row's headers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderCells {
    /// `key: value` lines of the block.
    pub count: u32,
    /// Values of the chosen keys, in their order (the server's lookup: exact key, first line).
    pub values: Vec<Option<String>>,
}

/// Cells of `row` for `keys`; rows without headers need no read.
pub fn header_cells(
    reader: &mut MessageReader,
    backup: &Backup,
    row: usize,
    keys: &[String],
) -> Result<HeaderCells, String> {
    if backup.messages.hdr_len(row) == 0 {
        return Ok(HeaderCells {
            count: 0,
            values: vec![None; keys.len()],
        });
    }
    let bytes = reader
        .read_row(backup, row)
        .map_err(|error| error.to_string())?;
    Ok(HeaderCells {
        count: count_headers(&bytes.headers) as u32,
        values: keys
            .iter()
            .map(|key| {
                server_header_value(&bytes.headers, key)
                    .map(|value| String::from_utf8_lossy(value).into_owned())
            })
            .collect(),
    })
}

/// Header keys seen in up to `max_messages` messages with headers, spread
/// over the stream; most frequent first (ties by name).
pub fn sample_keys(
    backup: &Backup,
    max_messages: usize,
    cancel: &AtomicBool,
) -> Result<Vec<(String, u64)>, String> {
    let with_headers: Vec<usize> = (0..backup.messages.len())
        .filter(|&row| backup.messages.hdr_len(row) > 0)
        .collect();
    if with_headers.is_empty() {
        return Ok(Vec::new());
    }
    let step = with_headers.len().div_ceil(max_messages.max(1));
    let mut reader = MessageReader::open(backup).map_err(|error| error.to_string())?;
    let mut counts: HashMap<String, u64> = HashMap::new();
    for (done, &row) in with_headers.iter().step_by(step.max(1)).enumerate() {
        if done % 256 == 0 && cancel.load(Ordering::Relaxed) {
            return Err("cancelled".into());
        }
        // An unreadable message only leaves its keys out of the offer.
        let Ok(bytes) = reader.read_row(backup, row) else {
            continue;
        };
        let block = crate::format::headers::parse_header_block(&bytes.headers);
        let mut seen_here: Vec<&str> = Vec::new();
        for (name, _) in &block.entries {
            if !seen_here.contains(&name.as_str())
                && (counts.len() < 1000 || counts.contains_key(name))
            {
                seen_here.push(name);
                *counts.entry(name.clone()).or_default() += 1;
            }
        }
    }
    let mut keys: Vec<(String, u64)> = counts.into_iter().collect();
    keys.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Ok(keys)
}
