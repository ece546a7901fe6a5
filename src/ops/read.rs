//! Reading one message's bytes on demand through the chunk index.
//! No scanning: it reads where the message table points.

/// Header blocks as the server parses them, for the message detail.
pub use crate::format::headers::{parse_header_block, HeaderBlock};
use crate::format::s2::{RangeError, RangeReader};
use crate::model::Backup;

/// The stored bytes of a message: header block and payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageBytes {
    pub headers: Vec<u8>,
    pub data: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot open {path}: {message}")]
    Open { path: String, message: String },
    #[error("no row {0}")]
    NoRow(usize),
    #[error("sequence {seq}: {source}")]
    Range { seq: u64, source: RangeError },
}

/// Reads messages of one backup; keeps the file open and the last chunk decoded.
pub struct MessageReader {
    range: RangeReader<std::fs::File>,
}

impl MessageReader {
    pub fn open(backup: &Backup) -> Result<Self, ReadError> {
        let file =
            std::fs::File::open(&backup.source.data_file).map_err(|error| ReadError::Open {
                path: backup.source.data_file.display().to_string(),
                message: error.to_string(),
            })?;
        Ok(Self {
            range: RangeReader::new(file, backup.chunks.clone()),
        })
    }

    pub fn read_row(&mut self, backup: &Backup, row: usize) -> Result<MessageBytes, ReadError> {
        let message = backup.messages.row(row).ok_or(ReadError::NoRow(row))?;
        let total = message.hdr_len as usize + message.data_len as usize;
        let mut bytes =
            self.range
                .read(message.offset, total)
                .map_err(|source| ReadError::Range {
                    seq: message.seq,
                    source,
                })?;
        let data = bytes.split_off(message.hdr_len as usize);
        Ok(MessageBytes {
            headers: bytes,
            data,
        })
    }

    /// The decompressed bytes `offset..offset + len` as the archive holds them
    /// (damaged records, whatever their checks say).
    pub fn read_range(&mut self, seq: u64, offset: u64, len: usize) -> Result<Vec<u8>, ReadError> {
        self.range
            .read(offset, len)
            .map_err(|source| ReadError::Range { seq, source })
    }
}
