"""The outbox: what the bot produces, as files an operator's tools pick up.

    OUTBOX/maildir/{tmp,new,cur}/NAME-0000-series   reply mails (a maildir)
    OUTBOX/checks/NAME/0001.json                     a patchwork check per patch
    OUTBOX/reviews/NAME.md, NAME.json                the full review

File names are derived from the series and the reply, never from time or
process ids, so writing a series' files twice (a run killed between
writing them and recording it) finds them there and writes nothing new. A
reply a mail client has already moved to cur/ (with flags after ':') counts
as there.
"""

from __future__ import annotations

import os
from pathlib import Path

MAILDIR = "maildir"


def ensure(outbox: Path) -> None:
    for sub in ("tmp", "new", "cur"):
        (outbox / MAILDIR / sub).mkdir(parents=True, exist_ok=True)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_new(tmp: Path, final: Path, data: bytes) -> None:
    tmp.parent.mkdir(parents=True, exist_ok=True)
    final.parent.mkdir(parents=True, exist_ok=True)
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, final)
    _fsync_dir(final.parent)


def _reply_present(outbox: Path, name: str) -> bool:
    if (outbox / MAILDIR / "new" / name).exists():
        return True
    cur = outbox / MAILDIR / "cur"
    return (cur / name).exists() or any(cur.glob(f"{name}:*"))


def deliver(outbox: Path, path: str, data: bytes) -> bool:
    """Put one output in place; False when it was there already."""
    rel = Path(path)
    if rel.is_absolute() or ".." in rel.parts:
        raise ValueError(f"output path escapes the outbox: {path}")
    if rel.parts[0] == MAILDIR:
        name = rel.name
        if _reply_present(outbox, name):
            return False
        _write_new(outbox / MAILDIR / "tmp" / name, outbox / MAILDIR / "new" / name, data)
        return True
    final = outbox / rel
    try:
        if final.read_bytes() == data:
            return False
    except OSError:
        pass
    _write_new(final.with_name(f".{final.name}.tmp"), final, data)
    return True
