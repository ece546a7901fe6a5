//! Checks on v2 entries that need no stream: whether a message header can be real
//! (subject, sizes, sequence, time span), and the findings that mark suspect bytes.

use crate::format::headers::{flags, Ttl};
use crate::format::s2::{ChunkSource, DecodedStream};
use crate::format::v2::{self, EntryHeader, Expectation};
use crate::model::{Backup, Finding, FindingKind, StreamState};

/// The last message entry the scan recorded: where it ends decides whether bad
/// bytes that follow are its own.
#[derive(Debug, Clone, Copy)]
pub(super) struct LastMessage {
    pub(super) sequence: u64,
    /// Decompressed offset of its data (header block, then payload).
    pub(super) data_start: u64,
    /// Decompressed offset just past its data.
    pub(super) end: u64,
    pub(super) timestamp_ns: i64,
}

/// Bad bytes where the last message ended, kept until a resync tells what follows.
pub(super) struct HeldBoundary {
    pub(super) last: LastMessage,
    /// Up to `format::v2::BOUNDARY_VIEW` bytes from its end.
    pub(super) bytes: Vec<u8>,
    /// Up to `format::v2::TAIL_VIEW` of its own last data bytes.
    pub(super) tail: Vec<u8>,
}

pub(super) fn note_invalid_ttl(backup: &mut Backup, ttl: Ttl, seq: u64, entry: &str, offset: u64) {
    if ttl == Ttl::Invalid {
        backup.findings.push(
            Finding::error(
                FindingKind::InvalidTtl,
                format!("sequence {seq} has an unparseable Nats-TTL header: the server aborts a v2 restore on it"),
            )
            .entry(entry.to_string())
            .seq(seq)
            .offset(offset),
        );
    }
}

/// Byte offset of a serde_json error inside `data` (line/column → offset).
pub(super) fn json_error_offset(data: &[u8], error: &serde_json::Error) -> u64 {
    let mut line = 1usize;
    let mut offset = 0usize;
    for (index, &byte) in data.iter().enumerate() {
        if line == error.line() {
            offset = index + error.column().saturating_sub(1);
            break;
        }
        if byte == b'\n' {
            line += 1;
        }
    }
    offset as u64
}

/// The message just before corrupt bytes may have run into them: flag it.
pub(super) fn flag_suspect_previous(backup: &mut Backup, previous_seq: u64) {
    let Some(row) = backup.messages.find_seq(previous_seq) else {
        return;
    };
    backup.messages.set_flags(row, flags::SUSPECT);
    backup.findings.push(
        Finding::warning(
            FindingKind::LostData,
            format!("sequence {previous_seq} is the last entry before corrupt bytes: its payload may hold some of them (v2 has no per-message checksum)"),
        )
        .seq(previous_seq),
    );
}

/// Timestamps a message of this archive can have: within a day of the span its
/// state declares (first message to snapshot time); `None` when no state says.
pub(super) fn timestamp_range(backup: &Backup) -> Option<(i64, i64)> {
    const SLACK_NS: i64 = 86_400 * 1_000_000_000;
    let state = [&backup.archive_state, &backup.declared_state]
        .into_iter()
        .flatten()
        .find(|state| state.first_ts_ns > 0)?;
    let last = state.last_ts_ns.max(backup.snapshot_time_ns.unwrap_or(0));
    let high = if last > 0 {
        last.saturating_add(SLACK_NS)
    } else {
        i64::MAX
    };
    Some((state.first_ts_ns.saturating_sub(SLACK_NS), high))
}

/// Why a message entry header cannot be real, if it cannot.
pub(super) fn implausible_message(
    header: &EntryHeader,
    expect: &Expectation,
    state: Option<&StreamState>,
) -> Option<String> {
    let previous_seq = expect.previous_seq;
    if header.name.is_empty() || header.name.len() > 65_536 {
        return Some(format!("subject of {} bytes", header.name.len()));
    }
    if header.name.iter().any(|&byte| byte <= b' ' || byte == 0x7f) {
        return Some("subject holds spaces or control bytes".into());
    }
    if !v2::valid_subject(&header.name) {
        return Some("the name is not a subject a message can be stored under".into());
    }
    if !expect.timestamp_ok(header.timestamp_ns) {
        return Some(format!(
            "timestamp {} is outside the archive's time span",
            crate::util::time::format_rfc3339_ns(header.timestamp_ns)
        ));
    }
    if header.header_size > 0 && header.header_size < 10 {
        return Some(format!("header block of {} bytes", header.header_size));
    }
    if header.payload_size > 64 << 20 {
        return Some(format!(
            "payload of {} bytes (the server's max_payload limit is 64 MiB)",
            header.payload_size
        ));
    }
    if let Some(state) = state {
        // The snapshot can end with at most a message or so past last_seq.
        if state.last_seq > 0
            && header.sequence > state.last_seq.saturating_add(1_000_000)
            && header.sequence > previous_seq.saturating_add(1_000_000)
        {
            return Some(format!(
                "sequence {} is far past the snapshot's last sequence {}",
                header.sequence, state.last_seq
            ));
        }
    }
    None
}

