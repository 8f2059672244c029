"""Tables and queries kept in grammars/: where they are and how they read."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from kvmplan.resources import grammar_path


@dataclass(frozen=True)
class Annotations:
    """Kernel annotations to mask, by kind (see grammars/annotations.txt)."""

    words: frozenset[str]
    calls: frozenset[str]
    decls: frozenset[str]


@lru_cache(maxsize=1)
def annotations() -> Annotations:
    words: set[str] = set()
    calls: set[str] = set()
    decls: set[str] = set()
    for kind, name in _rows("annotations.txt", 2):
        {"word": words, "call": calls, "decl": decls}[kind].add(name)
    return Annotations(frozenset(words), frozenset(calls), frozenset(decls))


def _rows(name: str, width: int) -> list[list[str]]:
    rows = []
    for line in grammar_path(name).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, width - 1)
        if len(parts) != width:
            raise ValueError(f"grammars/{name}: bad row {line!r}")
        rows.append(parts)
    return rows


def rows(name: str, width: int) -> list[list[str]]:
    """Rows of a whitespace-separated table under grammars/ (comments: '#')."""
    return _rows(name, width)


@lru_cache(maxsize=None)
def query_text(name: str) -> str:
    return grammar_path(name).read_text(encoding="utf-8")
