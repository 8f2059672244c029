"""Throughput of `kvmplan bot --once` (messages/s) over the whole shared
corpus as a public-inbox v2 archive (one commit per mail, as lore's).

Figures, each from a fresh outbox and state:
- cold: empty parse and model caches (a temporary KVMPLAN_CACHE), as for a
  series nobody has analysed; every series is analysed from scratch;
- warm: the same caches again (what a restarted bot or a resend sees);
- rerun: the same archive once more on the warm run's state (nothing new);
- ingest only: a bigger archive of corpus mails turned into replies with
  fresh Message-IDs (no series, so no analysis): reading, classifying and
  recording mail, the part that scales with the list's traffic.

Seconds per phase come from the bot's own `pass.end` log record.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
CORPUS = HERE.parent / "shared" / "corpus" / "mail"


def _inbox(repo: Path, mboxes: list[Path]) -> None:
    subprocess.run([sys.executable, str(HERE / "scripts" / "make-public-inbox.py"),
                    "--out", str(repo), *map(str, mboxes)], check=True, capture_output=True)


def _bot(repo: Path, outbox: Path, env: dict[str, str]) -> tuple[float, dict]:
    log = outbox.parent / f"{outbox.name}.log"
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "kvmplan", "bot", "--source", str(repo),
                           "--outbox", str(outbox), "--once", "--log", str(log),
                           "--no-progress"], env=env, capture_output=True, text=True)
    secs = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"kvmplan bot failed: {proc.stderr.strip()}")
    end = [json.loads(line) for line in log.read_text().splitlines()
           if '"pass.end"' in line][-1]
    return secs, end


def _replies_archive(mboxes: list[Path], copies: int, dest: Path) -> int:
    """`copies` x the corpus, each mail a reply (Re:) with its own Message-ID."""
    from kvmplan.mail import split_mbox

    raws = [r.data for m in mboxes for r in split_mbox(m.read_bytes(), str(m))]
    out = bytearray()
    n = 0
    for c in range(copies):
        for raw in raws:
            head, _, body = raw.partition(b"\n\n")
            head = re.sub(rb"(?im)^Message-ID:\s*<([^>]*)>",
                          lambda m, c=c: b"Message-ID: <c%d." % c + m.group(1) + b">", head, count=1)
            head = re.sub(rb"(?im)^Subject:\s*(?!Re:)", b"Subject: Re: ", head, count=1)
            out += b"From mboxrd@z Thu Jan  1 00:00:00 1970\n" + head + b"\n\n" + body + b"\n"
            n += 1
    dest.write_bytes(bytes(out))
    return n


def _line(what: str, messages: int, secs: float, end: dict) -> None:
    phases = end["seconds"]
    print(f"  {what:<34} {messages:6d} mails {secs:8.2f} s  {messages / secs:9.1f} mails/s   "
          f"(ingest {phases['ingest']:.2f} s, review {phases['review']:.2f} s; "
          f"{end['reviewed']} series reviewed)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--copies", type=int, default=40, help="corpus copies in the ingest-only archive")
    ap.add_argument("--no-cold", action="store_true", help="skip the cold run (minutes)")
    args = ap.parse_args()
    mboxes = sorted(CORPUS.glob("*.mbox"))
    if not mboxes:
        sys.exit(f"no corpus at {CORPUS}")
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        repo = t / "kvm" / "git" / "0.git"
        repo.parent.mkdir(parents=True)
        _inbox(repo, mboxes)
        env = dict(os.environ)
        total = None
        print(f"corpus: {len(mboxes)} mboxes as a public-inbox archive; "
              f"{os.cpu_count()} CPUs; kvmplan bot --once, analysis jobs: one per CPU")
        if not args.no_cold:
            cold_env = env | {"KVMPLAN_CACHE": str(t / "cache")}
            secs, end = _bot(repo.parent.parent, t / "cold", cold_env)
            total = end["read"]
            _line("cold caches", total, secs, end)
        secs, end = _bot(repo.parent.parent, t / "warm", env)
        total = end["read"]
        _line("warm caches", total, secs, end)
        secs, end = _bot(repo.parent.parent, t / "warm", env)
        print(f"  {'rerun (nothing new)':<34} {0:6d} mails {secs:8.2f} s")
        big = t / "replies.mbox"
        n = _replies_archive(mboxes, args.copies, big)
        repo2 = t / "big.git"
        _inbox(repo2, [big])
        secs, end = _bot(repo2, t / "big", env)
        _line(f"ingest only ({args.copies}x corpus as replies)", n, secs, end)


if __name__ == "__main__":
    main()
