#!/usr/bin/env bash
# The cost of WORKER_POOL_REDIS_REPLICAS=1, three rounds alternating with and without it, on
# the release build (cargo build --release -p server --bin worker-pool --bin wp-bench first):
# refill latency at limit 4 (wp-bench refill, 1,000 completions) and POST submit/ throughput
# (wrk, 64 connections, 10 s), against a private Redis with one replica on this machine.
# bench/run.sh measures the same once per run; this gives the spread.
#
#   bench/replica-wait.sh
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd); cd "$ROOT"
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"
export SERVER_BIN=$ROOT/target/release/worker-pool
OUT=$ROOT/target/bench/replica-wait; rm -rf "$OUT"; mkdir -p "$OUT"
[ -x "$SERVER_BIN" ] && [ -x target/release/wp-bench ] || die "build the release server and wp-bench first"
start_private_redis; export REDIS_URL=$PRIVATE_REDIS_URL
trap 'kill ${SERVER_PID:-} 2>/dev/null || true; stop_private_replica; stop_private_redis' EXIT
start_private_replica
for round in 1 2 3; do
  for R in 0 1; do
    start_server $OUT/s.log WORKER_POOL_PREFIX=r$R$round WORKER_POOL_CELERY_QUEUE=r$R$round:q MAX_SYNC_WORKERS=4 WORKER_POOL_TASK_REGISTRY=$ROOT/bench/registry.json RUST_LOG=warn WORKER_POOL_REDIS_REPLICAS=$R
    target/release/wp-bench refill --url $SERVER_URL --queue r$R$round:q --limit 4 --n 1000 | python3 -c "import json,sys; r=json.load(sys.stdin)['refill']; print('refill R=$R round $round', 'p50', round(r['p50_ms'],2), 'p99', round(r['p99_ms'],2))"
    kill $SERVER_PID; wait $SERVER_PID 2>/dev/null || true
    start_server $OUT/s.log WORKER_POOL_PREFIX=h$R$round WORKER_POOL_CELERY_QUEUE=h$R$round:q MAX_SYNC_WORKERS=1 WORKER_POOL_TASK_REGISTRY=$ROOT/bench/registry.json RUST_LOG=warn WORKER_POOL_REDIS_REPLICAS=$R
    wrk -t2 -c64 -d10s --latency -s bench/submit.lua "$SERVER_URL/ingestion/crm-dashboard/api/worker-pool/submit/" > $OUT/wrk-$R-$round.txt
    echo "submit R=$R round $round: $(grep Requests/sec $OUT/wrk-$R-$round.txt) p99 $(grep ' 99%' $OUT/wrk-$R-$round.txt)"
    kill $SERVER_PID; wait $SERVER_PID 2>/dev/null || true
  done
done
