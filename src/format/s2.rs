//! S2 (and Snappy) framed streams: chunk headers, masked CRC-32C, a chunk index
//! recorded while reading, and random access to decompressed byte ranges.
//!
//! Blocks are decoded with `minlz`'s block decoder only; the framing is ours so
//! that damage is located and reading can go on past it.

use std::io::{self, Read, Seek, SeekFrom};

/// The largest decoded block S2 allows.
pub const MAX_S2_BLOCK: usize = 4 << 20;
/// The largest decoded block after a `sNaPpY` identifier.
pub const MAX_SNAPPY_BLOCK: usize = 64 << 10;

pub const S2_IDENTIFIER: &[u8; 6] = b"S2sTwO";
pub const SNAPPY_IDENTIFIER: &[u8; 6] = b"sNaPpY";

/// Snappy-style masked CRC-32C.
pub fn masked_crc(data: &[u8]) -> u32 {
    let crc = crc32c::crc32c(data);
    (crc.rotate_right(15)).wrapping_add(0xa282_ead8)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkKind {
    Compressed,
    Uncompressed,
}

/// What became of a data chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkStatus {
    Ok,
    /// Decoded, but the CRC of the decoded bytes does not match.
    CrcMismatch,
    /// The block could not be decoded; its declared length was filled with zeros.
    Undecodable,
}

/// One data chunk: where it is in the file and which decompressed bytes it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkRecord {
    pub file_offset: u64,
    pub body_len: u32,
    pub decompressed_offset: u64,
    pub decompressed_len: u32,
    pub kind: ChunkKind,
    pub status: ChunkStatus,
}

impl ChunkRecord {
    pub fn decompressed_end(&self) -> u64 {
        self.decompressed_offset + u64::from(self.decompressed_len)
    }
}

/// Damage at the framing level. Every variant names the file offset.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum S2Problem {
    #[error("not an S2 stream: the first chunk at file offset 0 is type 0x{chunk_type:02x}, not a stream identifier")]
    NoIdentifier { chunk_type: u8 },
    #[error("bad stream identifier at file offset {file_offset}")]
    BadIdentifier { file_offset: u64 },
    #[error("S2 CRC mismatch in the chunk at file offset {file_offset} (decompressed bytes {decompressed_offset}..{decompressed_end})")]
    CrcMismatch {
        file_offset: u64,
        decompressed_offset: u64,
        decompressed_end: u64,
    },
    #[error("undecodable S2 block in the chunk at file offset {file_offset}: {reason} (decompressed bytes {decompressed_offset}..{decompressed_end} lost)")]
    Undecodable {
        file_offset: u64,
        decompressed_offset: u64,
        decompressed_end: u64,
        reason: String,
    },
    #[error("chunk at file offset {file_offset} of type 0x{chunk_type:02x} is reserved and cannot be skipped; its contents are lost")]
    Unsupported { file_offset: u64, chunk_type: u8 },
    #[error("S2 stream truncated: chunk at file offset {file_offset} wants {wanted} bytes, {available} present")]
    Truncated {
        file_offset: u64,
        wanted: u64,
        available: u64,
    },
    #[error("chunk at file offset {file_offset} declares {declared} decoded bytes, above the {limit}-byte block limit")]
    BlockTooLarge {
        file_offset: u64,
        declared: u64,
        limit: usize,
    },
    #[error("I/O error at file offset {file_offset}: {message}")]
    Io { file_offset: u64, message: String },
    #[error("bad S2 chunk at file offset {file_offset} ({reason}); resynchronised at the next valid chunk at file offset {next_chunk}: the bytes between are lost")]
    Resynchronised {
        file_offset: u64,
        next_chunk: u64,
        reason: String,
    },
}

