//! The configuration dialog: the global limit and every source's rules (limit, per-tenant
//! limit, rate budget), each within its valid range; an empty field removes a rule.
//!
//! Keyboard-usable: focus moves into the dialog when it opens, Tab stays inside it, Esc closes
//! it, and focus returns to the button that opened it.

use super::use_ctx;
use crate::api::SetLimits;
use crate::types::{
    validate_max_workers, LimitsUpdate, Rate, SourceRulesUpdate, SourceStatus, MAX_RATE_STARTS,
    MAX_SOURCE_LIMIT, MAX_WINDOW_SECS, MAX_WORKERS, MIN_WORKERS,
};
use leptos::html;
use leptos::prelude::*;
use std::collections::BTreeMap;

/// The texts of one source's row: limit, per-tenant limit, rate starts, rate window (s).
type RuleTexts = [String; 4];

fn texts_of(s: &SourceStatus) -> RuleTexts {
    let t = |n: Option<u32>| n.map(|n| n.to_string()).unwrap_or_default();
    [
        t(s.limit),
        t(s.tenant_limit),
        t(s.rate.map(|r| r.starts)),
        t(s.rate.map(|r| r.per_seconds)),
    ]
}

/// An optional whole number in `1..=hi` ("" is none), or why not.
fn optional(text: &str, what: &str, hi: u32) -> Result<Option<u32>, String> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(None);
    }
    t.parse::<u32>()
        .ok()
        .filter(|n| (1..=hi).contains(n))
        .map(Some)
        .ok_or_else(|| format!("{what} must be a whole number from 1 to {hi}, or empty"))
}

/// A source's rules from its row's texts.
fn rules_of(texts: &RuleTexts) -> Result<SourceRulesUpdate, String> {
    let limit = optional(&texts[0], "the limit", MAX_SOURCE_LIMIT)?;
    let tenant_limit = optional(&texts[1], "the per-tenant limit", MAX_SOURCE_LIMIT)?;
    let starts = optional(&texts[2], "the rate's starts", MAX_RATE_STARTS)?;
    let per = optional(&texts[3], "the rate's window", MAX_WINDOW_SECS)?;
    let rate = match (starts, per) {
        (Some(starts), Some(per_seconds)) => Some(Rate {
            starts,
            per_seconds,
        }),
        (None, None) => None,
        _ => return Err("a rate needs both its starts and its window".into()),
    };
    Ok(SourceRulesUpdate {
        limit: Some(limit),
        tenant_limit: Some(tenant_limit),
        rate: Some(rate),
    })
}

#[component]
pub fn ConfigModal() -> impl IntoView {
    let ctx = use_ctx();
    let open = ctx.config_open;
    let value = RwSignal::new(String::new());
    let input: NodeRef<html::Input> = NodeRef::new();
    let save_button: NodeRef<html::Button> = NodeRef::new();
    let save = ctx.mutation::<SetLimits>();
    let parsed = move || {
        let text = value.get();
        match text.trim().parse::<i64>() {
            Ok(n) => validate_max_workers(n).map_err(|e| e.message),
            Err(_) => Err(format!(
                "max_workers must be a whole number from {MIN_WORKERS} to {MAX_WORKERS}"
            )),
        }
    };

    let rules: RwSignal<BTreeMap<String, RuleTexts>> = RwSignal::new(BTreeMap::new());
    let update = move || -> Result<LimitsUpdate, ()> {
        let max_workers = parsed().map_err(|_| ())?;
        let sources = rules.with(|r| {
            r.iter()
                .map(|(src, texts)| rules_of(texts).map(|u| (src.clone(), u)))
                .collect::<Result<_, _>>()
        });
        Ok(LimitsUpdate {
            max_workers: Some(max_workers),
            sources: sources.map_err(|_| ())?,
        })
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
            let current = ctx.current().map(|d| d.status);
            let max = current
                .as_ref()
                .map(|s| s.max_workers)
                .unwrap_or(MIN_WORKERS);
            value.set(max.to_string());
            rules.set(
                current
                    .map(|s| {
                        s.sources
                            .iter()
                            .map(|(k, v)| (k.clone(), texts_of(v)))
                            .collect()
                    })
                    .unwrap_or_default(),
            );
            save.clear();
            // Read reactively: on the first open the dialog's code has only just loaded (it is
            // a lazy chunk), and this runs again once the input exists; the focus waits for
            // the next frame, when the input is in the document.
            if let Some(el) = input.get() {
                request_animation_frame(move || {
                    let _ = el.focus();
                    el.select();
                });
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
                    if let Ok(update) = update() {
                        save.dispatch(SetLimits { update });
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
                    "The most sync tasks that may run at once across every worker. Lowering a limit never stops a running task: the pool drains down to it."
                </p>
                <fieldset class="rules" data-testid="source-rules">
                    <legend>"Per source (empty: no rule)"</legend>
                    <table class="rules-table">
                        <thead><tr><th>"Source"</th><th>"Limit"</th><th>"Per tenant"</th><th>"Starts"</th><th>"per seconds"</th></tr></thead>
                        <tbody>
                            <For
                                each=move || rules.with(|r| r.keys().cloned().collect::<Vec<_>>())
                                key=|src| src.clone()
                                children=move |src: String| {
                                    let s = StoredValue::new(src.clone());
                                    let cell = move |i: usize, label: &'static str| {
                                        view! {
                                            <td>
                                                <input
                                                    type="number"
                                                    inputmode="numeric"
                                                    min="1"
                                                    data-testid=format!("rule-{}-{i}", s.get_value())
                                                    aria-label=format!("{label} of {}", s.get_value())
                                                    prop:value=move || rules.with(|r| r.get(&s.get_value()).map(|t| t[i].clone()).unwrap_or_default())
                                                    on:input=move |ev| {
                                                        let v = event_target_value(&ev);
                                                        rules.update(|r| if let Some(t) = r.get_mut(&s.get_value()) { t[i] = v; });
                                                    }
                                                />
                                            </td>
                                        }
                                    };
                                    let error = move || rules.with(|r| r.get(&s.get_value()).and_then(|t| rules_of(t).err()));
                                    view! {
                                        <tr>
                                            <th scope="row">{src.clone()}</th>
                                            {cell(0, "Limit")}
                                            {cell(1, "Per-tenant limit")}
                                            {cell(2, "Rate starts")}
                                            {cell(3, "Rate window in seconds")}
                                        </tr>
                                        {move || error().map(|e| view! { <tr><td colspan="5" class="field-error" data-testid=format!("rule-error-{}", s.get_value())>{e}</td></tr> })}
                                    }
                                }
                            />
                        </tbody>
                    </table>
                </fieldset>
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
                        disabled=move || update().is_err() || save.pending().get()
                    >
                        "Save"
                    </button>
                </div>
            </form>
        </div>
    }
}
