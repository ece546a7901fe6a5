//! Views of a backup for scripts and people: `info --json`, `messages --json`,
//! `verify --json` and the Markdown triage report (`verify --report`).

use crate::format::headers::Ttl;
use crate::model::{Backup, ConsumerInfo, ConsumerStatus, SequencePair, StreamConfig, StreamState};
use crate::ops::wording::capitalise;
use crate::ops::{consumer_state, restore_prediction};
use crate::util::time::format_rfc3339_ns;
use serde_json::{json, Map, Value};

/// TTL counts at a reference time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TtlSummary {
    pub messages_with_ttl: u64,
    pub expired: u64,
    pub invalid: u64,
}

pub fn ttl_summary(backup: &Backup, reference_ns: i64) -> TtlSummary {
    let mut summary = TtlSummary::default();
    for &(seq, ttl) in &backup.messages.ttls {
        summary.messages_with_ttl += 1;
        if ttl == Ttl::Invalid {
            summary.invalid += 1;
        }
        if let Some(row) = backup.messages.find_seq(seq) {
            if ttl.is_expired(backup.messages.ts_ns[row], reference_ns) {
                summary.expired += 1;
            }
        }
    }
    summary
}

pub fn state_json(state: &StreamState) -> Value {
    state.to_json()
}

/// One consumer with the server's CONSUMER.INFO field names (`status` from
/// `ops::consumer_state`), plus its config, pending-ack list and redelivery counts.
pub fn consumer_json(consumer: &ConsumerInfo, status: &ConsumerStatus) -> Value {
    let state = &consumer.state;
    let pair = |pair: &SequencePair| json!({"consumer_seq": pair.consumer_seq, "stream_seq": pair.stream_seq});
    let mut object = json!({
        "name": consumer.name,
        "durable": consumer.is_durable(),
        "config": consumer.config,
        "created": consumer.created,
        "delivered": pair(&status.delivered),
        "ack_floor": pair(&status.ack_floor),
        "num_ack_pending": status.num_ack_pending,
        "num_redelivered": status.num_redelivered,
        "num_pending": status.num_pending,
        "num_pending_after_restore": status.num_pending_after_restore,
        "num_pending_exact": status.num_pending_exact,
        "paused": status.paused,
        "ts": format_rfc3339_ns(status.reference_ns),
        "state_recorded": status.state_recorded,
        "next_seq": status.next_seq,
        "first_pending_seq": status.first_pending_seq,
        "first_owed_seq": status.first_owed_seq,
        "pending": state.pending.iter().map(|entry| json!({
            "stream_seq": entry.stream_seq,
            "consumer_seq": entry.consumer_seq,
            "time": format_rfc3339_ns(entry.timestamp_ns),
        })).collect::<Vec<_>>(),
        "redelivered": state.redelivered.iter().map(|(seq, count)| json!({"stream_seq": seq, "count": count})).collect::<Vec<_>>(),
    });
    object["config_read"] = consumer.config_read().into();
    if !consumer.config_read() {
        // Filters, kind and start rules come from the config: the counts are not known.
        let positions: &[&str] = if consumer.state_read {
            &[]
        } else {
            &[
                "delivered",
                "ack_floor",
                "num_ack_pending",
                "num_redelivered",
            ]
        };
        for &key in positions.iter().chain(&[
            "durable",
            "paused",
            "num_pending",
            "num_pending_after_restore",
            "num_pending_exact",
            "next_seq",
            "first_pending_seq",
            "first_owed_seq",
        ]) {
            object[key] = Value::Null;
        }
    }
    // The server omits these when empty (`omitempty`).
    if status.paused {
        object["pause_remaining"] = status.pause_remaining_ns.into();
    }
    if !status.priority_groups.is_empty() {
        object["priority_groups"] = status
            .priority_groups
            .iter()
            .map(|group| json!({"group": group}))
            .collect::<Vec<_>>()
            .into();
    }
    object
}

/// The `info --json` document.
pub fn info_json(backup: &Backup, reference_ns: i64) -> Value {
    info_json_with(backup, reference_ns, None)
}

