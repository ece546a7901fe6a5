//! The Messages pane's filter row: the fields, the `where` expression with its
//! inline error, recent and saved expressions. Filtering itself lives in
//! `ops::filter` (re-exported here for the pane and its worker).

pub use crate::ops::filter::{
    all_rows_with_gaps, run, run_streaming, DisplayList, DisplayRow, FilterError, FilterSpec,
};

use super::command::Command;
use super::document::{Document, SavedFiltersState};
use super::messages::{FILTER_SUBJECT_ID, GOTO_SEQ_ID};
use super::widgets;
use super::workers::spawn_job;
use crate::model::Backup;
use crate::ops::filter::saved::{self as saved_filters, Change};
use egui::{RichText, Ui};

pub const FILTER_WHERE_ID: &str = "filter_where";
/// Expressions kept in the `where` history.
const WHERE_HISTORY: usize = 12;

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

pub fn filter_ui(
    ui: &mut Ui,
    document: &mut Document,
    backup: &Backup,
    commands: &mut Vec<Command>,
) {
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
