//! Fuzz entry points: each takes arbitrary bytes and drives one parser to the end.
//! None of them may panic, loop forever or allocate without bound on any input.
//!
//! Shared by the cargo-fuzz targets (`fuzz/fuzz_targets/*`), the std-only
//! `mutate` driver and `tests/fuzz_regressions.rs` (included there by path, so
//! this file uses nothing but `jsbackup` and std).

#![allow(dead_code)]

use jsbackup::format::filestore::{self, RecordKind};
use jsbackup::format::hash::Hh64Key;
use jsbackup::format::s2::{masked_crc, DecodedStream, StreamStop, S2_IDENTIFIER};
use jsbackup::format::tar::{TarEvent, TarReader};
use jsbackup::format::{headers, index_db, v2};
use jsbackup::model::{Backup, BackupSource};
use jsbackup::ops::read::MessageReader;
use jsbackup::ops::report;
use jsbackup::ops::scan::{scan_stream, ScanControl};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Target names, in the order the drivers run them.
pub const TARGETS: &[&str] = &[
    "s2_frames",
    "scan_raw",
    "v1_tar",
    "v2_entries",
    "block_records",
    "index_db",
    "index_db_fixed",
    "odat",
    "seqset",
    "headers_ttl",
];

/// Runs the named target on `data`; false for an unknown name.
pub fn run(target: &str, data: &[u8]) -> bool {
    match target {
        "s2_frames" => s2_frames(data),
        "scan_raw" => scan_raw(data),
        "v1_tar" => v1_tar(data),
        "v2_entries" => v2_entries(data),
        "block_records" => block_records(data),
        "index_db" => index_db(data),
        "index_db_fixed" => index_db_fixed(data),
        "odat" => odat(data),
        "seqset" => seqset(data),
        "headers_ttl" => headers_ttl(data),
        _ => return false,
    }
    true
}

/// Uncompressed chunk sizes the wrapping targets pick from with their first byte:
/// small odd sizes put tar headers, entry headers and records across chunk boundaries.
pub const CHUNK_SIZES: [usize; 8] = [65536, 4096, 512, 511, 100, 1000, 8191, 4 << 20];

/// Splits a wrapping target's input into (chunk size, payload).
pub fn split_selector(data: &[u8]) -> (usize, &[u8]) {
    match data.split_first() {
        Some((&selector, rest)) => (CHUNK_SIZES[usize::from(selector) % CHUNK_SIZES.len()], rest),
        None => (CHUNK_SIZES[0], data),
    }
}

/// Frames `payload` as an S2 stream of uncompressed (0x01) chunks with valid CRCs.
pub fn wrap_s2(payload: &[u8], chunk_size: usize) -> Vec<u8> {
    let chunk_size = chunk_size.clamp(1, 4 << 20);
    let mut out = Vec::with_capacity(payload.len() + payload.len() / chunk_size * 8 + 16);
    out.extend_from_slice(&[0xff, 6, 0, 0]);
    out.extend_from_slice(S2_IDENTIFIER);
    for piece in payload.chunks(chunk_size) {
        let body_len = piece.len() + 4;
        out.extend_from_slice(&[
            0x01,
            body_len as u8,
            (body_len >> 8) as u8,
            (body_len >> 16) as u8,
        ]);
        out.extend_from_slice(&masked_crc(piece).to_le_bytes());
        out.extend_from_slice(piece);
    }
    out
}

/// Decodes a whole S2 stream (accepting discontinuities); returns the decoded bytes.
pub fn decode_all(s2_bytes: &[u8]) -> Vec<u8> {
    let mut stream = DecodedStream::new(s2_bytes);
    let mut out = Vec::new();
    loop {
        match stream.fill(1) {
            Ok(()) => {
                let piece = stream.take_available(usize::MAX);
                out.extend_from_slice(piece);
            }
            Err(StreamStop::Discontinuity) => stream.accept_discontinuity(),
            Err(StreamStop::End) => break,
        }
    }
    out
}

