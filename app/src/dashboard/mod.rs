//! The dashboard: rendered on the server with real data, then hydrated in the browser and kept
//! live by pushes from the server (see [`live`]).
//!
//! Every action calls a server function, which calls the `PoolBackend`; the page holds no pool
//! logic of its own. What it shows comes from one [`Dashboard`] value: from the server-rendered
//! first paint, then from the live channel.

mod charts;
pub mod format;
pub mod live;
mod modal;
mod panels;
mod search;
mod submit;
mod task_page;

use crate::api::{
    fetch_dashboard, fetch_server_info, task_types, FetchServerInfo, SignIn, SignOut,
};
use crate::errors::AppError;
use crate::types::{Dashboard, ServerInfo, TaskType};
use chrono::{DateTime, Utc};
use leptos::prelude::*;
use live::{LiveSignals, LiveState};

/// The HTML document around the app. The server renders it; the browser hydrates `<App/>`.
/// (One page: no router, no meta-tag machinery, which keeps the WASM small.)
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light dark"/>
                <meta name="description" content="A global concurrency limit and priority queue in front of Celery."/>
                <title>"Worker Pool"</title>
                <link rel="icon" href="/favicon.ico"/>
                <link rel="stylesheet" href="/pkg/worker-pool.css"/>
                <HydrationScripts options/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// The application: the dashboard.
#[component]
pub fn App() -> impl IntoView {
    // The page's content security policy carries this response's nonce.
    #[cfg(feature = "ssr")]
    if let (Some(resp), Some(nonce)) = (
        use_context::<leptos_axum::ResponseOptions>(),
        leptos::nonce::use_nonce(),
    ) {
        if let Ok(v) = http::HeaderValue::from_str(&crate::backend::page_csp(&nonce)) {
            resp.insert_header(http::header::CONTENT_SECURITY_POLICY, v);
        }
    }
    match task_page_id() {
        Some(id) => view! {
            <Suspense fallback=|| ()>
                {move || {
                    let id = id.clone();
                    Suspend::new(async move { task_page_view(id).await })
                }}
            </Suspense>
        }
        .into_any(),
        None => view! { <DashboardPage/> }.into_any(),
    }
}

/// A task's page. Its code is a WASM chunk of its own (`cargo leptos build --split`): the
/// dashboard never downloads it, and a task's page loads it before it hydrates (see
/// [`preload`]).
#[lazy]
fn task_page_view(id: String) -> AnyView {
    view! { <task_page::TaskPage id/> }.into_any()
}

/// Browser only: loads the lazy chunks the server rendered into this page, so that hydration
/// finds their code ready. (Hydration itself is synchronous: a chunk still loading would leave
/// a view the server rendered with nothing to hydrate it.)
#[cfg(feature = "hydrate")]
pub async fn preload() {
    if task_page_id().is_some() {
        __preload_task_page_view().await;
    } else if search::url_searching() {
        search::preload_found().await;
    }
}

/// The configuration dialog's view, a WASM chunk of its own loaded when the dialog first opens.
#[lazy]
fn config_modal_view() -> AnyView {
    view! { <modal::ConfigModal/> }.into_any()
}

/// The configuration dialog: nothing until it is first opened (the server renders nothing
/// either), then loaded and kept.
#[component]
fn LazyConfigModal() -> impl IntoView {
    let ctx = use_ctx();
    let wanted =
        Memo::new(move |was: Option<&bool>| was.copied().unwrap_or(false) || ctx.config_open.get());
    move || {
        wanted
            .get()
            .then(|| Suspend::new(async move { config_modal_view().await }))
    }
}

