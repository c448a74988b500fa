//! RabbitMQ as Celery's broker (`CELERY_BROKER_URL=amqp://…`): AMQP 0-9-1 through `lapin`
//! on tokio. The result backend stays Redis (results and their pub/sub come from there, as
//! with a Redis broker).
//!
//! Every message is still built once, by [`protocol`]'s golden-tested builders, as kombu's
//! envelope; [`Publication::from_envelope`] unwraps it into what `basic.publish` takes, as
//! kombu does between its transports. What RabbitMQ changes:
//!
//! - A task is published to the default exchange with the queue's name as routing key, as
//!   Celery does, persistent, `mandatory` (a queue that does not exist is an error, never a
//!   silent drop), on a channel in confirm mode: `publish` returns only once RabbitMQ has the
//!   message. The queue is declared first as Celery declares it (durable, no arguments) unless
//!   it exists.
//! - The pool cannot look inside a queue ([`Broker::sees_messages`] is false). It does not
//!   need to: a confirmed message is not lost, and a worker's unacknowledged messages go back
//!   to the queue when its connection drops. The scheduler relies on that instead of looking.
//! - Remote control is the `celery.pidbox` fanout exchange; replies come to a queue of the
//!   call's own on `reply.celery.pidbox`, bound with the call's routing key.
//! - Worker events come from a queue of the pool's own bound to the `celeryev` topic exchange
//!   with `worker.#` ([`run_events`]).

use super::broker::{
    inspect_call, query_task_call, query_task_replies, read_results, revoke_broadcast, Broker,
    BrokerError, BrokerFacts,
};
use super::listener::{Feed, Subscriber};
use super::protocol::{self, ControlReply, Publication, QueryTaskReply, Reply, ResultMeta};
use crate::connection::{Redis, ServerFacts};
use futures::StreamExt;
use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions,
    QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldArray, FieldTable, LongString, ShortString};
use lapin::{
    BasicProperties, Channel, Confirmation, Connection, ConnectionProperties, ExchangeKind,
};
use serde_json::Value;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// The exchange Celery's remote control broadcasts on (kombu: fanout, not durable).
pub const PIDBOX_EXCHANGE: &str = "celery.pidbox";
/// The exchange Celery's events are published to (kombu: topic, durable).
pub const EVENT_EXCHANGE: &str = "celeryev";

/// True for the URL schemes Celery reads as RabbitMQ (`amqp://`, `amqps://`, `pyamqp://`).
pub fn is_amqp_url(url: &str) -> bool {
    ["amqp://", "amqps://", "pyamqp://"]
        .iter()
        .any(|s| url.starts_with(s))
}

/// Reads an AMQP URL the way Celery does and returns it in the form `lapin` reads:
/// `pyamqp://` is `amqp://`; the path is the vhost, `//` or none meaning `/` (kombu's
/// `amqp://guest@host//`), percent-encoded. A wrong URL is an error that says why.
pub fn normalize_url(url: &str) -> Result<String, String> {
    let url = url.trim();
    let (scheme, rest) = if let Some(r) = url.strip_prefix("pyamqp://") {
        ("amqp", r)
    } else if let Some(r) = url.strip_prefix("amqps://") {
        ("amqps", r)
    } else if let Some(r) = url.strip_prefix("amqp://") {
        ("amqp", r)
    } else {
        return Err("expected an AMQP URL such as amqp://user:password@host:5672/vhost".into());
    };
    let (rest, query) = match rest.split_once('?') {
        Some((r, q)) => (r, Some(q)),
        None => (rest, None),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, ""),
    };
    let host = authority.rsplit('@').next().unwrap_or_default();
    if host.is_empty() || host.starts_with(':') {
        return Err("an AMQP URL names its host: amqp://user:password@host:5672/vhost".into());
    }
    let vhost = if path.is_empty() {
        "/".to_string()
    } else {
        percent_decode(path)
    };
    let out = format!(
        "{scheme}://{authority}/{}{}",
        percent_encode(&vhost),
        query.map(|q| format!("?{q}")).unwrap_or_default()
    );
    out.parse::<lapin::uri::AMQPUri>()
        .map_err(|e| format!("not a valid AMQP URL: {e}"))?;
    Ok(out)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

