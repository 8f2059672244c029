"""Helpers for the mail tests (a uniquely named module, not conftest, so that it
cannot clash with other test folders): corpus and fixture paths, and an
in-process run of the CLI, fast enough for property-based tests."""

from __future__ import annotations

import contextlib
import io
import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "fixtures" / "patches"
# The shared read-only data lives beside the repository (<repo>/../shared);
# KVMPLAN_SHARED points elsewhere when it does not.
SHARED = Path(os.environ.get("KVMPLAN_SHARED", REPO.parent / "shared")).resolve()
CORPUS = SHARED / "corpus" / "mail"

needs_corpus = pytest.mark.skipif(
    not (CORPUS / "MANIFEST.md").is_file(),
    reason=f"shared mail corpus not found at {CORPUS} (set KVMPLAN_SHARED)",
)


def corpus_files() -> list[Path]:
    return sorted(CORPUS.glob("*.mbox")) if CORPUS.is_dir() else []


def run_cli(args: list[str], stdin: bytes = b"") -> tuple[int, str, str]:
    """Run `kvmplan ARGS` in this process: (exit code, stdout, stderr)."""
    from kvmplan.cli import main

    out, err = io.StringIO(), io.StringIO()
    fake_stdin = io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8")
    old_argv, old_stdin = sys.argv, sys.stdin
    sys.argv, sys.stdin = ["kvmplan", *args], fake_stdin
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main()
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv, sys.stdin = old_argv, old_stdin
    return code, out.getvalue(), err.getvalue()
