//! Browsing messages in the desktop app (egui_kittest, real fixtures and
//! backups taken at test time from a real nats-server): selecting by clicking
//! a row's text, sorting, header-key columns, export, a message with huge
//! headers, non-ASCII subjects with the fallback fonts.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is a failed test

mod common;

use common::ui::step_until;
use common::{header_block, snapshot_via_api, NatsServer, TempDir};
use egui::accesskit::Role;
use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use jsbackup::ui::{App, OpenSource, Pane};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn harness_sized(app: App, size: egui::Vec2, allow_missing_glyphs: bool) -> Harness<'static, App> {
    let mut builder = Harness::builder().with_size(size);
    if allow_missing_glyphs {
        builder = builder.allow_missing_glyphs();
    }
    builder.build_ui_state(|ui, app: &mut App| app.show(ui), app)
}

fn loaded(app: &App) -> bool {
    !app.documents.is_empty()
        && app
            .documents
            .iter()
            .all(|d| d.backup.is_some() || d.error.is_some())
        && app.is_settled()
}

fn open_messages(
    path: &Path,
    size: egui::Vec2,
    allow_missing_glyphs: bool,
) -> Harness<'static, App> {
    let mut app = App::default();
    app.open(OpenSource::Path(path.to_path_buf()));
    let mut harness = harness_sized(app, size, allow_missing_glyphs);
    step_until(&mut harness, "indexing", loaded);
    harness.get_by_label(Pane::Messages.label()).click();
    step_until(&mut harness, "the Messages pane", |app| {
        app.active_document().map(|d| d.pane) == Some(Pane::Messages)
    });
    harness
}

fn document<'a>(harness: &'a Harness<'static, App>) -> &'a jsbackup::ui::Document {
    harness.state().active_document().expect("a document")
}

fn selected_seq(harness: &Harness<'static, App>) -> Option<u64> {
    let doc = document(harness);
    let backup = doc.backup.as_ref()?;
    doc.messages
        .selected_row
        .and_then(|row| backup.messages.seq.get(row).copied())
}

/// (seq, subject, hdr_len, data_len) rows of expected.json.
fn expected_rows(relative: &str) -> Vec<(u64, String, u64, u64)> {
    common::expected(relative)["messages"]["rows"]
        .as_array()
        .expect("messages.rows")
        .iter()
        .map(|row| {
            (
                row[0].as_u64().expect("seq"),
                row[1].as_str().expect("subject").to_string(),
                row[2].as_u64().expect("hdr_len"),
                row[3].as_u64().expect("data_len"),
            )
        })
        .collect()
}

const BIG: egui::Vec2 = egui::vec2(1280.0, 800.0);

#[test]
fn clicking_a_rows_subject_text_selects_it() {
    let rows = expected_rows("v2/orders");
    let (first_seq, first_subject, _, _) = rows.first().cloned().expect("rows");
    let mut harness = open_messages(&common::fixture("v2/orders"), BIG, true);
    assert_eq!(selected_seq(&harness), None);
    // The topmost label with the first row's subject is that row's subject cell.
    let cell = harness
        .query_all_by_label(&first_subject)
        .min_by(|a, b| a.rect().min.y.total_cmp(&b.rect().min.y))
        .expect("the subject cell");
    cell.click();
    step_until(&mut harness, "the detail", |app| {
        app.active_document()
            .is_some_and(|d| d.messages.detail.is_some())
    });
    assert_eq!(selected_seq(&harness), Some(first_seq));
    assert!(
        harness
            .query_by_label(&format!("seq {first_seq}"))
            .is_some(),
        "the detail shows the clicked message"
    );
    // Ctrl+click on the next row's seq adds it to the selection; Shift+click extends.
    let (second_seq, _, _, _) = rows.get(1).cloned().expect("second row");
    let (fifth_seq, _, _, _) = rows.get(4).cloned().expect("fifth row");
    harness
        .get_by_label(&second_seq.to_string())
        .click_modifiers(egui::Modifiers::COMMAND);
    harness.step();
    harness.step();
    assert_eq!(document(&harness).messages.browse.selection.len(), 2);
    harness
        .get_by_label(&fifth_seq.to_string())
        .click_modifiers(egui::Modifiers::SHIFT);
    harness.step();
    harness.step();
    let selection = &document(&harness).messages.browse.selection;
    assert_eq!(
        selection.len(),
        4,
        "rows 2..=5 of the list, from the anchor"
    );
}

