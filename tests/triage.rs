//! Triage: the predicted server restore against what real servers answered
//! (every corrupt and clean fixture's expected.json), "not a backup" refusals,
//! the Markdown report. (The object-store digest check: `tests/objects.rs`.)

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is a failed test

mod common;
use common::jsbackup;

use common::{NatsServer, TempDir};
use serde_json::Value;
use std::path::Path;

fn verify_json(dir: &Path, now: Option<&str>) -> Value {
    let path = dir.to_str().expect("utf-8 path");
    let mut args = vec!["verify", path, "--json"];
    if let Some(now) = now {
        args.extend_from_slice(&["--now", now]);
    }
    let output = jsbackup(&args);
    assert!(
        output.status.code() == Some(0) || output.status.code() == Some(1),
        "verify {path}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("verify JSON")
}

/// The prediction that covers `version` ("2.15.1" → a v2 prediction for "2.15";
/// every tar-reading server shares the one v1 prediction).
fn prediction_for<'a>(report: &'a Value, version: &str) -> &'a Value {
    let predictions = report["restore_prediction"]
        .as_array()
        .expect("predictions");
    if report["format"] == "v1" {
        assert_eq!(predictions.len(), 1);
        return &predictions[0];
    }
    let minor: String = version.split('.').take(2).collect::<Vec<_>>().join(".");
    predictions
        .iter()
        .find(|p| {
            p["servers"]
                .as_array()
                .is_some_and(|s| s.iter().any(|v| v == minor.as_str()))
        })
        .unwrap_or_else(|| panic!("no prediction for {version} in {predictions:?}"))
}

fn check_error(label: &str, prediction: &Value, expected: &str) {
    let predicted = prediction["error"].as_str().expect("predicted error");
    if prediction["error_exact"] == true {
        assert_eq!(predicted, expected, "{label}: error");
    } else {
        assert!(
            expected.starts_with(predicted) && predicted.len() > "restore failed: ".len(),
            "{label}: predicted {predicted:?}, server said {expected:?}"
        );
    }
}

#[test]
fn restore_prediction_matches_the_real_servers_on_every_corrupt_fixture() {
    let fixtures = common::all_fixtures("corrupt");
    assert!(fixtures.len() >= 8, "corrupt fixtures: {fixtures:?}");
    let mut checked = 0;
    for dir in fixtures {
        let expected = common::read_json(&dir.join("expected.json"));
        let report = verify_json(&dir, None);
        let servers = expected["server_restore"]
            .as_object()
            .expect("server_restore");
        for (version, answer) in servers {
            let label = format!("{} on {version}", dir.display());
            let prediction = prediction_for(&report, version);
            let ok = answer["ok"].as_bool().expect("ok");
            assert_eq!(
                prediction["outcome"] != "fails",
                ok,
                "{label}: {prediction}"
            );
            let exists = answer["stream_after"]["exists"].as_bool().expect("exists");
            assert_eq!(prediction["stream_created"], exists, "{label}: stream left");
            if !ok {
                let said = answer["error"]["description"].as_str().expect("error");
                check_error(&label, prediction, said);
            }
            if exists {
                assert_eq!(
                    prediction["messages"], answer["state"]["messages"],
                    "{label}"
                );
                assert_eq!(
                    prediction["last_seq"], answer["state"]["last_seq"],
                    "{label}"
                );
            }
            if let Some(seq) = answer["probe"]["damaged_seq"]["seq"].as_u64() {
                // The server answers "no message found" for it: predicted as missing.
                let missing = prediction["missing"].as_array().expect("missing");
                assert!(
                    missing
                        .iter()
                        .any(|r| r[0].as_u64() <= Some(seq) && r[1].as_u64() >= Some(seq)),
                    "{label}: seq {seq} not predicted missing: {prediction}"
                );
                assert_eq!(prediction["outcome"], "succeeds_with_loss", "{label}");
            }
            checked += 1;
        }
    }
    assert!(checked >= 11, "checked {checked} server answers");
}

