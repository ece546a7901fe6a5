//! v2 damage that every entry hides (issue 12): v2 has no per-message checksum, so
//! bytes lost inside a message can leave a whole entry that swallowed its
//! neighbours. What still shows it: whole entries inside its data that end where
//! it ends, the S2 chunk's length (the server's writer makes 1 MiB chunks), and
//! state.json's deleted count. Real archives: `v2/orders` and `v2/compressed`
//! (nats-server 2.15); the salvage never keeps the changed message.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is a failed test

mod common;
use common::jsbackup;

use jsbackup::ops::read::MessageReader;
use jsbackup::ops::scan::{open_backup, ScanControl};
use std::collections::BTreeMap;
use std::path::Path;

/// Sequence → (headers + payload, decompressed start of the data, end of the entry).
type Messages = BTreeMap<u64, (Vec<u8>, usize, usize)>;

fn messages(dir: &Path) -> Messages {
    let backup = open_backup(dir, &mut ScanControl::default()).expect("open");
    let mut reader = MessageReader::open(&backup).expect("reader");
    let mut out = BTreeMap::new();
    for row in 0..backup.messages.len() {
        let message = backup.messages.row(row).expect("row");
        let bytes = reader.read_row(&backup, row).expect("read");
        let start = message.offset as usize;
        let end = start + message.hdr_len as usize + message.data_len as usize;
        let mut content = bytes.headers.clone();
        content.extend_from_slice(&bytes.data);
        out.insert(message.seq, (content, start, end));
    }
    out
}

/// A real archive: its decompressed bytes, its messages and its scan.
struct Archive {
    source: std::path::PathBuf,
    data: Vec<u8>,
    original: Messages,
    backup: jsbackup::model::Backup,
    seqs: Vec<u64>,
}

impl Archive {
    fn load(fixture: &str) -> Self {
        let source = common::fixture(fixture);
        let data =
            common::s2::decompress(&std::fs::read(source.join("stream.tar.s2")).expect("archive"));
        let original = messages(&source);
        let backup = open_backup(&source, &mut ScanControl::default()).expect("open");
        let seqs = original.keys().copied().collect();
        Self {
            source,
            data,
            original,
            backup,
            seqs,
        }
    }

    /// Where the payload-size byte of message `seq` (no header block, a payload
    /// under 128 bytes) lies.
    fn size_at(&self, seq: u64) -> usize {
        let (content, start, _) = &self.original[&seq];
        let row = self.backup.messages.find_seq(seq).unwrap();
        let name_len = self
            .backup
            .subjects
            .name(self.backup.messages.subject_id[row])
            .len();
        let size_at = start - name_len - 1;
        assert_eq!(
            usize::from(self.data[size_at]),
            content.len(),
            "the payload size byte"
        );
        assert_eq!(self.data[size_at - 1], 0, "no header block");
        size_at
    }
}

/// Writes `stream` beside `source`'s backup.json, salvages it, and returns the
/// damaged folder, what the salvage kept and `verify --json` of the damaged copy.
fn salvage(
    scratch: &Path,
    source: &Path,
    stream: &[u8],
) -> (std::path::PathBuf, Messages, serde_json::Value) {
    let (dir, out, export) = common::s2::salvage_file(scratch, source, stream);
    assert!(
        export.status.success(),
        "{}",
        String::from_utf8_lossy(&export.stderr)
    );
    let verify = jsbackup(&["verify", dir.to_str().unwrap(), "--json"]);
    let report = common::stdout_json("verify --json", &verify);
    (dir, messages(&out), report)
}

/// Nothing salvaged differs from the original, and every message but `left_out`
/// is kept.
fn assert_kept_all_but(what: &str, kept: &Messages, original: &Messages, left_out: &[u64]) {
    for (seq, (content, _, _)) in kept {
        assert_eq!(
            Some(content),
            original.get(seq).map(|(content, _, _)| content),
            "{what}: seq {seq} salvaged with other bytes"
        );
    }
    let missed: Vec<u64> = original
        .keys()
        .copied()
        .filter(|seq| !left_out.contains(seq) && !kept.contains_key(seq))
        .collect();
    assert!(missed.is_empty(), "{what}: not kept: {missed:?}");
    for seq in left_out {
        assert!(!kept.contains_key(seq), "{what}: seq {seq} was kept");
    }
}

fn suspect_seqs(report: &serde_json::Value, why_contains: &str) -> Vec<u64> {
    let mut out = Vec::new();
    for group in report["summary"]["suspect"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if group["why"]
            .as_str()
            .is_some_and(|why| why.contains(why_contains))
        {
            for range in group["seqs"].as_array().into_iter().flatten() {
                out.extend(range[0].as_u64().unwrap()..=range[1].as_u64().unwrap());
            }
        }
    }
    out
}

