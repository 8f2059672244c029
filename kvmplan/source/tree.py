"""A read-only view of a kernel tree, with an optional in-memory overlay."""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath


class UnsafePath(ValueError):
    """A path that would leave the tree (absolute, `..`, or through a symlink)."""


def safe_relpath(path: str) -> str:
    """Normalise a tree-relative path; refuse anything that could leave the tree."""
    if not path or "\x00" in path:
        raise UnsafePath(f"empty or invalid path {path!r}")
    p = PurePosixPath(path.replace("\\", "/"))
    if p.is_absolute() or any(part == ".." for part in p.parts):
        raise UnsafePath(f"path leaves the tree: {path!r}")
    parts = [part for part in p.parts if part not in ("", ".")]
    if not parts:
        raise UnsafePath(f"empty path {path!r}")
    return "/".join(parts)


@dataclass
class SourceTree:
    """Files of a kernel tree by relative path. Reads only; never writes.

    A link that leads out of the tree and anything that is not a regular
    file (a FIFO, a device, a socket) reads as absent and is never opened;
    `refused` records each with the reason (shared by every overlay of the
    tree), for the caller to report."""

    root: Path
    overlay: dict[str, bytes | None] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        self.root = Path(self.root).resolve()

    def _disk_path(self, rel: str) -> Path:
        rel = safe_relpath(rel)
        full = (self.root / rel).resolve()
        if full != self.root and self.root not in full.parents:
            raise UnsafePath(f"path leaves the tree: {rel!r}")
        return full

    def _on_disk(self, rel: str) -> Path | None:
        """The regular file `rel` names inside the tree, or None (recorded
        in `refused` when something is there that may not be read)."""
        try:
            full = self._disk_path(rel)
        except UnsafePath:
            self.refused[rel] = "a link that leaves the tree"
            return None
        try:
            mode = full.stat().st_mode
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            self.refused[rel] = f"cannot be read ({exc.strerror or exc})"
            return None
        if stat.S_ISDIR(mode):
            return None
        if not stat.S_ISREG(mode):
            self.refused[rel] = "not a regular file"
            return None
        return full

    def read(self, rel: str) -> bytes | None:
        """File content (overlay first), or None when the file does not exist
        (or may not be read: see `refused`)."""
        rel = safe_relpath(rel)
        if rel in self.overlay:
            return self.overlay[rel]
        full = self._on_disk(rel)
        if full is None:
            return None
        try:
            return full.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None
        except OSError as exc:
            self.refused[rel] = f"cannot be read ({exc.strerror or exc})"
            return None

    def exists(self, rel: str) -> bool:
        return self.read(rel) is not None

    def files(self, prefixes: tuple[str, ...], suffixes: tuple[str, ...] = (".c", ".h")) -> list[str]:
        """Relative paths under the given prefixes (files or directories), sorted."""
        found: set[str] = set()
        for prefix in prefixes:
            prefix = safe_relpath(prefix)
            try:
                base = self._disk_path(prefix)
            except UnsafePath:
                self.refused[prefix] = "a link that leaves the tree"
                continue
            if base.is_file():
                found.add(prefix)
                continue
            if base.is_dir():
                for dirpath, dirnames, filenames in os.walk(base):
                    dirnames.sort()
                    for name in filenames:
                        if name.endswith(suffixes):
                            rel = os.path.relpath(os.path.join(dirpath, name), self.root)
                            found.add(rel.replace(os.sep, "/"))
        for rel, content in self.overlay.items():
            if content is not None and any(rel == p or rel.startswith(p.rstrip("/") + "/")
                                           for p in prefixes) and rel.endswith(suffixes):
                found.add(rel)
        return sorted(p for p in found if self.read(p) is not None)

    def with_overlay(self, changes: dict[str, bytes | None]) -> "SourceTree":
        merged = dict(self.overlay)
        merged.update(changes)
        return SourceTree(self.root, merged, self.refused)


_MAKE_VAR = re.compile(r"^(VERSION|PATCHLEVEL|SUBLEVEL|EXTRAVERSION)\s*=[ \t]*(\S*)", re.M)


def kernel_release(root: Path) -> tuple[str, str]:
    """(major, release) from a tree's top Makefile: ("6.1", "6.1.192");
    ("", "") when there is none. A zero SUBLEVEL is left out, as `make
    kernelversion` does."""
    try:
        head = (Path(root) / "Makefile").read_text(encoding="utf-8", errors="replace")[:2000]
    except OSError:
        return "", ""
    v = dict(_MAKE_VAR.findall(head))
    if not v.get("VERSION"):
        return "", ""
    major = f"{v['VERSION']}.{v.get('PATCHLEVEL', '')}".strip(".")
    sub = v.get("SUBLEVEL", "")
    return major, major + (f".{sub}" if sub not in ("", "0") else "") + v.get("EXTRAVERSION", "")
