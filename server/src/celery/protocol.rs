//! Celery's wire format over Redis, as pure functions: no I/O, no clocks, no randomness.
//!
//! Every message the pool sends to Celery is built here, from typed structs, and the unit tests
//! compare them byte for byte with the messages a real Celery 5.7 wrote (`../shared/celery-wire`).
//! A malformed message can crash every worker that reads it or vanish without a trace, so no
//! other module writes Celery JSON by hand.
//!
//! What is covered:
//! - task messages (protocol 2, JSON body, base64) and the broker list a priority maps to;
//! - the revoke broadcast on the pidbox channel;
//! - the result-backend value (`celery-task-meta-<id>`) and its pub/sub copy;
//! - event envelopes (`/<db>.celeryev/...`), single or batched as `task.multi`.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::io;

/// kombu's separator between a queue name and its priority step (`\x06\x16`).
pub const PRIORITY_SEP: &str = "\x06\x16";

/// The prefix of result-backend keys; the pub/sub channel has the same name as the key.
pub const RESULT_KEY_PREFIX: &str = "celery-task-meta-";

/// The Redis list a message of `priority` (0..=9, 0 first) is pushed to, with kombu's default
/// steps `[0, 3, 6, 9]`.
pub fn queue_key(queue: &str, priority: u8) -> String {
    let p = priority.min(9);
    let step = [0u8, 3, 6, 9]
        .into_iter()
        .filter(|s| *s <= p)
        .max()
        .unwrap_or(0);
    if step == 0 {
        queue.to_string()
    } else {
        format!("{queue}{PRIORITY_SEP}{step}")
    }
}

/// The result-backend key (and pub/sub channel) of a Celery task id.
pub fn result_key(celery_id: &str) -> String {
    format!("{RESULT_KEY_PREFIX}{celery_id}")
}

/// The pidbox broadcast channel of a broker database.
pub fn pidbox_channel(db: i64) -> String {
    format!("/{db}.celery.pidbox")
}

/// The pattern that matches the worker events (online, heartbeat, offline) of a broker
/// database. Task events (`task.multi`) are not needed: results come from the backend.
pub fn worker_event_pattern(db: i64) -> String {
    format!("/{db}.celeryev/worker.*")
}

// ---------------------------------------------------------------------------------------------
// JSON exactly as Python's json.dumps writes it
// ---------------------------------------------------------------------------------------------

/// Python's `json.dumps` default separators (`", "` and `": "`), and ASCII-only output
/// (`ensure_ascii=True`), so the bytes match what Celery itself writes.
struct PythonFormatter;

impl serde_json::ser::Formatter for PythonFormatter {
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            w.write_all(b", ")
        }
    }

    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            w.write_all(b", ")
        }
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }

    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        // ensure_ascii: everything outside ASCII as \uXXXX (surrogate pairs above the BMP).
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if !c.is_ascii() {
                w.write_all(&fragment.as_bytes()[start..i])?;
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    write!(w, "\\u{unit:04x}")?;
                }
                start = i + c.len_utf8();
            }
        }
        w.write_all(&fragment.as_bytes()[start..])
    }
}

/// Serializes `value` the way Python's `json.dumps` does.
pub fn python_json<T: Serialize + ?Sized>(value: &T) -> String {
    let mut out = Vec::with_capacity(256);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, PythonFormatter);
    value
        .serialize(&mut ser)
        .expect("serializing plain data to memory cannot fail");
    String::from_utf8(out).expect("the formatter writes ASCII only")
}

/// Python's `repr()` of a JSON value, for `argsrepr`/`kwargsrepr` (what Flower and the worker's
/// logs show).
pub fn python_repr(value: &Value) -> String {
    match value {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => python_str_repr(s),
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(python_repr).collect();
            format!("[{}]", inner.join(", "))
        }
        Value::Object(map) => {
            let inner: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}: {}", python_str_repr(k), python_repr(v)))
                .collect();
            format!("{{{}}}", inner.join(", "))
        }
    }
}

fn python_str_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

// ---------------------------------------------------------------------------------------------
// Task messages
// ---------------------------------------------------------------------------------------------

