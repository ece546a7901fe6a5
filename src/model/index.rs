//! A compact, columnar message index: no payload bytes, subjects interned.

use crate::format::headers::Ttl;
use crate::util::fxhash::FxHashMap;

/// Interned subjects with their live message counts.
#[derive(Debug, Clone, Default)]
pub struct SubjectTable {
    names: Vec<Box<str>>,
    /// Keyed by the subject's bytes as stored, so lookups need no UTF-8 conversion.
    lookup: FxHashMap<Box<[u8]>, u32>,

    /// Live messages per subject id (filled by [`MessageIndex::recount_subjects`]).
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
    pub flags: u8,
}

/// Live messages in sequence order, column by column.
#[derive(Debug, Clone, Default)]
pub struct MessageIndex {
    pub seq: Vec<u64>,
    pub ts_ns: Vec<i64>,
    pub subject_id: Vec<u32>,
    pub hdr_len: Vec<u32>,
    pub data_len: Vec<u32>,
    pub offset: Vec<u64>,
    pub flags: Vec<u8>,
    /// TTLs of messages that carry `Nats-TTL`, sorted by sequence.
    pub ttls: Vec<(u64, Ttl)>,
}

impl MessageIndex {
    pub fn len(&self) -> usize {
        self.seq.len()
    }
    pub fn is_empty(&self) -> bool {
        self.seq.is_empty()
    }

    pub fn push(&mut self, row: MessageRow) {
        self.seq.push(row.seq);
        self.ts_ns.push(row.ts_ns);
        self.subject_id.push(row.subject_id);
        self.hdr_len.push(row.hdr_len);
        self.data_len.push(row.data_len);
        self.offset.push(row.offset);
        self.flags.push(row.flags);
    }

    pub fn row(&self, index: usize) -> Option<MessageRow> {
        Some(MessageRow {
            seq: *self.seq.get(index)?,
            ts_ns: *self.ts_ns.get(index)?,
            subject_id: *self.subject_id.get(index)?,
            hdr_len: *self.hdr_len.get(index)?,
            data_len: *self.data_len.get(index)?,
            offset: *self.offset.get(index)?,
            flags: *self.flags.get(index)?,
        })
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
        retain_column(&mut self.hdr_len, keep);
        retain_column(&mut self.data_len, keep);
        retain_column(&mut self.offset, keep);
        retain_column(&mut self.flags, keep);
    }

    /// Sorts rows by sequence (v1 blocks are not guaranteed to be in order).
    pub fn sort_by_seq(&mut self) {
        if self.seq.windows(2).all(|pair| pair[0] < pair[1]) {
            return;
        }
        let mut order: Vec<usize> = (0..self.len()).collect();
        order.sort_by_key(|&index| self.seq[index]);
        fn permute<T: Copy>(column: &mut Vec<T>, order: &[usize]) {
            let sorted: Vec<T> = order.iter().map(|&index| column[index]).collect();
            *column = sorted;
        }
        permute(&mut self.seq, &order);
        permute(&mut self.ts_ns, &order);
        permute(&mut self.subject_id, &order);
        permute(&mut self.hdr_len, &order);
        permute(&mut self.data_len, &order);
        permute(&mut self.offset, &order);
        permute(&mut self.flags, &order);
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
            + self.hdr_len.capacity() * 4
            + self.data_len.capacity() * 4
            + self.offset.capacity() * 8
            + self.flags.capacity()
            + self.ttls.capacity() * std::mem::size_of::<(u64, Ttl)>()
    }
}
