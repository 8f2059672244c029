"""Diffs from patch mails: FilePatch and Hunk, parsed with unidiff.

Pure text in, frozen data out; nothing here reads or writes files.
"""

from kvmplan.diff.extract import PatchText, split_patch
from kvmplan.diff.filepatch import FilePatch, Hunk, Line, LineKind
from kvmplan.diff.parse import parse_diff
from kvmplan.diff.paths import unsafe_path_reason

__all__ = [
    "FilePatch",
    "Hunk",
    "Line",
    "LineKind",
    "PatchText",
    "parse_diff",
    "split_patch",
    "unsafe_path_reason",
]
