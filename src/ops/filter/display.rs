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
    /// An index into `backup.damaged_records`: a damaged message that is no row
    /// of `backup.messages` (its bytes fail their check).
    Damaged(u32),
    /// An index into `backup.lost`: sequences whose bytes are not in the archive.
    Lost(u32),
}

impl DisplayRow {
    /// The first sequence the line stands for.
    pub fn first_seq(&self, backup: &Backup) -> u64 {
        let index = |value: u32| value as usize;
        match *self {
            DisplayRow::Message(row) => backup.messages.seq.get(index(row)).copied(),
            DisplayRow::Gap(gap) => backup.deleted.get(index(gap)).map(|range| range.0),
            DisplayRow::Damaged(record) => backup
                .damaged_records
                .get(index(record))
                .map(|record| record.seq),
            DisplayRow::Lost(lost) => backup.lost.get(index(lost)).map(|range| range.0),
        }
        .unwrap_or(0)
    }

    /// The last sequence the line stands for.
    fn last_seq(&self, backup: &Backup) -> u64 {
        match *self {
            DisplayRow::Gap(gap) => backup.deleted.get(gap as usize).map(|range| range.1),
            DisplayRow::Lost(lost) => backup.lost.get(lost as usize).map(|range| range.1),
            _ => None,
        }
        .unwrap_or_else(|| self.first_seq(backup))
    }
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
        let position = self.rows.partition_point(|row| row.first_seq(backup) < seq);
        // seq inside the range line before: show that line.
        if let Some(before) = position.checked_sub(1) {
            if let Some(row) = self.rows.get(before) {
                if row.first_seq(backup) < seq && row.last_seq(backup) >= seq {
                    return Some(before);
                }
            }
        }
        (position < self.rows.len()).then_some(position)
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
    if let Some((from, to)) = damaged_records_wanted(spec, &compiled) {
        merge_damaged_records(backup, &mut list, from, to);
    }
    Ok(list)
}

/// The `damaged` field with at most a sequence range beside it also lists the
/// damaged messages that are no row (v1 records failing their checksum): the
/// other fields test bytes these records cannot be trusted for.
fn damaged_records_wanted(spec: &FilterSpec, compiled: &Compiled) -> Option<(u64, u64)> {
    let only_range = FilterSpec {
        seq_from: spec.seq_from.clone(),
        seq_to: spec.seq_to.clone(),
        only_damaged: true,
        ..FilterSpec::default()
    };
    (spec.only_damaged && *spec == only_range).then_some((compiled.seq_from, compiled.seq_to))
}

/// Puts the damaged-record lines with sequences in `from..=to` among the message
/// lines, in sequence order (one linear merge).
fn merge_damaged_records(backup: &Backup, list: &mut DisplayList, from: u64, to: u64) {
    let mut records = backup
        .damaged_records
        .iter()
        .enumerate()
        .filter(|(_, record)| (from..=to).contains(&record.seq))
        .map(|(index, record)| (record.seq, DisplayRow::Damaged(index as u32)))
        .peekable();
    if records.peek().is_none() {
        return;
    }
    let mut rows = Vec::with_capacity(list.rows.len() + backup.damaged_records.len());
    for line in list.rows.drain(..) {
        let seq = line.first_seq(backup);
        while let Some((_, record)) = records.next_if(|(record_seq, _)| *record_seq < seq) {
            rows.push(record);
        }
        rows.push(line);
    }
    rows.extend(records.map(|(_, record)| record));
    list.rows = rows;
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

/// Every message plus one line per deleted range, per damaged message that is
/// no row (v1 records failing their checksum) and per lost range, in sequence
/// order (a linear merge of the four sorted lists).
pub fn all_rows_with_gaps(backup: &Backup) -> DisplayList {
    let messages = &backup.messages;
    let mut rows = Vec::with_capacity(
        messages.len() + backup.deleted.len() + backup.damaged_records.len() + backup.lost.len(),
    );
    // The lines that are not messages, each list already sorted by first sequence.
    let others: [Vec<DisplayRow>; 3] = [
        (0..backup.deleted.len() as u32)
            .map(DisplayRow::Gap)
            .collect(),
        (0..backup.damaged_records.len() as u32)
            .map(DisplayRow::Damaged)
            .collect(),
        (0..backup.lost.len() as u32)
            .map(DisplayRow::Lost)
            .collect(),
    ];
    let mut next = [0usize; 3];
    let mut push_before = |rows: &mut Vec<DisplayRow>, limit: Option<u64>| loop {
        let smallest = (0..3)
            .filter_map(|list| {
                let line = others[list].get(next[list])?;
                Some((line.first_seq(backup), list, *line))
            })
            .min_by_key(|(seq, list, _)| (*seq, *list));
        match smallest {
            Some((seq, list, line)) if limit.is_none_or(|limit| seq < limit) => {
                rows.push(line);
                next[list] += 1;
            }
            _ => break,
        }
    };
    for (row, &seq) in messages.seq.iter().enumerate() {
        push_before(&mut rows, Some(seq));
        rows.push(DisplayRow::Message(row as u32));
    }
    push_before(&mut rows, None);
    DisplayList {
        rows,
        message_count: messages.len(),
    }
}
