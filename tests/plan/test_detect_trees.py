"""Detectors on the real trees (acceptance 1 and 2): statuses with evidence
that points at real lines of the tree."""

from __future__ import annotations

from pathlib import Path

from kvmplan.plan import DONE, NOT_DONE, STEPS, SUPERSEDED

IDS = [s.id for s in STEPS]


def _check_evidence(plan, root: Path) -> None:
    for sid, a in plan.statuses.items():
        assert a.evidence, f"step {sid} has no evidence"
        for e in a.evidence:
            assert e.file and e.line > 0 and e.function, (sid, e)
            lines = (root / e.file).read_text(errors="replace").splitlines()
            assert 0 < e.line <= len(lines), (sid, e)


def _texts(plan, sid: str) -> str:
    return "\n".join(f"{e.file}:{e.line} {e.function} {e.text}" for e in plan.statuses[sid].evidence)


def test_61_every_step_not_done_with_evidence(kernel_tree, plan_of) -> None:
    plan = plan_of("6.1", stages=False)
    assert [plan.statuses[i].status for i in IDS] == [NOT_DONE] * 6
    _check_evidence(plan, kernel_tree("6.1"))
    # the facts each verdict rests on
    assert "kvm_user_return_msr_cpu_online() is called from the per-CPU enable hook " \
           "kvm_arch_hardware_enable()" in _texts(plan, "1")
    assert "IPI context" in _texts(plan, "1")
    assert "kvm_usage_count++ under kvm_count_lock" in _texts(plan, "2")
    assert "CPUHP_AP_KVM_STARTING [STARTING]" in _texts(plan, "3")
    assert "kvm_reboot() is a reboot notifier" in _texts(plan, "3")
    assert "calls kvm_arch_post_init_vm(kvm) under no lock" in _texts(plan, "4")
    assert "global cpumask cpus_hardware_enabled" in _texts(plan, "5a")
    assert "hardware_enable_all() is static" in _texts(plan, "5b")


def test_612_statuses_and_evidence(kernel_tree, plan_of) -> None:
    plan = plan_of("6.12", stages=False)
    got = {i: plan.statuses[i].status for i in IDS}
    assert got == {
        "1": NOT_DONE,       # still snapshotted in kvm_arch_enable_virtualization_cpu()
        "2": SUPERSEDED,     # kvm_count_lock gone, but kvm_usage_lock instead of kvm_lock
        "3": SUPERSEDED,     # no per-transition hooks; ONLINE + cpuhp_setup_state instead
        "4": NOT_DONE,       # kvm_arch_post_init_vm() outside kvm_lock, no count
        "5a": SUPERSEDED,    # common enabling kept and exposed instead
        "5b": DONE,          # kvm_enable_virtualization() exported, per-CPU bool, -EIO
    }
    _check_evidence(plan, kernel_tree("6.12"))
    assert "kvm_arch_enable_virtualization_cpu()" in _texts(plan, "1")
    assert "IPI" not in _texts(plan, "1")
    assert "kvm_usage_count++ under kvm_usage_lock" in _texts(plan, "2")
    assert plan.statuses["2"].criteria[0].met                  # kvm_count_lock is gone
    assert "CPUHP_AP_KVM_ONLINE [ONLINE]: kvm_online_cpu() returns the enable result" \
        in _texts(plan, "3")
    assert "cpuhp_setup_state()" in _texts(plan, "3")
    assert "kvm_shutdown() is syscore .shutdown" in _texts(plan, "3")
    assert "calls kvm_arch_post_init_vm(kvm) under no lock" in _texts(plan, "4")
    assert "per-CPU variable virtualization_enabled" in _texts(plan, "5a")
    assert "compiled only when the arch selects KVM_GENERIC_HARDWARE_ENABLING" \
        in _texts(plan, "5a")
    assert "kvm_enable_virtualization() is" in _texts(plan, "5b")


def test_612_facts_the_detectors_rely_on(kernel_tree) -> None:
    """What the 6.12 statuses rest on, read straight from the source."""
    src = (kernel_tree("6.12") / "virt/kvm/kvm_main.c").read_text()
    x86 = (kernel_tree("6.12") / "arch/x86/kvm/x86.c").read_text()
    assert "kvm_count_lock" not in src and "DEFINE_MUTEX(kvm_usage_lock)" in src
    assert "cpus_hardware_enabled" not in src and "DEFINE_PER_CPU(bool, virtualization_enabled)" in src
    assert "kvm_arch_post_init_vm(kvm)" in src and "kvm_arch_add_vm" not in src
    assert "EXPORT_SYMBOL_GPL(kvm_enable_virtualization)" in src
    body = x86[x86.index("int kvm_arch_enable_virtualization_cpu(void)"):]
    assert "kvm_user_return_msr_cpu_online();" in body[:600]
