"""The model's state: CPUs, locks, counters, registrations, VMs and threads.

A World is mutable while one transition runs and is frozen into a hashable
key between transitions (the explorer keeps keys, not Worlds)."""

from __future__ import annotations

from dataclasses import dataclass, field

from kvmplan.model.kernel import CONTEXTS, IRQS_OFF, TASK_CONTEXTS
from kvmplan.model.program import Program

# a task frame's CPU while its task holds none: wherever the scheduler puts it
NO_CPU = -1

Value = object   # "ok" | "err" | "?" | "t" | "f" | int | str (named constant)


@dataclass
class Frame:
    key: str                 # function key, or "@procedure" (a kernel procedure, builtins.py)
    pc: int
    cpu: int                 # NO_CPU: a task frame (kernel.TASK_CONTEXTS) between steps
    ctx: str                 # "", IPI, STARTING, ONLINE, PREPARE, setup, syscore, ...
    # the function's locals (C names and the front-end's temporaries "$N"), or
    # a kernel procedure's own variables
    slots: dict[str, object] = field(default_factory=dict)
    # the slot of this frame that receives the return value of the call it
    # makes (None: no call in flight)
    ret_slot: str | None = None
    # loops in progress, by the pc of their LOOP event: CPUs left to visit, or
    # how a walk/loop body is being run
    loops: dict[int, object] = field(default_factory=dict)
    # KVM004 bookkeeping on a cross call's frame: a callback failed and has
    # not recorded it in shared state yet: (function, file, line, what)
    dropped: tuple | None = None

    def clone(self) -> "Frame":
        return Frame(self.key, self.pc, self.cpu, self.ctx, dict(self.slots), self.ret_slot,
                     dict(self.loops) if self.loops else {}, self.dropped)

    def freeze(self) -> tuple:
        # keys are unique, so sorting items never compares values
        return (self.key, self.pc, self.cpu, self.ctx,
                tuple(sorted(self.slots.items())) if self.slots else (),
                self.ret_slot, tuple(sorted(self.loops.items())) if self.loops else (),
                self.dropped)


@dataclass
class Thread:
    name: str
    frames: list[Frame] = field(default_factory=list)
    phase: int = 0           # the environment program's own progress
    retval: object = "ok"
    owns_vm: int = 0
    done: bool = False
    snap: tuple = ()         # what a fallible operation must restore if it fails (KVM008)
    # spinlocks the thread holds; the CPU it keeps with preemption off (a
    # spinlock, a cross call in progress) and how many such scopes are open
    # (-1 and 0: none)
    spins: int = 0
    hold_cpu: int = -1
    hold_depth: int = 0
    # the frozen key; a Thread is shared between World copies until one of
    # them asks for it with World.mutable(), which clones it
    frozen: tuple | None = field(default=None, compare=False, repr=False)

    def clone(self) -> "Thread":
        return Thread(self.name, [f.clone() for f in self.frames],
                      self.phase, self.retval, self.owns_vm, self.done, self.snap,
                      self.spins, self.hold_cpu, self.hold_depth)

    def context(self) -> str:
        """The innermost callback context the thread runs in (kernel.CONTEXTS), or ""."""
        for f in reversed(self.frames):
            if f.ctx in CONTEXTS:
                return f.ctx
        return ""

    def enter_atomic(self, cpu: int) -> None:
        """Preemption off on `cpu` (a spinlock taken, a cross call begun)."""
        if not self.hold_depth:
            self.hold_cpu = cpu
        self.hold_depth += 1

    def leave_atomic(self) -> None:
        if self.hold_depth:
            self.hold_depth -= 1
            if not self.hold_depth:
                self.hold_cpu = -1

    def cpu_holds(self) -> tuple[tuple[int, str], ...]:
        """The CPUs the thread keeps others off: (cpu, "preempt") while it
        holds one with preemption off, (cpu, "irq") while it runs there with
        IRQs off."""
        out: list[tuple[int, str]] = []
        if self.hold_depth:
            out.append((self.hold_cpu, "preempt"))
        if self.frames and self.frames[-1].ctx in IRQS_OFF:
            out.append((self.frames[-1].cpu, "irq"))
        return tuple(out)

    def keeps(self, cpu: int, irq_only: bool) -> bool:
        """Does the thread keep `cpu` (cpu_holds(), without building it: the
        scheduler asks this for every thread and CPU of every state)? With
        irq_only, only IRQs off counts."""
        if self.hold_depth and self.hold_cpu == cpu and not irq_only:
            return True
        return bool(self.frames) and self.frames[-1].ctx in IRQS_OFF and self.frames[-1].cpu == cpu

    def freeze(self) -> tuple:
        if self.frozen is None:
            self.frozen = Key((self.name, tuple(f.freeze() for f in self.frames), self.phase,
                               self.retval, self.owns_vm, self.done, self.snap,
                               self.spins, self.hold_cpu, self.hold_depth))
        return self.frozen


