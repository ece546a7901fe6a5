//! Consumers pane: a table of the consumers in the backup; the selected one's
//! position over the stream, state (pending list) and config JSON.

use super::command::Command;
use super::document::Document;
use super::widgets;
use crate::model::{Backup, ConsumerInfo};
use egui::{RichText, Ui};
use egui_extras::{Column, TableBuilder};

pub fn consumers_ui(ui: &mut Ui, document: &mut Document, commands: &mut Vec<Command>) {
    let Some(backup) = document.backup.clone() else {
        widgets::weak(ui, "Reading…");
        return;
    };
    ui.horizontal(|ui| {
        ui.label(format!(
            "{} consumer{} · stream last_seq {}",
            backup.consumers.len(),
            widgets::plural(backup.consumers.len() as u64),
            backup.state.last_seq
        ));
        if !backup.consumers.is_empty()
            && ui
                .button("Export selected consumers as JSON…")
                .on_hover_text(
                    "Config and state files per consumer (for nats consumer add --config)",
                )
                .clicked()
        {
            commands.push(Command::OpenExportConsumers(document.consumers.selected));
        }
    });
    if backup.consumers.is_empty() {
        widgets::weak(ui, "This backup holds no consumers.");
        return;
    }
    let selected = document.consumers.selected;
    egui::Panel::bottom("consumer_detail")
        .resizable(true)
        .default_size(ui.available_height() * 0.55)
        .show(ui, |ui| {
            let consumer =
                selected.and_then(|index| backup.consumers.get(index).map(|c| (index, c)));
            match consumer {
                Some((index, consumer)) => {
                    detail_ui(ui, document, &backup, index, consumer, commands)
                }
                None => {
                    widgets::weak(ui, "Select a consumer to see its state and config.");
                }
            }
        });
    egui::CentralPanel::no_frame().show(ui, |ui| table_ui(ui, document, &backup));
}

fn behind(backup: &Backup, consumer: &ConsumerInfo) -> u64 {
    backup
        .state
        .last_seq
        .saturating_sub(consumer.state.delivered.stream_seq)
}

fn table_ui(ui: &mut Ui, document: &mut Document, backup: &Backup) {
    let row_height = ui.text_style_height(&egui::TextStyle::Body) + 4.0;
    TableBuilder::new(ui)
        .id_salt("consumers_table")
        .striped(true)
        .sense(egui::Sense::click())
        .cell_layout(egui::Layout::left_to_right(egui::Align::Center))
        .column(Column::initial(140.0).resizable(true).clip(true))
        .column(Column::auto())
        .column(Column::auto())
        .column(Column::initial(140.0).resizable(true).clip(true))
        .column(Column::auto())
        .columns(Column::auto().at_least(56.0), 5)
        .column(Column::remainder())
        .header(row_height, |mut header| {
            for title in [
                "name",
                "kind",
                "mode",
                "filter subjects",
                "ack policy",
                "delivered",
                "ack floor",
                "ack pending",
                "redelivered",
                "behind",
                "",
            ] {
                header.col(|ui| {
                    ui.label(RichText::new(title).strong());
                });
            }
        })
        .body(|body| {
            body.rows(row_height, backup.consumers.len(), |mut row| {
                let index = row.index();
                let Some(consumer) = backup.consumers.get(index) else {
                    return;
                };
                let is_selected = document.consumers.selected == Some(index);
                row.set_selected(is_selected);
                let mut clicked = false;
                row.col(|ui| {
                    clicked |= ui
                        .selectable_label(is_selected, RichText::new(&consumer.name).monospace())
                        .clicked();
                });
                row.col(|ui| {
                    ui.label(if consumer.is_durable() {
                        "durable"
                    } else {
                        "ephemeral"
                    });
                });
                row.col(|ui| {
                    ui.label(if consumer.is_push() { "push" } else { "pull" });
                });
                row.col(|ui| {
                    let filters = consumer.filter_subjects();
                    if filters.is_empty() {
                        widgets::weak(ui, "–");
                    } else {
                        widgets::mono(ui, filters.join(", "));
                    }
                });
                row.col(|ui| {
                    ui.label(consumer.ack_policy());
                });
                let state = &consumer.state;
                for value in [
                    state.delivered.stream_seq,
                    state.ack_floor.stream_seq,
                    state.pending.len() as u64,
                    state.redelivered.len() as u64,
                    behind(backup, consumer),
                ] {
                    row.col(|ui| {
                        widgets::mono(ui, value.to_string());
                    });
                }
                row.col(|_| {});
                if clicked || row.response().clicked() {
                    document.consumers.selected = Some(index);
                }
            });
        });
}

