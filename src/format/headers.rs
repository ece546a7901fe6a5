//! NATS header blocks (`NATS/1.0\r\nKey: Value\r\n\r\n`) and the `Nats-TTL` rule.
//!
//! Lookups that predict server behaviour follow the server: case-sensitive key,
//! matched at a line start and followed directly by `:`, first occurrence wins.
//!
//! Bytes in, values out: malformed lines are counted, never a panic; no I/O.

/// Parsed header block for display: the status line and every `key: value` line in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderBlock {
    pub status_line: String,
    pub entries: Vec<(String, String)>,
    /// Lines that are neither the status line nor `key: value`.
    pub malformed_lines: usize,
}

pub fn parse_header_block(block: &[u8]) -> HeaderBlock {
    let text = String::from_utf8_lossy(block);
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default().to_string();
    let mut header_block = HeaderBlock {
        status_line,
        ..HeaderBlock::default()
    };
    for line in lines {
        if line.is_empty() {
            continue;
        }
        match line.split_once(':') {
            Some((key, value)) => header_block
                .entries
                .push((key.to_string(), value.trim_start_matches(' ').to_string())),
            None => header_block.malformed_lines += 1,
        }
    }
    header_block
}

/// Number of `key: value` lines, counted without allocating.
pub fn count_headers(block: &[u8]) -> usize {
    let mut count = 0;
    let mut rest = block;
    // Skip the status line.
    match find(rest, b"\r\n") {
        Some(end) => rest = rest.get(end + 2..).unwrap_or_default(),
        None => return 0,
    }
    while let Some(end) = find(rest, b"\r\n") {
        let Some((line, tail)) = rest.split_at_checked(end) else {
            break;
        };
        if !line.is_empty() && line.contains(&b':') {
            count += 1;
        }
        rest = tail.get(2..).unwrap_or_default();
    }
    count
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// The server's header lookup: first `\r\n<key>:` (case-sensitive), spaces after
/// the colon skipped, the value up to the next `\r\n`.
pub fn server_header_value<'a>(block: &'a [u8], key: &str) -> Option<&'a [u8]> {
    let key = key.as_bytes();
    let mut search_from = 0;
    while search_from < block.len() {
        let rest = block.get(search_from..)?;
        let line_start = find(rest, b"\r\n")? + search_from + 2;
        let line = block.get(line_start..)?;
        if line.len() > key.len() && line.starts_with(key) && line.get(key.len()) == Some(&b':') {
            let mut value_start = key.len() + 1;
            while line.get(value_start) == Some(&b' ') {
                value_start += 1;
            }
            let value = line.get(value_start..)?;
            let value_end = find(value, b"\r\n").unwrap_or(value.len());
            return value.get(..value_end);
        }
        search_from = line_start;
    }
    None
}

/// The TTL of a message as the server reads it from `Nats-TTL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ttl {
    /// No header or an empty value.
    None,
    /// `never`: does not expire, and is exempt from `max_age`.
    Never,
    /// Expires `seconds` after the stored time.
    Seconds(i64),
    /// The server rejects it; a v2 restore aborts on it.
    Invalid,
}

impl Ttl {
    /// The JSON form: seconds, -1 for never, `None` when absent. Invalid maps to None.
    pub fn seconds_value(self) -> Option<i64> {
        match self {
            Ttl::None | Ttl::Invalid => None,
            Ttl::Never => Some(-1),
            Ttl::Seconds(seconds) => Some(seconds),
        }
    }

    /// Expired at `reference_ns` under the server's rule: TTL > 0 and reference > stored + TTL.
    pub fn is_expired(self, stored_ns: i64, reference_ns: i64) -> bool {
        match self {
            Ttl::Seconds(seconds) if seconds > 0 => {
                // Go multiplies the TTL into a Duration, which wraps on overflow; the time
                // addition itself does not.
                let duration_ns = seconds.wrapping_mul(1_000_000_000);
                i128::from(reference_ns) > i128::from(stored_ns) + i128::from(duration_ns)
            }
            _ => false,
        }
    }
}

/// TTL of a header block (`None` when there is no block or no `Nats-TTL`).
pub fn message_ttl(header_block: &[u8]) -> Ttl {
    match server_header_value(header_block, "Nats-TTL") {
        None | Some([]) => Ttl::None,
        Some(value) => match std::str::from_utf8(value) {
            Ok(text) => parse_ttl(text),
            Err(_) => Ttl::Invalid,
        },
    }
}

