#!/usr/bin/env bash
# Benchmarks the platform on this machine: builds the services and the
# functions, starts a throwaway stack (nats-server, S3, dispatcher, executor,
# api) and writes the figures to bench/results/. Flags go to faas-bench
# (--quick for a smoke run, --no-write, --duration-secs N; --help lists all).
# It measures the dev profile `cargo build` makes, which builds every
# dependency (Wasmtime, Cranelift, tokio, ...) at opt-level 3.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
scripts/build-functions.sh
cargo build --quiet --bins
exec "${CARGO_TARGET_DIR:-target}/debug/faas-bench" "$@"
