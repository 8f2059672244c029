"""Find the diff inside a mail body, and where each file's part of it ends.

A patch mail is: commit message, a `---` line, notes and the diffstat, the
diff, then maybe a `-- ` signature or a `base-commit:` line. The end of the
diff is found by counting hunk lines as `git apply` does, not by looking for
the signature: a removed line "- " reads as "-- " too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")

# Lines git writes between `diff --git` and the first hunk.
_EXTENDED = (
    "old mode ",
    "new mode ",
    "deleted file mode ",
    "new file mode ",
    "copy from ",
    "copy to ",
    "rename from ",
    "rename to ",
    "rename old ",
    "rename new ",
    "similarity index ",
    "dissimilarity index ",
    "index ",
    "Binary files ",
)
_BINARY_LINE = re.compile(r"^(?:literal \d+|delta \d+|[A-Za-z][0-9A-Za-z!#$%&()*+;<=>?@^_`{|}~-]*|)$")


@dataclass(frozen=True)
class PatchText:
    """A patch mail body cut in its parts; `diff` is "" when there is none.

    `message` is the commit message (text before the `---` separator),
    `notes` what lies between the separator and the diff (comments, the
    diffstat), `tail` what follows the diff (signature, base-commit).
    """

    message: str
    notes: str
    diff: str
    tail: str


def is_diff_start(lines: list[str], i: int) -> bool:
    """Whether a diff begins at line `i`: `diff --git`, or `---`/`+++`/`@@`."""
    line = lines[i]
    if line.startswith("diff --git "):
        return True
    return (
        line.startswith("--- ")
        and i + 2 < len(lines)
        and lines[i + 1].startswith("+++ ")
        and lines[i + 2].startswith("@@ ")
    )


def _is_separator(line: str) -> bool:
    return line.rstrip() == "---"


def split_patch(body: str) -> PatchText:
    """Cut a patch mail body into message, notes, diff and tail."""
    lines = body.split("\n")
    sep = next((i for i, line in enumerate(lines) if _is_separator(line)), None)
    search_from = 0 if sep is None else sep + 1
    start = next((i for i in range(search_from, len(lines)) if is_diff_start(lines, i)), None)
    if start is None and sep is not None:
        # A diff right in the message (no `---`, or a `---` in the prose).
        start = next((i for i in range(sep) if is_diff_start(lines, i)), None)
        if start is not None:
            sep = None
    if start is None:
        cut = len(lines) if sep is None else sep
        message = "\n".join(lines[:cut])
        notes = "" if sep is None else "\n".join(lines[sep + 1 :])
        return PatchText(message.strip("\n"), notes.strip("\n"), "", "")
    chunks, end = diff_chunks(lines, start)
    message_end = start if sep is None or sep > start else sep
    notes = "" if sep is None or sep > start else "\n".join(lines[sep + 1 : start])
    diff_lines = [line for chunk in chunks for line in chunk]
    return PatchText(
        "\n".join(lines[:message_end]).strip("\n"),
        notes.strip("\n"),
        "\n".join(diff_lines) + "\n" if diff_lines else "",
        "\n".join(lines[end:]).strip("\n"),
    )


def diff_chunks(lines: list[str], start: int) -> tuple[list[list[str]], int]:
    """Split the diff beginning at `start` into one list of lines per file.

    Returns the chunks and the index of the first line after the diff. Empty
    lines inside a hunk become " " context lines, as mailers strip the
    trailing space of an empty context line and `git apply` accepts that.
    """
    chunks: list[list[str]] = []
    current: list[str] = []
    i = start
    n = len(lines)
    # Where we are: "header" between file start and first hunk, "hunk"
    # inside one, "between" after a hunk ended.
    state = "header"
    old_left = new_left = 0
    while i < n:
        line = lines[i]
        if state == "hunk":
            if old_left <= 0 and new_left <= 0:
                state = "between"
                continue
            kind = line[:1]
            if line == "":
                line, kind = " ", " "
            if kind == " " and old_left > 0 and new_left > 0:
                old_left -= 1
                new_left -= 1
            elif kind == "-" and old_left > 0:
                old_left -= 1
            elif kind == "+" and new_left > 0:
                new_left -= 1
            elif kind == "\\":
                pass
            elif line.startswith("diff --git "):
                # The hunk is shorter than its header says but the next file
                # starts: the parser reports this one, the next goes on.
                state = "between"
                continue
            else:
                # The hunk is shorter than its header says and what follows
                # is not a diff: the diff ends here, the parser reports it.
                break
            current.append(line)
            i += 1
            continue
        if line.startswith("diff --git ") or (
            line.startswith("--- ")
            and i + 1 < n
            and lines[i + 1].startswith("+++ ")
            and not (state == "header" and _header_awaits_names(current))
        ):
            if current:
                chunks.append(current)
            current = [line]
            state = "header"
            i += 1
            continue
        if state == "between" and line.startswith("\\"):
            current.append(line)
            i += 1
            continue
        match = _HUNK.match(line)
        if match and current:
            old_left = 1 if match.group(2) is None else int(match.group(2))
            new_left = 1 if match.group(4) is None else int(match.group(4))
            current.append(line)
            state = "hunk"
            i += 1
            continue
        if state == "header" and current and (
            line.startswith(_EXTENDED) or line.startswith(("--- ", "+++ "))
        ):
            current.append(line)
            i += 1
            continue
        if state == "header" and current and line == "GIT binary patch":
            # Base85 blocks ("literal N"/"delta N", data lines, a blank line),
            # the forward one and usually the reverse one.
            current.append(line)
            i += 1
            while i < n and _BINARY_LINE.match(lines[i]) and not lines[i].startswith("diff"):
                current.append(lines[i])
                i += 1
                if lines[i - 1] == "" and not (i < n and lines[i].startswith(("literal ", "delta "))):
                    break
            state = "between"
            continue
        break
    if current:
        chunks.append(current)
    return chunks, i


def _header_awaits_names(current: list[str]) -> bool:
    """Whether a `diff --git` header is still waiting for its `---`/`+++` lines."""
    return bool(current) and current[0].startswith("diff --git ") and not any(
        line.startswith("--- ") for line in current
    )
