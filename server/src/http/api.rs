//! The seed's JSON API, under [`API_BASE`] (`/ingestion/crm-dashboard/api/worker-pool/`).
//!
//! Each handler reads and checks its input, calls one `PoolBackend` method and writes JSON;
//! no handler holds pool logic. Every failure is an [`ApiError`], never a Redis error, a panic
//! or a stack trace.

use super::error::ApiError;
use super::state::AppState;
use app::backend::PoolBackend;
use app::errors::AppError;
use app::types::{
    cooldown_from_json, pause_target_from_json, ConfigUpdate, LimitsUpdate, PriorityUpdate,
    RetryFilter, SubmitRequest, TaskQuery, TaskStatus, API_BASE, MAX_LIST_LIMIT,
};
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequest, Path, RawQuery, Request, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post, MethodRouter};
use axum::{Json, Router};
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

/// The API's routes, nested under [`API_BASE`].
pub fn routes() -> Router<AppState> {
    let mut r = Router::new();
    r = both(r, "/status/", get(status));
    r = both(r, "/submit/", post(submit));
    r = both(r, "/config/", get(get_config).post(set_config));
    r = both(r, "/tasks/", get(list_tasks));
    r = both(r, "/tasks/{task_id}/", get(get_task));
    r = both(r, "/tasks/{task_id}/cancel/", post(cancel));
    r = both(r, "/tasks/{task_id}/priority/", post(set_priority));
    r = both(r, "/tasks/{task_id}/retry/", post(retry));
    r = both(r, "/tasks/retry/", post(retry_many));
    r = both(r, "/process-queue/", post(process_queue));
    r = both(r, "/task-types/", get(task_types));
    r = both(r, "/limits/", get(get_limits).post(set_limits));
    r = both(r, "/pause/", post(pause));
    r = both(r, "/resume/", post(resume));
    r = both(r, "/sources/{source}/cooldown/", post(cooldown));
    r = both(r, "/workers/", get(workers));
    r = both(r, "/audit/", get(audit));
    r = both(r, "/webhooks/", get(webhooks));
    r = both(r, "/workers/{hostname}/forget/", post(forget_worker));
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
async fn index() -> impl IntoResponse {
    Json(serde_json::json!({
        "endpoints": [
            "GET status/", "POST submit/", "GET config/", "POST config/", "GET tasks/",
            "GET tasks/<task_id>/", "POST tasks/<task_id>/cancel/",
            "POST tasks/<task_id>/priority/", "POST tasks/<task_id>/retry/",
            "POST tasks/retry/", "POST process-queue/", "GET task-types/",
            "GET limits/", "POST limits/", "POST pause/", "POST resume/",
            "POST sources/<source>/cooldown/", "GET workers/",
            "POST workers/<hostname>/forget/", "GET audit/", "GET webhooks/",
        ]
    }))
}

async fn status(State(s): State<AppState>) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.backend.status().await?))
}

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

async fn get_config(State(s): State<AppState>) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.backend.config().await?))
}

async fn set_config(
    State(s): State<AppState>,
    JsonBody(body): JsonBody,
) -> ApiResult<impl IntoResponse> {
    let update = ConfigUpdate::from_json(&body).map_err(AppError::invalid)?;
    Ok(Json(s.backend.set_config(update).await?))
}

/// Reads `status` and `limit` from the query string; anything else is refused.
fn parse_query(raw: Option<&str>) -> Result<TaskQuery, AppError> {
    let mut query = TaskQuery::default();
    for pair in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "status" if value.is_empty() => {}
            "status" => {
                let st: TaskStatus = value.parse().map_err(AppError::bad_request)?;
                query.status = Some(st);
            }
            "limit" => {
                let n: u32 = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_LIST_LIMIT).contains(n))
                    .ok_or_else(|| {
                        AppError::bad_request(format!(
                            "limit must be a whole number from 1 to {MAX_LIST_LIMIT}"
                        ))
                    })?;
                query.limit = Some(n);
            }
            other => {
                let shown: String = other.chars().take(40).collect();
                return Err(AppError::bad_request(format!(
                    "unknown query parameter {shown:?}; tasks/ takes status and limit"
                )));
            }
        }
    }
    Ok(query)
}

