"""What the sync and async clients share: settings, request building and checking, answer
reading, and the live channel's Server-Sent Events parser. No I/O happens here."""

from __future__ import annotations

import json
import math
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Optional, Union
from urllib.parse import quote

import httpx

from .errors import Invalid, Unavailable, WorkerPoolError, error_from_response
from .models import TaskParameters, TaskStatus

#: The server's address when neither ``url`` nor ``WORKER_POOL_URL`` says otherwise.
DEFAULT_URL = "http://127.0.0.1:3000"
#: How long one request may take, in seconds: a little more than the server's own 30 s
#: limit, so that its answer (a 503 saying it took too long) arrives rather than ours.
DEFAULT_TIMEOUT = 35.0
#: The JSON API's base path, under the server's address.
API_BASE = "/ingestion/crm-dashboard/api/worker-pool/"
#: The live channel: Server-Sent Events, one ``dashboard`` event after every change.
EVENTS_PATH = "/api/events"
#: The server sends a keep-alive comment every 15 s; a stream silent for this long is dead.
STREAM_SILENCE = 45.0
#: The server sends a first event as soon as the live channel opens; a channel that has sent
#: none this long after it was asked for (a proxy that buffers it) is no use to ``wait``.
FIRST_EVENT_WITHIN = 10.0
#: While the live channel works, the task is still read again this often, just in case.
LIVE_RECHECK = 30.0
#: After the live channel drops, ``wait`` polls and tries to open it again this much later.
LIVE_RETRY = 30.0
#: How often ``wait`` reads the task when it polls, by default.
DEFAULT_POLL_INTERVAL = 1.0

DEDUPE_MODES = ("none", "queued", "active", "replace")

TimeoutTypes = Union[float, httpx.Timeout, None]
ParametersArg = Union[Mapping[str, Any], TaskParameters, None]
StatusArg = Union[TaskStatus, str, None]


@dataclass(frozen=True)
class Settings:
    """Where the server is and how to talk to it."""

    base_url: str
    """The server's address, without a trailing slash (``http://127.0.0.1:3000``)."""
    token: Optional[str]
    """The bearer token for writes, if any."""

    @classmethod
    def resolve(cls, url: Optional[str], token: Optional[str]) -> Settings:
        """``url`` and ``token``, else ``WORKER_POOL_URL`` and ``WORKER_POOL_API_TOKEN``."""
        if url is None:
            url = os.environ.get("WORKER_POOL_URL") or DEFAULT_URL
        if not isinstance(url, str):
            raise TypeError(f"url must be a str, not {type(url).__name__}")
        url = url.strip().rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise Invalid(f"url must start with http:// or https://, not {url!r}")
        if token is None:
            token = os.environ.get("WORKER_POOL_API_TOKEN") or None
        if token is not None and not isinstance(token, str):
            raise TypeError(f"token must be a str, not {type(token).__name__}")
        return cls(base_url=url, token=token.strip() if token else None)

    def headers(self) -> dict[str, str]:
        """The headers every request carries."""
        h = {"Accept": "application/json", "User-Agent": "worker-pool-client/python"}
        if self.token:
            h["Authorization"] = f"Bearer {self.token}"
        return h

    def api(self, path: str) -> str:
        """The absolute URL of an API path (``status/``)."""
        return self.base_url + API_BASE + path

    @property
    def events_url(self) -> str:
        return self.base_url + EVENTS_PATH


def make_timeout(timeout: TimeoutTypes) -> httpx.Timeout:
    if isinstance(timeout, httpx.Timeout):
        return timeout
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))):
        raise TypeError(f"timeout must be a number of seconds, not {type(timeout).__name__}")
    return httpx.Timeout(timeout)


def stream_timeout(base: httpx.Timeout) -> httpx.Timeout:
    """The live channel's timeouts: the client's for connecting, and a read timeout past
    which a silent stream (no event, no keep-alive) counts as dead."""
    return httpx.Timeout(
        connect=base.connect, read=STREAM_SILENCE, write=base.write, pool=base.pool
    )


#: The least time a read inside ``wait`` is given, however close the deadline.
MIN_WAIT_READ = 1.0


def wait_read_timeout(base: httpx.Timeout, deadline: Optional[float], now: float) -> httpx.Timeout:
    """The timeouts of one read of the task inside ``wait``: the client's, cut down to the
    time left before the deadline (but at least :data:`MIN_WAIT_READ`), so that a server that
    hangs cannot hold ``wait`` past its deadline for a whole request timeout."""
    if deadline is None:
        return base
    left = max(MIN_WAIT_READ, deadline - now)

    def cut(value: Optional[float]) -> float:
        return left if value is None else min(value, left)

    return httpx.Timeout(
        connect=cut(base.connect), read=cut(base.read), write=cut(base.write), pool=cut(base.pool)
    )


# --- checking what the caller passes ---------------------------------------------------------


