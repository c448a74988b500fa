//! `worker-pool doctor`, `GET doctor/` and the warnings the server logs at start-up: one check
//! of what the pool's guarantees rely on, in plain sentences with what to fix.
//!
//! - Each Redis (the store, Celery's broker, the result backend) answers, may not evict keys
//!   (`maxmemory-policy noeviction`: an evicting Redis can silently drop queued tasks, a
//!   running set or a result), and how it persists.
//! - The Celery workers that consume the pool's queue answer remote control, and their own
//!   configuration (Celery's `conf` and `registered` inspect commands) has what the pool needs:
//!   `task_track_started`, results stored and retried, every registered task type, and the
//!   recommended `worker_prefetch_multiplier = 1`; `acks_late` is explained. The pool must
//!   hear their heartbeats.
//! - Nothing else takes tasks from the pool's queue: a task a worker runs from it that the pool
//!   never dispatched (another pool on the same queue, or code calling `.delay()` on it) runs
//!   outside the limit.

use crate::celery::protocol::ControlReply;
use crate::celery::BrokerFacts;
use crate::connection::ServerFacts;
use crate::scheduler::{task_id_of, Scheduler};
use app::types::{CheckStatus, DoctorCheck, DoctorReport, WorkerState};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

/// How long the workers' answers to each remote-control call are awaited.
pub const INSPECT_WINDOW: Duration = Duration::from_secs(1);

#[derive(Default)]
struct Findings(Vec<DoctorCheck>);

impl Findings {
    fn add(
        &mut self,
        check: &str,
        subject: &str,
        status: CheckStatus,
        message: String,
        fix: Option<String>,
    ) {
        self.0.push(DoctorCheck {
            check: check.into(),
            subject: subject.into(),
            status,
            message,
            fix,
        });
    }
    fn ok(&mut self, check: &str, subject: &str, message: String) {
        self.add(check, subject, CheckStatus::Ok, message, None);
    }
    fn warn(&mut self, check: &str, subject: &str, message: String, fix: String) {
        self.add(check, subject, CheckStatus::Warning, message, Some(fix));
    }
    fn problem(&mut self, check: &str, subject: &str, message: String, fix: String) {
        self.add(check, subject, CheckStatus::Problem, message, Some(fix));
    }
}

