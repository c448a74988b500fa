"""The synchronous client, :class:`WorkerPool`."""

from __future__ import annotations

import math
import socket
import threading
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
from .errors import Unavailable, WaitTimeout
from .models import DoctorReport, PoolConfig, PoolStatus, ProcessReport, Task

__all__ = ["WorkerPool"]


class WorkerPool:
    """A client of one Worker Pool server's JSON API.

    >>> pool = WorkerPool()                      # WORKER_POOL_URL, WORKER_POOL_API_TOKEN
    >>> task = pool.submit("hubspot", "all", {"full": True}, priority=10)
    >>> pool.wait(task.task_id, timeout=3600).status
    <TaskStatus.COMPLETED: 'completed'>

    ``url`` is the server's address (default ``WORKER_POOL_URL``, else
    ``http://127.0.0.1:3000``); ``token`` the bearer token that writes need when the server
    has one (default ``WORKER_POOL_API_TOKEN``; ``""`` sends none). ``timeout`` bounds each
    request, in seconds (or an ``httpx.Timeout``). ``http_client`` lends an ``httpx.Client`` of
    your own (proxies, certificates); it is then yours to close.

    Use it as a context manager, or call :meth:`close`, to release its connections. One
    instance may be shared between threads.
    """

    def __init__(
        self,
        url: Optional[str] = None,
        token: Optional[str] = None,
        timeout: TimeoutTypes = DEFAULT_TIMEOUT,
        *,
        http_client: Optional[httpx.Client] = None,
    ) -> None:
        self._settings = Settings.resolve(url, token)
        self._timeout = _core.make_timeout(timeout)
        self._own_client = http_client is None
        self._http = http_client if http_client is not None else httpx.Client(timeout=self._timeout)

    @property
    def url(self) -> str:
        """The server's address."""
        return self._settings.base_url

    def __repr__(self) -> str:
        return f"WorkerPool(url={self.url!r})"

    # --- lifecycle ---------------------------------------------------------------------------

    def close(self) -> None:
        """Releases the connections (not those of an ``http_client`` you passed in)."""
        if self._own_client:
            self._http.close()

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()

    # --- the API -----------------------------------------------------------------------------

    def _request(
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
            response = self._http.request(
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

    def status(self) -> PoolStatus:
        """The whole pool: its limit, counts, state, running and queued tasks, sources."""
        return PoolStatus.from_dict(self._request("GET", "status/"))

    def submit(
        self,
        crm_source: str,
        sync_type: str,
        parameters: ParametersArg = None,
        priority: int = 0,
        tenant: Optional[str] = None,
        dedupe: Optional[str] = None,
        task_id: Optional[str] = None,
    ) -> Task:
        """Submits a sync; returns the task, queued or already running.

        ``parameters`` takes ``full``, ``batch_size`` and ``dry_run`` (a dict, or
        :class:`TaskParameters`); ``priority`` runs from -100 to 100, higher first; ``tenant``
        names the customer or account (per-tenant limits count by it); ``dedupe`` is
        ``"none"``, ``"queued"``, ``"active"`` or ``"replace"``. When deduplication returns an
        existing task instead of adding one, that task has ``deduplicated`` set.

        Each submit carries a ``task_id`` (yours, or a new UUID), so when no answer comes (the
        server is unreachable, times out, or answers 502/503/504) it is sent again, twice, with
        the same id: the server adds the task once, and a resend that finds it returns it with
        ``deduplicated`` set. A ``task_id`` of your own lets you resend later too. A different
        task under an id already used raises :class:`Conflict`.

        Raises :class:`Invalid` (with ``fields``) for values the server refuses, such as an
        unknown task type, and ``TypeError`` for arguments of the wrong type.
        """
        body = _core.submit_body(
            crm_source, sync_type, parameters, priority, tenant, dedupe, task_id
        )
        for delay in _core.SUBMIT_RETRY_DELAYS:
            try:
                return Task.from_dict(self._request("POST", "submit/", json=body))
            except Unavailable:
                time.sleep(delay)
        return Task.from_dict(self._request("POST", "submit/", json=body))

    def task(self, task_id: str) -> Task:
        """One task; :class:`NotFound` when there is none (or it finished long ago)."""
        return Task.from_dict(self._request("GET", _core.task_path(task_id)))

    def tasks(self, status: StatusArg = None, limit: Optional[int] = None) -> list[Task]:
        """Tasks: running first, then queued in dispatch order, then finished (newest first).

        ``status`` keeps one status (a :class:`TaskStatus` or its name); ``limit`` caps the
        list (1 to 1000; the server's default is 100).
        """
        data = self._request("GET", "tasks/", params=_core.tasks_query(status, limit))
        return _task_list(data)

    def cancel(self, task_id: str) -> Task:
        """Cancels a queued task, or revokes a running one (it ends ``cancelled`` once its
        worker confirms). :class:`Conflict` when the task already finished."""
        return Task.from_dict(self._request("POST", _core.task_path(task_id, "cancel/")))

    def set_max_workers(self, n: int) -> PoolConfig:
        """Sets the global limit (1 to 64). Takes effect at once; running tasks are never
        stopped, the pool drains down to a lower limit."""
        return PoolConfig.from_dict(
            self._request("POST", "config/", json=_core.max_workers_body(n))
        )

    def process_queue(self) -> ProcessReport:
        """Runs one pass now: records the results Celery has, then fills free slots."""
        return ProcessReport.from_dict(self._request("POST", "process-queue/"))

    def doctor(self) -> DoctorReport:
        """Checks what the pool's guarantees rely on (each Redis, the Celery workers' settings,
        the queue) and says what to fix, as ``worker-pool doctor`` does; takes about a second."""
        return DoctorReport.from_dict(self._request("GET", "doctor/"))

    # --- waiting -----------------------------------------------------------------------------

    def wait(
        self,
        task_id: str,
        timeout: Optional[float] = None,
        *,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        live: bool = True,
    ) -> Task:
        """Waits until the task completed, failed or was cancelled, and returns it.

        It listens to the server's live channel (``GET /api/events``) and reads the task again
        after each change. When the channel cannot be opened, or sends nothing (a proxy that
        refuses or buffers streams), it polls every ``poll_interval`` seconds instead; if the
        channel drops, it polls and tries it again later. ``live=False`` polls from the start.

        ``timeout`` is in seconds (None waits for as long as it takes); past it,
        :class:`WaitTimeout` is raised, with the task as last seen. While waiting, a server
        that does not answer for a while (a restart) is waited for too; a task that does not
        exist raises :class:`NotFound` at once.
        """
        _core.wait_args(timeout, poll_interval)
        path = _core.task_path(task_id)
        deadline = None if timeout is None else time.monotonic() + timeout
        task = Task.from_dict(
            self._request(
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
                    watcher.stop()
                    watcher = None
                if watcher is None and live_ok and now >= retry_at:
                    watcher = _LiveWatcher(self._http, self._settings, self._timeout)
                    watcher.start()
                if watcher is not None:
                    recheck = LIVE_RECHECK if watcher.opened else poll_interval
                    watcher.wait_for_change(min(remaining, recheck))
                else:
                    time.sleep(min(remaining, poll_interval))
                task = self._reread(path, task, deadline)
        finally:
            if watcher is not None:
                watcher.stop()
        return task

    def _reread(self, path: str, last: Task, deadline: Optional[float]) -> Task:
        """The task again, or ``last`` while the server cannot answer."""
        limit = _core.wait_read_timeout(self._timeout, deadline, time.monotonic())
        try:
            return Task.from_dict(self._request("GET", path, timeout=limit))
        except Unavailable:
            return last


def _task_list(data: Any) -> list[Task]:
    """``GET tasks/``'s tasks; a stale list marks each of its tasks stale."""
    stale, fresh_at = data.get("stale", False), data.get("fresh_at")
    out = []
    for item in data.get("tasks") or ():
        if stale:
            item = {**item, "stale": True, "fresh_at": fresh_at}
        out.append(Task.from_dict(item))
    return out


class _LiveWatcher(threading.Thread):
    """Reads the live channel on a thread of its own, and says when something changed.

    A thread, so that :meth:`WorkerPool.wait` can keep its deadline to the moment while the
    stream sits between two keep-alives; :meth:`stop` shuts the stream's socket, which wakes
    a blocked read at once.
    """

    def __init__(self, http: httpx.Client, settings: Settings, timeout: httpx.Timeout) -> None:
        super().__init__(name="worker-pool-live", daemon=True)
        self._http = http
        self._settings = settings
        self._timeout = _core.stream_timeout(timeout)
        self._changed = threading.Event()
        self._lock = threading.Lock()
        self._stopping = False
        self._sock: Optional[socket.socket] = None
        self.started_at = time.monotonic()
        """When the channel was asked for."""
        self.opened = False
        """True once the channel sent its first event."""
        self.ended = False
        """True once the stream could not be opened, or ended."""

    def run(self) -> None:
        headers = {**self._settings.headers(), "Accept": "text/event-stream"}
        try:
            with self._http.stream(
                "GET", self._settings.events_url, headers=headers, timeout=self._timeout
            ) as response:
                if not _core.is_event_stream(response):
                    return
                with self._lock:
                    if self._stopping:
                        return
                    self._sock = _socket_of(response)
                parser = SSEParser()
                for line in response.iter_lines():
                    if self._stopping:
                        return
                    event = parser.feed(line)
                    if event is not None:
                        self.opened = True
                    if event == "dashboard":
                        self._changed.set()
        except Exception:
            # Refused, dropped, silent for too long, or shut by stop(): the channel is gone
            # and wait() carries on by polling.
            pass
        finally:
            self.ended = True
            self._changed.set()

    def wait_for_change(self, timeout: float) -> None:
        """Returns after a change, when the stream ends, or after ``timeout`` seconds."""
        self._changed.wait(timeout)
        self._changed.clear()

    def stop(self) -> None:
        """Ends the stream and lets the thread go."""
        with self._lock:
            self._stopping = True
            sock = self._sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.join(1.0)


def _socket_of(response: httpx.Response) -> Optional[socket.socket]:
    """The socket under a streamed answer, when the transport tells (httpx's default does)."""
    stream = response.extensions.get("network_stream")
    get = getattr(stream, "get_extra_info", None)
    if get is None:
        return None
    sock = get("socket")
    return sock if isinstance(sock, socket.socket) else None
