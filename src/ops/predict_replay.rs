//! The v2 restore replayed byte by byte, as nats-server's `RestoreStreamV2`
//! and its archive reader would read this archive: used for damaged archives,
//! where what the server parses out of misplaced or garbage bytes decides
//! where (and with which error) it stops. Reads the decompressed stream through
//! the chunk index up to the first chunk the server's S2 reader rejects.
//!
//! Server rules followed (server/archive/archive.go, server/stream_backup.go):
//! any read error inside an entry header or its data is `archive: invalid
//! archive stream`, except the magic (the S2 error itself) and the first field
//! at a clean end (`EOF`); the first entry must be `state.json`; then its
//! `consumer_count` consumer entries; then messages until the all-zero sentinel.

use crate::format::headers::{message_ttl, Ttl};
use crate::format::s2::RangeReader;
use crate::format::v2::{parse_entry_header, EntryHeader, MAGIC};
use crate::model::Backup;
use crate::ops::predict::first_s2_failure;

/// The server's default `max_payload`.
const MAX_PAYLOAD: u64 = 1 << 20;
/// An entry header is at most five 10-byte varints plus the name.
const MAX_VARINTS: usize = 50;
const INVALID: &str = "archive: invalid archive stream";

/// What the replayed restore ends with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replay {
    pub stream_created: bool,
    /// Messages stored (expired ones are skipped, not stored).
    pub stored: u64,
    pub last_seq: u64,
    pub expired: u64,
    /// `None`: the restore succeeds.
    pub error: Option<String>,
    /// False when only a prefix of `error` is certain (a Go JSON error text).
    pub exact: bool,
    /// The sequence it failed at, when it failed reading a message.
    pub failed_seq: Option<u64>,
}

/// Bytes the server can read: the decompressed stream up to `limit`.
struct Source {
    range: RangeReader<std::fs::File>,
    limit: u64,
    /// The S2 error at `limit`, or `None` for a clean end of stream.
    s2_error: Option<&'static str>,
}

impl Source {
    fn read(&mut self, offset: u64, len: u64) -> Option<Vec<u8>> {
        let end = offset.saturating_add(len).min(self.limit);
        if end <= offset {
            return Some(Vec::new());
        }
        self.range.read(offset, (end - offset) as usize).ok()
    }
}

enum Next {
    Entry(EntryHeader),
    /// `Next()` failed with this error.
    Failed(String),
}

fn next_entry(source: &mut Source, offset: u64) -> Next {
    if offset >= source.limit && source.s2_error.is_none() {
        // The first field read at a clean end of stream.
        return Next::Failed("EOF".into());
    }
    let Some(head) = source.read(offset, MAX_VARINTS as u64) else {
        return Next::Failed(INVALID.into());
    };
    match parse_entry_header(&head, offset) {
        Ok(Some((header, _))) => Next::Entry(header),
        Ok(None) => {
            // Fields or the name run past what is readable: read the long name.
            let Some(bigger) = source.read(offset, MAX_VARINTS as u64 + (1 << 20)) else {
                return Next::Failed(INVALID.into());
            };
            match parse_entry_header(&bigger, offset) {
                Ok(Some((header, _))) => Next::Entry(header),
                _ => Next::Failed(INVALID.into()),
            }
        }
        Err(_) => Next::Failed(INVALID.into()),
    }
}

/// The entry's data, or `None` when it runs past what the server can read.
fn entry_data(source: &mut Source, header: &EntryHeader, len: u64) -> Option<Vec<u8>> {
    if header.data_offset.saturating_add(header.data_len()) > source.limit {
        return None;
    }
    source.read(header.data_offset, len)
}

fn failed(
    created: bool,
    stored: u64,
    last_seq: u64,
    error: impl Into<String>,
    exact: bool,
) -> Replay {
    Replay {
        stream_created: created,
        stored,
        last_seq,
        expired: 0,
        error: Some(error.into()),
        exact,
        failed_seq: None,
    }
}

/// What the server's tar reader makes of bytes that do not start with the v2
/// magic (the first S2 chunk lost, say): the first 512-byte header block.
fn tar_path(source: &mut Source) -> Replay {
    const BLOCK: u64 = 512;
    let Some(block) = source.read(0, BLOCK) else {
        return failed(false, 0, 0, INVALID, false);
    };
    if (block.len() as u64) < BLOCK {
        let error = source.s2_error.unwrap_or("unexpected EOF");
        return failed(false, 0, 0, error, true);
    }
    if block.iter().all(|&byte| byte == 0) {
        // An empty tar: the server then finds no meta.inf (its message names a
        // temp directory, so only the start is certain).
        return failed(false, 0, 0, "open ", false);
    }
    match crate::format::tar::parse_header_block(&block) {
        Err(_) => failed(false, 0, 0, "archive/tar: invalid tar header", true),
        // A tar inside a v2 archive's bytes: what the server does next is not replayed.
        Ok(_) => failed(false, 0, 0, "", false),
    }
}

