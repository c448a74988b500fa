//! A predictable, fair queue: deduplication, retries, priority aging, time limits and
//! estimated start times, through the scheduler on the real store (the workers' side played by
//! the test, as in `scheduler`).

use crate::scheduler::{done, req, setup, setup_custom};
use app::types::{Dedupe, RetryFilter, TaskParameters, TaskStatus, TaskType};
use std::time::{Duration, Instant};
use worker_pool::celery::protocol::{ResultMeta, ResultState};
use worker_pool::registry::Registry;
use worker_pool::scheduler::PoolError;

fn with(src: &str, typ: &str, tenant: Option<&str>, dedupe: Dedupe) -> app::types::SubmitRequest {
    app::types::SubmitRequest {
        crm_source: src.into(),
        sync_type: typ.into(),
        tenant: tenant.map(str::to_string),
        dedupe,
        ..req(0)
    }
}

fn started(id: &str) -> ResultMeta {
    ResultMeta {
        task_id: id.into(),
        state: ResultState::Started {
            hostname: Some("w1@host".into()),
            pid: Some(4242),
        },
    }
}

fn failed(id: &str) -> ResultMeta {
    ResultMeta {
        task_id: id.into(),
        state: ResultState::Failure {
            error: "SyncError: the CRM refused".into(),
            traceback: None,
        },
    }
}

/// The default registry with time bounds on hubspot.all.
fn bounded(max_runtime: Option<u64>, max_queue_wait: Option<u64>) -> Registry {
    let types: Vec<TaskType> = Registry::default()
        .types()
        .iter()
        .cloned()
        .map(|mut t| {
            if t.crm_source == "hubspot" {
                t.max_runtime = max_runtime;
                t.max_queue_wait = max_queue_wait;
            }
            t
        })
        .collect();
    Registry::from_json(&serde_json::to_string(&types).unwrap()).unwrap()
}

#[tokio::test]
async fn dedupe_returns_the_task_of_the_same_source_type_and_tenant() {
    let t = setup(true, 2).await;
    let a =
        t.s.submit(with("hubspot", "all", None, Dedupe::None))
            .await
            .unwrap();
    let e =
        t.s.submit(with("genius", "all", Some("t1"), Dedupe::None))
            .await
            .unwrap();
    assert_eq!(
        (a.status, e.status),
        (TaskStatus::Running, TaskStatus::Running)
    );
    // Nothing of hubspot.all (no tenant) is queued: `queued` adds one.
    let c =
        t.s.submit(with("hubspot", "all", None, Dedupe::Queued))
            .await
            .unwrap();
    assert_eq!(c.status, TaskStatus::Queued);
    assert!(!c.deduplicated);
    // Now one is: it comes back, and nothing is added.
    let again =
        t.s.submit(with("hubspot", "all", None, Dedupe::Queued))
            .await
            .unwrap();
    assert_eq!(again.task_id, c.task_id);
    assert!(again.deduplicated);
    // Another tenant is another key.
    let d =
        t.s.submit(with("hubspot", "all", Some("t9"), Dedupe::Queued))
            .await
            .unwrap();
    assert_ne!(d.task_id, c.task_id);
    // `active` also finds a running one; `queued` does not.
    let act =
        t.s.submit(with("genius", "all", Some("t1"), Dedupe::Active))
            .await
            .unwrap();
    assert_eq!(
        (act.task_id.as_str(), act.deduplicated),
        (e.task_id.as_str(), true)
    );
    let q =
        t.s.submit(with("genius", "all", Some("t1"), Dedupe::Queued))
            .await
            .unwrap();
    assert!(!q.deduplicated && q.task_id != e.task_id);
    // `replace` gives the queued one the new parameters and priority.
    let mut r = with("hubspot", "all", None, Dedupe::Replace);
    r.priority = 50;
    r.parameters = TaskParameters {
        full: true,
        batch_size: 7,
        dry_run: true,
    };
    let replaced = t.s.submit(r.clone()).await.unwrap();
    assert_eq!(replaced.task_id, c.task_id);
    assert!(replaced.deduplicated);
    assert_eq!((replaced.priority, replaced.parameters), (50, r.parameters));
    assert_eq!(
        replaced.position,
        Some(1),
        "priority 50 moved it to the head"
    );
    let st = t.s.status().await.unwrap();
    assert_eq!(
        st.queued_count, 3,
        "c, d and q: the deduplicated submits added nothing"
    );
    t.done(&[&a.task_id, &e.task_id]).await;
}