/// What the pool needs to say about one task it publishes.
#[derive(Clone, Debug)]
pub struct TaskSpec<'a> {
    /// The registered Celery task name (`hubspot.all`).
    pub task_name: &'a str,
    /// The Celery task id.
    pub celery_id: &'a str,
    /// Keyword arguments (a JSON object).
    pub kwargs: &'a serde_json::Map<String, Value>,
    /// The queue (`celery` by default): the list it is pushed to and `delivery_info.routing_key`.
    pub queue: &'a str,
    /// Celery's own 0..=9 priority (0 is served first); it picks the list.
    pub priority: u8,
    /// `<name>@<host>` of the publisher, informational.
    pub origin: &'a str,
    /// A fresh unique string (a UUID4): the key of the worker's unacked bookkeeping.
    pub delivery_tag: &'a str,
}

#[derive(Serialize)]
struct Envelope<'a, H: Serialize, P: Serialize> {
    body: String,
    #[serde(rename = "content-encoding")]
    content_encoding: &'a str,
    #[serde(rename = "content-type")]
    content_type: &'a str,
    headers: H,
    properties: P,
}

#[derive(Serialize)]
struct TaskHeaders<'a> {
    lang: &'a str,
    task: &'a str,
    id: &'a str,
    shadow: Option<&'a str>,
    eta: Option<&'a str>,
    expires: Option<&'a str>,
    group: Option<&'a str>,
    group_index: Option<u32>,
    retries: u32,
    timelimit: [Option<u64>; 2],
    root_id: &'a str,
    parent_id: Option<&'a str>,
    argsrepr: &'a str,
    kwargsrepr: String,
    origin: &'a str,
    ignore_result: bool,
    replaced_task_nesting: u32,
    stamped_headers: Option<Vec<String>>,
    stamps: serde_json::Map<String, Value>,
}

#[derive(Serialize)]
struct DeliveryInfo<'a> {
    exchange: &'a str,
    routing_key: &'a str,
}

#[derive(Serialize)]
struct TaskProperties<'a> {
    correlation_id: &'a str,
    reply_to: &'a str,
    delivery_mode: u8,
    delivery_info: DeliveryInfo<'a>,
    priority: u8,
    body_encoding: &'a str,
    delivery_tag: &'a str,
}

#[derive(Serialize)]
struct Embed {
    callbacks: Option<()>,
    errbacks: Option<()>,
    chain: Option<()>,
    chord: Option<()>,
}

/// A task message ready to `LPUSH`, and the list it goes to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskMessage {
    /// The broker list (`celery`, or `celery\x06\x163` and so on for lower priorities).
    pub list: String,
    /// The exact bytes to push.
    pub json: String,
}

/// Builds the full protocol-2 message Celery 5.7 itself writes (`fixtures/handmade/full.json`),
/// with `ignore_result: false` so the result backend always reports back.
pub fn task_message(spec: &TaskSpec<'_>) -> TaskMessage {
    let args: [Value; 0] = [];
    let body = python_json(&(
        &args,
        spec.kwargs,
        Embed {
            callbacks: None,
            errbacks: None,
            chain: None,
            chord: None,
        },
    ));
    let envelope = Envelope {
        body: B64.encode(body.as_bytes()),
        content_encoding: "utf-8",
        content_type: "application/json",
        headers: TaskHeaders {
            lang: "py",
            task: spec.task_name,
            id: spec.celery_id,
            shadow: None,
            eta: None,
            expires: None,
            group: None,
            group_index: None,
            retries: 0,
            timelimit: [None, None],
            root_id: spec.celery_id,
            parent_id: None,
            argsrepr: "()",
            kwargsrepr: python_repr(&Value::Object(spec.kwargs.clone())),
            origin: spec.origin,
            ignore_result: false,
            replaced_task_nesting: 0,
            stamped_headers: None,
            stamps: serde_json::Map::new(),
        },
        properties: TaskProperties {
            correlation_id: spec.celery_id,
            reply_to: "",
            delivery_mode: 2,
            delivery_info: DeliveryInfo {
                exchange: "",
                routing_key: spec.queue,
            },
            priority: spec.priority.min(9),
            body_encoding: "base64",
            delivery_tag: spec.delivery_tag,
        },
    };
    TaskMessage {
        list: queue_key(spec.queue, spec.priority),
        json: python_json(&envelope),
    }
}

// ---------------------------------------------------------------------------------------------
// Remote control: revoke
// ---------------------------------------------------------------------------------------------

#[derive(Serialize)]
struct ControlHeaders {
    clock: u64,
    expires: f64,
}

