//! The Lua scripts, loaded from `lua/*.lua` with `include_str!`. Each script is prefixed with
//! `lua/common.lua` (the key names, the server clock, taking and freeing a slot, the
//! flow-control rules, the terminal transition), so each rule is written once.

use redis::Script;

const COMMON: &str = include_str!("lua/common.lua");

fn load(body: &str) -> Script {
    Script::new(&format!("{COMMON}\n{body}"))
}

/// Every script, hashed once; invoked with EVALSHA (loaded on first use).
pub struct Scripts {
    pub submit: Script,
    pub peek: Script,
    pub dispatch: Script,
    pub confirm: Script,
    pub started: Script,
    pub finish: Script,
    pub cancel: Script,
    pub reprioritize: Script,
    pub snapshot: Script,
    pub get: Script,
    pub history: Script,
    pub set_max: Script,
    pub worker_event: Script,
    pub reap: Script,
    pub lost_note: Script,
    pub resend: Script,
    pub roster: Script,
    pub rules: Script,
    pub pause: Script,
    pub cooldown: Script,
    pub migrate: Script,
    pub aging: Script,
    pub expire: Script,
    pub time_limit: Script,
    pub metrics: Script,
    pub workers: Script,
    pub forget: Script,
    pub audit: Script,
    pub hooks_claim: Script,
    pub hooks_done: Script,
    pub hooks_list: Script,
    pub orphan: Script,
    pub stats_sample: Script,
    pub stats: Script,
    pub search: Script,
    pub task_note: Script,
    pub journal: Script,
    pub adopt: Script,
    pub queued_ids: Script,
}

impl Scripts {
    /// Hashes every script.
    pub fn new() -> Self {
        Scripts {
            submit: load(include_str!("lua/submit.lua")),
            peek: load(include_str!("lua/peek.lua")),
            dispatch: load(include_str!("lua/dispatch.lua")),
            confirm: load(include_str!("lua/confirm.lua")),
            started: load(include_str!("lua/started.lua")),
            finish: load(include_str!("lua/finish.lua")),
            cancel: load(include_str!("lua/cancel.lua")),
            reprioritize: load(include_str!("lua/reprioritize.lua")),
            snapshot: load(include_str!("lua/snapshot.lua")),
            get: load(include_str!("lua/get.lua")),
            history: load(include_str!("lua/history.lua")),
            set_max: load(include_str!("lua/set_max.lua")),
            worker_event: load(include_str!("lua/worker_event.lua")),
            reap: load(include_str!("lua/reap.lua")),
            lost_note: load(include_str!("lua/lost_note.lua")),
            resend: load(include_str!("lua/resend.lua")),
            roster: load(include_str!("lua/roster.lua")),
            rules: load(include_str!("lua/rules.lua")),
            pause: load(include_str!("lua/pause.lua")),
            cooldown: load(include_str!("lua/cooldown.lua")),
            migrate: load(include_str!("lua/migrate.lua")),
            aging: load(include_str!("lua/aging.lua")),
            expire: load(include_str!("lua/expire.lua")),
            time_limit: load(include_str!("lua/time_limit.lua")),
            metrics: load(include_str!("lua/metrics.lua")),
            workers: load(include_str!("lua/workers.lua")),
            stats_sample: load(include_str!("lua/stats_sample.lua")),
            stats: load(include_str!("lua/stats.lua")),
            search: load(include_str!("lua/search.lua")),
            forget: load(include_str!("lua/forget.lua")),
            audit: load(include_str!("lua/audit.lua")),
            hooks_claim: load(include_str!("lua/hooks_claim.lua")),
            hooks_done: load(include_str!("lua/hooks_done.lua")),
            hooks_list: load(include_str!("lua/hooks_list.lua")),
            orphan: load(include_str!("lua/orphan.lua")),
            task_note: load(include_str!("lua/task_note.lua")),
            journal: load(include_str!("lua/journal.lua")),
            adopt: load(include_str!("lua/adopt.lua")),
            queued_ids: load(include_str!("lua/queued_ids.lua")),
        }
    }
}

impl Default for Scripts {
    fn default() -> Self {
        Self::new()
    }
}
