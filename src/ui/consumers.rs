//! Consumers pane: a sortable table of the consumers in the backup with the
//! state CONSUMER.INFO would report (from `ops::consumer_state`); the selected
//! one's position over the stream, pending acks, and config (tree or raw JSON).
//! Also the "consumers of this message" line of the Messages detail.
//!
//! Draws only: the numbers come from `ops::consumer_state`, never computed here.

use super::command::Command;
use super::document::Document;
use super::widgets;
use crate::model::{Backup, ConsumerInfo, ConsumerStatus, MessageStanding, Nanos};
use crate::ops::consumer_state;
use egui::{RichText, Ui};
use egui_extras::{Column, TableBuilder};
use serde_json::Value;
use std::sync::Arc;

mod unreadable;
use unreadable::{unreadable_cells, unreadable_text};

/// Table columns the user can sort by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortColumn {
    Name,
    Kind,
    Mode,
    Filters,
    AckPolicy,
    Delivered,
    AckFloor,
    Pending,
    AckPending,
    Redelivered,
    Paused,
}

const COLUMNS: [(SortColumn, &str); 11] = [
    (SortColumn::Name, "name"),
    (SortColumn::Kind, "kind"),
    (SortColumn::Mode, "mode"),
    (SortColumn::Filters, "filter subjects"),
    (SortColumn::AckPolicy, "ack policy"),
    (SortColumn::Delivered, "delivered"),
    (SortColumn::AckFloor, "ack floor"),
    (SortColumn::Pending, "pending"),
    (SortColumn::AckPending, "ack pending"),
    (SortColumn::Redelivered, "redelivered"),
    (SortColumn::Paused, "paused"),
];

/// The statuses of the document's consumers, computed once per scanned model
/// (`None` while indexing: the partial model would give wrong counts).
pub fn statuses(document: &mut Document) -> Option<Arc<Vec<ConsumerStatus>>> {
    if document.is_indexing() {
        return None;
    }
    let backup = document.backup.clone()?;
    let key = Arc::as_ptr(&backup) as usize;
    if let Some((cached, statuses)) = &document.consumers.statuses {
        if *cached == key {
            return Some(statuses.clone());
        }
    }
    let statuses = Arc::new(consumer_state::compute_all(&backup));
    document.consumers.statuses = Some((key, statuses.clone()));
    Some(statuses)
}

pub fn consumers_ui(ui: &mut Ui, document: &mut Document, commands: &mut Vec<Command>) {
    let Some(backup) = document.backup.clone() else {
        widgets::weak(ui, "Reading…");
        return;
    };
    let statuses = statuses(document);
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
                    let status = statuses.as_ref().and_then(|list| list.get(index));
                    detail_ui(ui, document, &backup, (index, consumer, status), commands)
                }
                None => {
                    widgets::weak(ui, "Select a consumer to see its state and config.");
                }
            }
        });
    egui::CentralPanel::no_frame().show(ui, |ui| {
        table_ui(ui, document, &backup, statuses.as_deref(), commands)
    });
}

fn sort_key(
    column: SortColumn,
    consumer: &ConsumerInfo,
    status: Option<&ConsumerStatus>,
) -> (u64, String) {
    let number = |value: Option<u64>| (value.unwrap_or(0), String::new());
    match column {
        SortColumn::Name => (0, consumer.name.clone()),
        SortColumn::Kind => (u64::from(consumer.is_durable()), String::new()),
        SortColumn::Mode => (u64::from(consumer.is_push()), String::new()),
        SortColumn::Filters => (0, consumer.filter_subjects().join(",")),
        SortColumn::AckPolicy => (0, consumer.ack_policy()),
        SortColumn::Delivered => number(Some(consumer.state.delivered.stream_seq)),
        SortColumn::AckFloor => number(Some(consumer.state.ack_floor.stream_seq)),
        SortColumn::Pending => number(status.map(|s| s.num_pending)),
        SortColumn::AckPending => number(status.map(|s| s.num_ack_pending)),
        SortColumn::Redelivered => number(status.map(|s| s.num_redelivered)),
        SortColumn::Paused => number(status.map(|s| s.pause_remaining_ns.max(0) as u64)),
    }
}

