//! Headless tests of the desktop app with egui_kittest: the real `App` state,
//! real fixtures, real worker threads (polled with `step()` and a deadline).

use egui::accesskit::Role;
use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use jsbackup::ui::{App, OpenSource, Pane};
use serde_json::Value;
use std::path::PathBuf;
use std::time::{Duration, Instant};

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

fn harness(app: App) -> Harness<'static, App> {
    Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .allow_missing_glyphs()
        .build_ui_state(|ui, app: &mut App| app.show(ui), app)
}

/// Steps until every document is indexed and filtered (workers run on real threads).
fn wait_settled(harness: &mut Harness<'static, App>) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        harness.step();
        let app = harness.state();
        let loaded = !app.documents.is_empty()
            && app
                .documents
                .iter()
                .all(|d| d.backup.is_some() || d.error.is_some() || d.account_streams.is_some());
        if loaded && app.is_settled() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the app did not settle within 60 s"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    harness.step();
    harness.step();
}

fn open(path: PathBuf, reference_ns: Option<i64>) -> Harness<'static, App> {
    let mut app = App::default();
    app.default_reference_ns = reference_ns;
    app.open(OpenSource::Path(path));
    let mut harness = harness(app);
    wait_settled(&mut harness);
    harness
}

fn show_pane(harness: &mut Harness<'static, App>, pane: Pane) {
    harness.get_by_label(pane.label()).click();
    harness.step();
    harness.step();
    assert_eq!(
        harness.state().active_document().map(|d| d.pane),
        Some(pane)
    );
}

#[test]
fn consumers_pane_lists_consumers_with_expected_positions() {
    let expected = expected("v2/orders");
    let mut harness = open(fixture("v2/orders"), None);
    show_pane(&mut harness, Pane::Consumers);
    let consumers = expected["consumers"].as_array().unwrap();
    assert!(harness
        .query_by_label_contains(&format!("{} consumers", consumers.len()))
        .is_some());
    for consumer in consumers {
        let name = consumer["name"].as_str().unwrap();
        harness.get_all_by_label(name).next().unwrap().click();
        harness.step();
        harness.step();
        let delivered = consumer["delivered"]["stream_seq"].as_u64().unwrap();
        let ack_floor = consumer["ack_floor"]["stream_seq"].as_u64().unwrap();
        assert!(
            harness
                .query_by_label_contains(&format!("delivered: stream_seq {delivered},"))
                .is_some(),
            "{name}: delivered stream_seq {delivered} not shown"
        );
        assert!(
            harness
                .query_by_label_contains(&format!("ack floor: stream_seq {ack_floor},"))
                .is_some(),
            "{name}: ack floor stream_seq {ack_floor} not shown"
        );
        let pending = consumer["num_ack_pending"].as_u64().unwrap();
        assert!(harness
            .query_by_label_contains(&format!("Pending acks ({pending})"))
            .is_some());
    }
}

#[test]
fn messages_pane_filters_by_subject() {
    let expected = expected("v2/orders");
    let (subject, count) = expected["subjects"]
        .as_object()
        .unwrap()
        .iter()
        .next()
        .map(|(subject, count)| (subject.clone(), count.as_u64().unwrap()))
        .unwrap();
    let total = expected["state"]["messages"].as_u64().unwrap();
    let mut harness = open(fixture("v2/orders"), None);
    show_pane(&mut harness, Pane::Messages);
    let total_text = jsbackup::ui::widgets::count(total);
    assert!(harness
        .query_by_label(&format!("{total_text} of {total_text} messages"))
        .is_some());
    let field = harness.get_by_role_and_label(Role::TextInput, "subject");
    field.focus();
    field.type_text(&subject);
    wait_settled(&mut harness);
    let label = format!(
        "{} of {total_text} messages",
        jsbackup::ui::widgets::count(count)
    );
    assert!(
        harness.query_by_label(&label).is_some(),
        "expected '{label}' after filtering on {subject}"
    );
    // Ctrl+G focuses "go to seq"; Ctrl+F the subject filter.
    harness.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::G);
    harness.step();
    harness.step();
    assert!(harness
        .get_by_role_and_label(Role::TextInput, "go to seq")
        .is_focused());
    harness.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::F);
    harness.step();
    harness.step();
    assert!(harness
        .get_by_role_and_label(Role::TextInput, "subject")
        .is_focused());
    // Select the first row: the detail view reads it through the reader thread.
    harness
        .state_mut()
        .active_document_mut()
        .unwrap()
        .select_row(0);
    let deadline = Instant::now() + Duration::from_secs(20);
    while harness
        .state()
        .active_document()
        .unwrap()
        .messages
        .detail
        .is_none()
    {
        harness.step();
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(5));
    }
    harness.step();
    let detail = harness
        .state()
        .active_document()
        .unwrap()
        .messages
        .detail
        .as_ref()
        .unwrap();
    assert!(detail.is_ok(), "{:?}", detail.as_ref().err());
}