class Key(tuple):
    """A frozen thread: a tuple that computes its hash once (threads a
    transition did not touch are shared, so their keys are hashed again and
    again)."""

    def __hash__(self) -> int:
        h = self.__dict__.get("h")
        if h is None:
            h = self.__dict__["h"] = tuple.__hash__(self)
        return h


@dataclass
class World:
    ncpus: int
    online: list[bool]
    active: list[bool]
    virt: list[bool]
    bad: list[bool]                       # this CPU can't enable virtualization
    percpu: dict[str, list[bool]]         # KVM's per-CPU flags
    globals: dict[str, object]            # counters, atomics, flags, system_state
    locks: dict[str, tuple]               # lock → ("x", thread) | ("r", (threads...))
    cpuhp: dict[str, tuple]               # state → (section, index, startup, teardown)
    regs: set[tuple[str, str]]            # (kind, object) registrations: syscore, misc...
    module: str                           # loading | live | gone
    vms: int
    threads: list[Thread]
    hotplug_left: int
    failures_left: int
    system_left: int = 0                  # suspend / reboot / unload events still allowed
    frozen: bool = False                  # tasks are frozen (suspend in progress)
    stopper: str = ""                     # the thread running under stop_machine(), if any
    tdx_enabled: bool = False             # tdx_enable() has run
    tdx_done: tuple[bool, ...] | None = None   # TDX per-CPU init done, by CPU (None: never tried)
    # Rules' bookkeeping (each rule's module says what it keeps):
    exposed: tuple[str, str, int] | None = None   # KVM011: where module init registered /dev/kvm
    produced: bool = False                # KVM011: the vendor's hardware_setup() has begun
    virt_final: tuple[str, str] | None = None     # KVM009: a reboot/shutdown callback of KVM ran
    walkers: tuple | None = None          # KVM006: (thread, function, file, line) walking vm_list
    missed: tuple | None = None           # KVM005: CPUs a pass over the online CPUs missed
    vm_ops_left: int = 0                  # VM ioctls the user may still make (VM-operations pass)
    # KVM015: ((field, function, file, line), ...) the VM fields the vCPU
    # creation in progress has read, and those a created vCPU has read
    vcpu_pending: tuple = ()
    vcpu_frozen: tuple = ()
    # (lock, thread) → (function, file, line) where it was taken; for reports
    # only, so not part of the state's identity
    sites: dict[tuple[str, str], tuple[str, str, int]] = field(default_factory=dict)

    def copy(self) -> "World":
        return World(
            ncpus=self.ncpus, online=list(self.online), active=list(self.active),
            virt=list(self.virt), bad=list(self.bad),
            percpu={k: list(v) for k, v in self.percpu.items()},
            globals=dict(self.globals), locks=dict(self.locks), cpuhp=dict(self.cpuhp),
            regs=set(self.regs), module=self.module, vms=self.vms,
            threads=list(self.threads),          # shared until mutable() clones one
            hotplug_left=self.hotplug_left, failures_left=self.failures_left,
            system_left=self.system_left, frozen=self.frozen, stopper=self.stopper,
            tdx_enabled=self.tdx_enabled, tdx_done=self.tdx_done, exposed=self.exposed,
            produced=self.produced, virt_final=self.virt_final, walkers=self.walkers, missed=self.missed,
            vm_ops_left=self.vm_ops_left, vcpu_pending=self.vcpu_pending,
            vcpu_frozen=self.vcpu_frozen, sites=dict(self.sites),
        )

    def freeze(self) -> tuple:
        return (
            tuple(self.online), tuple(self.active), tuple(self.virt), tuple(self.bad),
            tuple(sorted((k, tuple(v)) for k, v in self.percpu.items())),
            tuple(sorted(self.globals.items())),
            tuple(sorted(self.locks.items())),
            tuple(sorted(self.cpuhp.items())),
            tuple(sorted(self.regs)), self.module, self.vms,
            tuple(t.freeze() for t in self.threads), self.hotplug_left, self.failures_left,
            self.system_left, self.frozen, self.stopper, self.tdx_enabled, self.tdx_done,
            self.exposed, self.produced, self.virt_final, self.walkers, self.missed,
            self.vm_ops_left, self.vcpu_pending, self.vcpu_frozen,
        )

    def thread(self, name: str) -> Thread:
        """The thread called `name`, for reading; see mutable()."""
        for t in self.threads:
            if t.name == name:
                return t
        raise KeyError(name)

    def mutable(self, name: str) -> Thread:
        """The thread called `name`, about to be changed: this World's own copy."""
        for i, t in enumerate(self.threads):
            if t.name == name:
                own = self.threads[i] = t.clone()
                return own
        raise KeyError(name)


