#!/usr/bin/env bash
# The Python client's tests (clients/python): installs the package, with its test extra, into
# the venv the scripts use, then runs its pytest suite against the real server and a real
# Celery worker (the demo app), on a key prefix and a Celery queue of the run's own.
#
# Needs, and fails (never skips) without:
#   - the server binary: WORKER_POOL_BIN, default target/debug/worker-pool;
#   - the venv with Celery: WORKER_POOL_VENV, default ~/.cache/worker-pool/venv (scripts/setup.sh);
#   - Redis at REDIS_URL (default redis://127.0.0.1:6379/0).
# Extra arguments go to pytest (e.g. -k wait, -x).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

PKG=$ROOT/clients/python
BIN=${WORKER_POOL_BIN:-$ROOT/target/debug/worker-pool}
[ -x "$BIN" ] || die "$BIN is missing: build the server first (cargo build), or set WORKER_POOL_BIN"
[ -x "$VENV/bin/celery" ] || die "$VENV/bin/celery is missing: run scripts/setup.sh (WORKER_POOL_VENV moves the venv)"
"$VENV/bin/python" - "$REDIS_URL" 2>/dev/null <<'PY' || die "nothing answers at $REDIS_URL: start Redis (scripts/setup.sh installs it)"
import sys
import redis
redis.Redis.from_url(sys.argv[1], socket_timeout=3, socket_connect_timeout=3).ping()
PY

install_python_client

step "Python client tests (clients/python/tests)"
export WORKER_POOL_BIN=$BIN
exec "$VENV/bin/python" -m pytest clients/python/tests -q -p no:cacheprovider "$@"