/// The page's address, as (path, query string without its `?`): read from the request on the
/// server and from the address bar in the browser.
pub(crate) fn page_address() -> (String, String) {
    #[cfg(feature = "ssr")]
    return use_context::<http::request::Parts>()
        .map(|p| {
            let query = p.uri.query().unwrap_or("").to_string();
            (p.uri.path().to_string(), query)
        })
        .unwrap_or_default();
    #[cfg(all(not(feature = "ssr"), feature = "hydrate"))]
    return {
        let location = window().location();
        let search = location.search().unwrap_or_default();
        (
            location.pathname().unwrap_or_default(),
            search.trim_start_matches('?').to_string(),
        )
    };
    #[cfg(all(not(feature = "ssr"), not(feature = "hydrate")))]
    return (String::new(), String::new());
}

/// The task id of a task page's path (`/tasks/<id>`); `None` on the dashboard.
fn task_page_id() -> Option<String> {
    let (path, _) = page_address();
    path.strip_prefix("/tasks/")
        .map(|id| id.trim_end_matches('/').to_string())
        .filter(|id| crate::types::validate_task_id(id).is_ok())
}

/// What every panel of the page shares.
#[derive(Clone, Copy)]
pub(crate) struct Ctx {
    /// What the live channel writes.
    pub live: LiveSignals,
    /// The server-rendered first read. Only the page's `<Suspense>` awaits it (a read from a
    /// memo or effect outside it blocks a server thread while the resource resolves, and can
    /// deadlock it); it hands the answer to the panels as their [`Seed`].
    pub initial: Resource<Result<Dashboard, AppError>>,
    /// The task types, for the submit form.
    pub types: Resource<Result<Vec<TaskType>, AppError>>,
    /// Whether the configuration dialog is open.
    pub config_open: RwSignal<bool>,
    /// The server's health and this browser's sign-in state.
    pub info: Resource<Result<ServerInfo, AppError>>,
}

/// The first read's answer, provided to the panels by the page's `<Suspense>` (used until the
/// live channel delivers something newer).
#[derive(Clone, Copy)]
struct Seed(StoredValue<Option<Dashboard>>);

impl Ctx {
    /// The newest data: the live channel's once it has delivered, else the first read.
    pub fn current(&self) -> Option<Dashboard> {
        self.live
            .data
            .get()
            .or_else(|| use_context::<Seed>().and_then(|s| s.0.get_value()))
    }

    /// "Now" for running and waiting times: the browser's ticking clock once hydrated, else
    /// the server's clock at the time of the read (so both renders agree).
    pub fn now(&self) -> DateTime<Utc> {
        self.live
            .now
            .get()
            .or_else(|| self.current().map(|d| d.server_time))
            .unwrap_or_else(Utc::now)
    }

    /// A server action that changes the pool: once it succeeds, the page fetches the pool at
    /// once, so the change shows even between pushes (or while polling). Every action that
    /// changes the pool is made here, so none has to remember it.
    pub fn mutation<A>(&self) -> ServerAction<A>
    where
        A: leptos::server_fn::ServerFn + Clone + Send + Sync + 'static,
        A::Output: Clone + Send + Sync + 'static,
        A::Error: Clone + Send + Sync + 'static,
    {
        let action = ServerAction::<A>::new();
        let live = self.live;
        Effect::new(move |_| {
            if matches!(action.value().get(), Some(Ok(_))) {
                live::refresh(live);
            }
        });
        action
    }
}

pub(crate) fn use_ctx() -> Ctx {
    expect_context::<Ctx>()
}

