//! Pure parsing (and encoding) of backup bytes: S2 framing, v1 tar + filestore,
//! v2 NATSARC1, headers and TTL. No threads, no UI, no printing; never panics on input.

pub mod filestore;
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
