//! The seed's JSON API, under [`API_BASE`] (`/ingestion/crm-dashboard/api/worker-pool/`).
//!
//! Each handler reads and checks its input, calls one `PoolBackend` method and writes JSON;
//! no handler holds pool logic. Every failure is an [`ApiError`], never a Redis error, a panic
//! or a stack trace.

use super::error::ApiError;
use super::state::AppState;
use app::backend::PoolBackend;
use app::errors::AppError;
use app::errors::ErrorBody;
use app::types::{
    AuditList, BulkReport, BulkRequest, ConfigUpdate, CooldownRequest, DoctorReport, ForgetReport,
    Limits, LimitsUpdate, PauseTarget, PoolConfig, PoolStats, PoolStatus, PriorityUpdate,
    ProcessReport, RetryFilter, RetryReport, StatsWindow, SubmitRequest, TaskList, TaskQuery,
    TaskStatus, TaskStory, TaskTypeList, TaskView, WebhookList, WorkerList, WorkerTask, API_BASE,
};
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequest, Path, RawQuery, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post, MethodRouter};
use axum::{Json, Router};
use serde::Serialize;
use serde_json::Value;

/// The largest request body accepted (a submit is a few hundred bytes).
pub const BODY_LIMIT: usize = 64 * 1024;

type ApiResult<T> = Result<T, ApiError>;

/// A JSON request body, read as a value so that every mistake gets its own sentence.
pub struct JsonBody(pub Value);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|ct| {
                let mime = ct
                    .split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase();
                mime == "application/json"
                    || (mime.starts_with("application/") && mime.ends_with("+json"))
            })
            .unwrap_or(false);
        if !is_json {
            return Err(AppError::bad_request(
                "Send the request body as JSON, with the header Content-Type: application/json.",
            )
            .into());
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| {
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    body_too_large()
                } else {
                    AppError::bad_request("The request body could not be read.")
                }
            })?;
        let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
            AppError::bad_request(format!(
                "The request body is not valid JSON ({} at line {}, column {}).",
                match e.classify() {
                    serde_json::error::Category::Eof => "it ends too early",
                    serde_json::error::Category::Syntax => "syntax error",
                    serde_json::error::Category::Data => "unexpected data",
                    serde_json::error::Category::Io => "unreadable",
                },
                e.line(),
                e.column()
            ))
        })?;
        Ok(JsonBody(value))
    }
}

fn task_id(path: Result<Path<String>, PathRejection>) -> ApiResult<String> {
    let Path(id) =
        path.map_err(|_| AppError::bad_request("The task id in the URL cannot be read."))?;
    Ok(id)
}

/// `path` and, for clients that leave the trailing slash off, the same path without it.
fn both(router: Router<AppState>, path: &str, method: MethodRouter<AppState>) -> Router<AppState> {
    let router = router.route(path, method.clone());
    match path.strip_suffix('/') {
        Some(bare) if !bare.is_empty() => router.route(bare, method),
        _ => router,
    }
}

/// The answer to a request body over [`BODY_LIMIT`].
pub(super) fn body_too_large() -> AppError {
    AppError::TooLarge {
        message: format!("The request body is larger than {} KiB.", BODY_LIMIT / 1024),
    }
}

