//! The record search after damage inside a v1 block (issue 12): a real archive of
//! the `v1/compressed` fixture (nats-server 2.14, 640 messages of about 16 KB in
//! one 8 MiB block) is damaged where the record search used to give up, and
//! `export --salvage` must keep every message whose bytes lie wholly outside the
//! damage, with the bytes of the original.
//!
//! The search used to pay every candidate offset's checksum from one budget and
//! stop when it ran out. Garbage and misaligned record bytes declare lengths of
//! megabytes; a few thousand damaged bytes spent the budget of the whole block, and
//! every record after the damage was lost.
//!
//! Also from the damage matrix: garbage behind the intact header of the first
//! S2 chunk (the S2 resync's budget), and a damaged meta.inf (the salvage must
//! rebuild it, and its copy must restore into a real server).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is a failed test

mod common;

use jsbackup::format::s2::masked_crc;
use jsbackup::ops::read::MessageReader;
use jsbackup::ops::scan::{open_backup, ScanControl};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// The decompressed bytes of a fixture's `stream.tar.s2`, and the decompressed
/// (start, end) of each of its data chunks.
fn decompressed(dir: &Path) -> (Vec<u8>, Vec<(usize, usize)>) {
    common::s2::decompress_chunks(&std::fs::read(dir.join("stream.tar.s2")).expect("archive"))
}

/// An S2 file of uncompressed chunks of at most 64 KiB; the chunk holding
/// `bad.0` (if any) keeps the CRC of the original bytes `bad.1`, so it fails.
fn s2_file(data: &[u8], bad: Option<(usize, &[u8])>) -> Vec<u8> {
    let mut out = vec![0xff, 6, 0, 0];
    out.extend_from_slice(b"S2sTwO");
    for (index, piece) in data.chunks(64 << 10).enumerate() {
        let crc = match bad {
            Some((bad_index, original)) if bad_index == index => masked_crc(original),
            _ => masked_crc(piece),
        };
        let len = piece.len() + 4;
        out.extend_from_slice(&[0x01, len as u8, (len >> 8) as u8, (len >> 16) as u8]);
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(piece);
    }
    out
}

/// Every message by sequence: digest input (headers and data) and the decompressed
/// span of its whole record.
fn messages(dir: &Path) -> BTreeMap<u64, (Vec<u8>, (usize, usize))> {
    let backup = open_backup(dir, &mut ScanControl::default()).expect("open");
    let mut reader = MessageReader::open(&backup).expect("reader");
    let mut out = BTreeMap::new();
    for row in 0..backup.messages.len() {
        let message = backup.messages.row(row).expect("row");
        let bytes = reader.read_row(&backup, row).expect("read");
        let subject_len = backup.subjects.name(message.subject_id).len();
        let hdr = message.hdr_len as usize;
        let head = 22 + subject_len + if hdr > 0 { 4 } else { 0 };
        let start = message.offset as usize - head;
        let end = message.offset as usize + hdr + message.data_len as usize + 8;
        let mut content = bytes.headers.clone();
        content.extend_from_slice(&bytes.data);
        out.insert(message.seq, (content, (start, end)));
    }
    out
}

/// Writes the damaged archive, salvages it, and checks the salvage against the
/// original: every message outside `damaged` (decompressed range of the original)
/// kept with its bytes, none with other bytes. Returns how many were kept.
fn salvage_keeps_everything_outside(name: &str, file: &[u8], damaged: (usize, usize)) -> usize {
    let source = common::fixture("v1/compressed");
    let scratch = common::TempDir::new(&format!("jsbackup-v1-resync-{name}"));
    let dir = scratch.join("damaged");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::copy(source.join("backup.json"), dir.join("backup.json")).expect("copy");
    std::fs::write(dir.join("stream.tar.s2"), file).expect("write");
    let out = scratch.join("salvaged");
    let export = Command::new(env!("CARGO_BIN_EXE_jsbackup"))
        .args([
            "export",
            dir.to_str().unwrap(),
            out.to_str().unwrap(),
            "--salvage",
        ])
        .output()
        .expect("run jsbackup");
    assert!(
        export.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&export.stderr)
    );
    let original = messages(&source);
    let expected = common::expected("v1/compressed");
    assert_eq!(
        original.len() as u64,
        expected["state"]["messages"].as_u64().unwrap()
    );
    let kept = messages(&out);
    for (seq, (content, _)) in &kept {
        assert_eq!(
            Some(content),
            original.get(seq).map(|(content, _)| content),
            "{name}: seq {seq} salvaged with other bytes"
        );
    }
    let outside: Vec<u64> = original
        .iter()
        .filter(|(_, (_, span))| span.1 <= damaged.0 || span.0 >= damaged.1)
        .map(|(&seq, _)| seq)
        .collect();
    let missed: Vec<u64> = outside
        .iter()
        .copied()
        .filter(|seq| !kept.contains_key(seq))
        .collect();
    assert!(
        missed.is_empty(),
        "{name}: {} of {} messages outside the damage {damaged:?} not kept: {:?}",
        missed.len(),
        outside.len(),
        &missed[..missed.len().min(10)]
    );
    // Most of the archive lies outside the damage, or the check would prove little.
    assert!(
        outside.len() * 5 >= original.len() * 4,
        "{name}: {} outside",
        outside.len()
    );
    outside.len()
}

