//! The server's implementation of the app crate's `PoolBackend`, and the listener's subscriber.
//!
//! This is where the scheduler's errors become the wire's [`AppError`]: faults are logged once
//! here, with their cause, and the client gets a sentence without internals.

use crate::celery::listener::{Feed, Subscriber};
use crate::celery::protocol::{Event, ResultMeta};
use crate::scheduler::{PoolError, Scheduler};
use crate::store::{AuditRecord, StoreError};
use app::backend::PoolBackend;
use app::errors::AppError;
use app::types::{
    validate_task_id, ConfigUpdate, Dashboard, Limits, LimitsUpdate, PoolConfig, PoolStatus,
    ProcessReport, Rate, RetryFilter, RetryReport, ServerInfo, SourceRules, SubmitRequest,
    TaskList, TaskQuery, TaskType, TaskView, WorkerTask, DASHBOARD_HISTORY,
};
use app::types::{AuditList, ForgetReport, PoolStats, StatsWindow, WebhookList, WorkerList};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::watch;

/// The one object every view of the pool talks to.
pub struct ServerBackend {
    scheduler: Arc<Scheduler>,
    /// What an empty store starts with.
    seed: Seed,
    /// Bumped on every change any replica announces; live views wait on it.
    changes: watch::Sender<u64>,
    /// Since when worker events have been heard without a break (None while disconnected).
    /// Workers are judged by their heartbeats only after a full timeout of listening.
    events_since: Mutex<Option<Instant>>,
    /// Result notifications were subscribed once already: a new subscription is a reconnect,
    /// after which the workers are asked what they run before anything is dispatched.
    results_seen: std::sync::atomic::AtomicBool,
    /// False from the first "unreachable" answer of the store until a probe gets through:
    /// meanwhile writes are refused at once (503) and reads answer from `last_seen`.
    store_ok: AtomicBool,
    /// The last state read from the store, for reads during an outage.
    last_seen: Mutex<LastSeen>,
    /// Who may change the pool.
    security: crate::auth::Security,
}

/// What an empty store starts with (the runtime values, kept in Redis, win).
#[derive(Clone, Debug, Default)]
pub struct Seed {
    /// `MAX_SYNC_WORKERS`.
    pub max_workers: u32,
    /// `WORKER_POOL_SOURCE_LIMITS`.
    pub source_limits: Vec<(String, u32)>,
}

/// What the server last read from the store.
#[derive(Default)]
struct LastSeen {
    status: Option<PoolStatus>,
    history: Vec<WorkerTask>,
    workers: Vec<app::types::WorkerInfo>,
    audit: Vec<app::types::AuditEntry>,
}

/// The most entries the audit trail keeps, whatever its retention.
pub const AUDIT_CAP: u64 = 100_000;

impl ServerBackend {
    /// A backend over `scheduler`; `seed` is what an empty store starts with.
    pub fn new(scheduler: Arc<Scheduler>, seed: Seed, security: crate::auth::Security) -> Self {
        ServerBackend {
            security,
            scheduler,
            seed,
            changes: watch::channel(0).0,
            events_since: Mutex::new(None),
            results_seen: std::sync::atomic::AtomicBool::new(false),
            store_ok: AtomicBool::new(true),
            last_seen: Mutex::new(LastSeen::default()),
        }
    }

    /// The scheduler.
    pub fn scheduler(&self) -> &Arc<Scheduler> {
        &self.scheduler
    }

