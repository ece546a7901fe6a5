//! v1 messages that may have been deleted: a real v1 archive with deletions
//! (fixture v1/kv: KV history trimming, which leaves no tombstone, and deletes,
//! which do) whose index.db the test destroys, so the records of some deletions
//! are lost. The scan must name exactly the sequences that `expected.json` says
//! were deleted and that come back; a salvage must refuse until told whether to
//! keep them, `--maybe-deleted drop` must leave them out and `keep` keep them, and
//! the salvaged archives must restore into a real nats-server 2.14.6 with the
//! expected message counts.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is a failed test

mod common;
use common::jsbackup;

use common::{expected, fixture, read_json, restore_via_api, NatsServer, TempDir};
use jsbackup::ops::scan::{open_backup, ScanControl};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// A copy of the fixture with the last `tail` bytes of tar member `member`
/// overwritten (all of them when `tail` is `None`; its tar header kept).
fn with_member_damaged(rel: &str, member: &str, tail: Option<usize>, out: &Path) {
    with_members_damaged(rel, &[(member, tail)], out);
}

/// The same for several members at once.
fn with_members_damaged(rel: &str, members: &[(&str, Option<usize>)], out: &Path) {
    let source = fixture(rel);
    let tar =
        common::s2::decompress(&std::fs::read(source.join("stream.tar.s2")).expect("archive"));
    let mut damaged = tar.clone();
    for &(member, tail) in members {
        let mut name = member.as_bytes().to_vec();
        name.push(0);
        let header = (0..tar.len() / 512)
            .map(|block| block * 512)
            .find(|&at| tar[at..].starts_with(&name))
            .unwrap_or_else(|| panic!("{rel}: no {member} member"));
        let size_field = std::str::from_utf8(&tar[header + 124..header + 135]).expect("size");
        let size = usize::from_str_radix(size_field.trim_matches(|c| c == '\0' || c == ' '), 8)
            .expect("octal size");
        assert!(size > 0, "{rel}: {member} is empty");
        let from = header + 512 + size - tail.unwrap_or(size).min(size);
        for (index, byte) in damaged[from..header + 512 + size].iter_mut().enumerate() {
            *byte = (index as u8).wrapping_mul(37) ^ 0x5a;
        }
    }
    std::fs::create_dir_all(out).expect("mkdir");
    std::fs::copy(source.join("backup.json"), out.join("backup.json")).expect("copy");
    std::fs::write(
        out.join("stream.tar.s2"),
        common::s2::uncompressed(&damaged),
    )
    .expect("write");
}

fn without_index_db(rel: &str, out: &Path) {
    with_member_damaged(rel, "msgs/index.db", None, out);
}

