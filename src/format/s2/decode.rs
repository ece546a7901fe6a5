//! Decoding one data chunk (CRC, then block), the chunk log that assigns
//! decompressed offsets in stream order, and the chunk sources a parser reads from.
//! No threads: the threaded chunk source is `ops::decode`'s.

use super::frame::{Frame, FrameReader, RawChunk};
use super::validate::validate_block;
use super::{masked_crc, ChunkKind, ChunkRecord, ChunkStatus, S2Problem, MAX_S2_BLOCK};
use std::io::Read;

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

/// Appends `len` zero bytes to `out` by copying from a static block: `Vec::resize`
/// writes byte by byte in debug builds, which made a crafted 6 GiB archive take minutes.
pub fn zero_extend(out: &mut Vec<u8>, len: usize) {
    static ZEROS: [u8; 64 << 10] = [0; 64 << 10];
    out.reserve(len);
    let mut left = len;
    while left > 0 {
        let piece = left.min(ZEROS.len());
        out.extend_from_slice(ZEROS.get(..piece).unwrap_or_default());
        left -= piece;
    }
}

/// Decodes a data chunk body (CRC, then block) and appends its bytes to `out`.
pub fn decode_chunk(raw: &RawChunk, out: &mut Vec<u8>) -> DecodedChunk {
    decode_chunk_body(raw.chunk_type, &raw.body, raw.max_block, out)
}

/// [`decode_chunk`] over a borrowed body (resync candidates are not copied).
pub fn decode_chunk_body(
    chunk_type: u8,
    body: &[u8],
    max_block: usize,
    out: &mut Vec<u8>,
) -> DecodedChunk {
    let kind = if chunk_type == 0x01 {
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
    let Some((crc_bytes, payload)) = body.split_first_chunk::<4>() else {
        return lost("chunk body shorter than its CRC", None);
    };
    let stored_crc = u32::from_le_bytes(*crc_bytes);
    let start = out.len();
    let mut status = ChunkStatus::Ok;
    let failure = None;
    let mut too_large = None;
    if kind == ChunkKind::Uncompressed {
        if payload.len() > max_block {
            too_large = Some(payload.len() as u64);
        }
        out.extend_from_slice(payload);
    } else {
        let (declared, header) = match minlz::decode_len(payload) {
            Ok(len) => len,
            Err(error) => return lost(&format!("bad block length ({error:?})"), None),
        };
        if declared > max_block {
            return lost("block too large", Some(declared as u64));
        }
        // Checked before any output is allocated: a corrupt block that claims 4 MiB
        // costs its own few bytes, not 4 MiB of zeroed memory.
        if validate_block(payload.get(header..).unwrap_or_default(), declared).is_err() {
            return lost("corrupt S2 block", None);
        }
        zero_extend(out, declared);
        match out
            .get_mut(start..)
            .map(|dst| minlz::decode_into(dst, payload))
        {
            Some(Ok(written)) if written == declared => {}
            _ => {
                // The declared length came from a corrupt block: nothing of it is
                // kept (no zero-fill the parsers would read as structure).
                out.truncate(start);
                return lost("corrupt S2 block", None);
            }
        }
    }
    if status == ChunkStatus::Ok && masked_crc(out.get(start..).unwrap_or_default()) != stored_crc {
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

    pub fn record_data(
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

    pub fn record_frame_problem(&mut self, problem: S2Problem, lost: bool) -> Option<ChunkEvent> {
        self.problems.push(problem);
        lost.then_some(ChunkEvent::Discontinuity)
    }

    pub fn record_end(&mut self, problem: Option<S2Problem>) -> ChunkEvent {
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

impl<R: Read> InlineSource<R> {
    pub fn new(inner: R) -> Self {
        Self {
            frames: FrameReader::new(inner),
            body: Vec::new(),
        }
    }
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
