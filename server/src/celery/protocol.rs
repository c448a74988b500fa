//! Celery's wire format over Redis, as pure functions: no I/O, no clocks, no randomness.
//!
//! Every message the pool sends to Celery is built here, from typed structs, and the unit tests
//! compare them byte for byte with the messages a real Celery 5.7 wrote
//! (`server/tests/fixtures/celery-wire/`, re-captured by `scripts/capture-celery-wire.sh`).
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

/// A message as an AMQP broker takes it: what kombu's Redis envelope describes, unwrapped.
/// Every message the pool sends is built once, as that envelope (the golden-tested builders
/// above and below); [`Publication::from_envelope`] reads it back into the exchange, routing
/// key, properties, headers and body of a `basic.publish`, which is what kombu itself does
/// between the two transports.
#[derive(Clone, Debug, PartialEq)]
pub struct Publication {
    /// The exchange (`""`: the default exchange, which routes by queue name).
    pub exchange: String,
    /// The routing key (the queue's name for a task).
    pub routing_key: String,
    /// The body, as sent.
    pub body: Vec<u8>,
    /// `application/json`.
    pub content_type: String,
    /// `utf-8`.
    pub content_encoding: String,
    /// The AMQP headers table (Celery's protocol-2 headers; `clock`/`expires` for control).
    pub headers: serde_json::Map<String, Value>,
    /// The Celery id, for tasks.
    pub correlation_id: Option<String>,
    /// Where replies go; none for the pool's messages.
    pub reply_to: Option<String>,
    /// 2: persistent.
    pub delivery_mode: u8,
    /// Celery's 0..=9 priority.
    pub priority: u8,
}

impl Publication {
    /// Unwraps an envelope made by this module's builders (or by kombu): the body decoded
    /// from base64, the routing from `properties.delivery_info`. kombu's Redis-only
    /// properties (`body_encoding`, `delivery_tag`) are left behind.
    pub fn from_envelope(json: &str) -> Result<Publication, ParseError> {
        let v: Value = serde_json::from_str(json)?;
        let env: RawEnvelope = serde_json::from_value(v.clone())?;
        let body = match decode_body_bytes(&env)? {
            Some(bytes) => bytes,
            None => return Err(ParseError::Shape("an envelope's body is a string")),
        };
        let props = &v["properties"];
        let text = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_string);
        let info = &props["delivery_info"];
        Ok(Publication {
            exchange: info["exchange"].as_str().unwrap_or_default().to_string(),
            routing_key: info["routing_key"].as_str().unwrap_or_default().to_string(),
            body,
            content_type: text(&v["content-type"]).unwrap_or_else(|| "application/json".into()),
            content_encoding: text(&v["content-encoding"]).unwrap_or_else(|| "utf-8".into()),
            headers: v["headers"].as_object().cloned().unwrap_or_default(),
            correlation_id: text(&props["correlation_id"]),
            reply_to: text(&props["reply_to"]),
            delivery_mode: props["delivery_mode"]
                .as_u64()
                .map_or(2, |m| m.clamp(1, 2) as u8),
            priority: props["priority"].as_u64().map_or(0, |p| p.min(9) as u8),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Remote control: revoke, query_task
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
    task_id: &'a [String],
    terminate: bool,
    signal: &'a str,
}

#[derive(Serialize)]
struct QueryTaskArguments<'a> {
    ids: &'a [String],
}

#[derive(Serialize)]
struct ReplyTo<'a> {
    exchange: &'a str,
    routing_key: &'a str,
}

#[derive(Serialize)]
struct ControlBody<'a, A: Serialize> {
    method: &'a str,
    arguments: A,
    destination: Option<Vec<String>>,
    pattern: Option<()>,
    matcher: Option<()>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ticket: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reply_to: Option<ReplyTo<'a>>,
}

/// The exchange remote-control replies are published to.
pub const REPLY_EXCHANGE: &str = "reply.celery.pidbox";

/// Where the workers' replies to one remote-control call go: kombu routes a reply to the list
/// `<oid>.reply.celery.pidbox` only while the binding set holds [`Reply::binding`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// The caller's routing key (Celery uses its process's oid).
    pub oid: String,
    /// The call's ticket; every reply carries it in its `ticket` header.
    pub ticket: String,
}

impl Reply {
    /// The Redis list the replies are pushed to.
    pub fn list(&self) -> String {
        format!("{}.{REPLY_EXCHANGE}", self.oid)
    }

    /// The set that holds the reply exchange's bindings.
    pub fn binding_key() -> String {
        format!("_kombu.binding.{REPLY_EXCHANGE}")
    }

