"""What the model runs: the graph's functions, with call targets resolved once
and each function's events marked visible (they touch lifecycle state and
so are interleaving points) or local (run without interleaving)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from kvmplan.cparse import events as ev
from kvmplan.cparse.events import Event, Function
from kvmplan.graph.build import (
    VENDOR_DIRS,
    function_ref,
    registration_callbacks,
    resolve_indirect,
)
from kvmplan.graph.hooks import HookGraph
from kvmplan.graph.view import relevant_functions, vocabulary
from kvmplan.model.kernel import ERROR_POINTERS

_ERR_LABEL = re.compile(r"(err|out|fail|unwind|free|undo|bail|abort|cleanup|exit|put|uninit|unreg)",
                        re.I)


@dataclass(frozen=True)
class Target:
    """Where a call goes in the model."""

    # "code" (interpret), "skip", or a primitive of the model: "enable", "disable"
    # (vendor per-CPU virtualization), "tdx_cpu", "tdx_enable" (TDX per-CPU and
    # module init), "uret" (user-return MSR snapshot/drop)
    kind: str
    function: str = ""  # key into Program.functions (or the primitive's name)


# Calls the model treats as primitives, by vocabulary role (grammars/lifecycle.txt).
PRIMITIVE_ROLES = {"fn_tdx_cpu": "tdx_cpu", "fn_tdx_enable": "tdx_enable", "fn_uret": "uret"}


@dataclass
class Program:
    graph: HookGraph
    functions: dict[str, Function]          # key → function (key: name or file::name)
    targets: dict[tuple[str, int], Target]  # (function key, event index) → call target
    failure_side: dict[tuple[str, int], str]  # (key, branch index) → "then" | "else" | ""
    relevant: frozenset[str]
    enable_fns: frozenset[str]
    disable_fns: frozenset[str]
    vocab: dict[str, frozenset[str]]
    # (registration kind, object) → callbacks it installs: ((kind, function key), ...)
    callbacks: dict[tuple[str, str], tuple[tuple[str, str], ...]] = field(default_factory=dict)
    # (function key, loop index) → does the loop body touch lifecycle state?
    body_matters: dict[tuple[str, int], bool] = field(default_factory=dict)
    # usage counters (grammars/lifecycle.txt) the code changes
    counters: frozenset[str] = frozenset()
    # function key → the per-CPU enabling work it (transitively) does: "tdx", "enable" or ""
    enables: dict[str, str] = field(default_factory=dict)

    def key_of(self, fn: Function) -> str:
        return _key(fn, self.graph)


def _key(fn: Function, graph: HookGraph) -> str:
    if graph.functions.get(fn.name) is fn:
        return fn.name
    return f"{fn.file}::{fn.name}"


def build_program(graph: HookGraph) -> Program:
    vocab = vocabulary()
    relevant = relevant_functions(graph)
    enable_fields = vocab.get("op_enable", frozenset())
    disable_fields = vocab.get("op_disable", frozenset())
    enable_fns: set[str] = set()
    disable_fns: set[str] = set()
    for (struct, field_name), binds in graph.bindings.items():
        for b in binds:
            if field_name in enable_fields:
                enable_fns.add(b.function)
            elif field_name in disable_fields:
                disable_fns.add(b.function)
    functions: dict[str, Function] = {}
    targets: dict[tuple[str, int], Target] = {}
    failure: dict[tuple[str, int], str] = {}
    work = sorted(relevant)
    seen: set[str] = set()
    for name in work:
        fn = graph.functions.get(name)
        if fn is None:
            continue
        _add(graph, fn, functions, targets, failure, relevant, enable_fns, disable_fns, seen)
    program = Program(graph, functions, targets, failure, frozenset(relevant),
                      frozenset(enable_fns), frozenset(disable_fns), vocab)
    program.counters = frozenset(e.name for fn in functions.values() for e in fn.events
                                 if e.kind == ev.COUNT and e.name in vocab.get("counter", ()))
    for key, fn in sorted(functions.items()):
        for e in fn.events:
            if e.kind != ev.REGISTER:
                continue
            found = []
            for kind, cb in registration_callbacks(graph, fn, e):
                cb_key = _key(cb, graph)
                if cb_key not in functions and cb.name in relevant:
                    _add(graph, cb, functions, targets, failure, relevant, enable_fns, disable_fns,
                         seen)
                if cb_key in functions:
                    found.append((kind, cb_key))
            program.callbacks[(e.mode, e.name)] = tuple(sorted(set(found)))
    return program


def vendor_entry(graph: HookGraph, kind: str = "module_init") -> str:
    """The vendor module's module_init (or module_exit) function."""
    vdir = VENDOR_DIRS.get(graph.vendor, "")
    for e in graph.entries:
        if e.kind == kind and e.file.startswith(vdir):
            return e.function
    return ""


