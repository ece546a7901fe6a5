//! Writes seed corpora for every target into `fuzz/corpus/<target>/` from the
//! real fixtures (`$JSBACKUP_SHARED/fixtures`, else `../../shared/fixtures`).
//! The same seeds come from `cargo test --test fuzz_regressions -- --ignored write_fuzz_seeds`.
//!
//! Usage: cargo run --release --example make_seeds [-- <fixtures dir> <corpus dir>]

use jsbackup_fuzz::entries::fixture_seeds;
use std::path::{Path, PathBuf};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let fixtures = args.get(1).map(PathBuf::from).unwrap_or_else(|| {
        std::env::var_os("JSBACKUP_SHARED")
            .map(|shared| PathBuf::from(shared).join("fixtures"))
            .unwrap_or_else(|| manifest.join("../../shared/fixtures"))
    });
    let corpus = args
        .get(2)
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest.join("corpus"));
    let seeds = fixture_seeds(&fixtures);
    for (target, name, data) in &seeds {
        let dir = corpus.join(target);
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::write(dir.join(name), data);
    }
    eprintln!("{} seeds written to {}", seeds.len(), corpus.display());
}