#[derive(Serialize)]
struct ControlProperties<'a> {
    delivery_mode: u8,
    delivery_info: DeliveryInfo<'a>,
    priority: u8,
    body_encoding: &'a str,
    delivery_tag: &'a str,
}

#[derive(Serialize)]
struct RevokeArguments<'a> {
    task_id: &'a str,
    terminate: bool,
    signal: &'a str,
}

#[derive(Serialize)]
struct ControlBody<'a, A: Serialize> {
    method: &'a str,
    arguments: A,
    destination: Option<Vec<String>>,
    pattern: Option<()>,
    matcher: Option<()>,
}

/// The broadcast that revokes `celery_id` and terminates it (SIGTERM) if it is running, as
/// `app.control.revoke(id, terminate=True)` writes it. `expires_epoch` only fills the
/// informational `expires` header (workers do not check it; reply collectors would).
pub fn revoke_message(celery_id: &str, delivery_tag: &str, expires_epoch: f64) -> String {
    let body = python_json(&ControlBody {
        method: "revoke",
        arguments: RevokeArguments {
            task_id: celery_id,
            terminate: true,
            signal: "SIGTERM",
        },
        destination: None,
        pattern: None,
        matcher: None,
    });
    python_json(&Envelope {
        body: B64.encode(body.as_bytes()),
        content_encoding: "utf-8",
        content_type: "application/json",
        headers: ControlHeaders {
            clock: 1,
            expires: expires_epoch,
        },
        properties: ControlProperties {
            delivery_mode: 2,
            delivery_info: DeliveryInfo {
                exchange: "celery.pidbox",
                routing_key: "",
            },
            priority: 0,
            body_encoding: "base64",
            delivery_tag,
        },
    })
}

// ---------------------------------------------------------------------------------------------
// Result backend
// ---------------------------------------------------------------------------------------------

/// The states a Celery worker writes to the result backend.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResultState {
    /// A worker started the task (only with `task_track_started=True`).
    Started {
        /// The worker's name (`celery@host`).
        hostname: Option<String>,
        /// The pool process running it.
        pid: Option<i64>,
    },
    /// The task will be retried; it still holds its slot.
    Retry,
    /// The task returned.
    Success,
    /// The task raised; `error` is `"<ExcType>: <message>"`.
    Failure { error: String },
    /// The task was revoked (terminated while running, or discarded before it ran).
    Revoked { reason: String },
    /// A state this version does not know (kept, so nothing is silently dropped).
    Other(String),
}

impl ResultState {
    /// True for the states after which the task never runs again.
    pub fn is_ready(&self) -> bool {
        matches!(
            self,
            ResultState::Success | ResultState::Failure { .. } | ResultState::Revoked { .. }
        )
    }
}

/// A parsed `celery-task-meta-<id>` value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResultMeta {
    /// The Celery task id.
    pub task_id: String,
    /// What happened.
    pub state: ResultState,
}

/// Why a result-backend value could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// Not JSON.
    #[error("not JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// JSON, but not of the expected shape.
    #[error("unexpected shape: {0}")]
    Shape(&'static str),
    /// The body is not valid base64 / UTF-8.
    #[error("bad body encoding")]
    Encoding,
}

#[derive(Deserialize)]
struct RawMeta {
    status: String,
    #[serde(default)]
    result: Value,
    #[serde(default)]
    task_id: Option<String>,
}

