//! HighwayHash-64 keyed by SHA-256 of a string, as the filestore uses for
//! `meta.sum`, record checksums and `index.db`.
//! Pure computation: no I/O, and no key material kept beyond the prepared hasher.

use highway::{HighwayHash, HighwayHasher, Key};
use sha2::{Digest, Sha256};

/// A prepared HighwayHash key (SHA-256 of the key string), with a hasher already
/// set up from it: cloning that is cheaper than building one per record.
#[derive(Clone)]
pub struct Hh64Key {
    initial: HighwayHasher,
}

impl Hh64Key {
    pub fn new(key_text: &str) -> Self {
        let digest = Sha256::digest(key_text.as_bytes());
        let mut words = [0u64; 4];
        for (word, chunk) in words.iter_mut().zip(digest.chunks_exact(8)) {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(chunk);
            *word = u64::from_le_bytes(bytes);
        }
        Self {
            initial: HighwayHasher::new(Key(words)),
        }
    }

    pub fn hasher(&self) -> HighwayHasher {
        self.initial.clone()
    }

    /// The 8 checksum bytes as stored on disk (the u64 little-endian).
    pub fn sum(&self, parts: &[&[u8]]) -> [u8; 8] {
        let mut hasher = self.hasher();
        for part in parts {
            hasher.append(part);
        }
        hasher.finalize64().to_le_bytes()
    }

    pub fn sum_hex(&self, data: &[u8]) -> String {
        hex(&self.sum(&[data]))
    }
}

/// Lower-case hex, two digits per byte.
pub fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(hex_digit(byte >> 4));
        out.push(hex_digit(byte & 15));
    }
    out
}

/// One hex digit for a nibble (0..=15).
fn hex_digit(nibble: u8) -> char {
    match nibble {
        0..=9 => char::from(b'0' + nibble),
        _ => char::from(b'a' + (nibble & 15) - 10),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Vectors from the format document's appendix.
    #[test]
    fn appendix_vectors() {
        assert_eq!(Hh64Key::new("ORDERS").sum_hex(b""), "09cc9df4fa96a66a");
        assert_eq!(Hh64Key::new("ORDERS").sum_hex(b"hello"), "2ee2db186ddc8e8d");
        assert_eq!(
            Hh64Key::new("ORDERS-1").sum_hex(b"hello"),
            "9df280d04dd3c570"
        );
        assert_eq!(
            Hh64Key::new("ORDERS/C1").sum_hex(b"hello"),
            "2c73a3fba0264c9e"
        );
    }
}
