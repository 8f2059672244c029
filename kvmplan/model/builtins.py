"""Procedures the kernel runs around KVM's code: cross calls, cpuhp state
registration and removal, and CPU up/down. Each is a frame whose `pc` is its
phase, so it interleaves with other threads like any code."""

from __future__ import annotations

from typing import Any, Protocol

from kvmplan.cparse.events import Event
from kvmplan.graph.hooks import ONLINE, PREPARE, STARTING
from kvmplan.model.kernel import HOTPLUG_LOCK, TASK_CONTEXTS
from kvmplan.model.program import Program, Target
from kvmplan.model.semantics import handlers
from kvmplan.model.trace import Site
from kvmplan.model.world import NO_CPU, Blocked, Frame, Thread, World, release


class Machine(Protocol):
    """What a kernel procedure may ask of the interpreter running it
    (interp.Runner): the program, the world, the running thread, and these
    operations."""

    p: Program
    w: World
    t: Thread
    visible: bool      # the transition has done its visible event

    def record(self, frame: Frame, e: Event | None, text: str) -> None: ...
    def take(self, frame: Frame, lock: str, shared: bool, line: int,
             sleeps: bool = True) -> None: ...
    def push(self, key: str, cpu: int, ctx: str, args: dict[str, object] | None = None) -> None: ...
    def enter(self, cpu: int, ctx: str) -> None: ...
    def ret(self, value: object) -> None: ...
    def vendor(self, frame: Frame, e: Event, target: Target) -> None: ...
    def fire(self, hook: str, frame: Frame, line: int, cpu: int | None = None,
             site: Site | None = None, **fields: Any) -> None: ...



def step_builtin(r: Machine, frame: Frame) -> None:
    """One step of the kernel procedure `frame.key` (a row of the semantics
    table whose source is "kernel")."""
    _PROCEDURES[frame.key](r, frame)


def _unlock(r: Machine, lock: str) -> None:
    release(r.w, lock, r.t.name)
    r.w.sites.pop((lock, r.t.name), None)


def _call_cb(r: Machine, frame: Frame, key: str, cpu: int, ctx: str) -> None:
    """Call a callback; its return value lands in the slot "cb". A task
    context's callback (kernel.TASK_CONTEXTS) runs where the task does."""
    frame.ret_slot = "cb"
    r.push(key, frame.cpu if ctx in TASK_CONTEXTS else cpu, ctx)


def cross(r: Machine, frame: Frame) -> None:
    frame.slots.pop("cb", None)             # an IPI callback's return value is lost
    r.fire("cross_return", frame, 0)
    todo = frame.slots["todo"]
    assert isinstance(todo, tuple)
    if not todo:
        r.t.frames.pop()
        r.t.leave_atomic()
        return
    frame.slots["todo"] = todo[1:]
    cpu = todo[0]
    if frame.slots.get("kind") == "enable" or frame.slots.get("kind") == "disable":
        fake = Event(kind="call", line=int(frame.slots.get("line", 0)), name=str(frame.slots["target"]))
        r.enter(cpu, "IPI")
        saved, saved_ctx = frame.cpu, frame.ctx
        frame.cpu, frame.ctx = cpu, "IPI"
        r.vendor(frame, fake, Target(str(frame.slots["kind"]), str(frame.slots["target"])))
        frame.cpu, frame.ctx = saved, saved_ctx
        return
    _call_cb(r, frame, str(frame.slots["target"]), cpu, "IPI")


def _shown(r: Machine, frame: Frame, text: str) -> None:
    """A step of a kernel procedure that the trace shows: an interleaving
    point (other threads may run before the next one)."""
    r.record(frame, None, text)
    r.visible = True


