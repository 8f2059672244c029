"""`kvmplan graph`: the hook call graph of KVM's virtualization lifecycle."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from kvmplan.cli.common import fail, report_refused


def register(app: typer.Typer) -> None:
    @app.command("graph")
    def graph(
        tree: Path = typer.Option(..., "--tree", help="kernel source tree (read only)"),
        entry: Optional[str] = typer.Option(None, "--entry", help="show the graph from this function"),
        fmt: str = typer.Option("text", "--format", help="text, json, dot or mermaid"),
        vendor: str = typer.Option("vmx", "--vendor", help="x86 vendor module: vmx or svm"),
        config: Optional[Path] = typer.Option(None, "--config", help="kernel .config for #if evaluation"),
        define: list[str] = typer.Option([], "--define", "-D", help="CONFIG_FOO=y override (repeatable)"),
        no_cache: bool = typer.Option(False, "--no-cache", help="parse every file again"),
    ) -> None:
        """Show the hook call graph of the virtualization lifecycle of a tree."""
        from kvmplan.cparse.config import load_config
        from kvmplan.graph import GraphOptions, build_graph
        from kvmplan.graph.render import RENDERERS
        from kvmplan.graph.view import lifecycle
        from kvmplan.source import SourceTree

        if fmt not in RENDERERS:
            fail(f"unknown --format {fmt!r} (choose text, json, dot or mermaid)")
        if vendor not in ("vmx", "svm"):
            fail(f"unknown --vendor {vendor!r} (choose vmx or svm)")
        if not tree.is_dir():
            fail(f"--tree {tree}: not a directory")
        if not (tree / "virt" / "kvm").is_dir():
            fail(f"--tree {tree}: no virt/kvm here; is this a kernel tree?")
        if config is not None and not config.is_file():
            fail(f"--config {config}: no such file")
        cfg = load_config(config, define)
        src = SourceTree(tree)
        g = build_graph(src, cfg, GraphOptions(vendor=vendor, use_cache=not no_cache))
        report_refused(src.refused)
        if entry and entry not in g.functions:
            fail(f"--entry {entry}: no such function in the lifecycle files of {tree}")
        view = lifecycle(g, entry)
        sys.stdout.write(RENDERERS[fmt](g, view))
