//! The scheduler's policy, on the real store (Redis, under a fresh prefix) and the real broker
//! commands, with the Celery workers' side played by the test: it takes messages off the list,
//! writes results, and scripts the answers to `query_task`.

use crate::common;
use crate::fake_celery::FakeCelery;
use app::types::{SubmitRequest, TaskParameters, TaskQuery, TaskStatus};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use worker_pool::celery::protocol::{ControlReply, QueryTaskReply, ResultMeta, ResultState};
use worker_pool::celery::{Broker, BrokerError, BrokerFacts, RedisBroker};
use worker_pool::connection::ServerFacts;
use worker_pool::scheduler::{LostPolicy, PoolError, Scheduler, Settings};
use worker_pool::store::{RedisStore, ResendOutcome, Store};

/// The real broker commands, except what the test plays itself: publishes can be made to
/// fail, revokes are recorded, and the workers' answers to `query_task` are scripted.
pub(crate) struct TestBroker {
    real: RedisBroker,
    fail_publish: AtomicBool,
    /// When set, it answers as RabbitMQ does: it cannot look inside its queues.
    pub(crate) blind: AtomicBool,
    pub(crate) revoked: Mutex<Vec<String>>,
    /// Per hostname, the Celery ids it says it holds; `None`: no worker answers.
    workers: Mutex<Vec<(String, Vec<String>)>>,
    /// When set, the workers' answers to `inspect active` (and empty `reserved` and
    /// `scheduled`); otherwise inspect goes to the real broker.
    pub(crate) executing: Mutex<Option<Vec<ControlReply>>>,
}

#[async_trait::async_trait]
impl Broker for TestBroker {
    fn sees_messages(&self) -> bool {
        !self.blind.load(Ordering::SeqCst)
    }
    async fn publish(&self, list: &str, message: &str) -> Result<(), BrokerError> {
        if self.fail_publish.load(Ordering::SeqCst) {
            return Err(BrokerError::AmqpTimeout(Duration::from_millis(1)));
        }
        self.real.publish(list, message).await
    }
    async fn contains(&self, list: &str, message: &str) -> Result<bool, BrokerError> {
        if self.blind.load(Ordering::SeqCst) {
            return Ok(false);
        }
        self.real.contains(list, message).await
    }
    async fn withdraw(&self, list: &str, message: &str) -> Result<bool, BrokerError> {
        if self.blind.load(Ordering::SeqCst) {
            return Ok(false);
        }
        self.real.withdraw(list, message).await
    }
    async fn unacked(&self, tag: &str) -> Result<bool, BrokerError> {
        if self.blind.load(Ordering::SeqCst) {
            return Ok(false);
        }
        self.real.unacked(tag).await
    }
    async fn forget_unacked(&self, tag: &str) -> Result<(), BrokerError> {
        if self.blind.load(Ordering::SeqCst) {
            return Ok(());
        }
        self.real.forget_unacked(tag).await
    }
    async fn revoke(&self, celery_ids: &[String]) -> Result<u64, BrokerError> {
        self.revoked.lock().unwrap().extend_from_slice(celery_ids);
        Ok(1)
    }
    async fn query_tasks(
        &self,
        celery_ids: &[String],
        _window: Duration,
    ) -> Result<Vec<QueryTaskReply>, BrokerError> {
        Ok(self
            .workers
            .lock()
            .unwrap()
            .iter()
            .map(|(host, holds)| QueryTaskReply {
                hostname: host.clone(),
                ticket: None,
                held: holds
                    .iter()
                    .filter(|id| celery_ids.contains(id))
                    .map(|id| (id.clone(), "reserved".to_string()))
                    .collect(),
            })
            .collect())
    }
    async fn results(&self, ids: &[String]) -> Result<Vec<Option<ResultMeta>>, BrokerError> {
        self.real.results(ids).await
    }
    async fn inspect(
        &self,
        method: &str,
        arguments: serde_json::Value,
        window: Duration,
    ) -> Result<Vec<ControlReply>, BrokerError> {
        if let Some(active) = self.executing.lock().unwrap().clone() {
            return Ok(if method == "active" {
                active
            } else {
                Vec::new()
            });
        }
        self.real.inspect(method, arguments, window).await
    }
    async fn server_facts(&self) -> (BrokerFacts, Result<ServerFacts, BrokerError>) {
        self.real.server_facts().await
    }
}

