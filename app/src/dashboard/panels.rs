//! The pool summary, the sources, the three task tables (running, queued, finished) and the
//! workers.

use super::format;
use super::use_ctx;
use crate::api::{
    CancelTask, ForgetWorker, ProcessQueue, RetryFailed, RetryTask, SetCooldown, SetPaused,
    SetTaskPriority,
};
use crate::types::{
    parse_priority, PoolState, PoolStatus, TaskStatus, WorkerState, WorkerTask, MAX_PRIORITY,
    MIN_PRIORITY,
};
use leptos::prelude::*;

/// The pool's status, from the newest data.
fn status() -> Memo<Option<PoolStatus>> {
    let ctx = use_ctx();
    Memo::new(move |_| ctx.current().map(|d| d.status))
}

/// Active, queued, available and max; the utilisation bar; the state; configure and process.
#[component]
pub fn Summary() -> impl IntoView {
    let ctx = use_ctx();
    let status = status();
    let get =
        move |f: fn(&PoolStatus) -> u64| move || status.with(|s| s.as_ref().map(f).unwrap_or(0));
    let util =
        move || format::percent(status.with(|s| s.as_ref().map(|s| s.utilization).unwrap_or(0.0)));
    let state =
        move || status.with(|s| s.as_ref().map(|s| s.state).unwrap_or(PoolState::Available));
    let draining = move || {
        status.with(|s| {
            s.as_ref().filter(|s| s.draining() > 0).map(|s| {
                format!(
                    "Draining: {} running above the new limit of {}.",
                    s.draining(),
                    s.max_workers
                )
            })
        })
    };
    let process = ctx.mutation::<ProcessQueue>();
    let pause = ctx.mutation::<SetPaused>();
    let paused = move || status.with(|s| s.as_ref().is_some_and(|s| s.paused));

    view! {
        <section class="panel summary" aria-labelledby="summary-title" data-testid="summary">
            <div class="summary-head">
                <h2 id="summary-title">"Pool"</h2>
                <span
                    class=move || format!("state state-{}", state().as_str())
                    data-testid="pool-state"
                    data-state=move || state().as_str()
                    title=move || match state() {
                        PoolState::Available => "Workers ready for new tasks",
                        PoolState::Busy => "All workers occupied",
                        PoolState::Overloaded => "Queue building up",
                    }
                >
                    {move || state().label()}
                </span>
            </div>
            <dl class="stats">
                <div class="stat"><dt>"Active"</dt><dd data-testid="active-count">{get(|s| s.active_count)}</dd></div>
                <div class="stat"><dt>"Queued"</dt><dd data-testid="queued-count">{get(|s| s.queued_count)}</dd></div>
                <div class="stat"><dt>"Available"</dt><dd data-testid="available-count">{get(|s| s.available_workers)}</dd></div>
                <div class="stat"><dt>"Max workers"</dt><dd data-testid="max-workers">{get(|s| s.max_workers as u64)}</dd></div>
            </dl>
            <div class="meter-row">
                <div
                    class="meter"
                    role="progressbar"
                    aria-label="Worker utilisation"
                    aria-valuemin="0"
                    aria-valuemax="100"
                    aria-valuenow=move || util().to_string()
                    aria-valuetext=move || format!("{}% of workers in use", util())
                    data-testid="utilization"
                >
                    <div class=move || format!("meter-fill state-{}", state().as_str()) style:width=move || format!("{}%", util())></div>
                </div>
                <span class="meter-label">{move || format!("{}%", util())}</span>
            </div>
            <p class="muted draining" data-testid="draining" aria-live="polite">{draining}</p>
            <Show when=paused>
                <p class="banner warn" data-testid="pool-paused">"The pool is paused: nothing new starts; running tasks go on, and the queue keeps its tasks."</p>
            </Show>
            <div class="panel-actions">
                <button
                    class="btn primary"
                    data-testid="open-config"
                    aria-haspopup="dialog"
                    on:click=move |_| ctx.config_open.set(true)
                >
                    "Configure…"
                </button>
                <button
                    class="btn"
                    data-testid="pause-pool"
                    aria-pressed=move || paused().to_string()
                    disabled=move || pause.pending().get()
                    on:click=move |_| {
                        pause.dispatch(SetPaused { source: None, paused: !paused() });
                    }
                >
                    {move || if paused() { "Resume pool" } else { "Pause pool" }}
                </button>
                <button
                    class="btn"
                    data-testid="process-queue"
                    disabled=move || process.pending().get()
                    on:click=move |_| {
                        process.dispatch(ProcessQueue {});
                    }
                >
                    "Process queue"
                </button>
                <span class="muted" data-testid="process-result" aria-live="polite">
                    {move || process.value().get().map(|r| match r {
                        Ok(rep) => format!(
                            "Reconciled {}, dispatched {}; {} waiting.",
                            rep.reconciled.len(), rep.dispatched.len(), rep.queued_count
                        ),
                        Err(e) => e.message().to_string(),
                    })}
                </span>
            </div>
        </section>
    }
}

