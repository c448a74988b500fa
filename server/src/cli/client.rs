//! The JSON API over HTTP, as the commands use it: a 2xx body, or why not.

use anyhow::Context;
use serde_json::Value;
use std::time::Duration;

use super::args::Options;

/// Why a command failed.
pub enum Failure {
    /// The command line is wrong in a way clap cannot see (exit 2).
    Usage(String),
    /// The server answered with an error: status and body.
    Refused { status: u16, body: String },
    /// The server could not be reached.
    Unreachable(String),
    /// The command ran and found something wrong (`doctor`): its output says what (exit 1).
    Found(String),
    /// Anything else (an answer that is not what this version expects).
    Other(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Other(e)
    }
}

/// The JSON API over HTTP.
pub struct Client {
    http: reqwest::Client,
    base: String,
    api: String,
    token: Option<String>,
}

impl Client {
    pub fn new(conn: &Options) -> anyhow::Result<Self> {
        let base = conn.url.trim_end_matches('/').to_string();
        anyhow::ensure!(
            base.starts_with("http://") || base.starts_with("https://"),
            "--url must start with http:// or https:// (got {base:?})"
        );
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30));
        if let Some(path) = &conn.ca_cert {
            let pem = std::fs::read(path)
                .with_context(|| format!("cannot read --ca-cert {}", path.display()))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .ok()
                .filter(|c| !c.is_empty());
            let certs = certs.with_context(|| {
                format!(
                    "--ca-cert {} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                    path.display()
                )
            })?;
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let http = builder.build().context("cannot build the HTTP client")?;
        Ok(Client {
            api: format!("{base}{}", app::types::API_BASE),
            base,
            http,
            token: conn.token.clone().filter(|t| !t.is_empty()),
        })
    }

    /// Sends a request and returns the raw body of a 2xx answer.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<String, Failure> {
        let mut req = self.http.request(method, format!("{}{path}", self.api));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.map_err(|e| {
            let reason = if untrusted_certificate(&e) {
                "its TLS certificate is not trusted; for a private CA, pass --ca-cert"
            } else if e.is_connect() {
                "connection refused or host unreachable"
            } else if e.is_timeout() {
                "timed out"
            } else {
                "request failed"
            };
            Failure::Unreachable(format!(
                "cannot reach the Worker Pool server at {} ({reason})",
                self.base
            ))
        })?;
        let status = res.status().as_u16();
        let body = res
            .text()
            .await
            .map_err(|_| Failure::Unreachable(format!("the connection to {} broke", self.base)))?;
        if (200..300).contains(&status) {
            Ok(body)
        } else {
            Err(Failure::Refused { status, body })
        }
    }

    pub async fn get(&self, path: &str) -> Result<String, Failure> {
        self.call(reqwest::Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Result<String, Failure> {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }
}

/// True when a request failed because the server's certificate could not be verified.
fn untrusted_certificate(e: &reqwest::Error) -> bool {
    let mut cause: Option<&dyn std::error::Error> = Some(e);
    while let Some(c) = cause {
        if c.to_string().to_ascii_lowercase().contains("certificate") {
            return true;
        }
        cause = c.source();
    }
    false
}

/// Reads a 2xx body as `T`.
pub fn parse<T: serde::de::DeserializeOwned>(body: &str) -> Result<T, Failure> {
    serde_json::from_str(body)
        .map_err(|e| Failure::Other(anyhow::anyhow!("unexpected answer from the server: {e}")))
}

/// Percent-encodes a path segment (task ids are plain, but the server judges).
pub fn segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}
