//! Filestore message blocks (`msgs/N.blk`): record layout, flag bits and checksums.
//! Bytes only: what a record means for the stream (live, deleted, lost) is the scan's
//! (`ops::scan::v1_blocks`); no I/O.

use super::hash::Hh64Key;

pub const MSG_HDR_SIZE: usize = 22;
pub const CHECKSUM_SIZE: usize = 8;
pub const EMPTY_RECORD_LEN: usize = 30;
pub const HBIT: u32 = 1 << 31;
pub const EBIT: u64 = 1 << 63;
pub const TBIT: u64 = 1 << 62;
pub const SEQ_MASK: u64 = !(EBIT | TBIT);
/// The server treats longer records as corruption.
pub const RL_BAD_THRESHOLD: u32 = 32 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    Message,
    /// `ebit`: secure erase or skip marker.
    Erased,
    /// `tbit`: "sequence was removed".
    Tombstone,
    /// Raw sequence 0: legacy erase.
    Zero,
}

/// One record of a block, located by offsets into the block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    pub offset: usize,
    /// Record length without the header bit.
    pub len: u32,
    pub raw_seq: u64,
    pub seq: u64,
    pub ts_ns: i64,
    pub kind: RecordKind,
    pub subject_start: usize,
    pub subject_len: usize,
    /// Header block start and length (0 when none).
    pub hdr_start: usize,
    pub hdr_len: usize,
    pub data_start: usize,
    pub data_len: usize,
    pub checksum_ok: bool,
}

/// Why a block could not be walked past a point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordFramingError {
    pub offset: usize,
    pub reason: String,
}

/// The fixed 22-byte head of a record: length word (with the header bit), raw
/// sequence (with flag bits), timestamp and subject length. The one decoder of
/// record heads: the block walker and the resync search both use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordHeader {
    /// Record length without the header bit.
    pub len: u32,
    pub has_headers: bool,
    pub raw_seq: u64,
    pub ts_ns: i64,
    pub subject_len: usize,
}

impl RecordHeader {
    /// Decodes the head at the start of `rest`; `None` when fewer than 22 bytes are there.
    pub fn decode(rest: &[u8]) -> Option<Self> {
        let head: &[u8; MSG_HDR_SIZE] = rest.get(..MSG_HDR_SIZE)?.try_into().ok()?;
        let [l0, l1, l2, l3, s0, s1, s2, s3, s4, s5, s6, s7, t0, t1, t2, t3, t4, t5, t6, t7, j0, j1] =
            *head;
        let raw_len = u32::from_le_bytes([l0, l1, l2, l3]);
        Some(Self {
            len: raw_len & !HBIT,
            has_headers: raw_len & HBIT != 0,
            raw_seq: u64::from_le_bytes([s0, s1, s2, s3, s4, s5, s6, s7]),
            ts_ns: i64::from_le_bytes([t0, t1, t2, t3, t4, t5, t6, t7]),
            subject_len: usize::from(u16::from_le_bytes([j0, j1])),
        })
    }

    /// Could a record with this head fit in `available` bytes? The cheap test run
    /// before a candidate's checksum is computed.
    pub fn plausible_within(&self, available: usize) -> bool {
        let len = self.len as usize;
        len >= EMPTY_RECORD_LEN
            && len <= available
            && self.len <= RL_BAD_THRESHOLD
            && self.subject_len + EMPTY_RECORD_LEN <= len
    }
}

/// Walks the records of a block, verifying each checksum with `key`.
/// Stops at the first framing error (the server truncates there); a checksum-only
/// failure is reported on the record and the walk continues.
pub fn walk_records(
    block: &[u8],
    key: &Hh64Key,
    mut visit: impl FnMut(&Record),
) -> Result<(), RecordFramingError> {
    let mut offset = 0usize;
    while let Some(rest) = block.get(offset..).filter(|rest| !rest.is_empty()) {
        let record =
            read_record(rest, key).map_err(|reason| RecordFramingError { offset, reason })?;
        visit(&record.at(offset));
        offset += record.len as usize;
    }
    Ok(())
}

