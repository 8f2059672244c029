"""Cross-check the explorer with SPIN on the litmus scenarios, and time both.

For each scenario (default: tests/litmus/*.c) and each CPU count (the
scenario's bounds, or those given: hotplug events, system events, injected
failures): the rules
the explorer finds with its states and seconds, the rules SPIN finds on the
Promela export with pan's stored states, errors (rule violations/probes
reached) and seconds (spin -a, gcc, pan), and whether they agree. A scenario
the exporter does not model yet says why."""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

from kvmplan.model import build_program, explore
from kvmplan.model.litmus import load_litmus
from kvmplan.model.promela import (
    SpinError,
    Unsupported,
    check_rules,
    export_promela,
    spin_check,
)

ROOT = Path(__file__).resolve().parents[1]


def _rules(rules: set[str] | frozenset[str]) -> str:
    return " ".join(sorted(rules)) or "clean"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("scenarios", nargs="*", type=Path,
                        default=sorted((ROOT / "tests" / "litmus").glob("*.c")))
    parser.add_argument("--cpus", type=int, nargs="+", default=None,
                        help="CPU counts to run (default: the scenario's own)")
    parser.add_argument("--hotplug-events", type=int, default=None,
                        help="override the scenario's bound on cpu_up/cpu_down events")
    parser.add_argument("--system", default=None,
                        help="override the scenario's system events (comma-separated: suspend, "
                             "reboot, unload; 'none')")
    parser.add_argument("--failures", type=int, default=None,
                        help="override the scenario's injected failures")
    args = parser.parse_args()
    system = None if args.system is None else tuple(
        sorted({e.strip() for e in args.system.split(",") if e.strip()} - {"none"}))
    agree = disagree = unsupported = 0
    total = time.perf_counter()
    print(f"{'scenario':40} cpus  {'explorer':22} {'states':>7} {'sec':>6}  {'spin':22} "
          f"{'states':>7} {'errors':>9} {'sec':>6}")
    for path in args.scenarios:
        lit = load_litmus(path)
        for cpus in args.cpus or [lit.bounds.cpus]:
            bounds = dataclasses.replace(lit.bounds, cpus=cpus)
            if args.hotplug_events is not None:
                bounds = dataclasses.replace(bounds, hotplug_events=args.hotplug_events)
            if system is not None:
                bounds = dataclasses.replace(bounds, system=system)
            if args.failures is not None:
                bounds = dataclasses.replace(bounds, failures=args.failures)
            result = explore(build_program(lit.graph), bounds)
            found = frozenset(f.rule for f in result.findings)
            head = (f"{path.stem:40} {cpus:4}  {_rules(found):22} {result.states:7} "
                    f"{result.seconds:6.2f}")
            try:
                check_rules(found)
                with tempfile.TemporaryDirectory() as tmp:
                    spin = spin_check(build_program(lit.graph), bounds, Path(tmp))
            except (Unsupported, SpinError) as exc:
                unsupported += 1
                print(f"{head}  unsupported: {exc}")
                continue
            same = spin.rules == found and not result.bound_reached
            agree += same
            disagree += not same
            errors = f"{spin.violations}/{spin.errors - spin.violations}"
            print(f"{head}  {_rules(spin.rules):22} {spin.states:7} {errors:>9} "
                  f"{spin.seconds:6.2f}{'' if same else '  DISAGREE'}")
    print(f"agree {agree}, disagree {disagree}, unsupported {unsupported}; "
          f"{time.perf_counter() - total:.1f}s")


if __name__ == "__main__":
    main()
