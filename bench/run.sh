#!/usr/bin/env bash
# The whole benchmark in one command; writes bench/results.json (see BENCHMARKS.md).
#
#   bench/run.sh            # full: release builds, the sizes BENCHMARKS.md reports
#   bench/run.sh --short    # small sizes on the debug build: proves the harness works (CI)
#   bench/run.sh --throughput   # only the throughput against plain Celery, over Redis and
#                               # over RabbitMQ (release server); writes bench/results-throughput.json
#
# Everything runs against a private redis-server on a free port (no persistence), so the
# numbers are not disturbed by anything else on the machine and memory can be measured.
# Nothing here asserts a timing; the targets are compared in BENCHMARKS.md.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

MODE=full
case "${1:-}" in
  --short) MODE=short ;;
  --throughput) MODE=throughput ;;
  "") ;;
  *) die "usage: bench/run.sh [--short | --throughput]" ;;
esac
SHORT=0
[ "$MODE" = short ] && SHORT=1
OUT_DIR="$ROOT/target/bench"
mkdir -p "$OUT_DIR"
RESULTS="$ROOT/bench/results.json"
[ "$SHORT" = 1 ] && RESULTS="$OUT_DIR/results-short.json"
[ "$MODE" = throughput ] && RESULTS="$ROOT/bench/results-throughput.json"

"$ROOT/scripts/setup.sh"
command -v wrk >/dev/null 2>&1 || apt_install wrk
command -v wrk >/dev/null 2>&1 || die "wrk is required"

if [ "$MODE" = throughput ]; then
  # Only the throughput against plain Celery, over both brokers (release server).
  PROFILE=release; N_TP=2000; TP_REPS=3
  step "cargo build --release (the server)"
  cargo build --release -p server --bin worker-pool
elif [ "$SHORT" = 1 ]; then
  PROFILE=debug
  N_CAP=2000; SIZES=1000,20000; SAMPLES=50; N_REFILL=200; N_TP=200; TP_REPS=1; CAP_REPS=1; WRK_D=3s; UI_ROUNDS=5; BLOCKED=20000
  ETA_N=300; ETA_WARMUP=100
  step "cargo leptos build --split (debug) and wp-bench"
  cargo leptos build --split
  cargo build -p server --bin wp-bench
else
  PROFILE=release
  N_CAP=20000; SIZES=1000,100000,1000000; SAMPLES=200; N_REFILL=1000; N_TP=2000; TP_REPS=3; CAP_REPS=3; WRK_D=10s; UI_ROUNDS=30; BLOCKED=1000000
  ETA_N=3000; ETA_WARMUP=300
  # wasm-opt (used by --release) from npm's binaryen, never a runtime download.
  TOOLS="$ROOT/target/tools"
  if [ ! -x "$TOOLS/node_modules/.bin/wasm-opt" ]; then
    step "npm install binaryen@132 (wasm-opt)"
    mkdir -p "$TOOLS"
    (cd "$TOOLS" && npm install --no-audit --no-fund --loglevel=error binaryen@132 >/dev/null)
  fi
  export PATH="$TOOLS/node_modules/.bin:$PATH"
  step "cargo leptos build --release --split and wp-bench"
  cargo leptos build --release --split
  cargo build --release -p server --bin wp-bench
fi
export SERVER_BIN="$ROOT/target/$PROFILE/worker-pool"
BENCH="$ROOT/target/$PROFILE/wp-bench"

# --- a private Redis ------------------------------------------------------------------------
start_private_redis
export REDIS_URL=$PRIVATE_REDIS_URL
SERVER_PID=
VHOST=
cleanup() {
  stop_server
  stop_private_replica
  stop_private_redis
  if [ -n "$VHOST" ]; then rabbitmqctl -q delete_vhost "$VHOST" 2>/dev/null || true; fi
}
trap cleanup EXIT

