//! The store's contract: the [`Store`] trait, what each transition takes and answers, and why
//! the store could not answer ([`StoreError`]).

use app::types::{Dedupe, Rate, SourceRules, SourceStatus, TaskParameters, TaskStatus, WorkerTask};
use std::collections::BTreeMap;
use std::time::Duration;

/// Why the store could not answer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Redis refused the command, the connection broke, or Redis did not answer in time.
    #[error(transparent)]
    Call(#[from] crate::connection::CallError),
    /// A value in the store is not what this version wrote (a bug, or a foreign writer).
    #[error("corrupt store data: {0}")]
    Corrupt(String),
    /// The write was made on the primary, but fewer replicas than asked confirmed it in time
    /// (`WORKER_POOL_REDIS_REPLICAS`): it may not survive a failover.
    #[error("{confirmed} of {wanted} replica(s) confirmed the write within {timeout:?}")]
    NotDurable {
        confirmed: u32,
        wanted: u32,
        timeout: Duration,
    },
}

/// How many of the store's replicas must confirm each write the API acknowledges
/// (`WAIT <replicas> <timeout>` after it), so that it survives a failover of the primary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Durability {
    pub replicas: u32,
    pub timeout: Duration,
}

impl From<redis::RedisError> for StoreError {
    fn from(e: redis::RedisError) -> Self {
        StoreError::Call(e.into())
    }
}

impl StoreError {
    /// True when the store could not be reached (as opposed to answering something odd).
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Call(e) => e.is_unavailable(),
            // Redis answered; only its replicas lagged: not an outage of the store.
            StoreError::Corrupt(_) | StoreError::NotDurable { .. } => false,
        }
    }
}

/// A task as submitted, validated.
#[derive(Clone, Debug, Default)]
pub struct NewTask {
    /// The pool's id (also the Celery id of its first dispatch).
    pub id: String,
    /// `hubspot`.
    pub crm_source: String,
    /// `all`.
    pub sync_type: String,
    /// `hubspot.all`.
    pub task_name: String,
    /// Its keyword arguments.
    pub parameters: TaskParameters,
    /// -100..=100.
    pub priority: i32,
    /// The customer or account it is for (per-tenant limits count by it).
    pub tenant: Option<String>,
    /// What to do when a task of the same source, type and tenant exists.
    pub dedupe: Dedupe,
    /// The failed or cancelled task it retries (linked both ways in the same step).
    pub retry_of: Option<String>,
    /// How long it may wait to start (its type's max_queue_wait); past that it ends
    /// cancelled.
    pub max_queue_wait: Option<Duration>,
}

/// What [`Store::submit`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Submitted {
    /// A task with that id exists already; nothing changed.
    Duplicate,
    /// Queued.
    Queued {
        /// When it was accepted (ms, the store's clock).
        created_ms: i64,
        /// Its 1-based place in the queue.
        position: u64,
        /// Slots free (more than 0 only while tasks ahead of it are about to be dispatched).
        free: u32,
        /// Why it waits.
        blocked_by: Option<app::types::BlockedBy>,
    },
    /// Dispatched at once: a slot was free and nothing waited ahead of it.
    Running {
        /// When it was accepted and dispatched (ms, the store's clock).
        created_ms: i64,
        /// The dispatch's fencing token.
        token: u64,
    },
    /// Deduplication found a task of the same source, type and tenant; nothing was added.
    Deduplicated {
        /// The existing task.
        id: String,
        /// True when it took the new parameters and priority (`replace`).
        replaced: bool,
    },
    /// The task to retry cannot be retried; nothing changed.
    NotRetryable(RetryRefusal),
}

/// Why a task cannot be retried.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RetryRefusal {
    /// No such task (or its record expired).
    Missing,
    /// It has not failed or been cancelled; its status.
    NotEnded(TaskStatus),
    /// It was retried already, by this task.
    Retried(String),
}

/// A queued task that a free slot is waiting for.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    /// The task's id.
    pub id: String,
    /// How many times it was dispatched before (it was requeued after a lost worker).
    pub attempts: u32,
    /// Its Celery task name.
    pub task_name: String,
    /// Its keyword arguments.
    pub parameters: TaskParameters,
}

