//! What the pool reports: its status and state, its configuration, task lists, the task
//! types, a process-queue report, the dashboard's data and the server's health.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{SourceRules, WorkerTask, MAX_WORKERS, MIN_WORKERS};
use std::collections::BTreeMap;

/// The seed's three pool states.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PoolState {
    /// At least one slot is free.
    Available,
    /// Every slot is taken and nothing waits.
    Busy,
    /// Tasks are waiting for a slot.
    Overloaded,
}

impl PoolState {
    /// The state that follows from the counts.
    pub fn from_counts(max_workers: u32, active: u64, queued: u64) -> Self {
        if queued > 0 && active >= max_workers as u64 {
            PoolState::Overloaded
        } else if active < max_workers as u64 {
            PoolState::Available
        } else {
            PoolState::Busy
        }
    }

    /// The lower-case name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            PoolState::Available => "available",
            PoolState::Busy => "busy",
            PoolState::Overloaded => "overloaded",
        }
    }

    /// The seed's label, with its traffic light.
    pub fn label(self) -> &'static str {
        match self {
            PoolState::Available => "🟢 Available",
            PoolState::Busy => "🟡 Busy",
            PoolState::Overloaded => "🔴 Overloaded",
        }
    }
}

/// A snapshot of the whole pool: `GET status/`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PoolStatus {
    /// The limit in force.
    pub max_workers: u32,
    /// Tasks holding a slot.
    pub active_count: u64,
    /// Tasks waiting for one.
    pub queued_count: u64,
    /// Free slots (never negative, even while draining after the limit was lowered).
    pub available_workers: u64,
    /// Slots in use, as a percentage of `max_workers`, capped at 100.
    pub utilization: f64,
    /// Available, busy or overloaded.
    pub state: PoolState,
    /// Tasks holding a slot, oldest dispatch first.
    pub active_tasks: Vec<WorkerTask>,
    /// Waiting tasks in dispatch order.
    pub queued_tasks: Vec<WorkerTask>,
    /// True when the store could not be reached and this is the last state seen.
    #[serde(default)]
    pub stale: bool,
    /// When this state was last read from the store.
    #[serde(default)]
    pub fresh_at: Option<DateTime<Utc>>,
    /// True while the whole pool is paused: nothing new starts.
    #[serde(default)]
    pub paused: bool,
    /// Every source: what runs and waits, its rules and their use.
    #[serde(default)]
    pub sources: BTreeMap<String, SourceStatus>,
}

/// One source in `GET status/`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SourceStatus {
    /// Its tasks holding a slot.
    pub running: u64,
    /// Its tasks waiting.
    pub queued: u64,
    /// Its limit, if any.
    pub limit: Option<u32>,
    /// Its per-tenant limit, if any.
    pub tenant_limit: Option<u32>,
    /// Its rate budget and how much of the current window is used, if it has one.
    pub rate: Option<RateUse>,
    /// Until when it cools down, while it does.
    pub cooldown_until: Option<DateTime<Utc>>,
    /// True while it is paused.
    pub paused: bool,
}

/// A rate budget and its use.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RateUse {
    /// Starts allowed per window.
    pub starts: u32,
    /// The window, in seconds.
    pub per_seconds: u32,
    /// Starts in the last window.
    pub used: u64,
}

/// `GET limits/`: the global limit and every source's rules.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Limits {
    /// The global limit.
    pub max_workers: u32,
    /// Every source of the registry, with its rules (`null` where it has none).
    pub sources: BTreeMap<String, SourceRules>,
}

impl PoolStatus {
    /// Derives the counts, utilisation and state from the limit and the two task lists.
    pub fn from_parts(
        max_workers: u32,
        active_tasks: Vec<WorkerTask>,
        queued_tasks: Vec<WorkerTask>,
        queued_count: u64,
    ) -> Self {
        let active_count = active_tasks.len() as u64;
        let available_workers = (max_workers as u64).saturating_sub(active_count);
        let utilization = if max_workers == 0 {
            100.0
        } else {
            ((active_count as f64 / max_workers as f64) * 1000.0).round() / 10.0
        }
        .min(100.0);
        PoolStatus {
            max_workers,
            active_count,
            queued_count,
            available_workers,
            utilization,
            state: PoolState::from_counts(max_workers, active_count, queued_count),
            active_tasks,
            queued_tasks,
            stale: false,
            fresh_at: None,
            paused: false,
            sources: BTreeMap::new(),
        }
    }

