//! The Redis implementation of [`Store`]: one Lua script per transition.

use super::fields;
use super::keys::Keys;
use super::scripts::Scripts;
use super::{
    CancelOutcome, Candidate, DispatchStop, Dispatched, Finish, FinishReport, Finished, NewTask,
    OnWorkerLost, Peek, Prepared, ReapPolicy, Reaped, ReprioritizeOutcome, Snapshot, Store,
    StoreError, Submitted,
};
use app::types::{TaskStatus, WorkerTask};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::Value;
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The pool's state in Redis, behind a shared, self-reconnecting connection.
///
/// Connecting is lazy: the server starts (and `/healthz` answers) while Redis is down, and
/// every command gives up after `timeout` instead of hanging a request.
#[derive(Clone)]
pub struct RedisStore {
    conn: ConnectionManager,
    /// True when Celery's broker is this very database: messages are pushed, withdrawn and
    /// dropped from kombu's unacked set by the scripts themselves.
    inline: bool,
    timeout: Duration,
    keys: Arc<Keys>,
    scripts: Arc<Scripts>,
}

impl RedisStore {
    /// Prepares a connection to `url` for the pool under `prefix`; nothing is sent until the
    /// first command. `inline`: Celery's broker is this same database.
    pub fn new(
        url: &str,
        prefix: &str,
        timeout: Duration,
        inline: bool,
    ) -> Result<Self, StoreError> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let conn = ConnectionManager::new_lazy_with_config(client, config)?;
        Ok(RedisStore {
            conn,
            inline,
            timeout,
            keys: Arc::new(Keys::new(prefix)),
            scripts: Arc::new(Scripts::new()),
        })
    }

    /// The key names.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// A clone of the connection, for commands of the caller's own.
    pub fn connection(&self) -> ConnectionManager {
        self.conn.clone()
    }

    async fn timed<T>(
        &self,
        fut: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(r) => r.map_err(StoreError::from),
            Err(_) => Err(StoreError::Timeout(self.timeout)),
        }
    }
}

// --- decoding of script replies --------------------------------------------------------------

fn corrupt(what: &str, v: &Value) -> StoreError {
    StoreError::Corrupt(format!("unexpected reply for {what}: {v:?}"))
}

fn string(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        Value::Int(i) => Some(i.to_string()),
        Value::Okay => Some("OK".into()),
        _ => None,
    }
}

fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        other => string(other)?.parse().ok(),
    }
}

fn array(v: &Value) -> Option<&[Value]> {
    match v {
        Value::Array(items) => Some(items),
        _ => None,
    }
}

/// An HGETALL-shaped flat array into a map.
fn field_map(v: &Value) -> Option<HashMap<String, String>> {
    let items = array(v)?;
    let mut map = HashMap::with_capacity(items.len() / 2);
    for pair in items.chunks(2) {
        if let [k, val] = pair {
            map.insert(string(k)?, string(val)?);
        }
    }
    Some(map)
}

/// `{id, {field, value, ...}}` entries.
fn task_entries(v: &Value) -> Option<Vec<(String, HashMap<String, String>)>> {
    array(v)?
        .iter()
        .map(|e| {
            let pair = array(e)?;
            Some((string(pair.first()?)?, field_map(pair.get(1)?)?))
        })
        .collect()
}

/// Appends prepared dispatches to a script's arguments, five per task (see `dispatch.lua`).
fn push_prepared(inv: &mut redis::ScriptInvocation<'_>, batch: &[Prepared]) {
    for p in batch {
        inv.arg(&p.id)
            .arg(&p.celery_id)
            .arg(&p.message)
            .arg(&p.list)
            .arg(&p.delivery_tag);
    }
}

fn stop_of(v: Option<&Value>) -> Option<DispatchStop> {
    match v.and_then(string).as_deref() {
        Some("done") => Some(DispatchStop::Done),
        Some("full") => Some(DispatchStop::Full),
        Some("moved") => Some(DispatchStop::Moved),
        _ => None,
    }
}

