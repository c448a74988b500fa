//! Estimated start and finish times: a forecast, not a rule.
//!
//! The pool's rules live in the Lua scripts; what they decide now is what the snapshot says
//! (who runs, who waits and why). To say *when* a queued task will start, this module plays
//! the queue forward in time, in memory: the running tasks end after their type's expected
//! run time (given how long they have run already), and each time a slot frees the first
//! queued task, in dispatch order, that its source's limit, its tenant's limit, its rate
//! budget and its cool-down allow takes it — the order `next_ready` in `lua/common.lua`
//! follows. A paused pool or source has no estimate (nobody knows when it resumes), and
//! nothing has one while no task type has finished a run yet.
//!
//! Expected run times come from the last 100 runs of each type (`<p>:dur:*`, written by
//! `finish.lua`): the mean for a task that has not started; for a running one, the mean of the
//! past runs that lasted longer than it has run so far, minus what it has run. A type with no
//! history yet borrows the mean of all types.
//!
//! A task beyond the part of the queue that is played forward (the window the caller read)
//! is played forward as if it came right after the window, and then delayed by one start per
//! (mean run time ÷ limit) for each unseen task between the window and it.

use app::types::{SourceStatus, TaskStatus, WorkerTask};
use std::collections::{BTreeMap, HashMap};

/// Recent run times by task type: source → sync type → (runs in ms, their mean).
#[derive(Clone, Debug, Default)]
pub struct History {
    by_type: HashMap<String, HashMap<String, (Vec<u64>, f64)>>,
    overall: Option<f64>,
}

fn mean(v: &[u64]) -> Option<f64> {
    (!v.is_empty()).then(|| v.iter().sum::<u64>() as f64 / v.len() as f64)
}

impl History {
    /// From run times (ms) by (crm_source, sync_type).
    pub fn new(by_type: BTreeMap<(String, String), Vec<u64>>) -> Self {
        let all: Vec<u64> = by_type.values().flatten().copied().collect();
        let mut h = History {
            overall: mean(&all),
            by_type: HashMap::new(),
        };
        for ((src, typ), runs) in by_type {
            if let Some(m) = mean(&runs) {
                h.by_type.entry(src).or_default().insert(typ, (runs, m));
            }
        }
        h
    }

    /// True when no type has a run to go on.
    pub fn is_empty(&self) -> bool {
        self.overall.is_none()
    }

    fn of(&self, src: &str, typ: &str) -> Option<&(Vec<u64>, f64)> {
        self.by_type.get(src)?.get(typ)
    }

    /// The expected run time (ms) of a task of this type that has not started.
    pub fn expected(&self, src: &str, typ: &str) -> Option<f64> {
        self.of(src, typ).map(|(_, m)| *m).or(self.overall)
    }

    /// The expected time (ms) left to a task of this type that has run `elapsed` ms.
    pub fn remaining(&self, src: &str, typ: &str, elapsed: f64) -> Option<f64> {
        let fallback = self.expected(src, typ)?;
        let (sum, n) = self
            .of(src, typ)
            .map(|(runs, _)| {
                runs.iter()
                    .filter(|&&d| d as f64 > elapsed)
                    .fold((0u64, 0u64), |(s, n), &d| (s + d, n + 1))
            })
            .unwrap_or((0, 0));
        Some(match (n > 0).then(|| sum as f64 / n as f64) {
            Some(m) => m - elapsed,
            // Longer than every run on record: assume it is nearly done, by a tenth of what it
            // has run (at least a second).
            None if elapsed >= fallback => (elapsed * 0.1).max(fallback * 0.1),
            None => fallback - elapsed,
        })
    }
}

/// The state the forecast starts from.
pub struct Model<'a> {
    /// The store's clock (ms).
    pub now_ms: i64,
    /// The global limit.
    pub max_workers: u32,
    /// True while the whole pool is paused.
    pub paused: bool,
    /// Per source: rules, cool-down, pause.
    pub sources: &'a BTreeMap<String, SourceStatus>,
    /// Per source with a rate budget: the starts in the current window (ms).
    pub rate_starts: &'a BTreeMap<String, Vec<i64>>,
    /// Run times.
    pub history: &'a History,
}