/// What [`Store::peek`] sees: free slots and the tasks next in line for them.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Peek {
    /// Slots free right now (0 while draining).
    pub free: u32,
    /// The head of the queue, at most `free` of them, in dispatch order.
    pub head: Vec<Candidate>,
}

/// A candidate with its Celery message built, ready for [`Store::dispatch`].
#[derive(Clone, Debug)]
pub struct Prepared {
    /// The task's id.
    pub id: String,
    /// The Celery id this dispatch uses.
    pub celery_id: String,
    /// The exact message bytes.
    pub message: String,
    /// The broker list it goes to.
    pub list: String,
    /// The message's delivery tag (kept beside it, so scripts need not parse the message).
    pub delivery_tag: String,
}

/// A task that took a slot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dispatched {
    /// The task's id.
    pub id: String,
    /// The fencing token of this dispatch.
    pub token: u64,
}

/// Why a dispatch batch stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DispatchStop {
    /// Every candidate was handled.
    Done,
    /// No slot is free any more.
    Full,
    /// The queue changed since the peek (another replica dispatched, or a task with a higher
    /// priority arrived), or a rule now holds the candidate: peek again.
    Moved,
    /// The pool is paused.
    Paused,
}

/// What a Celery result says beyond its state, kept in the task's journal (its page).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TaskNote {
    /// Celery will run the task again (its RETRY state): why, as `"<ExcType>: <message>"`.
    Retry(String),
    /// The traceback Celery stored with a failure (bounded by the caller).
    Traceback(String),
}

/// The kinds of note a task's journal holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoteKind {
    /// A rule held it while queued; the detail is the `blocked_by` reason.
    Waiting,
    /// It went back to the queue (a lost worker's task, requeued); the detail says why.
    Requeued,
    /// Celery retries it; the detail is the exception that asked for it.
    Retry,
}

/// One note of a task's journal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalNote {
    pub at: chrono::DateTime<chrono::Utc>,
    pub kind: NoteKind,
    pub detail: String,
}

/// What the pool recorded about a task beyond its own fields: notes, oldest first (the last
/// 32), and the traceback of a failure when Celery stored one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Journal {
    pub notes: Vec<JournalNote>,
    pub traceback: Option<String>,
}

/// The end of a running task, on evidence.
#[derive(Clone, Debug)]
pub struct Finish {
    /// The task's id.
    pub id: String,
    /// The Celery id the evidence is about; `None` when the evidence is not tied to one.
    pub celery_id: Option<String>,
    /// The fencing token of the dispatch the evidence is about, when known.
    pub token: Option<u64>,
    /// Completed, failed or cancelled.
    pub status: TaskStatus,
    /// The error text, for failures and cancellations.
    pub error: Option<String>,
}

/// What [`Store::finish`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finished {
    /// Nothing: the evidence is about another dispatch, or the task had ended already.
    Stale,
    /// The task ended and its slot is free. `backlog`: queued tasks wait for it (a dispatch
    /// pass is due); otherwise the pass can be skipped.
    Ended { backlog: bool },
}

impl Finished {
    /// True when the task was ended by this call.
    pub fn ended(self) -> bool {
        matches!(self, Finished::Ended { .. })
    }
}

/// What [`Store::finish`] did, with the refill it made.
#[derive(Clone, Debug, PartialEq)]
pub struct FinishReport {
    /// Whether the task ended; `backlog` is whether tasks still wait for a free slot after
    /// the refill (then a dispatch pass is due).
    pub finished: Finished,
    /// The candidates that took the freed slot.
    pub dispatched: Vec<Dispatched>,
    /// Why the refill stopped.
    pub stop: DispatchStop,
    /// The tasks next in line after the refill (at most `want_head`).
    pub head: Vec<Candidate>,
    /// The ended task's source ("" when nothing ended).
    pub source: String,
}

impl FinishReport {
    /// True when the task was ended by this call.
    pub fn ended(&self) -> bool {
        self.finished.ended()
    }
}