#[test]
fn clean_fixtures_predict_success_with_the_servers_counts() {
    let mut checked = 0;
    for group in ["v1", "v2", "v1-older"] {
        for dir in common::all_fixtures(group) {
            let expected = common::read_json(&dir.join("expected.json"));
            let restored = expected["restored"].as_object().expect("restored");
            for (version, answer) in restored {
                let label = format!("{} on {version}", dir.display());
                // TTL expiry on restore depends on the time: predict at the restore's time.
                let at = answer["restored_at"].as_str().expect("restored_at");
                let report = verify_json(&dir, Some(at));
                let prediction = prediction_for(&report, version);
                assert_eq!(answer["ok"], true, "{label}");
                assert_eq!(prediction["outcome"], "succeeds", "{label}: {prediction}");
                assert_eq!(
                    prediction["messages"], answer["state"]["messages"],
                    "{label}"
                );
                assert_eq!(
                    prediction["last_seq"], answer["state"]["last_seq"],
                    "{label}"
                );
                // Every check, content checks included, is silent on real clean backups.
                assert_eq!(report["findings"], serde_json::json!([]), "{label}");
                checked += 1;
            }
        }
    }
    assert!(checked >= 20, "checked {checked}");
}

#[test]
fn every_finding_has_an_impact_and_a_next_step() {
    for dir in common::all_fixtures("corrupt") {
        let report = verify_json(&dir, None);
        let findings = report["findings"].as_array().expect("findings");
        assert!(!findings.is_empty(), "{}", dir.display());
        for finding in findings {
            for key in ["impact", "next_step"] {
                let text = finding[key].as_str().unwrap_or("");
                assert!(text.len() > 10, "{}: {key} of {finding}", dir.display());
            }
        }
    }
    let flip = verify_json(&common::fixture("corrupt/v1-blk-payload-flip"), None);
    let damaged = &flip["damaged_subjects"][0];
    assert_eq!(damaged["seq"], 1000);
    // expected.json: the damaged record's subject.
    let expected = common::expected("corrupt/v1-blk-payload-flip");
    assert_eq!(damaged["subject"], expected["damage"]["record"]["subject"]);
    let checksum = flip["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["kind"] == "record_checksum")
        .expect("record checksum finding");
    let impact = checksum["impact"].as_str().expect("impact");
    assert!(impact.contains("orders.paid.us"), "{impact}");
    assert!(impact.contains("no message found"), "{impact}");
    let keeps = flip["salvage"]["keeps"].as_u64().expect("salvage keeps");
    let intact = flip["summary"]["intact"].as_u64().expect("intact");
    assert_eq!(keeps, intact);
    assert_eq!(flip["salvage"]["format"], "v1");
}

#[test]
fn not_a_backup_is_refused_with_what_was_found() {
    let scratch = TempDir::new("jsbackup-sniff");
    let random = scratch.join("random.bin");
    let mut bytes = Vec::with_capacity(8192);
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..8192 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.push((state >> 24) as u8);
    }
    std::fs::write(&random, &bytes).expect("write random");
    let empty = scratch.join("empty.s2");
    std::fs::write(&empty, b"").expect("write empty");
    let text = scratch.join("notes.txt");
    std::fs::write(&text, b"meeting notes, not a backup\n").expect("write text");
    for (path, found) in [
        (&random, "no S2 stream identifier"),
        (&empty, "an empty file"),
        (&text, "text: \"meeting notes"),
    ] {
        for command in ["info", "verify", "messages"] {
            let output = jsbackup(&[command, path.to_str().expect("path")]);
            assert_eq!(
                output.status.code(),
                Some(2),
                "{command} {}",
                path.display()
            );
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(stderr.contains("not a NATS stream backup ("), "{stderr}");
            assert!(stderr.contains(found), "{stderr}");
        }
    }
    let missing = scratch.join("no-such-backup");
    let output = jsbackup(&["verify", missing.to_str().expect("path")]);
    assert_eq!(output.status.code(), Some(2));
    // A damaged backup is still a backup: a flipped identifier byte is not refused.
    let mut damaged =
        std::fs::read(common::fixture("v2/orders").join("stream.tar.s2")).expect("read fixture");
    damaged[0] ^= 0xff;
    let damaged_path = scratch.join("damaged.s2");
    std::fs::write(&damaged_path, &damaged).expect("write damaged");
    let output = jsbackup(&["verify", damaged_path.to_str().expect("path")]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("not a NATS stream backup"), "{stderr}");
}

