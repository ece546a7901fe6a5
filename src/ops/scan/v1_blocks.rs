//! v1 message blocks (`msgs/N.blk`): their records into the message table,
//! tombstones and erased sequences noted, damaged records reported. The record
//! walk and its resync are `format::filestore`; what to make of them is here.

use super::Scan;
use crate::format::filestore::{self, Record, RecordGap, RecordKind};
use crate::format::filestore_search::RecordSearch;
use crate::format::hash::Hh64Key;
use crate::format::headers::{self, Ttl};
use crate::model::{Backup, Finding, FindingKind, MessageRow};
use crate::util::fxhash::FxHashMap;

/// One block member's bytes and where they sit in the decompressed stream.
pub(super) struct Block<'a> {
    /// The member name, `msgs/N.blk`.
    pub entry: &'a str,
    pub index: u64,
    pub data: &'a [u8],
    /// Decompressed offset of `data[0]`.
    pub data_offset: u64,
    pub key: &'a Hh64Key,
    /// The bytes stop before the block does (a block found inside another's
    /// declared bytes, whose rest is read later): a record running past them is
    /// not reported as malformed.
    pub cut_short: bool,
    /// The bytes run up to a tar header with no member of their own (skipped by a
    /// resync): they may end in the lost member's zero padding, which is no record.
    pub padded: bool,
}

/// Record checksums of block N are keyed by "STREAM-N", with the stream name of
/// meta.inf (else backup.json's).
pub(super) fn block_key(backup: &Backup, meta_inf_name: Option<&str>, block_index: u64) -> Hh64Key {
    let stream_name = meta_inf_name.unwrap_or(&backup.stream_name);
    Hh64Key::new(&format!("{stream_name}-{block_index}"))
}

/// The part of a block after lost bytes: records are searched from the first one
/// whose checksum verifies; the block's own length and last checksum are not known.
pub(super) fn scan_block_rest(backup: &mut Backup, scan: &mut Scan, rest: &Block) {
    let mut search = RecordSearch::new(rest.data.len());
    let Some(first) = search.find_next(rest.data, 0, rest.key) else {
        return;
    };
    let known = scan.blocks.get(&rest.index).copied();
    let tail = Block {
        data: rest.data.get(first..).unwrap_or_default(),
        data_offset: rest.data_offset + first as u64,
        ..*rest
    };
    // What stays unreadable at the end of this part is already reported.
    let _unreadable_tail = scan_block(backup, scan, &tail);
    // Keep the block's length and last checksum from the part read before the gap.
    if let Some(known) = known {
        scan.blocks.insert(rest.index, known);
    }
}

/// Reads every record of a block; after a malformed record, reading goes on at the
/// next record whose checksum verifies (the server would truncate the block instead).
/// Returns where an unreadable tail of the block starts, if it ends in one.
pub(super) fn scan_block(backup: &mut Backup, scan: &mut Scan, block: &Block) -> Option<usize> {
    let data = block.data;
    let mut last8 = [0u8; 8];
    if let Some(tail) = data.len().checked_sub(8).and_then(|from| data.get(from..)) {
        last8.copy_from_slice(tail);
    }
    scan.blocks.insert(block.index, (data.len() as u64, last8));
    // Subjects of checksum-verified records of the block whose bytes pass their S2
    // CRC (also those after the damage): in bytes failing it they confirm a record's
    // subject length (a damaged one makes a subject of its own, with payload bytes
    // in it). Records in the failed bytes do not count: one corrupt length byte,
    // copied by the compressor, gives several records the same wrong subject.
    let block_end = block.data_offset + data.len() as u64;
    let shared_subjects = if scan.in_bad_chunk(block.data_offset, block_end) {
        subject_counts(data, block.key, |offset, len| {
            let start = block.data_offset + offset as u64;
            !scan.in_bad_chunk(start, start + u64::from(len))
        })
    } else {
        FxHashMap::default()
    };
    let mut visitor = RecordVisitor {
        shared_subjects: &shared_subjects,
        backup: &mut *backup,
        scan: &mut *scan,
        block,
        last_in_block: 0,
        damaged: Vec::new(),
        unconfirmed: Vec::new(),
    };
    let mut gaps =
        filestore::walk_records_resyncing(data, block.key, |record| visitor.visit(record));
    let tail = gaps
        .last()
        .filter(|gap| gap.resumed_at.is_none())
        .map(|gap| gap.bad_at);
    let padding = |at: usize| {
        let rest = data.get(at..).unwrap_or_default();
        rest.len() < 512 && rest.iter().all(|&byte| byte == 0)
    };
    if tail.is_some_and(|at| block.cut_short || (block.padded && padding(at))) {
        gaps.pop();
    }
    let damaged = visitor.damaged;
    let unconfirmed = visitor.unconfirmed;
    let first_bad = damaged
        .iter()
        .chain(&unconfirmed)
        .map(|(_, offset)| *offset as usize)
        .chain(gaps.iter().map(|gap| gap.bad_at))
        .min();
    if let Some(first_bad) = first_bad {
        scan.block_first_bad.insert(
            block.index,
            (
                block.data_offset + first_bad as u64,
                block.data_offset + data.len() as u64,
            ),
        );
    }
    report_block_damage(backup, block, &damaged, gaps);
    report_unconfirmed(backup, block, &unconfirmed);
    tail
}

