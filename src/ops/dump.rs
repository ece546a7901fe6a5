//! Writing chosen rows of a backup out for other tools: NDJSON (the objects
//! `jsbackup messages --json` prints), CSV, or one JSON file per message in the
//! layout of `nats sub --dump DIR` (`<seq>.json` holding Subject, Reply,
//! Header and base64 Data). Files are written to a temp path, fsynced and
//! renamed; nothing existing is overwritten.

use crate::format::headers::parse_header_block;
use crate::model::Backup;
use crate::ops::read::MessageReader;
use crate::ops::report::message_json;
use base64::Engine;
use serde_json::{Map, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DumpFormat {
    /// One `messages --json` object a line; with `raw`, plus base64 `hdr`/`data` like `--raw`.
    Ndjson { raw: bool },
    /// seq,time,subject,hdr_len,data_len,ttl,expired
    Csv,
    /// A directory of `<seq>.json` files like `nats sub --dump`.
    NatsDump,
}

impl DumpFormat {
    pub fn label(self) -> &'static str {
        match self {
            DumpFormat::Ndjson { raw: false } => "NDJSON",
            DumpFormat::Ndjson { raw: true } => "NDJSON with payloads",
            DumpFormat::Csv => "CSV",
            DumpFormat::NatsDump => "files (nats sub --dump)",
        }
    }
    /// Reads message bytes (slower: goes through the data file).
    pub fn needs_bytes(self) -> bool {
        matches!(
            self,
            DumpFormat::Ndjson { raw: true } | DumpFormat::NatsDump
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DumpError {
    #[error("{0} exists already (choose another name)")]
    Exists(PathBuf),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("reading the message: {0}")]
    Read(#[from] crate::ops::read::ReadError),
    #[error("cancelled after {0} messages (nothing kept)")]
    Cancelled(u64),
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> DumpError + '_ {
    move |source| DumpError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The `messages --json` object of a row, with base64 `hdr` and `data` when
/// bytes are given (what `--raw` adds).
pub fn row_json(
    backup: &Backup,
    row: usize,
    reference_ns: i64,
    bytes: Option<(&[u8], &[u8])>,
) -> Option<Value> {
    let mut line = message_json(backup, row, reference_ns)?;
    if let Some((headers, data)) = bytes {
        let engine = base64::engine::general_purpose::STANDARD;
        line["hdr"] = engine.encode(headers).into();
        line["data"] = engine.encode(data).into();
    }
    Some(line)
}

/// A CSV field, quoted when it holds a comma, quote or line break (RFC 4180).
pub fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

pub const CSV_HEADER: &str = "seq,time,subject,hdr_len,data_len,ttl,expired";

fn csv_line(line: &Value) -> String {
    let text = |key: &str| match &line[key] {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    [
        "seq", "time", "subject", "hdr_len", "data_len", "ttl", "expired",
    ]
    .iter()
    .map(|key| csv_field(&text(key)))
    .collect::<Vec<_>>()
    .join(",")
}

/// The JSON `nats sub --dump` writes for a message (Go's `nats.Msg` encoding).
pub fn nats_dump_json(subject: &str, headers: &[u8], data: &[u8]) -> Value {
    let engine = base64::engine::general_purpose::STANDARD;
    let header = if headers.is_empty() {
        Value::Null
    } else {
        let mut map: Map<String, Value> = Map::new();
        for (name, value) in parse_header_block(headers).entries {
            match map.entry(name).or_insert_with(|| Value::Array(Vec::new())) {
                Value::Array(values) => values.push(Value::from(value)),
                other => *other = Value::Array(vec![Value::from(value)]),
            }
        }
        Value::Object(map)
    };
    serde_json::json!({
        "Subject": subject,
        "Reply": "",
        "Header": header,
        "Data": engine.encode(data),
    })
}

/// A file beside `dest` that is renamed over it once complete.
fn temp_path(dest: &Path) -> PathBuf {
    let name = dest
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| "export".into());
    dest.with_file_name(format!(".{name}.partial-{}", std::process::id()))
}

fn write_file_atomically(dest: &Path, bytes: &[u8]) -> Result<(), DumpError> {
    if dest.exists() {
        return Err(DumpError::Exists(dest.to_path_buf()));
    }
    let temp = temp_path(dest);
    let mut file = std::fs::File::create(&temp).map_err(io_error(&temp))?;
    file.write_all(bytes).map_err(io_error(&temp))?;
    file.sync_all().map_err(io_error(&temp))?;
    drop(file);
    std::fs::rename(&temp, dest).map_err(io_error(dest))
}

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DumpSummary {
    pub messages: u64,
    pub bytes: u64,
    pub path: PathBuf,
}

/// Writes `rows` (indices into `backup.messages`, in the order given) to
/// `dest` in `format`. `progress(done, total)` is called every 256 rows.
pub fn dump_rows(
    backup: &Backup,
    rows: &[u32],
    format: DumpFormat,
    dest: &Path,
    reference_ns: i64,
    progress: &mut dyn FnMut(u64, u64),
    cancel: &AtomicBool,
) -> Result<DumpSummary, DumpError> {
    if dest.exists() {
        return Err(DumpError::Exists(dest.to_path_buf()));
    }
    let mut reader = if format.needs_bytes() {
        Some(MessageReader::open(backup)?)
    } else {
        None
    };
    match format {
        DumpFormat::NatsDump => {
            dump_directory(backup, rows, dest, reader.as_mut(), progress, cancel)
        }
        DumpFormat::Ndjson { .. } | DumpFormat::Csv => {
            let temp = temp_path(dest);
            let result = dump_lines(
                backup,
                rows,
                format,
                &temp,
                reference_ns,
                reader.as_mut(),
                progress,
                cancel,
            );
            match result {
                Ok(bytes) => {
                    std::fs::rename(&temp, dest).map_err(io_error(dest))?;
                    Ok(DumpSummary {
                        messages: rows.len() as u64,
                        bytes,
                        path: dest.to_path_buf(),
                    })
                }
                Err(error) => {
                    // The partial file is useless; the error says why it is gone.
                    let _ = std::fs::remove_file(&temp);
                    Err(error)
                }
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn dump_lines(
    backup: &Backup,
    rows: &[u32],
    format: DumpFormat,
    temp: &Path,
    reference_ns: i64,
    mut reader: Option<&mut MessageReader>,
    progress: &mut dyn FnMut(u64, u64),
    cancel: &AtomicBool,
) -> Result<u64, DumpError> {
    let file = std::fs::File::create(temp).map_err(io_error(temp))?;
    let mut out = std::io::BufWriter::new(file);
    let mut written = 0u64;
    if format == DumpFormat::Csv {
        writeln!(out, "{CSV_HEADER}").map_err(io_error(temp))?;
        written += CSV_HEADER.len() as u64 + 1;
    }
    let total = rows.len() as u64;
    for (done, &row) in rows.iter().enumerate() {
        if done % 256 == 0 {
            if cancel.load(Ordering::Relaxed) {
                return Err(DumpError::Cancelled(done as u64));
            }
            progress(done as u64, total);
        }
        let row = row as usize;
        let bytes = match reader.as_mut() {
            Some(reader) => Some(reader.read_row(backup, row)?),
            None => None,
        };
        let Some(line) = row_json(
            backup,
            row,
            reference_ns,
            bytes
                .as_ref()
                .map(|bytes| (bytes.headers.as_slice(), bytes.data.as_slice())),
        ) else {
            continue;
        };
        let text = match format {
            DumpFormat::Csv => csv_line(&line),
            _ => line.to_string(),
        };
        writeln!(out, "{text}").map_err(io_error(temp))?;
        written += text.len() as u64 + 1;
    }
    progress(total, total);
    let file = out.into_inner().map_err(|error| DumpError::Io {
        path: temp.to_path_buf(),
        source: error.into_error(),
    })?;
    file.sync_all().map_err(io_error(temp))?;
    Ok(written)
}

fn dump_directory(
    backup: &Backup,
    rows: &[u32],
    dest: &Path,
    reader: Option<&mut MessageReader>,
    progress: &mut dyn FnMut(u64, u64),
    cancel: &AtomicBool,
) -> Result<DumpSummary, DumpError> {
    let Some(reader) = reader else {
        return Err(DumpError::Io {
            path: dest.to_path_buf(),
            source: std::io::Error::other("no reader"),
        });
    };
    // Build in a temp directory, then rename it into place in one step.
    let temp = temp_path(dest);
    std::fs::create_dir(&temp).map_err(io_error(&temp))?;
    let result = (|| {
        let total = rows.len() as u64;
        let mut written = 0u64;
        for (done, &row) in rows.iter().enumerate() {
            if done % 64 == 0 {
                if cancel.load(Ordering::Relaxed) {
                    return Err(DumpError::Cancelled(done as u64));
                }
                progress(done as u64, total);
            }
            let row = row as usize;
            let Some(message) = backup.messages.row(row) else {
                continue;
            };
            let bytes = reader.read_row(backup, row)?;
            let json = nats_dump_json(
                backup.subjects.name(message.subject_id),
                &bytes.headers,
                &bytes.data,
            );
            let text = json.to_string();
            write_file_atomically(&temp.join(format!("{}.json", message.seq)), text.as_bytes())?;
            written += text.len() as u64;
        }
        progress(total, total);
        Ok(written)
    })();
    match result {
        Ok(bytes) => {
            std::fs::rename(&temp, dest).map_err(io_error(dest))?;
            Ok(DumpSummary {
                messages: rows.len() as u64,
                bytes,
                path: dest.to_path_buf(),
            })
        }
        Err(error) => {
            // Partial output is removed; the error says why.
            let _ = std::fs::remove_dir_all(&temp);
            Err(error)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_only_when_needed() {
        assert_eq!(csv_field("orders.eu"), "orders.eu");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }

    #[test]
    fn nats_dump_groups_repeated_header_values() {
        let json = nats_dump_json("a.b", b"NATS/1.0\r\nK: 1\r\nK: 2\r\nL: x\r\n\r\n", b"hi");
        assert_eq!(json["Header"]["K"], serde_json::json!(["1", "2"]));
        assert_eq!(json["Header"]["L"], serde_json::json!(["x"]));
        assert_eq!(json["Data"], "aGk=");
        assert_eq!(json["Subject"], "a.b");
        assert!(nats_dump_json("a", b"", b"")["Header"].is_null());
    }
}
