//! What each command does: one or two API calls, then a table (or the JSON as returned).

use super::args::{Command, Options};
use super::client::{parse, segment, Client, Failure};
use super::output::{self, Style};
use app::types::{
    AuditList, CheckStatus, DoctorReport, ForgetReport, PoolConfig, PoolStatus, ProcessReport,
    WorkerList, WorkerTask,
};
use serde_json::Value;
use std::time::Duration;

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

/// The body of `POST limits/` from the command line's changes; `None` when there are none.
fn limits_update(
    max_workers: Option<i64>,
    source: &[String],
    tenant_limit: &[String],
    rate: &[String],
) -> anyhow::Result<Option<Value>> {
    let mut sources = serde_json::Map::new();
    let mut set = |flag: &str,
                   pairs: &[String],
                   key: &str,
                   read: &dyn Fn(&str) -> anyhow::Result<Value>|
     -> anyhow::Result<()> {
        for pair in pairs {
            let (src, v) = pair
                .split_once('=')
                .filter(|(s, v)| !s.is_empty() && !v.is_empty())
                .ok_or_else(|| anyhow::anyhow!("--{flag} takes SOURCE=VALUE, got {pair:?}"))?;
            let value = if v == "none" { Value::Null } else { read(v)? };
            let entry = sources
                .entry(src.to_string())
                .or_insert_with(|| Value::Object(serde_json::Map::new()));
            entry[key] = value;
        }
        Ok(())
    };
    let number = |v: &str| -> anyhow::Result<Value> {
        v.parse::<i64>()
            .map(Value::from)
            .map_err(|_| anyhow::anyhow!("{v:?} is not a whole number (or none)"))
    };
    set("source", source, "limit", &number)?;
    set("tenant-limit", tenant_limit, "tenant_limit", &number)?;
    set("rate", rate, "rate", &|v| {
        let r = app::types::Rate::parse(v).map_err(|e| anyhow::anyhow!(e))?;
        Ok(serde_json::to_value(r)?)
    })?;
    if max_workers.is_none() && sources.is_empty() {
        return Ok(None);
    }
    let mut body = serde_json::Map::new();
    if let Some(m) = max_workers {
        body.insert("max_workers".into(), Value::from(m));
    }
    if !sources.is_empty() {
        body.insert("sources".into(), Value::Object(sources));
    }
    Ok(Some(Value::Object(body)))
}

async fn pause_or_resume(
    client: &Client,
    style: Style,
    json: bool,
    source: Option<&str>,
    pausing: bool,
) -> Result<(), Failure> {
    let body = client
        .post(
            if pausing { "/pause/" } else { "/resume/" },
            match source {
                Some(s) => serde_json::json!({ "source": s }),
                None => serde_json::json!({}),
            },
        )
        .await?;
    if json {
        println!("{body}");
        return Ok(());
    }
    let what = source.unwrap_or("the pool");
    println!("{} {what}.", if pausing { "Paused" } else { "Resumed" });
    print!("{}", output::summary(style, &parse(&body)?));
    Ok(())
}