/// S2 framing alone: decode to the end, checking the chunk index is consistent.
pub fn s2_frames(data: &[u8]) {
    let mut stream = DecodedStream::new(data);
    let mut decoded = 0u64;
    let mut step = 1usize;
    loop {
        // Vary the request size so peek/take/skip all see partial buffers.
        step = step % 977 + 37;
        match stream.fill(step) {
            Ok(()) => {
                let _ = stream.peek(step);
                let _ = stream.take(step / 2);
                decoded += (step / 2) as u64;
                decoded += match stream.skip(3) {
                    Ok(()) => 3,
                    Err((skipped, _)) => skipped,
                };
            }
            Err(StreamStop::Discontinuity) => stream.accept_discontinuity(),
            Err(StreamStop::End) => {
                decoded += stream.take_available(usize::MAX).len() as u64;
                break;
            }
        }
    }
    let chunks = &stream.chunks.chunks;
    let mut expected_offset = 0u64;
    for chunk in chunks {
        assert_eq!(
            chunk.decompressed_offset, expected_offset,
            "chunk index has a gap"
        );
        expected_offset = chunk.decompressed_end();
        assert!(
            chunk.file_offset < data.len() as u64,
            "chunk past the file end"
        );
    }
    assert_eq!(
        decoded,
        stream.chunks.decompressed_pos(),
        "bytes consumed != bytes decoded"
    );
    for problem in &stream.chunks.problems {
        assert!(problem.file_offset() <= data.len() as u64);
        let _ = problem.to_string();
    }
}

/// Scans S2 bytes as a backup and exercises the reports built from the model.
pub fn scan(s2_bytes: &[u8]) -> Backup {
    let mut backup = Backup::empty(BackupSource::default());
    let mut control = ScanControl::default();
    let _ = scan_stream(s2_bytes, &mut backup, &mut control);
    exercise_model(&backup);
    backup
}

/// Everything the CLI computes from a model without the data file.
pub fn exercise_model(backup: &Backup) {
    let reference_ns = 1_700_000_000_000_000_000;
    let _ = report::info_json(backup, reference_ns);
    let _ = report::ttl_summary(backup, reference_ns);
    let _ = report::info_json(backup, i64::MAX);
    let rows = backup.messages.len();
    for row in (0..rows.min(64)).chain(rows.saturating_sub(64)..rows) {
        let _ = report::message_json(backup, row, reference_ns);
    }
    let _ = backup.deleted_count();
    for finding in &backup.findings {
        let _ = finding.message.len();
    }
}

/// Writes the S2 bytes to a scratch file and reads message bytes back through the
/// chunk index the scan recorded (what `messages` and the UI do).
pub fn scan_and_read(s2_bytes: &[u8], scratch: &Path) -> Backup {
    let mut backup = scan(s2_bytes);
    if std::fs::write(scratch, s2_bytes).is_err() {
        return backup;
    }
    backup.source.data_file = scratch.to_path_buf();
    if let Ok(mut reader) = MessageReader::open(&backup) {
        let rows = backup.messages.len();
        for row in (0..rows.min(200)).chain(rows.saturating_sub(50)..rows) {
            let _ = reader.read_row(&backup, row);
        }
    }
    let _ = std::fs::remove_file(scratch);
    backup
}

/// A scratch file per process and thread (tests run targets on several threads).
fn scratch_path() -> PathBuf {
    let thread = format!("{:?}", std::thread::current().id());
    let thread: String = thread.chars().filter(char::is_ascii_digit).collect();
    std::env::temp_dir().join(format!("jsbackup-fuzz-{}-{thread}.s2", std::process::id()))
}

/// `scan_stream` over arbitrary bytes as the data file (compressed chunks included).
pub fn scan_raw(data: &[u8]) {
    scan(data);
}

/// v1: arbitrary bytes as the decompressed tar, S2-wrapped, then scanned and read.
pub fn v1_tar(data: &[u8]) {
    let (chunk_size, payload) = split_selector(data);
    let wrapped = wrap_s2(payload, chunk_size);
    scan_and_read(&wrapped, &scratch_path());
}

