//! `wp-bench`: the measurements behind BENCHMARKS.md that need Rust-side precision. Each
//! subcommand prints one JSON object on stdout; `bench/run.sh` gathers them into
//! `bench/results.json`. Nothing here asserts a timing.
//!
//! - `refill`: from a result's PUBLISH (exactly as Celery's Redis backend writes it) to the
//!   next queued task's message arriving in the broker list, against a running server.
//! - `capacity`: submit → dispatch → complete cycles per second of the scheduler against the
//!   real Redis, completions simulated.
//! - `depth`: latency of status, submit, cancel and position lookup with 1k…1M queued tasks
//!   spread over 50 tenants, and Redis memory per queued task.
//! - `blocked`: with 1M tasks of a source held at its limit, how fast a task of another source
//!   is dispatched, against the same on an empty pool.
//! - `eta`: a simulated fleet (this program plays the Celery worker, run times drawn from a
//!   fixed-seed log-normal per task type, sources with limits) runs a few thousand tasks; the
//!   estimated start each got when it was queued is compared with when it really started.

use clap::{Parser, Subcommand};
use std::sync::Arc;
use std::time::{Duration, Instant};
use worker_pool::celery::protocol::{ResultMeta, ResultState};
use worker_pool::celery::RedisBroker;
use worker_pool::scheduler::{Scheduler, Settings};
use worker_pool::store::{NewTask, RedisStore, RuleChange, Store, Submitted};

