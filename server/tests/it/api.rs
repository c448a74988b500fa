//! The seed's JSON API against a real server and Redis, with a simulated Celery worker.

use crate::common::{eventually, TestServer};
use crate::fake_celery::FakeCelery;
use serde_json::{json, Value};

fn ids(tasks: &Value) -> Vec<String> {
    tasks
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["task_id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn submit_runs_at_once_then_queues_and_refills_on_completion() {
    let s = TestServer::start(&[("MAX_SYNC_WORKERS", "1")]).await;
    let celery = FakeCelery::new(&s.queue);

    let first = s.submit("hubspot", "all", json!({}), 0).await;
    assert_eq!(first["status"], "running");
    assert_eq!(first["task_name"], "hubspot.all");
    assert_eq!(
        first["parameters"],
        json!({"full": false, "batch_size": 1000, "dry_run": false})
    );
    assert!(first["position"].is_null());
    assert!(first["started_at"].is_string());
    for key in [
        "task_id",
        "crm_source",
        "sync_type",
        "task_name",
        "parameters",
        "priority",
        "status",
        "position",
        "created_at",
        "started_at",
        "finished_at",
        "error",
    ] {
        assert!(first.get(key).is_some(), "task object has {key}");
    }

    let second = s
        .submit(
            "five9",
            "contacts",
            json!({"full": true, "batch_size": 500}),
            0,
        )
        .await;
    assert_eq!(second["status"], "queued");
    assert_eq!(second["position"], 1);

    let (code, status) = s.get("/status/").await;
    assert_eq!(code, 200);
    assert_eq!(status["max_workers"], 1);
    assert_eq!(status["active_count"], 1);
    assert_eq!(status["queued_count"], 1);
    assert_eq!(status["available_workers"], 0);
    assert_eq!(status["utilization"], 100.0);
    assert_eq!(status["state"], "overloaded");
    assert_eq!(
        ids(&status["active_tasks"]),
        [first["task_id"].as_str().unwrap()]
    );
    assert_eq!(status["queued_tasks"][0]["position"], 1);

    // The worker takes the message: Celery id = the pool's id, parameters as kwargs.
    let taken = celery.take(5.0).await.expect("a message was published");
    assert_eq!(taken.id, first["task_id"].as_str().unwrap());
    assert_eq!(taken.task, "hubspot.all");
    assert_eq!(
        taken.kwargs,
        json!({"full": false, "batch_size": 1000, "dry_run": false})
    );
    assert!(
        celery.take(0.2).await.is_none(),
        "the queued task was not published"
    );

    celery.started(&taken.id).await;
    let t = eventually(5, "STARTED recorded", || async {
        let (_, t) = s.get(&format!("/tasks/{}/", taken.id)).await;
        t["worker"].is_string().then_some(t)
    })
    .await;
    assert_eq!(t["worker"], celery.hostname);

    // Completion frees the slot and the next task is published straight away.
    celery.succeed(&taken.id).await;
    let done = s.wait_status(&taken.id, "completed", 5).await;
    assert!(done["finished_at"].is_string());
    assert!(done["error"].is_null());
    let next = celery
        .take(5.0)
        .await
        .expect("the queued task was dispatched on completion");
    assert_eq!(next.id, second["task_id"].as_str().unwrap());
    assert_eq!(
        next.kwargs,
        json!({"full": true, "batch_size": 500, "dry_run": false})
    );
    assert_eq!(s.task_status(&next.id).await, "running");

    s.stop(&[taken.id, next.id]).await;
}

#[tokio::test]
async fn failures_keep_the_exception_and_free_the_slot() {
    let s = TestServer::start(&[("MAX_SYNC_WORKERS", "1")]).await;
    let celery = FakeCelery::new(&s.queue);
    let a = s.submit("arrivy", "all", json!({}), 0).await;
    let b = s.submit("arrivy", "all", json!({}), 0).await;
    let taken = celery.take(5.0).await.unwrap();
    assert_eq!(taken.id, a["task_id"].as_str().unwrap());
    celery
        .fail(&taken.id, "SyncError", "the CRM API rejected batch 6")
        .await;
    let failed = s.wait_status(&taken.id, "failed", 5).await;
    assert_eq!(failed["error"], "SyncError: the CRM API rejected batch 6");
    let next = celery.take(5.0).await.unwrap();
    assert_eq!(next.id, b["task_id"].as_str().unwrap());
    s.stop(&[taken.id, next.id]).await;
}

#[tokio::test]
async fn bad_input_gets_a_clear_4xx_and_changes_nothing() {
    let s = TestServer::start(&[]).await;
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"crm_source": "five9", "sync_type": "everything"}),
            "unknown task type",
        ),
        (
            json!({"crm_source": "five9", "sync_type": "contacts", "parameters": {"fulll": true}}),
            "unknown parameter",
        ),
        (
            json!({"crm_source": "five9", "sync_type": "contacts", "parameters": {"batch_size": 0}}),
            "batch_size",
        ),
        (
            json!({"crm_source": "five9", "sync_type": "contacts", "priority": 101}),
            "priority",
        ),
        (
            json!({"crm_source": "five9", "sync_type": "contacts", "priority": "high"}),
            "priority",
        ),
        (
            json!({"crm_source": "five9", "sync_type": "contacts", "extra": 1}),
            "unknown field",
        ),
        (json!({"sync_type": "contacts"}), "crm_source is required"),
        (json!([1, 2]), "JSON object"),
    ];
    for (body, needle) in cases {
        let (code, err) = s.post("/submit/", body.clone()).await;
        assert_eq!(code, 422, "{body} -> {err}");
        let msg = err["error"].as_str().unwrap();
        assert!(
            msg.contains(needle),
            "{body}: {msg:?} should mention {needle:?}"
        );
    }
    let (code, err) = s
        .post_raw("/submit/", "application/json", "{\"crm_source\": ")
        .await;
    assert_eq!(code, 400);
    assert!(err["error"].as_str().unwrap().contains("not valid JSON"));
    let (code, _) = s.post_raw("/submit/", "text/plain", "{}").await;
    assert_eq!(code, 400);
    let (code, err) = s.post("/config/", json!({"max_workers": 0})).await;
    assert_eq!(code, 422, "{err}");
    let (code, _) = s.post("/config/", json!({"max_workers": 65})).await;
    assert_eq!(code, 422);
    let (code, _) = s.post("/config/", json!({"max_workers": 2.5})).await;
    assert_eq!(code, 422);
    let (code, _) = s.get("/tasks/?status=finished").await;
    assert_eq!(code, 400);
    let (code, _) = s.get("/tasks/no%20such%20id/").await;
    assert_eq!(code, 400);
    let (code, err) = s.get("/tasks/00000000-0000-4000-8000-000000000000/").await;
    assert_eq!(code, 404, "{err}");
    let (code, err) = s.get("/nope/").await;
    assert_eq!(
        (code, err["kind"].as_str()),
        (404, Some("not_found")),
        "{err}"
    );
    // Nothing was accepted.
    let (_, status) = s.get("/status/").await;
    assert_eq!(status["active_count"], 0);
    assert_eq!(status["queued_count"], 0);
    assert_eq!(status["max_workers"], 1);
    s.stop(&[]).await;
}

