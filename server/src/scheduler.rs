//! The pool's policy: what to do on a submit, a result, a cancel, a new limit, a reconnect.
//!
//! The scheduler knows nothing of HTTP or Redis: it talks to a [`Store`] (atomic transitions)
//! and a [`Broker`] (Celery). Correctness does not depend on this process being the only one:
//! every decision that touches a slot is re-checked inside the store's atomic step, so any
//! number of schedulers may run against one store.

use crate::celery::protocol::{self, ResultMeta, ResultState, TaskSpec};
use crate::celery::{Broker, BrokerError};
use crate::forecast::Forecaster;
use crate::registry::Registry;
use crate::store::{
    CancelOutcome, Cooldown, DispatchStop, Finish, Finished, ForgetOutcome, NewTask, Prepared,
    ReapPolicy, Reaped, ReprioritizeOutcome, Resend, ResendOutcome, RetryRefusal, RuleChange,
    RunningEntry, StartedOutcome, Store, StoreError, Submitted, TaskNote,
};
use app::types::{
    validate_cooldown, validate_max_workers, Dedupe, FieldError, Limits, LimitsUpdate, PoolConfig,
    PoolStatus, ProcessReport, RetryFilter, RetryReport, SubmitRequest, TaskQuery, TaskStatus,
    TaskType, WorkerTask, DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT,
};
use app::types::{
    BulkAction, BulkReport, BulkRequest, ForgetReport, PoolStats, StatsWindow, WorkerList,
};

/// The most tasks one search call examines (a page with more to look at has a next cursor).
pub const SEARCH_SCAN: u32 = 5000;
/// The most search pages a bulk action follows (so at most 100,000 tasks examined).
pub const BULK_PAGES: u32 = 20;
use chrono::Utc;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Why a scheduler operation did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// The request is not acceptable.
    #[error("invalid request")]
    Invalid(Vec<FieldError>),
    /// No such task.
    #[error("task {0} not found")]
    NotFound(String),
    /// No such source.
    #[error("{0}")]
    UnknownSource(String),
    /// No such worker.
    #[error("{0}")]
    UnknownWorker(String),
    /// The transition does not apply to the task's state.
    #[error("{0}")]
    Conflict(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The broker failed.
    #[error(transparent)]
    Broker(#[from] BrokerError),
}

/// What a result did to the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Applied {
    /// Nothing (stale, repeated, or a state that changes nothing).
    Nothing,
    /// A worker's start was recorded.
    Started,
    /// The task ended; `backlog`: queued tasks wait for its slot.
    Ended { backlog: bool },
}

/// The scheduler's settings.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The Celery queue tasks are published to.
    pub celery_queue: String,
    /// How long finished tasks stay visible.
    pub retention: Duration,
    /// How long the audit trail keeps a change.
    pub audit_retention: Duration,
    /// Where webhooks go (shown by `GET webhooks/`).
    pub webhook_urls: Vec<String>,
    /// True when the broker is the store's own Redis database: messages are pushed inside the
    /// dispatch script, atomically with taking the slot.
    pub inline_broker: bool,
    /// `worker-pool@<host>`, the `origin` header of published messages.
    pub origin: String,
    /// How many queued tasks `status` lists (the counts always cover all of them).
    pub status_queue_limit: u32,
    /// The accepted task types.
    pub registry: Registry,
    /// How lost workers are judged, and what happens to their tasks.
    pub reap: ReapPolicy,
    /// How lost messages are judged.
    pub lost: LostPolicy,
    /// When a failure cools its source down.
    pub cooldown: CooldownPolicy,
    /// Priority aging: the wait worth one priority point (`None`: the seed's strict order).
    pub aging: Option<Duration>,
}

/// When a failure cools its source down, and for how long.
#[derive(Clone, Debug)]
pub struct CooldownPolicy {
    /// An error matching this is a provider's refusal (`WORKER_POOL_COOLDOWN_PATTERN`).
    pub pattern: regex::Regex,
    /// The first cool-down (`WORKER_POOL_COOLDOWN`).
    pub base: Duration,
    /// The longest, after doubling.
    pub max: Duration,
}

impl Settings {
    /// The defaults for everything but the Celery queue and the broker mode: 24 h retention,
    /// the seed's task types, Celery-friendly lost-worker and lost-message rules.
    pub fn new(celery_queue: &str, inline_broker: bool) -> Self {
        Settings {
            celery_queue: celery_queue.to_string(),
            retention: Duration::from_secs(24 * 3600),
            audit_retention: Duration::from_secs(30 * 86_400),
            webhook_urls: Vec::new(),
            inline_broker,
            origin: format!("worker-pool-{}@localhost", std::process::id()),
            status_queue_limit: 100,
            registry: Registry::default(),
            reap: ReapPolicy {
                heartbeat_timeout: Duration::from_secs(10),
                on_lost: crate::store::OnWorkerLost::Fail,
                restart_guard: REAP_RESTART_GUARD,
                offline_grace: REAP_OFFLINE_GRACE,
            },
            lost: LostPolicy {
                reply_window: LOST_REPLY_WINDOW,
                lost_for: LOST_FOR,
                unconfirmed_for: UNCONFIRMED_FOR,
            },
            cooldown: CooldownPolicy {
                pattern: regex::Regex::new(crate::config::DEFAULT_COOLDOWN_PATTERN)
                    .expect("the default pattern is a valid regular expression"),
                base: Duration::from_secs(60),
                max: COOLDOWN_MAX,
            },
            aging: None,
        }
    }
}

/// A new process holding a worker's hostname that came online this long after a task's
/// STARTED cannot have started it: the worker restarted (see `store/lua/worker_event.lua`).
const REAP_RESTART_GUARD: Duration = Duration::from_secs(1);
/// A `worker-offline` counts once this long has passed with nothing else from the worker: a
/// consumer reconnect sends an offline/online pair while its pool keeps running its tasks.
const REAP_OFFLINE_GRACE: Duration = Duration::from_secs(3);
/// The longest automatic cool-down, after doubling.
pub const COOLDOWN_MAX: Duration = Duration::from_secs(30 * 60);
/// How long the workers' answers to `query_task` are waited for (Celery's own inspect
/// timeout is 1 s).
const LOST_REPLY_WINDOW: Duration = Duration::from_secs(1);
/// How long a message must have looked lost, check after check, before it is sent again: at
/// least two complete checks (they run every 2 s).
const LOST_FOR: Duration = Duration::from_secs(2);
/// The default of [`LostPolicy::unconfirmed_for`] (`Pool::start` derives it from the broker
/// timeout).
const UNCONFIRMED_FOR: Duration = Duration::from_secs(20);

/// How a message lost between the broker and a worker is judged (see
/// [`Scheduler::check_lost_messages`]).
#[derive(Clone, Copy, Debug)]
pub struct LostPolicy {
    /// How long the workers' answers to `query_task` are waited for.
    pub reply_window: Duration,
    /// How long a message must have looked lost, check after check, before it is sent again.
    pub lost_for: Duration,
    /// Over a broker the pool cannot look into (RabbitMQ): how long a dispatch must have stayed
    /// unconfirmed before it is sent again under a new Celery id. Longer than any publish in
    /// flight can take.
    pub unconfirmed_for: Duration,
}

/// What a lost-message check did to one task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LostMessage {
    /// The task's id.
    pub id: String,
    /// The Celery id of the lost dispatch.
    pub celery_id: String,
    /// What happened: re-sent (with the new dispatch's token), cancelled, or nothing after all.
    pub outcome: ResendOutcome,
}

/// The pool's policy over a store and a broker.
pub struct Scheduler {
    store: Arc<dyn Store>,
    broker: Arc<dyn Broker>,
    settings: Settings,
    /// True while the result notifications are subscribed. Nothing is dispatched before, so no
    /// result can be published that the scheduler would not hear.
    results_subscribed: AtomicBool,
    /// One dispatch pass at a time in this process (others may run in other replicas).
    dispatch_lock: tokio::sync::Mutex<()>,
    /// Set by [`Scheduler::request_dispatch`]; the pass holding the lock runs again while set.
    dispatch_wanted: AtomicBool,
    /// Messages prepared for the head of the queue as last seen: a completion hands them to
    /// `finish.lua`, which refills the freed slot in the same step (and reports the new head).
    refill: std::sync::Mutex<Vec<Prepared>>,
    /// Estimated start and finish times.
    forecast: Forecaster,
    /// When this process last revoked each task that ran past its max_runtime.
    limit_revokes: Mutex<HashMap<String, Instant>>,
}

/// A task that ran past its max_runtime is revoked again this often while it still runs.
const TIME_LIMIT_REVOKE_EVERY: Duration = Duration::from_secs(30);
/// The most queued tasks ended past their max_queue_wait in one check.
const EXPIRE_BATCH: u32 = 200;

/// How many head tasks a completion asks `finish.lua` to report, to prepare the next refills.
const REFILL_AHEAD: u32 = 4;
/// The most candidates one dispatch step handles.
const DISPATCH_BATCH: u32 = app::types::MAX_WORKERS;
/// The most peek/dispatch rounds one pass makes (other replicas may keep moving the queue).
const DISPATCH_ROUNDS: usize = 16;
/// The most superseded Celery ids revoked at once for a worker that just started.
const SUPERSEDED_REVOKE_MAX: u32 = 1000;

