//! LEB128 varints as Go's `encoding/binary` writes them (uvarint, and zigzag varint).
//! A short or over-long varint is an error value, never a panic; no I/O.

/// Why a varint could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VarintError {
    /// The buffer ended inside the varint.
    Truncated,
    /// More than 10 bytes, or a 10th byte above 1 (Go's overflow rule).
    Overflow,
}

/// Reads an unsigned LEB128 value; returns the value and the number of bytes used.
pub fn read_uvarint(buf: &[u8]) -> Result<(u64, usize), VarintError> {
    let mut value: u64 = 0;
    let mut shift = 0u32;
    for (index, &byte) in buf.iter().enumerate() {
        if index == 10 {
            return Err(VarintError::Overflow);
        }
        if byte < 0x80 {
            if index == 9 && byte > 1 {
                return Err(VarintError::Overflow);
            }
            return Ok((value | (u64::from(byte) << shift), index + 1));
        }
        value |= u64::from(byte & 0x7f) << shift;
        shift += 7;
    }
    if buf.len() >= 10 {
        return Err(VarintError::Overflow);
    }
    Err(VarintError::Truncated)
}

/// Reads a zigzag-encoded signed varint (Go `binary.Varint`).
pub fn read_varint(buf: &[u8]) -> Result<(i64, usize), VarintError> {
    let (zigzag, used) = read_uvarint(buf)?;
    Ok((zigzag_decode(zigzag), used))
}

pub fn zigzag_decode(zigzag: u64) -> i64 {
    ((zigzag >> 1) as i64) ^ -((zigzag & 1) as i64)
}

pub fn zigzag_encode(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

pub fn write_uvarint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

pub fn write_varint(out: &mut Vec<u8>, value: i64) {
    write_uvarint(out, zigzag_encode(value));
}

/// A cursor over a byte slice for formats made of varints and fixed fields.
pub struct Cursor<'a> {
    pub buf: &'a [u8],
    pub pos: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }
    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }
    pub fn uvarint(&mut self) -> Option<u64> {
        let rest = self.buf.get(self.pos..)?;
        let (value, used) = read_uvarint(rest).ok()?;
        self.pos += used;
        Some(value)
    }
    pub fn varint(&mut self) -> Option<i64> {
        self.uvarint().map(zigzag_decode)
    }
    pub fn u8(&mut self) -> Option<u8> {
        let byte = *self.buf.get(self.pos)?;
        self.pos += 1;
        Some(byte)
    }
    pub fn bytes(&mut self, len: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(len)?;
        let slice = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(slice)
    }
    /// The next `N` bytes as an array.
    pub fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.bytes(N)?.try_into().ok()
    }
    pub fn u16_le(&mut self) -> Option<u16> {
        self.array().map(u16::from_le_bytes)
    }
    pub fn u32_le(&mut self) -> Option<u32> {
        self.array().map(u32::from_le_bytes)
    }
    pub fn u64_le(&mut self) -> Option<u64> {
        self.array().map(u64::from_le_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uvarint_round_trip_and_limits() {
        for value in [0u64, 1, 127, 128, 300, u32::MAX as u64, u64::MAX] {
            let mut buf = Vec::new();
            write_uvarint(&mut buf, value);
            assert_eq!(read_uvarint(&buf), Ok((value, buf.len())));
        }
        assert_eq!(read_uvarint(&[0x80]), Err(VarintError::Truncated));
        assert_eq!(read_uvarint(&[0xff; 11]), Err(VarintError::Overflow));
        assert_eq!(
            read_uvarint(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02]),
            Err(VarintError::Overflow)
        );
    }

    #[test]
    fn zigzag_matches_go() {
        for value in [0i64, -1, 1, -64, 64, i64::MIN, i64::MAX] {
            assert_eq!(zigzag_decode(zigzag_encode(value)), value);
        }
        assert_eq!(zigzag_encode(-1), 1);
        assert_eq!(zigzag_encode(1), 2);
    }
}