/// An archive cut short inside its first S2 chunk (an incomplete copy) holds
/// nothing that decodes: it is refused as unreadable, not as "not a backup", and
/// the error says what backup.json declares is lost.
#[test]
fn an_archive_cut_inside_its_first_chunk_says_what_is_lost() {
    let source = common::fixture("v2/orders");
    let expected = common::expected("v2/orders");
    let bytes = std::fs::read(source.join("stream.tar.s2")).expect("read fixture");
    // The stream identifier (10 bytes), then the first chunk's 4-byte header.
    assert_eq!(&bytes[..10], b"\xff\x06\x00\x00S2sTwO");
    assert!(bytes[10] <= 1, "the first chunk holds data");
    let len = usize::from(bytes[11]) | usize::from(bytes[12]) << 8 | usize::from(bytes[13]) << 16;
    let first = (14usize, len);
    let scratch = TempDir::new("jsbackup-cut-first-chunk");
    let dir = scratch.join("cut");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::copy(source.join("backup.json"), dir.join("backup.json")).expect("copy");
    std::fs::write(dir.join("stream.tar.s2"), &bytes[..first.0 + first.1 / 2]).expect("write");
    let output = jsbackup(&["verify", dir.to_str().expect("path")]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("not a NATS stream backup"), "{stderr}");
    assert!(stderr.contains("the last chunk is incomplete"), "{stderr}");
    let declared = expected["state"]["messages"].as_u64().expect("messages");
    let group = jsbackup::ops::wording::group;
    assert!(
        stderr.contains(&format!(
            "the {} messages that backup.json declares (seq {}–{}) are all lost",
            group(declared),
            expected["state"]["first_seq"],
            expected["state"]["last_seq"]
        )),
        "{stderr}"
    );
}

#[test]
fn report_file_holds_identity_accounting_prediction_and_findings() {
    let scratch = TempDir::new("jsbackup-report");
    let dir = common::fixture("corrupt/v2-truncated");
    let expected = common::read_json(&dir.join("expected.json"));
    let out = scratch.join("triage.md");
    let out_str = out.to_str().expect("path");
    let output = jsbackup(&["verify", dir.to_str().expect("path"), "--report", out_str]);
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = std::fs::read_to_string(&out).expect("report written");
    let sha = expected["archive"]["sha256"].as_str().expect("sha256");
    for needle in [
        "# Backup triage: TELEMETRY",
        "## Identity",
        sha,
        "## Accounting",
        "**Lost** (not in the archive any more): seq 312–640",
        "## What a restore would do",
        "failed to read message sequence 312: archive: invalid archive stream",
        "## What a salvage keeps",
        "keeps 311 of 640 messages",
        "## Findings",
        "Impact:",
        "Next step:",
    ] {
        assert!(text.contains(needle), "report lacks {needle:?}:\n{text}");
    }
    // Never overwritten.
    let again = jsbackup(&["verify", dir.to_str().expect("path"), "--report", out_str]);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
}

// ------------------------------------------------ prediction vs a live server

