//! The Messages pane's three words on the damaged fixtures (egui_kittest): a
//! damaged message is a red DAMAGED row of its own (not inside a deleted range)
//! whose raw bytes open in the hex view; v2 rows in a CRC-failed chunk are
//! SUSPECT, not DAMAGED; a lost range is a row of its own, not a deleted one;
//! the Findings pane's "Export damaged bytes" writes them beside the backup.
//! Values come from each fixture's expected.json.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is a failed test

mod common;

use common::ui::step_until;
use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use jsbackup::ui::{App, Document, OpenSource, Pane};

fn open_messages(relative: &str) -> Harness<'static, App> {
    let mut app = App::default();
    app.open(OpenSource::Path(common::fixture(relative)));
    let mut harness = Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .allow_missing_glyphs()
        .build_ui_state(|ui, app: &mut App| app.show(ui), app);
    step_until(&mut harness, "indexing", |app| {
        app.active_document()
            .is_some_and(|d| d.backup.is_some() && !d.is_indexing())
            && app.is_settled()
    });
    harness.get_by_label(Pane::Messages.label()).click();
    step_until(&mut harness, "the Messages pane", |app| {
        app.active_document().map(|d| d.pane) == Some(Pane::Messages)
    });
    harness
}

fn document<'a>(harness: &'a Harness<'static, App>) -> &'a Document {
    harness.state().active_document().expect("a document")
}

/// Scrolls the table to `seq` (as "Go to" does) and draws the frames that follow.
fn scroll_to(harness: &mut Harness<'static, App>, seq: u64) -> Option<String> {
    let notice = harness
        .state_mut()
        .active_document_mut()
        .expect("doc")
        .go_to_seq(seq);
    harness.step();
    harness.step();
    notice
}

/// The ASCII column of hex line `line` of bytes known at `known` (offset → byte).
fn ascii_of_line(known: &[(usize, u8)], line: usize) -> String {
    (line * 16..line * 16 + 16)
        .map(|offset| {
            let byte = known
                .iter()
                .find(|(at, _)| *at == offset)
                .map(|(_, byte)| *byte)
                .expect("a known byte");
            if byte.is_ascii_graphic() || byte == b' ' {
                byte as char
            } else {
                '.'
            }
        })
        .collect()
}

