"""A series applied to a tree in memory, patch by patch, and the refactor
steps each patch advances (the criteria it makes true, by the detectors)."""

from __future__ import annotations

import gc
from dataclasses import dataclass

from kvmplan.diff.apply import apply_file
from kvmplan.diff.filepatch import FilePatch
from kvmplan.graph.hooks import HookGraph
from kvmplan.mail import Series
from kvmplan.plan.edit import Code, load_code
from kvmplan.plan.roles import NAMES
from kvmplan.plan.status import DONE, NOT_DONE, PARTIAL, SUPERSEDED, Assessment, Status
from kvmplan.plan.steps import assess
from kvmplan.source import SourceTree, UnsafePath

# Files whose change can change the hook graph (its parts, cpuhp states, x86 ops).
GRAPH_INPUTS = ("virt/", "arch/x86/", "include/linux/")
# ...and the graph of common code built as an arch that opts out of enabling.
COMMON_INPUTS = ("virt/kvm/", "include/linux/kvm_host.h")

_RANK: dict[Status, int] = {NOT_DONE: 0, PARTIAL: 1, SUPERSEDED: 2, DONE: 2}


@dataclass(frozen=True)
class FileApplied:
    """How a patch's change to one file went."""

    path: str
    outcome: str          # applied, offset, fuzz, present, partly, failed, skipped
    note: str = ""


@dataclass(frozen=True)
class Advance:
    """A step a patch moves: the criteria it makes true (or false), status before/after."""

    step: str
    before: Status
    after: Status
    criteria: tuple[str, ...]


@dataclass(frozen=True)
class PatchMap:
    index: int
    expected: int
    title: str
    message_id: str
    files: tuple[FileApplied, ...]
    advances: tuple[Advance, ...]
    regresses: tuple[Advance, ...]


@dataclass(frozen=True)
class SeriesMap:
    title: str
    version: int
    base_commit: str | None
    patches: tuple[PatchMap, ...]
    tree: SourceTree                      # the tree with the whole series applied
    code: Code                            # its code, graph and step statuses
    graph: HookGraph
    opt_out: HookGraph
    statuses: dict[str, Assessment]


OPT_OUT_PARTS = ("virt/kvm", "include/linux/kvm_host.h")


def load_opt_out(tree: SourceTree, vendor: str, base: Code | None = None,
                 changed: frozenset[str] = frozenset()) -> tuple[Code, HookGraph]:
    """Common code built as an arch that opts out of generic hardware enabling."""
    return load_code(tree, vendor, base, changed, OPT_OUT_PARTS, ((NAMES.opt_out, "n"),))




def _apply(tree: SourceTree, overlay: dict[str, bytes | None],
           fp: FilePatch) -> FileApplied:
    if not fp.path_is_safe:
        return FileApplied(fp.path, "skipped", "path leaves the tree")
    if fp.is_binary:
        return FileApplied(fp.path, "skipped", "binary")
    source = fp.old_path or fp.path
    try:
        old = overlay[source] if source in overlay else tree.read(source)
    except UnsafePath:
        return FileApplied(fp.path, "skipped", "path leaves the tree")
    if old is None and not fp.is_new:
        return FileApplied(fp.path, "skipped", "not in the tree")
    result = apply_file(fp, old.decode("utf-8", "replace") if old is not None else None)
    statuses = [h.status for h in result.hunks]
    failed = statuses.count("failed")
    if failed == len(statuses) and statuses:
        return FileApplied(fp.path, "failed", f"{failed} of {len(statuses)} hunks did not apply")
    overlay[fp.path] = result.text.encode("utf-8") if result.text is not None else None
    if fp.is_rename and fp.old_path and fp.old_path != fp.path:
        overlay[fp.old_path] = None
    if failed:
        return FileApplied(fp.path, "partly", f"{failed} of {len(statuses)} hunks did not apply")
    for word in ("fuzz", "offset", "present"):
        if word in statuses:
            n = statuses.count(word)
            note = "already in the tree" if word == "present" else f"{n} hunk(s) with {word}"
            return FileApplied(fp.path, word if word != "present" else "present", note)
    return FileApplied(fp.path, "applied")


def _compare(before: dict[str, Assessment],
             after: dict[str, Assessment]) -> tuple[list[Advance], list[Advance]]:
    advances, regresses = [], []
    for sid, a in before.items():
        b = after[sid]
        gained = tuple(c.text for c in b.criteria if c.met and c.key not in a.met())
        lost = tuple(c.text for c in a.criteria if c.met and c.key not in b.met())
        if gained or _RANK[b.status] > _RANK[a.status]:
            advances.append(Advance(sid, a.status, b.status, gained))
        elif lost or _RANK[b.status] < _RANK[a.status]:
            regresses.append(Advance(sid, a.status, b.status, lost))
    return advances, regresses


def map_series(tree: SourceTree, series: Series, vendor: str = "vmx",
               base: Code | None = None) -> SeriesMap:
    """Apply the series patch by patch; after each patch that touches the
    graph's inputs, re-run the detectors and record what moved."""
    was_enabled = gc.isenabled()
    gc.disable()          # see build_graph(): many objects, no garbage cycles
    try:
        return _map_series(tree, series, vendor, base)
    finally:
        if was_enabled:
            gc.enable()


def _map_series(tree: SourceTree, series: Series, vendor: str, base: Code | None) -> SeriesMap:
    overlay: dict[str, bytes | None] = {}
    code, graph = load_code(tree, vendor) if base is None else (base, base.graph())
    opt_code, opt_out = load_opt_out(tree, vendor)
    current = assess(graph, opt_out)
    patches: list[PatchMap] = []
    for patch in series.patches:
        files = tuple(_apply(tree, overlay, fp) for fp in patch.files)
        changed = frozenset(f.path for f in files if f.path.startswith(GRAPH_INPUTS)
                            and f.outcome not in ("skipped", "failed", "present"))
        changed |= frozenset(fp.old_path for fp in patch.files
                             if fp.is_rename and fp.old_path and fp.path in changed)
        advances: list[Advance] = []
        regresses: list[Advance] = []
        if changed:
            now_tree = tree.with_overlay(overlay)
            code, graph = load_code(now_tree, vendor, code, changed)
            if any(p.startswith(COMMON_INPUTS) for p in changed):
                opt_code, opt_out = load_opt_out(now_tree, vendor, opt_code, changed)
            now = assess(graph, opt_out)
            advances, regresses = _compare(current, now)
            current = now
        patches.append(PatchMap(patch.index, patch.expected, patch.title, patch.message_id,
                                files, tuple(advances), tuple(regresses)))
    return SeriesMap(series.title, series.version, series.base_commit, tuple(patches),
                     tree.with_overlay(overlay), code, graph, opt_out, current)
