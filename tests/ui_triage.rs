//! The app with inputs that are not backups (no document, not in Recent, a
//! message saying what was found) and the Findings pane's explanations.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is a failed test

use egui_kittest::kittest::{NodeT, Queryable};
use egui_kittest::Harness;
use jsbackup::ui::{App, OpenSource, Pane};
use std::path::PathBuf;
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

/// Steps until `done` holds (workers run on real threads), at most 60 s.
fn step_until(
    harness: &mut Harness<'static, App>,
    mut done: impl FnMut(&Harness<'static, App>) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done(harness) {
        assert!(
            Instant::now() < deadline,
            "the app did not get there within 60 s"
        );
        harness.step();
        std::thread::sleep(Duration::from_millis(5));
    }
    harness.step();
    harness.step();
}

fn scratch_file(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("jsbackup-ui-triage-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write scratch file");
    path
}

fn random_bytes(len: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 32) as u8
        })
        .collect()
}

#[test]
fn a_random_file_shows_not_a_backup_and_opens_no_document() {
    let random = scratch_file("random.bin", &random_bytes(16 * 1024));
    let missing = random.with_file_name("mistyped-path");
    for path in [random, missing] {
        let mut app = App::default();
        app.open(OpenSource::Path(path.clone()));
        let mut harness = harness(app);
        // The document exists while its worker looks at the file, then closes.
        step_until(&mut harness, |h| h.state().documents.is_empty());
        let needle = if path.exists() {
            "not a NATS stream backup ("
        } else {
            "no such file or directory"
        };
        step_until(&mut harness, |h| {
            h.query_all_by_label_contains(needle).count() > 0
        });
        let app = harness.state();
        assert!(app.documents.is_empty(), "{}", path.display());
        assert!(
            app.recent.is_empty(),
            "{}: in Recent: {:?}",
            path.display(),
            app.recent
        );
    }
    // A real backup still opens and goes into Recent.
    let orders = fixture("v2/orders");
    let mut app = App::default();
    app.open(OpenSource::Path(orders.clone()));
    let mut harness = harness(app);
    step_until(&mut harness, |h| {
        h.state()
            .documents
            .first()
            .is_some_and(|d| d.backup.is_some() && !d.is_indexing())
    });
    assert_eq!(harness.state().documents.len(), 1);
    assert_eq!(harness.state().recent, vec![orders]);
}

#[test]
fn findings_pane_explains_each_finding_and_predicts_the_restore() {
    let mut harness = opened("corrupt/v1-blk-payload-flip");
    harness.get_by_label(Pane::Findings.label()).click();
    step_until(&mut harness, |h| {
        h.state()
            .active_document()
            .is_some_and(|d| d.pane == Pane::Findings)
    });
    assert!(harness.query_by_label("Save report…").is_some());
    assert!(
        harness
            .query_all_by_label_contains("Restore with nats-server 2.14 and 2.15")
            .count()
            > 0
    );
    assert!(
        harness
            .query_all_by_label_contains("no message found")
            .count()
            > 0
    );
    // One impact line and one next step per finding (4 in this fixture).
    let findings = harness
        .state()
        .active_document()
        .map_or(0, |d| d.findings_count());
    assert_eq!(harness.query_all_by_label("Impact:").count(), findings);
    assert_eq!(harness.query_all_by_label("Next step:").count(), findings);
    assert!(
        harness
            .query_all_by_label_contains("subject orders.paid.us")
            .count()
            > 0
    );
    // "Save report…" builds the report on a worker; the UI thread only polls it.
    harness.get_by_label("Save report…").click();
    harness.step();
    assert!(harness
        .state()
        .active_document()
        .is_some_and(|d| d.report_job.is_some()));
    step_until(&mut harness, |h| {
        h.state()
            .active_document()
            .is_some_and(|d| d.report_job.is_none())
    });
    assert_eq!(
        harness
            .query_all_by_label_contains("cannot build the report")
            .count(),
        0
    );
}

#[test]
fn salvage_dialog_keeps_the_source_format_and_says_what_it_keeps_first() {
    let mut harness = opened("corrupt/v1-blk-payload-flip");
    harness.get_by_label("Save salvaged copy…").click();
    step_until(&mut harness, |h| {
        h.state()
            .salvage_dialog()
            .is_some_and(|dialog| dialog.preflight.is_some())
    });
    let dialog = harness.state().salvage_dialog().expect("dialog");
    assert_eq!(dialog.format, jsbackup::model::ArchiveFormat::V1);
    assert!(dialog.result.is_none(), "nothing written yet");
    // expected.json: 1,674 messages, seq 1000 damaged.
    assert!(
        harness
            .query_by_label("Will keep 1,673 of 1,674 messages")
            .is_some(),
        "the plan is shown before saving"
    );
}

