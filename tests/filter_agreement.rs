//! One filter, three front ends: for several filters on every clean fixture (v1, v2,
//! v1-older) the Messages pane's engine, `jsbackup messages --json` and
//! `jsbackup export --dry-run` keep the same number of messages, and the filter
//! language gives the same count as the equivalent fields. Where expected.json
//! knows the answer (per-message rows: seq, subject, sizes; `expires_at` per message at
//! the median TTL expiry instant) the count is checked against it too.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is a failed test

mod common;
use common::jsbackup;

use common::{expected, TempDir};
use jsbackup::model::Backup;
use jsbackup::ops::filter::{self, FilterSpec};
use jsbackup::ops::scan::{open_backup, ScanControl};
use serde_json::Value;
use std::path::Path;
use std::sync::atomic::AtomicBool;

fn cli_messages_count(dir: &Path, extra: &[String]) -> u64 {
    let path = dir.to_str().expect("utf-8 path");
    let mut args = vec!["messages", path, "--json"];
    args.extend(extra.iter().map(String::as_str));
    let output = jsbackup(&args);
    assert!(
        output.status.success(),
        "messages {path} {extra:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| {
            let _: Value = serde_json::from_str(line).expect("NDJSON line");
        })
        .count() as u64
}

fn cli_export_kept(dir: &Path, out: &Path, extra: &[String]) -> u64 {
    let path = dir.to_str().expect("utf-8 path");
    let mut args = vec![
        "export",
        path,
        out.to_str().expect("utf-8 path"),
        "--dry-run",
        "--json",
    ];
    args.extend(extra.iter().map(String::as_str));
    let output = jsbackup(&args);
    assert!(
        output.status.success(),
        "export {path} {extra:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!out.exists(), "a dry run wrote {}", out.display());
    let report: Value = serde_json::from_slice(&output.stdout).expect("export JSON");
    report["kept_messages"].as_u64().expect("kept_messages")
}

fn pane_count(backup: &Backup, spec: &FilterSpec, reference_ns: i64) -> u64 {
    // The function the Messages pane's worker runs (ui::workers::spawn_filter).
    filter::run(backup, spec, reference_ns, &AtomicBool::new(false))
        .unwrap_or_else(|error| panic!("{spec:?}: {error}"))
        .message_count as u64
}

/// NATS wildcard match, written out here so expected counts do not come from the code under test.
fn wildcard(filter: &str, subject: &str) -> bool {
    let filter: Vec<&str> = filter.split('.').collect();
    let subject: Vec<&str> = subject.split('.').collect();
    for (index, token) in filter.iter().enumerate() {
        if *token == ">" {
            return subject.len() > index;
        }
        match subject.get(index) {
            Some(s) if *token == "*" || token == s => {}
            _ => return false,
        }
    }
    filter.len() == subject.len()
}

/// One expected.json message row: (seq, subject, hdr_len, data_len).
struct Row {
    seq: u64,
    subject: String,
    size: u64,
}

fn expected_rows(exp: &Value) -> Vec<Row> {
    exp["messages"]["rows"]
        .as_array()
        .expect("messages.rows")
        .iter()
        .map(|row| Row {
            seq: row[0].as_u64().expect("seq"),
            subject: row[1].as_str().expect("subject").to_string(),
            size: row[2].as_u64().expect("hdr_len") + row[3].as_u64().expect("data_len"),
        })
        .collect()
}

/// A wildcard that matches some but (usually) not all subjects: the most common
/// subject with its middle tokens replaced by `*`, or `first.>`.
fn wildcard_for(exp: &Value) -> Option<String> {
    let subjects = exp["subjects"].as_object()?;
    let (busiest, _) = subjects
        .iter()
        .max_by_key(|(name, count)| (count.as_u64().unwrap_or(0), name.len()))?;
    let tokens: Vec<&str> = busiest.split('.').collect();
    Some(match tokens.as_slice() {
        [first, middle @ .., last] if !middle.is_empty() => {
            let stars = vec!["*"; middle.len()].join(".");
            format!("{first}.{stars}.{last}")
        }
        [first, ..] => format!("{first}.>"),
        [] => ">".into(),
    })
}

/// A filter in its three spellings, plus the count expected.json gives (if it does).
struct Case {
    name: String,
    spec: FilterSpec,
    flags: Vec<String>,
    expression: String,
    expected: Option<u64>,
}

fn flags(pairs: &[(&str, &str)]) -> Vec<String> {
    pairs
        .iter()
        .flat_map(|(flag, value)| {
            if value.is_empty() {
                vec![flag.to_string()]
            } else {
                vec![flag.to_string(), value.to_string()]
            }
        })
        .collect()
}

fn cases(exp: &Value, backup: &Backup) -> Vec<Case> {
    let rows = expected_rows(exp);
    let total = rows.len() as u64;
    let mut cases = Vec::new();
    if let Some(wild) = wildcard_for(exp) {
        // Per-subject counts from the server: the expected count of a subject filter.
        let per_subject: u64 = exp["subjects"]
            .as_object()
            .expect("subjects")
            .iter()
            .filter(|(subject, _)| wildcard(&wild, subject))
            .map(|(_, count)| count.as_u64().unwrap_or(0))
            .sum();
        assert_eq!(
            per_subject,
            rows.iter()
                .filter(|row| wildcard(&wild, &row.subject))
                .count() as u64,
            "expected.json subjects and rows disagree for {wild}"
        );
        cases.push(Case {
            name: format!("subject {wild}"),
            spec: FilterSpec {
                subject_include: wild.clone(),
                ..FilterSpec::default()
            },
            flags: flags(&[("--subject", &wild)]),
            expression: format!("subject ~ {wild:?}"),
            expected: Some(per_subject),
        });
        cases.push(Case {
            name: format!("not subject {wild}"),
            spec: FilterSpec {
                subject_exclude: wild.clone(),
                ..FilterSpec::default()
            },
            flags: flags(&[("--exclude-subject", &wild)]),
            expression: format!("not subject ~ {wild:?}"),
            expected: Some(total - per_subject),
        });
    }
    if let (Some(first), Some(last)) = (rows.first(), rows.last()) {
        let from = first.seq + (last.seq - first.seq) / 3;
        let to = first.seq + 2 * (last.seq - first.seq) / 3;
        let sizes: Vec<u64> = {
            let mut sizes: Vec<u64> = rows.iter().map(|row| row.size).collect();
            sizes.sort_unstable();
            sizes
        };
        let median = sizes[sizes.len() / 2];
        cases.push(Case {
            name: format!("seq {from}..={to}"),
            spec: FilterSpec {
                seq_from: from.to_string(),
                seq_to: to.to_string(),
                ..FilterSpec::default()
            },
            flags: flags(&[
                ("--from-seq", &from.to_string()),
                ("--to-seq", &to.to_string()),
            ]),
            expression: format!("seq >= {from} and seq <= {to}"),
            expected: Some(
                rows.iter()
                    .filter(|row| (from..=to).contains(&row.seq))
                    .count() as u64,
            ),
        });
        cases.push(Case {
            name: format!("size > {median}"),
            spec: FilterSpec {
                size_min: (median + 1).to_string(),
                ..FilterSpec::default()
            },
            flags: flags(&[("--min-size", &(median + 1).to_string())]),
            expression: format!("size > {median}"),
            expected: Some(rows.iter().filter(|row| row.size > median).count() as u64),
        });
        cases.push(Case {
            name: format!("size <= {median} or seq = {}", first.seq),
            spec: FilterSpec {
                expression: format!("size <= {median} or seq = {}", first.seq),
                ..FilterSpec::default()
            },
            flags: flags(&[(
                "--where",
                &format!("not (size > {median} and seq != {})", first.seq),
            )]),
            expression: format!(
                "size <= {median} or (seq == {} and size > {median})",
                first.seq
            ),
            expected: Some(
                rows.iter()
                    .filter(|row| row.size <= median || row.seq == first.seq)
                    .count() as u64,
            ),
        });
        // A time window over the middle half of the stored times (the bounds come from
        // the index; the three front ends must agree on them).
        let times = &backup.messages.ts_ns;
        let since = jsbackup::util::time::format_rfc3339_ns(times[times.len() / 4]);
        let until = jsbackup::util::time::format_rfc3339_ns(times[times.len() * 3 / 4]);
        cases.push(Case {
            name: format!("time {since}..={until}"),
            spec: FilterSpec {
                time_from: since.clone(),
                time_to: until.clone(),
                ..FilterSpec::default()
            },
            flags: flags(&[("--since", &since), ("--until", &until)]),
            expression: format!("time >= {since:?} and time <= {until:?}"),
            expected: None,
        });
    }
    cases.push(Case {
        name: "header Nats-Msg-Id".into(),
        spec: FilterSpec {
            header: "Nats-Msg-Id".into(),
            ..FilterSpec::default()
        },
        flags: flags(&[("--header", "Nats-Msg-Id")]),
        expression: r#"header("Nats-Msg-Id")"#.into(),
        expected: None,
    });
    cases.push(Case {
        name: "header Content-Type = application/json".into(),
        spec: FilterSpec {
            header: "Content-Type: application/json".into(),
            ..FilterSpec::default()
        },
        flags: flags(&[("--header", "Content-Type=application/json")]),
        expression: r#"header("Content-Type") = "application/json""#.into(),
        expected: None,
    });
    cases.push(Case {
        name: "payload matches [0-9]{3}".into(),
        spec: FilterSpec {
            payload: "[0-9]{3}".into(),
            payload_regex: true,
            ..FilterSpec::default()
        },
        flags: flags(&[("--payload-regex", "[0-9]{3}")]),
        expression: r#"payload matches "[0-9]{3}""#.into(),
        expected: None,
    });
    cases.push(Case {
        name: "kv delete or purge".into(),
        spec: FilterSpec {
            kv_delete: true,
            kv_purge: true,
            ..FilterSpec::default()
        },
        flags: flags(&[("--kv-op", "del"), ("--kv-op", "purge")]),
        expression: "kv delete or kv purge".into(),
        expected: None,
    });
    cases
}

#[test]
fn pane_messages_and_export_dry_run_agree_on_every_fixture() {
    let mut fixtures = common::all_fixtures("v1");
    fixtures.extend(common::all_fixtures("v2"));
    fixtures.extend(common::all_fixtures("v1-older"));
    assert!(fixtures.len() >= 14, "fixtures missing");
    let tmp = TempDir::new("filter-agreement");
    let mut checked_against_expected = 0;
    let mut nonzero = 0;
    let mut with_messages = 0;
    for (index, dir) in fixtures.iter().enumerate() {
        let rel = dir
            .strip_prefix(common::shared_dir().join("fixtures"))
            .unwrap_or(dir)
            .display()
            .to_string();
        let exp = expected(&rel);
        let backup = open_backup(dir, &mut ScanControl::default())
            .unwrap_or_else(|error| panic!("open {rel}: {error}"));
        if !backup.messages.is_empty() {
            with_messages += 1;
        }
        for (case_index, case) in cases(&exp, &backup).into_iter().enumerate() {
            let pane = pane_count(&backup, &case.spec, 0);
            let pane_where = pane_count(
                &backup,
                &FilterSpec {
                    expression: case.expression.clone(),
                    ..FilterSpec::default()
                },
                0,
            );
            let cli = cli_messages_count(dir, &case.flags);
            let cli_where = cli_messages_count(dir, &["--where".into(), case.expression.clone()]);
            let out = tmp.join(format!("{index}-{case_index}"));
            let export = cli_export_kept(dir, &out, &case.flags);
            let export_where =
                cli_export_kept(dir, &out, &["--where".into(), case.expression.clone()]);
            let what = format!("{rel}, {}", case.name);
            assert_eq!(cli, pane, "{what}: messages --json vs pane");
            assert_eq!(export, pane, "{what}: export --dry-run vs pane");
            assert_eq!(
                pane_where, pane,
                "{what}: where {:?} vs fields",
                case.expression
            );
            assert_eq!(cli_where, pane, "{what}: messages --where vs pane");
            assert_eq!(export_where, pane, "{what}: export --where vs pane");
            if let Some(want) = case.expected {
                assert_eq!(pane, want, "{what}: vs expected.json");
                checked_against_expected += 1;
            }
            if pane > 0 {
                nonzero += 1;
            }
        }
    }
    // The cases must bite: four per fixture with messages are checked against the
    // server's truth, and most counts are not zero.
    assert!(with_messages >= 12, "{with_messages}");
    assert_eq!(checked_against_expected, 5 * with_messages);
    assert!(nonzero >= 4 * with_messages, "{nonzero}");
}

/// TTL expiry at a reference time: expected.json lists when each message expires.
#[test]
fn ttl_expired_matches_expected_expiry_times_in_all_front_ends() {
    for rel in ["v1/ttl", "v2/ttl"] {
        let exp = expected(rel);
        let dir = common::fixture(rel);
        // A reference time after some TTLs ran out: the median expiry instant. The
        // server's rule (expired when the reference is past stored + TTL) counts the
        // messages that expire strictly before it.
        let parse = |text: &str| jsbackup::util::time::parse_rfc3339_ns(text).expect("time");
        let mut expiries: Vec<i64> = exp["ttl"]["messages"]
            .as_array()
            .expect("ttl messages")
            .iter()
            .filter_map(|message| message["expires_at"].as_str().map(parse))
            .collect();
        expiries.sort_unstable();
        let reference_ns = expiries[expiries.len() / 2];
        let reference = &jsbackup::util::time::format_rfc3339_ns(reference_ns);
        let want = expiries.iter().filter(|&&at| at < reference_ns).count() as u64;
        assert!(want > 0, "{rel}: the fixture has expired messages");
        let backup = open_backup(&dir, &mut ScanControl::default()).expect("open");
        let pane = pane_count(
            &backup,
            &FilterSpec {
                only_expired: true,
                ..FilterSpec::default()
            },
            reference_ns,
        );
        assert_eq!(pane, want, "{rel}: pane");
        let now = ["--now".to_string(), reference.to_string()];
        let with = |extra: &[&str]| -> Vec<String> {
            extra
                .iter()
                .map(|s| s.to_string())
                .chain(now.iter().cloned())
                .collect()
        };
        assert_eq!(
            cli_messages_count(&dir, &with(&["--expired"])),
            want,
            "{rel}"
        );
        assert_eq!(
            cli_messages_count(&dir, &with(&["--where", "ttl expired"])),
            want,
            "{rel}"
        );
        let tmp = TempDir::new("filter-ttl");
        assert_eq!(
            cli_export_kept(&dir, &tmp.join("a"), &with(&["--expired"])),
            want,
            "{rel}"
        );
        // The export's own --drop-expired keeps the complement.
        assert_eq!(
            cli_export_kept(&dir, &tmp.join("b"), &with(&["--drop-expired"])),
            exp["state"]["messages"].as_u64().expect("messages") - want,
            "{rel}"
        );
        assert_eq!(
            cli_export_kept(&dir, &tmp.join("c"), &with(&["--where", "not ttl expired"])),
            exp["state"]["messages"].as_u64().expect("messages") - want,
            "{rel}"
        );
    }
}

/// The issue's example expression, its field twin and `messages --where`, on the
/// orders fixtures; plus a variant with thresholds from the data so the count is not zero.
#[test]
fn example_expression_equals_field_filters_and_messages_where() {
    for rel in ["v1/orders", "v2/orders", "v1-older/2.10.26-orders"] {
        let dir = common::fixture(rel);
        let exp = expected(rel);
        let backup = open_backup(&dir, &mut ScanControl::default()).expect("open");
        let rows = expected_rows(&exp);
        let mut sizes: Vec<u64> = rows
            .iter()
            .filter(|row| wildcard("orders.*.eu", &row.subject))
            .map(|row| row.size)
            .collect();
        sizes.sort_unstable();
        let threshold = sizes[sizes.len() / 3];
        for (size_text, size_min, payload, expired) in [
            ("1k", "1025", "coupon", true),
            (
                &*threshold.to_string(),
                &*(threshold + 1).to_string(),
                "\"amount\"",
                false,
            ),
        ] {
            let ttl = if expired { " and ttl expired" } else { "" };
            let expression = format!(
                r#"subject ~ "orders.*.eu" and size > {size_text} and header("Nats-Msg-Id") and payload contains {payload:?}{ttl}"#
            );
            let fields = FilterSpec {
                subject_include: "orders.*.eu".into(),
                size_min: size_min.into(),
                header: "Nats-Msg-Id".into(),
                payload: payload.into(),
                only_expired: expired,
                ..FilterSpec::default()
            };
            let by_fields = pane_count(&backup, &fields, jsbackup::util::time::now_ns());
            let by_expression = pane_count(
                &backup,
                &FilterSpec {
                    expression: expression.clone(),
                    ..FilterSpec::default()
                },
                jsbackup::util::time::now_ns(),
            );
            let cli = cli_messages_count(&dir, &["--where".into(), expression.clone()]);
            assert_eq!(by_expression, by_fields, "{rel}: {expression}");
            assert_eq!(cli, by_fields, "{rel}: messages --where {expression}");
            if !expired {
                // Thresholds from the data: the filter keeps some of the .eu messages, not all.
                let eu_sized = rows
                    .iter()
                    .filter(|row| wildcard("orders.*.eu", &row.subject) && row.size > threshold)
                    .count() as u64;
                assert!(
                    by_fields > 0 && by_fields <= eu_sized,
                    "{rel}: {by_fields} of {eu_sized}"
                );
            }
        }
    }
}

/// On damaged backups (where `export` refuses without `--salvage`) the pane and
/// `messages` agree on `damaged`, and `damaged` / `not damaged` split the messages.
#[test]
fn damaged_flag_agrees_between_pane_and_messages_on_corrupt_fixtures() {
    let fixtures = common::all_fixtures("corrupt");
    assert!(fixtures.len() >= 8, "corrupt fixtures missing");
    let mut with_damage = 0;
    let mut with_damaged_records = 0;
    for dir in &fixtures {
        let backup = open_backup(dir, &mut ScanControl::default())
            .unwrap_or_else(|error| panic!("open {}: {error}", dir.display()));
        let total = backup.messages.len() as u64;
        let pane = pane_count(
            &backup,
            &FilterSpec {
                only_damaged: true,
                ..FilterSpec::default()
            },
            0,
        );
        let cli = cli_messages_count(dir, &["--damaged".into()]);
        let cli_not = cli_messages_count(dir, &["--where".into(), "not damaged".into()]);
        assert_eq!(cli, pane, "{}", dir.display());
        assert_eq!(cli + cli_not, total, "{}", dir.display());
        // verify --json reports the same rows as suspect.
        let output = jsbackup(&["verify", dir.to_str().expect("utf-8"), "--json"]);
        let report: Value = serde_json::from_slice(&output.stdout).expect("verify JSON");
        assert_eq!(
            report["summary"]["messages_suspect"].as_u64(),
            Some(pane),
            "{}",
            dir.display()
        );
        if pane > 0 {
            with_damage += 1;
        }
        // A v1 record failing its HighwayHash-64 check is no row (the scan counts it
        // in `damaged_seqs`), and v1 rows beside it verified their checksum: intact,
        // so neither `damaged` nor `not damaged` lists it.
        let damaged_seqs: Vec<u64> = report["summary"]["damaged_seqs"]
            .as_array()
            .map(|seqs| seqs.iter().filter_map(Value::as_u64).collect())
            .unwrap_or_default();
        assert_eq!(
            damaged_seqs,
            backup.damaged_seqs,
            "{}: verify damaged_seqs",
            dir.display()
        );
        for seq in &damaged_seqs {
            assert!(
                backup.messages.find_seq(*seq).is_none(),
                "{}: damaged seq {seq} is a row",
                dir.display()
            );
        }
        if !damaged_seqs.is_empty() {
            with_damaged_records += 1;
        }
    }
    // Suspect rows: v2-crc-mismatch (v2 has no per-message checksum); damaged
    // records: v1-crc-mismatch and v1-blk-payload-flip.
    assert!(with_damage >= 1, "{with_damage}");
    assert!(with_damaged_records >= 2, "{with_damaged_records}");
}