/// Consumer indexes in display order.
fn display_order(
    document: &Document,
    backup: &Backup,
    statuses: Option<&Vec<ConsumerStatus>>,
) -> Vec<usize> {
    let mut order: Vec<usize> = (0..backup.consumers.len()).collect();
    if let Some((column, descending)) = document.consumers.sort {
        let key = |index: &usize| {
            let status = statuses.and_then(|list| list.get(*index));
            backup
                .consumers
                .get(*index)
                .map(|consumer| sort_key(column, consumer, status))
        };
        order.sort_by_key(key);
        if descending {
            order.reverse();
        }
    }
    order
}

fn header_ui(ui: &mut Ui, document: &mut Document, column: SortColumn, title: &str) {
    let arrow = match document.consumers.sort {
        Some((sorted, false)) if sorted == column => " ⏶",
        Some((sorted, true)) if sorted == column => " ⏷",
        _ => "",
    };
    let button = egui::Button::new(RichText::new(format!("{title}{arrow}")).strong()).frame(false);
    if ui
        .add(button)
        .on_hover_text(format!("Sort by {title}"))
        .clicked()
    {
        document.consumers.sort = match document.consumers.sort {
            Some((sorted, false)) if sorted == column => Some((column, true)),
            Some((sorted, true)) if sorted == column => None,
            _ => Some((column, false)),
        };
    }
}

fn table_ui(
    ui: &mut Ui,
    document: &mut Document,
    backup: &Backup,
    statuses: Option<&Vec<ConsumerStatus>>,
    commands: &mut Vec<Command>,
) {
    let row_height = ui.text_style_height(&egui::TextStyle::Body) + 4.0;
    let order = display_order(document, backup, statuses);
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
        .columns(Column::auto().at_least(56.0), 6)
        .column(Column::remainder())
        .header(row_height, |mut header| {
            for (column, title) in COLUMNS {
                header.col(|ui| header_ui(ui, document, column, title));
            }
        })
        .body(|body| {
            body.rows(row_height, order.len(), |mut row| {
                let Some(&index) = order.get(row.index()) else {
                    return;
                };
                let Some(consumer) = backup.consumers.get(index) else {
                    return;
                };
                let status = statuses.and_then(|list| list.get(index));
                let is_selected = document.consumers.selected == Some(index);
                row.set_selected(is_selected);
                let mut clicked = false;
                row.col(|ui| {
                    let mut name = RichText::new(&consumer.name).monospace();
                    if !consumer.config_read() {
                        name = name.color(widgets::error_color(ui));
                    }
                    let response = ui.selectable_label(is_selected, name);
                    clicked |= if consumer.config_read() {
                        response
                    } else {
                        response.on_hover_text(unreadable_text(consumer))
                    }
                    .clicked();
                });
                if consumer.config_read() {
                    describe_cells(&mut row, consumer);
                    counts_cells(&mut row, consumer, status, commands);
                } else {
                    unreadable_cells(&mut row, consumer);
                }
                if clicked || row.response().clicked() {
                    document.consumers.selected = Some(index);
                }
            });
        });
}

fn describe_cells(row: &mut egui_extras::TableRow, consumer: &ConsumerInfo) {
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
}

