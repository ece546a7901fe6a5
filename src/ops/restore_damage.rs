//! What a restore of a damaged backup leaves out, counted the way `verify`
//! counts it, and the refusal a restore gives without `--salvage`.
//!
//! A restore never loses messages silently: a backup with error findings (or
//! damaged, suspect, lost or out-of-order messages) is refused unless the
//! caller asks for a salvage, and a salvage reports every sequence it left out.
//!
//! Counting and wording only: no I/O.

use crate::format::headers::flags;
use crate::model::{Backup, FindingKind, Severity};
use crate::ops::export_drops::{require_maybe_deleted_choice, MaybeDeletedChoice};
use crate::ops::restore_local::RestoreError;
use serde::Serialize;

/// How many findings the refusal quotes.
const QUOTED_FINDINGS: usize = 3;
/// How many ranges / sequences a text line lists before "… N more".
const LISTED_RANGES: usize = 8;

/// What the archive holds that a restore cannot write.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DamageAccount {
    /// Messages the archive says it holds.
    pub archive_messages: u64,
    /// Where `archive_messages` comes from: "backup.json", "archive state" or "scan".
    pub archive_messages_from: String,
    /// Messages whose bytes were read and pass every check.
    pub intact_messages: u64,
    /// Sequences whose bytes are present but fail their checksum.
    pub damaged_seqs: Vec<u64>,
    /// Sequence ranges the archive should hold but that cannot be read.
    pub lost_ranges: Vec<[u64; 2]>,
    pub sequences_lost: u64,
    /// Messages read from a chunk that failed its CRC (not trusted, left out).
    pub suspect_messages: u64,
    pub suspect_ranges: Vec<[u64; 2]>,
    /// Entries out of sequence order (a server restore stops at the first one); left out.
    pub out_of_order_entries: u64,
    /// The out-of-order sequences the scan listed (the first few).
    pub out_of_order_seqs: Vec<u64>,
    /// Error findings of the scan.
    pub error_findings: u64,
    /// Salvage with `--maybe-deleted drop`: messages left out because they may
    /// have been deleted (counted by the restore as it writes; 0 before).
    pub maybe_deleted: u64,
}

impl DamageAccount {
    /// The account of `backup`, from its scan.
    pub fn of(backup: &Backup) -> Self {
        let (archive_messages, from) = match (&backup.declared_state, &backup.archive_state) {
            (Some(declared), _) => (declared.messages, "backup.json"),
            (None, Some(archive)) => (archive.messages, "archive state"),
            (None, None) => (backup.messages.len() as u64, "scan"),
        };
        // Runs of consecutive suspect rows (deleted sequences between them do not split a run).
        let mut suspect_ranges: Vec<[u64; 2]> = Vec::new();
        let mut previous_suspect = false;
        for row in 0..backup.messages.len() {
            let Some(message) = backup.messages.row(row) else {
                continue;
            };
            let suspect = message.flags & flags::UNTRUSTED != 0;
            match suspect_ranges.last_mut() {
                Some(range) if suspect && previous_suspect => range[1] = message.seq,
                _ if suspect => suspect_ranges.push([message.seq, message.seq]),
                _ => {}
            }
            previous_suspect = suspect;
        }
        let suspect_messages = backup.messages.count_any_flag(flags::UNTRUSTED) as u64;
        let order_findings = backup
            .findings
            .iter()
            .filter(|finding| finding.kind == FindingKind::SequenceOrder);
        let mut out_of_order_seqs = Vec::new();
        let mut out_of_order_total = 0u64;
        for finding in order_findings {
            match finding.seq {
                Some(seq) => out_of_order_seqs.push(seq),
                // The scan's closing "N message entries out of sequence order in all".
                None => {
                    out_of_order_total = finding
                        .message
                        .split_whitespace()
                        .next()
                        .and_then(|count| count.parse().ok())
                        .unwrap_or(0)
                }
            }
        }
        let out_of_order_entries = out_of_order_total.max(out_of_order_seqs.len() as u64);
        let sequences_lost = backup
            .lost
            .iter()
            .map(|(from, to)| to.saturating_sub(*from).saturating_add(1))
            .fold(0u64, u64::saturating_add);
        DamageAccount {
            archive_messages,
            archive_messages_from: from.to_string(),
            intact_messages: (backup.messages.len() as u64).saturating_sub(suspect_messages),
            damaged_seqs: backup.damaged_seqs.clone(),
            lost_ranges: backup.lost.iter().map(|(from, to)| [*from, *to]).collect(),
            sequences_lost,
            suspect_messages,
            suspect_ranges,
            out_of_order_entries,
            out_of_order_seqs,
            error_findings: backup
                .findings
                .iter()
                .filter(|finding| finding.severity == Severity::Error)
                .count() as u64,
            maybe_deleted: 0,
        }
    }

