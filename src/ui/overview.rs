//! Overview pane: what the backup is, declared vs scanned state, config,
//! messages over time and the top subjects (click one to filter Messages).
//! Draws only: no parsing, no I/O.

use super::command::Command;
use super::document::Document;
use super::widgets;
use super::workers::{spawn_job, Job};
use crate::model::{Backup, Nanos, StreamState};
use crate::ops::predict::{Outcome, RestorePrediction as ServerRestore};
use crate::ops::restore_prediction::{predict, RestorePrediction};
use egui::{RichText, Ui};
use serde_json::Value;
use std::sync::Arc;

/// While the reference follows the clock, the prediction is redone this often.
const PREDICTION_EVERY_NS: i64 = 10_000_000_000;

/// What a restore would leave (restore_prediction), computed on a worker: it
/// walks every row and copies the model when something is dropped.
#[derive(Default)]
pub struct PredictionCache {
    /// (backup, reference key) of `last` or of the running job.
    key: Option<(usize, i64)>,
    job: Option<Job<RestorePrediction>>,
    last: Option<Result<RestorePrediction, String>>,
}

impl PredictionCache {
    /// The latest prediction (the previous one while a new one is computed).
    pub fn get(
        &mut self,
        backup: &Arc<Backup>,
        reference_ns: i64,
        follows_clock: bool,
        ctx: &egui::Context,
    ) -> Option<&Result<RestorePrediction, String>> {
        super::dialog::poll_job(&mut self.job, &mut self.last);
        let key_ns = if follows_clock {
            reference_ns / PREDICTION_EVERY_NS
        } else {
            reference_ns
        };
        let key = (Arc::as_ptr(backup) as usize, key_ns);
        if self.job.is_none() && self.key != Some(key) {
            self.key = Some(key);
            let backup = backup.clone();
            self.job = Some(spawn_job("restore-prediction", ctx, move |_, _| {
                Ok(predict(&backup, None, reference_ns))
            }));
        }
        if follows_clock {
            ctx.request_repaint_after(std::time::Duration::from_secs(10));
        }
        self.last.as_ref()
    }
}

pub fn overview_ui(ui: &mut Ui, document: &mut Document, commands: &mut Vec<Command>) {
    let Some(backup) = document.backup.clone() else {
        widgets::weak(ui, "Reading…");
        return;
    };
    super::widgets::ttl_banner_ui(ui, document);
    egui::ScrollArea::vertical()
        .auto_shrink([false, false])
        .show(ui, |ui| {
            identity_ui(ui, &backup);
            ui.add_space(6.0);
            let reference_ns = document.reference.ns();
            let follows_clock = document.reference.fixed_ns.is_none();
            let prediction = document
                .prediction
                .get(&backup, reference_ns, follows_clock, ui.ctx())
                .cloned();
            state_ui(ui, &backup, prediction.as_ref());
            let server_restore = document
                .summary
                .as_ref()
                .and_then(|summary| summary.triage.as_ref())
                .map(|triage| triage.restore.clone())
                .unwrap_or_default();
            server_restore_ui(ui, &server_restore);
            ui.add_space(6.0);
            ui.columns(2, |columns| {
                if let Some(ui) = columns.get_mut(0) {
                    config_ui(ui, &backup);
                }
                if let Some(ui) = columns.get_mut(1) {
                    plot_ui(ui, document);
                    ui.add_space(6.0);
                    subjects_ui(ui, document, commands);
                }
            });
        });
}

