"""``worker_pool_client.compat``: the seed's ``WorkerPoolService`` calls, served by the real
server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import worker_pool_client.compat as compat
from worker_pool_client import TaskStatus, WorkerPool

from conftest import Server


@pytest.fixture
def service(
    server: Server, pool: WorkerPool, monkeypatch: pytest.MonkeyPatch
) -> Iterator[compat.WorkerPoolService]:
    """The shared service, made from the environment as a Django process would make it."""
    monkeypatch.setenv("WORKER_POOL_URL", server.url)
    monkeypatch.setattr(compat, "_instance", None)
    svc = compat.get_worker_pool()
    yield svc
    svc.close()


def test_the_seeds_calls_work_unchanged(
    service: compat.WorkerPoolService, pool: WorkerPool
) -> None:
    assert compat.get_worker_pool() is service
    assert compat.worker_pool is service  # the seed's module-level instance

    service.set_max_workers(1)
    assert service.max_workers == 1

    first = service.submit_task("five9", "contacts", {"batch_size": 60_000}, priority=0)
    second = service.submit_task(
        crm_source="hubspot", sync_type="all", parameters={"full": True}, priority=5
    )
    assert isinstance(first, str) and isinstance(second, str) and first != second

    status = service.get_pool_status()
    assert isinstance(status, dict)
    for key in ("max_workers", "active_count", "queued_count", "available_workers",
                "utilization", "active_tasks", "queued_tasks"):  # fmt: skip
        assert key in status, key
    assert status["max_workers"] == 1 and status["active_count"] == 1
    assert status["queued_count"] == 1 and status["queued_tasks"][0]["task_id"] == second

    info = service.get_task_status(second)
    assert info is not None and info["status"] == TaskStatus.QUEUED.value
    assert info["parameters"] == {"full": True, "batch_size": 1000, "dry_run": False}
    assert service.get_task_status("no-such-task") is None

    report = service.process_queue()
    assert report["queued_count"] == 1 and isinstance(report["dispatched"], list)

    assert service.cancel_task(second) is True
    assert service.cancel_task(second) is False, "already cancelled"
    assert service.cancel_task("no-such-task") is False
    assert service.cancel_task(first) is True
    assert pool.wait(first, timeout=30).status is TaskStatus.CANCELLED

    with pytest.raises(ValueError) as e:
        service.set_max_workers(65)
    assert "max_workers" in str(e.value)
    assert service.max_workers == 1
