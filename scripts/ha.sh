#!/usr/bin/env bash
# The chaos harness with Redis behind Sentinel: a primary, two replicas and three Sentinels on
# loopback ports, two (three) server replicas and real Celery workers reaching Redis through
# the Sentinel URLs, WORKER_POOL_REDIS_REPLICAS=1. Each Redis restart of the chaos plan becomes
# a failover: the primary is SIGKILLed right after an acknowledged submit, the Sentinels promote
# a replica, the old primary comes back as its replica (three times in the short profile).
# The same checks: no start over the limit, every acknowledged task ends once, none ran twice.
#
#   scripts/ha.sh                     # the short profile (about 2 min), as CI runs it
#   scripts/ha.sh --profile long      # about 15 min, by hand
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/chaos.sh" --ha "$@"
