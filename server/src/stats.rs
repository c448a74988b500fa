//! The pool's history for the charts and `GET stats/`: the store's minute rows
//! (`store/lua/stats.lua`), gathered into the window's steps. Pure: no I/O, no clock.

use crate::store::{MinuteRow, MinuteRows};
use app::types::{PoolStats, StatsPoint, StatsWindow};
use chrono::TimeZone;

/// The rows of `window` (oldest first, the current minute last) as its points: counters
/// summed over a step, gauges as the step's last sample (and the highest), wait percentiles
/// estimated from the step's summed buckets.
pub fn points(window: StatsWindow, rows: &MinuteRows) -> PoolStats {
    let step = window.step_minutes().max(1) as i64;
    let mut points: Vec<StatsPoint> = Vec::new();
    let mut waits: Vec<Vec<u64>> = Vec::new();
    for row in &rows.rows {
        let start = row.minute - row.minute.rem_euclid(step);
        if points.last().map(|p| p.at.timestamp() / 60) != Some(start) {
            points.push(StatsPoint {
                at: chrono::Utc
                    .timestamp_opt(start * 60, 0)
                    .single()
                    .unwrap_or_default(),
                ..Default::default()
            });
            waits.push(vec![0; rows.wait_bounds_ms.len() + 1]);
        }
        let (p, w) = (points.last_mut().unwrap(), waits.last_mut().unwrap());
        add(p, row);
        for (total, n) in w.iter_mut().zip(&row.wait_buckets) {
            *total += n;
        }
    }
    for (p, w) in points.iter_mut().zip(&waits) {
        p.wait_p50_seconds = quantile(0.5, &rows.wait_bounds_ms, w);
        p.wait_p95_seconds = quantile(0.95, &rows.wait_bounds_ms, w);
    }
    PoolStats {
        window,
        step_seconds: window.step_minutes() * 60,
        points,
    }
}

fn add(p: &mut StatsPoint, row: &MinuteRow) {
    p.started += row.started;
    p.completed += row.completed;
    p.failed += row.failed;
    p.cancelled += row.cancelled;
    // The gauges: the latest minute that was sampled, and the highest of any.
    if row.running.is_some() {
        p.running = row.running;
        p.queued = row.queued;
        p.max_workers = row.limit;
    }
    p.running_max = p.running_max.max(row.running_max);
    p.queued_max = p.queued_max.max(row.queued_max);
}

/// The `q` quantile of observations counted by bucket (`counts[i]` in `(bounds[i-1],
/// bounds[i]]`, the last past every bound), interpolated within its bucket as Prometheus'
/// `histogram_quantile` does; in seconds. `None` without observations.
pub fn quantile(q: f64, bounds_ms: &[u64], counts: &[u64]) -> Option<f64> {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return None;
    }
    let rank = q * total as f64;
    let mut seen = 0u64;
    for (i, &n) in counts.iter().enumerate() {
        if n > 0 && (seen + n) as f64 >= rank {
            let Some(&upper) = bounds_ms.get(i) else {
                // Past the last bound: all that can be said is "more than it".
                return bounds_ms.last().map(|&b| b as f64 / 1000.0);
            };
            let lower = if i == 0 { 0 } else { bounds_ms[i - 1] };
            let within = ((rank - seen as f64) / n as f64).clamp(0.0, 1.0);
            return Some((lower as f64 + (upper - lower) as f64 * within) / 1000.0);
        }
        seen += n;
    }
    bounds_ms.last().map(|&b| b as f64 / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(minute: i64, running: Option<u64>, started: u64, waits: Vec<u64>) -> MinuteRow {
        MinuteRow {
            minute,
            running,
            running_max: running,
            queued: running.map(|_| 1),
            queued_max: running.map(|_| 2),
            limit: running.map(|_| 4),
            started,
            completed: started,
            wait_buckets: waits,
            ..Default::default()
        }
    }

    #[test]
    fn quantiles_interpolate_within_their_bucket() {
        let bounds = [100, 1000];
        assert_eq!(quantile(0.5, &bounds, &[0, 0, 0]), None);
        // Two in (0, 100 ms], two in (100, 1000]: the median is the top of the first bucket.
        assert_eq!(quantile(0.5, &bounds, &[2, 2, 0]), Some(0.1));
        // The 95th percentile: rank 3.8, (3.8 - 2) / 2 = 0.9 of the way into the second.
        let p95 = quantile(0.95, &bounds, &[2, 2, 0]).unwrap();
        assert!((p95 - 0.91).abs() < 1e-9, "{p95}");
        // Past the last bound: the last bound.
        assert_eq!(quantile(0.5, &bounds, &[0, 0, 3]), Some(1.0));
    }

    #[test]
    fn minutes_gather_into_steps() {
        let rows = MinuteRows {
            now_ms: 0,
            wait_bounds_ms: vec![100, 1000],
            rows: vec![
                row(10, Some(1), 1, vec![1, 0, 0]),
                row(11, None, 0, vec![0, 0, 0]),
                row(12, Some(3), 2, vec![0, 2, 0]),
                row(15, Some(2), 4, vec![4, 0, 0]),
                row(16, None, 0, vec![0, 0, 0]),
            ],
        };
        let hour = points(StatsWindow::Hour, &rows);
        assert_eq!(hour.points.len(), 5);
        assert_eq!(hour.step_seconds, 60);
        assert_eq!(hour.points[1].running, None, "a minute no server sampled");
        assert_eq!(hour.points[0].at.timestamp(), 600);

        let six = points(StatsWindow::SixHours, &rows);
        assert_eq!(six.points.len(), 2, "minutes 10..14 and 15..19");
        let first = &six.points[0];
        assert_eq!(first.started, 3);
        assert_eq!(first.completed, 3);
        assert_eq!(first.running, Some(3), "the step's last sample");
        assert_eq!(first.running_max, Some(3));
        assert_eq!(first.max_workers, Some(4));
        // Waits 1 in (0, 100 ms], 2 in (100, 1000]: the median is a quarter into the second.
        let p50 = first.wait_p50_seconds.unwrap();
        assert!((p50 - 0.325).abs() < 1e-9, "{p50}");
        let second = &six.points[1];
        assert_eq!(
            second.running,
            Some(2),
            "an unsampled minute keeps the last sample"
        );
        assert_eq!(second.at.timestamp(), 15 * 60);
    }
}
