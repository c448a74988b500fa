//! Webhooks: a signed POST to every `WORKER_POOL_WEBHOOK_URL` when a task finishes (completed,
//! failed, cancelled) and when a source enters or leaves a cool-down.
//!
//! The outbox lives in Redis: the scripts that end a task or cool a source down record the
//! event in the same step (while some replica delivers webhooks: `<prefix>:hooks:on`), so an
//! event is never lost to a crash. Every replica runs [`Webhooks::tick`]; `hooks_claim.lua`
//! leases each due event to one replica at a time, which delivers it to every URL still
//! pending and records the outcome (`hooks_done.lua`). A failed delivery is tried again with
//! exponential backoff (1 s, 2 s, 4 s … at most 1 h apart) for up to 24 h: at least once, and
//! never blocking the scheduler (it runs on its own task).
//!
//! Each request carries `Worker-Pool-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
//! "<t>.<body>" under WORKER_POOL_WEBHOOK_SECRET>`, `Worker-Pool-Event` and
//! `Worker-Pool-Delivery` (the event's id: the same on every retry, for deduplication).

use crate::store::{HookClaim, HookOutcome, Store, StoreError};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::HashMap;
use std::time::Duration;

/// How long a delivery is retried before it is given up.
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(24 * 3600);
/// How long an event is kept (and shown) once every URL is done with it.
pub const KEEP_DONE: Duration = Duration::from_secs(24 * 3600);
/// The longest wait between two attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(3600);
/// How many events one tick delivers at most.
const BATCH: u32 = 16;
/// How long webhooks stay on after a replica last said it delivers them.
const ON_FOR: Duration = Duration::from_secs(60);

/// The signature header's value for `body` sent at `unix_secs`.
pub fn signature(secret: &str, unix_secs: i64, body: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any size");
    mac.update(format!("{unix_secs}.{body}").as_bytes());
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("t={unix_secs},v1={hex}")
}

/// The wait before attempt `attempts + 1`.
pub fn backoff(attempts: u32) -> Duration {
    Duration::from_secs(1u64 << attempts.min(12)).min(MAX_BACKOFF)
}

/// The webhook settings.
#[derive(Clone, Debug)]
pub struct WebhookSettings {
    /// Where events go.
    pub urls: Vec<String>,
    /// The signing secret.
    pub secret: String,
    /// How long one request may take.
    pub timeout: Duration,
}

/// The deliverer of one replica.
pub struct Webhooks {
    settings: WebhookSettings,
    client: reqwest::Client,
}

impl Webhooks {
    /// A deliverer for `settings`.
    pub fn new(settings: WebhookSettings) -> Self {
        let client = reqwest::Client::builder()
            .timeout(settings.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("an HTTP client with a timeout");
        Webhooks { settings, client }
    }

    /// One pass: claims the due events and delivers each. Returns how many were attempted.
    pub async fn tick(&self, store: &dyn Store) -> Result<usize, StoreError> {
        let lease = self.settings.timeout * 2 + Duration::from_secs(5);
        let claims = store.hooks_claim(lease, BATCH, ON_FOR).await?;
        let n = claims.len();
        for claim in claims {
            self.deliver(store, claim).await?;
        }
        Ok(n)
    }

    async fn deliver(&self, store: &dyn Store, claim: HookClaim) -> Result<(), StoreError> {
        let (body, new_body) = match claim.field("body") {
            Some(b) => (b.to_string(), false),
            None => (self.body(store, &claim).await?, true),
        };
        let pending: Vec<&String> = self
            .settings
            .urls
            .iter()
            .filter(|u| {
                !matches!(
                    claim.field(&format!("s:{u}")),
                    Some("delivered") | Some("failed")
                )
            })
            .collect();
        let attempts: u32 = claim.field("att").and_then(|a| a.parse().ok()).unwrap_or(0);
        let created: i64 = claim.field("at").and_then(|a| a.parse().ok()).unwrap_or(0);
        let expired =
            chrono::Utc::now().timestamp_millis() - created > GIVE_UP_AFTER.as_millis() as i64;
        let sends = pending.iter().map(|url| self.send(url, &claim, &body));
        let results = futures::future::join_all(sends).await;
        let mut outcomes = Vec::new();
        let mut retry = false;
        for (url, result) in pending.into_iter().zip(results) {
            let (state, error) = match result {
                Ok(()) => ("delivered", String::new()),
                Err(e) if expired => ("failed", e),
                Err(e) => {
                    retry = true;
                    ("pending", e)
                }
            };
            if !error.is_empty() {
                tracing::warn!(event = %claim.id, url = %url, error = %error, "a webhook delivery failed");
            }
            outcomes.push(HookOutcome {
                url: url.clone(),
                state: state.into(),
                error,
            });
        }
        let next = retry.then(|| backoff(attempts));
        store
            .hooks_done(
                &claim.id,
                new_body.then_some(body.as_str()),
                next,
                KEEP_DONE,
                &outcomes,
            )
            .await
    }

    /// One POST; `Err` with a sentence unless the receiver answered 2xx.
    async fn send(&self, url: &str, claim: &HookClaim, body: &str) -> Result<(), String> {
        let now = chrono::Utc::now().timestamp();
        let res = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header(
                "worker-pool-signature",
                signature(&self.settings.secret, now, body),
            )
            .header("worker-pool-event", claim.field("kind").unwrap_or(""))
            .header("worker-pool-delivery", claim.id.as_str())
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| {
                if e.is_timeout() {
                    format!("no answer within {:?}", self.settings.timeout)
                } else {
                    format!("could not be sent: {e}")
                }
            })?;
        if res.status().is_success() {
            Ok(())
        } else {
            Err(format!("answered {}", res.status()))
        }
    }

