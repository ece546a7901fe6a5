//! One open backup (or account backup directory) and its background jobs.
//! The UI reads `backup` (an `Arc` snapshot) and polls the job channels each frame.

use super::filter::{DisplayList, FilterError, FilterSpec};
use super::workers::{
    self, FilterJob, IndexEvent, IndexJob, MessageView, OpenSource, ReaderHandle, Summary,
};
use crate::model::Backup;
use crate::ops::report::{ttl_summary, TtlSummary};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    Overview,
    Consumers,
    Messages,
    Findings,
}

impl Pane {
    pub const ALL: [Pane; 4] = [
        Pane::Overview,
        Pane::Consumers,
        Pane::Messages,
        Pane::Findings,
    ];
    pub fn label(self) -> &'static str {
        match self {
            Pane::Overview => "Overview",
            Pane::Consumers => "Consumers",
            Pane::Messages => "Messages",
            Pane::Findings => "Findings",
        }
    }
    pub fn parse(text: &str) -> Option<Pane> {
        Pane::ALL
            .into_iter()
            .find(|pane| pane.label().eq_ignore_ascii_case(text))
    }
}

/// How payloads are shown in the detail view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadMode {
    Auto,
    Text,
    Json,
    Hex,
}

/// TTL reference time: now (live) or a fixed instant the user typed.
#[derive(Debug, Clone)]
pub struct ReferenceTime {
    /// `None`: now.
    pub fixed_ns: Option<i64>,
    pub text: String,
    pub error: Option<String>,
}

impl ReferenceTime {
    pub fn ns(&self) -> i64 {
        self.fixed_ns.unwrap_or_else(crate::util::time::now_ns)
    }
    pub fn set(&mut self, ns: i64) {
        self.fixed_ns = Some(ns);
        self.text = crate::util::time::format_rfc3339_ns(ns);
        self.error = None;
    }
    pub fn set_now(&mut self) {
        self.fixed_ns = None;
        self.text.clear();
        self.error = None;
    }
}

#[derive(Default)]
pub struct MessagesState {
    pub spec: FilterSpec,
    /// Spec and reference of the display list shown (or being computed).
    pub submitted: Option<(FilterSpec, i64, usize)>,
    pub display: Arc<DisplayList>,
    pub filter_job: Option<FilterJob>,
    /// The filter row's error (for `where`, with the span of the bad token).
    pub filter_error: Option<FilterError>,
    /// Expressions run recently, newest first (the `where` field's history).
    pub where_history: Vec<String>,
    /// This stream's saved expressions (`ops::filter::saved`), loaded once off the UI thread.
    pub saved: SavedFiltersState,
    pub generation: u64,
    pub selected_row: Option<usize>,
    pub scroll_to: Option<usize>,
    pub goto_text: String,
    pub relative_time: bool,
    /// Show times in the machine's local zone instead of UTC.
    pub local_time: bool,
    pub detail: Option<Result<MessageView, String>>,
    pub detail_pending: Option<usize>,
    pub payload_mode: Option<PayloadMode>,
    /// Sort, selection, header columns, export and detail state (ui/browse_jobs.rs).
    pub browse: super::browse_jobs::BrowseState,
    /// The damaged record (no message row) chosen in the table, and its bytes.
    pub damaged: super::damaged_rows::DamagedSelection,
}

#[derive(Default)]
pub struct SavedFiltersState {
    pub list: Vec<String>,
    pub job: Option<workers::Job<Vec<String>>>,
    pub loaded: bool,
    pub error: Option<String>,
    /// The saved-filters file (`None`: the default in the user's config folder).
    pub path: Option<PathBuf>,
}

#[derive(Default)]
pub struct ConsumersState {
    pub selected: Option<usize>,
    /// (consumer index, pretty config JSON) cache.
    pub config_text: Option<(usize, String)>,
    /// (backup `Arc` address, statuses in `backup.consumers` order) cache.
    pub statuses: Option<(usize, Arc<Vec<crate::model::ConsumerStatus>>)>,
    /// Table sort: (column, descending).
    pub sort: Option<(super::consumers::SortColumn, bool)>,
    /// Show the config as raw JSON instead of a tree.
    pub raw_config: bool,
}

