#!/usr/bin/env bash
# Property-based tests of the HTTP API (`eventdeck serve`) against api/openapi.yaml with
# schemathesis, pinned with every dependency in scripts/schemathesis-requirements.txt and
# installed once into a virtualenv under $EVENTDECK_TOOLS (default ~/.cache/eventdeck/tools).
#
#   bash scripts/schemathesis.sh --install               # installs; prints the `st` path only
#   bash scripts/schemathesis.sh run SPEC URL TOKEN      # one bounded run; exit status = st's
#
# `run` is exactly this command (schemathesis 4.32.5), against a server already listening:
#
#   timeout -k 10 600 "$ST" run SPEC --url http://127.0.0.1:PORT \
#     --header 'Authorization: Bearer TOKEN' \
#     --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance \
#     --phases examples,coverage,fuzzing,stateful --max-examples 25 \
#     --workers 1 --request-timeout 10 --generation-database none --no-color
#
#   --checks        5xx fails; every response body must match the documented schema of its
#                   status and content type; the status must be one the operation documents;
#                   the Content-Type must be one documented for that status.
#   --phases        examples (the schema's examples), coverage (boundary and invalid values of
#                   each field: 4000/4001 characters, missing fields, wrong types, …), fuzzing
#                   (random valid and invalid inputs), stateful (POST then GET/PATCH/DELETE of
#                   the created id, following the document's links: reaches 200 and 409).
#   --max-examples  at most 25 generated cases per operation in fuzzing (and per scenario in
#                   stateful).
#   --workers 1     one request at a time: reproducible order, no load on the server.
#   --request-timeout  a request that takes over 10 s fails the run instead of hanging it.
#   --generation-database none  no .hypothesis/ directory left in the working directory.
#   timeout -k 10 600  the hard bound: 10 minutes for the whole run (exit 124 past it).
#
# Against a stand-in server that follows the rules of api/openapi.yaml, this sends ~500
# requests in about 30 s (install: ~10 s, once).
set -euo pipefail

VERSION=4.32.5
here="$(cd "$(dirname "$0")" && pwd)"
requirements="$here/schemathesis-requirements.txt"
tools="${EVENTDECK_TOOLS:-$HOME/.cache/eventdeck/tools}"
venv="$tools/schemathesis-$VERSION"

usage() {
  sed -n '6,7p' "$0" >&2
  exit 2
}

# install: creates the virtualenv once (again when the pins change) and prints st's path.
install() {
  local stamp want
  want=$(sha256sum "$requirements" | cut -d' ' -f1)
  stamp="$venv/.requirements.sha256"
  if [ -x "$venv/bin/st" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    echo "$venv/bin/st"
    return 0
  fi
  echo "== installing schemathesis $VERSION into $venv" >&2
  # Debian's python3 has no venv/ensurepip without python3-venv.
  if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
      echo "== installing python3-venv" >&2
      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv) >&2 ||
        return 1
    else
      echo "python3 has no venv module: install python3-venv" >&2
      return 1
    fi
  fi
  mkdir -p "$tools"
  # The stamp, written last, marks a complete install: without it the venv is built anew.
  rm -rf "$venv"
  python3 -m venv "$venv" >&2 || return 1
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
    --no-deps -r "$requirements" >&2 || return 1
  "$venv/bin/python" -m pip check --disable-pip-version-check >&2 || return 1
  "$venv/bin/st" --version >&2 || return 1
  echo "$want" >"$stamp"
  echo "$venv/bin/st"
}

case "${1:-}" in
  --install)
    install
    ;;
  run)
    [ $# -eq 4 ] || usage
    spec=$2 url=$3 token=$4
    st=$(install)
    set +e
    timeout -k 10 600 "$st" run "$spec" --url "$url" \
      --header "Authorization: Bearer $token" \
      --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance \
      --phases examples,coverage,fuzzing,stateful --max-examples 25 \
      --workers 1 --request-timeout 10 --generation-database none --no-color
    status=$?
    set -e
    exit "$status"
    ;;
  *)
    usage
    ;;
esac