# bench_server PREFIX MAX: a server of its own, with the benchmark registry; sets SURL.
# REPLICAS=N in its environment: the server waits for N replicas of each acknowledged write.
bench_server() {
  stop_server
  local extra=()
  [ -n "${REPLICAS:-}" ] && extra+=("WORKER_POOL_REDIS_REPLICAS=$REPLICAS")
  [ -n "${BROKER:-}" ] && extra+=("CELERY_BROKER_URL=$BROKER" "CELERY_RESULT_BACKEND=$REDIS_URL")
  start_server "$OUT_DIR/server-$1.log" WORKER_POOL_PREFIX="$1" WORKER_POOL_CELERY_QUEUE="$1:q" \
    MAX_SYNC_WORKERS="$2" WORKER_POOL_TASK_REGISTRY="$ROOT/bench/registry.json" RUST_LOG=warn \
    WORKER_POOL_SOURCE_LIMITS="${RULES:-}" "${extra[@]}"
  SURL=$SERVER_URL
}
stop_server() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=; fi
}

# throughput_redis / throughput_rabbitmq: the same stock worker (-c 4) through the pool and
# without it, with Celery's broker in the private Redis, then in a RabbitMQ vhost of its own.
throughput_redis() {
  step "throughput against plain Celery (-c 4, $N_TP tasks each, $TP_REPS rounds alternating)"
  for TASK in noop sleep20; do
    : > "$OUT_DIR/tp-plain-$TASK.jsonl"
    : > "$OUT_DIR/tp-pool-$TASK.jsonl"
    for REP in $(seq "$TP_REPS"); do
      "$VENV/bin/python" "$ROOT/bench/throughput.py" --mode plain --task "$TASK" --n "$N_TP" \
        --redis "$REDIS_URL" --queue "plain-$TASK-$REP" >> "$OUT_DIR/tp-plain-$TASK.jsonl"
      bench_server "tp$TASK$REP" 4
      "$VENV/bin/python" "$ROOT/bench/throughput.py" --mode pool --task "$TASK" --n "$N_TP" \
        --redis "$REDIS_URL" --queue "tp$TASK$REP:q" --url "$SURL" >> "$OUT_DIR/tp-pool-$TASK.jsonl"
    done
  done
}
throughput_rabbitmq() {
  step "throughput against plain Celery over RabbitMQ (-c 4, $N_TP tasks each, $TP_REPS rounds alternating; a vhost of its own)"
  ensure_rabbitmq
  VHOST="wp-bench-$$"
  rabbitmqctl -q add_vhost "$VHOST"
  rabbitmqctl -q set_permissions -p "$VHOST" guest '.*' '.*' '.*'
  AMQP="amqp://guest:guest@127.0.0.1:5672/$VHOST"
  for TASK in noop sleep20; do
    : > "$OUT_DIR/tp-amqp-plain-$TASK.jsonl"
    : > "$OUT_DIR/tp-amqp-pool-$TASK.jsonl"
    for REP in $(seq "$TP_REPS"); do
      "$VENV/bin/python" "$ROOT/bench/throughput.py" --mode plain --task "$TASK" --n "$N_TP" \
        --redis "$REDIS_URL" --broker "$AMQP" --queue "plain-$TASK-$REP" >> "$OUT_DIR/tp-amqp-plain-$TASK.jsonl"
      BROKER="$AMQP" bench_server "tpa$TASK$REP" 4
      "$VENV/bin/python" "$ROOT/bench/throughput.py" --mode pool --task "$TASK" --n "$N_TP" \
        --redis "$REDIS_URL" --broker "$AMQP" --queue "tpa$TASK$REP:q" --url "$SURL" >> "$OUT_DIR/tp-amqp-pool-$TASK.jsonl"
    done
  done
  stop_server
  rabbitmqctl -q delete_vhost "$VHOST"
  VHOST=
}

if [ "$MODE" = throughput ]; then
  throughput_redis
  throughput_rabbitmq
  step "results"
  "$VENV/bin/python" "$ROOT/bench/collect.py" --throughput "$OUT_DIR" "$PROFILE" "$RESULTS"
  ok "wrote $RESULTS"
  exit 0
fi

step "scheduler capacity ($N_CAP cycles, $CAP_REPS rounds: one type; five types and 50 tenants without rules, then with them; alternating)"
: > "$OUT_DIR/capacity.jsonl"
: > "$OUT_DIR/capacity-mixed.jsonl"
: > "$OUT_DIR/capacity-rules.jsonl"
for REP in $(seq "$CAP_REPS"); do
  for V in ":capacity" "--mixed:capacity-mixed" "--with-rules:capacity-rules"; do
    FLAG=${V%%:*}
    FILE="$OUT_DIR/${V#*:}.jsonl"
    # shellcheck disable=SC2086 # FLAG is one word or none
    "$BENCH" capacity --n "$N_CAP" --concurrency 64 $FLAG | tr -d '\n' >> "$FILE"
    echo >> "$FILE"
  done