#[tokio::test]
async fn cancel_queued_never_runs_and_cancel_running_revokes() {
    let s = TestServer::start(&[("MAX_SYNC_WORKERS", "1")]).await;
    let celery = FakeCelery::new(&s.queue);
    let running = s.submit("genius", "all", json!({}), 0).await;
    let queued = s.submit("genius", "all", json!({}), 0).await;
    let qid = queued["task_id"].as_str().unwrap().to_string();
    let rid = running["task_id"].as_str().unwrap().to_string();

    let (code, t) = s.post(&format!("/tasks/{qid}/cancel/"), json!({})).await;
    assert_eq!(code, 200, "{t}");
    assert_eq!(t["status"], "cancelled");
    let (code, err) = s.post(&format!("/tasks/{qid}/cancel/"), json!({})).await;
    assert_eq!(code, 409, "{err}");

    // The running task's message is still in the list: withdrawn, cancelled at once.
    let (code, t) = s.post(&format!("/tasks/{rid}/cancel/"), json!({})).await;
    assert_eq!(code, 200);
    assert_eq!(t["status"], "cancelled");
    assert!(
        celery.take(0.3).await.is_none(),
        "neither message is left for a worker"
    );

    // A task a worker already took: revoked, and cancelled when the worker says REVOKED.
    let third = s.submit("genius", "all", json!({}), 0).await;
    let taken = celery.take(5.0).await.unwrap();
    assert_eq!(taken.id, third["task_id"].as_str().unwrap());
    celery.started(&taken.id).await;
    let (code, t) = s
        .post(&format!("/tasks/{}/cancel/", taken.id), json!({}))
        .await;
    assert_eq!(code, 200);
    assert_eq!(
        t["status"], "running",
        "the slot is held until the worker confirms"
    );
    celery.revoked(&taken.id).await;
    let t = s.wait_status(&taken.id, "cancelled", 5).await;
    assert!(t["error"].as_str().unwrap().contains("terminated"));
    let (_, status) = s.get("/status/").await;
    assert_eq!(status["active_count"], 0);
    s.stop(&[taken.id]).await;
}

