//! The v1 scan: reads the filestore tar (meta.inf, meta.sum, message blocks,
//! index.db, consumer files) member by member, resynchronising on bad tar headers
//! and on bytes lost inside a block.
//!
//! The tar parsing and its byte search are `format::tar`'s; here is what to make of each
//! member.

use super::v1_blocks::{block_key, scan_block, scan_block_rest, Block};
use super::{budget, report_progress, OpenError, Scan, ScanControl};
use crate::format::filestore;
use crate::format::s2::{ChunkSource, DecodedStream};
use crate::format::tar::{TarError, TarEvent, TarHeader, TarReader};
use crate::model::{Backup, EntryInfo, Finding, FindingKind, StreamConfig};
use serde_json::Value;

mod held;
mod orphan;

/// Whether the member loop goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Next,
    Stop,
}

impl From<bool> for Step {
    fn from(go_on: bool) -> Self {
        if go_on {
            Step::Next
        } else {
            Step::Stop
        }
    }
}

fn block_index_of(name: &str) -> Option<u64> {
    name.strip_prefix("msgs/")?
        .strip_suffix(".blk")?
        .parse()
        .ok()
}

/// The member loop's running state.
struct MemberLoop {
    tar: TarReader,
    /// The current member's bytes (reused between members).
    data: Vec<u8>,
    /// The stream name meta.inf gives, which keys the block checksums.
    stream_key_name: Option<String>,
    /// Data offset of the last member whose header was read (or just past the last
    /// header a resync found): a resync looks back no further, so it never finds the
    /// same header again.
    last_data_offset: u64,
    /// The end of the last block: if no valid header follows it, its records may go
    /// on past its declared size (bytes were inserted upstream).
    block_tail: Option<BlockTail>,
    /// Bytes a resync skipped with no block around them (the start of the archive
    /// lost, say): they may hold records of a block whose header is gone.
    orphan: Option<Orphan>,
}

/// Bytes a resync skipped, where they lie, and the block whose key was already
/// tried on them (the block whose unreadable tail they continued), if any.
struct Orphan {
    offset: u64,
    bytes: Vec<u8>,
    tried: Option<u64>,
    /// The finding that called these bytes unreadable, and its wording for when
    /// records are recovered from them after all.
    reword: Option<(usize, String)>,
}

/// The unreadable end of the last block (from its first unreadable byte, with the
/// tar padding after it) and where it lies.
struct BlockTail {
    entry: String,
    index: u64,
    bytes: Vec<u8>,
    offset: u64,
    /// Where the block ends when that is known: a block found inside another's
    /// declared bytes lost nothing after its header, so its size holds.
    end: Option<u64>,
}

/// How far a tar resync looks back before the damaged header: a header cut off the
/// 512-byte grid starts at most this far before the position it was expected at.
const TAR_LOOK_BACK: u64 = 2 * 512 - 1;
/// The most bytes kept after a damaged block to search for its remaining records.
const MAX_BLOCK_TAIL: usize = 64 << 20;

pub(super) fn scan_v1<S: ChunkSource>(
    stream: &mut DecodedStream<S>,
    backup: &mut Backup,
    scan: &mut Scan,
    control: &mut ScanControl,
) -> Result<(), OpenError> {
    let mut members = MemberLoop {
        tar: TarReader::new(),
        data: Vec::new(),
        stream_key_name: None,
        last_data_offset: 0,
        block_tail: None,
        orphan: None,
    };
    loop {
        report_progress(stream, backup, scan, control)?;
        if members.next_member(stream, backup, scan) == Step::Stop {
            break;
        }
    }
    scan.note_bad_chunks(&stream.chunks.chunks);
    members.adopt_orphan(backup, scan, None);
    super::v1_state::finish_v1(backup, scan);
    Ok(())
}

