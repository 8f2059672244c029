"""Which patch wrote a line: follow a line of the patched text back through
the hunks as they were placed, patch by patch, until it was added ('+')
or reaches the base.

Works from placements alone (HunkResult.line, .fuzz), so it is the same
for a real tree and for a baseline that holds no text.
"""

from __future__ import annotations

from typing import Sequence

from kvmplan.diff import FilePatch, Hunk
from kvmplan.diff.apply import FileOutcome, HunkResult

# (patch k, its files, how each went), in series order
History = list[tuple[int, Sequence[FilePatch], Sequence[FileOutcome]]]


def _used_lines(hunk: Hunk, fuzz: int) -> list[str]:
    """The kinds of the hunk lines that were applied (fuzz cuts context at the ends)."""
    kinds = [ln.kind for ln in hunk.lines if ln.kind in (" ", "-", "+")]
    lead = next((i for i, k in enumerate(kinds) if k != " "), len(kinds))
    trail = next((i for i, k in enumerate(reversed(kinds)) if k != " "), len(kinds))
    head, tail = min(fuzz, lead), min(fuzz, trail)
    return kinds[head:len(kinds) - tail]


def _back_one(fp: FilePatch, results: Sequence[HunkResult], line: int) -> int | None:
    """Map `line` (1-based, after the patch) to the line before it, or None
    when this patch added it."""
    delta = 0
    for r in results:
        if r.status not in ("exact", "offset", "fuzz"):
            continue
        hunk = fp.hunks[r.index]
        kinds = _used_lines(hunk, r.fuzz)
        old = r.line            # old line of the first applied line
        new = r.line + delta
        if line < new:
            break
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
