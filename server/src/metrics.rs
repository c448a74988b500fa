//! `GET /metrics`: the pool in the Prometheus text format, encoded by the `prometheus` crate.
//!
//! Every value is pool-wide: the state, counters and histograms live in Redis (written by the
//! Lua scripts where things happen, read in one step by `metrics.lua`), so scraping any replica
//! gives the same numbers. Nothing is counted in a replica's memory. When Redis does not
//! answer, the page still answers, with `worker_pool_store_up 0` alone.

use crate::store::{MetricsState, Store};
use prometheus::proto::{
    Bucket, Counter, Gauge, Histogram, LabelPair, Metric, MetricFamily, MetricType,
};
use prometheus::{Encoder, TextEncoder};
use std::collections::BTreeMap;
use std::time::Duration;

/// The content type of the page (the Prometheus text format, 0.0.4).
pub const CONTENT_TYPE: &str = prometheus::TEXT_FORMAT;

/// The reasons a task is reclaimed from a lost worker, as `reap.lua` counts them: every one is
/// reported, 0 until it happens, so an alert can use `increase()` from the start.
const RECLAIM_REASONS: [&str; 6] = [
    "restarted",
    "offline",
    "no_heartbeat",
    "cancel_unanswered",
    "forgotten",
    "unknown_worker",
];

/// The page: reads the store once and encodes what it read.
pub async fn render(store: &dyn Store, sources: &[String], worker_timeout: Duration) -> String {
    let families = match store.metrics(sources, worker_timeout).await {
        Ok(state) => families(&state),
        Err(e) => {
            tracing::warn!(error = %e, "metrics: the store does not answer");
            vec![gauge_family(
                "worker_pool_store_up",
                "1 when the pool's store (Redis) answers, 0 when it does not.",
                vec![metric(&[], gauge(0.0))],
            )]
        }
    };
    encode(&families)
}

/// Encodes families in the text format.
pub fn encode(families: &[MetricFamily]) -> String {
    let mut buf = Vec::new();
    // Encoding to memory fails only on a malformed family, which `families` never builds.
    if let Err(e) = TextEncoder::new().encode(families, &mut buf) {
        tracing::error!(error = %e, "metrics: encoding failed");
    }
    String::from_utf8(buf).unwrap_or_default()
}

