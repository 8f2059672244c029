"""Model results cached on disk, like parses (kvmplan.cparse.cache): keyed
by the program the explorer reads, with its line numbers, the bounds, the
rules, and the model's and front-end's own code. `program_key` (the same
without line numbers) says whether two programs differ only in where their
code sits."""

from __future__ import annotations

import hashlib
import time
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import Sequence

from kvmplan import pickles
from kvmplan.cparse.cache import cache_dir, frontend_hash
from kvmplan.cparse.events import Function
from kvmplan.model.explorer import Bounds, Result, explore
from kvmplan.model.program import Program


def _shape(fn: Function) -> tuple:
    """A function as the model reads it, without line numbers."""
    return (fn.name, fn.file, fn.static, fn.weak, fn.init, fn.exit, fn.returns, fn.params,
            fn.local_types,
            tuple((e.kind, e.name, e.args, e.slot, e.cond, e.target, e.mode, e.scope, e.value,
                   e.locks) for e in fn.events))


def _lineless(items: Sequence[object]) -> list[str]:
    return sorted(repr(replace(x, line=0)) for x in items)  # type: ignore[type-var]


def program_key(program: Program) -> str:
    """A hash of everything the explorer reads from a program, line numbers
    left out: programs that differ only in where their code sits share it."""
    g = program.graph
    h = hashlib.blake2b(digest_size=16)
    for part in (
        sorted((k, _shape(fn)) for k, fn in program.functions.items()),
        sorted(program.targets.items()),
        sorted(program.failure_side.items()),
        sorted(program.callbacks.items()),
        sorted(program.counters),
        _lineless(g.entries),
        _lineless(g.cpuhp),
        sorted(g.params.items()),
        g.vendor,
        program_key(program.vm_program) if program.vm_program is not None else "",
    ):
        h.update(repr(part).encode())
        h.update(b"\0")
    return h.hexdigest()


@lru_cache(maxsize=1)
def _code_hash() -> str:
    """The model's code and the front-end's (grammars/ included): a change
    to either invalidates every cached result."""
    h = hashlib.blake2b(digest_size=16)
    h.update(frontend_hash().encode())
    here = Path(__file__).resolve().parent
    for path in sorted(here.rglob("*.py")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def _cache_file(program: Program, bounds: Bounds, rules: set[str] | None) -> Path:
    h = hashlib.blake2b(digest_size=20)
    h.update(program_key(program).encode())
    lines = sorted((k, fn.line, tuple(e.line for e in fn.events))
                   for k, fn in program.functions.items())
    h.update(repr(lines).encode())
    h.update(repr(sorted((e.file, e.line) for e in program.graph.entries)).encode())
    h.update(repr(sorted((c.file, c.line) for c in program.graph.cpuhp)).encode())
    h.update(repr(bounds).encode())
    h.update(repr(None if rules is None else sorted(rules)).encode())
    h.update(_code_hash().encode())
    key = h.hexdigest()
    return cache_dir().parent / "model" / key[:2] / f"{key}.pickle"


def cached_result(program: Program, bounds: Bounds, rules: set[str] | None = None) -> Result | None:
    """The result of an earlier run on the same program, or None (no run)."""
    t0 = time.perf_counter()
    value = pickles.load(_cache_file(program, bounds, rules))
    try:
        findings, states, transitions, bound, notes = value  # type: ignore[misc]
    except (TypeError, ValueError):
        return None
    return Result(findings, states, transitions, time.perf_counter() - t0, bound, notes)


def explore_cached(program: Program, bounds: Bounds, rules: set[str] | None = None,
                   use_cache: bool = True) -> Result:
    """explore(), or its result from an earlier run on the same program.
    A cached Result has `seconds` of the lookup, and no `example`."""
    if not use_cache:
        return explore(program, bounds, rules)
    hit = cached_result(program, bounds, rules)
    if hit is not None:
        return hit
    where = _cache_file(program, bounds, rules)
    result = explore(program, bounds, rules)
    pickles.store(where, (result.findings, result.states, result.transitions,
                          result.bound_reached, result.notes))
    return result
