//! Shared test helpers: Redis, unique prefixes, a server on port 0, a simulated Celery worker.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The Redis the tests use.
pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/0".into())
}

/// A connection, or a failure that says what is missing.
pub async fn redis() -> redis::aio::MultiplexedConnection {
    let url = redis_url();
    let client = redis::Client::open(url.as_str()).expect("REDIS_URL is a valid URL");
    // No response timeout: tests block on BRPOP.
    let cfg = redis::AsyncConnectionConfig::new().set_response_timeout(None);
    match tokio::time::timeout(Duration::from_secs(3), client.get_multiplexed_async_connection_with_config(&cfg)).await {
        Ok(Ok(c)) => c,
        other => panic!(
            "these tests need Redis at {url} ({other:?}); start one (scripts/test.sh does) or set REDIS_URL"
        ),
    }
}

/// The RabbitMQ the tests use, without a vhost (`WORKER_POOL_TEST_AMQP_BASE`; the user must
/// be allowed to configure the vhosts `rabbitmqctl` makes for it).
pub fn amqp_base() -> String {
    std::env::var("WORKER_POOL_TEST_AMQP_BASE")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672".into())
}

/// A RabbitMQ vhost of a test's own (its queues, exchanges and Celery's `celery.pidbox` and
/// `celeryev` apart from every other test's), made with `rabbitmqctl` and deleted when
/// dropped. A missing `rabbitmqctl` or RabbitMQ is a failure that says so.
pub struct Vhost {
    pub name: String,
    /// `amqp://user:password@host:port/<name>`.
    pub url: String,
}

