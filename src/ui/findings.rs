//! Findings pane: what is wrong in the backup, grouped by severity and kind,
//! each with its location, a link to the evidence, its impact and the next step;
//! above them what a server restore would do and what a salvage keeps, and
//! "Save report…" (the Markdown triage report, built on a worker).

use super::command::Command;
use super::document::Document;
use super::widgets;
use super::workers::{spawn_job, Job};
use crate::model::{Backup, Finding, FindingKind, Severity};
use crate::ops::predict::Outcome;
use crate::ops::triage::{Explained, Triage};
use egui::{RichText, Ui};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Findings are grouped by severity (most severe first), then kind.
type GroupKey = (std::cmp::Reverse<Severity>, FindingKind);

pub fn findings_ui(ui: &mut Ui, document: &mut Document, commands: &mut Vec<Command>) {
    if let Some(error) = &document.error {
        ui.label(RichText::new(error).color(widgets::error_color(ui)));
    }
    let Some(backup) = document.backup.clone() else {
        widgets::weak(ui, "Reading…");
        return;
    };
    let count_of = |severity: Severity| {
        backup
            .findings
            .iter()
            .filter(|finding| finding.severity == severity)
            .count()
    };
    ui.label(format!(
        "{} finding{} ({} error{}, {} warning{}, {} info)",
        backup.findings.len(),
        widgets::plural(backup.findings.len() as u64),
        count_of(Severity::Error),
        widgets::plural(count_of(Severity::Error) as u64),
        count_of(Severity::Warning),
        widgets::plural(count_of(Severity::Warning) as u64),
        count_of(Severity::Info)
    ));
    let triage = document
        .summary
        .as_ref()
        .and_then(|summary| summary.triage.clone());
    report_ui(ui, document, &backup, commands);
    damaged_export_ui(ui, document, &backup);
    if let Some(triage) = &triage {
        triage_ui(ui, triage);
    }
    if backup.findings.is_empty() {
        widgets::weak(
            ui,
            "Nothing wrong found: every checksum, entry and state matched.",
        );
        return;
    }
    let mut groups: BTreeMap<GroupKey, Vec<(&Finding, Option<&Explained>)>> = BTreeMap::new();
    for (index, finding) in backup.findings.iter().enumerate() {
        // The triage explains the findings in the same order (one per finding).
        let explained = triage
            .as_ref()
            .and_then(|triage| triage.findings.get(index))
            .filter(|explained| &explained.finding == finding);
        groups
            .entry((std::cmp::Reverse(finding.severity), finding.kind))
            .or_default()
            .push((finding, explained));
    }
    egui::ScrollArea::vertical()
        .auto_shrink([false, false])
        .show(ui, |ui| {
            for ((std::cmp::Reverse(severity), kind), findings) in groups {
                let color = severity_color(ui, severity);
                let title = RichText::new(format!(
                    "{} · {} ({})",
                    severity.label(),
                    kind.label(),
                    findings.len()
                ))
                .color(color)
                .strong();
                egui::CollapsingHeader::new(title)
                    .id_salt(("finding_group", severity.label(), kind))
                    .default_open(true)
                    .show(ui, |ui| {
                        for (finding, explained) in findings.iter().take(2000) {
                            finding_row_ui(ui, document, &backup, finding, commands);
                            if let Some(explained) = explained {
                                explanation_ui(ui, explained);
                            }
                        }
                        if findings.len() > 2000 {
                            widgets::weak(ui, format!("… {} more", findings.len() - 2000));
                        }
                    });
            }
        });
}

fn severity_color(ui: &Ui, severity: Severity) -> egui::Color32 {
    match severity {
        Severity::Error => widgets::error_color(ui),
        Severity::Warning => widgets::warn_color(ui),
        Severity::Info => ui.visuals().weak_text_color(),
    }
}

