//! What clients send, and how it is checked: the submit, configuration and priority requests,
//! the task-list query, task ids, and the bounds of every number. Shared by the server and the
//! dashboard's forms, so both explain a mistake in the same words.
//!
//! Requests are read from a `serde_json::Value` by hand rather than by serde's derive: one
//! request with several mistakes gets one 422 naming every field at fault, each with its own
//! sentence (the dashboard shows them beside their fields), which serde's first-error-wins
//! parsing cannot give.

use serde::{Deserialize, Serialize};
use std::fmt;

use super::{Dedupe, TaskParameters, TaskStatus};

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

/// A problem with one field of a request, with a sentence a person understands.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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
                    Value::Number(n) => match n.as_u64().map(|b| validate_batch_size(&field, b)) {
                        Some(Ok(b)) => out.batch_size = b,
                        Some(Err(e)) => errors.push(e),
                        None => errors.push(batch_size_error(&field, n)),
                    },
                    other => errors.push(batch_size_error(&field, json_type_name(other))),
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

fn priority_error(what: impl fmt::Display) -> FieldError {
    FieldError::new(
        "priority",
        format!(
            "priority must be a whole number from {MIN_PRIORITY} to {MAX_PRIORITY}, not {what}"
        ),
    )
}

/// Checks a priority.
pub fn validate_priority(value: i64) -> Result<i32, FieldError> {
    if (MIN_PRIORITY as i64..=MAX_PRIORITY as i64).contains(&value) {
        Ok(value as i32)
    } else {
        Err(priority_error(value))
    }
}

/// Reads a priority typed by a person (a form field).
pub fn parse_priority(text: &str) -> Result<i32, FieldError> {
    match text.trim().parse::<i64>() {
        Ok(n) => validate_priority(n),
        Err(_) => Err(priority_error(format!("{:?}", text.trim()))),
    }
}

/// Checks a priority from a JSON value (`null` or absent means 0).
pub fn priority_from_json(value: Option<&serde_json::Value>) -> Result<i32, FieldError> {
    use serde_json::Value;
    match value {
        None | Some(Value::Null) => Ok(0),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(p) => validate_priority(p),
            None => Err(priority_error(n)),
        },
        Some(other) => Err(priority_error(json_type_name(other))),
    }
}

/// Checks a `batch_size` (reported as `field`).
pub fn validate_batch_size(field: &str, value: u64) -> Result<u64, FieldError> {
    if (MIN_BATCH_SIZE..=MAX_BATCH_SIZE).contains(&value) {
        Ok(value)
    } else {
        Err(batch_size_error(field, value))
    }
}

fn batch_size_error(field: &str, what: impl fmt::Display) -> FieldError {
    FieldError::new(
        field,
        format!("batch_size must be a whole number from {MIN_BATCH_SIZE} to {MAX_BATCH_SIZE}, not {what}"),
    )
}

/// The longest tenant accepted.
pub const MAX_TENANT_LEN: usize = 64;

fn tenant_error(what: impl fmt::Display) -> FieldError {
    FieldError::new(
        "tenant",
        format!(
            "tenant must be 1 to {MAX_TENANT_LEN} characters of A-Z a-z 0-9 . _ : -, not {what}"
        ),
    )
}

/// Checks a tenant: 1 to 64 characters of `A-Z a-z 0-9 . _ : -`.
pub fn validate_tenant(tenant: &str) -> Result<(), FieldError> {
    let ok = !tenant.is_empty()
        && tenant.len() <= MAX_TENANT_LEN
        && tenant
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-'));
    if ok {
        Ok(())
    } else {
        let shown: String = tenant.chars().take(MAX_TENANT_LEN).collect();
        Err(tenant_error(format!("{shown:?}")))
    }
}

/// Checks a `crm_source` or `sync_type` (reported as `key`), already trimmed.
pub fn validate_name(key: &str, value: &str) -> Result<(), FieldError> {
    if value.is_empty() {
        Err(FieldError::new(key, format!("{key} must not be empty")))
    } else if value.chars().count() > MAX_NAME_LEN || value.chars().any(|c| c.is_control()) {
        Err(FieldError::new(
            key,
            format!("{key} must be at most {MAX_NAME_LEN} printable characters"),
        ))
    } else {
        Ok(())
    }
}

/// Checks a `max_workers` value.
pub fn validate_max_workers(value: i64) -> Result<u32, FieldError> {
    if (MIN_WORKERS as i64..=MAX_WORKERS as i64).contains(&value) {
        Ok(value as u32)
    } else {
        Err(max_workers_error(value))
    }
}

fn max_workers_error(what: impl fmt::Display) -> FieldError {
    FieldError::new(
        "max_workers",
        format!(
            "max_workers must be a whole number from {MIN_WORKERS} to {MAX_WORKERS}, not {what}"
        ),
    )
}

