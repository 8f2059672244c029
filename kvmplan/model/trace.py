"""What a run of the model reports: the visible steps of a trace, rule
violations at a place in the code, and lock-order edges."""

from __future__ import annotations

from dataclasses import dataclass

Site = tuple[str, str, int]      # function, file, line


@dataclass(frozen=True)
class Step:
    """One visible step of a trace. `irq`: it ran with IRQs off on `cpu`;
    `task`: in a task (kernel.TASK_CONTEXTS), not code bound to `cpu`;
    `holds`: the CPUs its thread keeps others off afterwards (world.Thread.cpu_holds),
    what a reader needs to see the trace can happen."""

    thread: str
    cpu: int
    event: str
    function: str
    file: str
    line: int
    irq: bool = False
    holds: tuple[tuple[int, str], ...] = ()
    task: bool = False       # a task step: `cpu` is where the scheduler ran it


@dataclass(frozen=True)
class Violation:
    rule: str
    message: str
    function: str
    file: str
    line: int


@dataclass(frozen=True)
class LockEdge:
    """`lock` was taken (mode "r" or "x") at `site` while `held` was held."""

    held: str
    held_mode: str
    held_site: Site
    lock: str
    mode: str
    site: Site
    thread: str