fn counts_cells(
    row: &mut egui_extras::TableRow,
    consumer: &ConsumerInfo,
    status: Option<&ConsumerStatus>,
    commands: &mut Vec<Command>,
) {
    // The status has the start rules applied when the archive holds no state.
    let (delivered, ack_floor) = match status {
        Some(status) => (status.delivered, status.ack_floor),
        None => (consumer.state.delivered, consumer.state.ack_floor),
    };
    let recorded = status.is_none_or(|status| status.state_recorded);
    for value in [delivered.stream_seq, ack_floor.stream_seq] {
        row.col(|ui| {
            if recorded {
                widgets::mono(ui, value.to_string());
            } else {
                ui.label(
                    RichText::new(value.to_string())
                        .monospace()
                        .color(widgets::warn_color(ui)),
                )
                .on_hover_text("The archive holds no readable state for this consumer: the server's start rules for a new consumer");
            }
        });
    }
    let Some(status) = status else {
        for _ in 0..4 {
            row.col(|ui| {
                widgets::weak(ui, "…");
            });
        }
        row.col(|_| {});
        return;
    };
    row.col(|ui| {
        let text = widgets::count(status.num_pending);
        match status.first_owed_seq {
            Some(seq) => {
                if ui
                    .link(RichText::new(text).monospace())
                    .on_hover_text(owed_hover(status, seq))
                    .clicked()
                {
                    commands.push(Command::GoToSeq(seq));
                }
            }
            None => {
                widgets::mono(ui, text);
            }
        }
    });
    for value in [status.num_ack_pending, status.num_redelivered] {
        row.col(|ui| {
            widgets::mono(ui, widgets::count(value));
        });
    }
    row.col(|ui| {
        if status.paused {
            ui.label(
                RichText::new(format!(
                    "paused, {} left",
                    remaining(status.pause_remaining_ns)
                ))
                .color(widgets::warn_color(ui)),
            );
        } else {
            widgets::weak(ui, "–");
        }
    });
    row.col(|_| {});
}

fn owed_hover(status: &ConsumerStatus, seq: u64) -> String {
    let mut text = format!("Show seq {seq}, the first message this consumer still owes");
    if let Some(next) = status.first_pending_seq.filter(|&next| next != seq) {
        text.push_str(&format!(
            " (oldest unacknowledged; the next one it would deliver is seq {next})"
        ));
    }
    text
}

/// A pause's time left: "5m", "3d 4h", "73y".
fn remaining(ns: i64) -> String {
    const DAY: i64 = 86_400;
    let seconds = ns / 1_000_000_000;
    if seconds >= 365 * DAY {
        format!("{}y", seconds / (365 * DAY))
    } else if seconds >= DAY {
        format!("{}d {}h", seconds / DAY, (seconds % DAY) / 3600)
    } else {
        widgets::duration_seconds(seconds)
    }
}

fn detail_ui(
    ui: &mut Ui,
    document: &mut Document,
    backup: &Backup,
    (index, consumer, status): (usize, &ConsumerInfo, Option<&ConsumerStatus>),
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
    if !consumer.config_read() {
        ui.label(RichText::new(unreadable_text(consumer)).color(widgets::error_color(ui)));
        if !consumer.state_read {
            widgets::weak(ui, "Its state cannot be read either.");
            return;
        }
    }
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
    if let Some(status) = status.filter(|_| consumer.config_read()) {
        status_ui(ui, status, commands);
        if status.num_pending > 0
            && ui
                .button(format!(
                    "Show the {} undelivered in Messages",
                    widgets::count(status.num_pending)
                ))
                .on_hover_text(
                    "Filter the Messages pane to its subjects from the next sequence it delivers",
                )
                .clicked()
        {
            show_undelivered(document, consumer, status);
        }
    }
    position_bar_ui(ui, backup, consumer);
    ui.columns(2, |columns| {
        if let Some(ui) = columns.get_mut(0) {
            pending_list_ui(ui, consumer, commands);
        }
        if let Some(ui) = columns.get_mut(1) {
            config_ui(ui, document, index, consumer, commands);
        }
    });
}