// --- headers: JSON <-> AMQP field tables ------------------------------------------------------

/// A JSON value as an AMQP field value, typed as py-amqp types Python's: `None` is void, an
/// int that fits is a signed 32-bit int (else 64-bit), a float a double, a string a long
/// string, a list an array, a dict a table.
pub fn amqp_value(v: &Value) -> AMQPValue {
    match v {
        Value::Null => AMQPValue::Void,
        Value::Bool(b) => AMQPValue::Boolean(*b),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => match i32::try_from(i) {
                Ok(small) => AMQPValue::LongInt(small),
                Err(_) => AMQPValue::LongLongInt(i),
            },
            (None, Some(f)) => AMQPValue::Double(f),
            (None, None) => AMQPValue::Void,
        },
        Value::String(s) => AMQPValue::LongString(LongString::from(s.as_bytes().to_vec())),
        Value::Array(items) => AMQPValue::FieldArray(FieldArray::from(
            items.iter().map(amqp_value).collect::<Vec<_>>(),
        )),
        Value::Object(map) => AMQPValue::FieldTable(field_table(map)),
    }
}

/// A JSON object as an AMQP field table.
pub fn field_table(map: &serde_json::Map<String, Value>) -> FieldTable {
    let mut table = FieldTable::default();
    for (k, v) in map {
        table.insert(ShortString::from(k.as_str()), amqp_value(v));
    }
    table
}

/// An AMQP field value as JSON (what Python would see).
pub fn json_value(v: &AMQPValue) -> Value {
    match v {
        AMQPValue::Void => Value::Null,
        AMQPValue::Boolean(b) => Value::Bool(*b),
        AMQPValue::ShortShortInt(i) => (*i).into(),
        AMQPValue::ShortShortUInt(i) => (*i).into(),
        AMQPValue::ShortInt(i) => (*i).into(),
        AMQPValue::ShortUInt(i) => (*i).into(),
        AMQPValue::LongInt(i) => (*i).into(),
        AMQPValue::LongUInt(i) => (*i).into(),
        AMQPValue::LongLongInt(i) => (*i).into(),
        AMQPValue::Timestamp(t) => (*t).into(),
        AMQPValue::Float(f) => {
            serde_json::Number::from_f64(f64::from(*f)).map_or(Value::Null, Value::Number)
        }
        AMQPValue::Double(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
        AMQPValue::DecimalValue(d) => {
            let f = f64::from(d.value) / 10f64.powi(i32::from(d.scale));
            serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)
        }
        AMQPValue::ShortString(s) => Value::String(s.as_str().to_string()),
        AMQPValue::LongString(s) => {
            Value::String(String::from_utf8_lossy(s.as_bytes()).into_owned())
        }
        AMQPValue::ByteArray(b) => {
            Value::String(String::from_utf8_lossy(b.as_slice()).into_owned())
        }
        AMQPValue::FieldArray(a) => Value::Array(a.as_slice().iter().map(json_value).collect()),
        AMQPValue::FieldTable(t) => Value::Object(json_object(t)),
    }
}

/// An AMQP field table as a JSON object.
pub fn json_object(table: &FieldTable) -> serde_json::Map<String, Value> {
    table
        .inner()
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), json_value(v)))
        .collect()
}

/// The AMQP properties of a publication.
pub fn properties(p: &Publication) -> BasicProperties {
    let mut props = BasicProperties::default()
        .with_content_type(ShortString::from(p.content_type.as_str()))
        .with_content_encoding(ShortString::from(p.content_encoding.as_str()))
        .with_headers(field_table(&p.headers))
        .with_delivery_mode(p.delivery_mode)
        .with_priority(p.priority);
    if let Some(id) = &p.correlation_id {
        props = props.with_correlation_id(ShortString::from(id.as_str()));
    }
    if let Some(to) = &p.reply_to {
        props = props.with_reply_to(ShortString::from(to.as_str()));
    }
    props
}

fn amqp_error(e: lapin::Error) -> BrokerError {
    BrokerError::Amqp(e.to_string())
}