/// Seeded garbage (xorshift64*), the same on every run.
fn garbage(len: usize, mut state: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            (state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
        })
        .collect()
}

/// Where the first block's records start: the fixture's tar members are meta.inf,
/// meta.sum, then msgs/1.blk; its records are found by their subjects.
fn record_offset(data: &[u8], nth: usize) -> usize {
    let backup = open_backup(
        &common::fixture("v1/compressed"),
        &mut ScanControl::default(),
    )
    .expect("open");
    let message = backup.messages.row(nth).expect("row");
    let subject_len = backup.subjects.name(message.subject_id).len();
    let head = 22 + subject_len + if message.hdr_len > 0 { 4 } else { 0 };
    let at = message.offset as usize - head;
    assert!(at < data.len());
    at
}

/// Cause 1 (damage matrix, v1 seed 13): 4,079 random bytes inserted inside a record
/// near the start of the block, the chunk's CRC recomputed. The block's 7 MB after
/// the insertion used to be reported as holding no readable record.
#[test]
fn bytes_inserted_into_a_record_lose_only_that_record() {
    let (data, _) = decompressed(&common::fixture("v1/compressed"));
    let record = record_offset(&data, 3);
    let at = record + 100;
    let mut damaged = data[..at].to_vec();
    damaged.extend_from_slice(&garbage(4079, 0x9e37_79b9_7f4a_7c15));
    damaged.extend_from_slice(&data[at..]);
    let kept = salvage_keeps_everything_outside("inserted", &s2_file(&damaged, None), (at, at + 1));
    println!("inserted: {kept} messages outside the damage kept");
}

/// Cause 2 (damage matrix, v1 bit flips): a chunk whose decoded bytes fail its CRC
/// after a flipped bit sent the S2 decoder astray: from the flip on, pieces of
/// earlier bytes copied from the wrong offsets, between stray literals. Misaligned
/// heads and random words declare lengths of megabytes; every record after the
/// chunk, in the same block, used to be lost.
#[test]
fn a_chunk_decoded_astray_loses_only_that_chunk() {
    let (data, _) = decompressed(&common::fixture("v1/compressed"));
    let chunk = 64 << 10;
    // A chunk well inside the block, not its first or last.
    let index = record_offset(&data, 60) / chunk + 1;
    let (from, to) = (index * chunk, (index + 1) * chunk);
    let original = data[from..to].to_vec();
    let mut damaged = data.clone();
    let noise = garbage(to - from, 0x5bd1_e995);
    let mut at = from + 1000;
    let mut piece = 0;
    while at < to {
        let end = (at + 64).min(to);
        // 16 stray bytes, then 48 copied from an earlier offset picked by the noise.
        let back = 64 + usize::from(noise[piece]) * 97;
        for (offset, byte) in damaged[at..end].iter_mut().enumerate() {
            *byte = if offset < 16 {
                noise[(at - from + offset) % noise.len()]
            } else {
                data[at + offset - back]
            };
        }
        at = end;
        piece += 1;
    }
    let file = s2_file(&damaged, Some((index, &original)));
    let kept = salvage_keeps_everything_outside("astray", &file, (from, to));
    println!("astray: {kept} messages outside the damage kept");
}

