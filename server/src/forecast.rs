//! Fills in the estimated start and finish times of the tasks a read returns, from one
//! forecast (see [`crate::eta`]) of the first [`WINDOW`] queued tasks, kept for a quarter of a
//! second so that the reads in that time share it: a read costs lookups, not a Redis round
//! trip. (A forecast a second old made estimates of a queue that moves every few hundred ms
//! more than twice as wrong: `wp-bench eta --n 600`, median error 26% against 11%.)
//!
//! A task the kept forecast does not know (submitted since) is placed at its position and
//! played forward on its own; when many are unknown the forecast is made again, at most
//! every [`REFRESH_MIN`]. Tasks past the window are played forward once per (source, type,
//! tenant) right after it, then delayed by one start of the pool per unseen task between.
//! Estimates are best effort: when the store cannot answer, tasks keep `null` estimates and
//! the read itself still succeeds.

use crate::eta::{self, Estimates, History, Model};
use crate::registry::Registry;
use crate::store::{Snapshot, Store};
use app::types::{TaskStatus, WorkerTask};
use chrono::{DateTime, TimeZone, Utc};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How many queued tasks the forecast plays forward (those past it are extrapolated).
pub const WINDOW: u32 = 200;
/// How long a forecast is used.
const FRESH: Duration = Duration::from_millis(250);
/// A forecast is made again at most this often when reads meet tasks it does not know.
const REFRESH_MIN: Duration = Duration::from_millis(100);
/// At most this many unknown tasks are played forward one by one in a read; more make the
/// forecast again.
const SINGLE_MAX: usize = 3;

struct Kept {
    at: Instant,
    snapshot: Snapshot,
    history: History,
    estimates: Estimates,
}

/// The kept forecast of one scheduler.
pub struct Forecaster {
    store: Arc<dyn Store>,
    types: Vec<(String, String)>,
    sources: Vec<String>,
    kept: Mutex<Option<Arc<Kept>>>,
    /// One forecast is made at a time: reads that find it being made use the one kept (a
    /// burst of submits must not become a burst of snapshots).
    making: tokio::sync::Mutex<()>,
}

fn time(ms: i64) -> Option<DateTime<Utc>> {
    Utc.timestamp_millis_opt(ms).single()
}

fn model<'a>(k: &'a Kept) -> Model<'a> {
    Model {
        now_ms: k.snapshot.now_ms,
        max_workers: k.snapshot.max_workers,
        paused: k.snapshot.paused,
        sources: &k.snapshot.sources,
        rate_starts: &k.snapshot.rate_starts,
        history: &k.history,
    }
}

impl Forecaster {
    /// For the task types of `registry`.
    pub fn new(store: Arc<dyn Store>, registry: &Registry) -> Self {
        Forecaster {
            store,
            types: registry
                .types()
                .iter()
                .map(|t| (t.crm_source.clone(), t.sync_type.clone()))
                .collect(),
            sources: registry.sources(),
            kept: Mutex::new(None),
            making: tokio::sync::Mutex::new(()),
        }
    }

