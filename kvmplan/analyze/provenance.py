"""Which patch wrote a line: follow a line of the patched text back through
the hunks as they were placed, patch by patch, until it was added ('+')
or reaches the base.

Works from placements alone (HunkResult.line, .fuzz), so it is the same
for a real tree and for a baseline that holds no text.
"""

from __future__ import annotations

from typing import Sequence

from kvmplan.diff import FilePatch, Hunk
from kvmplan.diff.apply import APPLIED, FileOutcome, HunkResult, context_ends

# (patch k, its files, how each went), in series order
History = list[tuple[int, Sequence[FilePatch], Sequence[FileOutcome]]]


def _used_lines(hunk: Hunk, fuzz: int) -> list[str]:
    """The kinds of the hunk lines that were applied (fuzz cuts context at the ends)."""
    kinds = [ln.kind for ln in hunk.lines if ln.kind in (" ", "-", "+")]
    lead, trail = context_ends(hunk)
    head, tail = min(fuzz, lead), min(fuzz, trail)
    return kinds[head:len(kinds) - tail]


def _placed(fp: FilePatch, results: Sequence[HunkResult]) -> list[tuple[HunkResult, list[str], int]]:
    """Each applied hunk with the kinds of its applied lines and the line,
    after the patch, where they start."""
    out = []
    delta = 0
    for r in results:
        if r.status not in APPLIED:
            continue
        kinds = _used_lines(fp.hunks[r.index], r.fuzz)
        out.append((r, kinds, r.line + delta))
        delta += kinds.count("+") - kinds.count("-")
    return out


def new_ranges(fp: FilePatch, outcome: FileOutcome) -> list[tuple[Hunk, int, int]]:
    """(hunk, first, last): the lines each applied hunk occupies after the patch."""
    return [(fp.hunks[r.index], new, new + sum(1 for k in kinds if k != "-") - 1)
            for r, kinds, new in _placed(fp, outcome.hunks)]


def _back_one(fp: FilePatch, results: Sequence[HunkResult], line: int) -> int | None:
    """Map `line` (1-based, after the patch) to the line before it, or None
    when this patch added it."""
    delta = 0
    for r, kinds, new in _placed(fp, results):
        if line < new:
            break
        old = r.line            # old line of the first applied line
        for k in kinds:
            if k == " ":
                if new == line:
                    return old
                old += 1
                new += 1
            elif k == "-":
                old += 1
            else:
                if new == line:
                    return None
                new += 1
        delta = new - old
    return line - delta


def line_origin(history: History, file: str, line: int) -> int | None:
    """k of the patch in `history` that wrote `file`:`line`, None for the base."""
    path = file
    for k, files, outcomes in reversed(history):
        for fp, outcome in zip(files, outcomes):
            if fp.path != path or outcome.skipped:
                continue
            if fp.is_new:
                return k
            back = _back_one(fp, outcome.hunks, line)
            if back is None:
                return k
            line = back
            if fp.is_rename and fp.old_path:
                path = fp.old_path
            break
    return None