fn finding_row_ui(
    ui: &mut Ui,
    document: &mut Document,
    backup: &crate::model::Backup,
    finding: &Finding,
    commands: &mut Vec<Command>,
) {
    let icon = match finding.severity {
        Severity::Error => "ERR ",
        Severity::Warning => "WARN",
        Severity::Info => "INFO",
    };
    ui.horizontal_wrapped(|ui| {
        ui.label(
            RichText::new(icon)
                .monospace()
                .strong()
                .color(severity_color(ui, finding.severity)),
        );
        // The message itself is the link to the evidence (same as "show").
        let message = ui
            .add(egui::Label::new(&finding.message).sense(egui::Sense::click()))
            .on_hover_cursor(egui::CursorIcon::PointingHand);
        if message.clicked() {
            if let Some(seq) = finding.seq {
                commands.push(Command::GoToSeq(seq));
            } else if let Some(entry) = &finding.entry {
                let open = document.expanded_entry.as_deref() == Some(entry.as_str());
                document.expanded_entry = if open { None } else { Some(entry.clone()) };
            }
        }
        let location = finding.location();
        if !location.is_empty() {
            widgets::weak(ui, location);
        }
        if let Some(seq) = finding.seq {
            if ui
                .small_button("show")
                .on_hover_text(format!("Select seq {seq} in Messages"))
                .clicked()
            {
                commands.push(Command::GoToSeq(seq));
            }
        } else if let Some(entry) = &finding.entry {
            let open = document.expanded_entry.as_deref() == Some(entry.as_str());
            if ui
                .small_button(if open { "hide entry" } else { "show entry" })
                .on_hover_text("Where this entry sits in the archive")
                .clicked()
            {
                document.expanded_entry = if open { None } else { Some(entry.clone()) };
            }
        }
    });
    if let Some(entry) = &finding.entry {
        if finding.seq.is_none() && document.expanded_entry.as_deref() == Some(entry.as_str()) {
            match backup.entries.iter().find(|info| &info.name == entry) {
                Some(info) => widgets::mono(
                    ui,
                    format!(
                        "    entry {}: header at {}, data at {}, {} bytes (decompressed offsets)",
                        info.name, info.header_offset, info.data_offset, info.size
                    ),
                ),
                None => widgets::weak(
                    ui,
                    format!("    entry {entry} is not in the entry list (it could not be read)"),
                ),
            };
        }
    }
}

fn explanation_ui(ui: &mut Ui, explained: &Explained) {
    ui.indent(("explained", &explained.finding.message), |ui| {
        ui.horizontal_wrapped(|ui| {
            ui.label(RichText::new("Impact:").strong());
            ui.label(&explained.impact);
        });
        ui.horizontal_wrapped(|ui| {
            ui.label(RichText::new("Next step:").strong());
            widgets::weak(ui, &explained.next_step);
        });
    });
    ui.add_space(4.0);
}

/// What a restore would do, what a salvage keeps.
fn triage_ui(ui: &mut Ui, triage: &Triage) {
    for prediction in &triage.restore {
        let color = match prediction.outcome {
            Outcome::Succeeds => ui.visuals().text_color(),
            Outcome::SucceedsWithLoss => widgets::warn_color(ui),
            Outcome::Fails => widgets::error_color(ui),
        };
        ui.horizontal_wrapped(|ui| {
            ui.label(
                RichText::new(format!(
                    "Restore with nats-server {}:",
                    prediction.servers.join(" and ")
                ))
                .strong(),
            );
            ui.label(RichText::new(&prediction.summary).color(color));
        });
    }
    if let Some(plan) = &triage.salvage {
        ui.horizontal_wrapped(|ui| {
            ui.label(RichText::new("Salvage:").strong());
            ui.label(&plan.summary);
        });
    }
    ui.separator();
}

