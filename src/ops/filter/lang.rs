//! The filter language: `subject ~ "orders.*.eu" and size > 1k and header("Nats-Msg-Id")
//! and payload contains "coupon" and ttl expired`. Parsed into the same [`Expr`] the
//! filter fields build, so both run on one engine. Errors carry the byte span of the
//! offending token, for display under the expression.
//!
//! Grammar (keywords case-insensitive):
//! ```text
//! expr    := and ("or" and)*
//! and     := unary ("and" unary)*
//! unary   := "not" unary | "(" expr ")" | test
//! test    := "subject" ("~" | "!~" | "=" | "!=") STRING
//!          | ("seq" | "size" | "time") CMP VALUE        -- size: 1k, 2m, 1g (×1024); time: "RFC 3339"
//!          | "header" "(" STRING ")" [("=" | "!=") STRING]
//!          | "payload" ("contains" | "matches" | "~") STRING
//!          | "ttl" "expired" | "expired"
//!          | "kv" ("delete" | "del" | "purge") | "damaged" | "suspect"
//! CMP     := "<" | "<=" | "=" | "==" | "!=" | ">=" | ">"
//! ```

use super::engine::{Cmp, Expr, Test};
use std::ops::Range;

/// What is wrong with an expression, and where (byte offsets into the text).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (at {}..{})", span.start, span.end)]
pub struct ParseError {
    pub message: String,
    pub span: Range<usize>,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Str(String),
    Number(u64),
    Op(&'static str),
    LParen,
    RParen,
}

impl Token {
    fn describe(&self) -> String {
        match self {
            Token::Word(word) => format!("'{word}'"),
            Token::Str(text) => format!("the string {text:?}"),
            Token::Number(value) => format!("the number {value}"),
            Token::Op(op) => format!("'{op}'"),
            Token::LParen => "'('".into(),
            Token::RParen => "')'".into(),
        }
    }
}

struct Spanned {
    token: Token,
    span: Range<usize>,
}

fn error(message: impl Into<String>, span: Range<usize>) -> ParseError {
    ParseError {
        message: message.into(),
        span,
    }
}

const OPERATORS: [&str; 9] = ["<=", ">=", "==", "!=", "!~", "<", ">", "=", "~"];

fn lex(text: &str) -> Result<Vec<Spanned>, ParseError> {
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        if c == '(' || c == ')' {
            chars.next();
            let token = if c == '(' {
                Token::LParen
            } else {
                Token::RParen
            };
            tokens.push(Spanned {
                token,
                span: start..start + 1,
            });
            continue;
        }
        if c == '"' {
            chars.next();
            let mut value = String::new();
            let mut end = None;
            while let Some((index, c)) = chars.next() {
                match c {
                    '"' => {
                        end = Some(index + 1);
                        break;
                    }
                    '\\' => match chars.next() {
                        Some((_, 'n')) => value.push('\n'),
                        Some((_, 't')) => value.push('\t'),
                        Some((_, 'r')) => value.push('\r'),
                        Some((_, escaped)) => value.push(escaped),
                        None => break,
                    },
                    other => value.push(other),
                }
            }
            let Some(end) = end else {
                return Err(error("unterminated string", start..text.len()));
            };
            tokens.push(Spanned {
                token: Token::Str(value),
                span: start..end,
            });
            continue;
        }
        if let Some(op) = OPERATORS
            .iter()
            .find(|op| text.get(start..).is_some_and(|rest| rest.starts_with(**op)))
        {
            for _ in 0..op.len() {
                chars.next();
            }
            tokens.push(Spanned {
                token: Token::Op(op),
                span: start..start + op.len(),
            });
            continue;
        }
        if c.is_alphanumeric() || c == '_' || c == '-' || c == '.' {
            let mut end = start;
            while let Some(&(index, c)) = chars.peek() {
                if c.is_alphanumeric() || c == '_' || c == '-' || c == '.' {
                    end = index + c.len_utf8();
                    chars.next();
                } else {
                    break;
                }
            }
            let word = text.get(start..end).unwrap_or_default();
            tokens.push(Spanned {
                token: number(word, start..end)?,
                span: start..end,
            });
            continue;
        }
        return Err(error(
            format!("unexpected character {c:?}"),
            start..start + c.len_utf8(),
        ));
    }
    Ok(tokens)
}