/// Runs `fut` within `timeout`, as a [`BrokerError`].
async fn timed<T>(
    timeout: Duration,
    fut: impl std::future::Future<Output = lapin::Result<T>>,
) -> Result<T, BrokerError> {
    match tokio::time::timeout(timeout, fut).await {
        Ok(r) => r.map_err(amqp_error),
        Err(_) => Err(BrokerError::AmqpTimeout(timeout)),
    }
}

async fn connect(url: &str, timeout: Duration) -> Result<Connection, BrokerError> {
    let props = ConnectionProperties::default().with_connection_name(LongString::from(format!(
        "worker-pool-{}",
        std::process::id()
    )));
    timed(timeout, Connection::connect(url, props)).await
}

// --- the broker ---------------------------------------------------------------------------------

/// The connection the broker's commands share, and what it declared.
struct Live {
    connection: Arc<Connection>,
    /// In confirm mode: every publish waits for RabbitMQ's ack.
    publish: Channel,
    /// Queues and exchanges known to exist on this connection.
    declared: HashSet<String>,
}

impl Live {
    fn usable(&self) -> bool {
        self.connection.status().connected() && self.publish.status().connected()
    }
}

/// Celery's broker in RabbitMQ, and its result backend in Redis.
pub struct AmqpBroker {
    url: String,
    backend: Redis,
    timeout: Duration,
    live: tokio::sync::Mutex<Option<Live>>,
}

impl AmqpBroker {
    /// A broker that connects on first use (and again after any failure).
    pub fn new(broker_url: &str, backend_url: &str, timeout: Duration) -> Result<Self, String> {
        Ok(AmqpBroker {
            url: normalize_url(broker_url)?,
            backend: Redis::open(backend_url, timeout).map_err(|e| e.to_string())?,
            timeout,
            live: tokio::sync::Mutex::new(None),
        })
    }

    /// The shared connection and its confirm-mode channel, connecting when there is none or
    /// it broke.
    async fn live(&self) -> Result<(Arc<Connection>, Channel), BrokerError> {
        let mut live = self.live.lock().await;
        if let Some(l) = live.as_ref().filter(|l| l.usable()) {
            return Ok((l.connection.clone(), l.publish.clone()));
        }
        if let Some(old) = live.take() {
            let _ = old
                .connection
                .close(200, ShortString::from("reconnecting"))
                .await;
        }
        let connection = Arc::new(connect(&self.url, self.timeout).await?);
        let publish = timed(self.timeout, connection.create_channel()).await?;
        timed(
            self.timeout,
            publish.confirm_select(ConfirmSelectOptions::default()),
        )
        .await?;
        *live = Some(Live {
            connection: connection.clone(),
            publish: publish.clone(),
            declared: HashSet::new(),
        });
        Ok((connection, publish))
    }

    /// Forgets the connection after an error, so the next command connects again.
    async fn drop_live(&self) {
        if let Some(l) = self.live.lock().await.take() {
            let _ = l
                .connection
                .close(200, ShortString::from("reconnecting"))
                .await;
        }
    }

    /// Makes sure what `p` is routed to exists, once per connection: the task queue (as
    /// Celery declares it: durable, no arguments, unless it exists with others) or the
    /// pidbox exchange (as kombu declares it).
    async fn declare_for(
        &self,
        connection: &Connection,
        p: &Publication,
    ) -> Result<(), BrokerError> {
        let name = if p.exchange.is_empty() {
            format!("queue:{}", p.routing_key)
        } else {
            format!("exchange:{}", p.exchange)
        };
        if self
            .live
            .lock()
            .await
            .as_ref()
            .is_some_and(|l| l.declared.contains(&name))
        {
            return Ok(());
        }
        // A failed declaration closes its channel: each attempt gets one of its own.
        let ch = timed(self.timeout, connection.create_channel()).await?;
        let result = if p.exchange.is_empty() {
            let passive = QueueDeclareOptions {
                passive: true,
                ..QueueDeclareOptions::default()
            };
            match timed(
                self.timeout,
                ch.queue_declare(
                    ShortString::from(p.routing_key.as_str()),
                    passive,
                    FieldTable::default(),
                ),
            )
            .await
            {
                Ok(_) => Ok(()),
                Err(_) => {
                    let ch = timed(self.timeout, connection.create_channel()).await?;
                    let declared = timed(
                        self.timeout,
                        ch.queue_declare(
                            ShortString::from(p.routing_key.as_str()),
                            QueueDeclareOptions {
                                durable: true,
                                ..QueueDeclareOptions::default()
                            },
                            FieldTable::default(),
                        ),
                    )
                    .await
                    .map(|_| ());
                    let _ = ch.close(200, ShortString::from("declared")).await;
                    declared
                }
            }
        } else if p.exchange == PIDBOX_EXCHANGE {
            declare_exchange(
                &ch,
                PIDBOX_EXCHANGE,
                ExchangeKind::Fanout,
                false,
                self.timeout,
            )
            .await
        } else {
            Ok(())
        };
        let _ = ch.close(200, ShortString::from("declared")).await;
        result?;
        if let Some(l) = self.live.lock().await.as_mut() {
            l.declared.insert(name);
        }
        Ok(())
    }

