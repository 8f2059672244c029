"""Plans of the real trees, built once per test session (the model runs are
cached on disk by kvmplan.plan.checks, so later sessions are quick)."""

from __future__ import annotations

import pytest
from plantest_helpers import v2_series

from kvmplan.plan import Plan, build_plan
from kvmplan.source import SourceTree


@pytest.fixture(scope="session")
def plan_of(kernel_tree):
    """plan_of(version, series=False, stages=True) -> Plan, built once each."""
    built: dict[tuple[str, bool, bool], Plan] = {}

    def get(version: str, series: bool = False, stages: bool = True) -> Plan:
        key = (version, series, stages)
        if key not in built:
            tree = SourceTree(kernel_tree(version))
            built[key] = build_plan(tree, v2_series() if series else None, stages=stages)
        return built[key]

    return get
