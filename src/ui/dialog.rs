//! Pieces the Restore, Export and Salvage dialogs share: the consumer
//! checklist, a path field with a folder picker, the progress row of a
//! running job. Widgets only; the work runs in `workers::Job`s.

use super::widgets;
use super::workers::{self, Job};
use crate::model::Backup;
use crate::ops::export::{maybe_deleted_ranges, MaybeDeletedChoice};
use crate::ops::restore_local::ConsumerSelection;
use crate::util::time::format_rfc3339_ns;
use egui::{RichText, Ui};
use std::path::PathBuf;

/// One checkbox per consumer of the backup, all checked at first.
#[derive(Debug, Clone)]
pub struct ConsumerChecks {
    pub names: Vec<String>,
    pub checked: Vec<bool>,
}

impl ConsumerChecks {
    pub fn all(backup: &Backup) -> Self {
        let names: Vec<String> = backup.consumers.iter().map(|c| c.name.clone()).collect();
        let checked = vec![true; names.len()];
        Self { names, checked }
    }

    pub fn only(backup: &Backup, keep: Option<usize>) -> Self {
        let mut checks = Self::all(backup);
        if let Some(keep) = keep {
            for (index, checked) in checks.checked.iter_mut().enumerate() {
                *checked = index == keep;
            }
        }
        checks
    }

    pub fn selected(&self) -> Vec<String> {
        self.names
            .iter()
            .zip(&self.checked)
            .filter(|(_, checked)| **checked)
            .map(|(name, _)| name.clone())
            .collect()
    }

    pub fn all_checked(&self) -> bool {
        self.checked.iter().all(|checked| *checked)
    }

    pub fn none_checked(&self) -> bool {
        !self.checked.iter().any(|checked| *checked)
    }

    /// The choice as export and restore take it.
    pub fn selection(&self) -> ConsumerSelection {
        if self.all_checked() {
            ConsumerSelection::All
        } else if self.none_checked() {
            ConsumerSelection::None
        } else {
            ConsumerSelection::Only(self.selected())
        }
    }

    /// The checklist; returns true when a box changed.
    pub fn ui(&mut self, ui: &mut Ui) -> bool {
        let mut changed = false;
        ui.horizontal(|ui| {
            ui.label(RichText::new(format!("Consumers ({})", self.names.len())).strong());
            if self.names.is_empty() {
                widgets::weak(ui, "none in this backup");
                return;
            }
            if ui.small_button("all").clicked() {
                self.checked.iter_mut().for_each(|checked| *checked = true);
                changed = true;
            }
            if ui.small_button("none").clicked() {
                self.checked.iter_mut().for_each(|checked| *checked = false);
                changed = true;
            }
        });
        ui.horizontal_wrapped(|ui| {
            for (name, checked) in self.names.iter().zip(self.checked.iter_mut()) {
                changed |= ui.checkbox(checked, name.as_str()).changed();
            }
        });
        changed
    }
}

/// A typed path with a "Choose…" button that runs the native folder picker
/// on a worker thread. `append_name`: the picked folder is the parent and
/// this name is added (for outputs that must not exist yet).
#[derive(Default)]
pub struct PathField {
    pub text: String,
    picker: Option<Job<Option<PathBuf>>>,
}

impl PathField {
    pub fn new(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            picker: None,
        }
    }

    pub fn path(&self) -> Option<PathBuf> {
        let text = self.text.trim();
        if text.is_empty() {
            None
        } else {
            Some(PathBuf::from(text))
        }
    }

    pub fn is_picking(&self) -> bool {
        self.picker.is_some()
    }

    /// Returns true when the path changed (typed or picked).
    pub fn ui(&mut self, ui: &mut Ui, label: &str, hint: &str, append_name: Option<&str>) -> bool {
        let mut changed = false;
        if let Some(picker) = &self.picker {
            if let Some(result) = picker.try_result() {
                self.picker = None;
                if let Ok(Some(folder)) = result {
                    let path = match append_name {
                        Some(name) => folder.join(name),
                        None => folder,
                    };
                    self.text = path.display().to_string();
                    changed = true;
                }
            }
        }
        ui.horizontal(|ui| {
            let label_response = ui.label(label);
            let response = ui
                .add(
                    egui::TextEdit::singleline(&mut self.text)
                        .hint_text(hint)
                        .desired_width(380.0),
                )
                .labelled_by(label_response.id);
            changed |= response.changed();
            if self.picker.is_some() {
                ui.spinner();
                widgets::weak(ui, "waiting for the folder dialog…");
            } else if ui
                .button("Choose…")
                .on_hover_text(if append_name.is_some() {
                    "Pick the folder to write into; the name is added"
                } else {
                    "Pick a folder"
                })
                .clicked()
            {
                self.picker = Some(workers::spawn_pick_folder(label, ui.ctx()));
            }
        });
        changed
    }
}

/// Moves a finished job's result into `result` (the job slot empties).
pub fn poll_job<T>(job: &mut Option<Job<T>>, result: &mut Option<Result<T, String>>) {
    if let Some(running) = job {
        if let Some(finished) = running.try_result() {
            *result = Some(finished);
            *job = None;
        }
    }
}

/// "drop TTL-expired messages" and the reference time; true when it changed.
pub fn drop_expired_ui(ui: &mut Ui, drop_expired: &mut bool, reference_ns: Option<i64>) -> bool {
    let mut changed = false;
    ui.horizontal(|ui| {
        changed = ui
            .checkbox(drop_expired, "drop TTL-expired messages")
            .changed();
        widgets::weak(
            ui,
            match reference_ns {
                Some(ns) => format!("as of {}", format_rfc3339_ns(ns)),
                None => "as of now".to_string(),
            },
        );
    });
    changed
}

