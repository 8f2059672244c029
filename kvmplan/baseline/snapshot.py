"""A baseline's content: per file, the parsed structure and the per-line data.

Nothing here holds kernel text: functions are event streams, tables are
bindings, and a line is only a fingerprint and a code state (lines.py).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property

from kvmplan.baseline import lines as ln
from kvmplan.baseline.conditionals import Directive
from kvmplan.baseline.headers import HeaderItem
from kvmplan.cparse.events import (
    Binding,
    Event,
    FileUnit,
    Function,
    GlobalVar,
    ParseError,
    Table,
    TopCall,
)


@dataclass(frozen=True)
class BaselineInfo:
    """Which reference kernel a baseline was extracted from.

    `name`: "linux-6.12"; `release`: the tree's Makefile version ("6.12.117");
    `commit`: the upstream tag commit the release is based on (v6.12), or "";
    `source`: where the tree came from ("Debian linux-source-6.12 6.12.117-1~deb12u1").
    """

    name: str
    release: str
    commit: str
    source: str


@dataclass(frozen=True)
class Lines:
    """Per-line data of one file: fingerprints, code states and the lines an
    inactive `#if` branch switches off. `states` has one more entry than
    `keys`: the state after the last line."""

    keys: tuple[int, ...]
    states: tuple[int, ...]
    inactive: frozenset[int]


@dataclass(frozen=True)
class StoredLines:
    """Lines as the data file stores them, decoded on first use (most files
    of a baseline are never patched)."""

    keys: str
    states: str
    inactive: tuple[tuple[int, int], ...]

    @cached_property
    def decoded(self) -> Lines:
        return Lines(ln.decode_keys(self.keys), ln.decode_states(self.states),
                     ln.decode_ranges(self.inactive))


@dataclass(frozen=True)
class Placed:
    """A function and how far its lines have moved since it was parsed.

    Shifting is deferred: a hunk near the top of a large file moves every
    function below it, and rewriting all their events each time would cost
    more than the rest of the patching.
    """

    fn: Function
    delta: int = 0

    @property
    def name(self) -> str:
        return self.fn.name

    @property
    def line(self) -> int:
        return self.fn.line + self.delta

    @property
    def end_line(self) -> int:
        return self.fn.end_line + self.delta

    def moved(self, delta: int) -> Placed:
        return Placed(self.fn, self.delta + delta) if delta else self

    @cached_property
    def shifted(self) -> Function:
        # Cached: states share the Placed of every function a patch leaves in place.
        return shift_function(self.fn, self.delta)

    def function(self) -> Function:
        return self.shifted


@dataclass(frozen=True)
class FileState:
    """One file of a baseline (or of a baseline with patches applied).

    `parsed`: the file is one the graph builder parses (it has a unit);
    header-only files (cpuhotplug.h...) keep just their `items`.
    """

    path: str
    parsed: bool
    functions: tuple[Placed, ...]
    tables: tuple[Table, ...]
    globals: tuple[GlobalVar, ...]
    top_calls: tuple[TopCall, ...]
    errors: tuple[ParseError, ...]
    items: tuple[HeaderItem, ...]
    directives: tuple[Directive, ...] = ()
    stored: StoredLines | None = None
    decoded: Lines | None = field(default=None, compare=False)

    def lines(self) -> Lines:
        if self.decoded is not None:
            return self.decoded
        assert self.stored is not None
        return self.stored.decoded

    @cached_property
    def unit(self) -> FileUnit | None:
        """The FileUnit the front-end would give (None for a header-only file)."""
        if not self.parsed:
            return None
        functions = sorted((p.function() for p in self.functions), key=lambda f: (f.line, f.name))
        return FileUnit(self.path, tuple(functions), self.tables, self.globals, self.top_calls,
                        self.errors)

    def with_lines(self, lines: Lines) -> FileState:
        return dataclasses.replace(self, stored=None, decoded=lines)


def file_state(path: str, unit: FileUnit | None, items: Iterable[HeaderItem],
               directives: Iterable[Directive], lines: Lines) -> FileState:
    return FileState(
        path=path, parsed=unit is not None,
        functions=tuple(Placed(f) for f in unit.functions) if unit else (),
        tables=unit.tables if unit else (), globals=unit.globals if unit else (),
        top_calls=unit.top_calls if unit else (), errors=unit.errors if unit else (),
        items=tuple(items), directives=tuple(directives), decoded=lines,
    )


# --- moving things by a number of lines -----------------------------------------

def shift_event(e: Event, delta: int) -> Event:
    # Positional construction: several times faster than dataclasses.replace,
    # and large files shift thousands of events per patch.
    return Event(e.kind, e.line + delta, e.name, e.args, e.slot, e.cond, e.target, e.mode,
                 e.scope, e.value, e.locks)


def shift_function(fn: Function, delta: int) -> Function:
    if not delta:
        return fn
    return dataclasses.replace(fn, line=fn.line + delta, end_line=fn.end_line + delta,
                               events=tuple(shift_event(e, delta) for e in fn.events))


def shift_table(t: Table, delta: int) -> Table:
    if not delta:
        return t
    return dataclasses.replace(t, line=t.line + delta, bindings=tuple(
        Binding(b.field, b.value, b.line + delta) for b in t.bindings))
