//! Several schedulers racing on one Redis: never more running than the limit, every task run
//! exactly once, whatever the interleaving.

use crate::common;
use crate::fake_celery::FakeCelery;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use worker_pool::celery::RedisBroker;
use worker_pool::scheduler::{Scheduler, Settings};
use worker_pool::store::RedisStore;

const SCHEDULERS: usize = 6;
const TASKS: usize = 120;
const LIMIT: u32 = 3;

fn scheduler(prefix: &str, queue: &str) -> Arc<Scheduler> {
    let url = common::redis_url();
    let store = RedisStore::new(&url, prefix, Duration::from_secs(5), true).unwrap();
    let broker = RedisBroker::new(&url, &url, Duration::from_secs(5)).unwrap();
    let s = Scheduler::new(
        Arc::new(store),
        Arc::new(broker),
        Settings {
            retention: Duration::from_secs(600),
            origin: "race@test".into(),
            status_queue_limit: 10,
            ..Settings::new(queue, true)
        },
    );
    s.set_results_subscribed(true);
    Arc::new(s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_schedulers_never_over_admit() {
    let prefix = common::unique("race");
    let queue = format!("{prefix}:celery");
    let _cleanup = common::Cleanup::new(&prefix);
    let schedulers: Vec<Arc<Scheduler>> = (0..SCHEDULERS)
        .map(|_| scheduler(&prefix, &queue))
        .collect();
    schedulers[0].store().seed_max_workers(LIMIT).await.unwrap();

    // Submit from every scheduler at once.
    let mut submits = Vec::new();
    for i in 0..TASKS {
        let s = schedulers[i % SCHEDULERS].clone();
        submits.push(tokio::spawn(async move {
            s.submit(app::types::SubmitRequest {
                crm_source: "hubspot".into(),
                sync_type: "all".into(),
                parameters: Default::default(),
                priority: (i % 7) as i32 - 3,
            })
            .await
            .unwrap()
            .task_id
        }));
    }
    let mut accepted = HashSet::new();
    for s in submits {
        accepted.insert(s.await.unwrap());
    }

    // A simulated worker fleet: takes messages, holds each for a moment, reports success, and
    // every scheduler hears every result (as every replica does through pub/sub).
    let celery = Arc::new(FakeCelery::new(&queue));
    let holding = Arc::new(AtomicUsize::new(0));
    let max_seen = Arc::new(AtomicUsize::new(0));
    let runs: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let mut workers = Vec::new();
    for w in 0..8 {
        let (celery, holding, max_seen, runs, schedulers) = (
            celery.clone(),
            holding.clone(),
            max_seen.clone(),
            runs.clone(),
            schedulers.clone(),
        );
        workers.push(tokio::spawn(async move {
            while let Some(taken) = celery.take(1.0).await {
                let now = holding.fetch_add(1, Ordering::SeqCst) + 1;
                max_seen.fetch_max(now, Ordering::SeqCst);
                *runs.lock().unwrap().entry(taken.id.clone()).or_default() += 1;
                tokio::time::sleep(Duration::from_millis(2 + (w as u64 * 3) % 7)).await;
                holding.fetch_sub(1, Ordering::SeqCst);
                // Publish nothing: hand the result to every scheduler concurrently, the race
                // the fencing must settle.
                let meta = worker_pool::celery::protocol::ResultMeta {
                    task_id: taken.id.clone(),
                    state: worker_pool::celery::protocol::ResultState::Success,
                };
                let mut all = Vec::new();
                for s in &schedulers {
                    let s = s.clone();
                    let meta = meta.clone();
                    all.push(tokio::spawn(
                        async move { s.on_result(&meta).await.unwrap() },
                    ));
                }
                let mut finished = 0;
                for a in all {
                    finished += a.await.unwrap() as usize;
                }
                assert_eq!(finished, 1, "exactly one scheduler ends a task");
            }
        }));
    }

    common::eventually(60, "every task to finish", || async {
        let s = schedulers[0].store().snapshot(0).await.unwrap();
        (s.running.is_empty() && s.queued_count == 0 && runs.lock().unwrap().len() == TASKS)
            .then_some(())
    })
    .await;
    for w in workers {
        w.await.unwrap();
    }
    let max = max_seen.load(Ordering::SeqCst);
    assert!(
        max <= LIMIT as usize,
        "{max} ran at once with a limit of {LIMIT}"
    );
    assert!(max >= 2, "the test exercised concurrency ({max})");
    {
        let runs = runs.lock().unwrap();
        assert_eq!(runs.keys().cloned().collect::<HashSet<_>>(), accepted);
        assert!(runs.values().all(|n| *n == 1), "a task ran twice");
    }
    let done = schedulers[0]
        .store()
        .history(Some(app::types::TaskStatus::Completed), 1000)
        .await
        .unwrap();
    assert_eq!(done.len(), TASKS);
}
