//! v2 `NATSARC1` entry stream: magic, varint entry headers, payloads, sentinel.
//!
//! Header field order on the wire: name_len, timestamp (zigzag), sequence,
//! header_size, payload_size, then the name and `header_size + payload_size` bytes.
//!
//! It never decides when to resynchronise or what to report: that is `ops::scan::v2`'s.

use super::s2::{ChunkRecord, ChunkSource, ChunkStatus, DecodedStream, StreamStop};
use super::varint::{read_uvarint, VarintError};

mod boundary;
pub use boundary::{boundary_holds, Boundary, FoundEntry, BOUNDARY_VIEW, TAIL_VIEW};

pub const MAGIC: &[u8; 8] = b"NATSARC1";
/// The server's reader rejects longer names.
pub const MAX_NAME_LEN: u64 = 1 << 20;
/// Non-message entries (state.json, consumers) are read whole; bound them.
pub const MAX_META_ENTRY: u64 = 64 << 20;
/// Header blocks are read whole to find TTL and flags; bound them.
pub const MAX_HEADER_BLOCK: u64 = 16 << 20;

/// A parsed entry header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryHeader {
    pub name: Vec<u8>,
    pub timestamp_ns: i64,
    pub sequence: u64,
    pub header_size: u64,
    pub payload_size: u64,
    /// Decompressed offset of the header.
    pub offset: u64,
    /// Decompressed offset of the data (headers, then payload).
    pub data_offset: u64,
}

impl EntryHeader {
    pub fn is_sentinel(&self) -> bool {
        self.sequence == 0
            && self.timestamp_ns == 0
            && self.header_size == 0
            && self.payload_size == 0
    }
    pub fn name_lossy(&self) -> String {
        String::from_utf8_lossy(&self.name).into_owned()
    }
    pub fn data_len(&self) -> u64 {
        self.header_size.saturating_add(self.payload_size)
    }
}

/// Why an entry could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryError {
    /// The stream ended exactly where the next entry would start.
    CleanEnd,
    /// The stream ended inside an entry header or its name.
    TruncatedHeader { offset: u64 },
    /// A varint overflowed or a size is out of range.
    BadHeader { offset: u64, reason: String },
    /// S2-level bytes were lost inside or just before this entry.
    Discontinuity { offset: u64 },
}

/// The five varint fields of an entry header and where its name lies in `buf`.
struct RawEntryHeader {
    timestamp_ns: i64,
    sequence: u64,
    header_size: u64,
    payload_size: u64,
    name_start: usize,
    name_end: usize,
}

/// Parses the fields without copying the name; `Ok(None)` when `buf` is too short to tell.
fn parse_raw_entry_header(buf: &[u8]) -> Result<Option<RawEntryHeader>, String> {
    let mut position = 0usize;
    let mut fields = [0u64; 5];
    for field in fields.iter_mut() {
        let rest = buf.get(position..).unwrap_or_default();
        match read_uvarint(rest) {
            Ok((value, used)) => {
                *field = value;
                position += used;
            }
            Err(VarintError::Truncated) => return Ok(None),
            Err(VarintError::Overflow) => return Err("varint overflow in entry header".into()),
        }
    }
    let [name_len, timestamp, sequence, header_size, payload_size] = fields;
    if name_len > MAX_NAME_LEN {
        return Err(format!("entry name length {name_len} exceeds 1 MiB"));
    }
    if header_size > i64::MAX as u64 || payload_size > i64::MAX as u64 {
        return Err("negative entry size".into());
    }
    if header_size
        .checked_add(payload_size)
        .is_none_or(|sum| sum > i64::MAX as u64)
    {
        return Err("entry sizes overflow".into());
    }
    let name_end = position + name_len as usize;
    if name_end > buf.len() {
        return Ok(None);
    }
    Ok(Some(RawEntryHeader {
        timestamp_ns: super::varint::zigzag_decode(timestamp),
        sequence,
        header_size,
        payload_size,
        name_start: position,
        name_end,
    }))
}

