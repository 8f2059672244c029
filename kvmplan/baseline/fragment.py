"""Rebuild a hunk's window into C the front-end can parse, at its real lines.

The baseline knows what encloses the window's first line: the brace depth,
whether a block comment is open, and which function or table it is in. The
window is framed accordingly on the line before it: a function's header
with its parameters and its locals declared (so `ops->hardware_setup()` and
`if (r)` read as in the whole file), one `if (1) {` per further level of
nesting (an `else` at the window's start then still has its `if`), or a
table's `struct S name = {`. The line before that declares the file's
globals, which decide whether `kvm_usage_count++` is a counter. After the
window, its open braces are closed. Line numbers are those of the file, so
every event, table and global found lands on its real line.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass

from kvmplan.baseline import lines as ln
from kvmplan.baseline.snapshot import FileState, Placed, shift_function, shift_table
from kvmplan.cparse import events as ev
from kvmplan.cparse.config import KernelConfig
from kvmplan.cparse.events import FileUnit, Function, Table
from kvmplan.cparse.mask import mask_source
from kvmplan.cparse.unit import parse_file

# How far above the `{` line a table's declaration may start.
_TABLE_HEAD_LINES = 4


@dataclass(frozen=True)
class Frame:
    """What the line before a window opens, and what its end closes."""

    head: str
    declarations: str
    function: Placed | None      # the function the window starts in
    table: Table | None          # the table the window starts in
    closer: str                  # after the closing braces: ";" unless a function ends there
    do_levels: frozenset[int] = frozenset()   # levels opened as `do {` (closed by `} while (0);`)


def enclosing_function(fs: FileState, line: int) -> Placed | None:
    for p in fs.functions:
        if p.line < line <= p.end_line:
            return p
    return None


def _function_head(fn: Function, depth: int, loops: dict[int, str]) -> str:
    params = ", ".join(f"{p.type} *{p.name}" for p in fn.params) or "void"
    head = f"void {fn.name}({params})"
    if depth < 1:
        return head
    known = {p.name for p in fn.params}
    decls: list[str] = []
    for name, struct in fn.local_types:
        if name in known:
            continue
        known.add(name)
        if struct.startswith("const "):
            decls.append(f"const struct {struct[6:].strip()} *{name};")
        else:
            decls.append(f"struct {struct} *{name};")
    for name in sorted(_cond_locals(fn) - known):
        decls.append(f"long {name};")
    # A level that is a loop's body opens as that loop, so a `break` or
    # `continue` in the window still has its loop, and the loop's end reads
    # as in the whole function.
    levels = [loops.get(level, "if (1) {") for level in range(2, depth + 1)]
    return " ".join([head, "{", *decls, *levels])


def _loop_heads(fn: Function, first: int, states: Sequence[int]) -> dict[int, str]:
    """The loops enclosing line `first`: brace depth of the body -> a head
    that opens the same loop."""
    heads: dict[int, str] = {}
    events = fn.events
    for e in events:
        if e.kind != ev.LOOP or e.line >= first or not 0 < e.target <= len(events):
            continue
        end = events[e.target - 1]
        if end.kind != ev.LOOP_END or end.line < first or not 0 < e.line <= len(states):
            continue
        if e.value == "for":
            head = "for (;;) {"
        elif e.value == "while":
            head = "while (1) {"
        elif e.value == "do":
            head = "do {"
        else:
            head = f"{e.value}({', '.join(e.args)}) {{"
        heads[ln.depth_of(states[e.line - 1]) + 1] = head
    return heads


def _cond_locals(fn: Function) -> set[str]:
    """Locals the compiler saw in conditions (so the fragment reads them as locals too)."""
    names: set[str] = set()

    def walk(c: object) -> None:
        if isinstance(c, tuple):
            if len(c) == 2 and c[0] == "slot" and isinstance(c[1], str) and not c[1].startswith("$"):
                names.add(c[1])
            for x in c:
                walk(x)

    for e in fn.events:
        if e.cond is not None:
            walk(e.cond)
    return names


def frame(fs: FileState, first: int, last: int, states: Sequence[int]) -> Frame:
    """How to frame old lines first..last of `fs` (1-based, `states` per line)."""
    start = states[first - 1] if first - 1 < len(states) else 0
    depth = ln.depth_of(start)
    fn = enclosing_function(fs, first)
    table = None
    do_levels: frozenset[int] = frozenset()
    if fn is not None:
        placed = fn.function()
        loops = _loop_heads(placed, first, states)
        head = _function_head(placed, depth, loops)
        do_levels = frozenset(level for level, text in loops.items() if text == "do {")
    elif depth >= 1:
        opened = first - 1
        while opened > 1 and ln.depth_of(states[opened - 1]) > 0:
            opened -= 1
        tables = [t for t in fs.tables if opened - _TABLE_HEAD_LINES <= t.line <= opened]
        table = tables[-1] if tables else None
        if table is not None:
            head = f"struct {table.struct} {table.name} = {{" + " {" * (depth - 1)
        else:
            head = "struct kvmplan_scope {" + " {" * (depth - 1)
    else:
        head = ""
    if ln.in_comment(start):
        head += " /*"
    # A function's closing brace needs nothing after it; a table's or a
    # struct's needs its ';'.
    ends_in = enclosing_function(fs, last + 1)
    names = sorted({g.name for g in fs.globals})
    return Frame(head=head, declarations=f"int {', '.join(names)};" if names else "",
                 function=fn, table=table,
                 closer="" if ends_in is not None else ";", do_levels=do_levels)


_NOT_CODE = re.compile(r'/\*.*?\*/|//.*$|"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'')


def continued_lines(lines: Sequence[str]) -> int:
    """How many of the window's first lines finish a statement begun above it.

    They close parentheses the window never opened (`kvm_dying_cpu);` after
    a call begun on the line before). Such lines would read as garbage on
    their own, so the fragment keeps only their braces; the statement's
    events are the baseline's, on its first line, outside the window.
    """
    balance = 0
    lowest, upto = 0, 0
    for i, line in enumerate(lines):
        code = _NOT_CODE.sub(" ", line)
        balance += code.count("(") - code.count(")")
        if balance < lowest:
            lowest, upto = balance, i + 1
    return upto


def unfinished_lines(lines: Sequence[str]) -> int:
    """How many of the window's last lines hold a statement it does not
    finish (`foo(a,` with the rest below the window); the fragment keeps
    only their braces and the baseline's events for them stand."""
    balance = 0
    for i in range(len(lines) - 1, -1, -1):
        code = _NOT_CODE.sub(" ", lines[i])
        balance += code.count("(") - code.count(")")
        if balance > 0:
            return len(lines) - i
    return 0