/// A message's payload size raised (and one byte of its payload lost, so nothing
/// after it moves) to cover the next entry exactly: the entry after both starts
/// where the damaged size says, so only the whole entry inside its data shows the
/// damage. The message is lost, the entry inside it is read and kept.
#[test]
fn a_message_whose_sizes_swallowed_the_next_entry_is_lost_and_that_entry_kept() {
    let archive = Archive::load("v2/orders");
    let expected = common::expected("v2/orders");
    assert_eq!(
        archive.original.len() as u64,
        expected["state"]["messages"].as_u64().unwrap()
    );
    let (data, original, seqs) = (&archive.data, &archive.original, &archive.seqs);
    // A middle message with no header block and a one-byte payload size, then the
    // next message (swallowed), then one more.
    let index = (seqs.len() / 2..seqs.len() - 2)
        .find(|&index| original[&seqs[index]].0.len() < 128)
        .expect("a message to damage");
    let (seq, swallowed) = (seqs[index], seqs[index + 1]);
    let (_, start, end) = original[&seq];
    let next_end = original[&swallowed].2;
    let size_at = archive.size_at(seq);
    // Two bytes of size, one payload byte fewer: the next entry after both stays put.
    let claimed = next_end - (start + 1);
    assert!(claimed >= 128);
    let mut damaged = data[..size_at].to_vec();
    damaged.extend_from_slice(&[(claimed as u8 & 0x7f) | 0x80, (claimed >> 7) as u8]);
    damaged.extend_from_slice(&data[size_at + 1..end - 1]);
    damaged.extend_from_slice(&data[end..]);
    assert_eq!(damaged.len(), data.len());
    let source = &archive.source;
    let scratch = common::TempDir::new("jsbackup-v2-swallowed");
    let (_, kept, report) = salvage(scratch.path(), source, &common::s2::uncompressed(&damaged));
    assert_kept_all_but("swallowed", &kept, original, &[seq]);
    let findings = report["findings"].to_string();
    assert!(
        findings.contains(&format!("sequence {seq} at decompressed offset"))
            && findings.contains(&format!("(sequence {swallowed} on)"))
            && findings.contains("hold whole entries"),
        "{findings}"
    );
}

/// Bytes deleted from inside a message, exactly as many as the next entry holds:
/// the message keeps its sizes and ends with the next entry's last bytes, and the
/// entry after them starts where it says it ends. Only the S2 chunk's length (1 MiB
/// less that many bytes) and the missing sequence (state.json counts no deletion)
/// show it: the message is suspect and not salvaged; the rest is kept.
#[test]
fn bytes_deleted_that_leave_every_entry_whole_are_found_by_the_chunk_length() {
    let source = common::fixture("v2/compressed");
    let file = std::fs::read(source.join("stream.tar.s2")).expect("archive");
    let (data, chunks) = common::s2::decompress_chunks(&file);
    let original = messages(&source);
    let expected = common::expected("v2/compressed");
    assert_eq!(
        original.len() as u64,
        expected["state"]["messages"].as_u64().unwrap()
    );
    assert_eq!(expected["state"]["num_deleted"].as_u64(), Some(0));
    let chunk = 3;
    let (chunk_start, chunk_end) = chunks[chunk];
    assert_eq!(
        chunk_end - chunk_start,
        1 << 20,
        "the writer's 1 MiB chunks"
    );
    assert!(chunks.len() > chunk + 2);
    // A message and the next one, both inside the chunk.
    let seqs: Vec<u64> = original.keys().copied().collect();
    let index = (0..seqs.len() - 1)
        .find(|&index| {
            let (_, start, _) = original[&seqs[index]];
            let (_, _, next_end) = original[&seqs[index + 1]];
            start > chunk_start + 64 && next_end < chunk_end
        })
        .expect("two messages inside the chunk");
    let (seq, swallowed) = (seqs[index], seqs[index + 1]);
    let (_, start, end) = original[&seq];
    let next_len = original[&swallowed].2 - end;
    let from = start + 1;
    let mut edited = data[chunk_start..chunk_end].to_vec();
    edited.drain(from - chunk_start..from - chunk_start + next_len);
    let damaged_file = common::s2::replace_chunk(&file, chunk, &edited);
    let scratch = common::TempDir::new("jsbackup-v2-chunk-length");
    let (_, kept, report) = salvage(scratch.path(), &source, &damaged_file);
    assert_kept_all_but("chunk length", &kept, &original, &[seq, swallowed]);
    let findings = report["findings"].to_string();
    let length = format!(
        "decodes to {}",
        jsbackup::model::findings::group_thousands(((1 << 20) - next_len) as u64)
    );
    assert!(findings.contains(&length), "{length}: {findings}");
    assert!(
        suspect_seqs(&report, "where the writer makes").contains(&seq),
        "{}\n{findings}",
        report["summary"]["suspect"]
    );
    assert_eq!(
        report["summary"]["lost"],
        serde_json::json!([[swallowed, swallowed]]),
        "the swallowed sequence is lost, not deleted"
    );
}

