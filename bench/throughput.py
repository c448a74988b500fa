#!/usr/bin/env python3
"""Throughput of the same Celery worker (-c 4) through the pool and without it.

For each mode the tasks are all submitted first, with no worker running; then the worker
starts, and the throughput is n / (last task end - first task start), from the worker's own
records. Submission speed and worker start-up are therefore left out of both.

    throughput.py --mode plain --task noop --n 2000 --redis URL --queue Q
    throughput.py --mode pool  --task noop --n 2000 --redis URL --queue Q --url http://server

With --broker amqp://…, Celery's broker is RabbitMQ (the results stay in --redis); the pool's
server must then have been started with the same CELERY_BROKER_URL.
"""
import argparse
import json
import os
import signal
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "scripts"))
from procs import DEMO, start_celery_worker  # noqa: E402


def submit_pool(url, task, n):
    api = url.rstrip("/") + "/ingestion/crm-dashboard/api/worker-pool"
    body = json.dumps({"crm_source": "bench", "sync_type": task}).encode()
    ids = []
    for _ in range(n):
        req = urllib.request.Request(api + "/submit/", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as res:
            ids.append(json.loads(res.read())["task_id"])
    return ids


def submit_plain(redis_url, broker, queue, task, n):
    os.environ["REDIS_URL"] = redis_url
    if broker:
        os.environ["CELERY_BROKER_URL"] = broker
        os.environ["CELERY_RESULT_BACKEND"] = redis_url
    sys.path.insert(0, DEMO)
    from demo_app import app  # noqa: E402
    ids = []
    with app.producer_or_acquire() as producer:
        for _ in range(n):
            r = app.send_task(f"bench.{task}", kwargs={"full": False, "batch_size": 1000,
                                                       "dry_run": False},
                              queue=queue, producer=producer)
            ids.append(r.id)
    return ids


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=["plain", "pool"], required=True)
    ap.add_argument("--task", choices=["noop", "sleep20"], required=True)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--redis", required=True)
    ap.add_argument("--queue", required=True)
    ap.add_argument("--url")
    ap.add_argument("--broker", help="Celery's broker when it is not --redis (RabbitMQ)")
    ap.add_argument("--concurrency", type=int, default=4)
    args = ap.parse_args()

    if args.mode == "pool":
        ids = submit_pool(args.url, args.task, args.n)
    else:
        ids = submit_plain(args.redis, args.broker, args.queue, args.task, args.n)

    records = tempfile.mktemp(prefix="wp-bench-records-")
    env = dict(os.environ, REDIS_URL=args.redis, WORKER_POOL_CELERY_QUEUE=args.queue,
               DEMO_RECORD_FILE=records)
    env.pop("CELERY_BROKER_URL", None)
    env.pop("CELERY_RESULT_BACKEND", None)
    if args.broker:
        env.update(CELERY_BROKER_URL=args.broker, CELERY_RESULT_BACKEND=args.redis)
    celery = os.path.join(os.path.dirname(sys.executable), "celery")
    log = tempfile.mktemp(prefix="wp-bench-worker-")
    # Not waited for: the worker's start-up is left out of the span either way.
    worker = start_celery_worker(celery, f"bench-{os.getpid()}", args.queue, args.concurrency,
                                 env, log, wait=False)
    try:
        deadline = time.time() + 600
        ends = 0
        while time.time() < deadline:
            if os.path.exists(records):
                with open(records) as f:
                    ends = sum(1 for line in f if '"event": "end"' in line)
                if ends >= args.n:
                    break
            time.sleep(0.2)
        else:
            raise SystemExit(f"only {ends} of {args.n} tasks ended")
    finally:
        os.killpg(worker.pid, signal.SIGQUIT)
        worker.wait()
    with open(records) as f:
        recs = [json.loads(line) for line in f if line.strip()]
    os.unlink(records)
    os.unlink(log)
    mine = set(ids)
    starts = [r["time"] for r in recs if r["event"] == "start" and r["task_id"] in mine]
    ends = [r["time"] for r in recs if r["event"] == "end" and r["task_id"] in mine]
    span = max(ends) - min(starts)
    print(json.dumps({"mode": args.mode, "task": args.task, "n": args.n,
                      "broker": "rabbitmq" if args.broker else "redis",
                      "concurrency": args.concurrency, "seconds": span,
                      "tasks_per_s": args.n / span}))


if __name__ == "__main__":
    main()
