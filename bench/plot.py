#!/usr/bin/env python3
"""Draws the plots of BENCHMARKS.md as plain SVG (no plotting library needed).

    plot.py OUT_DIR DOCS_DIR
"""
import json
import math
import os
import sys

W, H, M = 640, 360, 56
COLORS = ["#2563eb", "#dc2626", "#16a34a", "#d97706"]


def svg(title, xlabel, ylabel, series, xlog=False, ylog=False, ymax=None, dots=()):
    """`dots`: the names of the series drawn as points only (a scatter)."""
    xs = [x for _, pts in series for x, _ in pts]
    ys = [y for _, pts in series for _, y in pts]
    fx = (lambda v: math.log10(v)) if xlog else (lambda v: v)
    fy = (lambda v: math.log10(max(v, 1e-3))) if ylog else (lambda v: v)
    x0, x1 = fx(min(xs)), fx(max(xs))
    y0, y1 = (fy(min(ys)), fy(max(ys))) if ylog else (0.0, ymax or max(ys) * 1.1)
    x1 = x1 if x1 > x0 else x0 + 1
    y1 = y1 if y1 > y0 else y0 + 1
    px = lambda v: M + (fx(v) - x0) / (x1 - x0) * (W - 2 * M)
    py = lambda v: H - M - (fy(v) - y0) / (y1 - y0) * (H - 2 * M)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<text x="{W/2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">{title}</text>',
           f'<line x1="{M}" y1="{H-M}" x2="{W-M}" y2="{H-M}" stroke="#333"/>',
           f'<line x1="{M}" y1="{M}" x2="{M}" y2="{H-M}" stroke="#333"/>',
           f'<text x="{W/2}" y="{H-14}" text-anchor="middle">{xlabel}</text>',
           f'<text x="16" y="{H/2}" text-anchor="middle" transform="rotate(-90 16 {H/2})">{ylabel}</text>']
    for i in range(5):
        yv = y0 + (y1 - y0) * i / 4
        label = 10 ** yv if ylog else yv
        y = H - M - (H - 2 * M) * i / 4
        out.append(f'<line x1="{M}" y1="{y}" x2="{W-M}" y2="{y}" stroke="#eee"/>')
        out.append(f'<text x="{M-6}" y="{y+4}" text-anchor="end">{label:.3g}</text>')
    for xv in sorted(set(xs)) if xlog else [x0 + (x1 - x0) * i / 4 for i in range(5)]:
        x = px(xv)
        out.append(f'<text x="{x}" y="{H-M+16}" text-anchor="middle">{xv:.3g}</text>')
    for i, (name, pts) in enumerate(series):
        c = COLORS[i % len(COLORS)]
        if name in dots:
            for x, y in pts:
                out.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="2" fill="{c}" fill-opacity="0.5"/>')
        else:
            path = " ".join(f"{'M' if j == 0 else 'L'}{px(x):.1f},{py(y):.1f}" for j, (x, y) in enumerate(pts))
            out.append(f'<path d="{path}" fill="none" stroke="{c}" stroke-width="2"/>')
            for x, y in pts:
                if len(pts) <= 12:
                    out.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{c}"/>')
        out.append(f'<text x="{W-M-150}" y="{M+16*i}" fill="{c}">{name}</text>')
    out.append("</svg>")
    return "\n".join(out)


def main():
    out, docs = sys.argv[1], sys.argv[2]
    os.makedirs(docs, exist_ok=True)
    series = []
    for L in (1, 4):
        s = sorted(json.load(open(f"{out}/refill-{L}.json"))["refill"]["samples_ms"])
        n = len(s)
        series.append((f"limit {L}", [(s[i], 100.0 * (i + 1) / n) for i in range(0, n, max(1, n // 200))] + [(s[-1], 100.0)]))
    with open(f"{docs}/refill-latency.svg", "w") as f:
        f.write(svg("Refill latency: result published to next message in the broker",
                    "latency (ms)", "completions at or below (%)", series, ymax=100.0))
    depth = json.load(open(f"{out}/depth.json"))["depth"]
    series = [(op, [(d["queued"], d[op]["p50_ms"]) for d in depth]) for op in ("status", "submit", "cancel", "position")]
    with open(f"{docs}/latency-vs-depth.svg", "w") as f:
        f.write(svg("p50 latency against queue depth", "tasks queued (log scale)", "p50 latency (ms)",
                    series, xlog=True))
    eta = json.load(open(f"{out}/eta.json"))["eta"]
    pts = [(real, est) for est, real in eta["points_estimated_vs_real_wait_s"]]
    top = max(max(p) for p in pts)
    series = [("a queued task", pts), ("estimate = real", [(0.0, 0.0), (top, top)])]
    with open(f"{docs}/eta.svg", "w") as f:
        f.write(svg("Estimated start against real start (wait from submit, s)", "real wait (s)",
                    "wait estimated when queued (s)", series, ymax=top, dots=("a queued task",)))


if __name__ == "__main__":
    main()