/// A cancel button for one task, with its own error line.
#[component]
fn CancelButton(task_id: String, label: &'static str) -> impl IntoView {
    let ctx = use_ctx();
    let cancel = ctx.mutation::<CancelTask>();
    let id = StoredValue::new(task_id);
    view! {
        <button
            class="btn small danger"
            data-testid="cancel"
            disabled=move || cancel.pending().get()
            aria-label=move || format!("{label} task {}", format::short_id(&id.get_value()))
            on:click=move |_| {
                cancel.dispatch(CancelTask { task_id: id.get_value() });
            }
        >
            {label}
        </button>
        {move || cancel.value().get().and_then(Result::err).map(|e| view! {
            <span class="error small" role="alert">{e.message().to_string()}</span>
        })}
    }
}

/// "starts in about 4 min" (queued) or "done in about 10 min" (running), from the task's
/// estimates, ticking with the dashboard's clock.
fn expected(t: &WorkerTask) -> impl IntoView {
    let ctx = use_ctx();
    let (at, what) = match t.status {
        TaskStatus::Queued => (t.estimated_start_at, "starts in"),
        _ => (t.estimated_finish_at, "done in"),
    };
    at.map(|at| {
        view! {
            <span class="sub" data-testid="expected">
                {move || format!("{what} {}", format::about(format::secs_between(ctx.now(), at)))}
            </span>
        }
    })
}

pub(super) fn task_label(t: &WorkerTask) -> String {
    format!("{}.{}", t.crm_source, t.sync_type)
}

/// Running tasks: source, type, parameters, started at, a ticking running time, cancel.
#[component]
pub fn RunningPanel() -> impl IntoView {
    let ctx = use_ctx();
    let status = status();
    let rows = move || {
        status.with(|s| {
            s.as_ref()
                .map(|s| s.active_tasks.clone())
                .unwrap_or_default()
        })
    };
    view! {
        <section class="panel" aria-labelledby="running-title" data-testid="running-panel">
            <h2 id="running-title">"Running " <span class="count">{move || rows().len()}</span></h2>
            <div class="table-wrap" tabindex="0" role="region" aria-labelledby="running-title">
                <table class="tasks">
                    <thead><tr><th>"Task"</th><th class="hide-sm">"Parameters"</th><th class="hide-sm">"Started"</th><th>"Running for"</th><th><span class="sr-only">"Actions"</span></th></tr></thead>
                    <tbody>
                        <For
                            each=rows
                            key=|t| (t.task_id.clone(), t.worker.clone(), t.worker_started_at, t.estimated_finish_at)
                            children=move |t: WorkerTask| {
                                let started = t.started_at;
                                let waiting = t.waiting_for_worker;
                                let resent = t.resends > 0;
                                view! {
                                    <tr data-testid="running-row" data-task-id=t.task_id.clone()>
                                        <td>
                                            <span class="task-name">{task_label(&t)}</span>
                                            <span class="sub mono" title=t.task_id.clone()>{format::short_id(&t.task_id)}</span>
                                        </td>
                                        <td class="hide-sm">{format::parameters(&t.parameters)}</td>
                                        <td class="hide-sm nowrap">
                                            {started.map(|s| format::clock(s, ctx.now()))}
                                            <span class="sub">
                                                {if waiting && resent {
                                                    "waiting for a worker (message sent again)".to_string()
                                                } else if waiting {
                                                    "waiting for a worker".to_string()
                                                } else {
                                                    t.worker.clone().unwrap_or_default()
                                                }}
                                            </span>
                                        </td>
                                        <td class="num" data-testid="running-time">
                                            {move || started.map(|s| format::duration(format::secs_between(s, ctx.now())))}
                                            {expected(&t)}
                                        </td>
                                        <td class="actions"><CancelButton task_id=t.task_id.clone() label="Cancel"/></td>
                                    </tr>
                                }
                            }
                        />
                    </tbody>
                </table>
                <Show when=move || rows().is_empty()>
                    <p class="empty">"Nothing is running."</p>
                </Show>
            </div>
        </section>
    }
}

