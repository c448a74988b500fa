//! The one place an [`AppError`] becomes an HTTP response: its status, its JSON body
//! (`{"error", "kind", "fields"?}`, the same as the server functions'), and for a 401 the
//! `WWW-Authenticate` challenge. Every error the HTTP edge answers goes through here: the API's
//! handlers, the guard, the timeout, a panic, an unknown path or method.

use app::errors::AppError;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

/// An [`AppError`] as an HTTP response.
#[derive(Debug)]
pub struct ApiError(pub AppError);

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        ApiError(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.status_code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut res = (status, Json(&self.0)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"worker-pool\""),
            );
        }
        res
    }
}
