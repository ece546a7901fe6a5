//! Damage beyond the shipped corrupt fixtures: each real archive in
//! `fixtures/{v1,v2}/compressed` (many S2 chunks) is damaged five ways, and
//! `verify` must account for every message: intact + damaged + lost = the
//! server's count, with every intact message byte-identical to expected.json.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is a failed test

mod common;
use common::jsbackup;

use base64::Engine;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// (file offset, type, body length) of each S2 chunk.
fn chunks(bytes: &[u8]) -> Vec<(usize, u8, usize)> {
    let mut out = Vec::new();
    let mut offset = 0;
    while offset + 4 <= bytes.len() {
        let length = usize::from(bytes[offset + 1])
            | usize::from(bytes[offset + 2]) << 8
            | usize::from(bytes[offset + 3]) << 16;
        out.push((offset, bytes[offset], length));
        offset += 4 + length;
    }
    out
}

fn damaged_variants(bytes: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    let list = chunks(bytes);
    let (offset, _, length) = list[list.len() / 2];
    let mut garbage = bytes.to_vec();
    for byte in &mut garbage[offset + 20..offset + 220] {
        *byte ^= 0x5a;
    }
    let mut dropped = bytes[..offset].to_vec();
    dropped.extend_from_slice(&bytes[offset + 4 + length..]);
    let mut reserved = bytes.to_vec();
    reserved[offset] = 0x05;
    let mut bad_length = bytes.to_vec();
    bad_length[offset + 1] = 0x10;
    bad_length[offset + 2] = 0;
    bad_length[offset + 3] = 0;
    vec![
        ("garbage inside a chunk", garbage),
        ("a chunk removed", dropped),
        ("cut at a chunk boundary", bytes[..offset].to_vec()),
        ("reserved chunk type", reserved),
        ("chunk length damaged", bad_length),
    ]
}

fn digest(headers: &[u8], data: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(headers);
    hasher.update(data);
    hasher
        .finalize()
        .iter()
        .take(8)
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[test]
fn every_message_is_accounted_for_after_damage() {
    let engine = base64::engine::general_purpose::STANDARD;
    for group in ["v1", "v2"] {
        let source = common::fixture(&format!("{group}/compressed"));
        let expected = common::read_json(&source.join("expected.json"));
        let total = expected["state"]["messages"].as_u64().expect("messages");
        assert_eq!(
            expected["state"]["num_deleted"].as_u64().unwrap_or(0),
            0,
            "the accounting below assumes no deletes"
        );
        let rows: std::collections::HashMap<u64, &Value> = expected["messages"]["rows"]
            .as_array()
            .expect("rows")
            .iter()
            .map(|row| (row[0].as_u64().expect("seq"), row))
            .collect();
        let original = std::fs::read(source.join("stream.tar.s2")).expect("archive");
        let scratch = common::TempDir::new("jsbackup-damage");
        for (what, bytes) in damaged_variants(&original) {
            let dir = scratch.join(what.replace(' ', "-"));
            std::fs::create_dir_all(&dir).expect("mkdir");
            std::fs::copy(source.join("backup.json"), dir.join("backup.json")).expect("copy");
            std::fs::write(dir.join("stream.tar.s2"), &bytes).expect("write");
            let path = dir.to_str().expect("path");
            let output = jsbackup(&["verify", path, "--json"]);
            assert_eq!(
                output.status.code(),
                Some(1),
                "{group} {what}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            let report: Value = serde_json::from_slice(&output.stdout).expect("verify JSON");
            let summary = &report["summary"];
            let intact = summary["messages_intact"].as_u64().expect("intact")
                + summary["messages_suspect"].as_u64().expect("suspect");
            let damaged = summary["messages_damaged"].as_u64().expect("damaged");
            let lost = summary["sequences_lost"].as_u64().expect("lost");
            assert_eq!(intact + damaged + lost, total, "{group} {what}: {summary}");
            // Damage confined to one chunk loses about one chunk's worth of messages.
            let data_chunks = chunks(&original)
                .iter()
                .filter(|(_, kind, _)| *kind <= 1)
                .count() as u64;
            let per_chunk = total / data_chunks.max(1);
            if matches!(
                what,
                "garbage inside a chunk" | "reserved chunk type" | "chunk length damaged"
            ) {
                assert!(
                    lost + damaged <= 2 * per_chunk,
                    "{group} {what}: {} lost or damaged, one chunk holds about {per_chunk}: {summary}",
                    lost + damaged
                );
            }
            assert!(
                what == "cut at a chunk boundary" || intact * 2 > total,
                "{group} {what}: most messages must survive one bad chunk: {summary}"
            );
            let listing = jsbackup(&["messages", path, "--json", "--raw"]);
            for line in String::from_utf8_lossy(&listing.stdout).lines() {
                let message: Value = serde_json::from_str(line).expect("line");
                let seq = message["seq"].as_u64().expect("seq");
                let row = rows
                    .get(&seq)
                    .unwrap_or_else(|| panic!("{group} {what}: unexpected seq {seq}"));
                let headers = engine
                    .decode(message["hdr"].as_str().expect("hdr"))
                    .expect("b64");
                let data = engine
                    .decode(message["data"].as_str().expect("data"))
                    .expect("b64");
                assert_eq!(
                    message["subject"], row[1],
                    "{group} {what}: subject of {seq}"
                );
                if !suspect(&report, seq) {
                    assert_eq!(
                        Value::from(digest(&headers, &data)),
                        row[4],
                        "{group} {what}: bytes of {seq}"
                    );
                }
            }
        }
    }
}

/// Messages next to corrupt bytes are flagged, not promised intact.
fn suspect(report: &Value, seq: u64) -> bool {
    report["findings"].as_array().is_some_and(|findings| {
        findings
            .iter()
            .any(|finding| finding["seq"].as_u64() == Some(seq) && finding["severity"] == "warning")
    })
}