/// v2: arbitrary bytes after the `NATSARC1` magic, S2-wrapped, then scanned and read.
pub fn v2_entries(data: &[u8]) {
    let (chunk_size, payload) = split_selector(data);
    let mut archive = Vec::with_capacity(payload.len() + 8);
    archive.extend_from_slice(v2::MAGIC);
    archive.extend_from_slice(payload);
    let wrapped = wrap_s2(&archive, chunk_size);
    scan_and_read(&wrapped, &scratch_path());
}

/// A message block: every record the walk reports must lie inside the block.
pub fn block_records(data: &[u8]) {
    let key = Hh64Key::new("ORDERS-1");
    let mut end = 0usize;
    let result = filestore::walk_records(data, &key, |record| {
        let record_end = record.offset + record.len as usize;
        assert!(record.offset >= end, "records overlap");
        assert!(record_end <= data.len(), "record past the block end");
        let subject = record.subject_start..record.subject_start + record.subject_len;
        let hdrs = record.hdr_start..record.hdr_start + record.hdr_len;
        let body = record.data_start..record.data_start + record.data_len;
        for range in [subject, hdrs, body] {
            assert!(range.start >= record.offset && range.end <= record_end);
            let _ = data.get(range);
        }
        if record.kind == RecordKind::Message {
            assert_ne!(record.seq, 0);
        }
        end = record_end;
    });
    if let Err(error) = result {
        assert!(error.offset <= data.len());
    }
}

/// index.db as stored: the checksum stops most inputs early.
pub fn index_db(data: &[u8]) {
    if let Ok(index) = index_db::parse_index_db(data, "ORDERS") {
        check_index(&index);
    }
}

/// index.db with the trailing HighwayHash fixed up, so parsing goes past the checksum.
pub fn index_db_fixed(data: &[u8]) {
    let mut fixed = data.to_vec();
    fixed.extend_from_slice(&Hh64Key::new("ORDERS").sum(&[data]));
    match index_db::parse_index_db(&fixed, "ORDERS") {
        Ok(index) => check_index(&index),
        Err(reason) => assert!(!reason.contains("checksum does not match"), "{reason}"),
    }
}

fn check_index(index: &index_db::IndexDb) {
    for block in &index.blocks {
        let _ = block.msgs();
        assert!(block.deleted.windows(2).all(|pair| pair[0] < pair[1]));
    }
}

pub fn odat(data: &[u8]) {
    if let Ok(state) = index_db::parse_odat(data) {
        assert!(state.pending.len() <= data.len());
        assert!(state.redelivered.len() <= data.len());
    }
}

pub fn seqset(data: &[u8]) {
    if let Ok((sequences, used)) = index_db::decode_seqset(data) {
        assert!(used <= data.len());
        assert!(sequences.windows(2).all(|pair| pair[0] < pair[1]));
    }
}

/// Header blocks and TTL values: the raw bytes, and every `\n`-separated piece as a string.
pub fn headers_ttl(data: &[u8]) {
    let block = headers::parse_header_block(data);
    assert!(block.entries.len() <= data.len());
    let _ = headers::count_headers(data);
    let _ = headers::classify(data);
    let _ = headers::message_ttl(data);
    let text = String::from_utf8_lossy(data);
    for piece in text.split('\n').chain(std::iter::once(text.as_ref())) {
        let ttl = headers::parse_ttl(piece);
        let _ = ttl.seconds_value();
        let _ = ttl.is_expired(i64::MAX, i64::MIN);
        let _ = ttl.is_expired(i64::MIN, i64::MAX);
        if let Some(duration_ns) = headers::parse_go_duration(piece) {
            // Go's ParseDuration: a positive result never needs a '-' sign.
            if duration_ns < 0 {
                assert!(piece.starts_with('-'), "{piece:?} -> {duration_ns}");
            }
        }
    }
}

