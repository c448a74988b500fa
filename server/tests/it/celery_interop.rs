//! A real, stock Celery 5.7 worker (`-c 4`) running the demo app, behind the pool with a limit
//! of 2. The verdicts come from the worker's own start/end records (`DEMO_RECORD_FILE`), never
//! from the pool's view.

use crate::common::{eventually, TestServer, Via};
use worker_pool::celery::Broker;

/// Runs `async fn $name(via: Via)` against both brokers, as the tests `$name::over_redis` and
/// `$name::over_rabbitmq`.
macro_rules! both_brokers {
    ($name:ident) => {
        mod $name {
            use crate::common::Via;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn over_redis() {
                super::$name(Via::Redis).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn over_rabbitmq() {
                super::$name(Via::RabbitMq).await
            }
        }
    };
}
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A `celery worker` process on one queue, stopped (warm, then hard) when dropped.
pub(crate) struct Worker {
    /// `interop-<random>`, the part of its hostname before `@`.
    pub(crate) name: String,
    child: Child,
    log: PathBuf,
    records: PathBuf,
    _dir: TempDir,
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn venv() -> PathBuf {
    std::env::var("WORKER_POOL_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/worker-pool/venv")
        })
}

impl Worker {
    fn start(queue: &str, concurrency: u32) -> Self {
        Self::start_with(queue, concurrency, &[], &[])
    }

    /// A worker on `s`'s queue and broker.
    pub(crate) fn start_for(s: &TestServer, concurrency: u32) -> Self {
        Self::start_with(&s.queue, concurrency, &s.worker_env(), &[])
    }

