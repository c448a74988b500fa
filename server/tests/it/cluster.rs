//! The pool's store on a real Redis Cluster of the test's own: three `redis-server` primaries
//! in cluster mode, joined with `redis-cli --cluster create`. Every key of one pool carries
//! the hash tag `{<prefix>}`, so its scripts run on one node, and pools with other prefixes
//! land on other slots; Celery's broker and result backend stay on a plain Redis (kombu cannot
//! use a cluster), so the store runs two-phase.

use crate::common::{self, TestServer};
use crate::fake_celery::FakeCelery;
use crate::outage::PrivateRedis;
use serde_json::json;
use std::process::Command;
use std::time::{Duration, Instant};

/// A three-primary Redis Cluster on free loopback ports, torn down when dropped.
struct PrivateCluster {
    nodes: Vec<PrivateRedis>,
}

impl PrivateCluster {
    fn start() -> Self {
        let nodes: Vec<PrivateRedis> = (0..3)
            .map(|_| {
                PrivateRedis::start_with(&[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-node-timeout",
                    "5000",
                ])
            })
            .collect();
        let addrs: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let out = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addrs)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .expect("redis-cli is installed (scripts/setup.sh installs it)");
        assert!(
            out.status.success(),
            "redis-cli --cluster create failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        for n in &nodes {
            while !n.cmd(&["cluster", "info"]).contains("cluster_state:ok") {
                assert!(Instant::now() < deadline, "the cluster did not settle");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        PrivateCluster { nodes }
    }

    /// `redis+cluster://` with the first two nodes: the client finds the third itself.
    fn url(&self) -> String {
        format!(
            "redis+cluster://127.0.0.1:{},127.0.0.1:{}",
            self.nodes[0].port, self.nodes[1].port
        )
    }

    /// Every key on every node, as (node index, key).
    fn keys(&self) -> Vec<(usize, String)> {
        let mut all = Vec::new();
        for (i, n) in self.nodes.iter().enumerate() {
            for k in n.cmd(&["--raw", "keys", "*"]).lines() {
                if !k.is_empty() {
                    all.push((i, k.to_string()));
                }
            }
        }
        all
    }

    /// The hash slot of `key`.
    fn slot(&self, key: &str) -> u16 {
        self.nodes[0]
            .cmd(&["cluster", "keyslot", key])
            .trim()
            .parse()
            .unwrap()
    }
}

/// The store contract's two-phase half, test after test, on one cluster.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_contract_holds_on_a_redis_cluster() {
    let cluster = tokio::task::spawn_blocking(PrivateCluster::start)
        .await
        .unwrap();
    crate::store_contract::on_cluster(&cluster.url()).await;
    tokio::task::spawn_blocking(move || drop(cluster))
        .await
        .unwrap();
}

/// A server whose store is a cluster: tasks are submitted, dispatched to Celery's broker (a
/// plain Redis), completed by their results, and refill their slots; two pools keep their
/// keys in one slot each, on the node serving it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_on_a_redis_cluster_runs_tasks_and_keeps_its_keys_in_one_slot() {
    let cluster = tokio::task::spawn_blocking(PrivateCluster::start)
        .await
        .unwrap();
    let url = cluster.url();
    let broker = common::redis_url();
    let vars = [
        ("REDIS_URL", url.as_str()),
        ("CELERY_BROKER_URL", broker.as_str()),
        ("MAX_SYNC_WORKERS", "1"),
    ];
    let a = TestServer::start(&vars).await;
    let b = TestServer::start(&vars).await;
    let worker = FakeCelery::new(&a.queue);
    let first = a.submit("hubspot", "all", json!({}), 0).await;
    let second = a.submit("hubspot", "all", json!({}), 0).await;
    let other = b.submit("five9", "contacts", json!({}), 0).await;
    let ids: Vec<String> = [&first, &second]
        .iter()
        .map(|t| t["task_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(first["status"], "running");
    assert_eq!(second["status"], "queued");
    assert_eq!(other["status"], "running");

    // The worker takes the message from the plain Redis and reports; the pool on the
    // cluster ends the task and dispatches the next.
    let taken = worker
        .take(5.0)
        .await
        .expect("the first message was published");
    assert_eq!(taken.id, ids[0]);
    worker.started(&ids[0]).await;
    worker.succeed(&ids[0]).await;
    a.wait_status(&ids[0], "completed", 10).await;
    a.wait_status(&ids[1], "running", 10).await;
    let next = worker
        .take(5.0)
        .await
        .expect("the second message was published");
    assert_eq!(next.id, ids[1]);
    worker.succeed(&ids[1]).await;
    a.wait_status(&ids[1], "completed", 10).await;
    let (code, status) = a.get("/status/").await;
    assert_eq!(code, 200);
    assert_eq!(status["active_count"], 0);

    // Each pool's keys share one slot (its hash tag), on one node; nothing else of them lies
    // anywhere else.
    let keys = cluster.keys();
    for server in [&a, &b] {
        let tag = format!("{{{}}}", server.prefix);
        let mine: Vec<&(usize, String)> =
            keys.iter().filter(|(_, k)| k.starts_with(&tag)).collect();
        assert!(mine.len() > 5, "{tag}: {mine:?}");
        let slot = cluster.slot(&tag);
        let node = mine[0].0;
        for (n, k) in &mine {
            assert_eq!(*n, node, "{k} is on the pool's node");
            assert_eq!(cluster.slot(k), slot, "{k} is in the pool's slot");
        }
        assert!(
            keys.iter()
                .all(|(_, k)| !k.starts_with(&format!("{}:", server.prefix))),
            "no key of {} without its tag",
            server.prefix
        );
    }
    assert_eq!(
        b.task_status(other["task_id"].as_str().unwrap()).await,
        "running"
    );
    a.stop(&ids).await;
    b.stop(&[]).await;
    tokio::task::spawn_blocking(move || drop(cluster))
        .await
        .unwrap();
}
