#!/usr/bin/env bash
# Re-captures the Celery wire fixtures (server/tests/fixtures/celery-wire/) from a real Celery
# worker, against a private redis-server on a free port. After a Celery upgrade:
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
ok "fixtures captured"
