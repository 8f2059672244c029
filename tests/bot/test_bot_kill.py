"""Acceptance 2: SIGKILL the bot at random instants, over and over, restart
it each time: the final outbox is byte-for-byte the one of a clean run,
no reply twice, none missing, no worker left running.

Two ways of killing:
- from outside, at a random time (seeded; KVMPLAN_KILL_SEED replays one),
  in rounds from a fresh outbox until eight kills have landed;
- from inside, at each named step of a pass (KVMPLAN_BOT_CRASH=point:n, the
  bot SIGKILLs itself there), so every window is hit at least once,
  including the narrow ones a timer rarely lands in.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest
from bothelp import (
    SMALL,
    bot_cmd,
    corpus,
    make_inbox,
    replies_by_series,
    run_bot,
    series_rows,
    snapshot,
)

pytestmark = pytest.mark.slow   # kills bots at every step

CRASH_POINTS = [("ingest", 1), ("ingest", 2), ("analyzing", 2), ("worker", 1), ("worker", 3),
                ("delivering", 1), ("delivered-one", 2), ("delivered-one", 9), ("replied", 2)]


def _config(tmp_path: Path) -> Path:
    cfg = tmp_path / "kvmplan.toml"
    cfg.write_text("[bot]\nbatch = 7\n")        # several ingest transactions per run
    return cfg


def _workers_left(outbox: Path) -> list[int]:
    pids = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            cmd = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if b"kvmplan.bot.worker" in cmd and str(outbox).encode() in cmd:
            pids.append(int(entry.name))
    return pids


def _check_against(clean: dict[str, bytes], outbox: Path) -> None:
    got = snapshot(outbox)
    assert sorted(got) == sorted(clean)
    assert got == clean
    assert all(r["status"] == "replied" for r in series_rows(outbox))
    for names in replies_by_series(outbox).values():
        assert sum(n.endswith("-0000-series") for n in names) == 1
    assert _workers_left(outbox) == []


@pytest.fixture(scope="module")
def small_inbox(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, bytes], Path]:
    base = tmp_path_factory.mktemp("small")
    repo = base / "0.git"
    make_inbox(repo, corpus(*SMALL))
    cfg = _config(base)
    clean = base / "clean"
    r = run_bot(repo, clean, "--once", "--config", str(cfg))
    assert r.returncode == 0, r.stderr
    return repo, snapshot(clean), cfg


@pytest.mark.parametrize("point,n", CRASH_POINTS, ids=[f"{p}-{n}" for p, n in CRASH_POINTS])
def test_killed_at_each_step_then_restarted(small_inbox, tmp_path: Path, point: str, n: int) -> None:
    repo, clean, cfg = small_inbox
    out = tmp_path / "out"
    crashed = run_bot(repo, out, "--once", "--config", str(cfg),
                      env={"KVMPLAN_BOT_CRASH": f"{point}:{n}"})
    assert crashed.returncode == -signal.SIGKILL, (point, n, crashed.stderr)
    r = run_bot(repo, out, "--once", "--config", str(cfg))
    assert r.returncode == 0, r.stderr
    _check_against(clean, out)


def test_random_sigkills(tmp_path: Path) -> None:
    seed = int(os.environ.get("KVMPLAN_KILL_SEED", "20261121"))
    rnd = random.Random(seed)
    repo = tmp_path / "0.git"
    make_inbox(repo, corpus(*SMALL))
    cfg = _config(tmp_path)
    clean_out = tmp_path / "clean"
    started = time.monotonic()
    r = run_bot(repo, clean_out, "--once", "--config", str(cfg))
    assert r.returncode == 0, r.stderr
    clean_seconds = time.monotonic() - started
    clean = snapshot(clean_out)
    assert len(replies_by_series(clean_out)) == 3

    # Rounds from a fresh outbox: kill at random instants until a run gets
    # to the end, then compare; until enough kills have landed.
    kills = rounds = 0
    while kills < 8 and rounds < 6:
        rounds += 1
        out = tmp_path / f"round{rounds}"
        for _ in range(20):
            delay = rnd.uniform(0.4, clean_seconds)    # 0.4 s: past interpreter start-up
            proc = subprocess.Popen(bot_cmd(repo, out, "--once", "--config", str(cfg)),
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                    cwd=tmp_path)
            try:
                assert proc.wait(timeout=delay) == 0, f"seed {seed}: the bot failed on its own"
                break
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                kills += 1
        else:
            r = run_bot(repo, out, "--once", "--config", str(cfg))
            assert r.returncode == 0, r.stderr
        _check_against(clean, out)
    assert kills >= 8, f"seed {seed}: only {kills} kills landed in {rounds} rounds"