/// Files each record of one block into the scan and the message table.
struct RecordVisitor<'a> {
    backup: &'a mut Backup,
    scan: &'a mut Scan,
    block: &'a Block<'a>,
    /// Highest message sequence kept from this block (duplicates are ignored).
    last_in_block: u64,
    /// (sequence, block offset) of records failing their checksum.
    damaged: Vec<(u64, u64)>,
    /// Subject → checksum-verified records of the block with it in bytes whose CRC
    /// holds (only when the block touches bytes that fail their S2 CRC).
    shared_subjects: &'a FxHashMap<&'a [u8], u32>,
    /// (sequence, block offset) of records passing their checksum in bytes that fail
    /// their S2 CRC, whose subject or header length could not be confirmed.
    unconfirmed: Vec<(u64, u64)>,
}

impl RecordVisitor<'_> {
    fn visit(&mut self, record: &Record) {
        let scan = &mut *self.scan;
        scan.highest_seq_seen = scan.highest_seq_seen.max(record.seq);
        if !record.checksum_ok {
            self.damaged.push((record.seq, record.offset as u64));
            if record.kind == RecordKind::Message {
                scan.damaged_seqs.push(record.seq);
                scan.damaged_records
                    .push(damaged_record(self.block, record));
            }
            return;
        }
        match record.kind {
            RecordKind::Tombstone => {
                scan.tombstones.insert(record.seq);
            }
            RecordKind::Erased => {
                if record.seq != 0 {
                    scan.erased.insert(record.seq);
                }
            }
            RecordKind::Zero => {}
            RecordKind::Message => self.message(record),
        }
    }

    fn message(&mut self, record: &Record) {
        // Duplicates and out-of-order records inside a block are ignored, like the server.
        if record.seq <= self.last_in_block {
            return;
        }
        let data = self.block.data;
        let subject = data
            .get(record.subject_start..record.subject_start + record.subject_len)
            .unwrap_or_default();
        let header_block = data
            .get(record.hdr_start..record.hdr_start + record.hdr_len)
            .unwrap_or_default();
        // The checksum hashes subject, headers and data as one run: a damaged subject
        // or header length moves their boundaries unnoticed. Bytes whose S2 CRC holds
        // prove them; in bytes that fail it they must be confirmed otherwise.
        let start = self.block.data_offset + record.offset as u64;
        let in_bad_chunk = self.scan.in_bad_chunk(start, start + u64::from(record.len));
        if in_bad_chunk && !self.split_confirmed(subject, header_block, record) {
            self.unconfirmed.push((record.seq, record.offset as u64));
            self.scan.damaged_seqs.push(record.seq);
            let mut damaged = damaged_record(self.block, record);
            damaged.reason = format!(
                "passes its record checksum, but lies in bytes that fail their S2 chunk's CRC and its subject or header length (not covered by the checksum) cannot be confirmed: record at block offset {} of {}",
                record.offset, self.block.entry
            );
            self.scan.damaged_records.push(damaged);
            return;
        }
        // A subject no client can publish to, behind a checksum that holds: the
        // subject length field changed (the bytes stayed, their split moved).
        let impossible_subject =
            crate::ops::content_checks::subject_problem(&String::from_utf8_lossy(subject));
        if let Some(problem) = impossible_subject {
            let why = format!(
                "passes its record checksum, but its subject {:?} cannot have been published ({problem}): its subject length (not covered by the checksum) changed, so subject and data are split wrongly",
                String::from_utf8_lossy(subject)
            );
            self.backup.findings.push(
                Finding::error(
                    FindingKind::RecordChecksum,
                    format!("message seq {} in {} {why}", record.seq, self.block.entry),
                )
                .entry(self.block.entry.to_string())
                .seq(record.seq)
                .offset(start),
            );
            self.scan.damaged_seqs.push(record.seq);
            self.scan.split_damaged.push(record.seq);
            let mut damaged = damaged_record(self.block, record);
            damaged.reason = format!(
                "{why}: record at block offset {} of {}",
                record.offset, self.block.entry
            );
            self.scan.damaged_records.push(damaged);
            return;
        }
        self.last_in_block = record.seq;
        let (message_flags, ttl) = headers::classify(header_block);
        let backup = &mut *self.backup;
        let subject_id = backup.subjects.intern(subject);
        if !in_bad_chunk {
            self.scan.proven_subjects.insert(subject_id);
        }
        if ttl != Ttl::None {
            backup.messages.ttls.push((record.seq, ttl));
        }
        backup.messages.push(MessageRow {
            seq: record.seq,
            ts_ns: record.ts_ns,
            subject_id,
            hdr_len: record.hdr_len as u32,
            data_len: record.data_len as u32,
            offset: self.block.data_offset + record.hdr_start as u64,
            flags: message_flags,
        });
        self.scan.row_block.push(self.block.index);
        self.scan.row_record_len.push(record.len);
    }
}

