//! One way to talk to Redis, for the store and the broker alike: a lazy, self-reconnecting
//! connection whose every command gives up after a deadline. The server starts (and
//! `/healthz` answers) while Redis is down, and a Redis that stops answering costs a request
//! at most the deadline, never a hang. A leaf: it uses nothing else of this crate.
//!
//! A database is reached directly (`redis://`, `rediss://`, `unix://`) or through Redis
//! Sentinel ([`Endpoint::Sentinel`]): then the connection asks the Sentinels which server is
//! the primary, checks with `ROLE` that it is, and asks again whenever the primary stops
//! answering or refuses a write (`READONLY`), so it follows a failover by itself. The
//! pool's store can also live on a Redis Cluster ([`Endpoint::Cluster`]): commands go to the
//! node that serves their key's slot, following the cluster's own redirections.

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{FromRedisValue, RedisResult};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// Why a command did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// Redis refused the command or the connection broke.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// Redis did not answer in time.
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
}

impl CallError {
    /// True when Redis could not be reached (as opposed to answering something odd).
    pub fn is_unavailable(&self) -> bool {
        match self {
            CallError::Timeout(_) => true,
            CallError::Redis(e) => {
                e.is_io_error()
                    || e.is_connection_dropped()
                    || e.is_connection_refusal()
                    || e.is_timeout()
            }
        }
    }
}

/// The URL scheme of a database reached through Sentinel, in the one form the pool keeps
/// (`redis+sentinel://[user:password@]host:port[,host:port…]/<master>[/<db>]`).
pub const SENTINEL_SCHEME: &str = "redis+sentinel://";
/// Kombu's and Celery's Sentinel URL scheme (`sentinel://host:port;sentinel://host:port`, the
/// master's name given apart).
pub const KOMBU_SENTINEL_SCHEME: &str = "sentinel://";
/// The URL scheme of a Redis Cluster (`redis+cluster://[user:password@]host:port[,host:port…]`):
/// some of its nodes, from which the client learns the rest.
pub const CLUSTER_SCHEME: &str = "redis+cluster://";

/// Where one Redis database is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// One server, by a URL the `redis` crate reads.
    Direct(String),
    /// Whichever server the Sentinels name as the primary of `master`.
    Sentinel(SentinelTarget),
    /// A Redis Cluster: each key on the node serving its slot (database 0 only).
    Cluster(ClusterTarget),
}

/// A Redis Cluster, by some of its nodes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterTarget {
    /// The nodes' `host:port`s the client starts from.
    pub nodes: Vec<String>,
    /// `user:password` or `:password`, as written in the URL (still percent-encoded).
    pub userinfo: Option<String>,
}

impl ClusterTarget {
    /// One `redis://` URL per starting node, with the credentials.
    pub fn node_urls(&self) -> Vec<String> {
        let cred = credentials(&self.userinfo);
        self.nodes
            .iter()
            .map(|n| format!("redis://{cred}{n}/0"))
            .collect()
    }
}

/// A database behind Redis Sentinel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentinelTarget {
    /// The Sentinels' `host:port`s, asked in turn.
    pub sentinels: Vec<String>,
    /// The monitored master's name (`SENTINEL get-master-addr-by-name <master>`).
    pub master: String,
    /// The database number on the primary.
    pub db: i64,
    /// `user:password` or `:password` for the Redis servers, as written in the URL (still
    /// percent-encoded); the Sentinels are asked without it.
    pub userinfo: Option<String>,
}

fn bad_url(what: String) -> redis::RedisError {
    redis::RedisError::from((
        redis::ErrorKind::InvalidClientConfig,
        "invalid Redis URL",
        what,
    ))
}

