"""Every trace the model prints can happen (issue 19, point 5): no step of
one thread runs on a CPU while another thread keeps that CPU with
preemption or IRQs off. Walked over every litmus scenario's findings, both
Debian trees (2 CPUs live, 3 CPUs from the pinned verdicts the pinned test
compares with live output) and a checker test that the walk does fail."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kvmplan.cli import app

ROOT = Path(__file__).resolve().parents[2]
LITMUS = sorted((ROOT / "tests" / "litmus").glob("*.c"))
PINNED = ROOT / "fixtures" / "verdicts"


def _json(args: list[str]) -> dict:
    result = CliRunner().invoke(app, args)
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.stdout)


def _walk(realizable, data: dict, where: str) -> None:
    bad = realizable.findings(data)
    assert not bad, where + "\n" + "\n".join(bad)


def test_the_checker_fails_an_impossible_trace(realizable) -> None:
    spin = {"step": 1, "thread": "user", "cpu": 0, "event": "lock kvm_count_lock",
            "irqs_off": False, "holds": [[0, "preempt"]]}
    task = {"step": 2, "thread": "system", "cpu": 0, "event": "reboot", "irqs_off": False,
            "holds": []}
    ipi = {**task, "event": "IPI", "irqs_off": True}
    assert realizable([spin, task])
    assert not realizable([spin, ipi])           # an interrupt reaches a preemption-off CPU
    assert realizable([{**spin, "holds": [[0, "irq"]]}, ipi])
    assert not realizable([spin, {**task, "cpu": 1}])


@pytest.mark.parametrize("path", LITMUS, ids=[p.stem for p in LITMUS])
def test_litmus_traces_are_realizable(realizable, path: Path) -> None:
    _walk(realizable, _json(["model", "run", str(path), "--format", "json"]), path.stem)


@pytest.mark.slow
@pytest.mark.parametrize("version", ["6.1", "6.12"])
def test_tree_traces_are_realizable(realizable, kernel_tree, version: str) -> None:
    data = _json(["model", "check", "--tree", str(kernel_tree(version)), "--format", "json"])
    assert data["findings"]
    _walk(realizable, data, f"linux-{version}")


# the pinned outputs with traces: model check and analyze (a plan's evidence has none)
TRACED = sorted(p.name for p in PINNED.glob("*.json") if not p.name.startswith("plan-"))


@pytest.mark.parametrize("name", TRACED)
def test_pinned_traces_are_realizable(realizable, name: str) -> None:
    data = json.loads((PINNED / name).read_text(encoding="utf-8"))
    assert data["findings"]
    _walk(realizable, data, name)