/// Seed inputs for every target from the real fixtures under `fixtures`:
/// raw data files, their decompressed archives, v1 members (blocks, index.db,
/// o.dat, delete maps) and v2 header blocks.
pub fn fixture_seeds(fixtures: &Path) -> Vec<(String, String, Vec<u8>)> {
    let mut seeds = Seeds {
        list: Vec::new(),
        seen: BTreeSet::new(),
    };
    for data_file in data_files(fixtures) {
        let label = data_file
            .parent()
            .and_then(|dir| dir.strip_prefix(fixtures).ok())
            .map(|rel| rel.display().to_string().replace('/', "-"))
            .unwrap_or_default();
        let Ok(raw) = std::fs::read(&data_file) else {
            continue;
        };
        seeds.add("s2_frames", &label, &raw);
        seeds.add("scan_raw", &label, &raw);
        let decoded = decode_all(&raw);
        if decoded.starts_with(v2::MAGIC) {
            let mut input = vec![0u8];
            input.extend_from_slice(&decoded[8..]);
            seeds.add("v2_entries", &label, &input);
            input[0] = 3; // 511-byte chunks
            seeds.add("v2_entries", &format!("{label}-511"), &input);
            v2_headers(&decoded, &label, &mut seeds);
        } else {
            let mut input = vec![0u8];
            input.extend_from_slice(&decoded);
            seeds.add("v1_tar", &label, &input);
            input[0] = 3;
            seeds.add("v1_tar", &format!("{label}-511"), &input);
            tar_members(&decoded, &label, &mut seeds);
        }
    }
    for text in [
        "NATS/1.0\r\nNats-TTL: 5s\r\n\r\n",
        "NATS/1.0\r\nNats-TTL: never\r\nKV-Operation: DEL\r\n\r\n",
        "NATS/1.0\r\nNats-Rollup: sub\r\nNats-Msg-Id: x\r\nNats-Marker-Reason: MaxAge\r\n\r\n",
        "1h30m\n1.5s\n-5s\n.5h\n9223372036854775807\n2562047h47m16.854775807s\nµs",
    ] {
        seeds.add("headers_ttl", "hand", text.as_bytes());
    }
    seeds.list
}

pub struct Seeds {
    /// (target, file name, bytes)
    pub list: Vec<(String, String, Vec<u8>)>,
    seen: BTreeSet<(String, Vec<u8>)>,
}

impl Seeds {
    fn add(&mut self, target: &str, label: &str, data: &[u8]) {
        if self.seen.insert((target.to_string(), data.to_vec())) {
            self.list.push((
                target.to_string(),
                format!("seed-{label}-{}", self.list.len()),
                data.to_vec(),
            ));
        }
    }
}

