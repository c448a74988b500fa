//! How times, durations and parameters read on the dashboard. Pure functions, unit-tested.

use crate::types::{TaskParameters, WorkerTask};
use chrono::{DateTime, Utc};

/// `12.3` for 12.34: one decimal, written with integers (float formatting would add its
/// whole machinery to the WASM).
pub fn tenths(v: f64) -> String {
    let t = (v.max(0.0) * 10.0).round() as u64;
    format!("{}.{}", t / 10, t % 10)
}

/// A percentage as a whole number: `67` for 66.7.
pub fn percent(v: f64) -> u32 {
    v.clamp(0.0, 100.0).round() as u32
}

/// `1h 02m 05s`, `4m 09s`, `12s`, `0.4s`.
pub fn duration(secs: f64) -> String {
    let secs = secs.max(0.0);
    if secs < 10.0 {
        return format!("{}s", tenths(secs));
    }
    let total = secs.round() as u64;
    let (h, m, s) = (total / 3600, (total % 3600) / 60, total % 60);
    if h > 0 {
        format!("{h}h {m:02}m {s:02}s")
    } else if m > 0 {
        format!("{m}m {s:02}s")
    } else {
        format!("{s}s")
    }
}

/// An estimate's span in words: `under a minute`, `about 4 min`, `about 2 h 10 min`.
pub fn about(secs: f64) -> String {
    let mins = (secs.max(0.0) / 60.0).round() as u64;
    match mins {
        0 => "under a minute".into(),
        m if m < 60 => format!("about {m} min"),
        m if m % 60 == 0 => format!("about {} h", m / 60),
        m => format!("about {} h {} min", m / 60, m % 60),
    }
}

/// Seconds from `from` to `to` (never negative).
pub fn secs_between(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    ((to - from).num_milliseconds().max(0) as f64) / 1000.0
}

/// `14:03:27 UTC`, with the date when it is not `today`. (Written out by hand: chrono's
/// `format` machinery would weigh on the WASM for three fields.)
pub fn clock(t: DateTime<Utc>, today: DateTime<Utc>) -> String {
    use chrono::{Datelike, Timelike};
    if t.date_naive() == today.date_naive() {
        format!("{:02}:{:02}:{:02} UTC", t.hour(), t.minute(), t.second())
    } else {
        format!(
            "{:04}-{:02}-{:02} {:02}:{:02} UTC",
            t.year(),
            t.month(),
            t.day(),
            t.hour(),
            t.minute()
        )
    }
}

/// `14:03:27.123 UTC`.
pub fn clock_ms(t: DateTime<Utc>) -> String {
    use chrono::Timelike;
    format!(
        "{:02}:{:02}:{:02}.{:03} UTC",
        t.hour(),
        t.minute(),
        t.second(),
        t.timestamp_subsec_millis()
    )
}

/// `full · batch 500 · dry run`, or `incremental · batch 1000`.
pub fn parameters(p: &TaskParameters) -> String {
    let mut parts = vec![
        if p.full { "full" } else { "incremental" }.to_string(),
        format!("batch {}", p.batch_size),
    ];
    if p.dry_run {
        parts.push("dry run".into());
    }
    parts.join(" · ")
}

/// How long a finished task ran (from taking its slot to its end), if it ran.
pub fn run_time(t: &WorkerTask) -> Option<String> {
    Some(duration(secs_between(t.started_at?, t.finished_at?)))
}

/// The first `n` characters of an id, for compact display.
pub fn short_id(id: &str) -> String {
    id.chars().take(8).collect()
}

/// A rate window in words: `1m`, `90s`, `1h`.
pub fn window(secs: u32) -> String {
    match secs {
        s if s % 3600 == 0 => format!("{} h", s / 3600),
        s if s % 60 == 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn durations() {
        assert_eq!(duration(0.42), "0.4s");
        assert_eq!(duration(12.4), "12s");
        assert_eq!(duration(249.0), "4m 09s");
        assert_eq!(duration(3725.0), "1h 02m 05s");
        assert_eq!(duration(-3.0), "0.0s");
        assert_eq!(duration(9.96), "10.0s");
        assert_eq!(tenths(27.04), "27.0");
        assert_eq!(about(20.0), "under a minute");
        assert_eq!(about(250.0), "about 4 min");
        assert_eq!(about(7200.0), "about 2 h");
        assert_eq!(about(7830.0), "about 2 h 11 min");
        assert_eq!(percent(66.66), 67);
        assert_eq!(percent(150.0), 100);
    }

    #[test]
    fn clocks_and_params() {
        let today = Utc.with_ymd_and_hms(2026, 11, 29, 10, 0, 0).unwrap();
        assert_eq!(
            clock(Utc.with_ymd_and_hms(2026, 11, 29, 9, 3, 7).unwrap(), today),
            "09:03:07 UTC"
        );
        assert_eq!(
            clock(Utc.with_ymd_and_hms(2026, 11, 28, 9, 3, 7).unwrap(), today),
            "2026-11-28 09:03 UTC"
        );
        let p = TaskParameters {
            full: true,
            batch_size: 500,
            dry_run: true,
        };
        assert_eq!(parameters(&p), "full · batch 500 · dry run");
        assert_eq!(
            parameters(&TaskParameters::default()),
            "incremental · batch 1000"
        );
    }
}
