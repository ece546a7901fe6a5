//! The one message filter, used by the Messages pane, `export`, `jsbackup messages`
//! and `bench`. Three ways in, one engine:
//! - [`FilterSpec`]: the pane's text fields as typed (parsed here, never in the UI);
//! - [`MessageFilter`]: typed fields (the CLI's flags, the export options);
//! - a `where` expression in the filter language ([`lang`]).
//!
//! All compile to clauses of one [`engine::Expr`] tree bound to a backup ([`Compiled`]).

pub mod display;
pub mod engine;
pub mod lang;
pub mod saved;

pub use display::{all_rows_with_gaps, run, run_streaming, DisplayList, DisplayRow};
pub use engine::{Cmp, Compiled, Expr, Matcher, Reason, Test};
pub use lang::{parse, ParseError};

use crate::format::headers::flags;
use crate::model::Backup;
use std::ops::Range;

/// What is wrong with a filter: which field, and for the expression the byte span
/// of the offending token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", field.map(|field| format!("{field}: ")).unwrap_or_default())]
pub struct FilterError {
    /// The field (`"where"` for the expression), if the error is about one.
    pub field: Option<&'static str>,
    pub message: String,
    /// For `where`: byte offsets into the expression text.
    pub span: Option<Range<usize>>,
}

impl FilterError {
    fn field(field: &'static str, message: impl Into<String>) -> Self {
        FilterError {
            field: Some(field),
            message: message.into(),
            span: None,
        }
    }
    pub fn cancelled() -> Self {
        FilterError {
            field: None,
            message: "cancelled".into(),
            span: None,
        }
    }
    pub fn other(message: impl Into<String>) -> Self {
        FilterError {
            field: None,
            message: message.into(),
            span: None,
        }
    }
}

impl From<ParseError> for FilterError {
    fn from(error: ParseError) -> Self {
        FilterError {
            field: Some("where"),
            message: error.message,
            span: Some(error.span),
        }
    }
}

/// A `KV-Operation` header value the index flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KvOp {
    Delete,
    Purge,
}

impl KvOp {
    fn flag(self) -> u16 {
        match self {
            KvOp::Delete => flags::KV_DELETE,
            KvOp::Purge => flags::KV_PURGE,
        }
    }
}

/// A header test: present, or with this value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderTest {
    pub name: String,
    pub value: Option<String>,
}

impl HeaderTest {
    /// `NAME` or `NAME<separator>VALUE` (the CLI uses `=`, the pane `:`).
    pub fn parse(text: &str, separator: char) -> Option<Self> {
        let text = text.trim();
        if text.is_empty() {
            return None;
        }
        Some(match text.split_once(separator) {
            Some((name, value)) => HeaderTest {
                name: name.trim().to_string(),
                value: Some(value.trim().to_string()),
            },
            None => HeaderTest {
                name: text.to_string(),
                value: None,
            },
        })
    }
}

/// The filter as typed values. Every set field must hold (and the expression too).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageFilter {
    /// Keep subjects matching one of these wildcards (empty: all).
    pub subjects: Vec<String>,
    pub exclude_subjects: Vec<String>,
    pub from_seq: Option<u64>,
    pub to_seq: Option<u64>,
    /// Unix ns, inclusive.
    pub since_ns: Option<i64>,
    /// Unix ns, inclusive.
    pub until_ns: Option<i64>,
    /// Header block plus payload bytes, inclusive bounds.
    pub min_size: Option<u64>,
    pub max_size: Option<u64>,
    /// All must hold.
    pub headers: Vec<HeaderTest>,
    pub payload_contains: Option<String>,
    pub payload_regex: Option<String>,
    /// `Some(true)`: only messages whose TTL has run out at the reference time;
    /// `Some(false)`: only those whose TTL has not.
    pub expired: Option<bool>,
    /// Only messages carrying one of these KV operations (empty: any).
    pub kv_ops: Vec<KvOp>,
    /// Only messages not proven intact: damaged (failing a check) or suspect
    /// (v2 bytes in a CRC-failed chunk or next to corrupt bytes).
    pub damaged: bool,
    /// A filter-language expression.
    pub expression: Option<String>,
}

impl MessageFilter {
    pub fn is_empty(&self) -> bool {
        *self == MessageFilter::default()
    }

