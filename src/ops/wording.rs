//! How counts and sequence ranges are written in findings, explanations and
//! reports, the same way everywhere.

/// 12,349 (digits grouped, as the UI shows counts); the model's findings group
/// them the same way.
pub use crate::model::findings::group_thousands as group;

/// The verb for a list of sequence ranges: one sequence is, more are.
pub fn is_or_are(ranges: &[(u64, u64)]) -> &'static str {
    match ranges {
        [(from, to)] if from == to => "is",
        _ => "are",
    }
}

/// "12349–18504, 20001" (sequence numbers as every view prints them; at most 8
/// ranges, then how many there are in all).
pub fn ranges_text(ranges: &[(u64, u64)]) -> String {
    let mut shown: Vec<String> = ranges
        .iter()
        .take(8)
        .map(|&(from, to)| {
            if from == to {
                from.to_string()
            } else {
                format!("{from}–{to}")
            }
        })
        .collect();
    if ranges.len() > 8 {
        shown.push(format!("… ({} ranges in all)", group(ranges.len() as u64)));
    }
    shown.join(", ")
}

/// Where bytes of a failed S2 chunk lie and why they are not trusted: "in the S2
/// chunk at file offset F (decompressed A..B), which fails its CRC: …".
pub fn failed_chunk_text(chunk: &crate::format::s2::ChunkRecord) -> String {
    format!(
        "in the S2 chunk at file offset {} (decompressed {}..{}), which {}",
        chunk.file_offset,
        chunk.decompressed_offset,
        chunk.decompressed_end(),
        if chunk.status == crate::format::s2::ChunkStatus::CrcMismatch {
            "fails its CRC: they decode, but nothing proves they are the original bytes"
        } else {
            "could not be decoded"
        }
    )
}

/// An intact chunk whose length shows bytes inserted or deleted (`block`: the
/// writer's block size), as findings and reasons name it.
pub fn changed_chunk_text(chunk: &crate::format::s2::ChunkRecord, block: u32) -> String {
    format!(
        "the S2 chunk at file offset {}, which decodes to {} bytes where the writer makes {}",
        chunk.file_offset,
        group(u64::from(chunk.decompressed_len)),
        group(u64::from(block))
    )
}

/// Why the chunks of an object whose SHA-256 disagrees are suspect (`one`: said
/// of one chunk, else of the group).
pub fn object_suspect_text(object: &crate::model::ObjectSuspect, one: bool) -> String {
    format!(
        "{} the chunks of object {:?} (meta seq {}), whose SHA-256 differs from its meta message although their count and size agree: one of them holds changed bytes nothing else shows",
        if one { "it is one of" } else { "they are" },
        object.name,
        object.meta_seq
    )
}

/// Deletions that may come back without a name (v1: tombstones and index.db lost),
/// as the dialogs, the pre-flight and the report say it.
pub fn unnamed_deletes_text(unnamed: &crate::model::UnnamedDeletes) -> String {
    format!("{}: they are kept", unnamed_deletes_why(unnamed))
}

/// How many, where, and what bounds the count.
pub fn unnamed_deletes_why(unnamed: &crate::model::UnnamedDeletes) -> String {
    let bound = match unnamed.declared_deleted {
        Some(declared) => format!(
            "backup.json counts {} deleted, the archive shows {}",
            group(declared),
            group(unnamed.shown_deleted)
        ),
        None => "no backup.json says how many were deleted".to_string(),
    };
    format!(
        "up to {} of the {} message(s) at sequences {}–{} may have been deleted, but which ones cannot be told (their tombstones may have been in damaged block bytes, and index.db is lost; {bound})",
        group(unnamed.at_most),
        group(unnamed.candidates),
        unnamed.first_seq,
        unnamed.last_seq,
    )
}

/// The text with its first letter in upper case.
pub fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
