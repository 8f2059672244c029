"""`kvmplan model check`: run a tree's hook graph in the lifecycle model."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from kvmplan.cli import model_export
from kvmplan.cli.common import EXIT_FINDINGS, fail, load_scenario, report_refused


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
        max_states: int = typer.Option(300_000, "--max-states", help="bound on explored states"),
        timing: bool = typer.Option(False, "--timing", help="include seconds (output then varies)"),
        system: str = typer.Option("suspend,reboot,unload", "--system",
                                   help="system events to explore (comma-separated; 'none')"),
    ) -> None:
        """Explore the model of a tree's lifecycle and report broken properties."""
        from kvmplan.graph import GraphOptions, build_graph
        from kvmplan.model import Bounds
        from kvmplan.model import check as run_check
        from kvmplan.model.render import RENDERERS
        from kvmplan.source import SourceTree

        _check_format(fmt, cpus)
        if not tree.is_dir() or not (tree / "virt" / "kvm").is_dir():
            fail(f"--tree {tree}: not a kernel tree (no virt/kvm)")
        wanted = _rules(rules)
        src = SourceTree(tree)
        graph = build_graph(src, options=GraphOptions(vendor=vendor))
        report_refused(src.refused)
        result = run_check(graph, Bounds(cpus=cpus, hotplug_events=hotplug, failures=failures,
                                         max_states=max_states, system=_system(system)), wanted)
        sys.stdout.write(RENDERERS[fmt](result, str(tree), cpus, timing))
        if result.findings:
            raise typer.Exit(EXIT_FINDINGS)

    @model_app.command("run")
    def run(
        scenario: Path = typer.Argument(..., help="a litmus scenario (tests/litmus/*.c)"),
        cpus: Optional[int] = typer.Option(None, "--cpus",
                                           help="CPUs in the model [default: the scenario's]"),
        fmt: str = typer.Option("text", "--format", help="text, json or markdown"),
        timing: bool = typer.Option(False, "--timing", help="include seconds (output then varies)"),
    ) -> None:
        """Run one litmus scenario: its findings with their traces (or, when it is
        clean, one complete execution) and whether it gives its declared verdict.
        Exit 0 when it does, 1 when it does not."""
        from dataclasses import replace

        from kvmplan.model import build_program, explore
        from kvmplan.model.render import RENDERERS

        lit = load_scenario(scenario)
        cpus = lit.bounds.cpus if cpus is None else cpus
        _check_format(fmt, cpus)
        result = explore(build_program(lit.graph), replace(lit.bounds, cpus=cpus))
        got = sorted({f.rule for f in result.findings})
        want = sorted(lit.expect)
        if fmt == "text":
            sys.stdout.write(f"{lit.name}: {lit.title}\n")
        sys.stdout.write(RENDERERS[fmt](result, lit.name, cpus, timing, example=True))
        if fmt == "text":
            verdict = "as declared" if got == want else "DIFFERS from the declared verdict"
            sys.stdout.write(f"verdict {' '.join(got) or 'clean'}: {verdict} "
                             f"(expect: {' '.join(want) or 'clean'})\n")
        if got != want:
            raise typer.Exit(EXIT_FINDINGS)
    model_export.register(model_app)


def _check_format(fmt: str, cpus: int) -> None:
    from kvmplan.model.render import RENDERERS

    if fmt not in RENDERERS:
        fail(f"unknown --format {fmt!r} (choose text, json or markdown)")
    if not 1 <= cpus <= 4:
        fail("--cpus must be between 1 and 4")


def _rules(rules: Optional[str]) -> Optional[set[str]]:
    from kvmplan.model.rules import RULE_NAMES

    if not rules:
        return None
    wanted = {r.strip().upper() for r in rules.split(",") if r.strip()}
    unknown = sorted(wanted - set(RULE_NAMES))
    if unknown:
        fail(f"--rules: unknown rule(s) {', '.join(unknown)}")
    return wanted


def _system(system: str) -> tuple[str, ...]:
    events = tuple(sorted({e.strip() for e in system.split(",") if e.strip()} - {"none"}))
    unknown = sorted(set(events) - {"suspend", "reboot", "unload"})
    if unknown:
        fail(f"--system: unknown event(s) {', '.join(unknown)} (choose suspend, reboot, unload "
             "or none)")
    return events
