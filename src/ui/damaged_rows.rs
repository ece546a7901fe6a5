//! The Messages pane's lines for bytes that are not good messages: a damaged
//! message that is no row (v1 record failing its checksum) drawn red as a line
//! of its own, lost ranges ("bytes not in the archive") distinct from deleted
//! ones, the DAMAGED / SUSPECT note over a flagged row's detail, and a damaged
//! record's raw bytes in the hex view (read on a worker, never on the UI thread).

use super::hex_view::hex_view;
use super::widgets;
use super::workers::{spawn_job, Job};
use crate::model::Backup;
use crate::ops::damaged::Trust;
use egui::{RichText, Ui};
use std::sync::Arc;

/// The damaged record chosen in the table and its bytes.
#[derive(Default)]
pub struct DamagedSelection {
    /// Index into `backup.damaged_records`.
    pub selected: Option<usize>,
    pub bytes: Option<Result<Vec<u8>, String>>,
    job: Option<Job<Vec<u8>>>,
    /// (row, why it is not trusted) of the flagged message row last shown.
    row_note: Option<(usize, Option<(Trust, String)>)>,
}

impl DamagedSelection {
    /// Chooses damaged record `index`; its bytes are read on a worker when drawn.
    pub fn select(&mut self, index: usize) {
        if self.selected == Some(index) {
            return;
        }
        self.selected = Some(index);
        self.bytes = None;
        self.job = None;
    }

    /// A record is chosen and its bytes are not read yet.
    pub fn is_reading(&self) -> bool {
        self.selected.is_some() && self.bytes.is_none()
    }

    pub fn clear(&mut self) {
        self.selected = None;
        self.bytes = None;
        self.job = None;
    }

    fn poll(&mut self, backup: &Arc<Backup>, ctx: &egui::Context) {
        if let (Some(index), None, None) = (self.selected, &self.bytes, &self.job) {
            let backup = backup.clone();
            self.job = Some(spawn_job("damaged-bytes", ctx, move |_, _| {
                let mut reader = crate::ops::read::MessageReader::open(&backup)
                    .map_err(|error| error.to_string())?;
                crate::ops::damaged::read_record(&mut reader, &backup, index)
                    .map_err(|error| error.to_string())
            }));
        }
        if let Some(result) = self.job.as_ref().and_then(Job::try_result) {
            self.bytes = Some(result);
            self.job = None;
        }
    }

    /// Why flagged row `row` is not trusted (cached: the findings are searched once per row).
    pub fn row_note(&mut self, backup: &Backup, row: usize) -> Option<&(Trust, String)> {
        if self.row_note.as_ref().map(|(cached, _)| *cached) != Some(row) {
            self.row_note = Some((row, crate::ops::damaged::row_reason(backup, row)));
        }
        self.row_note.as_ref().and_then(|(_, note)| note.as_ref())
    }
}

pub fn trust_color(ui: &Ui, trust: Trust) -> egui::Color32 {
    match trust {
        Trust::Damaged => widgets::error_color(ui),
        Trust::Suspect => widgets::warn_color(ui),
    }
}

fn cell(ui: &mut Ui, text: RichText) -> egui::Response {
    ui.add(egui::Label::new(text).selectable(false).truncate())
}

/// One damaged record's line: its sequence, what its bytes say (not trusted), and
/// DAMAGED in red. Returns whether it was clicked.
pub fn damaged_row(
    row: &mut egui_extras::TableRow<'_, '_>,
    backup: &Backup,
    index: u32,
    selected: bool,
    key_columns: usize,
) -> bool {
    let Some(record) = backup.damaged_records.get(index as usize) else {
        return false;
    };
    row.set_selected(selected);
    row.col(|ui| {
        let color = widgets::error_color(ui);
        cell(
            ui,
            RichText::new(record.seq.to_string())
                .monospace()
                .color(color),
        );
    });
    row.col(|ui| {
        let text = record
            .ts_ns
            .map(widgets::time_utc)
            .unwrap_or_else(|| "–".into());
        cell(ui, RichText::new(text).monospace().weak());
    });
    row.col(|ui| {
        let subject = record.subject.as_deref().unwrap_or("(unreadable subject)");
        cell(ui, RichText::new(subject).monospace().weak())
            .on_hover_text("as the damaged bytes say: not trusted");
    });
    row.col(|_| {});
    row.col(|ui| {
        cell(ui, RichText::new(record.len.to_string()).monospace().weak()).on_hover_text(format!(
            "{} B record at archive offset {}",
            record.len, record.offset
        ));
    });
    for _ in 0..1 + key_columns {
        row.col(|_| {});
    }
    row.col(|ui| {
        let color = widgets::error_color(ui);
        cell(ui, RichText::new("DAMAGED").monospace().color(color))
            .on_hover_text(format!("sequence {} {}", record.seq, record.reason));
    });
    row.response().clicked()
}

