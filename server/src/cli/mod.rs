//! The `worker-pool` management commands: the seed's `manage_worker_pool` verbs, talking to a
//! running server over its JSON API. They hold no pool logic: each is one or two API calls and
//! some formatting.
//!
//! Exit codes: 0 success; 1 the server refused (its message on stderr); 2 wrong usage (clap);
//! 3 the server cannot be reached.

mod output;

use anyhow::Context;
use app::types::{PoolConfig, PoolStatus, ProcessReport, WorkerTask};
use clap::{Args, Subcommand};
use output::Style;
use serde_json::Value;
use std::process::ExitCode;
use std::time::Duration;

/// Where the server is, and how to authenticate.
#[derive(Args, Clone, Debug)]
pub struct Connection {
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
}

/// Print what the API returned, exactly, and nothing else on stdout.
#[derive(Args, Clone, Copy, Debug)]
pub struct JsonFlag {
    /// Print the API's JSON answer instead of a table.
    #[arg(long)]
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
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Show the limit, or set it with --max-workers.
    #[command(
        after_help = "Examples:\n  worker-pool config\n  worker-pool config --max-workers 2"
    )]
    Config {
        /// The new limit (1 to 64). Lowering it never stops running tasks.
        #[arg(long, value_name = "N")]
        max_workers: Option<i64>,
        #[command(flatten)]
        json: JsonFlag,
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
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Reconcile with Celery's results and dispatch into free slots, now.
    #[command(
        name = "process-queue",
        after_help = "Example:\n  worker-pool process-queue"
    )]
    ProcessQueue {
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Cancel a task: a queued one never runs; a running one is revoked and terminated.
    #[command(
        after_help = "Example:\n  worker-pool cancel --task-id 1b4e28ba-2fa1-4d2b-883f-0016b3a8c1f2"
    )]
    Cancel {
        /// The task to cancel.
        #[arg(long, value_name = "ID")]
        task_id: String,
        #[command(flatten)]
        json: JsonFlag,
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
        #[command(flatten)]
        json: JsonFlag,
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
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Show one task.
    #[command(
        after_help = "Example:\n  worker-pool task 1b4e28ba-2fa1-4d2b-883f-0016b3a8c1f2 --json"
    )]
    Task {
        /// The task's id.
        id: String,
        #[command(flatten)]
        json: JsonFlag,
    },
}

/// Why a command failed.
enum Failure {
    /// The command line is wrong in a way clap cannot see (exit 2).
    Usage(String),
    /// The server answered with an error: status and body.
    Refused { status: u16, body: String },
    /// The server could not be reached.
    Unreachable(String),
    /// Anything else (an answer that is not what this version expects).
    Other(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Other(e)
    }
}

/// The JSON API over HTTP.
struct Client {
    http: reqwest::Client,
    base: String,
    api: String,
    token: Option<String>,
}

impl Client {
    fn new(conn: &Connection) -> anyhow::Result<Self> {
        let base = conn.url.trim_end_matches('/').to_string();
        anyhow::ensure!(
            base.starts_with("http://") || base.starts_with("https://"),
            "--url must start with http:// or https:// (got {base:?})"
        );
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .build()
            .context("cannot build the HTTP client")?;
        Ok(Client {
            api: format!("{base}{}", crate::api::BASE),
            base,
            http,
            token: conn.token.clone().filter(|t| !t.is_empty()),
        })
    }

    /// Sends a request and returns the raw body of a 2xx answer.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<String, Failure> {
        let mut req = self.http.request(method, format!("{}{path}", self.api));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.map_err(|e| {
            let reason = if e.is_connect() {
                "connection refused or host unreachable"
            } else if e.is_timeout() {
                "timed out"
            } else {
                "request failed"
            };
            Failure::Unreachable(format!(
                "cannot reach the Worker Pool server at {} ({reason})",
                self.base
            ))
        })?;
        let status = res.status().as_u16();
        let body = res
            .text()
            .await
            .map_err(|_| Failure::Unreachable(format!("the connection to {} broke", self.base)))?;
        if (200..300).contains(&status) {
            Ok(body)
        } else {
            Err(Failure::Refused { status, body })
        }
    }

    async fn get(&self, path: &str) -> Result<String, Failure> {
        self.call(reqwest::Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> Result<String, Failure> {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }
}

fn parse<T: serde::de::DeserializeOwned>(body: &str) -> Result<T, Failure> {
    serde_json::from_str(body)
        .map_err(|e| Failure::Other(anyhow::anyhow!("unexpected answer from the server: {e}")))
}

/// Reads `key=value`: booleans and integers become JSON values, anything else a string (the
/// server says what it accepts).
fn param(kv: &str) -> anyhow::Result<(String, Value)> {
    let (k, v) = kv
        .split_once('=')
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| anyhow::anyhow!("--param takes KEY=VALUE, got {kv:?}"))?;
    let value = match v {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        _ => v
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or_else(|_| Value::String(v.to_string())),
    };
    Ok((k.to_string(), value))
}

