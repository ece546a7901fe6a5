//! Messages pane: the filter row (`ui::filter`), a virtualized table of the display list
//! (messages and deleted gaps) and the selected message's detail.

use super::command::Command;
use super::document::{Document, PayloadMode};
use super::filter::DisplayRow;
use super::widgets;
use super::workers::MessageView;
use crate::model::Backup;
use egui::{RichText, Ui};
use egui_extras::{Column, TableBuilder};
use std::sync::Arc;

pub const FILTER_SUBJECT_ID: &str = "filter_subject";
pub const GOTO_SEQ_ID: &str = "goto_seq";

pub fn messages_ui(ui: &mut Ui, document: &mut Document, commands: &mut Vec<Command>) {
    let Some(backup) = document.backup.clone() else {
        widgets::weak(ui, "Reading…");
        return;
    };
    super::widgets::ttl_banner_ui(ui, document);
    super::filter::filter_ui(ui, document, &backup, commands);
    ui.separator();
    egui::Panel::bottom("message_detail")
        .resizable(true)
        .min_size(160.0)
        .default_size(ui.available_height() * 0.4)
        .show(ui, |ui| detail_ui(ui, document, &backup, commands));
    egui::CentralPanel::no_frame().show(ui, |ui| table_ui(ui, document, &backup));
    keyboard_navigation(ui, document);
}

fn table_ui(ui: &mut Ui, document: &mut Document, backup: &Arc<Backup>) {
    let display = document.messages.display.clone();
    let row_height = ui.text_style_height(&egui::TextStyle::Monospace).max(14.0) + 4.0;
    let reference_ns = document.reference.ns();
    let base_ns = backup.messages.ts_ns.first().copied().unwrap_or(0);
    let relative = document.messages.relative_time;
    let local = document.messages.local_time;
    let local_title = format!("time (local {})", widgets::local_offset_label());
    let selected_row = document.messages.selected_row;
    let warn = widgets::warn_color(ui);
    let error = widgets::error_color(ui);
    let weak = ui.visuals().weak_text_color();
    let mut clicked_row: Option<usize> = None;
    let mut table = TableBuilder::new(ui)
        .id_salt("messages_table")
        .striped(true)
        .sense(egui::Sense::click())
        .animate_scrolling(false)
        .cell_layout(egui::Layout::left_to_right(egui::Align::Center))
        .column(Column::initial(70.0).at_least(40.0).resizable(true))
        .column(
            Column::initial(if relative { 140.0 } else { 232.0 })
                .resizable(true)
                .clip(true),
        )
        .column(
            Column::initial(220.0)
                .at_least(60.0)
                .resizable(true)
                .clip(true),
        )
        .column(Column::initial(40.0))
        .column(Column::initial(56.0))
        .column(Column::initial(56.0))
        .column(Column::remainder().at_least(60.0).clip(true));
    if let Some(position) = document.messages.scroll_to.take() {
        table = table.scroll_to_row(position, Some(egui::Align::Center));
    }
    table
        .header(row_height, |mut header| {
            for title in [
                "seq",
                if relative {
                    "time (+first)"
                } else if local {
                    local_title.as_str()
                } else {
                    "time (UTC)"
                },
                "subject",
                "hdr B",
                "size",
                "TTL",
                "flags",
            ] {
                header.col(|ui| {
                    ui.label(RichText::new(title).strong());
                });
            }
        })
        .body(|body| {
            body.rows(row_height, display.rows.len(), |mut row| {
                let Some(line) = display.rows.get(row.index()).copied() else {
                    return;
                };
                match line {
                    DisplayRow::Gap(gap) => {
                        let (from, to) =
                            backup.deleted.get(gap as usize).copied().unwrap_or((0, 0));
                        let deleted = to.saturating_sub(from) + 1;
                        row.col(|ui| {
                            let range = if from == to {
                                from.to_string()
                            } else {
                                format!("{from}–{to}")
                            };
                            ui.label(RichText::new(range).monospace().color(weak));
                        });
                        row.col(|ui| {
                            ui.label(
                                RichText::new(format!(
                                    "··· {} deleted ···",
                                    widgets::count(deleted)
                                ))
                                .color(weak),
                            )
                            .on_hover_text(format!("sequences {from}–{to} are deleted"));
                        });
                        for _ in 0..5 {
                            row.col(|_| {});
                        }
                    }
                    DisplayRow::Message(index) => {
                        let index = index as usize;
                        let Some(message) = backup.messages.row(index) else {
                            return;
                        };
                        row.set_selected(selected_row == Some(index));
                        let ttl = backup.messages.ttl_of(message.seq);
                        let expired = ttl.is_expired(message.ts_ns, reference_ns);
                        row.col(|ui| {
                            widgets::mono(ui, message.seq.to_string());
                        });
                        row.col(|ui| {
                            let text = if relative {
                                widgets::time_relative(message.ts_ns, base_ns)
                            } else if local {
                                widgets::time_local(message.ts_ns)
                            } else {
                                widgets::time_utc(message.ts_ns)
                            };
                            widgets::mono(ui, text);
                        });
                        row.col(|ui| {
                            widgets::mono(ui, backup.subjects.name(message.subject_id));
                        });
                        row.col(|ui| {
                            widgets::mono(ui, message.hdr_len.to_string());
                        });
                        row.col(|ui| {
                            widgets::mono(
                                ui,
                                (u64::from(message.hdr_len) + u64::from(message.data_len))
                                    .to_string(),
                            );
                        });
                        row.col(|ui| {
                            let text = RichText::new(widgets::ttl(ttl)).monospace();
                            ui.label(if expired { text.color(warn) } else { text });
                        });
                        row.col(|ui| {
                            if expired {
                                if let crate::format::headers::Ttl::Seconds(seconds) = ttl {
                                    let expires = message
                                        .ts_ns
                                        .saturating_add(seconds.saturating_mul(1_000_000_000));
                                    ui.label(RichText::new("EXPIRED").monospace().color(warn))
                                        .on_hover_text(format!(
                                            "expired at {} UTC — a restore after that drops it",
                                            widgets::time_utc(expires)
                                        ));
                                }
                            }
                            for name in widgets::flag_names(message.flags) {
                                let color = if name == "DAMAGED" || name == "BAD-TTL" {
                                    error
                                } else {
                                    weak
                                };
                                ui.label(RichText::new(name).monospace().color(color));
                            }
                        });
                        if row.response().clicked() {
                            clicked_row = Some(index);
                        }
                    }
                }
            });
        });
    if let Some(row) = clicked_row {
        document.select_row(row);
    }
}