    /// Publishes and waits for RabbitMQ's confirmation. An unroutable task (no such queue) or
    /// a refused one is an error; any error drops the connection.
    async fn send(&self, p: &Publication) -> Result<(), BrokerError> {
        let result = self.try_send(p).await;
        if let Err(e) = &result {
            tracing::debug!(error = %e, exchange = %p.exchange, routing_key = %p.routing_key, "publish to RabbitMQ failed");
            self.drop_live().await;
        }
        result
    }

    async fn try_send(&self, p: &Publication) -> Result<(), BrokerError> {
        let (connection, channel) = self.live().await?;
        self.declare_for(&connection, p).await?;
        let confirm = timed(
            self.timeout,
            channel.basic_publish(
                ShortString::from(p.exchange.as_str()),
                ShortString::from(p.routing_key.as_str()),
                BasicPublishOptions {
                    mandatory: p.exchange.is_empty(),
                    ..BasicPublishOptions::default()
                },
                &p.body,
                properties(p),
            ),
        )
        .await?;
        match timed(self.timeout, confirm).await? {
            Confirmation::Ack(None) | Confirmation::NotRequested => Ok(()),
            Confirmation::Ack(Some(_)) => Err(BrokerError::Amqp(format!(
                "no queue took the message (routing key {:?}): the queue does not exist",
                p.routing_key
            ))),
            Confirmation::Nack(_) => Err(BrokerError::Amqp(
                "RabbitMQ refused the message (nack)".into(),
            )),
        }
    }

    /// Publishes a remote-control call and gathers the replies that arrive within `window`
    /// on a queue of the call's own, bound to the reply exchange with the call's routing key.
    async fn call(
        &self,
        message: &str,
        reply: &Reply,
        window: Duration,
    ) -> Result<Vec<ControlReply>, BrokerError> {
        let p = Publication::from_envelope(message)
            .map_err(|e| BrokerError::Amqp(format!("unreadable control message: {e}")))?;
        let (connection, _) = self.live().await?;
        let ch = timed(self.timeout, connection.create_channel()).await?;
        let collected = self.collect(&ch, &p, reply, window).await;
        let _ = ch.close(200, ShortString::from("done")).await;
        collected
    }

    async fn collect(
        &self,
        ch: &Channel,
        p: &Publication,
        reply: &Reply,
        window: Duration,
    ) -> Result<Vec<ControlReply>, BrokerError> {
        declare_exchange(
            ch,
            protocol::REPLY_EXCHANGE,
            ExchangeKind::Direct,
            false,
            self.timeout,
        )
        .await?;
        let (queue, mut consumer) = listen(
            ch,
            &reply.list(),
            FieldTable::default(),
            protocol::REPLY_EXCHANGE,
            &reply.oid,
            "",
            self.timeout,
        )
        .await?;
        self.send(p).await?;
        let deadline = tokio::time::Instant::now() + window;
        let mut out = Vec::new();
        while let Ok(Some(delivery)) = tokio::time::timeout_at(deadline, consumer.next()).await {
            let Ok(delivery) = delivery else { break };
            let ticket = delivery
                .properties
                .headers()
                .as_ref()
                .and_then(|h| h.inner().get("ticket").map(json_value))
                .and_then(|v| v.as_str().map(str::to_string));
            match protocol::parse_control_reply_body(&delivery.data, ticket) {
                Ok(r) if r.ticket.as_deref().is_none_or(|t| t == reply.ticket) => out.push(r),
                Ok(_) => {}
                Err(e) => tracing::debug!(error = %e, "unreadable remote-control reply"),
            }
        }
        let _ = timed(
            self.timeout,
            ch.queue_delete(queue, QueueDeleteOptions::default()),
        )
        .await;
        Ok(out)
    }
}

