"""Incremental readers of a mail archive, for a bot that polls it.

    for source in open_source(path):           # maildir, mbox, public-inbox
        for batch in source.scan(cursor, final=False, seen=store.seen):
            ingest(batch.messages)
            store(source.name, batch.cursor, batch.items)

Each `scan` returns only what is new since `cursor` (the one the last batch
carried). A scan yields nothing when nothing changed; it yields a batch
with no messages when only the cursor moved (an mbox tail held back, a
public-inbox deletion commit) or when it has notes to report.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

from kvmplan.mail.sources import (
    _FROM_LINE,
    _MBOXO_QUOTED,
    _MBOXRD_QUOTED,
    _finish,
    is_mbox,
    looks_like_mail,
    split_mbox,
)


class SourceError(Exception):
    """The source cannot be read at all; str(exc) is a one-line message naming the path."""


@dataclass(frozen=True)
class Incoming:
    """One message as stored (no mbox From_ line, `>From ` quoting undone)."""

    raw: bytes
    origin: str  # "<mbox>@<offset>", "<maildir>/cur/<file>", "<repo>@<sha12>"
    item: str  # stable id within the source: offset, maildir unique name, commit sha


@dataclass(frozen=True)
class Batch:
    """Messages to ingest, then the cursor (and items) to store after them."""

    messages: tuple[Incoming, ...]
    cursor: str
    items: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


class Source(Protocol):
    kind: str
    name: str

    def scan(
        self, cursor: str | None, *, final: bool, seen: Callable[[str], bool], batch_size: int = 500
    ) -> Iterator[Batch]: ...


def open_source(path: str | Path) -> list[Source]:
    """The sources at `path`: a maildir, a public-inbox inbox (one per epoch),
    a git epoch repository, or an mbox file. Raises SourceError otherwise."""
    p = Path(path)
    try:
        if p.is_dir():
            return _open_dir(p)
        if p.is_file():
            with p.open("rb"):
                pass
            return [MboxSource(p)]
    except OSError as exc:
        raise SourceError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if not p.exists():
        raise SourceError(f"no such file or directory: {path}")
    raise SourceError(f"not a file or directory: {path}")


def _open_dir(p: Path) -> list[Source]:
    names = set(os.listdir(p))
    if any((p / sub).is_dir() for sub in ("cur", "new")):
        return [MaildirSource(p)]
    if (p / "git").is_dir():
        epochs = sorted(
            (int(m.group(1)), p / "git" / name)
            for name in os.listdir(p / "git")
            if (m := re.fullmatch(r"(\d+)\.git", name)) and (p / "git" / name).is_dir()
        )
        if not epochs:
            raise SourceError(f"public-inbox inbox without epoch repositories (git/N.git): {p}")
        _need_git(p)
        return [PublicInboxSource(repo) for _, repo in epochs]
    if "HEAD" in names and (p / "objects").is_dir():
        _need_git(p)
        return [PublicInboxSource(p)]
    if ".git" in names:
        _need_git(p)
        return [PublicInboxSource(p, git_dir=p / ".git")]
    raise SourceError(f"not a maildir, public-inbox inbox, git repository or mbox: {p}")


# --- maildir ---------------------------------------------------------------


class MaildirSource:
    """Files of `new/` and `cur/`, by name; a file is read once (the caller's
    `seen` remembers its unique name, which a MUA's flag change keeps).

    The cursor is unused (""): the caller's `seen` is the state.
    """

    kind = "maildir"

    def __init__(self, path: Path) -> None:
        self.path = path.resolve()
        self.name = f"{self.kind}:{self.path}"

    def scan(
        self, cursor: str | None, *, final: bool, seen: Callable[[str], bool], batch_size: int = 500
    ) -> Iterator[Batch]:
        files = self._files()
        messages: list[Incoming] = []
        items: list[str] = []
        notes: list[str] = []
        for item, f in files:
            if seen(item):
                continue
            try:
                data = f.read_bytes()
            except OSError as exc:
                # Not in items: the next pass retries it.
                notes.append(f"maildir: cannot read {f}: {exc.strerror or exc}; retrying next pass")
                continue
            parts = _maildir_messages(data, str(f), item)
            if not parts:
                notes.append(f"maildir: skipped {f}: not a mail")
            for k, incoming in enumerate(parts):
                messages.append(incoming)
                # A file's item is stored with its last message, so a file
                # cut across batches is read again if the caller stops early.
                if k == len(parts) - 1:
                    items.append(item)
                if len(messages) == batch_size:
                    yield Batch(tuple(messages), "", tuple(items), tuple(notes))
                    messages, items, notes = [], [], []
            if not parts:
                items.append(item)
        if messages or items or notes:
            yield Batch(tuple(messages), "", tuple(items), tuple(notes))

    def _files(self) -> list[tuple[str, Path]]:
        """(item, path) of every message file, by file name, each item once."""
        entries: list[tuple[str, str, Path]] = []
        for sub in ("cur", "new"):
            d = self.path / sub
            try:
                scanned = list(os.scandir(d))
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise SourceError(f"cannot read {d}: {exc.strerror or exc}") from exc
            for entry in scanned:
                if entry.name.startswith(".") or entry.is_dir():
                    continue
                entries.append((entry.name, sub, Path(entry.path)))
        if not any((self.path / sub).is_dir() for sub in ("cur", "new")):
            raise SourceError(f"not a maildir any more (no cur/ or new/): {self.path}")
        files: list[tuple[str, Path]] = []
        taken: set[str] = set()
        # A file moved new/ -> cur/ while we listed can show up twice.
        for name, _, path in sorted(entries):
            item = name.split(":", 1)[0]
            if item not in taken:
                taken.add(item)
                files.append((item, path))
        return files


def _maildir_messages(data: bytes, origin: str, item: str) -> list[Incoming]:
    """The messages of one maildir file: one, or each of an mbox some tool left there."""
    if not looks_like_mail(data):
        return []
    if not is_mbox(data):
        return [Incoming(data, origin, item)]
    parts = split_mbox(data, origin)
    if len(parts) == 1:
        return [Incoming(parts[0].data, origin, item)]
    return [Incoming(raw.data, raw.origin, item) for raw in parts]


# --- mbox ------------------------------------------------------------------

_HEAD_SIZE = 4096
_CHUNK = 1 << 20


@dataclass(frozen=True)
class _MboxCursor:
    offset: int  # complete messages were consumed up to here: a From_ line or the end
    size: int  # the file size at that scan
    head: str  # sha256 of the first min(size, 4 KiB) bytes: the file's identity

    def encode(self) -> str:
        return f"mbox1:{self.offset}:{self.size}:{self.head}"

    @staticmethod
    def decode(text: str) -> _MboxCursor | None:
        m = re.fullmatch(r"mbox1:(\d+):(\d+):([0-9a-f]{64})", text)
        if m is None or int(m.group(1)) > int(m.group(2)):
            return None
        return _MboxCursor(int(m.group(1)), int(m.group(2)), m.group(3))


class MboxSource:
    """A growing mbox (mboxrd or mboxo), read from where the last scan stopped.

    The last message is complete when the scan is `final`, or when the file
    has not grown since the last scan and ends with a newline; until then it
    is held back (the writer may be mid-append). A file that shrank or whose
    head changed was rewritten: it is read again from the start, with a note.
    """

    kind = "mbox"

    def __init__(self, path: Path) -> None:
        self.path = path.resolve()
        self.name = f"{self.kind}:{self.path}"

    def scan(
        self, cursor: str | None, *, final: bool, seen: Callable[[str], bool], batch_size: int = 500
    ) -> Iterator[Batch]:
        try:
            f = self.path.open("rb")
        except OSError as exc:
            raise SourceError(f"cannot read {self.path}: {exc.strerror or exc}") from exc
        with f:
            yield from self._scan(f, cursor, final, batch_size)

    def _scan(self, f: IO[bytes], cursor: str | None, final: bool, batch_size: int) -> Iterator[Batch]:
        # Read only up to the size seen now: bytes appended meanwhile are the
        # next scan's.
        size = os.fstat(f.fileno()).st_size
        head = f.read(_HEAD_SIZE)[:size]
        notes: list[str] = []
        last = _MboxCursor.decode(cursor) if cursor else None
        if cursor and last is None:
            notes.append(f"mbox {self.path}: unreadable cursor {cursor!r}: rescanning from the start")
        elif last is not None and size < last.size:
            notes.append(f"mbox {self.path} shrank ({last.size} -> {size} bytes): rescanning from the start")
            last = None
        elif last is not None and _sha(head[: last.size]) != last.head:
            notes.append(f"mbox {self.path}: its first bytes changed (rewritten): rescanning from the start")
            last = None
        tail_done = final or (last is not None and size == last.size and _ends_with_newline(f, size))
        # As split_mbox decides: by the file's first line.
        unquote = _MBOXRD_QUOTED if head.lstrip(b"\r\n").startswith(b"From mboxrd@z") else _MBOXO_QUOTED
        ident = _sha(head)
        consumed = last.offset if last is not None else 0
        batch: list[Incoming] = []
        for start, raw, complete in _segments(f, consumed, size):
            end = start + sum(len(line) for line in raw)
            lines = [line[:-1] if line.endswith(b"\n") else line for line in raw]
            has_from = bool(_FROM_LINE.match(lines[0]))
            body = lines[1:] if has_from else lines
            if not complete and not (tail_done and any(line.strip() for line in body)):
                break
            consumed = end
            if not has_from and start > 0:
                # The rest of a message taken before its writer had finished.
                if any(line.strip() for line in body):
                    notes.append(
                        f"mbox {self.path}: skipped {end - start} bytes at {start} "
                        f"before the next From_ line"
                    )
                continue
            data = _finish([unquote.sub(rb"\1", line) for line in body], "", 0).data
            if not has_from:
                # Text before the first From_ line is a message, as in split_mbox.
                data = data.lstrip(b"\r\n")
            if data.strip():
                batch.append(Incoming(data, f"{self.path}@{start}", str(start)))
            if len(batch) == batch_size:
                yield Batch(tuple(batch), _MboxCursor(consumed, size, ident).encode(), notes=tuple(notes))
                batch, notes = [], []
        new_cursor = _MboxCursor(consumed, size, ident).encode()
        if batch or notes or new_cursor != cursor:
            yield Batch(tuple(batch), new_cursor, notes=tuple(notes))


def _segments(f: IO[bytes], offset: int, end: int) -> Iterator[tuple[int, list[bytes], bool]]:
    """(start, lines with their newline, complete) of each From_-delimited
    segment of [offset, end): all complete but the last."""
    start = pos = offset
    lines: list[bytes] = []
    for line in _lines(f, offset, end):
        if lines and _FROM_LINE.match(line):
            yield start, lines, True
            start, lines = pos, []
        lines.append(line)
        pos += len(line)
    if lines:
        yield start, lines, False


def _lines(f: IO[bytes], offset: int, end: int) -> Iterator[bytes]:
    """The lines of bytes [offset, end) of `f`, each with its newline but
    perhaps the last."""
    f.seek(offset)
    left = end - offset
    rest = b""
    while left > 0:
        chunk = f.read(min(_CHUNK, left))
        if not chunk:
            break
        left -= len(chunk)
        parts = (rest + chunk).split(b"\n")
        rest = parts.pop()
        for part in parts:
            yield part + b"\n"
    if rest:
        yield rest


def _ends_with_newline(f: IO[bytes], size: int) -> bool:
    if size == 0:
        return False
    f.seek(size - 1)
    return f.read(1) == b"\n"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- public-inbox ----------------------------------------------------------

_COMMIT = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
# %(rest) echoes the commit sha we append to each request; a missing `m`
# answers "<sha>:m missing" instead.
_CAT_FORMAT = "%(objectname) %(objecttype) %(objectsize) %(rest)"


class PublicInboxSource:
    """One public-inbox v2 epoch repository: each commit on HEAD adds the
    message in its blob `m` (a deletion commit has `d` instead: skipped).

    Read with git's read-only commands; the cursor is the last commit read.
    A cursor that is no longer an ancestor of HEAD (history rewritten)
    gives a note and a rescan from the first commit.
    """

    kind = "public-inbox"

    def __init__(self, path: Path, git_dir: Path | None = None) -> None:
        self.path = path.resolve()
        self.git_dir = git_dir.resolve() if git_dir is not None else self.path
        self.name = f"{self.kind}:{self.path}"

    def scan(
        self, cursor: str | None, *, final: bool, seen: Callable[[str], bool], batch_size: int = 500
    ) -> Iterator[Batch]:
        head = self._head()
        if head is None or head == cursor:
            return
        notes: list[str] = []
        since: str | None = None
        if cursor and not _COMMIT.fullmatch(cursor):
            notes.append(f"public-inbox {self.path}: unreadable cursor {cursor!r}: rescanning from the start")
        elif cursor and self._run("merge-base", "--is-ancestor", cursor, head).returncode != 0:
            notes.append(
                f"public-inbox {self.path}: commit {cursor[:12]} is not in the history of "
                f"HEAD any more (rewritten): rescanning from the start"
            )
        elif cursor:
            since = cursor
        yield from self._read(f"{since}..{head}" if since else head, cursor, notes, batch_size)

    def _read(self, revs: str, cursor: str | None, notes: list[str], batch_size: int) -> Iterator[Batch]:
        """Stream `m` of each commit of `revs`: rev-list feeds one cat-file --batch."""
        with tempfile.TemporaryFile() as rev_err, tempfile.TemporaryFile() as cat_err:
            rev_list = self._popen(["rev-list", "--reverse", revs], rev_err, stdout=subprocess.PIPE)
            try:
                cat_file = self._popen(
                    ["cat-file", f"--batch={_CAT_FORMAT}", "--buffer"],
                    cat_err,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                )
            except SourceError:
                _end(rev_list)
                raise
            assert rev_list.stdout is not None and cat_file.stdin is not None and cat_file.stdout is not None
            feeder = threading.Thread(target=_feed, args=(rev_list.stdout, cat_file.stdin), daemon=True)
            feeder.start()
            try:
                last = cursor
                batch: list[Incoming] = []
                for commit, data in _answers(cat_file.stdout, self.path):
                    last = commit
                    if data is not None:
                        batch.append(Incoming(data, f"{self.path}@{commit[:12]}", commit))
                    if len(batch) == batch_size:
                        yield Batch(tuple(batch), commit, notes=tuple(notes))
                        batch, notes = [], []
                for proc, err, what in ((rev_list, rev_err, "rev-list"), (cat_file, cat_err, "cat-file")):
                    if proc.wait() != 0:
                        raise SourceError(f"cannot read {self.path}: git {what} failed: {_first_line(err)}")
            finally:
                # Ends our two gits when the caller stopped early or reading
                # failed; waits for them otherwise.
                _end(cat_file)
                _end(rev_list)
                feeder.join()
            if batch or notes or last != cursor:
                yield Batch(tuple(batch), last or "", notes=tuple(notes))

    def _head(self) -> str | None:
        """HEAD's commit, or None in an empty repository."""
        proc = self._run("rev-parse", "--verify", "--quiet", "HEAD^{commit}")
        out = proc.stdout.decode("ascii", "replace").strip()
        if proc.returncode == 0 and _COMMIT.fullmatch(out):
            return out
        if proc.returncode == 1 and not proc.stderr.strip():
            return None
        message = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise SourceError(f"cannot read git repository {self.path}: {message[0] if message else 'git failed'}")

    def _command(self, *args: str) -> list[str]:
        # The repository's own config is read, but nothing it names is run by
        # these read-only commands; replace refs would change what we read.
        return [
            "git", f"--git-dir={self.git_dir}", "--no-replace-objects",
            "-c", "safe.directory=*", "-c", "core.fsmonitor=false", *args,
        ]  # fmt: skip

    def _run(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        try:
            return subprocess.run(self._command(*args), capture_output=True, env=_git_env(), check=False)
        except OSError as exc:
            raise SourceError(f"cannot read {self.path}: cannot run git: {exc.strerror or exc}") from exc

    def _popen(
        self, args: list[str], err: IO[bytes], stdin: int | None = None, stdout: int | None = None
    ) -> subprocess.Popen[bytes]:
        try:
            return subprocess.Popen(
                self._command(*args), stdin=stdin, stdout=stdout, stderr=err, env=_git_env(), bufsize=1 << 16
            )
        except OSError as exc:
            raise SourceError(f"cannot read {self.path}: cannot run git: {exc.strerror or exc}") from exc


def _feed(commits: IO[bytes], requests: IO[bytes]) -> None:
    """Ask cat-file for `m` of each commit rev-list prints (a thread: cat-file's
    answers are read meanwhile, so neither pipe fills up)."""
    try:
        for line in commits:
            sha = line.strip()
            requests.write(sha + b":m " + sha + b"\n")
        requests.close()
    except (OSError, ValueError):
        pass  # cat-file was ended early: the reader reports why


def _answers(out: IO[bytes], path: Path) -> Iterator[tuple[str, bytes | None]]:
    """(commit, blob `m` or None when the commit has none) for each request."""
    while header := out.readline():
        fields = header.split()
        if len(fields) == 2 and fields[1] == b"missing":
            yield fields[0].split(b":", 1)[0].decode("ascii"), None
            continue
        if len(fields) != 4 or not fields[2].isdigit():
            raise SourceError(f"cannot read {path}: unexpected git cat-file output {header[:80]!r}")
        size = int(fields[2])
        data = out.read(size)
        if len(data) != size or out.read(1) != b"\n":
            raise SourceError(f"cannot read {path}: git cat-file output ended early")
        yield fields[3].decode("ascii"), data if fields[1] == b"blob" else None


def _end(proc: subprocess.Popen[bytes]) -> None:
    """Stop one of our git processes if it still runs, and reap it."""
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    for stream in (proc.stdin, proc.stdout):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()


def _first_line(err: IO[bytes]) -> str:
    err.seek(0)
    lines = err.read().decode("utf-8", "replace").strip().splitlines()
    return lines[0] if lines else "no message"


def _git_env() -> dict[str, str]:
    # GIT_DIR, GIT_OBJECT_DIRECTORY and the like from our own environment
    # must not redirect what we read.
    return {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}


def _need_git(path: Path) -> None:
    if shutil.which("git") is None:
        raise SourceError(f"cannot read {path}: the git command is not installed")