pub struct Document {
    pub id: u64,
    pub title: String,
    pub path: Option<PathBuf>,
    pub backup: Option<Arc<Backup>>,
    pub summary: Option<Arc<Summary>>,
    /// `nats account backup` directory: stream directories to open.
    pub account_streams: Option<Vec<PathBuf>>,
    pub error: Option<String>,
    pub indexing: Option<IndexJob>,
    pub cancelled: bool,
    pub reader: Option<ReaderHandle>,
    pub pane: Pane,
    pub messages: MessagesState,
    pub consumers: ConsumersState,
    pub reference: ReferenceTime,
    ttl_cache: Option<(usize, i64, TtlSummary)>,
    /// What a restore would leave, for the Overview.
    pub prediction: super::overview::PredictionCache,
    /// Entry names expanded in the Findings pane.
    pub expanded_entry: Option<String>,
    /// When the document was opened, and how long until it first had rows to show.
    pub opened_at: std::time::Instant,
    pub first_rows_after: Option<std::time::Duration>,
    /// Set when the path is not a backup (or does not exist): the app closes the document.
    pub refused: Option<String>,
    /// A path the user opened, until the scan shows it is a backup.
    recent_candidate: Option<PathBuf>,
    /// The opened path once it proved to be a backup, for the app's Recent list.
    pub accepted_path: Option<PathBuf>,
    /// "Save report…": the Markdown triage report being built (file name, bytes).
    pub report_job: Option<workers::Job<(String, Vec<u8>)>>,
    /// "Export damaged bytes": the raw bytes of damaged and suspect messages being
    /// written to a folder of their own, and where the last one went.
    pub damaged_export: Option<workers::Job<crate::ops::damaged::DamagedExport>>,
    pub damaged_export_done: Option<Result<String, String>>,
}

impl Document {
    pub fn open(id: u64, source: OpenSource, ctx: &egui::Context) -> Self {
        let (title, path) = match &source {
            OpenSource::Path(path) => (
                path.file_name()
                    .map(|name| name.to_string_lossy().into_owned())
                    .unwrap_or_else(|| path.display().to_string()),
                Some(path.clone()),
            ),
            OpenSource::Sample => ("sample".to_string(), None),
        };
        let recent_candidate = path.clone();
        Self {
            id,
            title,
            path,
            backup: None,
            summary: None,
            account_streams: None,
            error: None,
            indexing: Some(workers::spawn_index(source, ctx.clone())),
            cancelled: false,
            reader: None,
            pane: Pane::Overview,
            messages: MessagesState::default(),
            consumers: ConsumersState::default(),
            reference: ReferenceTime {
                fixed_ns: None,
                text: String::new(),
                error: None,
            },
            ttl_cache: None,
            prediction: Default::default(),
            expanded_entry: None,
            opened_at: std::time::Instant::now(),
            first_rows_after: None,
            refused: None,
            recent_candidate,
            accepted_path: None,
            report_job: None,
            damaged_export: None,
            damaged_export_done: None,
        }
    }

    pub fn is_indexing(&self) -> bool {
        self.indexing.is_some()
    }

    /// Finished (indexed, failed or cancelled) and the display list is current.
    /// No indexing or filter job runs, and no filter change waits for the next
    /// frame to be submitted (a click changes the spec; the job starts after).
    pub fn is_settled(&self) -> bool {
        self.indexing.is_none()
            && self.messages.filter_job.is_none()
            && self
                .messages
                .submitted
                .as_ref()
                .is_none_or(|(spec, _, _)| *spec == self.messages.spec)
    }

    pub fn cancel(&self) {
        if let Some(job) = &self.indexing {
            job.cancel.store(true, Ordering::Relaxed);
        }
    }

    pub fn findings_count(&self) -> usize {
        self.backup
            .as_ref()
            .map(|backup| backup.findings.len())
            .unwrap_or(0)
    }

