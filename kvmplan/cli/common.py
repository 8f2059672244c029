"""What every command shares: exit codes and the one-line failure."""

from __future__ import annotations

import sys
from typing import NoReturn

import typer

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2


class UsageError(Exception):
    """Unusable input or usage: reported as one line, exit code 2."""


def fail(message: str) -> NoReturn:
    """Print one line naming the problem and exit with code 2."""
    sys.stderr.write(f"kvmplan: error: {message}\n")
    raise typer.Exit(EXIT_USAGE)