fn data_files(fixtures: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![fixtures.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|ext| ext == "s2") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// v1 members: blocks, index.db, o.dat, and the delete maps inside index.db.
fn tar_members(decoded: &[u8], label: &str, seeds: &mut Seeds) {
    let wrapped = wrap_s2(decoded, 65536);
    let mut stream = DecodedStream::new(&wrapped[..]);
    let mut tar = TarReader::new();
    let mut data = Vec::new();
    while let Ok(TarEvent::Member(header)) = tar.next(&mut stream) {
        if tar.read_data(&mut stream, header.size, &mut data).is_err() {
            break;
        }
        let name = header
            .name
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_string();
        if name.ends_with(".blk") {
            seeds.add("block_records", label, &data);
        } else if name == "index.db" {
            seeds.add("index_db", label, &data);
            if data.len() >= 8 {
                seeds.add("index_db_fixed", label, &data[..data.len() - 8]);
            }
            // Delete maps start with magic 22; offer each candidate to the seqset target.
            for (at, pair) in data.windows(2).enumerate() {
                if pair[0] == 22 && (pair[1] == 1 || pair[1] == 2) {
                    seeds.add("seqset", label, &data[at..]);
                }
            }
        } else if name == "o.dat" {
            seeds.add("odat", label, &data);
        }
    }
}

/// v2 header blocks of message entries, for the header target.
fn v2_headers(decoded: &[u8], label: &str, seeds: &mut Seeds) {
    let wrapped = wrap_s2(decoded, 65536);
    let mut stream = DecodedStream::new(&wrapped[..]);
    if v2::read_magic(&mut stream) != Ok(true) {
        return;
    }
    let mut added = 0;
    while let Ok(header) = v2::next_entry_header(&mut stream) {
        if header.is_sentinel() {
            break;
        }
        let Ok(hdr_len) = usize::try_from(header.header_size) else {
            break;
        };
        if hdr_len > 0 && added < 20 {
            if let Ok(block) = stream.take(hdr_len) {
                let block = block.to_vec();
                seeds.add("headers_ttl", label, &block);
                added += 1;
            }
            if stream.skip(header.payload_size).is_err() {
                break;
            }
        } else if stream.skip(header.data_len()).is_err() {
            break;
        }
        if matches!(stream.fill(1), Err(StreamStop::End)) {
            break;
        }
    }
}

/// A small deterministic mutator (xorshift64*) for drivers without libFuzzer.
pub struct Mutator {
    state: u64,
}

const INTERESTING_U32: [u32; 12] = [
    0,
    1,
    7,
    0x7f,
    0x80,
    0xff,
    0x1ff,
    0xffff,
    0x1_0000,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
];

impl Mutator {
    pub fn new(seed: u64) -> Self {
        Self {
            state: seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1,
        }
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, bound: usize) -> usize {
        if bound == 0 {
            0
        } else {
            (self.next_u64() % bound as u64) as usize
        }
    }

    /// Applies 1-4 random mutations; `other` is a splice source.
    pub fn mutate(&mut self, data: &mut Vec<u8>, other: &[u8]) {
        let count = 1 + self.below(4);
        for _ in 0..count {
            self.mutate_once(data, other);
        }
    }

    fn mutate_once(&mut self, data: &mut Vec<u8>, other: &[u8]) {
        let len = data.len();
        match self.below(10) {
            0 | 1 => {
                if len > 0 {
                    let at = self.below(len);
                    data[at] ^= 1 << self.below(8);
                }
            }
            2 => {
                if len > 0 {
                    let at = self.below(len);
                    data[at] = self.next_u64() as u8;
                }
            }
            3 => {
                let at = self.below(len + 1);
                let count = 1 + self.below(16);
                let fill: Vec<u8> = (0..count).map(|_| self.next_u64() as u8).collect();
                data.splice(at..at, fill);
            }
            4 => {
                if len > 0 {
                    let at = self.below(len);
                    let count = (1 + self.below(64)).min(len - at);
                    data.drain(at..at + count);
                }
            }
            5 => {
                // Splice a range of another input (or this one) over a range of this one.
                let source = if other.is_empty() {
                    data.clone()
                } else {
                    other.to_vec()
                };
                if !source.is_empty() && len > 0 {
                    let from = self.below(source.len());
                    let count = (1 + self.below(512)).min(source.len() - from);
                    let at = self.below(len);
                    let end = (at + count).min(len);
                    data.splice(at..end, source[from..from + count].iter().copied());
                }
            }
            6 => {
                // Length-like fields: little-endian u32 (S2 lengths, record lengths).
                if len >= 4 {
                    let at = self.below(len - 3);
                    let value = INTERESTING_U32[self.below(INTERESTING_U32.len())];
                    data[at..at + 4].copy_from_slice(&value.to_le_bytes());
                }
            }
            7 => {
                // Varint fields (v2 entry headers, index.db, o.dat).
                if len > 0 {
                    let at = self.below(len);
                    let value = match self.below(4) {
                        0 => u64::MAX,
                        1 => 1 << 63,
                        2 => self.next_u64() >> self.below(64),
                        _ => u64::from(INTERESTING_U32[self.below(INTERESTING_U32.len())]),
                    };
                    let mut encoded = Vec::new();
                    jsbackup::format::varint::write_uvarint(&mut encoded, value);
                    let end = (at + encoded.len()).min(len);
                    data.splice(at..end, encoded);
                }
            }
            8 => {
                // Tar octal fields: 11 octal digits and a NUL.
                if len >= 12 {
                    let at = self.below(len - 11);
                    let value = match self.below(3) {
                        0 => 0o77777777777,
                        1 => self.next_u64() & 0o77777777777,
                        _ => 0,
                    };
                    let text = format!("{value:011o}\0");
                    data[at..at + 12].copy_from_slice(text.as_bytes());
                }
            }
            _ => {
                if len > 0 {
                    let cut = self.below(len);
                    data.truncate(cut);
                }
            }
        }
    }
}
