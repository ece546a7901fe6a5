//! What the user can ask the app to do: the [`Command`]s panes and dialogs
//! send, and the one table of user-facing [`Action`]s (label, shortcut,
//! tooltip, menu). Menus, keyboard handling, Help → Keyboard shortcuts, the
//! command palette and the About text are all generated from [`TABLE`].

use super::document::Pane;
use super::workers::OpenSource;
use egui::{Key, KeyboardShortcut, Modifiers, RichText, Ui};

/// Everything the UI asks for; applied by the app after the frame.
#[derive(Debug, Clone)]
pub enum Command {
    /// A command of the table (menus, shortcuts, the palette).
    Run(Action),
    Open(OpenSource),
    Close(usize),
    Activate(usize),
    ShowPane(Pane),
    GoToSeq(u64),
    FilterSubject(String),
    CancelIndexing(usize),
    Notice(String),
    SaveRaw {
        suggested_name: String,
        bytes: Vec<u8>,
    },
    /// "Export consumers as JSON"; the consumer selected in the pane, if any.
    OpenExportConsumers(Option<usize>),
}

/// A user-facing command: one row of [`TABLE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Open,
    OpenFolder,
    OpenPath,
    BrowseFiles,
    OpenSample,
    Close,
    Quit,
    Restore,
    Export,
    ExportConsumers,
    Salvage,
    ShowOverview,
    ShowConsumers,
    ShowMessages,
    ShowFindings,
    FilterMessages,
    GoToSequence,
    NextMessage,
    PreviousMessage,
    ToggleTheme,
    CommandPalette,
    CloseDialog,
    KeyboardShortcuts,
    About,
}

/// Where a command appears in the menu bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Menu {
    File,
    View,
    Help,
    /// Only by its shortcut (and the palette, when `scope` is global).
    None,
}

/// Who reads a command's shortcut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The app, every frame (and the palette offers it).
    Global,
    /// The Messages table while it has the keyboard (listed, not dispatched).
    MessagesTable,
}

/// One user-facing command.
#[derive(Debug, Clone, Copy)]
pub struct CommandInfo {
    pub action: Action,
    pub label: &'static str,
    pub shortcut: Option<KeyboardShortcut>,
    pub tooltip: &'static str,
    pub menu: Menu,
    /// A separator goes above this entry in its menu.
    pub group_start: bool,
    pub scope: Scope,
}

const fn ctrl(key: Key) -> Option<KeyboardShortcut> {
    Some(KeyboardShortcut::new(Modifiers::COMMAND, key))
}

const fn ctrl_shift(key: Key) -> Option<KeyboardShortcut> {
    Some(KeyboardShortcut::new(
        Modifiers::COMMAND.plus(Modifiers::SHIFT),
        key,
    ))
}

const fn plain(key: Key) -> Option<KeyboardShortcut> {
    Some(KeyboardShortcut::new(Modifiers::NONE, key))
}

const fn entry(
    action: Action,
    label: &'static str,
    shortcut: Option<KeyboardShortcut>,
    tooltip: &'static str,
    menu: Menu,
    group_start: bool,
) -> CommandInfo {
    CommandInfo {
        action,
        label,
        shortcut,
        tooltip,
        menu,
        group_start,
        scope: Scope::Global,
    }
}