    /// A worker with extra environment (the demo app's `DEMO_CONF`, `DEMO_UNREGISTER`, or a
    /// `REDIS_URL` of its own) and extra `celery worker` options.
    pub(crate) fn start_with(
        queue: &str,
        concurrency: u32,
        env: &[(&str, &str)],
        options: &[&str],
    ) -> Self {
        let celery = venv().join("bin/celery");
        assert!(
            celery.exists(),
            "{} is missing: these tests need the demo venv (scripts/setup.sh creates it, or set WORKER_POOL_VENV)",
            celery.display()
        );
        let dir = std::env::temp_dir().join(format!("wp-celery-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("worker.log");
        let records = dir.join("records.jsonl");
        let demo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../demo");
        let short = format!("interop-{}", &uuid::Uuid::new_v4().to_string()[..8]);
        let name = format!("{short}@%h");
        use std::os::unix::process::CommandExt;
        let child = Command::new(&celery)
            .args([
                "-A",
                "demo_app",
                "worker",
                "-c",
                &concurrency.to_string(),
                "-Q",
                queue,
                "-n",
                &name,
            ])
            .args(["--loglevel=info", "--without-mingle", "--without-gossip"])
            .args(options)
            .current_dir(&demo)
            .env("REDIS_URL", crate::common::redis_url())
            .env("WORKER_POOL_CELERY_QUEUE", queue)
            .env("DEMO_RECORD_FILE", &records)
            .env_remove("CELERY_BROKER_URL")
            .env_remove("CELERY_RESULT_BACKEND")
            .envs(env.iter().copied())
            .stdout(Stdio::from(std::fs::File::create(&log).unwrap()))
            .stderr(Stdio::from(
                std::fs::File::options().append(true).open(&log).unwrap(),
            ))
            // Its own process group, so a hard kill takes the pool children too.
            .process_group(0)
            .spawn()
            .expect("celery worker starts");
        let mut w = Worker {
            name: short,
            child,
            log,
            records,
            _dir: TempDir(dir),
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let text = std::fs::read_to_string(&w.log).unwrap_or_default();
            if text.contains(" ready.") {
                // The worker is on the broker it was given (RabbitMQ or the tests' Redis).
                let amqp = env
                    .iter()
                    .any(|(k, v)| *k == "CELERY_BROKER_URL" && v.starts_with("amqp"));
                assert_eq!(
                    text.contains(".> transport:   amqp://"),
                    amqp,
                    "not on the expected broker:\n{text}"
                );
                break;
            }
            if let Ok(Some(code)) = w.child.try_wait() {
                panic!("the celery worker exited ({code}):\n{text}");
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the celery worker did not start:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        w
    }

    /// The worker's own records: (task id, event, time).
    pub(crate) fn records(&self) -> Vec<(String, String, f64)> {
        std::fs::read_to_string(&self.records)
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let v: Value = serde_json::from_str(l).expect("record is JSON");
                (
                    v["task_id"].as_str().unwrap().to_string(),
                    v["event"].as_str().unwrap().to_string(),
                    v["time"].as_f64().unwrap(),
                )
            })
            .collect()
    }

    /// SIGKILLs the worker and its pool children at once, as a host or OOM loss would: no
    /// worker-offline event, no result.
    fn kill_hard(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.wait();
    }

    /// SIGTERMs the worker's main process: a warm shutdown, as a deploy does. It stops taking
    /// tasks, sends `worker-offline` and no more heartbeats, and finishes what it runs.
    fn terminate(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The most tasks running at once, from start/end records (a task without an end record ends
/// at `fallback_end`).
pub(crate) fn max_concurrency(records: &[(String, String, f64)], fallback_end: f64) -> usize {
    let mut events: Vec<(f64, i32)> = Vec::new();
    for (id, ev, t) in records {
        if ev == "start" {
            events.push((*t, 1));
            if !records.iter().any(|(i, e, _)| i == id && e == "end") {
                events.push((fallback_end, -1));
            }
        } else {
            events.push((*t, -1));
        }
    }
    // Ends before starts at the same instant.
    events.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap().then(a.1.cmp(&b.1)));
    let (mut now, mut max) = (0i32, 0i32);
    for (_, d) in events {
        now += d;
        max = max.max(now);
    }
    max as usize
}

fn id(t: &Value) -> String {
    t["task_id"].as_str().unwrap().to_string()
}

both_brokers!(a_real_worker_runs_under_the_limit_in_priority_order);
async fn a_real_worker_runs_under_the_limit_in_priority_order(via: Via) {
    let s = TestServer::start_via(via, &[("MAX_SYNC_WORKERS", "2")]).await;
    let worker = Worker::start_for(&s, 4);
    let ms = |n: u64| json!({"batch_size": n});

    // Two fill the slots; the rest queue up behind them.
    let a = s.submit("hubspot", "all", ms(1500), 0).await;
    // b outlasts the rest, so the queue drains through one slot, one task at a time, and the
    // start order is the dispatch order.
    let b = s.submit("five9", "contacts", ms(6000), 0).await;
    assert_eq!(a["status"], "running");
    assert_eq!(b["status"], "running");
    let c = s.submit("genius", "all", ms(300), 0).await;
    let d = s.submit("arrivy", "all", ms(300), 10).await;
    let e = s.submit("genius", "marketsharp_contacts", ms(213), 5).await; // fails half way
    let f = s.submit("hubspot", "all", ms(300), 0).await; // cancelled while queued
    let g = s.submit("hubspot", "all", ms(20_000), -5).await; // cancelled while running
    for t in [&c, &d, &e, &f, &g] {
        assert_eq!(t["status"], "queued");
    }
    let (code, cancelled) = s
        .post(&format!("/tasks/{}/cancel/", id(&f)), json!({}))
        .await;
    assert_eq!(code, 200);
    assert_eq!(cancelled["status"], "cancelled");

    // g runs last; once its worker reports STARTED, cancel it: revoke with terminate.
    eventually(30, "g to be started by a worker", || async {
        let (_, t) = s.get(&format!("/tasks/{}/", id(&g))).await;
        t["worker_started_at"].is_string().then_some(())
    })
    .await;
    let (code, t) = s
        .post(&format!("/tasks/{}/cancel/", id(&g)), json!({}))
        .await;
    assert_eq!(code, 200, "{t}");
    let g_done = s.wait_status(&id(&g), "cancelled", 15).await;
    assert!(
        g_done["error"].as_str().unwrap().contains("terminated"),
        "{g_done}"
    );

    for t in [&a, &b, &c, &d] {
        let done = s.wait_status(&id(t), "completed", 30).await;
        assert!(done["error"].is_null());
    }
    let failed = s.wait_status(&id(&e), "failed", 30).await;
    let err = failed["error"].as_str().unwrap();
    assert!(err.starts_with("SyncError: simulated failure"), "{err}");
    assert_eq!(s.task_status(&id(&f)).await, "cancelled");

    // The worker's own records.
    let records = worker.records();
    let starts: Vec<String> = records
        .iter()
        .filter(|r| r.1 == "start")
        .map(|r| r.0.clone())
        .collect();
    assert!(
        !starts.contains(&id(&f)),
        "a task cancelled while queued never runs"
    );
    for t in [&a, &b, &c, &d, &e, &g] {
        assert_eq!(
            starts.iter().filter(|s| **s == id(t)).count(),
            1,
            "each task ran once:\n{}",
            worker.log()
        );
    }
    let g_end = chrono::DateTime::parse_from_rfc3339(g_done["finished_at"].as_str().unwrap())
        .unwrap()
        .timestamp_millis() as f64
        / 1000.0;
    let max = max_concurrency(&records, g_end);
    assert_eq!(max, 2, "never more than the limit (and the limit was used)");
    // After the first two: priority, then arrival.
    let order: Vec<&String> = starts.iter().skip(2).collect();
    assert_eq!(
        order,
        [&id(&d), &id(&e), &id(&c), &id(&g)],
        "dispatch order"
    );
    if let Some(end) = records.iter().find(|r| r.0 == id(&g) && r.1 == "end") {
        assert!(end.2 < g_end + 1.0, "g was terminated, not run to its end");
    }

    let all: Vec<String> = [&a, &b, &c, &d, &e, &f, &g].iter().map(|t| id(t)).collect();
    drop(worker);
    s.stop(&all).await;
}

both_brokers!(a_killed_worker_loses_its_task_while_a_live_one_keeps_a_task_longer_than_the_timeout);
async fn a_killed_worker_loses_its_task_while_a_live_one_keeps_a_task_longer_than_the_timeout(
    via: Via,
) {
    let s = TestServer::start_via(
        via,
        &[
            ("MAX_SYNC_WORKERS", "3"),
            ("WORKER_POOL_WORKER_TIMEOUT", "4s"),
        ],
    )
    .await;
    let mut w1 = Worker::start_for(&s, 1);
    let mut w2 = Worker::start_for(&s, 1);
    // Both run one task at a time; the first two submitted go one to each.
    let long = s
        .submit("hubspot", "all", json!({"batch_size": 9000}), 0)
        .await; // 9 s > the 4 s timeout
    let doomed = s
        .submit("five9", "contacts", json!({"batch_size": 60_000}), 0)
        .await;
    let mut started = std::collections::HashMap::new();
    for t in [&long, &doomed] {
        let task = eventually(30, "both tasks STARTED on a worker", || async {
            let (_, t) = s.get(&format!("/tasks/{}/", id(t))).await;
            t["worker"].as_str().map(str::to_string)
        })
        .await;
        started.insert(id(t), task);
    }
    assert_ne!(
        started[&id(&long)],
        started[&id(&doomed)],
        "one task on each worker"
    );
    let doomed_on_w1 = started[&id(&doomed)].starts_with(&format!("{}@", w1.name));
    let (victim, survivor) = if doomed_on_w1 {
        (&mut w1, &w2)
    } else {
        (&mut w2, &w1)
    };
    victim.kill_hard();

    let lost = s.wait_status(&id(&doomed), "failed", 30).await;
    let err = lost["error"].as_str().unwrap();
    assert!(err.starts_with("Worker lost: no heartbeat from"), "{err}");
    let done = s.wait_status(&id(&long), "completed", 30).await;
    assert!(
        done["error"].is_null(),
        "a task on a live worker is never reclaimed, however long it runs"
    );
    // The freed slot is usable: a new task runs on the survivor.
    let next = s
        .submit("arrivy", "all", json!({"batch_size": 100}), 0)
        .await;
    s.wait_status(&id(&next), "completed", 30).await;
    assert!(survivor
        .records()
        .iter()
        .any(|r| r.0 == id(&next) && r.1 == "end"));
    let starts = victim
        .records()
        .iter()
        .chain(survivor.records().iter())
        .filter(|r| r.0 == id(&doomed) && r.1 == "start")
        .count();
    assert_eq!(starts, 1, "the lost task was not run again");
    let ids = [id(&long), id(&doomed), id(&next)];
    drop(w1);
    drop(w2);
    s.stop(&ids).await;
}

both_brokers!(a_warm_shutdown_finishes_its_task_in_its_slot_past_the_timeout);
async fn a_warm_shutdown_finishes_its_task_in_its_slot_past_the_timeout(via: Via) {
    let s = TestServer::start_via(
        via,
        &[
            ("MAX_SYNC_WORKERS", "1"),
            ("WORKER_POOL_WORKER_TIMEOUT", "4s"),
        ],
    )
    .await;
    let mut w1 = Worker::start_for(&s, 1);
    let long = s
        .submit("hubspot", "all", json!({"batch_size": 10_000}), 0)
        .await; // 10 s: longer than the 3 s offline grace plus the 4 s timeout
    let next = s
        .submit("arrivy", "all", json!({"batch_size": 100}), 0)
        .await;
    eventually(30, "the long task STARTED", || async {
        let (_, t) = s.get(&format!("/tasks/{}/", id(&long))).await;
        t["worker"].as_str().map(str::to_string)
    })
    .await;
    w1.terminate();
    // Past the grace and the timeout, the draining worker still holds the only slot.
    tokio::time::sleep(Duration::from_secs(8)).await;
    let (_, t) = s.get(&format!("/tasks/{}/", id(&long))).await;
    assert_eq!(t["status"], "running", "{t}\n{}", w1.log());
    let (_, t) = s.get(&format!("/tasks/{}/", id(&next))).await;
    assert_eq!(t["status"], "queued", "the slot was not handed on: {t}");
    let done = s.wait_status(&id(&long), "completed", 30).await;
    assert!(done["error"].is_null(), "{done}");
    let _ = w1.child.wait();
    // The slot passes on only now; a new worker runs the next task.
    let w2 = Worker::start_for(&s, 1);
    s.wait_status(&id(&next), "completed", 30).await;
    let ended = w1
        .records()
        .iter()
        .find(|r| r.0 == id(&long) && r.1 == "end")
        .map(|r| r.2)
        .expect("the draining worker finished the long task");
    let began = w2
        .records()
        .iter()
        .find(|r| r.0 == id(&next) && r.1 == "start")
        .map(|r| r.2)
        .expect("the new worker ran the next task");
    assert!(began >= ended, "never two at once under a limit of 1");
    let ids = [id(&long), id(&next)];
    drop(w1);
    drop(w2);
    s.stop(&ids).await;
}

/// Takes the oldest message off the pool's queue list, as a worker's BRPOP does, and returns it:
/// with no worker to hold it, it is lost (a worker killed between kombu's BRPOP and its
/// `unacked` bookkeeping leaves exactly this).
async fn lose_next_message(queue: &str) -> String {
    let mut c = crate::common::redis().await;
    let raw: Option<String> = redis::cmd("RPOP")
        .arg(queue)
        .query_async(&mut c)
        .await
        .unwrap();
    raw.expect("a message was waiting")
}

/// Submits `a` (dispatched at once, limit 1) and `b` (queued), loses a's message, starts a real
/// worker and waits until the pool has sent a's message again and both ran. Returns the
/// server, the worker, both tasks and a's lost message.
async fn lose_a_message_then_recover() -> (TestServer, Worker, Value, Value, String) {
    let s = TestServer::start(&[
        ("MAX_SYNC_WORKERS", "1"),
        ("WORKER_POOL_WORKER_TIMEOUT", "4s"),
    ])
    .await;
    let a = s
        .submit("hubspot", "all", json!({"batch_size": 500}), 0)
        .await;
    assert_eq!(a["status"], "running");
    let b = s
        .submit("arrivy", "all", json!({"batch_size": 200}), 0)
        .await;
    assert_eq!(b["status"], "queued");
    let lost = lose_next_message(&s.queue).await;
    let w = Worker::start(&s.queue, 2);
    let done = s.wait_status(&id(&a), "completed", 60).await;
    assert_eq!(done["resends"], 1, "{done}");
    let why = done["resend_reason"].as_str().unwrap_or_default();
    assert!(
        why.contains("lost between the broker and a worker"),
        "{why}"
    );
    s.wait_status(&id(&b), "completed", 30).await;
    (s, w, a, b, lost)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_lost_on_the_way_to_a_worker_is_sent_again_and_runs_once() {
    let (s, w, a, b, _) = lose_a_message_then_recover().await;
    let records = w.records();
    let runs = |t: &Value| {
        records
            .iter()
            .filter(|r| r.1 == "start" && r.0.split('~').next() == Some(id(t).as_str()))
            .map(|r| r.0.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        runs(&a),
        [format!("{}~1", id(&a))],
        "once, under its new Celery id:\n{}",
        w.log()
    );
    assert_eq!(runs(&b), [id(&b)], "the next task ran too");
    let a_end = records
        .iter()
        .find(|r| r.0.starts_with(&id(&a)) && r.1 == "end")
        .unwrap()
        .2;
    let b_start = records
        .iter()
        .find(|r| r.0 == id(&b) && r.1 == "start")
        .unwrap()
        .2;
    assert!(b_start >= a_end, "never two at once under a limit of 1");
    let ids = [id(&a), format!("{}~1", id(&a)), id(&b)];
    drop(w);
    s.stop(&ids).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_copy_of_a_message_sent_again_does_not_run() {
    let (s, w, a, _b, lost) = lose_a_message_then_recover().await;
    // The lost copy turns up after all (a restore, a redelivery): the worker heard the revoke
    // of its old Celery id, and discards it.
    let mut c = crate::common::redis().await;
    let _: i64 = redis::cmd("LPUSH")
        .arg(&s.queue)
        .arg(&lost)
        .query_async(&mut c)
        .await
        .unwrap();
    eventually(15, "the worker to discard the stale copy", || async {
        w.log()
            .contains(&format!("Discarding revoked task: hubspot.all[{}]", id(&a)))
            .then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let starts: Vec<String> = w
        .records()
        .into_iter()
        .filter(|r| r.1 == "start" && r.0.starts_with(&id(&a)))
        .map(|r| r.0)
        .collect();
    assert_eq!(starts, [format!("{}~1", id(&a))], "{}", w.log());
    let (_, t) = s.get(&format!("/tasks/{}/", id(&a))).await;
    assert_eq!(
        t["status"], "completed",
        "the discarded copy's REVOKED is fenced off: {t}"
    );
    let ids = [id(&a), format!("{}~1", id(&a)), id(&_b)];
    drop(w);
    s.stop(&ids).await;
}

#[test]
fn concurrency_from_records() {
    let r = |id: &str, ev: &str, t: f64| (id.to_string(), ev.to_string(), t);
    let recs = vec![
        r("a", "start", 0.0),
        r("b", "start", 0.5),
        r("a", "end", 1.0),
        r("c", "start", 1.0),
        r("b", "end", 2.0),
    ];
    assert_eq!(max_concurrency(&recs, 9.0), 2);
    let recs = vec![
        r("a", "start", 0.0),
        r("b", "start", 0.5),
        r("c", "start", 0.7),
    ];
    assert_eq!(max_concurrency(&recs, 9.0), 3);
}

/// The most of `ids`' runs (by start and end record) that overlapped at any instant.
fn max_overlap(records: &[(String, String, f64)], ids: &[String]) -> usize {
    let mine: Vec<(String, String, f64)> = records
        .iter()
        .filter(|r| {
            ids.iter()
                .any(|id| r.0.split('~').next() == Some(id.as_str()))
        })
        .cloned()
        .collect();
    max_concurrency(&mine, f64::MAX)
}

fn start_of(records: &[(String, String, f64)], id: &str) -> f64 {
    records
        .iter()
        .find(|r| r.1 == "start" && r.0.split('~').next() == Some(id))
        .unwrap_or_else(|| panic!("{id} started"))
        .2
}

fn end_of(records: &[(String, String, f64)], id: &str) -> f64 {
    records
        .iter()
        .find(|r| r.1 == "end" && r.0.split('~').next() == Some(id))
        .unwrap_or_else(|| panic!("{id} ended"))
        .2
}

both_brokers!(flow_control_holds_each_source_and_never_delays_the_others);
async fn flow_control_holds_each_source_and_never_delays_the_others(via: Via) {
    let s = TestServer::start_via(
        via,
        &[
            ("MAX_SYNC_WORKERS", "4"),
            ("WORKER_POOL_SOURCE_LIMITS", "five9=1"),
            ("WORKER_POOL_COOLDOWN_PATTERN", "simulated failure"),
            ("WORKER_POOL_COOLDOWN", "3s"),
        ],
    )
    .await;
    let (code, limits) = s
        .post(
            "/limits/",
            json!({"sources": {"hubspot": {"tenant_limit": 1},
                               "arrivy": {"rate": {"starts": 2, "per_seconds": 3}}}}),
        )
        .await;
    assert_eq!(code, 200, "{limits}");
    assert_eq!(
        limits["sources"]["five9"]["limit"], 1,
        "seeded from the environment"
    );
    let w = Worker::start_for(&s, 4);
    let submit = |src: &'static str, typ: &'static str, ms: u64, tenant: Option<&'static str>| {
        let s = &s;
        async move {
            let (code, t) = s
                .post(
                    "/submit/",
                    json!({"crm_source": src, "sync_type": typ,
                           "parameters": {"batch_size": ms}, "tenant": tenant}),
                )
                .await;
            assert_eq!(code, 201, "{t}");
            id(&t)
        }
    };
    // five9 first (limit 1), then a tenant's HubSpot syncs (1 per tenant), an Arrivy burst
    // (2 starts per 3 s), and Genius tasks last: they must not wait behind the held ones.
    let f: Vec<String> =
        futures::future::join_all((0..3).map(|_| submit("five9", "contacts", 800, None))).await;
    // Two of them wait behind the first (800 ms each), and say why. Asked at once: on a busy
    // machine the submits below can outlast the first two runs. The last of the three to
    // start cannot have started before 1.6 s.
    let mut waiting = 0;
    for t in &f {
        let (_, queued) = s.get(&format!("/tasks/{t}/")).await;
        if queued["status"] == "queued" {
            waiting += 1;
            assert!(
                ["source_limit", "queue", "global_limit"]
                    .contains(&queued["blocked_by"].as_str().unwrap_or_default()),
                "{queued}"
            );
        }
    }
    assert!(waiting >= 1, "five9's limit of 1 holds two of three back");
    let acme = vec![
        submit("hubspot", "all", 800, Some("acme")).await,
        submit("hubspot", "all", 800, Some("acme")).await,
    ];
    let bolt = submit("hubspot", "all", 300, Some("bolt")).await;
    let mut arrivy = Vec::new();
    for _ in 0..3 {
        arrivy.push(submit("arrivy", "all", 100, None).await);
    }
    let genius = submit("genius", "all", 200, None).await;
    let all: Vec<String> = f
        .iter()
        .chain(&acme)
        .chain([&bolt])
        .chain(&arrivy)
        .chain([&genius])
        .cloned()
        .collect();
    for t in &all {
        s.wait_status(t, "completed", 60).await;
    }
    let r = w.records();
    assert_eq!(max_overlap(&r, &f), 1, "five9: never two at once");
    assert_eq!(
        max_overlap(&r, &acme),
        1,
        "acme's HubSpot syncs: one at a time"
    );
    // The rate budget governs when the pool lets a task start (its `started_at`); how soon a
    // busy worker then reports it is outside the pool's hands (a first task that waited on a
    // just-started worker's child made the worker's own times look like three in a window).
    let mut arrivy_starts = Vec::new();
    for id in &arrivy {
        let (_, t) = s.get(&format!("/tasks/{id}/")).await;
        let at = chrono::DateTime::parse_from_rfc3339(t["started_at"].as_str().expect("started"))
            .expect("an RFC 3339 time");
        arrivy_starts.push(at.timestamp_millis() as f64 / 1000.0);
        start_of(&r, id); // and the worker did run it
    }
    for (i, a) in arrivy_starts.iter().enumerate() {
        let in_window = arrivy_starts
            .iter()
            .filter(|b| **b >= *a && **b < *a + 3.0)
            .count();
        assert!(
            in_window <= 2,
            "arrivy start {i}: {in_window} starts within 3 s"
        );
    }
    assert!(
        start_of(&r, &genius) < end_of(&r, &f[1]),
        "genius did not wait for the held five9 tasks"
    );
    assert!(
        start_of(&r, &bolt) < end_of(&r, &acme[0]),
        "another tenant did not wait for acme"
    );

    // Pause: nothing new starts, the queue keeps it; resume starts it.
    let (code, st) = s.post("/pause/", json!({})).await;
    assert_eq!((code, st["paused"].as_bool()), (200, Some(true)), "{st}");
    let held = submit("genius", "all", 100, None).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (_, t) = s.get(&format!("/tasks/{held}/")).await;
    assert_eq!(
        (t["status"].as_str(), t["blocked_by"].as_str()),
        (Some("queued"), Some("paused"))
    );
    s.post("/resume/", json!({})).await;
    s.wait_status(&held, "completed", 30).await;

    // A failure that matches the pattern cools its source down; its next task waits.
    let failing = submit("genius", "all", 213, None).await;
    s.wait_status(&failing, "failed", 30).await;
    let next = submit("genius", "all", 100, None).await;
    let (_, st) = s.get("/status/").await;
    assert!(
        st["sources"]["genius"]["cooldown_until"].is_string(),
        "{st}"
    );
    let (_, t) = s.get(&format!("/tasks/{next}/")).await;
    assert_eq!(t["blocked_by"], "cooldown", "{t}");
    s.wait_status(&next, "completed", 30).await;
    let r = w.records();
    assert!(
        start_of(&r, &next) >= end_of(&r, &failing) + 2.5,
        "it waited for the cool-down"
    );
    let mut ids = all.clone();
    ids.extend([held, failing, next]);
    drop(w);
    s.stop(&ids).await;
}

/// The (task id, event, time) records of one task id, in order.
fn runs_of<'a>(
    records: &'a [(String, String, f64)],
    id: &'a str,
) -> impl Iterator<Item = &'a (String, String, f64)> {
    records.iter().filter(move |r| r.0 == id)
}

both_brokers!(celerys_own_retries_keep_the_slot_and_end_with_the_last_run);
async fn celerys_own_retries_keep_the_slot_and_end_with_the_last_run(via: Via) {
    let s = TestServer::start_via(via, &[("MAX_SYNC_WORKERS", "1")]).await;
    let w = Worker::start_for(&s, 2);
    // Ends in 17: `self.retry` twice (1 s apart), then it works.
    let r = s
        .submit("hubspot", "all", json!({"batch_size": 317}), 0)
        .await;
    // Ends in 19: `autoretry_for` retries it once, then it fails for good.
    let f = s
        .submit("arrivy", "all", json!({"batch_size": 219}), 0)
        .await;
    let after = s
        .submit("five9", "contacts", json!({"batch_size": 100}), 0)
        .await;
    assert_eq!(r["status"], "running");
    let done = s.wait_status(&id(&r), "completed", 60).await;
    assert!(done["error"].is_null(), "{done}");
    let failed = s.wait_status(&id(&f), "failed", 60).await;
    let err = failed["error"].as_str().unwrap();
    assert!(err.starts_with("RetryableSyncError"), "{err}");
    s.wait_status(&id(&after), "completed", 60).await;

    let records = w.records();
    let starts = |t: &Value| runs_of(&records, &id(t)).filter(|r| r.1 == "start").count();
    assert_eq!(
        starts(&r),
        3,
        "two retries, then the run that worked:\n{}",
        w.log()
    );
    assert_eq!(starts(&f), 2, "one automatic retry:\n{}", w.log());
    // Each task's page tells Celery's retries, and the failure's traceback from the worker.
    let retries = |story: &Value| {
        story["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "retry")
            .count()
    };
    let (_, story) = s.get(&format!("/tasks/{}/story/", id(&r))).await;
    assert_eq!(retries(&story), 2, "{story}");
    let story = eventually(5, "the failure's traceback stored", || async {
        let (_, story) = s.get(&format!("/tasks/{}/story/", id(&f))).await;
        story["traceback"].is_string().then_some(story)
    })
    .await;
    assert_eq!(retries(&story), 1, "{story}");
    let tb = story["traceback"].as_str().unwrap();
    assert!(
        tb.contains("demo_app.py") && tb.contains("RetryableSyncError"),
        "{tb}"
    );
    // Under a limit of 1, each task's retries all ran before the next task's first start:
    // its slot was held through Celery's RETRY states.
    let first = |t: &Value| {
        runs_of(&records, &id(t))
            .map(|r| r.2)
            .fold(f64::MAX, f64::min)
    };
    let last = |t: &Value| runs_of(&records, &id(t)).map(|r| r.2).fold(0.0, f64::max);
    assert!(last(&r) <= first(&f), "{records:?}");
    assert!(last(&f) <= first(&after), "{records:?}");
    assert_eq!(max_concurrency(&records, last(&after)), 1);
    // A pool retry of the failed one: a new task, linked both ways, that runs.
    let (code, again) = s
        .post(&format!("/tasks/{}/retry/", id(&f)), json!({}))
        .await;
    assert_eq!(code, 201, "{again}");
    assert_eq!(again["retry_of"], id(&f).as_str());
    let (_, old) = s.get(&format!("/tasks/{}/", id(&f))).await;
    assert_eq!(old["retried_by"], id(&again).as_str(), "{old}");
    s.wait_status(&id(&again), "failed", 60).await;
    assert_eq!(
        runs_of(&w.records(), &id(&again))
            .filter(|r| r.1 == "start")
            .count(),
        2,
        "the retry ran (and Celery retried it once, as its type does)"
    );
    let ids = [id(&r), id(&f), id(&after), id(&again)];
    drop(w);
    s.stop(&ids).await;
}

both_brokers!(time_limits_revoke_a_long_run_and_cancel_a_long_wait);
async fn time_limits_revoke_a_long_run_and_cancel_a_long_wait(via: Via) {
    let registry = std::env::temp_dir().join(format!("wp-registry-{}.json", uuid::Uuid::new_v4()));
    std::fs::write(
        &registry,
        json!([
            {"crm_source": "hubspot", "sync_type": "all", "max_runtime": 3},
            {"crm_source": "arrivy", "sync_type": "all", "max_queue_wait": "1s"},
            {"crm_source": "five9", "sync_type": "contacts"}
        ])
        .to_string(),
    )
    .unwrap();
    let s = TestServer::start_via(
        via,
        &[
            ("MAX_SYNC_WORKERS", "1"),
            ("WORKER_POOL_TASK_REGISTRY", registry.to_str().unwrap()),
        ],
    )
    .await;
    let w = Worker::start_for(&s, 2);
    let long = s
        .submit("hubspot", "all", json!({"batch_size": 30_000}), 0)
        .await;
    let waits = s
        .submit("arrivy", "all", json!({"batch_size": 100}), 0)
        .await;
    let next = s
        .submit("five9", "contacts", json!({"batch_size": 100}), 0)
        .await;
    assert_eq!(long["status"], "running");
    let cancelled = s.wait_status(&id(&waits), "cancelled", 30).await;
    let why = cancelled["error"].as_str().unwrap();
    assert!(
        why.contains("max_queue_wait") && why.contains("never ran"),
        "{why}"
    );
    let failed = s.wait_status(&id(&long), "failed", 30).await;
    let why = failed["error"].as_str().unwrap();
    assert!(why.contains("max_runtime 3.0s"), "{why}");
    s.wait_status(&id(&next), "completed", 30).await;

    let records = w.records();
    assert!(
        runs_of(&records, &id(&waits)).next().is_none(),
        "the task that waited too long never ran"
    );
    let long_start = runs_of(&records, &id(&long))
        .find(|r| r.1 == "start")
        .map(|r| r.2)
        .expect("the long task started");
    let next_start = runs_of(&records, &id(&next))
        .find(|r| r.1 == "start")
        .map(|r| r.2)
        .unwrap();
    let ended = chrono::DateTime::parse_from_rfc3339(failed["finished_at"].as_str().unwrap())
        .unwrap()
        .timestamp_millis() as f64
        / 1000.0;
    assert!(ended - long_start < 10.0, "revoked long before its 30 s");
    assert!(
        next_start >= ended - 0.05,
        "the slot was freed only when the worker confirmed"
    );
    let ids = [id(&long), id(&waits), id(&next)];
    drop(w);
    let _ = std::fs::remove_file(&registry);
    s.stop(&ids).await;
}

both_brokers!(the_doctor_names_each_wrong_worker_setting);
/// `GET doctor/` (what `worker-pool doctor` prints) against real workers started with each
/// setting the pool relies on wrong in turn, each on a queue of its own.
async fn the_doctor_names_each_wrong_worker_setting(via: Via) {
    /// What the worker gets wrong, its environment, its options, the check, the finding.
    type Case<'a> = (
        &'a str,
        &'a [(&'a str, &'a str)],
        &'a [&'a str],
        &'a str,
        &'a str,
    );
    let cases: [Case; 7] = [
        ("nothing", &[], &[], "", ""),
        (
            "track_started",
            &[("DEMO_CONF", r#"{"task_track_started": false}"#)],
            &[],
            "worker.track_started",
            "problem",
        ),
        (
            "ignore_result",
            &[("DEMO_CONF", r#"{"task_ignore_result": true}"#)],
            &[],
            "worker.results",
            "problem",
        ),
        (
            "prefetch",
            &[("DEMO_CONF", r#"{"worker_prefetch_multiplier": 4}"#)],
            &[],
            "worker.prefetch",
            "warning",
        ),
        (
            "acks_late",
            &[(
                "DEMO_CONF",
                r#"{"task_acks_late": true, "result_backend_always_retry": false}"#,
            )],
            &[],
            "worker.acks_late",
            "warning",
        ),
        (
            "unregistered",
            &[("DEMO_UNREGISTER", "genius.all")],
            &[],
            "worker.registered",
            "problem",
        ),
        (
            "heartbeat",
            &[],
            &["--without-heartbeat"],
            "worker.heartbeats",
            "problem",
        ),
    ];
    let mut running = Vec::new();
    for (what, env, options, check, status) in cases {
        let s = TestServer::start_via(via, &[]).await;
        let mut all = s.worker_env();
        all.extend_from_slice(env);
        let w = Worker::start_with(&s.queue, 1, &all, options);
        drop(all);
        running.push((what, check, status, s, w));
    }
    for (what, check, status, s, w) in running.iter() {
        // The pool hears a worker's heartbeat within 2 s of its start.
        let report = eventually(10, "the doctor's report", || async {
            let (code, r) = s.get("/doctor/").await;
            assert_eq!(code, 200, "{r}");
            let heard = r["checks"].as_array().unwrap().iter().any(|c| {
                c["check"] == "worker.heartbeats" && (c["status"] == "ok" || *what == "heartbeat")
            });
            heard.then_some(r)
        })
        .await;
        let checks = report["checks"].as_array().unwrap();
        let found =
            |name: &str| -> Vec<&Value> { checks.iter().filter(|c| c["check"] == name).collect() };
        let consume = found("workers.consume");
        assert_eq!(consume[0]["status"], "ok", "{what}: {report:#}");
        assert!(
            consume[0]["message"].as_str().unwrap().contains(&w.name),
            "{what}: {report:#}"
        );
        let bad: Vec<&Value> = checks
            .iter()
            .filter(|c| {
                c["subject"] != "store"
                    && c["subject"] != "broker"
                    && c["subject"] != "result backend"
            })
            .filter(|c| c["status"] != "ok")
            .collect();
        if *what == "nothing" {
            assert!(
                bad.is_empty(),
                "a worker set up right has nothing to fix: {report:#}"
            );
            assert_eq!(report["ok"], true, "{report:#}");
            continue;
        }
        let hit = found(check);
        assert_eq!(hit.len(), 1, "{what}: {report:#}");
        assert_eq!(hit[0]["status"], *status, "{what}: {report:#}");
        assert!(hit[0]["fix"].is_string(), "{what}: {report:#}");
        assert_eq!(report["ok"], *status != "problem", "{what}: {report:#}");
        match *what {
            "unregistered" => assert!(
                hit[0]["message"].as_str().unwrap().contains("genius.all"),
                "{report:#}"
            ),
            // Two things wrong, two findings.
            "acks_late" => assert_eq!(
                found("worker.result_retry")[0]["status"],
                "warning",
                "{report:#}"
            ),
            _ => assert_eq!(bad.len(), 1, "{what}: only what it gets wrong: {report:#}"),
        }
        // The CLI prints the same findings and exits 1 on a problem (0 on warnings only).
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_worker-pool"))
            .args(["doctor", "--url", &s.base])
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(if *status == "problem" { 1 } else { 0 }),
            "{what}: {text}"
        );
        assert!(
            text.contains(hit[0]["message"].as_str().unwrap()),
            "{what}: {text}"
        );
    }
    // No worker at all on a queue: nothing would ever run.
    let lonely = TestServer::start_via(via, &[]).await;
    let (_, report) = lonely.get("/doctor/").await;
    let consume = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "workers.consume")
        .unwrap()
        .clone();
    assert_eq!(consume["status"], "problem", "{report:#}");
    assert_eq!(report["ok"], false);
    lonely.stop(&[]).await;
    for (_, _, _, s, w) in running {
        drop(w);
        s.stop(&[]).await;
    }
}

both_brokers!(the_doctor_finds_tasks_run_from_the_queue_outside_the_pool);
/// A task a worker runs from the pool's queue that the pool never dispatched (another app
/// calling `.delay()` on it) runs outside the limit: the doctor says so.
async fn the_doctor_finds_tasks_run_from_the_queue_outside_the_pool(via: Via) {
    let s = TestServer::start_via(via, &[]).await;
    let w = Worker::start_for(&s, 2);
    let pooled = s
        .submit("hubspot", "all", json!({"batch_size": 20000}), 0)
        .await;
    // A message published straight to the queue, as Celery's own client would.
    let foreign = uuid::Uuid::new_v4().to_string();
    let kwargs = json!({"full": false, "batch_size": 20000, "dry_run": false});
    let msg =
        worker_pool::celery::protocol::task_message(&worker_pool::celery::protocol::TaskSpec {
            task_name: "genius.all",
            celery_id: &foreign,
            kwargs: kwargs.as_object().unwrap(),
            queue: &s.queue,
            priority: 0,
            origin: "gen1@elsewhere",
            delivery_tag: &uuid::Uuid::new_v4().to_string(),
        });
    // Through the server's own broker connection: the Redis list, or RabbitMQ's queue.
    s.scheduler()
        .broker()
        .publish(&msg.list, &msg.json)
        .await
        .unwrap();
    let report = eventually(20, "both tasks active", || async {
        let (_, r) = s.get("/doctor/").await;
        let outside = r["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["check"] == "queue.outside")?
            .clone();
        (outside["status"] == "problem").then_some(r)
    })
    .await;
    let outside = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "queue.outside")
        .unwrap();
    let text = outside["message"].as_str().unwrap();
    assert!(text.contains(&foreign), "{report:#}");
    assert!(
        !text.contains(&id(&pooled)),
        "the pool's own task is not outside: {report:#}"
    );
    assert_eq!(report["ok"], false);
    let (_, _) = s
        .post(&format!("/tasks/{}/cancel/", id(&pooled)), json!({}))
        .await;
    drop(w);
    s.stop(&[id(&pooled), foreign]).await;
}

/// Over RabbitMQ, a server that took slots but stopped before RabbitMQ confirmed their
/// publishes leaves those dispatches in doubt: the pool cannot look inside a queue. Here the
/// first server's broker never answers; of its two dispatches, one's message did reach the
/// queue after all (only its confirmation was lost). The server that takes over lets that one
/// run from its message, under its own id, and sends the other, which never reached the
/// queue, again under a new Celery id (the old one revoked). Each runs once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_rabbitmq_dispatches_a_stopped_server_left_unconfirmed_each_run_once() {
    let vhost = std::sync::Arc::new(crate::common::Vhost::new());
    let prefix = crate::common::unique("srv");
    let queue = format!("{prefix}:celery");
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dead = format!("amqp://guest:guest@127.0.0.1:{closed}/nowhere");
    let vars = [
        ("MAX_SYNC_WORKERS", "2"),
        ("WORKER_POOL_REDIS_TIMEOUT_MS", "300"),
        ("WORKER_POOL_WORKER_TIMEOUT", "4s"),
    ];
    let mut first = vars.to_vec();
    first.push(("CELERY_BROKER_URL", &dead));
    let a = TestServer::start_on(&prefix, &queue, &first, None).await;
    let never = a
        .submit("hubspot", "all", json!({"batch_size": 300}), 0)
        .await;
    let reached = a
        .submit("five9", "contacts", json!({"batch_size": 300}), 0)
        .await;
    for t in [&never, &reached] {
        assert_eq!(
            t["status"], "running",
            "the slot is taken before the publish: {t}"
        );
    }
    let store = a.scheduler().store().clone();
    let never_old = store
        .dispatch_message(&id(&never))
        .await
        .unwrap()
        .expect("a dispatch")
        .celery_id;
    let m = store
        .dispatch_message(&id(&reached))
        .await
        .unwrap()
        .expect("a dispatch");
    a.stop_keep().await;

    let w = Worker::start_with(&queue, 2, &[("CELERY_BROKER_URL", vhost.url.as_str())], &[]);
    let amqp = worker_pool::celery::amqp::AmqpBroker::new(
        &vhost.url,
        &crate::common::redis_url(),
        Duration::from_secs(5),
    )
    .unwrap();
    amqp.publish(&m.list, &m.message).await.unwrap();
    amqp.close().await;
    let b = TestServer::start_on(&prefix, &queue, &vars, Some(vhost.clone())).await;
    let done = b.wait_status(&id(&reached), "completed", 30).await;
    assert_eq!(done["resends"], 0, "{done}");
    let done = b.wait_status(&id(&never), "completed", 30).await;
    assert_eq!(done["resends"], 1, "{done}");
    let why = done["resend_reason"].as_str().unwrap_or_default();
    assert!(why.contains("never confirmed"), "{why}");
    let records = w.records();
    // A record names the Celery id it ran under: the task's id, `~n` after n re-sends.
    let starts = |t: &Value| {
        records
            .iter()
            .filter(|r| r.1 == "start" && r.0.split('~').next() == Some(id(t).as_str()))
            .count()
    };
    assert!(records.iter().any(|r| r.0 == format!("{}~1", id(&never))));
    for t in [&never, &reached] {
        assert_eq!(starts(t), 1, "each task ran once: {records:?}\n{}", w.log());
    }
    assert!(
        !records.iter().any(|r| r.0 == never_old),
        "the old id of the one sent again never ran"
    );
    drop(w);
    let mut ids = vec![id(&never), id(&reached), never_old];
    ids.push(format!("{}~1", id(&never)));
    b.stop(&ids).await;
}

both_brokers!(a_message_delivered_again_after_its_task_ran_runs_once);
/// A broker can deliver a message again after its task ran: RabbitMQ does when it crashes
/// before a worker's acknowledgement reached its disk (the RabbitMQ chaos profile caught it).
/// The demo's workers use `worker_pool_client.celery.RunOnceTask`: the second delivery runs
/// nothing, and the result backend keeps the first run's end (Celery writes STARTED over it
/// before any task code runs; the base class puts the end back).
async fn a_message_delivered_again_after_its_task_ran_runs_once(via: Via) {
    let s = TestServer::start_via(via, &[("MAX_SYNC_WORKERS", "1")]).await;
    let w = Worker::start_for(&s, 1);
    let t = s
        .submit("hubspot", "all", json!({"batch_size": 200}), 0)
        .await;
    s.wait_status(&id(&t), "completed", 30).await;
    let kwargs = json!({"full": false, "batch_size": 200, "dry_run": false});
    let again =
        worker_pool::celery::protocol::task_message(&worker_pool::celery::protocol::TaskSpec {
            task_name: "hubspot.all",
            celery_id: &id(&t),
            kwargs: kwargs.as_object().unwrap(),
            queue: &s.queue,
            priority: 0,
            origin: "redelivery@test",
            delivery_tag: &uuid::Uuid::new_v4().to_string(),
        });
    s.scheduler()
        .broker()
        .publish(&again.list, &again.json)
        .await
        .unwrap();
    let received = format!("Task hubspot.all[{}] received", id(&t));
    eventually(20, "the second delivery taken by the worker", || async {
        (w.log().matches(&received).count() >= 2).then_some(())
    })
    .await;
    // Give it the time a run of 200 ms would take, and more.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let starts = runs_of(&w.records(), &id(&t))
        .filter(|r| r.1 == "start")
        .count();
    assert_eq!(starts, 1, "ran once:\n{}", w.log());
    let mut c = crate::common::redis().await;
    let meta: String = redis::cmd("GET")
        .arg(format!("celery-task-meta-{}", id(&t)))
        .query_async(&mut c)
        .await
        .unwrap();
    let meta: Value = serde_json::from_str(&meta).unwrap();
    assert_eq!(
        meta["status"], "SUCCESS",
        "the first run's end is kept: {meta}"
    );
    assert_eq!(s.task_status(&id(&t)).await, "completed");
    drop(w);
    s.stop(&[id(&t)]).await;
}
