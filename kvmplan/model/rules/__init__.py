"""The rules kvmplan reports: one module per rule code, each holding its
document, its check in the Python engine and its check in the Promela
export (see base.py for what a module is made of).

This package gathers them in code order. Renderers look names and
severities up here; the interpreter, the explorer and the Promela exporter
run the checks through `fire` and the tables below and never name a rule
themselves, so a rule lives in exactly one place."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from types import ModuleType

from kvmplan.model.rules import (
    kvm001,
    kvm002,
    kvm003,
    kvm004,
    kvm005,
    kvm006,
    kvm007,
    kvm008,
    kvm009,
    kvm010,
    kvm011,
    kvm012,
    kvm013,
    kvm014,
    kvm015,
    kvm016,
)
from kvmplan.model.rules.base import HOOKS, VM_HOOKS, At, Check, Report, Rule, RuleCheck, Severity
from kvmplan.model.trace import Violation

_MODULES: tuple[ModuleType, ...] = (
    kvm001, kvm002, kvm003, kvm004, kvm005, kvm006, kvm007, kvm008, kvm009, kvm010,
    kvm011, kvm012, kvm013, kvm014, kvm015, kvm016,
)

RULES: dict[str, Rule] = {m.RULE.code: m.RULE for m in _MODULES}
RULE_NAMES: dict[str, str] = {code: rule.name for code, rule in RULES.items()}
SEVERITY: dict[str, Severity] = {code: rule.severity for code, rule in RULES.items()}

# Each checked rule's Python check and Promela check; a rule absent here is
# not checked yet (its RULE.checked says so).
CHECKS: dict[str, Check] = {m.RULE.code: m.CHECK for m in _MODULES if m.CHECK is not None}
PROMELA: dict[str, RuleCheck] = {m.RULE.code: m.PROMELA for m in _MODULES
                                 if m.PROMELA is not None}

# The rules the VM-operations pass checks: those watching its hook points.
VM_RULES = frozenset(code for code, check in CHECKS.items() if set(check.hooks) & VM_HOOKS)

# Rules checked on every reachable state (hook "state"): the explorer reports
# each once, at the end of the first trace that breaks it, so its location
# says where that trace ended, not where the bug is.
STATE_RULES = frozenset(code for code, check in CHECKS.items() if "state" in check.hooks)

_BY_HOOK: dict[str, tuple[tuple[str, Callable[[At], Iterable[Report]]], ...]] = {
    hook: tuple((code, check.hooks[hook]) for code, check in CHECKS.items() if hook in check.hooks)
    for hook in HOOKS
}

# The hook points some rule's Python check watches (the engines skip the others).
WATCHED = frozenset(hook for hook, checks in _BY_HOOK.items() if checks)

_BY_NAME: dict[str, Rule] = {rule.name: rule for rule in RULES.values()}


def fire(hook: str, at: At) -> list[tuple[str, Report]]:
    """Run every rule's check of hook point `hook` (a key of HOOKS): the
    (rule code, report) pairs of the violations found, in rule order."""
    out = []
    for code, check in _BY_HOOK[hook]:
        for report in check(at):
            out.append((code, report))
    return out


def violations(hook: str, at: At) -> list[Violation]:
    """fire(), as violations placed at their report's site, else the hook's."""
    out = []
    for code, report in fire(hook, at):
        fn, file, line = report.site or at.site
        out.append(Violation(code, report.message, fn, file, line))
    return out


def get(code: str) -> Rule | None:
    """The rule named by a code in any case ("kvm004") or by its name."""
    key = code.strip()
    return RULES.get(key.upper()) or _BY_NAME.get(key.lower())


def check_locations(code: str) -> list[str]:
    """Where a rule's checks are, as "file:line function (hook)" lines
    relative to the package root (for `kvmplan rules CODE`)."""
    out = []
    check = CHECKS.get(code)
    if check is not None:
        for hook, fn in check.hooks.items():
            out.append(f"{_where(fn)} (explorer, hook {hook})")
        if check.post is not None:
            out.append(f"{_where(check.post)} (explorer, after the search)")
    pml = PROMELA.get(code)
    if pml is not None:
        for hook, fn in pml.hooks:
            out.append(f"{_where(fn)} (Promela, hook {hook})")
        if pml.post is not None:
            out.append(f"{_where(pml.post)} (Promela, after the search)")
    return out


def _where(fn: Callable) -> str:
    path = inspect.getsourcefile(fn) or ""
    line = inspect.getsourcelines(fn)[1]
    root = path.rfind("kvmplan/")
    name = getattr(fn, "__name__", "")
    return f"{path[root:] if root >= 0 else path}:{line} {name}()"
