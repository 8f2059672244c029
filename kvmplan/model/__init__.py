"""The executable virtualization model: the hook graph runs in it."""

from kvmplan.model.explorer import Bounds, Finding, Result, check, explore, passes, searches
from kvmplan.model.trace import Step
from kvmplan.model.program import Program, build_program

__all__ = ["Bounds", "Finding", "Program", "Result", "Step", "build_program", "check", "explore",
           "passes", "searches"]
