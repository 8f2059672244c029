"""Run one thread of the model for one transition.

A transition executes local events (branches on local values, calls that
touch no lifecycle state, assignments to locals) freely, and ends right
after one visible event: a lock operation or any read or write of shared
lifecycle state. See semantics.py for what each primitive means."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kvmplan.cparse import events as ev
from kvmplan.cparse.compile import strip_ref
from kvmplan.cparse.events import Event, Function
from kvmplan.graph.build import function_ref
from kvmplan.graph.view import describe
from kvmplan.model.builtins import step_builtin
from kvmplan.model.kernel import (
    ATOMIC_OPS,
    IRQS_OFF,
    NOT_LOCKS,
    SHARED_LOCK_MODES,
    SLEEPING_LOCK_MODES,
    SPIN_LOCK_MODES,
    TASK_CONTEXTS,
    VM_IOCTL,
)
from kvmplan.model.program import (
    Program,
    Target,
    cond_globals,
    cond_slots,
    enabling_work_in,
    errno_like,
)
from kvmplan.model.semantics import call_kind, handlers
from kvmplan.model.rules import WATCHED, violations
from kvmplan.model.rules.base import At
from kvmplan.model.trace import LockEdge, Site, Step, Violation
from kvmplan.model.world import (
    NO_CPU,
    Blocked,
    Frame,
    World,
    acquire,
    holds,
    local_call,
    release,
    schedule,
    taken,
    unschedule,
)

_MAX_LOCAL = 5000


@dataclass
class Outcome:
    world: World
    steps: list[Step] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)
    edges: list[LockEdge] = field(default_factory=list)


class Runner:
    def __init__(self, program: Program, world: World, tname: str, inject: bool):
        self.p = program
        self.w = world
        self.t = world.mutable(tname)
        self.out = Outcome(world)
        self.forks: list[Outcome] = []
        self.inject = inject
        self.visible = False

    # --- helpers --------------------------------------------------------------
    def fn(self, frame: Frame):
        return self.p.functions[frame.key]

    def record(self, frame: Frame, e: Event | None, text: str) -> None:
        irq, kept, task = frame.ctx in IRQS_OFF, self.t.cpu_holds(), frame.ctx in TASK_CONTEXTS
        if frame.key.startswith("@"):
            self.out.steps.append(Step(self.t.name, frame.cpu, text, frame.slots.get("fn", frame.key),
                                       frame.slots.get("file", ""), int(frame.slots.get("line", 0)),
                                       irq, kept, task))
            return
        f = self.fn(frame)
        self.out.steps.append(Step(self.t.name, frame.cpu, text, f.name, f.file,
                                   e.line if e else f.line, irq, kept, task))

    def site(self, frame: Frame, line: int) -> Site:
        if frame.key.startswith("@"):
            return (str(frame.slots.get("fn", frame.key)), str(frame.slots.get("file", "")),
                    line or int(frame.slots.get("line", 0)))
        f = self.fn(frame)
        return (f.name, f.file, line)

    def fire(self, hook: str, frame: Frame, line: int, cpu: int | None = None,
             site: Site | None = None, **fields: Any) -> None:
        """Run the rules' checks of hook point `hook` (rules.base.HOOKS) at this
        step: on `cpu` (the frame's by default), at the site of `line` in the
        frame (or `site`); their violations join the outcome."""
        if hook not in WATCHED:
            return
        at = At(self.w, self.p, self.t, frame.cpu if cpu is None else cpu, site=site,
                where=lambda: self.site(frame, line), frame=frame, **fields)
        self.out.violations.extend(violations(hook, at))

    def context(self) -> str:
        return self.t.context()

    def shared_write(self, frame: Frame, line: int) -> None:
        self.fire("shared_write", frame, line)

    def value(self, frame: Frame, atom: str) -> object:
        atom = atom.strip()
        if atom in frame.slots:
            return frame.slots[atom]
        if atom.lstrip("-").isdigit():
            return int(atom)
        if errno_like(atom):
            return "err"
        if atom in ("true",):
            return "t"
        if atom in ("false",):
            return "f"
        if atom in self.w.globals:
            return self.w.globals[atom]
        return "?"

    # --- the transition -------------------------------------------------------
    def run(self) -> list[Outcome]:
        """Run the thread to its next visible step, on the CPU the scheduler
        gives it (world.where); Blocked if none can run it now."""
        if self.t.frames and not schedule(self.w, self.t):
            raise Blocked
        budget = _MAX_LOCAL
        while not self.visible and self.t.frames and budget > 0:
            budget -= 1
            frame = self.t.frames[-1]
            if frame.key.startswith("@"):
                step_builtin(self, frame)
                continue
            fn = self.fn(frame)
            if frame.pc >= len(fn.events):
                self.ret("ok")
                continue
            self.event(frame, fn.events[frame.pc])
        unschedule(self.t)
        return [self.out] + self.forks

    def push(self, key: str, cpu: int, ctx: str, args: dict[str, object] | None = None) -> None:
        """Call `key` on `cpu` in context `ctx`. Code bound to another CPU
        (an IPI, a hotplug callback) waits while that CPU is kept from it
        (world.taken): the transition is then not taken yet."""
        self.enter(cpu, ctx)
        self.t.frames.append(Frame(key, 0, cpu, ctx, dict(args or {})))

    def enter(self, cpu: int, ctx: str) -> None:
        if ctx not in TASK_CONTEXTS and taken(self.w, self.t, cpu, ctx in IRQS_OFF):
            raise Blocked

    def creating(self) -> bool:
        """Is the thread creating a vCPU (Program.vcpu_entries)?"""
        return any(f.key in self.p.vcpu_entries for f in self.t.frames)

    def fork(self) -> "Runner":
        """A runner on a copy of the world as it is now, whose outcome keeps
        the steps and violations of this transition so far; its caller
        sends it another way and adds its run() to self.forks."""
        runner = Runner(self.p, self.w.copy(), self.t.name, self.inject)
        runner.out.steps = list(self.out.steps)
        runner.out.violations = list(self.out.violations)
        runner.out.edges = list(self.out.edges)
        return runner

    def ret(self, value: object) -> None:
        frame = self.t.frames.pop()
        if frame.key in self.p.vcpu_entries:
            self.fire("vcpu_create_end", frame, self.fn(frame).line,
                      outcome="fails" if value == "err" else "done")
        # guards and locks a function leaves held stay held (the code's own business)
        self.t.retval = value
        if self.t.frames:
            caller = self.t.frames[-1]
            if caller.cpu == NO_CPU and not schedule(self.w, self.t):
                raise Blocked               # back in a task no CPU can run now
            slot, caller.ret_slot = caller.ret_slot, None
            if slot:
                caller.slots[slot] = value
        del frame

    def event(self, frame: Frame, e: Event) -> None:
        k = e.kind
        consumed = self.p.consumes.get((frame.key, frame.pc))
        if consumed:
            if self.t.name == "init" and not self.w.produced:
                self.record(frame, e, f"reads {', '.join(consumed)} (the vendor's "
                            "hardware_setup() has not run yet)")
            self.fire("consume", frame, e.line, name=", ".join(consumed))
        read = self.p.vm_reads.get((frame.key, frame.pc))
        if read:
            kind = "vcpu_create" if self.creating() else ""
            for name in read:
                if name in self.w.globals:
                    if kind:
                        self.record(frame, e, f"vCPU creation reads {name} "
                                    f"({_show(self.w.globals[name])})")
                    self.fire("field_read", frame, e.line, name=name, kind=kind)
        handler = _HANDLERS.get(k)
        if handler is None:
            frame.pc += 1
            return
        handler(self, frame, e)

    # --- locks ----------------------------------------------------------------
    def lock(self, frame: Frame, e: Event) -> None:
        if e.mode in NOT_LOCKS and e.name == e.mode:
            frame.pc += 1
            return
        self.take(frame, e.name, e.mode in SHARED_LOCK_MODES, e.line,
                  sleeps=e.mode in SLEEPING_LOCK_MODES)
        if e.mode in SPIN_LOCK_MODES:
            self.t.spins += 1
            self.t.enter_atomic(frame.cpu)
        self.record(frame, e, describe(e))
        self.visible = True
        frame.pc += 1

    def take(self, frame: Frame, lock: str, shared: bool, line: int, sleeps: bool = True) -> None:
        """Acquire a lock (Blocked if it must wait), recording lock-order edges;
        the lock hook says whether the thread already held it."""
        me = self.t.name
        site = self.site(frame, line)
        held = holds(self.w, me)
        for other, mode in held:
            if other != lock:
                self.out.edges.append(LockEdge(other, mode, self.w.sites.get((other, me), ("", "", 0)),
                                               lock, "r" if shared else "x", site, me))
        if not acquire(self.w, lock, shared, me):
            self.w.sites[(lock, me)] = site
            self.fire("lock", frame, line, site=site, lock=lock, shared=shared, sleeps=sleeps,
                      outcome="taken")
            return
        self.fire("lock", frame, line, site=site, lock=lock, shared=shared, sleeps=sleeps,
                  outcome="again",
                  first=self.w.sites.get((lock, me), ("", "", 0)))

    def unlock(self, frame: Frame, e: Event) -> None:
        release(self.w, e.name, self.t.name)
        self.w.sites.pop((e.name, self.t.name), None)
        if e.mode in SPIN_LOCK_MODES and self.t.spins:
            self.t.spins -= 1
            self.t.leave_atomic()
        self.record(frame, e, describe(e))
        self.visible = True
        frame.pc += 1

    # --- control flow ---------------------------------------------------------
    def branch(self, frame: Frame, e: Event) -> None:
        truth = self.cond(frame, e.cond)
        shared = _reads_shared(e.cond, self.w, self.p.settled)
        if truth is None:
            side = self.p.failure_side.get((frame.key, frame.pc), "")
            fallible = self.inject and self.w.failures_left > 0 and side \
                and self.t.name in ("init", "user") \
                and any(frame.slots.get(s, "?") == "?" for s in cond_slots(e.cond))
            if fallible:
                runner = self.fork()
                runner.w.failures_left -= 1
                af = runner.t.frames[-1]
                for slot, value in self.p.failure_values.get((frame.key, frame.pc), ()):
                    if af.slots.get(slot, "?") == "?":
                        af.slots[slot] = value
                runner.record(af, e, _injected(self.fn(frame), frame.pc, e.cond))
                af.pc = af.pc + 1 if side == "then" else e.target
                runner.visible = True
                self.forks.extend(runner.run())
            # take the side that is not the error path, else the one the
            # front-end chose (the whole condition false: compile.branch_false)
            truth = side == "else" if side else e.mode == "fall"
            if frame.ctx == VM_IOCTL and not fallible and (frame.key, frame.pc) in self.p.vm_forks \
                    and not any(n in self.w.globals for n in cond_globals(e.cond)):
                # in an ioctl on the VM the user's arguments decide: both ways
                runner = self.fork()
                af = runner.t.frames[-1]
                runner.user_choice(af, e, not truth)
                runner.visible = True
                self.forks.extend(runner.run())
                self.user_choice(frame, e, truth)
                return
        if shared or _reads_changed(e.cond, self.w, self.p):
            self.visible = self.visible or shared
            text = describe_cond(e.cond, _producers(self.fn(frame), frame.pc))
            self.record(frame, e, f"if ({text}) -> {'yes' if truth else 'no'}")
        frame.pc = frame.pc + 1 if truth else e.target

    def user_choice(self, frame: Frame, e: Event, truth: bool) -> None:
        """Take the side `truth` of a branch the ioctl's arguments decide;
        the trace shows it, a switch only by the case it enters. On its
        error side (Program.vm_errors) the failed call's result says so to
        the code after it, as for an injected failure."""
        side, values = self.p.vm_errors.get((frame.key, frame.pc), ("", ()))
        if side and (side == "then") == truth:
            for slot, value in values:
                if frame.slots.get(slot, "?") == "?":
                    frame.slots[slot] = value
        c = e.cond
        if c and c[0] == "not" and c[1] and c[1][0] == "case":
            if not truth:
                self.record(frame, e, f"switch: case {str(c[1][1]).split('==', 1)[-1]}")
        else:
            text = describe_cond(c, _producers(self.fn(frame), frame.pc))
            self.record(frame, e, f"if ({text}) -> {'yes' if truth else 'no'} (unknown in an "
                        "ioctl: both sides explored)")
        frame.pc = frame.pc + 1 if truth else e.target

    def cond(self, frame: Frame, c) -> bool | None:
        if c is None:
            return None
        op = c[0]
        if op == "slot":
            return _truth(frame.slots.get(c[1], "?"))
        if op == "global":
            return _truth(self.w.globals[c[1]]) if c[1] in self.w.globals else None
        if op == "const":
            v = c[1]
            return int(v, 0) != 0 if v.lstrip("-").isdigit() else None
        if op == "not":
            inner = self.cond(frame, c[1])
            return None if inner is None else not inner
        if op in ("and", "or"):
            a, b = self.cond(frame, c[1]), self.cond(frame, c[2])
            if op == "and":
                return False if (a is False or b is False) else (None if None in (a, b) else True)
            return True if (a is True or b is True) else (None if None in (a, b) else False)
        if op == "cmp":
            a, b = self.cval(frame, c[2]), self.cval(frame, c[3])
            if a is None or b is None:
                return None
            if c[1] == "==":
                return a == b
            if c[1] == "!=":
                return a != b
            return order(c[1], a, b)
        return None

    def cval(self, frame: Frame, c) -> object | None:
        if c[0] == "slot":
            v = frame.slots.get(c[1], "?")
        elif c[0] == "global":
            v = self.w.globals.get(c[1], "?")
        elif c[0] == "const":
            v = int(c[1], 0) if c[1].lstrip("-").isdigit() else c[1]
        else:
            return None
        if v == "ok":
            return 0
        return None if v == "?" else v

    def jump(self, frame: Frame, e: Event) -> None:
        frame.pc = e.target if e.target >= 0 else len(self.fn(frame).events)

    def label(self, frame: Frame, e: Event) -> None:
        frame.pc += 1

    def return_(self, frame: Frame, e: Event) -> None:
        self.ret(self.value(frame, e.value) if e.value else "ok")

    def assign(self, frame: Frame, e: Event) -> None:
        if e.scope == "vm" and e.name not in self.w.globals:
            frame.pc += 1               # a field of the VM the model doesn't follow
            return
        if e.scope != "local" and e.name in self.p.init_local:
            self.w.globals[e.name] = self.value(frame, e.value)
        elif e.scope != "local" and e.name in self.w.globals:
            new = self.value(frame, e.value)
            if e.scope == "vm":
                self.field_write(frame, e, new)
            self.w.globals[e.name] = new
            self.shared_write(frame, e.line)
            self.record(frame, e, f"{e.name} = {e.value}")
            self.visible = True
        else:
            frame.slots[e.name] = self.value(frame, e.value)
        frame.pc += 1

    def loop(self, frame: Frame, e: Event) -> None:
        if e.mode == "cpus":
            self.cpu_loop(frame, e)
            return
        pc = frame.pc
        walk = e.mode == "list" and e.name in self.p.vocab.get("list", ())
        if pc in frame.loops:
            del frame.loops[pc]
            if walk:
                self.fire("walk_end", frame, e.line)
            frame.pc = e.target
            return
        if walk:
            # the walk is an interleaving point: others may run while it goes on
            self.fire("walk_begin", frame, e.line)
            self.record(frame, e, f"walk {e.name} begins")
            self.visible = True
            if not self.p.body_matters[(frame.key, pc)]:
                frame.loops[pc] = "skip"      # the next visit ends the walk
                return
            frame.loops[pc] = "once"
            frame.pc += 1
            return
        if self.p.body_matters[(frame.key, pc)]:
            frame.loops[pc] = "once"
            frame.pc += 1
        else:
            frame.pc = e.target

    def cpu_loop(self, frame: Frame, e: Event) -> None:
        """for_each_online_cpu / for_each_possible_cpu: the CPUs at the start."""
        pc = frame.pc
        if pc not in frame.loops:
            online = e.name == "online"
            cpus = tuple(c for c in range(self.w.ncpus) if self.w.online[c] or not online)
            frame.loops[pc] = cpus
            work = enabling_work_in(self.p, frame.key, pc + 1, e.target) if online else ""
            if work:
                self.fire("cpu_pass", frame, e.line, cpus=cpus, work=work,
                          how="a for_each_online_cpu() loop")
        todo = frame.loops[pc]
        assert isinstance(todo, tuple)
        if not todo:
            del frame.loops[pc]
            frame.pc = e.target
            return
        if e.args:
            frame.slots[e.args[0]] = todo[0]
        frame.loops[pc] = todo[1:]
        frame.pc += 1

    def loop_end(self, frame: Frame, e: Event) -> None:
        frame.pc = e.target

    # --- calls ----------------------------------------------------------------
    def call(self, frame: Frame, e: Event) -> None:
        """A call: what it resolves to (program.Target, or a kernel helper by
        name) picks its row of the semantics table."""
        target = self.p.targets.get((frame.key, frame.pc)) or _SKIP
        frame.pc += 1
        _CALLS[call_kind(e, target.kind)](self, frame, e, target)

    def code(self, frame: Frame, e: Event, target: Target) -> None:
        """Code of the lifecycle is interpreted; other code is skipped."""
        if target.kind == "skip":
            if e.slot:
                frame.slots[e.slot] = "?"
            return
        frame.ret_slot = e.slot
        if self.p.functions[target.function].name in self.p.setup_fns:
            self.fire("setup_begin", frame, e.line)
        self.push(target.function, frame.cpu, frame.ctx)

    def error_pointer(self, frame: Frame, e: Event, target: Target) -> None:
        if e.slot:
            frame.slots[e.slot] = "err"

    def transparent(self, frame: Frame, e: Event, target: Target) -> None:
        if e.slot:
            frame.slots[e.slot] = self.value(frame, e.args[0])

    def uret(self, frame: Frame, e: Event, target: Target) -> None:
        self.record(frame, e, f"{e.name}() on CPU{frame.cpu}" + self._where_cross(frame))
        self.fire("uret", frame, e.line, name=e.name)
        if e.slot:
            frame.slots[e.slot] = "?"

    def in_context(self, frame: Frame, e: Event, target: Target) -> None:
        """in_task(), preemptible(), irqs_disabled()...: true or false where
        the caller runs (the semantics table's row "context")."""
        interrupt = self.context() == "IPI" and not local_call(self.t, frame.cpu)
        irqs_off = frame.ctx in IRQS_OFF
        value = {"in_task": not interrupt, "irqs_disabled": irqs_off,
                 "preemptible": not irqs_off and not self.t.hold_depth}.get(e.name, interrupt)
        if e.slot:
            frame.slots[e.slot] = "t" if value else "f"

    def _where_cross(self, frame: Frame) -> str:
        """How a cross call's callback runs on this CPU: by IPI, or on the
        caller's own CPU directly (IRQs off); "" outside cross calls."""
        if self.context() != "IPI":
            return ""
        if local_call(self.t, frame.cpu):
            return " (the cross call's local call, IRQs off)"
        return " in IPI context"

    def atomic(self, frame: Frame, e: Event, target: Target) -> None:
        name = strip_ref(e.args[0])
        op = ATOMIC_OPS[e.name]
        cur = self.w.globals.get(name, 0)
        cur = cur if isinstance(cur, int) else 0
        if op == "inc":
            cur += 1
        elif op == "dec":
            cur -= 1
        elif op == "set":
            v = self.value(frame, e.args[1]) if len(e.args) > 1 else 0
            cur = v if isinstance(v, int) else 0
        self.w.globals[name] = cur
        if op != "read":
            self.shared_write(frame, e.line)
        if e.slot:
            frame.slots[e.slot] = cur
        self.record(frame, e, f"{e.name}({name}) -> {cur}")
        self.visible = True

    def vendor(self, frame: Frame, e: Event, target: Target) -> None:
        """The vendor per-CPU enable or disable on the frame's CPU."""
        name, c = target.function, frame.cpu
        impl = self.p.graph.functions.get(name)
        result: object = "ok"
        if target.kind == "enable":
            if self.w.virt[c]:
                outcome, result = "busy", "err"
                text = f"{name}() on CPU{c}: virtualization already on -> -EBUSY"
            elif self.w.bad[c]:
                outcome, result = "fails", "err"
                text = f"{name}() on CPU{c} fails (this CPU can't enable virtualization)"
            else:
                outcome = "on"
                text = f"{name}() on CPU{c}: virtualization on"
            self.fire("enable", frame, e.line, name=name, outcome=outcome)
            if outcome == "on":
                self.w.virt[c] = True
        else:
            self.fire("disable", frame, e.line, name=name)
            self.w.virt[c] = False
            text = f"{name}() on CPU{c}: virtualization off"
        if e.slot:
            frame.slots[e.slot] = result
        self.record(frame, e, text + (f" [{impl.file}:{impl.line}]" if impl else ""))
        self.visible = True

    def tdx(self, frame: Frame, e: Event, target: Target) -> None:
        """tdx_cpu_enable() needs virtualization on its CPU; tdx_enable()."""
        c, w = frame.cpu, self.w
        if target.kind == "tdx_cpu":
            done = w.tdx_done or (False,) * w.ncpus
            ok = w.virt[c]
            self.fire("tdx_cpu", frame, e.line, name=e.name, outcome="done" if ok else "fails")
            w.tdx_done = done[:c] + (True,) + done[c + 1:] if ok else done
            result = "ok" if ok else "err"
            text = (f"{e.name}() on CPU{c}: TDX per-CPU init done" if ok
                    else f"{e.name}() on CPU{c} fails: VMX is off")
        else:
            w.tdx_enabled = True
            result = "ok"
            text = f"{e.name}(): TDX module initialized"
        if e.slot:
            frame.slots[e.slot] = result
        self.record(frame, e, text)
        self.visible = True

    def cross_call(self, frame: Frame, e: Event) -> None:
        target = self.p.targets.get((frame.key, frame.pc))
        frame.pc += 1
        if target is None or target.kind == "skip":
            return
        if e.mode == "single":
            cpu_atom = e.args[0] if e.args else ""
            v = self.value(frame, cpu_atom)
            cpus = [v] if isinstance(v, int) and 0 <= v < self.w.ncpus and self.w.online[v] else []
        elif e.mode == "others":
            cpus = [c for c in range(self.w.ncpus) if self.w.online[c] and c != frame.cpu]
        else:
            cpus = [c for c in range(self.w.ncpus) if self.w.online[c]]
        self.t.enter_atomic(frame.cpu)          # on_each_cpu() runs with preemption off
        self.record(frame, e, f"cross call {e.name} on online CPUs {cpus}")
        self.visible = True
        work = "enable" if target.kind == "enable" else (
            self.p.work.get(target.function, "") if target.kind == "code" else "")
        if e.mode != "single" and work:
            self.fire("cpu_pass", frame, e.line, cpus=tuple(cpus), work=work,
                      how=f"the cross call of {e.name}()")
        f = self.fn(frame)
        # the IPIs go out before the caller runs its own call (smp_call_function_many_cond())
        todo = tuple(sorted(cpus, key=lambda c: c == frame.cpu))
        self.push("@cross", frame.cpu, frame.ctx, {"todo": todo, "target": target.function,
                                                   "kind": target.kind, "fn": f.name,
                                                   "file": f.file, "line": e.line})

    # --- shared state -----------------------------------------------------------
    def field_write(self, frame: Frame, e: Event, new: object) -> None:
        """A write of a field of the VM the model follows: does it change
        the value (an unknown value may)?"""
        old = self.w.globals.get(e.name, "?")
        changes = "?" in (old, new) or old != new
        self.fire("field_write", frame, e.line, name=e.name,
                  outcome="changes" if changes else "same",
                  kind="vcpu_create" if self.creating() else "")

    def count(self, frame: Frame, e: Event) -> None:
        if e.scope == "vm":
            if e.name not in self.w.globals:
                if e.slot:
                    frame.slots[e.slot] = "?"
                frame.pc += 1
                return
            self.field_write(frame, e, "?")     # an increment changes it
        cur = self.w.globals.get(e.name, 0)
        cur = cur if isinstance(cur, int) else 0
        old = cur
        if e.mode == "inc":
            cur += 1
        elif e.mode == "dec":
            cur -= 1
        else:
            v = self.value(frame, e.value)
            cur = v if isinstance(v, int) else cur
        self.w.globals[e.name] = cur
        if e.slot:
            frame.slots[e.slot] = old if e.value == "old" else cur
        self.record(frame, e, f"{e.name} {old} -> {cur}")
        self.visible = True
        self.shared_write(frame, e.line)
        self.fire("init_work", frame, e.line, verb=f"changes {e.name}")
        frame.pc += 1

    def percpu(self, frame: Frame, e: Event) -> None:
        flags = self.w.percpu.setdefault(e.name, [False] * self.w.ncpus)
        c = frame.cpu
        if e.kind == ev.PERCPU_READ:
            if e.slot:
                frame.slots[e.slot] = "t" if flags[c] else "f"
            self.record(frame, e, f"read {e.name}[CPU{c}] = {flags[c]}")
        else:
            flags[c] = e.value in ("set", "true", "1")
            self.shared_write(frame, e.line)
            self.record(frame, e, f"{e.name}[CPU{c}] = {flags[c]}")
        self.visible = True
        frame.pc += 1

    def list_op(self, frame: Frame, e: Event) -> None:
        frame.pc += 1
        if e.name not in self.p.vocab.get("list", ()):
            return
        verb = "adds a VM to" if e.kind == ev.LIST_ADD else "deletes a VM from"
        self.fire("list_op", frame, e.line, name=e.name, verb=verb)
        self.fire("init_work", frame, e.line, verb=f"{verb} {e.name}")
        if e.kind == ev.LIST_ADD:
            self.w.vms += 1
            self.t.owns_vm += 1
        else:
            self.w.vms = max(0, self.w.vms - 1)
            self.t.owns_vm = max(0, self.t.owns_vm - 1)
        self.record(frame, e, describe(e))
        self.visible = True

    def register(self, frame: Frame, e: Event) -> None:
        item = (e.mode, e.name)
        if e.kind == ev.REGISTER:
            if e.slot and self.inject and self.w.failures_left > 0 \
                    and self.t.name in ("init", "user"):
                self._fail_registration(e)
            self.fire("register", frame, e.line, name=e.name, kind=e.mode)
            if e.mode != "misc":
                self.fire("init_work", frame, e.line, verb=f"registers {e.name}")
            self.w.regs.add(item)
        else:
            self.w.regs.discard(item)
        if e.slot:
            frame.slots[e.slot] = "ok"
        self.record(frame, e, describe(e))
        self.visible = True
        frame.pc += 1

    def _fail_registration(self, e: Event) -> None:
        """A registration whose result the caller keeps can fail (an injected
        failure): then it registers nothing and returns an error."""
        alt = self.w.copy()
        alt.failures_left -= 1
        runner = Runner(self.p, alt, self.t.name, self.inject)
        af = runner.t.frames[-1]
        af.slots[str(e.slot)] = "err"
        runner.record(af, e, f"inject failure: {describe(e)} fails")
        af.pc += 1
        runner.visible = True
        self.forks.extend(runner.run())

    def cpuhp(self, frame: Frame, e: Event) -> None:
        f = self.fn(frame)
        frame.pc += 1
        frame.ret_slot = e.slot
        args = list(e.args) + ["", "", "", ""]
        state = args[0]
        data = {"state": state, "variant": e.mode, "fn": f.name, "file": f.file, "line": e.line}
        if e.kind == ev.CPUHP_SETUP:
            self.fire("init_work", frame, e.line, verb=f"registers cpuhp state {state}")
            data.update({"up": _resolve_cb(self.p, args[2], f), "down": _resolve_cb(self.p, args[3], f)})
            self.push("@cpuhp_setup", frame.cpu, frame.ctx, data)
        else:
            self.push("@cpuhp_remove", frame.cpu, frame.ctx, data)

    def noop(self, frame: Frame, e: Event) -> None:
        frame.pc += 1


def _resolve_cb(p: Program, expr: str, fn) -> str:
    for target, _ in function_ref(p.graph, expr, fn):
        key = p.key_of(target)
        if key in p.functions:
            return key
        return ""
    return ""


def order(op: str, a: object, b: object) -> bool | None:
    """An order comparison (<, >, <=, >=) of two values the model knows: two
    numbers compare as numbers; an error ("err": an -E... code, negative)
    is below any number from 0 up, so `if (r < 0) return r;` ends the path
    of a failed call; anything else is unknown."""
    if isinstance(a, int) and isinstance(b, int):
        return {"<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b}[op]
    if a == "err" and isinstance(b, int) and b >= 0:
        return op in ("<", "<=")
    if b == "err" and isinstance(a, int) and a >= 0:
        return op in (">", ">=")
    return None


def _show(v: object) -> str:
    """A value as a trace shows it."""
    return {"t": "true", "f": "false", "?": "a value the model doesn't know",
            "err": "an error", "ok": "0"}.get(v, str(v)) if isinstance(v, str) else str(v)


def _truth(v: object) -> bool | None:
    if v == "ok" or v == "f":
        return False
    if v == "err" or v == "t":
        return True
    if isinstance(v, int):
        return v != 0
    return None


def _reads_shared(c, w: World, settled: frozenset[str]) -> bool:
    """Does the condition read a global the model tracks, other than a
    settled one (Program.settled)?"""
    return any(name in w.globals and name not in settled for name in cond_globals(c))


def _reads_changed(c, w: World, p: Program) -> bool:
    """Does the condition read a settled global the code has changed?"""
    return any(name in p.settled and w.globals.get(name) != p.initial.get(name)
               for name in cond_globals(c))


def describe_cond(c, calls: dict[str, str] | None = None) -> str:
    """A branch condition as C-like text; a temporary the front-end made
    for a call's result ("$2") reads as the call (`calls`: slot → "f()")."""
    if not c:
        return ""
    op = c[0]
    if op == "slot" and calls and str(c[1]).startswith("$") and c[1] in calls:
        return calls[c[1]]
    if op in ("slot", "global", "const", "unknown", "fault", "case"):
        return str(c[1])
    if op == "not":
        inner = describe_cond(c[1], calls)
        return f"!({inner})" if c[1] and c[1][0] in ("cmp", "and", "or") else f"!{inner}"
    if op in ("and", "or"):
        return (f"{describe_cond(c[1], calls)} {'&&' if op == 'and' else '||'} "
                f"{describe_cond(c[2], calls)}")
    if op == "cmp":
        return f"{describe_cond(c[2], calls)} {c[1]} {describe_cond(c[3], calls)}"
    return str(c)


def _producers(fn: Function, pc: int) -> dict[str, str]:
    """Slot → "f()" for the slots whose value, at event `pc`, is the result
    of the last call that wrote them."""
    out: dict[str, str] = {}
    for e in fn.events[:pc]:
        if e.kind in (ev.CALL, ev.ICALL) and e.slot:
            out[e.slot] = f"{e.name}()"
        elif e.kind == ev.ASSIGN:
            out.pop(e.name, None)
    return out


def _injected(fn: Function, pc: int, c) -> str:
    """The step of an injected failure: which call fails, and the branch
    that then takes its error path."""
    calls = _producers(fn, pc)
    failing = list(dict.fromkeys(calls[s] for s in cond_slots(c) if s in calls))
    text = f"if ({describe_cond(c, calls)}) takes its error path"
    return f"inject failure: {' / '.join(failing)} fails; {text}" if failing else \
        f"inject failure: {text}"




# The semantics table's rows, bound to this engine's handlers.
_HANDLERS = {kind: getattr(Runner, name) for kind, name in handlers("event").items()}
_CALLS = {kind: getattr(Runner, name) for kind, name in handlers("call").items()}
_SKIP = Target("skip")
