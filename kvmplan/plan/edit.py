"""The code a graph is built from, and the edits a stage makes to it.

A stage changes functions (event streams), ops tables and cpuhp states, then
rebuilds the hook graph with the graph stage's own graph_from_units(), so the
model runs the changed code exactly as it runs a tree. New or rewritten
functions are written in C and compiled by the same front-end."""

from __future__ import annotations

from dataclasses import dataclass, replace

from kvmplan.cparse import events as ev
from kvmplan.cparse.cache import parse_cached
from kvmplan.cparse.compile import with_locks
from kvmplan.cparse.config import KernelConfig, default_config
from kvmplan.cparse.events import Binding, Event, FileUnit, Function, Table
from kvmplan.cparse.unit import parse_file
from kvmplan.graph.build import (
    ARCH_HEADERS,
    X86_PARTS,
    GraphOptions,
    arch_defines,
    build_graph,
    graph_from_units,
    parse_units,
)
from kvmplan.graph.hooks import CpuhpState, HookGraph
from kvmplan.source import SourceTree


@dataclass(frozen=True)
class Code:
    """Parsed files of a tree plus its cpuhp states and x86 ops: enough to
    rebuild the hook graph after a stage has changed some functions."""

    root: str
    vendor: str
    config: KernelConfig
    units: tuple[FileUnit, ...]
    states: tuple[CpuhpState, ...]
    x86_ops: tuple[tuple[str, str], ...]

    def graph(self) -> HookGraph:
        return graph_from_units(self.root, list(self.units), {s.name: s for s in self.states},
                                dict(self.x86_ops), self.vendor)

    def unit(self, path: str) -> FileUnit | None:
        return next((u for u in self.units if u.path == path), None)

    def find(self, name: str, file: str = "") -> Function | None:
        """A function by name (in `file` when given); strong definitions first."""
        found = [fn for u in self.units if not file or u.path == file
                 for fn in u.functions if fn.name == name]
        found.sort(key=lambda fn: (fn.weak, not fn.file.endswith(".c"), fn.file))
        return found[0] if found else None

    def functions(self, name: str) -> list[Function]:
        return [fn for u in self.units for fn in u.functions if fn.name == name]

    def _with_unit(self, unit: FileUnit) -> Code:
        units = tuple(unit if u.path == unit.path else u for u in self.units)
        if unit.path not in {u.path for u in self.units}:
            units = tuple(sorted(units + (unit,), key=lambda u: u.path))
        return replace(self, units=units)

    def put(self, fn: Function, old_name: str = "") -> Code:
        """Replace the function called `old_name` (default: fn.name) in fn.file, or add it."""
        old_name = old_name or fn.name
        unit = self.unit(fn.file) or FileUnit(fn.file, (), (), (), ())
        kept = tuple(f for f in unit.functions if f.name != old_name and f.name != fn.name)
        functions = tuple(sorted(kept + (fn,), key=lambda f: (f.line, f.name)))
        return self._with_unit(replace(unit, functions=functions))

    def drop(self, file: str, name: str) -> Code:
        unit = self.unit(file)
        if unit is None:
            return self
        return self._with_unit(replace(unit, functions=tuple(f for f in unit.functions
                                                             if f.name != name)))

    def put_globals(self, path: str, extra: FileUnit) -> Code:
        """Add the file-scope variables a compiled snippet declares."""
        unit = self.unit(path) or FileUnit(path, (), (), (), ())
        known = {g.name for g in unit.globals}
        added = tuple(g for g in extra.globals if g.name not in known)
        return self._with_unit(replace(unit, globals=unit.globals + added))

    def drop_global(self, path: str, name: str) -> Code:
        unit = self.unit(path)
        if unit is None:
            return self
        return self._with_unit(replace(unit, globals=tuple(g for g in unit.globals
                                                           if g.name != name)))

    def bind(self, table_name: str, field: str, value: str) -> Code:
        """Set `.field = value` in the file-scope table called `table_name`."""
        code = self
        for unit in self.units:
            tables = []
            changed = False
            for t in unit.tables:
                if t.name == table_name:
                    kept = tuple(b for b in t.bindings if b.field != field)
                    line = max((b.line for b in t.bindings), default=t.line)
                    t = Table(t.name, t.struct, t.file, t.line, kept + (Binding(field, value, line),))
                    changed = True
                tables.append(t)
            if changed:
                code = code._with_unit(replace(unit, tables=tuple(tables)))
        return code

    def with_state(self, state: CpuhpState) -> Code:
        states = tuple(s for s in self.states if s.name != state.name) + (state,)
        return replace(self, states=tuple(sorted(states, key=lambda s: (s.index, s.name))))

    def compile(self, path: str, text: str, anchors: dict[str, int]) -> FileUnit:
        """Compile C written by a stage as if it were part of `path`; each
        function is moved to the line given in `anchors` (the code it replaces
        or sits next to), so traces point near the place to change."""
        unit = parse_file(path, text.encode(), self.config)
        if unit.errors:
            raise ValueError(f"stage code for {path} does not parse: {unit.errors[0].text}")
        moved = []
        for fn in unit.functions:
            delta = anchors.get(fn.name, fn.line) - fn.line
            events = tuple(replace(e, line=e.line + delta) for e in fn.events)
            moved.append(replace(fn, line=fn.line + delta, end_line=fn.end_line + delta,
                                 events=events))
        return replace(unit, functions=tuple(moved))