/// Every user-facing command, in menu order.
pub const TABLE: &[CommandInfo] = &[
    entry(
        Action::Open,
        "Open…",
        ctrl(Key::O),
        "Open a backup file with the system file dialog",
        Menu::File,
        false,
    ),
    entry(
        Action::OpenFolder,
        "Open folder…",
        None,
        "Open a backup directory with the system folder dialog",
        Menu::File,
        false,
    ),
    entry(
        Action::OpenPath,
        "Open path…",
        ctrl(Key::L),
        "Type or paste the path of a backup directory or file",
        Menu::File,
        false,
    ),
    entry(
        Action::BrowseFiles,
        "Browse files…",
        ctrl_shift(Key::O),
        "The built-in file browser (works without a system file dialog)",
        Menu::File,
        false,
    ),
    entry(
        Action::Restore,
        "Restore…",
        ctrl(Key::R),
        "Restore the backup to a local store directory or a server",
        Menu::File,
        true,
    ),
    entry(
        Action::Export,
        "Export…",
        ctrl(Key::E),
        "Write the (filtered) messages and consumers as a new backup",
        Menu::File,
        false,
    ),
    entry(
        Action::ExportConsumers,
        "Export consumers as JSON…",
        None,
        "One config and state file per consumer",
        Menu::File,
        false,
    ),
    entry(
        Action::Salvage,
        "Save salvaged copy…",
        None,
        "Write a copy of a damaged backup with every readable message",
        Menu::File,
        false,
    ),
    entry(
        Action::OpenSample,
        "Open the sample backup",
        None,
        "A small built-in backup to look around with",
        Menu::File,
        true,
    ),
    entry(
        Action::Close,
        "Close",
        ctrl(Key::W),
        "Close the active backup (and its dialog)",
        Menu::File,
        false,
    ),
    entry(
        Action::Quit,
        "Quit",
        ctrl(Key::Q),
        "Close the window (settings are kept for the next run)",
        Menu::File,
        true,
    ),
    entry(
        Action::ShowOverview,
        "Overview",
        ctrl(Key::Num1),
        "Stream config, state and subjects",
        Menu::View,
        false,
    ),
    entry(
        Action::ShowConsumers,
        "Consumers",
        ctrl(Key::Num2),
        "Consumers, their positions and what they owe",
        Menu::View,
        false,
    ),
    entry(
        Action::ShowMessages,
        "Messages",
        ctrl(Key::Num3),
        "Browse and filter the messages",
        Menu::View,
        false,
    ),
    entry(
        Action::ShowFindings,
        "Findings",
        ctrl(Key::Num4),
        "Damage and inconsistencies found while indexing",
        Menu::View,
        false,
    ),
    entry(
        Action::FilterMessages,
        "Filter messages",
        ctrl(Key::F),
        "Focus the subject filter of the Messages pane",
        Menu::View,
        true,
    ),
    entry(
        Action::GoToSequence,
        "Go to sequence",
        ctrl(Key::G),
        "Focus the go-to-sequence field of the Messages pane",
        Menu::View,
        false,
    ),
    CommandInfo {
        scope: Scope::MessagesTable,
        ..entry(
            Action::NextMessage,
            "Next message",
            plain(Key::ArrowDown),
            "Select the next row of the Messages table",
            Menu::None,
            false,
        )
    },
    CommandInfo {
        scope: Scope::MessagesTable,
        ..entry(
            Action::PreviousMessage,
            "Previous message",
            plain(Key::ArrowUp),
            "Select the previous row of the Messages table",
            Menu::None,
            false,
        )
    },
    entry(
        Action::ToggleTheme,
        "Dark / light theme",
        None,
        "Switch between the dark and the light theme",
        Menu::View,
        true,
    ),
    entry(
        Action::CommandPalette,
        "Command palette…",
        ctrl_shift(Key::P),
        "Find and run any command by name",
        Menu::View,
        false,
    ),
    entry(
        Action::CloseDialog,
        "Close dialog",
        plain(Key::Escape),
        "Close the open dialog or the command palette",
        Menu::None,
        false,
    ),
    entry(
        Action::KeyboardShortcuts,
        "Keyboard shortcuts",
        None,
        "Every command with its shortcut",
        Menu::Help,
        false,
    ),
    entry(
        Action::About,
        "About jsbackup",
        None,
        "Version, licence and the main shortcuts",
        Menu::Help,
        false,
    ),
];

/// The table row of `action`.
pub fn info(action: Action) -> &'static CommandInfo {
    TABLE
        .iter()
        .find(|info| info.action == action)
        .unwrap_or(&TABLE[0])
}

/// The shortcut as the user reads it ("Ctrl+O"), or "".
pub fn shortcut_text(ctx: &egui::Context, info: &CommandInfo) -> String {
    info.shortcut
        .map(|shortcut| ctx.format_shortcut(&shortcut))
        .unwrap_or_default()
}

/// The pane a View command shows.
pub fn pane_of(action: Action) -> Option<Pane> {
    match action {
        Action::ShowOverview => Some(Pane::Overview),
        Action::ShowConsumers => Some(Pane::Consumers),
        Action::ShowMessages => Some(Pane::Messages),
        Action::ShowFindings => Some(Pane::Findings),
        _ => None,
    }
}

