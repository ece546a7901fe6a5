//! The selected message's detail: a summary line, invisible-character notes on
//! the subject, headers as a table (raw block one click away), and the payload
//! as text, a collapsible JSON tree or hex — with the hex view linked: a chosen
//! header line or JSON field is highlighted in the bytes. Also [`split`], the
//! fixed table/detail split that keeps the detail from ever covering the table.

use super::command::Command;
use super::document::{Document, PayloadMode};
use super::hex_view::hex_view;
use super::widgets;
use super::workers::MessageView;
use crate::model::Backup;
use crate::ops::payload_view::{Analysis, JsonKind, Viewer};
use egui::{Rect, RichText, Ui};
use std::collections::HashSet;
use std::ops::Range;

/// What the detail remembers for the message shown.
#[derive(Debug, Default)]
pub struct DetailState {
    seq: Option<u64>,
    pub raw_headers: bool,
    pub selected_header: Option<usize>,
    pub selected_node: Option<usize>,
    pub collapsed: HashSet<usize>,
    /// Show the hex dump beside the text / JSON view.
    pub linked_hex: Option<bool>,
    scroll_hex: bool,
    /// Scroll the header table / JSON tree to the choice (made in the hex view or by name).
    scroll_choice: bool,
}

impl DetailState {
    fn follow(&mut self, seq: u64) {
        if self.seq != Some(seq) {
            let linked = self.linked_hex;
            let raw = self.raw_headers;
            *self = DetailState {
                seq: Some(seq),
                linked_hex: linked,
                raw_headers: raw,
                ..Default::default()
            };
        }
    }

    /// Chooses the innermost JSON field or the header line holding byte `offset`
    /// (of header block + payload), as a click in the hex view asks.
    fn choose_byte(&mut self, analysis: &Analysis, header_len: usize, offset: usize) {
        self.selected_node = None;
        self.selected_header = None;
        self.scroll_choice = true;
        if offset < header_len {
            self.selected_header = analysis
                .header_lines
                .iter()
                .position(|line| line.span.contains(&offset));
            return;
        }
        let payload_offset = offset - header_len;
        // Pre-order: the last node containing the byte is the innermost.
        self.selected_node = analysis
            .json
            .iter()
            .enumerate()
            .rev()
            .find(|(_, node)| node.span.contains(&payload_offset))
            .map(|(index, _)| index);
    }

    /// The sequence whose detail was last drawn (a choice made before that is reset).
    pub fn shown_seq(&self) -> Option<u64> {
        self.seq
    }

    /// Chooses the first header line named `name` (ASCII case-insensitive), as
    /// a click on it would. False when the message has no such header.
    pub fn choose_header_named(&mut self, analysis: &Analysis, name: &str) -> bool {
        let Some(index) = analysis
            .header_lines
            .iter()
            .position(|line| line.name.eq_ignore_ascii_case(name))
        else {
            return false;
        };
        self.selected_header = Some(index);
        self.selected_node = None;
        self.scroll_hex = true;
        self.scroll_choice = true;
        true
    }

    /// Chooses the first JSON member whose key is `key` (depth-first, as the
    /// tree lists them), as a click on it would. False when there is none.
    pub fn choose_field_named(&mut self, analysis: &Analysis, key: &str) -> bool {
        let Some(index) = analysis
            .json
            .iter()
            .position(|node| node.key.as_deref() == Some(key))
        else {
            return false;
        };
        self.selected_node = Some(index);
        self.selected_header = None;
        self.scroll_hex = true;
        self.scroll_choice = true;
        true
    }

    /// The byte range (in header block + payload) of what is chosen.
    fn highlight(&self, analysis: &Analysis, header_len: usize) -> Option<Range<usize>> {
        if let Some(node) = self
            .selected_node
            .and_then(|index| analysis.json.get(index))
        {
            return Some(node.span.start + header_len..node.span.end + header_len);
        }
        self.selected_header
            .and_then(|index| analysis.header_lines.get(index))
            .map(|line| line.span.clone())
    }
}

const SPLIT_HANDLE: f32 = 6.0;

