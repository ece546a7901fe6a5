//! Checks beyond checksums, over a scanned backup: what the stream's messages
//! mean to the NATS APIs built on them.
//! - Object store streams (`OBJ_<bucket>`): every object is reassembled from its
//!   chunks (`$O.<bucket>.C.<nuid>`) and compared with the SHA-256 digest, size and
//!   chunk count of its meta message (`$O.<bucket>.M.<name>`).
//! - KV streams (`KV_<bucket>`): revisions per key within the bucket's history
//!   (`max_msgs_per_subject`), purges rolled up, keys the KV API accepts.
//! - Every stream: subjects a client can publish to; with `headers`, header
//!   blocks that parse. (`Nats-TTL` values are checked by the scan itself.)
//!
//! Findings go into the backup; bytes are read through the chunk index.

use crate::format::headers::{flags, parse_header_block};
use crate::format::s2::RangeReader;
use crate::model::{to_ranges, Backup, Finding, FindingKind};
use crate::ops::predict::{group, ranges_text};
use crate::ops::read::{MessageReader, ReadError};
use base64::Engine;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

/// Findings of one kind listed one by one before the rest are counted.
const MAX_LISTED: usize = 50;

/// What to check.
#[derive(Debug, Clone, Copy, Default)]
pub struct CheckOptions {
    /// Read every header block (a second pass over the messages with headers).
    pub headers: bool,
}

/// Runs the checks that apply to this stream and adds their findings.
pub fn run(
    backup: &mut Backup,
    options: CheckOptions,
    cancel: Option<&AtomicBool>,
) -> Result<(), ReadError> {
    let mut findings = subject_findings(backup);
    findings.extend(ttl_findings(backup));
    if let Some(bucket) = backup.stream_name.strip_prefix("KV_") {
        findings.extend(kv_findings(backup, bucket));
    }
    if let Some(bucket) = backup.stream_name.strip_prefix("OBJ_") {
        let bucket = bucket.to_string();
        findings.extend(object_findings(backup, &bucket, cancel)?);
    }
    if options.headers {
        findings.extend(header_findings(backup, cancel)?);
    }
    backup.findings.extend(findings);
    Ok(())
}

fn cancelled(cancel: Option<&AtomicBool>) -> bool {
    cancel.is_some_and(|flag| flag.load(Ordering::Relaxed))
}

/// Why a subject cannot be published to, or `None` when it can.
pub fn subject_problem(subject: &str) -> Option<&'static str> {
    if subject.is_empty() {
        return Some("it is empty");
    }
    if subject
        .bytes()
        .any(|b| b == b' ' || b == b'\t' || b == b'\r' || b == b'\n')
    {
        return Some("it contains whitespace");
    }
    if subject.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Some("it contains control characters");
    }
    for token in subject.split('.') {
        if token.is_empty() {
            return Some("it has an empty token");
        }
        if token == "*" || token == ">" {
            return Some("it contains a wildcard token");
        }
    }
    None
}

fn subject_findings(backup: &Backup) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut extra = 0u64;
    for (subject, count) in backup.subjects.live_counts() {
        let Some(problem) = subject_problem(subject) else {
            continue;
        };
        if findings.len() >= MAX_LISTED {
            extra += 1;
            continue;
        }
        let first_seq = (0..backup.messages.len())
            .find(|&row| backup.subjects.name(backup.messages.subject_id[row]) == subject)
            .map(|row| backup.messages.seq[row]);
        let mut finding = Finding::warning(
            FindingKind::InvalidSubject,
            format!(
                "subject {subject:?} is not a valid NATS subject ({problem}): {} message{} carry it; clients cannot publish to it and filters may not match it",
                group(count),
                if count == 1 { "" } else { "s" }
            ),
        );
        if let Some(seq) = first_seq {
            finding = finding.seq(seq);
        }
        findings.push(finding);
    }
    if extra > 0 {
        findings.push(Finding::warning(
            FindingKind::InvalidSubject,
            format!("{extra} more subjects are not valid NATS subjects"),
        ));
    }
    findings
}

