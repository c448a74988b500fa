//! The Redis implementation of [`Store`]: one Lua script per transition. Rust only passes the
//! arguments and decodes the replies ([`Reply`]); every rule is in the scripts.

use super::contract::{
    AuditRecord, CancelOutcome, Candidate, Cooldown, DispatchStop, Dispatched, Durability, Finish,
    FinishReport, Finished, ForgetOutcome, HookClaim, HookOutcome, Journal, MetricsState,
    MinuteRow, MinuteRows, NewTask, OnWorkerLost, Peek, Prepared, ReapPolicy, Reaped,
    ReprioritizeOutcome, Resend, ResendOutcome, RetryRefusal, RuleChange, Snapshot, StartedOutcome,
    Store, StoreError, StoredMessage, Submitted, TaskNote, SUPERSEDED_FOR,
};
use super::fields;
use super::keys::Keys;
use super::scripts::Scripts;
use crate::connection::Redis;
use app::types::{
    BlockedBy, Dedupe, Rate, RateUse, SourceRules, SourceStatus, TaskStatus, WorkerInfo, WorkerTask,
};
use redis::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The pool's state in Redis, behind a shared, self-reconnecting connection.
#[derive(Clone)]
pub struct RedisStore {
    redis: Redis,
    /// The connection of the writes the API acknowledges: `redis`, or with `durability` one of
    /// their own, so that a `WAIT` for the replicas holds up only them.
    acked: Redis,
    durability: Option<Durability>,
    /// True when Celery's broker is this very database: messages are pushed, withdrawn and
    /// dropped from kombu's unacked set by the scripts themselves.
    inline: bool,
    keys: Arc<Keys>,
    scripts: Arc<Scripts>,
}

impl RedisStore {
    /// Prepares a connection to `url` for the pool under `prefix`; nothing is sent until the
    /// first command, and each gives up after `timeout`. `inline`: Celery's broker is this
    /// same database (never on a Redis Cluster, where the keys carry the hash tag
    /// `{<prefix>}`).
    pub fn new(
        url: &str,
        prefix: &str,
        timeout: Duration,
        inline: bool,
    ) -> Result<Self, StoreError> {
        let redis = Redis::open(url, timeout)?;
        // On a Redis Cluster, every key of the pool carries the hash tag `{<prefix>}`: one
        // slot, so each script's keys are on one node (and other pools on others).
        let cluster = redis.is_cluster();
        let prefix = if cluster {
            format!("{{{prefix}}}")
        } else {
            prefix.to_string()
        };
        Ok(RedisStore {
            acked: redis.clone(),
            redis,
            durability: None,
            inline: inline && !cluster,
            keys: Arc::new(Keys::new(&prefix)),
            scripts: Arc::new(Scripts::new()),
        })
    }

    /// Makes every write the API acknowledges wait until `d.replicas` replicas confirm it
    /// (`WAIT`), on a connection of their own to `url` (the store's). A write they do not
    /// confirm in time fails with [`StoreError::NotDurable`]; it was made on the primary.
    pub fn with_durability(
        mut self,
        url: &str,
        timeout: Duration,
        d: Durability,
    ) -> Result<Self, StoreError> {
        // Each command may take the WAIT's timeout on top of the usual one.
        self.acked = Redis::open(url, timeout + d.timeout)?;
        self.durability = Some(d);
        Ok(self)
    }

    /// Runs an acknowledging script, then (with `durability`) waits for the replicas on the
    /// same connection, so that `WAIT` covers it.
    async fn ack<T: redis::FromRedisValue>(
        &self,
        script: &redis::ScriptInvocation<'_>,
    ) -> Result<T, StoreError> {
        let Some(d) = self.durability else {
            return Ok(self.acked.invoke(script).await?);
        };
        let (out, confirmed): (T, i64) = self
            .acked
            .invoke_and_wait(script, d.replicas, d.timeout)
            .await?;
        let confirmed = confirmed.max(0) as u32;
        if confirmed < d.replicas {
            return Err(StoreError::NotDurable {
                confirmed,
                wanted: d.replicas,
                timeout: d.timeout,
            });
        }
        Ok(out)
    }

    /// The key names.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// The `inline` argument of the scripts that take one.
    fn inline(&self) -> &'static str {
        if self.inline {
            "1"
        } else {
            "0"
        }
    }

    /// The Redis clock, in ms (the scripts' clock too).
    async fn now_ms(&self) -> Result<i64, StoreError> {
        let (secs, micros): (i64, i64) = self.redis.query(&redis::cmd("TIME")).await?;
        Ok(secs * 1000 + micros / 1000)
    }
}

// --- decoding of script replies --------------------------------------------------------------

/// A task hash as HGETALL returns it.
type TaskHash = HashMap<String, String>;

/// A script's reply, read positionally. Whatever does not have the shape the script's header
/// promises is reported as corrupt, naming the script.
#[derive(Clone, Copy)]
struct Reply<'a> {
    what: &'static str,
    items: &'a [Value],
}

impl<'a> Reply<'a> {
    fn of(what: &'static str, v: &'a Value) -> Result<Self, StoreError> {
        match v {
            Value::Array(items) => Ok(Reply { what, items }),
            other => Err(Self::bad(what, other)),
        }
    }

    fn bad(what: &str, v: &Value) -> StoreError {
        StoreError::Corrupt(format!("unexpected reply for {what}: {v:?}"))
    }