    /// How many tasks run above the limit: more than 0 while the pool drains after the limit
    /// was lowered (running tasks are never killed for it).
    pub fn draining(&self) -> u64 {
        self.active_count.saturating_sub(self.max_workers as u64)
    }
}

/// The pool's runtime configuration: `GET config/`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PoolConfig {
    /// The most tasks that may run at once across the fleet.
    pub max_workers: u32,
    /// The smallest value `max_workers` accepts.
    pub min_allowed: u32,
    /// The largest value `max_workers` accepts.
    pub max_allowed: u32,
    /// Tasks holding a slot right now (above `max_workers` while the pool drains).
    pub active_count: u64,
    /// True while more tasks run than the limit allows, after the limit was lowered.
    pub draining: bool,
    /// True when the store could not be reached and this is the last state seen.
    #[serde(default)]
    pub stale: bool,
    /// When this state was last read from the store.
    #[serde(default)]
    pub fresh_at: Option<DateTime<Utc>>,
}

impl PoolConfig {
    /// The configuration view of a pool status.
    pub fn from_status(s: &PoolStatus) -> Self {
        PoolConfig {
            max_workers: s.max_workers,
            min_allowed: MIN_WORKERS,
            max_allowed: MAX_WORKERS,
            active_count: s.active_count,
            draining: s.draining() > 0,
            stale: s.stale,
            fresh_at: s.fresh_at,
        }
    }
}

/// `GET tasks/`: the tasks, and whether they are the last state seen during a store outage.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TaskList {
    /// Running first, then queued in dispatch order, then finished (newest first).
    pub tasks: Vec<WorkerTask>,
    /// True when the store could not be reached and this is the last state seen.
    #[serde(default)]
    pub stale: bool,
    /// When this state was last read from the store.
    #[serde(default)]
    pub fresh_at: Option<DateTime<Utc>>,
    /// A search's next page: pass it as `cursor` (`None` when there is no more).
    #[serde(default)]
    pub next: Option<String>,
}

/// One task, and whether it is the last state seen during a store outage: `GET tasks/<id>/`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TaskView {
    /// The task (its fields are the object's fields).
    #[serde(flatten)]
    pub task: WorkerTask,
    /// True when the store could not be reached and this is the last state seen.
    #[serde(default)]
    pub stale: bool,
    /// When this state was last read from the store.
    #[serde(default)]
    pub fresh_at: Option<DateTime<Utc>>,
}

/// A task type the pool accepts, from its registry.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TaskType {
    /// `five9`.
    pub crm_source: String,
    /// `contacts`.
    pub sync_type: String,
    /// The Celery task name, `five9.contacts`.
    pub task_name: String,
    /// A short description for people.
    pub description: String,
    /// Seconds a task of this type may run before the pool revokes it (it then ends failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_runtime: Option<u64>,
    /// Seconds a task of this type may wait in the queue; past that it ends cancelled
    /// without running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_queue_wait: Option<u64>,
}

/// The task types the pool accepts: `GET task-types/`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TaskTypeList {
    pub task_types: Vec<TaskType>,
}

/// What `POST tasks/bulk/` did (or, with `dry_run`, would do).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct BulkReport {
    pub action: super::BulkAction,
    pub dry_run: bool,
    /// The tasks the filter names (at most the limit), in the order of `GET tasks/`.
    pub matched: Vec<String>,
    /// Those changed (none on a dry run).
    pub changed: Vec<String>,
    /// For retry: the new tasks.
    pub created: Vec<WorkerTask>,
    /// For retry: the matched tasks retried before, left as they are.
    pub already_retried: Vec<String>,
    /// Matched but not changed, and why (it moved on meanwhile).
    pub skipped: Vec<(String, String)>,
    /// True when more tasks match than the limit took.
    pub more: bool,
}

/// What `POST tasks/retry/` did.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RetryReport {
    /// The new tasks, one per retried task.
    pub retried: Vec<WorkerTask>,
    /// Matching tasks that had been retried already (their ids).
    pub already_retried: Vec<String>,
    /// Matching tasks that could not be retried, and why.
    pub skipped: Vec<(String, String)>,
}

