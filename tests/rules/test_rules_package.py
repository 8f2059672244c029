"""The rules package: one module per code with its document and its checks
(Python and Promela) at named hook points, names and severities fixed, the
engines naming no rule, and the model's renderer reading them from here."""

from __future__ import annotations

import dataclasses
import inspect
import importlib
import re
from pathlib import Path

import pytest

from kvmplan.model import render, rules
from kvmplan.model.rules import (
    CHECKS,
    PROMELA,
    RULE_NAMES,
    RULES,
    SEVERITY,
    Rule,
    check_locations,
    get,
)
from kvmplan.model.rules.base import HOOKS

MODEL = Path(__file__).resolve().parents[2] / "kvmplan" / "model"

CODES = [f"KVM{n:03d}" for n in range(1, 17)]

STABLE_NAMES = {
    "KVM001": "all-online-enabled", "KVM002": "no-enable-without-user",
    "KVM003": "no-double-enable", "KVM004": "enable-failure-handled",
    "KVM005": "hotplug-window", "KVM006": "vm-list-race", "KVM007": "lock-order",
    "KVM008": "unwind", "KVM009": "shutdown-final", "KVM010": "suspend-resume",
    "KVM011": "setup-order", "KVM012": "unload-with-vms", "KVM013": "uret-context",
    "KVM014": "tdx-online", "KVM015": "vcpu-config-frozen", "KVM016": "sleep-in-atomic",
}
ERRORS = {"KVM001", "KVM003", "KVM004", "KVM006", "KVM007", "KVM009", "KVM010",
          "KVM012", "KVM014", "KVM016"}
FIELDS = [f.name for f in dataclasses.fields(Rule)]
PROSE = ("what", "why", "fix")


@pytest.mark.parametrize("code", CODES)
def test_each_code_has_its_own_module(code: str) -> None:
    module = importlib.import_module(f"kvmplan.model.rules.{code.lower()}")
    rule = module.RULE
    assert isinstance(rule, Rule)
    assert rule.code == code
    assert RULES[code] is rule
    for name in FIELDS:
        value = getattr(rule, name)
        if name == "messages":
            continue
        assert isinstance(value, str) and value.strip(), f"{code}.{name} is empty"
        assert value == value.strip("\n"), f"{code}.{name} starts or ends with a blank line"
        assert all(line == line.rstrip() for line in value.splitlines()), \
            f"{code}.{name} has trailing whitespace"
    # every message the module's check says is in its document, and every
    # message of the document is named by the check
    code_text = inspect.getsource(module).replace(module.__doc__ or "", "")
    keys = set(dict(rule.messages))
    assert set(re.findall(r'RULE\.say\("(\w+)"', code_text)) <= keys
    assert all(f'"{key}"' in code_text for key in keys), f"{code}: a message nobody says"
    assert bool(rule.messages) == (module.CHECK is not None)


@pytest.mark.parametrize("code", CODES)
def test_one_line_fields_and_terminal_width(code: str) -> None:
    rule = RULES[code]
    for name in ("code", "name", "severity", "summary", "checked"):
        assert "\n" not in getattr(rule, name), f"{code}.{name} must be one line"
    assert len(rule.summary) <= 64, "the list view stays within 110 columns"
    for name in PROSE:
        for line in getattr(rule, name).splitlines():
            if re.fullmatch(r"\(?https://lore\.kernel\.org/r/\S+", line):
                continue            # a link to a list thread stands on its own line
            assert len(line) <= 79, f"{code}.{name}: {line!r}"
    for line in rule.example.splitlines():
        assert len(line) <= 80, f"{code}.example: {line!r}"


def test_codes_in_order_names_stable_and_unique() -> None:
    assert list(RULES) == CODES
    assert RULE_NAMES == STABLE_NAMES
    assert list(RULE_NAMES) == CODES
    assert len(set(RULE_NAMES.values())) == len(CODES)


def test_severities() -> None:
    assert {c for c, s in SEVERITY.items() if s == "error"} == ERRORS
    assert {c for c, s in SEVERITY.items() if s == "warning"} == set(CODES) - ERRORS
    assert all(RULES[c].severity == s for c, s in SEVERITY.items())


def test_every_rule_is_checked_and_says_how() -> None:
    assert set(CHECKS) == set(RULES) == set(PROMELA)
    assert not any(rule.checked.startswith("not checked") for rule in RULES.values())


@pytest.mark.parametrize("key", ["KVM004", "kvm004", "Kvm004", " KVM004 ",
                                 "enable-failure-handled", "Enable-Failure-Handled"])
def test_get_by_code_or_name(key: str) -> None:
    assert get(key) is RULES["KVM004"]


@pytest.mark.parametrize("key", ["", "KVM099", "KVM4", "kvm", "enable", "KVM004x"])
def test_get_unknown(key: str) -> None:
    assert get(key) is None


def test_model_renderer_reads_names_and_severities_from_the_package() -> None:
    assert render.RULE_NAMES is rules.RULE_NAMES
    assert render.SEVERITY is rules.SEVERITY


@pytest.mark.parametrize("code", CODES)
def test_each_rule_has_its_checks_next_to_its_doc(code: str) -> None:
    module = importlib.import_module(f"kvmplan.model.rules.{code.lower()}")
    if RULES[code].checked.startswith("not checked"):
        assert module.CHECK is None and module.PROMELA is None
        assert code not in CHECKS and code not in PROMELA
        return
    assert CHECKS[code] is module.CHECK and PROMELA[code] is module.PROMELA
    assert module.PROMELA.code == code
    hooks = set(module.CHECK.hooks) | {hook for hook, _ in module.PROMELA.hooks}
    assert hooks and hooks <= set(HOOKS), sorted(hooks - set(HOOKS))
    assert bool(module.CHECK.post) == bool(module.PROMELA.post), "a post check in both engines"
    for line in check_locations(code):
        assert line.startswith(f"kvmplan/model/rules/{code.lower()}.py:"), line


def test_the_engines_name_no_rule() -> None:
    """Rule codes appear in the model only in the rule modules (and in
    comments or docstrings that point at one)."""
    for path in sorted(MODEL.rglob("*.py")):
        if path.parent.name == "rules":
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            assert not re.search(r"[\"']KVM0\d\d", code), f"{path.name}:{n}: {line.strip()}"