/// Percent-encodes a path segment (task ids are plain, but the server judges).
fn segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// Runs a management command and returns the process exit code.
pub fn run(command: Command, conn: Connection) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("worker-pool: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let json = matches!(
        &command,
        Command::Status {
            json: JsonFlag { json: true },
            ..
        } | Command::Config {
            json: JsonFlag { json: true },
            ..
        } | Command::Monitor {
            json: JsonFlag { json: true },
            ..
        } | Command::ProcessQueue {
            json: JsonFlag { json: true }
        } | Command::Cancel {
            json: JsonFlag { json: true },
            ..
        } | Command::ListTasks {
            json: JsonFlag { json: true },
            ..
        } | Command::Submit {
            json: JsonFlag { json: true },
            ..
        } | Command::Task {
            json: JsonFlag { json: true },
            ..
        }
    );
    match runtime.block_on(execute(command, conn)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Refused { status, body }) => {
            let message = serde_json::from_str::<Value>(&body)
                .ok()
                .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_string))
                .unwrap_or_else(|| format!("the server answered HTTP {status}"));
            if json {
                // What the API returned, exactly; the sentence goes to stderr.
                println!("{body}");
            }
            eprintln!("worker-pool: {message}");
            if let Some(fields) = serde_json::from_str::<Value>(&body)
                .ok()
                .and_then(|v| v.get("fields").cloned())
            {
                for f in fields.as_array().into_iter().flatten() {
                    if let (Some(field), Some(msg)) = (f["field"].as_str(), f["message"].as_str()) {
                        if !message.contains(msg) {
                            eprintln!("  {field}: {msg}");
                        }
                    }
                }
            }
            ExitCode::from(1)
        }
        Err(Failure::Usage(message)) => {
            eprintln!("worker-pool: {message}");
            ExitCode::from(2)
        }
        Err(Failure::Unreachable(message)) => {
            eprintln!("worker-pool: {message}");
            ExitCode::from(3)
        }
        Err(Failure::Other(e)) => {
            eprintln!("worker-pool: {e:#}");
            ExitCode::from(1)
        }
    }
}

