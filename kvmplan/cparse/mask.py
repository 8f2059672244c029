"""Offset-preserving source masking before tree-sitter sees kernel C.

Two passes, both replacing characters with spaces and keeping newlines, so
every byte offset and line number of the remaining code is unchanged:

1. `#if`/`#ifdef`/`#ifndef`/`#elif`/`#else`/`#endif`: the directives and the
   inactive branches (under the given kernel configuration) are blanked.
2. Kernel annotations that the C grammar can't read (`__init`, `__weak`,
   `__releases(x)`, `EXPORT_SYMBOL_GPL(...)`, `DEFINE_MUTEX(...)`...) are
   blanked; declaration macros are kept as records (name, arguments, line).
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

from kvmplan.cparse.config import KernelConfig
from kvmplan.cparse.tables import annotations


@dataclass(frozen=True)
class MacroRecord:
    """A top-level declaration macro that was masked, e.g. DEFINE_MUTEX(kvm_lock)."""

    name: str
    args: tuple[str, ...]
    line: int


@dataclass(frozen=True)
class Masked:
    text: bytes
    records: tuple[MacroRecord, ...]


def mask_source(source: bytes, config: KernelConfig) -> Masked:
    buf = bytearray(source)
    _blank_inactive(buf, config)
    records = _blank_annotations(buf)
    records += _blank_macro_lines(buf)
    records.sort(key=lambda r: r.line)
    return Masked(bytes(buf), tuple(records))


def inactive_lines(source: bytes, config: KernelConfig) -> frozenset[int]:
    """1-based numbers of lines blanked because they sit in an inactive `#if` branch.

    Lines that were already blank, and the directive lines themselves, are not
    included: only code the configuration switches off.
    """
    buf = bytearray(source)
    _blank_inactive(buf, config, mark_directives=False)
    out: set[int] = set()
    before = source.split(b"\n")
    after = bytes(buf).split(b"\n")
    for i, (a, b) in enumerate(zip(before, after), start=1):
        if a != b and a.strip() and not b.strip():
            out.add(i)
    return frozenset(out)


# --- preprocessor conditionals ------------------------------------------------

_DIRECTIVE = re.compile(rb"^[ \t]*#[ \t]*(if|ifdef|ifndef|elif|else|endif|define|undef)\b(.*)$")


def _blank(buf: bytearray, start: int, end: int) -> None:
    for i in range(start, end):
        if buf[i] not in (10, 13):
            buf[i] = 32


def _logical_lines(buf: bytearray) -> list[tuple[int, int]]:
    """(start, end) byte spans of logical lines (backslash continuations joined)."""
    spans: list[tuple[int, int]] = []
    n = len(buf)
    i = 0
    while i < n:
        start = i
        while True:
            j = buf.find(b"\n", i)
            if j < 0:
                j = n
            if j > start and buf[j - 1 : j] == b"\\" or (j > 1 and buf[j - 2 : j] == b"\\\r"):
                i = j + 1
                if i >= n:
                    break
                continue
            break
        spans.append((start, j))
        i = j + 1
    return spans


def _blank_inactive(buf: bytearray, config: KernelConfig, mark_directives: bool = True) -> None:
    defines: dict[str, str] = {}
    # Each frame: [parent_active, branch_active, taken]
    stack: list[list[bool]] = []
    active = True
    for start, end in _logical_lines(buf):
        line = bytes(buf[start:end])
        if b"#" not in line:
            if not active:
                _blank(buf, start, end)
            continue
        m = _DIRECTIVE.match(line.replace(b"\\\n", b" ").replace(b"\\\r\n", b" "))
        if not m:
            if not active:
                _blank(buf, start, end)
            continue
        word = m.group(1).decode()
        rest = _strip_comments(m.group(2).decode("latin-1")).strip()
        if word in ("define", "undef"):
            if not active:
                _blank(buf, start, end)
            elif word == "define":
                name = re.match(r"([A-Za-z_]\w*)(\()?\s*(.*)", rest)
                if name and not name.group(2):
                    defines[name.group(1)] = name.group(3).strip() or "1"
            else:
                defines.pop(rest.split()[0] if rest.split() else "", None)
            continue
        if mark_directives:
            _blank(buf, start, end)
        if word in ("if", "ifdef", "ifndef"):
            if word == "if":
                cond = _eval(rest, config, defines)
            else:
                name = rest.split()[0] if rest.split() else ""
                known = name in defines or config.is_defined(name)
                cond = known if word == "ifdef" else not known
            stack.append([active, active and cond, cond])
            active = active and cond
        elif word == "elif":
            if not stack:
                continue
            frame = stack[-1]
            cond = not frame[2] and _eval(rest, config, defines)
            frame[1] = frame[0] and cond
            frame[2] = frame[2] or cond
            active = frame[1]
        elif word == "else":
            if not stack:
                continue
            frame = stack[-1]
            frame[1] = frame[0] and not frame[2]
            frame[2] = True
            active = frame[1]
        elif word == "endif":
            if not stack:
                continue
            frame = stack.pop()
            active = frame[0]


def _strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"/\*.*$", " ", text)
    return re.sub(r"//.*$", " ", text)


_TOKEN = re.compile(
    r"\s*(?:(?P<num>0[xX][0-9a-fA-F]+|\d+)[uUlL]*|(?P<id>[A-Za-z_]\w*)|"
    r"(?P<op>&&|\|\||==|!=|<=|>=|<<|>>|[!()<>+\-*/%&|^~?:,]))"
)


# `#if` arithmetic is the preprocessor's: intmax_t, 64 bits. Nesting deeper
# than this (parentheses, unary operators) is not C anyone writes: unreadable.
_INT_BITS = 64
_MAX_NESTING = 64


def _wrap(value: int) -> int:
    """A value as a signed 64-bit integer, as the preprocessor computes it."""
    half = 1 << (_INT_BITS - 1)
    return ((value + half) % (1 << _INT_BITS)) - half


def _eval(expr: str, config: KernelConfig, defines: dict[str, str]) -> bool:
    """Evaluate an `#if` expression; anything unreadable counts as false.
    Values are 64-bit, nesting is bounded: a hostile line costs no memory."""
    tokens: list[tuple[str, str]] = []
    pos = 0
    expr = expr.strip()
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if not m or m.end() == pos:
            return False
        pos = m.end()
        kind = m.lastgroup or ""
        tokens.append((kind, m.group(kind)))
    try:
        parser = _CondParser(tokens, config, defines)
        value = parser.ternary()
        return bool(value)
    except (IndexError, ValueError, ZeroDivisionError, RecursionError):
        return False


class _CondParser:
    """A small recursive-descent evaluator for the C preprocessor's `#if`."""

    _BINARY = [
        ("||",), ("&&",), ("|",), ("^",), ("&",), ("==", "!="),
        ("<", ">", "<=", ">="), ("<<", ">>"), ("+", "-"), ("*", "/", "%"),
    ]

    def __init__(self, tokens: list[tuple[str, str]], config: KernelConfig, defines: dict[str, str]):
        self.tokens = tokens
        self.i = 0
        self.config = config
        self.defines = defines
        self.depth = 0

    def peek(self) -> str:
        return self.tokens[self.i][1] if self.i < len(self.tokens) else ""

    def take(self) -> tuple[str, str]:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def ternary(self) -> int:
        cond = self.binary(0)
        if self.peek() == "?":
            self.take()
            a = self.ternary()
            if self.take()[1] != ":":
                raise ValueError("expected ':'")
            b = self.ternary()
            return a if cond else b
        return cond

    def binary(self, level: int) -> int:
        if level == len(self._BINARY):
            return self.unary()
        left = self.binary(level + 1)
        while self.peek() in self._BINARY[level]:
            op = self.take()[1]
            right = self.binary(level + 1)
            left = _apply(op, left, right)
        return left

    def unary(self) -> int:
        self.depth += 1
        try:
            if self.depth > _MAX_NESTING:
                raise ValueError("nested too deep")
            return self._unary()
        finally:
            self.depth -= 1

    def _unary(self) -> int:
        tok = self.peek()
        if tok == "!":
            self.take()
            return int(not self.unary())
        if tok == "-":
            self.take()
            return _wrap(-self.unary())
        if tok == "~":
            self.take()
            return _wrap(~self.unary())
        if tok == "(":
            self.take()
            value = self.ternary()
            if self.take()[1] != ")":
                raise ValueError("expected ')'")
            return value
        kind, text = self.take()
        if kind == "num":
            return _wrap(int(text, 0))
        if kind != "id":
            raise ValueError(f"unexpected {text}")
        if text == "defined":
            paren = self.peek() == "("
            if paren:
                self.take()
            name = self.take()[1]
            if paren and self.take()[1] != ")":
                raise ValueError("expected ')'")
            return int(name in self.defines or self.config.is_defined(name))
        if text in ("IS_ENABLED", "IS_BUILTIN", "IS_MODULE", "IS_REACHABLE"):
            self.take()  # (
            name = self.take()[1]
            self.take()  # )
            raw = self.config.values.get(name, "n")
            if text == "IS_BUILTIN":
                return int(raw == "y")
            if text == "IS_MODULE":
                return int(raw == "m")
            return int(raw in ("y", "m"))
        if self.peek() == "(":
            # An unknown function-like macro: unreadable, skip its arguments.
            depth = 0
            while True:
                t = self.take()[1]
                depth += t == "("
                depth -= t == ")"
                if depth == 0:
                    break
            return 0
        if text in self.defines:
            raw = self.defines[text]
            try:
                return _wrap(int(raw.rstrip("uUlL"), 0))
            except ValueError:
                return 1
        return _wrap(self.config.value(text))


