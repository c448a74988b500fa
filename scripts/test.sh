#!/usr/bin/env bash
# The test command: sets up what is missing, then runs every tier.
#
#   scripts/test.sh
#
# Tiers: formatting, the module tree, clippy (native and wasm32), unit and integration tests against the real
# Redis and real Celery workers (over Redis and over RabbitMQ), the Python client's tests, the short chaos
# harness (with Redis, behind Sentinel, over RabbitMQ), then Playwright in Debian's Chromium
# against the built server. Under CI=true a missing
# service, browser or tool fails the run; nothing is ever skipped.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

START=$(date +%s)
"$ROOT/scripts/setup.sh"

step "cargo fmt --check"
cargo fmt --all -- --check

step "the modules of server/src import each other as a tree"
python3 "$ROOT/scripts/module-tree.py"

step "cargo clippy (native)"
cargo clippy --all-targets -- -D warnings

step "cargo clippy (wasm32)"
cargo clippy -p frontend -p app --features app/hydrate --target wasm32-unknown-unknown --all-targets -- -D warnings

ensure_redis
ensure_rabbitmq

step "unit and integration tests (Redis at $REDIS_URL)"
cargo test --all-targets

"$ROOT/scripts/python-client-test.sh"

step "chaos harness, short profile (replicas, workers and Redis killed under load)"
"$ROOT/scripts/chaos.sh" --profile short --seed 7

step "chaos harness behind Sentinel, short (the Redis primary killed three times under load)"
"$ROOT/scripts/ha.sh" --profile short --seed 7

step "chaos harness over RabbitMQ, short (a RabbitMQ node of its own killed twice under load)"
"$ROOT/scripts/chaos-rabbitmq.sh" --profile short --seed 7

step "cargo leptos build --split"
cargo leptos build --split

step "Playwright end-to-end tests (Chromium)"
"$ROOT/scripts/e2e.sh"

step "benchmark harness, short (proves it works; no timing is asserted)"
"$ROOT/bench/run.sh" --short

ok "all tiers passed in $(( $(date +%s) - START )) s"
