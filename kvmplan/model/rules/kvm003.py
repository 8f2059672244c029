"""KVM003 no-double-enable, error: Enable only where virtualization is off, disable only where on.

## What it checks

Checked at each call of the vendor per-CPU enable (vmx_hardware_enable,
vmx_enable_virtualization_cpu, the svm_* equivalents,
cpu_enable_virtualization, raw VMXON): the CPU it runs on must have
virtualization off. Each vendor disable must run on a CPU where it is on.

## Why it matters

VMXON on a CPU already in VMX operation fails, and KVM's vendor enable
bails out earlier with -EBUSY when CR4.VMXE (or EFER.SVME) is set, so a
spurious enable looks like broken hardware and fails VM creation or the
CPU online. VMXOFF outside VMX operation raises #UD. KVM's per-CPU flag
(cpus_hardware_enabled in older trees, later hardware_enabled and
virtualization_enabled) makes enable and disable idempotent, but only
when its test and its update cannot interleave with another enable on the
same CPU, e.g. an IPI from VM creation landing between the hotplug
callback's VMXON and its flag write.

## Example

    static void enable_ipi(void *ign)
    {
        /* no check of a per-CPU "enabled" flag */
        kvm_x86_call(enable_virtualization_cpu)();
    }

    /* kvm_create_vm(): */
    on_each_cpu(enable_ipi, NULL, 1);

Init already enabled every CPU through cpuhp_setup_state(ONLINE); VM
creation then enables them again:

    x.c:24: error: KVM003 no-double-enable: vmx_enable_virtualization_cpu
      runs on CPU0 where virtualization is already on
      in enable_ipi()
        2. [init CPU0] vmx_enable_virtualization_cpu() on CPU0:
           virtualization on
       ...
        7. [user CPU0] cross call enable_ipi on online CPUs [0, 1]
        8. [user CPU0] vmx_enable_virtualization_cpu() on CPU0:
           virtualization already on -> -EBUSY

## How to fix

Test and set the per-CPU flag around every enable and disable, and make
the paths that reach it exclude each other: hold cpus_read_lock() across
cross-CPU enabling so it cannot interleave with the hotplug callbacks.

## How kvmplan checks it

model: checked at each vendor enable/disable call, in every explored
interleaving.

## What it cannot see

Enables and disables other than the vendor's kvm_x86_ops implementations
(VMXON/VMXOFF issued from core x86 code, TDX or emergency paths are not in
the model's files); per-CPU flags other than plain __this_cpu/cpumask
bookkeeping.

## Messages

- off: {name} runs on CPU{cpu} where virtualization is off
- on: {name} runs on CPU{cpu} where virtualization is already on
"""

from __future__ import annotations

from kvmplan.model.rules.base import At, Check, Report, Rule, RuleCheck, Site, broken
from kvmplan.model.world import rebooting


RULE: Rule = Rule.from_doc(__doc__)


def enable(at: At) -> list[Report]:
    if at.outcome != "busy":
        return []
    return [Report(RULE.say("on", name=at.name, cpu=at.cpu))]


def disable(at: At) -> list[Report]:
    """Once a reboot has begun KVM expects (and forgives) a faulting disable:
    kvm_rebooting is set before it turns virtualization off."""
    if at.world.virt[at.cpu] or rebooting(at.world):
        return []
    return [Report(RULE.say("off", name=at.name, cpu=at.cpu))]


CHECK = Check({"enable": enable, "disable": disable})


def _promela_enable(s: Site) -> list[str]:
    return broken("KVM003", f"virt[{s.cpu}]")


def _promela_disable(s: Site) -> list[str]:
    """Once a reboot has begun KVM expects (and forgives) a faulting disable."""
    return broken("KVM003", f"!virt[{s.cpu}] && sys_phase != PH_REBOOT")


PROMELA = RuleCheck("KVM003", "enable never runs where virtualization is on, disable only "
                    "where it is on (until a reboot begins)",
                    (("enable", _promela_enable), ("disable", _promela_disable)))
