//! The OpenAPI 3.1 document of the HTTP API, `GET <base>/openapi.json`.
//!
//! It is derived, not written: the schemas come from the wire types themselves (`app::types`,
//! `ToSchema` in ssr builds), each operation from the `#[utoipa::path]` beside its handler, and
//! the responses every operation shares (the errors of the guard, the body reader, the store)
//! are added here once, from the same rules the guard and [`super::api::JsonBody`] apply. A test
//! holds the document to the router's own route list ([`super::documented_routes`]) and the
//! integration tests validate the server's real answers against it.

use app::types::API_BASE;
use axum::response::IntoResponse;
use axum::Json;
use serde_json::{json, Map, Value};
use std::sync::OnceLock;
use utoipa::OpenApi;

/// The document, built once.
pub fn document_json() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(build)
}

/// `GET <base>/openapi.json`: the OpenAPI 3.1 document of every route.
#[utoipa::path(get, path = "/openapi.json", tag = "api",
    responses((status = 200, description = "The OpenAPI 3.1 document of this server's HTTP API.",
        content_type = "application/json", body = Object)))]
pub(super) async fn serve() -> impl IntoResponse {
    Json(document_json().clone())
}

#[derive(OpenApi)]
#[openapi(paths(serve))]
struct SelfDoc;

fn build() -> Value {
    let mut api = utoipa::openapi::OpenApi::default()
        .nest(
            API_BASE,
            super::api::ApiDoc::openapi().merge_from(SelfDoc::openapi()),
        )
        .merge_from(super::ops::OpsDoc::openapi());
    api.info = utoipa::openapi::InfoBuilder::new()
        .title("Worker Pool")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(DESCRIPTION))
        .license(Some(utoipa::openapi::License::new("MIT")))
        .build();
    let mut doc = serde_json::to_value(&api).expect("the OpenAPI document serialises");
    share_responses(&mut doc);
    add_security(&mut doc);
    doc
}

const DESCRIPTION: &str = "A global, runtime-configurable concurrency limit and priority \
queue in front of Celery. Every path of the JSON API also answers without its trailing slash. \
Reads are open; when the server has an API token (`WORKER_POOL_API_TOKEN` or \
`WORKER_POOL_API_TOKENS`), every POST needs `Authorization: Bearer <token>` or the dashboard's \
session cookie; without one, the server listens on loopback only and writes need nothing. \
Every error has the body `Error` and the status its `kind` names.";

/// An error response whose body is the shared `Error` schema.
fn error(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    })
}

/// Adds to every operation the error answers it shares with the others, unless it documents
/// its own: 500 and 503 everywhere; for writes, 401 and 403 (the guard); for writes with a JSON
/// body, 400, 413 and 422 (the body reader and the request's checks); for reads with a query,
/// 400.
fn share_responses(doc: &mut Value) {
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    for item in paths.values_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (method, op) in item.iter_mut() {
            let has_body = op.get("requestBody").is_some();
            let has_query = op["parameters"]
                .as_array()
                .is_some_and(|ps| ps.iter().any(|p| p["in"] == "query"));
            let path_params = op["parameters"]
                .as_array()
                .is_some_and(|ps| ps.iter().any(|p| p["in"] == "path"));
            let Some(responses) = op["responses"].as_object_mut() else {
                continue;
            };
            let mut add = |code: &str, description: &str| {
                responses
                    .entry(code.to_string())
                    .or_insert_with(|| error(description));
            };
            if method == "post" {
                add(
                    "401",
                    "The server has an API token and the request carries no valid one.",
                );
                add(
                    "403",
                    "A browser's cross-origin request may not change the pool.",
                );
            }
            if has_body {
                add(
                    "400",
                    "The body is not JSON, or not sent as `application/json`.",
                );
                add("413", "The body is larger than 64 KiB.");
                add(
                    "422",
                    "A value is not acceptable: `fields` names each one with its sentence.",
                );
            } else if has_query || path_params {
                add("400", "A query parameter or the path cannot be read.");
            }
            add(
                "500",
                "Something failed inside the server; its log has the details.",
            );
            add(
                "503",
                "The pool's store (Redis) or the broker does not answer, or the server took \
                 too long; nothing may have changed.",
            );
        }
    }
}

