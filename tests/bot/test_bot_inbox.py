"""Acceptance 1: the whole shared corpus as a public-inbox v2 archive (one
commit per mail, blob `m`), read with git. Exactly one reply set per series
version; a second run adds nothing; the v1 and v2 of the rework series,
arriving later, are two separate reviews; replies never trigger one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bothelp import (
    REWORK,
    SMALL,
    corpus,
    events,
    make_inbox,
    replies_by_series,
    run_bot,
    series_rows,
    snapshot,
)

# end to end: real bot processes that analyse real series
pytestmark = pytest.mark.slow


def test_public_inbox_archive_one_review_per_series_version(tmp_path: Path) -> None:
    inbox = tmp_path / "kvm"
    repo = inbox / "git" / "0.git"
    repo.parent.mkdir(parents=True)
    make_inbox(repo, corpus(*SMALL))                     # 23 mails: 3 series + replies
    out = tmp_path / "out"

    r = run_bot(inbox, out)
    assert r.returncode == 0, r.stderr
    rows = series_rows(out)
    assert [(r["title"], r["version"], r["status"]) for r in rows] == [
        ("KVM: x86/mmu: pte_list_desc fix and cleanups", 1, "replied"),
        ("KVM: Refactor CPU compatibility check on module initialization", 8, "replied"),
        ("Improve KVM's interaction with CPU hotplug", 4, "replied"),
    ]
    end = [e for e in events(out) if e["event"] == "pass.end"][-1]
    assert (end["read"], end["new"], end["reviewed"]) == (23, 23, 3)
    sets = replies_by_series(out)
    assert len(sets) == 3 and all(
        sum(n.endswith("-0000-series") for n in names) == 1 for names in sets.values())
    first = snapshot(out)

    r = run_bot(inbox, out)                              # again: nothing new
    assert r.returncode == 0, r.stderr
    end = [e for e in events(out) if e["event"] == "pass.end"][-1]
    assert (end["read"], end["reviewed"]) == (0, 0)
    assert snapshot(out) == first

    # v1 and v2 of "KVM: Rework kvm_init() and hardware enabling" arrive, with
    # 26 review replies to v2: two new series, two reviews.
    make_inbox(repo, corpus(*REWORK), append=True)
    r = run_bot(inbox, out)
    assert r.returncode == 0, r.stderr
    rows = series_rows(out)
    assert len(rows) == 5
    v1, v2 = rows[3], rows[4]
    assert (v1["title"], v1["version"], v1["expected"], v1["status"]) == (
        "KVM: Rework kvm_init() and hardware enabling", 1, 44, "replied")
    assert (v2["title"], v2["version"], v2["expected"], v2["status"]) == (
        "KVM: Rework kvm_init() and hardware enabling", 2, 50, "replied")
    assert v1["name"] != v2["name"] and v1["incomplete"] == v2["incomplete"] == ""
    end = [e for e in events(out) if e["event"] == "pass.end"][-1]
    assert (end["read"], end["new"], end["reviewed"]) == (45 + 51 + 26, 45 + 51 + 26, 2)

    after = snapshot(out)
    assert {k: v for k, v in after.items() if k in first} == first   # earlier outputs untouched
    sets = replies_by_series(out)
    assert len(sets) == 5
    for name in (v1["name"], v2["name"]):
        assert sum(n.endswith("-0000-series") for n in sets[name]) == 1
        checks = [k for k in after if k.startswith(f"checks/{name}/")]
        assert len(checks) == (44 if name == v1["name"] else 50)
        assert f"reviews/{name}.md" in after
    # v2 fixes the seed-000 findings (the mail-only verdict of `kvmplan analyze`)
    review = json.loads(after[f"reviews/{v2['name']}.json"])
    status = {(f["rule"], f["status"]) for f in review["findings"]}
    assert status >= {("KVM001", "fixed"), ("KVM004", "fixed"), ("KVM005", "fixed"),
                      ("KVM006", "fixed")}
    assert not {s for _, s in status} & {"introduced", "transient"}

    r = run_bot(inbox, out)
    assert r.returncode == 0, r.stderr
    assert snapshot(out) == after
