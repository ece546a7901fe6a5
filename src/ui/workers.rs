//! Background work for one open backup: indexing, reading single messages,
//! filtering. Each runs on its own thread and talks to the UI over `mpsc`
//! channels; the UI thread only polls (`try_recv`). Also the generic [`Job`]
//! that export, restore, pre-flight checks and folder pickers run on.

use super::filter::{self, DisplayList, FilterError, FilterSpec};
use crate::model::Backup;
use crate::ops::read::parse_header_block;
use crate::ops::read::MessageReader;
use crate::ops::scan::{open_backup, OpenError, ScanControl, ScanProgress};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenSource {
    Path(PathBuf),
    /// The sample embedded in the binary.
    Sample,
}

/// Numbers for the Overview plot and subject list, computed off the UI thread.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// (seconds since the first message, messages) per bin.
    pub histogram: Vec<(f64, u64)>,
    pub bin_width_s: f64,
    /// Top subjects by live count, largest first.
    pub top_subjects: Vec<(String, u64)>,
    /// Findings explained, the predicted restore and the salvage plan.
    pub triage: Option<Arc<crate::ops::triage::Triage>>,
}

pub enum IndexEvent {
    /// The source was resolved (the sample is written to a temp dir first).
    Resolved(PathBuf),
    Progress {
        progress: ScanProgress,
        partial: Box<Backup>,
    },
    /// A directory written by `nats account backup`: its stream directories.
    Account(Vec<PathBuf>),
    Done(Box<Backup>, Summary),
    /// Nothing could be indexed; the backup (when there is one) holds findings saying why.
    Failed {
        message: String,
        backup: Option<Box<Backup>>,
    },
    Cancelled,
    /// Not a backup at all (or no such path): the document closes, with this message.
    Refused(String),
}

pub struct IndexJob {
    pub events: Receiver<IndexEvent>,
    pub cancel: Arc<AtomicBool>,
    pub started: Instant,
    pub progress: ScanProgress,
}

/// How many rows the partial model carries while indexing.
const PARTIAL_ROWS: usize = 5_000;
const PROGRESS_INTERVAL: Duration = Duration::from_millis(100);

pub fn spawn_index(source: OpenSource, ctx: egui::Context) -> IndexJob {
    let (sender, events) = mpsc::channel();
    let cancel = Arc::new(AtomicBool::new(false));
    let job = IndexJob {
        events,
        cancel: cancel.clone(),
        started: Instant::now(),
        progress: ScanProgress::default(),
    };
    let fallback = sender.clone();
    let spawned = std::thread::Builder::new()
        .name("index".into())
        .spawn(move || {
            index_thread(source, &sender, &cancel, &ctx);
            ctx.request_repaint();
        });
    if let Err(error) = spawned {
        // A failed send means the receiving document was closed: nobody is left to tell.
        let _ = fallback.send(IndexEvent::Failed {
            message: format!("cannot start the indexing thread: {error}"),
            backup: None,
        });
    }
    job
}

