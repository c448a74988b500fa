//! Where the pool's state lives, behind one trait with two implementations.
//!
//! - [`RedisStore`]: the real one. Every transition that touches a slot is one Lua script
//!   (`lua/*.lua`), so several server processes against one Redis never over-admit.
//! - [`MemoryStore`]: the same contract in process memory, for fast tests of the scheduler.
//!
//! The contract, in short: a slot is a task id's membership of the running set, keyed by its
//! dispatch's fencing token. Only [`Store::dispatch`] adds to it (when a slot is free and the
//! task is the head of the queue) and only [`Store::finish`] and [`Store::cancel`] remove from
//! it (on evidence, for the current dispatch).

mod keys;
mod memory;
mod redis_store;
mod scripts;

pub use keys::Keys;
pub use memory::MemoryStore;
pub use redis_store::RedisStore;

use app::types::{TaskParameters, TaskStatus, WorkerTask};
use std::time::Duration;

/// Why the store could not answer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Redis refused the command or the connection broke.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// Redis did not answer in time.
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
    /// A value in the store is not what this version wrote (a bug, or a foreign writer).
    #[error("corrupt store data: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// True when the store could not be reached (as opposed to answering something odd).
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Timeout(_) => true,
            StoreError::Redis(e) => {
                e.is_io_error()
                    || e.is_connection_dropped()
                    || e.is_connection_refusal()
                    || e.is_timeout()
            }
            StoreError::Corrupt(_) => false,
        }
    }
}

/// A task as submitted, validated.
#[derive(Clone, Debug)]
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
    },
    /// Dispatched at once: a slot was free and nothing waited ahead of it.
    Running {
        /// When it was accepted and dispatched (ms, the store's clock).
        created_ms: i64,
        /// The dispatch's fencing token.
        token: u64,
    },
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
    /// priority arrived): peek again.
    Moved,
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
    /// The head of the queue after the refill (at most `want_head`).
    pub head: Vec<Candidate>,
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
}

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
    /// The head of the queue, in dispatch order (positions filled in).
    pub queued: Vec<WorkerTask>,
    /// The length of the whole queue.
    pub queued_count: u64,
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
    ) -> Result<bool, StoreError>;

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

    /// The pool: limit, running tasks, the first `queue_limit` queued tasks, queue length.
    async fn snapshot(&self, queue_limit: u32) -> Result<Snapshot, StoreError>;

    /// One task, with its position while queued.
    async fn get(&self, id: &str) -> Result<Option<WorkerTask>, StoreError>;

    /// Finished tasks, newest first, optionally of one status.
    async fn history(
        &self,
        status: Option<TaskStatus>,
        limit: u32,
    ) -> Result<Vec<WorkerTask>, StoreError>;

    /// Records a Celery worker event (`worker-heartbeat`, `worker-online`, `worker-offline`)
    /// from the worker's main process `pid`, which sends heartbeats every `interval` and is
    /// executing `active` tasks (an offline with tasks still running is a warm shutdown).
    async fn worker_event(
        &self,
        kind: &str,
        hostname: &str,
        pid: Option<u32>,
        interval: Duration,
        active: Option<u64>,
    ) -> Result<(), StoreError>;

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

    /// Starts a dashboard session that expires after `ttl`.
    async fn create_session(&self, id: &str, ttl: Duration) -> Result<(), StoreError>;

    /// True while the session exists.
    async fn session_exists(&self, id: &str) -> Result<bool, StoreError>;

    /// Ends a session.
    async fn delete_session(&self, id: &str) -> Result<(), StoreError>;

    /// The message and broker list of a running task's current dispatch.
    async fn dispatch_message(&self, id: &str) -> Result<Option<(String, String)>, StoreError>;

    /// Answers when the store is reachable; returns the round-trip time.
    async fn ping(&self) -> Result<Duration, StoreError>;
}

/// Decoding of the task hash, shared by both implementations.
pub(crate) mod fields {
    use super::{RunningEntry, StoreError};
    use app::types::{TaskParameters, TaskStatus, WorkerTask};
    use chrono::{DateTime, TimeZone, Utc};
    use std::collections::HashMap;

    /// Field names of the task hash. Short, because a million queued tasks each carry them.
    pub const SOURCE: &str = "src";
    pub const SYNC_TYPE: &str = "typ";
    pub const NAME: &str = "name";
    pub const PARAMS: &str = "par";
    pub const PRIORITY: &str = "pri";
    pub const STATUS: &str = "st";
    pub const CREATED: &str = "ct";
    pub const STARTED: &str = "sa";
    pub const FINISHED: &str = "fa";
    pub const ERROR: &str = "err";
    pub const CELERY_ID: &str = "cid";
    pub const TOKEN: &str = "tok";
    pub const WORKER: &str = "wk";
    pub const WORKER_STARTED: &str = "ws";
    pub const PUBLISHED: &str = "pub";
    pub const CANCEL_REQUESTED: &str = "cr";

