//! Every Redis key name the pool uses, under one prefix (`WORKER_POOL_PREFIX`, default
//! `worker_pool`), so several pools or test runs share a Redis. The Lua scripts name their keys
//! from the prefix in `lua/common.lua` (`K`); this table documents both, and `Keys` builds the
//! ones Rust reads or writes itself.
//!
//! | key | type | holds |
//! |---|---|---|
//! | `<p>:config` | HASH | `max_workers`; `aging` (ms of waiting worth one priority point, 0 = off); `groups` (the grouping version migrated to) |
//! | `<p>:seq` | STRING | arrival counter (FIFO within a priority) |
//! | `<p>:token` | STRING | fencing-token counter, one per dispatch |
//! | `<p>:queue` | ZSET | queued task ids, scored by priority then arrival (or, with aging, by arrival time offset by priority) |
//! | `<p>:running` | ZSET | the slots: running task ids, scored by their dispatch's token |
//! | `<p>:finished` | ZSET | finished task ids by finish time (history, retention) |
//! | `<p>:task:<id>` | HASH | one task (field names in `store::fields`) |
//! | `<p>:task:<id>:msg` | STRING | a running task's Celery message, as pushed (kept beside the hash so the hash keeps Redis' compact encoding) |
//! | `<p>:task:<id>:log` | LIST | the task's journal, the last 32 notes `<ms> <kind> <detail>`: `w` why it waits (when a rule parks its group with it first in line), `q` back in the queue, `r` a Celery retry; expires with the task |
//! | `<p>:task:<id>:tb` | STRING | a failed task's traceback, as Celery stored it (at most 16 KiB); expires with the task |
//! | `<p>:workers:seen` | HASH | Celery worker hostname → last heartbeat or online time, ms |
//! | `<p>:workers:proc` | HASH | hostname → `<main pid>:<since ms>`: the process now holding the name, and the earliest it can have come online |
//! | `<p>:workers:offline` | HASH | hostname → `<last worker-offline time>:<tasks it still ran>` |
//! | `<p>:workers:first` | HASH | hostname → when the pool first heard from it, ms |
//! | `<p>:superseded` | ZSET | Celery ids the pool replaced by another dispatch of the same task (a re-sent lost message, a requeue) → when; kept 3 h, to revoke stale copies |
//! | `<p>:stats` | HASH | counters: `messages_resent`, `lost_messages_cancelled`, `cooldowns`, `over_admissions`, `reclaimed:<reason>` |
//! | `<p>:metrics` | HASH | the counters and histogram buckets of `GET /metrics`, by source and type (fields in `lua/common.lua`'s metrics section) |
//! | `<p>:m:<minute>` | HASH | one minute of the last 24 h (minutes since the epoch; kept 25 h): starts `st`, ends `c` `f` `x`, waits by bucket `w<i>`, and the sampled gauges `r` `rx` `q` `qx` `m` (see `lua/common.lua`) |
//! | `<p>:freed` | LIST | when slots freed while a queued task could take them, ms, oldest first (at most the limit): the next slot taken counts the oldest into the refill latency histogram |
//! | `<p>:started` | SET | running task ids a worker reported STARTED for (what an over-admission is judged on) |
//! | `<p>:q:<group>` | ZSET | the queued tasks of one group, a (source, sync type, tenant) triple joined by `\x1f`, scored like the queue (its first is what deduplication finds) |
//! | `<p>:groups:<source>` | SET | a source's groups with queued tasks |
//! | `<p>:sources` | SET | every source that ever had a queued task, a rule, a pause or a cool-down |
//! | `<p>:ready` | ZSET | groups whose head may start, scored by that head's score |
//! | `<p>:parked` | HASH | blocked group → why (`source_limit`, `tenant_limit`, `rate_limit`, `cooldown`, `paused`) |
//! | `<p>:parked:<source>` | SET | a source's parked groups (what its free slot, a rule change or a resume wakes) |
//! | `<p>:wake` | ZSET | parked group → when its block ends by itself (cool-down, rate window) |
//! | `<p>:rules` | HASH | `s:<source>` → limit, `t:<source>` → per-tenant limit, `r:<source>` → `<starts>/<window ms>`; and their state: `p:<source>` (or `p:*`, the pool) → paused since (ms), `c:<source>` → end of its cool-down (ms), `x:<source>` → the length of its last automatic cool-down (ms), doubling |
//! | `<p>:run:s:<source>` | SET | a source's running task ids |
//! | `<p>:run:t:<source>\x1f<tenant>` | SET | a (source, tenant)'s running task ids |
//! | `<p>:dur:<source>\x1f<type>` | LIST | the run times (ms) of a task type's last 100 runs, newest first: what estimates go on |
//! | `<p>:deadlines` | ZSET | queued task id → the latest time it may start (its type's max_queue_wait) |
//! | `<p>:rate:<source>` | ZSET | starts of a source with a rate budget (`<id>:<token>` → ms), the last window |
//! | `<p>:session:<id>` | STRING | a signed-in dashboard session: the name of the token it signed in with (expires by itself) |
//! | `<p>:hooks:on` | STRING | present while a replica delivers webhooks (60 s, refreshed every 500 ms): events are recorded only then |
//! | `<p>:hooks:seq` | STRING | webhook event ids |
//! | `<p>:hook:<id>` | HASH | a webhook event: `kind`, `ref` (task id or source), `until`, `at`, `att` (attempts), `body` (as first sent), `last`, `next`, and per URL `s:<url>` (state) and `e:<url>` (last error); expires a day after it is done |
//! | `<p>:hooks:due` | ZSET | event id → when it is next due (a claim leases it by moving this ahead) |
//! | `<p>:hooks:recent` | ZSET | the newest 1,000 event ids, by time |
//! | `<p>:hooks:cooling` | ZSET | source → end of its cool-down, to post its end |
//! | `<p>:audit` | STREAM | the audit trail: `who`, `addr`, `action`, `target`, `before`, `after` (JSON) per change; ids are Redis-clock ms |
//! | `<p>:events` | pub/sub channel | a line per change, for live views on every replica |

/// The key names of one pool.
#[derive(Clone, Debug)]
pub struct Keys {
    /// The prefix itself.
    pub prefix: String,
    /// `<p>:`, what every script takes as KEYS[1].
    pub base: String,
    /// `<p>:rules`.
    pub rules: String,
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

/// The separator of the parts of a group or duration key (neither part may contain it).
pub const GROUP_SEP: char = '\u{1f}';

impl Keys {
    /// The keys under `prefix`.
    pub fn new(prefix: &str) -> Self {
        let k = |s: &str| format!("{prefix}:{s}");
        Keys {
            prefix: prefix.to_string(),
            base: format!("{prefix}:"),
            rules: k("rules"),
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

    /// `<p>:dur:<source>\x1f<type>`.
    pub fn durations(&self, source: &str, sync_type: &str) -> String {
        format!("{}:dur:{source}{GROUP_SEP}{sync_type}", self.prefix)
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
