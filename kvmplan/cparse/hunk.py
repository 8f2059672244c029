"""Hunk-only mode: rebuild what a diff hunk shows of its function.

Without a tree, a hunk is all we have: a window of lines inside a function
named by the hunk header (`@@ -5943,7 +5943,7 @@ int kvm_init(void *opaque, ...`).
The window is wrapped in a synthetic function of that name, its braces
balanced, and compiled like any other function; line numbers stay those of
the patched file, so events point at the real lines.
"""

from __future__ import annotations

import re

from kvmplan.cparse.config import KernelConfig
from kvmplan.cparse.events import Function
from kvmplan.cparse.unit import parse_file

_SECTION_NAME = re.compile(r"([A-Za-z_]\w*)\s*\(")


def section_function(section: str) -> str:
    """The function a hunk header names: `int kvm_init(void *opaque,` → `kvm_init`.

    A table initializer (`struct kvm_x86_ops vt_x86_ops = {`) names none.
    """
    m = _SECTION_NAME.search(section or "")
    if not m or "=" in section[: m.start()]:
        return ""
    name = m.group(1)
    return "" if name in ("if", "for", "while", "switch", "return", "sizeof") else name


def hunk_functions(path: str, section: str, first_line: int, lines: list[str],
                   config: KernelConfig) -> list[Function]:
    """Functions visible in a hunk's new-side lines (`lines` start at `first_line`).

    Whole functions inside the hunk are returned as parsed; otherwise the
    window is rebuilt as part of the function the header names.
    """
    text = "\n".join(lines)
    padded = ("\n" * max(first_line - 1, 0)) + text + "\n"
    whole = parse_file(path, padded.encode("utf-8", "replace"), config)
    complete = [f for f in whole.functions if f.line >= first_line and _closed(f, first_line, lines)]
    if complete:
        return complete
    name = section_function(section)
    if not name:
        return []
    opens, closes_first = _brace_balance(text)
    prefix = "{" * closes_first
    suffix = "}" * max(opens, 0)
    # The wrapper goes on the line before the hunk so line numbers are kept.
    lead = max(first_line - 2, 0)
    head = f"void {name}(void) {{{prefix}"
    if first_line >= 2:
        source = "\n" * lead + head + "\n" + text + "\n" + suffix + "}\n"
    else:
        source = head + text + "\n" + suffix + "}\n"
    unit = parse_file(path, source.encode("utf-8", "replace"), config)
    return [f for f in unit.functions if f.name == name][:1]


def _closed(fn: Function, first_line: int, lines: list[str]) -> bool:
    return fn.end_line <= first_line + len(lines) - 1


def _brace_balance(text: str) -> tuple[int, int]:
    """(unclosed '{' at the end, '}' seen before any matching '{')."""
    depth = 0
    lowest = 0
    for ch in _code_only(text):
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            lowest = min(lowest, depth)
    return depth - lowest, -lowest


def _code_only(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    text = re.sub(r'"(?:\\.|[^"\\\n])*"', '""', text)
    return re.sub(r"'(?:\\.|[^'\\\n])'", "''", text)
