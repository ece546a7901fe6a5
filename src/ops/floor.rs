//! The benchmark floor: the least work any reader of an archive must do (one
//! thread decoding every S2 chunk with its CRC, walking v2 entry headers), timed
//! by `jsbackup bench` against the full scan. Never builds a model.

use crate::format::s2::{decode_chunk, Frame, FrameReader};
use crate::format::v2;
use std::io::BufReader;

/// The floor: decode every S2 chunk (with CRC) on one thread and walk the
/// decompressed bytes as little as a reader must (v2 entry headers; v1 bytes only).
pub fn floor_walk(path: &std::path::Path) -> std::io::Result<(u64, u64)> {
    let file = std::fs::File::open(path)?;
    let mut frames = FrameReader::new(BufReader::with_capacity(1 << 20, file));
    let mut buffer: Vec<u8> = Vec::with_capacity(8 << 20);
    let mut body = Vec::new();
    let mut decompressed = 0u64;
    let mut entries = 0u64;
    let mut position = 0usize;
    let mut is_v2: Option<bool> = None;
    loop {
        match frames.next_frame(std::mem::take(&mut body)) {
            Frame::Data(raw) => {
                let before = buffer.len();
                decode_chunk(&raw, &mut buffer);
                decompressed += (buffer.len() - before) as u64;
                body = raw.body;
            }
            Frame::Problem { .. } => continue,
            Frame::End(_) => break,
        }
        if is_v2.is_none() && buffer.len() >= 8 {
            let v2 = buffer.get(..8) == Some(v2::MAGIC.as_slice());
            is_v2 = Some(v2);
            if v2 {
                position = 8;
            }
        }
        if is_v2 == Some(true) {
            while let Some(Ok(Some((header, used)))) = buffer
                .get(position..)
                .map(|rest| v2::parse_entry_header(rest, 0))
            {
                let end = position + used + header.data_len() as usize;
                if end > buffer.len() {
                    break;
                }
                entries += 1;
                position = end;
            }
            buffer.drain(..position);
            position = 0;
        } else if is_v2 == Some(false) {
            buffer.clear();
        }
    }
    Ok((decompressed, entries))
}
