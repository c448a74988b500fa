//! Worker Pool's server: a global concurrency limit and priority queue in front of Celery.
//!
//! A map of the crate (ARCHITECTURE.md has the long version):
//!
//! - [`config`]: every environment variable, read and validated once.
//! - [`connection`]: one way to reach Redis (lazy, reconnecting, every command with a
//!   deadline), for the store and the broker alike.
//! - [`registry`]: the task types the pool accepts.
//! - [`store`]: the pool's state: a trait and its Redis implementation (one Lua script per
//!   transition: the pool's rules, written once).
//! - [`celery`]: Celery's wire format, the broker commands and the pub/sub listener.
//! - [`scheduler`]: the policy (submit, dispatch, results, cancel, limits), over a store and a
//!   broker; no HTTP, no Redis types.
//! - [`story`]: a task's steps, for its page.
//! - [`stats`]: the pool's history by minute, gathered into the charts' steps.
//! - [`backend`]: the app crate's `PoolBackend` over the scheduler; errors become wire errors.
//! - [`http`]: the HTTP edge: the router and its layers, the seed's JSON API, the guard (who
//!   may change the pool), the live channel; [`auth`]: the authentication values it and the
//!   backend share (a leaf).
//! - [`cli`]: the management commands (`status`, `config`, `monitor`, …), API clients only.
//! - [`telemetry`]: tracing setup.
//!
//! The binary (`main.rs`) is thin: it reads the configuration, calls [`Pool::start`] and
//! [`serve`], which tests call too, on a listener bound to port 0.

pub mod auth;
pub mod backend;
pub mod celery;
pub mod cli;
pub mod config;
pub mod connection;
pub mod doctor;
pub mod eta;
pub mod forecast;
pub mod http;
pub mod metrics;
pub mod registry;
pub mod scheduler;
pub mod stats;
pub mod store;
pub mod story;
pub mod telemetry;
pub mod webhooks;

use crate::celery::listener::{self, ListenerConfig};
use crate::celery::RedisBroker;
use crate::config::Config;
use crate::connection::RedisTarget;
use crate::registry::Registry;
use crate::scheduler::{Scheduler, Settings};
use crate::store::RedisStore;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use backend::ServerBackend;
pub use http::{router, AppState};

/// Why the pool could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A Redis URL could not be used.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// The store could not be set up.
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// The task registry file is unusable.
    #[error(transparent)]
    Registry(#[from] registry::RegistryError),
    /// The broker's URL could not be used.
    #[error("CELERY_BROKER_URL: {0}")]
    Broker(String),
}

