//! The server's implementation of the app crate's `PoolBackend`, and the listener's subscriber.
//!
//! This is where the scheduler's errors become the wire's [`AppError`]: faults are logged once
//! here, with their cause, and the client gets a sentence without internals.

use crate::celery::listener::{Feed, Subscriber};
use crate::celery::protocol::{Event, ResultMeta};
use crate::scheduler::{PoolError, Scheduler};
use crate::store::StoreError;
use app::backend::PoolBackend;
use app::errors::AppError;
use app::types::{
    validate_task_id, ConfigUpdate, Dashboard, PoolConfig, PoolStatus, ProcessReport, ServerInfo,
    SubmitRequest, TaskQuery, TaskType, WorkerTask, DASHBOARD_HISTORY,
};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::watch;

/// The one object every view of the pool talks to.
pub struct ServerBackend {
    scheduler: Arc<Scheduler>,
    initial_max_workers: u32,
    /// Bumped on every change any replica announces; live views wait on it.
    changes: watch::Sender<u64>,
    /// Since when worker events have been heard without a break (None while disconnected).
    /// Workers are judged by their heartbeats only after a full timeout of listening.
    events_since: Mutex<Option<Instant>>,
}

impl ServerBackend {
    /// A backend over `scheduler`; `initial_max_workers` seeds an empty store.
    pub fn new(scheduler: Arc<Scheduler>, initial_max_workers: u32) -> Self {
        ServerBackend {
            scheduler,
            initial_max_workers,
            changes: watch::channel(0).0,
            events_since: Mutex::new(None),
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

    /// Seeds `max_workers`, reaps lost workers' tasks, reconciles and dispatches: what follows
    /// every (re)subscription, the periodic pass and "process queue".
    pub async fn resync(&self) -> Result<ProcessReport, PoolError> {
        self.scheduler
            .store()
            .seed_max_workers(self.initial_max_workers)
            .await?;
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
        PoolError::Conflict(message) => AppError::Conflict { message },
        PoolError::Store(e) if e.is_unavailable() => {
            tracing::warn!(error = %e, "store unavailable");
            AppError::store_unavailable()
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

fn check_id(id: &str) -> Result<(), AppError> {
    validate_task_id(id).map_err(|f| AppError::bad_request(f.message))
}

#[async_trait::async_trait]
impl PoolBackend for ServerBackend {
    async fn server_info(&self) -> ServerInfo {
        let ping = self.scheduler.store().ping().await;
        if let Err(e) = &ping {
            tracing::warn!(error = %e, "redis does not answer");
        }
        ServerInfo {
            version: env!("CARGO_PKG_VERSION").to_string(),
            redis_reachable: ping.is_ok(),
            redis_latency_ms: ping.ok().map(|d| d.as_secs_f64() * 1000.0),
            checked_at: chrono::Utc::now(),
        }
    }

    async fn status(&self) -> Result<PoolStatus, AppError> {
        self.scheduler.status().await.map_err(to_app_error)
    }

    async fn dashboard(&self) -> Result<Dashboard, AppError> {
        let status = self.scheduler.status().await.map_err(to_app_error)?;
        let history = self
            .scheduler
            .store()
            .history(None, DASHBOARD_HISTORY)
            .await
            .map_err(|e| to_app_error(e.into()))?;
        Ok(Dashboard {
            status,
            history,
            server_time: chrono::Utc::now(),
        })
    }

    async fn submit(&self, req: SubmitRequest) -> Result<WorkerTask, AppError> {
        self.scheduler.submit(req).await.map_err(to_app_error)
    }

    async fn config(&self) -> Result<PoolConfig, AppError> {
        self.scheduler.config().await.map_err(to_app_error)
    }

    async fn set_config(&self, update: ConfigUpdate) -> Result<PoolConfig, AppError> {
        self.scheduler
            .set_max_workers(update.max_workers)
            .await
            .map_err(to_app_error)
    }

    async fn tasks(&self, query: TaskQuery) -> Result<Vec<WorkerTask>, AppError> {
        self.scheduler.list(query).await.map_err(to_app_error)
    }

    async fn task(&self, id: String) -> Result<WorkerTask, AppError> {
        check_id(&id)?;
        self.scheduler.task(&id).await.map_err(to_app_error)
    }

    async fn cancel(&self, id: String) -> Result<WorkerTask, AppError> {
        check_id(&id)?;
        self.scheduler.cancel(&id).await.map_err(to_app_error)
    }

    async fn set_priority(&self, id: String, priority: i32) -> Result<WorkerTask, AppError> {
        check_id(&id)?;
        app::types::priority_from_json(Some(&serde_json::Value::from(priority)))
            .map_err(|f| AppError::invalid(vec![f]))?;
        self.scheduler
            .set_priority(&id, priority)
            .await
            .map_err(to_app_error)
    }

    async fn process_queue(&self) -> Result<ProcessReport, AppError> {
        self.resync().await.map_err(to_app_error)
    }

    async fn task_types(&self) -> Vec<TaskType> {
        self.scheduler.settings().registry.types().to_vec()
    }
}

#[async_trait::async_trait]
impl Subscriber for ServerBackend {
    async fn connected(&self, feeds: &[Feed]) {
        if feeds.contains(&Feed::CeleryEvents) {
            *self.events_since.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        }
        if feeds.contains(&Feed::Results) {
            self.scheduler.set_results_subscribed(true);
            if let Err(e) = self.resync().await {
                tracing::warn!(error = %e, "reconciliation after subscribing failed; the periodic pass will retry");
            }
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
            if let Err(err) = self
                .scheduler
                .store()
                .worker_event(&e.kind, &e.hostname)
                .await
            {
                tracing::debug!(error = %err, worker = %e.hostname, "could not record a worker event");
            }
            if e.kind == "worker-offline" {
                // Don't wait for the next tick: its tasks are lost now.
                self.reap_if_safe().await;
            }
        }
    }

    async fn pool_event(&self, _payload: &str) {
        self.bump();
    }
}