/// Every endpoint of the API: its method, its path under [`API_BASE`] and its handler. The
/// router, the index (`GET <base>/`) and the test that holds the OpenAPI document to the router
/// all read this one list.
fn table() -> Vec<(Method, &'static str, MethodRouter<AppState>)> {
    vec![
        (Method::GET, "/status/", get(status)),
        (Method::POST, "/submit/", post(submit)),
        (Method::GET, "/config/", get(get_config)),
        (Method::POST, "/config/", post(set_config)),
        (Method::GET, "/tasks/", get(list_tasks)),
        (Method::GET, "/tasks/{task_id}/", get(get_task)),
        (Method::GET, "/tasks/{task_id}/story/", get(story)),
        (Method::POST, "/tasks/{task_id}/cancel/", post(cancel)),
        (
            Method::POST,
            "/tasks/{task_id}/priority/",
            post(set_priority),
        ),
        (Method::POST, "/tasks/{task_id}/retry/", post(retry)),
        (Method::POST, "/tasks/retry/", post(retry_many)),
        (Method::POST, "/tasks/bulk/", post(bulk)),
        (Method::POST, "/process-queue/", post(process_queue)),
        (Method::GET, "/task-types/", get(task_types)),
        (Method::GET, "/limits/", get(get_limits)),
        (Method::POST, "/limits/", post(set_limits)),
        (Method::POST, "/pause/", post(pause)),
        (Method::POST, "/resume/", post(resume)),
        (Method::POST, "/sources/{source}/cooldown/", post(cooldown)),
        (Method::GET, "/workers/", get(workers)),
        (Method::GET, "/doctor/", get(doctor)),
        (
            Method::POST,
            "/workers/{hostname}/forget/",
            post(forget_worker),
        ),
        (Method::GET, "/audit/", get(audit)),
        (Method::GET, "/webhooks/", get(webhooks)),
        (Method::GET, "/stats/", get(stats)),
    ]
}

/// The API's endpoints as `(method, path under API_BASE)`, in the order of [`table`] (the
/// index and `openapi.json` are routed beside them).
pub fn endpoints() -> Vec<(Method, &'static str)> {
    table().into_iter().map(|(m, p, _)| (m, p)).collect()
}

/// The API's routes, nested under [`API_BASE`].
pub fn routes() -> Router<AppState> {
    let r = table()
        .into_iter()
        .fold(Router::new(), |r, (_, path, method)| both(r, path, method));
    let r = r
        .fallback(|| async {
            ApiError(AppError::NotFound {
                message: "No such API endpoint.".into(),
            })
        })
        .method_not_allowed_fallback(|| async {
            ApiError(AppError::MethodNotAllowed {
                message: "This endpoint does not accept that HTTP method.".into(),
            })
        });
    Router::new()
        .route(API_BASE, get(index))
        .route(&format!("{API_BASE}/"), get(index))
        .nest(API_BASE, r)
}

/// `GET <base>/`: what the API offers.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct ApiIndex {
    /// Every endpoint, as `METHOD path` relative to the API's base (`GET tasks/<task_id>/`).
    endpoints: Vec<String>,
    /// Where the OpenAPI document is.
    openapi: String,
}

/// `GET <base>/`: what the API offers.
#[utoipa::path(get, path = "/", tag = "api",
    responses((status = 200, description = "The API's endpoints.", body = ApiIndex)))]
async fn index() -> impl IntoResponse {
    let endpoints = endpoints()
        .into_iter()
        .map(|(m, p)| {
            let p = p
                .trim_start_matches('/')
                .replace('{', "<")
                .replace('}', ">");
            format!("{m} {p}")
        })
        .collect();
    Json(ApiIndex {
        endpoints,
        openapi: format!("{API_BASE}/openapi.json"),
    })
}

/// The whole pool: its limit, counts, state, running and queued tasks, and every source.
#[utoipa::path(get, path = "/status/", tag = "pool",
    responses((status = 200, description = "The pool.", body = PoolStatus)))]
async fn status(State(s): State<AppState>) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.backend.status().await?))
}

/// Accepts a task into the queue.
#[utoipa::path(post, path = "/submit/", tag = "tasks", request_body = SubmitRequest,
    responses(
        (status = 201, description = "The task, queued (or already running when a slot was free).", body = WorkerTask),
        (status = 200, description = "An existing task returned instead of adding one (`deduplicated` is true): `dedupe` found it, or its `task_id` was submitted before.", body = WorkerTask),
        (status = 409, description = "The `task_id` already names a different task (another source, type, tenant or parameters).", body = ErrorBody),
    ))]
async fn submit(
    State(s): State<AppState>,
    JsonBody(body): JsonBody,
) -> ApiResult<impl IntoResponse> {
    let req = SubmitRequest::from_json(&body).map_err(AppError::invalid)?;
    let task = s.backend.submit(req).await?;
    // An existing task returned by deduplication: nothing was created.
    let code = if task.deduplicated {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((code, Json(task)))
}

/// The limit and its bounds.
#[utoipa::path(get, path = "/config/", tag = "pool",
    responses((status = 200, description = "The configuration.", body = PoolConfig)))]
