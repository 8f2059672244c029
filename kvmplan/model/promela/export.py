"""The Promela text of a scenario: the program's functions inlined into the
environment threads, with each rule's statements at their hook points (see
the package docstring)."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path

from kvmplan.cparse import events as ev
from kvmplan.cparse.compile import strip_ref
from kvmplan.cparse.events import Cond, Event, Function
from kvmplan.graph.build import VENDOR_DIRS, function_ref
from kvmplan.graph.hooks import ONLINE, PREPARE, STARTING
from kvmplan.model.explorer import Bounds
from kvmplan.model.kernel import (
    ATOMIC_OPS,
    ERROR_POINTERS,
    HOTPLUG_LOCK,
    IRQS_OFF,
    NOT_LOCKS,
    SHARED_LOCK_MODES,
    SPIN_LOCK_MODES,
    SYSTEM_EVENTS,
    THREADS,
    TRANSPARENT,
)
from kvmplan.model.program import Program
from kvmplan.model.promela.checks import (
    HOOKS,
    INIT,
    RULES,
    SYSTEM,
    USER,
    HOTPLUG,
    Facts,
    Site,
    Unsupported,
    _comment,
)


ENV_PML = Path(__file__).with_name("env.pml")

# Bounds fields the exporter honours; any other field set is something it
# does not model.
MODELLED_BOUNDS = frozenset({"cpus", "hotplug_events", "failures", "max_states", "system"})
# Comparisons of a branch condition.
COMPARISONS = {"==": "EQ3", "!=": "NE3", "<": "LT3", ">": "GT3", "<=": "LE3", ">=": "GE3"}
# The model's values are codes below every number let through.
INT_LIMIT = 1_000_000
# Inlining every call site: a bound on the code produced.
MAX_INSTANCES = 4000
# Registrations (distinct kind/object pairs) a snapshot mask can hold.
MAX_REGS = 30



# --- the static picture of the program ---------------------------------------------

@dataclass(frozen=True)
class _State:
    """A cpuhp state the program registers: its section and order (the graph's
    state table), its bit in registration masks, and the (startup, teardown)
    callback pairs its registrations install; reg[id] holds 1 + the pair's
    position, 0 while unregistered."""

    name: str
    id: int
    section: str
    index: int
    variants: tuple[tuple[str, str], ...]


@dataclass
class _Inst:
    """One inlined function activation: where its code runs and where it returns."""

    key: str
    fn: Function
    prefix: str
    cpu: str                 # Promela expression of the CPU it runs on
    ctx: str
    irq: str                 # its irqcpu value: cpu when IRQs-off, else NO_CPU
    result: str | None       # lvalue receiving the return value
    cont: str                # label where the caller goes on
    irq_exit: str | None     # statement restoring the caller's irqcpu
    slots: dict[str, str]    # local slot name → lvalue
    resets: list[str]        # statements returning its variables to their idle values
    stack: tuple[str, ...]
    dropped: str             # the innermost enclosing cross call's flag, or ""
    chain: tuple[str, ...]   # the flags of every enclosing cross call
    # an operation's outermost activation: hooks run where it returns (the
    # thread is then idle); empty for every other activation
    ends: tuple[str, ...] = ()


class _Proc:
    """The text of one Promela process: declarations and labelled statements."""

    def __init__(self, name: str, me: int):
        self.name = name
        self.me = me
        self.decls: list[str] = []
        self.body: list[str] = []
        self.pending: list[str] = []
        self.scratch = 0
        self.branches = False

    def label(self, name: str) -> None:
        self.pending.append(name)

    def comment(self, text: str) -> None:
        self.body.append(f"\t/* {_comment(text)} */")

    def emit(self, stmt: str) -> None:
        if self.pending and stmt.startswith("d_step"):
            # SPIN forbids jumps into a d_step: a jump target is an atomic step
            stmt = "atomic" + stmt[len("d_step"):]
        labels = "".join(f"{lab}: " for lab in self.pending)
        self.pending = []
        self.body.append(f"\t{labels}{stmt};")

    def text(self) -> str:
        if self.pending:
            self.emit("skip")
        decls = list(self.decls)
        if self.scratch:
            decls.append(f"int tv[{self.scratch}];  /* scratch, 0 between statements */")
        if self.branches:
            decls.append("byte br;  /* a branch's three-valued truth, 0 between statements */")
        lines = [f"proctype {self.name}() {{"]
        lines += [f"\t{d}" for d in decls]
        lines += self.body
        lines.append("}")
        return "\n".join(lines)


def _step(guard: str | None, stmts: list[str], goto: str | None = None) -> str:
    """One indivisible statement: optional guard (it may block only there),
    then the statements, then an optional jump."""
    body = list(stmts) + ([f"goto {goto}"] if goto else [])
    if not body:
        return f"({guard})" if guard else "skip"
    if guard is None and len(body) == 1 and not body[0].startswith("if"):
        return body[0]
    head = f"{guard} -> " if guard else ""
    kind = "atomic" if goto or any("goto" in s for s in stmts) else "d_step"
    return f"{kind} {{ {head}{'; '.join(body)} }}"


def _next_cpu(mask: str, cur: str, empty: list[str], pick: str = "LOWEST") -> str:
    """Take the next CPU of `mask` (LOWEST or HIGHEST first) into `cur`; when
    none is left, run `empty` (which jumps away)."""
    return (f"if :: {mask} == 0 -> {'; '.join(empty)} "
            f":: else -> {cur} = {pick}({mask}); {mask} = {mask} & ~BIT({cur}) fi")


def _digit_like(text: str) -> bool:
    return text.lstrip("-").isdigit()


def _errno_like(text: str) -> bool:
    return text.startswith(("-E", "ERR_PTR"))


# --- the exporter ---------------------------------------------------------------

class _Exporter:
    def __init__(self, program: Program, bounds: Bounds):
        self.p = program
        self.bounds = bounds
        self.ncpus = bounds.cpus
        self.vocab = program.vocab
        self.instances = 0
        self.callbacks = 0
        self.named: dict[str, int] = {}
        self.probes: set[str] = set()
        self.works: dict[str, str] = {}
        self._scan()

    # -- names ---------------------------------------------------------------------
    def _scan(self) -> None:
        """Give every shared object the program touches a Promela name."""
        initial: dict[str, str] = {name: "0" for name in sorted(self.vocab.get("counter", ()))}
        initial["system_state"] = self._named("SYSTEM_RUNNING")
        wanted = self.vocab.get("param", frozenset())
        for name, init in sorted(self.p.graph.params.items()):
            if name not in wanted:
                continue
            if init in ("true", "false"):
                initial[name] = "V_T" if init == "true" else "V_F"
            elif _digit_like(init):
                initial[name] = self._int(int(init), f"module parameter {name}")
        dynamic: set[str] = set()
        locks: set[str] = {HOTPLUG_LOCK}
        percpu: set[str] = set()
        regs: set[tuple[str, str]] = set()
        variants: dict[str, list[tuple[str, str]]] = {}
        for key in sorted(self.p.functions):
            fn = self.p.functions[key]
            for e in fn.events:
                if e.kind == ev.CALL and e.name in ATOMIC_OPS and e.args:
                    dynamic.add(strip_ref(e.args[0]))
                elif e.kind == ev.COUNT:
                    dynamic.add(e.name)
                elif e.kind == ev.LOCK and not self._not_a_lock(e):
                    locks.add(e.name)
                elif e.kind in (ev.PERCPU_READ, ev.PERCPU_WRITE):
                    percpu.add(e.name)
                elif e.kind in (ev.REGISTER, ev.UNREGISTER):
                    regs.add((e.mode, e.name))
                elif e.kind == ev.CPUHP_SETUP:
                    args = list(e.args) + ["", "", "", ""]
                    pair = (self._callback(args[2], fn), self._callback(args[3], fn))
                    found = variants.setdefault(args[0], [])
                    if pair not in found:
                        found.append(pair)
                elif e.kind == ev.CPUHP_REMOVE:
                    variants.setdefault((list(e.args) + [""])[0], [])
        self.globals: dict[str, str] = {}
        self.defined: dict[str, str] = {}
        self.global_decls: list[str] = []
        for i, name in enumerate(sorted(set(initial) | dynamic)):
            var = f"g{i}"
            self.globals[name] = var
            if name in initial:
                self.global_decls.append(f"int {var} = {initial[name]};  /* {_comment(name)} */")
            else:
                self.defined[name] = f"gd{i}"
                self.global_decls.append(f"int {var};  /* {_comment(name)} */")
                self.global_decls.append(f"bit gd{i};  /* {_comment(name)} exists (set by its "
                                         "first atomic_*() or count) */")
        self.locks = {name: f"L{i}" for i, name in enumerate(sorted(locks))}
        self.percpu = {name: f"pc{i}" for i, name in enumerate(sorted(percpu))}
        if len(regs) > MAX_REGS:
            raise Unsupported(f"{len(regs)} registrations: the export models up to {MAX_REGS}")
        # (kind, object) -> its bit: registered or not (World.regs)
        self.regs = {item: f"rg{i}" for i, item in enumerate(sorted(regs))}
        self.states: dict[str, _State] = {}
        for i, name in enumerate(sorted(variants)):
            st = self.p.graph.cpuhp_states.get(name)
            section, index = (st.section, st.index) if st else ("OTHER", 10_000)
            self.states[name] = _State(name, i, section, index, tuple(variants[name]))
        counters = tuple((name, self.globals[name]) for name in sorted(self.vocab.get("counter", ())))
        self.facts = Facts(
            self.ncpus, self.locks[HOTPLUG_LOCK], counters,
            tuple(self._nonzero(name) for name in sorted(self.p.counters) if name in self.globals),
            tuple(self._is_true(name) for name in sorted(self.vocab.get("param", ()))
                  if name in self.globals),
            tuple((f"{kind} {name}", bit) for (kind, name), bit in sorted(self.regs.items())),
            len(self.states),
            "reboot" in self.bounds.system and any(
                kind in ("reboot", "syscore_shutdown")
                for item in self.regs for kind, _ in self.p.callbacks.get(item, ())))

    def _nonzero(self, name: str) -> str:
        """A global is not 0 (absent counts as 0)."""
        var, gd = self.globals[name], self.defined.get(name)
        return f"{gd} && {var} != 0" if gd else f"{var} != 0"

    def _is_true(self, name: str) -> str:
        var, gd = self.globals[name], self.defined.get(name)
        return f"{gd} && {var} == V_T" if gd else f"{var} == V_T"

    def _not_a_lock(self, e: Event) -> bool:
        return e.mode in NOT_LOCKS and e.name == e.mode

    def _callback(self, expr: str, fn: Function) -> str:
        """The function a cpuhp callback argument names, if it is interpreted code."""
        for target, _ in function_ref(self.p.graph, expr, fn):
            key = self.p.key_of(target)
            return key if key in self.p.functions else ""
        return ""

    def _int(self, value: int, what: str) -> str:
        if abs(value) >= INT_LIMIT:
            raise Unsupported(f"{what}: the number {value} is outside the exported value range")
        return str(value)

    def _named(self, text: str) -> str:
        if text not in self.named:
            self.named[text] = len(self.named)
        return f"(V_NAMED_BASE - {self.named[text]})"

    # -- values ----------------------------------------------------------------------
    def _value(self, inst: _Inst, atom: str) -> tuple[str, bool]:
        """Promela expression of interp's value(atom), and whether it reads
        shared state: a local slot if it was assigned, else a number, an
        errno (err), true/false, a global that exists, else unknown."""
        atom = atom.strip()
        fallback, shared = self._atom(atom, inst)
        var = inst.slots.get(atom)
        if var is None:
            return fallback, shared
        return f"(({var} != V_ABSENT) -> {var} : {fallback})", shared

    def _atom(self, atom: str, inst: _Inst) -> tuple[str, bool]:
        if _digit_like(atom):
            try:
                return self._int(int(atom), f"{inst.fn.name}()"), False
            except ValueError:
                raise Unsupported(f"{inst.fn.name}(): value {atom!r} is not a number") from None
        if _errno_like(atom):
            return "V_ERR", False
        if atom == "true":
            return "V_T", False
        if atom == "false":
            return "V_F", False
        var = self.globals.get(atom)
        if var is None:
            return "V_UNK", False
        gd = self.defined.get(atom)
        return (f"({gd} -> {var} : V_UNK)" if gd else var), True

    def _current(self, name: str) -> str:
        """A global's number for atomic_*() and counts: 0 if absent or not a number."""
        var = self.globals[name]
        gd = self.defined.get(name)
        known = f"{gd} && IS_INT({var})" if gd else f"IS_INT({var})"
        return f"(({known}) -> {var} : 0)"

    def _store_global(self, name: str, value: str) -> list[str]:
        out = [f"{self.globals[name]} = {value}"]
        gd = self.defined.get(name)
        if gd:
            out.append(f"{gd} = 1")
        return out

    # -- conditions --------------------------------------------------------------------
    def _cond(self, proc: _Proc, inst: _Inst, c: Cond | None, lines: list[str]) -> tuple[str, bool]:
        """Three-valued truth of a condition (interp's cond): an expression
        over scratch variables assigned by `lines`, and whether it reads
        shared state."""
        if c is None:
            return "2", False
        op = c[0]
        if op == "slot":
            var = inst.slots.get(str(c[1]))
            return (f"TRUTH({var})" if var else "2"), False
        if op == "global":
            name = str(c[1])
            var = self.globals.get(name)
            if var is None:
                return "2", False
            gd = self.defined.get(name)
            return (f"({gd} -> TRUTH({var}) : 2)" if gd else f"TRUTH({var})"), True
        if op == "const":
            text = str(c[1])
            if _digit_like(text):
                return ("1" if self._int0(text, inst) != 0 else "0"), False
            return "2", False
        if op == "not":
            x, shared = self._cond(proc, inst, c[1], lines)  # type: ignore[arg-type]
            return self._scratch(proc, lines, f"NOT3({self._held(proc, lines, x)})"), shared
        if op in ("and", "or"):
            x, sx = self._cond(proc, inst, c[1], lines)  # type: ignore[arg-type]
            y, sy = self._cond(proc, inst, c[2], lines)  # type: ignore[arg-type]
            macro = "AND3" if op == "and" else "OR3"
            expr = f"{macro}({self._held(proc, lines, x)}, {self._held(proc, lines, y)})"
            return self._scratch(proc, lines, expr), sx or sy
        if op == "cmp":
            compare = COMPARISONS.get(str(c[1]))
            if compare is None:
                raise Unsupported(f"{inst.fn.name}(): comparison {c[1]!r} in a branch condition")
            a, sa = self._cval(inst, c[2])  # type: ignore[arg-type]
            b, sb = self._cval(inst, c[3])  # type: ignore[arg-type]
            expr = f"{compare}({self._held(proc, lines, a)}, {self._held(proc, lines, b)})"
            return self._scratch(proc, lines, expr), sa or sb
        return "2", False

    def _cval(self, inst: _Inst, c: Cond) -> tuple[str, bool]:
        """A comparison operand (interp's cval); V_UNK stands for 'unknown'."""
        op = c[0]
        if op == "slot":
            var = inst.slots.get(str(c[1]))
            return (f"CVAL({var})" if var else "V_UNK"), False
        if op == "global":
            name = str(c[1])
            var = self.globals.get(name)
            if var is None:
                return "V_UNK", False
            gd = self.defined.get(name)
            return (f"({gd} -> CVAL({var}) : V_UNK)" if gd else f"CVAL({var})"), True
        if op == "const":
            text = str(c[1])
            if _digit_like(text):
                return self._int(self._int0(text, inst), f"{inst.fn.name}()"), False
            if text == "ok":
                return "0", False
            if text == "?":
                return "V_UNK", False
            return self._named(text), False
        return "V_UNK", False

    def _int0(self, text: str, inst: _Inst) -> int:
        try:
            return int(text, 0)
        except ValueError:
            raise Unsupported(f"{inst.fn.name}(): constant {text!r} is not a number") from None

    def _held(self, proc: _Proc, lines: list[str], expr: str) -> str:
        """A macro operand: a constant or a scratch variable holding the expression."""
        if re.fullmatch(r"-?\d+|tv\[\d+\]|V_UNK", expr):
            return expr
        return self._scratch(proc, lines, expr)

    def _scratch(self, proc: _Proc, lines: list[str], expr: str) -> str:
        var = f"tv[{len(lines)}]"
        lines.append(f"{var} = {expr}")
        proc.scratch = max(proc.scratch, len(lines))
        return var

    def _unknown_slots(self, inst: _Inst, c: Cond | None) -> list[str]:
        """Tests that a slot of the condition is unknown (interp's _cond_slots_unknown)."""
        if not c:
            return []
        if c[0] == "slot":
            var = inst.slots.get(str(c[1]))
            return [f"({var} == V_UNK || {var} == V_ABSENT)" if var else "1"]
        out: list[str] = []
        for x in c[1:]:
            if isinstance(x, tuple):
                out += self._unknown_slots(inst, x)
        return out

    # -- rule hooks ----------------------------------------------------------------------
    def _hook(self, hook: str, site: Site) -> list[str]:
        """The statements every rule places at this hook point, in rule order."""
        assert hook in HOOKS, hook
        out: list[str] = []
        site = dataclasses.replace(site, facts=self.facts)
        for code in sorted(RULES):
            for name, place in RULES[code].hooks:
                if name == hook:
                    for stmt in place(site):
                        self.probes.update(re.findall(r"assert\((P_\w+)\)", stmt))
                        out.append(stmt)
        return out

    def _site(self, proc: _Proc, inst: _Inst) -> Site:
        return Site(proc.me, inst.cpu, inst.ctx, self.ncpus, dropped=inst.dropped, chain=inst.chain)

    def _shared(self, proc: _Proc, cpu: str, ctx: str, stmts: list[str],
                extra_guard: str = "", goto: str | None = None, writes: bool = True) -> str:
        """A step on shared state: runs when no other thread is IRQs-off on
        its CPU or inside stop_machine() (and `extra_guard` holds); a step
        that writes ends with the state hooks."""
        guard = f"FREE({proc.me}, {cpu})" + (f" && {extra_guard}" if extra_guard else "")
        site = Site(proc.me, cpu, ctx, self.ncpus)
        body = self._hook("step", site) + list(stmts) + (self._hook("state", site) if writes else [])
        return _step(guard, body, goto)

    def _op_end(self, proc: _Proc, cpu: str, ctx: str, ends: tuple[str, ...], result: str) -> list[str]:
        """Statements ending the thread's operation: the thread is idle, then
        the hooks `ends` (the operation returned `result`)."""
        site = Site(proc.me, cpu, ctx, self.ncpus, result=result,
                    owned="owns" if proc.me == USER else "0")
        out = [f"busy[{proc.me}] = 0"]
        for hook in ends:
            out += self._hook(hook, site)
        return out

    # -- function activations ----------------------------------------------------------------
    def _expand(self, proc: _Proc, key: str, cpu: str, ctx: str, result: str | None, cont: str,
                caller: _Inst | None, ends: tuple[str, ...] = ()) -> None:
        """Inline one activation of `key` running on `cpu` in context `ctx`,
        called from `caller` (None: from the environment): its events in
        order, each at label <prefix>_<index>; every return assigns `result`
        and jumps to `cont`. With `ends` it is an operation of its own: its
        return marks the thread idle and runs those hooks."""
        stack = caller.stack if caller else ()
        if key in stack:
            raise Unsupported(f"recursive call {' -> '.join(stack + (key,))}")
        fn = self.p.functions.get(key)
        if fn is None:
            raise Unsupported(f"{key}() is called but is not lifecycle code in the Program")
        self.instances += 1
        if self.instances > MAX_INSTANCES:
            raise Unsupported(f"more than {MAX_INSTANCES} inlined calls: the call tree is too large "
                              "to export")
        prefix = f"f{self.instances}"
        irq = cpu if ctx in IRQS_OFF else "NO_CPU"
        caller_irq = caller.irq if caller else "NO_CPU"
        names = self._slot_names(fn)
        slots = {name: f"{prefix}[{i}]" for i, name in enumerate(names)}
        resets = [f"{var} = V_ABSENT" for var in slots.values()]
        if names:
            proc.decls.append(f"int {prefix}[{len(names)}] = V_ABSENT;  /* {_comment(fn.name)}: "
                              f"{_comment(', '.join(names))} */")
        inst = _Inst(key, fn, prefix, cpu, ctx, irq, result, cont,
                     f"irqcpu[{proc.me}] = {caller_irq}" if irq != caller_irq else None,
                     slots, resets, stack + (key,), caller.dropped if caller else "",
                     caller.chain if caller else (), ends)
        proc.comment(f"{fn.name}() [{fn.file}:{fn.line}] on CPU {cpu}, context {ctx}")
        if irq != caller_irq:
            # entering an IRQs-off context on `cpu`, or leaving the caller's
            proc.emit(self._shared(proc, cpu, ctx, [f"irqcpu[{proc.me}] = {irq}"], writes=False))
        for i, e in enumerate(fn.events):
            proc.label(self._lab(inst, i))
            self._event(proc, inst, i, e)
        proc.label(f"{prefix}_end")
        self._return(proc, inst, "V_OK", False)

    def _callee(self, inst: _Inst, dropped: str) -> _Inst:
        """The caller of a cross call's callback: `inst` with a new innermost
        cross call flag."""
        return dataclasses.replace(inst, dropped=dropped, chain=inst.chain + (dropped,), ends=())

    def _slot_names(self, fn: Function) -> list[str]:
        """The local slots a function can assign: call results, assignments to
        non-globals, loop variables of CPU iterations."""
        names: set[str] = set()
        for e in fn.events:
            if e.slot:
                names.add(e.slot)
            if e.kind == ev.ASSIGN and e.name:
                names.add(e.name)
            if e.kind == ev.LOOP and e.mode == "cpus" and e.args:
                names.add(e.args[0])
        return sorted(names)

    def _lab(self, inst: _Inst, i: int) -> str:
        if 0 <= i < len(inst.fn.events):
            return f"{inst.prefix}_{i}"
        return f"{inst.prefix}_end"

    def _return(self, proc: _Proc, inst: _Inst, value: str, shared: bool) -> None:
        """Return: the caller's slot gets the value; the activation's
        variables go back to idle; the caller's IRQs-off state comes back."""
        stmts = []
        if inst.result:
            stmts.append(f"{inst.result} = {value}")
        stmts += inst.resets
        if inst.irq_exit:
            stmts.append(inst.irq_exit)
        if inst.ends:
            stmts += self._op_end(proc, inst.cpu, inst.ctx, inst.ends, inst.result or "V_OK")
            proc.emit(self._shared(proc, inst.cpu, inst.ctx, stmts, goto=inst.cont, writes=False))
        elif shared or inst.irq_exit:
            proc.emit(self._shared(proc, inst.cpu, inst.ctx, stmts, goto=inst.cont, writes=False))
        else:
            proc.emit(_step(None, stmts, inst.cont))

    # -- events ------------------------------------------------------------------------------
    def _event(self, proc: _Proc, inst: _Inst, i: int, e: Event) -> None:
        k = e.kind
        proc.comment(f"{inst.fn.name}:{e.line} {k} {e.name}".rstrip())
        if k in (ev.LABEL, ev.ASSERT, ev.ASM):
            return
        if k == ev.JUMP:
            proc.emit(f"goto {self._lab(inst, e.target if e.target >= 0 else len(inst.fn.events))}")
        elif k == ev.RETURN:
            value, shared = self._value(inst, e.value) if e.value else ("V_OK", False)
            self._return(proc, inst, value, shared)
        elif k == ev.ASSIGN:
            self._assign(proc, inst, e)
        elif k == ev.BRANCH:
            self._branch(proc, inst, i, e)
        elif k == ev.LOOP:
            self._loop(proc, inst, i, e)
        elif k == ev.LOOP_END:
            proc.emit(f"goto {self._lab(inst, e.target)}")
        elif k in (ev.CALL, ev.ICALL):
            self._call(proc, inst, i, e)
        elif k == ev.CROSS_CALL:
            self._cross_call(proc, inst, i, e)
        elif k == ev.COUNT:
            self._count(proc, inst, e)
        elif k in (ev.PERCPU_READ, ev.PERCPU_WRITE):
            self._percpu(proc, inst, e)
        elif k in (ev.LIST_ADD, ev.LIST_DEL):
            self._list(proc, inst, e)
        elif k in (ev.REGISTER, ev.UNREGISTER):
            self._register(proc, inst, e)
        elif k == ev.LOCK:
            self._lock(proc, inst, e)
        elif k == ev.UNLOCK:
            self._unlock(proc, inst, e)
        elif k == ev.CPUHP_SETUP:
            self._cpuhp_setup(proc, inst, i, e)
        elif k == ev.CPUHP_REMOVE:
            self._cpuhp_remove(proc, inst, i, e)
        else:
            raise Unsupported(f"{inst.fn.name}(): event kind {k!r}")

    def _assign(self, proc: _Proc, inst: _Inst, e: Event) -> None:
        """`x = v`: a global that exists is written (shared), else the local slot."""
        value, shared = self._value(inst, e.value)
        slot = inst.slots[e.name]
        var = self.globals.get(e.name)
        if var is None:
            proc.emit(self._shared(proc, inst.cpu, inst.ctx, [f"{slot} = {value}"], writes=False)
                      if shared else f"{slot} = {value}")
            return
        written = [f"{var} = {value}"] + self._hook("shared_write", self._site(proc, inst))
        gd = self.defined.get(e.name)
        if gd is None:
            proc.emit(self._shared(proc, inst.cpu, inst.ctx, written))
            return
        proc.emit(self._shared(proc, inst.cpu, inst.ctx, [
            f"if :: {gd} -> {'; '.join(written)} :: else -> {slot} = {value} fi"]))

    def _branch(self, proc: _Proc, inst: _Inst, i: int, e: Event) -> None:
        """A branch falls through when its condition is true and jumps when it
        is false. An unknown condition takes the side that is not the error
        path (Program.failure_side; jump when it says nothing); with failures
        to inject, module init and VM creation may take the error side
        instead when a slot of the condition is unknown."""
        if e.target < 0:
            raise Unsupported(f"{inst.fn.name}(): branch at line {e.line} without a target")
        proc.branches = True
        lines: list[str] = []
        truth, shared = self._cond(proc, inst, e.cond, lines)
        side = self.p.failure_side.get((inst.key, i), "")
        jump = f"goto {self._lab(inst, e.target)}"
        options = [
            "br == 1 -> br = 0",
            f"br == 0 -> br = 0; {jump}",
            "br == 2 -> br = 0" + (f"; {jump}" if side != "else" else ""),
        ]
        unknown = self._unknown_slots(inst, e.cond)
        if self.bounds.failures > 0 and side and proc.me in (INIT, USER) and unknown:
            options.append(f"br == 2 && failures_left > 0 && ({' || '.join(unknown)}) -> br = 0; "
                           "failures_left--" + (f"; {jump}" if side == "else" else ""))
            shared = True
        resets = [f"tv[{n}] = 0" for n in range(len(lines))]
        decide = "if " + " ".join(f":: {o}" for o in options) + " fi"
        stmts = lines + [f"br = {truth}"] + resets + [decide]
        if shared:
            proc.emit(self._shared(proc, inst.cpu, inst.ctx, stmts, writes=False))
        else:
            proc.emit(_step(None, stmts))

    def _loop(self, proc: _Proc, inst: _Inst, i: int, e: Event) -> None:
        """for_each_*_cpu: each CPU (online ones: those online at the first
        visit) in turn, the loop variable set to it; a pass over the online
        CPUs whose body does per-CPU enabling work runs the cpu_pass hooks at
        its first visit. A walk of vm_list: the thread is a walker from its
        first visit until it comes back to the loop head; the body runs once
        if it touches lifecycle state (else the walk ends at the next step).
        Other loops: the body runs once if it touches lifecycle state, else is
        skipped."""
        var = f"{inst.prefix}_lp{i}"
        proc.decls.append(f"int {var} = -1;  /* loop state: -1 not started */")
        inst.resets.append(f"{var} = -1")
        exit_label = self._lab(inst, e.target)
        if e.mode == "cpus":
            start = "ONLINE_MASK" if e.name == "online" else "ALL_CPUS"
            loop_var = inst.slots[e.args[0]] if e.args else None
            take = (f"{loop_var} = LOWEST({var}); {var} = {var} & ~BIT({loop_var})" if loop_var
                    else f"{var} = {var} & ~BIT(LOWEST({var}))")
            first = [f"{var} = {start}"]
            work = self._work_in(inst.key, i + 1, e.target) if e.name == "online" else ""
            if work:
                first += self._hook("cpu_pass", dataclasses.replace(
                    self._site(proc, inst), work=work, covered=var))
            stmts = [f"if :: {var} == -1 -> {'; '.join(first)} :: else -> skip fi",
                     f"if :: {var} == 0 -> {var} = -1; goto {exit_label} :: else -> {take} fi"]
            if e.name == "online":
                proc.emit(self._shared(proc, inst.cpu, inst.ctx, stmts, writes=False))
            else:
                proc.emit(_step(None, stmts))
            return
        matters = self._body_matters(inst.key, inst.fn, i, e.target)
        if e.mode == "list" and e.name in self.vocab.get("list", frozenset()):
            site = self._site(proc, inst)
            end = [f"{var} = -1"] + self._hook("walk_end", site) + [f"goto {exit_label}"]
            begin = [f"{var} = 1"] + self._hook("walk_begin", site)
            if not matters:
                begin.append(f"goto {self._lab(inst, i)}")
            proc.emit(self._shared(proc, inst.cpu, inst.ctx, [
                f"if :: {var} == 1 -> {'; '.join(end)} :: else -> {'; '.join(begin)} fi"],
                writes=False))
            return
        if not matters:
            proc.emit(f"goto {exit_label}")
            return
        proc.emit(_step(None, [(f"if :: {var} == 1 -> {var} = -1; goto {exit_label} "
                                f":: else -> {var} = 1 fi")]))

    def _work(self, key: str) -> str:
        """The per-CPU enabling work function `key` runs, directly or through
        its callees: "tdx" (TDX per-CPU init, whatever else it does), "enable"
        (vendor per-CPU enable) or "". (Recursion is refused when inlining.)"""
        if key not in self.works:
            self.works[key] = ""
            fn = self.p.functions.get(key)
            self.works[key] = self._work_in(key, 0, len(fn.events)) if fn is not None else ""
        return self.works[key]

    def _work_in(self, key: str, start: int, end: int) -> str:
        """The per-CPU enabling work events start..end-1 of `key` run."""
        found = ""
        for j in range(start, min(end, len(self.p.functions[key].events))):
            target = self.p.targets.get((key, j))
            if target is None:
                continue
            work = {"enable": "enable", "tdx_cpu": "tdx"}.get(target.kind, "")
            if target.kind == "code":
                work = self._work(target.function)
            if work == "tdx":
                return "tdx"
            found = found or work
        return found

    def _body_matters(self, key: str, fn: Function, start: int, end: int) -> bool:
        """Does a loop body touch lifecycle state: an interpreted or primitive
        call, or any event other than control flow, assignments and asserts?"""
        for j in range(start + 1, min(end, len(fn.events))):
            e = fn.events[j]
            if e.kind in (ev.CALL, ev.ICALL, ev.CROSS_CALL):
                target = self.p.targets.get((key, j))
                if target is not None and target.kind != "skip":
                    return True
            elif e.kind not in (ev.BRANCH, ev.JUMP, ev.LABEL, ev.LOOP, ev.LOOP_END, ev.ASSIGN,
                                ev.RETURN, ev.ASSERT, ev.ASM):
                return True
        return False

    # -- calls --------------------------------------------------------------------------
    def _call(self, proc: _Proc, inst: _Inst, i: int, e: Event) -> None:
        """A call: atomic_*() on a global; ERR_PTR() is an error; WARN_ON() and
        likely() pass their argument; a call outside the lifecycle is skipped
        and returns unknown; the vendor enable/disable act on the CPU; other
        lifecycle code is inlined (same CPU and context); TDX init and the
        user-return MSR snapshot/drop are primitives (see _primitive)."""
        slot = inst.slots.get(e.slot) if e.slot else None
        if e.kind == ev.CALL and e.name in ATOMIC_OPS and e.args:
            self._atomic(proc, inst, e, slot)
            return
        if e.kind == ev.CALL and e.name in ERROR_POINTERS:
            if slot:
                proc.emit(f"{slot} = V_ERR")
            return
        if e.kind == ev.CALL and e.name in TRANSPARENT and e.args:
            if slot:
                value, shared = self._value(inst, e.args[0])
                proc.emit(self._shared(proc, inst.cpu, inst.ctx, [f"{slot} = {value}"], writes=False)
                          if shared else f"{slot} = {value}")
            return
        target = self.p.targets.get((inst.key, i))
        if target is None or target.kind == "skip":
            if slot:
                proc.emit(f"{slot} = V_UNK")
            return
        if target.kind in ("enable", "disable"):
            self._vendor(proc, target.kind, self._site(proc, inst), slot, None)
            return
        if target.kind in ("tdx_cpu", "tdx_enable", "uret"):
            self._primitive(proc, inst, target.kind, slot)
            return
        if target.kind != "code":
            raise Unsupported(f"{inst.fn.name}(): {e.name}() is a {target.kind} primitive, not "
                              "modelled in Promela")
        self._expand(proc, target.function, inst.cpu, inst.ctx, slot, self._lab(inst, i + 1), inst)

    def _primitive(self, proc: _Proc, inst: _Inst, kind: str, slot: str | None) -> None:
        """tdx_cpu_enable(): on a CPU with virtualization on, TDX per-CPU init
        is done there (ok), else it fails (err). tdx_enable(): TDX is enabled
        (ok). A user-return MSR snapshot/drop: only its context matters; its
        value is unknown."""
        site = self._site(proc, inst)
        c = inst.cpu
        if kind == "tdx_cpu":
            ok = f"{slot} = V_OK" if slot else "skip"
            err = f"{slot} = V_ERR" if slot else "skip"
            stmts = self._hook("tdx_cpu", site) + [
                f"if :: virt[{c}] -> tdx_done[{c}] = 1; {ok} :: else -> {err} fi"]
            proc.emit(self._shared(proc, c, inst.ctx, stmts))
        elif kind == "tdx_enable":
            stmts = ["tdx_enabled = 1"] + ([f"{slot} = V_OK"] if slot else [])
            proc.emit(self._shared(proc, c, inst.ctx, stmts))
        else:
            stmts = self._hook("uret", site) + ([f"{slot} = V_UNK"] if slot else [])
            if stmts:
                proc.emit(self._shared(proc, c, inst.ctx, stmts, writes=False))

    def _atomic(self, proc: _Proc, inst: _Inst, e: Event, slot: str | None) -> None:
        """atomic_inc/dec/set/read(&g): g (0 if absent or not a number) changed,
        g exists from now on, the call's value is the new one."""
        name = strip_ref(e.args[0])
        op = ATOMIC_OPS[e.name]
        stmts = [f"tv[0] = {self._current(name)}"]
        if op == "inc":
            stmts.append("tv[0] = tv[0] + 1")
        elif op == "dec":
            stmts.append("tv[0] = tv[0] - 1")
        elif op == "set":
            value = self._value(inst, e.args[1])[0] if len(e.args) > 1 else "0"
            stmts += [f"tv[1] = {value}", "tv[0] = (IS_INT(tv[1]) -> tv[1] : 0)"]
        stmts += self._store_global(name, "tv[0]")
        if op != "read":
            stmts += self._hook("shared_write", self._site(proc, inst))
        if slot:
            stmts.append(f"{slot} = tv[0]")
        stmts += ["tv[0] = 0", "tv[1] = 0"]
        proc.scratch = max(proc.scratch, 2)
        proc.emit(self._shared(proc, inst.cpu, inst.ctx, stmts))

    def _vendor(self, proc: _Proc, kind: str, site: Site, slot: str | None,
                goto: str | None) -> None:
        """Vendor per-CPU enable: -EBUSY (err) where virtualization is already
        on, err on the CPU that can't enable it, else virtualization on and ok.
        Disable: virtualization off, ok."""
        cpu = site.cpu
        if kind == "enable":
            stmts = self._hook("enable", site)
            ok = f"{slot} = V_OK" if slot else "skip"
            err = f"{slot} = V_ERR" if slot else "skip"
            stmts.append(f"if :: virt[{cpu}] -> {err} :: !virt[{cpu}] && bad == {cpu} -> {err} "
                         f":: else -> virt[{cpu}] = 1; {ok} fi")
        else:
            stmts = self._hook("disable", site)
            stmts.append(f"virt[{cpu}] = 0")
            if slot:
                stmts.append(f"{slot} = V_OK")
        proc.emit(self._shared(proc, cpu, site.ctx, stmts, goto=goto))

    def _cross_call(self, proc: _Proc, inst: _Inst, i: int, e: Event) -> None:
        """on_each_cpu / smp_call_function*: the CPUs online at the call (all,
        all but the caller's, or the one named if online) each run the
        function in turn in IPI context (IRQs off on that CPU); its return
        value is lost; no hotplug exclusion. A vendor enable/disable named
        directly runs on each CPU in IPI context."""
        target = self.p.targets.get((inst.key, i))
        if target is None or target.kind == "skip":
            return
        if target.kind not in ("code", "enable", "disable"):
            raise Unsupported(f"{inst.fn.name}(): cross call of a {target.kind} primitive")
        mask = f"{inst.prefix}_xm{i}"
        cur = f"{inst.prefix}_xc{i}"
        flag = f"{inst.prefix}_xd{i}"
        proc.decls.append(f"byte {mask}; byte {cur}; bit {flag};  /* cross call at line {e.line}: "
                          "CPUs left, CPU now, a callback failure not recorded */")
        if e.mode == "single":
            value, _ = self._value(inst, e.args[0] if e.args else "")
            stmts = [f"tv[0] = {value}",
                     ("if :: IS_INT(tv[0]) && tv[0] >= 0 && tv[0] < NCPUS -> "
                      f"if :: online[tv[0]] -> {mask} = BIT(tv[0]) :: else -> {mask} = 0 fi "
                      f":: else -> {mask} = 0 fi"), "tv[0] = 0"]
            proc.scratch = max(proc.scratch, 1)
        elif e.mode == "others":
            stmts = [f"{mask} = ONLINE_MASK & ~BIT({inst.cpu})"]
        else:
            stmts = [f"{mask} = ONLINE_MASK"]
        work = "enable" if target.kind == "enable" else (
            self._work(target.function) if target.kind == "code" else "")
        if e.mode != "single" and work:
            stmts += self._hook("cpu_pass", dataclasses.replace(
                self._site(proc, inst), work=work, covered=mask))
        proc.emit(self._shared(proc, inst.cpu, inst.ctx, stmts, writes=False))
        loop = f"{inst.prefix}_x{i}"
        proc.label(loop)
        back = self._hook("cross_return", Site(proc.me, cur, "IPI", self.ncpus, dropped=flag,
                                               chain=inst.chain + (flag,)))
        step = back + [_next_cpu(mask, cur, [f"{cur} = 0", f"goto {self._lab(inst, i + 1)}"])]
        proc.emit(self._shared(proc, inst.cpu, inst.ctx, step, writes=False) if back
                  else _step(None, step))
        if target.kind in ("enable", "disable"):
            site = Site(proc.me, cur, "IPI", self.ncpus, direct=True, dropped=flag,
                        chain=inst.chain + (flag,))
            self._vendor(proc, target.kind, site, None, loop)
            return
        self._expand(proc, target.function, cur, "IPI", None, loop, self._callee(inst, flag))

    # -- shared state -------------------------------------------------------------------
    def _count(self, proc: _Proc, inst: _Inst, e: Event) -> None:
        """g++ / g-- / g = v on a global counter: g (0 if absent or not a
        number) changes, exists from now on; the slot sees the old value when
        the code reads it before the change, else the new one."""
        slot = inst.slots.get(e.slot) if e.slot else None
        stmts = [f"tv[0] = {self._current(e.name)}"]
        if slot and e.value == "old":
            stmts.append(f"{slot} = tv[0]")
        if e.mode == "inc":
            stmts.append("tv[0] = tv[0] + 1")
        elif e.mode == "dec":
            stmts.append("tv[0] = tv[0] - 1")
        else:
            value = self._value(inst, e.value)[0]
            stmts += [f"tv[1] = {value}", "tv[0] = (IS_INT(tv[1]) -> tv[1] : tv[0])"]
        stmts += self._store_global(e.name, "tv[0]")
        stmts += self._hook("shared_write", self._site(proc, inst))
        stmts += self._hook("init_work", self._site(proc, inst))
        if slot and e.value != "old":
            stmts.append(f"{slot} = tv[0]")
        stmts += ["tv[0] = 0", "tv[1] = 0"]
        proc.scratch = max(proc.scratch, 2)
        proc.emit(self._shared(proc, inst.cpu, inst.ctx, stmts))

    def _percpu(self, proc: _Proc, inst: _Inst, e: Event) -> None:
        """KVM's per-CPU flag of the CPU the code runs on: read as true/false,
        or written (set/true/1 sets it, anything else clears it)."""
        var = f"{self.percpu[e.name]}[{inst.cpu}]"
        if e.kind == ev.PERCPU_READ:
            slot = inst.slots.get(e.slot) if e.slot else None
            if slot:
                proc.emit(self._shared(proc, inst.cpu, inst.ctx,
                                       [f"{slot} = ({var} -> V_T : V_F)"], writes=False))
            return
        value = "1" if e.value in ("set", "true", "1") else "0"
        proc.emit(self._shared(proc, inst.cpu, inst.ctx, [f"{var} = {value}"]
                               + self._hook("shared_write", self._site(proc, inst))))

    def _list(self, proc: _Proc, inst: _Inst, e: Event) -> None:
        """list_add / list_del on vm_list: a VM exists from one to the other."""
        if e.name not in self.vocab.get("list", frozenset()):
            return
        site = self._site(proc, inst)
        stmts = self._hook("list_op", site) + self._hook("init_work", site)
        if e.kind == ev.LIST_ADD:
            stmts += ["vms = vms + 1"] + (["owns = owns + 1"] if proc.me == USER else [])
        else:
            stmts.append("vms = ((vms > 0) -> vms - 1 : 0)")
            if proc.me == USER:
                stmts.append("owns = ((owns > 0) -> owns - 1 : 0)")
        proc.emit(self._shared(proc, inst.cpu, inst.ctx, stmts))

    def _register(self, proc: _Proc, inst: _Inst, e: Event) -> None:
        """A registration (misc_register of /dev/kvm, register_syscore_ops,
        register_reboot_notifier...) or its undoing: the (kind, object) is
        registered or not; the user thread may start while a misc device is
        registered; the system events run the callbacks of the registrations
        in force. A registration other than /dev/kvm is lifecycle work. The
        call succeeds."""
        site = dataclasses.replace(self._site(proc, inst), kind=e.mode)
        stmts = []
        if e.kind == ev.REGISTER:
            stmts += self._hook("register", site)
            if e.mode != "misc":
                stmts += self._hook("init_work", site)
        stmts.append(f"{self.regs[(e.mode, e.name)]} = {1 if e.kind == ev.REGISTER else 0}")
        slot = inst.slots.get(e.slot) if e.slot else None
        if slot:
            stmts.append(f"{slot} = V_OK")
        proc.emit(self._shared(proc, inst.cpu, inst.ctx, stmts))

    def _lock(self, proc: _Proc, inst: _Inst, e: Event) -> None:
        """Take a lock: for read (cpus_read_lock, down_read) or exclusively;
        waits while another thread holds it in a conflicting way; a spinlock
        counts against stop_machine()."""
        if self._not_a_lock(e):
            return
        more = [f"spins[{proc.me}] = spins[{proc.me}] + 1"] if e.mode in SPIN_LOCK_MODES else []
        self._take(proc, inst.cpu, inst.ctx, e.name, e.mode in SHARED_LOCK_MODES, more)

    def _take(self, proc: _Proc, cpu: str, ctx: str, name: str, shared: bool,
              more: list[str], goto: str | None = None) -> None:
        lock = self.locks[name]
        site = Site(proc.me, cpu, ctx, self.ncpus, lock=name, lock_id=lock, shared=shared,
                    locks=tuple(sorted(self.locks.items())))
        stmts = self._hook("lock", site)
        if shared:
            stmts.append(f"take_shared({lock}, {proc.me})")
            guard = f"CAN_SHARED({lock}, {proc.me})"
        else:
            stmts.append(f"take_excl({lock}, {proc.me})")
            guard = f"CAN_EXCL({lock}, {proc.me})"
        proc.emit(self._shared(proc, cpu, ctx, stmts + more, extra_guard=guard, goto=goto))

    def _unlock(self, proc: _Proc, inst: _Inst, e: Event) -> None:
        stmts = []
        lock = self.locks.get(e.name)
        if lock is not None:        # never taken as a lock: releasing it changes nothing
            stmts.append(f"release({lock}, {proc.me})")
        if e.mode in SPIN_LOCK_MODES:
            stmts.append(f"if :: spins[{proc.me}] > 0 -> spins[{proc.me}] = spins[{proc.me}] - 1 "
                         ":: else -> skip fi")
        if stmts:
            proc.emit(self._shared(proc, inst.cpu, inst.ctx, stmts))

    # -- cpuhp registration ---------------------------------------------------------------
    def _cpuhp_setup(self, proc: _Proc, inst: _Inst, i: int, e: Event) -> None:
        """cpuhp_setup_state*(S, name, up, down): cpus_read_lock (not with
        _cpuslocked), S registered with up/down; unless _nocalls (or no up),
        up runs on each CPU online at registration in ascending order
        (context setup); a failure (err) runs down on the CPUs done, highest
        first, unregisters S and returns err; cpus_read_unlock; ok."""
        args = list(e.args) + ["", "", "", ""]
        st = self.states[args[0]]
        variant = e.mode
        locked = "cpuslocked" in variant
        up, down = self._callback(args[2], inst.fn), self._callback(args[3], inst.fn)
        vid = st.variants.index((up, down)) + 1
        calls = "nocalls" not in variant and bool(up)
        h = f"{inst.prefix}_h{i}"
        todo, done, cur, cb, err = f"{h}_todo", f"{h}_done", f"{h}_cur", f"{h}_cb", f"{h}_err"
        proc.decls += [(f"byte {todo}; byte {done}; byte {cur}; bit {err};  /* cpuhp_setup_state "
                        f"{_comment(st.name)} */"), f"int {cb} = V_ABSENT;"]
        register = self._hook("init_work", self._site(proc, inst))
        register += [f"reg[{st.id}] = {vid}"] + ([f"{todo} = ONLINE_MASK"] if calls else [])
        if locked:
            proc.emit(self._shared(proc, inst.cpu, inst.ctx, register))
        else:
            self._take(proc, inst.cpu, inst.ctx, HOTPLUG_LOCK, True, register)
        if calls:
            proc.label(f"{h}_up")
            proc.emit(_step(None, [_next_cpu(todo, cur, [f"goto {h}_fin"])]))
            self._expand(proc, up, cur, "setup", cb, f"{h}_upret", inst)
            proc.label(f"{h}_upret")
            proc.emit(_step(None, [(f"if :: {cb} == V_ERR -> {cb} = V_ABSENT; {todo} = {done}; "
                                    f"{done} = 0; {err} = 1; goto {h}_rb "
                                    f":: else -> {cb} = V_ABSENT; {done} = {done} | BIT({cur}); "
                                    f"goto {h}_up fi")]))
            proc.label(f"{h}_rb")
            if down:
                proc.emit(_step(None, [_next_cpu(todo, cur, [f"goto {h}_unreg"], "HIGHEST")]))
                self._expand(proc, down, cur, "setup", None, f"{h}_rb", inst)
            proc.label(f"{h}_unreg")
            proc.emit(self._shared(proc, inst.cpu, inst.ctx, [f"reg[{st.id}] = 0", f"{todo} = 0",
                                                              f"{cur} = 0"]))
        proc.label(f"{h}_fin")
        slot = inst.slots.get(e.slot) if e.slot else None
        stmts = [] if locked else [f"release({self.locks[HOTPLUG_LOCK]}, {proc.me})"]
        if slot:
            stmts.append(f"{slot} = ({err} -> V_ERR : V_OK)")
        stmts += [f"{todo} = 0", f"{done} = 0", f"{cur} = 0", f"{err} = 0"]
        proc.emit(self._shared(proc, inst.cpu, inst.ctx, stmts))

    def _cpuhp_remove(self, proc: _Proc, inst: _Inst, i: int, e: Event) -> None:
        """cpuhp_remove_state*(S): cpus_read_lock (not with _cpuslocked); unless
        _nocalls, the teardown S was registered with runs on each CPU online
        now, ascending (context setup); S unregistered; cpus_read_unlock; ok."""
        st = self.states[(list(e.args) + [""])[0]]
        locked = "cpuslocked" in e.mode
        h = f"{inst.prefix}_h{i}"
        todo, cur, rv = f"{h}_todo", f"{h}_cur", f"{h}_rv"
        proc.decls.append(f"byte {todo}; byte {cur}; byte {rv};  /* cpuhp_remove_state "
                          f"{_comment(st.name)} */")
        downs = [(vid, down) for vid, (_, down) in enumerate(st.variants, 1) if down]
        calls = "nocalls" not in e.mode and bool(downs)
        stmts = [f"{rv} = reg[{st.id}]"]
        if calls:
            has_down = " || ".join(f"{rv} == {vid}" for vid, _ in downs)
            stmts.append(f"{todo} = (({has_down}) -> ONLINE_MASK : 0)")
        if locked:
            proc.emit(self._shared(proc, inst.cpu, inst.ctx, stmts, writes=False))
        else:
            self._take(proc, inst.cpu, inst.ctx, HOTPLUG_LOCK, True, stmts)
        if calls:
            proc.label(f"{h}_dn")
            proc.emit(_step(None, [_next_cpu(todo, cur, [f"goto {h}_fin"])]))
            proc.emit("if " + " ".join(f":: {rv} == {vid} -> goto {h}_d{vid}" for vid, _ in downs)
                      + " fi")
            for vid, down in downs:
                proc.label(f"{h}_d{vid}")
                self._expand(proc, down, cur, "setup", None, f"{h}_dn", inst)
        proc.label(f"{h}_fin")
        done = [f"reg[{st.id}] = 0"]
        if not locked:
            done.append(f"release({self.locks[HOTPLUG_LOCK]}, {proc.me})")
        slot = inst.slots.get(e.slot) if e.slot else None
        if slot:
            done.append(f"{slot} = V_OK")
        done += [f"{todo} = 0", f"{cur} = 0", f"{rv} = 0"]
        proc.emit(self._shared(proc, inst.cpu, inst.ctx, done))

    # -- environment threads ---------------------------------------------------------------
    def _vendor_entry(self, kind: str) -> str:
        """The vendor module's module_init (or module_exit) function."""
        vdir = VENDOR_DIRS.get(self.p.graph.vendor, "")
        for entry in self.p.graph.entries:
            if entry.kind == kind and entry.file.startswith(vdir):
                return entry.function
        return ""

    def init_thread(self) -> _Proc:
        """init: runs the vendor module_init on CPU0 (busy from the start);
        then the environment sees its return value: the module is live, or
        gone if it returned an error."""
        proc = _Proc("t_init", INIT)
        entry = self._vendor_entry("module_init")
        if not entry:
            proc.emit(_step(f"NOSTOP({INIT})", ["module_state = MOD_LIVE"]))
            return proc
        proc.decls.append("int init_ret = V_OK;  /* module_init's return value */")
        self._expand(proc, entry, "0", "init", "init_ret", "init_done", None, ends=("idle",))
        proc.label("init_done")
        site = Site(INIT, "0", "init", self.ncpus, result="init_ret")
        proc.emit(_step(f"NOSTOP({INIT})",
                        ["module_state = ((init_ret == V_ERR) -> MOD_GONE : MOD_LIVE)"]
                        + self._hook("init_done", site) + ["init_ret = V_OK"]))
        return proc

    def user_thread(self) -> _Proc:
        """user: once a misc device (/dev/kvm) is registered, the module is
        neither unloading nor gone and tasks are not frozen, create a VM
        (kvm_create_vm on CPU0, context ioctl); if that succeeded and left a
        VM on vm_list, destroy it the same way (when there is a destroy
        path)."""
        proc = _Proc("t_user", USER)
        create = self._vm_op("vm_create")
        destroy = self._vm_op("vm_destroy")
        misc = " || ".join(bit for (kind, _), bit in sorted(self.regs.items()) if kind == "misc") or "0"
        ready = (f"NOSTOP({USER}) && ({misc}) && module_state != MOD_GONE && "
                 "module_state != MOD_UNLOADING && !frozen")
        if not create:
            proc.emit("skip")
            return proc
        proc.decls += ["byte owns;  /* VMs this thread put on vm_list */",
                       "int user_ret = V_OK;  /* what the VM operation returned */"]
        site = Site(USER, "0", "ioctl", self.ncpus)
        proc.emit(_step(ready, [f"busy[{USER}] = 1"] + self._hook("vm_create_begin", site)))
        self._expand(proc, create, "0", "ioctl", "user_ret", "user_created", None,
                     ends=("vm_create_end", "idle"))
        proc.label("user_created")
        if destroy:
            proc.emit("atomic { if :: owns == 0 || user_ret == V_ERR -> user_ret = V_OK; "
                      "goto user_end :: else -> user_ret = V_OK fi }")
            proc.emit(_step(ready, [f"busy[{USER}] = 1"]))
            self._expand(proc, destroy, "0", "ioctl", "user_ret", "user_end", None, ends=("idle",))
        proc.label("user_end")
        proc.emit("user_ret = V_OK")
        return proc

    def _vm_op(self, role: str) -> str:
        return next((n for n in sorted(self.vocab.get(role, frozenset())) if n in self.p.functions), "")

    def hotplug_thread(self) -> _Proc:
        """hotplug: up to HOTPLUG_EVENTS times (none once a reboot has begun or
        while tasks are frozen), for a non-boot CPU c: cpu_down(c) if online,
        else cpu_up(c)."""
        proc = _Proc("t_hotplug", HOTPLUG)
        proc.decls += ["byte hp_left = HOTPLUG_EVENTS;",
                       "byte hc;  /* the CPU going up or down */"] + self._hp_decls("hp")
        choices = " ".join(f":: hc = {c}" for c in range(1, self.ncpus))
        proc.label("hp_idle")
        proc.emit(f"atomic {{ NOSTOP({HOTPLUG}) && hp_left > 0 && sys_phase != PH_REBOOT && !frozen "
                  f"-> hp_left--; busy[{HOTPLUG}] = 1; if {choices} fi; "
                  "if :: online[hc] -> goto hp_down :: else -> goto hp_up fi }")
        finish = ["hc = 0"] + self._op_end(proc, "0", "hotplug", ("idle",), "V_OK")
        proc.label("hp_up")
        self._cpu_up(proc, "hc", "hp", finish, "hp_idle")
        proc.label("hp_down")
        self._cpu_down(proc, "hc", "hp", finish, "hp_idle")
        return proc

    def _hp_decls(self, pfx: str) -> list[str]:
        return [f"int {pfx}_snap;  /* states registered when the hotplug phase began */",
                f"int {pfx}_done;  /* ONLINE states whose startup succeeded */",
                f"int {pfx}_cb = V_ABSENT;  /* an ONLINE startup's return value */"]

    def _cpu_up(self, proc: _Proc, c: str, pfx: str, finish: list[str], goto: str) -> None:
        """cpu_up(c), holding cpu_hotplug_lock for write: PREPARE and STARTING
        startups in state order (STARTING on c with IRQs off, PREPARE on CPU0;
        errors ignored; meanwhile c is in up_early), c online, ONLINE startups
        on c (a failure tears down the ONLINE states done in reverse, takes c
        offline, tears down STARTING/PREPARE in reverse), c active. A callback
        runs only if its state was registered when the phase began and still
        is. Ends with `finish`, then goes to `goto`."""
        hp = self.locks[HOTPLUG_LOCK]
        snap, done, cb = f"{pfx}_snap", f"{pfx}_done", f"{pfx}_cb"
        early = self._sorted_states((PREPARE, STARTING))
        late = self._sorted_states((ONLINE,))
        rollback = f"{pfx}_up_rollback"
        end = [f"release({hp}, {proc.me})", f"{snap} = 0", f"{done} = 0"] + finish
        site = Site(proc.me, c, "hotplug", self.ncpus)
        proc.comment(f"cpu_up({c})")
        self._take(proc, "0", "hotplug", HOTPLUG_LOCK, False,
                   [f"{snap} = {self._reg_mask(early)}", f"up_early = up_early | BIT({c})"])
        for st in early:
            self._hp_callback(proc, st, "startup", c, snap, None, rollback, done)
        proc.emit(self._shared(proc, "0", "hotplug", [
            f"online[{c}] = 1", f"up_early = up_early & ~BIT({c})",
            f"{snap} = {self._reg_mask(late)}", f"{done} = 0"]))
        for st in late:
            self._hp_callback(proc, st, "startup", c, snap, cb, rollback, done)
        proc.emit(self._shared(proc, "0", "hotplug",
                               [f"cpu_active[{c}] = 1"] + self._hook("cpu_active", site)))
        proc.emit(self._shared(proc, "0", "hotplug", end, goto=goto))
        proc.label(rollback)
        for st in reversed(late):
            self._hp_callback(proc, st, "teardown", c, done, None, rollback, done)
        proc.emit(self._shared(proc, "0", "hotplug", [f"online[{c}] = 0"]
                               + self._hook("cpu_rollback", site)
                               + [f"{snap} = {self._reg_mask(early)}"]))
        for st in reversed(early):
            self._hp_callback(proc, st, "teardown", c, snap, None, rollback, done)
        proc.emit(self._shared(proc, "0", "hotplug", end, goto=goto))

    def _cpu_down(self, proc: _Proc, c: str, pfx: str, finish: list[str], goto: str) -> None:
        """cpu_down(c), holding cpu_hotplug_lock for write: c inactive, ONLINE
        teardowns in reverse, then stop_machine() (once no other thread holds
        a spinlock or runs with IRQs off; from then on only this thread
        touches shared state): c offline, STARTING/PREPARE teardowns in
        reverse. Ends with `finish`, then goes to `goto`."""
        hp = self.locks[HOTPLUG_LOCK]
        snap, done = f"{pfx}_snap", f"{pfx}_done"
        early = self._sorted_states((PREPARE, STARTING))
        late = self._sorted_states((ONLINE,))
        proc.comment(f"cpu_down({c})")
        self._take(proc, "0", "hotplug", HOTPLUG_LOCK, False,
                   [f"cpu_active[{c}] = 0", f"{snap} = {self._reg_mask(late)}"])
        for st in reversed(late):
            self._hp_callback(proc, st, "teardown", c, snap, None, "", done)
        proc.emit(self._shared(proc, "0", "hotplug", [f"stopper = {proc.me}", f"online[{c}] = 0",
                                                      f"{snap} = {self._reg_mask(early)}"],
                               extra_guard=f"STOP_OK({proc.me})"))
        for st in reversed(early):
            self._hp_callback(proc, st, "teardown", c, snap, None, "", done)
        proc.emit(self._shared(proc, "0", "hotplug", ["stopper = NO_THREAD", f"release({hp}, {proc.me})",
                                                      f"{snap} = 0", f"{done} = 0"] + finish,
                               goto=goto))

    def _sorted_states(self, sections: tuple[str, ...]) -> list[_State]:
        return sorted((st for st in self.states.values() if st.section in sections),
                      key=lambda st: (st.index, st.name))

    def _reg_mask(self, states: list[_State]) -> str:
        parts = [f"((reg[{st.id}] != 0) -> {1 << st.id} : 0)" for st in states]
        return " | ".join(parts) if parts else "0"

    def _hp_callback(self, proc: _Proc, st: _State, which: str, c: str, mask: str,
                     result: str | None, rollback: str, done: str) -> None:
        """Run the startup/teardown of state `st` for CPU c if `mask` has it and
        it is registered now: on c (STARTING with IRQs off, ONLINE) or CPU0
        (PREPARE). An ONLINE startup's err goes to `rollback`; its success
        adds the state to `done`."""
        pick = 0 if which == "startup" else 1
        options = [(vid, pair[pick]) for vid, pair in enumerate(st.variants, 1) if pair[pick]]
        if not options:
            return
        self.callbacks += 1
        lab = f"hp_cb{self.callbacks}"
        proc.comment(f"{st.name} [{st.section}] {which}")
        choose = " ".join(f":: ({mask} & {1 << st.id}) != 0 && reg[{st.id}] == {vid} -> goto {lab}_{vid}"
                          for vid, _ in options)
        proc.emit(self._shared(proc, "0", "hotplug",
                               [f"if {choose} :: else -> goto {lab}_skip fi"], writes=False))
        cpu = c if st.section in (STARTING, ONLINE) else "0"
        after = f"{lab}_ret" if result else f"{lab}_skip"
        for vid, key in options:
            proc.label(f"{lab}_{vid}")
            self._expand(proc, key, cpu, st.section, result, after, None)
        if result:
            proc.label(f"{lab}_ret")
            proc.emit(_step(None, [(f"if :: {result} == V_ERR -> {result} = V_ABSENT; "
                                    f"goto {rollback} "
                                    f":: else -> {result} = V_ABSENT; {done} = {done} | {1 << st.id} fi")]))
        proc.label(f"{lab}_skip")

    def system_thread(self) -> _Proc | None:
        """system: at most one system event of Bounds.system. Reboot at any
        time; suspend/resume once the module is live and no VM operation or
        hotplug runs (QUIET); module unload then too, with no VM and a
        module_exit to run. None when no event is possible."""
        exit_key = self._vendor_entry("module_exit")
        events = [e for e in SYSTEM_EVENTS if e in self.bounds.system
                  and (e != "unload" or exit_key in self.p.functions)]
        if not events:
            return None
        proc = _Proc("t_system", SYSTEM)
        me = SYSTEM
        proc.decls.append("int sreg;  /* the registrations in force when callbacks were listed */")
        options = []
        if "reboot" in events:
            options.append(f"atomic {{ NOSTOP({me}) -> sys_phase = PH_REBOOT; busy[{me}] = 1; "
                           "sreg = REG_MASK; goto sys_reboot }")
        if "suspend" in events:
            proc.decls += [("byte s_todo; byte s_downed; byte sc;  /* suspend: CPUs to take down "
                            "or bring up, the ones taken down, the CPU now */")] + self._hp_decls("sp")
            begin = (["sys_phase = PH_SUSPEND", "frozen = 1", f"busy[{me}] = 1"]
                     + self._hook("suspend_begin", Site(me, "0", "pm", self.ncpus))
                     + ["s_todo = ONLINE_MASK & ~BIT(0)", "s_downed = s_todo", "goto sys_suspend"])
            options.append(f"atomic {{ NOSTOP({me}) && QUIET -> {'; '.join(begin)} }}")
        if "unload" in events:
            options.append(f"atomic {{ NOSTOP({me}) && QUIET && vms == 0 -> sys_phase = PH_UNLOAD; "
                           f"module_state = MOD_UNLOADING; busy[{me}] = 1; goto sys_unload }}")
        proc.emit("if " + " ".join(f":: {o}" for o in options) + " fi")
        if "reboot" in events:
            self._reboot(proc)
        if "suspend" in events:
            self._suspend(proc)
        if "unload" in events:
            self._unload(proc, exit_key)
        proc.label("sys_end")
        proc.emit("skip")
        return proc

    def _kernel_callbacks(self, proc: _Proc, kinds: tuple[str, ...], reverse: bool, ctx: str,
                          returned: bool) -> None:
        """Run the callbacks of kinds `kinds` that the registrations in the
        snapshot `sreg` install, in registration order (kind, object; reversed
        with `reverse`), each on CPU0 in context `ctx`; with `returned` the
        kernel_callback_return hooks run after each."""
        found = [(i, key) for i, item in enumerate(sorted(self.regs))
                 for kind, key in self.p.callbacks.get(item, ()) if kind in kinds]
        if reverse:
            found.reverse()
        for i, key in found:
            self.callbacks += 1
            lab = f"sys_cb{self.callbacks}"
            proc.emit(f"if :: (sreg & BIT({i})) != 0 -> skip :: else -> goto {lab}_skip fi")
            self._expand(proc, key, "0", ctx, None, f"{lab}_ret", None)
            proc.label(f"{lab}_ret")
            back = self._hook("kernel_callback_return", Site(SYSTEM, "0", ctx, self.ncpus)) \
                if returned else []
            if back:
                # nothing shared changes: the hooks keep what the system thread's next step does
                proc.emit(_step(None, back))
            proc.label(f"{lab}_skip")

    def _reboot(self, proc: _Proc) -> None:
        """reboot: the reboot notifier chain, system_state = SYSTEM_RESTART,
        cpu_hotplug_disable() (waits for a hotplug operation in flight), the
        syscore .shutdown callbacks (reverse order), then the firmware takes
        over: the system thread stays the stopper, nothing else runs."""
        me = SYSTEM
        proc.label("sys_reboot")
        proc.comment("reboot: the reboot notifier chain")
        self._kernel_callbacks(proc, ("reboot",), False, "reboot", True)
        proc.emit(self._shared(proc, "0", "reboot", self._store_global(
            "system_state", self._named("SYSTEM_RESTART"))))
        proc.comment("migrate_to_reboot_cpu(): cpu_hotplug_disable(); syscore_shutdown()")
        proc.emit(self._shared(proc, "0", "reboot", ["sreg = REG_MASK"],
                               extra_guard=f"!busy[{HOTPLUG}]", writes=False))
        self._kernel_callbacks(proc, ("syscore_shutdown",), True, "shutdown", True)
        proc.comment("machine_restart(): the firmware takes over")
        proc.emit(self._shared(proc, "0", "reboot", [f"stopper = {me}", "sreg = 0"]
                               + self._op_end(proc, "0", "reboot", ("idle",), "V_OK"),
                               goto="sys_end"))

    def _suspend(self, proc: _Proc) -> None:
        """suspend to RAM and resume (tasks frozen since the start): the
        non-boot CPUs online taken down (ascending), the syscore .suspend
        callbacks on CPU0 with IRQs off (reverse order), the platform sleeps
        and CPU0 comes back with virtualization off, the .resume callbacks
        (forward), the CPUs taken down brought up again (ascending), tasks
        thawed."""
        proc.label("sys_suspend")
        proc.comment("suspend: non-boot CPUs taken down")
        proc.label("s_down_next")
        proc.emit(_step(None, [_next_cpu("s_todo", "sc", ["goto s_downs_done"])]))
        self._cpu_down(proc, "sc", "sp", [], "s_down_next")
        proc.label("s_downs_done")
        proc.comment("syscore_suspend() on CPU0, IRQs off")
        proc.emit(self._shared(proc, "0", "pm", ["sreg = REG_MASK"], writes=False))
        self._kernel_callbacks(proc, ("syscore_suspend",), True, "syscore", False)
        proc.comment("the platform sleeps and wakes: CPU0 loses virtualization; syscore_resume()")
        proc.emit(self._shared(proc, "0", "pm", ["virt[0] = 0", "sreg = REG_MASK"]))
        self._kernel_callbacks(proc, ("syscore_resume",), False, "syscore", False)
        proc.comment("non-boot CPUs brought up again")
        proc.emit(self._shared(proc, "0", "pm", ["s_todo = s_downed", "sreg = 0"], writes=False))
        proc.label("s_up_next")
        proc.emit(_step(None, [_next_cpu("s_todo", "sc", ["goto s_ups_done"])]))
        self._cpu_up(proc, "sc", "sp", [], "s_up_next")
        proc.label("s_ups_done")
        stmts = (["frozen = 0"] + self._hook("resume_done", Site(SYSTEM, "0", "pm", self.ncpus))
                 + ["s_downed = 0", "sc = 0"] + self._op_end(proc, "0", "pm", ("idle",), "V_OK"))
        proc.emit(self._shared(proc, "0", "pm", stmts, goto="sys_end"))

    def _unload(self, proc: _Proc, exit_key: str) -> None:
        """module unload: module_exit on CPU0 (the module unloading: no new VM
        operation starts); when it has returned the module is gone."""
        proc.label("sys_unload")
        self._expand(proc, exit_key, "0", "exit", None, "sys_unloaded", None, ends=("idle",))
        proc.label("sys_unloaded")
        proc.emit(_step(f"NOSTOP({SYSTEM})", ["module_state = MOD_GONE"]
                        + self._hook("unloaded", Site(SYSTEM, "0", "exit", self.ncpus)),
                        goto="sys_end"))

    # -- the whole model -------------------------------------------------------------------
    def export(self) -> str:
        init = self.init_thread()
        user = self.user_thread()
        hotplug = self.hotplug_thread() if self.ncpus > 1 and self.bounds.hotplug_events > 0 else None
        system = self.system_thread()
        procs = [p for p in (init, user, hotplug, system) if p is not None]
        out = [self._header(), ENV_PML.read_text(encoding="utf-8"), self._globals()]
        out += [p.text() for p in procs]
        bad = " ".join([":: bad = NO_CPU"] + [f":: bad = {c}" for c in range(1, self.ncpus)])
        busy = f"busy[{INIT}] = 1; " if self._vendor_entry("module_init") else ""
        runs = "; ".join(f"run {p.name}()" for p in procs)
        out.append("init {\n\tatomic {\n"
                   "\t\t/* one CPU other than CPU0 can't enable virtualization, or none */\n"
                   f"\t\tif {bad} fi;\n\t\t{busy}{runs}\n\t}}\n}}")
        return "\n\n".join(out) + "\n"

    def _header(self) -> str:
        rules = "\n".join(f" *   {r.code}: {r.statement}" for r in RULES.values())
        system = ", ".join(e for e in SYSTEM_EVENTS if e in self.bounds.system) or "none"
        lines = [
            "/* kvmplan model export (Promela, for SPIN): kvmplan model export --format promela",
            (f" * bounds: {self.ncpus} CPUs, {self.bounds.hotplug_events} hotplug events, "
             f"{self.bounds.failures} injected failures, system events: {system}"),
            " * rules (a broken one prints `assertion violated <code>`; P_<code>_... are probes",
            " * its post-analysis reads):",
            rules,
            " * check: spin -a model.pml && gcc -DSAFETY -DNOCLAIM -o pan pan.c && ./pan -E -c0 -n",
            " */",
            f"#define NCPUS {self.ncpus}",
            f"#define NTHREADS {len(THREADS)}",
            f"#define INIT {INIT}",
            f"#define USER {USER}",
            f"#define HOTPLUG {HOTPLUG}",
            f"#define SYSTEM {SYSTEM}",
            "#define NO_CPU 255",
            "#define NO_THREAD 255",
            f"#define NLOCKS {len(self.locks)}",
            f"#define NSTATES {max(len(self.states), 1)}",
            f"#define HOTPLUG_EVENTS {self.bounds.hotplug_events}",
        ]
        return "\n".join(lines)

    def _globals(self) -> str:
        lines = ["/* ---- the scenario's shared objects ---- */"]
        threads = range(len(THREADS))
        free = " && ".join(f"(((me) == {t}) || (irqcpu[{t}] != (c)))" for t in threads)
        lines.append(f"#define FREE(me, c) (NOSTOP(me) && {free})")
        quiet = " && ".join(f"(((me) == {t}) || (spins[{t}] == 0 && irqcpu[{t}] == NO_CPU))"
                            for t in threads)
        lines.append(f"#define STOP_OK(me) ({quiet})")
        online = " | ".join(f"(online[{c}] << {c})" for c in range(self.ncpus))
        lines.append(f"#define ONLINE_MASK ({online})")
        virt = " | ".join(f"(virt[{c}] << {c})" for c in range(self.ncpus))
        lines.append(f"#define VIRT_MASK ({virt})")
        tdx = " | ".join(f"(tdx_done[{c}] << {c})" for c in range(self.ncpus))
        lines.append(f"#define TDX_MASK ({tdx})")
        lines.append(f"#define ALL_CPUS {(1 << self.ncpus) - 1}")
        for name, lock in sorted(self.locks.items(), key=lambda kv: int(kv[1][1:])):
            lines.append(f"#define {lock} {lock[1:]}  /* {_comment(name)} */")
        lines += self.global_decls
        for name, var in sorted(self.percpu.items(), key=lambda kv: kv[1]):
            lines.append(f"bit {var}[NCPUS];  /* per-CPU {_comment(name)} */")
        regs = sorted(self.regs.items())
        for (kind, name), bit in regs:
            lines.append(f"bit {bit};  /* {_comment(kind)} registration {_comment(name)} */")
        mask = " | ".join(f"({bit} << {i})" for i, (_, bit) in enumerate(regs)) or "0"
        lines.append(f"#define REG_MASK ({mask})")
        lines.append("byte reg[NSTATES];  /* cpuhp state -> registered callback pair, 0 none */")
        for st in self.states.values():
            pairs = ", ".join(f"{vid}: {up or '-'}/{down or '-'}"
                              for vid, (up, down) in enumerate(st.variants, 1))
            lines.append(f"/* state {st.id} {_comment(st.name)} [{st.section}, {st.index}]: "
                         f"{_comment(pairs) or 'never registered'} */")
        for text, k in sorted(self.named.items(), key=lambda kv: kv[1]):
            lines.append(f"/* named constant {k}: {_comment(text)} */")
        lines.append(f"byte failures_left = {self.bounds.failures};")
        for code in sorted(RULES):
            if RULES[code].decls is not None:
                lines += RULES[code].decls(self.facts)  # type: ignore[misc]
        lines += [f"hidden byte {code};  /* 0: assert({code}) fails when the rule breaks */"
                  for code in sorted(RULES)]
        lines += [f"hidden byte {probe};  /* a probe: assert({probe}) fails when it is reached */"
                  for probe in sorted(self.probes)]
        return "\n".join(lines)


def _check_bounds(bounds: Bounds) -> None:
    if not 1 <= bounds.cpus <= 4:
        raise Unsupported(f"{bounds.cpus} CPUs: the export models 1 to 4")
    if bounds.hotplug_events < 0 or bounds.failures < 0:
        raise Unsupported("negative bounds")
    unknown = sorted(set(bounds.system) - set(SYSTEM_EVENTS))
    if unknown:
        raise Unsupported(f"system event(s) {', '.join(unknown)}: the export models "
                          f"{', '.join(SYSTEM_EVENTS)}")
    for f in dataclasses.fields(bounds):
        if f.name in MODELLED_BOUNDS:
            continue
        value = getattr(bounds, f.name)
        if value:
            raise Unsupported(f"Bounds.{f.name}={value!r} is not modelled in Promela")


def export_promela(program: Program, bounds: Bounds) -> str:
    """The Promela model of `program` within `bounds` (deterministic text).

    Raises Unsupported (one line) when the scenario needs a construct or a
    bound the exporter does not model."""
    _check_bounds(bounds)
    return _Exporter(program, bounds).export()
