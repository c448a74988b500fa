//! Configuration from the environment (and `.env`, which `main` loads first).
//!
//! Every variable is read in one place, validated once, and reported with its name when it is
//! wrong, so a typo stops the server at start-up instead of surfacing later.

use leptos::config::{Env, LeptosOptions};
use std::net::SocketAddr;
use std::time::Duration;

/// A variable that is set but cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{name}={value:?}: {reason}")]
pub struct ConfigError {
    /// The variable's name.
    pub name: &'static str,
    /// Its value, as given.
    pub value: String,
    /// Why it was refused.
    pub reason: String,
}

/// Everything the server needs to know about its surroundings.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where the HTTP server listens (`LEPTOS_SITE_ADDR`).
    pub site_addr: SocketAddr,
    /// The Redis that holds the pool's state (`REDIS_URL`).
    pub redis_url: String,
    /// How long a single Redis command may take before the request gives up.
    pub redis_timeout: Duration,
    /// Where cargo-leptos put the compiled site (`LEPTOS_SITE_ROOT`), and the rest of Leptos'
    /// own settings.
    pub leptos: LeptosOptions,
    /// `MAX_SYNC_WORKERS`: the limit an empty store starts with (the runtime value wins).
    pub max_sync_workers: u32,
    /// `WORKER_POOL_PREFIX`: the namespace of every key of this pool.
    pub prefix: String,
    /// `CELERY_BROKER_URL` (default `REDIS_URL`).
    pub broker_url: String,
    /// `CELERY_RESULT_BACKEND` (default the broker URL).
    pub result_backend_url: String,
    /// `WORKER_POOL_CELERY_QUEUE` (default `celery`).
    pub celery_queue: String,
    /// `WORKER_POOL_RETENTION`: how long finished tasks stay visible (default 24 h).
    pub retention: Duration,
    /// `WORKER_POOL_AUDIT_RETENTION`: how long the audit trail keeps a change (default 30 d).
    pub audit_retention: Duration,
    /// `WORKER_POOL_TASK_REGISTRY`: a JSON file replacing the default task types.
    pub registry_file: Option<std::path::PathBuf>,
    /// `WORKER_POOL_RECONCILE_INTERVAL`: how often the safety-net pass runs (default 30 s).
    pub reconcile_interval: Duration,
    /// `WORKER_POOL_STATUS_QUEUE_LIMIT`: how many queued tasks `status` lists (default 100).
    pub status_queue_limit: u32,
    /// `WORKER_POOL_REDIS_REPLICAS` (default 0: off) and `WORKER_POOL_REDIS_REPLICA_TIMEOUT`
    /// (default 1s): how many of the store's replicas must confirm each write the API
    /// acknowledges, and how long to wait for them.
    pub durability: Option<crate::store::Durability>,
    /// `WORKER_POOL_WORKER_TIMEOUT`: a Celery worker silent this long is gone (default 10 s).
    pub worker_timeout: Duration,
    /// `WORKER_POOL_ON_WORKER_LOST`: `fail` (default) or `requeue` the tasks of a lost worker.
    pub on_worker_lost: crate::store::OnWorkerLost,
    /// `WORKER_POOL_API_TOKEN`, `WORKER_POOL_ALLOWED_ORIGINS`, `WORKER_POOL_COOKIE_SECURE`.
    pub security: crate::auth::Security,
    /// `HOSTNAME` (default `localhost`): names this server in the `origin` of its messages.
    pub hostname: String,
    /// `WORKER_POOL_SOURCE_LIMITS` (`five9=1,hubspot=3`): the source limits an empty store
    /// starts with (the runtime values are kept in Redis).
    pub source_limits: Vec<(String, u32)>,
    /// `WORKER_POOL_COOLDOWN_PATTERN`: a failure whose error matches it cools its source down
    /// (default: HTTP 429, "too many requests" or "rate limit", any case).
    pub cooldown_pattern: regex::Regex,
    /// `WORKER_POOL_COOLDOWN`: the first automatic cool-down (default 60 s; doubling on each
    /// further one, up to 30 min).
    pub cooldown: Duration,
    /// `WORKER_POOL_PRIORITY_AGING` (`1m`: each minute waited counts as one priority point;
    /// default `off`, the seed's strict order).
    pub aging: Option<Duration>,
    /// `WORKER_POOL_WEBHOOK_URL` (comma-separated), `WORKER_POOL_WEBHOOK_SECRET` and
    /// `WORKER_POOL_WEBHOOK_TIMEOUT` (default 10 s): where finished tasks and cool-downs are
    /// posted, signed (none: no webhooks).
    pub webhooks: Option<crate::webhooks::WebhookSettings>,
}

/// The longest `WORKER_POOL_PRIORITY_AGING`: a point per day.
const AGING_MAX: Duration = Duration::from_secs(86_400);

