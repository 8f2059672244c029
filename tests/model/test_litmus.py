"""Every litmus scenario under tests/litmus/ gives the verdict it declares,
and every rule the model checks has a scenario that violates it and a clean
twin of that scenario (the same shape with the bug fixed), so that each
check is seen both to fire and to stay silent on the fix."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kvmplan.model import build_program, explore
from kvmplan.model.litmus import LITMUS_PATH, Litmus, load_litmus, select_blocks
from kvmplan.model.rules import CHECKS, RULES

LITMUS = sorted((Path(__file__).resolve().parents[1] / "litmus").glob("*.c"))

# Rules the model does not check (the catalogue has no check for them, and
# their RULE.checked says so): no scenario can expect them. Today none.
UNCHECKED = frozenset(RULES) - frozenset(CHECKS)


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
        _assert_in_function(path, f.file, f.line, f.function)
    for step in [s for f in result.findings for s in f.trace] + result.example:
        if step.file:
            _assert_in_function(path, step.file, step.line, step.function)


def _assert_in_function(scenario: Path, file: str, line: int, function: str) -> None:
    """A location names a real file, the scenario (as LITMUS_PATH) or its
    prelude (relative to the scenario's directory), and a line of a
    definition of the function it names there."""
    source = scenario if file == LITMUS_PATH else scenario.parent / file
    assert source.is_file(), f"{scenario.name}: {file}:{line} names no file"
    lines = source.read_text(encoding="utf-8").splitlines()
    head = re.compile(rf"^\S.*\b{re.escape(function)}\(.*[^;]$")
    starts = [n for n, text in enumerate(lines, 1) if head.match(text)]
    assert starts, f"{scenario.name}: {function}() is not defined in {file}"
    spans = [(a, next(n for n in range(a, len(lines) + 1) if lines[n - 1] == "}")) for a in starts]
    assert any(a <= line <= b for a, b in spans), \
        f"{scenario.name}: {file}:{line} is not in {function}()"


def _scenarios() -> dict[str, Litmus]:
    return {p.stem: load_litmus(p) for p in LITMUS}


def test_the_unchecked_rules_are_known() -> None:
    assert UNCHECKED == set(), "a rule became checked (or unchecked): update this list"
    assert all(RULES[code].checked.startswith("not checked") for code in UNCHECKED)


def test_twins_name_violating_scenarios_with_the_same_bounds() -> None:
    """`// twin:` is in a clean scenario and names violating ones, which run
    in the same environment (system events, injected failures)."""
    lits = _scenarios()
    for name, lit in lits.items():
        for twin in lit.twins:
            assert not lit.expect, f"{name}: a twin header belongs in a clean scenario"
            assert twin in lits, f"{name}: twin {twin} is not a scenario"
            assert lits[twin].expect, f"{name}: twin {twin} expects no rule"
            assert lits[twin].bounds == lit.bounds, f"{name} and its twin {twin} differ in bounds"
        assert lit.expect <= set(RULES) - UNCHECKED, f"{name}: expects {sorted(lit.expect)}"


def test_every_checked_rule_has_a_violating_scenario_and_its_clean_twin() -> None:
    lits = _scenarios()
    for rule in sorted(set(RULES) - UNCHECKED):
        violating = {name for name, lit in lits.items() if rule in lit.expect}
        assert violating, f"{rule}: no scenario expects it"
        twins = {(name, twin) for name, lit in lits.items() if not lit.expect
                 for twin in lit.twins if twin in violating}
        assert twins, (f"{rule}: no clean scenario names one of {sorted(violating)} "
                       "in a '// twin:' header")


def test_a_scenario_cannot_redefine_a_block_or_use_an_unknown_one(tmp_path: Path) -> None:
    (tmp_path / "prelude").mkdir()
    (tmp_path / "prelude" / "mini.c").write_text(
        "// block: decls\nstatic int kvm_usage_count;\n\n"
        "// block: get\nstatic int get(void)\n{\n\treturn kvm_usage_count;\n}\n",
        encoding="utf-8")
    head = "// litmus: t\n// expect: clean\n// prelude: mini\n"
    again = tmp_path / "again.c"
    again.write_text(head + "// use: decls get\nstatic int get(void)\n{\n\treturn 1;\n}\n",
                     encoding="utf-8")
    with pytest.raises(ValueError, match="get defined twice"):
        load_litmus(again)
    unknown = tmp_path / "unknown.c"
    unknown.write_text(head + "// use: decls put\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"no block\(s\) put \(blocks: decls get\)"):
        load_litmus(unknown)


def test_unused_blocks_keep_the_prelude_line_numbers() -> None:
    text = "// head\n// block: a\nint a;\n// block: b\nint b;\n"
    assert select_blocks(text, ["b"], "p.c") == "\n\n\n// block: b\nint b;\n"


def test_declarations_are_shared_both_ways(tmp_path: Path) -> None:
    """A counter declared in a block is one in the scenario's code, and one
    the scenario declares is one in a block's code (the front-end compiles
    `n++` as a counter update only for a global it knows)."""
    (tmp_path / "prelude").mkdir()
    (tmp_path / "prelude" / "mini.c").write_text(
        "// block: decls\nstatic int kvm_usage_count;\n\n"
        "// block: get\nstatic void get(void)\n{\n\tscenario_count++;\n}\n", encoding="utf-8")
    scenario = tmp_path / "s.c"
    scenario.write_text("// litmus: t\n// expect: clean\n// prelude: mini\n// use: decls get\n"
                        "static int scenario_count;\n"
                        "static void put(void)\n{\n\tkvm_usage_count++;\n}\n", encoding="utf-8")
    graph = load_litmus(scenario).graph
    for name, counter, file in (("put", "kvm_usage_count", LITMUS_PATH),
                                ("get", "scenario_count", "prelude/mini.c")):
        fn = graph.functions[name]
        assert fn.file == file
        assert ("count", counter) in [(e.kind, e.name) for e in fn.events], name
