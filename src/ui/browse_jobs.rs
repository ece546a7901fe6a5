//! State and workers behind the Messages table: the sorted order, the
//! selection, header cells read for the rows on screen, the sampled header
//! keys, copy-payload reads and row export. Everything that reads bytes or
//! sorts runs on a worker; the UI thread only polls.

use super::filter::{DisplayList, DisplayRow};
use super::message_detail::DetailState;
use super::workers::{spawn_job, Job};
use crate::model::Backup;
use crate::ops::dump::{dump_rows, DumpFormat, DumpSummary};
use crate::ops::header_cells::{header_cells, sample_keys, HeaderCells};
use crate::ops::read::MessageReader;
use crate::ops::sort::{sort_rows, SortOrder};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;

/// The rows the table shows: the display list (with gaps), or a sorted copy.
#[derive(Clone)]
pub enum Shown {
    Display(Arc<DisplayList>),
    Sorted(Arc<Vec<u32>>),
}

impl Shown {
    pub fn len(&self) -> usize {
        match self {
            Shown::Display(list) => list.rows.len(),
            Shown::Sorted(rows) => rows.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn get(&self, position: usize) -> Option<DisplayRow> {
        match self {
            Shown::Display(list) => list.rows.get(position).copied(),
            Shown::Sorted(rows) => rows.get(position).map(|row| DisplayRow::Message(*row)),
        }
    }
    /// Position of a message row (linear; used on clicks and key presses only).
    pub fn position_of(&self, row: u32) -> Option<usize> {
        match self {
            Shown::Display(list) => list
                .rows
                .iter()
                .position(|line| *line == DisplayRow::Message(row)),
            Shown::Sorted(rows) => rows.iter().position(|r| *r == row),
        }
    }
    /// The message rows in the order shown.
    pub fn message_rows(&self) -> Vec<u32> {
        match self {
            Shown::Display(list) => list
                .rows
                .iter()
                .filter_map(|line| match line {
                    DisplayRow::Message(row) => Some(*row),
                    _ => None,
                })
                .collect(),
            Shown::Sorted(rows) => rows.as_ref().clone(),
        }
    }
}

fn list_key(list: &Arc<DisplayList>) -> usize {
    Arc::as_ptr(list) as usize
}

fn backup_key(backup: &Arc<Backup>) -> usize {
    Arc::as_ptr(backup) as usize
}

// ------------------------------------------------------------- header cells

struct CellRequest {
    generation: u64,
    keys: Arc<Vec<String>>,
    rows: Vec<u32>,
}

type CellResponse = (u64, Vec<(u32, HeaderCells)>);

struct CellWorker {
    backup: usize,
    requests: Sender<CellRequest>,
    responses: Receiver<CellResponse>,
}

/// Header cells of rows that were on screen, read by a worker on demand.
#[derive(Default)]
pub struct HeaderCellCache {
    generation: u64,
    keys: Vec<String>,
    cells: HashMap<u32, HeaderCells>,
    pending: HashSet<u32>,
    wanted: Vec<u32>,
    worker: Option<CellWorker>,
}

const CELL_CACHE_LIMIT: usize = 200_000;

impl HeaderCellCache {
    /// The cells of `row` if read; otherwise remembers to ask for them.
    pub fn get(&mut self, row: u32, hdr_len: u32) -> Option<&HeaderCells> {
        if hdr_len == 0 && self.keys.is_empty() {
            return None;
        }
        if !self.cells.contains_key(&row) && self.pending.insert(row) {
            self.wanted.push(row);
        }
        self.cells.get(&row)
    }

    fn reset(&mut self, keys: &[String]) {
        self.generation += 1;
        self.keys = keys.to_vec();
        self.cells.clear();
        self.pending.clear();
        self.wanted.clear();
    }

    fn poll(&mut self, backup: &Arc<Backup>) {
        if self
            .worker
            .as_ref()
            .is_some_and(|worker| worker.backup != backup_key(backup))
        {
            self.worker = None;
            let keys = self.keys.clone();
            self.reset(&keys);
        }
        let Some(worker) = &self.worker else {
            return;
        };
        while let Ok((generation, cells)) = worker.responses.try_recv() {
            if generation != self.generation {
                continue;
            }
            for (row, value) in cells {
                self.pending.remove(&row);
                self.cells.insert(row, value);
            }
        }
        if self.cells.len() > CELL_CACHE_LIMIT {
            let keys = self.keys.clone();
            self.reset(&keys);
        }
    }

    /// Sends the rows asked for this frame to the worker (one request a frame).
    pub fn flush(&mut self, backup: &Arc<Backup>, keys: &[String], ctx: &egui::Context) {
        if keys != self.keys.as_slice() {
            self.reset(keys);
            return;
        }
        if self.wanted.is_empty() {
            return;
        }
        if self.worker.is_none() {
            self.worker = spawn_cell_worker(backup.clone(), ctx.clone());
        }
        let rows = std::mem::take(&mut self.wanted);
        let sent = self.worker.as_ref().is_some_and(|worker| {
            worker
                .requests
                .send(CellRequest {
                    generation: self.generation,
                    keys: Arc::new(self.keys.clone()),
                    rows: rows.clone(),
                })
                .is_ok()
        });
        if !sent {
            // The worker is gone: forget it, ask again next frame.
            self.worker = None;
            for row in rows {
                self.pending.remove(&row);
            }
        }
    }
}

fn spawn_cell_worker(backup: Arc<Backup>, ctx: egui::Context) -> Option<CellWorker> {
    let (requests, request_receiver) = mpsc::channel::<CellRequest>();
    let (response_sender, responses) = mpsc::channel();
    let key = backup_key(&backup);
    let spawned = std::thread::Builder::new()
        .name("header-cells".into())
        .spawn(move || {
            let Ok(mut reader) = MessageReader::open(&backup) else {
                return;
            };
            while let Ok(request) = request_receiver.recv() {
                let mut cells = Vec::with_capacity(request.rows.len());
                for row in request.rows {
                    // An unreadable message shows no cells (its damage is a finding).
                    let value = header_cells(&mut reader, &backup, row as usize, &request.keys)
                        .unwrap_or_default();
                    cells.push((row, value));
                }
                if response_sender.send((request.generation, cells)).is_err() {
                    return;
                }
                ctx.request_repaint();
            }
        });
    spawned.ok().map(|_| CellWorker {
        backup: key,
        requests,
        responses,
    })
}

// ------------------------------------------------------------- export

/// Which rows an export takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportScope {
    Selected,
    Shown,
}

pub struct ExportState {
    pub visible: bool,
    pub scope: ExportScope,
    pub format: DumpFormat,
    pub path: String,
    pub job: Option<Job<DumpSummary>>,
    pub pick: Option<Job<Option<PathBuf>>>,
    pub outcome: Option<Result<String, String>>,
}

impl Default for ExportState {
    fn default() -> Self {
        Self {
            visible: false,
            scope: ExportScope::Shown,
            format: DumpFormat::Ndjson { raw: false },
            path: String::new(),
            job: None,
            pick: None,
            outcome: None,
        }
    }
}

impl ExportState {
    pub fn open(&mut self, selected: bool, backup: &Backup) {
        self.visible = true;
        self.scope = if selected {
            ExportScope::Selected
        } else {
            ExportScope::Shown
        };
        if self.path.is_empty() {
            let dir = std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_else(std::env::temp_dir);
            let name = if backup.stream_name.is_empty() {
                "messages".to_string()
            } else {
                backup.stream_name.clone()
            };
            self.path = dir.join(format!("{name}.ndjson")).display().to_string();
        }
    }

