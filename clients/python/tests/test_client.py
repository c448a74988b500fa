"""The synchronous client against the real server and a real Celery worker."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from worker_pool_client import (
    Conflict,
    Invalid,
    NotFound,
    PoolState,
    Task,
    TaskParameters,
    TaskStatus,
    Unavailable,
    WorkerPool,
)

from conftest import BASE_WORKERS, Server, free_port

#: Demo task timings (demo/demo_app.py): a task works for batch_size milliseconds, and one
#: whose batch_size ends in 13 fails half way with SyncError.
QUICK = 300
FAILS = 113
LONG = 60_000


def _recent(t: datetime) -> bool:
    now = datetime.now(timezone.utc)
    return t.tzinfo is not None and now - timedelta(minutes=5) < t <= now + timedelta(seconds=5)


def test_status_reads_the_whole_pool(pool: WorkerPool) -> None:
    s = pool.status()
    assert s.max_workers == BASE_WORKERS
    assert s.active_count == 0 and s.queued_count == 0
    assert s.available_workers == BASE_WORKERS and s.utilization == 0.0
    assert s.state is PoolState.AVAILABLE and s.stale is False and s.paused is False
    assert s.active_tasks == () and s.queued_tasks == ()
    # The seed's five task types' sources, each with its (empty) use and no rules.
    assert {"five9", "genius", "hubspot", "arrivy"} <= set(s.sources)
    assert s.sources["hubspot"].running == 0 and s.sources["hubspot"].limit is None
    assert s.raw["max_workers"] == BASE_WORKERS


def test_a_submitted_task_runs_on_the_worker_and_completes(
    pool: WorkerPool, celery_worker: str
) -> None:
    params = {"full": False, "batch_size": QUICK, "dry_run": True}
    task = pool.submit("five9", "contacts", params, priority=7, tenant="acme-1")
    assert isinstance(task, Task) and task.task_id and not task.deduplicated
    assert task.status in (TaskStatus.QUEUED, TaskStatus.RUNNING)
    assert task.crm_source == "five9" and task.sync_type == "contacts"
    assert task.task_name == "five9.contacts" and task.priority == 7 and task.tenant == "acme-1"
    assert task.parameters == TaskParameters(full=False, batch_size=QUICK, dry_run=True)
    assert _recent(task.created_at)

    done = pool.wait(task.task_id, timeout=60)
    assert done.status is TaskStatus.COMPLETED and done.is_finished
    assert done.error is None and done.position is None
    assert done.worker == celery_worker
    assert done.started_at is not None and done.finished_at is not None
    assert done.created_at <= done.started_at <= done.finished_at and _recent(done.finished_at)
    assert done.duration is not None and done.duration >= timedelta(milliseconds=QUICK)
    assert pool.task(task.task_id) == done


def test_a_failing_task_ends_failed_with_its_error(pool: WorkerPool) -> None:
    task = pool.submit("hubspot", "all", TaskParameters(batch_size=FAILS))
    done = pool.wait(task.task_id, timeout=60)
    assert done.status is TaskStatus.FAILED
    assert done.error is not None
    assert "SyncError" in done.error and "rejected batch" in done.error


def test_an_unknown_task_is_not_found_with_the_servers_sentence(pool: WorkerPool) -> None:
    with pytest.raises(NotFound) as e:
        pool.task("no-such-task-0000")
    assert e.value.status == 404 and e.value.kind == "not_found"
    assert str(e.value).startswith('No task with id "no-such-task-0000"')
    with pytest.raises(NotFound):
        pool.cancel("no-such-task-0000")
    with pytest.raises(NotFound):
        pool.wait("no-such-task-0000", timeout=5)


def test_refused_values_are_invalid_with_each_field_and_its_sentence(pool: WorkerPool) -> None:
    with pytest.raises(Invalid) as e:
        pool.submit("five9", "contacts", {"batch_size": 0, "colour": "red"}, priority=500)
    err = e.value
    assert err.status == 422 and err.kind == "invalid"
    fields = {f.field: f.message for f in err.fields}
    assert set(fields) == {"priority", "parameters.batch_size", "parameters.colour"}, fields
    assert "-100 to 100" in fields["priority"]
    assert "1 to 100000" in fields["parameters.batch_size"]
    assert fields["priority"] in str(err)

    with pytest.raises(Invalid) as e:
        pool.submit("five9", "no-such-sync")
    assert [f.field for f in e.value.fields] == ["sync_type"]
    assert "unknown task type five9.no-such-sync" in e.value.fields[0].message

    with pytest.raises(Invalid) as e:
        pool.submit("five9", "contacts", tenant="not a tenant!")
    assert [f.field for f in e.value.fields] == ["tenant"]

    # A query the server cannot read is a 400: Invalid too, without fields.
    with pytest.raises(Invalid) as e:
        pool.tasks(limit=0)
    assert e.value.status == 400 and e.value.fields == () and "limit" in str(e.value)
    assert pool.status().queued_count == 0, "nothing refused was queued"


def test_wrong_types_fail_before_anything_is_sent() -> None:
    # Nothing listens on this port: a request would be Unavailable, not a TypeError.
    offline = WorkerPool(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(TypeError):
        offline.submit("five9", "contacts", priority="high")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        offline.set_max_workers(2.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        offline.task(42)  # type: ignore[arg-type]
    with pytest.raises(Invalid):
        offline.tasks(status="finished")
    with pytest.raises(Unavailable) as e:
        offline.status()
    assert e.value.status is None and offline.url in str(e.value)
    offline.close()


def test_cancel_a_queued_task_then_conflicts(pool: WorkerPool) -> None:
    pool.set_max_workers(1)
    first = pool.submit("genius", "all", {"batch_size": LONG})
    second = pool.submit("genius", "all", {"batch_size": LONG})
    assert second.status is TaskStatus.QUEUED and second.position == 1
    # (The submit's own answer leaves blocked_by null; a read fills it in.)
    assert pool.task(second.task_id).blocked_by == "global_limit"

    cancelled = pool.cancel(second.task_id)
    assert cancelled.status is TaskStatus.CANCELLED and cancelled.is_finished
    assert pool.task(second.task_id).status is TaskStatus.CANCELLED
    with pytest.raises(Conflict) as e:
        pool.cancel(second.task_id)
    assert e.value.status == 409 and e.value.kind == "conflict" and str(e.value)

    # The running one is revoked (terminate): it ends cancelled once the worker confirms.
    assert pool.task(first.task_id).status is TaskStatus.RUNNING
    pool.cancel(first.task_id)
    assert pool.wait(first.task_id, timeout=30).status is TaskStatus.CANCELLED

    done = pool.submit("genius", "all", {"batch_size": QUICK})
    assert pool.wait(done.task_id, timeout=60).status is TaskStatus.COMPLETED
    with pytest.raises(Conflict):
        pool.cancel(done.task_id)


def test_set_max_workers_changes_the_limit(pool: WorkerPool) -> None:
    config = pool.set_max_workers(3)
    assert config.max_workers == 3 and config.min_allowed == 1 and config.max_allowed == 64
    assert config.draining is False and config.active_count == 0
    assert pool.status().max_workers == 3
    with pytest.raises(Invalid) as e:
        pool.set_max_workers(0)
    assert e.value.status == 422 and [f.field for f in e.value.fields] == ["max_workers"]
    assert pool.status().max_workers == 3


def test_process_queue_reports_its_pass(pool: WorkerPool) -> None:
    pool.set_max_workers(1)
    running = pool.submit("arrivy", "all", {"batch_size": LONG})
    waiting = pool.submit("arrivy", "all", {"batch_size": LONG})
    report = pool.process_queue()
    assert report.queued_count == 1 and report.available_workers == 0
    assert waiting.task_id not in report.dispatched
    assert running.task_id not in report.reconciled and report.reclaimed == ()
    # A slot freed by a higher limit is filled by the pass.
    pool.set_max_workers(2)
    report = pool.process_queue()
    assert report.queued_count == 0
    assert pool.task(waiting.task_id).status is TaskStatus.RUNNING


def test_tasks_lists_and_filters(pool: WorkerPool) -> None:
    ok = pool.submit("five9", "contacts", {"batch_size": QUICK})
    bad = pool.submit("five9", "contacts", {"batch_size": FAILS})
    pool.wait(ok.task_id, timeout=60)
    pool.wait(bad.task_id, timeout=60)

    completed = pool.tasks(status="completed")
    assert ok.task_id in {t.task_id for t in completed}
    assert all(t.status is TaskStatus.COMPLETED for t in completed)
    failed = pool.tasks(status=TaskStatus.FAILED, limit=1)
    assert len(failed) == 1 and failed[0].task_id == bad.task_id, "newest first"
    everything = pool.tasks()
    assert {ok.task_id, bad.task_id} <= {t.task_id for t in everything}
    assert pool.tasks(status="queued") == []


def test_dedupe_returns_the_existing_task(pool: WorkerPool) -> None:
    first = pool.submit("hubspot", "all", {"batch_size": LONG}, tenant="acme-7", dedupe="active")
    assert not first.deduplicated
    again = pool.submit("hubspot", "all", {"batch_size": 200}, tenant="acme-7", dedupe="active")
    assert again.deduplicated and again.task_id == first.task_id
    assert again.parameters.batch_size == LONG, "active keeps the existing task as it is"
    other = pool.submit("hubspot", "all", {"batch_size": LONG}, tenant="acme-8", dedupe="active")
    assert not other.deduplicated and other.task_id != first.task_id
    status = pool.status()
    assert status.active_count + status.queued_count == 2


def test_the_environment_names_the_server(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKER_POOL_URL", server.url + "/")
    with WorkerPool() as p:
        assert p.url == server.url
        assert p.status().max_workers >= 1


def test_a_submit_whose_answer_was_lost_is_sent_again_and_adds_one_task(
    server: Server, pool: WorkerPool
) -> None:
    import json
    import uuid

    import httpx

    real = httpx.HTTPTransport()
    sent: list[dict] = []

    class LoseTheFirstAnswer(httpx.BaseTransport):
        """Delivers every request, but loses the answer to the first submit (a timeout)."""

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            response = real.handle_request(request)
            if request.url.path.endswith("/submit/"):
                sent.append(json.loads(request.content))
                if len(sent) == 1:
                    response.read()
                    response.close()
                    raise httpx.ReadTimeout("the answer was lost", request=request)
            return response

    tenant = f"idem-{uuid.uuid4().hex[:8]}"
    with WorkerPool(server.url, http_client=httpx.Client(transport=LoseTheFirstAnswer())) as p:
        t = p.submit("hubspot", "all", {"batch_size": QUICK}, tenant=tenant)
    assert len(sent) == 2 and sent[0]["task_id"] == sent[1]["task_id"] == t.task_id
    assert t.deduplicated, "the resend found the task the first send added"
    assert [x.task_id for x in pool.tasks(limit=1000) if x.tenant == tenant] == [t.task_id]

    # An id of the caller's choosing: the same submit later returns the same task...
    again = pool.submit("hubspot", "all", {"batch_size": QUICK}, tenant=tenant, task_id=t.task_id)
    assert again.task_id == t.task_id and again.deduplicated
    # ...and another task under it is a conflict, with the server's sentence.
    with pytest.raises(Conflict, match="already names another task"):
        pool.submit("arrivy", "all", task_id=t.task_id)
    with pytest.raises(Invalid) as bad:
        pool.submit("arrivy", "all", task_id="not an id")
    assert [f.field for f in bad.value.fields] == ["task_id"]


def test_doctor_reports_the_set_up_it_runs_on(pool: WorkerPool, celery_worker: str) -> None:
    report = pool.doctor()
    by_check = {(c.check, c.subject): c for c in report.checks}
    consume = by_check[("workers.consume", "queue")]
    assert consume.status == "ok" and celery_worker in consume.message
    # The demo worker is set up as the pool needs it.
    for name in ("worker.track_started", "worker.results", "worker.registered", "worker.heartbeats"):
        assert by_check[(name, celery_worker)].status == "ok", by_check[(name, celery_worker)]
    assert report.ok is (not report.problems)
    assert all(c.fix for c in report.checks if c.status != "ok")