#[tokio::test]
async fn config_changes_apply_at_once_and_survive_a_restart() {
    let s = TestServer::start(&[("MAX_SYNC_WORKERS", "1")]).await;
    let celery = FakeCelery::new(&s.queue);
    for _ in 0..4 {
        s.submit("hubspot", "all", json!({}), 0).await;
    }
    let (code, cfg) = s.get("/config/").await;
    assert_eq!(code, 200);
    assert_eq!(cfg["max_workers"], 1);
    let (code, cfg) = s.post("/config/", json!({"max_workers": 3})).await;
    assert_eq!(code, 200, "{cfg}");
    assert_eq!(cfg["max_workers"], 3);
    assert_eq!(
        cfg["active_count"], 3,
        "raising the limit dispatches at once"
    );
    let (_, status) = s.get("/status/").await;
    assert_eq!(status["state"], "overloaded");

    // Lowering never kills: the pool drains.
    let (_, cfg) = s.post("/config/", json!({"max_workers": 1})).await;
    assert_eq!(cfg["active_count"], 3);
    assert_eq!(cfg["draining"], true);
    let mut done = Vec::new();
    for _ in 0..3 {
        done.push(celery.take(5.0).await.unwrap().id);
    }
    celery.succeed(&done[0]).await;
    celery.succeed(&done[1]).await;
    s.wait_status(&done[1], "completed", 5).await;
    let (_, status) = s.get("/status/").await;
    assert_eq!(status["active_count"], 1);
    assert_eq!(
        status["queued_count"], 1,
        "still at the limit: nothing new runs"
    );

    // A restart keeps the runtime value, whatever MAX_SYNC_WORKERS says.
    let (prefix, queue) = (s.prefix.clone(), s.queue.clone());
    s.stop_keep().await;
    let s = TestServer::start_with(&prefix, &queue, &[("MAX_SYNC_WORKERS", "5")]).await;
    let (_, cfg) = s.get("/config/").await;
    assert_eq!(cfg["max_workers"], 1);
    s.stop(&done).await;
}

#[tokio::test]
async fn priority_orders_the_queue_and_can_change() {
    let s = TestServer::start(&[("MAX_SYNC_WORKERS", "1")]).await;
    let celery = FakeCelery::new(&s.queue);
    let blocker = s.submit("hubspot", "all", json!({}), 0).await;
    let low = s.submit("five9", "contacts", json!({}), -10).await;
    let mid = s.submit("five9", "contacts", json!({}), 0).await;
    let high = s.submit("five9", "contacts", json!({}), 50).await;
    let (_, status) = s.get("/status/").await;
    let order = ids(&status["queued_tasks"]);
    let id = |t: &Value| t["task_id"].as_str().unwrap().to_string();
    assert_eq!(order, [id(&high), id(&mid), id(&low)]);

    let (code, t) = s
        .post(
            &format!("/tasks/{}/priority/", id(&low)),
            json!({"priority": 99}),
        )
        .await;
    assert_eq!(code, 200, "{t}");
    assert_eq!(t["position"], 1);
    let (code, _) = s
        .post(
            &format!("/tasks/{}/priority/", id(&blocker)),
            json!({"priority": 1}),
        )
        .await;
    assert_eq!(code, 409, "a running task has no place in the queue");

    let (_, list) = s.get("/tasks/?status=queued").await;
    assert_eq!(ids(&list["tasks"]), [id(&low), id(&high), id(&mid)]);
    let (_, list) = s.get("/tasks/?limit=2").await;
    assert_eq!(ids(&list["tasks"]), [id(&blocker), id(&low)]);

    let first = celery.take(5.0).await.unwrap();
    celery.succeed(&first.id).await;
    let next = celery.take(5.0).await.unwrap();
    assert_eq!(next.id, id(&low));
    s.stop(&[first.id, next.id]).await;
}