fn identity_ui(ui: &mut Ui, backup: &Backup) {
    ui.horizontal_wrapped(|ui| {
        ui.label(RichText::new(&backup.stream_name).strong().size(16.0));
        let format = backup.format.map(|format| format.label()).unwrap_or("?");
        widgets::mono(ui, format!("format {format}"));
        widgets::weak(ui, "·");
        widgets::mono(
            ui,
            format!(
                "{} ({})",
                backup.source.data_file.display(),
                widgets::bytes(backup.source.data_file_bytes)
            ),
        );
        if backup.complete {
            ui.label(RichText::new("complete").color(ui.visuals().weak_text_color()));
        } else {
            ui.label(RichText::new("INCOMPLETE").color(widgets::warn_color(ui)))
                .on_hover_text("The archive did not end properly or has errors: see Findings");
        }
    });
    egui::Grid::new("identity").num_columns(2).show(ui, |ui| {
        if let Some(description) = backup
            .config
            .as_ref()
            .and_then(|config| config.description.as_deref())
        {
            widgets::weak(ui, "description");
            ui.label(description);
            ui.end_row();
        }
        if let Some(created) = &backup.created {
            widgets::weak(ui, "created");
            widgets::mono(ui, created);
            ui.end_row();
        }
        if let Some(ns) = backup.snapshot_time_ns {
            widgets::weak(ui, "snapshot");
            widgets::mono(ui, format!("{} UTC", widgets::time_utc(ns)));
            ui.end_row();
        }
        widgets::weak(ui, "decompressed");
        widgets::mono(
            ui,
            format!(
                "{} in {} S2 chunk{}, {}",
                widgets::bytes(backup.decompressed_bytes),
                widgets::count(backup.chunks.len() as u64),
                widgets::plural(backup.chunks.len() as u64),
                entries_text(backup)
            ),
        );
        ui.end_row();
    });
}

