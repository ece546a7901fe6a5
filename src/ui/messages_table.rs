//! The Messages table: virtualized rows of the filtered (and optionally
//! sorted) set, selection (click anywhere on a row, Shift/Ctrl for several),
//! header count and chosen header-key columns, and the row context menu.
//! Sorting, header reads and key sampling run on workers (`browse_jobs`).

use super::browse_jobs::{BrowseState, Shown};
use super::command::Command;
use super::document::Document;
use super::filter::DisplayRow;
use super::widgets;
use crate::model::Backup;
use crate::ops::sort::{SortKey, SortOrder};
use egui::{RichText, Ui};
use egui_extras::{Column, TableBuilder};
use std::sync::Arc;

/// What a click or menu entry asked for (applied after the table is drawn).
enum RowAction {
    Click(u32, egui::Modifiers),
    /// A damaged record's line (an index into `backup.damaged_records`).
    ClickDamaged(u32),
    ContextOpened(u32),
    CopyJson,
    CopySubject(u32),
    CopyPayload(u32),
    FilterSubject(u32),
    Export,
}

/// A table cell text that does not take the click (the row does).
fn cell(ui: &mut Ui, text: impl Into<RichText>) -> egui::Response {
    ui.add(egui::Label::new(text.into()).selectable(false).truncate())
}

fn mono_cell(ui: &mut Ui, text: impl Into<String>) -> egui::Response {
    cell(ui, RichText::new(text.into()).monospace())
}

fn sort_header(ui: &mut Ui, title: &str, key: SortKey, sort: &mut SortOrder) {
    let arrow = if sort.key == key {
        if sort.descending {
            " ▾"
        } else {
            " ▴"
        }
    } else {
        ""
    };
    let button = egui::Button::new(RichText::new(format!("{title}{arrow}")).strong()).frame(false);
    if ui
        .add(button)
        .on_hover_text(format!("Sort by {}", key.label()))
        .clicked()
    {
        *sort = if sort.key == key {
            SortOrder {
                key,
                descending: !sort.descending,
            }
        } else {
            SortOrder {
                key,
                // Sizes and times are most often wanted largest / newest first.
                descending: matches!(key, SortKey::Size),
            }
        };
    }
}

/// The toolbar above the table: row count, sort state, columns, export.
pub fn toolbar_ui(ui: &mut Ui, document: &mut Document, backup: &Arc<Backup>) {
    let browse = &mut document.messages.browse;
    ui.horizontal(|ui| {
        let selected = browse.selection.len();
        if selected > 1 {
            widgets::weak(ui, format!("{} selected", widgets::count(selected as u64)));
        }
        if !browse.sort.is_natural() {
            widgets::weak(
                ui,
                format!(
                    "sorted by {} {}",
                    browse.sort.key.label(),
                    if browse.sort.descending {
                        "descending"
                    } else {
                        "ascending"
                    }
                ),
            );
            if browse.sort_running() {
                ui.spinner();
                widgets::weak(ui, "sorting…");
            }
            if ui.small_button("Sequence order").clicked() {
                browse.sort = SortOrder {
                    key: SortKey::Seq,
                    descending: false,
                };
            }
        }
        ui.menu_button("Columns ▾", |ui| columns_menu(ui, browse, backup));
        let export_label = if selected > 1 {
            format!("Export {selected} selected…")
        } else {
            "Export shown…".to_string()
        };
        if ui
            .button(export_label)
            .on_hover_text("NDJSON, CSV or one file per message (like nats sub --dump)")
            .clicked()
        {
            browse.export.open(selected > 1, backup);
        }
    });
}