/// Bad bytes at `offset`: when the last message ended there, the bytes from there,
/// kept for [`settle_boundary`]. Bad bytes in a chunk that failed its CRC say
/// nothing against a message before that chunk (one that overlaps it is marked by
/// the chunk check).
pub(super) fn hold_boundary<S: ChunkSource>(
    stream: &mut DecodedStream<S>,
    last: Option<LastMessage>,
    offset: u64,
) -> Option<HeldBoundary> {
    let last = last.filter(|last| last.end == offset)?;
    if super::damaged_range_end(&stream.chunks.chunks, offset, offset + 1).is_some() {
        return None;
    }
    let back = usize::try_from(stream.pos().saturating_sub(offset)).unwrap_or(usize::MAX);
    let data_len = usize::try_from(last.end.saturating_sub(last.data_start)).unwrap_or(usize::MAX);
    let rewound = stream.rewind(back.saturating_add(data_len.min(v2::TAIL_VIEW)));
    let mut bytes = Vec::new();
    let mut tail = Vec::new();
    if let Some(tail_len) = rewound.checked_sub(back) {
        // Fewer bytes when the stream ends or stops at lost bytes: those are what there is.
        let _ = stream.fill(tail_len + v2::BOUNDARY_VIEW);
        let view = stream.buffered();
        tail.extend_from_slice(view.get(..tail_len).unwrap_or_default());
        let after = view.get(tail_len..).unwrap_or_default();
        bytes.extend_from_slice(after.get(..v2::BOUNDARY_VIEW).unwrap_or(after));
    }
    // The rewound bytes are buffered: skipping them again cannot fail.
    let _ = stream.skip(rewound as u64);
    Some(HeldBoundary { last, bytes, tail })
}

/// Once a resync found the entry after bad bytes (`found`: its sequence; the stream
/// stands in front of it) or none: the message before the bad bytes is damaged
/// unless its end is a real entry boundary.
pub(super) fn settle_boundary<S: ChunkSource>(
    stream: &DecodedStream<S>,
    backup: &mut Backup,
    held: Option<HeldBoundary>,
    found: Option<u64>,
) {
    let Some(held) = held else {
        return;
    };
    let at = stream.pos();
    let found_header = v2::parse_entry_header(stream.buffered(), at).ok().flatten();
    let next = match found {
        Some(_) if at < held.last.end => {
            // The message runs into the entry found: bytes were lost inside it.
            flag_suspect_previous(backup, held.last.sequence);
            return;
        }
        Some(sequence) => Some(v2::FoundEntry {
            distance: at - held.last.end,
            sequence,
            timestamp_ns: found_header
                .as_ref()
                .map_or(i64::MIN, |(header, _)| header.timestamp_ns),
        }),
        None => None,
    };
    let boundary = v2::Boundary {
        bytes: &held.bytes,
        sequence: held.last.sequence,
        timestamp_ns: held.last.timestamp_ns,
        next,
        latest_ns: timestamp_range(backup).map_or(i64::MAX, |(_, high)| high),
        tail: &held.tail,
        recent_subjects: &recent_subjects(
            backup,
            found_header
                .as_ref()
                .map(|(header, _)| header.name.as_slice()),
        ),
    };
    if !v2::boundary_holds(&boundary) {
        flag_suspect_previous(backup, held.last.sequence);
    }
}

/// The distinct subjects of the last rows read, and of the entry found after bad
/// bytes: a bounded look, so each resync costs the same.
fn recent_subjects<'a>(backup: &'a Backup, found: Option<&'a [u8]>) -> Vec<&'a [u8]> {
    const RECENT_ROWS: usize = 64;
    let rows = backup.messages.len();
    let mut ids: Vec<u32> = Vec::with_capacity(RECENT_ROWS);
    for row in rows.saturating_sub(RECENT_ROWS)..rows {
        if let Some(message) = backup.messages.row(row) {
            if !ids.contains(&message.subject_id) {
                ids.push(message.subject_id);
            }
        }
    }
    found
        .into_iter()
        .chain(ids.iter().map(|&id| backup.subjects.name(id).as_bytes()))
        .collect()
}

/// A message entry from intact bytes whose sequence is at or below ones recorded
/// from damaged bytes (a failed S2 CRC, a damaged header block): those rows (every row from `first_untrusted_row`
/// on with a sequence ≥ `sequence`) are garbage that happened to parse, so they are
/// taken back and the entry is in order after all. Returns the sequence to continue
/// from, or `None` when an intact row is among them (then the entry is really out
/// of order).
pub(super) fn take_back_untrusted(
    backup: &mut Backup,
    first_untrusted_row: usize,
    sequence: u64,
    offset: u64,
) -> Option<u64> {
    let cut = backup.messages.lower_bound(sequence);
    if cut < first_untrusted_row || cut >= backup.messages.len() {
        return None;
    }
    let before = cut
        .checked_sub(1)
        .and_then(|row| backup.messages.seq.get(row).copied())
        .unwrap_or(0);
    let taken: Vec<u64> = backup.messages.seq.get(cut..).unwrap_or_default().to_vec();
    backup.messages.truncate_from(cut);
    if let (Some(first), Some(last)) = (taken.first(), taken.last()) {
        backup.findings.push(
            Finding::error(
                FindingKind::SequenceOrder,
                format!(
                    "{} entr{} read from damaged bytes (a chunk that fails its S2 CRC, or a header block that is not NATS/1.0) claimed sequence {first}..{last}, but the intact entry at decompressed offset {offset} has sequence {sequence}: they are garbage that parsed, and are not kept",
                    taken.len(),
                    if taken.len() == 1 { "y" } else { "ies" }
                ),
            )
            .seq(*first)
            .offset(offset),
        );
    }
    Some(before)
}

/// state.json's consumer count against the consumer entries read.
pub(super) fn check_consumer_count(backup: &mut Backup, declared: Option<u64>) {
    let consumers_found = backup.consumers.len() as u64;
    if let Some(declared) = declared.filter(|&declared| declared != consumers_found) {
        backup.findings.push(
            Finding::error(
                FindingKind::ConsumerCountMismatch,
                format!(
                    "state.json declares {declared} consumers but the archive holds {consumers_found} consumer entries (a restore fails with \"expected consumer\")"
                ),
            )
            .entry("state.json"),
        );
    }
}