#[test]
fn sorting_by_size_puts_the_largest_message_first() {
    let rows = expected_rows("v2/orders");
    let largest = rows.iter().map(|r| r.2 + r.3).max().expect("rows");
    let smallest = rows.iter().map(|r| r.2 + r.3).min().expect("rows");
    let largest_seqs: Vec<u64> = rows
        .iter()
        .filter(|r| r.2 + r.3 == largest)
        .map(|r| r.0)
        .collect();
    let mut harness = open_messages(&common::fixture("v2/orders"), BIG, true);
    harness.get_by_role_and_label(Role::Button, "size").click();
    step_until(&mut harness, "the sort", |app| {
        let doc = app.active_document().expect("doc");
        let shown = doc.messages.browse.shown(&doc.messages.display);
        matches!(shown, jsbackup::ui::browse_jobs::Shown::Sorted(_))
    });
    let doc = document(&harness);
    let backup = doc.backup.clone().expect("backup");
    let shown = doc.messages.browse.shown(&doc.messages.display);
    assert_eq!(
        shown.len(),
        rows.len(),
        "sorted rows are the messages, no gaps"
    );
    let size_of = |position: usize| match shown.get(position) {
        Some(jsbackup::ui::filter::DisplayRow::Message(row)) => {
            let message = backup.messages.row(row as usize).expect("row");
            (
                message.seq,
                u64::from(message.hdr_len) + u64::from(message.data_len),
            )
        }
        other => panic!("position {position}: {other:?}"),
    };
    let (first_seq, first_size) = size_of(0);
    assert_eq!(first_size, largest);
    assert!(largest_seqs.contains(&first_seq));
    assert_eq!(size_of(shown.len() - 1).1, smallest);
    // The first line on screen is that message.
    let first_seq_text = first_seq.to_string();
    let top_seq_label = harness
        .query_all_by_label(&first_seq_text)
        .next()
        .expect("the largest message is on screen");
    assert!(
        top_seq_label.rect().min.y < 260.0,
        "{:?}",
        top_seq_label.rect()
    );
    // Clicking again sorts ascending.
    harness.get_by_label("size ▾").click();
    step_until(&mut harness, "the ascending sort", |app| {
        let doc = app.active_document().expect("doc");
        !doc.messages.browse.sort.descending
            && matches!(
                doc.messages.browse.shown(&doc.messages.display),
                jsbackup::ui::browse_jobs::Shown::Sorted(_)
            )
    });
    let doc = document(&harness);
    let shown = doc.messages.browse.shown(&doc.messages.display);
    let Some(jsbackup::ui::filter::DisplayRow::Message(row)) = shown.get(0) else {
        panic!("no first row");
    };
    let message = backup.messages.row(row as usize).expect("row");
    assert_eq!(
        u64::from(message.hdr_len) + u64::from(message.data_len),
        smallest
    );
}