/// Raw uncompressed S2 framing of `plain` in chunks of `chunk` bytes, valid CRCs.
fn frame_uncompressed(plain: &[u8], chunk: usize) -> (Vec<u8>, Vec<usize>) {
    let mut out = b"\xff\x06\x00\x00sNaPpY".to_vec();
    let mut chunk_starts = Vec::new();
    for piece in plain.chunks(chunk) {
        chunk_starts.push(out.len());
        let len = piece.len() + 4;
        out.extend_from_slice(&[0x01, len as u8, (len >> 8) as u8, (len >> 16) as u8]);
        out.extend_from_slice(&jsbackup::format::s2::masked_crc(piece).to_le_bytes());
        out.extend_from_slice(piece);
    }
    (out, chunk_starts)
}

/// Damages of a real archive at positions drawn from `seed`: (label, framed bytes).
fn damages(plain: &[u8], seed: u64) -> Vec<(String, Vec<u8>)> {
    const CHUNK: usize = 8 * 1024;
    let (framed, starts) = frame_uncompressed(plain, CHUNK);
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut pick = |from: usize, to: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        from + (state as usize) % (to - from)
    };
    let chunks = starts.len();
    let middle_index = pick(3, chunks - 3);
    let middle = starts[middle_index];
    let late = starts[pick(middle_index + 1, chunks - 1)];
    let in_chunk = pick(16, 4000);
    let mut out = Vec::new();
    // One payload byte flipped, the CRC kept: the chunk fails its CRC.
    let mut crc = framed.clone();
    crc[middle + 8 + in_chunk] ^= 0x20;
    out.push(("crc-fails-mid".to_string(), crc));
    // The chunk's bytes zeroed, its CRC kept.
    let mut zeros = framed.clone();
    let body_end = starts
        .get(middle_index + 1)
        .copied()
        .unwrap_or(framed.len());
    zeros[middle + 8..body_end].fill(0);
    out.push(("zeroed-chunk".to_string(), zeros));
    // Cut at a chunk boundary (S2 is clean, the archive is not).
    out.push(("cut-at-chunk".to_string(), framed[..late].to_vec()));
    // Cut inside a chunk.
    out.push((
        "cut-in-chunk".to_string(),
        framed[..late + in_chunk].to_vec(),
    ));
    // Two damages: a CRC failure late and another earlier.
    let mut two = framed.clone();
    two[late + 8 + in_chunk] ^= 0x01;
    two[starts[pick(1, middle_index)] + 8 + in_chunk] ^= 0x01;
    out.push(("two-crc-failures".to_string(), two));
    // A whole chunk removed: framing and CRCs stay valid, bytes are missing.
    let mut removed = framed[..middle].to_vec();
    removed.extend_from_slice(&framed[body_end..]);
    out.push(("chunk-removed".to_string(), removed));
    // Garbage inserted into a chunk, its CRC recomputed.
    let index = pick(1, chunks - 2);
    let piece_start = index * CHUNK;
    let piece_end = (piece_start + CHUNK).min(plain.len());
    let mut piece = plain[piece_start..piece_end].to_vec();
    let garbage: Vec<u8> = (0..300u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    piece.splice(in_chunk..in_chunk, garbage);
    let mut inserted = plain[..piece_start].to_vec();
    inserted.extend_from_slice(&piece);
    inserted.extend_from_slice(&plain[piece_end..]);
    out.push((
        "bytes-inserted".to_string(),
        frame_uncompressed(&inserted, CHUNK).0,
    ));
    // Bytes deleted inside a chunk, CRC recomputed.
    let mut deleted = plain.to_vec();
    let gone = pick(1, 100);
    deleted.drain(piece_start + in_chunk..piece_start + in_chunk + gone);
    out.push((
        "bytes-deleted".to_string(),
        frame_uncompressed(&deleted, CHUNK).0,
    ));
    // The first data chunk removed: the server's first 8 bytes are not the v2
    // magic, so it reads the archive as a tar (both formats then fail on a header).
    let mut first_removed = framed[..starts[0]].to_vec();
    first_removed.extend_from_slice(&framed[starts[1]..]);
    out.push(("first-chunk-removed".to_string(), first_removed));
    // Bytes deleted early (CRC recomputed), then a chunk failing its CRC later: the
    // server meets whichever comes first in the stream.
    let (mut early_cut, cut_starts) = frame_uncompressed(&deleted, CHUNK);
    let late_index = cut_starts.len() - 2;
    early_cut[cut_starts[late_index] + 8 + in_chunk] ^= 0x04;
    out.push(("deleted-then-crc-fails".to_string(), early_cut));
    // v1 only: the tar cut in its last member's padding (the server's reader takes
    // that as the end of the archive and restores) and inside its trailer (the two
    // zero blocks: `unexpected EOF`). The same for every seed: once.
    if !backup_is_v2(plain) && seed == 1 {
        let data_end = last_member_data_end(plain);
        assert!(
            !data_end.is_multiple_of(512),
            "the last member has no padding"
        );
        out.push((
            "cut-in-last-padding".to_string(),
            frame_uncompressed(&plain[..data_end + 1], CHUNK).0,
        ));
        out.push((
            "cut-in-trailer".to_string(),
            frame_uncompressed(&plain[..plain.len() - 1024 + 100], CHUNK).0,
        ));
    }
    // v1 only: a record length inside msgs/1.blk made wrong (tar and S2 stay valid).
    for (kind, grow) in [
        ("record-length-past-block", 1u32 << 20),
        ("record-length-off-by-8", 8),
    ] {
        let pick_record = pick(1, 1000);
        if let Some(bytes) = v1_record_length_damage(plain, pick_record, grow) {
            out.push((kind.to_string(), frame_uncompressed(&bytes, CHUNK).0));
        }
    }
    out
}

