//! The v2 scan: reads a `NATSARC1` entry stream (state.json, consumers, messages,
//! sentinel) into the model, and decides when to resynchronise after bad bytes
//! (the byte search itself is `format::v2::resync`).

use super::consumers::parse_v2_consumer;
use super::v2_checks::{
    check_consumer_count, hold_boundary, implausible_message, json_error_offset, settle_boundary,
    timestamp_range, HeldBoundary, LastMessage,
};
use super::v2_rows::SetAside;
use super::{budget, report_progress, OpenError, Scan, ScanControl, MAX_REPEATED_FINDINGS};
use crate::format::s2::{ChunkSource, DecodedStream, StreamStop, LOOKBACK};
use crate::format::v2::{self, EntryError, EntryHeader, Expectation, Resync};
use crate::model::{Backup, EntryInfo, Finding, FindingKind, Severity, StreamConfig, StreamState};
use serde_json::Value;

mod order;

/// Whether the entry loop goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Next,
    Stop,
}

/// The entry loop's running state.
struct EntryLoop {
    entry_number: u64,
    out_of_order: u64,
    previous_seq: u64,
    seen_message: bool,
    header_scratch: Vec<u8>,
    max_msg_size: Option<i64>,
    /// Entries a restore cannot use (misplaced, duplicate, out of order), see [`MAX_FRUITLESS_ENTRIES`].
    fruitless: u64,
    seen_state: bool,
    /// Just past the first byte of the last message entry read (or of the last
    /// candidate a resync found): a resync after bad bytes looks back to here at
    /// most (the entry after a damaged one can start before where the damaged one
    /// said it ended, even inside its name when its sizes lost bytes).
    previous_data_offset: u64,
    /// Where the bad bytes the next resync starts after were found (the search
    /// itself starts a little before, in case the entry before swallowed them).
    bad_at: Option<u64>,
    /// The last message entry recorded.
    last_message: Option<LastMessage>,
    /// Bad bytes right where the last message ended: whether it is damaged too is
    /// decided once the resync has found what follows.
    held_boundary: Option<HeldBoundary>,
    /// Rows recorded up to and including the last entry from intact bytes.
    trusted_rows: usize,
    /// Offsets the resyncs of this scan have examined (bounded by the bytes read).
    search_budget: v2::SearchBudget,
    /// Out-of-order entries from failed chunks since the last intact entry.
    set_aside: SetAside,
}

/// Entries a restore cannot use that the scan reads before it stops: the server's
/// restore fails at the first of them, and a crafted archive repeats one such entry
/// millions of times in a few bytes (S2 compresses repetition), which would cost
/// seconds per million entries and tell nothing new.
const MAX_FRUITLESS_ENTRIES: u64 = 1_000_000;

pub(super) fn scan_v2<S: ChunkSource>(
    stream: &mut DecodedStream<S>,
    backup: &mut Backup,
    scan: &mut Scan,
    control: &mut ScanControl,
    start_readable: bool,
) -> Result<(), OpenError> {
    if start_readable {
        if let Err(message) = v2::read_magic(stream) {
            backup
                .findings
                .push(Finding::error(FindingKind::NotAnArchive, message).offset(0));
            return Ok(());
        }
    }
    let max_msg_size = backup
        .config
        .as_ref()
        .and_then(StreamConfig::max_msg_size_limit);
    let mut entries = EntryLoop {
        entry_number: 0,
        out_of_order: 0,
        previous_seq: 0,
        seen_message: false,
        header_scratch: Vec::new(),
        max_msg_size,
        fruitless: 0,
        seen_state: false,
        previous_data_offset: 0,
        bad_at: None,
        last_message: None,
        held_boundary: None,
        trusted_rows: 0,
        search_budget: v2::SearchBudget::default(),
        set_aside: SetAside::default(),
    };
    let mut step = Step::Next;
    if !start_readable {
        backup.findings.push(
            Finding::error(
                FindingKind::LostData,
                "the start of the archive (NATSARC1 magic, state.json, consumers) is not readable: reading resumes at the first message entries that line up; the config comes from backup.json",
            )
            .seq(
                backup
                    .declared_state
                    .as_ref()
                    .map_or(1, |state| state.first_seq.max(1)),
            )
            .offset(0),
        );
        step = entries.resync(stream, backup);
    }
    while step == Step::Next {
        report_progress(stream, backup, scan, control)?;
        step = entries.next_entry(stream, backup, scan);
    }
    entries.finish(backup, scan);
    Ok(())
}

