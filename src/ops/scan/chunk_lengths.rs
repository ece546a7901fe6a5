//! S2 chunk lengths as evidence in v2: the server's S2 writer cuts its input into
//! blocks of one size (1 MiB by default) and only the last one is shorter. A chunk
//! that passes its CRC but decodes to another length had bytes inserted or
//! deleted and its CRC rewritten. Where no entry in it shows that, a message in it
//! swallowed a neighbour's bytes whole (v2 has no per-message checksum): the one
//! before a missing sequence.
//!
//! It reads what the scan gathered: no I/O, no archive bytes.

use crate::format::headers::flags;
use crate::format::s2::{ChunkRecord, ChunkStatus, LOOKBACK};
use crate::model::{ArchiveFormat, Backup, Finding, FindingKind, Severity};
use crate::ops::wording::{changed_chunk_text, group};

/// The block size the writer used: the one length most data chunks before the
/// last share, when it is a size the Go writer can be set to (a power of two
/// from 4 KiB to 4 MiB). `None` when no such size stands out (a writer that
/// flushes per entry, or too few chunks to tell).
fn writer_block_size(chunks: &[ChunkRecord]) -> Option<u32> {
    let before_last = chunks.get(..chunks.len().saturating_sub(1))?;
    let mut lengths: Vec<u32> = before_last
        .iter()
        .filter(|chunk| chunk.status == ChunkStatus::Ok)
        .map(|chunk| chunk.decompressed_len)
        .collect();
    lengths.sort_unstable();
    let (mut best, mut best_count) = (0u32, 0usize);
    for run in lengths.chunk_by(|a, b| a == b) {
        if run.len() > best_count {
            (best, best_count) = (run[0], run.len());
        }
    }
    let sized = best.is_power_of_two() && (4096..=4 << 20).contains(&best);
    (sized && best_count >= 2 && best_count * 2 > lengths.len()).then_some(best)
}

/// The writer's block size and the intact chunks before the last whose length
/// differs from it (bytes inserted or deleted, the CRC rewritten). A chunk that
/// ends exactly where an entry ends is left out: a writer that flushes (after an
/// entry) cuts a short block there, and damage rarely ends on an entry's last byte.
fn irregular_chunks(backup: &Backup) -> Option<(u32, Vec<ChunkRecord>)> {
    let chunks: &[ChunkRecord] = &backup.chunks;
    let block = writer_block_size(chunks)?;
    let before_last = chunks.get(..chunks.len().saturating_sub(1))?;
    let irregular = before_last
        .iter()
        .filter(|chunk| chunk.status == ChunkStatus::Ok && chunk.decompressed_len != block)
        .filter(|chunk| !ends_an_entry(backup, chunk.decompressed_end()))
        .copied()
        .collect();
    Some((block, irregular))
}

/// The S2 chunks whose length vouches that no byte was inserted or deleted in
/// them: intact, not the last, and exactly the writer's block size.
pub(super) struct LengthVouch<'a> {
    chunks: &'a [ChunkRecord],
    block: u32,
}

impl<'a> LengthVouch<'a> {
    /// `None` when no block size stands out (then no chunk is vouched for).
    pub(super) fn of(backup: &'a Backup) -> Option<Self> {
        let chunks = backup.chunks.as_slice();
        let block = writer_block_size(chunks)?;
        Some(Self { chunks, block })
    }

    /// Do vouched chunks hold every byte of `from..to` (decompressed offsets)?
    pub(super) fn covers(&self, from: u64, to: u64) -> bool {
        let last = self.chunks.len().saturating_sub(1);
        let first = self
            .chunks
            .partition_point(|chunk| chunk.decompressed_end() <= from);
        let mut reached = from;
        for (index, chunk) in self.chunks.iter().enumerate().skip(first) {
            if reached >= to {
                break;
            }
            if index >= last
                || chunk.status != ChunkStatus::Ok
                || chunk.decompressed_len != self.block
                || chunk.decompressed_offset > reached
            {
                return false;
            }
            reached = chunk.decompressed_end();
        }
        reached >= to
    }
}

/// Does a message entry end exactly at `offset`?
fn ends_an_entry(backup: &Backup, offset: u64) -> bool {
    let rows = overlapping_rows(backup, offset.saturating_sub(1), offset.saturating_add(1));
    rows.into_iter()
        .any(|row| backup.messages.end(row) == offset)
}

/// Reports every intact v2 chunk (not the last) whose length is not the writer's
/// block size; when nothing read inside it shows the change, records it in
/// `Backup::changed_chunks` and flags the messages in it that come just before a
/// missing sequence as suspect.
pub(super) fn check_chunk_lengths(backup: &mut Backup) {
    if backup.format != Some(ArchiveFormat::V2) {
        return;
    }
    let Some((block, irregular)) = irregular_chunks(backup) else {
        return;
    };
    for chunk in irregular {
        let (from, to) = (chunk.decompressed_offset, chunk.decompressed_end());
        let change = i64::from(chunk.decompressed_len) - i64::from(block);
        let what = if change < 0 {
            format!(
                "{} bytes were deleted from it",
                group(change.unsigned_abs())
            )
        } else {
            format!(
                "{} bytes were inserted into it",
                group(change.unsigned_abs())
            )
        };
        let shown = shows_damage(backup, from, to);
        let rows = rows_before_gaps(backup, from, to);
        let told = if shown {
            "the damage reported inside it accounts for that".to_string()
        } else if rows.is_empty() {
            "yet every entry in it reads whole, and no sequence is missing there".to_string()
        } else {
            format!(
                "yet every entry in it reads whole: one of the {} message(s) in it that come just before a missing sequence swallowed the bytes of the next (v2 has no per-message checksum to tell which), so all of them are suspect",
                group(rows.len() as u64)
            )
        };
        backup.findings.push(
            Finding::new(
                if shown {
                    Severity::Warning
                } else {
                    Severity::Error
                },
                FindingKind::LostData,
                format!(
                    "{} (decompressed bytes {from}..{to}): {what} and its CRC rewritten; {told}",
                    changed_chunk_text(&chunk, block),
                ),
            )
            .offset(from)
            .file_offset(chunk.file_offset),
        );
        if !shown {
            for row in rows {
                backup.messages.set_flags(row, flags::SUSPECT);
            }
            backup.changed_chunks.push((chunk, block));
        }
    }
}