/// The CONSUMER.INFO counts and the jumps to the messages the consumer owes.
fn status_ui(ui: &mut Ui, status: &ConsumerStatus, commands: &mut Vec<Command>) {
    ui.horizontal_wrapped(|ui| {
        widgets::mono(
            ui,
            format!(
                "num_pending {} · num_ack_pending {} · num_redelivered {}",
                widgets::count(status.num_pending),
                widgets::count(status.num_ack_pending),
                widgets::count(status.num_redelivered)
            ),
        );
        if status.paused {
            ui.label(
                RichText::new(format!(
                    "paused at the snapshot, {} left",
                    remaining(status.pause_remaining_ns)
                ))
                .color(widgets::warn_color(ui)),
            );
        }
        if !status.priority_groups.is_empty() {
            widgets::mono(
                ui,
                format!("priority groups: {}", status.priority_groups.join(", ")),
            );
        }
    });
    if !status.num_pending_exact {
        widgets::weak(
            ui,
            format!(
                "last_per_subject without a creation time: num_pending as the server reports it after a restore ({})",
                status.num_pending_after_restore
            ),
        );
    }
    if !status.state_recorded {
        ui.label(
            RichText::new("The archive holds no state for this consumer: positions follow the server's start rules for a new consumer.")
                .color(widgets::warn_color(ui)),
        );
    }
    ui.horizontal(|ui| {
        if let Some(seq) = status.first_owed_seq {
            if ui
                .button(format!("Jump to first pending message (seq {seq})"))
                .on_hover_text(owed_hover(status, seq))
                .clicked()
            {
                commands.push(Command::GoToSeq(seq));
            }
        }
        if let Some(next) = status.first_pending_seq {
            if status.first_owed_seq != Some(next)
                && ui.button(format!("Next to deliver (seq {next})")).clicked()
            {
                commands.push(Command::GoToSeq(next));
            }
        }
        if status.first_owed_seq.is_none() {
            widgets::weak(ui, "Nothing pending: the consumer is caught up.");
        }
    });
}

/// Filters the Messages pane to what the consumer has not been delivered yet.
fn show_undelivered(document: &mut Document, consumer: &ConsumerInfo, status: &ConsumerStatus) {
    let spec = &mut document.messages.spec;
    *spec = Default::default();
    spec.subject_include = consumer.filter_subjects().join(", ");
    spec.seq_from = status.next_seq.to_string();
    document.pane = super::document::Pane::Messages;
}

