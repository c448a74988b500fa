//! The values that cross the wire between the server, the browser and the CLI.
//!
//! Everything here is plain data with serde on both sides: no I/O, no clocks, no Redis.
//! The JSON shapes follow the seed's API contract (see the pool issue), so the dashboard,
//! the CLI and any external client read the same objects.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The smallest and largest `max_workers` the pool accepts.
pub const MIN_WORKERS: u32 = 1;
/// See [`MIN_WORKERS`].
pub const MAX_WORKERS: u32 = 64;
/// Priorities run from -100 (last) to 100 (first).
pub const MIN_PRIORITY: i32 = -100;
/// See [`MIN_PRIORITY`].
pub const MAX_PRIORITY: i32 = 100;
/// `batch_size` bounds, inclusive.
pub const MIN_BATCH_SIZE: u64 = 1;
/// See [`MIN_BATCH_SIZE`].
pub const MAX_BATCH_SIZE: u64 = 100_000;
/// The default `batch_size` when a request leaves it out.
pub const DEFAULT_BATCH_SIZE: u64 = 1000;

/// Where a task is in its life. The first two hold the task in the pool; the last three are
/// terminal and never change again.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    /// Waiting in the priority queue for a free slot.
    Queued,
    /// Holding a slot: its Celery message has been published (a worker may not have taken it yet).
    Running,
    /// Celery reported SUCCESS.
    Completed,
    /// Celery reported FAILURE, or the worker running it was lost.
    Failed,
    /// Cancelled while queued, or revoked while running.
    Cancelled,
}

impl TaskStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [TaskStatus; 5] = [
        TaskStatus::Queued,
        TaskStatus::Running,
        TaskStatus::Completed,
        TaskStatus::Failed,
        TaskStatus::Cancelled,
    ];

    /// The lower-case name used on the wire and in Redis.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Queued => "queued",
            TaskStatus::Running => "running",
            TaskStatus::Completed => "completed",
            TaskStatus::Failed => "failed",
            TaskStatus::Cancelled => "cancelled",
        }
    }

    /// True once the task can never change again.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            TaskStatus::Completed | TaskStatus::Failed | TaskStatus::Cancelled
        )
    }
}

impl fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for TaskStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TaskStatus::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown status {s:?}; expected one of queued, running, completed, failed, cancelled"
                )
            })
    }
}

/// The keyword arguments every sync task takes. Unknown keys are refused, so a typo never
/// reaches a Celery worker as an unexpected keyword argument.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct TaskParameters {
    /// A full sync instead of an incremental one.
    pub full: bool,
    /// How many records the task processes per batch.
    pub batch_size: u64,
    /// Run the sync without writing anything.
    pub dry_run: bool,
}

impl Default for TaskParameters {
    fn default() -> Self {
        TaskParameters {
            full: false,
            batch_size: DEFAULT_BATCH_SIZE,
            dry_run: false,
        }
    }
}

