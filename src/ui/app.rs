//! The application: open documents, commands, window chrome (menu, document
//! list, status bar, welcome screen, toasts, About) and keyboard shortcuts.
//! Panes live in their own files; long work lives in `workers`.

use super::document::{Document, Pane};
use super::export::{ConsumerExportDialog, ExportDialog};
use super::restore::RestoreDialog;
use super::salvage::{self, SalvageDialog};
use super::workers::OpenSource;
use super::{consumers, findings, messages, overview, widgets};
use egui::{Key, KeyboardShortcut, Modifiers, RichText, Ui};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Everything the UI asks for; applied after the frame.
#[derive(Debug, Clone)]
pub enum Command {
    OpenDialog {
        folder: bool,
    },
    Open(OpenSource),
    Close(usize),
    Activate(usize),
    ShowPane(Pane),
    GoToSeq(u64),
    FilterSubject(String),
    FocusFilter,
    FocusGoTo,
    ToggleTheme,
    ShowAbout,
    CancelIndexing(usize),
    Notice(String),
    SaveRaw {
        suggested_name: String,
        bytes: Vec<u8>,
    },
    /// The Restore dialog for the active backup (Ctrl+R).
    OpenRestore,
    /// The Export dialog for the active backup (Ctrl+E).
    OpenExport,
    /// "Export consumers as JSON"; the consumer selected in the pane, if any.
    OpenExportConsumers(Option<usize>),
    /// "Save salvaged copy" for the active (damaged) backup.
    OpenSalvage,
}

/// A dialog the screenshot command opens before the shot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialogKind {
    Restore,
    Export,
    Salvage,
}

impl DialogKind {
    pub fn parse(text: &str) -> Option<DialogKind> {
        match text.to_ascii_lowercase().as_str() {
            "restore" => Some(DialogKind::Restore),
            "export" => Some(DialogKind::Export),
            "salvage" => Some(DialogKind::Salvage),
            _ => None,
        }
    }
}

/// A request to render one pane to a PNG and close (the `screenshot` command).
pub struct ScreenshotPlan {
    pub pane: Pane,
    pub out: PathBuf,
    pub select_seq: Option<u64>,
    /// A dialog to open over the pane.
    pub dialog: Option<DialogKind>,
    /// Set once the PNG is written (or failed).
    pub result: Arc<Mutex<Option<Result<(), String>>>>,
    pub timeout: Duration,
    /// Frames to draw once everything is ready, before the shot (also the timing sample).
    pub frames_after_ready: u32,
    started: Instant,
    ready_frames: u32,
    prepared: bool,
    requested: bool,
    closing: bool,
}

impl ScreenshotPlan {
    pub fn new(pane: Pane, out: PathBuf, select_seq: Option<u64>) -> Self {
        Self {
            pane,
            out,
            select_seq,
            dialog: None,
            result: Arc::new(Mutex::new(None)),
            timeout: Duration::from_secs(120),
            frames_after_ready: 8,
            started: Instant::now(),
            ready_frames: 0,
            prepared: false,
            requested: false,
            closing: false,
        }
    }
}

/// Frame timing, to measure the UI cost (`ui()` time and eframe's CPU usage).
#[derive(Debug, Clone, Default)]
pub struct FrameStats {
    pub frames: u64,
    pub ui_total: Duration,
    pub ui_max: Duration,
    pub ui_samples: Vec<f32>,
    pub cpu_samples: Vec<f32>,
}

impl FrameStats {
    pub fn record(&mut self, ui_time: Duration, cpu_usage: Option<f32>) {
        self.frames += 1;
        self.ui_total += ui_time;
        self.ui_max = self.ui_max.max(ui_time);
        self.ui_samples.push(ui_time.as_secs_f32());
        if let Some(cpu) = cpu_usage {
            self.cpu_samples.push(cpu);
        }
    }
    pub fn report(&self) -> String {
        let mean_ui_ms = if self.frames == 0 {
            0.0
        } else {
            self.ui_total.as_secs_f64() * 1000.0 / self.frames as f64
        };
        let median_ms = |samples: &[f32]| {
            let mut sorted = samples.to_vec();
            sorted.sort_by(|a, b| a.total_cmp(b));
            sorted
                .get(sorted.len() / 2)
                .map(|c| c * 1000.0)
                .unwrap_or(0.0)
        };
        let median_ui_ms = median_ms(&self.ui_samples);
        let median_cpu_ms = median_ms(&self.cpu_samples);
        format!(
            "{} frames: ui() median {median_ui_ms:.2} ms, mean {mean_ui_ms:.2} ms, max {:.2} ms; frame CPU median {median_cpu_ms:.2} ms",
            self.frames,
            self.ui_max.as_secs_f64() * 1000.0
        )
    }
}

struct Toast {
    text: String,
    shown_at: Instant,
}