/// The `info --json` document; `restore_config` replaces the stream config for
/// `restore_prediction` (as `restore --config` does).
pub fn info_json_with(backup: &Backup, reference_ns: i64, restore_config: Option<&Value>) -> Value {
    let prediction = restore_prediction::predict(backup, restore_config, reference_ns);
    let subjects: Map<String, Value> = backup
        .subjects
        .live_counts()
        .into_iter()
        .map(|(subject, count)| (subject.to_string(), Value::from(count)))
        .collect();
    let ttl = ttl_summary(backup, reference_ns);
    json!({
        "format": backup.format.map(|format| format.label()),
        "source": {
            "path": backup.source.opened.display().to_string(),
            "data_file": backup.source.data_file.display().to_string(),
            "data_file_bytes": backup.source.data_file_bytes,
            "decompressed_bytes": backup.decompressed_bytes,
            "s2_chunks": backup.chunks.len(),
        },
        "stream": {
            "name": backup.stream_name,
            "created": backup.created,
            "config": backup.config.as_ref().map(StreamConfig::to_json),
        },
        "snapshot_time": backup.snapshot_time_ns.map(format_rfc3339_ns),
        "complete": backup.complete,
        "state": state_json(&backup.state),
        "declared_state": backup.declared_state.as_ref().map(state_json),
        "archive_state": backup.archive_state.as_ref().map(state_json),
        "subjects": subjects,
        "deleted": backup.deleted.iter().map(|(from, to)| json!([from, to])).collect::<Vec<_>>(),
        "consumers": backup
            .consumers
            .iter()
            .zip(consumer_state::compute_all(backup))
            .map(|(consumer, status)| consumer_json(consumer, &status))
            .collect::<Vec<_>>(),
        "ttl": {
            "messages_with_ttl": ttl.messages_with_ttl,
            "expired": ttl.expired,
            "invalid": ttl.invalid,
            "reference_time": format_rfc3339_ns(reference_ns),
        },
        "restore_prediction": restore_prediction::with_store_prediction(
            restore_prediction::prediction_json(&prediction, restore_config.is_some()),
            backup,
            restore_config,
            &prediction,
        ),
        "findings": backup.findings,
    })
}

/// One NDJSON line of `messages --json` (without the raw bytes).
pub fn message_json(backup: &Backup, row: usize, reference_ns: i64) -> Option<Value> {
    let message = backup.messages.row(row)?;
    let ttl = backup.messages.ttl_of(message.seq);
    let ttl_value = match ttl {
        Ttl::None => Value::Null,
        Ttl::Never => Value::from("never"),
        Ttl::Seconds(seconds) => Value::from(seconds),
        // The documented values are seconds, "never" or null; an unparseable header is
        // null here, flagged by `ttl_invalid` (and a finding).
        Ttl::Invalid => Value::Null,
    };
    Some(json!({
        "seq": message.seq,
        "subject": backup.subjects.name(message.subject_id),
        "time": format_rfc3339_ns(message.ts_ns),
        "hdr_len": message.hdr_len,
        "data_len": message.data_len,
        "ttl": ttl_value,
        "expired": ttl.is_expired(message.ts_ns, reference_ns),
        "ttl_invalid": ttl == Ttl::Invalid,
    }))
}

