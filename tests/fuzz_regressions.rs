//! Fuzz regressions and a short mutation smoke that CI runs.
//!
//! - Every file in `tests/fuzz_corpus/` is named `<target>-<short name>` and is
//!   replayed through that target's entry point (`fuzz/src/entries.rs`): it must
//!   not panic and must return within a time limit.
//! - A few thousand deterministic mutations of the real fixtures go through
//!   `scan_stream` (v1 and v2, decompressed and raw S2).
//!
//! Ignored helpers: `write_fuzz_seeds` fills `fuzz/corpus/` for cargo-fuzz, and
//! `long_mutation_run` runs `FUZZ_ITERATIONS` mutations per fixture (default 100000).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is a failed test

mod common;

#[path = "../fuzz/src/entries.rs"]
mod entries;

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A replayed input slower than this (debug build) counts as a hang: the corpus
/// files are small, and a fixed parser handles each in milliseconds.
const REPLAY_LIMIT: Duration = Duration::from_secs(5);

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_corpus")
}

/// The target a corpus file belongs to: the longest target name followed by `-`.
fn target_of(file_name: &str) -> Option<&'static str> {
    entries::TARGETS
        .iter()
        .copied()
        .filter(|target| {
            file_name
                .strip_prefix(target)
                .is_some_and(|rest| rest.starts_with('-'))
        })
        .max_by_key(|target| target.len())
}

/// Runs `target` on `data` on its own thread; `Err` names a panic or a hang.
fn run_bounded(target: &'static str, data: Vec<u8>, limit: Duration) -> Result<Duration, String> {
    let (sender, receiver) = mpsc::channel();
    let started = Instant::now();
    std::thread::Builder::new()
        .name(format!("fuzz-{target}"))
        .spawn(move || {
            let outcome = std::panic::catch_unwind(|| entries::run(target, &data));
            let _ = sender.send(outcome.is_ok());
        })
        .map_err(|error| format!("cannot spawn a thread: {error}"))?;
    match receiver.recv_timeout(limit) {
        Ok(true) => Ok(started.elapsed()),
        Ok(false) => Err("panicked".into()),
        Err(_) => Err(format!("did not return within {limit:?}")),
    }
}

