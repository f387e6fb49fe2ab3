#!/usr/bin/env bash
# Runs every test of eventdeck. Installs what the tests need from this repository's own pins
# (osmem-server and noida-db from PyPI, sha256-checked; tmux from Debian when missing), then
# `cargo test`. The tests start their own services: the embedded broker (tansu, in-process),
# osmem-server (Elasticsearch API) and noida-db (a second, external Kafka + Elasticsearch).
#
#   bash scripts/test.sh                      # everything
#   bash scripts/test.sh --test integration pipeline -- --test-threads=1   # args go to cargo test
#   eval "$(bash scripts/test.sh --install)"  # only install; prints the exports for cargo test
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/eventdeck/target}"
tools="${EVENTDECK_TOOLS:-$HOME/.cache/eventdeck/tools}"
mkdir -p "$tools"

# --- osmem-server 0.1.6: an OpenSearch/Elasticsearch-API server (Go binary in the wheel) ---
osmem_version=0.1.6
osmem_sha256=24c862de01ab1c6dd1564284933fdc4f774494a41e071676914f86d82fdbef40
osmem_wheel="osmem_server-${osmem_version}-py3-none-manylinux_2_17_x86_64.whl"
osmem_dir="$tools/osmem-$osmem_version"
osmem_bin="$osmem_dir/osmem_server/bin/osmem-server"
if [ ! -x "$osmem_bin" ]; then
  echo "== installing osmem-server $osmem_version" >&2
  rm -rf "$tools/download" && mkdir -p "$tools/download"
  python3 -m pip download --quiet --no-deps --only-binary=:all: \
    --platform manylinux_2_17_x86_64 --python-version 3.11 \
    "osmem-server==$osmem_version" -d "$tools/download"
  echo "$osmem_sha256  $tools/download/$osmem_wheel" | sha256sum -c --quiet
  rm -rf "$osmem_dir"
  python3 -m zipfile -e "$tools/download/$osmem_wheel" "$osmem_dir"
  chmod +x "$osmem_bin"
fi
export OSMEM_SERVER_BIN="$osmem_bin"

# --- noida-db 0.2.3: Kafka protocol + Elasticsearch API in one binary, the second cluster ---
noida_version=0.2.3
noida_sha256=40a2fb15567e3d344e7483df62bb439e7d64ac6fb232f4f223554aed58204f82
noida_wheel="noida_db-${noida_version}-py3-none-manylinux_2_17_x86_64.whl"
noida_dir="$tools/noida-$noida_version"
noida_bin="$noida_dir/noida_db/noida-db"
if [ ! -x "$noida_bin" ]; then
  echo "== installing noida-db $noida_version" >&2
  rm -rf "$tools/download" && mkdir -p "$tools/download"
  python3 -m pip download --quiet --no-deps --only-binary=:all: \
    --platform manylinux_2_17_x86_64 --python-version 3.11 \
    "noida-db==$noida_version" -d "$tools/download"
  echo "$noida_sha256  $tools/download/$noida_wheel" | sha256sum -c --quiet
  rm -rf "$noida_dir"
  python3 -m zipfile -e "$tools/download/$noida_wheel" "$noida_dir"
  chmod +x "$noida_bin"
fi
export NOIDA_DB_BIN="$noida_bin"

# --- tmux for the console's end-to-end test ---
if ! command -v tmux >/dev/null 2>&1; then
  echo "== installing tmux" >&2
  if [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tmux) >/dev/null || true
  fi
fi

if [ "${1:-}" = "--install" ]; then
  printf 'export OSMEM_SERVER_BIN=%q NOIDA_DB_BIN=%q CARGO_TARGET_DIR=%q\n' \
    "$OSMEM_SERVER_BIN" "$NOIDA_DB_BIN" "$CARGO_TARGET_DIR"
  exit 0
fi

echo "== cargo test (release profile, target dir $CARGO_TARGET_DIR)"
cargo test --release --all-targets "$@"
