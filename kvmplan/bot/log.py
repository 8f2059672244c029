"""Structured logs (one JSON object per line) and the progress line.

    {"ts": "2026-11-21T23:40:02Z", "level": "info", "event": "series.reviewed",
     "series": "kvm-rework-...-v2-1a2b3c4d5e", "replies": 4, "seconds": 31.2}

The progress line goes to stderr when it is a terminal (rewritten in
place) or when asked for (then one line every few seconds); a log line
written to the same terminal first clears it.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any, TextIO

LEVELS = ("debug", "info", "warning", "error")


class Log:
    def __init__(self, stream: TextIO, level: str = "info", progress: bool = False,
                 progress_stream: TextIO | None = None) -> None:
        self.stream = stream
        self.floor = LEVELS.index(level)
        self.progress_stream = progress_stream or sys.stderr
        self.show_progress = progress
        self.tty = self.progress_stream.isatty()
        self._line = ""
        self._last = 0.0

    def event(self, level: str, name: str, /, **fields: Any) -> None:
        if LEVELS.index(level) < self.floor:
            return
        record = {"ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "level": level,
                  "event": name} | fields
        self._clear()
        self.stream.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
        self.stream.flush()
        self._redraw()

    def info(self, name: str, /, **fields: Any) -> None:
        self.event("info", name, **fields)

    def warning(self, name: str, /, **fields: Any) -> None:
        self.event("warning", name, **fields)

    def error(self, name: str, /, **fields: Any) -> None:
        self.event("error", name, **fields)

    def progress(self, text: str, force: bool = False) -> None:
        if not self.show_progress:
            return
        now = time.monotonic()
        if self.tty:
            self._clear()
            self._line = text
            self._redraw()
        elif force or now - self._last >= 2.0:
            self.progress_stream.write(f"kvmplan bot: {text}\n")
            self.progress_stream.flush()
            self._last = now

    def end_progress(self) -> None:
        if self.tty and self._line:
            self._clear()
            self.progress_stream.write(f"kvmplan bot: {self._line}\n")
            self.progress_stream.flush()
            self._line = ""

    def _clear(self) -> None:
        if self.tty and self._line and self.stream is self.progress_stream:
            self.progress_stream.write("\r\033[K")

    def _redraw(self) -> None:
        if self.tty and self._line:
            width = 120
            self.progress_stream.write("\r\033[K" + f"kvmplan bot: {self._line}"[:width])
            self.progress_stream.flush()