impl Endpoint {
    /// Reads a URL: a direct one, the `redis+sentinel://` form, or kombu's `sentinel://` form
    /// (one or more joined by `;`), whose master is `master` (`WORKER_POOL_SENTINEL_MASTER`).
    pub fn parse(url: &str, master: Option<&str>) -> RedisResult<Self> {
        let url = url.trim();
        if let Some(rest) = url.strip_prefix(CLUSTER_SCHEME) {
            let (userinfo, rest) = split_userinfo(rest);
            let (hosts, db) = rest.split_once('/').unwrap_or((rest, ""));
            let db = db.trim_end_matches('/');
            if !db.is_empty() && parse_db(Some(db))? != 0 {
                return Err(bad_url(format!(
                    "a Redis Cluster has database 0 only, not {db:?}"
                )));
            }
            let nodes = hosts
                .split(',')
                .map(|h| node_addr(h, "a Redis Cluster node", 6379))
                .collect::<RedisResult<Vec<_>>>()?;
            return Ok(Endpoint::Cluster(ClusterTarget { nodes, userinfo }));
        }
        if let Some(rest) = url.strip_prefix(SENTINEL_SCHEME) {
            let (userinfo, rest) = split_userinfo(rest);
            let mut parts = rest.splitn(3, '/');
            let hosts = parts.next().unwrap_or("");
            let named = parts.next().filter(|m| !m.is_empty());
            let db = parts.next().filter(|d| !d.is_empty());
            let master = named.or(master).ok_or_else(|| {
                bad_url(format!(
                    "{SENTINEL_SCHEME} needs the master's name after the hosts (…/mymaster/0)"
                ))
            })?;
            let sentinels = hosts
                .split(',')
                .map(sentinel_addr)
                .collect::<RedisResult<Vec<_>>>()?;
            return Ok(Endpoint::Sentinel(SentinelTarget {
                sentinels,
                master: master.to_string(),
                db: parse_db(db)?,
                userinfo,
            }));
        }
        if url.starts_with(KOMBU_SENTINEL_SCHEME) {
            let master = master.filter(|m| !m.is_empty()).ok_or_else(|| {
                bad_url("a sentinel:// URL needs the master's name in WORKER_POOL_SENTINEL_MASTER (Celery's master_name transport option)".into())
            })?;
            let (mut sentinels, mut db, mut userinfo) = (Vec::new(), None, None);
            for one in url.split(';').map(str::trim).filter(|u| !u.is_empty()) {
                let rest = one.strip_prefix(KOMBU_SENTINEL_SCHEME).ok_or_else(|| {
                    bad_url(format!(
                        "every part of a Sentinel URL starts with {KOMBU_SENTINEL_SCHEME}"
                    ))
                })?;
                let (info, rest) = split_userinfo(rest);
                userinfo = userinfo.or(info);
                let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
                sentinels.push(sentinel_addr(host)?);
                if !path.is_empty() {
                    db = db.or(Some(parse_db(Some(path))?));
                }
            }
            return Ok(Endpoint::Sentinel(SentinelTarget {
                sentinels,
                master: master.to_string(),
                db: db.unwrap_or(0),
                userinfo,
            }));
        }
        redis::Client::open(url)?;
        Ok(Endpoint::Direct(url.to_string()))
    }

    /// The one URL the pool keeps for this endpoint: a direct URL as given, a Sentinel one in
    /// the `redis+sentinel://` form, which names its master.
    pub fn url(&self) -> String {
        match self {
            Endpoint::Direct(url) => url.clone(),
            Endpoint::Sentinel(t) => format!(
                "{SENTINEL_SCHEME}{}{}/{}/{}",
                credentials(&t.userinfo),
                t.sentinels.join(","),
                t.master,
                t.db
            ),
            Endpoint::Cluster(t) => format!(
                "{CLUSTER_SCHEME}{}{}",
                credentials(&t.userinfo),
                t.nodes.join(",")
            ),
        }
    }
}

/// `user:password@rest` → (Some("user:password"), rest).
fn split_userinfo(rest: &str) -> (Option<String>, &str) {
    let end = rest.find('/').unwrap_or(rest.len());
    match rest[..end].rfind('@') {
        Some(at) => (Some(rest[..at].to_string()), &rest[at + 1..]),
        None => (None, rest),
    }
}

fn sentinel_addr(host: &str) -> RedisResult<String> {
    node_addr(host, "a Sentinel", 26379)
}

/// `host[:port]` → `host:port`, `default_port` when none is written; `what` names it in the
/// error.
fn node_addr(host: &str, what: &str, default_port: u16) -> RedisResult<String> {
    let host = host.trim();
    if host.is_empty() || host.contains(['/', '@', ';']) {
        return Err(bad_url(format!("{host:?} is not {what}'s host:port")));
    }
    let (name, port) = match host.rsplit_once(':') {
        Some((name, port)) => (
            name,
            port.parse::<u16>()
                .map_err(|_| bad_url(format!("{port:?} is not a port")))?,
        ),
        None => (host, default_port),
    };
    Ok(format!("{name}:{port}"))
}

