//! A dry run of the S2 block decoder: walks a block's tags and checks that they
//! decode to exactly the declared length, without writing a byte. A corrupt block
//! then costs what its compressed bytes cost, not the 4 MiB it may claim: the
//! output buffer is only allocated for a block that is known to decode.
//!
//! The checks mirror `minlz`'s block decoder (literal lengths, copy offsets within
//! what was written, S2 repeat offsets, the exact total); `decode_chunk_body` still
//! checks the real decode, so a disagreement can cost time but never correctness.

/// Why a block does not decode, found without decoding it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidBlock;

/// Checks that `src` (a block without its length varint) decodes to exactly
/// `declared` bytes. Work is linear in `src.len()`.
pub fn validate_block(src: &[u8], declared: usize) -> Result<(), InvalidBlock> {
    let mut at = 0usize;
    walk_block(src, declared, &mut at)
}

/// Like [`validate_block`], and also how many bytes of `src` the walk read before it
/// stopped: what checking a block that turns out invalid really cost.
pub fn validate_block_cost(src: &[u8], declared: usize) -> (Result<(), InvalidBlock>, usize) {
    let mut at = 0usize;
    let verdict = walk_block(src, declared, &mut at);
    (verdict, at.min(src.len()))
}

fn walk_block(src: &[u8], declared: usize, at: &mut usize) -> Result<(), InvalidBlock> {
    let mut written = 0usize;
    let mut offset = 0usize;
    while let Some(&tag) = src.get(*at) {
        let rest = src.get(*at..).unwrap_or_default();
        let length = match tag & 0x03 {
            0x00 => {
                let (length, header) = literal_length(rest)?;
                *at += header;
                if length > declared - written || length > src.len() - *at {
                    return Err(InvalidBlock);
                }
                *at += length;
                written += length;
                continue;
            }
            0x01 => {
                let (new_offset, length, consumed) = copy1(rest, offset)?;
                *at += consumed;
                offset = new_offset;
                length
            }
            0x02 => {
                let bytes: [u8; 2] = rest
                    .get(1..3)
                    .and_then(|bytes| bytes.try_into().ok())
                    .ok_or(InvalidBlock)?;
                offset = usize::from(u16::from_le_bytes(bytes));
                *at += 3;
                1 + usize::from(tag >> 2)
            }
            _ => {
                let bytes: [u8; 4] = rest
                    .get(1..5)
                    .and_then(|bytes| bytes.try_into().ok())
                    .ok_or(InvalidBlock)?;
                offset = u32::from_le_bytes(bytes) as usize;
                *at += 5;
                1 + usize::from(tag >> 2)
            }
        };
        if offset == 0 || written < offset || length > declared - written {
            return Err(InvalidBlock);
        }
        written += length;
    }
    if written == declared {
        Ok(())
    } else {
        Err(InvalidBlock)
    }
}

/// A literal's length and the bytes its tag takes.
fn literal_length(src: &[u8]) -> Result<(usize, usize), InvalidBlock> {
    let tag = *src.first().ok_or(InvalidBlock)?;
    let byte = |index: usize| src.get(index).copied().map(usize::from).ok_or(InvalidBlock);
    match tag >> 2 {
        small @ 0..=59 => Ok((usize::from(small) + 1, 1)),
        60 => Ok((byte(1)? + 1, 2)),
        61 => Ok((byte(1)? | byte(2)? << 8, 3)).map(|(len, n)| (len + 1, n)),
        62 => Ok((byte(1)? | byte(2)? << 8 | byte(3)? << 16, 4)).map(|(len, n)| (len + 1, n)),
        _ => {
            let len = byte(1)? | byte(2)? << 8 | byte(3)? << 16 | byte(4)? << 24;
            Ok((len + 1, 5))
        }
    }
}

/// A copy with a 1-byte offset, or an S2 repeat of the last offset (offset bits 0):
/// (offset, length, bytes consumed).
fn copy1(src: &[u8], last_offset: usize) -> Result<(usize, usize, usize), InvalidBlock> {
    let (&tag, tail) = src.split_first().ok_or(InvalidBlock)?;
    let &low = tail.first().ok_or(InvalidBlock)?;
    let byte = |index: usize| src.get(index).copied().map(usize::from).ok_or(InvalidBlock);
    let new_offset = (usize::from(tag) & 0xe0) << 3 | usize::from(low);
    let code = usize::from((tag >> 2) & 0x07);
    if new_offset != 0 {
        return Ok((new_offset, code + 4, 2));
    }
    match code {
        5 => Ok((last_offset, byte(2)? + 8, 3)),
        6 => Ok((last_offset, (byte(2)? | byte(3)? << 8) + (1 << 8) + 4, 4)),
        7 => Ok((
            last_offset,
            (byte(2)? | byte(3)? << 8 | byte(4)? << 16) + (1 << 16) + 4,
            5,
        )),
        _ => Ok((last_offset, code + 4, 2)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The dry run agrees with the real decoder on real, cut, and mutated blocks.
    #[test]
    fn agrees_with_the_decoder() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut checked = 0;
        for round in 0..3000 {
            let len = (next() % 5000) as usize;
            let period = 1 + (next() % 40) as usize;
            let data: Vec<u8> = (0..len)
                .map(|i| {
                    if round % 3 == 0 {
                        next() as u8
                    } else {
                        (i % period) as u8
                    }
                })
                .collect();
            let mut block = minlz::encode(&data);
            for mutation in 0..4 {
                if mutation > 0 && !block.is_empty() {
                    let at = (next() as usize) % block.len();
                    match mutation {
                        1 => block[at] ^= 1 << (next() % 8),
                        2 => block.truncate(at),
                        _ => block[at] = next() as u8,
                    }
                }
                let Ok((declared, header)) = minlz::decode_len(&block) else {
                    continue;
                };
                if declared > 1 << 20 {
                    continue;
                }
                let mut out = vec![0u8; declared];
                let real = minlz::decode_into(&mut out, &block).is_ok();
                let dry = validate_block(&block[header..], declared).is_ok();
                assert_eq!(dry, real, "round {round} mutation {mutation}: {block:?}");
                checked += 1;
            }
        }
        assert!(checked > 5000);
    }

    #[test]
    fn a_claimed_four_mib_with_nothing_behind_it_is_invalid() {
        assert_eq!(validate_block(&[0x00], 4 << 20), Err(InvalidBlock));
        assert_eq!(validate_block(&[], 4 << 20), Err(InvalidBlock));
        assert_eq!(validate_block(&[], 0), Ok(()));
    }
}