impl EntryLoop {
    /// Reads one entry (or handles why none could be read).
    fn next_entry<S: ChunkSource>(
        &mut self,
        stream: &mut DecodedStream<S>,
        backup: &mut Backup,
        scan: &mut Scan,
    ) -> Step {
        let header = match v2::next_entry_header(stream) {
            Ok(header) => header,
            Err(error) => return self.entry_error(stream, backup, error),
        };
        self.entry_number += 1;
        // A sentinel read out of bytes that fail their chunk's CRC (a chunk that
        // decodes to zeros looks like one) does not end the backup: reading resumes
        // after them. Other entries there are read if plausible, and marked damaged.
        let bad_end = header
            .is_sentinel()
            .then(|| {
                super::damaged_range_end(&stream.chunks.chunks, header.offset, header.data_offset)
            })
            .flatten();
        if let Some(end) = bad_end {
            let skip = end.saturating_sub(stream.pos());
            // Running into the end or a gap here is what the resync below handles.
            let _ = stream.skip(skip);
            let finding = Finding::error(
                FindingKind::LostData,
                format!(
                    "an end-of-backup sentinel at decompressed offset {} was read from bytes that fail their S2 chunk's CRC (up to offset {end}): it is not believed, reading resumes after them",
                    header.offset
                ),
            )
            .seq(self.previous_seq.saturating_add(1))
            .offset(header.offset);
            return self.report_and_resync(stream, backup, finding);
        }
        if header.sequence == 0 {
            return self.meta_entry(stream, backup, scan, &header);
        }
        self.message_entry(stream, backup, &header)
    }

    fn entry_error<S: ChunkSource>(
        &mut self,
        stream: &mut DecodedStream<S>,
        backup: &mut Backup,
        error: EntryError,
    ) -> Step {
        let previous_seq = self.previous_seq;
        match error {
            EntryError::CleanEnd => {
                backup.findings.push(
                    Finding::error(
                        FindingKind::MissingSentinel,
                        format!(
                            "archive ends after {} entries without the end-of-backup sentinel: the backup is truncated or incomplete (a restore fails with EOF)",
                            self.entry_number
                        ),
                    )
                    .offset(stream.pos())
                    .seq(previous_seq),
                );
                Step::Stop
            }
            EntryError::TruncatedHeader { offset } => {
                self.rewind_before(stream, offset);
                if ends_in_sentinel(stream) {
                    let finding = Finding::error(
                        FindingKind::EntryHeader,
                        format!("the entry header after sequence {previous_seq} runs past the end of the archive, yet the archive ends with an end-of-backup sentinel: damaged bytes, not a truncation"),
                    )
                    .seq(previous_seq.saturating_add(1))
                    .offset(offset);
                    self.hold_boundary(stream, offset);
                    return self.report_and_resync(stream, backup, finding);
                }
                backup.findings.push(
                    Finding::error(
                        FindingKind::EntryTruncated,
                        format!(
                            "archive ends inside an entry header (after sequence {previous_seq})"
                        ),
                    )
                    .offset(offset),
                );
                Step::Stop
            }
            EntryError::BadHeader { offset, reason } => {
                let finding = Finding::error(
                    FindingKind::EntryHeader,
                    format!("invalid entry header after sequence {previous_seq}: {reason}"),
                )
                .offset(offset);
                self.hold_boundary(stream, offset);
                self.rewind_before(stream, offset);
                self.report_and_resync(stream, backup, finding)
            }
            EntryError::Discontinuity { .. } => self.resync(stream, backup),
        }
    }