/// A scheduler on a fresh prefix and queue, with the results subscribed.
pub(crate) struct Setup {
    pub(crate) s: Scheduler,
    pub(crate) broker: Arc<TestBroker>,
    pub(crate) worker: FakeCelery,
    cleanup: common::Cleanup,
    prefix: String,
    queue: String,
    inline: bool,
}

/// How long a message must look lost before it is sent again, in these tests.
const LOST_FOR: Duration = Duration::from_millis(200);

async fn setup_with(inline: bool, max: u32, retention: Duration) -> Setup {
    setup_custom(inline, max, |s| s.retention = retention).await
}

/// A scheduler whose settings `custom` adjusts (after the tests' defaults).
pub(crate) async fn setup_custom(
    inline: bool,
    max: u32,
    custom: impl FnOnce(&mut Settings),
) -> Setup {
    let prefix = common::unique("sched");
    let queue = format!("{prefix}:celery");
    let _ = common::redis().await;
    let url = common::redis_url();
    let store = Arc::new(RedisStore::new(&url, &prefix, Duration::from_secs(5), inline).unwrap());
    let broker = Arc::new(TestBroker {
        real: RedisBroker::new(&url, &url, Duration::from_secs(5)).unwrap(),
        fail_publish: AtomicBool::new(false),
        blind: AtomicBool::new(false),
        revoked: Mutex::new(Vec::new()),
        workers: Mutex::new(Vec::new()),
        executing: Mutex::new(None),
    });
    let mut settings = Settings {
        retention: Duration::from_secs(60),
        origin: "test@host".into(),
        lost: LostPolicy {
            reply_window: Duration::from_millis(10),
            lost_for: LOST_FOR,
            unconfirmed_for: LOST_FOR,
        },
        ..Settings::new(&queue, inline)
    };
    custom(&mut settings);
    let s = Scheduler::new(store.clone(), broker.clone(), settings);
    s.set_results_subscribed(true);
    store.seed_max_workers(max).await.unwrap();
    let mut cleanup = common::Cleanup::new(&prefix);
    cleanup.also(queue.clone());
    Setup {
        s,
        broker,
        worker: FakeCelery::new(&queue),
        cleanup,
        prefix,
        queue,
        inline,
    }
}

pub(crate) async fn setup(inline: bool, max: u32) -> Setup {
    setup_with(inline, max, Duration::from_secs(60)).await
}

impl Setup {
    /// Ends the test: deletes its keys and the result keys of `ids` (off the runtime's threads).
    pub(crate) async fn done(mut self, ids: &[&str]) {
        for id in ids {
            self.cleanup.also(format!("celery-task-meta-{id}"));
            self.cleanup.also(format!("celery-task-meta-{id}~1"));
        }
        tokio::task::spawn_blocking(move || drop(self))
            .await
            .unwrap();
    }

    /// Another scheduler (a replica) on the same store and queue, with default settings.
    pub(crate) fn replica(&self) -> Scheduler {
        let url = common::redis_url();
        let store = Arc::new(
            RedisStore::new(&url, &self.prefix, Duration::from_secs(5), self.inline).unwrap(),
        );
        let broker = Arc::new(RedisBroker::new(&url, &url, Duration::from_secs(5)).unwrap());
        let s = Scheduler::new(store, broker, Settings::new(&self.queue, self.inline));
        s.set_results_subscribed(true);
        s
    }

    pub(crate) fn store(&self) -> &Arc<dyn Store> {
        self.s.store()
    }
}

pub(crate) fn req(priority: i32) -> SubmitRequest {
    SubmitRequest {
        crm_source: "hubspot".into(),
        sync_type: "all".into(),
        parameters: TaskParameters::default(),
        priority,
        tenant: None,
        ..Default::default()
    }
}

pub(crate) fn done(id: &str) -> ResultMeta {
    ResultMeta {
        task_id: id.into(),
        state: ResultState::Success,
    }
}

/// The Celery ids of the messages waiting in the list, oldest first.
async fn listed_ids(w: &FakeCelery) -> Vec<String> {
    w.pending()
        .await
        .iter()
        .map(|m| {
            let v: serde_json::Value = serde_json::from_str(m).unwrap();
            v["headers"]["id"].as_str().unwrap().to_string()
        })
        .collect()
}