    /// True when a restore would not write the archive whole.
    pub fn is_damaged(&self) -> bool {
        self.error_findings > 0
            || !self.damaged_seqs.is_empty()
            || !self.lost_ranges.is_empty()
            || self.suspect_messages > 0
            || self.out_of_order_entries > 0
    }

    /// "2 damaged (seqs 1000, 1024); 281 lost (360–640); …", or "nothing".
    pub fn dropped_text(&self) -> String {
        let mut parts = Vec::new();
        if !self.damaged_seqs.is_empty() {
            parts.push(format!(
                "{} damaged (seq {})",
                self.damaged_seqs.len(),
                list_seqs(&self.damaged_seqs)
            ));
        }
        if !self.lost_ranges.is_empty() {
            parts.push(format!(
                "{} sequence(s) lost ({})",
                self.sequences_lost,
                list_ranges(&self.lost_ranges)
            ));
        }
        if self.suspect_messages > 0 {
            parts.push(format!(
                "{} suspect, in chunks that failed their CRC or next to damage ({})",
                self.suspect_messages,
                list_ranges(&self.suspect_ranges)
            ));
        }
        if self.out_of_order_entries > 0 {
            parts.push(format!(
                "{} out of sequence order (seq {})",
                self.out_of_order_entries,
                list_seqs(&self.out_of_order_seqs)
            ));
        }
        if self.maybe_deleted > 0 {
            parts.push(format!(
                "{} that may have been deleted (--maybe-deleted drop)",
                self.maybe_deleted
            ));
        }
        if parts.is_empty() {
            "no message (the damage is outside the messages)".to_string()
        } else {
            parts.join("; ")
        }
    }

    /// "1,673 of the 1,674 message(s) in the archive (backup.json)": what a salvage
    /// writes against what the archive says it holds. More can be read than that
    /// count when deletions were lost: those are named, not hidden in the ratio.
    pub fn written_of_archive(&self) -> String {
        let intact = crate::util::grouped(self.intact_messages);
        let archive = crate::util::grouped(self.archive_messages);
        if self.intact_messages <= self.archive_messages {
            format!(
                "{intact} of the {archive} message(s) in the archive ({})",
                self.archive_messages_from
            )
        } else {
            format!(
                "{intact} message(s), though {} counts {archive}: the others may be deleted messages whose deletion records are lost (see \"may have been deleted\")",
                self.archive_messages_from
            )
        }
    }

    /// The refusal of a restore without `--salvage`: the damage, named and counted.
    pub fn refusal(&self, backup: &Backup) -> String {
        format!(
            "{}; nothing was written; pass --salvage to restore the intact part",
            self.damage_text(backup)
        )
    }

    /// The damage, named and counted, and what a salvage would write and leave out.
    pub fn damage_text(&self, backup: &Backup) -> String {
        let errors: Vec<String> = backup
            .findings
            .iter()
            .filter(|finding| finding.severity == Severity::Error)
            .take(QUOTED_FINDINGS)
            .map(|finding| {
                let location = finding.location();
                if location.is_empty() {
                    format!("{}: {}", finding.kind.label(), finding.message)
                } else {
                    format!("{}: {} ({location})", finding.kind.label(), finding.message)
                }
            })
            .collect();
        let more = self.error_findings.saturating_sub(errors.len() as u64);
        let more = if more > 0 {
            format!("; … {more} more")
        } else {
            String::new()
        };
        format!(
            "the backup of stream {:?} is damaged ({} error finding(s): {}{more}); \
             a restore would write {} and leave out {}",
            backup.stream_name,
            self.error_findings,
            errors.join("; "),
            self.written_of_archive(),
            self.dropped_text()
        )
    }
}