/// A validated request to run a task: `POST submit/`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SubmitRequest {
    /// `hubspot`.
    #[cfg_attr(
        feature = "ssr",
        schema(min_length = 1, max_length = 64, example = "hubspot")
    )]
    pub crm_source: String,
    /// `all`.
    #[cfg_attr(
        feature = "ssr",
        schema(min_length = 1, max_length = 64, example = "all")
    )]
    pub sync_type: String,
    /// The task's keyword arguments; a key left out takes its default (`full` false,
    /// `batch_size` 1000, `dry_run` false).
    #[cfg_attr(feature = "ssr", schema(required = false))]
    pub parameters: TaskParameters,
    /// -100..=100, higher first.
    #[cfg_attr(feature = "ssr", schema(required = false, minimum = -100, maximum = 100, default = 0))]
    pub priority: i32,
    /// The customer or account the sync is for (per-tenant limits count by it).
    #[serde(default)]
    pub tenant: Option<String>,
    /// What to do when a task of the same source, sync type and tenant exists.
    #[serde(default)]
    pub dedupe: Dedupe,
    /// An id the client chooses, so that a submit can be sent again safely after an error or
    /// a timeout: the same id again returns the task it named (200, `deduplicated`) and
    /// changes nothing, while the task is kept (its retention). 1 to 128 letters, digits and
    /// `- _ . :` (a UUID is best). Without it the pool makes one.
    #[serde(default)]
    #[cfg_attr(
        feature = "ssr",
        schema(min_length = 1, max_length = 128, pattern = "^[A-Za-z0-9_.:-]{1,128}$")
    )]
    pub task_id: Option<String>,
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
            if let Err(e) = validate_name(key, t) {
                errors.push(e);
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
            &[
                "crm_source",
                "sync_type",
                "parameters",
                "priority",
                "tenant",
                "dedupe",
                "task_id",
            ],
            "a submit request has crm_source, sync_type, parameters, priority, tenant, dedupe and task_id",
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
        let tenant = match map.get("tenant") {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::String(t)) => {
                if let Err(e) = validate_tenant(t) {
                    errors.push(e);
                }
                Some(t.clone())
            }
            Some(other) => {
                errors.push(tenant_error(json_type_name(other)));
                None
            }
        };
        let dedupe = match map.get("dedupe") {
            None | Some(serde_json::Value::Null) => Dedupe::None,
            Some(serde_json::Value::String(d)) => d.parse().unwrap_or_else(|e: String| {
                errors.push(FieldError::new("dedupe", e));
                Dedupe::None
            }),
            Some(other) => {
                errors.push(FieldError::new(
                    "dedupe",
                    format!(
                        "dedupe must be a string (none, queued, active or replace), not {}",
                        json_type_name(other)
                    ),
                ));
                Dedupe::None
            }
        };
        let task_id = match map.get("task_id") {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::String(id)) => {
                if let Err(e) = validate_task_id(id) {
                    errors.push(e);
                }
                Some(id.clone())
            }
            Some(other) => {
                errors.push(FieldError::new(
                    "task_id",
                    format!("task_id must be a string, not {}", json_type_name(other)),
                ));
                None
            }
        };
        if errors.is_empty() {
            Ok(SubmitRequest {
                crm_source,
                sync_type,
                parameters,
                priority,
                tenant,
                dedupe,
                task_id,
            })
        } else {
            Err(errors)
        }
    }

    /// Checks the ranges of an already typed request (server functions arrive typed), with
    /// the same sentences as [`SubmitRequest::from_json`].
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let errors: Vec<FieldError> = [
            validate_name("crm_source", &self.crm_source).err(),
            validate_name("sync_type", &self.sync_type).err(),
            validate_batch_size("parameters.batch_size", self.parameters.batch_size).err(),
            validate_priority(self.priority as i64).err(),
            self.tenant
                .as_deref()
                .and_then(|t| validate_tenant(t).err()),
            self.task_id
                .as_deref()
                .and_then(|id| validate_task_id(id).err()),
        ]
        .into_iter()
        .flatten()
        .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// `<crm_source>.<sync_type>`, the key of the task-type registry.
    pub fn type_key(&self) -> String {
        format!("{}.{}", self.crm_source, self.sync_type)
    }
}

/// A request to change the limit: `POST config/`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ConfigUpdate {
    /// The new limit, 1..=64.
    #[cfg_attr(feature = "ssr", schema(minimum = 1, maximum = 64))]
    pub max_workers: u32,
}

impl ConfigUpdate {
    /// Reads `{"max_workers": N}`; unknown keys are refused.
    pub fn from_json(value: &serde_json::Value) -> Result<Self, Vec<FieldError>> {
        let (map, mut errors) =
            object_body(value, &["max_workers"], "the configuration has max_workers")?;
        let max_workers = match map.get("max_workers") {
            None | Some(serde_json::Value::Null) => {
                Err(FieldError::new("max_workers", "max_workers is required"))
            }
            Some(serde_json::Value::Number(n)) => n
                .as_i64()
                .map_or_else(|| Err(max_workers_error(n)), validate_max_workers),
            Some(other) => Err(max_workers_error(json_type_name(other))),
        }
        .map_err(|e| errors.push(e))
        .ok();
        match (max_workers, errors.is_empty()) {
            (Some(max_workers), true) => Ok(ConfigUpdate { max_workers }),
            _ => Err(errors),
        }
    }
}

