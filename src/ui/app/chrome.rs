//! Window chrome drawn by the app: the menu bar (from the command table)
//! with the path field, the document list, the status bar, the welcome
//! screen, toasts, the drop overlay and the account-backup list.
//!
//! Drawing only: what the user asks for goes out as [`Command`]s.

use super::App;
use crate::ui::command::{self, Action, Command, Menu};
use crate::ui::document::{Document, Pane};
use crate::ui::workers::OpenSource;
use crate::ui::{consumers, findings, messages, overview, salvage, widgets};
use egui::{Key, RichText, Ui};
use std::path::PathBuf;
use std::sync::atomic::Ordering;

/// The id of the path field (Open path… focuses it).
const PATH_FIELD_ID: &str = "open_path_field";

/// Panes are laid out at least this wide; a narrower window scrolls sideways.
const PANE_MIN_WIDTH: f32 = 1060.0;

impl App {
    pub(super) fn menu_ui(&mut self, ui: &mut Ui) {
        let mut pushed = Vec::new();
        egui::MenuBar::new().ui(ui, |ui| {
            for (menu, title) in [
                (Menu::File, "File"),
                (Menu::View, "View"),
                (Menu::Help, "Help"),
            ] {
                ui.menu_button(title, |ui| {
                    command::menu_ui(ui, menu, |action| self.enabled(action), &mut pushed);
                });
            }
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                let label = if ui.visuals().dark_mode {
                    "light"
                } else {
                    "dark"
                };
                if ui
                    .small_button(label)
                    .on_hover_text(command::info(Action::ToggleTheme).tooltip)
                    .clicked()
                {
                    pushed.push(Command::Run(Action::ToggleTheme));
                }
                // With backups open the welcome screen is gone: the path field lives here.
                if !self.documents.is_empty() {
                    ui.with_layout(egui::Layout::left_to_right(egui::Align::Center), |ui| {
                        ui.separator();
                        self.path_field_ui(ui, "Open path", "Go", 260.0);
                    });
                }
            });
        });
        self.commands.extend(pushed);
    }

    /// A path field with an Open button (Enter opens too).
    fn path_field_ui(&mut self, ui: &mut Ui, label: &str, button: &str, width: f32) {
        let label = ui.label(label);
        let id = egui::Id::unique(PATH_FIELD_ID);
        let response = ui
            .add(
                egui::TextEdit::singleline(&mut self.path_text)
                    .id(id)
                    .hint_text("backup directory, stream.tar.s2 or backup.json")
                    .desired_width(width),
            )
            .labelled_by(label.id)
            .on_hover_text(command::info(Action::OpenPath).tooltip);
        if self.focus_path {
            response.request_focus();
            self.focus_path = false;
        }
        let entered = response.lost_focus() && ui.input(|input| input.key_pressed(Key::Enter));
        if (ui.button(button).on_hover_text("Open this path").clicked() || entered)
            && !self.path_text.trim().is_empty()
        {
            let path = PathBuf::from(self.path_text.trim());
            self.commands.push(Command::Open(OpenSource::Path(path)));
        }
    }

    pub(super) fn status_ui(&mut self, ui: &mut Ui) {
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
            if let Some(native) = &self.native_dialog {
                let since = native.since;
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
                    ui.label(if progress.checking_objects {
                        format!("Checking the objects of {}", document.title)
                    } else {
                        format!("Indexing {}", document.title)
                    });
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
                                "{} · {} · {} message{} · {} finding{} · index {}",
                                backup.stream_name,
                                backup.format.map(|format| format.label()).unwrap_or("?"),
                                widgets::count(backup.messages.len() as u64),
                                widgets::plural(backup.messages.len() as u64),
                                widgets::count(backup.findings.len() as u64),
                                widgets::plural(backup.findings.len() as u64),
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

    pub(super) fn welcome_ui(&mut self, ui: &mut Ui) {
        ui.add_space(24.0);
        ui.vertical_centered(|ui| {
            ui.heading("jsbackup");
            widgets::weak(ui, "Open a NATS JetStream stream backup (v1 tar or v2 NATSARC1) to browse, verify and restore it.");
        });
        ui.add_space(16.0);
        ui.horizontal(|ui| {
            if ui
                .button(format!(
                    "Open…  ({})",
                    command::shortcut_text(ui.ctx(), command::info(Action::Open))
                ))
                .clicked()
            {
                self.commands.push(Command::Run(Action::Open));
            }
            if ui.button("Open folder…").clicked() {
                self.commands.push(Command::Run(Action::OpenFolder));
            }
            if ui.button("Open the sample backup").clicked() {
                self.commands.push(Command::Open(OpenSource::Sample));
            }
            if ui
                .button("Browse files…")
                .on_hover_text(command::info(Action::BrowseFiles).tooltip)
                .clicked()
            {
                self.commands.push(Command::Run(Action::BrowseFiles));
            }
        });
        ui.add_space(8.0);
        ui.horizontal(|ui| self.path_field_ui(ui, "Path:", "Open", 420.0));
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

    pub(super) fn documents_ui(&mut self, ui: &mut Ui) {
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
                        // Its dialog is hidden while another backup is shown: say it still works.
                        let running = self.dialog.as_ref().filter(|open| {
                            open.document_id == Some(document.id) && open.dialog.is_running()
                        });
                        if let Some(open) = running {
                            ui.spinner()
                                .on_hover_text(format!("{} running", open.dialog.name()));
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

    pub(super) fn document_ui(&mut self, ui: &mut Ui) {
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
        let commands = &mut self.commands;
        // Findings are prose: they wrap to the window instead of scrolling sideways.
        if document.pane == Pane::Findings {
            findings::findings_ui(ui, document, commands);
            return;
        }
        // A window narrower than the pane's tables scrolls sideways instead of
        // clipping; that bar is solid (a floating one shows only on hover, so
        // nothing would say there is more), the panes keep their own style.
        let pane_scroll = ui.spacing().scroll;
        ui.spacing_mut().scroll = egui::style::ScrollStyle::solid();
        egui::ScrollArea::horizontal()
            .id_salt(("pane_scroll", document.id))
            .auto_shrink([false, false])
            .show(ui, |ui| {
                ui.spacing_mut().scroll = pane_scroll;
                ui.set_min_width(PANE_MIN_WIDTH);
                match document.pane {
                    Pane::Overview => overview::overview_ui(ui, document, commands),
                    Pane::Consumers => consumers::consumers_ui(ui, document, commands),
                    Pane::Messages => messages::messages_ui(ui, document, commands),
                    Pane::Findings => {}
                }
            });
    }

    pub(super) fn toasts_ui(&mut self, ctx: &egui::Context) {
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

    pub(super) fn drop_overlay(&self, ctx: &egui::Context) {
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
