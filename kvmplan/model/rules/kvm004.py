"""KVM004 enable-failure-handled, error: A failure of the per-CPU enable is never dropped.

## What it checks

The vendor per-CPU enable may fail on any CPU (the model marks CPUs that
cannot enable). The rule breaks when it fails where nobody can act on it:
  - inside a STARTING cpuhp callback: IRQs are off, the return value is
    ignored and the CPU comes online anyway;
  - inside an on_each_cpu()/IPI callback that returns without recording
    the failure in shared state (an atomic, a flag, a cpumask) that the
    caller can read;
  - in a resume path that ignores it.

## Why it matters

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
WARN_ON_ONCE().

## Example

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

The same run reports KVM001 once CPU1 is schedulable.

## How to fix

Enable from an ONLINE-section callback (CPUHP_AP_KVM_ONLINE, or
CPUHP_AP_ONLINE_DYN) and return the error, so the hotplug core rolls the
online back. In a cross call, record each failure (atomic counter,
cpumask) and have the caller check it and unwind. A resume callback
cannot fail: WARN, and keep the CPU's state consistent.

## How kvmplan checks it

model: checked at each failing vendor enable, from the context it runs in
(cpuhp section, IPI, resume).

## What it cannot see

Failures of anything but the vendor per-CPU enable (one CPU of each run
can't enable); a failure recorded through a pointer argument or a per-CPU
structure rather than a global, an atomic or a per-CPU flag.

## Messages

- callback: {what} inside an on_each_cpu()/IPI callback that records the
  failure nowhere before it returns: the caller never learns of it
- cross_call: {what} in an on_each_cpu()/IPI call whose return value is lost
- starting: {name} fails on CPU{cpu} inside a STARTING hotplug callback,
  where the failure can't stop the CPU from coming online
"""

from __future__ import annotations

from kvmplan.graph.hooks import STARTING
from kvmplan.model.rules.base import At, Check, Report, Rule, RuleCheck, Site, broken, enable_fails


RULE: Rule = Rule.from_doc(__doc__)

# Bookkeeping: Frame.dropped on a cross call's frame, (function, file, line,
# what) of a callback's failure not recorded in shared state yet.


def enable(at: At) -> list[Report]:
    """A failing enable in a STARTING callback, or run directly by a cross
    call, is dropped; inside an IPI callback it is dropped unless the callback
    writes shared state before it returns (checked at cross_return)."""
    if at.outcome != "fails":
        return []
    if at.ctx == STARTING:
        return [Report(RULE.say("starting", name=at.name, cpu=at.cpu))]
    if at.ctx != "IPI" or at.thread is None:
        return []
    what = f"{at.name} fails on CPU{at.cpu}"
    for f in reversed(at.thread.frames):
        if f.key == "@cross":
            if f is at.frame:
                return [Report(RULE.say("cross_call", what=what))]
            f.dropped = at.site + (what,)
            return []
    return []


def shared_write(at: At) -> list[Report]:
    """A write to shared state: an IPI callback that failed has now recorded it."""
    assert at.thread is not None
    for f in at.thread.frames:
        f.dropped = None
    return []


def cross_return(at: At) -> list[Report]:
    assert at.frame is not None
    dropped, at.frame.dropped = at.frame.dropped, None
    if dropped is None:
        return []
    fn, file, line, what = dropped
    return [Report(RULE.say("callback", what=what), site=(fn, file, line))]


CHECK = Check({"enable": enable, "shared_write": shared_write, "cross_return": cross_return})


def _promela_enable(s: Site) -> list[str]:
    """As enable() above: dropped at once, or marked in the cross call's flag."""
    if s.ctx == STARTING or (s.ctx == "IPI" and s.direct):
        return broken("KVM004", enable_fails(s))
    if s.ctx == "IPI" and s.dropped:
        return [f"if :: ({enable_fails(s)}) -> {s.dropped} = 1 :: else -> skip fi"]
    return []


def _promela_shared_write(s: Site) -> list[str]:
    return [f"{flag} = 0" for flag in s.chain]


def _promela_cross_return(s: Site) -> list[str]:
    return broken("KVM004", s.dropped) + [f"{s.dropped} = 0"]


PROMELA = RuleCheck("KVM004", "a vendor enable never fails where the failure is dropped: a "
                    "STARTING callback, a cross call, an IPI callback that records it nowhere",
                    (("enable", _promela_enable), ("shared_write", _promela_shared_write),
                     ("cross_return", _promela_cross_return)))