    /// A sequence-0 entry: the sentinel, state.json, a consumer, or something misplaced.
    fn meta_entry<S: ChunkSource>(
        &mut self,
        stream: &mut DecodedStream<S>,
        backup: &mut Backup,
        scan: &mut Scan,
        header: &EntryHeader,
    ) -> Step {
        if header.is_sentinel() {
            if stream.peek(1).is_ok_and(|bytes| !bytes.is_empty()) {
                backup.findings.push(
                    Finding::warning(
                        FindingKind::EntryOrder,
                        "bytes follow the end-of-backup sentinel",
                    )
                    .offset(stream.pos()),
                );
            }
            scan.saw_end = true;
            return Step::Stop;
        }
        let size = header.data_len();
        let named = header.name == b"state.json" || header.name.starts_with(b"consumers/");
        if self.seen_message && !named {
            // After message entries only messages and the sentinel follow: this is
            // damaged bytes read as an entry, and its size says nothing.
            let finding = Finding::error(
                FindingKind::EntryHeader,
                format!(
                    "the entry at decompressed offset {} (after sequence {}) has sequence 0 but is no sentinel, state.json or consumer: damaged bytes",
                    header.offset, self.previous_seq
                ),
            )
            .seq(self.previous_seq.saturating_add(1))
            .offset(header.offset);
            self.hold_boundary(stream, header.offset);
            self.rewind_before(stream, header.offset);
            return self.report_and_resync(stream, backup, finding);
        }
        if size > v2::MAX_META_ENTRY {
            let finding = Finding::error(
                FindingKind::EntryHeader,
                format!("entry {:?} declares {size} bytes", header.name_lossy()),
            )
            .entry(header.name_lossy())
            .offset(header.offset);
            return self.report_and_resync(stream, backup, finding);
        }
        let is_state = header.name == b"state.json" && !self.seen_state;
        let is_consumer = header.name.starts_with(b"consumers/");
        if !is_state && !is_consumer {
            return self.misplaced_entry(stream, backup, header);
        }
        let name = header.name_lossy();
        if size > budget::MAX_V2_META_ENTRY {
            backup.findings.push(
                Finding::error(
                    FindingKind::TooLarge,
                    format!("entry {name:?} is {size} bytes, more than the {} bytes of JSON the server accepts in an API request (max_payload; it warns above 8 MiB): skipped, not read", budget::MAX_V2_META_ENTRY),
                )
                .entry(name)
                .offset(header.offset),
            );
            return self.skip_data(stream, backup, size);
        }
        if let Some(consumer_name) = name.strip_prefix("consumers/") {
            if let Some(step) = self.admit_consumer(stream, backup, scan, header, consumer_name) {
                return step;
            }
        }
        let data = match stream.take(size as usize) {
            Ok(data) => data.to_vec(),
            Err(stop) => {
                backup.findings.push(
                    Finding::error(
                        FindingKind::EntryTruncated,
                        format!("entry {name:?} declares {size} bytes but the archive ends first"),
                    )
                    .entry(name.clone())
                    .offset(header.offset),
                );
                if stop == StreamStop::Discontinuity {
                    return self.resync(stream, backup);
                }
                return Step::Stop;
            }
        };
        backup.entries.push(EntryInfo {
            name: name.clone(),
            header_offset: header.offset,
            data_offset: header.data_offset,
            size,
        });
        if is_state {
            self.seen_state = true;
            self.state_json(backup, scan, header, &data);
        } else if let Some(consumer_name) = name.strip_prefix("consumers/") {
            self.check_consumer_position(backup, &name, header);
            parse_v2_consumer(backup, consumer_name, &name, &data, header.data_offset);
        }
        Step::Next
    }