/// Runs one command, printing its answer.
pub async fn execute(command: Command, opts: &Options) -> Result<(), Failure> {
    let client = Client::new(opts).map_err(|e| Failure::Usage(e.to_string()))?;
    let json = opts.json;
    let style = Style::detect();
    match command {
        Command::Status { verbose } => {
            let body = client.get("/status/").await?;
            if json {
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
        Command::Config { max_workers } => {
            let body = match max_workers {
                Some(n) => {
                    client
                        .post("/config/", serde_json::json!({ "max_workers": n }))
                        .await?
                }
                None => client.get("/config/").await?,
            };
            if json {
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
        } => monitor(&client, style, continuous, interval, json).await?,
        Command::ProcessQueue => {
            let body = client
                .post("/process-queue/", serde_json::json!({}))
                .await?;
            if json {
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
        Command::Cancel { task_id } => {
            let body = client
                .post(
                    &format!("/tasks/{}/cancel/", segment(&task_id)),
                    serde_json::json!({}),
                )
                .await?;
            if json {
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
            if json {
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
            tenant,
            dedupe,
            task_id,
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
                        "tenant": tenant,
                        "dedupe": dedupe,
                        "task_id": task_id,
                    }),
                )
                .await?;
            if json {
                println!("{body}");
                return Ok(());
            }
            let t: WorkerTask = parse(&body)?;
            if t.deduplicated && task_id.as_deref() == Some(t.task_id.as_str()) {
                println!(
                    "Task {} was submitted before: nothing was added ({}, {}).",
                    t.task_id, t.task_name, t.status
                );
            } else if t.deduplicated {
                println!(
                    "A task of the same source, type and tenant exists: {} ({}), {}.",
                    t.task_id, t.task_name, t.status
                );
            }
            accepted(&t, None);
        }
        Command::Retry { id: Some(id), .. } => {
            let body = client
                .post(
                    &format!("/tasks/{}/retry/", segment(&id)),
                    serde_json::json!({}),
                )
                .await?;
            if json {
                println!("{body}");
                return Ok(());
            }
            accepted(&parse(&body)?, Some(&id));
        }
        Command::Retry {
            id: None,
            cancelled,
            crm_source,
            sync_type,
            tenant,
            limit,
        } => {
            let body = client
                .post(
                    "/tasks/retry/",
                    serde_json::json!({
                        "status": if cancelled { "cancelled" } else { "failed" },
                        "crm_source": crm_source,
                        "sync_type": sync_type,
                        "tenant": tenant,
                        "limit": limit,
                    }),
                )
                .await?;
            if json {
                println!("{body}");
                return Ok(());
            }
            let r: app::types::RetryReport = parse(&body)?;
            println!(
                "Retried {} task{}; {} had been retried already.",
                r.retried.len(),
                if r.retried.len() == 1 { "" } else { "s" },
                r.already_retried.len()
            );
            for t in &r.retried {
                println!(
                    "  {} -> {}",
                    t.retry_of.as_deref().unwrap_or("?"),
                    t.task_id
                );
            }
            for (id, why) in &r.skipped {
                println!("  {}", style.yellow(&format!("{id}: {why}")));
            }
        }
        Command::Limits {
            max_workers,
            source,
            tenant_limit,
            rate,
        } => {
            let update = limits_update(max_workers, &source, &tenant_limit, &rate)
                .map_err(|e| Failure::Usage(e.to_string()))?;
            let body = match update {
                Some(u) => client.post("/limits/", u).await?,
                None => client.get("/limits/").await?,
            };
            if json {
                println!("{body}");
                return Ok(());
            }
            print!("{}", output::limits(style, &parse(&body)?));
        }
        Command::Pause { source } => {
            pause_or_resume(&client, style, json, source.as_deref(), true).await?
        }
        Command::Resume { source } => {
            pause_or_resume(&client, style, json, source.as_deref(), false).await?
        }
        Command::Cooldown { source, seconds } => {
            let body = client
                .post(
                    &format!("/sources/{}/cooldown/", segment(&source)),
                    serde_json::json!({ "seconds": seconds }),
                )
                .await?;
            if json {
                println!("{body}");
                return Ok(());
            }
            if seconds == 0 {
                println!("{source} is no longer cooling down.");
            } else {
                println!("{source} cools down for {seconds} s.");
            }
            print!("{}", output::summary(style, &parse(&body)?));
        }
        Command::Task { id } => {
            let body = client.get(&format!("/tasks/{}/", segment(&id))).await?;
            if json {
                println!("{body}");
                return Ok(());
            }
            let t: WorkerTask = parse(&body)?;
            print!("{}", output::tasks(style, std::slice::from_ref(&t), true));
            if let Some(why) = &t.resend_reason {
                let plural = if t.resends == 1 { "" } else { "s" };
                println!("Sent again {} time{plural}. {why}", t.resends);
            }
            if let Some(e) = output::expected(&t) {
                println!("Expected: {e}.");
            }
            if let Some(of) = &t.retry_of {
                println!("Retries {of}.");
            }
            if let Some(by) = &t.retried_by {
                println!("Retried by {by}.");
            }
        }
        Command::Workers => {
            let body = client.get("/workers/").await?;
            if json {
                println!("{body}");
                return Ok(());
            }
            let list: WorkerList = parse(&body)?;
            print!("{}", output::workers(style, &list.workers));
        }
        Command::Doctor => {
            let body = client.get("/doctor/").await?;
            let report: DoctorReport = parse(&body)?;
            if json {
                println!("{body}");
            } else {
                print!("{}", output::doctor(style, &report));
            }
            let problems = report
                .checks
                .iter()
                .filter(|c| c.status == CheckStatus::Problem)
                .count();
            if problems > 0 {
                return Err(Failure::Found(format!(
                    "{problems} problem{} to fix",
                    if problems == 1 { "" } else { "s" }
                )));
            }
        }
        Command::Audit {
            limit,
            since,
            before,
        } => {
            let mut path = format!("/audit/?limit={limit}");
            for (name, v) in [("since", since), ("before", before)] {
                if let Some(v) = v {
                    path.push_str(&format!("&{name}={}", segment(&v)));
                }
            }
            let body = client.get(&path).await?;
            if json {
                println!("{body}");
                return Ok(());
            }
            let list: AuditList = parse(&body)?;
            print!("{}", output::audit(style, &list.entries));
            if let Some(next) = list.next_before {
                println!("Older entries: worker-pool audit --before {next}");
            }
        }
        Command::ForgetWorker { hostname } => {
            let body = client
                .post(
                    &format!("/workers/{}/forget/", segment(&hostname)),
                    serde_json::json!({}),
                )
                .await?;
            if json {
                println!("{body}");
                return Ok(());
            }
            let r: ForgetReport = parse(&body)?;
            match r.released.len() {
                0 => println!("Forgot {hostname}; it ran none of the pool's tasks."),
                n => println!(
                    "Forgot {hostname}; its {n} task{} ended failed and freed {} slot{}: {}.",
                    if n == 1 { "" } else { "s" },
                    if n == 1 { "its" } else { "their" },
                    if n == 1 { "" } else { "s" },
                    r.released.join(", ")
                ),
            }
        }
    }
    Ok(())
}

/// What a submit (`retried`: `None`) or a retry of `retried` did, in a line.
fn accepted(t: &WorkerTask, retried: Option<&str>) {
    let expected = output::expected(t)
        .map(|e| format!("; {e}"))
        .unwrap_or_default();
    let (id, name) = (&t.task_id, &t.task_name);
    match (retried, t.position) {
        (None, Some(p)) => println!("Queued {id} ({name}) at position {p}{expected}."),
        (None, None) => println!("Submitted {id} ({name}): {}{expected}.", t.status),
        (Some(old), Some(p)) => {
            println!("Retried {old} as {id} ({name}): queued at position {p}{expected}.")
        }
        (Some(old), None) => println!("Retried {old} as {id} ({name}): {}{expected}.", t.status),
    }
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
    use super::super::client::segment;
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