impl Scheduler {
    /// A scheduler over `store` and `broker`.
    pub fn new(store: Arc<dyn Store>, broker: Arc<dyn Broker>, settings: Settings) -> Self {
        Scheduler {
            forecast: Forecaster::new(store.clone(), &settings.registry),
            limit_revokes: Mutex::new(HashMap::new()),
            store,
            broker,
            settings,
            results_subscribed: AtomicBool::new(false),
            dispatch_lock: tokio::sync::Mutex::new(()),
            dispatch_wanted: AtomicBool::new(false),
            refill: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The broker (and result backend).
    pub fn broker(&self) -> &Arc<dyn Broker> {
        &self.broker
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Records whether result notifications are subscribed (the listener calls this).
    pub fn set_results_subscribed(&self, subscribed: bool) {
        self.results_subscribed.store(subscribed, Ordering::SeqCst);
    }

    /// True while result notifications are subscribed.
    pub fn results_subscribed(&self) -> bool {
        self.results_subscribed.load(Ordering::SeqCst)
    }

    // --- submit ------------------------------------------------------------------------------

    /// Accepts a task: validated, queued, and dispatched at once if a slot is free. With
    /// `dedupe`, a task of the same source, type and tenant may be returned instead
    /// (`deduplicated`).
    pub async fn submit(&self, req: SubmitRequest) -> Result<WorkerTask, PoolError> {
        req.validate().map_err(PoolError::Invalid)?;
        let task_type = self.task_type(&req.crm_source, &req.sync_type)?;
        let task = NewTask {
            // A client-chosen id makes the submit idempotent (see `accept`).
            id: req
                .task_id
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
            crm_source: req.crm_source,
            sync_type: req.sync_type,
            task_name: task_type.task_name.clone(),
            parameters: req.parameters,
            priority: req.priority,
            tenant: req.tenant,
            dedupe: req.dedupe,
            retry_of: None,
            max_queue_wait: task_type.max_queue_wait.map(Duration::from_secs),
        };
        self.accept(task).await
    }

    fn task_type(&self, crm_source: &str, sync_type: &str) -> Result<&TaskType, PoolError> {
        self.settings
            .registry
            .lookup(crm_source, sync_type)
            .ok_or_else(|| {
                PoolError::Invalid(vec![FieldError::new(
                    "sync_type",
                    format!(
                        "unknown task type {crm_source}.{sync_type}; the pool runs {}",
                        self.settings.registry.names()
                    ),
                )])
            })
    }

    /// A submit whose id names a task already (nothing was changed): a client sending its
    /// submit again, after an error or a timeout, with the id it chose. The same task (source,
    /// type, tenant and parameters; the priority may have been changed since) is returned as
    /// `deduplicated`; anything else under that id is a conflict. (A pool-made id never
    /// collides in practice: a UUID4.)
    async fn resubmitted(&self, task: &NewTask) -> Result<WorkerTask, PoolError> {
        let id = &task.id;
        let Some(mut existing) = self.store.get(id).await? else {
            // It expired between the two reads.
            return Err(PoolError::Conflict(format!(
                "Task id {id} was in use a moment ago; submit again."
            )));
        };
        let same = existing.crm_source == task.crm_source
            && existing.sync_type == task.sync_type
            && existing.tenant == task.tenant
            && existing.parameters == task.parameters
            && task.retry_of.is_none();
        if !same {
            return Err(PoolError::Conflict(format!(
                "Task id {id} already names another task ({}.{}{}, submitted {}): one id names \
                 one submit; choose a new id.",
                existing.crm_source,
                existing.sync_type,
                existing
                    .tenant
                    .as_deref()
                    .map(|t| format!(" for tenant {t}"))
                    .unwrap_or_default(),
                existing
                    .created_at
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            )));
        }
        self.forecast
            .fill(std::slice::from_mut(&mut existing))
            .await;
        existing.deduplicated = true;
        Ok(existing)
    }

    /// Submits a failed or cancelled task again, as a new task with the same source, type,
    /// tenant, parameters and priority, linked both ways (`retry_of`, `retried_by`). A task is
    /// retried once; to try again, retry the retry.
    pub async fn retry(&self, id: &str) -> Result<WorkerTask, PoolError> {
        let old = self.task(id).await?;
        if !matches!(old.status, TaskStatus::Failed | TaskStatus::Cancelled) {
            return Err(PoolError::Conflict(format!(
                "Task {id} is {}; only a failed or cancelled task can be retried.",
                old.status
            )));
        }
        let task_type = self
            .settings
            .registry
            .lookup(&old.crm_source, &old.sync_type)
            .ok_or_else(|| {
                PoolError::Conflict(format!(
                    "Task {id} is of type {}.{}, which this pool no longer runs.",
                    old.crm_source, old.sync_type
                ))
            })?;
        let task = NewTask {
            id: uuid::Uuid::new_v4().to_string(),
            task_name: task_type.task_name.clone(),
            max_queue_wait: task_type.max_queue_wait.map(Duration::from_secs),
            crm_source: old.crm_source,
            sync_type: old.sync_type,
            parameters: old.parameters,
            priority: old.priority,
            tenant: old.tenant,
            dedupe: Dedupe::None,
            retry_of: Some(id.to_string()),
        };
        self.accept(task).await
    }

    /// Retries every finished task that matches `filter` and was not retried yet, newest
    /// first, up to its limit.
    pub async fn retry_many(&self, filter: &RetryFilter) -> Result<RetryReport, PoolError> {
        let r = self
            .bulk(&BulkRequest {
                action: BulkAction::Retry,
                filter: TaskQuery {
                    status: Some(filter.status),
                    crm_source: filter.crm_source.clone(),
                    sync_type: filter.sync_type.clone(),
                    tenant: filter.tenant.clone(),
                    ..Default::default()
                },
                priority: None,
                limit: filter.limit,
                dry_run: false,
            })
            .await?;
        Ok(RetryReport {
            retried: r.created,
            already_retried: r.already_retried,
            skipped: r.skipped,
        })
    }

    /// One action on every task a filter names, at most `limit` (see [`BulkRequest`]): the
    /// search pages are followed until the limit is reached (at most [`BULK_PAGES`] of them),
    /// then each task is changed through the same path as one by one (cancel, priority,
    /// retry). A task that moved on meanwhile is skipped, saying why.
    pub async fn bulk(&self, req: &BulkRequest) -> Result<BulkReport, PoolError> {
        let limit = req.limit.clamp(1, MAX_LIST_LIMIT) as usize;
        let mut query = req.filter.clone();
        query.cursor = None;
        let mut report = BulkReport {
            action: req.action,
            dry_run: req.dry_run,
            matched: Vec::new(),
            changed: Vec::new(),
            created: Vec::new(),
            already_retried: Vec::new(),
            skipped: Vec::new(),
            more: false,
        };
        let mut pages = 0;
        'pages: loop {
            query.limit = Some((limit - report.matched.len()) as u32);
            let (tasks, next) = self
                .store
                .search(&query, query.limit.unwrap(), SEARCH_SCAN)
                .await?;
            for t in tasks {
                if report.matched.len() >= limit {
                    report.more = true;
                    break 'pages;
                }
                if req.action == BulkAction::Retry && t.retried_by.is_some() {
                    report.already_retried.push(t.task_id);
                    continue;
                }
                report.matched.push(t.task_id);
            }
            pages += 1;
            match next {
                Some(cursor) if report.matched.len() < limit && pages < BULK_PAGES => {
                    query.cursor = Some(cursor)
                }
                Some(_) => {
                    report.more = true;
                    break;
                }
                None => break,
            }
        }
        if req.dry_run {
            return Ok(report);
        }
        for id in &report.matched {
            let done = match req.action {
                BulkAction::Cancel => self.cancel(id).await.map(|_| None),
                BulkAction::Priority => self
                    .set_priority(id, req.priority.unwrap_or_default())
                    .await
                    .map(|_| None),
                BulkAction::Retry => self.retry(id).await.map(Some),
            };
            match done {
                Ok(created) => {
                    report.changed.push(id.clone());
                    report.created.extend(created);
                }
                Err(PoolError::Conflict(why)) => report.skipped.push((id.clone(), why)),
                Err(PoolError::NotFound(_)) => report
                    .skipped
                    .push((id.clone(), "It no longer exists.".into())),
                Err(e) => return Err(e),
            }
        }
        tracing::info!(
            action = req.action.as_str(),
            matched = report.matched.len(),
            changed = report.changed.len(),
            "bulk action"
        );
        Ok(report)
    }

    /// Hands a new task to the store: queued, dispatched at once, deduplicated, or refused.
    async fn accept(&self, task: NewTask) -> Result<WorkerTask, PoolError> {
        // Dispatched in the same step when a slot is free and nothing waits ahead of it; never
        // before result notifications are subscribed.
        let prepared = self
            .results_subscribed()
            .then(|| self.prepare(&task.id, 0, &task.task_name, &task.parameters));
        let outcome = self.store.submit(&task, prepared.as_ref()).await?;
        let mut waits = None;
        let (created_ms, status, position, token) = match outcome {
            Submitted::Duplicate => return self.resubmitted(&task).await,
            Submitted::NotRetryable(why) => {
                let id = task.retry_of.unwrap_or_default();
                return Err(match why {
                    RetryRefusal::Missing => PoolError::NotFound(id),
                    RetryRefusal::NotEnded(st) => PoolError::Conflict(format!(
                        "Task {id} is {st}; only a failed or cancelled task can be retried."
                    )),
                    RetryRefusal::Retried(by) => PoolError::Conflict(format!(
                        "Task {id} was already retried by {by}; retry that one instead."
                    )),
                });
            }
            Submitted::Deduplicated { id, replaced } => {
                tracing::info!(task_id = %id, dedupe = task.dedupe.as_str(), replaced, "submit deduplicated");
                if replaced {
                    // Its priority may have changed: it may now be the next to start.
                    self.dispatch_after("replace").await;
                }
                let mut existing = self.task(&id).await?;
                existing.deduplicated = true;
                return Ok(existing);
            }
            Submitted::Running { created_ms, token } => {
                (created_ms, TaskStatus::Running, None, Some(token))
            }
            Submitted::Queued {
                created_ms,
                position,
                free,
                blocked_by,
            } => {
                if free > 0 {
                    // Slots are free but tasks wait ahead of this one: let a pass place them
                    // (and maybe this one). A failure leaves it queued for the next pass.
                    if let Err(e) = self.dispatch_pass().await {
                        tracing::warn!(error = %e, "dispatch after submit failed; the task stays queued");
                    }
                    tracing::info!(task_id = %task.id, task = %task.task_name, priority = task.priority, "task accepted");
                    return self.task(&task.id).await;
                }
                waits = blocked_by;
                (created_ms, TaskStatus::Queued, Some(position), None)
            }
        };
        tracing::info!(task_id = %task.id, task = %task.task_name, priority = task.priority, status = %status, "task accepted");
        if let (Some(token), Some(p)) = (token, &prepared) {
            if !self.settings.inline_broker {
                self.publish_two_phase(p, token).await;
            }
        }
        let created = chrono::TimeZone::timestamp_millis_opt(&chrono::Utc, created_ms)
            .single()
            .unwrap_or_else(chrono::Utc::now);
        let mut accepted = WorkerTask {
            task_id: task.id,
            crm_source: task.crm_source,
            sync_type: task.sync_type,
            task_name: task.task_name,
            parameters: task.parameters,
            priority: task.priority,
            status,
            position,
            created_at: created,
            started_at: (status == TaskStatus::Running).then_some(created),
            waiting_for_worker: status == TaskStatus::Running,
            tenant: task.tenant,
            retry_of: task.retry_of,
            blocked_by: waits,
            ..WorkerTask::default()
        };
        self.forecast
            .fill(std::slice::from_mut(&mut accepted))
            .await;
        Ok(accepted)
    }

    // --- dispatch ----------------------------------------------------------------------------

    fn prepare(
        &self,
        id: &str,
        attempts: u32,
        task_name: &str,
        params: &app::types::TaskParameters,
    ) -> Prepared {
        let celery_id = celery_id_of(id, attempts);
        let kwargs = match serde_json::to_value(params) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => serde_json::Map::new(),
        };
        let delivery_tag = uuid::Uuid::new_v4().to_string();
        let msg = protocol::task_message(&TaskSpec {
            task_name,
            celery_id: &celery_id,
            kwargs: &kwargs,
            queue: &self.settings.celery_queue,
            priority: 0,
            origin: &self.settings.origin,
            delivery_tag: &delivery_tag,
        });
        Prepared {
            id: id.to_string(),
            celery_id,
            message: msg.json,
            list: msg.list,
            delivery_tag,
        }
    }

    /// Fills free slots from the head of the queue, waiting for any pass already running in
    /// this process to finish first. Returns the ids this pass dispatched.
    ///
    /// Skipped (returns nothing) while result notifications are not subscribed: the pass that
    /// follows the subscription dispatches instead.
    pub async fn dispatch_pass(&self) -> Result<Vec<String>, PoolError> {
        if !self.results_subscribed() {
            tracing::debug!("dispatch deferred: result notifications are not subscribed");
            return Ok(Vec::new());
        }
        let _guard = self.dispatch_lock.lock().await;
        self.dispatch_wanted.store(false, Ordering::SeqCst);
        self.dispatch_rounds().await
    }

    /// Asks for a dispatch pass without waiting behind one: if a pass is running in this
    /// process, it runs once more instead. Completions use this, so a burst of them costs a few
    /// passes, not one each.
    pub async fn request_dispatch(&self) -> Result<(), PoolError> {
        if !self.results_subscribed() {
            return Ok(());
        }
        self.dispatch_wanted.store(true, Ordering::SeqCst);
        loop {
            let Ok(guard) = self.dispatch_lock.try_lock() else {
                return Ok(()); // the running pass sees the request
            };
            while self.dispatch_wanted.swap(false, Ordering::SeqCst) {
                self.dispatch_rounds().await?;
            }
            drop(guard);
            // A request may have arrived between the last check and the unlock.
            if !self.dispatch_wanted.load(Ordering::SeqCst) {
                return Ok(());
            }
        }
    }

    async fn dispatch_rounds(&self) -> Result<Vec<String>, PoolError> {
        let mut dispatched = Vec::new();
        for _ in 0..DISPATCH_ROUNDS {
            let peek = self.store.peek(DISPATCH_BATCH).await?;
            if peek.head.is_empty() {
                break;
            }
            let batch: Vec<Prepared> = peek
                .head
                .iter()
                .map(|c| self.prepare(&c.id, c.attempts, &c.task_name, &c.parameters))
                .collect();
            let (done, stop) = self.store.dispatch(&batch).await?;
            for d in &done {
                let p = batch
                    .iter()
                    .find(|p| p.id == d.id)
                    .expect("dispatched ids come from the batch");
                if !self.settings.inline_broker {
                    self.publish_two_phase(p, d.token).await;
                }
                tracing::info!(task_id = %d.id, token = d.token, "task dispatched");
                dispatched.push(d.id.clone());
            }
            match stop {
                DispatchStop::Moved => continue,
                DispatchStop::Done | DispatchStop::Full | DispatchStop::Paused => break,
            }
        }
        Ok(dispatched)
    }

    /// Two-phase mode: the slot is taken; push the message, then confirm. A failure leaves the
    /// dispatch unconfirmed, and reconciliation republishes it once it is proven absent.
    async fn publish_two_phase(&self, p: &Prepared, token: u64) {
        match self.broker.publish(&p.list, &p.message).await {
            Ok(()) => {
                if let Err(e) = self.store.confirm_published(&p.id, token).await {
                    tracing::warn!(task_id = %p.id, error = %e, "publish not confirmed; reconciliation will check");
                }
            }
            Err(e) => {
                tracing::warn!(task_id = %p.id, error = %e, "publish failed; reconciliation will retry")
            }
        }
    }

    // --- results -----------------------------------------------------------------------------

    /// Applies a result-backend value and, when it ended the task, refills the freed slot at
    /// once. Returns true when the store changed.
    pub async fn on_result(&self, meta: &ResultMeta) -> Result<bool, PoolError> {
        let applied = self.apply_result(meta).await?;
        if let Applied::Ended { backlog } = applied {
            tracing::info!(task_id = %task_id_of(&meta.task_id), state = ?meta.state, "task finished");
            // Only when tasks wait for the freed slot: a drained queue costs no pass.
            if backlog {
                self.request_dispatch().await?;
            }
        }
        Ok(applied != Applied::Nothing)
    }

    /// Records a result-backend value. Terminal states end the task, fenced by the Celery id of
    /// the current dispatch; STARTED (and custom states such as PROGRESS, which only a running
    /// task writes) record that a worker has it.
    async fn apply_result(&self, meta: &ResultMeta) -> Result<Applied, PoolError> {
        let id = task_id_of(&meta.task_id);
        if !self.settings.inline_broker && !matches!(meta.state, ResultState::Retry { .. }) {
            // Inline, the scripts do this themselves.
            self.forget_unacked_of(id, &meta.task_id).await;
        }
        Ok(match &meta.state {
            ResultState::Started { hostname, pid } => {
                let outcome = self
                    .store
                    .mark_started(id, &meta.task_id, hostname.as_deref(), *pid)
                    .await?;
                self.started(meta, hostname.as_deref(), outcome).await
            }
            ResultState::Other(_) => {
                let outcome = self
                    .store
                    .mark_started(id, &meta.task_id, None, None)
                    .await?;
                self.started(meta, None, outcome).await
            }
            ResultState::Retry { reason } => {
                // The task keeps its slot: Celery runs it again under the same id. Its page
                // tells the retry (once per retry, however often the RETRY is read).
                self.store
                    .note(id, &meta.task_id, &TaskNote::Retry(reason.clone()))
                    .await?;
                Applied::Nothing
            }
            ResultState::Success => {
                self.finish(id, &meta.task_id, TaskStatus::Completed, None)
                    .await?
            }
            ResultState::Failure { error, traceback } => {
                let applied = self
                    .finish(id, &meta.task_id, TaskStatus::Failed, Some(error.clone()))
                    .await?;
                if let (Applied::Ended { .. }, Some(tb)) = (&applied, traceback) {
                    self.store
                        .note(id, &meta.task_id, &TaskNote::Traceback(tb.clone()))
                        .await?;
                }
                applied
            }
            ResultState::Revoked { reason } => {
                self.finish(
                    id,
                    &meta.task_id,
                    TaskStatus::Cancelled,
                    Some(format!("Revoked: {reason}")),
                )
                .await?
            }
        })
    }

    /// After a STARTED (or progress) report: a superseded dispatch that runs somewhere is a
    /// stale copy of a message the pool sent again, and a dispatch that already ended runs a
    /// second time (its message delivered again); revoke (terminate) it.
    async fn started(
        &self,
        meta: &ResultMeta,
        worker: Option<&str>,
        outcome: StartedOutcome,
    ) -> Applied {
        match outcome {
            StartedOutcome::Recorded => Applied::Started,
            StartedOutcome::Ignored => Applied::Nothing,
            StartedOutcome::Superseded | StartedOutcome::AfterEnd => {
                if outcome == StartedOutcome::Superseded {
                    tracing::warn!(celery_id = %meta.task_id, worker = ?worker, "a superseded dispatch of a task started; revoking it");
                } else {
                    tracing::warn!(celery_id = %meta.task_id, worker = ?worker, "a task that already ended started again (its message was delivered twice); revoking the second run");
                }
                if let Err(e) = self
                    .broker
                    .revoke(std::slice::from_ref(&meta.task_id))
                    .await
                {
                    tracing::warn!(celery_id = %meta.task_id, error = %e, "could not revoke a superseded dispatch");
                }
                Applied::Nothing
            }
        }
    }

    async fn finish(
        &self,
        id: &str,
        celery_id: &str,
        status: TaskStatus,
        error: Option<String>,
    ) -> Result<Applied, PoolError> {
        let error_text = error.clone();
        let refill: Vec<Prepared> = self
            .refill
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let report = self
            .store
            .finish(
                &Finish {
                    id: id.to_string(),
                    celery_id: Some(celery_id.to_string()),
                    token: None,
                    status,
                    error: error.clone(),
                },
                self.settings.retention,
                if self.results_subscribed() {
                    &refill
                } else {
                    &[]
                },
                REFILL_AHEAD,
            )
            .await?;
        if let Finished::Ended { .. } = report.finished {
            let next: Vec<Prepared> = report
                .head
                .iter()
                .map(|c| self.prepare(&c.id, c.attempts, &c.task_name, &c.parameters))
                .collect();
            *self.refill.lock().unwrap_or_else(|e| e.into_inner()) = next;
        }
        for d in &report.dispatched {
            tracing::info!(task_id = %d.id, token = d.token, "task dispatched");
            if !self.settings.inline_broker {
                if let Some(p) = refill.iter().find(|p| p.id == d.id) {
                    self.publish_two_phase(p, d.token).await;
                }
            }
        }
        if report.ended() && status == TaskStatus::Failed {
            self.cool_down_if_refused(id, &report.source, error_text.as_deref())
                .await;
        }
        Ok(match report.finished {
            Finished::Stale => Applied::Nothing,
            Finished::Ended { backlog } => Applied::Ended { backlog },
        })
    }

    /// The safety net: reads the result keys of every running task and applies them, republishes
    /// unconfirmed two-phase messages that are proven absent, then dispatches. Runs after every
    /// (re)subscription, periodically, and on "process queue".
    pub async fn reconcile(&self) -> Result<ProcessReport, PoolError> {
        let snapshot = self.store.snapshot(0, &[]).await?;
        let ids: Vec<String> = snapshot
            .running_entries
            .iter()
            .map(|e| e.celery_id.clone())
            .collect();
        let metas = self.broker.results(&ids).await?;
        let mut report = ProcessReport::default();
        for (entry, meta) in snapshot.running_entries.iter().zip(metas) {
            match meta {
                Some(meta) => {
                    if let Applied::Ended { .. } = self.apply_result(&meta).await? {
                        report.reconciled.push(entry.id.clone());
                    }
                }
                None if !entry.published => self.republish_if_absent(entry).await?,
                None => {}
            }
        }
        report.dispatched = self.dispatch_pass().await?;
        let pruned = self.store.prune_finished(self.settings.retention).await?;
        if pruned > 0 {
            tracing::debug!(pruned, "expired history entries pruned");
        }
        let after = self.store.snapshot(0, &[]).await?;
        report.available_workers =
            (after.max_workers as u64).saturating_sub(after.running.len() as u64);
        report.queued_count = after.queued_count;
        if !report.reconciled.is_empty() || !report.dispatched.is_empty() {
            tracing::info!(
                reconciled = report.reconciled.len(),
                dispatched = report.dispatched.len(),
                "reconciled"
            );
        }
        Ok(report)
    }

    /// After a reconnect, before dispatching again, makes the store agree with what the
    /// workers run: Redis may have lost its last writes (a primary that failed over before
    /// its replica had them, a Redis restarted from an older snapshot). Asks every worker what
    /// it runs and holds (Celery's `active`, `reserved` and `scheduled`), until every worker
    /// alive by its heartbeats has answered or a heartbeat timeout has passed (they reconnect
    /// too), then:
    /// - a task the store has queued that a worker runs or holds is adopted (`Store::adopt`):
    ///   the writes of its dispatch were lost, and dispatching it again would run it twice;
    /// - a running task whose worker answered without it, and has no result left, is
    ///   reported (its end may have been lost), never freed on that inference.
    pub async fn reconcile_with_workers(&self) -> Result<WorkerCheck, PoolError> {
        let roster = self
            .store
            .live_workers(self.settings.reap.heartbeat_timeout)
            .await?;
        let deadline = Instant::now() + self.settings.reap.heartbeat_timeout;
        let window = self.settings.lost.reply_window;
        let safe = serde_json::json!({"safe": null});
        let mut answered = std::collections::HashSet::new();
        let mut held = std::collections::HashSet::new();
        // Celery id -> the worker executing it (`active`), evidence that it started there.
        let mut executing = std::collections::HashMap::new();
        let mut check = WorkerCheck::default();
        loop {
            let (active, reserved, scheduled) = tokio::join!(
                self.broker.inspect("active", safe.clone(), window),
                self.broker.inspect("reserved", safe.clone(), window),
                self.broker.inspect("scheduled", safe.clone(), window),
            );
            let replies = active
                .unwrap_or_default()
                .into_iter()
                .map(|r| (true, r))
                .chain(reserved.unwrap_or_default().into_iter().map(|r| (false, r)))
                .chain(
                    scheduled
                        .unwrap_or_default()
                        .into_iter()
                        .map(|r| (false, r)),
                );
            for (is_active, reply) in replies {
                answered.insert(reply.hostname.clone());
                let Some(tasks) = reply.answer.as_array() else {
                    continue;
                };
                for t in tasks {
                    // `scheduled` (a countdown, an ETA) nests the request.
                    let r = t.get("request").unwrap_or(t);
                    let (Some(cid), Some(key)) =
                        (r["id"].as_str(), r["delivery_info"]["routing_key"].as_str())
                    else {
                        continue;
                    };
                    if key != self.settings.celery_queue {
                        continue;
                    }
                    held.insert(cid.to_string());
                    if is_active {
                        executing.insert(cid.to_string(), reply.hostname.clone());
                    }
                    let id = task_id_of(cid);
                    if self.store.adopt(id, cid, &reply.hostname).await? {
                        tracing::warn!(task_id = %id, celery_id = %cid, worker = %reply.hostname,
                            "a worker runs a task the store had queued (the writes of its dispatch were lost with Redis): adopted, not dispatched again");
                        check.adopted.push(id.to_string());
                    }
                }
            }
            if roster.iter().all(|w| answered.contains(w)) {
                break;
            }
            if Instant::now() >= deadline {
                let silent: Vec<&String> =
                    roster.iter().filter(|w| !answered.contains(*w)).collect();
                tracing::warn!(silent = ?silent, "workers did not say what they run after the reconnect; dispatching again without them");
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        self.adopt_runs_of_lost_dispatches(&mut check).await?;
        let snapshot = self.store.snapshot(0, &[]).await?;
        self.settle_started_messages(&snapshot.running_entries, &executing, &mut check)
            .await?;
        // Started tasks whose worker answered without them (one this snapshot shows not yet
        // started, recorded just above, is executing: held, so never among them).
        let gone: Vec<&RunningEntry> = snapshot
            .running_entries
            .iter()
            .filter(|e| {
                e.worker_started
                    && !held.contains(&e.celery_id)
                    && e.worker.as_ref().is_some_and(|w| answered.contains(w))
            })
            .collect();
        if gone.is_empty() {
            return Ok(check);
        }
        // Read a moment after the answers: a result written just as the worker let the task
        // go is seen.
        tokio::time::sleep(window).await;
        let ids: Vec<String> = gone.iter().map(|e| e.celery_id.clone()).collect();
        let metas = self.broker.results(&ids).await?;
        for (entry, meta) in gone.into_iter().zip(metas) {
            match meta {
                // Ended after all (its result came after the workers answered).
                Some(meta) if meta.state.is_ready() => {
                    self.on_result(&meta).await?;
                }
                // Celery retries it: its message is on its way back.
                Some(meta) if matches!(meta.state, ResultState::Retry { .. }) => {}
                // Its end may have been lost with Redis, but a worker's answer is no proof
                // that the task is over (a long chaos run saw one still running): the slot is
                // kept, and said so. It frees on a result, a lost worker, or an operator's
                // cancel (unanswered past the worker timeout).
                _ => {
                    tracing::warn!(task_id = %entry.id, worker = ?entry.worker,
                        "a running task's worker answered without it and no result is left: its end may have been lost with Redis; it keeps its slot until a result, a lost worker or a cancel");
                    check.unaccounted.push(entry.id.clone());
                }
            }
        }
        Ok(check)
    }

    /// Part of [`Self::reconcile_with_workers`], once the workers have answered: a queued task
    /// whose next dispatch's Celery id already has a result-backend value (STARTED, a retry
    /// or an end) was dispatched by writes the store lost, and a worker ran it and let it go
    /// before it answered (a sync can end within a failover and the workers' reconnect).
    /// It is adopted under that id (the worker the value names, if any), and an end ends it
    /// at once: dispatching it again would run it twice. Reads the whole queue, a page at a
    /// time, once per reconnect; never on a dispatch.
    async fn adopt_runs_of_lost_dispatches(
        &self,
        check: &mut WorkerCheck,
    ) -> Result<(), PoolError> {
        const PAGE: u32 = 500;
        let mut from = 0u64;
        loop {
            let page = self.store.queued_ids(from, PAGE).await?;
            let ids: Vec<String> = page
                .iter()
                .map(|(id, dispatches)| celery_id_of(id, *dispatches))
                .collect();
            let metas = self.broker.results(&ids).await?;
            let mut adopted = 0u64;
            for ((id, _), meta) in page.iter().zip(metas) {
                let Some(meta) = meta else {
                    continue;
                };
                let worker = match &meta.state {
                    ResultState::Started { hostname, .. } => hostname.clone().unwrap_or_default(),
                    _ => String::new(),
                };
                if !self.store.adopt(id, &meta.task_id, &worker).await? {
                    continue;
                }
                adopted += 1;
                tracing::warn!(task_id = %id, celery_id = %meta.task_id, state = ?meta.state,
                    "a queued task has already run under its next Celery id (the writes of its dispatch were lost with Redis): adopted, not dispatched again");
                check.adopted.push(id.clone());
                if meta.state.is_ready() {
                    self.on_result(&meta).await?;
                }
            }
            if page.len() < PAGE as usize {
                return Ok(());
            }
            // Adopted tasks left the queue: the next page starts that much earlier.
            from += page.len() as u64 - adopted;
        }
    }

    /// Part of [`Self::reconcile_with_workers`]: a started task's message must be out of
    /// kombu's unacked set, or kombu runs it a second time (a worker restores its unacked
    /// messages when its connection drops, and any worker restores the set's entries older
    /// than the visibility timeout). A failover can undo that: the worker's ack, and the
    /// STARTED that made the pool drop the entry itself, can both be lost with the old
    /// primary while the entry written when the worker took the message was replicated.
    /// So, once the workers have answered: a running task a worker says it executes
    /// (`active`) is recorded as started there (its STARTED lost, or not heard yet: events
    /// wait while this runs), and every started task's message leaves `unacked`. A task
    /// only reserved is left alone: its entry is how kombu gives it back if that worker
    /// goes, and the lost-message check covers the rest.
    async fn settle_started_messages(
        &self,
        running: &[RunningEntry],
        executing: &std::collections::HashMap<String, String>,
        check: &mut WorkerCheck,
    ) -> Result<(), PoolError> {
        for e in running {
            if !e.worker_started {
                let Some(host) = executing.get(&e.celery_id) else {
                    continue;
                };
                let outcome = self
                    .store
                    .mark_started(&e.id, &e.celery_id, Some(host), None)
                    .await?;
                if outcome == StartedOutcome::Recorded {
                    tracing::info!(task_id = %e.id, celery_id = %e.celery_id, worker = %host,
                        "a worker executes a task whose STARTED the store lacks (not heard yet, or lost with Redis): recorded as started there");
                    check.started.push(e.id.clone());
                }
            }
            self.forget_unacked_of(&e.id, &e.celery_id).await;
        }
        Ok(())
    }

    /// Drops a task's message from kombu's unacked set once the task started or ended, so an
    /// ack lost to an outage cannot make kombu run it again: in two-phase mode on every
    /// result (inline, the scripts do it), in both after a reconnect. Only
    /// for evidence about the current dispatch (`celery_id`): a stale run's result must not
    /// touch the message of the dispatch that replaced it.
    async fn forget_unacked_of(&self, id: &str, celery_id: &str) {
        let tag = match self.store.dispatch_message(id).await {
            Ok(Some(m)) if m.celery_id == celery_id && !m.delivery_tag.is_empty() => m.delivery_tag,
            _ => return,
        };
        if let Err(e) = self.broker.forget_unacked(&tag).await {
            tracing::debug!(task_id = %id, error = %e, "could not drop the message from unacked");
        }
    }

    /// Makes sure the message of a dispatch the pool took back never runs behind its back.
    /// With a Redis broker it leaves kombu's unacked set (in two-phase mode; inline, the
    /// script did it). RabbitMQ delivers a lost connection's unacknowledged messages again
    /// (to an `acks_late` worker, say): there the dispatch's Celery id is revoked, so the
    /// workers discard it (and terminate it where it still runs).
    async fn let_go(&self, r: &Reaped) {
        if !self.broker.sees_messages() {
            if r.celery_id.is_empty() {
                return;
            }
            if let Err(e) = self.broker.revoke(std::slice::from_ref(&r.celery_id)).await {
                tracing::warn!(task_id = %r.id, celery_id = %r.celery_id, error = %e, "could not revoke a taken-back task's Celery id");
            }
        } else if !self.settings.inline_broker && !r.delivery_tag.is_empty() {
            if let Err(e) = self.broker.forget_unacked(&r.delivery_tag).await {
                tracing::warn!(task_id = %r.id, error = %e, "could not drop the message from the broker's unacked set");
            }
        }
    }

    /// An unconfirmed two-phase dispatch whose message is in neither the broker list nor a
    /// worker's unacked set, and has no result, never reached the broker: publish it again.
    async fn republish_if_absent(&self, entry: &RunningEntry) -> Result<(), PoolError> {
        if !self.broker.sees_messages() {
            return self.resend_unconfirmed(entry).await;
        }
        let Some(m) = self.store.dispatch_message(&entry.id).await? else {
            return Ok(());
        };
        if self.broker.contains(&m.list, &m.message).await?
            || self.broker.unacked(&m.delivery_tag).await?
        {
            self.store.confirm_published(&entry.id, entry.token).await?;
            return Ok(());
        }
        tracing::warn!(task_id = %entry.id, "unconfirmed dispatch is absent from the broker; publishing it again");
        self.broker.publish(&m.list, &m.message).await?;
        self.store.confirm_published(&entry.id, entry.token).await?;
        Ok(())
    }

    /// Takes back the slots of tasks whose worker is gone (offline, restarted, or silent past
    /// the heartbeat timeout): they end `failed` or go back to the queue, per the policy, and
    /// their messages are dropped from kombu's unacked set so they never run again behind the
    /// pool's back. Call only while worker events have been heard for at least the timeout.
    pub async fn reap(&self) -> Result<Vec<Reaped>, PoolError> {
        let reaped = self
            .store
            .reap(self.settings.reap, self.settings.retention)
            .await?;
        for r in &reaped {
            tracing::warn!(task_id = %r.id, outcome = %r.outcome, reason = %r.reason, "task taken back from a lost worker");
            self.let_go(r).await;
        }
        if !reaped.is_empty() {
            self.dispatch_pass().await?;
        }
        Ok(reaped)
    }

    // --- the worker roster ---------------------------------------------------------------------

    /// Every Celery worker heard from (`GET workers/`).
    /// A task and its story: its steps and the audit entries about it.
    pub async fn story(&self, id: &str) -> Result<app::types::TaskStory, PoolError> {
        let task = self.task(id).await?;
        let audit = self
            .store
            .audit(1000, None, None)
            .await?
            .into_iter()
            .filter(|e| e.target == id)
            .collect();
        let journal = self.store.journal(id).await?;
        Ok(app::types::TaskStory {
            events: crate::story::events(&task, &journal.notes),
            traceback: journal.traceback,
            task,
            audit,
        })
    }

    /// The pool's history over `window` (the charts, `GET stats/`).
    /// The current minute is sampled first, so the last point says what holds now.
    pub async fn stats(&self, window: StatsWindow) -> Result<PoolStats, PoolError> {
        self.store.sample_minute().await?;
        let rows = self.store.minutes(window.minutes()).await?;
        Ok(crate::stats::points(window, &rows))
    }

    pub async fn workers(&self) -> Result<WorkerList, PoolError> {
        Ok(WorkerList {
            workers: self
                .store
                .workers(self.settings.reap.heartbeat_timeout)
                .await?,
        })
    }

    /// Forgets a worker an operator knows is gone for good: its tasks end failed, their slots
    /// go to the queue. Refused (409) while the worker is online by its heartbeats.
    pub async fn forget_worker(&self, hostname: &str) -> Result<ForgetReport, PoolError> {
        let outcome = self
            .store
            .forget_worker(
                hostname,
                self.settings.reap.heartbeat_timeout,
                self.settings.retention,
            )
            .await?;
        match outcome {
            ForgetOutcome::Unknown => Err(PoolError::UnknownWorker(format!(
                "No worker named {hostname} has been heard from."
            ))),
            ForgetOutcome::Online { last_heard_ms } => {
                let ago = last_heard_ms
                    .map(|ms| {
                        let s = (Utc::now().timestamp_millis() - ms).max(0) / 1000;
                        format!(" (heard from {s} s ago)")
                    })
                    .unwrap_or_default();
                Err(PoolError::Conflict(format!(
                    "{hostname} is online{ago}: it still runs its tasks. Forget only a worker \
                     that is gone for good (draining, lost or offline)."
                )))
            }
            ForgetOutcome::Forgotten { released } => {
                for r in &released {
                    tracing::warn!(task_id = %r.id, worker = %hostname, "task ended: its worker was forgotten by an operator");
                    self.let_go(r).await;
                }
                if !released.is_empty() {
                    self.dispatch_pass().await?;
                }
                Ok(ForgetReport {
                    hostname: hostname.to_string(),
                    released: released.into_iter().map(|r| r.id).collect(),
                })
            }
        }
    }

    // --- lost messages -------------------------------------------------------------------------

    /// Finds running tasks whose message was lost between the broker and a worker, and sends
    /// them again. kombu's Redis transport pops a message (BRPOP) before it records it in
    /// `unacked`; a worker killed in between takes the message with it, no result ever comes,
    /// and without this the task would hold its slot for ever.
    ///
    /// A task is judged on evidence: no worker reported STARTED for its dispatch, there is no
    /// result, its message is neither in the broker list nor in `unacked`, and no live worker
    /// holds it (Celery's `query_task`, which every worker alive by its heartbeats must
    /// answer; while one does not, nothing is concluded). One such check proves nothing (a
    /// message can be in flight inside a worker); the task is sent again only when it has
    /// looked lost check after check for [`LostPolicy::lost_for`]. It is published again
    /// under a new Celery id in the same slot (it never ran, so this cannot run it twice), and
    /// the old id is revoked, so a copy that turns up later is discarded. A task whose cancel
    /// was pending ends `cancelled` instead.
    ///
    /// Call only while worker events have been heard for a whole heartbeat timeout: the
    /// roster of live workers comes from them.
    pub async fn check_lost_messages(&self) -> Result<Vec<LostMessage>, PoolError> {
        let snapshot = self.store.snapshot(0, &[]).await?;
        if !self.broker.sees_messages() {
            // RabbitMQ loses no confirmed message and gives a lost worker's back to the
            // queue: only a dispatch it never confirmed is in doubt.
            let unconfirmed: Vec<&RunningEntry> = snapshot
                .running_entries
                .iter()
                .filter(|e| !e.published)
                .collect();
            let ids: Vec<String> = unconfirmed.iter().map(|e| e.celery_id.clone()).collect();
            let metas = self.broker.results(&ids).await?;
            for (entry, meta) in unconfirmed.into_iter().zip(metas) {
                if meta.is_none() {
                    self.resend_unconfirmed(entry).await?;
                }
            }
            return Ok(Vec::new());
        }
        // Tasks no known worker holds: not reported started (their message may be lost), or
        // reported started without saying by which worker (a progress state whose STARTED was
        // lost: an orphan, whose worker may be gone).
        let waiting: Vec<&RunningEntry> = snapshot
            .running_entries
            .iter()
            .filter(|e| {
                (!e.worker_started && e.published) || (e.worker_started && e.worker.is_none())
            })
            .collect();
        if waiting.is_empty() {
            return Ok(Vec::new());
        }
        // Where the message may be: a result, the broker list, kombu's unacked set.
        let celery_ids: Vec<String> = waiting.iter().map(|e| e.celery_id.clone()).collect();
        let metas = self.broker.results(&celery_ids).await?;
        let mut suspects = Vec::new();
        for (entry, meta) in waiting.into_iter().zip(metas) {
            if let Some(meta) = meta {
                self.on_result(&meta).await?;
                // A result ends the task, or shows it started. An orphan (started already)
                // still has no known worker after a progress state: it is judged on.
                if !entry.worker_started || meta.state.is_ready() {
                    continue;
                }
            }
            let Some(m) = self.store.dispatch_message(&entry.id).await? else {
                continue;
            };
            let present = self.broker.contains(&m.list, &m.message).await?
                || self.broker.unacked(&m.delivery_tag).await?;
            if present {
                if entry.lost_noted {
                    self.store
                        .note_lost(&entry.id, &entry.celery_id, false)
                        .await?;
                }
                continue;
            }
            suspects.push(entry);
        }
        if suspects.is_empty() {
            return Ok(Vec::new());
        }
        // Whether a live worker holds it (reserved in its memory, or running it).
        let roster = self
            .store
            .live_workers(self.settings.reap.heartbeat_timeout)
            .await?;
        let ids: Vec<String> = suspects.iter().map(|e| e.celery_id.clone()).collect();
        let replies = self
            .broker
            .query_tasks(&ids, self.settings.lost.reply_window)
            .await?;
        let answered: std::collections::HashSet<&str> =
            replies.iter().map(|r| r.hostname.as_str()).collect();
        let held: std::collections::HashSet<&str> = replies
            .iter()
            .flat_map(|r| r.held.iter().map(|(id, _)| id.as_str()))
            .collect();
        let silent: Vec<&str> = roster
            .iter()
            .map(String::as_str)
            .filter(|w| !answered.contains(w))
            .collect();
        let mut out = Vec::new();
        for entry in suspects {
            if held.contains(entry.celery_id.as_str()) {
                if entry.lost_noted {
                    self.store
                        .note_lost(&entry.id, &entry.celery_id, false)
                        .await?;
                }
                continue;
            }
            if !silent.is_empty() {
                tracing::debug!(task_id = %entry.id, silent = ?silent, "a live worker did not answer query_task; the message may be with it");
                continue;
            }
            let Some(lost_for) = self
                .store
                .note_lost(&entry.id, &entry.celery_id, true)
                .await?
            else {
                continue;
            };
            if lost_for < self.settings.lost.lost_for {
                tracing::info!(task_id = %entry.id, celery_id = %entry.celery_id, started = entry.worker_started, "a dispatched task is nowhere to be found; checking again before acting");
                continue;
            }
            if entry.worker_started {
                // It ran somewhere: sending it again could run it twice. Its worker is gone,
                // which is the reaper's case: the lost-worker policy applies.
                let reclaimed = self
                    .store
                    .reclaim_orphan(
                        &entry.id,
                        &entry.celery_id,
                        self.settings.reap,
                        self.settings.retention,
                        self.settings.lost.lost_for,
                    )
                    .await?;
                if let Some(r) = reclaimed {
                    tracing::warn!(task_id = %r.id, outcome = %r.outcome, reason = %r.reason, "task taken back: no live worker holds it");
                    self.let_go(&r).await;
                    self.dispatch_after("a started task's worker is gone").await;
                }
                continue;
            }
            let Some(task) = snapshot.running.iter().find(|t| t.task_id == entry.id) else {
                continue;
            };
            let outcome = self
                .resend(entry, task, self.settings.lost.lost_for, |next| {
                    format!(
                        "Its message ({}) was lost between the broker and a worker: for {:.0} s it was in neither the queue nor kombu's unacked set, no worker had reported it started, and none of the {} live workers held it. Sent again as {next}.",
                        entry.celery_id,
                        lost_for.as_secs_f64(),
                        roster.len(),
                    )
                })
                .await?;
            out.push(LostMessage {
                id: entry.id.clone(),
                celery_id: entry.celery_id.clone(),
                outcome,
            });
        }
        Ok(out)
    }

    /// Sends a running task that never ran again, in its slot, under a new Celery id
    /// (`Store::resend`, which checks again that it has looked lost for `waited_at_least`; a
    /// task whose cancel was pending ends cancelled instead), and revokes
    /// the old id, so a copy that turns up later (a restore, a redelivery, a publish that did
    /// reach the broker) is discarded by the workers. `reason(new celery id)` is what the
    /// task's record says.
    async fn resend(
        &self,
        entry: &RunningEntry,
        task: &WorkerTask,
        waited_at_least: Duration,
        reason: impl FnOnce(&str) -> String,
    ) -> Result<ResendOutcome, PoolError> {
        let next = self.prepare(&entry.id, entry.attempts, &task.task_name, &task.parameters);
        let outcome = self
            .store
            .resend(
                &Resend {
                    id: entry.id.clone(),
                    celery_id: entry.celery_id.clone(),
                    token: entry.token,
                    reason: reason(&next.celery_id),
                    next: next.clone(),
                    lost_for: waited_at_least,
                },
                self.settings.retention,
            )
            .await?;
        match &outcome {
            ResendOutcome::Resent { token } => {
                tracing::warn!(task_id = %entry.id, lost = %entry.celery_id, resent_as = %next.celery_id, "a lost message was sent again");
                if !self.settings.inline_broker {
                    self.publish_two_phase(&next, *token).await;
                }
            }
            ResendOutcome::Cancelled => {
                tracing::warn!(task_id = %entry.id, "a cancelled task's message was lost; it ended cancelled");
                self.dispatch_after("lost cancelled message").await;
            }
            ResendOutcome::Present | ResendOutcome::Stale => {}
        }
        if matches!(
            outcome,
            ResendOutcome::Resent { .. } | ResendOutcome::Cancelled
        ) {
            // Workers that start later hear it again on their first event
            // (Scheduler::revoke_superseded).
            if let Err(e) = self
                .broker
                .revoke(std::slice::from_ref(&entry.celery_id))
                .await
            {
                tracing::warn!(celery_id = %entry.celery_id, error = %e, "could not revoke a lost message's old id; a worker that sees a copy is revoked on its STARTED");
            }
        }
        Ok(outcome)
    }

    /// Over RabbitMQ, an unconfirmed dispatch cannot be looked for: its publish may have
    /// reached the queue before the server that made it stopped, or not. Once it has stayed
    /// unconfirmed for [`LostPolicy::unconfirmed_for`] (longer than a publish in flight can
    /// take; counted check after check by `lost_note.lua`), with no result and no worker
    /// having reported it started, it is sent again under a new Celery id in its slot and the
    /// old id is revoked: a copy that did reach the queue is discarded by the worker that
    /// takes it, so the task runs once.
    async fn resend_unconfirmed(&self, entry: &RunningEntry) -> Result<(), PoolError> {
        if entry.published || entry.worker_started {
            return Ok(());
        }
        let Some(waited) = self
            .store
            .note_lost(&entry.id, &entry.celery_id, true)
            .await?
        else {
            return Ok(());
        };
        if waited < self.settings.lost.unconfirmed_for {
            return Ok(());
        }
        let Some(task) = self.store.get(&entry.id).await? else {
            return Ok(());
        };
        self.resend(entry, &task, self.settings.lost.unconfirmed_for, |next| {
            format!(
                "Its dispatch ({}) was never confirmed by the broker (for {:.0} s): the server that published it may have stopped first. Sent again as {next}; the old id is revoked, so a copy that reached the queue does not run.",
                entry.celery_id,
                waited.as_secs_f64(),
            )
        })
        .await?;
        Ok(())
    }

    /// Revokes the Celery ids the pool replaced recently (re-sent lost messages, requeues), for
    /// a worker that just started: it did not hear the revokes sent before, and a copy of such
    /// a message may still reach it.
    pub async fn revoke_superseded(&self) -> Result<usize, PoolError> {
        let ids = self.store.superseded(SUPERSEDED_REVOKE_MAX).await?;
        if !ids.is_empty() {
            self.broker.revoke(&ids).await?;
        }
        Ok(ids.len())
    }

    // --- cancel, priority, limit --------------------------------------------------------------

    /// Cancels a task: a queued one never runs; a running one is revoked with terminate and
    /// ends `cancelled` when the worker confirms (REVOKED).
    pub async fn cancel(&self, id: &str) -> Result<WorkerTask, PoolError> {
        let outcome = self.store.cancel(id, self.settings.retention).await?;
        match outcome {
            CancelOutcome::Missing => return Err(PoolError::NotFound(id.to_string())),
            CancelOutcome::Terminal(st) => {
                return Err(PoolError::Conflict(format!(
                    "Task {id} is already {st}; only queued or running tasks can be cancelled."
                )))
            }
            CancelOutcome::Cancelled => {
                tracing::info!(task_id = %id, "task cancelled");
                self.dispatch_after("cancel").await;
            }
            CancelOutcome::Revoke {
                celery_id,
                token,
                message,
                list,
            } => {
                if !self.settings.inline_broker
                    && !message.is_empty()
                    && self.broker.withdraw(&list, &message).await?
                {
                    // Two-phase mode: withdrawn from the separate broker before any worker saw it.
                    self.store
                        .finish(
                            &Finish {
                                id: id.to_string(),
                                celery_id: Some(celery_id),
                                token: Some(token),
                                status: TaskStatus::Cancelled,
                                error: Some("Cancelled before a worker took it.".into()),
                            },
                            self.settings.retention,
                            &[],
                            0,
                        )
                        .await?;
                    self.dispatch_after("cancel").await;
                } else {
                    let heard = self.broker.revoke(std::slice::from_ref(&celery_id)).await?;
                    tracing::info!(task_id = %id, subscribers = heard, "revoke (terminate) broadcast");
                }
            }
        }
        self.store
            .get(id)
            .await?
            .ok_or_else(|| PoolError::NotFound(id.to_string()))
    }

    /// Changes a queued task's priority; the queue reorders at once.
    pub async fn set_priority(&self, id: &str, priority: i32) -> Result<WorkerTask, PoolError> {
        match self.store.reprioritize(id, priority).await? {
            ReprioritizeOutcome::Moved { .. } => {}
            ReprioritizeOutcome::Missing => return Err(PoolError::NotFound(id.to_string())),
            ReprioritizeOutcome::NotQueued(st) => {
                return Err(PoolError::Conflict(format!(
                    "Task {id} is {st}; only a queued task's priority can change."
                )))
            }
        }
        self.store
            .get(id)
            .await?
            .ok_or_else(|| PoolError::NotFound(id.to_string()))
    }

    /// Sets the limit. Raising it dispatches at once; lowering it lets the pool drain.
    pub async fn set_max_workers(&self, value: u32) -> Result<PoolConfig, PoolError> {
        validate_max_workers(value as i64).map_err(|e| PoolError::Invalid(vec![e]))?;
        let prev = self.store.set_max_workers(value).await?;
        tracing::info!(from = ?prev, to = value, "max_workers changed");
        self.dispatch_after("config change").await;
        self.config().await
    }

    /// The configuration in force.
    pub async fn config(&self) -> Result<PoolConfig, PoolError> {
        let s = self.store.snapshot(0, &[]).await?;
        let mut status = PoolStatus::from_parts(s.max_workers, s.running, vec![], s.queued_count);
        status.fresh_at = Some(chrono::Utc::now());
        Ok(PoolConfig::from_status(&status))
    }

    // --- flow control ----------------------------------------------------------------------

    /// A task failed with an error that says its provider refused it (HTTP 429, "rate
    /// limit"): its source cools down (see `lua/cooldown.lua` for the doubling).
    async fn cool_down_if_refused(&self, id: &str, source: &str, error: Option<&str>) {
        let policy = &self.settings.cooldown;
        if source.is_empty() || !error.is_some_and(|e| policy.pattern.is_match(e)) {
            return;
        }
        let change = Cooldown::Auto {
            base: policy.base,
            max: policy.max,
        };
        match self.store.cooldown(source, change).await {
            Ok(ends) => {
                tracing::warn!(task_id = %id, source, until_ms = ?ends, "the provider refused a task: its source cools down")
            }
            Err(e) => tracing::warn!(source, error = %e, "could not start a cool-down"),
        }
    }

    /// The global limit and every source's rules.
    pub async fn limits(&self) -> Result<Limits, PoolError> {
        let rules = self.store.rules().await?;
        let s = self.store.snapshot(0, &[]).await?;
        let sources = self
            .settings
            .registry
            .sources()
            .into_iter()
            .map(|src| {
                let r = rules.get(&src).copied().unwrap_or_default();
                (src, r)
            })
            .collect();
        Ok(Limits {
            max_workers: s.max_workers,
            sources,
        })
    }

    /// Changes any part of the limits at once; a lowered limit lets its source drain, a raised
    /// one dispatches at once.
    pub async fn set_limits(&self, update: &LimitsUpdate) -> Result<Limits, PoolError> {
        let unknown: Vec<FieldError> = update
            .sources
            .keys()
            .filter(|src| !self.settings.registry.has_source(src))
            .map(|src| {
                FieldError::new(
                    format!("sources.{src}"),
                    format!(
                        "unknown source {src:?}; the pool's sources are {}",
                        self.settings.registry.sources().join(", ")
                    ),
                )
            })
            .collect();
        if !unknown.is_empty() {
            return Err(PoolError::Invalid(unknown));
        }
        update.validate().map_err(PoolError::Invalid)?;
        let changes: Vec<(String, RuleChange)> = update
            .sources
            .iter()
            .flat_map(|(src, u)| {
                [
                    u.limit.map(RuleChange::Limit),
                    u.tenant_limit.map(RuleChange::TenantLimit),
                    u.rate.map(RuleChange::Rate),
                ]
                .into_iter()
                .flatten()
                .map(move |c| (src.clone(), c))
            })
            .collect();
        if !changes.is_empty() {
            self.store.set_rules(&changes, false).await?;
            tracing::info!(changes = ?changes, "source rules changed");
        }
        if let Some(max) = update.max_workers {
            self.store.set_max_workers(max).await?;
            tracing::info!(to = max, "max_workers changed");
        }
        self.dispatch_after("limits change").await;
        self.limits().await
    }

    /// Pauses (`paused`) or resumes the pool (`source` `None`) or one source. Running tasks go
    /// on; resuming dispatches at once. Returns the pool's status.
    pub async fn pause(&self, source: Option<&str>, paused: bool) -> Result<PoolStatus, PoolError> {
        if let Some(src) = source {
            self.known_source(src)?;
        }
        let changed = self.store.pause(source, paused).await?;
        tracing::info!(
            source = source.unwrap_or("(the pool)"),
            paused,
            changed,
            "pause changed"
        );
        if !paused {
            self.dispatch_after("resume").await;
        }
        self.status().await
    }

    /// Cools a source down for `seconds` from now (0 ends its cool-down and dispatches).
    pub async fn cooldown(&self, source: &str, seconds: u32) -> Result<PoolStatus, PoolError> {
        validate_cooldown(seconds).map_err(|e| PoolError::Invalid(vec![e]))?;
        self.known_source(source)?;
        let ends = self
            .store
            .cooldown(source, Cooldown::For(Duration::from_secs(seconds as u64)))
            .await?;
        tracing::info!(source, seconds, until_ms = ?ends, "cool-down set");
        if seconds == 0 {
            self.dispatch_after("end of a cool-down").await;
        }
        self.status().await
    }

    fn known_source(&self, source: &str) -> Result<(), PoolError> {
        if self.settings.registry.has_source(source) {
            return Ok(());
        }
        Err(PoolError::UnknownSource(format!(
            "No source {source:?}; the pool's sources are {}.",
            self.settings.registry.sources().join(", ")
        )))
    }

    /// Seeds the rules of an empty store (`WORKER_POOL_SOURCE_LIMITS`) and files tasks queued
    /// by an older version into their groups: what start-up does before dispatching.
    pub async fn seed_rules(&self, source_limits: &[(String, u32)]) -> Result<(), PoolError> {
        let changes: Vec<(String, RuleChange)> = source_limits
            .iter()
            .map(|(src, n)| (src.clone(), RuleChange::Limit(Some(*n))))
            .collect();
        if self.store.set_rules(&changes, true).await? && !changes.is_empty() {
            tracing::info!(limits = ?source_limits, "source limits seeded");
        }
        let moved = self.store.migrate().await?;
        if moved > 0 {
            tracing::info!(moved, "queued tasks filed into their groups' queues");
        }
        if let Some(n) = self.store.set_aging(self.settings.aging).await? {
            tracing::info!(aging = ?self.settings.aging, reordered = n, "priority aging changed; the queue is ordered by the new rule");
        }
        Ok(())
    }

    /// A dispatch pass after a change that may let tasks start; a failure leaves them queued
    /// for the next pass.
    async fn dispatch_after(&self, what: &str) {
        if let Err(e) = self.dispatch_pass().await {
            tracing::warn!(error = %e, "dispatch after a {what} failed");
        }
    }

    // --- reads -------------------------------------------------------------------------------

    /// The whole pool.
    pub async fn status(&self) -> Result<PoolStatus, PoolError> {
        let s = self
            .store
            .snapshot(
                self.settings.status_queue_limit,
                &self.settings.registry.sources(),
            )
            .await?;
        let (mut running, mut queued) = (s.running, s.queued);
        self.forecast.fill(&mut running).await;
        self.forecast.fill(&mut queued).await;
        let mut status = PoolStatus::from_parts(s.max_workers, running, queued, s.queued_count);
        status.fresh_at = Some(chrono::Utc::now());
        status.paused = s.paused;
        status.sources = s.sources;
        Ok(status)
    }

    /// One task, with its estimates.
    pub async fn task(&self, id: &str) -> Result<WorkerTask, PoolError> {
        let mut t = self
            .store
            .get(id)
            .await?
            .ok_or_else(|| PoolError::NotFound(id.to_string()))?;
        self.forecast.fill(std::slice::from_mut(&mut t)).await;
        Ok(t)
    }

    /// A search (see [`TaskQuery::is_search`]): a page of the matching tasks, in the order of
    /// [`Scheduler::list`], and the cursor of the next page. One call examines at most
    /// [`SEARCH_SCAN`] tasks, so a page can hold fewer than `limit` and still have a next.
    pub async fn search(
        &self,
        query: &TaskQuery,
    ) -> Result<(Vec<WorkerTask>, Option<String>), PoolError> {
        let limit = query
            .limit
            .unwrap_or(DEFAULT_LIST_LIMIT)
            .clamp(1, MAX_LIST_LIMIT);
        let (mut tasks, next) = self.store.search(query, limit, SEARCH_SCAN).await?;
        self.forecast.fill(&mut tasks).await;
        Ok((tasks, next))
    }

    /// Tasks: running first, then queued in dispatch order, then finished, newest first.
    pub async fn list(&self, query: &TaskQuery) -> Result<Vec<WorkerTask>, PoolError> {
        let limit = query
            .limit
            .unwrap_or(DEFAULT_LIST_LIMIT)
            .clamp(1, MAX_LIST_LIMIT) as usize;
        let wants = |st: TaskStatus| query.status.is_none_or(|q| q == st);
        let mut out = Vec::new();
        if wants(TaskStatus::Running) || wants(TaskStatus::Queued) {
            let queue_limit = if wants(TaskStatus::Queued) {
                limit as u32
            } else {
                0
            };
            let s = self.store.snapshot(queue_limit, &[]).await?;
            if wants(TaskStatus::Running) {
                out.extend(s.running);
            }
            if wants(TaskStatus::Queued) {
                out.extend(s.queued);
            }
        }
        if out.len() < limit && query.status.is_none_or(TaskStatus::is_terminal) {
            let rest = (limit - out.len()) as u32;
            out.extend(self.store.history(query.status, rest).await?);
        }
        out.truncate(limit);
        self.forecast.fill(&mut out).await;
        Ok(out)
    }

    // --- time bounds -------------------------------------------------------------------------

    /// Revokes (terminate) the running tasks that have run on a worker longer than their
    /// type's max_runtime; each ends failed, saying so, when the worker confirms (or by the
    /// lost-worker rules). Time alone never frees a slot. Returns the ids revoked now.
    pub async fn check_time_limits(&self) -> Result<Vec<String>, PoolError> {
        let types = self.settings.registry.types();
        if types.iter().all(|t| t.max_runtime.is_none()) {
            return Ok(Vec::new());
        }
        let s = self.store.snapshot(0, &[]).await?;
        let now = chrono::Utc::now();
        let mut revoked = Vec::new();
        let mut last = self
            .limit_revokes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        last.retain(|id, _| s.running.iter().any(|t| &t.task_id == id));
        for (t, entry) in s.running.iter().zip(&s.running_entries) {
            let Some(max) = self
                .settings
                .registry
                .lookup(&t.crm_source, &t.sync_type)
                .and_then(|ty| ty.max_runtime)
            else {
                continue;
            };
            let Some(started) = t.worker_started_at else {
                continue;
            };
            if (now - started).num_milliseconds() < max as i64 * 1000
                || last
                    .get(&t.task_id)
                    .is_some_and(|at| at.elapsed() < TIME_LIMIT_REVOKE_EVERY)
            {
                continue;
            }
            let error = format!(
                "Ran longer than its type allows (max_runtime {}); revoked by the pool.",
                app::dashboard::format::duration(max as f64)
            );
            let Some(celery_id) = self
                .store
                .time_limit(&t.task_id, entry.token, &error)
                .await?
            else {
                continue;
            };
            let heard = self.broker.revoke(&[celery_id]).await?;
            tracing::warn!(task_id = %t.task_id, max_runtime_s = max, subscribers = heard, "task ran past its max_runtime; revoked (terminate)");
            last.insert(t.task_id.clone(), Instant::now());
            revoked.push(t.task_id.clone());
        }
        *self.limit_revokes.lock().unwrap_or_else(|e| e.into_inner()) = last;
        Ok(revoked)
    }

    /// Ends (cancelled, never run) the queued tasks that waited longer than their type's
    /// max_queue_wait. Returns their ids.
    pub async fn expire_queued(&self) -> Result<Vec<String>, PoolError> {
        let ended = self
            .store
            .expire_queued(self.settings.retention, EXPIRE_BATCH)
            .await?;
        for id in &ended {
            tracing::warn!(task_id = %id, "task waited past its max_queue_wait; cancelled");
        }
        Ok(ended)
    }
}

/// The Celery id of a task's dispatch: the task's own id the first time, `<id>~<n>` after it
/// was requeued `n` times. A late result of an earlier dispatch then names another Celery id,
/// and the fencing in `finish.lua` ignores it.
pub fn celery_id_of(task_id: &str, attempts: u32) -> String {
    if attempts == 0 {
        task_id.to_string()
    } else {
        format!("{task_id}~{attempts}")
    }
}

/// What [`Scheduler::reconcile_with_workers`] repaired.
#[derive(Debug, Default)]
pub struct WorkerCheck {
    /// Queued tasks a worker runs or holds, adopted as running.
    pub adopted: Vec<String>,
    /// Running tasks whose worker answered without them and that left no result: kept
    /// running (a worker's answer is no proof the task is over), reported.
    pub unaccounted: Vec<String>,
    /// Running tasks a worker executes whose STARTED the store lacked, recorded as started.
    pub started: Vec<String>,
}

/// The pool task id of a Celery id (see [`celery_id_of`]).
pub fn task_id_of(celery_id: &str) -> &str {
    celery_id
        .split_once('~')
        .map(|(id, _)| id)
        .unwrap_or(celery_id)
}
