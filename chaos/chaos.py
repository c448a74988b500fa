#!/usr/bin/env python3
"""Worker Pool's chaos harness.

Runs many tasks, with random durations and failures, through several server replicas and real
Celery workers, while it SIGKILLs a worker and a replica, kills and restarts Redis (its own
instance, with append-only persistence), and moves max_workers up and down. It also loses
messages on purpose: it takes the next message off the queue list, as a worker's BRPOP does,
and SIGKILLs a worker at that instant, so the message is gone before kombu recorded it anywhere
(the at-most-once window of kombu's Redis transport). It runs under flow control: a source
limit (five9), a per-tenant limit (hubspot, three tenants), a rate budget (arrivy), automatic
cool-downs (the demo's failures match the pattern), and pauses of a source and of the pool.
A tenth of the submits ask for deduplication (queued or active), and genius.all may run at
most RUNTIME_LIMIT seconds (max_runtime): the pool revokes longer runs. Then it checks,
from the Celery workers' own start and end records (not the pool's view), that:

  1. no task started while the number running was already at the limit then in force (the
     highest limit between the moment the pool published it and the moment it started);
  2. every accepted task ended in exactly one terminal state, agreeing with the records;
  3. the pool never caused a task to run twice, and a deduplicated submit always named a task
     of the same source, type and tenant;
  4. flow control: no start while its source's limit or its tenant's limit was reached (the
     workers' records); no rate window with more dispatches than the budget, and no dispatch
     of a paused or cooling-down source (the pool's dispatch times, on the Redis clock, against
     the pauses the harness made and the cool-downs the pool reported).

Usage (scripts/chaos.sh builds the server and runs this with the venv's Python):

    python3 chaos/chaos.py --profile short     # about 90 s, what CI runs
    python3 chaos/chaos.py --profile long      # about 15 min, by hand; results in docs/
    python3 chaos/chaos.py --ha                # Redis behind Sentinel (scripts/ha.sh): the
                                               # primary is killed and replaced instead
    python3 chaos/chaos.py --rabbitmq          # Celery's broker is a RabbitMQ node of the
                                               # harness's own (scripts/chaos-rabbitmq.sh): it is
                                               # SIGKILLed and restarted under load instead of
                                               # messages being lost on purpose

It prints a summary and writes it as JSON (--out). Exit code 0 when every check passes.
Only the standard library and redis-py (from the demo venv) are used.
"""
import argparse
import datetime
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from procs import (free_port, start_celery_worker, start_redis, start_sentinel,  # noqa: E402
                   start_server)
API = "/ingestion/crm-dashboard/api/worker-pool"
TYPES = [("five9", "contacts"), ("genius", "marketsharp_contacts"), ("hubspot", "all"),
         ("genius", "all"), ("arrivy", "all")]

PROFILES = {
    # tasks, submit window (s), replicas, workers, concurrency, duration range (ms), limits
    "short": dict(tasks=150, window=45, replicas=2, workers=3, concurrency=2,
                  ms=(100, 1500), initial_limit=3, limits=[5, 2, 4, 1, 3]),
    "long": dict(tasks=2000, window=780, replicas=3, workers=4, concurrency=3,
                 ms=(100, 3000), initial_limit=4, limits=[8, 3, 10, 2, 6, 1, 7, 4, 9, 5]),
}
# Clock slack between the pool's dispatch time (Redis clock) and the worker's record (same
# machine): a change within this of a dispatch counts as in force at it.
SLACK = 0.1
# Above a Redis restart plus the workers' own reconnect (Celery retries after 2, 4, 6… s):
# with 5 s, a live worker still reconnecting was judged lost (README, "Running Redis for it").
WORKER_TIMEOUT = 10
# Behind Sentinel, a worker is unreachable for the failover and its own reconnect (Celery
# retries after 2, 4, 6… s), and its heartbeats were seen to resume up to 19 s after a
# failover (with 12 s, live workers were judged lost): the timeout must be longer than that.
HA_WORKER_TIMEOUT = 30
# Flow control under chaos: five9 runs at most two at once, hubspot one per tenant, arrivy at
# most RATE[1] dispatches per RATE[2] seconds, and every failure cools its source down.
SOURCE_LIMITS = {"five9": 2}
TENANT_LIMITS = {"hubspot": 1}
TENANTS = ["t1", "t2", "t3"]
RATE = ("arrivy", 4, 3)
COOLDOWN = 2
# genius.all runs at most this many seconds (its registry entry's max_runtime).
RUNTIME_LIMITED = ("genius", "all")
RUNTIME_LIMIT = 1


def limited(task):
    """True for a task the pool revoked because it ran past its type's max_runtime."""
    return task.get("status") == "failed" and "max_runtime" in (task.get("error") or "")


def finished_at(task):
    return datetime.datetime.fromisoformat(task["finished_at"].replace("Z", "+00:00")).timestamp()


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def kill_group(proc, sig=signal.SIGKILL):
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


class Redis:
    """A private redis-server with append-only persistence (fsync on every write)."""

    def __init__(self, workdir):
        self.port = free_port()
        self.dir = os.path.join(workdir, "redis")
        os.makedirs(self.dir)
        self.proc = None
        self.restarts = 0

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        self.proc = start_redis(self.port, self.dir, persist=True)

    def kill(self):
        kill_group(self.proc)
        self.proc.wait()