fn columns_menu(ui: &mut Ui, browse: &mut BrowseState, backup: &Arc<Backup>) {
    ui.label(RichText::new("Header keys as columns").strong());
    browse.request_key_sample(backup, ui.ctx());
    let offered = browse.offered_keys().map(<[_]>::to_vec);
    match offered {
        None => {
            ui.horizontal(|ui| {
                ui.spinner();
                widgets::weak(ui, "reading headers…");
            });
        }
        Some(ref keys) if keys.is_empty() => {
            widgets::weak(ui, "no message in this stream has headers");
        }
        Some(keys) => {
            for (key, count) in keys.iter().take(40) {
                let mut on = browse.header_keys.contains(key);
                if ui
                    .checkbox(&mut on, format!("{key}  ({count} messages)"))
                    .on_hover_text(
                        "Counted in up to 2,000 messages with headers, spread over the stream",
                    )
                    .changed()
                {
                    browse.toggle_key(key);
                }
            }
        }
    }
    ui.separator();
    ui.horizontal(|ui| {
        let label = ui.label("key");
        ui.add(egui::TextEdit::singleline(&mut browse.new_key_text).desired_width(140.0))
            .labelled_by(label.id);
        let key = browse.new_key_text.trim().to_string();
        if ui.button("Add column").clicked() && !key.is_empty() {
            if !browse.header_keys.contains(&key) {
                browse.toggle_key(&key);
            }
            browse.new_key_text.clear();
        }
    });
}

/// What every row of one frame needs to draw itself.
struct RowContext<'a> {
    backup: &'a Backup,
    keys: &'a [String],
    reference_ns: i64,
    base_ns: i64,
    relative: bool,
    local: bool,
    primary: Option<u32>,
    selection_count: usize,
    warn: egui::Color32,
    error: egui::Color32,
    weak: egui::Color32,
}

fn build_table<'a>(ui: &'a mut Ui, relative: bool, key_columns: usize) -> TableBuilder<'a> {
    let mut table = TableBuilder::new(ui)
        .id_salt("messages_table")
        .striped(true)
        .sense(egui::Sense::click())
        .animate_scrolling(false)
        .auto_shrink([false, false])
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
        .column(Column::initial(44.0))
        .column(Column::initial(60.0))
        .column(Column::initial(56.0));
    for _ in 0..key_columns {
        table = table.column(
            Column::initial(160.0)
                .at_least(40.0)
                .resizable(true)
                .clip(true),
        );
    }
    table.column(Column::remainder().at_least(60.0).clip(true))
}

fn header_row(
    header: &mut egui_extras::TableRow<'_, '_>,
    time_title: &str,
    keys: &[String],
    sort: &mut SortOrder,
) {
    header.col(|ui| sort_header(ui, "seq", SortKey::Seq, sort));
    header.col(|ui| sort_header(ui, time_title, SortKey::Time, sort));
    header.col(|ui| sort_header(ui, "subject", SortKey::Subject, sort));
    header.col(|ui| {
        ui.label(RichText::new("hdrs").strong())
            .on_hover_text("Header lines (hover a cell for the header bytes)");
    });
    header.col(|ui| sort_header(ui, "size", SortKey::Size, sort));
    header.col(|ui| sort_header(ui, "TTL", SortKey::Ttl, sort));
    for key in keys {
        header.col(|ui| {
            ui.label(RichText::new(key).strong())
                .on_hover_text(format!("Value of header {key}"));
        });
    }
    header.col(|ui| {
        ui.label(RichText::new("flags").strong());
    });
}

