//! The task types the pool accepts, and the Celery task each one runs.
//!
//! The default registry holds the seed's five sync tasks. A deployment replaces it with a JSON
//! file (`WORKER_POOL_TASK_REGISTRY`):
//!
//! ```json
//! [{"crm_source": "hubspot", "sync_type": "all", "description": "HubSpot data synchronization"},
//!  {"crm_source": "five9", "sync_type": "contacts", "task_name": "crm.five9.sync_contacts"}]
//! ```
//!
//! `task_name` defaults to `<crm_source>.<sync_type>`. A type may also bound its tasks' time:
//! `max_runtime` (the pool revokes a task that runs longer; it ends failed) and
//! `max_queue_wait` (a task that waited longer ends cancelled without running), each a number
//! of seconds or a duration such as `"90m"` or `"2h"`.

use app::types::{TaskType, MAX_NAME_LEN};
use serde::Deserialize;
use std::path::Path;

/// Why a registry file was refused.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    /// The file is not a valid registry.
    #[error("{path}: {reason}")]
    Invalid { path: String, reason: String },
}

/// The accepted task types, in display order.
#[derive(Clone, Debug, PartialEq)]
pub struct Registry {
    types: Vec<TaskType>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    crm_source: String,
    sync_type: String,
    #[serde(default)]
    task_name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    max_runtime: Option<serde_json::Value>,
    #[serde(default)]
    max_queue_wait: Option<serde_json::Value>,
}

/// A time bound of a registry entry: a whole number of seconds or a duration text, from 1 s
/// to 30 days.
fn bound(v: Option<&serde_json::Value>, what: &str, key: &str) -> Result<Option<u64>, String> {
    let secs = match v {
        None | Some(serde_json::Value::Null) => return Ok(None),
        Some(serde_json::Value::Number(n)) => n.as_u64(),
        Some(serde_json::Value::String(t)) => crate::config::parse_duration(t).map(|d| d.as_secs()),
        Some(_) => None,
    };
    match secs {
        Some(s) if (1..=30 * 86_400).contains(&s) => Ok(Some(s)),
        _ => Err(format!(
            "{what}: {key} must be a number of seconds or a duration such as \"90m\", from 1 s to 30 days"
        )),
    }
}
fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_NAME_LEN
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
}

fn valid_task_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 200
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'))
}

impl Default for Registry {
    fn default() -> Self {
        let t = |src: &str, typ: &str, desc: &str| TaskType {
            crm_source: src.into(),
            sync_type: typ.into(),
            task_name: format!("{src}.{typ}"),
            description: desc.into(),
            max_runtime: None,
            max_queue_wait: None,
        };
        Registry {
            types: vec![
                t("five9", "contacts", "Five9 contact synchronization"),
                t("genius", "marketsharp_contacts", "MarketSharp contact sync"),
                t("hubspot", "all", "HubSpot data synchronization"),
                t("genius", "all", "All Genius CRM data"),
                t("arrivy", "all", "Arrivy data synchronization"),
            ],
        }
    }
}

