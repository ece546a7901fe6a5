//! S2 (and Snappy) framed streams: chunk headers, masked CRC-32C, a chunk index
//! recorded while reading, and random access to decompressed byte ranges.
//!
//! Blocks are decoded with `minlz`'s block decoder only; the framing is ours so
//! that damage is located and reading can go on past it.

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
    /// The block could not be decoded. The reader reports such a chunk as lost bytes
    /// (a discontinuity) and records no chunk for it.
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
    #[error("undecodable S2 block in the chunk at file offset {file_offset}: {reason}; its bytes are lost at decompressed offset {decompressed_offset}")]
    Undecodable {
        file_offset: u64,
        decompressed_offset: u64,
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

mod decode;
mod frame;
mod range;
mod stream;
mod validate;

pub use decode::{
    decode_chunk, decode_chunk_body, zero_extend, ChunkEvent, ChunkLog, ChunkSource, DecodedChunk,
    InlineSource, CHUNK_HEADROOM,
};
pub use frame::{Frame, FrameReader, RawChunk};
pub use range::{RangeError, RangeReader};
pub use stream::{DecodedStream, StreamStop, LOOKBACK};

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
