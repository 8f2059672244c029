"""A --tree holding a link out of the tree and a FIFO: each is skipped and
reported in one line; nothing outside is read, nothing blocks, the rest is
analysed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PATCH = """\
From: A <a@example.org>
Subject: [PATCH] KVM: a comment
Message-ID: <hazard@example.org>

A comment.
---
diff --git a/virt/kvm/kvm_main.c b/virt/kvm/kvm_main.c
--- a/virt/kvm/kvm_main.c
+++ b/virt/kvm/kvm_main.c
@@ -1,4 +1,5 @@
 static int kvm_dummy(void)
 {
+\t/* a comment */
 \treturn 0;
 }
"""


@pytest.fixture()
def hazardous_tree(tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    (tree / "virt" / "kvm").mkdir(parents=True)
    (tree / "arch" / "x86" / "kvm").mkdir(parents=True)
    (tree / "virt" / "kvm" / "kvm_main.c").write_text(
        "static int kvm_dummy(void)\n{\n\treturn 0;\n}\n", encoding="utf-8")
    secret = tmp_path / "outside.c"
    secret.write_text("int outside_the_tree(void) { return 1; }\n", encoding="utf-8")
    os.symlink(secret, tree / "virt" / "kvm" / "escape.c")
    os.mkfifo(tree / "arch" / "x86" / "kvm" / "fifo.c")      # opening it would block
    return tree


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kvmplan", *args], capture_output=True,
                          text=True, timeout=120, cwd=ROOT)


def test_links_out_and_fifos_are_reported_and_skipped(hazardous_tree: Path, tmp_path: Path) -> None:
    patch = tmp_path / "one.patch"
    patch.write_text(PATCH, encoding="utf-8")
    got = _run("analyze", str(patch), "--tree", str(hazardous_tree), "-f", "text")
    # a comment in a function the model does not run: analysed, judged nothing (exit 3)
    assert got.returncode == 3, got.stderr
    assert "hunks 1 exact" in got.stdout
    assert "kvmplan: warning: virt/kvm/escape.c: a link that leaves the tree; not read" in got.stderr
    assert "kvmplan: warning: arch/x86/kvm/fifo.c: not a regular file; not read" in got.stderr
    graph = _run("graph", "--tree", str(hazardous_tree), "--format", "json")
    assert graph.returncode == 0, graph.stderr
    assert "outside_the_tree" not in graph.stdout
    assert "escape.c: a link that leaves the tree" in graph.stderr


def test_a_cache_others_can_write_is_never_loaded(tmp_path: Path) -> None:
    """A planted pickle in a group/world-writable cache is refused with one
    line, never run; a private cache is used."""
    from kvmplan import pickles

    shared = tmp_path / "shared-cache"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    target = shared / "model" / "ab" / "planted.pickle"
    target.parent.mkdir(parents=True)
    marker = tmp_path / "ran"

    class Planted:
        def __reduce__(self):
            return (Path.touch, (marker,))

    import pickle
    target.write_bytes(pickle.dumps(Planted()))
    assert pickles.load(target, shared) is None
    assert not marker.exists()
    private = tmp_path / "private"
    pickles.store(private / "model" / "ab" / "x.pickle", {"ok": 1}, private)
    assert oct(private.stat().st_mode & 0o777) == "0o700"
    assert pickles.load(private / "model" / "ab" / "x.pickle", private) == {"ok": 1}
    # and the CLI says so in one line, and still works
    env = dict(os.environ, KVMPLAN_CACHE=str(shared))
    got = subprocess.run([sys.executable, "-m", "kvmplan", "analyze", "-q", "-f", "text",
                          str(ROOT / "fixtures" / "patches" / "example-online-series.mbox")],
                         capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)
    assert got.returncode == 0
    assert got.stderr.count("is writable by group or others: not used") == 1, got.stderr
