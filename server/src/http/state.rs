//! What every handler of the HTTP edge can reach.

use crate::backend::ServerBackend;
use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use std::sync::Arc;
use tokio::sync::watch;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// Leptos' own settings (site root, output name).
    pub leptos: LeptosOptions,
    /// The pool.
    pub backend: Arc<ServerBackend>,
    /// Turns true when the server starts shutting down, so long-lived responses (the live
    /// channel) end and the graceful shutdown can finish.
    pub closing: Arc<watch::Sender<bool>>,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos.clone()
    }
}
