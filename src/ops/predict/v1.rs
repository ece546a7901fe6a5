//! The v1 (tar) restore: nats-server's `RestoreStream` reads the whole tar into a
//! temp directory before the stream exists, then the filestore loads the blocks.

use super::{
    block_cuts, brought_back, failed, first_s2_failure, group, has_error, ranges_text,
    v1_restored_counts,
};
use super::{succeeded, Outcome, RestorePrediction};
use crate::model::{to_ranges, Backup, EntryInfo, FindingKind, Severity};

/// A tar's 512-byte block.
const BLOCK: u64 = 512;

/// Where a member's data, padded to the next block, ends.
fn padded_end(entry: &EntryInfo) -> u64 {
    entry
        .data_offset
        .saturating_add(entry.size)
        .div_ceil(BLOCK)
        .saturating_mul(BLOCK)
}

/// End of the tar as the server's reader needs it: last member, padded, plus the
/// two zero blocks it reads before `io.EOF`.
fn tar_needed_end(backup: &Backup) -> u64 {
    let last = backup.entries.iter().map(padded_end).max().unwrap_or(0);
    last.saturating_add(2 * BLOCK)
}

/// Does the server's tar reader (Go's archive/tar) take the end of the readable
/// bytes as `unexpected EOF`? It does inside a header block (ustar, PAX, the two
/// zero blocks) and inside a member's data. An end where a header is due, or
/// inside the padding after a member's data, reads as the end of the archive
/// (`io.EOF`), and the restore goes on with the members read.
fn tar_end_is_unexpected(backup: &Backup) -> bool {
    let end = backup.decompressed_bytes;
    let Some(last) = backup
        .entries
        .iter()
        .max_by_key(|entry| entry.header_offset)
    else {
        return !end.is_multiple_of(BLOCK);
    };
    if end < last.data_offset {
        return end != last.header_offset;
    }
    let data_end = last.data_offset.saturating_add(last.size);
    if end < data_end {
        return true;
    }
    let padded = padded_end(last);
    // After the padding: the next header or the trailer, read 512 bytes at a time.
    end > padded && !(end - padded).is_multiple_of(BLOCK)
}

/// Where the server's reading of the tar stops before any stream exists, if it
/// does: a bad S2 chunk or a bad header (whichever it meets first), the stream
/// ending inside a member, an unreadable meta.inf.
fn read_failure(backup: &Backup, servers: &[&'static str]) -> Option<RestorePrediction> {
    // The tar reader meets a bad header before the S2 reader reaches a bad chunk
    // when the header's block lies wholly before it.
    let first_bad_header = backup
        .findings
        .iter()
        .filter(|finding| {
            finding.kind == FindingKind::TarHeader && finding.severity == Severity::Error
        })
        .filter_map(|finding| finding.offset)
        .min();
    if let Some(failure) = first_s2_failure(backup) {
        let header_first = first_bad_header
            .is_some_and(|at| at.saturating_add(BLOCK) <= failure.decompressed_offset);
        if failure.decompressed_offset < tar_needed_end(backup) && !header_first {
            return Some(failed(
                servers.to_vec(),
                failure.error.to_string(),
                true,
                format!(
                    "the restore fails with `{}` at the S2 chunk at file offset {} and no stream is created: a tar archive is read completely before the stream exists",
                    failure.error, failure.file_offset
                ),
            ));
        }
    }
    if has_error(backup, FindingKind::TarHeader) {
        return Some(failed(
            servers.to_vec(),
            "archive/tar: invalid tar header".into(),
            false,
            "the restore fails at a damaged tar header and no stream is created".into(),
        ));
    }
    if tar_end_is_unexpected(backup) {
        return Some(failed(
            servers.to_vec(),
            "unexpected EOF".into(),
            true,
            "the tar ends inside a header block or a member's data: the restore fails with `unexpected EOF` and no stream is created".into(),
        ));
    }
    if has_error(backup, FindingKind::MetaInf) {
        return Some(failed(
            servers.to_vec(),
            String::new(),
            false,
            "meta.inf cannot be read: the restore fails and no stream is created".into(),
        ));
    }
    None
}

pub(super) fn predict_v1(backup: &Backup) -> RestorePrediction {
    let servers = vec!["2.14", "2.15"];
    if let Some(failure) = read_failure(backup, &servers) {
        return failure;
    }
    let cuts = block_cuts(backup);
    let mut truncated: Vec<u64> = cuts
        .truncated
        .iter()
        .chain(&cuts.dropped_damaged)
        .copied()
        .collect();
    truncated.sort_unstable();
    // A record whose checksum passes is restored and served as it reads.
    let served_wrong: Vec<u64> = backup
        .split_damaged
        .iter()
        .copied()
        .filter(|seq| cuts.dropped_damaged.binary_search(seq).is_err())
        .collect();
    let damaged: Vec<u64> = backup
        .damaged_seqs
        .iter()
        .copied()
        .filter(|seq| cuts.dropped_damaged.binary_search(seq).is_err())
        .filter(|seq| served_wrong.binary_search(seq).is_err())
        .collect();
    let mut missing_seqs: Vec<u64> = damaged.clone();
    missing_seqs.extend(truncated.iter().copied());
    missing_seqs.sort_unstable();
    missing_seqs.dedup();
    let missing = to_ranges(missing_seqs.iter().copied());
    let (messages, last_seq) = v1_restored_counts(backup, &cuts);
    let outcome = if missing.is_empty() && backup.lost.is_empty() && served_wrong.is_empty() {
        Outcome::Succeeds
    } else {
        Outcome::SucceedsWithLoss
    };
    let summary = match outcome {
        Outcome::Succeeds => format!(
            "the restore succeeds with {} messages (last seq {})",
            group(messages),
            last_seq
        ),
        _ => {
            let mut parts = vec![format!(
                "the restore reports success ({} messages, last seq {})",
                group(messages),
                last_seq
            )];
            if !damaged.is_empty() {
                parts.push(format!(
                    "but seq {} cannot be read from the restored stream (`no message found`), although its state counts {}",
                    ranges_text(&to_ranges(damaged.iter().copied())),
                    if damaged.len() == 1 { "it" } else { "them" }
                ));
            }
            if !served_wrong.is_empty() {
                parts.push(format!(
                    "seq {} {} restored with subject and data split wrongly (its record checksum passes, so the server serves it as it reads)",
                    ranges_text(&to_ranges(served_wrong.iter().copied())),
                    if served_wrong.len() == 1 { "is" } else { "are" }
                ));
            }
            if !truncated.is_empty() {
                parts.push(format!(
                    "the server truncates a block at a malformed record, silently dropping seq {}",
                    ranges_text(&to_ranges(truncated.iter().copied()))
                ));
            }
            if !backup.lost.is_empty() {
                parts.push(format!(
                    "seq {} cannot be read from the archive at all",
                    ranges_text(&backup.lost)
                ));
            }
            parts.join("; ")
        }
    };
    let summary = summary + &brought_back(backup);
    succeeded(servers, outcome, (messages, last_seq), missing, summary)
}
