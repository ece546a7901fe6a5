//! The Export dialog (Ctrl+E): consumers, the Messages filters that
//! `ExportOptions` supports, target format and a new output directory; a live
//! count of what will be kept (debounced dry run on a worker), then the export
//! with progress and Cancel. Also the "Export consumers as JSON" dialog of the
//! Consumers pane. All work runs in `workers::Job`s; this file only draws.

use super::command::Command;
use super::dialog::{self, ConsumerChecks, PathField};
use super::filter::FilterSpec;
use super::widgets;
use super::workers::{spawn_job, Job};
use super::OpenSource;
use crate::model::{ArchiveFormat, Backup};
use crate::ops::export::{
    export, export_consumers, ConsumerExport, ExportError, ExportOptions, ExportReport,
};
use crate::util::time::parse_rfc3339_ns;
use egui::{RichText, Ui};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Pause after the last edit before the dry run starts again.
const DEBOUNCE: Duration = Duration::from_millis(300);

/// Output format of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormatChoice {
    /// The backup's own format.
    Keep,
    V1,
    V2,
}

impl FormatChoice {
    pub fn format(self) -> Option<ArchiveFormat> {
        match self {
            FormatChoice::Keep => None,
            FormatChoice::V1 => Some(ArchiveFormat::V1),
            FormatChoice::V2 => Some(ArchiveFormat::V2),
        }
    }
}

/// A default output path: `<folder of the backup>/<stream>-<suffix>`.
pub fn default_output(backup: &Backup, suffix: &str) -> String {
    let opened = &backup.source.opened;
    let folder = if backup.source.backup_json.is_some() || opened.is_file() {
        backup
            .source
            .data_file
            .parent()
            .and_then(|dir| dir.parent())
            .map(PathBuf::from)
    } else {
        opened.parent().map(PathBuf::from)
    };
    let name = if backup.stream_name.is_empty() {
        "stream".to_string()
    } else {
        backup.stream_name.clone()
    };
    match folder {
        Some(folder) if !folder.as_os_str().is_empty() => folder
            .join(format!("{name}-{suffix}"))
            .display()
            .to_string(),
        _ => format!("{name}-{suffix}"),
    }
}

/// A path that does not exist, for dry runs (`export` refuses existing paths).
fn dry_run_path() -> PathBuf {
    std::env::temp_dir().join(format!(
        "jsbackup-dry-run-{}-{}",
        std::process::id(),
        crate::util::time::now_ns()
    ))
}

/// One line per reason something was dropped.
pub fn drop_lines(report: &ExportReport) -> Vec<String> {
    let dropped = &report.dropped;
    [
        (dropped.sequence_range, "outside the sequence range"),
        (dropped.time_range, "outside the time range"),
        (dropped.subject_not_included, "subject not included"),
        (dropped.subject_excluded, "subject excluded"),
        (dropped.expired, "Nats-TTL expired"),
        (dropped.unreadable, "unreadable (damaged)"),
    ]
    .into_iter()
    .filter(|(count, _)| *count > 0)
    .map(|(count, reason)| format!("{} {reason}", widgets::count(count)))
    .collect()
}

fn wildcard_list(text: &str) -> Vec<String> {
    text.split([',', ' '])
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(str::to_string)
        .collect()
}

pub struct ExportDialog {
    pub backup: Arc<Backup>,
    pub consumers: ConsumerChecks,
    pub subject_include: String,
    pub subject_exclude: String,
    pub seq_from: String,
    pub seq_to: String,
    pub time_from: String,
    pub time_to: String,
    pub drop_expired: bool,
    /// The document's TTL reference (`None`: now, taken when the job starts).
    pub reference_ns: Option<i64>,
    pub format: FormatChoice,
    pub out: PathField,
    /// Messages-pane filters an export cannot apply (header, payload…).
    pub not_applied: Vec<&'static str>,
    dirty_since: Option<Instant>,
    count_job: Option<Job<ExportReport>>,
    /// The dry run of the current options.
    pub count: Option<Result<ExportReport, String>>,
    pub job: Option<Job<ExportReport>>,
    pub result: Option<Result<ExportReport, String>>,
}