/// What a manual "process queue" pass did.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ProcessReport {
    /// Tasks whose result was found in the backend and recorded.
    pub reconciled: Vec<String>,
    /// Tasks dispatched into free slots.
    pub dispatched: Vec<String>,
    /// Tasks reclaimed from lost workers.
    pub reclaimed: Vec<String>,
    /// Slots still free after the pass.
    pub available_workers: u64,
    /// Tasks still waiting after the pass.
    pub queued_count: u64,
}

/// Everything the dashboard shows, in one consistent read: what the live channel pushes.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Dashboard {
    /// The pool.
    pub status: PoolStatus,
    /// The most recently finished tasks, newest first.
    pub history: Vec<WorkerTask>,
    /// The server's clock when this was read (running times count from it until the browser's
    /// own clock takes over, so the server-rendered page and the hydrated one agree).
    pub server_time: DateTime<Utc>,
    /// The Celery workers heard from.
    #[serde(default)]
    pub workers: Vec<WorkerInfo>,
    /// The newest changes in the audit trail.
    #[serde(default)]
    pub audit: Vec<AuditEntry>,
}

/// How many audit entries the dashboard shows.
pub const DASHBOARD_AUDIT: u32 = 10;

/// How many finished tasks the dashboard shows.
pub const DASHBOARD_HISTORY: u32 = 12;

/// The server's own health, shown in the dashboard's header panel.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ServerInfo {
    /// The server's version (`CARGO_PKG_VERSION`).
    pub version: String,
    /// Whether the store (Redis) answered a PING just now.
    pub redis_reachable: bool,
    /// How long that PING took, in milliseconds, when it answered.
    pub redis_latency_ms: Option<f64>,
    /// When the server answered.
    pub checked_at: DateTime<Utc>,
    /// True when changing the pool needs a token (`WORKER_POOL_API_TOKEN` is set).
    #[serde(default)]
    pub auth_required: bool,
    /// True when this browser is signed in (its changes are accepted).
    #[serde(default)]
    pub signed_in: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_state_follows_counts() {
        assert_eq!(PoolState::from_counts(2, 1, 0), PoolState::Available);
        assert_eq!(PoolState::from_counts(2, 2, 0), PoolState::Busy);
        assert_eq!(PoolState::from_counts(2, 2, 1), PoolState::Overloaded);
        // Draining after the limit was lowered: over the limit, nothing waiting.
        assert_eq!(PoolState::from_counts(1, 3, 0), PoolState::Busy);
        assert_eq!(PoolState::from_counts(1, 3, 2), PoolState::Overloaded);
    }

    #[test]
    fn status_counts_and_utilisation() {
        let s = PoolStatus::from_parts(3, vec![], vec![], 0);
        assert_eq!(s.available_workers, 3);
        assert_eq!(s.utilization, 0.0);
        assert_eq!(s.state, PoolState::Available);
    }
}

/// A Celery worker's state, from its own events.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum WorkerState {
    /// Heard from within the heartbeat timeout, and no offline since.
    Online,
    /// A warm shutdown began: it said it went offline with tasks still running, which it
    /// finishes (their results will come).
    Draining,
    /// Silent past the heartbeat timeout, without saying it went offline.
    Lost,
    /// It went offline with nothing left to run.
    Offline,
}

impl WorkerState {
    /// The name, as the API writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkerState::Online => "online",
            WorkerState::Draining => "draining",
            WorkerState::Lost => "lost",
            WorkerState::Offline => "offline",
        }
    }
}

impl std::str::FromStr for WorkerState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "online" => Ok(WorkerState::Online),
            "draining" => Ok(WorkerState::Draining),
            "lost" => Ok(WorkerState::Lost),
            "offline" => Ok(WorkerState::Offline),
            other => Err(format!("unknown worker state {other:?}")),
        }
    }
}