impl S2Problem {
    pub fn file_offset(&self) -> u64 {
        match self {
            S2Problem::NoIdentifier { .. } => 0,
            S2Problem::BadIdentifier { file_offset }
            | S2Problem::CrcMismatch { file_offset, .. }
            | S2Problem::Undecodable { file_offset, .. }
            | S2Problem::Unsupported { file_offset, .. }
            | S2Problem::Truncated { file_offset, .. }
            | S2Problem::BlockTooLarge { file_offset, .. }
            | S2Problem::Resynchronised { file_offset, .. }
            | S2Problem::Io { file_offset, .. } => *file_offset,
        }
    }
}

/// What one call to [`ChunkReader::next_chunk`] produced.
#[derive(Debug)]
pub enum ChunkEvent {
    /// Decoded bytes were appended to the output buffer (possibly with a recorded problem).
    Data(ChunkRecord),
    /// Bytes of unknown length were lost here; the decompressed stream is discontinuous.
    Discontinuity,
    /// End of stream (clean or after a fatal problem, see `problems`).
    End,
}

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
            let mut header = [0u8; 4];
            let got = match self.read_up_to(&mut header) {
                Ok(n) => n,
                Err(error) => {
                    return self.end(Some(S2Problem::Io {
                        file_offset: chunk_offset,
                        message: error.to_string(),
                    }))
                }
            };
            if got == 0 {
                return self.end(None);
            }
            self.file_pos += got as u64;
            if got < 4 {
                return self.end(Some(S2Problem::Truncated {
                    file_offset: chunk_offset,
                    wanted: 4,
                    available: got as u64,
                }));
            }
            let chunk_type = header[0];
            let body_len =
                u32::from(header[1]) | u32::from(header[2]) << 8 | u32::from(header[3]) << 16;
            if !self.started && chunk_type != 0xff {
                return self.end(Some(S2Problem::NoIdentifier { chunk_type }));
            }
            body.clear();
            body.resize(body_len as usize, 0);
            let got_body = match self.read_up_to(&mut body) {
                Ok(n) => n,
                Err(error) => {
                    return self.end(Some(S2Problem::Io {
                        file_offset: chunk_offset,
                        message: error.to_string(),
                    }))
                }
            };
            self.file_pos += got_body as u64;
            if got_body < body.len() {
                let truncated = S2Problem::Truncated {
                    file_offset: chunk_offset,
                    wanted: u64::from(body_len),
                    available: got_body as u64,
                };
                // A damaged length can look like truncation: look for a valid chunk in what is there.
                if self.started {
                    let mut rest = header[1..].to_vec();
                    rest.extend_from_slice(&body[..got_body]);
                    if let Some(frame) = self.resync_after(
                        chunk_offset,
                        rest,
                        "its length runs past the end of the file",
                    ) {
                        return frame;
                    }
                }
                return self.end(Some(truncated));
            }
            let implausible = match chunk_type {
                0x00 => {
                    body.len() < 5
                        || body.get(4..).is_none_or(|payload| {
                            minlz::decode_len(payload).map_or(true, |(len, _)| len > self.max_block)
                        })
                }
                0x01 => body.len() < 4 || body.len() - 4 > self.max_block,
                0x02..=0x7f => true,
                _ => false,
            };
            if implausible && self.started {
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
            match chunk_type {
                0xff => {
                    if body == S2_IDENTIFIER {
                        self.max_block = MAX_S2_BLOCK;
                    } else if body == SNAPPY_IDENTIFIER {
                        self.max_block = MAX_SNAPPY_BLOCK;
                    } else if !self.started {
                        return self.end(Some(S2Problem::NoIdentifier { chunk_type }));
                    } else {
                        self.started = true;
                        return Frame::Problem {
                            problem: S2Problem::BadIdentifier {
                                file_offset: chunk_offset,
                            },
                            lost: false,
                        };
                    }
                    self.started = true;
                }
                0x00 | 0x01 => {
                    return Frame::Data(RawChunk {
                        file_offset: chunk_offset,
                        chunk_type,
                        body,
                        max_block: self.max_block,
                    })
                }
                0x02..=0x7f => {
                    return Frame::Problem {
                        problem: S2Problem::Unsupported {
                            file_offset: chunk_offset,
                            chunk_type,
                        },
                        lost: true,
                    }
                }
                // Padding, seek index and other skippable chunks.
                _ => {}
            }
        }
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

