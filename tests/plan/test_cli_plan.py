"""`kvmplan plan`: formats, byte-identical output, the committed example,
and one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from plantest_helpers import ROOT, V2

FIXTURE = ROOT / "fixtures" / "plan-6.1.md"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    """The real console path (kvmplan.cli.main), as `python -m kvmplan`."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return subprocess.run([sys.executable, "-m", "kvmplan", "plan", *args], capture_output=True,
                          text=True, check=False, env=env, cwd=ROOT)


def test_json_schema_and_determinism(kernel_tree) -> None:
    tree = str(kernel_tree("6.12"))
    one = run("--tree", tree, "--format", "json")
    two = run("--tree", tree, "--format", "json")
    assert one.returncode == 0, one.stderr
    assert one.stdout == two.stdout
    data = json.loads(one.stdout)
    assert data["schema"] == "kvmplan.plan/1"
    assert [s["id"] for s in data["steps"]] == ["1", "2", "3", "4", "5a", "5b"]
    for s in data["steps"]:
        assert set(s) >= {"id", "status", "evidence", "requires"}
        assert s["evidence"] and set(s["evidence"][0]) == {"function", "file", "line", "text"}
    by_id = {s["id"]: s for s in data["steps"]}
    assert by_id["3"]["requires"] == ["1", "2"] and by_id["5a"]["excludes"] == ["5b"]
    assert [s["steps"] for s in data["stages"]] == [["1"], ["4"]]
    for st in data["stages"]:
        assert set(st) >= {"steps", "resolves", "introduces"}
    assert [i["rule"] for i in data["stages"][1]["resolves"]] == ["KVM006"]


def test_markdown_61_is_the_committed_example(baseline_tree) -> None:
    got = run("--tree", str(baseline_tree("6.1")), "--format", "markdown")
    assert got.returncode == 0, got.stderr
    assert got.stdout == FIXTURE.read_text(encoding="utf-8"), (
        "the 6.1 plan changed: review it, then regenerate fixtures/plan-6.1.md with "
        "`python -m kvmplan plan --tree <linux-6.1> > fixtures/plan-6.1.md`")


def test_text_with_the_v2_series_maps_patches(kernel_tree) -> None:
    if not V2.is_file():
        pytest.skip(f"{V2} not found: ../shared is not beside the repository")
    got = run("--tree", str(kernel_tree("6.1")), str(V2), "--format", "text", "--no-stages")
    assert got.returncode == 0, got.stderr
    lines = [ln for ln in got.stdout.splitlines() if ln.startswith("patch ")]
    assert lines == [
        "patch 41/50: KVM: Rename and move CPUHP_AP_KVM_STARTING to ONLINE section: advances 3",
        "patch 42/50: KVM: Disable CPU hotplug during hardware enabling/disabling: advances 2, 3",
        ("patch 44/50: KVM: Drop kvm_count_lock and instead protect kvm_usage_count with "
         "kvm_lock: advances 2"),
        ("patch 46/50: KVM: Use a per-CPU variable to track which CPUs have enabled "
         "virtualization: advances 5a, 5b"),
        ("patch 47/50: KVM: Make hardware_enable_failed a local variable in the \"enable all\" "
         "path: advances 5b"),
        "patch 49/50: KVM: Opt out of generic hardware enabling on s390 and PPC: advances 5a",
    ]


def test_errors_are_one_line(kernel_tree, tmp_path: Path) -> None:
    tree = str(kernel_tree("6.12"))
    empty = tmp_path / "empty.mbox"
    empty.write_text("")
    cases = [
        (["--format", "markdown"], "no tree"),
        (["--tree", str(tmp_path)], "not a kernel tree"),
        (["--tree", tree, "--format", "xml"], "unknown --format"),
        (["--tree", tree, "--vendor", "amd"], "unknown --vendor"),
        (["--tree", tree, "--cpus", "9"], "--cpus"),
        (["--tree", tree, str(tmp_path / "missing.mbox")], "missing.mbox"),
        (["--tree", tree, str(empty)], "empty.mbox"),
    ]
    for args, needle in cases:
        got = run(*args)
        assert got.returncode == 2, (args, got.stdout, got.stderr)
        assert got.stdout == ""
        assert got.stderr.startswith("kvmplan: error: ") and got.stderr.count("\n") == 1, got.stderr
        assert needle in got.stderr and "Traceback" not in got.stderr
