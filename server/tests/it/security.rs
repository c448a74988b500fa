//! Who may change the pool: the origin check, the bearer token, dashboard sessions, and the
//! headers every response carries.

use crate::common::TestServer;
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::json;

const TOKEN: &str = "test-token-0123456789abcdef";

fn submit_body() -> serde_json::Value {
    json!({"crm_source": "five9", "sync_type": "contacts"})
}

#[tokio::test]
async fn with_a_token_writes_need_the_bearer_or_a_session_and_reads_stay_open() {
    let s = TestServer::start(&[("WORKER_POOL_API_TOKEN", TOKEN)]).await;
    let url = format!("{}/submit/", s.api);
    let own_origin = s.base.clone();

    let res = s
        .client
        .post(&url)
        .json(&submit_body())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert!(res.headers().get("www-authenticate").is_some());
    let body: serde_json::Value = res.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("Bearer"));

    let res = s
        .client
        .post(&url)
        .bearer_auth("wrong-token-wrong-token")
        .json(&submit_body())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let res = s
        .client
        .post(&url)
        .bearer_auth(TOKEN)
        .json(&submit_body())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);

    // Reads need nothing.
    assert_eq!(s.get("/status/").await.0, 200);

    // A browser of the same origin is refused until it signs in…
    let res = s
        .client
        .post(&url)
        .header("origin", &own_origin)
        .json(&submit_body())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let res = s.sign_in("not it").await;
    assert!(res.headers().get("set-cookie").is_none());
    let res = s.sign_in(TOKEN).await;
    assert_eq!(res.status(), 200);
    let cookie = res
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let session = cookie.split(';').next().unwrap().to_string();
    let mut h = HeaderMap::new();
    h.insert("origin", HeaderValue::from_str(&own_origin).unwrap());
    h.insert("cookie", HeaderValue::from_str(&session).unwrap());
    let res = s
        .client
        .post(&url)
        .headers(h.clone())
        .json(&submit_body())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "signed in");
    // …and after signing out it is refused again.
    let res = s
        .client
        .post(format!("{}/api/sign_out", s.base))
        .headers(h.clone())
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = s
        .client
        .post(&url)
        .headers(h)
        .json(&submit_body())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401, "the session ended");
    s.stop(&[]).await;
}

#[tokio::test]
async fn cross_origin_writes_are_refused_even_with_the_token() {
    let s = TestServer::start(&[("WORKER_POOL_API_TOKEN", TOKEN)]).await;
    let url = format!("{}/config/", s.api);
    let res = s
        .client
        .post(&url)
        .bearer_auth(TOKEN)
        .header("origin", "https://evil.example")
        .json(&json!({"max_workers": 5}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let res = s
        .client
        .post(&url)
        .bearer_auth(TOKEN)
        .header("sec-fetch-site", "cross-site")
        .json(&json!({"max_workers": 5}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    // A form post (not JSON) is refused whatever its origin.
    let res = s
        .client
        .post(&url)
        .bearer_auth(TOKEN)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("max_workers=5")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(
        s.get("/config/").await.1["max_workers"],
        1,
        "nothing changed"
    );
    s.stop(&[]).await;
}

#[tokio::test]
async fn without_a_token_same_origin_and_non_browser_writes_are_accepted() {
    let s = TestServer::start(&[]).await;
    let res = s
        .client
        .post(format!("{}/config/", s.api))
        .json(&json!({"max_workers": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = s
        .client
        .post(format!("{}/config/", s.api))
        .header("origin", &s.base)
        .json(&json!({"max_workers": 3}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = s
        .client
        .post(format!("{}/config/", s.api))
        .header("origin", "http://evil.example")
        .json(&json!({"max_workers": 9}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(s.get("/config/").await.1["max_workers"], 3);
    s.stop(&[]).await;
}

#[tokio::test]
async fn every_response_carries_security_headers_and_pages_a_nonce_csp() {
    let s = TestServer::start(&[]).await;
    let res = s
        .client
        .get(format!("{}/status/", s.api))
        .send()
        .await
        .unwrap();
    for h in [
        "x-content-type-options",
        "x-frame-options",
        "referrer-policy",
        "content-security-policy",
    ] {
        assert!(res.headers().get(h).is_some(), "{h}");
    }
    let res = s.client.get(format!("{}/", s.base)).send().await.unwrap();
    let csp = res
        .headers()
        .get("content-security-policy")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let html = res.text().await.unwrap();
    // The policy, directive by directive: name -> sources.
    let directives: std::collections::HashMap<&str, Vec<&str>> = csp
        .split(';')
        .filter_map(|d| {
            let mut parts = d.split_whitespace();
            Some((parts.next()?, parts.collect()))
        })
        .collect();
    let script = &directives["script-src"];
    let nonce = script
        .iter()
        .find_map(|s| s.strip_prefix("'nonce-")?.strip_suffix('\''))
        .unwrap_or_else(|| panic!("script-src has a nonce: {csp}"));
    assert!(
        html.contains(&format!("nonce=\"{nonce}\"")),
        "the page's scripts carry the CSP nonce"
    );
    assert!(script.contains(&"'wasm-unsafe-eval'"), "{csp}");
    for forbidden in [
        "'unsafe-inline'",
        "'unsafe-eval'",
        "*",
        "data:",
        "http:",
        "https:",
    ] {
        assert!(
            !script.contains(&forbidden),
            "script-src allows {forbidden}: {csp}"
        );
    }
    assert_eq!(directives["frame-ancestors"], ["'none'"], "{csp}");
    assert_eq!(directives["object-src"], ["'none'"], "{csp}");
    s.stop(&[]).await;
}
