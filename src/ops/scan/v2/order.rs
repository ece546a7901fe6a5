//! Where a v2 message entry goes: in order, out of order, or (its sizes damaged)
//! not at all; and how far below the last row a resync may look.

use super::super::v2_checks::{settle_boundary, take_back_untrusted, LastMessage};
use super::super::v2_rows::record_message;
use super::super::MAX_REPEATED_FINDINGS;
use super::{EntryLoop, Step};
use crate::format::headers::flags;
use crate::format::s2::{ChunkSource, DecodedStream, LOOKBACK};
use crate::format::v2::{self, EntryHeader};
use crate::model::{Backup, Finding, FindingKind};

/// Data lengths the checks of what follows an entry look at (they read that far
/// ahead): above that, a message is read as it says.
const MAX_CHECKED_DATA: u64 = 8 << 20;

/// Does a readable entry start at the front of `after`: the end sentinel, or a
/// plausible message entry meeting one of `expects`?
fn entry_starts(after: &[u8], expects: &[v2::Expectation]) -> bool {
    v2::parse_entry_header(after, 0)
        .ok()
        .flatten()
        .is_some_and(|(next, _)| next.is_sentinel())
        || expects
            .iter()
            .any(|expect| v2::plausible_message_header(after, expect).is_some())
}

impl EntryLoop {
    /// Puts a message entry read in full (header block and sizes sound) in order:
    /// rows from damaged bytes it shows to be garbage are taken back; an entry out
    /// of order is reported (and, from failed bytes, set aside); one in order is
    /// recorded.
    pub(super) fn place_message(
        &mut self,
        backup: &mut Backup,
        header: &EntryHeader,
        untrusted: bool,
    ) -> Step {
        let name = || header.name_lossy();
        let previous_seq = self.previous_seq;
        // Out of order after rows from failed bytes only: those rows are garbage.
        if header.sequence <= previous_seq && !untrusted {
            let taken =
                take_back_untrusted(backup, self.trusted_rows, header.sequence, header.offset);
            if let Some(before) = taken {
                self.previous_seq = self.set_aside.bring_back(backup, before, header.sequence);
            }
        }
        let previous_seq = self.previous_seq;
        if header.sequence <= previous_seq {
            if self.too_many_fruitless(backup, header.offset) {
                return Step::Stop;
            }
            self.out_of_order += 1;
            if untrusted {
                self.set_aside.push(header, &self.header_scratch);
            }
            if self.out_of_order <= MAX_REPEATED_FINDINGS {
                backup.findings.push(
                    Finding::error(
                        FindingKind::SequenceOrder,
                        format!("message sequence {} out of order (after {previous_seq}); a restore aborts here", header.sequence),
                    )
                    .entry(name())
                    .seq(header.sequence)
                    .offset(header.offset),
                );
            }
            return Step::Next;
        }
        self.previous_seq = header.sequence;
        // Bytes lost inside its sizes can put the next entry's start inside its
        // name: a look-back may go to just after its first byte.
        self.previous_data_offset = header.offset.saturating_add(1);
        self.last_message = Some(LastMessage {
            sequence: header.sequence,
            data_start: header.data_offset,
            end: header.data_offset.saturating_add(header.data_len()),
            timestamp_ns: header.timestamp_ns,
        });
        let row_flags = record_message(backup, header, &self.header_scratch, self.max_msg_size);
        // A damaged row's sequence came from bad bytes too: it must not steer.
        let damaged = row_flags & flags::DAMAGED != 0;
        if !untrusted {
            self.set_aside.clear();
        }
        if !untrusted && !damaged {
            self.trusted_rows = backup.messages.len();
        }
        Step::Next
    }

    /// A message whose data is longer than the look-back (bytes that stay readable
    /// behind the read position): when no entry starts where it says it ends, but
    /// confirmed entries start inside its data, its sizes are damaged. It is lost,
    /// and the entries inside are read instead of being skipped with it (a resync
    /// from its end could not step back to them). `None`: read it as usual.
    pub(super) fn oversized_entry<S: ChunkSource>(
        &mut self,
        stream: &mut DecodedStream<S>,
        backup: &mut Backup,
        header: &EntryHeader,
    ) -> Option<Step> {
        let data_len = header.data_len();
        if data_len <= (LOOKBACK / 2) as u64 || data_len > MAX_CHECKED_DATA {
            return None;
        }
        let data_len = data_len as usize;
        let at_stop = stream.fill(data_len + 64).is_err();
        let expect = self.expectation(backup);
        let buffered = stream.buffered();
        if let Some(after) = buffered.get(data_len..).filter(|after| !after.is_empty()) {
            if entry_starts(after, &[expect.after(header.sequence)]) {
                return None;
            }
        } else if at_stop && buffered.len() == data_len {
            return None;
        }
        // Candidates only inside its data: each byte is searched once here.
        let v2::EntrySearch::Found { at, sequence } =
            v2::find_entry_start_until(buffered, 0, data_len, &expect, at_stop)
        else {
            return None;
        };
        let why = format!(
            "sequence {} at decompressed offset {} declares {data_len} bytes of data, but no entry starts where they end and confirmed entries start {at} bytes into them (sequence {sequence}): its sizes are damaged, so it is lost, and the entries inside are read",
            header.sequence, header.offset
        );
        Some(self.read_entries_inside(stream, backup, header, at, sequence, why))
    }