/// One queued task's priority editor: a number and a Set button.
#[component]
fn PriorityEditor(task_id: String, priority: i32) -> impl IntoView {
    let ctx = use_ctx();
    let value = RwSignal::new(priority.to_string());
    let set = ctx.mutation::<SetTaskPriority>();
    let parsed = move || value.with(|text| parse_priority(text));
    let id = StoredValue::new(task_id);
    view! {
        <form
            class="priority"
            on:submit=move |ev| {
                ev.prevent_default();
                if let Ok(p) = parsed() {
                    set.dispatch(SetTaskPriority { task_id: id.get_value(), priority: p });
                }
            }
        >
            <input
                type="number"
                min=MIN_PRIORITY
                max=MAX_PRIORITY
                step="1"
                data-testid="priority-input"
                aria-label=move || format!("Priority of task {}", format::short_id(&id.get_value()))
                aria-invalid=move || parsed().is_err().to_string()
                prop:value=move || value.get()
                on:input=move |ev| value.set(event_target_value(&ev))
            />
            <button class="btn small" type="submit" data-testid="set-priority" disabled=move || parsed().is_err() || set.pending().get()>
                "Set"
            </button>
            {move || parsed().err().map(|e| view! { <span class="error small">{e.message}</span> })}
            {move || set.value().get().and_then(Result::err).map(|e| view! {
                <span class="error small" role="alert">{e.message().to_string()}</span>
            })}
        </form>
    }
}

/// The queue in dispatch order: position, priority (editable), waiting time, cancel.
#[component]
pub fn QueuePanel() -> impl IntoView {
    let ctx = use_ctx();
    let status = status();
    let rows = move || {
        status.with(|s| {
            s.as_ref()
                .map(|s| s.queued_tasks.clone())
                .unwrap_or_default()
        })
    };
    let more = move || {
        status.with(|s| {
            s.as_ref()
                .filter(|s| s.queued_count > s.queued_tasks.len() as u64)
                .map(|s| {
                    format!(
                        "…and {} more.",
                        s.queued_count - s.queued_tasks.len() as u64
                    )
                })
        })
    };
    view! {
        <section class="panel" aria-labelledby="queue-title" data-testid="queue-panel">
            <h2 id="queue-title">"Queue " <span class="count">{move || status.with(|s| s.as_ref().map(|s| s.queued_count).unwrap_or(0))}</span></h2>
            <div class="table-wrap" tabindex="0" role="region" aria-labelledby="queue-title">
                <table class="tasks">
                    <thead><tr><th class="num">"#"</th><th>"Task"</th><th>"Priority"</th><th class="hide-sm">"Waiting"</th><th><span class="sr-only">"Actions"</span></th></tr></thead>
                    <tbody>
                        <For
                            each=rows
                            key=|t| (t.task_id.clone(), t.position, t.priority, t.blocked_by, t.estimated_start_at)
                            children=move |t: WorkerTask| {
                                let created = t.created_at;
                                let why = t.blocked_by;
                                view! {
                                    <tr data-testid="queue-row" data-task-id=t.task_id.clone()>
                                        <td class="num" data-testid="position">{t.position}</td>
                                        <td>
                                            <span class="task-name">{task_label(&t)}</span>
                                            {t.tenant.clone().map(|tn| view! { <span class="tenant" data-testid="tenant">{tn}</span> })}
                                            <span class="sub">{format::parameters(&t.parameters)}</span>
                                            {why.map(|b| view! {
                                                <span class=format!("chip blocked-{}", b.as_str()) data-testid="blocked-by" data-reason=b.as_str()>{b.label()}</span>
                                            })}
                                        </td>
                                        <td><PriorityEditor task_id=t.task_id.clone() priority=t.priority/></td>
                                        <td class="num hide-sm">
                                            {move || format::duration(format::secs_between(created, ctx.now()))}
                                            {expected(&t)}
                                        </td>
                                        <td class="actions"><CancelButton task_id=t.task_id.clone() label="Cancel"/></td>
                                    </tr>
                                }
                            }
                        />
                    </tbody>
                </table>
                <Show when=move || rows().is_empty()>
                    <p class="empty">"The queue is empty."</p>
                </Show>
                <p class="muted">{more}</p>
            </div>
        </section>
    }
}

