//! The application: open documents, applying [`Command`]s, the one open
//! dialog (bound to its document), the command palette, keyboard handling
//! from the command table, and the settings kept between runs. The window
//! chrome is in `app/chrome.rs`, the `screenshot` command in
//! `app/screenshot.rs`; panes live in their own files, long work in `workers`.
//!
//! It never parses archive bytes; files are written and dialogs run on worker threads.

mod chrome;
mod screenshot;
mod table_memory;

pub use screenshot::{DetailChoice, FrameStats, ScreenshotPlan};
pub use table_memory::MessageSort;

use super::command::{self, Action, Command, Palette, PaletteOutcome};
use super::dialogs::{Dialog, OpenDialog};
use super::document::{Document, Pane};
use super::export::{ConsumerExportDialog, ExportDialog};
use super::file_browser::FileBrowser;
use super::messages;
use super::restore::RestoreDialog;
use super::salvage::SalvageDialog;
use super::workers::OpenSource;
use egui::Ui;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A native file dialog that answers within this time was not shown at all
/// (no portal, no zenity): rfd then returns as if cancelled.
const NO_NATIVE_DIALOG: Duration = Duration::from_millis(400);

/// State kept between runs (eframe storage). Fields missing from an older
/// stored copy take their defaults.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Settings {
    /// `None`: follow the system.
    pub dark_theme: Option<bool>,
    /// The folder of the last opened backup (the file browser starts there).
    pub last_folder: Option<PathBuf>,
    /// Header keys shown as Messages columns, in order.
    pub header_columns: Vec<String>,
    /// The Messages table's sort; `None`: sequence order.
    pub message_sort: Option<MessageSort>,
}

struct Toast {
    text: String,
    shown_at: Instant,
}

/// A native file dialog running on a worker thread.
struct NativeDialog {
    receiver: Receiver<Option<PathBuf>>,
    since: Instant,
}

pub struct App {
    pub documents: Vec<Document>,
    pub active: usize,
    next_id: u64,
    commands: Vec<Command>,
    path_text: String,
    /// Focus the path field on the next frame (Open path…).
    focus_path: bool,
    pub recent: Vec<PathBuf>,
    persist_recent: bool,
    pub settings: Settings,
    native_dialog: Option<NativeDialog>,
    notice_sender: Sender<String>,
    notice_receiver: Receiver<String>,
    toasts: Vec<Toast>,
    style_applied: bool,
    /// TTL reference given on the command line, applied to every opened backup.
    pub default_reference_ns: Option<i64>,
    pub screenshot: Option<ScreenshotPlan>,
    pub frame_stats: FrameStats,
    /// The one open dialog and the document it belongs to.
    pub dialog: Option<OpenDialog>,
    pub palette: Option<Palette>,
    /// Resident set size in bytes, sampled once a second by a worker.
    rss_bytes: Arc<AtomicU64>,
    /// The active table's columns and sort as of last frame (`table_memory.rs`).
    table_choices_seen: Option<table_memory::TableChoices>,
    /// Since when the window waits to close: a restore was running when closing was
    /// asked for, and is cancelling (its cleanup runs before the window goes).
    pub closing_since: Option<Instant>,
}