/// Replays the restore of a v2 archive. `None` when the data file cannot be opened.
pub fn replay_v2(backup: &Backup, reference_ns: i64) -> Option<Replay> {
    let file = std::fs::File::open(&backup.source.data_file).ok()?;
    let failure = first_s2_failure(backup);
    let mut source = Source {
        range: RangeReader::new(file, backup.chunks.clone()),
        limit: failure.map_or(backup.decompressed_bytes, |f| f.decompressed_offset),
        s2_error: failure.map(|f| f.error),
    };
    let magic = source.read(0, MAGIC.len() as u64)?;
    if magic.len() < MAGIC.len() {
        let error = source.s2_error.map_or("EOF".to_string(), str::to_string);
        return Some(failed(false, 0, 0, error, true));
    }
    if magic != MAGIC {
        // Without the magic the server takes the archive for a tar (`RestoreStream`).
        return Some(tar_path(&mut source));
    }
    let state = match next_entry(&mut source, MAGIC.len() as u64) {
        Next::Failed(error) => return Some(failed(false, 0, 0, error, true)),
        Next::Entry(header) => header,
    };
    if state.name != b"state.json" {
        return Some(failed(false, 0, 0, "expected state.json first", true));
    }
    // 2.15.1 decodes state.json and consumers straight from the entry reader, so a
    // read error comes back wrapped as a decode error.
    let Some(state_bytes) = entry_data(&mut source, &state, state.data_len()) else {
        return Some(failed(
            false,
            0,
            0,
            format!("error in state.json: {INVALID}"),
            true,
        ));
    };
    let state_json: serde_json::Value = match serde_json::from_slice(&state_bytes) {
        Ok(value) => value,
        // Go words JSON errors its own way: only the prefix is certain.
        Err(_) => return Some(failed(false, 0, 0, "error in state.json", false)),
    };
    let number = |key: &str| {
        state_json
            .get(key)
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0)
    };
    let (first_seq, declared_last) = (number("first_seq"), number("last_seq"));
    let mut offset = state.data_offset + state.data_len();
    // The new stream is compacted to the archive's first sequence before anything is stored.
    let empty_last = first_seq.saturating_sub(1);
    for _ in 0..number("consumer_count") {
        let header = match next_entry(&mut source, offset) {
            Next::Failed(error) => return Some(failed(true, 0, empty_last, error, true)),
            Next::Entry(header) => header,
        };
        let name = header.name_lossy();
        let Some(consumer) = name.strip_prefix("consumers/") else {
            return Some(failed(
                true,
                0,
                empty_last,
                format!("expected consumer, found {name:?}"),
                true,
            ));
        };
        let Some(bytes) = entry_data(&mut source, &header, header.data_len()) else {
            return Some(failed(
                true,
                0,
                empty_last,
                format!("failed to decode consumer {consumer:?} state: {INVALID}"),
                true,
            ));
        };
        if serde_json::from_slice::<serde_json::Value>(&bytes).is_err() {
            return Some(failed(
                true,
                0,
                empty_last,
                format!("failed to decode consumer {consumer:?} state"),
                false,
            ));
        }
        offset = header.data_offset + header.data_len();
    }
    Some(replay_messages(
        backup,
        &mut source,
        offset,
        first_seq,
        declared_last,
        reference_ns,
    ))
}

fn replay_messages(
    backup: &Backup,
    source: &mut Source,
    mut offset: u64,
    first_seq: u64,
    declared_last: u64,
    reference_ns: i64,
) -> Replay {
    // The server treats 0 (and negative) as "no limit".
    let max_msg_size = backup
        .config
        .as_ref()
        .and_then(|config| config.max_msg_size_limit())
        .map(|limit| limit as u64);
    let mut lseq = first_seq.saturating_sub(1);
    let mut stored = 0u64;
    let mut expired = 0u64;
    loop {
        let header = match next_entry(source, offset) {
            Next::Failed(error) => return failed(true, stored, lseq, error, true),
            Next::Entry(header) => header,
        };
        let seq = header.sequence;
        let (stored_so_far, last_so_far) = (stored, lseq);
        let stop = |error: String, exact: bool| Replay {
            failed_seq: Some(seq),
            ..failed(true, stored_so_far, last_so_far, error, exact)
        };
        if seq == 0 {
            if header.is_sentinel() {
                break;
            }
            return stop("expected message sequence".into(), true);
        }
        let (hdr, payload) = (header.header_size, header.payload_size);
        if hdr > MAX_PAYLOAD || payload > MAX_PAYLOAD - hdr {
            return stop(
                format!("message sequence {seq} exceeds maximum payload size"),
                true,
            );
        }
        if max_msg_size.is_some_and(|limit| hdr > limit || payload > limit - hdr) {
            return stop(
                format!("message sequence {seq} exceeds maximum message size"),
                true,
            );
        }
        let Some(header_block) = entry_data(source, &header, hdr) else {
            return stop(
                format!("failed to read message sequence {seq}: {INVALID}"),
                true,
            );
        };
        if seq <= lseq {
            return stop(format!("message sequence {seq} out of order"), true);
        }
        lseq = seq;
        let ttl = message_ttl(&header_block);
        if ttl == Ttl::Invalid {
            return stop("failed to parse message TTL".into(), false);
        }
        if ttl.is_expired(header.timestamp_ns, reference_ns) {
            expired += 1;
        } else {
            stored += 1;
        }
        offset = header.data_offset + header.data_len();
    }
    Replay {
        stream_created: true,
        stored,
        last_seq: lseq.max(declared_last),
        expired,
        error: None,
        exact: true,
        failed_seq: None,
    }
}

/// v1: the sequence a filestore record at decompressed `offset` names (its
/// length may be malformed; the seq field after it usually is not). The erase
/// and tombstone bits are cleared. `None` when the bytes cannot be read.
pub fn v1_record_seq_at(backup: &Backup, offset: u64) -> Option<u64> {
    let file = std::fs::File::open(&backup.source.data_file).ok()?;
    let mut range = RangeReader::new(file, backup.chunks.clone());
    let bytes = range.read(offset + 4, 8).ok()?;
    let raw = u64::from_le_bytes(bytes.try_into().ok()?);
    Some(raw & !(3u64 << 62))
}
