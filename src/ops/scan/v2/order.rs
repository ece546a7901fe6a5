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
        self.previous_data_offset = header.data_offset;
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
        /// Data lengths looked at: above that, a message is read as it says.
        const MAX_CHECKED_DATA: u64 = 8 << 20;
        let data_len = header.data_len();
        if data_len <= (LOOKBACK / 2) as u64 || data_len > MAX_CHECKED_DATA {
            return None;
        }
        let data_len = data_len as usize;
        let at_stop = stream.fill(data_len + 64).is_err();
        let expect = self.expectation(backup);
        let buffered = stream.buffered();
        if let Some(after) = buffered.get(data_len..).filter(|after| !after.is_empty()) {
            let sentinel = v2::parse_entry_header(after, 0)
                .ok()
                .flatten()
                .is_some_and(|(next, _)| next.is_sentinel());
            if sentinel
                || v2::plausible_message_header(after, &expect.after(header.sequence)).is_some()
            {
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
        self.hold_boundary(stream, header.offset);
        backup.findings.push(
            Finding::error(
                FindingKind::LostData,
                format!(
                    "sequence {} at decompressed offset {} declares {data_len} bytes of data, but no entry starts where they end and confirmed entries start {at} bytes into them (sequence {sequence}): its sizes are damaged, so it is lost, and the entries inside are read",
                    header.sequence, header.offset
                ),
            )
            .seq(header.sequence)
            .offset(header.offset),
        );
        // `at` lies inside the buffered bytes: the skip cannot fail.
        let _ = stream.skip(at as u64);
        settle_boundary(stream, backup, self.held_boundary.take(), Some(sequence));
        Some(Step::Next)
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