/// Runs every check now. Takes about [`INSPECT_WINDOW`] (the workers' answers are awaited).
pub async fn examine(scheduler: &Scheduler) -> DoctorReport {
    let settings = scheduler.settings();
    let queue = settings.celery_queue.clone();
    let mut f = Findings::default();

    // --- the Redis servers ---------------------------------------------------------------
    let broker = scheduler.broker();
    let (store_facts, (broker_facts, backend_facts)) =
        tokio::join!(scheduler.store().server_facts(), broker.server_facts());
    // The servers checked so far (run_id, role): two roles on one server are checked once.
    let mut seen: Vec<(String, &str)> = Vec::new();
    redis_checks(
        &mut f,
        "store",
        "REDIS_URL",
        store_facts.map_err(|e| e.to_string()),
        &mut seen,
    );
    match broker_facts {
        BrokerFacts::Redis(facts) => redis_checks(
            &mut f,
            "broker",
            "CELERY_BROKER_URL",
            facts.map_err(|e| e.to_string()),
            &mut seen,
        ),
        BrokerFacts::Amqp(Ok(what)) => f.ok(
            "broker.answers",
            "broker",
            format!("The broker answers: {what}. Messages are published persistent, with publisher confirms."),
        ),
        BrokerFacts::Amqp(Err(e)) => f.problem(
            "broker.answers",
            "broker",
            format!("The broker (RabbitMQ) does not answer: {e}."),
            "Start it, or point CELERY_BROKER_URL at the right server, user and vhost.".into(),
        ),
    }
    redis_checks(
        &mut f,
        "result backend",
        "CELERY_RESULT_BACKEND",
        backend_facts.map_err(|e| e.to_string()),
        &mut seen,
    );

    // --- the workers -----------------------------------------------------------------------
    let call = |method: &'static str, args: Value| broker.inspect(method, args, INSPECT_WINDOW);
    let (queues, conf, registered, active) = tokio::join!(
        call("active_queues", json!({})),
        call("conf", json!({"with_defaults": true})),
        call("registered", json!({"taskinfoitems": []})),
        call("active", json!({"safe": null})),
    );
    let roster = scheduler.workers().await.map(|l| l.workers);
    match queues {
        Err(e) => f.problem(
            "workers.remote_control",
            "broker",
            format!("Could not ask the workers which queues they consume: {e}."),
            "Check that the broker answers (above).".into(),
        ),
        Ok(queues) => {
            let by_host = |r: Result<Vec<ControlReply>, _>| -> BTreeMap<String, Value> {
                r.unwrap_or_default()
                    .into_iter()
                    .map(|c| (c.hostname, c.answer))
                    .collect()
            };
            let consumers: Vec<String> = queues
                .iter()
                .filter(|r| consumes(&r.answer, &queue))
                .map(|r| r.hostname.clone())
                .collect();
            outside_checks(&mut f, scheduler, &queue, &consumers, &by_host(active)).await;
            worker_checks(
                &mut f,
                WorkerAnswers {
                    queue: &queue,
                    answered: queues.iter().map(|r| r.hostname.clone()).collect(),
                    consumers,
                    conf: by_host(conf),
                    registered: by_host(registered),
                },
                &settings
                    .registry
                    .types()
                    .iter()
                    .map(|t| t.task_name.clone())
                    .collect::<Vec<_>>(),
                roster.as_deref().unwrap_or(&[]),
            );
        }
    }
    if let Err(e) = &roster {
        f.warn(
            "workers.roster",
            "store",
            format!("Could not read the workers the pool has heard from: {e}."),
            "Check that the store answers (above).".into(),
        );
    }

    // Problems first, then warnings, then what is fine; each group in the order found.
    f.0.sort_by_key(|c| match c.status {
        CheckStatus::Problem => 0,
        CheckStatus::Warning => 1,
        CheckStatus::Ok => 2,
    });
    DoctorReport {
        ok: !f.0.iter().any(|c| c.status == CheckStatus::Problem),
        queue,
        checks: f.0,
    }
}

/// Whether an `active_queues` answer (a list of kombu queue descriptions) names `queue`.
fn consumes(answer: &Value, queue: &str) -> bool {
    answer
        .as_array()
        .is_some_and(|qs| qs.iter().any(|q| q["name"].as_str() == Some(queue)))
}

