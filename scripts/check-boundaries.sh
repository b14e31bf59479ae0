#!/usr/bin/env bash
# The crate boundaries ARCHITECTURE.md promises, checked on every test run:
# - the api stays thin: it links neither the storage nor the Wasmtime stack;
# - roles never depend on each other (normal dependencies; tests live in e2e);
# - protocol depends on no crate of ours; the client and the CLI on protocol
#   and the client only;
# - NATS headers and subjects are spelled only in protocol (service sources;
#   tests spell them on purpose, as a client would).
set -euo pipefail
cd "$(dirname "$0")/.."
fail() { echo "boundary check: $*" >&2; exit 1; }

deps() { cargo tree -p "$1" -e normal --prefix none --format '{p}' | sed 's/ .*//' | sort -u; }

deps faas-api | grep -qxE 'wasmtime|aws-sdk-s3' \
  && fail "faas-api must not depend on wasmtime or aws-sdk-s3"
for role in faas-api faas-dispatcher faas-executor; do
  others=$(deps "$role" | grep -xE 'faas-(api|dispatcher|executor)' | grep -vx "$role" || true)
  [ -z "$others" ] || fail "$role depends on another role: $others"
done
ours=$(deps faas-protocol | grep -E '^faas-' | grep -vx faas-protocol || true)
[ -z "$ours" ] || fail "faas-protocol depends on crates of ours: $ours"
for tool in faas-client faas-cli; do
  ours=$(deps "$tool" | grep -E '^faas-' | grep -vxE "$tool|faas-protocol|faas-client" || true)
  [ -z "$ours" ] || fail "$tool may depend only on faas-protocol and faas-client: $ours"
done

sources=(api/src bus/src dispatcher/src engine/src executor/src storage/src)
if grep -rnE '"(Faas|Nats|KV)-[A-Za-z-]+"' "${sources[@]}"; then
  fail "header names belong in protocol/src/headers.rs"
fi
if grep -rnE '"[^"]*\.(exec|jobs|results|deadletter|callbacks|admin|ping|metrics|pipeline|errors|audit|logs)\.[^"]*"' "${sources[@]}"; then
  fail "subjects are spelled in protocol/src/subjects.rs"
fi
