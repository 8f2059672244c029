"""The rules kvmplan reports: one module per rule code, each holding its doc.

Every module `kvmNNN.py` defines `RULE`; this package gathers them in code
order. Renderers and the model look names and severities up here, so a
rule's identity lives in exactly one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Rule:
    """One property with a stable code and the text `kvmplan rules` prints."""

    code: str
    name: str
    severity: Severity
    summary: str
    what: str
    why: str
    example: str
    fix: str
    checked: str


# The rule modules import Rule from this package, so they load after it.
from kvmplan.rules import (
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
)

RULES: dict[str, Rule] = {
    rule.code: rule
    for rule in (
        kvm001.RULE, kvm002.RULE, kvm003.RULE, kvm004.RULE, kvm005.RULE,
        kvm006.RULE, kvm007.RULE, kvm008.RULE, kvm009.RULE, kvm010.RULE,
        kvm011.RULE, kvm012.RULE, kvm013.RULE, kvm014.RULE, kvm015.RULE,
    )
}

RULE_NAMES: dict[str, str] = {code: rule.name for code, rule in RULES.items()}
SEVERITY: dict[str, Severity] = {code: rule.severity for code, rule in RULES.items()}

_BY_NAME: dict[str, Rule] = {rule.name: rule for rule in RULES.values()}


def get(code: str) -> Rule | None:
    """The rule named by a code in any case ("kvm004") or by its name."""
    key = code.strip()
    return RULES.get(key.upper()) or _BY_NAME.get(key.lower())
