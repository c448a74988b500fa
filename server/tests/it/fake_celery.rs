//! A simulated Celery worker: takes the pool's messages from the broker list and reports
//! results exactly as a real worker does (SETEX + PUBLISH of `celery-task-meta-<id>`), on
//! command. Deterministic, for API and race tests; the real worker is in `celery_interop`.

#![allow(dead_code)]

use crate::common;
use base64::Engine;
use serde_json::{json, Value};

/// A simulated worker on one queue.
pub struct FakeCelery {
    pub queue: String,
    pub hostname: String,
}

/// A message the simulated worker took.
#[derive(Debug, Clone)]
pub struct Taken {
    pub id: String,
    pub task: String,
    pub kwargs: Value,
    pub raw: String,
}

impl FakeCelery {
    pub fn new(queue: &str) -> Self {
        FakeCelery {
            queue: queue.to_string(),
            hostname: format!("fake@{queue}"),
        }
    }

    /// Takes the oldest message (BRPOP), waiting up to `secs`.
    pub async fn take(&self, secs: f64) -> Option<Taken> {
        let mut c = common::redis().await;
        let popped: Option<(String, String)> = redis::cmd("BRPOP")
            .arg(&self.queue)
            .arg(secs)
            .query_async(&mut c)
            .await
            .expect("BRPOP");
        let (_, raw) = popped?;
        let v: Value = serde_json::from_str(&raw).expect("the pool publishes JSON");
        let body = base64::engine::general_purpose::STANDARD
            .decode(v["body"].as_str().expect("body is a string"))
            .expect("body is base64");
        let body: Value = serde_json::from_slice(&body).expect("body is JSON");
        Some(Taken {
            id: v["headers"]["id"].as_str().unwrap().to_string(),
            task: v["headers"]["task"].as_str().unwrap().to_string(),
            kwargs: body[1].clone(),
            raw,
        })
    }

    /// Messages waiting in the list, oldest first.
    pub async fn pending(&self) -> Vec<String> {
        let mut c = common::redis().await;
        let mut items: Vec<String> = redis::cmd("LRANGE")
            .arg(&self.queue)
            .arg(0)
            .arg(-1)
            .query_async(&mut c)
            .await
            .unwrap();
        items.reverse();
        items
    }

    /// Writes and publishes a result-backend value, as Celery's Redis backend does.
    pub async fn report(&self, id: &str, meta: Value, publish: bool) {
        let key = format!("celery-task-meta-{id}");
        let payload = meta.to_string();
        let mut c = common::redis().await;
        let _: () = redis::cmd("SETEX")
            .arg(&key)
            .arg(600)
            .arg(&payload)
            .query_async(&mut c)
            .await
            .unwrap();
        if publish {
            let _: i64 = redis::cmd("PUBLISH")
                .arg(&key)
                .arg(&payload)
                .query_async(&mut c)
                .await
                .unwrap();
        }
    }

    pub async fn started(&self, id: &str) {
        let meta = json!({"status": "STARTED", "result": {"pid": 4242, "hostname": self.hostname},
            "traceback": null, "children": [], "date_done": null, "task_id": id});
        self.report(id, meta, true).await;
    }

    pub async fn succeed(&self, id: &str) {
        let meta = json!({"status": "SUCCESS", "result": {"synced": 1}, "traceback": null,
            "children": [], "date_done": "2026-11-29T01:16:44.707423+00:00", "task_id": id});
        self.report(id, meta, true).await;
    }

    /// A RETRY, as `self.retry(exc=...)` writes it: the task keeps its id and runs again.
    pub async fn retry(&self, id: &str, exc_type: &str, message: &str) {
        let meta = json!({"status": "RETRY", "result": {"exc_type": exc_type, "exc_message": [message],
            "exc_module": "builtins"}, "traceback": format!("Traceback (most recent call last):\n  \
            File \"tasks.py\", line 9, in sync\ncelery.exceptions.Retry: Retry in 1s: {exc_type}('{message}')\n"),
            "children": [], "date_done": null, "task_id": id});
        self.report(id, meta, true).await;
    }

    pub async fn fail(&self, id: &str, exc_type: &str, message: &str) {
        let meta = json!({"status": "FAILURE", "result": {"exc_type": exc_type, "exc_message": [message],
            "exc_module": "builtins"}, "traceback": format!("Traceback (most recent call last):\n  \
            File \"tasks.py\", line 12, in sync\n    raise {exc_type}({message:?})\n{exc_type}: {message}\n"),
            "children": [],
            "date_done": "2026-11-29T01:16:44.707423+00:00", "task_id": id});
        self.report(id, meta, true).await;
    }

    pub async fn revoked(&self, id: &str) {
        let meta = json!({"status": "REVOKED", "result": {"exc_type": "TaskRevokedError",
            "exc_message": ["terminated"], "exc_module": "celery.exceptions"}, "traceback": null,
            "children": [], "date_done": "2026-11-29T01:16:49.233999+00:00", "task_id": id});
        self.report(id, meta, true).await;
    }

    /// Result keys this worker may have written, for cleanup.
    pub fn result_keys(ids: &[String]) -> Vec<String> {
        ids.iter()
            .map(|id| format!("celery-task-meta-{id}"))
            .collect()
    }
}