#[tokio::test]
async fn process_queue_reconciles_a_missed_notification() {
    let s = TestServer::start(&[("MAX_SYNC_WORKERS", "1")]).await;
    let celery = FakeCelery::new(&s.queue);
    let a = s.submit("hubspot", "all", json!({}), 0).await;
    let b = s.submit("hubspot", "all", json!({}), 0).await;
    let taken = celery.take(5.0).await.unwrap();
    // The result is stored, but its notification was lost.
    celery
        .report(
            &taken.id,
            json!({"status": "SUCCESS", "result": 1, "traceback": null, "children": [],
                "date_done": "2026-11-29T01:16:44+00:00", "task_id": taken.id}),
            false,
        )
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(s.task_status(&taken.id).await, "running");
    let (code, report) = s.post("/process-queue/", json!({})).await;
    assert_eq!(code, 200, "{report}");
    assert_eq!(report["reconciled"], json!([a["task_id"]]));
    assert_eq!(report["dispatched"], json!([b["task_id"]]));
    assert_eq!(s.task_status(&taken.id).await, "completed");
    s.stop(&[taken.id]).await;
}

#[tokio::test]
async fn seed_routes_answer_with_and_without_trailing_slash() {
    let s = TestServer::start(&[]).await;
    for path in ["/status/", "/status", "/config/", "/tasks/", "/task-types/"] {
        let (code, _) = s.get(path).await;
        assert_eq!(code, 200, "{path}");
    }
    let (_, types) = s.get("/task-types/").await;
    assert_eq!(types["task_types"].as_array().unwrap().len(), 5);
    let res = s
        .client
        .get(format!("{}/healthz", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = s
        .client
        .get(format!("{}/readyz", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = s
        .client
        .delete(format!("{}/status/", s.api))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 405);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(
        body["kind"], "method_not_allowed",
        "one error shape: {body}"
    );
    assert!(body["error"].is_string(), "{body}");
    s.stop(&[]).await;
}

#[tokio::test]
async fn flow_control_input_is_checked_and_bad_input_changes_nothing() {
    let s = TestServer::start(&[("WORKER_POOL_SOURCE_LIMITS", "five9=1")]).await;
    let (code, limits) = s.get("/limits/").await;
    assert_eq!(code, 200);
    assert_eq!(limits["sources"]["five9"]["limit"], 1, "seeded");
    assert!(limits["sources"]["hubspot"]["limit"].is_null());
    for (body, field) in [
        (
            json!({"sources": {"nosuch": {"limit": 1}}}),
            "sources.nosuch",
        ),
        (
            json!({"sources": {"five9": {"limit": -1}}}),
            "sources.five9.limit",
        ),
        (
            json!({"sources": {"five9": {"limit": 65}}}),
            "sources.five9.limit",
        ),
        (
            json!({"sources": {"five9": {"tenant_limit": "2"}}}),
            "sources.five9.tenant_limit",
        ),
        (
            json!({"sources": {"arrivy": {"rate": {"starts": 10, "per_seconds": 0}}}}),
            "sources.arrivy.rate.per_seconds",
        ),
        (
            json!({"sources": {"arrivy": {"rate": {"starts": 10}}}}),
            "sources.arrivy.rate.per_seconds",
        ),
        (
            json!({"sources": {"five9": {"limti": 1}}}),
            "sources.five9.limti",
        ),
        (json!({"max_workers": 0}), "max_workers"),
        (json!({"sources": []}), "sources"),
    ] {
        let (code, err) = s.post("/limits/", body.clone()).await;
        assert_eq!(code, 422, "{body} -> {err}");
        let fields: Vec<&str> = err["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["field"].as_str().unwrap())
            .collect();
        assert!(fields.contains(&field), "{body}: {fields:?}");
    }
    let (_, after) = s.get("/limits/").await;
    assert_eq!(after, limits, "nothing changed");
    // A valid change answers the whole; null removes; unnamed sources are left as they are.
    let (code, l) = s
        .post(
            "/limits/",
            json!({"sources": {"hubspot": {"limit": 3, "rate": {"starts": 5, "per_seconds": 60}}}}),
        )
        .await;
    assert_eq!(code, 200, "{l}");
    assert_eq!(
        (
            l["sources"]["hubspot"]["limit"].as_u64(),
            l["sources"]["five9"]["limit"].as_u64()
        ),
        (Some(3), Some(1))
    );
    let (_, l) = s
        .post("/limits/", json!({"sources": {"hubspot": {"rate": null}}}))
        .await;
    assert!(l["sources"]["hubspot"]["rate"].is_null());
    assert_eq!(l["sources"]["hubspot"]["limit"], 3);
    // Tenants: validated on submit, carried by the task.
    for bad in [json!("a b"), json!(""), json!(7), json!("x".repeat(65))] {
        let (code, err) = s
            .post(
                "/submit/",
                json!({"crm_source": "hubspot", "sync_type": "all", "tenant": bad}),
            )
            .await;
        assert_eq!(code, 422, "{err}");
        assert_eq!(err["fields"][0]["field"], "tenant", "{err}");
    }
    let (code, t) = s
        .post(
            "/submit/",
            json!({"crm_source": "hubspot", "sync_type": "all", "tenant": "acme:eu-1"}),
        )
        .await;
    assert_eq!(code, 201, "{t}");
    assert_eq!(t["tenant"], "acme:eu-1");
    // Pause and cool-down targets.
    let (code, err) = s.post("/pause/", json!({"source": "nosuch"})).await;
    assert_eq!(
        (code, err["kind"].as_str()),
        (404, Some("not_found")),
        "{err}"
    );
    let (code, _) = s.post("/pause/", json!({"source": 5})).await;
    assert_eq!(code, 422);
    let (code, _) = s
        .post("/sources/five9/cooldown/", json!({"seconds": 86401}))
        .await;
    assert_eq!(code, 422);
    let (code, _) = s
        .post("/sources/nosuch/cooldown/", json!({"seconds": 5}))
        .await;
    assert_eq!(code, 404);
    let (code, st) = s
        .post("/sources/five9/cooldown/", json!({"seconds": 30}))
        .await;
    assert_eq!(code, 200);
    assert!(st["sources"]["five9"]["cooldown_until"].is_string(), "{st}");
    let id = t["task_id"].as_str().unwrap().to_string();
    s.stop(&[id]).await;
}

#[tokio::test]
async fn dedupe_retry_and_their_bad_input_over_http() {
    let s = TestServer::start(&[("MAX_SYNC_WORKERS", "1")]).await;
    let celery = FakeCelery::new(&s.queue);
    let body = |dedupe: &str| json!({"crm_source": "hubspot", "sync_type": "all", "tenant": "acme", "dedupe": dedupe});
    let (code, first) = s.post("/submit/", body("queued")).await;
    assert_eq!((code, first["status"].as_str()), (201, Some("running")));
    assert!(first.get("deduplicated").is_none(), "only on a duplicate");
    let (code, queued) = s.post("/submit/", body("queued")).await;
    assert_eq!((code, queued["status"].as_str()), (201, Some("queued")));
    let (code, dup) = s.post("/submit/", body("active")).await;
    assert_eq!(code, 200, "a duplicate is not created: {dup}");
    assert_eq!(dup["deduplicated"], true);
    assert_eq!(dup["task_id"], queued["task_id"]);
    for (bad, needle) in [
        (
            json!({"crm_source": "hubspot", "sync_type": "all", "dedupe": "always"}),
            "dedupe must be",
        ),
        (
            json!({"crm_source": "hubspot", "sync_type": "all", "dedupe": 1}),
            "dedupe must be a string",
        ),
    ] {
        let (code, err) = s.post("/submit/", bad.clone()).await;
        assert_eq!(code, 422, "{bad} -> {err}");
        assert!(err["error"].as_str().unwrap().contains(needle), "{err}");
    }
    // Retry: only a failed or cancelled task, once.
    let first_id = first["task_id"].as_str().unwrap().to_string();
    let (code, err) = s
        .post(&format!("/tasks/{first_id}/retry/"), json!({}))
        .await;
    assert_eq!(code, 409, "a running task cannot be retried: {err}");
    let taken = celery.take(5.0).await.unwrap();
    celery.fail(&taken.id, "SyncError", "refused").await;
    s.wait_status(&first_id, "failed", 10).await;
    let (code, again) = s
        .post(&format!("/tasks/{first_id}/retry/"), json!({}))
        .await;
    assert_eq!(code, 201, "{again}");
    assert_eq!(again["retry_of"], first_id.as_str());
    assert_eq!(again["tenant"], "acme");
    let (code, _) = s
        .post(&format!("/tasks/{first_id}/retry/"), json!({}))
        .await;
    assert_eq!(code, 409, "retried once");
    let (code, _) = s
        .post(
            "/tasks/00000000-0000-4000-8000-000000000000/retry/",
            json!({}),
        )
        .await;
    assert_eq!(code, 404);
    // Bulk: a filter; bad filters change nothing.
    for bad in [
        json!({"status": "running"}),
        json!({"limit": 0}),
        json!({"tenant": "a b"}),
        json!({"colour": "red"}),
    ] {
        let (code, err) = s.post("/tasks/retry/", bad.clone()).await;
        assert_eq!(code, 422, "{bad} -> {err}");
    }
    let (code, report) = s
        .post("/tasks/retry/", json!({"crm_source": "hubspot"}))
        .await;
    assert_eq!(code, 200, "{report}");
    assert_eq!(report["retried"].as_array().unwrap().len(), 0);
    assert_eq!(report["already_retried"], json!([first_id]));
    let (_, status) = s.get("/status/").await;
    // The failure freed the slot for the queued task; the retry waits behind it.
    assert_eq!(status["active_tasks"][0]["task_id"], queued["task_id"]);
    assert_eq!(status["queued_tasks"][0]["task_id"], again["task_id"]);
    assert_eq!(status["queued_count"], 1, "{status}");
    let ids = [
        first_id,
        queued["task_id"].as_str().unwrap().to_string(),
        again["task_id"].as_str().unwrap().to_string(),
    ];
    s.stop(&ids).await;
}

#[tokio::test]
async fn a_client_chosen_task_id_makes_a_submit_safe_to_send_again() {
    let s = TestServer::start(&[("MAX_SYNC_WORKERS", "1")]).await;
    let id = uuid::Uuid::new_v4().to_string();
    let body = json!({"crm_source": "hubspot", "sync_type": "all", "tenant": "acme",
        "parameters": {"batch_size": 10}, "task_id": id});
    let (code, first) = s.post("/submit/", body.clone()).await;
    assert_eq!(code, 201, "{first}");
    assert_eq!(first["task_id"], id.as_str());
    assert!(first.get("deduplicated").is_none(), "{first}");

    // The same submit again (a client that timed out): the same task, nothing added.
    let (code, again) = s.post("/submit/", body.clone()).await;
    assert_eq!(code, 200, "{again}");
    assert_eq!(again["task_id"], id.as_str());
    assert_eq!(again["deduplicated"], true);
    let (_, status) = s.get("/status/").await;
    assert_eq!(
        status["active_count"].as_u64().unwrap() + status["queued_count"].as_u64().unwrap(),
        1
    );

    // A different task under that id is refused, and changes nothing.
    let mut other = body.clone();
    other["tenant"] = json!("bolt");
    let (code, err) = s.post("/submit/", other).await;
    assert_eq!(code, 409, "{err}");
    assert!(
        err["error"]
            .as_str()
            .unwrap()
            .contains("already names another task"),
        "{err}"
    );
    let (_, t) = s.get(&format!("/tasks/{id}/")).await;
    assert_eq!(t["tenant"], "acme");

    // Ids that are not ids: a clear 422 naming the field.
    for bad in [
        json!(""),
        json!("has space"),
        json!("a~1"),
        json!("x".repeat(129)),
        json!(7),
    ] {
        let mut b = body.clone();
        b["task_id"] = bad.clone();
        let (code, err) = s.post("/submit/", b).await;
        assert_eq!(code, 422, "{bad}: {err}");
        assert_eq!(err["fields"][0]["field"], "task_id", "{bad}: {err}");
    }

    // Racing sends of one new id, on several connections: one task, one 201.
    let raced = uuid::Uuid::new_v4().to_string();
    let mut b = body.clone();
    b["task_id"] = json!(raced);
    let sends = (0..8).map(|_| {
        let (client, url, b) = (s.client.clone(), format!("{}/submit/", s.api), b.clone());
        tokio::spawn(async move {
            client
                .post(url)
                .json(&b)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        })
    });
    let mut codes: Vec<u16> = Vec::new();
    for h in sends {
        codes.push(h.await.unwrap());
    }
    codes.sort();
    assert_eq!(codes, [200, 200, 200, 200, 200, 200, 200, 201]);
    let (_, status) = s.get("/status/").await;
    assert_eq!(
        status["active_count"].as_u64().unwrap() + status["queued_count"].as_u64().unwrap(),
        2
    );
    s.stop(&[]).await;
}
