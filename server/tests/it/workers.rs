//! The worker roster (`GET workers/`) and forgetting a worker that is gone for good
//! (`POST workers/<hostname>/forget/`), over HTTP, with the worker's events recorded as the
//! listener records them.

use crate::common::TestServer;
use crate::fake_celery::FakeCelery;
use serde_json::{json, Value};
use std::time::Duration;

async fn event(s: &TestServer, kind: &str, host: &str, active: Option<u64>) {
    s.scheduler()
        .store()
        .worker_event(kind, host, Some(4242), Duration::from_secs(2), active)
        .await
        .expect("event recorded");
}

/// This test's workers in the roster (real Celery workers of other tests may be heard from
/// too: Celery's events reach every pool on the same Redis).
async fn roster(s: &TestServer, host: &str) -> Vec<Value> {
    let (code, body) = s.get("/workers/").await;
    assert_eq!(code, 200, "{body}");
    body["workers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["hostname"] == host)
        .cloned()
        .collect()
}

#[tokio::test]
async fn the_roster_shows_each_worker_and_forgetting_one_frees_its_slots() {
    let s = TestServer::start(&[("MAX_SYNC_WORKERS", "1")]).await;
    let celery = FakeCelery::new(&s.queue);
    let host = celery.hostname.clone();
    event(&s, "worker-online", &host, None).await;

    let a = s.submit("hubspot", "all", json!({}), 0).await;
    let b = s.submit("arrivy", "all", json!({}), 0).await;
    let a_id = a["task_id"].as_str().unwrap().to_string();
    let b_id = b["task_id"].as_str().unwrap().to_string();
    assert_eq!(b["status"], "queued");
    let taken = celery.take(5.0).await.expect("a dispatched");
    celery.started(&taken.id).await;
    crate::common::eventually(5, "STARTED recorded", || async {
        let (_, t) = s.get(&format!("/tasks/{a_id}/")).await;
        t["worker"].is_string().then_some(())
    })
    .await;

    let workers = roster(&s, &host).await;
    assert_eq!(workers.len(), 1, "{workers:?}");
    let w = &workers[0];
    assert_eq!(w["hostname"], host.as_str());
    assert_eq!(w["state"], "online");
    assert_eq!(w["pid"], 4242);
    assert!(w["last_heartbeat"].is_string());
    assert!(w["first_seen"].is_string());
    assert!(w["offline_at"].is_null());
    assert_eq!(w["tasks"], json!([a_id.clone()]));

    // An online worker still runs its tasks: refused, and nothing changes.
    let path = format!("/workers/{host}/forget/");
    let (code, body) = s.post(&path, json!({})).await;
    assert_eq!(code, 409, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("is online"),
        "{body}"
    );
    assert_eq!(s.task_status(&a_id).await, "running");
    let (code, body) = s.post("/workers/nobody@nowhere/forget/", json!({})).await;
    assert_eq!(code, 404, "{body}");

    // A warm shutdown began (it still runs a), then the host was killed: draining for ever,
    // which the lost-worker rules cannot judge alone.
    event(&s, "worker-offline", &host, Some(1)).await;
    let workers = roster(&s, &host).await;
    assert_eq!(workers[0]["state"], "draining");
    assert!(workers[0]["offline_at"].is_string());
    let (_, page) = s.metrics().await;
    // (At least this one: other tests' real workers are counted too.)
    let draining: f64 = page
        .lines()
        .find_map(|l| l.strip_prefix("worker_pool_workers{state=\"draining\"} "))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    assert!(draining >= 1.0, "{page}");

    let (code, body) = s.post(&path, json!({})).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["hostname"], host.as_str());
    assert_eq!(body["released"], json!([a_id.clone()]));
    let ended = s.wait_status(&a_id, "failed", 5).await;
    assert!(
        ended["error"]
            .as_str()
            .unwrap()
            .contains("forgotten by an operator"),
        "{ended}"
    );
    // Its slot went to the queue at once.
    let next = celery
        .take(5.0)
        .await
        .expect("b dispatched into the freed slot");
    assert_eq!(next.id, b_id);
    assert!(
        roster(&s, &host).await.is_empty(),
        "the worker left the roster"
    );
    let (_, page) = s.metrics().await;
    assert!(
        page.contains("worker_pool_tasks_reclaimed_total{reason=\"forgotten\"} 1"),
        "{page}"
    );

    // Forgetting it again: it is no longer known.
    let (code, _) = s.post(&path, json!({})).await;
    assert_eq!(code, 404);
    s.stop(&[a_id, b_id]).await;
}
