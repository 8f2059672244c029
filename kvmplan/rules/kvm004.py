"""KVM004 enable-failure-handled: a failed per-CPU enable is never lost."""

from __future__ import annotations

from kvmplan.rules import Rule

_WHAT = """\
The vendor per-CPU enable may fail on any CPU (the model marks CPUs that
cannot enable). The rule breaks when it fails where nobody can act on it:
  - inside a STARTING cpuhp callback: IRQs are off, the return value is
    ignored and the CPU comes online anyway;
  - inside an on_each_cpu()/IPI callback that returns without recording
    the failure in shared state (an atomic, a flag, a cpumask) that the
    caller can read;
  - in a resume path that ignores it."""

_WHY = """\
A CPU that cannot enable virtualization must not carry vCPUs (KVM001).
Until 6.3 KVM enabled from CPUHP_AP_KVM_STARTING, where a VMXON or
compatibility-check failure could only be logged; 6.3 moved the callback
to the ONLINE section (CPUHP_AP_KVM_ONLINE) so the online is refused
instead. Kai Huang's 2025 review of the series that moves VMXON into x86
CPU bring-up makes the same objection
(https://lore.kernel.org/r/1301b802284ed5755fe397f54e1de41638aec49c.camel@intel.com).
on_each_cpu() discards the callback's return value, which is why
hardware_enable_all() counts failures in hardware_enable_failed. syscore
.resume returns void: 6.1's kvm_resume() called hardware_enable_nolock()
and nothing looked at the outcome; 6.12 at least wraps it in
WARN_ON_ONCE()."""

_EXAMPLE = """\
    static int kvm_starting_cpu(unsigned int cpu)    /* STARTING section */
    {
        raw_spin_lock(&kvm_count_lock);
        if (kvm_usage_count)
            enable_this_cpu(NULL);    /* failure counted, never read */
        raw_spin_unlock(&kvm_count_lock);
        return 0;
    }

CPU1 cannot enable; a VM exists when CPU1 comes online:

    x.c:29: error: KVM004 enable-failure-handled: vmx_hardware_enable
      fails on CPU1 inside a STARTING hotplug callback, where the failure
      can't stop the CPU from coming online
      in enable_this_cpu()
        1. [env CPU1] CPU1 can't enable virtualization
       ...
       20. [hotplug CPU0] cpu_up(CPU1) begins: cpu_hotplug_lock taken for write
       21. [hotplug CPU0] CPUHP_AP_KVM_STARTING [STARTING] startup on CPU1
       25. [hotplug CPU1] vmx_hardware_enable() on CPU1 fails

The same run reports KVM001 once CPU1 is schedulable."""

_FIX = """\
Enable from an ONLINE-section callback (CPUHP_AP_KVM_ONLINE, or
CPUHP_AP_ONLINE_DYN) and return the error, so the hotplug core rolls the
online back. In a cross call, record each failure (atomic counter,
cpumask) and have the caller check it and unwind. A resume callback
cannot fail: WARN, and keep the CPU's state consistent."""

RULE: Rule = Rule(
    code="KVM004",
    name="enable-failure-handled",
    severity="error",
    summary="A failure of the per-CPU enable is never dropped.",
    what=_WHAT,
    why=_WHY,
    example=_EXAMPLE,
    fix=_FIX,
    checked="model: checked at each failing vendor enable, from the context "
    "it runs in (cpuhp section, IPI, resume).",
)
