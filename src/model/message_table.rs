//! The message table (`MessageTable`): one compact, columnar row per message the
//! scan found — no payload bytes, subjects interned. Not to be confused with the
//! scan (`ops::scan`) or a v1 archive's `msgs/index.db` (`format::index_db`).

use crate::format::headers::Ttl;
use crate::util::fxhash::FxHashMap;

/// Interned subjects with their live message counts.
#[derive(Debug, Clone, Default)]
pub struct SubjectTable {
    names: Vec<Box<str>>,
    /// Keyed by the subject's bytes as stored, so lookups need no UTF-8 conversion.
    lookup: FxHashMap<Box<[u8]>, u32>,

    /// Live messages per subject id (filled by [`MessageTable::recount_subjects`]).
    pub counts: Vec<u64>,
}

impl SubjectTable {
    pub fn intern(&mut self, subject: &[u8]) -> u32 {
        if let Some(&id) = self.lookup.get(subject) {
            return id;
        }
        let id = self.names.len() as u32;
        self.names.push(String::from_utf8_lossy(subject).into());
        self.lookup.insert(subject.into(), id);
        id
    }
    /// The id of a subject already interned, without interning it.
    pub fn find(&self, subject: &[u8]) -> Option<u32> {
        self.lookup.get(subject).copied()
    }
    pub fn name(&self, id: u32) -> &str {
        self.names
            .get(id as usize)
            .map(|name| &**name)
            .unwrap_or("")
    }
    pub fn len(&self) -> usize {
        self.names.len()
    }
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
    /// (subject, live count) for subjects with at least one live message, by name.
    pub fn live_counts(&self) -> Vec<(&str, u64)> {
        let mut list: Vec<(&str, u64)> = self
            .names
            .iter()
            .zip(self.counts.iter())
            .filter(|(_, &count)| count > 0)
            .map(|(name, &count)| (&**name, count))
            .collect();
        list.sort_unstable_by(|a, b| a.0.cmp(b.0));
        list
    }
    pub fn live_subject_count(&self) -> u64 {
        self.counts.iter().filter(|&&count| count > 0).count() as u64
    }
}

/// One message as a row of the index (copied out of the columns).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageRow {
    pub seq: u64,
    pub ts_ns: i64,
    pub subject_id: u32,
    pub hdr_len: u32,
    pub data_len: u32,
    /// Decompressed offset of the header block (the payload follows it directly).
    pub offset: u64,
    pub flags: u16,
}

/// `loc` packs, per message: bits 0–39 the decompressed offset of its header
/// block, bits 40–54 the header length, bits 55–63 the flags. Values that do not
/// fit (headers ≥ 32 KiB, offsets ≥ 1 TiB) are kept in small side tables.
const OFFSET_BITS: u32 = 40;
const OFFSET_MASK: u64 = (1 << OFFSET_BITS) - 1;
const HDR_SHIFT: u32 = 40;
const HDR_MASK: u64 = 0x7fff;
const FLAGS_SHIFT: u32 = 55;
const FLAGS_MASK: u64 = 0x1ff;

/// Live messages in sequence order, column by column: 32 bytes a message.
#[derive(Debug, Clone, Default)]
pub struct MessageTable {
    pub seq: Vec<u64>,
    pub ts_ns: Vec<i64>,
    pub subject_id: Vec<u32>,
    pub data_len: Vec<u32>,
    loc: Vec<u64>,
    /// (seq, header length) for header blocks of 64 KiB and more.
    big_headers: Vec<(u64, u32)>,
    /// (seq, offset) for offsets of 1 TiB and more.
    far_offsets: Vec<(u64, u64)>,
    /// TTLs of messages that carry `Nats-TTL`, sorted by sequence.
    pub ttls: Vec<(u64, Ttl)>,
}

