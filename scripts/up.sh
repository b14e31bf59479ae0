#!/usr/bin/env bash
# Command 1: brings the whole platform up locally (nats-server, an S3 server
# over .data/, dispatcher, executor, api on :3000), deploys hello and
# fibonacci, runs them, and stays up until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
scripts/build-functions.sh
cargo build --quiet --bins
target_dir="${CARGO_TARGET_DIR:-target}"
exec "$target_dir/debug/faas-local" "$@"
