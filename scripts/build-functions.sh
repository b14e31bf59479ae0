#!/usr/bin/env bash
# Builds the example and test functions in functions/ as wasm32-wasip2
# components, into functions/target/wasm32-wasip2/release/<name>.wasm:
# the Rust guests with cargo, hello-py, counter-py and echo-http-py with componentize-py,
# hello-js and echo-http-js with componentize-js. The Python and JavaScript toolchains are installed from
# PyPI and npm at pinned versions when missing, into a cache outside the
# clone ($FAAS_TOOLCHAINS_DIR, default ~/.cache/wasm-faas/toolchains, or
# $XDG_CACHE_HOME/wasm-faas/toolchains), where
# `faas build` finds them too. A second run installs nothing.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root/functions"
# The guests are their own workspace with their own target folder, whatever
# the caller's CARGO_TARGET_DIR says.
CARGO_TARGET_DIR="$PWD/target" cargo build --release --quiet
out="$PWD/target/wasm32-wasip2/release"

# Pinned toolchain versions (the npm side is pinned in full by
# scripts/toolchains/node/package-lock.json).
COMPONENTIZE_PY_VERSION=0.25.1
toolchains="${FAAS_TOOLCHAINS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/wasm-faas/toolchains}"

for tool in python3 npm; do
  command -v "$tool" >/dev/null 2>&1 || {
    echo "build-functions: $tool is missing: install Python 3 and Node.js (npm) to build the Python and JavaScript guests" >&2
    exit 1
  }
done

# componentize-py in a venv of its own: toolchains/python/bin/componentize-py.
py="$toolchains/python"
if [ "$(cat "$py/.installed" 2>/dev/null)" != "componentize-py==$COMPONENTIZE_PY_VERSION" ]; then
  echo "build-functions: installing componentize-py $COMPONENTIZE_PY_VERSION into $py" >&2
  rm -rf "$py"
  python3 -m venv "$py"
  "$py/bin/pip" install --quiet --disable-pip-version-check "componentize-py==$COMPONENTIZE_PY_VERSION"
  echo "componentize-py==$COMPONENTIZE_PY_VERSION" >"$py/.installed"
fi

# componentize-js from the lock file: toolchains/node/node_modules/.bin/.
node="$toolchains/node"
lock="$root/scripts/toolchains/node/package-lock.json"
if ! cmp -s "$lock" "$node/package-lock.json" || [ ! -x "$node/node_modules/.bin/componentize-js" ]; then
  echo "build-functions: installing componentize-js into $node (npm ci)" >&2
  mkdir -p "$node"
  cp "$root/scripts/toolchains/node/package.json" "$lock" "$node/"
  (cd "$node" && npm ci --silent --no-audit --no-fund)
fi

# Rebuilt only when a source is newer than the component (each takes
# seconds: the interpreter is initialised and snapshotted into it).
stale() { [ ! -f "$1" ] || [ -n "$(find "${@:2}" -newer "$1" -print -quit)" ]; }
wit="$root/wit"
if stale "$out/hello-py.wasm" hello-py "$wit" "$py/.installed"; then
  (cd hello-py && "$py/bin/componentize-py" --wit-path "$wit" --world faas-exec \
    componentize app --output "$out/hello-py.wasm" >/dev/null)
fi
if stale "$out/counter-py.wasm" counter-py "$wit" "$py/.installed"; then
  (cd counter-py && "$py/bin/componentize-py" --wit-path "$wit" --world faas-exec-keyvalue \
    componentize app --output "$out/counter-py.wasm" >/dev/null)
fi
if stale "$out/hello-js.wasm" hello-js "$wit" "$node/package-lock.json"; then
  # An exec function has no use for the fetch event or fetch (outgoing
  # HTTP is off unless its configuration grants hosts): leave them out.
  "$node/node_modules/.bin/componentize-js" --wit "$wit" --world-name faas-exec \
    --disable http fetch-event --out "$out/hello-js.wasm" hello-js/hello.js >/dev/null
fi

# The HTTP handlers (world wasi:http/proxy, WIT in functions/wit-http: the
# WASI 0.2.12 files of the wasmtime-wasi-http the executor links).
http_wit="$PWD/wit-http"
if stale "$out/echo-http-py.wasm" echo-http-py "$http_wit" "$py/.installed"; then
  (cd echo-http-py && "$py/bin/componentize-py" --wit-path "$http_wit" --world echo-http \
    componentize app --output "$out/echo-http-py.wasm" >/dev/null)
fi
if stale "$out/echo-http-js.wasm" echo-http-js "$http_wit" "$node/package-lock.json"; then
  # componentize-js 0.23's engine (StarlingMonkey) answers the fetch event
  # as wasi:http/incoming-handler@0.2.10 exactly, so its world names
  # wasi:http at 0.2.10: the same WIT under that version (0.2 minor versions
  # only add), made here rather than kept twice. The executor links any 0.2.x.
  js_wit="$(mktemp -d)"
  trap 'rm -rf "$js_wit"' EXIT
  mkdir "$js_wit/deps"
  cp "$http_wit"/deps/*.wit "$js_wit/deps/"
  sed -i 's/\(wasi:http[^;@]*\)@0\.2\.12/\1@0.2.10/g' "$js_wit/deps/http.wit"
  sed 's/@0\.2\.12/@0.2.10/' "$http_wit/world.wit" >"$js_wit/world.wit"
  # http and fetch-event on (hello-js leaves them out): the handler is
  # `addEventListener("fetch", ...)`.
  "$node/node_modules/.bin/componentize-js" --wit "$js_wit" --world-name echo-http \
    --out "$out/echo-http-js.wasm" echo-http-js/echo.js >/dev/null
fi