/// Global shortcuts pressed this frame whose command is enabled (consumed).
pub fn pressed(ctx: &egui::Context, enabled: impl Fn(Action) -> bool) -> Vec<Action> {
    let mut actions = Vec::new();
    // egui matches Shift and Alt loosely (Ctrl+O also fires on Ctrl+Shift+O):
    // the shortcuts with more modifiers get the first chance to consume.
    let mut bound: Vec<(&CommandInfo, KeyboardShortcut)> = TABLE
        .iter()
        .filter(|info| info.scope == Scope::Global)
        .filter_map(|info| info.shortcut.map(|shortcut| (info, shortcut)))
        .collect();
    bound.sort_by_key(|(_, shortcut)| std::cmp::Reverse(modifier_count(shortcut.modifiers)));
    for (info, shortcut) in bound {
        if enabled(info.action) && ctx.input_mut(|input| input.consume_shortcut(&shortcut)) {
            actions.push(info.action);
        }
    }
    actions
}

fn modifier_count(modifiers: Modifiers) -> u8 {
    [
        modifiers.alt,
        modifiers.ctrl || modifiers.command || modifiers.mac_cmd,
        modifiers.shift,
    ]
    .into_iter()
    .map(u8::from)
    .sum()
}

/// The entries of one menu, with separators and enabled states.
pub fn menu_ui(
    ui: &mut Ui,
    menu: Menu,
    enabled: impl Fn(Action) -> bool,
    commands: &mut Vec<Command>,
) {
    for (index, info) in TABLE.iter().filter(|info| info.menu == menu).enumerate() {
        if info.group_start && index > 0 {
            ui.separator();
        }
        let mut button = egui::Button::new(info.label);
        if info.shortcut.is_some() {
            button = button.shortcut_text(shortcut_text(ui.ctx(), info));
        }
        if ui
            .add_enabled(enabled(info.action), button)
            .on_hover_text(info.tooltip)
            .clicked()
        {
            commands.push(Command::Run(info.action));
        }
    }
}

/// The Keyboard shortcuts window body: every command of the table with a shortcut.
pub fn shortcuts_ui(ui: &mut Ui) {
    egui::Grid::new("keyboard_shortcuts")
        .striped(true)
        .num_columns(3)
        .show(ui, |ui| {
            for info in TABLE.iter().filter(|info| info.shortcut.is_some()) {
                ui.label(RichText::new(shortcut_text(ui.ctx(), info)).monospace());
                ui.label(info.label);
                super::widgets::weak(ui, info.tooltip);
                ui.end_row();
            }
        });
}

/// The About window body; the shortcut line is generated from the table.
pub fn about_ui(ui: &mut Ui) {
    ui.label(RichText::new(format!("jsbackup {}", env!("CARGO_PKG_VERSION"))).strong());
    ui.label(env!("CARGO_PKG_DESCRIPTION"));
    super::widgets::weak(ui, format!("License {}", env!("CARGO_PKG_LICENSE")));
    ui.add_space(6.0);
    ui.label(about_shortcuts(ui.ctx()));
}

/// "Shortcuts: Ctrl+O Open… · …" for every command with a shortcut.
pub fn about_shortcuts(ctx: &egui::Context) -> String {
    let items: Vec<String> = TABLE
        .iter()
        .filter(|info| info.shortcut.is_some())
        .map(|info| format!("{} {}", shortcut_text(ctx, info), info.label))
        .collect();
    format!("Shortcuts: {}", items.join(" · "))
}

/// The command palette: a filterable list of the global commands.
#[derive(Debug, Default)]
pub struct Palette {
    pub query: String,
    /// Index into the filtered list.
    pub selected: usize,
    focused: bool,
}

/// What the palette asks for after a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaletteOutcome {
    Stay,
    Run(Action),
    Close,
}

/// The label of the palette's text field (tests find it by this).
pub const PALETTE_FIELD: &str = "Command";

