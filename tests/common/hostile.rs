//! Generators of the crafted hostile inputs of issue 11, shared by `tests/hostile.rs`,
//! `tests/hostile_resync.rs` and the fuzz seed writer (`tests/fuzz_regressions.rs`).
//!
//! Every archive is built into an [`S2Out`]: either a hand-framed S2 stream (a
//! 4 MiB block holding one copy of a short pattern, a 64-byte copy and one S2
//! "repeat" copy of the rest — about 20 bytes for 4 MiB of output, which is how a
//! 39 KB file holds 6 GiB), or the plain decompressed bytes (the input shape of the
//! `v1_tar` / `v2_entries` fuzz targets; only for small sizes).

use jsbackup::format::hash::Hh64Key;
use jsbackup::format::s2::masked_crc;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub const S2_BLOCK: usize = 4 << 20;
const TAR_BLOCK: usize = 512;

/// An archive being built: S2-framed, or plain decompressed bytes.
pub struct S2Out {
    bytes: Vec<u8>,
    /// Plain mode: `bytes` holds the decompressed archive, no framing.
    plain: bool,
    /// Decompressed bytes so far (tar members must land on 512-byte boundaries).
    decoded: u64,
    /// Encoded periodic blocks by (pattern, length): most blocks repeat.
    cache: HashMap<(Vec<u8>, usize), Vec<u8>>,
}

impl S2Out {
    /// A hand-framed S2 stream (identifier `S2sTwO`, 4 MiB blocks).
    pub fn new() -> Self {
        let mut bytes = vec![0xff, 6, 0, 0];
        bytes.extend_from_slice(b"S2sTwO");
        Self {
            bytes,
            plain: false,
            decoded: 0,
            cache: HashMap::new(),
        }
    }

    /// Appends already-framed bytes (chunks built by hand) as they are; they add
    /// nothing to the decompressed count.
    pub fn raw(&mut self, framed: &[u8]) {
        self.bytes.extend_from_slice(framed);
    }

    /// The decompressed archive itself (keep the sizes small: nothing is compressed).
    pub fn plain() -> Self {
        Self {
            bytes: Vec::new(),
            plain: true,
            decoded: 0,
            cache: HashMap::new(),
        }
    }

    fn chunk(&mut self, chunk_type: u8, crc: u32, body: &[u8]) {
        let len = body.len() + 4;
        self.bytes.push(chunk_type);
        self.bytes
            .extend_from_slice(&(len as u32).to_le_bytes()[..3]);
        self.bytes.extend_from_slice(&crc.to_le_bytes());
        self.bytes.extend_from_slice(body);
    }

    /// Bytes stored as they are (uncompressed chunks).
    pub fn literal(&mut self, data: &[u8]) {
        if self.plain {
            self.bytes.extend_from_slice(data);
        } else {
            for piece in data.chunks(1 << 20) {
                self.chunk(0x01, masked_crc(piece), piece);
            }
        }
        self.decoded += data.len() as u64;
    }

    /// `total` bytes of `pattern` repeated (`total` a multiple of the pattern's length).
    pub fn periodic(&mut self, pattern: &[u8], total: u64) {
        let period = pattern.len();
        assert!(period > 0 && period <= 60 && total.is_multiple_of(period as u64));
        if self.plain {
            let len = usize::try_from(total).expect("a plain archive fits in memory");
            self.bytes.extend(pattern.iter().copied().cycle().take(len));
            self.decoded += total;
            return;
        }
        let block = S2_BLOCK / period * period;
        let mut left = total;
        while left > 0 {
            let len = left.min(block as u64) as usize;
            let key = (pattern.to_vec(), len);
            if !self.cache.contains_key(&key) {
                let encoded = encode_periodic_block(pattern, len);
                self.cache.insert(key.clone(), encoded);
            }
            let encoded = self.cache[&key].clone();
            self.bytes.extend_from_slice(&encoded);
            left -= len as u64;
        }
        self.decoded += total;
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    pub fn write(&self, dir: &Path, name: &str) -> PathBuf {
        std::fs::create_dir_all(dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, &self.bytes).unwrap();
        path
    }
}

impl Default for S2Out {
    fn default() -> Self {
        Self::new()
    }
}

/// Builds an S2-framed archive with `build` and writes it as `dir/stream.tar.s2`.
pub fn s2_file(dir: &Path, build: impl FnOnce(&mut S2Out)) -> PathBuf {
    let mut out = S2Out::new();
    build(&mut out);
    out.write(dir, "stream.tar.s2")
}

/// One framed chunk of `len` bytes of `pattern` repeated.
pub fn encode_periodic_block(pattern: &[u8], len: usize) -> Vec<u8> {
    let period = pattern.len();
    let decoded: Vec<u8> = pattern.iter().copied().cycle().take(len).collect();
    let crc = masked_crc(&decoded);
    let (chunk_type, body) = if len < period + 64 + 65_540 {
        (0x01, decoded)
    } else {
        let mut block = Vec::new();
        let mut value = len as u64;
        while value >= 0x80 {
            block.push(value as u8 | 0x80);
            value >>= 7;
        }
        block.push(value as u8);
        // Literal: tag (n-1)<<2 for n <= 60.
        block.push(((period - 1) << 2) as u8);
        block.extend_from_slice(pattern);
        // Copy with a 2-byte offset: tag ((len-1)<<2)|2, offset LE.
        block.push(((64 - 1) << 2 | 2) as u8);
        block.extend_from_slice(&(period as u16).to_le_bytes());
        // S2 repeat (copy1 with offset 0), length code 7: 3 bytes + 65536 + 4.
        let rest = len - period - 64;
        block.push((7 << 2) | 1);
        block.push(0);
        block.extend_from_slice(&((rest - 65_540) as u32).to_le_bytes()[..3]);
        (0x00, block)
    };
    let mut out = vec![chunk_type];
    out.extend_from_slice(&((body.len() + 4) as u32).to_le_bytes()[..3]);
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&body);
    out
}