impl Vhost {
    pub fn new() -> Self {
        let name = format!("wp-test-{}", &uuid::Uuid::new_v4().to_string()[..13]);
        let ctl = |args: &[&str]| {
            let out = std::process::Command::new("rabbitmqctl")
                .arg("-q")
                .args(args)
                .output()
                .unwrap_or_else(|e| {
                    panic!("these tests need rabbitmqctl ({e}): scripts/setup.sh installs rabbitmq-server")
                });
            assert!(
                out.status.success(),
                "rabbitmqctl {args:?} failed (is RabbitMQ running? scripts/test.sh starts it): {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        ctl(&["add_vhost", &name]);
        let user = amqp_base()
            .split("://")
            .nth(1)
            .and_then(|r| r.split(['@', ':']).next())
            .unwrap_or("guest")
            .to_string();
        ctl(&["set_permissions", "-p", &name, &user, ".*", ".*", ".*"]);
        Vhost {
            url: format!("{}/{name}", amqp_base()),
            name,
        }
    }
}

impl Drop for Vhost {
    fn drop(&mut self) {
        let _ = std::process::Command::new("rabbitmqctl")
            .args(["-q", "delete_vhost", &self.name])
            .output();
    }
}

/// Which broker Celery uses in a test: the tests that run real Celery workers run against
/// both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    Redis,
    RabbitMq,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A key prefix no other test (or test run) uses.
pub fn unique(name: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    format!(
        "wp-test:{name}:{}:{n}:{}",
        std::process::id(),
        &uuid::Uuid::new_v4().to_string()[..8]
    )
}

/// Deletes every key under `prefix`, Celery's queue bindings for queues under it, and the
/// given extra keys. Synchronous, so it can run from `Drop` (a failing test cleans up too).
pub fn cleanup_now(prefix: &str, extra: &[String]) {
    let Ok(client) = redis::Client::open(redis_url().as_str()) else {
        return;
    };
    let Ok(mut c) = client.get_connection() else {
        return;
    };
    for pattern in [
        format!("{prefix}*"),
        format!("_kombu.binding.{prefix}*"),
        format!("_kombu.binding_permanent.{prefix}*"),
    ] {
        let keys: Vec<String> = match redis::cmd("KEYS").arg(&pattern).query(&mut c) {
            Ok(k) => k,
            Err(_) => return,
        };
        if !keys.is_empty() {
            let _: redis::RedisResult<i64> = redis::cmd("DEL").arg(&keys).query(&mut c);
        }
    }
    if !extra.is_empty() {
        let _: redis::RedisResult<i64> = redis::cmd("DEL").arg(extra).query(&mut c);
    }
}

/// Deletes a test's keys when dropped, whether the test passed or panicked.
pub struct Cleanup {
    prefix: String,
    extra: Vec<String>,
    armed: bool,
}

impl Cleanup {
    /// Cleans up everything under `prefix`.
    pub fn new(prefix: &str) -> Self {
        Cleanup {
            prefix: prefix.to_string(),
            extra: Vec::new(),
            armed: true,
        }
    }

    /// Also deletes `key`.
    pub fn also(&mut self, key: String) {
        self.extra.push(key);
    }

    /// Keeps the keys (a test that restarts a server on them).
    pub fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if self.armed {
            cleanup_now(&self.prefix, &self.extra);
        }
    }
}

/// Deletes every key under `prefix` (and the given extra keys).
pub async fn cleanup(prefix: &str, extra: &[String]) {
    let (prefix, extra) = (prefix.to_string(), extra.to_vec());
    tokio::task::spawn_blocking(move || cleanup_now(&prefix, &extra))
        .await
        .expect("cleanup ran");
}

/// A `Config` for tests: the given variables over safe defaults.
pub fn config(vars: &[(&str, &str)]) -> worker_pool::config::Config {
    let mut map: HashMap<String, String> = HashMap::new();
    map.insert("REDIS_URL".into(), redis_url());
    map.insert("LEPTOS_SITE_ADDR".into(), "127.0.0.1:0".into());
    map.insert("WORKER_POOL_RECONCILE_INTERVAL".into(), "30s".into());
    for (k, v) in vars {
        map.insert(k.to_string(), v.to_string());
    }
    worker_pool::config::Config::from_lookup(&move |k: &str| map.get(k).cloned())
        .expect("test config is valid")
}

/// Waits until `f` returns `Some`, polling every 20 ms, or panics after `secs`.
pub async fn eventually<T, F, Fut>(secs: u64, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out after {secs}s waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// True when `path` fits the OpenAPI path `template` (`/tasks/{task_id}/`).
fn fits(template: &str, path: &str) -> bool {
    let (t, p): (Vec<&str>, Vec<&str>) = (template.split('/').collect(), path.split('/').collect());
    t.len() == p.len()
        && t.iter()
            .zip(&p)
            .all(|(t, p)| (t.starts_with('{') && t.ends_with('}') && !p.is_empty()) || t == p)
}

/// Checks an answer of the JSON API (`path` under its base, query included) against the
/// server's OpenAPI document: the operation documents its status, and the body matches that
/// response's schema. A path or method the document has no operation for must be answered
/// with an error of the shared `Error` shape.
pub fn check_openapi(method: &str, path: &str, status: u16, body: &serde_json::Value) {
    let doc = worker_pool::http::openapi::document_json();
    let bare = path.split('?').next().unwrap();
    let full = format!("{}{bare}", app::types::API_BASE);
    let slashed = if full.ends_with('/') {
        full.clone()
    } else {
        format!("{full}/")
    };
    // The most specific template wins (`/tasks/retry/` over `/tasks/{task_id}/`).
    let op = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(t, item)| (fits(t, &full) || fits(t, &slashed)) && item.get(method).is_some())
        .min_by_key(|(t, _)| t.matches('{').count())
        .map(|(_, item)| &item[method]);
    let schema = match op {
        Some(op) => {
            let response = &op["responses"][status.to_string()];
            assert!(
                response.is_object(),
                "{method} {bare} answered {status}, which the OpenAPI document does not list for it: {body}"
            );
            response["content"]["application/json"]["schema"].clone()
        }
        None => {
            assert!(
                status >= 400,
                "{method} {bare} is not in the OpenAPI document but answered {status}: {body}"
            );
            serde_json::json!({"$ref": "#/components/schemas/Error"})
        }
    };
    let mut root = schema;
    root["components"] = doc["components"].clone();
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .build(&root)
        .unwrap_or_else(|e| {
            panic!("the OpenAPI schema for {method} {bare} {status} is not valid JSON Schema: {e}")
        });
    let errors: Vec<String> = validator
        .iter_errors(body)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(
        errors.is_empty(),
        "{method} {bare} answered {status} with a body the OpenAPI document does not allow:\n{}\nbody: {body}",
        errors.join("\n")
    );
}

/// A real server (router, scheduler, listener) on a free port, under its own prefix and queue.
pub struct TestServer {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// The seed's API base, with the server's address.
    pub api: String,
    pub prefix: String,
    pub queue: String,
    pub client: reqwest::Client,
    pool: Option<worker_pool::Pool>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<()>>,
    cleanup: Cleanup,
    /// The RabbitMQ vhost its broker is in (`TestServer::start_via`), deleted after it.
    vhost: Option<std::sync::Arc<Vhost>>,
}

impl TestServer {
    /// Starts a server with `vars` over the test defaults (unique prefix and queue).
    pub async fn start(vars: &[(&str, &str)]) -> Self {
        let prefix = unique("srv");
        let queue = format!("{prefix}:celery");
        Self::start_with(&prefix, &queue, vars).await
    }