/// What [`Store::cancel`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CancelOutcome {
    /// No such task.
    Missing,
    /// The task had already ended with this status.
    Terminal(TaskStatus),
    /// The task is cancelled (it was queued, or its message was withdrawn from the broker).
    Cancelled,
    /// The task is running on a worker (or its message may be): revoke it, and the REVOKED
    /// result will end it.
    Revoke {
        /// The Celery id to revoke.
        celery_id: String,
        /// The dispatch's fencing token.
        token: u64,
        /// The message bytes as published (to withdraw it from a separate broker).
        message: String,
        /// The broker list it was pushed to.
        list: String,
    },
}

/// What [`Store::reprioritize`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReprioritizeOutcome {
    /// Done; the task's new 1-based position.
    Moved { position: u64 },
    /// No such task.
    Missing,
    /// The task is not queued any more.
    NotQueued(TaskStatus),
}

/// A running task as the scheduler needs it for reconciliation and liveness.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunningEntry {
    /// The task's id.
    pub id: String,
    /// The Celery id of the current dispatch.
    pub celery_id: String,
    /// The dispatch's fencing token.
    pub token: u64,
    /// The worker that reported STARTED, if any.
    pub worker: Option<String>,
    /// False while a two-phase dispatch's message is not confirmed in the broker.
    pub published: bool,
    /// True when a cancel asked for a revoke.
    pub cancel_requested: bool,
    /// True once a worker reported STARTED (or progress) for this dispatch.
    pub worker_started: bool,
    /// How many times the task was dispatched, this dispatch included.
    pub attempts: u32,
    /// True while an earlier check found its message nowhere (see `lua/lost_note.lua`).
    pub lost_noted: bool,
}

/// A running task's current message, as published (see [`Store::dispatch_message`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredMessage {
    /// The Celery id of the dispatch.
    pub celery_id: String,
    /// The exact bytes.
    pub message: String,
    /// The broker list it was pushed to.
    pub list: String,
    /// Its delivery tag (kombu's key in `unacked`).
    pub delivery_tag: String,
}

/// What [`Store::mark_started`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartedOutcome {
    /// The worker's start of the current dispatch is recorded.
    Recorded,
    /// Nothing: not running, already recorded, or an unknown dispatch.
    Ignored,
    /// The Celery id is one the pool replaced by another dispatch of the same task (a re-sent
    /// lost message, a requeue): a stale copy runs somewhere, and must be revoked.
    Superseded,
    /// The dispatch already ended (its task is finished): its message was delivered again
    /// (a broker that lost the worker's acknowledgement in a crash) and runs a second time
    /// somewhere, outside any slot; it must be revoked.
    AfterEnd,
}

/// A lost message to publish again, for [`Store::resend`].
#[derive(Clone, Debug)]
pub struct Resend {
    /// The task's id.
    pub id: String,
    /// The Celery id of the lost dispatch.
    pub celery_id: String,
    /// The lost dispatch's fencing token.
    pub token: u64,
    /// The new dispatch: a new Celery id, its message and delivery tag.
    pub next: Prepared,
    /// Why, in a sentence, for the task's record.
    pub reason: String,
    /// How long the message must have looked lost, check after check (see `lua/lost_note.lua`).
    pub lost_for: Duration,
}

/// What [`Store::resend`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResendOutcome {
    /// Nothing: the dispatch moved on (started, ended, another dispatch), or it has not looked
    /// lost for long enough.
    Stale,
    /// Inline: the old message is in the list or in kombu's unacked set after all.
    Present,
    /// A cancel was pending: the task ended `cancelled` and its slot is free.
    Cancelled,
    /// Published again under the new Celery id, in the same slot, with this fencing token.
    Resent { token: u64 },
}

/// How long superseded Celery ids are remembered (and revoked again to workers that start):
/// as long as a Celery worker remembers a revoke by default (`CELERY_WORKER_REVOKE_EXPIRES`).
pub const SUPERSEDED_FOR: Duration = Duration::from_secs(3 * 3600);

