#!/bin/bash
# Regenerates screenshots/*.png from the real fixtures, under Xvfb, with the
# app taking its own screenshot. One backup is taken here from a real
# nats-server 2.15.1 (non-ASCII subjects and consumer names, into
# target/screenshot-fixtures/, not committed): scripts/make_unicode_fixture.py
# with the venv and server binary scripts/test.sh installs (or
# $JSBACKUP_PYTHON, $JSBACKUP_NATS_SERVER_2_15).
# Usage: scripts/screenshots.sh [--release]
set -euo pipefail
cd "$(dirname "$0")/.."
profile=debug
if [[ "${1:-}" == "--release" ]]; then profile=release; cargo build --release --quiet; else cargo build --quiet; fi
bin="target/$profile/jsbackup"
shared="${JSBACKUP_SHARED:-$(cd .. && pwd)/shared}"
fixtures="$shared/fixtures"
mkdir -p screenshots
export WINIT_X11_SCALE_FACTOR=1 XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"

# One day after the v1/ttl snapshot, so EXPIRED rows are visible.
snapshot=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ttl"]["snapshot_time"])' "$fixtures/v1/ttl/expected.json")
next_day=$(python3 -c 'import sys,datetime; t=sys.argv[1].rstrip("Z"); d,f=(t.split(".")+["0"])[:2]; x=datetime.datetime.fromisoformat(d)+datetime.timedelta(days=1); print(x.strftime("%Y-%m-%dT%H:%M:%S")+"."+f+"Z")' "$snapshot")

shoot() {
  local out="$1"; shift
  timeout 120 xvfb-run -a -s "-screen 0 1280x800x24 -nolisten tcp" \
    sh -c 'xdotool mousemove 1279 799 2>/dev/null || true; exec "$@"' sh \
    "$bin" screenshot "$@" --size "${SIZE:-1280x800}" --out "screenshots/$out.png"
  local sd
  sd=$(/usr/bin/convert "screenshots/$out.png" -format '%[fx:standard_deviation]' info:)
  awk -v s="$sd" 'BEGIN{exit !(s>0.01)}' || { echo "screenshots/$out.png looks blank (sd $sd)"; exit 1; }
  echo "screenshots/$out.png (sd $sd)"
}

shoot overview  "$fixtures/v2/orders" --pane overview
shoot consumers "$fixtures/v2/orders" --pane consumers
shoot messages  "$fixtures/v1/ttl" --pane messages --now "$next_day" --select-seq 9
shoot findings  "$fixtures/corrupt/v1-blk-payload-flip" --pane findings
shoot damaged-overview "$fixtures/corrupt/v2-crc-mismatch" --pane overview
shoot restore   "$fixtures/v2/orders" --pane overview --dialog restore
shoot export    "$fixtures/v2/orders" --pane messages --dialog export
shoot light     "$fixtures/v2/orders" --pane messages --theme light --select-seq 21
shoot shortcuts "$fixtures/v2/orders" --pane overview --dialog shortcuts
SIZE=900x600 shoot small "$fixtures/v2/orders" --pane consumers
shoot filter    "$fixtures/v2/orders" --pane messages --select-seq 1965 --where 'subject ~ "orders.*.eu" and size > 150 and not kv delete'
# Wireshark-style linked panes: the chosen JSON field's bytes highlighted in the hex dump.
shoot hex-field "$fixtures/v2/orders" --pane messages --select-seq 501 --select-field amount

python="${JSBACKUP_PYTHON:-target/venv/bin/python}"
intl=target/screenshot-fixtures/intl
JSBACKUP_SHARED="$shared" "$python" scripts/make_unicode_fixture.py "$intl"
# seq 9 is café in NFD: the detail says so (seq 8 is the NFC one).
shoot unicode   "$intl" --pane messages --select-seq 9
shoot unicode-consumers "$intl" --pane consumers