impl ExportDialog {
    pub fn new(backup: Arc<Backup>, spec: &FilterSpec, reference_ns: Option<i64>) -> Self {
        let mut not_applied = Vec::new();
        if !spec.header.trim().is_empty() {
            not_applied.push("header");
        }
        if !spec.payload.is_empty() {
            not_applied.push("payload");
        }
        if spec.only_expired {
            not_applied.push("only expired");
        }
        Self {
            consumers: ConsumerChecks::all(&backup),
            subject_include: spec.subject_include.clone(),
            subject_exclude: spec.subject_exclude.clone(),
            seq_from: spec.seq_from.clone(),
            seq_to: spec.seq_to.clone(),
            time_from: spec.time_from.clone(),
            time_to: spec.time_to.clone(),
            drop_expired: false,
            reference_ns,
            format: FormatChoice::Keep,
            out: PathField::new(default_output(&backup, "export")),
            not_applied,
            // The first count runs at once.
            dirty_since: Some(Instant::now() - DEBOUNCE),
            count_job: None,
            count: None,
            job: None,
            result: None,
            backup,
        }
    }

    pub fn is_busy(&self) -> bool {
        self.job.is_some()
            || self.count_job.is_some()
            || self.dirty_since.is_some()
            || self.out.is_picking()
    }

    /// The options as typed, or what is wrong with them.
    pub fn options(&self) -> Result<ExportOptions, String> {
        let seq = |text: &str, what: &str| -> Result<Option<u64>, String> {
            let text = text.trim();
            if text.is_empty() {
                return Ok(None);
            }
            text.parse()
                .map(Some)
                .map_err(|_| format!("{what} {text:?} is not a sequence number"))
        };
        let time = |text: &str, what: &str| -> Result<Option<i64>, String> {
            let text = text.trim();
            if text.is_empty() {
                return Ok(None);
            }
            parse_rfc3339_ns(text)
                .map(Some)
                .ok_or_else(|| format!("{what} {text:?} is not an RFC 3339 time"))
        };
        Ok(ExportOptions {
            format: self.format.format(),
            consumers: self.consumers.selection(),
            subjects: wildcard_list(&self.subject_include),
            exclude_subjects: wildcard_list(&self.subject_exclude),
            from_seq: seq(&self.seq_from, "from sequence")?,
            to_seq: seq(&self.seq_to, "to sequence")?,
            since_ns: time(&self.time_from, "from time")?,
            until_ns: time(&self.time_to, "to time")?,
            drop_expired: self.drop_expired,
            reference_ns: Some(self.reference_ns.unwrap_or_else(crate::util::time::now_ns)),
            dry_run: false,
            // A damaged backup can only be exported as a salvage.
            salvage: self.backup.has_errors(),
        })
    }

    fn changed(&mut self) {
        self.dirty_since = Some(Instant::now());
    }

    fn poll(&mut self, ctx: &egui::Context) {
        dialog::poll_job(&mut self.count_job, &mut self.count);
        dialog::poll_job(&mut self.job, &mut self.result);
        let Some(since) = self.dirty_since else {
            return;
        };
        if since.elapsed() < DEBOUNCE {
            ctx.request_repaint_after(DEBOUNCE);
            return;
        }
        self.dirty_since = None;
        if let Some(job) = self.count_job.take() {
            job.request_cancel();
        }
        let mut options = match self.options() {
            Ok(options) => options,
            Err(message) => {
                self.count = Some(Err(message));
                return;
            }
        };
        options.dry_run = true;
        let backup = self.backup.clone();
        self.count_job = Some(spawn_job("export-count", ctx, move |_, cancel| {
            export(
                &backup,
                &dry_run_path(),
                &options,
                &mut |_| {},
                Some(cancel),
            )
            .map_err(|error| error.to_string())
        }));
    }

    fn start(&mut self, ctx: &egui::Context) {
        let options = match self.options() {
            Ok(options) => options,
            Err(message) => {
                self.result = Some(Err(message));
                return;
            }
        };
        let Some(out) = self.out.path() else {
            self.result = Some(Err("choose an output directory (it must not exist)".into()));
            return;
        };
        self.result = None;
        self.job = Some(spawn_export(
            ctx,
            "export",
            "to",
            self.backup.clone(),
            out,
            options,
        ));
    }

    /// Draws the dialog; returns false once it is closed.
    pub fn show(&mut self, ctx: &egui::Context, commands: &mut Vec<Command>) -> bool {
        self.poll(ctx);
        let mut open = true;
        egui::Window::new(format!("Export {}", self.backup.stream_name))
            .id(egui::Id::unique("export_dialog"))
            .open(&mut open)
            .collapsible(false)
            .default_width(640.0)
            .show(ctx, |ui| {
                egui::ScrollArea::vertical()
                    .max_height(ctx.content_rect().height() - 120.0)
                    .show(ui, |ui| self.body_ui(ui, commands));
            });
        if !open {
            self.cancel();
        }
        open
    }

