//! The one dialog the app shows at a time ([`Dialog`]) and the document it
//! belongs to ([`OpenDialog`]): closing that document closes it, another
//! document never shows it, Esc closes it. Every dialog has the same
//! `show(ctx, commands) -> still open` shape. The dialogs' shared widgets
//! are in `dialog`.

use super::command::{self, Command};
use super::export::{ConsumerExportDialog, ExportDialog};
use super::file_browser::FileBrowser;
use super::restore::RestoreDialog;
use super::salvage::SalvageDialog;

/// A dialog the screenshot command opens before the shot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialogKind {
    Restore,
    Export,
    Salvage,
    /// Help → Keyboard shortcuts.
    Shortcuts,
    /// The command palette (not a dialog, but shown the same way).
    Palette,
}

impl DialogKind {
    pub fn parse(text: &str) -> Option<DialogKind> {
        match text.to_ascii_lowercase().as_str() {
            "restore" => Some(DialogKind::Restore),
            "export" => Some(DialogKind::Export),
            "salvage" => Some(DialogKind::Salvage),
            "shortcuts" => Some(DialogKind::Shortcuts),
            "palette" => Some(DialogKind::Palette),
            _ => None,
        }
    }
}

pub enum Dialog {
    Restore(Box<RestoreDialog>),
    Export(Box<ExportDialog>),
    ExportConsumers(Box<ConsumerExportDialog>),
    Salvage(Box<SalvageDialog>),
    FileBrowser(Box<FileBrowser>),
    Shortcuts,
    About,
}

impl Dialog {
    /// What it is, for notices ("a restore is still running").
    pub fn name(&self) -> &'static str {
        match self {
            Dialog::Restore(_) => "restore",
            Dialog::Export(_) => "export",
            Dialog::ExportConsumers(_) => "consumer export",
            Dialog::Salvage(_) => "salvage",
            Dialog::FileBrowser(_) => "file browser",
            Dialog::Shortcuts => "keyboard shortcuts",
            Dialog::About => "about",
        }
    }

    /// A job (or a native picker) is running.
    pub fn is_busy(&self) -> bool {
        match self {
            Dialog::Restore(dialog) => dialog.is_busy(),
            Dialog::Export(dialog) => dialog.is_busy(),
            Dialog::ExportConsumers(dialog) => dialog.is_busy(),
            Dialog::Salvage(dialog) => dialog.is_busy(),
            Dialog::FileBrowser(_) | Dialog::Shortcuts | Dialog::About => false,
        }
    }

    /// Writing output (replacing the dialog would cancel real work).
    pub fn is_running(&self) -> bool {
        match self {
            Dialog::Restore(dialog) => dialog.job.is_some(),
            Dialog::Export(dialog) => dialog.job.is_some(),
            Dialog::ExportConsumers(dialog) => dialog.job.is_some(),
            Dialog::Salvage(dialog) => dialog.job.is_some(),
            Dialog::FileBrowser(_) | Dialog::Shortcuts | Dialog::About => false,
        }
    }

    /// Draws the dialog; returns false once the user closed it.
    pub fn show(&mut self, ctx: &egui::Context, commands: &mut Vec<Command>) -> bool {
        match self {
            Dialog::Restore(dialog) => dialog.show(ctx, commands),
            Dialog::Export(dialog) => dialog.show(ctx, commands),
            Dialog::ExportConsumers(dialog) => dialog.show(ctx, commands),
            Dialog::Salvage(dialog) => dialog.show(ctx, commands),
            Dialog::FileBrowser(dialog) => dialog.show(ctx, commands),
            Dialog::Shortcuts => simple_window(ctx, "Keyboard shortcuts", command::shortcuts_ui),
            Dialog::About => simple_window(ctx, "About jsbackup", command::about_ui),
        }
    }

    /// Stops what the dialog runs (it is being closed).
    pub fn cancel(&self) {
        match self {
            Dialog::Restore(dialog) => dialog.cancel(),
            Dialog::Export(dialog) => dialog.cancel(),
            Dialog::ExportConsumers(_) => {}
            Dialog::Salvage(dialog) => dialog.cancel(),
            Dialog::FileBrowser(_) | Dialog::Shortcuts | Dialog::About => {}
        }
    }
}

fn simple_window(ctx: &egui::Context, title: &str, body: impl FnOnce(&mut egui::Ui)) -> bool {
    let mut open = true;
    egui::Window::new(title)
        .open(&mut open)
        .collapsible(false)
        .resizable(false)
        .show(ctx, |ui| {
            egui::ScrollArea::vertical()
                .max_height(ctx.content_rect().height() - 120.0)
                .show(ui, body)
        });
    open
}

/// The open dialog and the document it was opened for (`None`: the app's own,
/// such as About).
pub struct OpenDialog {
    pub document_id: Option<u64>,
    pub dialog: Dialog,
}

impl OpenDialog {
    /// Shown while `active_document_id` is its document (app dialogs always).
    pub fn visible_for(&self, active_document_id: Option<u64>) -> bool {
        self.document_id.is_none() || self.document_id == active_document_id
    }
}
