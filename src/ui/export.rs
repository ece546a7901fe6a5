//! The Export dialog (Ctrl+E): consumers, the Messages pane's filter (exactly what
//! the pane applies), target format and a new output directory; a live
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
        (
            dropped.filter_fields,
            "not matching header/payload/KV/damaged",
        ),
        (
            dropped.filter_expression,
            "not matching the where expression",
        ),
        (dropped.unreadable, "unreadable (damaged)"),
        (dropped.maybe_deleted, "may have been deleted"),
    ]
    .into_iter()
    .filter(|(count, _)| *count > 0)
    .map(|(count, reason)| format!("{} {reason}", widgets::count(count)))
    .chain(
        report
            .consumers_left_out
            .iter()
            .map(|left_out| format!("consumer {} ({})", left_out.name, left_out.why)),
    )
    .collect()
}

pub struct ExportDialog {
    pub backup: Arc<Backup>,
    pub consumers: ConsumerChecks,
    /// The Messages pane's filter when the dialog opened: the subject, sequence and
    /// time fields are edited here, the rest applies as it is.
    pub filter: FilterSpec,
    pub drop_expired: bool,
    /// The document's TTL reference (`None`: now, taken when the job starts).
    pub reference_ns: Option<i64>,
    pub format: FormatChoice,
    pub out: PathField,
    dirty_since: Option<Instant>,
    count_job: Option<Job<ExportReport>>,
    /// The dry run of the current options.
    pub count: Option<Result<ExportReport, String>>,
    pub job: Option<Job<ExportReport>>,
    pub result: Option<Result<ExportReport, String>>,
}

impl ExportDialog {
    pub fn new(backup: Arc<Backup>, spec: &FilterSpec, reference_ns: Option<i64>) -> Self {
        Self {
            consumers: ConsumerChecks::all(&backup),
            filter: spec.clone(),
            drop_expired: false,
            reference_ns,
            format: FormatChoice::Keep,
            out: PathField::new(default_output(&backup, "export")),
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
        Ok(ExportOptions {
            format: self.format.format(),
            consumers: self.consumers.selection(),
            filter: self.filter.to_filter().map_err(|error| error.to_string())?,
            drop_expired: self.drop_expired,
            reference_ns: Some(self.reference_ns.unwrap_or_else(crate::util::time::now_ns)),
            dry_run: false,
            // A damaged backup can only be exported as a salvage.
            salvage: self.backup.has_errors(),
            // Messages that may have been deleted are the salvage dialog's choice:
            // a plain export keeps what a restore would bring back.
            maybe_deleted: Some(crate::ops::export::MaybeDeletedChoice::Keep),
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
        dialog::scrolling_window(
            ctx,
            format!("Export {}", self.backup.stream_name),
            "export_dialog",
            640.0,
            &mut open,
            |ui| self.body_ui(ui, commands),
        );
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
                    ("subjects", &mut self.filter.subject_include, "all"),
                    ("exclude", &mut self.filter.subject_exclude, "none"),
                ),
                (
                    ("from seq", &mut self.filter.seq_from, "first"),
                    ("to seq", &mut self.filter.seq_to, "last"),
                ),
                (
                    ("from time", &mut self.filter.time_from, "RFC 3339"),
                    ("to time", &mut self.filter.time_to, "RFC 3339"),
                ),
            ] {
                ui.horizontal(|ui| {
                    changed |= text_cell(ui, left.0, left.1, left.2);
                    changed |= text_cell(ui, right.0, right.1, right.2);
                });
            }
            changed |= dialog::drop_expired_ui(ui, &mut self.drop_expired, self.reference_ns);
            changed |= pane_filter_ui(ui, &mut self.filter);
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
                for left_out in &report.consumers_left_out {
                    widgets::weak(
                        ui,
                        format!("consumer {} left out: {}", left_out.name, left_out.why),
                    );
                }
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

/// The pane's filters the dialog does not edit, applied as they are; "leave out"
/// drops them all. Returns true when the filter changed.
fn pane_filter_ui(ui: &mut Ui, filter: &mut FilterSpec) -> bool {
    let mut parts = Vec::new();
    if !filter.size_min.trim().is_empty() || !filter.size_max.trim().is_empty() {
        parts.push(format!(
            "size {}–{}",
            filter.size_min.trim(),
            filter.size_max.trim()
        ));
    }
    if !filter.header.trim().is_empty() {
        parts.push(format!("header {}", filter.header.trim()));
    }
    if !filter.payload.is_empty() {
        let how = if filter.payload_regex {
            "matches"
        } else {
            "contains"
        };
        parts.push(format!("payload {how} {:?}", filter.payload));
    }
    for (on, label) in [
        (filter.only_expired, "only expired"),
        (filter.kv_delete, "KV delete"),
        (filter.kv_purge, "KV purge"),
        (filter.only_damaged, "damaged"),
    ] {
        if on {
            parts.push(label.to_string());
        }
    }
    if !filter.expression.trim().is_empty() {
        parts.push(format!("where {}", filter.expression.trim()));
    }
    if parts.is_empty() {
        return false;
    }
    let mut changed = false;
    ui.horizontal_wrapped(|ui| {
        ui.label("Also from the Messages pane:");
        widgets::mono(ui, parts.join(" · "));
        if ui
            .small_button("Leave out")
            .on_hover_text("Export without these filters")
            .clicked()
        {
            *filter = FilterSpec {
                subject_include: std::mem::take(&mut filter.subject_include),
                subject_exclude: std::mem::take(&mut filter.subject_exclude),
                seq_from: std::mem::take(&mut filter.seq_from),
                seq_to: std::mem::take(&mut filter.seq_to),
                time_from: std::mem::take(&mut filter.time_from),
                time_to: std::mem::take(&mut filter.time_to),
                ..FilterSpec::default()
            };
            changed = true;
        }
    });
    changed
}
