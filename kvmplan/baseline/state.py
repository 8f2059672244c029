"""A baseline, and a baseline with a series prefix applied to it."""

from __future__ import annotations

import dataclasses
import gc
import hashlib
from array import array
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

from kvmplan.baseline import codec
from kvmplan.baseline.extract import is_parsed, is_tracked
from kvmplan.baseline.headers import HEADERS, HeaderItem, cpuhp_states, defines, x86_ops
from kvmplan.baseline.patch import Configs, new_file, patch_file
from kvmplan.baseline.snapshot import BaselineInfo, FileState, Placed
from kvmplan.cparse.config import default_config
from kvmplan.diagnostics import Diagnostic
from kvmplan.diff.apply import APPLIED, FileOutcome, HunkResult, without_hunks
from kvmplan.diff.filepatch import FilePatch
from kvmplan.graph.build import graph_from_units
from kvmplan.graph.hooks import HookGraph

NOT_IN_BASELINE = "not in the baseline"
_GRAPHS_KEPT = 4


@dataclass(frozen=True, eq=False)
class Baseline:
    """The hook-graph material of a reference kernel: per file its parsed
    structure, line fingerprints and code states, and the header facts the
    graph builder reads (never the kernel's text)."""

    info: BaselineInfo
    files: Mapping[str, FileState] = field(repr=False)
    data: bytes | None = field(default=None, repr=False, compare=False)
    # the last graphs built, by (state key, vendor): a patch that changes no
    # file the baseline holds gets the graph of the state before it
    graphs: dict[tuple[str, str], HookGraph] = field(default_factory=dict, repr=False,
                                                     compare=False)

    def start(self) -> BaselineState:
        """The baseline itself, before any patch."""
        return BaselineState(self, self.files, frozenset())

    def dumps(self) -> bytes:
        """The data file (deterministic gzip-compressed JSON)."""
        if self.data is not None:
            return self.data
        return codec.dumps(self.info, list(self.files.values()))

    @cached_property
    def digest(self) -> str:
        return hashlib.blake2b(self.dumps(), digest_size=16).hexdigest()


def baseline_from_bytes(data: bytes) -> Baseline:
    info, files = codec.loads(data)
    return Baseline(info, {f.path: f for f in files}, data)