    /// A receiver that changes whenever the pool does.
    pub fn subscribe_changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    fn bump(&self) {
        self.changes.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// Who may change the pool.
    pub fn security(&self) -> &crate::auth::Security {
        &self.security
    }

    /// The name of the token a signed-in dashboard session signed in with; `None` when `id`
    /// is not one.
    pub async fn session_token_name(&self, id: &str) -> Result<Option<String>, AppError> {
        if id.is_empty() || id.len() > 128 || !id.chars().all(|c| c.is_ascii_hexdigit()) {
            return Ok(None);
        }
        self.scheduler
            .store()
            .session(id)
            .await
            .map_err(|e| self.write_error(e.into()))
    }

    /// Records a change in the audit trail: who made it (the request's [`Actor`], set by the
    /// HTTP guard), what, and before → after. A failure to record is logged; the change itself
    /// has happened and stands.
    ///
    /// [`Actor`]: crate::auth::Actor
    async fn audit(&self, action: &str, target: &str, before: Value, after: Value) {
        let actor = crate::auth::current_actor().unwrap_or_else(|| crate::auth::Actor {
            who: "server".into(),
            address: "local".into(),
        });
        let record = AuditRecord {
            who: actor.who,
            address: actor.address,
            action: action.into(),
            target: target.into(),
            before,
            after,
        };
        let retention = self.scheduler.settings().audit_retention;
        if let Err(e) = self
            .scheduler
            .store()
            .audit_append(&record, retention, AUDIT_CAP)
            .await
        {
            tracing::warn!(error = %e, action, target, "a change could not be recorded in the audit trail");
        }
    }

    /// A task's status and priority now, for an audit entry's "before" (null when unknown).
    async fn task_state(&self, id: &str) -> Value {
        match self.scheduler.store().get(id).await {
            Ok(Some(t)) => json!({"status": t.status, "priority": t.priority}),
            _ => Value::Null,
        }
    }

    /// True unless the store was found unreachable and no probe has got through since.
    pub fn store_ok(&self) -> bool {
        self.store_ok.load(Ordering::SeqCst)
    }

    fn set_store_ok(&self, ok: bool) {
        if self.store_ok.swap(ok, Ordering::SeqCst) != ok {
            if ok {
                tracing::info!("the store answers again");
            } else {
                tracing::warn!("the store is unreachable: refusing writes, answering reads from the last state seen");
            }
            self.bump();
        }
    }

    /// Notes an error: an unreachable store flips the health flag.
    fn note(&self, e: &PoolError) {
        let unavailable = match e {
            PoolError::Store(s) => s.is_unavailable(),
            _ => false,
        };
        if unavailable {
            self.set_store_ok(false);
        }
    }

    /// Refuses a write at once while the store is known to be unreachable.
    fn guard_write(&self) -> Result<(), AppError> {
        if self.store_ok() {
            Ok(())
        } else {
            Err(AppError::store_unavailable())
        }
    }

    fn lock_seen(&self) -> std::sync::MutexGuard<'_, LastSeen> {
        self.last_seen.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The last status seen, marked stale; 503 when nothing was ever seen.
    fn stale_status(&self) -> Result<PoolStatus, AppError> {
        let mut s = self
            .lock_seen()
            .status
            .clone()
            .ok_or_else(AppError::store_unavailable)?;
        s.stale = true;
        Ok(s)
    }

    /// Every task last seen (running, queued, recently finished), and when, marked stale;
    /// 503 when nothing was ever seen.
    fn stale_tasks(
        &self,
    ) -> Result<(Vec<WorkerTask>, Option<chrono::DateTime<chrono::Utc>>), AppError> {
        let status = self.stale_status()?;
        let history = self.lock_seen().history.clone();
        let fresh_at = status.fresh_at;
        let tasks = status
            .active_tasks
            .into_iter()
            .chain(status.queued_tasks)
            .chain(history)
            .collect();
        Ok((tasks, fresh_at))
    }

    async fn fresh_status(&self) -> Result<PoolStatus, PoolError> {
        let s = self.scheduler.status().await?;
        self.lock_seen().status = Some(s.clone());
        Ok(s)
    }

    async fn fresh_history(&self) -> Result<Vec<WorkerTask>, PoolError> {
        let h = self
            .scheduler
            .store()
            .history(None, DASHBOARD_HISTORY)
            .await?;
        self.lock_seen().history = h.clone();
        Ok(h)
    }

    /// Runs a read against the store, or, while it is unreachable, answers from the last state
    /// seen with `fallback`.
    async fn read<T, F, Fut>(
        &self,
        fresh: F,
        fallback: impl FnOnce(&Self) -> Result<T, AppError>,
    ) -> Result<T, AppError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<T, PoolError>>,
    {
        if self.store_ok() {
            match fresh().await {
                Ok(v) => return Ok(v),
                Err(e) => {
                    self.note(&e);
                    if self.store_ok() {
                        return Err(to_app_error(e));
                    }
                }
            }
        }
        fallback(self)
    }

    /// Checks whether the store answers (the health probe, every 250 ms): flips the health
    /// flag, and keeps the last state seen fresh while it answers.
    pub async fn probe(&self) {
        let ok = self.scheduler.store().ping().await.is_ok();
        let was_ok = self.store_ok();
        self.set_store_ok(ok);
        if ok && !was_ok {
            // Back: completions that happened meanwhile are picked up now.
            if let Err(e) = self.resync().await {
                tracing::warn!(error = %e, "reconciliation after the store came back failed");
            }
        }
        if ok {
            if let Err(e) = self.fresh_status().await {
                self.note(&e);
            }
        }
    }

    /// Seeds `max_workers` and the source limits (an empty store), reaps lost workers' tasks,
    /// reconciles and dispatches: what follows every (re)subscription, the periodic pass and
    /// "process queue".
    pub async fn resync(&self) -> Result<ProcessReport, PoolError> {
        self.scheduler
            .store()
            .seed_max_workers(self.seed.max_workers)
            .await?;
        self.scheduler.seed_rules(&self.seed.source_limits).await?;
        let reclaimed = self.reap_if_safe().await;
        let mut report = self.scheduler.reconcile().await?;
        report.reclaimed = reclaimed;
        Ok(report)
    }

    /// True once worker events have been heard, without a break, for a whole heartbeat timeout:
    /// a silent worker is then really silent, not merely unheard.
    fn events_trusted(&self) -> bool {
        let since = *self.events_since.lock().unwrap_or_else(|e| e.into_inner());
        since.is_some_and(|t| t.elapsed() >= self.scheduler.settings().reap.heartbeat_timeout)
    }

    /// Looks for lost messages (see `Scheduler::check_lost_messages`) when the worker events
    /// can be trusted: the roster of live workers comes from them.
    pub async fn check_lost_if_safe(&self) {
        if !self.events_trusted() || !self.scheduler.results_subscribed() || !self.store_ok() {
            return;
        }
        if let Err(e) = self.scheduler.check_lost_messages().await {
            tracing::warn!(error = %e, "looking for lost messages failed");
        }
    }

    /// Revokes tasks past their type's max_runtime and ends queued ones past their
    /// max_queue_wait (see the scheduler), while the store answers and results are heard.
    pub async fn enforce_time_bounds(&self) {
        if !self.scheduler.results_subscribed() || !self.store_ok() {
            return;
        }
        if let Err(e) = self.scheduler.check_time_limits().await {
            tracing::warn!(error = %e, "checking max_runtime failed");
        }
        if let Err(e) = self.scheduler.expire_queued().await {
            tracing::warn!(error = %e, "checking max_queue_wait failed");
        }
    }

    /// Records the pool's gauges in the current minute of its history (every few seconds).
    pub async fn sample_stats(&self) {
        if !self.store_ok() {
            return;
        }
        if let Err(e) = self.scheduler.store().sample_minute().await {
            tracing::debug!(error = %e, "sampling the pool for its history failed");
        }
    }

    /// Reaps lost workers' tasks when the worker events can be trusted; returns the ids.
    pub async fn reap_if_safe(&self) -> Vec<String> {
        if !self.events_trusted() {
            return Vec::new();
        }
        match self.scheduler.reap().await {
            Ok(r) => r.into_iter().map(|r| r.id).collect(),
            Err(e) => {
                tracing::warn!(error = %e, "looking for lost workers failed");
                Vec::new()
            }
        }
    }
}

/// Maps a scheduler error to the wire, logging the cause of faults exactly once.
pub fn to_app_error(e: PoolError) -> AppError {
    match e {
        PoolError::Invalid(fields) => AppError::invalid(fields),
        PoolError::NotFound(id) => AppError::task_not_found(&id),
        PoolError::UnknownSource(message) | PoolError::UnknownWorker(message) => {
            AppError::NotFound { message }
        }
        PoolError::Conflict(message) => AppError::Conflict { message },
        PoolError::Store(e) if e.is_unavailable() => {
            tracing::warn!(error = %e, "store unavailable");
            AppError::store_unavailable()
        }
        PoolError::Store(StoreError::NotDurable {
            confirmed,
            wanted,
            timeout,
        }) => {
            tracing::warn!(
                confirmed,
                wanted,
                ?timeout,
                "a write was not confirmed by the replicas"
            );
            AppError::Unavailable {
                message: format!(
                    "The change was made, but {confirmed} of the {wanted} Redis replica(s) \
                     WORKER_POOL_REDIS_REPLICAS asks for confirmed it within {} ms: it may not \
                     survive a failover of Redis. Send it again (a submit with its task_id is \
                     safe to send again).",
                    timeout.as_millis()
                ),
            }
        }
        PoolError::Store(StoreError::Corrupt(m)) => {
            tracing::error!(error = %m, "corrupt store data");
            AppError::internal()
        }
        PoolError::Store(e) => {
            tracing::error!(error = %e, "store error");
            AppError::internal()
        }
        PoolError::Broker(e) => {
            tracing::warn!(error = %e, "broker unavailable");
            AppError::Unavailable {
                message: "Celery's broker cannot be reached right now. Try again shortly.".into(),
            }
        }
    }
}

impl ServerBackend {
    /// Maps a write's error, noting an unreachable store.
    fn write_error(&self, e: PoolError) -> AppError {
        self.note(&e);
        to_app_error(e)
    }
}

fn check_id(id: &str) -> Result<(), AppError> {
    validate_task_id(id).map_err(|f| AppError::bad_request(f.message))
}

#[async_trait::async_trait]
impl PoolBackend for ServerBackend {
    async fn server_info(&self, session: Option<String>) -> ServerInfo {
        let ping = self.scheduler.store().ping().await;
        self.set_store_ok(ping.is_ok());
        if let Err(e) = &ping {
            tracing::warn!(error = %e, "redis does not answer");
        }
        let auth_required = self.security.auth_required();
        let signed_in = match (auth_required, session) {
            (true, Some(id)) => matches!(self.session_token_name(&id).await, Ok(Some(_))),
            _ => false,
        };
        ServerInfo {
            version: env!("CARGO_PKG_VERSION").to_string(),
            redis_reachable: ping.is_ok(),
            redis_latency_ms: ping.ok().map(|d| d.as_secs_f64() * 1000.0),
            checked_at: chrono::Utc::now(),
            auth_required,
            signed_in,
        }
    }

