//! `info` and `messages` against every real fixture's expected.json (ground truth
//! read from the server that made it), TTL expiry, and bad input.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is a failed test

mod common;
use common::jsbackup;

use base64::Engine;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::Path;

fn info(dir: &Path, extra: &[&str]) -> Value {
    let path = dir.to_str().expect("utf-8 path");
    let mut args = vec!["info", path, "--json"];
    args.extend_from_slice(extra);
    let output = jsbackup(&args);
    assert!(
        output.status.success(),
        "info {path}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("info JSON")
}

fn messages(dir: &Path, extra: &[&str]) -> Vec<Value> {
    let path = dir.to_str().expect("utf-8 path");
    let mut args = vec!["messages", path, "--json"];
    args.extend_from_slice(extra);
    let output = jsbackup(&args);
    assert!(
        output.status.success(),
        "messages {path}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("NDJSON line"))
        .collect()
}

fn clean_fixtures() -> Vec<std::path::PathBuf> {
    let mut all = common::all_fixtures("v1");
    all.extend(common::all_fixtures("v2"));
    all.extend(common::all_fixtures("v1-older"));
    assert!(
        all.len() >= 14,
        "fixtures missing under {}",
        common::shared_dir().display()
    );
    all
}

fn expand(ranges: &Value) -> Vec<u64> {
    let mut sequences = Vec::new();
    for range in ranges.as_array().expect("deleted ranges") {
        let from = range[0].as_u64().expect("from");
        let to = range[1].as_u64().expect("to");
        sequences.extend(from..=to);
    }
    sequences
}

#[test]
fn info_matches_expected_state_deleted_subjects_consumers() {
    for dir in clean_fixtures() {
        let name = dir.display().to_string();
        let expected = common::read_json(&dir.join("expected.json"));
        let got = info(&dir, &[]);
        assert_eq!(got["format"], expected["format"], "{name}: format");
        for field in [
            "messages",
            "bytes",
            "first_seq",
            "last_seq",
            "num_deleted",
            "num_subjects",
            "consumer_count",
        ] {
            let want = expected["state"][field].as_u64().unwrap_or(0);
            assert_eq!(
                got["state"][field].as_u64(),
                Some(want),
                "{name}: state.{field}"
            );
        }
        // Sequence 0 in an empty stream's deleted_seqs is a generator artifact.
        let want_deleted: Vec<u64> = expected["deleted_seqs"]
            .as_array()
            .expect("deleted_seqs")
            .iter()
            .filter_map(Value::as_u64)
            .filter(|&seq| seq != 0)
            .collect();
        assert_eq!(
            expand(&got["deleted"]),
            want_deleted,
            "{name}: deleted sequences"
        );
        assert_eq!(
            got["subjects"], expected["subjects"],
            "{name}: per-subject counts"
        );
        let want_consumers = expected["consumers"].as_array().expect("consumers");
        let got_consumers = got["consumers"].as_array().expect("consumers");
        assert_eq!(
            got_consumers.len(),
            want_consumers.len(),
            "{name}: consumer count"
        );
        for want in want_consumers {
            let consumer_name = want["name"].as_str().expect("name");
            let found = got_consumers
                .iter()
                .find(|consumer| consumer["name"] == want["name"])
                .unwrap_or_else(|| panic!("{name}: consumer {consumer_name} missing"));
            for field in [
                "delivered",
                "ack_floor",
                "num_ack_pending",
                "num_redelivered",
            ] {
                assert_eq!(
                    found[field], want[field],
                    "{name}: consumer {consumer_name} {field}"
                );
            }
        }
        let errors: Vec<&Value> = got["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .filter(|finding| finding["severity"] != "info")
            .collect();
        assert!(
            errors.is_empty(),
            "{name}: clean fixture has findings {errors:?}"
        );
    }
}

#[test]
fn messages_raw_match_expected_rows() {
    let engine = base64::engine::general_purpose::STANDARD;
    for dir in clean_fixtures() {
        let name = dir.display().to_string();
        let expected = common::read_json(&dir.join("expected.json"));
        let rows = expected["messages"]["rows"].as_array().expect("rows");
        let got = messages(&dir, &["--raw"]);
        assert_eq!(got.len(), rows.len(), "{name}: message count");
        for (line, row) in got.iter().zip(rows) {
            let headers = engine
                .decode(line["hdr"].as_str().expect("hdr"))
                .expect("base64");
            let data = engine
                .decode(line["data"].as_str().expect("data"))
                .expect("base64");
            let mut hasher = Sha256::new();
            hasher.update(&headers);
            hasher.update(&data);
            let digest = hasher.finalize();
            let prefix: String = digest
                .iter()
                .take(8)
                .map(|byte| format!("{byte:02x}"))
                .collect();
            assert_eq!(line["seq"], row[0], "{name}: seq");
            assert_eq!(line["subject"], row[1], "{name}: subject of {}", row[0]);
            assert_eq!(line["hdr_len"], row[2], "{name}: hdr_len of {}", row[0]);
            assert_eq!(line["data_len"], row[3], "{name}: data_len of {}", row[0]);
            assert_eq!(Value::from(prefix), row[4], "{name}: digest of {}", row[0]);
        }
    }
}

#[test]
fn messages_subject_and_sequence_filters() {
    let dir = common::fixture("v2/orders");
    let expected = common::expected("v2/orders");
    let (subject, count) = expected["subjects"]
        .as_object()
        .and_then(|subjects| subjects.iter().next())
        .map(|(subject, count)| (subject.clone(), count.as_u64().expect("count")))
        .expect("a subject");
    let filtered = messages(&dir, &["--subject", &subject]);
    assert_eq!(filtered.len() as u64, count);
    // A wildcard covering one token.
    let prefix = subject
        .rsplit_once('.')
        .map(|(head, _)| head)
        .expect("dotted subject");
    let wildcard_count: u64 = expected["subjects"]
        .as_object()
        .expect("subjects")
        .iter()
        .filter(|(name, _)| name.rsplit_once('.').map(|(head, _)| head) == Some(prefix))
        .map(|(_, count)| count.as_u64().expect("count"))
        .sum();
    assert_eq!(
        messages(&dir, &["--subject", &format!("{prefix}.*")]).len() as u64,
        wildcard_count
    );
    let rows = expected["messages"]["rows"].as_array().expect("rows");
    let from = rows[10][0].as_u64().expect("seq");
    let to = rows[20][0].as_u64().expect("seq");
    let ranged = messages(
        &dir,
        &["--from-seq", &from.to_string(), "--to-seq", &to.to_string()],
    );
    assert_eq!(ranged.len(), 11);
    assert_eq!(ranged[0]["seq"].as_u64(), Some(from));
}

fn add_seconds(time: &str, seconds: i64) -> String {
    let ns = jsbackup::util::time::parse_rfc3339_ns(time).expect("time");
    jsbackup::util::time::format_rfc3339_ns(ns + seconds * 1_000_000_000)
}

#[test]
fn ttl_flags_follow_the_server_rule() {
    for group in ["v1", "v2"] {
        let dir = common::fixture(&format!("{group}/ttl"));
        let expected = common::read_json(&dir.join("expected.json"));
        let ttl = &expected["ttl"];
        let snapshot = ttl["snapshot_time"].as_str().expect("snapshot_time");
        let by_seq: std::collections::HashMap<u64, &Value> = ttl["messages"]
            .as_array()
            .expect("ttl messages")
            .iter()
            .map(|message| (message["seq"].as_u64().expect("seq"), message))
            .collect();
        // At the snapshot time: TTL seconds and expired flags as the server saw them.
        let at_snapshot = messages(&dir, &["--now", snapshot]);
        assert_eq!(at_snapshot.len(), by_seq.len(), "{group}: message count");
        for line in &at_snapshot {
            let want = by_seq[&line["seq"].as_u64().expect("seq")];
            let want_ttl = match want["ttl_seconds"].as_i64() {
                None => Value::Null,
                Some(-1) => Value::from("never"),
                Some(seconds) => Value::from(seconds),
            };
            assert_eq!(line["ttl"], want_ttl, "{group}: ttl of {}", line["seq"]);
            assert_eq!(
                line["expired"], want["expired_at_snapshot"],
                "{group}: expired of {}",
                line["seq"]
            );
        }
        // A minute later exactly the short-TTL messages are expired.
        let minute = add_seconds(snapshot, 60);
        let expired: Vec<Value> = messages(&dir, &["--now", &minute])
            .into_iter()
            .filter(|line| line["expired"] == Value::Bool(true))
            .map(|line| line["seq"].clone())
            .collect();
        assert_eq!(
            Value::from(expired),
            ttl["short_ttl_seqs"],
            "{group}: expired a minute later"
        );
        // A day later: every message with a TTL > 0 whose stored time + TTL has passed.
        let day = add_seconds(snapshot, 86_400);
        let day_ns = jsbackup::util::time::parse_rfc3339_ns(&day).expect("day");
        let want_day: Vec<u64> = {
            let mut seqs: Vec<u64> = by_seq
                .values()
                .filter(|message| {
                    let seconds = message["ttl_seconds"].as_i64().unwrap_or(0);
                    let stored = message["stored_at"]
                        .as_str()
                        .and_then(jsbackup::util::time::parse_rfc3339_ns)
                        .expect("stored_at");
                    seconds > 0 && day_ns > stored + seconds * 1_000_000_000
                })
                .map(|message| message["seq"].as_u64().expect("seq"))
                .collect();
            seqs.sort_unstable();
            seqs
        };
        let got_day: Vec<u64> = messages(&dir, &["--now", &day])
            .into_iter()
            .filter(|line| line["expired"] == Value::Bool(true))
            .map(|line| line["seq"].as_u64().expect("seq"))
            .collect();
        assert_eq!(got_day, want_day, "{group}: expired a day later");
        let summary = info(&dir, &["--now", &day]);
        assert_eq!(
            summary["ttl"]["expired"].as_u64(),
            Some(want_day.len() as u64)
        );
        let with_ttl = by_seq
            .values()
            .filter(|m| !m["ttl_seconds"].is_null())
            .count() as u64;
        assert_eq!(summary["ttl"]["messages_with_ttl"].as_u64(), Some(with_ttl));
    }
}

#[test]
fn clean_fixtures_verify_with_exit_zero() {
    for dir in clean_fixtures() {
        let output = jsbackup(&["verify", dir.to_str().expect("path")]);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{}: {}",
            dir.display(),
            String::from_utf8_lossy(&output.stdout)
        );
    }
}

#[test]
fn corrupt_fixtures_are_named_and_never_panic() {
    let corrupt = common::all_fixtures("corrupt");
    assert!(corrupt.len() >= 8);
    for dir in corrupt {
        let output = jsbackup(&["verify", dir.to_str().expect("path"), "--json"]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.contains("panicked"), "{}: {stderr}", dir.display());
        assert_eq!(output.status.code(), Some(1), "{}: {stderr}", dir.display());
        let report: Value = serde_json::from_slice(&output.stdout).expect("verify JSON");
        assert!(report["summary"]["errors"].as_u64().unwrap_or(0) > 0);
    }
}

#[test]
fn unreadable_input_exits_two_with_a_clear_error() {
    let scratch = common::TempDir::new("jsbackup-bad-input");
    let random = scratch.join("random.s2");
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let bytes: Vec<u8> = (0..4096)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    std::fs::write(&random, &bytes).expect("write");
    let empty = scratch.join("empty.s2");
    std::fs::write(&empty, b"").expect("write");
    let plain_tar = scratch.join("plain.tar");
    let mut tar = vec![0u8; 2048];
    tar[..8].copy_from_slice(b"meta.inf");
    std::fs::write(&plain_tar, &tar).expect("write");
    for path in [&random, &empty, &plain_tar, &scratch.join("missing")] {
        let output = jsbackup(&["info", path.to_str().expect("path"), "--json"]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{}: {stderr}",
            path.display()
        );
        assert!(
            stderr.starts_with("jsbackup: ") && !stderr.contains("panicked"),
            "{stderr}"
        );
    }
}

/// Each damaged fixture: verify names the damage where its expected.json says it is.
#[test]
fn verify_names_the_damage_at_the_right_place() {
    for dir in common::all_fixtures("corrupt") {
        let name = dir.display().to_string();
        let expected = common::read_json(&dir.join("expected.json"));
        let damage = &expected["damage"];
        let output = jsbackup(&["verify", dir.to_str().expect("path"), "--json"]);
        let report: Value = serde_json::from_slice(&output.stdout).expect("verify JSON");
        let findings = report["findings"].as_array().expect("findings").clone();
        let has = |predicate: &dyn Fn(&Value) -> bool| {
            findings
                .iter()
                .any(|finding| finding["severity"] == "error" && predicate(finding))
        };
        match damage["kind"].as_str().expect("damage kind") {
            "v1-blk-record-payload-flip" => {
                let seq = &damage["record"]["seq"];
                assert!(
                    has(&|f| f["kind"] == "record_checksum"
                        && &f["seq"] == seq
                        && f["entry"] == damage["tar_member"]),
                    "{name}"
                );
                assert_eq!(
                    report["summary"]["damaged_seqs"],
                    Value::from(vec![seq.clone()]),
                    "{name}"
                );
            }
            "s2-crc-mismatch" => {
                let chunk = &damage["s2_chunk_offset"];
                assert!(
                    has(&|f| f["kind"] == "s2_crc" && &f["file_offset"] == chunk),
                    "{name}"
                );
            }
            "truncated" => {
                let chunk = &damage["cut_inside_chunk"]["chunk_offset"];
                assert!(
                    has(&|f| f["kind"] == "s2_truncated" && &f["file_offset"] == chunk),
                    "{name}"
                );
                assert!(has(&|f| f["kind"] == "lost_data"), "{name}");
                if let Some(last) = damage["last_complete_message_seq"].as_u64() {
                    assert_eq!(
                        report["summary"]["lost_ranges"][0][0].as_u64(),
                        Some(last + 1),
                        "{name}"
                    );
                }
            }
            "v2-malformed-state-json" => {
                let offset = &damage["decompressed_offset_of_change"];
                assert!(
                    has(&|f| f["kind"] == "state_json" && &f["offset"] == offset),
                    "{name}"
                );
            }
            "v2-entry-size-exceeds-data" => {
                let seq = &damage["entry"]["sequence"];
                let offset = &damage["entry_offset"];
                assert!(
                    has(&|f| f["kind"] == "entry_truncated"
                        && &f["seq"] == seq
                        && &f["offset"] == offset),
                    "{name}"
                );
            }
            "v2-missing-end-sentinel" => {
                let offset = &damage["removed_bytes_at_decompressed_offset"];
                assert!(
                    has(&|f| f["kind"] == "missing_sentinel" && &f["offset"] == offset),
                    "{name}"
                );
            }
            other => panic!("{name}: no check for damage kind {other}"),
        }
    }
}
