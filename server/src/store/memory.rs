//! The in-memory implementation of [`Store`], for tests of the scheduler that run with paused
//! time and no Redis. It keeps tasks in the same field maps the Redis hashes hold and follows the
//! Lua scripts step by step; the contract suite (`tests/it/store_contract.rs`) runs against both.
//!
//! [`MemoryStore::new`] behaves as "inline": dispatches push their messages to an in-memory
//! broker that tests can read (and take from, as a worker would). [`MemoryStore::two_phase`]
//! stands for a store whose broker is elsewhere: it pushes nothing.

use super::fields::{self, *};
use super::{
    CancelOutcome, Candidate, DispatchStop, Dispatched, Finish, FinishReport, Finished, NewTask,
    OnWorkerLost, Peek, Prepared, ReapPolicy, Reaped, ReprioritizeOutcome, Snapshot, Store,
    StoreError, Submitted,
};
use app::types::{TaskStatus, WorkerTask};
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

type Fields = HashMap<String, String>;

#[derive(Default)]
struct State {
    max_workers: Option<u32>,
    seq: u64,
    token: u64,
    /// (score, id), score as in `queue_score`.
    queue: BTreeSet<(i128, String)>,
    queue_score: HashMap<String, i128>,
    /// (token, id)
    running: BTreeSet<(u64, String)>,
    /// (finished ms, id)
    finished: BTreeSet<(i64, String)>,
    tasks: HashMap<String, Fields>,
    /// Expiry (ms) of finished tasks.
    expires: HashMap<String, i64>,
    broker: HashMap<String, VecDeque<String>>,
    workers: HashMap<String, WorkerSeen>,
    /// session id -> expiry (ms)
    sessions: HashMap<String, i64>,
}

/// What was last heard from one Celery worker (ms): heartbeat or online, offline, and the
/// process holding its name (pid, earliest it can have come online; see `worker_event.lua`).
#[derive(Clone, Default)]
struct WorkerSeen {
    seen: Option<i64>,
    /// When, and how many tasks it still ran (more than 0: a warm shutdown draining them).
    offline: Option<(i64, u64)>,
    process: Option<(u32, i64)>,
}

/// The pool's state in process memory.
pub struct MemoryStore {
    state: Mutex<State>,
    inline: bool,
    wall_base_ms: i64,
    instant_base: tokio::time::Instant,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

fn queue_score(priority: i32, seq: u64) -> i128 {
    (100 - priority as i128) * (1i128 << 44) + seq as i128
}

/// A task's status, from its fields.
fn status_of(t: &Fields) -> Result<TaskStatus, StoreError> {
    t.get(STATUS)
        .map(String::as_str)
        .unwrap_or("")
        .parse()
        .map_err(StoreError::Corrupt)
}

/// A queued task's arrival number lives only in its score, as in Redis.
fn seq_of_score(score: i128) -> u64 {
    (score % (1i128 << 44)) as u64
}

impl MemoryStore {
    /// An empty store whose broker is itself (inline).
    pub fn new() -> Self {
        Self::with_inline(true)
    }

    /// An empty store whose broker is elsewhere (two-phase dispatch).
    pub fn two_phase() -> Self {
        Self::with_inline(false)
    }

    fn with_inline(inline: bool) -> Self {
        MemoryStore {
            inline,
            state: Mutex::new(State::default()),
            wall_base_ms: chrono::Utc::now().timestamp_millis(),
            instant_base: tokio::time::Instant::now(),
        }
    }

