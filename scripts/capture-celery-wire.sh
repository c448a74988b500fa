#!/usr/bin/env bash
# Re-captures the Celery wire fixtures (server/tests/fixtures/celery-wire/) from a real Celery
# worker, against a private redis-server on a free port, and over RabbitMQ (amqp/). After a Celery upgrade:
#
#   scripts/capture-celery-wire.sh && git diff server/tests/fixtures && cargo test -p server --lib
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

"$ROOT/scripts/setup.sh"
start_private_redis
trap stop_private_redis EXIT
step "capturing from Celery ($("$VENV/bin/celery" --version)) on redis port $PRIVATE_REDIS_PORT"
"$VENV/bin/python" "$ROOT/server/tests/fixtures/celery-wire/capture.py" "$PRIVATE_REDIS_PORT" "$VENV/bin/celery"
ensure_rabbitmq
step "capturing over RabbitMQ (${WORKER_POOL_TEST_AMQP_BASE:-amqp://guest:guest@127.0.0.1:5672}, a vhost of its own)"
"$VENV/bin/python" "$ROOT/server/tests/fixtures/celery-wire/capture_amqp.py" "$PRIVATE_REDIS_PORT" "$VENV/bin/celery" "${WORKER_POOL_TEST_AMQP_BASE:-amqp://guest:guest@127.0.0.1:5672}"
ok "fixtures captured"