/// Parses an entry header from `buf` (no I/O). Returns the header and its encoded length,
/// `Ok(None)` when `buf` is too short to tell.
pub fn parse_entry_header(buf: &[u8], offset: u64) -> Result<Option<(EntryHeader, usize)>, String> {
    let Some(raw) = parse_raw_entry_header(buf)? else {
        return Ok(None);
    };
    let Some(name) = buf.get(raw.name_start..raw.name_end) else {
        return Ok(None);
    };
    Ok(Some((
        EntryHeader {
            name: name.to_vec(),
            timestamp_ns: raw.timestamp_ns,
            sequence: raw.sequence,
            header_size: raw.header_size,
            payload_size: raw.payload_size,
            offset,
            data_offset: offset + raw.name_end as u64,
        },
        raw.name_end,
    )))
}

/// Reads the magic. `Ok(false)` for an empty stream.
pub fn read_magic<S: ChunkSource>(stream: &mut DecodedStream<S>) -> Result<bool, String> {
    let peeked = stream.peek(8).map(|bytes| bytes == MAGIC);
    match peeked {
        Ok(true) => {
            // The 8 bytes were just peeked, so this take cannot fail.
            let _ = stream.take(8);
            Ok(true)
        }
        Ok(false) => Err("archive: invalid archive stream (bad magic)".into()),
        Err(StreamStop::End) if stream.buffered().is_empty() => Ok(false),
        Err(_) => Err("archive: stream ends inside the magic".into()),
    }
}

/// Reads the next entry header (the data is left unread).
pub fn next_entry_header<S: ChunkSource>(
    stream: &mut DecodedStream<S>,
) -> Result<EntryHeader, EntryError> {
    let offset = stream.pos();
    // 5 varints of at most 10 bytes; then the name.
    let mut want = 50usize;
    loop {
        let stop = stream.fill(want).err();
        let buffered = stream.buffered();
        if buffered.is_empty() {
            return Err(match stop {
                Some(StreamStop::Discontinuity) => EntryError::Discontinuity { offset },
                _ => EntryError::CleanEnd,
            });
        }
        match parse_entry_header(buffered, offset) {
            Ok(Some((header, used))) => {
                // `used` bytes are buffered (the header was parsed from them), so this take cannot fail.
                let _ = stream.take(used);
                return Ok(header);
            }
            Ok(None) => {
                if let Some(stop) = stop {
                    // More bytes than any header of a readable entry needs: not a
                    // header cut by the end, but a name length read from bad bytes.
                    if buffered.len() > 50 + 4096 {
                        return Err(EntryError::BadHeader {
                            offset,
                            reason: format!(
                                "the entry's name would run past the {} bytes that follow",
                                buffered.len()
                            ),
                        });
                    }
                    return Err(match stop {
                        StreamStop::Discontinuity => EntryError::Discontinuity { offset },
                        StreamStop::End => EntryError::TruncatedHeader { offset },
                    });
                }
                // The name did not fit: ask for exactly enough.
                want = want
                    .max(buffered.len() + 1)
                    .saturating_mul(2)
                    .min(MAX_NAME_LEN as usize + 64);
            }
            Err(reason) => return Err(EntryError::BadHeader { offset, reason }),
        }
    }
}

/// What the next message entry may look like: its sequence is above `previous_seq`
/// (and not absurdly far above), its timestamp within `ts_range` when one is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Expectation {
    pub previous_seq: u64,
    /// Inclusive bounds on a message timestamp (Unix ns), from the archive's state.
    pub ts_range: Option<(i64, i64)>,
}

impl Expectation {
    /// The expectation for the entry after one with `sequence`.
    pub fn after(self, sequence: u64) -> Self {
        Self {
            previous_seq: sequence,
            ..self
        }
    }

    pub fn timestamp_ok(&self, timestamp_ns: i64) -> bool {
        self.ts_range
            .is_none_or(|(low, high)| (low..=high).contains(&timestamp_ns))
    }
}

/// Is `name` a subject a message can be stored under: printable, no spaces, dot-
/// separated non-empty tokens, no wildcards?
pub fn valid_subject(name: &[u8]) -> bool {
    !name.is_empty()
        && name.len() <= 4096
        && name
            .iter()
            .all(|&byte| byte > 0x20 && byte != 0x7f && byte != b'*' && byte != b'>')
        && name
            .split(|&byte| byte == b'.')
            .all(|token| !token.is_empty())
}

