//! The end of a v1 scan: meta.sum checked, index.db (or ≤ 2.9 `.idx` files)
//! trusted or not by the server's rules, and the live set decided — which
//! message records survive tombstones, erasures, deletes and duplicates.

use super::Scan;
use crate::format::hash::Hh64Key;
use crate::format::index_db::{self, IndexDb};
use crate::format::legacy_idx::{self, LegacyIdx};
use crate::model::{Backup, Finding, FindingKind, Severity, StreamState};
use crate::util::fxhash::{FxHashMap, FxHashSet};
use std::collections::BTreeMap;

/// Is index.db trustworthy for these blocks (the server's rules)?
fn index_db_trust(index: &IndexDb, blocks: &BTreeMap<u64, (u64, [u8; 8])>) -> Result<(), String> {
    let Some(last_listed) = index.blocks.last() else {
        return Err("index.db lists no blocks".into());
    };
    if last_listed.index != index.last_block_index {
        return Err(format!(
            "last listed block {} is not the last block index {}",
            last_listed.index, index.last_block_index
        ));
    }
    match blocks.get(&index.last_block_index) {
        Some((_, last8)) if *last8 == index.last_checksum => {}
        Some(_) => return Err(format!("the last checksum of msgs/{}.blk does not match index.db (blocks changed after the index was written)", index.last_block_index)),
        None => return Err(format!("msgs/{}.blk is missing", index.last_block_index)),
    }
    if let Some((&highest, _)) = blocks.iter().next_back() {
        if highest > index.last_block_index {
            return Err(format!("msgs/{highest}.blk is newer than index.db"));
        }
    }
    let mut msgs = 0u64;
    let mut bytes = 0u64;
    let mut last_seq = 0u64;
    let mut first_seq: Option<u64> = None;
    let count = index.blocks.len();
    for (position, block) in index.blocks.iter().enumerate() {
        let kept = block.msgs() > 0 || position + 1 == count;
        if !kept {
            continue;
        }
        if !blocks.contains_key(&block.index) {
            return Err(format!(
                "msgs/{}.blk is listed in index.db but missing",
                block.index
            ));
        }
        msgs = msgs.saturating_add(block.msgs());
        bytes = bytes.saturating_add(block.bytes);
        last_seq = last_seq.max(block.last_seq);
        match first_seq {
            None => first_seq = Some(block.first_seq),
            Some(current) if block.first_seq < current && block.first_ts_ns != 0 => {
                first_seq = Some(block.first_seq)
            }
            _ => {}
        }
    }
    if msgs != index.msgs || bytes != index.bytes || last_seq != index.last_seq {
        return Err(format!(
            "block totals (msgs {msgs}, bytes {bytes}, last_seq {last_seq}) disagree with the header (msgs {}, bytes {}, last_seq {})",
            index.msgs, index.bytes, index.last_seq
        ));
    }
    if let Some(first) = first_seq {
        if first > 1 && first != index.first_seq {
            return Err(format!(
                "block first sequence {first} disagrees with the header {}",
                index.first_seq
            ));
        }
    }
    Ok(())
}

pub(super) fn finish_v1(backup: &mut Backup, scan: &mut Scan) {
    check_meta_sum(backup, scan);
    let (trusted, untrusted, parsed_index_last) = load_index_db(backup, scan);
    // ≤ 2.9 archives: a block's .idx is used when it parses, adds up and matches the block.
    let legacy = if trusted.is_none() {
        load_legacy_idx(backup, scan)
    } else {
        FxHashMap::default()
    };
    let (first_seq, last_seq) = match &trusted {
        Some(index) => (index.first_seq, index.last_seq),
        None => untrusted_bounds(backup, scan, parsed_index_last, &legacy),
    };
    let keep = live_rows(
        backup,
        scan,
        trusted.as_ref(),
        &legacy,
        (first_seq, last_seq),
    );
    let index_lost = trusted.is_none() && legacy.is_empty() && !scan.blocks.is_empty();
    let maybe_deleted = if index_lost {
        super::v1_deletions::maybe_deleted(backup, scan, &keep, untrusted.as_ref())
    } else {
        super::v1_deletions::MaybeDeleted::default()
    };
    let unnamed = if index_lost {
        super::v1_deletions::unnamed_deletes(backup, scan, &keep, &maybe_deleted.all())
    } else {
        None
    };
    let record_len = std::mem::take(&mut scan.row_record_len);
    let live_bytes: u64 = record_len
        .iter()
        .zip(keep.iter())
        .filter(|(_, &kept)| kept)
        .map(|(&len, _)| u64::from(len))
        .sum();
    backup.messages.retain_rows(&keep);
    backup.messages.sort_by_seq();
    backup.state.bytes = live_bytes;
    backup.state.first_seq = first_seq;
    backup.state.last_seq = last_seq;
    super::v1_deletions::report_maybe_deleted(backup, &maybe_deleted);
    super::v1_deletions::report_unnamed_deletes(backup, unnamed);
    if trusted.is_none() {
        warn_server_truncation(backup, scan);
    }
    if let Some(index) = &trusted {
        let live = backup.messages.len() as u64;
        if live != index.msgs {
            backup.findings.push(
                Finding::warning(
                    FindingKind::StateMismatch,
                    format!("index.db counts {} messages, {live} readable", index.msgs),
                )
                .entry("msgs/index.db"),
            );
        }
    }
    let consumer_files = std::mem::take(&mut scan.consumer_files);
    super::consumers::build_v1_consumers(backup, consumer_files);
}