    /// Starts writing `rows` (indices into `backup.messages`).
    pub fn start(
        &mut self,
        backup: Arc<Backup>,
        rows: Vec<u32>,
        reference_ns: i64,
        ctx: &egui::Context,
    ) {
        let format = self.format;
        let dest = PathBuf::from(self.path.trim());
        self.outcome = None;
        self.job = Some(spawn_job("export-rows", ctx, move |progress, cancel| {
            dump_rows(
                &backup,
                &rows,
                format,
                &dest,
                reference_ns,
                &mut |done, total| progress.set(done, total),
                cancel,
            )
            .map_err(|error| error.to_string())
        }));
    }

    pub fn poll(&mut self) {
        if let Some(result) = self.job.as_ref().and_then(|job| job.try_result()) {
            self.job = None;
            self.outcome = Some(result.map(|summary| {
                format!(
                    "{} messages written to {} ({} bytes)",
                    summary.messages,
                    summary.path.display(),
                    summary.bytes
                )
            }));
        }
        if let Some(result) = self.pick.as_ref().and_then(|job| job.try_result()) {
            self.pick = None;
            match result {
                Ok(Some(path)) => self.path = path.display().to_string(),
                Ok(None) => {}
                Err(message) => self.outcome = Some(Err(message)),
            }
        }
    }
}

// ------------------------------------------------------------- state

/// `selection` in the order shown (the primary row alone when nothing is selected).
pub fn selected_in_order(
    selection: &BTreeSet<u32>,
    shown: &Shown,
    primary: Option<usize>,
) -> Vec<u32> {
    if selection.is_empty() {
        return primary.map(|row| vec![row as u32]).unwrap_or_default();
    }
    if selection.len() == 1 {
        return selection.iter().copied().collect();
    }
    shown
        .message_rows()
        .into_iter()
        .filter(|row| selection.contains(row))
        .collect()
}

/// Header keys with how many sampled messages carry them.
type KeyCounts = Vec<(String, u64)>;

/// Everything the Messages table and detail keep between frames.
pub struct BrowseState {
    pub sort: SortOrder,
    /// (display list, order) → rows in that order.
    sorted: Option<(usize, SortOrder, Arc<Vec<u32>>)>,
    sort_job: Option<(usize, SortOrder, Job<Vec<u32>>)>,
    /// Selected message rows (indices into `backup.messages`).
    pub selection: BTreeSet<u32>,
    anchor: Option<u32>,
    pub scroll_to_shown: Option<usize>,
    pub header_keys: Vec<String>,
    pub new_key_text: String,
    key_offer: Option<(usize, KeyCounts)>,
    key_job: Option<(usize, Job<KeyCounts>)>,
    pub cells: HeaderCellCache,
    pub export: ExportState,
    copy_job: Option<Job<(String, String)>>,
    /// Messages to show as toasts (drained by the pane).
    pub notices: Vec<String>,
    pub detail: DetailState,
    /// Share of the pane's height the table gets.
    pub split_fraction: f32,
    /// Where the table and the detail were drawn last frame (tests check they do not overlap).
    pub table_rect: egui::Rect,
    pub detail_rect: egui::Rect,
}

impl Default for BrowseState {
    fn default() -> Self {
        Self {
            sort: SortOrder {
                key: crate::ops::sort::SortKey::Seq,
                descending: false,
            },
            sorted: None,
            sort_job: None,
            selection: BTreeSet::new(),
            anchor: None,
            scroll_to_shown: None,
            header_keys: Vec::new(),
            new_key_text: String::new(),
            key_offer: None,
            key_job: None,
            cells: HeaderCellCache::default(),
            export: ExportState::default(),
            copy_job: None,
            notices: Vec::new(),
            detail: DetailState::default(),
            split_fraction: 0.55,
            table_rect: egui::Rect::NOTHING,
            detail_rect: egui::Rect::NOTHING,
        }
    }
}

impl BrowseState {
    /// The rows to draw now: the sorted order when it is ready, else the display list.
    pub fn shown(&self, display: &Arc<DisplayList>) -> Shown {
        if self.sort.is_natural() {
            return Shown::Display(display.clone());
        }
        match &self.sorted {
            Some((list, order, rows)) if *list == list_key(display) && *order == self.sort => {
                Shown::Sorted(rows.clone())
            }
            _ => Shown::Display(display.clone()),
        }
    }

