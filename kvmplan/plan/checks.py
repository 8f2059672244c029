"""Run the model on a stage's code, and the one structural check the model
does not make (a sleeping lock in a context that runs with IRQs off).

Model results are cached on disk by the code they ran (the parsed units),
the bounds and the model's own source, so re-planning the same tree is quick."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

from kvmplan.cparse import events as ev
from kvmplan.cparse.cache import cache_dir
from kvmplan.graph.hooks import STARTING, HookGraph
from kvmplan.model import Bounds, check
from kvmplan.plan.edit import Code
from kvmplan.plan.roles import Facts, is_common, is_core
from kvmplan.rules import RULE_NAMES

# State properties (kvmplan/model/invariants.py): reported once per rule, at
# wherever the shortest trace ended, so their location is not their identity.
STATE_RULES = frozenset({"KVM001", "KVM002", "KVM014"})

# Locks that sleep: fine in task context, a bug with IRQs off.
SLEEPING = frozenset({"mutex", "rwsem_read", "rwsem_write", "read"})


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


@lru_cache(maxsize=1)
def _model_hash() -> str:
    """The model's and rules' own source: a change there invalidates cached verdicts."""
    h = hashlib.blake2b(digest_size=16)
    root = Path(__file__).resolve().parents[1]
    for sub in ("model", "rules", "graph"):
        for path in sorted((root / sub).glob("*.py")):
            h.update(path.name.encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def _key(code: Code, bounds: Bounds) -> str:
    h = hashlib.blake2b(digest_size=20)
    h.update(_model_hash().encode())
    h.update(repr(bounds).encode())
    h.update(code.vendor.encode())
    h.update(pickle.dumps((code.units, code.states, code.x86_ops), protocol=5))
    return h.hexdigest()


def verdict(code: Code, graph: HookGraph, bounds: Bounds, use_cache: bool = True) -> Verdict:
    """The model's findings on `graph` (built from `code`)."""
    where = cache_dir().parent / "plan" / f"{_key(code, bounds)}.json" if use_cache else None
    if where is not None:
        try:
            data = json.loads(where.read_text(encoding="utf-8"))
            return Verdict(tuple(Issue(**{**i, "details": tuple(i["details"])})
                                 for i in data["issues"]), data["states"], data["bound_reached"])
        except (OSError, ValueError, KeyError, TypeError):
            pass
    result = check(graph, bounds)
    issues = tuple(Issue(f.rule, RULE_NAMES.get(f.rule, ""), f.function, f.file, f.line,
                         f.message, tuple(f.details)) for f in result.findings)
    out = Verdict(issues, result.states, result.bound_reached)
    if where is not None:
        try:
            where.parent.mkdir(parents=True, exist_ok=True)
            tmp = where.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"issues": [asdict(i) for i in issues],
                                       "states": out.states,
                                       "bound_reached": out.bound_reached}), encoding="utf-8")
            os.replace(tmp, where)
        except OSError:
            pass
    return out


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
                if e.kind == ev.LOCK and e.mode in SLEEPING:
                    what = "cpus_read_lock()" if e.name == "cpu_hotplug_lock" else e.name
                    out.add(Hazard(fn.name, fn.file, e.line,
                                   f"{fn.name}() takes {what} ({e.mode}), a sleeping lock, in {how}, "
                                   "which runs with IRQs off"))
    return tuple(sorted(out, key=lambda h: (h.file, h.line, h.text)))