pub struct App {
    pub documents: Vec<Document>,
    pub active: usize,
    next_id: u64,
    commands: Vec<Command>,
    path_text: String,
    pub recent: Vec<PathBuf>,
    persist_recent: bool,
    /// A native file dialog running on a worker thread.
    dialog: Option<(Receiver<Option<PathBuf>>, Instant)>,
    notice_sender: Sender<String>,
    notice_receiver: Receiver<String>,
    toasts: Vec<Toast>,
    show_about: bool,
    style_applied: bool,
    /// TTL reference given on the command line, applied to every opened backup.
    pub default_reference_ns: Option<i64>,
    pub screenshot: Option<ScreenshotPlan>,
    pub frame_stats: FrameStats,
    pub restore_dialog: Option<RestoreDialog>,
    pub export_dialog: Option<ExportDialog>,
    pub consumer_export_dialog: Option<ConsumerExportDialog>,
    pub salvage_dialog: Option<SalvageDialog>,
    /// Resident set size in bytes, sampled once a second by a worker.
    rss_bytes: Arc<AtomicU64>,
}

impl Default for App {
    fn default() -> Self {
        Self::new(Vec::new(), false)
    }
}

impl App {
    /// `persist_recent`: write the recent list to the user's config directory on change.
    pub fn new(recent: Vec<PathBuf>, persist_recent: bool) -> Self {
        let (notice_sender, notice_receiver) = mpsc::channel();
        Self {
            documents: Vec::new(),
            active: 0,
            next_id: 1,
            commands: Vec::new(),
            path_text: String::new(),
            recent,
            persist_recent,
            dialog: None,
            notice_sender,
            notice_receiver,
            toasts: Vec::new(),
            show_about: false,
            style_applied: false,
            default_reference_ns: None,
            screenshot: None,
            frame_stats: FrameStats::default(),
            restore_dialog: None,
            export_dialog: None,
            consumer_export_dialog: None,
            salvage_dialog: None,
            rss_bytes: super::workers::spawn_rss_sampler(),
        }
    }

    /// Queues opening `source` (applied at the end of the next frame).
    pub fn open(&mut self, source: OpenSource) {
        self.commands.push(Command::Open(source));
    }

    pub fn active_document(&self) -> Option<&Document> {
        self.documents.get(self.active)
    }

    pub fn active_document_mut(&mut self) -> Option<&mut Document> {
        self.documents.get_mut(self.active)
    }

    /// True when no document is indexing or filtering.
    pub fn is_settled(&self) -> bool {
        self.commands.is_empty()
            && self.documents.iter().all(Document::is_settled)
            && !self.dialogs_busy()
    }

    /// The whole UI. Everything the window shows goes through here (tests drive it).
    pub fn show(&mut self, ui: &mut Ui) {
        let ctx = ui.ctx().clone();
        if !self.style_applied {
            apply_style(&ctx);
            super::fonts::ensure_installed(&ctx);
            self.style_applied = true;
        }
        self.poll(&ctx);
        self.shortcuts(&ctx);
        self.dropped_files(&ctx);

        egui::Panel::top("menu_bar").show(ui, |ui| self.menu_ui(ui));
        egui::Panel::bottom("status_bar").show(ui, |ui| self.status_ui(ui));
        if self.documents.is_empty() {
            egui::CentralPanel::default_margins().show(ui, |ui| self.welcome_ui(ui));
        } else {
            egui::Panel::left("documents")
                .resizable(true)
                .default_size(180.0)
                .show(ui, |ui| self.documents_ui(ui));
            egui::CentralPanel::default_margins().show(ui, |ui| self.document_ui(ui));
        }
        self.about_ui(&ctx);
        self.dialogs_ui(&ctx);
        self.toasts_ui(&ctx);
        self.drop_overlay(&ctx);

        let commands = std::mem::take(&mut self.commands);
        for command in commands {
            self.apply(command, &ctx);
        }
        self.drive_screenshot(&ctx);
        let busy = self.dialog.is_some()
            || self.dialogs_busy()
            || !self.toasts.is_empty()
            || self.documents.iter().any(|document| !document.is_settled());
        if busy {
            ctx.request_repaint_after(Duration::from_millis(100));
        }
    }

    fn poll(&mut self, ctx: &egui::Context) {
        for document in &mut self.documents {
            for notice in document.poll(ctx) {
                self.toasts.push(Toast {
                    text: notice,
                    shown_at: Instant::now(),
                });
            }
        }
        while let Ok(notice) = self.notice_receiver.try_recv() {
            self.notify(notice);
        }
        if let Some((receiver, _)) = &self.dialog {
            match receiver.try_recv() {
                Ok(Some(path)) => {
                    self.dialog = None;
                    self.commands.push(Command::Open(OpenSource::Path(path)));
                }
                Ok(None) => self.dialog = None,
                Err(mpsc::TryRecvError::Empty) => {}
                Err(mpsc::TryRecvError::Disconnected) => {
                    self.dialog = None;
                    self.notify("the file dialog stopped without an answer".into());
                }
            }
        }
        self.toasts
            .retain(|toast| toast.shown_at.elapsed() < Duration::from_secs(6));
    }

    fn notify(&mut self, text: String) {
        self.toasts.push(Toast {
            text,
            shown_at: Instant::now(),
        });
    }