    async fn sign_in(&self, token: String) -> Result<String, AppError> {
        if !self.security.auth_required() {
            return Err(AppError::conflict(
                "This server needs no sign-in: it has no API token.",
            ));
        }
        let Some(name) = self.security.token_name(token.trim()).map(str::to_string) else {
            tracing::warn!("dashboard sign-in with a wrong token");
            self.audit("sign_in", "", Value::Null, json!({"signed_in": false}))
                .await;
            return Err(AppError::Unauthorized {
                message: "That is not the API token.".into(),
            });
        };
        self.guard_write()?;
        let id = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        self.scheduler
            .store()
            .create_session(&id, crate::auth::SESSION_TTL, &name)
            .await
            .map_err(|e| self.write_error(e.into()))?;
        self.audit("sign_in", &name, Value::Null, json!({"signed_in": true}))
            .await;
        Ok(crate::auth::session_cookie(
            Some(&id),
            self.security.secure_cookie,
        ))
    }

    async fn sign_out(&self, session: Option<String>) -> String {
        if let Some(id) = session {
            if let Err(e) = self.scheduler.store().delete_session(&id).await {
                tracing::warn!(error = %e, "could not end a session");
            }
        }
        crate::auth::session_cookie(None, self.security.secure_cookie)
    }

    async fn status(&self) -> Result<PoolStatus, AppError> {
        self.read(|| self.fresh_status(), Self::stale_status).await
    }