    /// Parameters as stored: `full,batch_size,dry_run` as `0,1000,0` (a million queued tasks
    /// each save the 40 bytes JSON would take).
    pub fn encode_params(p: &TaskParameters) -> String {
        format!("{},{},{}", p.full as u8, p.batch_size, p.dry_run as u8)
    }

    /// Reads [`encode_params`]' format.
    pub fn decode_params(id: &str, s: &str) -> Result<TaskParameters, StoreError> {
        let bad = || StoreError::Corrupt(format!("task {id} parameters {s:?}"));
        let mut parts = s.split(',');
        let flag = |p: Option<&str>| match p {
            Some("0") => Ok(false),
            Some("1") => Ok(true),
            _ => Err(bad()),
        };
        let full = flag(parts.next())?;
        let batch_size = parts.next().and_then(|b| b.parse().ok()).ok_or_else(bad)?;
        let dry_run = flag(parts.next())?;
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(TaskParameters {
            full,
            batch_size,
            dry_run,
        })
    }

    /// The Celery task name: stored only when it is not `<crm_source>.<sync_type>`.
    pub fn task_name(stored: Option<&str>, crm_source: &str, sync_type: &str) -> String {
        match stored {
            Some(n) if !n.is_empty() => n.to_string(),
            _ => format!("{crm_source}.{sync_type}"),
        }
    }

    fn ms(map: &HashMap<String, String>, key: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        match map.get(key) {
            None => Ok(None),
            Some(v) => {
                let n: i64 = v
                    .parse()
                    .map_err(|_| StoreError::Corrupt(format!("{key}={v:?} is not a number")))?;
                Ok(Utc.timestamp_millis_opt(n).single())
            }
        }
    }

    fn req<'a>(
        map: &'a HashMap<String, String>,
        id: &str,
        key: &str,
    ) -> Result<&'a str, StoreError> {
        map.get(key)
            .map(String::as_str)
            .ok_or_else(|| StoreError::Corrupt(format!("task {id} has no {key}")))
    }

    /// A `WorkerTask` from the hash's fields.
    pub fn task(
        id: &str,
        map: &HashMap<String, String>,
        position: Option<u64>,
    ) -> Result<WorkerTask, StoreError> {
        let status: TaskStatus = req(map, id, STATUS)?
            .parse()
            .map_err(|e: String| StoreError::Corrupt(format!("task {id}: {e}")))?;
        let parameters = decode_params(id, req(map, id, PARAMS)?)?;
        let priority: i32 = req(map, id, PRIORITY)?
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("task {id} priority")))?;
        let crm_source = req(map, id, SOURCE)?;
        let sync_type = req(map, id, SYNC_TYPE)?;
        Ok(WorkerTask {
            task_id: id.to_string(),
            crm_source: crm_source.to_string(),
            sync_type: sync_type.to_string(),
            task_name: task_name(map.get(NAME).map(String::as_str), crm_source, sync_type),
            parameters,
            priority,
            status,
            position: if status == TaskStatus::Queued {
                position
            } else {
                None
            },
            created_at: ms(map, CREATED)?
                .ok_or_else(|| StoreError::Corrupt(format!("task {id} has no {CREATED}")))?,
            started_at: ms(map, STARTED)?,
            finished_at: ms(map, FINISHED)?,
            error: map.get(ERROR).cloned(),
            worker: map.get(WORKER).cloned(),
            worker_started_at: ms(map, WORKER_STARTED)?,
            waiting_for_worker: status == TaskStatus::Running && !map.contains_key(WORKER_STARTED),
        })
    }

    /// The fencing data of a running task's hash.
    pub fn running_entry(
        id: &str,
        map: &HashMap<String, String>,
    ) -> Result<RunningEntry, StoreError> {
        Ok(RunningEntry {
            id: id.to_string(),
            celery_id: req(map, id, CELERY_ID)?.to_string(),
            token: req(map, id, TOKEN)?
                .parse()
                .map_err(|_| StoreError::Corrupt(format!("task {id} token")))?,
            worker: map.get(WORKER).cloned(),
            published: map.get(PUBLISHED).map(|v| v == "1").unwrap_or(true),
            cancel_requested: map.contains_key(CANCEL_REQUESTED),
        })
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn parameters_round_trip_compactly() {
            for p in [
                TaskParameters::default(),
                TaskParameters {
                    full: true,
                    batch_size: 1,
                    dry_run: true,
                },
                TaskParameters {
                    full: false,
                    batch_size: 100_000,
                    dry_run: true,
                },
            ] {
                let s = encode_params(&p);
                assert!(s.len() <= 10, "{s}");
                assert_eq!(decode_params("t", &s).unwrap(), p);
            }
            for bad in ["", "1,2", "2,5,0", "0,x,0", "0,5,0,1", "{}"] {
                assert!(decode_params("t", bad).is_err(), "{bad}");
            }
            assert_eq!(task_name(None, "a", "b"), "a.b");
            assert_eq!(task_name(Some(""), "a", "b"), "a.b");
            assert_eq!(task_name(Some("x.y"), "a", "b"), "x.y");
        }
    }
}
