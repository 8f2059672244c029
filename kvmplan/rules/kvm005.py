"""KVM005 hotplug-window: per-CPU work over online CPUs misses no CPU."""

from __future__ import annotations

from kvmplan.rules import Rule

_WHAT = """\
A cross call (on_each_cpu, smp_call_function*) or a for_each_online_cpu
pass that does per-CPU enabling work (vendor enable, TDX per-CPU init) is
issued without cpu_hotplug_lock held, while a cpu_up() of another CPU is
in progress that the pass does not reach, and the hotplug callbacks that
CPU still has to run do not do that work either. The CPU then finishes
coming online without it: the callback that covers later CPUs is not
registered yet, or does not exist."""

_WHY = """\
A pass over cpu_online_mask sees a snapshot. Without cpus_read_lock(), a
CPU can be half way up: too late for the pass, and past (or ahead of)
the callback that would fix it up. Before 6.3, hardware_enable_all()
sent on_each_cpu() holding only kvm_count_lock: a CPU whose STARTING
callback had already seen kvm_usage_count == 0, but that was not yet in
cpu_online_mask, was missed by both. Chao Gao's series, linked by Sean
in
https://lore.kernel.org/r/YvU+6fdkHaqQiKxp@google.com,
closed it in 6.3 ("KVM: Disable CPU hotplug during hardware
enabling/disabling"). In the 2024 TDX series
(https://lore.kernel.org/r/461b78c38ffb3e59229caa806b6ed22e2c847b77.camel@intel.com),
TDX per-CPU init was done over the online CPUs during hardware setup,
while the hotplug callback that covers later CPUs was only registered
later, by kvm_init()."""

_EXAMPLE = """\
    static int hardware_enable_all(void)
    {
        raw_spin_lock(&kvm_count_lock);        /* no cpus_read_lock() */
        if (++kvm_usage_count == 1)
            on_each_cpu(hardware_enable_nolock, NULL, 1);
        raw_spin_unlock(&kvm_count_lock);
        return 0;
    }
    /* enabling callback registered at CPUHP_AP_KVM_STARTING */

Trace shape: cpu_up(CPU1) runs the STARTING callback while
kvm_usage_count is 0; VM creation then sends on_each_cpu() to CPU0 only;
CPU1 is marked online with virtualization off. The finding points at the
on_each_cpu() line (KVM001 follows once CPU1 is schedulable)."""

_FIX = """\
Hold cpus_read_lock() across the pass, and have the hotplug callback
registered before the pass or in the same cpus_read_lock() section
(cpuhp_setup_state() does both: it registers and runs the callback on
every online CPU), so each CPU is either reached by the pass or runs the
callback afterwards."""

RULE: Rule = Rule(
    code="KVM005",
    name="hotplug-window",
    severity="warning",
    summary="Per-CPU enabling over online CPUs misses no CPU coming up.",
    what=_WHAT,
    why=_WHY,
    example=_EXAMPLE,
    fix=_FIX,
    checked="model: checked at each cross call or online-CPU pass against "
    "overlapping cpu_up(); a CPU onlined after a pass that held "
    "cpus_read_lock() is left to KVM001/KVM014.",
)
