//! What the scheduler asks of Celery's side ([`Broker`]), whatever the broker is, and what
//! its implementations share: the result backend read, reply addresses and expiry times of
//! remote-control calls.

use super::protocol::{self, ControlReply, QueryTaskReply, Reply, ResultMeta};
use crate::connection::{Redis, ServerFacts};
use std::time::Duration;

/// Why a command to the broker or the result backend failed.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// Redis (the broker or the result backend) refused it, broke, or did not answer in time.
    #[error(transparent)]
    Redis(#[from] crate::connection::CallError),
    /// RabbitMQ refused it or the connection broke.
    #[error("rabbitmq: {0}")]
    Amqp(String),
    /// RabbitMQ did not answer in time.
    #[error("rabbitmq did not answer within {0:?}")]
    AmqpTimeout(Duration),
}

/// What the broker's server is, for `worker-pool doctor`.
#[derive(Debug)]
pub enum BrokerFacts {
    /// A Redis server: how it may evict and persist.
    Redis(Result<ServerFacts, BrokerError>),
    /// RabbitMQ: its product and version, as it announced them.
    Amqp(Result<String, BrokerError>),
}

/// What the scheduler asks of Celery's side.
#[async_trait::async_trait]
pub trait Broker: Send + Sync + 'static {
    /// Pushes a task message (two-phase mode; inline mode pushes from the dispatch script).
    async fn publish(&self, list: &str, message: &str) -> Result<(), BrokerError>;

    /// True when the exact message is still in `list` (no worker took it yet).
    async fn contains(&self, list: &str, message: &str) -> Result<bool, BrokerError>;

    /// Removes the exact message from `list`; true when it was there (it will never run).
    async fn withdraw(&self, list: &str, message: &str) -> Result<bool, BrokerError>;

    /// True when the broker lets the pool look inside its queues (Redis lists and kombu's
    /// `unacked` hash). RabbitMQ does not: [`Broker::contains`], [`Broker::withdraw`] and
    /// [`Broker::unacked`] then answer `false` and prove nothing, and the scheduler relies
    /// on what RabbitMQ guarantees instead (a confirmed message is not lost; an unacknowledged
    /// one is delivered again when its worker's connection drops).
    fn sees_messages(&self) -> bool {
        true
    }

    /// True when a worker holds the message unacknowledged (kombu's `unacked` hash).
    async fn unacked(&self, delivery_tag: &str) -> Result<bool, BrokerError>;

    /// Drops a message from kombu's unacked set, so it is never restored and run again.
    async fn forget_unacked(&self, delivery_tag: &str) -> Result<(), BrokerError>;

    /// Broadcasts a revoke with terminate of `celery_ids`; returns how many subscribers heard
    /// it (0 over RabbitMQ, which does not say). Workers that hear it also discard these ids
    /// if a copy reaches them later.
    async fn revoke(&self, celery_ids: &[String]) -> Result<u64, BrokerError>;

    /// Asks every worker which of `celery_ids` it holds (Celery's `query_task` remote
    /// control: reserved or active), and collects the replies that arrive within `window`.
    async fn query_tasks(
        &self,
        celery_ids: &[String],
        window: Duration,
    ) -> Result<Vec<QueryTaskReply>, BrokerError>;

    /// Reads the result-backend values of several tasks (`None` where there is none yet).
    async fn results(&self, celery_ids: &[String]) -> Result<Vec<Option<ResultMeta>>, BrokerError>;

    /// Calls one of Celery's `inspect` remote controls (`active_queues`, `conf`, `registered`,
    /// `active`, …) with its keyword `arguments`, and collects the workers' answers that
    /// arrive within `window`.
    async fn inspect(
        &self,
        method: &str,
        arguments: serde_json::Value,
        window: Duration,
    ) -> Result<Vec<ControlReply>, BrokerError>;

    /// Closes the broker's connections (at shutdown). Redis' close themselves when dropped.
    async fn close(&self) {}

    /// What the broker's server is, and how the result backend's server may evict and persist.
    async fn server_facts(&self) -> (BrokerFacts, Result<ServerFacts, BrokerError>);
}

/// A fresh reply address for one remote-control call.
fn fresh_reply() -> Reply {
    Reply {
        oid: uuid::Uuid::new_v4().to_string(),
        ticket: uuid::Uuid::new_v4().to_string(),
    }
}

/// Seconds since the epoch, `after` from now: the informational `expires` of control messages.
fn epoch_in(after: Duration) -> f64 {
    chrono::Utc::now().timestamp_millis() as f64 / 1000.0 + after.as_secs_f64()
}

/// Reads the result-backend values of several tasks from the Redis result backend (whatever
/// the broker is): one MGET.
pub(crate) async fn read_results(
    backend: &Redis,
    celery_ids: &[String],
) -> Result<Vec<Option<ResultMeta>>, BrokerError> {
    if celery_ids.is_empty() {
        return Ok(Vec::new());
    }
    let keys: Vec<String> = celery_ids
        .iter()
        .map(|id| protocol::result_key(id))
        .collect();
    let values: Vec<Option<Vec<u8>>> = backend.query(redis::cmd("MGET").arg(&keys)).await?;
    Ok(values
        .into_iter()
        .zip(celery_ids)
        .map(|(v, id)| {
            v.and_then(|raw| match protocol::parse_result_meta(&raw, id) {
                Ok(meta) => Some(meta),
                Err(e) => {
                    tracing::warn!(celery_id = %id, error = %e, "unreadable result-backend value");
                    None
                }
            })
        })
        .collect())
}

/// Celery's `query_task` remote control, with a fresh reply address: the message and where
/// its answers come.
pub(crate) fn query_task_call(celery_ids: &[String], window: Duration) -> (String, Reply) {
    let reply = fresh_reply();
    let message = protocol::query_task_message(
        celery_ids,
        &reply,
        &uuid::Uuid::new_v4().to_string(),
        epoch_in(window),
    );
    (message, reply)
}

/// One of Celery's `inspect` remote controls, with a fresh reply address.
pub(crate) fn inspect_call(
    method: &str,
    arguments: &serde_json::Value,
    window: Duration,
) -> (String, Reply) {
    let reply = fresh_reply();
    let message = protocol::inspect_message(
        method,
        arguments,
        &reply,
        &uuid::Uuid::new_v4().to_string(),
        epoch_in(window),
    );
    (message, reply)
}

/// The revoke (terminate) broadcast of `celery_ids`.
pub(crate) fn revoke_broadcast(celery_ids: &[String]) -> String {
    let tag = uuid::Uuid::new_v4().to_string();
    protocol::revoke_message(celery_ids, &tag, epoch_in(Duration::from_secs(1)))
}

/// The answers to a `query_task` call, skipping (and logging) unreadable ones.
pub(crate) fn query_task_replies(replies: Vec<ControlReply>) -> Vec<QueryTaskReply> {
    replies
        .into_iter()
        .filter_map(|r| match protocol::query_task_reply(r) {
            Ok(q) => Some(q),
            Err(e) => {
                tracing::debug!(error = %e, "unreadable query_task reply");
                None
            }
        })
        .collect()
}
