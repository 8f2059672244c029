"""Time the exhaustive model check of each cached tree with 2 and 3 CPUs
(default bounds: 2 hotplug events, every system event, no injected failure
among the interleavings, then the failure pass: init and VM creation alone
with one injected failure; the figures sum both searches).

Prints states, transitions, seconds and states/s. The graph is built (warm
cache) before timing, so the figures are the model's own."""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

from kvmplan.graph import build_graph
from kvmplan.model import Bounds, build_program, explore
from kvmplan.source import SourceTree


def main() -> None:
    trees = Path(os.environ.get("KVMPLAN_TREES", Path.home() / ".cache/kvmplan/trees"))
    parser = argparse.ArgumentParser()
    parser.add_argument("trees", nargs="*", default=[str(trees / "linux-6.1"), str(trees / "linux-6.12")])
    parser.add_argument("--runs", type=int, default=3, help="runs per 2-CPU figure (median)")
    parser.add_argument("--cpus", type=int, nargs="+", default=[2, 3])
    args = parser.parse_args()
    for root in args.trees:
        if not Path(root, "virt/kvm").is_dir():
            print(f"{root}: absent, skipped (run scripts/fetch-kernels.sh)")
            continue
        graph = build_graph(SourceTree(Path(root)))
        for cpus in args.cpus:
            times = []
            for _ in range(args.runs if cpus <= 2 else 1):   # 3 CPUs: one run
                program = build_program(graph)
                t0 = time.perf_counter()
                result = explore(program, Bounds(cpus=cpus))
                times.append(time.perf_counter() - t0)
            med = statistics.median(times)
            rules = ",".join(sorted({f.rule for f in result.findings})) or "-"
            print(f"{Path(root).name:12} cpus={cpus} states={result.states:7} "
                  f"transitions={result.transitions:7} median={med:6.2f}s "
                  f"states/s={result.states / med:8.0f} bound_reached={result.bound_reached} "
                  f"findings={rules}")


if __name__ == "__main__":
    main()
