"""Shared fixtures: extracted kernel trees (see scripts/fetch-kernels.sh), the
release each was built from, and the test tiers.

Tiers: a test is `slow` when it reads a real kernel tree (it uses the
`kernel_tree` fixture), runs SPIN, kills bots, or fuzzes at length (marked in
its module). `scripts/test.sh --fast` runs the rest (`-m "not slow"`).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

KERNEL_VERSIONS = ("6.1", "6.12")

# Fixtures that read a real kernel tree: a test using one is slow.
_TREE_FIXTURES = {"kernel_tree", "baseline_tree", "tree_baseline"}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: real kernel trees, SPIN, bot kills, long fuzzing "
                            "(left out by scripts/test.sh --fast)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if _TREE_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


def pytest_terminal_summary(terminalreporter) -> None:
    """Say which kernel releases the tree tests ran on, and how the
    release-specific ones were judged."""
    for version in KERNEL_VERSIONS:
        root = kernel_tree_path(version)
        if root is None:
            terminalreporter.write_line(f"kernel trees: linux-{version} absent: tree tests skipped")
            continue
        mine, shipped = tree_source(root), shipped_source(version)
        how = ("release-specific tests compared with the bundled data" if mine == shipped else
               f"bundled data is {shipped}: release-specific tests skipped or run against a "
               "baseline built from this tree")
        terminalreporter.write_line(f"kernel trees: linux-{version} is {mine}: {how}")


def trees_dir() -> Path:
    """Parent directory of the extracted trees (env KVMPLAN_TREES overrides)."""
    return Path(os.environ.get("KVMPLAN_TREES", Path.home() / ".cache/kvmplan/trees"))


def kernel_tree_path(version: str) -> Path | None:
    """Path of the extracted linux-<version> tree, or None when absent."""
    root = trees_dir() / f"linux-{version}"
    return root if (root / "virt/kvm").is_dir() else None


def tree_source(root: Path) -> str:
    """Where a tree came from, as a baseline records it ("Debian
    linux-source-6.1 6.1.192-2"), with the release its Makefile names."""
    from kvmplan.baseline.extract import release_info

    info = release_info(root)
    return f"{info.source} (Linux {info.release})"


def shipped_source(version: str) -> str:
    """The same for the bundled baseline linux-<version>."""
    from kvmplan.baseline import available

    info = next(i for i in available() if i.name == f"linux-{version}")
    return f"{info.source} (Linux {info.release})"


def is_baseline_release(root: Path, version: str) -> bool:
    """Is the tree the exact release the bundled baseline was built from?"""
    return tree_source(root) == shipped_source(version)


@pytest.fixture(scope="session")
def kernel_tree():
    """kernel_tree(version) -> Path of linux-<version>, or skip the test when absent."""

    def get(version: str) -> Path:
        root = kernel_tree_path(version)
        if root is None:
            pytest.skip(f"linux-{version} tree not extracted: run scripts/fetch-kernels.sh")
        return root

    return get


@pytest.fixture(scope="session")
def baseline_tree(kernel_tree):
    """baseline_tree(version) -> the tree, when it is the release the bundled
    baseline and the committed fixtures were built from; else skip, naming
    both releases (their line numbers differ)."""

    def get(version: str) -> Path:
        root = kernel_tree(version)
        if not is_baseline_release(root, version):
            pytest.skip(f"linux-{version} tree is {tree_source(root)}, the bundled baseline "
                        f"and committed fixtures are {shipped_source(version)}")
        return root

    return get


@pytest.fixture(scope="session")
def tree_baseline(kernel_tree, tmp_path_factory):
    """tree_baseline(version) -> (tree, Baseline of that tree): the bundled
    baseline when the tree is its release, else one built from the tree now
    (`kvmplan baseline build`), so a comparison of the two holds on any
    release apt serves."""
    from kvmplan.baseline import extract, load
    from kvmplan.baseline.state import baseline_from_bytes

    built: dict[str, object] = {}

    def get(version: str):
        root = kernel_tree(version)
        if is_baseline_release(root, version):
            return root, load(f"linux-{version}")
        if version not in built:
            out = tmp_path_factory.mktemp(f"baseline-{version}") / f"linux-{version}.json.gz"
            out.write_bytes(extract(root).dumps())
            built[version] = baseline_from_bytes(out.read_bytes())
        return root, built[version]

    return get


def unrealizable(steps: list[dict]) -> list[str]:
    """What makes a trace impossible on real hardware: a step of one thread on
    a CPU another thread keeps, with IRQs off (nothing else runs there) or
    with preemption off (no other task runs there; an interrupt such as an
    IPI still does). Steps are JSON trace steps: thread, cpu, irqs_off, and
    holds, the CPUs their thread keeps afterwards."""
    kept: dict[str, list[tuple[int, str]]] = {}
    bad = []
    for s in steps:
        thread, cpu = s["thread"], s["cpu"]
        if thread == "env":
            continue
        if cpu < 0:
            bad.append(f"step {s['step']}: {thread} runs on no CPU: {s['event']}")
        for other, holds in kept.items():
            if other == thread:
                continue
            for c, how in holds:
                if c == cpu and (how == "irq" or not s["irqs_off"]):
                    bad.append(f"step {s['step']}: {thread} runs on CPU{cpu} "
                               f"({'IRQs off' if s['irqs_off'] else 'task'}) while {other} keeps it "
                               f"({how} off): {s['event']}")
        kept[thread] = [tuple(h) for h in s["holds"]]
    return bad


def unrealizable_findings(data: dict) -> list[str]:
    """unrealizable() over every finding of a JSON output (model check or run,
    analyze), each problem prefixed with its rule (and status)."""
    return [f"{f['rule']}{' (' + f['status'] + ')' if 'status' in f else ''}: {b}"
            for f in data["findings"] for b in unrealizable(f["trace"])]


@pytest.fixture(scope="session")
def realizable():
    """The trace checker as a fixture: realizable(steps) lists what makes a
    trace impossible, realizable.findings(data) does so for a whole output."""
    def check(steps: list[dict]) -> list[str]:
        return unrealizable(steps)
    check.findings = unrealizable_findings          # type: ignore[attr-defined]
    return check