    async fn dashboard(&self) -> Result<Dashboard, AppError> {
        self.read(
            || async {
                let workers = self.scheduler.workers().await?.workers;
                let audit = self
                    .scheduler
                    .store()
                    .audit(app::types::DASHBOARD_AUDIT, None, None)
                    .await?;
                {
                    let mut seen = self.lock_seen();
                    seen.workers = workers.clone();
                    seen.audit = audit.clone();
                }
                Ok(Dashboard {
                    status: self.fresh_status().await?,
                    history: self.fresh_history().await?,
                    server_time: chrono::Utc::now(),
                    workers,
                    audit,
                })
            },
            |me| {
                let status = me.stale_status()?;
                // One guard for all three: a guard in a struct literal lives to the end of the
                // statement, so locking again there deadlocked (and froze the server).
                let seen = me.lock_seen();
                Ok(Dashboard {
                    status,
                    history: seen.history.clone(),
                    server_time: chrono::Utc::now(),
                    workers: seen.workers.clone(),
                    audit: seen.audit.clone(),
                })
            },
        )
        .await
    }

    async fn submit(&self, req: SubmitRequest) -> Result<WorkerTask, AppError> {
        self.guard_write()?;
        self.scheduler
            .submit(req)
            .await
            .map_err(|e| self.write_error(e))
    }

