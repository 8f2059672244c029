"""A series judged against its base: apply it patch by patch to a tree or a
bundled baseline, run the model after every prefix, classify findings."""

from kvmplan.analyze.base import BaseChoice, open_base
from kvmplan.analyze.config import Accept, Config, ConfigError, load_config
from kvmplan.analyze.run import (
    ModelRun, PatchResult, Review, TraceStep, Tracked, analyze, identity,
)
from kvmplan.analyze.tree import TreeState

__all__ = [
    "Accept", "BaseChoice", "Config", "ConfigError", "ModelRun", "PatchResult", "Review",
    "TraceStep", "Tracked", "TreeState", "analyze", "identity", "load_config", "open_base",
]