    /// A consumer entry: a second one of the same name is reported and skipped
    /// (a restore would fail on it); the first is charged to the memory budget.
    /// `Some(step)` when the entry is not to be read.
    fn admit_consumer<S: ChunkSource>(
        &mut self,
        stream: &mut DecodedStream<S>,
        backup: &mut Backup,
        scan: &mut Scan,
        header: &EntryHeader,
        consumer_name: &str,
    ) -> Option<Step> {
        let name = header.name_lossy();
        let size = header.data_len();
        if scan.consumer_names.contains(consumer_name) {
            if backup.findings.stores(FindingKind::ConsumerMeta) {
                backup.findings.push(
                    Finding::error(
                        FindingKind::ConsumerMeta,
                        format!("consumer {consumer_name:?} appears more than once: a restore creates it once and fails on the next (only the first is kept)"),
                    )
                    .entry(name.clone())
                    .offset(header.offset),
                );
            } else {
                backup
                    .findings
                    .count_only(FindingKind::ConsumerMeta, Severity::Error);
            }
            if self.too_many_fruitless(backup, header.offset) {
                return Some(Step::Stop);
            }
            return Some(self.skip_data(stream, backup, size));
        }
        // Held: the JSON as parsed, its name twice and the entry row.
        let held = size
            .saturating_mul(2)
            .saturating_add(256 + 2 * name.len() as u64);
        if !scan
            .budget
            .charge(backup, held, &format!("consumer {consumer_name:?}"))
        {
            return Some(Step::Stop);
        }
        scan.consumer_names.insert(consumer_name.to_string());
        None
    }

    /// A sequence-0 entry that is neither state.json, a consumer nor the sentinel:
    /// listed (up to the findings cap) and skipped, its bytes never held.
    fn misplaced_entry<S: ChunkSource>(
        &mut self,
        stream: &mut DecodedStream<S>,
        backup: &mut Backup,
        header: &EntryHeader,
    ) -> Step {
        if backup.findings.stores(FindingKind::EntryOrder) {
            let name = header.name_lossy();
            backup.entries.push(EntryInfo {
                name: name.clone(),
                header_offset: header.offset,
                data_offset: header.data_offset,
                size: header.data_len(),
            });
            backup.findings.push(
                Finding::error(
                    FindingKind::EntryOrder,
                    format!("entry {name:?} has sequence 0 but is neither the first state.json, a consumer nor the sentinel (a restore fails with \"expected message sequence\")"),
                )
                .entry(name)
                .offset(header.offset),
            );
        } else {
            backup
                .findings
                .count_only(FindingKind::EntryOrder, Severity::Error);
        }
        if self.too_many_fruitless(backup, header.offset) {
            return Step::Stop;
        }
        self.skip_data(stream, backup, header.data_len())
    }

    /// Counts an entry a restore cannot use; true (with a finding) when the scan should stop.
    fn too_many_fruitless(&mut self, backup: &mut Backup, offset: u64) -> bool {
        self.fruitless += 1;
        if self.fruitless <= MAX_FRUITLESS_ENTRIES {
            return false;
        }
        backup.findings.push(
            Finding::error(
                FindingKind::EntryOrder,
                format!("the scan stopped after {} entries a restore cannot use (sequence-0 entries out of place, duplicate consumers, sequences out of order); a restore fails at the first of them; what follows is not read", crate::model::findings::group_thousands(MAX_FRUITLESS_ENTRIES)),
            )
            .offset(offset),
        );
        true
    }

    /// Skips an entry's data; running into the end or lost bytes is reported as for any entry.
    fn skip_data<S: ChunkSource>(
        &mut self,
        stream: &mut DecodedStream<S>,
        backup: &mut Backup,
        size: u64,
    ) -> Step {
        let from = stream.pos();
        match stream.skip(size) {
            Ok(()) => Step::Next,
            Err((_, StreamStop::Discontinuity)) => self.resync(stream, backup),
            Err((_, StreamStop::End)) => {
                backup.findings.push(
                    Finding::error(
                        FindingKind::EntryTruncated,
                        format!("an entry declares {size} bytes but the archive ends first"),
                    )
                    .offset(from),
                );
                Step::Stop
            }
        }
    }

