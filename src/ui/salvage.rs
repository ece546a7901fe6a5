//! Damaged archives: the banner at the top of a damaged backup's view (what is
//! damaged, how much can be recovered) and the "Save salvaged copy" dialog,
//! which runs `ops::export::export` with `salvage` on a worker thread.
//! The dialog defaults to the source's format (v1 stays v1, so the server that
//! made it can restore it) and to a writable folder (read-only evidence folders
//! are left alone), and says what the salvage keeps before anything is written.

use super::command::{Action, Command};
use super::dialog::{self, PathField};
use super::export::{default_output, drop_lines, spawn_export};
use super::widgets;
use super::workers::Job;
use super::{OpenSource, Pane};
use crate::model::flags;
use crate::model::{to_ranges, ArchiveFormat, Backup, Severity};
use crate::ops::export::{ExportOptions, ExportReport, MaybeDeletedChoice};
use crate::ops::triage::{salvage_output_dir, salvage_plan, SalvagePlan};
use egui::{RichText, Ui};
use std::path::PathBuf;
use std::sync::Arc;

/// What the pre-flight worker found: the plan, and the default output path
/// (moved out of a read-only folder when needed).
pub struct SalvagePreflight {
    pub plan: Option<SalvagePlan>,
    pub out: PathBuf,
    pub moved_from: Option<PathBuf>,
}

/// "1,673 of 1,674 messages intact; seq 1000 damaged; sequences 312–640 lost".
/// A data file in which no byte decodes (cut inside its first S2 chunk, say).
const NOTHING_DECODES: &str = "nothing in the file can be decoded, so there is nothing to salvage: get the backup again (an incomplete copy or download?)";

/// What makes this backup's `suspect` messages suspect, in a few words.
fn suspect_causes(backup: &Backup, suspect: u64) -> String {
    let by_objects: u64 = backup
        .object_suspects
        .iter()
        .map(|object| object.chunk_seqs.len() as u64)
        .sum();
    let mut causes = Vec::new();
    if suspect > by_objects {
        causes.push(if backup.has_failed_chunks() {
            "in a chunk that failed its CRC, or next to damage"
        } else {
            "next to damage"
        });
        if !backup.changed_chunks.is_empty() {
            causes.push("before a gap in a chunk whose length changed");
        }
    }
    if by_objects > 0 {
        causes.push("chunks of an object whose SHA-256 differs");
    }
    causes.join("; ")
}

pub fn damage_summary(backup: &Backup) -> String {
    if backup.format.is_none() {
        return NOTHING_DECODES.to_string();
    }
    let unverified = backup.messages.count_any_flag(flags::UNTRUSTED) as u64;
    let rows = backup.messages.len() as u64;
    let total = rows + backup.damaged_seqs.len() as u64;
    let mut parts = vec![format!(
        "{} of {} messages intact",
        widgets::count(rows.saturating_sub(unverified)),
        widgets::count(total)
    )];
    if unverified > 0 {
        parts.push(format!(
            "{} suspect (bytes nothing proves: {})",
            widgets::count(unverified),
            suspect_causes(backup, unverified)
        ));
    }
    if !backup.damaged_seqs.is_empty() {
        let ranges = to_ranges(backup.damaged_seqs.iter().copied());
        let word = if backup.damaged_seqs.len() == 1 {
            "seq"
        } else {
            "seqs"
        };
        parts.push(format!("{word} {} damaged", ranges_text(&ranges)));
    }
    if !backup.lost.is_empty() {
        let lost: u64 = backup.lost.iter().map(|(from, to)| to - from + 1).sum();
        let word = if lost == 1 { "sequence" } else { "sequences" };
        parts.push(format!("{word} {} lost", ranges_text(&backup.lost)));
    }
    if !backup.maybe_deleted.is_empty() {
        parts.push(format!(
            "{} may have been deleted",
            widgets::count(backup.maybe_deleted.len() as u64)
        ));
    }
    if let Some(unnamed) = &backup.unnamed_deletes {
        parts.push(format!(
            "up to {} more may have been deleted, unnamed",
            widgets::count(unnamed.at_most)
        ));
    }
    parts.join("; ")
}

fn ranges_text(ranges: &[(u64, u64)]) -> String {
    let mut shown: Vec<String> = ranges
        .iter()
        .take(5)
        .map(|(from, to)| {
            if from == to {
                from.to_string()
            } else {
                format!("{from}–{to}")
            }
        })
        .collect();
    if ranges.len() > 5 {
        shown.push(format!("… ({} ranges)", ranges.len()));
    }
    shown.join(", ")
}

/// The error the banner leads with: the one nearest the start of the archive
/// (what lies after damage is often read from it), an S2 chunk's own failure
/// before what was read out of that chunk; errors with no offset come last.
fn root_error<'a>(errors: &[&'a crate::model::Finding]) -> Option<&'a crate::model::Finding> {
    use crate::model::FindingKind;
    errors.iter().copied().min_by_key(|finding| {
        let chunk_level = matches!(
            finding.kind,
            FindingKind::S2Crc | FindingKind::S2Framing | FindingKind::S2Truncated
        );
        (finding.offset.unwrap_or(u64::MAX), !chunk_level)
    })
}

