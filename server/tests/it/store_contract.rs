//! The store contract: the Lua scripts on a real Redis, under a fresh prefix, in both broker
//! modes: inline (Celery's broker is the store's own database, and the scripts push, withdraw
//! and drop kombu's bookkeeping themselves) and two-phase (the broker is elsewhere; the
//! fixture publishes as the scheduler would). `cluster.rs` runs the two-phase half again on a
//! real Redis Cluster ([`on_cluster`]).

use crate::common;
use app::types::BlockedBy;
use app::types::{TaskParameters, TaskStatus};
use std::sync::Arc;
use std::time::Duration;
use worker_pool::store::{
    CancelOutcome, Cooldown, DispatchStop, Finish, NewTask, OnWorkerLost, Prepared, ReapPolicy,
    RedisStore, ReprioritizeOutcome, Resend, ResendOutcome, RuleChange, StartedOutcome, Store,
    Submitted,
};

const RETAIN: Duration = Duration::from_secs(3600);

/// A store under a fresh prefix, and the broker list dispatches go to.
struct Fixture {
    store: Arc<dyn Store>,
    list: String,
    /// Celery's broker is the store's own database.
    inline: bool,
    /// Where the store's keys are, for the tests that read or write them directly.
    raw: worker_pool::connection::Redis,
    /// What the store's key names start with (`<prefix>:`, or `{<prefix>}:` on a cluster).
    base: String,
    _cleanup: common::Cleanup,
}

impl Fixture {
    async fn new(inline: bool) -> Self {
        let prefix = common::unique("store");
        // Fail loudly (not skip) when Redis is missing.
        let _ = common::redis().await;
        let store = RedisStore::new(
            &common::redis_url(),
            &prefix,
            Duration::from_secs(5),
            inline,
        )
        .unwrap();
        Fixture {
            base: store.keys().base.clone(),
            store: Arc::new(store),
            list: format!("{prefix}:broker"),
            inline,
            raw: worker_pool::connection::Redis::open(&common::redis_url(), Duration::from_secs(5))
                .unwrap(),
            _cleanup: common::Cleanup::new(&prefix),
        }
    }

    /// A two-phase store on the Redis Cluster at `url` (its broker list on the shared Redis,
    /// as Celery's broker would be: kombu cannot use a cluster). The cluster is the test's
    /// own and thrown away, so only the list is cleaned up.
    async fn cluster(url: &str) -> Self {
        let prefix = common::unique("store");
        let store = RedisStore::new(url, &prefix, Duration::from_secs(5), false).unwrap();
        let base = store.keys().base.clone();
        assert_eq!(base, format!("{{{prefix}}}:"), "one hash tag per pool");
        Fixture {
            base,
            store: Arc::new(store),
            list: format!("{prefix}:broker"),
            inline: false,
            raw: worker_pool::connection::Redis::open(url, Duration::from_secs(5)).unwrap(),
            _cleanup: common::Cleanup::new(&format!("{prefix}:broker")),
        }
    }

    async fn done(self) {
        // Dropping the fixture runs its cleanup (off the async runtime's threads).
        tokio::task::spawn_blocking(move || drop(self))
            .await
            .unwrap();
    }

    async fn submit(&self, id: &str, priority: i32) {
        self.submit_as(id, "hubspot", None, priority).await;
    }

    /// Queues a task of `source` (and `tenant`).
    async fn submit_as(&self, id: &str, source: &str, tenant: Option<&str>, priority: i32) {
        self.submit_typed(id, source, "all", tenant, priority).await;
    }

    /// Queues a task of `source`'s `sync_type` (and `tenant`).
    async fn submit_typed(
        &self,
        id: &str,
        source: &str,
        sync_type: &str,
        tenant: Option<&str>,
        priority: i32,
    ) {
        let outcome = self
            .store
            .submit(
                &NewTask {
                    id: id.into(),
                    crm_source: source.into(),
                    sync_type: sync_type.into(),
                    task_name: format!("{source}.{sync_type}"),
                    parameters: TaskParameters::default(),
                    priority,
                    tenant: tenant.map(str::to_string),
                    ..Default::default()
                },
                None,
            )
            .await
            .unwrap();
        assert!(
            matches!(outcome, Submitted::Queued { .. }),
            "submit {id}: {outcome:?}"
        );
    }

    fn prepared(&self, id: &str) -> Prepared {
        Prepared {
            id: id.into(),
            celery_id: id.into(),
            message: format!("message-of-{id}"),
            list: self.list.clone(),
            delivery_tag: format!("tag-of-{id}"),
        }
    }

    /// Peeks and dispatches what fits; returns the ids dispatched. Two-phase, it then
    /// publishes and confirms each message, as the scheduler does.
    async fn fill(&self) -> Vec<String> {
        let peek = self.store.peek(64).await.unwrap();
        let batch: Vec<Prepared> = peek.head.iter().map(|c| self.prepared(&c.id)).collect();
        let (done, _) = self.store.dispatch(&batch).await.unwrap();
        if !self.inline {
            for d in &done {
                let p = batch.iter().find(|p| p.id == d.id).unwrap();
                self.publish(&p.message).await;
                assert!(self.store.confirm_published(&d.id, d.token).await.unwrap());
            }
        }
        done.into_iter().map(|d| d.id).collect()
    }

    /// Pushes a message to the broker list, as the scheduler does in two-phase mode.
    async fn publish(&self, message: &str) {
        let mut c = common::redis().await;
        let _: i64 = redis::cmd("LPUSH")
            .arg(&self.list)
            .arg(message)
            .query_async(&mut c)
            .await
            .unwrap();
    }

    /// The broker list, oldest first.
    async fn listed(&self) -> Vec<String> {
        crate::fake_celery::FakeCelery::new(&self.list)
            .pending()
            .await
    }

    async fn finish(&self, id: &str, status: TaskStatus) -> bool {
        self.store
            .finish(
                &Finish {
                    id: id.into(),
                    celery_id: Some(id.into()),
                    token: None,
                    status,
                    error: None,
                },
                RETAIN,
                &[],
                0,
            )
            .await
            .unwrap()
            .ended()
    }

    async fn status(&self, id: &str) -> Option<TaskStatus> {
        self.store.get(id).await.unwrap().map(|t| t.status)
    }

    async fn running(&self) -> Vec<String> {
        self.store
            .snapshot(0, &[])
            .await
            .unwrap()
            .running
            .into_iter()
            .map(|t| t.task_id)
            .collect()
    }
}

macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod inline {
            $(#[tokio::test] async fn $name() { let f = super::Fixture::new(true).await; super::$name(&f).await; f.done().await; })*
        }
        mod two_phase {
            $(#[tokio::test] async fn $name() { let f = super::Fixture::new(false).await; super::$name(&f).await; f.done().await; })*
        }
        /// The two-phase contract on the Redis Cluster at `url`, one test after the other,
        /// each under a prefix of its own.
        pub(crate) async fn on_cluster(url: &str) {
            $(
                eprintln!("store contract on a Redis Cluster: {}", stringify!($name));
                let f = Fixture::cluster(url).await;
                $name(&f).await;
                f.done().await;
            )*
        }
    };
}

contract!(
    seeding_keeps_the_runtime_value,
    priority_then_arrival_order,
    dispatch_never_exceeds_the_limit,
    dispatch_stops_when_the_queue_moved,
    finish_is_fenced_and_happens_once,
    lowering_the_limit_drains,
    cancel_queued_and_terminal,
    cancel_running_withdraws_or_asks_for_revoke,
    reprioritize_reorders,
    started_is_recorded_once_for_the_current_dispatch,
    history_newest_first_with_filter,
    finished_tasks_expire_after_retention,
    only_an_inline_dispatch_pushes_the_message,
    a_lost_message_is_sent_again_once_it_has_looked_lost_long_enough,
    a_source_limit_holds_its_source_and_never_the_others,
    a_tenant_limit_counts_per_source_and_tenant,
    a_rate_budget_limits_starts_per_window,
    cool_downs_and_pauses_hold_what_they_name,
    a_blocked_group_is_parked_and_woken,
    rules_are_seeded_once_and_read_back,
    automatic_cool_downs_double_until_a_success,
    a_cancelled_lost_message_ends_cancelled,
    the_roster_is_the_workers_heard_from_lately,
    live_workers_keep_their_tasks_however_long,
    offline_silent_or_restarted_workers_lose_their_tasks,
    a_warm_shutdown_keeps_its_tasks_until_their_results,
    requeued_tasks_run_again_under_a_new_celery_id,
    submit_dispatches_at_once_only_when_it_is_next_and_a_slot_is_free,
    a_completion_refills_its_slot_in_the_same_step,
    a_tenant_limit_holds_every_type_of_the_tenant,
    run_times_and_rate_starts_are_kept_for_the_estimates,
    queues_grouped_by_source_and_tenant_are_filed_by_type,
    the_journal_notes_parkings_retries_and_a_failures_traceback,
    a_queued_task_a_worker_runs_is_adopted_never_dispatched_again,
);

