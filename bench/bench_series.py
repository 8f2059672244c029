#!/usr/bin/env python3
"""Time `kvmplan series` on the 51-message v2 rework series.

Prints the median (and min/max) of N in-process runs of each step (read,
assemble, JSON) and the wall-clock of the CLI as a subprocess, which adds
interpreter start-up and imports.

    python3 bench/bench_series.py [MBOX] [--runs N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from kvmplan.mail import Series, assemble, dumps, load_messages

REPO = Path(__file__).resolve().parents[1]
DEFAULT = Path(os.environ.get("KVMPLAN_SHARED", REPO.parent / "shared")) / "corpus/mail/kvm-rework-kvm-init-v2.mbox"

T = TypeVar("T")


def timed(fn: Callable[[], T], runs: int) -> tuple[list[float], T]:
    times = []
    result = fn()  # warm-up: imports, regex compilation
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return times, result


def _assemble_path(path: Path) -> Series:
    messages, diags = load_messages(path)
    return assemble(messages, diagnostics=diags)


def show(label: str, times: list[float]) -> None:
    ms = [t * 1000 for t in times]
    print(f"{label:<34} median {statistics.median(ms):8.1f} ms   min {min(ms):8.1f}   max {max(ms):8.1f}   (n={len(ms)})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mbox", nargs="?", type=Path, default=DEFAULT)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    if not args.mbox.is_file():
        print(f"bench_series: {args.mbox} not found", file=sys.stderr)
        return 2

    load_times, (messages, diags) = timed(lambda: load_messages(args.mbox), args.runs)
    asm_times, series = timed(lambda: assemble(messages, diagnostics=diags), args.runs)
    json_times, _ = timed(lambda: dumps(series), args.runs)
    total_times, _ = timed(lambda: dumps(_assemble_path(args.mbox)), args.runs)

    size = args.mbox.stat().st_size
    print(f"{args.mbox.name}: {size / 1024:.0f} KiB, {len(messages)} messages, "
          f"{len(series.patches)} patches, {sum(len(p.files) for p in series.patches)} file diffs")
    show("read + decode (load_messages)", load_times)
    show("assemble (incl. diff parsing)", asm_times)
    show("JSON rendering", json_times)
    show("in-process total", total_times)

    cli_runs = max(3, args.runs // 4)
    cli = []
    for _ in range(cli_runs):
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "kvmplan", "series", str(args.mbox), "--format", "json"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        cli.append(time.perf_counter() - start)
    show("CLI subprocess wall-clock", cli)
    return 0


if __name__ == "__main__":
    sys.exit(main())
