"""KVM016 sleep-in-atomic, error: Nothing that may sleep runs with IRQs or preemption off.

## What it checks

A lock that may sleep (a mutex, an rwsem, cpus_read_lock(), which is a
percpu rwsem) is never taken where the CPU can't schedule:
  - in a STARTING cpuhp callback or its DYING teardown: they run on the
    CPU coming up or going down, with IRQs off;
  - in a function run by on_each_cpu() or smp_call_function*(): IPI
    context, IRQs off;
  - in a syscore suspend or resume callback: one CPU, IRQs off;
  - while the thread holds a spinlock (preemption off).

## Why it matters

Sleeping there is "BUG: sleeping function called from invalid context": a
contended mutex schedules away from a CPU that can't schedule, and with
IRQs off the holder may be waiting for this very CPU. Reviewers caught
exactly this in the 2022 rework of KVM's hardware enabling: a patch turned
kvm_count_lock (a raw spinlock) into a mutex while kvm_starting_cpu(), a
STARTING callback, still took it; the lock could only become a mutex once
the callback moved to the ONLINE section, which runs in task context.

## Example

    static DEFINE_MUTEX(kvm_usage_lock);

    static int kvm_starting_cpu(unsigned int cpu)   /* CPUHP_AP_..._STARTING */
    {
        mutex_lock(&kvm_usage_lock);                /* IRQs are off here */
        if (kvm_usage_count)
            hardware_enable_nolock(NULL);
        mutex_unlock(&kvm_usage_lock);
        return 0;
    }

Trace shape: cpu_up(CPU1) runs kvm_starting_cpu() on CPU1 in the STARTING
section; the finding points at the mutex_lock() and names the context.

## How to fix

Use a raw spinlock for what IRQs-off code must take, or move the callback
to the ONLINE section (CPUHP_AP_ONLINE_DYN or a named ONLINE state), which
runs in the CPU's hotplug thread and may sleep; take sleeping locks before
a spinlock or an on_each_cpu() call, not inside.

## How kvmplan checks it

model: checked at each acquisition of a lock that may sleep, from the
context the code runs in and the spinlocks its thread holds; sleeping calls
that are not locks (GFP_KERNEL allocations, msleep(), wait_event()) are not
seen.

## What it cannot see

Sleeping calls that are not locks (GFP_KERNEL allocations, msleep(),
wait_event(), mutex-protected helpers called through function pointers the
model does not resolve); code run by contexts the model does not have (NMI,
softirq, timers); atomic scopes other than spinlocks, cross calls and
callback contexts (preempt_disable(), get_cpu(), local_irq_save()), which
the model neither reports under nor lets keep a CPU.

## Messages

- irqs_off: {lock} may sleep and is taken {where}
- spinning: {lock} may sleep and is taken while the thread holds a spinlock
  (preemption off)
"""

from __future__ import annotations

from kvmplan.graph.hooks import STARTING
from kvmplan.model.kernel import HOTPLUG_LOCK, IRQS_OFF
from kvmplan.model.rules.base import At, Check, Report, Rule, RuleCheck, Site, broken


RULE: Rule = Rule.from_doc(__doc__)
_WHERE = {
    STARTING: "in a STARTING/DYING cpuhp callback, which runs on its CPU with IRQs off",
    "IPI": "in an on_each_cpu()/smp_call_function*() callback (IPI context, IRQs off)",
    "syscore": "in a syscore suspend/resume callback (IRQs off)",
}
assert set(_WHERE) == IRQS_OFF, "a context with IRQs off the rule can't name"


def _lock_name(lock: str) -> str:
    return "cpus_read_lock()" if lock == HOTPLUG_LOCK else lock


def lock(at: At) -> list[Report]:
    """A lock that may sleep, taken with IRQs off or under a spinlock."""
    if not at.sleeps:
        return []
    if at.ctx in IRQS_OFF:
        return [Report(RULE.say("irqs_off", lock=_lock_name(at.lock),
                                                   where=_WHERE[at.ctx]))]
    assert at.thread is not None
    if at.thread.spins:
        return [Report(RULE.say("spinning", lock=_lock_name(at.lock)))]
    return []


CHECK = Check({"lock": lock})


def _promela_lock(s: Site) -> list[str]:
    """The context is known when the statement is generated; the spinlocks
    held are counted per thread (spins[])."""
    if not s.sleeps:
        return []
    if s.ctx in IRQS_OFF:
        return broken("KVM016", "1")
    return broken("KVM016", f"spins[{s.thread}] > 0")


PROMELA = RuleCheck("KVM016", "no lock that may sleep is taken with IRQs off (STARTING/DYING, "
                    "IPI, syscore) or under a spinlock", (("lock", _promela_lock),))