#[component]
fn DashboardPage() -> impl IntoView {
    let ctx = Ctx {
        live: LiveSignals {
            data: RwSignal::new(None),
            state: RwSignal::new(LiveState::Connecting),
            now: RwSignal::new(None),
        },
        initial: Resource::new(|| (), |_| fetch_dashboard()),
        types: Resource::new(|| (), |_| task_types()),
        config_open: RwSignal::new(false),
        info: Resource::new(|| (), |_| fetch_server_info()),
    };
    provide_context(ctx);

    // Browser only: effects do not run on the server.
    Effect::new(move |_| {
        #[cfg(feature = "hydrate")]
        {
            live::start(ctx.live);
            if let Some(body) = document().body() {
                let _ = body.set_attribute("data-hydrated", "true");
            }
        }
    });
    // Whether the live channel has delivered (changes once): a failed first read gives way to
    // the panels then.
    let live_arrived = Memo::new(move |_| ctx.live.data.with(Option::is_some));

    view! {
        <header class="topbar">
            <h1 class="brand">"Worker Pool"</h1>
            <p class="tagline">"Global concurrency limit and priority queue for Celery"</p>
            <LiveIndicator/>
            <Suspense fallback=|| ()>
                <AuthControl/>
            </Suspense>
        </header>
        <main class="page">
            <Suspense fallback=|| view! { <section class="panel"><p class="muted">"Loading the pool…"</p></section> }>
                <ErrorBoundary fallback=|errors| view! { <LoadError errors/> }>
                    {move || Suspend::new(async move {
                        let first = match ctx.initial.await {
                            Ok(d) => Some(d),
                            // The first read failed, but the live channel has delivered since.
                            Err(_) if live_arrived.get() => None,
                            Err(e) => return Err(e),
                        };
                        provide_context(Seed(StoredValue::new(first)));
                        Ok::<_, AppError>(view! {
                            <StaleBanner/>
                            <panels::Summary/>
                            <panels::SourcesPanel/>
                            <charts::ChartsPanel/>
                            <div class="columns">
                                <panels::RunningPanel/>
                                <panels::QueuePanel/>
                            </div>
                            <div class="columns">
                                <submit::SubmitPanel/>
                                <panels::HistoryPanel/>
                            </div>
                            <search::SearchPanel/>
                            <div class="columns">
                                <panels::WorkersPanel/>
                                <panels::AuditPanel/>
                            </div>
                            <LazyConfigModal/>
                        })
                    })}
                </ErrorBoundary>
            </Suspense>
            <ServerPanel/>
        </main>
    }
}

/// The sentence of the first error an `<ErrorBoundary>` caught (an `AppError`'s message).
fn first_error(errors: &ArcRwSignal<Errors>) -> String {
    errors
        .get()
        .into_iter()
        .next()
        .map(|(_, e)| e.to_string())
        .unwrap_or_default()
}

/// The first read failed: what the server said, until the pool answers.
#[component]
fn LoadError(errors: ArcRwSignal<Errors>) -> impl IntoView {
    view! {
        <section class="panel" data-testid="load-error">
            <p class="error" role="alert">{move || first_error(&errors)}</p>
            <p class="muted">"The page updates by itself once the pool answers."</p>
        </section>
    }
}

/// Live / reconnecting / store unavailable.
#[component]
fn LiveIndicator() -> impl IntoView {
    let ctx = use_ctx();
    let state = ctx.live.state;
    view! {
        <p class="live" data-testid="live-indicator" data-state=move || state.get().key() role="status">
            <span class="live-dot" aria-hidden="true"></span>
            {move || state.get().label()}
        </p>
    }
}

/// Shown while the data is the last state seen, because the store is unreachable.
#[component]
fn StaleBanner() -> impl IntoView {
    let ctx = use_ctx();
    let stale = Memo::new(move |_| {
        ctx.current()
            .filter(|d| d.status.stale)
            .map(|d| d.status.fresh_at)
    });
    move || {
        stale.get().map(|fresh| {
            let when = fresh
                .map(|t| format::clock(t, ctx.now()))
                .unwrap_or_else(|| "an earlier time".into());
            view! {
                <section class="banner bad" role="alert" data-testid="stale-banner">
                    "The pool's store (Redis) cannot be reached. Showing the last state seen, at "
                    {when} ". Changes are refused until it is back."
                </section>
            }
        })
    }
}

