"""Run the model on a stage's code, and the one structural check the model
does not make (a sleeping lock in a context that runs with IRQs off).

Model results are cached on disk by the code they ran (the parsed units),
the bounds and the model's own source, so re-planning the same tree is quick."""

from __future__ import annotations

from dataclasses import dataclass

from kvmplan.cparse import events as ev
from kvmplan.graph.hooks import STARTING, HookGraph
from kvmplan.model import Bounds, build_program
from kvmplan.model.cache import explore_cached
from kvmplan.model.rules import STATE_RULES
from kvmplan.model.kernel import HOTPLUG_LOCK, SLEEPING_LOCK_MODES
from kvmplan.plan.roles import Facts, is_common, is_core
from kvmplan.model.rules import RULE_NAMES




@dataclass(frozen=True)
class Issue:
    """A model finding as the plan lists it."""

    rule: str
    name: str
    function: str
    file: str
    line: int
    message: str
    details: tuple[str, ...] = ()

    def key(self) -> tuple[str, str]:
        return (self.rule, "" if self.rule in STATE_RULES else self.function)

    def label(self) -> str:
        where = f" in {self.function}()" if self.function and self.rule not in STATE_RULES else ""
        return f"{self.rule}{where}"


@dataclass(frozen=True)
class Hazard:
    """A sleeping lock taken where the code runs with IRQs off."""

    function: str
    file: str
    line: int
    text: str

    def key(self) -> tuple[str, str]:
        return (self.function, self.text)


@dataclass(frozen=True)
class Verdict:
    issues: tuple[Issue, ...]
    states: int
    bound_reached: bool


def verdict(graph: HookGraph, bounds: Bounds, use_cache: bool = True) -> Verdict:
    """The model's findings on `graph` (results cached on disk by the model stage)."""
    result = explore_cached(build_program(graph), bounds, None, use_cache)
    issues = tuple(Issue(f.rule, RULE_NAMES.get(f.rule, ""), f.function, f.file, f.line,
                         f.message, tuple(f.details)) for f in result.findings)
    return Verdict(issues, result.states, result.bound_reached)


def hazards(graph: HookGraph) -> tuple[Hazard, ...]:
    """Sleeping locks in IRQs-off contexts: STARTING/DYING cpuhp callbacks,
    syscore callbacks and IPI (on_each_cpu) callbacks of KVM's code."""
    f = Facts(graph)
    roots: list[tuple[str, str]] = []
    for reg in graph.cpuhp:
        owner = f.fn(reg.registered_by)
        if reg.section == STARTING and owner is not None and is_common(owner.file):
            roots += [(n, f"the STARTING cpuhp callback {n}()") for n in (reg.startup, reg.teardown) if n]
    for en in graph.entries:
        if en.kind.startswith("syscore") and is_common(en.file):
            roots.append((en.function, f"the syscore callback {en.function}()"))
    for edge in graph.edges:
        if edge.kind == "cross_call" and is_core(edge.file):
            roots.append((edge.callee, (f"the IPI callback {edge.callee}() (on_each_cpu from "
                           f"{edge.caller}())")))
    out: set[Hazard] = set()
    for root, how in sorted(set(roots)):
        for name in sorted(f.reach(root)):
            fn = f.fn(name)
            if fn is None:
                continue
            for e in fn.events:
                if e.kind == ev.LOCK and e.mode in SLEEPING_LOCK_MODES:
                    what = "cpus_read_lock()" if e.name == HOTPLUG_LOCK else e.name
                    out.add(Hazard(fn.name, fn.file, e.line,
                                   f"{fn.name}() takes {what} ({e.mode}), a sleeping lock, in {how}, "
                                   "which runs with IRQs off"))
    return tuple(sorted(out, key=lambda h: (h.file, h.line, h.text)))
