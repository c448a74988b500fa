"""Worker side: a Celery message delivered twice runs once.

A broker can deliver a task's message again after the task ran. RabbitMQ does when it
crashes (or a connection drops) before a worker's acknowledgement reached its disk: it gives
the message back to the queue, and another worker runs the task a second time, outside the
pool's limit. Celery itself does nothing against that. With this base class, the first
delivery of each message claims it (``SET NX`` on the result backend's Redis, keyed by the
task id and Celery's retry count); a later delivery of the same message finds the claim,
runs nothing, and puts back the first run's end in the result backend (Celery wrote STARTED
over it before any task code ran).

Use it for the tasks the pool dispatches, in the Celery app of the workers::

    app = Celery("crm", broker=..., backend=...,
                 task_cls="worker_pool_client.celery:RunOnceTask")

It needs the Redis result backend (the pool does too). Celery's own retries (``self.retry``,
``autoretry_for``) run, each retry being a message of its own; the pool's re-sends and
retries carry new task ids. Importing this module needs Celery; the rest of the package
does not.
"""
from __future__ import annotations

import uuid
from typing import Any, Optional

from celery import Task
from celery.exceptions import Ignore

#: The claim key's prefix, in the result backend's Redis.
CLAIM_PREFIX = "worker-pool-run:"
#: How long a claim lasts at least (Celery's ``result_expires`` when longer).
MIN_CLAIM_SECONDS = 7 * 86400
#: A claim's value while its run is going: this prefix and the delivery's own token.
_RUNNING = b"running:"
_READY = ("SUCCESS", "FAILURE", "REVOKED")


class RunOnceTask(Task):  # type: ignore[misc]
    """A Celery ``Task`` whose message runs once however often it is delivered."""

    abstract = True

    def _claim_key(self) -> Optional[str]:
        req = self.request
        if req.called_directly or getattr(req, "is_eager", False) or not req.id:
            return None
        if not hasattr(self.backend, "client"):
            return None  # not a Redis result backend: nothing to claim with
        return f"{CLAIM_PREFIX}{req.id}:{req.retries or 0}"

    def _claim_seconds(self) -> int:
        expires = self.app.conf.result_expires
        seconds = expires.total_seconds() if hasattr(expires, "total_seconds") else expires
        return int(max(MIN_CLAIM_SECONDS, seconds or 0))

    def _redis(self, command: str, *args: Any, **kwargs: Any) -> Any:
        """A command on the result backend's Redis, retried through an outage as Celery
        retries its own result writes (for ever with ``result_backend_always_retry``): a
        Redis restart must not fail the task."""
        backend = self.backend
        call = getattr(backend.client, command)
        policy = {"max_retries": None} if getattr(backend, "always_retry", False) else {}
        return backend.ensure(lambda: call(*args, **kwargs), (), **policy)

    def before_start(self, task_id: str, args: Any, kwargs: Any) -> None:
        key = self._claim_key()
        if key is not None:
            # This delivery's own token: a SET whose reply was lost to an outage, and retried,
            # finds its own claim, not another delivery's.
            mine = _RUNNING + uuid.uuid4().hex.encode()
            claimed = self._redis("set", key, mine, nx=True, ex=self._claim_seconds())
            first = None if claimed else self._redis("get", key)
            if not claimed and first != mine:
                # Delivered again. Celery stored STARTED over the first run's end: put the
                # end back (with its notification, as Celery writes it), then run nothing.
                if first and not first.startswith(_RUNNING):
                    self.backend.set(self.backend.get_key_for_task(task_id), first)
                raise Ignore()
        super().before_start(task_id, args, kwargs)

    def after_return(self, status: str, retval: Any, task_id: str, args: Any,
                     kwargs: Any, einfo: Any) -> None:
        super().after_return(status, retval, task_id, args, kwargs, einfo)
        key = self._claim_key()
        if key is None or status not in _READY:
            return
        # Keep the end this run stored, so a later delivery can put it back.
        stored = self._redis("get", self.backend.get_key_for_task(task_id))
        if stored:
            self._redis("set", key, stored, ex=self._claim_seconds())