# Files the graph reads besides its parts: cpuhp states and the x86 ops list.
_GRAPH_TABLES = ("include/linux/cpuhotplug.h", "arch/x86/include/asm/kvm-x86-ops.h") + ARCH_HEADERS


def load_code(tree: SourceTree, vendor: str = "vmx", base: Code | None = None,
              changed: frozenset[str] = frozenset(), parts: tuple[str, ...] = X86_PARTS,
              defines: tuple[tuple[str, str], ...] = ()) -> tuple[Code, HookGraph]:
    """The tree's code and its hook graph (the graph of the code as it is).

    With `base` (the code of the same tree before the files in `changed`
    changed), only those files are parsed again. `parts` and `defines`
    (CONFIG_ values over the default configuration) choose what is built;
    the graph is the one build_graph() gives for them."""
    config = default_config().with_defines(dict(defines))
    config = config.with_defines(arch_defines(tree, config))
    options = GraphOptions(vendor=vendor, parts=parts)
    if base is None or base.config != config:
        units = tuple(sorted(parse_units(tree, config, options), key=lambda u: u.path))
    else:
        kept = {u.path: u for u in base.units}
        for rel in sorted(changed):
            if not rel.endswith((".c", ".h")) or not any(
                    rel == p or rel.startswith(p.rstrip("/") + "/") for p in parts):
                continue
            data = tree.read(rel)
            kept.pop(rel, None)
            if data is not None:
                kept[rel] = parse_cached(rel, data, config)
        units = tuple(kept[k] for k in sorted(kept))
    if base is None or changed & set(_GRAPH_TABLES):
        # cpuhp states and x86 ops, as build_graph() reads them (no parts: no parsing)
        tables = build_graph(tree, config=config, options=GraphOptions(vendor=vendor, parts=()))
        states = tuple(sorted(tables.cpuhp_states.values(), key=lambda s: (s.index, s.name)))
        x86_ops = tuple(sorted(tables.x86_ops.items()))
    else:
        states, x86_ops = base.states, base.x86_ops
    code = Code(str(tree.root), vendor, config, units, states, x86_ops)
    return code, code.graph()


# --- event-stream edits ------------------------------------------------------------
# Inserted blocks name their own events by offset: a target of inner(k) jumps
# to the k-th event of the block (k == len(block): the event after it).
# Non-negative targets in a block are indices of the old stream.

def inner(k: int) -> int:
    return -2 - k


def insert(events: tuple[Event, ...], at: int, block: list[Event],
           land: bool = True) -> tuple[Event, ...]:
    """Insert `block` before event `at`. With `land`, jumps that went to `at`
    now land on the block (it runs on every path that reached `at`); without,
    they go past it (the block belongs to the fall-through path only)."""
    n = len(block)

    def shift(t: int) -> int:
        return t + n if t > at or (t == at and not land) else t

    old = [replace(e, target=shift(e.target)) if e.target >= 0 else e for e in events]
    new = []
    for e in block:
        if e.target <= -2:
            new.append(replace(e, target=at + (-2 - e.target)))
        elif e.target >= 0:
            new.append(replace(e, target=shift(e.target) if e.target != at else at + n))
        else:
            new.append(e)
    return relock(tuple(old[:at] + new + old[at:]))


def noop(e: Event, why: str) -> Event:
    """An event that does nothing (keeps indices stable): a label naming the change."""
    return Event(ev.LABEL, e.line, name=f"plan: {why}")


def put_event(events: tuple[Event, ...], i: int, e: Event) -> tuple[Event, ...]:
    return relock(events[:i] + (e,) + events[i + 1:])


def relock(events: tuple[Event, ...]) -> tuple[Event, ...]:
    """Recompute the locks certainly held before each event, with the
    front-end's own must-analysis."""
    return tuple(with_locks(list(events)))


def lock(line: int, name: str, mode: str) -> Event:
    return Event(ev.LOCK, line, name=name, mode=mode, scope="call")


def unlock(line: int, name: str, mode: str) -> Event:
    return Event(ev.UNLOCK, line, name=name, mode=mode, scope="call")