/// Up/down move the selection when no text field has focus.
fn keyboard_navigation(ui: &mut Ui, document: &mut Document) {
    if ui.ctx().memory(|memory| memory.focused().is_some()) {
        return;
    }
    let (down, up) = ui.input(|input| {
        (
            input.key_pressed(egui::Key::ArrowDown),
            input.key_pressed(egui::Key::ArrowUp),
        )
    });
    if !down && !up {
        return;
    }
    let display = document.messages.display.clone();
    let current = document.messages.selected_row.and_then(|row| {
        display
            .rows
            .iter()
            .position(|line| *line == DisplayRow::Message(row as u32))
    });
    let candidates: Box<dyn Iterator<Item = (usize, &DisplayRow)>> = match (current, down) {
        (Some(position), true) => Box::new(display.rows.iter().enumerate().skip(position + 1)),
        (Some(position), false) => Box::new(display.rows.iter().enumerate().take(position).rev()),
        (None, _) => Box::new(display.rows.iter().enumerate()),
    };
    let next = candidates
        .filter_map(|(position, line)| match line {
            DisplayRow::Message(row) => Some((position, *row as usize)),
            DisplayRow::Gap(_) => None,
        })
        .next();
    if let Some((position, row)) = next {
        document.select_row(row);
        document.messages.scroll_to = Some(position);
    }
}