impl MemberLoop {
    fn next_member<S: ChunkSource>(
        &mut self,
        stream: &mut DecodedStream<S>,
        backup: &mut Backup,
        scan: &mut Scan,
    ) -> Step {
        let header = match self.tar.next(stream) {
            Ok(TarEvent::End) => return self.end_marker(stream, backup, scan),
            Ok(TarEvent::Member(header)) => header,
            Err(error) => return self.recover(stream, backup, scan, error).into(),
        };
        // The block before ended where its header said: its unreadable tail is just that.
        self.block_tail = None;
        self.last_data_offset = header.data_offset;
        let name = header.name.replace('\\', "/");
        self.adopt_orphan(backup, scan, block_index_of(&name));
        backup.entries.push(EntryInfo {
            name: name.clone(),
            header_offset: header.header_offset,
            data_offset: header.data_offset,
            size: header.size,
        });
        if !header.is_regular() {
            backup.findings.push(
                Finding::error(
                    FindingKind::UnexpectedEntry,
                    format!("tar member {name:?} is not a regular file (type {:?}); the server rejects the restore", header.typeflag as char),
                )
                .entry(name.clone())
                .offset(header.header_offset),
            );
            return Step::Next;
        }
        if name.split('/').any(|part| part == "..") || name.starts_with('/') {
            backup.findings.push(
                Finding::error(
                    FindingKind::UnexpectedEntry,
                    format!("tar member {name:?} points outside the stream directory"),
                )
                .entry(name.clone())
                .offset(header.header_offset),
            );
            return Step::Next;
        }
        let held = 96 + name.len() as u64;
        if !scan
            .budget
            .charge(backup, held, &format!("tar member {name:?}"))
        {
            return Step::Stop;
        }
        match member_use(&name) {
            MemberUse::Read { cap, why } if header.size > cap => {
                backup.findings.push(budget::too_large(
                    &name,
                    header.size,
                    cap,
                    why,
                    header.header_offset,
                ));
                return self.skip_member(stream, backup, scan);
            }
            MemberUse::Read { .. } => {}
            MemberUse::Skip => return self.skip_member(stream, backup, scan),
            MemberUse::Unexpected => {
                unexpected_member(backup, &name, &header);
                return self.skip_member(stream, backup, scan);
            }
        }
        let read = self.tar.read_data(stream, header.size, &mut self.data);
        scan.note_bad_chunks(&stream.chunks.chunks);
        match read {
            // Every byte is there and only its padding was lost: the member is whole,
            // and the gap lies between members (the next header may be in it).
            Err(error @ TarError::Discontinuity { .. })
                if self.data.len() as u64 == header.size =>
            {
                let data = std::mem::take(&mut self.data);
                let step = self.store_member(backup, scan, &name, &header, &data, false);
                self.data = data;
                if matches!(step, Step::Stop) {
                    return step;
                }
                return self.recover(stream, backup, scan, error).into();
            }
            Err(error) => return self.cut_member(stream, backup, scan, &name, &header, error),
            Ok(_) => {}
        }
        let data = std::mem::take(&mut self.data);
        let step = self.store_member(backup, scan, &name, &header, &data, false);
        self.data = data;
        step
    }

    /// Skips a member's bytes without holding them.
    fn skip_member<S: ChunkSource>(
        &mut self,
        stream: &mut DecodedStream<S>,
        backup: &mut Backup,
        scan: &mut Scan,
    ) -> Step {
        match self.tar.skip_rest(stream) {
            Ok(()) => Step::Next,
            Err(error) => self.recover(stream, backup, scan, error).into(),
        }
    }