/// A request to change a queued task's priority.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PriorityUpdate {
    /// The new priority, -100..=100.
    #[cfg_attr(feature = "ssr", schema(minimum = -100, maximum = 100))]
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

/// Which finished tasks `POST tasks/retry/` retries.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RetryFilter {
    /// `failed` (the default) or `cancelled`.
    #[cfg_attr(feature = "ssr", schema(required = false))]
    pub status: TaskStatus,
    /// Only this source's tasks.
    pub crm_source: Option<String>,
    /// Only this sync type's tasks.
    pub sync_type: Option<String>,
    /// Only this tenant's tasks.
    pub tenant: Option<String>,
    /// At most this many retries (default 100, at most 1000).
    #[cfg_attr(
        feature = "ssr",
        schema(required = false, minimum = 1, maximum = 1000, default = 100)
    )]
    pub limit: u32,
}

impl Default for RetryFilter {
    fn default() -> Self {
        RetryFilter {
            status: TaskStatus::Failed,
            crm_source: None,
            sync_type: None,
            tenant: None,
            limit: DEFAULT_LIST_LIMIT,
        }
    }
}

impl RetryFilter {
    /// Reads `{"status"?, "crm_source"?, "sync_type"?, "tenant"?, "limit"?}`; unknown keys
    /// are refused.
    pub fn from_json(value: &serde_json::Value) -> Result<Self, Vec<FieldError>> {
        let (map, mut errors) = object_body(
            value,
            &["status", "crm_source", "sync_type", "tenant", "limit"],
            "a retry filter has status, crm_source, sync_type, tenant and limit",
        )?;
        let mut f = RetryFilter::default();
        match map.get("status") {
            None | Some(serde_json::Value::Null) => {}
            Some(serde_json::Value::String(s)) if s == "failed" => {}
            Some(serde_json::Value::String(s)) if s == "cancelled" => {
                f.status = TaskStatus::Cancelled
            }
            Some(_) => errors.push(FieldError::new(
                "status",
                "status must be failed or cancelled: only those can be retried",
            )),
        }
        for key in ["crm_source", "sync_type", "tenant"] {
            let v = match map.get(key) {
                None | Some(serde_json::Value::Null) => continue,
                Some(serde_json::Value::String(v)) => v.clone(),
                Some(other) => {
                    errors.push(FieldError::new(
                        key,
                        format!("{key} must be a string, not {}", json_type_name(other)),
                    ));
                    continue;
                }
            };
            let check = if key == "tenant" {
                validate_tenant(&v)
            } else {
                validate_name(key, &v)
            };
            if let Err(e) = check {
                errors.push(e);
            }
            match key {
                "crm_source" => f.crm_source = Some(v),
                "sync_type" => f.sync_type = Some(v),
                _ => f.tenant = Some(v),
            }
        }
        match map.get("limit") {
            None | Some(serde_json::Value::Null) => {}
            Some(v) => match v
                .as_u64()
                .filter(|n| (1..=MAX_LIST_LIMIT as u64).contains(n))
            {
                Some(n) => f.limit = n as u32,
                None => errors.push(FieldError::new(
                    "limit",
                    format!("limit must be a whole number from 1 to {MAX_LIST_LIMIT}"),
                )),
            },
        }
        if errors.is_empty() {
            Ok(f)
        } else {
            Err(errors)
        }
    }
}

/// Which tasks `GET tasks/` lists: by status, and (a search) by source, sync type, tenant,
/// text in the id or the error, and creation time, a page at a time.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct TaskQuery {
    /// Only tasks with this status.
    pub status: Option<TaskStatus>,
    /// At most this many (default 100, at most 1000).
    pub limit: Option<u32>,
    /// Only this source's tasks.
    #[serde(default)]
    pub crm_source: Option<String>,
    /// Only this sync type's tasks.
    #[serde(default)]
    pub sync_type: Option<String>,
    /// Only this tenant's tasks.
    #[serde(default)]
    pub tenant: Option<String>,
    /// Only tasks whose id or error contains this text (case-insensitive).
    #[serde(default)]
    pub q: Option<String>,
    /// Only tasks submitted at or after this time.
    #[serde(default)]
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    /// Only tasks submitted before this time.
    #[serde(default)]
    pub until: Option<chrono::DateTime<chrono::Utc>>,
    /// Where the previous page stopped (its `next`).
    #[serde(default)]
    pub cursor: Option<String>,
}

