//! S2 framing: chunk headers and bodies read from any `Read`, and the byte-level
//! resynchronisation to the next valid chunk after a damaged header.

use super::decode::decode_chunk;
use super::{
    ChunkStatus, S2Problem, MAX_S2_BLOCK, MAX_SNAPPY_BLOCK, S2_IDENTIFIER, SNAPPY_IDENTIFIER,
};
use std::io::{self, Read};

/// One raw chunk as framed in the file, before decoding.
#[derive(Debug)]
pub struct RawChunk {
    pub file_offset: u64,
    pub chunk_type: u8,
    pub body: Vec<u8>,
    pub max_block: usize,
}

/// What the framing layer found next.
#[derive(Debug)]
pub enum Frame {
    /// A data chunk (0x00 or 0x01) to decode.
    Data(RawChunk),
    /// A problem after which reading goes on; `lost` when bytes of unknown length are gone.
    Problem { problem: S2Problem, lost: bool },
    /// The end of the stream, after a fatal problem when there is one.
    End(Option<S2Problem>),
}

/// Reads chunk headers and bodies (framing only; decoding is separate so it can run in parallel).
pub struct FrameReader<R: Read> {
    inner: R,
    file_pos: u64,
    max_block: usize,
    started: bool,
    finished: bool,
    /// Bytes read ahead while resynchronising, served before `inner`.
    pending: Vec<u8>,
}

impl<R: Read> FrameReader<R> {
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            file_pos: 0,
            max_block: MAX_S2_BLOCK,
            started: false,
            finished: false,
            pending: Vec::new(),
        }
    }

    pub fn file_pos(&self) -> u64 {
        self.file_pos
    }

    fn read_up_to(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut filled = 0;
        if !self.pending.is_empty() {
            let take = self.pending.len().min(buf.len());
            buf[..take].copy_from_slice(&self.pending[..take]);
            self.pending.drain(..take);
            filled = take;
        }
        while filled < buf.len() {
            match self.inner.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
        Ok(filled)
    }

    fn end(&mut self, problem: Option<S2Problem>) -> Frame {
        self.finished = true;
        Frame::End(problem)
    }

    /// The next frame; `body` is a buffer to reuse for the chunk body.
    pub fn next_frame(&mut self, mut body: Vec<u8>) -> Frame {
        loop {
            if self.finished {
                return Frame::End(None);
            }
            let chunk_offset = self.file_pos;
            let header = match self.read_chunk_header(chunk_offset) {
                Ok(header) => header,
                Err(frame) => return frame,
            };
            let chunk_type = header[0];
            if !self.started && chunk_type != 0xff {
                return self.end(Some(S2Problem::NoIdentifier { chunk_type }));
            }
            if let Err(frame) = self.read_chunk_body(chunk_offset, header, &mut body) {
                return frame;
            }
            if self.started && implausible_chunk(chunk_type, &body, self.max_block) {
                let mut rest = header[1..].to_vec();
                rest.extend_from_slice(&body);
                let reason = if chunk_type <= 0x01 {
                    "its header does not describe a decodable block"
                } else {
                    "its type is reserved"
                };
                if let Some(frame) = self.resync_after(chunk_offset, rest, reason) {
                    return frame;
                }
                return self.end(Some(S2Problem::Unsupported {
                    file_offset: chunk_offset,
                    chunk_type,
                }));
            }
            match self.classify(chunk_offset, chunk_type, body) {
                Ok(frame) => return frame,
                Err(spare) => body = spare,
            }
        }
    }

    /// Reads the 4-byte chunk header; `Err` with the frame to return at the end or on a problem.
    fn read_chunk_header(&mut self, chunk_offset: u64) -> Result<[u8; 4], Frame> {
        let mut header = [0u8; 4];
        let got = match self.read_up_to(&mut header) {
            Ok(n) => n,
            Err(error) => {
                return Err(self.end(Some(S2Problem::Io {
                    file_offset: chunk_offset,
                    message: error.to_string(),
                })))
            }
        };
        if got == 0 {
            return Err(self.end(None));
        }
        self.file_pos += got as u64;
        if got < 4 {
            return Err(self.end(Some(S2Problem::Truncated {
                file_offset: chunk_offset,
                wanted: 4,
                available: got as u64,
            })));
        }
        Ok(header)
    }

    /// Reads the body the header declares into `body`; a short body ends the stream
    /// unless a valid chunk is found in what is there (a damaged length looks like truncation).
    fn read_chunk_body(
        &mut self,
        chunk_offset: u64,
        header: [u8; 4],
        body: &mut Vec<u8>,
    ) -> Result<(), Frame> {
        let body_len =
            u32::from(header[1]) | u32::from(header[2]) << 8 | u32::from(header[3]) << 16;
        body.clear();
        body.resize(body_len as usize, 0);
        let got_body = match self.read_up_to(body) {
            Ok(n) => n,
            Err(error) => {
                return Err(self.end(Some(S2Problem::Io {
                    file_offset: chunk_offset,
                    message: error.to_string(),
                })))
            }
        };
        self.file_pos += got_body as u64;
        if got_body == body.len() {
            return Ok(());
        }
        let truncated = S2Problem::Truncated {
            file_offset: chunk_offset,
            wanted: u64::from(body_len),
            available: got_body as u64,
        };
        if self.started {
            let mut rest = header[1..].to_vec();
            rest.extend_from_slice(body.get(..got_body).unwrap_or_default());
            if let Some(frame) = self.resync_after(
                chunk_offset,
                rest,
                "its length runs past the end of the file",
            ) {
                return Err(frame);
            }
        }
        Err(self.end(Some(truncated)))
    }

    /// What a well-framed chunk is; `Err(body)` hands the buffer back for a skipped chunk.
    fn classify(
        &mut self,
        chunk_offset: u64,
        chunk_type: u8,
        body: Vec<u8>,
    ) -> Result<Frame, Vec<u8>> {
        match chunk_type {
            0xff => {
                if body == S2_IDENTIFIER {
                    self.max_block = MAX_S2_BLOCK;
                } else if body == SNAPPY_IDENTIFIER {
                    self.max_block = MAX_SNAPPY_BLOCK;
                } else if !self.started {
                    return Ok(self.end(Some(S2Problem::NoIdentifier { chunk_type })));
                } else {
                    return Ok(Frame::Problem {
                        problem: S2Problem::BadIdentifier {
                            file_offset: chunk_offset,
                        },
                        lost: false,
                    });
                }
                self.started = true;
                Err(body)
            }
            0x00 | 0x01 => Ok(Frame::Data(RawChunk {
                file_offset: chunk_offset,
                chunk_type,
                body,
                max_block: self.max_block,
            })),
            0x02..=0x7f => Ok(Frame::Problem {
                problem: S2Problem::Unsupported {
                    file_offset: chunk_offset,
                    chunk_type,
                },
                lost: true,
            }),
            // Padding, seek index and other skippable chunks.
            _ => Err(body),
        }
    }
}

