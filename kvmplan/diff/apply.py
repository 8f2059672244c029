"""Apply a file's hunks to its text in memory, the way `patch` places them.

Each hunk is looked for where its header says, shifted by the offset the
hunks before it needed, then ever further away. When its whole preimage
(context and removed lines) matches nowhere, up to MAX_FUZZ context lines
are dropped from each end of the hunk and the search is repeated: that is
patch's "fuzz". Removed and added lines are never fuzzed. Unlike patch,
a fuzzed placement needs a line that still matches and says something
(ANCHOR_CHARS characters besides blanks, braces, parentheses and comment
markers; fewer for a removed line): a hunk whose surviving context is a
blank line and a `/*` matches anywhere, and placed there it would invent
code the series never had.

Placement works on any sequence of comparable keys, so the same search
places a hunk in real text (keys are lines) and in a baseline that keeps
only line fingerprints (keys are hashes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Hashable, Literal, Sequence

from kvmplan.diagnostics import Diagnostic
from kvmplan.diff.filepatch import FilePatch, Hunk

MAX_FUZZ = 2
ANCHOR_CHARS = 10


def anchors(text: str, chars: int = ANCHOR_CHARS) -> bool:
    """A line that can anchor a fuzzed placement: it says something."""
    return sum(1 for c in text if not c.isspace() and c not in "{}();/*") >= chars

HunkStatus = Literal["exact", "offset", "fuzz", "present", "failed"]
STATUSES: tuple[HunkStatus, ...] = ("exact", "offset", "fuzz", "present", "failed")
APPLIED: tuple[HunkStatus, ...] = ("exact", "offset", "fuzz")    # the text changed


@dataclass(frozen=True)
class Placement:
    """Where a hunk's preimage starts (0-based index into the old keys).

    `fuzz`: context lines dropped at each end; `offset`: lines away from
    where the header said (after the previous hunks' offset).
    """

    start: int
    fuzz: int
    offset: int

    @property
    def status(self) -> HunkStatus:
        if self.fuzz:
            return "fuzz"
        return "offset" if self.offset else "exact"


@dataclass(frozen=True)
class HunkResult:
    """How one hunk applied. `line` is the 1-based line in the old file where
    it was placed (the header's line when it failed). "present": it did not
    apply but its postimage is already there (applied before, e.g. through
    a stable backport); the text is left as it was."""

    index: int
    status: HunkStatus
    line: int
    fuzz: int = 0
    offset: int = 0


@dataclass(frozen=True)
class FileResult:
    """The text after the patch (None: deleted, or nothing applied to a new
    file) and how each hunk went."""

    path: str
    text: str | None
    hunks: tuple[HunkResult, ...]

    @property
    def failed(self) -> int:
        return sum(1 for h in self.hunks if h.status == "failed")


@dataclass(frozen=True)
class FileOutcome:
    """How a patch's change to one file went: each hunk's result, or why the
    file was left alone (`skipped`: not in the tree, unsafe path, binary...)."""

    path: str
    hunks: tuple[HunkResult, ...]
    skipped: str = ""


def without_hunks(fp: FilePatch, where: str = "") -> tuple[FileOutcome, Diagnostic | None] | None:
    """The outcome of a file change that places no hunk, or None when it has
    hunks to place: a path that leaves the tree (not applied, an error) or a
    binary or hunk-less change (a deletion, which the caller carries out)."""
    if not fp.path_is_safe:
        return (FileOutcome(fp.path, (), "unsafe path"),
                Diagnostic("error", f"{where}{fp.path}: path leaves the tree; file not applied"))
    if fp.is_binary or not fp.hunks:
        return FileOutcome(fp.path, (), "" if fp.is_deleted else "no hunks"), None
    return None


def preimage(hunk: Hunk) -> list[str]:
    return [ln.text for ln in hunk.lines if ln.kind in (" ", "-")]


def postimage(hunk: Hunk) -> list[str]:
    return [ln.text for ln in hunk.lines if ln.kind in (" ", "+")]


def context_ends(hunk: Hunk) -> tuple[int, int]:
    """Context lines before the first and after the last change."""
    kinds = [ln.kind for ln in hunk.lines if ln.kind in (" ", "-", "+")]
    lead = next((i for i, k in enumerate(kinds) if k != " "), len(kinds))
    trail = next((i for i, k in enumerate(reversed(kinds)) if k != " "), len(kinds))
    return lead, trail


def place(old: Sequence[Hashable], pre: Sequence[Hashable], want: int, lead: int,
          trail: int, lo: int = 0, anchored: Sequence[bool] | None = None) -> Placement | None:
    """Find `pre` in `old[lo:]`, nearest to index `want` first; with fuzz,
    drop up to MAX_FUZZ of its `lead`/`trail` context lines, as long as a
    line left can anchor it (`anchored`, per line of `pre`)."""
    n = len(old)
    for fuzz in range(0, MAX_FUZZ + 1):
        cut_head = min(fuzz, lead)
        cut_tail = min(fuzz, trail)
        if fuzz and cut_head == 0 and cut_tail == 0:
            break
        if fuzz and anchored is not None and not any(anchored[cut_head:len(pre) - cut_tail]):
            break
        body = list(pre[cut_head:len(pre) - cut_tail])
        size = len(body)
        if size == 0:
            # A pure insertion with no context: trust the header.
            if lo <= want <= n:
                return Placement(want, fuzz, 0)
            return None
        base = want + cut_head
        first = body[0]
        for dist in range(0, n + 1):
            for at in ((base,) if dist == 0 else (base - dist, base + dist)):
                if (lo <= at and at + size <= n and old[at] == first
                        and list(old[at:at + size]) == body):
                    return Placement(at - cut_head, fuzz, at - base)
            if base - dist < lo and base + dist + size > n:
                break
    return None


@dataclass(frozen=True)
class Edit:
    """A placed hunk: its lines (fuzz-cut context dropped) replace the old
    lines from index `start` (0-based) on."""

    start: int
    lines: tuple[tuple[str, str], ...]   # (kind ' ' | '-' | '+', text)

    @property
    def end(self) -> int:
        """Index just past the old lines it replaces."""
        return self.start + sum(1 for kind, _ in self.lines if kind != "+")


def _identity(line: str) -> Hashable:
    return line


def place_hunks(old: Sequence[Hashable], hunks: Sequence[Hunk],
                key: Callable[[str], Hashable] = _identity
                ) -> tuple[list[Edit], tuple[HunkResult, ...]]:
    """Place `hunks` in order in `old` (lines, or their keys under `key`):
    where each header says, shifted by the offset the hunks before needed,
    else further away, else with fuzz. A hunk that can't be placed is
    "present" when its postimage is already there, else "failed", and the
    others are still placed."""
    present = frozenset(old)
    edits: list[Edit] = []
    results: list[HunkResult] = []
    pos = 0              # next unconsumed index in `old`
    drift = 0            # offset the previous hunks needed
    for i, hunk in enumerate(hunks):
        pre = [key(t) for t in preimage(hunk)]
        # a removed line (never fuzzed away) anchors with less: the author saw it
        anchored = [anchors(ln.text) or (ln.kind == "-" and anchors(ln.text, 3))
                    for ln in hunk.lines if ln.kind in (" ", "-")]
        lead, trail = context_ends(hunk)
        # An empty old side (old_len 0) means "insert after line old_start".
        want = (hunk.old_start if hunk.old_len == 0 else hunk.old_start - 1) + drift
        # removed lines are never fuzzed away: they must be in the file
        removed = [key(ln.text) for ln in hunk.lines if ln.kind == "-"]
        at = (place(old, pre, max(want, pos), lead, trail, lo=pos, anchored=anchored)
              if present.issuperset(removed) else None)
        if at is None:
            # Like patch's "previously applied" check: is the postimage there?
            post = [key(t) for t in postimage(hunk)]
            there = (place(old, post, max(want, pos), lead, trail, lo=pos)
                     if post and present.issuperset(post) else None)
            status: HunkStatus = "present" if there is not None and there.fuzz == 0 else "failed"
            results.append(HunkResult(i, status, there.start + 1 if status == "present" and there
                                      else hunk.old_start))
            continue
        cut_head = min(at.fuzz, lead)
        cut_tail = min(at.fuzz, trail)
        body = [(ln.kind, ln.text) for ln in hunk.lines if ln.kind in (" ", "-", "+")]
        edit = Edit(at.start + cut_head, tuple(body[cut_head:len(body) - cut_tail]))
        edits.append(edit)
        pos = edit.end
        drift = at.start - (want - drift)
        results.append(HunkResult(i, at.status, edit.start + 1, at.fuzz, at.offset))
    return edits, tuple(results)


def apply_hunks(lines: Sequence[str], hunks: Sequence[Hunk]) -> tuple[list[str], tuple[HunkResult, ...]]:
    """Apply `hunks` in order to `lines`; a hunk that cannot be placed is
    skipped (status "failed" or "present") and the others still apply."""
    edits, results = place_hunks(lines, hunks)
    out: list[str] = []
    pos = 0
    for edit in edits:
        out.extend(lines[pos:edit.start])
        out.extend(text for kind, text in edit.lines if kind != "-")
        pos = edit.end
    out.extend(lines[pos:])
    return out, results


def previously_applied(old: Sequence[Hashable], hunks: Sequence[Hunk],
                       key: Callable[[str], Hashable] = _identity) -> bool:
    """patch's "Reversed (or previously applied) patch detected": every
    hunk's postimage is already there exactly and some preimage is not.
    Fuzzing the rest into place would corrupt the file (a stable backport
    of the same change is the usual cause)."""
    present = frozenset(old)
    some_missing = False
    for hunk in hunks:
        lead, trail = context_ends(hunk)
        post = [key(t) for t in postimage(hunk)]
        if not post or not present.issuperset(post):
            return False
        there = place(old, post, max(hunk.new_start - 1, 0), lead, trail)
        if there is None or there.fuzz:
            return False
        pre = [key(t) for t in preimage(hunk)]
        at = (place(old, pre, max(hunk.old_start - 1, 0), lead, trail)
              if present.issuperset(pre) else None)
        if at is None or at.fuzz:
            some_missing = True
    return some_missing


def apply_file(fp: FilePatch, old_text: str | None) -> FileResult:
    """Apply one FilePatch to `old_text` (None when the file does not exist)."""
    if fp.is_deleted:
        return FileResult(fp.path, None, tuple(HunkResult(i, "exact", h.old_start)
                                               for i, h in enumerate(fp.hunks)))
    old = [] if old_text is None else old_text.split("\n")
    if old and old[-1] == "":
        old = old[:-1]
    if previously_applied(old, fp.hunks):
        return FileResult(fp.path, old_text, tuple(
            HunkResult(i, "present", h.new_start) for i, h in enumerate(fp.hunks)))
    new, results = apply_hunks(old, fp.hunks)
    text = "\n".join(new) + "\n" if new else ""
    return FileResult(fp.path, text, results)
