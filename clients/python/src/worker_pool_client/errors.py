"""The exceptions the client raises.

Every error the server answers has one body, ``{"error": "<sentence>", "kind": "<cause>",
"fields": [...]}`` (``fields`` only on a 422). The client turns it into a
:class:`WorkerPoolError` subclass chosen by the HTTP status, whose ``str()`` is the server's
sentence and which keeps the ``status``, the ``kind`` and, for :class:`Invalid`, the
``fields``.

=================  ===================================================================
exception          raised for
=================  ===================================================================
``Invalid``        400 (unreadable request), 413 (too large), 422 (a value is refused;
                   ``fields`` says which), or a value the client refuses before sending
``Unauthorized``   401: a write without a valid bearer token
``Forbidden``      403: the server refuses the request (e.g. a cross-origin write)
``NotFound``       404: unknown task, or a finished task past its retention
``Conflict``       409: the transition does not apply (cancelling a finished task)
``Unavailable``    503, 502, 504, and the server not answering at all (``status`` is None)
``ServerError``    500 and any other 5xx
``WaitTimeout``    :meth:`WorkerPool.wait` ran out of time (also a builtin ``TimeoutError``)
=================  ===================================================================
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Optional

from .models import Task

__all__ = [
    "FieldError",
    "WorkerPoolError",
    "Invalid",
    "Unauthorized",
    "Forbidden",
    "NotFound",
    "Conflict",
    "Unavailable",
    "ServerError",
    "WaitTimeout",
    "error_from_response",
]


@dataclass(frozen=True)
class FieldError:
    """One field of a request that the server refused, with its own sentence."""

    field: str
    """The field, as a dotted path (``parameters.batch_size``)."""
    message: str
    """What is wrong with it."""


class WorkerPoolError(Exception):
    """The base of every error this package raises.

    ``str(error)`` is the server's sentence (or the client's own, for errors that never
    reached the server).
    """

    message: str
    """The sentence, for people."""
    status: Optional[int]
    """The HTTP status the server answered, or None when there was no answer."""
    kind: Optional[str]
    """The server's ``kind`` (``not_found``, ``conflict``, ...), when it sent one."""

    def __init__(
        self, message: str, *, status: Optional[int] = None, kind: Optional[str] = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.kind = kind

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, status={self.status!r}, kind={self.kind!r})"
        )


class Invalid(WorkerPoolError, ValueError):
    """The request was refused as it is: 400, 413 or 422, or refused by the client itself.

    ``fields`` lists each field at fault on a 422 (empty otherwise).
    """

    fields: Sequence[FieldError]

    def __init__(
        self,
        message: str,
        *,
        status: Optional[int] = None,
        kind: Optional[str] = None,
        fields: Sequence[FieldError] = (),
    ) -> None:
        super().__init__(message, status=status, kind=kind)
        self.fields = tuple(fields)


class Unauthorized(WorkerPoolError):
    """401: the server has an API token and the request did not carry a valid one."""


class Forbidden(WorkerPoolError):
    """403: the server refuses this request (a cross-origin write)."""


class NotFound(WorkerPoolError, LookupError):
    """404: no such task (finished tasks are kept only for the retention period)."""


class Conflict(WorkerPoolError):
    """409: the change does not apply to the task as it is (e.g. it already finished)."""


class Unavailable(WorkerPoolError):
    """The server cannot do it now: 502, 503, 504, or it could not be reached at all.

    A 503 means the pool's store (Redis) or broker does not answer and nothing was changed;
    ``status`` is None when the server itself did not answer (connection refused, timed out).
    """


class ServerError(WorkerPoolError):
    """500 (or another 5xx): the server failed inside; the details are in its log."""


class WaitTimeout(WorkerPoolError, builtins.TimeoutError):
    """:meth:`WorkerPool.wait` gave up before the task finished.

    ``task`` is the task as last seen (still queued or running). It is also a builtin
    ``TimeoutError``, so ``except TimeoutError`` catches it.
    """

    task: Optional[Task]

    def __init__(self, message: str, task: Optional[Task] = None) -> None:
        WorkerPoolError.__init__(self, message)
        self.task = task


_BY_STATUS: dict[int, type[WorkerPoolError]] = {
    400: Invalid,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: Invalid,
    422: Invalid,
    502: Unavailable,
    503: Unavailable,
    504: Unavailable,
}


def _fields(raw: Any) -> list[FieldError]:
    out: list[FieldError] = []
    if isinstance(raw, list):
        for item in raw:
            if isinstance(item, dict):
                out.append(FieldError(str(item.get("field", "")), str(item.get("message", ""))))
    return out


def error_from_response(status: int, body: bytes, method: str, url: str) -> WorkerPoolError:
    """The exception for an HTTP answer that is not a success.

    The class follows the status; the sentence, kind and fields come from the server's JSON
    error body. A body that is not the server's (a proxy's HTML page, say) still gives an
    error of the right class, with a sentence naming the status and the URL.
    """
    message: Optional[str] = None
    kind: Optional[str] = None
    fields: list[FieldError] = []
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        message = data["error"]
        kind = data["kind"] if isinstance(data.get("kind"), str) else None
        fields = _fields(data.get("fields"))
    if message is None:
        message = f"{method} {url} answered HTTP {status}, without the Worker Pool's error body."
    cls = _BY_STATUS.get(status)
    if cls is None:
        cls = ServerError if status >= 500 else WorkerPoolError
    if cls is Invalid:
        return Invalid(message, status=status, kind=kind, fields=fields)
    return cls(message, status=status, kind=kind)
