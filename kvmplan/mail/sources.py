"""Where mail comes from: mbox (mboxrd or mboxo), maildir, one file, a directory
of `git format-patch` files, or stdin; each read into raw messages.

The mbox splitter is our own: it must survive truncated files and tell
mboxrd from mboxo, whose `>From ` quoting differs.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from kvmplan.diagnostics import Diagnostic
from kvmplan.mail.errors import InputError
from kvmplan.mail.message import Message, parse_message


@dataclass(frozen=True)
class RawMessage:
    """The bytes of one message and where they were found."""

    data: bytes
    origin: str


# A From_ line: "From <sender> <date with a time>". Requiring the time keeps a
# stray unquoted "From here on ..." body line from splitting a message.
_FROM_LINE = re.compile(rb"^From \S+ +.*\b\d{1,2}:\d\d(?::\d\d)?\b")
_MBOXRD_QUOTED = re.compile(rb"^>(>*From )")
_MBOXO_QUOTED = re.compile(rb"^>(From )")
_HEADER_LINE = re.compile(rb"^[!-9;-~]+:")


def is_mbox(data: bytes) -> bool:
    """Whether `data` starts (after blank lines) with an mbox From_ line."""
    return bool(_FROM_LINE.match(data.lstrip(b"\r\n")))


def split_mbox(data: bytes, origin: str) -> list[RawMessage]:
    """Split an mbox into messages, undoing its `>From ` quoting.

    mboxrd (what public-inbox and lore write, with `From mboxrd@z` lines)
    quotes every `>*From ` line with one more `>`; mboxo only quotes `From `.
    """
    lines = data.lstrip(b"\r\n").split(b"\n")
    rd = lines[0].startswith(b"From mboxrd@z")
    unquote = _MBOXRD_QUOTED if rd else _MBOXO_QUOTED
    messages: list[RawMessage] = []
    current: list[bytes] | None = None
    for line in lines:
        if _FROM_LINE.match(line):
            if current is not None:
                messages.append(_finish(current, origin, len(messages) + 1))
            current = []
            continue
        if current is None:
            current = []
        current.append(unquote.sub(rb"\1", line))
    if current is not None:
        messages.append(_finish(current, origin, len(messages) + 1))
    return [m for m in messages if m.data.strip()]


def _finish(lines: list[bytes], origin: str, n: int) -> RawMessage:
    # The blank line an mbox writer adds before the next From_ is not mail.
    while lines and lines[-1].strip() == b"":
        lines.pop()
    return RawMessage(b"\n".join(lines) + b"\n", f"{origin}#{n}")


def looks_like_mail(data: bytes) -> bool:
    """Whether a file starts like a message or an mbox (not a README or a plain diff)."""
    head = data.lstrip(b"\r\n")
    return is_mbox(head) or bool(_HEADER_LINE.match(head))


def _file_messages(path: Path, data: bytes, origin: str) -> list[RawMessage]:
    if is_mbox(data):
        return split_mbox(data, origin)
    return [RawMessage(data, origin)] if data.strip() else []


def _is_maildir(path: Path) -> bool:
    return path.is_dir() and any((path / sub).is_dir() for sub in ("cur", "new"))


def read_raw(path: str | Path, stdin: BinaryIO | None = None) -> tuple[list[RawMessage], list[Diagnostic]]:
    """Read every raw message at `path` ("-" reads stdin).

    Raises InputError when the path cannot be read at all.
    """
    if str(path) == "-":
        stream = stdin if stdin is not None else sys.stdin.buffer
        try:
            data = stream.read()
        except OSError as exc:
            raise InputError(f"cannot read stdin: {exc.strerror or exc}") from exc
        return _file_messages(Path("-"), data, "<stdin>"), []
    p = Path(path)
    if not p.exists():
        raise InputError(f"no such file or directory: {path}")
    if _is_maildir(p):
        files = sorted(
            f
            for sub in ("new", "cur")
            if (p / sub).is_dir()
            for f in (p / sub).iterdir()
            if f.is_file() and not f.name.startswith(".")
        )
        return _read_files(files)
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.is_file() and not f.name.startswith("."))
        if not files:
            raise InputError(f"no mail files in directory: {path}")
        return _read_files(files)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from exc
    return _file_messages(p, data, str(p)), []


def _read_files(files: Iterable[Path]) -> tuple[list[RawMessage], list[Diagnostic]]:
    messages: list[RawMessage] = []
    diagnostics: list[Diagnostic] = []
    for f in files:
        try:
            data = f.read_bytes()
        except OSError as exc:
            diagnostics.append(Diagnostic("warning", f"skipped {f.name}: {exc.strerror or exc}"))
            continue
        if not looks_like_mail(data):
            diagnostics.append(Diagnostic("info", f"skipped {f.name}: not a mail"))
            continue
        # A maildir file holds one mail; a From_ line some tools keep on top
        # of it makes it a one-message mbox, which reads the same.
        messages.extend(_file_messages(f, data, str(f)))
    return messages, diagnostics


def load_messages(
    path: str | Path, stdin: BinaryIO | None = None
) -> tuple[tuple[Message, ...], tuple[Diagnostic, ...]]:
    """Read and decode every message at `path` (see `read_raw`), in input order."""
    raws, diagnostics = read_raw(path, stdin)
    messages: list[Message] = []
    for raw in raws:
        try:
            messages.append(parse_message(raw.data, raw.origin))
        except Exception as exc:  # noqa: BLE001 - one bad mail never stops the rest
            diagnostics.append(Diagnostic(
                "error", f"{raw.origin}: unreadable mail left aside ({type(exc).__name__})",
                _header_message_id(raw.data)))
    return tuple(messages), tuple(diagnostics)


_MESSAGE_ID = re.compile(rb"^message-id:[ \t]*<?([^<>\s]{1,200})>?", re.I | re.M)


def _header_message_id(data: bytes) -> str | None:
    """The Message-ID of a mail the parser could not read, from its header bytes."""
    head = data[:data.find(b"\n\n")] if b"\n\n" in data[:65536] else data[:65536]
    found = _MESSAGE_ID.search(head)
    return found.group(1).decode("ascii", "replace") if found else None