    fn shortcuts(&mut self, ctx: &egui::Context) {
        let shortcut = |key| KeyboardShortcut::new(Modifiers::COMMAND, key);
        let pressed = |key| ctx.input_mut(|input| input.consume_shortcut(&shortcut(key)));
        if pressed(Key::O) {
            self.commands.push(Command::OpenDialog { folder: false });
        }
        if pressed(Key::W) && !self.documents.is_empty() {
            self.commands.push(Command::Close(self.active));
        }
        for (key, pane) in [Key::Num1, Key::Num2, Key::Num3, Key::Num4]
            .into_iter()
            .zip(Pane::ALL)
        {
            if pressed(key) {
                self.commands.push(Command::ShowPane(pane));
            }
        }
        if pressed(Key::F) {
            self.commands.push(Command::FocusFilter);
        }
        if pressed(Key::G) {
            self.commands.push(Command::FocusGoTo);
        }
        if pressed(Key::R) {
            self.commands.push(Command::OpenRestore);
        }
        if pressed(Key::E) {
            self.commands.push(Command::OpenExport);
        }
    }

    fn dialogs_busy(&self) -> bool {
        self.restore_dialog
            .as_ref()
            .is_some_and(RestoreDialog::is_busy)
            || self
                .export_dialog
                .as_ref()
                .is_some_and(ExportDialog::is_busy)
            || self
                .consumer_export_dialog
                .as_ref()
                .is_some_and(ConsumerExportDialog::is_busy)
            || self
                .salvage_dialog
                .as_ref()
                .is_some_and(SalvageDialog::is_busy)
    }

    fn dialogs_ui(&mut self, ctx: &egui::Context) {
        if let Some(dialog) = self.restore_dialog.as_mut() {
            if !dialog.show(ctx) {
                self.restore_dialog = None;
            }
        }
        if let Some(dialog) = self.export_dialog.as_mut() {
            if !dialog.show(ctx, &mut self.commands) {
                self.export_dialog = None;
            }
        }
        if let Some(dialog) = self.consumer_export_dialog.as_mut() {
            if !dialog.show(ctx) {
                self.consumer_export_dialog = None;
            }
        }
        if let Some(dialog) = self.salvage_dialog.as_mut() {
            if !dialog.show(ctx, &mut self.commands) {
                self.salvage_dialog = None;
            }
        }
    }

    /// The active backup, once fully indexed (dialogs work on the final model).
    fn indexed_backup(&self) -> Result<(Arc<crate::model::Backup>, Option<i64>), String> {
        let Some(document) = self.active_document() else {
            return Err("open a backup first".into());
        };
        if document.is_indexing() {
            return Err(format!("{} is still being indexed", document.title));
        }
        match &document.backup {
            Some(backup) if document.account_streams.is_none() => {
                Ok((backup.clone(), document.reference.fixed_ns))
            }
            _ => Err(format!("{} holds no stream backup", document.title)),
        }
    }

    /// Opens a dialog for the active backup, or says why it cannot.
    fn open_dialog(&mut self, command: &Command) {
        let (backup, reference_ns) = match self.indexed_backup() {
            Ok(found) => found,
            Err(message) => {
                self.notify(message);
                return;
            }
        };
        match command {
            Command::OpenRestore => {
                let replace = self
                    .restore_dialog
                    .as_ref()
                    .is_none_or(|dialog| !Arc::ptr_eq(&dialog.backup, &backup));
                if replace {
                    self.restore_dialog = Some(RestoreDialog::new(backup, reference_ns));
                }
            }
            Command::OpenExport => {
                let spec = self
                    .active_document()
                    .map(|document| document.messages.spec.clone())
                    .unwrap_or_default();
                let busy = self
                    .export_dialog
                    .as_ref()
                    .is_some_and(|dialog| dialog.job.is_some());
                if !busy {
                    self.export_dialog = Some(ExportDialog::new(backup, &spec, reference_ns));
                }
            }
            Command::OpenExportConsumers(selected) => {
                if backup.consumers.is_empty() {
                    self.notify("this backup holds no consumers".into());
                    return;
                }
                self.consumer_export_dialog = Some(ConsumerExportDialog::new(backup, *selected));
            }
            Command::OpenSalvage => {
                let busy = self
                    .salvage_dialog
                    .as_ref()
                    .is_some_and(|dialog| dialog.job.is_some());
                if !busy {
                    self.salvage_dialog = Some(SalvageDialog::new(backup));
                }
            }
            _ => {}
        }
    }

    fn dropped_files(&mut self, ctx: &egui::Context) {
        let dropped: Vec<PathBuf> = ctx.input(|input| {
            input
                .raw
                .dropped_files
                .iter()
                .map(|file| file.path().to_path_buf())
                .filter(|path| !path.as_os_str().is_empty())
                .collect()
        });
        for path in dropped {
            self.commands.push(Command::Open(OpenSource::Path(path)));
        }
    }

