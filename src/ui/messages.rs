//! Messages pane: the filter row (`ui::filter`), a virtualized table of the display list
//! (messages and deleted gaps) and the selected message's detail.

use super::command::Command;
use super::document::Document;
use super::{message_detail, messages_table, widgets};
use egui::Ui;

pub const FILTER_SUBJECT_ID: &str = "filter_subject";
pub const GOTO_SEQ_ID: &str = "goto_seq";

pub fn messages_ui(ui: &mut Ui, document: &mut Document, commands: &mut Vec<Command>) {
    let Some(backup) = document.backup.clone() else {
        widgets::weak(ui, "Reading…");
        return;
    };
    super::widgets::ttl_banner_ui(ui, document);
    super::filter::filter_ui(ui, document, &backup, commands);
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
