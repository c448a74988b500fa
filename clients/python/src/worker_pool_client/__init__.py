"""A typed client for the Worker Pool JSON API: a global concurrency limit and a priority
queue in front of Celery.

>>> from worker_pool_client import WorkerPool
>>> with WorkerPool() as pool:           # WORKER_POOL_URL, WORKER_POOL_API_TOKEN
...     task = pool.submit("five9", "contacts", {"batch_size": 500}, priority=10)
...     done = pool.wait(task.task_id, timeout=600)

:class:`WorkerPool` is synchronous, :class:`AsyncWorkerPool` its asyncio twin, and
:mod:`worker_pool_client.compat` the seed's ``WorkerPoolService`` call shape.
"""

from .aio import AsyncWorkerPool
from .client import WorkerPool
from .errors import (
    Conflict,
    FieldError,
    Forbidden,
    Invalid,
    NotFound,
    ServerError,
    Unauthorized,
    Unavailable,
    WaitTimeout,
    WorkerPoolError,
)
from .models import (
    DoctorCheck,
    DoctorReport,
    PoolConfig,
    PoolState,
    PoolStatus,
    ProcessReport,
    RateUse,
    SourceStatus,
    Task,
    TaskParameters,
    TaskStatus,
    parse_time,
)

__version__ = "0.1.0"

__all__ = [
    "WorkerPool",
    "AsyncWorkerPool",
    "Task",
    "TaskParameters",
    "TaskStatus",
    "PoolStatus",
    "PoolState",
    "PoolConfig",
    "ProcessReport",
    "DoctorReport",
    "DoctorCheck",
    "SourceStatus",
    "RateUse",
    "parse_time",
    "WorkerPoolError",
    "Invalid",
    "FieldError",
    "Unauthorized",
    "Forbidden",
    "NotFound",
    "Conflict",
    "Unavailable",
    "ServerError",
    "WaitTimeout",
]
