//! Messages pane: the filter row, a virtualized table of the display list
//! (messages and deleted gaps) and the selected message's detail.

use super::command::Command;
use super::document::Document;
use super::{message_detail, messages_table, widgets};
use crate::model::Backup;
use egui::{RichText, Ui};

pub const FILTER_SUBJECT_ID: &str = "filter_subject";
pub const GOTO_SEQ_ID: &str = "goto_seq";

pub fn messages_ui(ui: &mut Ui, document: &mut Document, commands: &mut Vec<Command>) {
    let Some(backup) = document.backup.clone() else {
        widgets::weak(ui, "Reading…");
        return;
    };
    super::widgets::ttl_banner_ui(ui, document);
    filter_ui(ui, document, &backup, commands);
    let primary = document.messages.selected_row;
    let display = document.messages.display.clone();
    let browse = &mut document.messages.browse;
    browse.follow_primary(primary);
    browse.poll_jobs(&backup, &display, ui.ctx());
    for notice in browse.notices.drain(..) {
        commands.push(Command::Notice(notice));
    }
    messages_table::toolbar_ui(ui, document, &backup);
    messages_table::export_bar_ui(ui, document, &backup);
    ui.separator();
    // Fixed heights: the detail never grows over the table, whatever the message.
    let mut fraction = document.messages.browse.split_fraction;
    let cell = std::cell::RefCell::new((document, commands));
    let (table_rect, detail_rect) = message_detail::split(
        ui,
        &mut fraction,
        |ui| {
            let (document, commands) = &mut *cell.borrow_mut();
            messages_table::table_ui(ui, document, &backup, commands);
        },
        |ui| {
            let (document, commands) = &mut *cell.borrow_mut();
            message_detail::detail_ui(ui, document, &backup, commands);
        },
    );
    let (document, _) = cell.into_inner();
    let browse = &mut document.messages.browse;
    browse.split_fraction = fraction;
    browse.table_rect = table_rect;
    browse.detail_rect = detail_rect;
    messages_table::keyboard_navigation(ui, document);
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
    });
    ui.horizontal_wrapped(|ui| {
        labelled_edit(ui, "header", &mut spec.header, 130.0, None)
            .on_hover_text("Name (present) or Name:value");
        labelled_edit(ui, "payload", &mut spec.payload, 130.0, None);
        ui.checkbox(&mut spec.payload_regex, "regex");
        ui.checkbox(&mut spec.only_expired, "only expired");
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
        if let Some(error) = &document.messages.filter_error {
            ui.label(RichText::new(error).color(widgets::error_color(ui)));
        }
        if document.is_indexing() {
            widgets::weak(ui, "(first rows while indexing)");
        }
    });
}
