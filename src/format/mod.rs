//! Pure parsing (and encoding) of backup bytes: S2 framing, v1 tar + filestore,
//! v2 NATSARC1, headers and TTL. No threads, no UI, no printing; never panics on input.

// Input bytes decide every offset here: a slice index that is out of range
// would be a panic on bad input, so indexing is checked (`get`, `split_at_checked`,
// `chunks_exact`) and the few proven-safe sites say why.
#![deny(clippy::indexing_slicing)]

pub mod filestore;
pub mod filestore_search;
pub mod filestore_write;
pub mod hash;
pub mod headers;
pub mod index_db;
pub mod legacy_idx;
pub mod s2;
pub mod s2_write;
pub mod tar;
pub mod v2;
pub mod varint;
pub mod write_v1;
pub mod write_v2;
