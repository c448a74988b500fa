"""Shared fixtures: a real Worker Pool server and a real Celery worker (the demo app, see
``demo/demo_app.py``), on a key prefix and a Celery queue of this test run's own, in the Redis
at ``REDIS_URL``.

What they need, and fail (never skip) without:

* the server binary: ``WORKER_POOL_BIN``, else ``target/debug/worker-pool``;
* Celery: the ``celery`` beside this Python, else ``$WORKER_POOL_VENV/bin/celery``
  (default ``~/.cache/worker-pool/venv``);
* Redis at ``REDIS_URL`` (default ``redis://127.0.0.1:6379/0``), shared with others: every key
  this run makes is under its own prefix (or is one of its tasks' Celery results), and only
  those are deleted afterwards.
"""

from __future__ import annotations

import atexit
import http.server
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import httpx
import pytest
import redis

from worker_pool_client import Conflict, NotFound, WorkerPool

ROOT = Path(__file__).resolve().parents[3]
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
API = "/ingestion/crm-dashboard/api/worker-pool/"
#: The limit every test starts from (the worker runs this many tasks at once, too).
BASE_WORKERS = 2

# Every process the fixtures start, so that even an interrupted run leaves none behind.
_CHILDREN: list[subprocess.Popen[bytes]] = []


def _kill_all_children() -> None:
    for proc in _CHILDREN:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                pass


atexit.register(_kill_all_children)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def child_env(**extra: str) -> dict[str, str]:
    """This process's environment without anything that configures a pool, a Celery app or
    the demo, plus ``extra``: a developer's own settings never leak into the tests."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("WORKER_POOL_", "CELERY_", "LEPTOS_", "DEMO_", "MAX_SYNC_"))
    }
    env["REDIS_URL"] = REDIS_URL
    env.update(extra)
    return env


def start_process(
    argv: list[str], env: dict[str, str], cwd: Path, log: Path
) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            argv,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            # A process group of its own, so that stopping it takes its children too.
            start_new_session=True,
        )
    _CHILDREN.append(proc)
    return proc


def stop_process(proc: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """SIGTERM (a warm shutdown), then SIGKILL to the whole group if it lingers."""
    if proc.poll() is None:
        try:
            os.kill(proc.pid, signal.SIGTERM)
            proc.wait(grace)
        except (OSError, subprocess.TimeoutExpired):
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass
    proc.wait(5)


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass
class Server:
    """A ``worker-pool`` server process on a free loopback port."""

    prefix: str
    queue: str
    workdir: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    url: str = ""
    proc: Optional[subprocess.Popen[bytes]] = None

    @property
    def log(self) -> Path:
        return self.workdir / "server.log"

    def start(self) -> None:
        binary = Path(os.environ.get("WORKER_POOL_BIN") or ROOT / "target/debug/worker-pool")
        if not os.access(binary, os.X_OK):
            pytest.fail(
                f"the server binary {binary} is missing: build it (cargo build) or set "
                "WORKER_POOL_BIN",
                pytrace=False,
            )
        # A free port can be taken between looking and binding: try a few.
        for _ in range(3):
            addr = f"127.0.0.1:{free_port()}"
            env = child_env(
                LEPTOS_SITE_ADDR=addr,
                LEPTOS_SITE_ROOT=str(ROOT / "target/site"),
                WORKER_POOL_PREFIX=self.prefix,
                WORKER_POOL_CELERY_QUEUE=self.queue,
                MAX_SYNC_WORKERS=str(BASE_WORKERS),
                RUST_LOG="info",
                **self.extra_env,
            )
            # Its own working directory: the server reads a .env file from there.
            self.proc = start_process([str(binary)], env, self.workdir, self.log)
            self.url = f"http://{addr}"
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    if httpx.get(self.url + "/readyz", timeout=2).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
            if self.proc.poll() is None:
                stop_process(self.proc)
                pytest.fail(
                    f"the server did not become ready in 60 s:\n{_tail(self.log)}", pytrace=False
                )
            if "in use" not in self.log.read_text(errors="replace").lower():
                break
        pytest.fail(f"the server exited:\n{_tail(self.log)}", pytrace=False)

    def task_ids(self) -> list[str]:
        """Every task this server knows (to delete their Celery results afterwards)."""
        try:
            r = httpx.get(self.url + API + "tasks/", params={"limit": "1000"}, timeout=10)
            return [t["task_id"] for t in r.json()["tasks"]]
        except (httpx.HTTPError, ValueError, KeyError):
            return []

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)


def delete_keys(conn: redis.Redis, prefix: str, task_ids: list[str]) -> None:
    """Deletes this run's keys and nothing else: everything under ``prefix``, kombu's bindings
    of its queues, and its tasks' results (a re-sent task's too: ``<id>~n``)."""
    for pattern in (
        f"{prefix}*",
        f"_kombu.binding.{prefix}*",
        f"_kombu.binding_permanent.{prefix}*",
    ):
        batch = []
        for key in conn.scan_iter(match=pattern, count=1000):
            batch.append(key)
            if len(batch) >= 500:
                conn.delete(*batch)
                batch = []
        if batch:
            conn.delete(*batch)
    results = [
        key
        for tid in task_ids
        for suffix in ("", "~1", "~2", "~3")
        # The result, and the demo workers' run claims (worker_pool_client.celery) per retry.
        for key in [f"celery-task-meta-{tid}{suffix}"]
        + [f"worker-pool-run:{tid}{suffix}:{n}" for n in range(4)]
    ]
    for i in range(0, len(results), 500):
        conn.delete(*results[i : i + 500])


@pytest.fixture(scope="session")
def redis_conn() -> Iterator[redis.Redis]:
    conn = redis.Redis.from_url(REDIS_URL, socket_timeout=5)
    try:
        conn.ping()
    except redis.RedisError as e:
        pytest.fail(f"these tests need Redis at {REDIS_URL}: {e}", pytrace=False)
    yield conn
    conn.close()


@pytest.fixture(scope="session")
def run_id() -> str:
    """This run's key prefix: nothing else in the shared Redis starts with it."""
    return f"wp-pyclient:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def server(
    redis_conn: redis.Redis, run_id: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """The server the tests talk to (no API token, so writes are open; loopback only)."""
    srv = Server(prefix=run_id, queue=f"{run_id}:celery", workdir=tmp_path_factory.mktemp("server"))
    try:
        srv.start()
        yield srv
    finally:
        ids = srv.task_ids() if srv.url else []
        srv.stop()
        delete_keys(redis_conn, srv.prefix, ids)


