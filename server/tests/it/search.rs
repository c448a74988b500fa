//! Searching the tasks (`GET tasks/` with filters, a page at a time) and acting on what a
//! search names (`POST tasks/bulk/`): one request, one audit entry.

use crate::common::*;
use crate::fake_celery::FakeCelery;
use serde_json::{json, Value};

fn ids(list: &Value) -> Vec<String> {
    list["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["task_id"].as_str().unwrap().to_string())
        .collect()
}

async fn submit(s: &TestServer, crm: &str, tenant: &str) -> String {
    let (code, t) = s
        .post(
            "/submit/",
            json!({"crm_source": crm, "sync_type": "all", "tenant": tenant}),
        )
        .await;
    assert_eq!(code, 201, "{t}");
    t["task_id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn search_filters_pages_and_bulk_actions_touch_what_it_names() {
    let s = TestServer::start(&[("MAX_SYNC_WORKERS", "1")]).await;
    let celery = FakeCelery::new(&s.queue);
    let a = submit(&s, "hubspot", "acme").await;
    let b = submit(&s, "hubspot", "acme").await;
    let c = submit(&s, "hubspot", "acme").await;
    let d = submit(&s, "genius", "beta").await;

    // Filters: running first, then queued in order, positions kept.
    let (code, list) = s.get("/tasks/?crm_source=hubspot").await;
    assert_eq!(code, 200, "{list}");
    assert_eq!(ids(&list), [a.as_str(), b.as_str(), c.as_str()]);
    assert_eq!(list["tasks"][1]["position"], 1);
    assert!(list["next"].is_null());
    let (_, list) = s.get("/tasks/?tenant=beta").await;
    assert_eq!(ids(&list), [d.as_str()]);
    let (_, list) = s
        .get(&format!("/tasks/?q={}", &c[..13].to_uppercase()))
        .await;
    assert_eq!(
        ids(&list),
        [c.as_str()],
        "text is found in the id, whatever its case"
    );
    let (_, list) = s.get("/tasks/?since=2099-01-01T00:00:00Z").await;
    assert!(ids(&list).is_empty());
    let (_, list) = s.get("/tasks/?until=2000-01-01T00:00:00%2B00:00").await;
    assert!(ids(&list).is_empty(), "percent-decoded");

    // A page at a time.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let (code, page) = s
            .get(&format!("/tasks/?crm_source=hubspot&limit=1{cursor}"))
            .await;
        assert_eq!(code, 200, "{page}");
        seen.extend(ids(&page));
        match page["next"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => break,
        }
    }
    assert_eq!(seen, [a.as_str(), b.as_str(), c.as_str()]);

    for bad in [
        "since=yesterday",
        "cursor=zz",
        "tenant=%00",
        "q=",
        "sort=asc",
    ] {
        let (code, body) = s.get(&format!("/tasks/?{bad}")).await;
        if bad == "q=" {
            assert_eq!(code, 200, "an empty filter is no filter: {body}");
        } else {
            assert_eq!(code, 400, "{bad}: {body}");
        }
    }

    // Bulk priority: a dry run counts, changes nothing; then one request changes them all.
    let req = json!({"action": "priority", "filter": {"crm_source": "hubspot"}, "priority": 50});
    let mut dry = req.clone();
    dry["dry_run"] = json!(true);
    let (code, r) = s.post("/tasks/bulk/", dry).await;
    assert_eq!(code, 200, "{r}");
    assert_eq!(r["matched"], json!([b, c]), "queued ones only: {r}");
    assert_eq!(r["changed"], json!([]));
    assert_eq!(s.get(&format!("/tasks/{b}/")).await.1["priority"], 0);
    let (code, r) = s.post("/tasks/bulk/", req).await;
    assert_eq!(code, 200, "{r}");
    assert_eq!(r["changed"], json!([b, c]));
    assert_eq!(s.get(&format!("/tasks/{c}/")).await.1["priority"], 50);

    // Bulk cancel of one tenant's queued tasks leaves the others.
    let (_, r) = s
        .post(
            "/tasks/bulk/",
            json!({"action": "cancel", "filter": {"tenant": "acme"}}),
        )
        .await;
    assert_eq!(r["changed"], json!([b, c]), "{r}");
    assert_eq!(s.task_status(&b).await, "cancelled");
    assert_eq!(s.task_status(&d).await, "queued");
    assert_eq!(s.task_status(&a).await, "running");

    // A failure, found by its error text, retried once by a bulk retry.
    let taken = celery.take(5.0).await.expect("a dispatched");
    assert_eq!(taken.id, a);
    celery
        .fail(&a, "RuntimeError", "HubSpot said Quota-XYZ")
        .await;
    s.wait_status(&a, "failed", 5).await;
    let (_, list) = s.get("/tasks/?q=quota-xyz").await;
    assert_eq!(ids(&list), [a.as_str()]);
    let retry = json!({"action": "retry", "filter": {"q": "quota-xyz"}});
    let (code, r) = s.post("/tasks/bulk/", retry.clone()).await;
    assert_eq!(code, 200, "{r}");
    assert_eq!(r["changed"], json!([a]));
    assert_eq!(r["created"].as_array().unwrap().len(), 1);
    assert_eq!(r["created"][0]["retry_of"], a.as_str());
    let (_, r) = s.post("/tasks/bulk/", retry).await;
    assert_eq!(
        r["already_retried"],
        json!([a]),
        "each is retried once: {r}"
    );
    assert_eq!(r["created"], json!([]));

    // One audit entry per bulk request that changed something.
    let (_, audit) = s.get("/audit/?limit=50").await;
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .filter(|a| a.starts_with("bulk_"))
        .collect();
    assert_eq!(
        actions,
        ["bulk_retry", "bulk_retry", "bulk_cancel", "bulk_priority"]
    );

    // Bad requests are explained and change nothing.
    for (bad, field) in [
        (
            json!({"action": "cancel", "filter": {"status": "failed"}}),
            "filter.status",
        ),
        (json!({"action": "priority"}), "priority"),
        (json!({"action": "priority", "priority": 101}), "priority"),
        (json!({"action": "explode"}), "action"),
        (
            json!({"action": "retry", "filter": {"cursor": "r:1"}}),
            "filter.cursor",
        ),
        (json!({"action": "cancel", "limit": 0}), "limit"),
    ] {
        let (code, body) = s.post("/tasks/bulk/", bad.clone()).await;
        assert_eq!(code, 422, "{bad}: {body}");
        assert!(
            body["fields"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f["field"] == field),
            "{bad}: {body}"
        );
    }
    // (d took the slot a's failure freed; nothing above cancelled it.)
    assert_eq!(s.task_status(&d).await, "running");
    s.stop(&[]).await;
}

#[tokio::test]
async fn a_task_tells_its_story() {
    let s = TestServer::start(&[("MAX_SYNC_WORKERS", "1")]).await;
    let celery = FakeCelery::new(&s.queue);
    let a = submit(&s, "hubspot", "acme").await;
    let b = submit(&s, "hubspot", "acme").await;
    let (code, story) = s.get(&format!("/tasks/{b}/story/")).await;
    assert_eq!(code, 200, "{story}");
    assert_eq!(
        story["events"].as_array().unwrap().len(),
        1,
        "queued: submitted only"
    );
    let (_, _) = s
        .post(&format!("/tasks/{b}/priority/"), json!({"priority": 7}))
        .await;

    let taken = celery.take(5.0).await.unwrap();
    assert_eq!(taken.id, a);
    celery.started(&a).await;
    eventually(5, "STARTED recorded", || async {
        let (_, t) = s.get(&format!("/tasks/{a}/")).await;
        t["worker"].is_string().then_some(())
    })
    .await;
    celery.succeed(&a).await;
    s.wait_status(&a, "completed", 5).await;
    let (_, story) = s.get(&format!("/tasks/{a}/story/")).await;
    assert_eq!(
        kinds(&story),
        ["submitted", "dispatched", "started", "completed"]
    );
    let worker = story["task"]["worker"].as_str().unwrap();
    assert!(story["events"][2]["text"]
        .as_str()
        .unwrap()
        .contains(worker));

    // The audit entries about a task come with it.
    let (_, story) = s.get(&format!("/tasks/{b}/story/")).await;
    let audit = story["audit"].as_array().unwrap();
    assert_eq!(audit.len(), 1, "{story}");
    assert_eq!(audit[0]["action"], "priority");

    let (code, body) = s.get("/tasks/no-such-task/story/").await;
    assert_eq!(code, 404, "{body}");
    s.stop(&[]).await;
}

fn kinds(story: &Value) -> Vec<String> {
    story["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn the_journal_tells_why_it_waited_celerys_retries_and_the_traceback() {
    let s = TestServer::start(&[("MAX_SYNC_WORKERS", "3")]).await;
    let celery = FakeCelery::new(&s.queue);
    let (code, body) = s
        .post("/limits/", json!({"sources": {"hubspot": {"limit": 1}}}))
        .await;
    assert_eq!(code, 200, "{body}");
    let a = submit(&s, "hubspot", "acme").await;
    let b = submit(&s, "hubspot", "acme").await;
    let taken = celery.take(5.0).await.unwrap();
    assert_eq!(taken.id, a);

    // Celery retries a twice; each RETRY is told once, however often it is read.
    celery.started(&a).await;
    for round in 0..2 {
        celery.retry(&a, "RuntimeError", "try again").await;
        eventually(5, "the retry noted", || async {
            let (_, story) = s.get(&format!("/tasks/{a}/story/")).await;
            (kinds(&story).iter().filter(|k| *k == "retry").count() == round + 1).then_some(())
        })
        .await;
        // The same RETRY read again (a reconcile after a reconnect reads it from its key).
        celery.retry(&a, "RuntimeError", "try again").await;
        celery.started(&a).await;
    }
    celery
        .fail(&a, "SyncError", "HubSpot refused batch 3")
        .await;
    s.wait_status(&a, "failed", 5).await;
    let (code, story) = eventually(5, "the traceback stored", || async {
        let (code, story) = s.get(&format!("/tasks/{a}/story/")).await;
        story["traceback"].is_string().then_some((code, story))
    })
    .await;
    assert_eq!(code, 200, "{story}");
    assert_eq!(
        kinds(&story),
        [
            "submitted",
            "dispatched",
            "started",
            "retry",
            "retry",
            "failed"
        ],
        "{story}"
    );
    assert_eq!(
        story["events"][3]["text"],
        "Celery retries it: RuntimeError: try again"
    );
    let tb = story["traceback"].as_str().unwrap();
    assert!(tb.starts_with("Traceback (most recent call last):"), "{tb}");
    assert!(tb.ends_with("SyncError: HubSpot refused batch 3"), "{tb}");

    // b waited for its source's limit, then took a's slot.
    s.wait_status(&b, "running", 5).await;
    let (_, story) = s.get(&format!("/tasks/{b}/story/")).await;
    assert_eq!(
        kinds(&story),
        ["submitted", "waiting", "dispatched"],
        "{story}"
    );
    assert_eq!(story["events"][1]["text"], "Waiting: source at its limit.");
    assert!(story["traceback"].is_null(), "{story}");
    s.stop(&[a, b]).await;
}
