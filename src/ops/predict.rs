//! What a real nats-server would do with this archive on `$JS.API.STREAM.RESTORE`:
//! succeed, fail (where, with which error, and what is left on the server), or
//! succeed while silently losing sequences. Derived from the scanned model and
//! the server's restore rules (server/stream.go `RestoreStream` for tar archives,
//! server/stream_backup.go `RestoreStreamV2` for NATSARC1, the klauspost S2 reader
//! underneath both). Works on the model; damaged archives also have a few of their
//! bytes read (`predict_replay`).
//!
//! The rules that matter:
//! - The S2 reader verifies each chunk before it hands out any of its bytes, so the
//!   server reads everything before the first bad chunk and fails on it
//!   (`s2: corrupt input, crc mismatch` / `s2: corrupt input`).
//! - v1 (tar): files are extracted first, the stream is created only after the whole
//!   tar was read, so any read error leaves no stream. Records that fail their
//!   checksum are kept in the block but cannot be read (`no message found`); a
//!   malformed record makes the server truncate the block there.
//! - v2: the stream is created right after `state.json` and the consumers; messages
//!   are stored one by one, so a failure later leaves a stream holding the messages
//!   before it. A missing end sentinel fails with `EOF` after storing everything.

mod v1;
use v1::predict_v1;

use crate::format::headers::flags;
use crate::format::s2::ChunkStatus;
use crate::model::{to_ranges, ArchiveFormat, Backup, FindingKind, MessageRow, Severity};
use crate::ops::predict_replay::{replay_v2, Replay};
use crate::ops::wording::is_or_are;
pub use crate::ops::wording::{group, ranges_text};
use serde::Serialize;

/// The server's default `max_payload`: larger messages fail a v2 restore.
const DEFAULT_MAX_PAYLOAD: u64 = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Restores every message the archive holds.
    Succeeds,
    /// Reports success, but some sequences are not (readable) in the restored stream.
    SucceedsWithLoss,
    Fails,
}

/// The predicted answer of one server line to a restore of this archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RestorePrediction {
    /// Server versions this prediction is for.
    pub servers: Vec<&'static str>,
    pub outcome: Outcome,
    /// The restore error as the server words it (`restore failed: …`); with
    /// `error_exact` false only this prefix is certain.
    pub error: Option<String>,
    pub error_exact: bool,
    /// Whether a stream of that name exists on the server afterwards.
    pub stream_created: bool,
    /// Messages the restored stream's state counts.
    pub messages: u64,
    pub last_seq: u64,
    /// Sequences of the archive that are not readable from the restored stream.
    pub missing: Vec<(u64, u64)>,
    /// One plain-language sentence.
    pub summary: String,
}

/// Where the server's S2 reader first fails: decompressed offset and error text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct S2Failure {
    pub decompressed_offset: u64,
    pub file_offset: u64,
    pub error: &'static str,
}

/// The first point in stream order where the server's S2 reader gives up.
pub fn first_s2_failure(backup: &Backup) -> Option<S2Failure> {
    let mut candidates: Vec<S2Failure> = backup
        .chunks
        .iter()
        .filter(|chunk| chunk.status != ChunkStatus::Ok)
        .map(|chunk| S2Failure {
            decompressed_offset: chunk.decompressed_offset,
            file_offset: chunk.file_offset,
            error: if chunk.status == ChunkStatus::CrcMismatch {
                "s2: corrupt input, crc mismatch"
            } else {
                "s2: corrupt input"
            },
        })
        .collect();
    for finding in &backup.findings {
        if !matches!(
            finding.kind,
            FindingKind::S2Framing | FindingKind::S2Truncated
        ) {
            continue;
        }
        let Some(file_offset) = finding.file_offset else {
            continue;
        };
        // Bytes lost in the framing contribute nothing decompressed: the server fails
        // where the next chunk we could read begins.
        let decompressed_offset = backup
            .chunks
            .iter()
            .find(|chunk| chunk.file_offset >= file_offset)
            .map(|chunk| chunk.decompressed_offset)
            .unwrap_or(backup.decompressed_bytes);
        let error = if finding.message.contains("reserved") {
            "s2: unsupported input"
        } else {
            "s2: corrupt input"
        };
        candidates.push(S2Failure {
            decompressed_offset,
            file_offset,
            error,
        });
    }
    candidates
        .into_iter()
        .min_by_key(|failure| (failure.decompressed_offset, failure.file_offset))
}

