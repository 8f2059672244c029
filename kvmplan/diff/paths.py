"""Path safety: a path from a mail must stay inside the tree it is applied to."""

from __future__ import annotations

import re

# A Windows drive ("C:") or UNC start is as absolute as "/" for our purpose.
_DRIVE = re.compile(r"^[A-Za-z]:")


def unsafe_path_reason(path: str) -> str | None:
    """Why `path` must not be used to touch a file, or None when it is safe.

    Mail is untrusted input: a diff naming `../../etc/passwd` or `/etc/passwd`
    must be reported, never resolved.
    """
    if path == "":
        return "empty path"
    if "\x00" in path:
        return "path contains a NUL byte"
    if path.startswith(("/", "\\")) or _DRIVE.match(path):
        return "absolute path"
    if any(part == ".." for part in re.split(r"[/\\]", path)):
        return "path contains '..'"
    return None
