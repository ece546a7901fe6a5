//! `bench`: indexing speed and memory against the raw-decode floor, measured in one run.
//! Measuring and printing only: the work measured is done by `ops` and `format`.

use anyhow::{anyhow, Result};
use jsbackup::ops::floor::floor_walk;
use jsbackup::ops::read::MessageReader;
use jsbackup::ops::scan::{open_backup, ScanControl};
use jsbackup::util::subject::subject_matches;
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct BenchArgs {
    /// Backup directory or data file (e.g. one made by make-fixtures --big).
    pub path: PathBuf,
    /// Runs per figure; the median is reported.
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Subject filter to time over the index.
    #[arg(long, default_value = ">")]
    pub filter: String,
    /// Payload text to search for (the Messages pane's "payload contains").
    #[arg(long, default_value = "coupon")]
    pub payload: String,
    /// A filter expression to time (the language `messages --where` takes).
    #[arg(
        long = "where",
        default_value = r#"subject ~ "orders.*.eu" and size > 100 and payload contains "coupon""#
    )]
    pub where_expression: String,
    #[arg(long)]
    pub json: bool,
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort_unstable();
    samples.get(samples.len() / 2).copied().unwrap_or_default()
}

/// Reads a `kB` line of /proc/self/status (VmRSS, VmHWM), in bytes.
fn proc_status_bytes(field: &str) -> u64 {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return 0;
    };
    status
        .lines()
        .find(|line| line.starts_with(field))
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

pub fn bench(args: &BenchArgs) -> Result<u8> {
    let source = jsbackup::ops::open::locate(&args.path)?;
    let runs = args.runs.max(1);
    let rss_start = proc_status_bytes("VmRSS:");
    let (floor, index, decompressed, backup) = time_floor_and_index(args, &source, runs)?;
    let rss_with_index = proc_status_bytes("VmRSS:");
    let peak_rss = proc_status_bytes("VmHWM:");
    let messages = backup.messages.len() as u64;
    // Payload reads: cold (new reader, decode the chunk) at spread-out rows.
    let read_samples = time_payload_reads(&backup, messages)?;
    let read_max = read_samples.iter().max().copied().unwrap_or_default();
    let read_median = median(read_samples);
    // Subject filter over the whole index.
    let (matched, filter_time) = time_subject_filter(&backup, &args.filter);
    // The Messages pane's own filter (ops::filter, as its worker runs it).
    let pane_filter = |spec| time_pane_filter(&backup, spec);
    let (pane_rows, pane_filter_time) = pane_filter(jsbackup::ops::filter::FilterSpec {
        subject_include: args.filter.clone(),
        ..Default::default()
    })?;
    let (payload_rows, payload_time) = pane_filter(jsbackup::ops::filter::FilterSpec {
        payload: args.payload.clone(),
        ..Default::default()
    })?;
    let (where_rows, where_time) = pane_filter(jsbackup::ops::filter::FilterSpec {
        expression: args.where_expression.clone(),
        ..Default::default()
    })?;
    // Time until the scan hands out its first rows (what the UI shows before the end).
    let first_rows = time_first_rows(&args.path);
    let index_heap = backup.messages.heap_bytes();
    let per_message = |bytes: u64| {
        if messages > 0 {
            bytes as f64 / messages as f64
        } else {
            0.0
        }
    };
    let document = serde_json::json!({
        "path": args.path.display().to_string(),
        "format": backup.format.map(|f| f.label()),
        "messages": messages,
        "file_bytes": source.data_file_bytes,
        "decompressed_bytes": decompressed,
        "runs": runs,
        "floor_seconds": floor.as_secs_f64(),
        "index_seconds": index.as_secs_f64(),
        "index_over_floor": index.as_secs_f64() / floor.as_secs_f64().max(1e-9),
        "messages_per_second": messages as f64 / index.as_secs_f64().max(1e-9),
        "index_heap_bytes_per_message": per_message(index_heap as u64),
        "rss_growth_bytes_per_message": per_message(rss_with_index.saturating_sub(rss_start)),
        "peak_rss_bytes": peak_rss,
        "payload_read_median_ms": read_median.as_secs_f64() * 1e3,
        "payload_read_max_ms": read_max.as_secs_f64() * 1e3,
        "filter": args.filter,
        "filter_matched": matched,
        "filter_ms": filter_time.as_secs_f64() * 1e3,
        "first_rows_ms": first_rows.as_secs_f64() * 1e3,
        "pane_filter_ms": pane_filter_time.as_secs_f64() * 1e3,
        "pane_filter_rows": pane_rows,
        "payload_search_ms": payload_time.as_secs_f64() * 1e3,
        "payload_search_rows": payload_rows,
        "where": args.where_expression,
        "where_ms": where_time.as_secs_f64() * 1e3,
        "where_rows": where_rows,
    });
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&document)?)?;
    } else {
        outln!(
            "{}: {messages} messages ({} format)",
            args.path.display(),
            document["format"].as_str().unwrap_or("?")
        )?;
        outln!(
            "  raw S2 decode + walk (floor): {:8.3} s  (median of {runs})",
            floor.as_secs_f64()
        )?;
        outln!(
            "  full index:                   {:8.3} s  = {:.2}× floor, {:.2} M msg/s",
            index.as_secs_f64(),
            document["index_over_floor"].as_f64().unwrap_or(0.0),
            document["messages_per_second"].as_f64().unwrap_or(0.0) / 1e6
        )?;
        outln!("  index memory:                 {:8.1} B/msg heap, {:.1} B/msg RSS growth, peak RSS {:.1} MiB", per_message(index_heap as u64), per_message(rss_with_index.saturating_sub(rss_start)), peak_rss as f64 / 1048576.0)?;
        outln!(
            "  payload read (cold chunk):    {:8.3} ms median, {:.3} ms max",
            read_median.as_secs_f64() * 1e3,
            read_max.as_secs_f64() * 1e3
        )?;
        outln!(
            "  Messages pane filter {:?}:   {:8.1} ms, {pane_rows} rows; payload contains {:?}: {:.1} ms, {payload_rows} rows",
            args.filter,
            pane_filter_time.as_secs_f64() * 1e3,
            args.payload,
            payload_time.as_secs_f64() * 1e3
        )?;
        outln!(
            "  --where {:?}: {:.1} ms, {where_rows} rows",
            args.where_expression,
            where_time.as_secs_f64() * 1e3
        )?;
        outln!(
            "  first rows handed out after:  {:8.3} ms",
            first_rows.as_secs_f64() * 1e3
        )?;
        outln!(
            "  subject filter {:?}: {:8.3} ms, {matched} matched",
            args.filter,
            filter_time.as_secs_f64() * 1e3
        )?;
    }
    Ok(0)
}