#[test]
fn a_header_key_column_shows_nats_msg_id_values() {
    // The fixture's duplicate publishes name their Msg-Ids and sequences.
    let scenario =
        common::expected("v2/orders")["scenario"]["duplicate_publishes_rejected"].clone();
    let (msg_id, seq) = scenario
        .as_array()
        .and_then(|list| list.first())
        .map(|entry| {
            (
                entry["msg_id"].as_str().expect("msg_id").to_string(),
                entry["seq"].as_u64().expect("seq"),
            )
        })
        .expect("a duplicate publish");
    let mut harness = open_messages(&common::fixture("v2/orders"), BIG, true);
    harness.get_by_label("Columns ▾").click();
    harness.step();
    // The menu offers the keys it sampled from the headers.
    step_until(&mut harness, "the sampled keys", |app| {
        app.active_document()
            .and_then(|d| d.messages.browse.offered_keys().map(|k| !k.is_empty()))
            .unwrap_or(false)
    });
    let offered: Vec<String> = document(&harness)
        .messages
        .browse
        .offered_keys()
        .expect("keys")
        .iter()
        .map(|(key, _)| key.clone())
        .collect();
    assert!(offered.contains(&"Nats-Msg-Id".to_string()), "{offered:?}");
    harness.get_by_label_contains("Nats-Msg-Id  (").click();
    harness.step();
    assert_eq!(
        document(&harness).messages.browse.header_keys,
        vec!["Nats-Msg-Id"]
    );
    harness.key_press(egui::Key::Escape);
    let notice = harness
        .state_mut()
        .active_document_mut()
        .expect("doc")
        .go_to_seq(seq);
    assert_eq!(notice, None);
    harness.step();
    let deadline = Instant::now() + Duration::from_secs(30);
    while harness.query_by_label(&msg_id).is_none() {
        harness.step();
        assert!(Instant::now() < deadline, "no cell shows {msg_id}");
        std::thread::sleep(Duration::from_millis(5));
    }
    let cell = harness.get_by_label(&msg_id);
    let header = harness.get_by_label("Nats-Msg-Id");
    // The value sits in the column under its header.
    assert!((cell.rect().min.x - header.rect().min.x).abs() < 12.0);
    assert!(cell.rect().min.y > header.rect().max.y);
}

#[test]
fn exported_ndjson_of_a_filtered_set_equals_the_cli() {
    let rows = expected_rows("v2/orders");
    let subject = rows.first().map(|r| r.1.clone()).expect("rows");
    let count = rows.iter().filter(|r| r.1 == subject).count();
    let out = TempDir::new("browse-export");
    let dest = out.join("filtered.ndjson");
    let mut harness = open_messages(&common::fixture("v2/orders"), BIG, true);
    // Context menu → "Filter to this subject" on the first row.
    harness
        .query_all_by_label(&subject)
        .min_by(|a, b| a.rect().min.y.total_cmp(&b.rect().min.y))
        .expect("a row")
        .click_secondary();
    harness.step();
    harness.step();
    harness.step();
    harness.get_by_label("Filter to this subject").click();
    step_until(&mut harness, "the filter", loaded);
    assert_eq!(document(&harness).messages.display.message_count, count);
    harness.get_by_label("Export shown…").click();
    harness.step();
    assert!(harness
        .query_by_role_and_label(Role::TextInput, "to")
        .is_some());
    harness
        .state_mut()
        .active_document_mut()
        .expect("doc")
        .messages
        .browse
        .export
        .path = dest.display().to_string();
    harness.step();
    harness.get_by_label("Write").click();
    step_until(&mut harness, "the export", |app| {
        app.active_document()
            .is_some_and(|d| d.messages.browse.export.outcome.is_some())
    });
    let outcome = document(&harness).messages.browse.export.outcome.clone();
    assert!(matches!(outcome, Some(Ok(_))), "{outcome:?}");
    let exported = std::fs::read_to_string(&dest).expect("exported file");
    let cli = std::process::Command::new(env!("CARGO_BIN_EXE_jsbackup"))
        .args(["messages", "--json", "--subject", &subject])
        .arg(common::fixture("v2/orders"))
        .output()
        .expect("run jsbackup messages");
    assert!(
        cli.status.success(),
        "{}",
        String::from_utf8_lossy(&cli.stderr)
    );
    let cli_text = String::from_utf8(cli.stdout).expect("utf-8");
    assert_eq!(exported.lines().count(), count);
    assert_eq!(exported, cli_text);
    // Writing again to the same path is refused, not overwritten.
    harness.get_by_label("Write").click();
    step_until(&mut harness, "the second export", |app| {
        app.active_document().is_some_and(|d| {
            d.messages.browse.export.job.is_none()
                && matches!(d.messages.browse.export.outcome, Some(Err(_)))
        })
    });
    assert_eq!(std::fs::read_to_string(&dest).expect("file"), cli_text);
}

