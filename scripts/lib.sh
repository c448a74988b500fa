# Helpers shared by the scripts in this folder (sourced, not run).

ROOT=${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
# The Python venv with Celery for the demo worker; shared between clones of the repository.
VENV=${WORKER_POOL_VENV:-$HOME/.cache/worker-pool/venv}
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/0}
export REDIS_URL

if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then
  _B=$'\e[1m'; _G=$'\e[32m'; _R=$'\e[31m'; _Z=$'\e[0m'
else
  _B=; _G=; _R=; _Z=
fi
step() { printf '%s==> %s%s\n' "$_B" "$*" "$_Z"; }
ok() { printf '%s✓ %s%s\n' "$_G" "$*" "$_Z"; }
die() { printf '%serror: %s%s\n' "$_R" "$*" "$_Z" >&2; exit 1; }

need_cmd() { command -v "$1" >/dev/null 2>&1 || die "$1 is required but not installed ($2)"; }

APT_UPDATED=0
# apt_install PACKAGE...: Debian packages (with sudo when not root); apt-get update once.
apt_install() {
  need_cmd apt-get "this setup installs Debian packages; install '$*' by hand elsewhere"
  local sudo=
  if [ "$(id -u)" != 0 ]; then
    need_cmd sudo "needed to install '$*'"
    sudo=sudo
  fi
  if [ "$APT_UPDATED" = 0 ]; then
    step "apt-get update"
    $sudo apt-get update -qq
    APT_UPDATED=1
  fi
  step "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

# lock_version CRATE: the version of CRATE recorded in Cargo.lock.
lock_version() {
  awk -v name="$1" '$0 == "name = \"" name "\"" { getline; gsub(/version = |"/, ""); print; exit }' "$ROOT/Cargo.lock"
}

# redis_host_port URL: prints "host port" of a redis:// URL.
redis_host_port() {
  local rest=${1#*://}
  rest=${rest##*@}
  rest=${rest%%/*}
  local host=${rest%%:*} port=6379
  [ "$rest" != "$host" ] && port=${rest##*:}
  [ -n "$host" ] || host=127.0.0.1
  echo "$host $port"
}

redis_answers() { # redis_answers HOST PORT
  redis-cli -h "$1" -p "$2" ping 2>/dev/null | grep -q PONG
}

# ensure_redis: makes sure something answers at $REDIS_URL, starting a local redis-server
# (no persistence) when the URL points at this machine and nothing answers there.
ensure_redis() {
  local hp host port
  hp=$(redis_host_port "$REDIS_URL"); host=${hp% *}; port=${hp#* }
  if redis_answers "$host" "$port"; then
    return 0
  fi
  case "$host" in
    127.0.0.1|localhost|::1) ;;
    *) die "nothing answers at $REDIS_URL and it is not local; start that Redis first" ;;
  esac
  step "starting redis-server on $host:$port (nothing answered there)"
  mkdir -p "$ROOT/target/redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
    --dir "$ROOT/target/redis" --logfile "$ROOT/target/redis/redis-$port.log" \
    --pidfile "$ROOT/target/redis/redis-$port.pid" >/dev/null
  for _ in $(seq 50); do
    redis_answers "$host" "$port" && { ok "redis-server answers on $host:$port"; return 0; }
    sleep 0.1
  done
  die "redis-server did not start; see $ROOT/target/redis/redis-$port.log"
}

# ensure_rabbitmq: makes sure a RabbitMQ answers on 127.0.0.1:5672 with rabbitmqctl at hand
# (the tests make a vhost of their own per run with it): installs Debian's rabbitmq-server when
# missing and starts it when nothing answers. A RabbitMQ elsewhere is not managed here.
rabbitmq_answers() { (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; }
ensure_rabbitmq() {
  command -v rabbitmqctl >/dev/null 2>&1 || apt_install rabbitmq-server
  if ! rabbitmq_answers || ! rabbitmqctl -q status >/dev/null 2>&1; then
    step "starting rabbitmq-server (nothing answered on 127.0.0.1:5672)"
    if command -v systemctl >/dev/null 2>&1 && systemctl start rabbitmq-server 2>/dev/null; then
      :
    elif command -v service >/dev/null 2>&1 && service rabbitmq-server start >/dev/null 2>&1; then
      :
    else
      (rabbitmq-server >/tmp/rabbitmq-server.log 2>&1 &)
    fi
    for _ in $(seq 120); do
      rabbitmq_answers && rabbitmqctl -q status >/dev/null 2>&1 && break
      sleep 0.5
    done
  fi
  rabbitmq_answers || die "rabbitmq-server did not start (nothing on 127.0.0.1:5672)"
  rabbitmqctl -q await_startup >/dev/null 2>&1 || die "rabbitmqctl cannot reach the running RabbitMQ (is this root, with its Erlang cookie?)"
  rabbitmqctl -q list_users 2>/dev/null | grep -q '^guest' || die "RabbitMQ has no 'guest' user: the tests connect as guest/guest"
}

# install_python_client: clients/python with its test extra into the venv, a copy (not an
# editable link: the venv is shared between clones), only when the package's files changed since
# the last install. The demo's workers use its Celery base class (worker_pool_client.celery);
# its tests need the extra.
install_python_client() {
  local pkg=$ROOT/clients/python stamp_file stamp
  stamp_file=$VENV/.worker-pool-client.stamp
  stamp=$(cd "$pkg" && find pyproject.toml README.md src -type f ! -path '*/__pycache__/*' -print0 \
    | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)
  if [ "$(cat "$stamp_file" 2>/dev/null)" != "$stamp" ] \
     || ! "$VENV/bin/python" -c 'import worker_pool_client.celery, pytest' 2>/dev/null; then
    step "installing clients/python[test] into $VENV"
    # Its dependencies, leaving those already there as they are (the demo pins its own)...
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "$pkg[test]"
    # ...and this version of the package itself, even when its version number did not change.
    "$VENV/bin/pip" install --quiet --disable-pip-version-check --force-reinstall --no-deps "$pkg"
    echo "$stamp" > "$stamp_file"
  fi
}

# free_port: an unused TCP port on 127.0.0.1.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait_http URL SECONDS PID: waits until URL answers 2xx, failing early if PID died.
wait_http() {
  local url=$1 secs=$2 pid=${3:-}
  for _ in $(seq $((secs * 10))); do
    if curl -fsS -o /dev/null "$url" 2>/dev/null; then return 0; fi
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then return 1; fi
    sleep 0.1
  done
  return 1
}

# --- the processes the scripts start, written once ------------------------------------------

# start_private_redis: a redis-server of our own on a free port (no persistence, a temporary
# directory); sets PRIVATE_REDIS_PORT and PRIVATE_REDIS_URL. stop_private_redis stops it.
start_private_redis() {
  PRIVATE_REDIS_PORT=$(free_port)
  PRIVATE_REDIS_DIR=$(mktemp -d)
  PRIVATE_REDIS_URL="redis://127.0.0.1:$PRIVATE_REDIS_PORT/0"
  redis-server --port "$PRIVATE_REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
    --dir "$PRIVATE_REDIS_DIR" --daemonize yes --pidfile "$PRIVATE_REDIS_DIR/redis.pid" \
    --logfile "$PRIVATE_REDIS_DIR/redis.log" >/dev/null
  for _ in $(seq 50); do
    redis_answers 127.0.0.1 "$PRIVATE_REDIS_PORT" && return 0
    sleep 0.1
  done
  die "a private redis-server did not start (see $PRIVATE_REDIS_DIR/redis.log)"
}
stop_private_redis() {
  [ -n "${PRIVATE_REDIS_PORT:-}" ] || return 0
  redis-cli -p "$PRIVATE_REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
  rm -rf "$PRIVATE_REDIS_DIR"
  PRIVATE_REDIS_PORT=
}

# start_private_replica: a replica of the private Redis (start_private_redis first) on a free
# port, without persistence; waits until it has linked to it; sets PRIVATE_REPLICA_PORT.
# stop_private_replica stops it.
start_private_replica() {
  PRIVATE_REPLICA_PORT=$(free_port)
  PRIVATE_REPLICA_DIR=$(mktemp -d)
  redis-server --port "$PRIVATE_REPLICA_PORT" --bind 127.0.0.1 --save "" --appendonly no \
    --dir "$PRIVATE_REPLICA_DIR" --daemonize yes --pidfile "$PRIVATE_REPLICA_DIR/redis.pid" \
    --logfile "$PRIVATE_REPLICA_DIR/redis.log" --replicaof 127.0.0.1 "$PRIVATE_REDIS_PORT" >/dev/null
  for _ in $(seq 100); do
    redis-cli -p "$PRIVATE_REPLICA_PORT" info replication 2>/dev/null \
      | grep -q "master_link_status:up" && return 0
    sleep 0.1
  done
  die "the replica did not link to the private Redis (see $PRIVATE_REPLICA_DIR/redis.log)"
}
stop_private_replica() {
  [ -n "${PRIVATE_REPLICA_PORT:-}" ] || return 0
  redis-cli -p "$PRIVATE_REPLICA_PORT" shutdown nosave >/dev/null 2>&1 || true
  rm -rf "$PRIVATE_REPLICA_DIR"
  PRIVATE_REPLICA_PORT=
}

# start_demo_worker LOG NAME QUEUE [celery worker options...]: a Celery worker of the demo app
# (demo/demo_app.py) named NAME@<host> on QUEUE, against $REDIS_URL; waits until it is ready
# and sets WORKER_PID.
start_demo_worker() {
  local log=$1 name=$2 queue=$3
  shift 3
  [ -x "$VENV/bin/celery" ] || die "$VENV/bin/celery is missing: run scripts/setup.sh"
  (cd "$ROOT/demo" && exec env -u CELERY_BROKER_URL -u CELERY_RESULT_BACKEND \
    WORKER_POOL_CELERY_QUEUE="$queue" "$VENV/bin/celery" -A demo_app worker -Q "$queue" \
    -n "$name@%h" --loglevel=info "$@") > "$log" 2>&1 &
  WORKER_PID=$!
  for _ in $(seq 600); do
    grep -q " ready\." "$log" 2>/dev/null && return 0
    kill -0 "$WORKER_PID" 2>/dev/null || break
    sleep 0.1
  done
  tail -20 "$log" >&2
  die "the demo worker did not start (see $log)"
}

# start_server LOG [VAR=VALUE...]: the worker-pool server ($SERVER_BIN, default the debug
# build) with the compiled site and the given environment, on LEPTOS_SITE_ADDR when given,
# else a free port; waits until /readyz answers; sets SERVER_PID and SERVER_URL.
start_server() {
  local log=$1
  shift
  local addr="127.0.0.1:$(free_port)" kv
  for kv in "$@"; do
    case $kv in LEPTOS_SITE_ADDR=*) addr=${kv#LEPTOS_SITE_ADDR=} ;; esac
  done
  local bin=${SERVER_BIN:-$ROOT/target/debug/worker-pool}
  [ -x "$bin" ] || die "$bin is missing: run 'cargo leptos build --split' first"
  env LEPTOS_SITE_ROOT="$ROOT/target/site" "$@" LEPTOS_SITE_ADDR="$addr" "$bin" > "$log" 2>&1 &
  SERVER_PID=$!
  SERVER_URL="http://$addr"
  wait_http "$SERVER_URL/readyz" 30 "$SERVER_PID" && return 0
  tail -20 "$log" >&2
  die "the server did not become ready (see $log)"
}
