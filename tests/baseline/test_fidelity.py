"""How close a patched baseline is to the patched real tree.

The v2 rework series (50 patches) is applied to the linux-6.1 baseline and,
as text, to the Debian 6.1 tree, patch by patch. After each patch the
functions the model runs (build_program over each graph) are compared
event stream by event stream.

Measured (2026-11): 7436 of 7436 (function, prefix) pairs equal; over every
function of the graph 173006 of 173023 (the rest: one call in lapic.c whose
arguments continue past its hunk, which no hunk-only view can know).

Floor 0.99: one lifecycle function spliced wrong early in the series stays
wrong in every later prefix, and costs ~0.5% (about 150 functions over 50
prefixes); two such errors fail the test. The hunk placements and the cpuhp
registrations (sections included: the STARTING -> ONLINE move KVM004 is
about) must match at every prefix.
"""

from __future__ import annotations

from baseline_helpers import CORPUS

from kvmplan.baseline.extract import is_tracked
from kvmplan.diff.apply import apply_file
from kvmplan.graph import build_graph
from kvmplan.mail import assemble, load_messages
from kvmplan.model import build_program
from kvmplan.source import SourceTree

FLOOR = 0.99


def test_rework_v2_on_61_matches_the_patched_tree(tree_baseline) -> None:
    root, baseline = tree_baseline("6.1")     # the bundled one, or built from this release
    tree = SourceTree(root)
    messages, diags = load_messages(CORPUS / "kvm-rework-kvm-init-v2.mbox")
    series = assemble(messages, diagnostics=diags)
    assert len(series.patches) == 50
    state = baseline.start()
    overlay: dict[str, bytes | None] = {}
    equal = total = 0
    onlined_by = None
    previous: tuple[int, int] | None = None
    for patch in series.patches:
        touched = False
        real_results = {}
        for fp in patch.files:
            old = overlay[fp.path] if fp.path in overlay else tree.read(fp.path)
            if old is None and not fp.is_new:
                continue
            result = apply_file(fp, None if old is None else old.decode("utf-8", "replace"))
            overlay[fp.path] = None if result.text is None else result.text.encode()
            real_results[fp.path] = result.hunks
            touched |= is_tracked(fp.path)
        state, outcomes, _ = state.apply(patch.files, f"patch {patch.index}/50")
        for outcome in outcomes:
            if not outcome.skipped:
                assert outcome.hunks == real_results[outcome.path], (patch.index, outcome.path)
        if touched or previous is None:
            real = build_graph(tree.with_overlay(overlay))
            mine = state.graph()
            key = lambda r: (r.state, r.section, r.startup, r.teardown, r.registered_by)
            assert sorted(map(key, mine.cpuhp)) == sorted(map(key, real.cpuhp)), patch.index
            want, got = build_program(real).functions, build_program(mine).functions
            names = set(want) | set(got)
            same = sum(1 for n in names if n in want and n in got and want[n].events == got[n].events)
            previous = (same, len(names))
            if onlined_by is None and any(r.section == "ONLINE" and r.state == "CPUHP_AP_KVM_ONLINE"
                                          for r in mine.cpuhp):
                onlined_by = patch.index
        equal += previous[0]
        total += previous[1]
    fraction = equal / total
    print(f"fidelity: {equal}/{total} = {fraction:.4f}")
    assert onlined_by == 41          # "KVM: Rename and move CPUHP_AP_KVM_STARTING to ONLINE section"
    assert fraction >= FLOOR, f"{equal}/{total} = {fraction:.4f}"