/// After a failover that lost a dispatch's writes, the store has a task queued that a worker
/// runs: adopting it makes the store agree with the worker, past the limit if need be.
async fn a_queued_task_a_worker_runs_is_adopted_never_dispatched_again(f: &Fixture) {
    f.store.seed_max_workers(1).await.unwrap();
    f.submit("run", 0).await;
    assert_eq!(f.fill().await, ["run"]);
    f.submit("held", 0).await;
    f.submit("next", 0).await;
    assert!(f.store.adopt("held", "held", "w1@host").await.unwrap());
    let t = f.store.get("held").await.unwrap().unwrap();
    assert_eq!(
        (t.status, t.worker.as_deref(), t.worker_started_at.is_some()),
        (TaskStatus::Running, Some("w1@host"), true)
    );
    let mut running = f.running().await;
    running.sort();
    assert_eq!(running, ["held", "run"], "it runs, so it holds a slot");
    assert_eq!(f.store.snapshot(10, &[]).await.unwrap().queued_count, 1);
    // Over the limit, the pool drains: "run" ending frees no room for "next".
    assert!(f.finish("run", TaskStatus::Completed).await);
    assert!(f.fill().await.is_empty());
    // The worker's run ends it (fenced by the Celery id it runs under); then "next" starts.
    assert!(f.finish("held", TaskStatus::Completed).await);
    assert_eq!(f.status("held").await, Some(TaskStatus::Completed));
    assert_eq!(f.fill().await, ["next"]);
    // Nothing to adopt: a running or ended task, an unknown one.
    for id in ["next", "held", "missing"] {
        assert!(!f.store.adopt(id, id, "w1@host").await.unwrap(), "{id}");
    }
}

async fn the_journal_notes_parkings_retries_and_a_failures_traceback(f: &Fixture) {
    use worker_pool::store::{NoteKind, TaskNote};
    f.store.seed_max_workers(4).await.unwrap();
    limit(f, "hubspot", RuleChange::Limit(Some(1))).await;
    f.submit_typed("a", "hubspot", "all", None, 0).await;
    assert_eq!(f.fill().await, ["a"]);
    f.submit_typed("b", "hubspot", "all", None, 0).await;
    f.submit_typed("c", "hubspot", "all", None, 0).await;
    // A dispatch that offers b finds its group blocked and parks it, b first in line.
    let (done, _) = f.store.dispatch(&[f.prepared("b")]).await.unwrap();
    assert!(done.is_empty());
    let kinds = |j: &worker_pool::store::Journal| {
        j.notes
            .iter()
            .map(|n| (n.kind, n.detail.clone()))
            .collect::<Vec<_>>()
    };
    // The first in line of the parked group is told why, once (another offer adds nothing);
    // the tasks behind it cost nothing.
    f.store.dispatch(&[f.prepared("b")]).await.unwrap();
    assert_eq!(
        kinds(&f.store.journal("b").await.unwrap()),
        [(NoteKind::Waiting, "source_limit".to_string())]
    );
    assert!(f.store.journal("c").await.unwrap().notes.is_empty());

    // Celery's retries of a's current dispatch: once per run, none for another dispatch.
    let retry = TaskNote::Retry("RuntimeError: try again".into());
    assert!(
        !f.store.note("a", "a~9", &retry).await.unwrap(),
        "another dispatch"
    );
    assert!(f.store.note("a", "a", &retry).await.unwrap());
    assert!(
        !f.store.note("a", "a", &retry).await.unwrap(),
        "the same RETRY read again"
    );
    // Its next run starts: the RETRY after it is a new one.
    f.store
        .mark_started("a", "a", Some("w@h"), None)
        .await
        .unwrap();
    assert!(
        f.store.note("a", "a", &retry).await.unwrap(),
        "the next run's retry"
    );
    assert!(!f.store.note("a", "a", &retry).await.unwrap());
    let tb = TaskNote::Traceback("Traceback (most recent call last):\nValueError: boom".into());
    assert!(
        !f.store.note("a", "a", &tb).await.unwrap(),
        "not failed yet"
    );
    let failed = Finish {
        id: "a".into(),
        celery_id: Some("a".into()),
        token: None,
        status: TaskStatus::Failed,
        error: Some("ValueError: boom".into()),
    };
    assert!(f
        .store
        .finish(&failed, RETAIN, &[], 0)
        .await
        .unwrap()
        .ended());
    assert!(f.store.note("a", "a", &tb).await.unwrap());
    assert!(!f.store.note("a", "a", &retry).await.unwrap(), "it ended");
    let j = f.store.journal("a").await.unwrap();
    assert_eq!(
        j.notes.iter().filter(|n| n.kind == NoteKind::Retry).count(),
        2
    );
    assert!(j.traceback.unwrap().ends_with("ValueError: boom"));
    assert_eq!(f.store.journal("nope").await.unwrap(), Default::default());
}

async fn a_tenant_limit_holds_every_type_of_the_tenant(f: &Fixture) {
    f.store.seed_max_workers(8).await.unwrap();
    limit(f, "hubspot", RuleChange::TenantLimit(Some(1))).await;
    f.submit_typed("a1", "hubspot", "all", Some("acme"), 0)
        .await;
    f.submit_typed("a2", "hubspot", "contacts", Some("acme"), 0)
        .await;
    f.submit_typed("b1", "hubspot", "contacts", Some("bolt"), 0)
        .await;
    let mut started = f.fill().await;
    started.sort();
    assert_eq!(started, ["a1", "b1"]);
    assert_eq!(why(f, "a2").await, Some(BlockedBy::TenantLimit));
    end(f, "b1").await;
    assert!(f.fill().await.is_empty(), "bolt's slot does not help acme");
    end(f, "a1").await;
    assert_eq!(f.fill().await, ["a2"], "acme's other type was woken");
}

async fn run_times_and_rate_starts_are_kept_for_the_estimates(f: &Fixture) {
    f.store.seed_max_workers(4).await.unwrap();
    let rate = app::types::Rate {
        starts: 5,
        per_seconds: 60,
    };
    limit(f, "arrivy", RuleChange::Rate(Some(rate))).await;
    f.submit_as("r1", "arrivy", None, 0).await;
    f.submit_as("r2", "arrivy", None, 0).await;
    let before = chrono::Utc::now().timestamp_millis();
    assert_eq!(f.fill().await, ["r1", "r2"]);
    let snap = f.store.snapshot(0, &["arrivy".into()]).await.unwrap();
    assert!((snap.now_ms - before).abs() < 1000, "the store's clock");
    let starts = &snap.rate_starts["arrivy"];
    assert_eq!(starts.len(), 2);
    assert!(
        starts.iter().all(|&t| (t - before).abs() < 1000),
        "{starts:?}"
    );
    // Only a run a worker started has a run time; a cancel is not one.
    assert_eq!(
        f.store
            .mark_started("r1", "r1", Some("w@h"), Some(1))
            .await
            .unwrap(),
        StartedOutcome::Recorded
    );
    tokio::time::sleep(Duration::from_millis(120)).await;
    assert!(f.finish("r1", TaskStatus::Completed).await);
    assert!(f.finish("r2", TaskStatus::Completed).await);
    let key = ("arrivy".to_string(), "all".to_string());
    let runs = f.store.durations(std::slice::from_ref(&key)).await.unwrap();
    assert_eq!(runs[&key].len(), 1, "{runs:?}");
    assert!((100..1000).contains(&runs[&key][0]), "{runs:?}");
    let none = ("five9".to_string(), "contacts".to_string());
    assert!(f
        .store
        .durations(std::slice::from_ref(&none))
        .await
        .unwrap()[&none]
        .is_empty());
}

