"""Properties checked on every state the explorer reaches (small named
predicates). Properties about a single action (KVM003 double enable, KVM004
dropped enable failure, KVM007 nested cpus_read_lock) are raised by the
action itself in interp.py/builtins.py."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from kvmplan.model.world import World


@dataclass(frozen=True)
class Broken:
    rule: str
    message: str
    cpu: int


def all_online_enabled(w: World) -> list[Broken]:
    """KVM001: while a VM exists, every active (schedulable) CPU has virtualization on."""
    if w.vms <= 0:
        return []
    return [Broken("KVM001", f"a VM exists while CPU{c} is online and schedulable with "
                   "virtualization off", c)
            for c in range(w.ncpus) if w.active[c] and not w.virt[c]]


INVARIANTS: tuple[Callable[[World], list[Broken]], ...] = (all_online_enabled,)