    /// Sets a fixed TTL reference time.
    pub fn set_reference_ns(&mut self, ns: i64) {
        self.reference.set(ns);
    }

    pub fn ttl_summary(&mut self) -> Option<TtlSummary> {
        let backup = self.backup.clone()?;
        let reference_ns = self.reference.ns();
        // Re-count at most once per second while the reference follows the clock.
        let key_ns = match self.reference.fixed_ns {
            Some(ns) => ns,
            None => reference_ns / 1_000_000_000,
        };
        let key_backup = Arc::as_ptr(&backup) as usize;
        if let Some((cached_backup, cached_key, summary)) = self.ttl_cache {
            if cached_backup == key_backup && cached_key == key_ns {
                return Some(summary);
            }
        }
        let summary = ttl_summary(&backup, reference_ns);
        self.ttl_cache = Some((key_backup, key_ns, summary));
        Some(summary)
    }

    /// Drains the job channels. Returns messages for the toast list.
    pub fn poll(&mut self, ctx: &egui::Context) -> Vec<String> {
        let mut notices = Vec::new();
        let mut finished = false;
        if let Some(job) = self.indexing.as_mut() {
            while let Ok(event) = job.events.try_recv() {
                match event {
                    IndexEvent::Resolved(path) => {
                        if self.path.is_none() {
                            self.path = Some(path);
                        }
                    }
                    IndexEvent::Progress { progress, partial } => {
                        job.progress = progress;
                        if self.first_rows_after.is_none() && !partial.messages.is_empty() {
                            self.first_rows_after = Some(self.opened_at.elapsed());
                        }
                        self.backup = Some(Arc::from(partial));
                    }
                    IndexEvent::Account(streams) => {
                        self.account_streams = Some(streams);
                        finished = true;
                    }
                    IndexEvent::Done(backup, summary) => {
                        if !backup.stream_name.is_empty() {
                            self.title = backup.stream_name.clone();
                        }
                        if self.first_rows_after.is_none() && !backup.messages.is_empty() {
                            self.first_rows_after = Some(self.opened_at.elapsed());
                        }
                        let backup: Arc<Backup> = Arc::from(backup);
                        match workers::spawn_reader(backup.clone(), ctx.clone()) {
                            Ok(reader) => self.reader = Some(reader),
                            Err(message) => notices.push(message),
                        }
                        self.backup = Some(backup);
                        self.summary = Some(Arc::new(summary));
                        // Row numbers of the partial model may not match the final one.
                        self.messages.selected_row = None;
                        self.messages.detail = None;
                        finished = true;
                    }
                    IndexEvent::Failed { message, backup } => {
                        notices.push(message.clone());
                        self.error = Some(message);
                        if let Some(backup) = backup {
                            self.backup = Some(Arc::from(backup));
                            self.pane = Pane::Findings;
                        }
                        finished = true;
                    }
                    IndexEvent::Refused(message) => {
                        self.refused = Some(message);
                        self.recent_candidate = None;
                        finished = true;
                    }
                    IndexEvent::Cancelled => {
                        self.cancelled = true;
                        self.error = Some("indexing cancelled: showing what was read".into());
                        finished = true;
                    }
                }
            }
        }
        if finished {
            self.indexing = None;
            self.accepted_path = self.recent_candidate.take();
        }
        self.poll_filter(ctx);
        self.poll_reader();
        notices
    }

