//! Members whose headers lie inside the declared bytes of the block before them:
//! bytes of that block were lost upstream (an S2 chunk removed, say), so its
//! declared size ran on into the members after it. Their bytes are already read:
//! they are filed from memory, and the rest of the last one, which goes on in the
//! stream, is recovered by the resync after the next (bad) header.

use super::{block_index_of, cut_short, member_use, MemberLoop, MemberUse};
use crate::format::headers::flags;
use crate::format::tar::{held_member, HeldMember, TarHeader};
use crate::model::{Backup, Finding, FindingKind};
use crate::ops::scan::Scan;

/// A v1 record ends in its HighwayHash-64 checksum.
const RECORD_HASH_LEN: u64 = 8;

/// Members followed inside one block's bytes (a crafted archive can hold many).
const MAX_HELD: usize = 4096;
/// Valid header blocks tried inside one block's bytes (most are members; a tar
/// inside some payload names other files).
const MAX_CANDIDATES: usize = 1024;

impl MemberLoop {
    /// Files the members found in `data[from..]`, the unreadable tail of the block
    /// `outer`. Each byte is searched once.
    pub(super) fn file_held_members(
        &mut self,
        backup: &mut Backup,
        scan: &mut Scan,
        outer: (&str, &TarHeader),
        data: &[u8],
        from: usize,
    ) {
        let (outer_name, outer_header) = outer;
        let base = outer_header.data_offset;
        let mut at = from;
        let mut told = false;
        let mut candidates = MAX_CANDIDATES;
        for _ in 0..MAX_HELD {
            let Some(member) = next_snapshot_member(data, at, base, &mut candidates) else {
                return;
            };
            let name = member.name.clone();
            let header = TarHeader {
                name: name.clone(),
                size: member.size,
                typeflag: member.typeflag,
                header_offset: base + member.header_at as u64,
                data_offset: base + member.data_at as u64,
            };
            if !told {
                told = true;
                backup.findings.push(
                    Finding::error(
                        FindingKind::LostData,
                        format!(
                            "the tar header of {name} lies at decompressed offset {}, inside the {} bytes {outer_name} declares: bytes of {outer_name} were lost upstream; reading goes on from that header",
                            header.header_offset, outer_header.size
                        ),
                    )
                    .entry(outer_name.to_string())
                    .offset(header.header_offset),
                );
            }
            let end = usize::try_from(member.size)
                .ok()
                .and_then(|size| member.data_at.checked_add(size))
                .map_or(data.len(), |end| end.min(data.len()));
            let bytes = data.get(member.data_at..end).unwrap_or_default();
            let whole = bytes.len() as u64 == member.size;
            if matches!(member_use(&name), MemberUse::Skip) {
                at = member.next_header_at();
                continue;
            }
            if !whole && block_index_of(&name).is_none() {
                backup.findings.push(cut_short(&name, &header, bytes.len()));
                return;
            }
            // A block read in part: the resync after the bad header at the outer
            // block's declared end joins its tail to the bytes after it.
            self.store_member(backup, scan, &name, &header, bytes, true);
            // The resync after the bad header at the outer block's end looks back a
            // little: never as far as a header filed here.
            self.last_data_offset = self.last_data_offset.max(header.data_offset);
            if !whole {
                return;
            }
            // A block that itself lost bytes holds the next header inside it.
            at = match &self.block_tail {
                Some(tail) if block_index_of(&name).is_some() && !tail.bytes.is_empty() => {
                    usize::try_from(tail.offset - base).unwrap_or(usize::MAX)
                }
                _ => member.next_header_at(),
            };
        }
    }
}

/// The next header in `data` from `at` that names a member of a stream snapshot
/// (a tar held in some payload names other files), its name with `/` separators.
fn next_snapshot_member(
    data: &[u8],
    mut at: usize,
    base: u64,
    candidates: &mut usize,
) -> Option<HeldMember> {
    loop {
        let mut member = held_member(data, at, base, candidates)?;
        member.name = member.name.replace('\\', "/");
        if !matches!(member_use(&member.name), MemberUse::Unexpected) {
            return Some(member);
        }
        at = member.header_at + 1;
    }
}

/// Where the last record that verified, of the rows from `first_row` on, ends
/// (relative to `data_offset`, the block's first byte); 0 when none did.
pub(super) fn last_trusted_end(backup: &Backup, first_row: usize, data_offset: u64) -> usize {
    (first_row..backup.messages.len())
        .filter(|&row| backup.messages.flags(row) & flags::UNTRUSTED == 0)
        .filter_map(|row| backup.messages.row(row))
        .map(|message| {
            // Headers and data, then the record's 8-byte checksum.
            let end = message.offset
                + u64::from(message.hdr_len)
                + u64::from(message.data_len)
                + RECORD_HASH_LEN;
            usize::try_from(end.saturating_sub(data_offset)).unwrap_or(usize::MAX)
        })
        .max()
        .unwrap_or(0)
}
