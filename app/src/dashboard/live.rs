//! Live updates for the dashboard.
//!
//! The server pushes a fresh [`Dashboard`] over Server-Sent Events (`GET /api/events`) whenever
//! the pool changes, from any replica. Where the push channel fails three times in a row
//! without ever opening, the page polls the `fetch_dashboard` server function every 2 s instead
//! (gloo-timers), and tries the push channel again now and then. While the tab is hidden
//! nothing is received; both resume when it is shown again.

use crate::types::Dashboard;
use chrono::{DateTime, Utc};
use leptos::prelude::*;

/// What the live indicator says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LiveState {
    /// Waiting for the first push (also what the server renders).
    Connecting,
    /// The push channel is open.
    Live,
    /// The push channel failed; polling every 2 s.
    Polling,
    /// The connection to the server was lost; retrying.
    Reconnecting,
    /// The server answers but its store (Redis) does not.
    Unavailable,
    /// The tab is hidden: no updates until it is shown.
    Paused,
}

impl LiveState {
    /// Words for people.
    pub fn label(self) -> &'static str {
        match self {
            LiveState::Connecting => "connecting",
            LiveState::Live => "live",
            LiveState::Polling => "live (polling)",
            LiveState::Reconnecting => "reconnecting",
            LiveState::Unavailable => "store unavailable",
            LiveState::Paused => "paused",
        }
    }

    /// A stable name for styles and tests.
    pub fn key(self) -> &'static str {
        match self {
            LiveState::Connecting => "connecting",
            LiveState::Live => "live",
            LiveState::Polling => "polling",
            LiveState::Reconnecting => "reconnecting",
            LiveState::Unavailable => "unavailable",
            LiveState::Paused => "paused",
        }
    }
}

/// The signals the live channel writes.
#[derive(Clone, Copy)]
pub struct LiveSignals {
    /// The newest data pushed or polled (None until the first arrives).
    pub data: RwSignal<Option<Dashboard>>,
    /// The indicator.
    pub state: RwSignal<LiveState>,
    /// The browser's clock, ticking every second (running and waiting times follow it).
    pub now: RwSignal<Option<DateTime<Utc>>>,
}

/// Fetches once and applies the result: after an action, so its effect shows at once even
/// between pushes.
pub fn refresh(signals: LiveSignals) {
    leptos::task::spawn_local(async move {
        apply(signals, crate::api::fetch_dashboard().await, None);
    });
}

fn apply(
    signals: LiveSignals,
    result: Result<Dashboard, crate::errors::AppError>,
    ok_state: Option<LiveState>,
) {
    match result {
        Ok(d) => {
            let stale = d.status.stale;
            signals.data.set(Some(d));
            if stale {
                signals.state.set(LiveState::Unavailable);
            } else if let Some(s) = ok_state {
                signals.state.set(s);
            } else if signals.state.get_untracked() == LiveState::Unavailable {
                signals.state.set(LiveState::Connecting);
            }
        }
        Err(crate::errors::AppError::Unavailable { .. }) => {
            signals.state.set(LiveState::Unavailable)
        }
        Err(_) => signals.state.set(LiveState::Reconnecting),
    }
}

/// Starts the clock, the push channel (or polling) and the visibility handling. Browser only.
#[cfg(feature = "hydrate")]
pub fn start(signals: LiveSignals) {
    client::start(signals);
}

#[cfg(feature = "hydrate")]
mod client {
    use super::{apply, LiveSignals, LiveState};
    use gloo_timers::callback::Interval;
    use leptos::prelude::*;
    use std::cell::RefCell;
    use std::rc::Rc;
    use wasm_bindgen::closure::Closure;
    use wasm_bindgen::JsCast;
    use web_sys::{Event, EventSource, MessageEvent, VisibilityState};

    /// How often the fallback polls, and after how many polls it tries the push channel again.
    const POLL_MS: u32 = 2_000;
    const RETRY_PUSH_EVERY: u32 = 15;
    /// Consecutive push errors (without an open in between) before falling back to polling.
    const MAX_PUSH_ERRORS: u32 = 3;

    #[derive(Default)]
    struct Inner {
        source: Option<EventSource>,
        callbacks: Vec<Closure<dyn FnMut(Event)>>,
        poll: Option<Interval>,
        errors: u32,
        polls: u32,
    }