/// The result of decoding one data chunk (offsets are assigned later, in order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedChunk {
    pub kind: ChunkKind,
    pub status: ChunkStatus,
    /// Bytes appended to the output (0 when `lost`).
    pub len: usize,
    /// Nothing could be appended: bytes of unknown length are gone.
    pub lost: bool,
    pub failure: Option<String>,
    pub too_large: Option<u64>,
}

/// Decodes a data chunk body (CRC, then block) and appends its bytes to `out`.
pub fn decode_chunk(raw: &RawChunk, out: &mut Vec<u8>) -> DecodedChunk {
    let kind = if raw.chunk_type == 0x01 {
        ChunkKind::Uncompressed
    } else {
        ChunkKind::Compressed
    };
    let lost = |failure: &str, too_large: Option<u64>| DecodedChunk {
        kind,
        status: ChunkStatus::Undecodable,
        len: 0,
        lost: true,
        failure: Some(failure.to_string()),
        too_large,
    };
    let Some((crc_bytes, payload)) = raw.body.split_first_chunk::<4>() else {
        return lost("chunk body shorter than its CRC", None);
    };
    let stored_crc = u32::from_le_bytes(*crc_bytes);
    let start = out.len();
    let mut status = ChunkStatus::Ok;
    let mut failure = None;
    let mut too_large = None;
    if kind == ChunkKind::Uncompressed {
        if payload.len() > raw.max_block {
            too_large = Some(payload.len() as u64);
        }
        out.extend_from_slice(payload);
    } else {
        let declared = match minlz::decode_len(payload) {
            Ok((len, _)) => len,
            Err(error) => return lost(&format!("bad block length ({error:?})"), None),
        };
        if declared > raw.max_block {
            return lost("block too large", Some(declared as u64));
        }
        out.resize(start + declared, 0);
        match minlz::decode_into(&mut out[start..], payload) {
            Ok(written) if written == declared => {}
            Ok(_) | Err(_) => {
                // Keep offsets aligned: the declared length stays, zero-filled.
                out[start..].fill(0);
                status = ChunkStatus::Undecodable;
                failure = Some("corrupt S2 block".to_string());
            }
        }
    }
    if status == ChunkStatus::Ok && masked_crc(&out[start..]) != stored_crc {
        status = ChunkStatus::CrcMismatch;
    }
    DecodedChunk {
        kind,
        status,
        len: out.len() - start,
        lost: false,
        failure,
        too_large,
    }
}

/// The chunk index and problems, assigned in stream order.
#[derive(Debug, Default)]
pub struct ChunkLog {
    pub chunks: Vec<ChunkRecord>,
    pub problems: Vec<S2Problem>,
    decompressed_pos: u64,
    /// True once something fatal stopped the stream before its natural end.
    pub ended_early: bool,
}

impl ChunkLog {
    pub fn decompressed_pos(&self) -> u64 {
        self.decompressed_pos
    }