fn detail_ui(
    ui: &mut Ui,
    document: &mut Document,
    backup: &Backup,
    index: usize,
    consumer: &ConsumerInfo,
    commands: &mut Vec<Command>,
) {
    let state = &consumer.state;
    ui.horizontal(|ui| {
        ui.label(RichText::new(&consumer.name).strong().monospace());
        widgets::weak(ui, format!("from {}", consumer.entry));
        if let Some(created) = &consumer.created {
            widgets::weak(ui, format!("created {created}"));
        }
    });
    widgets::mono(
        ui,
        format!(
            "delivered: stream_seq {}, consumer_seq {}",
            state.delivered.stream_seq, state.delivered.consumer_seq
        ),
    );
    widgets::mono(
        ui,
        format!(
            "ack floor: stream_seq {}, consumer_seq {}",
            state.ack_floor.stream_seq, state.ack_floor.consumer_seq
        ),
    );
    position_bar_ui(ui, backup, consumer);
    ui.columns(2, |columns| {
        if let Some(ui) = columns.get_mut(0) {
            ui.label(
                RichText::new(format!(
                    "Pending acks ({})  ·  redelivered ({})",
                    state.pending.len(),
                    state.redelivered.len()
                ))
                .strong(),
            );
            egui::ScrollArea::vertical()
                .id_salt("pending_list")
                .auto_shrink([false, false])
                .show(ui, |ui| {
                    for entry in state.pending.iter().take(1000) {
                        ui.horizontal(|ui| {
                            if ui
                                .link(
                                    RichText::new(format!("seq {}", entry.stream_seq)).monospace(),
                                )
                                .on_hover_text("Show this message")
                                .clicked()
                            {
                                commands.push(Command::GoToSeq(entry.stream_seq));
                            }
                            widgets::mono(
                                ui,
                                format!(
                                    "consumer_seq {} · {}",
                                    entry.consumer_seq,
                                    widgets::time_utc(entry.timestamp_ns)
                                ),
                            );
                        });
                    }
                    if state.pending.len() > 1000 {
                        widgets::weak(ui, format!("… {} more", state.pending.len() - 1000));
                    }
                    for (seq, count) in state.redelivered.iter().take(200) {
                        widgets::mono(ui, format!("redelivered seq {seq} × {count}"));
                    }
                });
        }
        if let Some(ui) = columns.get_mut(1) {
            let text = match &document.consumers.config_text {
                Some((cached, text)) if *cached == index => text.clone(),
                _ => {
                    let text = serde_json::to_string_pretty(&consumer.config)
                        .unwrap_or_else(|error| format!("cannot format the config: {error}"));
                    document.consumers.config_text = Some((index, text.clone()));
                    text
                }
            };
            ui.horizontal(|ui| {
                ui.label(RichText::new("Config").strong());
                if ui.small_button("Copy config JSON").clicked() {
                    ui.ctx().copy_text(text.clone());
                    commands.push(Command::Notice("config JSON copied".into()));
                }
            });
            egui::ScrollArea::vertical()
                .id_salt("consumer_config")
                .auto_shrink([false, false])
                .show(ui, |ui| {
                    widgets::mono(ui, text);
                });
        }
    });
}

/// The stream's sequence range with ack floor, delivered and pending ticks.
fn position_bar_ui(ui: &mut Ui, backup: &Backup, consumer: &ConsumerInfo) {
    let first = backup
        .state
        .first_seq
        .min(consumer.state.ack_floor.stream_seq.max(1));
    let last = backup
        .state
        .last_seq
        .max(consumer.state.delivered.stream_seq)
        .max(first + 1);
    let width = ui.available_width().min(600.0);
    let (rect, response) = ui.allocate_exact_size(egui::vec2(width, 14.0), egui::Sense::hover());
    let painter = ui.painter_at(rect);
    let visuals = ui.visuals();
    painter.rect_filled(rect, 2.0, visuals.extreme_bg_color);
    let x_of = |seq: u64| {
        let fraction = (seq.saturating_sub(first)) as f32 / (last - first) as f32;
        rect.left() + rect.width() * fraction.clamp(0.0, 1.0)
    };
    let acked = egui::Rect::from_min_max(
        rect.min,
        egui::pos2(x_of(consumer.state.ack_floor.stream_seq), rect.max.y),
    );
    painter.rect_filled(acked, 2.0, visuals.selection.bg_fill);
    let delivered_x = x_of(consumer.state.delivered.stream_seq);
    let warn = widgets::warn_color(ui);
    for entry in consumer.state.pending.iter().take(2000) {
        let x = x_of(entry.stream_seq);
        painter.line_segment(
            [
                egui::pos2(x, rect.top() + 3.0),
                egui::pos2(x, rect.bottom() - 3.0),
            ],
            egui::Stroke::new(1.0, warn),
        );
    }
    painter.line_segment(
        [
            egui::pos2(delivered_x, rect.top()),
            egui::pos2(delivered_x, rect.bottom()),
        ],
        egui::Stroke::new(2.0, visuals.strong_text_color()),
    );
    response.on_hover_text(format!(
        "stream {first}…{last}: ack floor {} (filled), delivered {} (line), {} pending (ticks)",
        consumer.state.ack_floor.stream_seq,
        consumer.state.delivered.stream_seq,
        consumer.state.pending.len()
    ));
}