/// Every source: running against its limit, queued, its per-tenant limit, rate use, and
/// whether it is paused or cooling down (with a countdown); pause, resume and cool-down
/// controls.
#[component]
pub fn SourcesPanel() -> impl IntoView {
    let ctx = use_ctx();
    let status = status();
    let rows = move || {
        status.with(|s| {
            s.as_ref()
                .map(|s| s.sources.clone().into_iter().collect::<Vec<_>>())
                .unwrap_or_default()
        })
    };
    let pause = ctx.mutation::<SetPaused>();
    let cool = ctx.mutation::<SetCooldown>();
    let of = |n: Option<u32>| n.map(|n| n.to_string()).unwrap_or_else(|| "—".into());
    view! {
        <section class="panel" aria-labelledby="sources-title" data-testid="sources-panel">
            <h2 id="sources-title">"Sources"</h2>
            <div class="table-wrap" tabindex="0" role="region" aria-labelledby="sources-title">
                <table class="tasks">
                    <thead><tr><th>"Source"</th><th class="num">"Running"</th><th class="num">"Queued"</th><th class="num hide-sm">"Per tenant"</th><th class="hide-sm">"Rate"</th><th>"State"</th><th><span class="sr-only">"Actions"</span></th></tr></thead>
                    <tbody>
                        <For
                            each=rows
                            key=|(src, x)| (src.clone(), x.running, x.queued, x.paused, x.cooldown_until, x.limit, x.tenant_limit, x.rate)
                            children=move |(src, x)| {
                                let name = StoredValue::new(src.clone());
                                let until = x.cooldown_until;
                                let state = move || match (x.paused, until) {
                                    (true, _) => "paused".to_string(),
                                    (false, Some(t)) if t > ctx.now() => format!(
                                        "cooling down, {} left",
                                        format::duration(format::secs_between(ctx.now(), t))
                                    ),
                                    _ => "open".to_string(),
                                };
                                let cooling = move || until.is_some_and(|t| t > ctx.now());
                                view! {
                                    <tr data-testid="source-row" data-source=src.clone()>
                                        <th scope="row">{src.clone()}</th>
                                        <td class="num" data-testid="source-running">{format!("{} / {}", x.running, of(x.limit))}</td>
                                        <td class="num" data-testid="source-queued">{x.queued}</td>
                                        <td class="num hide-sm">{of(x.tenant_limit)}</td>
                                        <td class="hide-sm">{x.rate.map(|r| format!("{} of {} per {}", r.used, r.starts, format::window(r.per_seconds))).unwrap_or_else(|| "—".into())}</td>
                                        <td data-testid="source-state">{state}</td>
                                        <td class="actions">
                                            <button class="btn small" data-testid="source-pause" aria-label=move || format!("{} {}", if x.paused { "Resume" } else { "Pause" }, name.get_value())
                                                disabled=move || pause.pending().get()
                                                on:click=move |_| { pause.dispatch(SetPaused { source: Some(name.get_value()), paused: !x.paused }); }>
                                                {if x.paused { "Resume" } else { "Pause" }}
                                            </button>
                                            <button class="btn small" data-testid="source-cooldown" aria-label=move || format!("{} {}", if cooling() { "End the cool-down of" } else { "Cool down for 5 minutes:" }, name.get_value())
                                                disabled=move || cool.pending().get()
                                                on:click=move |_| { cool.dispatch(SetCooldown { source: name.get_value(), seconds: if cooling() { 0 } else { 300 } }); }>
                                                {move || if cooling() { "End cool-down" } else { "Cool 5 min" }}
                                            </button>
                                        </td>
                                    </tr>
                                }
                            }
                        />
                    </tbody>
                </table>
                {move || pause.value().get().and_then(Result::err).or_else(|| cool.value().get().and_then(Result::err)).map(|e| view! {
                    <p class="error" role="alert">{e.message().to_string()}</p>
                })}
            </div>
        </section>
    }
}

