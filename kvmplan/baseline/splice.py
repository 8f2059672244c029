"""Splice a hunk's change into a baseline function's event stream.

A hunk's window is parsed twice as a fragment (fragment.py): its preimage
(P: context and removed lines) and its postimage (H: context and added
lines), each wrapped the same way. Both parses carry the same artefacts of
the cut (a statement begun before the window, an `else` whose `if` is
outside it...), so comparing P with H isolates what the hunk changed, and
comparing P with the baseline's own events (F) ties the fragment to the
real stream. The new stream keeps F outside the window, takes H's events
inside it in H's order, drops F's events the hunk removed, and keeps F's
events on context lines that the fragment could not see.

Afterwards the stream is made whole again the way the compiler makes it:
jump and branch targets remapped (gotos re-resolved by label), temporaries
renumbered, and the locks held at each event recomputed.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Any

from kvmplan.cparse import events as ev
from kvmplan.cparse.compile import with_locks
from kvmplan.cparse.events import Event

_TEMP = re.compile(r"\$(\d+)")
_STRUCTURAL_JUMPS = frozenset({"break", "continue", "endif", "switch"})


@dataclass(frozen=True)
class Window:
    """A hunk's place: old lines first..last replaced by new lines first..new_last.

    `context` maps the old number of each context line to its new number;
    `removed` are old numbers, `added` new numbers. Lines after the window
    move by `delta`.
    """

    first: int
    last: int
    new_last: int
    context: dict[int, int]
    removed: frozenset[int]
    added: frozenset[int]

    @property
    def delta(self) -> int:
        return self.new_last - self.last

    def context_old(self, line: int) -> int | None:
        """An old line that is still there (outside the window, or context)."""
        if line < self.first or line > self.last or line in self.context:
            return line
        return None

    def new_line(self, line: int) -> int | None:
        """Where an old line is now (None: the hunk removed it)."""
        if line < self.first:
            return line
        if line > self.last:
            return line + self.delta
        return self.context.get(line)


def _norm(value: Any) -> Any:
    if isinstance(value, str):
        return _TEMP.sub("$", value)
    if isinstance(value, tuple):
        return tuple(_norm(v) for v in value)
    return value


def _sig(e: Event, line: Any) -> tuple[Any, ...]:
    return (e.kind, line, e.name, _norm(e.args), _norm(e.slot), _norm(e.cond), e.mode, e.scope,
            _norm(e.value))


def _rename(value: Any, f: Callable[[int], int]) -> Any:
    if isinstance(value, str):
        return _TEMP.sub(lambda m: f"${f(int(m.group(1)))}", value) if "$" in value else value
    if isinstance(value, tuple):
        return tuple(_rename(v, f) for v in value)
    return value


def _renamed(e: Event, f: Callable[[int], int]) -> Event:
    return dataclasses.replace(e, args=_rename(e.args, f), slot=_rename(e.slot, f),
                               cond=_rename(e.cond, f), value=_rename(e.value, f))


def _temps(e: Event) -> list[int]:
    found: list[int] = []

    def walk(value: Any) -> None:
        if isinstance(value, str):
            found.extend(int(m) for m in _TEMP.findall(value))
        elif isinstance(value, tuple):
            for v in value:
                walk(v)

    walk((e.args, e.slot, e.cond, e.value))
    return found


def _matches(a: list[tuple[Any, ...]], b: list[tuple[Any, ...]]) -> dict[int, int]:
    """Positions of a matched to positions of b (longest common blocks)."""
    out: dict[int, int] = {}
    for block in SequenceMatcher(None, a, b, autojunk=False).get_matching_blocks():
        for k in range(block.size):
            out[block.a + k] = block.b + k
    return out


def _span(f_events: Sequence[Event], w: Window) -> tuple[int, int]:
    """F's events from the first to the last on an old window line; for a
    window without events, the place new ones go (after the events before
    the window, before the first one after it)."""
    inside = [j for j, e in enumerate(f_events) if w.first <= e.line <= w.last]
    if inside:
        return inside[0], inside[-1] + 1
    before = [j for j, e in enumerate(f_events) if e.line < w.first]
    lo = before[-1] + 1 if before else 0
    at = next((j for j in range(lo, len(f_events)) if f_events[j].line > w.last), len(f_events))
    return at, at


@dataclass(frozen=True)
class _Alignment:
    anchors: tuple[tuple[int, int], ...]   # (H index, F index), in order: the same event
    dropped: frozenset[int]                # F indices the hunk changed or removed
    inserted: frozenset[int]               # H indices that are new


def _align(f_events: Sequence[Event], p_events: Sequence[Event], h_events: Sequence[Event],
           p_idx: list[int], h_idx: list[int], a: int, b: int, w: Window) -> _Alignment:
    # P <-> F on old lines; P <-> H with P's context lines renumbered (an
    # event on a removed or an added line matches nothing).
    p_old = [_sig(p_events[i], p_events[i].line) for i in p_idx]
    f_sig = [_sig(f_events[j], f_events[j].line) for j in range(a, b)]
    pf = {p_idx[x]: a + y for x, y in _matches(p_old, f_sig).items()}
    p_new = [_sig(p_events[i], w.context.get(p_events[i].line, ("removed", p_events[i].line)))
             for i in p_idx]
    h_sig = [_sig(h_events[i], ("added", h_events[i].line) if h_events[i].line in w.added
                  else h_events[i].line) for i in h_idx]
    ph = {p_idx[x]: h_idx[y] for x, y in _matches(p_new, h_sig).items()}
    anchors = tuple(sorted((h, pf[p]) for p, h in ph.items() if p in pf))
    anchored = {j for _, j in anchors}
    dropped = {j for p, j in pf.items() if p not in ph}
    dropped |= {j for j in range(a, b) if j not in anchored and f_events[j].line in w.removed
                and w.first <= f_events[j].line <= w.last}
    matched_h = set(ph.values())
    return _Alignment(anchors, frozenset(dropped), frozenset(h for h in h_idx if h not in matched_h))


@dataclass
class _Merged:
    """The window's new events in order, and where old positions went."""

    out: list[tuple[str, int]]             # ("F" kept | "H" new | "A" anchor (H index), index)
    f_at: dict[int, int]                   # F index in the window -> new index
    h_at: dict[int, int]                   # H index -> new index
    was: dict[int, int]                    # new H event -> the F event it rewrites (same kind)


