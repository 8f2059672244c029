"""The refactor planner: steps 1, 2, 3, 4, 5a, 5b of the hardware-enabling
rework as data, detected on the hook graph, mapped to a series' patches, and
performed stage by stage in the model.

    plan = build_plan(SourceTree(tree), series=None)
    plan.statuses["2"].status          # "DONE", "PARTIAL", "NOT DONE", "SUPERSEDED"
    render_markdown(plan)
"""

from kvmplan.plan.build import Plan, build_plan
from kvmplan.plan.render import render_json, render_markdown, render_text, to_dict
from kvmplan.plan.status import (
    DONE,
    NOT_DONE,
    PARTIAL,
    SUPERSEDED,
    Assessment,
    Criterion,
    Evidence,
    Status,
)
from kvmplan.plan.steps import STEP_BY_ID, STEPS, Step, assess

__all__ = [
    "DONE", "NOT_DONE", "PARTIAL", "STEPS", "STEP_BY_ID", "SUPERSEDED", "Assessment",
    "Criterion", "Evidence", "Plan", "Status", "Step", "assess", "build_plan", "render_json",
    "render_markdown", "render_text", "to_dict",
]
