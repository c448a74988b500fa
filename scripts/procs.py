"""The processes the Python harnesses start, written once: a private redis-server (and Redis
Sentinels), a Celery worker of the demo app, and a worker-pool server. Used by chaos/chaos.py, bench/throughput.py
and server/tests/fixtures/celery-wire/capture.py (the shell scripts have the same in
scripts/lib.sh). Standard library only.
"""
import os
import socket
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO = os.path.join(ROOT, "demo")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, secs, proc=None):
    """True once something accepts connections on 127.0.0.1:port (False if `proc` died)."""
    deadline = time.time() + secs
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            if proc is not None and proc.poll() is not None:
                return False
            time.sleep(0.05)
    return False


def start_redis(port, directory, persist=False, extra=()):
    """A redis-server in the foreground of its own session (so it can be SIGKILLed and started
    again on the same directory). With `persist`, append-only with fsync on every write;
    `extra`: more options (`--replicaof host port`)."""
    durability = ["--appendonly", "yes", "--appendfsync", "always"] if persist else \
        ["--appendonly", "no"]
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--dir", directory, "--logfile", os.path.join(directory, "redis.log")]
        + durability + list(extra),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    if not wait_port(port, 10, proc):
        raise SystemExit("redis-server did not start")
    return proc


def start_sentinel(port, directory, master, primary_port, down_after_ms=3000):
    """A Redis Sentinel (`redis-server <conf> --sentinel`) watching `master` at
    127.0.0.1:primary_port with a quorum of 2, quicker to act than production's defaults (30 s)
    as a harness needs. Down after 3 s: with 1 s, a replica promoted on this loaded 2-core
    machine stalled past it while the killed primary resynced from it, and the Sentinels failed
    it over again; it stayed a primary for 10 s beside the new one, Celery's workers wrote
    results to it, and they were lost with it (docs/chaos/RESULTS.md)."""
    conf = os.path.join(directory, f"sentinel-{port}.conf")
    with open(conf, "w") as f:
        f.write(f"port {port}\nbind 127.0.0.1\ndir {directory}\n"
                f"sentinel monitor {master} 127.0.0.1 {primary_port} 2\n"
                f"sentinel down-after-milliseconds {master} {down_after_ms}\n"
                f"sentinel failover-timeout {master} 6000\n"
                f"logfile {os.path.join(directory, f'sentinel-{port}.log')}\n")
    proc = subprocess.Popen(["redis-server", conf, "--sentinel"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    if not wait_port(port, 10, proc):
        raise SystemExit("redis-server --sentinel did not start")
    return proc


def start_celery_worker(celery, name, queue, concurrency, env, log_path, app="demo_app",
                        cwd=DEMO, extra=(), wait=True):
    """`celery -A <app> worker` named `name@<host>` on `queue`, in a session of its own (so
    its pool children can be killed with it), logging to `log_path`; waits until it is ready
    unless `wait` is false."""
    log = open(log_path, "a")
    proc = subprocess.Popen(
        [celery, "-A", app, "worker", "-c", str(concurrency), "-Q", queue, "-n", f"{name}@%h",
         "--loglevel=info", "--without-mingle", "--without-gossip", *extra],
        cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    if not wait:
        return proc
    deadline = time.time() + 60
    while time.time() < deadline:
        with open(log_path) as f:
            if " ready." in f.read():
                return proc
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    raise SystemExit(f"celery worker {name} did not start; see {log_path}")


def start_server(binary, env, port, log_path):
    """A worker-pool server on 127.0.0.1:port; waits until it accepts connections."""
    log = open(log_path, "a")
    proc = subprocess.Popen([binary], env=dict(env, LEPTOS_SITE_ADDR=f"127.0.0.1:{port}"),
                            cwd=ROOT, stdout=log, stderr=log, start_new_session=True)
    if not wait_port(port, 30, proc):
        raise SystemExit(f"worker-pool did not start; see {log_path}")
    return proc