/// Found with the damage matrix on an archive of several blocks: a chunk removed
/// inside a block leaves its declared size running on into the next member, whose
/// tar header (and first records) were then read as the block's bytes. The blocks
/// after it were lost, though no byte of them was damaged.
#[test]
fn a_chunk_removed_inside_a_block_loses_only_that_chunk() {
    let source = common::fixture("v1/compressed");
    let (data, _) = decompressed(&source);
    let blocks: Vec<String> = common::expected("v1/compressed")["archive"]["v1"]["tar_entries"]
        .as_array()
        .expect("tar entries")
        .iter()
        .filter_map(|entry| entry["name"].as_str())
        .filter(|name| name.ends_with(".blk"))
        .map(str::to_string)
        .collect();
    assert!(
        blocks.len() >= 2,
        "the fixture needs several blocks: {blocks:?}"
    );
    let chunk = 64 << 10;
    // A chunk well inside the first block.
    let index = record_offset(&data, 60) / chunk + 1;
    let (from, to) = (index * chunk, (index + 1) * chunk);
    let mut damaged = data.clone();
    damaged.drain(from..to);
    let file = s2_file(&damaged, None);
    let kept = salvage_keeps_everything_outside("removed", &file, (from, to));
    println!("removed: {kept} messages outside the damage kept");
    // The next block is read from its header inside the first one's bytes: none of
    // its records is reported malformed (its bytes there stop before it does).
    let findings = verify_findings(&source, &file);
    let second = &blocks[1];
    assert!(
        findings.iter().any(|finding| finding["message"]
            .as_str()
            .is_some_and(|text| text.contains(&format!(
                "the tar header of {second} lies at decompressed offset"
            )))),
        "{findings:#?}"
    );
    assert!(
        !findings
            .iter()
            .any(|finding| finding["kind"] == "block_record" && finding["entry"] == second.as_str()),
        "{findings:#?}"
    );
}

/// `verify --json`'s findings for `file` as the data file of a copy of `source`.
fn verify_findings(source: &Path, file: &[u8]) -> Vec<serde_json::Value> {
    let scratch = common::TempDir::new("jsbackup-v1-resync-verify");
    let dir = scratch.join("damaged");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::copy(source.join("backup.json"), dir.join("backup.json")).expect("copy");
    std::fs::write(dir.join("stream.tar.s2"), file).expect("write");
    let output = Command::new(env!("CARGO_BIN_EXE_jsbackup"))
        .args(["verify", dir.to_str().unwrap(), "--json"])
        .output()
        .expect("run jsbackup");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("verify --json");
    report["findings"].as_array().cloned().unwrap_or_default()
}

/// The decompressed offset of the ustar header of `name` (on the 512-byte grid).
fn header_offset(data: &[u8], name: &str) -> usize {
    let mut field = name.as_bytes().to_vec();
    field.push(0);
    (0..data.len() / 512)
        .map(|block| block * 512)
        .find(|&at| data[at..].starts_with(&field))
        .unwrap_or_else(|| panic!("no tar header of {name}"))
}

/// Also from the matrix: bytes removed across the end of one block and the header
/// of the next. The next block's records were searched with the first block's
/// checksum key only, so none verified and the whole block was lost.
#[test]
fn bytes_removed_across_a_block_boundary_lose_only_those_bytes() {
    removed_around_the_second_block_header("across", 30_000, 40_000);
}

/// Removes the bytes from `before` bytes before the header of `msgs/2.blk` to
/// `after` bytes after it (negative: before it), and checks the salvage.
fn removed_around_the_second_block_header(name: &str, before: usize, after: isize) {
    let (data, _) = decompressed(&common::fixture("v1/compressed"));
    let header = header_offset(&data, "msgs/2.blk");
    let (from, to) = (header - before, header.saturating_add_signed(after));
    let mut damaged = data.clone();
    damaged.drain(from..to);
    let kept = salvage_keeps_everything_outside(name, &s2_file(&damaged, None), (from, to));
    println!("{name}: {kept} messages outside the damage kept");
}

/// Bytes removed up to just before the next block's header: the record cut by the
/// removal declares a length that runs past that header, so the header lies
/// before the unreadable tail the record search reports.
#[test]
fn bytes_removed_up_to_a_block_header_lose_only_those_bytes() {
    removed_around_the_second_block_header("up-to", 30_000, -100);
}

/// And the header of the last block in a chunk that fails its CRC, with index.db
/// after it: no header names the block the bytes after the damage belong to.
#[test]
fn a_failed_chunk_over_the_last_block_header_loses_only_that_chunk() {
    let (data, _) = decompressed(&common::fixture("v1/compressed"));
    let chunk = 64 << 10;
    let index = header_offset(&data, "msgs/3.blk") / chunk;
    let (from, to) = (index * chunk, (index + 1) * chunk);
    let original = data[from..to].to_vec();
    let mut damaged = data.clone();
    damaged[from..to].fill(0);
    let file = s2_file(&damaged, Some((index, &original)));
    let kept = salvage_keeps_everything_outside("last-header", &file, (from, to));
    println!("last-header: {kept} messages outside the damage kept");
}