/// A store written by the version that grouped queues by (source, tenant): its group keys
/// and `groups` marker, rebuilt by hand from the current layout.
async fn queues_grouped_by_source_and_tenant_are_filed_by_type(f: &Fixture) {
    f.store.seed_max_workers(1).await.unwrap();
    f.submit_typed("blocker", "five9", "contacts", None, 0)
        .await;
    assert_eq!(f.fill().await, ["blocker"]);
    f.submit_typed("c1", "hubspot", "contacts", Some("acme"), 0)
        .await;
    f.submit_typed("a1", "hubspot", "all", Some("acme"), 5)
        .await;
    let base = f.base.clone();
    let new_groups: Vec<String> = f
        .raw
        .query(redis::cmd("SMEMBERS").arg(format!("{base}groups:hubspot")))
        .await
        .unwrap();
    assert_eq!(new_groups.len(), 2, "one queue per type: {new_groups:?}");
    let old = "hubspotacme";
    let mut pipe = redis::pipe();
    for g in &new_groups {
        pipe.cmd("DEL").arg(format!("{base}q:{g}"));
        pipe.cmd("ZREM").arg(format!("{base}ready")).arg(g);
        pipe.cmd("SREM").arg(format!("{base}groups:hubspot")).arg(g);
    }
    let queue: Vec<(String, f64)> = f
        .raw
        .query(
            redis::cmd("ZRANGE")
                .arg(format!("{base}queue"))
                .arg(0)
                .arg(-1)
                .arg("WITHSCORES"),
        )
        .await
        .unwrap();
    for (id, score) in &queue {
        pipe.cmd("ZADD")
            .arg(format!("{base}q:{old}"))
            .arg(*score)
            .arg(id);
    }
    pipe.cmd("SADD")
        .arg(format!("{base}groups:hubspot"))
        .arg(old);
    pipe.cmd("ZADD")
        .arg(format!("{base}ready"))
        .arg(queue[0].1)
        .arg(old);
    pipe.cmd("HSET")
        .arg(format!("{base}config"))
        .arg("groups")
        .arg("1");
    let _: () = f.raw.pipe(&pipe).await.unwrap();

    assert_eq!(f.store.migrate().await.unwrap(), 2);
    assert_eq!(f.store.migrate().await.unwrap(), 0, "once");
    let gone: i64 = f
        .raw
        .query(redis::cmd("EXISTS").arg(format!("{base}q:{old}")))
        .await
        .unwrap();
    assert_eq!(gone, 0, "the old group's queue is gone");
    end(f, "blocker").await;
    assert_eq!(f.fill().await, ["a1"], "the order survived");
    end(f, "a1").await;
    assert_eq!(f.fill().await, ["c1"]);
}

async fn a_completion_refills_its_slot_in_the_same_step(f: &Fixture) {
    f.store.seed_max_workers(1).await.unwrap();
    for id in ["run", "next", "after", "last"] {
        f.submit(id, 0).await;
    }
    f.fill().await;
    let end = |id: &str| Finish {
        id: id.into(),
        celery_id: Some(id.into()),
        token: None,
        status: TaskStatus::Completed,
        error: None,
    };
    // The caller offers the head as it last saw it: "next" takes the slot at once.
    let r = f
        .store
        .finish(
            &end("run"),
            RETAIN,
            &[f.prepared("next"), f.prepared("after")],
            2,
        )
        .await
        .unwrap();
    assert_eq!(
        r.finished,
        worker_pool::store::Finished::Ended { backlog: false }
    );
    assert_eq!(
        r.dispatched
            .iter()
            .map(|d| d.id.as_str())
            .collect::<Vec<_>>(),
        ["next"]
    );
    assert_eq!(r.stop, DispatchStop::Full, "one slot: one refill");
    let head: Vec<_> = r.head.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(head, ["after", "last"], "the new head, for the next refill");
    assert_eq!(r.head[0].task_name, "hubspot.all");
    assert_eq!(f.running().await, ["next"]);
    // A stale offer (the head moved) refills nothing, and says a pass is due.
    f.submit("urgent", 50).await;
    let r = f
        .store
        .finish(&end("next"), RETAIN, &[f.prepared("after")], 0)
        .await
        .unwrap();
    assert_eq!(r.stop, DispatchStop::Moved);
    assert!(r.dispatched.is_empty());
    assert_eq!(
        r.finished,
        worker_pool::store::Finished::Ended { backlog: true }
    );
    assert_eq!(f.fill().await, ["urgent"]);
    // Repeated evidence refills nothing either.
    let r = f
        .store
        .finish(&end("next"), RETAIN, &[f.prepared("after")], 2)
        .await
        .unwrap();
    assert!(!r.ended() && r.dispatched.is_empty() && r.head.is_empty());
}

async fn submit_dispatches_at_once_only_when_it_is_next_and_a_slot_is_free(f: &Fixture) {
    f.store.seed_max_workers(1).await.unwrap();
    let task = |id: &str, priority: i32| NewTask {
        id: id.into(),
        crm_source: "hubspot".into(),
        sync_type: "all".into(),
        task_name: "hubspot.all".into(),
        parameters: TaskParameters::default(),
        priority,
        tenant: None,
        ..Default::default()
    };
    let first = f
        .store
        .submit(&task("first", 0), Some(&f.prepared("first")))
        .await
        .unwrap();
    assert!(matches!(first, Submitted::Running { .. }), "{first:?}");
    assert_eq!(f.running().await, ["first"]);
    let second = f
        .store
        .submit(&task("second", 9), Some(&f.prepared("second")))
        .await
        .unwrap();
    assert!(
        matches!(
            second,
            Submitted::Queued {
                position: 1,
                free: 0,
                blocked_by: Some(app::types::BlockedBy::GlobalLimit),
                ..
            }
        ),
        "{second:?}"
    );
    // A free slot, but a task waits ahead: the newcomer does not jump the queue.
    f.store.set_max_workers(2).await.unwrap();
    let third = f
        .store
        .submit(&task("third", 0), Some(&f.prepared("third")))
        .await
        .unwrap();
    assert!(
        matches!(
            third,
            Submitted::Queued {
                position: 2,
                free: 1,
                ..
            }
        ),
        "{third:?}"
    );
    assert_eq!(f.fill().await, ["second"]);
    // A more urgent newcomer is the next task that may start: it starts at once, ahead of
    // the queue.
    f.submit("blocker", 0).await;
    f.store.set_max_workers(3).await.unwrap();
    let urgent = f
        .store
        .submit(&task("urgent", 99), Some(&f.prepared("urgent")))
        .await
        .unwrap();
    assert!(matches!(urgent, Submitted::Running { .. }), "{urgent:?}");
    assert_eq!(f.status("blocker").await, Some(TaskStatus::Queued));
    assert!(f.fill().await.is_empty(), "the limit of 3 is reached");
    let dup = f.store.submit(&task("first", 0), None).await.unwrap();
    assert_eq!(dup, Submitted::Duplicate);
}

async fn seeding_keeps_the_runtime_value(f: &Fixture) {
    assert_eq!(f.store.seed_max_workers(3).await.unwrap(), 3);
    assert_eq!(
        f.store.seed_max_workers(5).await.unwrap(),
        3,
        "a restart keeps the runtime value"
    );
    assert_eq!(f.store.set_max_workers(2).await.unwrap(), Some(3));
    assert_eq!(f.store.seed_max_workers(7).await.unwrap(), 2);
    assert_eq!(f.store.snapshot(0, &[]).await.unwrap().max_workers, 2);
}

async fn priority_then_arrival_order(f: &Fixture) {
    f.store.seed_max_workers(1).await.unwrap();
    f.submit("low", -5).await;
    f.submit("a", 10).await;
    f.submit("b", 10).await;
    f.submit("zero", 0).await;
    f.submit("top", 100).await;
    let s = f.store.snapshot(10, &[]).await.unwrap();
    let order: Vec<_> = s.queued.iter().map(|t| t.task_id.as_str()).collect();
    assert_eq!(order, ["top", "a", "b", "zero", "low"]);
    let positions: Vec<_> = s.queued.iter().map(|t| t.position).collect();
    assert_eq!(positions, [Some(1), Some(2), Some(3), Some(4), Some(5)]);
    assert_eq!(s.queued_count, 5);
    assert_eq!(
        f.store.get("zero").await.unwrap().unwrap().position,
        Some(4)
    );
    // Only the head is dispatched with one slot.
    assert_eq!(f.fill().await, ["top"]);
    assert_eq!(f.store.get("top").await.unwrap().unwrap().position, None);
    assert_eq!(f.store.get("a").await.unwrap().unwrap().position, Some(1));
}

async fn dispatch_never_exceeds_the_limit(f: &Fixture) {
    f.store.seed_max_workers(2).await.unwrap();
    for i in 0..5 {
        f.submit(&format!("t{i}"), 0).await;
    }
    // Offer all five at once: only two fit.
    let batch: Vec<Prepared> = (0..5).map(|i| f.prepared(&format!("t{i}"))).collect();
    let (done, stop) = f.store.dispatch(&batch).await.unwrap();
    assert_eq!(done.len(), 2);
    assert_eq!(stop, DispatchStop::Full);
    assert!(done[0].token < done[1].token, "tokens increase");
    assert_eq!(f.store.peek(64).await.unwrap().free, 0);
    assert!(f.fill().await.is_empty());
    assert_eq!(f.running().await, ["t0", "t1"]);
}

