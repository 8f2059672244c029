"""Properties checked on every state the explorer reaches (small named
predicates). Properties about a single action (KVM003 double enable, KVM004
dropped enable failure, KVM005 hotplug window, KVM006 vm_list race, KVM007
locking, KVM009 enable after shutdown, KVM011 setup order, KVM013 uret
context) are raised by the action itself in interp.py/builtins.py; the ones
about the end of an operation (KVM008 unwind, KVM010 suspend/resume, KVM012
unload) by the environment in explorer.py/builtins.py."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from kvmplan.model.program import Program
from kvmplan.model.world import World, rebooting


@dataclass(frozen=True)
class Broken:
    rule: str
    message: str
    cpu: int


def all_online_enabled(p: Program, w: World) -> list[Broken]:
    """KVM001: while a VM exists, every active (schedulable) CPU has virtualization on.
    Not while tasks are frozen for suspend (no vCPU runs) or once a reboot has
    begun (KVM turns virtualization off on purpose, VMs or not)."""
    if w.vms <= 0 or "$frozen" in w.globals or rebooting(w):
        return []
    return [Broken("KVM001", f"a VM exists while CPU{c} is online and schedulable with "
                   "virtualization off", c)
            for c in range(w.ncpus) if w.active[c] and not w.virt[c]]


def no_enable_without_user(p: Program, w: World) -> list[Broken]:
    """KVM002: when no thread is inside KVM code, virtualization is on only while
    the usage count says someone uses it (or a module parameter asks to
    enable it at load)."""
    if any(t.frames for t in w.threads):
        return []
    counters = sorted(p.counters)
    if not counters or any(w.globals.get(name, 0) != 0 for name in counters):
        return []
    if any(w.globals.get(name) == "t" for name in p.vocab.get("param", ())):
        return []
    return [Broken("KVM002", f"CPU{c} has virtualization on while {counters[0]} is 0 and no "
                   "operation is in flight", c)
            for c in range(w.ncpus) if w.virt[c]]


def tdx_online(p: Program, w: World) -> list[Broken]:
    """KVM014: while TDX is enabled and a VM exists, every active CPU has done
    TDX per-CPU init."""
    if not w.globals.get("$tdx_enabled") or w.vms <= 0:
        return []
    done = w.percpu.get("$tdx", [False] * w.ncpus)
    return [Broken("KVM014", f"TDX is enabled and a VM exists while CPU{c} is online and "
                   "schedulable without TDX per-CPU init (tdx_cpu_enable)", c)
            for c in range(w.ncpus) if w.active[c] and not done[c]]


INVARIANTS: tuple[Callable[[Program, World], list[Broken]], ...] = (
    all_online_enabled, no_enable_without_user, tdx_online)

# Rules these predicates check. The explorer reports each once, at the end
# of the first trace that breaks it, so its location says where that trace
# ended, not where the bug is: a state rule is one finding per rule.
STATE_RULES = frozenset({"KVM001", "KVM002", "KVM014"})