    /// A member whose bytes stop early: keep its whole records, then go on if the
    /// stream does.
    fn cut_member<S: ChunkSource>(
        &mut self,
        stream: &mut DecodedStream<S>,
        backup: &mut Backup,
        scan: &mut Scan,
        name: &str,
        header: &TarHeader,
        error: TarError,
    ) -> Step {
        backup
            .findings
            .push(cut_short(name, header, self.data.len()));
        let Some(block_index) = block_index_of(name) else {
            return self.recover(stream, backup, scan, error).into();
        };
        // Keep every whole record of a cut block.
        let key = block_key(backup, self.stream_key_name.as_deref(), block_index);
        let block = Block {
            entry: name,
            index: block_index,
            data: &self.data,
            data_offset: header.data_offset,
            key: &key,
            cut_short: false,
            padded: false,
        };
        // The gap below is reported on its own; the unreadable tail is part of it.
        let tail_start = scan_block(backup, scan, &block).unwrap_or(self.data.len());
        let TarError::Discontinuity { offset } = error else {
            return self.recover(stream, backup, scan, error).into();
        };
        // Bytes went missing inside the block: what follows the gap, up to the
        // next tar header, still holds records whose checksums can be verified.
        let mut rest = Vec::new();
        let max_keep = (header.size as usize).saturating_sub(self.data.len());
        // Bytes before a discontinuity are not contiguous with what follows: no
        // look-back. Kept beyond this block's declared rest too: the gap may have
        // taken this block's end and the next one's header with it.
        let (found, rest_offset) =
            self.tar
                .resync_collecting(stream, &mut rest, max_keep.max(MAX_BLOCK_TAIL), 0);
        scan.note_bad_chunks(&stream.chunks.chunks);
        let beyond = rest.len() > max_keep;
        let orphan = beyond.then(|| rest.clone());
        rest.truncate(max_keep);
        let before = backup.messages.len();
        // The unreadable end of the part before the gap goes in front: a record that
        // spans the gap verifies when no bytes were lost after all (only garbage
        // between two chunks was skipped). Lost bytes take no room in the offsets.
        let mut joined = self.data.get(tail_start..).unwrap_or_default().to_vec();
        joined.extend_from_slice(&rest);
        let rest_block = Block {
            data: &joined,
            data_offset: rest_offset - (joined.len() - rest.len()) as u64,
            padded: true,
            ..block
        };
        scan_block_rest(backup, scan, &rest_block);
        let recovered = backup.messages.len() - before;
        // Searched with the next block's key once the next header names it.
        if let Some(bytes) = orphan.filter(|bytes| bytes.len() >= filestore::EMPTY_RECORD_LEN) {
            self.orphan = Some(Orphan {
                offset: rest_offset,
                bytes,
                tried: Some(block_index),
                reword: None,
            });
        }
        let message = match found {
            Some(next) => format!(
                "bytes of {name} are missing from decompressed offset {offset}; {recovered} message(s) after the gap recovered by their checksums; resynchronised at the tar header at {next}"
            ),
            None => format!(
                "bytes of {name} are missing from decompressed offset {offset}; {recovered} message(s) after the gap recovered by their checksums; no tar header follows"
            ),
        };
        backup.findings.push(
            Finding::error(FindingKind::LostData, message)
                .entry(name.to_string())
                .offset(offset),
        );
        found.is_some().into()
    }

    /// Two zero blocks end the archive, unless they were read from bytes that fail
    /// their chunk's CRC: then they are not believed and reading resumes after them.
    fn end_marker<S: ChunkSource>(
        &mut self,
        stream: &mut DecodedStream<S>,
        backup: &mut Backup,
        scan: &mut Scan,
    ) -> Step {
        let at = stream.pos().saturating_sub(2 * 512);
        if super::damaged_range_end(&stream.chunks.chunks, at, stream.pos()).is_none() {
            scan.saw_end = true;
            return Step::Stop;
        }
        backup.findings.push(
            Finding::error(
                FindingKind::TarHeader,
                "zero blocks read from bytes that fail their S2 chunk's CRC are not taken as the end of the archive",
            )
            .offset(at),
        );
        self.resync_tar(stream, backup, scan, stream.pos(), false)
            .into()
    }

    /// Reports a tar error; true when reading can go on (after resynchronising).
    fn recover<S: ChunkSource>(
        &mut self,
        stream: &mut DecodedStream<S>,
        backup: &mut Backup,
        scan: &mut Scan,
        error: TarError,
    ) -> bool {
        match error {
            TarError::MissingTrailer { offset } => {
                backup.findings.push(
                    Finding::error(
                        FindingKind::TarMissingTrailer,
                        "tar ends without the end-of-archive marker (two zero blocks): the archive is incomplete",
                    )
                    .offset(offset),
                );
                false
            }
            TarError::Truncated { offset, what } => {
                backup.findings.push(
                    Finding::error(
                        FindingKind::TarTruncated,
                        format!("archive ends inside a tar {what}: the archive is incomplete"),
                    )
                    .offset(offset),
                );
                false
            }
            TarError::BadHeader { offset, reason } => {
                backup.findings.push(
                    Finding::error(FindingKind::TarHeader, format!("bad tar header: {reason}"))
                        .offset(offset),
                );
                self.resync_tar(stream, backup, scan, offset, true)
            }
            TarError::Discontinuity { offset } => {
                self.resync_tar(stream, backup, scan, offset, false)
            }
        }
    }

