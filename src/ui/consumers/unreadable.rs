//! A consumer whose config the archive does not give: its row and detail say so
//! instead of showing a fresh consumer's defaults.

use crate::model::ConsumerInfo;
use crate::ui::widgets;
use egui::{RichText, Ui};

/// What a consumer without a readable config is, for its row and its detail.
pub(super) fn unreadable_text(consumer: &ConsumerInfo) -> String {
    format!(
        "Its config in {} cannot be read (see Findings): its kind, filters and what it has pending are not known. A restore refuses it and a salvage leaves it out.",
        consumer.entry
    )
}

/// A consumer without a readable config: "?" where the config decides, its
/// recorded positions where the archive holds them.
pub(super) fn unreadable_cells(row: &mut egui_extras::TableRow, consumer: &ConsumerInfo) {
    let unknown = |ui: &mut Ui| {
        ui.label(RichText::new("?").color(widgets::error_color(ui)))
            .on_hover_text(unreadable_text(consumer));
    };
    for _ in 0..4 {
        row.col(unknown);
    }
    for value in [
        consumer.state.delivered.stream_seq,
        consumer.state.ack_floor.stream_seq,
    ] {
        row.col(|ui| {
            if consumer.state_read {
                widgets::mono(ui, value.to_string());
            } else {
                unknown(ui);
            }
        });
    }
    row.col(unknown);
    for value in [
        consumer.state.pending.len() as u64,
        consumer.state.redelivered.len() as u64,
    ] {
        row.col(|ui| {
            if consumer.state_read {
                widgets::mono(ui, widgets::count(value));
            } else {
                unknown(ui);
            }
        });
    }
    row.col(unknown);
    row.col(|_| {});
}
