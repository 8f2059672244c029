"""Preprocessor conditionals of a file, kept so `#if`s can be evaluated again.

A hunk that opens an `#ifdef` whose `#endif` comes in a later hunk switches
off code outside its own window. To see that, the baseline keeps each
conditional directive (and each object-like `#define`, which later `#if`s
may test) with its line; after a patch the file's inactive lines are
evaluated again, by the front-end's own masking, over a stand-in file that
has the directives at their lines and a placeholder on every other
non-blank line.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from kvmplan.baseline import lines as ln
from kvmplan.cparse.config import KernelConfig
from kvmplan.cparse.mask import inactive_lines

Directive = tuple[int, str]     # (line, "#ifdef CONFIG_X86_64"); "" for a continuation line

_DIRECTIVE = re.compile(r"^[ \t]*#[ \t]*(if|ifdef|ifndef|elif|else|endif|define|undef)\b(.*)$")
_DEFINE = re.compile(r"([A-Za-z_]\w*)(\()?\s*(.*)")
_SIMPLE_VALUE = re.compile(r"[A-Za-z_]\w*|\d+[uUlL]*|0[xX][0-9a-fA-F]+[uUlL]*")
_BLANK = ln.fingerprint("")


def _strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", " ", text)
    text = re.sub(r"/\*.*$", " ", text)
    return " ".join(re.sub(r"//.*$", " ", text).split())


def directives(lines: Sequence[str], first_line: int = 1,
               only: frozenset[int] | None = None) -> tuple[Directive, ...]:
    """The conditional directives and object-like defines in `lines`
    (numbered from `first_line`; with `only`, just those on these lines)."""
    out: list[Directive] = []
    i = 0
    n = len(lines)
    while i < n:
        start = i
        text = lines[i]
        while text.endswith("\\") and i + 1 < n:
            i += 1
            text = text[:-1] + " " + lines[i]
        i += 1
        m = _DIRECTIVE.match(text)
        line = first_line + start
        if not m or (only is not None and line not in only):
            continue
        word, rest = m.group(1), _strip_comments(m.group(2))
        if word == "define":
            d = _DEFINE.match(rest)
            if not d or d.group(2):
                continue                       # function-like: #if never reads it
            value = d.group(3).strip()
            rest = d.group(1) + (f" {value}" if _SIMPLE_VALUE.fullmatch(value) else "")
        out.append((line, f"#{word} {rest}".rstrip()))
        if word != "define":
            # A conditional's continuation lines are part of it, never code.
            out.extend((line + k, "") for k in range(1, i - start))
    return tuple(out)


def evaluate(found: Sequence[Directive], keys: Sequence[int], config: KernelConfig) -> frozenset[int]:
    """The inactive lines of a file with these directives and line fingerprints.

    Only the directives matter, so each run of code lines between two of
    them stands in the evaluation as one placeholder line.
    """
    at = {line: text for line, text in found if 0 < line <= len(keys)}
    rows: list[str] = []
    spans: list[tuple[int, int]] = []      # rows[i] stands for lines first..last
    run_start = 0
    for line in range(1, len(keys) + 1):
        text = at.get(line)
        if text is None:
            if keys[line - 1] != _BLANK and not run_start:
                run_start = line
            continue
        if run_start:
            rows.append("x")
            spans.append((run_start, line - 1))
            run_start = 0
        rows.append(text)
        spans.append((line, line))
    if run_start:
        rows.append("x")
        spans.append((run_start, len(keys)))
    off = inactive_lines("\n".join(rows).encode(), config)
    out: set[int] = set()
    for row in off:
        first, last = spans[row - 1]
        out.update(n for n in range(first, last + 1) if keys[n - 1] != _BLANK and n not in at)
        if first == last and first in at:
            out.add(first)
    return frozenset(out)
