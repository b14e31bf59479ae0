#!/usr/bin/env bash
# Builds the example and test functions in functions/ as wasm32-wasip2
# components, into functions/target/wasm32-wasip2/release/<name>.wasm.
set -euo pipefail
cd "$(dirname "$0")/../functions"
# The guests are their own workspace with their own target folder, whatever
# the caller's CARGO_TARGET_DIR says.
CARGO_TARGET_DIR="$PWD/target" cargo build --release --quiet
