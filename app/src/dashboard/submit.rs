//! The submit form: a task type from the server's registry, its parameters and a priority.
//! Each mistake is explained next to its field, with the server's own validation rules
//! (`SubmitRequest::from_json`), and nothing is sent until the form is valid.

use super::use_ctx;
use crate::api::SubmitTask;
use crate::types::{
    FieldError, SubmitRequest, DEFAULT_BATCH_SIZE, MAX_BATCH_SIZE, MAX_PRIORITY, MIN_BATCH_SIZE,
    MIN_PRIORITY,
};
use leptos::prelude::*;
use serde_json::{json, Value};

/// A number typed in a field: a JSON number when it reads as one, else the text (so the shared
/// validation explains it).
fn number(text: &str) -> Value {
    let t = text.trim();
    if t.is_empty() {
        Value::Null
    } else {
        t.parse::<i64>()
            .map(Value::from)
            .unwrap_or_else(|_| Value::String(t.to_string()))
    }
}

/// The request the form describes, or the errors by field.
pub fn build(
    task_type: &str,
    full: bool,
    batch: &str,
    dry_run: bool,
    priority: &str,
    tenant: &str,
) -> Result<SubmitRequest, Vec<FieldError>> {
    let (crm_source, sync_type) = match task_type.split_once('.') {
        Some((a, b)) => (a.to_string(), b.to_string()),
        None => (String::new(), String::new()),
    };
    let mut errors = Vec::new();
    if task_type.is_empty() {
        errors.push(FieldError::new("task_type", "Choose a task type."));
    }
    let body = json!({
        "crm_source": if crm_source.is_empty() { "?".into() } else { crm_source },
        "sync_type": if sync_type.is_empty() { "?".into() } else { sync_type },
        "parameters": {"full": full, "batch_size": if batch.trim().is_empty() { Value::from(DEFAULT_BATCH_SIZE) } else { number(batch) }, "dry_run": dry_run},
        "priority": number(priority),
        "tenant": if tenant.trim().is_empty() { Value::Null } else { Value::from(tenant.trim()) },
    });
    match SubmitRequest::from_json(&body) {
        Ok(req) if errors.is_empty() => Ok(req),
        Ok(_) => Err(errors),
        Err(mut e) => {
            errors.append(&mut e);
            Err(errors)
        }
    }
}