def _apply(op: str, a: int, b: int) -> int:
    if op in ("<<", ">>") and not 0 <= b < _INT_BITS:
        raise ValueError("shift out of range")      # undefined in C
    return _wrap(_apply_exact(op, a, b))


def _apply_exact(op: str, a: int, b: int) -> int:
    if op == "||":
        return int(bool(a) or bool(b))
    if op == "&&":
        return int(bool(a) and bool(b))
    table = {
        "|": lambda: a | b, "^": lambda: a ^ b, "&": lambda: a & b,
        "==": lambda: int(a == b), "!=": lambda: int(a != b),
        "<": lambda: int(a < b), ">": lambda: int(a > b),
        "<=": lambda: int(a <= b), ">=": lambda: int(a >= b),
        "<<": lambda: a << b, ">>": lambda: a >> b,
        "+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b,
        "/": lambda: a // b, "%": lambda: a % b,
    }
    return table[op]()


# --- annotations --------------------------------------------------------------

_IDENT = re.compile(rb"[A-Za-z_][A-Za-z0-9_]*")


def _blank_annotations(buf: bytearray) -> list[MacroRecord]:
    table = annotations()
    records: list[MacroRecord] = []
    data = bytes(buf)
    n = len(data)
    for m in _IDENT.finditer(data):
        word = m.group().decode()
        start, end = m.span()
        if start > 0 and (data[start - 1 : start].isalnum() or data[start - 1 : start] == b"_"):
            continue
        if word in table.words:
            _blank(buf, start, end)
        elif word in table.calls or word in table.decls:
            j = end
            while j < n and data[j] in b" \t":
                j += 1
            if j >= n or data[j : j + 1] != b"(":
                if word in table.calls:
                    _blank(buf, start, end)
                continue
            close = _match_paren(data, j)
            if close < 0:
                continue
            if word in table.calls:
                _blank(buf, start, close + 1)
                continue
            begin = _statement_start(data, start)
            if begin < 0:
                continue
            k = close + 1
            while k < n and data[k] in b" \t":
                k += 1
            stop = k + 1 if k < n and data[k : k + 1] == b";" else close + 1
            args = _split_args(data[j + 1 : close].decode("utf-8", "replace"))
            line = data.count(b"\n", 0, start) + 1
            records.append(MacroRecord(word, args, line))
            _blank(buf, begin, stop)
    return records