def _failed(r: Machine, frame: Frame, text: str, queue: str, pc: int) -> bool:
    """The callback just called has returned: on an error record `text`, queue
    the callbacks done for rollback (slot `queue`, reversed) and go to phase
    `pc`; else count it done."""
    s = frame.slots
    if "cb" not in s:
        return False
    if s.pop("cb") == "err":
        _shown(r, frame, text)
        s[queue] = tuple(reversed(s["done"]))
        frame.pc = pc
        return True
    s["done"] = s["done"] + (s["cur"],)
    return False


def _read_lock(r: Machine, frame: Frame) -> None:
    """cpus_read_lock() on behalf of cpuhp_setup_state/cpuhp_remove_state."""
    r.take(frame, HOTPLUG_LOCK, True, int(frame.slots.get("line", 0)))


def _section(r: Machine, state: str) -> tuple[str, int]:
    st = r.p.graph.cpuhp_states.get(state)
    return (st.section, st.index) if st else ("OTHER", 10_000)


def setup(r: Machine, frame: Frame) -> None:
    s = frame.slots
    variant = str(s["variant"])
    state = str(s["state"])
    locked = "cpuslocked" in variant
    if frame.pc == 0:                      # take cpus_read_lock
        if not locked:
            _read_lock(r, frame)
        section, index = _section(r, state)
        r.w.cpuhp[state] = (section, index, s.get("up", ""), s.get("down", ""))
        _shown(r, frame, f"register cpuhp state {state} [{section}]")
        if "nocalls" in variant or not s.get("up"):
            frame.pc = 3
        else:
            s["todo"] = tuple(c for c in range(r.w.ncpus) if r.w.online[c])
            s["done"] = ()
            frame.pc = 1
        return
    if frame.pc == 1:                      # run `up` on the next online CPU
        if _failed(r, frame, f"{s['up']} failed on CPU{s.get('cur')}: rolling back", "todo", 2):
            s["error"] = True
            return
        todo = s["todo"]
        if not todo:
            frame.pc = 3
            return
        s["cur"], s["todo"] = todo[0], todo[1:]
        _call_cb(r, frame, str(s["up"]), int(s["cur"]), "setup")
        return
    if frame.pc == 2:                      # failure: `down` on the CPUs done, unregister
        s.pop("cb", None)
        todo = s["todo"]
        if todo and s.get("down"):
            s["todo"] = todo[1:]
            _call_cb(r, frame, str(s["down"]), int(todo[0]), "setup")
            return
        r.w.cpuhp.pop(state, None)
        frame.pc = 3
        return
    if not locked:
        _unlock(r, HOTPLUG_LOCK)
    r.visible = True
    r.ret("err" if s.get("error") else "ok")


def remove(r: Machine, frame: Frame) -> None:
    s = frame.slots
    variant = str(s["variant"])
    state = str(s["state"])
    locked = "cpuslocked" in variant
    if frame.pc == 0:
        if not locked:
            _read_lock(r, frame)
        reg = r.w.cpuhp.get(state)
        down = reg[3] if reg else ""
        s["down"] = down
        s["todo"] = () if ("nocalls" in variant or not down) else tuple(
            c for c in range(r.w.ncpus) if r.w.online[c])
        _shown(r, frame, f"remove cpuhp state {state}")
        frame.pc = 1
        return
    if frame.pc == 1:
        s.pop("cb", None)
        todo = s["todo"]
        if todo:
            s["todo"] = todo[1:]
            _call_cb(r, frame, str(s["down"]), int(todo[0]), "setup")
            return
        r.w.cpuhp.pop(state, None)
        if not locked:
            _unlock(r, HOTPLUG_LOCK)
        r.visible = True
        r.ret("ok")


