//! The one seam between the views and the pool (server side only).
//!
//! The JSON API, the server functions behind the dashboard and, through the API, the CLI all
//! call the same [`PoolBackend`]. The server crate implements it; the app crate only knows
//! the trait, which it finds in Leptos context as a [`Backend`]. No view holds pool logic.

use crate::errors::AppError;
use crate::types::{AuditList, ForgetReport, PoolStats, StatsWindow, WebhookList, WorkerList};
use crate::types::{
    ConfigUpdate, Dashboard, Limits, LimitsUpdate, PoolConfig, PoolStatus, ProcessReport,
    RetryFilter, RetryReport, ServerInfo, SubmitRequest, TaskList, TaskQuery, TaskType, TaskView,
    WorkerTask,
};
use leptos::prelude::use_context;
use std::sync::Arc;

/// The name of the dashboard's session cookie.
pub const SESSION_COOKIE: &str = "wp_session";

/// Everything the views may ask of the pool.
#[async_trait::async_trait]
pub trait PoolBackend: Send + Sync + 'static {
    /// The server's version, whether its store answers, and whether `session` (the browser's
    /// session cookie) is signed in.
    async fn server_info(&self, session: Option<String>) -> ServerInfo;
    /// Checks the API token and starts a session: returns the `Set-Cookie` value.
    async fn sign_in(&self, token: String) -> Result<String, AppError>;
    /// Ends a session: returns the `Set-Cookie` value that clears it.
    async fn sign_out(&self, session: Option<String>) -> String;
    /// The whole pool (`GET status/`).
    async fn status(&self) -> Result<PoolStatus, AppError>;
    /// The pool and the recent history, for the dashboard and its live channel.
    async fn dashboard(&self) -> Result<Dashboard, AppError>;
    /// Accepts a task (`POST submit/`).
    async fn submit(&self, req: SubmitRequest) -> Result<WorkerTask, AppError>;
    /// The configuration (`GET config/`).
    async fn config(&self) -> Result<PoolConfig, AppError>;
    /// Changes the limit (`POST config/`).
    async fn set_config(&self, update: ConfigUpdate) -> Result<PoolConfig, AppError>;
    /// Lists tasks (`GET tasks/`).
    async fn tasks(&self, query: TaskQuery) -> Result<TaskList, AppError>;
    /// One task (`GET tasks/<id>/`).
    async fn task(&self, id: String) -> Result<TaskView, AppError>;
    /// Cancels a task (`POST tasks/<id>/cancel/`).
    async fn cancel(&self, id: String) -> Result<WorkerTask, AppError>;
    /// Changes a queued task's priority (`POST tasks/<id>/priority/`).
    async fn set_priority(&self, id: String, priority: i32) -> Result<WorkerTask, AppError>;
    /// Submits a failed or cancelled task again, linked to it (`POST tasks/<id>/retry/`).
    async fn retry(&self, id: String) -> Result<WorkerTask, AppError>;
    /// One action on every task a filter names (`POST tasks/bulk/`).
    async fn bulk(
        &self,
        req: crate::types::BulkRequest,
    ) -> Result<crate::types::BulkReport, AppError>;
    /// Retries the finished tasks a filter names (`POST tasks/retry/`).
    async fn retry_many(&self, filter: RetryFilter) -> Result<RetryReport, AppError>;
    /// One reconciliation and dispatch pass (`POST process-queue/`).
    async fn process_queue(&self) -> Result<ProcessReport, AppError>;
    /// The task types the pool accepts (`GET task-types/`).
    async fn task_types(&self) -> Vec<TaskType>;
    /// The global limit and every source's rules (`GET limits/`).
    async fn limits(&self) -> Result<Limits, AppError>;
    /// Changes any part of the limits (`POST limits/`).
    async fn set_limits(&self, update: LimitsUpdate) -> Result<Limits, AppError>;
    /// Pauses or resumes the pool (`None`) or a source (`POST pause/`, `POST resume/`).
    async fn pause(&self, source: Option<String>, paused: bool) -> Result<PoolStatus, AppError>;
    /// Cools a source down for `seconds` (0 ends it) (`POST sources/<source>/cooldown/`).
    async fn cooldown(&self, source: String, seconds: u32) -> Result<PoolStatus, AppError>;
    /// A task's story: its steps and audit entries (`GET tasks/<id>/story/`).
    async fn story(&self, id: String) -> Result<crate::types::TaskStory, AppError>;
    /// The pool's history over a window, for the charts (`GET stats/`).
    async fn stats(&self, window: StatsWindow) -> Result<PoolStats, AppError>;
    /// Every Celery worker the pool has heard from (`GET workers/`).
    async fn workers(&self) -> Result<WorkerList, AppError>;
    /// Checks what the pool's guarantees rely on: Redis, the workers' settings, the queue
    /// (`GET doctor/`, `worker-pool doctor`).
    async fn doctor(&self) -> crate::types::DoctorReport;
    /// Forgets a worker that will not come back: the slots of its tasks are released, the
    /// tasks end failed (`POST workers/<hostname>/forget/`).
    async fn forget_worker(&self, hostname: String) -> Result<ForgetReport, AppError>;
    /// The audit trail, newest first (`GET audit/`): at most `limit` entries, newer than
    /// `since`, older than `before` (entry ids).
    async fn audit(
        &self,
        limit: Option<u32>,
        since: Option<String>,
        before: Option<String>,
    ) -> Result<AuditList, AppError>;
    /// The webhook events and their delivery state (`GET webhooks/`).
    async fn webhooks(&self) -> Result<WebhookList, AppError>;
}

/// The backend as it is stored in Leptos context.
#[derive(Clone)]
pub struct Backend(pub Arc<dyn PoolBackend>);

impl std::ops::Deref for Backend {
    type Target = dyn PoolBackend;

    fn deref(&self) -> &Self::Target {
        &*self.0
    }
}

/// The backend of the current request. Its absence is a wiring bug in the server, reported as
/// an internal error rather than a panic.
pub fn backend() -> Result<Backend, AppError> {
    use_context::<Backend>().ok_or_else(|| {
        leptos::logging::error!("no Backend in Leptos context: the server did not provide one");
        AppError::internal()
    })
}

/// The session id a request's cookies carry (the server's guard reads it the same way).
pub fn session_of(headers: &http::HeaderMap) -> Option<&str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == SESSION_COOKIE)
        .map(|(_, v)| v)
}

/// The session cookie of the current request (server functions only).
pub async fn request_session() -> Option<String> {
    let headers: http::HeaderMap = leptos_axum::extract().await.ok()?;
    session_of(&headers).map(str::to_string)
}

/// Gives the current server function's response the status `code` (its errors carry theirs).
pub fn set_response_status(code: u16) {
    if let (Some(resp), Ok(status)) = (
        use_context::<leptos_axum::ResponseOptions>(),
        http::StatusCode::from_u16(code),
    ) {
        resp.set_status(status);
    }
}

/// Adds a `Set-Cookie` header to the current server function's response.
pub fn set_cookie(value: &str) {
    if let (Some(resp), Ok(v)) = (
        use_context::<leptos_axum::ResponseOptions>(),
        http::HeaderValue::from_str(value),
    ) {
        resp.append_header(http::header::SET_COOKIE, v);
    }
}

/// The dashboard's content security policy, for a page rendered with `nonce`: scripts only
/// from this origin or carrying the nonce, WASM allowed, nothing framed, nothing elsewhere.
pub fn page_csp(nonce: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self'; style-src-attr 'unsafe-inline'; img-src 'self' data:; \
         connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; \
         form-action 'self'; frame-ancestors 'none'"
    )
}
