//! Worker Pool's server: a global concurrency limit and priority queue in front of Celery.
//!
//! A map of the crate (ARCHITECTURE.md has the long version):
//!
//! - [`config`]: every environment variable, read and validated once.
//! - [`registry`]: the task types the pool accepts.
//! - [`store`]: the pool's state: a trait, its Redis implementation (one Lua script per
//!   transition) and an in-memory one for tests.
//! - [`celery`]: Celery's wire format, the broker commands and the pub/sub listener.
//! - [`scheduler`]: the policy (submit, dispatch, results, cancel, limits), over a store and a
//!   broker; no HTTP, no Redis types.
//! - [`backend`]: the app crate's `PoolBackend` over the scheduler; errors become wire errors.
//! - [`api`]: the seed's JSON API; [`http`]: the whole router (probes, API, dashboard, the
//!   live channel); [`security`]: who may change the pool, and the response headers.
//! - [`cli`]: the management commands (`status`, `config`, `monitor`, …), API clients only.
//! - [`telemetry`]: tracing setup.
//!
//! The binary (`main.rs`) is thin: it reads the configuration, calls [`Pool::start`] and
//! [`serve`], which tests call too, on a listener bound to port 0.

pub mod api;
pub mod backend;
pub mod celery;
pub mod cli;
pub mod config;
pub mod http;
pub mod registry;
pub mod scheduler;
pub mod security;
pub mod store;
pub mod telemetry;

use crate::celery::listener::{self, ListenerConfig};
use crate::celery::{RedisBroker, RedisTarget};
use crate::config::Config;
use crate::registry::Registry;
use crate::scheduler::{Scheduler, Settings};
use crate::store::RedisStore;
use std::future::Future;
use std::sync::Arc;
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
}

/// How often the store's health is checked (and the last state seen refreshed).
const PROBE_INTERVAL: std::time::Duration = std::time::Duration::from_millis(250);
/// How often lost workers are looked for.
const REAP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);
/// A new process holding a worker's hostname that came online this long after a task's
/// STARTED cannot have started it: the worker restarted (see `store/lua/worker_event.lua`).
const REAP_RESTART_GUARD: std::time::Duration = std::time::Duration::from_secs(1);
/// A `worker-offline` counts once this long has passed with nothing else from the worker: a
/// consumer reconnect sends an offline/online pair while its pool keeps running its tasks.
const REAP_OFFLINE_GRACE: std::time::Duration = std::time::Duration::from_secs(3);

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
        let inline_broker =
            RedisTarget::parse(&config.redis_url)? == RedisTarget::parse(&config.broker_url)?;
        let store = RedisStore::new(
            &config.redis_url,
            &config.prefix,
            config.redis_timeout,
            inline_broker,
        )?;
        let broker = RedisBroker::new(
            &config.broker_url,
            &config.result_backend_url,
            config.redis_timeout,
        )?;
        let registry = match &config.registry_file {
            Some(path) => Registry::from_file(path)?,
            None => Registry::default(),
        };
        let host = std::env::var("HOSTNAME")
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "localhost".into());
        let settings = Settings {
            celery_queue: config.celery_queue.clone(),
            retention: config.retention,
            inline_broker,
            origin: format!("worker-pool-{}@{host}", std::process::id()),
            status_queue_limit: config.status_queue_limit,
            registry,
            reap: store::ReapPolicy {
                heartbeat_timeout: config.worker_timeout,
                on_lost: config.on_worker_lost,
                restart_guard: REAP_RESTART_GUARD,
                offline_grace: REAP_OFFLINE_GRACE,
            },
        };
        let events_channel = store.keys().events.clone();
        let scheduler = Arc::new(Scheduler::new(Arc::new(store), Arc::new(broker), settings));
        let backend = Arc::new(ServerBackend::new(
            scheduler,
            config.max_sync_workers,
            config.security.clone(),
        ));
        let (stop, stop_rx) = watch::channel(false);

        let mut tasks = Vec::new();
        let listener_cfg = ListenerConfig {
            backend_url: config.result_backend_url.clone(),
            broker_url: config.broker_url.clone(),
            store_url: config.redis_url.clone(),
            pool_events_channel: events_channel,
            celery_events: true,
        };
        let subscriber: Arc<dyn listener::Subscriber> = backend.clone();
        let rx = stop_rx.clone();
        tasks.push(tokio::spawn(async move {
            if let Err(e) = listener::run(listener_cfg, subscriber, rx).await {
                tracing::error!(error = %e, "the pub/sub listener stopped");
            }
        }));

        let periodic = backend.clone();
        let interval = config.reconcile_interval;
        let mut rx = stop_rx.clone();
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        if periodic.scheduler().results_subscribed() {
                            if let Err(e) = periodic.resync().await {
                                tracing::warn!(error = %e, "periodic reconciliation failed");
                            }
                        }
                    }
                    _ = rx.changed() => if *rx.borrow() { break },
                }
            }
        }));

        let prober = backend.clone();
        let mut rx = stop_rx.clone();
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(PROBE_INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => prober.probe().await,
                    _ = rx.changed() => if *rx.borrow() { break },
                }
            }
        }));

        let reaper = backend.clone();
        let mut rx = stop_rx.clone();
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(REAP_INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => { reaper.reap_if_safe().await; }
                    _ = rx.changed() => if *rx.borrow() { break },
                }
            }
        }));

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
    }
}

/// Serves `state` on `listener` until `shutdown` completes, then finishes the requests in
/// flight and returns.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(state);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
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
