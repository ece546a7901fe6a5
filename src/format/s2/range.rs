//! Random access to decompressed byte ranges through the chunk index.
//! Read-only, no threads: the caller supplies the `Read + Seek`.

use super::{ChunkKind, ChunkRecord, ChunkStatus};
use std::io::{self, Read, Seek, SeekFrom};

/// Reads decompressed bytes `[offset, offset+len)` by decoding only the chunks that hold them,
/// from any seekable source of the compressed bytes (a file, a buffer in tests).
pub struct RangeReader<R: Read + Seek> {
    file: R,
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

impl<R: Read + Seek> RangeReader<R> {
    pub fn new(file: R, chunks: std::sync::Arc<Vec<ChunkRecord>>) -> Self {
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
                // An undecodable chunk is never recorded (it is a discontinuity);
                // should one be, it is an error here, never bytes made up of zeros.
                if record.status == ChunkStatus::Undecodable {
                    return Err(RangeError::Decode {
                        file_offset: record.file_offset,
                    });
                }
                super::decode::zero_extend(&mut self.cached, record.decompressed_len as usize);
                if minlz::decode_into(&mut self.cached, payload).is_err() {
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