fn redis_checks<'a>(
    f: &mut Findings,
    role: &'a str,
    var: &str,
    facts: Result<ServerFacts, String>,
    seen: &mut Vec<(String, &'a str)>,
) {
    let facts = match facts {
        Err(e) => {
            f.problem(
                "redis.answers",
                role,
                format!("The {role}'s Redis does not answer: {e}."),
                format!("Start it, or point {var} at the right server."),
            );
            return;
        }
        Ok(facts) => facts,
    };
    if let Some((_, first)) = seen.iter().find(|(run, _)| *run == facts.run_id) {
        f.ok(
            "redis.answers",
            role,
            format!("The {role}'s Redis answers; it is the same server as the {first}'s (checked above)."),
        );
        return;
    }
    seen.push((facts.run_id.clone(), role));
    f.ok(
        "redis.answers",
        role,
        format!("The {role}'s Redis answers."),
    );
    match (facts.maxmemory_policy.as_deref(), facts.maxmemory) {
        (Some("noeviction"), _) => f.ok(
            "redis.eviction",
            role,
            "maxmemory-policy is noeviction: Redis refuses writes when full, never drops keys.".into(),
        ),
        (Some(policy), Some(0)) => f.warn(
            "redis.eviction",
            role,
            format!(
                "maxmemory-policy is {policy}. No memory limit is set, so nothing is evicted \
                 today, but once one is, Redis may drop queued tasks, slots or results silently."
            ),
            "Set maxmemory-policy noeviction (CONFIG SET maxmemory-policy noeviction, and in redis.conf).".into(),
        ),
        (Some(policy), _) => f.problem(
            "redis.eviction",
            role,
            format!(
                "maxmemory-policy is {policy} with a memory limit: when full, Redis drops keys \
                 silently — queued tasks, the running set or results the pool waits for."
            ),
            "Set maxmemory-policy noeviction (CONFIG SET maxmemory-policy noeviction, and in redis.conf).".into(),
        ),
        (None, _) => f.warn(
            "redis.eviction",
            role,
            "Could not read maxmemory-policy (CONFIG is refused, as on managed Redis).".into(),
            "Make sure the service's eviction policy is noeviction.".into(),
        ),
    }
    let saves = facts.save.as_deref().filter(|s| !s.trim().is_empty());
    match (facts.aof, saves) {
        (true, _) => f.ok(
            "redis.persistence",
            role,
            format!(
                "Persists with the append-only file (appendfsync {}).",
                facts.appendfsync.as_deref().unwrap_or("unknown")
            ),
        ),
        (false, Some(rules)) => f.warn(
            "redis.persistence",
            role,
            format!(
                "Persists with RDB snapshots only (save {rules}): a crash loses what changed \
                 since the last snapshot, such as accepted submits."
            ),
            "Turn on the append-only file (appendonly yes) to keep every acknowledged write.".into(),
        ),
        (false, None) if facts.save.is_none() => f.warn(
            "redis.persistence",
            role,
            "Could not read how it persists (CONFIG is refused).".into(),
            "Make sure the service persists (AOF) or replicates.".into(),
        ),
        (false, None) => f.warn(
            "redis.persistence",
            role,
            "Keeps nothing on disk: a restart of this Redis loses the queue, the running set \
             and the history."
                .into(),
            "Turn on the append-only file (appendonly yes), unless losing them on a restart is acceptable.".into(),
        ),
    }
}

/// What the workers answered to the remote-control calls.
struct WorkerAnswers<'a> {
    queue: &'a str,
    /// Every worker that answered `active_queues`.
    answered: Vec<String>,
    /// Those that consume the pool's queue.
    consumers: Vec<String>,
    conf: BTreeMap<String, Value>,
    registered: BTreeMap<String, Value>,
}