/// `Nats-TTL` on a stream that does not allow per-message TTLs: the server refuses
/// such publishes, so the backup and its config disagree. (Values the server
/// rejects outright are reported by the scan as `invalid_ttl`.)
fn ttl_findings(backup: &Backup) -> Vec<Finding> {
    let allowed = backup
        .config
        .as_ref()
        .and_then(|config| config.allow_msg_ttl)
        .unwrap_or(false);
    let with_ttl: Vec<u64> = backup
        .messages
        .ttls
        .iter()
        .filter(|(_, ttl)| {
            matches!(
                ttl,
                crate::format::headers::Ttl::Seconds(_) | crate::format::headers::Ttl::Never
            )
        })
        .map(|(seq, _)| *seq)
        .collect();
    if allowed || with_ttl.is_empty() || backup.config.is_none() {
        return Vec::new();
    }
    let ranges = to_ranges(with_ttl.iter().copied());
    vec![Finding::warning(
        FindingKind::InvalidTtl,
        format!(
            "{} message{} carry Nats-TTL (seq {}) but the stream config does not allow per-message TTLs (allow_msg_ttl is not set): the server refuses such publishes, and after a restore their TTL may not be honoured",
            group(with_ttl.len() as u64),
            if with_ttl.len() == 1 { "" } else { "s" },
            ranges_text(&ranges)
        ),
    )
    .seq(with_ttl.first().copied().unwrap_or(0))]
}

/// A KV key as the KV API validates it.
fn valid_kv_key(key: &str) -> bool {
    !key.is_empty()
        && !key.starts_with('.')
        && !key.ends_with('.')
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'/' | b'_' | b'=' | b'.'))
}

fn kv_findings(backup: &Backup, bucket: &str) -> Vec<Finding> {
    let history = backup
        .config
        .as_ref()
        .and_then(|config| config.max_msgs_per_subject)
        .unwrap_or(-1);
    let prefix = format!("$KV.{bucket}.");
    // Per subject: live revisions (seqs) and the latest purge marker.
    let mut per_subject: BTreeMap<u32, (Vec<u64>, Option<u64>)> = BTreeMap::new();
    for row in 0..backup.messages.len() {
        let entry = per_subject
            .entry(backup.messages.subject_id[row])
            .or_default();
        let seq = backup.messages.seq[row];
        entry.0.push(seq);
        if backup.messages.flags(row) & flags::KV_PURGE != 0 {
            entry.1 = Some(seq);
        }
    }
    let mut findings = Vec::new();
    for (subject_id, (seqs, purge)) in per_subject {
        if findings.len() >= MAX_LISTED {
            break;
        }
        let subject = backup.subjects.name(subject_id);
        let Some(key) = subject.strip_prefix(&prefix) else {
            continue;
        };
        let first = seqs.first().copied().unwrap_or(0);
        if !valid_kv_key(key) {
            findings.push(
                Finding::warning(
                    FindingKind::KvKey,
                    format!("KV key {key:?} (subject {subject}) is not a key the KV API accepts: get, put and watch cannot address it"),
                )
                .seq(first),
            );
        }
        if history > 0 && seqs.len() as i64 > history {
            findings.push(
                Finding::error(
                    FindingKind::KvHistory,
                    format!(
                        "KV key {key:?} has {} revisions (seqs {}) but the bucket keeps {history} (max_msgs_per_subject): the server would have removed the oldest; the backup is inconsistent",
                        seqs.len(),
                        ranges_text(&to_ranges(seqs.iter().copied()))
                    ),
                )
                .seq(first),
            );
        }
        if let Some(purge_seq) = purge {
            let older: Vec<u64> = seqs
                .iter()
                .copied()
                .filter(|&seq| seq < purge_seq)
                .collect();
            if !older.is_empty() {
                findings.push(
                    Finding::error(
                        FindingKind::KvHistory,
                        format!(
                            "KV key {key:?} was purged at seq {purge_seq} (a rollup of the subject), yet revisions {} before it are still live: the rollup was not applied",
                            ranges_text(&to_ranges(older.iter().copied()))
                        ),
                    )
                    .seq(purge_seq),
                );
            }
        }
    }
    findings
}

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

