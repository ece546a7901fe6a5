//! Export, v1 ↔ v2 conversion, consumer export and salvage, checked by
//! restoring the written backups into real nats-server 2.15.1 and 2.14.6.
//! Every expected number comes from the fixtures' expected.json.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is a failed test

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::{
    all_fixtures, expected, fixture, read_json, restore_via_api, NatsConn, NatsServer, TempDir,
};
use jsbackup::model::{ArchiveFormat, Backup};
use jsbackup::ops::export::{self, ConsumerSelection, ExportOptions, ExportReport};
use jsbackup::ops::filter::MessageFilter;
use jsbackup::ops::scan::{open_backup, ScanControl};
use jsbackup::util::subject::subject_matches;
use serde_json::{json, Value};

fn open(path: &Path) -> Backup {
    open_backup(path, &mut ScanControl::default())
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()))
}

fn export_to(backup: &Backup, out: &Path, options: &ExportOptions) -> ExportReport {
    export::export(backup, out, options, &mut |_| {}, None).unwrap_or_else(|e| {
        panic!(
            "export {} → {}: {e}",
            backup.source.opened.display(),
            out.display()
        )
    })
}

fn u64_of(v: &Value) -> u64 {
    // num_deleted is omitted when zero.
    v.as_u64().unwrap_or(0)
}

fn name_of(dir: &Path) -> String {
    read_json(&dir.join("backup.json"))["config"]["name"]
        .as_str()
        .expect("backup.json config.name")
        .to_string()
}

fn label(dir: &Path) -> String {
    let group = dir.parent().and_then(Path::file_name).unwrap_or_default();
    format!(
        "{}/{}",
        group.to_string_lossy(),
        dir.file_name().unwrap_or_default().to_string_lossy()
    )
}

/// Restores `dir` and returns the stream info (fails the test with the server log on error).
fn restore(server: &NatsServer, conn: &mut NatsConn, dir: &Path) -> (String, Value) {
    let name = name_of(dir);
    restore_via_api(conn, dir, &name)
        .unwrap_or_else(|e| panic!("restore of {} failed: {e}\n{}", dir.display(), server.log()));
    let info = conn.stream_info(&name);
    assert!(info.get("error").is_none(), "{info}");
    (name, info)
}

/// Per-message TTL or max_age: the restored message count depends on the clock.
fn time_dependent(exp: &Value) -> bool {
    let cfg = &exp["stream"]["config"];
    cfg["allow_msg_ttl"] == true || cfg["max_age"].as_u64().unwrap_or(0) > 0
}

fn assert_state(label: &str, got: &Value, want: &Value, exp: &Value) {
    let keys: &[&str] = if u64_of(&want["last_seq"]) == 0 {
        // A never-written stream: v1 restores report 0/0 (deleted [0]), v2 restores 1/0.
        &["messages", "last_seq"]
    } else if time_dependent(exp) {
        &["first_seq", "last_seq"]
    } else {
        &["messages", "first_seq", "last_seq", "num_deleted"]
    };
    for key in keys {
        assert_eq!(
            u64_of(&got[key]),
            u64_of(&want[key]),
            "{label}: state.{key}\n  server:   {got}\n  expected: {want}"
        );
    }
}

fn consumer_selection(names: &[&str]) -> ConsumerSelection {
    ConsumerSelection::Only(names.iter().map(|name| name.to_string()).collect())
}

