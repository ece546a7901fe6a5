#!/bin/sh
# Runs every fuzz target one after another (one job each) for SECONDS seconds with
# the seeds in fuzz/corpus/<target>/ (write them first: see README.md), and prints
# one results row per target. Logs: $LOGS/<target>.log (default /tmp/jsbackup-fuzz).
# Usage: fuzz/run_all.sh [SECONDS] [TARGET...]
#   NO_BUILD=1: use the built binaries; TIMEOUT=N: libFuzzer -timeout (default 10 s,
#   wall clock: on a loaded machine a 3 s unit can pass 10 s)
set -u
cd "$(dirname "$0")"
SECONDS_PER_TARGET=${1:-180}
[ $# -gt 0 ] && shift
TARGETS=${*:-"s2_frames scan_raw v1_tar v2_entries block_records index_db index_db_fixed odat seqset headers_ttl"}
LOGS=${LOGS:-/tmp/jsbackup-fuzz}
mkdir -p "$LOGS"
max_len() {
    case $1 in
        s2_frames|scan_raw) echo 524288 ;;
        v1_tar|v2_entries) echo 1048576 ;;
        block_records) echo 262144 ;;
        headers_ttl) echo 4096 ;;
        *) echo 65536 ;;
    esac
}
unset CARGO_TARGET_DIR
# Build once, then run the binaries: sources edited during a run do not rebuild it.
if [ -z "${NO_BUILD:-}" ]; then
    RUSTC_BOOTSTRAP=1 nice -n 10 cargo fuzz build -s none -O || exit 1
fi
BIN=target/x86_64-unknown-linux-gnu/release
echo "| target | seconds | executions | exec/s | corpus | findings |"
echo "|---|---|---|---|---|---|"
for target in $TARGETS; do
    log="$LOGS/$target.log"
    mkdir -p "corpus/$target"
    start=$(date +%s)
    mkdir -p "artifacts/$target"
    nice -n 10 "$BIN/$target" -artifact_prefix="artifacts/$target/" \
        -rss_limit_mb=2048 -timeout="${TIMEOUT:-10}" -max_len="$(max_len "$target")" \
        -max_total_time="$SECONDS_PER_TARGET" -print_final_stats=1 "corpus/$target" >"$log" 2>&1
    code=$?
    took=$(( $(date +%s) - start ))
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    corpus=$(ls "corpus/$target" | wc -l)
    found=$(grep -E "^==[0-9]+== ERROR|ALARM: working on the last Unit|out-of-memory|deadly signal|panicked at" "$log" | head -2 | tr '\n' ' ')
    echo "| $target | $took | ${execs:-?} | ${rate:-?} | $corpus | ${found:-none} (exit $code) |"
done