/// A problem with one field of a request, with a sentence a person understands.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// The field, as a dotted path (`parameters.batch_size`).
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl TaskParameters {
    /// Reads `parameters` from a JSON value, applying defaults for missing keys and refusing
    /// unknown keys and wrong types. `null` means "all defaults". Shared by the server and the
    /// dashboard's form, so both explain a mistake in the same words.
    pub fn from_json(value: &serde_json::Value) -> Result<Self, Vec<FieldError>> {
        use serde_json::Value;
        let mut out = TaskParameters::default();
        let map = match value {
            Value::Null => return Ok(out),
            Value::Object(map) => map,
            other => {
                return Err(vec![FieldError::new(
                    "parameters",
                    format!(
                        "parameters must be an object, not {}",
                        json_type_name(other)
                    ),
                )])
            }
        };
        let mut errors = Vec::new();
        for (key, v) in map {
            let field = format!("parameters.{}", printable_key(key));
            match key.as_str() {
                "full" | "dry_run" => match v {
                    Value::Bool(b) => {
                        if key == "full" {
                            out.full = *b
                        } else {
                            out.dry_run = *b
                        }
                    }
                    Value::Null => {}
                    other => errors.push(FieldError::new(
                        field,
                        format!("{key} must be true or false, not {}", json_type_name(other)),
                    )),
                },
                "batch_size" => match v {
                    Value::Null => {}
                    Value::Number(n) => match n.as_u64() {
                        Some(b) if (MIN_BATCH_SIZE..=MAX_BATCH_SIZE).contains(&b) => {
                            out.batch_size = b
                        }
                        _ => errors.push(FieldError::new(
                            field,
                            format!(
                                "batch_size must be a whole number from {MIN_BATCH_SIZE} to {MAX_BATCH_SIZE}, not {n}"
                            ),
                        )),
                    },
                    other => errors.push(FieldError::new(
                        field,
                        format!(
                            "batch_size must be a whole number from {MIN_BATCH_SIZE} to {MAX_BATCH_SIZE}, not {}",
                            json_type_name(other)
                        ),
                    )),
                },
                _ => errors.push(FieldError::new(
                    field,
                    format!(
                        "unknown parameter {:?}; the parameters are full, batch_size and dry_run",
                        printable_key(key)
                    ),
                )),
            }
        }
        if errors.is_empty() {
            Ok(out)
        } else {
            Err(errors)
        }
    }
}

/// Keys come from untrusted input: keep error messages short and printable.
fn printable_key(key: &str) -> String {
    let cleaned: String = key
        .chars()
        .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
        .take(64)
        .collect();
    if key.chars().count() > 64 {
        format!("{cleaned}…")
    } else {
        cleaned
    }
}

/// The JSON type of a value, in the words an error message uses.
pub fn json_type_name(v: &serde_json::Value) -> &'static str {
    use serde_json::Value;
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Checks a priority from a JSON value (`null` or absent means 0).
pub fn priority_from_json(value: Option<&serde_json::Value>) -> Result<i32, FieldError> {
    use serde_json::Value;
    let msg = |what: String| {
        FieldError::new(
            "priority",
            format!(
                "priority must be a whole number from {MIN_PRIORITY} to {MAX_PRIORITY}, not {what}"
            ),
        )
    };
    match value {
        None | Some(Value::Null) => Ok(0),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(p) if (MIN_PRIORITY as i64..=MAX_PRIORITY as i64).contains(&p) => Ok(p as i32),
            _ => Err(msg(n.to_string())),
        },
        Some(other) => Err(msg(json_type_name(other).to_string())),
    }
}

/// Checks a `max_workers` value.
pub fn validate_max_workers(value: i64) -> Result<u32, FieldError> {
    if (MIN_WORKERS as i64..=MAX_WORKERS as i64).contains(&value) {
        Ok(value as u32)
    } else {
        Err(FieldError::new(
            "max_workers",
            format!("max_workers must be a whole number from {MIN_WORKERS} to {MAX_WORKERS}, not {value}"),
        ))
    }
}

/// A validated request to run a task: `POST submit/`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct SubmitRequest {
    /// `hubspot`.
    pub crm_source: String,
    /// `all`.
    pub sync_type: String,
    /// The task's keyword arguments.
    pub parameters: TaskParameters,
    /// -100..=100, higher first.
    pub priority: i32,
}

/// The longest `crm_source` or `sync_type` accepted.
pub const MAX_NAME_LEN: usize = 64;

fn name_field(
    map: &serde_json::Map<String, serde_json::Value>,
    key: &str,
    errors: &mut Vec<FieldError>,
) -> String {
    match map.get(key) {
        Some(serde_json::Value::String(s)) => {
            let t = s.trim();
            if t.is_empty() {
                errors.push(FieldError::new(key, format!("{key} must not be empty")));
            } else if t.chars().count() > MAX_NAME_LEN || t.chars().any(|c| c.is_control()) {
                errors.push(FieldError::new(
                    key,
                    format!("{key} must be at most {MAX_NAME_LEN} printable characters"),
                ));
            }
            t.to_string()
        }
        None | Some(serde_json::Value::Null) => {
            errors.push(FieldError::new(key, format!("{key} is required")));
            String::new()
        }
        Some(other) => {
            errors.push(FieldError::new(
                key,
                format!("{key} must be a string, not {}", json_type_name(other)),
            ));
            String::new()
        }
    }
}