/// Every family the page reports.
pub fn families(state: &MetricsState) -> Vec<MetricFamily> {
    let mut out = vec![
        gauge_family(
            "worker_pool_store_up",
            "1 when the pool's store (Redis) answers, 0 when it does not.",
            vec![metric(&[], gauge(1.0))],
        ),
        gauge_family(
            "worker_pool_max_workers",
            "The global limit in force: at most this many tasks run at once across the pool.",
            vec![metric(&[], gauge(state.max_workers as f64))],
        ),
        gauge_family(
            "worker_pool_paused",
            "1 while the whole pool is paused (nothing new starts).",
            vec![metric(&[], gauge(bool_f(state.paused)))],
        ),
        gauge_family(
            "worker_pool_running_tasks",
            "Tasks holding a slot now.",
            vec![metric(&[], gauge(state.running as f64))],
        ),
        gauge_family(
            "worker_pool_queued_tasks",
            "Tasks waiting to start.",
            vec![metric(&[], gauge(state.queued as f64))],
        ),
    ];
    let oldest = state
        .oldest_queued_ms
        .map(|ct| (state.now_ms - ct).max(0) as f64 / 1000.0)
        .unwrap_or(0.0);
    out.push(gauge_family(
        "worker_pool_oldest_queued_task_age_seconds",
        "How long the longest-waiting queued task has waited (0 when nothing waits).",
        vec![metric(&[], gauge(oldest))],
    ));

    // Per source.
    let per_source = |f: &dyn Fn(&app::types::SourceStatus) -> Option<f64>| {
        state
            .sources
            .iter()
            .filter_map(|(src, s)| f(s).map(|v| metric(&[("source", src)], gauge(v))))
            .collect::<Vec<_>>()
    };
    out.push(gauge_family(
        "worker_pool_source_running_tasks",
        "Tasks of a source holding a slot now.",
        per_source(&|s| Some(s.running as f64)),
    ));
    out.push(gauge_family(
        "worker_pool_source_queued_tasks",
        "Tasks of a source waiting to start.",
        per_source(&|s| Some(s.queued as f64)),
    ));
    out.push(gauge_family(
        "worker_pool_source_limit",
        "A source's own limit on running tasks (only sources that have one).",
        per_source(&|s| s.limit.map(f64::from)),
    ));
    out.push(gauge_family(
        "worker_pool_source_tenant_limit",
        "A source's limit on running tasks per tenant (only sources that have one).",
        per_source(&|s| s.tenant_limit.map(f64::from)),
    ));
    out.push(gauge_family(
        "worker_pool_source_rate_budget_starts",
        "The starts a source's rate budget allows per window (only sources that have one).",
        per_source(&|s| s.rate.map(|r| f64::from(r.starts))),
    ));
    out.push(gauge_family(
        "worker_pool_source_rate_window_seconds",
        "The window of a source's rate budget (only sources that have one).",
        per_source(&|s| s.rate.map(|r| f64::from(r.per_seconds))),
    ));
    out.push(gauge_family(
        "worker_pool_source_paused",
        "1 while a source is paused.",
        per_source(&|s| Some(bool_f(s.paused))),
    ));
    out.push(gauge_family(
        "worker_pool_source_cooldown_remaining_seconds",
        "How long a source's cool-down still lasts (0 when it is not cooling down).",
        per_source(&|s| {
            Some(
                s.cooldown_until
                    .map(|until| (until.timestamp_millis() - state.now_ms).max(0) as f64 / 1000.0)
                    .unwrap_or(0.0),
            )
        }),
    ));

    // Counters and histograms by task type, from the fields the scripts write.
    let mut submitted = Vec::new();
    let mut finished = Vec::new();
    let mut hist: BTreeMap<(&str, String, String), Vec<u64>> = BTreeMap::new();
    let mut sums: BTreeMap<(&str, String, String), u64> = BTreeMap::new();
    let nb = state.bucket_bounds_ms.len() + 1;
    let mut refill = vec![0; state.refill_bounds_ms.len() + 1];
    let mut refill_sum = 0;
    let mut fields: Vec<(&String, &u64)> = state.series.iter().collect();
    fields.sort();
    for (field, &n) in fields {
        let parts: Vec<&str> = field.split('\x1f').collect();
        match parts.as_slice() {
            ["sub", src, typ] => submitted.push(metric(
                &[("source", src), ("sync_type", typ)],
                counter(n as f64),
            )),
            ["end", src, typ, status] => finished.push(metric(
                &[("source", src), ("status", status), ("sync_type", typ)],
                counter(n as f64),
            )),
            [h @ ("w" | "r"), src, typ, i] => {
                if let Ok(i) = i.parse::<usize>() {
                    let name = if *h == "w" { "w" } else { "r" };
                    let counts = hist
                        .entry((name, src.to_string(), typ.to_string()))
                        .or_insert_with(|| vec![0; nb]);
                    if (1..=nb).contains(&i) {
                        counts[i - 1] += n;
                    }
                }
            }
            ["f", i] => {
                if let Some(c) = i
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| refill.get_mut(i.wrapping_sub(1)))
                {
                    *c += n;
                }
            }
            ["fs"] => refill_sum += n,
            [h @ ("ws" | "rs"), src, typ] => {
                let name = if *h == "ws" { "w" } else { "r" };
                *sums
                    .entry((name, src.to_string(), typ.to_string()))
                    .or_default() += n;
            }
            _ => {}
        }
    }
    out.push(counter_family(
        "worker_pool_tasks_submitted_total",
        "Tasks accepted, by source and sync type (a deduplicated submit is not counted).",
        submitted,
    ));
    let started = hist
        .iter()
        .filter(|((h, _, _), _)| *h == "w")
        .map(|((_, src, typ), counts)| {
            metric(
                &[("source", src), ("sync_type", typ)],
                counter(counts.iter().sum::<u64>() as f64),
            )
        })
        .collect();
    out.push(counter_family(
        "worker_pool_tasks_started_total",
        "Dispatches into a slot, by source and sync type (a requeued task counts again).",
        started,
    ));
    out.push(counter_family(
        "worker_pool_tasks_finished_total",
        "Tasks that ended, by source, sync type and final status.",
        finished,
    ));
    for (h, name, help) in [
        (
            "w",
            "worker_pool_task_wait_seconds",
            "Time from submit to dispatch into a slot, by source and sync type.",
        ),
        (
            "r",
            "worker_pool_task_run_seconds",
            "Time from the worker's STARTED to the result, by source and sync type.",
        ),
    ] {
        let metrics = hist
            .iter()
            .filter(|((k, _, _), _)| *k == h)
            .map(|((_, src, typ), counts)| {
                let sum = sums
                    .get(&(h, src.clone(), typ.clone()))
                    .copied()
                    .unwrap_or(0);
                metric(
                    &[("source", src), ("sync_type", typ)],
                    histogram(&state.bucket_bounds_ms, counts, sum),
                )
            })
            .collect();
        out.push(family(name, help, MetricType::HISTOGRAM, metrics));
    }

    out.push(family(
        "worker_pool_slot_refill_seconds",
        "Time from a slot freeing while a queued task could take it to a task taking a slot.",
        MetricType::HISTOGRAM,
        vec![metric(
            &[],
            histogram(&state.refill_bounds_ms, &refill, refill_sum),
        )],
    ));

    let count = |k: &str| state.counters.get(k).copied().unwrap_or(0) as f64;
    out.push(counter_family(
        "worker_pool_tasks_reclaimed_total",
        "Running tasks whose slot was taken back because their worker was lost, by reason.",
        RECLAIM_REASONS
            .iter()
            .map(|r| metric(&[("reason", r)], counter(count(&format!("reclaimed:{r}")))))
            .collect(),
    ));
    out.push(counter_family(
        "worker_pool_messages_resent_total",
        "Messages lost between the broker and a worker, and sent again.",
        vec![metric(&[], counter(count("messages_resent")))],
    ));
    out.push(counter_family(
        "worker_pool_cooldowns_total",
        "Automatic cool-downs of a source after a provider's refusal.",
        vec![metric(&[], counter(count("cooldowns")))],
    ));
    out.push(counter_family(
        "worker_pool_over_admissions_total",
        "Starts reported by workers while the workers already ran as many of the pool's tasks \
         as the limit in force at that dispatch. Must stay 0.",
        vec![metric(&[], counter(count("over_admissions")))],
    ));

    out.push(gauge_family(
        "worker_pool_workers",
        "Celery workers the pool has heard from, by state (online, draining, lost, offline).",
        state
            .workers
            .iter()
            .map(|(s, n)| metric(&[("state", s)], gauge(*n as f64)))
            .collect(),
    ));
    // A family with no series is left out (the text format has no way to say it is empty).
    out.retain(|f| !f.get_metric().is_empty());
    out
}