fn worker_checks(
    f: &mut Findings,
    a: WorkerAnswers<'_>,
    task_names: &[String],
    roster: &[app::types::WorkerInfo],
) {
    let queue = a.queue;
    if a.consumers.is_empty() {
        f.problem(
            "workers.consume",
            "queue",
            if a.answered.is_empty() {
                format!("No Celery worker answered remote control, so none is known to consume {queue}: the pool's tasks would wait for ever.")
            } else {
                format!(
                    "{} worker(s) answered, but none consumes {queue}: the pool's tasks would wait for ever.",
                    a.answered.len()
                )
            },
            format!("Start workers with -Q {queue} (and remote control on, the default)."),
        );
    } else {
        f.ok(
            "workers.consume",
            "queue",
            format!(
                "{} worker(s) consume {queue}: {}.",
                a.consumers.len(),
                a.consumers.join(", ")
            ),
        );
    }
    // Workers that run the pool's tasks but did not answer: the pool cannot ask them before
    // it judges a message lost, nor revoke on them.
    for w in roster {
        if !w.tasks.is_empty()
            && w.state == WorkerState::Online
            && !a.answered.contains(&w.hostname)
        {
            f.problem(
                "worker.remote_control",
                &w.hostname,
                format!(
                    "Runs {} of the pool's tasks but did not answer remote control: the pool can neither revoke on it nor ask it before judging a message lost.",
                    w.tasks.len()
                ),
                "Keep remote control on (worker_enable_remote_control, the default) and the worker on the broker's database.".into(),
            );
        }
    }
    for host in &a.consumers {
        match a.conf.get(host) {
            None => f.warn(
                "worker.conf",
                host,
                "Did not answer Celery's conf inspect command in time: its settings are unchecked."
                    .into(),
                "Run the doctor again; a worker busy at 100% CPU can answer late.".into(),
            ),
            Some(conf) => conf_checks(f, host, conf),
        }
        match a.registered.get(host).and_then(Value::as_array) {
            None => f.warn(
                "worker.registered",
                host,
                "Did not answer Celery's registered inspect command in time: its task types are unchecked.".into(),
                "Run the doctor again.".into(),
            ),
            Some(names) => {
                let has: Vec<&str> = names
                    .iter()
                    .filter_map(Value::as_str)
                    // `registered` may add details after the name ("name [rate_limit=…]").
                    .map(|n| n.split_whitespace().next().unwrap_or(n))
                    .collect();
                let missing: Vec<&str> = task_names
                    .iter()
                    .map(String::as_str)
                    .filter(|n| !has.contains(n))
                    .collect();
                if missing.is_empty() {
                    f.ok(
                        "worker.registered",
                        host,
                        format!("Has all {} task types the pool dispatches.", task_names.len()),
                    );
                } else {
                    f.problem(
                        "worker.registered",
                        host,
                        format!(
                            "Does not have {} registered: a task of that type sent to it fails at once (unregistered task), or is dropped.",
                            missing.join(", ")
                        ),
                        "Import the module that defines them in the worker (its -A app or include), or route those types to another queue.".into(),
                    );
                }
            }
        }
        match roster.iter().find(|w| &w.hostname == host) {
            Some(w) if w.state == WorkerState::Online && w.last_heartbeat.is_some() => f.ok(
                "worker.heartbeats",
                host,
                "The pool hears its heartbeats.".into(),
            ),
            Some(w) => f.problem(
                "worker.heartbeats",
                host,
                format!(
                    "The pool has heard from it, but it is {} now: no heartbeat within WORKER_POOL_WORKER_TIMEOUT.",
                    w.state.as_str()
                ),
                "Do not start workers with --without-heartbeat; check that the server listens to the broker's database.".into(),
            ),
            None => f.problem(
                "worker.heartbeats",
                host,
                "The pool has never heard a heartbeat from it: it could not tell if this worker was lost.".into(),
                "Do not start workers with --without-heartbeat; check that the server and the workers use the same broker database.".into(),
            ),
        }
    }
}

