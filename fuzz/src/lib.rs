//! Fuzz entry points over jsbackup's parsers, shared by the cargo-fuzz targets,
//! the std-only `mutate` driver and `tests/fuzz_regressions.rs`.

pub mod entries;