    pub fn sort_running(&self) -> bool {
        self.sort_job.is_some()
    }

    /// Polls the workers and starts the sort the current order needs.
    pub fn poll_jobs(
        &mut self,
        backup: &Arc<Backup>,
        display: &Arc<DisplayList>,
        ctx: &egui::Context,
    ) {
        if let Some((list, order, job)) = &self.sort_job {
            if let Some(result) = job.try_result() {
                if let Ok(rows) = result {
                    self.sorted = Some((*list, *order, Arc::new(rows)));
                }
                // A failed or cancelled sort leaves the old order on screen.
                self.sort_job = None;
            }
        }
        let wanted = (list_key(display), self.sort);
        let have = self.sorted.as_ref().map(|(list, order, _)| (*list, *order));
        let running = self
            .sort_job
            .as_ref()
            .map(|(list, order, _)| (*list, *order));
        if !self.sort.is_natural() && have != Some(wanted) && running != Some(wanted) {
            if let Some((_, _, job)) = self.sort_job.take() {
                job.request_cancel();
            }
            let backup = backup.clone();
            let list = display.clone();
            let order = self.sort;
            let job = spawn_job("sort", ctx, move |_, cancel| {
                let rows = Shown::Display(list).message_rows();
                sort_rows(&backup, rows, order, cancel)
            });
            self.sort_job = Some((wanted.0, wanted.1, job));
        }
        if let Some((backup_id, job)) = &self.key_job {
            if let Some(result) = job.try_result() {
                let keys = result.unwrap_or_else(|message| {
                    self.notices.push(format!("header keys: {message}"));
                    Vec::new()
                });
                self.key_offer = Some((*backup_id, keys));
                self.key_job = None;
            }
        }
        if let Some(result) = self.copy_job.as_ref().and_then(|job| job.try_result()) {
            self.copy_job = None;
            match result {
                Ok((text, notice)) => {
                    ctx.copy_text(text);
                    self.notices.push(notice);
                }
                Err(message) => self.notices.push(message),
            }
        }
        self.export.poll();
    }

