//! Writes a Snappy-framed stream (`sNaPpY` identifier, chunks of at most
//! 64 KiB) that nats-server's S2 reader accepts on restore (2.14 and 2.15).
//!
//! Each chunk is Snappy-compressed with `snap::raw::Encoder`, or stored as an
//! uncompressed `0x01` chunk when compression would not shrink it. Output is
//! deterministic: the same bytes in give the same bytes out.
//!
//! Never touches files or threads: the framed bytes go to any `Write`.

use super::s2::{masked_crc, MAX_SNAPPY_BLOCK, SNAPPY_IDENTIFIER};
use std::io::{self, Write};

const CHUNK_COMPRESSED: u8 = 0x00;
const CHUNK_UNCOMPRESSED: u8 = 0x01;
const CHUNK_IDENTIFIER: u8 = 0xff;

/// A `Write` that frames everything written into Snappy chunks over `inner`.
/// Call [`S2Writer::finish`] at the end: dropping it loses the last chunk.
pub struct S2Writer<W: Write> {
    inner: W,
    pending: Vec<u8>,
    encoder: snap::raw::Encoder,
    compressed: Vec<u8>,
    wrote_identifier: bool,
    /// Compressed bytes written to `inner` so far.
    written_bytes: u64,
}

impl<W: Write> S2Writer<W> {
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            pending: Vec::with_capacity(MAX_SNAPPY_BLOCK),
            encoder: snap::raw::Encoder::new(),
            compressed: Vec::new(),
            wrote_identifier: false,
            written_bytes: 0,
        }
    }

    /// Bytes written to the underlying writer so far.
    pub fn written_bytes(&self) -> u64 {
        self.written_bytes
    }

    fn write_identifier(&mut self) -> io::Result<()> {
        if self.wrote_identifier {
            return Ok(());
        }
        let mut header = vec![CHUNK_IDENTIFIER, 6, 0, 0];
        header.extend_from_slice(SNAPPY_IDENTIFIER);
        self.inner.write_all(&header)?;
        self.written_bytes += header.len() as u64;
        self.wrote_identifier = true;
        Ok(())
    }

    /// Writes the buffered bytes as one chunk (nothing if the buffer is empty).
    fn emit_chunk(&mut self) -> io::Result<()> {
        self.write_identifier()?;
        if self.pending.is_empty() {
            return Ok(());
        }
        let crc = masked_crc(&self.pending);
        self.compressed
            .resize(snap::raw::max_compress_len(self.pending.len()), 0);
        let compressed_len = self
            .encoder
            .compress(&self.pending, &mut self.compressed)
            .map_err(|error| io::Error::other(format!("snappy compression failed: {error}")))?;
        let (chunk_type, body): (u8, &[u8]) = if compressed_len < self.pending.len() {
            let Some(body) = self.compressed.get(..compressed_len) else {
                return Err(io::Error::other("snappy encoder reported a bad length"));
            };
            (CHUNK_COMPRESSED, body)
        } else {
            (CHUNK_UNCOMPRESSED, &self.pending)
        };
        let body_len = body.len() + 4;
        let header = [
            chunk_type,
            body_len as u8,
            (body_len >> 8) as u8,
            (body_len >> 16) as u8,
        ];
        self.inner.write_all(&header)?;
        self.inner.write_all(&crc.to_le_bytes())?;
        self.inner.write_all(body)?;
        self.written_bytes += 4 + body_len as u64;
        self.pending.clear();
        Ok(())
    }

    /// Writes the last chunk and returns the inner writer (flushed).
    pub fn finish(mut self) -> io::Result<W> {
        self.emit_chunk()?;
        self.inner.flush()?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for S2Writer<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut rest = buf;
        while !rest.is_empty() {
            let room = MAX_SNAPPY_BLOCK - self.pending.len();
            let take = room.min(rest.len());
            let (now, later) = rest.split_at(take);
            self.pending.extend_from_slice(now);
            rest = later;
            if self.pending.len() == MAX_SNAPPY_BLOCK {
                self.emit_chunk()?;
            }
        }
        Ok(buf.len())
    }

    /// Only flushes the inner writer: chunks are cut at 64 KiB, never per call,
    /// so the output does not depend on how the caller split its writes.
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::s2::{DecodedStream, StreamStop};

    fn decode_all(bytes: &[u8]) -> Vec<u8> {
        let mut stream = DecodedStream::new(bytes);
        let mut out = Vec::new();
        loop {
            let chunk = stream.take_available(usize::MAX).to_vec();
            if chunk.is_empty() {
                match stream.fill(1) {
                    Ok(()) => continue,
                    Err(StreamStop::End) => break,
                    Err(StreamStop::Discontinuity) => panic!("discontinuity"),
                }
            }
            out.extend_from_slice(&chunk);
        }
        assert!(
            stream.chunks.problems.is_empty(),
            "{:?}",
            stream.chunks.problems
        );
        out
    }

    #[test]
    fn round_trips_through_our_reader() {
        // Compressible text, incompressible noise, and sizes around the chunk limit.
        let mut data = Vec::new();
        for index in 0..20_000u32 {
            data.extend_from_slice(format!("orders.{} payload {}\n", index % 7, index).as_bytes());
        }
        let mut noise = 0x1234_5678u32;
        for _ in 0..150_000 {
            noise ^= noise << 13;
            noise ^= noise >> 17;
            noise ^= noise << 5;
            data.push(noise as u8);
        }
        let mut writer = S2Writer::new(Vec::new());
        for piece in data.chunks(1000) {
            writer.write_all(piece).unwrap();
        }
        let framed = writer.finish().unwrap();
        assert_eq!(&framed[..10], b"\xff\x06\x00\x00sNaPpY");
        assert_eq!(decode_all(&framed), data);
        // Both chunk kinds appear, and no chunk decodes to more than 64 KiB.
        let stream = {
            let mut stream = DecodedStream::new(&framed[..]);
            while stream.fill(1).is_ok() {
                stream.take_available(usize::MAX);
            }
            stream
        };
        let chunks = &stream.chunks.chunks;
        assert!(chunks
            .iter()
            .all(|chunk| chunk.decompressed_len as usize <= MAX_SNAPPY_BLOCK));
        assert!(chunks
            .iter()
            .any(|chunk| chunk.kind == crate::format::s2::ChunkKind::Compressed));
        assert!(chunks
            .iter()
            .any(|chunk| chunk.kind == crate::format::s2::ChunkKind::Uncompressed));
    }

    #[test]
    fn same_input_same_output_and_empty_stream() {
        let data = vec![7u8; 200_000];
        let mut one = S2Writer::new(Vec::new());
        one.write_all(&data).unwrap();
        let mut two = S2Writer::new(Vec::new());
        for piece in data.chunks(333) {
            two.write_all(piece).unwrap();
        }
        assert_eq!(one.finish().unwrap(), two.finish().unwrap());
        let empty = S2Writer::new(Vec::new()).finish().unwrap();
        assert_eq!(empty, b"\xff\x06\x00\x00sNaPpY");
        assert!(decode_all(&empty).is_empty());
    }
}