async fn get_config(State(s): State<AppState>) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.backend.config().await?))
}

/// Changes the global limit (1 to 64); takes effect at once, running tasks are never stopped.
#[utoipa::path(post, path = "/config/", tag = "pool", request_body = ConfigUpdate,
    responses((status = 200, description = "The new configuration.", body = PoolConfig)))]
async fn set_config(
    State(s): State<AppState>,
    JsonBody(body): JsonBody,
) -> ApiResult<impl IntoResponse> {
    let update = ConfigUpdate::from_json(&body).map_err(AppError::invalid)?;
    Ok(Json(s.backend.set_config(update).await?))
}

/// A query string's pairs, percent-decoded (what every endpoint with a query reads).
fn query_pairs(raw: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(raw.unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

/// The answer to a query parameter an endpoint does not take.
fn unknown_parameter(key: &str, takes: &str) -> ApiError {
    let shown: String = key.chars().take(40).collect();
    AppError::bad_request(format!("unknown query parameter {shown:?}; {takes}")).into()
}

/// Reads `GET tasks/`'s query string; anything unknown is refused.
fn parse_query(raw: Option<&str>) -> Result<TaskQuery, AppError> {
    let pairs = query_pairs(raw);
    TaskQuery::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .map_err(AppError::bad_request)
}

/// The audit trail, newest first: every change made by a person or a script. `audit/`'s query
/// is `limit`, `since` and `before` (entry ids; the backend checks them).
#[utoipa::path(get, path = "/audit/", tag = "operations",
    params(
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "At most this many entries (default 100)."),
        ("since" = Option<String>, Query, description = "Only entries newer than this entry id."),
        ("before" = Option<String>, Query, description = "Only entries older than this entry id (the previous page's `next_before`)."),
    ),
    responses((status = 200, description = "The entries.", body = AuditList)))]
async fn audit(State(s): State<AppState>, RawQuery(raw): RawQuery) -> ApiResult<impl IntoResponse> {
    let (mut limit, mut since, mut before) = (None, None, None);
    for (key, value) in query_pairs(raw.as_deref()) {
        match key.as_str() {
            "limit" => {
                let n: u32 = value.parse().map_err(|_| {
                    AppError::bad_request(format!(
                        "limit must be a whole number from 1 to {}",
                        app::types::MAX_AUDIT_LIMIT
                    ))
                })?;
                limit = Some(n);
            }
            "since" => since = Some(value),
            "before" => before = Some(value),
            other => {
                return Err(unknown_parameter(
                    other,
                    "audit/ takes limit, since and before",
                ))
            }
        }
    }
    Ok(Json(s.backend.audit(limit, since, before).await?))
}

/// Lists tasks: running, then queued in dispatch order, then finished, newest first. With any
/// filter beyond `status` (or a `cursor`), a search, a page at a time: follow `next`.
#[utoipa::path(get, path = "/tasks/", tag = "tasks",
    params(
        ("status" = Option<TaskStatus>, Query, description = "Only tasks with this status."),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "At most this many (default 100)."),
        ("crm_source" = Option<String>, Query, description = "Only this source's tasks."),
        ("sync_type" = Option<String>, Query, description = "Only this sync type's tasks."),
        ("tenant" = Option<String>, Query, description = "Only this tenant's tasks."),
        ("q" = Option<String>, Query, description = "Only tasks whose id or error contains this text (case-insensitive, at most 200 characters)."),
        ("since" = Option<String>, Query, format = DateTime, description = "Only tasks submitted at or after this time (RFC 3339)."),
        ("until" = Option<String>, Query, format = DateTime, description = "Only tasks submitted before this time (RFC 3339)."),
        ("cursor" = Option<String>, Query, description = "The previous page's `next`: a search goes on from there."),
    ),
    responses((status = 200, description = "The tasks.", body = TaskList)))]