# --- file-scope macro invocations ---------------------------------------------

# Comments, string/char literals and preprocessor lines: blanked in a scratch
# copy (the "code view") so braces and parentheses can be counted safely.
_NOT_CODE = re.compile(
    rb"//[^\n]*|/\*.*?\*/|\"(?:\\.|[^\"\\\n])*\"|'(?:\\.|[^'\\\n])*'"
    rb"|^[ \t]*#(?:[^\n]*\\\r?\n)*[^\n]*",
    re.S | re.M,
)
_SPACES = bytes(b if b in (10, 13) else 32 for b in range(256))
_LINE_CALL = re.compile(rb"^([A-Za-z_][A-Za-z0-9_]*)[ \t]*\(", re.M)
_C_KEYWORDS = frozenset({
    "if", "for", "while", "switch", "return", "sizeof", "typeof", "__typeof__",
    "asm", "__asm__", "do", "else", "case", "goto", "_Static_assert", "static_assert",
})


def _code_view(data: bytes) -> bytes:
    return _NOT_CODE.sub(lambda m: m.group().translate(_SPACES), data)


def _blank_macro_lines(buf: bytearray) -> list[MacroRecord]:
    """Blank file-scope macro invocations that stand alone on their line(s).

    `BUILD_KVM_GPR_ACCESSORS(rax, RAX)`, `BUILD_NVMX_MSR_INTERCEPT_HELPER(read)`,
    `module_init(svm_init)` without a ';': the macro expands to whole
    definitions, so C's grammar sees `NAME(args)` where it expects a declaration
    and glues it to the next function (whose name is then lost). Such a line
    starts at column 0 at brace depth 0, ends right after the closing
    parenthesis, follows the end of a statement (';', '}', ')' or the start
    of the file) and is followed by another declaration (an identifier) or the
    end of the file; it is blanked and kept as a record.
    """
    data = bytes(buf)
    if b"(" not in data:
        return []
    code = _code_view(data)
    n = len(code)
    records: list[MacroRecord] = []
    depth_at: list[tuple[int, int]] | None = None
    for m in _LINE_CALL.finditer(code):
        name = m.group(1).decode()
        if name in _C_KEYWORDS:
            continue
        open_at = m.end() - 1
        close = _match_paren(code, open_at)
        if close < 0:
            continue
        eol = code.find(b"\n", close)
        if eol < 0:
            eol = n
        if code[close + 1 : eol].strip():
            continue
        k = eol
        while k < n and code[k] in b" \t\r\n\f\v":
            k += 1
        if k < n and not (code[k] == 95 or 65 <= code[k] <= 90 or 97 <= code[k] <= 122):
            continue
        p = m.start() - 1
        while p >= 0 and code[p] in b" \t\r\n\f\v":
            p -= 1
        if p >= 0 and code[p] not in b";})":
            continue
        if depth_at is None:
            depth_at = _brace_depths(code)
        if _depth(depth_at, m.start()) != 0:
            continue
        args = _split_args(data[open_at + 1 : close].decode("utf-8", "replace"))
        line = data.count(b"\n", 0, m.start()) + 1
        records.append(MacroRecord(name, args, line))
        _blank(buf, m.start(), close + 1)
    return records