fn index_thread(
    source: OpenSource,
    sender: &Sender<IndexEvent>,
    cancel: &AtomicBool,
    ctx: &egui::Context,
) {
    let path = match source {
        OpenSource::Path(path) => path,
        OpenSource::Sample => match super::sample::write_sample() {
            Ok(path) => path,
            Err(message) => {
                // A failed send means the receiving document was closed: nobody is left to tell.
                let _ = sender.send(IndexEvent::Failed {
                    message: format!("cannot write the sample backup: {message}"),
                    backup: None,
                });
                return;
            }
        },
    };
    // A failed send means the receiving document was closed: nobody is left to tell.
    let _ = sender.send(IndexEvent::Resolved(path.clone()));
    let streams = crate::ops::open::account_backup_streams(&path);
    if !streams.is_empty() {
        // A failed send means the receiving document was closed: nobody is left to tell.
        let _ = sender.send(IndexEvent::Account(streams));
        return;
    }
    let mut last_sent: Option<Instant> = None;
    let mut sent_rows = false;
    let mut on_progress = |progress: &ScanProgress, backup: &Backup| {
        // The first rows go out at once; after that, at most every PROGRESS_INTERVAL.
        let first_rows = !sent_rows && !backup.messages.is_empty();
        if !first_rows && last_sent.is_some_and(|at| at.elapsed() < PROGRESS_INTERVAL) {
            return;
        }
        sent_rows |= first_rows;
        last_sent = Some(Instant::now());
        // A failed send means the receiving document was closed: nobody is left to tell.
        let _ = sender.send(IndexEvent::Progress {
            progress: *progress,
            partial: Box::new(partial_copy(backup, PARTIAL_ROWS)),
        });
        ctx.request_repaint();
    };
    let mut control = ScanControl {
        cancel: Some(cancel),
        on_progress: Some(&mut on_progress),
        memory_budget: None,
    };
    let event = match open_backup(&path, &mut control) {
        Ok(mut backup) => {
            check_content(&mut backup, cancel);
            let mut summary = summarize(&backup);
            let triage = crate::ops::triage::triage(
                &backup,
                crate::util::time::now_ns(),
                Some(cancel),
                false,
            );
            summary.triage = Some(Arc::new(triage));
            IndexEvent::Done(Box::new(backup), summary)
        }
        Err(OpenError::Cancelled) => IndexEvent::Cancelled,
        Err(error @ OpenError::Locate(_)) => IndexEvent::Refused(error.to_string()),
        Err(OpenError::Unreadable(message, backup)) => IndexEvent::Failed {
            message,
            backup: Some(backup),
        },
        Err(error) => IndexEvent::Failed {
            message: error.to_string(),
            backup: None,
        },
    };
    // A failed send means the receiving document was closed: nobody is left to tell.
    let _ = sender.send(event);
}

/// Checks beyond checksums (object store, KV, subjects); header blocks are only
/// read by `verify`, which can afford a second pass.
fn check_content(backup: &mut Backup, cancel: &AtomicBool) {
    use crate::ops::content_checks::{run, CheckOptions};
    if let Err(error) = run(backup, CheckOptions::default(), Some(cancel)) {
        backup.findings.push(crate::model::Finding::warning(
            crate::model::FindingKind::ObjectMeta,
            format!("the content checks stopped: {error}"),
        ));
    }
}

/// A cheap copy of the model so far: everything but the bulk of the rows.
fn partial_copy(backup: &Backup, max_rows: usize) -> Backup {
    let mut copy = Backup::empty(backup.source.clone());
    copy.format = backup.format;
    copy.stream_name = backup.stream_name.clone();
    copy.config = backup.config.clone();
    copy.created = backup.created.clone();
    copy.backup_json = backup.backup_json.clone();
    copy.declared_state = backup.declared_state.clone();
    copy.archive_state = backup.archive_state.clone();
    copy.consumers = backup.consumers.clone();
    copy.findings = backup.findings.clone();
    copy.snapshot_time_ns = backup.snapshot_time_ns;
    let rows = backup.messages.len().min(max_rows);
    copy.messages = backup.messages.prefix(rows);
    copy.messages.sort_by_seq();
    if backup.subjects.len() <= 100_000 {
        copy.subjects = backup.subjects.clone();
    }
    copy
}

fn summarize(backup: &Backup) -> Summary {
    const BINS: usize = 60;
    let messages = &backup.messages;
    let mut summary = Summary::default();
    let first = messages.ts_ns.iter().copied().filter(|&ts| ts > 0).min();
    let last = messages.ts_ns.iter().copied().max();
    if let (Some(first), Some(last)) = (first, last) {
        let span_ns = (last - first).max(1) as f64;
        let bin_ns = span_ns / BINS as f64;
        let mut bins = vec![0u64; BINS];
        for &ts in &messages.ts_ns {
            if ts <= 0 {
                continue;
            }
            let index = (((ts - first) as f64) / bin_ns) as usize;
            if let Some(bin) = bins.get_mut(index.min(BINS - 1)) {
                *bin += 1;
            }
        }
        summary.bin_width_s = bin_ns / 1e9;
        summary.histogram = bins
            .into_iter()
            .enumerate()
            .map(|(index, count)| ((index as f64 + 0.5) * summary.bin_width_s, count))
            .collect();
    }
    let mut subjects: Vec<(String, u64)> = backup
        .subjects
        .live_counts()
        .into_iter()
        .map(|(name, count)| (name.to_string(), count))
        .collect();
    subjects.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    subjects.truncate(15);
    summary.top_subjects = subjects;
    summary
}

