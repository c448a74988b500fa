"""The asyncio client, :class:`AsyncWorkerPool`: the same methods as :class:`WorkerPool`,
awaited."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Optional

import httpx

from . import _core
from ._core import (
    DEFAULT_POLL_INTERVAL,
    DEFAULT_TIMEOUT,
    FIRST_EVENT_WITHIN,
    LIVE_RECHECK,
    LIVE_RETRY,
    ParametersArg,
    Settings,
    SSEParser,
    StatusArg,
    TimeoutTypes,
)
from .client import _task_list
from .errors import Unavailable, WaitTimeout
from .models import DoctorReport, PoolConfig, PoolStatus, ProcessReport, Task

__all__ = ["AsyncWorkerPool"]


class AsyncWorkerPool:
    """The asyncio twin of :class:`WorkerPool` (same arguments, same methods, awaited).

    >>> async with AsyncWorkerPool() as pool:
    ...     task = await pool.submit("five9", "contacts")
    ...     done = await pool.wait(task.task_id, timeout=600)

    ``http_client`` lends an ``httpx.AsyncClient`` of your own; it is then yours to close.
    """

    def __init__(
        self,
        url: Optional[str] = None,
        token: Optional[str] = None,
        timeout: TimeoutTypes = DEFAULT_TIMEOUT,
        *,
        http_client: Optional[httpx.AsyncClient] = None,
    ) -> None:
        self._settings = Settings.resolve(url, token)
        self._timeout = _core.make_timeout(timeout)
        self._own_client = http_client is None
        self._http = (
            http_client if http_client is not None else httpx.AsyncClient(timeout=self._timeout)
        )

    @property
    def url(self) -> str:
        """The server's address."""
        return self._settings.base_url

    def __repr__(self) -> str:
        return f"AsyncWorkerPool(url={self.url!r})"

    # --- lifecycle ---------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Releases the connections (not those of an ``http_client`` you passed in)."""
        if self._own_client:
            await self._http.aclose()

    async def close(self) -> None:
        """The same as :meth:`aclose`."""
        await self.aclose()

    async def __aenter__(self) -> AsyncWorkerPool:
        return self

    async def __aexit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        await self.aclose()

    # --- the API -----------------------------------------------------------------------------

    async def _request(
        self,
        method: str,
        path: str,
        *,
        json: Optional[Mapping[str, Any]] = None,
        params: Optional[Mapping[str, str]] = None,
        timeout: Optional[httpx.Timeout] = None,
    ) -> Any:
        url = self._settings.api(path)
        try:
            response = await self._http.request(
                method,
                url,
                json=json,
                params=params,
                headers=self._settings.headers(),
                timeout=timeout or self._timeout,
            )
        except httpx.TransportError as e:
            raise _core.unreachable(e, method, url) from e
        return _core.read_json(response)

    async def status(self) -> PoolStatus:
        """See :meth:`WorkerPool.status`."""
        return PoolStatus.from_dict(await self._request("GET", "status/"))

    async def submit(
        self,
        crm_source: str,
        sync_type: str,
        parameters: ParametersArg = None,
        priority: int = 0,
        tenant: Optional[str] = None,
        dedupe: Optional[str] = None,
        task_id: Optional[str] = None,
    ) -> Task:
        """See :meth:`WorkerPool.submit` (the same resends with the same ``task_id``)."""
        body = _core.submit_body(
            crm_source, sync_type, parameters, priority, tenant, dedupe, task_id
        )
        for delay in _core.SUBMIT_RETRY_DELAYS:
            try:
                return Task.from_dict(await self._request("POST", "submit/", json=body))
            except Unavailable:
                await asyncio.sleep(delay)
        return Task.from_dict(await self._request("POST", "submit/", json=body))

    async def task(self, task_id: str) -> Task:
        """See :meth:`WorkerPool.task`."""
        return Task.from_dict(await self._request("GET", _core.task_path(task_id)))

    async def tasks(self, status: StatusArg = None, limit: Optional[int] = None) -> list[Task]:
        """See :meth:`WorkerPool.tasks`."""
        data = await self._request("GET", "tasks/", params=_core.tasks_query(status, limit))
        return _task_list(data)

    async def cancel(self, task_id: str) -> Task:
        """See :meth:`WorkerPool.cancel`."""
        return Task.from_dict(await self._request("POST", _core.task_path(task_id, "cancel/")))

    async def set_max_workers(self, n: int) -> PoolConfig:
        """See :meth:`WorkerPool.set_max_workers`."""
        return PoolConfig.from_dict(
            await self._request("POST", "config/", json=_core.max_workers_body(n))
        )

    async def process_queue(self) -> ProcessReport:
        """See :meth:`WorkerPool.process_queue`."""
        return ProcessReport.from_dict(await self._request("POST", "process-queue/"))

    async def doctor(self) -> DoctorReport:
        """See :meth:`WorkerPool.doctor`."""
        return DoctorReport.from_dict(await self._request("GET", "doctor/"))

    # --- waiting -----------------------------------------------------------------------------

    async def wait(
        self,
        task_id: str,
        timeout: Optional[float] = None,
        *,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        live: bool = True,
    ) -> Task:
        """See :meth:`WorkerPool.wait`: the live channel, else polling; the same arguments."""
        _core.wait_args(timeout, poll_interval)
        path = _core.task_path(task_id)
        deadline = None if timeout is None else time.monotonic() + timeout
        task = Task.from_dict(
            await self._request(
                "GET",
                path,
                timeout=_core.wait_read_timeout(self._timeout, deadline, time.monotonic()),
            )
        )
        watcher: Optional[_LiveWatcher] = None
        live_ok, retry_at = live, 0.0
        try:
            while not task.is_finished:
                now = time.monotonic()
                remaining = math.inf if deadline is None else deadline - now
                if remaining <= 0:
                    raise WaitTimeout(
                        f"Task {task.task_id} did not finish within {timeout} s; "
                        f"it is {task.status.value}.",
                        task,
                    )
                if watcher is not None and (
                    watcher.ended
                    or (not watcher.opened and now - watcher.started_at > FIRST_EVENT_WITHIN)
                ):
                    if watcher.opened:
                        # It worked, then dropped (a server restart): poll, try it again later.
                        retry_at = now + LIVE_RETRY
                    else:
                        # Refused, or silent from the start: poll from now on.
                        live_ok = False
                    await watcher.stop()
                    watcher = None
                if watcher is None and live_ok and now >= retry_at:
                    watcher = _LiveWatcher(self._http, self._settings, self._timeout)
                if watcher is not None:
                    recheck = LIVE_RECHECK if watcher.opened else poll_interval
                    await watcher.wait_for_change(min(remaining, recheck))
                else:
                    await asyncio.sleep(min(remaining, poll_interval))
                task = await self._reread(path, task, deadline)
        finally:
            if watcher is not None:
                await watcher.stop()
        return task

    async def _reread(self, path: str, last: Task, deadline: Optional[float]) -> Task:
        """The task again, or ``last`` while the server cannot answer."""
        limit = _core.wait_read_timeout(self._timeout, deadline, time.monotonic())
        try:
            return Task.from_dict(await self._request("GET", path, timeout=limit))
        except Unavailable:
            return last


