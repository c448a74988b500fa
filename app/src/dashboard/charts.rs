//! The last hour, 6 hours or 24 hours as charts: slots in use against the limit, the queue,
//! starts and ends by outcome, and wait times. Plain SVG drawn by the components (no chart
//! library), coloured by the page's CSS variables (light and dark), each with a caption that
//! says in words what it shows: its current, lowest and highest values.
//!
//! The data is the server's (`GET stats/`, per-minute buckets kept in Redis, pool-wide); the
//! panel reads it again when the window changes, when the live channel reports a change (at
//! most every 5 s), and every 30 s.

use super::format;
use super::use_ctx;
use crate::api::fetch_stats;
use crate::types::{PoolStats, StatsPoint, StatsWindow};
use chrono::{DateTime, Utc};
use leptos::prelude::*;

/// The drawing's size in SVG units (the SVG scales to the panel's width).
const W: f64 = 600.0;
const H: f64 = 120.0;

/// One line of a chart: its CSS class, its name, and a value per point (`None`: a gap).
struct Series {
    class: &'static str,
    name: &'static str,
    values: Vec<Option<f64>>,
}

/// The history panel.
#[component]
pub fn ChartsPanel() -> impl IntoView {
    let ctx = use_ctx();
    let window = RwSignal::new(StatsWindow::Hour);
    let reload = RwSignal::new(0u32);
    let stats = Resource::new(
        move || (window.get(), reload.get()),
        |(w, _)| fetch_stats(w),
    );
    // Read again on news from the live channel (at most every 5 s), and every 30 s. The
    // first run (hydration) only starts the clock: the server-rendered data is fresh.
    let last_fetch = StoredValue::new(None::<DateTime<Utc>>);
    let last_push = StoredValue::new(None::<DateTime<Utc>>);
    Effect::new(move |_| {
        let push = ctx.live.data.with(|d| d.as_ref().map(|d| d.server_time));
        let Some(now) = ctx.live.now.get() else {
            return;
        };
        let Some(fetched) = last_fetch.get_value() else {
            last_fetch.set_value(Some(now));
            last_push.set_value(push);
            return;
        };
        let since = format::secs_between(fetched, now);
        if since >= 30.0 || (push != last_push.get_value() && since >= 5.0) {
            last_fetch.set_value(Some(now));
            last_push.set_value(push);
            reload.update(|n| *n = n.wrapping_add(1));
        }
    });

    view! {
        <section class="panel charts" aria-labelledby="charts-title" data-testid="charts">
            <div class="panel-head">
                <h2 id="charts-title">"History"</h2>
                <div class="segmented" role="group" aria-label="Time window">
                    {StatsWindow::ALL.into_iter().map(|w| view! {
                        <button
                            class="btn small"
                            data-testid=format!("window-{}", w.as_str())
                            aria-pressed=move || (window.get() == w).to_string()
                            on:click=move |_| window.set(w)
                        >
                            {label(w)}
                        </button>
                    }).collect_view()}
                </div>
            </div>
            <Transition fallback=|| view! { <div class="chart-grid" aria-busy="true"></div> }>
                {move || Suspend::new(async move {
                    match stats.await {
                        Ok(s) => view! { <Charts stats=s/> }.into_any(),
                        Err(e) => view! { <p class="error" role="alert">{e.message().to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

fn label(w: StatsWindow) -> &'static str {
    match w {
        StatsWindow::Hour => "1 hour",
        StatsWindow::SixHours => "6 hours",
        StatsWindow::Day => "24 hours",
    }
}

fn column<T: Copy + Into<f64>>(
    points: &[StatsPoint],
    f: impl Fn(&StatsPoint) -> Option<T>,
) -> Vec<Option<f64>> {
    points.iter().map(|p| f(p).map(Into::into)).collect()
}

fn count(v: u64) -> f64 {
    v as f64
}

#[component]
fn Charts(stats: PoolStats) -> impl IntoView {
    let p = &stats.points;
    let span = label(stats.window);
    let per = if stats.step_seconds == 60 {
        "minute".to_string()
    } else {
        format!("{} minutes", stats.step_seconds / 60)
    };
    let slots = vec![
        Series {
            class: "s-running",
            name: "running",
            values: column(p, |x| x.running.map(count)),
        },
        Series {
            class: "s-limit",
            name: "limit",
            values: column(p, |x| x.max_workers),
        },
    ];
    let queue = vec![Series {
        class: "s-queued",
        name: "queued",
        values: column(p, |x| x.queued.map(count)),
    }];
    let flow = vec![
        Series {
            class: "s-started",
            name: "started",
            values: column(p, |x| Some(count(x.started))),
        },
        Series {
            class: "s-completed",
            name: "completed",
            values: column(p, |x| Some(count(x.completed))),
        },
        Series {
            class: "s-failed",
            name: "failed",
            values: column(p, |x| Some(count(x.failed))),
        },
        Series {
            class: "s-cancelled",
            name: "cancelled",
            values: column(p, |x| Some(count(x.cancelled))),
        },
    ];
    let waits = vec![
        Series {
            class: "s-p50",
            name: "median",
            values: column(p, |x| x.wait_p50_seconds),
        },
        Series {
            class: "s-p95",
            name: "95th percentile",
            values: column(p, |x| x.wait_p95_seconds),
        },
    ];
    let (first, last) = (p.first().map(|x| x.at), p.last().map(|x| x.at));
    let when = move |t: Option<DateTime<Utc>>| {
        t.zip(last)
            .map(|(t, last)| format::clock(t, last))
            .unwrap_or_default()
    };
    view! {
        <div class="chart-grid">
            {chart("chart-slots", "Slots in use", &format!("tasks running against the limit, the last {span}"), &slots, number, false)}
            {chart("chart-queue", "Queue", &format!("tasks waiting, the last {span}"), &queue, number, false)}
            {chart("chart-flow", "Starts and ends", &format!("per {per}, the last {span}"), &flow, number, true)}
            {chart("chart-wait", "Wait before start", &format!("of the tasks started each {per}, the last {span}"), &waits, seconds, false)}
        </div>
        <p class="muted chart-range">
            "From " {when(first)} " to now, by " {per}
        </p>
    }
}

fn number(v: f64) -> String {
    if v.fract() == 0.0 {
        // (Integers, not float formatting: see format::tenths.)
        (v as i64).to_string()
    } else {
        format::tenths(v)
    }
}

fn seconds(v: f64) -> String {
    format::duration(v)
}

/// The lowest, highest and latest value of a series (`None` when it has none).
fn summary(values: &[Option<f64>]) -> Option<(f64, f64, f64)> {
    let present: Vec<f64> = values.iter().flatten().copied().collect();
    let latest = *present.last()?;
    let min = present.iter().copied().fold(f64::INFINITY, f64::min);
    let max = present.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    Some((latest, min, max))
}

/// The SVG path of a series scaled to `top`: a gap where a value is missing, and a dot (a
/// zero-length segment with round caps) for a value alone between gaps.
fn path(values: &[Option<f64>], top: f64) -> String {
    let n = values.len().max(2) - 1;
    let mut d = String::new();
    for (i, v) in values.iter().enumerate() {
        let Some(v) = v else { continue };
        let x = W * i as f64 / n as f64;
        let y = H - (v / top).clamp(0.0, 1.0) * (H - 4.0) - 2.0;
        let after_gap = i == 0 || values[i - 1].is_none();
        d.push_str(if after_gap { "M" } else { "L" });
        d.push_str(&format::tenths(x));
        d.push(',');
        d.push_str(&format::tenths(y));
        d.push(' ');
        if after_gap && values.get(i + 1).is_none_or(Option::is_none) {
            d.push_str("l0,0 ");
        }
    }
    d
}

fn chart(
    id: &'static str,
    title: &str,
    what: &str,
    series: &[Series],
    fmt: fn(f64) -> String,
    totals: bool,
) -> impl IntoView {
    let top = series
        .iter()
        .flat_map(|s| s.values.iter().flatten().copied())
        .fold(0.0_f64, f64::max)
        .max(1.0);
    // In words: each series' latest, lowest and highest value.
    let words: Vec<String> = series
        .iter()
        .map(|s| match summary(&s.values) {
            Some((now, _, max)) if totals => format!(
                "{} now {}, highest {}, {} in all",
                s.name,
                fmt(now),
                fmt(max),
                fmt(s.values.iter().flatten().sum())
            ),
            Some((now, min, max)) => format!(
                "{} now {}, lowest {}, highest {}",
                s.name,
                fmt(now),
                fmt(min),
                fmt(max)
            ),
            None => format!("{}: no data", s.name),
        })
        .collect();
    let caption = words.join("; ");
    let aria = format!("{title}, {what}: {caption}.");
    let lines = series
        .iter()
        .map(|s| {
            let d = path(&s.values, top);
            view! { <path class=format!("line {}", s.class) d=d vector-effect="non-scaling-stroke"></path> }
        })
        .collect_view();
    let legend = series
        .iter()
        .map(|s| view! { <span class=format!("key {}", s.class)>{s.name}</span> })
        .collect_view();
    // The SVG's sizes are written as integers: an f64 attribute would pull float formatting
    // into the WASM.
    view! {
        <figure class="chart" data-testid=id>
            <div class="chart-head">
                <h3>{title.to_string()}</h3>
                <span class="muted">{format!("max {}", fmt(top))}</span>
            </div>
            <svg viewBox=format!("0 0 {} {}", W as u32, H as u32) preserveAspectRatio="none" role="img" aria-label=aria>
                <line class="axis" x1="0" y1=(H as u32 - 1).to_string() x2=(W as u32).to_string() y2=(H as u32 - 1).to_string() vector-effect="non-scaling-stroke"></line>
                {lines}
            </svg>
            <figcaption>
                <span class="legend" aria-hidden="true">{legend}</span>
                <span class="chart-words" data-testid=format!("{id}-caption")>{caption}</span>
            </figcaption>
        </figure>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_break_at_gaps_and_scale_to_the_top() {
        let d = path(&[Some(0.0), Some(2.0), None, Some(1.0)], 2.0);
        assert_eq!(d.matches('M').count(), 2, "{d}");
        assert!(d.starts_with("M0.0,118.0 L200.0,2.0 "), "{d}");
        assert!(d.ends_with("M600.0,60.0 l0,0 "), "a dot: {d}");
    }

    #[test]
    fn summaries_say_latest_lowest_highest() {
        assert_eq!(summary(&[None, None]), None);
        assert_eq!(
            summary(&[Some(3.0), None, Some(1.0), Some(2.0)]),
            Some((2.0, 1.0, 3.0))
        );
    }
}
