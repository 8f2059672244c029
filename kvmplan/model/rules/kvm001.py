"""KVM001 all-online-enabled, error: While a VM exists, every schedulable CPU has virtualization on.

## What it checks

On every state the explorer reaches: while vm_list is non-empty, every
active (schedulable) CPU has hardware virtualization on (VMXON done,
EFER.SVME set). A CPU still coming up and not yet active is exempt; the
check bites once the scheduler may place a vCPU there.

## Why it matters

A vCPU thread can run on any active CPU. If that CPU never executed
VMXON, the first VM entry faults and the VM dies with an unrecoverable
error. KVM keeps the promise with two mechanisms that must cover for each
other: enabling every online CPU when the first user appears
(kvm_usage_count 0 -> 1), and a CPU-hotplug callback that enables each CPU
brought up while the count is non-zero. A callback that forgets the
enable, a failure that is swallowed (KVM004), or a pass over online CPUs
that misses one being onlined (KVM005) each leave a hole.

## Example

    static int kvm_online_cpu(unsigned int cpu)    /* CPUHP_AP_KVM_ONLINE */
    {
        mutex_lock(&kvm_lock);
        /* missing: if (kvm_usage_count) hardware_enable_nolock(NULL); */
        mutex_unlock(&kvm_lock);
        return 0;
    }

A VM is created while CPU1 is offline, then CPU1 comes back:

    x.c:50: error: KVM001 all-online-enabled: a VM exists while CPU1 is
      online and schedulable with virtualization off
      in kvm_online_cpu()
       ...
       19. [user CPU0] list_add(&kvm->vm_list, &vm_list)
       20. [hotplug CPU0] cpu_up(CPU1) begins: cpu_hotplug_lock taken for write
       22. [hotplug CPU0] CPUHP_AP_KVM_ONLINE [ONLINE] startup on CPU1
       25. [hotplug CPU0] CPU1 active (schedulable)

## How to fix

In the ONLINE hotplug callback, enable whenever kvm_usage_count is
non-zero and return the error, so a CPU that cannot enable is not brought
online. When the first user enables all CPUs, hold cpus_read_lock() so no
CPU can come up between that pass and the callback.

## How kvmplan checks it

model: state predicate on every explored state.

## What it cannot see

VM ioctls and vCPUs (the model creates and destroys one VM, it runs no
vCPU); CPUs are checked only while active, not while tasks are frozen for
suspend or once a reboot has begun; code outside the files the model reads.

## Messages

- off: a VM exists while CPU{cpu} is online and schedulable with
  virtualization off
"""

from __future__ import annotations

from kvmplan.model.rules.base import At, Check, Report, Rule, RuleCheck, Site, any_cpu, broken
from kvmplan.model.world import rebooting


RULE: Rule = Rule.from_doc(__doc__)


def all_online_enabled(at: At) -> list[Report]:
    """While a VM exists, every active (schedulable) CPU has virtualization on.
    Not while tasks are frozen for suspend (no vCPU runs) or once a reboot has
    begun (KVM turns virtualization off on purpose, VMs or not)."""
    w = at.world
    if w.vms <= 0 or w.frozen or rebooting(w):
        return []
    return [Report(RULE.say("off", cpu=c), cpu=c)
            for c in range(w.ncpus) if w.active[c] and not w.virt[c]]


CHECK = Check({"state": all_online_enabled})


def _promela_state(s: Site) -> list[str]:
    """Not while tasks are frozen for suspend or once a reboot has begun."""
    cpus = any_cpu(s.ncpus, lambda c: f"cpu_active[{c}] && !virt[{c}]")
    return broken("KVM001", f"vms > 0 && !frozen && sys_phase != PH_REBOOT && ({cpus})")


PROMELA = RuleCheck("KVM001", "while a VM exists, every active (schedulable) CPU has "
                    "virtualization on (not while tasks are frozen or once a reboot began)",
                    (("state", _promela_state),))