/// One message line; returns what the user did on it.
fn message_row(
    row: &mut egui_extras::TableRow<'_, '_>,
    context: &RowContext<'_>,
    browse: &mut BrowseState,
    index: u32,
) -> Option<RowAction> {
    let backup = context.backup;
    let message = backup.messages.row(index as usize)?;
    let selected = browse.selection.contains(&index)
        || (browse.selection.is_empty() && context.primary == Some(index));
    row.set_selected(selected);
    let ttl = backup.messages.ttl_of(message.seq);
    let expired = ttl.is_expired(message.ts_ns, context.reference_ns);
    row.col(|ui| {
        mono_cell(ui, message.seq.to_string());
    });
    row.col(|ui| {
        let text = if context.relative {
            widgets::time_relative(message.ts_ns, context.base_ns)
        } else if context.local {
            widgets::time_local(message.ts_ns)
        } else {
            widgets::time_utc(message.ts_ns)
        };
        mono_cell(ui, text);
    });
    row.col(|ui| subject_cell(ui, backup.subjects.name(message.subject_id), context.warn));
    let cells = browse.cells.get(index, message.hdr_len);
    row.col(|ui| {
        let text = match (message.hdr_len, cells) {
            (0, _) => "0".to_string(),
            (_, Some(cells)) => cells.count.to_string(),
            (_, None) => "…".to_string(),
        };
        mono_cell(ui, text).on_hover_text(format!("{} B header block", message.hdr_len));
    });
    row.col(|ui| {
        mono_cell(
            ui,
            (u64::from(message.hdr_len) + u64::from(message.data_len)).to_string(),
        )
        .on_hover_text(format!(
            "{} B headers + {} B payload",
            message.hdr_len, message.data_len
        ));
    });
    row.col(|ui| {
        let text = RichText::new(widgets::ttl(ttl)).monospace();
        cell(
            ui,
            if expired {
                text.color(context.warn)
            } else {
                text
            },
        );
    });
    for column in 0..context.keys.len() {
        let value = cells
            .and_then(|cells| cells.values.get(column))
            .and_then(|value| value.as_deref());
        row.col(|ui| {
            if let Some(value) = value {
                mono_cell(ui, value);
            }
        });
    }
    row.col(|ui| flags_cell(ui, &message, ttl, expired, context));
    let response = row.response();
    let mut action = None;
    if response.clicked() {
        action = Some(RowAction::Click(
            index,
            response.ctx.input(|input| input.modifiers),
        ));
    }
    if response.secondary_clicked() {
        action = Some(RowAction::ContextOpened(index));
    }
    response.context_menu(|ui| {
        if let Some(chosen) = context_menu(ui, index, context.selection_count) {
            action = Some(chosen);
        }
    });
    action
}

pub fn table_ui(
    ui: &mut Ui,
    document: &mut Document,
    backup: &Arc<Backup>,
    commands: &mut Vec<Command>,
) {
    let shown = document.messages.browse.shown(&document.messages.display);
    let row_height = ui.text_style_height(&egui::TextStyle::Monospace).max(14.0) + 4.0;
    let relative = document.messages.relative_time;
    let local = document.messages.local_time;
    let local_title = format!("time (local {})", widgets::local_offset_label());
    let primary = document.messages.selected_row.map(|row| row as u32);
    let damaged_selected = document.messages.damaged.selected;
    let browse = &mut document.messages.browse;
    browse.poll(backup);
    let keys = browse.header_keys.clone();
    let context = RowContext {
        backup,
        keys: &keys,
        reference_ns: document.reference.ns(),
        base_ns: backup.messages.ts_ns.first().copied().unwrap_or(0),
        relative,
        local,
        primary,
        selection_count: browse.selection.len().max(usize::from(primary.is_some())),
        warn: widgets::warn_color(ui),
        error: widgets::error_color(ui),
        weak: ui.visuals().weak_text_color(),
    };
    let scroll_to = browse.scroll_to_shown.take().or_else(|| {
        document
            .messages
            .scroll_to
            .take()
            .map(|position| browse.translate_scroll(&shown, position, primary))
    });
    let time_title = if relative {
        "time (+first)"
    } else if local {
        local_title.as_str()
    } else {
        "time (UTC)"
    };
    let mut action: Option<RowAction> = None;
    egui::ScrollArea::horizontal()
        .id_salt("messages_table_hscroll")
        .auto_shrink([false, false])
        .show(ui, |ui| {
            let mut table = build_table(ui, relative, keys.len());
            if let Some(position) = scroll_to {
                table = table.scroll_to_row(position, Some(egui::Align::Center));
            }
            table
                .header(row_height, |mut header| {
                    header_row(&mut header, time_title, &keys, &mut browse.sort)
                })
                .body(|body| {
                    body.rows(row_height, shown.len(), |mut row| {
                        match shown.get(row.index()) {
                            Some(DisplayRow::Gap(gap)) => {
                                gap_row(&mut row, backup, gap, context.weak, keys.len())
                            }
                            Some(DisplayRow::Damaged(record)) => {
                                let selected = damaged_selected == Some(record as usize);
                                if super::damaged_rows::damaged_row(
                                    &mut row,
                                    backup,
                                    record,
                                    selected,
                                    keys.len(),
                                ) {
                                    action = Some(RowAction::ClickDamaged(record));
                                }
                            }
                            Some(DisplayRow::Lost(lost)) => {
                                super::damaged_rows::lost_row(&mut row, backup, lost, keys.len())
                            }
                            Some(DisplayRow::Message(index)) => {
                                if let Some(chosen) = message_row(&mut row, &context, browse, index)
                                {
                                    action = Some(chosen);
                                }
                            }
                            None => {}
                        }
                    });
                });
        });
    browse.cells.flush(backup, &keys, ui.ctx());
    if let Some(action) = action {
        let reference_ns = context.reference_ns;
        apply_action(
            action,
            document,
            backup,
            &shown,
            reference_ns,
            commands,
            ui.ctx(),
        );
    }
}