/// `{id, token}` pairs.
fn dispatched_of(v: &Value) -> Result<Vec<Dispatched>, StoreError> {
    array(v)
        .ok_or_else(|| corrupt("dispatched", v))?
        .iter()
        .map(|item| {
            let parts = array(item).ok_or_else(|| corrupt("dispatched", v))?;
            Ok(Dispatched {
                id: parts
                    .first()
                    .and_then(string)
                    .ok_or_else(|| corrupt("dispatched", v))?,
                token: parts
                    .get(1)
                    .and_then(int)
                    .ok_or_else(|| corrupt("dispatched", v))? as u64,
            })
        })
        .collect()
}

/// `{id, name, parameters, attempts, crm_source, sync_type}` entries (peek.lua, finish.lua).
fn candidates_of(v: &Value) -> Result<Vec<Candidate>, StoreError> {
    array(v)
        .ok_or_else(|| corrupt("candidates", v))?
        .iter()
        .map(|item| {
            let parts = array(item).ok_or_else(|| corrupt("candidates", v))?;
            let text = |i: usize| parts.get(i).and_then(string).unwrap_or_default();
            let id = text(0);
            Ok(Candidate {
                attempts: text(3).parse().unwrap_or(0),
                task_name: fields::task_name(Some(&text(1)), &text(4), &text(5)),
                parameters: fields::decode_params(&id, &text(2))?,
                id,
            })
        })
        .collect()
}

