//! The HTTP edge: one router with its layers, the seed's JSON API ([`api`]), the guard that
//! decides who may write and the headers every response carries ([`guard`]), the live channel
//! ([`live`]), health probes, the dashboard (server-rendered, with its server functions) and
//! the compiled site's static files. Its errors become responses in one place ([`error`]).

mod api;
mod error;
mod guard;
mod live;
pub mod openapi;
mod ops;
mod state;

pub use api::BODY_LIMIT;
pub use error::ApiError;
pub use state::AppState;

use app::errors::AppError;
use app::{shell, App};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use leptos::prelude::provide_context;
use leptos_axum::{generate_route_list, LeptosRoutes};
use std::time::Duration;
use tower_http::trace::TraceLayer;

/// The longest a request may take before it is answered 503 (the live channel excepted).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// What is wrong with the compiled site, if anything: the dashboard's WASM missing (the server
/// was built without `cargo leptos build`), or built without `--split` (its lazy chunks'
/// imports are then left unresolved, and the page never hydrates). The JSON API works either
/// way; the server says so at startup.
pub fn site_problem(leptos: &leptos::config::LeptosOptions) -> Option<String> {
    let pkg = std::path::Path::new(&*leptos.site_root).join(&*leptos.site_pkg_dir);
    let wasm = pkg.join(format!("{}.wasm", leptos.output_name));
    if !wasm.is_file() {
        return Some(format!(
            "{} is missing: the dashboard will not hydrate (build it with `cargo leptos build --split`)",
            wasm.display()
        ));
    }
    if !pkg.join("__wasm_split_manifest.json").is_file() {
        return Some(format!(
            "{} was built without --split: the dashboard will not hydrate (rebuild it with `cargo leptos build --split`)",
            wasm.display()
        ));
    }
    None
}

/// The whole application as one router, so tests can drive it with `oneshot`.
pub fn router(state: AppState) -> Router {
    let routes = generate_route_list(App);
    let backend = app::backend::Backend(state.backend.clone());
    let options = state.leptos.clone();
    // A task's page: the same app, which renders the task whose id the path names.
    let task_page = {
        let (backend, options) = (backend.clone(), options.clone());
        leptos_axum::render_app_to_stream_with_context(
            move || provide_context(backend.clone()),
            move || shell(options.clone()),
        )
    };
    ops::table()
        .into_iter()
        .fold(Router::new(), |r, (_, path, method)| r.route(path, method))
        .route(
            &format!("{}/openapi.json", app::types::API_BASE),
            get(openapi::serve),
        )
        .merge(api::routes())
        .route("/tasks/{id}", get(task_page))
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
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard::guard,
        ))
        .layer(axum::middleware::from_fn(timeout))
        .layer(axum::extract::DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::from_fn(too_large))
        .layer(axum::middleware::from_fn(guard::headers))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            panic_response,
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Every route the OpenAPI document describes, as `(method, path)`: the probes, the metrics,
/// the live channel and the JSON API (under its base). The dashboard's pages and its server
/// functions (`/api/<name>`, used only by the dashboard's own code) are not part of it.
pub fn documented_routes() -> Vec<(Method, String)> {
    let api = app::types::API_BASE;
    let mut all: Vec<(Method, String)> = ops::table()
        .into_iter()
        .map(|(m, p, _)| (m, p.to_string()))
        .collect();
    all.push((Method::GET, format!("{api}/")));
    all.push((Method::GET, format!("{api}/openapi.json")));
    all.extend(
        api::endpoints()
            .into_iter()
            .map(|(m, p)| (m, format!("{api}{p}"))),
    );
    all
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
            ApiError(AppError::Unavailable {
                message: "The server took too long to answer; nothing may have changed. Try again."
                    .into(),
            })
            .into_response()
        }
    }
}

/// The most of a too-large body that is read and dropped before its 413 is sent.
const DISCARD_MAX: u64 = 16 * 1024 * 1024;
/// And for how long at most.
const DISCARD_FOR: Duration = Duration::from_secs(10);

/// A body declared larger than [`BODY_LIMIT`] is answered 413 before any handler sees it. The
/// body is read and dropped first (up to [`DISCARD_MAX`], for [`DISCARD_FOR`] at most), as
/// nginx's lingering close does: a client that writes its whole body before it reads the
/// answer (Python's `http.client`, and so `urllib` and `requests`) would otherwise have its
/// connection closed under it mid-write and never see the 413. The connection is closed after.
async fn too_large(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    use futures::StreamExt;
    let declared = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let Some(len) = declared.filter(|&n| n > BODY_LIMIT as u64) else {
        return next.run(req).await;
    };
    if len <= DISCARD_MAX {
        let mut body = req.into_body().into_data_stream();
        let _ = tokio::time::timeout(DISCARD_FOR, async {
            while let Some(Ok(_)) = body.next().await {}
        })
        .await;
    }
    let mut res = ApiError(api::body_too_large()).into_response();
    res.headers_mut().insert(
        axum::http::header::CONNECTION,
        axum::http::HeaderValue::from_static("close"),
    );
    res
}

/// A panic becomes a 500 with a sentence; the panic itself is logged, never sent.
fn panic_response(err: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let detail = err
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| err.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)");
    tracing::error!(panic = detail, "a request handler panicked");
    ApiError(AppError::internal()).into_response()
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

#[cfg(test)]
mod tests {
    use super::site_problem;

    fn options(root: &std::path::Path) -> leptos::config::LeptosOptions {
        leptos::config::LeptosOptions::builder()
            .output_name("worker-pool")
            .site_root(root.to_string_lossy().to_string())
            .site_pkg_dir("pkg")
            .build()
    }

    #[test]
    fn a_site_without_its_wasm_or_its_split_manifest_is_named_as_the_problem() {
        let root = std::env::temp_dir().join(format!("wp-site-{}", std::process::id()));
        let pkg = root.join("pkg");
        std::fs::create_dir_all(&pkg).unwrap();
        let opts = options(&root);
        assert!(site_problem(&opts).unwrap().contains("is missing"));
        std::fs::write(pkg.join("worker-pool.wasm"), b"\0asm").unwrap();
        assert!(site_problem(&opts).unwrap().contains("without --split"));
        std::fs::write(pkg.join("__wasm_split_manifest.json"), b"{}").unwrap();
        assert_eq!(site_problem(&opts), None);
        std::fs::remove_dir_all(&root).unwrap();
    }
}
