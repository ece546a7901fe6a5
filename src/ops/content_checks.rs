//! Checks beyond checksums, over a scanned backup: what the stream's messages
//! mean to the NATS APIs built on them.
//! - KV streams (`KV_<bucket>`): revisions per key within the bucket's history
//!   (`max_msgs_per_subject`), purges rolled up, keys the KV API accepts.
//! - Every stream: subjects a client can publish to; with `headers`, header
//!   blocks that parse. (`Nats-TTL` values are checked by the scan itself, and
//!   object-store digests by `scan::objects`, because they decide which chunks
//!   are trusted.)
//!
//! Findings go into the backup; bytes are read through the chunk index.

use crate::format::headers::{flags, parse_header_block};
use crate::format::s2::RangeReader;
use crate::model::{to_ranges, Backup, Finding, FindingKind};
use crate::ops::predict::{group, ranges_text};
use crate::ops::read::ReadError;
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
    // Per subject: live revisions (seqs) and the latest purge marker. Revisions
    // named as maybe deleted (their deletion records lost) are reported as such
    // and left out here; where deletions that cannot be named may lie, a
    // revision too many is a warning, not proof of an inconsistent backup.
    let unnamed = backup
        .unnamed_deletes
        .as_ref()
        .map(|unnamed| unnamed.first_seq..=unnamed.last_seq);
    // Revisions over the bucket's rules: an error, unless unnamed deletions may
    // explain them.
    let history_finding = |revisions: &[u64], message: String| {
        let explained = unnamed
            .as_ref()
            .is_some_and(|range| revisions.iter().any(|seq| range.contains(seq)));
        if explained {
            Finding::warning(
                FindingKind::KvHistory,
                format!("{message}; deletions whose records are lost (see the maybe_deleted finding) may explain it"),
            )
        } else {
            Finding::error(
                FindingKind::KvHistory,
                format!("{message}; the backup is inconsistent"),
            )
        }
    };
    let mut per_subject: BTreeMap<u32, (Vec<u64>, Option<u64>)> = BTreeMap::new();
    for row in 0..backup.messages.len() {
        let seq = backup.messages.seq[row];
        if backup.maybe_deleted.binary_search(&seq).is_ok() {
            continue;
        }
        let entry = per_subject
            .entry(backup.messages.subject_id[row])
            .or_default();
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
                history_finding(
                    &seqs,
                    format!(
                        "KV key {key:?} has {} revisions (seqs {}) but the bucket keeps {history} (max_msgs_per_subject): the server would have removed the oldest",
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
                    history_finding(
                        &older,
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
    use crate::model::Severity;

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
        let mut backup = Backup::for_tests_with_rows(revisions);
        backup.stream_name = "KV_cfg".into();
        backup.config = crate::model::StreamConfig::from_json(
            &serde_json::json!({"max_msgs_per_subject": history}),
        );
        backup
    }

    /// Lost deletion records (v1 without index.db) leave revisions the server had
    /// removed: named ones are reported as maybe deleted, not as an inconsistent
    /// bucket; where unnamed deletions may lie, the excess is only a warning.
    #[test]
    fn kv_history_leaves_revisions_that_may_have_been_deleted_to_that_finding() {
        let rows = [
            (1, "$KV.cfg.a", 0),
            (2, "$KV.cfg.a", 0),
            (3, "$KV.cfg.a", 0),
        ];
        let mut backup = kv_backup(2, &rows);
        assert_eq!(kv_findings(&backup, "cfg")[0].severity, Severity::Error);
        backup.maybe_deleted = vec![1];
        assert!(kv_findings(&backup, "cfg").is_empty());
        backup.maybe_deleted.clear();
        backup.unnamed_deletes = Some(crate::model::UnnamedDeletes {
            candidates: 3,
            first_seq: 1,
            last_seq: 3,
            at_most: 1,
            declared_deleted: Some(1),
            shown_deleted: 0,
        });
        let findings = kv_findings(&backup, "cfg");
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].severity, Severity::Warning);
        assert!(findings[0].message.contains("may explain it"));
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
    fn header_blocks() {
        assert_eq!(header_problem(b"NATS/1.0\r\nA: b\r\n\r\n"), None);
        assert!(header_problem(b"NATS/1.0\r\nbroken\r\n\r\n").is_some());
        assert!(header_problem(b"HTTP/1.1\r\n\r\n").is_some());
    }
}
