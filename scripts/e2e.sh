#!/usr/bin/env bash
# Runs the Playwright specs against the built server (`cargo leptos build --split` first), with a real
# demo Celery worker. Both get a free port / their own Redis key prefix and Celery queue, and
# are stopped afterwards.
#
#   scripts/e2e.sh [playwright args...]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

[ -f "$ROOT/target/site/pkg/worker-pool.wasm" ] || die "target/site/pkg is missing: run 'cargo leptos build --split' first"
ensure_redis

RUN_ID="e2e-$(date +%s)-$$"
LOG="$ROOT/target/e2e-server.log"
cleanup() {
  # The worker gets a cold shutdown (SIGQUIT): a warm one would wait for long tasks to end.
  # (CONT first: a spec may have paused it.)
  [ -n "${WORKER_PID:-}" ] && { kill -CONT "$WORKER_PID" 2>/dev/null; kill -QUIT "$WORKER_PID" 2>/dev/null; } || true
  [ -n "${SERVER_PID:-}" ] && kill "$SERVER_PID" 2>/dev/null || true
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

QUEUE="wp:$RUN_ID:celery"
WLOG="$ROOT/target/e2e-worker.log"
step "starting the demo Celery worker on queue $QUEUE (log: $WLOG)"
start_demo_worker "$WLOG" "e2e-$$" "$QUEUE" -c 4 --without-mingle --without-gossip

step "starting worker-pool (log: $LOG)"
start_server "$LOG" WORKER_POOL_PREFIX="wp:$RUN_ID" WORKER_POOL_CELERY_QUEUE="$QUEUE" \
  RUST_LOG="${RUST_LOG:-info}"
mkdir -p "$ROOT/docs"

cd "$ROOT/end2end"
# workers.spec.ts starts a worker of its own beside the demo worker, and pauses the demo worker
# (SIGSTOP) for a moment so that its own takes a task.
WORKER_POOL_E2E_URL="$SERVER_URL" WORKER_POOL_E2E_QUEUE="$QUEUE" \
  WORKER_POOL_E2E_WORKER_PID="$WORKER_PID" WORKER_POOL_E2E_CELERY="$VENV/bin/celery" \
  WORKER_POOL_E2E_DEMO="$ROOT/demo" WORKER_POOL_E2E_LOGS="$ROOT/target" \
  npx playwright test "$@"
# Leptos warns when a resource is read outside <Suspense> during server rendering: such a read
# blocks a server thread until the resource resolves, and once hung one for good.
if grep -q "outside a <Suspense" "$LOG"; then
  grep -m1 -A3 "outside a <Suspense" "$LOG" >&2
  die "the server rendered a resource read outside <Suspense> (see $LOG)"
fi
