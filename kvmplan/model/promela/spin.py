"""Running SPIN on an exported model: spin -a, gcc, pan, and reading which
rules' assertions and probes it reached."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from kvmplan.model.promela.checks import RULES

if TYPE_CHECKING:
    from kvmplan.model.explorer import Bounds
    from kvmplan.model.program import Program


@dataclass(frozen=True)
class SpinResult:
    rules: frozenset[str]      # rules SPIN found broken (assertions, and post-analyses of probes)
    errors: int                # pan's error count: rule assertions and probes reached
    violations: int            # of which rule assertions (the rest are probes reached)
    probes: frozenset[str]     # probes reached
    states: int                # states stored
    depth: int                 # depth reached
    seconds: float             # spin -a, gcc and pan, wall clock
    output: str = field(repr=False, default="")


class SpinError(Exception):
    """SPIN, gcc or pan failed, or the search was not exhaustive."""


_VIOLATED = re.compile(r"assertion violated (KVM\d{3}|P_\w+)\b")


def run_spin(pml: str, workdir: Path, memlim_mb: int = 1024) -> SpinResult:
    """Generate, compile and run pan on `pml` in `workdir`: an exhaustive
    safety search (-DSAFETY, no bitstate) that goes on after errors (-c0),
    ignoring end states (-E). Returns the rules found broken."""
    spin, gcc = shutil.which("spin"), shutil.which("gcc")
    if not spin or not gcc:
        raise SpinError("spin and gcc must be installed")
    start = time.perf_counter()
    (workdir / "model.pml").write_text(pml, encoding="utf-8")
    _run([spin, "-a", "model.pml"], workdir, "spin -a")
    # -O0: the state spaces are small, so compiling pan costs more than running it
    # a tree's state vector is over SPIN's default 1024 bytes
    _run([gcc, "-O0", "-DSAFETY", "-DNOCLAIM", f"-DMEMLIM={memlim_mb}", "-DVECTORSZ=4096",
          "-o", "pan", "pan.c"], workdir, "gcc pan.c")
    out = _run(["./pan", "-E", "-c0", "-n", "-m200000", "-w20"], workdir, "pan")
    seconds = time.perf_counter() - start
    for problem in ("max search depth too small", "out of memory", "aborting"):
        if problem in out:
            raise SpinError(f"pan: {problem}: the search was not exhaustive")
    errors = re.search(r"errors: (\d+)", out)
    states = re.search(r"(\d+) states, stored", out)
    depth = re.search(r"depth reached (\d+)", out)
    if not errors or not states or not depth:
        raise SpinError("pan: no statistics in its output")
    reached = _VIOLATED.findall(out)
    probes = frozenset(name for name in reached if name.startswith("P_"))
    rules = {name for name in reached if name.startswith("KVM")}
    violations = sum(1 for name in reached if name.startswith("KVM"))
    rules |= {code for code, rule in RULES.items() if rule.post and rule.post(probes)}
    return SpinResult(frozenset(rules), int(errors.group(1)), violations, probes,
                      int(states.group(1)), int(depth.group(1)), seconds, out)


def _run(cmd: list[str], cwd: Path, what: str) -> str:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-3:]
        raise SpinError(f"{what} failed: {' | '.join(tail)}")
    return proc.stdout


def spin_check(program: "Program", bounds: "Bounds", workdir: Path) -> SpinResult:
    """SPIN on each search a check runs (explorer.searches: the
    interleavings, the failure pass, the VM-operations pass), each exported as a model of its own in a folder
    of `workdir`: the rules found broken in any, counts summed."""
    from kvmplan.model.explorer import searches
    from kvmplan.model.promela.export import export_promela

    results = []
    for n, (prog, each) in enumerate(searches(program, bounds)):
        folder = workdir / f"pass{n}"
        folder.mkdir(exist_ok=True)
        results.append(run_spin(export_promela(prog, each), folder))
    return SpinResult(frozenset().union(*(r.rules for r in results)),
                      sum(r.errors for r in results), sum(r.violations for r in results),
                      frozenset().union(*(r.probes for r in results)),
                      sum(r.states for r in results), max(r.depth for r in results),
                      sum(r.seconds for r in results),
                      "\n".join(r.output for r in results))
