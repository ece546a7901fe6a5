//! Whether the end of a v2 message entry is a real entry boundary when the bytes
//! after it do not read as an entry: the damage then lies after the message, and
//! the message is kept. Decided from the bytes there and the entry a resync found.

use super::valid_subject;
use crate::format::varint::read_uvarint;

/// Bytes from where a message entry said it ends, kept when the entry there could
/// not be read: they tell whether that end is a real entry boundary.
pub const BOUNDARY_VIEW: usize = 64 + 4096 + 16;

/// The entry a resync found after bad bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FoundEntry {
    /// Bytes from the end of the last message read to this entry's header.
    pub distance: u64,
    pub sequence: u64,
    pub timestamp_ns: i64,
}

/// A message entry followed by bytes that do not read as an entry.
#[derive(Debug, Clone, Copy)]
pub struct Boundary<'a> {
    /// Up to [`BOUNDARY_VIEW`] bytes from where the message said it ends.
    pub bytes: &'a [u8],
    pub sequence: u64,
    pub timestamp_ns: i64,
    /// The next entry a resync found, if any.
    pub next: Option<FoundEntry>,
    /// The latest timestamp a message of the archive can have (when nothing follows).
    pub latest_ns: i64,
    /// Up to [`TAIL_VIEW`] of the message's own last data bytes (header block and
    /// payload), ending where it said it ends.
    pub tail: &'a [u8],
    /// Subjects of the messages read just before it: a name that lost its start
    /// is recognised by its end.
    pub recent_subjects: &'a [&'a [u8]],
}

/// Bytes of a message's data kept to test whether it swallowed the next entry's start.
pub const TAIL_VIEW: usize = 4096;

impl Boundary<'_> {
    /// The times between which the entries after the message were written.
    fn times_up_to(&self, next: FoundEntry) -> (i64, i64) {
        (
            self.timestamp_ns.min(next.timestamp_ns),
            self.timestamp_ns.max(next.timestamp_ns),
        )
    }

    /// The message's last byte is a varint continuation byte (no text ends in one).
    fn ends_in_continuation(&self) -> bool {
        self.tail.last().is_some_and(|&byte| byte >= 0x80)
    }
}

/// How many of the first `max` bytes are varint continuation bytes (≥ 0x80).
fn continuation_run(bytes: &[u8], max: usize) -> usize {
    bytes
        .iter()
        .take(max)
        .take_while(|&&byte| byte >= 0x80)
        .count()
}