#[derive(Parser)]
#[command(
    name = "wp-bench",
    about = "Worker Pool's benchmark driver (see BENCHMARKS.md)"
)]
struct Cli {
    /// The Redis to measure against.
    #[arg(
        long,
        env = "REDIS_URL",
        default_value = "redis://127.0.0.1:6379/0",
        global = true
    )]
    redis: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Refill latency against a running server (its queue and prefix given).
    Refill {
        /// The server's base URL.
        #[arg(long)]
        url: String,
        /// The server's Celery queue (the list messages arrive in).
        #[arg(long)]
        queue: String,
        /// max_workers during the measurement.
        #[arg(long)]
        limit: u32,
        /// Completions measured.
        #[arg(long, default_value_t = 1000)]
        n: usize,
    },
    /// Scheduler cycles per second, completions simulated.
    Capacity {
        /// Cycles to run.
        #[arg(long, default_value_t = 20_000)]
        n: usize,
        /// Concurrent submitters (and the limit).
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        /// Spread the tasks over the five task types (four sources) and 50 tenants.
        #[arg(long)]
        mixed: bool,
        /// Give each source a limit, a per-tenant limit and a rate budget that all leave room:
        /// the cost of checking them (implies --mixed, so that it compares with a --mixed run).
        #[arg(long)]
        with_rules: bool,
    },
    /// Dispatch of one source's task while another source holds a million queued tasks.
    Blocked {
        /// Held tasks queued behind their source's limit.
        #[arg(long, default_value_t = 1_000_000)]
        size: usize,
        /// Samples.
        #[arg(long, default_value_t = 200)]
        samples: usize,
    },
    /// Estimated start times against the real ones.
    Eta {
        /// Tasks submitted.
        #[arg(long, default_value_t = 3000)]
        n: usize,
        /// The first this many are not measured (the run times on record build up).
        #[arg(long, default_value_t = 300)]
        warmup: usize,
        /// The random seed (arrivals, types, run times).
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
    /// Latency against queue depth, and memory per queued task.
    Depth {
        /// Queue depths to measure, comma-separated.
        #[arg(long, default_value = "1000,100000,1000000", value_delimiter = ',')]
        sizes: Vec<usize>,
        /// Samples per operation and depth.
        #[arg(long, default_value_t = 200)]
        samples: usize,
        /// The key prefix (its length is part of the memory per task); refused when in use.
        #[arg(long, default_value = "worker_pool")]
        prefix: String,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let out = rt.block_on(async {
        match cli.command {
            Command::Refill {
                url,
                queue,
                limit,
                n,
            } => refill(&cli.redis, &url, &queue, limit, n).await,
            Command::Capacity {
                n,
                concurrency,
                mixed,
                with_rules,
            } => capacity(&cli.redis, n, concurrency, mixed || with_rules, with_rules).await,
            Command::Blocked { size, samples } => blocked(&cli.redis, size, samples).await,
            Command::Eta { n, warmup, seed } => eta(&cli.redis, n, warmup, seed).await,
            Command::Depth {
                sizes,
                samples,
                prefix,
            } => depth(&cli.redis, &sizes, samples, &prefix).await,
        }
    })?;
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn stats_ms(mut v: Vec<f64>) -> serde_json::Value {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    serde_json::json!({
        "n": v.len(),
        "p50_ms": percentile(&v, 50.0),
        "p99_ms": percentile(&v, 99.0),
        "max_ms": v.last().copied().unwrap_or(f64::NAN),
        "samples_ms": v,
    })
}

async fn conn(url: &str) -> anyhow::Result<redis::aio::MultiplexedConnection> {
    let cfg = redis::AsyncConnectionConfig::new().set_response_timeout(None);
    Ok(redis::Client::open(url)?
        .get_multiplexed_async_connection_with_config(&cfg)
        .await?)
}

/// Reads a message's Celery id.
fn message_id(raw: &str) -> anyhow::Result<String> {
    let v: serde_json::Value = serde_json::from_str(raw)?;
    Ok(v["headers"]["id"].as_str().unwrap_or_default().to_string())
}

async fn refill(
    redis_url: &str,
    url: &str,
    queue: &str,
    limit: u32,
    n: usize,
) -> anyhow::Result<serde_json::Value> {
    let http = reqwest::Client::new();
    let api = format!("{}{}", url.trim_end_matches('/'), app::types::API_BASE);
    let res = http
        .post(format!("{api}/config/"))
        .json(&serde_json::json!({"max_workers": limit}))
        .send()
        .await?;
    anyhow::ensure!(
        res.status().is_success(),
        "setting max_workers: {}",
        res.status()
    );
    let mut c = conn(redis_url).await?;
    let mut blocking = conn(redis_url).await?;
    // Queue everything first: L start at once, the rest wait.
    let total = n + limit as usize;
    let mut submits = Vec::with_capacity(total);
    for _ in 0..total {
        let http = http.clone();
        let api = api.clone();
        submits.push(tokio::spawn(async move {
            http.post(format!("{api}/submit/"))
                .json(&serde_json::json!({"crm_source": "hubspot", "sync_type": "all"}))
                .send()
                .await
                .map(|r| r.status().as_u16())
        }));
        if submits.len() >= 64 {
            for s in submits.drain(..) {
                anyhow::ensure!(s.await?? == 201, "submit refused");
            }
        }
    }
    for s in submits {
        anyhow::ensure!(s.await?? == 201, "submit refused");
    }
    let mut running: Vec<String> = Vec::new();
    while running.len() < limit as usize {
        let (_, raw): (String, String) = redis::cmd("BRPOP")
            .arg(queue)
            .arg(10)
            .query_async(&mut blocking)
            .await?;
        running.push(message_id(&raw)?);
    }
    let mut lat = Vec::with_capacity(n);
    for _ in 0..n {
        let id = running.remove(0);
        let key = format!("celery-task-meta-{id}");
        let meta = serde_json::json!({"status": "SUCCESS", "result": null, "traceback": null,
            "children": [], "date_done": "2026-11-29T00:00:00+00:00", "task_id": id})
        .to_string();
        // Exactly what Celery's Redis backend does: SETEX and PUBLISH in one MULTI.
        let start = Instant::now();
        let _: () = redis::pipe()
            .atomic()
            .cmd("SETEX")
            .arg(&key)
            .arg(600)
            .arg(&meta)
            .ignore()
            .cmd("PUBLISH")
            .arg(&key)
            .arg(&meta)
            .ignore()
            .query_async(&mut c)
            .await?;
        let popped: Option<(String, String)> = redis::cmd("BRPOP")
            .arg(queue)
            .arg(10)
            .query_async(&mut blocking)
            .await?;
        let (_, raw) = popped.ok_or_else(|| anyhow::anyhow!("no refill within 10 s"))?;
        lat.push(start.elapsed().as_secs_f64() * 1000.0);
        running.push(message_id(&raw)?);
        let _: i64 = redis::cmd("DEL").arg(&key).query_async(&mut c).await?;
    }
    Ok(serde_json::json!({"limit": limit, "refill": stats_ms(lat)}))
}

fn bench_scheduler(
    redis_url: &str,
    prefix: &str,
    queue: &str,
) -> anyhow::Result<(Arc<Scheduler>, RedisStore)> {
    let store = RedisStore::new(redis_url, prefix, Duration::from_secs(10), true)?;
    let broker = RedisBroker::new(redis_url, redis_url, Duration::from_secs(10))?;
    let s = Scheduler::new(
        Arc::new(store.clone()),
        Arc::new(broker),
        Settings {
            retention: Duration::from_secs(600),
            origin: "wp-bench@localhost".into(),
            status_queue_limit: 100,
            ..Settings::new(queue, true)
        },
    );
    s.set_results_subscribed(true);
    Ok((Arc::new(s), store))
}

async fn delete_prefix(redis_url: &str, prefix: &str) -> anyhow::Result<()> {
    let mut c = conn(redis_url).await?;
    let mut cursor: u64 = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}*"))
            .arg("COUNT")
            .arg(10_000)
            .query_async(&mut c)
            .await?;
        if !keys.is_empty() {
            let _: i64 = redis::cmd("UNLINK").arg(&keys).query_async(&mut c).await?;
        }
        if next == 0 {
            return Ok(());
        }
        cursor = next;
    }
}