    fn apply(&mut self, command: Command, ctx: &egui::Context) {
        match command {
            Command::OpenDialog { folder } => self.start_dialog(folder, ctx),
            Command::Open(source) => {
                if let OpenSource::Path(path) = &source {
                    crate::ui::recent::remember(&mut self.recent, path.clone());
                    if self.persist_recent {
                        crate::ui::recent::save_in_background(self.recent.clone());
                    }
                }
                let mut document = Document::open(self.next_id, source, ctx);
                if let Some(ns) = self.default_reference_ns {
                    document.set_reference_ns(ns);
                }
                self.next_id += 1;
                self.documents.push(document);
                self.active = self.documents.len() - 1;
            }
            Command::Close(index) => {
                if index < self.documents.len() {
                    let document = self.documents.remove(index);
                    document.cancel();
                    if self.active >= self.documents.len() {
                        self.active = self.documents.len().saturating_sub(1);
                    }
                }
            }
            Command::Activate(index) => {
                if index < self.documents.len() {
                    self.active = index;
                }
            }
            Command::ShowPane(pane) => {
                if let Some(document) = self.active_document_mut() {
                    document.pane = pane;
                }
            }
            Command::GoToSeq(seq) => {
                let notice = self
                    .active_document_mut()
                    .and_then(|document| document.go_to_seq(seq));
                if let Some(notice) = notice {
                    self.notify(notice);
                }
            }
            Command::FilterSubject(subject) => {
                if let Some(document) = self.active_document_mut() {
                    document.messages.spec = Default::default();
                    document.messages.spec.subject_include = subject;
                    document.pane = Pane::Messages;
                }
            }
            Command::FocusFilter | Command::FocusGoTo => {
                if let Some(document) = self.active_document_mut() {
                    document.pane = Pane::Messages;
                    let id = if matches!(command, Command::FocusFilter) {
                        messages::FILTER_SUBJECT_ID
                    } else {
                        messages::GOTO_SEQ_ID
                    };
                    ctx.memory_mut(|memory| memory.request_focus(egui::Id::unique(id)));
                }
            }
            Command::ToggleTheme => {
                let next = if ctx.theme() == egui::Theme::Dark {
                    egui::Theme::Light
                } else {
                    egui::Theme::Dark
                };
                ctx.set_theme(next);
            }
            Command::ShowAbout => self.show_about = true,
            Command::CancelIndexing(index) => {
                if let Some(document) = self.documents.get(index) {
                    document.cancel();
                }
            }
            Command::Notice(text) => self.notify(text),
            Command::SaveRaw {
                suggested_name,
                bytes,
            } => self.save_raw(suggested_name, bytes, ctx),
            Command::OpenRestore
            | Command::OpenExport
            | Command::OpenExportConsumers(_)
            | Command::OpenSalvage => self.open_dialog(&command),
        }
    }

    /// Runs the native dialog on a worker thread: a portal that never answers
    /// must not freeze the window (the path field stays usable meanwhile).
    fn start_dialog(&mut self, folder: bool, ctx: &egui::Context) {
        if self.dialog.is_some() {
            return;
        }
        let (sender, receiver) = mpsc::channel();
        let ctx = ctx.clone();
        let spawned = std::thread::Builder::new()
            .name("open-dialog".into())
            .spawn(move || {
                let dialog = rfd::FileDialog::new().set_title("Open a JetStream backup");
                let picked = if folder {
                    dialog.pick_folder()
                } else {
                    dialog
                        .add_filter("backup", &["s2", "json"])
                        .add_filter("all files", &["*"])
                        .pick_file()
                };
                let _ = sender.send(picked);
                ctx.request_repaint();
            });
        match spawned {
            Ok(_) => self.dialog = Some((receiver, Instant::now())),
            Err(error) => self.notify(format!("cannot open the file dialog: {error}")),
        }
    }

    fn save_raw(&mut self, suggested_name: String, bytes: Vec<u8>, ctx: &egui::Context) {
        let notices = self.notice_sender.clone();
        let ctx = ctx.clone();
        let spawned = std::thread::Builder::new()
            .name("save-raw".into())
            .spawn(move || {
                let Some(path) = rfd::FileDialog::new()
                    .set_file_name(suggested_name.as_str())
                    .save_file()
                else {
                    return;
                };
                let notice = match write_new_file(&path, &bytes) {
                    Ok(()) => format!("saved {} bytes to {}", bytes.len(), path.display()),
                    Err(error) => format!("cannot save {}: {error}", path.display()),
                };
                let _ = notices.send(notice);
                ctx.request_repaint();
            });
        if let Err(error) = spawned {
            self.notify(format!("cannot open the save dialog: {error}"));
        }
    }

    // ------------------------------------------------------------ chrome