/// The `verify --json` document: findings with impact and next step, the
/// accounting, the predicted server restore and what a salvage keeps.
pub fn verify_json(
    path: &std::path::Path,
    backup: &Backup,
    triage: &crate::ops::triage::Triage,
) -> Value {
    let count = |severity: crate::model::Severity| {
        backup
            .findings
            .iter()
            .filter(|finding| finding.severity == severity)
            .count()
    };
    let accounting = &triage.accounting;
    let suspect_count: u64 = accounting.suspect.iter().map(|suspect| suspect.count).sum();
    let lost_sequences: u64 = backup.lost.iter().map(|(from, to)| to - from + 1).sum();
    let ranges = |list: &[(u64, u64)]| {
        list.iter()
            .map(|(from, to)| json!([from, to]))
            .collect::<Vec<_>>()
    };
    json!({
        "path": path.display().to_string(),
        "format": backup.format.map(|f| f.label()),
        "complete": backup.complete,
        "stream": backup.stream_name,
        "data_file": backup.source.data_file.display().to_string(),
        "data_file_bytes": backup.source.data_file_bytes,
        "data_file_sha256": triage.data_file_sha256,
        "server_version_guess": triage.server_version_guess,
        "summary": {
            "intact": accounting.intact,
            "damaged": accounting.damaged,
            "lost": ranges(&accounting.lost),
            "deleted": ranges(&accounting.deleted),
            "suspect": accounting.suspect.iter().map(|suspect| json!({
                "seqs": ranges(&suspect.seqs),
                "count": suspect.count,
                "why": suspect.why,
            })).collect::<Vec<_>>(),
            "messages_intact": accounting.intact,
            "messages_suspect": suspect_count,
            "messages_damaged": backup.damaged_seqs.len(),
            "damaged_seqs": backup.damaged_seqs,
            "maybe_deleted": {
                "named": ranges(&crate::model::to_ranges(backup.maybe_deleted.iter().copied())),
                "named_count": backup.maybe_deleted.len(),
                "unnamed": backup.unnamed_deletes,
            },
            "sequences_lost": lost_sequences,
            "lost_ranges": ranges(&backup.lost),
            "errors": count(crate::model::Severity::Error),
            "warnings": count(crate::model::Severity::Warning),
        },
        "damaged_subjects": triage.damaged_subjects.iter().map(|(seq, subject)| json!({"seq": seq, "subject": subject})).collect::<Vec<_>>(),
        "restore_prediction": triage.restore,
        "salvage": triage.salvage,
        "findings": triage.findings.iter().map(|explained| {
            let mut value = serde_json::to_value(&explained.finding).unwrap_or(Value::Null);
            if let Some(object) = value.as_object_mut() {
                object.insert("impact".into(), explained.impact.clone().into());
                object.insert("next_step".into(), explained.next_step.clone().into());
            }
            value
        }).collect::<Vec<_>>(),
    })
}

/// The triage report a support engineer sends back: Markdown.
pub fn triage_markdown(backup: &Backup, triage: &crate::ops::triage::Triage) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(out, "# Backup triage: {}\n", backup.stream_name);
    identity_markdown(&mut out, backup, triage);
    accounting_markdown(&mut out, triage);
    restore_markdown(&mut out, backup, triage);
    salvage_markdown(&mut out, backup, triage);
    findings_markdown(&mut out, triage);
    out
}

/// The triage report's "Identity" section: the archive's facts as a table.
fn identity_markdown(out: &mut String, backup: &Backup, triage: &crate::ops::triage::Triage) {
    use crate::ops::predict::group;
    use std::fmt::Write as _;
    let _ = writeln!(out, "## Identity\n");
    let _ = writeln!(out, "| | |\n|---|---|");
    let _ = writeln!(out, "| Stream | `{}` |", backup.stream_name);
    let _ = writeln!(
        out,
        "| Format | {} |",
        backup.format.map_or("unknown", |f| f.label())
    );
    let _ = writeln!(
        out,
        "| Made by | nats-server {} |",
        triage.server_version_guess
    );
    let _ = writeln!(
        out,
        "| Data file | `{}` |",
        backup.source.data_file.display()
    );
    let _ = writeln!(
        out,
        "| Size | {} bytes ({} decompressed, {} S2 chunks) |",
        group(backup.source.data_file_bytes),
        group(backup.decompressed_bytes),
        backup.chunks.len()
    );
    let _ = writeln!(
        out,
        "| SHA-256 | `{}` |",
        triage.data_file_sha256.as_deref().unwrap_or("unreadable")
    );
    if let Some(time) = backup.snapshot_time_ns {
        let _ = writeln!(out, "| Snapshot time | {} |", format_rfc3339_ns(time));
    }
    let _ = writeln!(
        out,
        "| State (scanned) | {} messages, seq {}–{} |",
        group(backup.state.messages),
        backup.state.first_seq,
        backup.state.last_seq
    );
    let _ = writeln!(out, "| Consumers | {} |", backup.consumers.len());
}

