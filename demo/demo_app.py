"""Worker Pool's demo Celery app: the seed's five sync tasks, simulating sync work.

Run a worker (scripts/run.sh does) with:

    celery -A demo_app worker -c 4 -E --loglevel=info

Broker and result backend: $CELERY_BROKER_URL / $CELERY_RESULT_BACKEND, else $REDIS_URL, else
redis://127.0.0.1:6379/0. The queue is $WORKER_POOL_CELERY_QUEUE (default "celery").

How a demo task behaves (so tests and demos can ask for what they need through the real
parameters, which are only full, batch_size and dry_run):

* it works for ``batch_size`` milliseconds (1000 -> 1 s), times $DEMO_SPEED (default 1),
  in 10 steps, reporting PROGRESS to the result backend after each;
* ``full=True`` doubles the time;
* a ``batch_size`` that ends in 13 (13, 113, 1013, ...) fails with ``SyncError`` half way,
  as a CRM API rejecting a batch would;
* with $DEMO_RECORD_FILE set, it appends one JSON line when it starts and one when it ends
  (task id, time, pid, worker): independent evidence of what ran when, for the tests.
"""
import json
import os
import socket
import time

from celery import Celery

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
BROKER = os.environ.get("CELERY_BROKER_URL") or REDIS_URL
BACKEND = os.environ.get("CELERY_RESULT_BACKEND") or BROKER
QUEUE = os.environ.get("WORKER_POOL_CELERY_QUEUE") or "celery"
SPEED = float(os.environ.get("DEMO_SPEED", "1"))
RECORD = os.environ.get("DEMO_RECORD_FILE")

app = Celery("demo", broker=BROKER, backend=BACKEND)
app.conf.update(
    # Required by Worker Pool: report STARTED (with hostname and pid) to the result backend.
    task_track_started=True,
    # Take one message at a time: the pool, not the worker, decides what runs next.
    worker_prefetch_multiplier=1,
    task_default_queue=QUEUE,
    broker_connection_retry_on_startup=True,
)


class SyncError(Exception):
    """A CRM API refused a batch."""


def _record(event, task):
    if not RECORD:
        return
    line = json.dumps({
        "event": event,
        "task_id": task.request.id,
        "task": task.name,
        "time": time.time(),
        "pid": os.getpid(),
        "worker": task.request.hostname,
    })
    # One write per line with O_APPEND: lines from concurrent processes never interleave.
    fd = os.open(RECORD, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def simulate_sync(task, full=False, batch_size=1000, dry_run=False):
    _record("start", task)
    try:
        total = batch_size / 1000.0 * SPEED * (2 if full else 1)
        steps = 10
        for step in range(steps):
            if str(batch_size).endswith("13") and step == steps // 2:
                raise SyncError(f"simulated failure: the CRM API rejected batch {step + 1} "
                                f"(batch_size={batch_size})")
            time.sleep(total / steps)
            task.update_state(state="PROGRESS", meta={"done": step + 1, "total": steps})
        return {
            "task": task.name,
            "full": full,
            "batch_size": batch_size,
            "dry_run": dry_run,
            "synced": 0 if dry_run else batch_size,
            "host": socket.gethostname(),
        }
    finally:
        _record("end", task)


@app.task(name="five9.contacts", bind=True)
def five9_contacts(self, full=False, batch_size=1000, dry_run=False):
    """Five9 contact synchronization."""
    return simulate_sync(self, full, batch_size, dry_run)


@app.task(name="genius.marketsharp_contacts", bind=True)
def genius_marketsharp_contacts(self, full=False, batch_size=1000, dry_run=False):
    """MarketSharp contact sync."""
    return simulate_sync(self, full, batch_size, dry_run)


@app.task(name="hubspot.all", bind=True)
def hubspot_all(self, full=False, batch_size=1000, dry_run=False):
    """HubSpot data synchronization."""
    return simulate_sync(self, full, batch_size, dry_run)


@app.task(name="genius.all", bind=True)
def genius_all(self, full=False, batch_size=1000, dry_run=False):
    """All Genius CRM data."""
    return simulate_sync(self, full, batch_size, dry_run)


@app.task(name="arrivy.all", bind=True)
def arrivy_all(self, full=False, batch_size=1000, dry_run=False):
    """Arrivy data synchronization."""
    return simulate_sync(self, full, batch_size, dry_run)