/// Reads the record at the start of `rest` (offsets relative to `rest`).
fn read_record(rest: &[u8], key: &Hh64Key) -> Result<Record, String> {
    let Some(head) = RecordHeader::decode(rest) else {
        return Err(format!(
            "{} trailing bytes, too short for a record",
            rest.len()
        ));
    };
    let len = head.len;
    if len > RL_BAD_THRESHOLD {
        return Err(format!("record length {len} above 32 MiB"));
    }
    let len_usize = len as usize;
    if len_usize < EMPTY_RECORD_LEN {
        return Err(format!("record length {len} below the 30-byte minimum"));
    }
    let Some(record) = rest.get(..len_usize) else {
        return Err(format!(
            "record length {len} runs past the block end ({} bytes left)",
            rest.len()
        ));
    };
    let subject_len = head.subject_len;
    let dlen = len_usize - MSG_HDR_SIZE;
    let shlen = subject_len + if head.has_headers { 4 } else { 0 };
    if shlen > dlen - CHECKSUM_SIZE {
        return Err(format!("subject/header lengths exceed record length {len}"));
    }
    let subject_start = MSG_HDR_SIZE;
    let mut hdr_start = subject_start + subject_len;
    let mut hdr_len = 0usize;
    if head.has_headers {
        let hlen_at = subject_start + subject_len;
        let hlen = record
            .get(hlen_at..hlen_at + 4)
            .and_then(|word| <[u8; 4]>::try_from(word).ok())
            .map_or(usize::MAX, |word| u32::from_le_bytes(word) as usize);
        hdr_start = hlen_at + 4;
        if hlen > len_usize - CHECKSUM_SIZE - hdr_start {
            return Err(format!("header length {hlen} exceeds record length {len}"));
        }
        hdr_len = hlen;
    }
    let data_start = hdr_start + hdr_len;
    let checksum_at = len_usize - CHECKSUM_SIZE;
    let data_len = checksum_at - data_start;
    let part = |from: usize, to: usize| record.get(from..to).unwrap_or_default();
    let expected = key.sum(&[
        part(4, 20),
        part(subject_start, subject_start + subject_len),
        part(hdr_start, hdr_start + hdr_len),
        part(data_start, checksum_at),
    ]);
    let checksum_ok = part(checksum_at, len_usize) == expected;
    let raw_seq = head.raw_seq;
    let kind = if raw_seq & TBIT != 0 {
        RecordKind::Tombstone
    } else if raw_seq & EBIT != 0 {
        RecordKind::Erased
    } else if raw_seq == 0 {
        RecordKind::Zero
    } else {
        RecordKind::Message
    };
    Ok(Record {
        offset: 0,
        len,
        raw_seq,
        seq: raw_seq & SEQ_MASK,
        ts_ns: head.ts_ns,
        kind,
        subject_start,
        subject_len,
        hdr_start,
        hdr_len,
        data_start,
        data_len,
        checksum_ok,
    })
}

impl Record {
    /// The same record with its offsets moved by `base` bytes.
    pub fn at(mut self, base: usize) -> Self {
        self.offset += base;
        self.subject_start += base;
        self.hdr_start += base;
        self.data_start += base;
        self
    }
}

/// The next offset ≥ `from` where a whole record with a valid checksum starts.
/// `hash_budget` bounds the bytes hashed over all calls, so hostile blocks stay
/// linear; `None` when none is found or the budget is spent.
pub fn find_next_record(
    data: &[u8],
    from: usize,
    key: &Hh64Key,
    hash_budget: &mut usize,
) -> Option<usize> {
    let mut position = from;
    while let Some(candidate) = data.get(position..) {
        // The length word alone rules out most offsets (zeros, text): checked before
        // the whole head is decoded, since every byte of a damaged stretch is tried.
        if let Some(&[l0, l1, l2, l3]) = candidate.get(..4) {
            let len = u32::from_le_bytes([l0, l1, l2, l3]) & !HBIT;
            if candidate.len() >= MSG_HDR_SIZE
                && (len < EMPTY_RECORD_LEN as u32
                    || len > RL_BAD_THRESHOLD
                    || len as usize > candidate.len())
            {
                position += 1;
                continue;
            }
        }
        let head = RecordHeader::decode(candidate)?;
        if head.plausible_within(candidate.len()) {
            let len = head.len as usize;
            if *hash_budget < len {
                return None;
            }
            *hash_budget -= len;
            let verified = candidate
                .get(..len)
                .and_then(|bytes| read_record(bytes, key).ok())
                .is_some_and(|record| record.checksum_ok);
            if verified {
                return Some(position);
            }
        }
        position += 1;
    }
    None
}

/// Does a whole record with a valid checksum start at `at`? Hashing is paid from `hash_budget`.
fn verified_at(data: &[u8], at: usize, key: &Hh64Key, hash_budget: &mut usize) -> bool {
    let Some(candidate) = data.get(at..) else {
        return false;
    };
    let Some(head) = RecordHeader::decode(candidate) else {
        return false;
    };
    let len = head.len as usize;
    if !head.plausible_within(candidate.len()) || *hash_budget < len {
        return false;
    }
    *hash_budget -= len;
    candidate
        .get(..len)
        .and_then(|bytes| read_record(bytes, key).ok())
        .is_some_and(|record| record.checksum_ok)
}

/// A malformed stretch of a block skipped by [`walk_records_resyncing`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordGap {
    /// Block offset of the malformed record.
    pub bad_at: usize,
    pub reason: String,
    /// Where reading resumed (the next record whose checksum verifies), if anywhere.
    /// Before `bad_at` when a damaged record's length overshot the record after it.
    pub resumed_at: Option<usize>,
}