#[test]
fn a_damaged_row_is_damaged_not_deleted_and_its_bytes_open_in_hex() {
    let rel = "corrupt/v1-blk-payload-flip";
    let expected = common::expected(rel);
    let damage = &expected["damage"];
    let record = &damage["record"];
    let seq = record["seq"].as_u64().unwrap();
    let deleted_before: Vec<u64> = expected["server_restore"]["2.15.1"]["deleted_seqs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|seq| seq.as_u64().unwrap())
        .collect();
    assert!(
        !deleted_before.contains(&seq),
        "the server keeps {seq} as a message"
    );
    let mut harness = open_messages(rel);
    // The line before the damaged sequence (the server deleted seq - 1).
    assert!(deleted_before.contains(&(seq - 1)));
    scroll_to(&mut harness, seq - 1);
    // seq is a line of its own, in red DAMAGED, and no deleted range covers it.
    let seq_text = seq.to_string();
    let seq_cell = harness.get_by_label(&seq_text);
    let damaged_cells: Vec<_> = harness.query_all_by_label("DAMAGED").collect();
    assert_eq!(damaged_cells.len(), 1, "one DAMAGED row on screen");
    let damaged_cell = &damaged_cells[0];
    assert!(
        (damaged_cell.rect().center().y - seq_cell.rect().center().y).abs() < 4.0,
        "DAMAGED is on the row of {seq}"
    );
    assert!(harness
        .query_by_label(&format!("{}–{seq}", seq - 1))
        .is_none());
    assert_eq!(
        harness.query_all_by_label(&(seq - 1).to_string()).count(),
        1
    );
    let backup = document(&harness).backup.clone().unwrap();
    let deleted_covering = backup
        .deleted
        .iter()
        .any(|(from, to)| (*from..=*to).contains(&seq));
    assert!(!deleted_covering, "{seq} counted deleted");
    // Clicking the row opens its raw bytes.
    harness.get_by_label("DAMAGED").click();
    step_until(&mut harness, "the damaged bytes", |app| {
        app.active_document()
            .is_some_and(|d| matches!(d.messages.damaged.bytes, Some(Ok(_))))
    });
    let doc = document(&harness);
    assert_eq!(doc.messages.selected_row, None, "not shown as a message");
    let index = doc.messages.damaged.selected.expect("damaged selected");
    assert_eq!(backup.damaged_records[index].seq, seq);
    let Some(Ok(bytes)) = &doc.messages.damaged.bytes else {
        unreachable!()
    };
    assert_eq!(
        bytes.len() as u64,
        record["record_length"].as_u64().unwrap()
    );
    // The line saying which check failed and where.
    assert!(
        harness
            .query_all_by_label_contains("fails its record checksum (HighwayHash-64)")
            .count()
            >= 1
    );
    let tar_offset = damage["tar_member_data_offset"].as_u64().unwrap()
        + record["record_offset_in_blk"].as_u64().unwrap();
    assert!(
        harness
            .query_all_by_label_contains(&format!("at archive offset {tar_offset}"))
            .count()
            >= 1
    );
    // The hex view shows the bytes: line 2 holds the subject's end and the payload's start.
    let subject = record["subject"].as_str().unwrap().as_bytes();
    let payload = damage["payload_after_damage"].as_str().unwrap().as_bytes();
    let payload_at = (record["payload_offset_in_blk"].as_u64().unwrap()
        - record["record_offset_in_blk"].as_u64().unwrap()) as usize;
    let subject_at = payload_at - subject.len();
    let known: Vec<(usize, u8)> = subject
        .iter()
        .enumerate()
        .map(|(at, byte)| (subject_at + at, *byte))
        .chain(
            payload
                .iter()
                .enumerate()
                .map(|(at, byte)| (payload_at + at, *byte)),
        )
        .collect();
    let line = ascii_of_line(&known, 2);
    assert!(
        harness
            .query_all_by_label_contains("00000020  ")
            .any(|node| node.value().is_some_and(|text| text.ends_with(&line))),
        "hex line 0x20 ends in {line:?}"
    );
    // Its last 8 bytes are the stored checksum the bytes no longer match.
    let checksum = record["stored_checksum"].as_str().unwrap();
    let spaced: Vec<String> = (0..8)
        .map(|at| checksum[at * 2..at * 2 + 2].to_string())
        .collect();
    let last_line = (bytes.len() - 8) / 16 * 16;
    assert!(
        harness
            .query_all_by_label_contains(&format!("{last_line:08x}  "))
            .any(|node| node
                .value()
                .is_some_and(|text| text.contains(&spaced.join(" ")))),
        "the checksum {checksum} in hex"
    );
}

#[test]
fn rows_in_a_crc_failed_v2_chunk_are_suspect_not_damaged() {
    let rel = "corrupt/v2-crc-mismatch";
    let expected = common::expected(rel);
    let hit = expected["damage"]["hits"]["sequence"].as_u64().unwrap();
    let mut harness = open_messages(rel);
    assert!(harness.query_all_by_label("SUSPECT").count() > 5);
    assert_eq!(harness.query_all_by_label("DAMAGED").count(), 0);
    let backup = document(&harness).backup.clone().unwrap();
    let row = backup
        .messages
        .find_seq(hit)
        .expect("the hit sequence is a row");
    assert_eq!(
        backup.messages.flags(row) & jsbackup::model::flags::UNTRUSTED,
        jsbackup::model::flags::SUSPECT
    );
    // Selecting it: the SUSPECT note with the chunk, and its bytes in hex.
    assert_eq!(scroll_to(&mut harness, hit), None);
    step_until(&mut harness, "the message bytes", |app| {
        app.active_document()
            .is_some_and(|d| matches!(d.messages.detail, Some(Ok(_))))
    });
    assert!(
        harness
            .query_all_by_label_contains("fails its CRC: they decode, but nothing proves")
            .count()
            >= 1
    );
    assert!(
        harness.query_all_by_label_contains("00000000  ").count() >= 1,
        "the payload opens in hex"
    );
}

#[test]
fn a_lost_range_is_a_row_of_its_own_not_a_deleted_one() {
    let rel = "corrupt/v2-truncated";
    let expected = common::expected(rel);
    let source = common::expected(expected["derived_from"].as_str().unwrap());
    let from = expected["damage"]["last_complete_message_seq"]
        .as_u64()
        .unwrap()
        + 1;
    let to = source["state"]["last_seq"].as_u64().unwrap();
    let mut harness = open_messages(rel);
    let notice = scroll_to(&mut harness, from).expect("a notice");
    assert!(notice.contains("lost"), "{notice}");
    let label = format!("lost {from}–{to} · bytes not in the archive");
    assert!(harness.query_by_label(&label).is_some(), "{label}");
    assert_eq!(
        harness
            .query_all_by_label_contains(&format!("{} deleted", to - from + 1))
            .count(),
        0
    );
    let backup = document(&harness).backup.clone().unwrap();
    assert_eq!(backup.lost, vec![(from, to)]);
    assert!(backup.deleted.is_empty(), "{:?}", backup.deleted);
}

#[test]
fn findings_export_damaged_bytes_writes_a_folder_beside_the_backup() {
    let rel = "corrupt/v1-blk-payload-flip";
    let record = common::expected(rel)["damage"]["record"].clone();
    // A copy, so the folder is written beside it and not among the shared fixtures.
    let scratch = common::TempDir::new("ui-damaged-export");
    let copy = scratch.join("backup");
    std::fs::create_dir(&copy).unwrap();
    for entry in std::fs::read_dir(common::fixture(rel)).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, copy.join(path.file_name().unwrap())).unwrap();
    }
    let mut app = App::default();
    app.open(OpenSource::Path(copy.clone()));
    let mut harness = Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .allow_missing_glyphs()
        .build_ui_state(|ui, app: &mut App| app.show(ui), app);
    step_until(&mut harness, "indexing", |app| {
        app.active_document()
            .is_some_and(|d| d.backup.is_some() && !d.is_indexing())
            && app.is_settled()
    });
    harness.get_by_label(Pane::Findings.label()).click();
    step_until(&mut harness, "the Findings pane", |app| {
        app.active_document().map(|d| d.pane) == Some(Pane::Findings)
    });
    harness.get_by_label("Export damaged bytes").click();
    step_until(&mut harness, "the export", |app| {
        app.active_document()
            .is_some_and(|d| d.damaged_export.is_none() && d.damaged_export_done.is_some())
    });
    let done = document(&harness).damaged_export_done.clone().unwrap();
    let message = done.expect("written");
    let stream = document(&harness)
        .backup
        .as_ref()
        .unwrap()
        .stream_name
        .clone();
    let out = scratch.join(format!("{stream}-damaged-bytes"));
    assert!(message.contains(&out.display().to_string()), "{message}");
    let index = std::fs::read_to_string(out.join("index.ndjson")).unwrap();
    let lines: Vec<serde_json::Value> = index
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["seq"], record["seq"]);
    assert_eq!(lines[0]["trust"], "damaged");
    let bytes = std::fs::read(out.join(lines[0]["file"].as_str().unwrap())).unwrap();
    assert_eq!(
        bytes.len() as u64,
        record["record_length"].as_u64().unwrap()
    );
    // The backup folder itself is untouched: no salvage, no extra file.
    let mut names: Vec<String> = std::fs::read_dir(&copy)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut source: Vec<String> = std::fs::read_dir(common::fixture(rel))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    source.sort();
    assert_eq!(names, source);
}