// (a) consumer subsets and --no-consumers, restored into 2.15.1.
#[test]
fn consumer_subsets_restore_with_their_positions() {
    let server = NatsServer::start("2.15", None);
    let mut conn = server.connect();
    let tmp = TempDir::new("export-consumers-subset");
    for rel in ["v2/orders", "v1/orders"] {
        let exp = expected(rel);
        let mut wanted: Vec<&Value> = exp["consumers"]
            .as_array()
            .expect("consumers")
            .iter()
            .collect();
        assert_eq!(
            wanted.len(),
            4,
            "{rel}: expected.json lists {} consumers",
            wanted.len()
        );
        wanted.sort_by_key(|c| c["name"].as_str().unwrap_or("").to_string());
        let chosen: Vec<&Value> = vec![wanted[0], wanted[2]];
        let names: Vec<&str> = chosen
            .iter()
            .map(|c| c["name"].as_str().expect("name"))
            .collect();
        let backup = open(&fixture(rel));
        let out = tmp.join(format!("{}-two", rel.replace('/', "-")));
        let report = export_to(
            &backup,
            &out,
            &ExportOptions {
                consumers: consumer_selection(&names),
                ..ExportOptions::default()
            },
        );
        assert_eq!(report.format, backup.format.expect("format"));
        let (stream, info) = restore(&server, &mut conn, &out);
        assert_eq!(u64_of(&info["state"]["consumer_count"]), 2, "{rel}: {info}");
        let mut sorted_names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        sorted_names.sort();
        assert_eq!(conn.consumer_names(&stream), sorted_names, "{rel}");
        for want in &chosen {
            let name = want["name"].as_str().expect("name");
            let got = conn.consumer_info(&stream, name);
            assert!(got.get("error").is_none(), "{rel} {name}: {got}");
            for key in ["delivered", "ack_floor"] {
                for field in ["consumer_seq", "stream_seq"] {
                    assert_eq!(
                        got[key][field], want[key][field],
                        "{rel} consumer {name}: {key}.{field}\n  server: {got}"
                    );
                }
            }
        }
        conn.delete_stream(&stream);

        let out = tmp.join(format!("{}-none", rel.replace('/', "-")));
        export_to(
            &backup,
            &out,
            &ExportOptions {
                consumers: ConsumerSelection::None,
                ..ExportOptions::default()
            },
        );
        let (stream, info) = restore(&server, &mut conn, &out);
        assert_eq!(u64_of(&info["state"]["consumer_count"]), 0, "{rel}: {info}");
        assert!(conn.consumer_names(&stream).is_empty());
        assert_state(rel, &info["state"], &exp["state"], &exp);
        conn.delete_stream(&stream);
    }
    // An unknown consumer name is refused, naming what exists.
    let backup = open(&fixture("v2/orders"));
    let error = export::export(
        &backup,
        &tmp.join("unknown"),
        &ExportOptions {
            consumers: consumer_selection(&["nope"]),
            ..ExportOptions::default()
        },
        &mut |_| {},
        None,
    )
    .expect_err("unknown consumer");
    assert!(error.to_string().contains("nope"), "{error}");
    assert!(!tmp.join("unknown").exists());
}

// (b) every v1 fixture converted to v2 restores into 2.15.1; every v2 fixture
// converted to v1 restores into 2.14.6 (and 2.15.1).
#[test]
fn conversions_restore_with_the_same_state() {
    let v215 = NatsServer::start("2.15", None);
    let v214 = NatsServer::start("2.14", None);
    let mut conn215 = v215.connect();
    let mut conn214 = v214.connect();
    let tmp = TempDir::new("export-convert");
    let mut checked = Vec::new();
    for (group, format) in [("v1", ArchiveFormat::V2), ("v2", ArchiveFormat::V1)] {
        for dir in all_fixtures(group) {
            let label = label(&dir);
            let exp = read_json(&dir.join("expected.json"));
            let backup = open(&dir);
            let out = tmp.join(format!("{}-to-{}", label.replace('/', "-"), format.label()));
            let report = export_to(
                &backup,
                &out,
                &ExportOptions {
                    format: Some(format),
                    ..ExportOptions::default()
                },
            );
            assert_eq!(report.format, format);
            // The converted archive reads back as the other format with the same content.
            let converted = open(&out);
            assert_eq!(converted.format, Some(format), "{label}");
            assert!(!converted.has_errors(), "{label}: {:?}", converted.findings);
            assert_eq!(converted.messages.seq, backup.messages.seq, "{label}");
            let mut targets: Vec<(&NatsServer, &mut NatsConn)> = vec![(&v215, &mut conn215)];
            if format == ArchiveFormat::V1 {
                targets.push((&v214, &mut conn214));
            }
            for (server, conn) in targets {
                let (stream, info) = restore(server, conn, &out);
                let state = &info["state"];
                assert_state(
                    &format!("{label} → {} on {}", format.label(), server.version),
                    state,
                    &exp["state"],
                    &exp,
                );
                assert_eq!(
                    u64_of(&state["consumer_count"]),
                    exp["consumers"].as_array().map(Vec::len).unwrap_or(0) as u64,
                    "{label}: {state}"
                );
                if !time_dependent(&exp) && u64_of(&exp["state"]["last_seq"]) > 0 {
                    let deleted: Vec<u64> = state["deleted"]
                        .as_array()
                        .map(|list| list.iter().map(u64_of).collect())
                        .unwrap_or_default();
                    let want: Vec<u64> = exp["deleted_seqs"]
                        .as_array()
                        .map(|list| list.iter().map(u64_of).collect())
                        .unwrap_or_default();
                    assert_eq!(deleted, want, "{label}: deleted sequences");
                }
                conn.delete_stream(&stream);
                checked.push(format!("{label}→{}@{}", format.label(), server.version));
            }
        }
    }
    eprintln!("checked: {checked:?}");
    assert!(checked.len() >= 12, "{checked:?}");
}

