"""KVM002 no-enable-without-user: virtualization is off when nobody uses KVM."""

from __future__ import annotations

from kvmplan.rules import Rule

_WHAT = """\
In every quiescent state (no thread is inside KVM code), no CPU has
virtualization on while kvm_usage_count is 0. The rule does not apply when
a lifecycle module parameter turns virtualization on at load
(enable_virt_at_load=true): then "on without a VM" is the configuration."""

_WHY = """\
VMX and SVM can be owned by one hypervisor per CPU. While KVM sits in
VMX operation, an out-of-tree hypervisor (VirtualBox, VMware) cannot
start, and KVM's own enable returns -EBUSY when it finds VMX already on.
KVM therefore enables when the first VM is created and disables when the
last one is destroyed. Sean's 2022 review of the TDX compatibility-check
patch is about keeping that: a temporary enable on all CPUs during
module load must be undone before init returns
(https://lore.kernel.org/r/YvU+6fdkHaqQiKxp@google.com).
Typical leaks: an enable on a failure path that is never disabled, or an
online callback that enables without looking at the usage count."""

_EXAMPLE = """\
    static int kvm_online_cpu(unsigned int cpu)
    {
        return __hardware_enable_nolock();    /* ignores kvm_usage_count */
    }

Trace shape: no VM exists; cpu_up(CPU1) runs the callback, which turns
virtualization on; when the hotplug thread has left KVM code, the finding
names CPU1 with virtualization on and kvm_usage_count 0."""

_FIX = """\
Guard every per-CPU enable by the usage count, read under the lock that
protects it, and on each failure path disable what was enabled before
dropping the count. If virtualization is meant to be on from load, make
that explicit with enable_virt_at_load."""

RULE: Rule = Rule(
    code="KVM002",
    name="no-enable-without-user",
    severity="warning",
    summary="Virtualization is not left on while KVM has no user.",
    what=_WHAT,
    why=_WHY,
    example=_EXAMPLE,
    fix=_FIX,
    checked="model: predicate on quiescent states; skipped when the tree "
    "enables at load (enable_virt_at_load, on by default in 6.12).",
)
