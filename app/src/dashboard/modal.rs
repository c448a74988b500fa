//! The configuration dialog: set `max_workers` within its valid range.
//!
//! Keyboard-usable: focus moves into the dialog when it opens, Tab stays inside it, Esc closes
//! it, and focus returns to the button that opened it.

use super::use_ctx;
use crate::api::SetMaxWorkers;
use crate::types::{validate_max_workers, MAX_WORKERS, MIN_WORKERS};
use leptos::html;
use leptos::prelude::*;

#[component]
pub fn ConfigModal() -> impl IntoView {
    let ctx = use_ctx();
    let open = ctx.config_open;
    let value = RwSignal::new(String::new());
    let input: NodeRef<html::Input> = NodeRef::new();
    let save_button: NodeRef<html::Button> = NodeRef::new();
    let save = ctx.mutation::<SetMaxWorkers>();

    let parsed = move || {
        let text = value.get();
        match text.trim().parse::<i64>() {
            Ok(n) => validate_max_workers(n).map_err(|e| e.message),
            Err(_) => Err(format!(
                "max_workers must be a whole number from {MIN_WORKERS} to {MAX_WORKERS}"
            )),
        }
    };

    let close = move || {
        open.set(false);
        // Focus returns to the button that opened the dialog.
        #[cfg(feature = "hydrate")]
        if let Some(el) = document()
            .query_selector("[data-testid=open-config]")
            .ok()
            .flatten()
        {
            use wasm_bindgen::JsCast;
            if let Some(el) = el.dyn_ref::<web_sys::HtmlElement>() {
                let _ = el.focus();
            }
        }
    };

    // On open: start from the limit in force, and move focus into the dialog.
    Effect::new(move |_| {
        if open.get() {
            let current = ctx
                .current()
                .map(|d| d.status.max_workers)
                .unwrap_or(MIN_WORKERS);
            value.set(current.to_string());
            save.clear();
            if let Some(el) = input.get_untracked() {
                let _ = el.focus();
                el.select();
            }
        }
    });
    // Saved: the bar and indicator follow through the refresh; close the dialog.
    Effect::new(move |_| {
        if let Some(Ok(_)) = save.value().get() {
            close();
        }
    });

    let on_keydown = move |ev: leptos::ev::KeyboardEvent| match ev.key().as_str() {
        "Escape" => {
            ev.prevent_default();
            close();
        }
        "Tab" => {
            // Keep focus inside: the input and the buttons.
            #[cfg(feature = "hydrate")]
            {
                let active = document().active_element();
                let first = input
                    .get_untracked()
                    .map(|e| e.unchecked_into::<web_sys::Element>());
                let last = save_button
                    .get_untracked()
                    .map(|e| e.unchecked_into::<web_sys::Element>());
                use wasm_bindgen::JsCast;
                if ev.shift_key() && active.is_some() && active == first {
                    ev.prevent_default();
                    if let Some(b) = save_button.get_untracked() {
                        let _ = b.focus();
                    }
                } else if !ev.shift_key() && active.is_some() && active == last {
                    ev.prevent_default();
                    if let Some(i) = input.get_untracked() {
                        let _ = i.focus();
                    }
                }
            }
        }
        _ => {}
    };

    view! {
        <div class="modal-backdrop" class:open=move || open.get() on:click=move |_| close() aria-hidden="true"></div>
        <div
            class="modal"
            class:open=move || open.get()
            role="dialog"
            aria-modal="true"
            aria-labelledby="config-title"
            aria-describedby="config-help"
            data-testid="config-modal"
            hidden=move || !open.get()
            on:keydown=on_keydown
        >
            <h2 id="config-title">"Configure the pool"</h2>
            <form
                on:submit=move |ev| {
                    ev.prevent_default();
                    if let Ok(n) = parsed() {
                        save.dispatch(SetMaxWorkers { max_workers: n });
                    }
                }
            >
                <label class="field">
                    <span>"Max workers (" {MIN_WORKERS} " to " {MAX_WORKERS} ")"</span>
                    <input
                        node_ref=input
                        type="number"
                        inputmode="numeric"
                        min=MIN_WORKERS
                        max=MAX_WORKERS
                        step="1"
                        data-testid="max-workers-input"
                        aria-invalid=move || parsed().is_err().to_string()
                        prop:value=move || value.get()
                        on:input=move |ev| value.set(event_target_value(&ev))
                    />
                    {move || parsed().err().map(|m| view! { <span class="field-error" data-testid="error-max_workers">{m}</span> })}
                </label>
                <p id="config-help" class="muted">
                    "The most sync tasks that may run at once across every worker. Lowering it never stops a running task: the pool drains down to the new limit."
                </p>
                {move || save.value().get().and_then(Result::err).map(|e| view! {
                    <p class="error" role="alert">{e.message().to_string()}</p>
                })}
                <div class="panel-actions end">
                    <button class="btn" type="button" data-testid="config-cancel" on:click=move |_| close()>"Cancel"</button>
                    <button
                        node_ref=save_button
                        class="btn primary"
                        type="submit"
                        data-testid="config-save"
                        disabled=move || parsed().is_err() || save.pending().get()
                    >
                        "Save"
                    </button>
                </div>
            </form>
        </div>
    }
}
