"""What a diff says about one file: plain frozen data for the later stages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

from kvmplan.diff.paths import unsafe_path_reason

LineKind = Literal[" ", "+", "-", "\\"]


class Line(NamedTuple):
    """One hunk line: kind is ' ', '+', '-', or '\\' for "No newline at end of file".

    `text` has no kind prefix and no line ending. Line numbers are 1-based;
    `old_lineno` is None for '+' lines, `new_lineno` for '-' lines, both for '\\'.
    """

    kind: LineKind
    text: str
    old_lineno: int | None
    new_lineno: int | None


@dataclass(frozen=True)
class Hunk:
    """One `@@ -old_start,old_len +new_start,new_len @@ section` hunk, lines kept whole."""

    old_start: int
    old_len: int
    new_start: int
    new_len: int
    section: str
    lines: tuple[Line, ...]

    @property
    def added(self) -> int:
        return sum(1 for line in self.lines if line.kind == "+")

    @property
    def removed(self) -> int:
        return sum(1 for line in self.lines if line.kind == "-")


@dataclass(frozen=True)
class FilePatch:
    """The change to one file.

    `path` is the file's path after the change (before it, for a deletion),
    without the `a/`/`b/` prefixes; `old_path` is None for a new file and
    `new_path` None for a deleted one. Modes are octal strings as git writes
    them ("100644"), None when the diff does not say.
    """

    path: str
    old_path: str | None
    new_path: str | None
    is_new: bool = False
    is_deleted: bool = False
    is_rename: bool = False
    is_copy: bool = False
    is_binary: bool = False
    old_mode: str | None = None
    new_mode: str | None = None
    similarity: int | None = None
    hunks: tuple[Hunk, ...] = ()

    @property
    def added(self) -> int:
        return sum(h.added for h in self.hunks)

    @property
    def removed(self) -> int:
        return sum(h.removed for h in self.hunks)

    @property
    def is_mode_change(self) -> bool:
        return (
            self.old_mode is not None
            and self.new_mode is not None
            and self.old_mode != self.new_mode
        )

    @property
    def status(self) -> str:
        """One word for the kind of change, as `git diff --name-status` thinks of it."""
        if self.is_new:
            return "added"
        if self.is_deleted:
            return "deleted"
        if self.is_rename:
            return "renamed"
        if self.is_copy:
            return "copied"
        return "modified"

    @property
    def path_is_safe(self) -> bool:
        """False when any path here could leave the tree: such a file is never touched."""
        return all(
            unsafe_path_reason(p) is None
            for p in (self.path, self.old_path, self.new_path)
            if p is not None
        )