/// Walks a block like [`walk_records`], but after a malformed record goes on from
/// the next record whose checksum verifies. The length of a record that fails its
/// checksum is not trusted either: the next record is searched from just after its
/// start. Returns the stretches skipped.
pub fn walk_records_resyncing(
    data: &[u8],
    key: &Hh64Key,
    mut visit: impl FnMut(&Record),
) -> Vec<RecordGap> {
    let mut position = 0usize;
    // Verifying candidates hashes bytes; bound the total so hostile blocks stay linear.
    let mut hash_budget = data.len().saturating_mul(4).saturating_add(1 << 20);
    let mut gaps = Vec::new();
    while let Some(rest) = data.get(position..).filter(|rest| !rest.is_empty()) {
        let (bad_at, reason) = match read_record(rest, key) {
            Ok(record) if record.checksum_ok => {
                visit(&record.at(position));
                position += record.len as usize;
                continue;
            }
            Ok(record) => {
                visit(&record.at(position));
                let declared_end = position + record.len as usize;
                match find_next_record(data, position + 1, key, &mut hash_budget) {
                    // The declared length was right after all.
                    Some(next) if next == declared_end => {
                        position = next;
                        continue;
                    }
                    // A record verifies where the declared length ends (the length
                    // skipped whole records) or the block ends there: the server walks on.
                    Some(next)
                        if next < declared_end
                            && (declared_end == data.len()
                                || verified_at(data, declared_end, key, &mut hash_budget)) =>
                    {
                        position = next;
                        continue;
                    }
                    // The declared length ends inside a later record: the server,
                    // which trusts it, finds a malformed record there and truncates
                    // the block; the scan reads on from the record it found.
                    Some(next) if next < declared_end => {
                        gaps.push(RecordGap {
                            bad_at: declared_end,
                            reason: format!(
                                "the damaged record at block offset {position} declares a length ending inside a later record"
                            ),
                            resumed_at: Some(next),
                        });
                        position = next;
                        continue;
                    }
                    _ => (
                        declared_end,
                        "no record follows where the damaged record says it ends".to_string(),
                    ),
                }
            }
            Err(reason) => (position, reason),
        };
        if bad_at >= data.len() {
            break;
        }
        let next = find_next_record(data, bad_at + 1, key, &mut hash_budget);
        gaps.push(RecordGap {
            bad_at,
            reason,
            resumed_at: next,
        });
        match next {
            Some(next) => position = next,
            None => break,
        }
    }
    gaps
}

/// Encodes one record (for writers). `raw_seq` carries any flag bits.
pub fn encode_record(
    out: &mut Vec<u8>,
    key: &Hh64Key,
    raw_seq: u64,
    ts_ns: i64,
    subject: &[u8],
    headers: &[u8],
    data: &[u8],
) {
    let has_headers = !headers.is_empty();
    let len = MSG_HDR_SIZE
        + subject.len()
        + if has_headers { 4 + headers.len() } else { 0 }
        + data.len()
        + CHECKSUM_SIZE;
    let raw_len = len as u32 | if has_headers { HBIT } else { 0 };
    out.extend_from_slice(&raw_len.to_le_bytes());
    out.extend_from_slice(&raw_seq.to_le_bytes());
    out.extend_from_slice(&ts_ns.to_le_bytes());
    out.extend_from_slice(&(subject.len() as u16).to_le_bytes());
    out.extend_from_slice(subject);
    if has_headers {
        out.extend_from_slice(&(headers.len() as u32).to_le_bytes());
        out.extend_from_slice(headers);
    }
    out.extend_from_slice(data);
    // The checksum covers seq and ts as written, then subject, headers and data.
    let checksum = key.sum(&[
        &raw_seq.to_le_bytes(),
        &ts_ns.to_le_bytes(),
        subject,
        headers,
        data,
    ]);
    out.extend_from_slice(&checksum);
}

/// The filestore's byte accounting for one message.
pub fn record_size(subject_len: usize, hdr_len: usize, data_len: usize) -> u64 {
    (MSG_HDR_SIZE
        + subject_len
        + if hdr_len > 0 { 4 + hdr_len } else { 0 }
        + data_len
        + CHECKSUM_SIZE) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_then_walk() {
        let key = Hh64Key::new("ORDERS-1");
        let mut block = Vec::new();
        encode_record(
            &mut block,
            &key,
            7,
            1_795_788_762_837_515_093,
            b"orders.1",
            b"",
            b"payload-7",
        );
        // The worked example of the format document.
        assert_eq!(block.len(), 47);
        assert_eq!(
            &block[39..47],
            &[0xb5, 0x55, 0xd6, 0xc1, 0xe7, 0x0f, 0xb5, 0xe3]
        );
        encode_record(&mut block, &key, 8 | TBIT, 5, b"", b"", b"");
        let mut seen = Vec::new();
        let walked = walk_records(&block, &key, |record| seen.push(*record));
        assert_eq!(walked, Ok(()));
        assert_eq!(seen.len(), 2);
        assert!(seen.iter().all(|record| record.checksum_ok));
        assert_eq!(seen[1].kind, RecordKind::Tombstone);
        assert_eq!(seen[1].seq, 8);
    }

    #[test]
    fn garbage_block_stops_with_error() {
        let key = Hh64Key::new("X-1");
        let block = [0xffu8; 64];
        assert!(walk_records(&block, &key, |_| {}).is_err());
        assert!(walk_records(&[1, 2, 3], &key, |_| {}).is_err());
    }
}