/// What `POST tasks/bulk/` does to the tasks its filter names.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum BulkAction {
    /// Cancels queued tasks.
    Cancel,
    /// Gives queued tasks a new priority.
    Priority,
    /// Retries failed (or cancelled) tasks not retried yet, each once.
    Retry,
}

impl BulkAction {
    /// The name used on the wire and in the audit trail.
    pub fn as_str(self) -> &'static str {
        match self {
            BulkAction::Cancel => "cancel",
            BulkAction::Priority => "priority",
            BulkAction::Retry => "retry",
        }
    }
}

/// `POST tasks/bulk/`: one action on every task a filter names (as `GET tasks/` filters),
/// at most `limit` of them; with `dry_run`, only which tasks it would touch.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct BulkRequest {
    pub action: BulkAction,
    /// Which tasks: `status`, `crm_source`, `sync_type`, `tenant`, `q`, `since`, `until`, as
    /// `GET tasks/` takes them. Cancel and priority touch queued tasks only; retry, failed
    /// ones (or, with `"status": "cancelled"`, cancelled ones).
    #[cfg_attr(feature = "ssr", schema(required = false, value_type = Object))]
    pub filter: TaskQuery,
    /// The new priority (-100..=100), for `priority` only.
    #[serde(default)]
    pub priority: Option<i32>,
    /// At most this many tasks (default 100, at most 1000).
    #[cfg_attr(
        feature = "ssr",
        schema(required = false, minimum = 1, maximum = 1000, default = 100)
    )]
    pub limit: u32,
    /// Change nothing: say which tasks would be touched.
    #[serde(default)]
    pub dry_run: bool,
}

impl BulkRequest {
    /// Reads a bulk request; unknown keys are refused, and every mistake named.
    pub fn from_json(value: &serde_json::Value) -> Result<Self, Vec<FieldError>> {
        let (map, mut errors) = object_body(
            value,
            &["action", "filter", "priority", "limit", "dry_run"],
            "a bulk request has action, filter, priority, limit and dry_run",
        )?;
        let action = match map.get("action").and_then(|v| v.as_str()) {
            Some("cancel") => Some(BulkAction::Cancel),
            Some("priority") => Some(BulkAction::Priority),
            Some("retry") => Some(BulkAction::Retry),
            _ => {
                errors.push(FieldError::new(
                    "action",
                    "action must be cancel, priority or retry",
                ));
                None
            }
        };
        let mut filter = TaskQuery::default();
        match map.get("filter") {
            None | Some(serde_json::Value::Null) => {}
            Some(serde_json::Value::Object(f)) => {
                let mut pairs = Vec::new();
                for (k, v) in f {
                    let key = printable_key(k);
                    if matches!(k.as_str(), "limit" | "cursor")
                        || !TASK_QUERY_KEYS.contains(&k.as_str())
                    {
                        errors.push(FieldError::new(
                            format!("filter.{key}"),
                            format!("unknown filter {key:?}; a filter has status, crm_source, sync_type, tenant, q, since and until"),
                        ));
                        continue;
                    }
                    match v {
                        serde_json::Value::Null => {}
                        serde_json::Value::String(s) => pairs.push((k.clone(), s.clone())),
                        other => errors.push(FieldError::new(
                            format!("filter.{key}"),
                            format!(
                                "filter.{key} must be a string, not {}",
                                json_type_name(other)
                            ),
                        )),
                    }
                }
                match TaskQuery::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
                    Ok(q) => filter = q,
                    Err(e) => errors.push(FieldError::new("filter", e)),
                }
            }
            Some(other) => errors.push(FieldError::new(
                "filter",
                format!("filter must be an object, not {}", json_type_name(other)),
            )),
        }
        // Which statuses an action may touch.
        match (action, filter.status) {
            (Some(BulkAction::Cancel | BulkAction::Priority), None) => {
                filter.status = Some(TaskStatus::Queued)
            }
            (Some(BulkAction::Cancel | BulkAction::Priority), Some(TaskStatus::Queued)) => {}
            (Some(BulkAction::Retry), None) => filter.status = Some(TaskStatus::Failed),
            (Some(BulkAction::Retry), Some(TaskStatus::Failed | TaskStatus::Cancelled)) => {}
            (Some(a), Some(_)) => errors.push(FieldError::new(
                "filter.status",
                match a {
                    BulkAction::Retry => "retry touches failed or cancelled tasks only",
                    _ => "cancel and priority touch queued tasks only",
                },
            )),
            (None, _) => {}
        }
        let priority = match (action, map.get("priority")) {
            (Some(BulkAction::Priority), v) => {
                if v.is_none() {
                    errors.push(FieldError::new("priority", "priority is required"));
                    None
                } else {
                    priority_from_json(v).map_err(|e| errors.push(e)).ok()
                }
            }
            (_, None | Some(serde_json::Value::Null)) => None,
            (_, Some(_)) => {
                errors.push(FieldError::new(
                    "priority",
                    "priority goes with the priority action only",
                ));
                None
            }
        };
        let limit = match map.get("limit") {
            None | Some(serde_json::Value::Null) => DEFAULT_LIST_LIMIT,
            Some(v) => v
                .as_u64()
                .filter(|n| (1..=MAX_LIST_LIMIT as u64).contains(n))
                .map(|n| n as u32)
                .unwrap_or_else(|| {
                    errors.push(FieldError::new(
                        "limit",
                        format!("limit must be a whole number from 1 to {MAX_LIST_LIMIT}"),
                    ));
                    DEFAULT_LIST_LIMIT
                }),
        };
        let dry_run = match map.get("dry_run") {
            None | Some(serde_json::Value::Null) => false,
            Some(serde_json::Value::Bool(b)) => *b,
            Some(other) => {
                errors.push(FieldError::new(
                    "dry_run",
                    format!(
                        "dry_run must be true or false, not {}",
                        json_type_name(other)
                    ),
                ));
                false
            }
        };
        match action {
            Some(action) if errors.is_empty() => Ok(BulkRequest {
                action,
                filter,
                priority,
                limit,
                dry_run,
            }),
            _ => Err(errors),
        }
    }
}