#[test]
fn ttl_banner_counts_messages_expired_a_day_after_the_snapshot() {
    let expected = expected("v1/ttl");
    let snapshot = expected["ttl"]["snapshot_time"].as_str().unwrap();
    let reference_ns =
        jsbackup::util::time::parse_rfc3339_ns(snapshot).unwrap() + 86_400 * 1_000_000_000;
    let want = expected["ttl"]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|message| {
            let Some(ttl) = message["ttl_seconds"].as_i64() else {
                return false;
            };
            let stored =
                jsbackup::util::time::parse_rfc3339_ns(message["stored_at"].as_str().unwrap())
                    .unwrap();
            ttl > 0 && stored + ttl * 1_000_000_000 < reference_ns
        })
        .count() as u64;
    assert!(
        want > 0,
        "the fixture should have messages expired a day later"
    );
    let mut harness = open(fixture("v1/ttl"), Some(reference_ns));
    let banner = jsbackup::ui::widgets::ttl_banner_text(want, false, reference_ns);
    assert!(
        harness.query_by_label(&banner).is_some(),
        "banner '{banner}' not shown"
    );
    // "only expired" in Messages shows the same number.
    show_pane(&mut harness, Pane::Messages);
    harness.get_by_label("only expired").click();
    wait_settled(&mut harness);
    let total = expected["state"]["messages"].as_u64().unwrap();
    assert!(harness
        .query_by_label(&format!("{want} of {total} messages"))
        .is_some());
    assert!(harness.query_all_by_label("EXPIRED").count() as u64 >= want.min(1));
}