/// Splits the space left in `ui` into a table part and a detail part of fixed
/// heights (the user drags the handle between them). Each part is drawn in its
/// own clipped child, so nothing in the detail can grow over the table.
pub fn split(
    ui: &mut Ui,
    fraction: &mut f32,
    top: impl FnOnce(&mut Ui),
    bottom: impl FnOnce(&mut Ui),
) -> (Rect, Rect) {
    let area = ui.available_rect_before_wrap();
    let total = area.height().max(0.0);
    let min_part = (total * 0.2).min(120.0);
    let top_height =
        (total * *fraction).clamp(min_part, (total - min_part - SPLIT_HANDLE).max(min_part));
    let top_rect = Rect::from_min_size(area.min, egui::vec2(area.width(), top_height));
    let handle_rect = Rect::from_min_size(
        egui::pos2(area.min.x, top_rect.max.y),
        egui::vec2(area.width(), SPLIT_HANDLE),
    );
    let bottom_rect = Rect::from_min_max(egui::pos2(area.min.x, handle_rect.max.y), area.max);
    let handle = ui
        .interact(
            handle_rect,
            ui.scope_id().with("detail_split"),
            egui::Sense::drag(),
        )
        .on_hover_cursor(egui::CursorIcon::ResizeVertical);
    if handle.dragged() && total > 0.0 {
        *fraction = ((top_height + handle.drag_delta().y) / total).clamp(0.15, 0.85);
    }
    let stroke = if handle.hovered() || handle.dragged() {
        ui.visuals().widgets.hovered.fg_stroke
    } else {
        ui.visuals().widgets.noninteractive.bg_stroke
    };
    ui.painter()
        .hline(area.x_range(), handle_rect.center().y, stroke);
    let mut child = |rect: Rect, draw: &mut dyn FnMut(&mut Ui)| {
        let mut child_ui = ui.new_child(
            egui::UiBuilder::new()
                .max_rect(rect)
                .layout(egui::Layout::top_down(egui::Align::Min)),
        );
        child_ui.set_clip_rect(rect.intersect(ui.clip_rect()));
        draw(&mut child_ui);
    };
    let mut top = Some(top);
    child(top_rect, &mut |ui| {
        if let Some(top) = top.take() {
            top(ui);
        }
    });
    let mut bottom = Some(bottom);
    child(bottom_rect, &mut |ui| {
        if let Some(bottom) = bottom.take() {
            bottom(ui);
        }
    });
    ui.allocate_rect(area, egui::Sense::hover());
    (top_rect, bottom_rect)
}

pub fn detail_ui(
    ui: &mut Ui,
    document: &mut Document,
    backup: &Backup,
    commands: &mut Vec<Command>,
) {
    if document.messages.damaged.selected.is_some() {
        if let Some(backup) = document.backup.clone() {
            super::damaged_rows::damaged_detail_ui(ui, &mut document.messages.damaged, &backup);
        }
        return;
    }
    let Some(row) = document.messages.selected_row else {
        widgets::weak(
            ui,
            "Select a message (click, or arrow keys; Shift/Ctrl for several) to see its headers and payload.",
        );
        return;
    };
    let Some(message) = backup.messages.row(row) else {
        return;
    };
    let subject = backup.subjects.name(message.subject_id);
    ui.horizontal(|ui| {
        ui.label(
            RichText::new(format!("seq {}", message.seq))
                .strong()
                .monospace(),
        );
        ui.add(egui::Label::new(RichText::new(subject).monospace()).truncate());
    });
    ui.horizontal(|ui| {
        widgets::mono(ui, format!("{} UTC", widgets::time_utc(message.ts_ns)));
        widgets::weak(
            ui,
            format!(
                "· {} B headers, {} B payload · offset {}",
                message.hdr_len, message.data_len, message.offset
            ),
        );
    });
    let untrusted = document.messages.damaged.row_note(backup, row).cloned();
    if let Some(note) = &untrusted {
        super::damaged_rows::trust_note_ui(ui, note);
    }
    super::consumers::message_consumers_ui(ui, document, message.seq, subject);
    let notes = crate::util::unicode::invisible_notes(subject);
    if !notes.is_empty() {
        ui.label(
            RichText::new(format!("subject {}", notes.join("; "))).color(widgets::warn_color(ui)),
        )
        .on_hover_text(crate::util::unicode::non_ascii_code_points(subject, 24));
    }
    // Borrow the view out of the document for this frame (no per-frame copy of the bytes).
    let Some(detail) = document.messages.detail.take() else {
        ui.horizontal(|ui| {
            ui.spinner();
            widgets::weak(ui, "reading…");
        });
        return;
    };
    match &detail {
        Err(message) => {
            ui.label(RichText::new(message).color(widgets::error_color(ui)));
        }
        Ok(view) => {
            let state = &mut document.messages.browse.detail;
            state.follow(view.seq);
            headers_ui(ui, view, state);
            payload_ui(ui, document, backup, view, commands);
        }
    }
    document.messages.detail = Some(detail);
}

