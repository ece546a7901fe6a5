//! Settings kept between runs (egui_kittest, real fixture): the Messages
//! table's header-key columns and sort order survive saving the settings and
//! starting a new app from them, like theme and last folder do.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is a failed test

mod common;

use common::ui::step_until;
use egui::accesskit::Role;
use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use jsbackup::ui::browse_jobs::Shown;
use jsbackup::ui::filter::DisplayRow;
use jsbackup::ui::{App, OpenSource, Pane, Settings};
use std::collections::HashMap;

/// eframe's storage, in memory (the window's is a RON file; same trait).
#[derive(Default)]
struct MemoryStorage(HashMap<String, String>);

impl eframe::Storage for MemoryStorage {
    fn get_string(&self, key: &str) -> Option<String> {
        self.0.get(key).cloned()
    }
    fn set_string(&mut self, key: &str, value: String) {
        self.0.insert(key.to_string(), value);
    }
    fn remove_string(&mut self, key: &str) {
        self.0.remove(key);
    }
    fn flush(&mut self) {}
}

fn open_orders_messages(settings: Settings) -> Harness<'static, App> {
    let mut app = App::default();
    app.settings = settings;
    app.open(OpenSource::Path(common::fixture("v2/orders")));
    let mut harness = Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .allow_missing_glyphs()
        .build_ui_state(|ui, app: &mut App| app.show(ui), app);
    step_until(&mut harness, "indexing", |app| {
        app.active_document().is_some_and(|d| d.backup.is_some()) && app.is_settled()
    });
    harness.get_by_label(Pane::Messages.label()).click();
    step_until(&mut harness, "the Messages pane", |app| {
        app.active_document().map(|d| d.pane) == Some(Pane::Messages)
    });
    harness
}

fn is_sorted(app: &App) -> bool {
    app.active_document().is_some_and(|doc| {
        matches!(
            doc.messages.browse.shown(&doc.messages.display),
            Shown::Sorted(_)
        )
    })
}

/// Header + payload bytes of the first row shown.
fn first_row_size(harness: &Harness<'static, App>) -> u64 {
    let doc = harness.state().active_document().expect("doc");
    let backup = doc.backup.clone().expect("backup");
    let Some(DisplayRow::Message(row)) = doc.messages.browse.shown(&doc.messages.display).get(0)
    else {
        panic!("no first row");
    };
    let message = backup.messages.row(row as usize).expect("row");
    u64::from(message.hdr_len) + u64::from(message.data_len)
}

#[test]
fn header_columns_and_sort_order_survive_a_restart() {
    let expected = common::expected("v2/orders");
    let largest = expected["messages"]["rows"]
        .as_array()
        .expect("messages.rows")
        .iter()
        .map(|row| row[2].as_u64().expect("hdr_len") + row[3].as_u64().expect("data_len"))
        .max()
        .expect("rows");

    // First run: choose a header-key column and sort by size, as a user would.
    let mut harness = open_orders_messages(Settings::default());
    harness.get_by_label("Columns ▾").click();
    harness.step();
    step_until(&mut harness, "the sampled keys", |app| {
        app.active_document()
            .and_then(|d| d.messages.browse.offered_keys().map(|k| !k.is_empty()))
            .unwrap_or(false)
    });
    harness.get_by_label_contains("Nats-Msg-Id  (").click();
    harness.step();
    harness.key_press(egui::Key::Escape);
    harness.get_by_role_and_label(Role::Button, "size").click();
    step_until(&mut harness, "the sort", is_sorted);
    assert_eq!(first_row_size(&harness), largest);
    let settings = harness.state().settings.clone();
    assert_eq!(settings.header_columns, vec!["Nats-Msg-Id"]);
    let sort = settings.message_sort.clone().expect("a remembered sort");
    assert_eq!((sort.column.as_str(), sort.descending), ("size", true));

    // Saved the way the window saves on exit, then read back.
    let mut storage = MemoryStorage::default();
    jsbackup::ui::save_settings(&settings, &mut storage);
    drop(harness);
    let loaded = jsbackup::ui::load_settings(&storage);
    assert_eq!(loaded, settings);

    // Second run, from the saved settings only: the column and the order are back.
    let mut harness = open_orders_messages(loaded);
    step_until(&mut harness, "the remembered sort", is_sorted);
    let browse = &harness
        .state()
        .active_document()
        .expect("doc")
        .messages
        .browse;
    assert_eq!(browse.header_keys, vec!["Nats-Msg-Id"]);
    assert!(browse.sort.descending);
    assert_eq!(first_row_size(&harness), largest);
    assert!(
        harness.query_by_label("Nats-Msg-Id").is_some(),
        "the header-key column is drawn"
    );
    assert!(
        harness.query_by_label("size ▾").is_some(),
        "the size column shows the sort"
    );
    assert!(harness
        .query_by_label("sorted by size descending")
        .is_some());

    // Back to sequence order: that is remembered too (as no sort).
    harness.get_by_label("Sequence order").click();
    harness.step();
    harness.step();
    assert_eq!(harness.state().settings.message_sort, None);
    assert_eq!(harness.state().settings.header_columns, vec!["Nats-Msg-Id"]);
}

#[test]
fn settings_stored_by_an_older_version_still_load() {
    // What the previous version wrote: theme and last folder only.
    let mut storage = MemoryStorage::default();
    eframe::Storage::set_string(
        &mut storage,
        "jsbackup.settings",
        "(dark_theme:Some(false),last_folder:Some(\"/data/backups\"))".to_string(),
    );
    let loaded = jsbackup::ui::load_settings(&storage);
    assert_eq!(loaded.dark_theme, Some(false));
    assert_eq!(
        loaded.last_folder.as_deref(),
        Some(std::path::Path::new("/data/backups"))
    );
    assert!(loaded.header_columns.is_empty());
    assert_eq!(loaded.message_sort, None);
    // A column label no version has is ignored, not an error.
    let stored = Settings {
        message_sort: Some(jsbackup::ui::app::MessageSort {
            column: "no-such-column".into(),
            descending: true,
        }),
        ..Settings::default()
    };
    jsbackup::ui::save_settings(&stored, &mut storage);
    let loaded = jsbackup::ui::load_settings(&storage);
    assert_eq!(
        loaded.message_sort.as_ref().and_then(|sort| sort.order()),
        None
    );
}
