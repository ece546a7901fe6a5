//! Object-store streams (`OBJ_<bucket>`): every object is reassembled from its
//! chunk messages (`$O.<bucket>.C.<nuid>`, in sequence order) and compared with
//! the size, chunk count and SHA-256 of its meta message (`$O.<bucket>.M.<name>`).
//! v2 has no per-message checksum, so this is the one proof of a chunk's bytes:
//! - when all three agree, the data of every chunk is the client's: chunks
//!   suspect only for where they lie (a failed S2 chunk, next to damage) are
//!   intact, if they carry no header block and their time fits between their
//!   neighbours' (the digest does not cover the entry's own fields);
//! - v2: when count and size agree but the SHA-256 does not, some chunk holds
//!   changed bytes that no structure shows: all its chunks become suspect, so a
//!   salvage leaves them out. (In v1 every record has its own checksum: there the
//!   mismatch was in the object as stored, and is only reported.)

use crate::format::headers::flags;
use crate::model::{to_ranges, ArchiveFormat, Backup, Finding, FindingKind, ObjectSuspect};
use crate::ops::read::MessageReader;
use crate::ops::wording::ranges_text;
use base64::Engine;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

/// The fields of an object's meta message that the check uses.
#[derive(Debug, Default)]
struct ObjectMeta {
    name: String,
    nuid: String,
    size: u64,
    chunks: u64,
    digest: String,
    deleted: bool,
    link: bool,
}

fn parse_object_meta(data: &[u8]) -> Result<ObjectMeta, String> {
    let value: serde_json::Value =
        serde_json::from_slice(data).map_err(|error| format!("not JSON: {error}"))?;
    let text = |key: &str| {
        value
            .get(key)
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string()
    };
    let number = |key: &str| value.get(key).and_then(|v| v.as_u64()).unwrap_or(0);
    Ok(ObjectMeta {
        name: text("name"),
        nuid: text("nuid"),
        size: number("size"),
        chunks: number("chunks"),
        digest: text("digest"),
        deleted: value
            .get("deleted")
            .and_then(|v| v.as_bool())
            .unwrap_or(false),
        link: value
            .get("options")
            .and_then(|options| options.get("link"))
            .is_some_and(|link| !link.is_null()),
    })
}

/// `SHA-256=<base64url>` (padded or not, any case of the prefix) → the 32 bytes.
fn parse_digest(digest: &str) -> Option<Vec<u8>> {
    let (kind, encoded) = digest.split_once('=')?;
    if !kind.eq_ignore_ascii_case("SHA-256") {
        return None;
    }
    let trimmed = encoded.trim_end_matches('=');
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(trimmed)
        .ok()
        .filter(|bytes| bytes.len() == 32)
}

/// Chunk bytes read between progress reports.
const PROGRESS_EVERY: u64 = 64 << 20;

/// What reassembling one object showed.
struct Reassembled {
    /// Disagreements with the meta message; empty when the object is whole.
    problems: Vec<String>,
    /// Only the digest disagrees (count and size agree, every chunk read).
    digest_only: bool,
}