// (c) a subject-filtered export keeps exactly the matching subjects; the rest are gaps.
#[test]
fn subject_filter_keeps_exact_counts() {
    let server = NatsServer::start("2.15", None);
    let mut conn = server.connect();
    let tmp = TempDir::new("export-subject");
    let filter = "orders.paid.*";
    let exclude = "orders.paid.us";
    for rel in ["v2/orders", "v1/orders"] {
        let exp = expected(rel);
        let want: BTreeMap<String, u64> = exp["subjects"]
            .as_object()
            .expect("subjects")
            .iter()
            .filter(|(subject, _)| {
                subject_matches(filter, subject) && !subject_matches(exclude, subject)
            })
            .map(|(subject, count)| (subject.clone(), u64_of(count)))
            .collect();
        assert!(want.len() >= 2, "{rel}: {want:?}");
        let backup = open(&fixture(rel));
        let out = tmp.join(rel.replace('/', "-"));
        let report = export_to(
            &backup,
            &out,
            &ExportOptions {
                filter: MessageFilter {
                    subjects: vec![filter.into()],
                    exclude_subjects: vec![exclude.into()],
                    ..MessageFilter::default()
                },
                ..ExportOptions::default()
            },
        );
        let kept: u64 = want.values().sum();
        assert_eq!(report.kept_messages, kept, "{rel}");
        assert_eq!(
            report.dropped.subject_excluded,
            u64_of(&exp["subjects"][exclude]),
            "{rel}"
        );
        let (stream, info) = restore(&server, &mut conn, &out);
        let state = &info["state"];
        let got: BTreeMap<String, u64> = state["subjects"]
            .as_object()
            .map(|map| map.iter().map(|(k, v)| (k.clone(), u64_of(v))).collect())
            .unwrap_or_default();
        assert_eq!(got, want, "{rel}: {state}");
        assert_eq!(u64_of(&state["messages"]), kept);
        assert_eq!(
            u64_of(&state["last_seq"]),
            u64_of(&exp["state"]["last_seq"]),
            "{rel}: {state}"
        );
        // Consumer positions are still valid: all four came back.
        assert_eq!(u64_of(&state["consumer_count"]), 4, "{rel}: {state}");
        // A message of another subject is a gap now; a kept one is there.
        let columns = exp["messages"]["columns"].as_array().expect("columns");
        let col = |name: &str| columns.iter().position(|c| c == name).expect("column");
        let rows = exp["messages"]["rows"].as_array().expect("rows");
        let subject_of = |row: &Value| row[col("subject")].as_str().unwrap_or("").to_string();
        let dropped = rows
            .iter()
            .find(|row| !want.contains_key(&subject_of(row)))
            .expect("a dropped row");
        let dropped_seq = u64_of(&dropped[col("seq")]);
        assert!(
            conn.get_msg(&stream, dropped_seq).is_none(),
            "{rel}: seq {dropped_seq} should be a gap"
        );
        let kept_row = rows
            .iter()
            .find(|row| want.contains_key(&subject_of(row)))
            .expect("a kept row");
        let kept_seq = u64_of(&kept_row[col("seq")]);
        let message = conn.get_msg(&stream, kept_seq).expect("kept message");
        assert_eq!(message["subject"], kept_row[col("subject")]);
        conn.delete_stream(&stream);
    }
}

