"""Seed 003's case (KVM015): a VM-wide value vCPU creation reads
(kvm->arch.max_vcpu_ids, in kvm_arch_vcpu_precreate()) made settable by a
VM ioctl after vCPUs exist is reported as introduced, at the write the
patch makes possible; its twin, which refuses once a vCPU exists
(kvm->created_vcpus), is judged clean. Both mail-only (the bundled 6.12
baseline) and against a Debian 6.12 tree."""

from __future__ import annotations

from pathlib import Path

import pytest

from kvmplan.analyze import Config, analyze, open_base
from kvmplan.analyze.run import Review
from kvmplan.mail import assemble, load_messages
from kvmplan.model import Bounds

PATCHES = Path(__file__).resolve().parents[2] / "fixtures" / "patches"
SETTABLE = PATCHES / "seed-003-max-vcpu-id-settable.mbox"
REFUSED = PATCHES / "seed-003-max-vcpu-id-refused-once-vcpus.mbox"


def _review(mbox: Path, tree: Path | None) -> Review:
    messages, diags = load_messages(str(mbox))
    series = assemble(messages, diagnostics=diags)
    base = open_base(str(tree) if tree else None, series)
    return analyze(series, base, bounds=Bounds(), config=Config(), jobs=2)


def _kvm015(review: Review) -> list[tuple[str, int | None, str, str]]:
    """The KVM015 findings the series changes (the base's own, the VM-scoped
    KVM_SET_TSC_KHZ in kvm_arch_vm_ioctl(), stays pre-existing)."""
    return [(t.status, t.introduced_by, t.function, t.file) for t in review.findings
            if t.rule == "KVM015" and t.status != "pre-existing"]


def _check(settable: Review, refused: Review) -> None:
    assert settable.verdict.kind == "findings"
    assert _kvm015(settable) == [("introduced", 1, "kvm_vm_ioctl_enable_cap", "arch/x86/kvm/x86.c")]
    found = next(t for t in settable.findings if t.rule == "KVM015" and t.status == "introduced")
    assert "kvm->arch.max_vcpu_ids" in found.message and "kvm_arch_vcpu_precreate()" in found.message
    steps = [s.event for s in found.trace]
    # the trace creates a vCPU, then the patched KVM_ENABLE_CAP case writes
    assert any("switch: case KVM_CREATE_VCPU" in s for s in steps)
    assert any("switch: case KVM_CAP_MAX_VCPU_ID" in s for s in steps)
    assert steps[-1].startswith("kvm->arch.max_vcpu_ids = ")
    assert refused.verdict.kind == "clean", refused.verdict
    assert _kvm015(refused) == []
    assert [(t.function, t.status) for t in refused.findings if t.rule == "KVM015"] == \
        [("kvm_arch_vm_ioctl", "pre-existing")]
    # the same pre-existing findings on both: the twin changes nothing else
    assert {(t.rule, t.status) for t in settable.findings if t.status != "introduced"} == \
        {(t.rule, t.status) for t in refused.findings}


@pytest.mark.slow
def test_seed_003_mail_only() -> None:
    settable, refused = _review(SETTABLE, None), _review(REFUSED, None)
    assert settable.base.startswith("baseline linux-6.12")
    _check(settable, refused)


@pytest.mark.slow
def test_seed_003_on_the_612_tree(kernel_tree) -> None:
    tree = kernel_tree("6.12")
    _check(_review(SETTABLE, tree), _review(REFUSED, tree))