fn parse_db(db: Option<&str>) -> RedisResult<i64> {
    match db {
        None => Ok(0),
        Some(d) => d
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| bad_url(format!("{d:?} is not a database number"))),
    }
}

/// `user:password@` as a URL writes it before the host, or nothing.
fn credentials(userinfo: &Option<String>) -> String {
    userinfo
        .as_deref()
        .map(|u| format!("{u}@"))
        .unwrap_or_default()
}

impl SentinelTarget {
    /// Finds the primary: every Sentinel that answers in time is asked about the master
    /// (`SENTINEL master`), and an address is used only when they all name it and none sees
    /// it down or a failover in progress; then the server itself must say it is a primary
    /// (`ROLE`). Sentinels tell a failover's new primary to each other within seconds, and
    /// until they all agree an old primary that was restarted can still look like one to
    /// some: writing to it would lose the writes when it is made a replica (split brain).
    /// Gives the address and a client for it.
    pub async fn primary(&self, timeout: Duration) -> RedisResult<(String, redis::Client)> {
        let addr = match self.consensus(timeout).await {
            View::Agreed(addr) => addr,
            View::Unsettled(e) | View::NoAnswer(e) => return Err(e),
        };
        let client = redis::Client::open(format!(
            "redis://{}{addr}/{}",
            credentials(&self.userinfo),
            self.db
        ))?;
        let mut p = tokio::time::timeout(timeout, client.get_multiplexed_async_connection())
            .await
            .map_err(|_| unavailable("the primary did not answer in time", addr.clone()))??;
        let role: redis::Value = redis::cmd("ROLE").query_async(&mut p).await?;
        let is_primary = match &role {
            redis::Value::Array(items) => matches!(
                items.first(),
                Some(redis::Value::BulkString(b)) if b.as_slice() == b"master"
            ),
            _ => false,
        };
        if !is_primary {
            return Err(unavailable(
                "the server the Sentinels name is not a primary (yet)",
                addr,
            ));
        }
        Ok((addr, client))
    }

    /// What the Sentinels say of the primary, asked all at once.
    pub async fn consensus(&self, timeout: Duration) -> View {
        let answers = futures::future::join_all(self.sentinels.iter().map(|s| async move {
            match tokio::time::timeout(timeout, self.ask(s)).await {
                Ok(r) => r,
                Err(_) => Err(unavailable("no answer in time", s.clone())),
            }
        }))
        .await;
        let mut named: Option<String> = None;
        let mut why = None;
        for (sentinel, answer) in self.sentinels.iter().zip(answers) {
            match answer {
                Ok((addr, flags)) => {
                    if let Some(flag) = flags
                        .split(',')
                        .find(|f| matches!(*f, "s_down" | "o_down" | "failover_in_progress"))
                    {
                        return View::Unsettled(unavailable(
                            "the primary is down or being replaced",
                            format!("{sentinel} says {addr} is {flag}"),
                        ));
                    }
                    match &named {
                        Some(other) if *other != addr => {
                            return View::Unsettled(unavailable(
                                "the Sentinels do not agree on the primary yet",
                                format!("{other} or {addr}"),
                            ))
                        }
                        _ => named = Some(addr),
                    }
                }
                Err(e) => why = Some(format!("{sentinel}: {e}")),
            }
        }
        match named {
            Some(addr) => View::Agreed(addr),
            None => View::NoAnswer(unavailable(
                "no Sentinel answered",
                format!("master {}: {}", self.master, why.unwrap_or_default()),
            )),
        }
    }

    /// One Sentinel's view of the master: its address and its flags.
    async fn ask(&self, sentinel: &str) -> RedisResult<(String, String)> {
        let s = redis::Client::open(format!("redis://{sentinel}"))?;
        let mut c = s.get_multiplexed_async_connection().await?;
        let fields: Vec<String> = redis::cmd("SENTINEL")
            .arg("master")
            .arg(&self.master)
            .query_async(&mut c)
            .await?;
        let field = |name: &str| {
            fields
                .chunks(2)
                .find(|kv| kv[0] == name)
                .and_then(|kv| kv.get(1).cloned())
        };
        let (Some(ip), Some(port)) = (field("ip"), field("port")) else {
            return Err(unavailable(
                "the Sentinel does not monitor this master",
                self.master.clone(),
            ));
        };
        let host = if ip.contains(':') {
            format!("[{ip}]")
        } else {
            ip
        };
        Ok((format!("{host}:{port}"), field("flags").unwrap_or_default()))
    }
}