/// How often the store's health is checked (and the last state seen refreshed).
const PROBE_INTERVAL: std::time::Duration = std::time::Duration::from_millis(250);
/// How often lost workers are looked for.
const REAP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);
/// How often running tasks that no worker has started are checked for a lost message.
const LOST_CHECK_INTERVAL: std::time::Duration = std::time::Duration::from_secs(2);
/// How often max_runtime and max_queue_wait are checked.
const TIME_BOUNDS_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);
/// How often the pool's gauges are recorded in its per-minute history.
const STATS_SAMPLE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);
/// How often a replica looks for webhook events to deliver.
const HOOK_INTERVAL: std::time::Duration = std::time::Duration::from_millis(500);
/// A running pool: its HTTP state and its background tasks (listener, reconciliation, reaper).
pub struct Pool {
    /// What the HTTP layer serves.
    pub state: AppState,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Pool {
    /// Builds the pool from `config` and starts its background tasks. Redis need not be up:
    /// the listener keeps trying and reconciles once it is.
    pub fn start(config: &Config) -> Result<Self, StartError> {
        let amqp_broker = celery::amqp::is_amqp_url(&config.broker_url);
        let inline_broker = !amqp_broker
            && RedisTarget::parse(&config.redis_url)? == RedisTarget::parse(&config.broker_url)?;
        let store = RedisStore::new(
            &config.redis_url,
            &config.prefix,
            config.redis_timeout,
            inline_broker,
        )?;
        let store = match config.durability {
            Some(d) => store.with_durability(&config.redis_url, config.redis_timeout, d)?,
            None => store,
        };
        let broker: Arc<dyn celery::Broker> = if amqp_broker {
            Arc::new(
                celery::amqp::AmqpBroker::new(
                    &config.broker_url,
                    &config.result_backend_url,
                    config.redis_timeout,
                )
                .map_err(StartError::Broker)?,
            )
        } else {
            Arc::new(RedisBroker::new(
                &config.broker_url,
                &config.result_backend_url,
                config.redis_timeout,
            )?)
        };
        let registry = match &config.registry_file {
            Some(path) => Registry::from_file(path)?,
            None => Registry::default(),
        };
        let defaults = Settings::new(&config.celery_queue, inline_broker);
        let settings = Settings {
            retention: config.retention,
            audit_retention: config.audit_retention,
            webhook_urls: config
                .webhooks
                .as_ref()
                .map(|w| w.urls.clone())
                .unwrap_or_default(),
            origin: format!("worker-pool-{}@{}", std::process::id(), config.hostname),
            status_queue_limit: config.status_queue_limit,
            registry,
            reap: store::ReapPolicy {
                heartbeat_timeout: config.worker_timeout,
                on_lost: config.on_worker_lost,
                ..defaults.reap
            },
            cooldown: scheduler::CooldownPolicy {
                pattern: config.cooldown_pattern.clone(),
                base: config.cooldown,
                max: scheduler::COOLDOWN_MAX.max(config.cooldown),
            },
            aging: config.aging,
            lost: scheduler::LostPolicy {
                // The longest a publish to RabbitMQ can take: connect, declare, publish and
                // confirm, each bounded by the broker timeout.
                unconfirmed_for: config.redis_timeout * 10,
                ..defaults.lost
            },
            ..defaults
        };
        let events_channel = store.keys().events.clone();
        let scheduler = Arc::new(Scheduler::new(Arc::new(store), broker, settings));
        let backend = Arc::new(ServerBackend::new(
            scheduler,
            backend::Seed {
                max_workers: config.max_sync_workers,
                source_limits: config.source_limits.clone(),
            },
            config.security.clone(),
        ));
        let (stop, stop_rx) = watch::channel(false);

        let mut tasks = Vec::new();
        let listener_cfg = ListenerConfig {
            backend_url: config.result_backend_url.clone(),
            broker_url: config.broker_url.clone(),
            store_url: config.redis_url.clone(),
            pool_events_channel: events_channel,
            // Over RabbitMQ the events come from its own consumer (below).
            celery_events: !amqp_broker,
        };
        let subscriber: Arc<dyn listener::Subscriber> = backend.clone();
        let rx = stop_rx.clone();
        tasks.push(tokio::spawn(async move {
            if let Err(e) = listener::run(listener_cfg, subscriber, rx).await {
                tracing::error!(error = %e, "the pub/sub listener stopped");
            }
        }));
        if amqp_broker {
            let subscriber: Arc<dyn listener::Subscriber> = backend.clone();
            let url = config.broker_url.clone();
            let rx = stop_rx.clone();
            tasks.push(tokio::spawn(celery::amqp::run_events(url, subscriber, rx)));
        }

        // What `worker-pool doctor` would say, logged once: after a heartbeat timeout of
        // listening, so the workers' heartbeats have been heard.
        let doctor = backend.clone();
        let mut doctor_stop = stop_rx.clone();
        let wait = config.worker_timeout;
        tasks.push(tokio::spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = doctor_stop.changed() => return,
            }
            let report = crate::doctor::examine(doctor.scheduler()).await;
            for c in report.checks.iter().filter(|c| c.status != app::types::CheckStatus::Ok) {
                let fix = c.fix.as_deref().unwrap_or("");
                match c.status {
                    app::types::CheckStatus::Problem => tracing::error!(check = %c.check, subject = %c.subject, fix, "doctor: {}", c.message),
                    _ => tracing::warn!(check = %c.check, subject = %c.subject, fix, "doctor: {}", c.message),
                }
            }
            if report.ok {
                tracing::info!(queue = %report.queue, "doctor: nothing breaks the pool's guarantees (worker-pool doctor says more)");
            }
        }));

        let every = |period, now| (period, now, stop_rx.clone(), backend.clone());
        tasks.push(spawn_every(
            every(config.reconcile_interval, false),
            |b| async move {
                if b.scheduler().results_subscribed() {
                    if let Err(e) = b.resync().await {
                        tracing::warn!(error = %e, "periodic reconciliation failed");
                    }
                }
            },
        ));
        tasks.push(spawn_every(every(PROBE_INTERVAL, true), |b| async move {
            b.probe().await
        }));
        tasks.push(spawn_every(every(REAP_INTERVAL, true), |b| async move {
            b.reap_if_safe().await;
        }));
        tasks.push(spawn_every(
            every(LOST_CHECK_INTERVAL, false),
            |b| async move { b.check_lost_if_safe().await },
        ));
        tasks.push(spawn_every(
            every(TIME_BOUNDS_INTERVAL, false),
            |b| async move { b.enforce_time_bounds().await },
        ));
        tasks.push(spawn_every(
            every(STATS_SAMPLE_INTERVAL, true),
            |b| async move { b.sample_stats().await },
        ));

        if let Some(settings) = &config.webhooks {
            // Delivery runs on its own task: a slow receiver never holds the scheduler.
            let hooks = Arc::new(webhooks::Webhooks::new(settings.clone()));
            tasks.push(spawn_every(every(HOOK_INTERVAL, true), move |b| {
                let hooks = hooks.clone();
                async move {
                    if let Err(e) = hooks.tick(b.scheduler().store().as_ref()).await {
                        tracing::warn!(error = %e, "webhook delivery pass failed");
                    }
                }
            }));
        }

        tracing::info!(
            prefix = %config.prefix,
            queue = %config.celery_queue,
            inline_broker,
            "pool started"
        );
        Ok(Pool {
            state: AppState {
                leptos: config.leptos.clone(),
                backend,
                closing: Arc::new(watch::channel(false).0),
            },
            stop,
            tasks,
        })
    }

    /// Stops the background tasks and waits for them.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
        self.state.backend.scheduler().broker().close().await;
    }
}

