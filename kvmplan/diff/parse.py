"""Parse diff text into FilePatch objects with unidiff, one file at a time.

Each file's chunk is parsed on its own so that one broken file costs only
that file: the others are kept and the broken one gets a diagnostic.
"""

from __future__ import annotations

import re

from unidiff.errors import UnidiffParseError
from unidiff.patch import PatchSet

from kvmplan.diagnostics import Diagnostic
from kvmplan.diff.extract import diff_chunks, is_diff_start
from kvmplan.diff.filepatch import FilePatch, Hunk, Line, LineKind
from kvmplan.diff.paths import unsafe_path_reason

_GIT_HEADER = re.compile(r"^diff --git (?:\"?a/)?(.+?)\"? (?:\"?b/)?(.+?)\"?$")
_MODE = re.compile(r"^(old mode|new mode|deleted file mode|new file mode) ([0-7]{6})\s*$")


def parse_diff(text: str) -> tuple[tuple[FilePatch, ...], tuple[Diagnostic, ...]]:
    """Parse every file of the (first) diff found in `text`.

    Text before the diff and after its end (a signature, `base-commit:`) is
    ignored. Unsafe paths and unparsable files give diagnostics.
    """
    lines = text.replace("\r\n", "\n").split("\n")
    start = next((i for i in range(len(lines)) if is_diff_start(lines, i)), None)
    if start is None:
        return (), ()
    chunks, _ = diff_chunks(lines, start)
    files: list[FilePatch] = []
    diagnostics: list[Diagnostic] = []
    for chunk in chunks:
        filepatch, problems = _parse_chunk(chunk)
        diagnostics.extend(problems)
        if filepatch is not None:
            files.append(filepatch)
            diagnostics.extend(_path_diagnostics(filepatch))
    return tuple(files), tuple(diagnostics)


def _parse_chunk(chunk: list[str]) -> tuple[FilePatch | None, list[Diagnostic]]:
    name = _chunk_name(chunk)
    try:
        patchset = PatchSet("\n".join(chunk) + "\n")
    except UnidiffParseError as exc:
        return None, [Diagnostic("error", f"cannot parse the diff of {name}: {exc}")]
    except Exception as exc:  # noqa: BLE001 - unidiff raises plain errors on odd input
        return None, [
            Diagnostic("error", f"cannot parse the diff of {name}: {type(exc).__name__}: {exc}")
        ]
    if len(patchset) != 1:
        return None, [Diagnostic("error", f"cannot parse the diff of {name}: no file header")]
    patched = patchset[0]
    header = _header_lines(chunk)
    modes = {m.group(1): m.group(2) for m in map(_MODE.match, header) if m}
    renames = _extended_values(header, ("rename from ", "rename old "))
    renames_to = _extended_values(header, ("rename to ", "rename new "))
    copies = _extended_values(header, ("copy from ",))
    copies_to = _extended_values(header, ("copy to ",))
    similarity = _extended_values(header, ("similarity index ",))
    git_names = _GIT_HEADER.match(chunk[0]) if chunk[0].startswith("diff --git ") else None

    is_new = bool(patched.is_added_file) or "new file mode" in modes
    is_deleted = bool(patched.is_removed_file) or "deleted file mode" in modes
    old_path = renames or copies or _strip_prefix(patched.source_file)
    new_path = renames_to or copies_to or _strip_prefix(patched.target_file)
    if git_names is not None:
        old_path = old_path or git_names.group(1)
        new_path = new_path or git_names.group(2)
    if is_new:
        old_path = None
    if is_deleted:
        new_path = None
    path = new_path or old_path
    if path is None:
        return None, [Diagnostic("error", f"cannot parse the diff of {name}: no file name")]
    hunks = tuple(
        Hunk(
            old_start=h.source_start,
            old_len=h.source_length,
            new_start=h.target_start,
            new_len=h.target_length,
            section=(h.section_header or "").strip(),
            lines=tuple(_line(line) for line in h),
        )
        for h in patched
    )
    return (
        FilePatch(
            path=path,
            old_path=old_path,
            new_path=new_path,
            is_new=is_new,
            is_deleted=is_deleted,
            is_rename=bool(renames and renames_to) or (bool(patched.is_rename) and not copies),
            is_copy=bool(copies and copies_to),
            is_binary=bool(patched.is_binary_file) or "GIT binary patch" in chunk,
            old_mode=modes.get("old mode") or modes.get("deleted file mode"),
            new_mode=modes.get("new mode") or modes.get("new file mode"),
            similarity=int(similarity.rstrip("%")) if similarity and similarity.rstrip("%").isdigit() else None,
            hunks=hunks,
        ),
        [],
    )


def _line(line: object) -> Line:
    kind: LineKind = getattr(line, "line_type")  # noqa: B009 - unidiff has no stubs
    value: str = getattr(line, "value")  # noqa: B009
    value = value.removesuffix("\n")
    if kind == "\\":
        value = value.lstrip()
    return Line(kind, value, getattr(line, "source_line_no"), getattr(line, "target_line_no"))  # noqa: B009


def _header_lines(chunk: list[str]) -> list[str]:
    header = []
    for line in chunk[1:]:
        if line.startswith(("@@", "--- ", "GIT binary patch")):
            break
        header.append(line)
    return header


def _extended_values(header: list[str], keys: tuple[str, ...]) -> str | None:
    for line in header:
        for key in keys:
            if line.startswith(key):
                return _unquote(line[len(key) :].strip())
    return None


def _strip_prefix(name: str | None) -> str | None:
    if not name:
        return None
    name = _unquote(name.split("\t", 1)[0].strip())
    if name == "/dev/null":
        return None
    if name.startswith(("a/", "b/")):
        return name[2:]
    return name


def _unquote(name: str) -> str:
    """Undo git's C-style quoting of unusual file names ("a/f\\303\\266o")."""
    if len(name) >= 2 and name[0] == '"' and name[-1] == '"':
        raw = name[1:-1]
        try:
            return raw.encode("latin-1", "backslashreplace").decode("unicode_escape").encode(
                "latin-1"
            ).decode("utf-8", "replace")
        except (UnicodeDecodeError, UnicodeEncodeError):
            return raw
    return name


def _chunk_name(chunk: list[str]) -> str:
    first = chunk[0] if chunk else ""
    match = _GIT_HEADER.match(first)
    if match:
        return match.group(2)
    for line in chunk:
        if line.startswith("+++ "):
            return _strip_prefix(line[4:]) or line[4:]
    return repr(first[:60])


def _path_diagnostics(filepatch: FilePatch) -> list[Diagnostic]:
    problems = []
    for p in dict.fromkeys(x for x in (filepatch.old_path, filepatch.new_path, filepatch.path) if x):
        reason = unsafe_path_reason(p)
        if reason is not None:
            problems.append(
                Diagnostic("error", f"unsafe path {p!r} in diff ({reason}): never applied")
            )
    return problems
