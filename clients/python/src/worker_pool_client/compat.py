"""The seed's ``WorkerPoolService`` call shape, served by a Worker Pool server.

The Django app this pool replaces called an in-process service (the module path below is
an example; use your project's)::

    from ingestion.services.worker_pool import get_worker_pool

    pool = get_worker_pool()
    task_id = pool.submit_task("five9", "contacts", {"batch_size": 500}, priority=10)
    status = pool.get_pool_status()          # {"max_workers": ..., "active_count": ..., ...}
    pool.set_max_workers(2)
    pool.cancel_task(task_id)                # True, or False if it cannot be cancelled
    pool.process_queue()

Changing the import to ``from worker_pool_client.compat import get_worker_pool`` sends the same
calls to the server (``WORKER_POOL_URL``, ``WORKER_POOL_API_TOKEN``), with the same return
shapes: ids as ``str``, the status and tasks as the plain dicts the seed's JSON API answered
(the server keeps its field names), booleans for cancel. A value the server refuses raises
:class:`~worker_pool_client.Invalid`, which is a ``ValueError`` as the seed's checks were. For
new code, :class:`~worker_pool_client.WorkerPool` gives typed objects instead of dicts.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Optional

from ._core import DEFAULT_TIMEOUT, TimeoutTypes
from .client import WorkerPool
from .errors import Conflict, NotFound
from .models import TaskStatus

# `worker_pool` is made on first use, by the module's __getattr__ below.
__all__ = ["WorkerPoolService", "TaskStatus", "get_worker_pool", "worker_pool"]  # noqa: F822


class WorkerPoolService:
    """The seed's service, as a client of the server: the same method names and returns."""

    def __init__(
        self,
        url: Optional[str] = None,
        token: Optional[str] = None,
        timeout: TimeoutTypes = DEFAULT_TIMEOUT,
    ) -> None:
        self._pool = WorkerPool(url, token, timeout)

    @property
    def client(self) -> WorkerPool:
        """The typed client underneath, for what the seed's service did not have."""
        return self._pool

    @property
    def max_workers(self) -> int:
        """The global limit in force (read from the server each time)."""
        return self._pool.status().max_workers

    def submit_task(
        self,
        crm_source: str,
        sync_type: str,
        parameters: Optional[Mapping[str, Any]] = None,
        priority: int = 0,
        *,
        tenant: Optional[str] = None,
        dedupe: Optional[str] = None,
    ) -> str:
        """Submits a sync task; returns its id (which is also its Celery task id)."""
        return self._pool.submit(
            crm_source, sync_type, parameters, priority, tenant=tenant, dedupe=dedupe
        ).task_id

    def get_task_status(self, task_id: str) -> Optional[dict[str, Any]]:
        """The task as a dict (``status``, ``error``, times...), or None if there is none."""
        try:
            return dict(self._pool.task(task_id).raw)
        except NotFound:
            return None

    def get_pool_status(self) -> dict[str, Any]:
        """The pool as a dict: ``max_workers``, ``active_count``, ``queued_count``,
        ``available_workers``, ``utilization``, ``state``, ``active_tasks``, ``queued_tasks``
        and the rest of ``GET status/``."""
        return dict(self._pool.status().raw)

    def set_max_workers(self, max_workers: int) -> None:
        """Sets the global limit; raises ``ValueError`` (:class:`Invalid`) outside 1 to 64."""
        self._pool.set_max_workers(max_workers)

    def cancel_task(self, task_id: str) -> bool:
        """Cancels a queued or running task: True if it was, False if there is no such task
        or it already finished."""
        try:
            self._pool.cancel(task_id)
        except (NotFound, Conflict):
            return False
        return True

    def process_queue(self) -> dict[str, Any]:
        """Processes the queue now; returns what the pass did (``reconciled``, ``dispatched``,
        ``reclaimed``, ``available_workers``, ``queued_count``)."""
        return dict(self._pool.process_queue().raw)

    def close(self) -> None:
        """Releases the client's connections."""
        self._pool.close()

    def __enter__(self) -> WorkerPoolService:
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()


_instance: Optional[WorkerPoolService] = None
_instance_lock = threading.Lock()


def get_worker_pool() -> WorkerPoolService:
    """The process's one service, made on first use from the environment (as the seed's)."""
    global _instance
    with _instance_lock:
        if _instance is None:
            _instance = WorkerPoolService()
        return _instance


def __getattr__(name: str) -> Any:
    # ``from worker_pool_client.compat import worker_pool`` (the seed's module-level
    # instance), made on first use rather than at import.
    if name == "worker_pool":
        return get_worker_pool()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