/// Is the end of the message a real entry boundary, so that the damage lies after
/// it? True when the bytes there start an entry header that was damaged later on:
/// its name length and timestamp read back (the timestamp between the message's
/// and the next entry's), or its sequence, sizes and name read back a little further
/// on and end exactly where the next entry starts (bytes lost inside the timestamp),
/// or its name is followed by a `NATS/1.0` header block. False when the next entry
/// starts before that end (the message ran into it: bytes were lost inside it).
/// Bytes shifted into place from the middle of an entry (bytes lost inside the
/// message) do not read as a name length followed by a timestamp in range.
pub fn boundary_holds(boundary: &Boundary) -> bool {
    if let Some(next) = boundary.next {
        // Bytes lost inside the message pulled the next entry's start into it.
        if next.distance == 0 || tail_holds_an_entry_start(boundary, next) {
            return false;
        }
    }
    if lost_inside_next_entry(boundary) {
        return true;
    }
    let bytes = boundary.bytes;
    let Ok((name_len, used)) = read_uvarint(bytes) else {
        return false;
    };
    if name_len == 0 || name_len > 4096 {
        return false;
    }
    let name_len = name_len as usize;
    let (low, high) = match boundary.next {
        Some(next) => boundary.times_up_to(next),
        None => (boundary.timestamp_ns, boundary.latest_ns),
    };
    let rest = bytes.get(used..).unwrap_or_default();
    if let Ok((zigzag, width)) = read_uvarint(rest) {
        let timestamp = crate::format::varint::zigzag_decode(zigzag);
        // Both fields lie before the entry found: after it, they are its own.
        let before_next = boundary
            .next
            .is_none_or(|next| ((used + width) as u64) <= next.distance);
        if before_next && (low..=high).contains(&timestamp) {
            return true;
        }
    }
    let Some(next) = boundary.next else {
        return false;
    };
    let tail = |at: usize| entry_tail_ends_at(bytes, at, name_len, next.distance);
    // Bytes lost inside the timestamp: the sequence (between the two) and what
    // follows still line up. Anywhere in view, as the sequence pins it down.
    let sequence_lines_up = (used + 1..bytes.len()).any(|at| {
        read_uvarint(bytes.get(at..).unwrap_or_default()).is_ok_and(|(sequence, width)| {
            sequence > boundary.sequence && sequence < next.sequence && tail(at + width)
        })
    });
    if sequence_lines_up {
        return true;
    }
    // Bytes lost inside the timestamp and the sequence: the sizes and the name
    // that follow them still line up, a few bytes on.
    if (used + 1..bytes.len().min(used + 21)).any(tail) {
        return true;
    }
    // The sizes lost too: the name, then a header block. Unless the bytes read as
    // an entry that lost only its first fields (a header size can equal a name's
    // length): bytes lost across the message's end leave that behind.
    // Nor when the message ends in a varint continuation byte (no text does), or
    // the name found is the end of a longer one (a short name length matches the
    // last bytes of the real name).
    if reads_as_entry_remainder(bytes, next.distance) || boundary.ends_in_continuation() {
        return false;
    }
    (used + 2..bytes.len().min(used + 41)).any(|at| {
        bytes.get(at..at + name_len).is_some_and(valid_subject)
            && bytes
                .get(at - 1)
                .is_some_and(|&byte| !(0x21..0x7f).contains(&byte))
            && bytes
                .get(at + name_len..)
                .is_some_and(|data| data.starts_with(b"NATS/1.0\r\n"))
            && ((at + name_len) as u64) < next.distance
    })
}

/// Bytes lost from the start of the next entry, which has not been read back,
/// judged from what survives of it: its sequence with the sizes and a name that end
/// exactly at the entry found after it, or the end of a recent subject behind the
/// remains of its name length and timestamp. Never when the message's own last
/// bytes can be the next entry's start (bytes lost inside the message shift the
/// next entry's first bytes into it): those read back as a whole entry, or end in
/// a varint continuation byte, which no JSON or ASCII text does.
fn lost_inside_next_entry(boundary: &Boundary) -> bool {
    let Some(next) = boundary.next else {
        return false;
    };
    // Something is missing between them, or the bytes are not a lost entry start.
    if next.sequence < boundary.sequence.saturating_add(2)
        || tail_holds_an_entry_start(boundary, next)
    {
        return false;
    }
    // A last byte that is a varint continuation byte may be the next entry's
    // timestamp pulled into the message (no text ends in one; binary data does,
    // every other message). Only the timestamp rule, whose chance fit is bounded
    // whatever precedes it, is used then.
    if !boundary.ends_in_continuation()
        && (sequence_survives(boundary, next)
            || subject_end_survives(boundary)
            || name_length_survives(boundary, next))
    {
        return true;
    }
    timestamp_start_survives(boundary, next, 4096)
}

