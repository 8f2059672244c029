"""KVM005 hotplug-window, warning: Per-CPU enabling over online CPUs misses no CPU coming up.

## What it checks

A cross call (on_each_cpu, smp_call_function*) or a for_each_online_cpu
pass that does per-CPU enabling work (vendor enable, TDX per-CPU init) is
issued without cpu_hotplug_lock held, while a cpu_up() of another CPU is
in progress that the pass does not reach, and the hotplug callbacks that
CPU still has to run do not do that work either. The CPU then finishes
coming online without it: the callback that covers later CPUs is not
registered yet, or does not exist.

## Why it matters

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
later, by kvm_init().

## Example

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
on_each_cpu() line (KVM001 follows once CPU1 is schedulable).

## How to fix

Hold cpus_read_lock() across the pass, and have the hotplug callback
registered before the pass or in the same cpus_read_lock() section
(cpuhp_setup_state() does both: it registers and runs the callback on
every online CPU), so each CPU is either reached by the pass or runs the
callback afterwards.

## How kvmplan checks it

model: checked at each cross call or online-CPU pass against overlapping
cpu_up(); a CPU onlined after a pass that held cpus_read_lock() is left to
KVM001/KVM014.

## What it cannot see

Passes over CPU masks other than the online CPUs (for_each_online_cpu,
on_each_cpu, smp_call_function*): cpu_active_mask, a custom cpumask or a
work item per CPU are not recognized as passes.

## Messages

- hole: {how} in {fn}() ran on CPUs {covered} without excluding CPU hotplug
  while cpu_up(CPU{cpu}) was past its hotplug callbacks: CPU{cpu} is now
  online and schedulable without {what}
"""

from __future__ import annotations

from kvmplan.model.kernel import HOTPLUG_LOCK
from kvmplan.model.rules.base import (
    At, Check, Facts, Report, Rule, RuleCheck, Site, broken, enable_succeeds, facts, when,
)
from kvmplan.model.world import holds


RULE: Rule = Rule.from_doc(__doc__)
_WORK = {"enable": "virtualization on", "tdx": "TDX per-CPU init"}

# Bookkeeping: World.missed, marks (cpu, work, covered CPUs, how, function,
# file, line) of the CPUs a pass over the online CPUs missed while their
# cpu_up was in PREPARE/STARTING.


def cpu_pass(at: At) -> list[Report]:
    """A pass over the online CPUs doing per-CPU `work`, issued without
    excluding hotplug (the thread holds no side of cpu_hotplug_lock), misses
    every CPU whose cpu_up is past taking the hotplug lock and not online yet:
    mark it."""
    w = at.world
    assert at.thread is not None
    if any(lock == HOTPLUG_LOCK for lock, _ in holds(w, at.thread.name)):
        return []
    name, file, line = at.site
    marks = list(w.missed or ())
    for t in w.threads:
        for f in t.frames:
            if f.key == "@up" and f.pc == 1 and int(f.slots["cpu"]) not in at.cpus:
                marks.append((int(f.slots["cpu"]), at.work, at.cpus, at.how, name, file, line))
    w.missed = tuple(sorted(set(marks)))
    return []


def _done(at: At, work: str) -> list[Report]:
    marks = at.world.missed
    if marks:
        at.world.missed = tuple(m for m in marks if not (m[0] == at.cpu and m[1] == work))
    return []


def enable(at: At) -> list[Report]:
    return _done(at, "enable") if at.outcome == "on" else []


def tdx_cpu(at: At) -> list[Report]:
    return _done(at, "tdx") if at.outcome == "done" else []


def cpu_active(at: At) -> list[Report]:
    """CPU c is active without the per-CPU work a pass missed it for, while
    that work still stands on a CPU the pass covered."""
    w, c = at.world, at.cpu
    marks = w.missed or ()
    tdx = w.tdx_done or (False,) * w.ncpus
    out = []
    for cpu, work, covered, how, fn, file, line in marks:
        if cpu != c:
            continue
        done = w.virt if work == "enable" else tdx
        if any(done[x] for x in covered):
            out.append(Report(RULE.say("hole", how=how, fn=fn, covered=list(covered), cpu=c,
                                                      what=_WORK[work]), site=(fn, file, line)))
    if marks:
        w.missed = tuple(m for m in marks if m[0] != c)
    return out


def cpu_rollback(at: At) -> list[Report]:
    at.world.missed = tuple(m for m in (at.world.missed or ()) if m[0] != at.cpu)
    return []


CHECK = Check({"cpu_pass": cpu_pass, "enable": enable, "tdx_cpu": tdx_cpu,
               "cpu_active": cpu_active, "cpu_rollback": cpu_rollback})

# Promela marks: miss_<work>[c] is the union of the CPUs covered by passes that
# missed CPU c while its cpu_up was in PREPARE/STARTING.
_MISS = {"enable": "miss_enable", "tdx": "miss_tdx"}


def _promela_decls(f: Facts) -> list[str]:
    return [f"byte {var}[NCPUS];  /* KVM005: CPUs covered by passes over the online CPUs "
            f"({work}) that missed this CPU coming up */" for work, var in _MISS.items()]


def _promela_pass(s: Site) -> list[str]:
    """As cpu_pass() above, with the CPUs covered as a mask."""
    var = _MISS[s.work]
    hp = facts(s).hotplug_lock
    out: list[str] = []
    for c in range(s.ncpus):
        out += when(f"!HOLDS({hp}, {s.thread}) && (up_early & BIT({c})) != 0 && "
                    f"({s.covered} & BIT({c})) == 0",
                    [f"{var}[{c}] = {var}[{c}] | {s.covered}"])
    return out


def _promela_enable(s: Site) -> list[str]:
    return when(enable_succeeds(s), [f"miss_enable[{s.cpu}] = 0"])


def _promela_tdx(s: Site) -> list[str]:
    return when(f"virt[{s.cpu}]", [f"miss_tdx[{s.cpu}] = 0"])


def _promela_active(s: Site) -> list[str]:
    c = s.cpu
    return broken("KVM005", f"(miss_enable[{c}] & VIRT_MASK) != 0 || "
                  f"(miss_tdx[{c}] & TDX_MASK) != 0") + _promela_forget(s)


def _promela_forget(s: Site) -> list[str]:
    return [f"miss_enable[{s.cpu}] = 0", f"miss_tdx[{s.cpu}] = 0"]


PROMELA = RuleCheck("KVM005", "a pass of per-CPU enabling work over the online CPUs that does "
                    "not exclude hotplug never leaves a CPU coming up without the work while "
                    "it stands on a CPU the pass covered",
                    (("cpu_pass", _promela_pass), ("enable", _promela_enable),
                     ("tdx_cpu", _promela_tdx), ("cpu_active", _promela_active),
                     ("cpu_rollback", _promela_forget)), decls=_promela_decls)