#[tokio::test]
async fn submit_dispatches_into_a_free_slot_then_queues() {
    let t = setup(true, 1).await;
    let a = t.s.submit(req(0)).await.unwrap();
    assert_eq!(a.status, TaskStatus::Running);
    let b = t.s.submit(req(0)).await.unwrap();
    assert_eq!(b.status, TaskStatus::Queued);
    assert_eq!(b.position, Some(1));
    let msgs = t.worker.pending().await;
    assert_eq!(msgs.len(), 1);
    let v: serde_json::Value = serde_json::from_str(&msgs[0]).unwrap();
    assert_eq!(
        v["headers"]["id"],
        a.task_id.as_str(),
        "the Celery id is the pool's id"
    );
    assert_eq!(v["headers"]["task"], "hubspot.all");
    // Completion refills the slot at once.
    assert!(t.s.on_result(&done(&a.task_id)).await.unwrap());
    assert_eq!(
        t.s.task(&b.task_id).await.unwrap().status,
        TaskStatus::Running
    );
    assert!(
        !t.s.on_result(&done(&a.task_id)).await.unwrap(),
        "a repeated result changes nothing"
    );
    t.done(&[]).await;
}

/// After a reconnect, a queued task whose next Celery id already has a result-backend value
/// was dispatched by writes Redis lost, and a worker ran it and let it go before it answered:
/// one that ended is adopted and ended by that result, one with a STARTED runs on as started
/// by the worker it names, and neither is ever dispatched again; the others wait as before.
#[tokio::test]
async fn after_a_reconnect_a_queued_task_that_already_ran_is_not_dispatched_again() {
    let t = setup(true, 3).await;
    t.s.set_results_subscribed(false);
    let ended = t.s.submit(req(0)).await.unwrap();
    let running = t.s.submit(req(0)).await.unwrap();
    let waiting = t.s.submit(req(0)).await.unwrap();
    assert!(t.worker.pending().await.is_empty());
    t.worker.succeed(&ended.task_id).await;
    t.worker.started(&running.task_id).await;

    let check = t.s.reconcile_with_workers().await.unwrap();
    let mut adopted = check.adopted.clone();
    adopted.sort();
    let mut expected = vec![ended.task_id.clone(), running.task_id.clone()];
    expected.sort();
    assert_eq!(adopted, expected);
    assert_eq!(
        t.s.task(&ended.task_id).await.unwrap().status,
        TaskStatus::Completed
    );
    let r = t.s.task(&running.task_id).await.unwrap();
    assert_eq!(r.status, TaskStatus::Running);
    assert_eq!(r.worker.as_deref(), Some(t.worker.hostname.as_str()));
    assert_eq!(
        t.s.task(&waiting.task_id).await.unwrap().status,
        TaskStatus::Queued
    );

    t.s.set_results_subscribed(true);
    let report = t.s.reconcile().await.unwrap();
    assert_eq!(report.dispatched, vec![waiting.task_id.clone()]);
    assert_eq!(listed_ids(&t.worker).await, vec![waiting.task_id.clone()]);
    t.done(&[&ended.task_id, &running.task_id, &waiting.task_id])
        .await;
}