impl RecordVisitor<'_> {
    /// Are the boundaries the checksum does not cover right? The subject is one a
    /// record in bytes whose CRC holds has (read before, or anywhere in the block),
    /// and a header block is framed as the server's clients write it (`NATS/1` …
    /// blank line).
    fn split_confirmed(&self, subject: &[u8], header_block: &[u8], record: &Record) -> bool {
        let known_subject = self
            .backup
            .subjects
            .find(subject)
            .is_some_and(|id| self.scan.proven_subjects.contains(&id))
            || self.shared_subjects.contains_key(subject);
        let has_header_word = record.hdr_start != record.subject_start + record.subject_len;
        let headers_framed = !has_header_word
            || (header_block.starts_with(b"NATS/1") && header_block.ends_with(b"\r\n\r\n"));
        known_subject && headers_framed
    }
}

/// How many checksum-verified message records of the block, among those `counted`
/// (by block offset and length), carry each subject.
fn subject_counts<'a>(
    data: &'a [u8],
    key: &Hh64Key,
    counted: impl Fn(usize, u32) -> bool,
) -> FxHashMap<&'a [u8], u32> {
    let mut counts: FxHashMap<&'a [u8], u32> = FxHashMap::default();
    // Only the counts are wanted here: the gaps are reported by the real walk.
    let _gaps = filestore::walk_records_resyncing(data, key, |record| {
        if record.checksum_ok
            && record.kind == RecordKind::Message
            && counted(record.offset, record.len)
        {
            if let Some(subject) =
                data.get(record.subject_start..record.subject_start + record.subject_len)
            {
                *counts.entry(subject).or_default() += 1;
            }
        }
    });
    counts
}

fn report_unconfirmed(backup: &mut Backup, block: &Block, unconfirmed: &[(u64, u64)]) {
    let entry = block.entry;
    for &(seq, offset) in unconfirmed {
        backup.findings.push(
            Finding::error(
                FindingKind::RecordChecksum,
                format!("message seq {seq} in {entry} passes its record checksum but lies in bytes that fail their S2 chunk's CRC, and its subject or header length (which the checksum does not cover) cannot be confirmed: its bytes may be damaged"),
            )
            .entry(entry.to_string())
            .seq(seq)
            .offset(block.data_offset + offset),
        );
    }
}

/// Where a record failing its checksum lies, with what its bytes still say.
fn damaged_record(block: &Block, record: &Record) -> crate::model::DamagedRecord {
    let data = block.data;
    let present = data.len().saturating_sub(record.offset);
    let subject = data
        .get(record.subject_start..record.subject_start.saturating_add(record.subject_len))
        .and_then(|bytes| std::str::from_utf8(bytes).ok())
        .filter(|text| !text.is_empty() && !text.chars().any(char::is_control))
        .map(str::to_string);
    crate::model::DamagedRecord {
        seq: record.seq,
        offset: block.data_offset + record.offset as u64,
        len: u64::from(record.len).min(present as u64),
        entry: block.entry.to_string(),
        subject,
        ts_ns: Some(record.ts_ns),
        reason: format!(
            "fails its record checksum (HighwayHash-64): record at block offset {} of {}",
            record.offset, block.entry
        ),
    }
}

fn report_block_damage(
    backup: &mut Backup,
    block: &Block,
    damaged: &[(u64, u64)],
    gaps: Vec<RecordGap>,
) {
    let entry = block.entry;
    for &(seq, offset) in damaged {
        backup.findings.push(
            Finding::error(
                FindingKind::RecordChecksum,
                format!("message seq {seq} in {entry} fails its record checksum (HighwayHash-64): its bytes are damaged"),
            )
            .entry(entry.to_string())
            .seq(seq)
            .offset(block.data_offset + offset),
        );
    }
    for RecordGap {
        bad_at,
        reason,
        resumed_at,
    } in gaps
    {
        let message = match resumed_at {
            Some(next) if next < bad_at => format!(
                "{entry}: {reason}: the server reads a malformed record at block offset {bad_at} and truncates the block there; reading resumed at block offset {next}, the next record whose checksum verifies"
            ),
            Some(next) => format!(
                "{entry}: record at block offset {bad_at} is malformed ({reason}); bytes {bad_at}..{next} of the block are unreadable, reading resumed at the next record whose checksum verifies (the server would truncate the block here)"
            ),
            None => format!(
                "{entry}: record at block offset {bad_at} is malformed ({reason}); the {} bytes after it hold no readable record (the server truncates the block here)",
                block.data.len() - bad_at
            ),
        };
        backup.findings.push(
            Finding::error(FindingKind::BlockRecord, message)
                .entry(entry.to_string())
                .offset(block.data_offset + bad_at as u64),
        );
    }
}