/// What the Sentinels say of the primary.
pub enum View {
    /// Every Sentinel that answered names this address, and none sees it down.
    Agreed(String),
    /// A failover is under way: they disagree, or see the primary down.
    Unsettled(redis::RedisError),
    /// None answered.
    NoAnswer(redis::RedisError),
}

fn unavailable(what: &'static str, detail: String) -> redis::RedisError {
    redis::RedisError::from((redis::ErrorKind::Io, what, detail))
}

fn manager_config(timeout: Duration) -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout))
        .set_number_of_retries(1)
        .set_max_delay(Duration::from_millis(500))
}

/// How often a connection behind Sentinel asks the Sentinels whether its server is still the
/// primary (when it is used): a restarted old primary must not be written to.
const RECHECK: Duration = Duration::from_secs(1);
/// How long that check waits for the Sentinels (a command waits for it once a second at most).
const RECHECK_WAIT: Duration = Duration::from_millis(500);

/// The connection of a database behind Sentinel: the primary's, once found, until it fails
/// or the Sentinels name another.
struct Following {
    target: SentinelTarget,
    /// When the Sentinels last confirmed the current primary.
    checked: std::sync::Mutex<std::time::Instant>,
    /// The primary's address and a connection to it; `None` until found, or once it failed.
    current: tokio::sync::Mutex<Option<(String, ConnectionManager)>>,
    /// The last primary's address, to log a change once.
    last: std::sync::Mutex<Option<String>>,
}

#[derive(Clone)]
enum Conn {
    Direct(ConnectionManager),
    Sentinel(Arc<Following>),
    Cluster(Arc<Clustered>),
}

/// A Redis Cluster's connection, made on first use (its client needs the async runtime) and
/// made again after it failed to reach the cluster.
struct Clustered {
    client: redis::cluster::ClusterClient,
    current: tokio::sync::Mutex<Option<redis::cluster_async::ClusterConnection>>,
}

/// A connection commands go through: to one server, or to a cluster (routed by key).
#[derive(Clone)]
enum Live {
    One(ConnectionManager),
    Cluster(redis::cluster_async::ClusterConnection),
}

impl redis::aio::ConnectionLike for Live {
    fn req_packed_command<'a>(
        &'a mut self,
        cmd: &'a redis::Cmd,
    ) -> redis::RedisFuture<'a, redis::Value> {
        match self {
            Live::One(c) => c.req_packed_command(cmd),
            Live::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<redis::Value>> {
        match self {
            Live::One(c) => c.req_packed_commands(pipeline, offset, count),
            Live::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Live::One(c) => c.get_db(),
            Live::Cluster(c) => c.get_db(),
        }
    }
}

/// A connection to one Redis database; cheap to clone (clones share the connection).
#[derive(Clone)]
pub struct Redis {
    conn: Conn,
    timeout: Duration,
}

impl Redis {
    /// Prepares a connection to `url` (see [`Endpoint::parse`]; a Sentinel URL names its
    /// master); nothing is sent until the first command.
    pub fn open(url: &str, timeout: Duration) -> RedisResult<Self> {
        let conn = match Endpoint::parse(url, None)? {
            Endpoint::Direct(url) => Conn::Direct(ConnectionManager::new_lazy_with_config(
                redis::Client::open(url)?,
                manager_config(timeout),
            )?),
            Endpoint::Sentinel(target) => Conn::Sentinel(Arc::new(Following {
                target,
                checked: std::sync::Mutex::new(std::time::Instant::now()),
                current: tokio::sync::Mutex::new(None),
                last: std::sync::Mutex::new(None),
            })),
            Endpoint::Cluster(target) => {
                let client = redis::cluster::ClusterClientBuilder::new(target.node_urls())
                    .connection_timeout(timeout)
                    .response_timeout(timeout)
                    .build()?;
                Conn::Cluster(Arc::new(Clustered {
                    client,
                    current: tokio::sync::Mutex::new(None),
                }))
            }
        };
        Ok(Redis { conn, timeout })
    }