/// The query parameters `GET tasks/` takes.
pub const TASK_QUERY_KEYS: [&str; 9] = [
    "status",
    "limit",
    "crm_source",
    "sync_type",
    "tenant",
    "q",
    "since",
    "until",
    "cursor",
];

/// The longest search text.
pub const MAX_SEARCH_TEXT: usize = 200;

impl TaskQuery {
    /// True when it is more than a status and a limit: a search, read a page at a time.
    pub fn is_search(&self) -> bool {
        self.crm_source.is_some()
            || self.sync_type.is_some()
            || self.tenant.is_some()
            || self.q.is_some()
            || self.since.is_some()
            || self.until.is_some()
            || self.cursor.is_some()
    }

    /// Reads a query string's decoded pairs; an empty value is no filter. The sentence of the
    /// first mistake otherwise.
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, String> {
        let mut q = TaskQuery::default();
        for (key, value) in pairs {
            let value = value.trim();
            if !TASK_QUERY_KEYS.contains(&key) {
                let shown: String = key.chars().take(40).collect();
                return Err(format!(
                    "unknown query parameter {shown:?}; tasks/ takes {}",
                    TASK_QUERY_KEYS.join(", ")
                ));
            }
            if value.is_empty() {
                continue;
            }
            let time = |v: &str| {
                chrono::DateTime::parse_from_rfc3339(v)
                    .map(|t| t.with_timezone(&chrono::Utc))
                    .map_err(|_| format!("{key} must be an RFC 3339 time (2026-11-30T08:00:00Z)"))
            };
            match key {
                "status" => q.status = Some(value.parse()?),
                "limit" => {
                    q.limit = Some(
                        value
                            .parse()
                            .ok()
                            .filter(|n| (1..=MAX_LIST_LIMIT).contains(n))
                            .ok_or_else(|| {
                                format!("limit must be a whole number from 1 to {MAX_LIST_LIMIT}")
                            })?,
                    )
                }
                "crm_source" | "sync_type" => {
                    validate_name(key, value).map_err(|e| e.message)?;
                    let v = Some(value.to_string());
                    if key == "crm_source" {
                        q.crm_source = v
                    } else {
                        q.sync_type = v
                    }
                }
                "tenant" => {
                    validate_tenant(value).map_err(|e| e.message)?;
                    q.tenant = Some(value.to_string());
                }
                "q" => {
                    if value.chars().count() > MAX_SEARCH_TEXT
                        || value.chars().any(char::is_control)
                    {
                        return Err(format!(
                            "q is at most {MAX_SEARCH_TEXT} characters, none of them control characters"
                        ));
                    }
                    q.q = Some(value.to_string());
                }
                "since" => q.since = Some(time(value)?),
                "until" => q.until = Some(time(value)?),
                _ => {
                    let ok = value.len() <= 12
                        && matches!(value.as_bytes(), [b'r' | b'q' | b'f', b':', rest @ ..]
                            if !rest.is_empty() && rest.iter().all(u8::is_ascii_digit));
                    if !ok {
                        return Err("cursor must be a page's next value, as returned".into());
                    }
                    q.cursor = Some(value.to_string());
                }
            }
        }
        Ok(q)
    }

