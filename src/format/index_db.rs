//! `msgs/index.db` (full stream state, magic 11, versions 1–4), the AVL
//! SequenceSet encoding of per-block delete maps, and consumer `o.dat`.

use super::hash::Hh64Key;
use super::varint::Cursor;

pub const FULL_STATE_MAGIC: u8 = 11;
pub const SEQSET_MAGIC: u8 = 22;
pub const CONSUMER_STATE_MAGIC: u8 = 22;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexSubject {
    pub subject: Vec<u8>,
    pub total: u64,
    pub first_block: u64,
    pub last_block: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexBlock {
    pub index: u64,
    pub bytes: u64,
    pub first_seq: u64,
    pub first_ts_ns: i64,
    pub last_seq: u64,
    pub last_ts_ns: i64,
    pub num_deleted: u64,
    /// Sorted deleted sequences of this block.
    pub deleted: Vec<u64>,
}

impl IndexBlock {
    /// Messages in the block, derived as the server does.
    pub fn msgs(&self) -> u64 {
        self.last_seq
            .saturating_add(1)
            .saturating_sub(self.first_seq)
            .saturating_sub(self.num_deleted)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexDb {
    pub version: u8,
    pub msgs: u64,
    pub bytes: u64,
    pub first_seq: u64,
    pub first_ts_ns: i64,
    pub last_seq: u64,
    pub last_ts_ns: i64,
    pub subjects: Vec<IndexSubject>,
    pub blocks: Vec<IndexBlock>,
    pub last_block_index: u64,
    pub last_checksum: [u8; 8],
}

/// Deleted sequences [`parse_index_db`] decodes at most (8 bytes each in memory).
pub const DEFAULT_MAX_DELETES: u64 = 8 << 20;

/// Parses index.db and checks its trailing HighwayHash (keyed by the stream name).
pub fn parse_index_db(data: &[u8], stream_name: &str) -> Result<IndexDb, String> {
    parse_index_db_bounded(data, stream_name, DEFAULT_MAX_DELETES)
}

/// [`parse_index_db`] holding at most `max_deletes` deleted sequences over all
/// delete maps: a wider map is an error, not an allocation.
pub fn parse_index_db_bounded(
    data: &[u8],
    stream_name: &str,
    max_deletes: u64,
) -> Result<IndexDb, String> {
    if data.len() < 32 {
        return Err(format!(
            "index.db is {} bytes, below the 32-byte minimum",
            data.len()
        ));
    }
    let body = &data[..data.len() - 8];
    let stored = &data[data.len() - 8..];
    let computed = Hh64Key::new(stream_name).sum(&[body]);
    if stored != computed {
        return Err(
            "index.db checksum does not match (HighwayHash keyed by the stream name)".into(),
        );
    }
    let mut cursor = Cursor::new(body);
    let truncated = || "index.db ends early".to_string();
    let magic = cursor.u8().ok_or_else(truncated)?;
    let version = cursor.u8().ok_or_else(truncated)?;
    if magic != FULL_STATE_MAGIC {
        return Err(format!(
            "index.db magic {magic}, expected {FULL_STATE_MAGIC}"
        ));
    }
    if !(1..=4).contains(&version) {
        return Err(format!("index.db version {version} is not known (1-4)"));
    }
    let msgs = cursor.uvarint().ok_or_else(truncated)?;
    let bytes = cursor.uvarint().ok_or_else(truncated)?;
    let first_seq = cursor.uvarint().ok_or_else(truncated)?;
    let first_ts_ns = cursor.varint().ok_or_else(truncated)?;
    let last_seq = cursor.uvarint().ok_or_else(truncated)?;
    let last_ts_ns = cursor.varint().ok_or_else(truncated)?;
    let num_subjects = cursor.uvarint().ok_or_else(truncated)?;
    let mut subjects = Vec::new();
    for _ in 0..num_subjects {
        let subject_len = cursor.uvarint().ok_or_else(truncated)?;
        if subject_len == 0 {
            continue;
        }
        if subject_len > cursor.remaining() as u64 {
            return Err("index.db subject length overruns the file".into());
        }
        let subject = cursor
            .bytes(subject_len as usize)
            .ok_or_else(truncated)?
            .to_vec();
        let total = cursor.uvarint().ok_or_else(truncated)?;
        let first_block = cursor.uvarint().ok_or_else(truncated)?;
        let last_block = if version >= 4 || total > 1 {
            cursor.uvarint().ok_or_else(truncated)?
        } else {
            first_block
        };
        subjects.push(IndexSubject {
            subject,
            total,
            first_block,
            last_block,
        });
    }
    let num_blocks = cursor.uvarint().ok_or_else(truncated)?;
    let mut blocks = Vec::new();
    let mut deletes_held = 0u64;
    for _ in 0..num_blocks {
        let index = cursor.uvarint().ok_or_else(truncated)?;
        let block_bytes = cursor.uvarint().ok_or_else(truncated)?;
        let block_first = cursor.uvarint().ok_or_else(truncated)?;
        let first_delta = cursor.varint().ok_or_else(truncated)?;
        let block_last = cursor.uvarint().ok_or_else(truncated)?;
        let last_delta = cursor.varint().ok_or_else(truncated)?;
        let num_deleted = cursor.uvarint().ok_or_else(truncated)?;
        if version >= 2 {
            cursor.uvarint().ok_or_else(truncated)?;
        }
        if version >= 3 {
            cursor.uvarint().ok_or_else(truncated)?;
        }
        let mut deleted = Vec::new();
        if num_deleted > 0 {
            let rest = &body[cursor.pos..];
            let room = max_deletes.saturating_sub(deletes_held);
            let (set, used) = decode_seqset_bounded(rest, room).map_err(|error| {
                format!("block {index}: {error} (the scan holds at most {max_deletes} deleted sequences from index.db)")
            })?;
            deletes_held += set.len() as u64;
            cursor.pos += used;
            deleted = set;
        }
        blocks.push(IndexBlock {
            index,
            bytes: block_bytes,
            first_seq: block_first,
            first_ts_ns: first_ts_ns.wrapping_add(first_delta),
            last_seq: block_last,
            last_ts_ns: first_ts_ns.wrapping_add(last_delta),
            num_deleted,
            deleted,
        });
    }
    let last_block_index = cursor.uvarint().ok_or_else(truncated)?;
    let mut last_checksum = [0u8; 8];
    last_checksum.copy_from_slice(cursor.bytes(8).ok_or_else(truncated)?);
    Ok(IndexDb {
        version,
        msgs,
        bytes,
        first_seq,
        first_ts_ns,
        last_seq,
        last_ts_ns,
        subjects,
        blocks,
        last_block_index,
        last_checksum,
    })
}

/// Decodes an AVL SequenceSet; returns the sorted sequences and the encoded length.
pub fn decode_seqset(buf: &[u8]) -> Result<(Vec<u64>, usize), String> {
    decode_seqset_bounded(buf, u64::MAX)
}

/// [`decode_seqset`] that refuses a set of more than `max` sequences before holding them.
pub fn decode_seqset_bounded(buf: &[u8], max: u64) -> Result<(Vec<u64>, usize), String> {
    let mut cursor = Cursor::new(buf);
    let bad = |what: &str| format!("delete map: {what}");
    let magic = cursor.u8().ok_or_else(|| bad("truncated"))?;
    let version = cursor.u8().ok_or_else(|| bad("truncated"))?;
    if magic != SEQSET_MAGIC {
        return Err(bad(&format!("magic {magic}, expected {SEQSET_MAGIC}")));
    }
    let words = match version {
        1 => 64usize,
        2 => 32usize,
        other => return Err(bad(&format!("version {other} unknown"))),
    };
    let node_count = cursor.u32_le().ok_or_else(|| bad("truncated"))? as usize;
    let size = cursor.u32_le().ok_or_else(|| bad("truncated"))? as usize;
    let node_size = 8 + words * 8 + 2;
    if node_count > cursor.remaining() / node_size {
        return Err(bad("node count overruns the buffer"));
    }
    if size as u64 > max {
        return Err(bad(&format!("{size} sequences declared")));
    }
    let mut sequences = Vec::with_capacity(size.min(node_count * words * 64));
    for _ in 0..node_count {
        let base = cursor.u64_le().ok_or_else(|| bad("truncated"))?;
        for word_index in 0..words {
            let word = cursor.u64_le().ok_or_else(|| bad("truncated"))?;
            if sequences.len() as u64 + u64::from(word.count_ones()) > max {
                return Err(bad(&format!("more than {max} sequences")));
            }
            let mut bits = word;
            while bits != 0 {
                let bit = bits.trailing_zeros() as u64;
                sequences.push(base.wrapping_add(word_index as u64 * 64 + bit));
                bits &= bits - 1;
            }
        }
        cursor.u16_le().ok_or_else(|| bad("truncated"))?;
    }
    if version == 1 && sequences.len() != size {
        return Err(bad("bit count does not match the declared size"));
    }
    sequences.sort_unstable();
    sequences.dedup();
    Ok((sequences, cursor.pos))
}

/// Consumer state from `o.dat`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OdatState {
    pub ack_floor: (u64, u64),
    pub delivered: (u64, u64),
    /// (stream seq, consumer seq, timestamp ns)
    pub pending: Vec<(u64, u64, i64)>,
    /// (stream seq, count)
    pub redelivered: Vec<(u64, u64)>,
}

pub fn parse_odat(data: &[u8]) -> Result<OdatState, String> {
    // The server reads an empty o.dat as an empty state.
    if data.is_empty() {
        return Ok(OdatState::default());
    }
    let mut cursor = Cursor::new(data);
    let truncated = || "o.dat ends early".to_string();
    let magic = cursor.u8().ok_or_else(truncated)?;
    let version = cursor.u8().ok_or_else(truncated)?;
    if magic != CONSUMER_STATE_MAGIC {
        return Err(format!(
            "o.dat magic {magic}, expected {CONSUMER_STATE_MAGIC}"
        ));
    }
    if version != 1 && version != 2 {
        return Err(format!("o.dat version {version} is not 1 or 2"));
    }
    let ack_consumer = cursor.uvarint().ok_or_else(truncated)?;
    let ack_stream = cursor.uvarint().ok_or_else(truncated)?;
    let mut delivered_consumer = cursor.uvarint().ok_or_else(truncated)?;
    let mut delivered_stream = cursor.uvarint().ok_or_else(truncated)?;
    if version == 1 {
        if ack_consumer > 1 {
            delivered_consumer = delivered_consumer.wrapping_add(ack_consumer - 1);
        }
        if ack_stream > 1 {
            delivered_stream = delivered_stream.wrapping_add(ack_stream - 1);
        }
    }
    if ack_stream & (1 << 63) != 0 || delivered_stream & (1 << 63) != 0 {
        return Err("o.dat sequence has bit 63 set".into());
    }
    let num_pending = cursor.uvarint().ok_or_else(truncated)?;
    let mut pending = Vec::new();
    if num_pending > 0 {
        // Each entry takes at least 2 bytes: bound before allocating.
        if num_pending > cursor.remaining() as u64 {
            return Err("o.dat pending count overruns the file".into());
        }
        let base_secs = cursor.varint().ok_or_else(truncated)?;
        for _ in 0..num_pending {
            let stream_seq = cursor
                .uvarint()
                .ok_or_else(truncated)?
                .wrapping_add(ack_stream);
            let mut consumer_seq = 0;
            if version == 2 {
                consumer_seq = cursor
                    .uvarint()
                    .ok_or_else(truncated)?
                    .wrapping_add(ack_consumer);
            }
            let delta = cursor.varint().ok_or_else(truncated)?;
            let seconds = if version == 1 {
                delta.wrapping_add(base_secs)
            } else {
                base_secs.wrapping_sub(delta)
            };
            if stream_seq == 0 {
                return Err("o.dat pending entry decodes to sequence 0".into());
            }
            pending.push((
                stream_seq,
                consumer_seq,
                seconds.wrapping_mul(1_000_000_000),
            ));
        }
    }
    // Like the server, what follows the pending list is read without error checks:
    // a short or missing redelivered list keeps the entries that are there.
    let num_redelivered = cursor.uvarint().unwrap_or(0);
    let mut redelivered = Vec::new();
    for _ in 0..num_redelivered.min(cursor.remaining() as u64) {
        let (Some(delta), Some(count)) = (cursor.uvarint(), cursor.uvarint()) else {
            break;
        };
        if delta == 0 || count == 0 {
            continue;
        }
        redelivered.push((delta.wrapping_add(ack_stream), count));
    }
    // The server keeps these in maps: a repeated sequence keeps its last entry.
    dedup_keep_last(&mut pending, |entry| entry.0);
    dedup_keep_last(&mut redelivered, |entry| entry.0);
    pending.sort_unstable();
    redelivered.sort_unstable();
    Ok(OdatState {
        ack_floor: (ack_consumer, ack_stream),
        delivered: (delivered_consumer, delivered_stream),
        pending,
        redelivered,
    })
}

/// Sorts by key and keeps, for each key, the entry that came last.
fn dedup_keep_last<T, K: Ord + Copy>(entries: &mut Vec<T>, key: impl Fn(&T) -> K) {
    // Stable sort keeps arrival order among equal keys; reverse so the last comes first.
    entries.reverse();
    entries.sort_by_key(|entry| key(entry));
    entries.dedup_by_key(|entry| key(entry));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odat_worked_example() {
        let bytes = [
            0x16, 0x02, 0x01, 0x02, 0x04, 0x07, 0x02, 0xb6, 0xbf, 0xcc, 0xb0, 0x0d, 0x02, 0x01,
            0x02, 0x05, 0x03, 0x02, 0x00,
        ];
        let state = parse_odat(&bytes);
        let Ok(state) = state else {
            panic!("decode failed: {state:?}");
        };
        assert_eq!(state.ack_floor, (1, 2));
        assert_eq!(state.delivered, (4, 7));
        assert_eq!(state.pending.len(), 2);
        assert_eq!((state.pending[0].0, state.pending[0].1), (4, 2));
        assert_eq!((state.pending[1].0, state.pending[1].1), (7, 4));
        assert!(state.redelivered.is_empty());
    }

    #[test]
    fn hostile_inputs_are_errors() {
        assert!(parse_odat(&[0x16, 0x02, 1, 1, 1, 1, 0xff, 0xff, 0xff, 0x0f]).is_err());
        assert!(decode_seqset(&[22, 2, 0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0]).is_err());
        assert!(parse_index_db(&[0u8; 10], "S").is_err());
    }
}