/// A JSON object body and the errors for its unexpected keys.
type ObjectBody<'a> = (
    &'a serde_json::Map<String, serde_json::Value>,
    Vec<FieldError>,
);

/// The body as a JSON object, and an error for every key it has beyond `allowed`; `what`
/// names the request in the messages ("a submit request has …").
fn object_body<'a>(
    value: &'a serde_json::Value,
    allowed: &[&str],
    what: &str,
) -> Result<ObjectBody<'a>, Vec<FieldError>> {
    let Some(map) = value.as_object() else {
        return Err(vec![FieldError::new(
            "body",
            format!(
                "the request body must be a JSON object, not {}",
                json_type_name(value)
            ),
        )]);
    };
    let errors = map
        .keys()
        .filter(|k| !allowed.contains(&k.as_str()))
        .map(|k| {
            FieldError::new(
                printable_key(k),
                format!("unknown field {:?}; {what}", printable_key(k)),
            )
        })
        .collect();
    Ok((map, errors))
}

impl SubmitRequest {
    /// Reads a submit request from JSON: `crm_source` and `sync_type` (strings), `parameters`
    /// (object, optional), `priority` (integer, optional). Unknown keys are refused.
    pub fn from_json(value: &serde_json::Value) -> Result<Self, Vec<FieldError>> {
        let (map, mut errors) = object_body(
            value,
            &["crm_source", "sync_type", "parameters", "priority"],
            "a submit request has crm_source, sync_type, parameters and priority",
        )?;
        let crm_source = name_field(map, "crm_source", &mut errors);
        let sync_type = name_field(map, "sync_type", &mut errors);
        let parameters = match TaskParameters::from_json(
            map.get("parameters").unwrap_or(&serde_json::Value::Null),
        ) {
            Ok(p) => p,
            Err(mut e) => {
                errors.append(&mut e);
                TaskParameters::default()
            }
        };
        let priority = match priority_from_json(map.get("priority")) {
            Ok(p) => p,
            Err(e) => {
                errors.push(e);
                0
            }
        };
        if errors.is_empty() {
            Ok(SubmitRequest {
                crm_source,
                sync_type,
                parameters,
                priority,
            })
        } else {
            Err(errors)
        }
    }

    /// Checks the ranges of an already typed request (server functions arrive typed).
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let value = serde_json::json!({
            "crm_source": self.crm_source,
            "sync_type": self.sync_type,
            "parameters": self.parameters,
            "priority": self.priority,
        });
        Self::from_json(&value).map(|_| ())
    }

    /// `<crm_source>.<sync_type>`, the key of the task-type registry.
    pub fn type_key(&self) -> String {
        format!("{}.{}", self.crm_source, self.sync_type)
    }
}

/// A request to change the limit: `POST config/`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConfigUpdate {
    /// The new limit, 1..=64.
    pub max_workers: u32,
}

impl ConfigUpdate {
    /// Reads `{"max_workers": N}`; unknown keys are refused.
    pub fn from_json(value: &serde_json::Value) -> Result<Self, Vec<FieldError>> {
        let (map, mut errors) =
            object_body(value, &["max_workers"], "the configuration has max_workers")?;
        let max_workers = match map.get("max_workers") {
            Some(serde_json::Value::Number(n)) => match n.as_i64() {
                Some(v) => match validate_max_workers(v) {
                    Ok(v) => Some(v),
                    Err(e) => {
                        errors.push(e);
                        None
                    }
                },
                None => {
                    errors.push(FieldError::new(
                        "max_workers",
                        format!("max_workers must be a whole number from {MIN_WORKERS} to {MAX_WORKERS}, not {n}"),
                    ));
                    None
                }
            },
            None | Some(serde_json::Value::Null) => {
                errors.push(FieldError::new("max_workers", "max_workers is required"));
                None
            }
            Some(other) => {
                errors.push(FieldError::new(
                    "max_workers",
                    format!(
                        "max_workers must be a whole number, not {}",
                        json_type_name(other)
                    ),
                ));
                None
            }
        };
        match (max_workers, errors.is_empty()) {
            (Some(max_workers), true) => Ok(ConfigUpdate { max_workers }),
            _ => Err(errors),
        }
    }
}

