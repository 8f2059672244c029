"""The typer application; each command lives in its own module here."""

from __future__ import annotations

import os
import sys
import traceback

import typer

from kvmplan import __version__
from kvmplan.cli.common import EXIT_CODES_HELP, EXIT_USAGE, UsageError

app = typer.Typer(
    name="kvmplan",
    help="Review KVM patch series against an executable model of the "
    "virtualization lifecycle.",
    epilog=EXIT_CODES_HELP,
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _print_version(value: bool) -> None:
    if value:
        sys.stdout.write(f"kvmplan {__version__}\n")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                 help="Print kvmplan's version and exit."),
) -> None:
    """Review KVM patch series against an executable model of the
    virtualization lifecycle."""


def _register() -> None:
    # Command modules import their heavy dependencies inside the command, so
    # `kvmplan --help` stays fast.
    from kvmplan.cli import analyze, baseline, bot, graph, model, plan, rules, series

    for module in (series, analyze, graph, model, rules, plan, baseline, bot):
        module.register(app)


_register()


def main() -> None:
    """Console entry point: errors are one line, never a traceback."""
    try:
        code = app(standalone_mode=False)
    except SystemExit:
        raise
    except UsageError as exc:
        _die(str(exc))
    except KeyboardInterrupt:
        sys.stderr.write("kvmplan: interrupted\n")
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - the last guard
        if type(exc).__name__ == "Abort":
            sys.exit(130)
        format_message = getattr(exc, "format_message", None)
        if callable(format_message) and hasattr(exc, "exit_code"):
            # click's usage errors (typer vendors click, so match by shape)
            _die(f"{format_message()} (see 'kvmplan --help')")
        if os.environ.get("KVMPLAN_DEBUG"):
            traceback.print_exc()
        tb = exc.__traceback__
        while tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
        where = ""
        if tb is not None:
            where = f" at {os.path.basename(tb.tb_frame.f_code.co_filename)}:{tb.tb_lineno}"
        _die(
            f"internal error: {type(exc).__name__}: {exc}{where} "
            "(set KVMPLAN_DEBUG=1 for a traceback)"
        )
    sys.exit(code if isinstance(code, int) else 0)


def _die(message: str) -> None:
    sys.stderr.write(f"kvmplan: error: {' '.join(message.split())}\n")
    sys.exit(EXIT_USAGE)