/// What the forecast found, by task id (times in ms).
#[derive(Clone, Debug, Default)]
pub struct Estimates {
    /// Queued tasks: expected start.
    pub start: HashMap<String, i64>,
    /// Queued and running tasks: expected end.
    pub finish: HashMap<String, i64>,
    /// The position (1-based) of the last queued task played forward.
    pub last_position: u64,
    /// Expected ms between two starts of the pool as a whole (mean run time ÷ limit): the
    /// delay each unseen task past the window adds.
    pub per_start: f64,
}

/// A task as the forecast sees it.
struct Job<'a> {
    id: &'a str,
    src: &'a str,
    tn: &'a str,
    run: f64,
}

/// A slot taken in the forecast: when it frees, and whose it is.
struct Slot<'a> {
    end: f64,
    src: &'a str,
    tn: &'a str,
}

/// Plays the queue forward: `running` (the slots taken now) and `queued` (the head of the
/// queue, in dispatch order, with positions); `extra` is a queued task not in `queued` (one
/// submitted since it was read), placed at its position.
pub fn estimate(
    model: &Model<'_>,
    running: &[WorkerTask],
    queued: &[WorkerTask],
    extra: Option<&WorkerTask>,
) -> Estimates {
    let mut out = Estimates::default();
    let h = model.history;
    if h.is_empty() {
        return out;
    }
    out.per_start = h.overall.unwrap_or(0.0) / model.max_workers.max(1) as f64;
    let now = model.now_ms as f64;
    let mut slots: Vec<Slot<'_>> = Vec::with_capacity(running.len());
    for r in running {
        let tn = r.tenant.as_deref().unwrap_or("");
        let started = if r.waiting_for_worker {
            None
        } else {
            r.worker_started_at.or(r.started_at)
        };
        let left = match started {
            Some(s) => {
                let elapsed = (model.now_ms - s.timestamp_millis()).max(0) as f64;
                h.remaining(&r.crm_source, &r.sync_type, elapsed)
            }
            None => h.expected(&r.crm_source, &r.sync_type),
        };
        let Some(left) = left else { continue };
        let end = now + left.max(0.0);
        out.finish.insert(r.task_id.clone(), end as i64);
        slots.push(Slot {
            end,
            src: &r.crm_source,
            tn,
        });
    }
    if model.paused {
        return out;
    }
    let mut jobs: Vec<Job<'_>> = Vec::with_capacity(queued.len() + 1);
    let mut last_position = 0;
    let mut inserted = extra.is_none();
    for q in queued.iter().filter(|q| q.status == TaskStatus::Queued) {
        if let Some(x) = extra {
            if !inserted && x.position.unwrap_or(u64::MAX) <= q.position.unwrap_or(0) {
                add_job(&mut jobs, h, x);
                inserted = true;
            }
        }
        add_job(&mut jobs, h, q);
        last_position = last_position.max(q.position.unwrap_or(0));
    }
    if let (Some(x), false) = (extra, inserted) {
        if x.position.unwrap_or(u64::MAX) <= last_position + 1 {
            add_job(&mut jobs, h, x);
            last_position += 1;
        }
    }
    let mut run_src: HashMap<&str, u32> = HashMap::new();
    let mut run_tn: HashMap<(&str, &str), u32> = HashMap::new();
    for s in &slots {
        *run_src.entry(s.src).or_default() += 1;
        if !s.tn.is_empty() {
            *run_tn.entry((s.src, s.tn)).or_default() += 1;
        }
    }
    let mut rate: HashMap<&str, Vec<f64>> = model
        .rate_starts
        .iter()
        .map(|(s, v)| (s.as_str(), v.iter().map(|&t| t as f64).collect()))
        .collect();
    // A paused source's tasks never start in the forecast: they have no estimate.
    jobs.retain(|j| !model.sources.get(j.src).is_some_and(|s| s.paused));

    out.last_position = last_position;
    let mut t = now;
    let mut guard = 4 * (jobs.len() + slots.len()) + 64;
    while !jobs.is_empty() && guard > 0 {
        guard -= 1;
        slots.retain(|s| {
            if s.end <= t {
                if let Some(n) = run_src.get_mut(s.src) {
                    *n -= 1;
                }
                if !s.tn.is_empty() {
                    if let Some(n) = run_tn.get_mut(&(s.src, s.tn)) {
                        *n -= 1;
                    }
                }
                false
            } else {
                true
            }
        });
        let mut wake = f64::INFINITY;
        let mut i = 0;
        while i < jobs.len() && (slots.len() as u32) < model.max_workers {
            let j = &jobs[i];
            let rules = model.sources.get(j.src);
            if let Some(until) = rules.and_then(|r| r.cooldown_until) {
                let until = until.timestamp_millis() as f64;
                if until > t {
                    wake = wake.min(until);
                    i += 1;
                    continue;
                }
            }
            let at_limit = rules
                .and_then(|r| r.limit)
                .is_some_and(|l| run_src.get(j.src).copied().unwrap_or(0) >= l);
            let tenant_full = !j.tn.is_empty()
                && rules
                    .and_then(|r| r.tenant_limit)
                    .is_some_and(|l| run_tn.get(&(j.src, j.tn)).copied().unwrap_or(0) >= l);
            if at_limit || tenant_full {
                i += 1;
                continue;
            }
            if let Some(r) = rules.and_then(|r| r.rate) {
                let win = r.per_seconds as f64 * 1000.0;
                let log = rate.entry(j.src).or_default();
                let first = log.partition_point(|&s| s <= t - win);
                if (log.len() - first) as u32 >= r.starts {
                    wake = wake.min(log[first] + win);
                    i += 1;
                    continue;
                }
                log.push(t);
            }
            let j = jobs.remove(i);
            out.start.insert(j.id.to_string(), t as i64);
            out.finish.insert(j.id.to_string(), (t + j.run) as i64);
            *run_src.entry(j.src).or_default() += 1;
            if !j.tn.is_empty() {
                *run_tn.entry((j.src, j.tn)).or_default() += 1;
            }
            slots.push(Slot {
                end: t + j.run,
                src: j.src,
                tn: j.tn,
            });
        }
        let next_end = slots.iter().map(|s| s.end).fold(f64::INFINITY, f64::min);
        let next = next_end.min(wake);
        if !next.is_finite() {
            break;
        }
        t = next.max(t);
    }
    out
}

