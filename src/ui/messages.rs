//! Messages pane: the filter row, a virtualized table of the display list
//! (messages and deleted gaps) and the selected message's detail.

use super::app::Command;
use super::document::SavedFiltersState;
use super::document::{Document, PayloadMode};
use super::filter::DisplayRow;
use super::widgets;
use super::workers::{spawn_job, MessageView};
use crate::model::Backup;
use crate::ops::filter::saved::{self as saved_filters, Change};
use egui::{RichText, Ui};
use egui_extras::{Column, TableBuilder};
use std::sync::Arc;

pub const FILTER_SUBJECT_ID: &str = "filter_subject";
pub const GOTO_SEQ_ID: &str = "goto_seq";
pub const FILTER_WHERE_ID: &str = "filter_where";
/// Expressions kept in the `where` history.
const WHERE_HISTORY: usize = 12;

pub fn messages_ui(ui: &mut Ui, document: &mut Document, commands: &mut Vec<Command>) {
    let Some(backup) = document.backup.clone() else {
        widgets::weak(ui, "Reading…");
        return;
    };
    super::app::ttl_banner_ui(ui, document);
    filter_ui(ui, document, &backup, commands);
    ui.separator();
    egui::Panel::bottom("message_detail")
        .resizable(true)
        .min_size(160.0)
        .default_size(ui.available_height() * 0.4)
        .show(ui, |ui| detail_ui(ui, document, &backup, commands));
    egui::CentralPanel::no_frame().show(ui, |ui| table_ui(ui, document, &backup));
    keyboard_navigation(ui, document);
}

fn labelled_edit(
    ui: &mut Ui,
    label: &str,
    text: &mut String,
    width: f32,
    id: Option<&str>,
) -> egui::Response {
    let label = ui.label(label);
    let mut edit = egui::TextEdit::singleline(text).desired_width(width);
    if let Some(id) = id {
        edit = edit.id(egui::Id::unique(id));
    }
    ui.add(edit).labelled_by(label.id)
}

fn filter_ui(ui: &mut Ui, document: &mut Document, backup: &Backup, commands: &mut Vec<Command>) {
    let spec = &mut document.messages.spec;
    ui.horizontal_wrapped(|ui| {
        labelled_edit(
            ui,
            "subject",
            &mut spec.subject_include,
            150.0,
            Some(FILTER_SUBJECT_ID),
        )
        .on_hover_text("Wildcards (orders.*.eu, orders.>), several separated by commas (Ctrl+F)");
        labelled_edit(ui, "not", &mut spec.subject_exclude, 100.0, None)
            .on_hover_text("Leave out subjects matching these wildcards");
        labelled_edit(ui, "seq", &mut spec.seq_from, 60.0, None);
        labelled_edit(ui, "–", &mut spec.seq_to, 60.0, None);
        labelled_edit(ui, "time", &mut spec.time_from, 150.0, None)
            .on_hover_text("RFC 3339, e.g. 2026-11-27T14:19:11Z");
        labelled_edit(ui, "–", &mut spec.time_to, 150.0, None);
        labelled_edit(ui, "size", &mut spec.size_min, 50.0, None)
            .on_hover_text("Header block + payload bytes, at least (1500, 1k, 2m)");
        labelled_edit(ui, "–", &mut spec.size_max, 50.0, None).on_hover_text("At most");
    });
    ui.horizontal_wrapped(|ui| {
        labelled_edit(ui, "header", &mut spec.header, 130.0, None)
            .on_hover_text("Name (present) or Name:value");
        labelled_edit(ui, "payload", &mut spec.payload, 130.0, None);
        ui.checkbox(&mut spec.payload_regex, "regex");
        ui.checkbox(&mut spec.only_expired, "only expired");
        ui.checkbox(&mut spec.kv_delete, "KV delete")
            .on_hover_text("KV-Operation: DEL markers");
        ui.checkbox(&mut spec.kv_purge, "KV purge")
            .on_hover_text("KV-Operation: PURGE markers");
        ui.checkbox(&mut spec.only_damaged, "damaged")
            .on_hover_text("Messages failing their checksum or in a damaged chunk");
        if !spec.is_empty() && ui.small_button("Clear").clicked() {
            *spec = Default::default();
        }
        ui.separator();
        let goto = labelled_edit(
            ui,
            "go to seq",
            &mut document.messages.goto_text,
            70.0,
            Some(GOTO_SEQ_ID),
        )
        .on_hover_text("Ctrl+G, Enter to jump");
        if goto.lost_focus() && ui.input(|input| input.key_pressed(egui::Key::Enter)) {
            match document
                .messages
                .goto_text
                .trim()
                .replace(',', "")
                .parse::<u64>()
            {
                Ok(seq) => commands.push(Command::GoToSeq(seq)),
                Err(_) => commands.push(Command::Notice(format!(
                    "'{}' is not a sequence number",
                    document.messages.goto_text.trim()
                ))),
            }
        }
        ui.checkbox(&mut document.messages.relative_time, "relative time");
        ui.checkbox(&mut document.messages.local_time, "local time");
    });
    where_ui(ui, document, &backup.stream_name);
    ui.horizontal(|ui| {
        let display = &document.messages.display;
        ui.label(format!(
            "{} of {} messages",
            widgets::count(display.message_count as u64),
            widgets::count(backup.messages.len() as u64)
        ));
        if let Some(job) = &document.messages.filter_job {
            ui.spinner();
            match job.progress {
                Some((scanned, total)) if total > 0 => widgets::weak(
                    ui,
                    format!(
                        "filtering… {}% (results so far shown)",
                        scanned * 100 / total
                    ),
                ),
                _ => widgets::weak(ui, "filtering…"),
            };
        }
        // A `where` error is drawn under the expression instead.
        if let Some(error) = document
            .messages
            .filter_error
            .as_ref()
            .filter(|error| error.span.is_none())
        {
            ui.label(RichText::new(error.to_string()).color(widgets::error_color(ui)));
        }
        if document.is_indexing() {
            widgets::weak(ui, "(first rows while indexing)");
        }
    });
}

