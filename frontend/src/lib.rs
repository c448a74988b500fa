//! The browser entry point: hydrates the server-rendered dashboard. Everything else lives in
//! the `app` crate, shared with the server.

use wasm_bindgen::prelude::wasm_bindgen;

/// Called by the script cargo-leptos injects once the WASM module has loaded.
#[wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    // The lazy chunks this page was rendered with load first (`app::dashboard::preload`).
    wasm_bindgen_futures::spawn_local(async {
        app::dashboard::preload().await;
        leptos::mount::hydrate_body(app::App);
    });
}
