#!/usr/bin/env python3
"""Checks that the modules of server/src import each other as a tree: no cycles.

An edge M -> T means M's code (tests excluded) names something in module T (`crate::t::...`,
`super::...`), or M declares T (`mod t;`). A child that names its parent's items, or two
modules that name each other, make a cycle: the check fails and prints it.

    python3 scripts/module-tree.py            # checks; prints the edges with --verbose
"""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC = os.path.join(ROOT, "server", "src")


def module_of(path):
    rel = os.path.relpath(path, SRC)[:-3].split(os.sep)
    if rel[-1] in ("lib", "mod"):
        rel = rel[:-1]
    if rel and rel[0] == "bin":
        return None
    return tuple(rel)


def main():
    modules = {}
    for dirpath, _, files in os.walk(SRC):
        for f in files:
            if f.endswith(".rs"):
                m = module_of(os.path.join(dirpath, f))
                if m is not None and m != ("main",):
                    modules[m] = os.path.join(dirpath, f)
    edges = set()
    for m, path in modules.items():
        text = open(path).read()
        cut = text.find("#[cfg(test)]\nmod tests")
        if cut >= 0:
            text = text[:cut]
        text = re.sub(r"//[^\n]*", "", text)
        for child in re.findall(r"^\s*(?:pub(?:\([^)]*\))? )?mod (\w+);", text, re.M):
            edges.add((m, m + (child,)))
        refs = [tuple(r.split("::")) for r in re.findall(r"\bcrate((?:::\w+)+)", text)]
        refs = [r[1:] for r in refs]
        for r in re.findall(r"\bsuper((?:::\w+)+)", text):
            refs.append(m[:-1] + tuple(r.split("::")[1:]))
        for r in re.findall(r"\buse super::\{([^}]*)\}", text):
            for name in re.findall(r"\w+", r):
                refs.append(m[:-1] + (name,))
        for ref in refs:
            # The deepest module the path names; an item of the crate root is the root.
            target = ()
            for i in range(1, len(ref) + 1):
                if ref[:i] in modules:
                    target = ref[:i]
            if target != m and not (target and target[: len(m)] == m):
                edges.add((m, target))
    graph = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)
    # Depth-first search for a cycle.
    state, stack = {}, []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for t in sorted(graph.get(n, ())):
            if state.get(t) == 1:
                cycle = stack[stack.index(t):] + [t]
                raise SystemExit("import cycle in server/src: " +
                                 " -> ".join("::".join(c) or "crate" for c in cycle))
            if t not in state:
                visit(t)
        stack.pop()
        state[n] = 2

    for n in sorted(modules):
        if n not in state:
            visit(n)
    if "--verbose" in sys.argv:
        for a, b in sorted(edges):
            print(f"{'::'.join(a) or 'crate'} -> {'::'.join(b) or 'crate'}")
    print(f"server/src: {len(modules)} modules, {len(edges)} edges, no cycle")


if __name__ == "__main__":
    main()