    fn get(&self, i: usize) -> Result<&'a Value, StoreError> {
        self.items
            .get(i)
            .ok_or_else(|| StoreError::Corrupt(format!("{}: no item {i}", self.what)))
    }

    fn text(&self, i: usize) -> Result<String, StoreError> {
        let v = self.get(i)?;
        string(v).ok_or_else(|| Self::bad(self.what, v))
    }

    /// The text at `i`, or "" when it is missing or not text.
    fn text_or_empty(&self, i: usize) -> String {
        self.items.get(i).and_then(string).unwrap_or_default()
    }

    fn int(&self, i: usize) -> Result<i64, StoreError> {
        let v = self.get(i)?;
        string(v)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| Self::bad(self.what, v))
    }

    fn nested(&self, i: usize) -> Result<Reply<'a>, StoreError> {
        Reply::of(self.what, self.get(i)?)
    }

    /// The items from `i` on, each a nested array.
    fn rows(&self, from: usize) -> Result<Vec<Reply<'a>>, StoreError> {
        self.items
            .iter()
            .skip(from)
            .map(|v| Reply::of(self.what, v))
            .collect()
    }

    /// An HGETALL-shaped flat array, as a map.
    fn map(&self) -> Result<HashMap<String, String>, StoreError> {
        self.items
            .chunks(2)
            .map(|pair| match pair {
                [k, v] => Ok((
                    string(k).ok_or_else(|| Self::bad(self.what, k))?,
                    string(v).ok_or_else(|| Self::bad(self.what, v))?,
                )),
                _ => Err(StoreError::Corrupt(format!(
                    "{}: odd field list",
                    self.what
                ))),
            })
            .collect()
    }

    /// `{id, {field, value, ...}}` entries, from `i`'s array.
    fn tasks(&self, i: usize) -> Result<Vec<(String, TaskHash)>, StoreError> {
        self.nested(i)?
            .rows(0)?
            .into_iter()
            .map(|e| Ok((e.text(0)?, e.nested(1)?.map()?)))
            .collect()
    }

    fn stop(&self, i: usize) -> Result<DispatchStop, StoreError> {
        match self.text(i)?.as_str() {
            "done" => Ok(DispatchStop::Done),
            "full" => Ok(DispatchStop::Full),
            "moved" => Ok(DispatchStop::Moved),
            "paused" => Ok(DispatchStop::Paused),
            other => Err(StoreError::Corrupt(format!(
                "{}: stop {other:?}",
                self.what
            ))),
        }
    }

    /// `{id, token}` pairs, from `from` on.
    fn dispatched(&self, from: usize) -> Result<Vec<Dispatched>, StoreError> {
        self.rows(from)?
            .into_iter()
            .map(|d| {
                Ok(Dispatched {
                    id: d.text(0)?,
                    token: d.int(1)? as u64,
                })
            })
            .collect()
    }

    /// `{id, name, parameters, attempts, crm_source, sync_type}` entries (peek.lua,
    /// finish.lua), from `from` on.
    fn candidates(&self, from: usize) -> Result<Vec<Candidate>, StoreError> {
        self.rows(from)?
            .into_iter()
            .map(|c| {
                let id = c.text_or_empty(0);
                Ok(Candidate {
                    attempts: c.text_or_empty(3).parse().unwrap_or(0),
                    task_name: fields::task_name(
                        Some(&c.text_or_empty(1)),
                        &c.text_or_empty(4),
                        &c.text_or_empty(5),
                    ),
                    parameters: fields::decode_params(&id, &c.text_or_empty(2))?,
                    id,
                })
            })
            .collect()
    }
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

/// `blocked_by` as the scripts write it ("" when the task is not queued).
/// A script's `{id, outcome, reason, delivery tag, celery id}` reply, or `None` for `{}` (it did not
/// apply).
fn one_reaped(script: &'static str, reply: &Value) -> Result<Option<Reaped>, StoreError> {
    let r = Reply::of(script, reply)?;
    if r.items.is_empty() {
        return Ok(None);
    }
    Ok(Some(Reaped {
        id: r.text(0)?,
        outcome: r.text(1)?,
        reason: r.text(2)?,
        delivery_tag: r.text_or_empty(3),
        celery_id: r.text_or_empty(4),
    }))
}

fn blocked_by(text: &str) -> Result<Option<BlockedBy>, StoreError> {
    if text.is_empty() {
        return Ok(None);
    }
    text.parse().map(Some).map_err(StoreError::Corrupt)
}

/// A rate rule as stored: `<starts>/<window ms>`.
fn rate_of(text: &str) -> Option<Rate> {
    let (starts, ms) = text.split_once('/')?;
    let ms: u64 = ms.parse().ok()?;
    Some(Rate {
        starts: starts.parse().ok()?,
        per_seconds: u32::try_from(ms / 1000).ok()?,
    })
}