    fn record_data(
        &mut self,
        raw_offset: u64,
        body_len: usize,
        decoded: &DecodedChunk,
    ) -> ChunkEvent {
        let decompressed_offset = self.decompressed_pos;
        if let Some(declared) = decoded.too_large {
            self.problems.push(S2Problem::BlockTooLarge {
                file_offset: raw_offset,
                declared,
                limit: MAX_S2_BLOCK,
            });
        }
        if decoded.lost {
            if decoded.too_large.is_none() {
                self.problems.push(S2Problem::Undecodable {
                    file_offset: raw_offset,
                    decompressed_offset,
                    decompressed_end: decompressed_offset,
                    reason: decoded.failure.clone().unwrap_or_default(),
                });
            }
            return ChunkEvent::Discontinuity;
        }
        let decompressed_end = decompressed_offset + decoded.len as u64;
        match decoded.status {
            ChunkStatus::Ok => {}
            ChunkStatus::CrcMismatch => self.problems.push(S2Problem::CrcMismatch {
                file_offset: raw_offset,
                decompressed_offset,
                decompressed_end,
            }),
            ChunkStatus::Undecodable => self.problems.push(S2Problem::Undecodable {
                file_offset: raw_offset,
                decompressed_offset,
                decompressed_end,
                reason: decoded.failure.clone().unwrap_or_default(),
            }),
        }
        let record = ChunkRecord {
            file_offset: raw_offset,
            body_len: body_len as u32,
            decompressed_offset,
            decompressed_len: decoded.len as u32,
            kind: decoded.kind,
            status: decoded.status,
        };
        self.decompressed_pos = decompressed_end;
        self.chunks.push(record);
        ChunkEvent::Data(record)
    }

    fn record_frame_problem(&mut self, problem: S2Problem, lost: bool) -> Option<ChunkEvent> {
        self.problems.push(problem);
        lost.then_some(ChunkEvent::Discontinuity)
    }

    fn record_end(&mut self, problem: Option<S2Problem>) -> ChunkEvent {
        if let Some(problem) = problem {
            self.problems.push(problem);
            self.ended_early = true;
        }
        ChunkEvent::End
    }
}

/// Where decoded chunks come from: decoded inline, or by a reader thread and two decoders.
pub trait ChunkSource {
    /// Appends the next chunk's bytes to `out`, recording it in `log`.
    fn next_chunk(&mut self, log: &mut ChunkLog, out: &mut Vec<u8>) -> ChunkEvent;
    /// The next chunk as a buffer of its own: [`CHUNK_HEADROOM`] spare bytes, then the
    /// chunk's bytes. Lets the reader keep a short unread tail without copying the chunk.
    fn next_chunk_owned(&mut self, log: &mut ChunkLog) -> (ChunkEvent, Vec<u8>) {
        let mut out = vec![0u8; CHUNK_HEADROOM];
        let event = self.next_chunk(log, &mut out);
        (event, out)
    }
    /// Hands back a buffer that is no longer needed, for reuse.
    fn recycle(&mut self, buffer: Vec<u8>) {
        drop(buffer);
    }
    /// Compressed bytes read so far.
    fn file_pos(&self) -> u64;
}

/// Spare room in front of an owned chunk buffer, for the unread tail of the previous one.
pub const CHUNK_HEADROOM: usize = 64 << 10;

/// Decodes on the calling thread.
pub struct InlineSource<R: Read> {
    frames: FrameReader<R>,
    body: Vec<u8>,
}

impl<R: Read> ChunkSource for InlineSource<R> {
    fn next_chunk(&mut self, log: &mut ChunkLog, out: &mut Vec<u8>) -> ChunkEvent {
        loop {
            match self.frames.next_frame(std::mem::take(&mut self.body)) {
                Frame::Data(raw) => {
                    let decoded = decode_chunk(&raw, out);
                    let event = log.record_data(raw.file_offset, raw.body.len(), &decoded);
                    self.body = raw.body;
                    return event;
                }
                Frame::Problem { problem, lost } => {
                    if let Some(event) = log.record_frame_problem(problem, lost) {
                        return event;
                    }
                }
                Frame::End(problem) => return log.record_end(problem),
            }
        }
    }

    fn file_pos(&self) -> u64 {
        self.frames.file_pos()
    }
}

/// A frame or a decoded chunk, numbered so the consumer can put them back in order.
enum Piece {
    Data {
        file_offset: u64,
        body_len: usize,
        decoded: DecodedChunk,
        bytes: Vec<u8>,
    },
    Problem {
        problem: S2Problem,
        lost: bool,
    },
    End(Option<S2Problem>),
}

