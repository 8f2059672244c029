"""A kernel tree with a series applied in memory, one patch at a time.

The tree on disk is only read. Each patch's files are applied with
kvmplan.diff.apply to the text as the previous patches left it; the result
lives in a SourceTree overlay. A path that could leave the tree is refused
before anything is read.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Sequence

from kvmplan.diagnostics import Diagnostic
from kvmplan.diff import FilePatch
from kvmplan.diff.apply import FileOutcome, apply_file, without_hunks
from kvmplan.graph import GraphOptions, HookGraph, build_graph
from kvmplan.source import SourceTree, UnsafePath


@dataclass(frozen=True)
class TreeState:
    """The tree after some prefix of the series (immutable)."""

    tree: SourceTree
    changes: tuple[tuple[str, bytes | None], ...] = ()
    _graphs: dict[str, HookGraph] = field(default_factory=dict, compare=False, repr=False)

    def apply(self, files: Sequence[FilePatch], label: str = "") -> tuple[
            "TreeState", tuple[FileOutcome, ...], tuple[Diagnostic, ...]]:
        """This state with `files` applied; how each file went; what went wrong."""
        where = f"{label}: " if label else ""
        overlay: dict[str, bytes | None] = {}
        outcomes: list[FileOutcome] = []
        diags: list[Diagnostic] = []
        current = self.tree
        for fp in files:
            settled = without_hunks(fp, where)
            if settled is not None:
                outcome, refused = settled
                if refused is not None:
                    diags.append(refused)
                elif fp.is_deleted:
                    overlay[fp.path] = None
                    current = current.with_overlay({fp.path: None})
                outcomes.append(outcome)
                continue
            src = fp.old_path or fp.path
            try:
                old = None if fp.is_new else current.read(src)
            except UnsafePath as exc:
                outcomes.append(FileOutcome(fp.path, (), "unsafe path"))
                diags.append(Diagnostic("error", f"{where}{fp.path}: {exc}; file not applied"))
                continue
            if old is None and not fp.is_new:
                outcomes.append(FileOutcome(fp.path, (), "not in the tree"))
                continue
            result = apply_file(fp, None if old is None else old.decode("utf-8", "replace"))
            for h in result.hunks:
                if h.status == "failed":
                    diags.append(Diagnostic("error", f"{where}{fp.path}:{h.line}: hunk #{h.index + 1} "
                                            "does not apply; left out"))
            outcomes.append(FileOutcome(fp.path, result.hunks))
            new = None if result.text is None else result.text.encode("utf-8")
            update: dict[str, bytes | None] = {fp.path: new}
            if fp.is_rename and fp.old_path and fp.old_path != fp.path:
                update[fp.old_path] = None
            overlay.update(update)
            current = current.with_overlay(update)
        merged = dict(self.changes)
        merged.update(overlay)
        state = TreeState(current, tuple(sorted(merged.items(), key=lambda kv: kv[0])))
        return state, tuple(outcomes), tuple(diags)

    def graph(self, vendor: str = "vmx") -> HookGraph:
        if vendor not in self._graphs:
            self._graphs[vendor] = build_graph(self.tree, options=GraphOptions(vendor=vendor))
        return self._graphs[vendor]

    def refused(self) -> dict[str, str]:
        """Paths of the tree that were not read, and why (links that leave it,
        FIFOs and other special files)."""
        return dict(self.tree.refused)

    def key(self) -> str:
        h = hashlib.blake2b(digest_size=16)
        h.update(str(self.tree.root).encode() + b"\0")
        for path, content in self.changes:
            h.update(path.encode() + b"\0")
            h.update(b"-" if content is None else hashlib.blake2b(content, digest_size=16).digest())
        return h.hexdigest()


