#!/usr/bin/env python3
"""Time building the hook graph of the x86 KVM subtree (GraphOptions' default parts).

    python bench/bench_graph.py [TREE ...] [--runs N] [--profile cold|warm]

TREE defaults to the cached trees (~/.cache/kvmplan/trees/linux-6.1 and
linux-6.12; env KVMPLAN_TREES overrides the parent). "cold" builds with a
fresh, empty parse cache (KVMPLAN_CACHE=a new temporary directory), so every
file is really parsed; "warm" builds again with the cache the cold run left.
Each figure is the median of --runs builds. Goals on a 2-core machine:
cold <= 3 s, warm <= 0.5 s.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from kvmplan.graph.build import GraphOptions, build_graph
from kvmplan.source.tree import SourceTree

COLD_GOAL, WARM_GOAL = 3.0, 0.5


def default_trees() -> list[Path]:
    parent = Path(os.environ.get("KVMPLAN_TREES", Path.home() / ".cache/kvmplan/trees"))
    return [p for p in (parent / "linux-6.1", parent / "linux-6.12") if p.is_dir()]


def build(root: Path):
    return build_graph(SourceTree(root), options=GraphOptions(use_cache=True))


def timed(root: Path, cache: str):
    os.environ["KVMPLAN_CACHE"] = cache
    t0 = time.perf_counter()
    graph = build(root)
    return time.perf_counter() - t0, graph


def bench(root: Path, runs: int, profile: str | None) -> None:
    cold: list[float] = []
    warm: list[float] = []
    graph = None
    dirs = []
    try:
        for _ in range(runs):
            d = tempfile.mkdtemp(prefix="kvmplan-bench-")
            dirs.append(d)
            t, graph = timed(root, d)
            cold.append(t)
        for _ in range(runs):
            t, graph = timed(root, dirs[-1])
            warm.append(t)
        if profile:
            d = dirs[-1] if profile == "warm" else tempfile.mkdtemp(prefix="kvmplan-bench-")
            dirs.append(d)
            os.environ["KVMPLAN_CACHE"] = d
            prof = cProfile.Profile()
            prof.runcall(build, root)
            print(f"--- cProfile, {profile} build of {root.name} (top 25 by cumulative time)")
            pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
            pstats.Stats(prof).sort_stats("tottime").print_stats(15)
    finally:
        for d in dirs:
            shutil.rmtree(d, ignore_errors=True)
    assert graph is not None
    nfun = len(graph.functions) + len(graph.statics)
    c, w = statistics.median(cold), statistics.median(warm)
    print(f"{root.name}: files={len(graph.files)} functions={nfun} edges={len(graph.edges)} "
          f"errors={len(graph.errors)}")
    print(f"  cold median {c:6.3f} s  (runs: {', '.join(f'{x:.3f}' for x in cold)})"
          f"  goal <= {COLD_GOAL} s: {'ok' if c <= COLD_GOAL else 'OVER'}")
    print(f"  warm median {w:6.3f} s  (runs: {', '.join(f'{x:.3f}' for x in warm)})"
          f"  goal <= {WARM_GOAL} s: {'ok' if w <= WARM_GOAL else 'OVER'}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("trees", nargs="*", type=Path)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--profile", choices=("cold", "warm"))
    args = ap.parse_args(argv)
    trees = args.trees or default_trees()
    if not trees:
        print("no kernel trees: run scripts/fetch-kernels.sh or name a tree", file=sys.stderr)
        return 2
    saved = os.environ.get("KVMPLAN_CACHE")
    try:
        for root in trees:
            bench(root.resolve(), max(1, args.runs), args.profile)
    finally:
        if saved is None:
            os.environ.pop("KVMPLAN_CACHE", None)
        else:
            os.environ["KVMPLAN_CACHE"] = saved
    return 0


if __name__ == "__main__":
    sys.exit(main())
