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