/// The damage account of `backup`; a damaged backup is refused unless `salvage`,
/// and a salvage with messages that may have been deleted unless `maybe_deleted`
/// says whether to keep them (the rule of `export_drops`, shared with export).
pub fn refuse_unless_salvage(
    backup: &Backup,
    salvage: bool,
    maybe_deleted: Option<MaybeDeletedChoice>,
) -> Result<DamageAccount, RestoreError> {
    let account = DamageAccount::of(backup);
    if account.is_damaged() && !salvage {
        return Err(RestoreError::Damaged(account.refusal(backup)));
    }
    require_maybe_deleted_choice(backup, salvage, maybe_deleted)
        .map_err(|unchosen| RestoreError::Damaged(format!("{unchosen}; nothing was restored")))?;
    Ok(account)
}

fn list_seqs(seqs: &[u64]) -> String {
    let mut text: Vec<String> = seqs
        .iter()
        .take(LISTED_RANGES)
        .map(u64::to_string)
        .collect();
    if seqs.len() > LISTED_RANGES {
        text.push(format!("… {} more", seqs.len() - LISTED_RANGES));
    }
    text.join(", ")
}

fn list_ranges(ranges: &[[u64; 2]]) -> String {
    let mut text: Vec<String> = ranges
        .iter()
        .take(LISTED_RANGES)
        .map(|[from, to]| {
            if from == to {
                format!("seq {from}")
            } else {
                format!("seqs {from}–{to}")
            }
        })
        .collect();
    if ranges.len() > LISTED_RANGES {
        text.push(format!("… {} more ranges", ranges.len() - LISTED_RANGES));
    }
    text.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_seqs_are_listed_briefly() {
        assert_eq!(list_ranges(&[[1, 1], [3, 9]]), "seq 1, seqs 3–9");
        let many: Vec<u64> = (1..=10).collect();
        assert_eq!(list_seqs(&many), "1, 2, 3, 4, 5, 6, 7, 8, … 2 more");
        let account = DamageAccount {
            damaged_seqs: vec![1000],
            lost_ranges: vec![[360, 640]],
            sequences_lost: 281,
            ..DamageAccount::default()
        };
        assert!(account.is_damaged());
        assert_eq!(
            account.dropped_text(),
            "1 damaged (seq 1000); 281 sequence(s) lost (seqs 360–640)"
        );
        assert!(!DamageAccount::default().is_damaged());
    }

    #[test]
    fn out_of_order_entries_are_counted_not_silent() {
        let mut backup = Backup::for_tests();
        for seq in [5, 7] {
            backup.findings.push(
                crate::model::Finding::error(FindingKind::SequenceOrder, "out of order").seq(seq),
            );
        }
        let account = DamageAccount::of(&backup);
        assert_eq!(account.out_of_order_entries, 2);
        assert_eq!(account.out_of_order_seqs, vec![5, 7]);
        assert!(account.is_damaged());
        assert_eq!(account.dropped_text(), "2 out of sequence order (seq 5, 7)");
        // Beyond the listed ones the scan gives the total in a closing finding.
        backup.findings.push(crate::model::Finding::error(
            FindingKind::SequenceOrder,
            "130 message entries out of sequence order in all (2 listed)",
        ));
        assert_eq!(DamageAccount::of(&backup).out_of_order_entries, 130);
        let refusal = DamageAccount::of(&backup).refusal(&backup);
        assert!(refusal.contains("130 out of sequence order"), "{refusal}");
        assert!(refusal.contains("--salvage"), "{refusal}");
    }
}
