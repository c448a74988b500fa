//! Celery's broker and result backend in Redis: LPUSH, LPOS, LREM, kombu's `unacked`, the pidbox
//! over pub/sub, and remote-control replies on a list of their own.

use super::broker::{
    inspect_call, query_task_call, query_task_replies, read_results, revoke_broadcast, Broker,
    BrokerError, BrokerFacts,
};
use super::protocol::{self, ControlReply, QueryTaskReply, Reply, ResultMeta};
use crate::connection::{Redis, RedisTarget, ServerFacts};
use std::time::Duration;

/// Celery's broker and result backend in Redis.
#[derive(Clone)]
pub struct RedisBroker {
    broker: Redis,
    backend: Redis,
    broker_db: i64,
}

impl RedisBroker {
    /// Lazy connections to the broker and the result backend.
    pub fn new(broker_url: &str, backend_url: &str, timeout: Duration) -> redis::RedisResult<Self> {
        Ok(RedisBroker {
            broker: Redis::open(broker_url, timeout)?,
            backend: Redis::open(backend_url, timeout)?,
            broker_db: RedisTarget::parse(broker_url)?.db,
        })
    }

    /// Broadcasts a remote-control message on the pidbox; returns how many subscribers heard it.
    async fn broadcast(&self, message: &str) -> Result<u64, BrokerError> {
        let n: i64 = self
            .broker
            .query(
                redis::cmd("PUBLISH")
                    .arg(protocol::pidbox_channel(self.broker_db))
                    .arg(message),
            )
            .await?;
        Ok(n.max(0) as u64)
    }

    /// Publishes a control call that asks for answers on `reply` and gathers them until
    /// `window` has passed. kombu routes a reply only through the reply exchange's binding,
    /// so the binding is added first and always removed after. The connection is shared, so
    /// the list is polled rather than blocked on.
    async fn call(
        &self,
        message: &str,
        reply: &Reply,
        window: Duration,
    ) -> Result<Vec<ControlReply>, BrokerError> {
        let _: i64 = self
            .broker
            .query(
                redis::cmd("SADD")
                    .arg(Reply::binding_key())
                    .arg(reply.binding()),
            )
            .await?;
        let collected = self.collect_replies(message, reply, window).await;
        let _: Result<(i64, i64), _> = self
            .broker
            .pipe(
                redis::pipe()
                    .cmd("SREM")
                    .arg(Reply::binding_key())
                    .arg(reply.binding())
                    .cmd("DEL")
                    .arg(reply.list()),
            )
            .await;
        collected
    }

    async fn collect_replies(
        &self,
        message: &str,
        reply: &Reply,
        window: Duration,
    ) -> Result<Vec<ControlReply>, BrokerError> {
        self.broadcast(message).await?;
        let deadline = tokio::time::Instant::now() + window;
        let mut out = Vec::new();
        loop {
            let raw: Option<Vec<Vec<u8>>> = self
                .broker
                .query(redis::cmd("RPOP").arg(reply.list()).arg(64))
                .await?;
            for item in raw.unwrap_or_default() {
                match protocol::parse_control_reply(&item) {
                    Ok(r) if r.ticket.as_deref().is_none_or(|t| t == reply.ticket) => out.push(r),
                    Ok(_) => {}
                    Err(e) => tracing::debug!(error = %e, "unreadable remote-control reply"),
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(out);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[async_trait::async_trait]
impl Broker for RedisBroker {
    async fn publish(&self, list: &str, message: &str) -> Result<(), BrokerError> {
        let _: i64 = self
            .broker
            .query(redis::cmd("LPUSH").arg(list).arg(message))
            .await?;
        Ok(())
    }

    async fn contains(&self, list: &str, message: &str) -> Result<bool, BrokerError> {
        let pos: Option<i64> = self
            .broker
            .query(redis::cmd("LPOS").arg(list).arg(message))
            .await?;
        Ok(pos.is_some())
    }

    async fn withdraw(&self, list: &str, message: &str) -> Result<bool, BrokerError> {
        let n: i64 = self
            .broker
            .query(redis::cmd("LREM").arg(list).arg(1).arg(message))
            .await?;
        Ok(n > 0)
    }

    async fn unacked(&self, delivery_tag: &str) -> Result<bool, BrokerError> {
        let n: i64 = self
            .broker
            .query(redis::cmd("HEXISTS").arg("unacked").arg(delivery_tag))
            .await?;
        Ok(n == 1)
    }

    async fn forget_unacked(&self, delivery_tag: &str) -> Result<(), BrokerError> {
        let _: (i64, i64) = self
            .broker
            .pipe(
                redis::pipe()
                    .atomic()
                    .cmd("HDEL")
                    .arg("unacked")
                    .arg(delivery_tag)
                    .cmd("ZREM")
                    .arg("unacked_index")
                    .arg(delivery_tag),
            )
            .await?;
        Ok(())
    }

    async fn revoke(&self, celery_ids: &[String]) -> Result<u64, BrokerError> {
        self.broadcast(&revoke_broadcast(celery_ids)).await
    }

    async fn query_tasks(
        &self,
        celery_ids: &[String],
        window: Duration,
    ) -> Result<Vec<QueryTaskReply>, BrokerError> {
        let (message, reply) = query_task_call(celery_ids, window);
        Ok(query_task_replies(
            self.call(&message, &reply, window).await?,
        ))
    }

    async fn inspect(
        &self,
        method: &str,
        arguments: serde_json::Value,
        window: Duration,
    ) -> Result<Vec<ControlReply>, BrokerError> {
        let (message, reply) = inspect_call(method, &arguments, window);
        self.call(&message, &reply, window).await
    }

    async fn server_facts(&self) -> (BrokerFacts, Result<ServerFacts, BrokerError>) {
        let (broker, backend) =
            tokio::join!(self.broker.server_facts(""), self.backend.server_facts(""));
        (
            BrokerFacts::Redis(broker.map_err(BrokerError::from)),
            backend.map_err(BrokerError::from),
        )
    }

    async fn results(&self, celery_ids: &[String]) -> Result<Vec<Option<ResultMeta>>, BrokerError> {
        read_results(&self.backend, celery_ids).await
    }
}
