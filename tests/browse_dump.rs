//! Row export (ops::dump) and sorting (ops::sort) on real fixtures, checked
//! against expected.json: `nats sub --dump`-style files carry the stored
//! headers and payload, CSV has one line a message, sorting by size agrees
//! with the server's sizes.

mod common;

use base64::Engine;
use jsbackup::ops::dump::{dump_rows, DumpFormat};
use jsbackup::ops::scan::{open_backup, ScanControl};
use jsbackup::ops::sort::{sort_rows, SortKey, SortOrder};
use std::sync::atomic::AtomicBool;

fn load(relative: &str) -> jsbackup::model::Backup {
    open_backup(&common::fixture(relative), &mut ScanControl::default()).expect("open fixture")
}

#[test]
fn nats_dump_files_carry_the_stored_headers_and_payloads() {
    let expected = common::expected("v2/kv");
    let backup = load("v2/kv");
    let rows: Vec<u32> = (0..backup.messages.len() as u32).collect();
    let out = common::TempDir::new("dump-kv");
    let dest = out.join("dump");
    let mut last_progress = (0, 0);
    let summary = dump_rows(
        &backup,
        &rows,
        DumpFormat::NatsDump,
        &dest,
        0,
        &mut |done, total| last_progress = (done, total),
        &AtomicBool::new(false),
    )
    .expect("dump");
    let count = expected["messages"]["count"].as_u64().expect("count");
    assert_eq!(summary.messages, count);
    assert_eq!(last_progress, (count, count));
    assert_eq!(std::fs::read_dir(&dest).expect("dir").count() as u64, count);
    let engine = base64::engine::general_purpose::STANDARD;
    for row in expected["messages"]["rows"].as_array().expect("rows") {
        let seq = row[0].as_u64().expect("seq");
        let file = common::read_json(&dest.join(format!("{seq}.json")));
        assert_eq!(file["Subject"], row[1]);
        let data = engine
            .decode(file["Data"].as_str().expect("Data"))
            .expect("base64");
        assert_eq!(data.len() as u64, row[3].as_u64().expect("data_len"));
    }
    // Header values as the server stored them (headers_by_seq).
    for (seq, block) in expected["messages"]["headers_by_seq"]
        .as_object()
        .expect("headers")
    {
        let file = common::read_json(&dest.join(format!("{seq}.json")));
        let block = block.as_str().expect("block");
        for line in block.split("\r\n").skip(1).filter(|line| !line.is_empty()) {
            let (name, value) = line.split_once(": ").expect("key: value");
            assert_eq!(file["Header"][name][0], value, "seq {seq} header {name}");
        }
    }
    // A second export to the same place is refused and leaves the first intact.
    let again = dump_rows(
        &backup,
        &rows,
        DumpFormat::NatsDump,
        &dest,
        0,
        &mut |_, _| {},
        &AtomicBool::new(false),
    );
    assert!(again.is_err());
    assert_eq!(std::fs::read_dir(&dest).expect("dir").count() as u64, count);
}

#[test]
fn csv_has_a_line_per_message_and_cancel_keeps_nothing() {
    let expected = common::expected("v2/orders");
    let backup = load("v2/orders");
    let rows: Vec<u32> = (0..backup.messages.len() as u32).collect();
    let out = common::TempDir::new("dump-csv");
    let dest = out.join("orders.csv");
    dump_rows(
        &backup,
        &rows,
        DumpFormat::Csv,
        &dest,
        0,
        &mut |_, _| {},
        &AtomicBool::new(false),
    )
    .expect("csv");
    let text = std::fs::read_to_string(&dest).expect("csv file");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], jsbackup::ops::dump::CSV_HEADER);
    let expected_rows = expected["messages"]["rows"].as_array().expect("rows");
    assert_eq!(lines.len() - 1, expected_rows.len());
    let first = &expected_rows[0];
    let fields: Vec<&str> = lines[1].split(',').collect();
    assert_eq!(fields[0], first[0].to_string());
    assert_eq!(fields[2], first[1].as_str().expect("subject"));
    assert_eq!(fields[3], first[2].to_string());
    assert_eq!(fields[4], first[3].to_string());
    // Cancelled before the first row: an error, and no file left behind.
    let cancelled = out.join("cancelled.ndjson");
    let result = dump_rows(
        &backup,
        &rows,
        DumpFormat::Ndjson { raw: true },
        &cancelled,
        0,
        &mut |_, _| {},
        &AtomicBool::new(true),
    );
    assert!(result.is_err());
    assert!(!cancelled.exists());
    assert_eq!(std::fs::read_dir(out.path()).expect("dir").count(), 1);
}

#[test]
fn sort_by_size_and_subject_agree_with_expected() {
    let expected = common::expected("v2/orders");
    let backup = load("v2/orders");
    let rows: Vec<u32> = (0..backup.messages.len() as u32).collect();
    let order = SortOrder {
        key: SortKey::Size,
        descending: true,
    };
    let sorted = sort_rows(&backup, rows.clone(), order, &AtomicBool::new(false)).expect("sort");
    let mut sizes: Vec<u64> = expected["messages"]["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|row| row[2].as_u64().unwrap_or(0) + row[3].as_u64().unwrap_or(0))
        .collect();
    sizes.sort_unstable_by(|a, b| b.cmp(a));
    let got: Vec<u64> = sorted
        .iter()
        .map(|&row| {
            let message = backup.messages.row(row as usize).expect("row");
            u64::from(message.hdr_len) + u64::from(message.data_len)
        })
        .collect();
    assert_eq!(got, sizes);
    let by_subject = sort_rows(
        &backup,
        rows,
        SortOrder {
            key: SortKey::Subject,
            descending: false,
        },
        &AtomicBool::new(false),
    )
    .expect("sort");
    let subjects: Vec<&str> = by_subject
        .iter()
        .map(|&row| {
            backup
                .subjects
                .name(backup.messages.subject_id[row as usize])
        })
        .collect();
    assert!(subjects.windows(2).all(|pair| pair[0] <= pair[1]));
    // Within a subject, sequence order is kept.
    let seqs_first_subject: Vec<u64> = by_subject
        .iter()
        .filter(|&&row| {
            backup
                .subjects
                .name(backup.messages.subject_id[row as usize])
                == subjects[0]
        })
        .map(|&row| backup.messages.seq[row as usize])
        .collect();
    assert!(seqs_first_subject.windows(2).all(|pair| pair[0] < pair[1]));
    assert!(sort_rows(&backup, vec![0], order, &AtomicBool::new(true)).is_err());
}
