//! The HTTP surface: health probes, the dashboard (server-rendered, with its server functions)
//! and the compiled site's static files.

use crate::backend::ServerBackend;
use app::{shell, App};
use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures::Stream;
use leptos::config::LeptosOptions;
use leptos::prelude::provide_context;
use leptos_axum::{generate_route_list, LeptosRoutes};
use serde_json::json;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tower_http::trace::TraceLayer;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// Leptos' own settings (site root, output name).
    pub leptos: LeptosOptions,
    /// The pool.
    pub backend: Arc<ServerBackend>,
    /// Turns true when the server starts shutting down, so long-lived responses (the live
    /// channel) end and the graceful shutdown can finish.
    pub closing: Arc<watch::Sender<bool>>,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos.clone()
    }
}

/// The largest request body accepted (a submit is a few hundred bytes).
pub const BODY_LIMIT: usize = 64 * 1024;
/// The longest a request may take before it is answered 503 (the live channel excepted).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The whole application as one router, so tests can drive it with `oneshot`.
pub fn router(state: AppState) -> Router {
    let routes = generate_route_list(App);
    let backend = app::backend::Backend(state.backend.clone());
    let options = state.leptos.clone();
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/api/events", get(events))
        .merge(crate::api::routes())
        .leptos_routes_with_context(
            &state,
            routes,
            move || provide_context(backend.clone()),
            move || shell(options.clone()),
        )
        .fallback_service(
            tower_http::services::ServeDir::new(&*state.leptos.site_root)
                .precompressed_gzip()
                .not_found_service(get(not_found).with_state(())),
        )
        .layer(axum::middleware::from_fn(server_fn_status))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::security::guard,
        ))
        .layer(axum::middleware::from_fn(timeout))
        .layer(axum::extract::DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::from_fn(crate::security::headers))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            panic_response,
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Server functions answer every error with 500; their body is an `AppError`, which knows its
/// real status (400 for unreadable arguments, 422 for invalid values, 404, 409, 503…). This
/// puts that status on the response, so the server functions are an honest JSON API too.
async fn server_fn_status(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let is_server_fn =
        req.uri().path().starts_with("/api/") && req.method() == axum::http::Method::POST;
    let res = next.run(req).await;
    if !is_server_fn || res.status() != StatusCode::INTERNAL_SERVER_ERROR {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024).await else {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(app::errors::AppError::internal().to_json()),
        )
            .into_response();
    };
    if let Ok(e) = serde_json::from_slice::<app::errors::AppError>(&bytes) {
        parts.status =
            StatusCode::from_u16(e.status_code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    }
    Response::from_parts(parts, axum::body::Body::from(bytes))
}

/// Answers a request that takes too long with 503 instead of holding the client forever.
async fn timeout(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    if req.uri().path() == "/api/events" {
        return next.run(req).await;
    }
    match tokio::time::timeout(REQUEST_TIMEOUT, next.run(req)).await {
        Ok(res) => res,
        Err(_) => {
            tracing::warn!("a request took longer than {REQUEST_TIMEOUT:?}");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(app::errors::AppError::Unavailable {
                    message: "The server took too long to answer; nothing may have changed. Try again.".into(),
                }
                .to_json()),
            )
                .into_response()
        }
    }
}

/// A panic becomes a 500 with a sentence; the panic itself is logged, never sent.
fn panic_response(err: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let detail = err
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| err.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)");
    tracing::error!(panic = detail, "a request handler panicked");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        Json(app::errors::AppError::internal().to_json()),
    )
        .into_response()
}

/// What answers a path that is neither a route nor a static file.
async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::response::Html(
            "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Not found · Worker Pool</title>\
             <link rel=\"stylesheet\" href=\"/pkg/worker-pool.css\"></head><body><main class=\"page\">\
             <h1>Not found</h1><p><a href=\"/\">Back to the dashboard</a></p></main></body></html>",
        ),
    )
        .into_response()
}

/// Liveness: the process is up and serving.
async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

/// Readiness: Redis answers. 503 with a reason when it does not.
async fn readyz(State(state): State<AppState>) -> Response {
    match state.backend.scheduler().store().ping().await {
        Ok(latency) => Json(json!({
            "status": "ready",
            "redis_latency_ms": latency.as_secs_f64() * 1000.0,
        }))
        .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({
                    "status": "unavailable",
                    "reason": "The pool's store (Redis) does not answer.",
                })),
            )
                .into_response()
        }
    }
}

/// How long a burst of changes is gathered into one push.
const COALESCE: Duration = Duration::from_millis(40);

/// The dashboard's live channel: Server-Sent Events carrying a fresh `Dashboard` (event
/// `dashboard`) after every change any replica announces, or `unavailable` with a sentence
/// while the store cannot be read. Ends when the server shuts down.
async fn events(
    State(state): State<AppState>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let changes = state.backend.subscribe_changes();
    let closing = state.closing.subscribe();
    let stream = futures::stream::unfold(
        (state.backend.clone(), changes, closing, true),
        |(backend, mut changes, mut closing, first)| async move {
            if *closing.borrow() {
                return None;
            }
            if !first {
                tokio::select! {
                    r = changes.changed() => r.ok()?,
                    _ = closing.changed() => return None,
                }
                tokio::time::sleep(COALESCE).await;
            }
            changes.borrow_and_update();
            let event = match app::backend::PoolBackend::dashboard(&*backend).await {
                Ok(d) => Event::default()
                    .event("dashboard")
                    .json_data(&d)
                    .unwrap_or_else(|_| {
                        Event::default()
                            .event("unavailable")
                            .data("unreadable state")
                    }),
                Err(e) => Event::default().event("unavailable").data(e.message()),
            };
            Some((Ok(event), (backend, changes, closing, false)))
        },
    );
    Sse::new(stream).keep_alive(KeepAlive::default())
}