fn lookup<T: Copy>(table: &[(u64, T)], seq: u64) -> Option<T> {
    // Side tables are appended in scan order; sorted by `finish`, searched linearly before.
    match table.binary_search_by_key(&seq, |(s, _)| *s) {
        Ok(position) => table.get(position).map(|(_, value)| *value),
        Err(_) => table
            .iter()
            .find(|(s, _)| *s == seq)
            .map(|(_, value)| *value),
    }
}

impl MessageTable {
    pub fn len(&self) -> usize {
        self.seq.len()
    }
    pub fn is_empty(&self) -> bool {
        self.seq.is_empty()
    }

    /// Room for `rows` more messages (avoids re-copying the columns as they grow).
    pub fn reserve(&mut self, rows: usize) {
        self.seq.reserve(rows);
        self.ts_ns.reserve(rows);
        self.subject_id.reserve(rows);
        self.data_len.reserve(rows);
        self.loc.reserve(rows);
    }

    pub fn push(&mut self, row: MessageRow) {
        let hdr_field = if row.hdr_len >= HDR_MASK as u32 {
            self.big_headers.push((row.seq, row.hdr_len));
            HDR_MASK
        } else {
            u64::from(row.hdr_len)
        };
        let offset_field = if row.offset >= OFFSET_MASK {
            self.far_offsets.push((row.seq, row.offset));
            OFFSET_MASK
        } else {
            row.offset
        };
        self.seq.push(row.seq);
        self.ts_ns.push(row.ts_ns);
        self.subject_id.push(row.subject_id);
        self.data_len.push(row.data_len);
        self.loc.push(
            offset_field
                | hdr_field << HDR_SHIFT
                | (u64::from(row.flags) & FLAGS_MASK) << FLAGS_SHIFT,
        );
    }

    pub fn flags(&self, row: usize) -> u16 {
        self.loc
            .get(row)
            .map(|loc| ((loc >> FLAGS_SHIFT) & FLAGS_MASK) as u16)
            .unwrap_or(0)
    }

    pub fn set_flags(&mut self, row: usize, bits: u16) {
        if let Some(loc) = self.loc.get_mut(row) {
            *loc |= (u64::from(bits) & FLAGS_MASK) << FLAGS_SHIFT;
        }
    }

    pub fn clear_flags(&mut self, row: usize, bits: u16) {
        if let Some(loc) = self.loc.get_mut(row) {
            *loc &= !((u64::from(bits) & FLAGS_MASK) << FLAGS_SHIFT);
        }
    }

    pub fn hdr_len(&self, row: usize) -> u32 {
        let Some(loc) = self.loc.get(row) else {
            return 0;
        };
        let field = (loc >> HDR_SHIFT) & HDR_MASK;
        if field == HDR_MASK {
            return self
                .seq
                .get(row)
                .and_then(|&seq| lookup(&self.big_headers, seq))
                .unwrap_or(0);
        }
        field as u32
    }

    /// Decompressed offset just past the row's bytes (header block and payload).
    pub fn end(&self, row: usize) -> u64 {
        let data_len = self.data_len.get(row).copied().unwrap_or(0);
        self.offset(row) + u64::from(self.hdr_len(row)) + u64::from(data_len)
    }

    pub fn offset(&self, row: usize) -> u64 {
        let Some(loc) = self.loc.get(row) else {
            return 0;
        };
        let field = loc & OFFSET_MASK;
        if field == OFFSET_MASK {
            return self
                .seq
                .get(row)
                .and_then(|&seq| lookup(&self.far_offsets, seq))
                .unwrap_or(0);
        }
        field
    }

    /// Number of rows carrying all of `bits`.
    pub fn count_flagged(&self, bits: u16) -> usize {
        self.loc
            .iter()
            .filter(|loc| ((**loc >> FLAGS_SHIFT) & FLAGS_MASK) as u16 & bits == bits)
            .count()
    }

