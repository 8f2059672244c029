"""What every command shares: exit codes and the one-line failure."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import typer

if TYPE_CHECKING:
    from kvmplan.model.litmus import Litmus

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_INCONCLUSIVE = 3        # analyze could not judge the series (the reason is in the review)
EXIT_NIPA_WARNING = 250      # NIPA's "warning" (analyze --nipa)

EXIT_CODES_HELP = (
    "Exit codes: 0 clean (nothing introduced at or above --fail-on); 1 findings "
    "at or above --fail-on; 2 usage or input error (one line on stderr); 3 "
    "inconclusive (the series was not judged: the review says why); 250 "
    "warnings only, with analyze --nipa (NIPA's convention; an inconclusive "
    "verdict is one too).")


class UsageError(Exception):
    """Unusable input or usage: reported as one line, exit code 2."""


def report_refused(refused: dict[str, str]) -> None:
    """One warning line per path of --tree that was not read (a link leaving
    the tree, a FIFO or other special file)."""
    for path, why in sorted(refused.items()):
        sys.stderr.write(f"kvmplan: warning: {path}: {why}; not read\n")


def fail(message: str) -> NoReturn:
    """Print one line naming the problem and exit with code 2."""
    sys.stderr.write(f"kvmplan: error: {message}\n")
    raise typer.Exit(EXIT_USAGE)


def load_scenario(path: Path) -> "Litmus":
    """A litmus scenario, or a one-line failure naming the file."""
    from kvmplan.model.litmus import load_litmus

    if not path.is_file():
        fail(f"{path}: no such scenario file")
    try:
        return load_litmus(path)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        fail(f"{path}: {exc}")