class _LiveWatcher:
    """Reads the live channel in a task of its own, and says when something changed."""

    def __init__(self, http: httpx.AsyncClient, settings: Settings, timeout: httpx.Timeout) -> None:
        self._http = http
        self._settings = settings
        self._timeout = _core.stream_timeout(timeout)
        self._changed = asyncio.Event()
        self.started_at = time.monotonic()
        """When the channel was asked for."""
        self.opened = False
        """True once the channel sent its first event."""
        self.ended = False
        """True once the channel could not be opened, or ended."""
        self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        headers = {**self._settings.headers(), "Accept": "text/event-stream"}
        try:
            async with self._http.stream(
                "GET", self._settings.events_url, headers=headers, timeout=self._timeout
            ) as response:
                if not _core.is_event_stream(response):
                    return
                parser = SSEParser()
                async for line in response.aiter_lines():
                    event = parser.feed(line)
                    if event is not None:
                        self.opened = True
                    if event == "dashboard":
                        self._changed.set()
        except Exception:
            # Refused, dropped or silent for too long: wait() carries on by polling.
            pass
        finally:
            self.ended = True
            self._changed.set()

    async def wait_for_change(self, timeout: float) -> None:
        """Returns after a change, when the stream ends, or after ``timeout`` seconds."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._changed.wait(), timeout)
        self._changed.clear()

    async def stop(self) -> None:
        """Ends the stream."""
        self._task.cancel()
        # Waits for it to end without taking on its outcome (nor swallowing our own cancel).
        await asyncio.wait({self._task})
