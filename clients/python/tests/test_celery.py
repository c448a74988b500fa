"""``worker_pool_client.celery.RunOnceTask``, on a real Redis of the test's own: a message
runs once however often it is delivered, and a Redis outage delays the claim instead of
failing the task (the chaos harness caught a task failed by a ConnectionError of the claim
while its Redis restarted). The end-to-end case, a message delivered again to a real worker
over both brokers, is in the Rust integration tests
(``a_message_delivered_again_after_its_task_ran_runs_once``)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator

import pytest
import redis
from celery import Celery
from celery.exceptions import Ignore

from worker_pool_client.celery import CLAIM_PREFIX, RunOnceTask


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_redis(port: int, directory: str) -> subprocess.Popen[bytes]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("these tests need redis-server (scripts/setup.sh installs it)", pytrace=False)
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", directory],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            redis.Redis(port=port, socket_timeout=1).ping()
            return proc
        except redis.ConnectionError:
            time.sleep(0.05)
    proc.kill()
    pytest.fail("redis-server did not start", pytrace=False)


@pytest.fixture
def port() -> Iterator[int]:
    yield _free_port()


def _app(port: int) -> tuple[Celery, RunOnceTask]:
    app = Celery("run-once", broker="memory://", backend=f"redis://127.0.0.1:{port}/0",
                 task_cls="worker_pool_client.celery:RunOnceTask")
    app.conf.update(result_backend_always_retry=True,
                    result_backend_max_sleep_between_retries_ms=200)

    @app.task(name=f"sync-{port}")  # type: ignore[misc]
    def sync() -> int:
        return 1

    return app, app.tasks[f"sync-{port}"]


def _deliver(task: RunOnceTask, task_id: str, retries: int = 0) -> None:
    """What a worker does with one delivery of ``task_id``'s message, up to the task's code."""
    task.push_request(id=task_id, retries=retries, called_directly=False, is_eager=False,
                      hostname="w@test")
    try:
        task.before_start(task_id, (), {})
    finally:
        task.pop_request()


def test_a_message_delivered_again_runs_nothing_and_keeps_the_first_end(port: int) -> None:
    directory = tempfile.mkdtemp(prefix="wp-runonce-")
    proc = _start_redis(port, directory)
    try:
        app, task = _app(port)
        assert isinstance(task, RunOnceTask)
        r = redis.Redis(port=port)
        _deliver(task, "t1")
        assert r.get(f"{CLAIM_PREFIX}t1:0").startswith(b"running:")
        # The first run ends: its end is kept with the claim.
        app.backend.store_result("t1", 1, "SUCCESS")
        task.push_request(id="t1", retries=0, called_directly=False)
        task.after_return("SUCCESS", 1, "t1", (), {}, None)
        task.pop_request()
        first_end = r.get("celery-task-meta-t1")
        assert first_end is not None and b"SUCCESS" in first_end
        # Delivered again: Celery writes STARTED first, then the task runs nothing and the
        # first end is back.
        app.backend.store_result("t1", {"pid": 1, "hostname": "w2@test"}, "STARTED")
        with pytest.raises(Ignore):
            _deliver(task, "t1")
        assert r.get("celery-task-meta-t1") == first_end
        # Celery's own retry of a task is a message of its own: it runs.
        _deliver(task, "t1", retries=1)
        assert r.get(f"{CLAIM_PREFIX}t1:1").startswith(b"running:")
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(directory, ignore_errors=True)


def test_a_redis_outage_delays_the_claim_and_never_fails_the_task(port: int) -> None:
    directory = tempfile.mkdtemp(prefix="wp-runonce-")
    _, task = _app(port)
    started: list[subprocess.Popen[bytes]] = []
    # Redis comes up a second after the delivery began: the claim waits for it.
    timer = threading.Timer(1.0, lambda: started.append(_start_redis(port, directory)))
    timer.start()
    try:
        t0 = time.time()
        _deliver(task, "t2")
        assert time.time() - t0 >= 0.9
        assert redis.Redis(port=port).get(f"{CLAIM_PREFIX}t2:0").startswith(b"running:")
    finally:
        timer.join()
        for proc in started:
            proc.kill()
            proc.wait()
        shutil.rmtree(directory, ignore_errors=True)


def test_a_claim_whose_reply_was_lost_is_found_as_its_own(port: int) -> None:
    """The long RabbitMQ chaos run caught this: Redis restarted as a worker claimed a message;
    the SET NX was applied but its reply lost, the retried SET found the key, and the task's
    only delivery was taken for a second one and never ran (its slot held for good)."""
    directory = tempfile.mkdtemp(prefix="wp-runonce-")
    proc = _start_redis(port, directory)
    try:
        _, task = _app(port)
        client = task.backend.client
        real_set = client.set
        calls = []

        def set_then_lose_the_reply(*args: object, **kwargs: object) -> object:
            result = real_set(*args, **kwargs)
            calls.append(result)
            if len(calls) == 1:
                raise redis.ConnectionError("Connection reset by peer")
            return result

        client.set = set_then_lose_the_reply
        try:
            _deliver(task, "t3")  # runs: no Ignore
        finally:
            client.set = real_set
        assert len(calls) == 2 and calls[1] is None, calls
        # A real second delivery is still recognised.
        with pytest.raises(Ignore):
            _deliver(task, "t3")
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(directory, ignore_errors=True)
