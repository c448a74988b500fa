"""The objects the server answers with, as typed dataclasses.

Each is read from the JSON exactly as the server writes it (the Rust types in
``app/src/types/``): times are RFC 3339 UTC and become timezone-aware ``datetime`` objects,
``null`` becomes ``None``. Fields a newer server adds are ignored, so an older client keeps
working; the whole object as received stays available as ``raw``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from enum import Enum
from typing import Any, Optional

__all__ = [
    "TaskStatus",
    "PoolState",
    "TaskParameters",
    "Task",
    "RateUse",
    "SourceStatus",
    "PoolStatus",
    "PoolConfig",
    "ProcessReport",
    "parse_time",
]


class TaskStatus(str, Enum):
    """Where a task is in its life. The last three are final and never change again.

    A ``str`` enum, so ``TaskStatus.COMPLETED == "completed"``.
    """

    QUEUED = "queued"
    """Waiting in the priority queue for a free slot."""
    RUNNING = "running"
    """Holding a slot: its Celery message was published (a worker may not have it yet)."""
    COMPLETED = "completed"
    """Celery reported SUCCESS."""
    FAILED = "failed"
    """Celery reported FAILURE, or the worker running it was lost."""
    CANCELLED = "cancelled"
    """Cancelled while queued, or revoked while running."""

    @property
    def is_finished(self) -> bool:
        """True for completed, failed and cancelled."""
        return self in (TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED)

    def __str__(self) -> str:
        return self.value


class PoolState(str, Enum):
    """The seed's three pool states."""

    AVAILABLE = "available"
    """At least one slot is free."""
    BUSY = "busy"
    """Every slot is taken and nothing waits."""
    OVERLOADED = "overloaded"
    """Tasks wait for a slot."""

    def __str__(self) -> str:
        return self.value


_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?"
    r"(?:([Zz])|([+-])(\d{2}):?(\d{2}))$"
)


def parse_time(text: str) -> datetime:
    """Reads an RFC 3339 time (``2026-11-30T21:00:00.123456789Z``) as an aware UTC datetime.

    Fractions finer than a microsecond (the server writes nanoseconds) are truncated; this
    also works on Python 3.9 and 3.10, whose ``datetime.fromisoformat`` reads neither ``Z``
    nor nine-digit fractions.
    """
    m = _RFC3339.match(text.strip())
    if m is None:
        raise ValueError(f"not an RFC 3339 time: {text!r}")
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    micro = int((m.group(7) or "0")[:6].ljust(6, "0"))
    tz = timezone.utc
    if m.group(9):
        offset = timedelta(hours=int(m.group(10)), minutes=int(m.group(11)))
        tz = timezone(offset if m.group(9) == "+" else -offset)
    # A leap second (":60") is read as the last microsecond of its minute.
    if second == 60:
        second, micro = 59, 999_999
    value = datetime(year, month, day, hour, minute, second, micro, tzinfo=tz)
    return value.astimezone(timezone.utc)


def _time(data: Mapping[str, Any], key: str) -> Optional[datetime]:
    value = data.get(key)
    return None if value is None else parse_time(str(value))


def _opt_str(data: Mapping[str, Any], key: str) -> Optional[str]:
    value = data.get(key)
    return None if value is None else str(value)


def _opt_int(data: Mapping[str, Any], key: str) -> Optional[int]:
    value = data.get(key)
    return None if value is None else int(value)