/// A word starting with a digit is a number: `1000`, `1_000`, `1k`, `2M`, `1g` (×1024).
fn number(word: &str, span: Range<usize>) -> Result<Token, ParseError> {
    if !word.starts_with(|c: char| c.is_ascii_digit()) {
        return Ok(Token::Word(word.to_string()));
    }
    let digits: String = word.chars().filter(|c| *c != '_').collect();
    let (digits, multiplier) = match digits.char_indices().last() {
        Some((index, 'k' | 'K')) => (digits.get(..index).unwrap_or_default(), 1u64 << 10),
        Some((index, 'm' | 'M')) => (digits.get(..index).unwrap_or_default(), 1 << 20),
        Some((index, 'g' | 'G')) => (digits.get(..index).unwrap_or_default(), 1 << 30),
        _ => (digits.as_str(), 1),
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|value| value.checked_mul(multiplier))
        .map(Token::Number)
        .ok_or_else(|| error(format!("'{word}' is not a number"), span))
}

/// A size as typed in a field: `1500`, `1k`, `2M` (×1024).
pub fn parse_size(text: &str) -> Option<u64> {
    match number(text.trim(), 0..0) {
        Ok(Token::Number(value)) => Some(value),
        _ => None,
    }
}

struct Parser<'a> {
    tokens: Vec<Spanned>,
    position: usize,
    text: &'a str,
    /// Nesting depth, bounded so a hostile expression cannot overflow the stack.
    depth: usize,
}

const MAX_DEPTH: usize = 64;

