//! The values of authentication: the security settings, the dashboard's session cookie and a
//! constant-time comparison. A leaf: it uses nothing else of this crate, so the configuration,
//! the backend and the HTTP guard can all depend on it.

use std::time::Duration;

pub use app::backend::{session_of, SESSION_COOKIE};

/// How long a dashboard session lasts.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);

/// The security settings, from the configuration.
#[derive(Clone, Debug, Default)]
pub struct Security {
    /// The bearer token mutating requests need, when set.
    pub api_token: Option<String>,
    /// Origins besides the server's own that may send mutating requests.
    pub allowed_origins: Vec<String>,
    /// Mark the session cookie `Secure` (the dashboard is served over HTTPS).
    pub secure_cookie: bool,
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
    }
}
