//! The Messages pane's filter language driven through the real `App` with
//! egui_kittest: an expression typed into the `where` field filters the table to
//! the count the ops engine (and `jsbackup messages --where`) gives, the Export
//! dialog opened from the pane keeps exactly that count, and a parse error is
//! shown under the offending token.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is a failed test

use egui::accesskit::Role;
use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use jsbackup::ops::filter::FilterSpec;
use jsbackup::ui::{App, OpenSource, Pane};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

fn fixture(relative: &str) -> PathBuf {
    std::env::var_os("JSBACKUP_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared")))
        .join("fixtures")
        .join(relative)
}

fn harness(app: App) -> Harness<'static, App> {
    Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .allow_missing_glyphs()
        .build_ui_state(|ui, app: &mut App| app.show(ui), app)
}

/// Steps until `done` holds (workers run on real threads), with a deadline.
fn step_until(
    harness: &mut Harness<'static, App>,
    what: &str,
    done: impl Fn(&Harness<'static, App>) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        harness.step();
        if done(harness) {
            break;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
    harness.step();
    harness.step();
}

fn settled(harness: &Harness<'static, App>) -> bool {
    let app = harness.state();
    !app.documents.is_empty()
        && app.documents.iter().all(|d| d.backup.is_some())
        && app.is_settled()
}

fn type_where(harness: &mut Harness<'static, App>, text: &str) {
    let field = harness.get_by_role_and_label(Role::TextInput, "where");
    field.focus();
    harness.step();
    harness.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    harness.step();
    harness
        .get_by_role_and_label(Role::TextInput, "where")
        .type_text(text);
    harness.step();
    step_until(harness, "the filter to finish", settled);
}

#[test]
fn where_field_filters_like_the_engine_and_the_export_dialog_keeps_the_same_count() {
    let path = fixture("v2/orders");
    let backup =
        jsbackup::ops::scan::open_backup(&path, &mut jsbackup::ops::scan::ScanControl::default())
            .expect("open");
    let total = backup.messages.len();
    // A threshold from the data so the expression keeps some messages, not all.
    let mut sizes: Vec<u64> = (0..total)
        .filter_map(|row| backup.messages.row(row))
        .map(|message| u64::from(message.hdr_len) + u64::from(message.data_len))
        .collect();
    sizes.sort_unstable();
    let threshold = sizes[sizes.len() / 3];
    let expression =
        format!(r#"subject ~ "orders.*.eu" and size > {threshold} and header("Nats-Msg-Id")"#);
    let want = jsbackup::ops::filter::run(
        &backup,
        &FilterSpec {
            expression: expression.clone(),
            ..FilterSpec::default()
        },
        0,
        &AtomicBool::new(false),
    )
    .expect("filter")
    .message_count;
    assert!(want > 0 && want < total, "{want} of {total}");

    let mut app = App::default();
    app.open(OpenSource::Path(path));
    let mut harness = harness(app);
    step_until(&mut harness, "the backup to be indexed", settled);
    harness.get_by_label(Pane::Messages.label()).click();
    harness.step();
    harness.step();
    type_where(&mut harness, &expression);
    let count = jsbackup::ui::widgets::count;
    let label = format!("{} of {} messages", count(want as u64), count(total as u64));
    assert!(
        harness.query_by_label(&label).is_some(),
        "expected '{label}' after where {expression}"
    );
    harness.key_press(egui::Key::Enter);
    harness.step();

    // The Export dialog from the pane applies exactly this filter: the same count.
    harness.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::E);
    let keep = format!(
        "Will keep {} of {} messages",
        count(want as u64),
        count(total as u64)
    );
    step_until(&mut harness, "the Export dialog's dry run", |harness| {
        harness.query_by_label_contains(&keep).is_some()
    });
    assert!(harness
        .query_by_label_contains("Also from the Messages pane:")
        .is_some());
}

#[test]
fn where_error_is_shown_under_the_offending_token() {
    let mut app = App::default();
    app.open(OpenSource::Path(fixture("v2/orders")));
    let mut harness = harness(app);
    step_until(&mut harness, "the backup to be indexed", settled);
    harness.get_by_label(Pane::Messages.label()).click();
    harness.step();
    harness.step();
    let text = r#"subject ~ "orders.*.eu" and sise > 1k"#;
    type_where(&mut harness, text);
    let offset = text.find("sise").expect("token");
    let line = format!("at \"sise\" (column {})", offset + 1);
    assert!(harness
        .query_by_label_contains("unknown test 'sise'")
        .is_some());
    assert!(
        harness.query_by_label_contains(&line).is_some(),
        "no error line naming the token: '{line}'"
    );
    // The table keeps its last good list; the error names no other field.
    let error = harness
        .state()
        .active_document()
        .and_then(|document| document.messages.filter_error.clone())
        .expect("a filter error");
    assert_eq!(error.span, Some(offset..offset + 4));
}

#[test]
fn saved_filters_are_kept_per_stream_in_the_file_and_applied_from_the_list() {
    let dir = std::env::temp_dir().join(format!(
        "jsbackup-ui-saved-{}-{}",
        std::process::id(),
        jsbackup::util::time::now_ns()
    ));
    let file = dir.join("saved-filters.json");
    let path = fixture("v2/orders");
    let backup =
        jsbackup::ops::scan::open_backup(&path, &mut jsbackup::ops::scan::ScanControl::default())
            .expect("open");
    let stream = backup.stream_name.clone();
    let first_seq = backup.messages.seq[0];
    // One expression saved by an earlier run, for this stream and for another.
    let earlier = format!("seq = {first_seq}");
    jsbackup::ops::filter::saved::store(
        &file,
        &jsbackup::ops::filter::saved::SavedFilters {
            streams: [
                (stream.clone(), vec![earlier.clone()]),
                ("OTHER".to_string(), vec!["damaged".to_string()]),
            ]
            .into_iter()
            .collect(),
        },
    )
    .expect("store");

    let mut app = App::default();
    app.open(OpenSource::Path(path));
    let mut harness = harness(app);
    step_until(&mut harness, "the backup to be indexed", settled);
    for document in &mut harness.state_mut().documents {
        document.messages.saved.path = Some(file.clone());
    }
    harness.get_by_label(Pane::Messages.label()).click();
    step_until(&mut harness, "the saved filters to load", |harness| {
        harness.state().active_document().is_some_and(|document| {
            document.messages.saved.loaded && document.messages.saved.job.is_none()
        })
    });
    // The earlier run's expression is offered under this stream and applies on click.
    let saved = harness.state().active_document().map(|document| {
        (
            document.messages.saved.list.clone(),
            document.messages.saved.error.clone(),
        )
    });
    assert_eq!(saved, Some((vec![earlier.clone()], None)));
    harness.get_by_role(Role::ComboBox).click();
    harness.step();
    harness.step();
    harness.get_by_label(&earlier).click();
    // The click submits the filter a frame or two later: wait for that list, not
    // merely for no job to run.
    let applied = |harness: &Harness<'static, App>| {
        settled(harness)
            && harness.state().active_document().is_some_and(|document| {
                document
                    .messages
                    .submitted
                    .as_ref()
                    .is_some_and(|(spec, _, _)| spec.expression == earlier)
            })
    };
    step_until(&mut harness, "the saved filter to be applied", applied);
    let total = jsbackup::ui::widgets::count(backup.messages.len() as u64);
    assert!(
        harness
            .query_by_label(&format!("1 of {total} messages"))
            .is_some(),
        "the saved expression {earlier:?} was not applied"
    );
    // Save a new one: the file keeps it first for this stream, the other stream untouched.
    type_where(&mut harness, "kv delete or damaged");
    harness.get_by_label("Save").click();
    step_until(&mut harness, "the save to finish", |harness| {
        harness
            .state()
            .active_document()
            .is_some_and(|document| document.messages.saved.job.is_none())
    });
    let stored = jsbackup::ops::filter::saved::load(&file).expect("load");
    assert_eq!(
        stored.streams[&stream],
        vec!["kv delete or damaged".to_string(), earlier]
    );
    assert_eq!(stored.streams["OTHER"], vec!["damaged".to_string()]);
    std::fs::remove_dir_all(&dir).expect("cleanup");
}
