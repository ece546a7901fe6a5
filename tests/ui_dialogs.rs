//! The Export, Restore and Salvage dialogs driven through the real `App` with
//! egui_kittest: real fixtures, real worker threads (polled with `step()` and
//! a deadline), results checked on disk and against each `expected.json`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is a failed test

mod common;

use common::ui::step_until;
use egui::accesskit::Role;
use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use jsbackup::ops::scan::{open_backup, ScanControl};
use jsbackup::ui::{App, OpenSource};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn shared() -> PathBuf {
    std::env::var_os("JSBACKUP_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared")))
}

fn fixture(relative: &str) -> PathBuf {
    shared().join("fixtures").join(relative)
}

fn expected(relative: &str) -> Value {
    let path = fixture(relative).join("expected.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// A fresh directory under the target dir, removed at the start of each run.
fn temp_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("ui_dialogs")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn harness(app: App) -> Harness<'static, App> {
    Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .allow_missing_glyphs()
        .build_ui_state(|ui, app: &mut App| app.show(ui), app)
}

fn open(path: PathBuf) -> Harness<'static, App> {
    let mut app = App::default();
    app.open(OpenSource::Path(path));
    let mut harness = harness(app);
    step_until(&mut harness, "the backup to be indexed", |app| {
        !app.documents.is_empty()
            && app
                .documents
                .iter()
                .all(|d| d.backup.is_some() || d.error.is_some())
            && app.is_settled()
    });
    harness
}

/// Replaces the text of the text field labelled `label` (select all, type).
fn set_text(harness: &mut Harness<'static, App>, label: &str, text: &str) {
    let field = harness.get_by_role_and_label(Role::TextInput, label);
    field.focus();
    harness.step();
    harness.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    harness.step();
    harness
        .get_by_role_and_label(Role::TextInput, label)
        .type_text(text);
    harness.step();
    harness.step();
}