// ---------------------------------------------------------------- reader

/// One message prepared for the detail view (decoded on the reader thread).
#[derive(Debug, Clone)]
pub struct MessageView {
    pub row: usize,
    pub seq: u64,
    pub status_line: String,
    pub headers: Vec<(String, String)>,
    pub malformed_header_lines: usize,
    pub data: Vec<u8>,
    /// The payload as UTF-8, when it is.
    pub text: Option<String>,
    /// Pretty JSON, when the payload parses as JSON.
    pub pretty_json: Option<String>,
    /// Hex dump of the first bytes.
    pub hex: String,
    /// The stored header block, as is (raw view, linked hex view).
    pub header_bytes: Vec<u8>,
    /// Header spans, charset-decoded text and the JSON tree (see `ops::payload_view`).
    pub analysis: Arc<crate::ops::payload_view::Analysis>,
}

pub struct ReadResponse {
    pub row: usize,
    pub result: Result<MessageView, String>,
}

pub struct ReaderHandle {
    requests: Sender<usize>,
    pub responses: Receiver<ReadResponse>,
}

impl ReaderHandle {
    pub fn request(&self, row: usize) -> bool {
        self.requests.send(row).is_ok()
    }
}

const HEX_LIMIT: usize = 64 * 1024;

pub fn spawn_reader(backup: Arc<Backup>, ctx: egui::Context) -> Result<ReaderHandle, String> {
    let (requests, request_receiver) = mpsc::channel::<usize>();
    let (response_sender, responses) = mpsc::channel();
    std::thread::Builder::new()
        .name("reader".into())
        .spawn(move || {
            let mut reader = MessageReader::open(&backup).map_err(|error| error.to_string());
            while let Ok(mut row) = request_receiver.recv() {
                // Only the newest request matters (the user moved on).
                while let Ok(newer) = request_receiver.try_recv() {
                    row = newer;
                }
                let result = match reader.as_mut() {
                    Ok(reader) => reader
                        .read_row(&backup, row)
                        .map_err(|error| error.to_string())
                        .map(|bytes| prepare_view(&backup, row, bytes.headers, bytes.data)),
                    Err(message) => Err(message.clone()),
                };
                if response_sender.send(ReadResponse { row, result }).is_err() {
                    break;
                }
                ctx.request_repaint();
            }
        })
        .map_err(|error| format!("cannot start the reader thread: {error}"))?;
    Ok(ReaderHandle {
        requests,
        responses,
    })
}

fn prepare_view(backup: &Backup, row: usize, headers: Vec<u8>, data: Vec<u8>) -> MessageView {
    let block = parse_header_block(&headers);
    let analysis = Arc::new(crate::ops::payload_view::analyze(&headers, &data));
    let text = std::str::from_utf8(&data).ok().map(str::to_string);
    let pretty_json = serde_json::from_slice::<serde_json::Value>(&data)
        .ok()
        .filter(|value| value.is_object() || value.is_array())
        .and_then(|value| serde_json::to_string_pretty(&value).ok());
    MessageView {
        row,
        seq: backup.messages.seq.get(row).copied().unwrap_or(0),
        status_line: block.status_line,
        headers: block.entries,
        malformed_header_lines: block.malformed_lines,
        hex: hex_dump(&data, HEX_LIMIT),
        text,
        pretty_json,
        data,
        header_bytes: headers,
        analysis,
    }
}

/// Classic 16-bytes-per-line hex dump with an ASCII column.
pub fn hex_dump(data: &[u8], limit: usize) -> String {
    let mut out = String::new();
    for (line, chunk) in data.chunks(16).take(limit / 16).enumerate() {
        out.push_str(&format!("{:08x}  ", line * 16));
        for index in 0..16 {
            match chunk.get(index) {
                Some(byte) => out.push_str(&format!("{byte:02x} ")),
                None => out.push_str("   "),
            }
            if index == 7 {
                out.push(' ');
            }
        }
        out.push(' ');
        for &byte in chunk {
            out.push(if byte.is_ascii_graphic() || byte == b' ' {
                byte as char
            } else {
                '.'
            });
        }
        out.push('\n');
    }
    if data.len() > limit {
        out.push_str(&format!("… {} more bytes\n", data.len() - limit));
    }
    out
}