fn object_findings(
    backup: &Backup,
    bucket: &str,
    cancel: Option<&AtomicBool>,
) -> Result<Vec<Finding>, ReadError> {
    let meta_prefix = format!("$O.{bucket}.M.");
    let chunk_prefix = format!("$O.{bucket}.C.");
    let mut metas: Vec<usize> = Vec::new();
    let mut chunks: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for row in 0..backup.messages.len() {
        let subject = backup.subjects.name(backup.messages.subject_id[row]);
        if subject.starts_with(&meta_prefix) {
            metas.push(row);
        } else if let Some(nuid) = subject.strip_prefix(&chunk_prefix) {
            chunks.entry(nuid).or_default().push(row);
        }
    }
    let mut reader = MessageReader::open(backup)?;
    let mut findings = Vec::new();
    let mut claimed: Vec<&str> = Vec::new();
    for meta_row in metas {
        if cancelled(cancel) {
            break;
        }
        let meta_seq = backup.messages.seq[meta_row];
        let bytes = reader.read_row(backup, meta_row)?;
        let meta = match parse_object_meta(&bytes.data) {
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
        if let Some((nuid, _)) = chunks.get_key_value(meta.nuid.as_str()) {
            claimed.push(nuid);
        }
        if meta.deleted || meta.link {
            continue;
        }
        let rows = chunks
            .get(meta.nuid.as_str())
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        if let Some(finding) = check_object(backup, &mut reader, bucket, &meta, meta_seq, rows)? {
            findings.push(finding);
        }
    }
    for (nuid, rows) in &chunks {
        if claimed.contains(nuid) {
            continue;
        }
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
    Ok(findings)
}

/// Reassembles one object and compares it with its meta message.
fn check_object(
    backup: &Backup,
    reader: &mut MessageReader,
    bucket: &str,
    meta: &ObjectMeta,
    meta_seq: u64,
    rows: &[usize],
) -> Result<Option<Finding>, ReadError> {
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    for &row in rows {
        let bytes = reader.read_row(backup, row)?;
        size += bytes.data.len() as u64;
        hasher.update(&bytes.data);
    }
    let computed = hasher.finalize();
    let chunk_seqs = to_ranges(rows.iter().map(|&row| backup.messages.seq[row]));
    let chunk_text = if chunk_seqs.is_empty() {
        "no chunk messages".to_string()
    } else {
        format!("chunk seqs {}", ranges_text(&chunk_seqs))
    };
    let mut problems = Vec::new();
    if rows.len() as u64 != meta.chunks {
        problems.push(format!(
            "{} chunks present, {} declared",
            rows.len(),
            meta.chunks
        ));
    }
    if size != meta.size {
        problems.push(format!("{size} bytes reassembled, {} declared", meta.size));
    }
    match parse_digest(&meta.digest) {
        Some(expected) if expected.as_slice() == computed.as_slice() => {}
        Some(_) => problems.push(format!(
            "SHA-256 of the reassembled bytes is {}, the meta message says {}",
            base64::engine::general_purpose::URL_SAFE.encode(computed),
            meta.digest
        )),
        None => problems.push(format!(
            "the digest {:?} is not a SHA-256 digest",
            meta.digest
        )),
    }
    if problems.is_empty() {
        return Ok(None);
    }
    let suspect = rows
        .iter()
        .filter(|&&row| backup.messages.flags(row) & flags::UNTRUSTED != 0)
        .count();
    let suspect_text = if suspect > 0 {
        format!("; {suspect} of its chunks lie in damaged S2 chunks")
    } else {
        String::new()
    };
    Ok(Some(
        Finding::error(
            FindingKind::ObjectDigest,
            format!(
                "object {:?} of bucket {bucket} (meta seq {meta_seq}, {chunk_text}) does not match its meta message: {}{suspect_text}; fetching it fails with a digest mismatch",
                meta.name,
                problems.join("; ")
            ),
        )
        .seq(chunk_seqs.first().map_or(meta_seq, |range| range.0)),
    ))
}

fn header_findings(
    backup: &Backup,
    cancel: Option<&AtomicBool>,
) -> Result<Vec<Finding>, ReadError> {
    let file = std::fs::File::open(&backup.source.data_file).map_err(|error| ReadError::Open {
        path: backup.source.data_file.display().to_string(),
        message: error.to_string(),
    })?;
    let mut range = RangeReader::new(file, backup.chunks.clone());
    let mut findings = Vec::new();
    let mut extra = 0u64;
    for row in 0..backup.messages.len() {
        let hdr_len = backup.messages.hdr_len(row) as usize;
        if hdr_len == 0 {
            continue;
        }
        if row % 4096 == 0 && cancelled(cancel) {
            break;
        }
        let seq = backup.messages.seq[row];
        let block = range
            .read(backup.messages.offset(row), hdr_len)
            .map_err(|source| ReadError::Range { seq, source })?;
        let Some(problem) = header_problem(&block) else {
            continue;
        };
        if findings.len() >= MAX_LISTED {
            extra += 1;
            continue;
        }
        findings.push(
            Finding::warning(
                FindingKind::HeaderParse,
                format!("the header block of seq {seq} does not parse ({problem}): clients reading it fail or see no headers"),
            )
            .seq(seq),
        );
    }
    if extra > 0 {
        findings.push(Finding::warning(
            FindingKind::HeaderParse,
            format!("{extra} more messages have header blocks that do not parse"),
        ));
    }
    Ok(findings)
}

/// Why a stored header block would not parse in a NATS client, if it would not.
pub fn header_problem(block: &[u8]) -> Option<String> {
    if !block.starts_with(b"NATS/1.0") {
        return Some("it does not start with NATS/1.0".into());
    }
    if !block.ends_with(b"\r\n\r\n") {
        return Some("it does not end with an empty line (CRLF CRLF)".into());
    }
    let parsed = parse_header_block(block);
    if parsed.malformed_lines > 0 {
        return Some(format!(
            "{} lines are not `key: value`",
            parsed.malformed_lines
        ));
    }
    if let Some((key, _)) = parsed
        .entries
        .iter()
        .find(|(key, _)| key.is_empty() || key.bytes().any(|b| b == b' ' || b < 0x21))
    {
        return Some(format!("header name {key:?} is not a valid token"));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_and_keys() {
        assert_eq!(subject_problem("orders.paid.eu"), None);
        assert_eq!(subject_problem("a..b"), Some("it has an empty token"));
        assert_eq!(subject_problem("a.*"), Some("it contains a wildcard token"));
        assert_eq!(subject_problem("a b"), Some("it contains whitespace"));
        assert_eq!(subject_problem(""), Some("it is empty"));
        assert!(valid_kv_key("app.theme"));
        assert!(valid_kv_key("a/b_c=d-e"));
        assert!(!valid_kv_key(".x"));
        assert!(!valid_kv_key("x y"));
    }

    fn kv_backup(history: i64, revisions: &[(u64, &str, u16)]) -> Backup {
        let mut backup = Backup::empty(crate::model::BackupSource::default());
        backup.stream_name = "KV_cfg".into();
        backup.config = crate::model::StreamConfig::from_json(
            &serde_json::json!({"max_msgs_per_subject": history}),
        );
        for &(seq, subject, row_flags) in revisions {
            let subject_id = backup.subjects.intern(subject.as_bytes());
            backup.messages.push(crate::model::MessageRow {
                seq,
                ts_ns: seq as i64,
                subject_id,
                hdr_len: 0,
                data_len: 1,
                offset: seq * 100,
                flags: row_flags,
            });
        }
        backup
    }

    #[test]
    fn kv_history_rollups_and_keys() {
        let clean = kv_backup(
            2,
            &[
                (1, "$KV.cfg.a", 0),
                (2, "$KV.cfg.a", 0),
                (3, "$KV.cfg.b", 0),
            ],
        );
        assert!(kv_findings(&clean, "cfg").is_empty());
        let over = kv_backup(
            2,
            &[
                (1, "$KV.cfg.a", 0),
                (2, "$KV.cfg.a", 0),
                (3, "$KV.cfg.a", 0),
            ],
        );
        let findings = kv_findings(&over, "cfg");
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert_eq!(findings[0].kind, FindingKind::KvHistory);
        assert!(
            findings[0].message.contains("3 revisions (seqs 1–3)"),
            "{}",
            findings[0].message
        );
        let purge = kv_backup(
            5,
            &[
                (1, "$KV.cfg.a", 0),
                (4, "$KV.cfg.a", flags::KV_PURGE | flags::ROLLUP),
            ],
        );
        let findings = kv_findings(&purge, "cfg");
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert!(
            findings[0].message.contains("purged at seq 4"),
            "{}",
            findings[0].message
        );
        let key = kv_backup(5, &[(1, "$KV.cfg.bad key", 0)]);
        assert_eq!(kv_findings(&key, "cfg")[0].kind, FindingKind::KvKey);
    }

    #[test]
    fn ttl_on_a_stream_that_does_not_allow_it() {
        use crate::format::headers::Ttl;
        let mut backup = kv_backup(5, &[(1, "$KV.cfg.a", flags::HAS_TTL)]);
        backup.messages.ttls = vec![(1, Ttl::Seconds(60))];
        let findings = ttl_findings(&backup);
        assert_eq!(findings.len(), 1);
        assert!(
            findings[0].message.contains("allow_msg_ttl"),
            "{}",
            findings[0].message
        );
        backup.config =
            crate::model::StreamConfig::from_json(&serde_json::json!({"allow_msg_ttl": true}));
        assert!(ttl_findings(&backup).is_empty());
    }

    #[test]
    fn digests_and_headers() {
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
        assert_eq!(header_problem(b"NATS/1.0\r\nA: b\r\n\r\n"), None);
        assert!(header_problem(b"NATS/1.0\r\nbroken\r\n\r\n").is_some());
        assert!(header_problem(b"HTTP/1.1\r\n\r\n").is_some());
    }
}
