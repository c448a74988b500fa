//! Human output: aligned tables, a utilisation bar, colour only on a terminal (never with
//! `NO_COLOR`).

use app::types::{PoolStatus, WorkerTask};
use std::fmt::Write;

/// How to paint text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Style {
    /// Emit ANSI colours.
    pub color: bool,
}

impl Style {
    /// Colour when stdout is a terminal and `NO_COLOR` is not set.
    pub fn detect() -> Self {
        use std::io::IsTerminal;
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Style {
            color: !no_color && std::io::stdout().is_terminal(),
        }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    /// Bold.
    pub fn bold(&self, t: &str) -> String {
        self.paint("1", t)
    }
    /// Green.
    pub fn green(&self, t: &str) -> String {
        self.paint("32", t)
    }
    /// Yellow.
    pub fn yellow(&self, t: &str) -> String {
        self.paint("33", t)
    }
    /// Red.
    pub fn red(&self, t: &str) -> String {
        self.paint("31", t)
    }
    /// Dim.
    pub fn dim(&self, t: &str) -> String {
        self.paint("2", t)
    }

    /// A status word in its colour.
    pub fn status(&self, status: &str) -> String {
        match status {
            "completed" | "available" => self.green(status),
            "running" | "busy" => self.yellow(status),
            "failed" | "overloaded" => self.red(status),
            _ => status.to_string(),
        }
    }
}

/// The width of text as a terminal shows it (ANSI escapes take none).
fn width(s: &str) -> usize {
    let mut w = 0;
    let mut in_escape = false;
    for c in s.chars() {
        if in_escape {
            if c == 'm' {
                in_escape = false;
            }
        } else if c == '\x1b' {
            in_escape = true;
        } else {
            w += 1;
        }
    }
    w
}

/// Renders rows as columns aligned on their widest cell, with a header.
pub fn table(style: Style, header: &[&str], rows: &[Vec<String>]) -> String {
    let cols = header.len();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, cell) in r.iter().enumerate().take(cols) {
            widths[i] = widths[i].max(width(cell));
        }
    }
    let mut out = String::new();
    let line = |cells: Vec<String>, out: &mut String| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            let pad = widths[i].saturating_sub(width(c));
            s.push_str(c);
            if i + 1 < cells.len() {
                s.push_str(&" ".repeat(pad + 2));
            }
        }
        let _ = writeln!(out, "{}", s.trim_end());
    };
    line(header.iter().map(|h| style.bold(h)).collect(), &mut out);
    for r in rows {
        line(r.clone(), &mut out);
    }
    out
}

/// `[########--------] 50%`.
pub fn bar(style: Style, utilization: f64, width: usize) -> String {
    let filled = ((utilization.clamp(0.0, 100.0) / 100.0) * width as f64).round() as usize;
    let fill = "#".repeat(filled);
    let rest = "-".repeat(width - filled);
    let fill = if utilization >= 100.0 {
        style.red(&fill)
    } else if utilization >= 75.0 {
        style.yellow(&fill)
    } else {
        style.green(&fill)
    };
    format!("[{fill}{rest}] {utilization:.0}%")
}

/// The seed's state line: `🟢 Available`.
pub fn state_line(style: Style, s: &PoolStatus) -> String {
    let label = s.state.label();
    match s.state {
        app::types::PoolState::Available => style.green(label),
        app::types::PoolState::Busy => style.yellow(label),
        app::types::PoolState::Overloaded => style.red(label),
    }
}

/// The pool summary block.
pub fn summary(style: Style, s: &PoolStatus) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}  {}",
        style.bold("Worker pool"),
        state_line(style, s)
    );
    let _ = writeln!(out, "  Max workers: {}", s.max_workers);
    let _ = writeln!(out, "  Active:      {}", s.active_count);
    let _ = writeln!(out, "  Queued:      {}", s.queued_count);
    let _ = writeln!(out, "  Available:   {}", s.available_workers);
    let _ = writeln!(out, "  Utilization: {}", bar(style, s.utilization, 30));
    if s.draining() > 0 {
        let _ = writeln!(
            out,
            "  {}",
            style.yellow(&format!("Draining: {} above the limit", s.draining()))
        );
    }
    if s.paused {
        let _ = writeln!(out, "  {}", style.yellow("Paused: nothing new starts"));
    }
    let rows: Vec<Vec<String>> = s
        .sources
        .iter()
        .filter(|(_, x)| {
            x.running + x.queued > 0
                || x.limit.is_some()
                || x.tenant_limit.is_some()
                || x.rate.is_some()
                || x.cooldown_until.is_some()
                || x.paused
        })
        .map(|(src, x)| source_row(style, src, x))
        .collect();
    if !rows.is_empty() {
        let _ = writeln!(out);
        out.push_str(&table(
            style,
            &["SOURCE", "RUNNING", "QUEUED", "PER TENANT", "RATE", "STATE"],
            &rows,
        ));
    }
    if s.stale {
        let _ = writeln!(
            out,
            "  {}",
            style.red("Stale: the server cannot reach its store; this is the last state it saw.")
        );
    }
    out
}

