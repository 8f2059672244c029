"""The rules' Promela checks, as the exporter reads them: each rule module
(kvmplan/model/rules/kvmNNN.py) declares its PROMELA check next to its
Python one; this module is the exporter's view of that table, and of the
hook points and site types both engines share (kvmplan/model/rules/base.py)."""

from __future__ import annotations

from kvmplan.model.rules import PROMELA as RULES
from kvmplan.model.rules.base import (
    HOOKS,
    HOTPLUG,
    INIT,
    SYSTEM,
    USER,
    Facts,
    RuleCheck,
    Site,
)
from kvmplan.model.rules.base import comment as _comment

__all__ = ["HOOKS", "HOTPLUG", "INIT", "RULES", "SYSTEM", "USER", "Facts", "RuleCheck", "Site",
           "Unsupported", "_comment", "check_rules"]


class Unsupported(Exception):
    """The scenario needs a construct, rule or bound the exporter does not
    model; the message is one line naming it."""


def check_rules(rules: set[str] | frozenset[str]) -> None:
    """Raise Unsupported naming the rules that have no Promela check."""
    missing = sorted(set(rules) - set(RULES))
    if missing:
        raise Unsupported(f"rule(s) {', '.join(missing)}: no Promela check (PROMELA in "
                          "kvmplan/model/rules/<code>.py)")
