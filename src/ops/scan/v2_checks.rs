//! Checks on v2 entries that need no stream: whether a message header can be real
//! (subject, sizes, sequence, time span), and the findings that mark suspect bytes.

use crate::format::headers::{flags, Ttl};
use crate::format::v2::{self, EntryHeader, Expectation};
use crate::model::{Backup, Finding, FindingKind, StreamState};

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