#[component]
pub fn SubmitPanel() -> impl IntoView {
    let ctx = use_ctx();
    let task_type = RwSignal::new(String::new());
    let full = RwSignal::new(false);
    let batch = RwSignal::new(DEFAULT_BATCH_SIZE.to_string());
    let dry_run = RwSignal::new(false);
    let priority = RwSignal::new("0".to_string());
    let tenant = RwSignal::new(String::new());
    let touched = RwSignal::new(false);

    let submit = ctx.mutation::<SubmitTask>();

    let result = Memo::new(move |_| {
        build(
            &task_type.get(),
            full.get(),
            &batch.get(),
            dry_run.get(),
            &priority.get(),
            &tenant.get(),
        )
    });
    // Client-side errors, then the server's (a type removed from the registry, say).
    let field_error = move |field: &'static str| {
        move || {
            let local = result.with(|r| {
                r.as_ref()
                    .err()
                    .and_then(|errs| {
                        errs.iter()
                            .find(|e| e.field == field || e.field == format!("parameters.{field}"))
                    })
                    .map(|e| e.message.clone())
            });
            let server = submit.value().with(|v| {
                v.as_ref()
                    .and_then(|r| r.as_ref().err())
                    .and_then(|e| {
                        e.fields()
                            .iter()
                            .find(|f| f.field == field || f.field == format!("parameters.{field}"))
                            .cloned()
                    })
                    .map(|f| f.message)
            });
            let shown = local
                .filter(|_| touched.get() || field != "task_type")
                .or(server);
            shown.map(|m| view! { <span class="field-error" role="alert" data-testid=format!("error-{field}")>{m}</span> })
        }
    };

    view! {
        <section class="panel" aria-labelledby="submit-title" data-testid="submit-panel">
            <h2 id="submit-title">"Submit a sync"</h2>
            <form
                class="form"
                novalidate
                on:submit=move |ev| {
                    ev.prevent_default();
                    touched.set(true);
                    if let Ok(req) = result.get_untracked() {
                        submit.dispatch(SubmitTask { req });
                    }
                }
            >
                <label class="field">
                    <span>"Task type"</span>
                    <select
                        data-testid="submit-type"
                        prop:value=move || task_type.get()
                        on:change=move |ev| {
                            touched.set(true);
                            task_type.set(event_target_value(&ev));
                        }
                    >
                        <option value="">"Choose…"</option>
                        // Read under the page's Suspense, so the server renders the options.
                        {move || ctx.types.get().map(|r| r.unwrap_or_default().into_iter().map(|t| {
                            let key = format!("{}.{}", t.crm_source, t.sync_type);
                            view! { <option value=key.clone()>{format!("{key} — {}", t.description)}</option> }
                        }).collect_view())}
                    </select>
                    {field_error("task_type")}
                    {field_error("sync_type")}
                </label>
                <div class="field-row">
                    <label class="check">
                        <input type="checkbox" data-testid="submit-full" prop:checked=move || full.get() on:change=move |ev| full.set(event_target_checked(&ev))/>
                        "Full sync"
                    </label>
                    <label class="check">
                        <input type="checkbox" data-testid="submit-dry-run" prop:checked=move || dry_run.get() on:change=move |ev| dry_run.set(event_target_checked(&ev))/>
                        "Dry run"
                    </label>
                </div>
                <div class="field-row">
                    <label class="field">
                        <span>"Batch size"</span>
                        <input
                            type="number"
                            inputmode="numeric"
                            min=MIN_BATCH_SIZE
                            max=MAX_BATCH_SIZE
                            data-testid="submit-batch"
                            aria-invalid=move || result.with(|r| r.as_ref().err().is_some_and(|e| e.iter().any(|f| f.field == "parameters.batch_size"))).to_string()
                            prop:value=move || batch.get()
                            on:input=move |ev| batch.set(event_target_value(&ev))
                        />
                        {field_error("batch_size")}
                    </label>
                    <label class="field">
                        <span>"Priority (" {MIN_PRIORITY} " to " {MAX_PRIORITY} ", higher first)"</span>
                        <input
                            type="number"
                            inputmode="numeric"
                            min=MIN_PRIORITY
                            max=MAX_PRIORITY
                            data-testid="submit-priority"
                            aria-invalid=move || result.with(|r| r.as_ref().err().is_some_and(|e| e.iter().any(|f| f.field == "priority"))).to_string()
                            prop:value=move || priority.get()
                            on:input=move |ev| priority.set(event_target_value(&ev))
                        />
                        {field_error("priority")}
                    </label>
                </div>
                <label class="field">
                    <span>"Tenant (optional: the customer or account; per-tenant limits count by it)"</span>
                    <input
                        type="text"
                        data-testid="submit-tenant"
                        maxlength="64"
                        autocomplete="off"
                        aria-invalid=move || result.with(|r| r.as_ref().err().is_some_and(|e| e.iter().any(|f| f.field == "tenant"))).to_string()
                        prop:value=move || tenant.get()
                        on:input=move |ev| tenant.set(event_target_value(&ev))
                    />
                    {field_error("tenant")}
                </label>
                <div class="panel-actions">
                    <button
                        class="btn primary"
                        type="submit"
                        data-testid="submit-button"
                        disabled=move || result.with(Result::is_err) || submit.pending().get()
                    >
                        "Submit"
                    </button>
                    <span data-testid="submit-result" aria-live="polite">
                        {move || submit.value().get().map(|r| match r {
                            Ok(t) => format!("Accepted {} ({}).", super::format::short_id(&t.task_id), t.status),
                            Err(e) => e.message().to_string(),
                        })}
                    </span>
                </div>
            </form>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_valid_requests_and_explains_mistakes() {
        let req = build("five9.contacts", true, "500", false, "7", "").unwrap();
        assert_eq!(req.crm_source, "five9");
        assert_eq!(req.sync_type, "contacts");
        assert_eq!(req.parameters.batch_size, 500);
        assert_eq!(req.priority, 7);
        let errs = build("", false, "0", false, "abc", "a b").unwrap_err();
        let fields: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
        assert!(fields.contains(&"task_type"));
        assert!(fields.contains(&"parameters.batch_size"));
        assert!(fields.contains(&"priority"));
        assert!(fields.contains(&"tenant"), "{fields:?}");
        assert!(
            build("hubspot.all", false, "", false, "", "acme-1").is_ok(),
            "empty means defaults"
        );
        assert!(build("hubspot.all", false, "1.5", false, "0", "").is_err());
        assert!(build("hubspot.all", false, "100001", false, "0", "").is_err());
    }
}
