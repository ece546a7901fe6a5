//! Crafted hostile inputs (issue 11): tiny archives that decompress to gigabytes
//! of repetitive bytes, built here (never committed). Each must keep `info`,
//! `verify`, `messages` and `export --salvage` within 1 GiB peak RSS and 20 s,
//! measured on the child process by `/usr/bin/time` (wait4 rusage).
//!
//! The S2 stream is written by hand: a 4 MiB block holding one copy of a short
//! pattern, a 64-byte copy and one S2 "repeat" copy of the rest — about 20 bytes
//! for 4 MiB of output, which is how a 39 KB file holds 6 GiB.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is a failed test

mod common;

use common::hostile::{self, encode_periodic_block, member, tar_end, v1_head, S2Out, S2_BLOCK};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The acceptance bounds of issue 11, per command.
const MAX_RSS_KIB: u64 = 1 << 20;
const MAX_SECONDS: f64 = 20.0;

// The generators live in tests/common/hostile.rs (shared with the fuzz seed
// writer); these write them as `dir/stream.tar.s2`.

/// (a) a v2 archive: state.json, then 20 M sequence-0 entries, then the sentinel.
fn v2_seq_zero(dir: &Path, consumer_entries: bool, count: u64) -> PathBuf {
    hostile::s2_file(dir, |out| {
        hostile::v2_seq_zero(out, consumer_entries, count)
    })
}

/// (b) six 1 GiB `msgs/N.idx` members of zeros in a v1 archive.
fn v1_big_idx(dir: &Path, size: u64) -> PathBuf {
    hostile::s2_file(dir, |out| hostile::v1_big_idx(out, 6, size))
}

/// (c) 3,000 PAX headers each holding a 1 MiB `path` record, before empty members.
fn v1_pax_paths(dir: &Path, count: u64) -> PathBuf {
    hostile::s2_file(dir, |out| hostile::v1_pax_paths(out, count, 1 << 20))
}

/// (d) 60 consumers whose meta.inf holds 60 MiB of JSON each.
fn v1_big_consumers(dir: &Path, count: u64, size: u64) -> PathBuf {
    hostile::s2_file(dir, |out| hostile::v1_big_consumers(out, count, size))
}

/// (e) an index.db whose block delete map spans 64 Mi sequences (all deleted).
fn v1_wide_delete_map(dir: &Path) -> PathBuf {
    hostile::s2_file(dir, |out| hostile::v1_wide_delete_map(out, 64 << 20))
}

/// (f) a v2 archive with a gap of 1e9 sequences, a sequence with flag bits set and
/// two consumers of the same name.
fn v2_gaps_flags_duplicates(dir: &Path) -> PathBuf {
    let mut out = S2Out::new();
    hostile::v2_gaps_flags_duplicates(&mut out);
    out.write(dir, "stream.tar.s2")
}

/// One compressed chunk of 13 bytes that claims a 4 MiB block and does not decode
/// (a one-byte literal tag with no byte behind it).
const UNDECODABLE_CHUNK: [u8; 13] = [
    0x00, 9, 0, 0, 0x11, 0x22, 0x33, 0x44, 0x80, 0x80, 0x80, 0x02, 0x00,
];

/// (g) a v1 archive: meta.inf, meta.sum and block 1, then `count` undecodable chunks
/// (each claiming 4 MiB), then block 2 of three messages and the end of the tar.
fn v1_undecodable_chunks(dir: &Path, count: usize) -> PathBuf {
    let mut out = S2Out::new();
    v1_head(&mut out);
    for _ in 0..count {
        out.raw(&UNDECODABLE_CHUNK);
    }
    member(&mut out, "msgs/2.blk", &hostile::three_message_block(2, 4));
    tar_end(&mut out);
    out.write(dir, "stream.tar.s2")
}