// ------------------------------------------------ backups made at test time

const EDGE_SUBJECTS: [&str; 6] = [
    "注文.作成",
    "注文.発送",
    "заказ.новый",
    "caf\u{e9}",
    "cafe\u{301}",
    "edge.big",
];

/// A stream with non-ASCII subjects (NFC and NFD `café`), a UTF-16 payload and
/// one message with 200 header lines, one of them 8 KiB, snapshotted from a
/// live server into `dir`. Returns the sequence of the big-header message.
fn edge_backup(dir: &Path) -> u64 {
    let server = NatsServer::start("2.15", None);
    let mut conn = server.connect();
    conn.create_stream(&json!({
        "name": "EDGE",
        "subjects": ["注文.>", "заказ.>", "caf\u{e9}", "cafe\u{301}", "edge.>"],
        "storage": "file",
    }));
    for (index, subject) in EDGE_SUBJECTS.iter().take(5).enumerate() {
        conn.js_publish(subject, None, format!("{{\"n\":{index}}}").as_bytes());
    }
    let utf16: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain("héllo ✓".encode_utf16().flat_map(u16::to_le_bytes))
        .collect();
    conn.js_publish(
        "edge.utf16",
        Some(&header_block(&[(
            "Content-Type",
            "text/plain; charset=utf-16",
        )])),
        &utf16,
    );
    let big_value = "v".repeat(8 * 1024);
    let names: Vec<String> = (0..199).map(|i| format!("X-Line-{i:03}")).collect();
    let mut pairs: Vec<(&str, &str)> = vec![("X-Big", big_value.as_str())];
    pairs.extend(names.iter().map(|name| (name.as_str(), "some value")));
    let ack = conn.js_publish("edge.big", Some(&header_block(&pairs)), b"{\"big\":true}");
    let big_seq = ack["seq"].as_u64().expect("seq");
    for index in 0..40 {
        conn.js_publish("edge.small", None, format!("{{\"i\":{index}}}").as_bytes());
    }
    snapshot_via_api(&mut conn, "EDGE", dir).expect("snapshot");
    // For screenshots: JSBACKUP_KEEP_EDGE=DIR keeps a copy of the backup.
    if let Some(keep) = std::env::var_os("JSBACKUP_KEEP_EDGE").map(PathBuf::from) {
        std::fs::create_dir_all(&keep).expect("keep dir");
        for name in ["backup.json", "stream.tar.s2"] {
            std::fs::copy(dir.join(name), keep.join(name)).expect("copy");
        }
    }
    big_seq
}

fn edge_dir(token: &str) -> (TempDir, PathBuf, u64) {
    let tmp = TempDir::new(token);
    let dir = tmp.join("edge-backup");
    let big_seq = edge_backup(&dir);
    (tmp, dir, big_seq)
}