    /// Starts a server whose Celery broker is Redis (as [`TestServer::start`]) or RabbitMQ
    /// (a vhost of its own; results stay in Redis).
    pub async fn start_via(via: Via, vars: &[(&str, &str)]) -> Self {
        match via {
            Via::Redis => Self::start(vars).await,
            Via::RabbitMq => {
                let vhost = std::sync::Arc::new(Vhost::new());
                let prefix = unique("srv");
                let queue = format!("{prefix}:celery");
                let s = Self::start_on(&prefix, &queue, vars, Some(vhost)).await;
                assert!(
                    !s.scheduler().broker().sees_messages(),
                    "the server's broker is RabbitMQ"
                );
                s
            }
        }
    }

    /// What a Celery worker's environment needs to reach this server's broker (nothing with
    /// Redis: the worker's default is the tests' Redis).
    pub fn worker_env(&self) -> Vec<(&str, &str)> {
        match &self.vhost {
            Some(v) => vec![("CELERY_BROKER_URL", v.url.as_str())],
            None => Vec::new(),
        }
    }

    /// The RabbitMQ vhost of a server started [`Via::RabbitMq`].
    pub fn vhost(&self) -> Option<std::sync::Arc<Vhost>> {
        self.vhost.clone()
    }

    /// Starts a server on a given prefix and queue (to restart one, or run replicas).
    pub async fn start_with(prefix: &str, queue: &str, vars: &[(&str, &str)]) -> Self {
        Self::start_on(prefix, queue, vars, None).await
    }