/// "Save report…": builds the Markdown report on a worker, then hands the bytes
/// to the app's save dialog (which writes them on its own worker).
fn report_ui(
    ui: &mut Ui,
    document: &mut Document,
    backup: &Arc<Backup>,
    commands: &mut Vec<Command>,
) {
    if let Some(job) = &document.report_job {
        match job.try_result() {
            Some(Ok((name, bytes))) => {
                document.report_job = None;
                commands.push(Command::SaveRaw {
                    suggested_name: name,
                    bytes,
                });
            }
            Some(Err(message)) => {
                document.report_job = None;
                commands.push(Command::Notice(format!(
                    "cannot build the report: {message}"
                )));
            }
            None => {}
        }
    }
    let busy = document.report_job.is_some();
    let ready = !document.is_indexing() && backup.format.is_some();
    ui.horizontal(|ui| {
        let button = ui
            .add_enabled(ready && !busy, egui::Button::new("Save report…"))
            .on_hover_text("A Markdown triage report: identity, findings, accounting, predicted restore, salvage");
        if busy {
            ui.spinner();
            widgets::weak(ui, "building the report…");
        }
        if button.clicked() {
            document.report_job = Some(spawn_report(ui.ctx(), backup.clone(), document.reference.ns()));
        }
    });
}

/// "Export damaged bytes": writes the raw bytes of every damaged or suspect
/// message, and the lost ranges, into a new folder beside the backup (never the
/// salvaged copy), on a worker with progress and cancel.
fn damaged_export_ui(ui: &mut Ui, document: &mut Document, backup: &Arc<Backup>) {
    let untrusted = backup.damaged_records.len()
        + backup
            .messages
            .count_any_flag(crate::model::flags::UNTRUSTED);
    if untrusted == 0 && backup.lost.is_empty() {
        return;
    }
    if let Some(result) = document.damaged_export.as_ref().and_then(Job::try_result) {
        document.damaged_export = None;
        document.damaged_export_done = Some(result.map(|written| {
            format!(
                "{} damaged and {} suspect messages ({} B) and {} lost ranges written to {}",
                written.damaged,
                written.suspect,
                written.bytes,
                written.lost_ranges,
                written.path.display()
            )
        }));
    }
    ui.horizontal(|ui| {
        match &document.damaged_export {
            Some(job) => {
                let (done, total) = job.progress();
                ui.spinner();
                widgets::weak(ui, format!("writing damaged bytes {done} / {total}…"));
                if ui.small_button("Cancel").clicked() {
                    job.request_cancel();
                }
            }
            None => {
                let ready = !document.is_indexing();
                if ui
                    .add_enabled(ready, egui::Button::new("Export damaged bytes"))
                    .on_hover_text(format!(
                        "The raw bytes of the {untrusted} damaged or suspect messages, one file each, and an index.ndjson (with the lost ranges) into a new folder beside the backup — for inspection, never a restorable copy"
                    ))
                    .clicked()
                {
                    let backup = backup.clone();
                    document.damaged_export = Some(spawn_job(
                        "damaged-export",
                        ui.ctx(),
                        move |progress, cancel| {
                            let out = crate::ops::damaged::default_out_dir(&backup);
                            crate::ops::damaged::export_damaged(
                                &backup,
                                &out,
                                &mut |done, total| progress.set(done, total),
                                cancel,
                            )
                            .map_err(|error| error.to_string())
                        },
                    ));
                }
            }
        }
        match &document.damaged_export_done {
            Some(Ok(message)) => {
                widgets::weak(ui, message);
            }
            Some(Err(message)) => {
                ui.label(RichText::new(message).color(widgets::error_color(ui)));
            }
            None => {}
        }
    });
}

fn spawn_report(
    ctx: &egui::Context,
    backup: Arc<Backup>,
    reference_ns: i64,
) -> Job<(String, Vec<u8>)> {
    spawn_job("triage-report", ctx, move |_, cancel| {
        let triage = crate::ops::triage::triage(&backup, reference_ns, Some(cancel), true);
        let text = crate::ops::report::triage_markdown(&backup, &triage);
        let stream = if backup.stream_name.is_empty() {
            "backup"
        } else {
            backup.stream_name.as_str()
        };
        Ok((format!("{stream}-triage.md"), text.into_bytes()))
    })
}