/// Does `buf` plausibly start a message entry meeting `expect`? Used to resynchronise.
/// Called at every byte offset of a damaged region: the checks run on the borrowed
/// bytes and the name is copied only for a plausible candidate.
pub fn plausible_message_header(buf: &[u8], expect: &Expectation) -> Option<(EntryHeader, usize)> {
    // Cheap rejection first: this runs at every byte offset of a damaged region.
    let (name_len, name_len_used) = read_uvarint(buf).ok()?;
    if name_len == 0 || name_len > 4096 {
        return None;
    }
    // Then the timestamp and sequence alone, before the whole header is parsed.
    let (timestamp, timestamp_used) = read_uvarint(buf.get(name_len_used..)?).ok()?;
    let (sequence, _) = read_uvarint(buf.get(name_len_used + timestamp_used..)?).ok()?;
    if sequence <= expect.previous_seq
        || sequence - expect.previous_seq >= 100_000_000
        || !expect.timestamp_ok(super::varint::zigzag_decode(timestamp))
    {
        return None;
    }
    let raw = parse_raw_entry_header(buf).ok().flatten()?;
    let name = buf.get(raw.name_start..raw.name_end)?;
    let previous_seq = expect.previous_seq;
    let sane_sequence = raw.sequence > previous_seq && raw.sequence - previous_seq < 100_000_000;
    let sane_sizes = raw.header_size <= MAX_HEADER_BLOCK && raw.payload_size <= (64 << 20);
    let sane_headers = raw.header_size == 0 || raw.header_size >= 12;
    if !(sane_sequence
        && sane_sizes
        && sane_headers
        && expect.timestamp_ok(raw.timestamp_ns)
        && valid_subject(name))
    {
        return None;
    }
    parse_entry_header(buf, 0).ok().flatten()
}

/// Where [`resync`] found the next readable entry, or that none follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resync {
    /// A plausible message entry for `sequence` starts at the current position;
    /// the decompressed bytes `lost_from..` up to it were skipped.
    Found { lost_from: u64, sequence: u64 },
    /// The stream ends without another plausible entry.
    Exhausted { lost_from: u64 },
    /// The search stopped at `pos()` with its [`SearchBudget`] spent (`searched`
    /// decompressed bytes over the scan): what follows is not read.
    GaveUp { lost_from: u64, searched: u64 },
}

/// Decompressed bytes the searches of one scan may examine at every offset: a
/// fixed allowance, and [`SEARCH_PER_FILE_BYTE`] per compressed byte read so far.
/// Real data rarely compresses beyond 20:1, but crafted S2 repeats decode 4 MiB
/// from 20 bytes: without a bound, a few hundred bytes of file that claim a
/// damaged chunk and then gigabytes of near-entries cost minutes of searching.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SearchBudget {
    /// Offsets examined so far by every search of the scan.
    pub searched: u64,
}

/// The allowance of [`SearchBudget`]: room to cross a damaged region inside a
/// message of the default 1 MiB max payload however well it compresses, twice.
pub const SEARCH_ALLOWANCE: u64 = 2 << 20;
/// Offsets a search may examine per compressed byte read: well above what message
/// data decompresses to per byte (S2 rarely reaches 20:1 on it), so only long runs
/// of repeated bytes after damage can make a real search stop (with a finding).
pub const SEARCH_PER_FILE_BYTE: u64 = 64;

impl SearchBudget {
    /// Offsets still allowed with `file_pos` compressed bytes read.
    fn left(&self, file_pos: u64) -> u64 {
        SEARCH_ALLOWANCE
            .saturating_add(file_pos.saturating_mul(SEARCH_PER_FILE_BYTE))
            .saturating_sub(self.searched)
    }
}

/// Entries that must follow a resync candidate.
const CONFIRMING_ENTRIES: usize = 2;
/// The most bytes a candidate may ask to see before it is confirmed: the largest
/// plausible entry and a few headers after it.
const MAX_CONFIRM_VIEW: usize = (64 << 20) + (MAX_HEADER_BLOCK as usize) + (1 << 20);

/// What [`find_entry_start`] found in the bytes it was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntrySearch {
    /// A confirmed entry for `sequence` starts at this offset.
    Found {
        at: usize,
        sequence: u64,
    },
    /// A candidate at `resume_at` needs `want` bytes in view to be confirmed.
    NeedMore {
        resume_at: usize,
        want: usize,
    },
    NotFound,
}