/// Reads frames on one thread and decodes them on two more; hands chunks back in order.
pub struct ThreadedSource {
    /// Spent chunk buffers, reused by the decoders (saves page faults and zeroing).
    pool: std::sync::Arc<std::sync::Mutex<Vec<Vec<u8>>>>,
    results: std::sync::mpsc::Receiver<(u64, Piece)>,
    tokens: std::sync::mpsc::SyncSender<()>,
    waiting: std::collections::BTreeMap<u64, Piece>,
    next_piece: u64,
    file_pos: std::sync::Arc<std::sync::atomic::AtomicU64>,
    finished: bool,
}

/// Chunks decoded ahead of the parser at most (bounds memory to a few blocks).
const CHUNKS_IN_FLIGHT: usize = 6;
const DECODER_THREADS: usize = 2;

impl ThreadedSource {
    pub fn spawn<R: Read + Send + 'static>(inner: R) -> Self {
        use std::sync::atomic::{AtomicU64, Ordering};
        use std::sync::mpsc::{channel, sync_channel};
        use std::sync::{Arc, Mutex};
        let (result_tx, results) = channel::<(u64, Piece)>();
        let (token_tx, token_rx) = sync_channel::<()>(CHUNKS_IN_FLIGHT);
        for _ in 0..CHUNKS_IN_FLIGHT {
            let _ = token_tx.try_send(());
        }
        let (job_tx, job_rx) = channel::<(u64, RawChunk)>();
        let job_rx = Arc::new(Mutex::new(job_rx));
        let file_pos = Arc::new(AtomicU64::new(0));
        let pool: Arc<Mutex<Vec<Vec<u8>>>> = Arc::new(Mutex::new(Vec::new()));
        for _ in 0..DECODER_THREADS {
            let job_rx = Arc::clone(&job_rx);
            let result_tx = result_tx.clone();
            let pool = Arc::clone(&pool);
            std::thread::spawn(move || loop {
                let job = match job_rx.lock() {
                    Ok(receiver) => receiver.recv(),
                    Err(_) => return,
                };
                let Ok((number, raw)) = job else { return };
                let reused = pool.lock().ok().and_then(|mut spare| spare.pop());
                let mut bytes = reused.unwrap_or_else(|| {
                    Vec::with_capacity(CHUNK_HEADROOM + raw.max_block.min(MAX_S2_BLOCK))
                });
                bytes.clear();
                bytes.resize(CHUNK_HEADROOM, 0);
                let decoded = decode_chunk(&raw, &mut bytes);
                let piece = Piece::Data {
                    file_offset: raw.file_offset,
                    body_len: raw.body.len(),
                    decoded,
                    bytes,
                };
                if result_tx.send((number, piece)).is_err() {
                    return;
                }
            });
        }
        let reader_pos = Arc::clone(&file_pos);
        std::thread::spawn(move || {
            let mut frames = FrameReader::new(inner);
            let mut number = 0u64;
            loop {
                // Wait for room: the consumer returns a token per chunk it takes.
                if token_rx.recv().is_err() {
                    return;
                }
                let frame = frames.next_frame(Vec::new());
                reader_pos.store(frames.file_pos(), Ordering::Relaxed);
                let sent = match frame {
                    Frame::Data(raw) => job_tx.send((number, raw)).is_ok(),
                    Frame::Problem { problem, lost } => result_tx
                        .send((number, Piece::Problem { problem, lost }))
                        .is_ok(),
                    Frame::End(problem) => {
                        let _ = result_tx.send((number, Piece::End(problem)));
                        return;
                    }
                };
                if !sent {
                    return;
                }
                number += 1;
            }
        });
        Self {
            pool,
            results,
            tokens: token_tx,
            waiting: std::collections::BTreeMap::new(),
            next_piece: 0,
            file_pos,
            finished: false,
        }
    }

    fn take_next(&mut self) -> Option<Piece> {
        loop {
            if let Some(piece) = self.waiting.remove(&self.next_piece) {
                self.next_piece += 1;
                let _ = self.tokens.try_send(());
                return Some(piece);
            }
            match self.results.recv() {
                Ok((number, piece)) => {
                    self.waiting.insert(number, piece);
                }
                Err(_) => return None,
            }
        }
    }
}