/// Live sequences per expected.json, and every other sequence up to last_seq (deleted).
fn expected_sets(rel: &str) -> (BTreeSet<u64>, BTreeSet<u64>, Value) {
    let exp = expected(rel);
    let live: BTreeSet<u64> = exp["messages"]["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|row| row[0].as_u64().expect("seq"))
        .collect();
    let last = exp["state"]["last_seq"].as_u64().expect("last_seq");
    let deleted = (1..=last).filter(|seq| !live.contains(seq)).collect();
    (live, deleted, exp)
}

fn seqs_of(dir: &Path) -> BTreeSet<u64> {
    let backup = open_backup(dir, &mut ScanControl::default()).expect("open");
    backup.messages.seq.iter().copied().collect()
}

#[test]
fn lost_index_db_names_exactly_the_deleted_messages_that_come_back() {
    let scratch = TempDir::new("maybe-deleted");
    let rel = "v1/kv";
    let damaged = scratch.join("kv-no-index");
    without_index_db(rel, &damaged);
    let (live, deleted, exp) = expected_sets(rel);

    // The undamaged fixture names nothing.
    let intact = open_backup(&fixture(rel), &mut ScanControl::default()).expect("open");
    assert!(
        intact.maybe_deleted.is_empty(),
        "{:?}",
        intact.maybe_deleted
    );

    let backup = open_backup(&damaged, &mut ScanControl::default()).expect("open damaged");
    let read: BTreeSet<u64> = backup.messages.seq.iter().copied().collect();
    let come_back: Vec<u64> = deleted.intersection(&read).copied().collect();
    assert!(
        !come_back.is_empty(),
        "no deleted message comes back: the test damages nothing that matters"
    );
    assert_eq!(
        backup.maybe_deleted, come_back,
        "the sequences named must be exactly the deleted ones that come back"
    );
    println!(
        "{rel}: {} deleted messages come back: {come_back:?}",
        come_back.len()
    );
    // Everything else read is live per the server.
    let others: BTreeSet<u64> = read.difference(&deleted).copied().collect();
    assert_eq!(others, live, "the rest of what is read is the live set");

    // verify --json carries the finding, naming each sequence.
    let verify = jsbackup(&["verify", damaged.to_str().unwrap(), "--json"]);
    let report: Value = serde_json::from_slice(&verify.stdout).expect("verify --json");
    let finding = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|finding| finding["kind"] == "maybe_deleted")
        .unwrap_or_else(|| panic!("no maybe_deleted finding: {report}"));
    let message = finding["message"].as_str().expect("message");
    assert!(message.contains("may have been deleted"), "{message}");
    for seq in &come_back {
        assert!(message.contains(&seq.to_string()), "{seq} in {message}");
    }

    // The salvage refuses without a choice.
    let refused = scratch.join("refused");
    let output = jsbackup(&[
        "export",
        damaged.to_str().unwrap(),
        refused.to_str().unwrap(),
        "--salvage",
    ]);
    assert!(
        !output.status.success(),
        "salvage without a choice succeeded"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--maybe-deleted"), "{stderr}");
    assert!(!refused.exists(), "nothing is written on refusal");

    let server = NatsServer::start("2.14", None);
    let mut conn = server.connect();
    let name = read_json(&damaged.join("backup.json"))["config"]["name"]
        .as_str()
        .expect("name")
        .to_string();
    let declared = exp["state"]["messages"].as_u64().expect("messages");
    for (choice, want) in [
        ("drop", live.clone()),
        ("keep", live.union(&read).copied().collect()),
    ] {
        let out = scratch.join(format!("salvaged-{choice}"));
        let output = jsbackup(&[
            "export",
            damaged.to_str().unwrap(),
            out.to_str().unwrap(),
            "--salvage",
            "--maybe-deleted",
            choice,
        ]);
        assert!(
            output.status.success(),
            "{choice}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(seqs_of(&out), want, "{choice}: salvaged sequences");
        restore_via_api(&mut conn, &out, &name)
            .unwrap_or_else(|error| panic!("{choice}: restore: {error}\n{}", server.log()));
        let info = conn.stream_info(&name);
        let messages = info["state"]["messages"].as_u64().expect("messages");
        // Both restore to the server's count: the messages that come back here
        // were trimmed by max_msgs_per_subject, and the restoring server applies
        // that limit again to what `keep` kept.
        assert!(
            exp["stream"]["config"]["max_msgs_per_subject"].as_i64() > Some(0),
            "the fixture trims by a per-subject limit"
        );
        assert_eq!(messages, declared, "{choice}: restored messages: {info}");
        assert_eq!(
            info["state"]["num_deleted"], exp["state"]["num_deleted"],
            "{choice}: restored deleted count: {info}"
        );
        conn.api_ok(&format!("$JS.API.STREAM.DELETE.{name}"), &json!({}));
    }
}

#[test]
fn lost_index_db_with_every_delete_tombstoned_names_nothing() {
    // v1/orders: every deletion left a tombstone, so losing index.db brings none back.
    let scratch = TempDir::new("maybe-deleted-orders");
    let rel = "v1/orders";
    let damaged = scratch.join("orders-no-index");
    without_index_db(rel, &damaged);
    let (live, _, _) = expected_sets(rel);
    let backup = open_backup(&damaged, &mut ScanControl::default()).expect("open damaged");
    assert!(
        backup.maybe_deleted.is_empty(),
        "{:?}",
        backup.maybe_deleted
    );
    let read: BTreeSet<u64> = backup.messages.seq.iter().copied().collect();
    assert_eq!(read, live, "the tombstones alone give the live set");
}

#[test]
fn tombstones_lost_with_the_end_of_a_block_are_named_from_the_untrusted_index() {
    // v1/orders: the end of msgs/1.blk (tombstones of the last purges among it) is
    // overwritten, so the server no longer trusts index.db (its last checksum) and
    // rebuilds from the blocks; the index's delete maps still say what was deleted.
    let scratch = TempDir::new("maybe-deleted-block-end");
    let rel = "v1/orders";
    let damaged = scratch.join("orders-block-end");
    with_member_damaged(rel, "msgs/1.blk", Some(4096), &damaged);
    let (live, deleted, _) = expected_sets(rel);
    let backup = open_backup(&damaged, &mut ScanControl::default()).expect("open damaged");
    let read: BTreeSet<u64> = backup.messages.seq.iter().copied().collect();
    let come_back: Vec<u64> = deleted.intersection(&read).copied().collect();
    assert!(
        !come_back.is_empty(),
        "no deleted message comes back: the test damages nothing that matters"
    );
    assert_eq!(backup.maybe_deleted, come_back, "named exactly");
    println!(
        "{rel}: {} deleted messages come back: {come_back:?}",
        come_back.len()
    );
    assert!(
        read.difference(&deleted).all(|seq| live.contains(seq)),
        "nothing else read is unexpected"
    );
}

/// Tombstones lost with the end of a block while index.db is lost too: the
/// deleted messages that come back cannot be named, only counted. Every one of
/// them must be among the candidates the finding gives, and the bound on how many
/// were deleted must hold (backup.json's deleted count less what the archive shows).
#[test]
fn tombstones_and_index_db_both_lost_are_counted_not_named() {
    let scratch = TempDir::new("maybe-deleted-unnamed");
    let rel = "v1/orders";
    let damaged = scratch.join("orders-block-end-no-index");
    with_members_damaged(
        rel,
        &[("msgs/1.blk", Some(4096)), ("msgs/index.db", None)],
        &damaged,
    );
    let (_, deleted, exp) = expected_sets(rel);
    let backup = open_backup(&damaged, &mut ScanControl::default()).expect("open damaged");
    let read: BTreeSet<u64> = backup.messages.seq.iter().copied().collect();
    let come_back: BTreeSet<u64> = deleted.intersection(&read).copied().collect();
    assert!(
        !come_back.is_empty(),
        "no deleted message comes back: the test damages nothing that matters"
    );
    let named: BTreeSet<u64> = backup.maybe_deleted.iter().copied().collect();
    assert!(
        named.is_subset(&deleted),
        "named but live per the server: {:?}",
        named.difference(&deleted).collect::<Vec<_>>()
    );
    let unnamed = backup
        .unnamed_deletes
        .clone()
        .unwrap_or_else(|| panic!("no unnamed deletes; named {named:?}"));
    let candidates: BTreeSet<u64> = read
        .iter()
        .copied()
        .filter(|seq| (unnamed.first_seq..=unnamed.last_seq).contains(seq) && !named.contains(seq))
        .collect();
    assert_eq!(candidates.len() as u64, unnamed.candidates, "{unnamed:?}");
    for seq in &come_back {
        assert!(
            named.contains(seq) || candidates.contains(seq),
            "deleted seq {seq} comes back neither named nor among the candidates {unnamed:?}"
        );
    }
    let unnamed_back = come_back.difference(&named).count() as u64;
    assert!(
        unnamed.at_most >= unnamed_back,
        "{unnamed:?}: {unnamed_back} come back unnamed"
    );
    assert_eq!(
        unnamed.declared_deleted,
        exp["state"]["num_deleted"].as_u64()
    );
    println!(
        "{rel}: {} come back ({} named), finding: at most {} of {} candidates",
        come_back.len(),
        come_back.intersection(&named).count(),
        unnamed.at_most,
        unnamed.candidates
    );
    let verify = jsbackup(&["verify", damaged.to_str().unwrap(), "--json"]);
    let report: Value = serde_json::from_slice(&verify.stdout).expect("verify --json");
    let text = report["findings"].to_string().to_lowercase();
    assert!(
        text.contains(&format!("up to {} of the", unnamed.at_most)),
        "the finding gives the bound: {text}"
    );
    assert_eq!(
        report["summary"]["maybe_deleted"]["unnamed"]["at_most"].as_u64(),
        Some(unnamed.at_most)
    );
    // The predicted restore says they come back.
    let prediction = report["restore_prediction"].to_string();
    assert!(
        prediction.contains(&format!(
            "and up to {} more may be messages the stream had deleted",
            unnamed.at_most
        )),
        "{prediction}"
    );
    // The banner over every pane says both.
    let banner = jsbackup::ui::salvage::damage_summary(&backup);
    assert!(
        banner.contains(&format!(
            "up to {} more may have been deleted",
            unnamed.at_most
        )) && banner.contains(&format!("{} may have been deleted", named.len())),
        "{banner}"
    );
    // Without backup.json nothing bounds the count: every candidate may be one.
    let bare = scratch.join("orders-bare");
    std::fs::create_dir_all(&bare).expect("mkdir");
    std::fs::copy(damaged.join("stream.tar.s2"), bare.join("stream.tar.s2")).expect("copy");
    let bare_backup = open_backup(&bare, &mut ScanControl::default()).expect("open bare");
    let bare_unnamed = bare_backup
        .unnamed_deletes
        .expect("unnamed without backup.json");
    assert_eq!(bare_unnamed.declared_deleted, None);
    assert_eq!(bare_unnamed.at_most, bare_unnamed.candidates);
    for seq in &come_back {
        assert!(
            bare_backup.maybe_deleted.contains(seq)
                || (bare_unnamed.first_seq..=bare_unnamed.last_seq).contains(seq),
            "without backup.json, deleted seq {seq} is neither named nor a candidate"
        );
    }
    // The pre-flight of a salvaging restore says both.
    let checks = jsbackup::ops::preflight::archive_checks(
        &backup,
        &jsbackup::ops::preflight::ArchivePlan {
            salvage: true,
            config: None,
            reference_ns: jsbackup::util::time::now_ns(),
            local: true,
            storage_file: false,
        },
    );
    let lines: Vec<&str> = checks.iter().map(|check| check.text.as_str()).collect();
    assert!(
        lines
            .iter()
            .any(|line| line.contains(&format!("up to {} of the", unnamed.at_most))),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|line| line.contains(&format!(
            "{} message(s) may have been deleted",
            named.len()
        ))),
        "{lines:?}"
    );
    // Without the block damage (index.db lost alone) every deletion is shown by its
    // tombstone: nothing unnamed.
    let intact_blocks = scratch.join("orders-no-index");
    without_index_db(rel, &intact_blocks);
    let backup = open_backup(&intact_blocks, &mut ScanControl::default()).expect("open");
    assert_eq!(backup.unnamed_deletes, None);
}

/// The app with `dir` open and its salvage dialog's pre-flight done.
fn salvage_dialog(dir: &Path) -> egui_kittest::Harness<'static, jsbackup::ui::App> {
    use egui_kittest::kittest::Queryable;
    let mut harness = common::ui::open_settled(dir);
    harness.get_by_label("Save salvaged copy…").click();
    common::ui::step_until(&mut harness, "the salvage pre-flight", |app| {
        app.salvage_dialog()
            .is_some_and(|dialog| dialog.preflight.is_some())
    });
    harness
}

