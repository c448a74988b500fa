//! The dashboard: rendered on the server with real data, then hydrated in the browser.

use crate::api::{fetch_server_info, FetchServerInfo};
use crate::errors::AppError;
use crate::types::ServerInfo;
use leptos::prelude::*;
use leptos_meta::{provide_meta_context, Meta, MetaTags, Stylesheet, Title};
use leptos_router::{
    components::{Route, Router, Routes},
    StaticSegment,
};

/// The HTML document around the app. The server renders it; the browser hydrates `<App/>`.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light dark"/>
                <link rel="icon" href="/favicon.ico"/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// The application: one page, the dashboard.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();

    view! {
        <Stylesheet id="leptos" href="/pkg/worker-pool.css"/>
        <Title text="Worker Pool"/>
        <Meta name="description" content="A global concurrency limit and priority queue in front of Celery."/>
        <Router>
            <Routes fallback=|| view! { <NotFound/> }>
                <Route path=StaticSegment("") view=DashboardPage/>
            </Routes>
        </Router>
    }
}

#[component]
fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(resp) = use_context::<leptos_axum::ResponseOptions>() {
        resp.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <main class="page">
            <h1>"Not found"</h1>
            <p><a href="/">"Back to the dashboard"</a></p>
        </main>
    }
}

/// Marks `<body>` once the WASM has taken over, so people (and tests) can tell.
fn mark_hydrated() {
    Effect::new(move |_| {
        #[cfg(feature = "hydrate")]
        if let Some(body) = leptos::prelude::document().body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });
}

#[component]
fn DashboardPage() -> impl IntoView {
    mark_hydrated();
    view! {
        <header class="topbar">
            <h1 class="brand">"Worker Pool"</h1>
            <p class="tagline">"A global concurrency limit and priority queue in front of Celery"</p>
        </header>
        <main class="page">
            <ServerPanel/>
        </main>
    }
}

/// The server's health: version and whether Redis answers, checked again on demand.
#[component]
fn ServerPanel() -> impl IntoView {
    let info = Resource::new(|| (), |_| fetch_server_info());
    let check = ServerAction::<FetchServerInfo>::new();

    view! {
        <section class="panel" data-testid="server-panel" aria-labelledby="server-panel-title">
            <h2 id="server-panel-title">"Server"</h2>
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || info.get().map(|r| view! { <ServerInfoView result=r/> })}
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
                            i.checked_at.format("%H:%M:%S%.3f UTC"),
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
fn ServerInfoView(result: Result<ServerInfo, AppError>) -> impl IntoView {
    match result {
        Ok(info) => {
            let redis = if info.redis_reachable {
                match info.redis_latency_ms {
                    Some(ms) => format!("reachable ({ms:.1} ms)"),
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
            .into_any()
        }
        Err(e) => view! { <p class="error" role="alert">{e.message().to_string()}</p> }.into_any(),
    }
}
