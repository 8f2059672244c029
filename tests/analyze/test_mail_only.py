"""Mail-only analysis (no tree): every corpus series is analysed against a
bundled baseline, which the review names; on the v2 rework series the
verdict equals the one against the real 6.1 tree."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kvmplan.analyze import BaseChoice, Config, analyze, open_base
from kvmplan.cli import app
from kvmplan.mail import assemble, load_messages
from kvmplan.model import Bounds

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
CORPUS = sorted((SHARED / "corpus" / "mail").glob("*.mbox"))


@pytest.mark.slow          # cold, the model runs of 7 series take minutes
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


@pytest.mark.slow
def test_v2_mail_only_places_on_61():
    v2 = SHARED / "corpus" / "mail" / "kvm-rework-kvm-init-v2.mbox"
    mail = json.loads(CliRunner().invoke(app, ["analyze", str(v2), "-f", "json", "-q"]).stdout)
    assert "places best on linux-6.1" in mail["base"]["reason"]
    assert mail["base"]["lines"].startswith("Linux 6.1.")
    assert ("KVM004", "fixed", 41) in {(f["rule"], f["status"], f["patch"])
                                       for f in mail["findings"]}


def test_v2_mail_only_matches_the_tree_verdict(tree_baseline):
    """The same series on the 6.1 tree and on a baseline of that tree (the
    bundled one when the tree is its release, else one built from the tree):
    the same findings, by the same patches, in the same functions."""
    root, baseline = tree_baseline("6.1")
    messages, diags = load_messages(str(SHARED / "corpus" / "mail" / "kvm-rework-kvm-init-v2.mbox"))
    series = assemble(messages, diagnostics=diags)
    mail_base = BaseChoice(baseline.start(), "baseline", "test", "baseline", "")
    mail = analyze(series, mail_base, bounds=Bounds(), config=Config(), jobs=2)
    tree = analyze(series, open_base(str(root), series), bounds=Bounds(), config=Config(), jobs=2)

    def verdict(review):
        return sorted((t.rule, t.status, t.patch, t.function) for t in review.findings)
    assert verdict(mail) == verdict(tree)
    assert ("KVM004", "fixed", 41, "kvm_arch_hardware_enable") in verdict(mail)