/// One lost range's line, distinct from a deleted range.
pub fn lost_row(
    row: &mut egui_extras::TableRow<'_, '_>,
    backup: &Backup,
    index: u32,
    key_columns: usize,
) {
    let (from, to) = backup.lost.get(index as usize).copied().unwrap_or((0, 0));
    let range = if from == to {
        from.to_string()
    } else {
        format!("{from}–{to}")
    };
    row.col(|ui| {
        let color = widgets::warn_color(ui);
        cell(ui, RichText::new(range.clone()).monospace().color(color));
    });
    row.col(|ui| {
        let color = widgets::warn_color(ui);
        cell(
            ui,
            RichText::new(format!("lost {range} · bytes not in the archive")).color(color),
        )
        .on_hover_text(format!(
            "sequences {from}–{to}: the backup's state says they exist, but their bytes could not be read (not deleted by the server)"
        ));
    });
    for _ in 0..5 + key_columns {
        row.col(|_| {});
    }
}

/// The note over a flagged row's detail: which word, which check, where.
pub fn trust_note_ui(ui: &mut Ui, note: &(Trust, String)) {
    let (trust, reason) = note;
    let color = trust_color(ui, *trust);
    ui.horizontal_wrapped(|ui| {
        ui.label(
            RichText::new(trust.label())
                .monospace()
                .strong()
                .color(color),
        );
        ui.label(RichText::new(reason).color(color));
    });
    widgets::weak(
        ui,
        match trust {
            Trust::Damaged => "Not a good message: shown as its bytes are, for inspection; a salvage leaves it out.",
            Trust::Suspect => "Not proven intact (v2 has no per-message checksum): a salvage leaves it out.",
        },
    );
}

/// The detail of a damaged record: the check it failed, where, and its raw bytes in hex.
pub fn damaged_detail_ui(ui: &mut Ui, selection: &mut DamagedSelection, backup: &Arc<Backup>) {
    selection.poll(backup, ui.ctx());
    let Some(record) = selection
        .selected
        .and_then(|index| backup.damaged_records.get(index))
    else {
        return;
    };
    let error = widgets::error_color(ui);
    ui.horizontal(|ui| {
        ui.label(
            RichText::new(format!("seq {}", record.seq))
                .strong()
                .monospace(),
        );
        ui.label(RichText::new("DAMAGED").monospace().strong().color(error));
        if let Some(subject) = &record.subject {
            ui.add(egui::Label::new(RichText::new(subject).monospace().weak()).truncate())
                .on_hover_text("as the damaged bytes say: not trusted");
        }
    });
    ui.label(RichText::new(format!("sequence {} {}", record.seq, record.reason)).color(error));
    widgets::weak(
        ui,
        format!(
            "raw bytes of the record: {} B at archive offset {} in {} · not a good message: never restored, a salvage leaves it out",
            record.len, record.offset, record.entry
        ),
    );
    match &selection.bytes {
        None => {
            ui.horizontal(|ui| {
                ui.spinner();
                widgets::weak(ui, "reading…");
            });
        }
        Some(Err(message)) => {
            ui.label(RichText::new(message).color(error));
        }
        Some(Ok(bytes)) => {
            // Click-to-highlight has nothing to link to here: the bytes have no trusted layout.
            let _clicked = hex_view(ui, "damaged_hex", bytes, 0, None, false);
        }
    }
}