/// One prediction per server line that can read this archive's format.
pub fn predict_restore(backup: &Backup, reference_ns: i64) -> Vec<RestorePrediction> {
    match backup.format {
        Some(ArchiveFormat::V1) => vec![predict_v1(backup)],
        Some(ArchiveFormat::V2) => vec![predict_v2(backup, reference_ns)],
        None => Vec::new(),
    }
}

fn has_error(backup: &Backup, kind: FindingKind) -> bool {
    backup
        .findings
        .iter()
        .any(|finding| finding.kind == kind && finding.severity == Severity::Error)
}

/// A restore the server reports as a success: `counts` are the restored stream's
/// messages and last sequence, `missing` what it cannot serve of the archive.
fn succeeded(
    servers: Vec<&'static str>,
    outcome: Outcome,
    counts: (u64, u64),
    missing: Vec<(u64, u64)>,
    summary: String,
) -> RestorePrediction {
    RestorePrediction {
        servers,
        outcome,
        error: None,
        error_exact: true,
        stream_created: true,
        messages: counts.0,
        last_seq: counts.1,
        missing,
        summary,
    }
}

fn failed(
    servers: Vec<&'static str>,
    error: String,
    exact: bool,
    summary: String,
) -> RestorePrediction {
    RestorePrediction {
        servers,
        outcome: Outcome::Fails,
        error: Some(format!("restore failed: {error}")),
        error_exact: exact,
        stream_created: false,
        messages: 0,
        last_seq: 0,
        missing: Vec::new(),
        summary,
    }
}

/// v1: deleted messages a restore brings back because their deletion records are
/// lost (the scan's maybe-deleted findings), for the end of a prediction.
fn brought_back(backup: &Backup) -> String {
    let named = backup.maybe_deleted.len() as u64;
    let unnamed = backup.unnamed_deletes.as_ref().map_or(0, |u| u.at_most);
    match (named, unnamed) {
        (0, 0) => String::new(),
        (named, 0) => format!(
            "; {} of them may be messages the stream had deleted (seq {}), brought back",
            group(named),
            crate::ops::export::maybe_deleted_ranges(backup)
        ),
        (0, unnamed) => format!(
            "; up to {} of them may be messages the stream had deleted, brought back",
            group(unnamed)
        ),
        (named, unnamed) => format!(
            "; {} of them (seq {}) and up to {} more may be messages the stream had deleted, brought back",
            group(named),
            crate::ops::export::maybe_deleted_ranges(backup),
            group(unnamed)
        ),
    }
}

/// v1: what the restored stream's state counts. Records failing only their checksum
/// stay counted; a cut block loses every record from its cut on, and when nothing
/// later survives the stream ends just before the cut.
fn v1_restored_counts(backup: &Backup, cuts: &BlockCuts) -> (u64, u64) {
    let damaged = backup.damaged_seqs.len() as u64;
    let Some(first_dropped) = cuts.first_dropped else {
        return (backup.state.messages + damaged, backup.state.last_seq);
    };
    let kept_rows = (backup.messages.len() as u64).saturating_sub(cuts.truncated.len() as u64);
    let kept_damaged = damaged.saturating_sub(cuts.dropped_damaged.len() as u64);
    let survivor_after_cut = backup
        .messages
        .seq
        .iter()
        .rev()
        .find(|seq| cuts.truncated.binary_search(seq).is_err())
        .is_some_and(|&seq| seq > first_dropped);
    let last_seq = if survivor_after_cut {
        backup.state.last_seq
    } else {
        first_dropped.saturating_sub(1)
    };
    (kept_rows + kept_damaged, last_seq)
}

/// v1 blocks holding a malformed record: the server cuts each such block at its
/// first bad record (a checksum failure before the malformed record counts too)
/// and keeps nothing after the cut.
#[derive(Debug, Default)]
struct BlockCuts {
    /// Readable messages after a cut.
    truncated: Vec<u64>,
    /// Checksum-failed records at or after a cut (no longer counted by the server).
    dropped_damaged: Vec<u64>,
    /// The first sequence the cut removes.
    first_dropped: Option<u64>,
}

