//! Writes a v1 snapshot body: a PAX tar in Go `archive/tar`'s dialect holding
//! `meta.inf`, `meta.sum`, `msgs/N.blk` and `obs/<consumer>/{meta.inf,meta.sum,o.dat}`,
//! as nats-server ≤ 2.14 emits it (archive-formats.md §4.1–4.2).
//!
//! The tar dialect: before each member a PAX `x` entry named
//! `<dir>/PaxHeaders.0/<base>` carrying `mtime` (when the time has a fraction)
//! and `path` (when the name is non-ASCII or over 100 bytes), then a ustar
//! header (mode 0600, uid/gid 0, uname/gname `nats`), the data padded to 512,
//! and two zero blocks at the end. All members share one mtime, so the output
//! is deterministic. No `index.db` is written: the server rebuilds it.

use super::filestore_write::{
    write_consumer_files, write_stream_meta_files, BlockSummary, BlockWriter, EncodeError,
    DEFAULT_BLOCK_SIZE,
};
use std::cell::RefCell;
use std::io::{self, Write};
use std::rc::Rc;

pub const BLOCK: usize = 512;
const NAME_FIELD: usize = 100;

/// A streaming tar writer in Go's PAX dialect with a fixed member mtime, on
/// the `tar` crate's [`tar::Builder`] (which pads members and writes the
/// trailer); the header fields are filled the way Go's `archive/tar` fills them.
pub struct TarWriter<W: Write> {
    builder: tar::Builder<W>,
    mtime_ns: i64,
}

impl<W: Write> TarWriter<W> {
    pub fn new(out: W, mtime_ns: i64) -> Self {
        Self {
            builder: tar::Builder::new(out),
            mtime_ns,
        }
    }

    /// Appends one regular file.
    pub fn append(&mut self, path: &str, data: &[u8]) -> io::Result<()> {
        let mut records: Vec<(&str, String)> = Vec::new();
        if let Some(mtime) = pax_time(self.mtime_ns) {
            records.push(("mtime", mtime));
        }
        if !path.is_ascii() || path.len() > NAME_FIELD {
            records.push(("path", path.to_string()));
        }
        // Go sorts the records by key.
        records.sort_by(|a, b| a.0.cmp(b.0));
        if !records.is_empty() {
            let mut body = String::new();
            for (key, value) in &records {
                body.push_str(&pax_record(key, value));
            }
            let header = go_header(&pax_header_name(path), Member::Pax, body.len() as u64, 0)?;
            self.builder.append(&header, body.as_bytes())?;
        }
        let seconds = self.mtime_ns.div_euclid(1_000_000_000);
        let header = go_header(path, Member::File, data.len() as u64, seconds)?;
        self.builder.append(&header, data)
    }

