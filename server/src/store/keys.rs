//! Every Redis key name the pool uses, built in one place under one prefix
//! (`WORKER_POOL_PREFIX`, default `worker_pool`), so several pools or test runs share a Redis.
//!
//! | key | type | holds |
//! |---|---|---|
//! | `<p>:config` | HASH | `max_workers` |
//! | `<p>:seq` | STRING | arrival counter (FIFO within a priority) |
//! | `<p>:token` | STRING | fencing-token counter, one per dispatch |
//! | `<p>:queue` | ZSET | queued task ids, scored by priority then arrival |
//! | `<p>:running` | ZSET | the slots: running task ids, scored by their dispatch's token |
//! | `<p>:finished` | ZSET | finished task ids by finish time (history, retention) |
//! | `<p>:task:<id>` | HASH | one task (field names in `store::fields`) |
//! | `<p>:task:<id>:msg` | STRING | a running task's Celery message, as pushed (kept beside the hash so the hash keeps Redis' compact encoding) |
//! | `<p>:workers:seen` | HASH | Celery worker hostname → last heartbeat or online time, ms |
//! | `<p>:workers:proc` | HASH | hostname → `<main pid>:<since ms>`: the process now holding the name, and the earliest it can have come online |
//! | `<p>:workers:offline` | HASH | hostname → `<last worker-offline time>:<tasks it still ran>` |
//! | `<p>:superseded` | ZSET | Celery ids the pool replaced by another dispatch of the same task (a re-sent lost message, a requeue) → when; kept 3 h, to revoke stale copies |
//! | `<p>:stats` | HASH | counters: `messages_resent`, `lost_messages_cancelled` |
//! | `<p>:session:<id>` | STRING | a signed-in dashboard session (expires by itself) |
//! | `<p>:events` | pub/sub channel | a line per change, for live views on every replica |

/// The key names of one pool.
#[derive(Clone, Debug)]
pub struct Keys {
    /// The prefix itself.
    pub prefix: String,
    /// `<p>:config`.
    pub config: String,
    /// `<p>:seq`.
    pub seq: String,
    /// `<p>:token`.
    pub token: String,
    /// `<p>:queue`.
    pub queue: String,
    /// `<p>:running`.
    pub running: String,
    /// `<p>:finished`.
    pub finished: String,
    /// `<p>:events`.
    pub events: String,
    /// `<p>:task:` (append an id).
    pub task_prefix: String,
    /// `<p>:workers:seen`.
    pub workers_seen: String,
    /// `<p>:workers:proc`.
    pub workers_proc: String,
    /// `<p>:workers:offline`.
    pub workers_offline: String,
    /// `<p>:superseded`.
    pub superseded: String,
    /// `<p>:stats`.
    pub stats: String,
}

impl Keys {
    /// The keys under `prefix`.
    pub fn new(prefix: &str) -> Self {
        let k = |s: &str| format!("{prefix}:{s}");
        Keys {
            prefix: prefix.to_string(),
            config: k("config"),
            seq: k("seq"),
            token: k("token"),
            queue: k("queue"),
            running: k("running"),
            finished: k("finished"),
            events: k("events"),
            task_prefix: k("task:"),
            workers_seen: k("workers:seen"),
            workers_proc: k("workers:proc"),
            workers_offline: k("workers:offline"),
            superseded: k("superseded"),
            stats: k("stats"),
        }
    }

    /// `<p>:task:<id>`.
    pub fn task(&self, id: &str) -> String {
        format!("{}{id}", self.task_prefix)
    }

    /// `<p>:session:<id>`.
    pub fn session(&self, id: &str) -> String {
        format!("{}:session:{id}", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn names() {
        let k = super::Keys::new("wp");
        assert_eq!(k.queue, "wp:queue");
        assert_eq!(k.task("abc"), "wp:task:abc");
    }
}