    /// Starts a server on a given prefix and queue, with its broker in `vhost` when given.
    pub async fn start_on(
        prefix: &str,
        queue: &str,
        vars: &[(&str, &str)],
        vhost: Option<std::sync::Arc<Vhost>>,
    ) -> Self {
        let _ = redis().await; // fail loudly when Redis is missing
        let mut all: Vec<(&str, &str)> = vec![
            ("WORKER_POOL_PREFIX", prefix),
            ("WORKER_POOL_CELERY_QUEUE", queue),
        ];
        if let Some(v) = &vhost {
            all.push(("CELERY_BROKER_URL", v.url.as_str()));
        }
        all.extend_from_slice(vars);
        let config = config(&all);
        let pool = worker_pool::Pool::start(&config).expect("pool starts");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let state = pool.state.clone();
        let handle = tokio::spawn(async move {
            worker_pool::serve(listener, state, async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        let server = TestServer {
            base: format!("http://{addr}"),
            api: format!("http://{addr}{}", app::types::API_BASE),
            prefix: prefix.to_string(),
            queue: queue.to_string(),
            client: reqwest::Client::new(),
            pool: Some(pool),
            stop: Some(stop),
            handle: Some(handle),
            cleanup: Cleanup::new(prefix),
            vhost,
        };
        server.wait_subscribed().await;
        server
    }

    /// Waits until the listener has subscribed (dispatch is held back until then).
    pub async fn wait_subscribed(&self) {
        let pool = self.pool.as_ref().unwrap();
        eventually(10, "result notifications subscribed", || async {
            pool.state
                .backend
                .scheduler()
                .results_subscribed()
                .then_some(())
        })
        .await;
    }

    /// The scheduler, for tests that drive it directly.
    pub fn scheduler(&self) -> std::sync::Arc<worker_pool::scheduler::Scheduler> {
        self.pool
            .as_ref()
            .unwrap()
            .state
            .backend
            .scheduler()
            .clone()
    }

    /// Sends an API request; its answer is checked against the OpenAPI document.
    async fn send(
        &self,
        method: &str,
        path: &str,
        req: reqwest::RequestBuilder,
    ) -> (u16, serde_json::Value) {
        let res = req.send().await.expect("request sent");
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        let value =
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"));
        check_openapi(method, path, status, &value);
        (status, value)
    }

    /// `GET /metrics`: its content type and the page.
    pub async fn metrics(&self) -> (String, String) {
        let res = self
            .client
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .expect("GET /metrics");
        assert_eq!(res.status().as_u16(), 200);
        let ct = res.headers()["content-type"].to_str().unwrap().to_string();
        (ct, res.text().await.unwrap())
    }

    /// `POST /api/sign_in` (the dashboard's sign-in) with `token`, from the server's own origin.
    pub async fn sign_in(&self, token: &str) -> reqwest::Response {
        self.client
            .post(format!("{}/api/sign_in", self.base))
            .header("origin", &self.base)
            .json(&serde_json::json!({ "token": token }))
            .send()
            .await
            .expect("sign-in request sent")
    }

    /// `GET <api><path>`.
    pub async fn get(&self, path: &str) -> (u16, serde_json::Value) {
        self.send("get", path, self.client.get(format!("{}{path}", self.api)))
            .await
    }

    /// `POST <api><path>` with a JSON body.
    pub async fn post(&self, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        self.send(
            "post",
            path,
            self.client.post(format!("{}{path}", self.api)).json(&body),
        )
        .await
    }

    /// `POST <api><path>` with a raw body and content type.
    pub async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: &str,
    ) -> (u16, serde_json::Value) {
        self.send(
            "post",
            path,
            self.client
                .post(format!("{}{path}", self.api))
                .header("content-type", content_type)
                .body(body.to_string()),
        )
        .await
    }

    /// Submits a task and returns its JSON.
    pub async fn submit(
        &self,
        crm: &str,
        typ: &str,
        params: serde_json::Value,
        priority: i32,
    ) -> serde_json::Value {
        let (code, task) = self
            .post("/submit/", serde_json::json!({"crm_source": crm, "sync_type": typ, "parameters": params, "priority": priority}))
            .await;
        assert_eq!(code, 201, "{task}");
        task
    }

    /// The status of one task.
    pub async fn task_status(&self, id: &str) -> String {
        let (code, task) = self.get(&format!("/tasks/{id}/")).await;
        assert_eq!(code, 200, "{task}");
        task["status"].as_str().unwrap().to_string()
    }

    /// Waits until a task has `status`.
    pub async fn wait_status(&self, id: &str, status: &str, secs: u64) -> serde_json::Value {
        eventually(secs, &format!("task {id} to be {status}"), || async {
            let (_, task) = self.get(&format!("/tasks/{id}/")).await;
            (task["status"] == status).then_some(task)
        })
        .await
    }

    /// Stops the server and its background tasks, keeping the keys (for restarts).
    pub async fn stop_keep(mut self) {
        self.cleanup.disarm();
        self.shutdown().await;
    }

    async fn shutdown(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(h) = self.handle.take() {
            let _ = h.await;
        }
        if let Some(p) = self.pool.take() {
            p.stop().await;
        }
    }

    /// Stops the server and deletes its keys, its queue and the given result keys.
    pub async fn stop(mut self, result_ids: &[String]) {
        self.shutdown().await;
        for id in result_ids {
            self.cleanup.also(format!("celery-task-meta-{id}"));
            // The demo workers' run claims (worker_pool_client.celery), per Celery retry.
            for n in 0..4 {
                self.cleanup.also(format!("worker-pool-run:{id}:{n}"));
            }
        }
        // Dropping `self` runs the cleanup (off the async runtime's threads).
        tokio::task::spawn_blocking(move || drop(self))
            .await
            .expect("cleanup ran");
    }
}