    /// Stops a running export and its dry-run count (the dialog is closing).
    pub fn cancel(&self) {
        if let Some(job) = &self.job {
            job.request_cancel();
        }
        if let Some(job) = &self.count_job {
            job.request_cancel();
        }
    }

    fn body_ui(&mut self, ui: &mut Ui, commands: &mut Vec<Command>) {
        let running = self.job.is_some();
        ui.add_enabled_ui(!running, |ui| {
            if self.consumers.ui(ui) {
                self.changed();
            }
            ui.separator();
            ui.label(RichText::new("Messages").strong());
            let mut changed = false;
            for (left, right) in [
                (
                    ("subjects", &mut self.subject_include, "all"),
                    ("exclude", &mut self.subject_exclude, "none"),
                ),
                (
                    ("from seq", &mut self.seq_from, "first"),
                    ("to seq", &mut self.seq_to, "last"),
                ),
                (
                    ("from time", &mut self.time_from, "RFC 3339"),
                    ("to time", &mut self.time_to, "RFC 3339"),
                ),
            ] {
                ui.horizontal(|ui| {
                    changed |= text_cell(ui, left.0, left.1, left.2);
                    changed |= text_cell(ui, right.0, right.1, right.2);
                });
            }
            changed |= dialog::drop_expired_ui(ui, &mut self.drop_expired, self.reference_ns);
            if !self.not_applied.is_empty() {
                widgets::weak(
                    ui,
                    format!(
                        "The Messages pane's {} filter is not applied to exports.",
                        self.not_applied.join(", ")
                    ),
                );
            }
            ui.horizontal(|ui| {
                ui.label("Format");
                let own = self.backup.format.map(|f| f.label()).unwrap_or("?");
                changed |= ui
                    .radio_value(&mut self.format, FormatChoice::Keep, format!("same ({own})"))
                    .changed();
                changed |= ui
                    .radio_value(&mut self.format, FormatChoice::V2, "v2 (2.15+)")
                    .changed();
                changed |= ui
                    .radio_value(&mut self.format, FormatChoice::V1, "v1 (tar, any server)")
                    .changed();
            });
            if changed {
                self.changed();
            }
            if self.backup.has_errors() {
                ui.label(
                    RichText::new(
                        "The backup is damaged: the export is a salvage (damaged messages are left out as deleted sequences).",
                    )
                    .color(widgets::warn_color(ui)),
                );
            }
            ui.separator();
            self.out.ui(
                ui,
                "output directory",
                "a new directory (must not exist)",
                Some(&format!("{}-export", self.backup.stream_name)),
            );
        });
        self.count_ui(ui);
        ui.separator();
        if let Some(job) = &self.job {
            if dialog::progress_ui(ui, job, "Exporting", "messages") {
                job.request_cancel();
            }
        } else {
            let ready = self.out.path().is_some() && self.options().is_ok();
            if ui
                .add_enabled(ready, egui::Button::new("Run export"))
                .clicked()
            {
                self.start(ui.ctx());
            }
        }
        match &self.result {
            Some(Ok(report)) => {
                dialog::check_ui(
                    ui,
                    Some(true),
                    &format!(
                        "Exported {} messages ({} data, {}) to {}",
                        widgets::count(report.kept_messages),
                        widgets::bytes(report.data_file_bytes),
                        report.format.label(),
                        report.out.display()
                    ),
                );
                widgets::weak(
                    ui,
                    format!(
                        "stream seq {}…{} · consumers: {}",
                        report.state.first_seq,
                        report.state.last_seq,
                        if report.consumers.is_empty() {
                            "none".to_string()
                        } else {
                            report.consumers.join(", ")
                        }
                    ),
                );
                if ui.button("Open the export").clicked() {
                    commands.push(Command::Open(OpenSource::Path(report.out.clone())));
                }
            }
            Some(Err(message)) => dialog::error_ui(ui, message),
            None => {}
        }
    }

    fn count_ui(&self, ui: &mut Ui) {
        ui.horizontal_wrapped(|ui| {
            if self.count_job.is_some() || self.dirty_since.is_some() {
                ui.spinner();
            }
            match &self.count {
                Some(Ok(report)) => {
                    ui.label(
                        RichText::new(format!(
                            "Will keep {} of {} messages",
                            widgets::count(report.kept_messages),
                            widgets::count(report.source_messages)
                        ))
                        .strong(),
                    );
                    let lines = drop_lines(report);
                    if !lines.is_empty() {
                        widgets::weak(ui, format!("dropped: {}", lines.join(", ")));
                    }
                    widgets::weak(
                        ui,
                        format!(
                            "· {} consumer{} · as {}",
                            report.consumers.len(),
                            widgets::plural(report.consumers.len() as u64),
                            report.format.label()
                        ),
                    );
                }
                Some(Err(message)) => dialog::error_ui(ui, message),
                None => {
                    widgets::weak(ui, "counting…");
                }
            }
        });
    }
}