/// Where the last member's data ends in a plain tar (headers walked from the start).
fn last_member_data_end(tar: &[u8]) -> usize {
    let mut at = 0;
    let mut data_end = 0;
    while at + 512 <= tar.len() && tar[at..at + 512].iter().any(|&byte| byte != 0) {
        let size_field = std::str::from_utf8(&tar[at + 124..at + 136]).expect("size field");
        let size =
            usize::from_str_radix(size_field.trim_matches(|c: char| c == '\0' || c == ' '), 8)
                .expect("octal size");
        data_end = at + 512 + size;
        at = data_end.div_ceil(512) * 512;
    }
    data_end
}

/// `plain` with the length of the `index`-th record of `msgs/1.blk` changed: set to
/// `grow` when that is at least 1 MiB, else grown by `grow`. `None` for v2 archives.
fn v1_record_length_damage(plain: &[u8], index: usize, grow: u32) -> Option<Vec<u8>> {
    let header = (0..plain.len() / 512)
        .map(|block| block * 512)
        .find(|&at| plain.get(at..at + 11) == Some(b"msgs/1.blk\0".as_slice()))?;
    let size_field = std::str::from_utf8(plain.get(header + 124..header + 135)?).ok()?;
    let size =
        usize::from_str_radix(size_field.trim_matches(|c: char| c == '\0' || c == ' '), 8).ok()?;
    let data = header + 512;
    let read_len = |at: usize| -> Option<u32> {
        Some(u32::from_le_bytes(plain.get(at..at + 4)?.try_into().ok()?))
    };
    let mut offset = 0usize;
    for _ in 0..index {
        let len = (read_len(data + offset)? & 0x7fff_ffff) as usize;
        if len == 0 || offset + len >= size {
            return None;
        }
        offset += len;
    }
    let at = data + offset;
    let raw = read_len(at)?;
    let len = if grow >= 1 << 20 {
        grow
    } else {
        (raw & 0x7fff_ffff) + grow
    };
    let mut out = plain.to_vec();
    out[at..at + 4].copy_from_slice(&((raw & 0x8000_0000) | len).to_le_bytes());
    Some(out)
}

/// What the server answered: (ok, error description).
fn live_restore(conn: &mut common::NatsConn, dir: &Path, name: &str) -> (bool, String) {
    match common::restore_via_api(conn, dir, name) {
        Ok(_) => (true, String::new()),
        Err(text) => {
            let json_start = text.find('{').unwrap_or(text.len());
            let reply: Value = serde_json::from_str(&text[json_start..]).unwrap_or(Value::Null);
            let description = reply["error"]["description"].as_str().unwrap_or(&text);
            (false, description.to_string())
        }
    }
}