/// One Celery worker the pool has heard from.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct WorkerInfo {
    /// Its hostname (`celery@host`).
    pub hostname: String,
    /// Its state now.
    pub state: WorkerState,
    /// The main process's pid, when its events carry it.
    pub pid: Option<u32>,
    /// When it was last heard from (an online or a heartbeat).
    pub last_heartbeat: Option<DateTime<Utc>>,
    /// When the pool first heard from it.
    pub first_seen: Option<DateTime<Utc>>,
    /// When it last said it went offline.
    pub offline_at: Option<DateTime<Utc>>,
    /// The pool's tasks it runs now (their ids).
    pub tasks: Vec<String>,
}

/// `GET workers/`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct WorkerList {
    /// Every worker heard from, by hostname.
    pub workers: Vec<WorkerInfo>,
}

/// What `POST workers/<hostname>/forget/` did.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ForgetReport {
    /// The worker forgotten.
    pub hostname: String,
    /// The tasks it ran, now ended failed and their slots free.
    pub released: Vec<String>,
}

/// One change in the audit trail.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct AuditEntry {
    /// Its id (`<ms>-<n>`): the cursor for `since` and `before`.
    pub id: String,
    /// When.
    pub at: DateTime<Utc>,
    /// Who: a token's name, `session <id…> (<token name>)` for the dashboard, or
    /// `anonymous` when the server has no token.
    pub who: String,
    /// The client's address.
    pub address: String,
    /// What: `config`, `limits`, `pause`, `resume`, `cooldown`, `cancel`, `priority`, `retry`,
    /// `retry_many`, `process_queue`, `forget_worker` or `sign_in`.
    pub action: String,
    /// What it was made to: a task id, a source, a worker, a token's name; empty for the pool.
    pub target: String,
    /// The state before.
    pub before: serde_json::Value,
    /// The state after.
    pub after: serde_json::Value,
}

/// `GET audit/`: newest first.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct AuditList {
    /// The entries.
    pub entries: Vec<AuditEntry>,
    /// The id to pass as `before` for the next, older page (null when this page is the last).
    pub next_before: Option<String>,
}

/// How many audit entries a page holds by default, and at most.
pub const DEFAULT_AUDIT_LIMIT: u32 = 100;
/// See [`DEFAULT_AUDIT_LIMIT`].
pub const MAX_AUDIT_LIMIT: u32 = 1000;

/// One URL's delivery of a webhook event.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct WebhookDelivery {
    /// Where.
    pub url: String,
    /// `pending` (to be tried again), `delivered` or `failed` (given up after 24 h).
    pub state: String,
    /// The last error, if the last attempt failed.
    pub error: Option<String>,
}

/// A webhook event and its deliveries.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct WebhookEvent {
    /// Its id (the `Worker-Pool-Delivery` header).
    pub id: String,
    /// `task.finished`, `source.cooldown_started` or `source.cooldown_ended`.
    pub event: String,
    /// The task's id or the source.
    pub reference: String,
    /// When it happened.
    pub created_at: Option<DateTime<Utc>>,
    /// Attempts so far.
    pub attempts: u32,
    /// When it was last tried.
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// When it is tried next, while some URL is pending.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// Per URL.
    pub deliveries: Vec<WebhookDelivery>,
}

/// `GET webhooks/`: the configured URLs and the newest events, newest first.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct WebhookList {
    /// `WORKER_POOL_WEBHOOK_URL`.
    pub urls: Vec<String>,
    /// The newest events (at most 100).
    pub events: Vec<WebhookEvent>,
}

/// The windows of the pool's history: `GET stats/?window=` and the dashboard's charts.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum StatsWindow {
    /// The last hour, minute by minute.
    #[default]
    #[serde(rename = "1h")]
    Hour,
    /// The last 6 hours, by 5 minutes.
    #[serde(rename = "6h")]
    SixHours,
    /// The last 24 hours, by 15 minutes.
    #[serde(rename = "24h")]
    Day,
}

impl StatsWindow {
    /// Every window, shortest first.
    pub const ALL: [StatsWindow; 3] = [StatsWindow::Hour, StatsWindow::SixHours, StatsWindow::Day];