@dataclass(frozen=True, eq=False)
class BaselineState:
    """The baseline with a series prefix applied (immutable: `apply` returns
    a new state; compare states by `key()`). `changed` names the files a
    patch has touched since the baseline."""

    baseline: Baseline
    files: Mapping[str, FileState] = field(repr=False)
    changed: frozenset[str]

    @property
    def info(self) -> BaselineInfo:
        return self.baseline.info

    @cached_property
    def items(self) -> dict[str, tuple[HeaderItem, ...]]:
        return {p: self.files[p].items for p in HEADERS if p in self.files}

    @cached_property
    def configs(self) -> Configs:
        header = default_config()
        return Configs(header.with_defines(defines(self.items, header)), header)

    def apply(self, files: Sequence[FilePatch], label: str = "") -> tuple[
            BaselineState, tuple[FileOutcome, ...], tuple[Diagnostic, ...]]:
        """This state with one patch's `files` applied, how each file went,
        and what went wrong (diagnostics start with `label`, e.g. "patch 3/50").

        Files the baseline does not hold are skipped ("not in the baseline");
        a hunk that cannot be placed is "failed", reported, and left out.
        """
        where = f"{label}: " if label else ""
        current = dict(self.files)
        changed = set(self.changed)
        outcomes: list[FileOutcome] = []
        diags: list[Diagnostic] = []
        for fp in files:
            source = fp.old_path or fp.path
            settled = without_hunks(fp, where)
            if settled is not None:
                outcome, refused = settled
                if refused is not None:
                    diags.append(refused)
                elif fp.is_deleted and source in current:
                    del current[source]
                    changed.add(source)
                outcomes.append(outcome)
                continue
            if fp.is_deleted:
                if source not in current:
                    outcomes.append(FileOutcome(fp.path, (), NOT_IN_BASELINE))
                    continue
                del current[source]
                changed.add(source)
                outcomes.append(FileOutcome(fp.path, _exact(fp)))
                continue
            if fp.is_new and source not in current:
                if not is_tracked(fp.path):
                    outcomes.append(FileOutcome(fp.path, (), NOT_IN_BASELINE))
                    continue
                current[fp.path] = new_file(fp.path, fp.hunks, self.configs)
                changed.add(fp.path)
                outcomes.append(FileOutcome(fp.path, _exact(fp)))
                continue
            if source not in current:
                outcomes.append(FileOutcome(fp.path, (), NOT_IN_BASELINE))
                continue
            fs, results, warnings = patch_file(current[source], fp.hunks, self.configs)
            for r in results:
                if r.status == "failed":
                    diags.append(Diagnostic(
                        "error", f"{where}{fp.path}:{r.line}: hunk #{r.index + 1} does not apply "
                        f"to baseline {self.info.name}; left out"))
            diags.extend(Diagnostic("warning", f"{where}{w}") for w in warnings)
            outcomes.append(FileOutcome(fp.path, results))
            if fp.path == source and not any(r.status in APPLIED for r in results):
                continue                      # nothing applied: the file is as it was
            if fp.path != source:
                del current[source]
                changed.add(source)
                if not is_tracked(fp.path):
                    continue
                fs = _renamed(fs, fp.path)
            current[fp.path] = fs
            changed.add(fp.path)
        state = BaselineState(self.baseline, current, frozenset(changed))
        return state, tuple(outcomes), tuple(diags)

    def graph(self, vendor: str = "vmx") -> HookGraph:
        """The hook graph of this state (as graph.build_graph makes it from a
        tree). States with the same key share one graph: treat it as read-only."""
        cache = self.baseline.graphs
        key = (self.key(), vendor)
        if key in cache:
            return cache[key]
        units = [fs.unit for _, fs in sorted(self.files.items()) if fs.unit is not None]
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            graph = graph_from_units(f"baseline {self.info.name}", units,
                                     cpuhp_states(self.items, self.configs.parse),
                                     x86_ops(self.items), vendor)
        finally:
            if was_enabled:
                gc.enable()
        while len(cache) >= _GRAPHS_KEPT:
            del cache[next(iter(cache))]
        cache[key] = graph
        return graph

    @cached_property
    def _key(self) -> str:
        h = hashlib.blake2b(digest_size=16)
        h.update(self.baseline.digest.encode())
        for path in sorted(self.changed):
            fs = self.files.get(path)
            digest = _text_digest(fs) if fs is not None else b"-"
            was = self.baseline.files.get(path)
            if digest == (_text_digest(was) if was is not None else b"-"):
                continue                      # changed back: as in the baseline
            h.update(f"\0{path}\0".encode() + digest)
        return h.hexdigest()

    def refused(self) -> dict[str, str]:
        """Nothing: a baseline holds no links or special files."""
        return {}

    def key(self) -> str:
        """A content hash: the baseline's, and for each file a patch changed,
        the fingerprints of its lines (its text, in effect). Equal for equal
        content whatever the patches that led to it; a patch that changes no
        file the baseline holds keeps the key of the state before it."""
        return self._key


def _text_digest(fs: FileState) -> bytes:
    lines = fs.lines()
    h = hashlib.blake2b(digest_size=16)
    h.update(array("L", lines.keys).tobytes())
    h.update(repr(fs.items).encode())
    return h.digest()


def _exact(fp: FilePatch) -> tuple[HunkResult, ...]:
    return tuple(HunkResult(i, "exact", h.old_start) for i, h in enumerate(fp.hunks))


def _renamed(fs: FileState, path: str) -> FileState:
    """The same content under another path (a rename)."""
    def moved(p: Placed) -> Placed:
        return Placed(dataclasses.replace(p.fn, file=path, events=p.fn.events), p.delta)

    return dataclasses.replace(
        fs, path=path, parsed=fs.parsed and is_parsed(path),
        functions=tuple(moved(p) for p in fs.functions),
        tables=tuple(dataclasses.replace(t, file=path) for t in fs.tables),
        globals=tuple(dataclasses.replace(g, file=path) for g in fs.globals),
        top_calls=tuple(dataclasses.replace(c, file=path) for c in fs.top_calls),
        errors=tuple(dataclasses.replace(e, file=path) for e in fs.errors),
        stored=fs.stored, decoded=fs.lines())