/// Seeds per archive: each gives every kind of damage at new positions.
const SEEDS: u64 = 4;

fn backup_is_v2(plain: &[u8]) -> bool {
    plain.starts_with(b"NATSARC1")
}

fn check_live(server_version: &str, fixture: &str) {
    let server = NatsServer::start(server_version, None);
    let mut conn = server.connect();
    let source = common::fixture(fixture);
    let backup: Value = common::read_json(&source.join("backup.json"));
    let name = backup["config"]["name"]
        .as_str()
        .expect("stream name")
        .to_string();
    let plain = common::s2::decompress(&std::fs::read(source.join("stream.tar.s2")).expect("read"));
    let scratch = TempDir::new("jsbackup-live-predict");
    let cases = (1..=SEEDS).flat_map(|seed| {
        damages(&plain, seed)
            .into_iter()
            .map(move |(label, bytes)| (format!("{label} seed {seed}"), bytes))
    });
    for (case, (label, bytes)) in cases.enumerate() {
        let label = format!("{fixture} {label} on {server_version}");
        // v2 takes any name (a fresh one per case: a just-deleted stream can still be
        // settling on the server); a v1 tar must keep the name in its meta.inf.
        let name = if backup_is_v2(&plain) {
            format!("{name}_{case}")
        } else {
            name.clone()
        };
        let dir = scratch.join(label.replace(['/', ' '], "-"));
        std::fs::create_dir(&dir).expect("mkdir");
        std::fs::copy(source.join("backup.json"), dir.join("backup.json")).expect("copy");
        std::fs::write(dir.join("stream.tar.s2"), &bytes).expect("write");
        let report = verify_json(&dir, None);
        let prediction = prediction_for(&report, server_version).clone();
        let (ok, said) = live_restore(&mut conn, &dir, &name);
        assert_eq!(
            prediction["outcome"] != "fails",
            ok,
            "{label}: {prediction} vs {said:?}"
        );
        let info = conn.stream_info(&name);
        let exists = info.get("error").is_none();
        assert_eq!(
            prediction["stream_created"], exists,
            "{label}: {prediction} vs {info}"
        );
        if !ok {
            check_error(
                &label,
                &prediction,
                &format!(
                    "restore failed: {}",
                    said.trim_start_matches("restore failed: ")
                ),
            );
        }
        if exists {
            assert_eq!(
                prediction["messages"], info["state"]["messages"],
                "{label}: {prediction} vs {}",
                info["state"]
            );
            assert_eq!(
                prediction["last_seq"], info["state"]["last_seq"],
                "{label}: {prediction} vs {}",
                info["state"]
            );
            conn.delete_stream(&name);
        }
        eprintln!(
            "{label}: predicted and got {}",
            if ok { "success".into() } else { said }
        );
    }
}

#[test]
fn predictions_match_a_live_2_15_server_on_seeded_damage_v2() {
    check_live("2.15", "v2/orders");
}

#[test]
fn predictions_match_live_2_14_and_2_15_servers_on_seeded_damage_v1() {
    check_live("2.15", "v1/orders");
    check_live("2.14", "v1/orders");
}

// ------------------------------------------------------- robustness of triage

