//! Writes a v2 (`NATSARC1`) archive body: magic, `state.json`, one
//! `consumers/<name>` entry per consumer, the messages in ascending sequence
//! order, then the 5-byte end sentinel. The bytes go to any `Write`
//! (normally an [`super::s2_write::S2Writer`]). Deterministic: no clock, no maps.
//!
//! Never touches files.

use super::v2::MAGIC;
use super::varint::{write_uvarint, write_varint};
use std::io::{self, Write};

/// Streaming NATSARC1 writer. Enforces the order the server's restore checks:
/// state first, consumers next, messages strictly ascending.
pub struct V2Writer<W: Write> {
    out: W,
    snapshot_ts_ns: i64,
    last_seq: u64,
    header: Vec<u8>,
}

impl<W: Write> V2Writer<W> {
    /// Writes the magic and the `state.json` entry (timestamp = when the backup was taken).
    pub fn new(mut out: W, snapshot_ts_ns: i64, state_json: &[u8]) -> io::Result<Self> {
        out.write_all(MAGIC)?;
        let mut writer = Self {
            out,
            snapshot_ts_ns,
            last_seq: 0,
            header: Vec::with_capacity(64),
        };
        writer.entry(b"state.json", snapshot_ts_ns, 0, &[], state_json)?;
        Ok(writer)
    }

    fn entry(
        &mut self,
        name: &[u8],
        ts_ns: i64,
        seq: u64,
        headers: &[u8],
        data: &[u8],
    ) -> io::Result<()> {
        self.header.clear();
        write_uvarint(&mut self.header, name.len() as u64);
        write_varint(&mut self.header, ts_ns);
        write_uvarint(&mut self.header, seq);
        write_uvarint(&mut self.header, headers.len() as u64);
        write_uvarint(&mut self.header, data.len() as u64);
        self.out.write_all(&self.header)?;
        self.out.write_all(name)?;
        self.out.write_all(headers)?;
        self.out.write_all(data)
    }

    /// One `consumers/<name>` entry holding `{"config":…,"state":…}`.
    pub fn consumer(&mut self, name: &str, json: &[u8]) -> io::Result<()> {
        if self.last_seq != 0 {
            return Err(io::Error::other(format!(
                "consumer {name:?} written after messages: the restore expects consumers first"
            )));
        }
        let entry_name = format!("consumers/{name}");
        let ts_ns = self.snapshot_ts_ns;
        self.entry(entry_name.as_bytes(), ts_ns, 0, &[], json)
    }

    /// One message; sequences must be ≥ 1 and strictly ascending.
    pub fn message(
        &mut self,
        subject: &[u8],
        ts_ns: i64,
        seq: u64,
        headers: &[u8],
        data: &[u8],
    ) -> io::Result<()> {
        if seq == 0 || seq <= self.last_seq {
            return Err(io::Error::other(format!(
                "message sequence {seq} is out of order (previous {})",
                self.last_seq
            )));
        }
        self.last_seq = seq;
        self.entry(subject, ts_ns, seq, headers, data)
    }

    /// Writes the end sentinel and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.write_all(&[0, 0, 0, 0, 0])?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::v2::parse_entry_header;

    #[test]
    fn layout_matches_the_format() {
        let state = br#"{"messages":1}"#;
        let mut writer = V2Writer::new(Vec::new(), 5, state).unwrap();
        writer.consumer("c1", b"{}").unwrap();
        writer
            .message(b"a.b", -3, 7, b"NATS/1.0\r\n\r\n", b"hi")
            .unwrap();
        assert!(writer.message(b"a.b", 0, 7, b"", b"").is_err());
        let bytes = writer.finish().unwrap();
        assert_eq!(&bytes[..8], MAGIC);
        let (first, used) = parse_entry_header(&bytes[8..], 8).unwrap().unwrap();
        assert_eq!(first.name_lossy(), "state.json");
        assert_eq!(first.timestamp_ns, 5);
        assert_eq!(first.data_len(), state.len() as u64);
        // state.json: 0a, ts 5 → zigzag 10, seq 0, hdr 0, size 14.
        assert_eq!(&bytes[8..13], &[10, 10, 0, 0, 14]);
        let next = 8 + used + state.len();
        let (consumer, used) = parse_entry_header(&bytes[next..], next as u64)
            .unwrap()
            .unwrap();
        assert_eq!(consumer.name_lossy(), "consumers/c1");
        let next = next + used + 2;
        let (message, _) = parse_entry_header(&bytes[next..], next as u64)
            .unwrap()
            .unwrap();
        assert_eq!(message.sequence, 7);
        assert_eq!(message.timestamp_ns, -3);
        assert_eq!(message.header_size, 12);
        assert_eq!(message.payload_size, 2);
        assert_eq!(&bytes[bytes.len() - 5..], &[0, 0, 0, 0, 0]);
    }
}
