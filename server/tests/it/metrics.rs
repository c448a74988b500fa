//! `GET /metrics`: pool-wide values in the Prometheus text format, checked by Prometheus' own
//! `promtool` (Debian's `prometheus` package; `scripts/setup.sh` installs it).

use crate::common::{self, eventually, TestServer};
use crate::fake_celery::FakeCelery;
use serde_json::json;
use std::io::Write;
use std::process::{Command, Stdio};

/// The value of the series written exactly as `series` (name and labels), if present.
fn value(page: &str, series: &str) -> Option<f64> {
    page.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

fn must(page: &str, series: &str) -> f64 {
    value(page, series).unwrap_or_else(|| panic!("no {series} in:\n{page}"))
}

/// `promtool check metrics` on the page: a failure when promtool is missing, never a skip.
fn promtool_check(page: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs (Debian's prometheus package: scripts/setup.sh installs it)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(page.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics failed: {}{}\n{page}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn metrics_are_pool_wide_and_pass_promtool() {
    let s = TestServer::start(&[
        ("MAX_SYNC_WORKERS", "1"),
        ("WORKER_POOL_SOURCE_LIMITS", "five9=1"),
    ])
    .await;
    let celery = FakeCelery::new(&s.queue);

    let first = s.submit("hubspot", "all", json!({}), 0).await;
    let second = s.submit("five9", "contacts", json!({}), 0).await;
    let third = s.submit("five9", "contacts", json!({}), 0).await;
    assert_eq!(first["status"], "running");
    assert_eq!(second["status"], "queued");

    let (ct, page) = s.metrics().await;
    assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
    promtool_check(&page);
    assert_eq!(must(&page, "worker_pool_store_up"), 1.0);
    assert_eq!(must(&page, "worker_pool_max_workers"), 1.0);
    assert_eq!(must(&page, "worker_pool_running_tasks"), 1.0);
    assert_eq!(must(&page, "worker_pool_queued_tasks"), 2.0);
    assert_eq!(
        must(&page, "worker_pool_source_queued_tasks{source=\"five9\"}"),
        2.0
    );
    assert_eq!(
        must(
            &page,
            "worker_pool_source_running_tasks{source=\"hubspot\"}"
        ),
        1.0
    );
    assert_eq!(
        must(&page, "worker_pool_source_limit{source=\"five9\"}"),
        1.0
    );
    assert!(
        value(&page, "worker_pool_source_limit{source=\"hubspot\"}").is_none(),
        "no limit, no series"
    );
    assert_eq!(
        must(
            &page,
            "worker_pool_tasks_submitted_total{source=\"five9\",sync_type=\"contacts\"}"
        ),
        2.0
    );
    assert_eq!(
        must(
            &page,
            "worker_pool_tasks_started_total{source=\"hubspot\",sync_type=\"all\"}"
        ),
        1.0
    );
    assert!(must(&page, "worker_pool_oldest_queued_task_age_seconds") >= 0.0);
    // The first took a slot nobody had freed: no refill yet.
    assert_eq!(must(&page, "worker_pool_slot_refill_seconds_count"), 0.0);

    // The first runs and completes; the second starts and fails.
    let a = celery.take(5.0).await.expect("first dispatched");
    celery.started(&a.id).await;
    eventually(5, "STARTED recorded", || async {
        let (_, t) = s.get(&format!("/tasks/{}/", a.id)).await;
        t["worker"].is_string().then_some(())
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    celery.succeed(&a.id).await;
    s.wait_status(&a.id, "completed", 5).await;
    let b = celery.take(5.0).await.expect("second dispatched");
    assert_eq!(b.id, second["task_id"].as_str().unwrap());
    celery.started(&b.id).await;
    eventually(5, "STARTED recorded", || async {
        let (_, t) = s.get(&format!("/tasks/{}/", b.id)).await;
        t["worker"].is_string().then_some(())
    })
    .await;
    let third_id = third["task_id"].as_str().unwrap().to_string();
    celery.fail(&b.id, "RuntimeError", "boom").await;
    s.wait_status(&b.id, "failed", 5).await;
    let c = celery.take(5.0).await.expect("third dispatched");
    assert_eq!(c.id, third_id);

    // Any replica reports the same numbers: start a second one on the same pool.
    let replica = TestServer::start_with(&s.prefix, &s.queue, &[("MAX_SYNC_WORKERS", "1")]).await;
    let (_, page) = replica.metrics().await;
    promtool_check(&page);
    let (_, here) = s.metrics().await;
    for series in [
        "worker_pool_tasks_finished_total{source=\"hubspot\",status=\"completed\",sync_type=\"all\"}",
        "worker_pool_tasks_finished_total{source=\"five9\",status=\"failed\",sync_type=\"contacts\"}",
        "worker_pool_task_run_seconds_count{source=\"hubspot\",sync_type=\"all\"}",
        "worker_pool_task_wait_seconds_count{source=\"five9\",sync_type=\"contacts\"}",
        "worker_pool_tasks_started_total{source=\"five9\",sync_type=\"contacts\"}",
    ] {
        assert_eq!(value(&page, series), value(&here, series), "{series}");
    }
    assert_eq!(
        must(
            &page,
            "worker_pool_tasks_finished_total{source=\"hubspot\",status=\"completed\",sync_type=\"all\"}"
        ),
        1.0
    );
    assert_eq!(
        must(
            &page,
            "worker_pool_tasks_finished_total{source=\"five9\",status=\"failed\",sync_type=\"contacts\"}"
        ),
        1.0
    );
    assert_eq!(
        must(
            &page,
            "worker_pool_task_run_seconds_count{source=\"hubspot\",sync_type=\"all\"}"
        ),
        1.0
    );
    // The run took at least the 150 ms slept between its STARTED and its result.
    assert!(
        must(
            &page,
            "worker_pool_task_run_seconds_sum{source=\"hubspot\",sync_type=\"all\"}"
        ) >= 0.15
    );
    assert_eq!(
        must(
            &page,
            "worker_pool_task_run_seconds_bucket{source=\"hubspot\",sync_type=\"all\",le=\"+Inf\"}"
        ),
        1.0
    );
    assert_eq!(
        must(
            &page,
            "worker_pool_task_wait_seconds_count{source=\"five9\",sync_type=\"contacts\"}"
        ),
        2.0
    );
    assert_eq!(must(&page, "worker_pool_over_admissions_total"), 0.0);
    // Two slots freed while a task waited (the first's, the second's), each refilled once.
    assert_eq!(must(&page, "worker_pool_slot_refill_seconds_count"), 2.0);
    assert_eq!(
        must(&page, "worker_pool_slot_refill_seconds_bucket{le=\"+Inf\"}"),
        2.0
    );
    assert_eq!(
        must(
            &page,
            "worker_pool_tasks_reclaimed_total{reason=\"no_heartbeat\"}"
        ),
        0.0
    );

    // The over-admission counter counts: the third's dispatch is made to look as if it had
    // been judged against a limit of 1 while another started task still held a slot.
    let mut r = common::redis().await;
    let _: () = redis::cmd("SADD")
        .arg(format!("{}:started", s.prefix))
        .arg("someone-else")
        .query_async(&mut r)
        .await
        .unwrap();
    celery.started(&c.id).await;
    eventually(5, "the over-admission counted", || async {
        let (_, page) = replica.metrics().await;
        (value(&page, "worker_pool_over_admissions_total") == Some(1.0)).then_some(())
    })
    .await;
    celery.succeed(&c.id).await;
    s.wait_status(&c.id, "completed", 5).await;

    replica.stop_keep().await;
    s.stop(&[a.id, b.id, c.id]).await;
}

#[tokio::test]
async fn metrics_say_the_store_is_down_and_nothing_else() {
    // A pool whose Redis does not answer (nothing listens on port 1).
    let store = worker_pool::store::RedisStore::new(
        "redis://127.0.0.1:1/0",
        &common::unique("down"),
        std::time::Duration::from_secs(1),
        true,
    )
    .expect("a client for an address that does not answer");
    let page = worker_pool::metrics::render(&store, &[], std::time::Duration::from_secs(10)).await;
    promtool_check(&page);
    assert_eq!(must(&page, "worker_pool_store_up"), 0.0);
    assert!(value(&page, "worker_pool_max_workers").is_none());
}
