//! Searching the tasks, and acting on what a search names.
//!
//! The filter lives in the page's URL (`/?status=failed&crm_source=hubspot`), with the JSON
//! API's own parameter names, so a search can be shared and survives a reload; the server
//! renders its first page. The server pages (`GET tasks/`'s cursor): the browser never loads
//! the whole history. Bulk actions ask the server first how many tasks they would touch
//! (a dry run), say so, and act only once confirmed: one request, one audit entry.

use super::panels::{status_badge, task_label};
use super::{format, use_ctx};
use crate::api::{search_tasks, BulkAction as BulkCall};
use crate::types::{BulkAction, BulkReport, BulkRequest, TaskQuery, TaskStatus, WorkerTask};
use leptos::prelude::*;

/// The query of the page's URL.
fn url_query() -> TaskQuery {
    let (_, raw) = super::page_address();
    let pairs: Vec<(String, String)> = form_urlencoded::parse(raw.as_bytes())
        .into_owned()
        .collect();
    // A URL with something else in it (or a mistake) is no search, not an error page.
    TaskQuery::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))).unwrap_or_default()
}

/// Puts `q` in the page's URL, replacing the entry (no history entry per keystroke).
fn set_url(q: &TaskQuery) {
    let query: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(q.to_pairs())
        .finish();
    #[cfg(feature = "hydrate")]
    {
        let url = if query.is_empty() {
            "/".to_string()
        } else {
            format!("/?{query}")
        };
        if let Ok(h) = window().history() {
            let _ = h.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&url));
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = query;
}

/// True when the query asks for anything (else the panel shows only its form).
fn searching(q: &TaskQuery) -> bool {
    q.status.is_some() || q.is_search()
}

/// `yyyy-mm-dd` of a time (UTC), for a date input.
fn day(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    // (Integers, not chrono's strftime machinery, which would weigh on the WASM.)
    t.map(|t| {
        use chrono::Datelike;
        format!("{:04}-{:02}-{:02}", t.year(), t.month(), t.day())
    })
    .unwrap_or_default()
}