/// Bytes lost from a message's payload size through the whole next entry: the
/// entry after that now starts inside what the message's header reads as its name.
/// The search for it after the damaged message reaches back into that name, so it
/// is kept; the damaged message is not. `v2/trailing-deletes`: its subjects are
/// short enough to lie within the next entry's timestamp bytes.
#[test]
fn an_entry_starting_inside_a_damaged_name_is_found_and_kept() {
    let archive = Archive::load("v2/trailing-deletes");
    let (data, original, seqs) = (&archive.data, &archive.original, &archive.seqs);
    let index = seqs.len() / 2;
    let (seq, lost, found) = (seqs[index], seqs[index + 1], seqs[index + 2]);
    let size_at = archive.size_at(seq);
    let lost_end = original[&lost].2;
    let mut damaged = data[..size_at].to_vec();
    damaged.extend_from_slice(&data[lost_end..]);
    let scratch = common::TempDir::new("jsbackup-v2-name-lookback");
    let (_, kept, _) = salvage(
        scratch.path(),
        &archive.source,
        &common::s2::uncompressed(&damaged),
    );
    assert!(kept.contains_key(&found), "seq {found} was not found");
    assert_kept_all_but("name look-back", &kept, original, &[seq, lost]);
}

/// A message near the end whose sequence and payload size were overwritten: its
/// sequence is below the one before it and its data would run past the end of
/// the archive. The server stops there ("out of order"); the salvage searches
/// inside it and keeps the messages after it.
#[test]
fn an_out_of_order_entry_running_past_the_end_does_not_lose_what_follows() {
    let archive = Archive::load("v2/trailing-deletes");
    let (data, original, seqs) = (&archive.data, &archive.original, &archive.seqs);
    let seq = seqs[seqs.len() - 3];
    let start = original[&seq].1;
    let size_at = archive.size_at(seq);
    assert!(
        data.len() - start < 127,
        "the payload size can reach past the end"
    );
    // Header fields: name length, timestamp (9 bytes), sequence, header size, payload size.
    let seq_at = size_at - 2;
    assert!(seq < 128, "a one-byte sequence");
    assert_eq!(u64::from(data[seq_at]), seq, "the sequence byte");
    let mut damaged = data.clone();
    damaged[seq_at] = 1;
    damaged[size_at] = 127;
    let scratch = common::TempDir::new("jsbackup-v2-out-of-order-end");
    let (_, kept, report) = salvage(
        scratch.path(),
        &archive.source,
        &common::s2::uncompressed(&damaged),
    );
    assert_kept_all_but("out of order at the end", &kept, original, &[seq]);
    let findings = report["findings"].to_string();
    assert!(
        findings.contains("message sequence 1 out of order"),
        "{findings}"
    );
}

/// From the KV shape of the matrix: damage in the last entries makes a header
/// declare a name longer than what is left, but the archive still ends with its
/// end-of-backup sentinel. That is damaged bytes, not a cut archive: the scan
/// resynchronises and keeps the last message (it used to stop there and call the
/// rest lost). Here two bytes (a name length of 16,383) are inserted before the
/// last message's entry.
#[test]
fn a_header_running_past_the_end_before_the_sentinel_is_damage_not_truncation() {
    let archive = Archive::load("v2/orders");
    let (data, original, seqs) = (&archive.data, &archive.original, &archive.seqs);
    let (second_last, last) = (seqs[seqs.len() - 2], seqs[seqs.len() - 1]);
    let entry_start = original[&second_last].2;
    assert!(
        data[entry_start..].ends_with(&[0; 5]) && data.len() - entry_start < 16_383,
        "the last entry, then the sentinel"
    );
    let mut damaged = data[..entry_start].to_vec();
    damaged.extend_from_slice(&[0xff, 0x7f]);
    damaged.extend_from_slice(&data[entry_start..]);
    let scratch = common::TempDir::new("jsbackup-v2-past-end");
    let (_, kept, report) = salvage(
        scratch.path(),
        &archive.source,
        &common::s2::uncompressed(&damaged),
    );
    for (seq, (content, _, _)) in &kept {
        assert_eq!(
            Some(content),
            original.get(seq).map(|(content, _, _)| content),
            "seq {seq} salvaged with other bytes"
        );
    }
    assert!(kept.contains_key(&last), "the last message is kept");
    let missed: Vec<u64> = seqs
        .iter()
        .copied()
        .filter(|&seq| seq != second_last && !kept.contains_key(&seq))
        .collect();
    assert!(missed.is_empty(), "not kept: {missed:?}");
    let findings = report["findings"].to_string();
    assert!(
        findings.contains("yet the archive ends with an end-of-backup sentinel")
            && !findings.contains("entry_truncated"),
        "{findings}"
    );
}
