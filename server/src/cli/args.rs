//! The command line: the global options and the management commands (clap).

use clap::{Args, Subcommand};

/// Options every command takes: where the server is, how to authenticate, and how to print.
#[derive(Args, Clone, Debug)]
pub struct Options {
    /// The Worker Pool server.
    #[arg(
        long,
        env = "WORKER_POOL_URL",
        default_value = "http://127.0.0.1:3000",
        global = true
    )]
    pub url: String,
    /// A bearer token, when the server requires one.
    #[arg(
        long,
        env = "WORKER_POOL_API_TOKEN",
        hide_env_values = true,
        global = true
    )]
    pub token: Option<String>,
    /// A PEM file of CA certificates to trust for an `https://` URL, beside the usual public
    /// ones (a server behind a proxy with a private CA's certificate).
    #[arg(
        long,
        env = "WORKER_POOL_CA_CERT",
        value_name = "PEM_FILE",
        global = true
    )]
    pub ca_cert: Option<std::path::PathBuf>,
    /// Print the API's JSON answer, exactly, instead of a table (nothing else on stdout).
    #[arg(long, global = true)]
    pub json: bool,
}

/// The management commands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Show the pool: limit, counts, utilisation, state.
    #[command(
        after_help = "Examples:\n  worker-pool status\n  worker-pool status --verbose\n  worker-pool status --json | jq .utilization"
    )]
    Status {
        /// Also list the running and queued tasks.
        #[arg(long, short)]
        verbose: bool,
    },
    /// Show the limit, or set it with --max-workers.
    #[command(
        after_help = "Examples:\n  worker-pool config\n  worker-pool config --max-workers 2"
    )]
    Config {
        /// The new limit (1 to 64). Lowering it never stops running tasks.
        #[arg(long, value_name = "N")]
        max_workers: Option<i64>,
    },
    /// Watch the pool: one snapshot, or --continuous until Ctrl-C.
    #[command(
        after_help = "Examples:\n  worker-pool monitor\n  worker-pool monitor --continuous --interval 5\n  worker-pool monitor --continuous --json > pool.jsonl"
    )]
    Monitor {
        /// Keep watching until Ctrl-C.
        #[arg(long)]
        continuous: bool,
        /// Seconds between snapshots.
        #[arg(long, default_value_t = 2.0, value_name = "SECS")]
        interval: f64,
    },
    /// Reconcile with Celery's results and dispatch into free slots, now.
    #[command(
        name = "process-queue",
        after_help = "Example:\n  worker-pool process-queue"
    )]
    ProcessQueue,
    /// Cancel a task: a queued one never runs; a running one is revoked and terminated.
    #[command(
        after_help = "Example:\n  worker-pool cancel --task-id 1b4e28ba-2fa1-4d2b-883f-0016b3a8c1f2"
    )]
    Cancel {
        /// The task to cancel.
        #[arg(long, value_name = "ID")]
        task_id: String,
    },
    /// List tasks: running, then queued in dispatch order, then finished (newest first).
    #[command(
        name = "list-tasks",
        after_help = "Examples:\n  worker-pool list-tasks --verbose\n  worker-pool list-tasks --status failed --limit 20 --json"
    )]
    ListTasks {
        /// Only tasks with this status (queued, running, completed, failed, cancelled).
        #[arg(long, value_name = "S")]
        status: Option<String>,
        /// At most this many (1 to 1000; default 100).
        #[arg(long, value_name = "N")]
        limit: Option<u32>,
        /// Add times, worker, parameters and errors.
        #[arg(long, short)]
        verbose: bool,
    },
    /// Submit a sync task.
    #[command(
        after_help = "Examples:\n  worker-pool submit --crm-source five9 --sync-type contacts\n  worker-pool submit --crm-source hubspot --sync-type all --param full=true --param batch_size=500 --priority 10"
    )]
    Submit {
        /// The CRM (five9, genius, hubspot, arrivy, …).
        #[arg(long, value_name = "S")]
        crm_source: String,
        /// What to sync (contacts, all, …).
        #[arg(long, value_name = "T")]
        sync_type: String,
        /// A task parameter: full=true, batch_size=500, dry_run=true. Repeatable.
        #[arg(long = "param", value_name = "KEY=VALUE")]
        params: Vec<String>,
        /// -100 to 100; higher runs first.
        #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
        priority: i64,
        /// The customer or account the sync is for (per-tenant limits count by it).
        #[arg(long, value_name = "T")]
        tenant: Option<String>,
        /// When a task of the same source, type and tenant exists: none (add anyway),
        /// queued (return the queued one), active (the queued or running one), replace (give
        /// the queued one these parameters and priority).
        #[arg(long, value_name = "MODE")]
        dedupe: Option<String>,
        /// An id of your choosing (a UUID is best): the same command again, after an error or
        /// a timeout, returns the task it created instead of adding another.
        #[arg(long, value_name = "ID")]
        task_id: Option<String>,
    },
    /// Submit a failed or cancelled task again, linked to it; without an ID, every finished
    /// task a filter names that was not retried yet.
    #[command(
        after_help = "Examples:\n  worker-pool retry 1b4e28ba-2fa1-4d2b-883f-0016b3a8c1f2\n  worker-pool retry --crm-source hubspot --limit 20\n  worker-pool retry --cancelled --tenant acme"
    )]
    Retry {
        /// The task to retry.
        id: Option<String>,
        /// Retry cancelled tasks instead of failed ones (without an ID).
        #[arg(long, conflicts_with = "id")]
        cancelled: bool,
        /// Only this source's tasks (without an ID).
        #[arg(long, value_name = "S", conflicts_with = "id")]
        crm_source: Option<String>,
        /// Only this sync type's tasks (without an ID).
        #[arg(long, value_name = "T", conflicts_with = "id")]
        sync_type: Option<String>,
        /// Only this tenant's tasks (without an ID).
        #[arg(long, value_name = "T", conflicts_with = "id")]
        tenant: Option<String>,
        /// At most this many (1 to 1000; default 100; without an ID).
        #[arg(long, value_name = "N", conflicts_with = "id")]
        limit: Option<u32>,
    },
    /// Show the limits, or change them: the global one and each source's rules.
    #[command(
        after_help = "Examples:\n  worker-pool limits\n  worker-pool limits --source five9=1 --source hubspot=3 --tenant-limit hubspot=1 --rate arrivy=10/1m\n  worker-pool limits --source hubspot=none   # removes the rule"
    )]
    Limits {
        /// The global limit (1 to 64).
        #[arg(long, value_name = "N")]
        max_workers: Option<i64>,
        /// A source's limit, SOURCE=N, or SOURCE=none to remove it. Repeatable.
        #[arg(long = "source", value_name = "SOURCE=N")]
        source: Vec<String>,
        /// A source's per-tenant limit, SOURCE=N or SOURCE=none. Repeatable.
        #[arg(long = "tenant-limit", value_name = "SOURCE=N")]
        tenant_limit: Vec<String>,
        /// A source's rate budget, SOURCE=STARTS/WINDOW (10/1m, 100/1h) or SOURCE=none.
        #[arg(long, value_name = "SOURCE=N/WINDOW")]
        rate: Vec<String>,
    },
    /// Pause the pool, or one source: nothing new starts; running tasks go on.
    #[command(after_help = "Examples:\n  worker-pool pause\n  worker-pool pause --source hubspot")]
    Pause {
        /// Only this source.
        #[arg(long, value_name = "S")]
        source: Option<String>,
    },
    /// Resume the pool, or one source.
    #[command(
        after_help = "Examples:\n  worker-pool resume\n  worker-pool resume --source hubspot"
    )]
    Resume {
        /// Only this source.
        #[arg(long, value_name = "S")]
        source: Option<String>,
    },
    /// Cool a source down: none of its tasks starts for SECONDS (0 ends a cool-down).
    #[command(after_help = "Example:\n  worker-pool cooldown arrivy --seconds 300")]
    Cooldown {
        /// The source.
        source: String,
        /// How long, from now (0 to 86400).
        #[arg(long, value_name = "SECONDS")]
        seconds: i64,
    },
    /// Show one task.
    #[command(
        after_help = "Example:\n  worker-pool task 1b4e28ba-2fa1-4d2b-883f-0016b3a8c1f2 --json"
    )]
    Task {
        /// The task's id.
        id: String,
    },
    /// List the Celery workers the pool has heard from: state, pid, last heartbeat, tasks.
    #[command(after_help = "Example:\n  worker-pool workers")]
    Workers,
    /// Check what the pool's guarantees rely on and say what to fix: each Redis (answers, no
    /// eviction, persistence), the Celery workers on the pool's queue (remote control,
    /// task_track_started, results, prefetch, acks_late, registered task types, heartbeats),
    /// and tasks run from the queue outside the pool. Exit 1 when something is wrong.
    #[command(
        after_help = "Examples:\n  worker-pool doctor\n  worker-pool doctor --json | jq '.checks[] | select(.status != \"ok\")'"
    )]
    Doctor,
    /// Forget a worker that is gone for good (a draining worker that was killed): its tasks
    /// end failed and their slots go to the queue. Refused while the worker is online.
    #[command(after_help = "Example:\n  worker-pool forget-worker celery@sync-3")]
    ForgetWorker {
        /// The worker's hostname, as `workers` lists it.
        hostname: String,
    },
    /// Show the audit trail, newest first: who changed what, from where, before and after.
    #[command(after_help = "Example:\n  worker-pool audit --limit 20")]
    Audit {
        /// How many entries (1 to 1000).
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Only entries newer than this entry id.
        #[arg(long, value_name = "ID")]
        since: Option<String>,
        /// Only entries older than this entry id (the next page).
        #[arg(long, value_name = "ID")]
        before: Option<String>,
    },
}
