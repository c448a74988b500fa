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

step "cargo leptos build"
cargo leptos build

export LEPTOS_SITE_ROOT="$ROOT/target/site"
export LEPTOS_SITE_ADDR=${LEPTOS_SITE_ADDR:-127.0.0.1:3000}

PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

if [ "${WORKER_POOL_DEMO_WORKER:-1}" != 0 ]; then
  mkdir -p "$ROOT/target"
  step "starting the demo Celery worker (-c 4; log: target/demo-worker.log)"
  (cd "$ROOT/demo" && exec "$VENV/bin/celery" -A demo_app worker -c 4 -E --loglevel=info \
    -n "demo-$$@%h") > "$ROOT/target/demo-worker.log" 2>&1 &
  PIDS+=($!)
fi

step "serving on http://$LEPTOS_SITE_ADDR (Ctrl-C stops)"
"$ROOT/target/debug/worker-pool" &
PIDS+=($!)
wait "${PIDS[-1]}"
