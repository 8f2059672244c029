"""KVM012 unload-with-vms, error: Module exit leaves no VM and no registration behind.

## What it checks

When module exit completes, no VM exists and every registration the
module made (cpuhp state, syscore ops, reboot notifier, /dev/kvm) has
been removed. Anything left would run code or read data of a module that
is gone.

## Why it matters

A VM's file descriptors and vCPU threads execute KVM text; a cpuhp
state, syscore op or reboot notifier is a function pointer the core
calls later, at the next hotplug, suspend or reboot. Commit 5f6de5cbebee
("KVM: Prevent module exit until all VMs are freed") made each VM pin
the module for that reason
(https://lore.kernel.org/r/YvU+6fdkHaqQiKxp@google.com
discusses the error path it added). kvm_exit() deregisters /dev/kvm
first, so no new VM can appear, then removes the syscore ops, the reboot
notifier and the cpuhp state; dropping one of them leaves a dangling
callback.

## Example

    void kvm_exit(void)
    {
        misc_deregister(&kvm_dev);
        unregister_syscore_ops(&kvm_syscore_ops);
        unregister_reboot_notifier(&kvm_reboot_notifier);
        /* missing: cpuhp_remove_state_nocalls(CPUHP_AP_KVM_ONLINE); */
    }

Trace shape: init completes, the exit thread runs module_exit; the
finding points at its end and lists the cpuhp state still registered.

## How to fix

Make exit the mirror of init: deregister /dev/kvm first, let the VMs'
module references keep the module alive while any VM exists, then remove
every registration init made, in reverse order.

## How kvmplan checks it

model: checked when the exit thread completes module_exit.

## What it cannot see

Modules other than the vendor module's module_exit; references held by
anything but VMs (file descriptors of other KVM objects, workqueues,
timers).

## Messages

- left: module unloaded while something can still call into it: {left}
"""

from __future__ import annotations

from kvmplan.model.rules.base import (
    At, Check, Report, Rule, RuleCheck, Site, broken, facts, leftovers,
)
from kvmplan.model.world import leftovers as left_behind


RULE: Rule = Rule.from_doc(__doc__)


def unloaded(at: At) -> list[Report]:
    """module_exit returned: no registration, cpuhp state or VM may remain."""
    left = left_behind(at.program, at.world, state=False)
    return [Report(RULE.say("left", left="; ".join(left)))] if left else []


CHECK = Check({"unloaded": unloaded})


def _promela_unloaded(s: Site) -> list[str]:
    return broken("KVM012", leftovers(facts(s), False))


PROMELA = RuleCheck("KVM012", "module unload leaves no registration, cpuhp state or VM behind",
                    (("unloaded", _promela_unloaded),))