    /// True when this is a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        matches!(self.conn, Conn::Cluster(_))
    }

    /// The connection to use now: for Sentinel, the primary's (found first if need be).
    async fn conn(&self) -> RedisResult<Live> {
        let f = match &self.conn {
            Conn::Direct(c) => return Ok(Live::One(c.clone())),
            Conn::Cluster(cl) => {
                let mut current = cl.current.lock().await;
                if let Some(c) = current.as_ref() {
                    return Ok(Live::Cluster(c.clone()));
                }
                let c = cl.client.get_async_connection().await?;
                *current = Some(c.clone());
                return Ok(Live::Cluster(c));
            }
            Conn::Sentinel(f) => f,
        };
        let mut current = f.current.lock().await;
        if let Some((addr, c)) = current.as_ref() {
            let due = f
                .checked
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .elapsed()
                >= RECHECK;
            if !due {
                return Ok(Live::One(c.clone()));
            }
            let view = f.target.consensus(self.timeout.min(RECHECK_WAIT)).await;
            *f.checked.lock().unwrap_or_else(|e| e.into_inner()) = std::time::Instant::now();
            match view {
                View::Agreed(named) if named == *addr => return Ok(Live::One(c.clone())),
                // Sentinel itself is unreachable: the primary we know is the best guess.
                View::NoAnswer(_) => return Ok(Live::One(c.clone())),
                // Another primary, or a failover under way: stop writing to this one.
                View::Agreed(_) | View::Unsettled(_) => *current = None,
            }
        }
        let (addr, client) = f.target.primary(self.timeout).await?;
        *f.checked.lock().unwrap_or_else(|e| e.into_inner()) = std::time::Instant::now();
        let c = ConnectionManager::new_lazy_with_config(client, manager_config(self.timeout))?;
        let mut last = f.last.lock().unwrap_or_else(|e| e.into_inner());
        if last.as_deref() != Some(addr.as_str()) {
            match last.as_deref() {
                Some(before) => {
                    tracing::warn!(master = %f.target.master, from = %before, to = %addr, "the Redis primary changed (Sentinel failover); following it")
                }
                None => {
                    tracing::info!(master = %f.target.master, primary = %addr, "Redis primary found through Sentinel")
                }
            }
            *last = Some(addr.clone());
        }
        *current = Some((addr, c.clone()));
        Ok(Live::One(c))
    }

    /// After a failed command: a primary that stopped answering or now refuses writes is
    /// asked for again (Sentinel only).
    async fn after_error(&self, e: &CallError) {
        if let Conn::Cluster(cl) = &self.conn {
            // The cluster client follows redirections and node failures itself; one that
            // cannot reach the cluster at all is made again on the next command.
            if e.is_unavailable() {
                *cl.current.lock().await = None;
            }
            return;
        }
        let Conn::Sentinel(f) = &self.conn else {
            return;
        };
        let read_only = matches!(e, CallError::Redis(r) if r.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::ReadOnly));
        if read_only || e.is_unavailable() {
            *f.current.lock().await = None;
        }
    }

    async fn timed<T>(&self, fut: impl Future<Output = RedisResult<T>>) -> Result<T, CallError> {
        let out = match tokio::time::timeout(self.timeout, fut).await {
            Ok(r) => r.map_err(CallError::from),
            Err(_) => Err(CallError::Timeout(self.timeout)),
        };
        if let Err(e) = &out {
            self.after_error(e).await;
        }
        out
    }

    /// The connection to use now, or the error that kept it from being found.
    async fn connection(&self) -> Result<Live, CallError> {
        match tokio::time::timeout(self.timeout, self.conn()).await {
            Ok(Ok(c)) => Ok(c),
            Ok(Err(e)) => Err(e.into()),
            Err(_) => Err(CallError::Timeout(self.timeout)),
        }
    }

    /// Runs one command.
    pub async fn query<T: FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, CallError> {
        let mut c = self.connection().await?;
        self.timed(cmd.query_async(&mut c)).await
    }

    /// Runs one keyless command (`INFO`, `CONFIG GET`) on the server that holds `key`: on a
    /// Redis Cluster, the primary serving its slot (the cluster client would otherwise ask
    /// every primary and answer with a map); elsewhere, the one server.
    pub async fn query_near<T: FromRedisValue>(
        &self,
        key: &str,
        cmd: &redis::Cmd,
    ) -> Result<T, CallError> {
        let Live::Cluster(mut c) = self.connection().await? else {
            return self.query(cmd).await;
        };
        use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
        let route = RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(Route::with_key(
            key,
            SlotAddr::Master,
        )));
        let value = self.timed(c.route_command(cmd.clone(), route)).await?;
        Ok(T::from_redis_value(value).map_err(redis::RedisError::from)?)
    }

    /// Runs a pipeline (atomic when built with `.atomic()`).
    pub async fn pipe<T: FromRedisValue>(&self, pipe: &redis::Pipeline) -> Result<T, CallError> {
        let mut c = self.connection().await?;
        self.timed(pipe.query_async(&mut c)).await
    }

    /// Runs a Lua script (EVALSHA, loading it on first use).
    pub async fn invoke<T: FromRedisValue>(
        &self,
        script: &redis::ScriptInvocation<'_>,
    ) -> Result<T, CallError> {
        let mut c = self.connection().await?;
        self.timed(script.invoke_async(&mut c)).await
    }

    /// Runs a Lua script, then `WAIT replicas timeout` on the same connection to the same
    /// server (so the WAIT covers the script's writes even if the primary changes between);
    /// gives the script's answer and how many replicas confirmed.
    pub async fn invoke_and_wait<T: FromRedisValue>(
        &self,
        script: &redis::ScriptInvocation<'_>,
        replicas: u32,
        wait: Duration,
    ) -> Result<(T, i64), CallError> {
        let mut c = self.connection().await?;
        let out: T = self.timed(script.invoke_async(&mut c)).await?;
        let confirmed: i64 = self
            .timed(
                redis::cmd("WAIT")
                    .arg(replicas)
                    .arg(wait.as_millis() as u64)
                    .query_async(&mut c),
            )
            .await?;
        Ok((out, confirmed))
    }
}

