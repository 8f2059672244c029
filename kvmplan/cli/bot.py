"""`kvmplan bot`: review every new series on a list archive, once each."""

from __future__ import annotations

import signal
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, List, Optional

import typer

from kvmplan.cli.common import EXIT_OK, fail

STATE_NAME = "kvmplan-bot.sqlite"


def register(app: typer.Typer) -> None:
    @app.command("bot")
    def bot_cmd(
        source: List[str] = typer.Option(..., "--source", metavar="SRC", help="maildir, mbox that grows, or "
                                         "public-inbox v2 archive (inbox dir or epoch git "
                                         "repo); may be repeated"),
        outbox: Path = typer.Option(..., "--outbox", metavar="DIR", help="where replies (a maildir), "
                                    "patchwork checks and reviews go"),
        state: Optional[Path] = typer.Option(None, "--state", help=f"SQLite state (default: "
                                             f"OUTBOX/{STATE_NAME})"),
        once: bool = typer.Option(False, "--once", help="one pass over everything, then exit"),
        interval: Optional[float] = typer.Option(None, "--interval", help="seconds between "
                                                 "passes (runs until stopped)"),
        config: Optional[Path] = typer.Option(None, "--config", help="kvmplan.toml with a "
                                              "[bot] table (default: ./kvmplan.toml when present)"),
        grace: Optional[float] = typer.Option(None, "--grace", help="seconds a series with "
                                              "missing patches waits before it is reviewed "
                                              "as incomplete"),
        timeout: Optional[float] = typer.Option(None, "--timeout", help="analysis time limit "
                                                "per series, seconds"),
        baseline: Optional[str] = typer.Option(None, "--baseline", help="bundled baseline "
                                               "(default: chosen per series)"),
        tree: Optional[str] = typer.Option(None, "--tree", help="kernel tree to apply series "
                                           "to (read only)"),
        jobs: Optional[int] = typer.Option(None, "--jobs", "-j", help="parallel model runs "
                                           "inside one analysis"),
        log_file: Optional[Path] = typer.Option(None, "--log", help="JSON-lines log file "
                                                "(default: stderr)"),
        level: str = typer.Option("info", "--log-level", help="debug, info, warning or error"),
        progress: Optional[bool] = typer.Option(None, "--progress/--no-progress",
                                                help="progress line on stderr (default: with "
                                                "--once on a terminal)"),
    ) -> None:
        """Watch a list archive; review each new series version once.

        Replies go to OUTBOX/maildir (sent by SMTP only when [bot.smtp] is
        configured), a patchwork check per patch to OUTBOX/checks, the full
        review to OUTBOX/reviews. Restarting, killing or re-delivering mail
        never duplicates or loses a reply."""
        from kvmplan.analyze import ConfigError
        from kvmplan.bot import (
            Bot,
            BotError,
            Log,
            SourceError,
            StateError,
            load_bot_config,
            open_source,
        )
        from kvmplan.bot.config import check
        from kvmplan.bot.log import LEVELS

        if once == (interval is not None):
            fail("give exactly one of --once and --interval SEC")
        if interval is not None and interval <= 0:
            fail("--interval must be > 0 seconds")
        if level not in LEVELS:
            fail(f"--log-level {level}: expected one of {', '.join(LEVELS)}")
        try:
            cfg = load_bot_config(config)
            overrides: dict[str, Any] = {}
            for name, value in (("grace", grace), ("analysis_timeout", timeout),
                                ("baseline", baseline), ("tree", tree), ("jobs", jobs)):
                if value is not None:
                    overrides[name] = value
            if tree is not None:
                overrides["baseline"] = None
            if baseline is not None:
                overrides["tree"] = None
            cfg = replace(cfg, **overrides)
            check(cfg, "options")
        except ConfigError as exc:
            fail(str(exc))
        sources = []
        for path in source:
            try:
                sources.extend(open_source(path))
            except SourceError as exc:
                fail(str(exc))
        try:
            stream = open(log_file, "a", encoding="utf-8") if log_file else sys.stderr
        except OSError as exc:
            fail(f"{log_file}: {exc.strerror or exc}")
        show = progress if progress is not None else (once and sys.stderr.isatty())
        log = Log(stream, level, progress=show)
        try:
            bot = Bot(sources, outbox, state or outbox / STATE_NAME, cfg, log)
        except (BotError, StateError) as exc:
            fail(str(exc))

        def stop(signum: int, frame: object) -> None:
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, stop)
        log.info("bot.start", sources=[s.name for s in sources], outbox=str(outbox),
                 once=once, interval=interval)
        try:
            while True:
                bot.run_pass(final=once)
                if once:
                    break
                time.sleep(interval or 0)
        except KeyboardInterrupt:
            log.info("bot.stop", why="interrupted; an analysis in progress resumes next run")
        finally:
            bot.close()
        raise typer.Exit(EXIT_OK)