    async fn config(&self) -> Result<PoolConfig, AppError> {
        self.read(
            || self.scheduler.config(),
            |me| me.stale_status().map(|s| PoolConfig::from_status(&s)),
        )
        .await
    }

    async fn set_config(&self, update: ConfigUpdate) -> Result<PoolConfig, AppError> {
        self.guard_write()?;
        let before = self.scheduler.config().await.ok().map(|c| c.max_workers);
        let after = self
            .scheduler
            .set_max_workers(update.max_workers)
            .await
            .map_err(|e| self.write_error(e))?;
        self.audit(
            "config",
            "",
            json!({"max_workers": before}),
            json!({"max_workers": after.max_workers}),
        )
        .await;
        Ok(after)
    }

    async fn tasks(&self, query: TaskQuery) -> Result<TaskList, AppError> {
        self.read(
            || async {
                let (tasks, next) = if query.is_search() {
                    self.scheduler.search(&query).await?
                } else {
                    (self.scheduler.list(&query).await?, None)
                };
                Ok(TaskList {
                    tasks,
                    stale: false,
                    fresh_at: Some(chrono::Utc::now()),
                    next,
                })
            },
            |me| {
                if query.is_search() {
                    // The last state seen holds too little to search; the store must answer.
                    return Err(AppError::store_unavailable());
                }
                let (seen, fresh_at) = me.stale_tasks()?;
                let limit = query.limit.unwrap_or(app::types::DEFAULT_LIST_LIMIT) as usize;
                let tasks = seen
                    .into_iter()
                    .filter(|t| query.status.is_none_or(|s| s == t.status))
                    .take(limit)
                    .collect();
                Ok(TaskList {
                    tasks,
                    stale: true,
                    fresh_at,
                    next: None,
                })
            },
        )
        .await
    }

    async fn task(&self, id: String) -> Result<TaskView, AppError> {
        check_id(&id)?;
        self.read(
            || async {
                Ok(TaskView {
                    task: self.scheduler.task(&id).await?,
                    stale: false,
                    fresh_at: Some(chrono::Utc::now()),
                })
            },
            |me| {
                let (seen, fresh_at) = me.stale_tasks()?;
                match seen.into_iter().find(|t| t.task_id == id) {
                    Some(task) => Ok(TaskView {
                        task,
                        stale: true,
                        fresh_at,
                    }),
                    None => Err(AppError::store_unavailable()),
                }
            },
        )
        .await
    }

    async fn cancel(&self, id: String) -> Result<WorkerTask, AppError> {
        check_id(&id)?;
        self.guard_write()?;
        let before = self.task_state(&id).await;
        let t = self
            .scheduler
            .cancel(&id)
            .await
            .map_err(|e| self.write_error(e))?;
        self.audit("cancel", &id, before, json!({"status": t.status}))
            .await;
        Ok(t)
    }

