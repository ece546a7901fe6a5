//! The one message-filter engine: an expression tree of tests ([`Expr`]), bound to a
//! backup ([`Compiled`]) and evaluated row by row. Subject tests are decided once per
//! interned subject; header and payload tests read the message's bytes only when an
//! earlier test in an `and` has not already rejected the row.

use crate::format::headers::parse_header_block;
use crate::model::Backup;
use crate::ops::read::{MessageBytes, MessageReader, ReadError};
use crate::util::subject::subject_matches;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Lt,
    Le,
    Eq,
    Ne,
    Ge,
    Gt,
}

impl Cmp {
    fn holds<T: Ord>(self, left: T, right: T) -> bool {
        match self {
            Cmp::Lt => left < right,
            Cmp::Le => left <= right,
            Cmp::Eq => left == right,
            Cmp::Ne => left != right,
            Cmp::Ge => left >= right,
            Cmp::Gt => left > right,
        }
    }
}

/// One test on a message.
#[derive(Debug, Clone)]
pub enum Test {
    /// The subject matches one of these NATS wildcard filters.
    Subject(Vec<String>),
    SubjectEquals(String),
    Seq(Cmp, u64),
    /// Stored time, Unix ns.
    Time(Cmp, i64),
    /// Header block plus payload bytes (the table's "size").
    Size(Cmp, u64),
    /// A header with this name (ASCII case-insensitive) is present.
    HeaderPresent(String),
    /// A header with this name has this value (surrounding spaces ignored).
    HeaderEquals(String, String),
    PayloadContains(Vec<u8>),
    PayloadRegex(regex::bytes::Regex),
    /// `Nats-TTL` has run out at the reference time (the server's rule).
    TtlExpired,
    /// All of these index flag bits are set (KV delete/purge, …).
    Flag(u16),
    /// At least one of these index flag bits is set (damaged or suspect).
    AnyFlag(u16),
}

impl Test {
    fn reads_bytes(&self) -> bool {
        matches!(
            self,
            Test::HeaderPresent(_)
                | Test::HeaderEquals(..)
                | Test::PayloadContains(_)
                | Test::PayloadRegex(_)
        )
    }
}

/// A filter expression, from the fields or from the language.
#[derive(Debug, Clone)]
pub enum Expr {
    All(Vec<Expr>),
    Any(Vec<Expr>),
    Not(Box<Expr>),
    Test(Test),
}

impl Expr {
    pub fn reads_bytes(&self) -> bool {
        match self {
            Expr::All(parts) | Expr::Any(parts) => parts.iter().any(Expr::reads_bytes),
            Expr::Not(inner) => inner.reads_bytes(),
            Expr::Test(test) => test.reads_bytes(),
        }
    }
}

/// Which part of a filter rejected a message (the export counts drops by it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    SequenceRange,
    TimeRange,
    SubjectNotIncluded,
    SubjectExcluded,
    Expired,
    /// Header, payload or flag fields.
    Fields,
    /// The `where` expression.
    Expression,
}

/// A test bound to one backup (subject tests resolved per subject id).
enum Node {
    All(Vec<Node>),
    Any(Vec<Node>),
    Not(Box<Node>),
    /// Indexed by subject id.
    Subjects(Vec<bool>),
    Test(Test),
}

fn bind(expr: &Expr, backup: &Backup) -> Node {
    let subject_table = |decide: &dyn Fn(&str) -> bool| -> Vec<bool> {
        (0..backup.subjects.len())
            .map(|id| decide(backup.subjects.name(id as u32)))
            .collect()
    };
    match expr {
        Expr::All(parts) => Node::All(parts.iter().map(|part| bind(part, backup)).collect()),
        Expr::Any(parts) => Node::Any(parts.iter().map(|part| bind(part, backup)).collect()),
        Expr::Not(inner) => Node::Not(Box::new(bind(inner, backup))),
        Expr::Test(Test::Subject(filters)) => Node::Subjects(subject_table(&|name| {
            filters.iter().any(|filter| subject_matches(filter, name))
        })),
        Expr::Test(Test::SubjectEquals(wanted)) => {
            Node::Subjects(subject_table(&|name| name == wanted))
        }
        Expr::Test(test) => Node::Test(test.clone()),
    }
}

/// A filter ready to run on one backup: clauses that must all hold, each with
/// the reason reported when it is the first to fail.
pub struct Compiled {
    clauses: Vec<(Reason, Node)>,
    reads_bytes: bool,
    /// Rows below/above these sequences never match (from top-level seq clauses).
    pub seq_from: u64,
    pub seq_to: u64,
    reference_ns: i64,
}

/// Per-row state while evaluating: the message's bytes, read at most once.
struct RowContext<'a> {
    backup: &'a Backup,
    row: usize,
    seq: u64,
    ts_ns: i64,
    subject_id: u32,
    size: u64,
    flags: u16,
    reference_ns: i64,
    reader: &'a mut Option<MessageReader>,
    /// `None`: not read yet; `Some(None)`: unreadable.
    bytes: Option<Option<MessageBytes>>,
}

impl RowContext<'_> {
    fn bytes(&mut self) -> Option<&MessageBytes> {
        if self.bytes.is_none() {
            let read = self
                .reader
                .as_mut()
                .and_then(|reader| reader.read_row(self.backup, self.row).ok());
            self.bytes = Some(read);
        }
        self.bytes.as_ref().and_then(Option::as_ref)
    }
}