/// A request to change a queued task's priority.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct PriorityUpdate {
    /// The new priority, -100..=100.
    pub priority: i32,
}

impl PriorityUpdate {
    /// Reads `{"priority": N}`; unknown keys are refused.
    pub fn from_json(value: &serde_json::Value) -> Result<Self, Vec<FieldError>> {
        let (map, mut errors) = object_body(value, &["priority"], "expected priority")?;
        if !map.contains_key("priority") {
            errors.push(FieldError::new("priority", "priority is required"));
        }
        let priority = priority_from_json(map.get("priority"))
            .map_err(|e| errors.push(e))
            .ok();
        match (priority, errors.is_empty()) {
            (Some(priority), true) => Ok(PriorityUpdate { priority }),
            _ => Err(errors),
        }
    }
}

/// Which tasks `GET tasks/` lists.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct TaskQuery {
    /// Only tasks with this status.
    pub status: Option<TaskStatus>,
    /// At most this many (default 100, at most 1000).
    pub limit: Option<u32>,
}

/// The default and largest `limit` of `GET tasks/`.
pub const DEFAULT_LIST_LIMIT: u32 = 100;
/// See [`DEFAULT_LIST_LIMIT`].
pub const MAX_LIST_LIMIT: u32 = 1000;

/// Task ids are ours (UUIDs) or, for tasks submitted elsewhere, short printable strings; anything
/// else is refused before it reaches the store.
pub fn validate_task_id(id: &str) -> Result<(), FieldError> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'));
    if ok {
        Ok(())
    } else {
        Err(FieldError::new(
            "task_id",
            "a task id is 1 to 128 characters: letters, digits and - _ . :",
        ))
    }
}

/// One unit of work in the pool: a Celery task that waits for, holds, or held a slot.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct WorkerTask {
    /// The pool's id, which is also the Celery task id.
    pub task_id: String,
    /// The CRM the sync talks to (`hubspot`).
    pub crm_source: String,
    /// What it syncs (`all`).
    pub sync_type: String,
    /// The Celery task name the message carries (`hubspot.all`).
    pub task_name: String,
    /// The task's keyword arguments.
    pub parameters: TaskParameters,
    /// Higher runs first; ties run in arrival order.
    pub priority: i32,
    /// Where the task is in its life.
    pub status: TaskStatus,
    /// 1-based place in the dispatch order while queued, else `None`.
    pub position: Option<u64>,
    /// When the pool accepted it.
    pub created_at: DateTime<Utc>,
    /// When it took a slot and its message was published.
    pub started_at: Option<DateTime<Utc>>,
    /// When it reached a terminal status.
    pub finished_at: Option<DateTime<Utc>>,
    /// For failures: the exception type and message; for cancellations, who cancelled.
    pub error: Option<String>,
    /// The Celery worker (`name@host`) that reported STARTED for it, once one has.
    #[serde(default)]
    pub worker: Option<String>,
    /// When a worker reported STARTED.
    #[serde(default)]
    pub worker_started_at: Option<DateTime<Utc>>,
    /// True while the task holds a slot but no worker has reported STARTED yet: it is waiting
    /// for a worker (its slot stays taken, and it is never reclaimed for that).
    #[serde(default)]
    pub waiting_for_worker: bool,
}

