"""`kvmplan model export`: a litmus scenario's model as Promela, for SPIN."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Optional

import typer

from kvmplan.cli.common import fail, load_scenario

FORMATS = ("promela",)


def register(model_app: typer.Typer) -> None:
    @model_app.command("export")
    def export(
        scenario: Path = typer.Argument(..., help="litmus scenario: a C file with // litmus: headers"),
        fmt: str = typer.Option("promela", "--format", help="output format: promela"),
        cpus: int = typer.Option(2, "--cpus", help="CPUs in the model (1 to 4)"),
        hotplug: int = typer.Option(2, "--hotplug-events", help="bound on cpu_up/cpu_down events"),
        system: Optional[str] = typer.Option(
            None, "--system", help="system events (comma-separated: suspend, reboot, unload; "
            "'none'); default: the scenario's // system: line"),
        failures: Optional[int] = typer.Option(
            None, "--failures", help="injected failures; default: the scenario's // failures: line"),
        output: Optional[Path] = typer.Option(None, "-o", "--output",
                                              help="write the model here instead of stdout"),
    ) -> None:
        """Export a scenario's model (its code, the init/user/hotplug/system threads
        and the rules as assertions) for an independent model checker. This is
        the search of the interleavings; a check also runs the failure pass,
        which is the export with --failures 1 --hotplug-events 0 --system none."""
        from kvmplan.model import build_program
        from kvmplan.model.promela import SYSTEM_EVENTS, Unsupported, export_promela

        if fmt not in FORMATS:
            fail(f"unknown --format {fmt!r} (choose {', '.join(FORMATS)})")
        if not 1 <= cpus <= 4:
            fail("--cpus must be between 1 and 4")
        if hotplug < 0:
            fail("--hotplug-events must not be negative")
        if failures is not None and failures < 0:
            fail("--failures must not be negative")
        lit = load_scenario(scenario)
        bounds = dataclasses.replace(lit.bounds, cpus=cpus, hotplug_events=hotplug)
        if system is not None:
            events = tuple(sorted({e.strip() for e in system.split(",") if e.strip()} - {"none"}))
            unknown = sorted(set(events) - set(SYSTEM_EVENTS))
            if unknown:
                fail(f"--system: unknown event(s) {', '.join(unknown)} (choose "
                     f"{', '.join(SYSTEM_EVENTS)} or none)")
            bounds = dataclasses.replace(bounds, system=events)
        if failures is not None:
            bounds = dataclasses.replace(bounds, failures=failures)
        try:
            text = export_promela(build_program(lit.graph), bounds)
        except Unsupported as exc:
            fail(f"{scenario.name}: cannot export: {exc}")
        if output is None:
            sys.stdout.write(text)
            return
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as exc:
            fail(f"-o {output}: {exc.strerror or exc}")