/// What to do with a running task whose worker is lost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnWorkerLost {
    /// End it `failed`, "worker lost".
    Fail,
    /// Put it back in the queue (it runs again, under a new Celery id).
    Requeue,
}

/// How [`Store::reap`] judges workers.
#[derive(Clone, Copy, Debug)]
pub struct ReapPolicy {
    /// No heartbeat for this long means the worker is gone.
    pub heartbeat_timeout: Duration,
    /// What happens to its tasks.
    pub on_lost: OnWorkerLost,
    /// A new process (pid) holding the task's worker hostname whose earliest possible online
    /// is this long after the task's STARTED cannot have started it: the worker restarted.
    pub restart_guard: Duration,
    /// A `worker-offline` with nothing left to run counts once this long has passed with
    /// nothing heard from the worker since: a consumer reconnect sends an offline/online pair
    /// from a process that keeps running its tasks.
    pub offline_grace: Duration,
}

/// A task taken back from a lost worker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reaped {
    /// The task's id.
    pub id: String,
    /// `failed`, `requeued` or `cancelled` (a cancel was pending).
    pub outcome: String,
    /// Why the worker is considered lost.
    pub reason: String,
    /// The delivery tag of its message (to drop it from a separate broker's unacked set).
    pub delivery_tag: String,
    /// The Celery id of the dispatch taken back (revoked over RabbitMQ, where a redelivery
    /// could otherwise run it behind the pool's back).
    pub celery_id: String,
}

/// A consistent view of the pool.
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    /// The limit in force.
    pub max_workers: u32,
    /// Running tasks, oldest dispatch first.
    pub running: Vec<WorkerTask>,
    /// The fencing data of the running tasks, same order.
    pub running_entries: Vec<RunningEntry>,
    /// The head of the queue, in dispatch order (positions and `blocked_by` filled in).
    pub queued: Vec<WorkerTask>,
    /// The length of the whole queue.
    pub queued_count: u64,
    /// True while the whole pool is paused.
    pub paused: bool,
    /// The sources asked about: use, rules, cool-down, pause.
    pub sources: BTreeMap<String, SourceStatus>,
    /// The store's clock when it was taken (ms).
    pub now_ms: i64,
    /// For the sources asked about that have a rate budget: the times (ms) of the starts in
    /// the current window, oldest first.
    pub rate_starts: BTreeMap<String, Vec<i64>>,
}

/// What `GET /metrics` reports, as the store holds it (see `store/lua/metrics.lua`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MetricsState {
    /// The store's clock (ms).
    pub now_ms: i64,
    /// The limit in force.
    pub max_workers: u32,
    /// True while the whole pool is paused.
    pub paused: bool,
    /// Slots in use.
    pub running: u64,
    /// Tasks queued.
    pub queued: u64,
    /// When the longest-waiting queued task was submitted (ms), if any.
    pub oldest_queued_ms: Option<i64>,
    /// The upper bounds (ms) of the wait and run-time histograms' buckets, ascending.
    pub bucket_bounds_ms: Vec<u64>,
    /// The upper bounds (ms) of the slot refill latency histogram's buckets, ascending.
    pub refill_bounds_ms: Vec<u64>,
    /// The counters and histogram buckets, by field (parts joined by `\x1f`: see
    /// `common.lua`'s metrics section).
    pub series: std::collections::HashMap<String, u64>,
    /// The pool's other counters (`messages_resent`, `cooldowns`, `over_admissions`,
    /// `reclaimed:<reason>`, …).
    pub counters: std::collections::HashMap<String, u64>,
    /// Celery workers by state (`online`, `draining`, `lost`, `offline`; every state, 0 or
    /// more).
    pub workers: BTreeMap<String, u64>,
    /// Per source, by name (as `status` reports them).
    pub sources: BTreeMap<String, SourceStatus>,
}