#[test]
fn salvage_dialog_shows_the_count_and_waits_for_the_choice() {
    use egui_kittest::kittest::Queryable;
    let scratch = TempDir::new("maybe-deleted-ui");
    let damaged = scratch.join("kv-no-index");
    without_index_db("v1/kv", &damaged);
    let mut harness = salvage_dialog(&damaged);
    // expected.json: sequences 15 and 16 were deleted and come back (see above).
    assert!(
        harness
            .query_by_label_contains("2 messages may have been deleted")
            .is_some(),
        "the count is shown"
    );
    let dialog = harness.state().salvage_dialog().expect("dialog");
    assert_eq!(dialog.maybe_deleted, None, "no choice made for the user");
    // The plan counts them until they are left out; then it keeps exactly the
    // live messages of expected.json.
    let (live, deleted, _) = expected_sets("v1/kv");
    let read = seqs_of(&damaged);
    let with_them = live.len() + deleted.intersection(&read).count();
    let keeps = |count: usize| {
        format!(
            "Will keep {} of ",
            jsbackup::ops::wording::group(count as u64)
        )
    };
    assert!(
        harness.query_by_label_contains(&keeps(with_them)).is_some(),
        "before the choice: {}",
        keeps(with_them)
    );
    harness.get_by_label("leave out (as deleted)").click();
    harness.step();
    let dialog = harness.state().salvage_dialog().expect("dialog");
    assert_eq!(
        dialog.maybe_deleted,
        Some(jsbackup::ops::export::MaybeDeletedChoice::Drop)
    );
    assert!(
        harness
            .query_by_label_contains(&keeps(live.len()))
            .is_some(),
        "after leaving them out: {}",
        keeps(live.len())
    );
}

