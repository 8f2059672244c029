"""Progress of a long command on stderr, never on stdout.

On a terminal: a rich progress bar per phase (apply, parse, model runs k/N,
render). Elsewhere (a log, a CI job, a pipe): one plain line when a phase
ends. `--quiet` shows nothing.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

_LABELS = {"apply": "apply patches", "parse": "parse prefixes", "model": "model runs",
           "render": "render"}


class PhaseProgress:
    """Callable as progress(phase, done, total); close() when the work ends."""

    def __init__(self, stream: TextIO | None = None, quiet: bool = False,
                 tty: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.tty = self.stream.isatty() if tty is None else tty
        self._bar = None
        self._tasks: dict[str, int] = {}
        self._started: dict[str, float] = {}
        self._ended: set[str] = set()
        if self.tty and not quiet:
            from rich.console import Console
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress,
                                       TextColumn, TimeElapsedColumn)

            self._bar = Progress(TextColumn("kvmplan: {task.description:<15}"), BarColumn(),
                                 MofNCompleteColumn(), TimeElapsedColumn(),
                                 console=Console(file=self.stream), transient=False)
            self._bar.start()

    def __call__(self, phase: str, done: int, total: int) -> None:
        if self.quiet:
            return
        self._started.setdefault(phase, time.perf_counter())
        if self._bar is not None:
            task = self._tasks.get(phase)
            if task is None:
                task = self._tasks[phase] = self._bar.add_task(_LABELS.get(phase, phase),
                                                               total=total)
            self._bar.update(task, completed=done, total=total)
        elif done >= total and phase not in self._ended:
            self._ended.add(phase)
            secs = time.perf_counter() - self._started[phase]
            self.stream.write(f"kvmplan: {_LABELS.get(phase, phase)}: {done}/{total} "
                              f"({secs:.1f} s)\n")
            self.stream.flush()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
