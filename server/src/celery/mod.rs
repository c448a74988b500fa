//! The bridge to Celery over Redis: the wire format ([`protocol`]), the commands the pool sends
//! ([`Broker`], implemented by [`RedisBroker`]) and the pub/sub listener ([`listener`]).

pub mod listener;
pub mod protocol;

use protocol::ResultMeta;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::future::Future;
use std::time::Duration;

/// Why a command to the broker or the result backend failed.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// Redis refused the command or the connection broke.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// Redis did not answer in time.
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
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

    /// True when a worker holds the message unacknowledged (kombu's `unacked` hash).
    async fn unacked(&self, delivery_tag: &str) -> Result<bool, BrokerError>;

    /// Drops a message from kombu's unacked set, so it is never restored and run again.
    async fn forget_unacked(&self, delivery_tag: &str) -> Result<(), BrokerError>;

    /// Broadcasts a revoke with terminate; returns how many subscribers heard it.
    async fn revoke(&self, celery_id: &str) -> Result<u64, BrokerError>;

    /// Reads the result-backend values of several tasks (`None` where there is none yet).
    async fn results(&self, celery_ids: &[String]) -> Result<Vec<Option<ResultMeta>>, BrokerError>;
}

/// The connection details of one Redis database, for comparing URLs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedisTarget {
    /// `host:port` or the socket path.
    pub addr: String,
    /// The database number.
    pub db: i64,
}

impl RedisTarget {
    /// Parses a Redis URL.
    pub fn parse(url: &str) -> redis::RedisResult<Self> {
        let client = redis::Client::open(url)?;
        let info = client.get_connection_info();
        Ok(RedisTarget {
            addr: info.addr().to_string(),
            db: info.redis_settings().db(),
        })
    }
}

/// Celery's broker and result backend in Redis.
#[derive(Clone)]
pub struct RedisBroker {
    broker: ConnectionManager,
    backend: ConnectionManager,
    broker_db: i64,
    timeout: Duration,
}

fn manager(url: &str, timeout: Duration) -> redis::RedisResult<ConnectionManager> {
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout))
        .set_number_of_retries(1)
        .set_max_delay(Duration::from_millis(500));
    ConnectionManager::new_lazy_with_config(redis::Client::open(url)?, config)
}

impl RedisBroker {
    /// Lazy connections to the broker and the result backend.
    pub fn new(broker_url: &str, backend_url: &str, timeout: Duration) -> redis::RedisResult<Self> {
        Ok(RedisBroker {
            broker: manager(broker_url, timeout)?,
            backend: manager(backend_url, timeout)?,
            broker_db: RedisTarget::parse(broker_url)?.db,
            timeout,
        })
    }

    async fn timed<T>(
        &self,
        fut: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, BrokerError> {
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(r) => r.map_err(BrokerError::from),
            Err(_) => Err(BrokerError::Timeout(self.timeout)),
        }
    }
}

#[async_trait::async_trait]
impl Broker for RedisBroker {
    async fn publish(&self, list: &str, message: &str) -> Result<(), BrokerError> {
        let mut c = self.broker.clone();
        let _: i64 = self
            .timed(
                redis::cmd("LPUSH")
                    .arg(list)
                    .arg(message)
                    .query_async(&mut c),
            )
            .await?;
        Ok(())
    }

    async fn contains(&self, list: &str, message: &str) -> Result<bool, BrokerError> {
        let mut c = self.broker.clone();
        let pos: Option<i64> = self
            .timed(
                redis::cmd("LPOS")
                    .arg(list)
                    .arg(message)
                    .query_async(&mut c),
            )
            .await?;
        Ok(pos.is_some())
    }

    async fn withdraw(&self, list: &str, message: &str) -> Result<bool, BrokerError> {
        let mut c = self.broker.clone();
        let n: i64 = self
            .timed(
                redis::cmd("LREM")
                    .arg(list)
                    .arg(1)
                    .arg(message)
                    .query_async(&mut c),
            )
            .await?;
        Ok(n > 0)
    }

    async fn unacked(&self, delivery_tag: &str) -> Result<bool, BrokerError> {
        let mut c = self.broker.clone();
        let n: i64 = self
            .timed(
                redis::cmd("HEXISTS")
                    .arg("unacked")
                    .arg(delivery_tag)
                    .query_async(&mut c),
            )
            .await?;
        Ok(n == 1)
    }

    async fn forget_unacked(&self, delivery_tag: &str) -> Result<(), BrokerError> {
        let mut c = self.broker.clone();
        let _: (i64, i64) = self
            .timed(
                redis::pipe()
                    .atomic()
                    .cmd("HDEL")
                    .arg("unacked")
                    .arg(delivery_tag)
                    .cmd("ZREM")
                    .arg("unacked_index")
                    .arg(delivery_tag)
                    .query_async(&mut c),
            )
            .await?;
        Ok(())
    }

    async fn revoke(&self, celery_id: &str) -> Result<u64, BrokerError> {
        let tag = uuid::Uuid::new_v4().to_string();
        let expires = chrono::Utc::now().timestamp_millis() as f64 / 1000.0 + 1.0;
        let message = protocol::revoke_message(celery_id, &tag, expires);
        let mut c = self.broker.clone();
        let n: i64 = self
            .timed(
                redis::cmd("PUBLISH")
                    .arg(protocol::pidbox_channel(self.broker_db))
                    .arg(message)
                    .query_async(&mut c),
            )
            .await?;
        Ok(n.max(0) as u64)
    }

    async fn results(&self, celery_ids: &[String]) -> Result<Vec<Option<ResultMeta>>, BrokerError> {
        if celery_ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut c = self.backend.clone();
        let keys: Vec<String> = celery_ids
            .iter()
            .map(|id| protocol::result_key(id))
            .collect();
        let values: Vec<Option<Vec<u8>>> = self
            .timed(redis::cmd("MGET").arg(&keys).query_async(&mut c))
            .await?;
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
}
