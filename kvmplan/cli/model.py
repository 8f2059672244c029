"""`kvmplan model check`: run a tree's hook graph in the lifecycle model."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from kvmplan.cli.common import EXIT_FINDINGS, fail


def register(app: typer.Typer) -> None:
    model_app = typer.Typer(help="The executable virtualization model.", no_args_is_help=True)
    app.add_typer(model_app, name="model")

    @model_app.command("check")
    def check(
        tree: Path = typer.Option(..., "--tree", help="kernel source tree (read only)"),
        cpus: int = typer.Option(2, "--cpus", help="CPUs in the model (2 or 3)"),
        rules: Optional[str] = typer.Option(None, "--rules", help="comma-separated rule codes"),
        fmt: str = typer.Option("text", "--format", help="text, json or markdown"),
        vendor: str = typer.Option("vmx", "--vendor", help="vmx or svm"),
        hotplug: int = typer.Option(2, "--hotplug-events", help="bound on cpu_up/cpu_down events"),
        failures: int = typer.Option(0, "--failures", help="injected failures of fallible init calls"),
        max_states: int = typer.Option(200_000, "--max-states", help="bound on explored states"),
        timing: bool = typer.Option(False, "--timing", help="include seconds (output then varies)"),
    ) -> None:
        """Explore the model of a tree's lifecycle and report broken properties."""
        from kvmplan.graph import GraphOptions, build_graph
        from kvmplan.model import Bounds, check as run_check
        from kvmplan.model.render import RENDERERS, RULE_NAMES
        from kvmplan.source import SourceTree

        if fmt not in RENDERERS:
            fail(f"unknown --format {fmt!r} (choose text, json or markdown)")
        if not 1 <= cpus <= 4:
            fail("--cpus must be between 1 and 4")
        if not tree.is_dir() or not (tree / "virt" / "kvm").is_dir():
            fail(f"--tree {tree}: not a kernel tree (no virt/kvm)")
        wanted = None
        if rules:
            wanted = {r.strip().upper() for r in rules.split(",") if r.strip()}
            unknown = sorted(wanted - set(RULE_NAMES))
            if unknown:
                fail(f"--rules: unknown rule(s) {', '.join(unknown)}")
        graph = build_graph(SourceTree(tree), options=GraphOptions(vendor=vendor))
        result = run_check(graph, Bounds(cpus=cpus, hotplug_events=hotplug, failures=failures,
                                         max_states=max_states), wanted)
        sys.stdout.write(RENDERERS[fmt](result, str(tree), cpus, timing))
        if result.findings:
            raise typer.Exit(EXIT_FINDINGS)
