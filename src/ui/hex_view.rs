//! A hex dump of a whole stored message (header block, then payload) that
//! highlights a byte range — the "linked pane" of the detail: choosing a
//! header line or a JSON field marks its bytes here. Virtualized by line.

use egui::text::LayoutJob;
use egui::{Color32, FontId, TextFormat, Ui};
use std::ops::Range;

const PER_LINE: usize = 16;

/// The offset written at the start of each line.
fn offset_text(offset: usize) -> String {
    format!("{offset:08x}  ")
}

fn line_job(
    bytes: &[u8],
    line: usize,
    header_len: usize,
    highlight: Option<&Range<usize>>,
    colors: &Colors,
    font: &FontId,
) -> LayoutJob {
    let mut job = LayoutJob::default();
    let plain = |color: Color32| TextFormat {
        font_id: font.clone(),
        color,
        ..Default::default()
    };
    let start = line * PER_LINE;
    job.append(&offset_text(start), 0.0, plain(colors.weak));
    let end = (start + PER_LINE).min(bytes.len());
    let format_of = |index: usize| {
        let mut format = plain(if index < header_len {
            colors.header
        } else {
            colors.text
        });
        if highlight.is_some_and(|range| range.contains(&index)) {
            format.background = colors.highlight;
            format.color = colors.highlight_text;
        }
        format
    };
    for index in start..start + PER_LINE {
        let separator = if index % PER_LINE == 7 { "  " } else { " " };
        match bytes.get(index) {
            Some(byte) if index < end => {
                job.append(&format!("{byte:02x}"), 0.0, format_of(index));
                job.append(separator, 0.0, plain(colors.text));
            }
            _ => job.append(&format!("  {separator}"), 0.0, plain(colors.text)),
        }
    }
    job.append(" ", 0.0, plain(colors.text));
    for index in start..end {
        let byte = bytes.get(index).copied().unwrap_or(b'.');
        let shown = if byte.is_ascii_graphic() || byte == b' ' {
            byte as char
        } else {
            '.'
        };
        job.append(&shown.to_string(), 0.0, format_of(index));
    }
    job
}

struct Colors {
    text: Color32,
    weak: Color32,
    header: Color32,
    highlight: Color32,
    highlight_text: Color32,
}

/// The byte under character column `column` of a line (hex or ASCII part).
pub fn byte_at_column(column: usize) -> Option<usize> {
    const HEX_START: usize = 10;
    const HEX_END: usize = HEX_START + PER_LINE * 3 + 1;
    const ASCII_START: usize = HEX_END + 1;
    match column {
        c if (HEX_START..HEX_END).contains(&c) => {
            let inner = c - HEX_START;
            // One extra space after the eighth byte.
            let inner = if inner >= 8 * 3 { inner - 1 } else { inner };
            Some((inner / 3).min(PER_LINE - 1))
        }
        c if (ASCII_START..ASCII_START + PER_LINE).contains(&c) => Some(c - ASCII_START),
        _ => None,
    }
}

/// Draws `bytes` (the first `header_len` of them are the header block, tinted)
/// with `highlight` marked. `scroll_to_highlight` scrolls its first line into view.
/// Returns the offset of a byte the user clicked.
pub fn hex_view(
    ui: &mut Ui,
    id: &str,
    bytes: &[u8],
    header_len: usize,
    highlight: Option<Range<usize>>,
    scroll_to_highlight: bool,
) -> Option<usize> {
    let font = egui::TextStyle::Monospace.resolve(ui.style());
    let row_height = ui.fonts_mut(|fonts| fonts.row_height(&font));
    let char_width = ui.fonts_mut(|fonts| fonts.glyph_width(&font, '0')).max(1.0);
    let mut clicked = None;
    let visuals = ui.visuals();
    let colors = Colors {
        text: visuals.text_color(),
        weak: visuals.weak_text_color(),
        header: if visuals.dark_mode {
            Color32::from_rgb(140, 190, 255)
        } else {
            Color32::from_rgb(20, 80, 170)
        },
        highlight: visuals.selection.bg_fill,
        highlight_text: visuals.selection.stroke.color,
    };
    let lines = bytes.len().div_ceil(PER_LINE);
    let mut area = egui::ScrollArea::both()
        .id_salt(id)
        .auto_shrink([false, false]);
    if scroll_to_highlight {
        if let Some(range) = &highlight {
            let line = range.start / PER_LINE;
            let spacing = ui.spacing().item_spacing.y;
            area = area
                .vertical_scroll_offset(((line as f32) - 2.0).max(0.0) * (row_height + spacing));
        }
    }
    area.show_rows(ui, row_height, lines, |ui, visible| {
        for line in visible {
            let job = line_job(bytes, line, header_len, highlight.as_ref(), &colors, &font);
            let response = ui.add(
                egui::Label::new(job)
                    .extend()
                    .selectable(false)
                    .sense(egui::Sense::click()),
            );
            if let Some(position) = response
                .interact_pointer_pos()
                .filter(|_| response.clicked())
            {
                let column = ((position.x - response.rect.min.x) / char_width) as usize;
                clicked = byte_at_column(column)
                    .map(|index| line * PER_LINE + index)
                    .filter(|offset| *offset < bytes.len());
            }
        }
    });
    clicked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_map_to_bytes() {
        // "00000000  00 01 02 03 04 05 06 07  08 … 0f  ascii"
        assert_eq!(byte_at_column(10), Some(0));
        assert_eq!(byte_at_column(12), Some(0));
        assert_eq!(byte_at_column(13), Some(1));
        assert_eq!(byte_at_column(35), Some(8));
        assert_eq!(byte_at_column(58), Some(15));
        assert_eq!(byte_at_column(59), None);
        assert_eq!(byte_at_column(60), Some(0));
        assert_eq!(byte_at_column(75), Some(15));
        assert_eq!(byte_at_column(3), None);
    }

    #[test]
    fn highlighted_bytes_get_a_background() {
        let colors = Colors {
            text: Color32::WHITE,
            weak: Color32::GRAY,
            header: Color32::BLUE,
            highlight: Color32::RED,
            highlight_text: Color32::BLACK,
        };
        let bytes: Vec<u8> = (0u8..20).collect();
        let job = line_job(
            &bytes,
            0,
            4,
            Some(&(2..3)),
            &colors,
            &FontId::monospace(12.0),
        );
        let marked: Vec<&str> = job
            .sections
            .iter()
            .filter(|section| section.format.background == Color32::RED)
            .map(|section| &job.text[section.byte_range.start.0..section.byte_range.end.0])
            .collect();
        assert_eq!(marked, vec!["02", "."]);
        assert!(job.text.starts_with("00000000  00 01 02"));
    }
}