/// Found with the bit flips (v1 seed 103 of the saved archive): the checksum hashes
/// subject, headers and data as one run, so a record whose subject length was
/// damaged still verifies — with payload bytes moved into its subject. In bytes
/// that fail their S2 CRC, such a record must not be salvaged as intact.
#[test]
fn a_moved_subject_boundary_in_a_failed_chunk_is_not_salvaged() {
    let (data, _) = decompressed(&common::fixture("v1/compressed"));
    let backup = open_backup(
        &common::fixture("v1/compressed"),
        &mut ScanControl::default(),
    )
    .expect("open");
    let row = (100..backup.messages.len())
        .find(|&row| backup.messages.row(row).expect("row").hdr_len == 0)
        .expect("a record without headers");
    let record = record_offset(&data, row);
    let chunk = 64 << 10;
    let index = record / chunk;
    // Whole inside one chunk, so only that chunk fails its CRC.
    assert_eq!(index, (record + 64) / chunk);
    let (from, to) = (index * chunk, (index + 1) * chunk);
    let original = data[from..to].to_vec();
    let mut damaged = data.clone();
    let subject_len = u16::from_le_bytes([data[record + 20], data[record + 21]]);
    damaged[record + 20..record + 22].copy_from_slice(&(subject_len + 12).to_le_bytes());
    let file = s2_file(&damaged, Some((index, &original)));
    let kept = salvage_keeps_everything_outside("moved-subject", &file, (from, to));
    println!("moved-subject: {kept} messages outside the damage kept");
}

/// Damage matrix, v1 seed 11 (a bit flip): the compressor copied one damaged
/// subject-length byte into two records of the same subject, which then shared a
/// wrong, shorter subject and confirmed each other. Only records in bytes whose
/// CRC holds confirm a subject now.
#[test]
fn two_records_with_the_same_moved_subject_boundary_are_not_salvaged() {
    let (data, _) = decompressed(&common::fixture("v1/compressed"));
    let backup = open_backup(
        &common::fixture("v1/compressed"),
        &mut ScanControl::default(),
    )
    .expect("open");
    let chunk = 64 << 10;
    let plain = |row: usize| backup.messages.row(row).expect("row").hdr_len == 0;
    let (first, second) = (100..backup.messages.len() - 50)
        .filter(|&row| plain(row))
        .find_map(|row| {
            let subject = backup.messages.row(row).expect("row").subject_id;
            let index = record_offset(&data, row) / chunk;
            (row + 1..row + 50)
                .find(|&other| {
                    plain(other)
                        && backup.messages.row(other).expect("row").subject_id == subject
                        && (record_offset(&data, other) + 64) / chunk == index
                })
                .filter(|_| record_offset(&data, row) + 64 < (index + 1) * chunk)
                .map(|other| (row, other))
        })
        .expect("two records of one subject in one chunk");
    let index = record_offset(&data, first) / chunk;
    let (from, to) = (index * chunk, (index + 1) * chunk);
    let original = data[from..to].to_vec();
    let mut damaged = data.clone();
    let name = backup
        .subjects
        .name(backup.messages.row(first).expect("row").subject_id);
    // Shorter by `cut` bytes: a subject no record has.
    let cut = (1..name.len())
        .find(|&cut| {
            let shorter = &name[..name.len() - cut];
            !shorter.ends_with('.') && backup.subjects.find(shorter.as_bytes()).is_none()
        })
        .expect("a shorter subject no record has") as u16;
    for row in [first, second] {
        let record = record_offset(&data, row);
        let subject_len = u16::from_le_bytes([data[record + 20], data[record + 21]]);
        assert_eq!(usize::from(subject_len), name.len());
        damaged[record + 20..record + 22].copy_from_slice(&(subject_len - cut).to_le_bytes());
    }
    let file = s2_file(&damaged, Some((index, &original)));
    let kept = salvage_keeps_everything_outside("shared-moved-subject", &file, (from, to));
    println!("shared-moved-subject: {kept} messages outside the damage kept");
}