def _merge(f_events: Sequence[Event], h_events: Sequence[Event], h_idx: list[int],
           al: _Alignment, a: int, b: int, w: Window) -> _Merged:
    """Anchors in order; between two, F's kept events and H's new ones
    interleaved by line, each side's order kept. A dropped F event's
    position goes to whatever comes next (so a jump to it still lands)."""
    m = _Merged([], {}, {}, {})
    pending: list[int] = []

    def emit(origin: str, index: int) -> None:
        at = a + len(m.out)
        m.out.append((origin, index))
        (m.f_at if origin == "F" else m.h_at)[index] = at
        for j in pending:
            m.f_at[j] = at
        pending.clear()

    def f_line(j: int) -> int:
        moved = w.new_line(f_events[j].line)
        return moved if moved is not None else f_events[j].line

    f_next, h_next = a, 0
    for h_anchor, f_anchor in [*al.anchors, (-1, b)]:
        stop = h_idx.index(h_anchor) if h_anchor >= 0 else len(h_idx)
        gap_f = list(range(f_next, f_anchor))
        gap_h = [h for h in h_idx[h_next:stop] if h in al.inserted]
        # A changed line: its new events rewrite the old ones of the same kind.
        old = [j for j in gap_f if j in al.dropped]
        for h in gap_h:
            j = next((j for j in old if f_events[j].kind == h_events[h].kind), None)
            if j is not None:
                m.was[h] = j
                old.remove(j)
        while gap_f or gap_h:
            if gap_f and (not gap_h or f_line(gap_f[0]) <= h_events[gap_h[0]].line):
                j = gap_f.pop(0)
                if j in al.dropped:
                    pending.append(j)
                else:
                    emit("F", j)
            else:
                emit("H", gap_h.pop(0))
        if h_anchor >= 0:
            emit("A", h_anchor)
            m.f_at[f_anchor] = a + len(m.out) - 1
            f_next, h_next = f_anchor + 1, stop + 1
    for j in pending:
        m.f_at[j] = a + len(m.out)
    return m


