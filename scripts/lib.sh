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
