//! The task model: a task's status, its parameters, and the task itself.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

use super::DEFAULT_BATCH_SIZE;

/// Where a task is in its life. The first two hold the task in the pool; the last three are
/// terminal and never change again.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord,
)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    /// Waiting in the priority queue for a free slot.
    #[default]
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
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TaskParameters {
    /// A full sync instead of an incremental one.
    pub full: bool,
    /// How many records the task processes per batch, 1 to 100000.
    #[cfg_attr(feature = "ssr", schema(minimum = 1, maximum = 100000))]
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

/// One unit of work in the pool: a Celery task that waits for, holds, or held a slot.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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
    /// for a worker. Its slot stays taken; if its message is lost on the way to a worker, the
    /// pool notices within seconds and sends it again (`resends`).
    #[serde(default)]
    pub waiting_for_worker: bool,
    /// How many times the pool published the task's message again because it was lost between
    /// the broker and a worker (it never ran; the new message has a new Celery id).
    #[serde(default)]
    pub resends: u32,
    /// When it was last sent again.
    #[serde(default)]
    pub resent_at: Option<DateTime<Utc>>,
    /// Why it was last sent again, in a sentence.
    #[serde(default)]
    pub resend_reason: Option<String>,
    /// The customer or account the sync is for, when the submitter named one.
    #[serde(default)]
    pub tenant: Option<String>,
    /// While queued: why it waits (a rule that holds it, or `queue`: it may start, behind
    /// others). `None` once it runs or ended.
    #[serde(default)]
    pub blocked_by: Option<BlockedBy>,
    /// While queued: when it is expected to start, from the recent run times of the tasks
    /// running and ahead of it and the rules that apply to it; `None` while there is no
    /// history to go on, or while it is paused.
    #[serde(default)]
    pub estimated_start_at: Option<DateTime<Utc>>,
    /// While queued or running: when it is expected to end, the same way.
    #[serde(default)]
    pub estimated_finish_at: Option<DateTime<Utc>>,
    /// The failed or cancelled task this one retries.
    #[serde(default)]
    pub retry_of: Option<String>,
    /// The task that retries this one.
    #[serde(default)]
    pub retried_by: Option<String>,
    /// True only in a submit's answer, when an existing task was returned instead of adding
    /// one: by deduplication, or because its `task_id` was submitted before.
    #[serde(default, skip_serializing_if = "is_false")]
    pub deduplicated: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// What a submit does when a task of the same source, sync type and tenant exists.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Dedupe {
    /// Always add a task (the default).
    #[default]
    None,
    /// If one is queued, return it instead.
    Queued,
    /// If one is queued or running, return it instead.
    Active,
    /// If one is queued, give it the new parameters and priority and return it.
    Replace,
}

impl Dedupe {
    /// Every mode.
    pub const ALL: [Dedupe; 4] = [
        Dedupe::None,
        Dedupe::Queued,
        Dedupe::Active,
        Dedupe::Replace,
    ];

    /// The name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Dedupe::None => "none",
            Dedupe::Queued => "queued",
            Dedupe::Active => "active",
            Dedupe::Replace => "replace",
        }
    }
}

impl std::str::FromStr for Dedupe {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Dedupe::ALL
            .into_iter()
            .find(|d| d.as_str() == s)
            .ok_or_else(|| {
                let shown: String = s.chars().take(40).collect();
                format!("dedupe must be none, queued, active or replace, not {shown:?}")
            })
    }
}

/// Why a queued task has not started.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum BlockedBy {
    /// Every slot of the pool is taken.
    GlobalLimit,
    /// Its source runs as many tasks as its limit allows.
    SourceLimit,
    /// Its tenant runs as many of the source's tasks as the per-tenant limit allows.
    TenantLimit,
    /// Its source used its rate budget for the current window.
    RateLimit,
    /// Its source cools down after a provider refused it.
    Cooldown,
    /// The pool or its source is paused.
    Paused,
    /// Nothing holds it: it starts once the tasks ahead of it have.
    Queue,
}

impl BlockedBy {
    /// The name used on the wire and in Redis.
    pub fn as_str(self) -> &'static str {
        match self {
            BlockedBy::GlobalLimit => "global_limit",
            BlockedBy::SourceLimit => "source_limit",
            BlockedBy::TenantLimit => "tenant_limit",
            BlockedBy::RateLimit => "rate_limit",
            BlockedBy::Cooldown => "cooldown",
            BlockedBy::Paused => "paused",
            BlockedBy::Queue => "queue",
        }
    }

    /// Every reason.
    pub const ALL: [BlockedBy; 7] = [
        BlockedBy::GlobalLimit,
        BlockedBy::SourceLimit,
        BlockedBy::TenantLimit,
        BlockedBy::RateLimit,
        BlockedBy::Cooldown,
        BlockedBy::Paused,
        BlockedBy::Queue,
    ];

    /// Words for people.
    pub fn label(self) -> &'static str {
        match self {
            BlockedBy::GlobalLimit => "all slots taken",
            BlockedBy::SourceLimit => "source at its limit",
            BlockedBy::TenantLimit => "tenant at its limit",
            BlockedBy::RateLimit => "rate budget used",
            BlockedBy::Cooldown => "source cooling down",
            BlockedBy::Paused => "paused",
            BlockedBy::Queue => "next in line",
        }
    }
}

impl std::str::FromStr for BlockedBy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        BlockedBy::ALL
            .into_iter()
            .find(|b| b.as_str() == s)
            .ok_or_else(|| format!("unknown blocked_by {s:?}"))
    }
}

impl WorkerTask {
    /// Seconds between two instants, for durations shown to people.
    pub fn duration_secs(&self, now: DateTime<Utc>) -> Option<f64> {
        let start = self.started_at?;
        let end = self.finished_at.unwrap_or(now);
        Some(((end - start).num_milliseconds().max(0) as f64) / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