#[test]
fn the_largest_header_leaves_the_table_its_height() {
    let (_tmp, dir, big_seq) = edge_dir("browse-bighdr");
    for size in [BIG, egui::vec2(900.0, 600.0)] {
        let mut harness = open_messages(&dir, size, true);
        let doc = document(&harness);
        let backup = doc.backup.clone().expect("backup");
        let (largest_row, largest_hdr) = (0..backup.messages.len())
            .map(|row| (row, backup.messages.hdr_len(row)))
            .max_by_key(|(_, hdr)| *hdr)
            .expect("rows");
        assert_eq!(backup.messages.seq[largest_row], big_seq);
        assert!(largest_hdr > 8 * 1024 + 199 * 20, "{largest_hdr}");
        let table_before = doc.messages.browse.table_rect;
        assert!(table_before.height() > 150.0, "{table_before:?}");
        let notice = harness
            .state_mut()
            .active_document_mut()
            .expect("doc")
            .go_to_seq(big_seq);
        assert_eq!(notice, None);
        step_until(&mut harness, "the big message's detail", |app| {
            app.active_document()
                .is_some_and(|d| matches!(d.messages.detail, Some(Ok(_))))
        });
        let browse = &document(&harness).messages.browse;
        assert_eq!(
            browse.table_rect, table_before,
            "the table keeps its size at {size:?}"
        );
        assert!(
            browse.table_rect.max.y <= browse.detail_rect.min.y,
            "detail {:?} overlaps table {:?}",
            browse.detail_rect,
            browse.table_rect
        );
        let panel_bottom = harness.ctx.content_rect().max.y;
        assert!(browse.detail_rect.max.y <= panel_bottom + 0.5);
        // The table still shows rows: the selected one and its neighbours.
        let big_seq_text = big_seq.to_string();
        let seq_label = harness
            .query_all_by_label(&big_seq_text)
            .find(|node| browse.table_rect.contains(node.rect().center()))
            .expect("the selected row is drawn inside the table");
        assert!(seq_label.rect().height() > 0.0);
        // Rows drawn inside the table: about as many as fit its height.
        let rows_drawn = (1..=backup.messages.seq[backup.messages.len() - 1])
            .filter(|seq| {
                let text = seq.to_string();
                let inside = harness
                    .query_all_by_label(&text)
                    .any(|node| browse.table_rect.contains(node.rect().center()));
                inside
            })
            .count();
        assert!(
            rows_drawn as f32 >= browse.table_rect.height() / 24.0,
            "{rows_drawn} rows drawn in {:?}",
            browse.table_rect
        );
        // Header lines are drawn in the detail only, never over the table.
        let header_lines: Vec<egui::Rect> = harness
            .query_all_by_label_contains("X-Line-")
            .map(|node| node.rect())
            .collect();
        assert!(!header_lines.is_empty());
        for rect in &header_lines {
            assert!(
                !browse.table_rect.intersects(*rect),
                "a header line {rect:?} is drawn over the table {:?}",
                browse.table_rect
            );
        }
        // The header table lists all 200 lines (count from the header block).
        assert!(harness.query_by_label("Headers (200)").is_some());
        // Raw view is one click away and stays inside the detail too.
        harness.get_by_label("Raw").click();
        harness.step();
        harness.step();
        let browse = &document(&harness).messages.browse;
        assert_eq!(browse.table_rect, table_before);
    }
}

#[test]
fn non_ascii_subjects_render_with_the_fallback_fonts() {
    let (_tmp, dir, _) = edge_dir("browse-fonts");
    let mut app = App::default();
    app.open(OpenSource::Path(dir.clone()));
    // No allow_missing_glyphs: kittest fails on any glyph the fonts lack. The fonts
    // go in before the first frame, so the app starts no font worker of its own.
    let mut harness = Harness::builder()
        .with_size(BIG)
        .with_context_setup(jsbackup::ui::fonts::install_now)
        .build_ui_state(|ui, app: &mut App| app.show(ui), app);
    step_until(&mut harness, "indexing", loaded);
    harness.get_by_label(Pane::Messages.label()).click();
    step_until(&mut harness, "the Messages pane", |app| {
        app.active_document().map(|d| d.pane) == Some(Pane::Messages)
    });
    for subject in EDGE_SUBJECTS.iter().take(5) {
        assert!(
            harness.query_by_label(subject).is_some(),
            "{subject} is listed"
        );
    }
    let font = egui::FontId::monospace(13.0);
    for text in ["注文.作成", "注文.発送", "заказ.новый", "✓", "⚠"] {
        assert!(
            harness.ctx.fonts_mut(|fonts| fonts.has_glyphs(&font, text)),
            "{text} has glyphs"
        );
    }
    // NFD café is flagged; NFC café is not.
    let doc = document(&harness);
    let backup = doc.backup.clone().expect("backup");
    let nfd_row = (0..backup.messages.len())
        .find(|&row| backup.subjects.name(backup.messages.subject_id[row]) == "cafe\u{301}")
        .expect("the NFD subject");
    harness
        .state_mut()
        .active_document_mut()
        .expect("doc")
        .select_row(nfd_row);
    step_until(&mut harness, "the NFD message", |app| {
        app.active_document()
            .is_some_and(|d| matches!(d.messages.detail, Some(Ok(_))))
    });
    assert!(harness
        .query_by_label_contains("contains U+0301 combining accent (NFD)")
        .is_some());
    // The UTF-16 payload is decoded by its Content-Type charset.
    let utf16_row = (0..backup.messages.len())
        .find(|&row| backup.subjects.name(backup.messages.subject_id[row]) == "edge.utf16")
        .expect("the UTF-16 message");
    harness
        .state_mut()
        .active_document_mut()
        .expect("doc")
        .select_row(utf16_row);
    step_until(&mut harness, "the UTF-16 message", |app| {
        app.active_document().is_some_and(|d| {
            matches!(&d.messages.detail, Some(Ok(view)) if view.seq == backup.messages.seq[utf16_row])
        })
    });
    assert!(harness.query_by_label("héllo ✓").is_some());
    assert!(harness.query_by_label("charset utf-16").is_some());
}

