//! The one error type that crosses the wire.
//!
//! Every view of the pool (the JSON API, the server functions behind the dashboard and the CLI)
//! reports failures as an [`AppError`]. Each variant names a cause and maps to one HTTP status;
//! its message is a sentence for people and never carries internals (Redis errors, panics,
//! stack traces): the server logs those once and sends [`AppError::Internal`] or
//! [`AppError::Unavailable`] instead.
//!
//! On the wire it has one shape everywhere, the JSON API and the server functions alike:
//! `{"error": "<sentence>", "kind": "<cause>", "fields": [...]}`, with `fields` only for
//! [`AppError::Invalid`], and the matching HTTP status.

use crate::types::FieldError;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a request to the pool did not succeed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AppError {
    /// The request could not be read at all (broken JSON, wrong content type): 400.
    #[error("{message}")]
    BadRequest { message: String },
    /// The request body is larger than the server accepts: 413.
    #[error("{message}")]
    TooLarge { message: String },
    /// The request was read but a value is not acceptable: 422, with the fields at fault.
    #[error("{message}")]
    Invalid {
        message: String,
        fields: Vec<FieldError>,
    },
    /// No such task (it may have expired after the retention period), or endpoint: 404.
    #[error("{message}")]
    NotFound { message: String },
    /// The endpoint exists but not for this HTTP method: 405.
    #[error("{message}")]
    MethodNotAllowed { message: String },
    /// The transition does not apply to the task's current state: 409.
    #[error("{message}")]
    Conflict { message: String },
    /// Authentication was required and missing or wrong: 401.
    #[error("{message}")]
    Unauthorized { message: String },
    /// The request may not change the pool (it came from another origin): 403.
    #[error("{message}")]
    Forbidden { message: String },
    /// The store or the broker cannot be reached, or the server took too long: 503.
    #[error("{message}")]
    Unavailable { message: String },
    /// Something failed inside the server; the details are in its log: 500.
    #[error("{message}")]
    Internal { message: String },
}

/// The wire shape of an [`AppError`]: every error the API answers has this body.
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ssr", schema(as = Error))]
pub struct ErrorBody {
    /// What went wrong, as a sentence for a person.
    pub error: String,
    /// The cause: `bad_request` (400), `unauthorized` (401), `forbidden` (403), `not_found`
    /// (404), `method_not_allowed` (405), `conflict` (409), `too_large` (413), `invalid`
    /// (422), `internal` (500) or `unavailable` (503).
    #[cfg_attr(feature = "ssr", schema(example = "invalid"))]
    pub kind: String,
    /// For `invalid` only: each field at fault, with its own sentence.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldError>,
}

impl Serialize for AppError {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        ErrorBody {
            error: self.message().to_string(),
            kind: self.kind().to_string(),
            fields: self.fields().to_vec(),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for AppError {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let w = ErrorBody::deserialize(d)?;
        let message = w.error;
        Ok(match w.kind.as_str() {
            "bad_request" => AppError::BadRequest { message },
            "too_large" => AppError::TooLarge { message },
            "invalid" => AppError::Invalid {
                message,
                fields: w.fields,
            },
            "not_found" => AppError::NotFound { message },
            "method_not_allowed" => AppError::MethodNotAllowed { message },
            "conflict" => AppError::Conflict { message },
            "unauthorized" => AppError::Unauthorized { message },
            "forbidden" => AppError::Forbidden { message },
            "unavailable" => AppError::Unavailable { message },
            // An unknown kind (a newer server) is still an error with its sentence.
            _ => AppError::Internal { message },
        })
    }
}

impl AppError {
    /// A 422 built from field errors; the message joins them.
    pub fn invalid(fields: Vec<FieldError>) -> Self {
        let message = fields
            .iter()
            .map(|f| f.message.clone())
            .collect::<Vec<_>>()
            .join("; ");
        AppError::Invalid { message, fields }
    }

    /// A 400 with a message.
    pub fn bad_request(message: impl Into<String>) -> Self {
        AppError::BadRequest {
            message: message.into(),
        }
    }

    /// A 404 for a task id.
    pub fn task_not_found(task_id: &str) -> Self {
        AppError::NotFound {
            message: format!(
                "No task with id {:?} (finished tasks are kept only for the retention period).",
                short(task_id)
            ),
        }
    }

    /// A 409 with a message.
    pub fn conflict(message: impl Into<String>) -> Self {
        AppError::Conflict {
            message: message.into(),
        }
    }

    /// The 503 every write answers while the store is unreachable.
    pub fn store_unavailable() -> Self {
        AppError::Unavailable {
            message: "The pool's store (Redis) cannot be reached right now; nothing was changed. Try again shortly.".into(),
        }
    }

    /// The 500 that stands for any internal fault.
    pub fn internal() -> Self {
        AppError::Internal {
            message: "The server hit an internal error; it has been logged.".into(),
        }
    }

    /// The HTTP status this error maps to.
    pub fn status_code(&self) -> u16 {
        match self {
            AppError::BadRequest { .. } => 400,
            AppError::TooLarge { .. } => 413,
            AppError::Invalid { .. } => 422,
            AppError::NotFound { .. } => 404,
            AppError::MethodNotAllowed { .. } => 405,
            AppError::Conflict { .. } => 409,
            AppError::Unauthorized { .. } => 401,
            AppError::Forbidden { .. } => 403,
            AppError::Unavailable { .. } => 503,
            AppError::Internal { .. } => 500,
        }
    }

