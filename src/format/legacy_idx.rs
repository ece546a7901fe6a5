//! `msgs/N.idx` of archives from servers ≤ 2.9: per-block state and delete list.
//! Before 2.10 there were no tombstones, so these lists are the only record of
//! acks, limit trimming and non-erase deletes; the server trusts a block's `.idx`
//! when its accounting adds up and its last checksum matches the block.
//!
//! Decoding only: whether a block's `.idx` is believed is the scan's decision
//! (`ops::scan`); no I/O.

use super::index_db::decode_seqset;
use super::varint::Cursor;

const IDX_MAGIC: u8 = 22;
const EBIT: u64 = 1 << 63;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyIdx {
    pub msgs: u64,
    pub bytes: u64,
    pub first_seq: u64,
    pub first_ts_ns: i64,
    pub last_seq: u64,
    pub last_ts_ns: i64,
    /// Sorted deleted sequences.
    pub deleted: Vec<u64>,
    pub last_checksum: [u8; 8],
}

pub fn parse_legacy_idx(data: &[u8]) -> Result<LegacyIdx, String> {
    let mut cursor = Cursor::new(data);
    let short = || "short .idx file".to_string();
    let magic = cursor.u8().ok_or_else(short)?;
    let version = cursor.u8().ok_or_else(short)?;
    if magic != IDX_MAGIC || !(version == 1 || version == 2) {
        return Err(format!(".idx header {magic}/{version} is not 22/1 or 22/2"));
    }
    let mut number = || {
        cursor
            .uvarint()
            .map(|value| value & !EBIT)
            .ok_or_else(short)
    };
    let msgs = number()?;
    let bytes = number()?;
    let first_seq = number()?;
    let first_ts_ns = cursor.varint().ok_or_else(short)?;
    let last_seq = cursor
        .uvarint()
        .map(|value| value & !EBIT)
        .ok_or_else(short)?;
    let last_ts_ns = cursor.varint().ok_or_else(short)?;
    let deleted_count = cursor
        .uvarint()
        .map(|value| value & !EBIT)
        .ok_or_else(short)?;
    if msgs
        != last_seq
            .wrapping_sub(first_seq)
            .wrapping_add(1)
            .wrapping_sub(deleted_count)
    {
        return Err(".idx accounting is inconsistent (msgs ≠ last − first + 1 − deleted)".into());
    }
    let mut last_checksum = [0u8; 8];
    last_checksum.copy_from_slice(cursor.bytes(8).ok_or_else(short)?);
    let mut deleted = Vec::new();
    if deleted_count > 0 {
        if version == 2 {
            let (set, _) = decode_seqset(data.get(cursor.pos..).unwrap_or_default())?;
            deleted = set;
        } else {
            for _ in 0..deleted_count.min(cursor.remaining() as u64) {
                let Some(offset) = cursor.uvarint().map(|value| value & !EBIT) else {
                    break;
                };
                if offset == 0 {
                    break;
                }
                deleted.push(offset.wrapping_add(first_seq));
            }
            deleted.sort_unstable();
            deleted.dedup();
        }
    }
    Ok(LegacyIdx {
        msgs,
        bytes,
        first_seq,
        first_ts_ns,
        last_seq,
        last_ts_ns,
        deleted,
        last_checksum,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::varint::{write_uvarint, write_varint};

    #[test]
    fn version_one_with_deletes() {
        let mut data = vec![22, 1];
        for value in [7u64, 300, 4] {
            write_uvarint(&mut data, value);
        }
        write_varint(&mut data, 1_000);
        write_uvarint(&mut data, 12);
        write_varint(&mut data, 2_000);
        write_uvarint(&mut data, 2);
        data.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        write_uvarint(&mut data, 2); // seq 6
        write_uvarint(&mut data, 5); // seq 9
        let idx = parse_legacy_idx(&data);
        let Ok(idx) = idx else { panic!("{idx:?}") };
        assert_eq!((idx.first_seq, idx.last_seq, idx.msgs), (4, 12, 7));
        assert_eq!(idx.deleted, vec![6, 9]);
        assert_eq!(idx.last_checksum, [1, 2, 3, 4, 5, 6, 7, 8]);
        // Inconsistent accounting is refused, as by the server.
        data[2] = 8;
        assert!(parse_legacy_idx(&data).is_err());
        assert!(parse_legacy_idx(&[22]).is_err());
    }
}