/// A v2 archive body (magic, `state`, messages 1..=`last` on `h.a`, the sentinel),
/// not yet S2-framed.
fn v2_entries(state: &[u8], last: u64) -> Vec<u8> {
    let mut writer =
        jsbackup::format::write_v2::V2Writer::new(Vec::new(), 1_700_000_000_000_000_000, state)
            .unwrap();
    for seq in 1..=last {
        let ts = 1_700_000_000_000_000_000 + seq as i64;
        writer.message(b"h.a", ts, seq, b"", b"payload").unwrap();
    }
    writer.finish().unwrap()
}

/// (h) a v2 archive of 40 messages with `count` undecodable chunks between the
/// entries of messages 20 and 21.
fn v2_undecodable_chunks(dir: &Path, count: usize) -> PathBuf {
    let state = br#"{"messages":40,"bytes":0,"first_seq":1,"last_seq":40,"consumer_count":0}"#;
    let body = v2_entries(state, 40);
    // The first 20 entries are the same bytes in both (without the sentinel).
    let split = v2_entries(state, 20).len() - 5;
    let mut out = S2Out::new();
    out.literal(&body[..split]);
    for _ in 0..count {
        out.raw(&UNDECODABLE_CHUNK);
    }
    out.literal(&body[split..]);
    out.write(dir, "stream.tar.s2")
}

/// (i) a v2 archive of 10 messages, then `count` chunks that each decode to 4 MiB
/// of zeros and fail their CRC (about 20 bytes each), then the rest. The zeros
/// read as a sentinel that is not believed; the resync must not search them.
fn v2_crc_failed_zero_chunks(dir: &Path, count: usize) -> PathBuf {
    let state = br#"{"messages":20,"bytes":0,"first_seq":1,"last_seq":20,"consumer_count":0}"#;
    let body = v2_entries(state, 20);
    let split = v2_entries(state, 10).len() - 5;
    let mut out = S2Out::new();
    out.literal(&body[..split]);
    let mut zeros = encode_periodic_block(&[0], S2_BLOCK);
    // The CRC follows the 4-byte chunk header.
    zeros[4] ^= 1;
    for _ in 0..count {
        out.raw(&zeros);
    }
    out.literal(&body[split..]);
    out.write(dir, "stream.tar.s2")
}

