"""A server whose Redis is gone: writes are ``Unavailable`` (503) with the server's sentence,
reads answer the last state seen, marked stale. The Redis here is a private one, killed on
purpose; the shared one is never touched."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from worker_pool_client import TaskStatus, Unavailable, WaitTimeout, WorkerPool

from conftest import Server, free_port, start_process, stop_process, wait_until


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.fail("redis-server is missing (scripts/setup.sh installs it)", pytrace=False)
    port = free_port()
    argv = [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", str(tmp_path)]  # fmt: skip
    proc = start_process(argv, {"PATH": "/usr/bin:/bin"}, tmp_path, tmp_path / "redis.log")
    url = f"redis://127.0.0.1:{port}/0"
    conn = redis.Redis.from_url(url, socket_timeout=1)

    def answers() -> bool:
        try:
            return bool(conn.ping())
        except redis.RedisError:
            return False

    wait_until("the private redis-server", answers, timeout=10)
    conn.close()
    try:
        yield url, proc
    finally:
        stop_process(proc, grace=2)


def test_without_its_store_the_server_is_unavailable_for_writes(
    private_redis: tuple[str, subprocess.Popen[bytes]], run_id: str, tmp_path: Path
) -> None:
    url, redis_proc = private_redis
    srv = Server(
        prefix=f"{run_id}:outage",
        queue=f"{run_id}:outage:celery",
        workdir=tmp_path,
        extra_env={"REDIS_URL": url, "WORKER_POOL_REDIS_TIMEOUT_MS": "300"},
    )
    srv.start()
    try:
        with WorkerPool(srv.url) as pool:
            task = pool.submit("five9", "contacts")
            assert not pool.status().stale

            stop_process(redis_proc, grace=0)
            wait_until("a stale status", lambda: pool.status().stale, timeout=20)
            status = pool.status()
            assert status.fresh_at is not None and status.active_count == 1

            with pytest.raises(Unavailable) as e:
                pool.submit("five9", "contacts")
            assert e.value.status == 503 and e.value.kind == "unavailable"
            assert "Redis" in str(e.value) and "nothing was changed" in str(e.value)
            with pytest.raises(Unavailable):
                pool.set_max_workers(3)

            # A wait rides out the outage (the reads answer the last state seen, or fail and
            # are tried again) until its deadline. It polls (live=False): with this server, a
            # live channel opened while the store is away makes the whole server stop
            # answering (its dashboard fallback locks the same std Mutex twice), which the
            # server, not this client, must fix.
            started = time.monotonic()
            with pytest.raises(WaitTimeout) as w:
                pool.wait(task.task_id, timeout=1.0, poll_interval=0.2, live=False)
            assert time.monotonic() - started < 3.0
            assert w.value.task is not None and w.value.task.status is TaskStatus.RUNNING
    finally:
        srv.stop()
