//! Filestore message blocks (`msgs/N.blk`): record layout, flag bits and checksums.

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

/// Walks the records of a block, verifying each checksum with `key`.
/// Stops at the first framing error (the server truncates there); a checksum-only
/// failure is reported on the record and the walk continues.
pub fn walk_records(
    block: &[u8],
    key: &Hh64Key,
    mut visit: impl FnMut(&Record),
) -> Result<(), RecordFramingError> {
    let mut offset = 0usize;
    while offset < block.len() {
        let rest = &block[offset..];
        let fail = |reason: String| Err(RecordFramingError { offset, reason });
        if rest.len() < MSG_HDR_SIZE {
            return fail(format!(
                "{} trailing bytes, too short for a record",
                rest.len()
            ));
        }
        let raw_len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]);
        let has_headers = raw_len & HBIT != 0;
        let len = raw_len & !HBIT;
        if len > RL_BAD_THRESHOLD {
            return fail(format!("record length {len} above 32 MiB"));
        }
        let len_usize = len as usize;
        if len_usize < EMPTY_RECORD_LEN {
            return fail(format!("record length {len} below the 30-byte minimum"));
        }
        if len_usize > rest.len() {
            return fail(format!(
                "record length {len} runs past the block end ({} bytes left)",
                rest.len()
            ));
        }
        let mut word = [0u8; 8];
        word.copy_from_slice(&rest[4..12]);
        let raw_seq = u64::from_le_bytes(word);
        word.copy_from_slice(&rest[12..20]);
        let ts_ns = i64::from_le_bytes(word);
        let subject_len = usize::from(u16::from_le_bytes([rest[20], rest[21]]));
        let dlen = len_usize - MSG_HDR_SIZE;
        let shlen = subject_len + if has_headers { 4 } else { 0 };
        if shlen > dlen - CHECKSUM_SIZE {
            return fail(format!("subject/header lengths exceed record length {len}"));
        }
        let subject_start = MSG_HDR_SIZE;
        let mut hdr_start = subject_start + subject_len;
        let mut hdr_len = 0usize;
        if has_headers {
            let hlen_at = subject_start + subject_len;
            let hlen = u32::from_le_bytes([
                rest[hlen_at],
                rest[hlen_at + 1],
                rest[hlen_at + 2],
                rest[hlen_at + 3],
            ]) as usize;
            hdr_start = hlen_at + 4;
            if hlen > len_usize - CHECKSUM_SIZE - hdr_start {
                return fail(format!("header length {hlen} exceeds record length {len}"));
            }
            hdr_len = hlen;
        }
        let data_start = hdr_start + hdr_len;
        let data_len = len_usize - CHECKSUM_SIZE - data_start;
        let checksum_at = len_usize - CHECKSUM_SIZE;
        let expected = key.sum(&[
            &rest[4..20],
            &rest[subject_start..subject_start + subject_len],
            &rest[hdr_start..hdr_start + hdr_len],
            &rest[data_start..checksum_at],
        ]);
        let checksum_ok = rest[checksum_at..len_usize] == expected;
        let kind = if raw_seq & TBIT != 0 {
            RecordKind::Tombstone
        } else if raw_seq & EBIT != 0 {
            RecordKind::Erased
        } else if raw_seq == 0 {
            RecordKind::Zero
        } else {
            RecordKind::Message
        };
        visit(&Record {
            offset,
            len,
            raw_seq,
            seq: raw_seq & SEQ_MASK,
            ts_ns,
            kind,
            subject_start: offset + subject_start,
            subject_len,
            hdr_start: offset + hdr_start,
            hdr_len,
            data_start: offset + data_start,
            data_len,
            checksum_ok,
        });
        offset += len_usize;
    }
    Ok(())
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
    let start = out.len();
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
    let checksum = key.sum(&[&out[start + 4..start + 20], subject, headers, data]);
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