async fn execute(command: Command, conn: Connection) -> Result<(), Failure> {
    let client = Client::new(&conn).map_err(|e| Failure::Usage(e.to_string()))?;
    let style = Style::detect();
    match command {
        Command::Status { verbose, json } => {
            let body = client.get("/status/").await?;
            if json.json {
                println!("{body}");
                return Ok(());
            }
            let s: PoolStatus = parse(&body)?;
            print!("{}", output::summary(style, &s));
            if verbose {
                println!("\n{}", style.bold(&format!("Running ({})", s.active_count)));
                print!("{}", output::tasks(style, &s.active_tasks, true));
                println!("\n{}", style.bold(&format!("Queued ({})", s.queued_count)));
                print!("{}", output::tasks(style, &s.queued_tasks, true));
            }
        }
        Command::Config { max_workers, json } => {
            let body = match max_workers {
                Some(n) => {
                    client
                        .post("/config/", serde_json::json!({ "max_workers": n }))
                        .await?
                }
                None => client.get("/config/").await?,
            };
            if json.json {
                println!("{body}");
                return Ok(());
            }
            let c: PoolConfig = parse(&body)?;
            if max_workers.is_some() {
                println!("max_workers set to {}", c.max_workers);
            } else {
                println!("max_workers: {}", c.max_workers);
            }
            println!("  allowed: {} to {}", c.min_allowed, c.max_allowed);
            println!("  running: {}", c.active_count);
            if c.draining {
                println!("  {}", style.yellow("draining: more tasks run than the limit allows; none starts until it is below"));
            }
        }
        Command::Monitor {
            continuous,
            interval,
            json,
        } => monitor(&client, style, continuous, interval, json.json).await?,
        Command::ProcessQueue { json } => {
            let body = client
                .post("/process-queue/", serde_json::json!({}))
                .await?;
            if json.json {
                println!("{body}");
                return Ok(());
            }
            let r: ProcessReport = parse(&body)?;
            println!(
                "Processed the queue: {} reconciled, {} dispatched; {} available, {} queued.",
                r.reconciled.len(),
                r.dispatched.len(),
                r.available_workers,
                r.queued_count
            );
            for id in &r.reconciled {
                println!("  reconciled  {id}");
            }
            for id in &r.dispatched {
                println!("  dispatched  {id}");
            }
        }
        Command::Cancel { task_id, json } => {
            let body = client
                .post(
                    &format!("/tasks/{}/cancel/", segment(&task_id)),
                    serde_json::json!({}),
                )
                .await?;
            if json.json {
                println!("{body}");
                return Ok(());
            }
            let t: WorkerTask = parse(&body)?;
            if t.status == app::types::TaskStatus::Cancelled {
                println!("Cancelled {}.", t.task_id);
            } else {
                println!(
                    "Revoke sent for {} (terminate); it ends cancelled once its worker confirms.",
                    t.task_id
                );
            }
        }
        Command::ListTasks {
            status,
            limit,
            verbose,
            json,
        } => {
            let mut query = Vec::new();
            if let Some(s) = status {
                query.push(format!("status={}", segment(&s)));
            }
            if let Some(l) = limit {
                query.push(format!("limit={l}"));
            }
            let path = if query.is_empty() {
                "/tasks/".to_string()
            } else {
                format!("/tasks/?{}", query.join("&"))
            };
            let body = client.get(&path).await?;
            if json.json {
                println!("{body}");
                return Ok(());
            }
            #[derive(serde::Deserialize)]
            struct List {
                tasks: Vec<WorkerTask>,
            }
            let list: List = parse(&body)?;
            print!("{}", output::tasks(style, &list.tasks, verbose));
        }
        Command::Submit {
            crm_source,
            sync_type,
            params,
            priority,
            json,
        } => {
            let mut parameters = serde_json::Map::new();
            for p in &params {
                let (k, v) = param(p).map_err(|e| Failure::Usage(e.to_string()))?;
                parameters.insert(k, v);
            }
            let body = client
                .post(
                    "/submit/",
                    serde_json::json!({
                        "crm_source": crm_source,
                        "sync_type": sync_type,
                        "parameters": parameters,
                        "priority": priority,
                    }),
                )
                .await?;
            if json.json {
                println!("{body}");
                return Ok(());
            }
            let t: WorkerTask = parse(&body)?;
            match t.position {
                Some(p) => println!("Queued {} ({}) at position {p}.", t.task_id, t.task_name),
                None => println!("Submitted {} ({}): {}.", t.task_id, t.task_name, t.status),
            }
        }
        Command::Task { id, json } => {
            let body = client.get(&format!("/tasks/{}/", segment(&id))).await?;
            if json.json {
                println!("{body}");
                return Ok(());
            }
            let t: WorkerTask = parse(&body)?;
            print!("{}", output::tasks(style, std::slice::from_ref(&t), true));
        }
    }
    Ok(())
}

async fn monitor(
    client: &Client,
    style: Style,
    continuous: bool,
    interval: f64,
    json: bool,
) -> Result<(), Failure> {
    use std::io::IsTerminal;
    if !(0.1..=3600.0).contains(&interval) {
        return Err(Failure::Usage(
            "--interval must be from 0.1 to 3600 seconds".into(),
        ));
    }
    let redraw = continuous && !json && std::io::stdout().is_terminal();
    let mut tick = tokio::time::interval(Duration::from_secs_f64(interval));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
        let body = client.get("/status/").await?;
        if json {
            // One JSON object per line per interval.
            println!("{}", body.trim());
        } else {
            let s: PoolStatus = parse(&body)?;
            let mut screen = String::new();
            if redraw {
                // Home and clear: the view redraws in place.
                screen.push_str("\x1b[H\x1b[2J");
            }
            screen.push_str(&format!(
                "{}\n",
                style.dim(&format!(
                    "{}  (every {interval}s; Ctrl-C stops)",
                    chrono::Utc::now().format("%H:%M:%S UTC")
                ))
            ));
            screen.push_str(&output::summary(style, &s));
            screen.push_str(&format!(
                "\n{}\n",
                style.bold(&format!("Running ({})", s.active_count))
            ));
            screen.push_str(&output::tasks(style, &s.active_tasks, false));
            screen.push_str(&format!(
                "\n{}\n",
                style.bold(&format!("Queued ({})", s.queued_count))
            ));
            screen.push_str(&output::tasks(style, &s.queued_tasks, false));
            print!("{screen}");
            if continuous && !redraw {
                println!();
            }
        }
        if !continuous {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_become_json_values() {
        assert_eq!(
            param("full=true").unwrap(),
            ("full".into(), Value::Bool(true))
        );
        assert_eq!(
            param("batch_size=500").unwrap(),
            ("batch_size".into(), Value::from(500))
        );
        assert_eq!(
            param("x=abc").unwrap(),
            ("x".into(), Value::String("abc".into()))
        );
        assert!(param("novalue").is_err());
        assert_eq!(segment("a b/c"), "a%20b%2Fc");
    }
}
