//! The task hash: its field names (short, because a million queued tasks each carry them)
//! and its decoding into the wire's `WorkerTask`.

use super::contract::{JournalNote, NoteKind, RunningEntry, StoreError};
use app::types::{TaskParameters, TaskStatus, WorkerTask};
use chrono::{DateTime, TimeZone, Utc};
use std::collections::HashMap;

/// Field names of the task hash. Short, because a million queued tasks each carry them.
pub const SOURCE: &str = "src";
pub const SYNC_TYPE: &str = "typ";
pub const NAME: &str = "name";
pub const PARAMS: &str = "par";
pub const PRIORITY: &str = "pri";
pub const STATUS: &str = "st";
pub const CREATED: &str = "ct";
pub const STARTED: &str = "sa";
pub const FINISHED: &str = "fa";
pub const ERROR: &str = "err";
pub const CELERY_ID: &str = "cid";
pub const TOKEN: &str = "tok";
pub const WORKER: &str = "wk";
pub const WORKER_STARTED: &str = "ws";
pub const PUBLISHED: &str = "pub";
pub const CANCEL_REQUESTED: &str = "cr";
pub const ATTEMPTS: &str = "att";
pub const RESENDS: &str = "rsn";
pub const RESENT: &str = "rsa";
pub const RESEND_REASON: &str = "rsw";
pub const LOST_SINCE: &str = "lsa";
pub const TENANT: &str = "tn";
pub const RETRY_OF: &str = "rof";
pub const RETRIED_BY: &str = "rby";

/// Parameters as stored: `full,batch_size,dry_run` as `0,1000,0` (a million queued tasks
/// each save the 40 bytes JSON would take).
pub fn encode_params(p: &TaskParameters) -> String {
    format!("{},{},{}", p.full as u8, p.batch_size, p.dry_run as u8)
}

/// Reads [`encode_params`]' format.
pub fn decode_params(id: &str, s: &str) -> Result<TaskParameters, StoreError> {
    let bad = || StoreError::Corrupt(format!("task {id} parameters {s:?}"));
    let mut parts = s.split(',');
    let flag = |p: Option<&str>| match p {
        Some("0") => Ok(false),
        Some("1") => Ok(true),
        _ => Err(bad()),
    };
    let full = flag(parts.next())?;
    let batch_size = parts.next().and_then(|b| b.parse().ok()).ok_or_else(bad)?;
    let dry_run = flag(parts.next())?;
    if parts.next().is_some() {
        return Err(bad());
    }
    Ok(TaskParameters {
        full,
        batch_size,
        dry_run,
    })
}

/// The Celery task name: stored only when it is not `<crm_source>.<sync_type>`.
pub fn task_name(stored: Option<&str>, crm_source: &str, sync_type: &str) -> String {
    match stored {
        Some(n) if !n.is_empty() => n.to_string(),
        _ => format!("{crm_source}.{sync_type}"),
    }
}

fn ms(map: &HashMap<String, String>, key: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
    match map.get(key) {
        None => Ok(None),
        Some(v) => {
            let n: i64 = v
                .parse()
                .map_err(|_| StoreError::Corrupt(format!("{key}={v:?} is not a number")))?;
            Ok(Utc.timestamp_millis_opt(n).single())
        }
    }
}

fn req<'a>(map: &'a HashMap<String, String>, id: &str, key: &str) -> Result<&'a str, StoreError> {
    map.get(key)
        .map(String::as_str)
        .ok_or_else(|| StoreError::Corrupt(format!("task {id} has no {key}")))
}

