//! The pool's history (`GET stats/`): minute buckets kept in Redis by the scripts that move
//! tasks and sampled by every replica, gathered into a window's steps.

use crate::common::*;
use crate::fake_celery::FakeCelery;
use serde_json::json;

#[tokio::test]
async fn the_history_counts_what_happened_this_minute() {
    let s = TestServer::start(&[("MAX_SYNC_WORKERS", "1")]).await;
    let celery = FakeCelery::new(&s.queue);
    let first = s.submit("hubspot", "all", json!({}), 0).await;
    let second = s.submit("five9", "contacts", json!({}), 0).await;
    assert_eq!(second["status"], "queued");
    // A sample while one runs and one waits (replicas also sample every 5 s by themselves).
    s.scheduler().store().sample_minute().await.unwrap();

    let a = celery.take(5.0).await.expect("first dispatched");
    assert_eq!(a.id, first["task_id"].as_str().unwrap());
    celery.succeed(&a.id).await;
    s.wait_status(&a.id, "completed", 5).await;
    let b = celery.take(5.0).await.expect("second dispatched");
    celery.fail(&b.id, "RuntimeError", "boom").await;
    s.wait_status(&b.id, "failed", 5).await;
    s.scheduler().store().sample_minute().await.unwrap();

    let (code, stats) = s.get("/stats/").await;
    assert_eq!(code, 200, "{stats}");
    assert_eq!(stats["window"], "1h");
    assert_eq!(stats["step_seconds"], 60);
    let points = stats["points"].as_array().unwrap();
    assert_eq!(points.len(), 60);
    // The events may straddle a minute's end: sum the last two minutes.
    let sum = |field: &str| -> u64 {
        points[58..]
            .iter()
            .map(|p| p[field].as_u64().unwrap())
            .sum()
    };
    assert_eq!(sum("started"), 2);
    assert_eq!(sum("completed"), 1);
    assert_eq!(sum("failed"), 1);
    assert_eq!(sum("cancelled"), 0);
    let now = points.last().unwrap();
    assert_eq!(now["max_workers"], 1);
    assert_eq!(now["running"], 0, "the last sample: nothing runs");
    assert_eq!(now["queued"], 0);
    let busiest = points[58..]
        .iter()
        .filter_map(|p| p["queued_max"].as_u64())
        .max();
    assert_eq!(busiest, Some(1), "one waited while the first ran");
    assert!(now["wait_p50_seconds"].is_number() || points[58]["wait_p50_seconds"].is_number());
    // An hour ago no server of this pool was running: no sample, no counts.
    assert!(points[0]["running"].is_null());
    assert_eq!(points[0]["started"], 0);

    let (code, day) = s.get("/stats/?window=24h").await;
    assert_eq!(code, 200);
    assert_eq!(day["step_seconds"], 900);
    let n = day["points"].as_array().unwrap().len();
    assert!((96..=97).contains(&n), "{n} points of 15 minutes");
    let total: u64 = day["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["started"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 2);

    for bad in ["window=2h", "window=", "span=1h"] {
        let (code, body) = s.get(&format!("/stats/?{bad}")).await;
        assert_eq!(code, 400, "{bad}: {body}");
    }
    s.stop(&[]).await;
}
