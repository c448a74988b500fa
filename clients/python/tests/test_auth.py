"""A server with ``WORKER_POOL_API_TOKEN``: reads stay open, writes need the bearer token."""

from __future__ import annotations

import pytest

from worker_pool_client import TaskStatus, Unauthorized, WorkerPool

from conftest import Server


def test_writes_need_the_token(auth_server: Server, auth_token: str) -> None:
    with WorkerPool(auth_server.url, token="") as anonymous:
        assert anonymous.status().max_workers >= 1, "reads are open"
        with pytest.raises(Unauthorized) as e:
            anonymous.submit("five9", "contacts")
        assert e.value.status == 401 and e.value.kind == "unauthorized"
        assert "Authorization: Bearer" in str(e.value)
        with pytest.raises(Unauthorized):
            anonymous.set_max_workers(2)
        with pytest.raises(Unauthorized):
            anonymous.process_queue()

    with WorkerPool(auth_server.url, token="not-the-token-at-all") as wrong:
        with pytest.raises(Unauthorized) as e:
            wrong.submit("five9", "contacts")
        assert str(e.value) == "The bearer token is not valid."

    with WorkerPool(auth_server.url, token=auth_token) as allowed:
        assert allowed.set_max_workers(1).max_workers == 1
        task = allowed.submit("five9", "contacts")
        assert task.status in (TaskStatus.QUEUED, TaskStatus.RUNNING)
        assert allowed.cancel(task.task_id).task_id == task.task_id
        # No worker takes from this server's queue: its message is withdrawn, and the wait
        # (a read) needs no token.
    with WorkerPool(auth_server.url, token="") as anonymous:
        assert anonymous.wait(task.task_id, timeout=10).status is TaskStatus.CANCELLED


def test_the_token_comes_from_the_environment(
    auth_server: Server, auth_token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WORKER_POOL_URL", auth_server.url)
    monkeypatch.setenv("WORKER_POOL_API_TOKEN", auth_token)
    with WorkerPool() as pool:
        assert pool.process_queue().queued_count >= 0
        assert pool.set_max_workers(2).max_workers == 2
