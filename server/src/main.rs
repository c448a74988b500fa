//! `worker-pool`: serves the dashboard and API (the default).

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::process::ExitCode;
use worker_pool::config::{redact_url, Config};
use worker_pool::Pool;

/// A global, runtime-configurable concurrency limit and priority queue in front of Celery.
#[derive(Parser)]
#[command(name = "worker-pool", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the dashboard and the JSON API (what runs when no command is given).
    Serve,
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
