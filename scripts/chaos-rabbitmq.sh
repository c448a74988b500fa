#!/usr/bin/env bash
# The chaos harness with RabbitMQ as Celery's broker: a RabbitMQ node of the harness's own (its
# own ports and data), SIGKILLed and restarted under load twice in the short profile (four times
# in the long one), besides the replicas, workers and Redis the harness kills anyway; results and
# the pool's state stay in Redis. The same checks: no start over the limit, every acknowledged
# task ends once, none ran twice, flow control held.
#
#   scripts/chaos-rabbitmq.sh                    # the short profile (about 2 min), as CI runs it
#   scripts/chaos-rabbitmq.sh --profile long     # about 15 min, by hand
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/chaos.sh" --rabbitmq "$@"
