//! The search for the next whole record after damage inside a message block: which
//! offsets are worth a checksum, and how much hashing a search may do. Bytes only;
//! the block walk that uses it is `filestore`'s.
//!
//! Every byte of a damaged stretch is a candidate record start. Most are ruled out
//! by cheap tests of the head (length word, subject length, subject bytes); the few
//! left are proven or refused by their HighwayHash-64. Hashing is paid from credit
//! that grows with the bytes the search moves past, so a block of crafted heads
//! costs work linear in its size, and a candidate too long for the credit left is
//! passed over — the search goes on to the next one instead of giving up.

use super::filestore::{self, RecordHeader, EBIT, EMPTY_RECORD_LEN, HBIT, RL_BAD_THRESHOLD, TBIT};
use super::hash::Hh64Key;

/// Credit each byte the search moves past adds, in bytes that may be hashed.
const CREDIT_PER_BYTE: usize = 8;
/// What one checksum costs beyond its bytes (setting up and finishing the hash).
const HASH_OVERHEAD: usize = 64;
/// Subject bytes tested per candidate: enough to rule out garbage, bounded so a
/// test costs the same whatever length the candidate claims.
const SUBJECT_PROBE: usize = 64;

/// One block's record search. Its credit is shared by every search in the block,
/// so the hashing over all of them is bounded by the block's size.
#[derive(Debug, Clone)]
pub struct RecordSearch {
    credit: usize,
    /// Bytes hashed so far (candidates and their fixed cost), for the linearity tests.
    hashed: usize,
}

impl RecordSearch {
    /// A search over a block of `block_len` bytes: the starting credit covers
    /// hashing the block twice over, and a large record right after the damage.
    pub fn new(block_len: usize) -> Self {
        Self {
            credit: block_len.saturating_mul(2).saturating_add(1 << 20),
            hashed: 0,
        }
    }

    /// Bytes hashed so far, with each checksum's fixed cost.
    pub fn hashed(&self) -> usize {
        self.hashed
    }

    /// The next offset ≥ `from` where a whole record with a valid checksum starts;
    /// `None` when no candidate left verifies.
    pub fn find_next(&mut self, data: &[u8], from: usize, key: &Hh64Key) -> Option<usize> {
        let mut position = from;
        while let Some(candidate) = data.get(position..).filter(|rest| !rest.is_empty()) {
            if self.verifies(candidate, key) {
                return Some(position);
            }
            position += 1;
            self.credit = self.credit.saturating_add(CREDIT_PER_BYTE);
        }
        None
    }

    /// Does a whole record with a valid checksum start at `at`?
    pub fn verified_at(&mut self, data: &[u8], at: usize, key: &Hh64Key) -> bool {
        data.get(at..)
            .is_some_and(|candidate| self.verifies(candidate, key))
    }

    /// The cheap tests, then the checksum when the credit covers it.
    fn verifies(&mut self, candidate: &[u8], key: &Hh64Key) -> bool {
        let Some(len) = plausible_record(candidate) else {
            return false;
        };
        let cost = len.saturating_add(HASH_OVERHEAD);
        if self.credit < cost {
            return false;
        }
        self.credit -= cost;
        self.hashed = self.hashed.saturating_add(cost);
        candidate
            .get(..len)
            .is_some_and(|bytes| filestore::record_checksum_ok(bytes, key))
    }
}

/// The length of the record a candidate's head declares, when the head could be a
/// real one: a length word that fits the bytes left, a subject that fits the
/// record and reads as a NATS subject (or is empty on a tombstone, erase or skip
/// record), and a header block that fits. Constant work whatever the head claims.
fn plausible_record(candidate: &[u8]) -> Option<usize> {
    // The length word alone rules out most offsets (zeros, text), so it is tested
    // before the rest of the head is decoded.
    let word: [u8; 4] = candidate.get(..4)?.try_into().ok()?;
    let len = u32::from_le_bytes(word) & !HBIT;
    if len < EMPTY_RECORD_LEN as u32 || len > RL_BAD_THRESHOLD || len as usize > candidate.len() {
        return None;
    }
    let head = RecordHeader::decode(candidate)?;
    if !head.plausible_within(candidate.len()) {
        return None;
    }
    let len = head.len as usize;
    let subject = candidate.get(filestore::MSG_HDR_SIZE..)?;
    if head.subject_len == 0 {
        // Only records the server writes without a subject: tombstones, erased and
        // skipped sequences, the legacy zero-sequence erase.
        let unnamed = head.raw_seq & (TBIT | EBIT) != 0 || head.raw_seq == 0;
        if !unnamed {
            return None;
        }
    } else if !subject_like(subject.get(..head.subject_len)?) {
        return None;
    }
    if head.has_headers {
        let at = filestore::MSG_HDR_SIZE + head.subject_len;
        let word: [u8; 4] = candidate.get(at..at + 4)?.try_into().ok()?;
        let hdr_len = u32::from_le_bytes(word) as usize;
        if hdr_len > len.saturating_sub(at + 4 + filestore::CHECKSUM_SIZE) {
            return None;
        }
    }
    Some(len)
}