fn headers_ui(ui: &mut Ui, view: &MessageView, state: &mut DetailState) {
    let analysis = &view.analysis;
    ui.horizontal(|ui| {
        ui.label(RichText::new(format!("Headers ({})", analysis.header_lines.len())).strong());
        if view.header_bytes.is_empty() {
            widgets::weak(ui, "none");
            return;
        }
        ui.selectable_value(&mut state.raw_headers, false, "Table");
        ui.selectable_value(&mut state.raw_headers, true, "Raw")
            .on_hover_text("The header block as stored, CRLFs shown as ␍␊");
        if !view.status_line.is_empty() && view.status_line != "NATS/1.0" {
            widgets::mono(ui, &view.status_line);
        }
        if view.malformed_header_lines > 0 {
            ui.label(
                RichText::new(format!("{} malformed lines", view.malformed_header_lines))
                    .color(widgets::warn_color(ui)),
            );
        }
    });
    if view.header_bytes.is_empty() {
        return;
    }
    // At most a third of the detail; the rest is the payload's.
    let max_height = (ui.available_height() * 0.33).max(40.0);
    if state.raw_headers {
        let raw = String::from_utf8_lossy(&view.header_bytes).replace("\r\n", "␍␊\n");
        egui::ScrollArea::both()
            .id_salt("raw_headers")
            .max_height(max_height)
            .auto_shrink([false, true])
            .show(ui, |ui| {
                ui.add(egui::Label::new(RichText::new(raw).monospace()).extend());
            });
        return;
    }
    let row_height = ui.text_style_height(&egui::TextStyle::Monospace) + 4.0;
    let scroll_to = state
        .selected_header
        .filter(|_| state.scroll_choice)
        .map(|index| {
            state.scroll_choice = false;
            centred_offset(ui, index, row_height, max_height)
        });
    egui::ScrollArea::vertical()
        .id_salt("header_table")
        .max_height(max_height)
        .auto_shrink([false, true])
        .scroll_to_offset(scroll_to)
        .show_rows(ui, row_height, analysis.header_lines.len(), |ui, rows| {
            for index in rows {
                let Some(line) = analysis.header_lines.get(index) else {
                    continue;
                };
                let selected = state.selected_header == Some(index);
                let value: String = if line.value.chars().count() > 200 {
                    let cut: String = line.value.chars().take(200).collect();
                    format!("{cut}… ({} bytes)", line.value.len())
                } else {
                    line.value.clone()
                };
                let text = RichText::new(format!("{}: {value}", line.name)).monospace();
                let response = ui
                    .add(egui::Button::selectable(selected, text).truncate())
                    .on_hover_text(format!(
                        "bytes {}–{} of the header block; click to mark them in the hex view",
                        line.span.start, line.span.end
                    ));
                if response.clicked() {
                    state.selected_header = if selected { None } else { Some(index) };
                    state.selected_node = None;
                    state.scroll_hex = true;
                }
            }
        });
}

/// The scroll offset that puts row `index` of a `show_rows` list in the middle of `view_height`.
fn centred_offset(ui: &Ui, index: usize, row_height: f32, view_height: f32) -> f32 {
    let pitch = row_height + ui.spacing().item_spacing.y;
    (index as f32 * pitch - (view_height - pitch) / 2.0).max(0.0)
}

/// Scrolls a list to a chosen row once (`None`: where the user left it).
trait ScrollToOffset {
    fn scroll_to_offset(self, offset: Option<f32>) -> Self;
}

impl ScrollToOffset for egui::ScrollArea {
    fn scroll_to_offset(self, offset: Option<f32>) -> Self {
        match offset {
            Some(offset) => self.vertical_scroll_offset(offset),
            None => self,
        }
    }
}

fn resolve_mode(mode: PayloadMode, analysis: &Analysis) -> PayloadMode {
    match (mode, analysis.auto) {
        (PayloadMode::Auto, Some(Viewer::Json)) => PayloadMode::Json,
        (PayloadMode::Auto, Some(Viewer::Text)) => PayloadMode::Text,
        (PayloadMode::Auto, _) => PayloadMode::Hex,
        (mode, _) => mode,
    }
}