/// The banner; nothing when the backup has no error findings.
pub fn banner_ui(ui: &mut Ui, backup: &Backup, commands: &mut Vec<Command>) {
    let errors: Vec<&crate::model::Finding> = backup
        .findings
        .iter()
        .filter(|finding| finding.severity == Severity::Error)
        .collect();
    let Some(first) = root_error(&errors) else {
        return;
    };
    let color = widgets::error_color(ui);
    egui::Frame::group(ui.style())
        .stroke(egui::Stroke::new(1.0, color))
        .show(ui, |ui| {
            ui.set_width(ui.available_width());
            ui.horizontal_wrapped(|ui| {
                ui.label(
                    RichText::new(format!(
                        "Damaged backup: {} error{}",
                        errors.len(),
                        widgets::plural(errors.len() as u64)
                    ))
                    .color(color)
                    .strong(),
                );
                ui.label(&first.message);
            });
            ui.horizontal_wrapped(|ui| {
                ui.label(RichText::new(damage_summary(backup)).strong());
                if backup.format.is_some()
                    && ui
                        .button("Save salvaged copy…")
                        .on_hover_text(
                            "Write what can be read as a new backup with consistent state",
                        )
                        .clicked()
                {
                    commands.push(Command::Run(Action::Salvage));
                }
                if ui.small_button("Show findings").clicked() {
                    commands.push(Command::ShowPane(Pane::Findings));
                }
            });
        });
    ui.add_space(4.0);
}

pub struct SalvageDialog {
    pub backup: Arc<Backup>,
    pub format: ArchiveFormat,
    pub out: PathField,
    pub job: Option<Job<ExportReport>>,
    pub result: Option<Result<ExportReport, String>>,
    /// The default output path before the pre-flight (to see whether the user edited it).
    initial_out: String,
    preflight_job: Option<Job<SalvagePreflight>>,
    pub preflight: Option<Result<SalvagePreflight, String>>,
    /// Keep or drop the messages that may have been deleted; `None` until chosen
    /// (the salvage waits for the choice when there are such messages).
    pub maybe_deleted: Option<MaybeDeletedChoice>,
}

impl SalvageDialog {
    pub fn new(backup: Arc<Backup>) -> Self {
        let initial_out = default_output(&backup, "salvaged");
        Self {
            format: backup.format.unwrap_or(ArchiveFormat::V2),
            out: PathField::new(initial_out.clone()),
            job: None,
            result: None,
            initial_out,
            preflight_job: None,
            preflight: None,
            maybe_deleted: None,
            backup,
        }
    }

    /// Starts the pre-flight (plan and output folder) on a worker, once.
    fn start_preflight(&mut self, ctx: &egui::Context) {
        if self.preflight_job.is_some() || self.preflight.is_some() {
            return;
        }
        let backup = self.backup.clone();
        let initial = PathBuf::from(&self.initial_out);
        self.preflight_job = Some(super::workers::spawn_job(
            "salvage-preflight",
            ctx,
            move |_, cancel| {
                let plan = salvage_plan(&backup, Some(cancel));
                let folder = initial
                    .parent()
                    .filter(|parent| !parent.as_os_str().is_empty())
                    .map(PathBuf::from)
                    .unwrap_or_else(|| PathBuf::from("."));
                let chosen = salvage_output_dir(&folder);
                let name = initial.file_name().map(PathBuf::from).unwrap_or_default();
                let moved_from = (chosen != folder).then_some(folder);
                Ok(SalvagePreflight {
                    plan,
                    out: chosen.join(name),
                    moved_from,
                })
            },
        ));
    }

    fn poll_preflight(&mut self) {
        dialog::poll_job(&mut self.preflight_job, &mut self.preflight);
        if let Some(Ok(preflight)) = &self.preflight {
            // Follow the pre-flight's folder unless the user already chose one.
            if self.out.text == self.initial_out && preflight.moved_from.is_some() {
                self.out.text = preflight.out.display().to_string();
                self.initial_out = self.out.text.clone();
            }
        }
    }