impl Registry {
    /// Reads a registry file (a JSON list of entries).
    pub fn from_file(path: &Path) -> Result<Self, RegistryError> {
        let text = std::fs::read_to_string(path).map_err(|source| RegistryError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_json(&text).map_err(|reason| RegistryError::Invalid {
            path: path.display().to_string(),
            reason,
        })
    }

    /// Parses a registry from JSON text.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let entries: Vec<Entry> =
            serde_json::from_str(text).map_err(|e| format!("not a registry: {e}"))?;
        if entries.is_empty() {
            return Err("the registry is empty".into());
        }
        let mut types: Vec<TaskType> = Vec::with_capacity(entries.len());
        for e in entries {
            if !valid_name(&e.crm_source) || !valid_name(&e.sync_type) {
                return Err(format!(
                    "{:?}.{:?}: crm_source and sync_type are 1 to {MAX_NAME_LEN} letters, digits, _ or -",
                    e.crm_source, e.sync_type
                ));
            }
            let task_name = e
                .task_name
                .unwrap_or_else(|| format!("{}.{}", e.crm_source, e.sync_type));
            if !valid_task_name(&task_name) {
                return Err(format!("{task_name:?} is not a valid Celery task name"));
            }
            if types
                .iter()
                .any(|t| t.crm_source == e.crm_source && t.sync_type == e.sync_type)
            {
                return Err(format!("{}.{} is listed twice", e.crm_source, e.sync_type));
            }
            let what = format!("{}.{}", e.crm_source, e.sync_type);
            let max_runtime = bound(e.max_runtime.as_ref(), &what, "max_runtime")?;
            let max_queue_wait = bound(e.max_queue_wait.as_ref(), &what, "max_queue_wait")?;
            types.push(TaskType {
                max_runtime,
                max_queue_wait,
                description: e.description.unwrap_or_else(|| task_name.clone()),
                crm_source: e.crm_source,
                sync_type: e.sync_type,
                task_name,
            });
        }
        Ok(Registry { types })
    }

    /// The type for a source and sync type.
    pub fn lookup(&self, crm_source: &str, sync_type: &str) -> Option<&TaskType> {
        self.types
            .iter()
            .find(|t| t.crm_source == crm_source && t.sync_type == sync_type)
    }

    /// Every type, in display order.
    pub fn types(&self) -> &[TaskType] {
        &self.types
    }

    /// The sources (`crm_source`s) of the registered types, sorted, each once.
    pub fn sources(&self) -> Vec<String> {
        let mut out: Vec<String> = self.types.iter().map(|t| t.crm_source.clone()).collect();
        out.sort();
        out.dedup();
        out
    }

    /// True when `source` is the `crm_source` of a registered type.
    pub fn has_source(&self, source: &str) -> bool {
        self.types.iter().any(|t| t.crm_source == source)
    }

    /// `a.b, c.d, …` for error messages.
    pub fn names(&self) -> String {
        self.types
            .iter()
            .map(|t| format!("{}.{}", t.crm_source, t.sync_type))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_holds_the_seed_types() {
        let r = Registry::default();
        assert_eq!(r.types().len(), 5);
        assert_eq!(
            r.lookup("genius", "marketsharp_contacts")
                .unwrap()
                .task_name,
            "genius.marketsharp_contacts"
        );
        assert!(r.lookup("five9", "all").is_none());
    }

    #[test]
    fn from_json_checks_entries() {
        let r = Registry::from_json(r#"[{"crm_source":"a","sync_type":"b","task_name":"x.y"}]"#)
            .unwrap();
        assert_eq!(r.lookup("a", "b").unwrap().task_name, "x.y");
        let r = Registry::from_json(
            r#"[{"crm_source":"a","sync_type":"b","max_runtime":"2h","max_queue_wait":90}]"#,
        )
        .unwrap();
        let t = r.lookup("a", "b").unwrap();
        assert_eq!((t.max_runtime, t.max_queue_wait), (Some(7200), Some(90)));
        for bad in [
            "[]",
            "{}",
            r#"[{"crm_source":"a b","sync_type":"c"}]"#,
            r#"[{"crm_source":"a","sync_type":"b","extra":1}]"#,
            r#"[{"crm_source":"a","sync_type":"b"},{"crm_source":"a","sync_type":"b"}]"#,
            r#"[{"crm_source":"a","sync_type":"b","task_name":"x y"}]"#,
            r#"[{"crm_source":"a","sync_type":"b","max_runtime":0}]"#,
            r#"[{"crm_source":"a","sync_type":"b","max_runtime":"soon"}]"#,
            r#"[{"crm_source":"a","sync_type":"b","max_queue_wait":-5}]"#,
            r#"[{"crm_source":"a","sync_type":"b","max_queue_wait":true}]"#,
        ] {
            assert!(Registry::from_json(bad).is_err(), "{bad}");
        }
    }
}
