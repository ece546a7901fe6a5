//! v2 message rows: an entry's row with its findings, and the entries from failed
//! S2 chunks that read as out of order behind a garbage sequence, kept aside until
//! an intact entry shows that garbage for what it is.

use super::v2_checks::note_invalid_ttl;
use super::DEFAULT_MAX_PAYLOAD;
use crate::format::headers::{self, flags, Ttl};
use crate::format::v2::EntryHeader;
use crate::model::{Backup, Finding, FindingKind, MessageRow};

/// An entry's row (subject not yet interned) and TTL. A stored header block
/// always starts with the NATS/1.0 status line; without it the sizes that placed
/// the entry are wrong (v2 has no message checksum), so the row is DAMAGED.
fn entry_row(header: &EntryHeader, header_block: &[u8]) -> (MessageRow, Ttl) {
    let (mut message_flags, ttl) = headers::classify(header_block);
    if header_block_damaged(header, header_block) {
        message_flags |= flags::DAMAGED;
    }
    let row = MessageRow {
        seq: header.sequence,
        ts_ns: header.timestamp_ns,
        subject_id: 0,
        hdr_len: header.header_size as u32,
        data_len: header.payload_size.min(u64::from(u32::MAX)) as u32,
        offset: header.data_offset,
        flags: message_flags,
    };
    (row, ttl)
}

fn header_block_damaged(header: &EntryHeader, header_block: &[u8]) -> bool {
    header.header_size > 0 && !header_block.starts_with(b"NATS/1.0")
}

/// Adds an in-order message entry to the message table, with its size findings;
/// returns the row's flags.
pub(super) fn record_message(
    backup: &mut Backup,
    header: &EntryHeader,
    header_block: &[u8],
    max_msg_size: Option<i64>,
) -> u16 {
    let name = || header.name_lossy();
    let total = header.data_len();
    if total > DEFAULT_MAX_PAYLOAD {
        backup.findings.push(
            Finding::warning(
                FindingKind::MessageSize,
                format!("sequence {} is {total} bytes, above the default max_payload of 1 MiB: a restore into a server with default limits fails", header.sequence),
            )
            .entry(name())
            .seq(header.sequence)
            .offset(header.offset),
        );
    }
    if let Some(limit) = max_msg_size {
        if total > limit as u64 {
            backup.findings.push(
                Finding::warning(
                    FindingKind::MessageSize,
                    format!(
                        "sequence {} is {total} bytes, above the stream's max_msg_size {limit}",
                        header.sequence
                    ),
                )
                .entry(name())
                .seq(header.sequence)
                .offset(header.offset),
            );
        }
    }
    let (row, ttl) = entry_row(header, header_block);
    if header_block_damaged(header, header_block) {
        backup.findings.push(
            Finding::error(
                FindingKind::EntryHeader,
                format!(
                    "sequence {}: its header block does not start with NATS/1.0: the entry's bytes are damaged",
                    header.sequence
                ),
            )
            .entry(name())
            .seq(header.sequence)
            .offset(header.offset),
        );
    }
    if ttl == Ttl::Invalid {
        note_invalid_ttl(backup, ttl, header.sequence, &name(), header.offset);
    }
    let subject_id = backup.subjects.intern(&header.name);
    if ttl != Ttl::None {
        backup.messages.ttls.push((header.sequence, ttl));
    }
    backup.messages.push(MessageRow { subject_id, ..row });
    row.flags
}

/// Entries set aside at most, and the name bytes they may hold: beyond that they
/// stay counted as lost (a crafted archive repeats entries cheaply).
const MAX_SET_ASIDE: usize = 65_536;
const MAX_SET_ASIDE_NAME_BYTES: usize = 16 << 20;

/// Entries from failed S2 chunks that read as out of order. When an intact entry
/// then shows the rows before them were garbage, those in order after the last
/// credible row are messages (suspect, as their chunk failed), not lost ones.
#[derive(Default)]
pub(super) struct SetAside {
    entries: Vec<SetAsideEntry>,
    name_bytes: usize,
}

struct SetAsideEntry {
    name: Vec<u8>,
    row: MessageRow,
}

impl SetAside {
    pub(super) fn push(&mut self, header: &EntryHeader, header_block: &[u8]) {
        if self.entries.len() >= MAX_SET_ASIDE
            || self.name_bytes + header.name.len() > MAX_SET_ASIDE_NAME_BYTES
        {
            return;
        }
        self.name_bytes += header.name.len();
        self.entries.push(SetAsideEntry {
            name: header.name.clone(),
            row: entry_row(header, header_block).0,
        });
    }

    pub(super) fn clear(&mut self) {
        self.entries.clear();
        self.name_bytes = 0;
    }

    /// Adds the entries set aside whose sequences run in order from above `after`
    /// to below `below`; returns the last sequence added (`after` when none).
    pub(super) fn bring_back(&mut self, backup: &mut Backup, after: u64, below: u64) -> u64 {
        let mut last = after;
        let mut brought = 0usize;
        let mut first = below;
        for entry in self.entries.drain(..) {
            if entry.row.seq > last && entry.row.seq < below {
                first = first.min(entry.row.seq);
                last = entry.row.seq;
                brought += 1;
                let subject_id = backup.subjects.intern(&entry.name);
                backup.messages.push(MessageRow {
                    subject_id,
                    ..entry.row
                });
            }
        }
        self.name_bytes = 0;
        // The garbage took the place of what was there: lost, not deleted.
        if first > after.saturating_add(1) {
            backup.findings.push(
                Finding::error(
                    FindingKind::LostData,
                    format!(
                        "sequences {}..{} are not in the readable bytes: garbage entries stand where they were",
                        after + 1,
                        first - 1
                    ),
                )
                .seq(after + 1),
            );
        }
        if brought > 0 {
            backup.findings.push(
                Finding::warning(
                    FindingKind::SequenceOrder,
                    format!(
                        "{brought} entr{} from bytes that fail their S2 CRC (up to sequence {last}) read as out of order behind that garbage; in order after it, they are listed as suspect messages",
                        if brought == 1 { "y" } else { "ies" }
                    ),
                )
                .seq(after.saturating_add(1)),
            );
        }
        last
    }
}