/// What `worker-pool doctor` reads of a Redis server: whether it may evict keys and how it
/// persists them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerFacts {
    /// The server's `run_id` (one per process): tells whether two URLs reach one server.
    pub run_id: String,
    /// `maxmemory-policy`; `None` when `CONFIG` is refused (managed services rename it).
    pub maxmemory_policy: Option<String>,
    /// `maxmemory` in bytes (0: no limit); `None` when `CONFIG` is refused.
    pub maxmemory: Option<u64>,
    /// The append-only file is on.
    pub aof: bool,
    /// `appendfsync`, when `CONFIG` answers.
    pub appendfsync: Option<String>,
    /// The RDB snapshot rules (`save`), empty when none; `None` when `CONFIG` is refused.
    pub save: Option<String>,
}

impl Redis {
    /// Reads the server's [`ServerFacts`] (`INFO` and, where allowed, `CONFIG GET`); on a
    /// Redis Cluster, of the primary that holds `near` (a key).
    pub async fn server_facts(&self, near: &str) -> Result<ServerFacts, CallError> {
        let info: String = self
            .query_near(near, redis::cmd("INFO").arg("server").arg("persistence"))
            .await?;
        let field = |name: &str| {
            info.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
                .map(|v| v.trim().to_string())
        };
        let config = |name: &'static str| async move {
            // CONFIG may be renamed or refused (managed Redis): then the value is unknown.
            let pair: Result<Vec<String>, CallError> = self
                .query_near(near, redis::cmd("CONFIG").arg("GET").arg(name))
                .await;
            pair.ok().and_then(|p| p.get(1).cloned())
        };
        Ok(ServerFacts {
            run_id: field("run_id").unwrap_or_default(),
            maxmemory_policy: config("maxmemory-policy").await,
            maxmemory: config("maxmemory").await.and_then(|v| v.parse().ok()),
            aof: field("aof_enabled").as_deref() == Some("1"),
            appendfsync: config("appendfsync").await,
            save: config("save").await,
        })
    }
}

/// The connection details of one Redis database, for comparing URLs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedisTarget {
    /// `host:port` or the socket path.
    pub addr: String,
    /// The database number.
    pub db: i64,
}