fn gap_row(
    row: &mut egui_extras::TableRow<'_, '_>,
    backup: &Backup,
    gap: u32,
    weak: egui::Color32,
    key_columns: usize,
) {
    let (from, to) = backup.deleted.get(gap as usize).copied().unwrap_or((0, 0));
    let deleted = to.saturating_sub(from) + 1;
    row.col(|ui| {
        let range = if from == to {
            from.to_string()
        } else {
            format!("{from}–{to}")
        };
        cell(ui, RichText::new(range).monospace().color(weak));
    });
    row.col(|ui| {
        cell(
            ui,
            RichText::new(format!("··· {} deleted ···", widgets::count(deleted))).color(weak),
        )
        .on_hover_text(format!("sequences {from}–{to} are deleted"));
    });
    for _ in 0..5 + key_columns {
        row.col(|_| {});
    }
}

fn subject_cell(ui: &mut Ui, subject: &str, warn: egui::Color32) {
    let notes = crate::util::unicode::invisible_notes(subject);
    let response = mono_cell(ui, subject);
    if notes.is_empty() {
        if !subject.is_ascii() {
            response.on_hover_text(crate::util::unicode::non_ascii_code_points(subject, 12));
        }
    } else {
        cell(ui, RichText::new("⚠").color(warn)).on_hover_text(format!(
            "{}\n{}",
            notes.join("\n"),
            crate::util::unicode::non_ascii_code_points(subject, 12)
        ));
    }
}

fn flags_cell(
    ui: &mut Ui,
    message: &crate::model::MessageRow,
    ttl: crate::model::Ttl,
    expired: bool,
    context: &RowContext<'_>,
) {
    if expired {
        if let crate::model::Ttl::Seconds(seconds) = ttl {
            let expires = message
                .ts_ns
                .saturating_add(seconds.saturating_mul(1_000_000_000));
            cell(ui, RichText::new("EXPIRED").monospace().color(context.warn)).on_hover_text(
                format!(
                    "expired at {} UTC — a restore after that drops it",
                    widgets::time_utc(expires)
                ),
            );
        }
    }
    for name in widgets::flag_names(message.flags) {
        let color = match name {
            "DAMAGED" | "BAD-TTL" => context.error,
            "SUSPECT" => context.warn,
            _ => context.weak,
        };
        let response = cell(ui, RichText::new(name).monospace().color(color));
        if name == "SUSPECT" {
            response.on_hover_text(
                "not proven intact: v2 bytes in a CRC-failed chunk or next to corrupt bytes (no per-message checksum)",
            );
        } else if name == "DAMAGED" {
            response.on_hover_text("its bytes are present but fail a check");
        }
    }
}