    /// Finds the next tar header after damage at `from` (looking back a little when
    /// the bytes before are contiguous), recovering the records of a block whose
    /// unreadable tail runs into the damage.
    fn resync_tar<S: ChunkSource>(
        &mut self,
        stream: &mut DecodedStream<S>,
        backup: &mut Backup,
        scan: &mut Scan,
        from: u64,
        contiguous: bool,
    ) -> bool {
        // Back to the damaged header (its bytes were consumed), and a little before it.
        // Never back to or before a header already found: each resync moves on.
        let look_back = if contiguous {
            let target = from
                .saturating_sub(TAR_LOOK_BACK)
                .max(self.last_data_offset);
            usize::try_from(stream.pos().saturating_sub(target)).unwrap_or(usize::MAX)
        } else {
            0
        };
        let tail = self.block_tail.take();
        let mut kept = Vec::new();
        let (found, kept_from) =
            self.tar
                .resync_collecting(stream, &mut kept, MAX_BLOCK_TAIL, look_back);
        scan.note_bad_chunks(&stream.chunks.chunks);
        let tried = tail.as_ref().map(|tail| tail.index);
        let recovered = match tail {
            Some(tail) => self.recover_block_tail(backup, scan, tail, &kept, kept_from),
            None => 0,
        };
        // Kept until the next header says which block these bytes may belong to:
        // also after a block's tail, as the header of the block after it may be lost
        // with the bytes (a chunk removed across the boundary).
        if kept.len() >= filestore::EMPTY_RECORD_LEN {
            self.orphan = Some(Orphan {
                offset: kept_from,
                bytes: kept,
                tried,
                reword: None,
            });
        }
        let recovered_note = if recovered > 0 {
            format!("; {recovered} message(s) of the block before recovered from them by their checksums")
        } else {
            String::new()
        };
        let message = match found {
            Some(offset) if offset >= from && recovered > 0 => format!("resynchronised at the tar header at decompressed offset {offset}; bytes {from}..{offset} hold no tar header{recovered_note}"),
            Some(offset) if offset >= from => format!("resynchronised at the tar header at decompressed offset {offset}; bytes {from}..{offset} are unreadable{recovered_note}"),
            Some(offset) => format!("resynchronised at the tar header at decompressed offset {offset}, before the damaged one at {from}: bytes were inserted or removed upstream{recovered_note}"),
            None => format!("no readable tar header after decompressed offset {from}{recovered_note}"),
        };
        let stored_at = backup
            .findings
            .push_indexed(Finding::error(FindingKind::LostData, message).offset(from));
        // The next block's key may still verify records in these bytes.
        if let (Some(orphan), Some(at), Some(offset)) = (self.orphan.as_mut(), stored_at, found) {
            if offset >= from && recovered == 0 {
                orphan.reword = Some((
                    at,
                    format!("resynchronised at the tar header at decompressed offset {offset}; bytes {from}..{offset} hold no tar header"),
                ));
            }
        }
        if let Some(offset) = found {
            self.last_data_offset = self.last_data_offset.max(offset + 1);
        }
        found.is_some()
    }

    /// Searches the unreadable tail of the last block, continued by the bytes a tar
    /// resync skipped, for records whose checksums verify; returns how many were found.
    fn recover_block_tail(
        &self,
        backup: &mut Backup,
        scan: &mut Scan,
        tail: BlockTail,
        kept: &[u8],
        kept_from: u64,
    ) -> usize {
        let mut bytes = tail.bytes;
        let tail_end = tail.offset + bytes.len() as u64;
        if kept_from >= tail.offset {
            bytes.truncate((kept_from - tail.offset) as usize);
            bytes.extend_from_slice(kept);
        } else {
            bytes.extend_from_slice(
                kept.get((tail_end - kept_from) as usize..)
                    .unwrap_or_default(),
            );
        }
        if let Some(end) = tail.end {
            bytes.truncate(usize::try_from(end.saturating_sub(tail.offset)).unwrap_or(usize::MAX));
        }
        let key = block_key(backup, self.stream_key_name.as_deref(), tail.index);
        let block = Block {
            entry: &tail.entry,
            index: tail.index,
            data: &bytes,
            data_offset: tail.offset,
            key: &key,
            cut_short: false,
            // Without the block's known size the bytes run up to the next header.
            padded: tail.end.is_none(),
        };
        let before = backup.messages.len();
        scan_block_rest(backup, scan, &block);
        backup.messages.len() - before
    }