    /// The binding's member: `routing_key SEP pattern SEP queue`.
    pub fn binding(&self) -> String {
        format!("{}{PRIORITY_SEP}{PRIORITY_SEP}{}", self.oid, self.list())
    }
}

/// A remote-control broadcast on the pidbox, as `app.control` writes it: `reply` asks for
/// answers (`inspect`, `query_task`); without it nobody answers (`revoke`).
fn control_message<A: Serialize>(
    method: &str,
    arguments: A,
    reply: Option<&Reply>,
    delivery_tag: &str,
    expires_epoch: f64,
) -> String {
    let body = python_json(&ControlBody {
        method,
        arguments,
        destination: None,
        pattern: None,
        matcher: None,
        ticket: reply.map(|r| r.ticket.as_str()),
        reply_to: reply.map(|r| ReplyTo {
            exchange: REPLY_EXCHANGE,
            routing_key: &r.oid,
        }),
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

/// The broadcast that revokes `celery_ids` and terminates them (SIGTERM) where they run, as
/// `app.control.revoke(ids, terminate=True)` writes it (one id is sent as a plain string, as
/// Celery does). A worker that hears it also discards these ids if they reach it later.
/// `expires_epoch` only fills the informational `expires` header (workers do not check it;
/// reply collectors would).
pub fn revoke_message(celery_ids: &[String], delivery_tag: &str, expires_epoch: f64) -> String {
    #[derive(Serialize)]
    struct One<'a> {
        task_id: &'a str,
        terminate: bool,
        signal: &'a str,
    }
    match celery_ids {
        [one] => control_message(
            "revoke",
            One {
                task_id: one,
                terminate: true,
                signal: "SIGTERM",
            },
            None,
            delivery_tag,
            expires_epoch,
        ),
        many => control_message(
            "revoke",
            RevokeArguments {
                task_id: many,
                terminate: true,
                signal: "SIGTERM",
            },
            None,
            delivery_tag,
            expires_epoch,
        ),
    }
}

/// Celery's `query_task` remote control: every worker answers with the ones of `celery_ids`
/// it holds (reserved, i.e. received and waiting in its memory, or active), on `reply`.
pub fn query_task_message(
    celery_ids: &[String],
    reply: &Reply,
    delivery_tag: &str,
    expires_epoch: f64,
) -> String {
    control_message(
        "query_task",
        QueryTaskArguments { ids: celery_ids },
        Some(reply),
        delivery_tag,
        expires_epoch,
    )
}

/// Celery's `inspect` remote controls (`active`, `active_queues`, `registered`, `conf`, …) as
/// `app.control.inspect()` sends them: every worker answers on `reply`. `arguments` are the
/// method's keyword arguments (`{"with_defaults": true}` for `conf`).
pub fn inspect_message(
    method: &str,
    arguments: &Value,
    reply: &Reply,
    delivery_tag: &str,
    expires_epoch: f64,
) -> String {
    control_message(method, arguments, Some(reply), delivery_tag, expires_epoch)
}

/// One worker's answer to a remote-control call.
#[derive(Clone, Debug, PartialEq)]
pub struct ControlReply {
    /// The worker (`name@host`).
    pub hostname: String,
    /// The call's ticket, from the reply's headers.
    pub ticket: Option<String>,
    /// What it answered (the method's own shape).
    pub answer: Value,
}

/// Parses a reply pushed to [`Reply::list`]: an envelope whose body is
/// `{"<hostname>": <answer>}`.
pub fn parse_control_reply(raw: &[u8]) -> Result<ControlReply, ParseError> {
    let env: RawEnvelope = serde_json::from_slice(raw)?;
    let ticket = serde_json::from_slice::<Value>(raw)
        .ok()
        .and_then(|v| v["headers"]["ticket"].as_str().map(str::to_string));
    control_reply_from_body(&decode_body(&env)?, ticket)
}

/// Parses a reply delivered over AMQP (from the reply exchange): its body, and the `ticket`
/// of its headers.
pub fn parse_control_reply_body(
    body: &[u8],
    ticket: Option<String>,
) -> Result<ControlReply, ParseError> {
    let text = std::str::from_utf8(body).map_err(|_| ParseError::Encoding)?;
    control_reply_from_body(&python_json_value(text)?, ticket)
}

fn control_reply_from_body(
    body: &Value,
    ticket: Option<String>,
) -> Result<ControlReply, ParseError> {
    let Some((hostname, answer)) = body.as_object().and_then(|o| o.iter().next()) else {
        return Err(ParseError::Shape("a reply names its worker"));
    };
    Ok(ControlReply {
        hostname: hostname.clone(),
        ticket,
        answer: answer.clone(),
    })
}

/// One worker's answer to [`query_task_message`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueryTaskReply {
    /// The worker (`name@host`).
    pub hostname: String,
    /// The call's ticket, from the reply's headers.
    pub ticket: Option<String>,
    /// The asked-for Celery ids it holds, with their state there (`active`, `reserved`, …).
    pub held: Vec<(String, String)>,
}

/// A [`ControlReply`] to `query_task`, whose answer is
/// `{"<celery id>": ["<state>", {…}], …}`.
pub fn query_task_reply(reply: ControlReply) -> Result<QueryTaskReply, ParseError> {
    let tasks = reply
        .answer
        .as_object()
        .ok_or(ParseError::Shape("a query_task reply maps ids to states"))?;
    let held = tasks
        .iter()
        .map(|(id, v)| {
            let state = v
                .get(0)
                .and_then(Value::as_str)
                .unwrap_or("unknown")
                .to_string();
            (id.clone(), state)
        })
        .collect();
    Ok(QueryTaskReply {
        hostname: reply.hostname,
        ticket: reply.ticket,
        held,
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
    /// The task will be retried; it still holds its slot. `reason` is the exception that asked
    /// for it, `"<ExcType>: <message>"`.
    Retry { reason: String },
    /// The task returned.
    Success,
    /// The task raised; `error` is `"<ExcType>: <message>"`, `traceback` Celery's (at most
    /// [`TRACEBACK_MAX_CHARS`]), when it stored one.
    Failure {
        error: String,
        traceback: Option<String>,
    },
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

/// The longest traceback kept per task. A longer one keeps its end (the innermost frames and
/// the exception, where Python puts them), after an ellipsis.
pub const TRACEBACK_MAX_CHARS: usize = 16_000;

/// At most the last `max` characters of `s`, after an ellipsis when cut.
fn tail_chars(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max {
        s.to_string()
    } else {
        std::iter::once('…')
            .chain(s.chars().skip(n - max))
            .collect()
    }
}

#[derive(Deserialize)]
struct RawMeta {
    status: String,
    #[serde(default)]
    result: Value,
    #[serde(default)]
    traceback: Option<String>,
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
        "RETRY" => ResultState::Retry {
            reason: exception_text(&meta.result),
        },
        "SUCCESS" => ResultState::Success,
        "FAILURE" => ResultState::Failure {
            error: exception_text(&meta.result),
            traceback: meta
                .traceback
                .as_deref()
                .map(str::trim_end)
                .filter(|t| !t.is_empty())
                .map(|t| tail_chars(t, TRACEBACK_MAX_CHARS)),
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

/// The body's bytes as sent: base64-decoded when the envelope says so; `None` when the body
/// is not a string.
fn decode_body_bytes(env: &RawEnvelope) -> Result<Option<Vec<u8>>, ParseError> {
    let Value::String(s) = &env.body else {
        return Ok(None);
    };
    let encoding = env.properties.get("body_encoding").and_then(Value::as_str);
    Ok(Some(if encoding == Some("base64") {
        B64.decode(s.as_bytes()).map_err(|_| ParseError::Encoding)?
    } else {
        s.as_bytes().to_vec()
    }))
}

fn decode_body(env: &RawEnvelope) -> Result<Value, ParseError> {
    match decode_body_bytes(env)? {
        Some(bytes) => {
            python_json_value(std::str::from_utf8(&bytes).map_err(|_| ParseError::Encoding)?)
        }
        None => Ok(env.body.clone()),
    }
}

/// Reads JSON as Python's `json.dumps` writes it: that may hold the bare `NaN`, `Infinity` and
/// `-Infinity` strict JSON lacks (a worker's `conf` answer does: `result_backend_max_retries`
/// is `inf` by default). They become `null`; nothing else is changed.
fn python_json_value(text: &str) -> Result<Value, ParseError> {
    match serde_json::from_str(text) {
        Ok(v) => Ok(v),
        Err(first) => {
            let mut out = String::with_capacity(text.len());
            let mut in_string = false;
            let mut escaped = false;
            let mut rest = text;
            while let Some(c) = rest.chars().next() {
                if in_string {
                    out.push(c);
                    match (escaped, c) {
                        (true, _) => escaped = false,
                        (false, '\\') => escaped = true,
                        (false, '"') => in_string = false,
                        _ => {}
                    }
                    rest = &rest[c.len_utf8()..];
                    continue;
                }
                let word = ["-Infinity", "Infinity", "NaN"]
                    .into_iter()
                    .find(|w| rest.starts_with(w));
                if let Some(w) = word {
                    out.push_str("null");
                    rest = &rest[w.len()..];
                } else {
                    in_string = c == '"';
                    out.push(c);
                    rest = &rest[c.len_utf8()..];
                }
            }
            serde_json::from_str(&out).map_err(|_| ParseError::Json(first))
        }
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
    events_from_body(decode_body(&env)?)
}

/// Parses the body of an event delivered over AMQP (from the `celeryev` exchange): the same
/// JSON as an envelope's body, with no envelope around it.
pub fn parse_event_body(body: &[u8]) -> Result<Vec<Event>, ParseError> {
    let text = std::str::from_utf8(body).map_err(|_| ParseError::Encoding)?;
    events_from_body(python_json_value(text)?)
}

fn events_from_body(body: Value) -> Result<Vec<Event>, ParseError> {
    match body {
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

    /// A message captured from a real Celery worker (`scripts/capture-celery-wire.sh`
    /// re-captures them all).
    fn fixture(rel: &str) -> String {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/celery-wire")
            .join(rel);
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
        let keys = fixture("broker/keys_after_publish.txt") + "\n";
        for (p, list) in got.iter().enumerate() {
            let escaped = list.replace('\x06', "\\x06").replace('\x16', "\\x16");
            assert!(
                keys.contains(&format!("priority {p}: {escaped}\n")),
                "priority {p} landed in {escaped}:\n{keys}"
            );
        }
    }

    /// A control broadcast Celery wrote: its envelope and its decoded body.
    fn captured_control(rel: &str) -> (Value, Value) {
        let env: Value = serde_json::from_str(&fixture(rel)).unwrap();
        let body = decode_body(&serde_json::from_value(env.clone()).unwrap()).unwrap();
        (env, body)
    }

    /// `built` equals Celery's broadcast `exp`, body bytes included, but for the Lamport clock.
    fn assert_same_control(built: &str, exp: &Value) {
        let mut got: Value = serde_json::from_str(built).unwrap();
        got["headers"]["clock"] = exp["headers"]["clock"].clone();
        assert_eq!(&got, exp);
    }

    fn tag_and_expires(env: &Value) -> (&str, f64) {
        (
            env["properties"]["delivery_tag"].as_str().unwrap(),
            env["headers"]["expires"].as_f64().unwrap(),
        )
    }

    fn reply_of(body: &Value) -> Reply {
        Reply {
            oid: body["reply_to"]["routing_key"].as_str().unwrap().into(),
            ticket: body["ticket"].as_str().unwrap().into(),
        }
    }

    #[test]
    fn revoke_message_matches_celery_broadcast() {
        let (exp, body) = captured_control("control/pidbox_revoke_from_celery.json");
        let (tag, expires) = tag_and_expires(&exp);
        let id = body["arguments"]["task_id"].as_str().unwrap().to_string();
        assert_same_control(&revoke_message(&[id], tag, expires), &exp);
        // Several ids at once: a list, as `app.control.revoke([...])` sends it.
        let ids = ["a".to_string(), "b".to_string()];
        let many: Value = serde_json::from_str(&revoke_message(&ids, "t", 1.0)).unwrap();
        let body = decode_body(&serde_json::from_value::<RawEnvelope>(many).unwrap()).unwrap();
        assert_eq!(body["arguments"]["task_id"], serde_json::json!(["a", "b"]));
        assert_eq!(body["arguments"]["terminate"], true);
    }

    #[test]
    fn a_control_call_with_replies_matches_celery_inspect() {
        // `app.control.inspect().active()` as Celery wrote it: the envelope, and a body with
        // the ticket and the reply address.
        let (exp, body) = captured_control("control/pidbox_active_from_celery.json");
        let (tag, expires) = tag_and_expires(&exp);
        let reply = reply_of(&body);
        let built = inspect_message(
            "active",
            &serde_json::json!({"safe": null}),
            &reply,
            tag,
            expires,
        );
        assert_same_control(&built, &exp);
        assert_eq!(
            reply.binding(),
            format!("{0}\x06\x16\x06\x16{0}.reply.celery.pidbox", reply.oid)
        );
    }

    #[test]
    fn query_task_matches_celery_and_its_replies_parse() {
        let (exp, body) = captured_control("control/pidbox_query_task_from_celery.json");
        let (tag, expires) = tag_and_expires(&exp);
        let ids: Vec<String> = serde_json::from_value(body["arguments"]["ids"].clone()).unwrap();
        assert_same_control(
            &query_task_message(&ids, &reply_of(&body), tag, expires),
            &exp,
        );
        let parse_query_task_reply =
            |raw: &[u8]| parse_control_reply(raw).and_then(query_task_reply);
        // A worker that runs the task answers with its state there.
        let answer =
            parse_query_task_reply(fixture("control/query_task_reply.json").as_bytes()).unwrap();
        assert!(answer.hostname.starts_with("w1@"), "{answer:?}");
        assert!(answer.ticket.is_some());
        assert_eq!(answer.held, [(ids[0].clone(), "active".to_string())]);
        // One that holds none of them answers with an empty map.
        let none = serde_json::json!({"body": B64.encode(br#"{"w2@h": {}}"#),
            "headers": {"ticket": "t"}, "properties": {"body_encoding": "base64"}});
        let none = parse_query_task_reply(none.to_string().as_bytes()).unwrap();
        assert_eq!((none.hostname.as_str(), none.held.len()), ("w2@h", 0));
        assert!(parse_query_task_reply(b"{}").is_err());
    }

    #[test]
    fn python_json_with_infinity_reads_as_null() {
        let v = python_json_value(
            r#"{"a": Infinity, "b": -Infinity, "c": NaN, "d": "NaN \" Infinity", "e": [1, NaN]}"#,
        )
        .unwrap();
        assert_eq!(
            v,
            serde_json::json!({"a": null, "b": null, "c": null, "d": "NaN \" Infinity", "e": [1, null]})
        );
        assert!(python_json_value("{\"a\": Inf}").is_err());
    }

    #[test]
    fn result_metas_parse() {
        let started =
            parse_result_meta(fixture("backend/pubsub_STARTED.json").as_bytes(), "x").unwrap();
        assert_eq!(started.task_id, "aaaaaaaa-0000-4000-8000-000000000000");
        match started.state {
            ResultState::Started {
                hostname: Some(h),
                pid: Some(_),
            } => assert!(h.starts_with("w1@"), "{h}"),
            other => panic!("STARTED names its worker and pool process: {other:?}"),
        }
        let ok = parse_result_meta(fixture("backend/meta_SUCCESS.json").as_bytes(), "x").unwrap();
        assert_eq!(ok.state, ResultState::Success);
        let failed =
            parse_result_meta(fixture("backend/meta_FAILURE.json").as_bytes(), "x").unwrap();
        match failed.state {
            ResultState::Failure {
                error,
                traceback: Some(tb),
            } => {
                assert_eq!(error, "ValueError: boom");
                assert!(tb.starts_with("Traceback (most recent call last):"), "{tb}");
                assert!(tb.ends_with("ValueError: boom"), "{tb}");
            }
            other => panic!("a FAILURE carries its traceback: {other:?}"),
        }
        let long = "x".repeat(TRACEBACK_MAX_CHARS) + "\nValueError: boom";
        let cut = tail_chars(&long, TRACEBACK_MAX_CHARS);
        assert_eq!(cut.chars().count(), TRACEBACK_MAX_CHARS + 1);
        assert!(cut.starts_with('…') && cut.ends_with("ValueError: boom"));
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
        assert_eq!(
            retry.state,
            ResultState::Retry {
                reason: "RuntimeError: try again".into()
            }
        );
        assert!(!retry.state.is_ready());
        let lost = parse_result_meta(
            fixture("kill/meta_FAILURE_WorkerLostError_demo.sleep.json").as_bytes(),
            "x",
        )
        .unwrap();
        match lost.state {
            ResultState::Failure { error, .. } => {
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
        assert!(hb[0].hostname.starts_with("w1@"), "{}", hb[0].hostname);
        assert_eq!(hb[0].freq, Some(2.0));
        assert!(hb[0].pid.is_some());
        assert!(hb[0].active.is_some());
        let off = parse_events(fixture("events/channel_worker.offline.envelope.json").as_bytes())
            .unwrap();
        assert_eq!(off[0].kind, "worker-offline");
        assert_eq!(off[0].hostname, hb[0].hostname);
        assert_eq!(
            off[0].pid, hb[0].pid,
            "both come from the worker's main process"
        );
        assert!(off[0].active.is_some());
        let multi =
            parse_events(fixture("events/channel_task.multi.envelope.json").as_bytes()).unwrap();
        assert!(!multi.is_empty());
        assert!(multi
            .iter()
            .all(|e| e.kind.starts_with("task-") && e.task_id.is_some()));
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