fn bool_f(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

fn gauge(v: f64) -> Metric {
    let mut g = Gauge::default();
    g.set_value(v);
    let mut m = Metric::default();
    m.set_gauge(g);
    m
}

fn counter(v: f64) -> Metric {
    let mut c = Counter::default();
    c.set_value(v);
    let mut m = Metric::default();
    m.set_counter(c);
    m
}

/// A histogram from non-cumulative bucket counts (the last one past every bound) and the sum
/// of the observations in ms.
fn histogram(bounds_ms: &[u64], counts: &[u64], sum_ms: u64) -> Metric {
    let mut h = Histogram::default();
    let mut cumulative = 0;
    let mut buckets = Vec::with_capacity(bounds_ms.len());
    for (bound, n) in bounds_ms.iter().zip(counts) {
        cumulative += n;
        let mut b = Bucket::default();
        b.set_upper_bound(*bound as f64 / 1000.0);
        b.set_cumulative_count(cumulative);
        buckets.push(b);
    }
    h.set_bucket(buckets);
    h.set_sample_count(counts.iter().sum());
    h.set_sample_sum(sum_ms as f64 / 1000.0);
    let mut m = Metric::default();
    m.set_histogram(h);
    m
}

fn metric(labels: &[(&str, &str)], mut m: Metric) -> Metric {
    let pairs: Vec<LabelPair> = labels
        .iter()
        .map(|(k, v)| {
            let mut p = LabelPair::default();
            p.set_name(k.to_string());
            p.set_value(v.to_string());
            p
        })
        .collect();
    m.set_label(pairs);
    m
}

fn family(name: &str, help: &str, kind: MetricType, metrics: Vec<Metric>) -> MetricFamily {
    let mut f = MetricFamily::default();
    f.set_name(name.to_string());
    f.set_help(help.to_string());
    f.set_field_type(kind);
    f.set_metric(metrics);
    f
}

fn gauge_family(name: &str, help: &str, metrics: Vec<Metric>) -> MetricFamily {
    family(name, help, MetricType::GAUGE, metrics)
}

fn counter_family(name: &str, help: &str, metrics: Vec<Metric>) -> MetricFamily {
    family(name, help, MetricType::COUNTER, metrics)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> MetricsState {
        MetricsState {
            now_ms: 100_000,
            ..Default::default()
        }
    }

    #[test]
    fn histograms_are_cumulative_and_counters_keep_their_labels() {
        let mut s = state();
        s.bucket_bounds_ms = vec![100, 1000];
        s.refill_bounds_ms = vec![5, 10];
        for (k, v) in [
            ("w\x1fhubspot\x1fall\x1f1", 2),
            ("w\x1fhubspot\x1fall\x1f3", 1),
            ("ws\x1fhubspot\x1fall", 5_050),
            ("sub\x1fhubspot\x1fall", 4),
            ("end\x1fhubspot\x1fall\x1fcompleted", 3),
            ("f\x1f1", 1),
            ("f\x1f3", 2),
            ("fs", 45),
        ] {
            s.series.insert(k.into(), v);
        }
        let page = encode(&families(&s));
        for line in [
            "worker_pool_task_wait_seconds_bucket{source=\"hubspot\",sync_type=\"all\",le=\"0.1\"} 2",
            "worker_pool_task_wait_seconds_bucket{source=\"hubspot\",sync_type=\"all\",le=\"1\"} 2",
            "worker_pool_task_wait_seconds_bucket{source=\"hubspot\",sync_type=\"all\",le=\"+Inf\"} 3",
            "worker_pool_task_wait_seconds_sum{source=\"hubspot\",sync_type=\"all\"} 5.05",
            "worker_pool_task_wait_seconds_count{source=\"hubspot\",sync_type=\"all\"} 3",
            "worker_pool_tasks_started_total{source=\"hubspot\",sync_type=\"all\"} 3",
            "worker_pool_tasks_submitted_total{source=\"hubspot\",sync_type=\"all\"} 4",
            "worker_pool_tasks_finished_total{source=\"hubspot\",status=\"completed\",sync_type=\"all\"} 3",
            "worker_pool_over_admissions_total 0",
            "worker_pool_slot_refill_seconds_bucket{le=\"0.005\"} 1",
            "worker_pool_slot_refill_seconds_bucket{le=\"0.01\"} 1",
            "worker_pool_slot_refill_seconds_bucket{le=\"+Inf\"} 3",
            "worker_pool_slot_refill_seconds_sum 0.045",
            "worker_pool_slot_refill_seconds_count 3",
        ] {
            assert!(page.contains(line), "{line} in:\n{page}");
        }
        // No run has been reported: no run-time series, and no empty family.
        assert!(!page.contains("worker_pool_task_run_seconds"));
    }
}
