//! Bytes a tar resync skipped outside any block: searched for records with the
//! checksum key of the block they most likely belong to.

use super::{MemberLoop, Orphan};
use crate::model::{Backup, Finding, FindingKind};
use crate::ops::scan::v1_blocks::{block_key, scan_block_rest, Block};
use crate::ops::scan::Scan;

impl MemberLoop {
    /// Searches bytes skipped outside any block for records, with the checksum key of
    /// the block they most likely belong to: the one before the block whose header
    /// followed them, else the first block index.db or a block header names, else 1.
    pub(super) fn adopt_orphan(
        &mut self,
        backup: &mut Backup,
        scan: &mut Scan,
        next_block: Option<u64>,
    ) {
        let Some(Orphan {
            offset,
            bytes,
            tried,
            reword,
        }) = self.orphan.take()
        else {
            return;
        };
        let first_seen = scan.blocks.keys().next().copied();
        let last_seen = scan.blocks.keys().next_back().copied();
        let mut candidates: Vec<u64> = Vec::new();
        if let Some(next) = next_block.filter(|&next| next > 1) {
            candidates.push(next - 1);
        }
        // The block after the last one read (its header lost, and nothing after it
        // names a block: index.db, or the end of the archive).
        candidates.extend(last_seen.and_then(|last| last.checked_add(1)));
        candidates.extend(first_seen);
        candidates.push(1);
        let mut seen = std::collections::BTreeSet::new();
        candidates.retain(|&index| seen.insert(index));
        // Records the tried key verifies were taken already.
        candidates.retain(|&index| Some(index) != tried);
        {
            let orphan = (offset, bytes);
            for index in candidates {
                let key = block_key(backup, self.stream_key_name.as_deref(), index);
                let entry = format!("msgs/{index}.blk");
                let block = Block {
                    entry: &entry,
                    index,
                    data: &orphan.1,
                    data_offset: orphan.0,
                    key: &key,
                    cut_short: false,
                    padded: true,
                };
                let before = backup.messages.len();
                let known = scan.blocks.get(&index).copied();
                scan_block_rest(backup, scan, &block);
                if known.is_none() {
                    // Only a real block member sets the block's length and last checksum.
                    scan.blocks.remove(&index);
                }
                let recovered = backup.messages.len() - before;
                if recovered > 0 {
                    backup.findings.push(
                        Finding::error(
                            FindingKind::LostData,
                            format!("the tar header of {entry} is lost: {recovered} of its message(s) recovered from the bytes after it by their checksums"),
                        )
                        .entry(entry.clone())
                        .offset(orphan.0),
                    );
                    if let Some((at, message)) = reword {
                        backup.findings.reword(at, message);
                    }
                    break;
                }
            }
        }
    }
}