    /// Milliseconds since the epoch; follows tokio's clock, so paused tests control it.
    fn now_ms(&self) -> i64 {
        self.wall_base_ms + self.instant_base.elapsed().as_millis() as i64
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock is a bug in a test; the state is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The messages pushed to `list` by inline dispatches, oldest first.
    pub fn broker_messages(&self, list: &str) -> Vec<String> {
        let st = self.lock();
        st.broker
            .get(list)
            .map(|q| q.iter().rev().cloned().collect())
            .unwrap_or_default()
    }

    /// Takes the oldest message of `list`, as a worker's BRPOP would.
    pub fn broker_pop(&self, list: &str) -> Option<String> {
        self.lock().broker.get_mut(list)?.pop_back()
    }

    /// Takes one given message out of `list` (a worker took it); false when absent.
    pub fn broker_take(&self, list: &str, message: &str) -> bool {
        let mut st = self.lock();
        let Some(q) = st.broker.get_mut(list) else {
            return false;
        };
        match q.iter().position(|m| m == message) {
            Some(i) => q.remove(i).is_some(),
            None => false,
        }
    }

    fn purge(st: &mut State, now: i64) {
        let expired: Vec<String> = st
            .expires
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired {
            st.expires.remove(&id);
            st.tasks.remove(&id);
        }
    }

    fn make_terminal(
        st: &mut State,
        id: &str,
        status: TaskStatus,
        error: Option<&str>,
        now: i64,
        retention: Duration,
    ) {
        if let Some(t) = st.tasks.get_mut(id) {
            t.insert(STATUS.into(), status.as_str().into());
            t.insert(FINISHED.into(), now.to_string());
            if let Some(e) = error.filter(|e| !e.is_empty()) {
                t.insert(ERROR.into(), e.into());
            }
            for f in ["msg", "bl", "dt", PUBLISHED, CANCEL_REQUESTED] {
                t.remove(f);
            }
        }
        st.finished.insert((now, id.to_string()));
        st.expires
            .insert(id.to_string(), now + retention.as_millis() as i64);
    }

    /// Ends a running task if the evidence is about its current dispatch (finish.lua's checks).
    fn end_running(&self, finish: &Finish, retention: Duration) -> bool {
        let now = self.now_ms();
        let mut st = self.lock();
        let Some(t) = st.tasks.get(&finish.id) else {
            return false;
        };
        let current = t.get(STATUS).map(String::as_str) == Some("running")
            && finish
                .celery_id
                .as_ref()
                .is_none_or(|cid| t.get(CELERY_ID) == Some(cid))
            && finish
                .token
                .is_none_or(|tok| t.get(TOKEN) == Some(&tok.to_string()));
        if current {
            Self::remove_running(&mut st, &finish.id);
            Self::make_terminal(
                &mut st,
                &finish.id,
                finish.status,
                finish.error.as_deref(),
                now,
                retention,
            );
        }
        current
    }

    /// The first `n` queued tasks, as dispatch candidates.
    fn peek_head(&self, n: usize) -> Result<Vec<Candidate>, StoreError> {
        let st = self.lock();
        st.queue
            .iter()
            .take(n)
            .map(|(_, id)| {
                let t = &st.tasks[id];
                Ok(Candidate {
                    attempts: t.get("att").and_then(|a| a.parse().ok()).unwrap_or(0),
                    id: id.clone(),
                    task_name: fields::task_name(
                        t.get(NAME).map(String::as_str),
                        t.get(SOURCE).map(String::as_str).unwrap_or(""),
                        t.get(SYNC_TYPE).map(String::as_str).unwrap_or(""),
                    ),
                    parameters: fields::decode_params(
                        id,
                        t.get(PARAMS).map(String::as_str).unwrap_or(""),
                    )?,
                })
            })
            .collect()
    }

    fn remove_running(st: &mut State, id: &str) {
        st.running.retain(|(_, rid)| rid != id);
    }
}

#[async_trait::async_trait]
impl Store for MemoryStore {
    async fn seed_max_workers(&self, initial: u32) -> Result<u32, StoreError> {
        let mut st = self.lock();
        Ok(*st.max_workers.get_or_insert(initial))
    }

    async fn set_max_workers(&self, value: u32) -> Result<Option<u32>, StoreError> {
        Ok(self.lock().max_workers.replace(value))
    }