impl RedisTarget {
    /// Parses a Redis URL. Behind Sentinel, the address is the master's name and the
    /// Sentinels asked (`sentinel:<master>@<hosts>`): the same database whatever the primary.
    pub fn parse(url: &str) -> redis::RedisResult<Self> {
        match Endpoint::parse(url, None)? {
            Endpoint::Direct(url) => {
                let client = redis::Client::open(url)?;
                let info = client.get_connection_info();
                Ok(RedisTarget {
                    addr: info.addr().to_string(),
                    db: info.redis_settings().db(),
                })
            }
            Endpoint::Sentinel(t) => {
                let mut hosts = t.sentinels.clone();
                hosts.sort();
                Ok(RedisTarget {
                    addr: format!("sentinel:{}@{}", t.master, hosts.join(",")),
                    db: t.db,
                })
            }
            Endpoint::Cluster(t) => {
                let mut hosts = t.nodes.clone();
                hosts.sort();
                Ok(RedisTarget {
                    addr: format!("cluster:{}", hosts.join(",")),
                    db: 0,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn direct_urls_are_kept_as_given() {
        let e = Endpoint::parse("redis://u:p@h:1/3", Some("ignored")).unwrap();
        assert_eq!(e, Endpoint::Direct("redis://u:p@h:1/3".into()));
        assert!(Endpoint::parse("http://h", None).is_err());
    }

    #[test]
    fn both_sentinel_forms_read_alike() {
        let kombu = Endpoint::parse(
            "sentinel://:pw@a:26379/1; sentinel://:pw@b:26380/1",
            Some("mymaster"),
        )
        .unwrap();
        let common = Endpoint::parse("redis+sentinel://:pw@a,b:26380/mymaster/1", None).unwrap();
        assert_eq!(kombu, common);
        let Endpoint::Sentinel(t) = &kombu else {
            panic!("{kombu:?}")
        };
        assert_eq!(t.sentinels, ["a:26379", "b:26380"]);
        assert_eq!((t.master.as_str(), t.db), ("mymaster", 1));
        assert_eq!(t.userinfo.as_deref(), Some(":pw"));
        // The kept form reads back to the same endpoint, without the master given apart.
        assert_eq!(Endpoint::parse(&kombu.url(), None).unwrap(), kombu);
        assert_eq!(
            kombu.url(),
            "redis+sentinel://:pw@a:26379,b:26380/mymaster/1"
        );
        // Without a database, 0; the master's name in the URL wins over the one given apart.
        let e = Endpoint::parse("redis+sentinel://a/m", Some("other")).unwrap();
        assert_eq!(e.url(), "redis+sentinel://a:26379/m/0");
    }

    #[test]
    fn a_sentinel_url_without_a_master_or_with_a_bad_part_is_refused() {
        for (url, master) in [
            ("sentinel://a:26379", None),
            ("sentinel://a:26379", Some("")),
            ("redis+sentinel://a:26379", None),
            ("redis+sentinel://a:port/m", None),
            ("redis+sentinel:///m", None),
            ("redis+sentinel://a/m/-1", None),
            ("sentinel://a;redis://b", Some("m")),
        ] {
            assert!(Endpoint::parse(url, master).is_err(), "{url} {master:?}");
        }
    }

    #[test]
    fn a_cluster_url_names_some_nodes_and_database_zero_only() {
        let e = Endpoint::parse("redis+cluster://:pw@a:7000,b", None).unwrap();
        let Endpoint::Cluster(t) = &e else {
            panic!("{e:?}")
        };
        assert_eq!(t.nodes, ["a:7000", "b:6379"]);
        assert_eq!(
            t.node_urls(),
            ["redis://:pw@a:7000/0", "redis://:pw@b:6379/0"]
        );
        assert_eq!(e.url(), "redis+cluster://:pw@a:7000,b:6379");
        assert_eq!(Endpoint::parse(&e.url(), None).unwrap(), e, "kept as read");
        assert!(Endpoint::parse("redis+cluster://a:1/0", None).is_ok());
        for bad in [
            "redis+cluster://",
            "redis+cluster://a:1/3",
            "redis+cluster://a:port",
            "redis+cluster://a:1,,b:2",
        ] {
            assert!(Endpoint::parse(bad, None).is_err(), "{bad}");
        }
        assert_eq!(
            RedisTarget::parse("redis+cluster://b:2,a:1").unwrap(),
            RedisTarget::parse("redis+cluster://a:1,b:2/0").unwrap()
        );
    }

    #[test]
    fn one_database_behind_sentinel_is_one_target_whatever_the_order_of_its_sentinels() {
        let a = RedisTarget::parse("redis+sentinel://a,b/m/0").unwrap();
        let b = RedisTarget::parse("redis+sentinel://b,a/m/0").unwrap();
        assert_eq!(a, b);
        assert_ne!(a, RedisTarget::parse("redis+sentinel://a,b/m/1").unwrap());
        assert_ne!(a, RedisTarget::parse("redis+sentinel://a,b/n/0").unwrap());
    }
}
