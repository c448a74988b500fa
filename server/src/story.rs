//! A task's story for its page and `GET tasks/<id>/story/`: the steps its own fields record,
//! in order. Pure: no I/O.

use app::types::{TaskEvent, TaskStatus, WorkerTask};

/// The steps of `t`'s life so far, oldest first.
pub fn events(t: &WorkerTask) -> Vec<TaskEvent> {
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
        let e = events(&t);
        let kinds: Vec<&str> = e.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds, ["submitted", "dispatched", "started", "failed"]);
        assert_eq!(e[2].text, "Started on worker celery@w1.");
        assert_eq!(e[3].text, "Failed: SyncError: boom");
        assert_eq!(e[0].text, "Submitted, priority 5.");
    }

    #[test]
    fn a_queued_task_has_only_its_submit() {
        let t = WorkerTask {
            retry_of: Some("t0".into()),
            ..Default::default()
        };
        let e = events(&t);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].text, "Submitted again, retrying task t0.");
    }
}
