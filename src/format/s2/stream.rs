//! A buffered, position-tracking view of the decompressed stream for parsers.
//! Never seeks or spawns: it pulls chunks from a `ChunkSource`.

use super::decode::{ChunkEvent, ChunkLog, ChunkSource, InlineSource, CHUNK_HEADROOM};
use super::MAX_S2_BLOCK;
use std::io::Read;

/// Why a read from the decompressed stream stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamStop {
    /// The stream ended (cleanly at the S2 level, or after a fatal framing problem).
    End,
    /// Bytes of unknown length were lost at the S2 level right here.
    Discontinuity,
}

/// Bytes behind the read position that [`DecodedStream::rewind`] can always give back.
pub const LOOKBACK: usize = 4096;

/// A buffered view of the decompressed stream with position tracking, for parsers.
pub struct DecodedStream<S: ChunkSource> {
    source: S,
    pub chunks: ChunkLog,
    buf: Vec<u8>,
    /// Index in `buf` of the next unread byte.
    cursor: usize,
    /// Decompressed offset of `buf[0]`.
    buf_offset: u64,
    /// Index in `buf` of the oldest byte that can still be re-read ([`Self::rewind`]).
    valid_from: usize,
    pending_discontinuity: bool,
    /// Number of discontinuities seen (parsers compare this to detect them).
    pub discontinuities: u32,
}

impl<R: Read> DecodedStream<InlineSource<R>> {
    /// Decodes on the calling thread.
    pub fn new(inner: R) -> Self {
        Self::with_source(InlineSource::new(inner))
    }
}

impl<S: ChunkSource> DecodedStream<S> {
    pub fn with_source(source: S) -> Self {
        Self {
            source,
            chunks: ChunkLog::default(),
            buf: Vec::with_capacity(MAX_S2_BLOCK * 2),
            cursor: 0,
            buf_offset: 0,
            valid_from: 0,
            pending_discontinuity: false,
            discontinuities: 0,
        }
    }

    /// Decompressed offset of the next byte.
    pub fn pos(&self) -> u64 {
        self.buf_offset.wrapping_add(self.cursor as u64)
    }

    pub fn file_pos(&self) -> u64 {
        self.source.file_pos()
    }

    /// Bytes available without decoding another chunk.
    pub fn buffered(&self) -> &[u8] {
        self.buf.get(self.cursor..).unwrap_or_default()
    }

    /// Makes at least `want` bytes available (or as many as the stream has).
    pub fn fill(&mut self, want: usize) -> Result<(), StreamStop> {
        while self.buf.len() - self.cursor < want {
            if self.pending_discontinuity {
                return Err(StreamStop::Discontinuity);
            }
            let leftover = self.buf.len() - self.cursor;
            if leftover <= CHUNK_HEADROOM {
                // Take the chunk's own buffer and put the short unread tail in front of it.
                let (event, mut fresh) = self.source.next_chunk_owned(&mut self.chunks);
                match event {
                    ChunkEvent::Data(_) if fresh.len() >= CHUNK_HEADROOM => {
                        let start = CHUNK_HEADROOM - leftover;
                        // Keep a little of what was read, for parsers that look back.
                        let back = (self.cursor - self.valid_from).min(LOOKBACK).min(start);
                        let position = self.pos();
                        // Both ranges are `leftover + back` bytes long.
                        let kept = self.buf.get(self.cursor - back..);
                        if let (Some(into), Some(from)) =
                            (fresh.get_mut(start - back..CHUNK_HEADROOM), kept)
                        {
                            into.copy_from_slice(from);
                        }
                        let spent = std::mem::replace(&mut self.buf, fresh);
                        self.source.recycle(spent);
                        self.cursor = start;
                        self.valid_from = start - back;
                        self.buf_offset = position.wrapping_sub(start as u64);
                    }
                    // Lost chunks hand back their buffer for reuse: a file of many
                    // undecodable chunks allocates no buffer per chunk.
                    ChunkEvent::Data(_) => self.source.recycle(fresh),
                    ChunkEvent::Discontinuity => {
                        self.source.recycle(fresh);
                        self.pending_discontinuity = true;
                        self.discontinuities += 1;
                    }
                    ChunkEvent::End => {
                        self.source.recycle(fresh);
                        return Err(StreamStop::End);
                    }
                }
                continue;
            }
            // Drop consumed bytes before growing the buffer.
            let back = (self.cursor - self.valid_from).min(LOOKBACK);
            if self.cursor > back {
                let drop = self.cursor - back;
                self.buf.drain(..drop);
                self.buf_offset = self.buf_offset.wrapping_add(drop as u64);
                self.cursor = back;
                self.valid_from = 0;
            }
            match self.source.next_chunk(&mut self.chunks, &mut self.buf) {
                ChunkEvent::Data(_) => {}
                ChunkEvent::Discontinuity => {
                    self.pending_discontinuity = true;
                    self.discontinuities += 1;
                }
                ChunkEvent::End => return Err(StreamStop::End),
            }
        }
        Ok(())
    }

    /// Steps back over up to `len` bytes already read (at least [`LOOKBACK`] are kept
    /// while they exist); returns how many. For resynchronising parsers.
    pub fn rewind(&mut self, len: usize) -> usize {
        let back = len.min(self.cursor - self.valid_from);
        self.cursor -= back;
        back
    }

    /// After a discontinuity, accept that bytes were lost and continue with what follows.
    /// The decompressed offsets stay those of the decoded bytes (lost bytes take no room).
    pub fn accept_discontinuity(&mut self) {
        self.pending_discontinuity = false;
    }

    pub fn at_end(&mut self) -> bool {
        matches!(self.fill(1), Err(StreamStop::End))
    }

    pub fn peek(&mut self, len: usize) -> Result<&[u8], StreamStop> {
        self.fill(len)?;
        let end = self.cursor.saturating_add(len);
        self.buf.get(self.cursor..end).ok_or(StreamStop::End)
    }

    /// Consumes `len` bytes and returns them (valid until the next call).
    pub fn take(&mut self, len: usize) -> Result<&[u8], StreamStop> {
        self.fill(len)?;
        let start = self.cursor;
        let end = start.saturating_add(len);
        let taken = self.buf.get(start..end).ok_or(StreamStop::End)?;
        self.cursor = end;
        Ok(taken)
    }

    /// Skips `len` bytes without keeping them in memory; returns how many were skipped.
    pub fn skip(&mut self, len: u64) -> Result<(), (u64, StreamStop)> {
        let mut left = len;
        while left > 0 {
            let available = (self.buf.len() - self.cursor) as u64;
            if available == 0 {
                if let Err(stop) = self.fill(1) {
                    return Err((len - left, stop));
                }
                continue;
            }
            let step = available.min(left);
            self.cursor += step as usize;
            left -= step;
        }
        Ok(())
    }

    /// Consumes up to `max` bytes and returns them, without waiting for more chunks.
    pub fn take_available(&mut self, max: usize) -> &[u8] {
        let len = (self.buf.len() - self.cursor).min(max);
        let start = self.cursor;
        self.cursor += len;
        self.buf.get(start..start + len).unwrap_or_default()
    }
}
