"""The semantics table is whole: every event kind the C front-end emits and
every call target the program resolves has a row, and every row has its
handler in each engine that dispatches it (kvmplan/model/semantics.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kvmplan.cparse import events as ev
from kvmplan.model import build_program, builtins, explorer
from kvmplan.model.interp import Runner
from kvmplan.model.litmus import load_litmus
from kvmplan.model.program import PRIMITIVE_ROLES
from kvmplan.model.promela.events import Emitter
from kvmplan.model.rules import CHECKS, PROMELA
from kvmplan.model.rules.base import HOOKS
from kvmplan.model.semantics import SEMANTICS, handlers

ROOT = Path(__file__).resolve().parents[2]
LITMUS = sorted((ROOT / "tests" / "litmus").glob("*.c"))


def test_every_event_kind_has_a_row() -> None:
    declared = {value for name, value in vars(ev).items()
                if re.fullmatch(r"[A-Z_]+", name) and isinstance(value, str)}
    assert declared == ev.KINDS, "events.KINDS lists every kind constant of events.py"
    assert set(handlers("event")) == ev.KINDS


def test_every_call_target_has_a_row() -> None:
    kinds = {"code", "skip", "enable", "disable"} | set(PRIMITIVE_ROLES.values())
    kinds |= {"atomic", "error_pointer", "transparent"}   # kernel helpers known by name
    assert set(handlers("call")) == kinds


def test_every_row_has_its_handler() -> None:
    for row in SEMANTICS:
        if row.source in ("event", "call"):
            assert callable(getattr(Runner, row.handler, None)), f"Runner.{row.handler} for {row.key}"
            assert callable(getattr(Emitter, row.handler, None)), f"Emitter.{row.handler} ({row.key})"
        elif row.source == "kernel":
            assert callable(getattr(builtins, row.handler, None)), f"builtins.{row.handler}"
        else:
            assert callable(getattr(explorer, row.handler, None)), f"explorer.{row.handler}"
    assert len({(r.source, r.key) for r in SEMANTICS}) == len(SEMANTICS), "one row per key"


@pytest.mark.parametrize("path", LITMUS, ids=[p.stem for p in LITMUS])
def test_the_front_end_emits_only_kinds_with_a_row(path: Path) -> None:
    program = build_program(load_litmus(path).graph)
    rows = set(handlers("event"))
    for fn in program.functions.values():
        assert {e.kind for e in fn.events} <= rows, fn.name
    calls = set(handlers("call"))
    assert {t.kind for t in program.targets.values()} <= calls


@pytest.mark.parametrize("version", ["6.1", "6.12"])
def test_a_kernel_tree_needs_only_rows_of_the_table(kernel_tree, version: str) -> None:
    from kvmplan.graph import build_graph
    from kvmplan.source import SourceTree

    program = build_program(build_graph(SourceTree(kernel_tree(version))))
    kinds = {e.kind for fn in program.functions.values() for e in fn.events}
    assert kinds <= set(handlers("event")), sorted(kinds - set(handlers("event")))
    assert {t.kind for t in program.targets.values()} <= set(handlers("call"))


def _hooks_named(paths: list[Path], pattern: str) -> set[str]:
    return {m for p in paths for m in re.findall(pattern, p.read_text())}


def test_every_hook_a_rule_watches_is_reached_by_its_engine() -> None:
    """A check at a hook point no engine reaches would never run."""
    model = ROOT / "kvmplan" / "model"
    fired = _hooks_named([model / "interp.py", model / "builtins.py", model / "explorer.py"],
                         r'fire\(\s*(?:\w+,\s*)?"(\w+)"')
    placed = _hooks_named(sorted((model / "promela").glob("*.py")),
                          r'(?:_hook\(|ends=\(|\()"(\w+)"')
    assert fired <= set(HOOKS) and {h for h in placed if h in HOOKS}
    for code, check in CHECKS.items():
        assert set(check.hooks) <= fired, (code, sorted(set(check.hooks) - fired))
    for code, pml in PROMELA.items():
        hooks = {hook for hook, _ in pml.hooks}
        assert hooks <= placed, (code, sorted(hooks - placed))
