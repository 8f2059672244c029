"""Mail-only: every corpus series applies to the bundled baselines without raising."""

from __future__ import annotations

from pathlib import Path

import pytest
from baseline_helpers import CORPUS

from kvmplan.baseline import load, select
from kvmplan.diagnostics import Diagnostic
from kvmplan.mail import assemble, load_messages

SERIES = sorted(CORPUS.glob("*.mbox"))


@pytest.mark.skipif(not SERIES, reason="corpus not found")
@pytest.mark.parametrize("mbox", SERIES, ids=lambda p: p.stem)
def test_corpus_series_mail_only(mbox: Path) -> None:
    messages, diags = load_messages(mbox)
    series = assemble(messages, diagnostics=diags)
    chosen, reason = select(series.base_commit)
    assert reason and chosen.info.name in ("linux-6.1", "linux-6.12")
    for baseline in (chosen, load("linux-6.1")):
        state = baseline.start()
        for patch in series.patches:
            state, outcomes, found = state.apply(patch.files, f"patch {patch.index}")
            assert all(isinstance(d, Diagnostic) and d.text.startswith(f"patch {patch.index}")
                       for d in found)
            assert [o.path for o in outcomes] == [f.path for f in patch.files]
        assert state.graph().entries


def test_rework_v2_picks_newest_and_says_why() -> None:
    messages, diags = load_messages(CORPUS / "kvm-rework-kvm-init-v2.mbox")
    series = assemble(messages, diagnostics=diags)
    baseline, reason = select(series.base_commit)
    assert baseline.info.name == "linux-6.12"
    assert reason == "base-commit 3e04435fe605 unknown: newest baseline"
