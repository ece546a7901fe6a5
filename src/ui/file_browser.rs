//! A small built-in file browser for systems without a file-chooser portal
//! or zenity (where rfd's dialog returns at once as if cancelled): list a
//! directory, go up, open a backup folder or a data file. The directory is
//! read on a worker thread, never on the UI thread.

use super::command::Command;
use super::widgets;
use super::workers::{self, Job, OpenSource};
use egui::{RichText, Ui};
use std::path::{Path, PathBuf};

/// One directory entry.
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: String,
    pub path: PathBuf,
    pub is_dir: bool,
    pub bytes: u64,
}

/// The label of the browser's path field.
pub const BROWSER_PATH_FIELD: &str = "Folder";

pub struct FileBrowser {
    pub dir: PathBuf,
    pub path_text: String,
    pub entries: Option<Result<Vec<Entry>, String>>,
    listing: Option<Job<Vec<Entry>>>,
}

impl FileBrowser {
    /// Starts at `dir` (listing begins on the first frame).
    pub fn new(dir: PathBuf) -> Self {
        Self {
            path_text: dir.display().to_string(),
            dir,
            entries: None,
            listing: None,
        }
    }

    fn go(&mut self, dir: PathBuf, ctx: &egui::Context) {
        self.path_text = dir.display().to_string();
        self.dir = dir.clone();
        self.entries = None;
        self.listing = Some(workers::spawn_job("list-dir", ctx, move |_, _| {
            list_dir(&dir)
        }));
    }

    /// Draws the browser; false once closed (an Open also closes it).
    pub fn show(&mut self, ctx: &egui::Context, commands: &mut Vec<Command>) -> bool {
        if self.entries.is_none() && self.listing.is_none() {
            self.go(self.dir.clone(), ctx);
        }
        if let Some(listing) = &self.listing {
            if let Some(result) = listing.try_result() {
                self.entries = Some(result);
                self.listing = None;
            }
        }
        let mut open = true;
        let mut opened = false;
        egui::Window::new("Open a backup")
            .id(egui::Id::unique("file_browser"))
            .open(&mut open)
            .collapsible(false)
            .default_width(560.0)
            .default_height(420.0)
            .show(ctx, |ui| opened = self.body_ui(ui, commands));
        open && !opened
    }

    fn body_ui(&mut self, ui: &mut Ui, commands: &mut Vec<Command>) -> bool {
        let mut target: Option<PathBuf> = None;
        let mut open_path: Option<PathBuf> = None;
        ui.horizontal(|ui| {
            if ui.button("Up").on_hover_text("The parent folder").clicked() {
                target = self.dir.parent().map(Path::to_path_buf);
            }
            let label = ui.label(BROWSER_PATH_FIELD);
            let response = ui
                .add(egui::TextEdit::singleline(&mut self.path_text).desired_width(320.0))
                .labelled_by(label.id);
            let entered = response.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            if ui.button("Go").clicked() || entered {
                target = Some(PathBuf::from(self.path_text.trim()));
            }
        });
        ui.horizontal(|ui| {
            if ui
                .button("Open this folder")
                .on_hover_text("Open the folder shown as a backup directory")
                .clicked()
            {
                open_path = Some(self.dir.clone());
            }
            widgets::weak(ui, "click a folder to enter it, a file to open it");
        });
        ui.separator();
        egui::ScrollArea::vertical()
            .auto_shrink([false, false])
            .max_height(ui.ctx().content_rect().height() - 200.0)
            .show(ui, |ui| match &self.entries {
                None => {
                    ui.spinner();
                }
                Some(Err(error)) => {
                    ui.label(RichText::new(error).color(widgets::error_color(ui)));
                }
                Some(Ok(entries)) => {
                    if entries.is_empty() {
                        widgets::weak(ui, "empty folder");
                    }
                    for entry in entries {
                        ui.horizontal(|ui| {
                            let text = if entry.is_dir {
                                format!("{}/", entry.name)
                            } else {
                                entry.name.clone()
                            };
                            if ui
                                .selectable_label(false, RichText::new(text).monospace())
                                .clicked()
                            {
                                if entry.is_dir {
                                    target = Some(entry.path.clone());
                                } else {
                                    open_path = Some(entry.path.clone());
                                }
                            }
                            if entry.is_dir {
                                if ui
                                    .small_button("Open")
                                    .on_hover_text("Open as a backup directory")
                                    .clicked()
                                {
                                    open_path = Some(entry.path.clone());
                                }
                            } else {
                                widgets::weak(ui, widgets::bytes(entry.bytes));
                            }
                        });
                    }
                }
            });
        if let Some(dir) = target {
            self.go(dir, ui.ctx());
        }
        match open_path {
            Some(path) => {
                commands.push(Command::Open(OpenSource::Path(path)));
                true
            }
            None => false,
        }
    }
}

/// Folders first, then files, each by name; hidden entries left out.
pub fn list_dir(dir: &Path) -> Result<Vec<Entry>, String> {
    let reader = std::fs::read_dir(dir)
        .map_err(|error| format!("cannot list {}: {error}", dir.display()))?;
    let mut entries = Vec::new();
    for item in reader {
        let item = item.map_err(|error| format!("cannot list {}: {error}", dir.display()))?;
        let name = item.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let path = item.path();
        // Follows symlinks, so a linked folder is entered like a folder.
        let metadata = std::fs::metadata(&path).ok();
        let is_dir = metadata.as_ref().is_some_and(|m| m.is_dir());
        let bytes = metadata.as_ref().map_or(0, |m| m.len());
        entries.push(Entry {
            name,
            path,
            is_dir,
            bytes,
        });
    }
    entries.sort_by(|a, b| b.is_dir.cmp(&a.is_dir).then_with(|| a.name.cmp(&b.name)));
    Ok(entries)
}