    /// The clauses in the order the export counts its drop reasons.
    pub fn clauses(&self) -> Result<Vec<(Reason, Expr)>, FilterError> {
        let mut clauses = Vec::new();
        let mut seq = Vec::new();
        if let Some(from) = self.from_seq {
            seq.push(Expr::Test(Test::Seq(Cmp::Ge, from)));
        }
        if let Some(to) = self.to_seq {
            seq.push(Expr::Test(Test::Seq(Cmp::Le, to)));
        }
        if !seq.is_empty() {
            clauses.push((Reason::SequenceRange, Expr::All(seq)));
        }
        let mut time = Vec::new();
        if let Some(since) = self.since_ns {
            time.push(Expr::Test(Test::Time(Cmp::Ge, since)));
        }
        if let Some(until) = self.until_ns {
            time.push(Expr::Test(Test::Time(Cmp::Le, until)));
        }
        if !time.is_empty() {
            clauses.push((Reason::TimeRange, Expr::All(time)));
        }
        if !self.subjects.is_empty() {
            clauses.push((
                Reason::SubjectNotIncluded,
                Expr::Test(Test::Subject(self.subjects.clone())),
            ));
        }
        if !self.exclude_subjects.is_empty() {
            clauses.push((
                Reason::SubjectExcluded,
                Expr::Not(Box::new(Expr::Test(Test::Subject(
                    self.exclude_subjects.clone(),
                )))),
            ));
        }
        match self.expired {
            Some(true) => clauses.push((Reason::Expired, Expr::Test(Test::TtlExpired))),
            Some(false) => clauses.push((
                Reason::Expired,
                Expr::Not(Box::new(Expr::Test(Test::TtlExpired))),
            )),
            None => {}
        }
        let mut fields = Vec::new();
        if let Some(min) = self.min_size {
            fields.push(Expr::Test(Test::Size(Cmp::Ge, min)));
        }
        if let Some(max) = self.max_size {
            fields.push(Expr::Test(Test::Size(Cmp::Le, max)));
        }
        if !self.kv_ops.is_empty() {
            fields.push(Expr::Any(
                self.kv_ops
                    .iter()
                    .map(|op| Expr::Test(Test::Flag(op.flag())))
                    .collect(),
            ));
        }
        if self.damaged {
            fields.push(Expr::Test(Test::AnyFlag(flags::UNTRUSTED)));
        }
        for header in &self.headers {
            if header.name.trim().is_empty() {
                return Err(FilterError::field("header", "empty header name"));
            }
            fields.push(Expr::Test(match &header.value {
                None => Test::HeaderPresent(header.name.clone()),
                Some(value) => Test::HeaderEquals(header.name.clone(), value.clone()),
            }));
        }
        if let Some(needle) = self.payload_contains.as_ref().filter(|s| !s.is_empty()) {
            fields.push(Expr::Test(Test::PayloadContains(
                needle.as_bytes().to_vec(),
            )));
        }
        if let Some(pattern) = self.payload_regex.as_ref().filter(|s| !s.is_empty()) {
            let regex = regex::bytes::Regex::new(pattern)
                .map_err(|error| FilterError::field("payload regex", error.to_string()))?;
            fields.push(Expr::Test(Test::PayloadRegex(regex)));
        }
        if !fields.is_empty() {
            clauses.push((Reason::Fields, Expr::All(fields)));
        }
        if let Some(text) = self.expression.as_ref().filter(|s| !s.trim().is_empty()) {
            clauses.push((Reason::Expression, parse(text)?));
        }
        Ok(clauses)
    }

    /// Binds the filter to a backup; `reference_ns` is the time TTL expiry is judged at.
    pub fn compile(&self, backup: &Backup, reference_ns: i64) -> Result<Compiled, FilterError> {
        Ok(Compiled::new(backup, &self.clauses()?, reference_ns))
    }

    /// Does the result depend on the reference time?
    pub fn needs_reference(&self) -> bool {
        self.expired.is_some()
            || self
                .expression
                .as_ref()
                .is_some_and(|text| text.to_ascii_lowercase().contains("expired"))
    }
}

/// What the user typed in the Messages pane's filter row (plain text, turned
/// into a [`MessageFilter`] on the worker).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilterSpec {
    /// Subject wildcards, separated by commas or spaces; any may match.
    pub subject_include: String,
    /// Subject wildcards to leave out.
    pub subject_exclude: String,
    pub seq_from: String,
    pub seq_to: String,
    /// RFC 3339 bounds (inclusive).
    pub time_from: String,
    pub time_to: String,
    /// Size bounds (header block + payload), `1500`, `1k`, `2m`.
    pub size_min: String,
    pub size_max: String,
    /// `Name` (present) or `Name:value` (equal, value trimmed).
    pub header: String,
    pub payload: String,
    pub payload_regex: bool,
    pub only_expired: bool,
    pub kv_delete: bool,
    pub kv_purge: bool,
    pub only_damaged: bool,
    /// A filter-language expression, combined with the fields by `and`.
    pub expression: String,
}