/// `WORKER_POOL_PRIORITY_AGING`: `off` (or unset, or 0), or a duration from 1 ms to 1 day.
fn aging(env: &impl Lookup) -> Result<Option<Duration>, ConfigError> {
    let Some(value) = env.get("WORKER_POOL_PRIORITY_AGING") else {
        return Ok(None);
    };
    let v = value.trim();
    if v.is_empty() || v == "off" || v == "0" {
        return Ok(None);
    }
    match parse_duration(v) {
        Some(d) if !d.is_zero() && d <= AGING_MAX => Ok(Some(d)),
        _ => Err(ConfigError {
            name: "WORKER_POOL_PRIORITY_AGING",
            value,
            reason: "expected off, or the wait worth one priority point, from 1ms to 1d, such as 1m or 30s".into(),
        }),
    }
}

/// The default `WORKER_POOL_COOLDOWN_PATTERN`.
pub const DEFAULT_COOLDOWN_PATTERN: &str = r"(?i)\b429\b|too many requests|rate.?limit";

/// Reads variables through a function, so tests need not touch the process environment.
pub trait Lookup {
    /// The variable's value, if set and not empty.
    fn get(&self, name: &str) -> Option<String>;
}

impl<F: Fn(&str) -> Option<String>> Lookup for F {
    fn get(&self, name: &str) -> Option<String> {
        self(name).filter(|v| !v.trim().is_empty())
    }
}

/// The process environment.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn parse<T: std::str::FromStr>(
    env: &impl Lookup,
    name: &'static str,
    default: &str,
    what: &str,
) -> Result<T, ConfigError> {
    let value = env.get(name).unwrap_or_else(|| default.to_string());
    value.trim().parse().map_err(|_| ConfigError {
        name,
        value: value.clone(),
        reason: format!("expected {what}"),
    })
}

/// A Redis URL: direct, through Sentinel (kombu's `sentinel://h:p;sentinel://h:p`, whose
/// master is `WORKER_POOL_SENTINEL_MASTER`, or `redis+sentinel://h:p,h:p/<master>/<db>`), or a
/// Redis Cluster's (`redis+cluster://h:p,h:p`), kept in the form
/// [`crate::connection::Endpoint::url`] gives, which names a Sentinel's master.
fn redis_url_var(
    env: &impl Lookup,
    name: &'static str,
    default: &str,
) -> Result<String, ConfigError> {
    let value = env.get(name).unwrap_or_else(|| default.to_string());
    let master = env.get("WORKER_POOL_SENTINEL_MASTER");
    match crate::connection::Endpoint::parse(&value, master.as_deref().map(str::trim)) {
        Ok(endpoint) => Ok(endpoint.url()),
        Err(e) => Err(ConfigError {
            name,
            value: redact_url(&value),
            reason: match e.detail() {
                Some(detail)
                    if value.contains("sentinel://")
                        || value.starts_with(crate::connection::CLUSTER_SCHEME) =>
                {
                    detail.to_string()
                }
                _ if name == "CELERY_BROKER_URL" => "expected a Redis URL such as redis://127.0.0.1:6379/0, or RabbitMQ's amqp://user:password@host:5672/vhost".into(),
                _ => "expected a Redis URL such as redis://127.0.0.1:6379/0".into(),
            },
        }),
    }
}

/// `CELERY_BROKER_URL`: a Redis URL (every form [`redis_url_var`] reads) or RabbitMQ's
/// `amqp://`, `amqps://` or `pyamqp://` (kept in the form the AMQP client reads).
fn broker_url_var(env: &impl Lookup, redis_url: &str) -> Result<String, ConfigError> {
    match env.get("CELERY_BROKER_URL") {
        Some(value) if crate::celery::amqp::is_amqp_url(value.trim()) => {
            crate::celery::amqp::normalize_url(&value).map_err(|reason| ConfigError {
                name: "CELERY_BROKER_URL",
                value: redact_url(&value),
                reason,
            })
        }
        _ => redis_url_var(env, "CELERY_BROKER_URL", redis_url),
    }
}

/// A URL with its password replaced, for logs and error messages (each part of kombu's
/// `;`-joined Sentinel URLs).
pub fn redact_url(url: &str) -> String {
    if url.contains(';') {
        return url.split(';').map(redact_url).collect::<Vec<_>>().join(";");
    }
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((userinfo, host)) => {
                let user = userinfo.split(':').next().unwrap_or("");
                if userinfo.contains(':') {
                    format!("{scheme}://{user}:***@{host}")
                } else {
                    format!("{scheme}://***@{host}")
                }
            }
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

/// Parses `90`, `90s`, `15m`, `24h` or `7d` (a bare number is seconds).
pub fn parse_duration(text: &str) -> Option<Duration> {
    let t = text.trim();
    let (num, unit) = match t.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => (&t[..i], &t[i..]),
        None => (t, "s"),
    };
    let n: u64 = num.parse().ok()?;
    if unit.trim() == "ms" {
        return Some(Duration::from_millis(n));
    }
    let secs = match unit.trim() {
        "s" | "sec" => n,
        "m" | "min" => n.checked_mul(60)?,
        "h" => n.checked_mul(3600)?,
        "d" => n.checked_mul(86_400)?,
        _ => return None,
    };
    Some(Duration::from_secs(secs))
}

