#!/usr/bin/env bash
# Command 1: brings the whole platform up locally (nats-server, an S3 server
# over .data/, dispatcher, executor, api on :3000), deploys hello and
# fibonacci, runs them, and stays up until Ctrl-C. The api checks tokens: its
# admin token is FAAS_ADMIN_TOKEN, or the one made for the data directory on
# its first run (.data/admin-token), printed as `export FAAS_TOKEN=...`.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
scripts/build-functions.sh
cargo build --quiet --bins
target_dir="${CARGO_TARGET_DIR:-target}"
# Callbacks may reach this machine (the walk-through's receivers are local;
# a public deployment leaves loopback refused), and are signed with a secret
# made for this run unless one is set.
export FAAS_CALLBACK_ALLOW="${FAAS_CALLBACK_ALLOW:-127.0.0.0/8,::1}"
if [ -z "${FAAS_WEBHOOK_SECRET:-}" ]; then
  FAAS_WEBHOOK_SECRET="whsec_$(head -c 32 /dev/urandom | base64 | tr -d '\n')"
  export FAAS_WEBHOOK_SECRET
  echo "callbacks are signed with FAAS_WEBHOOK_SECRET=$FAAS_WEBHOOK_SECRET"
fi
echo "the faas command-line tool is $target_dir/debug/faas (or: cargo install --path cli)"
# The guests build-functions.sh just built, by path: the binary's own idea
# of where functions/ is was baked in where cargo compiled faas-stack, which
# with a build cache shared by several checkouts may be another one.
export FAAS_GUESTS_DIR="${FAAS_GUESTS_DIR:-$PWD/functions/target/wasm32-wasip2/release}"
exec "$target_dir/debug/faas-local" "$@"
