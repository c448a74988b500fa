#!/usr/bin/env python3
"""Gathers the benchmark outputs (target/bench) into bench/results.json.

    collect.py OUT_DIR PROFILE RESULTS_JSON
"""
import datetime
import json
import os
import platform
import re
import subprocess
import sys


def load(path):
    with open(path) as f:
        return json.load(f)


def median_run(path, key):
    """The run with the median `key` among the JSON lines of `path` (repeated measurements)."""
    with open(path) as f:
        runs = [json.loads(line) for line in f if line.strip()]
    runs.sort(key=lambda r: r[key])
    best = dict(runs[len(runs) // 2])
    best["rounds"] = [r[key] for r in runs]
    return best


def wrk(path):
    text = open(path).read()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    m = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    total = int(re.search(r"(\d+) requests in", text).group(1))
    return {"rps": rps, "p99_ms": float(m.group(1)) * scale, "requests": total,
            "non_2xx": int(non2xx.group(1)) if non2xx else 0}


def machine():
    cpu = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kb = 0
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                mem_kb = int(line.split()[1])
    except OSError:
        pass
    redis = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout.strip()
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(mem_kb / 1024 / 1024, 1),
            "os": platform.platform(), "redis": redis}


def throughput_ratios(out):
    """The throughput medians over each broker, and the pool's ratios to plain Celery."""
    tp = {f"{m}-{t}": median_run(f"{out}/tp-{m}-{t}.jsonl", "tasks_per_s")
          for m in ("plain", "pool") for t in ("noop", "sleep20")}
    tp_amqp = {f"{m}-{t}": median_run(f"{out}/tp-amqp-{m}-{t}.jsonl", "tasks_per_s")
               for m in ("plain", "pool") for t in ("noop", "sleep20")}
    ratios = {
        "throughput_ratio_noop": tp["pool-noop"]["tasks_per_s"] / tp["plain-noop"]["tasks_per_s"],
        "throughput_ratio_20ms": tp["pool-sleep20"]["tasks_per_s"]
        / tp["plain-sleep20"]["tasks_per_s"],
        # The same against plain Celery with RabbitMQ as the broker.
        "throughput_ratio_noop_rabbitmq": tp_amqp["pool-noop"]["tasks_per_s"]
        / tp_amqp["plain-noop"]["tasks_per_s"],
        "throughput_ratio_20ms_rabbitmq": tp_amqp["pool-sleep20"]["tasks_per_s"]
        / tp_amqp["plain-sleep20"]["tasks_per_s"],
    }
    return tp, tp_amqp, ratios


def throughput_only(out, profile, results):
    """`bench/run.sh --throughput`: only the throughput against plain Celery, both brokers."""
    tp, tp_amqp, ratios = throughput_ratios(out)
    rabbit = subprocess.run(["rabbitmqctl", "-q", "version"], capture_output=True,
                            text=True).stdout.strip()
    summary = dict(ratios, machine=dict(machine(), rabbitmq=rabbit),
                   date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                   build=profile, details={"throughput": tp, "throughput_rabbitmq": tp_amqp})
    with open(results, "w") as f:
        json.dump(summary, f, indent=2)
        f.write("\n")
    print(json.dumps({k: v for k, v in summary.items() if k != "details"}, indent=2))


def main():
    if sys.argv[1] == "--throughput":
        throughput_only(*sys.argv[2:5])
        return
    out, profile, results = sys.argv[1], sys.argv[2], sys.argv[3]
    cap = median_run(f"{out}/capacity.jsonl", "cycles_per_s")
    cap_mixed = median_run(f"{out}/capacity-mixed.jsonl", "cycles_per_s")
    cap_rules = median_run(f"{out}/capacity-rules.jsonl", "cycles_per_s")
    blocked = load(f"{out}/blocked.json")["blocked"]
    refill_rules = load(f"{out}/refill-rules.json")["refill"]
    refill_rules.pop("samples_ms", None)
    depth = load(f"{out}/depth.json")["depth"]
    refill = {L: load(f"{out}/refill-{L}.json")["refill"] for L in (1, 4)}
    refill_replica = load(f"{out}/refill-replica.json")["refill"]
    refill_replica.pop("samples_ms", None)
    submit_replica = wrk(f"{out}/wrk-submit-replica.txt")
    tp, tp_amqp, ratios = throughput_ratios(out)
    status = wrk(f"{out}/wrk-status.txt")
    submit = wrk(f"{out}/wrk-submit.txt")
    wasm = int(open(f"{out}/wasm-gzip-bytes.txt").read().strip())
    # What each lazy view loads when it is first needed, in bytes.
    chunks = load(f"{out}/wasm-chunks-gzip-bytes.json")
    ui = load(f"{out}/ui.json")
    eta = load(f"{out}/eta.json")["eta"]
    small, big = depth[0], depth[-1]
    for r in refill.values():
        r.pop("samples_ms", None)
    summary = {
        "refill_p50_ms": max(r["p50_ms"] for r in refill.values()),
        "refill_p99_ms": max(r["p99_ms"] for r in refill.values()),
        "refill_max_ms": max(r["max_ms"] for r in refill.values()),
        **ratios,
        "scheduler_cycles_per_s": cap["cycles_per_s"],
        "scheduler_cycles_per_s_with_rules": cap_rules["cycles_per_s"],
        "scheduler_cycles_per_s_mixed": cap_mixed["cycles_per_s"],
        # The cost of the rules: the same mixed load (five types, 50 tenants) with and without.
        "capacity_ratio_with_rules": cap_rules["cycles_per_s"] / cap_mixed["cycles_per_s"],
        # Rules and the mixed load together, against one type with no tenant.
        "capacity_ratio_with_rules_vs_one_type": cap_rules["cycles_per_s"] / cap["cycles_per_s"],
        "refill_p99_ms_with_rules": refill_rules["p99_ms"],
        "held_source_dispatch_p50_ms": blocked["held"]["submit_to_dispatch"]["p50_ms"],
        "empty_pool_dispatch_p50_ms": blocked["empty"]["submit_to_dispatch"]["p50_ms"],
        "held_source_dispatch_ratio": blocked["held"]["submit_to_dispatch"]["p50_ms"]
        / blocked["empty"]["submit_to_dispatch"]["p50_ms"],
        "status_latency_ratio_1m_vs_1k": big["status"]["p50_ms"] / small["status"]["p50_ms"],
        "redis_bytes_per_queued_task": big["redis_bytes_per_queued_task"],
        "http_status_rps": status["rps"],
        "http_submit_rps": submit["rps"],
        # WORKER_POOL_REDIS_REPLICAS=1 (a replica on the same machine): each acknowledged
        # write waits for it; a refill is not an acknowledged write.
        "http_submit_rps_with_replica_wait": submit_replica["rps"],
        "refill_p99_ms_with_replica_wait": refill_replica["p99_ms"],
        "wasm_gzip_kb": wasm / 1024,
        "wasm_lazy_chunks_gzip_kb": {view: size / 1024 for view, size in chunks.items()},
        "ui_update_ms": ui["p50_ms"],
        "eta_median_abs_error_pct": eta["median_abs_error_pct"],
        "eta_p90_abs_error_pct": eta["p90_abs_error_pct"],
        "machine": machine(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "build": profile,
        "details": {
            "refill_by_limit": refill,
            "throughput": tp,
            "throughput_rabbitmq": tp_amqp,
            "capacity": cap,
            "capacity_mixed": cap_mixed,
            "capacity_with_rules": cap_rules,
            "refill_with_rules": refill_rules,
            "held_source": blocked,
            "depth": depth,
            "http_status": status,
            "http_submit": submit,
            "http_submit_with_replica_wait": submit_replica,
            "refill_with_replica_wait": refill_replica,
            "ui_update": {k: v for k, v in ui.items() if k != "samples_ms"},
            "eta": {k: v for k, v in eta.items() if k != "points_estimated_vs_real_wait_s"},
            "depth_sizes": [d["queued"] for d in depth],
        },
    }
    with open(results, "w") as f:
        json.dump(summary, f, indent=2)
        f.write("\n")
    print(json.dumps({k: v for k, v in summary.items() if k != "details"}, indent=2))


if __name__ == "__main__":
    main()