/// Bytes lost from just after the next entry's first timestamp byte(s) through its
/// whole header: only its name length and a few continuation bytes remain. Taken
/// as such only when the name length is a control byte (under 32, not a tab or
/// line break: text never holds one before a non-ASCII byte) equal to a recent
/// subject's length, the bytes' low bits fit a time between the two messages, and
/// the bytes do not read as the rest of an entry that lost its first fields (what
/// bytes lost across the message's end leave behind). And only where payloads are
/// text: what follows, up to the entry found, reads as text. In binary payloads
/// such a pair of bytes is common (about 1 in 50 boundaries), so it says nothing.
fn name_length_survives(boundary: &Boundary, next: FoundEntry) -> bool {
    let Some(&name_len) = boundary.bytes.first() else {
        return false;
    };
    let continuation = continuation_run(boundary.bytes.get(1..).unwrap_or_default(), usize::MAX);
    let name_len = usize::from(name_len);
    (1..32).contains(&name_len)
        && ![9, 10, 13].contains(&name_len)
        && remainder_is_text(boundary.bytes, 1 + continuation, next.distance)
        && boundary
            .recent_subjects
            .iter()
            .any(|subject| subject.len() == name_len)
        && timestamp_start_survives(boundary, next, 0)
        && !reads_as_entry_remainder(boundary.bytes, next.distance)
}

/// Least text, after the first bytes, that says the payloads around are text.
const TEXT_EVIDENCE: usize = 16;

/// Do the bytes from `from` (plus up to 4 that may be the rest of a header field)
/// to `distance` read as text — printable UTF-8, tabs and line breaks — and are
/// there at least [`TEXT_EVIDENCE`] of them in view?
fn remainder_is_text(bytes: &[u8], from: usize, distance: u64) -> bool {
    let end = usize::try_from(distance).map_or(bytes.len(), |distance| distance.min(bytes.len()));
    let Some(text) = bytes.get(from + 4..end) else {
        return false;
    };
    // The view can end inside a multi-byte character.
    let valid = match std::str::from_utf8(text) {
        Ok(text) => text,
        Err(error) if error.error_len().is_none() => text
            .get(..error.valid_up_to())
            .and_then(|valid| std::str::from_utf8(valid).ok())
            .unwrap_or_default(),
        Err(_) => return false,
    };
    valid.len() >= TEXT_EVIDENCE
        && valid
            .chars()
            .all(|char| !char.is_control() || matches!(char, '\t' | '\n' | '\r'))
}

/// Do the bytes, from one of their first three, read as an entry's last fields
/// (header size and payload size, after the sequence and the timestamp or not),
/// then a subject and data that end exactly `distance` bytes in?
fn reads_as_entry_remainder(bytes: &[u8], distance: u64) -> bool {
    (0..3).any(|start| {
        (2..=4).any(|fields| {
            let mut at = start;
            let mut values = [0u64; 4];
            for value in values.iter_mut().take(fields) {
                let Ok((read, used)) = read_uvarint(bytes.get(at..).unwrap_or_default()) else {
                    return false;
                };
                *value = read;
                at += used;
            }
            let (Some(&header_size), Some(&payload_size)) =
                (values.get(fields - 2), values.get(fields - 1))
            else {
                return false;
            };
            name_and_data_end_at(bytes, at, header_size, payload_size, distance)
        })
    })
}

/// From `name_at`: a subject, then a header block (`NATS/1.0`, when `header_size`
/// is not 0) and data of the sizes given, ending exactly `distance` bytes in (the
/// name's length is what that leaves).
fn name_and_data_end_at(
    bytes: &[u8],
    name_at: usize,
    header_size: u64,
    payload_size: u64,
    distance: u64,
) -> bool {
    let Some(name_len) = distance
        .checked_sub(name_at as u64)
        .and_then(|left| left.checked_sub(header_size))
        .and_then(|left| left.checked_sub(payload_size))
        .filter(|&len| (1..=4096).contains(&len))
    else {
        return false;
    };
    let data_at = name_at + name_len as usize;
    let header_ok = header_size == 0
        || (header_size >= 12
            && bytes
                .get(data_at..)
                .is_some_and(|data| data.starts_with(b"NATS/1.0")));
    header_ok && bytes.get(name_at..data_at).is_some_and(valid_subject)
}

