//! The Messages pane's display list: the rows a filter keeps, computed on a worker
//! with partial results, progress and cancel.

use super::{Compiled, FilterError, FilterSpec};
use crate::model::Backup;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// One line of the Messages table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisplayRow {
    /// A row of `backup.messages`.
    Message(u32),
    /// An index into `backup.deleted`.
    Gap(u32),
}

/// The rows the table shows, in sequence order.
#[derive(Debug, Clone, Default)]
pub struct DisplayList {
    pub rows: Vec<DisplayRow>,
    /// Message rows (gaps not counted).
    pub message_count: usize,
}

impl DisplayList {
    /// Position in the list of the first line at or after `seq`.
    pub fn position_of_seq(&self, backup: &Backup, seq: u64) -> Option<usize> {
        let key = |row: &DisplayRow| -> u64 {
            match *row {
                DisplayRow::Message(index) => backup
                    .messages
                    .seq
                    .get(index as usize)
                    .copied()
                    .unwrap_or(0),
                DisplayRow::Gap(index) => backup
                    .deleted
                    .get(index as usize)
                    .map(|range| range.0)
                    .unwrap_or(0),
            }
        };
        let position = self.rows.partition_point(|row| key(row) < seq);
        if position < self.rows.len() {
            return Some(position);
        }
        // seq inside the last gap: show the gap.
        let last = self.rows.len().checked_sub(1)?;
        match self.rows.get(last) {
            Some(DisplayRow::Gap(index)) => backup
                .deleted
                .get(*index as usize)
                .filter(|range| range.1 >= seq)
                .map(|_| last),
            _ => None,
        }
    }
}

/// Computes the display list. `Err` is for the filter row (bad input,
/// unreadable data file, or cancelled).
pub fn run(
    backup: &Backup,
    spec: &FilterSpec,
    reference_ns: i64,
    cancel: &AtomicBool,
) -> Result<DisplayList, FilterError> {
    run_streaming(backup, spec, reference_ns, cancel, &mut |_, _, _| {})
}

/// Like [`run`], handing out the rows found so far (and rows scanned of all)
/// every quarter second, so slow payload searches show results as they come.
pub fn run_streaming(
    backup: &Backup,
    spec: &FilterSpec,
    reference_ns: i64,
    cancel: &AtomicBool,
    partial: &mut dyn FnMut(&DisplayList, usize, usize),
) -> Result<DisplayList, FilterError> {
    if spec.is_empty() {
        return Ok(all_rows_with_gaps(backup));
    }
    let compiled = spec.to_filter()?.compile(backup, reference_ns)?;
    let mut list = DisplayList::default();
    // `scan` calls back with the row (found) or the progress, never both at once.
    let list_cell = std::cell::RefCell::new(&mut list);
    scan(
        backup,
        &compiled,
        cancel,
        &mut |row| {
            let mut list = list_cell.borrow_mut();
            list.rows.push(DisplayRow::Message(row as u32));
            list.message_count += 1;
        },
        &mut |scanned, total| partial(&list_cell.borrow(), scanned, total),
    )?;
    Ok(list)
}

/// Calls `found(row)` for each matching row in order, `progress(scanned, total)`
/// every quarter second. The one loop the pane, `messages`, `bench` and tests share.
pub fn scan(
    backup: &Backup,
    compiled: &Compiled,
    cancel: &AtomicBool,
    found: &mut dyn FnMut(usize),
    progress: &mut dyn FnMut(usize, usize),
) -> Result<(), FilterError> {
    let messages = &backup.messages;
    if compiled.seq_from > compiled.seq_to {
        return Ok(());
    }
    let mut matcher = compiled
        .matcher(backup)
        .map_err(|error| FilterError::other(error.to_string()))?;
    let start = messages.lower_bound(compiled.seq_from);
    let end = messages
        .lower_bound(compiled.seq_to.saturating_add(1))
        .max(start);
    let mut last_progress = Instant::now();
    for row in start..end {
        if row % 4096 == 0 {
            if cancel.load(Ordering::Relaxed) {
                return Err(FilterError::cancelled());
            }
            if last_progress.elapsed() >= Duration::from_millis(250) {
                progress(row - start, end - start);
                last_progress = Instant::now();
            }
        }
        if matcher.matches(row) {
            found(row);
        }
    }
    Ok(())
}

/// Every message plus one gap line per deleted range, in sequence order.
pub fn all_rows_with_gaps(backup: &Backup) -> DisplayList {
    let messages = &backup.messages;
    let mut rows = Vec::with_capacity(messages.len() + backup.deleted.len());
    let mut gaps = backup.deleted.iter().enumerate().peekable();
    for (row, &seq) in messages.seq.iter().enumerate() {
        while let Some((gap_index, _)) = gaps.next_if(|(_, range)| range.0 < seq) {
            rows.push(DisplayRow::Gap(gap_index as u32));
        }
        rows.push(DisplayRow::Message(row as u32));
    }
    for (gap_index, _) in gaps {
        rows.push(DisplayRow::Gap(gap_index as u32));
    }
    DisplayList {
        rows,
        message_count: messages.len(),
    }
}
