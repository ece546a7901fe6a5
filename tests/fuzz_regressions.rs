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

use common::hostile::{self, S2Out};
use jsbackup::format::hash::Hh64Key;

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
    let mut seeds = entries::fixture_seeds(&common::shared_dir().join("fixtures"));
    seeds.extend(hostile_seeds());
    seeds.extend(regression_seeds());
    for (target, name, data) in &seeds {
        let dir = corpus.join(target);
        std::fs::create_dir_all(&dir).expect("corpus dir");
        std::fs::write(dir.join(name), data).expect("seed written");
    }
    eprintln!("{} seeds written to {}", seeds.len(), corpus.display());
}

/// The crafted inputs of issue 11 (tests/hostile.rs, tests/hostile_resync.rs) in
/// each target's input shape, scaled down to fit the `-max_len` of fuzz/README.md
/// (fewer repeats, members just over the caps where the bytes allow, same shape).
fn hostile_seeds() -> Vec<(String, String, Vec<u8>)> {
    let mut seeds = Vec::new();
    let mut add = |target: &str, name: &str, data: Vec<u8>| {
        seeds.push((target.to_string(), format!("hostile-{name}"), data));
    };
    // Raw S2 files (s2_frames, scan_raw; max_len 512 KiB): periodic blocks are a
    // few bytes per 4 MiB, so the decompressed sizes can pass the caps.
    let s2 = |build: &dyn Fn(&mut S2Out)| {
        let mut out = S2Out::new();
        build(&mut out);
        out.into_bytes()
    };
    let raw: Vec<(&str, Vec<u8>)> = vec![
        (
            "v2-seq0-entries-200k",
            s2(&|out| hostile::v2_seq_zero(out, false, 200_000)),
        ),
        (
            "v2-seq0-consumers-200k",
            s2(&|out| hostile::v2_seq_zero(out, true, 200_000)),
        ),
        // The .idx cap is 4 MiB, the consumer JSON cap 8 MiB, the PAX path cap 4 KiB.
        (
            "v1-big-idx-6x5m",
            s2(&|out| hostile::v1_big_idx(out, 6, 5 << 20)),
        ),
        (
            "v1-pax-paths-30x8k",
            s2(&|out| hostile::v1_pax_paths(out, 30, 8 << 10)),
        ),
        (
            "v1-pax-paths-4x1m",
            s2(&|out| hostile::v1_pax_paths(out, 4, 1 << 20)),
        ),
        (
            "v1-big-consumers-3x9m",
            s2(&|out| hostile::v1_big_consumers(out, 3, 9 << 20)),
        ),
        (
            "v1-wide-delete-map-1mi",
            s2(&|out| hostile::v1_wide_delete_map(out, 1 << 20)),
        ),
        (
            "v2-gaps-flags-dups",
            s2(&|out| hostile::v2_gaps_flags_duplicates(out)),
        ),
        (
            "claimed-chunks-256k",
            hostile::claimed_chunks_everywhere(256 << 10),
        ),
        ("undecodable-chunks-2560", hostile::undecodable_chunks(2560)),
    ];
    for (name, data) in raw {
        add("s2_frames", name, data.clone());
        add("scan_raw", name, data);
    }
    // Decompressed archives (v1_tar, v2_entries; max_len 1 MiB): selector byte 0
    // (64 KiB chunks) and 3 (511-byte chunks), then the archive (v2 without its magic).
    let plain = |build: &dyn Fn(&mut S2Out)| {
        let mut out = S2Out::plain();
        build(&mut out);
        let plain = out.into_bytes();
        // Plain mode writes exactly what the framed archive decompresses to.
        assert_eq!(entries::decode_all(&s2(build)), plain, "plain != framed");
        plain
    };
    let tar: Vec<(&str, &str, Vec<u8>)> = vec![
        (
            "v2_entries",
            "v2-seq0-entries-50k",
            plain(&|out| hostile::v2_seq_zero(out, false, 50_000)),
        ),
        (
            "v2_entries",
            "v2-seq0-consumers-20k",
            plain(&|out| hostile::v2_seq_zero(out, true, 20_000)),
        ),
        (
            "v2_entries",
            "v2-gaps-flags-dups",
            plain(&|out| hostile::v2_gaps_flags_duplicates(out)),
        ),
        (
            "v1_tar",
            "v1-big-idx-3x128k",
            plain(&|out| hostile::v1_big_idx(out, 3, 128 << 10)),
        ),
        (
            "v1_tar",
            "v1-pax-paths-20x8k",
            plain(&|out| hostile::v1_pax_paths(out, 20, 8 << 10)),
        ),
        (
            "v1_tar",
            "v1-big-consumers-4x64k",
            plain(&|out| hostile::v1_big_consumers(out, 4, 64 << 10)),
        ),
        (
            "v1_tar",
            "v1-wide-delete-map-64ki",
            plain(&|out| hostile::v1_wide_delete_map(out, 64 << 10)),
        ),
    ];
    for (target, name, archive) in tar {
        let body = if target == "v2_entries" {
            &archive[8..]
        } else {
            &archive[..]
        };
        for selector in [0u8, 3] {
            let mut input = vec![selector];
            input.extend_from_slice(body);
            add(target, &format!("{name}-{selector}"), input);
        }
    }
    // index.db and its delete map (max_len 64 KiB): 32 and 96 nodes of 2,048 sequences.
    for span in [64u64 << 10, 192 << 10] {
        let db = hostile::index_db_wide_delete_map(span);
        let name = format!("wide-delete-map-{}ki", span >> 10);
        // The targets key the checksum with stream "ORDERS" (entries::index_db).
        let body = &db[..db.len() - 8];
        let mut stored = body.to_vec();
        stored.extend_from_slice(&Hh64Key::new("ORDERS").sum(&[body]));
        add("index_db_fixed", &name, body.to_vec());
        add("index_db", &name, stored);
        add("seqset", &name, hostile::seqset_all_deleted(span));
    }
    seeds
}

/// The kept regressions (tests/fuzz_corpus) as seeds of their own targets.
fn regression_seeds() -> Vec<(String, String, Vec<u8>)> {
    let mut seeds = Vec::new();
    for entry in std::fs::read_dir(corpus_dir()).expect("tests/fuzz_corpus exists") {
        let path = entry.expect("corpus entry").path();
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if let Some(target) = target_of(&name) {
            let data = std::fs::read(&path).expect("corpus file readable");
            seeds.push((target.to_string(), format!("regression-{name}"), data));
        }
    }
    seeds
}
