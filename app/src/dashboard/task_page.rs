//! A task's page, `/tasks/<id>`: linkable, rendered on the server first like the dashboard.
//! Its parameters, tenant and priority, its story (submitted, why it waited, dispatched, started
//! on which worker, Celery's retries, re-sent, ended) with the time between steps, its error in
//! full and Celery's traceback (collapsed), its retry links and the audit entries about it. Read again every 3 s while the task can still change.

use super::format;
use super::panels::status_badge;
use crate::api::fetch_story;
use crate::types::{TaskStory, WorkerTask};
use chrono::{DateTime, Utc};
use leptos::prelude::*;

#[component]
pub fn TaskPage(id: String) -> impl IntoView {
    let reload = RwSignal::new(0u32);
    let key = id.clone();
    let story = Resource::new(move || reload.get(), move |_| fetch_story(key.clone()));
    // While the task can change, read it again now and then (the browser only).
    Effect::new(move |_| {
        #[cfg(feature = "hydrate")]
        if let Ok(handle) = set_interval_with_handle(
            move || {
                let open = story
                    .get_untracked()
                    .and_then(Result::ok)
                    .is_some_and(|s| !s.task.status.is_terminal());
                if open {
                    reload.update(|n| *n = n.wrapping_add(1));
                }
            },
            std::time::Duration::from_secs(3),
        ) {
            on_cleanup(move || handle.clear());
        }
        #[cfg(feature = "hydrate")]
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });
    let short = format::short_id(&id);
    view! {
        <header class="topbar">
            <p class="brand"><a href="/">"Worker Pool"</a></p>
            <p class="tagline">"Task " <span class="mono">{short}</span></p>
        </header>
        <main class="page">
            <Transition fallback=|| view! { <section class="panel"><p class="muted">"Loading the task…"</p></section> }>
                {move || Suspend::new(async move {
                    match story.await {
                        Ok(s) => view! { <Story story=s/> }.into_any(),
                        Err(e) => view! {
                            <section class="panel" data-testid="task-error">
                                <h1>"No such task"</h1>
                                <p class="error" role="alert">{e.message().to_string()}</p>
                                <p><a href="/">"Back to the dashboard"</a></p>
                            </section>
                        }.into_any(),
                    }
                })}
            </Transition>
        </main>
    }
}

fn link(id: &str) -> impl IntoView {
    view! { <a class="mono" href=format!("/tasks/{id}")>{format::short_id(id)}</a> }
}

fn when(t: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    t.map(|t| format::clock(t, now))
        .unwrap_or_else(|| "—".into())
}

#[component]
fn Story(story: TaskStory) -> impl IntoView {
    let TaskStory {
        task,
        events,
        audit,
        traceback,
    } = story;
    let now = Utc::now();
    let t: WorkerTask = task;
    let title = format!("{}.{}", t.crm_source, t.sync_type);
    let steps = events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let gap = i.checked_sub(1).map(|j| {
                format!(
                    "+{}",
                    format::duration(format::secs_between(events[j].at, e.at))
                )
            });
            view! {
                <li data-testid="timeline-step" data-kind=e.kind.clone()>
                    <span class="when nowrap">{format::clock_ms(e.at)}</span>
                    <span class="sub gap">{gap.unwrap_or_default()}</span>
                    <span class="what">{e.text.clone()}</span>
                </li>
            }
        })
        .collect_view();
    let audit_rows = audit
        .into_iter()
        .map(|a| {
            view! {
                <tr data-testid="task-audit-row">
                    <td class="nowrap">{format::clock(a.at, now)}</td>
                    <td>{a.who}</td>
                    <td>{a.action}</td>
                    <td class="mono small">{format!("{} → {}", a.before, a.after)}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <section class="panel" aria-labelledby="task-title" data-testid="task-page" data-status=t.status.as_str()>
            <div class="panel-head">
                <h1 id="task-title">{title}</h1>
                {status_badge(t.status)}
            </div>
            <dl class="facts">
                <dt>"Task id"</dt><dd class="mono" data-testid="task-id">{t.task_id.clone()}</dd>
                <dt>"Celery task"</dt><dd class="mono">{t.task_name.clone()}</dd>
                <dt>"Parameters"</dt><dd>{format::parameters(&t.parameters)}</dd>
                <dt>"Priority"</dt><dd>{t.priority}</dd>
                <dt>"Tenant"</dt><dd>{t.tenant.clone().unwrap_or_else(|| "—".into())}</dd>
                <dt>"Worker"</dt><dd data-testid="task-worker">{t.worker.clone().unwrap_or_else(|| "—".into())}</dd>
                {t.position.map(|p| view! { <dt>"Place in the queue"</dt><dd>{p}</dd> })}
                {t.blocked_by.map(|b| view! { <dt>"Waiting for"</dt><dd>{b.label()}</dd> })}
                {t.estimated_start_at.map(|at| view! { <dt>"Expected to start"</dt><dd>{when(Some(at), now)}</dd> })}
                {t.estimated_finish_at.map(|at| view! { <dt>"Expected to end"</dt><dd>{when(Some(at), now)}</dd> })}
                {t.retry_of.clone().map(|id| view! { <dt>"Retries"</dt><dd data-testid="retry-of">{link(&id)}</dd> })}
                {t.retried_by.clone().map(|id| view! { <dt>"Retried by"</dt><dd data-testid="retried-by">{link(&id)}</dd> })}
            </dl>
            {t.error.clone().map(|e| view! {
                <details class="error-details" data-testid="task-error-text" open>
                    <summary>"Error"</summary>
                    <pre>{e}</pre>
                </details>
            })}
            {traceback.map(|tb| view! {
                <details class="error-details" data-testid="task-traceback">
                    <summary>"Traceback"</summary>
                    <pre tabindex="0" aria-label="Traceback">{tb}</pre>
                </details>
            })}
        </section>
        <section class="panel" aria-labelledby="timeline-title">
            <h2 id="timeline-title">"Timeline"</h2>
            <ol class="timeline" data-testid="timeline">{steps}</ol>
        </section>
        <section class="panel" aria-labelledby="task-audit-title">
            <h2 id="task-audit-title">"Changes made to it"</h2>
            <div class="table-wrap" tabindex="0" role="region" aria-labelledby="task-audit-title">
                <table class="tasks">
                    <thead><tr><th>"When"</th><th>"Who"</th><th>"Action"</th><th>"Before → after"</th></tr></thead>
                    <tbody>{audit_rows}</tbody>
                </table>
            </div>
        </section>
        <p><a href="/">"Back to the dashboard"</a></p>
    }
}