    async fn submit(
        &self,
        task: &NewTask,
        dispatch: Option<&Prepared>,
    ) -> Result<Submitted, StoreError> {
        let now = self.now_ms();
        let queue_was_empty;
        {
            let mut st = self.lock();
            Self::purge(&mut st, now);
            if st.tasks.contains_key(&task.id) {
                return Ok(Submitted::Duplicate);
            }
            queue_was_empty = st.queue.is_empty();
            st.seq += 1;
            let seq = st.seq;
            let mut f = Fields::new();
            f.insert(SOURCE.into(), task.crm_source.clone());
            f.insert(SYNC_TYPE.into(), task.sync_type.clone());
            if task.task_name != format!("{}.{}", task.crm_source, task.sync_type) {
                f.insert(NAME.into(), task.task_name.clone());
            }
            f.insert(PARAMS.into(), fields::encode_params(&task.parameters));
            f.insert(PRIORITY.into(), task.priority.to_string());
            f.insert(STATUS.into(), "queued".into());
            f.insert(CREATED.into(), now.to_string());
            st.tasks.insert(task.id.clone(), f);
            let score = queue_score(task.priority, seq);
            st.queue.insert((score, task.id.clone()));
            st.queue_score.insert(task.id.clone(), score);
        }
        let free = {
            let st = self.lock();
            st.max_workers.unwrap_or(1) as i64 - st.running.len() as i64
        };
        if let Some(p) = dispatch {
            // As submit.lua: at once only into a free slot with an empty queue.
            if free > 0 && queue_was_empty {
                let (done, _) = self.dispatch(std::slice::from_ref(p)).await?;
                if let Some(d) = done.first() {
                    return Ok(Submitted::Running {
                        created_ms: now,
                        token: d.token,
                    });
                }
            }
        }
        let st = self.lock();
        let position = st
            .queue
            .iter()
            .position(|(_, id)| *id == task.id)
            .unwrap_or(0) as u64
            + 1;
        Ok(Submitted::Queued {
            created_ms: now,
            position,
            free: free.max(0) as u32,
        })
    }

    async fn peek(&self, max: u32) -> Result<Peek, StoreError> {
        let st = self.lock();
        let limit = st.max_workers.unwrap_or(1) as i64;
        let free = limit - st.running.len() as i64;
        if free <= 0 {
            return Ok(Peek::default());
        }
        let n = (free as usize).min(max.max(1) as usize);
        drop(st);
        let head = self.peek_head(n)?;
        Ok(Peek {
            free: free as u32,
            head,
        })
    }

    async fn dispatch(
        &self,
        batch: &[Prepared],
    ) -> Result<(Vec<Dispatched>, DispatchStop), StoreError> {
        let inline = self.inline;
        let now = self.now_ms();
        let mut st = self.lock();
        let max = st.max_workers.unwrap_or(1) as usize;
        let mut out = Vec::new();
        let mut stop = DispatchStop::Done;
        for p in batch {
            if st.running.len() >= max {
                stop = DispatchStop::Full;
                break;
            }
            let head = st.queue.iter().next().map(|(_, id)| id.clone());
            if head.as_deref() != Some(p.id.as_str()) {
                stop = DispatchStop::Moved;
                break;
            }
            let score = st.queue_score.remove(&p.id).unwrap_or_default();
            st.queue.remove(&(score, p.id.clone()));
            let seq = seq_of_score(score);
            let queued = st
                .tasks
                .get(&p.id)
                .and_then(|t| t.get(STATUS))
                .map(String::as_str)
                == Some("queued");
            if !queued {
                continue;
            }
            st.token += 1;
            let token = st.token;
            st.running.insert((token, p.id.clone()));
            let t = st.tasks.get_mut(&p.id).expect("checked above");
            t.insert(STATUS.into(), "running".into());
            t.insert(STARTED.into(), now.to_string());
            t.insert(TOKEN.into(), token.to_string());
            t.insert(CELERY_ID.into(), p.celery_id.clone());
            t.insert("msg".into(), p.message.clone());
            t.insert("dt".into(), p.delivery_tag.clone());
            t.insert("seq".into(), seq.to_string());
            t.insert("bl".into(), p.list.clone());
            t.insert(PUBLISHED.into(), if inline { "1" } else { "0" }.into());
            let att: u64 = t.get("att").and_then(|a| a.parse().ok()).unwrap_or(0);
            t.insert("att".into(), (att + 1).to_string());
            if inline {
                st.broker
                    .entry(p.list.clone())
                    .or_default()
                    .push_front(p.message.clone());
            }
            out.push(Dispatched {
                id: p.id.clone(),
                token,
            });
        }
        Ok((out, stop))
    }

