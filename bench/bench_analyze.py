"""Time `kvmplan analyze` on a series (default: the 51-message v2 rework
series), mail-only and with --tree, next to the kernel's own
scripts/checkpatch.pl (from the 6.12 tree) over the same mails, in the same
run.

Each kvmplan figure is given cold (empty parse and model caches, in a
temporary KVMPLAN_CACHE) and warm (the same caches again), because a bot
sees both: a new series is cold, a re-run or a new version mostly warm.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
TREES = Path(os.environ.get("KVMPLAN_TREES", Path.home() / ".cache/kvmplan/trees"))


def _run(cmd: list[str], env: dict[str, str]) -> tuple[float, int]:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0, proc.returncode


def _split(mbox: Path, into: Path) -> list[Path]:
    """One file per message, as checkpatch wants them."""
    from kvmplan.mail import split_mbox

    out = []
    for i, raw in enumerate(split_mbox(mbox.read_bytes(), str(mbox))):
        f = into / f"{i:04d}.eml"
        f.write_bytes(raw.data)
        out.append(f)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("mbox", nargs="?",
                    default=str(HERE.parent / "shared/corpus/mail/kvm-rework-kvm-init-v2.mbox"))
    ap.add_argument("--tree", default=str(TREES / "linux-6.1"))
    ap.add_argument("--checkpatch-tree", default=str(TREES / "linux-6.12"))
    args = ap.parse_args()
    mbox = Path(args.mbox)
    kvmplan = [sys.executable, "-m", "kvmplan"]
    with tempfile.TemporaryDirectory() as tmp:
        files = _split(mbox, Path(tmp))
        print(f"{mbox.name}: {len(files)} messages")
        checkpatch = Path(args.checkpatch_tree) / "scripts/checkpatch.pl"
        if checkpatch.is_file():
            secs, _ = _run(["perl", str(checkpatch), "--no-tree", "--quiet", "--terse",
                            "--show-types", *map(str, files)], dict(os.environ))
            print(f"  checkpatch.pl (6.12) over the same mails: {secs:7.2f} s")
        else:
            print(f"  checkpatch.pl: {checkpatch} absent (run scripts/fetch-kernels.sh)")
        modes = [("mail-only", [])]
        if Path(args.tree, "virt/kvm").is_dir():
            modes.append((f"--tree {Path(args.tree).name}", ["--tree", args.tree, "--no-plan"]))
        for label, extra in modes:
            cache = Path(tmp) / f"cache-{len(label)}"
            env = dict(os.environ, KVMPLAN_CACHE=str(cache))
            for temp in ("cold", "warm"):
                secs, rc = _run([*kvmplan, "analyze", str(mbox), "-q", "-f", "json",
                                 "--fail-on", "never", *extra], env)
                status = "" if rc == 0 else f"  (exit {rc})"
                print(f"  kvmplan analyze {label:16s} {temp}: {secs:7.2f} s{status}")


if __name__ == "__main__":
    main()
