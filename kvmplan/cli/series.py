"""`kvmplan series`: assemble a patch series from mail (filled by the mail stage)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("series")
    def series(path: str = typer.Argument(..., help="mbox, maildir, .patch/.eml, format-patch dir, or - for stdin")) -> None:
        """Assemble a patch series from mail and print it."""
        raise typer.Exit(2)