_BLOCK_NOT_CODE = re.compile(r'/\*.*?\*/|//[^\n]*|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'', re.DOTALL)


def _open_blocks(lines: Sequence[str]) -> list[bool]:
    """The blocks the lines open and leave open, outermost first: is each a `do {`?"""
    code = _BLOCK_NOT_CODE.sub(" ", "\n".join(lines))
    stack: list[bool] = []
    for m in re.finditer(r"[{}]", code):
        if m.group() == "{":
            before = code[max(0, m.start() - 40):m.start()]
            stack.append(re.search(r"(?<![\w])do\s*$", before) is not None)
        elif stack:
            stack.pop()
    return stack


def braces_only(line: str) -> str:
    return "".join(c for c in _NOT_CODE.sub(" ", line) if c in "{}")


@dataclass(frozen=True)
class Fragment:
    """A window parsed in its frame, and the code state at each of its lines."""

    unit: FileUnit
    states: tuple[int, ...]
    end: int
    suffix_line: int


def window_states(lines: Sequence[str], start: int, config: KernelConfig) -> tuple[list[int], int]:
    masked = mask_source("\n".join(lines).encode("utf-8", "replace"), config).text
    rows = masked.decode("utf-8", "replace").split("\n")[:len(lines)]
    rows += [""] * (len(lines) - len(rows))
    return ln.scan(rows, start)


def parse_window(path: str, lines: Sequence[str], first: int, fr: Frame, start: int,
                 config: KernelConfig, parse: bool = True) -> Fragment:
    """Parse `lines` (the file's lines first.. onwards) framed by `fr`.

    The fragment is parsed with the window on its third line, then moved
    to the window's real lines: parsing blank padding instead costs more
    than everything else a patch does.
    """
    states, end = window_states(lines, start, config)
    closes = ln.depth_of(end)
    # Close what is open, innermost first; a `do {` needs its `while`.
    lowest = min(ln.depth_of(x) for x in (*states, end))
    opened = _open_blocks(lines)[-(closes - lowest):] if closes > lowest else []
    closing = "".join("} while (0);" if is_do else "}" for is_do in reversed(opened))
    closing += "".join("} while (0);" if level in fr.do_levels else "}"
                       for level in range(min(lowest, closes), 0, -1))
    suffix = ("*/ " if ln.in_comment(end) else "") + (closing + fr.closer if closes else "")
    suffix_line = first + len(lines)
    if not parse:
        return Fragment(FileUnit(path, (), (), (), ()), tuple(states), end, suffix_line)
    if first >= 3:
        rows = [fr.declarations, fr.head]
    elif first == 2:
        rows = [fr.head]
    else:
        rows = []
    source = "\n".join(rows + list(lines) + [suffix]) + "\n"
    unit = parse_file(path, source.encode("utf-8", "replace"), config)
    return Fragment(_moved(unit, first - 1 - len(rows), first - 1), tuple(states), end, suffix_line)


def _moved(unit: FileUnit, delta: int, frame_line: int) -> FileUnit:
    """The fragment's findings at the file's lines; file-scope items of the
    frame itself (the globals' declaration, a table's header) are dropped,
    except a table framed around the window (its bindings are the window's)."""
    def keep(line: int) -> bool:
        return line + delta >= frame_line

    return FileUnit(
        unit.path,
        tuple(shift_function(f, delta) for f in unit.functions if keep(f.line)),
        tuple(shift_table(t, delta) for t in unit.tables if keep(t.line)),
        tuple(dataclasses.replace(g, line=g.line + delta) for g in unit.globals
              if keep(g.line) and g.line + delta > frame_line),
        tuple(dataclasses.replace(c, line=c.line + delta) for c in unit.top_calls
              if keep(c.line) and c.line + delta > frame_line),
        (),
    )


def wrapper_function(frag: Fragment, name: str, first: int) -> Function | None:
    """The fragment's function framed on the line before the window."""
    for f in frag.unit.functions:
        if f.line == first - 1 and f.name == name:
            return f
    return None


def tail_function(frag: Fragment, first: int) -> Function | None:
    """The function whose header is in the window and which runs past its end."""
    for f in frag.unit.functions:
        if f.line >= first and f.end_line == frag.suffix_line:
            return f
    return None
