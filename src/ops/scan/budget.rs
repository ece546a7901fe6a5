//! What a scan may hold: an overall memory budget beyond the message table, the
//! largest size each kind of archive member may have (the sizes the server itself
//! would write or accept), and the checks of sequences a server would struggle
//! with (huge gaps, flag bits). Everything over a bound is a finding, never an
//! allocation.

use crate::model::{Backup, Finding, FindingKind};

/// Environment variable that sets the budget in MiB (`ScanControl::memory_budget` wins).
pub const BUDGET_ENV: &str = "JSBACKUP_SCAN_MEMORY_MB";
/// Default budget for what a scan holds besides the message table (32 bytes a message).
pub const DEFAULT_BUDGET: u64 = 384 << 20;

/// Block files: the server cuts blocks at 8 MiB (`FileStoreMaxBlkSize`); a block
/// holding one larger message is at most that message (max_payload ≤ 64 MiB) plus
/// its headers and record framing.
pub const MAX_BLOCK_MEMBER: u64 = (8 << 20) + (64 << 20) + (1 << 20);
/// Stream and consumer `meta.inf`: configs reach the server as JSON API requests,
/// which are NATS messages of at most max_payload — 1 MiB by default, and the
/// server warns above 8 MiB; description (4 KiB) and metadata (128 KiB) are capped too.
pub const MAX_CONFIG_JSON: u64 = 8 << 20;
/// Consumer state `o.dat`: about 10 bytes a pending or redelivered message; 64 MiB is
/// millions of unacknowledged messages, far past max_ack_pending limits in practice.
pub const MAX_ODAT: u64 = 64 << 20;
/// ≤ 2.9 `msgs/N.idx`: a block's state and delete list; a block of 8 MiB holds at most
/// about 280 k records (30 bytes each), whose delete list is about 2 MiB.
pub const MAX_LEGACY_IDX: u64 = 4 << 20;
/// `msgs/index.db`: a few dozen bytes per block and per subject, plus delete maps.
pub const MAX_INDEX_DB: u64 = 256 << 20;
/// `meta.sum`, `errors.txt`: a hash, a line of text.
pub const MAX_SMALL_FILE: u64 = 1 << 20;
/// Deleted sequences held from index.db delete maps (8 bytes each).
pub const MAX_INDEX_DELETES: u64 = 8 << 20;
/// v2 state.json and consumer entries; the JSON API bound as for `meta.inf`.
pub const MAX_V2_META_ENTRY: u64 = MAX_CONFIG_JSON;
/// A gap this wide (in sequences) is named: the server keeps deleted sequences in
/// memory when it loads the store (about 3.2 bytes and 30 ns a sequence measured
/// with nats-server 2.15.1: a gap of 1e9 took 3.2 GB and 30 s to start).
pub const LARGE_GAP: u64 = 10_000_000;
/// Bytes and nanoseconds a server needs per deleted sequence when loading a store.
const SERVER_BYTES_PER_GAP_SEQ: f64 = 3.2;
const SERVER_NS_PER_GAP_SEQ: f64 = 30.0;
/// The filestore keeps flags in the top two bits of a record's sequence.
pub const SEQ_FLAG_BITS: u64 = 0b11 << 62;

/// The memory a scan may still take beyond the message table.
#[derive(Debug, Clone)]
pub struct Budget {
    pub limit: u64,
    pub held: u64,
    pub exceeded: bool,
}

impl Default for Budget {
    fn default() -> Self {
        Self::new(None)
    }
}

impl Budget {
    /// `explicit` (from `ScanControl`) or the environment or the default.
    pub fn new(explicit: Option<u64>) -> Self {
        let limit = explicit
            .or_else(|| {
                std::env::var(BUDGET_ENV)
                    .ok()
                    .and_then(|text| text.trim().parse::<u64>().ok())
                    .map(|mib| mib.saturating_mul(1 << 20))
            })
            .unwrap_or(DEFAULT_BUDGET);
        Self {
            limit,
            held: 0,
            exceeded: false,
        }
    }

