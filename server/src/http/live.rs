//! The dashboard's live channel, `GET /api/events`: Server-Sent Events.

use super::state::AppState;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use std::convert::Infallible;
use std::time::Duration;

/// How long a burst of changes is gathered into one push.
const COALESCE: Duration = Duration::from_millis(40);

/// The dashboard's live channel: Server-Sent Events carrying a fresh `Dashboard` (event
/// `dashboard`) after every change any replica announces, or `unavailable` with a sentence
/// while the store cannot be read. Ends when the server shuts down.
#[utoipa::path(get, path = "/api/events", tag = "probes",
    responses((status = 200, description = "Server-Sent Events: `dashboard` events carrying the dashboard's data as JSON after each change, or `unavailable` with a sentence while the store cannot be read.",
        content_type = "text/event-stream", body = String)))]
pub async fn events(
    State(state): State<AppState>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let changes = state.backend.subscribe_changes();
    let closing = state.closing.subscribe();
    let stream = futures::stream::unfold(
        (state.backend.clone(), changes, closing, true),
        |(backend, mut changes, mut closing, first)| async move {
            if *closing.borrow() {
                return None;
            }
            if !first {
                tokio::select! {
                    r = changes.changed() => r.ok()?,
                    _ = closing.changed() => return None,
                }
                tokio::time::sleep(COALESCE).await;
            }
            changes.borrow_and_update();
            let event = match app::backend::PoolBackend::dashboard(&*backend).await {
                Ok(d) => Event::default()
                    .event("dashboard")
                    .json_data(&d)
                    .unwrap_or_else(|_| {
                        Event::default()
                            .event("unavailable")
                            .data("unreadable state")
                    }),
                Err(e) => Event::default().event("unavailable").data(e.message()),
            };
            Some((Ok(event), (backend, changes, closing, false)))
        },
    );
    Sse::new(stream).keep_alive(KeepAlive::default())
}