# What the system thread (Thread.phase) is doing: one system event per execution.
REBOOT, SUSPEND, UNLOAD = 1, 2, 3


def taken(w: World, t: Thread, cpu: int, irq_only: bool) -> bool:
    """Does another thread keep `cpu` from running `t`'s step? A thread
    running there with IRQs off keeps everything off; one holding it with
    preemption off keeps tasks off, not interrupts (irq_only)."""
    return any(u is not t and u.keeps(cpu, irq_only) for u in w.threads)


def local_call(t: Thread, cpu: int) -> bool:
    """Is `t`, in a cross call's callback on `cpu`, running it on the caller's
    own CPU (directly, IRQs off) rather than by IPI? (The innermost cross
    call's frame is on the caller's CPU.)"""
    return next((f.cpu == cpu for f in reversed(t.frames) if f.key == "@cross"), False)


def where(w: World, t: Thread) -> int | None:
    """The CPU `t`'s next step runs on, or None if it can't run now: an
    IRQs-off context and a bound one run on their frame's CPU, a task
    (kernel.TASK_CONTEXTS) holding a CPU on that one, and a task holding
    none on the lowest-numbered online, active CPU nobody keeps it off."""
    f = t.frames[-1]
    if f.ctx in IRQS_OFF:
        return None if taken(w, t, f.cpu, True) else f.cpu
    if f.ctx in TASK_CONTEXTS:
        if not t.hold_depth:
            return free_cpu(w, t)
        return None if taken(w, t, t.hold_cpu, False) else t.hold_cpu
    return None if taken(w, t, f.cpu, False) else f.cpu


def free_cpu(w: World, t: Thread) -> int | None:
    """The lowest-numbered online, active CPU no other thread keeps `t` off."""
    return next((c for c in range(w.ncpus)
                 if w.online[c] and w.active[c] and not taken(w, t, c, False)), None)


def schedule(w: World, t: Thread) -> bool:
    """Put `t` where its next step runs (world.where): its task frames
    (kernel.TASK_CONTEXTS) move there when a task runs. False: it can't
    run now."""
    cpu = where(w, t)
    if cpu is None:
        return False
    if t.frames[-1].ctx in TASK_CONTEXTS:
        _move_tasks(t, cpu)
    elif not t.hold_depth:
        # a bound callback runs; the task that called it resumes where it can
        _move_tasks(t, NO_CPU if (free := free_cpu(w, t)) is None else free)
    return True


