//! The message-filter flags `messages` and `export` share (one struct, flattened
//! into both), turned into an `ops::filter::MessageFilter`.

use anyhow::{anyhow, Result};
use jsbackup::ops::filter::{HeaderTest, KvOp, MessageFilter};
use jsbackup::util::time::parse_rfc3339_ns;

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum KvOpArg {
    /// `KV-Operation: DEL`.
    Del,
    /// `KV-Operation: PURGE`.
    Purge,
}

#[derive(clap::Args, Default)]
pub struct FilterArgs {
    /// Keep only subjects matching this filter (NATS wildcards; repeatable, any may match).
    #[arg(long = "subject")]
    pub subjects: Vec<String>,
    /// Leave out subjects matching this filter (repeatable).
    #[arg(long = "exclude-subject")]
    pub exclude_subjects: Vec<String>,
    #[arg(long)]
    pub from_seq: Option<u64>,
    #[arg(long)]
    pub to_seq: Option<u64>,
    /// Keep messages stored at or after this time (RFC 3339).
    #[arg(long)]
    pub since: Option<String>,
    /// Keep messages stored at or before this time (RFC 3339).
    #[arg(long)]
    pub until: Option<String>,
    /// Keep messages of at least this size (header block + payload; 1500, 1k, 2m).
    #[arg(long, value_parser = parse_size)]
    pub min_size: Option<u64>,
    /// Keep messages of at most this size.
    #[arg(long, value_parser = parse_size)]
    pub max_size: Option<u64>,
    /// Keep messages with this header (NAME) or header value (NAME=VALUE); repeatable, all must hold.
    #[arg(long = "header", value_name = "NAME[=VALUE]")]
    pub headers: Vec<String>,
    /// Keep messages whose payload contains this text.
    #[arg(long)]
    pub payload_contains: Option<String>,
    /// Keep messages whose payload matches this regular expression.
    #[arg(long)]
    pub payload_regex: Option<String>,
    /// Keep only messages whose Nats-TTL has run out (at --now).
    #[arg(long)]
    pub expired: bool,
    /// Keep only KV delete or purge markers (repeatable, any may match).
    #[arg(long = "kv-op", value_enum)]
    pub kv_ops: Vec<KvOpArg>,
    /// Keep only messages the scan marked damaged (checksum failure, damaged chunk).
    #[arg(long)]
    pub damaged: bool,
    /// A filter expression, e.g. 'subject ~ "orders.*.eu" and size > 1k and header("Nats-Msg-Id")'.
    #[arg(long = "where", value_name = "EXPR")]
    pub expression: Option<String>,
}

fn parse_size(text: &str) -> Result<u64, String> {
    jsbackup::ops::filter::lang::parse_size(text)
        .ok_or_else(|| format!("{text:?} is not a size (1500, 1k, 2m)"))
}

fn parse_time(flag: &str, text: &Option<String>) -> Result<Option<i64>> {
    match text {
        None => Ok(None),
        Some(text) => parse_rfc3339_ns(text)
            .map(Some)
            .ok_or_else(|| anyhow!("{flag} {text:?} is not an RFC 3339 time")),
    }
}

impl FilterArgs {
    pub fn to_filter(&self) -> Result<MessageFilter> {
        let headers = self
            .headers
            .iter()
            .map(|text| {
                HeaderTest::parse(text, '=')
                    .ok_or_else(|| anyhow!("--header {text:?}: empty header name"))
            })
            .collect::<Result<Vec<_>>>()?;
        let filter = MessageFilter {
            subjects: self.subjects.clone(),
            exclude_subjects: self.exclude_subjects.clone(),
            from_seq: self.from_seq,
            to_seq: self.to_seq,
            since_ns: parse_time("--since", &self.since)?,
            until_ns: parse_time("--until", &self.until)?,
            min_size: self.min_size,
            max_size: self.max_size,
            headers,
            payload_contains: self.payload_contains.clone(),
            payload_regex: self.payload_regex.clone(),
            expired: self.expired.then_some(true),
            kv_ops: self
                .kv_ops
                .iter()
                .map(|op| match op {
                    KvOpArg::Del => KvOp::Delete,
                    KvOpArg::Purge => KvOp::Purge,
                })
                .collect(),
            damaged: self.damaged,
            expression: self.expression.clone(),
        };
        // Check the expression and regex now, so the error says where before any work.
        filter
            .clauses()
            .map_err(|error| where_error(&filter, error))?;
        Ok(filter)
    }
}

/// A filter error for a terminal: the expression with a caret line under the bad token.
pub fn where_error(
    filter: &MessageFilter,
    error: jsbackup::ops::filter::FilterError,
) -> anyhow::Error {
    match (&error.span, &filter.expression) {
        (Some(span), Some(text)) => {
            let before = text.get(..span.start).unwrap_or_default().chars().count();
            let width = text
                .get(span.clone())
                .map(|token| token.chars().count())
                .unwrap_or(0)
                .max(1);
            anyhow!(
                "--where: {}\n  {}\n  {}{}",
                error.message,
                super::escape_control(text),
                " ".repeat(before),
                "^".repeat(width)
            )
        }
        _ => anyhow!("{error}"),
    }
}