/// The five task types of the default registry, as (source, type).
const TYPES: [(&str, &str); 5] = [
    ("five9", "contacts"),
    ("genius", "marketsharp_contacts"),
    ("hubspot", "all"),
    ("genius", "all"),
    ("arrivy", "all"),
];

async fn capacity(
    redis_url: &str,
    n: usize,
    concurrency: usize,
    mixed: bool,
    with_rules: bool,
) -> anyhow::Result<serde_json::Value> {
    let prefix = format!("wp-bench-cap-{}", std::process::id());
    let queue = format!("{prefix}:celery");
    let (s, store) = bench_scheduler(redis_url, &prefix, &queue)?;
    store.seed_max_workers(concurrency.min(64) as u32).await?;
    if with_rules {
        let mut changes = Vec::new();
        for src in ["five9", "genius", "hubspot", "arrivy"] {
            changes.push((src.to_string(), RuleChange::Limit(Some(64))));
            changes.push((src.to_string(), RuleChange::TenantLimit(Some(64))));
            let rate = app::types::Rate {
                starts: 100_000,
                per_seconds: 1,
            };
            changes.push((src.to_string(), RuleChange::Rate(Some(rate))));
        }
        store.set_rules(&changes, false).await?;
    }
    let per = n / concurrency;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..per {
                let (src, typ) = if mixed {
                    TYPES[(worker + i) % TYPES.len()]
                } else {
                    ("hubspot", "all")
                };
                let t = s
                    .submit(app::types::SubmitRequest {
                        crm_source: src.into(),
                        sync_type: typ.into(),
                        parameters: Default::default(),
                        priority: 0,
                        tenant: mixed.then(|| format!("t{}", (worker * per + i) % 50)),
                        ..Default::default()
                    })
                    .await?;
                s.on_result(&ResultMeta {
                    task_id: t.task_id,
                    state: ResultState::Success,
                })
                .await?;
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let cycles = per * concurrency;
    let done = store
        .history(Some(app::types::TaskStatus::Completed), 1)
        .await?;
    anyhow::ensure!(!done.is_empty(), "no task completed");
    delete_prefix(redis_url, &prefix).await?;
    Ok(serde_json::json!({
        "cycles": cycles,
        "mixed": mixed,
        "with_rules": with_rules,
        "concurrency": concurrency,
        "seconds": elapsed,
        "cycles_per_s": cycles as f64 / elapsed,
    }))
}

/// Redis' `used_memory`, read once the background frees of earlier `UNLINK`s are done (they
/// would otherwise shrink it while a measurement runs).
async fn used_memory(c: &mut redis::aio::MultiplexedConnection) -> anyhow::Result<i64> {
    let field = |info: &str, name: &str| -> anyhow::Result<i64> {
        info.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| anyhow::anyhow!("no {name} in INFO"))
    };
    for _ in 0..600 {
        let info: String = redis::cmd("INFO").arg("memory").query_async(c).await?;
        if field(&info, "lazyfree_pending_objects")? == 0 {
            return field(&info, "used_memory");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("Redis still frees earlier keys after 60 s")
}

async fn depth(
    redis_url: &str,
    sizes: &[usize],
    samples: usize,
    prefix: &str,
) -> anyhow::Result<serde_json::Value> {
    let mut c = conn(redis_url).await?;
    let in_use: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut c)
        .await?;
    anyhow::ensure!(
        in_use.is_empty(),
        "keys under {prefix}: exist already; choose another --prefix"
    );
    let mut results = Vec::new();
    for &size in sizes {
        let prefix = prefix.to_string();
        let queue = format!("{prefix}:celery");
        let (s, store) = bench_scheduler(redis_url, &prefix, &queue)?;
        // Nothing is dispatched: only the queue grows.
        s.set_results_subscribed(false);
        store.seed_max_workers(1).await?;
        let before = used_memory(&mut c).await?;
        let fill = Instant::now();
        let mut ids: Vec<String> = Vec::with_capacity(size);
        let chunk = 2_000;
        let mut done = 0;
        while done < size {
            let batch = chunk.min(size - done);
            let mut futs = Vec::with_capacity(batch);
            for i in 0..batch {
                let store = store.clone();
                let id = uuid::Uuid::new_v4().to_string();
                ids.push(id.clone());
                futs.push(async move {
                    store
                        .submit(
                            &NewTask {
                                id,
                                crm_source: "hubspot".into(),
                                sync_type: "all".into(),
                                task_name: "hubspot.all".into(),
                                parameters: Default::default(),
                                priority: ((done + i) % 201) as i32 - 100,
                                tenant: Some(format!("t{}", (done + i) % 50)),
                                ..Default::default()
                            },
                            None,
                        )
                        .await
                });
            }
            for r in futures::future::join_all(futs).await {
                anyhow::ensure!(r? != Submitted::Duplicate, "submit refused");
            }
            done += batch;
        }
        let fill_s = fill.elapsed().as_secs_f64();
        let after = used_memory(&mut c).await?;
        let per_task = (after - before) as f64 / size as f64;

        let mut status = Vec::new();
        let mut submit = Vec::new();
        let mut cancel = Vec::new();
        let mut position = Vec::new();
        for i in 0..samples {
            let t = Instant::now();
            let st = s.status().await?;
            status.push(t.elapsed().as_secs_f64() * 1000.0);
            anyhow::ensure!(st.queued_count as usize >= size - i, "queue shrank");
            // Probes take even places, cancels odd ones: a probe is never a cancelled task.
            let probe = &ids[((size / 2) & !1).wrapping_add(2 * i) % (size & !1).max(2)];
            let t = Instant::now();
            let task = store.get(probe).await?;
            position.push(t.elapsed().as_secs_f64() * 1000.0);
            anyhow::ensure!(
                task.and_then(|t| t.position).is_some(),
                "a queued task has a position"
            );
            let id = uuid::Uuid::new_v4().to_string();
            let t = Instant::now();
            store
                .submit(
                    &NewTask {
                        id: id.clone(),
                        crm_source: "hubspot".into(),
                        sync_type: "all".into(),
                        task_name: "hubspot.all".into(),
                        parameters: Default::default(),
                        priority: 0,
                        tenant: Some(format!("t{}", i % 50)),
                        ..Default::default()
                    },
                    None,
                )
                .await?;
            submit.push(t.elapsed().as_secs_f64() * 1000.0);
            let victim = &ids[((size / 3) | 1).wrapping_add(2 * i) % (size & !1).max(2)];
            let t = Instant::now();
            store.cancel(victim, Duration::from_secs(600)).await?;
            cancel.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        delete_prefix(redis_url, &prefix).await?;
        let summarize = |v: Vec<f64>| {
            let mut s = stats_ms(v);
            s.as_object_mut().unwrap().remove("samples_ms");
            s
        };
        results.push(serde_json::json!({
            "queued": size,
            "fill_seconds": fill_s,
            "redis_bytes_per_queued_task": per_task,
            "status": summarize(status),
            "submit": summarize(submit),
            "cancel": summarize(cancel),
            "position": summarize(position),
        }));
    }
    Ok(serde_json::json!({ "depth": results }))
}

/// Fills `size` tasks of one source whose limit is reached (they wait), then measures how long
/// a task of another source takes from submit to dispatched, and the same on an empty pool.
async fn blocked(
    redis_url: &str,
    size: usize,
    samples: usize,
) -> anyhow::Result<serde_json::Value> {
    let mut out = serde_json::Map::new();
    for (label, held) in [("empty", 0), ("held", size)] {
        let prefix = format!("wp-bench-blocked-{}-{label}", std::process::id());
        let queue = format!("{prefix}:celery");
        let (s, store) = bench_scheduler(redis_url, &prefix, &queue)?;
        store.seed_max_workers(8).await?;
        let limit = [("hubspot".to_string(), RuleChange::Limit(Some(1)))];
        store.set_rules(&limit, false).await?;
        let new_task = |id: String, src: &str| NewTask {
            id,
            crm_source: src.into(),
            sync_type: "all".into(),
            task_name: format!("{src}.all"),
            parameters: Default::default(),
            priority: 100,
            tenant: None,
            ..Default::default()
        };
        if held > 0 {
            // One runs, the rest wait behind the source's limit.
            s.submit(app::types::SubmitRequest {
                crm_source: "hubspot".into(),
                sync_type: "all".into(),
                parameters: Default::default(),
                priority: 0,
                tenant: None,
                ..Default::default()
            })
            .await?;
            let mut done = 0;
            while done < held {
                let batch = 2_000.min(held - done);
                let futs = (0..batch).map(|_| {
                    let store = store.clone();
                    let t = new_task(uuid::Uuid::new_v4().to_string(), "hubspot");
                    async move { store.submit(&t, None).await }
                });
                for r in futures::future::join_all(futs).await {
                    anyhow::ensure!(r? != Submitted::Duplicate, "submit refused");
                }
                done += batch;
            }
            // The held source's group is parked at the first pass that meets it.
            s.dispatch_pass().await?;
        }
        let mut lat = Vec::with_capacity(samples);
        for _ in 0..samples {
            let t = Instant::now();
            let task = s
                .submit(app::types::SubmitRequest {
                    crm_source: "arrivy".into(),
                    sync_type: "all".into(),
                    parameters: Default::default(),
                    priority: -100,
                    tenant: None,
                    ..Default::default()
                })
                .await?;
            lat.push(t.elapsed().as_secs_f64() * 1000.0);
            anyhow::ensure!(
                task.status == app::types::TaskStatus::Running,
                "the other source's task started at once"
            );
            s.on_result(&ResultMeta {
                task_id: task.task_id,
                state: ResultState::Success,
            })
            .await?;
        }
        let queued = store.snapshot(0, &[]).await?.queued_count;
        anyhow::ensure!(
            queued as usize >= held.saturating_sub(1),
            "the held tasks wait"
        );
        delete_prefix(redis_url, &prefix).await?;
        let mut st = stats_ms(lat);
        st.as_object_mut().unwrap().remove("samples_ms");
        out.insert(
            label.into(),
            serde_json::json!({"held_queued": held, "submit_to_dispatch": st}),
        );
    }
    Ok(serde_json::json!({ "blocked": out }))
}

/// A small fixed-seed generator (SplitMix64): the same arrivals, types and run times on every
/// run with the same seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1).
    fn unit(&mut self) -> f64 {
        ((self.next() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// Log-normal with this median and sigma (Box–Muller).
    fn log_normal(&mut self, median: f64, sigma: f64) -> f64 {
        let (u, v) = (self.unit(), self.unit());
        let z = (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos();
        median * (sigma * z).exp()
    }

    /// Exponential with this mean.
    fn exp(&mut self, mean: f64) -> f64 {
        -mean * self.unit().ln()
    }
}

/// The simulated fleet's task types: (source, type, share of arrivals, median run ms, sigma).
const ETA_TYPES: [(&str, &str, f64, f64, f64); 5] = [
    ("five9", "contacts", 0.10, 600.0, 0.5),
    ("genius", "marketsharp_contacts", 0.225, 250.0, 0.4),
    ("hubspot", "all", 0.225, 500.0, 0.6),
    ("genius", "all", 0.225, 300.0, 0.5),
    ("arrivy", "all", 0.225, 150.0, 0.3),
];

async fn eta(
    redis_url: &str,
    n: usize,
    warmup: usize,
    seed: u64,
) -> anyhow::Result<serde_json::Value> {
    use app::types::{Rate, SubmitRequest, TaskStatus};
    let prefix = format!("wp-bench-eta-{}", std::process::id());
    let queue = format!("{prefix}:celery");
    let (s, store) = bench_scheduler(redis_url, &prefix, &queue)?;
    let slots = 8u32;
    store.seed_max_workers(slots).await?;
    let rules = [
        ("five9".to_string(), RuleChange::Limit(Some(2))),
        ("hubspot".to_string(), RuleChange::TenantLimit(Some(1))),
        (
            "arrivy".to_string(),
            RuleChange::Rate(Some(Rate {
                starts: 50,
                per_seconds: 10,
            })),
        ),
    ];
    store.set_rules(&rules, false).await?;
    let mean_run: f64 = ETA_TYPES
        .iter()
        .map(|(_, _, share, median, sigma)| share * median * (sigma * sigma / 2.0).exp())
        .sum();
    // Load alternates: 10 s at 1.4× what the slots can run, 10 s at 0.5×, so waits range
    // from nothing to many seconds.
    let capacity_per_s = slots as f64 / (mean_run / 1000.0);

    // The worker: takes each message, reports STARTED at once and SUCCESS after its run time.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let worker = {
        let (s, stop, queue, url) = (
            s.clone(),
            stop.clone(),
            queue.clone(),
            redis_url.to_string(),
        );
        let mut rng = Rng(seed ^ 0xA5A5);
        tokio::spawn(async move {
            let client = redis::Client::open(url.as_str())?;
            let cfg = redis::AsyncConnectionConfig::new().set_response_timeout(None);
            let mut c = client
                .get_multiplexed_async_connection_with_config(&cfg)
                .await?;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let got: Option<(String, String)> = redis::cmd("BRPOP")
                    .arg(&queue)
                    .arg(0.5)
                    .query_async(&mut c)
                    .await?;
                let Some((_, raw)) = got else { continue };
                let v: serde_json::Value = serde_json::from_str(&raw)?;
                let id = v["headers"]["id"].as_str().unwrap_or_default().to_string();
                let name = v["headers"]["task"].as_str().unwrap_or_default();
                let (median, sigma) = ETA_TYPES
                    .iter()
                    .find(|t| format!("{}.{}", t.0, t.1) == name)
                    .map(|t| (t.3, t.4))
                    .unwrap_or((300.0, 0.5));
                let run = Duration::from_secs_f64(rng.log_normal(median, sigma) / 1000.0);
                s.on_result(&ResultMeta {
                    task_id: id.clone(),
                    state: ResultState::Started {
                        hostname: Some("bench@eta".into()),
                        pid: Some(1),
                    },
                })
                .await?;
                let s = s.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(run).await;
                    let _ = s
                        .on_result(&ResultMeta {
                            task_id: id,
                            state: ResultState::Success,
                        })
                        .await;
                });
            }
            anyhow::Ok(())
        })
    };

    let mut rng = Rng(seed);
    let t0 = Instant::now();
    let mut next_at = 0.0f64;
    // (id, created, estimated start) of the measured tasks that were queued with an estimate.
    let mut measured = Vec::new();
    let mut queued_without = 0usize;
    let mut submitted_ids = Vec::with_capacity(n);
    for i in 0..n {
        let phase_fast = ((next_at / 10.0) as u64).is_multiple_of(2);
        let rate = capacity_per_s * if phase_fast { 1.4 } else { 0.5 };
        next_at += rng.exp(1.0 / rate);
        let wait = next_at - t0.elapsed().as_secs_f64();
        if wait > 0.0 {
            tokio::time::sleep(Duration::from_secs_f64(wait)).await;
        }
        let mut pick = rng.unit();
        let ty = ETA_TYPES
            .iter()
            .find(|t| {
                pick -= t.2;
                pick <= 0.0
            })
            .unwrap_or(&ETA_TYPES[4]);
        let tenant = (ty.0 == "hubspot").then(|| format!("t{}", rng.next() % 4));
        let task = s
            .submit(SubmitRequest {
                crm_source: ty.0.into(),
                sync_type: ty.1.into(),
                tenant,
                ..Default::default()
            })
            .await?;
        submitted_ids.push(task.task_id.clone());
        if i < warmup || task.status != TaskStatus::Queued {
            continue;
        }
        match task.estimated_start_at {
            Some(est) => measured.push((task.task_id, task.created_at, est)),
            None => queued_without += 1,
        }
    }
    // Let everything run.
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let st = s.status().await?;
        if st.active_count == 0 && st.queued_count == 0 {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the simulated fleet did not drain"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    worker.await??;
    let mut errors = Vec::with_capacity(measured.len());
    let mut points = Vec::with_capacity(measured.len());
    for (id, created, est) in &measured {
        let t = store
            .get(id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("task {id} vanished"))?;
        let started = t
            .started_at
            .ok_or_else(|| anyhow::anyhow!("task {id} never started"))?;
        let real = (started - *created).num_milliseconds() as f64;
        let guess = (*est - *created).num_milliseconds() as f64;
        if real > 0.0 {
            errors.push((guess - real).abs() / real * 100.0);
            points.push((guess / 1000.0, real / 1000.0));
        }
    }
    delete_prefix(redis_url, &prefix).await?;
    errors.sort_by(|a, b| a.partial_cmp(b).unwrap());
    anyhow::ensure!(!errors.is_empty(), "no task was measured");
    let mut waits: Vec<f64> = points.iter().map(|p| p.1).collect();
    waits.sort_by(|a, b| a.partial_cmp(b).unwrap());
    // Every fifth point is enough for the plot.
    let plot: Vec<[f64; 2]> = points
        .iter()
        .step_by(5)
        .map(|p| {
            [
                (p.0 * 1000.0).round() / 1000.0,
                (p.1 * 1000.0).round() / 1000.0,
            ]
        })
        .collect();
    Ok(serde_json::json!({ "eta": {
        "tasks": n,
        "warmup": warmup,
        "seed": seed,
        "slots": slots,
        "measured": errors.len(),
        "queued_without_estimate": queued_without,
        "median_abs_error_pct": percentile(&errors, 50.0),
        "p90_abs_error_pct": percentile(&errors, 90.0),
        "median_real_wait_s": percentile(&waits, 50.0),
        "p90_real_wait_s": percentile(&waits, 90.0),
        "seconds": t0.elapsed().as_secs_f64(),
        "points_estimated_vs_real_wait_s": plot,
    }}))
}
