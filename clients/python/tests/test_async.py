"""The asyncio client against the real server and worker: the main path, its errors, and its
``wait`` (live, polling, deadline)."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone

import pytest

from worker_pool_client import (
    AsyncWorkerPool,
    Conflict,
    Invalid,
    NotFound,
    PoolStatus,
    TaskStatus,
    WaitTimeout,
    WorkerPool,
)

from conftest import NoLiveProxy, Server


def test_the_async_client_runs_the_main_path(
    server: Server, pool: WorkerPool, celery_worker: str
) -> None:
    async def main() -> None:
        async with AsyncWorkerPool(server.url) as apool:
            status = await apool.status()
            assert isinstance(status, PoolStatus) and status.active_count == 0

            config = await apool.set_max_workers(1)
            assert config.max_workers == 1

            ok, bad, waiting = await asyncio.gather(
                apool.submit("five9", "contacts", {"batch_size": 1500}),
                apool.submit("five9", "contacts", {"batch_size": 213}),
                apool.submit("five9", "contacts", {"batch_size": 60_000}, priority=-5),
            )
            assert {t.task_id for t in await apool.tasks(status="queued")} >= {waiting.task_id}

            # The first to run is followed through the live channel (polling every 10 min
            # could not see it end in time).
            done = await apool.wait(ok.task_id, timeout=30, poll_interval=600)
            assert done.status is TaskStatus.COMPLETED and done.worker == celery_worker
            assert done.finished_at is not None
            assert (datetime.now(timezone.utc) - done.finished_at).total_seconds() < 2.0

            failed = await apool.wait(bad.task_id, timeout=30)
            assert failed.status is TaskStatus.FAILED and "SyncError" in (failed.error or "")

            report = await apool.process_queue()
            assert report.queued_count == 0  # the long one took the slot

            assert (await apool.cancel(waiting.task_id)).task_id == waiting.task_id
            assert (await apool.wait(waiting.task_id, timeout=30)).status is TaskStatus.CANCELLED
            with pytest.raises(Conflict):
                await apool.cancel(waiting.task_id)
            with pytest.raises(NotFound):
                await apool.task("no-such-task-async")
            with pytest.raises(Invalid) as e:
                await apool.submit("five9", "contacts", priority=101)
            assert [f.field for f in e.value.fields] == ["priority"]
            assert (await apool.task(ok.task_id)) == done

            doctor = await apool.doctor()
            assert any(c.check == "workers.consume" and c.status == "ok" for c in doctor.checks)

    asyncio.run(main())


def test_the_async_wait_polls_and_falls_back(pool: WorkerPool, no_live_proxy: NoLiveProxy) -> None:
    async def main() -> None:
        async with AsyncWorkerPool(no_live_proxy.url) as apool:
            a = await apool.submit("genius", "all", {"batch_size": 1000})
            b = await apool.submit("genius", "all", {"batch_size": 1000})
            done_a, done_b = await asyncio.gather(
                apool.wait(a.task_id, timeout=30, poll_interval=0.2),
                apool.wait(b.task_id, timeout=30, poll_interval=0.2, live=False),
            )
        assert done_a.status is TaskStatus.COMPLETED and done_b.status is TaskStatus.COMPLETED

    asyncio.run(main())
    assert no_live_proxy.paths.count("GET /api/events") == 1, "only the live wait tried it"


def test_the_async_wait_keeps_its_deadline(server: Server, pool: WorkerPool) -> None:
    async def main() -> None:
        async with AsyncWorkerPool(server.url) as apool:
            task = await apool.submit("arrivy", "all", {"batch_size": 60_000})
            started = time.monotonic()
            with pytest.raises(WaitTimeout) as e:
                await apool.wait(task.task_id, timeout=1.5)
            took = time.monotonic() - started
            assert 1.5 <= took < 3.0, f"gave up after {took:.2f} s"
            assert e.value.task is not None and e.value.task.status is TaskStatus.RUNNING
            # Nothing of the wait is left running on the loop.
            others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            assert others == []

    asyncio.run(main())