    /// The query string of this query (what the dashboard puts in its URL).
    pub fn to_pairs(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if let Some(s) = self.status {
            out.push(("status", s.as_str().to_string()));
        }
        for (k, v) in [
            ("crm_source", &self.crm_source),
            ("sync_type", &self.sync_type),
            ("tenant", &self.tenant),
            ("q", &self.q),
        ] {
            if let Some(v) = v {
                out.push((k, v.clone()));
            }
        }
        for (k, v) in [("since", self.since), ("until", self.until)] {
            if let Some(t) = v {
                // RFC 3339 to the second, written with integers (chrono's formatter would
                // weigh on the WASM, which builds these queries too).
                use chrono::{Datelike, Timelike};
                out.push((
                    k,
                    format!(
                        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
                        t.year(),
                        t.month(),
                        t.day(),
                        t.hour(),
                        t.minute(),
                        t.second()
                    ),
                ));
            }
        }
        if let Some(n) = self.limit {
            out.push(("limit", n.to_string()));
        }
        if let Some(c) = &self.cursor {
            out.push(("cursor", c.clone()));
        }
        out
    }
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

// --- flow control -----------------------------------------------------------------------------

/// The largest source or per-tenant limit (a source limit above the global one means nothing).
pub const MAX_SOURCE_LIMIT: u32 = MAX_WORKERS;
/// The most starts a rate budget may allow per window.
pub const MAX_RATE_STARTS: u32 = 100_000;
/// The longest rate window and cool-down, in seconds (a day).
pub const MAX_WINDOW_SECS: u32 = 86_400;

/// A source's rate budget: at most `starts` starts in any `per_seconds` seconds.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Rate {
    /// How many starts.
    pub starts: u32,
    /// In how many seconds.
    pub per_seconds: u32,
}

/// The flow-control rules of one source; `None` is no rule (the global limit only).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SourceRules {
    /// At most this many of the source's tasks run at once.
    pub limit: Option<u32>,
    /// At most this many of the source's tasks of one tenant run at once (tasks without a
    /// tenant are not counted by it).
    pub tenant_limit: Option<u32>,
    /// At most this many starts per window.
    pub rate: Option<Rate>,
}

/// `Option<Option<T>>` as JSON: absent is `None` (leave as it is), `null` is `Some(None)`
/// (remove), a value is `Some(Some(v))`.
mod change {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer, T: Serialize>(
        v: &Option<Option<T>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match v {
            Some(inner) => inner.serialize(s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
        d: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(d).map(Some)
    }
}

/// A change to a source's rules: each rule left as it is (`None`), removed (`Some(None)`) or
/// set.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SourceRulesUpdate {
    #[serde(default, skip_serializing_if = "Option::is_none", with = "change")]
    pub limit: Option<Option<u32>>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "change")]
    pub tenant_limit: Option<Option<u32>>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "change")]
    pub rate: Option<Option<Rate>>,
}

/// `POST limits/`: any part of the limits; sources not named are left as they are.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LimitsUpdate {
    /// The global limit, 1..=64.
    #[serde(default)]
    pub max_workers: Option<u32>,
    /// Changes by source.
    #[serde(default)]
    pub sources: std::collections::BTreeMap<String, SourceRulesUpdate>,
}

fn bounded(field: &str, v: &serde_json::Value, lo: u32, hi: u32) -> Result<u32, FieldError> {
    v.as_u64()
        .filter(|n| (lo as u64..=hi as u64).contains(n))
        .map(|n| n as u32)
        .ok_or_else(|| {
            let what = match v {
                serde_json::Value::Number(n) => n.to_string(),
                other => json_type_name(other).to_string(),
            };
            FieldError::new(
                field,
                format!("{field} must be a whole number from {lo} to {hi}, not {what}"),
            )
        })
}

/// Reads one rule: absent, `null` (remove) or a value read by `read`.
fn rule<T>(
    map: &serde_json::Map<String, serde_json::Value>,
    key: &str,
    errors: &mut Vec<FieldError>,
    read: impl FnOnce(&serde_json::Value) -> Result<T, Vec<FieldError>>,
) -> Option<Option<T>> {
    match map.get(key)? {
        serde_json::Value::Null => Some(None),
        v => match read(v) {
            Ok(t) => Some(Some(t)),
            Err(mut e) => {
                errors.append(&mut e);
                None
            }
        },
    }
}

impl Rate {
    /// Reads `{"starts": n, "per_seconds": s}` (reported as `field`).
    pub fn from_json(field: &str, v: &serde_json::Value) -> Result<Self, Vec<FieldError>> {
        let (map, mut errors) = object_body(
            v,
            &["starts", "per_seconds"],
            "a rate has starts and per_seconds",
        )
        .map_err(|_| {
            vec![FieldError::new(
                field,
                format!(
                    "{field} must be an object with starts and per_seconds, not {}",
                    json_type_name(v)
                ),
            )]
        })?;
        let mut num = |key: &str, hi: u32| match map.get(key) {
            Some(x) => bounded(&format!("{field}.{key}"), x, 1, hi)
                .map_err(|e| errors.push(e))
                .ok(),
            None => {
                errors.push(FieldError::new(
                    format!("{field}.{key}"),
                    format!("{field}.{key} is required"),
                ));
                None
            }
        };
        let starts = num("starts", MAX_RATE_STARTS);
        let per_seconds = num("per_seconds", MAX_WINDOW_SECS);
        match (starts, per_seconds) {
            (Some(starts), Some(per_seconds)) if errors.is_empty() => Ok(Rate {
                starts,
                per_seconds,
            }),
            _ => Err(errors),
        }
    }

