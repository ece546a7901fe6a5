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
        if next.distance == 0 {
            return false;
        }
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
        Some(next) => (
            boundary.timestamp_ns.min(next.timestamp_ns),
            boundary.timestamp_ns.max(next.timestamp_ns),
        ),
        None => (boundary.timestamp_ns, boundary.latest_ns),
    };
    let rest = bytes.get(used..).unwrap_or_default();
    if let Ok((zigzag, _)) = read_uvarint(rest) {
        let timestamp = crate::format::varint::zigzag_decode(zigzag);
        if (low..=high).contains(&timestamp) {
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
    // The sizes lost too: the name, then a header block.
    (used + 2..bytes.len().min(used + 41)).any(|at| {
        bytes.get(at..at + name_len).is_some_and(valid_subject)
            && bytes
                .get(at + name_len..)
                .is_some_and(|data| data.starts_with(b"NATS/1.0\r\n"))
            && ((at + name_len) as u64) < next.distance
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
        let mut out = Vec::new();
        write_uvarint(&mut out, name.len() as u64);
        write_uvarint(&mut out, zigzag_encode(timestamp_ns));
        write_uvarint(&mut out, sequence);
        write_uvarint(&mut out, 0);
        write_uvarint(&mut out, payload.len() as u64);
        out.extend_from_slice(name);
        out.extend_from_slice(payload);
        out
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
        })
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
    fn garbage_inserted_inside_the_message_breaks_it() {
        assert!(!judge(|bytes, end| {
            let garbage: Vec<u8> = (0..40u8).map(|byte| byte.wrapping_mul(97) ^ 0xc3).collect();
            bytes.splice(end - 10..end - 10, garbage);
        }));
    }
}