/// How long a close waits for a cancelled restore's cleanup before it goes anyway
/// (the process then still waits in `on_exit`, bounded too).
pub const CLOSE_WAIT: Duration = Duration::from_secs(10);

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
            focus_path: false,
            recent,
            persist_recent,
            settings: Settings::default(),
            native_dialog: None,
            notice_sender,
            notice_receiver,
            toasts: Vec::new(),
            style_applied: false,
            default_reference_ns: None,
            screenshot: None,
            frame_stats: FrameStats::default(),
            dialog: None,
            palette: None,
            rss_bytes: super::workers::spawn_rss_sampler(),
            table_choices_seen: None,
            closing_since: None,
        }
    }

    /// Queues opening `source` (applied at the end of the next frame).
    pub fn open(&mut self, source: OpenSource) {
        self.commands.push(Command::Open(source));
    }

    /// Queues a command of the table, as a menu or shortcut would.
    pub fn run(&mut self, action: Action) {
        self.commands.push(Command::Run(action));
    }

    pub fn active_document(&self) -> Option<&Document> {
        self.documents.get(self.active)
    }

    pub fn active_document_mut(&mut self) -> Option<&mut Document> {
        self.documents.get_mut(self.active)
    }

    fn active_document_id(&self) -> Option<u64> {
        self.active_document().map(|document| document.id)
    }

    /// The dialog shown now: the app's own, or the active document's.
    pub fn visible_dialog(&self) -> Option<&Dialog> {
        let active = self.active_document_id();
        self.dialog
            .as_ref()
            .filter(|open| open.visible_for(active))
            .map(|open| &open.dialog)
    }

    pub fn restore_dialog(&self) -> Option<&RestoreDialog> {
        match self.visible_dialog() {
            Some(Dialog::Restore(dialog)) => Some(dialog),
            _ => None,
        }
    }

    pub fn restore_dialog_mut(&mut self) -> Option<&mut RestoreDialog> {
        match self.dialog.as_mut().map(|open| &mut open.dialog) {
            Some(Dialog::Restore(dialog)) => Some(dialog),
            _ => None,
        }
    }

    pub fn export_dialog(&self) -> Option<&ExportDialog> {
        match self.visible_dialog() {
            Some(Dialog::Export(dialog)) => Some(dialog),
            _ => None,
        }
    }

    pub fn consumer_export_dialog(&self) -> Option<&ConsumerExportDialog> {
        match self.visible_dialog() {
            Some(Dialog::ExportConsumers(dialog)) => Some(dialog),
            _ => None,
        }
    }

    pub fn salvage_dialog(&self) -> Option<&SalvageDialog> {
        match self.visible_dialog() {
            Some(Dialog::Salvage(dialog)) => Some(dialog),
            _ => None,
        }
    }

    /// True when no document is indexing or filtering.
    pub fn is_settled(&self) -> bool {
        self.commands.is_empty()
            && self.documents.iter().all(Document::is_settled)
            && !self.dialog_busy()
    }

    fn dialog_busy(&self) -> bool {
        self.dialog
            .as_ref()
            .is_some_and(|open| open.dialog.is_busy())
    }

    /// Whether a command of the table can run now (menus grey it out,
    /// shortcuts and the palette skip it).
    pub fn enabled(&self, action: Action) -> bool {
        let has_stream = self
            .active_document()
            .is_some_and(|document| document.account_streams.is_none());
        match action {
            Action::Close => !self.documents.is_empty(),
            Action::Restore | Action::Export | Action::ExportConsumers => {
                self.indexed_backup().is_ok()
            }
            Action::Salvage => self
                .indexed_backup()
                .is_ok_and(|(backup, _)| backup.has_errors()),
            Action::ShowOverview
            | Action::ShowConsumers
            | Action::ShowMessages
            | Action::ShowFindings
            | Action::FilterMessages
            | Action::GoToSequence
            | Action::NextMessage
            | Action::PreviousMessage => has_stream,
            Action::CloseDialog => self.palette.is_some() || self.visible_dialog().is_some(),
            Action::Open
            | Action::OpenFolder
            | Action::OpenPath
            | Action::BrowseFiles
            | Action::OpenSample
            | Action::Quit
            | Action::ToggleTheme
            | Action::CommandPalette
            | Action::KeyboardShortcuts
            | Action::About => true,
        }
    }

    /// The whole UI. Everything the window shows goes through here (tests drive it).
    pub fn show(&mut self, ui: &mut Ui) {
        let ctx = ui.ctx().clone();
        if !self.style_applied {
            apply_style(&ctx);
            super::fonts::ensure_installed(&ctx);
            if let Some(dark) = self.settings.dark_theme {
                ctx.set_theme(if dark {
                    egui::Theme::Dark
                } else {
                    egui::Theme::Light
                });
            }
            self.style_applied = true;
        }
        self.poll(&ctx);
        for action in command::pressed(&ctx, |action| self.enabled(action)) {
            self.commands.push(Command::Run(action));
        }
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
        self.dialog_ui(&ctx);
        self.palette_ui(&ctx);
        self.toasts_ui(&ctx);
        self.drop_overlay(&ctx);

        let commands = std::mem::take(&mut self.commands);
        for command in commands {
            self.apply(command, &ctx);
        }
        self.remember_table_choices();
        self.drive_screenshot(&ctx);
        self.close_after_cancel(&ctx);
        let busy = self.native_dialog.is_some()
            || self.dialog_busy()
            || !self.toasts.is_empty()
            || self.documents.iter().any(|document| !document.is_settled());
        if busy {
            ctx.request_repaint_after(Duration::from_millis(100));
        }
    }

    /// Closing the window during a restore cancels it through the Cancel button's
    /// path (temp dir removed, half-created stream deleted): the close is held back,
    /// "cancelling…" is shown, and the window closes once the restore has ended or
    /// after [`CLOSE_WAIT`].
    fn close_after_cancel(&mut self, ctx: &egui::Context) {
        let requested = ctx.input(|input| input.viewport().close_requested());
        let restoring = self
            .restore_dialog_mut()
            .is_some_and(|dialog| dialog.is_restoring());
        match self.closing_since {
            None if requested && restoring => {
                ctx.send_viewport_cmd(egui::ViewportCommand::CancelClose);
                if let Some(dialog) = self.restore_dialog_mut() {
                    dialog.cancel();
                }
                self.closing_since = Some(Instant::now());
                self.notify("cancelling… the restore cleans up, then the window closes".into());
                ctx.request_repaint_after(Duration::from_millis(50));
            }
            None => {}
            Some(since) if restoring && since.elapsed() < CLOSE_WAIT => {
                if requested {
                    ctx.send_viewport_cmd(egui::ViewportCommand::CancelClose);
                }
                ctx.request_repaint_after(Duration::from_millis(50));
            }
            Some(_) => {
                self.closing_since = None;
                ctx.send_viewport_cmd(egui::ViewportCommand::Close);
            }
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
            if let Some(path) = document.accepted_path.take() {
                crate::ui::recent::remember(&mut self.recent, path);
                if self.persist_recent {
                    crate::ui::recent::save_in_background(self.recent.clone());
                }
            }
        }
        self.close_refused_documents();
        while let Ok(notice) = self.notice_receiver.try_recv() {
            self.notify(notice);
        }
        if let Some(native) = &self.native_dialog {
            let since = native.since;
            match native.receiver.try_recv() {
                Ok(Some(path)) => {
                    self.native_dialog = None;
                    self.commands.push(Command::Open(OpenSource::Path(path)));
                }
                Ok(None) => {
                    self.native_dialog = None;
                    if since.elapsed() < NO_NATIVE_DIALOG {
                        self.notify(
                            "no system file dialog answered; using the built-in browser".into(),
                        );
                        self.commands.push(Command::Run(Action::BrowseFiles));
                    }
                }
                Err(mpsc::TryRecvError::Empty) => {}
                Err(mpsc::TryRecvError::Disconnected) => {
                    self.native_dialog = None;
                    self.notify("the file dialog stopped without an answer".into());
                }
            }
        }
        self.toasts
            .retain(|toast| toast.shown_at.elapsed() < Duration::from_secs(6));
    }

    /// The notices shown now, newest last.
    pub fn toast_texts(&self) -> Vec<&str> {
        self.toasts
            .iter()
            .map(|toast| toast.text.as_str())
            .collect()
    }

    fn notify(&mut self, text: String) {
        self.toasts.push(Toast {
            text,
            shown_at: Instant::now(),
        });
    }

    fn dialog_ui(&mut self, ctx: &egui::Context) {
        let active = self.active_document_id();
        let Some(open) = self.dialog.as_mut() else {
            return;
        };
        if !open.visible_for(active) {
            return;
        }
        if !open.dialog.show(ctx, &mut self.commands) {
            open.dialog.cancel();
            self.dialog = None;
        }
    }

    fn palette_ui(&mut self, ctx: &egui::Context) {
        let Some(mut palette) = self.palette.take() else {
            return;
        };
        match palette.ui(ctx, |action| self.enabled(action)) {
            PaletteOutcome::Stay => self.palette = Some(palette),
            PaletteOutcome::Close => {}
            PaletteOutcome::Run(action) => self.commands.push(Command::Run(action)),
        }
    }

    /// Shows `dialog` for `document_id`, replacing the open one unless that
    /// one is writing output (then the user is told, nothing is lost).
    fn show_dialog(&mut self, document_id: Option<u64>, dialog: Dialog) {
        if let Some(open) = &self.dialog {
            let same = open.document_id == document_id
                && std::mem::discriminant(&open.dialog) == std::mem::discriminant(&dialog);
            if same && (open.dialog.is_running() || matches!(dialog, Dialog::Restore(_))) {
                return;
            }
            if open.dialog.is_running() {
                let whose = open
                    .document_id
                    .and_then(|id| self.documents.iter().find(|d| d.id == id))
                    .map(|document| format!(" of {}", document.title))
                    .unwrap_or_default();
                let message = format!(
                    "the {}{whose} is still running; cancel or finish it first",
                    open.dialog.name()
                );
                self.notify(message);
                return;
            }
            open.dialog.cancel();
        }
        self.dialog = Some(OpenDialog {
            document_id,
            dialog,
        });
    }

    /// Closes the visible dialog, or the palette if it is open (Esc).
    fn close_dialog(&mut self) {
        if self.palette.take().is_some() {
            return;
        }
        let active = self.active_document_id();
        if self
            .dialog
            .as_ref()
            .is_some_and(|open| open.visible_for(active))
        {
            if let Some(open) = self.dialog.take() {
                open.dialog.cancel();
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

    /// Not a backup, or no such path: no document stays open, a notice says why.
    fn close_refused_documents(&mut self) {
        while let Some(index) = self.documents.iter().position(|d| d.refused.is_some()) {
            let message = self.documents[index].refused.take();
            self.close_document(index);
            if let Some(message) = message {
                self.notify(message);
            }
        }
    }

    /// Opens a dialog for the active backup, or says why it cannot.
    /// `consumer`: the consumer to preselect in "Export consumers as JSON".
    fn open_document_dialog(&mut self, action: Action, consumer: Option<usize>) {
        let (backup, reference_ns) = match self.indexed_backup() {
            Ok(found) => found,
            Err(message) => {
                self.notify(message);
                return;
            }
        };
        let document_id = self.active_document_id();
        let dialog = match action {
            Action::Restore => Dialog::Restore(Box::new(RestoreDialog::new(backup, reference_ns))),
            Action::Export => {
                let spec = self
                    .active_document()
                    .map(|document| document.messages.spec.clone())
                    .unwrap_or_default();
                Dialog::Export(Box::new(ExportDialog::new(backup, &spec, reference_ns)))
            }
            Action::ExportConsumers => {
                if backup.consumers.is_empty() {
                    self.notify("this backup holds no consumers".into());
                    return;
                }
                Dialog::ExportConsumers(Box::new(ConsumerExportDialog::new(backup, consumer)))
            }
            Action::Salvage => Dialog::Salvage(Box::new(SalvageDialog::new(backup))),
            _ => return,
        };
        self.show_dialog(document_id, dialog);
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
            Command::Run(action) => self.run_action(action, ctx),
            Command::Open(source) => self.open_document(source, ctx),
            Command::Close(index) => self.close_document(index),
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
            Command::OpenExportConsumers(selected) => {
                self.open_document_dialog(Action::ExportConsumers, selected)
            }
        }
    }

    fn run_action(&mut self, action: Action, ctx: &egui::Context) {
        match action {
            Action::Open => self.start_native_dialog(false, ctx),
            Action::OpenFolder => self.start_native_dialog(true, ctx),
            Action::OpenPath => self.focus_path = true,
            Action::BrowseFiles => {
                let start = self.browse_start();
                self.show_dialog(None, Dialog::FileBrowser(Box::new(FileBrowser::new(start))));
            }
            Action::OpenSample => self.open_document(OpenSource::Sample, ctx),
            Action::Close => self.close_document(self.active),
            Action::Quit => ctx.send_viewport_cmd(egui::ViewportCommand::Close),
            Action::Restore | Action::Export | Action::Salvage => {
                self.open_document_dialog(action, None)
            }
            Action::ExportConsumers => {
                let selected = self
                    .active_document()
                    .and_then(|document| document.consumers.selected);
                self.open_document_dialog(action, selected);
            }
            Action::ShowOverview
            | Action::ShowConsumers
            | Action::ShowMessages
            | Action::ShowFindings => {
                if let (Some(pane), Some(document)) =
                    (command::pane_of(action), self.active_document_mut())
                {
                    document.pane = pane;
                }
            }
            Action::FilterMessages | Action::GoToSequence => {
                if let Some(document) = self.active_document_mut() {
                    document.pane = Pane::Messages;
                    let id = if action == Action::FilterMessages {
                        messages::FILTER_SUBJECT_ID
                    } else {
                        messages::GOTO_SEQ_ID
                    };
                    ctx.memory_mut(|memory| memory.request_focus(egui::Id::unique(id)));
                }
            }
            // Read by the Messages table itself.
            Action::NextMessage | Action::PreviousMessage => {}
            Action::ToggleTheme => {
                let dark = ctx.theme() != egui::Theme::Dark;
                ctx.set_theme(if dark {
                    egui::Theme::Dark
                } else {
                    egui::Theme::Light
                });
                self.settings.dark_theme = Some(dark);
            }
            Action::CommandPalette => self.palette = Some(Palette::default()),
            Action::CloseDialog => self.close_dialog(),
            Action::KeyboardShortcuts => self.show_dialog(None, Dialog::Shortcuts),
            Action::About => self.show_dialog(None, Dialog::About),
        }
    }

    fn open_document(&mut self, source: OpenSource, ctx: &egui::Context) {
        // Recent files get the path once the scan shows it is a backup (see `poll`).
        if let OpenSource::Path(path) = &source {
            // The folder the backup is in (a backup directory's parent).
            self.settings.last_folder = path.parent().map(PathBuf::from);
        }
        let mut document = Document::open(self.next_id, source, ctx);
        self.settings.apply_table_choices(&mut document);
        if let Some(ns) = self.default_reference_ns {
            document.set_reference_ns(ns);
        }
        self.next_id += 1;
        self.documents.push(document);
        self.active = self.documents.len() - 1;
    }

    /// Closes the document and, with it, its dialog (cancelling its job).
    fn close_document(&mut self, index: usize) {
        if index >= self.documents.len() {
            return;
        }
        let document = self.documents.remove(index);
        document.cancel();
        if self
            .dialog
            .as_ref()
            .is_some_and(|open| open.document_id == Some(document.id))
        {
            if let Some(open) = self.dialog.take() {
                open.dialog.cancel();
            }
        }
        if self.active > index || self.active >= self.documents.len() {
            self.active = self.active.saturating_sub(1);
        }
    }

    /// Where the built-in browser starts: the last folder, else the working directory.
    fn browse_start(&self) -> PathBuf {
        self.settings
            .last_folder
            .clone()
            .filter(|folder| !folder.as_os_str().is_empty())
            .or_else(|| std::env::current_dir().ok())
            .unwrap_or_else(|| PathBuf::from("/"))
    }

    /// Runs the native dialog on a worker thread: a portal that never answers
    /// must not freeze the window (the path field stays usable meanwhile).
    fn start_native_dialog(&mut self, folder: bool, ctx: &egui::Context) {
        if self.native_dialog.is_some() {
            return;
        }
        let (sender, receiver) = mpsc::channel();
        let ctx = ctx.clone();
        let start = self.settings.last_folder.clone();
        let spawned = std::thread::Builder::new()
            .name("open-dialog".into())
            .spawn(move || {
                let mut dialog = rfd::FileDialog::new().set_title("Open a JetStream backup");
                if let Some(start) = start {
                    dialog = dialog.set_directory(start);
                }
                let picked = if folder {
                    dialog.pick_folder()
                } else {
                    dialog
                        .add_filter("backup", &["s2", "json"])
                        .add_filter("all files", &["*"])
                        .pick_file()
                };
                // The window may have closed meanwhile; nobody is left to tell.
                let _ = sender.send(picked);
                ctx.request_repaint();
            });
        match spawned {
            Ok(_) => {
                self.native_dialog = Some(NativeDialog {
                    receiver,
                    since: Instant::now(),
                })
            }
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
                // The window may have closed meanwhile; nobody is left to tell.
                let _ = notices.send(notice);
                ctx.request_repaint();
            });
        if let Err(error) = spawned {
            self.notify(format!("cannot open the save dialog: {error}"));
        }
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
        // The write already failed; that error is the one reported.
        let _ = std::fs::remove_file(&temporary);
    }
    result
}

/// Dense, quiet defaults: tighter spacing, no hover animations; in the light
/// theme text fields get a visible frame (white on near-white otherwise).
fn apply_style(ctx: &egui::Context) {
    ctx.all_styles_mut(|style| {
        style.spacing.item_spacing = egui::vec2(6.0, 3.0);
        style.spacing.button_padding = egui::vec2(5.0, 1.0);
        style.spacing.interact_size.y = 18.0;
        style.animation_time = 0.0;
    });
    ctx.style_mut_of(egui::Theme::Light, |style| {
        let visuals = &mut style.visuals;
        visuals.text_edit_bg_color = Some(egui::Color32::WHITE);
        visuals.panel_fill = egui::Color32::from_gray(238);
        visuals.widgets.inactive.bg_stroke = egui::Stroke::new(1.0, egui::Color32::from_gray(150));
        visuals.widgets.hovered.bg_stroke = egui::Stroke::new(1.0, egui::Color32::from_gray(90));
    });
}
