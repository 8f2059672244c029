"""What the model runs: the graph's functions, with call targets resolved once
and each function's events marked visible (they touch lifecycle state and
so are interleaving points) or local (run without interleaving)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from kvmplan.cparse import events as ev
from kvmplan.cparse.events import Event, Function
from kvmplan.graph.build import function_ref, resolve_indirect
from kvmplan.graph.hooks import HookGraph
from kvmplan.graph.view import relevant_functions, vocabulary

_ERR_LABEL = re.compile(r"(err|out|fail|unwind|free|undo|bail|abort|cleanup|exit|put|uninit|unreg)",
                        re.I)


@dataclass(frozen=True)
class Target:
    """Where a call goes in the model."""

    kind: str          # "code" (interpret), "enable", "disable" (vendor primitives), "skip"
    function: str = ""  # key into Program.functions


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
    # (function key, loop index) → does the loop body touch lifecycle state?
    body_matters: dict[tuple[str, int], bool] = field(default_factory=dict)

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
    return Program(graph, functions, targets, failure, frozenset(relevant),
                   frozenset(enable_fns), frozenset(disable_fns), vocab)


def _add(graph: HookGraph, fn: Function, functions: dict[str, Function],
         targets: dict[tuple[str, int], Target], failure: dict[tuple[str, int], str],
         relevant: frozenset[str] | set[str], enable_fns: set[str], disable_fns: set[str],
         seen: set[str]) -> str:
    key = _key(fn, graph)
    if key in seen:
        return key
    seen.add(key)
    functions[key] = fn
    for i, e in enumerate(fn.events):
        if e.kind in (ev.CALL, ev.ICALL, ev.CROSS_CALL):
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


@lru_cache(maxsize=None)
def errno_like(value: str) -> bool:
    return value.startswith("-E") or value.startswith("ERR_PTR")
