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

    @app.command("bot-status")
    def bot_status_cmd(
        outbox: Path = typer.Option(..., "--outbox", metavar="DIR", help="the bot's outbox"),
        state: Optional[Path] = typer.Option(None, "--state", help=f"SQLite state (default: "
                                             f"OUTBOX/{STATE_NAME})"),
        fmt: str = typer.Option("text", "--format", "-f", help="text or json"),
        only: Optional[str] = typer.Option(None, "--status", help="only series in this status "
                                           "(waiting, analyzing, delivering, replied, limit, "
                                           "failed, skipped)"),
    ) -> None:
        """What the bot knows, read only (safe while it runs): each series
        version, its status and why (a limit hit, a crash, patches missing)."""
        import json

        from kvmplan.bot import State, StateError
        from kvmplan.bot.state import STATUSES

        if fmt not in ("text", "json"):
            fail(f"--format {fmt}: expected text or json")
        if only is not None and only not in STATUSES:
            fail(f"--status {only}: expected one of {', '.join(STATUSES)}")
        try:
            st = State(state or outbox / STATE_NAME, readonly=True)
        except StateError as exc:
            fail(str(exc))
        rows = [r for r in st.all_series() if only is None or r.status == only]
        counts = st.counts()
        mails = st.message_count()
        st.close()
        if fmt == "json":
            doc = {"schema": "kvmplan.bot-status/1", "mails": mails, "series": counts,
                   "rows": [{"key": r.key, "name": r.name, "title": r.title,
                             "version": r.version, "expected": r.expected, "sender": r.sender,
                             "status": r.status, "reason": r.reason, "attempts": r.attempts,
                             "incomplete": r.incomplete} for r in rows]}
            sys.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
            raise typer.Exit(EXIT_OK)
        summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
        sys.stdout.write(f"{mails} mails read; series: {summary or 'none'}\n")
        for r in rows:
            why = f": {r.reason}" if r.reason else ""
            missing = f" (reviewed without {r.incomplete.count(',') + 1} missing)" \
                if r.incomplete else ""
            sys.stdout.write(f"{r.status:<10} v{r.version} {r.expected:>3}p {r.title[:60]}"
                             f"{missing}{why}\n")
        raise typer.Exit(EXIT_OK)
