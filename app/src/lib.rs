//! Worker Pool's shared crate: what the server and the browser have in common.
//!
//! - [`types`]: the wire types (`WorkerTask`, `TaskStatus`, `PoolStatus`, `PoolConfig`, …), plain
//!   serde data with their validation rules, no I/O.
//! - [`errors`]: [`AppError`](errors::AppError), the one error type that crosses the wire.
//! - [`api`]: the server functions the dashboard calls.
//! - `backend` (feature `ssr`): the trait the server implements and the functions reach
//!   through Leptos context.
//! - [`dashboard`]: the Leptos components, rendered on the server and hydrated in the browser,
//!   kept live by server pushes (`dashboard::live`).

pub mod api;
#[cfg(feature = "ssr")]
pub mod backend;
pub mod dashboard;
pub mod errors;
pub mod types;

pub use dashboard::{shell, App};