/// The unnamed count is shown in the salvage dialog under the named choice.
#[test]
fn salvage_dialog_shows_the_unnamed_count() {
    use egui_kittest::kittest::Queryable;
    let scratch = TempDir::new("maybe-deleted-unnamed-ui");
    let damaged = scratch.join("orders-block-end-no-index");
    with_members_damaged(
        "v1/orders",
        &[("msgs/1.blk", Some(4096)), ("msgs/index.db", None)],
        &damaged,
    );
    let backup = open_backup(&damaged, &mut ScanControl::default()).expect("open damaged");
    let unnamed = backup.unnamed_deletes.expect("unnamed deletes");
    let harness = salvage_dialog(&damaged);
    let line = format!(
        "Up to {} of the {} message(s) at sequences {}–{} may have been deleted",
        jsbackup::util::grouped(unnamed.at_most),
        jsbackup::util::grouped(unnamed.candidates),
        unnamed.first_seq,
        unnamed.last_seq
    );
    assert!(
        harness.query_by_label_contains(&line).is_some(),
        "no label containing {line:?}"
    );
}

/// The sequences stream `name` holds on the server (every one up to its last_seq).
fn server_seqs(conn: &mut common::NatsConn, name: &str) -> BTreeSet<u64> {
    let info = conn.stream_info(name);
    let last = info["state"]["last_seq"].as_u64().expect("last_seq");
    (1..=last)
        .filter(|&seq| conn.get_msg(name, seq).is_some())
        .collect()
}