/// Seeded byte mutations (CRCs recomputed, so the damage reaches the archive
/// parsers): the content checks, restore replay and triage never panic, and stay fast.
#[test]
fn triage_of_mutated_archives_never_panics() {
    let scratch = TempDir::new("jsbackup-triage-mutations");
    let started = std::time::Instant::now();
    let mut cases = 0;
    for fixture in ["v2/orders", "v1/orders", "v2/kv", "v1/kv", "v2/ttl"] {
        let source = common::fixture(fixture);
        let plain =
            common::s2::decompress(&std::fs::read(source.join("stream.tar.s2")).expect("read"));
        let mut state = 0x5eed_u64 ^ plain.len() as u64;
        for iteration in 0..40 {
            let mut mutated = plain.clone();
            for _ in 0..1 + iteration % 4 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let at = (state as usize) % mutated.len();
                match state >> 60 {
                    0..=7 => mutated[at] ^= 1 << (state >> 56 & 7),
                    8..=11 => mutated.truncate(at.max(1)),
                    _ => mutated
                        .splice(at..at, (0..(state >> 40) as u8 % 64).map(|b| b ^ 0x5a))
                        .for_each(drop),
                }
            }
            let dir = scratch.join(format!("{}-{iteration}", fixture.replace('/', "-")));
            std::fs::create_dir(&dir).expect("mkdir");
            std::fs::copy(source.join("backup.json"), dir.join("backup.json")).expect("copy");
            std::fs::write(
                dir.join("stream.tar.s2"),
                frame_uncompressed(&mutated, 8192).0,
            )
            .expect("write");
            let one = std::time::Instant::now();
            let mut control = jsbackup::ops::scan::ScanControl::default();
            let Ok(mut backup) = jsbackup::ops::scan::open_backup(&dir, &mut control) else {
                continue;
            };
            let options = jsbackup::ops::content_checks::CheckOptions { headers: true };
            if let Err(error) = jsbackup::ops::content_checks::run(&mut backup, options, None) {
                panic!("{}: content checks: {error}", dir.display());
            }
            let triage = jsbackup::ops::triage::triage(&backup, 0, None, true);
            assert_eq!(triage.findings.len(), backup.findings.len());
            assert!(!triage.restore.is_empty(), "{}", dir.display());
            assert!(
                one.elapsed().as_secs() < 10,
                "{}: {:?}",
                dir.display(),
                one.elapsed()
            );
            cases += 1;
        }
    }
    eprintln!(
        "{cases} mutated archives triaged in {:?}",
        started.elapsed()
    );
    assert!(cases >= 150, "{cases}");
}

/// Bytes deleted inside a consumer entry of `v2/orders` (every CRC valid): the
/// entries up to the first message are unreadable from the end of the consumer
/// before, but no sequence is lost (the stream starts at expected.json's
/// `first_seq`, above 1) and the deleted sequences are exactly expected.json's.
#[test]
fn bytes_lost_among_the_consumer_entries_lose_no_sequence() {
    let source = common::fixture("v2/orders");
    let expected = common::expected("v2/orders");
    let first_seq = expected["state"]["first_seq"].as_u64().expect("first_seq");
    assert!(
        first_seq > 1,
        "the test needs a stream that does not start at 1"
    );
    let mut data =
        common::s2::decompress(&std::fs::read(source.join("stream.tar.s2")).expect("read"));
    let consumers = expected["consumers"].as_array().expect("consumers");
    let second = format!("consumers/{}", consumers[1]["name"].as_str().expect("name"));
    let name_at = data
        .windows(second.len())
        .position(|window| window == second.as_bytes())
        .expect("the second consumer's entry");
    // Inside its JSON: the entry after it loses its header's first bytes.
    let cut = name_at + second.len() + 100;
    data.drain(cut..cut + 5);
    let dir = TempDir::new("consumer-bytes-lost");
    std::fs::write(dir.join("stream.tar.s2"), common::s2::uncompressed(&data)).expect("write");
    std::fs::copy(source.join("backup.json"), dir.join("backup.json")).expect("copy");
    let report = verify_json(dir.path(), None);
    let summary = &report["summary"];
    assert_eq!(summary["lost"], serde_json::json!([]), "{summary:#}");
    assert_eq!(summary["intact"], expected["state"]["messages"]);
    let deleted: Vec<u64> = summary["deleted"]
        .as_array()
        .expect("deleted")
        .iter()
        .flat_map(|range| range[0].as_u64().unwrap()..=range[1].as_u64().unwrap())
        .collect();
    let expected_deleted: Vec<u64> = expected["deleted_seqs"]
        .as_array()
        .expect("deleted_seqs")
        .iter()
        .map(|seq| seq.as_u64().unwrap())
        .collect();
    assert_eq!(deleted, expected_deleted);
    // The unreadable bytes start after the consumer entries that were read.
    let lost = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|finding| finding["kind"] == "lost_data")
        .expect("a lost_data finding");
    let from = lost["offset"].as_u64().expect("offset");
    assert!(from > cut as u64, "{lost:#}");
}

