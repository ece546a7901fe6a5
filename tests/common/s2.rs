//! S2 files for tests that edit decompressed archive bytes: the decompressed bytes
//! of a well-formed file, and an S2 file of uncompressed chunks (valid CRCs) that
//! holds edited bytes, so only the edit is damage.

use jsbackup::format::s2::{decode_chunk, masked_crc, RawChunk, MAX_S2_BLOCK};

/// The decompressed bytes of an S2 stream (its data chunks, in order).
pub fn decompress(bytes: &[u8]) -> Vec<u8> {
    decompress_chunks(bytes).0
}

/// The same, and the decompressed (start, end) of each data chunk.
pub fn decompress_chunks(bytes: &[u8]) -> (Vec<u8>, Vec<(usize, usize)>) {
    let mut out = Vec::new();
    let mut ranges = Vec::new();
    let mut offset = 0;
    while offset + 4 <= bytes.len() {
        let chunk_type = bytes[offset];
        let len = usize::from(bytes[offset + 1])
            | usize::from(bytes[offset + 2]) << 8
            | usize::from(bytes[offset + 3]) << 16;
        if chunk_type <= 1 {
            let start = out.len();
            let raw = RawChunk {
                file_offset: offset as u64,
                chunk_type,
                body: bytes[offset + 4..offset + 4 + len].to_vec(),
                max_block: MAX_S2_BLOCK,
            };
            decode_chunk(&raw, &mut out);
            ranges.push((start, out.len()));
        }
        offset += 4 + len;
    }
    (out, ranges)
}

/// An S2 stream of uncompressed 64 KiB chunks with valid CRCs holding `data`.
pub fn uncompressed(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0xff, 6, 0, 0];
    out.extend_from_slice(b"S2sTwO");
    for piece in data.chunks(64 << 10) {
        let len = piece.len() + 4;
        out.extend_from_slice(&[0x01, len as u8, (len >> 8) as u8, (len >> 16) as u8]);
        out.extend_from_slice(&masked_crc(piece).to_le_bytes());
        out.extend_from_slice(piece);
    }
    out
}

/// The data offset of tar member `name` in decompressed v1 bytes (its ustar header
/// block found by name; a PAX header may come before it).
pub fn tar_member_data(tar: &[u8], name: &str) -> usize {
    let mut wanted = name.as_bytes().to_vec();
    wanted.push(0);
    let header = (0..tar.len() / 512)
        .map(|block| block * 512)
        .find(|&at| tar[at..].starts_with(&wanted))
        .unwrap_or_else(|| panic!("no tar member {name}"));
    header + 512
}

/// Writes `data` (edited decompressed bytes) as `scratch/damaged`, beside a copy of
/// `source`'s backup.json, runs `export --salvage` into `scratch/salvaged`, and
/// returns both directories and the command's output.
pub fn salvage_edited(
    scratch: &std::path::Path,
    source: &std::path::Path,
    data: &[u8],
) -> (std::path::PathBuf, std::path::PathBuf, std::process::Output) {
    salvage_file(scratch, source, &uncompressed(data))
}

/// [`salvage_edited`] with `file` (a whole S2 stream) as the damaged data file.
pub fn salvage_file(
    scratch: &std::path::Path,
    source: &std::path::Path,
    file: &[u8],
) -> (std::path::PathBuf, std::path::PathBuf, std::process::Output) {
    let dir = scratch.join("damaged");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::copy(source.join("backup.json"), dir.join("backup.json")).expect("copy");
    std::fs::write(dir.join("stream.tar.s2"), file).expect("write");
    let out = scratch.join("salvaged");
    let export = super::jsbackup(&[
        "export",
        dir.to_str().expect("path"),
        out.to_str().expect("path"),
        "--salvage",
    ]);
    (dir, out, export)
}

/// `bytes` (an S2 stream) with its data chunk number `index` (0 = the first data
/// chunk) replaced by one uncompressed chunk of `data` with a valid CRC: damage
/// that only a chunk's length shows.
pub fn replace_chunk(bytes: &[u8], index: usize, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + data.len());
    let mut offset = 0;
    let mut data_chunk = 0;
    while offset + 4 <= bytes.len() {
        let len = usize::from(bytes[offset + 1])
            | usize::from(bytes[offset + 2]) << 8
            | usize::from(bytes[offset + 3]) << 16;
        let end = offset + 4 + len;
        if bytes[offset] <= 1 && data_chunk == index {
            let body = data.len() + 4;
            out.extend_from_slice(&[0x01, body as u8, (body >> 8) as u8, (body >> 16) as u8]);
            out.extend_from_slice(&masked_crc(data).to_le_bytes());
            out.extend_from_slice(data);
        } else {
            out.extend_from_slice(&bytes[offset..end]);
        }
        if bytes[offset] <= 1 {
            data_chunk += 1;
        }
        offset = end;
    }
    out
}