/// Bytes lost from inside the next entry's timestamp on: its name length, then the
/// timestamp's first continuation bytes, whose low bits match a time between the
/// two messages around it. Alone, used only when that match says much: when at
/// most one in `odds` runs of such bytes would match by chance (0: any match).
fn timestamp_start_survives(boundary: &Boundary, next: FoundEntry, odds: i128) -> bool {
    // What is left of that entry lies before the entry found: the bytes there are
    // that entry's own (its timestamp's low bits always match).
    let end = usize::try_from(next.distance).unwrap_or(usize::MAX);
    let bytes = boundary.bytes.get(..end).unwrap_or(boundary.bytes);
    let Ok((name_len, used)) = read_uvarint(bytes) else {
        return false;
    };
    if !(1..=4096).contains(&name_len) {
        return false;
    }
    let rest = bytes.get(used..).unwrap_or_default();
    let run = rest.get(..continuation_run(rest, 8)).unwrap_or_default();
    let mut low_bits = 0u64;
    let mut width = 0u32;
    for &byte in run {
        low_bits |= u64::from(byte & 0x7f) << width;
        width += 7;
    }
    // A timestamp after 1970 is even in ZigZag: 2·t; its low bits fix t modulo half.
    if width == 0 || !low_bits.is_multiple_of(2) {
        return false;
    }
    let modulus = 1i128 << (width - 1);
    let (low, high) = boundary.times_up_to(next);
    let (low, high) = (i128::from(low), i128::from(high));
    if low < 0 || (high - low + 1) * odds > modulus {
        return false;
    }
    let wanted = i128::from(low_bits / 2);
    let first = low + (wanted - low).rem_euclid(modulus);
    first <= high
}

/// Does some end of the message's data, put in front of the bytes after it, read as
/// a whole entry header between the two around it, ending at the entry found? Work
/// is a few dozen bytes per tail byte: linear in the message's size.
fn tail_holds_an_entry_start(boundary: &Boundary, next: FoundEntry) -> bool {
    const FIELDS: usize = 50;
    let tail = boundary.tail;
    let (low, high) = boundary.times_up_to(next);
    let mut joined = Vec::with_capacity(FIELDS);
    (1..=tail.len()).any(|back| {
        let from = tail.get(tail.len() - back..).unwrap_or_default();
        let head = if back >= FIELDS {
            from
        } else {
            joined.clear();
            joined.extend_from_slice(from);
            let more = boundary
                .bytes
                .get(..FIELDS - back)
                .unwrap_or(boundary.bytes);
            joined.extend_from_slice(more);
            &joined
        };
        let Some([name_len, zigzag, sequence, header_size, payload_size, used]) =
            entry_fields(head)
        else {
            return false;
        };
        let timestamp = crate::format::varint::zigzag_decode(zigzag);
        let length = used
            .saturating_add(name_len)
            .saturating_add(header_size)
            .saturating_add(payload_size);
        (1..=4096).contains(&name_len)
            && (low..=high).contains(&timestamp)
            && sequence > boundary.sequence
            && sequence < next.sequence
            && length == next.distance.saturating_add(back as u64)
    })
}

/// The five varints that start an entry, and the bytes they take.
fn entry_fields(bytes: &[u8]) -> Option<[u64; 6]> {
    let mut fields = [0u64; 6];
    let mut at = 0usize;
    for field in fields.iter_mut().take(5) {
        let (value, used) = read_uvarint(bytes.get(at..)?).ok()?;
        *field = value;
        at += used;
    }
    fields[5] = at as u64;
    Some(fields)
}

/// The bytes before `at` can be the end of a timestamp varint (continuation bytes,
/// then one below 0x80), after at most the name length.
fn timestamp_end_before(bytes: &[u8], at: usize) -> bool {
    let Some(prefix) = bytes.get(..at).filter(|prefix| !prefix.is_empty()) else {
        return false;
    };
    let last = prefix.len() - 1;
    prefix.get(last).is_some_and(|&byte| byte < 0x80)
        && prefix
            .get(1..last)
            .unwrap_or_default()
            .iter()
            .all(|&byte| byte >= 0x80)
}

