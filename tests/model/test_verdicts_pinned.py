"""Verdicts pinned byte for byte: the JSON of `model check` on both Debian
trees (2 and 3 CPUs), of every litmus scenario, of `plan` on both trees and
of `analyze` of the v2 rework series on 6.1, as committed under
fixtures/verdicts/. A change to the model's structure must leave them
identical; a change of semantics regenerates them in the same commit, with
the reason (`python tests/model/test_verdicts_pinned.py --write`).

Tree outputs carry the release's line numbers: they are compared only on
the release the bundled baselines were built from (baseline_tree skips on
another one, naming both)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kvmplan.cli import app

ROOT = Path(__file__).resolve().parents[2]
PINNED = ROOT / "fixtures" / "verdicts"
LITMUS = sorted((ROOT / "tests" / "litmus").glob("*.c"))
V2 = ROOT.parent / "shared" / "corpus" / "mail" / "kvm-rework-kvm-init-v2.mbox"


def _out(args: list[str]) -> str:
    result = CliRunner().invoke(app, args)
    assert result.exit_code in (0, 1), result.output
    text = result.stdout
    data = json.loads(text)
    if isinstance(data, dict) and str(data.get("tree", "")).startswith("/"):
        # the tree's path is the caller's; everything else must match
        text = text.replace(json.dumps(data["tree"]), '"<tree>"', 1)
    return text


def _check(name: str, text: str) -> None:
    want = (PINNED / name).read_text(encoding="utf-8")
    assert text == want, f"fixtures/verdicts/{name} differs: a verdict changed"


@pytest.mark.parametrize("path", LITMUS, ids=[p.stem for p in LITMUS])
def test_litmus_json_is_pinned(path: Path) -> None:
    _check(f"litmus/{path.stem}.json", _out(["model", "run", str(path), "--format", "json"]))


@pytest.mark.parametrize("cpus", [2, 3])
@pytest.mark.parametrize("version", ["6.1", "6.12"])
def test_model_check_json_is_pinned(baseline_tree, version: str, cpus: int) -> None:
    tree = str(baseline_tree(version))
    _check(f"model-check-linux-{version}-cpus{cpus}.json",
           _out(["model", "check", "--tree", tree, "--cpus", str(cpus), "--format", "json"]))


@pytest.mark.parametrize("version", ["6.1", "6.12"])
def test_plan_json_is_pinned(baseline_tree, version: str) -> None:
    tree = str(baseline_tree(version))
    _check(f"plan-linux-{version}.json", _out(["plan", "--tree", tree, "--format", "json"]))


def test_rework_v2_analysis_is_pinned(baseline_tree) -> None:
    if not V2.is_file():
        pytest.skip(f"{V2} not found: ../shared is not beside the repository")
    tree = str(baseline_tree("6.1"))
    _check("analyze-rework-v2-linux-6.1.json",
           _out(["analyze", str(V2), "--tree", tree, "-f", "json", "-q"]))


def _write(trees: Path) -> None:
    """Regenerate every pinned file (trees: the directory holding linux-6.1
    and linux-6.12 of the bundled baselines' releases)."""
    jobs: list[tuple[str, list[str]]] = [
        (f"litmus/{p.stem}.json", ["model", "run", str(p), "--format", "json"]) for p in LITMUS]
    for v in ("6.1", "6.12"):
        tree = str(trees / f"linux-{v}")
        jobs += [(f"model-check-linux-{v}-cpus{c}.json",
                  ["model", "check", "--tree", tree, "--cpus", str(c), "--format", "json"])
                 for c in (2, 3)]
        jobs.append((f"plan-linux-{v}.json", ["plan", "--tree", tree, "--format", "json"]))
    jobs.append(("analyze-rework-v2-linux-6.1.json",
                 ["analyze", str(V2), "--tree", str(trees / "linux-6.1"), "-f", "json", "-q"]))
    for name, args in jobs:
        out = PINNED / name
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(_out(args), encoding="utf-8")
        print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    if sys.argv[1:2] != ["--write"]:
        sys.exit("usage: python tests/model/test_verdicts_pinned.py --write [TREES_DIR]")
    _write(Path(sys.argv[2]) if len(sys.argv) > 2 else
           Path.home() / ".cache" / "kvmplan" / "trees")
