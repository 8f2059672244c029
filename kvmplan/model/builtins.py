"""Procedures the kernel runs around KVM's code: cross calls, cpuhp state
registration and removal, and CPU up/down. Each is a frame whose `pc` is its
phase, so it interleaves with other threads like any code."""

from __future__ import annotations

from kvmplan.cparse.events import Event
from kvmplan.graph.hooks import ONLINE, PREPARE, STARTING
from kvmplan.model.world import Frame, acquire, release

HOTPLUG_LOCK = "cpu_hotplug_lock"


def step_builtin(r, frame: Frame) -> None:  # r: interp.Runner
    {"@cross": _cross, "@cpuhp_setup": _setup, "@cpuhp_remove": _remove,
     "@up": _up, "@down": _down}[frame.key](r, frame)


def _call_cb(r, frame: Frame, key: str, cpu: int, ctx: str) -> None:
    frame.slots["$ret_slot"] = "$cb"
    r.push(key, cpu, ctx)


def _cross(r, frame: Frame) -> None:
    todo = frame.slots["todo"]
    assert isinstance(todo, tuple)
    if not todo:
        r.t.frames.pop()
        return
    frame.slots["todo"] = todo[1:]
    cpu = todo[0]
    if frame.slots.get("kind") == "enable" or frame.slots.get("kind") == "disable":
        fake = Event(kind="call", line=int(frame.slots.get("line", 0)), name=str(frame.slots["target"]))
        saved = frame.cpu
        frame.cpu = cpu
        r.vendor(frame, fake, str(frame.slots["kind"]), str(frame.slots["target"]))
        frame.cpu = saved
        return
    _call_cb(r, frame, str(frame.slots["target"]), cpu, "IPI")


def _read_lock(r, frame: Frame) -> None:
    """cpus_read_lock() on behalf of cpuhp_setup_state/cpuhp_remove_state."""
    r.take(frame, HOTPLUG_LOCK, True, int(frame.slots.get("line", 0)))


def _section(r, state: str) -> tuple[str, int]:
    st = r.p.graph.cpuhp_states.get(state)
    return (st.section, st.index) if st else ("OTHER", 10_000)


def _setup(r, frame: Frame) -> None:
    s = frame.slots
    variant = str(s["variant"])
    state = str(s["state"])
    locked = "cpuslocked" in variant
    if frame.pc == 0:                      # take cpus_read_lock
        if not locked:
            _read_lock(r, frame)
        section, index = _section(r, state)
        r.w.cpuhp[state] = (section, index, s.get("up", ""), s.get("down", ""))
        r.record(frame, None, f"register cpuhp state {state} [{section}]")
        r.visible = True
        if "nocalls" in variant or not s.get("up"):
            frame.pc = 3
        else:
            s["todo"] = tuple(c for c in range(r.w.ncpus) if r.w.online[c])
            s["done"] = ()
            frame.pc = 1
        return
    if frame.pc == 1:                      # run `up` on the next online CPU
        if "$cb" in s:
            result = s.pop("$cb")
            if result == "err":
                r.record(frame, None, f"{s['up']} failed on CPU{s['cur']}: rolling back")
                r.visible = True
                s["todo"] = tuple(reversed(s["done"]))
                frame.pc = 2
                s["error"] = True
                return
            s["done"] = s["done"] + (s["cur"],)
        todo = s["todo"]
        if not todo:
            frame.pc = 3
            return
        s["cur"], s["todo"] = todo[0], todo[1:]
        _call_cb(r, frame, str(s["up"]), int(s["cur"]), "setup")
        return
    if frame.pc == 2:                      # failure: `down` on the CPUs done, unregister
        s.pop("$cb", None)
        todo = s["todo"]
        if todo and s.get("down"):
            s["todo"] = todo[1:]
            _call_cb(r, frame, str(s["down"]), int(todo[0]), "setup")
            return
        r.w.cpuhp.pop(state, None)
        frame.pc = 3
        return
    if not locked:
        release(r.w, HOTPLUG_LOCK, r.t.name)
    r.visible = True
    r.ret("err" if s.get("error") else "ok")


def _remove(r, frame: Frame) -> None:
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
        r.record(frame, None, f"remove cpuhp state {state}")
        r.visible = True
        frame.pc = 1
        return
    if frame.pc == 1:
        s.pop("$cb", None)
        todo = s["todo"]
        if todo:
            s["todo"] = todo[1:]
            _call_cb(r, frame, str(s["down"]), int(todo[0]), "setup")
            return
        r.w.cpuhp.pop(state, None)
        if not locked:
            release(r.w, HOTPLUG_LOCK, r.t.name)
        r.visible = True
        r.ret("ok")


