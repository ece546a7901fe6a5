//! Sorting the rows of the Messages table by a column. Runs on a worker (a
//! million rows take a noticeable moment); the UI keeps showing the old order
//! until the new one arrives.

use crate::format::headers::Ttl;
use crate::model::Backup;
use std::cmp::Ordering as CmpOrdering;
use std::sync::atomic::{AtomicBool, Ordering};

/// A sortable column of the Messages table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SortKey {
    Seq,
    Time,
    Subject,
    /// Header plus payload bytes, as the "size" column shows.
    Size,
    Ttl,
}

impl SortKey {
    pub fn label(self) -> &'static str {
        match self {
            SortKey::Seq => "seq",
            SortKey::Time => "time",
            SortKey::Subject => "subject",
            SortKey::Size => "size",
            SortKey::Ttl => "TTL",
        }
    }
}

/// A column and a direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SortOrder {
    pub key: SortKey,
    pub descending: bool,
}

impl SortOrder {
    /// The order rows already have (no sort needed).
    pub fn is_natural(self) -> bool {
        self.key == SortKey::Seq && !self.descending
    }
}

/// TTL as a sort rank: none < never < seconds (ascending) < invalid.
fn ttl_rank(ttl: Ttl) -> (u8, i64) {
    match ttl {
        Ttl::None => (0, 0),
        Ttl::Never => (1, 0),
        Ttl::Seconds(seconds) => (2, seconds),
        Ttl::Invalid => (3, 0),
    }
}

/// Sorts `rows` (indices into `backup.messages`) by `order`; ties keep sequence
/// order. `Err("cancelled")` when `cancel` is set before the sort starts or
/// after a key pass (a sort itself is not interruptible, but is O(n log n)).
pub fn sort_rows(
    backup: &Backup,
    mut rows: Vec<u32>,
    order: SortOrder,
    cancel: &AtomicBool,
) -> Result<Vec<u32>, String> {
    let messages = &backup.messages;
    let check = || {
        if cancel.load(Ordering::Relaxed) {
            Err("cancelled".to_string())
        } else {
            Ok(())
        }
    };
    check()?;
    // Keys are computed once per row, then (key, row) pairs sorted: ties fall
    // back to the row index, which is sequence order.
    fn by_key<K: Ord + Copy>(rows: &[u32], key: impl Fn(usize) -> K) -> Vec<u32> {
        let mut keyed: Vec<(K, u32)> = rows.iter().map(|&row| (key(row as usize), row)).collect();
        keyed.sort_unstable();
        keyed.into_iter().map(|(_, row)| row).collect()
    }
    rows = match order.key {
        SortKey::Seq => {
            rows.sort_unstable();
            rows
        }
        SortKey::Time => by_key(&rows, |row| messages.ts_ns.get(row).copied().unwrap_or(0)),
        SortKey::Size => by_key(&rows, |row| {
            u64::from(messages.hdr_len(row))
                + u64::from(messages.data_len.get(row).copied().unwrap_or(0))
        }),
        SortKey::Subject => {
            // Rank each interned subject once, then sort rows by rank.
            let mut ids: Vec<u32> = (0..backup.subjects.len() as u32).collect();
            ids.sort_by(|a, b| backup.subjects.name(*a).cmp(backup.subjects.name(*b)));
            check()?;
            let mut rank = vec![0u32; ids.len()];
            for (position, id) in ids.iter().enumerate() {
                if let Some(slot) = rank.get_mut(*id as usize) {
                    *slot = position as u32;
                }
            }
            by_key(&rows, |row| {
                messages
                    .subject_id
                    .get(row)
                    .and_then(|id| rank.get(*id as usize))
                    .copied()
                    .unwrap_or(u32::MAX)
            })
        }
        SortKey::Ttl => by_key(&rows, |row| {
            ttl_rank(messages.ttl_of(messages.seq.get(row).copied().unwrap_or(0)))
        }),
    };
    check()?;
    if order.descending {
        // Ties come out in descending sequence (newest first among equals).
        rows.reverse();
    }
    Ok(rows)
}

/// Compares two rows by `order` (used by tests and by small in-place sorts).
pub fn compare_rows(backup: &Backup, a: u32, b: u32, key: SortKey) -> CmpOrdering {
    let messages = &backup.messages;
    let (a, b) = (a as usize, b as usize);
    match key {
        SortKey::Seq => messages.seq.get(a).cmp(&messages.seq.get(b)),
        SortKey::Time => messages.ts_ns.get(a).cmp(&messages.ts_ns.get(b)),
        SortKey::Size => {
            let size = |row: usize| {
                u64::from(messages.hdr_len(row))
                    + u64::from(messages.data_len.get(row).copied().unwrap_or(0))
            };
            size(a).cmp(&size(b))
        }
        SortKey::Subject => {
            let name = |row: usize| {
                messages
                    .subject_id
                    .get(row)
                    .map(|id| backup.subjects.name(*id))
                    .unwrap_or("")
            };
            name(a).cmp(name(b))
        }
        SortKey::Ttl => {
            let rank =
                |row: usize| ttl_rank(messages.ttl_of(messages.seq.get(row).copied().unwrap_or(0)));
            rank(a).cmp(&rank(b))
        }
    }
}