/// `"<ExcType>: <message>"` from an exception result (`exc_type`, `exc_message`).
fn exception_text(result: &Value) -> String {
    let exc_type = result
        .get("exc_type")
        .and_then(Value::as_str)
        .unwrap_or("Error");
    let message = match result.get("exc_message") {
        Some(Value::Array(parts)) => parts
            .iter()
            .map(|p| match p {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join(", "),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    };
    let text = if message.is_empty() {
        exc_type.to_string()
    } else {
        format!("{exc_type}: {message}")
    };
    // Error texts are shown in the dashboard and stored per task: keep them bounded.
    truncate_chars(&text, 2000)
}

/// At most `max` characters of `s`, with an ellipsis when cut.
pub fn truncate_chars(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(max).collect();
        out.push('…');
        out
    }
}

/// Parses a result-backend value (from GET or from its pub/sub copy). `fallback_id` is used when
/// the value carries no `task_id` (older Celery versions).
pub fn parse_result_meta(raw: &[u8], fallback_id: &str) -> Result<ResultMeta, ParseError> {
    let meta: RawMeta = serde_json::from_slice(raw)?;
    let state = match meta.status.as_str() {
        "STARTED" => ResultState::Started {
            hostname: meta
                .result
                .get("hostname")
                .and_then(Value::as_str)
                .map(str::to_string),
            pid: meta.result.get("pid").and_then(Value::as_i64),
        },
        "RETRY" => ResultState::Retry,
        "SUCCESS" => ResultState::Success,
        "FAILURE" => ResultState::Failure {
            error: exception_text(&meta.result),
        },
        "REVOKED" => ResultState::Revoked {
            reason: exception_text(&meta.result),
        },
        other => ResultState::Other(other.to_string()),
    };
    Ok(ResultMeta {
        task_id: meta.task_id.unwrap_or_else(|| fallback_id.to_string()),
        state,
    })
}

// ---------------------------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------------------------

/// One Celery event, reduced to what the pool uses.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// `worker-heartbeat`, `task-started`, …
    pub kind: String,
    /// The sending worker (`name@host`).
    pub hostname: String,
    /// The task's id, for task events.
    pub task_id: Option<String>,
    /// Heartbeat interval in seconds, for worker events.
    pub freq: Option<f64>,
    /// Tasks the worker is executing, for worker events.
    pub active: Option<u64>,
    /// The sending process: the worker's main process for worker and task events.
    pub pid: Option<u32>,
}

#[derive(Deserialize)]
struct RawEnvelope {
    body: Value,
    #[serde(default)]
    properties: Value,
}

fn decode_body(env: &RawEnvelope) -> Result<Value, ParseError> {
    match &env.body {
        Value::String(s) => {
            let encoding = env.properties.get("body_encoding").and_then(Value::as_str);
            let text = if encoding == Some("base64") {
                let bytes = B64.decode(s.as_bytes()).map_err(|_| ParseError::Encoding)?;
                String::from_utf8(bytes).map_err(|_| ParseError::Encoding)?
            } else {
                s.clone()
            };
            Ok(serde_json::from_str(&text)?)
        }
        other => Ok(other.clone()),
    }
}

fn event_from_value(v: &Value) -> Option<Event> {
    Some(Event {
        kind: v.get("type")?.as_str()?.to_string(),
        hostname: v.get("hostname")?.as_str()?.to_string(),
        task_id: v.get("uuid").and_then(Value::as_str).map(str::to_string),
        freq: v.get("freq").and_then(Value::as_f64),
        active: v.get("active").and_then(Value::as_u64),
        pid: v
            .get("pid")
            .and_then(Value::as_u64)
            .and_then(|p| u32::try_from(p).ok()),
    })
}

