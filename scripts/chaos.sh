#!/usr/bin/env bash
# Runs the chaos harness (chaos/chaos.py) against the debug server build.
#
#   scripts/chaos.sh                   # the short profile (about 90 s), as CI runs it
#   scripts/chaos.sh --profile long    # about 15 min, by hand
#
# It starts its own Redis (with persistence), server replicas and Celery workers on free
# ports, and stops them all afterwards.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

[ -x "$VENV/bin/python" ] || die "$VENV is missing: run scripts/setup.sh"
# Always through cargo: a no-op when the binary is current, never a stale binary.
step "cargo build (the server binary)"
cargo build -p server --bin worker-pool
step "chaos harness"
exec "$VENV/bin/python" "$ROOT/chaos/chaos.py" "$@"