/// Damage matrix, v1 seeds 10 and 19 of fresh 30,000-message archives: garbage
/// behind the intact header of the first data chunk, its CRC kept. Inside the
/// garbage, chance chunk headers that chain to further chance headers each cost a
/// CRC of the length they claim; they spent the resync's whole budget, so the real
/// chunks after the garbage were refused one after the other and 25,768 intact
/// messages were lost. Here the garbage is made of such headers throughout.
#[test]
fn garbage_behind_an_intact_chunk_header_loses_only_that_chunk() {
    let source = common::fixture("v1/compressed");
    let original = std::fs::read(source.join("stream.tar.s2")).expect("archive");
    let (_, ranges) = decompressed(&source);
    // The stream identifier takes bytes 0..10; the first data chunk follows.
    assert_eq!(original[10], 0x00, "the first data chunk is compressed");
    let body_len = usize::from(original[11])
        | usize::from(original[12]) << 8
        | usize::from(original[13]) << 16;
    let mut file = original.clone();
    let payload = &mut file[18..14 + body_len];
    // A block length over 4 MiB, so the chunk cannot decode and the resync starts.
    payload[..5].copy_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
    // Then every fourth byte starts an uncompressed chunk of 20,000 bytes whose end
    // is another such header.
    for (index, byte) in payload[5..].iter_mut().enumerate() {
        *byte = [0x01, 0x20, 0x4e, 0x00][index % 4];
    }
    let kept = salvage_keeps_everything_outside("first-chunk-headers", &file, ranges[0]);
    println!("first-chunk-headers: {kept} messages outside the damage kept");
}

/// Damage matrix, v1 seed 59: bytes deleted inside meta.inf (the chunk's CRC
/// recomputed), so meta.inf is present but no JSON. The salvage wrote that
/// meta.inf into its copy, which then could not be restored ("meta.inf is not a
/// JSON object"); it must rebuild it from backup.json, as when meta.inf is lost.
#[test]
fn a_damaged_meta_inf_is_rebuilt_in_the_salvage() {
    let source = common::fixture("v1/orders");
    let data =
        common::s2::decompress(&std::fs::read(source.join("stream.tar.s2")).expect("archive"));
    let at = common::s2::tar_member_data(&data, "meta.inf");
    for (name, edit) in [("deleted", 0usize), ("overwritten", 1)] {
        let mut damaged = data.clone();
        if edit == 0 {
            damaged.drain(at + 3..at + 10);
        } else {
            damaged[at + 3..at + 10].copy_from_slice(b"\x00\x01\x02\x03\x04\x05\x06");
        }
        let scratch = common::TempDir::new(&format!("jsbackup-meta-inf-{name}"));
        let (_, out, export) = common::s2::salvage_edited(scratch.path(), &source, &damaged);
        let stderr = String::from_utf8_lossy(&export.stderr);
        assert!(export.status.success(), "{name}: {stderr}");
        let salvaged = open_backup(&out, &mut ScanControl::default()).expect("open salvaged");
        assert!(
            !salvaged.has_errors(),
            "{name}: the salvaged copy has errors: {:?}",
            salvaged.findings.first()
        );
        let expected = common::expected("v1/orders");
        assert_eq!(
            salvaged.messages.len() as u64,
            expected["state"]["messages"].as_u64().unwrap(),
            "{name}: every message kept"
        );
        // And it restores: a real 2.14 server takes it through the restore API.
        let server = common::NatsServer::start("2.14", None);
        let mut conn = server.connect();
        common::restore_via_api(&mut conn, &out, "ORDERS")
            .unwrap_or_else(|error| panic!("{name}: restore: {error}\n{}", server.log()));
        assert_eq!(
            conn.stream_info("ORDERS")["state"]["messages"].as_u64(),
            expected["state"]["messages"].as_u64(),
            "{name}: restored messages"
        );
        assert_eq!(
            salvaged
                .config
                .as_ref()
                .and_then(|config| config.name.clone()),
            Some(
                expected["stream"]["config"]["name"]
                    .as_str()
                    .unwrap()
                    .to_string()
            )
        );
    }
}