/// One minute of the pool's history, as the store keeps it (see `store/lua/stats.lua`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MinuteRow {
    /// The minute, in minutes since the epoch.
    pub minute: i64,
    /// The last sample of the running count that minute (`None`: no replica sampled it).
    pub running: Option<u64>,
    /// The highest running count sampled that minute.
    pub running_max: Option<u64>,
    /// The last sample of the queued count.
    pub queued: Option<u64>,
    /// The highest queued count sampled.
    pub queued_max: Option<u64>,
    /// The limit in force.
    pub limit: Option<u32>,
    /// Dispatches into a slot.
    pub started: u64,
    /// Tasks that ended completed, failed, cancelled.
    pub completed: u64,
    pub failed: u64,
    pub cancelled: u64,
    /// The waits of that minute's starts, counted by bucket (the last past every bound).
    pub wait_buckets: Vec<u64>,
}

/// The last minutes of the pool's history, oldest first.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MinuteRows {
    /// The store's clock (ms).
    pub now_ms: i64,
    /// The upper bounds (ms) of the wait buckets, ascending.
    pub wait_bounds_ms: Vec<u64>,
    pub rows: Vec<MinuteRow>,
}

/// A webhook event leased to this replica: its id and stored fields (`kind`, `ref`, `until`,
/// `at`, `att`, `body`, and per URL `s:<url>` and `e:<url>`).
#[derive(Clone, Debug, PartialEq)]
pub struct HookClaim {
    /// The event's id.
    pub id: String,
    /// Its fields.
    pub fields: std::collections::HashMap<String, String>,
}

/// One URL's outcome of a delivery attempt.
#[derive(Clone, Debug, PartialEq)]
pub struct HookOutcome {
    /// The URL.
    pub url: String,
    /// `delivered`, `pending` (to be tried again) or `failed` (given up).
    pub state: String,
    /// What went wrong ("" when nothing).
    pub error: String,
}

/// A change to record in the audit trail (the store adds the id and the time).
#[derive(Clone, Debug, PartialEq)]
pub struct AuditRecord {
    /// Who made it.
    pub who: String,
    /// From which address.
    pub address: String,
    /// What kind of change (`limits`, `pause`, `cancel`, …).
    pub action: String,
    /// What it was made to (a task id, a source, a worker; empty for the pool).
    pub target: String,
    /// The state before, as JSON.
    pub before: serde_json::Value,
    /// The state after, as JSON.
    pub after: serde_json::Value,
}

/// What [`Store::forget_worker`] did.
#[derive(Clone, Debug, PartialEq)]
pub enum ForgetOutcome {
    /// Never heard of.
    Unknown,
    /// Refused: it is online (last heard from at this time, ms).
    Online { last_heard_ms: Option<i64> },
    /// Forgotten: these tasks ended (outcome `failed`).
    Forgotten { released: Vec<Reaped> },
}

/// A change to one flow-control rule of a source; `None` removes the rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleChange {
    /// The source's limit.
    Limit(Option<u32>),
    /// Its per-tenant limit.
    TenantLimit(Option<u32>),
    /// Its rate budget.
    Rate(Option<Rate>),
}

/// A change to a source's cool-down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cooldown {
    /// Cool down for this long from now (zero ends a cool-down).
    For(Duration),
    /// A task failed with a rate-limit error: `base` the first time, doubling on each further
    /// one after the last ended, up to `max` (see `lua/cooldown.lua`).
    Auto { base: Duration, max: Duration },
}