    /// The event's JSON body, made once (retries send the same bytes).
    async fn body(&self, store: &dyn Store, claim: &HookClaim) -> Result<String, StoreError> {
        let kind = claim.field("kind").unwrap_or("");
        let reference = claim.field("ref").unwrap_or("");
        let at = claim
            .field("at")
            .and_then(|a| a.parse::<i64>().ok())
            .and_then(|ms| chrono::TimeZone::timestamp_millis_opt(&chrono::Utc, ms).single());
        let mut body = serde_json::json!({"id": claim.id, "event": kind, "at": at});
        if kind == "task.finished" {
            let task = store.get(reference).await?;
            body["task"] = match task {
                Some(t) => serde_json::to_value(t).unwrap_or_default(),
                // Its record expired before the first attempt: its id is what is left.
                None => serde_json::json!({"task_id": reference}),
            };
        } else {
            body["source"] = reference.into();
            body["cooldown_until"] = claim
                .field("until")
                .and_then(|u| u.parse::<i64>().ok())
                .and_then(|ms| chrono::TimeZone::timestamp_millis_opt(&chrono::Utc, ms).single())
                .map(|t| serde_json::json!(t))
                .unwrap_or(serde_json::Value::Null);
        }
        Ok(body.to_string())
    }
}

/// A claimed event: its id and its stored fields.
impl HookClaim {
    /// A stored field.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }
}

/// Decodes an event's stored fields into its view (`GET webhooks/`).
pub fn view(
    id: &str,
    fields: &HashMap<String, String>,
    urls: &[String],
) -> app::types::WebhookEvent {
    let at = |k: &str| {
        fields
            .get(k)
            .and_then(|v| v.parse::<i64>().ok())
            .and_then(|ms| chrono::TimeZone::timestamp_millis_opt(&chrono::Utc, ms).single())
    };
    let mut deliveries: Vec<app::types::WebhookDelivery> = urls
        .iter()
        .map(|u| app::types::WebhookDelivery {
            url: u.clone(),
            state: fields
                .get(&format!("s:{u}"))
                .cloned()
                .unwrap_or_else(|| "pending".into()),
            error: fields.get(&format!("e:{u}")).cloned(),
        })
        .collect();
    // URLs no longer configured, with their recorded outcome.
    for (k, v) in fields {
        if let Some(u) = k.strip_prefix("s:") {
            if !urls.iter().any(|x| x == u) {
                deliveries.push(app::types::WebhookDelivery {
                    url: u.to_string(),
                    state: v.clone(),
                    error: fields.get(&format!("e:{u}")).cloned(),
                });
            }
        }
    }
    app::types::WebhookEvent {
        id: id.to_string(),
        event: fields.get("kind").cloned().unwrap_or_default(),
        reference: fields.get("ref").cloned().unwrap_or_default(),
        created_at: at("at"),
        attempts: fields.get("att").and_then(|a| a.parse().ok()).unwrap_or(0),
        last_attempt_at: at("last"),
        next_attempt_at: at("next"),
        deliveries,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_hmac_sha256_of_time_and_body() {
        // Known answer, from Python: hmac.new(b"Jefe", b"1700000000.{}", hashlib.sha256).
        assert_eq!(
            signature("Jefe", 1_700_000_000, "{}"),
            "t=1700000000,v1=d3793e2b4103edfbd98cc19591832f5fad701d413db9fcae0ae7dab8184ed207"
        );
        assert_ne!(signature("a", 1, "x"), signature("b", 1, "x"));
        assert_ne!(signature("a", 1, "x"), signature("a", 2, "x"));
    }

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        assert_eq!(backoff(0), Duration::from_secs(1));
        assert_eq!(backoff(3), Duration::from_secs(8));
        assert_eq!(backoff(40), MAX_BACKOFF);
    }
}
