"""The plan for one tree (or a tree plus a series): where each step stands,
which patch of the series moved it, and the remaining stages checked in the model."""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass

from kvmplan.mail import Series
from kvmplan.model import Bounds
from kvmplan.plan.edit import Code, load_code
from kvmplan.plan.series import SeriesMap, load_opt_out, map_series
from kvmplan.plan.stages import Validation, validate
from kvmplan.plan.status import Assessment
from kvmplan.plan.steps import assess
from kvmplan.source import SourceTree


@dataclass(frozen=True)
class Plan:
    tree: str
    vendor: str
    series: SeriesMap | None
    statuses: dict[str, Assessment]       # on the tree, or the tree with the series applied
    validation: Validation | None
    seconds: float


def build_plan(tree: SourceTree, series: Series | None = None, vendor: str = "vmx",
               bounds: Bounds | None = None, stages: bool = True,
               use_cache: bool = True) -> Plan:
    """Assess the steps, map the series' patches to them, validate the stages."""
    start = time.perf_counter()
    bounds = bounds or Bounds()
    was_enabled = gc.isenabled()
    gc.disable()            # graph building and detectors make no garbage cycles
    try:
        code: Code
        if series is not None:
            mapped: SeriesMap | None = map_series(tree, series, vendor)
            assert mapped is not None
            code, graph, opt_out = mapped.code, mapped.graph, mapped.opt_out
            statuses = mapped.statuses
        else:
            mapped = None
            code, graph = load_code(tree, vendor)
            _, opt_out = load_opt_out(tree, vendor)
            statuses = assess(graph, opt_out)
    finally:
        if was_enabled:
            gc.enable()
    validation = validate(code, graph, statuses, bounds, use_cache, opt_out) if stages else None
    return Plan(str(tree.root), vendor, mapped, statuses, validation,
                time.perf_counter() - start)