fn payload_ui(
    ui: &mut Ui,
    document: &mut Document,
    backup: &Backup,
    view: &MessageView,
    commands: &mut Vec<Command>,
) {
    let analysis = &view.analysis;
    let mut mode = document.messages.payload_mode.unwrap_or(PayloadMode::Auto);
    // Bytes not proven intact open as bytes: Auto never dresses them up as text or JSON.
    let untrusted = backup.messages.flags(view.row) & crate::model::flags::UNTRUSTED != 0;
    let resolved = if untrusted && mode == PayloadMode::Auto {
        PayloadMode::Hex
    } else {
        resolve_mode(mode, analysis)
    };
    let state = &mut document.messages.browse.detail;
    let wide = ui.available_width() >= 900.0;
    let mut linked = state.linked_hex.unwrap_or(wide);
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
        // Always drawn (disabled in Hex) so the buttons after it keep their place.
        ui.add_enabled(
            resolved != PayloadMode::Hex,
            egui::Checkbox::new(&mut linked, "bytes"),
        )
        .on_hover_text("Show the hex dump beside, linked to the header or field chosen");
        if let Some(charset) = &analysis.charset {
            widgets::weak(ui, format!("charset {charset}"));
        }
        if let Some(error) = &analysis.charset_error {
            ui.label(RichText::new(error).color(widgets::warn_color(ui)));
        }
        let (copy_text, what) = match resolved {
            PayloadMode::Hex => (super::workers::hex_dump(&view.data, 64 * 1024), "hex dump"),
            PayloadMode::Json => (
                view.pretty_json
                    .clone()
                    .unwrap_or_else(|| String::from_utf8_lossy(&view.data).into_owned()),
                "payload (pretty JSON)",
            ),
            _ => (
                analysis
                    .text
                    .clone()
                    .unwrap_or_else(|| String::from_utf8_lossy(&view.data).into_owned()),
                "payload text",
            ),
        };
        if ui.small_button("Copy").clicked() {
            ui.ctx().copy_text(copy_text);
            commands.push(Command::Notice(format!("{what} copied")));
        }
        if ui.small_button("Save raw…").clicked() {
            commands.push(Command::SaveRaw {
                suggested_name: format!("{}-{}.bin", backup.stream_name, view.seq),
                bytes: view.data.clone(),
            });
        }
    });
    if state.linked_hex.is_some() || linked != wide {
        state.linked_hex = Some(linked);
    }
    document.messages.payload_mode = Some(mode);
    let mut all_bytes = Vec::with_capacity(view.header_bytes.len() + view.data.len());
    all_bytes.extend_from_slice(&view.header_bytes);
    all_bytes.extend_from_slice(&view.data);
    let header_len = view.header_bytes.len();
    let highlight = state.highlight(analysis, header_len);
    let scroll = std::mem::take(&mut state.scroll_hex);
    if resolved == PayloadMode::Hex {
        if let Some(offset) = hex_view(ui, "payload_hex", &all_bytes, header_len, highlight, scroll)
        {
            state.choose_byte(analysis, header_len, offset);
        }
        return;
    }
    let draw_viewer = |ui: &mut Ui, state: &mut DetailState| match resolved {
        PayloadMode::Json if !analysis.json.is_empty() => json_tree_ui(ui, analysis, state),
        PayloadMode::Json => {
            widgets::weak(ui, "(not JSON)");
        }
        _ => text_ui(ui, analysis, view),
    };
    if linked {
        // The hex dump gets the width of its 16-byte lines; the viewer the rest.
        let font = egui::TextStyle::Monospace.resolve(ui.style());
        let char_width = ui.fonts_mut(|fonts| fonts.glyph_width(&font, '0'));
        let hex_width = (char_width * 78.0 + 20.0).min(ui.available_width() * 0.6);
        let height = ui.available_height();
        let down = egui::Layout::top_down(egui::Align::Min);
        ui.horizontal_top(|ui| {
            let viewer_width =
                (ui.available_width() - hex_width - ui.spacing().item_spacing.x * 2.0).max(80.0);
            ui.allocate_ui_with_layout(egui::vec2(viewer_width, height), down, |ui| {
                draw_viewer(ui, state)
            });
            ui.separator();
            ui.allocate_ui_with_layout(egui::vec2(ui.available_width(), height), down, |ui| {
                if let Some(offset) =
                    hex_view(ui, "linked_hex", &all_bytes, header_len, highlight, scroll)
                {
                    state.choose_byte(analysis, header_len, offset);
                }
            });
        });
    } else {
        draw_viewer(ui, state);
    }
}