/// Runs `export` on a worker with progress; errors read "`what` `into` OUT failed: …".
pub fn spawn_export(
    ctx: &egui::Context,
    what: &'static str,
    into: &'static str,
    backup: Arc<Backup>,
    out: PathBuf,
    options: ExportOptions,
) -> Job<ExportReport> {
    spawn_job(what, ctx, move |progress, cancel| {
        export(
            &backup,
            &out,
            &options,
            &mut |step| progress.set(step.messages_done, step.messages_total),
            Some(cancel),
        )
        .map_err(|error| match error {
            ExportError::Cancelled => {
                format!("{what} cancelled; nothing was written at {}", out.display())
            }
            other => format!("{what} {into} {} failed: {other}", out.display()),
        })
    })
}

fn text_cell(ui: &mut Ui, label: &str, text: &mut String, hint: &str) -> bool {
    let label = ui.add_sized([64.0, 18.0], egui::Label::new(label));
    ui.add(
        egui::TextEdit::singleline(text)
            .hint_text(hint)
            .desired_width(220.0),
    )
    .labelled_by(label.id)
    .changed()
}

// ---------------------------------------------------------------- consumers

/// "Export consumers as JSON…": `NAME.json` + `NAME.state.json` per consumer.
pub struct ConsumerExportDialog {
    pub backup: Arc<Backup>,
    pub consumers: ConsumerChecks,
    pub out: PathField,
    pub job: Option<Job<Vec<ConsumerExport>>>,
    pub result: Option<Result<Vec<ConsumerExport>, String>>,
}

impl ConsumerExportDialog {
    /// `selected`: the consumer selected in the pane (the only one checked); all when `None`.
    pub fn new(backup: Arc<Backup>, selected: Option<usize>) -> Self {
        Self {
            consumers: ConsumerChecks::only(&backup, selected),
            out: PathField::new(default_output(&backup, "consumers")),
            job: None,
            result: None,
            backup,
        }
    }

    pub fn is_busy(&self) -> bool {
        self.job.is_some() || self.out.is_picking()
    }

    pub fn show(&mut self, ctx: &egui::Context, _commands: &mut Vec<Command>) -> bool {
        dialog::poll_job(&mut self.job, &mut self.result);
        let mut open = true;
        egui::Window::new(format!(
            "Export consumers of {} as JSON",
            self.backup.stream_name
        ))
        .id(egui::Id::unique("consumer_export_dialog"))
        .open(&mut open)
        .collapsible(false)
        .default_width(560.0)
        .show(ctx, |ui| self.body_ui(ui));
        open
    }

    fn body_ui(&mut self, ui: &mut Ui) {
        widgets::weak(
            ui,
            "Writes NAME.json (for `nats consumer add STREAM --config NAME.json`) and NAME.state.json per consumer. Existing files are never replaced.",
        );
        ui.add_enabled_ui(self.job.is_none(), |ui| {
            self.consumers.ui(ui);
            self.out.ui(
                ui,
                "output directory",
                "created if missing",
                Some("consumers"),
            );
        });
        if self.job.is_some() {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label("Writing…");
            });
        } else {
            let ready = self.out.path().is_some() && !self.consumers.none_checked();
            if ui
                .add_enabled(ready, egui::Button::new("Write JSON files"))
                .clicked()
            {
                if let Some(out) = self.out.path() {
                    let backup = self.backup.clone();
                    let selection = self.consumers.selection();
                    self.result = None;
                    self.job = Some(spawn_job("export-consumers", ui.ctx(), move |_, _| {
                        export_consumers(&backup, &selection, &out).map_err(|error| {
                            format!("writing consumers into {} failed: {error}", out.display())
                        })
                    }));
                }
            }
        }
        match &self.result {
            Some(Ok(written)) => {
                for consumer in written {
                    dialog::check_ui(
                        ui,
                        Some(true),
                        &format!(
                            "{}: {} + {}",
                            consumer.name,
                            consumer.config_file.display(),
                            consumer.state_file.display()
                        ),
                    );
                }
            }
            Some(Err(message)) => dialog::error_ui(ui, message),
            None => {}
        }
    }
}