    /// Takes `bytes` from the budget; false (and a finding, once) when it runs out.
    pub fn charge(&mut self, backup: &mut Backup, bytes: u64, what: &str) -> bool {
        if self.exceeded {
            return false;
        }
        let held = self.held.saturating_add(bytes);
        if held > self.limit {
            self.exceeded = true;
            backup.findings.push(Finding::error(
                FindingKind::MemoryBudget,
                format!(
                    "the scan stopped: holding {what} would take it past its memory budget of {} MiB ({} MiB held); what follows is not read (raise it with {BUDGET_ENV})",
                    self.limit >> 20,
                    self.held >> 20
                ),
            ));
            return false;
        }
        self.held = held;
        true
    }

    pub fn release(&mut self, bytes: u64) {
        self.held = self.held.saturating_sub(bytes);
    }
}

/// A finding for a member larger than the server would write; its bytes are skipped.
pub fn too_large(name: &str, size: u64, cap: u64, why: &str, offset: u64) -> Finding {
    Finding::error(
        FindingKind::TooLarge,
        format!(
            "tar member {name:?} is {size} bytes, more than the {cap} bytes {why}: it is skipped, not read"
        ),
    )
    .entry(name.to_string())
    .offset(offset)
}

/// Names gaps the server would struggle to load and sequences with flag bits set.
pub fn check_sequences(backup: &mut Backup) {
    let mut previous: Option<u64> = None;
    let mut found = Vec::new();
    for &seq in &backup.messages.seq {
        if seq & SEQ_FLAG_BITS != 0 {
            found.push(
                Finding::error(
                    FindingKind::SequenceFlags,
                    format!(
                        "sequence {seq} has flag bits set (bits 62–63 mark tombstones and erased records in the filestore): a restored store reads it as sequence {} with flags",
                        seq & !SEQ_FLAG_BITS
                    ),
                )
                .seq(seq),
            );
        }
        // Only gaps between messages: a store whose first sequence is high costs nothing.
        if let Some(before) = previous.filter(|_| seq & SEQ_FLAG_BITS == 0) {
            let gap = seq.saturating_sub(before).saturating_sub(1);
            if gap >= LARGE_GAP {
                found.push(gap_finding(before + 1, seq - 1, gap).seq(seq));
            }
        }
        previous = Some(seq);
    }
    backup.findings.extend(found);
}

fn gap_finding(from: u64, to: u64, gap: u64) -> Finding {
    let gigabytes = gap as f64 * SERVER_BYTES_PER_GAP_SEQ / 1e9;
    let seconds = gap as f64 * SERVER_NS_PER_GAP_SEQ / 1e9;
    Finding::warning(
        FindingKind::SequenceGap,
        format!(
            "sequences {from}..{to} ({} sequences) are a gap: a server loading the restored store needs about {gigabytes:.1} GB and {seconds:.0} s for it",
            crate::model::findings::group_thousands(gap)
        ),
    )
}

/// Consumers that share a name: the server keeps one (the last), a restore fails on the second.
pub fn check_duplicate_consumers(backup: &mut Backup) {
    let mut names: Vec<&str> = backup.consumers.iter().map(|c| c.name.as_str()).collect();
    names.sort_unstable();
    let mut duplicates: Vec<String> = Vec::new();
    for pair in names.windows(2) {
        if pair[0] == pair[1] && duplicates.last().map(String::as_str) != Some(pair[0]) {
            duplicates.push(pair[0].to_string());
        }
    }
    for name in duplicates {
        backup.findings.push(
            Finding::error(
                FindingKind::ConsumerMeta,
                format!("consumer {name:?} appears more than once: a restore creates it once and fails or keeps only one of them"),
            )
            .entry(format!("consumers/{name}")),
        );
    }
}