#[test]
fn corrupt_backups_show_findings_without_panicking() {
    let mut directories: Vec<PathBuf> = std::fs::read_dir(fixture("corrupt"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_dir())
        .collect();
    directories.sort();
    assert!(!directories.is_empty());
    for directory in directories {
        let mut harness = open(directory.clone(), None);
        let findings = harness.state().active_document().unwrap().findings_count();
        assert!(findings > 0, "{}: no findings", directory.display());
        show_pane(&mut harness, Pane::Findings);
        assert!(
            harness
                .query_all_by_label_contains(&format!("{findings} finding"))
                .count()
                > 0,
            "{}: findings count not shown",
            directory.display()
        );
        // Every pane draws without panicking on damaged data.
        for pane in [Pane::Overview, Pane::Consumers, Pane::Messages] {
            show_pane(&mut harness, pane);
        }
    }
}

#[test]
fn welcome_screen_opens_a_typed_path_and_the_sample() {
    let mut harness = harness(App::default());
    harness.step();
    assert!(harness.query_by_label("Open the sample backup").is_some());
    let field = harness.get_by_role_and_label(Role::TextInput, "Path:");
    field.focus();
    field.type_text(fixture("v1/orders").to_str().unwrap());
    harness.step();
    harness.get_by_label("Open").click();
    wait_settled(&mut harness);
    assert_eq!(harness.state().documents.len(), 1);
    let expected = expected("v1/orders");
    let backup = harness.state().documents[0].backup.clone().unwrap();
    assert_eq!(
        backup.messages.len() as u64,
        expected["state"]["messages"].as_u64().unwrap()
    );

    let mut harness = self::harness(App::default());
    harness.step();
    harness.get_by_label("Open the sample backup").click();
    wait_settled(&mut harness);
    let document = harness.state().active_document().unwrap();
    assert_eq!(document.title, "ORDERS");
    assert!(document.error.is_none(), "{:?}", document.error);
    harness.get_by_label("Help").click();
    harness.step();
    harness.step();
    harness.step();
    harness.get_by_label("About jsbackup").click();
    for _ in 0..4 {
        harness.step();
    }
    assert!(harness
        .query_by_label(&format!("jsbackup {}", env!("CARGO_PKG_VERSION")))
        .is_some());
}

#[test]
fn empty_backups_open_cleanly() {
    for relative in ["v1/empty", "v2/empty"] {
        let mut harness = open(fixture(relative), None);
        for pane in [
            Pane::Consumers,
            Pane::Messages,
            Pane::Findings,
            Pane::Overview,
        ] {
            show_pane(&mut harness, pane);
        }
        assert_eq!(
            harness.state().active_document().unwrap().findings_count() > 0,
            harness
                .state()
                .active_document()
                .unwrap()
                .backup
                .as_ref()
                .unwrap()
                .has_errors()
                || harness.state().active_document().unwrap().findings_count() > 0
        );
    }
}

#[test]
fn account_backup_directory_lists_streams_that_open() {
    let root = std::env::temp_dir().join(format!("jsbackup-ui-account-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    for (name, source) in [("ORDERS", "v2/orders"), ("SESSIONS", "v1/ttl")] {
        let directory = root.join(name);
        std::fs::create_dir_all(&directory).unwrap();
        for file in ["backup.json", "stream.tar.s2"] {
            std::fs::copy(fixture(source).join(file), directory.join(file)).unwrap();
        }
    }
    let mut harness = open(root.clone(), None);
    assert!(harness.query_by_label("Account backup").is_some());
    assert_eq!(
        harness.state().documents[0]
            .account_streams
            .as_ref()
            .map(Vec::len),
        Some(2)
    );
    harness.get_all_by_label("Open").next().unwrap().click();
    wait_settled(&mut harness);
    assert_eq!(harness.state().documents.len(), 2);
    assert_eq!(harness.state().active_document().unwrap().title, "ORDERS");
    // A finding's "show" selects its message in the Messages pane.
    let seq = harness
        .state()
        .active_document()
        .unwrap()
        .backup
        .as_ref()
        .unwrap()
        .state
        .last_seq;
    harness
        .state_mut()
        .open(OpenSource::Path(fixture("v2/orders")));
    wait_settled(&mut harness);
    show_pane(&mut harness, Pane::Messages);
    let field = harness.get_by_role_and_label(Role::TextInput, "go to seq");
    field.focus();
    field.type_text(&seq.to_string());
    harness.key_press(egui::Key::Enter);
    harness.step();
    harness.step();
    let document = harness.state().active_document().unwrap();
    let backup = document.backup.clone().unwrap();
    assert_eq!(
        document
            .messages
            .selected_row
            .map(|row| backup.messages.seq[row]),
        Some(seq)
    );
    let _ = std::fs::remove_dir_all(&root);
}

/// Needs a big archive (`make_fixtures.py --big 1000000 --big-out target/big`):
/// `cargo test --test ui_app -- --ignored big`.
#[test]
#[ignore]
fn big_backup_shows_rows_and_progress_while_indexing() {
    let path = std::env::var_os("JSBACKUP_BIG")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/target/big/v2/big"))
        });
    let mut app = App::default();
    app.open(OpenSource::Path(path));
    let mut harness = harness(app);
    let deadline = Instant::now() + Duration::from_secs(120);
    // Wait for the first partial model (the left list grows a line then).
    while harness
        .state()
        .active_document()
        .is_none_or(|d| d.backup.is_none())
    {
        harness.step();
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(5));
    }
    harness.step();
    show_pane(&mut harness, Pane::Messages);
    let mut saw_partial = false;
    let mut saw_progress = false;
    while harness.state().active_document().unwrap().is_indexing() {
        harness.step();
        let document = harness.state().active_document().unwrap();
        if document.is_indexing() {
            saw_partial |= document
                .backup
                .as_ref()
                .is_some_and(|backup| !backup.messages.is_empty());
            saw_progress |= harness.query_by_label_contains("msgs ·").is_some();
        }
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(saw_partial, "no rows were shown while indexing");
    assert!(saw_progress, "no progress was shown while indexing");
    wait_settled(&mut harness);
    let total = harness
        .state()
        .active_document()
        .unwrap()
        .backup
        .as_ref()
        .unwrap()
        .messages
        .len();
    assert!(harness
        .query_by_label(&format!(
            "{0} of {0} messages",
            jsbackup::ui::widgets::count(total as u64)
        ))
        .is_some());
}

