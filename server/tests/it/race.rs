//! Several schedulers racing on one Redis: never more running than the limit (nor than a
//! source's or a tenant's), every task run exactly once, whatever the interleaving.

use crate::common;
use crate::fake_celery::FakeCelery;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use worker_pool::celery::RedisBroker;
use worker_pool::scheduler::{Scheduler, Settings};
use worker_pool::store::{RedisStore, RuleChange};

const SCHEDULERS: usize = 6;

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

/// What the simulated workers saw: the most running at once, overall, by source and by
/// (source, tenant), and how many times each task ran.
#[derive(Default)]
struct Seen {
    now: HashMap<String, usize>,
    max: HashMap<String, usize>,
    runs: HashMap<String, usize>,
}

impl Seen {
    fn enter(&mut self, keys: &[String]) {
        for k in keys {
            let n = self.now.entry(k.clone()).or_default();
            *n += 1;
            let m = self.max.entry(k.clone()).or_default();
            *m = (*m).max(*n);
        }
    }

    fn leave(&mut self, keys: &[String]) {
        for k in keys {
            *self.now.get_mut(k).unwrap() -= 1;
        }
    }

    fn max(&self, key: &str) -> usize {
        self.max.get(key).copied().unwrap_or(0)
    }
}

/// Submits `tasks` ((source, type, tenant)) from every scheduler at once, under `limit` and
/// `rules`, and runs them on 8 simulated workers whose results every scheduler hears at
/// once; returns what the workers saw.
async fn race(
    limit: u32,
    rules: &[(&str, RuleChange)],
    tasks: &[(&str, &str, Option<&str>)],
) -> Seen {
    let prefix = common::unique("race");
    let queue = format!("{prefix}:celery");
    let _cleanup = common::Cleanup::new(&prefix);
    let schedulers: Vec<Arc<Scheduler>> = (0..SCHEDULERS)
        .map(|_| scheduler(&prefix, &queue))
        .collect();
    let store = schedulers[0].store();
    store.seed_max_workers(limit).await.unwrap();
    let changes: Vec<(String, RuleChange)> =
        rules.iter().map(|(s, r)| (s.to_string(), *r)).collect();
    store.set_rules(&changes, false).await.unwrap();

    let mut submits = Vec::new();
    for (i, (src, typ, tenant)) in tasks.iter().enumerate() {
        let s = schedulers[i % SCHEDULERS].clone();
        let req = app::types::SubmitRequest {
            crm_source: src.to_string(),
            sync_type: typ.to_string(),
            parameters: Default::default(),
            priority: (i % 7) as i32 - 3,
            tenant: tenant.map(str::to_string),
            ..Default::default()
        };
        submits.push(tokio::spawn(async move { s.submit(req).await.unwrap() }));
    }
    // The keys each task counts under: the pool, its source, its (source, tenant).
    let mut keys: HashMap<String, Vec<String>> = HashMap::new();
    for s in submits {
        let t = s.await.unwrap();
        let mut k = vec!["*".to_string(), t.crm_source.clone()];
        if let Some(tn) = &t.tenant {
            k.push(format!("{}/{tn}", t.crm_source));
        }
        keys.insert(t.task_id, k);
    }
    let keys = Arc::new(keys);

    let celery = Arc::new(FakeCelery::new(&queue));
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let mut workers = Vec::new();
    for w in 0..8u64 {
        let (celery, seen, schedulers, keys) = (
            celery.clone(),
            seen.clone(),
            schedulers.clone(),
            keys.clone(),
        );
        workers.push(tokio::spawn(async move {
            while let Some(taken) = celery.take(1.0).await {
                let k = keys[&taken.id].clone();
                {
                    let mut s = seen.lock().unwrap();
                    s.enter(&k);
                    *s.runs.entry(taken.id.clone()).or_default() += 1;
                }
                tokio::time::sleep(Duration::from_millis(2 + (w * 3) % 7)).await;
                seen.lock().unwrap().leave(&k);
                // Hand the result to every scheduler concurrently: the race the fencing and
                // the rules must settle.
                let meta = worker_pool::celery::protocol::ResultMeta {
                    task_id: taken.id.clone(),
                    state: worker_pool::celery::protocol::ResultState::Success,
                };
                let mut all = Vec::new();
                for s in &schedulers {
                    let (s, meta) = (s.clone(), meta.clone());
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
    common::eventually(90, "every task to finish", || async {
        let s = store.snapshot(0, &[]).await.unwrap();
        let done = seen.lock().unwrap().runs.len() == tasks.len();
        (s.running.is_empty() && s.queued_count == 0 && done).then_some(())
    })
    .await;
    for w in workers {
        w.await.unwrap();
    }
    let done = store
        .history(Some(app::types::TaskStatus::Completed), 10_000)
        .await
        .unwrap();
    assert_eq!(done.len(), tasks.len());
    let seen = Arc::try_unwrap(seen).ok().unwrap().into_inner().unwrap();
    assert_eq!(
        seen.runs.keys().cloned().collect::<HashSet<_>>(),
        keys.keys().cloned().collect::<HashSet<_>>()
    );
    assert!(seen.runs.values().all(|n| *n == 1), "a task ran twice");
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_schedulers_never_over_admit() {
    let tasks = vec![("hubspot", "all", None); 120];
    let seen = race(3, &[], &tasks).await;
    let max = seen.max("*");
    assert!(max <= 3, "{max} ran at once with a limit of 3");
    assert!(max >= 2, "the test exercised concurrency ({max})");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_schedulers_never_exceed_a_source_or_a_tenant_limit() {
    let mut tasks = Vec::new();
    for i in 0..30 {
        tasks.push(("five9", "contacts", None));
        tasks.push((
            "hubspot",
            "all",
            Some(if i % 2 == 0 { "acme" } else { "bolt" }),
        ));
        tasks.push(("genius", "all", None));
    }
    let rules = [
        ("five9", RuleChange::Limit(Some(1))),
        ("hubspot", RuleChange::TenantLimit(Some(1))),
    ];
    let seen = race(4, &rules, &tasks).await;
    assert!(seen.max("*") <= 4, "{} at once, limit 4", seen.max("*"));
    assert_eq!(seen.max("five9"), 1, "five9's limit of 1");
    assert_eq!(seen.max("hubspot/acme"), 1, "one per tenant");
    assert_eq!(seen.max("hubspot/bolt"), 1, "one per tenant");
    assert!(
        seen.max("genius") >= 2,
        "the others used the room ({})",
        seen.max("genius")
    );
}
