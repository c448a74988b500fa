//! A task's story for its page and `GET tasks/<id>/story/`: the steps its own fields record
//! and the notes of its journal, in order. Pure: no I/O.

use crate::store::{JournalNote, NoteKind};
use app::types::{BlockedBy, TaskEvent, TaskStatus, WorkerTask};

/// The steps of `t`'s life so far, oldest first: its own times, with the journal's `notes`
/// (why it waited, requeues, Celery's retries) placed among them by time.
pub fn events(t: &WorkerTask, notes: &[JournalNote]) -> Vec<TaskEvent> {
    let mut out = steps(t);
    // The ending stays last and the submit first, whatever the clocks say.
    let ended = usize::from(t.status.is_terminal() && t.finished_at.is_some());
    for n in notes {
        let last = out.len() - ended;
        let at = (1..last).find(|&i| out[i].at > n.at).unwrap_or(last);
        out.insert(at, note_event(n));
    }
    out
}

/// A journal note in words.
fn note_event(n: &JournalNote) -> TaskEvent {
    let (kind, text) = match n.kind {
        NoteKind::Waiting => (
            "waiting",
            match n.detail.parse::<BlockedBy>() {
                Ok(why) => format!("Waiting: {}.", why.label()),
                Err(_) => format!("Waiting: {}.", n.detail),
            },
        ),
        NoteKind::Requeued => ("requeued", format!("Back in the queue: {}", n.detail)),
        NoteKind::Retry => ("retry", format!("Celery retries it: {}", n.detail)),
    };
    TaskEvent {
        at: n.at,
        kind: kind.into(),
        text,
    }
}

/// The steps `t`'s own fields record.
fn steps(t: &WorkerTask) -> Vec<TaskEvent> {
    let mut out = vec![TaskEvent {
        at: t.created_at,
        kind: "submitted".into(),
        text: match (&t.retry_of, &t.tenant) {
            (Some(of), _) => format!("Submitted again, retrying task {of}."),
            (None, Some(tn)) => format!("Submitted for tenant {tn}, priority {}.", t.priority),
            (None, None) => format!("Submitted, priority {}.", t.priority),
        },
    }];
    if let Some(at) = t.started_at {
        out.push(TaskEvent {
            at,
            kind: "dispatched".into(),
            text: format!(
                "Took a slot; its Celery message ({}) was published.",
                t.task_name
            ),
        });
    }
    if let Some(at) = t.worker_started_at {
        out.push(TaskEvent {
            at,
            kind: "started".into(),
            text: match &t.worker {
                Some(w) => format!("Started on worker {w}."),
                None => "A worker started it.".into(),
            },
        });
    }
    if let Some(at) = t.resent_at {
        out.push(TaskEvent {
            at,
            kind: "resent".into(),
            text: format!(
                "Its message was sent again ({} time{}): {}",
                t.resends,
                if t.resends == 1 { "" } else { "s" },
                t.resend_reason
                    .as_deref()
                    .unwrap_or("it was lost on the way to a worker.")
            ),
        });
    }
    if let (Some(at), true) = (t.finished_at, t.status.is_terminal()) {
        let what = match t.status {
            TaskStatus::Completed => "Completed.".to_string(),
            TaskStatus::Failed => format!(
                "Failed: {}",
                t.error.as_deref().unwrap_or("no reason given.")
            ),
            _ => format!(
                "Cancelled{}",
                t.error
                    .as_deref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_else(|| ".".into())
            ),
        };
        out.push(TaskEvent {
            at,
            kind: t.status.as_str().into(),
            text: what,
        });
    }
    // Times come from different clocks (the pool's, the worker's): keep the order of the life.
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    #[test]
    fn a_failed_task_tells_each_step() {
        let at = |s| Utc.timestamp_opt(s, 0).unwrap();
        let t = WorkerTask {
            task_id: "t1".into(),
            task_name: "hubspot.all".into(),
            status: TaskStatus::Failed,
            created_at: at(10),
            started_at: Some(at(12)),
            worker_started_at: Some(at(13)),
            worker: Some("celery@w1".into()),
            finished_at: Some(at(20)),
            error: Some("SyncError: boom".into()),
            priority: 5,
            ..Default::default()
        };
        let e = events(&t, &[]);
        let kinds: Vec<&str> = e.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds, ["submitted", "dispatched", "started", "failed"]);
        assert_eq!(e[2].text, "Started on worker celery@w1.");
        assert_eq!(e[3].text, "Failed: SyncError: boom");
        assert_eq!(e[0].text, "Submitted, priority 5.");
    }

    #[test]
    fn notes_take_their_place_by_time_and_the_end_stays_last() {
        let at = |s| Utc.timestamp_opt(s, 0).unwrap();
        let t = WorkerTask {
            status: TaskStatus::Completed,
            created_at: at(10),
            started_at: Some(at(20)),
            worker_started_at: Some(at(21)),
            worker: Some("celery@w1".into()),
            finished_at: Some(at(30)),
            ..Default::default()
        };
        let note = |s, kind, detail: &str| JournalNote {
            at: at(s),
            kind,
            detail: detail.into(),
        };
        let e = events(
            &t,
            &[
                note(12, NoteKind::Waiting, "source_limit"),
                note(15, NoteKind::Waiting, "rate_limit"),
                note(25, NoteKind::Retry, "RuntimeError: try again"),
                // A note stamped after the end (another clock) still comes before it.
                note(31, NoteKind::Retry, "RuntimeError: again"),
            ],
        );
        let kinds: Vec<&str> = e.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "submitted",
                "waiting",
                "waiting",
                "dispatched",
                "started",
                "retry",
                "retry",
                "completed"
            ]
        );
        assert_eq!(e[1].text, "Waiting: source at its limit.");
        assert_eq!(e[5].text, "Celery retries it: RuntimeError: try again");
    }

    #[test]
    fn a_queued_task_has_only_its_submit() {
        let t = WorkerTask {
            retry_of: Some("t0".into()),
            ..Default::default()
        };
        let e = events(&t, &[]);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].text, "Submitted again, retrying task t0.");
    }
}