def _need_str(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")
    return value


def _need_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    return value


def task_path(task_id: object, suffix: str = "") -> str:
    """``tasks/<id>/`` (with ``suffix``), the id checked and escaped."""
    tid = _need_str("task_id", task_id)
    if not tid:
        raise Invalid("task_id must not be empty", kind="invalid")
    return f"tasks/{quote(tid, safe='')}/{suffix}"


#: How many times a submit is sent again when no answer came (the server could not be
#: reached, timed out, or answered 502/503/504), and the pause before each: safe, because each
#: send carries the same ``task_id`` and the server adds a task once per id.
SUBMIT_RETRY_DELAYS = (0.5, 1.0)


def submit_body(
    crm_source: object,
    sync_type: object,
    parameters: object,
    priority: object,
    tenant: object,
    dedupe: object,
    task_id: object = None,
) -> dict[str, Any]:
    """The JSON body of ``POST submit/``, with ``task_id`` (a new UUID when None).

    Types are checked here, so a mistake in the calling code is a ``TypeError`` before
    anything is sent; values (ranges, registered task types, tenant syntax) are the server's
    to judge, and come back as :class:`Invalid` with the fields at fault.
    """
    body: dict[str, Any] = {
        "crm_source": _need_str("crm_source", crm_source),
        "sync_type": _need_str("sync_type", sync_type),
        "priority": _need_int("priority", priority),
        "task_id": str(uuid.uuid4()) if task_id is None else _need_str("task_id", task_id),
    }
    if isinstance(parameters, TaskParameters):
        body["parameters"] = parameters.to_dict()
    elif isinstance(parameters, Mapping):
        for key in parameters:
            if not isinstance(key, str):
                raise TypeError(f"parameters keys must be str, not {type(key).__name__}")
        body["parameters"] = dict(parameters)
    elif parameters is None:
        body["parameters"] = {}
    else:
        raise TypeError(
            f"parameters must be a mapping or TaskParameters, not {type(parameters).__name__}"
        )
    if tenant is not None:
        body["tenant"] = _need_str("tenant", tenant)
    if dedupe is not None:
        mode = _need_str("dedupe", dedupe)
        if mode not in DEDUPE_MODES:
            raise Invalid(
                f"dedupe must be none, queued, active or replace, not {mode!r}", kind="invalid"
            )
        body["dedupe"] = mode
    # Anything json cannot encode (a datetime in parameters, say) fails here, not in httpx.
    try:
        json.dumps(body)
    except (TypeError, ValueError) as e:
        raise TypeError(f"the submit request cannot be sent as JSON: {e}") from None
    return body


def tasks_query(status: StatusArg, limit: object) -> dict[str, str]:
    """The query string of ``GET tasks/``."""
    params: dict[str, str] = {}
    if status is not None:
        if isinstance(status, TaskStatus):
            params["status"] = status.value
        else:
            name = _need_str("status", status)
            try:
                params["status"] = TaskStatus(name).value
            except ValueError:
                raise Invalid(
                    "status must be one of queued, running, completed, failed, cancelled, "
                    f"not {name!r}",
                    kind="invalid",
                ) from None
    if limit is not None:
        params["limit"] = str(_need_int("limit", limit))
    return params


def max_workers_body(n: object) -> dict[str, int]:
    return {"max_workers": _need_int("n", n)}


def wait_args(timeout: Optional[float], poll_interval: float) -> None:
    """Checks ``wait``'s numbers."""
    for name, value in (("timeout", timeout), ("poll_interval", poll_interval)):
        if value is None and name == "timeout":
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"{name} must be a number of seconds, not {type(value).__name__}")
        if math.isnan(value) or value < 0:
            raise Invalid(f"{name} must not be negative, not {value!r}", kind="invalid")
    if poll_interval <= 0:
        raise Invalid(f"poll_interval must be more than 0, not {poll_interval!r}", kind="invalid")


# --- reading answers -------------------------------------------------------------------------


def read_json(response: httpx.Response) -> Any:
    """The JSON of a successful answer, or the error the answer stands for."""
    request = response.request
    if response.status_code >= 400 or response.status_code < 200:
        raise error_from_response(
            response.status_code, response.content, request.method, str(request.url)
        )
    try:
        return response.json()
    except ValueError:
        raise WorkerPoolError(
            f"{request.method} {request.url} answered HTTP {response.status_code} with a body "
            "that is not JSON; is this the Worker Pool server?",
            status=response.status_code,
        ) from None


def unreachable(exc: httpx.HTTPError, method: str, url: str) -> Unavailable:
    """The error for a request that got no answer."""
    if isinstance(exc, httpx.TimeoutException):
        what = "did not answer in time"
    elif isinstance(exc, httpx.ConnectError):
        what = "cannot be reached"
    else:
        what = "failed"
    return Unavailable(f"{method} {url}: the Worker Pool server {what} ({exc}).")


def is_event_stream(response: httpx.Response) -> bool:
    """True when the answer is a live channel: 200 and ``text/event-stream``."""
    ctype = response.headers.get("content-type", "")
    return response.status_code == 200 and ctype.split(";")[0].strip() == "text/event-stream"


class SSEParser:
    """Reads Server-Sent Events line by line and says when an event is complete.

    Only the event names matter to ``wait`` (a ``dashboard`` event means something changed),
    so the data is not kept.
    """

    def __init__(self) -> None:
        self._event = ""
        self._has_data = False

    def feed(self, line: str) -> Optional[str]:
        """Takes one line (without its end); returns an event's name when ``line`` ends it."""
        if line == "":
            name, has_data = self._event or "message", self._has_data
            self._event, self._has_data = "", False
            return name if has_data else None
        if line.startswith(":"):
            return None
        key, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if key == "event":
            self._event = value
        elif key == "data":
            self._has_data = True
        return None