async fn dispatch_stops_when_the_queue_moved(f: &Fixture) {
    f.store.seed_max_workers(3).await.unwrap();
    f.submit("first", 0).await;
    let peek = f.store.peek(64).await.unwrap();
    assert_eq!(peek.free, 3);
    assert_eq!(peek.head.len(), 1);
    // A more urgent task arrives between the peek and the dispatch.
    f.submit("urgent", 50).await;
    let (done, stop) = f.store.dispatch(&[f.prepared("first")]).await.unwrap();
    assert!(done.is_empty());
    assert_eq!(stop, DispatchStop::Moved);
    assert_eq!(f.fill().await, ["urgent", "first"]);
}

async fn finish_is_fenced_and_happens_once(f: &Fixture) {
    f.store.seed_max_workers(1).await.unwrap();
    f.submit("x", 0).await;
    f.fill().await;
    let token = f.store.snapshot(0, &[]).await.unwrap().running_entries[0].token;
    let wrong_cid = Finish {
        id: "x".into(),
        celery_id: Some("x-old-dispatch".into()),
        token: None,
        status: TaskStatus::Completed,
        error: None,
    };
    assert!(!f
        .store
        .finish(&wrong_cid, RETAIN, &[], 0)
        .await
        .unwrap()
        .ended());
    let wrong_token = Finish {
        celery_id: None,
        token: Some(token + 1000),
        ..wrong_cid.clone()
    };
    assert!(!f
        .store
        .finish(&wrong_token, RETAIN, &[], 0)
        .await
        .unwrap()
        .ended());
    assert_eq!(f.running().await, ["x"]);
    let right = Finish {
        celery_id: Some("x".into()),
        token: Some(token),
        status: TaskStatus::Failed,
        error: Some("ValueError: boom".into()),
        ..wrong_cid
    };
    assert!(f
        .store
        .finish(&right, RETAIN, &[], 0)
        .await
        .unwrap()
        .ended());
    assert!(
        !f.store
            .finish(&right, RETAIN, &[], 0)
            .await
            .unwrap()
            .ended(),
        "a repeated completion changes nothing"
    );
    assert!(!f.finish("x", TaskStatus::Completed).await);
    let t = f.store.get("x").await.unwrap().unwrap();
    assert_eq!(t.status, TaskStatus::Failed);
    assert_eq!(t.error.as_deref(), Some("ValueError: boom"));
    assert!(t.finished_at.is_some());
    assert!(f.running().await.is_empty());
    assert!(!f.finish("never-existed", TaskStatus::Completed).await);
}

async fn lowering_the_limit_drains(f: &Fixture) {
    f.store.seed_max_workers(3).await.unwrap();
    for i in 0..4 {
        f.submit(&format!("t{i}"), 0).await;
    }
    assert_eq!(f.fill().await.len(), 3);
    f.store.set_max_workers(1).await.unwrap();
    assert_eq!(
        f.running().await.len(),
        3,
        "lowering never stops running tasks"
    );
    assert!(f.finish("t0", TaskStatus::Completed).await);
    assert!(f.fill().await.is_empty(), "still above the new limit");
    assert!(f.finish("t1", TaskStatus::Completed).await);
    assert!(f.fill().await.is_empty(), "at the new limit");
    assert!(f.finish("t2", TaskStatus::Completed).await);
    assert_eq!(f.fill().await, ["t3"]);
}

async fn cancel_queued_and_terminal(f: &Fixture) {
    f.store.seed_max_workers(1).await.unwrap();
    f.submit("run", 0).await;
    f.submit("wait", 0).await;
    f.fill().await;
    assert_eq!(
        f.store.cancel("wait", RETAIN).await.unwrap(),
        CancelOutcome::Cancelled
    );
    assert_eq!(f.status("wait").await, Some(TaskStatus::Cancelled));
    assert_eq!(f.store.snapshot(10, &[]).await.unwrap().queued_count, 0);
    assert_eq!(
        f.store.cancel("wait", RETAIN).await.unwrap(),
        CancelOutcome::Terminal(TaskStatus::Cancelled)
    );
    assert_eq!(
        f.store.cancel("nope", RETAIN).await.unwrap(),
        CancelOutcome::Missing
    );
    // The cancelled task is never dispatched.
    assert!(f.finish("run", TaskStatus::Completed).await);
    assert!(f.fill().await.is_empty());
}

async fn cancel_running_withdraws_or_asks_for_revoke(f: &Fixture) {
    f.store.seed_max_workers(2).await.unwrap();
    f.submit("in-list", 0).await;
    f.submit("taken", 0).await;
    f.fill().await;
    if f.inline {
        // No worker took "in-list" yet: withdrawn from the broker list, cancelled at once.
        assert_eq!(
            f.store.cancel("in-list", RETAIN).await.unwrap(),
            CancelOutcome::Cancelled
        );
        assert_eq!(f.status("in-list").await, Some(TaskStatus::Cancelled));
    } else {
        // The broker is elsewhere: the caller withdraws it, with the message it gets back.
        match f.store.cancel("in-list", RETAIN).await.unwrap() {
            CancelOutcome::Revoke { message, list, .. } => {
                assert_eq!(
                    (message.as_str(), list),
                    ("message-of-in-list", f.list.clone())
                )
            }
            other => panic!("expected a revoke, got {other:?}"),
        }
    }
    // A worker took "taken": its message is gone from the list.
    take_message(f, "message-of-taken").await;
    match f.store.cancel("taken", RETAIN).await.unwrap() {
        CancelOutcome::Revoke { celery_id, .. } => assert_eq!(celery_id, "taken"),
        other => panic!("expected a revoke, got {other:?}"),
    }
    assert_eq!(
        f.status("taken").await,
        Some(TaskStatus::Running),
        "the slot is held until evidence"
    );
    let entries = f.store.snapshot(0, &[]).await.unwrap().running_entries;
    let taken = entries.iter().find(|e| e.id == "taken").unwrap();
    assert!(taken.cancel_requested);
}

/// Removes a message from the broker list, as a worker's BRPOP would.
async fn take_message(f: &Fixture, message: &str) {
    let mut c = common::redis().await;
    let n: i64 = redis::cmd("LREM")
        .arg(&f.list)
        .arg(1)
        .arg(message)
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(n, 1, "{message} was in the list");
}

async fn reprioritize_reorders(f: &Fixture) {
    f.store.seed_max_workers(1).await.unwrap();
    f.submit("a", 0).await;
    f.submit("b", 0).await;
    f.submit("c", 0).await;
    assert_eq!(
        f.store.reprioritize("c", 5).await.unwrap(),
        ReprioritizeOutcome::Moved { position: 1 }
    );
    let order: Vec<_> = f
        .store
        .snapshot(10, &[])
        .await
        .unwrap()
        .queued
        .into_iter()
        .map(|t| t.task_id)
        .collect();
    assert_eq!(order, ["c", "a", "b"]);
    assert_eq!(f.store.get("c").await.unwrap().unwrap().priority, 5);
    // Back to 0: it keeps its arrival place among equals (after a and b).
    f.store.reprioritize("c", 0).await.unwrap();
    let order: Vec<_> = f
        .store
        .snapshot(10, &[])
        .await
        .unwrap()
        .queued
        .into_iter()
        .map(|t| t.task_id)
        .collect();
    assert_eq!(order, ["a", "b", "c"]);
    f.fill().await;
    assert_eq!(
        f.store.reprioritize("a", 9).await.unwrap(),
        ReprioritizeOutcome::NotQueued(TaskStatus::Running)
    );
    assert_eq!(
        f.store.reprioritize("zz", 9).await.unwrap(),
        ReprioritizeOutcome::Missing
    );
}

async fn started_is_recorded_once_for_the_current_dispatch(f: &Fixture) {
    f.store.seed_max_workers(1).await.unwrap();
    f.submit("s", 0).await;
    let started = |celery_id: &'static str, w: &'static str, pid: Option<i64>| {
        let store = f.store.clone();
        async move {
            store
                .mark_started("s", celery_id, Some(w), pid)
                .await
                .unwrap()
        }
    };
    assert_eq!(
        started("s", "w1@h", Some(7)).await,
        StartedOutcome::Ignored,
        "queued: not started"
    );
    f.fill().await;
    let t = f.store.get("s").await.unwrap().unwrap();
    assert!(t.waiting_for_worker);
    assert_eq!(
        started("other", "w1@h", None).await,
        StartedOutcome::Ignored
    );
    assert_eq!(
        started("s", "w1@h", Some(7)).await,
        StartedOutcome::Recorded
    );
    assert_eq!(started("s", "w2@h", Some(8)).await, StartedOutcome::Ignored);
    let t = f.store.get("s").await.unwrap().unwrap();
    assert_eq!(t.worker.as_deref(), Some("w1@h"));
    assert!(!t.waiting_for_worker);
    let entry = f.store.snapshot(0, &[]).await.unwrap().running_entries[0].clone();
    assert_eq!(entry.worker.as_deref(), Some("w1@h"));
    assert!(entry.worker_started);
    assert_eq!(entry.attempts, 1);
}

