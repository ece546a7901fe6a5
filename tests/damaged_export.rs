//! `verify --damaged-out DIR`: the raw bytes of damaged and suspect messages, and
//! the lost ranges, exported for inspection. On every corrupt fixture the index
//! names exactly the sequences `verify --json` counts as damaged, suspect and
//! lost, and the bytes are the ones expected.json says were damaged.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is a failed test

mod common;
use common::jsbackup;

use common::TempDir;
use jsbackup::model::to_ranges;
use serde_json::Value;
use std::path::Path;

fn ranges(value: &Value) -> Vec<(u64, u64)> {
    value
        .as_array()
        .map(|list| {
            list.iter()
                .map(|range| {
                    (
                        range[0].as_u64().expect("from"),
                        range[1].as_u64().expect("to"),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// verify --json with --damaged-out; returns the summary and the index lines.
fn verify_with_export(dir: &Path, out: &Path) -> (Value, Vec<Value>) {
    let output = jsbackup(&[
        "verify",
        dir.to_str().expect("utf-8"),
        "--json",
        "--damaged-out",
        out.to_str().expect("utf-8"),
    ]);
    assert!(
        matches!(output.status.code(), Some(0 | 1)),
        "{}: {}",
        dir.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).expect("verify JSON");
    let index = std::fs::read_to_string(out.join("index.ndjson")).expect("index.ndjson");
    let lines = index
        .lines()
        .map(|line| serde_json::from_str(line).expect("index line is JSON"))
        .collect();
    (report["summary"].clone(), lines)
}

#[test]
fn damaged_out_index_names_exactly_what_verify_counts_on_every_corrupt_fixture() {
    let fixtures = common::all_fixtures("corrupt");
    assert!(fixtures.len() >= 8, "corrupt fixtures missing");
    let scratch = TempDir::new("damaged-out");
    let mut with_lines = 0;
    for dir in &fixtures {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let out = scratch.join(&name);
        let (summary, lines) = verify_with_export(dir, &out);
        let seqs_of = |trust: &str| -> Vec<u64> {
            lines
                .iter()
                .filter(|line| line["trust"] == trust)
                .map(|line| line["seq"].as_u64().expect("seq"))
                .collect()
        };
        let damaged = seqs_of("damaged");
        let suspect = seqs_of("suspect");
        let lost: Vec<(u64, u64)> = lines
            .iter()
            .filter(|line| line.get("lost").is_some())
            .map(|line| {
                (
                    line["lost"]["from"].as_u64().unwrap(),
                    line["lost"]["to"].as_u64().unwrap(),
                )
            })
            .collect();
        let verify_damaged: Vec<u64> = summary["damaged"]
            .as_array()
            .expect("damaged")
            .iter()
            .map(|seq| seq.as_u64().unwrap())
            .collect();
        assert_eq!(damaged, verify_damaged, "{name}: damaged");
        let mut verify_suspect: Vec<(u64, u64)> = summary["suspect"]
            .as_array()
            .expect("suspect")
            .iter()
            .flat_map(|group| ranges(&group["seqs"]))
            .collect();
        verify_suspect.sort_unstable();
        assert_eq!(
            to_ranges(suspect.iter().copied()),
            to_ranges(
                verify_suspect
                    .iter()
                    .flat_map(|&(from, to)| from..=to)
                    .collect::<std::collections::BTreeSet<_>>()
            ),
            "{name}: suspect"
        );
        assert_eq!(
            suspect.len() as u64,
            summary["messages_suspect"].as_u64().unwrap(),
            "{name}"
        );
        assert_eq!(lost, ranges(&summary["lost"]), "{name}: lost");
        // Each message line's file holds exactly `length` bytes.
        for line in lines.iter().filter(|line| line.get("seq").is_some()) {
            let file = line["file"].as_str().expect("file");
            let bytes = std::fs::read(out.join(file)).expect("raw bytes");
            assert_eq!(
                bytes.len() as u64,
                line["length"].as_u64().unwrap(),
                "{name}"
            );
            assert!(!line["reason"].as_str().unwrap().is_empty());
        }
        if !lines.is_empty() {
            with_lines += 1;
        }
        // The folder exists now: a second export refuses and leaves it as it was.
        let before = std::fs::read(out.join("index.ndjson")).unwrap();
        let again = jsbackup(&[
            "verify",
            dir.to_str().unwrap(),
            "--damaged-out",
            out.to_str().unwrap(),
        ]);
        assert_eq!(again.status.code(), Some(2), "{name}: overwrote");
        assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
        assert_eq!(std::fs::read(out.join("index.ndjson")).unwrap(), before);
    }
    // v1-blk-payload-flip, v1-crc-mismatch (damaged), v2-crc-mismatch (suspect),
    // the truncated ones and v2-entry-size-exceeds-data (lost).
    assert!(with_lines >= 5, "{with_lines}");
}

#[test]
fn damaged_out_holds_the_record_expected_json_says_was_damaged() {
    let rel = "corrupt/v1-blk-payload-flip";
    let expected = common::expected(rel);
    let damage = &expected["damage"];
    let record = &damage["record"];
    let scratch = TempDir::new("damaged-out-v1");
    let out = scratch.join("bytes");
    let (summary, lines) = verify_with_export(&common::fixture(rel), &out);
    assert_eq!(lines.len(), 1, "{lines:?}");
    let line = &lines[0];
    assert_eq!(line["seq"], record["seq"]);
    assert_eq!(summary["damaged"][0], record["seq"]);
    assert_eq!(line["trust"], "damaged");
    assert_eq!(line["subject"], record["subject"]);
    assert_eq!(line["entry"], damage["tar_member"]);
    assert_eq!(
        line["offset"].as_u64(),
        Some(
            damage["tar_member_data_offset"].as_u64().unwrap()
                + record["record_offset_in_blk"].as_u64().unwrap()
        )
    );
    assert_eq!(line["length"], record["record_length"]);
    assert!(line["reason"].as_str().unwrap().contains("HighwayHash-64"));
    // The file is the record as stored: its payload is the damaged one.
    let bytes = std::fs::read(out.join(line["file"].as_str().unwrap())).unwrap();
    let payload_at = (record["payload_offset_in_blk"].as_u64().unwrap()
        - record["record_offset_in_blk"].as_u64().unwrap()) as usize;
    let payload_len = record["payload_length"].as_u64().unwrap() as usize;
    assert_eq!(
        &bytes[payload_at..payload_at + payload_len],
        damage["payload_after_damage"].as_str().unwrap().as_bytes()
    );
    let checksum: String = bytes[bytes.len() - 8..]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    assert_eq!(checksum, record["stored_checksum"].as_str().unwrap());
}

#[test]
fn damaged_out_on_v2_crc_mismatch_marks_every_message_suspect_including_the_hit_one() {
    let rel = "corrupt/v2-crc-mismatch";
    let expected = common::expected(rel);
    let hit = expected["damage"]["hits"]["sequence"].as_u64().unwrap();
    let scratch = TempDir::new("damaged-out-v2");
    let out = scratch.join("bytes");
    let (_, lines) = verify_with_export(&common::fixture(rel), &out);
    // The damaged chunk is the archive's only message chunk: every message of the
    // source backup is suspect (none proven, none contradicted).
    let source = common::expected(expected["derived_from"].as_str().unwrap());
    assert!(lines.iter().all(|line| line["trust"] == "suspect"));
    assert_eq!(
        lines.len() as u64,
        source["state"]["messages"].as_u64().unwrap()
    );
    let line = lines
        .iter()
        .find(|line| line["seq"].as_u64() == Some(hit))
        .expect("the sequence the damage hits is exported");
    assert_eq!(line["subject"], expected["damage"]["hits"]["v2_entry"]);
    assert!(line["reason"].as_str().unwrap().contains("fails its CRC"));
}

#[test]
fn the_damaged_filter_lists_the_damaged_record_that_is_no_row() {
    use jsbackup::ops::filter::{self, DisplayRow, FilterSpec};
    let rel = "corrupt/v1-blk-payload-flip";
    let seq = common::expected(rel)["damage"]["record"]["seq"]
        .as_u64()
        .unwrap();
    let backup = jsbackup::ops::scan::open_backup(
        &common::fixture(rel),
        &mut jsbackup::ops::scan::ScanControl::default(),
    )
    .expect("open");
    let cancel = std::sync::atomic::AtomicBool::new(false);
    let run = |spec: FilterSpec| filter::run(&backup, &spec, 0, &cancel).expect("filter");
    let damaged = run(FilterSpec {
        only_damaged: true,
        ..FilterSpec::default()
    });
    assert_eq!(damaged.message_count, 0, "no message row is damaged");
    assert_eq!(damaged.rows.len(), 1);
    assert_eq!(damaged.rows[0].first_seq(&backup), seq);
    assert!(matches!(damaged.rows[0], DisplayRow::Damaged(_)));
    // A sequence range beside it keeps it only when the range holds it.
    let outside = run(FilterSpec {
        only_damaged: true,
        seq_from: (seq + 1).to_string(),
        ..FilterSpec::default()
    });
    assert!(outside.rows.is_empty());
    // Any other field tests bytes the record cannot be trusted for: it is left out.
    let with_subject = run(FilterSpec {
        only_damaged: true,
        subject_include: ">".into(),
        ..FilterSpec::default()
    });
    assert!(with_subject.rows.is_empty());
    // Unfiltered, it is the line between its neighbours.
    let all = filter::all_rows_with_gaps(&backup);
    let position = all.position_of_seq(&backup, seq).expect("shown");
    assert!(matches!(all.rows[position], DisplayRow::Damaged(_)));
    let firsts: Vec<u64> = all.rows.iter().map(|row| row.first_seq(&backup)).collect();
    assert!(firsts.windows(2).all(|pair| pair[0] < pair[1]), "in order");
}