// ---------------------------------------------------------------- filter

pub struct FilterResult {
    pub generation: u64,
    pub result: Result<DisplayList, FilterError>,
    /// Rows found so far while the filter runs on: (rows scanned, rows to scan).
    pub partial: Option<(usize, usize)>,
}

pub struct FilterJob {
    pub generation: u64,
    pub cancel: Arc<AtomicBool>,
    pub results: Receiver<FilterResult>,
    /// (rows scanned, rows to scan) of the last partial result.
    pub progress: Option<(usize, usize)>,
}

pub fn spawn_filter(
    backup: Arc<Backup>,
    spec: FilterSpec,
    reference_ns: i64,
    generation: u64,
    ctx: egui::Context,
) -> FilterJob {
    let (sender, results) = mpsc::channel();
    let cancel = Arc::new(AtomicBool::new(false));
    let thread_cancel = cancel.clone();
    let fallback = sender.clone();
    let spawned = std::thread::Builder::new()
        .name("filter".into())
        .spawn(move || {
            let partial_sender = sender.clone();
            let partial_ctx = ctx.clone();
            let mut on_partial = |list: &DisplayList, scanned: usize, total: usize| {
                // A failed send means the receiving document was closed: nobody is left to tell.
                let _ = partial_sender.send(FilterResult {
                    generation,
                    result: Ok(list.clone()),
                    partial: Some((scanned, total)),
                });
                partial_ctx.request_repaint();
            };
            let result = filter::run_streaming(
                &backup,
                &spec,
                reference_ns,
                &thread_cancel,
                &mut on_partial,
            );
            if !thread_cancel.load(Ordering::Relaxed) {
                // A failed send means the receiving document was closed: nobody is left to tell.
                let _ = sender.send(FilterResult {
                    generation,
                    result,
                    partial: None,
                });
                ctx.request_repaint();
            }
        });
    if let Err(error) = spawned {
        // A failed send means the receiving document was closed: nobody is left to tell.
        let _ = fallback.send(FilterResult {
            generation,
            result: Err(FilterError::other(format!(
                "cannot start the filter thread: {error}"
            ))),
            partial: None,
        });
    }
    FilterJob {
        generation,
        cancel,
        results,
        progress: None,
    }
}

// ---------------------------------------------------------------- jobs

/// Progress a job reports as plain numbers (the UI formats them).
pub struct JobProgress {
    done: AtomicU64,
    total: AtomicU64,
    ctx: egui::Context,
    hold: Option<(Arc<JobHold>, Arc<AtomicBool>)>,
}

impl JobProgress {
    pub fn set(&self, done: u64, total: u64) {
        self.done.store(done, Ordering::Relaxed);
        self.total.store(total, Ordering::Relaxed);
        self.ctx.request_repaint_after(PROGRESS_INTERVAL);
        if let Some((hold, cancel)) = &self.hold {
            if !hold.reached.swap(true, Ordering::SeqCst) {
                while !cancel.load(Ordering::SeqCst) {
                    std::thread::park_timeout(Duration::from_millis(2));
                }
            }
        }
    }
}

/// A seam for tests of cancelling: a job whose name is in the context's
/// [`JobHold`] stops at its first progress report until it is cancelled, so the
/// test acts while the job surely runs (a fast job would otherwise finish first).
/// Put it in with [`JobHold::install`]; nothing else sets it.
pub struct JobHold {
    name: String,
    reached: AtomicBool,
}

impl JobHold {
    fn id() -> egui::Id {
        egui::Id::unique("jsbackup-job-hold")
    }

    /// Holds the next job called `name` started in `ctx`.
    pub fn install(ctx: &egui::Context, name: &str) -> Arc<JobHold> {
        let hold = Arc::new(JobHold {
            name: name.to_string(),
            reached: AtomicBool::new(false),
        });
        ctx.data_mut(|data| data.insert_temp(Self::id(), hold.clone()));
        hold
    }

