//! Object stores: a backup taken from a live nats-server with objects put
//! through nats-py. The SHA-256 of each object's meta message is the one proof
//! of its chunks' bytes in v2: a mismatch makes every chunk suspect (the salvage
//! leaves them out), a match proves chunks that lie in a failed S2 chunk.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is a failed test

mod common;
use common::jsbackup;

use common::{NatsServer, TempDir};
use jsbackup::format::s2_write::S2Writer;
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

fn verify_json(dir: &Path) -> Value {
    let output = jsbackup(&["verify", dir.to_str().expect("utf-8 path"), "--json"]);
    assert!(
        matches!(output.status.code(), Some(0 | 1)),
        "verify {}: {}",
        dir.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("verify JSON")
}

/// `$JSBACKUP_PYTHON`, else the venv `scripts/test.sh` makes (with nats-py).
fn python() -> PathBuf {
    let path = match std::env::var_os("JSBACKUP_PYTHON") {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("target/venv/bin/python"),
    };
    assert!(
        path.is_file(),
        "Python with nats-py not found at {}: set JSBACKUP_PYTHON or run scripts/test.sh once",
        path.display()
    );
    path
}

const PUT_OBJECTS: &str = r#"
import asyncio, sys
import nats

async def main(url):
    nc = await nats.connect(url)
    js = nc.jetstream()
    store = await js.create_object_store("files")
    await store.put("small.txt", b"hello object store\n")
    # Three chunks of 128 KiB: a marker the test flips a bit after.
    big = bytearray()
    for i in range(300 * 1024 // 16):
        big += b"%015d\n" % i
    big[200000:200010] = b"FLIPMARKER"
    await store.put("big.bin", bytes(big))
    await store.put("gone.txt", b"deleted soon")
    await store.delete("gone.txt")
    await nc.close()

asyncio.run(main(sys.argv[1]))
"#;

/// A 2.15 server holding bucket `files` (put by nats-py), and its backup.
fn object_store_backup(scratch: &TempDir) -> (NatsServer, common::NatsConn, PathBuf) {
    let server = NatsServer::start("2.15", None);
    let script = scratch.join("put_objects.py");
    std::fs::write(&script, PUT_OBJECTS).expect("write script");
    let output = Command::new(python())
        .arg(&script)
        .arg(&server.url)
        .output()
        .unwrap_or_else(|error| panic!("cannot run {}: {error}", python().display()));
    assert!(
        output.status.success(),
        "nats-py: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut conn = server.connect();
    let clean = scratch.join("clean");
    common::snapshot_via_api(&mut conn, "OBJ_files", &clean).expect("snapshot");
    (server, conn, clean)
}

/// A copy of `clean` whose data file is `data`.
fn with_data(clean: &Path, name: &str, data: &[u8]) -> PathBuf {
    let dir = clean.with_file_name(name);
    std::fs::create_dir(&dir).expect("mkdir");
    std::fs::copy(clean.join("backup.json"), dir.join("backup.json")).expect("copy");
    std::fs::write(dir.join("stream.tar.s2"), data).expect("write data");
    dir
}

/// The sequences of the server's messages whose subject starts with `prefix`.
fn server_seqs(conn: &mut common::NatsConn, prefix: &str) -> Vec<u64> {
    let state = conn.stream_info("OBJ_files")["state"].clone();
    let (first, last) = (
        state["first_seq"].as_u64().expect("first_seq"),
        state["last_seq"].as_u64().expect("last_seq"),
    );
    (first..=last)
        .filter_map(|seq| conn.get_msg_decoded("OBJ_files", seq))
        .filter(|message| message.subject.starts_with(prefix))
        .map(|message| message.seq)
        .collect()
}

fn suspect_seqs(report: &Value) -> Vec<u64> {
    let mut seqs: Vec<u64> = report["summary"]["suspect"]
        .as_array()
        .expect("suspect groups")
        .iter()
        .flat_map(|group| group["seqs"].as_array().expect("seqs").clone())
        .flat_map(|range| range[0].as_u64().expect("from")..=range[1].as_u64().expect("to"))
        .collect();
    seqs.sort_unstable();
    seqs
}

#[test]
fn a_digest_mismatch_with_valid_crcs_makes_the_objects_chunks_suspect() {
    let scratch = TempDir::new("jsbackup-obj");
    let (_server, mut conn, clean) = object_store_backup(&scratch);
    let report = verify_json(&clean);
    assert_eq!(
        report["summary"]["errors"], 0,
        "clean object store: {}",
        report["findings"]
    );
    assert!(suspect_seqs(&report).is_empty());

    // One bit flipped inside a chunk payload, re-framed with valid CRCs.
    let mut plain =
        common::s2::decompress(&std::fs::read(clean.join("stream.tar.s2")).expect("read"));
    let marker = plain
        .windows(10)
        .position(|window| window == b"FLIPMARKER")
        .expect("marker in the archive");
    plain[marker + 10] ^= 0x01;
    let mut writer = S2Writer::new(Vec::new());
    writer.write_all(&plain).expect("frame");
    let damaged = with_data(&clean, "damaged", &writer.finish().expect("finish"));

    let report = verify_json(&damaged);
    let findings = report["findings"].as_array().expect("findings");
    let digest: Vec<&Value> = findings
        .iter()
        .filter(|f| f["kind"] == "object_digest")
        .collect();
    assert_eq!(digest.len(), 1, "{findings:?}");
    let message = digest[0]["message"].as_str().expect("message");
    assert!(message.contains("\"big.bin\""), "{message}");
    assert!(message.contains("chunk seqs"), "{message}");
    assert!(!message.contains("small.txt"), "{message}");
    assert!(
        findings.iter().all(|f| f["kind"] != "s2_crc"),
        "only the digest check sees it"
    );
    assert_eq!(report["summary"]["errors"], 1);
    // The server's restore would succeed: the damage is invisible to it.
    let prediction = &report["restore_prediction"][0];
    assert_eq!(prediction["outcome"], "succeeds", "{prediction}");
    // The finding points at the object's first chunk: a sequence the server holds.
    let seq = digest[0]["seq"].as_u64().expect("seq");
    let info = conn.stream_info("OBJ_files");
    assert!(
        seq >= info["state"]["first_seq"].as_u64().unwrap_or(0),
        "{seq}"
    );

    // Every chunk of big.bin (as the server holds them) is suspect, nothing else.
    let chunks = server_seqs(&mut conn, "$O.files.C.");
    let metas = server_seqs(&mut conn, "$O.files.M.");
    let suspect = suspect_seqs(&report);
    assert_eq!(
        suspect.len(),
        3,
        "big.bin has three 128 KiB chunks: {suspect:?}"
    );
    assert!(
        suspect.iter().all(|seq| chunks.contains(seq)),
        "{suspect:?} of {chunks:?}"
    );
    let why = report["summary"]["suspect"][0]["why"]
        .as_str()
        .expect("why");
    assert!(
        why.contains("\"big.bin\"") && why.contains("SHA-256"),
        "{why}"
    );

    // The salvage leaves them out and keeps everything else.
    let salvaged = scratch.join("salvaged");
    let export = jsbackup(&[
        "export",
        damaged.to_str().expect("path"),
        salvaged.to_str().expect("path"),
        "--salvage",
    ]);
    assert!(
        export.status.success(),
        "{}",
        String::from_utf8_lossy(&export.stderr)
    );
    let kept = verify_json(&salvaged);
    assert_eq!(kept["summary"]["errors"], 0, "{}", kept["findings"]);
    assert_eq!(
        kept["summary"]["intact"].as_u64(),
        Some((chunks.len() + metas.len() - suspect.len()) as u64)
    );
}

#[test]
fn matching_digests_prove_chunks_that_lie_in_a_failed_s2_chunk() {
    let scratch = TempDir::new("jsbackup-obj-proof");
    let (_server, mut conn, clean) = object_store_backup(&scratch);
    let plain = common::s2::decompress(&std::fs::read(clean.join("stream.tar.s2")).expect("read"));
    // 64 KiB chunks; the CRC of the one holding the marker is wrong, its bytes are not.
    let mut framed = common::s2::uncompressed(&plain);
    let marker = plain
        .windows(10)
        .position(|window| window == b"FLIPMARKER")
        .expect("marker in the archive");
    let chunk = marker / (64 << 10);
    let crc_at = 10 + chunk * (4 + 4 + (64 << 10)) + 4;
    framed[crc_at] ^= 0x01;
    let damaged = with_data(&clean, "bad-crc", &framed);

    let report = verify_json(&damaged);
    let findings = report["findings"].as_array().expect("findings");
    assert!(
        findings.iter().any(|f| f["kind"] == "s2_crc"),
        "the CRC failure is reported: {findings:?}"
    );
    assert!(
        findings.iter().all(|f| f["kind"] != "object_digest"),
        "{findings:?}"
    );
    // The failed chunk lies inside big.bin's second chunk message: that message's
    // data is proven by the object's SHA-256, so nothing is suspect.
    assert_eq!(
        suspect_seqs(&report),
        Vec::<u64>::new(),
        "{}",
        report["summary"]
    );
    let held = conn.stream_info("OBJ_files")["state"]["messages"].as_u64();
    assert_eq!(report["summary"]["intact"].as_u64(), held);
}