    async fn set_priority(&self, id: String, priority: i32) -> Result<WorkerTask, AppError> {
        check_id(&id)?;
        app::types::validate_priority(priority as i64).map_err(|f| AppError::invalid(vec![f]))?;
        self.guard_write()?;
        let before = self.task_state(&id).await;
        let t = self
            .scheduler
            .set_priority(&id, priority)
            .await
            .map_err(|e| self.write_error(e))?;
        self.audit("priority", &id, before, json!({"priority": t.priority}))
            .await;
        Ok(t)
    }

    async fn retry(&self, id: String) -> Result<WorkerTask, AppError> {
        check_id(&id)?;
        self.guard_write()?;
        let before = self.task_state(&id).await;
        let t = self
            .scheduler
            .retry(&id)
            .await
            .map_err(|e| self.write_error(e))?;
        self.audit("retry", &id, before, json!({"retried_by": t.task_id}))
            .await;
        Ok(t)
    }

    async fn bulk(&self, req: app::types::BulkRequest) -> Result<app::types::BulkReport, AppError> {
        self.guard_write()?;
        let r = self
            .scheduler
            .bulk(&req)
            .await
            .map_err(|e| self.write_error(e))?;
        if !req.dry_run {
            let filter: serde_json::Map<String, Value> = req
                .filter
                .to_pairs()
                .into_iter()
                .map(|(k, v)| (k.to_string(), Value::String(v)))
                .collect();
            self.audit(
                &format!("bulk_{}", req.action.as_str()),
                "",
                json!({"filter": filter, "priority": req.priority, "matched": r.matched.len()}),
                json!({"changed": r.changed, "skipped": r.skipped.len(),
                    "created": r.created.iter().map(|t| t.task_id.as_str()).collect::<Vec<_>>()}),
            )
            .await;
        }
        Ok(r)
    }

    async fn retry_many(&self, filter: RetryFilter) -> Result<RetryReport, AppError> {
        self.guard_write()?;
        let r = self
            .scheduler
            .retry_many(&filter)
            .await
            .map_err(|e| self.write_error(e))?;
        let retried: Vec<(&str, &str)> = r
            .retried
            .iter()
            .map(|t| (t.retry_of.as_deref().unwrap_or(""), t.task_id.as_str()))
            .collect();
        self.audit(
            "retry_many",
            "",
            serde_json::to_value(&filter).unwrap_or(Value::Null),
            json!({"retried": retried, "already_retried": r.already_retried.len(),
                "skipped": r.skipped.len()}),
        )
        .await;
        Ok(r)
    }

    async fn process_queue(&self) -> Result<ProcessReport, AppError> {
        self.guard_write()?;
        let r = self.resync().await.map_err(|e| self.write_error(e))?;
        self.audit(
            "process_queue",
            "",
            Value::Null,
            json!({"reconciled": r.reconciled, "dispatched": r.dispatched,
                "reclaimed": r.reclaimed}),
        )
        .await;
        Ok(r)
    }

    async fn task_types(&self) -> Vec<TaskType> {
        self.scheduler.settings().registry.types().to_vec()
    }

    async fn limits(&self) -> Result<Limits, AppError> {
        self.read(
            || self.scheduler.limits(),
            |me| {
                let s = me.stale_status()?;
                let sources = s
                    .sources
                    .into_iter()
                    .map(|(src, st)| {
                        let rules = SourceRules {
                            limit: st.limit,
                            tenant_limit: st.tenant_limit,
                            rate: st.rate.map(|r| Rate {
                                starts: r.starts,
                                per_seconds: r.per_seconds,
                            }),
                        };
                        (src, rules)
                    })
                    .collect();
                Ok(Limits {
                    max_workers: s.max_workers,
                    sources,
                })
            },
        )
        .await
    }

    async fn set_limits(&self, update: LimitsUpdate) -> Result<Limits, AppError> {
        self.guard_write()?;
        let before = self.scheduler.limits().await.ok();
        let after = self
            .scheduler
            .set_limits(&update)
            .await
            .map_err(|e| self.write_error(e))?;
        self.audit(
            "limits",
            "",
            serde_json::to_value(&before).unwrap_or(Value::Null),
            serde_json::to_value(&after).unwrap_or(Value::Null),
        )
        .await;
        Ok(after)
    }

