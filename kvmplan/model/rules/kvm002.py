"""KVM002 no-enable-without-user, warning: Virtualization is not left on while KVM has no user.

## What it checks

In every quiescent state (no thread is inside KVM code), no CPU has
virtualization on while kvm_usage_count is 0. The rule does not apply when
a lifecycle module parameter turns virtualization on at load
(enable_virt_at_load=true): then "on without a VM" is the configuration.

## Why it matters

VMX and SVM can be owned by one hypervisor per CPU. While KVM sits in
VMX operation, an out-of-tree hypervisor (VirtualBox, VMware) cannot
start, and KVM's own enable returns -EBUSY when it finds VMX already on.
KVM therefore enables when the first VM is created and disables when the
last one is destroyed. Sean's 2022 review of the TDX compatibility-check
patch is about keeping that: a temporary enable on all CPUs during
module load must be undone before init returns
(https://lore.kernel.org/r/YvU+6fdkHaqQiKxp@google.com).
Typical leaks: an enable on a failure path that is never disabled, or an
online callback that enables without looking at the usage count.

## Example

    static int kvm_online_cpu(unsigned int cpu)
    {
        return __hardware_enable_nolock();    /* ignores kvm_usage_count */
    }

Trace shape: no VM exists; cpu_up(CPU1) runs the callback, which turns
virtualization on; when the hotplug thread has left KVM code, the finding
names CPU1 with virtualization on and kvm_usage_count 0.

## How to fix

Guard every per-CPU enable by the usage count, read under the lock that
protects it, and on each failure path disable what was enabled before
dropping the count. If virtualization is meant to be on from load, make
that explicit with enable_virt_at_load.

## How kvmplan checks it

model: predicate on quiescent states; skipped when the tree enables at load
(enable_virt_at_load, on by default in 6.12).

## What it cannot see

Usage counters other than those grammars/lifecycle.txt names (the rule is
skipped when the code changes none of them); a module parameter that enables
virtualization at load is taken at its default, not at every value a user
could give it.

## Messages

- on: CPU{cpu} has virtualization on while {counter} is 0 and no operation
  is in flight
"""

from __future__ import annotations

from kvmplan.model.kernel import THREADS
from kvmplan.model.rules.base import (
    At, Check, Report, Rule, RuleCheck, Site, any_cpu, broken, facts,
)


RULE: Rule = Rule.from_doc(__doc__)


def no_enable_without_user(at: At) -> list[Report]:
    """When no thread is inside KVM code, virtualization is on only while the
    usage count says someone uses it (or a module parameter asks to enable it
    at load)."""
    w, p = at.world, at.program
    if any(t.frames for t in w.threads):
        return []
    counters = sorted(p.counters)
    if not counters or any(w.globals.get(name, 0) != 0 for name in counters):
        return []
    if any(w.globals.get(name) == "t" for name in p.vocab.get("param", ())):
        return []
    return [Report(RULE.say("on", cpu=c, counter=counters[0]), cpu=c)
            for c in range(w.ncpus) if w.virt[c]]


CHECK = Check({"state": no_enable_without_user})


def _promela_idle(s: Site) -> list[str]:
    """Every thread idle, the usage counters the code changes all 0, no
    module parameter asking for virtualization at load, and virtualization
    on somewhere. (No check when the code changes no usage counter.)"""
    f = facts(s)
    if not f.usage:
        return []
    idle = " && ".join(f"!busy[{t}]" for t in range(len(THREADS)))
    unused = " && ".join(f"!({u})" for u in f.usage)
    params = "".join(f" && !({p})" for p in f.params)
    virt = any_cpu(s.ncpus, lambda c: f"virt[{c}]")
    return broken("KVM002", f"{idle} && {unused}{params} && ({virt})")


PROMELA = RuleCheck("KVM002", "when no thread is inside an operation, virtualization is on only "
                    "while a usage counter is not 0 (or a parameter enables it at load)",
                    (("idle", _promela_idle),))
