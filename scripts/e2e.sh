#!/usr/bin/env bash
# Runs the Playwright specs against the built server (`cargo leptos build` first), with a real
# demo Celery worker. Both get a free port / their own Redis key prefix and Celery queue, and
# are stopped afterwards.
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
WORKER_PID=
cleanup() {
  # The worker gets a cold shutdown (SIGQUIT): a warm one would wait for long tasks to end.
  [ -n "$WORKER_PID" ] && kill -QUIT "$WORKER_PID" 2>/dev/null || true
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  local hp host port
  hp=$(redis_host_port "$REDIS_URL"); host=${hp% *}; port=${hp#* }
  # Celery's results of this run's tasks (the worker is stopped, so none come after this).
  redis-cli -h "$host" -p "$port" --scan --pattern "wp:$RUN_ID:task:*" \
    | sed -n "s/^wp:$RUN_ID:task:\([^:]*\)\$/celery-task-meta-\1/p" \
    | xargs -r redis-cli -h "$host" -p "$port" del >/dev/null || true
  for pattern in "wp:$RUN_ID*" "_kombu.binding*wp:$RUN_ID*"; do
    redis-cli -h "$host" -p "$port" --scan --pattern "$pattern" | xargs -r redis-cli -h "$host" -p "$port" del >/dev/null || true
  done
}
trap cleanup EXIT

export WORKER_POOL_CELERY_QUEUE="wp:$RUN_ID:celery"
[ -x "$VENV/bin/celery" ] || die "$VENV/bin/celery is missing: run scripts/setup.sh"
WLOG="$ROOT/target/e2e-worker.log"
step "starting the demo Celery worker on queue $WORKER_POOL_CELERY_QUEUE (log: $WLOG)"
(cd "$ROOT/demo" && exec "$VENV/bin/celery" -A demo_app worker -c 4 -Q "$WORKER_POOL_CELERY_QUEUE" \
  -n "e2e-$$@%h" --loglevel=info --without-mingle --without-gossip) > "$WLOG" 2>&1 &
WORKER_PID=$!
for _ in $(seq 300); do grep -q " ready\." "$WLOG" 2>/dev/null && break; sleep 0.1; done
grep -q " ready\." "$WLOG" || { cat "$WLOG" >&2; die "the demo worker did not start"; }

step "starting worker-pool on 127.0.0.1:$PORT (log: $LOG)"
LEPTOS_SITE_ADDR="127.0.0.1:$PORT" LEPTOS_SITE_ROOT="$ROOT/target/site" \
  WORKER_POOL_PREFIX="wp:$RUN_ID" RUST_LOG="${RUST_LOG:-info}" \
  "$BIN" > "$LOG" 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$PORT/readyz" 30 "${PIDS[-1]}" || { cat "$LOG" >&2; die "the server did not become ready"; }
mkdir -p "$ROOT/docs"

cd "$ROOT/end2end"
WORKER_POOL_E2E_URL="http://127.0.0.1:$PORT" npx playwright test "$@"
# Leptos warns when a resource is read outside <Suspense> during server rendering: such a read
# blocks a server thread until the resource resolves, and once hung one for good.
if grep -q "outside a <Suspense" "$LOG"; then
  grep -m1 -A3 "outside a <Suspense" "$LOG" >&2
  die "the server rendered a resource read outside <Suspense> (see $LOG)"
fi
