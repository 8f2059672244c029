"""Which hunk of a patch a finding is about, for the report to quote: found
from where the hunks landed (analyze.provenance), in the analyze stage, so
the report only reads it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

from kvmplan.analyze.provenance import new_ranges
from kvmplan.diff import Hunk
from kvmplan.mail import Patch

if TYPE_CHECKING:
    from kvmplan.analyze.run import PatchResult, Tracked


@dataclass(frozen=True)
class HunkRef:
    """A hunk of a patch: the file it changes, the hunk, and the line after
    the patch that the finding points at (0: the hunk as a whole)."""

    path: str
    hunk: Hunk
    line: int


def _mentions(hunk: Hunk, name: str) -> int:
    """How strongly a hunk is about `name`: changed lines count more."""
    pat = re.compile(rf"\b{re.escape(name)}\b")
    score = 2 if pat.search(hunk.section or "") else 0
    for ln in hunk.lines:
        if pat.search(ln.text):
            score += 3 if ln.kind in "+-" else 1
    return score


def pick_hunk(patches: Sequence[Patch], results: Sequence[PatchResult],
              t: Tracked) -> HunkRef | None:
    """The hunk of the finding's patch that the finding is about. For an
    introduced finding the hunk that wrote its location or a trace line
    (line: that line); otherwise the hunk that mentions its function most
    (line 0)."""
    k = t.patch
    if k is None:
        return None
    patch, result = _patch(patches, results, k)
    if patch is None or result is None:
        return None
    if t.status in ("introduced", "transient"):
        spots = [(t.file, t.line)] + [(s.file, s.line) for s in t.trace if s.patch == k]
        for file, line in spots:
            for fp, outcome in zip(patch.files, result.files):
                if fp.path != file or outcome.skipped:
                    continue
                for hunk, first, last in new_ranges(fp, outcome):
                    if first <= line <= last:
                        return HunkRef(fp.path, hunk, line)
    names = [t.function] + [s.function for s in t.trace if s.function]
    best: tuple[int, str, Hunk] | None = None
    for fp, outcome in zip(patch.files, result.files):
        if outcome.skipped:
            continue
        for hunk, _, _ in new_ranges(fp, outcome):
            score = sum(_mentions(hunk, n) * (3 if i == 0 else 1)
                        for i, n in enumerate(dict.fromkeys(names)))
            if score and (best is None or score > best[0]):
                best = (score, fp.path, hunk)
    if best is None:
        return None
    return HunkRef(best[1], best[2], 0)


def _patch(patches: Sequence[Patch], results: Sequence[PatchResult],
           k: int) -> tuple[Patch | None, PatchResult | None]:
    for p, r in zip(patches, results):
        if p.index == k:
            return p, r
    return None, None