    /// Files a whole member's bytes by its name (`member_use` said it is read).
    /// `data` is the member's bytes; `held` when they were found inside an earlier
    /// block's declared bytes (see `held`), which searches them for members itself.
    fn store_member(
        &mut self,
        backup: &mut Backup,
        scan: &mut Scan,
        name: &str,
        header: &TarHeader,
        data: &[u8],
        held: bool,
    ) -> Step {
        let kept = match name {
            "meta.inf" | "meta.sum" | "msgs/index.db" => true,
            _ => name.ends_with(".idx") || name.starts_with("obs/"),
        };
        if kept
            && !scan
                .budget
                .charge(backup, data.len() as u64, &format!("tar member {name:?}"))
        {
            return Step::Stop;
        }
        if name == "meta.inf" {
            self.stream_key_name = parse_meta_inf(backup, data, header.data_offset);
        } else if name == "meta.sum" {
            scan.meta_sum = Some(data.to_vec());
        } else if let Some(block_index) = block_index_of(name) {
            let key = block_key(backup, self.stream_key_name.as_deref(), block_index);
            let block = Block {
                entry: name,
                index: block_index,
                data,
                data_offset: header.data_offset,
                key: &key,
                // Only a member found inside another's bytes holds less than its size here.
                cut_short: (data.len() as u64) < header.size,
                padded: false,
            };
            // Kept until the next header reads well: if it does not, the block may go on
            // past its declared size (bytes inserted upstream), from its unreadable tail
            // or, when it ended cleanly, from its padding.
            let rows_before = backup.messages.len();
            let start = scan_block(backup, scan, &block).unwrap_or(data.len());
            let mut bytes = data.get(start..).unwrap_or_default().to_vec();
            if !held {
                bytes.extend_from_slice(self.tar.last_padding());
            }
            self.block_tail = Some(BlockTail {
                entry: name.to_string(),
                index: block_index,
                bytes,
                offset: header.data_offset + start as u64,
                end: held.then(|| header.data_offset.saturating_add(header.size)),
            });
            if start < data.len() && !held {
                // The block may have lost bytes upstream: the members after it then
                // start inside its declared size.
                // From the last record that verified: a damaged record's length can
                // run past the next member's header.
                let from = held::last_trusted_end(backup, rows_before, header.data_offset);
                self.file_held_members(backup, scan, (name, header), data, from.min(start));
            }
        } else if name == "msgs/index.db" {
            scan.index_db = Some(data.to_vec());
            scan.index_db_entry_offset = header.data_offset;
        } else if let Some(block_index) = legacy_idx_of(name) {
            // ≤ 2.9: the block's state and delete list.
            scan.legacy_idx.insert(block_index, data.to_vec());
        } else if let Some(rest) = name.strip_prefix("obs/") {
            store_consumer_file(backup, scan, name, rest, data, header);
        } else if name == "errors.txt" {
            backup.findings.push(
                Finding::error(
                    FindingKind::ErrorsTxt,
                    format!("the server failed while writing this snapshot, the archive is incomplete: {}", String::from_utf8_lossy(data)),
                )
                .entry(name.to_string())
                .offset(header.data_offset),
            );
        } else {
            unexpected_member(backup, name, header);
        }
        Step::Next
    }
}

/// A member whose bytes stop after `present` of the `header.size` it declares.
fn cut_short(name: &str, header: &TarHeader, present: usize) -> Finding {
    Finding::error(
        FindingKind::TarTruncated,
        format!(
            "tar member {name:?} is cut short: {present} of {} bytes present",
            header.size
        ),
    )
    .entry(name.to_string())
    .offset(header.data_offset)
}

fn legacy_idx_of(name: &str) -> Option<u64> {
    name.strip_prefix("msgs/")?
        .strip_suffix(".idx")?
        .parse::<u64>()
        .ok()
}