/// Wildcards separated by commas or spaces.
pub fn wildcard_list(text: &str) -> Vec<String> {
    text.split([',', ' '])
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(str::to_string)
        .collect()
}

/// A sequence number as typed (`1,000` allowed); empty is `None`.
pub fn parse_seq_text(text: &str, field: &'static str) -> Result<Option<u64>, FilterError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Ok(None);
    }
    trimmed
        .replace([',', '_'], "")
        .parse()
        .map(Some)
        .map_err(|_| FilterError::field(field, format!("'{trimmed}' is not a sequence number")))
}

/// A size as typed (`1500`, `1k`, `2m`); empty is `None`.
pub fn parse_size_text(text: &str, field: &'static str) -> Result<Option<u64>, FilterError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Ok(None);
    }
    lang::parse_size(trimmed).map(Some).ok_or_else(|| {
        FilterError::field(field, format!("'{trimmed}' is not a size (1500, 1k, 2m)"))
    })
}

/// An RFC 3339 time as typed; empty is `None`.
pub fn parse_time_text(text: &str, field: &'static str) -> Result<Option<i64>, FilterError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Ok(None);
    }
    crate::util::time::parse_rfc3339_ns(trimmed)
        .map(Some)
        .ok_or_else(|| FilterError::field(field, format!("'{trimmed}' is not an RFC 3339 time")))
}

impl FilterSpec {
    /// Nothing to filter on: the table shows every row plus deleted gaps.
    pub fn is_empty(&self) -> bool {
        [
            &self.subject_include,
            &self.subject_exclude,
            &self.seq_from,
            &self.seq_to,
            &self.time_from,
            &self.time_to,
            &self.size_min,
            &self.size_max,
            &self.header,
            &self.expression,
        ]
        .iter()
        .all(|text| text.trim().is_empty())
            && self.payload.is_empty()
            && !self.only_expired
            && !self.kv_delete
            && !self.kv_purge
            && !self.only_damaged
    }

    /// Does the result depend on the TTL reference time?
    pub fn needs_reference(&self) -> bool {
        self.only_expired || self.expression.to_ascii_lowercase().contains("expired")
    }

    /// The typed filter, or what is wrong with a field.
    pub fn to_filter(&self) -> Result<MessageFilter, FilterError> {
        let mut kv_ops = Vec::new();
        if self.kv_delete {
            kv_ops.push(KvOp::Delete);
        }
        if self.kv_purge {
            kv_ops.push(KvOp::Purge);
        }
        let payload = Some(self.payload.clone()).filter(|text| !text.is_empty());
        Ok(MessageFilter {
            subjects: wildcard_list(&self.subject_include),
            exclude_subjects: wildcard_list(&self.subject_exclude),
            from_seq: parse_seq_text(&self.seq_from, "seq from")?,
            to_seq: parse_seq_text(&self.seq_to, "seq to")?,
            since_ns: parse_time_text(&self.time_from, "time from")?,
            until_ns: parse_time_text(&self.time_to, "time to")?,
            min_size: parse_size_text(&self.size_min, "size from")?,
            max_size: parse_size_text(&self.size_max, "size to")?,
            headers: HeaderTest::parse(&self.header, ':').into_iter().collect(),
            payload_contains: payload.clone().filter(|_| !self.payload_regex),
            payload_regex: payload.filter(|_| self.payload_regex),
            expired: self.only_expired.then_some(true),
            kv_ops,
            damaged: self.only_damaged,
            expression: Some(self.expression.clone()).filter(|text| !text.trim().is_empty()),
        })
    }
}

/// Messages matching `filter` (row indices into `backup.messages`), in order.
pub fn matching_rows(
    backup: &Backup,
    filter: &MessageFilter,
    reference_ns: i64,
    cancel: &std::sync::atomic::AtomicBool,
) -> Result<Vec<usize>, FilterError> {
    let compiled = filter.compile(backup, reference_ns)?;
    let mut rows = Vec::new();
    display::scan(
        backup,
        &compiled,
        cancel,
        &mut |row| rows.push(row),
        &mut |_, _| {},
    )?;
    Ok(rows)
}

#[cfg(test)]
mod tests;