fn context_menu(ui: &mut Ui, row: u32, selected: usize) -> Option<RowAction> {
    let mut chosen = None;
    let json_label = if selected > 1 {
        format!("Copy {selected} rows as NDJSON")
    } else {
        "Copy row as JSON".to_string()
    };
    if ui.button(json_label).clicked() {
        chosen = Some(RowAction::CopyJson);
    }
    if ui.button("Copy subject").clicked() {
        chosen = Some(RowAction::CopySubject(row));
    }
    if ui.button("Copy payload").clicked() {
        chosen = Some(RowAction::CopyPayload(row));
    }
    ui.separator();
    if ui.button("Filter to this subject").clicked() {
        chosen = Some(RowAction::FilterSubject(row));
    }
    let export_label = if selected > 1 {
        format!("Export {selected} selected…")
    } else {
        "Export this message…".to_string()
    };
    if ui.button(export_label).clicked() {
        chosen = Some(RowAction::Export);
    }
    if chosen.is_some() {
        ui.close();
    }
    chosen
}

fn apply_action(
    action: RowAction,
    document: &mut Document,
    backup: &Arc<Backup>,
    shown: &Shown,
    reference_ns: i64,
    commands: &mut Vec<Command>,
    ctx: &egui::Context,
) {
    let browse = &mut document.messages.browse;
    match action {
        RowAction::Click(row, modifiers) => {
            browse.click(row, modifiers, shown, document.messages.selected_row);
            document.select_row(row as usize);
        }
        RowAction::ClickDamaged(record) => document.select_damaged(record as usize),
        RowAction::ContextOpened(row) => {
            if !browse.selection.contains(&row) {
                browse.click(row, egui::Modifiers::NONE, shown, None);
                document.select_row(row as usize);
            }
        }
        RowAction::CopyJson => {
            let rows = browse.selected_in_order(shown, document.messages.selected_row);
            let lines: Vec<String> = rows
                .iter()
                .filter_map(|&row| {
                    crate::ops::dump::row_json(backup, row as usize, reference_ns, None)
                })
                .map(|line| line.to_string())
                .collect();
            ctx.copy_text(lines.join("\n"));
            commands.push(Command::Notice(if lines.len() == 1 {
                "row copied as JSON".into()
            } else {
                format!("{} rows copied as NDJSON", lines.len())
            }));
        }
        RowAction::CopySubject(row) => {
            let subject = backup
                .messages
                .subject_id
                .get(row as usize)
                .map(|id| backup.subjects.name(*id).to_string())
                .unwrap_or_default();
            ctx.copy_text(subject.clone());
            commands.push(Command::Notice(format!("subject {subject} copied")));
        }
        RowAction::CopyPayload(row) => browse.copy_payload(backup, row, ctx),
        RowAction::FilterSubject(row) => {
            if let Some(id) = backup.messages.subject_id.get(row as usize) {
                commands.push(Command::FilterSubject(
                    backup.subjects.name(*id).to_string(),
                ));
            }
        }
        RowAction::Export => browse.export.open(true, backup),
    }
}