    /// Reads `10/1m`, `10/60s` or `10/60` (a bare window is seconds), as the CLI takes it.
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || format!("a rate is <starts>/<window>, such as 10/1m or 100/1h, not {text:?}");
        let (n, w) = text.split_once('/').ok_or_else(bad)?;
        let starts: u32 = n.trim().parse().map_err(|_| bad())?;
        let w = w.trim();
        let (num, unit) = match w.find(|c: char| !c.is_ascii_digit()) {
            Some(i) => (&w[..i], &w[i..]),
            None => (w, "s"),
        };
        let num: u32 = if num.is_empty() {
            1
        } else {
            num.parse().map_err(|_| bad())?
        };
        let per_seconds = match unit {
            "s" => Some(num),
            "m" => num.checked_mul(60),
            "h" => num.checked_mul(3600),
            "d" => num.checked_mul(86_400),
            _ => None,
        }
        .ok_or_else(bad)?;
        let rate = Rate {
            starts,
            per_seconds,
        };
        Rate::from_json("rate", &serde_json::to_value(rate).map_err(|_| bad())?).map_err(|e| {
            e.iter()
                .map(|f| f.message.clone())
                .collect::<Vec<_>>()
                .join("; ")
        })
    }
}

impl LimitsUpdate {
    /// Reads `{"max_workers"?: n, "sources"?: {"<source>": {"limit"?, "tenant_limit"?,
    /// "rate"?}}}`, where `null` removes a rule. Unknown keys are refused; whether a source
    /// exists is the server's to say.
    pub fn from_json(value: &serde_json::Value) -> Result<Self, Vec<FieldError>> {
        let (map, mut errors) = object_body(
            value,
            &["max_workers", "sources"],
            "the limits have max_workers and sources",
        )?;
        let mut out = LimitsUpdate::default();
        if let Some(v) = map.get("max_workers") {
            out.max_workers = bounded("max_workers", v, MIN_WORKERS, MAX_WORKERS)
                .map_err(|e| errors.push(e))
                .ok();
        }
        match map.get("sources") {
            None | Some(serde_json::Value::Null) => {}
            Some(serde_json::Value::Object(sources)) => {
                for (src, rules) in sources {
                    let base = format!("sources.{}", printable_key(src));
                    let Some(rules_map) = rules.as_object() else {
                        errors.push(FieldError::new(
                            &base,
                            format!(
                                "{base} must be an object of limit, tenant_limit and rate, not {}",
                                json_type_name(rules)
                            ),
                        ));
                        continue;
                    };
                    for k in rules_map.keys() {
                        if !["limit", "tenant_limit", "rate"].contains(&k.as_str()) {
                            errors.push(FieldError::new(
                                format!("{base}.{}", printable_key(k)),
                                format!(
                                    "unknown rule {:?}; a source has limit, tenant_limit and rate",
                                    printable_key(k)
                                ),
                            ));
                        }
                    }
                    let one = |key: &str| {
                        let field = format!("{base}.{key}");
                        move |v: &serde_json::Value| {
                            bounded(&field, v, 1, MAX_SOURCE_LIMIT).map_err(|e| vec![e])
                        }
                    };
                    let rate_field = format!("{base}.rate");
                    let update = SourceRulesUpdate {
                        limit: rule(rules_map, "limit", &mut errors, one("limit")),
                        tenant_limit: rule(
                            rules_map,
                            "tenant_limit",
                            &mut errors,
                            one("tenant_limit"),
                        ),
                        rate: rule(rules_map, "rate", &mut errors, |v| {
                            Rate::from_json(&rate_field, v)
                        }),
                    };
                    out.sources.insert(src.clone(), update);
                }
            }
            Some(other) => errors.push(FieldError::new(
                "sources",
                format!(
                    "sources must be an object by source, not {}",
                    json_type_name(other)
                ),
            )),
        }
        if errors.is_empty() {
            Ok(out)
        } else {
            Err(errors)
        }
    }
}