/// What a failover can lose: a worker took a message (kombu's `unacked` entry, replicated),
/// and its ack and its STARTED were lost with the old primary. After the reconnect the
/// worker says it executes the task: it is recorded as started there, and its message leaves
/// `unacked`, so kombu's restore of unacknowledged messages cannot run it a second time. So
/// does the message of a task the store knew started whose ack was lost. A task only
/// dispatched keeps its entry (kombu gives it back if its worker goes). Both modes.
#[tokio::test]
async fn after_a_reconnect_started_tasks_leave_kombus_unacked_set() {
    for inline in [true, false] {
        let t = setup(inline, 3).await;
        let lost_start = t.s.submit(req(0)).await.unwrap();
        let known_start = t.s.submit(req(0)).await.unwrap();
        let dispatched = t.s.submit(req(0)).await.unwrap();
        if !inline {
            t.s.reconcile().await.unwrap();
        }
        for _ in 0..3 {
            t.worker.take(1.0).await.unwrap();
        }
        t.worker.started(&known_start.task_id).await;
        t.s.reconcile().await.unwrap();
        let mut c = common::redis().await;
        let mut tags = Vec::new();
        for id in [
            &lost_start.task_id,
            &known_start.task_id,
            &dispatched.task_id,
        ] {
            let tag = t
                .store()
                .dispatch_message(id)
                .await
                .unwrap()
                .unwrap()
                .delivery_tag;
            // kombu's entry for a message a worker took, back after the failover.
            let _: i64 = redis::cmd("HSET")
                .arg("unacked")
                .arg(&tag)
                .arg("[{}, \"\", \"q\"]")
                .query_async(&mut c)
                .await
                .unwrap();
            tags.push(tag);
        }
        let host = "w1@h".to_string();
        *t.broker.executing.lock().unwrap() = Some(vec![ControlReply {
            hostname: host.clone(),
            ticket: None,
            answer: serde_json::json!([
                {"id": lost_start.task_id, "delivery_info": {"routing_key": t.queue}},
                {"id": known_start.task_id, "delivery_info": {"routing_key": t.queue}},
            ]),
        }]);

        let check = t.s.reconcile_with_workers().await.unwrap();
        assert_eq!(
            check.started,
            vec![lost_start.task_id.clone()],
            "inline {inline}"
        );
        assert!(check.adopted.is_empty() && check.unaccounted.is_empty());
        let task = t.s.task(&lost_start.task_id).await.unwrap();
        assert_eq!(task.worker.as_deref(), Some(host.as_str()));
        assert!(task.worker_started_at.is_some());
        for (tag, kept) in tags.iter().zip([false, false, true]) {
            let exists: i64 = redis::cmd("HEXISTS")
                .arg("unacked")
                .arg(tag)
                .query_async(&mut c)
                .await
                .unwrap();
            assert_eq!(exists == 1, kept, "inline {inline}, tag {tag}");
        }
        let _: i64 = redis::cmd("HDEL")
            .arg("unacked")
            .arg(&tags)
            .query_async(&mut c)
            .await
            .unwrap();
        t.done(&[
            &lost_start.task_id,
            &known_start.task_id,
            &dispatched.task_id,
        ])
        .await;
    }
}

#[tokio::test]
async fn nothing_is_dispatched_before_results_are_subscribed() {
    let t = setup(true, 2).await;
    t.s.set_results_subscribed(false);
    let a = t.s.submit(req(0)).await.unwrap();
    assert_eq!(a.status, TaskStatus::Queued);
    assert!(t.worker.pending().await.is_empty());
    t.s.set_results_subscribed(true);
    let report = t.s.reconcile().await.unwrap();
    assert_eq!(report.dispatched, vec![a.task_id.clone()]);
    assert_eq!(report.available_workers, 1);
    t.done(&[]).await;
}

#[tokio::test]
async fn unknown_types_and_bad_values_are_refused() {
    let t = setup(true, 1).await;
    let mut r = req(0);
    r.sync_type = "everything".into();
    match t.s.submit(r).await {
        Err(PoolError::Invalid(f)) => assert!(f[0]
            .message
            .contains("unknown task type hubspot.everything")),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        t.s.submit(req(101)).await,
        Err(PoolError::Invalid(_))
    ));
    assert!(matches!(
        t.s.set_max_workers(0).await,
        Err(PoolError::Invalid(_))
    ));
    assert!(matches!(
        t.s.set_max_workers(65).await,
        Err(PoolError::Invalid(_))
    ));
    assert_eq!(t.s.status().await.unwrap().queued_count, 0);
    t.done(&[]).await;
}

#[tokio::test]
async fn two_phase_publishes_then_confirms_and_republishes_when_lost() {
    let t = setup(false, 1).await;
    t.broker.fail_publish.store(true, Ordering::SeqCst);
    let a = t.s.submit(req(0)).await.unwrap();
    assert_eq!(
        a.status,
        TaskStatus::Running,
        "the slot is taken even if the publish failed"
    );
    assert!(t.worker.pending().await.is_empty());
    let entry = t.store().snapshot(0, &[]).await.unwrap().running_entries[0].clone();
    assert!(!entry.published);
    t.broker.fail_publish.store(false, Ordering::SeqCst);
    t.s.reconcile().await.unwrap();
    assert_eq!(
        t.worker.pending().await.len(),
        1,
        "republished once proven absent"
    );
    assert!(t.store().snapshot(0, &[]).await.unwrap().running_entries[0].published);
    t.s.reconcile().await.unwrap();
    assert_eq!(t.worker.pending().await.len(), 1, "never twice");
    t.done(&[]).await;
}

