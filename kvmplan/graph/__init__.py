"""The hook graph: entries, ops bindings, cpuhp states and call edges."""

from kvmplan.graph.build import GraphOptions, build_graph, function_ref, resolve_indirect
from kvmplan.graph.hooks import (
    ONLINE, OTHER, PREPARE, STARTING, CallEdge, CpuhpRegistration, CpuhpState, Entry,
    HookGraph, OpBinding,
)

__all__ = [
    "ONLINE", "OTHER", "PREPARE", "STARTING", "CallEdge", "CpuhpRegistration", "CpuhpState",
    "Entry", "GraphOptions", "HookGraph", "OpBinding", "build_graph", "function_ref",
    "resolve_indirect",
]
