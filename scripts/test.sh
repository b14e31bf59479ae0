#!/usr/bin/env bash
# Command 2: runs every test, against real nats-server and S3 servers that
# the tests start on free ports. Installs what is missing first.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
scripts/build-functions.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
# Doc links between modules stay true (a private or renamed item fails).
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet
scripts/check-boundaries.sh
# The guests' own unit tests run natively (the wasm target has no runner).
host=$(rustc -vV | sed -n 's/^host: //p')
(cd functions && CARGO_TARGET_DIR="$PWD/target" cargo test --quiet --target "$host")
cargo test --workspace --all-targets "$@"
