//! Message filtering for the Messages pane. Runs on a worker thread (header and
//! payload filters read message bytes); produces the display list the table shows.

use crate::format::headers::parse_header_block;
use crate::model::Backup;
use crate::ops::read::MessageReader;
use crate::util::subject::subject_matches;
use std::sync::atomic::{AtomicBool, Ordering};

/// What the user typed in the filter row (plain text, compiled on the worker).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilterSpec {
    /// Subject wildcards, separated by commas or spaces; any may match.
    pub subject_include: String,
    /// Subject wildcards to leave out.
    pub subject_exclude: String,
    pub seq_from: String,
    pub seq_to: String,
    /// RFC 3339 bounds (inclusive).
    pub time_from: String,
    pub time_to: String,
    /// `Name` (present) or `Name:value` (equal, value trimmed).
    pub header: String,
    pub payload: String,
    pub payload_regex: bool,
    pub only_expired: bool,
}

impl FilterSpec {
    /// Nothing to filter on: the table shows every row plus deleted gaps.
    pub fn is_empty(&self) -> bool {
        self.subject_include.trim().is_empty()
            && self.subject_exclude.trim().is_empty()
            && self.seq_from.trim().is_empty()
            && self.seq_to.trim().is_empty()
            && self.time_from.trim().is_empty()
            && self.time_to.trim().is_empty()
            && self.header.trim().is_empty()
            && self.payload.is_empty()
            && !self.only_expired
    }
}

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

enum HeaderMatch {
    Present(String),
    Equals(String, String),
}

enum PayloadMatch {
    Contains(Vec<u8>),
    Regex(regex::bytes::Regex),
}

struct Compiled {
    include: Vec<String>,
    exclude: Vec<String>,
    seq_from: u64,
    seq_to: u64,
    time_from: i64,
    time_to: i64,
    header: Option<HeaderMatch>,
    payload: Option<PayloadMatch>,
    only_expired: bool,
}

fn wildcard_list(text: &str) -> Vec<String> {
    text.split([',', ' '])
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(str::to_string)
        .collect()
}

fn parse_seq(text: &str, what: &str, default: u64) -> Result<u64, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Ok(default);
    }
    trimmed
        .replace(',', "")
        .parse()
        .map_err(|_| format!("{what}: '{trimmed}' is not a sequence number"))
}

fn parse_time(text: &str, what: &str, default: i64) -> Result<i64, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Ok(default);
    }
    crate::util::time::parse_rfc3339_ns(trimmed)
        .ok_or_else(|| format!("{what}: '{trimmed}' is not an RFC 3339 time"))
}

fn compile(spec: &FilterSpec) -> Result<Compiled, String> {
    let header = {
        let trimmed = spec.header.trim();
        if trimmed.is_empty() {
            None
        } else if let Some((name, value)) = trimmed.split_once(':') {
            Some(HeaderMatch::Equals(
                name.trim().to_string(),
                value.trim().to_string(),
            ))
        } else {
            Some(HeaderMatch::Present(trimmed.to_string()))
        }
    };
    let payload = if spec.payload.is_empty() {
        None
    } else if spec.payload_regex {
        let regex = regex::bytes::Regex::new(&spec.payload)
            .map_err(|error| format!("payload regex: {error}"))?;
        Some(PayloadMatch::Regex(regex))
    } else {
        Some(PayloadMatch::Contains(spec.payload.as_bytes().to_vec()))
    };
    Ok(Compiled {
        include: wildcard_list(&spec.subject_include),
        exclude: wildcard_list(&spec.subject_exclude),
        seq_from: parse_seq(&spec.seq_from, "seq from", 0)?,
        seq_to: parse_seq(&spec.seq_to, "seq to", u64::MAX)?,
        time_from: parse_time(&spec.time_from, "time from", i64::MIN)?,
        time_to: parse_time(&spec.time_to, "time to", i64::MAX)?,
        header,
        payload,
        only_expired: spec.only_expired,
    })
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty()
        || haystack
            .windows(needle.len())
            .any(|window| window == needle)
}

/// Computes the display list. `Err` carries a message for the filter row
/// (bad input, unreadable data file, or "cancelled").
pub fn run(
    backup: &Backup,
    spec: &FilterSpec,
    reference_ns: i64,
    cancel: &AtomicBool,
) -> Result<DisplayList, String> {
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
) -> Result<DisplayList, String> {
    let messages = &backup.messages;
    if spec.is_empty() {
        return Ok(all_rows_with_gaps(backup));
    }
    let compiled = compile(spec)?;
    // Subject decisions once per interned subject, not per message.
    let subject_ok: Vec<bool> = (0..backup.subjects.len())
        .map(|id| {
            let name = backup.subjects.name(id as u32);
            let included = compiled.include.is_empty()
                || compiled
                    .include
                    .iter()
                    .any(|filter| subject_matches(filter, name));
            let excluded = compiled
                .exclude
                .iter()
                .any(|filter| subject_matches(filter, name));
            included && !excluded
        })
        .collect();
    let needs_bytes = compiled.header.is_some() || compiled.payload.is_some();
    let mut reader = if needs_bytes {
        Some(MessageReader::open(backup).map_err(|error| error.to_string())?)
    } else {
        None
    };
    let start = messages.lower_bound(compiled.seq_from);
    let mut list = DisplayList::default();
    let mut last_partial = std::time::Instant::now();
    for row in start..messages.len() {
        if row % 4096 == 0 {
            if cancel.load(Ordering::Relaxed) {
                return Err("cancelled".into());
            }
            if last_partial.elapsed() >= std::time::Duration::from_millis(250) {
                partial(&list, row - start, messages.len() - start);
                last_partial = std::time::Instant::now();
            }
        }
        let Some(message) = messages.row(row) else {
            break;
        };
        if message.seq > compiled.seq_to {
            break;
        }
        if !subject_ok
            .get(message.subject_id as usize)
            .copied()
            .unwrap_or(false)
        {
            continue;
        }
        if message.ts_ns < compiled.time_from || message.ts_ns > compiled.time_to {
            continue;
        }
        if compiled.only_expired
            && !messages
                .ttl_of(message.seq)
                .is_expired(message.ts_ns, reference_ns)
        {
            continue;
        }
        if let Some(reader) = reader.as_mut() {
            // A message we cannot read does not match (the Findings pane reports the damage).
            let Ok(bytes) = reader.read_row(backup, row) else {
                continue;
            };
            if let Some(header) = &compiled.header {
                let block = parse_header_block(&bytes.headers);
                let found = block.entries.iter().any(|(name, value)| match header {
                    HeaderMatch::Present(wanted) => name.eq_ignore_ascii_case(wanted),
                    HeaderMatch::Equals(wanted, wanted_value) => {
                        name.eq_ignore_ascii_case(wanted) && value.trim() == wanted_value
                    }
                });
                if !found {
                    continue;
                }
            }
            match &compiled.payload {
                Some(PayloadMatch::Contains(needle)) if !contains(&bytes.data, needle) => continue,
                Some(PayloadMatch::Regex(regex)) if !regex.is_match(&bytes.data) => continue,
                _ => {}
            }
        }
        list.rows.push(DisplayRow::Message(row as u32));
        list.message_count += 1;
    }
    Ok(list)
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