fn header_found(bytes: &MessageBytes, name: &str, value: Option<&str>) -> bool {
    if bytes.headers.is_empty() {
        return false;
    }
    parse_header_block(&bytes.headers)
        .entries
        .iter()
        .any(|(key, found)| {
            key.trim().eq_ignore_ascii_case(name.trim())
                && value.is_none_or(|wanted| found.trim() == wanted.trim())
        })
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty()
        || (needle.len() <= haystack.len()
            && haystack
                .windows(needle.len())
                .any(|window| window == needle))
}

fn evaluate(node: &Node, context: &mut RowContext) -> bool {
    match node {
        Node::All(parts) => parts.iter().all(|part| evaluate(part, context)),
        Node::Any(parts) => parts.iter().any(|part| evaluate(part, context)),
        Node::Not(inner) => !evaluate(inner, context),
        Node::Subjects(table) => table
            .get(context.subject_id as usize)
            .copied()
            .unwrap_or(false),
        Node::Test(test) => match test {
            Test::Seq(cmp, value) => cmp.holds(context.seq, *value),
            Test::Time(cmp, value) => cmp.holds(context.ts_ns, *value),
            Test::Size(cmp, value) => cmp.holds(context.size, *value),
            Test::TtlExpired => context
                .backup
                .messages
                .ttl_of(context.seq)
                .is_expired(context.ts_ns, context.reference_ns),
            Test::Flag(bits) => context.flags & bits == *bits,
            Test::AnyFlag(bits) => context.flags & bits != 0,
            // A message whose bytes cannot be read fails byte tests (Findings reports it).
            Test::HeaderPresent(name) => context
                .bytes()
                .is_some_and(|bytes| header_found(bytes, name, None)),
            Test::HeaderEquals(name, value) => context
                .bytes()
                .is_some_and(|bytes| header_found(bytes, name, Some(value))),
            Test::PayloadContains(needle) => context
                .bytes()
                .is_some_and(|bytes| contains(&bytes.data, needle)),
            Test::PayloadRegex(regex) => context
                .bytes()
                .is_some_and(|bytes| regex.is_match(&bytes.data)),
            // Bound to `Node::Subjects` by `bind`.
            Test::Subject(_) | Test::SubjectEquals(_) => false,
        },
    }
}

/// Tightest sequence bounds implied by a clause that is a plain seq test (or an `and` of them).
fn seq_bounds(expr: &Expr, from: &mut u64, to: &mut u64) {
    match expr {
        Expr::All(parts) => parts.iter().for_each(|part| seq_bounds(part, from, to)),
        Expr::Test(Test::Seq(cmp, value)) => match cmp {
            Cmp::Ge => *from = (*from).max(*value),
            Cmp::Gt => *from = (*from).max(value.saturating_add(1)),
            Cmp::Le => *to = (*to).min(*value),
            Cmp::Lt => *to = (*to).min(value.saturating_sub(1)),
            Cmp::Eq => {
                *from = (*from).max(*value);
                *to = (*to).min(*value);
            }
            Cmp::Ne => {}
        },
        _ => {}
    }
}

impl Compiled {
    pub fn new(backup: &Backup, clauses: &[(Reason, Expr)], reference_ns: i64) -> Self {
        let mut seq_from = 0;
        let mut seq_to = u64::MAX;
        for (_, expr) in clauses {
            seq_bounds(expr, &mut seq_from, &mut seq_to);
        }
        Compiled {
            clauses: clauses
                .iter()
                .map(|(reason, expr)| (*reason, bind(expr, backup)))
                .collect(),
            reads_bytes: clauses.iter().any(|(_, expr)| expr.reads_bytes()),
            seq_from,
            seq_to,
            reference_ns,
        }
    }

    /// No clause: every message matches.
    pub fn is_empty(&self) -> bool {
        self.clauses.is_empty()
    }

    /// Do any tests need the message bytes (then [`Matcher::open`] opens the data file)?
    pub fn reads_bytes(&self) -> bool {
        self.reads_bytes
    }

    /// A matcher for one pass over the rows.
    pub fn matcher<'a>(&'a self, backup: &'a Backup) -> Result<Matcher<'a>, ReadError> {
        let reader = if self.reads_bytes {
            Some(MessageReader::open(backup)?)
        } else {
            None
        };
        Ok(Matcher {
            compiled: self,
            backup,
            reader,
        })
    }
}

/// Evaluates a [`Compiled`] filter row by row (holds the open data file).
pub struct Matcher<'a> {
    compiled: &'a Compiled,
    backup: &'a Backup,
    reader: Option<MessageReader>,
}

impl Matcher<'_> {
    /// `None` when the row matches; otherwise the first clause that rejected it.
    pub fn rejection(&mut self, row: usize) -> Option<Reason> {
        let messages = &self.backup.messages;
        let Some(message) = messages.row(row) else {
            return Some(Reason::Fields);
        };
        let mut context = RowContext {
            backup: self.backup,
            row,
            seq: message.seq,
            ts_ns: message.ts_ns,
            subject_id: message.subject_id,
            size: u64::from(message.hdr_len) + u64::from(message.data_len),
            flags: message.flags,
            reference_ns: self.compiled.reference_ns,
            reader: &mut self.reader,
            bytes: None,
        };
        self.compiled
            .clauses
            .iter()
            .find(|(_, node)| !evaluate(node, &mut context))
            .map(|(reason, _)| *reason)
    }

    pub fn matches(&mut self, row: usize) -> bool {
        self.rejection(row).is_none()
    }
}