    type Shared = Rc<RefCell<Inner>>;

    pub fn start(signals: LiveSignals) {
        signals.now.set(Some(chrono::Utc::now()));
        Interval::new(1_000, move || signals.now.set(Some(chrono::Utc::now()))).forget();

        let inner: Shared = Rc::default();
        connect(&inner, signals);

        let doc = document();
        let on_visibility = {
            let inner = inner.clone();
            Closure::<dyn FnMut(Event)>::new(move |_| {
                if document().visibility_state() == VisibilityState::Hidden {
                    stop(&inner);
                    signals.state.set(LiveState::Paused);
                } else {
                    connect(&inner, signals);
                }
            })
        };
        let _ = doc.add_event_listener_with_callback(
            "visibilitychange",
            on_visibility.as_ref().unchecked_ref(),
        );
        on_visibility.forget();
    }

    fn stop(inner: &Shared) {
        let mut i = inner.borrow_mut();
        if let Some(es) = i.source.take() {
            es.close();
        }
        i.callbacks.clear();
        i.poll = None;
    }

    fn connect(inner: &Shared, signals: LiveSignals) {
        stop(inner);
        signals.state.set(LiveState::Connecting);
        let Ok(es) = EventSource::new("/api/events") else {
            start_polling(inner, signals);
            return;
        };
        let on_open = {
            let inner = inner.clone();
            Closure::<dyn FnMut(Event)>::new(move |_| {
                inner.borrow_mut().errors = 0;
                signals.state.set(LiveState::Live);
            })
        };
        let on_data = Closure::<dyn FnMut(Event)>::new(move |ev: Event| {
            let Some(msg) = ev.dyn_ref::<MessageEvent>() else {
                return;
            };
            let Some(text) = msg.data().as_string() else {
                return;
            };
            match serde_json::from_str::<crate::types::Dashboard>(&text) {
                Ok(d) => apply(signals, Ok(d), Some(LiveState::Live)),
                Err(e) => leptos::logging::warn!("unreadable dashboard push: {e}"),
            }
        });
        let on_unavailable = Closure::<dyn FnMut(Event)>::new(move |_| {
            signals.state.set(LiveState::Unavailable);
        });
        let on_error = {
            let inner = inner.clone();
            Closure::<dyn FnMut(Event)>::new(move |_| {
                let errors = {
                    let mut i = inner.borrow_mut();
                    i.errors += 1;
                    i.errors
                };
                if errors >= MAX_PUSH_ERRORS {
                    // Deferred: switching drops this very callback, which must not happen while
                    // it runs.
                    let inner = inner.clone();
                    leptos::task::spawn_local(async move { start_polling(&inner, signals) });
                } else {
                    signals.state.set(LiveState::Reconnecting);
                }
            })
        };
        es.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        es.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        let _ = es.add_event_listener_with_callback("dashboard", on_data.as_ref().unchecked_ref());
        let _ = es.add_event_listener_with_callback(
            "unavailable",
            on_unavailable.as_ref().unchecked_ref(),
        );
        let mut i = inner.borrow_mut();
        i.source = Some(es);
        i.callbacks = vec![on_open, on_data, on_unavailable, on_error];
    }

    fn start_polling(inner: &Shared, signals: LiveSignals) {
        stop(inner);
        signals.state.set(LiveState::Polling);
        let poll = {
            let inner = inner.clone();
            Interval::new(POLL_MS, move || {
                let polls = {
                    let mut i = inner.borrow_mut();
                    i.polls += 1;
                    i.polls
                };
                if polls % RETRY_PUSH_EVERY == 0 {
                    inner.borrow_mut().errors = 0;
                    // Deferred: connecting drops this interval, which must not happen while its
                    // callback runs.
                    let inner = inner.clone();
                    leptos::task::spawn_local(async move { connect(&inner, signals) });
                    return;
                }
                leptos::task::spawn_local(async move {
                    apply(
                        signals,
                        crate::api::fetch_dashboard().await,
                        Some(LiveState::Polling),
                    );
                });
            })
        };
        inner.borrow_mut().poll = Some(poll);
        leptos::task::spawn_local(async move {
            apply(
                signals,
                crate::api::fetch_dashboard().await,
                Some(LiveState::Polling),
            );
        });
    }
}
