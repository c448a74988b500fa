//! The pub/sub listener: result-backend notifications, Celery events and the pool's own change
//! channel, each on a dedicated connection per Redis server, reconnecting forever.
//!
//! Pub/sub has no replay. So the listener reports every (re)subscription through
//! [`Subscriber::connected`] *after* the subscription is in place, and the scheduler then
//! reconciles by reading the result keys of everything it thinks is running: whatever happened
//! while the connection was down is picked up, and nothing published from then on is missed.

use super::protocol::{self, Event, ResultMeta};
use crate::connection::View;
use futures::StreamExt;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// What a subscription carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Feed {
    /// `celery-task-meta-*` on the result backend's server.
    Results,
    /// `/<db>.celeryev/worker.*` on the broker's server.
    CeleryEvents,
    /// The pool's `<prefix>:events` channel on the store's server.
    PoolEvents,
}

/// Receives what the listener hears.
#[async_trait::async_trait]
pub trait Subscriber: Send + Sync + 'static {
    /// The feeds are subscribed (again): reconcile what may have been missed.
    async fn connected(&self, feeds: &[Feed]);
    /// The connection carrying these feeds broke; messages may be lost until `connected`.
    async fn disconnected(&self, feeds: &[Feed]);
    /// A result-backend value was published.
    async fn result(&self, meta: ResultMeta);
    /// Celery events arrived (one message may carry several).
    async fn celery_events(&self, events: Vec<Event>);
    /// The pool changed (any replica).
    async fn pool_event(&self, payload: &str);
}

/// One subscription: a feed and the channel or pattern it listens on.
#[derive(Clone, Debug)]
struct Subscription {
    feed: Feed,
    channel: String,
    pattern: bool,
}

/// Where each feed comes from.
#[derive(Clone, Debug)]
pub struct ListenerConfig {
    /// The result backend's URL.
    pub backend_url: String,
    /// The broker's URL (events are on its database number).
    pub broker_url: String,
    /// The store's URL.
    pub store_url: String,
    /// The pool's change channel.
    pub pool_events_channel: String,
    /// Listen to Celery events (worker liveness).
    pub celery_events: bool,
}

/// Groups the subscriptions by Redis server: pub/sub is server-wide, so one connection per
/// server carries every feed that lives there.
fn plan(cfg: &ListenerConfig) -> redis::RedisResult<BTreeMap<String, (String, Vec<Subscription>)>> {
    let mut by_server: BTreeMap<String, (String, Vec<Subscription>)> = BTreeMap::new();
    let mut add = |url: &str, sub: Subscription| -> redis::RedisResult<()> {
        let target = crate::connection::RedisTarget::parse(url)?;
        by_server
            .entry(target.addr)
            .or_insert_with(|| (url.to_string(), Vec::new()))
            .1
            .push(sub);
        Ok(())
    };
    add(
        &cfg.backend_url,
        Subscription {
            feed: Feed::Results,
            channel: format!("{}*", protocol::RESULT_KEY_PREFIX),
            pattern: true,
        },
    )?;
    if cfg.celery_events {
        let db = crate::connection::RedisTarget::parse(&cfg.broker_url)?.db;
        add(
            &cfg.broker_url,
            Subscription {
                feed: Feed::CeleryEvents,
                channel: protocol::worker_event_pattern(db),
                pattern: true,
            },
        )?;
    }
    add(
        &cfg.store_url,
        Subscription {
            feed: Feed::PoolEvents,
            channel: cfg.pool_events_channel.clone(),
            pattern: false,
        },
    )?;
    Ok(by_server)
}

