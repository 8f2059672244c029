"""Apply a file's hunks to its baseline state: place them by fingerprints,
then update the lines, the functions' event streams, the file-scope items
(tables, globals, macro statements) and the header facts they touch.

Placement is `patch`'s: diff.apply.place_hunks, keyed by fingerprints
instead of text.
The placed hunks are then applied from the bottom of the file up, so each
one still finds the lines above it where the baseline has them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from kvmplan.baseline import lines as ln
from kvmplan.baseline.conditionals import directives, evaluate
from kvmplan.baseline.extract import file_from_text
from kvmplan.baseline.fragment import (
    Fragment,
    braces_only,
    continued_lines,
    frame,
    parse_window,
    tail_function,
    unfinished_lines,
    wrapper_function,
)
from kvmplan.baseline.headers import (
    HEADERS,
    HeaderItem,
    header_items,
    in_cpuhp_enum,
)
from kvmplan.baseline.snapshot import FileState, Lines, Placed
from kvmplan.baseline.splice import Window, concat, drop_events, splice, split
from kvmplan.cparse.config import KernelConfig
from kvmplan.cparse.events import Binding, Event, Function, GlobalVar, Table
from kvmplan.diff.apply import Edit, HunkResult, place_hunks, previously_applied
from kvmplan.diff.filepatch import Hunk
from kvmplan.graph.build import ARCH_HEADERS


@dataclass(frozen=True)
class Configs:
    """The configuration C files are parsed with, and the one the arch
    headers are read with (the builder's two)."""

    parse: KernelConfig
    header: KernelConfig


def patch_file(fs: FileState, hunks: Sequence[Hunk], configs: Configs
               ) -> tuple[FileState, tuple[HunkResult, ...], tuple[str, ...]]:
    """The file after its hunks, how each was placed, and warnings (code a
    changed `#if` switches on, which the baseline has no structure for)."""
    keys = fs.lines().keys
    if previously_applied(keys, hunks, ln.fingerprint):
        return fs, tuple(HunkResult(i, "present", h.new_start) for i, h in enumerate(hunks)), ()
    edits, results = place_hunks(keys, hunks, ln.fingerprint)
    for edit in reversed(edits):
        fs = apply_edit(fs, edit, configs)
    if not edits:
        return fs, results, ()
    fs, woken = _reevaluate(fs, configs.parse)
    if not woken:
        return fs, results, ()
    warning = (f"{fs.path}: lines {_ranges(woken)} are compiled after the patch (an #if "
               "changed) but were not in the baseline; their code is missing")
    return fs, results, (warning,)


def _ranges(lines: frozenset[int]) -> str:
    runs = ln.encode_ranges(lines)
    text = ", ".join(f"{a}-{b}" if a != b else f"{a}" for a, b in runs[:4])
    return text + (", ..." if len(runs) > 4 else "")


def _reevaluate(fs: FileState, config: KernelConfig) -> tuple[FileState, frozenset[int]]:
    """Evaluate the file's `#if`s again: drop what they now switch off, and
    return the non-blank lines they switch on."""
    lines = fs.lines()
    inactive = evaluate(fs.directives, lines.keys, config)
    if inactive == lines.inactive:
        return fs, frozenset()
    off = inactive - lines.inactive
    on = lines.inactive - inactive
    fs = fs.with_lines(dataclasses.replace(lines, inactive=inactive))
    if not off or not fs.parsed:
        return fs, on
    functions: list[Placed] = []
    for p in fs.functions:
        if p.line in off:
            continue
        if any(p.line <= n <= p.end_line for n in off):
            fn = p.function()
            p = Placed(dataclasses.replace(
                fn, events=drop_events(fn.events, [e.line in off for e in fn.events])))
        functions.append(p)
    return dataclasses.replace(
        fs, functions=tuple(functions),
        tables=tuple(dataclasses.replace(t, bindings=tuple(b for b in t.bindings
                                                           if b.line not in off))
                     for t in fs.tables if t.line not in off),
        globals=tuple(g for g in fs.globals if g.line not in off),
        top_calls=tuple(c for c in fs.top_calls if c.line not in off),
    ), on


def new_file(path: str, hunks: Sequence[Hunk], configs: Configs) -> FileState:
    """A file the patch creates: parsed whole, as extraction would."""
    lines = [line.text for h in hunks for line in h.lines if line.kind == "+"]
    data = ("\n".join(lines) + "\n").encode("utf-8", "replace") if lines else b""
    return file_from_text(path, data, configs.parse, configs.header)


def _window(edit: Edit) -> tuple[Window, list[str], list[str]]:
    first = edit.start + 1
    old, new = first, first
    context: dict[int, int] = {}
    removed: set[int] = set()
    added: set[int] = set()
    pre: list[str] = []
    post: list[str] = []
    for kind, text in edit.lines:
        if kind == " ":
            context[old] = new
            pre.append(text)
            post.append(text)
            old += 1
            new += 1
        elif kind == "-":
            removed.add(old)
            pre.append(text)
            old += 1
        else:
            added.add(new)
            post.append(text)
            new += 1
    w = Window(first, first + len(pre) - 1, first + len(post) - 1, context, frozenset(removed),
               frozenset(added))
    return w, pre, post


def _inactive_after(w: Window, inactive: frozenset[int]) -> frozenset[int]:
    """Inactive lines after the hunk; an added line is inactive when the
    nearest surviving lines on both sides of it are."""
    out = {n for n in (w.new_line(line) for line in inactive) if n is not None}
    old_of = {new: old for old, new in w.context.items()}
    survivors = sorted(old_of)
    for line in w.added:
        before = [n for n in survivors if n < line]
        after = [n for n in survivors if n > line]
        prev_old = old_of[before[-1]] if before else w.first - 1
        next_old = old_of[after[0]] if after else w.last + 1
        if prev_old in inactive and next_old in inactive:
            out.add(line)
    return frozenset(out)


def apply_edit(fs: FileState, edit: Edit, configs: Configs) -> FileState:
    """The file with one placed hunk applied (lines above it keep their numbers)."""
    w, pre, post = _window(edit)
    old = fs.lines()
    inactive = _inactive_after(w, old.inactive)
    # Code an #if switches off is blank to the fragments, as to the front-end;
    # so are leading context lines that end a statement begun above.
    pre_rows = ["" if w.first + i in old.inactive else t for i, t in enumerate(pre)]
    post_rows = ["" if w.first + i in inactive else t for i, t in enumerate(post)]
    kinds = [kind for kind, _ in edit.lines]
    lead = next((i for i, k in enumerate(kinds) if k != " "), len(kinds))
    trail = next((i for i, k in enumerate(reversed(kinds)) if k != " "), len(kinds))
    for i in range(continued_lines(pre_rows[:lead])):
        pre_rows[i] = post_rows[i] = braces_only(pre_rows[i])
    if trail < len(kinds):
        for i in range(1, unfinished_lines(pre_rows[len(pre_rows) - trail:]) + 1):
            pre_rows[-i] = braces_only(pre_rows[-i])
            post_rows[-i] = braces_only(post_rows[-i])
    start = old.states[edit.start]
    fr = frame(fs, w.first, w.last, old.states)
    post_frag = parse_window(fs.path, post_rows, w.first, fr, start, configs.parse, parse=fs.parsed)

    # Code states: the window's from its own scan; after it, moved by any
    # change in depth the hunk makes.
    after = old.states[edit.start + len(pre):]
    diff = ln.depth_of(post_frag.end) - ln.depth_of(after[0] if after else 0)
    if diff:
        after = tuple(ln.state(ln.depth_of(s) + diff, ln.in_comment(s)) for s in after)
    lines = Lines(
        keys=old.keys[:edit.start] + ln.fingerprints(post) + old.keys[edit.start + len(pre):],
        states=old.states[:edit.start] + post_frag.states + tuple(after),
        inactive=inactive,
    )
    items = _items(fs, w, post_rows, configs)
    found = [(n, text) for line, text in fs.directives if (n := w.new_line(line)) is not None]
    found += directives(post, w.first, only=w.added)
    kept = tuple(sorted(found))
    if not fs.parsed:
        return dataclasses.replace(fs, items=items, directives=kept, stored=None, decoded=lines)

    pre_frag: list[Fragment] = []

    def pre_fragment() -> Fragment:
        if not pre_frag:
            pre_frag.append(parse_window(fs.path, pre_rows, w.first, fr, start, configs.parse))
        return pre_frag[0]

    def old_depth(line: int) -> int:
        return ln.depth_of(old.states[line - 1]) if 0 < line <= len(old.states) else 0

    def new_depth(line: int) -> int:
        return ln.depth_of(lines.states[line - 1]) if 0 < line <= len(lines.states) else 0

    functions = _functions(fs, w, post_frag, pre_fragment, old_depth, new_depth)
    return dataclasses.replace(
        fs, functions=functions, tables=_tables(fs, w, post_frag, fr.table),
        globals=tuple(sorted(
            [dataclasses.replace(g, line=n) for g in fs.globals
             if (n := w.new_line(g.line)) is not None]
            + [g for g in post_frag.unit.globals if g.line in w.added], key=_global_order)),
        top_calls=tuple(sorted(
            [dataclasses.replace(c, line=n) for c in fs.top_calls
             if (n := w.new_line(c.line)) is not None]
            + [c for c in post_frag.unit.top_calls if c.line in w.added],
            key=lambda c: (c.line, c.name))),
        errors=tuple(dataclasses.replace(e, line=n) for e in fs.errors
                     if (n := w.new_line(e.line)) is not None),
        items=items, directives=kept, stored=None, decoded=lines,
    )


def _global_order(g: GlobalVar) -> tuple[bool, int]:
    """The front-end's order: declarations, then declaration macros
    (DEFINE_MUTEX, DEFINE_PER_CPU, LIST_HEAD...), each by line."""
    macro = g.per_cpu or g.type.startswith(("DEFINE_", "DECLARE_")) or g.type == "list_head"
    return (macro, g.line)


def _functions(fs: FileState, w: Window, post: Fragment, pre_fragment: Callable[[], Fragment],
               old_depth: Callable[[int], int], new_depth: Callable[[int], int]
               ) -> tuple[Placed, ...]:
    """The file's functions after the hunk: those it encloses or cuts are
    spliced (and split or joined when the hunk closes one function and opens
    another, or the reverse), those inside it are what the fragment now holds."""
    def spliced(f_events: Sequence[Event], pre: Sequence[Event], new: Sequence[Event]
                ) -> tuple[Event, ...]:
        return splice(f_events, pre, new, w, old_depth, new_depth)

    def made(base: Function, line: int, end_line: int, events: tuple[Event, ...],
             locals_: set[tuple[str, str]]) -> Placed:
        return Placed(dataclasses.replace(base, file=fs.path, line=line, end_line=end_line,
                                          events=events, local_types=tuple(sorted(locals_))))

    def locals_of(fn: Function | None, pre: Function | None = None) -> set[tuple[str, str]]:
        """Struct-typed locals: fn's, less those its fragment `pre` shows."""
        found = set(fn.local_types) if fn else set()
        return found - set(pre.local_types) if pre else found

    runs_past = post.suffix_line
    starts_in = next((p for p in fs.functions if p.line < w.first <= p.end_line), None)
    ends_in = next((p for p in fs.functions if w.first <= p.line <= w.last < p.end_line), None)
    new_wrap = wrapper_function(post, starts_in.name, w.first) if starts_in else None
    new_tail = tail_function(post, w.first)
    out: list[Placed] = []
    for p in fs.functions:
        if p.end_line < w.first:
            out.append(p)
        elif p.line > w.last:
            out.append(p.moved(w.delta))
        elif p is starts_in:
            fn = p.function()
            pre = wrapper_function(pre_fragment(), fn.name, w.first)
            pre_events = pre.events if pre else ()
            kept = locals_of(fn, pre) | locals_of(new_wrap)
            if (fn.end_line > w.last and new_wrap is not None and new_tail is not None
                    and new_wrap.end_line <= w.new_last):
                # The hunk closes fn inside the window and opens another.
                events = spliced(fn.events, pre_events, concat(new_wrap.events, new_tail.events))
                cut = next((i for i, e in enumerate(events) if e.line >= new_tail.line), len(events))
                head, tail = split(events, cut)
                out.append(made(fn, fn.line, new_wrap.end_line, head, kept))
                out.append(made(new_tail, new_tail.line, fn.end_line + w.delta, tail,
                                locals_of(fn, pre) | locals_of(new_tail)))
                continue
            if (fn.end_line <= w.last and ends_in is not None and new_wrap is not None
                    and new_wrap.end_line == runs_past):
                # The hunk joins fn with the function after it.
                nxt = ends_in.function()
                pre_tail = tail_function(pre_fragment(), w.first)
                events = spliced(concat(fn.events, nxt.events),
                                 concat(pre_events, pre_tail.events if pre_tail else ()),
                                 new_wrap.events)
                out.append(made(fn, fn.line, nxt.end_line + w.delta, events,
                                kept | locals_of(nxt, pre_tail)))
                continue
            if fn.end_line > w.last:
                end = fn.end_line + w.delta
            elif new_wrap is not None and new_wrap.end_line <= w.new_last:
                end = new_wrap.end_line           # its closing brace, as the fragment saw it
            else:
                end = w.new_line(fn.end_line) or w.new_last
            events = spliced(fn.events, pre_events, new_wrap.events if new_wrap else ())
            out.append(made(fn, fn.line, end, events, kept))
        elif p is ends_in:
            if (starts_in is not None and starts_in.end_line <= w.last and new_wrap is not None
                    and new_wrap.end_line == runs_past):
                continue                          # joined above
            # The window holds p's header and the start of its body.
            fn = p.function()
            pre = tail_function(pre_fragment(), w.first)
            events = spliced(fn.events, pre.events if pre else (),
                             new_tail.events if new_tail else ())
            line = new_tail.line if new_tail else (w.new_line(fn.line) or w.first)
            out.append(made(new_tail or fn, line, fn.end_line + w.delta, events,
                            locals_of(fn, pre) | locals_of(new_tail)))
        # else: wholly inside the window; what the window now holds is parsed below
    for f in post.unit.functions:
        if f.line >= w.first and f.end_line <= w.new_last:
            out.append(Placed(f))
    out.sort(key=lambda p: (p.line, p.name))
    return tuple(out)


def _tables(fs: FileState, w: Window, post: Fragment, framing: Table | None) -> tuple[Table, ...]:
    """Tables after the hunk: bindings on removed lines dropped, those on
    added lines taken from the fragment (`framing`: the table the window
    starts in, framed around it), new tables as the fragment parsed them."""
    kept: dict[tuple[str, int], Table] = {}
    cut: list[Binding] = []          # after the window, of tables whose header it removed
    for t in fs.tables:
        line = w.new_line(t.line)
        if line is None:
            cut += [dataclasses.replace(b, line=b.line + w.delta) for b in t.bindings
                    if b.line > w.last]
            continue
        bindings = tuple(Binding(b.field, b.value, n) for b in t.bindings
                         if (n := w.new_line(b.line)) is not None)
        kept[(t.name, line)] = dataclasses.replace(t, line=line, bindings=bindings)
    new_tables = [u for u in post.unit.tables if u.line in w.added]
    for u in post.unit.tables:
        if u in new_tables:
            bindings = tuple(b for b in u.bindings if b.line <= w.new_last)
            if u is new_tables[-1]:
                bindings += tuple(cut)    # a rewritten header: the table goes on after the window
            kept[(u.name, u.line)] = dataclasses.replace(u, bindings=bindings)
            continue
        if framing is not None and u.line == w.first - 1 and u.name == framing.name:
            key = (framing.name, framing.line)
        elif w.first <= u.line <= w.new_last:
            key = (u.name, u.line)
        else:
            continue
        table = kept.get(key)
        added = tuple(b for b in u.bindings if b.line in w.added)
        if table is not None and added:
            kept[key] = dataclasses.replace(table, bindings=tuple(sorted(
                table.bindings + added, key=lambda b: b.line)))
    return tuple(sorted(kept.values(), key=lambda t: t.line))


def _items(fs: FileState, w: Window, post_rows: list[str], configs: Configs
           ) -> tuple[HeaderItem, ...]:
    """Header facts after the hunk: those on removed lines dropped, those
    the added lines declare found."""
    if fs.path not in HEADERS:
        return fs.items
    kept = [dataclasses.replace(i, line=n) for i in fs.items if (n := w.new_line(i.line)) is not None]
    config = configs.header if fs.path in ARCH_HEADERS else configs.parse
    found = header_items(fs.path, post_rows, w.first, config,
                         in_enum=in_cpuhp_enum(fs.items, w.first))
    kept += [i for i in found if i.line in w.added]
    return tuple(sorted(kept, key=lambda i: i.line))