impl Palette {
    /// Commands whose label or tooltip contains every word of the query.
    pub fn matches(&self, enabled: &impl Fn(Action) -> bool) -> Vec<&'static CommandInfo> {
        let words: Vec<String> = self
            .query
            .split_whitespace()
            .map(str::to_lowercase)
            .collect();
        TABLE
            .iter()
            .filter(|info| info.scope == Scope::Global && info.action != Action::CommandPalette)
            .filter(|info| enabled(info.action))
            .filter(|info| {
                let haystack = format!("{} {}", info.label, info.tooltip).to_lowercase();
                words.iter().all(|word| haystack.contains(word))
            })
            .collect()
    }

    /// Draws the palette; Enter runs the selected command, Up/Down move.
    pub fn ui(&mut self, ctx: &egui::Context, enabled: impl Fn(Action) -> bool) -> PaletteOutcome {
        let mut outcome = PaletteOutcome::Stay;
        let shown = egui::Window::new("Command palette")
            .id(egui::Id::unique("command_palette"))
            .title_bar(false)
            .collapsible(false)
            .resizable(false)
            .anchor(egui::Align2::CENTER_TOP, egui::vec2(0.0, 40.0))
            .fixed_size(egui::vec2(460.0, 0.0))
            .show(ctx, |ui| {
                outcome = self.body_ui(ui, &enabled);
            });
        // A click anywhere else closes it, like Esc.
        let clicked_elsewhere = shown.is_some_and(|shown| shown.response.clicked_elsewhere());
        if outcome == PaletteOutcome::Stay && clicked_elsewhere {
            outcome = PaletteOutcome::Close;
        }
        outcome
    }

    fn body_ui(&mut self, ui: &mut Ui, enabled: &impl Fn(Action) -> bool) -> PaletteOutcome {
        let (down, up, enter) = ui.input_mut(|input| {
            (
                input.consume_key(Modifiers::NONE, Key::ArrowDown),
                input.consume_key(Modifiers::NONE, Key::ArrowUp),
                input.key_pressed(Key::Enter),
            )
        });
        let label = ui.label(PALETTE_FIELD);
        let response = ui
            .add(
                egui::TextEdit::singleline(&mut self.query)
                    .hint_text("type to filter, Enter runs, Esc closes")
                    .desired_width(f32::INFINITY),
            )
            .labelled_by(label.id);
        if !self.focused {
            response.request_focus();
            self.focused = true;
        }
        if response.changed() {
            self.selected = 0;
        }
        let matches = self.matches(enabled);
        if down {
            self.selected = (self.selected + 1).min(matches.len().saturating_sub(1));
        }
        if up {
            self.selected = self.selected.saturating_sub(1);
        }
        let mut outcome = PaletteOutcome::Stay;
        if enter {
            if let Some(info) = matches.get(self.selected) {
                outcome = PaletteOutcome::Run(info.action);
            } else {
                outcome = PaletteOutcome::Close;
            }
        }
        ui.separator();
        if matches.is_empty() {
            super::widgets::weak(ui, "no command matches");
        }
        for (index, info) in matches.iter().enumerate() {
            ui.horizontal(|ui| {
                let clicked = ui
                    .selectable_label(index == self.selected, info.label)
                    .on_hover_text(info.tooltip)
                    .clicked();
                if clicked {
                    outcome = PaletteOutcome::Run(info.action);
                }
                ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                    super::widgets::weak(ui, shortcut_text(ui.ctx(), info));
                });
            });
        }
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_has_one_row_and_shortcuts_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for info in TABLE {
            assert!(seen.insert(info.action), "{:?} twice", info.action);
        }
        let shortcuts: Vec<KeyboardShortcut> =
            TABLE.iter().filter_map(|info| info.shortcut).collect();
        for (index, shortcut) in shortcuts.iter().enumerate() {
            assert!(
                !shortcuts[index + 1..].contains(shortcut),
                "{shortcut:?} bound twice"
            );
        }
        assert_eq!(info(Action::About).label, "About jsbackup");
    }

    #[test]
    fn palette_filters_by_every_word() {
        let palette = Palette {
            query: "salvaged copy".into(),
            ..Default::default()
        };
        let found: Vec<Action> = palette
            .matches(&|_| true)
            .iter()
            .map(|i| i.action)
            .collect();
        assert_eq!(found, vec![Action::Salvage]);
        let disabled = palette.matches(&|action| action != Action::Salvage);
        assert!(disabled.is_empty());
    }
}