async fn history_newest_first_with_filter(f: &Fixture) {
    f.store.seed_max_workers(5).await.unwrap();
    for id in ["h1", "h2", "h3"] {
        f.submit(id, 0).await;
    }
    f.fill().await;
    f.finish("h1", TaskStatus::Completed).await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    f.finish("h2", TaskStatus::Failed).await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    f.finish("h3", TaskStatus::Completed).await;
    let all: Vec<_> = f
        .store
        .history(None, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.task_id)
        .collect();
    assert_eq!(all, ["h3", "h2", "h1"]);
    let done: Vec<_> = f
        .store
        .history(Some(TaskStatus::Completed), 10)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.task_id)
        .collect();
    assert_eq!(done, ["h3", "h1"]);
    assert_eq!(f.store.history(None, 1).await.unwrap().len(), 1);
}

async fn finished_tasks_expire_after_retention(f: &Fixture) {
    f.store.seed_max_workers(1).await.unwrap();
    f.submit("old", 0).await;
    f.fill().await;
    let short = Duration::from_millis(300);
    assert!(f
        .store
        .finish(
            &Finish {
                id: "old".into(),
                celery_id: Some("old".into()),
                token: None,
                status: TaskStatus::Completed,
                error: None
            },
            short,
            &[],
            0
        )
        .await
        .unwrap()
        .ended());
    assert!(f.store.get("old").await.unwrap().is_some());
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(
        f.store.get("old").await.unwrap().is_none(),
        "gone after the retention period"
    );
    assert!(f.store.history(None, 10).await.unwrap().is_empty());
    assert_eq!(
        f.store.prune_finished(short).await.unwrap(),
        1,
        "the index entry goes too"
    );
    assert_eq!(f.store.prune_finished(short).await.unwrap(), 0);
}

async fn only_an_inline_dispatch_pushes_the_message(f: &Fixture) {
    f.store.seed_max_workers(1).await.unwrap();
    f.submit("m", 0).await;
    let (done, _) = f.store.dispatch(&[f.prepared("m")]).await.unwrap();
    assert_eq!(done.len(), 1);
    let entry = f.store.snapshot(0, &[]).await.unwrap().running_entries[0].clone();
    if f.inline {
        assert_eq!(f.listed().await, ["message-of-m"]);
        assert!(entry.published);
    } else {
        assert!(
            f.listed().await.is_empty(),
            "two-phase: the caller publishes"
        );
        assert!(!entry.published, "unconfirmed until the caller publishes");
        assert!(f.store.confirm_published("m", entry.token).await.unwrap());
        assert!(!f
            .store
            .confirm_published("m", entry.token + 1)
            .await
            .unwrap());
    }
    let stored = f.store.dispatch_message("m").await.unwrap().unwrap();
    assert_eq!(
        (
            stored.celery_id.as_str(),
            stored.message.as_str(),
            stored.list.as_str()
        ),
        ("m", "message-of-m", f.list.as_str())
    );
    assert_eq!(stored.delivery_tag, "tag-of-m");
}

fn policy(timeout_ms: u64, on_lost: OnWorkerLost) -> ReapPolicy {
    ReapPolicy {
        heartbeat_timeout: Duration::from_millis(timeout_ms),
        on_lost,
        restart_guard: Duration::from_millis(50),
        offline_grace: Duration::from_millis(250),
    }
}

/// Records a worker event from process `pid` of worker `w`, with Celery's 2 s heartbeats.
async fn event(f: &Fixture, kind: &str, w: &str, pid: u32) {
    event_every(f, kind, w, pid, Duration::from_secs(2)).await;
}

async fn event_every(f: &Fixture, kind: &str, w: &str, pid: u32, interval: Duration) {
    f.store
        .worker_event(kind, w, Some(pid), interval, Some(0))
        .await
        .unwrap();
}

/// The first word of a new process is told apart, so it can be told of earlier revokes.
#[tokio::test]
async fn a_new_worker_process_is_reported_once() {
    let f = Fixture::new(true).await;
    let ev = |kind: &'static str, pid: u32| {
        let store = f.store.clone();
        async move {
            store
                .worker_event(kind, "w@h", Some(pid), Duration::from_secs(2), Some(0))
                .await
                .unwrap()
        }
    };
    assert!(ev("worker-online", 1).await, "first heard of");
    assert!(!ev("worker-heartbeat", 1).await);
    assert!(!ev("worker-offline", 1).await);
    assert!(!ev("worker-online", 1).await, "a reconnect keeps its pid");
    assert!(ev("worker-heartbeat", 2).await, "a restart: another pid");
    f.done().await;
}

/// Dispatches `id` and records that worker `w` started it.
async fn start_on(f: &Fixture, id: &str, w: &str) {
    f.submit(id, 0).await;
    f.fill().await;
    assert_eq!(
        f.store
            .mark_started(id, id, Some(w), Some(1))
            .await
            .unwrap(),
        StartedOutcome::Recorded
    );
}

async fn reaped_ids(f: &Fixture, policy: ReapPolicy) -> Vec<(String, String, String)> {
    let mut reaped: Vec<_> = f
        .store
        .reap(policy, RETAIN)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.id, r.outcome, r.reason))
        .collect();
    reaped.sort();
    reaped
}

/// (task id, outcome) of each reaped task, without the reason.
fn outcomes(reaped: &[(String, String, String)]) -> Vec<(&str, &str)> {
    reaped
        .iter()
        .map(|r| (r.0.as_str(), r.1.as_str()))
        .collect()
}

async fn live_workers_keep_their_tasks_however_long(f: &Fixture) {
    f.store.seed_max_workers(4).await.unwrap();
    event(f, "worker-online", "w1@h", 10).await;
    event(f, "worker-online", "re@h", 20).await;
    start_on(f, "long", "w1@h").await;
    start_on(f, "reconnecting", "re@h").await;
    f.submit("unclaimed", 0).await;
    f.fill().await; // dispatched, but no worker reported STARTED
    start_on(f, "unknown-worker", "never-heard@h").await;
    for round in 0..4 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        event(f, "worker-heartbeat", "w1@h", 10).await;
        if round == 1 {
            // A consumer reconnect: an offline/online pair from the same process, whose pool
            // keeps running the task.
            event(f, "worker-offline", "re@h", 20).await;
            event(f, "worker-online", "re@h", 20).await;
        } else {
            event(f, "worker-heartbeat", "re@h", 20).await;
        }
        let reaped = reaped_ids(f, policy(300, OnWorkerLost::Fail)).await;
        assert!(reaped.is_empty(), "{reaped:?}");
    }
    assert_eq!(
        f.running().await.len(),
        4,
        "600 ms > the 300 ms timeout, yet nothing was reaped"
    );
}

async fn offline_silent_or_restarted_workers_lose_their_tasks(f: &Fixture) {
    f.store.seed_max_workers(7).await.unwrap();
    let workers = [
        "off@h",
        "silent@h",
        "restart@h",
        "fine@h",
        "hb@h",
        "hbslow@h",
        "flap@h",
    ];
    for (pid, w) in (1..).zip(workers) {
        event(f, "worker-online", w, pid).await;
    }
    for (id, w) in ["a", "b", "c", "d", "e", "g", "h"].into_iter().zip(workers) {
        start_on(f, id, w).await;
    }
    take_message(f, "message-of-b").await; // a worker has it
    assert!(matches!(
        f.store.cancel("b", RETAIN).await.unwrap(),
        CancelOutcome::Revoke { .. }
    ));
    tokio::time::sleep(Duration::from_millis(100)).await;
    event(f, "worker-offline", "off@h", 1).await;
    event(f, "worker-online", "restart@h", 33).await; // a new process took the name
    event(f, "worker-offline", "flap@h", 7).await; // a reconnect, its online comes later
    tokio::time::sleep(Duration::from_millis(100)).await;
    // New processes first heard of by a heartbeat (their online was missed): the fast one
    // (40 ms beats) came online after the task started; the 2 s one may have started it.
    event_every(f, "worker-heartbeat", "hb@h", 55, Duration::from_millis(40)).await;
    event(f, "worker-heartbeat", "hbslow@h", 66).await;
    for (w, pid) in [("fine@h", 4), ("restart@h", 33)] {
        event(f, "worker-heartbeat", w, pid).await;
    }
    let reaped = reaped_ids(f, policy(600, OnWorkerLost::Fail)).await;
    let summary = outcomes(&reaped);
    assert_eq!(
        summary,
        [("c", "failed"), ("e", "failed")],
        "an offline younger than its grace counts for nothing yet: {reaped:?}"
    );
    assert!(
        reaped.iter().all(|r| r.2.contains("restarted")),
        "{reaped:?}"
    );
    event(f, "worker-online", "flap@h", 7).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    for (w, pid) in [("fine@h", 4), ("hbslow@h", 66), ("flap@h", 7)] {
        event(f, "worker-heartbeat", w, pid).await;
    }
    let reaped = reaped_ids(f, policy(600, OnWorkerLost::Fail)).await;
    let summary = outcomes(&reaped);
    assert_eq!(
        summary,
        [("a", "failed"), ("b", "cancelled")],
        "a pending cancel ends cancelled: {reaped:?}"
    );
    assert!(reaped[0].2.contains("went offline"), "{}", reaped[0].2);
    assert!(reaped[1].2.contains("no heartbeat"), "{}", reaped[1].2);
    assert_eq!(f.running().await, ["d", "g", "h"]);
    let a = f.store.get("a").await.unwrap().unwrap();
    assert_eq!(a.status, app::types::TaskStatus::Failed);
    assert!(a.error.unwrap().starts_with("Worker lost"));
    // The freed slots are usable again, and the late result of a lost task changes nothing.
    assert!(!f.finish("a", app::types::TaskStatus::Completed).await);
}

