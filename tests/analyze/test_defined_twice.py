"""A series that defines a lifecycle function a second time (a strong
definition the kernel would not link): which one the graph takes must not
decide a verdict. The review says so in one diagnostic line naming the
function, both definitions and the patch, and every finding through the
function is uncertain, whichever definition the graph took. The ways the
kernel links a name twice (VMX and SVM, a __weak default and its override,
static functions) give no such line. Base: fixtures/trees/dup-defs."""

from __future__ import annotations

from pathlib import Path

import pytest

from kvmplan.analyze import BaseChoice, Config, Review, analyze
from kvmplan.analyze.tree import TreeState
from kvmplan.mail import Series, assemble, load_messages
from kvmplan.model import Bounds
from kvmplan.source import SourceTree

ROOT = Path(__file__).resolve().parents[2]
TREE = ROOT / "fixtures" / "trees" / "dup-defs"
DUPLICATE = ROOT / "fixtures" / "patches" / "duplicate-kvm-init.mbox"
LINKABLE = ROOT / "fixtures" / "patches" / "vendor-and-weak-defs.mbox"
# the findings of the base, all through kvm_init()
BASE_RULES = ["KVM001", "KVM004", "KVM008", "KVM010"]


def _series(mbox: Path) -> Series:
    messages, diags = load_messages(str(mbox))
    return assemble(messages, diagnostics=diags)


def _review(series: Series, vendor: str = "vmx", state: TreeState | None = None) -> Review:
    base = BaseChoice(state or TreeState(SourceTree(TREE)), "tree dup-defs", "test", "tree", "")
    return analyze(series, base, bounds=Bounds(), config=Config(), vendor=vendor)


def _twice(review: Review) -> list[str]:
    return [d.text for d in review.diagnostics if "definition of" in d.text]


def _moved(tmp_path: Path, path: str) -> Path:
    """The duplicate series with its new file at `path`."""
    out = tmp_path / "moved.mbox"
    out.write_text(DUPLICATE.read_text(encoding="utf-8").replace("arch/x86/kvm/foo.c", path),
                   encoding="utf-8")
    return out


def test_the_base_findings_go_through_kvm_init() -> None:
    review = _review(_series(LINKABLE))
    assert sorted(t.rule for t in review.findings) == BASE_RULES
    for t in review.findings:
        assert "kvm_init" in {s.function for s in t.trace}, t.rule


def test_a_second_kvm_init_decides_no_verdict() -> None:
    """The graph takes the new stub (its file sorts first): the base's
    findings vanish, but none counts as fixed."""
    series = _series(DUPLICATE)
    review = _review(series)
    assert _twice(review) == [
        "patch 1/1 adds a second definition of kvm_init() (arch/x86/kvm/foo.c:3; "
        "virt/kvm/kvm_main.c:80): the kernel would not link both (or they belong to different "
        "configs) and which one the model runs is arbitrary; findings through kvm_init() are "
        "uncertain"]
    warning = next(d for d in review.diagnostics if "definition of" in d.text)
    assert warning.severity == "warning"
    assert warning.message_id == series.patches[0].message_id
    assert sorted(t.rule for t in review.findings) == BASE_RULES
    for t in review.findings:
        assert t.status == "pre-existing" or t.uncertain, (t.rule, t.status)
        assert t.uncertain.startswith("kvm_init() has 2 definitions after patch 1 "
                                      "(arch/x86/kvm/foo.c:3; virt/kvm/kvm_main.c:80)"), t.uncertain
    assert review.verdict.kind != "findings"


def test_the_choice_the_other_way_is_uncertain_too(tmp_path: Path) -> None:
    """The new file sorts after kvm_main.c: the graph keeps the base's
    kvm_init(), the findings stay, and are uncertain all the same."""
    review = _review(_series(_moved(tmp_path, "virt/kvm/zz.c")))
    assert len(_twice(review)) == 1 and "(virt/kvm/kvm_main.c:80; virt/kvm/zz.c:3)" in _twice(review)[0]
    assert [(t.rule, t.status) for t in review.findings] == [(r, "pre-existing") for r in BASE_RULES]
    assert all(t.uncertain for t in review.findings)


@pytest.mark.parametrize("vendor", ["vmx", "svm"])
def test_names_the_kernel_links_twice_give_no_diagnostic(vendor: str) -> None:
    """VMX and SVM both define vendor_prepare(), kvm_arch_pre_init() is a
    __weak default with an x86 override, finish() is static in two files:
    all lifecycle functions, none uncertain."""
    series = _series(LINKABLE)
    review = _review(series, vendor)
    assert {"vendor_prepare", "kvm_arch_pre_init", "finish"} <= set(review.coverage.functions)
    assert _twice(review) == []
    assert [(t.rule, t.status, t.uncertain) for t in review.findings] == [
        (r, "pre-existing", "") for r in BASE_RULES]


def test_an_ambiguity_the_base_already_has_is_left_alone(tmp_path: Path) -> None:
    """The graph makes the same choice at every prefix: nothing to say."""
    moved = _series(_moved(tmp_path, "virt/kvm/zz.c"))
    base, _, _ = TreeState(SourceTree(TREE)).apply(moved.patches[0].files)
    assert set(base.graph().ambiguous) == {"kvm_init"}
    review = _review(_series(LINKABLE), state=base)
    assert _twice(review) == []
    assert [(t.rule, t.status, t.uncertain) for t in review.findings] == [
        (r, "pre-existing", "") for r in BASE_RULES]