async fn declare_exchange(
    ch: &Channel,
    name: &str,
    kind: ExchangeKind,
    durable: bool,
    timeout: Duration,
) -> Result<(), BrokerError> {
    timed(
        timeout,
        ch.exchange_declare(
            ShortString::from(name),
            kind,
            ExchangeDeclareOptions {
                durable,
                ..ExchangeDeclareOptions::default()
            },
            FieldTable::default(),
        ),
    )
    .await
}

#[async_trait::async_trait]
impl Broker for AmqpBroker {
    fn sees_messages(&self) -> bool {
        false
    }

    async fn publish(&self, _list: &str, message: &str) -> Result<(), BrokerError> {
        let p = Publication::from_envelope(message)
            .map_err(|e| BrokerError::Amqp(format!("unreadable task message: {e}")))?;
        self.send(&p).await
    }

    async fn contains(&self, _list: &str, _message: &str) -> Result<bool, BrokerError> {
        Ok(false)
    }

    async fn withdraw(&self, _list: &str, _message: &str) -> Result<bool, BrokerError> {
        Ok(false)
    }

    async fn unacked(&self, _delivery_tag: &str) -> Result<bool, BrokerError> {
        Ok(false)
    }

    /// Nothing to do: a worker acknowledges its own messages, and RabbitMQ keeps no record
    /// the pool could edit.
    async fn forget_unacked(&self, _delivery_tag: &str) -> Result<(), BrokerError> {
        Ok(())
    }