/// Times `runs` raw-decode floor walks and full index opens; returns their medians,
/// the decompressed size and the last opened backup.
fn time_floor_and_index(
    args: &BenchArgs,
    source: &jsbackup::model::BackupSource,
    runs: usize,
) -> Result<(Duration, Duration, u64, jsbackup::model::Backup)> {
    let mut floor_samples = Vec::new();
    let mut index_samples = Vec::new();
    let mut decompressed = 0;
    let mut last_backup = None;
    for _ in 0..runs {
        let started = Instant::now();
        let (bytes, _) = floor_walk(&source.data_file)?;
        floor_samples.push(started.elapsed());
        decompressed = bytes;
        drop(last_backup.take());
        let started = Instant::now();
        let backup = open_backup(&args.path, &mut ScanControl::default())
            .map_err(|error| anyhow!("{error}"))?;
        index_samples.push(started.elapsed());
        last_backup = Some(backup);
    }
    let backup = last_backup.ok_or_else(|| anyhow!("no run"))?;
    Ok((
        median(floor_samples),
        median(index_samples),
        decompressed,
        backup,
    ))
}

/// Times cold payload reads (new reader, decode the chunk) at 50 spread-out rows.
fn time_payload_reads(backup: &jsbackup::model::Backup, messages: u64) -> Result<Vec<Duration>> {
    let mut read_samples = Vec::new();
    if messages > 0 {
        for step in 0..50u64 {
            let row = (step * messages / 50) as usize;
            let started = Instant::now();
            let mut reader = MessageReader::open(backup)?;
            reader.read_row(backup, row)?;
            read_samples.push(started.elapsed());
        }
    }
    Ok(read_samples)
}

/// Times the subject filter `filter` over the whole index; returns the matched count.
fn time_subject_filter(backup: &jsbackup::model::Backup, filter: &str) -> (usize, Duration) {
    let started = Instant::now();
    let matching_subjects: Vec<bool> = (0..backup.subjects.len() as u32)
        .map(|id| subject_matches(filter, backup.subjects.name(id)))
        .collect();
    let matched = backup
        .messages
        .subject_id
        .iter()
        .filter(|&&id| matching_subjects.get(id as usize).copied().unwrap_or(false))
        .count();
    (matched, started.elapsed())
}

/// Times the Messages pane's own filter (ops::filter, as its worker runs it); returns the row count.
fn time_pane_filter(
    backup: &jsbackup::model::Backup,
    spec: jsbackup::ops::filter::FilterSpec,
) -> Result<(usize, Duration)> {
    let started = Instant::now();
    let rows =
        jsbackup::ops::filter::run(backup, &spec, 0, &std::sync::atomic::AtomicBool::new(false))
            .map_err(|error| anyhow!("{error}"))?
            .message_count;
    Ok((rows, started.elapsed()))
}

/// Times a scan of `path` until it hands out its first rows (what the UI shows before the end).
fn time_first_rows(path: &std::path::Path) -> Duration {
    let started = Instant::now();
    let mut first_rows: Option<Duration> = None;
    let cancel = std::sync::atomic::AtomicBool::new(false);
    let mut on_progress = |_: &jsbackup::ops::scan::ScanProgress,
                           partial: &jsbackup::model::Backup| {
        if first_rows.is_none() && !partial.messages.is_empty() {
            first_rows = Some(started.elapsed());
            cancel.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    };
    let mut control = ScanControl {
        cancel: Some(&cancel),
        on_progress: Some(&mut on_progress),
        memory_budget: None,
    };
    // Cancelled on purpose at the first rows, so Err(Cancelled) is the expected outcome; the file was opened in full above.
    let _ = open_backup(path, &mut control);
    first_rows.unwrap_or_default()
}
