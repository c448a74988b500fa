//! Hostile input: every malformed request gets a clear 4xx JSON error and changes nothing.
//! Deterministic fuzzing (a seeded generator), so a failure reproduces.

use crate::common::TestServer;
use serde_json::{json, Map, Value};
use std::time::Duration;

/// xorshift64*: small, seeded, good enough to shake the validation.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next() % items.len() as u64) as usize]
    }
}

const ODD_STRINGS: &[&str] = &[
    "",
    " ",
    "five9",
    "contacts",
    "\u{202e}9evif",
    "five9\u{0}",
    "👾",
    "\u{200b}",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "null",
    "true",
    "1e309",
    "-0",
    "DROP TABLE tasks;",
    "../../etc/passwd",
    "\\",
    "\"",
    "<script>",
];

fn odd_value(rng: &mut Rng, depth: u32) -> Value {
    match rng.next() % 12 {
        0 => Value::Null,
        1 => Value::Bool(rng.next().is_multiple_of(2)),
        2 => json!(rng.next()),
        3 => json!(-(rng.next() as i64).abs()),
        4 => json!(f64::from_bits(rng.next() >> 2)),
        5 => json!(u64::MAX),
        6 => json!(i64::MIN),
        7 => json!(0.5),
        8 if depth < 3 => Value::Array(
            (0..rng.next() % 4)
                .map(|_| odd_value(rng, depth + 1))
                .collect(),
        ),
        9 if depth < 3 => {
            let mut m = Map::new();
            for _ in 0..rng.next() % 4 {
                m.insert(rng.pick(ODD_STRINGS).to_string(), odd_value(rng, depth + 1));
            }
            Value::Object(m)
        }
        _ => Value::String(rng.pick(ODD_STRINGS).to_string()),
    }
}

/// A submit body with at least one thing wrong (an odd value where a valid one belongs, or an
/// extra key), built from a valid one.
fn broken_submit(rng: &mut Rng) -> Value {
    let mut body = json!({"crm_source": "five9", "sync_type": "contacts",
        "parameters": {"full": false, "batch_size": 10, "dry_run": false}, "priority": 0});
    let paths: &[&[&str]] = &[
        &["crm_source"],
        &["sync_type"],
        &["parameters"],
        &["priority"],
        &["parameters", "full"],
        &["parameters", "batch_size"],
        &["parameters", "dry_run"],
    ];
    let path = *rng.pick(paths);
    loop {
        let v = odd_value(rng, 0);
        let valid = match path {
            ["priority"] => v.as_i64().is_some_and(|p| (-100..=100).contains(&p)) || v.is_null(),
            ["parameters"] => v.is_null() || v.as_object().is_some_and(|m| m.is_empty()),
            ["parameters", "batch_size"] => {
                v.as_u64().is_some_and(|b| (1..=100_000).contains(&b)) || v.is_null()
            }
            ["parameters", _] => v.is_boolean() || v.is_null(),
            _ => {
                v.as_str()
                    == Some(if path[0] == "crm_source" {
                        "five9"
                    } else {
                        "contacts"
                    })
            }
        };
        if valid {
            continue;
        }
        match path {
            [a] => body[*a] = v,
            [a, b] => body[*a][*b] = v,
            _ => unreachable!(),
        }
        break;
    }
    if rng.next().is_multiple_of(4) {
        body[rng.pick(ODD_STRINGS).to_string() + "_extra"] = json!(1);
    }
    body
}

async fn assert_refused(s: &TestServer, path: &str, body: String, content_type: &str) {
    let res = s
        .client
        .post(format!("{}{path}", s.api))
        .header("content-type", content_type)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    assert!(
        (400..500).contains(&status),
        "{path} {body:.200} -> {status} {text:.200}"
    );
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text:.200}"));
    let msg = v["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error sentence: {text:.200}"));
    assert!(
        !msg.is_empty() && !msg.contains("redis") && !msg.contains("panick"),
        "{msg}"
    );
}

