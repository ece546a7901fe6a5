//! Encoders for a filestore stream directory that a stock nats-server loads:
//! stream `meta.inf`/`meta.sum`, consumer `meta.inf`/`meta.sum`/`o.dat`, and
//! message blocks (`msgs/N.blk`) written through a streaming [`BlockWriter`].
//!
//! The rules come from `writing-stores-and-archives.md` (tested on 2.14.6 and
//! 2.15.1): interior deletes are plain gaps, trailing deletes (and an empty
//! stream whose `first_seq` is above 1) are one 30-byte skip record for
//! `last_seq`, blocks are uncompressed, every hash key uses the stream name the
//! directory carries. The same encoders also produce the members of a v1 tar
//! archive. Pure byte work: no files, no threads.

use super::filestore::{encode_record, record_size, EBIT, RL_BAD_THRESHOLD};
use super::hash::Hh64Key;
use super::index_db::OdatState;
use super::varint::{write_uvarint, write_varint};
use serde_json::{Map, Value};

/// The block size nats-server picks for file streams without byte limits
/// (`defaultLargeBlockSize`, 8 MiB). Any split loads; this keeps the file count
/// and the per-block cache the server builds at a familiar size.
pub const DEFAULT_BLOCK_SIZE: usize = 8 << 20;

/// `o.dat` magic and the version this module writes.
pub const ODAT_MAGIC: u8 = 0x16;
pub const ODAT_VERSION: u8 = 2;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("{what} is not a JSON object")]
    NotAnObject { what: &'static str },
    #[error("sequence {seq} is not above the previous sequence {previous}: blocks need ascending sequences")]
    OutOfOrder { seq: u64, previous: u64 },
    #[error("sequence {seq}: subject is {len} bytes, above the 65535-byte limit of a record")]
    SubjectTooLong { seq: u64, len: usize },
    #[error("sequence {seq}: record of {len} bytes is above the server's 32 MiB record limit")]
    RecordTooLarge { seq: u64, len: u64 },
    #[error("sequence {seq} uses flag bits (62/63) and cannot be stored")]
    BadSequence { seq: u64 },
    #[error("writing block {block}: {message}")]
    Sink { block: u64, message: String },
}

fn with_leading(
    leading: &[(&str, Value)],
    config: &Value,
    what: &'static str,
) -> Result<Vec<u8>, EncodeError> {
    let Some(object) = config.as_object() else {
        return Err(EncodeError::NotAnObject { what });
    };
    let mut out = Map::new();
    for (key, value) in leading {
        out.insert((*key).to_string(), value.clone());
    }
    for (key, value) in object {
        if leading.iter().any(|(lead, _)| lead == key) {
            continue;
        }
        out.insert(key.clone(), value.clone());
    }
    serde_json::to_vec(&Value::Object(out)).map_err(|_| EncodeError::NotAnObject { what })
}

/// Stream `meta.inf`: the server's `FileStreamInfo`, i.e. `"Created"` (RFC 3339
/// with ns, UTC) followed by the stream config keys flattened into one compact
/// JSON object. Only keys the target server knows may be in `config`: the
/// server decodes this file strictly and leaves the stream offline otherwise.
pub fn meta_inf_json(created: &str, config: &Value) -> Result<Vec<u8>, EncodeError> {
    with_leading(
        &[("Created", Value::from(created))],
        config,
        "stream config",
    )
}

/// Stream `meta.sum`: lowercase hex HighwayHash-64 of the exact `meta.inf`
/// bytes keyed by SHA-256 of the stream (directory) name. No newline.
pub fn meta_sum(stream_name: &str, meta_inf: &[u8]) -> String {
    Hh64Key::new(stream_name).sum_hex(meta_inf)
}

/// Consumer `obs/NAME/meta.inf`: `FileConsumerInfo`, i.e. `"Created"`, `"Name"`
/// (the directory name) and the consumer config flattened (its own lowercase
/// `name`/`durable_name` stay as they are).
pub fn consumer_meta_inf(
    created: &str,
    name: &str,
    config: &Value,
) -> Result<Vec<u8>, EncodeError> {
    with_leading(
        &[
            ("Created", Value::from(created)),
            ("Name", Value::from(name)),
        ],
        config,
        "consumer config",
    )
}

/// Consumer `obs/NAME/meta.sum`: hex HH64 keyed by `"<stream>/<consumer>"`.
/// The server only checks that the file exists, but a missing one drops the consumer.
pub fn consumer_meta_sum(stream_name: &str, consumer_name: &str, meta_inf: &[u8]) -> String {
    Hh64Key::new(&format!("{stream_name}/{consumer_name}")).sum_hex(meta_inf)
}