/// v1: a record's subject length changed with the CRC recomputed. The record
/// checksum still passes (it hashes subject, headers and data as one run), but the
/// subject now ends in an empty token, which nothing can publish: the message is
/// damaged, and the prediction says a server restores it split wrongly (checked by
/// hand on 2.14.6, which served such a record under the cut subject).
#[test]
fn a_v1_subject_length_that_moved_is_damage_though_the_checksum_passes() {
    let source = common::fixture("v1/orders");
    let expected = common::expected("v1/orders");
    let mut data =
        common::s2::decompress(&std::fs::read(source.join("stream.tar.s2")).expect("read"));
    let block = common::s2::tar_member_data(&data, "msgs/1.blk");
    let subjects = expected["subjects"].as_object().expect("subjects");
    // The first live record in the block carrying one of the stream's subjects.
    let first_seq = expected["state"]["first_seq"].as_u64().expect("first_seq");
    let deleted: Vec<u64> = expected["deleted_seqs"]
        .as_array()
        .expect("deleted_seqs")
        .iter()
        .filter_map(Value::as_u64)
        .collect();
    let live = |seq: u64| seq >= first_seq && !deleted.contains(&seq);
    let (at, subject, seq) = subjects
        .keys()
        .flat_map(|subject| {
            let mut pattern = (subject.len() as u16).to_le_bytes().to_vec();
            pattern.extend_from_slice(subject.as_bytes());
            let found: Vec<(usize, String, u64)> = data[block..]
                .windows(pattern.len())
                .enumerate()
                .filter(|(_, window)| *window == pattern.as_slice())
                .map(|(offset, _)| {
                    let at = block + offset;
                    let seq = u64::from_le_bytes(data[at - 16..at - 8].try_into().expect("8"));
                    (at, subject.clone(), seq)
                })
                .collect();
            found
        })
        .filter(|(_, _, seq)| live(*seq))
        // Without headers (the record length's high bit): a header block's own
        // length field follows the subject and would no longer parse.
        .filter(|(at, _, _)| {
            u32::from_le_bytes(data[at - 20..at - 16].try_into().expect("4")) & (1 << 31) == 0
        })
        .min()
        .expect("a live record without headers");
    let last_token = subject.rsplit('.').next().expect("a token").len();
    let shorter = (subject.len() - last_token) as u16;
    data[at..at + 2].copy_from_slice(&shorter.to_le_bytes());
    let dir = TempDir::new("v1-subject-length");
    std::fs::write(dir.join("stream.tar.s2"), common::s2::uncompressed(&data)).expect("write");
    std::fs::copy(source.join("backup.json"), dir.join("backup.json")).expect("copy");
    let report = verify_json(dir.path(), None);
    assert_eq!(
        report["summary"]["damaged"],
        serde_json::json!([seq]),
        "{:#}",
        report["summary"]
    );
    let cut = &subject[..shorter as usize];
    assert!(
        report["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .any(|finding| {
                finding["seq"] == seq
                    && finding["message"]
                        .as_str()
                        .is_some_and(|text| text.contains(&format!("{cut:?}")))
            }),
        "{:#}",
        report["findings"]
    );
    let prediction = prediction_for(&report, "2.14.6");
    let summary = prediction["summary"].as_str().expect("summary");
    assert!(
        summary.contains(&format!(
            "seq {seq} is restored with subject and data split wrongly"
        )),
        "{summary}"
    );
}
