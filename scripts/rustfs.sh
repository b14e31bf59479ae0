#!/usr/bin/env bash
# Opt-in, not part of scripts/test.sh: runs the storage conformance suite and
# every test against RustFS 1.0.1, the S3 server docker-compose uses, instead
# of the in-process s3s-fs server.
#
# 1. Installs RustFS from crates.io into a cache outside the clone (the first
#    time only: a large build, see the README for how long it takes); it
#    needs Rust 1.98.1 and protoc, which it installs if missing.
# 2. Starts one RustFS on a free port with fresh credentials and runs the
#    conformance suite against it (S3_TEST_ENDPOINT and friends).
# 3. Runs the workspace's tests with FAAS_TEST_RUSTFS_BIN set, so every S3
#    server a test starts is a RustFS process of its own.
#
# Extra arguments go to the last `cargo test` (e.g. `--test e2e exec::`).
# FAAS_RUSTFS_CACHE moves the install (default ~/.cache/wasm-faas/rustfs).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh

readonly version=1.0.1
# rustfs 1.0.1 declares rust-version 1.98; the workspace's toolchain is older.
readonly toolchain=1.98.1
readonly cache="${FAAS_RUSTFS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/wasm-faas/rustfs}"
readonly bin="$cache/bin/rustfs"

install_rustfs() {
  if [ -x "$bin" ] && grep -qs "\"rustfs $version " "$cache/.crates.toml"; then
    return
  fi
  if ! command -v protoc >/dev/null 2>&1; then
    echo "rustfs.sh: installing protoc (Debian's protobuf-compiler)" >&2
    command -v apt-get >/dev/null 2>&1 || { echo "rustfs.sh: install protoc first" >&2; exit 1; }
    apt-get update -qq && apt-get install -y -qq protobuf-compiler
  fi
  if ! rustup run "$toolchain" rustc --version >/dev/null 2>&1; then
    echo "rustfs.sh: installing Rust $toolchain" >&2
    rustup toolchain install "$toolchain" --profile minimal
  fi
  echo "rustfs.sh: building RustFS $version into $cache (the first time only; long)" >&2
  # Outside the clone, so neither its toolchain file nor its target folder apply.
  (cd "$HOME" && CARGO_TARGET_DIR="$cache-build" \
    cargo "+$toolchain" install rustfs --version "$version" --locked --root "$cache")
}

install_rustfs
scripts/build-functions.sh

work=$(mktemp -d "${TMPDIR:-/tmp}/faas-rustfs.XXXXXX")
rustfs_pid=
cleanup() {
  [ -n "$rustfs_pid" ] && kill "$rustfs_pid" 2>/dev/null && wait "$rustfs_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
access_key="faas-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
secret_key="$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
mkdir -p "$work/data"
RUSTFS_ADDRESS="127.0.0.1:$port" RUSTFS_ACCESS_KEY="$access_key" RUSTFS_SECRET_KEY="$secret_key" \
  RUSTFS_CONSOLE_ENABLE=false RUSTFS_OBS_LOG_DIRECTORY="$work/logs" \
  "$bin" server "$work/data" >"$work/rustfs.log" 2>&1 &
rustfs_pid=$!
for _ in $(seq 1 900); do
  curl -fsS -o /dev/null "http://127.0.0.1:$port/health/ready" 2>/dev/null && break
  kill -0 "$rustfs_pid" 2>/dev/null || break
  sleep 0.1
done
if ! curl -fsS -o /dev/null "http://127.0.0.1:$port/health/ready"; then
  echo "rustfs.sh: RustFS did not start; its log ends:" >&2
  tail -n 30 "$work/rustfs.log" >&2
  exit 1
fi
echo "rustfs.sh: $("$bin" --version | head -n 1) on http://127.0.0.1:$port" >&2

echo "rustfs.sh: conformance suite against that RustFS" >&2
S3_TEST_ENDPOINT="http://127.0.0.1:$port" S3_TEST_ACCESS_KEY="$access_key" \
  S3_TEST_SECRET_KEY="$secret_key" S3_TEST_REGION=us-east-1 \
  cargo test --workspace --test conformance

echo "rustfs.sh: the workspace's tests, each S3 server a RustFS process" >&2
FAAS_TEST_RUSTFS_BIN="$bin" cargo test --workspace --all-targets "$@"