fn conf_checks(f: &mut Findings, host: &str, conf: &Value) {
    match conf.get("task_track_started") {
        Some(Value::Bool(true)) => f.ok(
            "worker.track_started",
            host,
            "task_track_started is on: STARTED tells the pool which worker holds each task.".into(),
        ),
        other => f.problem(
            "worker.track_started",
            host,
            format!(
                "task_track_started is {}: no STARTED is stored, so the pool cannot tell which worker runs a task, and a lost worker's slots are judged late or not at all.",
                shown(other)
            ),
            "Set task_track_started = True in the Celery app's configuration.".into(),
        ),
    }
    if let Some(Value::Bool(true)) = conf.get("task_ignore_result") {
        f.problem(
            "worker.results",
            host,
            "task_ignore_result is on: no result is stored, so a slot is never freed by its task's end.".into(),
            "Set task_ignore_result = False (and no ignore_result=True on the pooled tasks).".into(),
        );
    } else {
        match conf.get("result_backend") {
            Some(Value::String(b)) if !b.is_empty() && b != "disabled" => f.ok(
                "worker.results",
                host,
                "Results are stored (task_ignore_result off, a result backend set).".into(),
            ),
            other => f.problem(
                "worker.results",
                host,
                format!(
                    "Its result backend is {}: no result is stored, so a slot is never freed by its task's end.",
                    shown(other)
                ),
                "Set result_backend to the Redis the pool reads (CELERY_RESULT_BACKEND).".into(),
            ),
        }
    }
    match conf.get("result_backend_always_retry") {
        Some(Value::Bool(true)) => f.ok(
            "worker.result_retry",
            host,
            "result_backend_always_retry is on: a result written during a Redis outage is retried.".into(),
        ),
        other => f.warn(
            "worker.result_retry",
            host,
            format!(
                "result_backend_always_retry is {}: a result written during a Redis outage is lost, and its task holds its slot until you cancel it.",
                shown(other)
            ),
            "Set result_backend_always_retry = True.".into(),
        ),
    }
    match conf.get("worker_prefetch_multiplier") {
        Some(v) if v.as_i64() == Some(1) => f.ok(
            "worker.prefetch",
            host,
            "worker_prefetch_multiplier is 1: the pool, not the worker's prefetch, decides what runs next.".into(),
        ),
        other => f.warn(
            "worker.prefetch",
            host,
            format!(
                "worker_prefetch_multiplier is {}: a worker may hold dispatched tasks in memory behind a long one while other workers idle.",
                shown(other)
            ),
            "Set worker_prefetch_multiplier = 1 (recommended).".into(),
        ),
    }
    match conf.get("task_acks_late") {
        Some(Value::Bool(true)) => f.warn(
            "worker.acks_late",
            host,
            "task_acks_late is on: kombu redelivers a message not acknowledged within visibility_timeout (1 h by default), so a sync that runs longer would run twice. The pool drops a lost worker's message itself.".into(),
            "Keep acks_late off (the default), or raise broker_transport_options visibility_timeout above your longest sync.".into(),
        ),
        _ => f.ok(
            "worker.acks_late",
            host,
            "Early acknowledgement (acks_late off): a started task is never redelivered.".into(),
        ),
    }
}

/// A setting's value in a sentence (`unset` when the worker did not say).
fn shown(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "unset".into(),
        Some(Value::Bool(b)) => if *b { "on" } else { "off" }.into(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// Tasks that consumers of the pool's queue run from it which the pool never dispatched
/// (Celery's `active`): they run outside the limit.
async fn outside_checks(
    f: &mut Findings,
    scheduler: &Scheduler,
    queue: &str,
    consumers: &[String],
    active: &BTreeMap<String, Value>,
) {
    let mut outside = Vec::new();
    let mut checked = 0;
    for host in consumers {
        let Some(tasks) = active.get(host).and_then(Value::as_array) else {
            continue;
        };
        for t in tasks {
            let (Some(id), Some(key)) =
                (t["id"].as_str(), t["delivery_info"]["routing_key"].as_str())
            else {
                continue;
            };
            if key != queue {
                continue;
            }
            checked += 1;
            match scheduler.store().get(task_id_of(id)).await {
                Ok(Some(_)) => {}
                Ok(None) => outside.push(format!(
                    "{} {id} on {host}",
                    t["name"].as_str().unwrap_or("a task")
                )),
                Err(e) => {
                    f.warn(
                        "queue.outside",
                        "queue",
                        format!(
                            "Could not check the tasks the workers run against the store: {e}."
                        ),
                        "Check that the store answers (above).".into(),
                    );
                    return;
                }
            }
        }
    }
    if outside.is_empty() {
        f.ok(
            "queue.outside",
            "queue",
            format!("The workers run {checked} task(s) from {queue}, all dispatched by the pool."),
        );
    } else {
        f.problem(
            "queue.outside",
            "queue",
            format!(
                "{} task(s) run from {queue} that the pool never dispatched ({}): they run outside the limit.",
                outside.len(),
                outside.join("; ")
            ),
            "Submit pooled tasks through the pool only, and give every other pool (another WORKER_POOL_PREFIX) or app its own Celery queue.".into(),
        );
    }
}