    /// Has the held job reached its first progress report (and waits there)?
    pub fn reached(&self) -> bool {
        self.reached.load(Ordering::SeqCst)
    }

    fn take_for(ctx: &egui::Context, name: &str) -> Option<Arc<JobHold>> {
        let hold = ctx
            .data(|data| data.get_temp::<Arc<JobHold>>(Self::id()))
            .filter(|hold| hold.name == name)?;
        ctx.data_mut(|data| data.remove::<Arc<JobHold>>(Self::id()));
        Some(hold)
    }
}

/// One long operation (export, restore, pre-flight, folder picker) on its own
/// thread: progress in atomics, the result over a channel, cancel by flag.
pub struct Job<T> {
    pub cancel: Arc<AtomicBool>,
    progress: Arc<JobProgress>,
    result: Receiver<Result<T, String>>,
    pub started: Instant,
    name: String,
}

impl<T> Job<T> {
    /// (done, total) as last reported.
    pub fn progress(&self) -> (u64, u64) {
        (
            self.progress.done.load(Ordering::Relaxed),
            self.progress.total.load(Ordering::Relaxed),
        )
    }

    /// The result once the job has finished.
    pub fn try_result(&self) -> Option<Result<T, String>> {
        match self.result.try_recv() {
            Ok(result) => Some(result),
            Err(mpsc::TryRecvError::Empty) => None,
            Err(mpsc::TryRecvError::Disconnected) => Some(Err(format!(
                "the {} thread stopped without a result",
                self.name
            ))),
        }
    }

    pub fn request_cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
    }
}

/// Runs `work(progress, cancel)` on a new thread named `name`.
pub fn spawn_job<T, F>(name: &str, ctx: &egui::Context, work: F) -> Job<T>
where
    T: Send + 'static,
    F: FnOnce(&JobProgress, &AtomicBool) -> Result<T, String> + Send + 'static,
{
    let (sender, result) = mpsc::channel();
    let cancel = Arc::new(AtomicBool::new(false));
    let progress = Arc::new(JobProgress {
        done: AtomicU64::new(0),
        total: AtomicU64::new(0),
        ctx: ctx.clone(),
        hold: JobHold::take_for(ctx, name).map(|hold| (hold, cancel.clone())),
    });
    let job = Job {
        cancel: cancel.clone(),
        progress: progress.clone(),
        result,
        started: Instant::now(),
        name: name.to_string(),
    };
    let fallback = sender.clone();
    let ctx = ctx.clone();
    let spawned = std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            let outcome = work(&progress, &cancel);
            // A failed send means the receiving document was closed: nobody is left to tell.
            let _ = sender.send(outcome);
            ctx.request_repaint();
        });
    if let Err(error) = spawned {
        // A failed send means the receiving document was closed: nobody is left to tell.
        let _ = fallback.send(Err(format!("cannot start the {name} thread: {error}")));
    }
    job
}

/// A native folder picker on a worker thread (a portal that never answers
/// must not freeze the window; the typed path stays usable meanwhile).
pub fn spawn_pick_folder(title: &str, ctx: &egui::Context) -> Job<Option<PathBuf>> {
    let title = title.to_string();
    spawn_job("folder-dialog", ctx, move |_, _| {
        Ok(rfd::FileDialog::new()
            .set_title(title.as_str())
            .pick_folder())
    })
}

// ---------------------------------------------------------------- memory

/// Samples this process's resident set size once a second on a worker thread
/// (the UI only reads the atomic). Stops when the returned `Arc` is dropped.
pub fn spawn_rss_sampler() -> Arc<AtomicU64> {
    let rss = Arc::new(AtomicU64::new(0));
    let weak = Arc::downgrade(&rss);
    // Without the sampler the status bar shows no memory figure; nothing else reads it.
    let _ = std::thread::Builder::new()
        .name("rss".into())
        .spawn(move || {
            while let Some(rss) = weak.upgrade() {
                rss.store(read_rss_bytes().unwrap_or(0), Ordering::Relaxed);
                drop(rss);
                std::thread::sleep(Duration::from_secs(1));
            }
        });
    rss
}

/// `VmRSS` from `/proc/self/status` (Linux); `None` elsewhere.
fn read_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: u64 = line
        .trim_start_matches("VmRSS:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}