/// When a periodic task runs: every `.0`, at once first when `.1`, until `.2` turns true; on
/// the backend `.3`.
type Every = (
    std::time::Duration,
    bool,
    watch::Receiver<bool>,
    Arc<ServerBackend>,
);

/// Runs `tick` on the backend periodically (see [`Every`]), one run at a time. A run that
/// overruns delays the next one rather than piling up.
fn spawn_every<F, Fut>(every: Every, tick: F) -> JoinHandle<()>
where
    F: Fn(Arc<ServerBackend>) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (period, now, mut stop, backend) = every;
    tokio::spawn(async move {
        let mut timer = tokio::time::interval(period);
        timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        if !now {
            timer.tick().await;
        }
        loop {
            tokio::select! {
                _ = timer.tick() => tick(backend.clone()).await,
                _ = stop.changed() => if *stop.borrow() { break },
            }
        }
    })
}

/// How long a client may take to send a request's headers before its connection is closed,
/// so a slow client cannot hold connections open for ever.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `state` on `listener` until `shutdown` completes, then ends the live channels,
/// finishes the requests in flight and returns. Each connection is served by hyper with
/// [`HEADER_READ_TIMEOUT`] (axum's own `serve` sets none).
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use hyper_util::server::conn::auto;
    use hyper_util::service::TowerToHyperService;

    let closing = state.closing.clone();
    let app = router(state);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        // Out of file descriptors and the like: wait a little, keep serving.
                        tracing::warn!(error = %e, "accepting a connection failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                // The client's address, for the audit trail (as axum's ConnectInfo).
                let service = TowerToHyperService::new(tower::ServiceExt::map_request(
                    app.clone(),
                    move |mut req: axum::http::Request<hyper::body::Incoming>| {
                        req.extensions_mut().insert(axum::extract::ConnectInfo(peer));
                        req
                    },
                ));
                let conn = builder
                    .serve_connection_with_upgrades(TokioIo::new(stream), service)
                    .into_owned();
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(error = %e, "a connection ended with an error");
                    }
                });
            }
            _ = &mut shutdown => break,
        }
    }
    drop(listener);
    // A graceful shutdown waits for every open response: an open dashboard's event stream
    // would hold it for ever.
    let _ = closing.send(true);
    graceful.shutdown().await;
    Ok(())
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!("SIGINT received, shutting down"),
        _ = terminate => tracing::info!("SIGTERM received, shutting down"),
    }
}