impl ChunkSource for ThreadedSource {
    fn next_chunk(&mut self, log: &mut ChunkLog, out: &mut Vec<u8>) -> ChunkEvent {
        loop {
            if self.finished {
                return ChunkEvent::End;
            }
            let Some(piece) = self.take_next() else {
                self.finished = true;
                return log.record_end(Some(S2Problem::Io {
                    file_offset: self.file_pos(),
                    message: "the decoder thread stopped".into(),
                }));
            };
            match piece {
                Piece::Data {
                    file_offset,
                    body_len,
                    decoded,
                    bytes,
                } => {
                    out.extend_from_slice(bytes.get(CHUNK_HEADROOM..).unwrap_or_default());
                    return log.record_data(file_offset, body_len, &decoded);
                }
                Piece::Problem { problem, lost } => {
                    if let Some(event) = log.record_frame_problem(problem, lost) {
                        return event;
                    }
                }
                Piece::End(problem) => {
                    self.finished = true;
                    return log.record_end(problem);
                }
            }
        }
    }

    fn next_chunk_owned(&mut self, log: &mut ChunkLog) -> (ChunkEvent, Vec<u8>) {
        loop {
            if self.finished {
                return (ChunkEvent::End, Vec::new());
            }
            let Some(piece) = self.take_next() else {
                self.finished = true;
                let event = log.record_end(Some(S2Problem::Io {
                    file_offset: self.file_pos(),
                    message: "the decoder thread stopped".into(),
                }));
                return (event, Vec::new());
            };
            match piece {
                Piece::Data {
                    file_offset,
                    body_len,
                    decoded,
                    bytes,
                } => return (log.record_data(file_offset, body_len, &decoded), bytes),
                Piece::Problem { problem, lost } => {
                    if let Some(event) = log.record_frame_problem(problem, lost) {
                        return (event, Vec::new());
                    }
                }
                Piece::End(problem) => {
                    self.finished = true;
                    return (log.record_end(problem), Vec::new());
                }
            }
        }
    }

    fn recycle(&mut self, buffer: Vec<u8>) {
        if let Ok(mut spare) = self.pool.lock() {
            // A few buffers are enough to cover the chunks in flight.
            if spare.len() < CHUNKS_IN_FLIGHT + DECODER_THREADS {
                spare.push(buffer);
            }
        }
    }

    fn file_pos(&self) -> u64 {
        self.file_pos.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Why a read from the decompressed stream stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamStop {
    /// The stream ended (cleanly at the S2 level, or after a fatal framing problem).
    End,
    /// Bytes of unknown length were lost at the S2 level right here.
    Discontinuity,
}

/// A buffered view of the decompressed stream with position tracking, for parsers.
pub struct DecodedStream<S: ChunkSource> {
    source: S,
    pub chunks: ChunkLog,
    buf: Vec<u8>,
    /// Index in `buf` of the next unread byte.
    cursor: usize,
    /// Decompressed offset of `buf[0]`.
    buf_offset: u64,
    pending_discontinuity: bool,
    /// Number of discontinuities seen (parsers compare this to detect them).
    pub discontinuities: u32,
}

impl<R: Read> DecodedStream<InlineSource<R>> {
    /// Decodes on the calling thread.
    pub fn new(inner: R) -> Self {
        Self::with_source(InlineSource {
            frames: FrameReader::new(inner),
            body: Vec::new(),
        })
    }
}

impl DecodedStream<ThreadedSource> {
    /// Reads and decodes on background threads, ahead of the parser.
    pub fn threaded<R: Read + Send + 'static>(inner: R) -> Self {
        Self::with_source(ThreadedSource::spawn(inner))
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
        &self.buf[self.cursor..]
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
                        let position = self.pos();
                        fresh[start..CHUNK_HEADROOM].copy_from_slice(&self.buf[self.cursor..]);
                        let spent = std::mem::replace(&mut self.buf, fresh);
                        self.source.recycle(spent);
                        self.cursor = start;
                        self.buf_offset = position.wrapping_sub(start as u64);
                    }
                    ChunkEvent::Data(_) => {}
                    ChunkEvent::Discontinuity => {
                        self.pending_discontinuity = true;
                        self.discontinuities += 1;
                    }
                    ChunkEvent::End => return Err(StreamStop::End),
                }
                continue;
            }
            // Drop consumed bytes before growing the buffer.
            if self.cursor > 0 {
                self.buf.drain(..self.cursor);
                self.buf_offset = self.buf_offset.wrapping_add(self.cursor as u64);
                self.cursor = 0;
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
        Ok(&self.buf[self.cursor..self.cursor + len])
    }

    /// Consumes `len` bytes and returns them (valid until the next call).
    pub fn take(&mut self, len: usize) -> Result<&[u8], StreamStop> {
        self.fill(len)?;
        let start = self.cursor;
        self.cursor += len;
        Ok(&self.buf[start..start + len])
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
        &self.buf[start..start + len]
    }
}