async fn list_tasks(
    State(s): State<AppState>,
    RawQuery(raw): RawQuery,
) -> ApiResult<impl IntoResponse> {
    let query = parse_query(raw.as_deref())?;
    Ok(Json(s.backend.tasks(query).await?))
}

/// One task.
#[utoipa::path(get, path = "/tasks/{task_id}/", tag = "tasks", params(("task_id" = String, Path, description = "The task's id.")),
    responses(
        (status = 200, description = "The task.", body = TaskView),
        (status = 404, description = "No such task (finished tasks are kept for the retention period).", body = ErrorBody),
    ))]
async fn get_task(
    State(s): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.backend.task(task_id(path)?).await?))
}

/// A task's story: the task, its steps (submitted, dispatched, started on which worker,
/// re-sent, ended), and the audit entries about it.
#[utoipa::path(get, path = "/tasks/{task_id}/story/", tag = "tasks", params(("task_id" = String, Path, description = "The task's id.")),
    responses(
        (status = 200, description = "The task and its story.", body = TaskStory),
        (status = 404, description = "No such task.", body = ErrorBody),
    ))]
async fn story(
    State(s): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.backend.story(task_id(path)?).await?))
}

/// Cancels a queued task, or revokes a running one (its slot is freed once the worker confirms).
#[utoipa::path(post, path = "/tasks/{task_id}/cancel/", tag = "tasks", params(("task_id" = String, Path, description = "The task's id.")),
    responses(
        (status = 200, description = "The task, cancelled.", body = WorkerTask),
        (status = 404, description = "No such task.", body = ErrorBody),
        (status = 409, description = "The task already finished.", body = ErrorBody),
    ))]
async fn cancel(
    State(s): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.backend.cancel(task_id(path)?).await?))
}

/// Changes a queued task's priority.
#[utoipa::path(post, path = "/tasks/{task_id}/priority/", tag = "tasks", params(("task_id" = String, Path, description = "The task's id.")),
    request_body = PriorityUpdate,
    responses(
        (status = 200, description = "The task, with its new priority and place.", body = WorkerTask),
        (status = 404, description = "No such task.", body = ErrorBody),
        (status = 409, description = "The task is no longer queued.", body = ErrorBody),
    ))]
async fn set_priority(
    State(s): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    JsonBody(body): JsonBody,
) -> ApiResult<impl IntoResponse> {
    let id = task_id(path)?;
    let update = PriorityUpdate::from_json(&body).map_err(AppError::invalid)?;
    Ok(Json(s.backend.set_priority(id, update.priority).await?))
}

/// Submits a failed or cancelled task again, as a new task linked to it.
#[utoipa::path(post, path = "/tasks/{task_id}/retry/", tag = "tasks", params(("task_id" = String, Path, description = "The task's id.")),
    responses(
        (status = 201, description = "The new task.", body = WorkerTask),
        (status = 404, description = "No such task.", body = ErrorBody),
        (status = 409, description = "The task did not fail or was not cancelled, or was retried already.", body = ErrorBody),
    ))]
async fn retry(
    State(s): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> ApiResult<impl IntoResponse> {
    let task = s.backend.retry(task_id(path)?).await?;
    Ok((StatusCode::CREATED, Json(task)))
}

/// Retries the failed (or cancelled) tasks a filter names, each once.
#[utoipa::path(post, path = "/tasks/retry/", tag = "tasks", request_body = RetryFilter,
    responses((status = 200, description = "What was retried, and what was not and why.", body = RetryReport)))]
async fn retry_many(
    State(s): State<AppState>,
    JsonBody(body): JsonBody,
) -> ApiResult<impl IntoResponse> {
    let filter = RetryFilter::from_json(&body).map_err(AppError::invalid)?;
    Ok(Json(s.backend.retry_many(filter).await?))
}

/// One action on every task a filter names: cancel queued tasks, give them a priority, or
/// retry failed ones; at most `limit`, one audit entry. With `dry_run`, changes nothing and
/// says which tasks it would touch (the dashboard's confirmation counts them so).
#[utoipa::path(post, path = "/tasks/bulk/", tag = "tasks", request_body = BulkRequest,
    responses((status = 200, description = "What was done, or would be.", body = BulkReport)))]