#[async_trait::async_trait]
impl Store for RedisStore {
    async fn seed_max_workers(&self, initial: u32) -> Result<u32, StoreError> {
        let mut conn = self.conn.clone();
        let (_, value): (i64, Option<String>) = self
            .timed(
                redis::pipe()
                    .atomic()
                    .cmd("HSETNX")
                    .arg(&self.keys.config)
                    .arg("max_workers")
                    .arg(initial)
                    .cmd("HGET")
                    .arg(&self.keys.config)
                    .arg("max_workers")
                    .query_async(&mut conn),
            )
            .await?;
        value
            .as_deref()
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| StoreError::Corrupt(format!("max_workers is {value:?}")))
    }

    async fn set_max_workers(&self, value: u32) -> Result<Option<u32>, StoreError> {
        let mut conn = self.conn.clone();
        let prev: String = self
            .timed(
                self.scripts
                    .set_max
                    .key(&self.keys.config)
                    .key(&self.keys.events)
                    .arg(value)
                    .invoke_async(&mut conn),
            )
            .await?;
        Ok(prev.parse().ok())
    }

    async fn submit(
        &self,
        task: &NewTask,
        dispatch: Option<&Prepared>,
    ) -> Result<Submitted, StoreError> {
        let mut conn = self.conn.clone();
        let reply: Value = self
            .timed(
                self.scripts
                    .submit
                    .key(&self.keys.queue)
                    .key(&self.keys.seq)
                    .key(self.keys.task(&task.id))
                    .key(&self.keys.events)
                    .key(&self.keys.config)
                    .key(&self.keys.running)
                    .key(&self.keys.token)
                    .arg(&task.id)
                    .arg(&task.crm_source)
                    .arg(&task.sync_type)
                    .arg(&task.task_name)
                    .arg(fields::encode_params(&task.parameters))
                    .arg(task.priority)
                    .arg(dispatch.map(|p| p.celery_id.as_str()).unwrap_or(""))
                    .arg(dispatch.map(|p| p.message.as_str()).unwrap_or(""))
                    .arg(dispatch.map(|p| p.list.as_str()).unwrap_or(""))
                    .arg(if self.inline { "1" } else { "0" })
                    .arg(dispatch.map(|p| p.delivery_tag.as_str()).unwrap_or(""))
                    .invoke_async(&mut conn),
            )
            .await?;
        let items = array(&reply).ok_or_else(|| corrupt("submit", &reply))?;
        let num = |i: usize| {
            items
                .get(i)
                .and_then(int)
                .ok_or_else(|| corrupt("submit", &reply))
        };
        if num(0)? == 0 {
            return Ok(Submitted::Duplicate);
        }
        let created_ms = num(1)?;
        match items.get(2).and_then(string).as_deref() {
            Some("running") => Ok(Submitted::Running {
                created_ms,
                token: num(3)? as u64,
            }),
            Some("queued") => Ok(Submitted::Queued {
                created_ms,
                position: num(3)? as u64 + 1,
                free: num(4)?.max(0) as u32,
            }),
            _ => Err(corrupt("submit", &reply)),
        }
    }

    async fn peek(&self, max: u32) -> Result<Peek, StoreError> {
        let mut conn = self.conn.clone();
        let reply: Value = self
            .timed(
                self.scripts
                    .peek
                    .key(&self.keys.config)
                    .key(&self.keys.running)
                    .key(&self.keys.queue)
                    .key(&self.keys.task_prefix)
                    .arg(max.max(1))
                    .invoke_async(&mut conn),
            )
            .await?;
        let items = array(&reply).ok_or_else(|| corrupt("peek", &reply))?;
        let free = items
            .first()
            .and_then(int)
            .ok_or_else(|| corrupt("peek", &reply))?;
        let head = candidates_of(&Value::Array(items[1..].to_vec()))?;
        Ok(Peek {
            free: free.max(0) as u32,
            head,
        })
    }

    async fn dispatch(
        &self,
        batch: &[Prepared],
    ) -> Result<(Vec<Dispatched>, DispatchStop), StoreError> {
        let inline = self.inline;
        if batch.is_empty() {
            return Ok((Vec::new(), DispatchStop::Done));
        }
        let mut conn = self.conn.clone();
        let mut inv = self.scripts.dispatch.prepare_invoke();
        inv.key(&self.keys.config)
            .key(&self.keys.running)
            .key(&self.keys.queue)
            .key(&self.keys.task_prefix)
            .key(&self.keys.token)
            .key(&self.keys.events)
            .arg(if inline { "1" } else { "0" });
        push_prepared(&mut inv, batch);
        let reply: Value = self.timed(inv.invoke_async(&mut conn)).await?;
        let items = array(&reply).ok_or_else(|| corrupt("dispatch", &reply))?;
        let stop = stop_of(items.first()).ok_or_else(|| corrupt("dispatch", &reply))?;
        let out = dispatched_of(&Value::Array(items[1..].to_vec()))?;
        Ok((out, stop))
    }

    async fn confirm_published(&self, id: &str, token: u64) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        let n: i64 = self
            .timed(
                self.scripts
                    .confirm
                    .key(self.keys.task(id))
                    .arg(token)
                    .invoke_async(&mut conn),
            )
            .await?;
        Ok(n == 1)
    }

    async fn mark_started(
        &self,
        id: &str,
        celery_id: &str,
        worker: Option<&str>,
        pid: Option<i64>,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        let n: i64 = self
            .timed(
                self.scripts
                    .started
                    .key(self.keys.task(id))
                    .key(&self.keys.events)
                    .arg(celery_id)
                    .arg(worker.unwrap_or(""))
                    .arg(pid.map(|p| p.to_string()).unwrap_or_default())
                    .arg(if self.inline { "1" } else { "0" })
                    .invoke_async(&mut conn),
            )
            .await?;
        Ok(n == 1)
    }

    async fn finish(
        &self,
        finish: &Finish,
        retention: Duration,
        refill: &[Prepared],
        want_head: u32,
    ) -> Result<FinishReport, StoreError> {
        let mut conn = self.conn.clone();
        let mut inv = self.scripts.finish.prepare_invoke();
        inv.key(&self.keys.running)
            .key(&self.keys.finished)
            .key(self.keys.task(&finish.id))
            .key(&self.keys.events)
            .key(&self.keys.config)
            .key(&self.keys.queue)
            .key(&self.keys.task_prefix)
            .key(&self.keys.token)
            .arg(&finish.id)
            .arg(finish.celery_id.as_deref().unwrap_or(""))
            .arg(finish.token.map(|t| t.to_string()).unwrap_or_default())
            .arg(finish.status.as_str())
            .arg(finish.error.as_deref().unwrap_or(""))
            .arg(retention.as_millis() as u64)
            .arg(if self.inline { "1" } else { "0" })
            .arg(want_head);
        push_prepared(&mut inv, refill);
        let reply: Value = self.timed(inv.invoke_async(&mut conn)).await?;
        let items = array(&reply).ok_or_else(|| corrupt("finish", &reply))?;
        let code = items
            .first()
            .and_then(int)
            .ok_or_else(|| corrupt("finish", &reply))?;
        let finished = match code {
            0 => Finished::Stale,
            1 => Finished::Ended { backlog: false },
            _ => Finished::Ended { backlog: true },
        };
        let stop = stop_of(items.get(1)).ok_or_else(|| corrupt("finish", &reply))?;
        let dispatched = items
            .get(2)
            .map(dispatched_of)
            .transpose()?
            .unwrap_or_default();
        let head = items
            .get(3)
            .map(candidates_of)
            .transpose()?
            .unwrap_or_default();
        Ok(FinishReport {
            finished,
            dispatched,
            stop,
            head,
        })
    }

    async fn cancel(&self, id: &str, retention: Duration) -> Result<CancelOutcome, StoreError> {
        let inline = self.inline;
        let mut conn = self.conn.clone();
        let reply: Value = self
            .timed(
                self.scripts
                    .cancel
                    .key(&self.keys.queue)
                    .key(&self.keys.running)
                    .key(&self.keys.finished)
                    .key(self.keys.task(id))
                    .key(&self.keys.events)
                    .arg(id)
                    .arg(retention.as_millis() as u64)
                    .arg(if inline { "1" } else { "0" })
                    .invoke_async(&mut conn),
            )
            .await?;
        let items = array(&reply).ok_or_else(|| corrupt("cancel", &reply))?;
        let text = |i: usize| items.get(i).and_then(string).unwrap_or_default();
        match text(0).as_str() {
            "missing" => Ok(CancelOutcome::Missing),
            "cancelled" => Ok(CancelOutcome::Cancelled),
            "terminal" => Ok(CancelOutcome::Terminal(
                text(1).parse().map_err(StoreError::Corrupt)?,
            )),
            "revoke" => Ok(CancelOutcome::Revoke {
                celery_id: text(1),
                token: text(2).parse().map_err(|_| corrupt("cancel", &reply))?,
                message: text(3),
                list: text(4),
            }),
            _ => Err(corrupt("cancel", &reply)),
        }
    }

    async fn reprioritize(
        &self,
        id: &str,
        priority: i32,
    ) -> Result<ReprioritizeOutcome, StoreError> {
        let mut conn = self.conn.clone();
        let reply: Value = self
            .timed(
                self.scripts
                    .reprioritize
                    .key(&self.keys.queue)
                    .key(self.keys.task(id))
                    .key(&self.keys.events)
                    .arg(id)
                    .arg(priority)
                    .invoke_async(&mut conn),
            )
            .await?;
        let items = array(&reply).ok_or_else(|| corrupt("reprioritize", &reply))?;
        match items.first().and_then(string).as_deref() {
            Some("ok") => Ok(ReprioritizeOutcome::Moved {
                position: items
                    .get(1)
                    .and_then(int)
                    .ok_or_else(|| corrupt("reprioritize", &reply))?
                    as u64
                    + 1,
            }),
            Some("missing") => Ok(ReprioritizeOutcome::Missing),
            Some("not_queued") => Ok(ReprioritizeOutcome::NotQueued(
                items
                    .get(1)
                    .and_then(string)
                    .unwrap_or_default()
                    .parse()
                    .map_err(StoreError::Corrupt)?,
            )),
            _ => Err(corrupt("reprioritize", &reply)),
        }
    }

    async fn snapshot(&self, queue_limit: u32) -> Result<Snapshot, StoreError> {
        let mut conn = self.conn.clone();
        let reply: Value = self
            .timed(
                self.scripts
                    .snapshot
                    .key(&self.keys.config)
                    .key(&self.keys.running)
                    .key(&self.keys.queue)
                    .key(&self.keys.task_prefix)
                    .arg(queue_limit)
                    .invoke_async(&mut conn),
            )
            .await?;
        let items = array(&reply).ok_or_else(|| corrupt("snapshot", &reply))?;
        let max_workers = items
            .first()
            .and_then(int)
            .ok_or_else(|| corrupt("snapshot", &reply))?;
        let queued_count = items
            .get(1)
            .and_then(int)
            .ok_or_else(|| corrupt("snapshot", &reply))?;
        let running_raw = items
            .get(2)
            .and_then(task_entries)
            .ok_or_else(|| corrupt("snapshot", &reply))?;
        let queued_raw = items
            .get(3)
            .and_then(task_entries)
            .ok_or_else(|| corrupt("snapshot", &reply))?;
        let mut running = Vec::with_capacity(running_raw.len());
        let mut running_entries = Vec::with_capacity(running_raw.len());
        for (id, map) in &running_raw {
            if map.is_empty() {
                // A slot whose task hash is gone: reported, never silently reused.
                return Err(StoreError::Corrupt(format!(
                    "running task {id} has no hash"
                )));
            }
            running.push(fields::task(id, map, None)?);
            running_entries.push(fields::running_entry(id, map)?);
        }
        let mut queued = Vec::with_capacity(queued_raw.len());
        for (i, (id, map)) in queued_raw.iter().enumerate() {
            if map.is_empty() {
                continue;
            }
            queued.push(fields::task(id, map, Some(i as u64 + 1))?);
        }
        Ok(Snapshot {
            max_workers: max_workers.max(0) as u32,
            running,
            running_entries,
            queued,
            queued_count: queued_count.max(0) as u64,
        })
    }

    async fn get(&self, id: &str) -> Result<Option<WorkerTask>, StoreError> {
        let mut conn = self.conn.clone();
        let reply: Value = self
            .timed(
                self.scripts
                    .get
                    .key(&self.keys.queue)
                    .key(self.keys.task(id))
                    .arg(id)
                    .invoke_async(&mut conn),
            )
            .await?;
        let items = array(&reply).ok_or_else(|| corrupt("get", &reply))?;
        if items.is_empty() {
            return Ok(None);
        }
        let map = items
            .first()
            .and_then(field_map)
            .ok_or_else(|| corrupt("get", &reply))?;
        let rank = items.get(1).and_then(int).unwrap_or(-1);
        let position = (rank >= 0).then(|| rank as u64 + 1);
        fields::task(id, &map, position).map(Some)
    }

    async fn history(
        &self,
        status: Option<TaskStatus>,
        limit: u32,
    ) -> Result<Vec<WorkerTask>, StoreError> {
        let mut conn = self.conn.clone();
        let reply: Value = self
            .timed(
                self.scripts
                    .history
                    .key(&self.keys.finished)
                    .key(&self.keys.task_prefix)
                    .arg(status.map(TaskStatus::as_str).unwrap_or(""))
                    .arg(limit)
                    .arg(10_000)
                    .invoke_async(&mut conn),
            )
            .await?;
        let entries = task_entries(&reply).ok_or_else(|| corrupt("history", &reply))?;
        entries
            .iter()
            .map(|(id, map)| fields::task(id, map, None))
            .collect()
    }

    async fn worker_event(
        &self,
        kind: &str,
        hostname: &str,
        pid: Option<u32>,
        interval: Duration,
        active: Option<u64>,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let _: i64 = self
            .timed(
                self.scripts
                    .worker_event
                    .key(&self.keys.workers_seen)
                    .key(&self.keys.workers_proc)
                    .key(&self.keys.workers_offline)
                    .arg(kind)
                    .arg(hostname)
                    .arg(pid.map(|p| p.to_string()).unwrap_or_default())
                    .arg(interval.as_millis() as u64)
                    .arg(active.map(|a| a.to_string()).unwrap_or_default())
                    .invoke_async(&mut conn),
            )
            .await?;
        Ok(())
    }

    async fn reap(
        &self,
        policy: ReapPolicy,
        retention: Duration,
    ) -> Result<Vec<Reaped>, StoreError> {
        let inline = self.inline;
        let mut conn = self.conn.clone();
        let reply: Value = self
            .timed(
                self.scripts
                    .reap
                    .key(&self.keys.running)
                    .key(&self.keys.queue)
                    .key(&self.keys.finished)
                    .key(&self.keys.task_prefix)
                    .key(&self.keys.workers_seen)
                    .key(&self.keys.workers_proc)
                    .key(&self.keys.workers_offline)
                    .key(&self.keys.events)
                    .arg(policy.heartbeat_timeout.as_millis() as u64)
                    .arg(match policy.on_lost {
                        OnWorkerLost::Fail => "fail",
                        OnWorkerLost::Requeue => "requeue",
                    })
                    .arg(retention.as_millis() as u64)
                    .arg(policy.restart_guard.as_millis() as u64)
                    .arg(if inline { "1" } else { "0" })
                    .arg(policy.offline_grace.as_millis() as u64)
                    .invoke_async(&mut conn),
            )
            .await?;
        let items = array(&reply).ok_or_else(|| corrupt("reap", &reply))?;
        items
            .iter()
            .map(|item| {
                let parts = array(item).ok_or_else(|| corrupt("reap", &reply))?;
                let text = |i: usize| parts.get(i).and_then(string).unwrap_or_default();
                Ok(Reaped {
                    id: text(0),
                    outcome: text(1),
                    reason: text(2),
                    delivery_tag: text(3),
                })
            })
            .collect()
    }

    async fn prune_finished(&self, retention: Duration) -> Result<u64, StoreError> {
        let mut conn = self.conn.clone();
        let (secs, micros): (i64, i64) = self
            .timed(redis::cmd("TIME").query_async(&mut conn))
            .await?;
        let cutoff = secs * 1000 + micros / 1000 - retention.as_millis() as i64;
        let n: i64 = self
            .timed(
                redis::cmd("ZREMRANGEBYSCORE")
                    .arg(&self.keys.finished)
                    .arg("-inf")
                    .arg(format!("({cutoff}"))
                    .query_async(&mut conn),
            )
            .await?;
        Ok(n.max(0) as u64)
    }

    async fn create_session(&self, id: &str, ttl: Duration) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let _: () = self
            .timed(
                redis::cmd("SET")
                    .arg(self.keys.session(id))
                    .arg("1")
                    .arg("PX")
                    .arg(ttl.as_millis() as u64)
                    .query_async(&mut conn),
            )
            .await?;
        Ok(())
    }

    async fn session_exists(&self, id: &str) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        let n: i64 = self
            .timed(
                redis::cmd("EXISTS")
                    .arg(self.keys.session(id))
                    .query_async(&mut conn),
            )
            .await?;
        Ok(n == 1)
    }

    async fn delete_session(&self, id: &str) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let _: i64 = self
            .timed(
                redis::cmd("DEL")
                    .arg(self.keys.session(id))
                    .query_async(&mut conn),
            )
            .await?;
        Ok(())
    }

    async fn dispatch_message(&self, id: &str) -> Result<Option<(String, String)>, StoreError> {
        let mut conn = self.conn.clone();
        let key = self.keys.task(id);
        let (status, list, message): (Option<String>, Option<String>, Option<String>) = self
            .timed(
                redis::pipe()
                    .cmd("HGET")
                    .arg(&key)
                    .arg(fields::STATUS)
                    .cmd("HGET")
                    .arg(&key)
                    .arg("bl")
                    .cmd("GET")
                    .arg(format!("{key}:msg"))
                    .query_async(&mut conn),
            )
            .await?;
        if status.as_deref() != Some("running") {
            return Ok(None);
        }
        Ok(message.zip(list))
    }

    async fn ping(&self) -> Result<Duration, StoreError> {
        let start = Instant::now();
        let mut conn = self.conn.clone();
        let _: String = self
            .timed(redis::cmd("PING").query_async(&mut conn))
            .await?;
        Ok(start.elapsed())
    }
}
