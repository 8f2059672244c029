"""What a detector says about one refactor step: a status and its evidence."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Status = Literal["DONE", "PARTIAL", "NOT DONE", "SUPERSEDED"]

DONE: Status = "DONE"
PARTIAL: Status = "PARTIAL"
NOT_DONE: Status = "NOT DONE"
SUPERSEDED: Status = "SUPERSEDED"

# A step that is DONE or SUPERSEDED needs no stage of its own.
SETTLED: frozenset[Status] = frozenset({DONE, SUPERSEDED})


@dataclass(frozen=True)
class Evidence:
    """One fact of the code behind a status: where it is and what it shows."""

    function: str
    file: str
    line: int
    text: str

    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.file else "(not in the tree)"


@dataclass(frozen=True)
class Criterion:
    """One property a step asks of the code, and whether the code has it.

    `met` is None when the graph cannot tell (e.g. a fact that needs a
    second configuration that was not built)."""

    key: str
    text: str
    met: bool | None


@dataclass(frozen=True)
class Assessment:
    """A detector's verdict on one step for one graph."""

    step: str
    status: Status
    summary: str
    criteria: tuple[Criterion, ...]
    evidence: tuple[Evidence, ...]

    def met(self) -> frozenset[str]:
        return frozenset(c.key for c in self.criteria if c.met)