// (d) export-consumers output is accepted by the consumer create API.
#[test]
fn exported_consumer_configs_create_consumers() {
    let server = NatsServer::start("2.15", None);
    let mut conn = server.connect();
    let tmp = TempDir::new("export-consumer-files");
    for rel in ["v2/orders", "v1/orders"] {
        let exp = expected(rel);
        let backup = open(&fixture(rel));
        let files = tmp.join(format!("{}-files", rel.replace('/', "-")));
        let written = export::export_consumers(&backup, &ConsumerSelection::All, &files)
            .expect("export consumers");
        assert_eq!(
            written.len(),
            exp["consumers"].as_array().map(Vec::len).unwrap_or(0)
        );
        // Existing files are never overwritten.
        assert!(export::export_consumers(&backup, &ConsumerSelection::All, &files).is_err());
        let out = tmp.join(format!("{}-bare", rel.replace('/', "-")));
        export_to(
            &backup,
            &out,
            &ExportOptions {
                consumers: ConsumerSelection::None,
                ..ExportOptions::default()
            },
        );
        let (stream, _) = restore(&server, &mut conn, &out);
        for consumer in &written {
            let config = read_json(&consumer.config_file);
            let state = read_json(&consumer.state_file);
            assert!(state["delivered"]["stream_seq"].is_u64(), "{state}");
            let subject = format!("$JS.API.CONSUMER.CREATE.{stream}.{}", consumer.name);
            let reply = conn
                .api(&subject, &json!({"stream_name": stream, "config": config}))
                .unwrap_or_else(|e| panic!("{subject}: {e}"));
            assert!(
                reply.get("error").is_none(),
                "{rel} {}: {reply}",
                consumer.name
            );
            assert_eq!(reply["name"], consumer.name.as_str());
            let want = exp["consumers"]
                .as_array()
                .and_then(|list| list.iter().find(|c| c["name"] == consumer.name.as_str()))
                .expect("consumer in expected.json");
            assert_eq!(
                state["delivered"], want["delivered"],
                "{rel} {}",
                consumer.name
            );
            assert_eq!(
                state["ack_floor"], want["ack_floor"],
                "{rel} {}",
                consumer.name
            );
        }
        conn.delete_stream(&stream);
    }
}

fn file_bytes(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|entry| {
            let path: PathBuf = entry.expect("entry").path();
            (
                path.file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned(),
                std::fs::read(&path).expect("read"),
            )
        })
        .collect();
    files.sort();
    files
}