/// The search form, its paged results, and the bulk actions.
#[component]
pub fn SearchPanel() -> impl IntoView {
    let ctx = use_ctx();
    let applied = RwSignal::new(url_query());
    let initial = applied.get_untracked();
    let status = RwSignal::new(
        initial
            .status
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
    );
    let source = RwSignal::new(initial.crm_source.clone().unwrap_or_default());
    let sync_type = RwSignal::new(initial.sync_type.clone().unwrap_or_default());
    let tenant = RwSignal::new(initial.tenant.clone().unwrap_or_default());
    let text = RwSignal::new(initial.q.clone().unwrap_or_default());
    let since = RwSignal::new(day(initial.since));
    let until = RwSignal::new(day(initial.until));
    let form_error = RwSignal::new(None::<String>);

    // Pages seen before this one (to go back).
    let previous = RwSignal::new(Vec::<Option<String>>::new());

    let apply = move || {
        let mut pairs: Vec<(&str, String)> = vec![
            ("status", status.get_untracked()),
            ("crm_source", source.get_untracked()),
            ("sync_type", sync_type.get_untracked()),
            ("tenant", tenant.get_untracked()),
            ("q", text.get_untracked()),
        ];
        for (k, d) in [
            ("since", since.get_untracked()),
            ("until", until.get_untracked()),
        ] {
            if !d.is_empty() {
                pairs.push((k, format!("{d}T00:00:00Z")));
            }
        }
        match TaskQuery::from_pairs(pairs.iter().map(|(k, v)| (*k, v.as_str()))) {
            Ok(q) => {
                form_error.set(None);
                previous.set(Vec::new());
                set_url(&q);
                applied.set(q);
            }
            Err(e) => form_error.set(Some(e)),
        }
    };
    let clear = move |_| {
        for s in [status, source, sync_type, tenant, text, since, until] {
            s.set(String::new());
        }
        form_error.set(None);
        previous.set(Vec::new());
        set_url(&TaskQuery::default());
        applied.set(TaskQuery::default());
    };
    let sources = Memo::new(move |_| {
        let mut s: Vec<String> = ctx
            .types
            .get()
            .and_then(Result::ok)
            .unwrap_or_default()
            .into_iter()
            .map(|t| t.crm_source)
            .collect();
        s.sort();
        s.dedup();
        s
    });

    view! {
        <section class="panel search" aria-labelledby="search-title" data-testid="search-panel">
            <h2 id="search-title">"Find tasks"</h2>
            <form class="search-form" on:submit=move |ev| { ev.prevent_default(); apply(); }>
                <label class="field">
                    <span>"Status"</span>
                    <select data-testid="search-status" prop:value=move || status.get() on:change=move |ev| status.set(event_target_value(&ev))>
                        <option value="">"any"</option>
                        {TaskStatus::ALL.into_iter().map(|s| view! {
                            <option value=s.as_str() selected=move || status.get() == s.as_str()>{s.as_str()}</option>
                        }).collect_view()}
                    </select>
                </label>
                <label class="field">
                    <span>"Source"</span>
                    <select data-testid="search-source" prop:value=move || source.get() on:change=move |ev| source.set(event_target_value(&ev))>
                        <option value="">"any"</option>
                        {move || sources.get().into_iter().map(|s| {
                            let (v, label) = (s.clone(), s.clone());
                            view! { <option value=s selected=move || source.get() == v>{label}</option> }
                        }).collect_view()}
                    </select>
                </label>
                <label class="field">
                    <span>"Sync type"</span>
                    <input data-testid="search-type" prop:value=move || sync_type.get() on:input=move |ev| sync_type.set(event_target_value(&ev))/>
                </label>
                <label class="field">
                    <span>"Tenant"</span>
                    <input data-testid="search-tenant" prop:value=move || tenant.get() on:input=move |ev| tenant.set(event_target_value(&ev))/>
                </label>
                <label class="field wide">
                    <span>"Task id or error text"</span>
                    <input type="search" data-testid="search-text" prop:value=move || text.get() on:input=move |ev| text.set(event_target_value(&ev))/>
                </label>
                <label class="field">
                    <span>"Submitted from (UTC)"</span>
                    <input type="date" data-testid="search-since" prop:value=move || since.get() on:input=move |ev| since.set(event_target_value(&ev))/>
                </label>
                <label class="field">
                    <span>"until (UTC)"</span>
                    <input type="date" data-testid="search-until" prop:value=move || until.get() on:input=move |ev| until.set(event_target_value(&ev))/>
                </label>
                <div class="search-buttons">
                    <button class="btn primary" type="submit" data-testid="search-submit">"Search"</button>
                    <button class="btn" type="button" data-testid="search-clear" on:click=clear>"Clear"</button>
                </div>
                {move || form_error.get().map(|e| view! { <p class="field-error" role="alert">{e}</p> })}
            </form>
            <Show
                when=move || applied.with(searching)
                fallback=|| view! { <p class="muted">"Filter by status, source, type, tenant, text or date; the filter stays in the page's address."</p> }
            >
                {move || Suspend::new(async move { found_view(applied, previous).await })}
            </Show>
        </section>
    }
}

/// What a search found, paged, with the bulk actions: a WASM chunk of its own
/// (`cargo leptos build --split`), loaded when the page first searches (before hydration, when
/// its address holds a search: see [`super::preload`]).
#[lazy]
fn found_view(applied: RwSignal<TaskQuery>, previous: RwSignal<Vec<Option<String>>>) -> AnyView {
    view! { <Found applied previous/> }.into_any()
}

/// True when the page's address holds a search (its results are rendered by the server).
#[cfg(feature = "hydrate")]
pub(super) fn url_searching() -> bool {
    searching(&url_query())
}

