"""Bundled baselines: the hook graphs of reference kernels, for mail-only analysis.

    baseline, why = select(series.base_commit)     # or select(None, "linux-6.1")
    state = baseline.start()
    for patch in series.patches:
        state, outcomes, diags = state.apply(patch.files)
        graph = state.graph()                       # cache model runs by state.key()

A baseline is extracted by kvmplan itself from a kernel tree (`kvmplan
baseline build`); it holds structure only: functions as event streams,
tables, globals, header facts, and per line a fingerprint and a code state.
"""

from __future__ import annotations

import gzip
import json
import re
from functools import lru_cache
from importlib import resources
from pathlib import Path

from kvmplan.baseline.codec import SCHEMA, BaselineDataError
from kvmplan.baseline.extract import TAG_COMMITS, NotAKernelTree, extract_files
from kvmplan.baseline.snapshot import BaselineInfo
from kvmplan.baseline.state import (
    NOT_IN_BASELINE,
    Baseline,
    BaselineState,
    baseline_from_bytes,
)

__all__ = [
    "NOT_IN_BASELINE", "SCHEMA", "TAG_COMMITS", "Baseline", "BaselineDataError", "BaselineInfo",
    "BaselineState", "NotAKernelTree", "UnknownBaseline", "available", "extract", "load", "select",
]

_SUFFIX = ".json.gz"


class UnknownBaseline(ValueError):
    """A baseline asked for by name that is not bundled."""


def extract(tree: Path, vendor: str = "vmx") -> Baseline:
    """Extract the baseline of a kernel tree (what `kvmplan baseline build` writes).

    Both vendors' code is kept (the graph builder parses both); `vendor` only
    has to be one the builder knows, and is chosen again by `graph()`.
    """
    if vendor not in ("vmx", "svm"):
        raise ValueError(f"unknown vendor {vendor!r} (vmx or svm)")
    info, files = extract_files(Path(tree))
    return Baseline(info, {f.path: f for f in files})


def _data_dir() -> Path:
    return Path(str(resources.files("kvmplan.baseline") / "data"))


def _data_files() -> list[Path]:
    return sorted(_data_dir().glob("*" + _SUFFIX))


def _info_of(path: Path) -> BaselineInfo:
    """The info of a data file, read from its first bytes (it is written first)."""
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        head = fh.read(4096)
    at = head.find('"info":')
    if at < 0:
        raise BaselineDataError(f"{path.name}: no baseline info")
    value, _ = json.JSONDecoder().raw_decode(head, at + len('"info":'))
    return BaselineInfo(**value)


def _release_key(info: BaselineInfo) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", info.release)[:3])


@lru_cache(maxsize=1)
def _catalogue() -> tuple[tuple[BaselineInfo, Path], ...]:
    found = [(_info_of(p), p) for p in _data_files()]
    return tuple(sorted(found, key=lambda ip: _release_key(ip[0]), reverse=True))


def available() -> tuple[BaselineInfo, ...]:
    """The bundled baselines, newest first."""
    return tuple(info for info, _ in _catalogue())


@lru_cache(maxsize=4)
def load(name: str) -> Baseline:
    """A bundled baseline by name ("linux-6.12")."""
    for info, path in _catalogue():
        if info.name == name:
            return baseline_from_bytes(path.read_bytes())
    names = ", ".join(i.name for i in available()) or "none"
    raise UnknownBaseline(f"no bundled baseline {name!r} (available: {names})")


def _version_of(info: BaselineInfo) -> str:
    return info.name.removeprefix("linux-")


def select(base_commit: str | None, wanted: str | None = None) -> tuple[Baseline, str]:
    """The baseline to judge a series against, and one line saying why.

    `wanted` (a name such as "linux-6.1", or "6.1") wins; otherwise a
    `base-commit:` that is a known release tag commit (full hash or a prefix
    of at least 7 hex digits) picks that release; otherwise the newest.
    """
    infos = available()
    if not infos:
        raise UnknownBaseline("no bundled baselines (kvmplan/baseline/data is empty)")
    if wanted:
        for info in infos:
            if wanted in (info.name, _version_of(info)):
                return load(info.name), f"--baseline {info.name}"
        raise UnknownBaseline(f"no bundled baseline {wanted!r} (available: "
                              f"{', '.join(i.name for i in infos)})")
    newest = infos[0]
    if not base_commit or not base_commit.strip():
        return load(newest.name), "no base-commit: newest baseline"
    commit = base_commit.strip().lower()
    if re.fullmatch(r"[0-9a-f]{7,40}", commit):
        for info in infos:
            if info.commit and info.commit.startswith(commit):
                return load(info.name), f"base-commit {commit[:12]} is v{_version_of(info)}"
    shown = " ".join(base_commit.split())[:12]
    return load(newest.name), f"base-commit {shown} unknown: newest baseline"
