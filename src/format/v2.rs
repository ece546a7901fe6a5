//! v2 `NATSARC1` entry stream: magic, varint entry headers, payloads, sentinel.
//!
//! Header field order on the wire: name_len, timestamp (zigzag), sequence,
//! header_size, payload_size, then the name and `header_size + payload_size` bytes.

use super::s2::{ChunkSource, DecodedStream, StreamStop};
use super::varint::{read_uvarint, VarintError};

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
                let _ = stream.take(used);
                return Ok(header);
            }
            Ok(None) => {
                if let Some(stop) = stop {
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

/// Does `buf` plausibly start a message entry following `previous_seq`? Used to resynchronise.
/// Called at every byte offset of a damaged region: the checks run on the borrowed
/// bytes and the name is copied only for a plausible candidate.
pub fn plausible_message_header(buf: &[u8], previous_seq: u64) -> Option<(EntryHeader, usize)> {
    // Cheap rejection first: this runs at every byte offset of a damaged region.
    let (name_len, _) = read_uvarint(buf).ok()?;
    if name_len == 0 || name_len > 4096 {
        return None;
    }
    let raw = parse_raw_entry_header(buf).ok().flatten()?;
    let name = buf.get(raw.name_start..raw.name_end)?;
    let plausible_name = !name.is_empty()
        && name.len() <= 4096
        && name
            .iter()
            .all(|&byte| byte > 0x20 && byte != 0x7f && byte != b'*' && byte != b'>');
    let sane_sequence = raw.sequence > previous_seq && raw.sequence - previous_seq < 100_000_000;
    let sane_sizes = raw.header_size <= MAX_HEADER_BLOCK && raw.payload_size <= (64 << 20);
    let sane_headers = raw.header_size == 0 || raw.header_size >= 12;
    if !(plausible_name && sane_sequence && sane_sizes && sane_headers) {
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
}

/// Looks in `buffered` for the first offset where a plausible message entry after
/// `previous_seq` starts and is confirmed by what follows it (the next entry or the
/// sentinel, or the end of the stream when `at_stop`). Returns (offset, sequence).
pub fn find_entry_start(buffered: &[u8], previous_seq: u64, at_stop: bool) -> Option<(usize, u64)> {
    for start in 0..buffered.len() {
        let Some((candidate, used)) = buffered
            .get(start..)
            .and_then(|rest| plausible_message_header(rest, previous_seq))
        else {
            continue;
        };
        let next_at = start
            .saturating_add(used)
            .saturating_add(usize::try_from(candidate.data_len()).unwrap_or(usize::MAX));
        let confirmed = match buffered.get(next_at..) {
            Some(rest) if rest.len() >= 5 => {
                rest.get(..5) == Some(&[0u8; 5][..])
                    || plausible_message_header(rest, candidate.sequence).is_some()
            }
            _ => at_stop && next_at == buffered.len(),
        };
        if confirmed {
            return Some((start, candidate.sequence));
        }
    }
    None
}

/// Searches forward for the next plausible message entry after `previous_seq` and
/// stops in front of it. Bytes of a discontinuity are accepted as lost.
pub fn resync<S: ChunkSource>(stream: &mut DecodedStream<S>, previous_seq: u64) -> Resync {
    const WINDOW: usize = 1 << 16;
    stream.accept_discontinuity();
    let lost_from = stream.pos();
    loop {
        stream.accept_discontinuity();
        let stop = stream.fill(WINDOW).err();
        let buffered = stream.buffered();
        if let Some((start, sequence)) = find_entry_start(buffered, previous_seq, stop.is_some()) {
            // `start` lies inside the buffered bytes, so the skip cannot fail.
            let _ = stream.skip(start as u64);
            return Resync::Found {
                lost_from,
                sequence,
            };
        }
        if stop == Some(StreamStop::End) {
            return Resync::Exhausted { lost_from };
        }
        // Keep a tail in case a header straddles the window edge; bytes before a
        // discontinuity are not contiguous with what follows, so drop them all.
        let keep = if stop == Some(StreamStop::Discontinuity) {
            0
        } else {
            64.min(buffered.len())
        };
        let advance = buffered.len() - keep;
        if advance == 0 && stop.is_none() {
            return Resync::Exhausted { lost_from };
        }
        let _ = stream.skip(advance as u64);
    }
}