/// A chunk whose header cannot be right: a data chunk that cannot hold a block of
/// at most `max_block` bytes, or a reserved unskippable type.
fn implausible_chunk(chunk_type: u8, body: &[u8], max_block: usize) -> bool {
    match chunk_type {
        0x00 => {
            body.len() < 5
                || body.get(4..).is_none_or(|payload| {
                    minlz::decode_len(payload).map_or(true, |(len, _)| len > max_block)
                })
        }
        0x01 => body.len() < 4 || body.len() - 4 > max_block,
        0x02..=0x7f => true,
        _ => false,
    }
}

impl<R: Read> FrameReader<R> {
    /// After a bad chunk header at `chunk_offset`: searches the bytes after it (`rest`
    /// holds those already read) for the next chunk that decodes with a matching CRC.
    fn resync_after(&mut self, chunk_offset: u64, rest: Vec<u8>, reason: &str) -> Option<Frame> {
        const WINDOW: usize = 16 << 20;
        let mut window = rest;
        window.append(&mut self.pending);
        let mut window_offset = chunk_offset + 1;
        let mut scan = 0usize;
        let mut eof = false;
        let mut scratch = Vec::new();
        loop {
            while !eof && window.len() < scan + WINDOW {
                let before = window.len();
                window.resize(before + (1 << 20), 0);
                let got = match self.inner.read(&mut window[before..]) {
                    Ok(got) => got,
                    Err(error) if error.kind() == io::ErrorKind::Interrupted => 0,
                    Err(_) => {
                        eof = true;
                        0
                    }
                };
                window.truncate(before + got);
                if got == 0 {
                    eof = true;
                }
            }
            while scan + 4 <= window.len() && (eof || scan < WINDOW / 2) {
                if valid_chunk_at(&window[scan..], self.max_block, &mut scratch) {
                    let found = window_offset + scan as u64;
                    self.pending = window.split_off(scan);
                    self.file_pos = found;
                    return Some(Frame::Problem {
                        problem: S2Problem::Resynchronised {
                            file_offset: chunk_offset,
                            next_chunk: found,
                            reason: reason.to_string(),
                        },
                        lost: true,
                    });
                }
                scan += 1;
            }
            if eof {
                self.file_pos = window_offset + window.len() as u64;
                return None;
            }
            window.drain(..scan);
            window_offset += scan as u64;
            scan = 0;
        }
    }
}

/// Does a whole, valid data chunk (CRC verified) or a stream identifier start `buf`?
fn valid_chunk_at(buf: &[u8], max_block: usize, scratch: &mut Vec<u8>) -> bool {
    let Some(header) = buf.get(..4) else {
        return false;
    };
    let chunk_type = header[0];
    let len = usize::from(header[1]) | usize::from(header[2]) << 8 | usize::from(header[3]) << 16;
    let Some(body) = buf.get(4..4 + len) else {
        return false;
    };
    match chunk_type {
        0xff => body == S2_IDENTIFIER || body == SNAPPY_IDENTIFIER,
        0x00 | 0x01 if len >= 4 => {
            let raw = RawChunk {
                file_offset: 0,
                chunk_type,
                body: body.to_vec(),
                max_block,
            };
            scratch.clear();
            let decoded = decode_chunk(&raw, scratch);
            !decoded.lost && decoded.status == ChunkStatus::Ok && decoded.too_large.is_none()
        }
        _ => false,
    }
}