/// Sign in and out, when the server asks for a token to change the pool.
#[component]
fn AuthControl() -> impl IntoView {
    let ctx = use_ctx();
    let open = RwSignal::new(false);
    let token = RwSignal::new(String::new());
    let sign_in = ServerAction::<SignIn>::new();
    let sign_out = ServerAction::<SignOut>::new();
    Effect::new(move |_| {
        if matches!(sign_in.value().get(), Some(Ok(()))) {
            open.set(false);
            token.set(String::new());
            ctx.info.refetch();
        }
    });
    Effect::new(move |_| {
        if matches!(sign_out.value().get(), Some(Ok(()))) {
            ctx.info.refetch();
        }
    });
    move || {
        let info = ctx.info.get().and_then(Result::ok)?;
        if !info.auth_required {
            return None;
        }
        Some(if info.signed_in {
            view! {
                <div class="auth" data-testid="auth">
                    <span class="muted">"Signed in"</span>
                    <button class="btn small" data-testid="sign-out" on:click=move |_| { sign_out.dispatch(SignOut {}); }>"Sign out"</button>
                </div>
            }
            .into_any()
        } else {
            view! {
                <div class="auth" data-testid="auth">
                    <button class="btn small primary" data-testid="sign-in" aria-expanded=move || open.get().to_string() on:click=move |_| open.update(|o| *o = !*o)>
                        "Sign in to make changes"
                    </button>
                    <form
                        class="auth-form"
                        hidden=move || !open.get()
                        on:submit=move |ev| {
                            ev.prevent_default();
                            sign_in.dispatch(SignIn { token: token.get_untracked() });
                        }
                    >
                        <label class="field">
                            <span>"API token"</span>
                            <input type="password" autocomplete="current-password" data-testid="token-input"
                                prop:value=move || token.get() on:input=move |ev| token.set(event_target_value(&ev))/>
                        </label>
                        <button class="btn primary small" type="submit" data-testid="token-submit" disabled=move || token.with(String::is_empty)>"Sign in"</button>
                        {move || sign_in.value().get().and_then(Result::err).map(|e| view! {
                            <span class="field-error" role="alert">{e.message().to_string()}</span>
                        })}
                    </form>
                </div>
            }
            .into_any()
        })
    }
}

/// The server's health: version and whether Redis answers, checked again on demand.
#[component]
fn ServerPanel() -> impl IntoView {
    let info = use_ctx().info;
    let check = ServerAction::<FetchServerInfo>::new();

    view! {
        <section class="panel compact" data-testid="server-panel" aria-labelledby="server-panel-title">
            <h2 id="server-panel-title">"Server"</h2>
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                <ErrorBoundary fallback=|errors| view! { <p class="error" role="alert">{move || first_error(&errors)}</p> }>
                    {move || Suspend::new(async move { info.await.map(|info| view! { <ServerInfoView info/> }) })}
                </ErrorBoundary>
            </Suspense>
            <div class="panel-actions">
                <button
                    class="btn"
                    data-testid="check-health"
                    disabled=move || check.pending().get()
                    on:click=move |_| {
                        check.dispatch(FetchServerInfo {});
                    }
                >
                    "Check now"
                </button>
                <span data-testid="health-result" aria-live="polite">
                    {move || check.value().get().map(|r| match r {
                        Ok(i) => format!(
                            "Checked at {}: Redis {}",
                            format::clock_ms(i.checked_at),
                            if i.redis_reachable { "answers" } else { "does not answer" },
                        ),
                        Err(e) => e.message().to_string(),
                    })}
                </span>
            </div>
        </section>
    }
}

#[component]
fn ServerInfoView(info: ServerInfo) -> impl IntoView {
    let redis = if info.redis_reachable {
        match info.redis_latency_ms {
            Some(ms) => format!("reachable ({} ms)", format::tenths(ms)),
            None => "reachable".to_string(),
        }
    } else {
        "unreachable".to_string()
    };
    let class = if info.redis_reachable { "ok" } else { "bad" };
    view! {
        <dl class="facts">
            <dt>"Version"</dt>
            <dd data-testid="server-version">{info.version}</dd>
            <dt>"Redis"</dt>
            <dd data-testid="redis-status" class=class>{redis}</dd>
        </dl>
    }
}