#[test]
fn json_field_and_header_highlight_their_bytes() {
    let mut harness = open_messages(&common::fixture("v2/orders"), BIG, true);
    // seq 501 has Nats-Msg-Id and Content-Type: application/json (scenario).
    let notice = harness
        .state_mut()
        .active_document_mut()
        .expect("doc")
        .go_to_seq(501);
    assert_eq!(notice, None);
    step_until(&mut harness, "seq 501", |app| {
        app.active_document()
            .is_some_and(|d| matches!(&d.messages.detail, Some(Ok(view)) if view.seq == 501))
    });
    let view = match &document(&harness).messages.detail {
        Some(Ok(view)) => view.clone(),
        other => panic!("{other:?}"),
    };
    // The tree lists one member a line.
    let id_rect = harness.get_by_label_contains("order_id: ").rect();
    let event_rect = harness.get_by_label_contains("event: ").rect();
    assert!(
        event_rect.min.y >= id_rect.max.y - 1.0,
        "{id_rect:?} {event_rect:?}"
    );
    let field = harness.get_by_label_contains("order_id: ");
    field.click();
    harness.step();
    harness.step();
    let state = &document(&harness).messages.browse.detail;
    let node = state
        .selected_node
        .and_then(|i| view.analysis.json.get(i))
        .expect("a node");
    assert_eq!(
        &view.data[node.span.clone()],
        format!("\"order_id\":\"{}\"", node.text).as_bytes()
    );
    let line = harness.get_by_label_contains("Nats-Msg-Id: ");
    line.click();
    harness.step();
    let state = &document(&harness).messages.browse.detail;
    let header = state
        .selected_header
        .and_then(|i| view.analysis.header_lines.get(i))
        .expect("a header");
    assert!(view.header_bytes[header.span.clone()].starts_with(b"Nats-Msg-Id: "));
    // The other way: a click on a payload byte in the hex view chooses the field holding it.
    let header_len = view.header_bytes.len();
    let line = header_len / 16 + 1;
    harness.step();
    harness
        .get_by_label_contains(&format!("{:08x}  ", line * 16))
        .click();
    harness.step();
    harness.step();
    let state = &document(&harness).messages.browse.detail;
    assert_eq!(state.selected_header, None);
    let node = state
        .selected_node
        .and_then(|i| view.analysis.json.get(i))
        .expect("the clicked byte's field");
    let line_bytes = (line * 16 - header_len)..(line * 16 + 16 - header_len);
    assert!(
        node.span.start < line_bytes.end && line_bytes.start < node.span.end,
        "{:?} does not hold a byte of {line_bytes:?}",
        node.span
    );
    assert!(
        node.depth >= 1,
        "an innermost field, not the whole document"
    );
}