/// Reads decompressed bytes `[offset, offset+len)` by decoding only the chunks that hold them.
pub struct RangeReader {
    file: std::fs::File,
    chunks: std::sync::Arc<Vec<ChunkRecord>>,
    body: Vec<u8>,
    cached_chunk: Option<usize>,
    cached: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum RangeError {
    #[error("decompressed bytes {offset}..{end} are not in any decoded chunk")]
    NotCovered { offset: u64, end: u64 },
    #[error("I/O error reading the chunk at file offset {file_offset}: {source}")]
    Io { file_offset: u64, source: io::Error },
    #[error("chunk at file offset {file_offset} no longer decodes")]
    Decode { file_offset: u64 },
}

impl RangeReader {
    pub fn new(file: std::fs::File, chunks: std::sync::Arc<Vec<ChunkRecord>>) -> Self {
        Self {
            file,
            chunks,
            body: Vec::new(),
            cached_chunk: None,
            cached: Vec::new(),
        }
    }

    fn load_chunk(&mut self, index: usize) -> Result<(), RangeError> {
        if self.cached_chunk == Some(index) {
            return Ok(());
        }
        let Some(record) = self.chunks.get(index).copied() else {
            return Err(RangeError::NotCovered { offset: 0, end: 0 });
        };
        let io_error = |source| RangeError::Io {
            file_offset: record.file_offset,
            source,
        };
        self.file
            .seek(SeekFrom::Start(record.file_offset + 4))
            .map_err(io_error)?;
        self.body.resize(record.body_len as usize, 0);
        self.file.read_exact(&mut self.body).map_err(io_error)?;
        let payload = self.body.get(4..).unwrap_or_default();
        self.cached.clear();
        match record.kind {
            ChunkKind::Uncompressed => self.cached.extend_from_slice(payload),
            ChunkKind::Compressed => {
                self.cached.resize(record.decompressed_len as usize, 0);
                if record.status != ChunkStatus::Undecodable
                    && minlz::decode_into(&mut self.cached, payload).is_err()
                {
                    return Err(RangeError::Decode {
                        file_offset: record.file_offset,
                    });
                }
            }
        }
        self.cached_chunk = Some(index);
        Ok(())
    }