#[test]
fn filter_worker_applies_header_payload_seq_and_exclude_filters() {
    use jsbackup::format::headers::flags;
    use jsbackup::ui::filter::{run, FilterSpec};
    use std::sync::atomic::AtomicBool;
    let expected = expected("v2/orders");
    let backup = jsbackup::ops::scan::open_backup(
        &fixture("v2/orders"),
        &mut jsbackup::ops::scan::ScanControl::default(),
    )
    .unwrap();
    let cancel = AtomicBool::new(false);
    let count = |spec: FilterSpec| run(&backup, &spec, 0, &cancel).unwrap().message_count;
    let subjects = expected["subjects"].as_object().unwrap();
    let eu: u64 = subjects
        .iter()
        .filter(|(subject, _)| subject.ends_with(".eu"))
        .map(|(_, count)| count.as_u64().unwrap())
        .sum();
    let total = expected["state"]["messages"].as_u64().unwrap() as usize;
    // Subject wildcards, include and exclude.
    assert_eq!(
        count(FilterSpec {
            subject_include: "orders.*.eu".into(),
            ..Default::default()
        }) as u64,
        eu
    );
    assert_eq!(
        count(FilterSpec {
            subject_exclude: "orders.*.eu".into(),
            ..Default::default()
        }),
        total - eu as usize
    );
    // Header present: the index flags messages carrying Nats-Msg-Id.
    let with_msg_id = backup.messages.count_flagged(flags::MSG_ID);
    assert!(with_msg_id > 0);
    assert_eq!(
        count(FilterSpec {
            header: "Nats-Msg-Id".into(),
            ..Default::default()
        }),
        with_msg_id
    );
    // Sequence range: rows between the bounds.
    let rows = backup
        .messages
        .seq
        .iter()
        .filter(|&&seq| (100..=200).contains(&seq))
        .count();
    assert_eq!(
        count(FilterSpec {
            seq_from: "100".into(),
            seq_to: "200".into(),
            ..Default::default()
        }),
        rows
    );
    // Payload regex matching every message, and one that matches none.
    assert_eq!(
        count(FilterSpec {
            payload: "order_id".into(),
            ..Default::default()
        }),
        total
    );
    assert_eq!(
        count(FilterSpec {
            payload: r#""region":\s*"nowhere""#.into(),
            payload_regex: true,
            ..Default::default()
        }),
        0
    );
    // Bad input is an error for the filter row, not a panic.
    assert!(run(
        &backup,
        &FilterSpec {
            payload: "(".into(),
            payload_regex: true,
            ..Default::default()
        },
        0,
        &cancel
    )
    .is_err());
    assert!(run(
        &backup,
        &FilterSpec {
            seq_from: "abc".into(),
            ..Default::default()
        },
        0,
        &cancel
    )
    .is_err());
}

/// Steps until `done(app)` holds or 60 s pass.
fn step_until(harness: &mut Harness<'static, App>, what: &str, done: impl Fn(&App) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done(harness.state()) {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        harness.step();
        std::thread::sleep(Duration::from_millis(5));
    }
    harness.step();
    harness.step();
}

