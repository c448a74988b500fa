//! Where the pool's state lives: the [`Store`] trait and its one implementation,
//! [`RedisStore`]. Every transition that touches a slot is one Lua script (`lua/*.lua`), so
//! several server processes against one Redis never over-admit. The scripts are the pool's
//! rules, written once; Rust only calls them and decodes their replies.
//!
//! The contract, in short: a slot is a task id's membership of the running set, keyed by its
//! dispatch's fencing token. Only [`Store::dispatch`] adds to it (when a slot is free and the
//! task is the head of the queue) and only [`Store::finish`] and [`Store::cancel`] remove from
//! it (on evidence, for the current dispatch).

mod contract;
mod fields;
mod keys;
mod redis_store;
mod scripts;

pub use contract::*;
pub use keys::Keys;
pub use redis_store::RedisStore;
