//! HighwayHash-64 keyed by SHA-256 of a string, as the filestore uses for
//! `meta.sum`, record checksums and `index.db`.

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
        for (index, word) in words.iter_mut().enumerate() {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(&digest[index * 8..index * 8 + 8]);
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

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(DIGITS[(byte >> 4) as usize] as char);
        out.push(DIGITS[(byte & 15) as usize] as char);
    }
    out
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