    fn state_json(&self, backup: &mut Backup, scan: &mut Scan, header: &EntryHeader, data: &[u8]) {
        if self.entry_number != 1 {
            backup.findings.push(
                Finding::error(FindingKind::EntryOrder, "state.json is not the first entry")
                    .entry("state.json")
                    .offset(header.offset),
            );
        }
        backup.snapshot_time_ns = Some(header.timestamp_ns);
        match serde_json::from_slice::<Value>(data) {
            Ok(value) => {
                for field in ["messages", "bytes", "first_seq", "last_seq", "consumer_count"] {
                    if value.get(field).and_then(Value::as_u64).is_none() {
                        backup.findings.push(
                            Finding::warning(FindingKind::StateJson, format!("state.json lacks the numeric field {field:?}"))
                                .entry("state.json")
                                .offset(header.data_offset),
                        );
                    }
                }
                backup.archive_state = StreamState::from_json(&value);
                scan.declared_consumers = value.get("consumer_count").and_then(Value::as_u64);
            }
            Err(error) => backup.findings.push(
                Finding::error(FindingKind::StateJson, format!("state.json is not valid JSON ({error}); a restore fails with \"error in state.json\""))
                    .entry("state.json")
                    .offset(header.data_offset + json_error_offset(data, &error)),
            ),
        }
    }

    fn check_consumer_position(&self, backup: &mut Backup, name: &str, header: &EntryHeader) {
        if self.entry_number == 1 {
            backup.findings.push(
                Finding::error(FindingKind::EntryOrder, "the first entry is not state.json (a restore fails with \"expected state.json first\")")
                    .entry(name.to_string())
                    .offset(header.offset),
            );
        }
        if self.seen_message {
            backup.findings.push(
                Finding::error(
                    FindingKind::EntryOrder,
                    "consumer entry after message entries",
                )
                .entry(name.to_string())
                .offset(header.offset),
            );
        }
    }

    /// A message entry: checked for plausibility, its header block read, its payload skipped.
    fn message_entry<S: ChunkSource>(
        &mut self,
        stream: &mut DecodedStream<S>,
        backup: &mut Backup,
        header: &EntryHeader,
    ) -> Step {
        let previous_seq = self.previous_seq;
        // Built only when a finding needs it: most entries never do.
        let name = || header.name_lossy();
        // If it does not look like a message entry, the bytes here are corrupt.
        let expect = self.expectation(backup);
        if let Some(reason) = implausible_message(header, &expect, backup.archive_state.as_ref()) {
            self.hold_boundary(stream, header.offset);
            let finding = Finding::error(
                FindingKind::EntryHeader,
                format!("the entry at decompressed offset {} (after sequence {previous_seq}) is not a plausible message entry: {reason}", header.offset),
            )
            .seq(previous_seq.saturating_add(1))
            .offset(header.offset);
            self.rewind_before(stream, header.offset);
            return self.report_and_resync(stream, backup, finding);
        }
        if self.entry_number == 1 {
            backup.findings.push(
                Finding::error(
                    FindingKind::EntryOrder,
                    "the first entry is a message, not state.json",
                )
                .entry(name())
                .seq(header.sequence)
                .offset(header.offset),
            );
        }
        self.seen_message = true;
        if header.header_size > v2::MAX_HEADER_BLOCK {
            let finding = Finding::error(
                FindingKind::EntryHeader,
                format!(
                    "sequence {} declares a {}-byte header block",
                    header.sequence, header.header_size
                ),
            )
            .entry(name())
            .seq(header.sequence)
            .offset(header.offset);
            self.hold_boundary(stream, header.offset);
            self.rewind_before(stream, header.offset);
            return self.report_and_resync(stream, backup, finding);
        }
        if let Some(step) = self.oversized_entry(stream, backup, header) {
            return step;
        }
        if let Some(step) = self.swallowing_entry(stream, backup, header) {
            return step;
        }
        if let Some(step) = self.out_of_order_garbage(stream, backup, header) {
            return step;
        }
        if let Err(stop) = self.read_body(stream, header) {
            let available = stream.pos().saturating_sub(header.data_offset);
            backup.findings.push(
                Finding::error(
                    FindingKind::EntryTruncated,
                    format!(
                        "entry for seq {} declares {} bytes but only {available} follow: truncated entry (a restore fails reading it)",
                        header.sequence,
                        header.data_len()
                    ),
                )
                .entry(name())
                .seq(header.sequence)
                .offset(header.offset),
            );
            if stop == StreamStop::Discontinuity {
                return self.resync(stream, backup);
            }
            return Step::Stop;
        }
        let end = header.data_offset.saturating_add(header.data_len());
        let untrusted =
            super::damaged_range_end(&stream.chunks.chunks, header.offset, end).is_some();
        self.place_message(backup, header, untrusted)
    }