def _next_callback(r: Machine, frame: Frame, queue: str, which: int, c: int, announce: str = "") -> bool:
    """Run the next registered callback of the states queued in slots[queue].

    `which` is 2 for startup, 3 for teardown (positions in World.cpuhp
    entries). STARTING/ONLINE callbacks run on the target CPU `c`, PREPARE
    ones on the control CPU. Returns False when the queue is empty."""
    s = frame.slots
    todo = s[queue]
    assert isinstance(todo, tuple)
    while todo:
        state, todo = todo[0], todo[1:]
        entry = r.w.cpuhp.get(state)
        callback = entry[which] if entry else ""
        if callback:
            s[queue] = todo
            s["cur"] = state
            section = entry[0]
            if announce:                   # only for the trace: nothing shared changes here
                r.record(frame, None, f"{state} [{section}] {announce} on CPU{c}")
            _call_cb(r, frame, str(callback), c if section in (STARTING, ONLINE) else 0, section)
            return True
    s[queue] = ()
    return False


def _states(r: Machine, sections: tuple[str, ...], reverse: bool = False) -> tuple[str, ...]:
    regs = sorted((v[1], k) for k, v in r.w.cpuhp.items() if v[0] in sections)
    names = tuple(k for _, k in regs)
    return tuple(reversed(names)) if reverse else names


def _begin(r: Machine, frame: Frame, todo: tuple[str, ...], what: str) -> None:
    """The first step of cpu_up/cpu_down: take cpu_hotplug_lock for write;
    `todo` are the states whose callbacks run next."""
    r.take(frame, HOTPLUG_LOCK, False, 0)
    _shown(r, frame, what)
    frame.slots["todo"] = todo


def _on_cpu(frame: Frame, cpu: int, ctx: str) -> None:
    """Where cpu_up's own steps run from now on: the incoming CPU brings
    itself up (STARTING: IRQs off, then its hotplug thread: ONLINE), the
    control task (hotplug, NO_CPU: wherever the scheduler puts it) waits
    for it, then finishes."""
    frame.cpu, frame.ctx = cpu, ctx


def up(r: Machine, frame: Frame) -> None:
    """cpu_up(c): the hotplug thread's procedure (holds cpu_hotplug_lock for
    write). PREPARE callbacks run in the control task; the STARTING ones on
    CPU c itself with IRQs off; the marking online, the ONLINE callbacks and
    the marking active on c (its hotplug thread); the control task ends."""
    s = frame.slots
    c = int(s["cpu"])
    w = r.w
    if frame.pc == 0:
        _begin(r, frame, _states(r, (PREPARE,)),
               f"cpu_up(CPU{c}) begins: cpu_hotplug_lock taken for write")
        s["done"] = ()
        frame.pc = 1
        return
    if frame.pc in (1, 6):                 # PREPARE, then STARTING startup callbacks
        if "cb" in s:
            s.pop("cb")                   # STARTING: a returned error is ignored
            s["done"] = s["done"] + (s["cur"],)
        if _next_callback(r, frame, "todo", 2, c, "startup"):
            return
        if frame.pc == 1:
            _on_cpu(frame, c, STARTING)
            s["todo"] = _states(r, (STARTING,))
            frame.pc = 6
            if _next_callback(r, frame, "todo", 2, c, "startup"):
                return
        _on_cpu(frame, c, ONLINE)
        w.online[c] = True
        _shown(r, frame, f"CPU{c} marked online")
        s["todo"] = _states(r, (ONLINE,))
        s["done"] = ()
        frame.pc = 2
        return
    if frame.pc == 2:                      # ONLINE startup callbacks; a failure rolls back
        if _failed(r, frame, f"{s.get('cur')} startup failed on CPU{c}: CPU online aborted",
                   "rollback", 4):
            _on_cpu(frame, NO_CPU, "hotplug")
            return
        if _next_callback(r, frame, "todo", 2, c, "startup"):
            return
        w.active[c] = True
        _shown(r, frame, f"CPU{c} active (schedulable)")
        r.fire("cpu_active", frame, 0, cpu=c)
        _on_cpu(frame, NO_CPU, "hotplug")
        frame.pc = 3
        return
    if frame.pc == 3:
        _unlock(r, HOTPLUG_LOCK)
        _shown(r, frame, f"cpu_up(CPU{c}) done: cpu_hotplug_lock released")
        r.ret("ok")
        return
    if frame.pc == 4:                      # rollback of ONLINE states, then offline
        s.pop("cb", None)
        if _next_callback(r, frame, "rollback", 3, c):
            return
        w.online[c] = False
        r.fire("cpu_rollback", frame, 0, cpu=c)
        s["rollback"] = _states(r, (PREPARE, STARTING), reverse=True)
        _shown(r, frame, f"CPU{c} back offline")
        frame.pc = 5
        return
    if frame.pc == 5:
        s.pop("cb", None)
        if _next_callback(r, frame, "rollback", 3, c):
            return
        _unlock(r, HOTPLUG_LOCK)
        r.visible = True
        r.ret("err")


