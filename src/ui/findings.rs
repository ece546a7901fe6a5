//! Findings pane: what is wrong in the backup, grouped by severity and kind,
//! each with its location and a link to the evidence.

use super::command::Command;
use super::document::Document;
use super::widgets;
use crate::model::{Finding, FindingKind, Severity};
use egui::{RichText, Ui};
use std::collections::BTreeMap;

pub fn findings_ui(ui: &mut Ui, document: &mut Document, commands: &mut Vec<Command>) {
    if let Some(error) = &document.error {
        ui.label(RichText::new(error).color(widgets::error_color(ui)));
    }
    let Some(backup) = document.backup.clone() else {
        widgets::weak(ui, "Reading…");
        return;
    };
    let count_of = |severity: Severity| {
        backup
            .findings
            .iter()
            .filter(|finding| finding.severity == severity)
            .count()
    };
    ui.label(format!(
        "{} finding{} ({} error{}, {} warning{}, {} info)",
        backup.findings.len(),
        widgets::plural(backup.findings.len() as u64),
        count_of(Severity::Error),
        widgets::plural(count_of(Severity::Error) as u64),
        count_of(Severity::Warning),
        widgets::plural(count_of(Severity::Warning) as u64),
        count_of(Severity::Info)
    ));
    if backup.findings.is_empty() {
        widgets::weak(
            ui,
            "Nothing wrong found: every checksum, entry and state matched.",
        );
        return;
    }
    let mut groups: BTreeMap<(std::cmp::Reverse<Severity>, FindingKind), Vec<&Finding>> =
        BTreeMap::new();
    for finding in &backup.findings {
        groups
            .entry((std::cmp::Reverse(finding.severity), finding.kind))
            .or_default()
            .push(finding);
    }
    egui::ScrollArea::vertical()
        .auto_shrink([false, false])
        .show(ui, |ui| {
            for ((std::cmp::Reverse(severity), kind), findings) in groups {
                let color = severity_color(ui, severity);
                let title = RichText::new(format!(
                    "{} · {} ({})",
                    severity.label(),
                    kind.label(),
                    findings.len()
                ))
                .color(color)
                .strong();
                egui::CollapsingHeader::new(title)
                    .id_salt(("finding_group", severity.label(), kind))
                    .default_open(true)
                    .show(ui, |ui| {
                        for (index, finding) in findings.iter().enumerate().take(2000) {
                            finding_row_ui(ui, document, &backup, finding, index, commands);
                        }
                        if findings.len() > 2000 {
                            widgets::weak(ui, format!("… {} more", findings.len() - 2000));
                        }
                    });
            }
        });
}

fn severity_color(ui: &Ui, severity: Severity) -> egui::Color32 {
    match severity {
        Severity::Error => widgets::error_color(ui),
        Severity::Warning => widgets::warn_color(ui),
        Severity::Info => ui.visuals().weak_text_color(),
    }
}

fn finding_row_ui(
    ui: &mut Ui,
    document: &mut Document,
    backup: &crate::model::Backup,
    finding: &Finding,
    index: usize,
    commands: &mut Vec<Command>,
) {
    let icon = match finding.severity {
        Severity::Error => "ERR ",
        Severity::Warning => "WARN",
        Severity::Info => "INFO",
    };
    ui.horizontal_wrapped(|ui| {
        ui.label(
            RichText::new(icon)
                .monospace()
                .strong()
                .color(severity_color(ui, finding.severity)),
        );
        // The message itself is the link to the evidence (same as "show").
        let message = ui
            .add(egui::Label::new(&finding.message).sense(egui::Sense::click()))
            .on_hover_cursor(egui::CursorIcon::PointingHand);
        if message.clicked() {
            if let Some(seq) = finding.seq {
                commands.push(Command::GoToSeq(seq));
            } else if let Some(entry) = &finding.entry {
                let open = document.expanded_entry.as_deref() == Some(entry.as_str());
                document.expanded_entry = if open { None } else { Some(entry.clone()) };
            }
        }
        let location = finding.location();
        if !location.is_empty() {
            widgets::weak(ui, location);
        }
        if let Some(seq) = finding.seq {
            if ui
                .small_button("show")
                .on_hover_text(format!("Select seq {seq} in Messages"))
                .clicked()
            {
                commands.push(Command::GoToSeq(seq));
            }
        } else if let Some(entry) = &finding.entry {
            let open = document.expanded_entry.as_deref() == Some(entry.as_str());
            if ui
                .small_button(if open { "hide entry" } else { "show entry" })
                .on_hover_text("Where this entry sits in the archive")
                .clicked()
            {
                document.expanded_entry = if open { None } else { Some(entry.clone()) };
            }
        }
        let _ = index;
    });
    if let Some(entry) = &finding.entry {
        if finding.seq.is_none() && document.expanded_entry.as_deref() == Some(entry.as_str()) {
            match backup.entries.iter().find(|info| &info.name == entry) {
                Some(info) => widgets::mono(
                    ui,
                    format!(
                        "    entry {}: header at {}, data at {}, {} bytes (decompressed offsets)",
                        info.name, info.header_offset, info.data_offset, info.size
                    ),
                ),
                None => widgets::weak(
                    ui,
                    format!("    entry {entry} is not in the entry list (it could not be read)"),
                ),
            };
        }
    }
}