    /// The name used on the wire (`1h`, `6h`, `24h`).
    pub fn as_str(self) -> &'static str {
        match self {
            StatsWindow::Hour => "1h",
            StatsWindow::SixHours => "6h",
            StatsWindow::Day => "24h",
        }
    }

    /// How many minutes it covers.
    pub fn minutes(self) -> u32 {
        match self {
            StatsWindow::Hour => 60,
            StatsWindow::SixHours => 360,
            StatsWindow::Day => 1440,
        }
    }

    /// How many minutes one point covers (so every window has 60 to 96 points).
    pub fn step_minutes(self) -> u32 {
        match self {
            StatsWindow::Hour => 1,
            StatsWindow::SixHours => 5,
            StatsWindow::Day => 15,
        }
    }
}

impl std::str::FromStr for StatsWindow {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        StatsWindow::ALL
            .into_iter()
            .find(|w| w.as_str() == s)
            .ok_or_else(|| {
                let shown: String = s.chars().take(20).collect();
                format!("window must be 1h, 6h or 24h, not {shown:?}")
            })
    }
}

/// One step of the pool's history (a minute, 5 or 15 minutes: see [`StatsWindow`]).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct StatsPoint {
    /// When the step began.
    pub at: DateTime<Utc>,
    /// Tasks holding a slot at the step's last sample (`None`: no server was running).
    pub running: Option<u64>,
    /// The most that held a slot at once, as sampled (every 5 s).
    pub running_max: Option<u64>,
    /// The limit in force at the step's end.
    pub max_workers: Option<u32>,
    /// Tasks queued at the step's last sample.
    pub queued: Option<u64>,
    /// The longest the queue was, as sampled.
    pub queued_max: Option<u64>,
    /// Dispatches into a slot during the step.
    pub started: u64,
    /// Tasks that ended during the step, by outcome.
    pub completed: u64,
    pub failed: u64,
    pub cancelled: u64,
    /// The median wait (submit to start) of the step's starts, estimated from buckets.
    pub wait_p50_seconds: Option<f64>,
    /// The 95th percentile of those waits.
    pub wait_p95_seconds: Option<f64>,
}

/// The pool's history over a window: `GET stats/`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PoolStats {
    pub window: StatsWindow,
    /// How long each point covers.
    pub step_seconds: u32,
    /// Oldest first; the last one is the step in progress.
    pub points: Vec<StatsPoint>,
}

/// One step of a task's life, for its page.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TaskEvent {
    pub at: DateTime<Utc>,
    /// `submitted`, `waiting` (a rule held it), `dispatched`, `started`, `retry` (Celery
    /// retries it), `resent`, `requeued`, `completed`, `failed`, `cancelled`.
    pub kind: String,
    /// What happened, in a sentence.
    pub text: String,
}

/// A task's whole story: `GET tasks/<id>/story/` and the task page.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TaskStory {
    pub task: WorkerTask,
    /// Its steps, oldest first.
    pub events: Vec<TaskEvent>,
    /// The audit entries about it (cancel, priority, retry), newest first, among the last
    /// 1,000 of the trail.
    pub audit: Vec<AuditEntry>,
    /// The traceback Celery stored with its failure (its last 16,000 characters), if any.
    #[serde(default)]
    pub traceback: Option<String>,
}

/// How one check of `worker-pool doctor` came out.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    /// As the pool needs it.
    Ok,
    /// Works, but not as recommended, or could not be read: the sentence says what it risks.
    Warning,
    /// Breaks one of the pool's guarantees (or nothing can run): fix it.
    Problem,
}

impl CheckStatus {
    /// The name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckStatus::Ok => "ok",
            CheckStatus::Warning => "warning",
            CheckStatus::Problem => "problem",
        }
    }
}

/// One finding of `worker-pool doctor`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct DoctorCheck {
    /// A stable name for scripts: `redis.eviction`, `worker.track_started`, …
    pub check: String,
    /// What it is about: `store`, `broker`, `result backend`, `queue`, or a worker's hostname.
    pub subject: String,
    pub status: CheckStatus,
    /// What was found, in a sentence.
    pub message: String,
    /// What to do about it (warnings and problems).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

/// `GET doctor/`: what the pool's guarantees rely on, checked now.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct DoctorReport {
    /// False when any check found a problem (warnings leave it true).
    pub ok: bool,
    /// The Celery queue the pool dispatches to (`WORKER_POOL_CELERY_QUEUE`).
    pub queue: String,
    /// Every finding, the problems first.
    pub checks: Vec<DoctorCheck>,
}
