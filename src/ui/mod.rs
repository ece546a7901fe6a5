//! The egui desktop app. Draws the model and collects user intent as
//! commands; indexing, reading and filtering run on worker threads
//! (`workers`), never on the UI thread.

pub mod app;
pub mod browse_jobs;
pub mod command;
pub mod consumers;
pub mod damaged_rows;
pub mod dialog;
pub mod dialogs;
pub mod document;
pub mod export;
pub mod file_browser;
pub mod filter;
pub mod findings;
pub mod fonts;
pub mod hex_view;
pub mod message_detail;
pub mod messages;
pub mod messages_table;
pub mod overview;
pub mod recent;
pub mod restore;
pub mod salvage;
pub mod sample;
pub mod widgets;
pub mod workers;

pub use app::{App, DetailChoice, ScreenshotPlan, Settings};
pub use command::{Action, Command};
pub use dialogs::{Dialog, DialogKind};
pub use document::{Document, Pane};
pub use workers::OpenSource;

use std::path::PathBuf;
use std::time::Instant;

/// eframe glue: times each frame and hands the root `Ui` to [`App::show`].
struct Window {
    app: App,
    log_frames: bool,
}

impl eframe::App for Window {
    fn ui(&mut self, ui: &mut egui::Ui, frame: &mut eframe::Frame) {
        let started = Instant::now();
        self.app.show(ui);
        self.app
            .frame_stats
            .record(started.elapsed(), frame.info().cpu_usage);
        if self.log_frames && self.app.frame_stats.frames.is_multiple_of(60) {
            eprintln!("jsbackup: {}", self.app.frame_stats.report());
        }
    }

    /// Closing the window during a restore cancels it like the Cancel button,
    /// and waits for its cleanup before the process ends.
    fn on_exit(&mut self, _gl: Option<&eframe::glow::Context>) {
        if let Some(dialog) = self.app.restore_dialog_mut() {
            if !dialog.cancel_and_wait(std::time::Duration::from_secs(15)) {
                eprintln!("jsbackup: the cancelled restore did not finish its cleanup within 15 s");
            }
        }
    }

    /// Theme, last folder and the Messages columns and sort, kept between runs.
    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        save_settings(&self.app.settings, storage);
    }
}

/// The key of [`Settings`] in eframe's storage.
const SETTINGS_KEY: &str = "jsbackup.settings";

/// Writes `settings` to eframe's storage (what the window does on save).
pub fn save_settings(settings: &Settings, storage: &mut dyn eframe::Storage) {
    eframe::set_value(storage, SETTINGS_KEY, settings);
}

/// The stored settings; the defaults when none are stored or they do not parse.
pub fn load_settings(storage: &dyn eframe::Storage) -> Settings {
    eframe::get_value(storage, SETTINGS_KEY).unwrap_or_default()
}

fn native_options(size: [f32; 2]) -> eframe::NativeOptions {
    eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("jsbackup")
            .with_inner_size(size)
            .with_min_inner_size([640.0, 400.0])
            .with_drag_and_drop(true),
        ..Default::default()
    }
}

/// Runs the desktop app, opening `path` if given.
pub fn run_app(path: Option<PathBuf>) -> anyhow::Result<()> {
    let mut app = App::new(recent::load(), true);
    if let Some(path) = path {
        app.open(OpenSource::Path(path));
    }
    let window = Window {
        app,
        log_frames: std::env::var_os("JSBACKUP_FRAME_LOG").is_some(),
    };
    eframe::run_native(
        "jsbackup",
        native_options([1280.0, 800.0]),
        Box::new(|creation| {
            let mut window = window;
            if let Some(storage) = creation.storage {
                window.app.settings = load_settings(storage);
            }
            Ok(Box::new(window))
        }),
    )
    .map_err(|error| anyhow::anyhow!("cannot start the window: {error}"))
}

/// Options of [`run_screenshot`].
pub struct ScreenshotRequest {
    pub path: PathBuf,
    pub pane: Pane,
    pub out: PathBuf,
    pub size: [f32; 2],
    pub reference_ns: Option<i64>,
    pub select_seq: Option<u64>,
    /// A dialog to open over the pane.
    pub dialog: Option<DialogKind>,
    /// Frames drawn after everything is ready, before the shot.
    pub frames: u32,
    /// `Some(false)`: the light theme; `None`: the default (dark).
    pub dark_theme: Option<bool>,
    /// A Messages-pane filter expression (the `where` field).
    pub where_expression: Option<String>,
    /// A header or JSON field of the selected message to highlight in the linked hex view.
    pub choose: Option<DetailChoice>,
}

/// Opens `path` in a real window, waits for indexing, shows the pane, saves a
/// PNG of the window and closes. Returns the frame statistics text.
pub fn run_screenshot(request: ScreenshotRequest) -> anyhow::Result<String> {
    let mut app = App::new(Vec::new(), false);
    app.default_reference_ns = request.reference_ns;
    app.settings.dark_theme = request.dark_theme;
    app.open(OpenSource::Path(request.path.clone()));
    let mut plan = ScreenshotPlan::new(request.pane, request.out.clone(), request.select_seq);
    plan.frames_after_ready = request.frames;
    plan.dialog = request.dialog;
    plan.where_expression = request.where_expression;
    plan.choose = request.choose;
    let result = plan.result.clone();
    app.screenshot = Some(plan);
    let stats = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let stats_out = stats.clone();
    struct Shooter {
        window: Window,
        stats: std::sync::Arc<std::sync::Mutex<String>>,
    }
    impl eframe::App for Shooter {
        fn persist_egui_memory(&self) -> bool {
            false
        }

        fn ui(&mut self, ui: &mut egui::Ui, frame: &mut eframe::Frame) {
            self.window.ui(ui, frame);
            if let Ok(mut text) = self.stats.lock() {
                *text = self.window.app.frame_stats.report();
                if let Some(after) = self
                    .window
                    .app
                    .documents
                    .iter()
                    .find_map(|document| document.first_rows_after)
                {
                    text.push_str(&format!(
                        "; first rows after {:.0} ms",
                        after.as_secs_f64() * 1e3
                    ));
                }
            }
        }
    }
    let shooter = Shooter {
        window: Window {
            app,
            log_frames: std::env::var_os("JSBACKUP_FRAME_LOG").is_some(),
        },
        stats: stats_out,
    };
    // A screenshot shows the defaults: no stored window size, theme or memory,
    // and nothing written over the user's stored state.
    let scratch = std::env::temp_dir().join(format!("jsbackup-screenshot-{}", std::process::id()));
    let mut options = native_options(request.size);
    options.persist_window = false;
    options.persistence_path = Some(scratch.join("state.ron"));
    let outcome = eframe::run_native(
        "jsbackup",
        options,
        Box::new(|_creation| Ok(Box::new(shooter))),
    )
    .map_err(|error| anyhow::anyhow!("cannot start the window: {error}"));
    if scratch.exists() {
        if let Err(error) = std::fs::remove_dir_all(&scratch) {
            eprintln!("jsbackup: cannot remove {}: {error}", scratch.display());
        }
    }
    outcome?;
    let outcome = result
        .lock()
        .map_err(|_| anyhow::anyhow!("screenshot state poisoned"))?
        .clone();
    match outcome {
        Some(Ok(())) => Ok(stats.lock().map(|text| text.clone()).unwrap_or_default()),
        Some(Err(message)) => Err(anyhow::anyhow!(message)),
        None => Err(anyhow::anyhow!(
            "the window closed before the screenshot of {} was taken",
            request.path.display()
        )),
    }
}