/// Checks every object of an object-store stream; see the module comment.
pub fn check_objects(backup: &mut Backup, control: &mut super::ScanControl) {
    let Some(bucket) = backup.stream_name.strip_prefix("OBJ_").map(str::to_string) else {
        return;
    };
    let meta_prefix = format!("$O.{bucket}.M.");
    let chunk_prefix = format!("$O.{bucket}.C.");
    let mut metas: Vec<usize> = Vec::new();
    let mut chunks: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for row in 0..backup.messages.len() {
        let subject = backup.subjects.name(backup.messages.subject_id[row]);
        if subject.starts_with(&meta_prefix) {
            metas.push(row);
        } else if let Some(nuid) = subject.strip_prefix(&chunk_prefix) {
            chunks.entry(nuid.to_string()).or_default().push(row);
        }
    }
    let mut reader = match MessageReader::open(backup) {
        Ok(reader) => reader,
        Err(error) => {
            backup.findings.push(Finding::warning(
                FindingKind::ObjectMeta,
                format!("the objects of bucket {bucket} were not checked: {error}"),
            ));
            return;
        }
    };
    let total: u64 = chunks
        .values()
        .flatten()
        .map(|&row| u64::from(backup.messages.data_len[row]))
        .sum();
    let mut progress = super::ScanProgress {
        file_bytes_total: total,
        messages: backup.messages.len() as u64,
        decompressed_bytes: backup.decompressed_bytes,
        checking_objects: true,
        ..super::ScanProgress::default()
    };
    let mut reported_at = 0u64;
    let mut findings = Vec::new();
    let mut claimed: std::collections::HashSet<String> = Default::default();
    for meta_row in metas {
        if control
            .cancel
            .is_some_and(|flag| flag.load(Ordering::Relaxed))
        {
            return;
        }
        if progress.file_bytes_done >= reported_at {
            reported_at = progress.file_bytes_done + PROGRESS_EVERY;
            if let Some(callback) = control.on_progress.as_mut() {
                callback(&progress, backup);
            }
        }
        let meta_seq = backup.messages.seq[meta_row];
        let meta = match reader
            .read_row(backup, meta_row)
            .map_err(|error| error.to_string())
            .and_then(|bytes| parse_object_meta(&bytes.data))
        {
            Ok(meta) => meta,
            Err(reason) => {
                findings.push(
                    Finding::error(
                        FindingKind::ObjectMeta,
                        format!("object meta message seq {meta_seq} of bucket {bucket} cannot be read ({reason}): the object it describes cannot be fetched"),
                    )
                    .seq(meta_seq),
                );
                continue;
            }
        };
        // Each chunk set is checked once, by the first meta message naming it (a
        // bucket's rollups leave one; a damaged or crafted archive may hold many,
        // and the work must stay linear in the archive).
        if !claimed.insert(meta.nuid.clone()) || meta.deleted || meta.link {
            continue;
        }
        let rows: &[usize] = chunks.get(&meta.nuid).map_or(&[], Vec::as_slice);
        progress.file_bytes_done += rows
            .iter()
            .map(|&row| u64::from(backup.messages.data_len[row]))
            .sum::<u64>();
        let result = compare(&meta, &assemble(backup, &mut reader, rows));
        if result.problems.is_empty() {
            prove_chunks(backup, rows);
            continue;
        }
        let untrusted = rows
            .iter()
            .filter(|&&row| backup.messages.flags(row) & flags::UNTRUSTED != 0)
            .count();
        let mut seqs: Vec<u64> = rows.iter().map(|&row| backup.messages.seq[row]).collect();
        seqs.sort_unstable();
        let mut consequence = if untrusted > 0 {
            format!("; {untrusted} of its chunks lie in or next to damaged bytes")
        } else {
            String::new()
        };
        if result.digest_only && backup.format == Some(ArchiveFormat::V2) {
            // Nothing shows which chunk changed: none of them is proven, also
            // those beside the ones already suspect for where they lie.
            let mut newly: Vec<u64> = Vec::new();
            for &row in rows {
                if backup.messages.flags(row) & flags::UNTRUSTED == 0 {
                    backup.messages.set_flags(row, flags::SUSPECT);
                    newly.push(backup.messages.seq[row]);
                }
            }
            newly.sort_unstable();
            if !newly.is_empty() {
                backup.object_suspects.push(ObjectSuspect {
                    name: meta.name.clone(),
                    meta_seq,
                    chunk_seqs: newly,
                });
            }
            consequence.push_str(
                "; no chunk shows which one changed, so all of them are suspect and a salvage leaves them out",
            );
        }
        findings.push(object_finding(
            &bucket,
            &meta,
            meta_seq,
            &seqs,
            &result,
            &consequence,
        ));
    }
    for (nuid, rows) in chunks.iter().filter(|(nuid, _)| !claimed.contains(*nuid)) {
        let seqs = to_ranges(rows.iter().map(|&row| backup.messages.seq[row]));
        findings.push(
            Finding::warning(
                FindingKind::ObjectMeta,
                format!(
                    "{} chunk message{} of bucket {bucket} (nuid {nuid}, seqs {}) belong to no object: left over from an interrupted put, or their meta message is lost",
                    rows.len(),
                    if rows.len() == 1 { "" } else { "s" },
                    ranges_text(&seqs)
                ),
            )
            .seq(seqs.first().map_or(0, |range| range.0)),
        );
    }
    backup.findings.extend(findings);
}