#[test]
fn built_in_file_browser_opens_a_fixture_folder() {
    let expected = expected("v2/orders");
    let mut app = App::default();
    app.settings.last_folder = Some(fixture("v2"));
    let mut harness = harness(app);
    harness.step();
    harness.key_press_modifiers(
        egui::Modifiers::COMMAND.plus(egui::Modifiers::SHIFT),
        egui::Key::O,
    );
    step_until(&mut harness, "the folder listing", |app| {
        matches!(app.visible_dialog(), Some(jsbackup::ui::Dialog::FileBrowser(browser))
            if matches!(browser.entries, Some(Ok(_))))
    });
    assert!(
        harness
            .query_by_label_contains("waiting for the file dialog")
            .is_none(),
        "Ctrl+Shift+O is the built-in browser only, not also Ctrl+O"
    );
    harness.get_by_label("orders/").click();
    step_until(&mut harness, "the orders listing", |app| {
        matches!(app.visible_dialog(), Some(jsbackup::ui::Dialog::FileBrowser(browser))
            if browser.dir.ends_with("orders") && matches!(browser.entries, Some(Ok(_))))
    });
    assert!(harness.query_by_label("backup.json").is_some());
    harness.get_by_label("Open this folder").click();
    wait_settled(&mut harness);
    let app = harness.state();
    assert!(app.dialog.is_none(), "opening closes the browser");
    let backup = app.active_document().unwrap().backup.clone().unwrap();
    assert_eq!(
        backup.messages.len() as u64,
        expected["state"]["messages"].as_u64().unwrap()
    );
}

#[test]
fn copy_toast_names_what_was_copied() {
    let expected = expected("v2/orders");
    let first_seq = expected["state"]["first_seq"].as_u64().unwrap();
    let mut harness = open(fixture("v2/orders"), None);
    show_pane(&mut harness, Pane::Messages);
    let field = harness.get_by_role_and_label(Role::TextInput, "go to seq");
    field.focus();
    field.type_text(&first_seq.to_string());
    harness.key_press(egui::Key::Enter);
    step_until(&mut harness, "the message detail", |app| {
        app.active_document()
            .is_some_and(|d| matches!(d.messages.detail, Some(Ok(_))))
    });
    harness.get_by_label("Hex").click();
    harness.step();
    harness.get_by_label("Copy").click();
    harness.step();
    harness.step();
    assert_eq!(harness.state().toast_texts(), vec!["hex dump copied"]);
    harness.get_by_label("JSON").click();
    harness.step();
    harness.get_by_label("Copy").click();
    harness.step();
    harness.step();
    assert_eq!(
        harness.state().toast_texts(),
        vec!["hex dump copied", "payload (pretty JSON) copied"]
    );
}

/// The first live message after `ack_floor.stream_seq` that the consumer's filters
/// select: the first message it still owes (from expected.json's message rows).
fn first_owed_from_expected(expected: &Value, consumer: &Value) -> u64 {
    let floor = consumer["ack_floor"]["stream_seq"].as_u64().unwrap();
    let config = &consumer["config"];
    let mut filters: Vec<String> = config["filter_subjects"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|f| f.as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default();
    if let Some(filter) = config["filter_subject"].as_str() {
        filters.push(filter.to_string());
    }
    expected["messages"]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| (row[0].as_u64().unwrap(), row[1].as_str().unwrap()))
        .find(|(seq, subject)| {
            *seq > floor
                && (filters.is_empty()
                    || filters
                        .iter()
                        .any(|f| jsbackup::util::subject::subject_matches(f, subject)))
        })
        .map(|(seq, _)| seq)
        .unwrap()
}