def down(r: Machine, frame: Frame) -> None:
    """cpu_down(c)."""
    s = frame.slots
    c = int(s["cpu"])
    w = r.w
    if frame.pc == 0:
        _begin(r, frame, _states(r, (ONLINE,), reverse=True),
               f"cpu_down(CPU{c}) begins: CPU inactive, cpu_hotplug_lock taken")
        w.active[c] = False
        frame.pc = 1
        return
    if frame.pc in (1, 2):
        s.pop("cb", None)
        if _next_callback(r, frame, "todo", 3, c, "teardown"):
            return
        if frame.pc == 1:
            # take_cpu_down() runs under stop_machine(): every other CPU spins with
            # IRQs off from the moment CPU{c} leaves cpu_online_mask until its DYING
            # callbacks are done. It starts once no other thread keeps a CPU with
            # preemption off (a spinlock, a cross call) or runs with IRQs off.
            if any(u is not r.t and u.cpu_holds() for u in w.threads):
                raise Blocked
            w.stopper = r.t.name
            w.online[c] = False
            _shown(r, frame, f"stop_machine(): CPU{c} marked offline")
            s["todo"] = _states(r, (PREPARE, STARTING), reverse=True)
            frame.pc = 2
            return
        w.stopper = ""
        _unlock(r, HOTPLUG_LOCK)
        _shown(r, frame, f"cpu_down(CPU{c}) done")
        r.ret("ok")


def _callbacks(r: Machine, kinds: tuple[str, ...], reverse: bool = False) -> tuple[str, ...]:
    """Callbacks of the registrations in force, of the given kinds, in
    registration-name order (reversed for suspend/shutdown)."""
    found = [key for item in sorted(r.w.regs) for kind, key in r.p.callbacks.get(item, ())
             if kind in kinds]
    return tuple(reversed(found)) if reverse else tuple(found)


def _run_next(r: Machine, frame: Frame, ctx: str) -> bool:
    todo = frame.slots["todo"]
    assert isinstance(todo, tuple)
    if not todo:                               # steps are the kernel's own again
        frame.slots["fn"] = frame.slots.get("kernel", frame.slots.get("fn", ""))
        frame.slots.pop("file", None)
        frame.slots.pop("line", None)
        return False
    frame.slots["todo"] = todo[1:]
    frame.slots["cur"] = todo[0]
    fn = r.p.functions[str(todo[0])]
    frame.slots.setdefault("kernel", frame.slots.get("fn", ""))
    frame.slots.update({"fn": fn.name, "file": fn.file, "line": fn.line})
    _call_cb(r, frame, str(todo[0]), 0, ctx)
    return True