async fn a_warm_shutdown_keeps_its_tasks_until_their_results(f: &Fixture) {
    f.store.seed_max_workers(2).await.unwrap();
    event(f, "worker-online", "drain@h", 8).await;
    start_on(f, "x", "drain@h").await;
    start_on(f, "y", "drain@h").await;
    take_message(f, "message-of-y").await; // a worker has it
    tokio::time::sleep(Duration::from_millis(5)).await;
    // A warm shutdown: the offline reports the two tasks it still finishes, then silence.
    f.store
        .worker_event(
            "worker-offline",
            "drain@h",
            Some(8),
            Duration::from_secs(2),
            Some(2),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let reaped = reaped_ids(f, policy(300, OnWorkerLost::Fail)).await;
    assert!(
        reaped.is_empty(),
        "past the offline grace and the heartbeat timeout, a draining worker keeps its tasks: {reaped:?}"
    );
    assert!(
        f.finish("x", app::types::TaskStatus::Completed).await,
        "its result still ends it"
    );
    // A cancel the shutting-down worker never answers takes the slot back after the timeout.
    assert!(matches!(
        f.store.cancel("y", RETAIN).await.unwrap(),
        CancelOutcome::Revoke { .. }
    ));
    let reaped = reaped_ids(f, policy(300, OnWorkerLost::Fail)).await;
    let summary = outcomes(&reaped);
    assert_eq!(summary, [("y", "cancelled")], "{reaped:?}");
    assert!(
        reaped[0].2.contains("never answered the cancel"),
        "{}",
        reaped[0].2
    );
    assert!(f.running().await.is_empty());
}

async fn requeued_tasks_run_again_under_a_new_celery_id(f: &Fixture) {
    f.store.seed_max_workers(1).await.unwrap();
    event(f, "worker-online", "w@h", 1).await;
    start_on(f, "r", "w@h").await;
    f.submit("later", 0).await;
    tokio::time::sleep(Duration::from_millis(5)).await; // an offline in the online's ms is ambiguous
    event(f, "worker-offline", "w@h", 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await; // past the offline grace
    let reaped = f
        .store
        .reap(policy(10_000, OnWorkerLost::Requeue), RETAIN)
        .await
        .unwrap();
    assert_eq!(reaped.len(), 1);
    assert_eq!(reaped[0].outcome, "requeued");
    let journal = f.store.journal("r").await.unwrap();
    assert_eq!(journal.notes.len(), 1, "{journal:?}");
    assert_eq!(
        journal.notes[0].kind,
        worker_pool::store::NoteKind::Requeued
    );
    assert!(
        journal.notes[0].detail.contains("went offline"),
        "{journal:?}"
    );
    let t = f.store.get("r").await.unwrap().unwrap();
    assert_eq!(t.status, app::types::TaskStatus::Queued);
    assert_eq!(
        t.position,
        Some(1),
        "it keeps its place: ahead of later arrivals"
    );
    assert!(t.worker.is_none() && t.started_at.is_none());
    let peek = f.store.peek(8).await.unwrap();
    assert_eq!(peek.head[0].id, "r");
    assert_eq!(peek.head[0].attempts, 1);
    // The queue a page at a time, with the dispatch count that names each next Celery id.
    assert_eq!(
        f.store.queued_ids(0, 10).await.unwrap(),
        [("r".to_string(), 1), ("later".to_string(), 0)]
    );
    assert_eq!(
        f.store.queued_ids(1, 1).await.unwrap(),
        [("later".to_string(), 0)]
    );
    assert!(f.store.queued_ids(2, 10).await.unwrap().is_empty());
    let (done, _) = f
        .store
        .dispatch(&[Prepared {
            celery_id: "r~1".into(),
            ..f.prepared("r")
        }])
        .await
        .unwrap();
    assert_eq!(done.len(), 1);
    // A late result of the first dispatch (Celery id "r") is fenced off.
    assert!(!f.finish("r", app::types::TaskStatus::Completed).await);
    let late = Finish {
        id: "r".into(),
        celery_id: Some("r~1".into()),
        token: None,
        status: app::types::TaskStatus::Completed,
        error: None,
    };
    assert_eq!(
        f.store.superseded(10).await.unwrap(),
        ["r"],
        "the first dispatch's id is superseded"
    );
    assert_eq!(
        f.store
            .mark_started("r", "r", Some("w@h"), None)
            .await
            .unwrap(),
        StartedOutcome::Superseded,
        "a STARTED from the old run is a stale copy"
    );
    assert!(f.store.finish(&late, RETAIN, &[], 0).await.unwrap().ended());
    // Ended: a STARTED of its dispatch is a second run of a message delivered again (a broker
    // that lost the acknowledgement); a progress state (no worker named) is the first run's,
    // arriving late.
    assert_eq!(
        f.store
            .mark_started("r", "r~1", Some("w2@h"), Some(7))
            .await
            .unwrap(),
        StartedOutcome::AfterEnd
    );
    assert_eq!(
        f.store.mark_started("r", "r~1", None, None).await.unwrap(),
        StartedOutcome::Ignored
    );
}

/// The resend of `id`'s current dispatch as `<id>~<attempts>`, judged lost for `lost_for`.
async fn resend_of(f: &Fixture, id: &str, lost_for: Duration) -> ResendOutcome {
    let entry = f
        .store
        .snapshot(0, &[])
        .await
        .unwrap()
        .running_entries
        .into_iter()
        .find(|e| e.id == id)
        .unwrap();
    let celery_id = format!("{id}~{}", entry.attempts);
    f.store
        .resend(
            &Resend {
                id: id.into(),
                celery_id: entry.celery_id.clone(),
                token: entry.token,
                next: Prepared {
                    celery_id: celery_id.clone(),
                    message: format!("message-of-{celery_id}"),
                    delivery_tag: format!("tag-of-{celery_id}"),
                    ..f.prepared(id)
                },
                reason: "lost in a test".into(),
                lost_for,
            },
            RETAIN,
        )
        .await
        .unwrap()
}

async fn a_lost_message_is_sent_again_once_it_has_looked_lost_long_enough(f: &Fixture) {
    f.store.seed_max_workers(1).await.unwrap();
    f.submit("l", 0).await;
    f.submit("next", 0).await;
    f.fill().await;
    let long = Duration::from_millis(150);
    // Never judged lost: nothing happens.
    assert_eq!(
        resend_of(f, "l", Duration::ZERO).await,
        ResendOutcome::Stale
    );
    // A worker popped it and died before kombu recorded it anywhere.
    take_message(f, "message-of-l").await;
    assert_eq!(
        f.store.note_lost("l", "l", true).await.unwrap(),
        Some(Duration::ZERO)
    );
    assert!(f.store.snapshot(0, &[]).await.unwrap().running_entries[0].lost_noted);
    assert_eq!(
        resend_of(f, "l", long).await,
        ResendOutcome::Stale,
        "too soon"
    );
    // A check that finds it after all clears the note; the next starts over.
    assert_eq!(f.store.note_lost("l", "l", false).await.unwrap(), None);
    assert_eq!(
        f.store.note_lost("l", "l", true).await.unwrap(),
        Some(Duration::ZERO)
    );
    assert_eq!(
        f.store.note_lost("l", "other", true).await.unwrap(),
        None,
        "fenced"
    );
    tokio::time::sleep(long + Duration::from_millis(50)).await;
    let lost_for = f.store.note_lost("l", "l", true).await.unwrap().unwrap();
    assert!(lost_for >= long, "{lost_for:?}");
    let token = f.store.snapshot(0, &[]).await.unwrap().running_entries[0].token;
    let ResendOutcome::Resent { token: new_token } = resend_of(f, "l", long).await else {
        panic!("not resent");
    };
    assert!(new_token > token);
    // Same slot: still running, nothing else admitted, the new dispatch is current.
    assert_eq!(f.running().await, ["l"]);
    assert_eq!(f.status("next").await, Some(TaskStatus::Queued));
    let entry = f.store.snapshot(0, &[]).await.unwrap().running_entries[0].clone();
    assert_eq!((entry.celery_id.as_str(), entry.token), ("l~1", new_token));
    assert!(!entry.lost_noted && !entry.worker_started);
    assert_eq!(
        entry.published, f.inline,
        "two-phase: the caller publishes it"
    );
    if f.inline {
        assert_eq!(f.listed().await, ["message-of-l~1"]);
    }
    let stored = f.store.dispatch_message("l").await.unwrap().unwrap();
    assert_eq!(stored.delivery_tag, "tag-of-l~1");
    let t = f.store.get("l").await.unwrap().unwrap();
    assert_eq!(t.resends, 1);
    assert_eq!(t.resend_reason.as_deref(), Some("lost in a test"));
    assert!(t.resent_at.is_some() && t.waiting_for_worker);
    assert_eq!(f.store.counters().await.unwrap()["messages_resent"], 1);
    // Only once: the old dispatch is gone.
    assert_eq!(
        resend_of(f, "l", Duration::ZERO).await,
        ResendOutcome::Stale
    );
    assert_eq!(f.store.superseded(10).await.unwrap(), ["l"]);
    // The old id is fenced off; a stale copy that starts somewhere is flagged.
    assert!(!f.finish("l", TaskStatus::Completed).await);
    assert_eq!(
        f.store
            .mark_started("l", "l", Some("w@h"), None)
            .await
            .unwrap(),
        StartedOutcome::Superseded
    );
    assert_eq!(
        f.store
            .mark_started("l", "l~1", Some("w@h"), None)
            .await
            .unwrap(),
        StartedOutcome::Recorded
    );
    let done = Finish {
        id: "l".into(),
        celery_id: Some("l~1".into()),
        token: None,
        status: TaskStatus::Completed,
        error: None,
    };
    assert!(f.store.finish(&done, RETAIN, &[], 0).await.unwrap().ended());
    assert_eq!(f.fill().await, ["next"]);
}

async fn a_cancelled_lost_message_ends_cancelled(f: &Fixture) {
    f.store.seed_max_workers(1).await.unwrap();
    f.submit("c", 0).await;
    f.submit("next", 0).await;
    f.fill().await;
    take_message(f, "message-of-c").await;
    assert!(matches!(
        f.store.cancel("c", RETAIN).await.unwrap(),
        CancelOutcome::Revoke { .. }
    ));
    f.store.note_lost("c", "c", true).await.unwrap();
    assert_eq!(
        resend_of(f, "c", Duration::ZERO).await,
        ResendOutcome::Cancelled
    );
    let t = f.store.get("c").await.unwrap().unwrap();
    assert_eq!(t.status, TaskStatus::Cancelled);
    assert!(t.error.unwrap().contains("never ran"));
    assert!(f.listed().await.is_empty(), "nothing was sent again");
    assert_eq!(f.fill().await, ["next"], "its slot is free");
}

async fn the_roster_is_the_workers_heard_from_lately(f: &Fixture) {
    let t = Duration::from_millis(300);
    assert!(f.store.live_workers(t).await.unwrap().is_empty());
    event(f, "worker-online", "a@h", 1).await;
    event(f, "worker-online", "gone@h", 2).await;
    event(f, "worker-online", "quiet@h", 3).await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    event(f, "worker-offline", "gone@h", 2).await;
    let mut live = f.store.live_workers(t).await.unwrap();
    live.sort();
    assert_eq!(live, ["a@h", "quiet@h"]);
    tokio::time::sleep(Duration::from_millis(350)).await;
    event(f, "worker-heartbeat", "a@h", 1).await;
    assert_eq!(
        f.store.live_workers(t).await.unwrap(),
        ["a@h"],
        "silent past the timeout"
    );
    // A reconnect: offline then online from the same process; alive again.
    event(f, "worker-online", "gone@h", 2).await;
    let mut live = f.store.live_workers(t).await.unwrap();
    live.sort();
    assert_eq!(live, ["a@h", "gone@h"]);
}

/// Inline, a started or finished task's message leaves kombu's unacked set: an ack the worker
/// could not send (Redis was down) must not make kombu run it a second time.
#[tokio::test]
async fn started_and_finished_tasks_leave_kombus_unacked_set() {
    let f = Fixture::new(true).await;
    f.store.seed_max_workers(2).await.unwrap();
    let mut c = common::redis().await;
    let mut tags = Vec::new();
    for id in ["s1", "s2"] {
        f.submit(id, 0).await;
        let tag = format!("tag-{}", uuid::Uuid::new_v4());
        let message = serde_json::json!({"properties": {"delivery_tag": tag}}).to_string();
        let batch = [Prepared {
            message: message.clone(),
            delivery_tag: tag.clone(),
            ..f.prepared(id)
        }];
        assert_eq!(f.store.dispatch(&batch).await.unwrap().0.len(), 1);
        // A worker reserved it (kombu's bookkeeping), then could not ack it.
        let _: () = redis::pipe()
            .cmd("HSET")
            .arg("unacked")
            .arg(&tag)
            .arg(&message)
            .ignore()
            .cmd("ZADD")
            .arg("unacked_index")
            .arg(1)
            .arg(&tag)
            .ignore()
            .query_async(&mut c)
            .await
            .unwrap();
        tags.push(tag);
    }
    let present = |tag: String| async move {
        let mut c = common::redis().await;
        let n: i64 = redis::cmd("HEXISTS")
            .arg("unacked")
            .arg(&tag)
            .query_async(&mut c)
            .await
            .unwrap();
        let z: Option<f64> = redis::cmd("ZSCORE")
            .arg("unacked_index")
            .arg(&tag)
            .query_async(&mut c)
            .await
            .unwrap();
        n == 1 || z.is_some()
    };
    assert_eq!(
        f.store
            .mark_started("s1", "s1", Some("w@h"), None)
            .await
            .unwrap(),
        StartedOutcome::Recorded
    );
    assert!(!present(tags[0].clone()).await, "started: dropped");
    assert!(
        present(tags[1].clone()).await,
        "not started: kept (it may still need restoring)"
    );
    assert!(f.finish("s2", TaskStatus::Completed).await);
    assert!(!present(tags[1].clone()).await, "finished: dropped");
    f.done().await;
}

// --- flow control -------------------------------------------------------------------------

/// Why a queued task waits, as the store reads it.
async fn why(f: &Fixture, id: &str) -> Option<BlockedBy> {
    f.store.get(id).await.unwrap().unwrap().blocked_by
}

async fn limit(f: &Fixture, source: &str, change: RuleChange) {
    assert!(f
        .store
        .set_rules(&[(source.to_string(), change)], false)
        .await
        .unwrap());
}

async fn end(f: &Fixture, id: &str) {
    assert!(f.finish(id, TaskStatus::Completed).await, "{id} ended");
}

async fn a_source_limit_holds_its_source_and_never_the_others(f: &Fixture) {
    f.store.seed_max_workers(4).await.unwrap();
    limit(f, "hubspot", RuleChange::Limit(Some(1))).await;
    // A higher priority does not let a held source jump its limit, nor hold the others.
    f.submit_as("h1", "hubspot", None, 9).await;
    f.submit_as("h2", "hubspot", None, 9).await;
    f.submit_as("f1", "five9", None, 0).await;
    f.submit_as("f2", "five9", None, 0).await;
    assert_eq!(
        why(f, "h2").await,
        Some(BlockedBy::Queue),
        "not judged yet: first in line"
    );
    let mut started = f.fill().await;
    started.sort();
    assert_eq!(started, ["f1", "f2", "h1"]);
    assert_eq!(why(f, "h2").await, Some(BlockedBy::SourceLimit));
    let snap = f
        .store
        .snapshot(10, &["hubspot".into(), "five9".into()])
        .await
        .unwrap();
    assert_eq!(
        (
            snap.sources["hubspot"].running,
            snap.sources["hubspot"].queued
        ),
        (1, 1)
    );
    assert_eq!(snap.sources["hubspot"].limit, Some(1));
    assert_eq!(snap.sources["five9"].limit, None);
    assert_eq!(snap.queued[0].blocked_by, Some(BlockedBy::SourceLimit));
    // Its slot freed: the held task is next.
    end(f, "h1").await;
    assert_eq!(f.fill().await, ["h2"]);
    // Lowered below what runs: nothing is stopped; the source drains.
    limit(f, "five9", RuleChange::Limit(Some(1))).await;
    f.submit_as("f3", "five9", None, 0).await;
    assert!(f.fill().await.is_empty());
    end(f, "f1").await;
    assert!(
        f.fill().await.is_empty(),
        "f2 still runs: five9 is at its limit of 1"
    );
    end(f, "f2").await;
    assert_eq!(f.fill().await, ["f3"]);
    // Removed: the global limit only.
    limit(f, "five9", RuleChange::Limit(None)).await;
    assert_eq!(
        f.store
            .rules()
            .await
            .unwrap()
            .get("five9")
            .copied()
            .unwrap_or_default()
            .limit,
        None
    );
}

async fn a_tenant_limit_counts_per_source_and_tenant(f: &Fixture) {
    f.store.seed_max_workers(8).await.unwrap();
    limit(f, "hubspot", RuleChange::TenantLimit(Some(1))).await;
    f.submit_as("a1", "hubspot", Some("acme"), 0).await;
    f.submit_as("a2", "hubspot", Some("acme"), 0).await;
    f.submit_as("b1", "hubspot", Some("bolt"), 0).await;
    f.submit_as("n1", "hubspot", None, 0).await;
    f.submit_as("x1", "five9", Some("acme"), 0).await;
    let mut started = f.fill().await;
    started.sort();
    assert_eq!(
        started,
        ["a1", "b1", "n1", "x1"],
        "acme's second HubSpot sync waits"
    );
    assert_eq!(why(f, "a2").await, Some(BlockedBy::TenantLimit));
    assert_eq!(
        f.store.get("a1").await.unwrap().unwrap().tenant.as_deref(),
        Some("acme")
    );
    end(f, "b1").await;
    assert!(
        f.fill().await.is_empty(),
        "another tenant's slot does not help acme"
    );
    end(f, "a1").await;
    assert_eq!(f.fill().await, ["a2"]);
}

async fn a_rate_budget_limits_starts_per_window(f: &Fixture) {
    f.store.seed_max_workers(8).await.unwrap();
    let rate = app::types::Rate {
        starts: 2,
        per_seconds: 1,
    };
    limit(f, "arrivy", RuleChange::Rate(Some(rate))).await;
    for id in ["r1", "r2", "r3"] {
        f.submit_as(id, "arrivy", None, 0).await;
    }
    assert_eq!(f.fill().await, ["r1", "r2"]);
    assert_eq!(why(f, "r3").await, Some(BlockedBy::RateLimit));
    // Ending them does not give the budget back: it counts starts, per window.
    end(f, "r1").await;
    end(f, "r2").await;
    assert!(f.fill().await.is_empty());
    let use_now = f
        .store
        .snapshot(0, &["arrivy".into()])
        .await
        .unwrap()
        .sources["arrivy"]
        .rate;
    assert_eq!(
        use_now.map(|r| (r.starts, r.per_seconds, r.used)),
        Some((2, 1, 2))
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(f.fill().await, ["r3"], "a new window");
}

async fn cool_downs_and_pauses_hold_what_they_name(f: &Fixture) {
    f.store.seed_max_workers(8).await.unwrap();
    let ends = f
        .store
        .cooldown("five9", Cooldown::For(Duration::from_millis(400)))
        .await
        .unwrap();
    assert!(ends.is_some());
    f.submit_as("f1", "five9", None, 5).await;
    f.submit_as("h1", "hubspot", None, 0).await;
    assert_eq!(f.fill().await, ["h1"]);
    assert_eq!(why(f, "f1").await, Some(BlockedBy::Cooldown));
    assert!(f
        .store
        .snapshot(0, &["five9".into()])
        .await
        .unwrap()
        .sources["five9"]
        .cooldown_until
        .is_some());
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(f.fill().await, ["f1"], "the cool-down ended by itself");
    // A source's pause.
    assert!(f.store.pause(Some("hubspot"), true).await.unwrap());
    assert!(
        !f.store.pause(Some("hubspot"), true).await.unwrap(),
        "already paused"
    );
    f.submit_as("h2", "hubspot", None, 0).await;
    f.submit_as("g1", "genius", None, 0).await;
    assert_eq!(f.fill().await, ["g1"]);
    assert_eq!(why(f, "h2").await, Some(BlockedBy::Paused));
    assert!(f.store.pause(Some("hubspot"), false).await.unwrap());
    assert_eq!(f.fill().await, ["h2"]);
    // The pool's pause: nothing starts, the queue keeps accepting.
    assert!(f.store.pause(None, true).await.unwrap());
    f.submit_as("g2", "genius", None, 0).await;
    assert!(f.fill().await.is_empty());
    assert_eq!(f.store.peek(8).await.unwrap().free, 0);
    let snap = f.store.snapshot(5, &[]).await.unwrap();
    assert!(snap.paused);
    assert_eq!(snap.queued[0].blocked_by, Some(BlockedBy::Paused));
    assert!(f.store.pause(None, false).await.unwrap());
    assert_eq!(f.fill().await, ["g2"]);
}

async fn a_blocked_group_is_parked_and_woken(f: &Fixture) {
    f.store.seed_max_workers(2).await.unwrap();
    limit(f, "hubspot", RuleChange::Limit(Some(1))).await;
    f.submit_as("h1", "hubspot", None, 0).await;
    assert_eq!(f.fill().await, ["h1"]);
    // Many held tasks ahead, one of another source behind them: it starts at once, and the
    // held source's group is parked, not scanned.
    for i in 0..50 {
        f.submit_as(&format!("h{}", i + 2), "hubspot", None, 10)
            .await;
    }
    f.submit_as("f1", "five9", None, -10).await;
    assert_eq!(f.fill().await, ["f1"]);
    let parked: Option<String> = f
        .raw
        .query(
            redis::cmd("HGET")
                .arg(format!("{}parked", f.base))
                .arg("hubspot\x1fall\x1f"),
        )
        .await
        .unwrap();
    assert_eq!(parked.as_deref(), Some("source_limit"));
    let peek = f.store.peek(8).await.unwrap();
    assert!(peek.head.is_empty(), "nothing else may start: {peek:?}");
    end(f, "h1").await;
    assert_eq!(
        f.fill().await,
        ["h2"],
        "woken by its source's free slot, in order"
    );
}

async fn rules_are_seeded_once_and_read_back(f: &Fixture) {
    let seed = [("five9".to_string(), RuleChange::Limit(Some(1)))];
    assert!(f.store.set_rules(&seed, true).await.unwrap());
    let again = [("five9".to_string(), RuleChange::Limit(Some(5)))];
    assert!(
        !f.store.set_rules(&again, true).await.unwrap(),
        "seeded once"
    );
    let rate = app::types::Rate {
        starts: 10,
        per_seconds: 60,
    };
    limit(f, "arrivy", RuleChange::Rate(Some(rate))).await;
    limit(f, "hubspot", RuleChange::TenantLimit(Some(2))).await;
    let rules = f.store.rules().await.unwrap();
    assert_eq!(rules["five9"].limit, Some(1));
    assert_eq!(rules["arrivy"].rate, Some(rate));
    assert_eq!(rules["hubspot"].tenant_limit, Some(2));
    assert_eq!(f.store.migrate().await.unwrap(), 0, "nothing older to file");
}

async fn automatic_cool_downs_double_until_a_success(f: &Fixture) {
    f.store.seed_max_workers(4).await.unwrap();
    let auto = Cooldown::Auto {
        base: Duration::from_millis(200),
        max: Duration::from_millis(500),
    };
    let len = |ends: Option<i64>, now: i64| ends.unwrap() - now;
    let now = || chrono::Utc::now().timestamp_millis();
    let t = now();
    let first = f.store.cooldown("arrivy", auto).await.unwrap();
    assert!((150..=300).contains(&len(first, t)), "{first:?}");
    assert_eq!(
        f.store.cooldown("arrivy", auto).await.unwrap(),
        first,
        "a burst is one event"
    );
    tokio::time::sleep(Duration::from_millis(250)).await;
    let t = now();
    let second = f.store.cooldown("arrivy", auto).await.unwrap();
    assert!((350..=500).contains(&len(second, t)), "doubled: {second:?}");
    tokio::time::sleep(Duration::from_millis(450)).await;
    let t = now();
    let third = f.store.cooldown("arrivy", auto).await.unwrap();
    assert!((450..=600).contains(&len(third, t)), "capped: {third:?}");
    // A success of the source resets it.
    tokio::time::sleep(Duration::from_millis(550)).await;
    f.submit_as("ok", "arrivy", None, 0).await;
    assert_eq!(f.fill().await, ["ok"]);
    end(f, "ok").await;
    let t = now();
    let again = f.store.cooldown("arrivy", auto).await.unwrap();
    assert!(
        (150..=300).contains(&len(again, t)),
        "back to the base: {again:?}"
    );
    assert_eq!(f.store.counters().await.unwrap()["cooldowns"], 4);
    // Set by hand, and ended.
    assert_eq!(
        f.store
            .cooldown("arrivy", Cooldown::For(Duration::ZERO))
            .await
            .unwrap(),
        None
    );
}
