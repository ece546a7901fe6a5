//! The `screenshot` command's plan (open, wait until indexed, show a pane
//! and maybe a dialog, save a PNG, close) and the frame timing it reports.
//! It drives the app like a user would; it never reads the backup itself.

use super::App;
use crate::ui::command::Action;
use crate::ui::dialogs::DialogKind;
use crate::ui::document::Pane;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A request to render one pane to a PNG and close (the `screenshot` command).
pub struct ScreenshotPlan {
    pub pane: Pane,
    pub out: PathBuf,
    pub select_seq: Option<u64>,
    /// A dialog to open over the pane.
    pub dialog: Option<DialogKind>,
    /// A filter expression to type into the Messages pane's `where` field.
    pub where_expression: Option<String>,
    /// A header line or JSON member of the selected message to choose, so the
    /// linked hex view highlights its bytes.
    pub choose: Option<DetailChoice>,
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
            where_expression: None,
            choose: None,
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

/// What to choose in the selected message's detail (`--select-header`, `--select-field`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DetailChoice {
    /// The first header line with this name (ASCII case-insensitive).
    Header(String),
    /// The first JSON member with this key.
    Field(String),
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

impl App {
    /// Opens the dialog, pane, filter and selection the plan asks for (once, when indexed).
    fn prepare_screenshot(&mut self) {
        let Some(plan) = self.screenshot.as_ref() else {
            return;
        };
        let pane = plan.pane;
        let select_seq = plan.select_seq;
        let where_expression = plan.where_expression.clone();
        let dialog = plan.dialog;
        // Time only the steady frames, not start-up and indexing.
        self.frame_stats = FrameStats::default();
        // Opened now; the dialog's own checks make the app unsettled until done.
        match dialog {
            Some(DialogKind::Restore) => self.run(Action::Restore),
            Some(DialogKind::Export) => self.run(Action::Export),
            Some(DialogKind::Salvage) => self.run(Action::Salvage),
            Some(DialogKind::Shortcuts) => self.run(Action::KeyboardShortcuts),
            Some(DialogKind::Palette) => self.run(Action::CommandPalette),
            None => {}
        }
        let Some(document) = self.documents.get_mut(self.active) else {
            return;
        };
        document.pane = pane;
        if let Some(text) = where_expression {
            document.messages.spec.expression = text;
        }
        if let Some(seq) = select_seq {
            // A seq past the rows shown leaves the pane as it is; the screenshot shows that.
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

    /// Chooses a header or field in the detail of the selected message, with
    /// the hex dump beside it. `Ok(false)`: the detail is not drawn yet.
    fn choose_in_detail(&mut self, choice: &DetailChoice) -> Result<bool, String> {
        let Some(document) = self.documents.get_mut(self.active) else {
            return Err("no backup is open".into());
        };
        let messages = &mut document.messages;
        let view = match &messages.detail {
            Some(Ok(view)) => view,
            Some(Err(message)) => return Err(format!("the selected message: {message}")),
            None if messages.selected_row.is_none() => {
                return Err("--select-header/--select-field: no message is selected".into())
            }
            None => return Ok(false),
        };
        let state = &mut messages.browse.detail;
        // Chosen after the detail follows this message, or the choice is reset.
        if state.shown_seq() != Some(view.seq) {
            return Ok(false);
        }
        let (found, what) = match choice {
            DetailChoice::Header(name) => (
                state.choose_header_named(&view.analysis, name),
                format!("header {name}"),
            ),
            DetailChoice::Field(key) => (
                state.choose_field_named(&view.analysis, key),
                format!("JSON field {key}"),
            ),
        };
        if !found {
            return Err(format!("seq {} has no {what}", view.seq));
        }
        state.linked_hex = Some(true);
        Ok(true)
    }

    pub(super) fn drive_screenshot(&mut self, ctx: &egui::Context) {
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
            self.prepare_screenshot();
            return;
        }
        let detail_pending = self.documents.get(self.active).is_some_and(|document| {
            document.messages.detail_pending.is_some() || document.messages.damaged.is_reading()
        });
        let Some(plan) = self.screenshot.as_mut() else {
            return;
        };
        if detail_pending {
            return;
        }
        if let Some(choice) = plan.choose.clone() {
            match self.choose_in_detail(&choice) {
                Ok(false) => return,
                Ok(true) => {}
                Err(message) => {
                    if let Some(plan) = self.screenshot.as_mut() {
                        if let Ok(mut result) = plan.result.lock() {
                            *result = Some(Err(message));
                        }
                    }
                    return;
                }
            }
        }
        let Some(plan) = self.screenshot.as_mut() else {
            return;
        };
        plan.choose = None;
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