#[test]
fn replay_fuzz_corpus() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .expect("tests/fuzz_corpus exists")
        .map(|entry| entry.expect("corpus entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    let mut failures = Vec::new();
    for path in &files {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if name.starts_with('.') || name.ends_with(".md") {
            continue;
        }
        let Some(target) = target_of(&name) else {
            failures.push(format!("{name}: no target named by the file"));
            continue;
        };
        let data = std::fs::read(path).expect("corpus file readable");
        match run_bounded(target, data, REPLAY_LIMIT) {
            Ok(elapsed) => eprintln!("{name}: ok in {elapsed:?}"),
            Err(reason) => failures.push(format!("{name} ({target}): {reason}")),
        }
    }
    assert!(
        failures.is_empty(),
        "fuzz regressions:\n{}",
        failures.join("\n")
    );
}

/// Larger decompressed archives are left to the cargo-fuzz targets.
const MAX_SMOKE_ARCHIVE_BYTES: usize = 1 << 20;

/// Decompressed archives and raw data files of the fixtures the smoke mutates.
struct Fixture {
    label: String,
    raw: Vec<u8>,
    /// Decompressed archive without the v2 magic (the `v2_entries` input shape).
    payload: Vec<u8>,
    is_v2: bool,
}

fn load_fixtures(groups: &[&str]) -> Vec<Fixture> {
    let mut out = Vec::new();
    for group in groups {
        for dir in common::all_fixtures(group) {
            let Some(data_file) = std::fs::read_dir(&dir)
                .expect("fixture dir")
                .map(|entry| entry.expect("entry").path())
                .find(|path| path.extension().is_some_and(|ext| ext == "s2"))
            else {
                continue;
            };
            let raw = std::fs::read(&data_file).expect("fixture data file");
            let decoded = entries::decode_all(&raw);
            // Multi-megabyte archives cost too much per mutation in a debug build.
            if decoded.len() > MAX_SMOKE_ARCHIVE_BYTES {
                continue;
            }
            let is_v2 = decoded.starts_with(b"NATSARC1");
            let payload = if is_v2 {
                decoded[8..].to_vec()
            } else {
                decoded
            };
            out.push(Fixture {
                label: format!(
                    "{group}/{}",
                    dir.file_name().unwrap_or_default().to_string_lossy()
                ),
                raw,
                payload,
                is_v2,
            });
        }
    }
    out
}

/// How many mutations of each fixture a run makes.
#[derive(Clone, Copy)]
enum Budget {
    /// The same count for every fixture.
    PerFixture(usize),
    /// About this many decompressed bytes per fixture (at least 8, at most 400 mutations):
    /// small fixtures get many mutations, large ones a few.
    Bytes(usize),
}

/// Mutates each fixture and scans the result; returns (mutations, failures).
fn mutation_run(fixtures: &[Fixture], budget: Budget, seed: u64) -> (usize, Vec<String>) {
    let mut failures = Vec::new();
    let mut mutations = 0;
    let mut mutator = entries::Mutator::new(seed);
    for (index, fixture) in fixtures.iter().enumerate() {
        let other = &fixtures[(index + 1) % fixtures.len()].payload;
        let count = match budget {
            Budget::PerFixture(count) => count,
            Budget::Bytes(bytes) => (bytes / fixture.payload.len().max(1)).clamp(8, 400),
        };
        mutations += count;
        for iteration in 0..count {
            // One in four mutates the raw S2 file (framing, compressed blocks).
            let (target, mut input, splice) = if iteration % 4 == 3 {
                ("scan_raw", fixture.raw.clone(), &fixture.raw)
            } else {
                let target = if fixture.is_v2 {
                    "v2_entries"
                } else {
                    "v1_tar"
                };
                let mut input = vec![(iteration % entries::CHUNK_SIZES.len()) as u8];
                input.extend_from_slice(&fixture.payload);
                (target, input, other)
            };
            let keep = usize::from(target != "scan_raw");
            let mut body = input.split_off(keep);
            mutator.mutate(&mut body, splice);
            input.extend_from_slice(&body);
            let outcome = std::panic::catch_unwind(|| entries::run(target, &input));
            if outcome.is_err() {
                let name = format!(
                    "{target}-smoke-{}-{iteration}",
                    fixture.label.replace('/', "-")
                );
                let saved = std::env::temp_dir().join(&name);
                let _ = std::fs::write(&saved, &input);
                failures.push(format!(
                    "{} iteration {iteration}: panic, input saved to {}",
                    fixture.label,
                    saved.display()
                ));
            }
        }
    }
    (mutations, failures)
}

/// Keeps CI short: decompressed bytes scanned per fixture in the debug-build smoke.
const SMOKE_BYTES_PER_FIXTURE: usize = 4 << 20;

#[test]
fn mutated_fixtures_do_not_panic() {
    let started = Instant::now();
    let fixtures = load_fixtures(&["v1", "v2", "v1-older", "corrupt"]);
    assert!(fixtures.iter().any(|fixture| fixture.is_v2));
    assert!(fixtures.iter().any(|fixture| !fixture.is_v2));
    let (mutations, failures) =
        mutation_run(&fixtures, Budget::Bytes(SMOKE_BYTES_PER_FIXTURE), 0x5eed);
    eprintln!(
        "{mutations} mutations of {} fixtures in {:?}",
        fixtures.len(),
        started.elapsed()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
#[ignore = "long run: FUZZ_ITERATIONS mutations per fixture"]
fn long_mutation_run() {
    let per_fixture = std::env::var("FUZZ_ITERATIONS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(100_000);
    let seed = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(1);
    let fixtures = load_fixtures(&["v1", "v2", "v1-older", "corrupt"]);
    let (_, failures) = mutation_run(&fixtures, Budget::PerFixture(per_fixture), seed);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
#[ignore = "writes fuzz/corpus/<target>/ seed files for cargo-fuzz"]
fn write_fuzz_seeds() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let seeds = entries::fixture_seeds(&common::shared_dir().join("fixtures"));
    for (target, name, data) in &seeds {
        let dir = corpus.join(target);
        std::fs::create_dir_all(&dir).expect("corpus dir");
        std::fs::write(dir.join(name), data).expect("seed written");
    }
    eprintln!("{} seeds written to {}", seeds.len(), corpus.display());
}