def splice(f_events: Sequence[Event], p_events: Sequence[Event], h_events: Sequence[Event],
           w: Window, old_depth: Callable[[int], int], new_depth: Callable[[int], int]
           ) -> tuple[Event, ...]:
    """F's events with the window's change from P to H applied (new line numbers).

    `old_depth`/`new_depth`: the brace depth at the start of an old/new line.
    """
    p_idx = [i for i, e in enumerate(p_events) if w.first <= e.line <= w.last]
    h_idx = [i for i, e in enumerate(h_events) if w.first <= e.line <= w.new_last]
    a, b = _span(f_events, w)
    al = _align(f_events, p_events, h_events, p_idx, h_idx, a, b, w)
    m = _merge(f_events, h_events, h_idx, al, a, b, w)
    out = m.out
    end_of_window = a + len(out)
    n_old = len(f_events)
    anchor_f = dict(al.anchors)

    def f_map(t: int) -> int:
        """Where an old position is now."""
        if t < a:
            return t
        if t >= n_old:
            return end_of_window + n_old - b
        if t >= b:
            return t - b + end_of_window
        return m.f_at.get(t, end_of_window)

    def f_target(e: Event) -> int:
        """Where an F event's jump lands now. A jump out of a construct
        (a loop's exit, the end of an if) also lands on new code inserted
        right before its old target when that code lies outside the
        construct, i.e. no deeper than the jump's own line."""
        t = f_map(e.target)
        if e.target <= 0 or e.kind == ev.LOOP_END or (e.kind == ev.JUMP and e.name == "continue"):
            return t
        k = t - a
        line = w.context_old(e.line)
        if not 0 < k <= len(out) or line is None:
            return t
        limit = old_depth(line) - (1 if e.kind == ev.JUMP and e.name == "endif" else 0)
        run = k
        while run > 0 and out[run - 1][0] == "H":
            run -= 1
        # The first new event outside the construct; what follows it in the
        # run is outside too (nested blocks of the new code included).
        for k2 in range(run, k):
            if new_depth(h_events[out[k2][1]].line) <= limit:
                return a + k2
        return t

    h_order = {h: k for k, h in enumerate(h_idx)}
    h_last = max(m.h_at.values(), default=None)

    def h_target(t: int) -> int | None:
        """Where an H event's jump lands, if inside the window."""
        if t not in h_order:
            return None
        return next((m.h_at[h] for h in h_idx[h_order[t]:] if h in m.h_at), None)

    def past_window(e: Event) -> int | None:
        """A new event's jump past the fragment's last event (the end of a
        new `if` at the window's end): right after the last event the
        fragment had. Not a loop's break or continue (see _outside_target)."""
        if e.kind == ev.JUMP and e.name in ("break", "continue"):
            return None
        if h_idx and e.target > h_idx[-1] and h_last is not None:
            return h_last + 1
        return None

    # Temporaries: the window's take H's numbering after those allocated
    # before it; those after it move by the hunk's difference (P and H are
    # numbered alike, so theirs is it).
    first_new = next((k for k, (origin, _) in enumerate(out) if origin != "F"), len(out))
    ahead = [*f_events[:a], *(f_events[j] for _, j in out[:first_new])]
    before = max((n for e in ahead for n in _temps(e)), default=0)
    after_shift = (max((n for h in h_idx for n in _temps(h_events[h])), default=0)
                   - max((n for i in p_idx for n in _temps(p_events[i])), default=0))

    events: list[Event] = []
    # (Locks are left as they are: with_locks computes them afresh.)
    for e in f_events[:a]:
        t = f_target(e) if e.target >= 0 else -1
        events.append(e if t == e.target else dataclasses.replace(e, target=t))
    outside: list[int] = []
    last_new = max((k for k, (origin, _) in enumerate(out) if origin != "F"), default=-1)
    for k, (origin, index) in enumerate(out):
        if origin == "F":
            e = f_events[index]
            if after_shift and k > last_new:
                # After all of the fragment's events (the start of a statement
                # the window cuts): numbered like the events after the window.
                e = _renamed(e, lambda n: n + after_shift if n > before else n)
            events.append(dataclasses.replace(e, line=w.new_line(e.line) or e.line,
                                              target=f_target(e) if e.target >= 0 else -1))
            continue
        h = h_events[index]
        target = h_target(h.target) if h.target >= 0 else -1
        # A jump the fragment cannot place (its target lies past the window)
        # goes where the event it stands for went.
        if target is None and origin == "A":
            target = f_target(f_events[anchor_f[index]])
        elif target is None and index in m.was:
            target = f_target(f_events[m.was[index]])
        elif target is None:
            target = past_window(h)
        if target is None:
            outside.append(len(events))
            target = end_of_window
        events.append(dataclasses.replace(_renamed(h, lambda n: n + before), target=target))
    for e in f_events[b:]:
        if after_shift:
            e = _renamed(e, lambda n: n + after_shift if n > before else n)
        moved = w.new_line(e.line)
        events.append(dataclasses.replace(e, line=e.line + w.delta if moved is None else moved,
                                          target=f_map(e.target) if e.target >= 0 else -1))
    for i in outside:
        events[i] = _outside_target(events, i)
    return tuple(with_locks(_resolve_gotos(events)))


