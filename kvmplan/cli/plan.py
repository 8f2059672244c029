"""`kvmplan plan`: where a tree (or a tree plus a series) stands on the
hardware-enabling rework, and the remaining stages checked in the model."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from kvmplan.cli.common import EXIT_OK, fail, report_refused

if TYPE_CHECKING:
    from kvmplan.mail import Series

FORMATS = ("markdown", "json", "text")


def register(app: typer.Typer) -> None:
    @app.command("plan")
    def plan(
        series: Annotated[str | None, typer.Argument(
            help="a series to apply to the tree first: mbox, maildir, .patch, format-patch "
                 "directory, or - for stdin")] = None,
        tree: Annotated[Path | None, typer.Option(
            "--tree", help="kernel source tree (read only)")] = None,
        fmt: Annotated[str, typer.Option("--format", help="markdown, json or text")] = "markdown",
        vendor: Annotated[str, typer.Option("--vendor", help="vmx or svm")] = "vmx",
        version: Annotated[int | None, typer.Option(
            "--series-version", min=1, help="series version to pick (default: the newest)")] = None,
        cpus: Annotated[int, typer.Option("--cpus", help="CPUs in the model (1 to 4)")] = 2,
        stages: Annotated[bool, typer.Option(
            "--stages/--no-stages", help="validate the remaining stages in the model")] = True,
        cache: Annotated[bool, typer.Option(
            "--cache/--no-cache", help="reuse model verdicts cached on disk")] = True,
        timing: Annotated[bool, typer.Option(
            "--timing", help="include seconds (output then varies)")] = False,
    ) -> None:
        """Where the code stands on steps 1-5a/5b of the hardware-enabling rework
        (DONE, PARTIAL, NOT DONE, SUPERSEDED, with evidence), which patch of a
        series advances which step, and the remaining stages run in the model:
        what each resolves and introduces, and 5a against 5b."""
        from kvmplan.model import Bounds
        from kvmplan.plan import build_plan
        from kvmplan.plan.render import RENDERERS
        from kvmplan.source import SourceTree

        if fmt not in FORMATS:
            fail(f"unknown --format {fmt!r} (choose markdown, json or text)")
        if vendor not in ("vmx", "svm"):
            fail(f"unknown --vendor {vendor!r} (choose vmx or svm)")
        if not 1 <= cpus <= 4:
            fail("--cpus must be between 1 and 4")
        if tree is None:
            fail("no tree: give the kernel tree with --tree PATH")
        if not tree.is_dir() or not (tree / "virt" / "kvm").is_dir():
            fail(f"--tree {tree}: not a kernel tree (no virt/kvm)")
        loaded = _series(series, version) if series is not None else None
        src = SourceTree(tree)
        result = build_plan(src, loaded, vendor=vendor, bounds=Bounds(cpus=cpus),
                            stages=stages, use_cache=cache)
        report_refused(src.refused)
        sys.stdout.write(RENDERERS[fmt](result, timing))
        raise typer.Exit(EXIT_OK)


def _series(path: str, version: int | None) -> Series:
    from kvmplan.mail import InputError, assemble, load_messages

    try:
        messages, diagnostics = load_messages(path)
        series = assemble(messages, version=version, diagnostics=diagnostics)
    except InputError as exc:
        message = str(exc)
        fail(message if path in message else f"{path}: {message}")
    if not series.patches:
        fail(f"{path}: no patches to apply (only replies or a cover letter)")
    return series