/// Parses a `Nats-TTL` value as the server does.
pub fn parse_ttl(text: &str) -> Ttl {
    if text.eq_ignore_ascii_case("never") {
        return Ttl::Never;
    }
    if let Some(duration_ns) = parse_go_duration(text) {
        if duration_ns < 1_000_000_000 {
            return Ttl::Invalid;
        }
        return Ttl::Seconds(duration_ns / 1_000_000_000);
    }
    // Only ASCII digits: that many seconds, wrapping like the server's parser.
    if text.is_empty() || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return Ttl::Invalid;
    }
    let mut seconds: i64 = 0;
    for byte in text.bytes() {
        seconds = seconds
            .wrapping_mul(10)
            .wrapping_add(i64::from(byte - b'0'));
    }
    if seconds < 0 {
        return Ttl::Invalid;
    }
    if seconds == 0 {
        return Ttl::None;
    }
    Ttl::Seconds(seconds)
}

/// Go's `time.ParseDuration`, returning nanoseconds, or `None` on error.
pub fn parse_go_duration(original: &str) -> Option<i64> {
    let mut text = original.as_bytes();
    let mut negative = false;
    if let Some((&first, rest)) = text.split_first() {
        if first == b'-' || first == b'+' {
            negative = first == b'-';
            text = rest;
        }
    }
    if text == b"0" {
        return Some(0);
    }
    if text.is_empty() {
        return None;
    }
    const LIMIT: u64 = 1 << 63;
    let mut total: u64 = 0;
    while let Some(&first) = text.first() {
        if !(first == b'.' || first.is_ascii_digit()) {
            return None;
        }
        // Integer part.
        let before = text.len();
        let mut whole: u64 = 0;
        while let Some((&digit, rest)) = text.split_first() {
            if !digit.is_ascii_digit() {
                break;
            }
            if whole > LIMIT / 10 {
                return None;
            }
            whole = whole * 10 + u64::from(digit - b'0');
            if whole > LIMIT {
                return None;
            }
            text = rest;
        }
        let had_whole = text.len() != before;
        // Fraction part.
        let mut fraction: u64 = 0;
        let mut scale: f64 = 1.0;
        let mut had_fraction = false;
        if let Some((b'.', rest)) = text.split_first() {
            text = rest;
            let before_fraction = text.len();
            let mut overflow = false;
            while let Some((&digit, rest)) = text.split_first() {
                if !digit.is_ascii_digit() {
                    break;
                }
                if !overflow {
                    if fraction > (LIMIT - 1) / 10 {
                        overflow = true;
                    } else {
                        let next = fraction * 10 + u64::from(digit - b'0');
                        if next > LIMIT {
                            overflow = true;
                        } else {
                            fraction = next;
                            scale *= 10.0;
                        }
                    }
                }
                text = rest;
            }
            had_fraction = text.len() != before_fraction;
        }
        if !had_whole && !had_fraction {
            return None;
        }
        // Unit.
        let unit_len = text
            .iter()
            .position(|&byte| byte == b'.' || byte.is_ascii_digit())
            .unwrap_or(text.len());
        if unit_len == 0 {
            return None;
        }
        let (unit_text, rest) = text.split_at_checked(unit_len)?;
        let unit: u64 = match unit_text {
            b"ns" => 1,
            b"us" | [0xc2, 0xb5, b's'] | [0xce, 0xbc, b's'] => 1_000,
            b"ms" => 1_000_000,
            b"s" => 1_000_000_000,
            b"m" => 60_000_000_000,
            b"h" => 3_600_000_000_000,
            _ => return None,
        };
        text = rest;
        if whole > LIMIT / unit {
            return None;
        }
        whole *= unit;
        if fraction > 0 {
            whole += (fraction as f64 * (unit as f64 / scale)) as u64;
            if whole > LIMIT {
                return None;
            }
        }
        total = total.checked_add(whole)?;
        if total > LIMIT {
            return None;
        }
    }
    if negative {
        return Some((total as i128).wrapping_neg() as i64);
    }
    if total > LIMIT - 1 {
        return None;
    }
    Some(total as i64)
}

/// Flags an inspector shows for a message, derived from its headers, plus the
/// two trust flags the scan sets.
pub mod flags {
    pub const HAS_TTL: u16 = 1;
    pub const TTL_INVALID: u16 = 2;
    pub const KV_DELETE: u16 = 4;
    pub const KV_PURGE: u16 = 8;
    pub const ROLLUP: u16 = 16;
    pub const MSG_ID: u16 = 32;
    pub const DELETE_MARKER: u16 = 64;
    /// The bytes of this message are present but failed a check (v2: an entry
    /// header or header block that contradicts itself).
    pub const DAMAGED: u16 = 128;
    /// Nothing contradicts the bytes, but nothing proves them either: a v2 entry in
    /// an S2 chunk that failed its CRC, or next to corrupt bytes (no per-message checksum).
    pub const SUSPECT: u16 = 256;
    /// Either trust flag: not a proven copy of what the server stored.
    pub const UNTRUSTED: u16 = DAMAGED | SUSPECT;
}

