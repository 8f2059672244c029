"""What the baseline keeps of each line: a fingerprint and the code state at its start.

A fingerprint is a 24-bit hash of the line without its trailing blanks
(mail transports lose them), so a hunk's context and removed lines can be
placed by comparing hashes instead of text. Indentation is kept: in C it is
what tells a function's closing `}` from a block's, and normalising it made
fuzzy placement land on the wrong `}` where `patch` on the real text does
not. 24 bits keep the shipped data small; a false placement needs every
line of a hunk's preimage to collide at once.

The code state at the start of a line is the brace depth (as tree-sitter
sees the masked file: inactive `#if` branches and comments ignored) and
whether the line starts inside a block comment. A hunk's text is rebuilt
into a parseable fragment from that state (see fragment.py).
"""

from __future__ import annotations

import base64
import re
import zlib
from collections.abc import Iterable, Sequence

FINGERPRINT_BITS = 24
_MASK = (1 << FINGERPRINT_BITS) - 1


def fingerprint(line: str) -> int:
    """The hash of one line, trailing blanks dropped."""
    return zlib.crc32(line.rstrip().encode("utf-8", "replace")) & _MASK


def fingerprints(lines: Sequence[str]) -> tuple[int, ...]:
    return tuple(fingerprint(line) for line in lines)


def split_lines(text: str) -> list[str]:
    """A file's lines as `patch` counts them (no empty last line for a final newline)."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


# --- code state ---------------------------------------------------------------

def state(depth: int, comment: bool) -> int:
    """Depth and comment flag packed in one small int (as stored)."""
    return max(depth, 0) * 2 + (1 if comment else 0)


def depth_of(packed: int) -> int:
    return packed >> 1


def in_comment(packed: int) -> bool:
    return bool(packed & 1)


_TOKEN = re.compile(r'/\*|//|"(?:\\.|[^"\\])*"?|\'(?:\\.|[^\'\\])*\'?|[{}]')
_COMMENT_END = re.compile(r"\*/")


def scan(lines: Sequence[str], start: int = 0) -> tuple[list[int], int]:
    """The packed state at the start of each line, and after the last one,
    scanning from the packed state `start`. Lines should be masked text."""
    depth = depth_of(start)
    comment = in_comment(start)
    out: list[int] = []
    for line in lines:
        out.append(state(depth, comment))
        pos = 0
        n = len(line)
        while pos < n:
            if comment:
                m = _COMMENT_END.search(line, pos)
                if m is None:
                    break
                comment = False
                pos = m.end()
                continue
            t = _TOKEN.search(line, pos)
            if t is None:
                break
            tok = t.group()
            pos = t.end()
            if tok == "/*":
                comment = True
            elif tok == "//":
                break
            elif tok == "{":
                depth += 1
            elif tok == "}":
                depth -= 1
    return out, state(depth, comment)


# --- compact encodings for the shipped data -----------------------------------

def encode_keys(keys: Sequence[int]) -> str:
    raw = b"".join(k.to_bytes(3, "little") for k in keys)
    return base64.b64encode(raw).decode("ascii")


def decode_keys(text: str) -> tuple[int, ...]:
    raw = base64.b64decode(text)
    return tuple(int.from_bytes(raw[i:i + 3], "little") for i in range(0, len(raw), 3))


def encode_states(states: Sequence[int]) -> str:
    """One byte per line (depths above 127 are clamped: no real code nests so deep)."""
    return base64.b64encode(bytes(min(s, 255) for s in states)).decode("ascii")


def decode_states(text: str) -> tuple[int, ...]:
    return tuple(base64.b64decode(text))


def encode_ranges(lines: Iterable[int]) -> list[list[int]]:
    """Sorted line numbers as [first, last] runs."""
    runs: list[list[int]] = []
    for n in sorted(lines):
        if runs and runs[-1][1] == n - 1:
            runs[-1][1] = n
        else:
            runs.append([n, n])
    return runs


def decode_ranges(runs: Sequence[Sequence[int]]) -> frozenset[int]:
    return frozenset(n for first, last in runs for n in range(first, last + 1))