fn object_finding(
    bucket: &str,
    meta: &ObjectMeta,
    meta_seq: u64,
    seqs: &[u64],
    result: &Reassembled,
    consequence: &str,
) -> Finding {
    let chunk_seqs = to_ranges(seqs.iter().copied());
    let chunk_text = if chunk_seqs.is_empty() {
        "no chunk messages".to_string()
    } else {
        format!("chunk seqs {}", ranges_text(&chunk_seqs))
    };
    // Changed bytes nothing else shows are damage; a missing chunk or size that
    // does not add up is an incomplete object, whose loss (if any) other findings
    // report, and which a salvaged copy inherits.
    let finding = if result.digest_only {
        Finding::error
    } else {
        Finding::warning
    };
    finding(
        FindingKind::ObjectDigest,
        format!(
            "object {:?} of bucket {bucket} (meta seq {meta_seq}, {chunk_text}) does not match its meta message: {}{consequence}; fetching it fails with a digest mismatch",
            meta.name,
            result.problems.join("; ")
        ),
    )
    .seq(chunk_seqs.first().map_or(meta_seq, |range| range.0))
}

/// One chunk set read back: its size, chunk count and SHA-256, or why it could
/// not be read.
struct Assembled {
    size: u64,
    chunks: u64,
    digest: Result<[u8; 32], String>,
}

fn assemble(backup: &Backup, reader: &mut MessageReader, rows: &[usize]) -> Assembled {
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    for &row in rows {
        match reader.read_row(backup, row) {
            Ok(bytes) => {
                size += bytes.data.len() as u64;
                hasher.update(&bytes.data);
            }
            Err(error) => {
                return Assembled {
                    size,
                    chunks: rows.len() as u64,
                    digest: Err(format!("a chunk cannot be read ({error})")),
                }
            }
        }
    }
    Assembled {
        size,
        chunks: rows.len() as u64,
        digest: Ok(hasher.finalize().into()),
    }
}

/// Compares a chunk set with the meta message that names it.
fn compare(meta: &ObjectMeta, whole: &Assembled) -> Reassembled {
    let computed = match &whole.digest {
        Ok(digest) => digest,
        Err(reason) => {
            return Reassembled {
                problems: vec![reason.clone()],
                digest_only: false,
            }
        }
    };
    let mut problems = Vec::new();
    if whole.chunks != meta.chunks {
        problems.push(format!(
            "{} chunks present, {} declared",
            whole.chunks, meta.chunks
        ));
    }
    if whole.size != meta.size {
        problems.push(format!(
            "{} bytes reassembled, {} declared",
            whole.size, meta.size
        ));
    }
    let shape_agrees = problems.is_empty();
    let digest_differs = match parse_digest(&meta.digest) {
        Some(expected) if expected.as_slice() == computed.as_slice() => false,
        Some(_) => {
            problems.push(format!(
                "SHA-256 of the reassembled bytes is {}, the meta message says {}",
                base64::engine::general_purpose::URL_SAFE.encode(computed),
                meta.digest
            ));
            true
        }
        None => {
            problems.push(format!(
                "the digest {:?} is not a SHA-256 digest",
                meta.digest
            ));
            false
        }
    };
    Reassembled {
        problems,
        digest_only: shape_agrees && digest_differs,
    }
}

/// The object's SHA-256 matched: its chunks' data is the client's. A chunk only
/// suspect for where it lies is intact, when the digest covers all of it (no
/// header block) and its time fits between its neighbours'.
fn prove_chunks(backup: &mut Backup, rows: &[usize]) {
    let messages = &backup.messages;
    let fits = |row: usize| {
        let ts = messages.ts_ns[row];
        let after_previous = row == 0 || messages.ts_ns[row - 1] <= ts;
        let before_next = messages.ts_ns.get(row + 1).is_none_or(|&next| ts <= next);
        after_previous && before_next
    };
    let proven: Vec<usize> = rows
        .iter()
        .copied()
        .filter(|&row| {
            messages.flags(row) & flags::UNTRUSTED == flags::SUSPECT
                && messages.hdr_len(row) == 0
                && fits(row)
        })
        .collect();
    for row in proven {
        backup.messages.clear_flags(row, flags::SUSPECT);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests() {
        let zero = [0u8; 32];
        let padded = format!(
            "SHA-256={}",
            base64::engine::general_purpose::URL_SAFE.encode(zero)
        );
        assert_eq!(parse_digest(&padded), Some(zero.to_vec()));
        assert_eq!(
            parse_digest(&padded.trim_end_matches('=').replace("SHA", "sha")),
            Some(zero.to_vec())
        );
        assert_eq!(parse_digest("MD5=abc"), None);
    }
}