    fn menu_ui(&mut self, ui: &mut Ui) {
        egui::MenuBar::new().ui(ui, |ui| {
            ui.menu_button("File", |ui| {
                if ui
                    .add(egui::Button::new("Open…").shortcut_text("Ctrl+O"))
                    .clicked()
                {
                    self.commands.push(Command::OpenDialog { folder: false });
                }
                if ui.button("Open folder…").clicked() {
                    self.commands.push(Command::OpenDialog { folder: true });
                }
                ui.separator();
                let has_backup = self.indexed_backup().is_ok();
                if ui
                    .add_enabled(
                        has_backup,
                        egui::Button::new("Restore…").shortcut_text("Ctrl+R"),
                    )
                    .clicked()
                {
                    self.commands.push(Command::OpenRestore);
                }
                if ui
                    .add_enabled(
                        has_backup,
                        egui::Button::new("Export…").shortcut_text("Ctrl+E"),
                    )
                    .clicked()
                {
                    self.commands.push(Command::OpenExport);
                }
                if ui
                    .add_enabled(has_backup, egui::Button::new("Export consumers as JSON…"))
                    .clicked()
                {
                    let selected = self
                        .active_document()
                        .and_then(|document| document.consumers.selected);
                    self.commands.push(Command::OpenExportConsumers(selected));
                }
                let damaged = self
                    .indexed_backup()
                    .is_ok_and(|(backup, _)| backup.has_errors());
                if ui
                    .add_enabled(damaged, egui::Button::new("Save salvaged copy…"))
                    .clicked()
                {
                    self.commands.push(Command::OpenSalvage);
                }
                ui.separator();
                if ui.button("Open the sample backup").clicked() {
                    self.commands.push(Command::Open(OpenSource::Sample));
                }
                if !self.documents.is_empty()
                    && ui
                        .add(egui::Button::new("Close").shortcut_text("Ctrl+W"))
                        .clicked()
                {
                    self.commands.push(Command::Close(self.active));
                }
            });
            ui.menu_button("View", |ui| {
                for (index, pane) in Pane::ALL.into_iter().enumerate() {
                    let button = egui::Button::new(pane.label())
                        .shortcut_text(format!("Ctrl+{}", index + 1));
                    if ui.add(button).clicked() {
                        self.commands.push(Command::ShowPane(pane));
                    }
                }
                ui.separator();
                if ui
                    .add(egui::Button::new("Filter messages").shortcut_text("Ctrl+F"))
                    .clicked()
                {
                    self.commands.push(Command::FocusFilter);
                }
                if ui
                    .add(egui::Button::new("Go to sequence").shortcut_text("Ctrl+G"))
                    .clicked()
                {
                    self.commands.push(Command::FocusGoTo);
                }
                ui.separator();
                if ui.button("Dark / light theme").clicked() {
                    self.commands.push(Command::ToggleTheme);
                }
            });
            ui.menu_button("Help", |ui| {
                if ui.button("About jsbackup").clicked() {
                    self.commands.push(Command::ShowAbout);
                }
            });
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                let label = if ui.visuals().dark_mode {
                    "light"
                } else {
                    "dark"
                };
                if ui
                    .small_button(label)
                    .on_hover_text("Dark / light theme")
                    .clicked()
                {
                    self.commands.push(Command::ToggleTheme);
                }
            });
        });
    }

    fn status_ui(&mut self, ui: &mut Ui) {
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            let rss = self.rss_bytes.load(Ordering::Relaxed);
            if rss > 0 {
                widgets::weak(ui, format!("RSS {}", widgets::bytes(rss)))
                    .on_hover_text("Resident memory of this process (sampled once a second)");
                ui.separator();
            }
            ui.with_layout(egui::Layout::left_to_right(egui::Align::Center), |ui| {
                self.status_main_ui(ui);
            });
        });
    }

    fn status_main_ui(&mut self, ui: &mut Ui) {
        ui.horizontal(|ui| {
            if let Some((_, since)) = &self.dialog {
                ui.spinner();
                widgets::weak(
                    ui,
                    format!(
                        "waiting for the file dialog… {} s",
                        since.elapsed().as_secs()
                    ),
                );
                ui.separator();
            }
            let indexing = self
                .documents
                .iter()
                .enumerate()
                .find(|(_, document)| document.is_indexing());
            if let Some((index, document)) = indexing {
                if let Some(job) = &document.indexing {
                    let progress = job.progress;
                    let fraction = if progress.file_bytes_total > 0 {
                        progress.file_bytes_done as f32 / progress.file_bytes_total as f32
                    } else {
                        0.0
                    };
                    let elapsed = job.started.elapsed().as_secs_f64().max(0.001);
                    let rate = progress.messages as f64 / elapsed;
                    let eta = if fraction > 0.0 {
                        elapsed * f64::from((1.0 - fraction) / fraction)
                    } else {
                        0.0
                    };
                    ui.label(format!("Indexing {}", document.title));
                    ui.add(
                        egui::ProgressBar::new(fraction)
                            .desired_width(180.0)
                            .show_percentage(),
                    );
                    widgets::mono(
                        ui,
                        format!(
                            "{} / {} · {} msgs · {:.0} msg/s · ETA {:.1} s",
                            widgets::bytes(progress.file_bytes_done),
                            widgets::bytes(progress.file_bytes_total),
                            widgets::count(progress.messages),
                            rate,
                            eta
                        ),
                    );
                    if ui.small_button("Cancel").clicked() {
                        self.commands.push(Command::CancelIndexing(index));
                    }
                }
                return;
            }
            match self.active_document() {
                Some(document) => match &document.backup {
                    Some(backup) => {
                        widgets::weak(
                            ui,
                            format!(
                                "{} · {} · {} messages · {} findings · index {}",
                                backup.stream_name,
                                backup.format.map(|format| format.label()).unwrap_or("?"),
                                widgets::count(backup.messages.len() as u64),
                                backup.findings.len(),
                                widgets::bytes(backup.messages.heap_bytes() as u64)
                            ),
                        );
                    }
                    None => {
                        widgets::weak(ui, document.error.clone().unwrap_or_default());
                    }
                },
                None => {
                    widgets::weak(ui, "Ready");
                }
            }
        });
    }

    fn welcome_ui(&mut self, ui: &mut Ui) {
        ui.add_space(24.0);
        ui.vertical_centered(|ui| {
            ui.heading("jsbackup");
            widgets::weak(ui, "Open a NATS JetStream stream backup (v1 tar or v2 NATSARC1) to browse, verify and restore it.");
        });
        ui.add_space(16.0);
        ui.horizontal(|ui| {
            if ui.button("Open…  (Ctrl+O)").clicked() {
                self.commands.push(Command::OpenDialog { folder: false });
            }
            if ui.button("Open folder…").clicked() {
                self.commands.push(Command::OpenDialog { folder: true });
            }
            if ui.button("Open the sample backup").clicked() {
                self.commands.push(Command::Open(OpenSource::Sample));
            }
        });
        ui.add_space(8.0);
        ui.horizontal(|ui| {
            let label = ui.label("Path:");
            let response = ui
                .add(
                    egui::TextEdit::singleline(&mut self.path_text)
                        .hint_text("backup directory, stream.tar.s2 or backup.json")
                        .desired_width(420.0),
                )
                .labelled_by(label.id);
            let entered = response.lost_focus() && ui.input(|input| input.key_pressed(Key::Enter));
            if (ui.button("Open").clicked() || entered) && !self.path_text.trim().is_empty() {
                let path = PathBuf::from(self.path_text.trim());
                self.commands.push(Command::Open(OpenSource::Path(path)));
            }
        });
        widgets::weak(ui, "…or drop a backup directory or file onto this window.");
        ui.add_space(16.0);
        ui.label(RichText::new("Recent").strong());
        if self.recent.is_empty() {
            widgets::weak(ui, "nothing yet");
        }
        for path in self.recent.clone() {
            if ui
                .link(RichText::new(path.display().to_string()).monospace())
                .clicked()
            {
                self.commands.push(Command::Open(OpenSource::Path(path)));
            }
        }
    }

    fn documents_ui(&mut self, ui: &mut Ui) {
        egui::ScrollArea::vertical()
            .auto_shrink([false, false])
            .show(ui, |ui| {
                for index in 0..self.documents.len() {
                    let active = index == self.active;
                    let Some(document) = self.documents.get(index) else {
                        continue;
                    };
                    ui.horizontal(|ui| {
                        let title = RichText::new(&document.title).strong().monospace();
                        if ui.selectable_label(active, title).clicked() {
                            self.commands.push(Command::Activate(index));
                        }
                        if document.is_indexing() {
                            ui.spinner();
                        }
                        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                            if ui
                                .small_button("×")
                                .on_hover_text("Close (Ctrl+W)")
                                .clicked()
                            {
                                self.commands.push(Command::Close(index));
                            }
                        });
                    });
                    if let Some(backup) = &document.backup {
                        widgets::weak(
                            ui,
                            format!(
                                "  {} · {}",
                                backup.format.map(|format| format.label()).unwrap_or("?"),
                                widgets::bytes(backup.source.data_file_bytes)
                            ),
                        );
                    } else if document.account_streams.is_some() {
                        widgets::weak(ui, "  account backup");
                    }
                    if active && document.account_streams.is_none() {
                        self.pane_list_ui(ui, index);
                    }
                    ui.add_space(4.0);
                }
            });
    }

    fn pane_list_ui(&mut self, ui: &mut Ui, index: usize) {
        let Some(document) = self.documents.get(index) else {
            return;
        };
        let backup = document.backup.clone();
        for pane in Pane::ALL {
            ui.horizontal(|ui| {
                ui.add_space(8.0);
                if ui
                    .selectable_label(document.pane == pane, pane.label())
                    .clicked()
                {
                    self.commands.push(Command::ShowPane(pane));
                }
                let Some(backup) = &backup else {
                    return;
                };
                match pane {
                    Pane::Overview => {}
                    Pane::Consumers => {
                        widgets::weak(ui, backup.consumers.len().to_string());
                    }
                    Pane::Messages => {
                        widgets::weak(ui, widgets::count(backup.messages.len() as u64));
                    }
                    Pane::Findings => {
                        let count = backup.findings.len().to_string();
                        if backup.has_errors() {
                            ui.label(
                                RichText::new(count)
                                    .color(widgets::error_color(ui))
                                    .strong(),
                            );
                        } else {
                            widgets::weak(ui, count);
                        }
                    }
                }
            });
        }
    }

    fn document_ui(&mut self, ui: &mut Ui) {
        let active = self.active;
        let Some(document) = self.documents.get_mut(active) else {
            return;
        };
        if let Some(streams) = document.account_streams.clone() {
            account_ui(ui, document, &streams, &mut self.commands);
            return;
        }
        if document.backup.is_none() {
            if let Some(error) = &document.error {
                ui.label(RichText::new(error).color(widgets::error_color(ui)));
            } else {
                ui.horizontal(|ui| {
                    ui.spinner();
                    widgets::weak(ui, "Reading…");
                });
            }
            return;
        }
        if !document.is_indexing() {
            if let Some(backup) = document.backup.clone() {
                salvage::banner_ui(ui, &backup, &mut self.commands);
            }
        }
        match document.pane {
            Pane::Overview => overview::overview_ui(ui, document, &mut self.commands),
            Pane::Consumers => consumers::consumers_ui(ui, document, &mut self.commands),
            Pane::Messages => messages::messages_ui(ui, document, &mut self.commands),
            Pane::Findings => findings::findings_ui(ui, document, &mut self.commands),
        }
    }

    fn about_ui(&mut self, ctx: &egui::Context) {
        let mut open = self.show_about;
        egui::Window::new("About jsbackup")
            .open(&mut open)
            .collapsible(false)
            .resizable(false)
            .show(ctx, |ui| {
                ui.label(RichText::new(format!("jsbackup {}", env!("CARGO_PKG_VERSION"))).strong());
                ui.label(env!("CARGO_PKG_DESCRIPTION"));
                widgets::weak(ui, format!("License {}", env!("CARGO_PKG_LICENSE")));
                ui.add_space(6.0);
                ui.label("Shortcuts: Ctrl+O open · Ctrl+W close · Ctrl+R restore · Ctrl+E export · Ctrl+1…4 panes · Ctrl+F filter · Ctrl+G go to sequence · Up/Down select message");
            });
        self.show_about = open;
    }

    fn toasts_ui(&mut self, ctx: &egui::Context) {
        if self.toasts.is_empty() {
            return;
        }
        egui::Area::new(egui::Id::unique("toasts"))
            .anchor(egui::Align2::RIGHT_BOTTOM, egui::vec2(-10.0, -34.0))
            .order(egui::Order::Foreground)
            .interactable(false)
            .show(ctx, |ui| {
                for toast in self.toasts.iter().rev().take(5) {
                    egui::Frame::popup(ui.style()).show(ui, |ui| {
                        ui.set_max_width(420.0);
                        ui.label(&toast.text);
                    });
                }
            });
    }

    fn drop_overlay(&self, ctx: &egui::Context) {
        let hovering = ctx.input(|input| !input.raw.hovered_files.is_empty());
        if !hovering {
            return;
        }
        let painter = ctx.layer_painter(egui::LayerId::new(
            egui::Order::Foreground,
            egui::Id::unique("drop_overlay"),
        ));
        let rect = ctx.content_rect();
        painter.rect_filled(rect, 0.0, egui::Color32::from_black_alpha(160));
        painter.text(
            rect.center(),
            egui::Align2::CENTER_CENTER,
            "Drop to open",
            egui::FontId::proportional(24.0),
            egui::Color32::WHITE,
        );
    }

    // ------------------------------------------------------------ screenshot

    fn drive_screenshot(&mut self, ctx: &egui::Context) {
        let settled = self.is_settled();
        let Some(plan) = self.screenshot.as_mut() else {
            return;
        };
        ctx.request_repaint();
        if plan.closing {
            return;
        }
        let done = plan
            .result
            .lock()
            .map(|result| result.is_some())
            .unwrap_or(true);
        if done {
            plan.closing = true;
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
            return;
        }
        if plan.started.elapsed() > plan.timeout {
            if let Ok(mut result) = plan.result.lock() {
                *result = Some(Err(format!(
                    "timed out after {} s waiting for the backup to be indexed",
                    plan.timeout.as_secs()
                )));
            }
            return;
        }
        if !settled || plan.requested {
            return;
        }
        if !plan.prepared {
            plan.prepared = true;
            // Time only the steady frames, not start-up and indexing.
            self.frame_stats = FrameStats::default();
            let pane = plan.pane;
            let select_seq = plan.select_seq;
            // Opened now; the dialog's own checks make the app unsettled until done.
            match plan.dialog {
                Some(DialogKind::Restore) => self.commands.push(Command::OpenRestore),
                Some(DialogKind::Export) => self.commands.push(Command::OpenExport),
                Some(DialogKind::Salvage) => self.commands.push(Command::OpenSalvage),
                None => {}
            }
            if let Some(document) = self.documents.get_mut(self.active) {
                document.pane = pane;
                if let Some(seq) = select_seq {
                    let _ = document.go_to_seq(seq);
                    document.pane = pane;
                }
                if pane == Pane::Consumers && document.consumers.selected.is_none() {
                    let has_consumers = document
                        .backup
                        .as_ref()
                        .is_some_and(|backup| !backup.consumers.is_empty());
                    if has_consumers {
                        document.consumers.selected = Some(0);
                    }
                }
            }
            return;
        }
        let detail_pending = self
            .documents
            .get(self.active)
            .is_some_and(|document| document.messages.detail_pending.is_some());
        let Some(plan) = self.screenshot.as_mut() else {
            return;
        };
        if detail_pending {
            return;
        }
        plan.ready_frames += 1;
        // A few frames so layout (table column widths, scroll) settles.
        if plan.ready_frames < plan.frames_after_ready.max(3) {
            return;
        }
        plan.requested = true;
        let out = plan.out.clone();
        let result = plan.result.clone();
        let repaint = ctx.clone();
        ctx.request_screenshot(move |image: Arc<egui::ColorImage>| {
            let [width, height] = image.size;
            let rgba: Vec<u8> = image
                .pixels
                .iter()
                .flat_map(|color| color.to_array())
                .collect();
            let saved = image::save_buffer(
                &out,
                &rgba,
                width as u32,
                height as u32,
                image::ColorType::Rgba8,
            )
            .map_err(|error| format!("cannot write {}: {error}", out.display()));
            if let Ok(mut slot) = result.lock() {
                *slot = Some(saved);
            }
            repaint.request_repaint();
        });
    }
}

