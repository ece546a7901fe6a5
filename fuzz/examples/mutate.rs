//! A std-only fuzz driver for machines without libFuzzer: mutates the seed corpus
//! deterministically (xorshift) and runs one target, catching panics.
//!
//! Usage: cargo run --release --example mutate -- <target> <seconds> [seed]
//! Reads fuzz/corpus/<target>/, writes crashing inputs to fuzz/artifacts/<target>/.

use jsbackup_fuzz::entries::{run, Mutator};
use std::path::Path;
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let target = args.get(1).cloned().unwrap_or_default();
    let seconds: u64 = args.get(2).and_then(|text| text.parse().ok()).unwrap_or(60);
    let seed: u64 = args.get(3).and_then(|text| text.parse().ok()).unwrap_or(1);
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut corpus: Vec<Vec<u8>> = std::fs::read_dir(manifest.join("corpus").join(&target))
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|entry| std::fs::read(entry.path()).ok())
                .collect()
        })
        .unwrap_or_default();
    if corpus.is_empty() {
        corpus.push(Vec::new());
    }
    if !run(&target, &[]) {
        eprintln!("unknown target {target}");
        std::process::exit(2);
    }
    std::panic::set_hook(Box::new(|_| {}));
    let artifacts = manifest.join("artifacts").join(&target);
    let mut mutator = Mutator::new(seed);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut executions = 0u64;
    let mut crashes = 0u64;
    let mut slowest = Duration::ZERO;
    while Instant::now() < deadline {
        let base = &corpus[mutator.below(corpus.len())];
        let other = &corpus[mutator.below(corpus.len())];
        let mut input = base.clone();
        mutator.mutate(&mut input, other);
        let started = Instant::now();
        let outcome = std::panic::catch_unwind(|| run(&target, &input));
        slowest = slowest.max(started.elapsed());
        executions += 1;
        if outcome.is_err() {
            crashes += 1;
            let _ = std::fs::create_dir_all(&artifacts);
            let _ = std::fs::write(artifacts.join(format!("crash-{seed}-{executions}")), &input);
        }
    }
    println!(
        "{target}: {executions} executions in {seconds} s, {crashes} crashes, slowest {:.1} ms",
        slowest.as_secs_f64() * 1000.0
    );
}