/// The two ways to authenticate a write, and the requirement on every POST.
fn add_security(doc: &mut Value) {
    let components = doc
        .as_object_mut()
        .expect("the document is an object")
        .entry("components")
        .or_insert_with(|| Value::Object(Map::new()));
    components["securitySchemes"] = json!({
        "bearer": {
            "type": "http",
            "scheme": "bearer",
            "description": "`WORKER_POOL_API_TOKEN`, or one of `WORKER_POOL_API_TOKENS` (whose name the audit trail records)."
        },
        "session": {
            "type": "apiKey",
            "in": "cookie",
            "name": app::backend::SESSION_COOKIE,
            "description": "The dashboard's session, from signing in with a token."
        }
    });
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    for item in paths.values_mut() {
        if let Some(op) = item.get_mut("post") {
            // Either scheme, or none when the server has no token.
            op["security"] = json!([{"bearer": []}, {"session": []}, {}]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::types::{
        MAX_BATCH_SIZE, MAX_LIST_LIMIT, MAX_PRIORITY, MAX_WINDOW_SECS, MAX_WORKERS, MIN_BATCH_SIZE,
        MIN_PRIORITY, MIN_WORKERS,
    };

    fn schema<'a>(doc: &'a Value, name: &str) -> &'a Value {
        &doc["components"]["schemas"][name]
    }

    #[test]
    fn every_route_is_documented_and_nothing_else() {
        let doc = document_json();
        assert_eq!(doc["openapi"], "3.1.0");
        let routes = super::super::documented_routes();
        for (method, path) in &routes {
            let op = &doc["paths"][path][method.as_str().to_ascii_lowercase()];
            assert!(op.is_object(), "{method} {path} is not in the document");
            assert!(
                op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                "{method} {path} documents no response"
            );
        }
        let mut documented = 0;
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                documented += 1;
                assert!(
                    routes
                        .iter()
                        .any(|(m, p)| p == path && m.as_str().eq_ignore_ascii_case(method)),
                    "{method} {path} is documented but is not a route"
                );
            }
        }
        assert_eq!(documented, routes.len());
    }

    #[test]
    fn every_reference_resolves() {
        fn walk(v: &Value, doc: &Value) {
            match v {
                Value::Object(m) => {
                    if let Some(Value::String(r)) = m.get("$ref") {
                        let ptr = r.strip_prefix('#').expect("a local reference");
                        assert!(doc.pointer(ptr).is_some(), "{r} does not resolve");
                    }
                    m.values().for_each(|x| walk(x, doc));
                }
                Value::Array(a) => a.iter().for_each(|x| walk(x, doc)),
                _ => {}
            }
        }
        let doc = document_json();
        walk(doc, doc);
    }

    /// The bounds the document states are the ones the request checks apply.
    #[test]
    fn bounds_follow_the_checks() {
        let doc = document_json();
        let max_workers = &schema(doc, "ConfigUpdate")["properties"]["max_workers"];
        assert_eq!(max_workers["minimum"], MIN_WORKERS);
        assert_eq!(max_workers["maximum"], MAX_WORKERS);
        let batch = &schema(doc, "TaskParameters")["properties"]["batch_size"];
        assert_eq!(batch["minimum"], MIN_BATCH_SIZE);
        assert_eq!(batch["maximum"], MAX_BATCH_SIZE);
        for (name, field) in [
            ("SubmitRequest", "priority"),
            ("PriorityUpdate", "priority"),
        ] {
            let p = &schema(doc, name)["properties"][field];
            assert_eq!(p["minimum"], MIN_PRIORITY, "{name}.{field}");
            assert_eq!(p["maximum"], MAX_PRIORITY, "{name}.{field}");
        }
        let priority = |n: i32| app::types::PriorityUpdate::from_json(&json!({ "priority": n }));
        assert!(priority(MAX_PRIORITY + 1).is_err() && priority(MIN_PRIORITY - 1).is_err());
        assert!(priority(MAX_PRIORITY).is_ok() && priority(MIN_PRIORITY).is_ok());
        assert_eq!(
            schema(doc, "CooldownRequest")["properties"]["seconds"]["maximum"],
            MAX_WINDOW_SECS
        );
        assert_eq!(
            schema(doc, "RetryFilter")["properties"]["limit"]["maximum"],
            MAX_LIST_LIMIT
        );
        let required = schema(doc, "SubmitRequest")["required"].as_array().unwrap();
        let mut required: Vec<&str> = required.iter().filter_map(Value::as_str).collect();
        required.sort_unstable();
        assert_eq!(required, ["crm_source", "sync_type"]);
        assert_eq!(schema(doc, "SubmitRequest")["additionalProperties"], false);
    }

    #[test]
    fn writes_share_the_guard_answers() {
        let doc = document_json();
        let submit = &doc["paths"][format!("{API_BASE}/submit/")]["post"];
        for code in [
            "201", "200", "400", "401", "403", "413", "422", "500", "503",
        ] {
            assert!(submit["responses"][code].is_object(), "submit lacks {code}");
        }
        let status = &doc["paths"][format!("{API_BASE}/status/")]["get"];
        assert!(status["responses"]["401"].is_null());
        assert!(status["security"].is_null());
        assert!(submit["security"].is_array());
    }
}