enum Confirmation {
    Yes,
    No,
    OutOfView(usize),
}

/// Looks in `buffered` from `from` for the first offset where a plausible message
/// entry meeting `expect` starts and is confirmed by the entries that follow it (or
/// the sentinel, or the end of the stream when `at_stop`). Each offset is examined once.
pub fn find_entry_start(
    buffered: &[u8],
    from: usize,
    expect: &Expectation,
    at_stop: bool,
) -> EntrySearch {
    find_entry_start_until(buffered, from, buffered.len(), expect, at_stop)
}

/// [`find_entry_start`] with candidates only at offsets `from..until` (the bytes
/// after `until` still confirm a candidate): a search with a budget.
pub fn find_entry_start_until(
    buffered: &[u8],
    from: usize,
    until: usize,
    expect: &Expectation,
    at_stop: bool,
) -> EntrySearch {
    for start in from..until.min(buffered.len()) {
        let Some((candidate, used)) = buffered
            .get(start..)
            .and_then(|rest| plausible_message_header(rest, expect))
        else {
            continue;
        };
        match confirm(buffered, start, &candidate, used, expect, at_stop) {
            Confirmation::Yes => {
                return EntrySearch::Found {
                    at: start,
                    sequence: candidate.sequence,
                }
            }
            Confirmation::No => {}
            Confirmation::OutOfView(want) if want <= MAX_CONFIRM_VIEW => {
                return EntrySearch::NeedMore {
                    resume_at: start,
                    want,
                }
            }
            Confirmation::OutOfView(_) => {}
        }
    }
    EntrySearch::NotFound
}

/// The first offset in `buf[..end]` from which plausible message entries meeting
/// `expect`, with sequences below `below`, run back to back to exactly `end`: the
/// entries a message whose sizes were damaged swallowed, when the entry after it
/// starts right where the damaged sizes say it ends. Returns that offset and the
/// first entry's sequence. Chains are walked only from plausible candidates, each
/// at most `end` bytes long: callers bound `end`.
pub fn swallowed_entries(
    buf: &[u8],
    end: usize,
    expect: &Expectation,
    below: u64,
) -> Option<(usize, u64)> {
    let view = buf.get(..end)?;
    // Entry starts a failed chain went through: a later chain that reaches one
    // fails the same way, so each offset is walked from at most once (linear).
    let mut dead = vec![false; end];
    (0..end).find_map(|start| {
        if dead.get(start).copied().unwrap_or(true) {
            return None;
        }
        let (first, used) = plausible_message_header(view.get(start..)?, expect)?;
        let mut at = start;
        let mut header = first.clone();
        let mut used = used;
        let mut walked = Vec::new();
        let found = loop {
            walked.push(at);
            if header.sequence >= below {
                break false;
            }
            let Some(next) = at
                .checked_add(used)
                .and_then(|at| at.checked_add(usize::try_from(header.data_len()).ok()?))
            else {
                break false;
            };
            at = next;
            if at == end {
                break true;
            }
            if dead.get(at).copied().unwrap_or(true) {
                break false;
            }
            match view
                .get(at..)
                .and_then(|rest| plausible_message_header(rest, &expect.after(header.sequence)))
            {
                Some(next) => (header, used) = next,
                None => break false,
            }
        };
        if found {
            return Some((start, first.sequence));
        }
        for offset in walked {
            if let Some(slot) = dead.get_mut(offset) {
                *slot = true;
            }
        }
        None
    })
}

/// Do the entries after a candidate at `start` line up?
fn confirm(
    buffered: &[u8],
    start: usize,
    candidate: &EntryHeader,
    used: usize,
    expect: &Expectation,
    at_stop: bool,
) -> Confirmation {
    let entry_end = |at: usize, header: &EntryHeader, used: usize| {
        at.saturating_add(used)
            .saturating_add(usize::try_from(header.data_len()).unwrap_or(usize::MAX))
    };
    let mut next_at = entry_end(start, candidate, used);
    let mut expect = expect.after(candidate.sequence);
    for _ in 0..CONFIRMING_ENTRIES {
        // A following header is at most 50 bytes of varints and its name.
        let view = next_at.saturating_add(50 + 4096);
        let Some(rest) = buffered.get(next_at..) else {
            return if at_stop {
                Confirmation::No
            } else {
                Confirmation::OutOfView(view)
            };
        };
        if rest.get(..5) == Some(&[0u8; 5][..]) {
            return Confirmation::Yes;
        }
        let Some((next, next_used)) = plausible_message_header(rest, &expect) else {
            // The stream ends (or stops at lost bytes) right after the candidate.
            if at_stop && rest.is_empty() {
                return Confirmation::Yes;
            }
            if !at_stop && buffered.len() < view {
                return Confirmation::OutOfView(view);
            }
            return Confirmation::No;
        };
        expect = expect.after(next.sequence);
        next_at = entry_end(next_at, &next, next_used);
    }
    Confirmation::Yes
}

