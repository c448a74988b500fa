//! The audit trail: every change made through the API or the dashboard is recorded with who
//! made it (a named token, a dashboard session, or anonymous), from where, and before → after;
//! refused changes and reads are not.

use crate::common::TestServer;
use crate::fake_celery::FakeCelery;
use serde_json::{json, Value};

const CI: &str = "ci-token-0123456789abcdef";
const OPS: &str = "ops-token-0123456789abcdef";

async fn as_token(s: &TestServer, token: &str, path: &str, body: Value) -> (u16, Value) {
    let res = s
        .client
        .post(format!("{}{path}", s.api))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let code = res.status().as_u16();
    (code, res.json().await.unwrap())
}

async fn entries(s: &TestServer, query: &str) -> Vec<Value> {
    let (code, body) = s.get(&format!("/audit/{query}")).await;
    assert_eq!(code, 200, "{body}");
    body["entries"].as_array().unwrap().clone()
}

#[tokio::test]
async fn every_change_is_recorded_with_who_where_and_before_after() {
    let s = TestServer::start(&[
        ("MAX_SYNC_WORKERS", "1"),
        ("WORKER_POOL_API_TOKENS", &format!("ci:{CI}, ops:{OPS}")),
    ])
    .await;
    let celery = FakeCelery::new(&s.queue);
    assert!(entries(&s, "").await.is_empty());

    let (code, _) = as_token(&s, CI, "/config/", json!({"max_workers": 2})).await;
    assert_eq!(code, 200);
    let (code, _) = as_token(
        &s,
        OPS,
        "/limits/",
        json!({"sources": {"five9": {"limit": 1}}}),
    )
    .await;
    assert_eq!(code, 200);
    let (code, _) = as_token(&s, OPS, "/pause/", json!({"source": "arrivy"})).await;
    assert_eq!(code, 200);
    let (code, _) = as_token(&s, OPS, "/resume/", json!({"source": "arrivy"})).await;
    assert_eq!(code, 200);
    let (code, _) = as_token(&s, CI, "/sources/hubspot/cooldown/", json!({"seconds": 60})).await;
    assert_eq!(code, 200);
    // Submits are not changes to the pool's settings: not recorded.
    let (_, a) = as_token(
        &s,
        CI,
        "/submit/",
        json!({"crm_source": "five9", "sync_type": "contacts"}),
    )
    .await;
    let (_, b) = as_token(
        &s,
        CI,
        "/submit/",
        json!({"crm_source": "five9", "sync_type": "contacts"}),
    )
    .await;
    let (a, b) = (
        a["task_id"].as_str().unwrap().to_string(),
        b["task_id"].as_str().unwrap().to_string(),
    );
    let (code, _) = as_token(
        &s,
        OPS,
        &format!("/tasks/{b}/priority/"),
        json!({"priority": 9}),
    )
    .await;
    assert_eq!(code, 200);
    let (code, _) = as_token(&s, OPS, &format!("/tasks/{b}/cancel/"), json!({})).await;
    assert_eq!(code, 200);
    let (code, retried) = as_token(&s, CI, &format!("/tasks/{b}/retry/"), json!({})).await;
    assert_eq!(code, 201);
    let (code, _) = as_token(&s, CI, "/process-queue/", json!({})).await;
    assert_eq!(code, 200);

    // Refused changes leave no entry: bad input, a wrong token, no token.
    let before = entries(&s, "").await.len();
    let (code, _) = as_token(&s, CI, "/config/", json!({"max_workers": 0})).await;
    assert_eq!(code, 422);
    let (code, _) = as_token(
        &s,
        "wrong-token-0123456789",
        "/config/",
        json!({"max_workers": 3}),
    )
    .await;
    assert_eq!(code, 401);
    let (code, _) = s.post("/pause/", json!({})).await;
    assert_eq!(code, 401);
    assert_eq!(entries(&s, "").await.len(), before);

    let all = entries(&s, "").await;
    let actions: Vec<&str> = all.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        [
            "process_queue",
            "retry",
            "cancel",
            "priority",
            "cooldown",
            "resume",
            "pause",
            "limits",
            "config"
        ],
        "newest first"
    );
    let by = |action: &str| all.iter().find(|e| e["action"] == action).unwrap().clone();
    let config = by("config");
    assert_eq!(config["who"], "ci");
    assert_eq!(config["address"], "127.0.0.1");
    assert_eq!(config["before"], json!({"max_workers": 1}));
    assert_eq!(config["after"], json!({"max_workers": 2}));
    assert!(config["at"].is_string() && config["id"].is_string());
    let limits = by("limits");
    assert_eq!(limits["who"], "ops");
    assert!(limits["before"]["sources"]["five9"]["limit"].is_null());
    assert_eq!(limits["after"]["sources"]["five9"]["limit"], 1);
    assert_eq!(by("pause")["target"], "arrivy");
    assert_eq!(by("pause")["before"], json!({"paused": false}));
    assert_eq!(by("pause")["after"], json!({"paused": true}));
    assert_eq!(by("resume")["after"], json!({"paused": false}));
    assert_eq!(by("cooldown")["target"], "hubspot");
    assert!(by("cooldown")["after"]["cooldown_until"].is_string());
    let priority = by("priority");
    assert_eq!(priority["target"], b.as_str());
    assert_eq!(priority["before"]["status"], "queued");
    assert_eq!(priority["after"], json!({"priority": 9}));
    assert_eq!(by("cancel")["after"], json!({"status": "cancelled"}));
    assert_eq!(by("retry")["after"]["retried_by"], retried["task_id"]);

    // Paging: two at a time, older pages through `before`, newer ones through `since`.
    let (_, page) = s.get("/audit/?limit=2").await;
    assert_eq!(page["entries"].as_array().unwrap().len(), 2);
    let next = page["next_before"].as_str().unwrap().to_string();
    let older = entries(&s, &format!("?limit=2&before={next}")).await;
    assert_eq!(older[0]["action"], "cancel");
    let newer = entries(&s, &format!("?since={}", all[2]["id"].as_str().unwrap())).await;
    assert_eq!(newer.len(), 2);
    for bad in [
        "?limit=0",
        "?limit=1001",
        "?limit=x",
        "?before=abc",
        "?since=1-x",
        "?foo=1",
    ] {
        let (code, body) = s.get(&format!("/audit/{bad}")).await;
        assert_eq!(code, 400, "{bad}: {body}");
    }

    // A dashboard sign-in (named after the token it used), and what its session then does.
    let res = s.sign_in(OPS).await;
    assert_eq!(res.status(), 200);
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_string();
    let session = cookie.split(';').next().unwrap().to_string();
    let res = s
        .client
        .post(format!("{}/config/", s.api))
        .header("origin", &s.base)
        .header("cookie", &session)
        .json(&json!({"max_workers": 3}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = s.sign_in("not-a-token-at-all").await;
    assert_eq!(res.status(), 401);
    let newest = entries(&s, "?limit=3").await;
    assert_eq!(newest[0]["action"], "sign_in");
    assert_eq!(newest[0]["after"], json!({"signed_in": false}));
    assert_eq!(newest[1]["action"], "config");
    let who = newest[1]["who"].as_str().unwrap();
    assert!(
        who.starts_with("session ") && who.ends_with("(ops)"),
        "{who}"
    );
    assert_eq!(newest[2]["action"], "sign_in");
    assert_eq!(newest[2]["target"], "ops");
    assert_eq!(newest[2]["after"], json!({"signed_in": true}));

    let _ = celery.take(1.0).await;
    s.stop(&[a, b, retried["task_id"].as_str().unwrap().to_string()])
        .await;
}

#[tokio::test]
async fn without_a_token_changes_are_anonymous() {
    let s = TestServer::start(&[]).await;
    let (code, _) = s.post("/pause/", json!({})).await;
    assert_eq!(code, 200);
    let e = entries(&s, "").await;
    assert_eq!(e.len(), 1);
    assert_eq!(e[0]["who"], "anonymous");
    assert_eq!(e[0]["action"], "pause");
    assert_eq!(e[0]["target"], "");
    let (code, _) = s.post("/resume/", json!({})).await;
    assert_eq!(code, 200);
    s.stop(&[]).await;
}