@pytest.fixture(scope="session")
def auth_token() -> str:
    return "pyclient-" + secrets.token_hex(16)


@pytest.fixture(scope="session")
def auth_server(
    redis_conn: redis.Redis,
    run_id: str,
    auth_token: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Server]:
    """A second server, with ``WORKER_POOL_API_TOKEN``, on a prefix and a queue of its own
    (no worker takes from it: its tasks wait for one)."""
    prefix = f"{run_id}:auth"
    srv = Server(
        prefix=prefix,
        queue=f"{prefix}:celery",
        workdir=tmp_path_factory.mktemp("auth-server"),
        extra_env={"WORKER_POOL_API_TOKEN": auth_token},
    )
    try:
        srv.start()
        yield srv
    finally:
        ids = srv.task_ids() if srv.url else []
        srv.stop()
        delete_keys(redis_conn, srv.prefix, ids)


def _celery() -> Path:
    here = Path(sys.executable).parent / "celery"
    if here.exists():
        return here
    venv = Path(os.environ.get("WORKER_POOL_VENV") or Path.home() / ".cache/worker-pool/venv")
    return venv / "bin/celery"


@pytest.fixture(scope="session")
def celery_worker(
    server: Server, redis_conn: redis.Redis, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A stock Celery worker of the demo app on the server's queue; yields its hostname."""
    celery = _celery()
    if not celery.exists():
        pytest.fail(
            f"{celery} is missing: the tests need the venv with Celery (scripts/setup.sh "
            "makes it; WORKER_POOL_VENV moves it)",
            pytrace=False,
        )
    workdir = tmp_path_factory.mktemp("worker")
    log = workdir / "worker.log"
    name = f"pyclient-{uuid.uuid4().hex[:8]}"
    env = child_env(WORKER_POOL_CELERY_QUEUE=server.queue, PYTHONUNBUFFERED="1")
    argv = [
        str(celery), "-A", "demo_app", "worker", "-c", str(BASE_WORKERS), "-Q", server.queue,
        "-n", f"{name}@%h", "--loglevel=info", "--without-mingle", "--without-gossip",
    ]  # fmt: skip
    proc = start_process(argv, env, ROOT / "demo", log)
    hostname = f"{name}@{socket.gethostname()}"
    try:
        deadline = time.monotonic() + 90
        while " ready." not in log.read_text(errors="replace"):
            if proc.poll() is not None:
                pytest.fail(f"the Celery worker exited:\n{_tail(log)}", pytrace=False)
            if time.monotonic() > deadline:
                pytest.fail(f"the Celery worker did not start:\n{_tail(log)}", pytrace=False)
            time.sleep(0.1)
        yield hostname
    finally:
        stop_process(proc, grace=15)
        # Its remote-control binding and mailbox are in Celery's shared keys: remove only its own.
        for member in redis_conn.sscan_iter("_kombu.binding.celery.pidbox", match=f"*{name}@*"):
            redis_conn.srem("_kombu.binding.celery.pidbox", member)
        for key in redis_conn.scan_iter(match=f"{name}@*", count=1000):
            redis_conn.delete(key)


def drain(pool: WorkerPool, timeout: float = 60) -> None:
    """Cancels whatever is queued or running and waits until it has ended."""
    live = pool.tasks(status="running", limit=1000) + pool.tasks(status="queued", limit=1000)
    for t in live:
        try:
            pool.cancel(t.task_id)
        except (Conflict, NotFound):
            pass
    for t in live:
        pool.wait(t.task_id, timeout=timeout)


@pytest.fixture
def pool(server: Server, celery_worker: str) -> Iterator[WorkerPool]:
    """A client of the shared server, which starts (and is left) empty at the base limit."""
    with WorkerPool(server.url) as p:
        drain(p)
        p.set_max_workers(BASE_WORKERS)
        yield p
        drain(p)
        p.set_max_workers(BASE_WORKERS)


# --- a proxy without the live channel ----------------------------------------------------------


class NoLiveProxy:
    """A reverse proxy in front of the real server that forwards every request but those of
    the live channel (``/api/events``), as a proxy that does not pass streams on might: with
    ``events="refuse"`` it answers them 404; with ``events="silent"`` it answers 200 with an
    event stream that never sends anything, as a proxy that buffers streams does. It records
    the requests it was sent."""

    def __init__(self, upstream: str, events: str = "refuse") -> None:
        self.upstream = upstream
        self.paths: list[str] = []
        self._closing = threading.Event()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _forward(self) -> None:
                proxy.paths.append(f"{self.command} {self.path}")
                if self.path.split("?")[0] == "/api/events" and events == "silent":
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream")
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    self.wfile.flush()
                    proxy._closing.wait(120)
                    self.close_connection = True
                    return
                if self.path.split("?")[0] == "/api/events":
                    body = b'{"error": "no streams here", "kind": "not_found"}'
                    self.send_response(404)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                length = int(self.headers.get("Content-Length") or 0)
                data = self.rfile.read(length) if length else None
                headers = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower() not in ("host", "connection", "content-length")
                }
                r = httpx.request(
                    self.command, proxy.upstream + self.path, content=data, headers=headers,
                    timeout=30,
                )  # fmt: skip
                self.send_response(r.status_code)
                for k, v in r.headers.items():
                    if k.lower() not in ("content-length", "transfer-encoding", "connection",
                                         "content-encoding"):  # fmt: skip
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(r.content)))
                self.end_headers()
                self.wfile.write(r.content)

            do_GET = _forward
            do_POST = _forward

        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._closing.set()
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture
def no_live_proxy(server: Server) -> Iterator[NoLiveProxy]:
    """The server behind a proxy that refuses the live channel."""
    proxy = NoLiveProxy(server.url)
    try:
        yield proxy
    finally:
        proxy.close()


@pytest.fixture
def silent_live_proxy(server: Server) -> Iterator[NoLiveProxy]:
    """The server behind a proxy whose live channel opens but never says anything."""
    proxy = NoLiveProxy(server.url, events="silent")
    try:
        yield proxy
    finally:
        proxy.close()


def wait_until(what: str, check: Callable[[], bool], timeout: float = 30) -> None:
    """Waits until ``check()`` is true, or fails naming ``what``."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)