/// Writes `bytes` to a new file next to the target first, then renames.
fn write_new_file(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let temporary = path.with_extension(format!("tmp-{}", std::process::id()));
    let result = (|| {
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result
}

/// Dense, quiet defaults: tighter spacing, no hover animations.
fn apply_style(ctx: &egui::Context) {
    ctx.all_styles_mut(|style| {
        style.spacing.item_spacing = egui::vec2(6.0, 3.0);
        style.spacing.button_padding = egui::vec2(5.0, 1.0);
        style.spacing.interact_size.y = 18.0;
        style.animation_time = 0.0;
    });
}

/// The TTL reference time controls and the "would be dropped" banner.
pub fn ttl_banner_ui(ui: &mut Ui, document: &mut Document) {
    let Some(backup) = document.backup.clone() else {
        return;
    };
    let Some(summary) = document.ttl_summary() else {
        return;
    };
    ui.horizontal_wrapped(|ui| {
        let label = ui.label("TTL reference");
        let response = ui
            .add(
                egui::TextEdit::singleline(&mut document.reference.text)
                    .hint_text("now (or RFC 3339)")
                    .desired_width(230.0),
            )
            .labelled_by(label.id);
        if response.changed() {
            let text = document.reference.text.trim().to_string();
            if text.is_empty() {
                document.reference.fixed_ns = None;
                document.reference.error = None;
            } else {
                match crate::util::time::parse_rfc3339_ns(&text) {
                    Some(ns) => {
                        document.reference.fixed_ns = Some(ns);
                        document.reference.error = None;
                    }
                    None => document.reference.error = Some("not an RFC 3339 time".into()),
                }
            }
        }
        if ui.small_button("now").clicked() {
            document.reference.set_now();
        }
        let snapshot_ns = backup.snapshot_time_ns.or_else(|| {
            backup
                .declared_state
                .as_ref()
                .map(|state| state.last_ts_ns)
                .filter(|&ns| ns > 0)
        });
        if let Some(ns) = snapshot_ns {
            if ui
                .small_button("as of snapshot time")
                .on_hover_text(widgets::time_utc(ns))
                .clicked()
            {
                document.set_reference_ns(ns);
            }
        }
        if let Some(error) = &document.reference.error {
            ui.label(RichText::new(error).color(widgets::error_color(ui)));
        }
        ui.separator();
        if summary.messages_with_ttl == 0 {
            widgets::weak(ui, "no message carries Nats-TTL");
            return;
        }
        let text = widgets::ttl_banner_text(
            summary.expired,
            document.reference.fixed_ns.is_none(),
            document.reference.ns(),
        );
        let color = if summary.expired > 0 {
            widgets::warn_color(ui)
        } else {
            ui.visuals().weak_text_color()
        };
        ui.label(RichText::new(text).color(color).strong());
        if summary.invalid > 0 {
            ui.label(
                RichText::new(format!(
                    "{} with an invalid TTL (a v2 restore aborts)",
                    summary.invalid
                ))
                .color(widgets::error_color(ui)),
            );
        }
    });
}

fn account_ui(ui: &mut Ui, document: &Document, streams: &[PathBuf], commands: &mut Vec<Command>) {
    ui.label(RichText::new("Account backup").strong());
    if let Some(path) = &document.path {
        widgets::mono(ui, path.display().to_string());
    }
    widgets::weak(
        ui,
        format!(
            "{} stream backup{} — open one:",
            streams.len(),
            widgets::plural(streams.len() as u64)
        ),
    );
    ui.add_space(6.0);
    egui::Grid::new("account_streams")
        .striped(true)
        .num_columns(2)
        .show(ui, |ui| {
            for stream in streams {
                let name = stream
                    .file_name()
                    .map(|name| name.to_string_lossy().into_owned())
                    .unwrap_or_else(|| stream.display().to_string());
                widgets::mono(ui, name);
                if ui.small_button("Open").clicked() {
                    commands.push(Command::Open(OpenSource::Path(stream.clone())));
                }
                ui.end_row();
            }
        });
}