/// Hands `write(file name, bytes)` the head files of a stream directory, in
/// the order the server writes them: `meta.inf`, then its `meta.sum`.
pub fn write_stream_meta_files<E>(
    stream_name: &str,
    meta_inf: &[u8],
    mut write: impl FnMut(&'static str, &[u8]) -> Result<(), E>,
) -> Result<(), E> {
    write("meta.inf", meta_inf)?;
    write("meta.sum", meta_sum(stream_name, meta_inf).as_bytes())
}

/// Hands `write(file name, bytes)` the files of `obs/NAME/`, in order:
/// `meta.inf`, its `meta.sum`, `o.dat`.
pub fn write_consumer_files<E>(
    stream_name: &str,
    consumer_name: &str,
    meta_inf: &[u8],
    odat: &[u8],
    mut write: impl FnMut(&'static str, &[u8]) -> Result<(), E>,
) -> Result<(), E> {
    write("meta.inf", meta_inf)?;
    write(
        "meta.sum",
        consumer_meta_sum(stream_name, consumer_name, meta_inf).as_bytes(),
    )?;
    write("o.dat", odat)
}

/// Consumer `o.dat` (version 2), with pending timestamps relative to now.
pub fn encode_odat(state: &OdatState) -> Vec<u8> {
    let now_secs = (crate::util::time::now_ns() + 500_000_000) / 1_000_000_000;
    encode_odat_at(state, now_secs)
}

/// Consumer `o.dat` (version 2) with an explicit base time in Unix seconds
/// (the server uses "now" rounded to the second; any base decodes the same).
/// Layout: magic, version, uvarint floors and delivered, pending count, then
/// base + per pending (stream delta, consumer delta, base − ts seconds), then
/// redelivered (stream delta, count). Deltas are from the ack floor, wrapping.
pub fn encode_odat_at(state: &OdatState, base_secs: i64) -> Vec<u8> {
    let (floor_consumer, floor_stream) = state.ack_floor;
    let mut out = vec![ODAT_MAGIC, ODAT_VERSION];
    write_uvarint(&mut out, floor_consumer);
    write_uvarint(&mut out, floor_stream);
    write_uvarint(&mut out, state.delivered.0);
    write_uvarint(&mut out, state.delivered.1);
    write_uvarint(&mut out, state.pending.len() as u64);
    if !state.pending.is_empty() {
        write_varint(&mut out, base_secs);
        for &(stream_seq, consumer_seq, timestamp_ns) in &state.pending {
            write_uvarint(&mut out, stream_seq.wrapping_sub(floor_stream));
            write_uvarint(&mut out, consumer_seq.wrapping_sub(floor_consumer));
            write_varint(
                &mut out,
                base_secs.wrapping_sub(timestamp_ns / 1_000_000_000),
            );
        }
    }
    // The decoder drops entries whose delta or count is 0: leave them out.
    let redelivered: Vec<(u64, u64)> = state
        .redelivered
        .iter()
        .copied()
        .filter(|(seq, count)| *count > 0 && seq.wrapping_sub(floor_stream) != 0)
        .collect();
    write_uvarint(&mut out, redelivered.len() as u64);
    for (seq, count) in redelivered {
        write_uvarint(&mut out, seq.wrapping_sub(floor_stream));
        write_uvarint(&mut out, count);
    }
    out
}

/// What a [`BlockWriter`] wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlockSummary {
    /// Block files handed to the sink (numbered 1..=blocks).
    pub blocks: u64,
    pub messages: u64,
    /// The filestore's accounting bytes of the live messages.
    pub bytes: u64,
    /// Highest message sequence written (0 when none).
    pub last_message_seq: u64,
    /// A skip record for `last_seq` was added (trailing deletes / empty stream).
    pub trailing_skip: bool,
}

/// Appends message records to numbered blocks and hands each finished block to
/// `sink(block_index, bytes)`; only one block is held in memory.
///
/// Deleted sequences are written as nothing at all (the server counts gaps as
/// deletes); [`finish`](Self::finish) adds the one skip record the server needs
/// to keep `last_seq` after trailing deletes or for an emptied stream.
pub struct BlockWriter<S>
where
    S: FnMut(u64, &[u8]) -> std::io::Result<()>,
{
    stream_name: String,
    block_size: usize,
    index: u64,
    key: Hh64Key,
    buf: Vec<u8>,
    sink: S,
    summary: BlockSummary,
}

impl<S> BlockWriter<S>
where
    S: FnMut(u64, &[u8]) -> std::io::Result<()>,
{
    /// `stream_name` keys every record checksum (`"<name>-<block>"`): it must be
    /// the name the stream directory and `meta.inf` carry.
    pub fn new(stream_name: &str, block_size: usize, sink: S) -> Self {
        Self {
            stream_name: stream_name.to_string(),
            block_size: block_size.max(1),
            index: 1,
            key: Hh64Key::new(&format!("{stream_name}-1")),
            buf: Vec::new(),
            sink,
            summary: BlockSummary::default(),
        }
    }

    /// Appends one message. Sequences must ascend; gaps become deletes.
    pub fn push_message(
        &mut self,
        seq: u64,
        ts_ns: i64,
        subject: &[u8],
        headers: &[u8],
        data: &[u8],
    ) -> Result<(), EncodeError> {
        if seq == 0 || seq & !super::filestore::SEQ_MASK != 0 {
            return Err(EncodeError::BadSequence { seq });
        }
        if seq <= self.summary.last_message_seq {
            return Err(EncodeError::OutOfOrder {
                seq,
                previous: self.summary.last_message_seq,
            });
        }
        if subject.len() > usize::from(u16::MAX) {
            return Err(EncodeError::SubjectTooLong {
                seq,
                len: subject.len(),
            });
        }
        let size = record_size(subject.len(), headers.len(), data.len());
        if size > u64::from(RL_BAD_THRESHOLD) {
            return Err(EncodeError::RecordTooLarge { seq, len: size });
        }
        if !self.buf.is_empty() && self.buf.len() as u64 + size > self.block_size as u64 {
            self.flush_block()?;
        }
        encode_record(&mut self.buf, &self.key, seq, ts_ns, subject, headers, data);
        self.summary.messages += 1;
        self.summary.bytes += size;
        self.summary.last_message_seq = seq;
        Ok(())
    }

    fn flush_block(&mut self) -> Result<(), EncodeError> {
        (self.sink)(self.index, &self.buf).map_err(|error| EncodeError::Sink {
            block: self.index,
            message: error.to_string(),
        })?;
        self.summary.blocks += 1;
        self.buf.clear();
        self.index += 1;
        self.key = Hh64Key::new(&format!("{}-{}", self.stream_name, self.index));
        Ok(())
    }

    /// Ends the stream at `last_seq` (with `last_ts_ns` as the skip record's
    /// time) and flushes the last block. A skip record is added when `last_seq`
    /// is above the last message, so the server keeps `last_seq` and never
    /// reuses deleted sequences; it stays in the same block as the messages.
    pub fn finish(mut self, last_seq: u64, last_ts_ns: i64) -> Result<BlockSummary, EncodeError> {
        if last_seq > self.summary.last_message_seq && last_seq & !super::filestore::SEQ_MASK == 0 {
            encode_record(
                &mut self.buf,
                &self.key,
                last_seq | EBIT,
                last_ts_ns,
                b"",
                b"",
                b"",
            );
            self.summary.trailing_skip = true;
        }
        if !self.buf.is_empty() {
            self.flush_block()?;
        }
        Ok(self.summary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::filestore::{walk_records, RecordKind};
    use crate::format::index_db::parse_odat;

    #[test]
    fn odat_round_trips_through_the_parser() {
        let state = OdatState {
            delivered: (100, 145),
            ack_floor: (3, 20),
            pending: vec![
                (22, 4, 1_795_788_000_000_000_000),
                (145, 100, 1_795_788_010_900_000_000),
            ],
            redelivered: vec![(22, 3), (30, 2)],
        };
        let bytes = encode_odat_at(&state, 1_795_789_000);
        let decoded = parse_odat(&bytes);
        let Ok(decoded) = decoded else {
            panic!("{decoded:?}")
        };
        assert_eq!(decoded.ack_floor, (3, 20));
        assert_eq!(decoded.delivered, (100, 145));
        assert_eq!(
            decoded.pending,
            vec![
                (22, 4, 1_795_788_000_000_000_000),
                (145, 100, 1_795_788_010_000_000_000)
            ]
        );
        assert_eq!(decoded.redelivered, vec![(22, 3), (30, 2)]);
        // Empty state: no base time, two zero counts.
        let empty = encode_odat_at(&OdatState::default(), 5);
        assert_eq!(empty, vec![0x16, 2, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn odat_matches_worked_example() {
        // archive-formats.md §4.9: floor (1,2), delivered (4,7), pending 4/2 and 7/4 at base-1s.
        let base = 1_795_788_763i64; // any base; the example's base is 0x0d b0 cc bf b6 zigzag
        let state = OdatState {
            delivered: (4, 7),
            ack_floor: (1, 2),
            pending: vec![
                (4, 2, (base - 1) * 1_000_000_000),
                (7, 4, (base - 1) * 1_000_000_000),
            ],
            redelivered: vec![],
        };
        let bytes = encode_odat_at(&state, base);
        assert_eq!(&bytes[..7], &[0x16, 0x02, 0x01, 0x02, 0x04, 0x07, 0x02]);
        assert_eq!(
            &bytes[bytes.len() - 7..],
            &[0x02, 0x01, 0x02, 0x05, 0x03, 0x02, 0x00]
        );
    }

    #[test]
    fn meta_files_put_created_first() {
        let config = serde_json::json!({"name": "ORDERS", "subjects": ["orders.>"]});
        let meta = meta_inf_json("2026-11-27T14:12:42.835090285Z", &config);
        let Ok(meta) = meta else { panic!("{meta:?}") };
        assert!(meta.starts_with(br#"{"Created":"2026-11-27T14:12:42.835090285Z","name":"ORDERS""#));
        assert_eq!(meta_sum("ORDERS", b"hello"), "2ee2db186ddc8e8d");
        assert_eq!(
            consumer_meta_sum("ORDERS", "C1", b"hello"),
            "2c73a3fba0264c9e"
        );
        let consumer = consumer_meta_inf(
            "2026-11-27T14:12:42Z",
            "C1",
            &serde_json::json!({"durable_name": "C1"}),
        );
        let Ok(consumer) = consumer else {
            panic!("{consumer:?}")
        };
        assert_eq!(
            consumer,
            br#"{"Created":"2026-11-27T14:12:42Z","Name":"C1","durable_name":"C1"}"#
        );
        assert!(meta_inf_json("x", &Value::Null).is_err());
    }

    #[test]
    fn blocks_roll_and_trailing_skip_is_added() {
        let mut blocks: Vec<(u64, Vec<u8>)> = Vec::new();
        let mut writer = BlockWriter::new("S", 100, |index, bytes: &[u8]| {
            blocks.push((index, bytes.to_vec()));
            Ok(())
        });
        for seq in [1u64, 2, 5, 6] {
            let pushed = writer.push_message(
                seq,
                seq as i64,
                b"a.b",
                b"",
                b"0123456789012345678901234567890",
            );
            assert_eq!(pushed, Ok(()));
        }
        assert!(writer.push_message(6, 6, b"a", b"", b"").is_err());
        let summary = writer.finish(9, 99);
        let Ok(summary) = summary else {
            panic!("{summary:?}")
        };
        assert_eq!(summary.messages, 4);
        assert!(summary.trailing_skip);
        assert_eq!(summary.blocks, 4);
        assert_eq!(blocks.len(), 4);
        let mut seen = Vec::new();
        for (index, bytes) in &blocks {
            let key = Hh64Key::new(&format!("S-{index}"));
            let walked = walk_records(bytes, &key, |record| {
                assert!(record.checksum_ok);
                seen.push((record.seq, record.kind));
            });
            assert_eq!(walked, Ok(()));
        }
        assert_eq!(
            seen,
            vec![
                (1, RecordKind::Message),
                (2, RecordKind::Message),
                (5, RecordKind::Message),
                (6, RecordKind::Message),
                (9, RecordKind::Erased)
            ]
        );
    }

    #[test]
    fn empty_stream_with_history_gets_one_skip_record() {
        let mut blocks: Vec<Vec<u8>> = Vec::new();
        let writer = BlockWriter::new("P", DEFAULT_BLOCK_SIZE, |_, bytes: &[u8]| {
            blocks.push(bytes.to_vec());
            Ok(())
        });
        let summary = writer.finish(100, 7);
        assert!(summary.is_ok_and(|s| s.trailing_skip && s.blocks == 1));
        assert_eq!(blocks.first().map(Vec::len), Some(30));
        let never_written = BlockWriter::new("P", 10, |_, _: &[u8]| Ok(())).finish(0, 0);
        assert!(never_written.is_ok_and(|s| s.blocks == 0 && !s.trailing_skip));
    }
}