async fn bulk(State(s): State<AppState>, JsonBody(body): JsonBody) -> ApiResult<impl IntoResponse> {
    let req = BulkRequest::from_json(&body).map_err(AppError::invalid)?;
    Ok(Json(s.backend.bulk(req).await?))
}

/// Runs one reconciliation and dispatch pass now.
#[utoipa::path(post, path = "/process-queue/", tag = "pool",
    responses((status = 200, description = "What the pass did.", body = ProcessReport)))]
async fn process_queue(State(s): State<AppState>) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.backend.process_queue().await?))
}

/// The global limit and every source's rules.
#[utoipa::path(get, path = "/limits/", tag = "flow control",
    responses((status = 200, description = "The limits.", body = Limits)))]
async fn get_limits(State(s): State<AppState>) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.backend.limits().await?))
}

/// Changes any part of the limits; sources not named are left as they are, `null` removes a rule.
#[utoipa::path(post, path = "/limits/", tag = "flow control", request_body = LimitsUpdate,
    responses((status = 200, description = "The new limits.", body = Limits)))]
async fn set_limits(
    State(s): State<AppState>,
    JsonBody(body): JsonBody,
) -> ApiResult<impl IntoResponse> {
    let update = LimitsUpdate::from_json(&body).map_err(AppError::invalid)?;
    Ok(Json(s.backend.set_limits(update).await?))
}

/// Pauses the pool, or one source: nothing (of it) starts; running tasks go on.
#[utoipa::path(post, path = "/pause/", tag = "flow control", request_body = PauseTarget,
    responses(
        (status = 200, description = "The pool.", body = PoolStatus),
        (status = 404, description = "No task type has this source.", body = ErrorBody),
    ))]
async fn pause(
    State(s): State<AppState>,
    JsonBody(body): JsonBody,
) -> ApiResult<impl IntoResponse> {
    let target = PauseTarget::from_json(&body).map_err(AppError::invalid)?;
    Ok(Json(s.backend.pause(target.source, true).await?))
}

/// Resumes the pool, or one source.
#[utoipa::path(post, path = "/resume/", tag = "flow control", request_body = PauseTarget,
    responses(
        (status = 200, description = "The pool.", body = PoolStatus),
        (status = 404, description = "No task type has this source.", body = ErrorBody),
    ))]
async fn resume(
    State(s): State<AppState>,
    JsonBody(body): JsonBody,
) -> ApiResult<impl IntoResponse> {
    let target = PauseTarget::from_json(&body).map_err(AppError::invalid)?;
    Ok(Json(s.backend.pause(target.source, false).await?))
}

/// Cools a source down: none of its tasks starts for `seconds` (0 ends a cool-down).
#[utoipa::path(post, path = "/sources/{source}/cooldown/", tag = "flow control",
    params(("source" = String, Path, description = "The CRM source (`hubspot`).")),
    request_body = CooldownRequest,
    responses(
        (status = 200, description = "The pool.", body = PoolStatus),
        (status = 404, description = "No task type has this source.", body = ErrorBody),
    ))]
async fn cooldown(
    State(s): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    JsonBody(body): JsonBody,
) -> ApiResult<impl IntoResponse> {
    let Path(source) =
        path.map_err(|_| AppError::bad_request("The source in the URL cannot be read."))?;
    let req = CooldownRequest::from_json(&body).map_err(AppError::invalid)?;
    Ok(Json(s.backend.cooldown(source, req.seconds).await?))
}

/// The pool's history: running against the limit, queue depth, starts and ends by outcome,
/// and wait percentiles, minute by minute for the last hour (by 5 minutes for 6 h, by 15 for
/// 24 h), pool-wide.
#[utoipa::path(get, path = "/stats/", tag = "operations",
    params(("window" = Option<StatsWindow>, Query, description = "`1h` (the default), `6h` or `24h`.")),
    responses((status = 200, description = "The points, oldest first.", body = PoolStats)))]