def _brace_depths(code: bytes) -> list[tuple[int, int]]:
    """(offset, depth after it) for every brace in the code view."""
    out: list[tuple[int, int]] = []
    depth = 0
    for m in re.finditer(rb"[{}]", code):
        depth += 1 if m.group() == b"{" else -1
        out.append((m.start(), depth))
    return out


def _depth(depths: list[tuple[int, int]], offset: int) -> int:
    i = bisect.bisect_left(depths, (offset, -(1 << 30))) - 1
    return depths[i][1] if i >= 0 else 0


_DECL_PREFIX = re.compile(rb"(?:^|(?<=[;}{\n]))([ \t]*(?:(?:static|const|extern)\s+)+)$")


def _statement_start(data: bytes, start: int) -> int:
    """Where the statement holding a declaration macro at `start` begins, or -1.

    The macro must open a statement: only whitespace, or the keywords
    `static`/`const`/`extern` (`static DEFINE_MUTEX(kvm_lock);`), may stand
    between the previous statement and it. The keywords belong to the macro's
    declaration, so they are blanked with it (left alone, `static` would glue
    itself to the next declaration).
    """
    i = start - 1
    while i >= 0 and data[i] in b" \t\r\n":
        i -= 1
    if i < 0 or data[i] in b";}{)":
        return start
    lo = max(0, start - 64)
    m = _DECL_PREFIX.search(data, lo, start)
    if m and m.end() == start:
        return m.start(1) + (len(m.group(1)) - len(m.group(1).lstrip()))
    return -1


def _match_paren(data: bytes, open_at: int) -> int:
    depth = 0
    i = open_at
    n = len(data)
    while i < n:
        c = data[i]
        if c == 0x28:
            depth += 1
        elif c == 0x29:
            depth -= 1
            if depth == 0:
                return i
        elif c in (0x22, 0x27):  # skip string / char literals
            quote = c
            i += 1
            while i < n and data[i] != quote:
                if data[i] == 0x5C:
                    i += 1
                i += 1
        i += 1
    return -1


def _split_args(text: str) -> tuple[str, ...]:
    args: list[str] = []
    depth = 0
    cur: list[str] = []
    for ch in text:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0:
            args.append(" ".join("".join(cur).split()))
            cur = []
        else:
            cur.append(ch)
    tail = " ".join("".join(cur).split())
    if tail or args:
        args.append(tail)
    return tuple(args)