// (e) the same input and options give byte-identical output.
#[test]
fn exports_are_deterministic() {
    let tmp = TempDir::new("export-deterministic");
    let cases: [(&str, Option<ArchiveFormat>); 4] = [
        ("v2/orders", None),
        ("v2/orders", Some(ArchiveFormat::V1)),
        ("v1/orders", None),
        ("v1/orders", Some(ArchiveFormat::V2)),
    ];
    for (index, (rel, format)) in cases.iter().enumerate() {
        let backup = open(&fixture(rel));
        let options = ExportOptions {
            format: *format,
            filter: MessageFilter {
                exclude_subjects: vec!["orders.created.*".into()],
                ..MessageFilter::default()
            },
            ..ExportOptions::default()
        };
        let one = tmp.join(format!("{index}-one"));
        let two = tmp.join(format!("{index}-two"));
        export_to(&backup, &one, &options);
        // Reopened from scratch for the second run.
        export_to(&open(&fixture(rel)), &two, &options);
        let first = file_bytes(&one);
        assert_eq!(
            first.len(),
            2,
            "{rel}: {:?}",
            first.iter().map(|f| &f.0).collect::<Vec<_>>()
        );
        assert!(
            first == file_bytes(&two),
            "{rel} {format:?}: outputs differ"
        );
        // Never overwrites.
        assert!(matches!(
            export::export(&backup, &one, &options, &mut |_| {}, None),
            Err(export::ExportError::Exists(_))
        ));
    }
    // A dry run writes nothing and counts the drops.
    let backup = open(&fixture("v2/orders"));
    let exp = expected("v2/orders");
    let dry = tmp.join("dry");
    let report = export_to(
        &backup,
        &dry,
        &ExportOptions {
            filter: MessageFilter {
                subjects: vec!["orders.created.>".into()],
                ..MessageFilter::default()
            },
            dry_run: true,
            ..ExportOptions::default()
        },
    );
    assert!(!dry.exists());
    let created: u64 = exp["subjects"]
        .as_object()
        .expect("subjects")
        .iter()
        .filter(|(subject, _)| subject.starts_with("orders.created."))
        .map(|(_, count)| u64_of(count))
        .sum();
    assert_eq!(report.kept_messages, created);
    assert_eq!(
        report.dropped.subject_not_included,
        u64_of(&exp["state"]["messages"]) - created
    );
}

// (f) salvage: every corrupt fixture becomes a backup 2.15.1 restores, holding
// every message the scan could read.
#[test]
fn salvage_makes_damaged_backups_restorable() {
    let server = NatsServer::start("2.15", None);
    let mut conn = server.connect();
    let v214 = NatsServer::start("2.14", None);
    let mut conn214 = v214.connect();
    let tmp = TempDir::new("export-salvage");
    let mut checked = Vec::new();
    for dir in all_fixtures("corrupt") {
        if !dir.join("backup.json").is_file() {
            continue;
        }
        let label = label(&dir);
        let exp = read_json(&dir.join("expected.json"));
        let backup = open(&dir);
        // Without --salvage a damaged backup is refused.
        let refused = export::export(
            &backup,
            &tmp.join("refused"),
            &ExportOptions::default(),
            &mut |_| {},
            None,
        );
        assert!(
            matches!(refused, Err(export::ExportError::Damaged { .. })),
            "{label}: {:?}",
            refused.map(|r| r.kept_messages)
        );
        let out = tmp.join(label.replace('/', "-"));
        let report = export_to(
            &backup,
            &out,
            &ExportOptions {
                salvage: true,
                ..ExportOptions::default()
            },
        );
        assert_eq!(report.format, ArchiveFormat::V2);
        assert_eq!(
            report.kept_messages + report.dropped.unreadable,
            backup.messages.len() as u64
        );
        let (stream, info) = restore(&server, &mut conn, &out);
        let state = &info["state"];
        assert_eq!(
            u64_of(&state["messages"]),
            report.kept_messages,
            "{label}: {state}"
        );
        assert_eq!(
            u64_of(&state["last_seq"]),
            report.state.last_seq,
            "{label}: {state}"
        );
        // Spot-check: every written sequence is there with its subject. Rows marked
        // damaged or suspect (in or next to a CRC-failed or lost range) are never written.
        let written: Vec<usize> = (0..backup.messages.len())
            .filter(|&row| {
                backup.messages.flags(row) & jsbackup::format::headers::flags::UNTRUSTED == 0
            })
            .collect();
        for position in [0, written.len() / 2, written.len().saturating_sub(1)] {
            let Some(message) = written
                .get(position)
                .and_then(|&row| backup.messages.row(row))
            else {
                continue;
            };
            let got = conn
                .get_msg(&stream, message.seq)
                .unwrap_or_else(|| panic!("{label}: seq {} missing", message.seq));
            assert_eq!(
                got["subject"],
                backup.subjects.name(message.subject_id),
                "{label}"
            );
        }
        if exp["damage"]["kind"] == "v1-blk-record-payload-flip" {
            let damaged_seq = u64_of(&exp["damage"]["record"]["seq"]);
            let source = expected(exp["derived_from"].as_str().expect("derived_from"));
            assert_eq!(
                u64_of(&state["messages"]),
                u64_of(&source["state"]["messages"]) - 1,
                "{label}: every message but {damaged_seq}"
            );
            assert!(
                conn.get_msg(&stream, damaged_seq).is_none(),
                "{label}: seq {damaged_seq} is damaged"
            );
        }
        conn.delete_stream(&stream);
        // `--format v1` makes the same salvage restorable on ≤ 2.14 servers.
        let out_v1 = tmp.join(format!("{}-v1", label.replace('/', "-")));
        let report_v1 = export_to(
            &backup,
            &out_v1,
            &ExportOptions {
                salvage: true,
                format: Some(ArchiveFormat::V1),
                ..ExportOptions::default()
            },
        );
        let (stream, info) = restore(&v214, &mut conn214, &out_v1);
        let state = &info["state"];
        assert_eq!(
            u64_of(&state["messages"]),
            report_v1.kept_messages,
            "{label} v1 on 2.14: {state}"
        );
        assert_eq!(
            u64_of(&state["last_seq"]),
            report_v1.state.last_seq,
            "{label} v1 on 2.14: {state}"
        );
        conn214.delete_stream(&stream);
        checked.push(label);
    }
    eprintln!("salvaged and restored: {checked:?}");
    assert!(checked.len() >= 8, "{checked:?}");
}

