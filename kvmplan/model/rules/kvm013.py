"""KVM013 uret-context, warning: User-return MSRs are not snapshotted or dropped in IRQ context.

## What it checks

kvm_user_return_msr_cpu_online(), which snapshots the host values of the
user-return MSRs, and drop_user_return_notifiers() do not run from IPI
(interrupt) context, e.g. inside a function sent with on_each_cpu() or
smp_call_function*() to another CPU. (on_each_cpu() runs the function on
the caller's own CPU directly, with IRQs off but in the caller's process
context: that call interrupts nothing.) A guard on the context is followed:
in_task() and in_interrupt() tell the IPI from the local call,
irqs_disabled() is true in both.

## Why it matters

KVM restores some host MSRs lazily, on return to userspace, from a
per-CPU snapshot. Taken from an IPI, the snapshot reads whatever the
interrupted code had loaded. Sean, 2022
(https://lore.kernel.org/r/YvU+6fdkHaqQiKxp@google.com):
"KVM snapshots MSRs from IRQ context, e.g. if an out-of-tree module is
running VMs, the IRQ can interrupt the _guest_ and cause KVM to snapshot
guest registers", which KVM would later "restore" into the host. The
snapshot sits in the per-CPU enable (kvm_arch_hardware_enable()) for
historical reasons only, and in 6.1 that is reached through
on_each_cpu() when the first VM is created.

## Example

    int kvm_arch_hardware_enable(void)
    {
        kvm_user_return_msr_cpu_online();    /* reads the current MSRs */
        return static_call(kvm_x86_hardware_enable)();
    }

    /* hardware_enable_all(): */
    on_each_cpu(hardware_enable_nolock, NULL, 1);

Trace shape: VM creation sends the enable to every CPU; the finding
points at the snapshot call and names the on_each_cpu() that sent it.

## How to fix

Snapshot on first use instead: let kvm_set_user_return_msr() fill the
per-CPU snapshot when a per-CPU flag says it is not initialized yet
(Sean's proposal in
https://lore.kernel.org/r/YvU+6fdkHaqQiKxp@google.com),
in task context with preemption off. Drop the notifiers from task
context as well.

## How kvmplan checks it

model: checked when either function runs, from the context of the step that
reached it.

## What it cannot see

User-return MSR helpers other than those grammars/lifecycle.txt names; MSR
writes made directly.

## Messages

- ipi: {name}() runs in IPI (interrupt) context on CPU{cpu}: the interrupt
  may have hit another hypervisor's guest, whose MSRs would be snapshotted
  or restored as the host's
"""

from __future__ import annotations

from kvmplan.model.rules.base import At, Check, Report, Rule, RuleCheck, Site, broken
from kvmplan.model.world import local_call


RULE: Rule = Rule.from_doc(__doc__)


def uret(at: At) -> list[Report]:
    """In a cross call's callback on another CPU than the caller's: an
    interrupt there. On the caller's own CPU, on_each_cpu() runs it directly
    with IRQs off, in the caller's (KVM's) process context: no guest of
    anyone's can have been interrupted."""
    if at.ctx != "IPI" or (at.thread is not None and local_call(at.thread, at.cpu)):
        return []
    return [Report(RULE.say("ipi", name=at.name, cpu=at.cpu))]


CHECK = Check({"uret": uret})


def _promela_uret(s: Site) -> list[str]:
    if s.ctx != "IPI":
        return []
    return broken("KVM013", f"{s.cpu} != {s.origin}" if s.origin else "1")


PROMELA = RuleCheck("KVM013", "user-return MSRs are never snapshotted or dropped in IPI context",
                    (("uret", _promela_uret),))
