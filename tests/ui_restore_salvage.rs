//! The Restore dialog with a damaged backup (egui_kittest, real worker
//! threads): refused without the salvage checkbox (nothing written), restored
//! with it, and the result says how many of the archive's messages were
//! written and what was left out.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is a failed test

mod common;

use common::ui::step_until;
use egui::accesskit::Role;
use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use jsbackup::ui::App;

fn set_text(harness: &mut Harness<'static, App>, label: &str, text: &str) {
    harness
        .get_by_role_and_label(Role::TextInput, label)
        .focus();
    harness.step();
    harness.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    harness.step();
    harness
        .get_by_role_and_label(Role::TextInput, label)
        .type_text(text);
    harness.step();
    harness.step();
}

fn run_restore(harness: &mut Harness<'static, App>) {
    step_until(harness, "the pre-flight checks", |app| {
        app.restore_dialog()
            .is_some_and(|dialog| dialog.preflight.is_some() && !dialog.is_busy())
    });
    if let Some(dialog) = harness.state_mut().restore_dialog_mut() {
        dialog.result = None;
    }
    // The button is inside the window's area, where a click reaches it (the
    // window once kept egui's default height and the button slid below it).
    let button = harness.get_by_label("Run restore").rect();
    let window = harness
        .ctx
        .memory(|memory| memory.area_rect(egui::Id::unique("restore_dialog")))
        .expect("the Restore window's area");
    let center = button.center();
    assert!(
        window.contains(center),
        "Run restore at {button:?} is outside the window {window:?}"
    );
    harness.get_by_label("Run restore").click();
    step_until(harness, "the restore", |app| {
        app.restore_dialog()
            .is_some_and(|dialog| dialog.result.is_some())
    });
}

#[test]
fn damaged_backup_is_restored_only_with_salvage_ticked() {
    let dir = common::fixture("corrupt/v2-truncated");
    let declared = common::read_json(&dir.join("backup.json"))["state"]["messages"]
        .as_u64()
        .expect("declared messages");
    let root = common::TempDir::new("ui-salvage");
    let store = root.join("store");
    let mut harness = common::ui::open_settled(&dir);
    let backup = harness.state().documents[0].backup.clone().expect("backup");
    let intact = backup.messages.len() as u64;
    harness.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::R);
    step_until(&mut harness, "the Restore dialog", |app| {
        app.restore_dialog().is_some()
    });
    set_text(
        &mut harness,
        "store directory",
        &store.display().to_string(),
    );

    run_restore(&mut harness);
    // The pre-flight names the damage before Run is pressed.
    let preflight = harness
        .state()
        .restore_dialog()
        .unwrap()
        .preflight
        .clone()
        .expect("pre-flight")
        .expect("pre-flight checks");
    assert!(
        preflight.iter().any(|check| check.ok == Some(false)
            && check.text.contains("damaged")
            && check.text.contains("salvage")),
        "{preflight:?}"
    );
    // Shown in the pre-flight list (and again in the refusal below it).
    assert!(harness
        .query_all_by_label_contains("tick \"salvage\" (or pass --salvage)")
        .next()
        .is_some());
    let result = harness.state().restore_dialog().unwrap().result.clone();
    let message = result
        .expect("result")
        .expect_err("refused without salvage");
    assert!(
        message.contains("--salvage") && message.contains("damaged"),
        "{message}"
    );
    assert!(!store.exists(), "the refusal wrote {}", store.display());

    harness.get_by_label_contains("salvage: restore ").click();
    harness.step();
    assert!(harness.state().restore_dialog().unwrap().salvage);
    run_restore(&mut harness);
    let result = harness.state().restore_dialog().unwrap().result.clone();
    let report = result
        .expect("result")
        .unwrap_or_else(|message| panic!("salvage failed: {message}"));
    assert_eq!(report.messages, intact);
    assert_eq!(report.archive_messages, declared);
    assert!(report.salvaged);
    let lost = report.dropped.sequences_lost;
    assert!(lost > 0);
    assert!(harness
        .query_by_label_contains(&format!(
            "with {} messages (of {} in the archive)",
            jsbackup::ui::widgets::count(intact),
            jsbackup::ui::widgets::count(declared)
        ))
        .is_some());
    assert!(harness
        .query_by_label_contains(&format!("salvaged: left out {lost} sequence(s) lost"))
        .is_some());
}
