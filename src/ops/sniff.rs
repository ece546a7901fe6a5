//! "Is this a backup at all?": a look at the first bytes of a data file, before
//! any scan. An input with no S2 stream identifier, no tar header and no
//! `NATSARC1` magic is not a damaged backup but something else, and is refused
//! with a description of what was found. Anything that could be a backup,
//! however damaged, passes: the scan and its findings decide the rest.

use std::io::Read;
use std::path::Path;

/// How much of the file is looked at.
const SNIFF_BYTES: usize = 64 * 1024;
/// The S2 / Snappy stream identifier bodies (`ff 06 00 00` + 6 bytes).
const S2_IDENTIFIERS: [&[u8]; 2] = [b"S2sTwO", b"sNaPpY"];
const V2_MAGIC: &[u8] = b"NATSARC1";

/// Why a file is not a NATS stream backup: what was found instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a NATS stream backup ({found})")]
pub struct NotABackup {
    pub found: String,
}

/// Reads the first bytes of `path` and refuses it when it cannot be a backup.
/// Only regular files are looked at; other kinds are left to the caller.
pub fn check_data_file(path: &Path) -> Result<(), NotABackup> {
    let is_file = std::fs::metadata(path).is_ok_and(|metadata| metadata.is_file());
    if !is_file {
        return Ok(());
    }
    let Ok(file) = std::fs::File::open(path) else {
        // Unreadable files get their I/O error from the scan, which says where.
        return Ok(());
    };
    let mut head = Vec::with_capacity(SNIFF_BYTES);
    if file
        .take(SNIFF_BYTES as u64)
        .read_to_end(&mut head)
        .is_err()
    {
        return Ok(());
    }
    check_bytes(&head)
}

/// The decision on the first bytes of a file (at most [`SNIFF_BYTES`] matter).
pub fn check_bytes(head: &[u8]) -> Result<(), NotABackup> {
    if could_be_backup(head) {
        return Ok(());
    }
    Err(NotABackup {
        found: describe(head),
    })
}

fn could_be_backup(head: &[u8]) -> bool {
    if head.starts_with(&[0xff, 0x06, 0x00, 0x00]) || head.starts_with(V2_MAGIC) {
        return true;
    }
    // A damaged first chunk header can still be followed by the identifier text or
    // by later stream identifiers (concatenated streams): look for them anywhere.
    let has_identifier = S2_IDENTIFIERS
        .iter()
        .any(|identifier| find(head, identifier).is_some());
    has_identifier || looks_like_tar(head)
}

/// A raw (uncompressed) tar: `ustar` magic or a valid header checksum in the first block.
fn looks_like_tar(head: &[u8]) -> bool {
    let Some(block) = head.get(..512) else {
        return false;
    };
    if block.get(257..262) == Some(b"ustar".as_slice()) {
        return true;
    }
    crate::format::tar::parse_header_block(block).is_ok() && block.iter().any(|&b| b != 0)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// "an empty file", "a gzip file (1f 8b 08 00 …)", "text: \"hello…\"".
fn describe(head: &[u8]) -> String {
    if head.is_empty() {
        return "an empty file, 0 bytes".into();
    }
    let known: [(&[u8], &str); 9] = [
        (&[0x1f, 0x8b], "a gzip file"),
        (b"PK\x03\x04", "a zip file"),
        (b"\x89PNG", "a PNG image"),
        (b"%PDF", "a PDF document"),
        (&[0x28, 0xb5, 0x2f, 0xfd], "a zstd file"),
        (b"\xfd7zXZ", "an xz file"),
        (b"BZh", "a bzip2 file"),
        (b"\x7fELF", "an ELF executable"),
        (b"SQLite format 3", "an SQLite database"),
    ];
    let first = first_bytes_hex(head);
    for (magic, name) in known {
        if head.starts_with(magic) {
            return format!("{name}: {first}");
        }
    }
    let text_like = head
        .iter()
        .take(256)
        .all(|&b| b == b'\n' || b == b'\r' || b == b'\t' || (0x20..0x7f).contains(&b));
    if text_like {
        let sample: String = String::from_utf8_lossy(&head[..head.len().min(40)])
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        let kind = match head.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'{') | Some(b'[') => "JSON or other text",
            _ => "text",
        };
        let more = if head.len() > 40 { "…" } else { "" };
        return format!("{kind}: \"{}{more}\"", sample.trim_end());
    }
    format!("no S2 stream identifier, tar header or NATSARC1 magic; the file starts {first}")
}

fn first_bytes_hex(head: &[u8]) -> String {
    let shown: Vec<String> = head.iter().take(8).map(|b| format!("{b:02x}")).collect();
    let more = if head.len() > 8 { " …" } else { "" };
    format!("{}{more}", shown.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backups_and_damaged_backups_pass() {
        assert!(check_bytes(b"\xff\x06\x00\x00S2sTwO\x01\x00\x00").is_ok());
        assert!(check_bytes(b"\xff\x06\x00\x00sNaPpY").is_ok());
        // First four bytes damaged: the identifier text still says S2.
        assert!(check_bytes(b"\x00\x00\x00\x00S2sTwO\x00\x10\x00").is_ok());
        assert!(check_bytes(b"NATSARC1\x0a").is_ok());
        let mut tar = vec![0u8; 1024];
        tar[257..262].copy_from_slice(b"ustar");
        assert!(check_bytes(&tar).is_ok());
    }

    #[test]
    fn other_files_are_refused_saying_what_they_are() {
        let empty = check_bytes(b"").unwrap_err();
        assert_eq!(
            empty.to_string(),
            "not a NATS stream backup (an empty file, 0 bytes)"
        );
        let text = check_bytes(b"hello world\n").unwrap_err();
        assert_eq!(text.found, "text: \"hello world\"");
        let gzip = check_bytes(&[0x1f, 0x8b, 8, 0, 1, 2, 3, 4, 5, 6]).unwrap_err();
        assert_eq!(gzip.found, "a gzip file: 1f 8b 08 00 01 02 03 04 …");
        let zeros = check_bytes(&[0u8; 4096]).unwrap_err();
        assert!(
            zeros.found.starts_with("no S2 stream identifier"),
            "{zeros}"
        );
    }
}
