//! Closing the window during a local restore (egui_kittest, real worker threads)
//! cancels it through the Cancel button's path: the close is held back while
//! "cancelling…" shows, then the window closes, and neither the store directory
//! nor the restore's temp directory is left.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is a failed test

mod common;

use common::ui::step_until;
use egui::accesskit::Role;
use egui::{ViewportCommand, ViewportEvent, ViewportId};
use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use jsbackup::ui::workers::JobHold;
use jsbackup::ui::App;
use std::time::{Duration, Instant};

fn root_commands(harness: &Harness<'static, App>) -> Vec<ViewportCommand> {
    harness
        .output()
        .viewport_output
        .get(&ViewportId::ROOT)
        .map(|viewport| viewport.commands.clone())
        .unwrap_or_default()
}

#[test]
fn closing_the_window_cancels_a_local_restore() {
    let fixture = common::fixture("v2/compressed");
    let stream = common::expected("v2/compressed")["stream"]["name"]
        .as_str()
        .expect("stream name")
        .to_string();
    let root = common::TempDir::new("ui-restore-close");
    let store = root.join("store");
    let streams = store.join("jetstream").join("$G").join("streams");
    let temp = streams.join(format!(".{stream}.jsbackup-tmp-{}", std::process::id()));
    let mut harness = common::ui::open_settled(&fixture);
    harness.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::R);
    step_until(&mut harness, "the Restore dialog", |app| {
        app.restore_dialog().is_some()
    });
    harness
        .get_by_role_and_label(Role::TextInput, "store directory")
        .focus();
    harness.step();
    harness
        .get_by_role_and_label(Role::TextInput, "store directory")
        .type_text(&store.display().to_string());
    harness.step();
    step_until(&mut harness, "the pre-flight checks", |app| {
        app.restore_dialog()
            .is_some_and(|dialog| dialog.preflight.is_some() && !dialog.is_busy())
    });
    // The restore stops at its first progress report, after it made its temp dir,
    // until it is cancelled: the close below surely comes while it runs.
    let hold = JobHold::install(&harness.ctx, "restore");
    harness.get_by_label("Run restore").click();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !hold.reached() {
        harness.step();
        assert!(Instant::now() < deadline, "the restore never started");
        std::thread::yield_now();
    }
    assert!(temp.exists(), "no temp dir at {}", temp.display());
    assert!(
        harness
            .state_mut()
            .restore_dialog_mut()
            .is_some_and(|dialog| dialog.is_restoring()),
        "the dialog does not show the restore as running"
    );

    // The user closes the window.
    harness
        .input_mut()
        .viewports
        .entry(ViewportId::ROOT)
        .or_default()
        .events
        .push(ViewportEvent::Close);
    harness.step();
    assert!(
        root_commands(&harness).contains(&ViewportCommand::CancelClose),
        "the close was not held back: {:?}",
        root_commands(&harness)
    );
    assert!(harness.state().closing_since.is_some());
    assert!(
        harness
            .state()
            .toast_texts()
            .iter()
            .any(|text| text.contains("cancelling…")),
        "{:?}",
        harness.state().toast_texts()
    );

    // Once the restore has cleaned up, the window closes.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        harness.step();
        if root_commands(&harness).contains(&ViewportCommand::Close) {
            break;
        }
        assert!(Instant::now() < deadline, "the window never closed");
        std::thread::sleep(Duration::from_millis(5));
    }
    let result = harness
        .state()
        .restore_dialog()
        .and_then(|dialog| dialog.result.clone())
        .expect("the restore's result");
    let message = result.expect_err("the restore was cancelled");
    assert!(message.contains("cancel"), "{message}");
    assert!(!temp.exists(), "{} is left", temp.display());
    assert!(!store.exists(), "{} is left", store.display());
}