done

step "a held source's $BLOCKED queued tasks against another source's dispatch"
"$BENCH" blocked --size "$BLOCKED" --samples "$SAMPLES" > "$OUT_DIR/blocked.json"

step "estimated against real start times ($ETA_N tasks, a simulated fleet)"
"$BENCH" eta --n "$ETA_N" --warmup "$ETA_WARMUP" > "$OUT_DIR/eta.json"

step "depth independence ($SIZES queued)"
"$BENCH" depth --sizes "$SIZES" --samples "$SAMPLES" > "$OUT_DIR/depth.json"

for L in 1 4; do
  step "refill latency at limit $L ($N_REFILL completions)"
  bench_server "refill$L" "$L"
  "$BENCH" refill --url "$SURL" --queue "refill$L:q" --limit "$L" --n "$N_REFILL" > "$OUT_DIR/refill-$L.json"
done
step "refill latency at limit 4 with source rules configured ($N_REFILL completions)"
RULES="hubspot=64,bench=64" bench_server refill-rules 4
"$BENCH" refill --url "$SURL" --queue "refill-rules:q" --limit 4 --n "$N_REFILL" > "$OUT_DIR/refill-rules.json"

step "HTTP: GET status/ and POST submit/ ($WRK_D each)"
bench_server http 1
API="$SURL/ingestion/crm-dashboard/api/worker-pool"
wrk -t2 -c64 -d"$WRK_D" --latency "$API/status/" > "$OUT_DIR/wrk-status.txt"
wrk -t2 -c64 -d"$WRK_D" --latency -s "$ROOT/bench/submit.lua" "$API/submit/" > "$OUT_DIR/wrk-submit.txt"

step "refill latency at limit 4 and POST submit/ with WORKER_POOL_REDIS_REPLICAS=1 (a local replica)"
start_private_replica
REPLICAS=1 bench_server refill-replica 4
"$BENCH" refill --url "$SURL" --queue "refill-replica:q" --limit 4 --n "$N_REFILL" > "$OUT_DIR/refill-replica.json"
REPLICAS=1 bench_server http-replica 1
API="$SURL/ingestion/crm-dashboard/api/worker-pool"
wrk -t2 -c64 -d"$WRK_D" --latency -s "$ROOT/bench/submit.lua" "$API/submit/" > "$OUT_DIR/wrk-submit-replica.txt"
stop_server
stop_private_replica

throughput_redis
throughput_rabbitmq

step "dashboard: WASM size and update latency in Chromium"
gzip -9 -c "$ROOT/target/site/pkg/worker-pool.wasm" | wc -c > "$OUT_DIR/wasm-gzip-bytes.txt"
# The lazy chunks (`--split`): per lazy view, the gzipped bytes of the files it loads when it
# is first needed (its own chunk and the chunks it shares), as this build's manifest names
# them (a chunk of an earlier build may linger beside them).
python3 - "$ROOT/target/site/pkg" > "$OUT_DIR/wasm-chunks-gzip-bytes.json" <<'PY'
import gzip, json, sys
pkg = sys.argv[1]
manifest = json.load(open(f"{pkg}/__wasm_split_manifest.json"))
json.dump({view.rsplit("_", 1)[0]: sum(len(gzip.compress(open(f"{pkg}/{f}.wasm", "rb").read(), 9))
                                       for f in files)
           for view, files in sorted(manifest.items())}, sys.stdout)
PY
bench_server ui 1
(cd "$ROOT/end2end" && WORKER_POOL_E2E_URL="$SURL" WP_BENCH_OUT="$OUT_DIR/ui.json" \
  WP_BENCH_ROUNDS="$UI_ROUNDS" npx playwright test --config bench.config.ts >/dev/null)
stop_server

step "results"
"$VENV/bin/python" "$ROOT/bench/collect.py" "$OUT_DIR" "$PROFILE" "$RESULTS"
if [ "$SHORT" = 0 ]; then
  "$VENV/bin/python" "$ROOT/bench/plot.py" "$OUT_DIR" "$ROOT/docs/bench"
fi
ok "wrote $RESULTS"
