"""Run one thread of the model for one transition.

A transition executes local events (branches on local values, calls that
touch no lifecycle state, assignments to locals) freely, and ends right
after one visible event: a lock operation or any read or write of shared
lifecycle state. See semantics.py for what each primitive means."""

from __future__ import annotations

from dataclasses import dataclass, field

from kvmplan.cparse import events as ev
from kvmplan.cparse.compile import strip_ref
from kvmplan.cparse.events import Event
from kvmplan.graph.build import function_ref
from kvmplan.graph.hooks import STARTING
from kvmplan.graph.view import describe
from kvmplan.model.builtins import step_builtin
from kvmplan.model.kernel import (
    ATOMIC_OPS,
    CONTEXTS,
    ERROR_POINTERS,
    HOTPLUG_LOCK,
    NOT_LOCKS,
    SHARED_LOCK_MODES,
    SPIN_LOCK_MODES,
    TRANSPARENT,
)
from kvmplan.model.program import (
    Program,
    Target,
    does_enabling_work,
    enabling_work_in,
    errno_like,
)
from kvmplan.model.semantics import handlers
from kvmplan.model.world import Frame, Thread, World, acquire, holds, rebooting, release

_MAX_LOCAL = 5000


@dataclass
class Step:
    """One visible step of a trace."""

    thread: str
    cpu: int
    event: str
    function: str
    file: str
    line: int


@dataclass
class Violation:
    rule: str
    message: str
    function: str
    file: str
    line: int


