"""KVM007 lock-order, error: One lock order; no recursive cpus_read_lock() or self-deadlock.

## What it checks

Three ways to deadlock:
  (a) cpus_read_lock() taken again by a thread that already holds it;
  (b) a mutex or spinlock taken again by the thread holding it, e.g. a
      cpuhp callback taking a lock its registrant holds while
      cpuhp_setup_state() runs the callback;
  (c) a cycle in the lock-order graph recorded over all explored
      executions: edge A -> B when B is acquired with A held, where
      cpu_up()/cpu_down() hold cpu_hotplug_lock for write around every
      callback they run.
A cycle is printed lockdep-style: each edge with the function and
file:line where each lock was taken, then the two-CPU scenario (CPU0
holds A and wants B, CPU1 holds B and wants A).

## Why it matters

cpu_hotplug_lock is a percpu rwsem: once a writer (cpu_up/cpu_down)
waits, new readers block, so a thread that takes cpus_read_lock() twice
deadlocks with any hotplug attempt. The hotplug core holds it for write
while it runs every callback, so any lock a cpuhp callback takes ranks
below cpu_hotplug_lock and must never be held while taking
cpus_read_lock(), directly or through cpuhp_setup_state(),
static_call_update() or a static key update. In the 2024 TDX review
(https://lore.kernel.org/r/461b78c38ffb3e59229caa806b6ed22e2c847b77.camel@intel.com),
holding cpus_read_lock() across all of vt_init() was rejected because
static_call_update() takes it again. In 2024 KVM stopped taking kvm_lock
in the hotplug path and gave kvm_usage_count its own kvm_usage_lock
("KVM: Add a dedicated mutex to manage kvm_usage_count to avoid
deadlock").

## Example

    /* cpu_up() runs this holding cpu_hotplug_lock for write */
    static int kvm_online_cpu(unsigned int cpu)
    {
        mutex_lock(&kvm_lock);    /* cpu_hotplug_lock -> kvm_lock */
        ...
    }

    static int kvm_enable_all(void)
    {
        mutex_lock(&kvm_lock);
        cpus_read_lock();         /* kvm_lock -> cpu_hotplug_lock */
        ...
    }

Shape of the report:

    x.c:11: error: KVM007 lock-order: cycle kvm_lock -> cpu_hotplug_lock
      -> kvm_lock
      kvm_lock -> cpu_hotplug_lock
        kvm_lock taken in kvm_enable_all() x.c:10
        cpu_hotplug_lock taken in kvm_enable_all() x.c:11
      cpu_hotplug_lock -> kvm_lock
        cpu_hotplug_lock taken for write by cpu_up (kernel: cpu hotplug core)
        kvm_lock taken in kvm_online_cpu() x.c:4
      scenario:
        CPU0: lock(kvm_lock); lock(cpu_hotplug_lock)
        CPU1: lock(cpu_hotplug_lock); lock(kvm_lock)

## How to fix

Keep one order. Take cpus_read_lock() before any lock the cpuhp
callbacks take, and use the _cpuslocked variants
(cpuhp_setup_state_cpuslocked(), static_branch_enable_cpuslocked()) when
it is already held. A lock held around cpuhp_setup_state() (as 6.12
holds kvm_usage_lock) must not be taken by the callbacks it registers.

## How kvmplan checks it

model: (a) and (b) at each acquisition; (c) as a cycle search over the
lock-order graph of all explored executions.

## What it cannot see

Locks the front-end does not recognize (locks taken through wrapper
functions it does not know, seqlocks, bit locks); two locks of the same name
in different objects count as one (the model has one VM); cycles of four
locks or more.

## Messages

- again: {lock} taken again by the thread that holds it{where}:
  self-deadlock
- callback: a cpuhp callback takes {lock}, which its registrant
  holds{where}: cpuhp_setup_state() runs the callback on each CPU's hotplug
  thread and waits for it, so both wait forever
- cycle: lock-order cycle {names}: each thread holds one lock and waits for
  the next
- read_again: cpus_read_lock() taken again by a thread that already holds
  it{where}: a waiting cpu_up/cpu_down deadlocks both
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Sequence

from kvmplan.model.kernel import HOTPLUG_LOCK
from kvmplan.model.rules.base import (
    At, Check, Edges, Found, Report, Rule, RuleCheck, Site, TraceOf, broken,
)
from kvmplan.model.trace import LockEdge


RULE: Rule = Rule.from_doc(__doc__)


def lock(at: At) -> list[Report]:
    """(a) a recursive cpus_read_lock deadlocks against a waiting
    cpu_up/cpu_down; (b) a mutex or spinlock taken again deadlocks against
    itself, and a cpuhp callback taking a lock its registrant holds against
    the registrant."""
    if at.outcome != "again":
        return []
    first = at.first
    where = f" (first taken in {first[0]}() at {first[1]}:{first[2]})" if first[1] else ""
    if at.lock == HOTPLUG_LOCK and at.shared:
        key = "read_again"
    elif at.ctx == "setup":
        key = "callback"
    else:
        key = "again"
    return [Report(RULE.say(key, lock=at.lock, where=where))]


def cycles(succ: dict[str, list[str]]) -> list[tuple[str, ...]]:
    """The cycles of two or three locks of an order graph (lock → locks taken
    while holding it), each rotated to start at its least lock, sorted."""
    found: set[tuple[str, ...]] = set()
    for a in sorted(succ):
        for b in succ.get(a, ()):
            if a in succ.get(b, ()):
                found.add(_rotate((a, b)))
            for c in succ.get(b, ()):
                if c not in (a, b) and a in succ.get(c, ()):
                    found.add(_rotate((a, b, c)))
    return sorted(found)


def blocks(held_mode: str, wanted_mode: str, hotplug: bool) -> bool:
    """Can a thread holding a lock in held_mode block one that wants it in
    wanted_mode? Readers share, except on cpu_hotplug_lock: a percpu rwsem
    lets a waiting writer block new readers, and cpu_up/cpu_down are writers."""
    return not (held_mode == "r" and wanted_mode == "r") or hotplug


def deadlocks(cycle: Sequence[str], chain: Sequence[tuple[str, str, str]],
              hotplug: Callable[[str], bool]) -> bool:
    """Edges (held mode, wanted mode, thread) around `cycle`, from two threads
    or more, where at each lock the edge that holds it blocks the edge that
    wants it (chain[i] holds cycle[i], chain[i - 1] wants it)."""
    return len({thread for _, _, thread in chain}) >= 2 and all(
        blocks(chain[i][0], chain[i - 1][1], hotplug(cycle[i])) for i in range(len(cycle)))


def _rotate(cycle: tuple[str, ...]) -> tuple[str, ...]:
    i = cycle.index(min(cycle))
    return cycle[i:] + cycle[:i]


def lock_cycles(edges: Edges, trace_of: TraceOf) -> list[Found]:
    """(c) cycles of two or three locks in the order graph for which some
    choice of the recorded edges (by thread and lock modes) comes from at
    least two threads and can really block each other."""
    variants: dict[tuple[str, str], list[tuple[LockEdge, tuple, list]]] = {}
    for k in sorted(edges, key=str):
        variants.setdefault((k[0], k[1]), []).append(edges[k])
    succ: dict[str, list[str]] = {}
    for held, taken in sorted(variants):
        succ.setdefault(held, []).append(taken)
    out = []
    for cycle in cycles(succ):
        choices = itertools.product(*(variants[(cycle[i], cycle[(i + 1) % len(cycle)])]
                                      for i in range(len(cycle))))
        chain = next((list(c) for c in choices
                      if deadlocks(cycle, [(e.held_mode, e.mode, e.thread) for e, _, _ in c],
                                   lambda lk: lk == HOTPLUG_LOCK)), None)
        if chain is None:
            continue
        last, key, steps = chain[-1]
        names = " -> ".join(list(cycle) + [cycle[0]])
        out.append(Found(RULE.say("cycle", names=names), last.site,
                         trace_of(key) + steps, _lockdep_report([e for e, _, _ in chain])))
    return out


def _lockdep_report(chain: list[LockEdge]) -> list[str]:
    """The cycle told the way lockdep tells it."""
    details = ["possible circular locking dependency:"]
    for e in chain:
        details.append(f"  {e.thread}: holds {_mode(e.held, e.held_mode)} (taken in "
                       f"{_at(e.held_site)}) and takes {_mode(e.lock, e.mode)} in {_at(e.site)}")
    details.append("possible scenario:")
    for i, e in enumerate(chain):
        details.append(f"  CPU{i}: {e.thread} holds {_mode(e.held, e.held_mode)}, waits for "
                       f"{_mode(e.lock, e.mode)}")
    details.append("  *** DEADLOCK ***")
    return details


def _mode(lock: str, mode: str) -> str:
    if lock == HOTPLUG_LOCK:
        return "cpu_hotplug_lock (" + ("read: cpus_read_lock" if mode == "r" else
                                       "write: cpu_up/cpu_down") + ")"
    return lock + (" (read)" if mode == "r" else "")


def _at(site: tuple[str, str, int]) -> str:
    fn, file, line = site
    return f"{fn}() {file}:{line}" if file else f"{fn}() (kernel)"


CHECK = Check({"lock": lock}, post=lock_cycles)


def _token(name: str, lock_id: str) -> str:
    return "HP" if name == HOTPLUG_LOCK else lock_id


def _promela_lock(s: Site) -> list[str]:
    """Taking a lock the thread holds; and a probe per lock-order edge: the
    lock taken while the thread holds another one (mode r or x)."""
    out = broken("KVM007", f"HOLDS({s.lock_id}, {s.thread})")
    mode = "r" if s.shared else "x"
    for name, lock_id in s.locks:
        if name == s.lock:
            continue
        for held, test in (("r", "IS_READER"), ("x", "IS_OWNER")):
            probe = (f"P_KVM007_{_token(name, lock_id)}{held}_"
                     f"{_token(s.lock, s.lock_id)}{mode}_{s.thread}")
            out.append(f"if :: {test}({lock_id}, {s.thread}) -> assert({probe}) :: else -> skip fi")
    return out


_EDGE = re.compile(r"P_KVM007_(HP|L\d+)([rx])_(HP|L\d+)([rx])_(\d+)$")


def _promela_cycles(probes: frozenset[str]) -> bool:
    """As lock_cycles(), over the lock-order edges SPIN reached (probes)."""
    variants: dict[tuple[str, str], list[tuple[str, str, str]]] = {}
    for probe in sorted(probes):
        m = _EDGE.match(probe)
        if m:
            held, held_mode, taken, mode, thread = m.groups()
            variants.setdefault((held, taken), []).append((held_mode, mode, thread))
    succ: dict[str, list[str]] = {}
    for held, taken in sorted(variants):
        succ.setdefault(held, []).append(taken)
    for cycle in cycles(succ):
        pairs = [(cycle[i], cycle[(i + 1) % len(cycle)]) for i in range(len(cycle))]
        for chain in itertools.product(*(variants[p] for p in pairs)):
            if deadlocks(cycle, chain, lambda lk: lk == "HP"):
                return True
    return False


PROMELA = RuleCheck("KVM007", "no thread takes a lock it holds; no cycle in the lock order "
                    "whose edges can block each other", (("lock", _promela_lock),),
                    post=_promela_cycles)
