//! A PAX/ustar tar reader over the decompressed stream, recording each member's
//! decompressed offset. Written here (rather than the `tar` crate) so that a bad
//! header can be reported with its offset and reading can resynchronise.
//!
//! It never decides what a member means: that is the scan's (`ops::scan::v1`).

use super::s2::{ChunkSource, DecodedStream, StreamStop};

pub const BLOCK: usize = 512;

/// Members larger than this are not read into memory.
pub const MAX_MEMBER_IN_MEMORY: u64 = 1 << 30;
/// Longest member path kept (Linux PATH_MAX): a restore cannot create a longer one.
pub const MAX_PATH: usize = 4096;
/// At most this much is reserved before a member's bytes are actually read.
const MAX_UPFRONT_RESERVE: u64 = 8 << 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TarHeader {
    pub name: String,
    pub size: u64,
    pub typeflag: u8,
    /// Decompressed offset of the 512-byte header (of the PAX header when there is one).
    pub header_offset: u64,
    pub data_offset: u64,
}

impl TarHeader {
    pub fn is_regular(&self) -> bool {
        self.typeflag == b'0' || self.typeflag == 0
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TarEvent {
    Member(TarHeader),
    /// Two zero blocks: the proper end of the archive.
    End,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TarError {
    /// The stream ended without the two zero blocks.
    MissingTrailer {
        offset: u64,
    },
    /// The stream ended inside a header or a member's data.
    Truncated {
        offset: u64,
        what: String,
    },
    BadHeader {
        offset: u64,
        reason: String,
    },
    Discontinuity {
        offset: u64,
    },
}

fn parse_octal(field: &[u8]) -> Option<u64> {
    // Base-256 for large values (first byte has the high bit set).
    if let Some((&first, rest)) = field.split_first() {
        if first & 0x80 != 0 {
            let mut value: u64 = u64::from(first & 0x7f);
            for &byte in rest {
                value = value.checked_mul(256)?.checked_add(u64::from(byte))?;
            }
            return Some(value);
        }
    }
    let text: Vec<u8> = field
        .iter()
        .copied()
        .take_while(|&byte| byte != 0)
        .filter(|&byte| byte != b' ')
        .collect();
    if text.is_empty() {
        return Some(0);
    }
    let mut value: u64 = 0;
    for byte in text {
        if !(b'0'..=b'7').contains(&byte) {
            return None;
        }
        value = value.checked_mul(8)?.checked_add(u64::from(byte - b'0'))?;
    }
    Some(value)
}

fn c_string(field: &[u8]) -> String {
    let text = field.split(|&byte| byte == 0).next().unwrap_or_default();
    String::from_utf8_lossy(text).into_owned()
}

/// Checks a 512-byte header's checksum; returns (name, size, typeflag) when valid.
pub fn parse_header_block(block: &[u8]) -> Result<(String, u64, u8), String> {
    let block: &[u8; BLOCK] = block.try_into().map_err(|_| "short header")?;
    let stored = parse_octal(&block[148..156]).ok_or("checksum field is not octal")?;
    let computed: u64 = block
        .iter()
        .enumerate()
        .map(|(index, &byte)| {
            if (148..156).contains(&index) {
                32
            } else {
                u64::from(byte)
            }
        })
        .sum();
    if stored != computed {
        return Err(format!(
            "header checksum {stored} does not match computed {computed}"
        ));
    }
    let size = parse_octal(&block[124..136]).ok_or("size field is not octal")?;
    let typeflag = block[156];
    let mut name = c_string(&block[0..100]);
    if &block[257..262] == b"ustar" {
        let prefix = c_string(&block[345..500]);
        if !prefix.is_empty() {
            name = format!("{prefix}/{name}");
        }
    }
    Ok((name, size, typeflag))
}

/// UTF-8 text, validated by `str::from_utf8` (fast in debug builds too; the lossy
/// conversion only for the rare invalid value).
fn text_of(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_owned(),
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// PAX records: `LEN key=value\n`.
pub fn parse_pax_records(data: &[u8]) -> Result<Vec<(String, String)>, String> {
    let mut records = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        if rest.iter().all(|&byte| byte == 0) {
            break;
        }
        let space = rest
            .iter()
            .position(|&byte| byte == b' ')
            .ok_or("PAX record without length")?;
        let (length_text, _) = rest.split_at(space);
        let length: usize = std::str::from_utf8(length_text)
            .ok()
            .and_then(|text| text.parse().ok())
            .ok_or("PAX record length is not a number")?;
        if length <= space + 1 || length > rest.len() {
            return Err("PAX record length out of range".into());
        }
        let (record, next) = rest
            .split_at_checked(length)
            .ok_or("PAX record length out of range")?;
        let record = record
            .get(space + 1..)
            .unwrap_or_default()
            .strip_suffix(b"\n")
            .ok_or("PAX record not terminated by newline")?;
        let equals = record
            .iter()
            .position(|&byte| byte == b'=')
            .ok_or("PAX record without '='")?;
        let (key, value) = record.split_at(equals);
        let value = value.get(1..).unwrap_or_default();
        records.push((text_of(key), text_of(value)));
        rest = next;
    }
    Ok(records)
}

/// `size` rounded up to whole blocks; saturates for sizes near `u64::MAX`
/// (base-256 and PAX sizes can declare anything; skipping then hits the end).
fn padded(size: u64) -> u64 {
    size.div_ceil(BLOCK as u64).saturating_mul(BLOCK as u64)
}

/// Reads tar members from the decompressed stream.
pub struct TarReader {
    /// Data of the current member not yet consumed (including padding).
    remaining_padded: u64,
    /// The padding bytes after the last member read whole (bytes of a damaged
    /// member may continue in them).
    last_padding: Vec<u8>,
}

impl Default for TarReader {
    fn default() -> Self {
        Self::new()
    }
}

impl TarReader {
    pub fn new() -> Self {
        Self {
            remaining_padded: 0,
            last_padding: Vec::new(),
        }
    }

    fn stop_error(stop: StreamStop, offset: u64, what: &str) -> TarError {
        match stop {
            StreamStop::End => TarError::Truncated {
                offset,
                what: what.into(),
            },
            StreamStop::Discontinuity => TarError::Discontinuity { offset },
        }
    }

    /// Skips whatever is left of the current member.
    pub fn skip_rest<S: ChunkSource>(
        &mut self,
        stream: &mut DecodedStream<S>,
    ) -> Result<(), TarError> {
        let offset = stream.pos();
        let left = std::mem::take(&mut self.remaining_padded);
        stream
            .skip(left)
            .map_err(|(_, stop)| Self::stop_error(stop, offset, "member data"))
    }

    /// Reads the current member's data (`size` bytes) and its padding.
    pub fn read_data<S: ChunkSource>(
        &mut self,
        stream: &mut DecodedStream<S>,
        size: u64,
        out: &mut Vec<u8>,
    ) -> Result<(), TarError> {
        let offset = stream.pos();
        out.clear();
        if size > MAX_MEMBER_IN_MEMORY {
            return Err(TarError::BadHeader {
                offset,
                reason: format!("member of {size} bytes is too large to read"),
            });
        }
        // The declared size is not trusted for the allocation: grow as bytes arrive.
        out.reserve(size.min(MAX_UPFRONT_RESERVE) as usize);
        let mut left = size as usize;
        while left > 0 {
            if let Err(stop) = stream.fill(1) {
                self.remaining_padded = 0;
                return Err(Self::stop_error(stop, stream.pos(), "member data"));
            }
            let piece = stream.take_available(left);
            left -= piece.len();
            out.extend_from_slice(piece);
        }
        self.remaining_padded = 0;
        let padding = (padded(size).saturating_sub(size)) as usize;
        self.last_padding.clear();
        match stream.take(padding) {
            Ok(bytes) => {
                self.last_padding.extend_from_slice(bytes);
                Ok(())
            }
            Err(stop) => Err(Self::stop_error(stop, stream.pos(), "member data")),
        }
    }

    /// The padding bytes that followed the last member read by [`Self::read_data`].
    pub fn last_padding(&self) -> &[u8] {
        &self.last_padding
    }

    /// Reads the next member header, applying a preceding PAX `x` header.
    pub fn next<S: ChunkSource>(
        &mut self,
        stream: &mut DecodedStream<S>,
    ) -> Result<TarEvent, TarError> {
        self.skip_rest(stream)?;
        let mut pax_path: Option<String> = None;
        let mut pax_size: Option<u64> = None;
        let mut first_header_offset: Option<u64> = None;
        loop {
            let offset = stream.pos();
            let block = match stream.take(BLOCK) {
                Ok(block) => block.to_vec(),
                Err(stop) => {
                    if stop == StreamStop::End && stream.buffered().is_empty() {
                        return Err(TarError::MissingTrailer { offset });
                    }
                    return Err(Self::stop_error(stop, offset, "header"));
                }
            };
            if block.iter().all(|&byte| byte == 0) {
                // End of archive: a second zero block should follow.
                return match stream.take(BLOCK) {
                    Ok(second) if second.iter().all(|&byte| byte == 0) => Ok(TarEvent::End),
                    Ok(_) => Err(TarError::BadHeader {
                        offset,
                        reason: "a single zero block inside the archive".into(),
                    }),
                    Err(_) => Err(TarError::MissingTrailer { offset }),
                };
            }
            let (name, size, typeflag) = parse_header_block(&block)
                .map_err(|reason| TarError::BadHeader { offset, reason })?;
            first_header_offset.get_or_insert(offset);
            match typeflag {
                b'x' | b'g' => {
                    if size > 1 << 20 {
                        return Err(TarError::BadHeader {
                            offset,
                            reason: format!("PAX header of {size} bytes"),
                        });
                    }
                    let mut data = Vec::new();
                    self.read_data(stream, size, &mut data)?;
                    if typeflag == b'x' {
                        let records = parse_pax_records(&data)
                            .map_err(|reason| TarError::BadHeader { offset, reason })?;
                        for (key, value) in records {
                            match key.as_str() {
                                "path" if value.len() > MAX_PATH => {
                                    return Err(TarError::BadHeader {
                                        offset,
                                        reason: format!("PAX path of {} bytes, longer than any path a file system accepts ({MAX_PATH}, PATH_MAX): the server's restore fails creating it", value.len()),
                                    });
                                }
                                "path" => pax_path = Some(value),
                                "size" => pax_size = value.parse().ok(),
                                _ => {}
                            }
                        }
                    }
                }
                _ => {
                    let size = pax_size.unwrap_or(size);
                    self.remaining_padded = padded(size);
                    return Ok(TarEvent::Member(TarHeader {
                        name: pax_path.unwrap_or(name),
                        size,
                        typeflag,
                        header_offset: first_header_offset.unwrap_or(offset),
                        data_offset: stream.pos(),
                    }));
                }
            }
        }
    }

    /// After damage: finds the next header with a valid checksum, at any byte offset
    /// (bytes lost or inserted upstream move headers off the 512-byte grid), starting
    /// up to `look_back` bytes before the current position (a header can begin inside
    /// what was read as the previous member's data or padding).
    pub fn resync<S: ChunkSource>(
        &mut self,
        stream: &mut DecodedStream<S>,
        look_back: usize,
    ) -> Option<u64> {
        self.resync_collecting(stream, &mut Vec::new(), 0, look_back)
            .0
    }

    /// Like [`TarReader::resync`], keeping up to `max_keep` of the bytes searched in
    /// `kept` (from the look-back start: the rest of a damaged member, whose records
    /// can still be searched). Each byte is examined once: a cheap test (the `ustar`
    /// magic, or a 512-byte boundary) comes before the checksum. Returns the header's
    /// offset, if one was found, and the offset of `kept[0]`.
    pub fn resync_collecting<S: ChunkSource>(
        &mut self,
        stream: &mut DecodedStream<S>,
        kept: &mut Vec<u8>,
        max_keep: usize,
        look_back: usize,
    ) -> (Option<u64>, u64) {
        const WINDOW: usize = 1 << 16;
        self.remaining_padded = 0;
        stream.accept_discontinuity();
        stream.rewind(look_back);
        let searched_from = stream.pos();
        let mut keep = |bytes: &[u8]| {
            let room = max_keep.saturating_sub(kept.len());
            kept.extend_from_slice(bytes.get(..bytes.len().min(room)).unwrap_or_default());
        };
        loop {
            stream.accept_discontinuity();
            let stop = stream.fill(WINDOW).err();
            let base = stream.pos();
            let buffered = stream.buffered();
            if let Some(at) = find_header_from(buffered, base) {
                keep(buffered.get(..at).unwrap_or_default());
                // `at` lies inside the buffered bytes: the skip cannot fail.
                let _ = stream.skip(at as u64);
                return (Some(stream.pos()), searched_from);
            }
            if stop == Some(StreamStop::End) {
                keep(buffered);
                return (None, searched_from);
            }
            // A header may straddle the window edge; bytes before a discontinuity are
            // not contiguous with what follows, so all of them are searched already.
            let tail = if stop == Some(StreamStop::Discontinuity) {
                0
            } else {
                (BLOCK - 1).min(buffered.len())
            };
            let advance = buffered.len() - tail;
            keep(buffered.get(..advance).unwrap_or_default());
            if advance == 0 && stop.is_none() {
                return (None, searched_from);
            }
            // Within the buffered bytes: cannot fail.
            let _ = stream.skip(advance as u64);
        }
    }
}

/// A member whose header was found in bytes already read (inside the declared data
/// of another member that lost bytes upstream). Offsets are into those bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldMember {
    pub name: String,
    pub size: u64,
    pub typeflag: u8,
    /// Where its first header (the PAX one, when there is one) starts.
    pub header_at: usize,
    /// Where its data starts; the data may run past the bytes held.
    pub data_at: usize,
}

impl HeldMember {
    /// Where the next header is expected: after the data and its padding.
    pub fn next_header_at(&self) -> usize {
        usize::try_from(padded(self.size))
            .ok()
            .and_then(|len| self.data_at.checked_add(len))
            .unwrap_or(usize::MAX)
    }
}

/// The longest PAX data read for a held member: the server's own are a few dozen
/// bytes. Bounds the work crafted headers inside payloads can cause.
const HELD_PAX_MAX: usize = 16 << 10;

/// The next member header at or after `from` in held bytes, at any offset
/// (`base`: the decompressed offset of `bytes[0]`, for the 512-byte grid), with a
/// preceding PAX header applied. `candidates` is how many valid header blocks may
/// still be tried (each costs at most [`HELD_PAX_MAX`]): the search is linear in
/// the bytes searched, with a bounded extra for headers crafted into payloads.
pub fn held_member(
    bytes: &[u8],
    from: usize,
    base: u64,
    candidates: &mut usize,
) -> Option<HeldMember> {
    let mut at = from;
    loop {
        let header_at = at + find_header_from(bytes.get(at..)?, base + at as u64)?;
        *candidates = candidates.checked_sub(1)?;
        if let Some(member) = held_member_at(bytes, header_at) {
            return Some(member);
        }
        at = header_at + 1;
    }
}

/// The member whose (PAX or plain) header starts at `header_at`, if it reads whole.
fn held_member_at(bytes: &[u8], header_at: usize) -> Option<HeldMember> {
    let block = bytes.get(header_at..header_at + BLOCK)?;
    let (name, size, typeflag) = parse_header_block(block).ok()?;
    let data_at = header_at + BLOCK;
    if typeflag != b'x' {
        return Some(HeldMember {
            name,
            size,
            typeflag,
            header_at,
            data_at,
        });
    }
    // PAX: its records, then the member's own header.
    let pax_len = usize::try_from(size)
        .ok()
        .filter(|&len| len <= HELD_PAX_MAX)?;
    let records = parse_pax_records(bytes.get(data_at..data_at + pax_len)?).ok()?;
    let real_at = data_at + usize::try_from(padded(size)).ok()?;
    let (plain_name, plain_size, typeflag) =
        parse_header_block(bytes.get(real_at..real_at + BLOCK)?).ok()?;
    let mut member = HeldMember {
        name: plain_name,
        size: plain_size,
        typeflag,
        header_at,
        data_at: real_at + BLOCK,
    };
    for (key, value) in records {
        match key.as_str() {
            "path" if value.len() <= MAX_PATH => member.name = value,
            "size" => member.size = value.parse().ok()?,
            _ => {}
        }
    }
    Some(member)
}

/// The first offset in `buf` where a valid, non-zero tar header starts.
pub fn find_header(buf: &[u8]) -> Option<usize> {
    find_header_from(buf, 0)
}

/// [`find_header`] where `buf[0]` is at decompressed offset `base` (headers on the
/// 512-byte grid are tried without the `ustar` magic).
fn find_header_from(buf: &[u8], base: u64) -> Option<usize> {
    let last = buf.len().checked_sub(BLOCK)?;
    (0..=last).find(|&at| {
        let Some(block) = buf.get(at..at + BLOCK) else {
            return false;
        };
        let on_grid = (base + at as u64).is_multiple_of(BLOCK as u64);
        let ustar = block.get(257..262) == Some(&b"ustar"[..]);
        (on_grid || ustar)
            && !block.iter().all(|&byte| byte == 0)
            && parse_header_block(block).is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padded_saturates_for_huge_declared_sizes() {
        assert_eq!(padded(0), 0);
        assert_eq!(padded(1), 512);
        assert_eq!(padded(512), 512);
        assert_eq!(padded(u64::MAX), u64::MAX);
        assert_eq!(padded(u64::MAX - 511), u64::MAX - 511);
        assert_eq!(padded(u64::MAX - 510), u64::MAX);
    }
}