fn reopen(path: &Path) -> jsbackup::model::Backup {
    open_backup(path, &mut ScanControl::default())
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

#[test]
fn export_dialog_writes_only_the_checked_consumers() {
    let expected = expected("v2/orders");
    let names: Vec<String> = expected["consumers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|consumer| consumer["name"].as_str().unwrap().to_string())
        .collect();
    assert!(
        names.len() >= 3,
        "the fixture needs three consumers or more"
    );
    let (dropped, kept) = names.split_at(2);
    let out = temp_dir("export").join("orders-two-fewer");

    let mut harness = open(fixture("v2/orders"));
    harness.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::E);
    step_until(&mut harness, "the Export dialog's dry run", |app| {
        app.export_dialog()
            .is_some_and(|dialog| matches!(dialog.count, Some(Ok(_))) && !dialog.is_busy())
    });
    let total = expected["state"]["messages"].as_u64().unwrap();
    let total_text = jsbackup::ui::widgets::count(total);
    assert!(
        harness
            .query_by_label_contains(&format!("Will keep {total_text} of {total_text} messages"))
            .is_some(),
        "the live count shows every message kept"
    );
    for name in dropped {
        harness.get_by_role_and_label(Role::CheckBox, name).click();
        harness.step();
    }
    set_text(&mut harness, "output directory", &out.display().to_string());
    let dialog = harness.state().export_dialog().unwrap();
    assert_eq!(dialog.out.text, out.display().to_string());
    let sorted = |mut names: Vec<String>| {
        names.sort();
        names
    };
    assert_eq!(sorted(dialog.consumers.selected()), sorted(kept.to_vec()));

    harness.get_by_label("Run export").click();
    step_until(&mut harness, "the export", |app| {
        app.export_dialog()
            .is_some_and(|dialog| dialog.result.is_some())
    });
    let result = harness
        .state()
        .export_dialog()
        .unwrap()
        .result
        .clone()
        .unwrap();
    let report = result.unwrap_or_else(|message| panic!("export failed: {message}"));
    assert_eq!(sorted(report.consumers.clone()), sorted(kept.to_vec()));
    assert!(harness
        .query_by_label_contains(&format!("Exported {total_text} messages"))
        .is_some());

    assert!(out.join("backup.json").is_file());
    let exported = reopen(&out);
    let exported_names: Vec<String> = exported.consumers.iter().map(|c| c.name.clone()).collect();
    assert_eq!(sorted(exported_names), sorted(kept.to_vec()));
    assert_eq!(exported.messages.len() as u64, total);
    assert!(!exported.has_errors(), "{:?}", exported.findings);
}

#[test]
fn restore_dialog_restores_into_a_local_store_under_a_new_name() {
    let expected = expected("v2/orders");
    let want_messages = expected["state"]["messages"].as_u64().unwrap();
    let store = temp_dir("restore").join("store");
    let new_name = "ORDERS_RESTORED";

    let mut harness = open(fixture("v2/orders"));
    harness.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::R);
    step_until(&mut harness, "the Restore dialog", |app| {
        app.restore_dialog().is_some()
    });
    set_text(&mut harness, "stream name", new_name);
    set_text(
        &mut harness,
        "store directory",
        &store.display().to_string(),
    );
    step_until(&mut harness, "the pre-flight checks", |app| {
        app.restore_dialog()
            .is_some_and(|dialog| dialog.preflight.is_some() && !dialog.is_busy())
    });
    let preflight = harness
        .state()
        .restore_dialog()
        .unwrap()
        .preflight
        .clone()
        .unwrap()
        .unwrap();
    assert!(
        preflight.iter().all(|check| check.ok != Some(false)),
        "{preflight:?}"
    );
    assert!(harness
        .query_by_label_contains(&format!("stream directory {}", store.display()))
        .is_some());

    harness.get_by_label("Run restore").click();
    step_until(&mut harness, "the restore", |app| {
        app.restore_dialog()
            .is_some_and(|dialog| dialog.result.is_some())
    });
    let dialog = harness.state().restore_dialog().unwrap();
    let report = dialog
        .result
        .clone()
        .unwrap()
        .unwrap_or_else(|message| panic!("restore failed: {message}"));
    assert_eq!(report.stream_name, new_name);
    assert_eq!(report.messages, want_messages);
    let stream_dir = store.join("jetstream/$G/streams").join(new_name);
    assert!(stream_dir.join("meta.inf").is_file());
    assert!(harness
        .query_by_label_contains(&format!(
            "Restored stream {new_name} with {} messages",
            jsbackup::ui::widgets::count(want_messages)
        ))
        .is_some());

    // A second restore to the same place is refused before anything is written.
    harness.state_mut().restore_dialog_mut().unwrap().result = None;
    harness.get_by_label("Check again").click();
    step_until(&mut harness, "the second pre-flight", |app| {
        app.restore_dialog()
            .is_some_and(|dialog| dialog.preflight.is_some() && !dialog.is_busy())
    });
    let preflight = harness
        .state()
        .restore_dialog()
        .unwrap()
        .preflight
        .clone()
        .unwrap()
        .unwrap();
    assert!(
        preflight.iter().any(|check| check.ok == Some(false)),
        "an existing stream directory must fail the pre-flight: {preflight:?}"
    );
}

#[test]
fn damaged_backup_banner_and_salvaged_copy() {
    let corrupt = expected("corrupt/v1-blk-payload-flip");
    let damaged_seq = corrupt["damage"]["record"]["seq"].as_u64().unwrap();
    let source = expected(corrupt["derived_from"].as_str().unwrap());
    let source_messages = source["state"]["messages"].as_u64().unwrap();
    let out = temp_dir("salvage").join("salvaged");

    let mut harness = open(fixture("corrupt/v1-blk-payload-flip"));
    let count = jsbackup::ui::widgets::count;
    let banner = format!(
        "{} of {} messages intact; seq {damaged_seq} damaged",
        count(source_messages - 1),
        count(source_messages)
    );
    assert!(
        harness.query_by_label_contains(&banner).is_some(),
        "the banner should say {banner:?}"
    );
    harness.get_by_label("Save salvaged copy…").click();
    step_until(&mut harness, "the salvage dialog", |app| {
        app.salvage_dialog().is_some()
    });
    set_text(&mut harness, "output directory", &out.display().to_string());
    harness.get_by_label("Save salvaged copy").click();
    step_until(&mut harness, "the salvage", |app| {
        app.salvage_dialog()
            .is_some_and(|dialog| dialog.result.is_some())
    });
    let report = harness
        .state()
        .salvage_dialog()
        .unwrap()
        .result
        .clone()
        .unwrap()
        .unwrap_or_else(|message| panic!("salvage failed: {message}"));
    assert_eq!(report.kept_messages, source_messages - 1);
    let salvaged = reopen(&out);
    assert_eq!(salvaged.messages.len() as u64, source_messages - 1);
    assert!(!salvaged.has_errors(), "{:?}", salvaged.findings);
    assert!(salvaged.messages.find_seq(damaged_seq).is_none());
}

