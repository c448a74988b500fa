"""``wait``: through the live channel, by polling, falling back from one to the other, and
keeping its deadline."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone

import pytest

from worker_pool_client import TaskStatus, WaitTimeout, WorkerPool, WorkerPoolError

from conftest import NoLiveProxy

SECONDS_2 = 2000  # batch_size: a demo task of about 2 s
LONG = 60_000


def _task_reads(proxy: NoLiveProxy, task_id: str) -> int:
    return sum(1 for p in proxy.paths if p.startswith("GET ") and f"/tasks/{task_id}/" in p)


def test_wait_follows_the_live_channel(pool: WorkerPool) -> None:
    task = pool.submit("five9", "contacts", {"batch_size": SECONDS_2})
    assert not task.is_finished
    # Polling every 10 minutes could never see the end within 20 s: only the live channel can.
    done = pool.wait(task.task_id, timeout=20, poll_interval=600)
    returned = datetime.now(timezone.utc)
    assert done.status is TaskStatus.COMPLETED
    assert done.finished_at is not None
    lag = (returned - done.finished_at).total_seconds()
    assert lag < 2.0, f"wait returned {lag:.2f} s after the task ended"
    assert not [t for t in threading.enumerate() if t.name == "worker-pool-live"], (
        "the live channel's thread ended with the wait"
    )


def test_wait_polls_when_told_to(pool: WorkerPool, no_live_proxy: NoLiveProxy) -> None:
    with WorkerPool(no_live_proxy.url) as proxied:
        task = proxied.submit("five9", "contacts", {"batch_size": SECONDS_2})
        done = proxied.wait(task.task_id, timeout=30, poll_interval=0.2, live=False)
    assert done.status is TaskStatus.COMPLETED
    assert not [p for p in no_live_proxy.paths if "/api/events" in p]
    assert _task_reads(no_live_proxy, task.task_id) >= 3


def test_wait_falls_back_to_polling_when_the_live_channel_is_unavailable(
    pool: WorkerPool, no_live_proxy: NoLiveProxy
) -> None:
    with WorkerPool(no_live_proxy.url) as proxied:
        task = proxied.submit("hubspot", "all", {"batch_size": SECONDS_2})
        done = proxied.wait(task.task_id, timeout=30, poll_interval=0.2)
    assert done.status is TaskStatus.COMPLETED
    streams = [p for p in no_live_proxy.paths if p == "GET /api/events"]
    assert len(streams) == 1, "the live channel was tried once, then left alone"
    assert _task_reads(no_live_proxy, task.task_id) >= 3


def test_wait_polls_when_the_live_channel_stays_silent(
    pool: WorkerPool, silent_live_proxy: NoLiveProxy
) -> None:
    with WorkerPool(silent_live_proxy.url) as proxied:
        task = proxied.submit("genius", "marketsharp_contacts", {"batch_size": SECONDS_2})
        started = time.monotonic()
        done = proxied.wait(task.task_id, timeout=30, poll_interval=0.2)
    took = time.monotonic() - started
    assert done.status is TaskStatus.COMPLETED
    # Well before the 30 s a live channel's own recheck would take: it polled meanwhile.
    assert took < 8, f"took {took:.1f} s"
    assert silent_live_proxy.paths.count("GET /api/events") == 1
    assert _task_reads(silent_live_proxy, task.task_id) >= 3


@pytest.mark.parametrize("live", [True, False])
def test_wait_keeps_its_deadline(pool: WorkerPool, live: bool) -> None:
    task = pool.submit("genius", "all", {"batch_size": LONG})
    started = time.monotonic()
    with pytest.raises(WaitTimeout) as e:
        pool.wait(task.task_id, timeout=1.5, poll_interval=5, live=live)
    took = time.monotonic() - started
    assert 1.5 <= took < 3.0, f"gave up after {took:.2f} s"
    assert isinstance(e.value, TimeoutError) and isinstance(e.value, WorkerPoolError)
    assert e.value.task is not None and e.value.task.task_id == task.task_id
    assert e.value.task.status is TaskStatus.RUNNING
    assert task.task_id in str(e.value)


def test_wait_returns_a_finished_task_at_once(pool: WorkerPool) -> None:
    task = pool.submit("arrivy", "all", {"batch_size": 100})
    done = pool.wait(task.task_id, timeout=60)
    started = time.monotonic()
    assert pool.wait(task.task_id, timeout=60) == done
    assert time.monotonic() - started < 0.5


def test_wait_checks_its_arguments(pool: WorkerPool) -> None:
    with pytest.raises(TypeError):
        pool.wait("x", timeout="soon")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        pool.wait("x", timeout=-1)
    with pytest.raises(ValueError):
        pool.wait("x", poll_interval=0)
