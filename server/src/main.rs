//! `worker-pool`: serves the dashboard and API (the default), or runs a management command
//! against a running server.

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::process::ExitCode;
use worker_pool::config::{redact_url, Config};
use worker_pool::Pool;

/// A global, runtime-configurable concurrency limit and priority queue in front of Celery.
///
/// With no command, serves the dashboard and the JSON API. The other commands manage a running
/// server over its API.
#[derive(Parser)]
#[command(
    name = "worker-pool",
    version,
    about,
    after_help = "Examples:\n  worker-pool                       # serve (configuration from the environment / .env)\n  worker-pool status --verbose\n  worker-pool config --max-workers 2\n  worker-pool --url http://pool.internal:3000 list-tasks --status failed"
)]
struct Cli {
    #[command(flatten)]
    opts: worker_pool::cli::Options,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the dashboard and the JSON API (what runs when no command is given).
    #[command(
        after_help = "Example:\n  MAX_SYNC_WORKERS=2 REDIS_URL=redis://127.0.0.1:6379/0 worker-pool serve"
    )]
    Serve,
    #[command(flatten)]
    Manage(worker_pool::cli::Command),
}

fn main() -> ExitCode {
    let _ = dotenvy::dotenv();
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => match serve() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("worker-pool: {e:#}");
                ExitCode::FAILURE
            }
        },
        Command::Manage(command) => worker_pool::cli::run(command, cli.opts),
    }
}

fn serve() -> anyhow::Result<()> {
    worker_pool::telemetry::init();
    let config = Config::from_env().context("invalid configuration")?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let pool = Pool::start(&config).context("cannot start the pool")?;
        let store = pool.state.backend.scheduler().store().clone();
        match store.ping().await {
            Ok(_) => tracing::info!(redis = %redact_url(&config.redis_url), "redis answers"),
            Err(e) => tracing::warn!(redis = %redact_url(&config.redis_url), error = %e,
                "redis does not answer yet; serving anyway and reconnecting in the background"),
        }
        if let Some(problem) = worker_pool::http::site_problem(&config.leptos) {
            tracing::error!("{problem}; the JSON API works, the dashboard does not");
        }
        match (config.security.auth_required(), config.site_addr.ip().is_loopback()) {
            (true, _) => tracing::info!("changes need WORKER_POOL_API_TOKEN (bearer) or a dashboard sign-in"),
            (false, true) => tracing::info!(
                "no WORKER_POOL_API_TOKEN: listening on loopback only ({}); anyone on this machine can change the pool",
                config.site_addr
            ),
            (false, false) => tracing::warn!(
                "no WORKER_POOL_API_TOKEN and listening on {}: anyone who can reach it can change the pool; set a token",
                config.site_addr
            ),
        }
        let listener = tokio::net::TcpListener::bind(config.site_addr)
            .await
            .with_context(|| format!("cannot listen on {}", config.site_addr))?;
        tracing::info!(addr = %config.site_addr, version = env!("CARGO_PKG_VERSION"),
            "worker-pool listening on http://{}", config.site_addr);
        worker_pool::serve(listener, pool.state.clone(), worker_pool::shutdown_signal()).await?;
        pool.stop().await;
        tracing::info!("stopped");
        Ok(())
    })
}