@dataclass(frozen=True)
class TaskParameters:
    """The keyword arguments every sync task takes (the server refuses any other key)."""

    full: bool = False
    """A full sync instead of an incremental one."""
    batch_size: int = 1000
    """How many records the task processes per batch, 1 to 100000."""
    dry_run: bool = False
    """Run the sync without writing anything."""

    @classmethod
    def from_dict(cls, data: Optional[Mapping[str, Any]]) -> TaskParameters:
        """Reads the server's ``parameters`` object."""
        data = data or {}
        return cls(
            full=bool(data.get("full", False)),
            batch_size=int(data.get("batch_size", 1000)),
            dry_run=bool(data.get("dry_run", False)),
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON object the server reads."""
        return {"full": self.full, "batch_size": self.batch_size, "dry_run": self.dry_run}


@dataclass(frozen=True)
class Task:
    """One task of the pool: a Celery task that waits for, holds, or held a slot."""

    task_id: str
    """The pool's id, which is also the Celery task id."""
    crm_source: str
    """The CRM the sync talks to (``hubspot``)."""
    sync_type: str
    """What it syncs (``all``)."""
    task_name: str
    """The Celery task name the message carries (``hubspot.all``)."""
    parameters: TaskParameters
    """The task's keyword arguments."""
    priority: int
    """-100 to 100; higher runs first, ties in arrival order."""
    status: TaskStatus
    """Where the task is in its life."""
    created_at: datetime
    """When the pool accepted it."""
    position: Optional[int] = None
    """1-based place in the dispatch order while queued, else None."""
    started_at: Optional[datetime] = None
    """When it took a slot and its message was published."""
    finished_at: Optional[datetime] = None
    """When it reached a final status."""
    error: Optional[str] = None
    """For failures, the exception type and message; for cancellations, who cancelled."""
    worker: Optional[str] = None
    """The Celery worker (``name@host``) that reported STARTED for it, once one has."""
    worker_started_at: Optional[datetime] = None
    """When a worker reported STARTED."""
    waiting_for_worker: bool = False
    """True while it holds a slot but no worker has reported STARTED yet."""
    resends: int = 0
    """How many times its message was published again after being lost on the way."""
    resent_at: Optional[datetime] = None
    """When it was last sent again."""
    resend_reason: Optional[str] = None
    """Why it was last sent again."""
    tenant: Optional[str] = None
    """The customer or account the sync is for, when the submitter named one."""
    blocked_by: Optional[str] = None
    """While queued, why it waits: ``global_limit``, ``source_limit``, ``tenant_limit``,
    ``rate_limit``, ``cooldown``, ``paused`` or ``queue``."""
    estimated_start_at: Optional[datetime] = None
    """While queued, when it is expected to start (None without run history)."""
    estimated_finish_at: Optional[datetime] = None
    """While queued or running, when it is expected to end."""
    retry_of: Optional[str] = None
    """The failed or cancelled task this one retries."""
    retried_by: Optional[str] = None
    """The task that retries this one."""
    deduplicated: bool = False
    """True only in a submit's answer, when deduplication returned this existing task."""
    stale: bool = field(default=False, compare=False)
    """True when the server could not reach its store and this is the last state it saw."""
    fresh_at: Optional[datetime] = field(default=None, compare=False)
    """When that state was last read from the store. (Neither this nor ``stale`` counts when
    tasks are compared: two reads of an unchanged task are equal.)"""
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    """The JSON object as the server sent it (fields newer than this client included)."""

    @property
    def is_finished(self) -> bool:
        """True once the task completed, failed or was cancelled: it never changes again."""
        return self.status.is_finished

    @property
    def duration(self) -> Optional[timedelta]:
        """From taking its slot to its end, once it has ended."""
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Task:
        """Reads a task object as the server writes it (``GET tasks/<id>/`` and others)."""
        return cls(
            task_id=str(data["task_id"]),
            crm_source=str(data["crm_source"]),
            sync_type=str(data["sync_type"]),
            task_name=str(data.get("task_name", "")),
            parameters=TaskParameters.from_dict(data.get("parameters")),
            priority=int(data.get("priority", 0)),
            status=TaskStatus(data["status"]),
            created_at=parse_time(str(data["created_at"])),
            position=_opt_int(data, "position"),
            started_at=_time(data, "started_at"),
            finished_at=_time(data, "finished_at"),
            error=_opt_str(data, "error"),
            worker=_opt_str(data, "worker"),
            worker_started_at=_time(data, "worker_started_at"),
            waiting_for_worker=bool(data.get("waiting_for_worker", False)),
            resends=int(data.get("resends") or 0),
            resent_at=_time(data, "resent_at"),
            resend_reason=_opt_str(data, "resend_reason"),
            tenant=_opt_str(data, "tenant"),
            blocked_by=_opt_str(data, "blocked_by"),
            estimated_start_at=_time(data, "estimated_start_at"),
            estimated_finish_at=_time(data, "estimated_finish_at"),
            retry_of=_opt_str(data, "retry_of"),
            retried_by=_opt_str(data, "retried_by"),
            deduplicated=bool(data.get("deduplicated", False)),
            stale=bool(data.get("stale", False)),
            fresh_at=_time(data, "fresh_at"),
            raw=dict(data),
        )


@dataclass(frozen=True)
class RateUse:
    """A source's rate budget and how much of its current window is used."""

    starts: int
    """Starts allowed per window."""
    per_seconds: int
    """The window, in seconds."""
    used: int
    """Starts in the last window."""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RateUse:
        return cls(
            starts=int(data["starts"]),
            per_seconds=int(data["per_seconds"]),
            used=int(data.get("used", 0)),
        )


@dataclass(frozen=True)
class SourceStatus:
    """One source (``crm_source``) in the pool's status: what runs, what waits, its rules."""

    running: int = 0
    """Its tasks holding a slot."""
    queued: int = 0
    """Its tasks waiting."""
    limit: Optional[int] = None
    """At most this many of its tasks run at once, if it has that rule."""
    tenant_limit: Optional[int] = None
    """At most this many of its tasks run at once per tenant, if it has that rule."""
    rate: Optional[RateUse] = None
    """Its rate budget and its use, if it has one."""
    cooldown_until: Optional[datetime] = None
    """Until when it cools down, while it does."""
    paused: bool = False
    """True while it is paused."""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SourceStatus:
        rate = data.get("rate")
        return cls(
            running=int(data.get("running", 0)),
            queued=int(data.get("queued", 0)),
            limit=_opt_int(data, "limit"),
            tenant_limit=_opt_int(data, "tenant_limit"),
            rate=RateUse.from_dict(rate) if isinstance(rate, Mapping) else None,
            cooldown_until=_time(data, "cooldown_until"),
            paused=bool(data.get("paused", False)),
        )


@dataclass(frozen=True)
class PoolStatus:
    """A snapshot of the whole pool: ``GET status/``."""

    max_workers: int
    """The limit in force."""
    active_count: int
    """Tasks holding a slot."""
    queued_count: int
    """Tasks waiting for one."""
    available_workers: int
    """Free slots (never negative, even while draining after the limit was lowered)."""
    utilization: float
    """Slots in use as a percentage of ``max_workers``, capped at 100."""
    state: PoolState
    """Available, busy or overloaded."""
    active_tasks: tuple[Task, ...] = ()
    """Tasks holding a slot, oldest dispatch first."""
    queued_tasks: tuple[Task, ...] = ()
    """The first waiting tasks, in dispatch order (``queued_count`` counts them all)."""
    stale: bool = False
    """True when the server could not reach its store and this is the last state it saw."""
    fresh_at: Optional[datetime] = None
    """When that state was last read from the store."""
    paused: bool = False
    """True while the whole pool is paused: nothing new starts."""
    sources: Mapping[str, SourceStatus] = field(default_factory=dict)
    """Every source, by name."""
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    """The JSON object as the server sent it."""

    @property
    def draining(self) -> int:
        """How many tasks run above the limit, after it was lowered (0 normally)."""
        return max(0, self.active_count - self.max_workers)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PoolStatus:
        """Reads ``GET status/``'s answer."""
        sources = data.get("sources") or {}
        return cls(
            max_workers=int(data["max_workers"]),
            active_count=int(data["active_count"]),
            queued_count=int(data["queued_count"]),
            available_workers=int(data["available_workers"]),
            utilization=float(data["utilization"]),
            state=PoolState(data["state"]),
            active_tasks=tuple(Task.from_dict(t) for t in data.get("active_tasks") or ()),
            queued_tasks=tuple(Task.from_dict(t) for t in data.get("queued_tasks") or ()),
            stale=bool(data.get("stale", False)),
            fresh_at=_time(data, "fresh_at"),
            paused=bool(data.get("paused", False)),
            sources={str(k): SourceStatus.from_dict(v) for k, v in sources.items()},
            raw=dict(data),
        )


@dataclass(frozen=True)
class PoolConfig:
    """The pool's runtime configuration: what ``set_max_workers`` answers (``config/``)."""

    max_workers: int
    """The most tasks that may run at once across the fleet."""
    min_allowed: int
    """The smallest value ``max_workers`` accepts."""
    max_allowed: int
    """The largest value ``max_workers`` accepts."""
    active_count: int
    """Tasks holding a slot now (above ``max_workers`` while the pool drains)."""
    draining: bool
    """True while more tasks run than the limit allows, after it was lowered."""
    stale: bool = False
    """True when the server could not reach its store and this is the last state it saw."""
    fresh_at: Optional[datetime] = None
    """When that state was last read from the store."""
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    """The JSON object as the server sent it."""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PoolConfig:
        return cls(
            max_workers=int(data["max_workers"]),
            min_allowed=int(data["min_allowed"]),
            max_allowed=int(data["max_allowed"]),
            active_count=int(data.get("active_count", 0)),
            draining=bool(data.get("draining", False)),
            stale=bool(data.get("stale", False)),
            fresh_at=_time(data, "fresh_at"),
            raw=dict(data),
        )


@dataclass(frozen=True)
class ProcessReport:
    """What one "process queue" pass did (``process-queue/``)."""

    reconciled: tuple[str, ...]
    """Tasks whose result was found in Celery's backend and recorded."""
    dispatched: tuple[str, ...]
    """Tasks dispatched into free slots."""
    reclaimed: tuple[str, ...]
    """Tasks reclaimed from lost workers."""
    available_workers: int
    """Slots still free after the pass."""
    queued_count: int
    """Tasks still waiting after the pass."""
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    """The JSON object as the server sent it."""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ProcessReport:
        return cls(
            reconciled=tuple(str(i) for i in data.get("reconciled") or ()),
            dispatched=tuple(str(i) for i in data.get("dispatched") or ()),
            reclaimed=tuple(str(i) for i in data.get("reclaimed") or ()),
            available_workers=int(data.get("available_workers", 0)),
            queued_count=int(data.get("queued_count", 0)),
            raw=dict(data),
        )


@dataclass(frozen=True)
class DoctorCheck:
    """One finding of the server's set-up check (``doctor/``)."""

    check: str
    """A stable name: ``redis.eviction``, ``worker.track_started``, …"""
    subject: str
    """What it is about: ``store``, ``broker``, ``result backend``, ``queue`` or a worker."""
    status: str
    """``ok``, ``warning`` or ``problem``."""
    message: str
    """What was found, in a sentence."""
    fix: Optional[str] = None
    """What to do about it (warnings and problems)."""


@dataclass(frozen=True)
class DoctorReport:
    """What the pool's guarantees rely on, checked now (``doctor/``, ``worker-pool doctor``)."""

    ok: bool
    """False when a check found a problem (warnings leave it true)."""
    queue: str
    """The Celery queue the pool dispatches to."""
    checks: tuple[DoctorCheck, ...]
    """Every finding, the problems first."""
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    """The JSON object as the server sent it."""

    @property
    def problems(self) -> tuple[DoctorCheck, ...]:
        """The findings that break a guarantee."""
        return tuple(c for c in self.checks if c.status == "problem")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DoctorReport:
        return cls(
            ok=bool(data.get("ok", False)),
            queue=str(data.get("queue", "")),
            checks=tuple(
                DoctorCheck(
                    check=str(c.get("check", "")),
                    subject=str(c.get("subject", "")),
                    status=str(c.get("status", "")),
                    message=str(c.get("message", "")),
                    fix=None if c.get("fix") is None else str(c["fix"]),
                )
                for c in data.get("checks") or ()
            ),
            raw=dict(data),
        )