    async fn confirm_published(&self, id: &str, token: u64) -> Result<bool, StoreError> {
        let mut st = self.lock();
        match st.tasks.get_mut(id) {
            Some(t)
                if t.get(STATUS).map(String::as_str) == Some("running")
                    && t.get(TOKEN) == Some(&token.to_string()) =>
            {
                t.insert(PUBLISHED.into(), "1".into());
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn mark_started(
        &self,
        id: &str,
        celery_id: &str,
        worker: Option<&str>,
        pid: Option<i64>,
    ) -> Result<bool, StoreError> {
        let now = self.now_ms();
        let mut st = self.lock();
        let Some(t) = st.tasks.get_mut(id) else {
            return Ok(false);
        };
        if t.get(STATUS).map(String::as_str) != Some("running")
            || t.get(CELERY_ID).map(String::as_str) != Some(celery_id)
            || t.contains_key(WORKER_STARTED)
        {
            return Ok(false);
        }
        t.insert(WORKER_STARTED.into(), now.to_string());
        if let Some(w) = worker.filter(|w| !w.is_empty()) {
            t.insert(WORKER.into(), w.into());
        }
        if let Some(p) = pid {
            t.insert("wpid".into(), p.to_string());
        }
        Ok(true)
    }

    async fn finish(
        &self,
        finish: &Finish,
        retention: Duration,
        refill: &[Prepared],
        want_head: u32,
    ) -> Result<FinishReport, StoreError> {
        if !self.end_running(finish, retention) {
            return Ok(FinishReport {
                finished: Finished::Stale,
                dispatched: Vec::new(),
                stop: DispatchStop::Done,
                head: Vec::new(),
            });
        }
        let (dispatched, stop) = self.dispatch(refill).await?;
        let head = self.peek_head(want_head as usize)?;
        let backlog = {
            let st = self.lock();
            !st.queue.is_empty() && st.running.len() < st.max_workers.unwrap_or(1) as usize
        };
        Ok(FinishReport {
            finished: Finished::Ended { backlog },
            dispatched,
            stop,
            head,
        })
    }

    async fn cancel(&self, id: &str, retention: Duration) -> Result<CancelOutcome, StoreError> {
        let inline = self.inline;
        let now = self.now_ms();
        let mut st = self.lock();
        Self::purge(&mut st, now);
        let Some(t) = st.tasks.get(id) else {
            return Ok(CancelOutcome::Missing);
        };
        let status = status_of(t)?;
        match status {
            TaskStatus::Queued => {
                if let Some(score) = st.queue_score.remove(id) {
                    st.queue.remove(&(score, id.to_string()));
                }
                Self::make_terminal(
                    &mut st,
                    id,
                    TaskStatus::Cancelled,
                    Some("Cancelled while queued."),
                    now,
                    retention,
                );
                Ok(CancelOutcome::Cancelled)
            }
            TaskStatus::Running => {
                let cid = t.get(CELERY_ID).cloned().unwrap_or_default();
                let token: u64 = t.get(TOKEN).and_then(|v| v.parse().ok()).unwrap_or(0);
                let msg = t.get("msg").cloned().unwrap_or_default();
                let list = t.get("bl").cloned().unwrap_or_default();
                if inline {
                    if let Some(q) = st.broker.get_mut(&list) {
                        if let Some(pos) = q.iter().position(|m| *m == msg) {
                            q.remove(pos);
                            Self::remove_running(&mut st, id);
                            Self::make_terminal(
                                &mut st,
                                id,
                                TaskStatus::Cancelled,
                                Some("Cancelled before a worker took it."),
                                now,
                                retention,
                            );
                            return Ok(CancelOutcome::Cancelled);
                        }
                    }
                }
                let t = st.tasks.get_mut(id).expect("present");
                t.entry(CANCEL_REQUESTED.into())
                    .or_insert_with(|| now.to_string());
                Ok(CancelOutcome::Revoke {
                    celery_id: cid,
                    token,
                    message: msg,
                    list,
                })
            }
            terminal => Ok(CancelOutcome::Terminal(terminal)),
        }
    }

    async fn reprioritize(
        &self,
        id: &str,
        priority: i32,
    ) -> Result<ReprioritizeOutcome, StoreError> {
        let now = self.now_ms();
        let mut st = self.lock();
        Self::purge(&mut st, now);
        let Some(t) = st.tasks.get_mut(id) else {
            return Ok(ReprioritizeOutcome::Missing);
        };
        let status = status_of(t)?;
        if status != TaskStatus::Queued {
            return Ok(ReprioritizeOutcome::NotQueued(status));
        }
        t.insert(PRIORITY.into(), priority.to_string());
        let old = st.queue_score.remove(id).unwrap_or_default();
        let seq = seq_of_score(old);
        st.queue.remove(&(old, id.to_string()));
        let score = queue_score(priority, seq);
        st.queue.insert((score, id.to_string()));
        st.queue_score.insert(id.to_string(), score);
        let rank = st.queue.iter().position(|(_, qid)| qid == id).unwrap_or(0);
        Ok(ReprioritizeOutcome::Moved {
            position: rank as u64 + 1,
        })
    }

    async fn snapshot(&self, queue_limit: u32) -> Result<Snapshot, StoreError> {
        let now = self.now_ms();
        let mut st = self.lock();
        Self::purge(&mut st, now);
        let mut running = Vec::new();
        let mut running_entries = Vec::new();
        for (_, id) in &st.running {
            let t = st
                .tasks
                .get(id)
                .ok_or_else(|| StoreError::Corrupt(format!("running task {id} has no hash")))?;
            running.push(fields::task(id, t, None)?);
            running_entries.push(fields::running_entry(id, t)?);
        }
        let mut queued = Vec::new();
        for (i, (_, id)) in st.queue.iter().take(queue_limit as usize).enumerate() {
            if let Some(t) = st.tasks.get(id) {
                queued.push(fields::task(id, t, Some(i as u64 + 1))?);
            }
        }
        Ok(Snapshot {
            max_workers: st.max_workers.unwrap_or(1),
            running,
            running_entries,
            queued,
            queued_count: st.queue.len() as u64,
        })
    }

    async fn get(&self, id: &str) -> Result<Option<WorkerTask>, StoreError> {
        let now = self.now_ms();
        let mut st = self.lock();
        Self::purge(&mut st, now);
        let Some(t) = st.tasks.get(id) else {
            return Ok(None);
        };
        let position = st
            .queue
            .iter()
            .position(|(_, qid)| qid == id)
            .map(|r| r as u64 + 1);
        fields::task(id, t, position).map(Some)
    }

    async fn history(
        &self,
        status: Option<TaskStatus>,
        limit: u32,
    ) -> Result<Vec<WorkerTask>, StoreError> {
        let now = self.now_ms();
        let mut st = self.lock();
        Self::purge(&mut st, now);
        let mut out = Vec::new();
        for (_, id) in st.finished.iter().rev() {
            if out.len() >= limit as usize {
                break;
            }
            let Some(t) = st.tasks.get(id) else { continue };
            let task = fields::task(id, t, None)?;
            if status.is_none_or(|s| s == task.status) {
                out.push(task);
            }
        }
        Ok(out)
    }

    async fn worker_event(
        &self,
        kind: &str,
        hostname: &str,
        pid: Option<u32>,
        interval: Duration,
        active: Option<u64>,
    ) -> Result<(), StoreError> {
        let now = self.now_ms();
        let mut st = self.lock();
        let w = st.workers.entry(hostname.to_string()).or_default();
        if kind == "worker-offline" {
            w.offline = Some((now, active.unwrap_or(0)));
        } else {
            w.seen = Some(now);
        }
        if let Some(pid) = pid {
            if w.process.is_none_or(|(known, _)| known != pid) {
                let since = match w.process {
                    None => 0,
                    Some(_) if kind == "worker-online" => now,
                    Some(_) => now - (interval.as_millis() as i64 * 5 / 4),
                };
                w.process = Some((pid, since));
            }
        }
        Ok(())
    }

    async fn reap(
        &self,
        policy: ReapPolicy,
        retention: Duration,
    ) -> Result<Vec<Reaped>, StoreError> {
        let now = self.now_ms();
        let mut st = self.lock();
        let timeout = policy.heartbeat_timeout.as_millis() as i64;
        let guard = policy.restart_guard.as_millis() as i64;
        let grace_off = policy.offline_grace.as_millis() as i64;
        let running: Vec<String> = st.running.iter().map(|(_, id)| id.clone()).collect();
        let mut out = Vec::new();
        for id in running {
            let t = &st.tasks[&id];
            let (Some(worker), Some(ws)) = (
                t.get(WORKER).cloned(),
                t.get(WORKER_STARTED).and_then(|v| v.parse::<i64>().ok()),
            ) else {
                continue;
            };
            let WorkerSeen {
                seen,
                offline,
                process,
            } = st.workers.get(&worker).cloned().unwrap_or_default();
            let restarted = process.is_some_and(|(_, since)| since > ws + guard);
            let quiet = offline.filter(|&(off, _)| off >= ws && seen.is_none_or(|s| off > s));
            let reason = if let Some((off, _)) =
                quiet.filter(|&(_, still_running)| still_running > 0)
            {
                // A warm shutdown: see `lua/reap.lua`.
                if restarted {
                    format!("Worker lost: {worker} restarted while running it.")
                } else if t.contains_key(CANCEL_REQUESTED) && now - off > timeout {
                    format!("Worker lost: {worker} shut down while running it and never answered the cancel.")
                } else {
                    continue;
                }
            } else if quiet.is_some_and(|(off, _)| now - off >= grace_off) {
                format!("Worker lost: {worker} went offline while running it.")
            } else if restarted {
                format!("Worker lost: {worker} restarted while running it.")
            } else if let Some(s) = seen.filter(|s| now - s > timeout) {
                format!(
                    "Worker lost: no heartbeat from {worker} for {} s.",
                    (now - s) / 1000
                )
            } else {
                continue;
            };
            let cancel_requested = t.contains_key(CANCEL_REQUESTED);
            let tag = t.get("dt").cloned().unwrap_or_default();
            Self::remove_running(&mut st, &id);
            let outcome = if cancel_requested {
                Self::make_terminal(
                    &mut st,
                    &id,
                    TaskStatus::Cancelled,
                    Some(&reason),
                    now,
                    retention,
                );
                "cancelled"
            } else if policy.on_lost == OnWorkerLost::Requeue {
                let t = st.tasks.get_mut(&id).expect("present");
                for f in [
                    STARTED,
                    TOKEN,
                    CELERY_ID,
                    "msg",
                    "bl",
                    "dt",
                    PUBLISHED,
                    WORKER,
                    WORKER_STARTED,
                    "wpid",
                ] {
                    t.remove(f);
                }
                t.insert(STATUS.into(), "queued".into());
                let priority: i32 = t.get(PRIORITY).and_then(|p| p.parse().ok()).unwrap_or(0);
                let seq: u64 = t.get("seq").and_then(|p| p.parse().ok()).unwrap_or(0);
                let score = queue_score(priority, seq);
                st.queue.insert((score, id.clone()));
                st.queue_score.insert(id.clone(), score);
                "requeued"
            } else {
                Self::make_terminal(
                    &mut st,
                    &id,
                    TaskStatus::Failed,
                    Some(&reason),
                    now,
                    retention,
                );
                "failed"
            };
            out.push(Reaped {
                id,
                outcome: outcome.into(),
                reason,
                delivery_tag: tag,
            });
        }
        Ok(out)
    }

    async fn prune_finished(&self, retention: Duration) -> Result<u64, StoreError> {
        let cutoff = self.now_ms() - retention.as_millis() as i64;
        let mut st = self.lock();
        let before = st.finished.len();
        st.finished.retain(|(at, _)| *at >= cutoff);
        Ok((before - st.finished.len()) as u64)
    }

    async fn create_session(&self, id: &str, ttl: Duration) -> Result<(), StoreError> {
        let at = self.now_ms() + ttl.as_millis() as i64;
        self.lock().sessions.insert(id.to_string(), at);
        Ok(())
    }

    async fn session_exists(&self, id: &str) -> Result<bool, StoreError> {
        let now = self.now_ms();
        Ok(self.lock().sessions.get(id).is_some_and(|at| *at > now))
    }

    async fn delete_session(&self, id: &str) -> Result<(), StoreError> {
        self.lock().sessions.remove(id);
        Ok(())
    }

    async fn dispatch_message(&self, id: &str) -> Result<Option<(String, String)>, StoreError> {
        let st = self.lock();
        let Some(t) = st.tasks.get(id) else {
            return Ok(None);
        };
        if t.get(STATUS).map(String::as_str) != Some("running") {
            return Ok(None);
        }
        Ok(match (t.get("msg"), t.get("bl")) {
            (Some(m), Some(l)) => Some((m.clone(), l.clone())),
            _ => None,
        })
    }

    async fn ping(&self) -> Result<Duration, StoreError> {
        Ok(Duration::ZERO)
    }
}
