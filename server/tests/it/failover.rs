//! Redis behind Sentinel, on private servers of the test's own: a primary, a replica and three
//! Sentinels. The pool (store, broker, result backend, listener) and a real Celery worker reach
//! Redis through the Sentinel URLs; the primary is SIGKILLed while tasks run and right after
//! acknowledged submits. Everyone follows the promoted replica by themselves, and every task
//! the API acknowledged runs exactly once, never more than the limit at once (the worker's own
//! records say so).

use crate::celery_interop::{max_concurrency, Worker};
use crate::common::{eventually, TestServer};
use crate::outage::PrivateRedis;
use serde_json::json;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The master's name the Sentinels monitor.
const MASTER: &str = "wp";

/// A Sentinel (`redis-server <conf> --sentinel`) on a free port, watching one primary.
struct Sentinel {
    port: u16,
    dir: PathBuf,
    child: Child,
}

impl Sentinel {
    fn start(primary_port: u16) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = std::env::temp_dir().join(format!("wp-sentinel-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let conf = dir.join("sentinel.conf");
        // Quick to call the primary down and fail over, as a test needs; production keeps
        // Sentinel's defaults (30 s, 3 min).
        std::fs::write(
            &conf,
            format!(
                "port {port}\nbind 127.0.0.1\ndir {}\n\
                 sentinel monitor {MASTER} 127.0.0.1 {primary_port} 2\n\
                 sentinel down-after-milliseconds {MASTER} 1000\n\
                 sentinel failover-timeout {MASTER} 4000\n",
                dir.display()
            ),
        )
        .unwrap();
        let child = Command::new("redis-server")
            .arg(&conf)
            .arg("--sentinel")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed (scripts/setup.sh installs it)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the Sentinel did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Sentinel { port, dir, child }
    }

    /// A field of `SENTINEL master <name>` (its answer alternates names and values).
    fn master_field(&self, field: &str) -> Option<String> {
        let out = Command::new("redis-cli")
            .args(["-p", &self.port.to_string(), "SENTINEL", "master", MASTER])
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        lines
            .iter()
            .position(|l| *l == field)
            .and_then(|i| lines.get(i + 1))
            .map(|v| v.to_string())
    }
}

impl Drop for Sentinel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Submits with a client-chosen id until the API acknowledges it (a 503 while the primary is
/// gone is answered by sending the same id again, as a client should).
async fn submit_until_acknowledged(s: &TestServer, batch_ms: u64) -> String {
    let id = uuid::Uuid::new_v4().to_string();
    let body = json!({"crm_source": "hubspot", "sync_type": "all", "task_id": id,
                      "parameters": {"batch_size": batch_ms}});
    eventually(60, "the submit acknowledged", || async {
        let (code, t) = s.post("/submit/", body.clone()).await;
        match code {
            200 | 201 => Some(()),
            503 => None,
            _ => panic!("submit answered {code}: {t}"),
        }
    })
    .await;
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pool_and_a_celery_worker_follow_the_primary_through_a_sentinel_failover() {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter("worker_pool=info")
        .try_init();
    let mut primary = PrivateRedis::start();
    let port = primary.port.to_string();
    let replica = PrivateRedis::start_with(&["--replicaof", "127.0.0.1", &port]);
    eventually(10, "the replica linked", || async {
        replica
            .cmd(&["INFO", "replication"])
            .contains("master_link_status:up")
            .then_some(())
    })
    .await;
    let sentinels: Vec<Sentinel> = (0..3).map(|_| Sentinel::start(primary.port)).collect();
    // A failover needs each Sentinel to know the replica and the two others.
    eventually(
        30,
        "the Sentinels found the replica and each other",
        || async {
            sentinels
                .iter()
                .all(|s| {
                    s.master_field("num-slaves").as_deref() == Some("1")
                        && s.master_field("num-other-sentinels").as_deref() == Some("2")
                })
                .then_some(())
        },
    )
    .await;
    // Celery's form of the URLs, the master's name apart, for the pool and the worker alike.
    let url = sentinels
        .iter()
        .map(|s| format!("sentinel://127.0.0.1:{}/0", s.port))
        .collect::<Vec<_>>()
        .join(";");
    let s = TestServer::start(&[
        ("REDIS_URL", &url),
        ("WORKER_POOL_SENTINEL_MASTER", MASTER),
        ("MAX_SYNC_WORKERS", "2"),
        ("WORKER_POOL_REDIS_REPLICAS", "1"),
        ("WORKER_POOL_REDIS_REPLICA_TIMEOUT", "500ms"),
        ("WORKER_POOL_REDIS_TIMEOUT_MS", "1000"),
        ("WORKER_POOL_RECONCILE_INTERVAL", "2s"),
    ])
    .await;
    let worker = Worker::start_with(
        &s.queue,
        2,
        &[("REDIS_URL", &url), ("WORKER_POOL_SENTINEL_MASTER", MASTER)],
        &[],
    );

    let mut acknowledged = Vec::new();
    for _ in 0..4 {
        acknowledged.push(submit_until_acknowledged(&s, 1500).await);
    }
    eventually(20, "two tasks running on the worker", || async {
        let started = worker.records().iter().filter(|r| r.1 == "start").count();
        (started >= 2).then_some(())
    })
    .await;
    // Right after acknowledged submits, with two tasks running and two queued: the primary
    // dies without a word.
    acknowledged.push(submit_until_acknowledged(&s, 1000).await);
    primary.down();
    eventually(30, "the Sentinels promoted the replica", || async {
        replica.cmd(&["ROLE"]).starts_with("master").then_some(())
    })
    .await;
    // The old primary comes back at once as a replica of the new one, as README's "Running
    // Redis for it" asks (restarted as a primary, it would say "master" until the Sentinels
    // demote it: the pool never writes to it, but Celery's workers can, and lose what they
    // write there). Until it has linked, a submit cannot be made durable (503): sent again.
    let promoted = replica.port.to_string();
    primary.extra = vec!["--replicaof".into(), "127.0.0.1".into(), promoted];
    primary.up();
    for _ in 0..3 {
        acknowledged.push(submit_until_acknowledged(&s, 1000).await);
    }
    // It may still be loading its data (`ROLE` then answers LOADING) on a busy machine.
    eventually(10, "the old primary is a replica now", || async {
        primary.cmd(&["ROLE"]).starts_with("slave").then_some(())
    })
    .await;
    let deadline = Instant::now() + Duration::from_secs(90);
    for id in &acknowledged {
        loop {
            let (_, t) = s.get(&format!("/tasks/{id}/")).await;
            if t["status"] == "completed" {
                break;
            }
            if Instant::now() > deadline {
                let log = worker.log();
                let tail: String = log
                    .lines()
                    .filter(|l| {
                        l.starts_with('[') || l.starts_with("redis.") || l.starts_with("kombu.")
                    })
                    .collect::<Vec<_>>()
                    .join("\n");
                let key = format!("celery-task-meta-{id}");
                panic!("{id} did not complete: {t}\nrecords: {:?}\nworker log:\n{tail}\nreplica {} {}: {}\nold primary {} {}: {}", worker.records(),
                    replica.port, replica.cmd(&["ROLE"]), replica.cmd(&["KEYS", "celery-task-meta-*"]),
                    primary.port, primary.cmd(&["ROLE"]), primary.cmd(&["GET", &key]));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let records = worker.records();
    for id in &acknowledged {
        let runs = records
            .iter()
            .filter(|r| r.1 == "start" && r.0.split('~').next() == Some(id.as_str()))
            .count();
        assert_eq!(runs, 1, "{id} ran once: {records:?}");
    }
    assert!(
        max_concurrency(&records, f64::MAX) <= 2,
        "never more than the limit at once: {records:?}"
    );
    // The server reads the pool from the new primary, fresh.
    let (code, st) = s.get("/status/").await;
    assert_eq!((code, st["stale"].as_bool()), (200, Some(false)), "{st}");
    drop(worker);
    s.stop_keep().await;
}

/// Writes lost with Redis (here a Redis restarted from an older snapshot, as a failover to a
/// replica that lacked the last writes would leave it), with a real worker: a task it already
/// runs is queued in the store again, and a task it finished is running in the store again
/// with its result gone. After the reconnect the pool asks the workers what they run before
/// it dispatches anything: it adopts the first, which runs exactly once; the second keeps its
/// slot (a worker's answer is no proof a task is over).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_lost_with_redis_are_repaired_from_what_the_workers_run() {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter("worker_pool=info")
        .try_init();
    // Snapshots only when asked (SAVE), and a restart loads the last one.
    let mut redis = PrivateRedis::start_with(&["--appendonly", "no"]);
    let url = redis.url();
    let s = TestServer::start(&[
        ("REDIS_URL", &url),
        ("MAX_SYNC_WORKERS", "2"),
        ("WORKER_POOL_REDIS_TIMEOUT_MS", "500"),
        ("WORKER_POOL_RECONCILE_INTERVAL", "2s"),
    ])
    .await;
    let worker = Worker::start_with(&s.queue, 2, &[("REDIS_URL", &url)], &[]);
    let task = |t: serde_json::Value| t["task_id"].as_str().unwrap().to_string();
    let ended = task(
        s.submit("hubspot", "all", json!({"batch_size": 800}), 0)
            .await,
    );
    eventually(20, "the first task reported started", || async {
        let (_, t) = s.get(&format!("/tasks/{ended}/")).await;
        t["worker_started_at"].is_string().then_some(())
    })
    .await;
    // The snapshot is taken with the first task running and the second queued (the pool
    // paused: only to take it there).
    assert_eq!(s.post("/pause/", json!({})).await.0, 200);
    let adopted = task(
        s.submit("hubspot", "all", json!({"batch_size": 4000}), 0)
            .await,
    );
    assert!(redis.cmd(&["SAVE"]).starts_with("OK"));
    s.post("/resume/", json!({})).await;
    s.wait_status(&ended, "completed", 20).await;
    eventually(20, "the worker runs the second task", || async {
        worker
            .records()
            .iter()
            .any(|r| r.0 == adopted && r.1 == "start")
            .then_some(())
    })
    .await;
    // Redis comes back without the last writes: the first task is running again with no
    // result, the second queued, the pool paused. Resumed at once, the pool dispatches
    // nothing before the worker has said what it runs.
    redis.down();
    redis.up();
    eventually(20, "the resume accepted", || async {
        (s.post("/resume/", json!({})).await.0 == 200).then_some(())
    })
    .await;
    let t = s.wait_status(&adopted, "completed", 30).await;
    assert_eq!(
        t["worker"].as_str().map(|w| w.starts_with(&worker.name)),
        Some(true),
        "{t}"
    );
    // The finished task's end is gone with Redis. Its worker says it does not hold it, but
    // that is no proof it is over: it keeps its slot (freed by a result, a lost worker or a
    // cancel), never on that inference.
    let (_, t) = s.get(&format!("/tasks/{ended}/")).await;
    assert_eq!(t["status"], "running", "{t}");
    let records = worker.records();
    for id in [&ended, &adopted] {
        let starts = records
            .iter()
            .filter(|r| r.1 == "start" && r.0.split('~').next() == Some(id.as_str()))
            .count();
        assert_eq!(starts, 1, "{id} ran once: {records:?}");
    }
    drop(worker);
    s.stop_keep().await;
}