    async fn pause(&self, source: Option<String>, paused: bool) -> Result<PoolStatus, AppError> {
        self.guard_write()?;
        let paused_of = |s: &PoolStatus| match &source {
            None => s.paused,
            Some(src) => s.sources.get(src).is_some_and(|x| x.paused),
        };
        let before = self.scheduler.status().await.ok().map(|s| paused_of(&s));
        let after = self
            .scheduler
            .pause(source.as_deref(), paused)
            .await
            .map_err(|e| self.write_error(e))?;
        self.audit(
            if paused { "pause" } else { "resume" },
            source.as_deref().unwrap_or(""),
            json!({"paused": before}),
            json!({"paused": paused_of(&after)}),
        )
        .await;
        Ok(after)
    }

    async fn cooldown(&self, source: String, seconds: u32) -> Result<PoolStatus, AppError> {
        self.guard_write()?;
        let until = |s: &PoolStatus| s.sources.get(&source).and_then(|x| x.cooldown_until);
        let before = self.scheduler.status().await.ok().and_then(|s| until(&s));
        let after = self
            .scheduler
            .cooldown(&source, seconds)
            .await
            .map_err(|e| self.write_error(e))?;
        self.audit(
            "cooldown",
            &source,
            json!({"cooldown_until": before}),
            json!({"cooldown_until": until(&after), "seconds": seconds}),
        )
        .await;
        Ok(after)
    }

    async fn story(&self, id: String) -> Result<app::types::TaskStory, AppError> {
        check_id(&id)?;
        self.read(
            || self.scheduler.story(&id),
            |_| Err(AppError::store_unavailable()),
        )
        .await
    }

    async fn stats(&self, window: StatsWindow) -> Result<PoolStats, AppError> {
        self.read(
            || self.scheduler.stats(window),
            |_| Err(AppError::store_unavailable()),
        )
        .await
    }

    async fn workers(&self) -> Result<WorkerList, AppError> {
        self.read(
            || self.scheduler.workers(),
            |_| Err(AppError::store_unavailable()),
        )
        .await
    }

    async fn doctor(&self) -> app::types::DoctorReport {
        crate::doctor::examine(&self.scheduler).await
    }

    async fn forget_worker(&self, hostname: String) -> Result<ForgetReport, AppError> {
        self.guard_write()?;
        let before = self
            .scheduler
            .workers()
            .await
            .ok()
            .and_then(|l| l.workers.into_iter().find(|w| w.hostname == hostname))
            .map(|w| json!({"state": w.state, "tasks": w.tasks}))
            .unwrap_or(Value::Null);
        let r = self
            .scheduler
            .forget_worker(&hostname)
            .await
            .map_err(|e| self.write_error(e))?;
        self.audit(
            "forget_worker",
            &hostname,
            before,
            json!({"released": r.released}),
        )
        .await;
        Ok(r)
    }

    async fn webhooks(&self) -> Result<WebhookList, AppError> {
        let urls = self.scheduler.settings().webhook_urls.clone();
        self.read(
            || async {
                let events = self
                    .scheduler
                    .store()
                    .hooks_list(100)
                    .await?
                    .into_iter()
                    .map(|(id, fields)| crate::webhooks::view(&id, &fields, &urls))
                    .collect();
                Ok(WebhookList {
                    urls: urls.clone(),
                    events,
                })
            },
            |_| Err(AppError::store_unavailable()),
        )
        .await
    }