    /// Number of rows carrying any of `bits`.
    pub fn count_any_flag(&self, bits: u16) -> usize {
        self.loc
            .iter()
            .filter(|loc| ((**loc >> FLAGS_SHIFT) & FLAGS_MASK) as u16 & bits != 0)
            .count()
    }

    pub fn row(&self, index: usize) -> Option<MessageRow> {
        Some(MessageRow {
            seq: *self.seq.get(index)?,
            ts_ns: *self.ts_ns.get(index)?,
            subject_id: *self.subject_id.get(index)?,
            hdr_len: self.hdr_len(index),
            data_len: *self.data_len.get(index)?,
            offset: self.offset(index),
            flags: self.flags(index),
        })
    }

    /// The first `rows` rows (for previews while a scan runs).
    pub fn prefix(&self, rows: usize) -> MessageTable {
        let rows = rows
            .min(self.seq.len())
            .min(self.ts_ns.len())
            .min(self.subject_id.len())
            .min(self.data_len.len())
            .min(self.loc.len());
        MessageTable {
            seq: self.seq[..rows].to_vec(),
            ts_ns: self.ts_ns[..rows].to_vec(),
            subject_id: self.subject_id[..rows].to_vec(),
            data_len: self.data_len[..rows].to_vec(),
            loc: self.loc[..rows].to_vec(),
            big_headers: self.big_headers.clone(),
            far_offsets: self.far_offsets.clone(),
            ttls: Vec::new(),
        }
    }

    /// Row index of a sequence, if that sequence is a live message.
    pub fn find_seq(&self, seq: u64) -> Option<usize> {
        self.seq.binary_search(&seq).ok()
    }

    /// First row with a sequence ≥ `seq`.
    pub fn lower_bound(&self, seq: u64) -> usize {
        self.seq.partition_point(|&s| s < seq)
    }

    pub fn ttl_of(&self, seq: u64) -> Ttl {
        match self.ttls.binary_search_by_key(&seq, |(s, _)| *s) {
            Ok(position) => self
                .ttls
                .get(position)
                .map(|(_, ttl)| *ttl)
                .unwrap_or(Ttl::None),
            Err(_) => Ttl::None,
        }
    }

    /// Drops every row from `row` on, with their side-table entries (a scan takes
    /// back rows it recorded from bytes that later proved untrustworthy). Rows are
    /// in ascending sequence order here, so the side entries to drop are those at
    /// or above the first dropped sequence.
    pub fn truncate_from(&mut self, row: usize) {
        let Some(&cut_seq) = self.seq.get(row) else {
            return;
        };
        self.seq.truncate(row);
        self.ts_ns.truncate(row);
        self.subject_id.truncate(row);
        self.data_len.truncate(row);
        self.loc.truncate(row);
        self.big_headers.retain(|(seq, _)| *seq < cut_seq);
        self.far_offsets.retain(|(seq, _)| *seq < cut_seq);
        self.ttls.retain(|(seq, _)| *seq < cut_seq);
    }

    /// Keeps only the rows for which `keep(row_index)` is true (columns stay aligned).
    pub fn retain_rows(&mut self, keep: &[bool]) {
        fn retain_column<T: Copy>(column: &mut Vec<T>, keep: &[bool]) {
            let mut write = 0;
            for read in 0..column.len() {
                if keep.get(read).copied().unwrap_or(false) {
                    column[write] = column[read];
                    write += 1;
                }
            }
            column.truncate(write);
        }
        retain_column(&mut self.seq, keep);
        retain_column(&mut self.ts_ns, keep);
        retain_column(&mut self.subject_id, keep);
        retain_column(&mut self.data_len, keep);
        retain_column(&mut self.loc, keep);
    }