impl LimitsUpdate {
    /// Checks the ranges of an already typed update (server functions arrive typed), with the
    /// same sentences as [`LimitsUpdate::from_json`].
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut check = |field: String, v: u32, lo: u32, hi: u32| {
            if let Err(e) = bounded(&field, &serde_json::Value::from(v), lo, hi) {
                errors.push(e);
            }
        };
        if let Some(m) = self.max_workers {
            check("max_workers".into(), m, MIN_WORKERS, MAX_WORKERS);
        }
        for (src, u) in &self.sources {
            let base = format!("sources.{}", printable_key(src));
            if let Some(Some(n)) = u.limit {
                check(format!("{base}.limit"), n, 1, MAX_SOURCE_LIMIT);
            }
            if let Some(Some(n)) = u.tenant_limit {
                check(format!("{base}.tenant_limit"), n, 1, MAX_SOURCE_LIMIT);
            }
            if let Some(Some(r)) = u.rate {
                check(format!("{base}.rate.starts"), r.starts, 1, MAX_RATE_STARTS);
                check(
                    format!("{base}.rate.per_seconds"),
                    r.per_seconds,
                    1,
                    MAX_WINDOW_SECS,
                );
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// Checks a cool-down's length: 0 (end it) to a day.
pub fn validate_cooldown(seconds: u32) -> Result<u32, FieldError> {
    bounded(
        "seconds",
        &serde_json::Value::from(seconds),
        0,
        MAX_WINDOW_SECS,
    )
}

/// Reads `{}` (the pool) or `{"source": "<source>"}`: what `pause/` and `resume/` act on.
/// `POST pause/` and `POST resume/`: the whole pool (no source), or one source.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PauseTarget {
    /// The source to pause or resume; absent or null for the whole pool.
    #[serde(default)]
    pub source: Option<String>,
}

/// `POST sources/<source>/cooldown/`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CooldownRequest {
    /// How long the source cools down, 0 to 86400 seconds; 0 ends a cool-down.
    #[cfg_attr(feature = "ssr", schema(minimum = 0, maximum = 86400))]
    pub seconds: u32,
}

impl PauseTarget {
    /// Reads `{}` or `{"source": "..."}`; unknown keys are refused.
    pub fn from_json(value: &serde_json::Value) -> Result<Self, Vec<FieldError>> {
        let (map, mut errors) = object_body(value, &["source"], "it takes nothing, or a source")?;
        let source = match map.get("source") {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::String(s)) => Some(s.trim().to_string()),
            Some(other) => {
                errors.push(FieldError::new(
                    "source",
                    format!("source must be a string, not {}", json_type_name(other)),
                ));
                None
            }
        };
        if errors.is_empty() {
            Ok(PauseTarget { source })
        } else {
            Err(errors)
        }
    }
}

impl CooldownRequest {
    /// Reads `{"seconds": n}` (0 to a day; 0 ends a cool-down); unknown keys are refused.
    pub fn from_json(value: &serde_json::Value) -> Result<Self, Vec<FieldError>> {
        let (map, mut errors) = object_body(value, &["seconds"], "it takes seconds")?;
        let seconds = match map.get("seconds") {
            Some(v) => bounded("seconds", v, 0, MAX_WINDOW_SECS)
                .map_err(|e| errors.push(e))
                .ok(),
            None => {
                errors.push(FieldError::new("seconds", "seconds is required"));
                None
            }
        };
        match seconds {
            Some(seconds) if errors.is_empty() => Ok(CooldownRequest { seconds }),
            _ => Err(errors),
        }
    }
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
    fn dedupe_and_retry_filters_are_read_strictly() {
        let req = |d: serde_json::Value| {
            SubmitRequest::from_json(&json!({"crm_source": "a", "sync_type": "b", "dedupe": d}))
        };
        assert_eq!(req(json!("replace")).unwrap().dedupe, Dedupe::Replace);
        assert_eq!(req(json!(null)).unwrap().dedupe, Dedupe::None);
        assert!(req(json!("Queued")).is_err());
        let f = RetryFilter::from_json(&json!({})).unwrap();
        assert_eq!(
            (f.status, f.limit),
            (TaskStatus::Failed, DEFAULT_LIST_LIMIT)
        );
        let f =
            RetryFilter::from_json(&json!({"status": "cancelled", "tenant": "acme", "limit": 5}))
                .unwrap();
        assert_eq!(
            (f.status, f.tenant.as_deref(), f.limit),
            (TaskStatus::Cancelled, Some("acme"), 5)
        );
        for bad in [
            json!({"status": "completed"}),
            json!({"limit": 1001}),
            json!({"crm_source": 3}),
            json!({"x": 1}),
        ] {
            assert!(RetryFilter::from_json(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn typed_requests_are_checked_like_json_ones() {
        let ok = SubmitRequest {
            crm_source: "hubspot".into(),
            sync_type: "all".into(),
            parameters: TaskParameters::default(),
            priority: 5,
            tenant: Some("acme-1".into()),
            ..Default::default()
        };
        assert!(ok.validate().is_ok());
        let bad = SubmitRequest {
            crm_source: "".into(),
            sync_type: "x".repeat(65),
            parameters: TaskParameters {
                batch_size: 0,
                ..TaskParameters::default()
            },
            priority: 101,
            tenant: Some("a b".into()),
            ..Default::default()
        };
        let typed = bad.validate().unwrap_err();
        let from_json = SubmitRequest::from_json(&serde_json::to_value(&bad).unwrap()).unwrap_err();
        assert_eq!(typed, from_json, "the same fields, the same sentences");
        assert_eq!(typed.len(), 5);
        assert_eq!(validate_max_workers(0).unwrap_err().field, "max_workers");
        assert_eq!(validate_priority(-100).unwrap(), -100);
    }
}