#[tokio::test]
async fn malformed_requests_get_a_clear_4xx_and_change_nothing() {
    let s = TestServer::start(&[]).await;
    let (_, before) = s.get("/status/").await;
    let mut rng = Rng(0x5eed_cafe_f00d_1234);

    for _ in 0..300 {
        assert_refused(
            &s,
            "/submit/",
            broken_submit(&mut rng).to_string(),
            "application/json",
        )
        .await;
    }
    for _ in 0..100 {
        let body = json!({"max_workers": odd_value(&mut rng, 0)});
        if body["max_workers"]
            .as_i64()
            .is_some_and(|n| (1..=64).contains(&n))
        {
            continue;
        }
        assert_refused(&s, "/config/", body.to_string(), "application/json").await;
        let junk = odd_value(&mut rng, 0).to_string();
        assert_refused(&s, "/config/", junk, "application/json").await;
    }
    // Not JSON at all, truncated, nested too deep, too large, wrong content type.
    let deep = "[".repeat(10_000) + &"]".repeat(10_000);
    let huge = json!({"crm_source": "x".repeat(100_000)}).to_string();
    for (body, ct) in [
        ("{", "application/json"),
        ("", "application/json"),
        ("\u{0}\u{1}", "application/json"),
        ("{\"crm_source\": \"five9\", }", "application/json"),
        (deep.as_str(), "application/json"),
        ("{\"priority\": 1e400}", "application/json"),
        ("{}", "text/plain"),
        ("crm_source=five9", "application/x-www-form-urlencoded"),
    ] {
        assert_refused(&s, "/submit/", body.to_string(), ct).await;
    }
    let res = s
        .client
        .post(format!("{}/submit/", s.api))
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    let status = res.status();
    let text = res.text().await.unwrap();
    assert_eq!(status, 413, "{text}");
    assert!(text.contains("larger than"), "{text}");

    // Odd task ids: refused (400), or well formed and unknown (404); never a 5xx.
    let long = "x".repeat(500);
    for (id, want) in [
        ("...", 404),
        ("a%00b", 400),
        ("%F0%9F%91%BE", 400),
        (long.as_str(), 400),
        ("id%20with%20space", 400),
        ("%ZZ", 400),
        ("a~1", 400),
    ] {
        let (code, body) = s.get(&format!("/tasks/{id}/")).await;
        assert_eq!(code, want, "{id} -> {body}");
        let res = s
            .client
            .post(format!("{}/tasks/{id}/cancel/", s.api))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), want, "{id} cancel");
        assert_refused(
            &s,
            &format!("/tasks/{id}/priority/"),
            json!({"priority": 1}).to_string(),
            "application/json",
        )
        .await;
    }
    // Odd query strings: an empty status means "any"; everything else odd is refused.
    for (q, want) in [
        ("status=", 200),
        ("limit=-1", 400),
        ("limit=99999999999999999999", 400),
        ("status=%00", 400),
        ("a=b&c", 400),
        ("limit=1&limit=2&x=1", 400),
    ] {
        let (code, body) = s.get(&format!("/tasks/?{q}")).await;
        assert_eq!(code, want, "{q} -> {body}");
    }

    let (_, after) = s.get("/status/").await;
    for k in ["max_workers", "active_count", "queued_count"] {
        assert_eq!(before[k], after[k], "{k} changed");
    }
    let (_, list) = s.get("/tasks/").await;
    assert!(
        list["tasks"].as_array().unwrap().is_empty(),
        "nothing was accepted"
    );
    s.stop(&[]).await;
}

#[tokio::test]
async fn server_functions_answer_with_the_right_status() {
    let s = TestServer::start(&[]).await;
    let post = |name: &str, body: &str| {
        s.client
            .post(format!("{}/api/{name}", s.base))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
    };
    for (name, body, want) in [
        ("submit_task", "{", 400),
        ("submit_task", r#"{"req": 5}"#, 400),
        (
            "submit_task",
            r#"{"req": {"crm_source":"x","sync_type":"y","parameters":{"full":false,"batch_size":1,"dry_run":false},"priority":0}}"#,
            422,
        ),
        ("cancel_task", r#"{"task_id": "a b"}"#, 400),
        (
            "cancel_task",
            r#"{"task_id": "00000000-0000-4000-8000-000000000000"}"#,
            404,
        ),
        ("set_max_workers", r#"{"max_workers": 0}"#, 422),
    ] {
        let res = post(name, body).await.unwrap();
        let status = res.status().as_u16();
        let v: Value = res.json().await.unwrap();
        assert_eq!(status, want, "{name} {body} -> {v}");
        // The JSON API's error shape: a sentence and a cause, fields only on a 422.
        assert!(v["error"].is_string(), "{v}");
        assert!(v["kind"].is_string(), "{v}");
        assert_eq!(v.get("fields").is_some(), want == 422, "{v}");
    }
    let res = post("set_max_workers", r#"{"max_workers": 2}"#)
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    s.stop(&[]).await;
}

/// A body over the limit gets its 413 even when the client writes the whole body before it
/// reads (as Python's http.client does): the server reads and drops the body first, instead
/// of closing the connection under the client's feet.
#[tokio::test]
async fn a_client_that_writes_a_huge_body_first_still_reads_its_413() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = TestServer::start(&[]).await;
    let addr = s.base.trim_start_matches("http://").to_string();
    let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let len = 5 * 1024 * 1024;
    let head = format!(
        "POST {}/submit/ HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {len}\r\n\r\n",
        app::types::API_BASE
    );
    let body = vec![b'a'; len];
    let wrote = tokio::time::timeout(Duration::from_secs(30), async {
        conn.write_all(head.as_bytes()).await?;
        conn.write_all(&body).await
    })
    .await
    .expect("the whole body could be written within 30 s");
    assert!(wrote.is_ok(), "writing the body failed: {wrote:?}");
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), conn.read_to_end(&mut answer))
        .await
        .expect("the answer within 10 s")
        .expect("the answer is readable");
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(text.contains("larger than"), "{text}");
    s.stop(&[]).await;
}
