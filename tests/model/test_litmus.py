"""Every litmus scenario under tests/litmus/ gives the verdict it declares."""

from __future__ import annotations

from pathlib import Path

import pytest

from kvmplan.model import build_program, explore
from kvmplan.model.litmus import load_litmus

LITMUS = sorted((Path(__file__).resolve().parents[1] / "litmus").glob("*.c"))


@pytest.mark.parametrize("path", LITMUS, ids=[p.stem for p in LITMUS])
def test_litmus_verdict(path: Path) -> None:
    lit = load_litmus(path)
    assert lit.title, f"{path.name}: no '// litmus:' line"
    result = explore(build_program(lit.graph), lit.bounds)
    assert not result.bound_reached
    got = {f.rule for f in result.findings}
    assert got == lit.expect, f"{path.name}: {lit.title}: expected {sorted(lit.expect)}, got {sorted(got)}"
    for f in result.findings:
        assert f.trace and f.line > 0, "each finding points at a line with a trace"


def test_every_rule_with_a_violating_scenario_has_a_clean_one() -> None:
    expects = [load_litmus(p).expect for p in LITMUS]
    assert any(not e for e in expects)
    for rule in set().union(*expects):
        assert any(rule in e for e in expects)