#[tokio::test]
async fn cancel_running_withdraws_from_a_separate_broker_or_revokes() {
    let t = setup(false, 2).await;
    let a = t.s.submit(req(0)).await.unwrap();
    let b = t.s.submit(req(0)).await.unwrap();
    // b's message was taken by a worker; a's is still in the list.
    let taken = t.worker.take(1.0).await.unwrap();
    assert_eq!(taken.id, a.task_id, "first in, first out");
    let (a, b) = (b, a);
    // a's message is still in the broker: withdrawn, cancelled at once.
    let c = t.s.cancel(&a.task_id).await.unwrap();
    assert_eq!(c.status, TaskStatus::Cancelled);
    assert!(t.broker.revoked.lock().unwrap().is_empty());
    // b's message was taken by a worker: revoke, and wait for the evidence.
    let c = t.s.cancel(&b.task_id).await.unwrap();
    assert_eq!(c.status, TaskStatus::Running);
    assert_eq!(*t.broker.revoked.lock().unwrap(), vec![b.task_id.clone()]);
    let revoked = ResultMeta {
        task_id: b.task_id.clone(),
        state: ResultState::Revoked {
            reason: "TaskRevokedError: terminated".into(),
        },
    };
    assert!(t.s.on_result(&revoked).await.unwrap());
    let c = t.s.task(&b.task_id).await.unwrap();
    assert_eq!(c.status, TaskStatus::Cancelled);
    assert_eq!(
        c.error.as_deref(),
        Some("Revoked: TaskRevokedError: terminated")
    );
    assert!(matches!(
        t.s.cancel(&b.task_id).await,
        Err(PoolError::Conflict(_))
    ));
    assert!(matches!(
        t.s.cancel("missing").await,
        Err(PoolError::NotFound(_))
    ));
    t.done(&[]).await;
}

#[tokio::test]
async fn reconcile_applies_results_it_finds() {
    let t = setup(true, 1).await;
    let a = t.s.submit(req(0)).await.unwrap();
    let b = t.s.submit(req(0)).await.unwrap();
    t.worker.fail(&a.task_id, "ValueError", "boom").await;
    let report = t.s.reconcile().await.unwrap();
    assert_eq!(report.reconciled, vec![a.task_id.clone()]);
    assert_eq!(report.dispatched, vec![b.task_id.clone()]);
    assert_eq!(
        t.s.task(&a.task_id).await.unwrap().error.as_deref(),
        Some("ValueError: boom")
    );
    t.done(&[&a.task_id]).await;
}

#[tokio::test]
async fn finished_tasks_disappear_after_retention() {
    let t = setup_with(true, 1, Duration::from_millis(300)).await;
    let a = t.s.submit(req(0)).await.unwrap();
    t.s.on_result(&done(&a.task_id)).await.unwrap();
    assert_eq!(t.s.list(&TaskQuery::default()).await.unwrap().len(), 1);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(matches!(
        t.s.task(&a.task_id).await,
        Err(PoolError::NotFound(_))
    ));
    assert!(t.s.list(&TaskQuery::default()).await.unwrap().is_empty());
    t.done(&[]).await;
}

#[tokio::test]
async fn status_reports_counts_state_and_positions() {
    let t = setup(true, 2).await;
    for p in [0, 0, 5, -1] {
        t.s.submit(req(p)).await.unwrap();
    }
    let st = t.s.status().await.unwrap();
    assert_eq!(
        (st.active_count, st.queued_count, st.available_workers),
        (2, 2, 0)
    );
    assert_eq!(st.state, app::types::PoolState::Overloaded);
    assert_eq!(st.utilization, 100.0);
    assert_eq!(st.queued_tasks[0].priority, 5);
    assert_eq!(st.queued_tasks[1].position, Some(2));
    t.done(&[]).await;
}

