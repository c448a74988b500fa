"""Worker Pool's demo Celery app: the seed's five sync tasks, simulating sync work.

Run a worker (scripts/run.sh does) with:

    celery -A demo_app worker -c 4 -E --loglevel=info

Broker and result backend: $CELERY_BROKER_URL / $CELERY_RESULT_BACKEND, else $REDIS_URL, else
redis://127.0.0.1:6379/0. With a RabbitMQ broker (amqp://...) the result backend defaults to
$REDIS_URL: the pool reads results from Redis whatever the broker. The queue is
$WORKER_POOL_CELERY_QUEUE (default "celery").

How a demo task behaves (so tests and demos can ask for what they need through the real
parameters, which are only full, batch_size and dry_run):

* it works for ``batch_size`` milliseconds (1000 -> 1 s), times $DEMO_SPEED (default 1),
  in 10 steps, reporting PROGRESS to the result backend after each;
* ``full=True`` doubles the time;
* a ``batch_size`` that ends in 13 (13, 113, 1013, ...) fails with ``SyncError`` half way,
  as a CRM API rejecting a batch would;
* one that ends in 17 asks Celery to retry it (``self.retry``, 1 s countdown) on its first two
  runs, then works: Celery's own retries, which keep the task's id;
* one that ends in 19 raises ``RetryableSyncError`` every time, which ``autoretry_for``
  retries once before the task fails for good;
* with $DEMO_RECORD_FILE set, it appends one JSON line when it starts and one when it ends
  (task id, time, pid, worker, and at the end its outcome, ok or error): independent evidence
  of what ran when, for the tests and the chaos harness.

The settings below marked "Worker Pool relies on" are the ones its guarantees need.
"""
import json
import os
import socket
import time

from celery import Celery

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
BROKER = os.environ.get("CELERY_BROKER_URL") or REDIS_URL
BACKEND = os.environ.get("CELERY_RESULT_BACKEND") or (
    REDIS_URL if BROKER.split("://")[0] in ("amqp", "amqps", "pyamqp") else BROKER)
QUEUE = os.environ.get("WORKER_POOL_CELERY_QUEUE") or "celery"
SPEED = float(os.environ.get("DEMO_SPEED", "1"))
RECORD = os.environ.get("DEMO_RECORD_FILE")

# Worker Pool recommends (over RabbitMQ, relies on): a message delivered again after it ran (a
# broker crash that lost the worker's acknowledgement) runs once. `pip install
# ./clients/python` provides it; scripts/setup.sh installs it into the demo's venv.
app = Celery("demo", broker=BROKER, backend=BACKEND,
             task_cls="worker_pool_client.celery:RunOnceTask")
app.conf.update(
    # Worker Pool relies on: STARTED (with the worker's hostname) in the result backend.
    task_track_started=True,
    # Worker Pool relies on: a result is never lost to a Redis outage; the worker retries the
    # write until Redis is back, and only then does the pool free the slot.
    result_backend_always_retry=True,
    # Recommended: take one message at a time; the pool, not the worker, decides what is next.
    worker_prefetch_multiplier=1,
    task_default_queue=QUEUE,
    broker_connection_retry_on_startup=True,
)
# For the tests of `worker-pool doctor`: settings to get wrong on purpose (a JSON object of
# Celery settings, applied over the ones above) and task names to leave unregistered.
if os.environ.get("DEMO_CONF"):
    app.conf.update(json.loads(os.environ["DEMO_CONF"]))
UNREGISTERED = set(filter(None, os.environ.get("DEMO_UNREGISTER", "").split(",")))
TRANSPORT = {}
SENTINEL_MASTER = os.environ.get("WORKER_POOL_SENTINEL_MASTER")
if SENTINEL_MASTER:
    # Broker and backend behind Redis Sentinel (sentinel://host:26379;sentinel://host2:26379):
    # the master's name is a transport option in Celery, the same variable in the pool.
    TRANSPORT["master_name"] = SENTINEL_MASTER
    app.conf.result_backend_transport_options = {"master_name": SENTINEL_MASTER}