    fn current(&self) -> Option<Arc<Kept>> {
        self.kept.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// A forecast younger than `fresh`: the kept one, or a new one. While another read makes
    /// one, the kept one serves, however old; only the very first read waits for it.
    async fn fresh(&self, fresh: Duration) -> Option<Arc<Kept>> {
        let young = |k: &Option<Arc<Kept>>| k.as_ref().filter(|k| k.at.elapsed() < fresh).cloned();
        let kept = self.current();
        if let Some(k) = young(&kept) {
            return Some(k);
        }
        let _making = match self.making.try_lock() {
            Ok(guard) => guard,
            Err(_) if kept.is_some() => return kept,
            Err(_) => self.making.lock().await,
        };
        // Made meanwhile by the read that held the lock?
        if let Some(k) = young(&self.current()) {
            return Some(k);
        }
        self.make().await.or(kept)
    }

    async fn make(&self) -> Option<Arc<Kept>> {
        let (snapshot, durations) = tokio::join!(
            self.store.snapshot(WINDOW, &self.sources),
            self.store.durations(&self.types)
        );
        let (snapshot, durations) = match (snapshot, durations) {
            (Ok(s), Ok(d)) => (s, d),
            (Err(e), _) | (_, Err(e)) => {
                tracing::debug!(error = %e, "no forecast: the store did not answer");
                return None;
            }
        };
        let history = History::new(durations);
        let mut kept = Kept {
            at: Instant::now(),
            snapshot,
            history,
            estimates: Estimates::default(),
        };
        kept.estimates = eta::estimate(
            &model(&kept),
            &kept.snapshot.running,
            &kept.snapshot.queued,
            None,
        );
        let kept = Arc::new(kept);
        *self.kept.lock().unwrap_or_else(|e| e.into_inner()) = Some(kept.clone());
        Some(kept)
    }

    /// Fills `estimated_start_at` and `estimated_finish_at` of the queued and running tasks.
    pub async fn fill(&self, tasks: &mut [WorkerTask]) {
        if tasks.iter().all(|t| t.status.is_terminal()) {
            return;
        }
        let Some(kept) = self.fresh(FRESH).await else {
            return;
        };
        let unknown = |k: &Kept| {
            tasks
                .iter()
                .filter(|t| {
                    t.status == TaskStatus::Queued
                        && !k.estimates.start.contains_key(&t.task_id)
                        && t.position.is_some_and(|p| p <= WINDOW as u64)
                })
                .count()
        };
        let kept = if unknown(&kept) > SINGLE_MAX {
            self.fresh(REFRESH_MIN).await.unwrap_or(kept)
        } else {
            kept
        };
        let mut singles = 0;
        // Tasks past what was read: played forward once per (source, type, tenant), right
        // after the window, then delayed for the unseen tasks between.
        let mut after: HashMap<(String, String, String), Option<(i64, i64)>> = HashMap::new();
        let last = kept.estimates.last_position;
        for t in tasks.iter_mut() {
            match t.status {
                TaskStatus::Running => fill_running(&kept, t),
                TaskStatus::Queued => {
                    let known = kept.estimates.start.get(&t.task_id).map(|&s| {
                        (
                            s,
                            kept.estimates.finish.get(&t.task_id).copied().unwrap_or(s),
                        )
                    });
                    let found = match (known, t.position) {
                        (Some(k), _) => Some(k),
                        (None, Some(p)) if p > last + 1 => {
                            let key = (
                                t.crm_source.clone(),
                                t.sync_type.clone(),
                                t.tenant.clone().unwrap_or_default(),
                            );
                            let first = *after
                                .entry(key)
                                .or_insert_with(|| play_at(&kept, t, last + 1));
                            let delay = ((p - last - 1) as f64 * kept.estimates.per_start) as i64;
                            first.map(|(s, f)| (s + delay, f + delay))
                        }
                        (None, Some(p)) if singles < SINGLE_MAX => {
                            singles += 1;
                            play_at(&kept, t, p)
                        }
                        _ => None,
                    };
                    if let Some((s, f)) = found {
                        t.estimated_start_at = time(s);
                        t.estimated_finish_at = time(f);
                    }
                }
                _ => {}
            }
        }
    }
}

/// A queued task the kept forecast does not know, played forward at `position`: its
/// expected start and end (ms).
fn play_at(k: &Kept, t: &WorkerTask, position: u64) -> Option<(i64, i64)> {
    let mut placed = t.clone();
    placed.position = Some(position);
    let e = eta::estimate(
        &model(k),
        &k.snapshot.running,
        &k.snapshot.queued,
        Some(&placed),
    );
    Some((*e.start.get(&t.task_id)?, *e.finish.get(&t.task_id)?))
}

/// A running task's expected end, from its type's history and how long it has run.
fn fill_running(k: &Kept, t: &mut WorkerTask) {
    let h = &k.history;
    let now = Utc::now().timestamp_millis();
    let left = match (t.waiting_for_worker, t.worker_started_at.or(t.started_at)) {
        (false, Some(s)) => h.remaining(
            &t.crm_source,
            &t.sync_type,
            (now - s.timestamp_millis()).max(0) as f64,
        ),
        _ => h.expected(&t.crm_source, &t.sync_type),
    };
    if let Some(left) = left {
        t.estimated_finish_at = time(now + left.max(0.0) as i64);
    }
}
