//! Server functions: thin adapters from the dashboard to the [`PoolBackend`].
//!
//! Each one takes the backend from context and calls one method; none holds pool logic. They
//! are what the dashboard calls, nothing else: scripts use the seed's JSON API. (They answer
//! under `/api/` with POST, JSON in and out, and errors in the JSON API's shape and status.)
//!
//! [`PoolBackend`]: crate::backend::PoolBackend

use crate::errors::AppError;
use crate::types::{
    Dashboard, Limits, LimitsUpdate, PoolConfig, PoolStatus, ProcessReport, RetryReport,
    ServerInfo, SubmitRequest, TaskType, WorkerTask,
};
use leptos::prelude::*;
use leptos::server_fn::codec::Json;

/// The server's version, whether Redis answers right now, and whether this browser is signed in.
#[server(prefix = "/api", endpoint = "server_info", input = Json)]
pub async fn fetch_server_info() -> Result<ServerInfo, AppError> {
    let session = crate::backend::request_session().await;
    Ok(crate::backend::backend()?.server_info(session).await)
}

/// Signs this browser in with the API token (a session cookie; HttpOnly, SameSite=Strict).
#[server(prefix = "/api", endpoint = "sign_in", input = Json)]
pub async fn sign_in(token: String) -> Result<(), AppError> {
    let cookie = crate::backend::backend()?.sign_in(token).await?;
    crate::backend::set_cookie(&cookie);
    Ok(())
}

/// Signs this browser out.
#[server(prefix = "/api", endpoint = "sign_out", input = Json)]
pub async fn sign_out() -> Result<(), AppError> {
    let session = crate::backend::request_session().await;
    let cookie = crate::backend::backend()?.sign_out(session).await;
    crate::backend::set_cookie(&cookie);
    Ok(())
}

/// Everything the dashboard shows (what the live channel also pushes).
#[server(prefix = "/api", endpoint = "dashboard", input = Json)]
pub async fn fetch_dashboard() -> Result<Dashboard, AppError> {
    crate::backend::backend()?.dashboard().await
}

/// Accepts a task.
#[server(prefix = "/api", endpoint = "submit_task", input = Json)]
pub async fn submit_task(req: SubmitRequest) -> Result<WorkerTask, AppError> {
    crate::backend::backend()?.submit(req).await
}

/// Changes the limit.
#[server(prefix = "/api", endpoint = "set_max_workers", input = Json)]
pub async fn set_max_workers(max_workers: u32) -> Result<PoolConfig, AppError> {
    crate::backend::backend()?
        .set_config(crate::types::ConfigUpdate { max_workers })
        .await
}

/// Cancels a task.
#[server(prefix = "/api", endpoint = "cancel_task", input = Json)]
pub async fn cancel_task(task_id: String) -> Result<WorkerTask, AppError> {
    crate::backend::backend()?.cancel(task_id).await
}

/// Changes a queued task's priority.
#[server(prefix = "/api", endpoint = "set_task_priority", input = Json)]
pub async fn set_task_priority(task_id: String, priority: i32) -> Result<WorkerTask, AppError> {
    crate::backend::backend()?
        .set_priority(task_id, priority)
        .await
}

/// Submits a failed or cancelled task again, linked to it.
#[server(prefix = "/api", endpoint = "retry_task", input = Json)]
pub async fn retry_task(task_id: String) -> Result<WorkerTask, AppError> {
    crate::backend::backend()?.retry(task_id).await
}

/// Retries every failed task not retried yet (up to 100, newest first).
#[server(prefix = "/api", endpoint = "retry_failed", input = Json)]
pub async fn retry_failed() -> Result<RetryReport, AppError> {
    crate::backend::backend()?
        .retry_many(crate::types::RetryFilter::default())
        .await
}

/// One reconciliation and dispatch pass.
#[server(prefix = "/api", endpoint = "process_queue", input = Json)]
pub async fn process_queue() -> Result<ProcessReport, AppError> {
    crate::backend::backend()?.process_queue().await
}

/// The task types the pool accepts.
#[server(prefix = "/api", endpoint = "task_types", input = Json)]
pub async fn task_types() -> Result<Vec<TaskType>, AppError> {
    Ok(crate::backend::backend()?.task_types().await)
}

/// Changes any part of the limits (the global one, and sources' rules).
#[server(prefix = "/api", endpoint = "set_limits", input = Json)]
pub async fn set_limits(update: LimitsUpdate) -> Result<Limits, AppError> {
    crate::backend::backend()?.set_limits(update).await
}

/// Pauses or resumes the pool (`source` absent) or one source.
#[server(prefix = "/api", endpoint = "set_paused", input = Json)]
pub async fn set_paused(source: Option<String>, paused: bool) -> Result<PoolStatus, AppError> {
    crate::backend::backend()?.pause(source, paused).await
}

/// Cools a source down for `seconds` (0 ends its cool-down).
#[server(prefix = "/api", endpoint = "set_cooldown", input = Json)]
pub async fn set_cooldown(source: String, seconds: u32) -> Result<PoolStatus, AppError> {
    crate::backend::backend()?.cooldown(source, seconds).await
}

/// One action on every task a filter names (or, dry, which tasks it would touch).
#[server(prefix = "/api", endpoint = "bulk", input = Json)]
pub async fn bulk_action(
    req: crate::types::BulkRequest,
) -> Result<crate::types::BulkReport, AppError> {
    crate::backend::backend()?.bulk(req).await
}

/// A page of the tasks a filter names (the dashboard's search).
#[server(prefix = "/api", endpoint = "search", input = Json)]
pub async fn search_tasks(
    query: crate::types::TaskQuery,
) -> Result<crate::types::TaskList, AppError> {
    crate::backend::backend()?.tasks(query).await
}

/// A task's story, for its page.
#[server(prefix = "/api", endpoint = "story", input = Json)]
pub async fn fetch_story(task_id: String) -> Result<crate::types::TaskStory, AppError> {
    crate::backend::backend()?.story(task_id).await
}

/// The pool's history over a window, for the charts.
#[server(prefix = "/api", endpoint = "stats", input = Json)]
pub async fn fetch_stats(
    window: crate::types::StatsWindow,
) -> Result<crate::types::PoolStats, AppError> {
    crate::backend::backend()?.stats(window).await
}

/// Forgets a worker that is gone for good: its tasks end failed, their slots go to the queue.
#[server(prefix = "/api", endpoint = "forget_worker", input = Json)]
pub async fn forget_worker(hostname: String) -> Result<crate::types::ForgetReport, AppError> {
    crate::backend::backend()?.forget_worker(hostname).await
}
