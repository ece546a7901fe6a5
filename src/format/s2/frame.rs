//! S2 framing: chunk headers and bodies read from any `Read`, and the byte-level
//! resynchronisation to the next valid chunk after a damaged header.
//! Never decodes blocks (that is `decode.rs`); a bad header is a problem value, never a
//! panic.

use super::decode::decode_chunk_body;
use super::validate::validate_block_cost;
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
            if let (Some(into), Some(from)) = (buf.get_mut(..take), self.pending.get(..take)) {
                into.copy_from_slice(from);
            }
            self.pending.drain(..take);
            filled = take;
        }
        while let Some(rest) = buf.get_mut(filled..).filter(|rest| !rest.is_empty()) {
            match self.inner.read(rest) {
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
            // A data chunk whose length swallowed the next chunk header (a damaged length
            // field) is followed by something that is no chunk header: look inside it.
            let followed_badly = chunk_type <= 0x01
                && !self.next_header_plausible()
                && !chunk_verifies(chunk_type, &body, self.max_block);
            if self.started
                && (followed_badly || implausible_chunk(chunk_type, &body, self.max_block))
            {
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

    /// Peeks at the next 4 bytes: the end of the input, a cut header, or a header of a
    /// type a stream writer emits. Peeked bytes are served again by the next read.
    fn next_header_plausible(&mut self) -> bool {
        let Ok(header) = self.peek(4) else {
            // The read error comes back on the next header read and is reported there.
            return true;
        };
        let Some((chunk_type, len)) = chunk_header(header) else {
            // The end of the input, or a header cut by it.
            return true;
        };
        // The type and a length that type can have (a chunk's length field that
        // grew swallows the next header and lands in compressed bytes, where 0x00
        // and 0x01 are common type bytes but such a length is not).
        if !header_fits(chunk_type, len) {
            return false;
        }
        // And that chunk ends where the input ends or another header fits: a
        // chance header in compressed bytes rarely does (its length usually runs
        // past the end). The bytes read ahead are served to the next reads.
        let Ok(ahead) = self.peek(4 + len + 4) else {
            return true;
        };
        match ahead.get(4 + len..) {
            None => false,
            Some(after) => {
                after.is_empty()
                    || chunk_header(after)
                        .is_none_or(|(next_type, next_len)| header_fits(next_type, next_len))
            }
        }
    }

    /// Up to `len` bytes from the read position without consuming them (kept in
    /// `pending`); fewer only at the end of the input.
    fn peek(&mut self, len: usize) -> io::Result<&[u8]> {
        while self.pending.len() < len {
            let before = self.pending.len();
            self.pending.resize(len, 0);
            let got = loop {
                match self
                    .inner
                    .read(self.pending.get_mut(before..).unwrap_or_default())
                {
                    Ok(got) => break got,
                    Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                    Err(error) => {
                        self.pending.truncate(before);
                        return Err(error);
                    }
                }
            };
            self.pending.truncate(before + got);
            if got == 0 {
                break;
            }
        }
        Ok(self.pending.get(..len).unwrap_or(&self.pending))
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

/// Does a data chunk decode with a matching CRC? Only asked for a chunk that is
/// followed by something unexpected (rare), so the decode done twice costs little.
fn chunk_verifies(chunk_type: u8, body: &[u8], max_block: usize) -> bool {
    let mut scratch = Vec::new();
    let decoded = decode_chunk_body(chunk_type, body, max_block, &mut scratch);
    !decoded.lost && decoded.status == ChunkStatus::Ok
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
    ///
    /// Work stays linear in the bytes present: every offset gets cheap checks first
    /// (type, length against the bytes there, a decoded length the body can hold, and
    /// a plausible chunk header right after), and the candidates that pass are decoded
    /// within a budget proportional to the bytes searched.
    fn resync_after(&mut self, chunk_offset: u64, rest: Vec<u8>, reason: &str) -> Option<Frame> {
        let mut window = rest;
        window.append(&mut self.pending);
        let window_offset = chunk_offset + 1;
        let mut eof = false;
        let mut scratch = Vec::new();
        // Where the bad chunk's own header says it ends (`rest` starts one byte into
        // that header). Its body is often the only damage — garbage or zeros behind an
        // intact header — and then the next chunk starts exactly there. Trying it first
        // keeps false candidates inside the bad body from spending the search budget
        // that the real chunk needs.
        let declared_end = match window.get(..3) {
            Some(&[l0, l1, l2]) => {
                Some(3 + (usize::from(l0) | usize::from(l1) << 8 | usize::from(l2) << 16))
            }
            _ => None,
        }
        .filter(|&end| end <= MAX_COMPRESSED_BODY + 4);
        let view_end = declared_end.unwrap_or(0) + MAX_CHUNK_VIEW;
        while !eof && window.len() < view_end {
            eof = self.read_more(&mut window);
        }
        // One budget for the whole resync: what the declared end cost is not spent twice.
        let mut decode_budget = RESYNC_DECODE_ALLOWANCE;
        if let Some(end) = declared_end {
            let verified = window.get(end..).is_some_and(|candidate| {
                chunk_found_at(
                    candidate,
                    self.max_block,
                    eof,
                    &mut scratch,
                    &mut decode_budget,
                )
            });
            if verified {
                return Some(self.resume_at(chunk_offset, window, window_offset, end, reason));
            }
        }
        self.search_from(
            chunk_offset,
            window,
            window_offset,
            eof,
            reason,
            decode_budget,
        )
    }

    /// Resumes reading at `window[at]` (file offset `window_offset + at`).
    fn resume_at(
        &mut self,
        chunk_offset: u64,
        mut window: Vec<u8>,
        window_offset: u64,
        at: usize,
        reason: &str,
    ) -> Frame {
        let found = window_offset + at as u64;
        self.pending = window.split_off(at);
        self.file_pos = found;
        Frame::Problem {
            problem: S2Problem::Resynchronised {
                file_offset: chunk_offset,
                next_chunk: found,
                reason: reason.to_string(),
            },
            lost: true,
        }
    }

    /// The byte-by-byte search for the next verified chunk, from `window[0]`.
    fn search_from(
        &mut self,
        chunk_offset: u64,
        mut window: Vec<u8>,
        mut window_offset: u64,
        mut eof: bool,
        reason: &str,
        mut decode_budget: usize,
    ) -> Option<Frame> {
        let mut scan = 0usize;
        let mut scratch = Vec::new();
        loop {
            // Keep the largest chunk (and the header after it) in view of the scan point.
            while !eof && window.len() < scan + MAX_CHUNK_VIEW {
                eof = self.read_more(&mut window);
            }
            while scan + 4 <= window.len() && (eof || scan + MAX_CHUNK_VIEW <= window.len()) {
                let candidate = window.get(scan..).unwrap_or_default();
                decode_budget = decode_budget.saturating_add(RESYNC_DECODE_PER_BYTE);
                if chunk_found_at(
                    candidate,
                    self.max_block,
                    eof,
                    &mut scratch,
                    &mut decode_budget,
                ) {
                    return Some(self.resume_at(chunk_offset, window, window_offset, scan, reason));
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

    /// Appends up to 1 MiB from the input to `window`; true at the end of the input.
    fn read_more(&mut self, window: &mut Vec<u8>) -> bool {
        let before = window.len();
        window.resize(before + (1 << 20), 0);
        let got = loop {
            match self
                .inner
                .read(window.get_mut(before..).unwrap_or_default())
            {
                Ok(got) => break got,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                // A read error ends the search like the end of the input does.
                Err(_) => break 0,
            }
        };
        window.truncate(before + got);
        got == 0
    }
}

/// Bytes a resync keeps in view past the scan point: the largest chunk body a
/// candidate may declare, its header, and the header of the chunk after it.
const MAX_CHUNK_VIEW: usize = MAX_COMPRESSED_BODY + 8;
/// The largest body of a compressed chunk: a 4 MiB block that did not compress,
/// with S2's worst-case overhead, and its CRC.
const MAX_COMPRESSED_BODY: usize = MAX_S2_BLOCK + MAX_S2_BLOCK / 4 + 64;
/// Decoded bytes a resync may spend on candidates: an allowance for the real chunk,
/// and a few bytes for every byte searched.
const RESYNC_DECODE_ALLOWANCE: usize = 2 * MAX_S2_BLOCK;
const RESYNC_DECODE_PER_BYTE: usize = 8;

fn chunk_header(buf: &[u8]) -> Option<(u8, usize)> {
    let [chunk_type, l0, l1, l2] = *buf.get(..4)? else {
        return None;
    };
    Some((
        chunk_type,
        usize::from(l0) | usize::from(l1) << 8 | usize::from(l2) << 16,
    ))
}

/// How much the chunk headers after a resync candidate say for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chain {
    /// Every header that should follow is there and lines up (or the input ends
    /// exactly after the candidate): chance bytes almost never do that.
    Complete,
    /// A following chunk runs past the bytes in view or the end of the input: all
    /// a chunk cut by truncation leaves, and what a chance length in compressed
    /// bytes most often gives.
    Cut,
}

/// Decoded bytes a candidate whose chain is cut may not take: what a real chunk
/// with a complete chain further on needs (the largest block). Chance candidates
/// pass the cheap checks every few kilobytes of compressed bytes, and their dry
/// runs would otherwise spend the budget before the real chunk is reached.
const RESERVED_FOR_COMPLETE_CHAINS: usize = MAX_S2_BLOCK + (MAX_S2_BLOCK >> 2) + 64;

/// Is a real chunk at the start of `buf`: plausible, then verified within what its
/// chain of headers may spend of `budget`?
fn chunk_found_at(
    buf: &[u8],
    max_block: usize,
    eof: bool,
    scratch: &mut Vec<u8>,
    budget: &mut usize,
) -> bool {
    plausible_chunk_at(buf, max_block, eof)
        .is_some_and(|chain| verified_within(buf, max_block, chain, scratch, budget))
}

/// [`verified_chunk_at`], spending only what `chain` may spend of `budget`.
fn verified_within(
    buf: &[u8],
    max_block: usize,
    chain: Chain,
    scratch: &mut Vec<u8>,
    budget: &mut usize,
) -> bool {
    if chain == Chain::Complete {
        return verified_chunk_at(buf, max_block, scratch, budget);
    }
    let mut spendable = budget.saturating_sub(RESERVED_FOR_COMPLETE_CHAINS);
    let before = spendable;
    let verified = verified_chunk_at(buf, max_block, scratch, &mut spendable);
    *budget -= before - spendable;
    verified
}

/// The cheap checks of a resync candidate: a data chunk or stream identifier whose
/// declared sizes fit, followed by the end of the input or other chunk headers;
/// `None` when they fail.
fn plausible_chunk_at(buf: &[u8], max_block: usize, eof: bool) -> Option<Chain> {
    let (chunk_type, len) = chunk_header(buf)?;
    let body = buf.get(4..4 + len)?;
    let fits = match chunk_type {
        0xff => body == S2_IDENTIFIER || body == SNAPPY_IDENTIFIER,
        0x01 => len > 4 && len - 4 <= max_block,
        0x00 => {
            len > 5
                && len <= MAX_COMPRESSED_BODY
                && body.get(4..).is_some_and(|payload| {
                    minlz::decode_len(payload).is_ok_and(|(decoded, _)| {
                        // A block never compresses to much more than its own size.
                        decoded > 0
                            && decoded <= max_block
                            && payload.len() <= decoded + decoded / 4 + 64
                    })
                })
        }
        _ => false,
    };
    if !fits {
        return None;
    }
    chunks_follow(buf.get(4 + len..)?, eof, CHAIN_DEPTH)
}

/// Chunk headers that must line up after a resync candidate (when in view).
const CHAIN_DEPTH: usize = 2;

/// A type a stream writer emits (data, padding, stream identifier, S2 index) with
/// a length such a chunk can have.
fn header_fits(chunk_type: u8, len: usize) -> bool {
    match chunk_type {
        0x00 => len > 5 && len <= MAX_COMPRESSED_BODY,
        0x01 => len > 4 && len - 4 <= MAX_S2_BLOCK,
        0xff => len == S2_IDENTIFIER.len(),
        0x99 | 0xfe => true,
        _ => false,
    }
}

/// Do `depth` plausible chunk headers follow (or the end of the input)? Only the
/// types a stream writer emits count (data, padding, stream identifier, S2 index),
/// with a length such a chunk can have: in compressed bytes, 0x00 and 0x01 are
/// common, and the length is what tells a real header from a chance one.
fn chunks_follow(after: &[u8], eof: bool, depth: usize) -> Option<Chain> {
    if depth == 0 {
        return Some(Chain::Complete);
    }
    if after.is_empty() {
        return eof.then_some(Chain::Complete);
    }
    let Some((next_type, next_len)) = chunk_header(after) else {
        // A header cut by the end of the input, or not in view yet.
        return Some(Chain::Cut);
    };
    if !header_fits(next_type, next_len) {
        return None;
    }
    match after.get(4 + next_len..) {
        Some(rest) => chunks_follow(rest, eof, depth - 1),
        // The next chunk is cut by the end of the input, or out of view.
        None => Some(Chain::Cut),
    }
}

/// Does the candidate decode with a matching CRC? Identifiers need no decoding;
/// decoding spends `budget` (decoded bytes), and nothing is decoded once it is spent.
fn verified_chunk_at(
    buf: &[u8],
    max_block: usize,
    scratch: &mut Vec<u8>,
    budget: &mut usize,
) -> bool {
    let Some((chunk_type, len)) = chunk_header(buf) else {
        return false;
    };
    let Some(body) = buf.get(4..4 + len) else {
        return false;
    };
    if chunk_type == 0xff {
        return true;
    }
    let cost = match chunk_type {
        0x00 => {
            let Some(payload) = body.get(4..) else {
                return false;
            };
            let Ok((declared, varint_len)) = minlz::decode_len(payload) else {
                return false;
            };
            let block = payload.get(varint_len..).unwrap_or_default();
            // The dry run stops at the first impossible tag, so a chance candidate
            // costs the few bytes it took to refute, not the size it claims. It walks
            // at most what the budget has left: a block cut there fails, and that
            // keeps the whole search linear.
            let affordable = block.get(..(*budget).min(block.len())).unwrap_or_default();
            let (verdict, walked) = validate_block_cost(affordable, declared);
            *budget = budget.saturating_sub(walked);
            if verdict.is_err() {
                return false;
            }
            declared
        }
        _ => len,
    };
    if cost > *budget {
        return false;
    }
    *budget -= cost;
    scratch.clear();
    let decoded = decode_chunk_body(chunk_type, body, max_block, scratch);
    !decoded.lost && decoded.status == ChunkStatus::Ok && decoded.too_large.is_none()
}