/// The backup's config with the per-subject limit lifted, so that a server keeps
/// what `--maybe-deleted keep` restores instead of trimming it again.
fn unlimited_config(damaged: &Path, scratch: &TempDir) -> std::path::PathBuf {
    let mut config = read_json(&damaged.join("backup.json"))["config"].clone();
    config["max_msgs_per_subject"] = json!(-1);
    let path = scratch.join("unlimited-config.json");
    std::fs::write(&path, serde_json::to_vec(&config).expect("json")).expect("write config");
    path
}

/// The refusal of a salvaging restore without a choice: named, with the flag.
fn assert_refused(output: &std::process::Output, come_back: &[u64]) {
    assert!(
        !output.status.success(),
        "restore --salvage without a choice succeeded"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("refused: {stderr}");
    assert!(stderr.contains("--maybe-deleted keep|drop"), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{} message(s) may have been deleted",
            come_back.len()
        )),
        "{stderr}"
    );
    let ranges =
        jsbackup::ops::wording::ranges_text(&jsbackup::model::to_ranges(come_back.iter().copied()));
    assert!(stderr.contains(&ranges), "{ranges} in {stderr}");
}

/// `restore --json` succeeded; returns its report.
fn restored(output: &std::process::Output, what: &str) -> Value {
    assert!(
        output.status.success(),
        "{what}: {}\n{}",
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&output.stdout)
    );
    serde_json::from_slice(&output.stdout).expect("restore --json")
}