fn check_meta_sum(backup: &mut Backup, scan: &Scan) {
    let stream_name = backup.stream_name.clone();
    if let (Some(raw), Some(sum)) = (&backup.meta_inf_raw, &scan.meta_sum) {
        let expected = Hh64Key::new(&stream_name).sum_hex(raw);
        if sum.as_slice() != expected.as_bytes() {
            backup.findings.push(
                Finding::error(
                    FindingKind::MetaSum,
                    format!("meta.sum is {:?}, expected {expected}: a server skips this stream at startup", String::from_utf8_lossy(sum)),
                )
                .entry("meta.sum"),
            );
        }
    } else if backup.meta_inf_raw.is_none()
        && !backup.findings.iter().any(|finding| {
            finding.kind == FindingKind::MetaInf && finding.severity == Severity::Error
        })
    {
        backup.findings.push(
            Finding::error(
                FindingKind::MetaInf,
                "meta.inf is missing: the server refuses the restore",
            )
            .entry("meta.inf"),
        );
    } else {
        backup
            .findings
            .push(Finding::warning(FindingKind::MetaSum, "meta.sum is missing").entry("meta.sum"));
    }
}

/// Parses index.db: the index when the server would trust it, the index when it
/// parses but is not trusted, and its last_seq when it parses.
fn load_index_db(
    backup: &mut Backup,
    scan: &mut Scan,
) -> (Option<IndexDb>, Option<IndexDb>, Option<u64>) {
    let stream_name = backup.stream_name.clone();
    let mut trusted: Option<IndexDb> = None;
    let mut untrusted: Option<IndexDb> = None;
    let mut parsed_index_last: Option<u64> = None;
    if let Some(raw) = scan.index_db.take() {
        // Deletes are held twice (the index and the live ranges), 8 bytes each.
        let room = scan.budget.limit.saturating_sub(scan.budget.held) / 16;
        let max_deletes = room.min(super::budget::MAX_INDEX_DELETES);
        match index_db::parse_index_db_bounded(&raw, &stream_name, max_deletes) {
            Ok(index) => {
                scan.index_live = index
                    .blocks
                    .iter()
                    .filter(|block| block.last_seq >= block.first_seq.max(index.first_seq))
                    .map(|block| {
                        (
                            block.first_seq.max(index.first_seq),
                            block.last_seq,
                            block.deleted.clone(),
                        )
                    })
                    .collect();
                backup.archive_state = Some(StreamState {
                    messages: index.msgs,
                    bytes: index.bytes,
                    first_seq: index.first_seq,
                    last_seq: index.last_seq,
                    first_ts_ns: index.first_ts_ns,
                    last_ts_ns: index.last_ts_ns,
                    num_deleted: if index.last_seq > index.first_seq {
                        (index.last_seq - index.first_seq)
                            .saturating_add(1)
                            .saturating_sub(index.msgs)
                    } else {
                        0
                    },
                    num_subjects: index.subjects.len() as u64,
                    consumer_count: scan.consumer_files.len() as u64,
                });
                parsed_index_last = Some(index.last_seq);
                match index_db_trust(&index, &scan.blocks) {
                    Ok(()) => trusted = Some(index),
                    Err(reason) => {
                        backup.findings.push(
                            Finding::warning(
                                FindingKind::IndexDbStale,
                                format!("index.db is not used ({reason}); deletions made through limits (max_msgs, max_bytes, KV history, max_age) cannot be seen from blocks alone"),
                            )
                            .entry("msgs/index.db")
                            .offset(scan.index_db_entry_offset),
                        );
                        untrusted = Some(index);
                    }
                }
            }
            Err(reason) => backup.findings.push(
                Finding::error(
                    FindingKind::IndexDb,
                    format!("index.db cannot be used: {reason}"),
                )
                .entry("msgs/index.db")
                .offset(scan.index_db_entry_offset),
            ),
        }
    } else if !scan.blocks.is_empty() {
        backup.findings.push(
            Finding::info(FindingKind::IndexDb, "no msgs/index.db: state rebuilt from blocks; deletions made through limits cannot be seen")
                .entry("msgs/index.db"),
        );
    }
    (trusted, untrusted, parsed_index_last)
}

