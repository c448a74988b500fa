//! The values of authentication: the security settings, the dashboard's session cookie and a
//! constant-time comparison. A leaf: it uses nothing else of this crate, so the configuration,
//! the backend and the HTTP guard can all depend on it.

use std::time::Duration;

pub use app::backend::{session_of, SESSION_COOKIE};

/// How long a dashboard session lasts.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);

/// The name the audit trail gives `WORKER_POOL_API_TOKEN` (named tokens come from
/// `WORKER_POOL_API_TOKENS`).
pub const DEFAULT_TOKEN_NAME: &str = "api-token";

/// The security settings, from the configuration.
#[derive(Clone, Debug, Default)]
pub struct Security {
    /// The bearer tokens mutating requests need, by name (none: no authentication).
    pub api_tokens: Vec<(String, String)>,
    /// Origins besides the server's own that may send mutating requests.
    pub allowed_origins: Vec<String>,
    /// Mark the session cookie `Secure` (the dashboard is served over HTTPS).
    pub secure_cookie: bool,
}

impl Security {
    /// True when changes need a token.
    pub fn auth_required(&self) -> bool {
        !self.api_tokens.is_empty()
    }

    /// The name of the token `given` is, if it is one. Every token is compared, in time
    /// independent of where they differ.
    pub fn token_name(&self, given: &str) -> Option<&str> {
        let mut found = None;
        for (name, token) in &self.api_tokens {
            if constant_time_eq(given.as_bytes(), token.as_bytes()) && found.is_none() {
                found = Some(name.as_str());
            }
        }
        found
    }
}

/// Who made a change, for the audit trail: a token's name, a dashboard session, or
/// `anonymous` (no token is configured); and the client's address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    /// Who.
    pub who: String,
    /// The client's address (`unknown` when the connection did not say).
    pub address: String,
}

tokio::task_local! {
    /// The actor of the request being served: set by the HTTP guard around every mutating
    /// request, read where a change is recorded.
    pub static ACTOR: Actor;
}

/// The actor of the request being served, if any (a change made by the pool itself has none).
pub fn current_actor() -> Option<Actor> {
    ACTOR.try_with(Clone::clone).ok()
}

/// Compares two secrets in time independent of where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The `Set-Cookie` value that starts (or, with `None`, ends) a session.
pub fn session_cookie(id: Option<&str>, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    match id {
        Some(id) => format!(
            "{SESSION_COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
            SESSION_TTL.as_secs()
        ),
        None => format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderMap, HeaderValue};

    #[test]
    fn cookies_and_secrets() {
        let mut h = HeaderMap::new();
        h.append(
            "cookie",
            HeaderValue::from_static("a=1; wp_session=abc; b=2"),
        );
        assert_eq!(session_of(&h), Some("abc"));
        assert_eq!(session_of(&HeaderMap::new()), None);
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
        assert!(session_cookie(Some("x"), false).contains("HttpOnly; SameSite=Strict"));
        assert!(session_cookie(None, true).contains("Max-Age=0; Secure"));
        let sec = Security {
            api_tokens: vec![
                ("ci".into(), "0123456789abcdef".into()),
                ("ops".into(), "fedcba9876543210".into()),
            ],
            ..Default::default()
        };
        assert!(sec.auth_required());
        assert_eq!(sec.token_name("fedcba9876543210"), Some("ops"));
        assert_eq!(sec.token_name("fedcba987654321"), None);
        assert!(!Security::default().auth_required());
    }
}