def reboot(r: Machine, frame: Frame) -> None:
    """reboot: notifiers, system_state, cpu_hotplug_disable(), syscore shutdown,
    firmware handoff (kernel_restart())."""
    s = frame.slots
    w = r.w
    if "cb" in s:                              # a KVM reboot/shutdown callback returned
        s.pop("cb")
        r.fire("kernel_callback_return", frame, 0, name=str(s["cur"]))
    if frame.pc == 0:                          # the reboot notifier chain
        s["todo"] = _callbacks(r, ("reboot",))
        frame.pc = 1
    if frame.pc == 1:
        if _run_next(r, frame, "reboot"):
            return
        w.globals["system_state"] = "SYSTEM_RESTART"
        _shown(r, frame, "system_state = SYSTEM_RESTART")
        frame.pc = 2
        return
    if frame.pc == 2:
        if w.thread("hotplug").frames:
            raise Blocked                      # cpu_hotplug_disable() waits for it
        r.record(frame, None, "migrate_to_reboot_cpu(): cpu_hotplug_disable()")
        s["todo"] = _callbacks(r, ("syscore_shutdown",), reverse=True)
        frame.pc = 3
    if frame.pc == 3:
        if _run_next(r, frame, "shutdown"):
            return
        _shown(r, frame, "syscore_shutdown() done; machine_restart(): firmware takes over")
        for t in list(w.threads):
            if t is not r.t:
                w.mutable(t.name).done = True
        r.t.done = True
        r.t.frames.clear()


def suspend(r: Machine, frame: Frame) -> None:
    """suspend to RAM and resume: tasks frozen, non-boot CPUs offlined, syscore
    suspend (reverse order) and resume on the boot CPU with IRQs off, CPUs
    onlined again. KVM010 if the CPUs' virtualization state then differs."""
    s = frame.slots
    w = r.w
    if frame.pc == 0:
        s["before"] = tuple(w.virt)
        s["todo"] = tuple(c for c in range(1, w.ncpus) if w.online[c])
        s["downed"] = s["todo"]
        _shown(r, frame, f"suspend: tasks frozen, virtualization {_virt(s['before'])}; "
                 "offlining non-boot CPUs")
        frame.pc = 1
        return
    if frame.pc in (1, 4):
        s.pop("cb", None)
        todo = s["todo"]
        assert isinstance(todo, tuple)
        if todo:
            s["todo"] = todo[1:]
            up = frame.pc == 4
            frame.ret_slot = "cb"
            r.push("@up" if up else "@down", frame.cpu, "hotplug",
                   {"cpu": todo[0], "fn": "cpu_up" if up else "cpu_down"})
            return
        if frame.pc == 1:
            s["todo"] = _callbacks(r, ("syscore_suspend",), reverse=True)
            _shown(r, frame, "syscore_suspend() on CPU0, IRQs off")
            frame.pc = 2
            return
        after = tuple(w.virt)
        before = s["before"]
        assert isinstance(before, tuple)
        w.frozen = False
        _shown(r, frame, f"resume complete: virtualization {_virt(after)}")
        site = s.get("pm_site") or r.p.site_of(r.p.entry())
        r.fire("resume_done", frame, 0, site=site, before=before)
        r.ret("ok")
        return
    if frame.pc == 2:
        s.pop("cb", None)
        if _run_next(r, frame, "syscore"):
            s["pm_site"] = (s["fn"], s["file"], s["line"])
            return
        s["todo"] = _callbacks(r, ("syscore_resume",))
        w.virt[0] = False                      # the platform sleeps: CPU0 loses VMX/SVM state
        _shown(r, frame, "platform sleeps and wakes: CPU0 comes back with virtualization "
                 "off; syscore_resume() on CPU0, IRQs off")
        frame.pc = 3
        return
    if frame.pc == 3:
        s.pop("cb", None)
        if _run_next(r, frame, "syscore"):
            s["pm_site"] = (s["fn"], s["file"], s["line"])   # KVM's resume callback
            return
        s["todo"] = s["downed"]
        _shown(r, frame, "onlining non-boot CPUs again")
        frame.pc = 4


def _virt(v: tuple) -> str:
    on = [f"CPU{c}" for c, x in enumerate(v) if x]
    return "on on " + ", ".join(on) if on else "off everywhere"


# The semantics table's kernel procedures, bound to the functions above.
_PROCEDURES = {key: globals()[name] for key, name in handlers("kernel").items()}