/// Runs every connection until `shutdown` turns true.
pub async fn run(
    cfg: ListenerConfig,
    subscriber: Arc<dyn Subscriber>,
    shutdown: watch::Receiver<bool>,
) -> redis::RedisResult<()> {
    let plan = plan(&cfg)?;
    let mut tasks = Vec::new();
    for (_, (url, subs)) in plan {
        let subscriber = subscriber.clone();
        let shutdown = shutdown.clone();
        tasks.push(tokio::spawn(async move {
            run_connection(url, subs, subscriber, shutdown).await;
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    Ok(())
}

async fn run_connection(
    url: String,
    subs: Vec<Subscription>,
    subscriber: Arc<dyn Subscriber>,
    mut shutdown: watch::Receiver<bool>,
) {
    let feeds: Vec<Feed> = subs.iter().map(|s| s.feed).collect();
    let mut backoff = Duration::from_millis(100);
    let mut was_connected = false;
    loop {
        if *shutdown.borrow() {
            return;
        }
        match subscribe(&url, &subs).await {
            Ok((mut pubsub, primary)) => {
                backoff = Duration::from_millis(100);
                tracing::info!(feeds = ?feeds, "pub/sub subscribed");
                subscriber.connected(&feeds).await;
                was_connected = true;
                let mut stream = pubsub.on_message();
                // Behind Sentinel, a primary demoted without dying keeps the subscription
                // open: ask the Sentinels every second, and resubscribe when it moved.
                let mut check = tokio::time::interval(PRIMARY_CHECK);
                check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tokio::select! {
                        _ = shutdown.changed() => {
                            if *shutdown.borrow() {
                                return;
                            }
                        }
                        msg = stream.next() => {
                            let Some(msg) = msg else { break };
                            route(&*subscriber, msg.get_channel_name(), msg.get_payload_bytes()).await;
                        }
                        _ = check.tick(), if primary.is_some() => {
                            let (target, at) = primary.as_ref().expect("checked");
                            match target.consensus(PRIMARY_CHECK).await {
                                View::Agreed(now) if &now == at => {}
                                // Sentinel itself unreachable: stay with the server we know.
                                View::NoAnswer(_) => {}
                                View::Agreed(now) => {
                                    tracing::warn!(from = %at, to = %now, "the Redis primary changed; subscribing on the new one");
                                    break;
                                }
                                View::Unsettled(e) => {
                                    tracing::warn!(primary = %at, error = %e, "a Redis failover is under way; subscribing again once it is over");
                                    break;
                                }
                            }
                        }
                    }
                }
                tracing::warn!(feeds = ?feeds, "pub/sub connection lost; reconnecting");
                subscriber.disconnected(&feeds).await;
            }
            Err(e) => {
                if was_connected {
                    tracing::debug!(error = %e, "pub/sub reconnect failed");
                } else {
                    tracing::warn!(error = %e, feeds = ?feeds, "pub/sub cannot connect yet; retrying");
                    was_connected = true; // log the first failure only
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

/// How often a subscription behind Sentinel checks that its server is still the primary.
const PRIMARY_CHECK: Duration = Duration::from_secs(1);

/// Behind Sentinel: the target and the primary's address the subscription is on.
type Primary = Option<(crate::connection::SentinelTarget, String)>;

async fn subscribe(
    url: &str,
    subs: &[Subscription],
) -> redis::RedisResult<(redis::aio::PubSub, Primary)> {
    let connect = |client: redis::Client| async move {
        tokio::time::timeout(Duration::from_secs(3), client.get_async_pubsub())
            .await
            .map_err(|_| redis::RedisError::from((redis::ErrorKind::Io, "connect timed out")))?
    };
    let (mut pubsub, primary) = match crate::connection::Endpoint::parse(url, None)? {
        crate::connection::Endpoint::Direct(url) => {
            (connect(redis::Client::open(url)?).await?, None)
        }
        crate::connection::Endpoint::Sentinel(t) => {
            let (addr, client) = t.primary(Duration::from_secs(3)).await?;
            (connect(client).await?, Some((t, addr)))
        }
        // A Redis Cluster carries a PUBLISH to every node: any node that answers will do.
        crate::connection::Endpoint::Cluster(t) => {
            let mut last = None;
            let mut found = None;
            for node in t.node_urls() {
                match connect(redis::Client::open(node)?).await {
                    Ok(p) => {
                        found = Some(p);
                        break;
                    }
                    Err(e) => last = Some(e),
                }
            }
            match found {
                Some(p) => (p, None),
                None => {
                    return Err(last.unwrap_or_else(|| {
                        redis::RedisError::from((redis::ErrorKind::Io, "no cluster node"))
                    }))
                }
            }
        }
    };
    for s in subs {
        if s.pattern {
            pubsub.psubscribe(&s.channel).await?;
        } else {
            pubsub.subscribe(&s.channel).await?;
        }
    }
    Ok((pubsub, primary))
}

async fn route(subscriber: &dyn Subscriber, channel: &str, payload: &[u8]) {
    if let Some(celery_id) = channel.strip_prefix(protocol::RESULT_KEY_PREFIX) {
        match protocol::parse_result_meta(payload, celery_id) {
            Ok(meta) => subscriber.result(meta).await,
            Err(e) => tracing::warn!(channel, error = %e, "unreadable result notification"),
        }
    } else if channel.contains(".celeryev/") {
        match protocol::parse_events(payload) {
            Ok(events) => subscriber.celery_events(events).await,
            Err(e) => tracing::debug!(channel, error = %e, "unreadable celery event"),
        }
    } else {
        subscriber
            .pool_event(&String::from_utf8_lossy(payload))
            .await;
    }
}
