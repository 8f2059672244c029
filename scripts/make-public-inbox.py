#!/usr/bin/env python3
"""Write a public-inbox v2 epoch repository (a bare git repository) from mboxes:
one commit per message, whose tree holds only the message as blob `m`.

    python3 scripts/make-public-inbox.py --out REPO [--append] MBOX...

Deterministic: the same mboxes give the same commits (dates and authors
come from each message's Date and From, the committer is fixed). With
--append the commits continue from the repository's master. One
`git fast-import` writes them all.
"""

from __future__ import annotations

import argparse
import email.parser
import email.policy
import email.utils
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kvmplan.mail import decode_header, split_mbox
from kvmplan.mail.sources import is_mbox

COMMITTER = b"kvmplan <kvmplan@localhost>"
BRANCH = "refs/heads/master"


class BadInput(Exception):
    """A one-line reason to exit 2."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="the bare repository to write")
    parser.add_argument("--append", action="store_true", help="continue the repository's master")
    parser.add_argument("mboxes", nargs="+", type=Path, metavar="MBOX")
    args = parser.parse_args(argv)
    try:
        messages = [raw for path in args.mboxes for raw in read_mbox(path)]
        prepare(args.out, args.append)
        commits = write(args.out, messages)
    except BadInput as exc:
        print(f"make-public-inbox: {exc}", file=sys.stderr)
        return 2
    print(f"{len(messages)} messages, {commits} commits in {args.out}")
    return 0


def read_mbox(path: Path) -> list[bytes]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BadInput(f"cannot read {path}: {exc.strerror or exc}") from exc
    if not is_mbox(data):
        raise BadInput(f"not an mbox: {path}")
    return [raw.data for raw in split_mbox(data, str(path))]


def prepare(repo: Path, append: bool) -> None:
    """Create the repository, or check that --append finds one."""
    if (repo / "HEAD").is_file() and (repo / "objects").is_dir():
        if not append:
            raise BadInput(f"{repo} already exists (use --append to extend it)")
        return
    if repo.exists() and (not repo.is_dir() or any(repo.iterdir())):
        raise BadInput(f"{repo} exists and is not a bare git repository")
    git(None, "init", "--quiet", "--bare", str(repo))
    git(repo, "symbolic-ref", "HEAD", BRANCH)


def write(repo: Path, messages: list[bytes]) -> int:
    """Commit each message on master with one fast-import; the commit count after."""
    has_master = git(repo, "rev-parse", "--verify", "--quiet", BRANCH, check=False).returncode == 0
    stream = bytearray()
    for n, raw in enumerate(messages):
        stream += commit(raw, parent=f"{BRANCH}^0" if n == 0 and has_master else None)
    stream += b"done\n"
    proc = subprocess.run(
        ["git", f"--git-dir={repo}", "fast-import", "--quiet", "--done", "--date-format=raw"],
        input=bytes(stream),
        capture_output=True,
        check=False,
    )
    if proc.returncode != 0:
        raise BadInput(f"git fast-import failed: {first_line(proc.stderr)}")
    if not messages and not has_master:
        return 0
    return int(git(repo, "rev-list", "--count", BRANCH).stdout)


def commit(raw: bytes, parent: str | None) -> bytes:
    """One fast-import commit adding `raw` as `m`, alone in the tree."""
    headers = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(raw)
    when = date(str(headers.get("Date", "")))
    name, addr = email.utils.parseaddr(decode_header(str(headers.get("From", ""))))
    author = COMMITTER
    if addr and "@" in addr:
        author = f"{clean(name) or clean(addr)} <{clean(addr)}>".encode()
    subject = clean(decode_header(str(headers.get("Subject", "")))) or "(no subject)"
    message = subject.encode() + b"\n"
    out = bytearray(f"commit {BRANCH}\n".encode())
    out += b"author " + author + b" " + when + b"\n"
    out += b"committer " + COMMITTER + b" " + when + b"\n"
    out += b"data %d\n" % len(message) + message
    if parent is not None:
        out += f"from {parent}\n".encode()
    out += b"deleteall\nM 100644 inline m\n"
    out += b"data %d\n" % len(raw) + raw + b"\n"
    return bytes(out)


def date(value: str) -> bytes:
    """`<seconds> <+hhmm>` from a Date header; the epoch when it does not parse."""
    parsed = email.utils.parsedate_tz(value) if value else None
    if parsed is None:
        return b"0 +0000"
    offset = parsed[9] or 0
    seconds = max(0, email.utils.mktime_tz(parsed))
    sign = "-" if offset < 0 else "+"
    hours, minutes = divmod(abs(offset) // 60, 60)
    return f"{seconds} {sign}{hours:02d}{minutes:02d}".encode()


def clean(text: str) -> str:
    """One line without the characters a git ident or subject cannot hold."""
    text = text.encode("utf-8", "replace").decode("utf-8")
    return " ".join(text.replace("<", "").replace(">", "").split())


def git(repo: Path | None, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    cmd = ["git", *([f"--git-dir={repo}"] if repo is not None else []), *args]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise BadInput(f"cannot run git: {exc.strerror or exc}") from exc
    if check and proc.returncode != 0:
        raise BadInput(f"git {args[0]} failed: {first_line(proc.stderr)}")
    return proc


def first_line(text: str | bytes) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    lines = text.strip().splitlines()
    return lines[0] if lines else "no message"


if __name__ == "__main__":
    sys.exit(main())