/// How a member is handled before any of its bytes are read.
enum MemberUse {
    /// Read whole, if it is at most `cap` bytes (`why` says where the cap comes from).
    Read { cap: u64, why: &'static str },
    /// Not needed: skipped without a word (≤ 2.9 `.fss` subject summaries).
    Skip,
    /// Not part of a stream snapshot: a finding, then skipped.
    Unexpected,
}

fn member_use(name: &str) -> MemberUse {
    use budget::*;
    const CONFIG: &str = "of JSON the server accepts for a config (an API request of at most max_payload; it warns above 8 MiB)";
    const SMALL: &str = "such a file holds (a hash or a line of text)";
    let read = |cap, why| MemberUse::Read { cap, why };
    match name {
        "meta.inf" => return read(MAX_CONFIG_JSON, CONFIG),
        "meta.sum" | "errors.txt" => return read(MAX_SMALL_FILE, SMALL),
        "msgs/index.db" => {
            return read(
                MAX_INDEX_DB,
                "an index.db holds (a few dozen bytes a block and a subject, plus delete maps)",
            )
        }
        _ => {}
    }
    if block_index_of(name).is_some() {
        return read(
            MAX_BLOCK_MEMBER,
            "of the largest block the server writes (8 MiB blocks, or one message of at most 64 MiB)",
        );
    }
    if legacy_idx_of(name).is_some() {
        return read(
            MAX_LEGACY_IDX,
            "a ≤ 2.9 block index holds (the state and delete list of an 8 MiB block)",
        );
    }
    if name.starts_with("msgs/") && name.ends_with(".fss") {
        return MemberUse::Skip;
    }
    if let Some(rest) = name.strip_prefix("obs/") {
        return match rest.rsplit_once('/').map(|(_, file)| file) {
            Some("meta.inf") => read(MAX_CONFIG_JSON, CONFIG),
            Some("meta.sum") => read(MAX_SMALL_FILE, SMALL),
            Some("o.dat") => read(
                MAX_ODAT,
                "of consumer state (about 10 bytes a pending message: millions of unacknowledged messages)",
            ),
            _ => MemberUse::Unexpected,
        };
    }
    MemberUse::Unexpected
}

/// `obs/NAME/FILE`: kept until the end, when the consumer is built from its files.
fn store_consumer_file(
    backup: &mut Backup,
    scan: &mut Scan,
    name: &str,
    rest: &str,
    data: &[u8],
    header: &TarHeader,
) {
    let Some((consumer, file)) = rest
        .rsplit_once('/')
        .filter(|(consumer, _)| !consumer.is_empty())
    else {
        unexpected_member(backup, name, header);
        return;
    };
    let files = scan.consumer_files.entry(consumer.to_string()).or_default();
    match file {
        "meta.inf" => files.meta_inf = Some((data.to_vec(), header.data_offset)),
        "meta.sum" => files.meta_sum = Some(data.to_vec()),
        "o.dat" => files.odat = Some((data.to_vec(), header.data_offset)),
        _ => backup.findings.push(
            Finding::warning(
                FindingKind::UnexpectedEntry,
                format!("unexpected consumer file {name:?}"),
            )
            .entry(name.to_string())
            .offset(header.header_offset),
        ),
    }
}

fn unexpected_member(backup: &mut Backup, name: &str, header: &TarHeader) {
    backup.findings.push(
        Finding::warning(
            FindingKind::UnexpectedEntry,
            format!("unexpected member {name:?}"),
        )
        .entry(name.to_string())
        .offset(header.header_offset),
    );
}

fn parse_meta_inf(backup: &mut Backup, data: &[u8], offset: u64) -> Option<String> {
    match serde_json::from_slice::<Value>(data) {
        Ok(Value::Object(mut object)) => {
            // Kept only when it parses: writers copy it as it is, and damaged bytes
            // would make their archive or store unrestorable (they write one from
            // the config instead).
            backup.meta_inf_raw = Some(data.to_vec());
            backup.created = object
                .remove("Created")
                .and_then(|created| created.as_str().map(str::to_string));
            let name = object
                .get("name")
                .and_then(Value::as_str)
                .map(str::to_string);
            if let Some(name) = &name {
                if !backup.stream_name.is_empty() && backup.stream_name != *name {
                    backup.findings.push(
                        Finding::warning(
                            FindingKind::MetaInf,
                            format!(
                                "meta.inf names stream {name:?} but backup.json names {:?}",
                                backup.stream_name
                            ),
                        )
                        .entry("meta.inf"),
                    );
                }
                backup.stream_name = name.clone();
            }
            backup.config = StreamConfig::from_json(&Value::Object(object));
            name
        }
        Ok(_) | Err(_) => {
            backup.findings.push(
                Finding::error(
                    FindingKind::MetaInf,
                    "meta.inf is not a JSON object (the restore requires it)",
                )
                .entry("meta.inf")
                .offset(offset),
            );
            None
        }
    }
}