#[tokio::test]
async fn racing_dedupe_submits_on_two_replicas_leave_one_task() {
    let t = setup(true, 1).await;
    let blocker = t.s.submit(req(0)).await.unwrap();
    assert_eq!(blocker.status, TaskStatus::Running);
    let other = t.replica();
    let futs = (0..1000).map(|i| {
        let s = if i % 2 == 0 { &t.s } else { &other };
        s.submit(with("arrivy", "all", Some("acme"), Dedupe::Queued))
    });
    let results = futures::future::join_all(futs).await;
    let ids: std::collections::BTreeSet<String> =
        results.into_iter().map(|r| r.unwrap().task_id).collect();
    assert_eq!(ids.len(), 1, "every submit named the same task: {ids:?}");
    assert_eq!(t.s.status().await.unwrap().queued_count, 1);
    t.done(&[&blocker.task_id]).await;
}

#[tokio::test]
async fn a_retry_is_a_new_task_linked_both_ways() {
    let t = setup(true, 1).await;
    let a = t.s.submit(req(7)).await.unwrap();
    t.s.on_result(&failed(&a.task_id)).await.unwrap();
    assert_eq!(
        t.s.task(&a.task_id).await.unwrap().status,
        TaskStatus::Failed
    );
    let b = t.s.retry(&a.task_id).await.unwrap();
    assert_ne!(b.task_id, a.task_id);
    assert_eq!(b.retry_of.as_deref(), Some(a.task_id.as_str()));
    assert_eq!((b.status, b.priority), (TaskStatus::Running, 7));
    assert_eq!(
        t.s.task(&a.task_id).await.unwrap().retried_by.as_deref(),
        Some(b.task_id.as_str())
    );
    // Once only; a running task, or none at all, cannot be retried.
    let twice = t.s.retry(&a.task_id).await.unwrap_err();
    assert!(
        matches!(&twice, PoolError::Conflict(m) if m.contains(&b.task_id)),
        "{twice:?}"
    );
    assert!(matches!(
        t.s.retry(&b.task_id).await.unwrap_err(),
        PoolError::Conflict(_)
    ));
    assert!(matches!(
        t.s.retry("no-such-task").await.unwrap_err(),
        PoolError::NotFound(_)
    ));
    // Bulk: the failed tasks of a filter, not yet retried, up to the limit.
    t.s.on_result(&failed(&b.task_id)).await.unwrap();
    let c =
        t.s.submit(with("arrivy", "all", None, Dedupe::None))
            .await
            .unwrap();
    t.s.on_result(&failed(&c.task_id)).await.unwrap();
    let report =
        t.s.retry_many(&RetryFilter {
            crm_source: Some("hubspot".into()),
            ..RetryFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(report.retried.len(), 1, "{report:?}");
    assert_eq!(
        report.retried[0].retry_of.as_deref(),
        Some(b.task_id.as_str())
    );
    assert_eq!(report.already_retried, vec![a.task_id.clone()]);
    let new = report.retried[0].task_id.clone();
    t.done(&[&a.task_id, &b.task_id, &c.task_id, &new]).await;
}

/// A stream of priority 100 tasks, one submitted and one completed per tick, with a
/// priority -100 task waiting among them; returns when it started (if it did within `run`),
/// and the creation times of the priority 100 tasks that started before it.
async fn starve(aging: Option<Duration>, run: Duration) -> (Option<Duration>, Vec<Duration>) {
    let t = setup_custom(true, 1, |s| s.aging = aging).await;
    t.s.seed_rules(&[]).await.unwrap();
    let t0 = Instant::now();
    let mut created = std::collections::HashMap::new();
    let mut all = Vec::new();
    for _ in 0..5 {
        let x = t.s.submit(req(100)).await.unwrap();
        created.insert(x.task_id.clone(), t0.elapsed());
        all.push(x.task_id);
    }
    let low = t.s.submit(req(-100)).await.unwrap();
    let low_at = t0.elapsed();
    let mut ahead = Vec::new();
    let mut started_after = None;
    while t0.elapsed() < run {
        let x = t.s.submit(req(100)).await.unwrap();
        created.insert(x.task_id.clone(), t0.elapsed());
        all.push(x.task_id);
        let running = t.s.status().await.unwrap().active_tasks;
        if running.iter().any(|r| r.task_id == low.task_id) {
            started_after = Some(t0.elapsed() - low_at);
            break;
        }
        for r in running {
            ahead.push(created[&r.task_id].saturating_sub(low_at));
            t.s.on_result(&done(&r.task_id)).await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    all.push(low.task_id);
    let ids: Vec<&str> = all.iter().map(String::as_str).collect();
    t.done(&ids).await;
    (started_after, ahead)
}

#[tokio::test]
async fn aging_bounds_the_wait_of_a_low_priority_task() {
    // Without aging, the seed's strict order: a steady stream of priority 100 starves it.
    let (strict, _) = starve(None, Duration::from_secs(4)).await;
    assert_eq!(
        strict, None,
        "with aging off the priority -100 task never starts"
    );
    // With 10 ms a point, no task submitted more than (100 - -100) × 10 ms = 2 s after it
    // starts before it (the README's bound), so it does start.
    let (aged, ahead) = starve(Some(Duration::from_millis(10)), Duration::from_secs(8)).await;
    assert!(aged.is_some(), "with aging it starts");
    // (Plus the few ms between the store's clock and the test's.)
    let bound = Duration::from_millis(2050);
    assert!(
        ahead.iter().all(|&c| c <= bound),
        "a task submitted more than {bound:?} after it started first: {ahead:?}"
    );
}

/// The queued task ids, in dispatch order.
async fn order(s: &worker_pool::scheduler::Scheduler) -> Vec<String> {
    s.status()
        .await
        .unwrap()
        .queued_tasks
        .into_iter()
        .map(|q| q.task_id)
        .collect()
}

#[tokio::test]
async fn aging_can_be_switched_and_the_queue_is_ordered_again() {
    let t = setup(true, 1).await;
    let blocker = t.s.submit(req(0)).await.unwrap();
    let low = t.s.submit(req(-50)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let high = t.s.submit(req(50)).await.unwrap();
    assert_eq!(
        order(&t.s).await,
        [high.task_id.clone(), low.task_id.clone()]
    );
    // 1 ms a point: 300 ms of waiting outweigh 100 points.
    assert_eq!(
        t.store()
            .set_aging(Some(Duration::from_millis(1)))
            .await
            .unwrap(),
        Some(2)
    );
    assert_eq!(
        order(&t.s).await,
        [low.task_id.clone(), high.task_id.clone()]
    );
    assert_eq!(
        t.store()
            .set_aging(Some(Duration::from_millis(1)))
            .await
            .unwrap(),
        None,
        "unchanged"
    );
    // Off again: the seed's order, exactly.
    t.store().set_aging(None).await.unwrap();
    assert_eq!(
        order(&t.s).await,
        [high.task_id.clone(), low.task_id.clone()]
    );
    t.done(&[&blocker.task_id]).await;
}

#[tokio::test]
async fn max_queue_wait_ends_a_task_that_waited_too_long_without_running_it() {
    let t = setup_custom(true, 1, |s| s.registry = bounded(None, Some(1))).await;
    let a = t.s.submit(req(0)).await.unwrap();
    let b = t.s.submit(req(0)).await.unwrap();
    let c =
        t.s.submit(with("arrivy", "all", None, Dedupe::None))
            .await
            .unwrap();
    assert!(t.s.expire_queued().await.unwrap().is_empty(), "not yet");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(t.s.expire_queued().await.unwrap(), vec![b.task_id.clone()]);
    let b = t.s.task(&b.task_id).await.unwrap();
    assert_eq!(b.status, TaskStatus::Cancelled);
    assert!(
        b.error.as_deref().unwrap().contains("max_queue_wait"),
        "{b:?}"
    );
    assert_eq!(b.started_at, None, "it never ran");
    assert_eq!(
        t.s.task(&c.task_id).await.unwrap().status,
        TaskStatus::Queued,
        "a type without the bound waits on"
    );
    // The running one was never bounded by its queue wait.
    assert_eq!(
        t.s.task(&a.task_id).await.unwrap().status,
        TaskStatus::Running
    );
    t.done(&[&a.task_id]).await;
}

#[tokio::test]
async fn max_runtime_revokes_and_the_slot_frees_only_when_the_worker_confirms() {
    let t = setup_custom(true, 1, |s| s.registry = bounded(Some(1), None)).await;
    let a = t.s.submit(req(0)).await.unwrap();
    let b = t.s.submit(req(0)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(
        t.s.check_time_limits().await.unwrap().is_empty(),
        "not started on a worker: its run time has not begun"
    );
    t.s.on_result(&started(&a.task_id)).await.unwrap();
    assert!(t.s.check_time_limits().await.unwrap().is_empty());
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        t.s.check_time_limits().await.unwrap(),
        vec![a.task_id.clone()]
    );
    assert_eq!(*t.broker.revoked.lock().unwrap(), vec![a.task_id.clone()]);
    assert!(
        t.s.check_time_limits().await.unwrap().is_empty(),
        "revoked again only after a while"
    );
    // Time alone frees nothing.
    assert_eq!(
        t.s.task(&a.task_id).await.unwrap().status,
        TaskStatus::Running
    );
    assert_eq!(
        t.s.task(&b.task_id).await.unwrap().status,
        TaskStatus::Queued
    );
    // The worker's REVOKED ends it failed, saying why, and the slot goes to b.
    t.s.on_result(&ResultMeta {
        task_id: a.task_id.clone(),
        state: ResultState::Revoked {
            reason: "TaskRevokedError: terminated".into(),
        },
    })
    .await
    .unwrap();
    let a = t.s.task(&a.task_id).await.unwrap();
    assert_eq!(a.status, TaskStatus::Failed);
    assert!(a.error.as_deref().unwrap().contains("max_runtime"), "{a:?}");
    assert_eq!(
        t.s.task(&b.task_id).await.unwrap().status,
        TaskStatus::Running
    );
    t.done(&[&a.task_id, &b.task_id]).await;
}

#[tokio::test]
async fn estimates_come_from_the_run_times_of_the_type() {
    let t = setup(true, 1).await;
    let first = t.s.submit(req(0)).await.unwrap();
    let queued = t.s.submit(req(0)).await.unwrap();
    assert_eq!(
        t.s.task(&queued.task_id).await.unwrap().estimated_start_at,
        None,
        "no run on record yet"
    );
    // Three runs of about 400 ms each.
    let mut ids = vec![first.task_id.clone(), queued.task_id.clone()];
    let mut current = first.task_id.clone();
    for _ in 0..3 {
        t.s.on_result(&started(&current)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(400)).await;
        let next = t.s.submit(req(0)).await.unwrap();
        ids.push(next.task_id.clone());
        t.s.on_result(&done(&current)).await.unwrap();
        current = t.s.status().await.unwrap().active_tasks[0].task_id.clone();
    }
    // One runs (just started on a worker), two wait: about 0.4 s and 0.8 s away. (After
    // the kept forecast has aged out, so this read makes a fresh one.)
    let extra = t.s.submit(req(0)).await.unwrap();
    ids.push(extra.task_id);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    t.s.on_result(&started(&current)).await.unwrap();
    let st = t.s.status().await.unwrap();
    let now = chrono::Utc::now();
    let off = |at: Option<chrono::DateTime<chrono::Utc>>, expect_ms: i64| {
        let at = at.expect("an estimate");
        ((at - now).num_milliseconds() - expect_ms).abs()
    };
    let running = &st.active_tasks[0];
    assert!(off(running.estimated_finish_at, 400) < 250, "{running:?}");
    assert_eq!(st.queued_tasks.len(), 2);
    assert!(
        off(st.queued_tasks[0].estimated_start_at, 400) < 250,
        "{:?}",
        st.queued_tasks[0]
    );
    assert!(
        off(st.queued_tasks[1].estimated_start_at, 800) < 250,
        "{:?}",
        st.queued_tasks[1]
    );
    assert!(off(st.queued_tasks[1].estimated_finish_at, 1200) < 250);
    // A task submitted now is placed at its position at once.
    let late = t.s.submit(req(0)).await.unwrap();
    assert!(off(late.estimated_start_at, 1200) < 300, "{late:?}");
    ids.push(late.task_id);
    // Past the 200 tasks the forecast plays forward: one 0.4 s start per task between.
    for _ in 0..250 {
        ids.push(t.s.submit(req(0)).await.unwrap().task_id);
    }
    let deep = t.s.task(ids.last().unwrap()).await.unwrap();
    assert_eq!(deep.position, Some(253));
    let wait = (deep
        .estimated_start_at
        .expect("an estimate past the window")
        - now)
        .num_milliseconds();
    assert!(
        (95_000..110_000).contains(&wait),
        "about 252 × 0.4 s: {wait} ms"
    );
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    t.done(&ids).await;
}