    pub fn read(&mut self, offset: u64, len: usize) -> Result<Vec<u8>, RangeError> {
        let end = offset + len as u64;
        let mut out = Vec::with_capacity(len);
        let mut position = offset;
        while position < end {
            let index = self
                .chunks
                .partition_point(|chunk| chunk.decompressed_end() <= position);
            let Some(record) = self.chunks.get(index).copied() else {
                return Err(RangeError::NotCovered { offset, end });
            };
            if record.decompressed_offset > position {
                return Err(RangeError::NotCovered { offset, end });
            }
            self.load_chunk(index)?;
            let from = (position - record.decompressed_offset) as usize;
            let to = ((end.min(record.decompressed_end())) - record.decompressed_offset) as usize;
            let Some(slice) = self.cached.get(from..to) else {
                return Err(RangeError::NotCovered { offset, end });
            };
            out.extend_from_slice(slice);
            position += (to - from) as u64;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_vectors() {
        assert_eq!(masked_crc(b""), 0xa282_ead8);
        assert_eq!(masked_crc(b"123456789"), 0xc78a_b0e5);
        assert_eq!(masked_crc(b"a"), 0x28e4_6e78);
    }

    fn frame(chunks: &[(u8, Vec<u8>)]) -> Vec<u8> {
        let mut out = vec![0xff, 6, 0, 0];
        out.extend_from_slice(S2_IDENTIFIER);
        for (chunk_type, body) in chunks {
            let len = body.len() as u32;
            out.extend_from_slice(&[*chunk_type, len as u8, (len >> 8) as u8, (len >> 16) as u8]);
            out.extend_from_slice(body);
        }
        out
    }

    fn uncompressed(data: &[u8]) -> Vec<u8> {
        let mut body = masked_crc(data).to_le_bytes().to_vec();
        body.extend_from_slice(data);
        body
    }

    #[test]
    fn reads_uncompressed_and_skips_padding() {
        let bytes = frame(&[
            (0x01, uncompressed(b"hello ")),
            (0xfe, vec![0; 10]),
            (0x01, uncompressed(b"world")),
        ]);
        let mut stream = DecodedStream::new(&bytes[..]);
        assert_eq!(
            stream.take(11).map(|b| b.to_vec()),
            Ok(b"hello world".to_vec())
        );
        assert_eq!(stream.fill(1), Err(StreamStop::End));
        assert_eq!(stream.chunks.chunks.len(), 2);
        assert!(stream.chunks.problems.is_empty());
    }

    #[test]
    fn crc_mismatch_is_reported_and_data_kept() {
        let mut body = uncompressed(b"abc");
        body[0] ^= 1;
        let bytes = frame(&[(0x01, body)]);
        let mut stream = DecodedStream::new(&bytes[..]);
        assert_eq!(stream.take(3).map(|b| b.to_vec()), Ok(b"abc".to_vec()));
        assert!(matches!(
            stream.chunks.problems.first(),
            Some(S2Problem::CrcMismatch {
                file_offset: 10,
                ..
            })
        ));
    }

    #[test]
    fn truncated_and_empty_and_garbage() {
        let bytes = frame(&[(0x01, uncompressed(b"abcdef"))]);
        let cut = &bytes[..bytes.len() - 2];
        let mut stream = DecodedStream::new(cut);
        assert_eq!(stream.fill(1), Err(StreamStop::End));
        assert!(matches!(
            stream.chunks.problems.first(),
            Some(S2Problem::Truncated { .. })
        ));
        let mut empty = DecodedStream::new(&b""[..]);
        assert_eq!(empty.fill(1), Err(StreamStop::End));
        assert!(empty.chunks.problems.is_empty());
        let mut garbage = DecodedStream::new(&b"hello world, not s2"[..]);
        assert_eq!(garbage.fill(1), Err(StreamStop::End));
        assert!(matches!(
            garbage.chunks.problems.first(),
            Some(S2Problem::NoIdentifier { .. })
        ));
    }

    #[test]
    fn many_padding_chunks_do_not_recurse() {
        let chunks: Vec<(u8, Vec<u8>)> = (0..100_000).map(|_| (0xfe, Vec::new())).collect();
        let bytes = frame(&chunks);
        let mut stream = DecodedStream::new(&bytes[..]);
        assert_eq!(stream.fill(1), Err(StreamStop::End));
    }
}
