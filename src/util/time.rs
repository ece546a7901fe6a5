//! RFC 3339 times with nanoseconds, as the server writes them.
//! No I/O; `now_ns` is the only clock read.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Parses RFC 3339 to Unix ns; Go's zero time (`0001-01-01T00:00:00Z`) gives 0.
pub fn parse_rfc3339_ns(text: &str) -> Option<i64> {
    if text.starts_with("0001-01-01T00:00:00") {
        return Some(0);
    }
    let parsed = OffsetDateTime::parse(text, &Rfc3339).ok()?;
    i64::try_from(parsed.unix_timestamp_nanos()).ok()
}

/// Formats Unix ns as RFC 3339 UTC with nanoseconds (0 → Go's zero time).
pub fn format_rfc3339_ns(ns: i64) -> String {
    if ns == 0 {
        return "0001-01-01T00:00:00Z".to_string();
    }
    match OffsetDateTime::from_unix_timestamp_nanos(i128::from(ns)) {
        Ok(moment) => moment.format(&Rfc3339).unwrap_or_else(|_| ns.to_string()),
        Err(_) => ns.to_string(),
    }
}

/// Current time in Unix ns.
pub fn now_ns() -> i64 {
    i64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let text = "2026-11-27T14:19:11.303954403Z";
        let ns = parse_rfc3339_ns(text);
        assert_eq!(ns.map(format_rfc3339_ns).as_deref(), Some(text));
        assert_eq!(parse_rfc3339_ns("0001-01-01T00:00:00Z"), Some(0));
    }
}
