#!/usr/bin/env bash
# The main command: sets up what is missing, makes sure Redis answers, builds the site, starts
# a demo Celery worker (the seed's five tasks, simulated) and serves the dashboard and API
# until Ctrl-C.
#
#   scripts/run.sh
#
# WORKER_POOL_DEMO_WORKER=0 skips the demo worker (when real workers consume the queue).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

"$ROOT/scripts/setup.sh"
ensure_redis

step "cargo leptos build --split"
cargo leptos build --split

ADDR=${LEPTOS_SITE_ADDR:-127.0.0.1:3000}

cleanup() {
  [ -n "${WORKER_PID:-}" ] && kill -TERM "$WORKER_PID" 2>/dev/null || true
  [ -n "${SERVER_PID:-}" ] && kill -TERM "$SERVER_PID" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

if [ "${WORKER_POOL_DEMO_WORKER:-1}" != 0 ]; then
  mkdir -p "$ROOT/target"
  step "starting the demo Celery worker (-c 4; log: target/demo-worker.log)"
  start_demo_worker "$ROOT/target/demo-worker.log" "demo-$$" "${WORKER_POOL_CELERY_QUEUE:-celery}" -c 4 -E
fi

step "serving on http://$ADDR (Ctrl-C stops; log: target/server.log)"
start_server "$ROOT/target/server.log" LEPTOS_SITE_ADDR="$ADDR"
ok "the dashboard is at $SERVER_URL"
wait "$SERVER_PID"