/// Parses an event envelope published on `/<db>.celeryev/<routing key>`. A `task.multi`
/// envelope carries a list of events; any other carries one.
pub fn parse_events(raw: &[u8]) -> Result<Vec<Event>, ParseError> {
    let env: RawEnvelope = serde_json::from_slice(raw)?;
    match decode_body(&env)? {
        Value::Array(items) => Ok(items.iter().filter_map(event_from_value).collect()),
        obj @ Value::Object(_) => event_from_value(&obj)
            .map(|e| vec![e])
            .ok_or(ParseError::Shape("event without type or hostname")),
        _ => Err(ParseError::Shape(
            "event body is neither an object nor a list",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn fixture(rel: &str) -> String {
        let base = std::env::var("CELERY_WIRE_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|_| {
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/celery-wire")
            });
        let path = base.join("fixtures").join(rel);
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("fixture {} is required: {e}", path.display()))
            .trim_end()
            .to_string()
    }

    fn kwargs(full: bool, batch: u64, dry: bool) -> serde_json::Map<String, Value> {
        let mut m = serde_json::Map::new();
        m.insert("full".into(), Value::Bool(full));
        m.insert("batch_size".into(), Value::from(batch));
        m.insert("dry_run".into(), Value::Bool(dry));
        m
    }

    fn field<'a>(json: &'a Value, path: &[&str]) -> &'a Value {
        path.iter().fold(json, |v, k| &v[*k])
    }

    #[test]
    fn task_message_is_byte_identical_to_the_verified_full_fixture() {
        let expected = fixture("handmade/full.json");
        let exp: Value = serde_json::from_str(&expected).unwrap();
        let kw = kwargs(true, 500, true);
        let msg = task_message(&TaskSpec {
            task_name: "hubspot.all",
            celery_id: "bbbbbbbb-0000-4000-8000-000000000001",
            kwargs: &kw,
            queue: "celery",
            priority: 0,
            origin: field(&exp, &["headers", "origin"]).as_str().unwrap(),
            delivery_tag: field(&exp, &["properties", "delivery_tag"])
                .as_str()
                .unwrap(),
        });
        assert_eq!(msg.list, "celery");
        assert_eq!(msg.json, expected);
    }

    #[test]
    fn task_message_matches_what_celery_itself_writes() {
        // Celery's own publisher: same envelope, except for its reply_to and origin.
        let expected = fixture("broker/task_plain_hubspot_all.json");
        let exp: Value = serde_json::from_str(&expected).unwrap();
        let kw = kwargs(false, 1000, false);
        let msg = task_message(&TaskSpec {
            task_name: "hubspot.all",
            celery_id: "00000001-0000-4000-8000-000000000000",
            kwargs: &kw,
            queue: "celery",
            priority: 0,
            origin: field(&exp, &["headers", "origin"]).as_str().unwrap(),
            delivery_tag: field(&exp, &["properties", "delivery_tag"])
                .as_str()
                .unwrap(),
        });
        let mut got: Value = serde_json::from_str(&msg.json).unwrap();
        got["properties"]["reply_to"] = exp["properties"]["reply_to"].clone();
        assert_eq!(got, exp);
        // The body is byte-identical too (same separators, same key order).
        assert_eq!(got["body"], exp["body"]);
    }

    #[test]
    fn every_field_a_worker_needs_is_present() {
        let kw = kwargs(false, 1, false);
        let msg = task_message(&TaskSpec {
            task_name: "five9.contacts",
            celery_id: "id-1",
            kwargs: &kw,
            queue: "sync",
            priority: 0,
            origin: "worker-pool@host",
            delivery_tag: "tag-1",
        });
        let v: Value = serde_json::from_str(&msg.json).unwrap();
        assert_eq!(v["content-type"], "application/json");
        assert_eq!(v["headers"]["task"], "five9.contacts");
        assert_eq!(v["headers"]["id"], "id-1");
        assert_eq!(v["headers"]["ignore_result"], false);
        assert_eq!(v["properties"]["delivery_tag"], "tag-1");
        assert_eq!(v["properties"]["delivery_info"]["exchange"], "");
        assert_eq!(v["properties"]["delivery_info"]["routing_key"], "sync");
        let body = B64.decode(v["body"].as_str().unwrap()).unwrap();
        let body: Value = serde_json::from_slice(&body).unwrap();
        let parts = body.as_array().unwrap();
        assert_eq!(parts.len(), 3, "the body must be [args, kwargs, embed]");
        assert!(parts[0].as_array().unwrap().is_empty());
        assert_eq!(parts[1]["batch_size"], 1);
        assert!(parts[2].is_object());
        assert_eq!(msg.list, "sync");
    }

    #[test]
    fn priority_lists_follow_kombu() {
        let got: Vec<String> = (0..=9).map(|p| queue_key("celery", p)).collect();
        let want = [
            "celery",
            "celery",
            "celery",
            "celery\x06\x163",
            "celery\x06\x163",
            "celery\x06\x163",
            "celery\x06\x166",
            "celery\x06\x166",
            "celery\x06\x166",
            "celery\x06\x169",
        ];
        assert_eq!(got, want);
        assert_eq!(queue_key("celery", 200), "celery\x06\x169");
        // The fixture of what a priority-9 message looked like, and where it was found.
        let p9: Value = serde_json::from_str(&fixture("broker/task_priority_9.json")).unwrap();
        assert_eq!(p9["properties"]["priority"], 9);
        let keys = fixture("broker/keys_after_publish.txt");
        assert!(
            keys.contains("celery\\x06\\x169") || keys.contains("celery\x06\x169"),
            "{keys}"
        );
    }

    #[test]
    fn revoke_message_matches_celery_broadcast() {
        let expected = fixture("control/pidbox_revoke_from_celery.json");
        let exp: Value = serde_json::from_str(&expected).unwrap();
        let expires = exp["headers"]["expires"].as_f64().unwrap();
        let got = revoke_message(
            "aaaaaaaa-0000-4000-8000-000000000004",
            exp["properties"]["delivery_tag"].as_str().unwrap(),
            expires,
        );
        let mut got: Value = serde_json::from_str(&got).unwrap();
        got["headers"]["clock"] = exp["headers"]["clock"].clone();
        assert_eq!(got, exp);
    }

    #[test]
    fn result_metas_parse() {
        let started =
            parse_result_meta(fixture("backend/pubsub_STARTED.json").as_bytes(), "x").unwrap();
        assert_eq!(started.task_id, "aaaaaaaa-0000-4000-8000-000000000000");
        assert_eq!(
            started.state,
            ResultState::Started {
                hostname: Some("w1@vm".into()),
                pid: Some(32404)
            }
        );
        let ok = parse_result_meta(fixture("backend/meta_SUCCESS.json").as_bytes(), "x").unwrap();
        assert_eq!(ok.state, ResultState::Success);
        let failed =
            parse_result_meta(fixture("backend/meta_FAILURE.json").as_bytes(), "x").unwrap();
        assert_eq!(
            failed.state,
            ResultState::Failure {
                error: "ValueError: boom".into()
            }
        );
        let revoked = parse_result_meta(
            fixture("backend/meta_REVOKED_terminated.json").as_bytes(),
            "x",
        )
        .unwrap();
        assert_eq!(
            revoked.state,
            ResultState::Revoked {
                reason: "TaskRevokedError: terminated".into()
            }
        );
        let retry =
            parse_result_meta(fixture("backend/pubsub_RETRY.json").as_bytes(), "x").unwrap();
        assert_eq!(retry.state, ResultState::Retry);
        assert!(!retry.state.is_ready());
        let lost = parse_result_meta(
            fixture("kill/meta_FAILURE_WorkerLostError_demo.sleep.json").as_bytes(),
            "x",
        )
        .unwrap();
        match lost.state {
            ResultState::Failure { error } => {
                assert!(error.starts_with("WorkerLostError"), "{error}")
            }
            other => panic!("{other:?}"),
        }
        assert!(parse_result_meta(b"not json", "x").is_err());
        assert!(parse_result_meta(b"{\"result\": 1}", "x").is_err());
    }

    #[test]
    fn events_parse_single_and_batched() {
        let hb = parse_events(fixture("events/channel_worker.heartbeat.envelope.json").as_bytes())
            .unwrap();
        assert_eq!(hb.len(), 1);
        assert_eq!(hb[0].kind, "worker-heartbeat");
        assert_eq!(hb[0].hostname, "w1@vm");
        assert_eq!(hb[0].freq, Some(2.0));
        assert_eq!(hb[0].pid, Some(32382), "the worker's main process");
        assert_eq!(hb[0].active, Some(0));
        let off = parse_events(fixture("events/channel_worker.offline.envelope.json").as_bytes())
            .unwrap();
        assert_eq!(off[0].kind, "worker-offline");
        assert!(
            off[0].pid.is_some() && off[0].active.is_some(),
            "{:?}",
            off[0].pid
        );
        let multi =
            parse_events(fixture("events/channel_task.multi.envelope.json").as_bytes()).unwrap();
        assert!(!multi.is_empty());
        assert!(multi
            .iter()
            .all(|e| e.kind.starts_with("task-") && e.task_id.is_some()));
        let off = parse_events(fixture("events/channel_worker.offline.envelope.json").as_bytes())
            .unwrap();
        assert_eq!(off[0].kind, "worker-offline");
        assert!(parse_events(b"{}").is_err());
    }

    #[test]
    fn python_repr_and_json_match_python() {
        let v: Value = serde_json::json!({"a": [1, null, true, "it's"], "b": "x\"y", "c": "é"});
        assert_eq!(
            python_repr(&v),
            r#"{'a': [1, None, True, "it's"], 'b': 'x"y', 'c': 'é'}"#
        );
        assert_eq!(
            python_json(&serde_json::json!(["é", "😀"])),
            r#"["\u00e9", "\ud83d\ude00"]"#
        );
        assert_eq!(
            python_json(&serde_json::json!({"k": [1, 2]})),
            r#"{"k": [1, 2]}"#
        );
    }
}