impl WorkerTask {
    /// Seconds between two instants, for durations shown to people.
    pub fn duration_secs(&self, now: DateTime<Utc>) -> Option<f64> {
        let start = self.started_at?;
        let end = self.finished_at.unwrap_or(now);
        Some(((end - start).num_milliseconds().max(0) as f64) / 1000.0)
    }
}

/// The seed's three pool states.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
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
        }
    }
}

/// The pool's runtime configuration: `GET config/`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
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
            draining: s.active_count > s.max_workers as u64,
            stale: s.stale,
            fresh_at: s.fresh_at,
        }
    }
}

/// `GET tasks/`: the tasks, and whether they are the last state seen during a store outage.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct TaskList {
    /// Running first, then queued in dispatch order, then finished (newest first).
    pub tasks: Vec<WorkerTask>,
    /// True when the store could not be reached and this is the last state seen.
    #[serde(default)]
    pub stale: bool,
    /// When this state was last read from the store.
    #[serde(default)]
    pub fresh_at: Option<DateTime<Utc>>,
}

/// One task, and whether it is the last state seen during a store outage: `GET tasks/<id>/`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
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
pub struct TaskType {
    /// `five9`.
    pub crm_source: String,
    /// `contacts`.
    pub sync_type: String,
    /// The Celery task name, `five9.contacts`.
    pub task_name: String,
    /// A short description for people.
    pub description: String,
}

/// What a manual "process queue" pass did.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
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
}

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
    use serde_json::json;

    fn params(v: serde_json::Value) -> Result<TaskParameters, Vec<FieldError>> {
        TaskParameters::from_json(&v)
    }

    #[test]
    fn parameters_default_and_override() {
        assert_eq!(params(json!(null)).unwrap(), TaskParameters::default());
        assert_eq!(params(json!({})).unwrap(), TaskParameters::default());
        let p = params(json!({"full": true, "batch_size": 500, "dry_run": true})).unwrap();
        assert_eq!(
            p,
            TaskParameters {
                full: true,
                batch_size: 500,
                dry_run: true
            }
        );
    }

    #[test]
    fn parameters_reject_unknown_and_wrong_types() {
        let errs = params(json!({"fulll": true})).unwrap_err();
        assert_eq!(errs[0].field, "parameters.fulll");
        assert!(errs[0].message.contains("unknown parameter"), "{errs:?}");
        for bad in [
            json!({"batch_size": 0}),
            json!({"batch_size": 100001}),
            json!({"batch_size": 1.5}),
            json!({"batch_size": -3}),
            json!({"batch_size": "10"}),
            json!({"batch_size": 1e300}),
        ] {
            let errs = params(bad.clone()).unwrap_err();
            assert_eq!(errs[0].field, "parameters.batch_size", "{bad}");
        }
        assert!(params(json!({"full": "yes"})).is_err());
        assert!(params(json!([1])).is_err());
        assert!(params(json!("x")).is_err());
        assert_eq!(params(json!({"a": 1, "b": 2})).unwrap_err().len(), 2);
    }

    #[test]
    fn priority_bounds() {
        assert_eq!(priority_from_json(None).unwrap(), 0);
        assert_eq!(priority_from_json(Some(&json!(100))).unwrap(), 100);
        assert_eq!(priority_from_json(Some(&json!(-100))).unwrap(), -100);
        assert!(priority_from_json(Some(&json!(101))).is_err());
        assert!(priority_from_json(Some(&json!(1.5))).is_err());
        assert!(priority_from_json(Some(&json!("1"))).is_err());
        assert!(priority_from_json(Some(&json!(u64::MAX))).is_err());
    }

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

    #[test]
    fn status_names_round_trip() {
        for st in TaskStatus::ALL {
            assert_eq!(st.as_str().parse::<TaskStatus>().unwrap(), st);
            assert_eq!(
                serde_json::to_value(st).unwrap(),
                serde_json::Value::String(st.as_str().into())
            );
        }
        assert!("done".parse::<TaskStatus>().is_err());
    }
}