/// Parses an expression. Empty text is an error (the caller decides whether
/// an empty field means "no filter").
pub fn parse(text: &str) -> Result<Expr, ParseError> {
    let mut parser = Parser {
        tokens: lex(text)?,
        position: 0,
        text,
        depth: 0,
    };
    if parser.tokens.is_empty() {
        return Err(error("empty expression", 0..text.len()));
    }
    let expr = parser.or()?;
    if let Some(extra) = parser.tokens.get(parser.position) {
        return Err(error(
            format!(
                "expected 'and', 'or' or the end, found {}",
                extra.token.describe()
            ),
            extra.span.clone(),
        ));
    }
    Ok(expr)
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Spanned> {
        self.tokens.get(self.position)
    }

    fn end_span(&self) -> Range<usize> {
        self.text.len()..self.text.len()
    }

    fn next(&mut self, wanted: &str) -> Result<Spanned, ParseError> {
        let Some(token) = self.tokens.get(self.position) else {
            return Err(error(
                format!("expected {wanted}, found the end"),
                self.end_span(),
            ));
        };
        self.position += 1;
        Ok(Spanned {
            token: token.token.clone(),
            span: token.span.clone(),
        })
    }

    fn keyword_is(&self, keyword: &str) -> bool {
        matches!(self.peek(), Some(Spanned { token: Token::Word(word), .. }) if word.eq_ignore_ascii_case(keyword))
    }

    fn or(&mut self) -> Result<Expr, ParseError> {
        let mut parts = vec![self.and()?];
        while self.keyword_is("or") {
            self.position += 1;
            parts.push(self.and()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Expr::Any(parts)
        })
    }

    fn and(&mut self) -> Result<Expr, ParseError> {
        let mut parts = vec![self.unary()?];
        while self.keyword_is("and") {
            self.position += 1;
            parts.push(self.unary()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Expr::All(parts)
        })
    }

    fn unary(&mut self) -> Result<Expr, ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            let span = self
                .peek()
                .map(|t| t.span.clone())
                .unwrap_or(self.end_span());
            return Err(error("expression nested too deeply", span));
        }
        let result = self.unary_inner();
        self.depth -= 1;
        result
    }

    fn unary_inner(&mut self) -> Result<Expr, ParseError> {
        if self.keyword_is("not") {
            self.position += 1;
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        if matches!(
            self.peek(),
            Some(Spanned {
                token: Token::LParen,
                ..
            })
        ) {
            let open = self.next("'('")?;
            let inner = self.or()?;
            let close = self.next("')'")?;
            if close.token != Token::RParen {
                return Err(error(
                    format!(
                        "expected ')' to close the '(' at {}, found {}",
                        open.span.start,
                        close.token.describe()
                    ),
                    close.span,
                ));
            }
            return Ok(inner);
        }
        self.test()
    }

    fn string(&mut self, what: &str) -> Result<(String, Range<usize>), ParseError> {
        let token = self.next(what)?;
        match token.token {
            Token::Str(text) => Ok((text, token.span)),
            other => Err(error(
                format!("expected {what}, found {}", other.describe()),
                token.span,
            )),
        }
    }

    fn operator(&mut self, allowed: &[&str]) -> Result<(&'static str, Range<usize>), ParseError> {
        let wanted = allowed
            .iter()
            .map(|op| format!("'{op}'"))
            .collect::<Vec<_>>()
            .join(", ");
        let token = self.next(&format!("one of {wanted}"))?;
        match token.token {
            Token::Op(op) if allowed.contains(&op) => Ok((op, token.span)),
            other => Err(error(
                format!("expected one of {wanted}, found {}", other.describe()),
                token.span,
            )),
        }
    }

    fn word(&mut self, what: &str) -> Result<(String, Range<usize>), ParseError> {
        let token = self.next(what)?;
        match token.token {
            Token::Word(word) => Ok((word.to_ascii_lowercase(), token.span)),
            other => Err(error(
                format!("expected {what}, found {}", other.describe()),
                token.span,
            )),
        }
    }

    fn test(&mut self) -> Result<Expr, ParseError> {
        let (name, span) = self.word(
            "a test (subject, seq, time, size, header, payload, ttl, kv, damaged, suspect, not, '(')",
        )?;
        let test = match name.as_str() {
            "subject" => {
                let (op, _) = self.operator(&["~", "!~", "=", "==", "!="])?;
                let (pattern, pattern_span) = self.string("a subject in quotes")?;
                if pattern.is_empty() {
                    return Err(error("empty subject", pattern_span));
                }
                let test = if op.contains('~') {
                    Test::Subject(vec![pattern])
                } else {
                    Test::SubjectEquals(pattern)
                };
                let expr = Expr::Test(test);
                return Ok(if op.starts_with('!') {
                    Expr::Not(Box::new(expr))
                } else {
                    expr
                });
            }
            "seq" | "size" | "time" => self.comparison(&name)?,
            "header" => return self.header(),
            "payload" => {
                let (how, how_span) = match self.peek() {
                    Some(Spanned {
                        token: Token::Op("~"),
                        ..
                    }) => {
                        let token = self.next("'~'")?;
                        ("matches".to_string(), token.span)
                    }
                    _ => self.word("'contains' or 'matches'")?,
                };
                let (value, value_span) = self.string("a payload text in quotes")?;
                match how.as_str() {
                    "contains" => Test::PayloadContains(value.into_bytes()),
                    "matches" => {
                        let regex = regex::bytes::Regex::new(&value).map_err(|regex_error| {
                            error(format!("bad regex: {regex_error}"), value_span)
                        })?;
                        Test::PayloadRegex(regex)
                    }
                    _ => {
                        return Err(error(
                            format!("expected 'contains' or 'matches', found '{how}'"),
                            how_span,
                        ))
                    }
                }
            }
            "ttl" => {
                let (word, word_span) = self.word("'expired'")?;
                if word != "expired" {
                    return Err(error(
                        format!("expected 'expired' after 'ttl', found '{word}'"),
                        word_span,
                    ));
                }
                Test::TtlExpired
            }
            "expired" => Test::TtlExpired,
            "kv" => {
                let (word, word_span) = self.word("'delete' or 'purge'")?;
                match word.as_str() {
                    "delete" | "del" => Test::Flag(crate::format::headers::flags::KV_DELETE),
                    "purge" => Test::Flag(crate::format::headers::flags::KV_PURGE),
                    _ => {
                        return Err(error(
                            format!("expected 'delete' or 'purge' after 'kv', found '{word}'"),
                            word_span,
                        ))
                    }
                }
            }
            // Either trust flag, as the `--damaged` field (not proven intact);
            // `suspect` alone, and `damaged and not suspect` for contradicted bytes.
            "damaged" => Test::AnyFlag(crate::format::headers::flags::UNTRUSTED),
            "suspect" => Test::Flag(crate::format::headers::flags::SUSPECT),
            _ => {
                return Err(error(
                    format!("unknown test '{name}' (subject, seq, time, size, header, payload, ttl expired, kv delete, kv purge, damaged, suspect)"),
                    span,
                ))
            }
        };
        Ok(Expr::Test(test))
    }

    fn comparison(&mut self, field: &str) -> Result<Test, ParseError> {
        let (op, _) = self.operator(&["<", "<=", "=", "==", "!=", ">=", ">"])?;
        let cmp = match op {
            "<" => Cmp::Lt,
            "<=" => Cmp::Le,
            "=" | "==" => Cmp::Eq,
            "!=" => Cmp::Ne,
            ">=" => Cmp::Ge,
            _ => Cmp::Gt,
        };
        let token = self.next("a value")?;
        match (field, token.token) {
            ("seq", Token::Number(value)) => Ok(Test::Seq(cmp, value)),
            ("size", Token::Number(value)) => Ok(Test::Size(cmp, value)),
            ("time", Token::Str(text)) => crate::util::time::parse_rfc3339_ns(&text)
                .map(|ns| Test::Time(cmp, ns))
                .ok_or_else(|| {
                    error(
                        format!("{text:?} is not an RFC 3339 time (2026-11-27T14:19:11Z)"),
                        token.span,
                    )
                }),
            ("time", other) => Err(error(
                format!(
                    "expected a time in quotes (\"2026-11-27T14:19:11Z\"), found {}",
                    other.describe()
                ),
                token.span,
            )),
            (_, other) => Err(error(
                format!("expected a number for {field}, found {}", other.describe()),
                token.span,
            )),
        }
    }

    fn header(&mut self) -> Result<Expr, ParseError> {
        let open = self.next("'('")?;
        if open.token != Token::LParen {
            return Err(error(
                format!("expected '(' after header, found {}", open.token.describe()),
                open.span,
            ));
        }
        let (name, name_span) = self.string("a header name in quotes")?;
        if name.trim().is_empty() {
            return Err(error("empty header name", name_span));
        }
        let close = self.next("')'")?;
        if close.token != Token::RParen {
            return Err(error(
                format!("expected ')', found {}", close.token.describe()),
                close.span,
            ));
        }
        let op = match self.peek() {
            Some(Spanned {
                token: Token::Op(op @ ("=" | "==" | "!=")),
                ..
            }) => *op,
            _ => return Ok(Expr::Test(Test::HeaderPresent(name))),
        };
        self.position += 1;
        let (value, _) = self.string("a header value in quotes")?;
        let expr = Expr::Test(Test::HeaderEquals(name, value));
        Ok(if op == "!=" {
            Expr::Not(Box::new(expr))
        } else {
            expr
        })
    }
}
