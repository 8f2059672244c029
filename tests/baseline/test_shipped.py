"""The bundled baselines: catalogue, selection, and no drift from the Debian trees."""

from __future__ import annotations

from pathlib import Path

import pytest

from kvmplan.baseline import (
    TAG_COMMITS,
    UnknownBaseline,
    available,
    extract,
    load,
    select,
)
from kvmplan.baseline.conditionals import evaluate
from kvmplan.baseline.extract import configs
from kvmplan.cparse.config import default_config
from kvmplan.graph import GraphOptions, build_graph
from kvmplan.graph.build import arch_defines
from kvmplan.source import SourceTree

DATA = Path(__file__).resolve().parents[2] / "kvmplan" / "baseline" / "data"
VERSIONS = ("6.1", "6.12")


def test_available_newest_first() -> None:
    infos = available()
    assert [i.name for i in infos] == ["linux-6.12", "linux-6.1"]
    assert [i.commit for i in infos] == [TAG_COMMITS["6.12"], TAG_COMMITS["6.1"]]
    assert all(i.release.startswith(i.name.removeprefix("linux-") + ".") for i in infos)
    assert all(i.source.startswith("Debian linux-source-") for i in infos)


@pytest.mark.parametrize(("commit", "name", "reason"), [
    ("830b3c68c1fb1e9176028d02ef86f3cf76aa2476", "linux-6.1", "base-commit 830b3c68c1fb is v6.1"),
    ("830B3C6", "linux-6.1", "base-commit 830b3c6 is v6.1"),
    ("adc218676eef", "linux-6.12", "base-commit adc218676eef is v6.12"),
    ("3e04435fe60590a1c79ec94d60e9897c3ff7d73b", "linux-6.12",
     "base-commit 3e04435fe605 unknown: newest baseline"),
    ("830b3c", "linux-6.12", "base-commit 830b3c unknown: newest baseline"),
    (None, "linux-6.12", "no base-commit: newest baseline"),
    ("", "linux-6.12", "no base-commit: newest baseline"),
])
def test_select_by_base_commit(commit: str | None, name: str, reason: str) -> None:
    baseline, why = select(commit)
    assert (baseline.info.name, why) == (name, reason)


def test_select_by_name() -> None:
    assert select("adc218676eef", "linux-6.1")[1] == "--baseline linux-6.1"
    assert select(None, "6.12")[0].info.name == "linux-6.12"
    with pytest.raises(UnknownBaseline, match="available: linux-6.12, linux-6.1"):
        select(None, "linux-5.4")
    assert load("linux-6.1") is load("linux-6.1")


@pytest.mark.parametrize("version", VERSIONS)
def test_stored_inactive_lines_evaluate_again(version: str) -> None:
    """Re-evaluating the stored #if directives gives the stored inactive lines."""
    baseline = load(f"linux-{version}")
    state = baseline.start()
    for fs in baseline.files.values():
        lines = fs.lines()
        assert evaluate(fs.directives, lines.keys, state.configs.parse) == lines.inactive, fs.path
        assert len(lines.states) == len(lines.keys) + 1


@pytest.mark.parametrize("version", VERSIONS)
def test_shipped_data_is_a_fresh_extraction(baseline_tree, version: str) -> None:
    """Drift check against the release the data was built from: regenerate
    with `kvmplan baseline build` from that release when this fails."""
    tree = baseline_tree(version)
    fresh = extract(tree).dumps()
    assert fresh == (DATA / f"linux-{version}.json.gz").read_bytes(), (
        f"kvmplan/baseline/data/linux-{version}.json.gz is stale: run kvmplan baseline build "
        f"--tree {tree} --output kvmplan/baseline/data/linux-{version}.json.gz")


@pytest.mark.parametrize("version", VERSIONS)
def test_baseline_graph_is_the_tree_graph(tree_baseline, version: str) -> None:
    """A baseline rebuilds its tree's graph exactly (the bundled one, or one
    built now when the tree is another release)."""
    root, baseline = tree_baseline(version)
    tree = SourceTree(root)
    state = baseline.start()
    for vendor in ("vmx", "svm"):
        graph = state.graph(vendor)
        want = build_graph(tree, options=GraphOptions(vendor=vendor))
        for attr in ("functions", "statics", "tables", "bindings", "x86_ops", "global_types",
                     "per_cpu", "cpuhp_states", "entries", "cpuhp", "edges", "errors", "files",
                     "params"):
            assert getattr(graph, attr) == getattr(want, attr), attr
    assert state.configs.parse == configs(arch_defines(tree, default_config()))[0]