fn block_cuts(backup: &Backup) -> BlockCuts {
    let mut cuts = BlockCuts::default();
    let checksum_failures: Vec<(&str, u64, u64)> = backup
        .findings
        .iter()
        .filter(|finding| finding.kind == FindingKind::RecordChecksum)
        .filter_map(|finding| Some((finding.entry.as_deref()?, finding.offset?, finding.seq?)))
        .collect();
    for finding in &backup.findings {
        if finding.kind != FindingKind::BlockRecord {
            continue;
        }
        let (Some(bad_at), Some(entry_name)) = (finding.offset, finding.entry.as_deref()) else {
            continue;
        };
        let Some(entry) = backup.entries.iter().find(|entry| entry.name == entry_name) else {
            continue;
        };
        let block_end = entry.data_offset.saturating_add(entry.size);
        let earlier_bad = checksum_failures
            .iter()
            .filter(|(name, offset, _)| *name == entry_name && *offset < bad_at)
            .min_by_key(|(_, offset, _)| *offset);
        let (cut, cut_seq) = match earlier_bad {
            Some(&(_, offset, seq)) => (offset, Some(seq)),
            None => (bad_at, None),
        };
        let before = cuts.truncated.len();
        for row in 0..backup.messages.len() {
            let offset = backup.messages.offset(row);
            if offset > cut && offset < block_end {
                cuts.truncated.push(backup.messages.seq[row]);
            }
        }
        cuts.dropped_damaged.extend(
            checksum_failures
                .iter()
                .filter(|(name, offset, _)| *name == entry_name && *offset >= cut)
                .map(|(_, _, seq)| *seq),
        );
        let first_truncated = cuts
            .truncated
            .get(before..)
            .and_then(|new| new.iter().min().copied());
        // A malformed record has no readable seq: it starts the lost range before the rest.
        let malformed_seq = backup
            .lost
            .iter()
            .map(|&(from, _)| from)
            .filter(|&from| first_truncated.is_none_or(|first| from < first))
            .max();
        // The malformed record's own seq field, when it is plausible where it sits.
        let read_seq =
            crate::ops::predict_replay::v1_record_seq_at(backup, bad_at).filter(|&seq| {
                first_truncated.is_none_or(|first| seq < first)
                    && malformed_seq.is_none_or(|lost| seq >= lost)
            });
        let first = cut_seq.or(read_seq).or(malformed_seq).or(first_truncated);
        cuts.first_dropped = match (cuts.first_dropped, first) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    cuts.truncated.sort_unstable();
    cuts.truncated.dedup();
    cuts.dropped_damaged.sort_unstable();
    cuts.dropped_damaged.dedup();
    cuts
}

/// A point in the archive where the v2 reader stops, with its error.
struct V2Stop {
    offset: u64,
    error: String,
    exact: bool,
}

fn v2_entry_stops(backup: &Backup) -> Vec<V2Stop> {
    let mut stops = Vec::new();
    for finding in &backup.findings {
        let (Some(offset), true) = (finding.offset, finding.severity == Severity::Error) else {
            continue;
        };
        let seq = finding.seq.unwrap_or(0);
        let (error, exact) = match finding.kind {
            FindingKind::EntryTruncated => (
                format!("failed to read message sequence {seq}: archive: invalid archive stream"),
                finding.seq.is_some(),
            ),
            FindingKind::EntryHeader => ("archive: invalid archive stream".to_string(), false),
            FindingKind::EntryOrder | FindingKind::SequenceOrder => (
                format!("message sequence {seq} out of order"),
                finding.seq.is_some(),
            ),
            _ => continue,
        };
        stops.push(V2Stop {
            offset,
            error,
            exact,
        });
    }
    stops
}

/// A damaged v2 archive: what the byte-by-byte replay of the server's reader found.
fn from_replay(servers: Vec<&'static str>, backup: &Backup, replay: Replay) -> RestorePrediction {
    let Some(error) = replay.error else {
        return succeeded_v2(
            servers,
            backup,
            replay.stored,
            replay.last_seq,
            replay.expired,
        );
    };
    if !replay.stream_created {
        return failed(
            servers,
            error.clone(),
            replay.exact,
            if error.starts_with("archive/tar") {
                format!("the archive no longer starts with the NATSARC1 magic, so the server reads it as a tar (v1): the restore fails at once with `{error}` and no stream is created")
            } else {
                format!("the restore fails at once with `{error}` and no stream is created")
            },
        );
    }
    let where_ = match replay.failed_seq {
        Some(seq) => format!("at seq {seq}"),
        None => "reading the archive".to_string(),
    };
    partial(
        servers,
        backup,
        replay.stored,
        replay.last_seq,
        error,
        replay.exact,
        &where_,
    )
}

fn predict_v2(backup: &Backup, reference_ns: i64) -> RestorePrediction {
    let servers = vec!["2.15"];
    if backup.has_errors() {
        // Damage decides what the server parses: replay its reader over the bytes.
        if let Some(replay) = replay_v2(backup, reference_ns) {
            return from_replay(servers, backup, replay);
        }
    }
    let s2 = first_s2_failure(backup);
    let state_entry = backup
        .entries
        .iter()
        .find(|entry| entry.name == "state.json");
    if let Some(failure) = s2.filter(|failure| failure.decompressed_offset < 8) {
        return failed(
            servers,
            failure.error.to_string(),
            true,
            format!(
                "the restore fails at once with `{}` (the first S2 chunk, holding the archive magic, is damaged) and no stream is created",
                failure.error
            ),
        );
    }
    let state_end = state_entry.map(|entry| entry.data_offset + entry.size);
    if let (Some(failure), Some(end)) = (s2, state_end) {
        if failure.decompressed_offset < end {
            return failed(
                servers,
                "error in state.json: archive: invalid archive stream".into(),
                true,
                "the S2 chunk holding state.json is damaged: the restore fails before the stream exists".into(),
            );
        }
    }
    if state_entry.is_none() || has_error(backup, FindingKind::StateJson) {
        return failed(
            servers,
            "error in state.json".into(),
            false,
            "state.json cannot be read: the restore fails at once with `error in state.json` and no stream is created".into(),
        );
    }
    let mut stops = v2_entry_stops(backup);
    if let Some(failure) = s2 {
        // Inside an entry header the archive reader turns any read error into this.
        stops.push(V2Stop {
            offset: failure.decompressed_offset,
            error: "archive: invalid archive stream".into(),
            exact: true,
        });
    }
    let consumers_end = backup
        .entries
        .iter()
        .filter(|entry| entry.name.starts_with("consumers/"))
        .map(|entry| entry.data_offset + entry.size)
        .max()
        .unwrap_or(0);
    let stop = stops.into_iter().min_by_key(|stop| stop.offset);
    if let Some(stop) = stop.as_ref().filter(|stop| stop.offset < consumers_end) {
        return partial(
            servers,
            backup,
            0,
            0,
            stop.error.clone(),
            false,
            "reading the consumers",
        );
    }
    replay_messages(servers, backup, stop, reference_ns)
}

fn partial(
    servers: Vec<&'static str>,
    backup: &Backup,
    stored: u64,
    last_seq: u64,
    error: String,
    exact: bool,
    where_: &str,
) -> RestorePrediction {
    let missing = backup
        .messages
        .seq
        .iter()
        .copied()
        .filter(|&seq| seq > last_seq);
    let missing = to_ranges(missing);
    let mut not_restored = Vec::new();
    if stored == 0 && !missing.is_empty() {
        // Nothing stored: the ranges not restored are every message there is.
        let held = backup.messages.len() as u64;
        not_restored.push(format!(
            "none of the archive's {} message{} {} restored",
            group(held),
            if held == 1 { "" } else { "s" },
            if held == 1 { "is" } else { "are" }
        ));
    } else if !missing.is_empty() {
        not_restored.push(format!(
            "seq {} of the archive {} not restored",
            ranges_text(&missing),
            is_or_are(&missing)
        ));
    }
    if !backup.lost.is_empty() {
        not_restored.push(format!(
            "seq {} {} lost from the archive",
            ranges_text(&backup.lost),
            is_or_are(&backup.lost)
        ));
    }
    if not_restored.is_empty() {
        not_restored.push(
            "every message the archive holds is stored, but the restore reports an error".into(),
        );
    }
    let left = if stored == 0 {
        format!("an empty stream on the server (its last sequence {last_seq})")
    } else {
        format!(
            "the stream on the server holding {} message{} (up to seq {last_seq})",
            group(stored),
            if stored == 1 { "" } else { "s" },
        )
    };
    RestorePrediction {
        servers,
        outcome: Outcome::Fails,
        summary: format!(
            "the restore fails {where_} with `{error}`, but leaves {left}; {}",
            not_restored.join("; ")
        ),
        error: Some(format!("restore failed: {error}")),
        error_exact: exact,
        stream_created: true,
        messages: stored,
        last_seq,
        missing,
    }
}

/// Row indices in archive order; v2 writes in sequence order, so the sort is
/// usually not needed.
fn archive_order(backup: &Backup) -> Vec<usize> {
    let rows = backup.messages.len();
    let mut order: Vec<usize> = (0..rows).collect();
    let in_order =
        (1..rows).all(|row| backup.messages.offset(row - 1) <= backup.messages.offset(row));
    if !in_order {
        order.sort_by_key(|&row| backup.messages.offset(row));
    }
    order
}

/// The error `RestoreStreamV2` stops with for this message, if it refuses it.
fn refused_message(
    message: &MessageRow,
    size: u64,
    max_msg_size: Option<u64>,
    last_seq: u64,
) -> Option<String> {
    if size > DEFAULT_MAX_PAYLOAD {
        Some(format!(
            "message sequence {} exceeds maximum payload size",
            message.seq
        ))
    } else if max_msg_size.is_some_and(|limit| size > limit) {
        Some(format!(
            "message sequence {} exceeds maximum message size",
            message.seq
        ))
    } else if message.seq <= last_seq {
        Some(format!("message sequence {} out of order", message.seq))
    } else if message.flags & flags::TTL_INVALID != 0 {
        Some("failed to parse message TTL".to_string())
    } else {
        None
    }
}

/// v2 messages in archive order, as `RestoreStreamV2` stores them, up to `stop`.
fn replay_messages(
    servers: Vec<&'static str>,
    backup: &Backup,
    stop: Option<V2Stop>,
    reference_ns: i64,
) -> RestorePrediction {
    // The server treats 0 (and negative) as "no limit".
    let max_msg_size = backup
        .config
        .as_ref()
        .and_then(|config| config.max_msg_size_limit())
        .map(|limit| limit as u64);
    let archive_order = archive_order(backup);
    let mut stored = 0u64;
    let mut expired = 0u64;
    let mut last_seq = backup
        .archive_state
        .as_ref()
        .map_or(0, |s| s.first_seq.saturating_sub(1));
    let stop_offset = stop.as_ref().map_or(u64::MAX, |stop| stop.offset);
    for row in archive_order {
        let Some(message) = backup.messages.row(row) else {
            continue;
        };
        let size = u64::from(message.hdr_len) + u64::from(message.data_len);
        let end = message.offset + size;
        if stop_offset < end {
            let stop = stop.as_ref();
            let (error, exact) = if stop_offset >= message.offset {
                (
                    format!(
                        "failed to read message sequence {}: archive: invalid archive stream",
                        message.seq
                    ),
                    true,
                )
            } else {
                stop.map_or(("archive: invalid archive stream".into(), false), |stop| {
                    (stop.error.clone(), stop.exact)
                })
            };
            return partial(
                servers,
                backup,
                stored,
                last_seq,
                error,
                exact,
                &format!("at seq {}", message.seq),
            );
        }
        if let Some(error) = refused_message(&message, size, max_msg_size, last_seq) {
            let exact = !error.starts_with("failed to parse");
            return partial(
                servers,
                backup,
                stored,
                last_seq,
                error,
                exact,
                &format!("at seq {}", message.seq),
            );
        }
        last_seq = message.seq;
        if backup
            .messages
            .ttl_of(message.seq)
            .is_expired(message.ts_ns, reference_ns)
        {
            expired += 1;
        } else {
            stored += 1;
        }
    }
    if let Some(stop) = stop {
        return partial(
            servers,
            backup,
            stored,
            last_seq,
            stop.error,
            stop.exact,
            "after the last readable message",
        );
    }
    if has_error(backup, FindingKind::MissingSentinel) {
        return partial(
            servers,
            backup,
            stored,
            last_seq,
            "EOF".into(),
            true,
            "at the end of the archive (no end-of-backup sentinel)",
        );
    }
    let declared_last = backup
        .archive_state
        .as_ref()
        .map_or(0, |state| state.last_seq);
    succeeded_v2(
        servers,
        backup,
        stored,
        last_seq.max(declared_last),
        expired,
    )
}

fn succeeded_v2(
    servers: Vec<&'static str>,
    backup: &Backup,
    stored: u64,
    last_seq: u64,
    expired: u64,
) -> RestorePrediction {
    let lost = backup.lost.clone();
    let outcome = if lost.is_empty() && backup.damaged_seqs.is_empty() {
        Outcome::Succeeds
    } else {
        Outcome::SucceedsWithLoss
    };
    let mut summary = format!(
        "the restore succeeds with {} messages (last seq {last_seq})",
        group(stored)
    );
    if expired > 0 {
        summary.push_str(&format!(
            "; {} messages whose Nats-TTL has run out are skipped by the server",
            group(expired)
        ));
    }
    if !lost.is_empty() {
        summary.push_str(&format!(
            "; seq {} are not in the archive and silently become gaps",
            ranges_text(&lost)
        ));
    }
    succeeded(servers, outcome, (stored, last_seq), lost, summary)
}