/// A ustar header block.
pub fn ustar(name: &str, size: u64, typeflag: u8) -> Vec<u8> {
    let mut block = vec![0u8; TAR_BLOCK];
    block[..name.len()].copy_from_slice(name.as_bytes());
    block[100..107].copy_from_slice(b"0000600");
    block[108..115].copy_from_slice(b"0000000");
    block[116..123].copy_from_slice(b"0000000");
    block[124..135].copy_from_slice(format!("{size:011o}").as_bytes());
    block[136..147].copy_from_slice(b"00000000000");
    block[156] = typeflag;
    block[257..263].copy_from_slice(b"ustar\0");
    block[263..265].copy_from_slice(b"00");
    block[148..156].copy_from_slice(b"        ");
    let sum: u32 = block.iter().map(|&byte| u32::from(byte)).sum();
    block[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
    block
}

fn padding(size: u64) -> Vec<u8> {
    vec![0u8; (size.div_ceil(512) * 512 - size) as usize]
}

/// A small member written whole.
pub fn member(out: &mut S2Out, name: &str, data: &[u8]) {
    let mut bytes = ustar(name, data.len() as u64, b'0');
    bytes.extend_from_slice(data);
    bytes.extend_from_slice(&padding(data.len() as u64));
    out.literal(&bytes);
}

pub const STREAM: &str = "HOSTILE";

fn meta_inf() -> Vec<u8> {
    format!(r#"{{"name":"{STREAM}","subjects":["h.>"],"retention":"limits","storage":"file","num_replicas":1}}"#).into_bytes()
}

/// meta.inf, meta.sum and one block of three messages.
pub fn v1_head(out: &mut S2Out) {
    let meta = meta_inf();
    member(out, "meta.inf", &meta);
    let sum = Hh64Key::new(STREAM).sum_hex(&meta);
    member(out, "meta.sum", sum.as_bytes());
    member(out, "msgs/1.blk", &three_message_block(1, 1));
}

/// Block `index` of three messages on `h.a`, sequences `first..first + 3`.
pub fn three_message_block(index: u64, first: u64) -> Vec<u8> {
    let key = Hh64Key::new(&format!("{STREAM}-{index}"));
    let mut block = Vec::new();
    for seq in first..first + 3 {
        jsbackup::format::filestore::encode_record(
            &mut block,
            &key,
            seq,
            1_700_000_000_000_000_000 + seq as i64,
            b"h.a",
            b"",
            b"payload",
        );
    }
    block
}

pub fn tar_end(out: &mut S2Out) {
    out.literal(&[0u8; 1024]);
}

/// (a) a v2 archive: state.json, then `count` sequence-0 entries (messages, or
/// consumers), then the sentinel.
pub fn v2_seq_zero(out: &mut S2Out, consumer_entries: bool, count: u64) {
    let mut head = b"NATSARC1".to_vec();
    let state = br#"{"messages":0,"bytes":0,"first_seq":0,"last_seq":0,"consumer_count":0}"#;
    head.extend_from_slice(&[10, 2, 0, 0, state.len() as u8]);
    head.extend_from_slice(b"state.json");
    head.extend_from_slice(state);
    out.literal(&head);
    // name_len, zigzag ts 1 (not a sentinel), seq 0, hdr 0, size, name, data.
    let entry: Vec<u8> = if consumer_entries {
        let mut entry = vec![11, 2, 0, 0, 2];
        entry.extend_from_slice(b"consumers/c{}");
        entry
    } else {
        vec![1, 2, 0, 0, 0, b'x']
    };
    out.periodic(&entry, entry.len() as u64 * count);
    out.literal(&[0, 0, 0, 0, 0]);
}

/// (a2) a v2 archive of `count` messages of `payload_len` bytes, each followed by
/// `garbage` (bad bytes right where every message ends: each costs a boundary
/// judgement and a resync; payloads over 2 KiB also the look inside the data).
pub fn v2_bad_after_every_message(out: &mut S2Out, count: u64, payload_len: usize, garbage: &[u8]) {
    let mut data = b"NATSARC1".to_vec();
    let state = br#"{"messages":0,"bytes":0,"first_seq":0,"last_seq":0,"consumer_count":0}"#;
    data.extend_from_slice(&[10, 2, 0, 0, state.len() as u8]);
    data.extend_from_slice(b"state.json");
    data.extend_from_slice(state);
    let payload: Vec<u8> = (0..payload_len)
        .map(|index| b'a' + (index % 26) as u8)
        .collect();
    let varint = |out: &mut Vec<u8>, mut value: u64| {
        while value >= 0x80 {
            out.push((value as u8) | 0x80);
            value >>= 7;
        }
        out.push(value as u8);
    };
    for seq in 1..=count {
        // name "m", timestamp 1 ns (ZigZag 2), no header block.
        data.extend_from_slice(&[1, 2]);
        varint(&mut data, seq);
        data.push(0);
        varint(&mut data, payload_len as u64);
        data.push(b'm');
        data.extend_from_slice(&payload);
        data.extend_from_slice(garbage);
    }
    data.extend_from_slice(&[0, 0, 0, 0, 0]);
    out.literal(&data);
}

/// (b) `members` `msgs/N.idx` members of `size` zero bytes in a v1 archive.
pub fn v1_big_idx(out: &mut S2Out, members: u64, size: u64) {
    v1_head(out);
    for index in 1..=members {
        out.literal(&ustar(&format!("msgs/{index}.idx"), size, b'0'));
        out.periodic(&[0], size);
        out.literal(&padding(size));
    }
    tar_end(out);
}

/// (c) `count` PAX headers each holding a `path` record of `record_len` bytes,
/// before empty members.
pub fn v1_pax_paths(out: &mut S2Out, count: u64, record_len: u64) {
    v1_head(out);
    let prefix = format!("{record_len} path=");
    let value_len = record_len - prefix.len() as u64 - 1;
    for index in 0..count {
        let mut head = ustar(&format!("PaxHeaders.0/m{index}"), record_len, b'x');
        head.extend_from_slice(prefix.as_bytes());
        out.literal(&head);
        out.periodic(b"a", value_len);
        let mut tail = b"\n".to_vec();
        tail.extend_from_slice(&padding(record_len));
        tail.extend_from_slice(&ustar(&format!("m{index}"), 0, b'0'));
        out.literal(&tail);
    }
    tar_end(out);
}

/// (d) `count` consumers whose meta.inf holds `size` bytes of JSON each.
pub fn v1_big_consumers(out: &mut S2Out, count: u64, size: u64) {
    v1_head(out);
    for index in 0..count {
        let name = format!("c{index}");
        let prefix = format!(
            r#"{{"stream_name":"{STREAM}","name":"{name}","config":{{"durable_name":"{name}","description":""#
        );
        let suffix = br#""}}"#;
        let filler = size - prefix.len() as u64 - suffix.len() as u64;
        let mut head = ustar(&format!("obs/{name}/meta.inf"), size, b'0');
        head.extend_from_slice(prefix.as_bytes());
        out.literal(&head);
        out.periodic(b"a", filler);
        let mut tail = suffix.to_vec();
        tail.extend_from_slice(&padding(size));
        out.literal(&tail);
    }
    tar_end(out);
}

/// An index.db (checksum included) whose one block has a delete map spanning
/// `span` sequences, all deleted (`span` a multiple of 2048).
pub fn index_db_wide_delete_map(span: u64) -> Vec<u8> {
    let mut body = vec![11u8, 4];
    let last = span + 3;
    for value in [3u64, 3 * 37, 1] {
        push_uvarint(&mut body, value);
    }
    push_varint(&mut body, 1_700_000_000_000_000_001);
    push_uvarint(&mut body, last);
    push_varint(&mut body, 1_700_000_000_000_000_003);
    push_uvarint(&mut body, 0); // subjects
    push_uvarint(&mut body, 1); // blocks
    for value in [1u64, 3 * 37, 1] {
        push_uvarint(&mut body, value);
    }
    push_varint(&mut body, 0);
    push_uvarint(&mut body, last);
    push_varint(&mut body, 2);
    push_uvarint(&mut body, span); // num_deleted
    push_uvarint(&mut body, 0);
    push_uvarint(&mut body, 0);
    body.extend_from_slice(&seqset_all_deleted(span));
    push_uvarint(&mut body, 1); // last block index
    body.extend_from_slice(&[0u8; 8]);
    let checksum = Hh64Key::new(STREAM).sum(&[&body]);
    body.extend_from_slice(&checksum);
    body
}

/// SequenceSet v2 with every sequence of 4..4+span set: magic 22, version 2, node
/// count, size, nodes of 32 words.
pub fn seqset_all_deleted(span: u64) -> Vec<u8> {
    let nodes = span / 2048;
    let mut body = vec![22, 2];
    body.extend_from_slice(&(nodes as u32).to_le_bytes());
    body.extend_from_slice(&(span as u32).to_le_bytes());
    for node in 0..nodes {
        body.extend_from_slice(&(4 + node * 2048).to_le_bytes());
        body.extend_from_slice(&[0xff; 32 * 8]);
        body.extend_from_slice(&1u16.to_le_bytes());
    }
    body
}

/// (e) a v1 archive whose index.db has a block delete map spanning `span` sequences.
pub fn v1_wide_delete_map(out: &mut S2Out, span: u64) {
    let body = index_db_wide_delete_map(span);
    v1_head(out);
    member(out, "msgs/index.db", &body);
    tar_end(out);
}

/// (f) a v2 archive with a gap of 1e9 sequences, a sequence with flag bits set and
/// two consumers of the same name.
pub fn v2_gaps_flags_duplicates(out: &mut S2Out) {
    let flagged = (1u64 << 62) | 7;
    let state = format!(
        r#"{{"messages":4,"bytes":0,"first_seq":1,"last_seq":{flagged},"consumer_count":2}}"#
    );
    let mut writer = jsbackup::format::write_v2::V2Writer::new(
        Vec::new(),
        1_700_000_000_000_000_000,
        state.as_bytes(),
    )
    .unwrap();
    let consumer = br#"{"config":{"durable_name":"dup","ack_policy":"explicit"},"state":{"delivered":{"consumer_seq":0,"stream_seq":0},"ack_floor":{"consumer_seq":0,"stream_seq":0}}}"#;
    writer.consumer("dup", consumer).unwrap();
    writer.consumer("dup", consumer).unwrap();
    for seq in [1u64, 2, 1_000_000_003, flagged] {
        writer
            .message(
                b"h.a",
                1_700_000_000_000_000_000 + seq as i64 % 1000,
                seq,
                b"",
                b"x",
            )
            .unwrap();
    }
    let body = writer.finish().unwrap();
    out.literal(&body);
}

pub fn push_uvarint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

pub fn push_varint(out: &mut Vec<u8>, value: i64) {
    push_uvarint(out, ((value << 1) ^ (value >> 63)) as u64);
}

// ------------------------------------------------------------- resync inputs

pub const S2_IDENTIFIER_CHUNK: &[u8] = b"\xff\x06\x00\x00S2sTwO";

/// The 4 bytes that claim an uncompressed chunk of almost 4 MiB.
pub const CLAIMED_CHUNK: [u8; 4] = [0x01, 0xfc, 0xff, 0x3f];

/// A reserved chunk type, then `len` bytes in which every 4 bytes claim an
/// uncompressed chunk of almost 4 MiB.
pub fn claimed_chunks_everywhere(len: usize) -> Vec<u8> {
    let mut data = S2_IDENTIFIER_CHUNK.to_vec();
    data.extend_from_slice(&[0x05, 0, 0, 0]);
    for _ in 0..len / 4 {
        data.extend_from_slice(&CLAIMED_CHUNK);
    }
    data
}

/// `count` compressed chunks of 13 bytes, each claiming 4 MiB, none decodable.
pub fn undecodable_chunks(count: usize) -> Vec<u8> {
    let mut data = S2_IDENTIFIER_CHUNK.to_vec();
    for _ in 0..count {
        data.extend_from_slice(&[0x00, 9, 0, 0, 0x11, 0x22, 0x33, 0x44]);
        data.extend_from_slice(&[0x80, 0x80, 0x80, 0x02, 0x00]);
    }
    data
}
