"""The static picture of the program for the Promela export: the Promela
names of the shared objects it touches (globals, locks, per-CPU flags,
registrations, cpuhp states), the text of a process (_Proc) and of one
inlined activation (_Inst), the encoding of the interpreter's values and
three-valued conditions as Promela expressions, and the steps every
emitter builds on: the rules' statements at a hook point and a step on
shared state."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from kvmplan.cparse import events as ev
from kvmplan.cparse.compile import strip_ref
from kvmplan.cparse.events import Cond, Event, Function
from kvmplan.graph.build import function_ref
from kvmplan.model.explorer import Bounds
from kvmplan.model.kernel import ATOMIC_OPS, HOTPLUG_LOCK, IRQS_OFF, NOT_LOCKS, TASK_CONTEXTS
from kvmplan.model.program import Program
from kvmplan.model.promela.checks import HOOKS, RULES, USER, Facts, Site, Unsupported, _comment
from kvmplan.model.rules import VM_RULES

# Comparisons of a branch condition.
COMPARISONS = {"==": "EQ3", "!=": "NE3", "<": "LT3", ">": "GT3", "<=": "LE3", ">=": "GE3"}
# The model's values are codes below every number let through.
INT_LIMIT = 1_000_000
# Registrations (distinct kind/object pairs) a snapshot mask can hold.
MAX_REGS = 30


# --- cpuhp states, activations, processes, steps -----------------------------------

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
    # in a cross call's callback: the caller's CPU (Site.origin)
    origin: str = ""


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


def task_cpu(proc: "_Proc") -> str:
    """Where a task step of `proc` runs (kernel.TASK_CONTEXTS): pcpu[me]."""
    return f"pcpu[{proc.me}]"


def _next_cpu(mask: str, cur: str, empty: list[str], pick: str = "LOWEST") -> str:
    """Take the next CPU of `mask` (LOWEST or HIGHEST first) into `cur`; when
    none is left, run `empty` (which jumps away)."""
    return (f"if :: {mask} == 0 -> {'; '.join(empty)} "
            f":: else -> {cur} = {pick}({mask}); {mask} = {mask} & ~BIT({cur}) fi")


def _digit_like(text: str) -> bool:
    return text.lstrip("-").isdigit()


def _errno_like(text: str) -> bool:
    return text.startswith(("-E", "ERR_PTR"))


# --- the picture --------------------------------------------------------------------

class Picture:
    """What the program touches, named in Promela (see _scan), with the
    encoders of values and conditions and the hook and step builders the
    emitters share."""

    def __init__(self, program: Program, bounds: Bounds):
        self.p = program
        self.bounds = bounds
        self.ncpus = bounds.cpus
        self.vocab = program.vocab
        self.instances = 0              # activations inlined so far (their f<n> prefixes)
        self.callbacks = 0              # environment callback sites so far (their labels)
        self.named: dict[str, int] = {}     # named constant -> its number
        self.probes: set[str] = set()       # the probes the rules' statements assert
        self._scan()

    # -- names ---------------------------------------------------------------------
    def _scan(self) -> None:
        """Give every shared object the program touches a Promela name: a
        global g<i> (with gd<i>, "it exists", unless it has an initial
        value), a lock L<i>, a per-CPU flag pc<i>, a registration bit rg<i>,
        a cpuhp state its id; then the facts the rules' statements read."""
        initial = self._initial()
        dynamic, locks, percpu, regs, variants = self._collect()
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
        self.percpu_vars = {name: f"pc{i}" for i, name in enumerate(sorted(percpu))}
        if len(regs) > MAX_REGS:
            raise Unsupported(f"{len(regs)} registrations: the export models up to {MAX_REGS}")
        # (kind, object) -> its bit: registered or not (World.regs)
        self.regs = {item: f"rg{i}" for i, item in enumerate(sorted(regs))}
        self.states: dict[str, _State] = {}
        for i, name in enumerate(sorted(variants)):
            st = self.p.graph.cpuhp_states.get(name)
            section, index = (st.section, st.index) if st else ("OTHER", 10_000)
            self.states[name] = _State(name, i, section, index, tuple(variants[name]))
        self.facts = self._facts()

    def _initial(self) -> dict[str, str]:
        """The globals the program tracks from the start (Program.initial),
        as Promela values."""
        out: dict[str, str] = {}
        if self.bounds.vm_ops:
            # the VM-operations pass: the fields of the user's VM, allocated zeroed
            out.update({name: "0" for name in self.p.vm_fields})
        for name, value in sorted(self.p.initial.items()):
            if isinstance(value, int):
                out[name] = self._int(value, f"the initial value of {name}")
            elif value in ("t", "f", "?"):
                out[name] = {"t": "V_T", "f": "V_F", "?": "V_UNK"}[value]
            else:
                out[name] = self._named(str(value))
        return out

    def _collect(self) -> tuple[set[str], set[str], set[str], set[tuple[str, str]],
                                dict[str, list[tuple[str, str]]]]:
        """What the functions' events touch: the globals atomic_*() and counts
        create, the locks, the per-CPU flags, the registrations, and each
        cpuhp state's (startup, teardown) pairs in order of appearance."""
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
                elif e.kind == ev.COUNT and e.scope != "vm":
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
        return dynamic, locks, percpu, regs, variants

    def _facts(self) -> Facts:
        """What the rules' statements know of the scenario (checks.Facts)."""
        counters = tuple((name, self.globals[name]) for name in sorted(self.vocab.get("counter", ())))
        return Facts(
            self.ncpus, self.locks[HOTPLUG_LOCK], counters,
            tuple(self._nonzero(name) for name in sorted(self.p.counters) if name in self.globals),
            tuple(self._is_true(name) for name in sorted(self.vocab.get("param", ()))
                  if name in self.globals),
            tuple((f"{kind} {name}", bit) for (kind, name), bit in sorted(self.regs.items())),
            len(self.states),
            "reboot" in self.bounds.system and any(
                kind in ("reboot", "syscore_shutdown")
                for item in self.regs for kind, _ in self.p.callbacks.get(item, ())),
            " || ".join(bit for (kind, _), bit in sorted(self.regs.items()) if kind == "misc")
            or "0", self.p.vm_fields if self.bounds.vm_ops else ())

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
        return (f"({gd} -> {var} : V_UNK)" if gd else var), atom not in self.p.settled

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
        if op in ("slot", "global"):
            return self._read(inst, c, "TRUTH", "2")
        if op == "const":                 # a number is its truth; a name is unknown
            number = _digit_like(str(c[1]))
            return (("1" if self._int0(str(c[1]), inst) else "0") if number else "2"), False
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

    def _read(self, inst: _Inst, c: Cond, wrap: str, unknown: str) -> tuple[str, bool]:
        """A local slot or a global read through macro `wrap` (TRUTH, CVAL),
        `unknown` when the model has no value for it; and whether it is shared."""
        if c[0] == "slot":
            var = inst.slots.get(str(c[1]))
            return (f"{wrap}({var})" if var else unknown), False
        name = str(c[1])
        var = self.globals.get(name)
        if var is None:
            return unknown, False
        gd = self.defined.get(name)
        return ((f"({gd} -> {wrap}({var}) : {unknown})" if gd else f"{wrap}({var})"),
                name not in self.p.settled)

    def _cval(self, inst: _Inst, c: Cond) -> tuple[str, bool]:
        """A comparison operand (interp's cval); V_UNK stands for 'unknown'."""
        op = c[0]
        if op in ("slot", "global"):
            return self._read(inst, c, "CVAL", "V_UNK")
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
            if self.bounds.vm_ops and code not in VM_RULES:
                continue            # the VM-operations pass checks its own rules (pass_rules)
            for name, place in RULES[code].hooks:
                if name == hook:
                    for stmt in place(site):
                        self.probes.update(re.findall(r"assert\((P_\w+)\)", stmt))
                        out.append(stmt)
        return out

    def _site(self, proc: _Proc, inst: _Inst) -> Site:
        return Site(proc.me, inst.cpu, inst.ctx, self.ncpus, dropped=inst.dropped, chain=inst.chain,
                    origin=inst.origin)

    def _shared(self, proc: _Proc, cpu: str, ctx: str, stmts: list[str],
                extra_guard: str = "", goto: str | None = None, writes: bool = True) -> str:
        """A step on shared state: runs when no other thread is IRQs-off on
        its CPU or inside stop_machine() (and `extra_guard` holds); a step
        that writes ends with the state hooks."""
        place: list[str] = []
        if ctx in IRQS_OFF:
            guard = f"FREE({proc.me}, {cpu})"
        elif ctx in TASK_CONTEXTS:
            assert cpu == task_cpu(proc), (ctx, cpu)
            guard, place = f"TASK_OK({proc.me})", [f"PLACE({proc.me})"]
        else:
            guard = f"FREE_TASK({proc.me}, {cpu})"
        guard += f" && {extra_guard}" if extra_guard else ""
        site = Site(proc.me, cpu, ctx, self.ncpus)
        body = place + self._hook("step", site) + list(stmts) + (self._hook("state", site) if writes else [])
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