/// A `WorkerTask` from the hash's fields.
pub fn task(
    id: &str,
    map: &HashMap<String, String>,
    position: Option<u64>,
) -> Result<WorkerTask, StoreError> {
    let status: TaskStatus = req(map, id, STATUS)?
        .parse()
        .map_err(|e: String| StoreError::Corrupt(format!("task {id}: {e}")))?;
    let parameters = decode_params(id, req(map, id, PARAMS)?)?;
    let priority: i32 = req(map, id, PRIORITY)?
        .parse()
        .map_err(|_| StoreError::Corrupt(format!("task {id} priority")))?;
    let crm_source = req(map, id, SOURCE)?;
    let sync_type = req(map, id, SYNC_TYPE)?;
    Ok(WorkerTask {
        task_id: id.to_string(),
        crm_source: crm_source.to_string(),
        sync_type: sync_type.to_string(),
        task_name: task_name(map.get(NAME).map(String::as_str), crm_source, sync_type),
        parameters,
        priority,
        status,
        position: if status == TaskStatus::Queued {
            position
        } else {
            None
        },
        created_at: ms(map, CREATED)?
            .ok_or_else(|| StoreError::Corrupt(format!("task {id} has no {CREATED}")))?,
        started_at: ms(map, STARTED)?,
        finished_at: ms(map, FINISHED)?,
        error: map.get(ERROR).cloned(),
        worker: map.get(WORKER).cloned(),
        worker_started_at: ms(map, WORKER_STARTED)?,
        waiting_for_worker: status == TaskStatus::Running && !map.contains_key(WORKER_STARTED),
        resends: match map.get(RESENDS) {
            None => 0,
            Some(n) => n
                .parse()
                .map_err(|_| StoreError::Corrupt(format!("task {id} {RESENDS}={n:?}")))?,
        },
        resent_at: ms(map, RESENT)?,
        resend_reason: map.get(RESEND_REASON).cloned(),
        tenant: map.get(TENANT).cloned(),
        retry_of: map.get(RETRY_OF).cloned(),
        retried_by: map.get(RETRIED_BY).cloned(),
        ..WorkerTask::default()
    })
}

/// The fencing data of a running task's hash.
pub fn running_entry(id: &str, map: &HashMap<String, String>) -> Result<RunningEntry, StoreError> {
    Ok(RunningEntry {
        id: id.to_string(),
        celery_id: req(map, id, CELERY_ID)?.to_string(),
        token: req(map, id, TOKEN)?
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("task {id} token")))?,
        worker: map.get(WORKER).cloned(),
        published: map.get(PUBLISHED).map(|v| v == "1").unwrap_or(true),
        cancel_requested: map.contains_key(CANCEL_REQUESTED),
        worker_started: map.contains_key(WORKER_STARTED),
        attempts: map.get(ATTEMPTS).and_then(|a| a.parse().ok()).unwrap_or(1),
        lost_noted: map.contains_key(LOST_SINCE),
    })
}

/// One note of a task's journal, `<ms> <kind> <detail>` (see `log_key` in `lua/common.lua`);
/// `None` when it is not of that shape.
pub fn journal_note(line: &str) -> Option<JournalNote> {
    let mut parts = line.splitn(3, ' ');
    let at = Utc
        .timestamp_millis_opt(parts.next()?.parse().ok()?)
        .single()?;
    let kind = match parts.next()? {
        "w" => NoteKind::Waiting,
        "q" => NoteKind::Requeued,
        "r" => NoteKind::Retry,
        _ => return None,
    };
    Some(JournalNote {
        at,
        kind,
        detail: parts.next().unwrap_or_default().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_notes_read_back() {
        let n = journal_note("1764547200123 r RuntimeError: try again (run 1)").unwrap();
        assert_eq!(n.at.timestamp_millis(), 1_764_547_200_123);
        assert_eq!(n.kind, NoteKind::Retry);
        assert_eq!(n.detail, "RuntimeError: try again (run 1)");
        assert_eq!(
            journal_note("5 w source_limit").unwrap().kind,
            NoteKind::Waiting
        );
        assert_eq!(journal_note("5 q").unwrap().detail, "");
        for bad in ["", "x w y", "5 z y", "5"] {
            assert_eq!(journal_note(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn parameters_round_trip_compactly() {
        for p in [
            TaskParameters::default(),
            TaskParameters {
                full: true,
                batch_size: 1,
                dry_run: true,
            },
            TaskParameters {
                full: false,
                batch_size: 100_000,
                dry_run: true,
            },
        ] {
            let s = encode_params(&p);
            assert!(s.len() <= 10, "{s}");
            assert_eq!(decode_params("t", &s).unwrap(), p);
        }
        for bad in ["", "1,2", "2,5,0", "0,x,0", "0,5,0,1", "{}"] {
            assert!(decode_params("t", bad).is_err(), "{bad}");
        }
        assert_eq!(task_name(None, "a", "b"), "a.b");
        assert_eq!(task_name(Some(""), "a", "b"), "a.b");
        assert_eq!(task_name(Some("x.y"), "a", "b"), "x.y");
    }
}