    fn poll_filter(&mut self, ctx: &egui::Context) {
        let mut finished = false;
        if let Some(job) = self.messages.filter_job.as_mut() {
            while let Ok(result) = job.results.try_recv() {
                if result.generation != self.messages.generation {
                    continue;
                }
                match result.result {
                    Ok(display) => {
                        self.messages.display = Arc::new(display);
                        self.messages.filter_error = None;
                    }
                    Err(message) => self.messages.filter_error = Some(message),
                }
                job.progress = result.partial;
                if result.partial.is_none() {
                    finished = true;
                    break;
                }
            }
        }
        if finished {
            self.messages.filter_job = None;
        }
        // Re-run when the spec, the reference (for "only expired") or the model changed.
        let Some(backup) = self.backup.clone() else {
            return;
        };
        // "Only expired" follows a live clock in whole seconds, not every frame.
        let reference_ns = match (
            self.messages.spec.needs_reference(),
            self.reference.fixed_ns,
        ) {
            (false, _) => 0,
            (true, Some(ns)) => ns,
            (true, None) => crate::util::time::now_ns() / 1_000_000_000 * 1_000_000_000,
        };
        let key = (
            self.messages.spec.clone(),
            reference_ns,
            Arc::as_ptr(&backup) as usize,
        );
        if self.messages.submitted.as_ref() == Some(&key) {
            return;
        }
        if let Some(job) = self.messages.filter_job.take() {
            job.cancel.store(true, Ordering::Relaxed);
        }
        self.messages.generation += 1;
        self.messages.filter_job = Some(workers::spawn_filter(
            backup,
            self.messages.spec.clone(),
            reference_ns,
            self.messages.generation,
            ctx.clone(),
        ));
        self.messages.submitted = Some(key);
    }

    fn poll_reader(&mut self) {
        let Some(reader) = &self.reader else {
            return;
        };
        while let Ok(response) = reader.responses.try_recv() {
            if Some(response.row) == self.messages.detail_pending {
                self.messages.detail_pending = None;
            }
            if Some(response.row) == self.messages.selected_row {
                self.messages.detail = Some(response.result);
            }
        }
    }

    /// Selects a message row and asks the reader thread for its bytes.
    pub fn select_row(&mut self, row: usize) {
        if self.messages.selected_row == Some(row) && self.messages.detail.is_some() {
            return;
        }
        self.messages.selected_row = Some(row);
        self.messages.detail = None;
        self.messages.damaged.clear();
        match &self.reader {
            Some(reader) if reader.request(row) => self.messages.detail_pending = Some(row),
            Some(_) => self.messages.detail = Some(Err("the reader thread stopped".into())),
            None => {
                self.messages.detail = Some(Err(if self.is_indexing() {
                    "payloads can be read once indexing has finished".into()
                } else {
                    "the data file cannot be read".into()
                }))
            }
        }
    }

    /// Selects damaged record `index` (no message row) and reads its bytes on a worker.
    pub fn select_damaged(&mut self, index: usize) {
        self.messages.selected_row = None;
        self.messages.detail = None;
        self.messages.browse.selection.clear();
        self.messages.damaged.select(index);
    }

    /// Shows `seq` in the Messages pane: selects it if it is a live message,
    /// else scrolls to where it would be. Returns a notice when it is not shown.
    pub fn go_to_seq(&mut self, seq: u64) -> Option<String> {
        self.pane = Pane::Messages;
        let backup = self.backup.clone()?;
        let display = self.messages.display.clone();
        let Some(position) = display.position_of_seq(&backup, seq) else {
            return Some(format!("sequence {seq} is past the last message shown"));
        };
        self.messages.scroll_to = Some(position);
        match backup.messages.find_seq(seq) {
            Some(row) => {
                self.select_row(row);
                let shown = matches!(display.rows.get(position),
                    Some(super::filter::DisplayRow::Message(r)) if *r as usize == row);
                if shown {
                    None
                } else {
                    Some(format!("sequence {seq} is hidden by the filter"))
                }
            }
            None if backup.damaged_seqs.binary_search(&seq).is_ok() => {
                match backup
                    .damaged_records
                    .binary_search_by_key(&seq, |record| record.seq)
                {
                    Ok(index) => {
                        self.select_damaged(index);
                        None
                    }
                    Err(_) => Some(format!(
                        "sequence {seq} is damaged (its bytes fail their check) and could not be located"
                    )),
                }
            }
            None if backup
                .lost
                .iter()
                .any(|(from, to)| (*from..=*to).contains(&seq)) =>
            {
                Some(format!(
                    "sequence {seq} is lost: the archive should hold it but it could not be read"
                ))
            }
            None => Some(format!(
                "sequence {seq} is not a live message (deleted or missing)"
            )),
        }
    }
}
