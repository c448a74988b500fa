//! The values that cross the wire between the server, the browser and the CLI, in three
//! files of one idea each: the task model ([`task`]), what clients send and how it is checked
//! ([`requests`]), and what the pool reports ([`views`]).
//!
//! Everything here is plain data with serde on both sides: no I/O, no clocks, no Redis.
//! The JSON shapes follow the seed's API contract, so the dashboard, the CLI and any external
//! client read the same objects.

mod requests;
mod task;
mod views;

pub use requests::*;
pub use task::*;
pub use views::*;

/// The seed's base path of the JSON API, on the server and in its clients.
pub const API_BASE: &str = "/ingestion/crm-dashboard/api/worker-pool";