def unschedule(t: Thread) -> None:
    """After a transition: a task that holds no CPU is again the
    scheduler's to place (task frames at NO_CPU), so where it last ran does
    not tell states apart."""
    if not t.hold_depth:
        _move_tasks(t, NO_CPU)


def _move_tasks(t: Thread, cpu: int) -> None:
    for f in t.frames:
        if f.ctx in TASK_CONTEXTS and f.cpu != cpu:
            f.cpu = cpu


def rebooting(w: World) -> bool:
    """Has a reboot begun? (KVM then turns virtualization off on purpose.)"""
    return w.thread("system").phase == REBOOT


class Blocked(Exception):
    """The thread can't proceed now (it waits for a lock)."""


def holds(w: World, me: str) -> list[tuple[str, str]]:
    """The locks thread `me` holds, as (lock, "r" | "x"), sorted."""
    out = []
    for lock, held in sorted(w.locks.items()):
        if (held[0] == "x" and held[1] == me) or (held[0] == "r" and me in held[1]):
            out.append((lock, held[0]))
    return out


def acquire(w: World, lock: str, shared: bool, me: str) -> bool:
    """Take `lock` for thread `me`: shared (read side) or exclusive.

    Raises Blocked when another thread holds it in a conflicting way. Returns
    True when `me` already holds it (a recursive read, which deadlocks
    against a waiting writer, or a self-deadlock on an exclusive lock; the
    caller reports it and the model lets the thread go on)."""
    held = w.locks.get(lock)
    if held and held[0] == "x" and held[1] != me:
        raise Blocked
    if held and held[0] == "x" and held[1] == me:
        return True
    if shared:
        readers = held[1] if held and held[0] == "r" else ()
        w.locks[lock] = ("r", tuple(sorted(set(readers) | {me})))
        return me in readers
    if held and held[0] == "r" and any(r != me for r in held[1]):
        raise Blocked
    again = bool(held and held[0] == "r" and me in held[1])
    w.locks[lock] = ("x", me)
    return again


def release(w: World, lock: str, me: str) -> None:
    held = w.locks.get(lock)
    if not held:
        return
    if held[0] == "r":
        rest = tuple(r for r in held[1] if r != me)
        if rest:
            w.locks[lock] = ("r", rest)
        else:
            del w.locks[lock]
    elif held[1] == me:
        del w.locks[lock]


def counters(program: Program, w: World) -> tuple[tuple[str, object], ...]:
    """The usage counters (grammars/lifecycle.txt) the world has, with their values."""
    return tuple((name, w.globals.get(name, 0)) for name in sorted(program.vocab.get("counter", ()))
                 if name in w.globals)


def leftovers(program: Program, w: World, state: bool = True) -> list[str]:
    """What a module that is gone left behind: registrations and VMs (which
    can call into its code), and with `state` also counts and virtualization
    left on (which a failed init must undo)."""
    return [text for text, _ in left_items(program, w, state)]


def left_items(program: Program, w: World,
               state: bool = True) -> list[tuple[str, tuple[str, str]]]:
    """leftovers(), each with what it is: (kind, name) of a registration,
    ("cpuhp", state), ("count", counter), ("vms", ""), ("virt", "CPUn")."""
    left = [(f"{kind} registration {name}", (kind, name)) for kind, name in sorted(w.regs)]
    left += [(f"cpuhp state {st}", ("cpuhp", st)) for st in sorted(w.cpuhp)]
    if w.vms:
        left.append((f"{w.vms} VM(s) on vm_list", ("vms", "")))
    if state:
        left += [(f"{name} = {v}", ("count", name)) for name, v in counters(program, w) if v]
        left += [(f"virtualization on on CPU{c}", ("virt", f"CPU{c}"))
                 for c in range(w.ncpus) if w.virt[c]]
    return left