/// The choice and counts a salvaging restore reports.
fn assert_choice_reported(report: &Value, choice: &str, come_back: &[u64]) {
    assert_eq!(report["maybe_deleted"]["choice"], choice, "{report}");
    assert_eq!(
        report["maybe_deleted"]["messages"].as_u64(),
        Some(come_back.len() as u64),
        "{report}"
    );
    let dropped = if choice == "drop" { come_back.len() } else { 0 };
    assert_eq!(
        report["dropped"]["maybe_deleted"].as_u64(),
        Some(dropped as u64),
        "{choice}: {report}"
    );
}

/// v1/kv with its index.db destroyed (in `scratch`): the live set of expected.json,
/// the deleted sequences whose bytes come back, a config lifting the per-subject
/// limit, and the stream name.
struct KvWithoutIndex {
    damaged: PathBuf,
    live: BTreeSet<u64>,
    come_back: Vec<u64>,
    /// Every sequence the scan reads back.
    read: BTreeSet<u64>,
    config: PathBuf,
    name: String,
}

fn kv_without_index(scratch: &TempDir) -> KvWithoutIndex {
    let rel = "v1/kv";
    let damaged = scratch.join("kv-no-index");
    without_index_db(rel, &damaged);
    let (live, deleted, _) = expected_sets(rel);
    let read = seqs_of(&damaged);
    let come_back: Vec<u64> = deleted.intersection(&read).copied().collect();
    assert!(!come_back.is_empty(), "nothing comes back");
    let config = unlimited_config(&damaged, scratch);
    let name = read_json(&damaged.join("backup.json"))["config"]["name"]
        .as_str()
        .expect("name")
        .to_string();
    KvWithoutIndex {
        damaged,
        live,
        come_back,
        read,
        config,
        name,
    }
}

#[test]
fn restore_salvage_into_a_server_asks_and_follows_the_choice() {
    let scratch = TempDir::new("maybe-deleted-restore-server");
    let KvWithoutIndex {
        damaged,
        live,
        come_back,
        read,
        config,
        name,
    } = kv_without_index(&scratch);

    let server = NatsServer::start("2.14", None);
    let mut conn = server.connect();
    let base = [
        "restore",
        damaged.to_str().unwrap(),
        "--server",
        &server.url,
        "--salvage",
    ];
    let refused = jsbackup(&base);
    assert_refused(&refused, &come_back);
    assert!(
        conn.stream_names().is_empty(),
        "a refused restore created a stream: {:?}",
        conn.stream_names()
    );

    for (choice, want) in [
        ("drop", live.clone()),
        (
            "keep",
            live.union(&read).copied().collect::<BTreeSet<u64>>(),
        ),
    ] {
        let mut args = base.to_vec();
        args.extend(["--maybe-deleted", choice, "--json"]);
        args.extend(["--config", config.to_str().unwrap()]);
        let report = restored(&jsbackup(&args), choice);
        assert_choice_reported(&report, choice, &come_back);
        assert_eq!(
            server_seqs(&mut conn, &name),
            want,
            "{choice}: the server's sequences\n{}",
            server.log()
        );
        conn.delete_stream(&name);
    }

    // Under the backup's own config the server trims what `keep` kept again
    // (max_msgs_per_subject), so both hold the live set.
    let mut args = base.to_vec();
    args.extend(["--maybe-deleted", "keep"]);
    let output = jsbackup(&args);
    assert!(output.status.success(), "keep, own config");
    let text = String::from_utf8_lossy(&output.stdout);
    println!("{text}");
    assert!(
        text.contains("may have been deleted") && text.contains("kept (--maybe-deleted keep)"),
        "the choice is stated: {text}"
    );
    assert_eq!(server_seqs(&mut conn, &name), live, "keep, own config");
}