fn text_ui(ui: &mut Ui, analysis: &Analysis, view: &MessageView) {
    const SHOWN: usize = 256 * 1024;
    let text = analysis
        .text
        .clone()
        .unwrap_or_else(|| String::from_utf8_lossy(&view.data).into_owned());
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

/// The nodes not hidden under a collapsed container, in order.
fn visible_nodes(analysis: &Analysis, collapsed: &HashSet<usize>) -> Vec<usize> {
    let mut visible = Vec::new();
    let mut index = 0;
    while let Some(node) = analysis.json.get(index) {
        visible.push(index);
        index = if collapsed.contains(&index) {
            node.end.max(index + 1)
        } else {
            index + 1
        };
    }
    visible
}

fn json_tree_ui(ui: &mut Ui, analysis: &Analysis, state: &mut DetailState) {
    if analysis.json_truncated {
        widgets::weak(
            ui,
            format!("(first {} values)", crate::ops::payload_view::MAX_NODES),
        );
    }
    let visible = visible_nodes(analysis, &state.collapsed);
    let row_height = ui.text_style_height(&egui::TextStyle::Monospace) + 4.0;
    let key_color = ui.visuals().weak_text_color();
    // A node inside a collapsed container leaves the scroll where it is.
    let scroll_to = state
        .selected_node
        .filter(|_| std::mem::take(&mut state.scroll_choice))
        .and_then(|node| visible.iter().position(|&index| index == node))
        .map(|position| centred_offset(ui, position, row_height, ui.available_height()));
    egui::ScrollArea::both()
        .id_salt("json_tree")
        .auto_shrink([false, false])
        .scroll_to_offset(scroll_to)
        .show_rows(ui, row_height, visible.len(), |ui, rows| {
            for position in rows {
                let Some(&index) = visible.get(position) else {
                    continue;
                };
                let Some(node) = analysis.json.get(index) else {
                    continue;
                };
                let line = egui::Layout::left_to_right(egui::Align::Center);
                ui.allocate_ui_with_layout(
                    egui::vec2(ui.available_width(), row_height),
                    line,
                    |ui| {
                        ui.add_space(f32::from(node.depth) * 14.0);
                        let container = matches!(node.kind, JsonKind::Object | JsonKind::Array);
                        if container && node.end > index + 1 {
                            let open = !state.collapsed.contains(&index);
                            if ui
                                .add(egui::Button::new(if open { "▾" } else { "▸" }).frame(false))
                                .on_hover_text(if open { "collapse" } else { "expand" })
                                .clicked()
                                && !state.collapsed.remove(&index)
                            {
                                state.collapsed.insert(index);
                            }
                        } else {
                            ui.add_space(14.0);
                        }
                        let mut text = egui::text::LayoutJob::default();
                        let font = egui::TextStyle::Monospace.resolve(ui.style());
                        if let Some(key) = &node.key {
                            text.append(
                                &format!("{key}: "),
                                0.0,
                                egui::TextFormat::simple(font.clone(), key_color),
                            );
                        }
                        let value = match node.kind {
                            JsonKind::String => format!("\"{}\"", node.text),
                            _ => node.text.clone(),
                        };
                        text.append(
                            &value,
                            0.0,
                            egui::TextFormat::simple(font, ui.visuals().text_color()),
                        );
                        let selected = state.selected_node == Some(index);
                        if ui
                            .add(egui::Button::selectable(selected, text))
                            .on_hover_text(format!(
                                "payload bytes {}–{}",
                                node.span.start, node.span.end
                            ))
                            .clicked()
                        {
                            state.selected_node = if selected { None } else { Some(index) };
                            state.selected_header = None;
                            state.scroll_hex = true;
                        }
                    },
                );
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::payload_view::analyze;

    #[test]
    fn choosing_by_name_highlights_that_header_or_fields_bytes() {
        let headers: &[u8] =
            b"NATS/1.0\r\nNats-Msg-Id: a1\r\nContent-Type: application/json\r\n\r\n";
        let data: &[u8] = br#"{"order":{"amount":374.23},"amount":1}"#;
        let all = [headers, data].concat();
        let analysis = analyze(headers, data);
        let mut state = DetailState::default();
        // Depth-first, as the tree lists them: the nested member comes first.
        assert!(state.choose_field_named(&analysis, "amount"));
        let range = state.highlight(&analysis, headers.len()).expect("a range");
        assert_eq!(&all[range], br#""amount":374.23"#);
        assert!(state.choose_header_named(&analysis, "content-type"));
        assert_eq!(state.selected_node, None);
        let range = state.highlight(&analysis, headers.len()).expect("a range");
        assert_eq!(&all[range], b"Content-Type: application/json");
        assert!(!state.choose_field_named(&analysis, "missing"));
        assert!(!state.choose_header_named(&analysis, "X-Missing"));
    }
}