    /// The cause, as the wire's `kind` names it.
    pub fn kind(&self) -> &'static str {
        match self {
            AppError::BadRequest { .. } => "bad_request",
            AppError::TooLarge { .. } => "too_large",
            AppError::Invalid { .. } => "invalid",
            AppError::NotFound { .. } => "not_found",
            AppError::MethodNotAllowed { .. } => "method_not_allowed",
            AppError::Conflict { .. } => "conflict",
            AppError::Unauthorized { .. } => "unauthorized",
            AppError::Forbidden { .. } => "forbidden",
            AppError::Unavailable { .. } => "unavailable",
            AppError::Internal { .. } => "internal",
        }
    }

    /// The field errors of a 422, empty otherwise.
    pub fn fields(&self) -> &[FieldError] {
        match self {
            AppError::Invalid { fields, .. } => fields,
            _ => &[],
        }
    }

    /// The sentence shown to people.
    pub fn message(&self) -> &str {
        match self {
            AppError::BadRequest { message }
            | AppError::TooLarge { message }
            | AppError::Invalid { message, .. }
            | AppError::NotFound { message }
            | AppError::MethodNotAllowed { message }
            | AppError::Conflict { message }
            | AppError::Unauthorized { message }
            | AppError::Forbidden { message }
            | AppError::Unavailable { message }
            | AppError::Internal { message } => message,
        }
    }
}

/// Ids come from untrusted input: keep echoes short.
fn short(s: &str) -> String {
    let mut out: String = s.chars().filter(|c| !c.is_control()).take(80).collect();
    if s.chars().count() > 80 {
        out.push('…');
    }
    out
}

impl leptos::server_fn::error::FromServerFnError for AppError {
    type Encoder = leptos::server_fn::codec::JsonEncoding;

    /// Encodes the error for a server function's response and, on the server, gives that
    /// response the error's own status (server functions would answer 500 for every error).
    fn ser(&self) -> leptos::server_fn::Bytes {
        #[cfg(feature = "ssr")]
        crate::backend::set_response_status(self.status_code());
        use leptos::server_fn::Encodes;
        Self::Encoder::encode(self).unwrap_or_else(|_| {
            leptos::server_fn::Bytes::from_static(
                br#"{"error":"The server hit an internal error; it has been logged.","kind":"internal"}"#,
            )
        })
    }

    fn from_server_fn_error(value: leptos::server_fn::error::ServerFnErrorErr) -> Self {
        use leptos::server_fn::error::ServerFnErrorErr as E;
        match value {
            E::Request(_) | E::Response(_) => AppError::Unavailable {
                message: "The Worker Pool server cannot be reached.".into(),
            },
            E::Args(m) | E::Deserialization(m) | E::MissingArg(m) => {
                AppError::BadRequest { message: m }
            }
            E::Registration(_) | E::UnsupportedRequestMethod(_) => AppError::BadRequest {
                message: "No such server function.".into(),
            },
            E::ServerError(_) | E::Serialization(_) | E::MiddlewareError(_) => AppError::internal(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_and_body() {
        let e = AppError::invalid(vec![FieldError {
            field: "priority".into(),
            message: "priority must be a whole number from -100 to 100, not 500".into(),
        }]);
        assert_eq!(e.status_code(), 422);
        let body = serde_json::to_value(&e).unwrap();
        assert_eq!(body["kind"], "invalid");
        assert_eq!(body["fields"][0]["field"], "priority");
        assert!(body["error"].as_str().unwrap().contains("-100 to 100"));
        assert_eq!(AppError::task_not_found("x").status_code(), 404);
        assert_eq!(AppError::store_unavailable().status_code(), 503);
        let internal = serde_json::to_value(AppError::internal()).unwrap();
        assert_eq!(
            internal.as_object().unwrap().keys().collect::<Vec<_>>(),
            ["error", "kind"],
            "fields only on 422"
        );
    }

    #[test]
    fn long_ids_are_shortened() {
        let e = AppError::task_not_found(&"a".repeat(500));
        assert!(e.message().len() < 200);
    }

    #[test]
    fn every_kind_round_trips_as_json() {
        let m = || "a sentence".to_string();
        let all = [
            AppError::BadRequest { message: m() },
            AppError::TooLarge { message: m() },
            AppError::invalid(vec![FieldError::new("priority", "no")]),
            AppError::NotFound { message: m() },
            AppError::MethodNotAllowed { message: m() },
            AppError::Conflict { message: m() },
            AppError::Unauthorized { message: m() },
            AppError::Forbidden { message: m() },
            AppError::Unavailable { message: m() },
            AppError::Internal { message: m() },
        ];
        for e in all {
            let s = serde_json::to_string(&e).unwrap();
            assert_eq!(serde_json::from_str::<AppError>(&s).unwrap(), e, "{s}");
        }
        let odd: AppError =
            serde_json::from_str(r#"{"error": "from a newer server", "kind": "teapot"}"#).unwrap();
        assert_eq!(odd.message(), "from a newer server");
    }
}