/// Header-derived flags and TTL, computed once per message during a scan.
pub fn classify(header_block: &[u8]) -> (u16, Ttl) {
    if header_block.is_empty() {
        return (0, Ttl::None);
    }
    let mut message_flags = 0u16;
    let ttl = message_ttl(header_block);
    match ttl {
        Ttl::Seconds(_) | Ttl::Never => message_flags |= flags::HAS_TTL,
        Ttl::Invalid => message_flags |= flags::HAS_TTL | flags::TTL_INVALID,
        Ttl::None => {}
    }
    if let Some(operation) = server_header_value(header_block, "KV-Operation") {
        if operation == b"DEL" {
            message_flags |= flags::KV_DELETE;
        } else if operation == b"PURGE" {
            message_flags |= flags::KV_PURGE;
        }
    }
    if server_header_value(header_block, "Nats-Rollup").is_some() {
        message_flags |= flags::ROLLUP;
    }
    if server_header_value(header_block, "Nats-Msg-Id").is_some() {
        message_flags |= flags::MSG_ID;
    }
    if server_header_value(header_block, "Nats-Marker-Reason").is_some_and(|v| !v.is_empty()) {
        message_flags |= flags::DELETE_MARKER;
    }
    (message_flags, ttl)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_values_like_the_server() {
        assert_eq!(parse_ttl("never"), Ttl::Never);
        assert_eq!(parse_ttl("NEVER"), Ttl::Never);
        assert_eq!(parse_ttl("60"), Ttl::Seconds(60));
        assert_eq!(parse_ttl("1.9s"), Ttl::Seconds(1));
        assert_eq!(parse_ttl("15m0s"), Ttl::Seconds(900));
        assert_eq!(parse_ttl("1h30m"), Ttl::Seconds(5400));
        assert_eq!(parse_ttl("24h"), Ttl::Seconds(86400));
        assert_eq!(parse_ttl("0"), Ttl::Invalid);
        assert_eq!(parse_ttl("00"), Ttl::None);
        assert_eq!(parse_ttl("500ms"), Ttl::Invalid);
        assert_eq!(parse_ttl("-5s"), Ttl::Invalid);
        assert_eq!(parse_ttl("5 s"), Ttl::Invalid);
        assert_eq!(parse_ttl("abc"), Ttl::Invalid);
        assert_eq!(parse_ttl("2µs"), Ttl::Invalid);
    }

    #[test]
    fn header_lookup_is_case_sensitive_first_wins() {
        let block = b"NATS/1.0\r\nnats-ttl: 5\r\nNats-TTL:  7\r\nNats-TTL: 9\r\n\r\n";
        assert_eq!(server_header_value(block, "Nats-TTL"), Some(&b"7"[..]));
        assert_eq!(message_ttl(block), Ttl::Seconds(7));
        assert_eq!(count_headers(block), 3);
        let parsed = parse_header_block(block);
        assert_eq!(parsed.status_line, "NATS/1.0");
        assert_eq!(parsed.entries.len(), 3);
    }

    // Values as Go's time.ParseDuration gives them.
    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("1.5h"), Some(5_400_000_000_000));
        assert_eq!(parse_go_duration("-1.5m"), Some(-90_000_000_000));
        assert_eq!(parse_go_duration("+.5s"), Some(500_000_000));
        assert_eq!(parse_go_duration("1.s"), Some(1_000_000_000));
        assert_eq!(
            parse_go_duration("1h2m3s4ms5us6ns"),
            Some(3_723_004_005_006)
        );
        assert_eq!(parse_go_duration("1µs"), Some(1_000));
        assert_eq!(parse_go_duration("-9223372036854775808ns"), Some(i64::MIN));
        assert_eq!(parse_go_duration("9223372036854775808ns"), None);
        for bad in ["", ".", "-", "3", "1x", "s", ".s", "1.5", "1h-2m"] {
            assert_eq!(parse_go_duration(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn expiry_rule() {
        let ttl = Ttl::Seconds(2);
        assert!(!ttl.is_expired(0, 2_000_000_000));
        assert!(ttl.is_expired(0, 2_000_000_001));
        assert!(!Ttl::Never.is_expired(0, i64::MAX));
    }
}
