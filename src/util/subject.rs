//! NATS subject wildcard matching (`*` one token, `>` one or more trailing tokens).
//! Pure: no allocation, no I/O.

/// Does `subject` match `filter`?
pub fn subject_matches(filter: &str, subject: &str) -> bool {
    let mut filter_tokens = filter.split('.');
    let mut subject_tokens = subject.split('.');
    loop {
        match (filter_tokens.next(), subject_tokens.next()) {
            (Some(">"), Some(_)) => return true,
            (Some("*"), Some(_)) => {}
            (Some(f), Some(s)) if f == s => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::subject_matches;

    #[test]
    fn wildcards() {
        assert!(subject_matches("orders.>", "orders.paid.eu"));
        assert!(!subject_matches("orders.>", "orders"));
        assert!(subject_matches("orders.*.eu", "orders.paid.eu"));
        assert!(!subject_matches("orders.*.eu", "orders.paid.us"));
        assert!(subject_matches("a.b", "a.b"));
        assert!(!subject_matches("a.b", "a.b.c"));
        assert!(subject_matches(">", "x"));
    }
}