/// `audit/`'s query: `limit`, `since` and `before` (entry ids; the backend checks them).
async fn audit(State(s): State<AppState>, RawQuery(raw): RawQuery) -> ApiResult<impl IntoResponse> {
    let (mut limit, mut since, mut before) = (None, None, None);
    for pair in raw
        .as_deref()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "limit" => {
                let n: u32 = value.parse().map_err(|_| {
                    AppError::bad_request(format!(
                        "limit must be a whole number from 1 to {}",
                        app::types::MAX_AUDIT_LIMIT
                    ))
                })?;
                limit = Some(n);
            }
            "since" => since = Some(value.to_string()),
            "before" => before = Some(value.to_string()),
            other => {
                let shown: String = other.chars().take(40).collect();
                return Err(AppError::bad_request(format!(
                    "unknown query parameter {shown:?}; audit/ takes limit, since and before"
                ))
                .into());
            }
        }
    }
    Ok(Json(s.backend.audit(limit, since, before).await?))
}

async fn list_tasks(
    State(s): State<AppState>,
    RawQuery(raw): RawQuery,
) -> ApiResult<impl IntoResponse> {
    let query = parse_query(raw.as_deref())?;
    Ok(Json(s.backend.tasks(query).await?))
}

async fn get_task(
    State(s): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.backend.task(task_id(path)?).await?))
}

async fn cancel(
    State(s): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.backend.cancel(task_id(path)?).await?))
}

async fn set_priority(
    State(s): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    JsonBody(body): JsonBody,
) -> ApiResult<impl IntoResponse> {
    let id = task_id(path)?;
    let update = PriorityUpdate::from_json(&body).map_err(AppError::invalid)?;
    Ok(Json(s.backend.set_priority(id, update.priority).await?))
}

async fn retry(
    State(s): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> ApiResult<impl IntoResponse> {
    let task = s.backend.retry(task_id(path)?).await?;
    Ok((StatusCode::CREATED, Json(task)))
}

async fn retry_many(
    State(s): State<AppState>,
    JsonBody(body): JsonBody,
) -> ApiResult<impl IntoResponse> {
    let filter = RetryFilter::from_json(&body).map_err(AppError::invalid)?;
    Ok(Json(s.backend.retry_many(filter).await?))
}

async fn process_queue(State(s): State<AppState>) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.backend.process_queue().await?))
}

async fn get_limits(State(s): State<AppState>) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.backend.limits().await?))
}

async fn set_limits(
    State(s): State<AppState>,
    JsonBody(body): JsonBody,
) -> ApiResult<impl IntoResponse> {
    let update = LimitsUpdate::from_json(&body).map_err(AppError::invalid)?;
    Ok(Json(s.backend.set_limits(update).await?))
}

async fn pause(
    State(s): State<AppState>,
    JsonBody(body): JsonBody,
) -> ApiResult<impl IntoResponse> {
    let source = pause_target_from_json(&body).map_err(AppError::invalid)?;
    Ok(Json(s.backend.pause(source, true).await?))
}

async fn resume(
    State(s): State<AppState>,
    JsonBody(body): JsonBody,
) -> ApiResult<impl IntoResponse> {
    let source = pause_target_from_json(&body).map_err(AppError::invalid)?;
    Ok(Json(s.backend.pause(source, false).await?))
}

async fn cooldown(
    State(s): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    JsonBody(body): JsonBody,
) -> ApiResult<impl IntoResponse> {
    let Path(source) =
        path.map_err(|_| AppError::bad_request("The source in the URL cannot be read."))?;
    let seconds = cooldown_from_json(&body).map_err(AppError::invalid)?;
    Ok(Json(s.backend.cooldown(source, seconds).await?))
}

async fn webhooks(State(s): State<AppState>) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.backend.webhooks().await?))
}

async fn workers(State(s): State<AppState>) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.backend.workers().await?))
}

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

async fn task_types(State(s): State<AppState>) -> impl IntoResponse {
    Json(serde_json::json!({ "task_types": s.backend.task_types().await }))
}

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
