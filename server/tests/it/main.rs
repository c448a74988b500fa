//! Worker Pool's integration tests: one binary, one module per area.
//!
//! They need a real Redis (`REDIS_URL`, default redis://127.0.0.1:6379/0); every test works
//! under its own key prefix and Celery queue and deletes its keys afterwards. The Celery
//! interop tests also need the demo venv (`WORKER_POOL_VENV`); `scripts/test.sh` provides both.
//! A missing service is a failure, never a skip.

mod api;
mod audit;
mod celery_interop;
mod cli;
mod cluster;
mod common;
mod failover;
mod fair_queue;
mod fake_celery;
mod hostile;
mod metrics;
mod openapi;
mod outage;
mod race;
mod scheduler;
mod search;
mod security;
mod shutdown;
mod stats;
mod store_contract;
mod webhooks;
mod workers;
