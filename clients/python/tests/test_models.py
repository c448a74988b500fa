"""Reading the server's JSON and error bodies, without a server: the edge cases a live run
would rarely produce (nanosecond times, offsets, fields from a newer server, a proxy's HTML
error page)."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

import pytest

from worker_pool_client import (
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    PoolStatus,
    ServerError,
    Task,
    TaskStatus,
    Unauthorized,
    Unavailable,
    WaitTimeout,
    WorkerPoolError,
    parse_time,
)
from worker_pool_client._core import SSEParser, submit_body, tasks_query
from worker_pool_client.errors import error_from_response

TASK = {
    "task_id": "0f3c",
    "crm_source": "hubspot",
    "sync_type": "all",
    "task_name": "hubspot.all",
    "parameters": {"full": True, "batch_size": 500, "dry_run": False},
    "priority": 10,
    "status": "running",
    "position": None,
    "created_at": "2026-11-30T21:00:00.123456789Z",
    "started_at": "2026-11-30T21:00:01Z",
    "finished_at": None,
    "error": None,
    "worker": "celery@sync-1",
    "worker_started_at": "2026-11-30T21:00:01.5Z",
    "waiting_for_worker": False,
    "resends": 0,
    "resent_at": None,
    "resend_reason": None,
    "tenant": "acme-42",
    "blocked_by": None,
    "estimated_start_at": None,
    "estimated_finish_at": "2026-11-30T21:10:00Z",
    "retry_of": None,
    "retried_by": None,
}


def test_times_are_aware_utc_with_nanoseconds_and_offsets_read() -> None:
    t = parse_time("2026-11-30T21:00:00.123456789Z")
    assert t == datetime(2026, 11, 30, 21, 0, 0, 123456, tzinfo=timezone.utc)
    assert t.tzinfo is not None and t.utcoffset() == timezone.utc.utcoffset(None)
    assert parse_time("2026-11-30T23:30:00+02:30") == datetime(
        2026, 11, 30, 21, 0, tzinfo=timezone.utc
    )
    assert parse_time("2026-11-30T21:00:00.5Z").microsecond == 500000
    with pytest.raises(ValueError):
        parse_time("yesterday")


def test_a_task_is_read_field_by_field_and_unknown_fields_are_kept_in_raw() -> None:
    newer = {**TASK, "a_field_from_a_newer_server": {"x": 1}}
    t = Task.from_dict(newer)
    assert t.status is TaskStatus.RUNNING and not t.is_finished
    assert t.parameters.full is True and t.parameters.batch_size == 500
    assert t.priority == 10 and t.tenant == "acme-42" and t.worker == "celery@sync-1"
    assert t.created_at.microsecond == 123456
    assert t.worker_started_at == datetime(2026, 11, 30, 21, 0, 1, 500000, tzinfo=timezone.utc)
    assert t.finished_at is None and t.duration is None and t.deduplicated is False
    assert t.raw["a_field_from_a_newer_server"] == {"x": 1}
    done = Task.from_dict({**TASK, "status": "failed", "finished_at": "2026-11-30T21:00:31Z"})
    assert done.is_finished and done.duration is not None and done.duration.total_seconds() == 30


def test_a_status_without_the_optional_parts_still_reads() -> None:
    s = PoolStatus.from_dict(
        {
            "max_workers": 2,
            "active_count": 3,
            "queued_count": 1,
            "available_workers": 0,
            "utilization": 100.0,
            "state": "overloaded",
            "active_tasks": [TASK],
            "queued_tasks": [],
        }
    )
    assert s.draining == 1 and s.sources == {} and s.stale is False
    assert s.active_tasks[0].task_id == "0f3c"


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, Invalid),
        (401, Unauthorized),
        (403, Forbidden),
        (404, NotFound),
        (409, Conflict),
        (413, Invalid),
        (422, Invalid),
        (500, ServerError),
        (502, Unavailable),
        (503, Unavailable),
        (418, WorkerPoolError),
    ],
)
def test_errors_follow_the_status_and_carry_the_sentence(status: int, cls: type) -> None:
    body = b'{"error": "A sentence.", "kind": "whatever"}'
    e = error_from_response(status, body, "GET", "http://x/")
    assert type(e) is cls and str(e) == "A sentence." and e.status == status
    assert e.kind == "whatever"


def test_an_error_page_that_is_not_the_servers_still_gives_the_right_class() -> None:
    e = error_from_response(502, b"<html>Bad gateway</html>", "GET", "http://x/status/")
    assert isinstance(e, Unavailable) and e.status == 502
    assert "GET http://x/status/" in str(e) and "502" in str(e)


def test_field_errors_are_read() -> None:
    body = (
        b'{"error": "a; b", "kind": "invalid", "fields": ['
        b'{"field": "priority", "message": "a"}, '
        b'{"field": "parameters.batch_size", "message": "b"}]}'
    )
    e = error_from_response(422, body, "POST", "http://x/")
    assert isinstance(e, Invalid) and isinstance(e, ValueError)
    assert [(f.field, f.message) for f in e.fields] == [
        ("priority", "a"),
        ("parameters.batch_size", "b"),
    ]


def test_wait_timeout_is_a_timeout_error_and_a_worker_pool_error() -> None:
    e = WaitTimeout("too long")
    assert isinstance(e, TimeoutError) and isinstance(e, WorkerPoolError)
    assert str(e) == "too long" and e.task is None


def test_the_sse_parser_dispatches_named_events_and_skips_comments() -> None:
    p = SSEParser()
    lines = [
        ":keep-alive",
        "",
        "event: dashboard",
        'data: {"a": 1}',
        "",
        "data: x",
        "",
        "event: y",
        "",
    ]
    got = [p.feed(line) for line in lines]
    assert [g for g in got if g is not None] == ["dashboard", "message"]


def test_arguments_of_the_wrong_type_are_refused_before_sending() -> None:
    with pytest.raises(TypeError, match="crm_source must be a str"):
        submit_body(5, "all", None, 0, None, None)
    with pytest.raises(TypeError, match="priority must be an int"):
        submit_body("hubspot", "all", None, True, None, None)
    with pytest.raises(TypeError, match="parameters must be a mapping"):
        submit_body("hubspot", "all", [("full", True)], 0, None, None)
    with pytest.raises(TypeError, match="cannot be sent as JSON"):
        submit_body("hubspot", "all", {"when": datetime.now()}, 0, None, None)
    with pytest.raises(Invalid, match="dedupe must be"):
        submit_body("hubspot", "all", None, 0, None, "sometimes")
    with pytest.raises(Invalid, match="status must be one of"):
        tasks_query("done", None)
    with pytest.raises(TypeError, match="task_id must be a str"):
        submit_body("hubspot", "all", None, 0, None, None, 7)
    # Every submit carries an id: a new UUID unless the caller chose one.
    made = submit_body("hubspot", "all", None, 0, None, None)["task_id"]
    assert str(uuid.UUID(made)) == made
    assert made != submit_body("hubspot", "all", None, 0, None, None)["task_id"]
    assert submit_body("hubspot", "all", None, 5, "acme", "queued", "job-1") == {
        "crm_source": "hubspot",
        "sync_type": "all",
        "priority": 5,
        "task_id": "job-1",
        "parameters": {},
        "tenant": "acme",
        "dedupe": "queued",
    }
