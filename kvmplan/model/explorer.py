"""Bounded exhaustive exploration of the model: breadth-first over
interleavings of the environment threads, with state hashing; the first
(shortest) counterexample of each rule is kept with its trace."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

from kvmplan.graph.hooks import HookGraph
from kvmplan.graph.build import VENDOR_DIRS
from kvmplan.model.interp import Outcome, Runner, Step, Violation
from kvmplan.model.invariants import INVARIANTS
from kvmplan.model.program import Program, build_program
from kvmplan.model.world import Blocked, Frame, Thread, World


@dataclass(frozen=True)
class Bounds:
    cpus: int = 2
    hotplug_events: int = 2
    failures: int = 0          # injected failures of fallible init calls
    max_states: int = 200_000


@dataclass
class Finding:
    rule: str
    message: str
    function: str
    file: str
    line: int
    trace: list[Step]


@dataclass
class Result:
    findings: list[Finding]
    states: int
    transitions: int
    seconds: float
    bound_reached: bool
    notes: list[str] = field(default_factory=list)


def initial_worlds(program: Program, bounds: Bounds) -> list[World]:
    graph = program.graph
    init_entry = _vendor_init(graph)
    worlds = []
    for bad in [None] + list(range(1, bounds.cpus)):
        threads = [Thread("init", [Frame(init_entry, 0, 0, "init")] if init_entry else [])]
        threads.append(Thread("user"))
        threads.append(Thread("hotplug"))
        worlds.append(World(
            ncpus=bounds.cpus, online=[True] * bounds.cpus, active=[True] * bounds.cpus,
            virt=[False] * bounds.cpus, bad=[c == bad for c in range(bounds.cpus)], percpu={},
            globals=_initial_globals(program),
            locks={}, cpuhp={}, regs=set(), module="loading", vms=0, threads=threads,
            hotplug_left=bounds.hotplug_events, failures_left=bounds.failures,
        ))
    return worlds


def _initial_globals(program: Program) -> dict[str, object]:
    """Counters start at 0; the lifecycle's module parameters (grammars/
    lifecycle.txt) at the defaults their declarations give."""
    values: dict[str, object] = {name: 0 for name in program.vocab.get("counter", ())}
    wanted = program.vocab.get("param", frozenset())
    for name, init in program.graph.params.items():
        if name not in wanted:
            continue
        if init in ("true", "false"):
            values[name] = "t" if init == "true" else "f"
        elif init.lstrip("-").isdigit():
            values[name] = int(init)
    return values


def _vendor_init(graph: HookGraph) -> str:
    vdir = VENDOR_DIRS.get(graph.vendor, "")
    for e in graph.entries:
        if e.kind == "module_init" and e.file.startswith(vdir):
            return e.function
    return ""


# Contexts that run with IRQs off: nothing else runs on that CPU meanwhile.
IRQS_OFF = frozenset({"IPI", "STARTING"})


def _cpu_taken(w: World, t: Thread) -> bool:
    """Another thread runs with IRQs off on the CPU `t` would run on."""
    cpu = t.frames[-1].cpu
    return any(u is not t and u.frames and u.frames[-1].ctx in IRQS_OFF and u.frames[-1].cpu == cpu
               for u in w.threads)


def successors(program: Program, w: World, inject: bool) -> list[Outcome]:
    out: list[Outcome] = []
    for t in w.threads:
        if t.done:
            continue
        if t.frames and _cpu_taken(w, t):
            continue
        if t.frames:
            nw = w.copy()
            try:
                out.extend(Runner(program, nw, t.name, inject).run())
            except Blocked:
                pass
            continue
        out.extend(_environment(program, w, t))
    for o in out:
        _finish_threads(o.world)
    return out


def _environment(program: Program, w: World, t: Thread) -> list[Outcome]:
    """What an idle environment thread may start now."""
    vocab = program.vocab
    if t.name == "init":
        nw = w.copy()
        nt = nw.thread("init")
        nt.done = True
        nw.module = "gone" if nt.retval == "err" else "live"
        return [Outcome(nw, [Step("init", 0, f"module_init returned: module {nw.module}", "", "", 0)])]
    if t.name == "user":
        if w.module == "gone" or not any(k == "misc" for k, _ in w.regs):
            return []
        names = vocab.get("vm_destroy" if t.phase == 1 else "vm_create", frozenset())
        key = next((n for n in sorted(names) if n in program.functions), "")
        if t.phase > 1 or not key:
            return []
        nw = w.copy()
        nt = nw.thread("user")
        nt.frames.append(Frame(key, 0, 0, "ioctl"))
        nt.phase += 1
        verb = "destroy" if t.phase == 1 else "create"
        return [Outcome(nw, [Step("user", 0, f"user: {verb} a VM ({key})", key,
                                  program.functions[key].file, program.functions[key].line)])]
    if t.name == "hotplug":
        if w.hotplug_left <= 0:
            return []
        outs = []
        for c in range(1, w.ncpus):
            nw = w.copy()
            nw.hotplug_left -= 1
            nt = nw.thread("hotplug")
            key = "@down" if w.online[c] else "@up"
            nt.frames.append(Frame(key, 0, 0, "hotplug", {"cpu": c, "fn": "cpu_down" if w.online[c]
                                                                   else "cpu_up"}))
            outs.append(Outcome(nw, []))
        return outs
    return []


def _finish_threads(w: World) -> None:
    for t in w.threads:
        if t.name == "user" and not t.frames and t.phase == 1 and t.owns_vm == 0:
            t.done = True
        if t.name == "user" and not t.frames and t.phase == 2:
            t.done = True


def explore(program: Program, bounds: Bounds, rules: set[str] | None = None) -> Result:
    start = time.perf_counter()
    inject = bounds.failures > 0
    parents: dict[tuple, tuple[tuple | None, list[Step]]] = {}
    queue: deque[tuple[tuple, World]] = deque()
    for w in initial_worlds(program, bounds):
        key = w.freeze()
        if key not in parents:
            parents[key] = (None, [Step("env", c, f"CPU{c} can't enable virtualization", "", "", 0)
                                   for c in range(w.ncpus) if w.bad[c]])
            queue.append((key, w))
    findings: dict[tuple[str, str, int], Finding] = {}
    seen_rules: set[str] = set()
    transitions = 0
    bound = False
    while queue:
        key, w = queue.popleft()
        for o in successors(program, w, inject):
            transitions += 1
            nkey = o.world.freeze()
            broken = [v for v in o.violations]
            for inv in INVARIANTS:
                for b in inv(o.world):
                    v = _locate(b.rule, b.message, b.cpu, _trace(parents, key) + o.steps)
                    broken.append(v)
            for v in broken:
                if rules and v.rule not in rules:
                    continue
                if v.rule in seen_rules:
                    continue
                seen_rules.add(v.rule)
                findings[(v.rule, v.file, v.line)] = Finding(
                    v.rule, v.message, v.function, v.file, v.line, _trace(parents, key) + o.steps)
            if nkey in parents:
                continue
            parents[nkey] = (key, o.steps)
            if len(parents) >= bounds.max_states:
                bound = True
                queue.clear()
                break
            queue.append((nkey, o.world))
    seconds = time.perf_counter() - start
    ordered = sorted(findings.values(), key=lambda f: (f.rule, f.file, f.line))
    return Result(ordered, len(parents), transitions, seconds, bound)


def _trace(parents: dict[tuple, tuple[tuple | None, list[Step]]], key: tuple) -> list[Step]:
    chunks: list[list[Step]] = []
    cur: tuple | None = key
    while cur is not None:
        parent, steps = parents[cur]
        chunks.append(steps)
        cur = parent
    out: list[Step] = []
    for chunk in reversed(chunks):
        out.extend(chunk)
    return out


def _locate(rule: str, message: str, cpu: int, trace: list[Step]) -> Violation:
    """Point a state property at the last step of KVM code on the CPU concerned."""
    for s in reversed(trace):
        if s.file and s.cpu == cpu and s.thread != "env":
            return Violation(rule, message, s.function, s.file, s.line)
    for s in reversed(trace):
        if s.file:
            return Violation(rule, message, s.function, s.file, s.line)
    return Violation(rule, message, "", "", 0)


def check(graph: HookGraph, bounds: Bounds | None = None, rules: set[str] | None = None) -> Result:
    return explore(build_program(graph), bounds or Bounds(), rules)