/// Up/down move the selection through the rows shown, when no text field has focus.
pub fn keyboard_navigation(ui: &mut Ui, document: &mut Document) {
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
    let shown = document.messages.browse.shown(&document.messages.display);
    let current = document
        .messages
        .selected_row
        .and_then(|row| shown.position_of(row as u32));
    let mut position = match (current, down) {
        (Some(position), true) => position + 1,
        (Some(position), false) => match position.checked_sub(1) {
            Some(previous) => previous,
            None => return,
        },
        (None, _) => 0,
    };
    loop {
        match shown.get(position) {
            Some(DisplayRow::Message(row)) => {
                document.select_row(row as usize);
                let browse = &mut document.messages.browse;
                browse.click(row, egui::Modifiers::NONE, &shown, None);
                browse.scroll_to_shown = Some(position);
                return;
            }
            // Deleted, lost and damaged-record lines are passed over (click them instead).
            Some(_) => {}
            None => return,
        }
        if down {
            position += 1;
        } else {
            match position.checked_sub(1) {
                Some(previous) => position = previous,
                None => return,
            }
        }
    }
}

/// The export bar (shown after "Export…"): scope, format, path, progress, cancel.
pub fn export_bar_ui(ui: &mut Ui, document: &mut Document, backup: &Arc<Backup>) {
    use super::browse_jobs::ExportScope;
    use crate::ops::dump::DumpFormat;
    let shown = document.messages.browse.shown(&document.messages.display);
    let primary = document.messages.selected_row;
    let reference_ns = document.reference.ns();
    let browse = &mut document.messages.browse;
    if !browse.export.visible {
        return;
    }
    // Counted each frame; the rows themselves are collected only on Write.
    let selected_count = browse.selection.len().max(usize::from(primary.is_some()));
    let selection = &browse.selection;
    let selected_rows = || super::browse_jobs::selected_in_order(selection, &shown, primary);
    let export = &mut browse.export;
    ui.horizontal_wrapped(|ui| {
        ui.label(RichText::new("Export").strong());
        ui.selectable_value(
            &mut export.scope,
            ExportScope::Selected,
            format!("selected ({selected_count})"),
        );
        ui.selectable_value(
            &mut export.scope,
            ExportScope::Shown,
            format!(
                "shown ({})",
                widgets::count(document.messages.display.message_count as u64)
            ),
        );
        ui.separator();
        for format in [
            DumpFormat::Ndjson { raw: false },
            DumpFormat::Ndjson { raw: true },
            DumpFormat::Csv,
            DumpFormat::NatsDump,
        ] {
            ui.selectable_value(&mut export.format, format, format.label());
        }
        ui.separator();
        let label = ui.label("to");
        ui.add(egui::TextEdit::singleline(&mut export.path).desired_width(260.0))
            .labelled_by(label.id);
        if ui.small_button("Choose…").clicked() && export.pick.is_none() {
            let folder = export.format == DumpFormat::NatsDump;
            export.pick = Some(super::workers::spawn_job(
                "export-dialog",
                ui.ctx(),
                move |_, _| {
                    let dialog = rfd::FileDialog::new().set_title("Export messages to");
                    Ok(if folder {
                        dialog.pick_folder()
                    } else {
                        dialog.save_file()
                    })
                },
            ));
        }
        match &export.job {
            Some(job) => {
                let (done, total) = job.progress();
                ui.add(
                    egui::ProgressBar::new(if total > 0 {
                        done as f32 / total as f32
                    } else {
                        0.0
                    })
                    .desired_width(140.0)
                    .text(format!("{done} / {total}")),
                );
                if ui.button("Cancel").clicked() {
                    job.request_cancel();
                }
            }
            None => {
                let enabled = !export.path.trim().is_empty();
                if ui
                    .add_enabled(enabled, egui::Button::new("Write"))
                    .clicked()
                {
                    let rows = match export.scope {
                        ExportScope::Selected => selected_rows(),
                        ExportScope::Shown => shown.message_rows(),
                    };
                    export.start(backup.clone(), rows, reference_ns, ui.ctx());
                }
                if ui.small_button("Close").clicked() {
                    export.visible = false;
                }
            }
        }
    });
    match &export.outcome {
        Some(Ok(message)) => {
            widgets::weak(ui, message);
        }
        Some(Err(message)) => {
            ui.label(RichText::new(message).color(widgets::error_color(ui)));
        }
        None => {}
    }
}
