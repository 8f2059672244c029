"""The command line as a kernel tool's users expect it: --version, exit codes
in --help, completion, NIPA's exit code, progress on stderr only, opt-in
diagrams."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
from pathlib import Path

from kvmplan import __version__

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "fixtures" / "patches" / "example-online-series.mbox"


def kvmplan(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kvmplan", *args], capture_output=True,
                          text=True, input=stdin, timeout=300, cwd=ROOT)


def test_version_and_help() -> None:
    got = kvmplan("--version")
    assert (got.returncode, got.stdout) == (0, f"kvmplan {__version__}\n")
    help_text = kvmplan("--help").stdout
    for code in ("0 clean", "1 findings", "2 usage or input error", "250"):
        assert code in " ".join(help_text.split()), code
    assert "--install-completion" in help_text
    assert "--nipa" in kvmplan("analyze", "--help").stdout


def test_v_is_not_a_second_version() -> None:
    got = kvmplan("series", str(EXAMPLE), "-v", "1")
    assert got.returncode == 2 and "No such option: -v" in got.stderr
    got = kvmplan("series", str(EXAMPLE), "--series-version", "1")
    assert got.returncode == 0, got.stderr


UNPLACEABLE = """\
From: A Developer <dev@example.org>
Subject: [PATCH] KVM: a hunk whose context is nowhere in the base
Message-ID: <unplaceable@example.org>
Date: Thu, 3 Dec 2026 08:00:00 +0000

A comment-only change against code that does not exist.

Signed-off-by: A Developer <dev@example.org>
---
diff --git a/virt/kvm/kvm_main.c b/virt/kvm/kvm_main.c
--- a/virt/kvm/kvm_main.c
+++ b/virt/kvm/kvm_main.c
@@ -10,8 +10,9 @@
 static int no_such_function_in_any_base(void)
 {
 \tint no_such_variable_a = 1;
 \tint no_such_variable_b = 2;
+\t/* a comment */
 \tno_such_variable_a += no_such_variable_b;
 \tno_such_variable_b = 0;
 \treturn no_such_variable_a;
 }
"""


def _unplaceable(tmp_path: Path) -> Path:
    """One hunk that cannot be placed, and nothing else."""
    out = tmp_path / "unplaceable.patch"
    out.write_text(UNPLACEABLE, encoding="utf-8")
    return out


def test_nipa_exit_code_for_warnings_only(tmp_path: Path) -> None:
    """The example series with one more hunk that can't be placed: judged
    (9 of 10 hunks applied), a warning for NIPA."""
    text = EXAMPLE.read_text(encoding="utf-8")
    extra = UNPLACEABLE.split("---\n", 1)[1]
    mbox = tmp_path / "one-bad-hunk.mbox"
    mbox.write_text(text.replace("\n-- \n2.43.0\n", "\n" + extra + "-- \n2.43.0\n", 1)
                    .replace("\n-- \n2.43.0\n", "\n-- \n2.43.0\n"), encoding="utf-8")
    plain = kvmplan("analyze", str(mbox), "-q", "-f", "text")
    assert plain.returncode == 0, plain.stderr
    assert "1 failed" in plain.stdout and "verdict: no new lifecycle findings" in plain.stdout
    nipa = kvmplan("analyze", str(mbox), "-q", "-f", "text", "--nipa")
    assert nipa.returncode == 250, nipa.stderr
    assert kvmplan("analyze", str(EXAMPLE), "-q", "--nipa").returncode == 0


def test_inconclusive_exit_code(tmp_path: Path) -> None:
    """A series none of whose hunks apply was not judged: exit 3 (250 for NIPA)."""
    mbox = _unplaceable(tmp_path)
    plain = kvmplan("analyze", str(mbox), "-q", "-f", "text")
    assert plain.returncode == 3, plain.stderr
    assert "verdict: inconclusive: does not apply: 1 of 1 hunks" in plain.stdout
    assert kvmplan("analyze", str(mbox), "-q", "--nipa").returncode == 250
    assert kvmplan("analyze", str(mbox), "-q", "--fail-on", "never").returncode == 0


def test_progress_is_plain_lines_on_stderr_when_not_a_terminal() -> None:
    got = kvmplan("analyze", str(EXAMPLE), "-f", "json")
    assert got.returncode == 0
    lines = got.stderr.splitlines()
    for phase in ("apply patches: 2/2", "parse prefixes: 3/3", "model runs: ", "render: 1/1"):
        assert any(ln.startswith(f"kvmplan: {phase}") for ln in lines), (phase, lines)
    assert got.stdout.startswith("{") and "kvmplan:" not in got.stdout
    assert kvmplan("analyze", str(EXAMPLE), "-q").stderr == ""


def test_progress_bar_on_a_terminal_and_stdout_untouched() -> None:
    """stderr is a pseudo-terminal: a progress bar (rich) there; stdout, a
    pipe, gets the review and nothing else."""
    master, slave = pty.openpty()
    env = dict(os.environ, COLUMNS="100", TERM="xterm")
    proc = subprocess.Popen([sys.executable, "-m", "kvmplan", "analyze", str(EXAMPLE), "-f", "json"],
                            stdout=subprocess.PIPE, stderr=slave, cwd=ROOT, env=env)
    os.close(slave)
    seen = b""
    out = b""
    assert proc.stdout is not None
    while proc.poll() is None or select.select([master], [], [], 0)[0]:
        ready, _, _ = select.select([master, proc.stdout], [], [], 0.2)
        if proc.stdout in ready:
            out += proc.stdout.read1(65536)
        if master in ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:         # EIO: no writer left
                break
            if not chunk:
                break
            seen += chunk
    rest, _ = proc.communicate(timeout=300)
    out += rest
    os.close(master)
    assert proc.returncode == 0
    screen = re.sub(rb"\x1b\[[0-9;?]*[A-Za-z]", b"", seen).decode("utf-8", "replace")
    assert "model runs" in screen and "apply patches" in screen
    assert "2/2" in screen
    assert out.decode().startswith("{") and b"\x1b" not in out


def test_diagrams_are_opt_in_and_escaped() -> None:
    plain = kvmplan("analyze", str(EXAMPLE), "-q").stdout
    assert "```mermaid" not in plain
    with_diagrams = kvmplan("analyze", str(EXAMPLE), "-q", "--diagrams").stdout
    blocks = re.findall(r"```mermaid\n(.*?)```", with_diagrams, re.S)
    assert blocks
    notes = [ln.split(": ", 1)[1] for b in blocks for ln in b.splitlines()
             if ln.strip().startswith("Note over")]
    assert notes
    for note in notes:
        bare = re.sub(r"#\d+;", "", note)      # mermaid entity codes
        assert not re.search(r"->|--|[\[\];#<>{}\"`]", bare), note
    assert any("#91;" in n for n in notes)          # [STARTING] survives as entities