/// The triage report's "Accounting" section: intact, damaged, lost, deleted and suspect sequences.
fn accounting_markdown(out: &mut String, triage: &crate::ops::triage::Triage) {
    use crate::ops::predict::{group, ranges_text};
    use std::fmt::Write as _;
    let accounting = &triage.accounting;
    let _ = writeln!(out, "\n## Accounting\n");
    let suspect: u64 = accounting.suspect.iter().map(|s| s.count).sum();
    let _ = writeln!(out, "- **Intact**: {} messages", group(accounting.intact));
    let damaged = crate::model::to_ranges(accounting.damaged.iter().copied());
    let _ = writeln!(
        out,
        "- **Damaged** (bytes present, failing a check): {}",
        if damaged.is_empty() {
            "none".into()
        } else {
            format!("seq {}", ranges_text(&damaged))
        }
    );
    for (seq, subject) in &triage.damaged_subjects {
        let _ = writeln!(
            out,
            "  - seq {seq}: subject {}",
            subject
                .as_deref()
                .map_or("unreadable".to_string(), |s| format!("`{s}`"))
        );
    }
    let _ = writeln!(
        out,
        "- **Lost** (not in the archive any more): {}",
        if accounting.lost.is_empty() {
            "none".into()
        } else {
            format!("seq {}", ranges_text(&accounting.lost))
        }
    );
    let deleted: u64 = accounting
        .deleted
        .iter()
        .map(|(from, to)| to - from + 1)
        .sum();
    let _ = writeln!(
        out,
        "- **Deleted** (by the server): {} sequences{}",
        group(deleted),
        if accounting.deleted.is_empty() {
            String::new()
        } else {
            format!(" ({})", ranges_text(&accounting.deleted))
        }
    );
    let _ = writeln!(
        out,
        "- **Suspect** (present, not proven): {}",
        group(suspect)
    );
    for item in &accounting.suspect {
        let _ = writeln!(
            out,
            "  - seq {} ({}): {}",
            ranges_text(&item.seqs),
            group(item.count),
            item.why
        );
    }
}

/// The triage report's "What a restore would do" section: the per-server predictions.
fn restore_markdown(out: &mut String, backup: &Backup, triage: &crate::ops::triage::Triage) {
    use std::fmt::Write as _;
    let _ = writeln!(out, "\n## What a restore would do\n");
    if triage.restore.is_empty() {
        let _ = writeln!(out, "No server can restore this input.");
    }
    for prediction in &triage.restore {
        let _ = writeln!(
            out,
            "- **nats-server {}**: {}.",
            prediction.servers.join(" and "),
            prediction.summary
        );
        if let Some(error) = &prediction.error {
            let _ = writeln!(
                out,
                "  Expected error: `{error}{}`",
                if prediction.error_exact { "" } else { "…" }
            );
        }
    }
    if backup.format == Some(crate::model::ArchiveFormat::V2) {
        let _ = writeln!(out, "- nats-server 2.14 and earlier cannot restore a v2 (NATSARC1) archive; convert it with `jsbackup export --format v1`.");
    }
}

/// The triage report's "What a salvage keeps" section.
fn salvage_markdown(out: &mut String, backup: &Backup, triage: &crate::ops::triage::Triage) {
    use std::fmt::Write as _;
    let _ = writeln!(out, "\n## What a salvage keeps\n");
    match &triage.salvage {
        Some(plan) => {
            let _ = writeln!(
                out,
                "{}: `jsbackup export {} OUT --salvage`.",
                capitalise(&plan.summary),
                backup.source.opened.display()
            );
        }
        None => {
            let _ = writeln!(out, "No salvage is needed: nothing is damaged.");
        }
    }
}

/// The triage report's "Findings" section: each finding with its impact and next step.
fn findings_markdown(out: &mut String, triage: &crate::ops::triage::Triage) {
    use std::fmt::Write as _;
    let _ = writeln!(out, "\n## Findings ({})\n", triage.findings.len());
    if triage.findings.is_empty() {
        let _ = writeln!(
            out,
            "Nothing wrong found: every checksum, entry and state matched."
        );
    }
    for (index, explained) in triage.findings.iter().enumerate() {
        let finding = &explained.finding;
        let location = finding.location();
        let _ = writeln!(
            out,
            "{}. **{}** `{}`: {}",
            index + 1,
            finding.severity.label(),
            finding.kind.label(),
            finding.message
        );
        if !location.is_empty() {
            let _ = writeln!(out, "   - Where: {location}");
        }
        let _ = writeln!(out, "   - Impact: {}", explained.impact);
        let _ = writeln!(out, "   - Next step: {}", explained.next_step);
    }
}
