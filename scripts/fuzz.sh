#!/usr/bin/env bash
# Long runs of the property tests over hostile input (src/fuzz_tests.rs): the event parser,
# the search-query bodies, the local index's search and the configuration loader. The test
# command runs them with proptest's default number of cases: 256 per property, 64 for the
# loader and 51 for the local index (they write files). This runs CASES (default 100000; a
# quarter and a fifth of it for those two) until one fails or all pass.
# proptest saves a failing case under proptest-regressions/, which then replays first.
#
#   bash scripts/fuzz.sh            # 100,000 cases per property
#   CASES=1000000 bash scripts/fuzz.sh
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${CARGO_TARGET_DIR:-}" ] && [ -e target ]; then
  CARGO_TARGET_DIR=$(readlink -f target)
  export CARGO_TARGET_DIR
fi
export PROPTEST_CASES="${CASES:-100000}"
exec cargo test --release --lib fuzz_tests -- --test-threads=2