/// When `pos` lies in a chunk that failed its CRC, that chunk's end.
fn damaged_chunk_end(chunks: &[ChunkRecord], pos: u64) -> Option<u64> {
    let index = chunks.partition_point(|chunk| chunk.decompressed_end() <= pos);
    chunks
        .get(index)
        .filter(|chunk| chunk.decompressed_offset <= pos && chunk.status != ChunkStatus::Ok)
        .map(ChunkRecord::decompressed_end)
}

/// Bytes kept at the end of a searched window: a header cut by the window edge
/// (varints and a name of up to 4 KiB) is searched again with what follows.
const WINDOW_TAIL: usize = 4096 + 64;

/// Searches forward for the next plausible message entry meeting `expect` and stops in
/// front of it. Bytes of a discontinuity are accepted as lost. The offsets examined
/// are counted in `budget` (shared by the searches of one scan); with it spent, the
/// search gives up where it is.
pub fn resync<S: ChunkSource>(
    stream: &mut DecodedStream<S>,
    expect: &Expectation,
    budget: &mut SearchBudget,
) -> Resync {
    const WINDOW: usize = 1 << 16;
    stream.accept_discontinuity();
    let lost_from = stream.pos();
    let mut from = 0usize;
    let mut want = WINDOW;
    loop {
        stream.accept_discontinuity();
        let stop = stream.fill(want).err();
        // Bytes of a chunk that failed its CRC steer nothing: no candidate is taken
        // from them, the search resumes at the chunk's end (a crafted run of such
        // chunks, each decoding to 4 MiB, was otherwise searched byte by byte).
        if from == 0 {
            if let Some(end) = damaged_chunk_end(&stream.chunks.chunks, stream.pos()) {
                match stream.skip(end.saturating_sub(stream.pos())) {
                    Err((_, StreamStop::End)) => return Resync::Exhausted { lost_from },
                    Ok(()) | Err((_, StreamStop::Discontinuity)) => continue,
                }
            }
        }
        let left = budget.left(stream.file_pos());
        let buffered = stream.buffered();
        let until = buffered
            .len()
            .min(from.saturating_add(usize::try_from(left).unwrap_or(usize::MAX)));
        let search = find_entry_start_until(buffered, from, until, expect, stop.is_some());
        let examined = match search {
            EntrySearch::Found { at, .. } => at,
            EntrySearch::NeedMore { resume_at, .. } => resume_at,
            EntrySearch::NotFound => until,
        };
        budget.searched = budget
            .searched
            .saturating_add(examined.saturating_sub(from) as u64);
        if search == EntrySearch::NotFound && until < buffered.len() {
            // Offsets are left unexamined: the budget is spent.
            let _ = stream.skip(until as u64); // within the buffered bytes: cannot fail
            return Resync::GaveUp {
                lost_from,
                searched: budget.searched,
            };
        }
        match search {
            EntrySearch::Found { at, sequence } => {
                // `at` lies inside the buffered bytes, so the skip cannot fail.
                let _ = stream.skip(at as u64);
                return Resync::Found {
                    lost_from,
                    sequence,
                };
            }
            EntrySearch::NeedMore {
                resume_at,
                want: more,
            } => {
                from = resume_at;
                want = more.max(buffered.len() + 1);
                continue;
            }
            EntrySearch::NotFound => {}
        }
        if stop == Some(StreamStop::End) {
            return Resync::Exhausted { lost_from };
        }
        // Bytes before a discontinuity are not contiguous with what follows: drop them all.
        let keep = if stop == Some(StreamStop::Discontinuity) {
            0
        } else {
            WINDOW_TAIL.min(buffered.len())
        };
        let advance = buffered.len() - keep;
        if advance == 0 && stop.is_none() {
            return Resync::Exhausted { lost_from };
        }
        from = 0;
        want = WINDOW.max(keep + 1);
        // Within the buffered bytes: cannot fail.
        let _ = stream.skip(advance as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::s2::{masked_crc, S2_IDENTIFIER};

    /// An S2 stream of `blocks` 4 MiB blocks repeating `pattern`, a few dozen bytes each.
    fn repeated_blocks(pattern: &[u8], blocks: usize) -> Vec<u8> {
        let block: Vec<u8> = pattern.iter().copied().cycle().take(4 << 20).collect();
        let encoded = minlz::encode(&block);
        let mut file = vec![0xff, 6, 0, 0];
        file.extend_from_slice(S2_IDENTIFIER);
        for _ in 0..blocks {
            file.push(0x00);
            file.extend_from_slice(&((encoded.len() + 4) as u32).to_le_bytes()[..3]);
            file.extend_from_slice(&masked_crc(&block).to_le_bytes());
            file.extend_from_slice(&encoded);
        }
        file
    }

    /// A fuzz-found input (tests/fuzz_corpus/scan_raw-v2-resync-over-repeats) had 494
    /// bytes decompress to 27 MB in which no offset starts a message entry: the search
    /// examined every offset for 12 s. Now it stops within its budget and says so.
    #[test]
    fn a_search_through_repeated_blocks_stops_within_its_budget() {
        // Sequence-0 consumer entries: no offset holds a rising sequence.
        let file = repeated_blocks(b"\x0b\x02\x00\x00\x02consumers/c{}", 2);
        assert!(file.len() < 4096, "{} bytes", file.len());
        let limit = SEARCH_ALLOWANCE + SEARCH_PER_FILE_BYTE * file.len() as u64;
        let mut stream = DecodedStream::new(&file[..]);
        let mut budget = SearchBudget::default();
        let outcome = resync(&mut stream, &Expectation::default(), &mut budget);
        assert_eq!(
            outcome,
            Resync::GaveUp {
                lost_from: 0,
                searched: budget.searched
            }
        );
        assert!(budget.searched <= limit, "{} > {limit}", budget.searched);
        assert!(budget.searched >= SEARCH_ALLOWANCE);
        assert_eq!(stream.pos(), budget.searched);
        // The budget is the scan's: a later search has nothing left.
        let again = resync(&mut stream, &Expectation::default(), &mut budget);
        assert!(matches!(again, Resync::GaveUp { .. }), "{again:?}");
        assert!(budget.searched <= limit);
    }

    /// The budget never stops a search that real data justifies: an entry after more
    /// than the allowance of bytes that compress like real payloads (4:1) is found.
    #[test]
    fn a_search_through_real_sized_bytes_finds_the_entry() {
        let mut decoded = Vec::new();
        let mut state = 0x1234_5678_u32;
        while (decoded.len() as u64) < SEARCH_ALLOWANCE + (1 << 20) {
            // Two random bits in every byte: compresses to about a quarter, never matches.
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            decoded.push(0x80 | (state >> 30) as u8);
        }
        let found_at = decoded.len() as u64;
        for seq in [7u64, 8, 9] {
            decoded.extend_from_slice(&[3, 2, seq as u8, 0, 1]);
            decoded.extend_from_slice(b"a.b");
            decoded.push(b'x');
        }
        decoded.extend_from_slice(&[0u8; 5]);
        let mut file = vec![0xff, 6, 0, 0];
        file.extend_from_slice(S2_IDENTIFIER);
        for block in decoded.chunks(4 << 20) {
            let encoded = minlz::encode(block);
            file.push(0x00);
            file.extend_from_slice(&((encoded.len() + 4) as u32).to_le_bytes()[..3]);
            file.extend_from_slice(&masked_crc(block).to_le_bytes());
            file.extend_from_slice(&encoded);
        }
        let mut stream = DecodedStream::new(&file[..]);
        let mut budget = SearchBudget::default();
        let outcome = resync(&mut stream, &Expectation::default(), &mut budget);
        assert_eq!(
            outcome,
            Resync::Found {
                lost_from: 0,
                sequence: 7
            }
        );
        assert_eq!(stream.pos(), found_at);
    }
}