/// A source's row of snapshot.lua and metrics.lua (`source_row` in common.lua): {source,
/// running, queued, limit, tenant limit, rate starts, rate window ms, rate used, cooling until
/// ms, paused, …}; '' for a missing rule.
fn source_status(row: &Reply<'_>) -> Result<SourceStatus, StoreError> {
    let opt = |i: usize| -> Result<Option<i64>, StoreError> {
        let t = row.text_or_empty(i);
        if t.is_empty() {
            Ok(None)
        } else {
            row.int(i).map(Some)
        }
    };
    let rate = match (opt(5)?, opt(6)?) {
        (Some(starts), Some(ms)) => Some(RateUse {
            starts: starts as u32,
            per_seconds: (ms / 1000) as u32,
            used: row.int(7)?.max(0) as u64,
        }),
        _ => None,
    };
    Ok(SourceStatus {
        running: row.int(1)?.max(0) as u64,
        queued: row.int(2)?.max(0) as u64,
        limit: opt(3)?.map(|n| n as u32),
        tenant_limit: opt(4)?.map(|n| n as u32),
        rate,
        cooldown_until: opt(8)?
            .and_then(|ms| chrono::TimeZone::timestamp_millis_opt(&chrono::Utc, ms).single()),
        paused: row.int(9)? == 1,
    })
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

#[async_trait::async_trait]
impl Store for RedisStore {
    async fn seed_max_workers(&self, initial: u32) -> Result<u32, StoreError> {
        let (_, value): (i64, Option<String>) = self
            .redis
            .pipe(
                redis::pipe()
                    .atomic()
                    .cmd("HSETNX")
                    .arg(&self.keys.config)
                    .arg("max_workers")
                    .arg(initial)
                    .cmd("HGET")
                    .arg(&self.keys.config)
                    .arg("max_workers"),
            )
            .await?;
        value
            .as_deref()
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| StoreError::Corrupt(format!("max_workers is {value:?}")))
    }

    async fn set_max_workers(&self, value: u32) -> Result<Option<u32>, StoreError> {
        let prev: String = self
            .ack(self.scripts.set_max.key(&self.keys.base).arg(value))
            .await?;
        Ok(prev.parse().ok())
    }

    async fn submit(
        &self,
        task: &NewTask,
        dispatch: Option<&Prepared>,
    ) -> Result<Submitted, StoreError> {
        let reply: Value = self
            .ack(
                self.scripts
                    .submit
                    .key(&self.keys.base)
                    .arg(&task.id)
                    .arg(&task.crm_source)
                    .arg(&task.sync_type)
                    .arg(&task.task_name)
                    .arg(fields::encode_params(&task.parameters))
                    .arg(task.priority)
                    .arg(dispatch.map(|p| p.celery_id.as_str()).unwrap_or(""))
                    .arg(dispatch.map(|p| p.message.as_str()).unwrap_or(""))
                    .arg(dispatch.map(|p| p.list.as_str()).unwrap_or(""))
                    .arg(self.inline())
                    .arg(dispatch.map(|p| p.delivery_tag.as_str()).unwrap_or(""))
                    .arg(task.tenant.as_deref().unwrap_or(""))
                    .arg(match task.dedupe {
                        Dedupe::None => "",
                        other => other.as_str(),
                    })
                    .arg(task.retry_of.as_deref().unwrap_or(""))
                    .arg(
                        task.max_queue_wait
                            .map(|d| d.as_millis().to_string())
                            .unwrap_or_default(),
                    ),
            )
            .await?;
        let r = Reply::of("submit", &reply)?;
        match r.int(0)? {
            0 => return Ok(Submitted::Duplicate),
            2 => {
                return Ok(Submitted::Deduplicated {
                    id: r.text(1)?,
                    replaced: r.int(2)? == 1,
                })
            }
            3 => {
                let detail = r.text_or_empty(2);
                return Ok(Submitted::NotRetryable(match r.text(1)?.as_str() {
                    "missing" => RetryRefusal::Missing,
                    "not_ended" => {
                        RetryRefusal::NotEnded(detail.parse().map_err(StoreError::Corrupt)?)
                    }
                    "retried" => RetryRefusal::Retried(detail),
                    other => return Err(StoreError::Corrupt(format!("submit: {other:?}"))),
                }));
            }
            _ => {}
        }
        let created_ms = r.int(1)?;
        match r.text(2)?.as_str() {
            "running" => Ok(Submitted::Running {
                created_ms,
                token: r.int(3)? as u64,
            }),
            "queued" => Ok(Submitted::Queued {
                created_ms,
                position: r.int(3)? as u64 + 1,
                free: r.int(4)?.max(0) as u32,
                blocked_by: blocked_by(&r.text_or_empty(5))?,
            }),
            other => Err(StoreError::Corrupt(format!("submit: {other:?}"))),
        }
    }

    async fn peek(&self, max: u32) -> Result<Peek, StoreError> {
        let reply: Value = self
            .redis
            .invoke(self.scripts.peek.key(&self.keys.base).arg(max.max(1)))
            .await?;
        let r = Reply::of("peek", &reply)?;
        Ok(Peek {
            free: r.int(0)?.max(0) as u32,
            head: r.candidates(1)?,
        })
    }

    async fn dispatch(
        &self,
        batch: &[Prepared],
    ) -> Result<(Vec<Dispatched>, DispatchStop), StoreError> {
        if batch.is_empty() {
            return Ok((Vec::new(), DispatchStop::Done));
        }
        let mut inv = self.scripts.dispatch.prepare_invoke();
        inv.key(&self.keys.base).arg(self.inline());
        push_prepared(&mut inv, batch);
        let reply: Value = self.redis.invoke(&inv).await?;
        let r = Reply::of("dispatch", &reply)?;
        Ok((r.dispatched(1)?, r.stop(0)?))
    }

    async fn confirm_published(&self, id: &str, token: u64) -> Result<bool, StoreError> {
        let n: i64 = self
            .redis
            .invoke(self.scripts.confirm.key(&self.keys.base).arg(id).arg(token))
            .await?;
        Ok(n == 1)
    }

    async fn mark_started(
        &self,
        id: &str,
        celery_id: &str,
        worker: Option<&str>,
        pid: Option<i64>,
    ) -> Result<StartedOutcome, StoreError> {
        let n: i64 = self
            .redis
            .invoke(
                self.scripts
                    .started
                    .key(&self.keys.base)
                    .arg(celery_id)
                    .arg(worker.unwrap_or(""))
                    .arg(pid.map(|p| p.to_string()).unwrap_or_default())
                    .arg(self.inline())
                    .arg(id),
            )
            .await?;
        Ok(match n {
            1 => StartedOutcome::Recorded,
            -1 => StartedOutcome::Superseded,
            -2 => StartedOutcome::AfterEnd,
            _ => StartedOutcome::Ignored,
        })
    }

    async fn finish(
        &self,
        finish: &Finish,
        retention: Duration,
        refill: &[Prepared],
        want_head: u32,
    ) -> Result<FinishReport, StoreError> {
        let mut inv = self.scripts.finish.prepare_invoke();
        inv.key(&self.keys.base)
            .arg(&finish.id)
            .arg(finish.celery_id.as_deref().unwrap_or(""))
            .arg(finish.token.map(|t| t.to_string()).unwrap_or_default())
            .arg(finish.status.as_str())
            .arg(finish.error.as_deref().unwrap_or(""))
            .arg(retention.as_millis() as u64)
            .arg(self.inline())
            .arg(want_head);
        push_prepared(&mut inv, refill);
        let reply: Value = self.redis.invoke(&inv).await?;
        let r = Reply::of("finish", &reply)?;
        Ok(FinishReport {
            finished: match r.int(0)? {
                0 => Finished::Stale,
                1 => Finished::Ended { backlog: false },
                _ => Finished::Ended { backlog: true },
            },
            stop: r.stop(1)?,
            dispatched: r.nested(2)?.dispatched(0)?,
            head: r.nested(3)?.candidates(0)?,
            source: r.text_or_empty(4),
        })
    }

    async fn cancel(&self, id: &str, retention: Duration) -> Result<CancelOutcome, StoreError> {
        let reply: Value = self
            .ack(
                self.scripts
                    .cancel
                    .key(&self.keys.base)
                    .arg(id)
                    .arg(retention.as_millis() as u64)
                    .arg(self.inline()),
            )
            .await?;
        let r = Reply::of("cancel", &reply)?;
        match r.text(0)?.as_str() {
            "missing" => Ok(CancelOutcome::Missing),
            "cancelled" => Ok(CancelOutcome::Cancelled),
            "terminal" => Ok(CancelOutcome::Terminal(
                r.text(1)?.parse().map_err(StoreError::Corrupt)?,
            )),
            "revoke" => Ok(CancelOutcome::Revoke {
                celery_id: r.text_or_empty(1),
                token: r.int(2)? as u64,
                message: r.text_or_empty(3),
                list: r.text_or_empty(4),
            }),
            other => Err(StoreError::Corrupt(format!("cancel: {other:?}"))),
        }
    }

    async fn reprioritize(
        &self,
        id: &str,
        priority: i32,
    ) -> Result<ReprioritizeOutcome, StoreError> {
        let reply: Value = self
            .ack(
                self.scripts
                    .reprioritize
                    .key(&self.keys.base)
                    .arg(id)
                    .arg(priority),
            )
            .await?;
        let r = Reply::of("reprioritize", &reply)?;
        match r.text(0)?.as_str() {
            "ok" => Ok(ReprioritizeOutcome::Moved {
                position: r.int(1)? as u64 + 1,
            }),
            "missing" => Ok(ReprioritizeOutcome::Missing),
            "not_queued" => Ok(ReprioritizeOutcome::NotQueued(
                r.text(1)?.parse().map_err(StoreError::Corrupt)?,
            )),
            other => Err(StoreError::Corrupt(format!("reprioritize: {other:?}"))),
        }
    }

    async fn snapshot(&self, queue_limit: u32, sources: &[String]) -> Result<Snapshot, StoreError> {
        let mut inv = self.scripts.snapshot.prepare_invoke();
        inv.key(&self.keys.base).arg(queue_limit);
        for src in sources {
            inv.arg(src);
        }
        let reply: Value = self.redis.invoke(&inv).await?;
        let r = Reply::of("snapshot", &reply)?;
        let running_raw = r.tasks(2)?;
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
        let mut queued = Vec::new();
        for (row, position) in r.nested(3)?.rows(0)?.into_iter().zip(1..) {
            let map = row.nested(1)?.map()?;
            if !map.is_empty() {
                let mut task = fields::task(&row.text(0)?, &map, Some(position))?;
                task.blocked_by = blocked_by(&row.text(2)?)?;
                queued.push(task);
            }
        }
        let mut stats = BTreeMap::new();
        let mut rate_starts = BTreeMap::new();
        for row in r.nested(5)?.rows(0)? {
            let src = row.text(0)?;
            let status = source_status(&row)?;
            if status.rate.is_some() {
                let log = row.nested(10)?;
                let times = (0..log.items.len())
                    .map(|i| log.int(i))
                    .collect::<Result<Vec<_>, _>>()?;
                rate_starts.insert(src.clone(), times);
            }
            stats.insert(src, status);
        }
        Ok(Snapshot {
            max_workers: r.int(0)?.max(0) as u32,
            running,
            running_entries,
            queued,
            queued_count: r.int(1)?.max(0) as u64,
            paused: r.int(4)? == 1,
            sources: stats,
            now_ms: r.int(6)?,
            rate_starts,
        })
    }

    async fn get(&self, id: &str) -> Result<Option<WorkerTask>, StoreError> {
        let reply: Value = self
            .redis
            .invoke(self.scripts.get.key(&self.keys.base).arg(id))
            .await?;
        let r = Reply::of("get", &reply)?;
        if r.items.is_empty() {
            return Ok(None);
        }
        let rank = r.int(1).unwrap_or(-1);
        let position = (rank >= 0).then(|| rank as u64 + 1);
        let mut task = fields::task(id, &r.nested(0)?.map()?, position)?;
        task.blocked_by = blocked_by(&r.text_or_empty(2))?;
        Ok(Some(task))
    }

    async fn note(&self, id: &str, celery_id: &str, note: &TaskNote) -> Result<bool, StoreError> {
        let (kind, text) = match note {
            TaskNote::Retry(why) => ("retry", why),
            TaskNote::Traceback(tb) => ("traceback", tb),
        };
        let n: i64 = self
            .redis
            .invoke(
                self.scripts
                    .task_note
                    .key(&self.keys.base)
                    .arg(id)
                    .arg(celery_id)
                    .arg(kind)
                    .arg(text),
            )
            .await?;
        Ok(n == 1)
    }

    async fn journal(&self, id: &str) -> Result<Journal, StoreError> {
        let reply: Value = self
            .redis
            .invoke(self.scripts.journal.key(&self.keys.base).arg(id))
            .await?;
        let r = Reply::of("journal", &reply)?;
        let traceback = Some(r.text_or_empty(1)).filter(|t| !t.is_empty());
        let mut notes = Vec::new();
        for v in r.nested(0)?.items {
            let line = string(v).unwrap_or_default();
            match fields::journal_note(&line) {
                Some(n) => notes.push(n),
                // One unreadable note must not hide the task's page.
                None => {
                    tracing::warn!(task_id = %id, note = %line, "unreadable journal note skipped")
                }
            }
        }
        Ok(Journal { notes, traceback })
    }

    async fn set_rules(
        &self,
        changes: &[(String, RuleChange)],
        seed_only: bool,
    ) -> Result<bool, StoreError> {
        let mut inv = self.scripts.rules.prepare_invoke();
        inv.key(&self.keys.base)
            .arg(if seed_only { "1" } else { "0" });
        for (src, change) in changes {
            let (rule, value) = match change {
                RuleChange::Limit(v) => ("s", v.map(|n| n.to_string())),
                RuleChange::TenantLimit(v) => ("t", v.map(|n| n.to_string())),
                RuleChange::Rate(v) => (
                    "r",
                    v.map(|r| format!("{}/{}", r.starts, r.per_seconds as u64 * 1000)),
                ),
            };
            inv.arg(src).arg(rule).arg(value.unwrap_or_default());
        }
        // Seeding runs at every reconciliation and acknowledges nothing: it must not wait
        // for (or fail without) a replica.
        let n: i64 = if seed_only {
            self.redis.invoke(&inv).await?
        } else {
            self.ack(&inv).await?
        };
        Ok(n == 1)
    }

    async fn rules(&self) -> Result<BTreeMap<String, SourceRules>, StoreError> {
        let raw: HashMap<String, String> = self
            .redis
            .query(redis::cmd("HGETALL").arg(&self.keys.rules))
            .await?;
        let mut out: BTreeMap<String, SourceRules> = BTreeMap::new();
        for (key, value) in raw {
            let bad = || StoreError::Corrupt(format!("rule {key}={value:?}"));
            let (rule, src) = key.split_once(':').ok_or_else(bad)?;
            if matches!(rule, "p" | "c" | "x") {
                continue;
            }
            let rules = out.entry(src.to_string()).or_default();
            match rule {
                "s" => rules.limit = Some(value.parse().map_err(|_| bad())?),
                "t" => rules.tenant_limit = Some(value.parse().map_err(|_| bad())?),
                "r" => rules.rate = Some(rate_of(&value).ok_or_else(bad)?),
                _ => return Err(bad()),
            }
        }
        Ok(out)
    }

    async fn pause(&self, source: Option<&str>, paused: bool) -> Result<bool, StoreError> {
        let n: i64 = self
            .ack(
                self.scripts
                    .pause
                    .key(&self.keys.base)
                    .arg(source.unwrap_or("*"))
                    .arg(if paused { "1" } else { "0" }),
            )
            .await?;
        Ok(n == 1)
    }

    async fn cooldown(&self, source: &str, change: Cooldown) -> Result<Option<i64>, StoreError> {
        let mut inv = self.scripts.cooldown.prepare_invoke();
        inv.key(&self.keys.base).arg(source);
        match change {
            Cooldown::For(d) => inv.arg("set").arg(d.as_millis() as u64),
            Cooldown::Auto { base, max } => inv
                .arg("auto")
                .arg(base.as_millis() as u64)
                .arg(max.as_millis() as u64),
        };
        // An operator's cool-down is acknowledged by the API; the automatic one after a
        // refused batch is the scheduler's own step, which no replica holds up.
        let ends: i64 = match change {
            Cooldown::For(_) => self.ack(&inv).await?,
            Cooldown::Auto { .. } => self.redis.invoke(&inv).await?,
        };
        Ok((ends > 0).then_some(ends))
    }

    async fn migrate(&self) -> Result<u64, StoreError> {
        let n: i64 = self
            .redis
            .invoke(&self.scripts.migrate.key(&self.keys.base))
            .await?;
        Ok(n.max(0) as u64)
    }

    async fn set_aging(&self, per_point: Option<Duration>) -> Result<Option<u64>, StoreError> {
        let ms = per_point.map(|d| d.as_millis().max(1) as u64).unwrap_or(0);
        // From the configuration, applied at every reconciliation: nothing the API
        // acknowledges, so no replica holds it up.
        let n: i64 = self
            .redis
            .invoke(self.scripts.aging.key(&self.keys.base).arg(ms))
            .await?;
        Ok((n >= 0).then_some(n as u64))
    }

    async fn expire_queued(
        &self,
        retention: Duration,
        max: u32,
    ) -> Result<Vec<String>, StoreError> {
        Ok(self
            .redis
            .invoke(
                self.scripts
                    .expire
                    .key(&self.keys.base)
                    .arg(retention.as_millis() as u64)
                    .arg(max),
            )
            .await?)
    }

    async fn time_limit(
        &self,
        id: &str,
        token: u64,
        error: &str,
    ) -> Result<Option<String>, StoreError> {
        let reply: Value = self
            .redis
            .invoke(
                self.scripts
                    .time_limit
                    .key(&self.keys.base)
                    .arg(id)
                    .arg(token)
                    .arg(error),
            )
            .await?;
        let r = Reply::of("time_limit", &reply)?;
        Ok((r.int(0)? == 1).then(|| r.text_or_empty(1)))
    }

    async fn durations(
        &self,
        types: &[(String, String)],
    ) -> Result<BTreeMap<(String, String), Vec<u64>>, StoreError> {
        let mut pipe = redis::pipe();
        for (src, typ) in types {
            pipe.cmd("LRANGE")
                .arg(self.keys.durations(src, typ))
                .arg(0)
                .arg(-1);
        }
        let lists: Vec<Vec<u64>> = if types.is_empty() {
            Vec::new()
        } else {
            self.redis.pipe(&pipe).await?
        };
        Ok(types.iter().cloned().zip(lists).collect())
    }

    async fn history(
        &self,
        status: Option<TaskStatus>,
        limit: u32,
    ) -> Result<Vec<WorkerTask>, StoreError> {
        let reply: Value = self
            .redis
            .invoke(
                self.scripts
                    .history
                    .key(&self.keys.base)
                    .arg(status.map(TaskStatus::as_str).unwrap_or(""))
                    .arg(limit)
                    .arg(10_000),
            )
            .await?;
        let wrapped = Value::Array(vec![reply]);
        Reply::of("history", &wrapped)?
            .tasks(0)?
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
    ) -> Result<bool, StoreError> {
        let n: i64 = self
            .redis
            .invoke(
                self.scripts
                    .worker_event
                    .key(&self.keys.base)
                    .arg(kind)
                    .arg(hostname)
                    .arg(pid.map(|p| p.to_string()).unwrap_or_default())
                    .arg(interval.as_millis() as u64)
                    .arg(active.map(|a| a.to_string()).unwrap_or_default()),
            )
            .await?;
        Ok(n == 2)
    }

    async fn live_workers(&self, timeout: Duration) -> Result<Vec<String>, StoreError> {
        Ok(self
            .redis
            .invoke(
                self.scripts
                    .roster
                    .key(&self.keys.base)
                    .arg(timeout.as_millis() as u64),
            )
            .await?)
    }

    async fn adopt(&self, id: &str, celery_id: &str, worker: &str) -> Result<bool, StoreError> {
        let n: i64 = self
            .redis
            .invoke(
                self.scripts
                    .adopt
                    .key(&self.keys.base)
                    .arg(id)
                    .arg(celery_id)
                    .arg(worker),
            )
            .await?;
        Ok(n == 1)
    }

    async fn queued_ids(&self, from: u64, count: u32) -> Result<Vec<(String, u32)>, StoreError> {
        let flat: Vec<String> = self
            .redis
            .invoke(
                self.scripts
                    .queued_ids
                    .key(&self.keys.base)
                    .arg(from)
                    .arg(count.max(1)),
            )
            .await?;
        Ok(flat
            .chunks(2)
            .filter_map(|p| match p {
                [id, att] => Some((id.clone(), att.parse().unwrap_or(0))),
                _ => None,
            })
            .collect())
    }

    async fn note_lost(
        &self,
        id: &str,
        celery_id: &str,
        lost: bool,
    ) -> Result<Option<Duration>, StoreError> {
        let ms: i64 = self
            .redis
            .invoke(
                self.scripts
                    .lost_note
                    .key(&self.keys.base)
                    .arg(celery_id)
                    .arg(if lost { "1" } else { "0" })
                    .arg(id),
            )
            .await?;
        Ok((ms >= 0).then(|| Duration::from_millis(ms as u64)))
    }

    async fn resend(
        &self,
        resend: &Resend,
        retention: Duration,
    ) -> Result<ResendOutcome, StoreError> {
        let next = &resend.next;
        let reply: Value = self
            .redis
            .invoke(
                self.scripts
                    .resend
                    .key(&self.keys.base)
                    .arg(&resend.id)
                    .arg(&resend.celery_id)
                    .arg(resend.token)
                    .arg(&next.celery_id)
                    .arg(&next.message)
                    .arg(&next.list)
                    .arg(&next.delivery_tag)
                    .arg(self.inline())
                    .arg(&resend.reason)
                    .arg(resend.lost_for.as_millis() as u64)
                    .arg(retention.as_millis() as u64)
                    .arg(SUPERSEDED_FOR.as_millis() as u64),
            )
            .await?;
        let r = Reply::of("resend", &reply)?;
        match r.text(0)?.as_str() {
            "stale" => Ok(ResendOutcome::Stale),
            "present" => Ok(ResendOutcome::Present),
            "cancelled" => Ok(ResendOutcome::Cancelled),
            "resent" => Ok(ResendOutcome::Resent {
                token: r.int(1)? as u64,
            }),
            other => Err(StoreError::Corrupt(format!("resend: {other:?}"))),
        }
    }

    async fn superseded(&self, max: u32) -> Result<Vec<String>, StoreError> {
        let since = self.now_ms().await? - SUPERSEDED_FOR.as_millis() as i64;
        Ok(self
            .redis
            .query(
                redis::cmd("ZRANGE")
                    .arg(&self.keys.superseded)
                    .arg("+inf")
                    .arg(since)
                    .arg("BYSCORE")
                    .arg("REV")
                    .arg("LIMIT")
                    .arg(0)
                    .arg(max.max(1)),
            )
            .await?)
    }

    async fn counters(&self) -> Result<HashMap<String, u64>, StoreError> {
        let raw: HashMap<String, String> = self
            .redis
            .query(redis::cmd("HGETALL").arg(&self.keys.stats))
            .await?;
        raw.into_iter()
            .map(|(k, v)| match v.parse() {
                Ok(n) => Ok((k, n)),
                Err(_) => Err(StoreError::Corrupt(format!("counter {k}={v:?}"))),
            })
            .collect()
    }

    async fn metrics(
        &self,
        sources: &[String],
        worker_timeout: Duration,
    ) -> Result<MetricsState, StoreError> {
        let mut inv = self.scripts.metrics.prepare_invoke();
        inv.key(&self.keys.base)
            .arg(worker_timeout.as_millis() as u64);
        for src in sources {
            inv.arg(src);
        }
        let reply: Value = self.redis.invoke(&inv).await?;
        let r = Reply::of("metrics", &reply)?;
        let numbers = |i: usize| -> Result<HashMap<String, u64>, StoreError> {
            r.nested(i)?
                .map()?
                .into_iter()
                .map(|(k, v)| match v.parse::<i64>() {
                    Ok(n) => Ok((k, n.max(0) as u64)),
                    Err(_) => Err(StoreError::Corrupt(format!("metrics: {k}={v:?}"))),
                })
                .collect()
        };
        let oldest = r.text_or_empty(5);
        let bounds = r.nested(6)?;
        let refill_bounds = r.nested(11)?;
        let mut workers = BTreeMap::new();
        let by_state = r.nested(9)?;
        for i in (0..by_state.items.len()).step_by(2) {
            workers.insert(by_state.text(i)?, by_state.int(i + 1)?.max(0) as u64);
        }
        let mut sources = BTreeMap::new();
        for row in r.nested(10)?.rows(0)? {
            sources.insert(row.text(0)?, source_status(&row)?);
        }
        Ok(MetricsState {
            now_ms: r.int(0)?,
            max_workers: r.int(1)?.max(0) as u32,
            paused: r.int(2)? == 1,
            running: r.int(3)?.max(0) as u64,
            queued: r.int(4)?.max(0) as u64,
            oldest_queued_ms: if oldest.is_empty() {
                None
            } else {
                r.int(5).map(Some)?
            },
            bucket_bounds_ms: (0..bounds.items.len())
                .map(|i| bounds.int(i).map(|n| n.max(0) as u64))
                .collect::<Result<_, _>>()?,
            refill_bounds_ms: (0..refill_bounds.items.len())
                .map(|i| refill_bounds.int(i).map(|n| n.max(0) as u64))
                .collect::<Result<_, _>>()?,
            series: numbers(7)?,
            counters: numbers(8)?,
            workers,
            sources,
        })
    }

    async fn search(
        &self,
        query: &app::types::TaskQuery,
        limit: u32,
        cap: u32,
    ) -> Result<(Vec<WorkerTask>, Option<String>), StoreError> {
        let phases = match query.status {
            None => "rqf",
            Some(TaskStatus::Running) => "r",
            Some(TaskStatus::Queued) => "q",
            Some(_) => "f",
        };
        let ms = |t: Option<chrono::DateTime<chrono::Utc>>| {
            t.map(|t| t.timestamp_millis().to_string())
                .unwrap_or_default()
        };
        let reply: Value = self
            .redis
            .invoke(
                self.scripts
                    .search
                    .key(&self.keys.base)
                    .arg(phases)
                    .arg(query.status.map(TaskStatus::as_str).unwrap_or(""))
                    .arg(query.crm_source.as_deref().unwrap_or(""))
                    .arg(query.sync_type.as_deref().unwrap_or(""))
                    .arg(query.tenant.as_deref().unwrap_or(""))
                    .arg(query.q.as_deref().unwrap_or("").to_lowercase())
                    .arg(ms(query.since))
                    .arg(ms(query.until))
                    .arg(limit)
                    .arg(cap)
                    .arg(query.cursor.as_deref().unwrap_or("")),
            )
            .await?;
        let r = Reply::of("search", &reply)?;
        let next = Some(r.text(0)?).filter(|c| !c.is_empty());
        let tasks = r
            .nested(1)?
            .rows(0)?
            .into_iter()
            .map(|row| {
                let id = row.text(0)?;
                let rank = row.int(2).unwrap_or(-1);
                let position = (rank >= 0).then(|| rank as u64 + 1);
                let mut task = fields::task(&id, &row.nested(1)?.map()?, position)?;
                task.blocked_by = blocked_by(&row.text_or_empty(3))?;
                Ok(task)
            })
            .collect::<Result<_, StoreError>>()?;
        Ok((tasks, next))
    }

    async fn sample_minute(&self) -> Result<(), StoreError> {
        let _: Value = self
            .redis
            .invoke(&self.scripts.stats_sample.key(&self.keys.base))
            .await?;
        Ok(())
    }

    async fn minutes(&self, minutes: u32) -> Result<MinuteRows, StoreError> {
        let reply: Value = self
            .redis
            .invoke(self.scripts.stats.key(&self.keys.base).arg(minutes))
            .await?;
        let r = Reply::of("stats", &reply)?;
        let bounds = r.nested(1)?;
        let opt = |row: &Reply<'_>, i: usize| row.text_or_empty(i).parse::<u64>().ok();
        let rows = r
            .nested(2)?
            .rows(0)?
            .into_iter()
            .map(|row| {
                let waits = row.nested(10)?;
                Ok(MinuteRow {
                    minute: row.int(0)?,
                    running: opt(&row, 1),
                    running_max: opt(&row, 2),
                    queued: opt(&row, 3),
                    queued_max: opt(&row, 4),
                    limit: opt(&row, 5).map(|n| n as u32),
                    started: row.int(6)?.max(0) as u64,
                    completed: row.int(7)?.max(0) as u64,
                    failed: row.int(8)?.max(0) as u64,
                    cancelled: row.int(9)?.max(0) as u64,
                    wait_buckets: (0..waits.items.len())
                        .map(|i| waits.int(i).map(|n| n.max(0) as u64))
                        .collect::<Result<_, _>>()?,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(MinuteRows {
            now_ms: r.int(0)?,
            wait_bounds_ms: (0..bounds.items.len())
                .map(|i| bounds.int(i).map(|n| n.max(0) as u64))
                .collect::<Result<_, _>>()?,
            rows,
        })
    }

    async fn workers(&self, timeout: Duration) -> Result<Vec<WorkerInfo>, StoreError> {
        let reply: Value = self
            .redis
            .invoke(
                self.scripts
                    .workers
                    .key(&self.keys.base)
                    .arg(timeout.as_millis() as u64),
            )
            .await?;
        let r = Reply::of("workers", &reply)?;
        // A time in ms ('' when unknown).
        let at = |row: &Reply<'_>, i: usize| {
            row.text_or_empty(i)
                .parse()
                .ok()
                .and_then(|ms| chrono::TimeZone::timestamp_millis_opt(&chrono::Utc, ms).single())
        };
        r.nested(1)?
            .rows(0)?
            .into_iter()
            .map(|row| {
                let tasks = row.nested(6)?;
                Ok(WorkerInfo {
                    hostname: row.text(0)?,
                    state: row.text(1)?.parse().map_err(StoreError::Corrupt)?,
                    last_heartbeat: at(&row, 2),
                    pid: row.text_or_empty(3).parse().ok(),
                    first_seen: at(&row, 4),
                    offline_at: at(&row, 5),
                    tasks: (0..tasks.items.len())
                        .map(|i| tasks.text(i))
                        .collect::<Result<_, _>>()?,
                })
            })
            .collect()
    }

    async fn forget_worker(
        &self,
        hostname: &str,
        timeout: Duration,
        retention: Duration,
    ) -> Result<ForgetOutcome, StoreError> {
        let reply: Value = self
            .ack(
                self.scripts
                    .forget
                    .key(&self.keys.base)
                    .arg(hostname)
                    .arg(timeout.as_millis() as u64)
                    .arg(retention.as_millis() as u64)
                    .arg(self.inline()),
            )
            .await?;
        let r = Reply::of("forget", &reply)?;
        match r.text(0)?.as_str() {
            "unknown" => Ok(ForgetOutcome::Unknown),
            "online" => Ok(ForgetOutcome::Online {
                last_heard_ms: r.text_or_empty(1).parse().ok(),
            }),
            "forgotten" => Ok(ForgetOutcome::Forgotten {
                released: r
                    .nested(1)?
                    .rows(0)?
                    .into_iter()
                    .map(|row| {
                        Ok(Reaped {
                            id: row.text(0)?,
                            outcome: "failed".into(),
                            reason: format!(
                                "Worker lost: {hostname} was forgotten by an operator."
                            ),
                            delivery_tag: row.text_or_empty(1),
                            celery_id: row.text_or_empty(2),
                        })
                    })
                    .collect::<Result<_, StoreError>>()?,
            }),
            other => Err(StoreError::Corrupt(format!("forget: {other:?}"))),
        }
    }

    async fn reap(
        &self,
        policy: ReapPolicy,
        retention: Duration,
    ) -> Result<Vec<Reaped>, StoreError> {
        let reply: Value = self
            .redis
            .invoke(
                self.scripts
                    .reap
                    .key(&self.keys.base)
                    .arg(policy.heartbeat_timeout.as_millis() as u64)
                    .arg(match policy.on_lost {
                        OnWorkerLost::Fail => "fail",
                        OnWorkerLost::Requeue => "requeue",
                    })
                    .arg(retention.as_millis() as u64)
                    .arg(policy.restart_guard.as_millis() as u64)
                    .arg(self.inline())
                    .arg(policy.offline_grace.as_millis() as u64)
                    .arg(SUPERSEDED_FOR.as_millis() as u64),
            )
            .await?;
        Ok(Reply::of("reap", &reply)?
            .rows(0)?
            .into_iter()
            .map(|r| Reaped {
                id: r.text_or_empty(0),
                outcome: r.text_or_empty(1),
                reason: r.text_or_empty(2),
                delivery_tag: r.text_or_empty(3),
                celery_id: r.text_or_empty(4),
            })
            .collect())
    }

    async fn reclaim_orphan(
        &self,
        id: &str,
        celery_id: &str,
        policy: ReapPolicy,
        retention: Duration,
        lost_for: Duration,
    ) -> Result<Option<Reaped>, StoreError> {
        let reply: Value = self
            .redis
            .invoke(
                self.scripts
                    .orphan
                    .key(&self.keys.base)
                    .arg(id)
                    .arg(celery_id)
                    .arg(match policy.on_lost {
                        OnWorkerLost::Fail => "fail",
                        OnWorkerLost::Requeue => "requeue",
                    })
                    .arg(retention.as_millis() as u64)
                    .arg(self.inline())
                    .arg(lost_for.as_millis() as u64)
                    .arg(SUPERSEDED_FOR.as_millis() as u64),
            )
            .await?;
        one_reaped("orphan", &reply)
    }

    async fn prune_finished(&self, retention: Duration) -> Result<u64, StoreError> {
        let cutoff = self.now_ms().await? - retention.as_millis() as i64;
        let n: i64 = self
            .redis
            .query(
                redis::cmd("ZREMRANGEBYSCORE")
                    .arg(&self.keys.finished)
                    .arg("-inf")
                    .arg(format!("({cutoff}")),
            )
            .await?;
        Ok(n.max(0) as u64)
    }

    async fn create_session(
        &self,
        id: &str,
        ttl: Duration,
        token_name: &str,
    ) -> Result<(), StoreError> {
        let _: () = self
            .redis
            .query(
                redis::cmd("SET")
                    .arg(self.keys.session(id))
                    .arg(token_name)
                    .arg("PX")
                    .arg(ttl.as_millis() as u64),
            )
            .await?;
        Ok(())
    }

    async fn session(&self, id: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .redis
            .query(redis::cmd("GET").arg(self.keys.session(id)))
            .await?)
    }

    async fn audit_append(
        &self,
        entry: &AuditRecord,
        retention: Duration,
        cap: u64,
    ) -> Result<String, StoreError> {
        let reply: Value = self
            .redis
            .invoke(
                self.scripts
                    .audit
                    .key(&self.keys.base)
                    .arg(retention.as_millis() as u64)
                    .arg(cap)
                    .arg(&entry.who)
                    .arg(&entry.address)
                    .arg(&entry.action)
                    .arg(&entry.target)
                    .arg(entry.before.to_string())
                    .arg(entry.after.to_string()),
            )
            .await?;
        string(&reply).ok_or_else(|| Reply::bad("audit", &reply))
    }

    async fn hooks_claim(
        &self,
        lease: Duration,
        max: u32,
        on_for: Duration,
    ) -> Result<Vec<HookClaim>, StoreError> {
        let reply: Value = self
            .redis
            .invoke(
                self.scripts
                    .hooks_claim
                    .key(&self.keys.base)
                    .arg(lease.as_millis() as u64)
                    .arg(max)
                    .arg(on_for.as_millis() as u64),
            )
            .await?;
        let r = Reply::of("hooks_claim", &reply)?;
        r.rows(0)?
            .into_iter()
            .map(|row| {
                let mut fields = HashMap::new();
                for (i, name) in ["kind", "ref", "until", "at", "att", "body"]
                    .iter()
                    .enumerate()
                {
                    let v = row.text_or_empty(i + 1);
                    if !v.is_empty() {
                        fields.insert(name.to_string(), v);
                    }
                }
                let states = row.nested(7)?.map()?;
                fields.extend(states);
                Ok(HookClaim {
                    id: row.text(0)?,
                    fields,
                })
            })
            .collect()
    }

    async fn hooks_done(
        &self,
        id: &str,
        body: Option<&str>,
        next: Option<Duration>,
        keep: Duration,
        outcomes: &[HookOutcome],
    ) -> Result<(), StoreError> {
        let mut inv = self.scripts.hooks_done.prepare_invoke();
        inv.key(&self.keys.base)
            .arg(id)
            .arg(body.unwrap_or(""))
            .arg(next.map_or(0, |d| d.as_millis().max(1) as u64))
            .arg(keep.as_millis() as u64);
        for o in outcomes {
            inv.arg(&o.url).arg(&o.state).arg(&o.error);
        }
        let _: Value = self.redis.invoke(&inv).await?;
        Ok(())
    }

    async fn hooks_list(
        &self,
        n: u32,
    ) -> Result<Vec<(String, HashMap<String, String>)>, StoreError> {
        let reply: Value = self
            .redis
            .invoke(self.scripts.hooks_list.key(&self.keys.base).arg(n.max(1)))
            .await?;
        Reply::of("hooks_list", &reply)?
            .rows(0)?
            .into_iter()
            .map(|row| Ok((row.text(0)?, row.nested(1)?.map()?)))
            .collect()
    }

    async fn audit(
        &self,
        limit: u32,
        since: Option<&str>,
        before: Option<&str>,
    ) -> Result<Vec<app::types::AuditEntry>, StoreError> {
        let upper = before.map_or("+".to_string(), |b| format!("({b}"));
        let lower = since.map_or("-".to_string(), |s| format!("({s}"));
        let raw: Vec<(String, HashMap<String, String>)> = self
            .redis
            .query(
                redis::cmd("XREVRANGE")
                    .arg(format!("{}audit", self.keys.base))
                    .arg(upper)
                    .arg(lower)
                    .arg("COUNT")
                    .arg(limit.max(1)),
            )
            .await?;
        raw.into_iter()
            .map(|(id, f)| {
                let ms: i64 = id
                    .split_once('-')
                    .and_then(|(ms, _)| ms.parse().ok())
                    .ok_or_else(|| StoreError::Corrupt(format!("audit id {id:?}")))?;
                let json = |k: &str| {
                    f.get(k)
                        .and_then(|v| serde_json::from_str(v).ok())
                        .unwrap_or(serde_json::Value::Null)
                };
                let text = |k: &str| f.get(k).cloned().unwrap_or_default();
                Ok(app::types::AuditEntry {
                    at: chrono::TimeZone::timestamp_millis_opt(&chrono::Utc, ms)
                        .single()
                        .ok_or_else(|| StoreError::Corrupt(format!("audit id {id:?}")))?,
                    id,
                    who: text("who"),
                    address: text("addr"),
                    action: text("action"),
                    target: text("target"),
                    before: json("before"),
                    after: json("after"),
                })
            })
            .collect()
    }

    async fn delete_session(&self, id: &str) -> Result<(), StoreError> {
        let _: i64 = self
            .redis
            .query(redis::cmd("DEL").arg(self.keys.session(id)))
            .await?;
        Ok(())
    }

    async fn dispatch_message(&self, id: &str) -> Result<Option<StoredMessage>, StoreError> {
        let key = self.keys.task(id);
        let (fields, message): (Vec<Option<String>>, Option<String>) = self
            .redis
            .pipe(
                redis::pipe()
                    .atomic()
                    .cmd("HMGET")
                    .arg(&key)
                    .arg(&[fields::STATUS, fields::CELERY_ID, "bl", "dt"])
                    .cmd("GET")
                    .arg(format!("{key}:msg")),
            )
            .await?;
        let [status, celery_id, list, tag] = <[Option<String>; 4]>::try_from(fields)
            .map_err(|f| StoreError::Corrupt(format!("HMGET of {key} replied {f:?}")))?;
        if status.as_deref() != Some("running") {
            return Ok(None);
        }
        Ok(match (celery_id, message, list) {
            (Some(celery_id), Some(message), Some(list)) => Some(StoredMessage {
                celery_id,
                message,
                list,
                delivery_tag: tag.unwrap_or_default(),
            }),
            _ => None,
        })
    }

    async fn ping(&self) -> Result<Duration, StoreError> {
        let start = Instant::now();
        let _: String = self.redis.query(&redis::cmd("PING")).await?;
        Ok(start.elapsed())
    }

    async fn server_facts(&self) -> Result<crate::connection::ServerFacts, StoreError> {
        Ok(self.redis.server_facts(&self.keys.config).await?)
    }
}
