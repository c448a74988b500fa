//! Who may change the pool (the guard in front of every route), and the headers every
//! response carries.
//!
//! - **Cross-origin writes** are refused: a mutating request whose `Origin` is not the
//!   server's own (or one of `WORKER_POOL_ALLOWED_ORIGINS`), or that a browser marks
//!   `Sec-Fetch-Site: cross-site`/`same-site`, gets 403. The JSON API also only reads bodies
//!   sent as `application/json`, which a cross-site form cannot send.
//! - **Authentication**, when `WORKER_POOL_API_TOKEN` or `WORKER_POOL_API_TOKENS` is set: a
//!   mutating request needs `Authorization: Bearer <token>` (automation) or the session cookie
//!   the dashboard gets by signing in with a token (browsers). Every write runs with its actor
//!   (`auth::ACTOR`), which the audit trail records. Reads stay open. Without a token the server listens
//!   on loopback by default, and says in its log when it does not.
//! - **Headers**: nosniff, no framing, no referrer, a restrictive permissions policy, and a
//!   content security policy (the dashboard's carries a per-request nonce, see `app`).

use super::error::ApiError;
use super::state::AppState;
use crate::auth::{session_of, Actor, ACTOR};
use app::errors::AppError;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

fn refuse(e: AppError) -> Response {
    ApiError(e).into_response()
}

/// True when the request's `Origin` (if any) is the server's own or an allowed one, and a
/// browser does not mark it as coming from another site.
fn same_origin(headers: &HeaderMap, allowed: &[String]) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        if !matches!(site, "same-origin" | "none") {
            return false;
        }
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        // Not a browser's cross-origin request (curl, the CLI, server-to-server).
        return true;
    };
    if allowed.iter().any(|a| a == origin) {
        return true;
    }
    let hosts = [headers.get(header::HOST), headers.get("x-forwarded-host")];
    hosts
        .into_iter()
        .flatten()
        .filter_map(|h| h.to_str().ok())
        .any(|host| origin == format!("http://{host}") || origin == format!("https://{host}"))
}

fn is_mutating(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The paths that sign in and out: open to anyone of the same origin (signing in is how a
/// browser gets its session).
fn is_session_path(path: &str) -> bool {
    path.starts_with("/api/sign_in") || path.starts_with("/api/sign_out")
}

/// The client's address, as the connection gave it (`unknown` when it did not: a test that
/// drives the router directly).
fn address_of(req: &Request) -> String {
    req.extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// Serves `req` as `who` did it: the audit trail reads the actor back (`auth::ACTOR`).
async fn run_as(who: String, req: Request, next: Next) -> Response {
    let actor = Actor {
        who,
        address: address_of(&req),
    };
    ACTOR.scope(actor, next.run(req)).await
}

/// Refuses cross-origin writes, and unauthenticated writes when a token is set; serves every
/// other write as its actor: the token's name, the dashboard session (and the token it signed
/// in with), or `anonymous` when the server has no token.
pub async fn guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if !is_mutating(req.method()) {
        return next.run(req).await;
    }
    let sec = state.backend.security();
    if !same_origin(req.headers(), &sec.allowed_origins) {
        return refuse(AppError::Forbidden {
            message: "Cross-origin requests may not change the pool.".into(),
        });
    }
    if !sec.auth_required() {
        return run_as("anonymous".into(), req, next).await;
    }
    if is_session_path(req.uri().path()) {
        return run_as("sign-in".into(), req, next).await;
    }
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    if let Some(given) = bearer {
        if let Some(name) = sec.token_name(given) {
            return run_as(name.to_string(), req, next).await;
        }
        return refuse(AppError::Unauthorized {
            message: "The bearer token is not valid.".into(),
        });
    }
    if let Some(id) = session_of(req.headers()) {
        match state.backend.session_token_name(id).await {
            Ok(Some(name)) => {
                let who = format!("session {} ({name})", &id[..id.len().min(8)]);
                return run_as(who, req, next).await;
            }
            Ok(None) => {}
            Err(e) => return refuse(e),
        }
    }
    refuse(AppError::Unauthorized {
        message: "Changing the pool needs authentication: send Authorization: Bearer <token>, or sign in on the dashboard.".into(),
    })
}

/// Headers for every response. HTML pages get their own content security policy (with the
/// per-request nonce) from the app; everything else gets one that allows nothing.
pub async fn headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        "permissions-policy",
        HeaderValue::from_static("camera=(), microphone=(), geolocation=(), payment=(), usb=()"),
    );
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
        );
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn origins() {
        let own = [("host", "pool.example:3000")];
        assert!(
            same_origin(&headers(&own), &[]),
            "no Origin: not a browser cross-origin request"
        );
        assert!(same_origin(
            &headers(&[own[0], ("origin", "http://pool.example:3000")]),
            &[]
        ));
        assert!(same_origin(
            &headers(&[own[0], ("origin", "https://pool.example:3000")]),
            &[]
        ));
        assert!(!same_origin(
            &headers(&[own[0], ("origin", "http://evil.example")]),
            &[]
        ));
        assert!(same_origin(
            &headers(&[own[0], ("origin", "https://ops.example")]),
            &["https://ops.example".to_string()]
        ));
        assert!(!same_origin(
            &headers(&[own[0], ("sec-fetch-site", "cross-site")]),
            &[]
        ));
        assert!(!same_origin(
            &headers(&[own[0], ("sec-fetch-site", "same-site")]),
            &[]
        ));
        assert!(same_origin(
            &headers(&[own[0], ("sec-fetch-site", "same-origin")]),
            &[]
        ));
    }
}