    async fn revoke(&self, celery_ids: &[String]) -> Result<u64, BrokerError> {
        let p = Publication::from_envelope(&revoke_broadcast(celery_ids))
            .map_err(|e| BrokerError::Amqp(format!("unreadable control message: {e}")))?;
        self.send(&p).await?;
        Ok(0)
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

    async fn results(&self, celery_ids: &[String]) -> Result<Vec<Option<ResultMeta>>, BrokerError> {
        read_results(&self.backend, celery_ids).await
    }

    async fn inspect(
        &self,
        method: &str,
        arguments: Value,
        window: Duration,
    ) -> Result<Vec<ControlReply>, BrokerError> {
        let (message, reply) = inspect_call(method, &arguments, window);
        self.call(&message, &reply, window).await
    }

    async fn close(&self) {
        self.drop_live().await;
    }

    async fn server_facts(&self) -> (BrokerFacts, Result<ServerFacts, BrokerError>) {
        let broker = async {
            let (connection, _) = self.live().await?;
            let ch = timed(self.timeout, connection.create_channel()).await?;
            let _ = ch.close(200, ShortString::from("checked")).await;
            Ok(match self.url.parse::<lapin::uri::AMQPUri>() {
                Ok(u) => format!(
                    "RabbitMQ at {}:{}, vhost {:?}",
                    u.authority.host, u.authority.port, u.vhost
                ),
                Err(_) => "RabbitMQ".to_string(),
            })
        };
        let (broker, backend) = tokio::join!(broker, self.backend.server_facts(""));
        (
            BrokerFacts::Amqp(broker),
            backend.map_err(BrokerError::from),
        )
    }
}

// --- worker events ------------------------------------------------------------------------------

/// Consumes the workers' events from RabbitMQ until `shutdown` turns true, reconnecting
/// forever with backoff, and reports them as [`Feed::CeleryEvents`] to `subscriber`: a queue
/// of its own (exclusive, gone with the connection) bound to `celeryev` with `worker.#`.
/// `connected` is reported once the queue is bound, so nothing published after it is missed.
pub async fn run_events(
    url: String,
    subscriber: Arc<dyn Subscriber>,
    mut shutdown: watch::Receiver<bool>,
) {
    let feeds = [Feed::CeleryEvents];
    let mut backoff = Duration::from_millis(100);
    let mut logged = false;
    loop {
        if *shutdown.borrow() {
            return;
        }
        match subscribe_events(&url).await {
            Ok((connection, mut consumer)) => {
                backoff = Duration::from_millis(100);
                tracing::info!("worker events subscribed on RabbitMQ");
                subscriber.connected(&feeds).await;
                logged = false;
                loop {
                    tokio::select! {
                        _ = shutdown.changed() => {
                            if *shutdown.borrow() {
                                let _ = connection.close(200, ShortString::from("shutdown")).await;
                                return;
                            }
                        }
                        d = consumer.next() => {
                            let Some(Ok(d)) = d else { break };
                            match protocol::parse_event_body(&d.data) {
                                Ok(events) => subscriber.celery_events(events).await,
                                Err(e) => tracing::debug!(error = %e, "unreadable celery event"),
                            }
                        }
                    }
                }
                tracing::warn!("RabbitMQ event connection lost; reconnecting");
                subscriber.disconnected(&feeds).await;
                let _ = connection
                    .close(200, ShortString::from("reconnecting"))
                    .await;
            }
            Err(e) => {
                if !logged {
                    tracing::warn!(error = %e, "cannot subscribe to worker events on RabbitMQ yet; retrying");
                    logged = true;
                } else {
                    tracing::debug!(error = %e, "RabbitMQ event reconnect failed");
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = shutdown.changed() => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}

/// Declares an exclusive queue of the channel's connection (`name`, or one RabbitMQ names when
/// empty; gone with its consumer), binds it to `exchange` with `key`, and consumes it without
/// acknowledgements: how the pool listens for remote-control replies and worker events.
/// Returns the queue's name and the consumer.
async fn listen(
    ch: &Channel,
    name: &str,
    arguments: FieldTable,
    exchange: &str,
    key: &str,
    consumer_tag: &str,
    timeout: Duration,
) -> Result<(ShortString, lapin::Consumer), BrokerError> {
    let queue = timed(
        timeout,
        ch.queue_declare(
            ShortString::from(name),
            QueueDeclareOptions {
                exclusive: true,
                auto_delete: true,
                ..QueueDeclareOptions::default()
            },
            arguments,
        ),
    )
    .await?;
    let queue = queue.name().clone();
    timed(
        timeout,
        ch.queue_bind(
            queue.clone(),
            ShortString::from(exchange),
            ShortString::from(key),
            QueueBindOptions::default(),
            FieldTable::default(),
        ),
    )
    .await?;
    let consumer = timed(
        timeout,
        ch.basic_consume(
            queue.clone(),
            ShortString::from(consumer_tag),
            BasicConsumeOptions {
                no_ack: true,
                ..BasicConsumeOptions::default()
            },
            FieldTable::default(),
        ),
    )
    .await?;
    Ok((queue, consumer))
}

async fn subscribe_events(url: &str) -> Result<(Connection, lapin::Consumer), BrokerError> {
    let timeout = Duration::from_secs(3);
    let connection = connect(url, timeout).await?;
    let ch = timed(timeout, connection.create_channel()).await?;
    declare_exchange(&ch, EVENT_EXCHANGE, ExchangeKind::Topic, true, timeout).await?;
    let mut args = FieldTable::default();
    // Events older than a minute are of no use to the reaper: never let them pile up.
    args.insert(
        ShortString::from("x-message-ttl"),
        AMQPValue::LongInt(60_000),
    );
    let (_, consumer) = listen(
        &ch,
        "",
        args,
        EVENT_EXCHANGE,
        "worker.#",
        "worker-pool-events",
        timeout,
    )
    .await?;
    Ok((connection, consumer))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::celery::protocol::TaskSpec;
    use std::path::PathBuf;

    /// A message captured from a real Celery 5.7 over RabbitMQ (`capture_amqp.py`, run by
    /// `scripts/capture-celery-wire.sh`): `{exchange, routing_key, properties, headers, body}`.
    fn fixture(name: &str) -> Value {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/celery-wire/amqp")
            .join(name);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("fixture {} is required: {e}", path.display()));
        serde_json::from_str(&text).expect("a fixture is JSON")
    }

    /// What a publication puts on the wire, in the fixtures' shape (the headers through an
    /// AMQP field table and back, as a worker reads them).
    fn on_the_wire(p: &Publication) -> Value {
        let props = properties(p);
        let mut properties = serde_json::Map::new();
        properties.insert("content_type".into(), p.content_type.clone().into());
        properties.insert("content_encoding".into(), p.content_encoding.clone().into());
        properties.insert("delivery_mode".into(), (*props.delivery_mode()).into());
        properties.insert("priority".into(), (*props.priority()).into());
        if let Some(id) = props.correlation_id() {
            properties.insert("correlation_id".into(), id.as_str().into());
        }
        serde_json::json!({
            "exchange": p.exchange,
            "routing_key": p.routing_key,
            "properties": properties,
            "headers": json_object(props.headers().as_ref().expect("headers are set")),
            "body": String::from_utf8(p.body.clone()).unwrap(),
        })
    }

    fn kwargs() -> serde_json::Map<String, Value> {
        let mut m = serde_json::Map::new();
        m.insert("full".into(), Value::Bool(false));
        m.insert("batch_size".into(), Value::from(1000));
        m.insert("dry_run".into(), Value::Bool(false));
        m
    }

    #[test]
    fn a_task_goes_out_as_celery_publishes_it_over_rabbitmq() {
        let mut expected = fixture("task_plain_hubspot_all.json");
        let id = expected["headers"]["id"].as_str().unwrap().to_string();
        let origin = expected["headers"]["origin"].as_str().unwrap().to_string();
        let kw = kwargs();
        let msg = protocol::task_message(&TaskSpec {
            task_name: "hubspot.all",
            celery_id: &id,
            kwargs: &kw,
            queue: "celery",
            priority: 0,
            origin: &origin,
            delivery_tag: "f965b7e3-ebb5-4095-9a42-a5a92294beba",
        });
        let p = Publication::from_envelope(&msg.json).unwrap();
        // Celery's client asks for replies on an address of its own; the pool reads results
        // from the backend and sets none.
        assert!(expected["properties"]["reply_to"].is_string());
        expected["properties"]
            .as_object_mut()
            .unwrap()
            .remove("reply_to");
        assert_eq!(on_the_wire(&p), expected);
        assert_eq!(p.reply_to, None);
    }

    #[test]
    fn the_headers_keep_celerys_types_through_a_field_table() {
        let kw = kwargs();
        let msg = protocol::task_message(&TaskSpec {
            task_name: "hubspot.all",
            celery_id: "c1",
            kwargs: &kw,
            queue: "celery",
            priority: 0,
            origin: "o",
            delivery_tag: "t",
        });
        let p = Publication::from_envelope(&msg.json).unwrap();
        let table = field_table(&p.headers);
        let get = |k: &str| table.inner().get(k).cloned().unwrap();
        assert_eq!(get("retries"), AMQPValue::LongInt(0));
        assert_eq!(get("shadow"), AMQPValue::Void);
        assert_eq!(get("ignore_result"), AMQPValue::Boolean(false));
        assert_eq!(
            get("timelimit"),
            AMQPValue::FieldArray(FieldArray::from(vec![AMQPValue::Void, AMQPValue::Void]))
        );
        assert_eq!(get("stamps"), AMQPValue::FieldTable(FieldTable::default()));
        assert!(matches!(get("task"), AMQPValue::LongString(s) if s.as_bytes() == b"hubspot.all"));
        // Every JSON value comes back as it went.
        let odd = serde_json::json!({
            "big": 5_000_000_000_i64, "neg": -3, "f": 1.5, "s": "é", "n": null,
            "nested": {"a": [1, "b", [true]]}
        });
        let map = odd.as_object().unwrap();
        assert_eq!(Value::Object(json_object(&field_table(map))), odd);
        assert_eq!(
            amqp_value(&odd["big"]),
            AMQPValue::LongLongInt(5_000_000_000)
        );
    }

    #[test]
    fn remote_control_goes_out_as_celery_sends_it_over_rabbitmq() {
        // revoke: no reply; the body is Celery's byte for byte.
        let expected = fixture("pidbox_revoke_from_celery.json");
        let body: Value = serde_json::from_str(expected["body"].as_str().unwrap()).unwrap();
        let id = body["arguments"]["task_id"].as_str().unwrap().to_string();
        let expires = expected["headers"]["expires"].as_f64().unwrap();
        let p = Publication::from_envelope(&protocol::revoke_message(&[id], "t", expires)).unwrap();
        let mut wire = on_the_wire(&p);
        // The clock is the sender's own Lamport clock.
        wire["headers"]["clock"] = expected["headers"]["clock"].clone();
        assert_eq!(wire, expected);

        // query_task and active ask for replies on the reply exchange, with Celery's ticket.
        for (file, method) in [
            ("pidbox_query_task_from_celery.json", "query_task"),
            ("pidbox_active_from_celery.json", "active"),
        ] {
            let expected = fixture(file);
            let body: Value = serde_json::from_str(expected["body"].as_str().unwrap()).unwrap();
            let reply = Reply {
                oid: body["reply_to"]["routing_key"].as_str().unwrap().into(),
                ticket: body["ticket"].as_str().unwrap().into(),
            };
            let expires = expected["headers"]["expires"].as_f64().unwrap();
            let message = if method == "query_task" {
                let ids: Vec<String> = body["arguments"]["ids"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap().to_string())
                    .collect();
                protocol::query_task_message(&ids, &reply, "t", expires)
            } else {
                protocol::inspect_message(method, &body["arguments"], &reply, "t", expires)
            };
            let mut wire = on_the_wire(&Publication::from_envelope(&message).unwrap());
            wire["headers"]["clock"] = expected["headers"]["clock"].clone();
            assert_eq!(wire, expected, "{method}");
        }
    }

    #[test]
    fn worker_events_and_replies_are_read_from_rabbitmq_bodies() {
        let beat = fixture("event_worker.heartbeat.json");
        let events = protocol::parse_event_body(beat["body"].as_str().unwrap().as_bytes()).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].kind, "worker-heartbeat");
        assert_eq!(
            events[0].hostname,
            beat["headers"]["hostname"].as_str().unwrap()
        );
        assert_eq!(events[0].freq, Some(2.0));
        assert!(events[0].pid.is_some());
        for (file, kind) in [
            ("event_worker.online.json", "worker-online"),
            ("event_worker.offline.json", "worker-offline"),
        ] {
            let e = fixture(file);
            let events =
                protocol::parse_event_body(e["body"].as_str().unwrap().as_bytes()).unwrap();
            assert_eq!(events[0].kind, kind);
        }
        // task.multi: a list of task events in one message.
        let multi = fixture("event_task.multi.json");
        let events =
            protocol::parse_event_body(multi["body"].as_str().unwrap().as_bytes()).unwrap();
        assert!(!events.is_empty());
        assert!(events
            .iter()
            .all(|e| e.kind.starts_with("task-") && e.task_id.is_some()));

        let reply = fixture("query_task_reply.json");
        let ticket = reply["headers"]["ticket"].as_str().map(str::to_string);
        let parsed = protocol::parse_control_reply_body(
            reply["body"].as_str().unwrap().as_bytes(),
            ticket.clone(),
        )
        .unwrap();
        assert_eq!(parsed.ticket, ticket);
        let q = protocol::query_task_reply(parsed).unwrap();
        assert_eq!(q.held.len(), 1);
        assert_eq!(q.held[0].1, "active");
    }

    #[test]
    fn broker_urls_are_read_as_celery_reads_them() {
        let ok = |u: &str| normalize_url(u).unwrap();
        assert_eq!(
            ok("amqp://guest:guest@localhost:5672//"),
            "amqp://guest:guest@localhost:5672/%2F"
        );
        assert_eq!(
            ok("amqp://guest:guest@localhost:5672/"),
            "amqp://guest:guest@localhost:5672/%2F"
        );
        assert_eq!(ok("amqp://h"), "amqp://h/%2F");
        assert_eq!(ok("pyamqp://u:p@h:5673/crm"), "amqp://u:p@h:5673/crm");
        assert_eq!(
            ok("amqps://u:p@h/a%2Fb?heartbeat=30"),
            "amqps://u:p@h/a%2Fb?heartbeat=30"
        );
        assert!(is_amqp_url("pyamqp://h") && !is_amqp_url("redis://h"));
        for bad in [
            "amqp://",
            "amqp://u:p@/v",
            "redis://h:6379/0",
            "amqp://h:notaport/v",
        ] {
            assert!(normalize_url(bad).is_err(), "{bad} was accepted");
        }
    }
}