#[test]
fn consumers_pane_shows_server_pending_sorts_and_jumps_to_first_owed_message() {
    let expected = expected("v2/orders");
    let mut harness = open(fixture("v2/orders"), None);
    show_pane(&mut harness, Pane::Consumers);
    let consumers = expected["consumers"].as_array().unwrap();
    for consumer in consumers {
        let name = consumer["name"].as_str().unwrap();
        let pending = jsbackup::ui::widgets::count(consumer["num_pending"].as_u64().unwrap());
        assert!(
            harness.query_by_label(&pending).is_some(),
            "{name}: pending {pending} not shown"
        );
    }
    // Sorting by pending (ascending) orders the rows by the server's num_pending.
    // (Auto-sized columns settle over a few frames; click where the header ends up.)
    for _ in 0..4 {
        harness.step();
    }
    harness.get_by_label("pending").click();
    harness.step();
    harness.step();
    let mut by_pending: Vec<(u64, &str)> = consumers
        .iter()
        .map(|c| {
            (
                c["num_pending"].as_u64().unwrap(),
                c["name"].as_str().unwrap(),
            )
        })
        .collect();
    by_pending.sort();
    let tops: Vec<f32> = by_pending
        .iter()
        .map(|(_, name)| harness.get_all_by_label(name).next().unwrap().rect().top())
        .collect();
    assert!(
        tops.windows(2).all(|pair| pair[0] < pair[1]),
        "rows not sorted by pending: {by_pending:?} at {tops:?}"
    );
    let processor = consumers.iter().find(|c| c["name"] == "processor").unwrap();
    // Its config: a tree with human durations, the indented raw JSON one click away.
    harness
        .get_all_by_label("processor")
        .next()
        .unwrap()
        .click();
    for _ in 0..4 {
        harness.step();
    }
    let ack_wait_ns = processor["config"]["ack_wait"].as_i64().unwrap();
    let human = jsbackup::model::Nanos(ack_wait_ns).to_string();
    assert!(
        harness.query_by_label(&human).is_some(),
        "ack_wait {ack_wait_ns} not shown as {human}"
    );
    harness.get_by_label("Raw JSON").click();
    harness.step();
    harness.step();
    let indented = format!("\n  \"ack_wait\": {ack_wait_ns},");
    assert!(
        harness
            .query_by(|node| node.value().is_some_and(|v| v.contains(&indented)))
            .is_some(),
        "raw JSON with {indented:?} not shown"
    );
    // Clicking processor's pending count shows the first message it still owes.
    let owed = first_owed_from_expected(&expected, processor);
    let pending = jsbackup::ui::widgets::count(processor["num_pending"].as_u64().unwrap());
    harness.get_by_label(&pending).click();
    wait_settled(&mut harness);
    let document = harness.state().active_document().unwrap();
    assert_eq!(document.pane, Pane::Messages);
    let backup = document.backup.clone().unwrap();
    let row = document.messages.selected_row.expect("a row selected");
    assert_eq!(backup.messages.seq[row], owed);
    // Its detail names processor as holding it unacknowledged (it is the message
    // right after the ack floor, so not acked), and not the consumers filtered away.
    let floor = processor["ack_floor"]["stream_seq"].as_u64().unwrap();
    assert_eq!(
        owed,
        floor + 1,
        "the scenario's first owed message follows the floor"
    );
    assert!(harness.query_by_label("ack pending:").is_some());
    assert!(harness.query_by_label_contains("processor").is_some());
    for consumer in consumers {
        let name = consumer["name"].as_str().unwrap();
        let subject = expected["messages"]["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r[0].as_u64() == Some(owed))
            .and_then(|r| r[1].as_str())
            .unwrap();
        let selected = consumer["config"]["filter_subject"]
            .as_str()
            .map(|f| jsbackup::util::subject::subject_matches(f, subject))
            .or_else(|| {
                consumer["config"]["filter_subjects"]
                    .as_array()
                    .map(|list| {
                        list.iter().any(|f| {
                            jsbackup::util::subject::subject_matches(f.as_str().unwrap(), subject)
                        })
                    })
            })
            .unwrap_or(true);
        if !selected {
            assert!(
                harness.query_by_label_contains(name).is_none(),
                "{name} does not select {subject} but is listed"
            );
        }
    }
}

#[test]
fn consumers_pane_filters_messages_to_what_a_consumer_was_not_delivered() {
    let expected = expected("v2/orders");
    let total = jsbackup::ui::widgets::count(expected["state"]["messages"].as_u64().unwrap());
    for consumer in expected["consumers"].as_array().unwrap() {
        let name = consumer["name"].as_str().unwrap();
        let pending = jsbackup::ui::widgets::count(consumer["num_pending"].as_u64().unwrap());
        let mut harness = open(fixture("v2/orders"), None);
        show_pane(&mut harness, Pane::Consumers);
        harness.get_all_by_label(name).next().unwrap().click();
        // Let the detail panel's layout settle before clicking inside it.
        for _ in 0..4 {
            harness.step();
        }
        harness
            .get_by_label(&format!("Show the {pending} undelivered in Messages"))
            .click();
        wait_settled(&mut harness);
        assert_eq!(
            harness.state().active_document().map(|d| d.pane),
            Some(Pane::Messages)
        );
        let label = format!("{pending} of {total} messages");
        assert!(
            harness.query_by_label(&label).is_some(),
            "{name}: expected '{label}'"
        );
    }
}