type StateField = (&'static str, fn(&StreamState) -> String);

fn state_ui(ui: &mut Ui, backup: &Backup, prediction: Option<&Result<RestorePrediction, String>>) {
    ui.label(RichText::new("State").strong());
    let fields: [StateField; 9] = [
        ("messages", |s| widgets::count(s.messages)),
        ("bytes", |s| widgets::count(s.bytes)),
        ("first_seq", |s| s.first_seq.to_string()),
        ("last_seq", |s| s.last_seq.to_string()),
        ("first_ts", |s| widgets::time_utc(s.first_ts_ns)),
        ("last_ts", |s| widgets::time_utc(s.last_ts_ns)),
        ("num_deleted", |s| widgets::count(s.num_deleted)),
        ("num_subjects", |s| widgets::count(s.num_subjects)),
        ("consumer_count", |s| s.consumer_count.to_string()),
    ];
    let archive_label = match backup.format {
        Some(crate::model::ArchiveFormat::V1) => "index.db",
        _ => "state.json",
    };
    egui::Grid::new("state_grid")
        .striped(true)
        .num_columns(5)
        .show(ui, |ui| {
            widgets::weak(ui, "");
            widgets::weak(ui, "backup.json");
            widgets::weak(ui, archive_label);
            widgets::weak(ui, "scanned");
            widgets::weak(ui, "after a restore").on_hover_text(
                "What the server holds once a restore now settles (limits, max_age, TTL)",
            );
            ui.end_row();
            for (name, value) in fields {
                widgets::weak(ui, name);
                let scanned = value(&backup.state);
                for declared in [&backup.declared_state, &backup.archive_state] {
                    match declared {
                        Some(state) => {
                            let text = value(state);
                            if text == scanned {
                                widgets::mono(ui, text);
                            } else {
                                ui.label(
                                    RichText::new(text)
                                        .monospace()
                                        .color(widgets::warn_color(ui)),
                                )
                                .on_hover_text(format!("differs from the scan: {scanned}"));
                            }
                        }
                        None => {
                            widgets::weak(ui, "–");
                        }
                    }
                }
                widgets::mono(ui, scanned.clone());
                match prediction {
                    Some(Ok(prediction)) => {
                        let text = value(&prediction.state);
                        if text == scanned {
                            widgets::mono(ui, text);
                        } else {
                            ui.label(
                                RichText::new(text)
                                    .monospace()
                                    .color(widgets::warn_color(ui)),
                            );
                        }
                    }
                    _ => {
                        widgets::weak(ui, "…");
                    }
                }
                ui.end_row();
            }
        });
    prediction_line_ui(ui, prediction);
}

/// "A restore now drops 1,204 messages: 1,180 past max_age, 24 TTL expired".
fn prediction_line_ui(ui: &mut Ui, prediction: Option<&Result<RestorePrediction, String>>) {
    match prediction {
        Some(Ok(prediction)) if prediction.dropped.total > 0 => {
            ui.label(
                RichText::new(format!(
                    "A restore as of {} drops {}",
                    widgets::time_utc(prediction.reference_ns),
                    prediction.dropped.text()
                ))
                .color(widgets::warn_color(ui)),
            );
        }
        Some(Ok(prediction)) => {
            widgets::weak(
                ui,
                format!(
                    "A restore as of {} keeps every message (no limit, max_age or TTL drops one)",
                    widgets::time_utc(prediction.reference_ns)
                ),
            );
        }
        Some(Err(message)) => {
            widgets::weak(ui, format!("restore prediction: {message}"));
        }
        None => {
            widgets::weak(ui, "computing what a restore would leave…");
        }
    }
}

/// "12 tar members" (v1); "5 entries besides the messages" (v2: state.json and
/// the consumers).
fn entries_text(backup: &Backup) -> String {
    let count = backup.entries.len() as u64;
    match backup.format {
        Some(crate::model::ArchiveFormat::V1) => {
            format!(
                "{} tar member{}",
                widgets::count(count),
                widgets::plural(count)
            )
        }
        _ => format!(
            "{} entr{} besides the messages",
            widgets::count(count),
            if count == 1 { "y" } else { "ies" }
        ),
    }
}

/// A damaged archive: what nats-server's own restore of it does, beside the column
/// of what the messages read would settle to.
fn server_restore_ui(ui: &mut Ui, predictions: &[ServerRestore]) {
    for prediction in predictions {
        let color = match prediction.outcome {
            Outcome::Succeeds => continue,
            Outcome::SucceedsWithLoss => widgets::warn_color(ui),
            Outcome::Fails => widgets::error_color(ui),
        };
        ui.label(
            RichText::new(format!(
                "A restore of this archive with nats-server {}: {}. The column above is what the messages read would settle to; Findings says what a salvaged copy keeps.",
                prediction.servers.join(" and "),
                prediction.summary
            ))
            .color(color),
        );
    }
}

const GROUPS: [(&str, &[&str]); 4] = [
    (
        "Subjects & retention",
        &[
            "subjects",
            "retention",
            "discard",
            "discard_new_per_subject",
            "subject_transform",
        ],
    ),
    (
        "Limits",
        &[
            "max_consumers",
            "max_msgs",
            "max_bytes",
            "max_age",
            "max_msgs_per_subject",
            "max_msg_size",
            "duplicate_window",
            "allow_msg_ttl",
            "subject_delete_marker_ttl",
        ],
    ),
    (
        "Storage",
        &[
            "storage",
            "num_replicas",
            "compression",
            "first_seq",
            "placement",
        ],
    ),
    (
        "Permissions",
        &[
            "sealed",
            "deny_delete",
            "deny_purge",
            "allow_rollup_hdrs",
            "allow_direct",
            "mirror_direct",
            "allow_msg_counter",
            "allow_atomic",
            "allow_msg_schedules",
        ],
    ),
];

fn compact(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn config_value_text(key: &str, value: &Value, duration: Option<Nanos>) -> String {
    // The server writes "no limit" as -1 for counts and sizes, and 0 for max_age.
    let limit_key = matches!(
        key,
        "max_consumers" | "max_msgs" | "max_bytes" | "max_msgs_per_subject" | "max_msg_size"
    );
    if (limit_key && value.as_i64().is_some_and(|limit| limit < 0))
        || (key == "max_age" && value.as_i64() == Some(0))
    {
        return format!("unlimited ({})", compact(value));
    }
    // Durations are nanoseconds in the server's JSON; the typed config says which.
    if let Some(duration) = duration {
        return format!("{} ({duration})", duration.0);
    }
    compact(value)
}

fn config_ui(ui: &mut Ui, backup: &Backup) {
    ui.label(RichText::new("Config").strong());
    let Some(typed) = backup.config.as_ref() else {
        widgets::weak(ui, "no stream config in this backup");
        return;
    };
    let json = typed.to_json();
    let Some(config) = json.as_object() else {
        widgets::weak(ui, "no stream config in this backup");
        return;
    };
    let mut shown: Vec<&str> = vec!["name", "description"];
    for (group, keys) in GROUPS {
        let present: Vec<(&str, &Value)> = keys
            .iter()
            .filter_map(|key| config.get(*key).map(|value| (*key, value)))
            .collect();
        shown.extend(keys.iter().copied());
        if present.is_empty() {
            continue;
        }
        egui::CollapsingHeader::new(group)
            .default_open(true)
            .show(ui, |ui| {
                egui::Grid::new(("config", group))
                    .num_columns(2)
                    .show(ui, |ui| {
                        for (key, value) in present {
                            widgets::weak(ui, key);
                            widgets::mono(ui, config_value_text(key, value, typed.duration(key)));
                            ui.end_row();
                        }
                    });
            });
    }
    let rest: Vec<(&String, &Value)> = config
        .iter()
        .filter(|(key, _)| !shown.contains(&key.as_str()))
        .collect();
    if !rest.is_empty() {
        egui::CollapsingHeader::new("Other")
            .default_open(false)
            .show(ui, |ui| {
                egui::Grid::new("config_other")
                    .num_columns(2)
                    .show(ui, |ui| {
                        for (key, value) in rest {
                            widgets::weak(ui, key.as_str());
                            widgets::mono(ui, compact(value));
                            ui.end_row();
                        }
                    });
            });
    }
}

fn plot_ui(ui: &mut Ui, document: &Document) {
    ui.label(RichText::new("Messages over time").strong());
    let Some(summary) = &document.summary else {
        widgets::weak(ui, "after indexing");
        return;
    };
    if summary.histogram.is_empty() {
        widgets::weak(ui, "no messages");
        return;
    }
    let bars: Vec<egui_plot::Bar> = summary
        .histogram
        .iter()
        .map(|&(x, count)| egui_plot::Bar::new(x, count as f64).width(summary.bin_width_s))
        .collect();
    let chart = egui_plot::BarChart::new("messages", bars);
    egui_plot::Plot::new("messages_over_time")
        .height(150.0)
        .allow_drag(false)
        .allow_zoom(false)
        .allow_scroll(false)
        .allow_boxed_zoom(false)
        .x_axis_label("seconds since first message")
        .show(ui, |plot| plot.bar_chart(chart));
}

fn subjects_ui(ui: &mut Ui, document: &Document, commands: &mut Vec<Command>) {
    ui.label(RichText::new("Top subjects").strong());
    let Some(summary) = &document.summary else {
        widgets::weak(ui, "after indexing");
        return;
    };
    let largest = summary
        .top_subjects
        .first()
        .map(|(_, count)| *count)
        .unwrap_or(1)
        .max(1);
    let bar_color = ui.visuals().selection.bg_fill;
    egui::Grid::new("top_subjects")
        .num_columns(3)
        .spacing([8.0, 2.0])
        .show(ui, |ui| {
            for (subject, live) in &summary.top_subjects {
                let (rect, _) =
                    ui.allocate_exact_size(egui::vec2(120.0, 12.0), egui::Sense::hover());
                let fraction = *live as f32 / largest as f32;
                let mut filled = rect;
                filled.set_width(rect.width() * fraction);
                ui.painter().rect_filled(filled, 1.0, bar_color);
                widgets::mono(ui, widgets::count(*live));
                if ui
                    .link(RichText::new(subject).monospace())
                    .on_hover_text("Show these messages")
                    .clicked()
                {
                    commands.push(Command::FilterSubject(subject.clone()));
                }
                ui.end_row();
            }
        });
}