/// One source of `status`: running against its limit, queued, its per-tenant limit, rate use,
/// and whether it is paused or cooling down.
fn source_row(style: Style, src: &str, x: &app::types::SourceStatus) -> Vec<String> {
    let of = |n: Option<u32>| n.map(|n| n.to_string()).unwrap_or_else(|| "-".into());
    let state = match (x.paused, x.cooldown_until) {
        (true, _) => style.yellow("paused"),
        (false, Some(t)) => style.yellow(&format!("cooling down until {}", t.format("%H:%M:%S"))),
        _ => style.green("open"),
    };
    vec![
        src.to_string(),
        format!("{} / {}", x.running, of(x.limit)),
        x.queued.to_string(),
        of(x.tenant_limit),
        x.rate
            .map(|r| format!("{} of {}/{}", r.used, r.starts, window(r.per_seconds)))
            .unwrap_or_else(|| "-".into()),
        state,
    ]
}

/// A rate window in words: `1m`, `90s`, `1h`.
pub fn window(secs: u32) -> String {
    match secs {
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// The limits: the global one, then each source's rules.
pub fn limits(style: Style, l: &app::types::Limits) -> String {
    let mut out = format!("{}  max_workers {}\n", style.bold("Limits"), l.max_workers);
    let of = |n: Option<u32>| n.map(|n| n.to_string()).unwrap_or_else(|| "-".into());
    let rows: Vec<Vec<String>> = l
        .sources
        .iter()
        .map(|(src, r)| {
            vec![
                src.clone(),
                of(r.limit),
                of(r.tenant_limit),
                r.rate
                    .map(|r| format!("{}/{}", r.starts, window(r.per_seconds)))
                    .unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    out.push_str(&table(
        style,
        &["SOURCE", "LIMIT", "PER TENANT", "RATE"],
        &rows,
    ));
    out
}

/// A queued task's expected start, or a running one's expected end, in words.
pub fn expected(t: &WorkerTask) -> Option<String> {
    let now = chrono::Utc::now();
    let about = |at: chrono::DateTime<chrono::Utc>| {
        app::dashboard::format::about(app::dashboard::format::secs_between(now, at))
    };
    match t.status {
        app::types::TaskStatus::Queued => t
            .estimated_start_at
            .map(|at| format!("starts in {}", about(at))),
        app::types::TaskStatus::Running => t
            .estimated_finish_at
            .map(|at| format!("done in {}", about(at))),
        _ => None,
    }
}

fn when(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| "-".into())
}

/// A JSON value in a cell: compact, `-` for null.
fn compact(v: &serde_json::Value) -> String {
    if v.is_null() {
        "-".into()
    } else {
        v.to_string()
    }
}

/// Audit entries as a table.
pub fn audit(style: Style, entries: &[app::types::AuditEntry]) -> String {
    if entries.is_empty() {
        return format!("{}\n", style.dim("No change recorded."));
    }
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            vec![
                e.at.format("%Y-%m-%d %H:%M:%S").to_string(),
                e.who.clone(),
                e.address.clone(),
                e.action.clone(),
                if e.target.is_empty() {
                    "-".into()
                } else {
                    e.target.clone()
                },
                format!("{} → {}", compact(&e.before), compact(&e.after)),
            ]
        })
        .collect();
    table(
        style,
        &["WHEN", "WHO", "FROM", "ACTION", "TARGET", "BEFORE → AFTER"],
        &rows,
    )
}

/// Workers as a table.
/// `doctor`: one line per finding (problems first, as the server orders them), what to do
/// under each warning and problem, and a last line that sums up.
pub fn doctor(style: Style, report: &app::types::DoctorReport) -> String {
    use app::types::CheckStatus;
    let mut out = String::new();
    for c in &report.checks {
        let mark = match c.status {
            CheckStatus::Ok => style.green("ok     "),
            CheckStatus::Warning => style.yellow("warning"),
            CheckStatus::Problem => style.red("PROBLEM"),
        };
        out.push_str(&format!("{mark} {}: {}\n", c.subject, c.message));
        if let Some(fix) = &c.fix {
            out.push_str(&format!("        {}\n", style.dim(&format!("fix: {fix}"))));
        }
    }
    let count = |s| report.checks.iter().filter(|c| c.status == s).count();
    out.push_str(&format!(
        "\n{} problem(s), {} warning(s), {} fine, for queue {}.\n",
        count(CheckStatus::Problem),
        count(CheckStatus::Warning),
        count(CheckStatus::Ok),
        report.queue
    ));
    out
}

pub fn workers(style: Style, workers: &[app::types::WorkerInfo]) -> String {
    if workers.is_empty() {
        return format!("{}\n", style.dim("No worker heard from yet."));
    }
    let rows: Vec<Vec<String>> = workers
        .iter()
        .map(|w| {
            let state = w.state.as_str();
            let painted = match w.state {
                app::types::WorkerState::Online => style.green(state),
                app::types::WorkerState::Draining => style.yellow(state),
                app::types::WorkerState::Lost => style.red(state),
                app::types::WorkerState::Offline => style.dim(state),
            };
            vec![
                w.hostname.clone(),
                painted,
                w.pid.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
                when(w.last_heartbeat),
                when(w.first_seen),
                if w.tasks.is_empty() {
                    "-".into()
                } else {
                    w.tasks.join(", ")
                },
            ]
        })
        .collect();
    table(
        style,
        &[
            "WORKER",
            "STATE",
            "PID",
            "LAST HEARD",
            "FIRST SEEN",
            "TASKS",
        ],
        &rows,
    )
}

/// Tasks as a table; `verbose` adds times, parameters and errors.
pub fn tasks(style: Style, tasks: &[WorkerTask], verbose: bool) -> String {
    if tasks.is_empty() {
        return format!("{}\n", style.dim("(no tasks)"));
    }
    let now = chrono::Utc::now();
    let mut header = vec![
        "TASK ID", "TYPE", "STATUS", "PRIORITY", "POSITION", "EXPECTED",
    ];
    if verbose {
        header.extend([
            "CREATED",
            "STARTED",
            "DURATION",
            "WORKER",
            "PARAMETERS",
            "ERROR",
        ]);
    }
    let rows: Vec<Vec<String>> = tasks
        .iter()
        .map(|t| {
            let mut r = vec![
                t.task_id.clone(),
                t.task_name.clone(),
                style.status(t.status.as_str()),
                t.priority.to_string(),
                t.position
                    .map(|p| p.to_string())
                    .unwrap_or_else(|| "-".into()),
                expected(t).unwrap_or_else(|| "-".into()),
            ];
            if verbose {
                r.push(when(Some(t.created_at)));
                r.push(when(t.started_at));
                r.push(t.duration_secs(now).map(secs).unwrap_or_else(|| "-".into()));
                r.push(t.worker.clone().unwrap_or_else(|| {
                    if t.waiting_for_worker {
                        "(waiting for a worker)".into()
                    } else {
                        "-".into()
                    }
                }));
                r.push(format!(
                    "full={} batch_size={} dry_run={}",
                    t.parameters.full, t.parameters.batch_size, t.parameters.dry_run
                ));
                r.push(
                    t.error
                        .clone()
                        .map(|e| e.lines().next().unwrap_or("").to_string())
                        .unwrap_or_default(),
                );
            }
            r
        })
        .collect();
    table(style, &header, &rows)
}

/// `12.3s`, `4m 09s`, `1h 02m`.
pub fn secs(s: f64) -> String {
    let t = s.max(0.0);
    if t < 60.0 {
        format!("{t:.1}s")
    } else if t < 3600.0 {
        format!("{}m {:02}s", (t / 60.0) as u64, (t % 60.0) as u64)
    } else {
        format!(
            "{}h {:02}m",
            (t / 3600.0) as u64,
            ((t % 3600.0) / 60.0) as u64
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_and_ignore_escapes() {
        let plain = Style { color: false };
        let t = table(
            plain,
            &["A", "LONG HEADER"],
            &[
                vec!["xxxx".into(), "y".into()],
                vec!["z".into(), "w".into()],
            ],
        );
        assert_eq!(t, "A     LONG HEADER\nxxxx  y\nz     w\n");
        let color = Style { color: true };
        let t = table(color, &["A", "B"], &[vec![color.red("x"), "y".into()]]);
        let second = t.lines().nth(1).unwrap();
        assert_eq!(width(second), 4, "{second:?}");
    }

    #[test]
    fn bars_and_durations() {
        let plain = Style { color: false };
        assert_eq!(bar(plain, 50.0, 10), "[#####-----] 50%");
        assert_eq!(bar(plain, 150.0, 4), "[####] 150%");
        assert_eq!(secs(12.34), "12.3s");
        assert_eq!(secs(249.0), "4m 09s");
        assert_eq!(secs(3725.0), "1h 02m");
        assert!(!plain.red("x").contains('\x1b'));
    }
}