/// A consumer whose meta.inf is damaged has no config, and a restore refuses a
/// consumer without one: the salvage leaves it out and says so, naming it.
#[test]
fn a_consumer_with_a_damaged_meta_inf_is_left_out_by_name() {
    let source = common::fixture("v1/orders");
    let data =
        common::s2::decompress(&std::fs::read(source.join("stream.tar.s2")).expect("archive"));
    let at = common::s2::tar_member_data(&data, "obs/processor/meta.inf");
    let mut damaged = data.clone();
    damaged[at + 1..at + 8].copy_from_slice(b"\x00\x01\x02\x03\x04\x05\x06");
    let scratch = common::TempDir::new("jsbackup-consumer-meta-inf");
    let (dir, out, export) = common::s2::salvage_edited(scratch.path(), &source, &damaged);
    let stdout = String::from_utf8_lossy(&export.stdout);
    let stderr = String::from_utf8_lossy(&export.stderr);
    assert!(export.status.success(), "{stderr}");
    let salvaged = open_backup(&out, &mut ScanControl::default()).expect("open salvaged");
    let names: Vec<&str> = salvaged.consumers.iter().map(|c| c.name.as_str()).collect();
    assert!(!names.contains(&"processor"), "{names:?}");
    assert!(
        stdout.contains("consumer left out: processor"),
        "the left-out consumer is named: {stdout}"
    );
    // verify says it before anything is written.
    let verify = Command::new(env!("CARGO_BIN_EXE_jsbackup"))
        .args(["verify", dir.to_str().unwrap(), "--json"])
        .output()
        .expect("run jsbackup");
    let report: serde_json::Value = serde_json::from_slice(&verify.stdout).expect("verify --json");
    assert_eq!(
        report["salvage"]["consumers_left_out"],
        serde_json::json!(["processor"]),
        "{}",
        report["salvage"]
    );
}

/// From the KV and object-store shapes of the matrix: a block that ends exactly
/// where an S2 chunk starts, and that chunk does not decode. The block is whole; only its
/// tar padding, the next block's header and the first bytes of that block are
/// lost. The whole block used to be filed as "cut short" with nothing left to
/// search, so the next block's surviving records were never searched and all
/// were lost.
#[test]
fn a_failed_chunk_starting_where_a_block_ends_loses_only_that_chunk() {
    let (data, _) = decompressed(&common::fixture("v1/compressed"));
    let first_data = common::s2::tar_member_data(&data, "msgs/1.blk");
    let size_field = &data[first_data - 512 + 124..first_data - 512 + 136];
    let size_text = std::str::from_utf8(size_field).expect("octal size");
    let size = usize::from_str_radix(size_text.trim_matches(|c: char| c == '\0' || c == ' '), 8)
        .expect("size");
    let block_end = first_data + size;
    assert_ne!(block_end % 512, 0, "the block needs padding for this test");
    // Chunks of 64 KiB up to the block's end, then from it: the first of those fails.
    let chunk = 64 << 10;
    let mut file = vec![0xff, 6, 0, 0];
    file.extend_from_slice(b"S2sTwO");
    let mut damaged_range = (0, 0);
    for (part_start, part) in [(0, &data[..block_end]), (block_end, &data[block_end..])] {
        for (index, piece) in part.chunks(chunk).enumerate() {
            let start = part_start + index * chunk;
            let crc = masked_crc(piece);
            let mut body = piece.to_vec();
            // Garbage as a compressed chunk: it does not decode, so its bytes are lost.
            let mut chunk_type = 0x01;
            if start == block_end {
                body = garbage(piece.len() / 2, 0x5eed);
                chunk_type = 0x00;
                damaged_range = (start, start + piece.len());
            }
            let len = body.len() + 4;
            file.extend_from_slice(&[chunk_type, len as u8, (len >> 8) as u8, (len >> 16) as u8]);
            file.extend_from_slice(&crc.to_le_bytes());
            file.extend_from_slice(&body);
        }
    }
    let kept = salvage_keeps_everything_outside("block-end", &file, damaged_range);
    println!("block-end: {kept} messages outside the damage kept");
    // The zero padding before the next header is no malformed record.
    let findings = verify_findings(&common::fixture("v1/compressed"), &file);
    assert!(
        findings
            .iter()
            .all(|finding| finding["kind"] != "block_record"),
        "{findings:#?}"
    );
    // Records were recovered from the bytes after the lost chunk: no finding calls
    // them unreadable.
    let recovered = findings.iter().any(|finding| {
        finding["message"]
            .as_str()
            .is_some_and(|text| text.contains("recovered from the bytes after it"))
    });
    assert!(recovered, "{findings:#?}");
    assert!(
        findings.iter().all(|finding| !finding["message"]
            .as_str()
            .is_some_and(|text| text.contains("are unreadable"))),
        "{findings:#?}"
    );
}