/// The count of messages that may have been deleted and the choice to keep or
/// drop them (the salvage and restore dialogs; nothing when there are none).
/// `before` ends the hint shown until a choice is made ("saving", "restoring").
pub fn maybe_deleted_ui(
    ui: &mut Ui,
    backup: &Backup,
    choice: &mut Option<MaybeDeletedChoice>,
    before: &str,
) -> bool {
    let changed = named_maybe_deleted_ui(ui, backup, choice, before);
    if let Some(unnamed) = &backup.unnamed_deletes {
        ui.label(
            RichText::new(crate::ops::wording::capitalise(
                &crate::ops::wording::unnamed_deletes_text(unnamed),
            ))
            .color(ui.visuals().warn_fg_color),
        );
    }
    changed
}

/// The named ones and the keep-or-drop choice.
fn named_maybe_deleted_ui(
    ui: &mut Ui,
    backup: &Backup,
    choice: &mut Option<MaybeDeletedChoice>,
    before: &str,
) -> bool {
    let count = backup.maybe_deleted.len() as u64;
    if count == 0 {
        return false;
    }
    ui.label(
        RichText::new(format!(
            "{} message{} may have been deleted: their deletion records are lost (sequences {})",
            widgets::count(count),
            widgets::plural(count),
            maybe_deleted_ranges(backup)
        ))
        .color(ui.visuals().warn_fg_color),
    );
    let mut changed = false;
    ui.horizontal(|ui| {
        ui.label("These messages");
        changed |= ui
            .radio_value(
                choice,
                Some(MaybeDeletedChoice::Drop),
                "leave out (as deleted)",
            )
            .changed();
        changed |= ui
            .radio_value(choice, Some(MaybeDeletedChoice::Keep), "keep")
            .changed();
    });
    if choice.is_none() {
        widgets::weak(ui, format!("choose whether to keep them before {before}"));
    }
    changed
}

/// Store restores: "keep every message as in the archive" (else the store holds
/// what the server settles at, as of the reference time); true when it changed.
pub fn keep_expired_ui(ui: &mut Ui, keep_expired: &mut bool, reference_ns: Option<i64>) -> bool {
    let mut changed = false;
    ui.horizontal(|ui| {
        changed = ui
            .checkbox(
                keep_expired,
                "keep every message as in the archive (--keep-expired)",
            )
            .changed();
        let when = match reference_ns {
            Some(ns) => format!("as of {}", format_rfc3339_ns(ns)),
            None => "as of now".to_string(),
        };
        widgets::weak(
            ui,
            if *keep_expired {
                "nats-server drops what its limits, max_age and TTLs say once it loads the store"
                    .to_string()
            } else {
                format!(
                    "left out: what the limits, max_age and TTLs drop {when} (see the pre-flight)"
                )
            },
        );
    });
    changed
}

/// Progress bar, rate and Cancel for a running job; true when Cancel was clicked.
pub fn progress_ui<T>(ui: &mut Ui, job: &Job<T>, verb: &str, unit: &str) -> bool {
    let (done, total) = job.progress();
    let fraction = if total > 0 {
        done as f32 / total as f32
    } else {
        0.0
    };
    let mut cancel = false;
    ui.horizontal(|ui| {
        ui.spinner();
        ui.label(verb);
        ui.add(
            egui::ProgressBar::new(fraction)
                .desired_width(200.0)
                .show_percentage(),
        );
        let amount = |value: u64| {
            if unit == "bytes" {
                widgets::bytes(value)
            } else {
                widgets::count(value)
            }
        };
        widgets::mono(
            ui,
            format!(
                "{} / {} {} · {:.1} s",
                amount(done),
                amount(total),
                if unit == "bytes" { "" } else { unit },
                job.started.elapsed().as_secs_f64()
            ),
        );
        if job.cancel.load(std::sync::atomic::Ordering::Relaxed) {
            widgets::weak(ui, "cancelling…");
        } else if ui.button("Cancel").clicked() {
            cancel = true;
        }
    });
    cancel
}

/// An error line in the error colour, selectable so it can be copied.
pub fn error_ui(ui: &mut Ui, text: &str) {
    ui.add(
        egui::Label::new(RichText::new(text).color(widgets::error_color(ui)))
            .selectable(true)
            .wrap(),
    );
}

/// A check line: ✔ / ✖ / • and the text.
pub fn check_ui(ui: &mut Ui, ok: Option<bool>, text: &str) {
    ui.horizontal_wrapped(|ui| {
        let (mark, color) = match ok {
            Some(true) => ("✔", egui::Color32::from_rgb(80, 170, 90)),
            Some(false) => ("✖", widgets::error_color(ui)),
            None => ("•", widgets::warn_color(ui)),
        };
        ui.label(RichText::new(mark).color(color).strong());
        ui.label(text);
    });
}

/// A dialog window `width` wide whose height follows its content up to the
/// screen (then the body scrolls). A resizable egui window keeps its default
/// 420 px height and a `ScrollArea` inside never asks for more, so content
/// that appears later (pre-flight lines, results) would slide below the
/// window's edge: drawn clipped, and clicks there land on the background.
pub fn scrolling_window(
    ctx: &egui::Context,
    title: String,
    id: &'static str,
    width: f32,
    open: &mut bool,
    body: impl FnOnce(&mut Ui),
) {
    let max_height = (ctx.content_rect().height() - 120.0).max(120.0);
    egui::Window::new(title)
        .id(egui::Id::unique(id))
        .open(open)
        .collapsible(false)
        .default_width(width)
        // Height: room for the whole body; the window shows the body's height.
        .default_height(max_height + 80.0)
        .resizable([true, false])
        .show(ctx, |ui| {
            egui::ScrollArea::vertical()
                .max_height(max_height)
                .show(ui, body);
        });
}