def _next_callback(r, frame: Frame, queue: str, which: int, c: int, announce: str = "") -> bool:
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
            if announce:
                r.record(frame, None, f"{state} [{section}] {announce} on CPU{c}")
                r.visible = True
            _call_cb(r, frame, str(callback), c if section in (STARTING, ONLINE) else 0, section)
            return True
    s[queue] = ()
    return False


def _states(r, sections: tuple[str, ...], reverse: bool = False) -> tuple[str, ...]:
    regs = sorted((v[1], k) for k, v in r.w.cpuhp.items() if v[0] in sections)
    names = tuple(k for _, k in regs)
    return tuple(reversed(names)) if reverse else names


def _up(r, frame: Frame) -> None:
    """cpu_up(c): the hotplug thread's procedure (holds cpu_hotplug_lock for write)."""
    s = frame.slots
    c = int(s["cpu"])
    w = r.w
    if frame.pc == 0:
        acquire(w, HOTPLUG_LOCK, False, r.t.name)     # cpu_hotplug_lock for write
        r.record(frame, None, f"cpu_up(CPU{c}) begins: cpu_hotplug_lock taken for write")
        r.visible = True
        s["todo"] = _states(r, (PREPARE, STARTING))
        s["done"] = ()
        frame.pc = 1
        return
    if frame.pc == 1:                      # PREPARE and STARTING startup callbacks
        if "$cb" in s:
            s.pop("$cb")                   # STARTING: a returned error is ignored
            s["done"] = s["done"] + (s["cur"],)
        if _next_callback(r, frame, "todo", 2, c, "startup"):
            return
        w.online[c] = True
        r.record(frame, None, f"CPU{c} marked online")
        r.visible = True
        s["todo"] = _states(r, (ONLINE,))
        s["done"] = ()
        frame.pc = 2
        return
    if frame.pc == 2:                      # ONLINE startup callbacks; a failure rolls back
        if "$cb" in s:
            result = s.pop("$cb")
            if result == "err":
                r.record(frame, None, f"{s['cur']} startup failed on CPU{c}: CPU online aborted")
                r.visible = True
                s["rollback"] = tuple(reversed(s["done"]))
                frame.pc = 4
                return
            s["done"] = s["done"] + (s["cur"],)
        if _next_callback(r, frame, "todo", 2, c, "startup"):
            return
        w.active[c] = True
        r.record(frame, None, f"CPU{c} active (schedulable)")
        r.visible = True
        frame.pc = 3
        return
    if frame.pc == 3:
        release(w, HOTPLUG_LOCK, r.t.name)
        r.record(frame, None, f"cpu_up(CPU{c}) done: cpu_hotplug_lock released")
        r.visible = True
        r.ret("ok")
        return
    if frame.pc == 4:                      # rollback of ONLINE states, then offline
        s.pop("$cb", None)
        if _next_callback(r, frame, "rollback", 3, c):
            return
        w.online[c] = False
        s["rollback"] = _states(r, (PREPARE, STARTING), reverse=True)
        r.record(frame, None, f"CPU{c} back offline")
        r.visible = True
        frame.pc = 5
        return
    if frame.pc == 5:
        s.pop("$cb", None)
        if _next_callback(r, frame, "rollback", 3, c):
            return
        release(w, HOTPLUG_LOCK, r.t.name)
        r.visible = True
        r.ret("err")


def _down(r, frame: Frame) -> None:
    """cpu_down(c)."""
    s = frame.slots
    c = int(s["cpu"])
    w = r.w
    if frame.pc == 0:
        acquire(w, HOTPLUG_LOCK, False, r.t.name)     # cpu_hotplug_lock for write
        w.active[c] = False
        r.record(frame, None, f"cpu_down(CPU{c}) begins: CPU inactive, cpu_hotplug_lock taken")
        r.visible = True
        s["todo"] = _states(r, (ONLINE,), reverse=True)
        frame.pc = 1
        return
    if frame.pc in (1, 2):
        s.pop("$cb", None)
        if _next_callback(r, frame, "todo", 3, c, "teardown"):
            return
        if frame.pc == 1:
            w.online[c] = False
            r.record(frame, None, f"CPU{c} marked offline")
            r.visible = True
            s["todo"] = _states(r, (PREPARE, STARTING), reverse=True)
            frame.pc = 2
            return
        release(w, HOTPLUG_LOCK, r.t.name)
        r.record(frame, None, f"cpu_down(CPU{c}) done")
        r.visible = True
        r.ret("ok")
