"""Extract a baseline from a kernel tree: what the graph builder reads, as structure.

    kvmplan baseline build --tree ~/.cache/kvmplan/trees/linux-6.12 \\
        --output kvmplan/baseline/data/linux-6.12.json.gz

For every file the builder parses (graph.build.X86_PARTS) the baseline keeps
its FileUnit, and for those and the headers the builder reads facts from
(headers.HEADERS) the per-line fingerprints and code states; never the text.
"""

from __future__ import annotations

from pathlib import Path

from kvmplan.baseline import lines as ln
from kvmplan.baseline.conditionals import directives
from kvmplan.baseline.headers import HEADERS, header_items
from kvmplan.baseline.snapshot import BaselineInfo, FileState, Lines, file_state
from kvmplan.cparse.cache import parse_cached
from kvmplan.cparse.config import KernelConfig, default_config
from kvmplan.cparse.mask import inactive_lines, mask_source
from kvmplan.cparse.unit import parse_file
from kvmplan.graph.build import ARCH_HEADERS, X86_PARTS, arch_defines
from kvmplan.source.tree import SourceTree, kernel_release

# Upstream tag commits of the releases the Debian sources are based on
# (checked against list mail: "The following changes since commit 830b3c68c1fb...:
# Linux 6.1 (2022-12-11)"; "HEAD is now at adc218676eef Linux 6.12").
TAG_COMMITS = {
    "6.1": "830b3c68c1fb1e9176028d02ef86f3cf76aa2476",
    "6.12": "adc218676eef25575469234709c2d87185ca223a",
}



class NotAKernelTree(ValueError):
    """The path given is not a kernel tree with KVM sources."""


def configs(header_defines: dict[str, str]) -> tuple[KernelConfig, KernelConfig]:
    """(configuration the builder parses with, configuration it reads arch headers with)."""
    base = default_config()
    return base.with_defines(header_defines), base


def is_parsed(path: str) -> bool:
    """Is `path` one of the files the graph builder parses?"""
    return path.endswith((".c", ".h")) and any(
        path == p or path.startswith(p.rstrip("/") + "/") for p in X86_PARTS)


def is_tracked(path: str) -> bool:
    """Does a baseline hold this file (parsed, or a header it reads facts from)?"""
    return is_parsed(path) or path in HEADERS


def file_from_text(path: str, data: bytes, parse_config: KernelConfig,
                   header_config: KernelConfig, use_cache: bool = True) -> FileState:
    """A file's state from its whole text, exactly as extraction makes it."""
    text = data.decode("utf-8", "replace")
    lines = ln.split_lines(text)
    unit = None
    if is_parsed(path):
        unit = parse_cached(path, data, parse_config) if use_cache else parse_file(
            path, data, parse_config)
    masked = ln.split_lines(mask_source(data, parse_config).text.decode("utf-8", "replace"))
    masked += [""] * (len(lines) - len(masked))
    states, end = ln.scan(masked[:len(lines)])
    config = header_config if path in ARCH_HEADERS else parse_config
    items = header_items(path, lines, 1, config)
    return file_state(path, unit, items, directives(lines),
                      Lines(ln.fingerprints(lines), tuple(states) + (end,),
                            inactive_lines(data, parse_config)))


def release_info(tree: Path) -> BaselineInfo:
    """Name, Makefile release, upstream tag commit and origin of a tree."""
    major, release = kernel_release(tree)
    marker = tree / ".kvmplan-extracted"
    source = f"kernel tree {tree.name}"
    if marker.is_file():
        # written by scripts/fetch-kernels.sh: "linux-source-6.12 6.12.117-1~deb12u1 parts:N"
        source = "Debian " + " ".join(marker.read_text(encoding="utf-8", errors="replace").split()[:2])
    return BaselineInfo(name=f"linux-{major}" if major else tree.name, release=release or "unknown",
                        commit=TAG_COMMITS.get(major, ""), source=source)


def extract_files(tree: Path, use_cache: bool = True) -> tuple[BaselineInfo, list[FileState]]:
    """The baseline content of a tree: its release and its files' states."""
    if not (tree / "virt" / "kvm").is_dir():
        raise NotAKernelTree(f"{tree}: not a kernel tree (no virt/kvm)")
    src = SourceTree(tree)
    parse_config, header_config = configs(arch_defines(src, default_config()))
    files: list[FileState] = []
    for rel in sorted(set(src.files(X86_PARTS)) | set(HEADERS)):
        data = src.read(rel)
        if data is None:
            continue
        files.append(file_from_text(rel, data, parse_config, header_config, use_cache))
    return release_info(tree), files