if os.environ.get("DEMO_VISIBILITY_TIMEOUT"):
    # How soon a message a lost worker had reserved but not started goes back to the queue.
    # Safe to keep short with Celery's default early acknowledgement (a started task is acked).
    TRANSPORT.update({
        "visibility_timeout": int(os.environ["DEMO_VISIBILITY_TIMEOUT"]),
        "unacked_restore_interval": 1,
        "unacked_restore_throttle": 1,
    })
if TRANSPORT:
    app.conf.broker_transport_options = TRANSPORT


class SyncError(Exception):
    """A CRM API refused a batch."""


class RetryableSyncError(SyncError):
    """A refusal Celery retries by itself (``autoretry_for``)."""


# Every sync task: Celery retries a RetryableSyncError once, a second later.
SYNC = dict(bind=True, autoretry_for=(RetryableSyncError,),
            retry_kwargs={"max_retries": 1, "countdown": 1})


def sync_task(name):
    """Registers a sync task under ``name`` (unless $DEMO_UNREGISTER names it)."""
    def register(fn):
        return fn if name in UNREGISTERED else app.task(name=name, **SYNC)(fn)
    return register


def _record(event, task, outcome=None):
    if not RECORD:
        return
    entry = {
        "event": event,
        "task_id": task.request.id,
        "task": task.name,
        "time": time.time(),
        "pid": os.getpid(),
        "worker": task.request.hostname,
    }
    if outcome:
        entry["outcome"] = outcome
    line = json.dumps(entry)
    # One write per line with O_APPEND: lines from concurrent processes never interleave.
    fd = os.open(RECORD, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def simulate_sync(task, full=False, batch_size=1000, dry_run=False):
    _record("start", task)
    outcome = "error"
    attempt = task.request.retries + 1
    try:
        tail = str(batch_size)[-2:]
        if tail == "17" and task.request.retries < 2:
            outcome = "retry"
            raise task.retry(countdown=1, max_retries=2,
                             exc=SyncError(f"simulated transient failure (run {attempt})"))
        if tail == "19":
            raise RetryableSyncError(f"simulated failure Celery retries once (run {attempt})")
        total = batch_size / 1000.0 * SPEED * (2 if full else 1)
        steps = 10
        for step in range(steps):
            if str(batch_size).endswith("13") and step == steps // 2:
                raise SyncError(f"simulated failure: the CRM API rejected batch {step + 1} "
                                f"(batch_size={batch_size})")
            time.sleep(total / steps)
            task.update_state(state="PROGRESS", meta={"done": step + 1, "total": steps})
        outcome = "ok"
        return {
            "task": task.name,
            "full": full,
            "batch_size": batch_size,
            "dry_run": dry_run,
            "synced": 0 if dry_run else batch_size,
            "host": socket.gethostname(),
        }
    finally:
        _record("end", task, outcome)


@sync_task("five9.contacts")
def five9_contacts(self, full=False, batch_size=1000, dry_run=False):
    """Five9 contact synchronization."""
    return simulate_sync(self, full, batch_size, dry_run)


@sync_task("genius.marketsharp_contacts")
def genius_marketsharp_contacts(self, full=False, batch_size=1000, dry_run=False):
    """MarketSharp contact sync."""
    return simulate_sync(self, full, batch_size, dry_run)


@sync_task("hubspot.all")
def hubspot_all(self, full=False, batch_size=1000, dry_run=False):
    """HubSpot data synchronization."""
    return simulate_sync(self, full, batch_size, dry_run)


@sync_task("genius.all")
def genius_all(self, full=False, batch_size=1000, dry_run=False):
    """All Genius CRM data."""
    return simulate_sync(self, full, batch_size, dry_run)


@sync_task("arrivy.all")
def arrivy_all(self, full=False, batch_size=1000, dry_run=False):
    """Arrivy data synchronization."""
    return simulate_sync(self, full, batch_size, dry_run)


# --- Benchmark tasks (bench/registry.json maps them into the pool) ------------------------------

@app.task(name="bench.noop", bind=True)
def bench_noop(self, full=False, batch_size=1000, dry_run=False):
    """Does nothing: measures the pool's and Celery's own overhead."""
    _record("start", self)
    _record("end", self, "ok")


@app.task(name="bench.sleep20", bind=True)
def bench_sleep20(self, full=False, batch_size=1000, dry_run=False):
    """Sleeps 20 ms."""
    _record("start", self)
    time.sleep(0.02)
    _record("end", self, "ok")