async fn stats(State(s): State<AppState>, RawQuery(raw): RawQuery) -> ApiResult<impl IntoResponse> {
    let mut window = StatsWindow::default();
    for (key, value) in query_pairs(raw.as_deref()) {
        match key.as_str() {
            "window" => window = value.parse().map_err(AppError::bad_request)?,
            other => return Err(unknown_parameter(other, "stats/ takes window")),
        }
    }
    Ok(Json(s.backend.stats(window).await?))
}

/// The webhook URLs and the recent events with their delivery state.
#[utoipa::path(get, path = "/webhooks/", tag = "operations",
    responses((status = 200, description = "The webhook outbox.", body = WebhookList)))]
async fn webhooks(State(s): State<AppState>) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.backend.webhooks().await?))
}

/// Every Celery worker the pool has heard from.
#[utoipa::path(get, path = "/workers/", tag = "operations",
    responses((status = 200, description = "The worker roster.", body = WorkerList)))]
async fn workers(State(s): State<AppState>) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.backend.workers().await?))
}

/// Checks what the pool's guarantees rely on and says what to fix: each Redis (answers, no
/// eviction, persistence), the Celery workers on the pool's queue (remote control, settings,
/// registered task types, heartbeats) and tasks run from the queue outside the pool. Takes
/// about a second (the workers' answers are awaited). 200 whatever it finds: `ok` is false
/// when a check found a problem.
#[utoipa::path(get, path = "/doctor/", tag = "operations",
    responses((status = 200, description = "The findings, problems first.", body = DoctorReport)))]
async fn doctor(State(s): State<AppState>) -> impl IntoResponse {
    Json(s.backend.doctor().await)
}

/// Forgets a worker that will not come back: its tasks' slots are released, the tasks end failed.
#[utoipa::path(post, path = "/workers/{hostname}/forget/", tag = "operations",
    params(("hostname" = String, Path, description = "The worker's Celery hostname (`celery@host`).")),
    responses(
        (status = 200, description = "The released tasks.", body = ForgetReport),
        (status = 404, description = "The pool has never heard of this worker.", body = ErrorBody),
        (status = 409, description = "The worker is online: it cannot be forgotten.", body = ErrorBody),
    ))]
async fn forget_worker(
    State(s): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> ApiResult<impl IntoResponse> {
    let Path(hostname) = path
        .map_err(|_| AppError::bad_request("The worker's hostname in the URL cannot be read."))?;
    if hostname.is_empty() || hostname.len() > 255 || hostname.chars().any(char::is_control) {
        return Err(AppError::bad_request(
            "A worker's hostname has 1 to 255 characters, none of them control characters.",
        )
        .into());
    }
    Ok(Json(s.backend.forget_worker(hostname).await?))
}

/// The task types the pool accepts.
#[utoipa::path(get, path = "/task-types/", tag = "pool",
    responses((status = 200, description = "The task types.", body = TaskTypeList)))]
async fn task_types(State(s): State<AppState>) -> impl IntoResponse {
    Json(TaskTypeList {
        task_types: s.backend.task_types().await,
    })
}

/// The OpenAPI description of the endpoints above, with paths relative to [`API_BASE`]
/// (`super::openapi` puts them under it and adds what every operation shares).
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        stats,
        story,
        bulk,
        index,
        status,
        submit,
        get_config,
        set_config,
        list_tasks,
        get_task,
        cancel,
        set_priority,
        retry,
        retry_many,
        process_queue,
        task_types,
        get_limits,
        set_limits,
        pause,
        resume,
        cooldown,
        workers,
        doctor,
        forget_worker,
        audit,
        webhooks
    ),
    components(schemas(ErrorBody))
)]
pub(super) struct ApiDoc;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parsing() {
        assert_eq!(parse_query(None).unwrap(), TaskQuery::default());
        let q = parse_query(Some("status=failed&limit=5")).unwrap();
        assert_eq!(q.status, Some(TaskStatus::Failed));
        assert_eq!(q.limit, Some(5));
        for bad in ["status=done", "limit=0", "limit=1001", "limit=x", "foo=1"] {
            assert_eq!(
                parse_query(Some(bad)).unwrap_err().status_code(),
                400,
                "{bad}"
            );
        }
    }
}