    /// A message whose sizes are damaged: it is lost (`why`), and reading goes on
    /// at the entry for `sequence` found `at` bytes into its data.
    fn read_entries_inside<S: ChunkSource>(
        &mut self,
        stream: &mut DecodedStream<S>,
        backup: &mut Backup,
        header: &EntryHeader,
        at: usize,
        sequence: u64,
        why: String,
    ) -> Step {
        self.hold_boundary(stream, header.offset);
        backup.findings.push(
            Finding::error(FindingKind::LostData, why)
                .seq(header.sequence)
                .offset(header.offset),
        );
        // `at` lies inside the buffered bytes: the skip cannot fail.
        let _ = stream.skip(at as u64);
        settle_boundary(stream, backup, self.held_boundary.take(), Some(sequence));
        Step::Next
    }

    /// A short message (its data within the look-back) followed by an entry that
    /// skips sequences: when whole plausible entries with sequences in that gap sit
    /// inside its data and end exactly where it ends, bytes were lost inside its
    /// header and the damaged sizes swallowed them (v2 has no per-message
    /// checksum; nothing else shows it). It is lost, and the entries inside are
    /// read. `None`: read it as usual.
    pub(super) fn swallowing_entry<S: ChunkSource>(
        &mut self,
        stream: &mut DecodedStream<S>,
        backup: &mut Backup,
        header: &EntryHeader,
    ) -> Option<Step> {
        let data_len = usize::try_from(header.data_len()).ok()?;
        if data_len > LOOKBACK / 2 || data_len == 0 {
            return None;
        }
        // A fill that stops early leaves fewer bytes: then nothing follows to compare.
        let _ = stream.fill(data_len + 64);
        let buffered = stream.buffered();
        let (next, _) = v2::parse_entry_header(buffered.get(data_len..)?, 0).ok()??;
        if next.is_sentinel() || next.sequence <= header.sequence.saturating_add(1) {
            return None;
        }
        let expect = self.expectation(backup).after(header.sequence);
        let (at, sequence) = v2::swallowed_entries(buffered, data_len, &expect, next.sequence)?;
        let why = format!(
            "sequence {} at decompressed offset {} declares {data_len} bytes of data that hold whole entries from byte {at} of them (sequence {sequence} on) to their end, where sequence {} starts: bytes were lost inside its header, so it is lost, and the entries inside are read",
            header.sequence, header.offset, next.sequence
        );
        Some(self.read_entries_inside(stream, backup, header, at, sequence, why))
    }

    /// An entry from intact bytes whose sequence is not above the last one read,
    /// after which nothing readable starts where it says it ends (no plausible
    /// entry above either sequence, no sentinel, not the end of the stream): its
    /// header is damaged bytes that parsed, and skipping its data would skip the
    /// entries inside it. Resynchronises from it instead. `None`: read it as usual.
    pub(super) fn out_of_order_garbage<S: ChunkSource>(
        &mut self,
        stream: &mut DecodedStream<S>,
        backup: &mut Backup,
        header: &EntryHeader,
    ) -> Option<Step> {
        if header.sequence > self.previous_seq || header.data_len() > MAX_CHECKED_DATA {
            return None;
        }
        let data_len = header.data_len() as usize;
        // Entries from failed chunks are set aside instead (`place_message`).
        let end = header.data_offset.saturating_add(header.data_len());
        if super::super::damaged_range_end(&stream.chunks.chunks, header.offset, end).is_some() {
            return None;
        }
        let at_stop = stream.fill(data_len + 64).is_err();
        let buffered = stream.buffered();
        let after = match buffered.get(data_len..) {
            Some(after) => after,
            // Its data would run past the end of what can be read: garbage sizes.
            None if at_stop => &[],
            None => return None,
        };
        if after.is_empty() && at_stop && buffered.len() == data_len {
            return None;
        }
        let expect = self.expectation(backup);
        let readable = entry_starts(after, &[expect.after(header.sequence), expect])
            // Too few bytes in view to tell: read it as usual.
            || (!at_stop && after.len() < 64);
        if readable {
            return None;
        }
        self.hold_boundary(stream, header.offset);
        // The server stops here on the sequence: a finding of that kind, so the
        // restore prediction names it.
        let finding = Finding::error(
            FindingKind::SequenceOrder,
            format!(
                "message sequence {} out of order (after {}) at decompressed offset {}, and no entry starts where its {data_len} bytes of data end: its header is damaged bytes, so the search for the next entry starts inside it; a restore aborts here",
                header.sequence, self.previous_seq, header.offset
            ),
        )
        .entry(header.name_lossy())
        .seq(header.sequence)
        .offset(header.offset);
        self.rewind_before(stream, header.offset);
        Some(self.report_and_resync(stream, backup, finding))
    }

    /// The sequence of the last row from credible bytes (intact chunks, a sound
    /// header block), or the last sequence read when every row is credible.
    pub(super) fn credible_floor(&self, backup: &Backup) -> u64 {
        if self.trusted_rows >= backup.messages.len() {
            return self.previous_seq;
        }
        self.trusted_rows
            .checked_sub(1)
            .and_then(|row| backup.messages.seq.get(row).copied())
            .unwrap_or(0)
    }
}
