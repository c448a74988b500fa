//! The OpenAPI document: served, valid OpenAPI 3.1, and true to the router. (Every answer the
//! other tests get through `TestServer::get`/`post` is also validated against it: see
//! `common::check_openapi`.)

use crate::common::*;
use serde_json::{json, Value};
use std::process::Command;

/// A concrete path for a documented template (`{task_id}` becomes a value of the right shape).
fn concrete(template: &str) -> String {
    template
        .replace("{task_id}", "0b5b4a7e-0000-4000-8000-000000000000")
        .replace("{source}", "hubspot")
        .replace("{hostname}", "celery@nowhere")
}

#[tokio::test]
async fn the_document_is_served_and_is_valid_openapi_3_1() {
    let server = TestServer::start(&[]).await;
    let res = server
        .client
        .get(format!("{}/openapi.json", server.api))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let served: Value = res.json().await.unwrap();
    assert_eq!(&served, worker_pool::http::openapi::document_json());
    assert_eq!(served["openapi"], "3.1.0");
    // The index names it, and every endpoint the document has.
    let (code, index) = server.get("/").await;
    assert_eq!(code, 200);
    assert_eq!(
        index["openapi"],
        format!("{}/openapi.json", app::types::API_BASE)
    );

    // The OpenAPI Initiative's own schema, as openapi-spec-validator ships it: a failure when
    // the validator is missing, never a skip.
    let file = std::env::temp_dir().join(format!("{}.openapi.json", unique("doc")));
    std::fs::write(&file, serde_json::to_vec_pretty(&served).unwrap()).unwrap();
    let python = crate::celery_interop::venv().join("bin/python");
    let out = Command::new(&python)
        .args(["-m", "openapi_spec_validator"])
        .arg(&file)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "{} cannot run ({e}): scripts/setup.sh makes the venv",
                python.display()
            )
        });
    let _ = std::fs::remove_file(&file);
    assert!(
        out.status.success(),
        "openapi-spec-validator refused the document (is it installed? scripts/setup.sh): {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    server.stop(&[]).await;
}

/// Every route of the document reaches a handler of the router: nothing documented answers
/// the router's own "no such endpoint" or "method not allowed" (and the unit test
/// `every_route_is_documented_and_nothing_else` holds the router's route list to the
/// document).
#[tokio::test]
async fn every_documented_route_reaches_its_handler() {
    let server = TestServer::start(&[]).await;
    let doc = worker_pool::http::openapi::document_json();
    let api = app::types::API_BASE;
    let mut checked = 0;
    for (template, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let path = concrete(template);
            let url = format!("{}{path}", server.base);
            let req = match method.as_str() {
                "get" => server.client.get(&url),
                "post" => server.client.post(&url).json(&json!({})),
                other => panic!("{other} {template}: the API only has GET and POST"),
            };
            let res = req.send().await.unwrap();
            let status = res.status().as_u16();
            let content_type = res
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default();
            assert_ne!(status, 405, "{method} {path}");
            if path == "/api/events" {
                assert_eq!(status, 200);
                assert!(
                    content_type.starts_with("text/event-stream"),
                    "{content_type}"
                );
                checked += 1;
                continue; // a stream that does not end
            }
            let text = res.text().await.unwrap();
            if let Some(rest) = path.strip_prefix(api) {
                let body: Value = serde_json::from_str(&text)
                    .unwrap_or_else(|_| panic!("{method} {path}: not JSON: {text}"));
                assert_ne!(
                    body["error"], "No such API endpoint.",
                    "{method} {path} is documented but the router does not route it"
                );
                check_openapi(method, rest, status, &body);
            } else {
                assert_ne!(status, 404, "{method} {path}: {text}");
            }
            checked += 1;
        }
    }
    assert_eq!(checked, worker_pool::http::documented_routes().len());
    server.stop(&[]).await;
}

/// The check the other tests lean on catches what it must: an undocumented status, a body of
/// the wrong shape.
#[test]
fn the_response_check_refuses_what_the_document_does_not_allow() {
    let wrong_status = std::panic::catch_unwind(|| {
        check_openapi("get", "/status/", 418, &json!({"error": "x", "kind": "x"}))
    });
    assert!(wrong_status.is_err());
    let wrong_shape = std::panic::catch_unwind(|| {
        check_openapi("get", "/config/", 200, &json!({"max_workers": "three"}))
    });
    assert!(wrong_shape.is_err());
    let unknown_path_ok =
        std::panic::catch_unwind(|| check_openapi("get", "/nope/", 200, &json!({})));
    assert!(unknown_path_ok.is_err());
    // And lets through what it allows.
    check_openapi(
        "get",
        "/nope/",
        404,
        &json!({"error": "No such API endpoint.", "kind": "not_found"}),
    );
}