    /// Polls the header cell worker (called by the table each frame).
    pub fn poll(&mut self, backup: &Arc<Backup>) {
        self.cells.poll(backup);
    }

    /// Maps a display-list position (go to seq) to a position in what is shown.
    pub fn translate_scroll(&self, shown: &Shown, position: usize, primary: Option<u32>) -> usize {
        match shown {
            Shown::Display(_) => position,
            Shown::Sorted(_) => primary.and_then(|row| shown.position_of(row)).unwrap_or(0),
        }
    }

    /// A click on `row` with `modifiers` (Ctrl toggles, Shift extends from the anchor).
    pub fn click(
        &mut self,
        row: u32,
        modifiers: egui::Modifiers,
        shown: &Shown,
        primary: Option<usize>,
    ) {
        if modifiers.command || modifiers.ctrl {
            if self.selection.is_empty() {
                if let Some(primary) = primary {
                    self.selection.insert(primary as u32);
                }
            }
            if !self.selection.remove(&row) {
                self.selection.insert(row);
            }
            self.anchor = Some(row);
        } else if modifiers.shift {
            let anchor = self.anchor.or(primary.map(|row| row as u32)).unwrap_or(row);
            let (Some(from), Some(to)) = (shown.position_of(anchor), shown.position_of(row)) else {
                self.selection = BTreeSet::from([row]);
                return;
            };
            let (low, high) = (from.min(to), from.max(to));
            self.selection = (low..=high)
                .filter_map(|position| match shown.get(position) {
                    Some(DisplayRow::Message(row)) => Some(row),
                    _ => None,
                })
                .collect();
        } else {
            self.selection = BTreeSet::from([row]);
            self.anchor = Some(row);
        }
    }

    /// Keeps the selection in step with a primary row chosen elsewhere (go to seq).
    pub fn follow_primary(&mut self, primary: Option<usize>) {
        match primary {
            Some(row) if !self.selection.contains(&(row as u32)) => {
                self.selection = BTreeSet::from([row as u32]);
                self.anchor = Some(row as u32);
            }
            None => self.selection.clear(),
            _ => {}
        }
    }

    /// Selected rows in the order shown (the primary row alone when nothing is selected).
    pub fn selected_in_order(&self, shown: &Shown, primary: Option<usize>) -> Vec<u32> {
        selected_in_order(&self.selection, shown, primary)
    }

    pub fn toggle_key(&mut self, key: &str) {
        if let Some(position) = self.header_keys.iter().position(|k| k == key) {
            self.header_keys.remove(position);
        } else {
            self.header_keys.push(key.to_string());
        }
    }

    /// Starts sampling header keys for the Columns menu (once per backup).
    pub fn request_key_sample(&mut self, backup: &Arc<Backup>, ctx: &egui::Context) {
        let id = backup_key(backup);
        let offered = self.key_offer.as_ref().is_some_and(|(b, _)| *b == id);
        let running = self.key_job.as_ref().is_some_and(|(b, _)| *b == id);
        if offered || running {
            return;
        }
        let backup = backup.clone();
        self.key_job = Some((
            id,
            spawn_job("header-keys", ctx, move |_, cancel| {
                sample_keys(&backup, 2_000, cancel)
            }),
        ));
    }

    pub fn offered_keys(&self) -> Option<&[(String, u64)]> {
        self.key_offer.as_ref().map(|(_, keys)| keys.as_slice())
    }

    /// Reads the payload of `row` on a worker and copies it when it arrives.
    pub fn copy_payload(&mut self, backup: &Arc<Backup>, row: u32, ctx: &egui::Context) {
        let backup = backup.clone();
        self.copy_job = Some(spawn_job("copy-payload", ctx, move |_, _| {
            let mut reader = MessageReader::open(&backup).map_err(|error| error.to_string())?;
            let bytes = reader
                .read_row(&backup, row as usize)
                .map_err(|error| error.to_string())?;
            let seq = backup.messages.seq.get(row as usize).copied().unwrap_or(0);
            let length = bytes.data.len();
            match String::from_utf8(bytes.data) {
                Ok(text) => Ok((
                    text,
                    format!("payload of seq {seq} copied ({length} bytes)"),
                )),
                Err(error) => {
                    let data = error.into_bytes();
                    Ok((
                        super::workers::hex_dump(&data, 64 * 1024),
                        format!("payload of seq {seq} is binary: its hex dump was copied"),
                    ))
                }
            }
        }));
    }
}
