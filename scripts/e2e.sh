#!/usr/bin/env bash
# Runs the Playwright specs against the built server (`cargo leptos build` first).
# Starts the server on a free port with its own Redis key prefix, and stops it afterwards.
#
#   scripts/e2e.sh [playwright args...]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

BIN="$ROOT/target/debug/worker-pool"
[ -x "$BIN" ] || die "$BIN is missing: run 'cargo leptos build' first"
[ -f "$ROOT/target/site/pkg/worker-pool.wasm" ] || die "target/site/pkg is missing: run 'cargo leptos build' first"
ensure_redis

PORT=$(free_port)
RUN_ID="e2e-$(date +%s)-$$"
LOG="$ROOT/target/e2e-server.log"
PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  local hp host port
  hp=$(redis_host_port "$REDIS_URL"); host=${hp% *}; port=${hp#* }
  redis-cli -h "$host" -p "$port" --scan --pattern "wp:$RUN_ID*" | xargs -r redis-cli -h "$host" -p "$port" del >/dev/null || true
}
trap cleanup EXIT

step "starting worker-pool on 127.0.0.1:$PORT (log: $LOG)"
LEPTOS_SITE_ADDR="127.0.0.1:$PORT" LEPTOS_SITE_ROOT="$ROOT/target/site" \
  WORKER_POOL_PREFIX="wp:$RUN_ID" RUST_LOG="${RUST_LOG:-info}" \
  "$BIN" > "$LOG" 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$PORT/readyz" 30 "${PIDS[0]}" || { cat "$LOG" >&2; die "the server did not become ready"; }

cd "$ROOT/end2end"
WORKER_POOL_E2E_URL="http://127.0.0.1:$PORT" npx playwright test "$@"