/// The Celery workers heard from: state, last heartbeat, the pool's tasks each runs, and a
/// Forget button for one that is not online (an operator who knows it is gone for good).
#[component]
pub fn WorkersPanel() -> impl IntoView {
    let ctx = use_ctx();
    let rows = Memo::new(move |_| ctx.current().map(|d| d.workers).unwrap_or_default());
    let forget = ctx.mutation::<ForgetWorker>();
    view! {
        <section class="panel" aria-labelledby="workers-title" data-testid="workers-panel">
            <h2 id="workers-title">"Workers"</h2>
            <Show
                when=move || rows.with(|r| !r.is_empty())
                fallback=|| view! { <p class="empty">"No Celery worker heard from yet."</p> }
            >
                <div class="table-wrap" tabindex="0" role="region" aria-labelledby="workers-title">
                    <table class="tasks">
                        <thead><tr><th>"Worker"</th><th>"State"</th><th class="hide-sm">"Last heard"</th><th class="num">"Tasks"</th><th><span class="sr-only">"Actions"</span></th></tr></thead>
                        <tbody>
                            <For
                                each=move || rows.get()
                                key=|w| (w.hostname.clone(), w.state, w.last_heartbeat, w.tasks.clone())
                                children=move |w| {
                                    let name = StoredValue::new(w.hostname.clone());
                                    let heard = w.last_heartbeat;
                                    let ago = move || heard
                                        .map(|t| format!("{} ago", format::duration(format::secs_between(t, ctx.now()))))
                                        .unwrap_or_else(|| "—".into());
                                    let online = w.state == WorkerState::Online;
                                    view! {
                                        <tr data-testid="worker-row" data-worker=w.hostname.clone()>
                                            <th scope="row">{w.hostname.clone()}</th>
                                            <td data-testid="worker-state"><span class=format!("badge badge-worker-{}", w.state.as_str())>{w.state.as_str()}</span></td>
                                            <td class="hide-sm">{ago}</td>
                                            <td class="num" data-testid="worker-tasks">{w.tasks.len()}</td>
                                            <td class="actions">
                                                {(!online).then(|| view! {
                                                    <button class="btn small danger" data-testid="worker-forget"
                                                        aria-label=move || format!("Forget {}: its tasks end failed", name.get_value())
                                                        disabled=move || forget.pending().get()
                                                        on:click=move |_| { forget.dispatch(ForgetWorker { hostname: name.get_value() }); }>
                                                        "Forget"
                                                    </button>
                                                })}
                                            </td>
                                        </tr>
                                    }
                                }
                            />
                        </tbody>
                    </table>
                </div>
            </Show>
            {move || forget.value().get().and_then(Result::err).map(|e| view! {
                <p class="error" role="alert">{e.message().to_string()}</p>
            })}
        </section>
    }
}

/// The newest changes in the audit trail: when, who, what, and before → after.
#[component]
pub fn AuditPanel() -> impl IntoView {
    let ctx = use_ctx();
    let rows = Memo::new(move |_| ctx.current().map(|d| d.audit).unwrap_or_default());
    let short = |v: &serde_json::Value| {
        if v.is_null() {
            "—".to_string()
        } else {
            let t = v.to_string();
            if t.chars().count() > 80 {
                format!("{}…", t.chars().take(80).collect::<String>())
            } else {
                t
            }
        }
    };
    view! {
        <section class="panel" aria-labelledby="audit-title" data-testid="audit-panel">
            <h2 id="audit-title">"Audit"</h2>
            <Show
                when=move || rows.with(|r| !r.is_empty())
                fallback=|| view! { <p class="empty">"No change recorded yet."</p> }
            >
                <div class="table-wrap" tabindex="0" role="region" aria-labelledby="audit-title">
                    <table class="tasks">
                        <thead><tr><th>"When"</th><th>"Who"</th><th>"Action"</th><th class="hide-sm">"Before → after"</th></tr></thead>
                        <tbody>
                            <For
                                each=move || rows.get()
                                key=|e| e.id.clone()
                                children=move |e| {
                                    let at = e.at;
                                    let change = format!("{} → {}", short(&e.before), short(&e.after));
                                    view! {
                                        <tr data-testid="audit-row" data-action=e.action.clone()>
                                            <td>{move || format::clock(at, ctx.now())}</td>
                                            <td><span data-testid="audit-who">{e.who.clone()}</span><span class="sub">{e.address.clone()}</span></td>
                                            <td><span data-testid="audit-action">{e.action.clone()}</span>{(!e.target.is_empty()).then(|| view! { <span class="sub">{e.target.clone()}</span> })}</td>
                                            <td class="hide-sm mono small">{change}</td>
                                        </tr>
                                    }
                                }
                            />
                        </tbody>
                    </table>
                </div>
            </Show>
        </section>
    }
}