/// Whether an error found while reading, or an untrusted row, lies in `from..to`.
/// When the bytes before the chunk are lost or failed their CRC, what is found at
/// its start (the resync into it, the rows that touch the failed bytes) is theirs;
/// likewise at its end when the bytes after it are lost (a message cut short).
fn shows_damage(backup: &Backup, from: u64, to: u64) -> bool {
    let failed_at = |at: u64, edge: fn(&ChunkRecord) -> u64| {
        backup
            .chunks
            .iter()
            .any(|chunk| chunk.status != ChunkStatus::Ok && edge(chunk) == at)
            || backup.findings.iter().any(|finding| {
                matches!(
                    finding.kind,
                    FindingKind::S2Framing | FindingKind::S2Truncated
                ) && finding.offset == Some(at)
            })
    };
    // Damage found at an entry that starts before the chunk and runs into it (a
    // long message) is the chunk's too: from the end of the last row before it.
    let own_from = if failed_at(from, ChunkRecord::decompressed_end) {
        from.saturating_add(LOOKBACK as u64)
    } else {
        last_end_before(backup, from)
    };
    let own_to = if failed_at(to, |chunk| chunk.decompressed_offset) {
        to.saturating_sub(LOOKBACK as u64)
    } else {
        to
    };
    let finding = backup.findings.iter().any(|finding| {
        finding.severity == Severity::Error
            && finding.kind != FindingKind::EntryOrder
            && finding
                .offset
                .is_some_and(|offset| (own_from..own_to).contains(&offset))
    });
    finding
        || backup
            .damaged_records
            .iter()
            .any(|record| record.offset < own_to && record.offset + record.len > own_from)
        || overlapping_rows(backup, own_from, own_to)
            .any(|row| backup.messages.flags(row) & flags::UNTRUSTED != 0)
}

/// Rows whose bytes overlap `from..to` (rows are in offset order in v2).
fn overlapping_rows(backup: &Backup, from: u64, to: u64) -> impl Iterator<Item = usize> + '_ {
    let messages = &backup.messages;
    let first = first_row_ending_after(backup, from);
    (first..messages.len()).take_while(move |&row| messages.offset(row) < to)
}

/// The first row that ends after `offset` (binary search: rows are in offset order).
fn first_row_ending_after(backup: &Backup, offset: u64) -> usize {
    let (mut low, mut high) = (0usize, backup.messages.len());
    while low < high {
        let middle = low + (high - low) / 2;
        if backup.messages.end(middle) <= offset {
            low = middle + 1;
        } else {
            high = middle;
        }
    }
    low
}

/// The end of the last row that ends at or before `offset` (0 when none does).
fn last_end_before(backup: &Backup, offset: u64) -> u64 {
    first_row_ending_after(backup, offset)
        .checked_sub(1)
        .map_or(0, |row| backup.messages.end(row).min(offset))
}

/// Rows overlapping `from..to` whose next row skips sequences.
fn rows_before_gaps(backup: &Backup, from: u64, to: u64) -> Vec<usize> {
    overlapping_rows(backup, from, to)
        .filter(|&row| {
            let next = backup.messages.seq.get(row + 1).copied();
            next.is_some_and(|next| next > backup.messages.seq[row].saturating_add(1))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::writer_block_size;
    use crate::format::s2::{ChunkKind, ChunkRecord, ChunkStatus};

    fn chunks(lengths: &[u32]) -> Vec<ChunkRecord> {
        let mut offset = 0u64;
        lengths
            .iter()
            .map(|&len| {
                let chunk = ChunkRecord {
                    file_offset: offset,
                    body_len: len,
                    decompressed_offset: offset,
                    decompressed_len: len,
                    kind: ChunkKind::Uncompressed,
                    status: ChunkStatus::Ok,
                };
                offset += u64::from(len);
                chunk
            })
            .collect()
    }

    #[test]
    fn the_block_size_is_the_power_of_two_most_chunks_share() {
        const MIB: u32 = 1 << 20;
        assert_eq!(
            writer_block_size(&chunks(&[MIB, MIB, MIB - 25, MIB, 7])),
            Some(MIB)
        );
        // The last chunk does not count, and one full chunk says nothing.
        assert_eq!(writer_block_size(&chunks(&[MIB, 7])), None);
        // A writer that flushes after each entry: no length stands out.
        assert_eq!(
            writer_block_size(&chunks(&[300, 4096, 812, 4096, 77, 91, 5])),
            None
        );
        // Equal entries flushed one per chunk share a length that is no block size.
        assert_eq!(writer_block_size(&chunks(&[25, 25, 25, 25, 3])), None);
    }
}
