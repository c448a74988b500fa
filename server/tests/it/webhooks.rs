//! Webhooks against a local receiver that fails, times out and recovers: signed, delivered at
//! least once with backoff, by one replica at a time, and not lost to a restart.

use crate::common::{eventually, TestServer};
use crate::fake_celery::FakeCelery;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SECRET: &str = "webhook-secret-0123456789";

/// What the receiver does with the next requests, in order; then it answers `then`.
#[derive(Clone, Copy, Debug)]
enum Answer {
    Fail,
    Hang,
    Ok,
}

#[derive(Default)]
struct Received {
    script: Vec<Answer>,
    then: Option<Answer>,
    /// Every request: (delivery id, event, signature, body, answered 2xx).
    seen: Vec<(String, String, String, String, bool)>,
}

#[derive(Clone)]
struct Receiver {
    url: String,
    state: Arc<Mutex<Received>>,
}

impl Receiver {
    async fn start(script: Vec<Answer>, then: Answer) -> Self {
        let state = Arc::new(Mutex::new(Received {
            script,
            then: Some(then),
            ..Default::default()
        }));
        let st = state.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: String| {
                let st = st.clone();
                async move {
                    let answer = {
                        let mut r = st.lock().unwrap();
                        if r.script.is_empty() {
                            r.then.unwrap_or(Answer::Ok)
                        } else {
                            r.script.remove(0)
                        }
                    };
                    let h = |k: &str| {
                        headers
                            .get(k)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("")
                            .to_string()
                    };
                    let ok = matches!(answer, Answer::Ok);
                    st.lock().unwrap().seen.push((
                        h("worker-pool-delivery"),
                        h("worker-pool-event"),
                        h("worker-pool-signature"),
                        body,
                        ok,
                    ));
                    match answer {
                        Answer::Ok => StatusCode::NO_CONTENT,
                        Answer::Fail => StatusCode::INTERNAL_SERVER_ERROR,
                        Answer::Hang => {
                            tokio::time::sleep(Duration::from_secs(5)).await;
                            StatusCode::NO_CONTENT
                        }
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Receiver {
            url: format!("http://{addr}/hook"),
            state,
        }
    }

    fn seen(&self) -> Vec<(String, String, String, String, bool)> {
        self.state.lock().unwrap().seen.clone()
    }

    fn answer(&self, then: Answer) {
        self.state.lock().unwrap().then = Some(then);
    }
}

fn vars(r: &Receiver) -> Vec<(&'static str, String)> {
    vec![
        ("MAX_SYNC_WORKERS", "1".to_string()),
        ("WORKER_POOL_WEBHOOK_URL", r.url.clone()),
        ("WORKER_POOL_WEBHOOK_SECRET", SECRET.to_string()),
        ("WORKER_POOL_WEBHOOK_TIMEOUT", "1s".to_string()),
    ]
}

/// Waits until a replica has said it delivers webhooks (events are recorded from then on).
async fn hooks_on(s: &TestServer) {
    eventually(5, "webhooks on", || async {
        let mut r = crate::common::redis().await;
        let n: i64 = redis::cmd("EXISTS")
            .arg(format!("{}:hooks:on", s.prefix))
            .query_async(&mut r)
            .await
            .unwrap();
        (n == 1).then_some(())
    })
    .await;
}

/// Checks the signature as a receiver would: HMAC-SHA256 of "<t>.<body>" under the secret.
fn signed(signature: &str, body: &str) -> bool {
    let Some((t, v1)) = signature
        .strip_prefix("t=")
        .and_then(|rest| rest.split_once(",v1="))
    else {
        return false;
    };
    let t: i64 = t.parse().unwrap();
    worker_pool::webhooks::signature(SECRET, t, body) == signature
        && v1.len() == 64
        && (chrono::Utc::now().timestamp() - t).abs() < 60
}

#[tokio::test]
async fn a_finished_task_is_posted_signed_and_retried_until_the_receiver_recovers() {
    let r = Receiver::start(vec![Answer::Fail, Answer::Hang], Answer::Ok).await;
    let v = vars(&r);
    let vars: Vec<(&str, &str)> = v.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let s = TestServer::start(&vars).await;
    hooks_on(&s).await;
    let celery = FakeCelery::new(&s.queue);
    let t = s.submit("hubspot", "all", json!({}), 0).await;
    let id = t["task_id"].as_str().unwrap().to_string();
    let m = celery.take(5.0).await.unwrap();
    celery.succeed(&m.id).await;
    s.wait_status(&id, "completed", 5).await;

    // Failed (500), timed out (1 s), then delivered: three attempts, 1 s and 2 s apart.
    eventually(20, "delivered", || async {
        r.seen().iter().any(|x| x.4).then_some(())
    })
    .await;
    let seen = r.seen();
    assert_eq!(seen.len(), 3, "{seen:?}");
    let (delivery, event, _, body, _) = &seen[0];
    assert_eq!(event, "task.finished");
    for x in &seen {
        assert_eq!(&x.0, delivery, "one delivery id across retries");
        assert_eq!(&x.3, body, "the same bytes on every retry");
        assert!(signed(&x.2, &x.3), "signature {:?}", x.2);
    }
    let v: Value = serde_json::from_str(body).unwrap();
    assert_eq!(v["event"], "task.finished");
    assert_eq!(v["id"], delivery.as_str());
    assert_eq!(v["task"]["task_id"], id.as_str());
    assert_eq!(v["task"]["status"], "completed");

    // The API shows the delivery.
    let (code, list) = s.get("/webhooks/").await;
    assert_eq!(code, 200, "{list}");
    assert_eq!(list["urls"], json!([r.url.clone()]));
    let e = list["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == delivery.as_str())
        .unwrap()
        .clone();
    assert_eq!(e["event"], "task.finished");
    assert_eq!(e["reference"], id.as_str());
    assert_eq!(e["attempts"], 3);
    assert_eq!(e["deliveries"][0]["state"], "delivered");
    assert!(e["next_attempt_at"].is_null());

    // A cool-down is posted when it starts and when it ends by itself.
    let (code, _) = s
        .post("/sources/arrivy/cooldown/", json!({"seconds": 1}))
        .await;
    assert_eq!(code, 200);
    eventually(10, "the cool-down's start and end", || async {
        let events: Vec<String> = r.seen().iter().map(|x| x.1.clone()).collect();
        (events.contains(&"source.cooldown_started".to_string())
            && events.contains(&"source.cooldown_ended".to_string()))
        .then_some(())
    })
    .await;
    let started = r
        .seen()
        .into_iter()
        .find(|x| x.1 == "source.cooldown_started")
        .unwrap();
    let v: Value = serde_json::from_str(&started.3).unwrap();
    assert_eq!(v["source"], "arrivy");
    assert!(v["cooldown_until"].is_string());
    s.stop(&[id]).await;
}

#[tokio::test]
async fn the_outbox_survives_a_restart_and_one_replica_delivers_each_event() {
    let r = Receiver::start(vec![], Answer::Fail).await;
    let v = vars(&r);
    let vars: Vec<(&str, &str)> = v.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let s = TestServer::start(&vars).await;
    hooks_on(&s).await;
    // Three cancelled tasks: three events, which the failing receiver refuses.
    let mut ids = Vec::new();
    for _ in 0..3 {
        let t = s.submit("genius", "all", json!({}), 0).await;
        let id = t["task_id"].as_str().unwrap().to_string();
        let (code, _) = s.post(&format!("/tasks/{id}/cancel/"), json!({})).await;
        assert_eq!(code, 200);
        ids.push(id);
    }
    eventually(5, "tried", || async { (r.seen().len() >= 3).then_some(()) }).await;
    let (prefix, queue) = (s.prefix.clone(), s.queue.clone());
    s.stop_keep().await;

    // The receiver recovers; two replicas start on the same pool.
    r.answer(Answer::Ok);
    let a = TestServer::start_with(&prefix, &queue, &vars).await;
    let b = TestServer::start_with(&prefix, &queue, &vars).await;
    eventually(20, "all three delivered", || async {
        let ok: std::collections::HashSet<String> =
            r.seen().into_iter().filter(|x| x.4).map(|x| x.0).collect();
        (ok.len() == 3).then_some(())
    })
    .await;
    // Give a second delivery time to happen, if one could.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut per: std::collections::HashMap<String, usize> = Default::default();
    for x in r.seen().into_iter().filter(|x| x.4) {
        *per.entry(x.0).or_default() += 1;
    }
    assert!(per.values().all(|&n| n == 1), "{per:?}");
    b.stop_keep().await;
    a.stop(&ids).await;
}

#[test]
fn bad_webhook_settings_are_refused() {
    for (vars, name) in [
        (
            vec![("WORKER_POOL_WEBHOOK_URL", "ftp://x/hook")],
            "WORKER_POOL_WEBHOOK_URL",
        ),
        (
            vec![("WORKER_POOL_WEBHOOK_URL", "http://127.0.0.1:9/hook")],
            "WORKER_POOL_WEBHOOK_SECRET",
        ),
        (
            vec![
                ("WORKER_POOL_WEBHOOK_URL", "http://127.0.0.1:9/hook"),
                ("WORKER_POOL_WEBHOOK_SECRET", "short"),
            ],
            "WORKER_POOL_WEBHOOK_SECRET",
        ),
    ] {
        let env: std::collections::HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let err = worker_pool::config::Config::from_lookup(&move |k: &str| env.get(k).cloned())
            .unwrap_err();
        assert_eq!(err.name, name);
    }
}
