//! One way to talk to Redis, for the store and the broker alike: a lazy, self-reconnecting
//! connection whose every command gives up after a deadline. The server starts (and
//! `/healthz` answers) while Redis is down, and a Redis that stops answering costs a request
//! at most the deadline, never a hang. A leaf: it uses nothing else of this crate.

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{FromRedisValue, RedisResult};
use std::future::Future;
use std::time::Duration;

/// Why a command did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// Redis refused the command or the connection broke.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// Redis did not answer in time.
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
}

impl CallError {
    /// True when Redis could not be reached (as opposed to answering something odd).
    pub fn is_unavailable(&self) -> bool {
        match self {
            CallError::Timeout(_) => true,
            CallError::Redis(e) => {
                e.is_io_error()
                    || e.is_connection_dropped()
                    || e.is_connection_refusal()
                    || e.is_timeout()
            }
        }
    }
}

/// A connection to one Redis database; cheap to clone (clones share the connection).
#[derive(Clone)]
pub struct Redis {
    conn: ConnectionManager,
    timeout: Duration,
}

impl Redis {
    /// Prepares a connection to `url`; nothing is sent until the first command.
    pub fn open(url: &str, timeout: Duration) -> RedisResult<Self> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        Ok(Redis {
            conn: ConnectionManager::new_lazy_with_config(redis::Client::open(url)?, config)?,
            timeout,
        })
    }

    async fn timed<T>(&self, fut: impl Future<Output = RedisResult<T>>) -> Result<T, CallError> {
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(r) => Ok(r?),
            Err(_) => Err(CallError::Timeout(self.timeout)),
        }
    }

    /// Runs one command.
    pub async fn query<T: FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, CallError> {
        let mut c = self.conn.clone();
        self.timed(cmd.query_async(&mut c)).await
    }

    /// Runs a pipeline (atomic when built with `.atomic()`).
    pub async fn pipe<T: FromRedisValue>(&self, pipe: &redis::Pipeline) -> Result<T, CallError> {
        let mut c = self.conn.clone();
        self.timed(pipe.query_async(&mut c)).await
    }

    /// Runs a Lua script (EVALSHA, loading it on first use).
    pub async fn invoke<T: FromRedisValue>(
        &self,
        script: &redis::ScriptInvocation<'_>,
    ) -> Result<T, CallError> {
        let mut c = self.conn.clone();
        self.timed(script.invoke_async(&mut c)).await
    }
}

/// What `worker-pool doctor` reads of a Redis server: whether it may evict keys and how it
/// persists them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerFacts {
    /// The server's `run_id` (one per process): tells whether two URLs reach one server.
    pub run_id: String,
    /// `maxmemory-policy`; `None` when `CONFIG` is refused (managed services rename it).
    pub maxmemory_policy: Option<String>,
    /// `maxmemory` in bytes (0: no limit); `None` when `CONFIG` is refused.
    pub maxmemory: Option<u64>,
    /// The append-only file is on.
    pub aof: bool,
    /// `appendfsync`, when `CONFIG` answers.
    pub appendfsync: Option<String>,
    /// The RDB snapshot rules (`save`), empty when none; `None` when `CONFIG` is refused.
    pub save: Option<String>,
}

impl Redis {
    /// Reads the server's [`ServerFacts`] (`INFO` and, where allowed, `CONFIG GET`).
    pub async fn server_facts(&self) -> Result<ServerFacts, CallError> {
        let info: String = self
            .query(redis::cmd("INFO").arg("server").arg("persistence"))
            .await?;
        let field = |name: &str| {
            info.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
                .map(|v| v.trim().to_string())
        };
        let config = |name: &'static str| async move {
            // CONFIG may be renamed or refused (managed Redis): then the value is unknown.
            let pair: Result<Vec<String>, CallError> =
                self.query(redis::cmd("CONFIG").arg("GET").arg(name)).await;
            pair.ok().and_then(|p| p.get(1).cloned())
        };
        Ok(ServerFacts {
            run_id: field("run_id").unwrap_or_default(),
            maxmemory_policy: config("maxmemory-policy").await,
            maxmemory: config("maxmemory").await.and_then(|v| v.parse().ok()),
            aof: field("aof_enabled").as_deref() == Some("1"),
            appendfsync: config("appendfsync").await,
            save: config("save").await,
        })
    }
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