/// Bytes lost from the next entry's start up to its sequence: the end of its
/// timestamp, then a sequence between the two, sizes and a subject that end exactly
/// at the entry found (the name's length follows from that end).
fn sequence_survives(boundary: &Boundary, next: FoundEntry) -> bool {
    let bytes = boundary.bytes;
    (1..bytes.len().min(11)).any(|at| {
        if !timestamp_end_before(bytes, at) {
            return false;
        }
        let rest = bytes.get(at..).unwrap_or_default();
        let Ok((sequence, first)) = read_uvarint(rest) else {
            return false;
        };
        if sequence <= boundary.sequence || sequence >= next.sequence {
            return false;
        }
        let rest = rest.get(first..).unwrap_or_default();
        let Ok((header_size, second)) = read_uvarint(rest) else {
            return false;
        };
        let Ok((payload_size, third)) = read_uvarint(rest.get(second..).unwrap_or_default()) else {
            return false;
        };
        let name_at = at + first + second + third;
        name_and_data_end_at(bytes, name_at, header_size, payload_size, next.distance)
    })
}

/// Bytes lost from the next entry's timestamp into its name: its name length, the
/// first timestamp byte(s) (continuation bytes), then the end of a recent subject
/// of that length. Contiguous entry bytes never put a name's text right after a
/// continuation byte (a varint's last byte comes between), so this is the mark of
/// bytes cut out of the middle.
fn subject_end_survives(boundary: &Boundary) -> bool {
    let bytes = boundary.bytes;
    let Ok((name_len, used)) = read_uvarint(bytes) else {
        return false;
    };
    let Ok(name_len) = usize::try_from(name_len) else {
        return false;
    };
    let continuation = continuation_run(bytes.get(used..).unwrap_or_default(), 9);
    if continuation == 0 {
        return false;
    }
    let fragment = bytes.get(used + continuation..).unwrap_or_default();
    boundary
        .recent_subjects
        .iter()
        .filter(|subject| subject.len() == name_len)
        .any(|subject| {
            (name_len.min(3)..=name_len).any(|kept| {
                subject
                    .get(name_len - kept..)
                    .is_some_and(|end| fragment.starts_with(end))
            })
        })
}