    /// Reads the header block into the scratch buffer and skips the payload.
    fn read_body<S: ChunkSource>(
        &mut self,
        stream: &mut DecodedStream<S>,
        header: &EntryHeader,
    ) -> Result<(), StreamStop> {
        self.header_scratch.clear();
        let block = stream.take(header.header_size as usize)?;
        self.header_scratch.extend_from_slice(block);
        stream.skip(header.payload_size).map_err(|(_, stop)| stop)
    }

    /// Findings that sum up the whole entry stream.
    fn finish(&self, backup: &mut Backup, scan: &Scan) {
        if self.out_of_order > MAX_REPEATED_FINDINGS {
            backup.findings.push(Finding::error(
                FindingKind::SequenceOrder,
                format!("{} message entries out of sequence order in all ({MAX_REPEATED_FINDINGS} listed)", self.out_of_order),
            ));
        }
        check_consumer_count(backup, scan.declared_consumers);
    }

    /// Bad bytes at `offset`: when the last message ended there, keeps the bytes
    /// from there until the resync tells whether that message is damaged too.
    fn hold_boundary<S: ChunkSource>(&mut self, stream: &mut DecodedStream<S>, offset: u64) {
        if let Some(held) = hold_boundary(stream, self.last_message, offset) {
            self.held_boundary = Some(held);
        }
    }

    /// Steps back to look for the next entry from a little before `offset`, where bad
    /// bytes were found (bytes deleted inside the previous entry move it back).
    fn rewind_before<S: ChunkSource>(&mut self, stream: &mut DecodedStream<S>, offset: u64) {
        self.bad_at = Some(offset);
        let target = offset
            .saturating_sub(LOOKBACK as u64)
            .max(self.previous_data_offset);
        let back = stream.pos().saturating_sub(target);
        stream.rewind(usize::try_from(back).unwrap_or(usize::MAX));
    }

    /// Records what is wrong here, then looks for the next readable entry.
    fn report_and_resync<S: ChunkSource>(
        &mut self,
        stream: &mut DecodedStream<S>,
        backup: &mut Backup,
        finding: Finding,
    ) -> Step {
        backup.findings.push(finding);
        self.resync(stream, backup)
    }

    /// What the next message entry may look like.
    fn expectation(&self, backup: &Backup) -> Expectation {
        Expectation {
            previous_seq: self.previous_seq,
            ts_range: timestamp_range(backup),
        }
    }