fn load_legacy_idx(backup: &mut Backup, scan: &mut Scan) -> FxHashMap<u64, LegacyIdx> {
    let mut legacy: FxHashMap<u64, LegacyIdx> = FxHashMap::default();
    for (block_index, raw) in std::mem::take(&mut scan.legacy_idx) {
        let entry = format!("msgs/{block_index}.idx");
        match legacy_idx::parse_legacy_idx(&raw) {
            Ok(idx) => {
                let matches = match scan.blocks.get(&block_index) {
                    Some((len, last8)) => {
                        *last8 == idx.last_checksum || (*len == 0 && idx.msgs == 0)
                    }
                    None => false,
                };
                if matches {
                    legacy.insert(block_index, idx);
                } else {
                    backup.findings.push(
                            Finding::warning(FindingKind::IndexDbStale, format!("{entry} does not match its block: the block's deletes are rebuilt from records"))
                                .entry(entry),
                        );
                }
            }
            Err(reason) => backup.findings.push(
                Finding::warning(FindingKind::IndexDb, format!("{entry}: {reason}")).entry(entry),
            ),
        }
    }
    legacy
}

/// Liveness without a trusted index.db (format document §5.7): (first, last) sequence.
fn untrusted_bounds(
    backup: &Backup,
    scan: &Scan,
    parsed_index_last: Option<u64>,
    legacy: &FxHashMap<u64, LegacyIdx>,
) -> (u64, u64) {
    // blocks show (it writes a tombstone there), so sequences are not reused.
    let last = scan
        .highest_seq_seen
        .max(scan.tombstones.iter().copied().max().unwrap_or(0))
        .max(parsed_index_last.unwrap_or(0))
        .max(legacy.values().map(|idx| idx.last_seq).max().unwrap_or(0));
    let first = backup
        .messages
        .seq
        .iter()
        .copied()
        .filter(|seq| !scan.tombstones.contains(seq) && !scan.erased.contains(seq))
        .min()
        .unwrap_or(if last == 0 { 0 } else { last.saturating_add(1) });
    (first, last)
}

/// Which message rows are live: in range, not tombstoned or erased, not deleted
/// by the index, and the first copy of their sequence.
fn live_rows(
    backup: &Backup,
    scan: &Scan,
    trusted: Option<&IndexDb>,
    legacy: &FxHashMap<u64, LegacyIdx>,
    (first_seq, last_seq): (u64, u64),
) -> Vec<bool> {
    let block_map: FxHashMap<u64, &index_db::IndexBlock> = trusted
        .map(|index| {
            index
                .blocks
                .iter()
                .map(|block| (block.index, block))
                .collect()
        })
        .unwrap_or_default();
    let mut keep = vec![false; backup.messages.len()];
    // Sequences normally ascend through the blocks; only when they do not is a set needed
    // to keep the first copy of a sequence.
    let mut highest_kept = 0u64;
    let mut seen: Option<FxHashSet<u64>> = None;
    for (row, keep_row) in keep.iter_mut().enumerate() {
        let seq = backup.messages.seq[row];
        if seq < first_seq
            || seq > last_seq
            || scan.tombstones.contains(&seq)
            || scan.erased.contains(&seq)
        {
            continue;
        }
        if trusted.is_none() {
            let block_index = scan.row_block.get(row).copied().unwrap_or(0);
            if let Some(idx) = legacy.get(&block_index) {
                if seq < idx.first_seq
                    || seq > idx.last_seq
                    || idx.deleted.binary_search(&seq).is_ok()
                {
                    continue;
                }
            }
        }
        if trusted.is_some() {
            let block_index = scan.row_block.get(row).copied().unwrap_or(0);
            let Some(block) = block_map.get(&block_index) else {
                continue;
            };
            if seq < block.first_seq
                || seq > block.last_seq
                || block.deleted.binary_search(&seq).is_ok()
            {
                continue;
            }
        }
        if seq <= highest_kept {
            let set = seen.get_or_insert_with(|| {
                backup.messages.seq[..row]
                    .iter()
                    .copied()
                    .filter(|&earlier| earlier <= highest_kept)
                    .collect()
            });
            if !set.insert(seq) {
                continue;
            }
        } else if let Some(set) = seen.as_mut() {
            set.insert(seq);
        }
        highest_kept = highest_kept.max(seq);
        *keep_row = true;
    }
    keep
}

/// Rebuilding a block without a usable index, the server cuts it at the first bad record.
fn warn_server_truncation(backup: &mut Backup, scan: &Scan) {
    // Rebuilding a block without a usable index, the server cuts it at the first bad record.
    for (&block_index, &(bad_at, block_end)) in &scan.block_first_bad {
        let after: Vec<u64> = (0..backup.messages.len())
            .filter(|&row| {
                let offset = backup.messages.offset(row);
                offset > bad_at && offset < block_end
            })
            .map(|row| backup.messages.seq[row])
            .collect();
        if let (Some(first), Some(last)) = (after.first(), after.last()) {
            backup.findings.push(
                    Finding::warning(
                        FindingKind::BlockRecord,
                        format!(
                            "without a usable index.db, nats-server rebuilds msgs/{block_index}.blk and truncates it at its first bad record: restoring this archive as it is loses {} intact messages ({first}..{last}); `export --salvage` keeps them",
                            after.len()
                        ),
                    )
                    .entry(format!("msgs/{block_index}.blk"))
                    .seq(*first)
                    .offset(bad_at),
                );
        }
    }
}