def does_enabling_work(p: Program, key: str) -> str:
    """The per-CPU enabling work `key` (transitively) runs: "tdx" (TDX per-CPU
    init, whatever else it does), "enable" (vendor per-CPU enable) or ""."""
    if key in p.enables:
        return p.enables[key]
    p.enables[key] = ""                # cycles: assume none until shown otherwise
    fn = p.functions.get(key)
    p.enables[key] = enabling_work_in(p, key, 0, len(fn.events)) if fn is not None else ""
    return p.enables[key]


def enabling_work_in(p: Program, key: str, start: int, end: int) -> str:
    """The per-CPU enabling work ("tdx", "enable" or "") the events start..end-1
    of function `key` run, directly or through their callees."""
    found = ""
    for i in range(start, min(end, len(p.functions[key].events))):
        t = p.targets.get((key, i))
        if t is None:
            continue
        work = {"enable": "enable", "tdx_cpu": "tdx"}.get(t.kind, "")
        if t.kind == "code":
            work = does_enabling_work(p, t.function)
        if work == "tdx":
            return "tdx"
        found = found or work
    return found


def _add(graph: HookGraph, fn: Function, functions: dict[str, Function],
         targets: dict[tuple[str, int], Target], failure: dict[tuple[str, int], str],
         relevant: frozenset[str] | set[str], enable_fns: set[str], disable_fns: set[str],
         seen: set[str]) -> str:
    key = _key(fn, graph)
    if key in seen:
        return key
    seen.add(key)
    functions[key] = fn
    primitives = _primitives()
    for i, e in enumerate(fn.events):
        if e.kind == ev.CALL and e.name in primitives:
            targets[(key, i)] = Target(primitives[e.name], e.name)
        elif e.kind in (ev.CALL, ev.ICALL, ev.CROSS_CALL):
            if e.kind == ev.CALL:
                callee = graph.function(e.name, fn.file)
                found = [callee] if callee is not None else []
            elif e.kind == ev.ICALL:
                found = [f for f, _ in resolve_indirect(graph, fn, e)]
            else:
                found = [f for f, _ in function_ref(graph, e.name, fn)]
            targets[(key, i)] = _target(graph, found, functions, targets, failure, relevant,
                                        enable_fns, disable_fns, seen)
        elif e.kind == ev.BRANCH:
            failure[(key, i)] = _failure_side(fn.events, i)
    return key


def _target(graph: HookGraph, found: list[Function], functions: dict[str, Function],
            targets: dict[tuple[str, int], Target], failure: dict[tuple[str, int], str],
            relevant: frozenset[str] | set[str], enable_fns: set[str], disable_fns: set[str],
            seen: set[str]) -> Target:
    if not found:
        return Target("skip")
    callee = found[0]
    if callee.name in enable_fns:
        return Target("enable", callee.name)
    if callee.name in disable_fns:
        return Target("disable", callee.name)
    if callee.name not in relevant:
        return Target("skip", callee.name)
    key = _add(graph, callee, functions, targets, failure, relevant, enable_fns, disable_fns, seen)
    return Target("code", key)


def _failure_side(events: tuple[Event, ...], i: int) -> str:
    """Which side of a branch is the error path: "then" (fall through), "else"
    (the jump), or "" when the code does not say."""
    then_fail = _leads_to_failure(events, i + 1)
    else_fail = _leads_to_failure(events, events[i].target)
    if then_fail and not else_fail:
        return "then"
    if else_fail and not then_fail:
        return "else"
    return ""


def _leads_to_failure(events: tuple[Event, ...], start: int, budget: int = 8) -> bool:
    j = start
    while 0 <= j < len(events) and budget > 0:
        e = events[j]
        if e.kind == ev.ASSIGN and e.value.startswith("-E"):
            return True
        if e.kind == ev.CALL and e.name in ERROR_POINTERS:
            return True
        if e.kind == ev.RETURN:
            return e.value.startswith("-E") or e.value.startswith("ERR_PTR")
        if e.kind == ev.JUMP:
            if e.name not in ("endif", "break", "continue", "switch") and _ERR_LABEL.search(e.name):
                return True
            j = e.target
        elif e.kind in (ev.BRANCH, ev.LOOP):
            return False
        else:
            j += 1
        budget -= 1
    return False


@lru_cache(maxsize=1)
def _primitives() -> dict[str, str]:
    vocab = vocabulary()
    return {name: kind for role, kind in PRIMITIVE_ROLES.items() for name in vocab.get(role, ())}


@lru_cache(maxsize=None)
def errno_like(value: str) -> bool:
    return value.startswith("-E") or value.startswith("ERR_PTR")