    /// Searches forward for the next plausible message entry and says what was lost.
    fn resync<S: ChunkSource>(
        &mut self,
        stream: &mut DecodedStream<S>,
        backup: &mut Backup,
    ) -> Step {
        // Above the last row from credible bytes only: rows after it may carry a
        // garbage sequence, and the entries after the bad bytes may lie below it
        // (then they take those rows back as they are read).
        let previous_seq = self.previous_seq;
        let expect = Expectation {
            previous_seq: self.credible_floor(backup),
            ..self.expectation(backup)
        };
        // Before the first message: sequences below the stream's first one never
        // were in it.
        let previous_seq = if self.seen_message {
            previous_seq
        } else {
            previous_seq.max(first_declared_seq(backup).saturating_sub(1))
        };
        let bad_at = self.bad_at.take();
        match v2::resync(stream, &expect, &mut self.search_budget) {
            Resync::Found {
                lost_from,
                sequence,
            } => {
                settle_boundary(stream, backup, self.held_boundary.take(), Some(sequence));
                // A later look-back stops after this candidate: each resync moves on.
                self.previous_data_offset = self.previous_data_offset.max(stream.pos() + 1);
                let at = stream.pos();
                let missing = if sequence > previous_seq.saturating_add(1) {
                    format!(
                        "sequences {}..{} are not in the readable bytes",
                        previous_seq.saturating_add(1),
                        sequence - 1
                    )
                } else if sequence <= previous_seq {
                    format!("it is not above sequence {previous_seq}, which was read from damaged bytes")
                } else {
                    "no sequence is missing between them".to_string()
                };
                // The look-back read bytes before the bad ones again: those were fine.
                let (message, offset) = match bad_at {
                    Some(bad) if bad > at => (
                        format!(
                            "resynchronised at sequence {sequence} at decompressed offset {at}, {} bytes before where the entry before it said it ended: bytes were lost inside that entry; {missing}",
                            bad - at
                        ),
                        at,
                    ),
                    Some(bad) if bad >= lost_from => (
                        format!("resynchronised at sequence {sequence}: decompressed bytes {bad}..{at} are unreadable; {missing}"),
                        bad,
                    ),
                    _ => (
                        format!("resynchronised at sequence {sequence}: decompressed bytes {lost_from}..{at} are unreadable; {missing}"),
                        lost_from,
                    ),
                };
                backup.findings.push(
                    Finding::error(FindingKind::LostData, message)
                        .seq(previous_seq.saturating_add(1))
                        .offset(offset),
                );
                Step::Next
            }
            Resync::GaveUp {
                lost_from,
                searched,
            } => {
                settle_boundary(stream, backup, self.held_boundary.take(), None);
                backup.findings.push(
                    Finding::error(
                        FindingKind::LostData,
                        format!(
                            "the search for a readable entry from decompressed offset {lost_from} gave up at {} after examining {} bytes, the most {} compressed bytes justify ({} MiB, and {} per compressed byte: crafted or degenerate data); every sequence after {previous_seq} is lost",
                            stream.pos(),
                            crate::model::findings::group_thousands(searched),
                            crate::model::findings::group_thousands(stream.file_pos()),
                            v2::SEARCH_ALLOWANCE >> 20,
                            v2::SEARCH_PER_FILE_BYTE,
                        ),
                    )
                    .seq(previous_seq.saturating_add(1))
                    .offset(lost_from),
                );
                Step::Stop
            }
            Resync::Exhausted { lost_from } => {
                settle_boundary(stream, backup, self.held_boundary.take(), None);
                backup.findings.push(
                    Finding::error(
                        FindingKind::LostData,
                        format!("no readable entry after decompressed offset {lost_from}: every sequence after {previous_seq} is lost"),
                    )
                    .seq(previous_seq.saturating_add(1))
                    .offset(lost_from),
                );
                Step::Stop
            }
        }
    }
}

/// The lowest first sequence the backup's states declare (state.json, backup.json);
/// 1 when neither was read.
fn first_declared_seq(backup: &Backup) -> u64 {
    [&backup.archive_state, &backup.declared_state]
        .iter()
        .filter_map(|state| state.as_ref().map(|state| state.first_seq))
        .filter(|&first| first > 0)
        .min()
        .unwrap_or(1)
}

/// The stream is at its end, and its last bytes (after the cursor) are an
/// end-of-backup sentinel with entry bytes before it: an entry that runs past the
/// end there is damaged, not cut. (A cut archive ends so only by chance; the
/// resync then finds no entry, and the loss is reported.)
fn ends_in_sentinel<S: ChunkSource>(stream: &mut DecodedStream<S>) -> bool {
    const SENTINEL: [u8; 5] = [0; 5];
    let held = stream.buffered().len();
    // Nothing beyond what is held: the held bytes run to the end.
    matches!(stream.fill(held + 1), Err(StreamStop::End)) && {
        let rest = stream.buffered();
        rest.len() > SENTINEL.len() && rest.ends_with(&SENTINEL)
    }
}
