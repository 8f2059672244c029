"""Helpers for the bot tests: run `kvmplan bot` as a process (the way an
operator does, so SIGKILL really kills it), read its outbox and state.

The analyses use the default model cache, which the analyze tests have
already filled for the corpus series; a cold run only takes longer.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT.parent / "shared" / "corpus" / "mail"
SMALL = ("kvm-mmu-pte-list-desc-2022-06.mbox", "tdx-v8-003-cpu-compat-check-thread.mbox",
         "kvm-cpu-hotplug-chao-gao-v4.mbox", "kvm-cpu-hotplug-chao-gao-v4-replies.mbox")
REWORK = ("kvm-rework-kvm-init-v1.mbox", "kvm-rework-kvm-init-v2.mbox",
          "kvm-rework-kvm-init-v2-replies.mbox")


def corpus(*names: str) -> list[Path]:
    paths = [CORPUS / n for n in names]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        pytest.skip(f"shared corpus not found: {missing[0]}")
    return paths


def bot_cmd(source: Path | list[Path], outbox: Path, *args: str) -> list[str]:
    sources = source if isinstance(source, list) else [source]
    cmd = [sys.executable, "-m", "kvmplan", "bot", "--outbox", str(outbox),
           "--log", str(outbox.parent / f"{outbox.name}.log")]
    for s in sources:
        cmd += ["--source", str(s)]
    return cmd + list(args)


def run_bot(source: Path | list[Path], outbox: Path, *args: str,
            env: dict[str, str] | None = None, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    full_env = dict(os.environ)
    full_env.pop("KVMPLAN_BOT_CRASH", None)
    full_env.update(env or {})
    return subprocess.run(bot_cmd(source, outbox, *(args or ("--once",))), capture_output=True,
                          text=True, env=full_env, timeout=timeout, cwd=outbox.parent)


def snapshot(outbox: Path) -> dict[str, bytes]:
    """What the bot delivered: replies (maildir), checks and reviews, by path."""
    out: dict[str, bytes] = {}
    for sub in ("maildir", "checks", "reviews"):
        for p in sorted((outbox / sub).rglob("*")):
            if p.is_file():
                out[str(p.relative_to(outbox))] = p.read_bytes()
    return out


def events(outbox: Path) -> list[dict]:
    log = outbox.parent / f"{outbox.name}.log"
    if not log.is_file():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]


def series_rows(outbox: Path) -> list[dict]:
    db = sqlite3.connect(outbox / "kvmplan-bot.sqlite")
    db.row_factory = sqlite3.Row
    rows = [dict(r) for r in db.execute("SELECT * FROM series ORDER BY seq")]
    db.close()
    return rows


def replies_by_series(outbox: Path) -> dict[str, list[str]]:
    """Reply file names in the maildir, grouped by the series name they start with."""
    names = [r["name"] for r in series_rows(outbox) if r["name"]]
    out: dict[str, list[str]] = {n: [] for n in names}
    for p in sorted((outbox / "maildir").rglob("*")):
        if p.is_file() and p.parent.name in ("new", "cur"):
            owner = [n for n in names if p.name.startswith(n + "-")]
            assert len(owner) == 1, p.name
            out[owner[0]].append(p.name)
    return out


def concat(paths: list[Path], dest: Path) -> Path:
    dest.write_bytes(b"".join(p.read_bytes() for p in paths))
    return dest


def make_inbox(repo: Path, mboxes: list[Path], append: bool = False) -> None:
    """A public-inbox v2 epoch repository holding the mails of `mboxes`."""
    script = ROOT / "scripts" / "make-public-inbox.py"
    cmd = [sys.executable, str(script), "--out", str(repo)] + (["--append"] if append else [])
    subprocess.run(cmd + [str(m) for m in mboxes], check=True, capture_output=True)
