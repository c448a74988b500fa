//! A Redis outage, on a private Redis of the test's own (the shared one is never stopped):
//! reads answer from the last state seen, marked stale; writes answer 503 at once and change
//! nothing; the server reconnects by itself and picks up what completed meanwhile.

use crate::common::{eventually, TestServer};
use serde_json::json;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A redis-server on a free port, with an append-only file so a restart keeps the data.
pub(crate) struct PrivateRedis {
    pub(crate) port: u16,
    dir: PathBuf,
    child: Option<Child>,
    /// More `redis-server` options (`--replicaof …`).
    pub(crate) extra: Vec<String>,
}

impl PrivateRedis {
    pub(crate) fn start() -> Self {
        Self::start_with(&[])
    }

    /// A private redis-server with more options.
    pub(crate) fn start_with(extra: &[&str]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = std::env::temp_dir().join(format!("wp-redis-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut r = PrivateRedis {
            port,
            dir,
            child: None,
            extra: extra.iter().map(|a| a.to_string()).collect(),
        };
        r.up();
        r
    }

    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    pub(crate) fn up(&mut self) {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .args(["--appendonly", "yes", "--appendfsync", "always", "--dir"])
            .arg(&self.dir)
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed (scripts/setup.sh installs it)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "the private redis-server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub(crate) fn down(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub(crate) fn cmd(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.down();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_go_stale_writes_refuse_and_the_server_recovers() {
    let mut redis = PrivateRedis::start();
    let url = redis.url();
    let s = TestServer::start(&[
        ("REDIS_URL", &url),
        ("MAX_SYNC_WORKERS", "1"),
        ("WORKER_POOL_REDIS_TIMEOUT_MS", "500"),
    ])
    .await;
    let running = s.submit("hubspot", "all", json!({}), 0).await;
    let queued = s.submit("hubspot", "all", json!({}), 0).await;
    let rid = running["task_id"].as_str().unwrap().to_string();
    let (_, before) = s.get("/status/").await;
    assert_eq!(before["stale"], false);

    redis.down();
    // Reads: the last state seen, marked stale, with when it was fresh.
    let status = eventually(10, "status to turn stale", || async {
        let (code, st) = s.get("/status/").await;
        (code == 200 && st["stale"] == true).then_some(st)
    })
    .await;
    assert_eq!(status["active_count"], 1);
    assert_eq!(status["queued_count"], 1);
    assert!(status["fresh_at"].is_string());
    // The dashboard's read (what the live channel pushes) answers from the last state seen
    // too: it once locked the same mutex twice there, which froze the whole server.
    let res = tokio::time::timeout(
        Duration::from_secs(5),
        s.client
            .post(format!("{}/api/dashboard", s.base))
            .json(&json!({}))
            .send(),
    )
    .await
    .expect("the dashboard answers during the outage")
    .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let d: serde_json::Value = res.json().await.unwrap();
    assert_eq!(d["status"]["stale"], true);
    let (code, cfg) = s.get("/config/").await;
    assert_eq!((code, cfg["stale"].clone()), (200, json!(true)));
    let (code, list) = s.get("/tasks/").await;
    assert_eq!(
        (
            code,
            list["stale"].clone(),
            list["tasks"].as_array().unwrap().len()
        ),
        (200, json!(true), 2)
    );
    let (code, t) = s.get(&format!("/tasks/{rid}/")).await;
    assert_eq!(
        (code, t["stale"].clone(), t["status"].clone()),
        (200, json!(true), json!("running"))
    );

    // Writes: 503 at once, with a sentence and no internals.
    for (path, body) in [
        (
            "/submit/",
            json!({"crm_source": "five9", "sync_type": "contacts"}),
        ),
        ("/config/", json!({"max_workers": 3})),
        (&format!("/tasks/{rid}/cancel/") as &str, json!({})),
        ("/process-queue/", json!({})),
    ] {
        let start = Instant::now();
        let (code, err) = s.post(path, body).await;
        assert_eq!(code, 503, "{path}: {err}");
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{path} hung for {:?}",
            start.elapsed()
        );
        let msg = err["error"].as_str().unwrap();
        assert!(
            msg.contains("cannot be reached") && !msg.to_lowercase().contains("redis:"),
            "{msg}"
        );
    }
    let res = s
        .client
        .get(format!("{}/readyz", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503);

    // Back: a completion that was stored while the server could not listen is picked up.
    redis.up();
    redis.cmd(&[
        "SETEX",
        &format!("celery-task-meta-{rid}"),
        "600",
        &json!({"status": "SUCCESS", "result": 1, "traceback": null, "children": [], "date_done": null, "task_id": rid}).to_string(),
    ]);
    s.wait_status(&rid, "completed", 20).await;
    let q = s
        .wait_status(queued["task_id"].as_str().unwrap(), "running", 20)
        .await;
    assert!(q["started_at"].is_string());
    let (_, st) = s.get("/status/").await;
    assert_eq!(st["stale"], false);
    assert_eq!(
        s.post("/config/", json!({"max_workers": 2})).await.0,
        200,
        "writes are accepted again"
    );
    let res = s
        .client
        .get(format!("{}/readyz", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    s.stop_keep().await;
}

/// `WORKER_POOL_REDIS_REPLICAS=1`: a write the API acknowledges is on a replica before the
/// answer; when no replica confirms it in time the answer is 503 saying so (the write was made
/// on the primary), reads and the server go on, and a submit sent again with its task_id
/// returns the task once the replica is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_wait_for_a_replica() {
    let primary = PrivateRedis::start();
    let port = primary.port.to_string();
    let mut replica = PrivateRedis::start_with(&["--replicaof", "127.0.0.1", &port]);
    let linked = |r: &PrivateRedis| {
        r.cmd(&["INFO", "replication"])
            .contains("master_link_status:up")
    };
    eventually(10, "the replica linked", || async {
        linked(&replica).then_some(())
    })
    .await;
    let url = primary.url();
    let s = TestServer::start(&[
        ("REDIS_URL", &url),
        ("WORKER_POOL_REDIS_REPLICAS", "1"),
        ("WORKER_POOL_REDIS_REPLICA_TIMEOUT", "300ms"),
    ])
    .await;
    let id = uuid::Uuid::new_v4().to_string();
    let body = json!({"crm_source": "hubspot", "sync_type": "all", "task_id": id});
    let (code, t) = s.post("/submit/", body.clone()).await;
    assert_eq!(code, 201, "{t}");
    // Acknowledged means on the replica already (WAIT, not a later catch-up).
    let key = format!("{}:task:{id}", s.prefix);
    assert_eq!(replica.cmd(&["EXISTS", &key]).trim(), "1");

    // No replica: the write is made on the primary, but the answer says it may not last.
    replica.down();
    let other = uuid::Uuid::new_v4().to_string();
    let mut b = body.clone();
    b["task_id"] = json!(other);
    let started = Instant::now();
    let (code, err) = s.post("/submit/", b.clone()).await;
    assert_eq!(code, 503, "{err}");
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "it waited for the replica"
    );
    let text = err["error"].as_str().unwrap();
    assert!(
        text.contains("0 of the 1 Redis replica(s)") && text.contains("task_id"),
        "{text}"
    );
    let (code, err) = s.post("/config/", json!({"max_workers": 3})).await;
    assert_eq!(code, 503, "{err}");
    // Reads go on, fresh: Redis itself answers.
    let (code, st) = s.get("/status/").await;
    assert_eq!(
        (code, st["stale"].clone(), st["max_workers"].clone()),
        (200, json!(false), json!(3))
    );

    // The replica is back: the submit sent again returns the task the first send made.
    replica.up();
    eventually(10, "the replica linked again", || async {
        linked(&replica).then_some(())
    })
    .await;
    let (code, again) = s.post("/submit/", b).await;
    assert_eq!(code, 200, "{again}");
    assert_eq!(
        (again["task_id"].as_str(), again["deduplicated"].as_bool()),
        (Some(other.as_str()), Some(true))
    );
    assert_eq!(
        replica
            .cmd(&["EXISTS", &format!("{}:task:{other}", s.prefix)])
            .trim(),
        "1"
    );
    s.stop_keep().await;
}
