#!/usr/bin/env bash
# Installs what Worker Pool needs to build, run and test, skipping whatever is already there.
#
#   scripts/setup.sh          # everything
#
# Nothing here downloads a binary at run time: Rust tools are built from crates.io, the browser
# is Debian's chromium package, Python packages come from PyPI, npm packages from the registry.
# Safe to run again and again; a second run only checks.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

CARGO_LEPTOS_VERSION=0.3.10

need_cmd cargo "install Rust with rustup"
need_cmd rustup "install Rust with rustup"
need_cmd node "install Node.js 20+"
need_cmd npm "install Node.js 20+"
need_cmd python3 "install Python 3.11+"

# --- Rust: the wasm32 target, cargo-leptos, wasm-bindgen-cli --------------------------------
if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  step "rustup target add wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

if ! cargo leptos --version 2>/dev/null | grep -q " $CARGO_LEPTOS_VERSION\$"; then
  step "cargo install cargo-leptos $CARGO_LEPTOS_VERSION (about 25 min on 2 cores, once)"
  cargo install cargo-leptos --version "$CARGO_LEPTOS_VERSION" --locked
fi

WASM_BINDGEN_VERSION=$(lock_version wasm-bindgen)
[ -n "$WASM_BINDGEN_VERSION" ] || die "wasm-bindgen is not in Cargo.lock"
if ! wasm-bindgen --version 2>/dev/null | grep -q " $WASM_BINDGEN_VERSION\$"; then
  step "cargo install wasm-bindgen-cli $WASM_BINDGEN_VERSION (must equal Cargo.lock's wasm-bindgen)"
  # No --locked: one of its locked dependencies is no longer in the registry.
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
fi

# --- Services and browser: redis-server, rabbitmq-server, Debian's chromium ------------------
command -v redis-server >/dev/null 2>&1 || apt_install redis-server
command -v redis-cli >/dev/null 2>&1 || apt_install redis-tools
# promtool checks GET /metrics in the tests (Debian's prometheus package ships it).
command -v promtool >/dev/null 2>&1 || apt_install prometheus
if [ ! -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ]; then
  apt_install chromium
fi
# The seed's state indicator is an emoji (🟢 🟡 🔴): a font to draw it in screenshots.
if command -v dpkg >/dev/null 2>&1 && ! dpkg -s fonts-noto-color-emoji >/dev/null 2>&1; then
  apt_install fonts-noto-color-emoji
fi

# RabbitMQ: the integration tests run Celery over it too (a vhost of their own per test).
ensure_rabbitmq

# --- Playwright (npm), never with its browser download --------------------------------------
E2E="$ROOT/end2end"
if [ ! -d "$E2E/node_modules/@playwright/test" ] || [ "$E2E/package-lock.json" -nt "$E2E/node_modules/.package-lock.json" ]; then
  step "npm ci in end2end/"
  (cd "$E2E" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
fi

# --- Python: a venv with Celery and its Redis extra, for the demo worker --------------------
REQ="$ROOT/demo/requirements.txt"
if [ ! -x "$VENV/bin/celery" ] || ! cmp -s "$REQ" "$VENV/.worker-pool-requirements.txt"; then
  step "Python venv with Celery at $VENV"
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQ"
  cp "$REQ" "$VENV/.worker-pool-requirements.txt"
fi
# The demo's workers run the pool's tasks through worker_pool_client.celery.RunOnceTask.
install_python_client

ok "setup complete"
