"""Diagnostics: problems found in the input that did not stop the run."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

Severity = Literal["error", "warning", "info"]

SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info")


@dataclass(frozen=True)
class Diagnostic:
    """One problem with the input, tied to the message it came from if known.

    `error`: part of the input was lost (a diff that could not be parsed, an
    unsafe path); `warning`: something was repaired or guessed (a bad charset,
    a missing patch); `info`: what else was in the input and was left aside.
    """

    severity: Severity
    text: str
    message_id: str | None = None

    def for_message(self, message_id: str | None) -> Diagnostic:
        """The same diagnostic, attributed to `message_id` unless it already is."""
        if self.message_id is not None or message_id is None:
            return self
        return replace(self, message_id=message_id)