/// An archive cut inside its first S2 chunk is a damaged backup in which nothing
/// decodes: the document stays open with its finding, says there is nothing to
/// salvage, and offers no salvage (the CLI refuses one too).
#[test]
fn an_archive_with_nothing_decodable_offers_no_salvage() {
    let source = fixture("v2/orders");
    let bytes = std::fs::read(source.join("stream.tar.s2")).expect("read fixture");
    // The stream identifier (10 bytes), the first chunk's header, half its body.
    let len = usize::from(bytes[11]) | usize::from(bytes[12]) << 8 | usize::from(bytes[13]) << 16;
    let dir = scratch_file("placeholder", b"").with_file_name("cut-in-first-chunk");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("stream.tar.s2"), &bytes[..14 + len / 2]).expect("write cut");
    std::fs::copy(source.join("backup.json"), dir.join("backup.json")).expect("copy");
    let mut app = App::default();
    app.open(OpenSource::Path(dir.clone()));
    let mut harness = harness(app);
    step_until(&mut harness, |h| {
        h.query_all_by_label_contains(
            "nothing in the file can be decoded, so there is nothing to salvage",
        )
        .count()
            > 0
    });
    assert_eq!(harness.state().documents.len(), 1);
    assert!(harness.query_by_label("Save salvaged copy…").is_none());
    assert!(
        harness
            .query_all_by_label_contains("the last chunk is incomplete")
            .count()
            > 0
    );
}

/// The banner leads with the damage at the root: in `corrupt/v2-crc-mismatch` the
/// S2 chunk's CRC failure, not the sentinel the scan read out of that chunk (the
/// first finding in scan order).
#[test]
fn the_banner_leads_with_the_failed_chunk() {
    let expected: serde_json::Value = serde_json::from_slice(
        &std::fs::read(fixture("corrupt/v2-crc-mismatch").join("expected.json")).expect("read"),
    )
    .expect("expected.json");
    let chunk_offset = expected["damage"]["s2_chunk_offset"]
        .as_u64()
        .expect("s2_chunk_offset");
    let mut app = App::default();
    app.open(OpenSource::Path(fixture("corrupt/v2-crc-mismatch")));
    let mut harness = harness(app);
    step_until(&mut harness, |h| {
        h.state()
            .documents
            .first()
            .is_some_and(|d| d.backup.is_some() && h.state().is_settled())
    });
    let lead = format!("S2 CRC mismatch in the chunk at file offset {chunk_offset} ");
    assert!(
        harness.query_by_label_contains(&lead).is_some(),
        "the banner should lead with {lead:?}"
    );
}

/// The app with the fixture at `relative` open and its summary computed.
fn opened(relative: &str) -> Harness<'static, App> {
    let mut app = App::default();
    app.open(OpenSource::Path(fixture(relative)));
    let mut harness = harness(app);
    step_until(&mut harness, |h| {
        h.state()
            .documents
            .first()
            .is_some_and(|d| d.summary.is_some() && h.state().is_settled())
    });
    harness
}

/// The Overview's "after a restore" column is what the messages read settle to; on
/// an archive nats-server refuses, the pane says so beside it, with the server's
/// error as the fixture's real restore recorded it.
#[test]
fn the_overview_says_when_the_server_refuses_the_archive() {
    let expected: serde_json::Value = serde_json::from_slice(
        &std::fs::read(fixture("corrupt/v2-crc-mismatch").join("expected.json")).expect("read"),
    )
    .expect("expected.json");
    let restore = &expected["server_restore"]["2.15.1"];
    assert_eq!(restore["ok"], false, "the fixture's restore failed");
    let description = restore["error"]["description"].as_str().expect("error");
    // "restore failed: s2: corrupt input, crc mismatch": the prediction words the cause.
    let cause = description
        .strip_prefix("restore failed: ")
        .and_then(|rest| rest.split(',').next())
        .expect("cause");
    let harness = opened("corrupt/v2-crc-mismatch");
    let line = harness
        .query_all_by_label_contains("A restore of this archive with nats-server 2.15")
        .next()
        .and_then(|node| node.accesskit_node().value())
        .expect("the Overview names the server's answer");
    assert!(line.contains("fails"), "{line}");
    assert!(line.contains(cause), "{cause} not in {line}");

    // An intact archive gets no such line.
    let harness = opened("v2/orders");
    assert!(harness.query_by_label("after a restore").is_some());
    assert_eq!(
        harness
            .query_all_by_label_contains("A restore of this archive with nats-server")
            .count(),
        0
    );
}