    /// Sorts rows by sequence (v1 blocks are not guaranteed to be in order).
    pub fn sort_by_seq(&mut self) {
        if self.seq.windows(2).all(|pair| pair[0] < pair[1]) {
            return;
        }
        let mut order: Vec<usize> = (0..self.len()).collect();
        order.sort_by_key(|&index| self.seq[index]);
        fn permute<T: Copy>(column: &mut Vec<T>, order: &[usize]) {
            let sorted: Vec<T> = order
                .iter()
                .filter_map(|&index| column.get(index).copied())
                .collect();
            *column = sorted;
        }
        permute(&mut self.seq, &order);
        permute(&mut self.ts_ns, &order);
        permute(&mut self.subject_id, &order);
        permute(&mut self.data_len, &order);
        permute(&mut self.loc, &order);
    }

    /// Ends a scan: side tables sorted, spare capacity released.
    pub fn finish(&mut self) {
        self.big_headers.sort_unstable();
        self.far_offsets.sort_unstable();
        self.seq.shrink_to_fit();
        self.ts_ns.shrink_to_fit();
        self.subject_id.shrink_to_fit();
        self.data_len.shrink_to_fit();
        self.loc.shrink_to_fit();
        self.ttls.shrink_to_fit();
    }

    /// Recomputes live counts per subject.
    pub fn recount_subjects(&self, subjects: &mut SubjectTable) {
        subjects.counts = vec![0; subjects.len()];
        for &id in &self.subject_id {
            if let Some(count) = subjects.counts.get_mut(id as usize) {
                *count += 1;
            }
        }
    }

    /// Bytes of memory held by the index (for benchmarks and the status bar).
    pub fn heap_bytes(&self) -> usize {
        self.seq.capacity() * 8
            + self.ts_ns.capacity() * 8
            + self.subject_id.capacity() * 4
            + self.data_len.capacity() * 4
            + self.loc.capacity() * 8
            + self.big_headers.capacity() * 16
            + self.far_offsets.capacity() * 16
            + self.ttls.capacity() * std::mem::size_of::<(u64, Ttl)>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_columns_round_trip_including_overflow() {
        let mut index = MessageTable::default();
        let rows = [
            MessageRow {
                seq: 1,
                ts_ns: 5,
                subject_id: 0,
                hdr_len: 0,
                data_len: 3,
                offset: 10,
                flags: 0,
            },
            MessageRow {
                seq: 2,
                ts_ns: 6,
                subject_id: 1,
                hdr_len: 70_000,
                data_len: 0,
                offset: 1 << 41,
                flags: 0x81,
            },
            MessageRow {
                seq: 3,
                ts_ns: 7,
                subject_id: 1,
                hdr_len: 65_534,
                data_len: 9,
                offset: (1 << 40) - 2,
                flags: 4,
            },
        ];
        for row in rows {
            index.push(row);
        }
        index.finish();
        for (position, row) in rows.iter().enumerate() {
            assert_eq!(index.row(position), Some(*row));
        }
        index.set_flags(0, 128);
        assert_eq!(index.count_flagged(128), 2);
        let keep = [false, true, true];
        index.retain_rows(&keep);
        assert_eq!(index.row(0), Some(rows[1]));
    }

    #[test]
    fn the_ninth_flag_bit_keeps_beside_a_32_kib_header() {
        let mut index = MessageTable::default();
        let row = MessageRow {
            seq: 9,
            ts_ns: 1,
            subject_id: 0,
            hdr_len: 40_000,
            data_len: 1,
            offset: 77,
            flags: crate::format::headers::flags::SUSPECT | 4,
        };
        index.push(row);
        index.finish();
        assert_eq!(index.row(0), Some(row));
        index.set_flags(0, crate::format::headers::flags::DAMAGED);
        assert_eq!(index.flags(0), 256 | 128 | 4);
        assert_eq!(index.hdr_len(0), 40_000);
        assert_eq!(
            index.count_any_flag(crate::format::headers::flags::UNTRUSTED),
            1
        );
        assert_eq!(
            index.count_flagged(crate::format::headers::flags::UNTRUSTED),
            1
        );
    }
}
