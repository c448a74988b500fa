//! The routes beside the JSON API: the probes (`/healthz`, `/readyz`), the metrics page and
//! the dashboard's live channel, with their OpenAPI description.

use super::live;
use super::state::AppState;
use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, MethodRouter};
use axum::Json;
use serde::Serialize;

/// The routes, as `(method, path, handler)`.
pub(super) fn table() -> Vec<(Method, &'static str, MethodRouter<AppState>)> {
    vec![
        (Method::GET, "/healthz", get(healthz)),
        (Method::GET, "/readyz", get(readyz)),
        (Method::GET, "/metrics", get(metrics)),
        (Method::GET, "/api/events", get(live::events)),
    ]
}

/// `GET /healthz`'s answer.
#[derive(Serialize, utoipa::ToSchema)]
struct Health {
    /// Always `ok`.
    status: &'static str,
}

/// Liveness: the process is up and serving.
#[utoipa::path(get, path = "/healthz", tag = "probes",
    responses((status = 200, description = "The process is up.", body = Health)))]
async fn healthz() -> impl IntoResponse {
    Json(Health { status: "ok" })
}

/// The pool's metrics, pool-wide, in the Prometheus text format (see [`crate::metrics`]).
#[utoipa::path(get, path = "/metrics", tag = "probes",
    responses((status = 200, description = "The pool's metrics, pool-wide (any replica answers for all), in the Prometheus text format 0.0.4.",
        content_type = "text/plain; version=0.0.4", body = String)))]
async fn metrics(State(state): State<AppState>) -> Response {
    let scheduler = state.backend.scheduler();
    let settings = scheduler.settings();
    let body = crate::metrics::render(
        scheduler.store().as_ref(),
        &settings.registry.sources(),
        settings.reap.heartbeat_timeout,
    )
    .await;
    (
        [(
            axum::http::header::CONTENT_TYPE,
            crate::metrics::CONTENT_TYPE,
        )],
        body,
    )
        .into_response()
}

/// `GET /readyz`'s answer.
#[derive(Serialize, utoipa::ToSchema)]
struct Readiness {
    /// `ready`, or `unavailable`.
    status: &'static str,
    /// How long Redis took to answer a PING, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    redis_latency_ms: Option<f64>,
    /// Why the server is not ready, when it is not.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
}

/// Readiness: Redis answers. 503 with a reason when it does not.
#[utoipa::path(get, path = "/readyz", tag = "probes",
    responses(
        (status = 200, description = "The store answers.", body = Readiness),
        (status = 503, description = "The store does not answer.", body = Readiness),
    ))]
async fn readyz(State(state): State<AppState>) -> Response {
    match state.backend.scheduler().store().ping().await {
        Ok(latency) => Json(Readiness {
            status: "ready",
            redis_latency_ms: Some(latency.as_secs_f64() * 1000.0),
            reason: None,
        })
        .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(Readiness {
                    status: "unavailable",
                    redis_latency_ms: None,
                    reason: Some("The pool's store (Redis) does not answer."),
                }),
            )
                .into_response()
        }
    }
}

/// The OpenAPI description of the routes beside the JSON API.
#[derive(utoipa::OpenApi)]
#[openapi(paths(healthz, readyz, metrics, live::events))]
pub(super) struct OpsDoc;