    async fn audit(
        &self,
        limit: Option<u32>,
        since: Option<String>,
        before: Option<String>,
    ) -> Result<AuditList, AppError> {
        let limit = limit.unwrap_or(app::types::DEFAULT_AUDIT_LIMIT);
        if !(1..=app::types::MAX_AUDIT_LIMIT).contains(&limit) {
            return Err(AppError::bad_request(format!(
                "limit must be a whole number from 1 to {}",
                app::types::MAX_AUDIT_LIMIT
            )));
        }
        for (name, cursor) in [("since", &since), ("before", &before)] {
            if let Some(c) = cursor {
                let ok = c.split_once('-').is_some_and(|(a, b)| {
                    !a.is_empty()
                        && !b.is_empty()
                        && a.len() <= 20
                        && b.len() <= 20
                        && a.chars().chain(b.chars()).all(|c| c.is_ascii_digit())
                });
                if !ok {
                    return Err(AppError::bad_request(format!(
                        "{name} must be an audit entry's id, such as 1764530000000-0"
                    )));
                }
            }
        }
        self.read(
            || async {
                let entries = self
                    .scheduler
                    .store()
                    .audit(limit, since.as_deref(), before.as_deref())
                    .await?;
                let next_before = (entries.len() == limit as usize)
                    .then(|| entries.last().map(|e| e.id.clone()))
                    .flatten();
                Ok(AuditList {
                    entries,
                    next_before,
                })
            },
            |_| Err(AppError::store_unavailable()),
        )
        .await
    }
}

#[async_trait::async_trait]
impl Subscriber for ServerBackend {
    async fn connected(&self, feeds: &[Feed]) {
        if feeds.contains(&Feed::Results) {
            // A reconnect may follow a failover that lost writes: a task a worker runs may be
            // queued in the store again. The workers say what they run before dispatch resumes.
            if self
                .results_seen
                .swap(true, std::sync::atomic::Ordering::SeqCst)
            {
                if let Err(e) = self.scheduler.reconcile_with_workers().await {
                    tracing::warn!(error = %e, "could not ask the workers what they run after the reconnect");
                }
            }
            self.scheduler.set_results_subscribed(true);
            if let Err(e) = self.resync().await {
                tracing::warn!(error = %e, "reconciliation after subscribing failed; the periodic pass will retry");
            }
        }
        // Worker events are heard from here on: the listener delivers none while this runs
        // (the workers' answers above can take a heartbeat timeout), so the heartbeats they
        // bring are judged only after a whole timeout of them from now, never on a record
        // that went stale while they waited.
        if feeds.contains(&Feed::CeleryEvents) {
            *self.events_since.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        }
        self.bump();
    }

    async fn disconnected(&self, feeds: &[Feed]) {
        if feeds.contains(&Feed::CeleryEvents) {
            *self.events_since.lock().unwrap_or_else(|e| e.into_inner()) = None;
        }
        if feeds.contains(&Feed::Results) {
            self.scheduler.set_results_subscribed(false);
        }
        self.bump();
    }

    async fn result(&self, meta: ResultMeta) {
        if let Err(e) = self.scheduler.on_result(&meta).await {
            tracing::warn!(celery_id = %meta.task_id, error = %e, "could not apply a result; reconciliation will");
        }
    }

    async fn celery_events(&self, events: Vec<Event>) {
        for e in events.iter().filter(|e| e.kind.starts_with("worker-")) {
            let recorded = self
                .scheduler
                .store()
                .worker_event(
                    &e.kind,
                    &e.hostname,
                    e.pid,
                    heartbeat_interval(e.freq),
                    e.active,
                )
                .await;
            match recorded {
                // A worker that just started did not hear the revokes of the messages the pool
                // replaced; a stale copy of one may still reach it.
                Ok(true) => match self.scheduler.revoke_superseded().await {
                    Ok(0) => {}
                    Ok(n) => {
                        tracing::info!(worker = %e.hostname, ids = n, "superseded Celery ids revoked for a new worker")
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, worker = %e.hostname, "could not revoke superseded ids for a new worker")
                    }
                },
                Ok(false) => {}
                Err(err) => {
                    tracing::debug!(error = %err, worker = %e.hostname, "could not record a worker event")
                }
            }
        }
    }

    async fn pool_event(&self, _payload: &str) {
        self.bump();
    }
}

/// A worker's heartbeat interval from its event's `freq` (seconds; Celery's default is 2).
fn heartbeat_interval(freq: Option<f64>) -> std::time::Duration {
    freq.filter(|f| f.is_finite() && *f > 0.0 && *f <= 3600.0)
        .map(std::time::Duration::from_secs_f64)
        .unwrap_or(std::time::Duration::from_secs(2))
}