/// The webhook settings: URLs (http or https), the secret (16+ characters, required with
/// URLs) and the timeout.
fn webhooks(env: &impl Lookup) -> Result<Option<crate::webhooks::WebhookSettings>, ConfigError> {
    let urls: Vec<String> = env
        .get("WORKER_POOL_WEBHOOK_URL")
        .map(|v| {
            v.split(',')
                .map(|u| u.trim().to_string())
                .filter(|u| !u.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let timeout = duration(
        env,
        "WORKER_POOL_WEBHOOK_TIMEOUT",
        "10s",
        Duration::from_millis(100),
    )?;
    let secret = env.get("WORKER_POOL_WEBHOOK_SECRET");
    if urls.is_empty() {
        return Ok(None);
    }
    for u in &urls {
        let ok = reqwest::Url::parse(u)
            .ok()
            .is_some_and(|p| matches!(p.scheme(), "http" | "https") && p.host().is_some());
        if !ok {
            return Err(ConfigError {
                name: "WORKER_POOL_WEBHOOK_URL",
                value: u.clone(),
                reason: "expected http:// or https:// URLs, comma-separated".into(),
            });
        }
    }
    let Some(secret) = secret.map(|s| s.trim().to_string()) else {
        return Err(ConfigError {
            name: "WORKER_POOL_WEBHOOK_SECRET",
            value: String::new(),
            reason: "required with WORKER_POOL_WEBHOOK_URL: every webhook is signed with it".into(),
        });
    };
    if secret.len() < 16 {
        return Err(ConfigError {
            name: "WORKER_POOL_WEBHOOK_SECRET",
            value: "(hidden)".into(),
            reason: "expected at least 16 characters".into(),
        });
    }
    Ok(Some(crate::webhooks::WebhookSettings {
        urls,
        secret,
        timeout,
    }))
}

fn duration(
    env: &impl Lookup,
    name: &'static str,
    default: &str,
    min: Duration,
) -> Result<Duration, ConfigError> {
    let value = env.get(name).unwrap_or_else(|| default.to_string());
    match parse_duration(&value) {
        Some(d) if d >= min => Ok(d),
        _ => Err(ConfigError {
            name,
            value,
            reason: format!(
                "expected a duration of at least {}s such as 90s, 15m, 24h or 7d",
                min.as_secs()
            ),
        }),
    }
}

fn ranged(
    env: &impl Lookup,
    name: &'static str,
    default: u32,
    lo: u32,
    hi: u32,
) -> Result<u32, ConfigError> {
    let value = env.get(name).unwrap_or_else(|| default.to_string());
    match value.trim().parse::<u32>() {
        Ok(v) if (lo..=hi).contains(&v) => Ok(v),
        _ => Err(ConfigError {
            name,
            value,
            reason: format!("expected a whole number from {lo} to {hi}"),
        }),
    }
}

fn token(
    env: &impl Lookup,
    name: &'static str,
    default: &str,
    what: &str,
) -> Result<String, ConfigError> {
    let value = env.get(name).unwrap_or_else(|| default.to_string());
    let ok = !value.is_empty()
        && value.len() <= 100
        && value
            .chars()
            .all(|c| c.is_ascii_graphic() && !matches!(c, '*' | '?' | '[' | ']'));
    if ok {
        Ok(value)
    } else {
        Err(ConfigError {
            name,
            value,
            reason: format!(
                "expected {what}: 1 to 100 printable ASCII characters without spaces or * ? [ ]"
            ),
        })
    }
}

/// `WORKER_POOL_SOURCE_LIMITS`: `source=limit` pairs, comma-separated.
fn source_limits(env: &impl Lookup) -> Result<Vec<(String, u32)>, ConfigError> {
    let name = "WORKER_POOL_SOURCE_LIMITS";
    let Some(value) = env.get(name) else {
        return Ok(Vec::new());
    };
    value
        .split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|pair| {
            let parsed = pair.split_once('=').and_then(|(s, n)| {
                let n: u32 = n.trim().parse().ok()?;
                let s = s.trim();
                (!s.is_empty() && (1..=app::types::MAX_SOURCE_LIMIT).contains(&n))
                    .then(|| (s.to_string(), n))
            });
            parsed.ok_or_else(|| ConfigError {
                name,
                value: value.clone(),
                reason: format!(
                    "expected source=limit pairs such as five9=1,hubspot=3 (limits 1 to {}), not {pair:?}",
                    app::types::MAX_SOURCE_LIMIT
                ),
            })
        })
        .collect()
}

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(&process_env)
    }

    /// Reads the configuration through `env`.
    pub fn from_lookup(env: &impl Lookup) -> Result<Self, ConfigError> {
        let site_addr: SocketAddr = parse(
            env,
            "LEPTOS_SITE_ADDR",
            "127.0.0.1:3000",
            "a socket address such as 127.0.0.1:3000",
        )?;
        let redis_url = redis_url_var(env, "REDIS_URL", "redis://127.0.0.1:6379/0")?;
        let redis_timeout_ms: u64 = parse(
            env,
            "WORKER_POOL_REDIS_TIMEOUT_MS",
            "2000",
            "a number of milliseconds",
        )?;
        let leptos_env = match env
            .get("LEPTOS_ENV")
            .as_deref()
            .map(str::to_ascii_uppercase)
            .as_deref()
        {
            None | Some("PROD") | Some("PRODUCTION") => Env::PROD,
            Some("DEV") | Some("DEVELOPMENT") => Env::DEV,
            Some(other) => {
                return Err(ConfigError {
                    name: "LEPTOS_ENV",
                    value: other.to_string(),
                    reason: "expected DEV or PROD".into(),
                })
            }
        };
        let leptos = LeptosOptions::builder()
            .output_name(
                env.get("LEPTOS_OUTPUT_NAME")
                    .unwrap_or_else(|| "worker-pool".into()),
            )
            .site_root(
                env.get("LEPTOS_SITE_ROOT")
                    .unwrap_or_else(|| "target/site".into()),
            )
            .site_pkg_dir(
                env.get("LEPTOS_SITE_PKG_DIR")
                    .unwrap_or_else(|| "pkg".into()),
            )
            .site_addr(site_addr)
            .env(leptos_env)
            .build();
        let max_sync_workers = ranged(
            env,
            "MAX_SYNC_WORKERS",
            1,
            app::types::MIN_WORKERS,
            app::types::MAX_WORKERS,
        )?;
        let prefix = token(env, "WORKER_POOL_PREFIX", "worker_pool", "a key prefix")?;
        let broker_url = broker_url_var(env, &redis_url)?;
        // Celery's results stay in Redis with a RabbitMQ broker: the broker's Redis by
        // default, else the pool's own.
        let backend_default = if crate::celery::amqp::is_amqp_url(&broker_url) {
            redis_url.clone()
        } else {
            broker_url.clone()
        };
        let result_backend_url = redis_url_var(env, "CELERY_RESULT_BACKEND", &backend_default)?;
        let celery_queue = token(env, "WORKER_POOL_CELERY_QUEUE", "celery", "a queue name")?;
        let retention = duration(env, "WORKER_POOL_RETENTION", "24h", Duration::from_secs(1))?;
        let audit_retention = duration(
            env,
            "WORKER_POOL_AUDIT_RETENTION",
            "30d",
            Duration::from_secs(60),
        )?;
        let reconcile_interval = duration(
            env,
            "WORKER_POOL_RECONCILE_INTERVAL",
            "30s",
            Duration::from_secs(1),
        )?;
        let status_queue_limit = ranged(env, "WORKER_POOL_STATUS_QUEUE_LIMIT", 100, 0, 10_000)?;
        let replicas = ranged(env, "WORKER_POOL_REDIS_REPLICAS", 0, 0, 16)?;
        let replica_timeout = duration(
            env,
            "WORKER_POOL_REDIS_REPLICA_TIMEOUT",
            "1s",
            Duration::from_millis(1),
        )?;
        if replica_timeout > Duration::from_secs(60) {
            return Err(ConfigError {
                name: "WORKER_POOL_REDIS_REPLICA_TIMEOUT",
                value: env
                    .get("WORKER_POOL_REDIS_REPLICA_TIMEOUT")
                    .unwrap_or_default(),
                reason: "expected at most 60s: a write waits this long before its answer".into(),
            });
        }
        let cluster = redis_url.starts_with(crate::connection::CLUSTER_SCHEME);
        for (name, url) in [
            ("CELERY_BROKER_URL", &broker_url),
            ("CELERY_RESULT_BACKEND", &result_backend_url),
        ] {
            if url.starts_with(crate::connection::CLUSTER_SCHEME) {
                return Err(ConfigError {
                    name,
                    value: redact_url(url),
                    reason: "Celery cannot use a Redis Cluster (kombu and its Redis backend do not support Cluster): only REDIS_URL, the pool's own store, can be one; give Celery a Redis of its own".into(),
                });
            }
        }
        if cluster && replicas > 0 {
            return Err(ConfigError {
                name: "WORKER_POOL_REDIS_REPLICAS",
                value: replicas.to_string(),
                reason: "not supported with a Redis Cluster store (WAIT must reach the node that ran the write); use 0".into(),
            });
        }
        let durability = (replicas > 0).then_some(crate::store::Durability {
            replicas,
            timeout: replica_timeout,
        });
        // Celery workers send a heartbeat every 2 s: anything shorter than two would misjudge.
        let worker_timeout = duration(
            env,
            "WORKER_POOL_WORKER_TIMEOUT",
            "10s",
            Duration::from_secs(4),
        )?;
        let source_limits = source_limits(env)?;
        let pattern = env
            .get("WORKER_POOL_COOLDOWN_PATTERN")
            .unwrap_or_else(|| DEFAULT_COOLDOWN_PATTERN.to_string());
        let cooldown_pattern = regex::Regex::new(&pattern).map_err(|e| ConfigError {
            name: "WORKER_POOL_COOLDOWN_PATTERN",
            value: pattern.clone(),
            reason: format!("expected a regular expression ({e})"),
        })?;
        let cooldown = duration(env, "WORKER_POOL_COOLDOWN", "60s", Duration::from_secs(1))?;
        let aging = aging(env)?;
        let webhooks = webhooks(env)?;
        let on_worker_lost = match env
            .get("WORKER_POOL_ON_WORKER_LOST")
            .as_deref()
            .map(str::trim)
        {
            None | Some("fail") => crate::store::OnWorkerLost::Fail,
            Some("requeue") => crate::store::OnWorkerLost::Requeue,
            Some(other) => {
                return Err(ConfigError {
                    name: "WORKER_POOL_ON_WORKER_LOST",
                    value: other.to_string(),
                    reason: "expected fail or requeue".into(),
                })
            }
        };
        let token_ok = |t: &str| t.len() >= 16 && t.chars().all(|c| c.is_ascii_graphic());
        let mut api_tokens = Vec::new();
        if let Some(t) = env
            .get("WORKER_POOL_API_TOKEN")
            .map(|t| t.trim().to_string())
        {
            if !token_ok(&t) {
                return Err(ConfigError {
                    name: "WORKER_POOL_API_TOKEN",
                    value: "(hidden)".into(),
                    reason: "expected at least 16 printable ASCII characters without spaces".into(),
                });
            }
            api_tokens.push((crate::auth::DEFAULT_TOKEN_NAME.to_string(), t));
        }
        if let Some(list) = env.get("WORKER_POOL_API_TOKENS") {
            for item in list.split(',').map(str::trim).filter(|i| !i.is_empty()) {
                let bad = |reason: &str| ConfigError {
                    name: "WORKER_POOL_API_TOKENS",
                    value: "(hidden)".into(),
                    reason: reason.to_string(),
                };
                let (name, token) = item
                    .split_once(':')
                    .ok_or_else(|| bad("expected name:token pairs, comma-separated"))?;
                let name = name.trim();
                if name.is_empty()
                    || name.len() > 64
                    || !name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
                {
                    return Err(bad(
                        "a token's name has 1 to 64 characters of A-Z a-z 0-9 . _ -",
                    ));
                }
                if !token_ok(token.trim()) {
                    return Err(bad(&format!(
                        "the token named {name} needs at least 16 printable ASCII characters without spaces"
                    )));
                }
                if api_tokens
                    .iter()
                    .any(|(n, t)| n == name || t == token.trim())
                {
                    return Err(bad(&format!("the name or token of {name} is used twice")));
                }
                api_tokens.push((name.to_string(), token.trim().to_string()));
            }
        }
        let allowed_origins: Vec<String> = env
            .get("WORKER_POOL_ALLOWED_ORIGINS")
            .map(|v| {
                v.split(',')
                    .map(|o| o.trim().trim_end_matches('/').to_string())
                    .filter(|o| !o.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        if let Some(bad) = allowed_origins
            .iter()
            .find(|o| !(o.starts_with("http://") || o.starts_with("https://")))
        {
            return Err(ConfigError {
                name: "WORKER_POOL_ALLOWED_ORIGINS",
                value: bad.clone(),
                reason:
                    "expected a comma-separated list of origins such as https://ops.example.com"
                        .into(),
            });
        }
        let secure_cookie = match env
            .get("WORKER_POOL_COOKIE_SECURE")
            .as_deref()
            .map(str::trim)
        {
            None | Some("0") | Some("false") => false,
            Some("1") | Some("true") => true,
            Some(other) => {
                return Err(ConfigError {
                    name: "WORKER_POOL_COOKIE_SECURE",
                    value: other.into(),
                    reason: "expected true or false".into(),
                })
            }
        };
        Ok(Config {
            site_addr,
            redis_url,
            redis_timeout: Duration::from_millis(redis_timeout_ms.max(1)),
            leptos,
            max_sync_workers,
            prefix,
            broker_url,
            result_backend_url,
            celery_queue,
            retention,
            audit_retention,
            registry_file: env
                .get("WORKER_POOL_TASK_REGISTRY")
                .map(std::path::PathBuf::from),
            reconcile_interval,
            status_queue_limit,
            durability,
            worker_timeout,
            on_worker_lost,
            security: crate::auth::Security {
                api_tokens,
                allowed_origins,
                secure_cookie,
            },
            hostname: env.get("HOSTNAME").unwrap_or_else(|| "localhost".into()),
            source_limits,
            cooldown_pattern,
            cooldown,
            aging,
            webhooks,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn check(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(&move |k: &str| map.get(k).cloned())
    }

    #[test]
    fn a_cluster_holds_the_store_only() {
        let cluster = "redis+cluster://10.0.0.1:7000,10.0.0.2:7000";
        let c = check(&[
            ("REDIS_URL", cluster),
            ("CELERY_BROKER_URL", "redis://10.0.0.9:6379/0"),
        ])
        .unwrap();
        assert_eq!(c.redis_url, cluster);
        assert_eq!(c.result_backend_url, "redis://10.0.0.9:6379/0");
        // Celery's broker defaults to REDIS_URL: not a cluster's.
        let e = check(&[("REDIS_URL", cluster)]).unwrap_err();
        assert_eq!(e.name, "CELERY_BROKER_URL");
        assert!(e.reason.contains("Cluster"), "{}", e.reason);
        let e = check(&[
            ("REDIS_URL", "redis://10.0.0.9:6379/0"),
            ("CELERY_RESULT_BACKEND", cluster),
        ])
        .unwrap_err();
        assert_eq!(e.name, "CELERY_RESULT_BACKEND");
        let e = check(&[
            ("REDIS_URL", cluster),
            ("CELERY_BROKER_URL", "redis://10.0.0.9:6379/0"),
            ("WORKER_POOL_REDIS_REPLICAS", "1"),
        ])
        .unwrap_err();
        assert_eq!(e.name, "WORKER_POOL_REDIS_REPLICAS");
        let e = check(&[("REDIS_URL", "redis+cluster://a:1/2")]).unwrap_err();
        assert_eq!(e.name, "REDIS_URL");
    }

    #[test]
    fn replicas_to_wait_for() {
        assert_eq!(check(&[]).unwrap().durability, None, "off by default");
        let on = check(&[("WORKER_POOL_REDIS_REPLICAS", "1")]).unwrap();
        assert_eq!(
            on.durability,
            Some(crate::store::Durability {
                replicas: 1,
                timeout: Duration::from_secs(1)
            })
        );
        let d = check(&[
            ("WORKER_POOL_REDIS_REPLICAS", "2"),
            ("WORKER_POOL_REDIS_REPLICA_TIMEOUT", "250ms"),
        ])
        .unwrap()
        .durability
        .unwrap();
        assert_eq!((d.replicas, d.timeout), (2, Duration::from_millis(250)));
        for (name, value) in [
            ("WORKER_POOL_REDIS_REPLICAS", "17"),
            ("WORKER_POOL_REDIS_REPLICAS", "one"),
            ("WORKER_POOL_REDIS_REPLICA_TIMEOUT", "2m"),
            ("WORKER_POOL_REDIS_REPLICA_TIMEOUT", "0ms"),
        ] {
            assert_eq!(check(&[(name, value)]).unwrap_err().name, name, "{value}");
        }
    }

    #[test]
    fn defaults() {
        let c = check(&[]).unwrap();
        assert_eq!(c.site_addr.to_string(), "127.0.0.1:3000");
        assert_eq!(c.redis_url, "redis://127.0.0.1:6379/0");
        assert_eq!(&*c.leptos.output_name, "worker-pool");
        assert_eq!(&*c.leptos.site_root, "target/site");
    }

    #[test]
    fn overrides_and_errors_name_the_variable() {
        let c = check(&[
            ("LEPTOS_SITE_ADDR", "0.0.0.0:8080"),
            ("REDIS_URL", "redis://h:1/3"),
        ])
        .unwrap();
        assert_eq!(c.site_addr.port(), 8080);
        assert_eq!(c.redis_url, "redis://h:1/3");
        assert_eq!(
            check(&[("LEPTOS_SITE_ADDR", "nope")]).unwrap_err().name,
            "LEPTOS_SITE_ADDR"
        );
        assert_eq!(
            check(&[("REDIS_URL", "http://x")]).unwrap_err().name,
            "REDIS_URL"
        );
        assert_eq!(
            check(&[("LEPTOS_ENV", "staging")]).unwrap_err().name,
            "LEPTOS_ENV"
        );
        // Empty counts as unset.
        assert_eq!(
            check(&[("LEPTOS_SITE_ADDR", " ")])
                .unwrap()
                .site_addr
                .port(),
            3000
        );
    }

    #[test]
    fn pool_settings() {
        let c = check(&[]).unwrap();
        assert_eq!(c.max_sync_workers, 1);
        assert_eq!(c.prefix, "worker_pool");
        assert_eq!(c.broker_url, c.redis_url);
        assert_eq!(c.result_backend_url, c.redis_url);
        assert_eq!(c.retention, Duration::from_secs(86_400));
        let c = check(&[
            ("MAX_SYNC_WORKERS", "64"),
            ("CELERY_BROKER_URL", "redis://b:1/2"),
            ("WORKER_POOL_RETENTION", "90m"),
        ])
        .unwrap();
        assert_eq!(c.max_sync_workers, 64);
        assert_eq!(c.result_backend_url, "redis://b:1/2");
        assert_eq!(c.retention, Duration::from_secs(5400));
        for (k, v) in [
            ("MAX_SYNC_WORKERS", "0"),
            ("MAX_SYNC_WORKERS", "65"),
            ("MAX_SYNC_WORKERS", "two"),
            ("WORKER_POOL_PREFIX", "a b"),
            ("WORKER_POOL_PREFIX", "a*"),
            ("WORKER_POOL_RETENTION", "soon"),
            ("WORKER_POOL_RETENTION", "0"),
            ("WORKER_POOL_CELERY_QUEUE", "x y"),
            ("WORKER_POOL_WORKER_TIMEOUT", "2s"),
            ("WORKER_POOL_ON_WORKER_LOST", "retry"),
            ("WORKER_POOL_API_TOKEN", "short"),
            ("WORKER_POOL_ALLOWED_ORIGINS", "ops.example"),
            ("WORKER_POOL_COOKIE_SECURE", "maybe"),
        ] {
            assert_eq!(check(&[(k, v)]).unwrap_err().name, k, "{k}={v}");
        }
    }

    #[test]
    fn tokens_are_never_echoed() {
        let err = check(&[("WORKER_POOL_API_TOKEN", "sekrit sekrit")]).unwrap_err();
        assert!(!err.to_string().contains("sekrit"), "{err}");
        let c = check(&[("WORKER_POOL_API_TOKEN", "0123456789abcdef-long-enough")]).unwrap();
        assert!(c.security.auth_required());
    }

    #[test]
    fn named_tokens_and_the_audit_retention() {
        let c = check(&[
            ("WORKER_POOL_API_TOKEN", "0123456789abcdef-default"),
            (
                "WORKER_POOL_API_TOKENS",
                "ci:0123456789abcdef-ci , ops.team:0123456789abcdef-ops",
            ),
            ("WORKER_POOL_AUDIT_RETENTION", "7d"),
        ])
        .unwrap();
        let names: Vec<&str> = c
            .security
            .api_tokens
            .iter()
            .map(|(n, _)| n.as_str())
            .collect();
        assert_eq!(names, ["api-token", "ci", "ops.team"]);
        assert_eq!(
            c.security.token_name("0123456789abcdef-ops"),
            Some("ops.team")
        );
        assert_eq!(c.audit_retention, Duration::from_secs(7 * 86_400));
        assert_eq!(
            check(&[]).unwrap().audit_retention,
            Duration::from_secs(30 * 86_400)
        );
        for bad in [
            "ci",
            "ci:short",
            "bad name:0123456789abcdef-x",
            ":0123456789abcdef-x",
            "a:0123456789abcdef-x,a:0123456789abcdef-y",
            "a:0123456789abcdef-x,b:0123456789abcdef-x",
        ] {
            let err = check(&[("WORKER_POOL_API_TOKENS", bad)]).unwrap_err();
            assert_eq!(err.name, "WORKER_POOL_API_TOKENS", "{bad}");
            assert!(!err.to_string().contains("0123456789abcdef"), "{err}");
        }
        let err = check(&[("WORKER_POOL_AUDIT_RETENTION", "5s")]).unwrap_err();
        assert_eq!(err.name, "WORKER_POOL_AUDIT_RETENTION");
    }

    #[test]
    fn priority_aging() {
        assert_eq!(check(&[]).unwrap().aging, None);
        assert_eq!(
            check(&[("WORKER_POOL_PRIORITY_AGING", "off")])
                .unwrap()
                .aging,
            None
        );
        assert_eq!(
            check(&[("WORKER_POOL_PRIORITY_AGING", "1m")])
                .unwrap()
                .aging,
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            check(&[("WORKER_POOL_PRIORITY_AGING", "50ms")])
                .unwrap()
                .aging,
            Some(Duration::from_millis(50))
        );
        for bad in ["2d", "soon", "-1m", "0ms"] {
            let e = check(&[("WORKER_POOL_PRIORITY_AGING", bad)]).unwrap_err();
            assert_eq!(e.name, "WORKER_POOL_PRIORITY_AGING", "{bad}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("2d"), Some(Duration::from_secs(172_800)));
        assert_eq!(parse_duration("1w"), None);
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration(""), None);
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("redis://:secret@h:6379/0"),
            "redis://:***@h:6379/0"
        );
        assert_eq!(redact_url("redis://u:secret@h/0"), "redis://u:***@h/0");
        assert_eq!(redact_url("redis://h:6379/0"), "redis://h:6379/0");
        let err = check(&[("REDIS_URL", "http://u:pw@h")]).unwrap_err();
        assert!(!err.to_string().contains("pw"), "{err}");
        assert_eq!(
            redact_url("sentinel://:pw@a:1/0;sentinel://:pw@b:2/0"),
            "sentinel://:***@a:1/0;sentinel://:***@b:2/0"
        );
    }

    #[test]
    fn sentinel_urls_in_celerys_form_take_the_master_from_its_own_variable() {
        let c = check(&[
            ("REDIS_URL", "sentinel://:pw@s1:26379/2;sentinel://s2:26380"),
            ("WORKER_POOL_SENTINEL_MASTER", "mymaster"),
        ])
        .unwrap();
        assert_eq!(
            c.redis_url,
            "redis+sentinel://:pw@s1:26379,s2:26380/mymaster/2"
        );
        // The broker and the backend default to it, the master's name included.
        assert_eq!(c.broker_url, c.redis_url);
        assert_eq!(c.result_backend_url, c.redis_url);
        let c = check(&[
            ("CELERY_BROKER_URL", "redis+sentinel://s1,s2:1/other/1"),
            ("CELERY_RESULT_BACKEND", "sentinel://s3"),
            ("WORKER_POOL_SENTINEL_MASTER", "mymaster"),
        ])
        .unwrap();
        assert_eq!(c.redis_url, "redis://127.0.0.1:6379/0");
        assert_eq!(c.broker_url, "redis+sentinel://s1:26379,s2:1/other/1");
        assert_eq!(c.result_backend_url, "redis+sentinel://s3:26379/mymaster/0");
        let err = check(&[("REDIS_URL", "sentinel://s1:26379")]).unwrap_err();
        assert_eq!(err.name, "REDIS_URL");
        assert!(
            err.to_string().contains("WORKER_POOL_SENTINEL_MASTER"),
            "{err}"
        );
        let err = check(&[("REDIS_URL", "redis+sentinel://s1:26379")]).unwrap_err();
        assert!(err.to_string().contains("master"), "{err}");
        for bad in [
            "redis+sentinel://s1:x/m/0",
            "redis+sentinel://s1/m/zero",
            "sentinel://s1;redis://s2",
        ] {
            let err =
                check(&[("REDIS_URL", bad), ("WORKER_POOL_SENTINEL_MASTER", "m")]).unwrap_err();
            assert_eq!(err.name, "REDIS_URL", "{bad}");
        }
    }

    #[test]
    fn a_rabbitmq_broker_keeps_its_results_in_redis() {
        let c = check(&[
            ("REDIS_URL", "redis://10.0.0.5:6379/2"),
            ("CELERY_BROKER_URL", "amqp://app:s3cret@rabbit:5672//"),
        ])
        .unwrap();
        assert_eq!(c.broker_url, "amqp://app:s3cret@rabbit:5672/%2F");
        assert_eq!(
            c.result_backend_url, c.redis_url,
            "Celery's results stay in Redis: the pool's own unless set"
        );
        let c = check(&[
            ("CELERY_BROKER_URL", "pyamqp://rabbit/crm"),
            ("CELERY_RESULT_BACKEND", "redis://results:6379/1"),
        ])
        .unwrap();
        assert_eq!(c.broker_url, "amqp://rabbit/crm");
        assert_eq!(c.result_backend_url, "redis://results:6379/1");
        for bad in ["amqp://", "amqp://u:p@/v", "amqp://h:port/v"] {
            let err = check(&[("CELERY_BROKER_URL", bad)]).unwrap_err();
            assert_eq!(err.name, "CELERY_BROKER_URL", "{bad}");
            assert!(err.reason.contains("AMQP"), "{}", err.reason);
        }
        let err = check(&[("CELERY_BROKER_URL", "http://x")]).unwrap_err();
        assert!(err.reason.contains("amqp://"), "{}", err.reason);
        // A result backend must be Redis, whatever the broker.
        let err = check(&[
            ("CELERY_BROKER_URL", "amqp://rabbit/"),
            ("CELERY_RESULT_BACKEND", "amqp://rabbit/"),
        ])
        .unwrap_err();
        assert_eq!(err.name, "CELERY_RESULT_BACKEND");
    }
}