    /// Writes the two zero blocks that end the archive and returns the inner writer.
    pub fn finish(self) -> io::Result<W> {
        self.builder.into_inner()
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Member {
    /// The PAX `x` entry before a member.
    Pax,
    /// A regular file (mode 0600, owner `nats`).
    File,
}

/// One ustar header as Go's writer packs it (`FormatPAX`): octal fields
/// zero-padded and NUL-terminated, the plain name field holding only the
/// ASCII bytes of the name, the checksum as six digits, NUL, space.
fn go_header(name: &str, member: Member, size: u64, mtime_s: i64) -> io::Result<tar::Header> {
    let mut header = tar::Header::new_ustar();
    header.set_size(size);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(mtime_s.max(0) as u64);
    match member {
        Member::Pax => {
            header.set_entry_type(tar::EntryType::XHeader);
            header.set_mode(0);
        }
        Member::File => {
            header.set_entry_type(tar::EntryType::Regular);
            header.set_mode(0o600);
            header.set_username("nats")?;
            header.set_groupname("nats")?;
            header.set_device_major(0)?;
            header.set_device_minor(0)?;
        }
    }
    // Go keeps only the ASCII bytes of the name in the plain field; an `x`
    // entry's name is cut to the field and loses trailing slashes.
    let ascii: Vec<u8> = name.bytes().filter(u8::is_ascii).collect();
    let mut plain: &[u8] = &ascii;
    if member == Member::Pax {
        plain = plain.get(..NAME_FIELD).unwrap_or(plain);
        while let [rest @ .., b'/'] = plain {
            plain = rest;
        }
    }
    put_string(&mut header.as_old_mut().name, plain);
    go_checksum(&mut header);
    Ok(header)
}

/// Go's `formatString`: copy what fits, NUL-terminate when shorter than the field.
fn put_string(field: &mut [u8], text: &[u8]) {
    let len = text.len().min(field.len());
    if let (Some(dst), Some(src)) = (field.get_mut(..len), text.get(..len)) {
        dst.copy_from_slice(src);
    }
    if let Some(end) = field.get_mut(len) {
        *end = 0;
    }
}

/// The header checksum as Go writes it: six octal digits, NUL, space (the
/// `tar` crate writes seven digits and a NUL; both are valid, Go's is what
/// the server emits).
fn go_checksum(header: &mut tar::Header) {
    header.as_old_mut().cksum = *b"        ";
    let sum: u64 = header.as_bytes().iter().map(|&byte| u64::from(byte)).sum();
    let digits = format!("{sum:06o}");
    let (digits_field, last) = header.as_old_mut().cksum.split_at_mut(7);
    put_string(digits_field, digits.as_bytes());
    if let Some(space) = last.first_mut() {
        *space = b' ';
    }
}

/// One consumer's files for `obs/<name>/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V1Consumer {
    /// Directory name (the full UTF-8 consumer name).
    pub name: String,
    /// Exact `meta.inf` bytes (`meta.sum` is computed over them).
    pub meta_inf: Vec<u8>,
    pub odat: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum V1WriteError {
    #[error(transparent)]
    Encode(#[from] EncodeError),
    #[error("writing the tar: {0}")]
    Io(#[from] io::Error),
    /// The name would make `obs/<name>/` leave `obs/` (or be cut short) when extracted.
    #[error("consumer name {0:?} cannot be a directory under obs/ (empty, '.', '..', '/', '\\' or a control character)")]
    BadConsumerName(String),
}

/// Can `name` be the single directory `obs/<name>/` of a tar member path?
/// Consumer names come from the archive (v2 entry names are arbitrary bytes).
fn consumer_dir_name_ok(name: &str) -> bool {
    !(name.is_empty()
        || name == "."
        || name == ".."
        || name
            .chars()
            .any(|c| c.is_control() || matches!(c, '/' | '\\')))
}

type BlockSink<'a> = Box<dyn FnMut(u64, &[u8]) -> io::Result<()> + 'a>;

/// Streams a whole v1 snapshot: `meta.inf`/`meta.sum` at creation, messages
/// (ascending; gaps are deletes) into 8 MiB blocks, consumers at the end.
pub struct V1Writer<'a, W: Write + 'a> {
    tar: Rc<RefCell<TarWriter<W>>>,
    blocks: BlockWriter<BlockSink<'a>>,
    stream_name: String,
}

impl<'a, W: Write + 'a> V1Writer<'a, W> {
    /// Writes `meta.inf` (exact bytes) and its `meta.sum` keyed by `stream_name`.
    pub fn new(out: W, mtime_ns: i64, stream_name: &str, meta_inf: &[u8]) -> io::Result<Self> {
        let mut tar = TarWriter::new(out, mtime_ns);
        write_stream_meta_files(stream_name, meta_inf, |name, bytes| tar.append(name, bytes))?;
        let tar = Rc::new(RefCell::new(tar));
        let sink_tar = Rc::clone(&tar);
        let sink: BlockSink<'a> = Box::new(move |index: u64, bytes: &[u8]| {
            sink_tar
                .borrow_mut()
                .append(&format!("msgs/{index}.blk"), bytes)
        });
        Ok(Self {
            tar,
            blocks: BlockWriter::new(stream_name, DEFAULT_BLOCK_SIZE, sink),
            stream_name: stream_name.to_string(),
        })
    }

    pub fn message(
        &mut self,
        seq: u64,
        ts_ns: i64,
        subject: &[u8],
        headers: &[u8],
        data: &[u8],
    ) -> Result<(), V1WriteError> {
        Ok(self
            .blocks
            .push_message(seq, ts_ns, subject, headers, data)?)
    }

    /// Ends the blocks at `last_seq` (a skip record keeps trailing deletes),
    /// writes the consumers and the tar trailer; returns the inner writer.
    pub fn finish(
        self,
        last_seq: u64,
        last_ts_ns: i64,
        consumers: &[V1Consumer],
    ) -> Result<(W, BlockSummary), V1WriteError> {
        if let Some(bad) = consumers
            .iter()
            .find(|consumer| !consumer_dir_name_ok(&consumer.name))
        {
            return Err(V1WriteError::BadConsumerName(bad.name.clone()));
        }
        let Self {
            tar,
            blocks,
            stream_name,
        } = self;
        let summary = blocks.finish(last_seq, last_ts_ns)?;
        let tar = Rc::try_unwrap(tar)
            .map_err(|_| io::Error::other("tar writer still shared after the blocks ended"))?;
        let mut tar = tar.into_inner();
        for consumer in consumers {
            write_consumer_files(
                &stream_name,
                &consumer.name,
                &consumer.meta_inf,
                &consumer.odat,
                |file, bytes| tar.append(&format!("obs/{}/{file}", consumer.name), bytes),
            )?;
        }
        Ok((tar.finish()?, summary))
    }
}

/// Go's `formatPAXTime`: seconds, then a 9-digit fraction with trailing zeros
/// trimmed; `None` when the fraction is zero (Go writes no PAX record then).
fn pax_time(ns: i64) -> Option<String> {
    let seconds = ns.div_euclid(1_000_000_000);
    let nanos = ns.rem_euclid(1_000_000_000);
    if nanos == 0 {
        return None;
    }
    let text = if seconds < 0 {
        // Go's correction for negative times.
        format!("-{}.{:09}", -(seconds + 1), 1_000_000_000 - nanos)
    } else {
        format!("{seconds}.{nanos:09}")
    };
    Some(text.trim_end_matches('0').to_string())
}

/// Go's `formatPAXRecord`: `"<len> <key>=<value>\n"` where len counts the whole record.
fn pax_record(key: &str, value: &str) -> String {
    let base = key.len() + value.len() + 3;
    let mut size = base + base.to_string().len();
    let mut record = format!("{size} {key}={value}\n");
    if record.len() != size {
        size = record.len();
        record = format!("{size} {key}={value}\n");
    }
    record
}

/// `path.Join(dir, "PaxHeaders.0", file)` as Go's writer names the `x` entry.
fn pax_header_name(path: &str) -> String {
    match path.rfind('/') {
        Some(slash) => format!("{}/PaxHeaders.0/{}", &path[..slash], &path[slash + 1..]),
        None => format!("PaxHeaders.0/{path}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::tar::{parse_header_block, parse_pax_records};

    #[test]
    fn pax_pieces_match_go() {
        assert_eq!(
            pax_time(1_795_788_763_346_056_820).as_deref(),
            Some("1795788763.34605682")
        );
        assert_eq!(pax_time(5_000_000_000), None);
        assert_eq!(
            pax_record("mtime", "1795788763.34605682"),
            "29 mtime=1795788763.34605682\n"
        );
        assert_eq!(pax_record("a", "b"), "6 a=b\n");
        assert_eq!(pax_header_name("msgs/1.blk"), "msgs/PaxHeaders.0/1.blk");
        assert_eq!(pax_header_name("meta.inf"), "PaxHeaders.0/meta.inf");
    }

    #[test]
    fn members_parse_back() {
        let mut writer = TarWriter::new(Vec::new(), 1_795_788_763_346_056_820);
        writer.append("meta.inf", b"{}").unwrap();
        writer.append("obs/обработчик/o.dat", &[1, 2, 3]).unwrap();
        let bytes = writer.finish().unwrap();
        assert_eq!(bytes.len() % BLOCK, 0);
        assert_eq!(&bytes[..8], b"PaxHeade");
        let (name, size, flag) = parse_header_block(&bytes[..BLOCK]).unwrap();
        assert_eq!((name.as_str(), flag), ("PaxHeaders.0/meta.inf", b'x'));
        let records = parse_pax_records(&bytes[BLOCK..BLOCK + size as usize]).unwrap();
        assert_eq!(
            records,
            vec![("mtime".to_string(), "1795788763.34605682".to_string())]
        );
        let (name, size, flag) = parse_header_block(&bytes[2 * BLOCK..3 * BLOCK]).unwrap();
        assert_eq!((name.as_str(), size, flag), ("meta.inf", 2, b'0'));
        let header = &bytes[2 * BLOCK..3 * BLOCK];
        assert_eq!(&header[100..108], b"0000600\0");
        assert_eq!(&header[265..270], b"nats\0");
        let (name, size, _) = parse_header_block(&bytes[4 * BLOCK..5 * BLOCK]).unwrap();
        assert_eq!(name, "obs//PaxHeaders.0/o.dat");
        let records = parse_pax_records(&bytes[5 * BLOCK..5 * BLOCK + size as usize]).unwrap();
        assert_eq!(
            records[1],
            ("path".to_string(), "obs/обработчик/o.dat".to_string())
        );
        assert_eq!(&bytes[bytes.len() - 1024..], &[0u8; 1024][..]);
    }

    #[test]
    fn consumer_names_that_leave_obs_are_refused() {
        for bad in [
            "",
            ".",
            "..",
            "../../etc",
            "a/b",
            "/abs",
            "a\\b",
            "nul\0x",
            "nl\n",
        ] {
            assert!(!consumer_dir_name_ok(bad), "{bad:?}");
        }
        for good in ["C1", "обработчик", "a.b", "..a", "dur-1_x"] {
            assert!(consumer_dir_name_ok(good), "{good:?}");
        }
    }
}