def _outside_target(events: list[Event], i: int) -> Event:
    """A new event whose target lies outside the fragment: a break or continue
    of a loop that encloses the window."""
    e = events[i]
    if e.kind != ev.JUMP or e.name not in ("break", "continue"):
        return e
    for k in range(i - 1, -1, -1):
        loop = events[k]
        if loop.kind == ev.LOOP and loop.target > i:
            return dataclasses.replace(e, target=loop.target - 1 if e.name == "continue"
                                       else loop.target)
    return e


def _resolve_gotos(events: list[Event]) -> list[Event]:
    """Targets of gotos, by label, as the compiler resolves them."""
    labels: dict[str, int] = {}
    for i, e in enumerate(events):
        if e.kind == ev.LABEL:
            labels.setdefault(e.name, i)
    out = []
    for e in events:
        if e.kind == ev.JUMP and e.name not in _STRUCTURAL_JUMPS:
            e = dataclasses.replace(e, target=labels.get(e.name, len(events) - 1))
        out.append(e)
    return out


def drop_events(events: Sequence[Event], drop: Sequence[bool]) -> tuple[Event, ...]:
    """The stream without the marked events (code an `#if` now switches off);
    a jump to a dropped event lands on the next one kept."""
    if not any(drop):
        return tuple(events)
    new_at: list[int] = []
    kept = 0
    for gone in drop:
        new_at.append(kept)
        if not gone:
            kept += 1
    out = [dataclasses.replace(e, target=new_at[e.target] if 0 <= e.target < len(events)
                               else (kept if e.target >= 0 else -1))
           for e, gone in zip(events, drop) if not gone]
    return tuple(with_locks(_resolve_gotos(out)))


def concat(first: Sequence[Event], second: Sequence[Event]) -> tuple[Event, ...]:
    """Two streams as one function's (targets and temporaries of the second
    moved after the first's): to splice a hunk that joins two functions."""
    shift = max((n for e in first for n in _temps(e)), default=0)
    moved = [dataclasses.replace(_renamed(e, lambda n: n + shift) if shift else e,
                                 target=e.target + len(first) if e.target >= 0 else -1)
             for e in second]
    return (*first, *moved)


def split(events: Sequence[Event], at: int) -> tuple[tuple[Event, ...], tuple[Event, ...]]:
    """One stream cut into two functions' at index `at` (a hunk that splits
    a function): each gets its own targets, temporaries and locks."""
    head = [dataclasses.replace(e, target=min(e.target, at - 1)) if e.target >= at else e
            for e in events[:at]]
    shift = max((n for e in head for n in _temps(e)), default=0)
    tail = [dataclasses.replace(_renamed(e, lambda n: n - shift if n > shift else n)
                                if shift else e,
                                target=max(e.target - at, 0) if e.target >= 0 else -1)
            for e in events[at:]]
    return (tuple(with_locks(_resolve_gotos(head))), tuple(with_locks(_resolve_gotos(tail))))