fn add_job<'a>(jobs: &mut Vec<Job<'a>>, h: &History, t: &'a WorkerTask) {
    if let Some(run) = h.expected(&t.crm_source, &t.sync_type) {
        jobs.push(Job {
            id: &t.task_id,
            src: &t.crm_source,
            tn: t.tenant.as_deref().unwrap_or(""),
            run,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::types::RateUse;
    use chrono::{TimeZone, Utc};

    const NOW: i64 = 1_800_000_000_000;

    fn task(id: &str, src: &str, status: TaskStatus, position: Option<u64>) -> WorkerTask {
        WorkerTask {
            task_id: id.into(),
            crm_source: src.into(),
            sync_type: "all".into(),
            status,
            position,
            ..WorkerTask::default()
        }
    }

    fn running(id: &str, src: &str, ran_ms: i64) -> WorkerTask {
        let mut t = task(id, src, TaskStatus::Running, None);
        t.started_at = Utc.timestamp_millis_opt(NOW - ran_ms).single();
        t.worker_started_at = t.started_at;
        t
    }

    fn queued(ids: &[(&str, &str)]) -> Vec<WorkerTask> {
        ids.iter()
            .enumerate()
            .map(|(i, (id, src))| task(id, src, TaskStatus::Queued, Some(i as u64 + 1)))
            .collect()
    }

    fn history(runs: &[(&str, &[u64])]) -> History {
        History::new(
            runs.iter()
                .map(|(src, v)| ((src.to_string(), "all".to_string()), v.to_vec()))
                .collect(),
        )
    }

    fn model<'a>(
        max: u32,
        sources: &'a BTreeMap<String, SourceStatus>,
        rate: &'a BTreeMap<String, Vec<i64>>,
        h: &'a History,
    ) -> Model<'a> {
        Model {
            now_ms: NOW,
            max_workers: max,
            paused: false,
            sources,
            rate_starts: rate,
            history: h,
        }
    }

    #[test]
    fn nothing_without_history() {
        let (s, r, h) = (BTreeMap::new(), BTreeMap::new(), History::default());
        let e = estimate(&model(1, &s, &r, &h), &[], &queued(&[("a", "x")]), None);
        assert!(e.start.is_empty() && e.finish.is_empty());
    }

    #[test]
    fn one_slot_runs_the_queue_in_order() {
        let (s, r) = (BTreeMap::new(), BTreeMap::new());
        let h = history(&[("x", &[1000, 3000])]); // mean 2 s
        let run = [running("r", "x", 500)];
        // The running one: past runs longer than 0.5 s average 2 s, so 1.5 s are left.
        let q = queued(&[("a", "x"), ("b", "x")]);
        let e = estimate(&model(1, &s, &r, &h), &run, &q, None);
        assert_eq!(e.finish["r"], NOW + 1500);
        assert_eq!(e.start["a"], NOW + 1500);
        assert_eq!(e.start["b"], NOW + 3500);
        assert_eq!(e.finish["b"], NOW + 5500);
        assert_eq!((e.last_position, e.per_start), (2, 2000.0));
    }

    #[test]
    fn a_source_limit_lets_others_pass() {
        let mut s = BTreeMap::new();
        s.insert(
            "x".to_string(),
            SourceStatus {
                limit: Some(1),
                ..SourceStatus::default()
            },
        );
        let r = BTreeMap::new();
        let h = history(&[("x", &[10_000]), ("y", &[1000])]);
        let run = [running("r", "x", 0)];
        let q = queued(&[("a", "x"), ("b", "y")]);
        let e = estimate(&model(4, &s, &r, &h), &run, &q, None);
        assert_eq!(e.start["a"], NOW + 10_000, "a waits for x's one slot");
        assert_eq!(e.start["b"], NOW, "b does not wait behind a");
    }

    #[test]
    fn rate_budgets_cool_downs_and_pauses() {
        let mut s = BTreeMap::new();
        s.insert(
            "x".to_string(),
            SourceStatus {
                rate: Some(RateUse {
                    starts: 1,
                    per_seconds: 10,
                    used: 1,
                }),
                ..SourceStatus::default()
            },
        );
        s.insert(
            "c".to_string(),
            SourceStatus {
                cooldown_until: Utc.timestamp_millis_opt(NOW + 7000).single(),
                ..SourceStatus::default()
            },
        );
        s.insert(
            "p".to_string(),
            SourceStatus {
                paused: true,
                ..SourceStatus::default()
            },
        );
        let mut r = BTreeMap::new();
        r.insert("x".to_string(), vec![NOW - 4000]);
        let h = history(&[("x", &[100]), ("c", &[100]), ("p", &[100])]);
        let q = queued(&[("a", "x"), ("b", "x"), ("k", "c"), ("z", "p")]);
        let e = estimate(&model(8, &s, &r, &h), &[], &q, None);
        assert_eq!(e.start["a"], NOW + 6000, "the window's one start ages out");
        assert_eq!(e.start["b"], NOW + 16_000);
        assert_eq!(e.start["k"], NOW + 7000);
        assert!(
            !e.start.contains_key("z"),
            "a paused source has no estimate"
        );
    }

    #[test]
    fn a_new_task_is_placed_at_its_position() {
        let (s, r) = (BTreeMap::new(), BTreeMap::new());
        let h = history(&[("x", &[1000])]);
        let run = [running("r", "x", 0)];
        let q = queued(&[("a", "x"), ("b", "x")]);
        let mut new = task("n", "x", TaskStatus::Queued, Some(2));
        new.priority = 5;
        let e = estimate(&model(1, &s, &r, &h), &run, &q, Some(&new));
        assert_eq!(e.start["a"], NOW + 1000);
        assert_eq!(e.start["n"], NOW + 2000);
        assert_eq!(e.start["b"], NOW + 3000);
    }

    #[test]
    fn tenants_count_against_their_limit() {
        let mut s = BTreeMap::new();
        s.insert(
            "x".to_string(),
            SourceStatus {
                tenant_limit: Some(1),
                ..SourceStatus::default()
            },
        );
        let r = BTreeMap::new();
        let h = history(&[("x", &[1000])]);
        let mut q = queued(&[("a", "x"), ("b", "x"), ("c", "x")]);
        q[0].tenant = Some("t1".into());
        q[1].tenant = Some("t1".into());
        q[2].tenant = Some("t2".into());
        let e = estimate(&model(4, &s, &r, &h), &[], &q, None);
        assert_eq!(
            (e.start["a"], e.start["b"], e.start["c"]),
            (NOW, NOW + 1000, NOW)
        );
    }
}