/// At `at`: header size, payload size and a name of `name_len` bytes that is a
/// subject, whose data ends exactly at `distance` (a header block starts with
/// `NATS/1.0`).
fn entry_tail_ends_at(bytes: &[u8], at: usize, name_len: usize, distance: u64) -> bool {
    let Some(rest) = bytes.get(at..) else {
        return false;
    };
    let Ok((header_size, first)) = read_uvarint(rest) else {
        return false;
    };
    let Ok((payload_size, second)) = read_uvarint(rest.get(first..).unwrap_or_default()) else {
        return false;
    };
    let name_at = at + first + second;
    let data_at = name_at + name_len;
    let Some(name) = bytes.get(name_at..data_at) else {
        return false;
    };
    let ends_at = (data_at as u64)
        .checked_add(header_size)
        .and_then(|end| end.checked_add(payload_size));
    let header_ok = header_size == 0
        || (header_size >= 12
            && bytes
                .get(data_at..)
                .is_some_and(|data| data.starts_with(b"NATS/1.0")));
    ends_at == Some(distance) && header_ok && valid_subject(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::varint::{write_uvarint, zigzag_encode};

    fn entry(name: &[u8], timestamp_ns: i64, sequence: u64, payload: &[u8]) -> Vec<u8> {
        entry_with_header(name, timestamp_ns, sequence, b"", payload)
    }

    fn entry_with_header(
        name: &[u8],
        timestamp_ns: i64,
        sequence: u64,
        header: &[u8],
        payload: &[u8],
    ) -> Vec<u8> {
        let mut out = Vec::new();
        write_uvarint(&mut out, name.len() as u64);
        write_uvarint(&mut out, zigzag_encode(timestamp_ns));
        write_uvarint(&mut out, sequence);
        write_uvarint(&mut out, header.len() as u64);
        write_uvarint(&mut out, payload.len() as u64);
        out.extend_from_slice(name);
        out.extend_from_slice(header);
        out.extend_from_slice(payload);
        out
    }

    /// Three entries (sequences 1–3, 1 µs apart) with `lost` (offsets from the end
    /// of the first) deleted: is the first one's end judged a real boundary, the
    /// third being where a resync lands?
    fn judge_lost(
        entries: [Vec<u8>; 3],
        lost: std::ops::Range<usize>,
        recent_subjects: &[&[u8]],
    ) -> bool {
        let end = entries[0].len();
        let third_len = entries[2].len();
        let mut bytes = entries.concat();
        bytes.drain(end - lost.start..end + lost.end);
        let third_at = bytes.len() - third_len;
        boundary_holds(&Boundary {
            bytes: &bytes[end..],
            sequence: 1,
            timestamp_ns: T,
            next: Some(FoundEntry {
                distance: (third_at - end) as u64,
                sequence: 3,
                timestamp_ns: T + 2_000,
            }),
            latest_ns: i64::MAX,
            tail: &bytes[end.saturating_sub(TAIL_VIEW)..end],
            recent_subjects,
        })
    }

    const T: i64 = 1_764_000_000_000_000_000;

    /// Message 1 ends where entry 2 starts; entry 3 follows. `edit` damages the
    /// bytes from message 1's payload on; the boundary is judged at message 1's end.
    fn judge(edit: impl Fn(&mut Vec<u8>, usize)) -> bool {
        let payload = br#"{"order_id":"ORD-000001","note":"xxxxxxxxxxxxxxxx"}"#;
        let first = entry(b"dm.orders.1", T, 1, payload);
        let second = entry(b"dm.orders.2", T + 1_000, 2, payload);
        let third = entry(b"dm.orders.3", T + 2_000, 3, payload);
        let mut bytes = [first.clone(), second.clone(), third].concat();
        edit(&mut bytes, first.len());
        let end = first.len();
        // The third entry is where a resync lands.
        let third_at = bytes
            .windows(11)
            .position(|window| window == b"dm.orders.3")
            .map(|name_at| name_at - 13)
            .unwrap_or(0);
        let view = bytes.get(end..).unwrap_or_default();
        boundary_holds(&Boundary {
            bytes: view.get(..BOUNDARY_VIEW).unwrap_or(view),
            sequence: 1,
            timestamp_ns: T,
            next: Some(FoundEntry {
                distance: (third_at as u64).saturating_sub(end as u64),
                sequence: 3,
                timestamp_ns: T + 2_000,
            }),
            latest_ns: i64::MAX,
            tail: bytes
                .get(end.saturating_sub(TAIL_VIEW)..end)
                .unwrap_or_default(),
            recent_subjects: &[b"dm.orders.1", b"dm.orders.2"],
        })
    }

    /// Seeded binary bytes (xorshift64*).
    fn noise(len: usize, mut state: u64) -> Vec<u8> {
        (0..len)
            .map(|_| {
                state ^= state >> 12;
                state ^= state << 25;
                state ^= state >> 27;
                (state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
            })
            .collect()
    }

    /// Found with binary payloads (the damage matrix's mixed shape): bytes lost
    /// inside a message put its end in a later payload, at a control byte equal to a
    /// subject's length and a byte ≥ 0x80 — a pair about 1 in 50 places of binary
    /// data hold. Taken as the name length and timestamp of an entry that lost the
    /// rest of its header, it kept the message with other bytes.
    #[test]
    fn bytes_lost_inside_a_binary_message_break_it_before_a_name_length_pattern() {
        let first = entry(b"dm.orders.1", T, 1, &noise(600, 1));
        let mut payload = noise(3000, 2);
        let at = 1000;
        payload[at - 1] = b'A';
        payload[at] = 11;
        payload[at + 1] = 0x86;
        payload[at + 2] = 0x05;
        let second = entry(b"dm.orders.2", T + 1_000, 2, &payload);
        let third = entry(b"dm.orders.3", T + 2_000, 3, b"{}");
        let end = first.len();
        let payload_at = end + second.len() - payload.len();
        let lost_from = end - 400;
        let lost = payload_at + at - end;
        let mut bytes = [first, second, third].concat();
        bytes.drain(lost_from..lost_from + lost);
        let view = &bytes[end..];
        assert_eq!(&view[..2], &[11, 0x86]);
        assert!(!boundary_holds(&Boundary {
            bytes: view.get(..BOUNDARY_VIEW).unwrap_or(view),
            sequence: 1,
            timestamp_ns: T,
            next: Some(FoundEntry {
                distance: (payload.len() - at) as u64,
                sequence: 3,
                timestamp_ns: T + 2_000,
            }),
            latest_ns: i64::MAX,
            tail: &bytes[end.saturating_sub(TAIL_VIEW)..end],
            recent_subjects: &[b"dm.orders.1", b"dm.orders.2"],
        }));
    }

    /// Found with the tiny shape (payloads of a few binary bytes): a binary
    /// message ends in a byte ≥ 0x80 every other time, and was then always left
    /// out. The next entry's name length and first four timestamp bytes survive:
    /// their low bits fit between the neighbours at odds under 1 in 4,096.
    #[test]
    fn bytes_lost_inside_the_next_timestamp_keep_a_binary_message_ending_high() {
        let mut payload = noise(40, 3);
        payload[39] = 0x9c;
        let first = entry(b"dm.1", T, 1, &payload);
        let second = entry(b"dm.2", T + 1_000, 2, b"12345");
        let third = entry(b"dm.3", T + 2_000, 3, b"x");
        let end = first.len();
        let kept_of_second = 5;
        let mut bytes = [first, second.clone(), third].concat();
        bytes.drain(end + kept_of_second..end + second.len());
        let view = &bytes[end..];
        assert!(boundary_holds(&Boundary {
            bytes: view,
            sequence: 1,
            timestamp_ns: T,
            next: Some(FoundEntry {
                distance: kept_of_second as u64,
                sequence: 3,
                timestamp_ns: T + 2_000,
            }),
            latest_ns: i64::MAX,
            tail: &bytes[end - payload.len()..end],
            recent_subjects: &[b"dm.1", b"dm.2"],
        }));
    }

    #[test]
    fn bytes_lost_after_a_name_length_and_timestamp_keep_the_boundary() {
        // Two bytes of the second entry's name deleted.
        assert!(judge(|bytes, end| {
            bytes.drain(end + 16..end + 18);
        }));
    }

    #[test]
    fn bytes_lost_inside_the_timestamp_keep_the_boundary() {
        assert!(judge(|bytes, end| {
            bytes.drain(end + 2..end + 4);
        }));
    }

    #[test]
    fn bytes_lost_across_the_end_of_the_message_break_it() {
        // The message's last 3 bytes and the next entry's first 2.
        assert!(!judge(|bytes, end| {
            bytes.drain(end - 3..end + 2);
        }));
    }

    #[test]
    fn bytes_lost_from_the_very_start_of_the_next_entry_keep_the_boundary() {
        // Its name length and most of its timestamp: the sequence and sizes remain.
        assert!(judge(|bytes, end| {
            bytes.drain(end..end + 9);
        }));
    }

    #[test]
    fn bytes_lost_from_the_timestamp_into_the_payload_keep_the_boundary() {
        // The name length and five timestamp bytes remain; their low bits are a time
        // between the two messages around it.
        assert!(judge(|bytes, end| {
            bytes.drain(end + 6..end + 40);
        }));
    }

    #[test]
    fn bytes_lost_from_the_timestamp_into_the_name_keep_the_boundary() {
        // The name's last five bytes remain behind two timestamp bytes.
        assert!(judge(|bytes, end| {
            bytes.drain(end + 3..end + 21);
        }));
    }

    #[test]
    fn bytes_lost_from_the_second_byte_through_the_header_keep_the_boundary() {
        // Only the name length and one timestamp byte remain, then the payload.
        assert!(judge(|bytes, end| {
            bytes.drain(end + 2..end + 40);
        }));
    }

    #[test]
    fn bytes_lost_across_the_end_of_the_message_break_it_wherever_they_end() {
        for (inside, after) in [(1, 2), (1, 10), (2, 14), (1, 16), (3, 20), (1, 40), (5, 60)] {
            assert!(
                !judge(|bytes, end| {
                    bytes.drain(end - inside..end + after);
                }),
                "{inside} bytes of the message and {after} after it lost"
            );
        }
    }

    /// Bytes lost across the message's end up to the next entry's header size,
    /// where that size equals the subject's length and a long payload follows: what
    /// remains looks like a name length and a timestamp byte, but reads as an
    /// entry's last fields, so the message stays suspect.
    #[test]
    fn bytes_lost_across_the_end_up_to_a_header_size_break_it() {
        let header = b"NATS/1.0\r\nA: 12345678\r\n\r\n";
        assert_eq!(header.len(), 25);
        let payload = [b'x'; 200];
        let second_name = b"dm.orders.2xxxxxxxxxxxxxx";
        let entries = [
            entry_with_header(b"dm.orders.1", T, 1, header, &payload),
            entry_with_header(second_name, T + 1_000, 2, header, &payload),
            entry_with_header(b"dm.orders.3", T + 2_000, 3, header, &payload),
        ];
        // The message's last byte, and the next entry up to its header size.
        assert!(!judge_lost(entries, 1..10, &[b"dm.orders.1", second_name]));
    }

    /// Damage matrix, seed 241: the message's last 3 bytes and the next entry up to
    /// its payload size's last byte lost. That byte (1) read as a name length, and
    /// the real name's last character, before `NATS/1.0`, as a name of that length.
    #[test]
    fn bytes_lost_across_the_end_up_to_a_size_byte_break_it() {
        let header = b"NATS/1.0\r\nNats-Msg-Id: m-1\r\n\r\n";
        let payload = [b'x'; 153];
        let entries = [
            entry_with_header(b"dm.audit.11", T, 1, header, &payload),
            entry_with_header(b"dm.orders.12", T + 1_000, 2, header, &payload),
            entry_with_header(b"dm.users.13", T + 2_000, 3, header, &payload),
        ];
        // name length, 9 timestamp bytes, sequence, header size, then the payload
        // size's two bytes (0x99 0x01): lost up to its last byte.
        assert_eq!(&entries[1][12..14], &[0x99, 0x01]);
        assert!(!judge_lost(
            entries,
            3..10,
            &[b"dm.audit.11", b"dm.users.10"]
        ));
    }

    #[test]
    fn bytes_lost_inside_the_message_break_it_however_many() {
        // The message then ends with the next entry's first bytes.
        for lost in [1, 2, 9, 10, 11, 20, 40] {
            assert!(
                !judge(|bytes, end| {
                    bytes.drain(end - 30..end - 30 + lost);
                }),
                "{lost} bytes lost inside the message"
            );
        }
    }

    #[test]
    fn garbage_inserted_inside_the_message_breaks_it() {
        assert!(!judge(|bytes, end| {
            let garbage: Vec<u8> = (0..40u8).map(|byte| byte.wrapping_mul(97) ^ 0xc3).collect();
            bytes.splice(end - 10..end - 10, garbage);
        }));
    }
}