class PrivateRabbitMQ:
    """A RabbitMQ node of the harness's own (--rabbitmq): its own node name, ports, data and
    log directory, started from Debian's rabbitmq-server as the current user, so killing and
    restarting it touches nothing else on the machine. Its queues and persistent messages
    survive a SIGKILL (they are on disk once confirmed)."""

    BIN = "/usr/lib/rabbitmq/bin"

    def __init__(self, workdir):
        self.port = free_port()
        self.dist = free_port()
        self.dir = os.path.join(workdir, "rabbitmq")
        os.makedirs(self.dir)
        with open(os.path.join(self.dir, "enabled_plugins"), "w") as f:
            f.write("[].\n")
        self.node = f"wpchaos{os.getpid()}@localhost"
        self.proc = None
        self.restarts = 0

    @property
    def url(self):
        return f"amqp://guest:guest@127.0.0.1:{self.port}//"

    def env(self):
        d = self.dir
        return dict(os.environ, RABBITMQ_NODENAME=self.node, RABBITMQ_NODE_PORT=str(self.port),
                    RABBITMQ_NODE_IP_ADDRESS="127.0.0.1", RABBITMQ_DIST_PORT=str(self.dist),
                    RABBITMQ_MNESIA_BASE=os.path.join(d, "mnesia"),
                    RABBITMQ_LOG_BASE=os.path.join(d, "log"),
                    RABBITMQ_PID_FILE=os.path.join(d, "pid"),
                    RABBITMQ_ENABLED_PLUGINS_FILE=os.path.join(d, "enabled_plugins"),
                    RABBITMQ_CONFIG_FILE=os.path.join(d, "none"),
                    RABBITMQ_ADVANCED_CONFIG_FILE=os.path.join(d, "none-advanced.config"))

    def start(self):
        server = os.path.join(self.BIN, "rabbitmq-server")
        if not os.access(server, os.X_OK):
            raise SystemExit(f"{server} is missing: scripts/setup.sh installs rabbitmq-server")
        out = open(os.path.join(self.dir, "server.out"), "a")
        self.proc = subprocess.Popen([server], env=self.env(), stdout=out, stderr=out,
                                     start_new_session=True)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"rabbitmq-server exited; see {self.dir}")
            ok = subprocess.run([os.path.join(self.BIN, "rabbitmqctl"), "-n", self.node, "-q",
                                 "await_startup", "--timeout", "2"], env=self.env(),
                                capture_output=True).returncode == 0
            if ok:
                return
            time.sleep(0.5)
        raise SystemExit(f"rabbitmq-server did not start; see {self.dir}")

    def kill(self):
        kill_group(self.proc)
        self.proc.wait()


class SentinelRedis:
    """Redis behind Sentinel (--ha): a primary, two replicas and three Sentinels, all private.
    `failover()` SIGKILLs whichever server is the primary now, waits until the Sentinels have
    promoted another, and starts the killed one again at once on its directory as a replica of
    the new primary, as a server that asks Sentinel at boot does (README, "High
    availability": an old primary restarted as a primary takes writes from Celery's workers
    until the Sentinels demote it, and they vanish). The pool and the workers reach Redis only
    through the Sentinels (Celery's `sentinel://` URLs, the master's name apart)."""

    REPLICAS = 2

    MASTER = "chaos"

    def __init__(self, workdir):
        self.dir = os.path.join(workdir, "redis")
        os.makedirs(self.dir)
        self.nodes = []
        for n in range(1 + self.REPLICAS):
            d = os.path.join(self.dir, f"node{n}")
            os.makedirs(d)
            self.nodes.append({"port": free_port(), "dir": d, "proc": None})
        self.sentinel_ports = [free_port() for _ in range(3)]
        self.sentinels = []
        self.restarts = 0   # failovers

    @property
    def url(self):
        return ";".join(f"sentinel://127.0.0.1:{p}/0" for p in self.sentinel_ports)

    @property
    def proc(self):
        return any(n["proc"] for n in self.nodes) or self.sentinels

    def _redis(self, port):
        import redis  # redis-py, from the demo venv
        return redis.Redis(host="127.0.0.1", port=port, decode_responses=True, socket_timeout=2)

    def _role(self, node):
        try:
            return self._redis(node["port"]).execute_command("ROLE")[0]
        except Exception:  # noqa: BLE001 (down, loading: no role yet)
            return None

    def _linked(self, node):
        try:
            return self._redis(node["port"]).info("replication").get("master_link_status") == "up"
        except Exception:  # noqa: BLE001
            return False

    def _wait(self, what, cond, secs=30):
        deadline = time.time() + secs
        while time.time() < deadline:
            if cond():
                return
            time.sleep(0.1)
        raise SystemExit(f"Sentinel set-up: {what} did not happen within {secs} s")

    def start(self):
        primary, *replicas = self.nodes
        primary["proc"] = start_redis(primary["port"], primary["dir"], persist=True)
        for replica in replicas:
            replica["proc"] = start_redis(replica["port"], replica["dir"], persist=True,
                                          extra=["--replicaof", "127.0.0.1", str(primary["port"])])
        for replica in replicas:
            self._wait("a replica linking", lambda r=replica: self._linked(r))
        for port in self.sentinel_ports:
            self.sentinels.append(start_sentinel(port, self.dir, self.MASTER, primary["port"]))

        def ready():
            try:
                return all(
                    (m := self._redis(p).sentinel_master(self.MASTER))["num-slaves"] == self.REPLICAS
                    and m["num-other-sentinels"] == 2 for p in self.sentinel_ports)
            except Exception:  # noqa: BLE001
                return False
        self._wait("the Sentinels finding the replica and each other", ready)

    def primary(self):
        """The node the Sentinels name as the primary now."""
        for p in self.sentinel_ports:
            try:
                _host, port = self._redis(p).sentinel_get_master_addr_by_name(self.MASTER)
                return next(n for n in self.nodes if n["port"] == int(port))
            except Exception:  # noqa: BLE001
                continue
        raise SystemExit("no Sentinel names a primary")

    @property
    def port(self):
        return self.primary()["port"]

    def failover(self):
        old = self.primary()
        others = [n for n in self.nodes if n is not old]
        kill_group(old["proc"])
        old["proc"].wait()
        old["proc"] = None
        killed = time.time()
        self._wait("the promotion of a replica",
                   lambda: any(self._role(n) == "master" for n in others))
        promoted = time.time()
        new = next(n for n in others if self._role(n) == "master")
        old["proc"] = start_redis(old["port"], old["dir"], persist=True,
                                  extra=["--replicaof", "127.0.0.1", str(new["port"])])
        self._wait("the old primary becoming a replica",
                   lambda: self._role(old) == "slave" and self._linked(old))
        self.restarts += 1
        return promoted - killed, time.time() - killed

    def kill(self):
        for n in self.nodes:
            if n["proc"]:
                kill_group(n["proc"])
                n["proc"].wait()
                n["proc"] = None
        for proc in self.sentinels:
            kill_group(proc)
            proc.wait()
        self.sentinels = []