/// Could these be a subject's bytes? NATS subjects hold no spaces or control bytes
/// and are UTF-8. Only the first and last bytes are tested, a bounded number.
fn subject_like(subject: &[u8]) -> bool {
    let probe = subject.len().min(SUBJECT_PROBE);
    let head = subject.get(..probe).unwrap_or_default();
    let tail = subject
        .get(subject.len().saturating_sub(8)..)
        .unwrap_or_default();
    let printable = |byte: &u8| *byte > b' ' && *byte != 0x7f;
    if !head.iter().all(printable) || !tail.iter().all(printable) {
        return false;
    }
    // A character cut off at the end of the probe is not an error.
    match std::str::from_utf8(head) {
        Ok(_) => true,
        Err(error) => error.error_len().is_none() && probe < subject.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::filestore::encode_record;

    fn block(key: &Hh64Key, seqs: std::ops::Range<u64>) -> Vec<u8> {
        let mut out = Vec::new();
        for seq in seqs {
            encode_record(
                &mut out,
                key,
                seq,
                1_795_788_762_000_000_000,
                b"orders.1",
                b"",
                b"{\"id\":1}",
            );
        }
        out
    }

    #[test]
    fn finds_the_record_after_garbage_with_large_claimed_lengths() {
        let key = Hh64Key::new("S-1");
        let records = block(&key, 1..200);
        // Garbage whose every 4-byte word claims most of the block: without the
        // cheap tests each would be hashed over the whole block.
        let mut data = Vec::new();
        for _ in 0..4096 {
            data.extend_from_slice(&((records.len() as u32 + 1000).to_le_bytes()));
        }
        let garbage_len = data.len();
        data.extend_from_slice(&records);
        let mut search = RecordSearch::new(data.len());
        assert_eq!(search.find_next(&data, 0, &key), Some(garbage_len));
    }

    #[test]
    fn a_spent_credit_passes_a_candidate_over_and_the_search_goes_on() {
        let key = Hh64Key::new("S-1");
        let data = block(&key, 1..10);
        let mut search = RecordSearch {
            credit: 0,
            hashed: 0,
        };
        let second = data.len() / 9;
        // The first record is too long for no credit; the search moves on, earning
        // credit, until a record is covered.
        let found = search.find_next(&data, 0, &key);
        assert!(found.is_some_and(|at| at >= second), "{found:?}");
    }

    /// Crafted heads at every 64 bytes that pass every cheap test and each claim
    /// 4 MiB: hashing stays within the credit (linear in the block), and the real
    /// record at the end is still found.
    #[test]
    fn crafted_heads_cost_linear_hashing() {
        let key = Hh64Key::new("S-1");
        let block_len = 8 << 20;
        let mut data = Vec::with_capacity(block_len + 64);
        while data.len() < block_len {
            let mut unit = Vec::new();
            unit.extend_from_slice(&(4u32 << 20).to_le_bytes());
            unit.extend_from_slice(&7u64.to_le_bytes());
            unit.extend_from_slice(&1i64.to_le_bytes());
            unit.extend_from_slice(&8u16.to_le_bytes());
            unit.extend_from_slice(b"orders.1");
            unit.resize(64, b'x');
            data.extend_from_slice(&unit);
        }
        let real_at = data.len();
        encode_record(&mut data, &key, 9, 1, b"orders.9", b"", b"{}");
        assert!(plausible_record(&data).is_some());
        let mut search = RecordSearch::new(data.len());
        assert_eq!(search.find_next(&data, 0, &key), Some(real_at));
        let bound = data.len() * (2 + CREDIT_PER_BYTE) + (1 << 20);
        assert!(search.hashed() <= bound, "{} > {bound}", search.hashed());
    }

    #[test]
    fn empty_subjects_only_on_unnamed_records() {
        let key = Hh64Key::new("S-1");
        let mut data = Vec::new();
        encode_record(&mut data, &key, 5, 1, b"", b"", b"x");
        assert_eq!(plausible_record(&data), None);
        data.clear();
        encode_record(&mut data, &key, 5 | TBIT, 1, b"", b"", b"");
        assert_eq!(plausible_record(&data), Some(data.len()));
    }

    #[test]
    fn subjects_are_printable_utf8() {
        assert!(subject_like(b"orders.eu.\xc3\xa9t\xc3\xa9"));
        assert!(!subject_like(b"orders 1"));
        assert!(!subject_like(b"\x00\x01"));
        assert!(!subject_like(b"ab\xff"));
    }
}