fn detail_ui(ui: &mut Ui, document: &mut Document, backup: &Backup, commands: &mut Vec<Command>) {
    let Some(row) = document.messages.selected_row else {
        widgets::weak(
            ui,
            "Select a message (click, or arrow keys) to see its headers and payload.",
        );
        return;
    };
    let Some(message) = backup.messages.row(row) else {
        return;
    };
    ui.horizontal_wrapped(|ui| {
        ui.label(
            RichText::new(format!("seq {}", message.seq))
                .strong()
                .monospace(),
        );
        widgets::mono(ui, backup.subjects.name(message.subject_id));
        widgets::weak(ui, "·");
        widgets::mono(ui, format!("{} UTC", widgets::time_utc(message.ts_ns)));
        widgets::weak(ui, "·");
        widgets::mono(
            ui,
            format!(
                "{} B headers, {} B payload",
                message.hdr_len, message.data_len
            ),
        );
        widgets::weak(ui, format!("· offset {}", message.offset));
    });
    let subject = backup.subjects.name(message.subject_id);
    super::consumers::message_consumers_ui(ui, document, message.seq, subject);
    let view = match &document.messages.detail {
        None => {
            ui.horizontal(|ui| {
                ui.spinner();
                widgets::weak(ui, "reading…");
            });
            return;
        }
        Some(Err(message)) => {
            ui.label(RichText::new(message).color(widgets::error_color(ui)));
            return;
        }
        Some(Ok(view)) => view.clone(),
    };
    headers_ui(ui, &view);
    payload_ui(ui, document, backup, &view, commands);
}

fn headers_ui(ui: &mut Ui, view: &MessageView) {
    if view.headers.is_empty() && view.status_line.is_empty() {
        widgets::weak(ui, "no headers");
        return;
    }
    ui.horizontal_wrapped(|ui| {
        ui.label(RichText::new("Headers").strong());
        if !view.status_line.is_empty() && view.status_line != "NATS/1.0" {
            widgets::mono(ui, &view.status_line);
        }
        for (name, value) in &view.headers {
            ui.label(RichText::new(format!("{name}:")).monospace().weak());
            widgets::mono(ui, value);
            ui.add_space(6.0);
        }
        if view.malformed_header_lines > 0 {
            ui.label(
                RichText::new(format!(
                    "{} malformed header lines",
                    view.malformed_header_lines
                ))
                .color(widgets::warn_color(ui)),
            );
        }
    });
}

fn payload_ui(
    ui: &mut Ui,
    document: &mut Document,
    backup: &Backup,
    view: &MessageView,
    commands: &mut Vec<Command>,
) {
    let auto = if view.pretty_json.is_some() {
        PayloadMode::Json
    } else if view.text.is_some() {
        PayloadMode::Text
    } else {
        PayloadMode::Hex
    };
    let mut mode = document.messages.payload_mode.unwrap_or(PayloadMode::Auto);
    let resolved = if mode == PayloadMode::Auto {
        auto
    } else {
        mode
    };
    let text = {
        match resolved {
            PayloadMode::Json => view
                .pretty_json
                .clone()
                .unwrap_or_else(|| "(not JSON)".into()),
            PayloadMode::Text => view
                .text
                .clone()
                .unwrap_or_else(|| String::from_utf8_lossy(&view.data).into_owned()),
            PayloadMode::Hex | PayloadMode::Auto => view.hex.clone(),
        }
    };
    ui.horizontal(|ui| {
        ui.label(RichText::new("Payload").strong());
        for (value, label) in [
            (PayloadMode::Auto, "Auto"),
            (PayloadMode::Text, "Text"),
            (PayloadMode::Json, "JSON"),
            (PayloadMode::Hex, "Hex"),
        ] {
            ui.selectable_value(&mut mode, value, label);
        }
        if ui.small_button("Copy").clicked() {
            ui.ctx().copy_text(text.clone());
            // Say what was copied: the hex dump is not the payload.
            let what = match resolved {
                PayloadMode::Json => "payload (pretty JSON) copied",
                PayloadMode::Text => "payload text copied",
                PayloadMode::Hex | PayloadMode::Auto => "hex dump copied",
            };
            commands.push(Command::Notice(what.into()));
        }
        if ui.small_button("Save raw…").clicked() {
            commands.push(Command::SaveRaw {
                suggested_name: format!("{}-{}.bin", backup.stream_name, view.seq),
                bytes: view.data.clone(),
            });
        }
    });
    document.messages.payload_mode = Some(mode);
    const SHOWN: usize = 256 * 1024;
    let shown = if text.len() > SHOWN {
        let mut cut = SHOWN;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        format!(
            "{}\n… {} more bytes (Save raw… for all)",
            text.get(..cut).unwrap_or(""),
            text.len() - cut
        )
    } else {
        text
    };
    egui::ScrollArea::both()
        .id_salt("payload_scroll")
        .auto_shrink([false, false])
        .show(ui, |ui| {
            ui.add(
                egui::Label::new(RichText::new(shown).monospace())
                    .selectable(true)
                    .extend(),
            );
        });
}