/// Browser only: loads the chunk of [`found_view`].
#[cfg(feature = "hydrate")]
pub(super) async fn preload_found() {
    __preload_found_view().await;
}

#[component]
fn Found(applied: RwSignal<TaskQuery>, previous: RwSignal<Vec<Option<String>>>) -> impl IntoView {
    let results = Resource::new(
        move || applied.get(),
        |q| async move {
            if searching(&q) {
                search_tasks(q).await.map(Some)
            } else {
                Ok(None)
            }
        },
    );
    let page = move |cursor: Option<String>, back: bool| {
        let mut q = applied.get_untracked();
        if back {
            previous.update(|p| {
                q.cursor = p.pop().flatten();
            });
        } else {
            previous.update(|p| p.push(q.cursor.clone()));
            q.cursor = cursor;
        }
        set_url(&q);
        applied.set(q);
    };
    view! {
        <BulkBar applied=applied results=results/>
        <Transition fallback=|| view! { <p class="muted">"Searching…"</p> }>
            {move || Suspend::new(async move {
                match results.await {
                    Ok(Some(list)) => {
                        let filter = applied.get_untracked();
                        let next = list.next.clone();
                        let first_page = filter.cursor.is_none();
                        let n = list.tasks.len();
                        view! {
                            <p class="muted" role="status" data-testid="search-count">
                                {if n == 0 { "No task matches.".to_string() } else { format!("{n} on this page{}", if next.is_some() { "; more on the next" } else { "" }) }}
                            </p>
                            <Results tasks=list.tasks/>
                            <div class="panel-actions">
                                <button class="btn small" data-testid="search-prev" disabled=first_page on:click=move |_| page(None, true)>"Previous page"</button>
                                <button class="btn small" data-testid="search-next" disabled=next.is_none() on:click=move |_| page(next.clone(), false)>"Next page"</button>
                            </div>
                        }.into_any()
                    }
                    Ok(None) => ().into_any(),
                    Err(e) => view! { <p class="error" role="alert">{e.message().to_string()}</p> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn Results(tasks: Vec<WorkerTask>) -> impl IntoView {
    let ctx = use_ctx();
    view! {
        <div class="table-wrap" tabindex="0" role="region" aria-labelledby="search-title">
            <table class="tasks" data-testid="search-results">
                <thead><tr><th>"Status"</th><th>"Task"</th><th class="hide-sm">"Submitted"</th><th class="num">"Priority"</th></tr></thead>
                <tbody>
                    {tasks.into_iter().map(|t| {
                        let error = t.error.clone().map(|e| e.lines().next().unwrap_or("").chars().take(90).collect::<String>());
                        view! {
                            <tr data-testid="search-row" data-task-id=t.task_id.clone() data-status=t.status.as_str()>
                                <td class="status-cell">{status_badge(t.status)}</td>
                                <td>
                                    <span class="task-name">{task_label(&t)}</span>
                                    <a class="sub mono" title=t.task_id.clone() href=format!("/tasks/{}", t.task_id) data-testid="task-link">{format::short_id(&t.task_id)}</a>
                                    {t.tenant.clone().map(|tn| view! { <span class="sub">{format!("tenant {tn}")}</span> })}
                                    {error.map(|e| view! { <span class="sub error">{e}</span> })}
                                </td>
                                <td class="hide-sm nowrap">{format::clock(t.created_at, ctx.now())}</td>
                                <td class="num">{t.priority}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

/// What a bulk action says it will do, for the confirmation.
fn verb(a: BulkAction) -> &'static str {
    match a {
        BulkAction::Cancel => "cancel",
        BulkAction::Priority => "change the priority of",
        BulkAction::Retry => "retry",
    }
}

/// Cancel queued, change priority, retry failed: on the search's filter, after a dry run
/// says how many tasks it touches.
#[component]
fn BulkBar(
    applied: RwSignal<TaskQuery>,
    results: Resource<Result<Option<crate::types::TaskList>, crate::errors::AppError>>,
) -> impl IntoView {
    let ctx = use_ctx();
    let action = ctx.mutation::<BulkCall>();
    let priority = RwSignal::new("0".to_string());
    // The dry run waiting for a confirmation.
    let pending = RwSignal::new(None::<(BulkRequest, BulkReport)>);
    let done = RwSignal::new(None::<String>);
    let request = move |a: BulkAction, dry_run: bool| {
        let mut f = applied.get_untracked();
        f.limit = None;
        f.cursor = None;
        BulkRequest {
            action: a,
            filter: f,
            priority: (a == BulkAction::Priority)
                .then(|| priority.get_untracked().trim().parse().unwrap_or(0)),
            limit: 1000,
            dry_run,
        }
    };
    Effect::new(move |_| {
        let Some(r) = action.value().get() else {
            return;
        };
        match r {
            Ok(report) if report.dry_run => {
                let req = request(report.action, false);
                pending.set(Some((req, report)));
            }
            Ok(report) => {
                pending.set(None);
                done.set(Some(format!(
                    "Done: {} changed{}.",
                    report.changed.len(),
                    if report.skipped.is_empty() {
                        String::new()
                    } else {
                        format!(", {} skipped (they moved on)", report.skipped.len())
                    }
                )));
                results.refetch();
            }
            Err(e) => done.set(Some(e.message().to_string())),
        }
    });
    let start = move |a: BulkAction| {
        done.set(None);
        action.dispatch(BulkCall {
            req: request(a, true),
        });
    };
    // A new search forgets an unconfirmed action and the last result.
    Effect::new(move |_| {
        applied.track();
        pending.set(None);
        done.set(None);
    });
    let status = move || applied.with(|q| q.status);
    let queued = move || matches!(status(), None | Some(TaskStatus::Queued));
    let retryable = move || {
        matches!(
            status(),
            None | Some(TaskStatus::Failed) | Some(TaskStatus::Cancelled)
        )
    };
    view! {
        <div class="bulk" data-testid="bulk">
            <Show when=queued>
                <button class="btn small" data-testid="bulk-cancel" on:click=move |_| start(BulkAction::Cancel)>"Cancel queued…"</button>
                <label>
                    <span class="sr-only">"New priority"</span>
                    <input class="bulk-priority" type="number" min="-100" max="100" data-testid="bulk-priority-value"
                        prop:value=move || priority.get() on:input=move |ev| priority.set(event_target_value(&ev))/>
                </label>
                <button class="btn small" data-testid="bulk-priority" on:click=move |_| start(BulkAction::Priority)>"Set priority…"</button>
            </Show>
            <Show when=retryable>
                <button class="btn small" data-testid="bulk-retry" on:click=move |_| start(BulkAction::Retry)>"Retry failed…"</button>
            </Show>
            {move || pending.get().map(|(req, dry)| {
                let n = dry.matched.len();
                let what = format!(
                    "This will {} {n} task{}{}.",
                    verb(req.action),
                    if n == 1 { "" } else { "s" },
                    if dry.more { " (more match: only the first 1000)" } else { "" }
                );
                let req = StoredValue::new(req);
                view! {
                    <div class="confirm" role="alertdialog" aria-labelledby="bulk-confirm-text" data-testid="bulk-confirm">
                        <p id="bulk-confirm-text">{what}</p>
                        <button class="btn small primary" data-testid="bulk-confirm-yes" disabled=n == 0
                            on:click=move |_| { action.dispatch(BulkCall { req: req.get_value() }); }>"Confirm"</button>
                        <button class="btn small" data-testid="bulk-confirm-no" on:click=move |_| pending.set(None)>"Keep them"</button>
                    </div>
                }
            })}
            {move || done.get().map(|d| view! { <span class="sub" role="status" data-testid="bulk-result">{d}</span> })}
        </div>
    }
}