pub(super) fn status_badge(st: TaskStatus) -> impl IntoView {
    view! { <span class=format!("badge badge-{}", st.as_str()) data-testid="status">{st.as_str()}</span> }
}

/// A retry button for a failed or cancelled task, or where its retry is.
#[component]
fn RetryButton(task: WorkerTask) -> impl IntoView {
    let ctx = use_ctx();
    let retry = ctx.mutation::<RetryTask>();
    let id = StoredValue::new(task.task_id.clone());
    match task.retried_by {
        Some(by) => view! {
            <span class="sub" data-testid="retried-by">{format!("retried as {}", format::short_id(&by))}</span>
        }
        .into_any(),
        None => view! {
            <button
                class="btn small"
                data-testid="retry"
                disabled=move || retry.pending().get()
                aria-label=move || format!("Retry task {}", format::short_id(&id.get_value()))
                on:click=move |_| {
                    retry.dispatch(RetryTask { task_id: id.get_value() });
                }
            >
                "Retry"
            </button>
            {move || retry.value().get().and_then(Result::err).map(|e| view! {
                <span class="error small" role="alert">{e.message().to_string()}</span>
            })}
        }
        .into_any(),
    }
}

/// Finished tasks, newest first: status, duration, the error of failures (expandable), and
/// a retry for failed and cancelled ones, one by one or every failed one at once.
#[component]
pub fn HistoryPanel() -> impl IntoView {
    let ctx = use_ctx();
    let rows = Memo::new(move |_| ctx.current().map(|d| d.history).unwrap_or_default());
    let retry_all = ctx.mutation::<RetryFailed>();
    let failed_left = move || {
        rows.with(|r| {
            r.iter()
                .any(|t| t.status == TaskStatus::Failed && t.retried_by.is_none())
        })
    };
    view! {
        <section class="panel" aria-labelledby="history-title" data-testid="history-panel">
            <div class="panel-head">
                <h2 id="history-title">"History"</h2>
                <Show when=failed_left>
                    <button
                        class="btn small"
                        data-testid="retry-failed"
                        disabled=move || retry_all.pending().get()
                        on:click=move |_| { retry_all.dispatch(RetryFailed {}); }
                    >
                        "Retry failed"
                    </button>
                </Show>
                {move || retry_all.value().get().map(|r| match r {
                    Ok(r) => view! {
                        <span class="sub" role="status">{format!("{} retried", r.retried.len())}</span>
                    }.into_any(),
                    Err(e) => view! {
                        <span class="error small" role="alert">{e.message().to_string()}</span>
                    }.into_any(),
                })}
            </div>
            <div class="table-wrap" tabindex="0" role="region" aria-labelledby="history-title">
                <table class="tasks">
                    <thead><tr><th>"Status"</th><th>"Task"</th><th class="hide-sm">"Finished"</th><th class="num">"Duration"</th></tr></thead>
                    <tbody>
                        <For
                            each=move || rows.get()
                            key=|t| (t.task_id.clone(), t.status, t.retried_by.clone())
                            children=move |t: WorkerTask| {
                                let error = t.error.clone();
                                let retry = matches!(t.status, TaskStatus::Failed | TaskStatus::Cancelled)
                                    .then(|| view! { <RetryButton task=t.clone()/> });
                                view! {
                                    <tr data-testid="history-row" data-task-id=t.task_id.clone() data-status=t.status.as_str()>
                                        <td class="status-cell">{status_badge(t.status)}{retry}</td>
                                        <td>
                                            <span class="task-name">{task_label(&t)}</span>
                                            <a class="sub mono" title=t.task_id.clone() href=format!("/tasks/{}", t.task_id)>{format::short_id(&t.task_id)}</a>
                                            {error.map(|e| {
                                                let first: String = e.lines().next().unwrap_or("").chars().take(90).collect();
                                                view! {
                                                    <details class="error-details" data-testid="error">
                                                        <summary>{first}</summary>
                                                        <pre>{e}</pre>
                                                    </details>
                                                }
                                            })}
                                        </td>
                                        <td class="hide-sm nowrap">{t.finished_at.map(|f| format::clock(f, ctx.now()))}</td>
                                        <td class="num">{format::run_time(&t).unwrap_or_else(|| "—".into())}</td>
                                    </tr>
                                }
                            }
                        />
                    </tbody>
                </table>
                <Show when=move || rows.with(Vec::is_empty)>
                    <p class="empty">"No finished tasks yet."</p>
                </Show>
            </div>
        </section>
    }
}
