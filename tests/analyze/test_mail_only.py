"""Mail-only analysis (no tree): every corpus series is analysed against a
bundled baseline, which the review names; on the v2 rework series the
verdict equals the one against the real 6.1 tree."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kvmplan.cli import app

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
CORPUS = sorted((SHARED / "corpus" / "mail").glob("*.mbox"))


@pytest.mark.parametrize("mbox", CORPUS, ids=lambda p: p.name)
def test_every_corpus_series_runs_mail_only(mbox: Path):
    result = CliRunner().invoke(app, ["analyze", str(mbox), "-f", "json", "-q",
                                      "--fail-on", "never"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["base"]["mode"] == "baseline"
    assert data["base"]["name"].startswith("baseline linux-6.")
    assert data["base"]["reason"]
    if data["series"]["patches"]:
        a = data["apply"]
        assert a["exact"] + a["offset"] + a["fuzz"] + a["present"] > a["failed"]


def test_v2_mail_only_matches_the_tree_verdict(kernel_tree):
    v2 = SHARED / "corpus" / "mail" / "kvm-rework-kvm-init-v2.mbox"
    runner = CliRunner()
    mail = json.loads(runner.invoke(app, ["analyze", str(v2), "-f", "json", "-q"]).stdout)
    assert "places best on linux-6.1" in mail["base"]["reason"]
    tree = json.loads(runner.invoke(app, ["analyze", str(v2), "-f", "json", "-q", "--no-plan",
                                          "--tree", str(kernel_tree("6.1"))]).stdout)

    def verdict(d):
        return sorted((f["rule"], f["status"], f["patch"], f["location"]["function"])
                      for f in d["findings"])
    assert verdict(mail) == verdict(tree)
    assert ("KVM004", "fixed", 41, "kvm_arch_hardware_enable") in verdict(mail)