class Replica:
    """One worker-pool server process."""

    def __init__(self, n, binary, env, workdir):
        self.n, self.binary, self.env, self.workdir = n, binary, env, workdir
        self.port = free_port()
        self.proc = None
        self.alive = False

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        log = os.path.join(self.workdir, f"replica-{self.n}.log")
        self.proc = start_server(self.binary, self.env, self.port, log)
        self.alive = True

    def kill(self):
        self.alive = False
        kill_group(self.proc)
        self.proc.wait()


class Worker:
    """A stock Celery worker running the demo app, recording what it runs."""

    def __init__(self, name, celery, env, concurrency, workdir):
        self.name, self.celery, self.env, self.concurrency = name, celery, env, concurrency
        self.records = os.path.join(workdir, f"records-{name}.jsonl")
        self.logpath = os.path.join(workdir, f"worker-{name}.log")
        self.proc = None
        self.killed_at = None
        self.stopped_at = None
        self.exited_at = None   # last time it exited by itself (its supervisor restarted it)

    def start(self):
        env = dict(self.env, DEMO_RECORD_FILE=self.records)
        self.proc = start_celery_worker(self.celery, self.name, env["WORKER_POOL_CELERY_QUEUE"],
                                        self.concurrency, env, self.logpath)

    def kill(self):
        """SIGKILL the whole worker (main process and pool children): no offline event."""
        self.killed_at = time.time()
        kill_group(self.proc)
        self.proc.wait()

    def warm_stop(self):
        """SIGTERM the main process, as a deploy does: a warm shutdown. It sends worker-offline
        with the tasks it still runs, no more heartbeats, and finishes them (their results come).
        Its tasks must end as they really ended, and keep their slots while it drains."""
        self.stopped_at = time.time()
        self.proc.send_signal(signal.SIGTERM)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            kill_group(self.proc, signal.SIGQUIT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                kill_group(self.proc)
                self.proc.wait()

    def read_records(self):
        if not os.path.exists(self.records):
            return []
        with open(self.records) as f:
            return [dict(json.loads(line), worker_name=self.name) for line in f if line.strip()]


def call(url, method="GET", body=None, timeout=5.0):
    """(status, json or None); status 0 when the server cannot be reached."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as res:
            return res.status, json.loads(res.read() or b"null")
    except urllib.error.HTTPError as e:
        try:
            return e.code, json.loads(e.read() or b"null")
        except ValueError:
            return e.code, None
    except (urllib.error.URLError, OSError, ValueError):
        return 0, None


class Harness:
    def __init__(self, args):
        self.args = args
        p = PROFILES[args.profile]
        self.p = p
        self.rng = random.Random(args.seed)
        self.workdir = tempfile.mkdtemp(prefix="wp-chaos-")
        self.redis = SentinelRedis(self.workdir) if args.ha else Redis(self.workdir)
        self.rabbit = PrivateRabbitMQ(self.workdir) if args.rabbitmq else None
        self.acked = threading.Event()   # set at each acknowledged submit
        self.worker_timeout = HA_WORKER_TIMEOUT if args.ha else WORKER_TIMEOUT
        self.replicas = []
        self.workers = []
        self.accepted = {}          # task id -> submit body
        self.deduplicated = []      # {task, same_key} per deduplicated submit
        self.rejected = 0
        self.limits = [(0.0, 0.0, p["initial_limit"])]  # (sent, returned, value)
        self.events = []            # (time, what)
        self.lock = threading.Lock()
        self.kills = {"workers": 0, "warm_stops": 0, "replicas": 0}
        self.lost_messages = []     # pool task ids whose message the harness lost on purpose
        self.pauses = []            # (source or '*', paused from, resumed at), harness times
        self.cooling = []           # (source, seen at, until), as the pool reported them

    # --- setup ---------------------------------------------------------------------------

    def setup(self):
        binary = self.args.bin
        if not os.access(binary, os.X_OK):
            raise SystemExit(f"{binary} is missing: build it first (scripts/chaos.sh does)")
        celery = os.path.join(self.args.venv, "bin", "celery")
        if not os.access(celery, os.X_OK):
            raise SystemExit(f"{celery} is missing: run scripts/setup.sh")
        self.redis.start()
        if self.rabbit:
            self.rabbit.start()
        queue = "chaos"
        registry = os.path.join(self.workdir, "registry.json")
        with open(registry, "w") as f:
            json.dump([dict(crm_source=src, sync_type=typ,
                            **({"max_runtime": RUNTIME_LIMIT} if (src, typ) == RUNTIME_LIMITED else {}))
                       for src, typ in TYPES], f)
        server_env = dict(os.environ, REDIS_URL=self.redis.url, WORKER_POOL_PREFIX="chaos",
                          WORKER_POOL_CELERY_QUEUE=queue,
                          MAX_SYNC_WORKERS=str(self.p["initial_limit"]),
                          WORKER_POOL_WORKER_TIMEOUT=f"{self.worker_timeout}s",
                          WORKER_POOL_RECONCILE_INTERVAL="5s",
                          WORKER_POOL_REDIS_TIMEOUT_MS="1000",
                          WORKER_POOL_SOURCE_LIMITS=",".join(f"{k}={v}" for k, v in SOURCE_LIMITS.items()),
                          WORKER_POOL_COOLDOWN_PATTERN="simulated failure",
                          WORKER_POOL_COOLDOWN=f"{COOLDOWN}s",
                          WORKER_POOL_TASK_REGISTRY=registry,
                          RUST_LOG=os.environ.get("RUST_LOG", "info"))
        server_env.pop("WORKER_POOL_API_TOKEN", None)
        worker_env = dict(os.environ, REDIS_URL=self.redis.url, WORKER_POOL_CELERY_QUEUE=queue,
                          DEMO_SPEED="1", DEMO_VISIBILITY_TIMEOUT="60")
        if self.args.ha:
            # Everyone follows the primary through the Sentinels; what the API acknowledges
            # is on the replica first.
            for env in (server_env, worker_env):
                env["WORKER_POOL_SENTINEL_MASTER"] = SentinelRedis.MASTER
            server_env.update(WORKER_POOL_REDIS_REPLICAS="1",
                              WORKER_POOL_REDIS_REPLICA_TIMEOUT="1s")
        else:
            for env in (server_env, worker_env):
                env.pop("WORKER_POOL_SENTINEL_MASTER", None)
        worker_env.pop("CELERY_BROKER_URL", None)
        worker_env.pop("CELERY_RESULT_BACKEND", None)
        if self.rabbit:
            # Celery's broker is RabbitMQ; its results, and the pool's state, stay in Redis.
            for env in (server_env, worker_env):
                env.update(CELERY_BROKER_URL=self.rabbit.url, CELERY_RESULT_BACKEND=self.redis.url)
            worker_env.pop("DEMO_VISIBILITY_TIMEOUT", None)
        self.worker_env = worker_env
        self.celery = celery
        for n in range(self.p["replicas"]):
            r = Replica(n, binary, server_env, self.workdir)
            r.start()
            self.replicas.append(r)
        for n in range(self.p["workers"]):
            self.add_worker()
        # The reaper trusts heartbeats only after listening for a whole timeout.
        time.sleep(self.worker_timeout + 1)
        rules = {src: {"tenant_limit": n} for src, n in TENANT_LIMITS.items()}
        rules[RATE[0]] = {"rate": {"starts": RATE[1], "per_seconds": RATE[2]}}
        status, limits = self.api("POST", "/limits/", {"sources": rules})
        if status != 200:
            raise SystemExit(f"could not set the flow-control rules: {status} {limits}")

    def add_worker(self):
        w = Worker(f"chaos{len(self.workers)}", self.celery, self.worker_env,
                   self.p["concurrency"], self.workdir)
        w.start()
        self.workers.append(w)
        return w

    def live(self):
        return [r for r in self.replicas if r.alive]

    def api(self, method, path, body=None):
        r = self.rng.choice(self.live())
        return call(r.url + API + path, method, body)

    # --- load ----------------------------------------------------------------------------

    def submit_loop(self, t0):
        n, window = self.p["tasks"], self.p["window"]
        lo, hi = self.p["ms"]
        for i in range(n):
            target = t0 + window * i / n
            time.sleep(max(0.0, target - time.time()))
            ms = self.rng.randint(lo, hi)
            if ms % 100 in (17, 19):
                ms += 1                   # (endings that make the demo ask Celery to retry)
            if self.rng.random() < 0.08:
                ms = ms - ms % 100 + 13   # ends in 13: fails half way
            # A client-chosen id makes sending it again safe: a submit answered 503 (a replica
            # did not confirm it, or the store was down) may exist all the same.
            body = {"crm_source": None, "sync_type": None, "parameters": {"batch_size": ms},
                    "priority": self.rng.randint(-5, 5),
                    "task_id": str(uuid.UUID(int=self.rng.getrandbits(128), version=4))}
            body["crm_source"], body["sync_type"] = self.rng.choice(TYPES)
            if body["crm_source"] in TENANT_LIMITS or self.rng.random() < 0.3:
                body["tenant"] = self.rng.choice(TENANTS + [None])
            if self.rng.random() < 0.1:
                body["dedupe"] = self.rng.choice(["queued", "active"])
            for _attempt in range(50):
                status, task = self.api("POST", "/submit/", body)
                if status == 201:
                    with self.lock:
                        self.accepted[task["task_id"]] = body
                    self.acked.set()
                    break
                if status == 200 and task.get("deduplicated"):
                    # An existing task of the same source, type and tenant: nothing was added.
                    # (One the harness never heard of is this very submit, accepted by an
                    # earlier attempt whose answer was lost: deduplication made it idempotent.)
                    same = all(task.get(k) == body.get(k) for k in ("crm_source", "sync_type", "tenant"))
                    with self.lock:
                        self.deduplicated.append({"task": task["task_id"], "same_key": same})
                        if task["task_id"] not in self.accepted:
                            self.accepted[task["task_id"]] = body
                    break
                time.sleep(0.2)   # a replica or Redis is down: try again (it was not accepted)
            else:
                self.rejected += 1
            if self.rng.random() < 0.03:
                self.cancel_someone()

    def cancel_someone(self):
        with self.lock:
            ids = list(self.accepted)
        if ids:
            self.api("POST", f"/tasks/{self.rng.choice(ids)}/cancel/", {})

    # --- chaos ---------------------------------------------------------------------------

    def set_limit(self, value):
        sent = time.time() - self.t0
        for _ in range(50):
            status, _ = self.api("POST", "/config/", {"max_workers": value})
            if status == 200:
                self.limits.append((sent, time.time() - self.t0, value))
                self.events.append((sent, f"max_workers -> {value}"))
                return
            time.sleep(0.2)
        raise SystemExit(f"could not set max_workers to {value}")

    def busiest_worker(self):
        """The running worker (not killed, not stopping) that has run the most tasks."""
        victims = [w for w in self.workers if w.killed_at is None and w.stopped_at is None]
        return max(victims, key=lambda w: len(w.read_records()))

    def chaos_loop(self, t0):
        window = self.p["window"]
        plan = []
        limits = self.p["limits"]
        for i, v in enumerate(limits):
            plan.append((window * (i + 0.5) / len(limits), "limit", v))
        plan.append((window * 0.10, "lose-message", None))
        plan.append((window * 0.20, "warm-stop-worker", None))
        plan.append((window * 0.30, "kill-worker", None))
        plan.append((window * 0.45, "kill-replica", None))
        plan.append((window * 0.60, "restart-redis", None))
        plan.append((window * 0.70, "lose-message", None))
        plan.append((window * 0.35, "pause", "hubspot"))
        plan.append((window * 0.55, "pause", None))
        if self.args.ha:
            # A few failovers: the primary is lost three times (five in the long profile).
            plan.append((window * 0.25, "restart-redis", None))
            plan.append((window * 0.80, "restart-redis", None))
            if self.args.profile == "long":
                plan.append((window * 0.45, "restart-redis", None))
        if self.args.profile == "long":
            plan.append((window * 0.40, "lose-message", None))
            plan.append((window * 0.75, "kill-worker", None))
            plan.append((window * 0.85, "restart-redis", None))
            plan.append((window * 0.90, "lose-message", None))
        plan.sort(key=lambda e: e[0])
        for at, what, value in plan:
            time.sleep(max(0.0, t0 + at - time.time()))
            now = time.time() - t0
            if what == "limit":
                self.set_limit(value)
            elif what == "kill-worker":
                victim = self.busiest_worker()
                victim.kill()
                self.kills["workers"] += 1
                self.events.append((now, f"SIGKILL worker {victim.name}"))
                log(f"killed worker {victim.name}")
                time.sleep(2)
                w = self.add_worker()
                self.events.append((time.time() - t0, f"started worker {w.name}"))
            elif what == "lose-message" and self.rabbit:
                # No message is lost between RabbitMQ and a worker; what RabbitMQ adds is its
                # own loss: SIGKILLed under load, started again on its data.
                self.rabbit.kill()
                self.rabbit.restarts += 1
                self.events.append((now, "SIGKILL rabbitmq"))
                log("killed rabbitmq")
                time.sleep(2)
                self.rabbit.start()
                self.events.append((time.time() - t0, "restarted rabbitmq"))
                log("restarted rabbitmq")
            elif what == "lose-message":
                self.lose_message(t0)
            elif what == "pause":
                self.pause(value, t0)
            elif what == "warm-stop-worker":
                victim = self.busiest_worker()
                victim.warm_stop()
                self.kills["warm_stops"] += 1
                self.events.append((now, f"SIGTERM (warm shutdown) worker {victim.name}"))
                log(f"warm shutdown of worker {victim.name}")
                w = self.add_worker()
                self.events.append((time.time() - t0, f"started worker {w.name}"))
            elif what == "kill-replica":
                victim = self.rng.choice(self.live())
                victim.kill()
                self.kills["replicas"] += 1
                self.events.append((now, f"SIGKILL replica {victim.n}"))
                log(f"killed replica {victim.n}")
                time.sleep(3)
                victim.start()
                self.events.append((time.time() - t0, f"restarted replica {victim.n}"))
            elif what == "restart-redis" and self.args.ha:
                # Right after an acknowledged submit, the primary dies without a word.
                self.acked.clear()
                self.acked.wait(5)
                victim = self.redis.primary()["port"]
                now = time.time() - t0
                promoted, rejoined = self.redis.failover()
                self.events.append((now, f"SIGKILL the Redis primary (:{victim}) right after an acknowledged submit"))
                self.events.append((time.time() - t0, f"failover: replica promoted after {promoted:.1f} s, "
                                    f"the old primary a replica after {rejoined:.1f} s"))
                log(f"failover: promoted after {promoted:.1f} s, old primary rejoined after {rejoined:.1f} s")
            elif what == "restart-redis":
                self.redis.kill()
                self.redis.restarts += 1
                self.events.append((now, "SIGKILL redis"))
                log("killed redis")
                time.sleep(2)
                self.redis.start()
                self.events.append((time.time() - t0, "restarted redis"))
                log("restarted redis")

    def pause(self, source, t0, seconds=4):
        """Pauses a source (or the pool) for a few seconds: nothing of it may be dispatched."""
        body = {"source": source} if source else {}
        for _ in range(50):
            status, _ = self.api("POST", "/pause/", body)
            if status == 200:
                break
            time.sleep(0.2)
        paused = time.time()
        self.events.append((paused - t0, f"paused {source or 'the pool'}"))
        time.sleep(seconds)
        resumed = time.time()
        for _ in range(50):
            status, _ = self.api("POST", "/resume/", body)
            if status == 200:
                break
            time.sleep(0.2)
        self.pauses.append((source or "*", paused, resumed))
        self.events.append((resumed - t0, f"resumed {source or 'the pool'}"))

    def supervise(self, stop):
        """What systemd's Restart= or Kubernetes does for a deployed worker: one that exited by
        itself (not killed or stopped by the harness) is started again under the same name.
        Seen behind Sentinel: Celery 5.7's worker exits on an 'Unrecoverable error' (kombu's
        restore of unacknowledged messages on a lost connection fails on the Sentinel pool);
        the pool takes its tasks back when the new process is heard from."""
        while not stop.wait(1.0):
            for w in list(self.workers):
                if w.proc is None or w.killed_at or w.stopped_at or w.proc.poll() is None:
                    continue
                w.exited_at = time.time()
                self.kills["exits"] = self.kills.get("exits", 0) + 1
                self.events.append((w.exited_at - self.t0,
                                    f"worker {w.name} exited by itself (rc {w.proc.returncode}; "
                                    f"see its log); restarted under the same name"))
                log(f"worker {w.name} exited by itself; restarting it")
                try:
                    w.start()
                except SystemExit as e:
                    log(f"could not restart worker {w.name}: {e}")
                    w.proc = None

    def watch_cooldowns(self, stop):
        """Records the cool-downs the pool reports, to check no dispatch happened in one."""
        while not stop.is_set():
            status, st = self.api("GET", "/status/")
            if status == 200 and st:
                now = time.time()
                for src, x in (st.get("sources") or {}).items():
                    until = x.get("cooldown_until")
                    if until:
                        end = datetime.datetime.fromisoformat(until.replace("Z", "+00:00")).timestamp()
                        self.cooling.append((src, now, end))
            stop.wait(0.5)

    def lose_message(self, t0):
        """Takes the next message the pool dispatches off the queue list (BRPOP, competing
        with the workers as one more consumer) and SIGKILLs a worker at that instant: the
        message vanishes as it does when a worker dies between kombu's BRPOP and its unacked
        bookkeeping. The pool must notice and send it again; it must still run exactly once."""
        import redis  # redis-py, from the demo venv
        r = redis.Redis(host="127.0.0.1", port=self.redis.port, socket_timeout=40)
        try:
            got = r.brpop([self.worker_env["WORKER_POOL_CELERY_QUEUE"]], timeout=30)
        except redis.RedisError as e:
            log(f"could not take a message to lose: {e}")
            return
        finally:
            r.close()
        victim = self.busiest_worker()
        victim.kill()
        now = time.time() - t0
        if got is None:
            self.events.append((now, f"no message to lose; SIGKILL worker {victim.name}"))
        else:
            celery_id = json.loads(got[1])["headers"]["id"]
            self.lost_messages.append(celery_id.split("~")[0])
            self.events.append((now, f"lost the message of {celery_id}; SIGKILL worker {victim.name}"))
            log(f"lost the message of {celery_id} and killed worker {victim.name}")
        self.kills["workers"] += 1
        time.sleep(2)
        w = self.add_worker()
        self.events.append((time.time() - t0, f"started worker {w.name}"))

    # --- run and verify ------------------------------------------------------------------

    def run(self):
        self.setup()
        self.t0 = t0 = time.time()
        log(f"running: {self.p['tasks']} tasks over {self.p['window']} s, "
            f"{len(self.replicas)} replicas, {len(self.workers)} workers x {self.p['concurrency']}")
        sub = threading.Thread(target=self.submit_loop, args=(t0,))
        sub.start()
        stop_watch = threading.Event()
        watch = threading.Thread(target=self.watch_cooldowns, args=(stop_watch,))
        watch.start()
        supervisor = threading.Thread(target=self.supervise, args=(stop_watch,))
        supervisor.start()
        self.chaos_loop(t0)
        sub.join()
        log(f"submitted: {len(self.accepted)} accepted; waiting for every task to end")
        final = self.wait_all_terminal(deadline=time.time() + self.args.drain_timeout)
        stop_watch.set()
        watch.join()
        supervisor.join()
        records = [r for w in self.workers for r in w.read_records()]
        return self.verify(final, records)

    def wait_all_terminal(self, deadline):
        pending = set(self.accepted)
        final = {}
        last_report = 0
        while pending and time.time() < deadline:
            for tid in list(pending):
                status, task = self.api("GET", f"/tasks/{tid}/")
                if status == 200 and task["status"] in ("completed", "failed", "cancelled"):
                    final[tid] = task
                    pending.discard(tid)
            if pending:
                if time.time() - last_report > 10:
                    log(f"{len(pending)} tasks not finished yet")
                    last_report = time.time()
                time.sleep(0.5)
        for tid in pending:
            status, task = self.api("GET", f"/tasks/{tid}/")
            final[tid] = task if status == 200 else {"status": f"unknown ({status})"}
        return final

    def limit_at(self, t, dispatched):
        """The highest limit in force at any moment between the task's dispatch (when the pool
        published its message) and its start on a worker: a task admitted under a higher limit
        may start after the limit was lowered. While a change is in flight (sent, not yet
        answered) both the old and the new value count."""
        rel = t - self.t0
        lo = min(rel, dispatched - self.t0) - SLACK
        best = self.limits[0][2]
        for _sent, returned, v in self.limits[1:]:
            if returned <= lo:
                best = v          # fully applied before the window opened
        for sent, returned, v in self.limits[1:]:
            if sent <= rel and returned >= lo:
                best = max(best, v)   # changed during the window
        return best

    def started_on_killed(self, task_id, killed):
        """True when the worker's STARTED in the result backend names a worker that was
        killed: a SIGKILL can land after Celery wrote STARTED and before the demo task wrote
        its own start record, and that task was lost with its worker all the same."""
        import redis  # redis-py, from the demo venv
        r = redis.Redis(host="127.0.0.1", port=self.redis.port)
        try:
            for n in range(6):
                cid = task_id if n == 0 else f"{task_id}~{n}"
                raw = r.get(f"celery-task-meta-{cid}")
                if raw is None:
                    continue
                meta = json.loads(raw)
                host = (meta.get("result") or {}).get("hostname") or ""
                if meta.get("status") == "STARTED" and host.split("@")[0] in killed:
                    return True
            return False
        finally:
            r.close()

    def verify(self, final, records):
        killed = {w.name: w.killed_at or w.exited_at for w in self.workers
                  if w.killed_at or w.exited_at}
        # When the pool published each task (its started_at): the start of the window in which
        # the limit it was admitted under counts. Everything else comes from the records.
        dispatched = {}
        for tid, task in final.items():
            at = task.get("started_at")
            if at:
                dispatched[tid] = datetime.datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp()
        by_task = {}
        for r in records:
            pool_id = r["task_id"].split("~")[0]
            by_task.setdefault(pool_id, []).append(r)

        # Intervals from the workers' own records; a killed worker's task ends at the kill.
        intervals = []
        for pool_id, recs in by_task.items():
            starts = [r for r in recs if r["event"] == "start"]
            for s in starts:
                end = next((r["time"] for r in recs if r["event"] == "end"
                            and r["task_id"] == s["task_id"] and r["pid"] == s["pid"]
                            and r["time"] >= s["time"]), None)
                if end is None and limited(final.get(pool_id, {})):
                    # Revoked (terminate) past its max_runtime: its pool child died without an
                    # end record; it ended no later than the pool recorded the revoke's answer.
                    end = finished_at(final[pool_id])
                if end is None:
                    end = killed.get(s["worker_name"], float("inf"))
                intervals.append((s["time"], end, pool_id))
        intervals.sort()
        over = []
        max_running = 0
        for start, _end, pool_id in intervals:
            running = sum(1 for (s, e, p) in intervals if p != pool_id and s < start < e)
            max_running = max(max_running, running + 1)
            limit = self.limit_at(start, dispatched.get(pool_id, start))
            if running >= limit:
                over.append({"task": pool_id, "at": round(start - self.t0, 3),
                             "running": running, "limit": limit})

        # Every accepted task: exactly one terminal state, agreeing with the records.
        counts = {"completed": 0, "failed": 0, "cancelled": 0}
        disagreements = []
        not_terminal = []
        for tid, task in final.items():
            st = task.get("status")
            if st not in counts:
                not_terminal.append({"task": tid, "status": st})
                continue
            counts[st] += 1
            recs = by_task.get(tid, [])
            ends = [r for r in recs if r["event"] == "end"]
            starts = [r for r in recs if r["event"] == "start"]
            ok = any(r.get("outcome") == "ok" for r in ends)
            if st == "completed" and not ok:
                disagreements.append({"task": tid, "status": st, "records": len(recs)})
            if st == "failed" and limited(task):
                # It ran (a start record) past its limit. Its body may have finished just as the
                # revoke arrived (Celery then reports REVOKED all the same), but never before the
                # limit had passed.
                early = [e for e in ends if e.get("outcome") == "ok" and starts
                         and e["time"] < min(r["time"] for r in starts) + RUNTIME_LIMIT]
                if early or not starts:
                    disagreements.append({"task": tid, "status": st, "error": task.get("error"),
                                          "records": recs})
                continue
            if st == "failed":
                lost = (task.get("error") or "").startswith("Worker lost")
                errored = any(r.get("outcome") == "error" for r in ends)
                on_killed = any(r["worker_name"] in killed for r in starts) or \
                    (lost and self.started_on_killed(tid, killed))
                if ok or not (errored or (lost and on_killed)):
                    disagreements.append({"task": tid, "status": st, "error": task.get("error")})
            if st == "cancelled" and ok:
                disagreements.append({"task": tid, "status": st, "note": "ran to completion"})

        flow = self.check_flow(final, intervals, dispatched)

        # Never run twice by the pool's doing.
        twice = [{"task": tid, "starts": n} for tid, recs in by_task.items()
                 if (n := sum(1 for r in recs if r["event"] == "start")) > 1]
        unknown_runs = sorted(set(by_task) - set(self.accepted))

        summary = {
            "profile": self.args.profile,
            "seed": self.args.seed,
            "tasks_submitted": self.p["tasks"],
            "tasks_accepted": len(self.accepted),
            "submissions_given_up": self.rejected,
            "outcomes": counts,
            "worker_records": len(records),
            "replicas": len(self.replicas),
            "workers_started": len(self.workers),
            "kills": self.kills,
            "ha": self.args.ha,
            "broker": "rabbitmq" if self.rabbit else "redis",
            "rabbitmq_restarts": self.rabbit.restarts if self.rabbit else 0,
            ("redis_failovers" if self.args.ha else "redis_restarts"): self.redis.restarts,
            "max_workers_changes": len(self.limits) - 1,
            "max_concurrent_observed": max_running,
            "check_1_over_limit_starts": len(over),
            "check_2_not_terminal": len(not_terminal),
            "check_2_disagreements": len(disagreements),
            "check_3_ran_twice": len(twice),
            "check_4_flow_control": {k: len(v) for k, v in flow.items()},
            "flow_seen": {
                "cool_downs": len({(src, round(until)) for src, _, until in self.cooling}),
                "pauses": len(self.pauses),
                "tenants": sorted({b.get("tenant") or "" for b in self.accepted.values()}),
            },
            "messages_lost_on_purpose": len(self.lost_messages),
            "lost_messages": [{"task": tid, "status": final.get(tid, {}).get("status"),
                               "resends": final.get(tid, {}).get("resends"),
                               "runs": sum(1 for r in by_task.get(tid, []) if r["event"] == "start")}
                              for tid in self.lost_messages],
            "runs_of_tasks_never_accepted": len(unknown_runs),
            "events": [f"{t:7.2f}s {e}" for t, e in sorted(self.events)],
            "details": {"over": over[:20], "not_terminal": not_terminal[:20],
                        "disagreements": disagreements[:20], "twice": twice[:20],
                        "flow": {k: v[:10] for k, v in flow.items()}},
        }
        wrong_key = [d for d in self.deduplicated if not d["same_key"]]
        summary["deduplicated_submits"] = len(self.deduplicated)
        summary["check_3_deduplicated_to_another_key"] = len(wrong_key)
        summary["runtime_limited"] = sum(1 for t in final.values() if limited(t))
        summary["passed"] = not (over or not_terminal or disagreements or twice or wrong_key
                                 or any(flow.values()))
        return summary

    def check_flow(self, final, intervals, dispatched):
        """Check 4: the flow-control rules held."""
        source_of = {tid: b["crm_source"] for tid, b in self.accepted.items()}
        tenant_of = {tid: b.get("tenant") for tid, b in self.accepted.items()}
        out = {"source_limit": [], "tenant_limit": [], "rate": [], "paused": [], "cooling": []}
        # Limits, from the workers' own start and end records.
        for start, _end, pid in intervals:
            src, tn = source_of.get(pid), tenant_of.get(pid)
            same_src = sum(1 for (s, e, p) in intervals
                           if p != pid and source_of.get(p) == src and s < start < e)
            if src in SOURCE_LIMITS and same_src >= SOURCE_LIMITS[src]:
                out["source_limit"].append({"task": pid, "at": round(start - self.t0, 3),
                                            "running": same_src})
            if src in TENANT_LIMITS and tn:
                same_tn = sum(1 for (s, e, p) in intervals if p != pid and source_of.get(p) == src
                              and tenant_of.get(p) == tn and s < start < e)
                if same_tn >= TENANT_LIMITS[src]:
                    out["tenant_limit"].append({"task": pid, "at": round(start - self.t0, 3),
                                                "tenant": tn, "running": same_tn})
        # The rate budget, from the pool's dispatch times (what the budget counts).
        src, starts, per = RATE
        times = sorted(t for tid, t in dispatched.items() if source_of.get(tid) == src)
        for i, t in enumerate(times):
            n = sum(1 for u in times[i:] if u < t + per - SLACK)
            if n > starts:
                out["rate"].append({"at": round(t - self.t0, 3), "dispatches": n})
        # Pauses and cool-downs: no dispatch inside one.
        for tid, t in dispatched.items():
            src = source_of.get(tid)
            for who, frm, to in self.pauses:
                if who in ("*", src) and frm + 0.5 < t < to - 0.5:
                    out["paused"].append({"task": tid, "source": src, "at": round(t - self.t0, 3)})
            for who, seen, until in self.cooling:
                if who == src and seen + 0.5 < t < until - 0.5:
                    out["cooling"].append({"task": tid, "source": src, "at": round(t - self.t0, 3)})
                    break
        return out

    def cleanup(self):
        for w in self.workers:
            w.stop()
        for r in self.replicas:
            if r.alive:
                kill_group(r.proc, signal.SIGTERM)
                try:
                    r.proc.wait(10)
                except subprocess.TimeoutExpired:
                    r.kill()
        if self.redis.proc:
            self.redis.kill()
        if self.rabbit and self.rabbit.proc and self.rabbit.proc.poll() is None:
            self.rabbit.kill()
        if self.args.keep:
            log(f"kept {self.workdir}")
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", choices=sorted(PROFILES), default="short")
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "debug", "worker-pool"))
    ap.add_argument("--venv", default=os.environ.get(
        "WORKER_POOL_VENV", os.path.expanduser("~/.cache/worker-pool/venv")))
    ap.add_argument("--ha", action="store_true",
                    help="Redis behind Sentinel (a primary, two replicas, three Sentinels); the "
                         "Redis restarts become failovers, each right after an acknowledged submit")
    ap.add_argument("--rabbitmq", action="store_true",
                    help="Celery's broker is a RabbitMQ node of the harness's own; the planned "
                         "message losses become RabbitMQ kills and restarts under load")
    ap.add_argument("--drain-timeout", type=float, default=300.0)
    ap.add_argument("--out", help="also write the summary here (JSON)")
    ap.add_argument("--keep", action="store_true", help="keep logs and records")
    args = ap.parse_args()
    h = Harness(args)
    try:
        summary = h.run()
    finally:
        h.cleanup()
    text = json.dumps(summary, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    log("PASSED" if summary["passed"] else "FAILED")
    sys.exit(0 if summary["passed"] else 1)


if __name__ == "__main__":
    main()