    /// "Will keep 1,673 of 1,674 messages (v1): …", before anything is written.
    fn plan_ui(&self, ui: &mut Ui) {
        match &self.preflight {
            None => {
                ui.horizontal(|ui| {
                    ui.spinner();
                    widgets::weak(ui, "checking what a salvage keeps…");
                });
            }
            Some(Err(message)) => dialog::error_ui(ui, message),
            Some(Ok(preflight)) => {
                if let Some(plan) = &preflight.plan {
                    // The plan keeps the messages that may have been deleted; left
                    // out, they are deleted sequences in the copy.
                    let dropped = if self.maybe_deleted == Some(MaybeDeletedChoice::Drop) {
                        plan.maybe_deleted_kept
                    } else {
                        0
                    };
                    ui.label(
                        RichText::new(format!(
                            "Will keep {} of {} messages",
                            widgets::count(plan.keeps.saturating_sub(dropped)),
                            widgets::count(plan.of)
                        ))
                        .strong(),
                    );
                    if dropped > 0 {
                        widgets::weak(
                            ui,
                            format!(
                                "{} left out as deleted: they may have been deleted (chosen above)",
                                widgets::count(dropped)
                            ),
                        );
                    }
                    if !plan.consumers_left_out.is_empty() {
                        widgets::weak(
                            ui,
                            format!(
                                "consumer{} {} left out: no readable config (a restore refuses a consumer without one)",
                                widgets::plural(plan.consumers_left_out.len() as u64),
                                plan.consumers_left_out.join(", ")
                            ),
                        );
                    }
                    let left_out = plan.of.saturating_sub(plan.keeps);
                    if left_out > 0 {
                        widgets::weak(
                            ui,
                            format!(
                                "{} left out: damaged, lost or unproven messages never go into the restorable copy",
                                widgets::count(left_out)
                            ),
                        );
                    }
                }
                if let Some(folder) = &preflight.moved_from {
                    widgets::weak(
                        ui,
                        format!(
                            "{} cannot be written (read-only evidence?): the copy goes to {}",
                            folder.display(),
                            preflight
                                .out
                                .parent()
                                .map(|parent| parent.display().to_string())
                                .unwrap_or_default()
                        ),
                    );
                }
            }
        }
    }

    pub fn is_busy(&self) -> bool {
        self.job.is_some() || self.out.is_picking()
    }

    fn start(&mut self, ctx: &egui::Context) {
        let Some(out) = self.out.path() else {
            return;
        };
        let options = ExportOptions {
            format: Some(self.format),
            salvage: true,
            maybe_deleted: self.maybe_deleted,
            ..ExportOptions::default()
        };
        self.result = None;
        self.job = Some(spawn_export(
            ctx,
            "salvage",
            "into",
            self.backup.clone(),
            out,
            options,
        ));
    }

    /// Draws the dialog; returns false once it is closed.
    pub fn show(&mut self, ctx: &egui::Context, commands: &mut Vec<Command>) -> bool {
        dialog::poll_job(&mut self.job, &mut self.result);
        self.start_preflight(ctx);
        self.poll_preflight();
        let mut open = true;
        egui::Window::new(format!(
            "Save a salvaged copy of {}",
            self.backup.stream_name
        ))
        .id(egui::Id::unique("salvage_dialog"))
        .open(&mut open)
        .collapsible(false)
        .default_width(600.0)
        .show(ctx, |ui| self.body_ui(ui, commands));
        if !open {
            self.cancel();
        }
        open
    }

    /// Stops a running salvage (the dialog is closing).
    pub fn cancel(&self) {
        if let Some(job) = &self.job {
            job.request_cancel();
        }
        if let Some(job) = &self.preflight_job {
            job.request_cancel();
        }
    }

    fn body_ui(&mut self, ui: &mut Ui, commands: &mut Vec<Command>) {
        ui.label(damage_summary(&self.backup));
        if self.backup.format.is_none() {
            // The CLI refuses such a salvage too: an empty copy would restore as if whole.
            return;
        }
        widgets::weak(
            ui,
            "Every readable message is kept; damaged and lost ones become deleted sequences, so consumer positions stay valid. The original is not changed.",
        );
        ui.add_enabled_ui(self.job.is_none(), |ui| {
            ui.horizontal(|ui| {
                ui.label("Format");
                ui.radio_value(
                    &mut self.format,
                    ArchiveFormat::V2,
                    "v2 (nats-server 2.15+)",
                );
                ui.radio_value(
                    &mut self.format,
                    ArchiveFormat::V1,
                    "v1 (tar, older servers)",
                );
            });
            dialog::maybe_deleted_ui(ui, &self.backup, &mut self.maybe_deleted, "saving");
            self.out.ui(
                ui,
                "output directory",
                "a new directory (must not exist)",
                Some(&format!("{}-salvaged", self.backup.stream_name)),
            );
        });
        self.plan_ui(ui);
        if let Some(job) = &self.job {
            if dialog::progress_ui(ui, job, "Salvaging", "messages") {
                job.request_cancel();
            }
        } else if ui
            .add_enabled(
                self.out.path().is_some()
                    && (self.backup.maybe_deleted.is_empty() || self.maybe_deleted.is_some()),
                egui::Button::new("Save salvaged copy"),
            )
            .clicked()
        {
            self.start(ui.ctx());
        }
        match &self.result {
            Some(Ok(report)) => {
                dialog::check_ui(
                    ui,
                    Some(true),
                    &format!(
                        "Saved {} of {} messages ({}) to {}",
                        widgets::count(report.kept_messages),
                        widgets::count(report.source_messages),
                        report.format.label(),
                        report.out.display()
                    ),
                );
                let lines = drop_lines(report);
                if !lines.is_empty() {
                    widgets::weak(ui, format!("left out: {}", lines.join(", ")));
                }
                if ui.button("Open the salvaged copy").clicked() {
                    commands.push(Command::Open(OpenSource::Path(report.out.clone())));
                }
            }
            Some(Err(message)) => dialog::error_ui(ui, message),
            None => {}
        }
    }
}