fn stream_name(relative: &str) -> String {
    expected(relative)["stream"]["name"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Opens every fixture in `relatives` as its own document and waits until all are indexed.
fn open_all(relatives: &[&str]) -> Harness<'static, App> {
    let mut app = App::default();
    for relative in relatives {
        app.open(OpenSource::Path(fixture(relative)));
    }
    let mut harness = harness(app);
    let count = relatives.len();
    step_until(&mut harness, "the backups to be indexed", move |app| {
        app.documents.len() == count
            && app.documents.iter().all(|d| d.backup.is_some())
            && app.is_settled()
    });
    harness
}

fn press(harness: &mut Harness<'static, App>, modifiers: egui::Modifiers, key: egui::Key) {
    harness.key_press_modifiers(modifiers, key);
    harness.step();
    harness.step();
}

const CTRL_SHIFT: egui::Modifiers = egui::Modifiers::COMMAND.plus(egui::Modifiers::SHIFT);

#[test]
fn closing_a_document_closes_its_open_dialog() {
    let name = stream_name("v2/orders");
    let mut harness = open(fixture("v2/orders"));
    press(&mut harness, egui::Modifiers::COMMAND, egui::Key::E);
    let title = format!("Export {name}");
    assert!(harness.state().export_dialog().is_some());
    assert!(harness.query_by_label(&title).is_some(), "{title} is shown");

    press(&mut harness, egui::Modifiers::COMMAND, egui::Key::W);
    assert!(harness.state().documents.is_empty());
    assert!(
        harness.state().dialog.is_none(),
        "the dialog went with its document"
    );
    assert!(harness.query_by_label(&title).is_none());
}

#[test]
fn esc_closes_a_dialog_and_the_palette() {
    let name = stream_name("v2/orders");
    let mut harness = open(fixture("v2/orders"));
    press(&mut harness, egui::Modifiers::COMMAND, egui::Key::R);
    assert!(harness.state().restore_dialog().is_some());
    assert!(harness.query_by_label(&format!("Restore {name}")).is_some());
    press(&mut harness, egui::Modifiers::NONE, egui::Key::Escape);
    assert!(
        harness.state().dialog.is_none(),
        "Esc closed the Restore dialog"
    );
    assert!(harness.query_by_label(&format!("Restore {name}")).is_none());
    assert_eq!(harness.state().documents.len(), 1, "the backup stays open");

    press(&mut harness, CTRL_SHIFT, egui::Key::P);
    assert!(harness.state().palette.is_some());
    press(&mut harness, egui::Modifiers::NONE, egui::Key::Escape);
    assert!(harness.state().palette.is_none(), "Esc closed the palette");

    // A click elsewhere closes it too.
    press(&mut harness, CTRL_SHIFT, egui::Key::P);
    assert!(harness.state().palette.is_some());
    let title = harness.state().documents[0].title.clone();
    harness.get_by_role_and_label(Role::Button, &title).click();
    harness.step();
    harness.step();
    assert!(
        harness.state().palette.is_none(),
        "a click elsewhere closed the palette"
    );
}

#[test]
fn another_documents_dialog_is_not_shown() {
    let kv = stream_name("v2/kv");
    let mut harness = open_all(&["v2/orders", "v2/kv"]);
    assert_eq!(harness.state().active, 1);
    press(&mut harness, egui::Modifiers::COMMAND, egui::Key::E);
    assert!(harness.query_by_label(&format!("Export {kv}")).is_some());

    let orders_title = harness.state().documents[0].title.clone();
    // The dialog may cover the document list: click through accesskit.
    harness.get_by_label(&orders_title).click_accesskit();
    harness.step();
    harness.step();
    assert_eq!(harness.state().active, 0);
    assert!(
        harness.query_by_label(&format!("Export {kv}")).is_none(),
        "the KV backup's dialog is not shown over ORDERS"
    );
    assert!(harness.state().export_dialog().is_none());
    assert!(
        harness.state().dialog.is_some(),
        "it is kept for its backup"
    );

    // Closing ORDERS leaves the KV backup's dialog alone, shown again.
    press(&mut harness, egui::Modifiers::COMMAND, egui::Key::W);
    assert_eq!(harness.state().documents.len(), 1);
    assert!(harness.query_by_label(&format!("Export {kv}")).is_some());
}

#[test]
fn the_palette_runs_a_command() {
    let mut harness = open(fixture("v2/orders"));
    press(&mut harness, CTRL_SHIFT, egui::Key::P);
    harness
        .get_by_role_and_label(Role::TextInput, jsbackup::ui::command::PALETTE_FIELD)
        .type_text("consumers pos");
    harness.step();
    harness.step();
    press(&mut harness, egui::Modifiers::NONE, egui::Key::Enter);
    assert!(
        harness.state().palette.is_none(),
        "running closes the palette"
    );
    assert_eq!(
        harness.state().active_document().map(|d| d.pane),
        Some(jsbackup::ui::Pane::Consumers)
    );

    // A dialog by name, too.
    press(&mut harness, CTRL_SHIFT, egui::Key::P);
    harness
        .get_by_role_and_label(Role::TextInput, jsbackup::ui::command::PALETTE_FIELD)
        .type_text("export…");
    harness.step();
    press(&mut harness, egui::Modifiers::NONE, egui::Key::Enter);
    assert!(harness.state().export_dialog().is_some());
}

#[test]
fn help_keyboard_shortcuts_lists_every_shortcut_of_the_table() {
    let mut harness = open(fixture("v2/orders"));
    harness.get_by_label("Help").click();
    for _ in 0..4 {
        harness.step();
    }
    harness.get_by_label("Keyboard shortcuts").click();
    for _ in 0..4 {
        harness.step();
    }
    assert!(matches!(
        harness.state().visible_dialog(),
        Some(jsbackup::ui::Dialog::Shortcuts)
    ));
    let ctx = harness.ctx.clone();
    let mut listed = 0;
    for info in jsbackup::ui::command::TABLE {
        let Some(shortcut) = info.shortcut else {
            continue;
        };
        let keys = ctx.format_shortcut(&shortcut);
        assert!(
            harness.query_all_by_label(&keys).count() >= 1,
            "{keys} ({}) is listed",
            info.label
        );
        assert!(
            harness.query_all_by_label(info.tooltip).count() == 1,
            "{} is described",
            info.label
        );
        listed += 1;
    }
    assert!(listed >= 15, "only {listed} shortcuts in the table");
}

/// Into a store the dialog leaves out what the server drops on load (v2/ttl:
/// the expired TTLs, as the restore prediction counts them now); ticking
/// "keep every message" writes every archive message.
#[test]
fn restore_dialog_settles_a_store_unless_keep_every_message() {
    let archive_messages = expected("v2/ttl")["state"]["messages"].as_u64().unwrap();
    let root = temp_dir("restore-settle");
    let mut harness = open(fixture("v2/ttl"));
    let mut results = Vec::new();
    for (store, keep) in [("default", false), ("keep", true)] {
        let store = root.join(store);
        harness.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::R);
        step_until(&mut harness, "the Restore dialog", |app| {
            app.restore_dialog().is_some()
        });
        set_text(
            &mut harness,
            "store directory",
            &store.display().to_string(),
        );
        if keep {
            harness
                .get_by_label("keep every message as in the archive (--keep-expired)")
                .click();
        }
        step_until(&mut harness, "the pre-flight checks", |app| {
            app.restore_dialog()
                .is_some_and(|dialog| dialog.preflight.is_some() && !dialog.is_busy())
        });
        assert_eq!(harness.state().restore_dialog().unwrap().keep_expired, keep);
        harness.get_by_label("Run restore").click();
        step_until(&mut harness, "the restore", |app| {
            app.restore_dialog()
                .is_some_and(|dialog| dialog.result.is_some())
        });
        let report = harness
            .state()
            .restore_dialog()
            .unwrap()
            .result
            .clone()
            .unwrap()
            .unwrap_or_else(|message| panic!("restore failed: {message}"));
        results.push(report);
        harness.key_press(egui::Key::Escape);
        step_until(&mut harness, "the dialog closed", |app| {
            app.restore_dialog().is_none()
        });
    }
    let (settled, kept) = (&results[0], &results[1]);
    let dropped = settled.settled.as_ref().expect("settled drops").dropped;
    assert!(dropped.ttl_expired > 0, "{settled:?}");
    assert_eq!(
        settled.messages,
        archive_messages - dropped.total,
        "{settled:?}"
    );
    assert!(kept.settled.is_none(), "{kept:?}");
    assert_eq!(kept.messages, archive_messages, "{kept:?}");
}