/// Peak RSS (KiB), wall time and exit code of one command, and its stdout.
struct Measured {
    rss_kib: u64,
    seconds: f64,
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn run_measured(args: &[&str], scratch: &Path) -> Measured {
    let times = scratch.join("time.txt");
    let stdout_path = scratch.join("stdout.txt");
    let stdout = std::fs::File::create(&stdout_path).unwrap();
    let output = Command::new("/usr/bin/time")
        .arg("-f")
        .arg("%M %e")
        .arg("-o")
        .arg(&times)
        .arg(env!("CARGO_BIN_EXE_jsbackup"))
        .args(args)
        .stdout(stdout)
        .stderr(Stdio::piped())
        .output()
        .expect("/usr/bin/time runs (Debian package `time`, see scripts/test.sh)");
    let text = std::fs::read_to_string(&times).unwrap();
    let last = text.lines().last().unwrap_or_default().to_string();
    let mut fields = last.split_whitespace();
    let rss_kib = fields.next().and_then(|field| field.parse().ok()).unwrap();
    let seconds = fields.next().and_then(|field| field.parse().ok()).unwrap();
    // Only the head of stdout is kept: `messages` may print a lot.
    let mut stdout = std::fs::read(&stdout_path).unwrap();
    stdout.truncate(1 << 20);
    Measured {
        rss_kib,
        seconds,
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Runs the four commands on `data` and checks the bounds; returns `verify --json`.
fn check_bounds(label: &str, data: &Path, scratch: &Path) -> Value {
    check_bounds_within(label, data, scratch, MAX_SECONDS)
}

/// [`check_bounds`] with a time bound of its own (seconds per command).
fn check_bounds_within(label: &str, data: &Path, scratch: &Path, max_seconds: f64) -> Value {
    let data_text = data.to_str().unwrap();
    let out_dir = scratch.join("salvaged");
    let out_text = out_dir.to_str().unwrap().to_string();
    let commands: [(&str, Vec<&str>); 4] = [
        ("info", vec!["info", data_text]),
        ("verify", vec!["verify", data_text, "--json"]),
        ("messages", vec!["messages", data_text]),
        (
            "export --salvage",
            vec!["export", data_text, &out_text, "--salvage"],
        ),
    ];
    let mut verify = Value::Null;
    for (name, args) in commands {
        let measured = run_measured(&args, scratch);
        eprintln!(
            "hostile {label}: {name}: peak RSS {} MiB, {:.2} s, exit {:?}",
            measured.rss_kib / 1024,
            measured.seconds,
            measured.code
        );
        assert!(
            matches!(measured.code, Some(0..=2)),
            "{label}: {name} exited {:?} (a crash or abort): {}",
            measured.code,
            measured.stderr
        );
        assert!(
            measured.rss_kib <= MAX_RSS_KIB,
            "{label}: {name} peaked at {} MiB",
            measured.rss_kib / 1024
        );
        assert!(
            measured.seconds <= max_seconds,
            "{label}: {name} took {:.1} s",
            measured.seconds
        );
        if name == "verify" {
            verify = serde_json::from_str(&measured.stdout).unwrap_or_else(|error| {
                panic!("{label}: verify --json: {error}: {}", measured.stdout)
            });
        }
    }
    verify
}

fn findings(verify: &Value) -> Vec<(String, String)> {
    verify["findings"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|finding| {
                    (
                        finding["kind"].as_str().unwrap_or_default().to_string(),
                        finding["message"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn assert_finding(label: &str, verify: &Value, kind: &str, needle: &str) {
    let list = findings(verify);
    assert!(
        list.iter()
            .any(|(found_kind, message)| found_kind == kind && message.contains(needle)),
        "{label}: no {kind} finding containing {needle:?} in {list:#?}"
    );
}

fn scratch(name: &str) -> common::TempDir {
    common::TempDir::new(&format!("hostile-{name}"))
}

#[test]
fn v2_twenty_million_sequence_zero_entries() {
    for (label, consumers) in [("seq-zero entries", false), ("seq-zero consumers", true)] {
        let dir = scratch("v2-seq0");
        let data = v2_seq_zero(dir.path(), consumers, 20_000_000);
        assert!(std::fs::metadata(&data).unwrap().len() < 4096);
        let verify = check_bounds(label, &data, dir.path());
        assert!(
            findings(&verify).len() <= 40_000,
            "{label}: findings are bounded"
        );
        assert_finding(
            label,
            &verify,
            if consumers {
                "consumer_meta"
            } else {
                "entry_order"
            },
            "more",
        );
    }
}

#[test]
fn v1_six_one_gib_idx_members() {
    let dir = scratch("v1-idx");
    let data = v1_big_idx(dir.path(), 1 << 30);
    assert!(std::fs::metadata(&data).unwrap().len() < 64 << 10);
    let verify = check_bounds("1 GiB .idx members", &data, dir.path());
    assert_finding("1 GiB .idx members", &verify, "too_large", "msgs/1.idx");
}

#[test]
fn v1_three_thousand_one_mib_pax_paths() {
    let dir = scratch("v1-pax");
    let data = v1_pax_paths(dir.path(), 3_000);
    let verify = check_bounds("1 MiB PAX paths", &data, dir.path());
    assert_finding("1 MiB PAX paths", &verify, "tar_header", "PAX path");
}

#[test]
fn v1_sixty_consumers_of_sixty_mib() {
    let dir = scratch("v1-consumers");
    let data = v1_big_consumers(dir.path(), 60, 60 << 20);
    let verify = check_bounds("60 MiB consumers", &data, dir.path());
    assert_finding("60 MiB consumers", &verify, "too_large", "obs/c0/meta.inf");
}

#[test]
fn v1_index_db_delete_map_of_64_mi_sequences() {
    let dir = scratch("v1-dmap");
    let data = v1_wide_delete_map(dir.path());
    let verify = check_bounds("64 Mi delete map", &data, dir.path());
    assert_finding("64 Mi delete map", &verify, "index_db", "delete map");
}

#[test]
fn v2_absurd_gap_flag_bits_and_duplicate_consumers() {
    let dir = scratch("v2-gaps");
    let data = v2_gaps_flags_duplicates(dir.path());
    let label = "gaps, flags, duplicates";
    let verify = check_bounds(label, &data, dir.path());
    assert_finding(
        label,
        &verify,
        "sequence_gap",
        "3..1000000002 (1,000,000,000 sequences)",
    );
    assert_finding(label, &verify, "sequence_flags", "4611686018427387911");
    assert_finding(label, &verify, "consumer_meta", "\"dup\"");
}

/// (j) an object-store archive (`OBJ_h`, named by backup.json) whose 20,000 meta
/// messages all name one set of 20 chunks of 64 KiB. Each chunk set is read once,
/// however many meta messages name it: reading it per meta message took 522 s
/// (release) for 100,000 of them over 6.5 MB.
fn v2_object_metas_sharing_chunks(dir: &Path) -> PathBuf {
    fn entry(out: &mut Vec<u8>, name: &[u8], seq: u64, headers: &[u8], data: &[u8]) {
        hostile::push_uvarint(out, name.len() as u64);
        hostile::push_varint(out, seq as i64);
        hostile::push_uvarint(out, seq);
        hostile::push_uvarint(out, headers.len() as u64);
        hostile::push_uvarint(out, data.len() as u64);
        out.extend_from_slice(name);
        out.extend_from_slice(headers);
        out.extend_from_slice(data);
    }
    const CHUNKS: u64 = 20;
    const METAS: u64 = 20_000;
    let mut body = b"NATSARC1".to_vec();
    let state = format!(
        r#"{{"messages":{0},"bytes":0,"first_seq":1,"last_seq":{0},"consumer_count":0}}"#,
        CHUNKS + METAS
    );
    entry(&mut body, b"state.json", 0, b"", state.as_bytes());
    let chunk: Vec<u8> = (0..64 << 10).map(|index| index as u8).collect();
    for seq in 1..=CHUNKS {
        entry(&mut body, b"$O.h.C.SHAREDNUID", seq, b"", &chunk);
    }
    let meta = br#"{"name":"x","bucket":"h","nuid":"SHAREDNUID","size":1,"chunks":1,"digest":"SHA-256=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}"#;
    for seq in CHUNKS + 1..=CHUNKS + METAS {
        entry(
            &mut body,
            b"$O.h.M.eA==",
            seq,
            b"NATS/1.0\r\nNats-Rollup: sub\r\n\r\n",
            meta,
        );
    }
    body.extend_from_slice(&[0; 5]);
    let config = r#"{"config":{"name":"OBJ_h","subjects":["$O.h.C.>","$O.h.M.>"],"storage":"file","allow_rollup_hdrs":true}}"#;
    std::fs::write(dir.join("backup.json"), config).unwrap();
    let mut out = S2Out::new();
    out.literal(&body);
    out.write(dir, "stream.tar.s2");
    dir.to_path_buf()
}

#[test]
fn object_meta_messages_sharing_one_chunk_set_read_it_once() {
    let dir = scratch("v2-obj-metas");
    let data = v2_object_metas_sharing_chunks(dir.path());
    let label = "object metas sharing chunks";
    let verify = check_bounds(label, &data, dir.path());
    assert_eq!(verify["stream"], "OBJ_h", "{}", verify["stream"]);
    assert_finding(
        label,
        &verify,
        "object_digest",
        "20 chunks present, 1 declared",
    );
}

/// Undecodable chunks cost their compressed bytes, not the 4 MiB each claims: the
/// 33 KB input of 2,560 of them (once 33 s) and a 1 MB one, in a v1 and a v2
/// archive, within 5 s per command (debug build), and the messages after them read.
#[test]
fn undecodable_chunks_cost_their_compressed_bytes() {
    const MAX_SECONDS_UNDECODABLE: f64 = 5.0;
    let one_mb = (1 << 20) / UNDECODABLE_CHUNK.len();
    for count in [2_560, one_mb] {
        for group in ["v1", "v2"] {
            let label = format!("{count} undecodable chunks ({group})");
            let dir = scratch(&format!("undecodable-{group}-{count}"));
            let data = if group == "v1" {
                v1_undecodable_chunks(dir.path(), count)
            } else {
                v2_undecodable_chunks(dir.path(), count)
            };
            let bytes = std::fs::metadata(&data).unwrap().len();
            assert!(bytes >= (count * UNDECODABLE_CHUNK.len()) as u64);
            let verify = check_bounds_within(&label, &data, dir.path(), MAX_SECONDS_UNDECODABLE);
            assert_finding(&label, &verify, "s2_framing", "undecodable S2 block");
            let summary = &verify["summary"];
            let intact = summary["messages_intact"].as_u64().unwrap();
            if group == "v1" {
                // Every record passed its checksum, on both sides of the lost chunks.
                assert_eq!(intact, 6, "{label}: {summary}");
            } else {
                // Entries before and after the lost chunks are read (an entry touching
                // them may be suspect, never taken as intact).
                assert!(intact >= 38, "{label}: {summary}");
                assert!(intact <= 40, "{label}: {summary}");
            }
        }
    }
}

/// 256 CRC-failed chunks of 4 MiB of zeros (1 GiB decoded from 6 KB): decoded and
/// checked once, never searched byte by byte (once 128 s for `info`), and the
/// messages after them are read.
#[test]
fn crc_failed_zero_chunks_are_not_searched() {
    let label = "256 CRC-failed 4 MiB zero chunks (v2)";
    let dir = scratch("crc-failed-zeros");
    let data = v2_crc_failed_zero_chunks(dir.path(), 256);
    assert!(std::fs::metadata(&data).unwrap().len() < 16 << 10);
    let verify = check_bounds(label, &data, dir.path());
    assert_finding(label, &verify, "s2_crc", "S2 CRC mismatch");
    let intact = verify["summary"]["messages_intact"].as_u64().unwrap();
    // Messages 1..=10 before the damage; those after it whose entries lie wholly
    // in good bytes (the first one after may touch the damage).
    assert!(
        (19..=20).contains(&intact),
        "{label}: {}",
        verify["summary"]
    );
}

/// Writes every crafted input into `$HOSTILE_OUT/<name>/stream.tar.s2` (for fuzz
/// seeds and by-hand runs): `HOSTILE_OUT=/tmp/h cargo test --test hostile -- --ignored write_inputs`.
#[test]
#[ignore]
fn write_inputs() {
    let out = PathBuf::from(std::env::var_os("HOSTILE_OUT").expect("set HOSTILE_OUT"));
    v2_seq_zero(&out.join("v2-seq0-entries"), false, 20_000_000);
    v2_seq_zero(&out.join("v2-seq0-consumers"), true, 20_000_000);
    v1_big_idx(&out.join("v1-big-idx"), 1 << 30);
    v1_pax_paths(&out.join("v1-pax-paths"), 3_000);
    // Small enough to commit as a fuzz seed (tests/fuzz_corpus/scan_raw-hostile-*).
    v1_pax_paths(&out.join("v1-pax-paths-30"), 30);
    v2_seq_zero(&out.join("v2-seq0-entries-2m"), false, 2_000_000);
    v2_seq_zero(&out.join("v2-seq0-consumers-2m"), true, 2_000_000);
    v1_big_idx(&out.join("v1-big-idx-16m"), 16 << 20);
    v1_big_consumers(&out.join("v1-big-consumers-6x12m"), 6, 12 << 20);
    v1_big_consumers(&out.join("v1-big-consumers"), 60, 60 << 20);
    v1_wide_delete_map(&out.join("v1-wide-delete-map"));
    v2_gaps_flags_duplicates(&out.join("v2-gaps-flags-dups"));
    v1_undecodable_chunks(&out.join("v1-undecodable-2560"), 2_560);
    v2_undecodable_chunks(&out.join("v2-undecodable-2560"), 2_560);
    v2_crc_failed_zero_chunks(&out.join("v2-crc-failed-zeros-256"), 256);
}