/// The whole decompressed payload of a data file.
fn decompress(path: &Path) -> Vec<u8> {
    let file = std::fs::File::open(path).expect("open data file");
    let mut stream = jsbackup::format::s2::DecodedStream::new(std::io::BufReader::new(file));
    let mut out = Vec::new();
    while stream.fill(1).is_ok() {
        out.extend_from_slice(stream.take_available(usize::MAX));
    }
    assert!(
        stream.chunks.problems.is_empty(),
        "{:?}",
        stream.chunks.problems
    );
    out
}

/// Our v1 tar members are byte-identical to Go's for the same name, data and mtime.
#[test]
fn v1_tar_members_match_the_servers_bytes() {
    use jsbackup::format::tar::{parse_header_block, parse_pax_records};
    use jsbackup::format::write_v1::TarWriter;
    let real = decompress(&fixture("v1/orders").join("stream.tar.s2"));
    let mut offset = 0usize;
    let mut compared = Vec::new();
    while offset + 512 <= real.len() && real[offset..offset + 512].iter().any(|&byte| byte != 0) {
        let (pax_name, pax_size, flag) =
            parse_header_block(&real[offset..offset + 512]).expect("pax header");
        if flag != b'x' {
            break;
        }
        let records_end = offset + 512 + pax_size as usize;
        let records = parse_pax_records(&real[offset + 512..records_end]).expect("records");
        let mtime = records
            .iter()
            .find(|(key, _)| key == "mtime")
            .expect("mtime")
            .1
            .clone();
        let (seconds, fraction) = mtime.split_once('.').expect("fractional mtime");
        let nanos: i64 = format!("{fraction:0<9}").parse().expect("fraction");
        let mtime_ns = seconds.parse::<i64>().expect("seconds") * 1_000_000_000 + nanos;
        let header_at = offset + 512 + (pax_size as usize).div_ceil(512) * 512;
        let (name, size, _) =
            parse_header_block(&real[header_at..header_at + 512]).expect("header");
        let data_at = header_at + 512;
        let end = data_at + (size as usize).div_ceil(512) * 512;
        let data = &real[data_at..data_at + size as usize];
        let mut writer = TarWriter::new(Vec::new(), mtime_ns);
        writer.append(&name, data).expect("append");
        let ours = writer.finish().expect("finish");
        assert_eq!(
            &ours[..ours.len() - 1024],
            &real[offset..end],
            "member {name} ({pax_name})"
        );
        compared.push(name);
        offset = end;
    }
    assert!(compared.len() >= 8, "{compared:?}");
    // The archive ends with exactly two zero blocks.
    assert_eq!(&real[offset..], &[0u8; 1024][..]);
}
