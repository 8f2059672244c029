"""The v2 rework series applied to the 6.1 tree (acceptance 3): each patch
that advances a step is mapped to it, and only those."""

from __future__ import annotations

from dataclasses import replace

from plantest_helpers import v2_series

from kvmplan.plan import DONE, NOT_DONE, PARTIAL
from kvmplan.plan.series import map_series
from kvmplan.source import SourceTree

# patch k → the steps it advances (reviewed against the patches themselves)
EXPECTED = {
    41: {"3"},          # CPUHP_AP_KVM_STARTING → ONLINE: the hotplug enable can fail
    42: {"2", "3"},     # cpus_read_lock() around enable/disable all: hotplug excluded
    44: {"2"},          # kvm_count_lock → kvm_lock
    46: {"5a", "5b"},   # cpus_hardware_enabled → per-CPU bool
    47: {"5b"},         # the per-CPU enable returns its error (no global atomic)
    49: {"5a"},         # KVM_GENERIC_HARDWARE_ENABLING: archs can opt out
}


def test_v2_patches_map_to_steps(plan_of) -> None:
    plan = plan_of("6.1", series=True, stages=False)
    assert plan.series is not None
    got = {p.index: {a.step for a in p.advances} for p in plan.series.patches if p.advances}
    assert got == EXPECTED
    assert not any(p.regresses for p in plan.series.patches)
    assert len(plan.series.patches) == 50
    by_index = {p.index: p for p in plan.series.patches}
    step2 = {a.step: a for a in by_index[44].advances}["2"]
    assert (step2.before, step2.after) == (PARTIAL, DONE)
    assert "kvm_count_lock is gone" in step2.criteria
    step3 = {a.step: a for a in by_index[42].advances}["3"]
    assert step3.criteria == ("enabling on all CPUs excludes CPU hotplug",)


def test_v2_end_state(plan_of) -> None:
    plan = plan_of("6.1", series=True, stages=False)
    got = {k: a.status for k, a in plan.statuses.items()}
    # step 3: hotplug handled another way (ONLINE, cpus_read_lock), but reboot still
    # goes through a reboot notifier that an enable can race past (KVM009)
    assert got == {"1": NOT_DONE, "2": DONE, "3": PARTIAL, "4": NOT_DONE,
                   "5a": PARTIAL, "5b": PARTIAL}


def test_patches_apply_in_memory_only(kernel_tree) -> None:
    root = kernel_tree("6.1")
    before = (root / "virt/kvm/kvm_main.c").read_bytes()
    series = v2_series()
    small = replace(series, patches=series.patches[40:44])
    mapped = map_series(SourceTree(root), small)
    assert (root / "virt/kvm/kvm_main.c").read_bytes() == before
    text = mapped.tree.read("virt/kvm/kvm_main.c")
    assert text is not None and b"CPUHP_AP_KVM_ONLINE" in text
    outcomes = {f.path: f.outcome for p in mapped.patches for f in p.files}
    assert outcomes["virt/kvm/kvm_main.c"] in ("applied", "offset")