/// The pool's state. Every method is one atomic step.
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    /// Sets `max_workers` to `initial` unless the store already holds a value; returns the
    /// value in force.
    async fn seed_max_workers(&self, initial: u32) -> Result<u32, StoreError>;

    /// Sets `max_workers`; returns the previous value.
    async fn set_max_workers(&self, value: u32) -> Result<Option<u32>, StoreError>;

    /// Accepts a task into the queue and, when `dispatch` is given, a slot is free and nothing
    /// waits ahead of it, dispatches it in the same atomic step.
    async fn submit(
        &self,
        task: &NewTask,
        dispatch: Option<&Prepared>,
    ) -> Result<Submitted, StoreError>;

    /// Free slots and the tasks next in line for them (at most `max` of them).
    async fn peek(&self, max: u32) -> Result<Peek, StoreError>;

    /// Moves the prepared candidates into slots, in order, while each is the head of the queue
    /// and a slot is free. When the broker is the store's own database ("inline"), also pushes
    /// each message to its broker list in the same step.
    async fn dispatch(
        &self,
        batch: &[Prepared],
    ) -> Result<(Vec<Dispatched>, DispatchStop), StoreError>;

    /// Records that a two-phase dispatch's message reached the broker.
    async fn confirm_published(&self, id: &str, token: u64) -> Result<bool, StoreError>;

    /// Records a worker's STARTED report for the current dispatch (inline: and drops its
    /// message from kombu's unacked set, so an ack lost to an outage cannot make it run again).
    async fn mark_started(
        &self,
        id: &str,
        celery_id: &str,
        worker: Option<&str>,
        pid: Option<i64>,
    ) -> Result<StartedOutcome, StoreError>;

    /// Ends a running task on evidence and frees its slot (inline: and drops its message from
    /// kombu's unacked set). In the same step it refills the freed slot from `refill` (the
    /// head of the queue as the caller last saw it, checked exactly as [`Store::dispatch`]
    /// checks) and reports up to `want_head` tasks now at the head, for the next refill.
    async fn finish(
        &self,
        finish: &Finish,
        retention: Duration,
        refill: &[Prepared],
        want_head: u32,
    ) -> Result<FinishReport, StoreError>;

    /// Cancels a queued task, or (inline) withdraws or marks a running one.
    async fn cancel(&self, id: &str, retention: Duration) -> Result<CancelOutcome, StoreError>;

    /// Changes a queued task's priority.
    async fn reprioritize(
        &self,
        id: &str,
        priority: i32,
    ) -> Result<ReprioritizeOutcome, StoreError>;

    /// The pool: limit, running tasks, the first `queue_limit` queued tasks (with why they
    /// wait), queue length, and the use and rules of `sources`.
    async fn snapshot(&self, queue_limit: u32, sources: &[String]) -> Result<Snapshot, StoreError>;

    /// Changes flow-control rules, all in one step (`seed_only`: only on a store whose rules
    /// were never set; returns whether they were applied).
    async fn set_rules(
        &self,
        changes: &[(String, RuleChange)],
        seed_only: bool,
    ) -> Result<bool, StoreError>;

    /// Every source's rules.
    async fn rules(&self) -> Result<BTreeMap<String, SourceRules>, StoreError>;

    /// Pauses (`paused`) or resumes the pool (`None`) or a source; returns whether it changed.
    async fn pause(&self, source: Option<&str>, paused: bool) -> Result<bool, StoreError>;

    /// Changes a source's cool-down; returns when it ends (ms, the store's clock), if it does.
    async fn cooldown(&self, source: &str, change: Cooldown) -> Result<Option<i64>, StoreError>;

    /// Files tasks queued by an earlier version into their groups (once).
    async fn migrate(&self) -> Result<u64, StoreError>;

    /// Sets priority aging (`None`: off) and, when it changed, orders the queue again by the
    /// new rule; returns how many queued tasks were ordered again, `None` when unchanged.
    async fn set_aging(&self, per_point: Option<Duration>) -> Result<Option<u64>, StoreError>;

    /// Ends (cancelled) up to `max` queued tasks that waited past their latest start; returns
    /// their ids.
    async fn expire_queued(&self, retention: Duration, max: u32)
        -> Result<Vec<String>, StoreError>;

    /// Records that a running task's dispatch ran past its type's max_runtime (the revoke's
    /// answer then ends it failed with `error`); returns the Celery id to revoke, or `None`
    /// when that dispatch no longer runs.
    async fn time_limit(
        &self,
        id: &str,
        token: u64,
        error: &str,
    ) -> Result<Option<String>, StoreError>;

    /// The recent run times (ms, newest first) of each task type asked about, by
    /// (crm_source, sync_type).
    async fn durations(
        &self,
        types: &[(String, String)],
    ) -> Result<BTreeMap<(String, String), Vec<u64>>, StoreError>;

    /// One task, with its position while queued.
    async fn get(&self, id: &str) -> Result<Option<WorkerTask>, StoreError>;

    /// Adds what a Celery result of the task's current dispatch (`celery_id`) says beyond its
    /// state to its journal. Returns false when it does not apply (another dispatch; a retry of
    /// a task not running, or already noted; a traceback of a task that did not fail).
    async fn note(&self, id: &str, celery_id: &str, note: &TaskNote) -> Result<bool, StoreError>;

    /// A task's journal (empty for an unknown task).
    async fn journal(&self, id: &str) -> Result<Journal, StoreError>;

    /// Finished tasks, newest first, optionally of one status.
    async fn history(
        &self,
        status: Option<TaskStatus>,
        limit: u32,
    ) -> Result<Vec<WorkerTask>, StoreError>;

    /// Records a Celery worker event (`worker-heartbeat`, `worker-online`, `worker-offline`)
    /// from the worker's main process `pid`, which sends heartbeats every `interval` and is
    /// executing `active` tasks (an offline with tasks still running is a warm shutdown).
    /// Returns true when this is the first word of a new process holding the hostname.
    async fn worker_event(
        &self,
        kind: &str,
        hostname: &str,
        pid: Option<u32>,
        interval: Duration,
        active: Option<u64>,
    ) -> Result<bool, StoreError>;

    /// The workers alive now by their events: heard from within `timeout`, no offline since.
    async fn live_workers(&self, timeout: Duration) -> Result<Vec<String>, StoreError>;

    /// Records one check of a running, not yet started task's message: `lost` when it was
    /// found nowhere (see `lua/lost_note.lua`). Returns how long it has looked lost, check
    /// after check, or `None`.
    async fn note_lost(
        &self,
        id: &str,
        celery_id: &str,
        lost: bool,
    ) -> Result<Option<Duration>, StoreError>;

    /// A queued task that a worker runs or holds under `celery_id` takes its slot as started
    /// by `worker` (see `lua/adopt.lua`): the store's record of its dispatch was lost. False
    /// when it does not apply.
    async fn adopt(&self, id: &str, celery_id: &str, worker: &str) -> Result<bool, StoreError>;

    /// One page of the queue (`count` entries from rank `from`, in the queue index's order):
    /// each task's id and how many times it was dispatched, which names the Celery id its
    /// next dispatch takes (see `lua/queued_ids.lua`).
    async fn queued_ids(&self, from: u64, count: u32) -> Result<Vec<(String, u32)>, StoreError>;

    /// Takes back the slot of a running task a worker reported started without saying which
    /// (see `lua/orphan.lua`), once it has looked lost for `lost_for`: as the reaper would, by
    /// `policy`. `None` when it does not apply (any more).
    async fn reclaim_orphan(
        &self,
        id: &str,
        celery_id: &str,
        policy: ReapPolicy,
        retention: Duration,
        lost_for: Duration,
    ) -> Result<Option<Reaped>, StoreError>;

    /// Publishes a lost message again under a new Celery id, in the same slot (inline: pushed
    /// in the same step), or ends the task `cancelled` when a cancel was pending.
    async fn resend(
        &self,
        resend: &Resend,
        retention: Duration,
    ) -> Result<ResendOutcome, StoreError>;

    /// The Celery ids superseded in the last [`SUPERSEDED_FOR`], newest first, at most `max`.
    async fn superseded(&self, max: u32) -> Result<Vec<String>, StoreError>;

    /// The pool's counters (`messages_resent`, …), for reports and metrics.
    async fn counters(&self) -> Result<std::collections::HashMap<String, u64>, StoreError>;

    /// Everything `GET /metrics` reports, read in one step: the pool's state now, and its
    /// counters and histograms (kept in the store, so every replica reports the whole pool).
    /// `sources`: the sources to report besides those the store knows.
    /// `worker_timeout`: the heartbeat timeout that tells a lost worker.
    async fn metrics(
        &self,
        sources: &[String],
        worker_timeout: Duration,
    ) -> Result<MetricsState, StoreError>;

    /// The tasks a search names (see `lua/search.lua`), at most `limit`, examining at most
    /// `cap` index entries; and the cursor to go on from, when the search stopped early.
    async fn search(
        &self,
        query: &app::types::TaskQuery,
        limit: u32,
        cap: u32,
    ) -> Result<(Vec<WorkerTask>, Option<String>), StoreError>;

    /// Records the running and queued counts and the limit in the current minute of the
    /// history (every replica, every few seconds).
    async fn sample_minute(&self) -> Result<(), StoreError>;

    /// The last `minutes` minutes of the history (1..=1440), oldest first.
    async fn minutes(&self, minutes: u32) -> Result<MinuteRows, StoreError>;

    /// Every Celery worker heard from, with its state (by `timeout`) and the pool's tasks it
    /// runs, by hostname.
    async fn workers(&self, timeout: Duration) -> Result<Vec<app::types::WorkerInfo>, StoreError>;

    /// Forgets a worker that will not come back: its running tasks end failed and free their
    /// slots, and it leaves the roster. Refused while it is online by its heartbeats.
    async fn forget_worker(
        &self,
        hostname: &str,
        timeout: Duration,
        retention: Duration,
    ) -> Result<ForgetOutcome, StoreError>;

    /// Frees the slots of running tasks whose worker is gone (see `lua/reap.lua`). With
    /// `inline`, also drops their messages from kombu's unacked set in this database.
    async fn reap(
        &self,
        policy: ReapPolicy,
        retention: Duration,
    ) -> Result<Vec<Reaped>, StoreError>;

    /// Drops the history index entries of tasks older than `retention` (their hashes have
    /// expired by themselves). Returns how many.
    async fn prune_finished(&self, retention: Duration) -> Result<u64, StoreError>;

    /// Starts a dashboard session that expires after `ttl`, signed in with the token named
    /// `token_name`.
    async fn create_session(
        &self,
        id: &str,
        ttl: Duration,
        token_name: &str,
    ) -> Result<(), StoreError>;

    /// The name of the token a session signed in with, while the session exists.
    async fn session(&self, id: &str) -> Result<Option<String>, StoreError>;

    /// Records a change in the audit trail (newest last), dropping entries older than
    /// `retention` and past `cap` entries. Returns the entry's id.
    async fn audit_append(
        &self,
        entry: &AuditRecord,
        retention: Duration,
        cap: u64,
    ) -> Result<String, StoreError>;

    /// Leases up to `max` due webhook events to the caller for `lease`, turns cool-downs that
    /// ended by themselves into events, and keeps webhooks on for `on_for`.
    async fn hooks_claim(
        &self,
        lease: Duration,
        max: u32,
        on_for: Duration,
    ) -> Result<Vec<HookClaim>, StoreError>;

    /// Records a delivery attempt of event `id`: the body sent the first time, each URL's
    /// outcome, and when to try again (`None`: done; kept for `keep`).
    async fn hooks_done(
        &self,
        id: &str,
        body: Option<&str>,
        next: Option<Duration>,
        keep: Duration,
        outcomes: &[HookOutcome],
    ) -> Result<(), StoreError>;

    /// The newest `n` webhook events with their stored fields, newest first.
    async fn hooks_list(
        &self,
        n: u32,
    ) -> Result<Vec<(String, std::collections::HashMap<String, String>)>, StoreError>;

    /// Audit entries, newest first: at most `limit`, only newer than `since` and older than
    /// `before` (entry ids) when given.
    async fn audit(
        &self,
        limit: u32,
        since: Option<&str>,
        before: Option<&str>,
    ) -> Result<Vec<app::types::AuditEntry>, StoreError>;

    /// Ends a session.
    async fn delete_session(&self, id: &str) -> Result<(), StoreError>;

    /// The message of a running task's current dispatch, as published.
    async fn dispatch_message(&self, id: &str) -> Result<Option<StoredMessage>, StoreError>;

    /// Answers when the store is reachable; returns the round-trip time.
    async fn ping(&self) -> Result<Duration, StoreError>;

    /// How the store's Redis server may evict and persists (`worker-pool doctor`).
    async fn server_facts(&self) -> Result<crate::connection::ServerFacts, StoreError>;
}