/// The filter-language field (combined with the fields by `and`), its history,
/// and a parse error: the offending token underlined in the field, the message below.
fn where_ui(ui: &mut Ui, document: &mut Document, stream: &str) {
    let messages = &mut document.messages;
    poll_saved(ui.ctx(), &mut messages.saved, stream);
    let error_span = messages
        .filter_error
        .as_ref()
        .and_then(|error| error.span.clone());
    let error_color = widgets::error_color(ui);
    // One line that scrolls sideways, like any single-line field (no wrapping).
    let mut layouter = |ui: &Ui, text: &dyn egui::TextBuffer, _wrap_width: f32| {
        let job = underlined(ui, text.as_str(), error_span.clone(), error_color);
        ui.ctx().fonts_mut(|fonts| fonts.layout_job(job))
    };
    ui.horizontal(|ui| {
        let label = ui.label("where");
        // Room left for Save and the saved/recent list.
        let width = (ui.available_width() - 200.0).max(160.0);
        let edit = egui::TextEdit::singleline(&mut messages.spec.expression)
            .id(egui::Id::unique(FILTER_WHERE_ID))
            .desired_width(width)
            .layouter(&mut layouter)
            .hint_text(r#"subject ~ "orders.*.eu" and size > 1k and header("Nats-Msg-Id")"#);
        let response = ui.add(edit).labelled_by(label.id).on_hover_text(
            "Filter language: subject ~ \"wildcard\", seq/time/size <, <=, =, !=, >=, > \
             (size 1k/1m, time \"RFC 3339\"), header(\"K\") [= \"v\"], payload contains/matches \"…\", \
             ttl expired, kv delete, kv purge, damaged; and, or, not, ( ). Enter keeps it in the history.",
        );
        if response.lost_focus() && ui.input(|input| input.key_pressed(egui::Key::Enter)) {
            remember_expression(&mut messages.where_history, &messages.spec.expression);
        }
        let expression = messages.spec.expression.trim().to_string();
        let savable = !expression.is_empty()
            && messages.filter_error.is_none()
            && !messages.saved.list.contains(&expression);
        if ui
            .add_enabled(savable, egui::Button::new("Save").small())
            .on_hover_text(format!("Keep this expression for stream {stream} (between runs)"))
            .clicked()
        {
            change_saved(ui.ctx(), &mut messages.saved, stream, Change::Save(expression));
        }
        let mut picked: Option<String> = None;
        let mut forget: Option<String> = None;
        egui::ComboBox::from_id_salt("where_history")
            .selected_text("saved / recent")
            .width(110.0)
            .show_ui(ui, |ui| {
                ui.label(RichText::new(format!("Saved for {stream}")).strong());
                if messages.saved.list.is_empty() {
                    widgets::weak(ui, "(none: Save keeps the expression here)");
                }
                for expression in &messages.saved.list {
                    ui.horizontal(|ui| {
                        if ui
                            .small_button("×")
                            .on_hover_text("Forget this saved expression")
                            .clicked()
                        {
                            forget = Some(expression.clone());
                        }
                        if ui
                            .selectable_label(messages.spec.expression == *expression, expression)
                            .clicked()
                        {
                            picked = Some(expression.clone());
                        }
                    });
                }
                ui.separator();
                ui.label(RichText::new("Recent").strong());
                if messages.where_history.is_empty() {
                    widgets::weak(ui, "(Enter in the field keeps an expression here)");
                }
                for expression in &messages.where_history {
                    if ui
                        .selectable_label(messages.spec.expression == *expression, expression)
                        .clicked()
                    {
                        picked = Some(expression.clone());
                    }
                }
            });
        if let Some(expression) = picked {
            messages.spec.expression = expression;
        }
        if let Some(expression) = forget {
            change_saved(ui.ctx(), &mut messages.saved, stream, Change::Forget(expression));
        }
    });
    if let Some(error) = &messages.saved.error {
        ui.label(RichText::new(format!("saved filters: {error}")).color(widgets::warn_color(ui)));
    }
    let Some(error) = messages.filter_error.as_ref() else {
        return;
    };
    let Some(span) = error.span.clone() else {
        return;
    };
    let text = &messages.spec.expression;
    let token = text.get(span.clone()).unwrap_or_default();
    let at = if token.is_empty() {
        "at the end".to_string()
    } else {
        format!("at {token:?}")
    };
    ui.label(
        RichText::new(format!(
            "where: {} — {at} (column {})",
            error.message,
            text.get(..span.start).unwrap_or_default().chars().count() + 1
        ))
        .color(error_color),
    );
}

/// The expression in monospace, the `error` span underlined in the error colour
/// (an empty span, a missing token at the end, marks one space after the text).
fn underlined(
    ui: &Ui,
    text: &str,
    error: Option<std::ops::Range<usize>>,
    color: egui::Color32,
) -> egui::text::LayoutJob {
    let plain = egui::TextFormat {
        font_id: egui::TextStyle::Monospace.resolve(ui.style()),
        color: ui.visuals().text_color(),
        ..Default::default()
    };
    let mut job = egui::text::LayoutJob::default();
    let Some(span) = error.filter(|span| {
        span.end <= text.len()
            && text.is_char_boundary(span.start)
            && text.is_char_boundary(span.end)
    }) else {
        job.append(text, 0.0, plain);
        return job;
    };
    let marked = egui::TextFormat {
        color,
        underline: egui::Stroke::new(2.0, color),
        ..plain.clone()
    };
    job.append(
        text.get(..span.start).unwrap_or_default(),
        0.0,
        plain.clone(),
    );
    if span.is_empty() {
        job.append(text.get(span.start..).unwrap_or_default(), 0.0, plain);
        job.append(" ", 0.0, marked);
    } else {
        job.append(text.get(span.clone()).unwrap_or_default(), 0.0, marked);
        job.append(text.get(span.end..).unwrap_or_default(), 0.0, plain);
    }
    job
}

/// Takes a finished load/save of the saved filters; starts the first load.
fn poll_saved(ctx: &egui::Context, saved: &mut SavedFiltersState, stream: &str) {
    if let Some(result) = saved.job.as_mut().and_then(|job| job.try_result()) {
        saved.job = None;
        match result {
            Ok(list) => {
                saved.list = list;
                saved.error = None;
            }
            Err(message) => saved.error = Some(message),
        }
    }
    if saved.loaded || saved.job.is_some() {
        return;
    }
    saved.loaded = true;
    let path = saved.path.clone();
    let stream = stream.to_string();
    saved.job = Some(spawn_job("saved-filters", ctx, move |_, _| {
        let path = path
            .or_else(saved_filters::default_path)
            .ok_or("no config folder (HOME is not set)")?;
        saved_filters::load(&path)
            .map(|all| all.streams.get(&stream).cloned().unwrap_or_default())
            .map_err(|error| error.to_string())
    }));
}

/// Saves or forgets one expression of this stream on a worker (read-modify-write).
fn change_saved(ctx: &egui::Context, saved: &mut SavedFiltersState, stream: &str, change: Change) {
    // Shown at once; the worker's answer (the list as stored) replaces it.
    match &change {
        Change::Save(expression) => saved.list.insert(0, expression.clone()),
        Change::Forget(expression) => saved.list.retain(|kept| kept != expression),
    }
    if let Some(job) = saved.job.take() {
        // A load still running would overwrite this change with the old list.
        job.request_cancel();
    }
    let path = saved.path.clone();
    let stream = stream.to_string();
    saved.job = Some(spawn_job("saved-filters", ctx, move |_, _| {
        let path = path
            .or_else(saved_filters::default_path)
            .ok_or("no config folder (HOME is not set)")?;
        saved_filters::update(&path, &stream, &change).map_err(|error| error.to_string())
    }));
}

/// Newest first, no duplicates, at most [`WHERE_HISTORY`].
fn remember_expression(history: &mut Vec<String>, expression: &str) {
    let expression = expression.trim();
    if expression.is_empty() {
        return;
    }
    history.retain(|kept| kept != expression);
    history.insert(0, expression.to_string());
    history.truncate(WHERE_HISTORY);
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
    let text = {
        let resolved = if mode == PayloadMode::Auto {
            auto
        } else {
            mode
        };
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
            commands.push(Command::Notice("payload copied".into()));
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