/// Runs lost-message checks until `id` is re-sent or cancelled (at most `secs`); returns the
/// outcomes seen along the way.
async fn check_until_resent(t: &Setup, id: &str, secs: u64) -> Vec<ResendOutcome> {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while tokio::time::Instant::now() < deadline {
        for lost in t.s.check_lost_messages().await.unwrap() {
            assert_eq!(lost.id, id);
            let end = matches!(
                lost.outcome,
                ResendOutcome::Resent { .. } | ResendOutcome::Cancelled
            );
            seen.push(lost.outcome);
            if end {
                return seen;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    seen
}

#[tokio::test]
async fn a_lost_message_is_sent_again_under_a_new_id_in_its_slot() {
    for inline in [true, false] {
        let t = setup(inline, 1).await;
        let a = t.s.submit(req(0)).await.unwrap();
        let b = t.s.submit(req(0)).await.unwrap();
        // A worker pops a's message and dies before kombu records it anywhere.
        let taken = t.worker.take(1.0).await.unwrap();
        assert_eq!(taken.id, a.task_id);
        let outcomes = check_until_resent(&t, &a.task_id, 5).await;
        assert!(
            matches!(outcomes.last(), Some(ResendOutcome::Resent { .. })),
            "{outcomes:?}"
        );
        // The same slot: b still waits; a is running under a new Celery id.
        assert_eq!(
            t.s.task(&b.task_id).await.unwrap().status,
            TaskStatus::Queued
        );
        let resent = t.s.task(&a.task_id).await.unwrap();
        assert_eq!(resent.status, TaskStatus::Running);
        assert_eq!(resent.resends, 1);
        assert!(
            resent.resend_reason.as_deref().unwrap().contains("lost"),
            "{resent:?}"
        );
        let new_id = format!("{}~1", a.task_id);
        assert_eq!(listed_ids(&t.worker).await, vec![new_id.clone()]);
        assert_eq!(*t.broker.revoked.lock().unwrap(), vec![a.task_id.clone()]);
        // A stale copy of the old message that starts somewhere is revoked again, and does
        // not count as the task's start.
        t.worker.started(&a.task_id).await;
        t.s.on_result(&ResultMeta {
            task_id: a.task_id.clone(),
            state: ResultState::Started {
                hostname: Some("stale@h".into()),
                pid: None,
            },
        })
        .await
        .unwrap();
        assert_eq!(
            *t.broker.revoked.lock().unwrap(),
            [a.task_id.clone(), a.task_id.clone()]
        );
        assert!(t.s.task(&a.task_id).await.unwrap().waiting_for_worker);
        // Workers that start later hear of it too.
        assert_eq!(t.s.revoke_superseded().await.unwrap(), 1);
        // The new message runs; its result ends the task and the next one takes the slot.
        assert_eq!(t.worker.take(1.0).await.unwrap().id, new_id);
        assert!(t.s.on_result(&done(&new_id)).await.unwrap());
        assert_eq!(
            t.s.task(&a.task_id).await.unwrap().status,
            TaskStatus::Completed
        );
        assert_eq!(
            t.s.task(&b.task_id).await.unwrap().status,
            TaskStatus::Running
        );
        assert_eq!(
            t.store().counters().await.unwrap()["messages_resent"],
            1,
            "counted"
        );
        t.done(&[&a.task_id]).await;
    }
}

#[tokio::test]
async fn a_message_that_is_anywhere_is_never_sent_again() {
    let t = setup(true, 3).await;
    // In the list: no worker took it yet.
    let listed = t.s.submit(req(0)).await.unwrap();
    // Reserved by a worker that says so (query_task), though it is not in `unacked`.
    let held = t.s.submit(req(0)).await.unwrap();
    // In kombu's unacked set.
    let unacked = t.s.submit(req(0)).await.unwrap();
    assert_eq!(t.worker.take(1.0).await.unwrap().id, listed.task_id);
    let _ = t.worker.take(1.0).await.unwrap();
    let _ = t.worker.take(1.0).await.unwrap();
    // Put the first one back, as if nobody had taken it.
    let stored = t
        .store()
        .dispatch_message(&listed.task_id)
        .await
        .unwrap()
        .unwrap();
    t.broker
        .real
        .publish(&stored.list, &stored.message)
        .await
        .unwrap();
    let tag = t
        .store()
        .dispatch_message(&unacked.task_id)
        .await
        .unwrap()
        .unwrap()
        .delivery_tag;
    let mut c = common::redis().await;
    let _: i64 = redis::cmd("HSET")
        .arg("unacked")
        .arg(&tag)
        .arg("{}")
        .query_async(&mut c)
        .await
        .unwrap();
    t.broker
        .workers
        .lock()
        .unwrap()
        .push(("w1@h".into(), vec![held.task_id.clone()]));
    for _ in 0..6 {
        assert!(t.s.check_lost_messages().await.unwrap().is_empty());
        tokio::time::sleep(LOST_FOR / 2).await;
    }
    let entries = t.store().snapshot(0, &[]).await.unwrap().running_entries;
    assert!(entries.iter().all(|e| !e.lost_noted && e.attempts == 1));
    // A live worker that does not answer may hold it: nothing is concluded.
    t.broker.workers.lock().unwrap().clear();
    t.store()
        .worker_event(
            "worker-heartbeat",
            "mute@h",
            Some(9),
            Duration::from_secs(2),
            Some(1),
        )
        .await
        .unwrap();
    for _ in 0..6 {
        assert!(t.s.check_lost_messages().await.unwrap().is_empty());
        tokio::time::sleep(LOST_FOR / 2).await;
    }
    assert_eq!(t.s.task(&held.task_id).await.unwrap().resends, 0);
    let _: i64 = redis::cmd("HDEL")
        .arg("unacked")
        .arg(&tag)
        .query_async(&mut c)
        .await
        .unwrap();
    t.done(&[]).await;
}

#[tokio::test]
async fn a_lost_message_of_a_cancelled_task_ends_it() {
    let t = setup(true, 1).await;
    let a = t.s.submit(req(0)).await.unwrap();
    let b = t.s.submit(req(0)).await.unwrap();
    let _ = t.worker.take(1.0).await.unwrap();
    // Not in the list any more: the cancel asks for a revoke, which nobody answers.
    let c = t.s.cancel(&a.task_id).await.unwrap();
    assert_eq!(c.status, TaskStatus::Running);
    let outcomes = check_until_resent(&t, &a.task_id, 5).await;
    assert_eq!(outcomes.last(), Some(&ResendOutcome::Cancelled));
    assert_eq!(
        t.s.task(&a.task_id).await.unwrap().status,
        TaskStatus::Cancelled
    );
    assert_eq!(
        t.s.task(&b.task_id).await.unwrap().status,
        TaskStatus::Running,
        "its slot went to the next task"
    );
    assert_eq!(listed_ids(&t.worker).await, vec![b.task_id.clone()]);
    t.done(&[]).await;
}

/// A task the pool learnt had started only from a progress state (its STARTED report lost,
/// to a Redis outage say) does not name its worker, so the reaper cannot watch it. Once no
/// live worker has held it for a while, its worker is gone: its slot is taken back, by the
/// lost-worker policy (here: fail), and the next task starts. While a worker holds it, it
/// keeps its slot.
#[tokio::test]
async fn a_task_started_by_a_worker_that_never_said_which_is_taken_back_once_none_holds_it() {
    for inline in [true, false] {
        let t = setup(inline, 1).await;
        let a = t.s.submit(req(0)).await.unwrap();
        let b = t.s.submit(req(0)).await.unwrap();
        let taken = t.worker.take(1.0).await.unwrap();
        assert_eq!(taken.id, a.task_id);
        let progress = ResultMeta {
            task_id: a.task_id.clone(),
            state: ResultState::Other("PROGRESS".into()),
        };
        t.s.on_result(&progress).await.unwrap();
        let running = t.s.task(&a.task_id).await.unwrap();
        assert!(!running.waiting_for_worker, "{running:?}");
        assert!(running.worker.is_none());

        // A live worker holds it: nothing happens, however long.
        t.broker
            .workers
            .lock()
            .unwrap()
            .push(("w1@h".into(), vec![a.task_id.clone()]));
        for _ in 0..10 {
            t.s.check_lost_messages().await.unwrap();
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(
            t.s.task(&a.task_id).await.unwrap().status,
            TaskStatus::Running
        );

        // Its worker is gone: no live worker holds it any more.
        t.broker.workers.lock().unwrap().clear();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while t.s.task(&a.task_id).await.unwrap().status == TaskStatus::Running
            && tokio::time::Instant::now() < deadline
        {
            t.s.check_lost_messages().await.unwrap();
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let ended = t.s.task(&a.task_id).await.unwrap();
        assert_eq!(ended.status, TaskStatus::Failed, "{ended:?}");
        assert!(
            ended
                .error
                .as_deref()
                .unwrap()
                .contains("without saying which"),
            "{ended:?}"
        );
        assert_eq!(
            t.s.task(&b.task_id).await.unwrap().status,
            TaskStatus::Running,
            "the slot went to the next task"
        );
        assert_eq!(
            t.store().counters().await.unwrap()["reclaimed:unknown_worker"],
            1
        );
        t.done(&[&a.task_id, &b.task_id]).await;
    }
}

/// Over a broker the pool cannot look into (RabbitMQ), a dispatch whose publish was never
/// confirmed may or may not be in the queue. Once it has stayed unconfirmed for
/// `unconfirmed_for`, it is sent again under a new Celery id in its slot, and the old id is
/// revoked: a copy that did reach the queue is discarded, so the task runs once. Before
/// that, nothing is sent: a publish in flight confirms long before.
#[tokio::test]
async fn over_a_broker_it_cannot_look_into_an_unconfirmed_dispatch_is_sent_again_under_a_new_id() {
    let t = setup_custom(false, 1, |s| s.lost.unconfirmed_for = LOST_FOR * 2).await;
    t.broker.blind.store(true, Ordering::SeqCst);
    t.broker.fail_publish.store(true, Ordering::SeqCst);
    let a = t.s.submit(req(0)).await.unwrap();
    assert_eq!(a.status, TaskStatus::Running);
    let old = t.store().snapshot(0, &[]).await.unwrap().running_entries[0].clone();
    assert!(!old.published);
    t.broker.fail_publish.store(false, Ordering::SeqCst);
    // Not yet: it has not been unconfirmed for long enough.
    t.s.reconcile().await.unwrap();
    assert!(t.s.check_lost_messages().await.unwrap().is_empty());
    assert!(
        t.worker.pending().await.is_empty(),
        "nothing sent before the wait"
    );
    assert!(t.broker.revoked.lock().unwrap().is_empty());
    tokio::time::sleep(LOST_FOR * 3).await;
    t.s.check_lost_messages().await.unwrap();
    let now = t.store().snapshot(0, &[]).await.unwrap().running_entries[0].clone();
    assert_ne!(now.celery_id, old.celery_id, "sent under a new Celery id");
    assert!(now.published, "and confirmed");
    assert_eq!(
        now.token,
        now.token.max(old.token + 1),
        "a new fencing token"
    );
    assert_eq!(listed_ids(&t.worker).await, vec![now.celery_id.clone()]);
    assert_eq!(
        *t.broker.revoked.lock().unwrap(),
        vec![old.celery_id.clone()],
        "the old id is revoked, so a copy that reached the queue never runs"
    );
    let task = t.s.task(&a.task_id).await.unwrap();
    assert_eq!(task.resends, 1);
    // A result of the old id cannot end it; the new one's does.
    t.worker.succeed(&old.celery_id).await;
    assert!(!t.s.on_result(&done(&old.celery_id)).await.unwrap());
    assert!(t.s.on_result(&done(&now.celery_id)).await.unwrap());
    assert_eq!(
        t.s.task(&a.task_id).await.unwrap().status,
        TaskStatus::Completed
    );
    // Checked again: nothing more is sent.
    t.s.check_lost_messages().await.unwrap();
    assert!(t.worker.pending().await.len() <= 1);
    t.done(&[&old.celery_id, &now.celery_id]).await;
}

/// Over RabbitMQ a lost worker's unacknowledged messages go back to the queue (an `acks_late`
/// worker's, say): a task the reaper takes back has its Celery id revoked, so a redelivery
/// does not run it behind the pool's back, and the id joins the superseded ones that a worker
/// starting later is told about.
#[tokio::test]
async fn over_a_broker_it_cannot_look_into_a_task_taken_back_from_a_lost_worker_is_revoked() {
    let t = setup_custom(false, 1, |s| {
        s.reap.heartbeat_timeout = Duration::from_millis(300);
    })
    .await;
    t.broker.blind.store(true, Ordering::SeqCst);
    let a = t.s.submit(req(0)).await.unwrap();
    let taken = t.worker.take(1.0).await.unwrap();
    let host = t.worker.hostname.clone();
    t.store()
        .worker_event(
            "worker-heartbeat",
            &host,
            Some(7),
            Duration::from_millis(100),
            Some(1),
        )
        .await
        .unwrap();
    t.worker.started(&taken.id).await;
    let started = ResultMeta {
        task_id: taken.id.clone(),
        state: ResultState::Started {
            hostname: Some(host.clone()),
            pid: Some(4242),
        },
    };
    t.s.on_result(&started).await.unwrap();
    assert!(t.s.reap().await.unwrap().is_empty(), "alive: kept");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let reaped = t.s.reap().await.unwrap();
    assert_eq!(reaped.len(), 1);
    assert_eq!(reaped[0].celery_id, taken.id);
    assert_eq!(*t.broker.revoked.lock().unwrap(), vec![taken.id.clone()]);
    assert_eq!(
        t.s.task(&a.task_id).await.unwrap().status,
        TaskStatus::Failed
    );
    // A worker that starts later hears it too.
    t.broker.revoked.lock().unwrap().clear();
    assert_eq!(t.s.revoke_superseded().await.unwrap(), 1);
    assert_eq!(*t.broker.revoked.lock().unwrap(), vec![taken.id.clone()]);
    t.done(&[&taken.id]).await;
}