Site = tuple[str, str, int]      # function, file, line


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
        if frame.key.startswith("@"):
            self.out.steps.append(Step(self.t.name, frame.cpu, text, frame.slots.get("fn", frame.key),
                                       frame.slots.get("file", ""), int(frame.slots.get("line", 0))))
            return
        f = self.fn(frame)
        self.out.steps.append(Step(self.t.name, frame.cpu, text, f.name, f.file, e.line if e else f.line))

    def site(self, frame: Frame, line: int) -> Site:
        if frame.key.startswith("@"):
            return (str(frame.slots.get("fn", frame.key)), str(frame.slots.get("file", "")),
                    line or int(frame.slots.get("line", 0)))
        f = self.fn(frame)
        return (f.name, f.file, line)

    @staticmethod
    def violation_at(rule: str, message: str, function: str, file: str, line: int) -> Violation:
        return Violation(rule, message, function, file, line)

    def violate(self, rule: str, message: str, frame: Frame, line: int) -> None:
        name, file, line = self.site(frame, line)
        self.out.violations.append(Violation(rule, message, name, file, line))

    def context(self) -> str:
        return innermost_context(self.t)

    def shared_write(self) -> None:
        """A write to shared state: an IPI callback that failed has now recorded it."""
        for f in self.t.frames:
            f.slots.pop("$dropped", None)

    def init_work(self, frame: Frame, line: int, what: str) -> None:
        """KVM011: module init goes on with lifecycle work after exposing /dev/kvm."""
        exposed = self.w.globals.get("$exposed")
        if self.t.name == "init" and self.w.module == "loading" and isinstance(exposed, tuple):
            self.violate("KVM011", f"module init still {what} after /dev/kvm was exposed by "
                         f"{exposed[0]}() at {exposed[1]}:{exposed[2]}: userspace can already "
                         "create VMs against a half-initialized KVM", frame, line)

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
        return [self.out] + self.forks

    def push(self, key: str, cpu: int, ctx: str, args: dict[str, object] | None = None) -> None:
        self.t.frames.append(Frame(key, 0, cpu, ctx, dict(args or {})))

    def ret(self, value: object) -> None:
        frame = self.t.frames.pop()
        # guards and locks a function leaves held stay held (the code's own business)
        self.t.retval = value
        if self.t.frames:
            caller = self.t.frames[-1]
            slot = caller.slots.pop("$ret_slot", None)
            if isinstance(slot, str) and slot:
                caller.slots[slot] = value
        del frame

    def event(self, frame: Frame, e: Event) -> None:
        k = e.kind
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
        self.take(frame, e.name, e.mode in SHARED_LOCK_MODES, e.line)
        if e.mode in SPIN_LOCK_MODES:
            self.w.spinning = tuple(sorted(self.w.spinning + (self.t.name,)))
        self.record(frame, e, describe(e))
        self.visible = True
        frame.pc += 1

    def take(self, frame: Frame, lock: str, shared: bool, line: int) -> None:
        """Acquire a lock (Blocked if it must wait), recording lock-order edges.

        Taking again a lock the thread holds is KVM007: a recursive
        cpus_read_lock deadlocks against a waiting cpu_up/cpu_down, a mutex
        or spinlock against itself."""
        me = self.t.name
        site = self.site(frame, line)
        held = holds(self.w, me)
        for other, mode in held:
            if other != lock:
                self.out.edges.append(LockEdge(other, mode, self.w.sites.get((other, me), ("", "", 0)),
                                               lock, "r" if shared else "x", site, me))
        if not acquire(self.w, lock, shared, me):
            self.w.sites[(lock, me)] = site
            return
        first = self.w.sites.get((lock, me), ("", "", 0))
        where = f" (first taken in {first[0]}() at {first[1]}:{first[2]})" if first[1] else ""
        if lock == HOTPLUG_LOCK and shared:
            self.violate("KVM007", "cpus_read_lock() taken again by a thread that already holds "
                         f"it{where}: a waiting cpu_up/cpu_down deadlocks both", frame, line)
        elif self.context() == "setup":
            self.violate("KVM007", f"a cpuhp callback takes {lock}, which its registrant holds"
                         f"{where}: cpuhp_setup_state() runs the callback on each CPU's hotplug "
                         "thread and waits for it, so both wait forever", frame, line)
        else:
            self.violate("KVM007", f"{lock} taken again by the thread that holds it{where}: "
                         "self-deadlock", frame, line)

    def unlock(self, frame: Frame, e: Event) -> None:
        release(self.w, e.name, self.t.name)
        self.w.sites.pop((e.name, self.t.name), None)
        if e.mode in SPIN_LOCK_MODES and self.t.name in self.w.spinning:
            rest = list(self.w.spinning)
            rest.remove(self.t.name)
            self.w.spinning = tuple(rest)
        self.record(frame, e, describe(e))
        self.visible = True
        frame.pc += 1

    # --- control flow ---------------------------------------------------------
    def branch(self, frame: Frame, e: Event) -> None:
        truth = self.cond(frame, e.cond)
        shared = _reads_shared(e.cond, self.w)
        if truth is None:
            side = self.p.failure_side.get((frame.key, frame.pc), "")
            fallible = self.inject and self.w.failures_left > 0 and side \
                and self.t.name in ("init", "user") and _cond_slots_unknown(e.cond, frame)
            if fallible:
                alt = self.w.copy()
                alt.failures_left -= 1
                runner = Runner(self.p, alt, self.t.name, self.inject)
                af = runner.t.frames[-1]
                runner.record(af, e, f"inject failure: {describe_cond(e.cond)}")
                af.pc = af.pc + 1 if side == "then" else e.target
                runner.visible = True
                self.forks.extend(runner.run())
            # take the side that is not the error path
            truth = side == "else" if side else False
        if shared:
            self.visible = True
            self.record(frame, e, f"if ({describe_cond(e.cond)}) -> {'yes' if truth else 'no'}")
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
            if isinstance(a, int) and isinstance(b, int):
                return {"<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b}[c[1]]
            return None
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
        if e.name in self.w.globals:
            self.w.globals[e.name] = self.value(frame, e.value)
            self.shared_write()
            self.record(frame, e, f"{e.name} = {e.value}")
            self.visible = True
        else:
            frame.slots[e.name] = self.value(frame, e.value)
        frame.pc += 1

    def loop(self, frame: Frame, e: Event) -> None:
        key = f"$loop{frame.pc}"
        if e.mode == "cpus":
            if key not in frame.slots:
                which = e.name
                cpus = [c for c in range(self.w.ncpus) if self.w.online[c]] if which == "online" \
                    else list(range(self.w.ncpus))
                frame.slots[key] = tuple(cpus)
                work = enabling_work_in(self.p, frame.key, frame.pc + 1, e.target) if which == "online" else ""
                if work:
                    self.hotplug_window(frame, e.line, cpus, "a for_each_online_cpu() loop", work)
            todo = frame.slots[key]
            assert isinstance(todo, tuple)
            if not todo:
                del frame.slots[key]
                frame.pc = e.target
                return
            if e.args:
                frame.slots[e.args[0]] = todo[0]
            frame.slots[key] = todo[1:]
            frame.pc += 1
            return
        walk = e.mode == "list" and e.name in self.p.vocab.get("list", ())
        if key in frame.slots:
            del frame.slots[key]
            if walk:
                self.w.globals["$walk"] = tuple(x for x in self.w.globals.get("$walk", ())
                                                if x[0] != self.t.name)
            frame.pc = e.target
            return
        if walk:
            # the walk is an interleaving point: others may run while it goes on
            name, file, line = self.site(frame, e.line)
            walkers = tuple(self.w.globals.get("$walk", ()))
            self.w.globals["$walk"] = tuple(sorted(walkers + ((self.t.name, name, file, line),)))
            self.record(frame, e, f"walk {e.name} begins")
            self.visible = True
            if not _body_matters(self.p, frame.key, frame.pc, e.target):
                frame.slots[key] = "skip"      # the next visit ends the walk
                return
            frame.slots[key] = "once"
            frame.pc += 1
            return
        if _body_matters(self.p, frame.key, frame.pc, e.target):
            frame.slots[key] = "once"
            frame.pc += 1
        else:
            frame.pc = e.target

    def loop_end(self, frame: Frame, e: Event) -> None:
        frame.pc = e.target

    # --- calls ----------------------------------------------------------------
    def call(self, frame: Frame, e: Event) -> None:
        """A call: what it resolves to (program.Target, or a kernel helper by
        name) picks its row of the semantics table."""
        target = self.p.targets.get((frame.key, frame.pc)) or _SKIP
        if e.kind == ev.CALL and e.name in ATOMIC_OPS and e.args:
            kind = "atomic"
        elif e.kind == ev.CALL and e.name in ERROR_POINTERS:
            kind = "error_pointer"
        elif e.kind == ev.CALL and e.name in TRANSPARENT and e.args:
            kind = "transparent"
        else:
            kind = target.kind
        frame.pc += 1
        _CALLS[kind](self, frame, e, target)

    def code(self, frame: Frame, e: Event, target: Target) -> None:
        """Code of the lifecycle is interpreted; other code is skipped."""
        if target.kind == "skip":
            if e.slot:
                frame.slots[e.slot] = "?"
            return
        frame.slots["$ret_slot"] = e.slot
        self.push(target.function, frame.cpu, frame.ctx)

    def error_pointer(self, frame: Frame, e: Event, target: Target) -> None:
        if e.slot:
            frame.slots[e.slot] = "err"

    def transparent(self, frame: Frame, e: Event, target: Target) -> None:
        if e.slot:
            frame.slots[e.slot] = self.value(frame, e.args[0])

    def uret(self, frame: Frame, e: Event, target: Target) -> None:
        self.record(frame, e, f"{e.name}() on CPU{frame.cpu}"
                    + (" in IPI context" if self.context() == "IPI" else ""))
        if self.context() == "IPI":
            self.violate("KVM013", f"{e.name}() runs in IPI (interrupt) context on CPU{frame.cpu}: "
                         "the interrupt may have hit another hypervisor's guest, whose MSRs "
                         "would be snapshotted or restored as the host's", frame, e.line)
        if e.slot:
            frame.slots[e.slot] = "?"

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
            self.shared_write()
        if e.slot:
            frame.slots[e.slot] = cur
        self.record(frame, e, f"{e.name}({name}) -> {cur}")
        self.visible = True

    def vendor(self, frame: Frame, e: Event, target: Target) -> None:
        kind, name = target.kind, target.function
        c = frame.cpu
        impl = self.p.graph.functions.get(name)
        if kind == "enable":
            ctx = self.context()
            if self.w.virt[c]:
                self.violate("KVM003", f"{name} runs on CPU{c} where virtualization is already on",
                             frame, e.line)
                result: object = "err"
                text = f"{name}() on CPU{c}: virtualization already on -> -EBUSY"
            elif self.w.bad[c]:
                result = "err"
                text = f"{name}() on CPU{c} fails (this CPU can't enable virtualization)"
                if ctx == STARTING:
                    self.violate("KVM004", f"{name} fails on CPU{c} inside a STARTING hotplug "
                                 "callback, where the failure can't stop the CPU from coming online",
                                 frame, e.line)
                elif ctx == "IPI":
                    self.drop_in_ipi(frame, e.line, f"{name} fails on CPU{c}")
            else:
                self.w.virt[c] = True
                self.work_done(c, "enable")
                result = "ok"
                text = f"{name}() on CPU{c}: virtualization on"
                final = self.w.globals.get("$virt_final")
                if isinstance(final, tuple):
                    self.violate("KVM009", f"{name} turns virtualization on on CPU{c} after KVM's "
                                 f"reboot/shutdown disable {final[0]}() ran: the firmware gets the "
                                 "CPU with VMX/SVM on", frame, e.line)
                self.init_work(frame, e.line, "enables virtualization")
        else:
            if not self.w.virt[c] and not rebooting(self.w):
                # once a reboot has begun KVM expects (and forgives) a faulting
                # disable: kvm_rebooting is set before it turns virtualization off
                self.violate("KVM003", f"{name} runs on CPU{c} where virtualization is off",
                             frame, e.line)
            self.w.virt[c] = False
            result = "ok"
            text = f"{name}() on CPU{c}: virtualization off"
        if e.slot:
            frame.slots[e.slot] = result
        self.record(frame, e, text + (f" [{impl.file}:{impl.line}]" if impl else ""))
        self.visible = True

    def drop_in_ipi(self, frame: Frame, line: int, what: str) -> None:
        """A failure inside an IPI callback: KVM004 unless the callback records it
        in shared state before it returns (checked when the cross call goes on)."""
        for f in reversed(self.t.frames):
            if f.key == "@cross":
                name, file, line = self.site(frame, line)
                if f is frame:
                    self.violate("KVM004", f"{what} in an on_each_cpu()/IPI call whose return "
                                 "value is lost", frame, line)
                else:
                    f.slots["$dropped"] = (name, file, line, what)
                return

    def tdx(self, frame: Frame, e: Event, target: Target) -> None:
        kind = target.kind
        c = frame.cpu
        w = self.w
        if kind == "tdx_cpu":
            flags = w.percpu.setdefault("$tdx", [False] * w.ncpus)
            if not w.virt[c]:
                self.violate("KVM014", f"{e.name}() runs on CPU{c} without VMXON: TDX per-CPU init "
                             "needs virtualization on", frame, e.line)
                result = "err"
                text = f"{e.name}() on CPU{c} fails: VMX is off"
            else:
                flags[c] = True
                self.work_done(c, "tdx")
                result = "ok"
                text = f"{e.name}() on CPU{c}: TDX per-CPU init done"
        else:
            w.globals["$tdx_enabled"] = 1
            result = "ok"
            text = f"{e.name}(): TDX module initialized"
        if e.slot:
            frame.slots[e.slot] = result
        self.record(frame, e, text)
        self.visible = True

    def hotplug_window(self, frame: Frame, line: int, cpus: list[int], how: str,
                       work: str) -> None:
        """KVM005, first half: per-CPU `work` ("enable" or "tdx") over the online
        CPUs, issued without excluding hotplug, misses a CPU that cpu_up() is
        bringing up. The second half is in builtins._up: if that CPU becomes
        active without the work while it persists on the CPUs the pass did
        cover, the pass left a hole."""
        if any(lock == HOTPLUG_LOCK for lock, _ in holds(self.w, self.t.name)):
            return
        name, file, line = self.site(frame, line)
        marks = list(self.w.globals.get("$missed", ()))
        for t in self.w.threads:
            for f in t.frames:
                if f.key == "@up" and f.pc == 1 and int(f.slots["cpu"]) not in cpus:
                    marks.append((int(f.slots["cpu"]), work, tuple(cpus), how, name, file, line))
        self.w.globals["$missed"] = tuple(sorted(set(marks)))

    def work_done(self, c: int, work: str) -> None:
        marks = self.w.globals.get("$missed")
        if marks:
            self.w.globals["$missed"] = tuple(m for m in marks if not (m[0] == c and m[1] == work))

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
        self.record(frame, e, f"cross call {e.name} on online CPUs {cpus}")
        self.visible = True
        work = "enable" if target.kind == "enable" else (
            does_enabling_work(self.p, target.function) if target.kind == "code" else "")
        if e.mode != "single" and work:
            self.hotplug_window(frame, e.line, cpus, f"the cross call of {e.name}()", work)
        f = self.fn(frame)
        self.push("@cross", frame.cpu, frame.ctx, {"todo": tuple(cpus), "target": target.function,
                                                   "kind": target.kind, "fn": f.name,
                                                   "file": f.file, "line": e.line})

    # --- shared state -----------------------------------------------------------
    def count(self, frame: Frame, e: Event) -> None:
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
        self.shared_write()
        self.init_work(frame, e.line, f"changes {e.name}")
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
            self.shared_write()
            self.record(frame, e, f"{e.name}[CPU{c}] = {flags[c]}")
        self.visible = True
        frame.pc += 1

    def list_op(self, frame: Frame, e: Event) -> None:
        frame.pc += 1
        if e.name not in self.p.vocab.get("list", ()):
            return
        verb = "adds a VM to" if e.kind == ev.LIST_ADD else "deletes a VM from"
        for walker, fn, file, line in self.w.globals.get("$walk", ()):
            if walker != self.t.name:
                self.violate("KVM006", f"{verb} {e.name} while the {walker} thread walks it in "
                             f"{fn}() at {file}:{line} with no lock in common", frame, e.line)
                break
        self.init_work(frame, e.line, f"{verb} {e.name}")
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
            if e.mode == "misc":
                if self.t.name == "init" and self.w.module == "loading":
                    self.w.globals["$exposed"] = self.site(frame, e.line)
            else:
                self.init_work(frame, e.line, f"registers {e.name}")
            self.w.regs.add(item)
        else:
            self.w.regs.discard(item)
        if e.slot:
            frame.slots[e.slot] = "ok"
        self.record(frame, e, describe(e))
        self.visible = True
        frame.pc += 1

    def cpuhp(self, frame: Frame, e: Event) -> None:
        f = self.fn(frame)
        frame.pc += 1
        frame.slots["$ret_slot"] = e.slot
        args = list(e.args) + ["", "", "", ""]
        state = args[0]
        data = {"state": state, "variant": e.mode, "fn": f.name, "file": f.file, "line": e.line}
        if e.kind == ev.CPUHP_SETUP:
            self.init_work(frame, e.line, f"registers cpuhp state {state}")
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


def _truth(v: object) -> bool | None:
    if v == "ok" or v == "f":
        return False
    if v == "err" or v == "t":
        return True
    if isinstance(v, int):
        return v != 0
    return None


def _reads_shared(c, w: World) -> bool:
    if not c:
        return False
    if c[0] == "global":
        return c[1] in w.globals
    return any(isinstance(x, tuple) and _reads_shared(x, w) for x in c[1:])


def _cond_slots_unknown(c, frame: Frame) -> bool:
    if not c:
        return False
    if c[0] == "slot":
        return frame.slots.get(c[1], "?") == "?"
    return any(isinstance(x, tuple) and _cond_slots_unknown(x, frame) for x in c[1:])


def describe_cond(c) -> str:
    if not c:
        return ""
    op = c[0]
    if op in ("slot", "global", "const", "unknown", "fault", "case"):
        return str(c[1])
    if op == "not":
        inner = describe_cond(c[1])
        return f"!({inner})" if c[1] and c[1][0] in ("cmp", "and", "or") else f"!{inner}"
    if op in ("and", "or"):
        return f"{describe_cond(c[1])} {'&&' if op == 'and' else '||'} {describe_cond(c[2])}"
    if op == "cmp":
        return f"{describe_cond(c[2])} {c[1]} {describe_cond(c[3])}"
    return str(c)


def innermost_context(t: Thread) -> str:
    """The innermost callback context of the thread (see CONTEXTS), or ""."""
    for f in reversed(t.frames):
        if f.ctx in CONTEXTS:
            return f.ctx
    return ""




def _body_matters(p: Program, key: str, start: int, end: int) -> bool:
    ck = (key, start)
    if ck in p.body_matters:
        return p.body_matters[ck]
    fn = p.functions[key]
    result = False
    for i in range(start + 1, min(end, len(fn.events))):
        e = fn.events[i]
        if e.kind in (ev.CALL, ev.ICALL, ev.CROSS_CALL):
            t = p.targets.get((key, i))
            if t is not None and t.kind != "skip":
                result = True
                break
        elif e.kind not in (ev.BRANCH, ev.JUMP, ev.LABEL, ev.LOOP, ev.LOOP_END, ev.ASSIGN, ev.RETURN,
                            ev.ASSERT, ev.ASM):
            result = True
            break
    p.body_matters[ck] = result
    return result


# The semantics table's rows, bound to this engine's handlers.
_HANDLERS = {kind: getattr(Runner, name) for kind, name in handlers("event").items()}
_CALLS = {kind: getattr(Runner, name) for kind, name in handlers("call").items()}
_SKIP = Target("skip")
