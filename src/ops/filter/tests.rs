//! Parser tests: what parses to what, and where errors point.

use super::lang::parse;
use super::{Expr, Test};

fn span_of(text: &str) -> (String, std::ops::Range<usize>) {
    let error = parse(text).expect_err(text);
    (error.message, error.span)
}

#[test]
fn example_expression_parses_to_five_tests() {
    let expr = parse(
        r#"subject ~ "orders.*.eu" and size > 1k and header("Nats-Msg-Id") and payload contains "coupon" and ttl expired"#,
    )
    .unwrap();
    let Expr::All(parts) = expr else {
        panic!("not an and: {expr:?}");
    };
    assert_eq!(parts.len(), 5);
    assert!(matches!(
        &parts[1],
        Expr::Test(Test::Size(super::Cmp::Gt, 1024))
    ));
    assert!(matches!(&parts[4], Expr::Test(Test::TtlExpired)));
}

#[test]
fn precedence_and_binds_tighter_than_or() {
    let expr = parse(r#"seq > 1 or seq < 5 and not (kv purge or damaged)"#).unwrap();
    let Expr::Any(parts) = expr else {
        panic!("{expr:?}")
    };
    assert_eq!(parts.len(), 2);
    assert!(matches!(&parts[1], Expr::All(inner) if inner.len() == 2));
}

#[test]
fn size_suffixes_and_time_literals() {
    assert!(matches!(
        parse("size >= 2m").unwrap(),
        Expr::Test(Test::Size(super::Cmp::Ge, 2_097_152))
    ));
    assert!(matches!(
        parse(r#"time < "2026-11-27T14:19:11Z""#).unwrap(),
        Expr::Test(Test::Time(super::Cmp::Lt, _))
    ));
}

#[test]
fn errors_point_at_the_offending_token() {
    // Unknown test word.
    let text = r#"subject ~ "a" and sise > 1"#;
    let (message, span) = span_of(text);
    assert_eq!(&text[span.clone()], "sise", "{message}");
    // Bad operator after subject.
    let text = r#"subject > "a""#;
    let (_, span) = span_of(text);
    assert_eq!(&text[span], ">");
    // Bad time literal: the whole string token.
    let text = r#"seq > 3 and time > "yesterday""#;
    let (_, span) = span_of(text);
    assert_eq!(&text[span], r#""yesterday""#);
    // Unterminated string: from the quote to the end.
    let text = r#"payload contains "coup"#;
    let (message, span) = span_of(text);
    assert_eq!(&text[span], r#""coup"#);
    assert!(message.contains("unterminated"), "{message}");
    // Missing value at the end: an empty span at the end of the text.
    let text = "size >";
    let (_, span) = span_of(text);
    assert_eq!(span, text.len()..text.len());
    // Unbalanced parenthesis.
    let text = r#"(seq > 1 and seq < 4"#;
    let (_, span) = span_of(text);
    assert_eq!(span, text.len()..text.len());
    // Trailing garbage.
    let text = r#"damaged damaged"#;
    let (message, span) = span_of(text);
    assert_eq!(span, 8..15, "{message}");
    // Bad regex: the pattern string.
    let text = r#"payload matches "(""#;
    let (_, span) = span_of(text);
    assert_eq!(&text[span], r#""(""#);
    // Unexpected character (multi-byte, span covers it whole).
    let text = "seq > 1 and §";
    let (_, span) = span_of(text);
    assert_eq!(&text[span], "§");
    // A number too big.
    let text = "seq > 99999999999999999999";
    let (_, span) = span_of(text);
    assert_eq!(&text[span], "99999999999999999999");
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let text = format!("{}damaged{}", "(".repeat(10_000), ")".repeat(10_000));
    let error = parse(&text).expect_err("too deep");
    assert!(error.message.contains("nested"), "{}", error.message);
    let text = format!("{}damaged", "not ".repeat(10_000));
    assert!(parse(&text).is_err());
}

#[test]
fn damaged_means_either_trust_flag_and_suspect_only_suspect() {
    use crate::format::headers::flags;
    assert!(matches!(
        parse("damaged").unwrap(),
        Expr::Test(Test::AnyFlag(bits)) if bits == flags::UNTRUSTED
    ));
    assert!(matches!(
        parse("SUSPECT").unwrap(),
        Expr::Test(Test::Flag(bits)) if bits == flags::SUSPECT
    ));
    let (message, span) = span_of("suspicious");
    assert!(message.contains("suspect"), "{message}");
    assert_eq!(span, 0..10);
}
