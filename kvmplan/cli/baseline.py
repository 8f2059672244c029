"""`kvmplan baseline`: the bundled reference-kernel baselines for mail-only analysis."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from kvmplan.cli.common import fail


def register(app: typer.Typer) -> None:
    baseline_app = typer.Typer(help="Bundled baselines: reference kernels' hook graphs, for "
                               "analysing a series without a tree.", no_args_is_help=True)
    app.add_typer(baseline_app, name="baseline")

    @baseline_app.command("build")
    def build(
        tree: Path = typer.Option(..., "--tree", help="kernel source tree (read only)"),
        output: Path = typer.Option(..., "--output", "-o", help="data file to write (.json.gz)"),
    ) -> None:
        """Extract a tree's baseline (structure and line fingerprints, never its
        text) into a data file; the same tree always gives the same bytes.

        The bundled files are made with:

            kvmplan baseline build --tree ~/.cache/kvmplan/trees/linux-6.12 \\
                --output kvmplan/baseline/data/linux-6.12.json.gz

        (trees from scripts/fetch-kernels.sh; likewise for linux-6.1)."""
        from kvmplan.baseline import NotAKernelTree, extract

        if not tree.is_dir():
            fail(f"--tree {tree}: not a directory")
        if not output.name.endswith(".json.gz"):
            fail(f"--output {output}: the data file's name must end in .json.gz")
        try:
            baseline = extract(tree)
        except NotAKernelTree as exc:
            fail(str(exc))
        data = baseline.dumps()
        try:
            output.parent.mkdir(parents=True, exist_ok=True)
            output.write_bytes(data)
        except OSError as exc:
            fail(f"--output {output}: {exc.strerror or exc}")
        info = baseline.info
        sys.stdout.write(f"{output}: {info.name} (release {info.release}, "
                         f"{info.commit[:12] or 'no tag commit'}, {info.source}), "
                         f"{len(baseline.files)} files, {len(data)} bytes\n")

    @baseline_app.command("list")
    def list_() -> None:
        """The bundled baselines, newest first."""
        from kvmplan.baseline import available

        for info in available():
            sys.stdout.write(f"{info.name}\t{info.release}\t{info.commit[:12] or '-'}\t"
                             f"{info.source}\n")