fn pending_list_ui(ui: &mut Ui, consumer: &ConsumerInfo, commands: &mut Vec<Command>) {
    let state = &consumer.state;
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
                        .link(RichText::new(format!("seq {}", entry.stream_seq)).monospace())
                        .on_hover_text("Show this message")
                        .clicked()
                    {
                        commands.push(Command::GoToSeq(entry.stream_seq));
                    }
                    widgets::mono(
                        ui,
                        format!(
                            "consumer_seq {} · delivered {}",
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

fn config_ui(
    ui: &mut Ui,
    document: &mut Document,
    index: usize,
    consumer: &ConsumerInfo,
    commands: &mut Vec<Command>,
) {
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
        ui.selectable_value(&mut document.consumers.raw_config, false, "Tree");
        ui.selectable_value(&mut document.consumers.raw_config, true, "Raw JSON");
        if ui.small_button("Copy config JSON").clicked() {
            ui.ctx().copy_text(text.clone());
            commands.push(Command::Notice("config JSON copied".into()));
        }
    });
    egui::ScrollArea::both()
        .id_salt("consumer_config")
        .auto_shrink([false, false])
        .show(ui, |ui| {
            if document.consumers.raw_config {
                ui.add(
                    egui::TextEdit::multiline(&mut text.as_str())
                        .code_editor()
                        .desired_width(f32::INFINITY),
                );
            } else if let Value::Object(object) = &consumer.config {
                // Top-level duration fields, by JSON name (`backoff[i]` → `backoff`).
                let durations: Vec<String> = consumer
                    .typed
                    .durations()
                    .into_iter()
                    .map(|(key, _)| key.split('[').next().unwrap_or_default().to_string())
                    .collect();
                for (key, value) in object {
                    let duration = durations.iter().any(|name| name == key);
                    tree_ui(ui, (key, duration), value, key);
                }
            } else {
                widgets::mono(ui, text);
            }
        });
}

/// One config value: objects and arrays of objects as collapsible branches, the rest on one line.
fn tree_ui(ui: &mut Ui, (key, duration): (&str, bool), value: &Value, path: &str) {
    let branch = match value {
        Value::Object(object) => !object.is_empty(),
        Value::Array(items) => items.iter().any(|item| item.is_object() || item.is_array()),
        _ => false,
    };
    if !branch {
        ui.horizontal_wrapped(|ui| {
            ui.label(RichText::new(format!("{key}:")).monospace().weak());
            widgets::mono(ui, leaf_text(value, duration));
        });
        return;
    }
    egui::CollapsingHeader::new(RichText::new(key).monospace())
        .id_salt(("consumer_config_tree", path))
        .default_open(true)
        .show(ui, |ui| match value {
            Value::Object(object) => {
                for (child, value) in object {
                    tree_ui(ui, (child, false), value, &format!("{path}.{child}"));
                }
            }
            Value::Array(items) => {
                for (position, item) in items.iter().enumerate() {
                    let child = position.to_string();
                    tree_ui(ui, (&child, false), item, &format!("{path}.{child}"));
                }
            }
            _ => {}
        });
}

/// A leaf's text: durations (ns) as "30s", "5m", lists inline.
fn leaf_text(value: &Value, duration: bool) -> String {
    let scalar = |value: &Value| match (value, duration) {
        (Value::Number(number), true) => match number.as_i64() {
            Some(ns) => Nanos(ns).to_string(),
            None => number.to_string(),
        },
        (Value::String(text), _) => text.clone(),
        (other, _) => other.to_string(),
    };
    match value {
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(scalar).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(_) => "{}".to_string(),
        other => scalar(other),
    }
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

/// Messages detail: which consumers have `seq` pending an ack, have not been
/// delivered it yet, or are past it.
pub fn message_consumers_ui(ui: &mut Ui, document: &mut Document, seq: u64, subject: &str) {
    let Some(backup) = document.backup.clone() else {
        return;
    };
    if backup.consumers.is_empty() {
        return;
    }
    let Some(statuses) = statuses(document) else {
        return;
    };
    let mut groups: [(MessageStanding, &str, Vec<&str>); 3] = [
        (MessageStanding::AckPending, "ack pending", Vec::new()),
        (
            MessageStanding::NotDelivered,
            "not yet delivered",
            Vec::new(),
        ),
        (MessageStanding::Past, "past it", Vec::new()),
    ];
    let mut unknown: Vec<&str> = Vec::new();
    for (consumer, status) in backup.consumers.iter().zip(statuses.iter()) {
        if !consumer.config_read() {
            // Its filters are not known.
            unknown.push(&consumer.name);
            continue;
        }
        let standing = consumer_state::standing(consumer, status, seq, subject);
        if let Some(group) = groups.iter_mut().find(|group| group.0 == standing) {
            group.2.push(&consumer.name);
        }
    }
    ui.horizontal_wrapped(|ui| {
        ui.label(RichText::new("Consumers").strong());
        if unknown.is_empty() && groups.iter().all(|group| group.2.is_empty()) {
            widgets::weak(ui, "none of the consumers' filters select this subject");
        }
        for (_, label, names) in &groups {
            if names.is_empty() {
                continue;
            }
            widgets::weak(ui, format!("{label}:"));
            widgets::mono(ui, names.join(", "));
            ui.add_space(6.0);
        }
        if !unknown.is_empty() {
            ui.label(
                RichText::new("not known (config unreadable):").color(widgets::error_color(ui)),
            );
            widgets::mono(ui, unknown.join(", "));
        }
    });
}