#[test]
fn restore_salvage_into_a_store_asks_and_follows_the_choice() {
    let scratch = TempDir::new("maybe-deleted-restore-store");
    let KvWithoutIndex {
        damaged,
        live,
        come_back,
        read,
        config,
        name,
    } = kv_without_index(&scratch);

    let store = scratch.join("refused-store");
    let refused = jsbackup(&[
        "restore",
        damaged.to_str().unwrap(),
        "--store-dir",
        store.to_str().unwrap(),
        "--salvage",
    ]);
    assert_refused(&refused, &come_back);
    assert!(!store.exists(), "a refused restore created the store dir");

    for (choice, want) in [
        ("drop", live.clone()),
        (
            "keep",
            live.union(&read).copied().collect::<BTreeSet<u64>>(),
        ),
    ] {
        let store = scratch.join(format!("store-{choice}"));
        let report = restored(
            &jsbackup(&[
                "restore",
                damaged.to_str().unwrap(),
                "--store-dir",
                store.to_str().unwrap(),
                "--salvage",
                "--maybe-deleted",
                choice,
                "--config",
                config.to_str().unwrap(),
                "--server-version",
                "2.14.6",
                "--json",
            ]),
            choice,
        );
        assert_choice_reported(&report, choice, &come_back);
        let server = NatsServer::start("2.14", Some(&store));
        let mut conn = server.connect();
        assert_eq!(
            server_seqs(&mut conn, &name),
            want,
            "{choice}: the loaded store's sequences\n{}",
            server.log()
        );
        server.stop();
    }
}

#[test]
fn restore_dialog_shows_the_count_and_waits_for_the_choice() {
    use egui::accesskit::Role;
    use egui_kittest::kittest::{NodeT, Queryable};
    use jsbackup::ops::export::MaybeDeletedChoice;
    let scratch = TempDir::new("maybe-deleted-restore-ui");
    let damaged = scratch.join("kv-no-index");
    without_index_db("v1/kv", &damaged);
    let come_back: Vec<u64> = {
        let (_, deleted, _) = expected_sets("v1/kv");
        deleted.intersection(&seqs_of(&damaged)).copied().collect()
    };
    let mut harness = common::ui::open_settled(&damaged);
    harness.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::R);
    common::ui::step_until(&mut harness, "the restore dialog", |app| {
        app.restore_dialog().is_some()
    });
    let count_label = format!("{} messages may have been deleted", come_back.len());
    assert!(
        harness.query_by_label_contains(&count_label).is_none(),
        "the choice shows only once salvage is ticked"
    );
    // A store directory makes the restore otherwise ready.
    let store = scratch.join("store");
    harness
        .get_by_role_and_label(Role::TextInput, "store directory")
        .focus();
    harness.step();
    harness
        .get_by_role_and_label(Role::TextInput, "store directory")
        .type_text(&store.display().to_string());
    harness.step();
    harness.get_by_label_contains("salvage: restore ").click();
    harness.step();
    assert!(
        harness.query_by_label_contains(&count_label).is_some(),
        "the count is shown"
    );
    let dialog = harness.state().restore_dialog().expect("dialog");
    assert_eq!(dialog.maybe_deleted, None, "no choice made for the user");
    assert!(dialog.salvage);
    let run = harness.get_by_label("Run restore");
    assert!(
        run.accesskit_node().is_disabled(),
        "Run restore waits for the choice"
    );
    harness.get_by_label("leave out (as deleted)").click();
    harness.step();
    let dialog = harness.state().restore_dialog().expect("dialog");
    assert_eq!(dialog.maybe_deleted, Some(MaybeDeletedChoice::Drop));
    assert!(
        !harness
            .get_by_label("Run restore")
            .accesskit_node()
            .is_disabled(),
        "Run restore is enabled once chosen"
    );
    common::ui::step_until(&mut harness, "the pre-flight checks", |app| {
        app.restore_dialog()
            .is_some_and(|dialog| dialog.preflight.is_some() && !dialog.is_busy())
    });
    harness.get_by_label("Run restore").click();
    common::ui::step_until(&mut harness, "the restore", |app| {
        app.restore_dialog()
            .is_some_and(|dialog| dialog.result.is_some())
    });
    let dialog = harness.state().restore_dialog().expect("dialog");
    let report = match dialog.result.clone().expect("result") {
        Ok(report) => report,
        Err(error) => panic!("restore failed: {error}"),
    };
    assert_eq!(report.dropped.maybe_deleted, come_back.len() as u64);
    assert_eq!(
        report.maybe_deleted.as_ref().map(|outcome| outcome.choice),
        Some(MaybeDeletedChoice::Drop)
    );
    assert!(store.exists(), "the store was written");
}
