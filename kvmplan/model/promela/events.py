"""The Promela text of a function's events: each activation of lifecycle
code is inlined where it is called, one labelled statement per event.

Emitter dispatches every event from the model's one semantics table
(kvmplan/model/semantics.py): handlers("event") names the method of an
event kind, handlers("call") the method of what a call resolves to, the
same names as the interpreter's Runner methods."""

from __future__ import annotations

import dataclasses

from kvmplan.cparse import events as ev
from kvmplan.cparse.compile import strip_ref
from kvmplan.cparse.events import Event, Function
from kvmplan.model.kernel import (
    ATOMIC_OPS,
    HOTPLUG_LOCK,
    IRQS_OFF,
    SHARED_LOCK_MODES,
    SLEEPING_LOCK_MODES,
    SPIN_LOCK_MODES,
    VM_IOCTL,
)
from kvmplan.model.program import Target, cond_globals, enabling_work_in
from kvmplan.model.promela.checks import INIT, USER, Site, Unsupported, _comment
from kvmplan.model.promela.program import Picture, _Inst, _next_cpu, _Proc, _step
from kvmplan.model.semantics import call_kind, handlers

# Inlining every call site: a bound on the code produced.
MAX_INSTANCES = 4000
# The semantics table's rows: event kind -> method, call target kind -> method.
EVENTS = handlers("event")
CALLS = handlers("call")
# A call the Program resolves to nothing: code outside the lifecycle.
_SKIP = Target("skip")


class Emitter(Picture):
    """Inlines activations of lifecycle code into a process's text; an
    event's statement comes from the method its semantics row names."""

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
        # a cross call's callback runs on the caller's CPU directly, elsewhere by IPI
        origin = "" if ctx != "IPI" or caller is None else (
            caller.origin if caller.ctx == "IPI" else caller.cpu)
        inst = _Inst(key, fn, prefix, cpu, ctx, irq, result, cont,
                     f"irqcpu[{proc.me}] = {caller_irq}" if irq != caller_irq else None,
                     slots, resets, stack + (key,), caller.dropped if caller else "",
                     caller.chain if caller else (), ends, origin)
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
            if e.kind == ev.ASSIGN and e.name and e.scope != "vm":
                names.add(e.name)
            if e.kind == ev.LOOP and e.mode == "cpus" and e.args:
                names.add(e.args[0])
        return sorted(names)

    def _lab(self, inst: _Inst, i: int) -> str:
        if 0 <= i < len(inst.fn.events):
            return f"{inst.prefix}_{i}"
        return f"{inst.prefix}_end"

    def _slot(self, inst: _Inst, e: Event) -> str | None:
        """The variable receiving the event's value, if it has a slot."""
        return inst.slots.get(e.slot) if e.slot else None

    def _field_site(self, proc: _Proc, inst: _Inst, name: str, changes: str = "0") -> Site:
        """The site of a read or write of the VM's field `name`."""
        return dataclasses.replace(self._site(proc, inst), field=name, changes=changes,
                                   creating=any(k in self.p.vcpu_entries for k in inst.stack))

    def _return(self, proc: _Proc, inst: _Inst, value: str, shared: bool) -> None:
        """Return: the caller's slot gets the value; the activation's
        variables go back to idle; the caller's IRQs-off state comes back."""
        stmts = []
        if inst.key in self.p.vcpu_entries:
            site = dataclasses.replace(self._site(proc, inst), result="tv[0]")
            stmts += [f"tv[0] = {value}"] + self._hook("vcpu_create_end", site)
            stmts.append("tv[0] = 0")
            proc.scratch = max(proc.scratch, 1)
            shared = True
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

    # -- dispatch ------------------------------------------------------------------------------
    def _event(self, proc: _Proc, inst: _Inst, i: int, e: Event) -> None:
        """Event i of the activation: a comment naming it, then the
        statements of the method its semantics row names."""
        proc.comment(f"{inst.fn.name}:{e.line} {e.kind} {e.name}".rstrip())
        if (inst.key, i) in self.p.consumes:
            consumed = self._hook("consume", self._site(proc, inst))
            if consumed:
                proc.emit(_step(None, consumed))
        read = [stmt for name in self.p.vm_reads.get((inst.key, i), ()) if name in self.globals
                for stmt in self._hook("field_read", self._field_site(proc, inst, name))]
        if read:
            proc.emit(_step(None, read))
        handler = EVENTS.get(e.kind)
        if handler is None:
            raise Unsupported(f"{inst.fn.name}(): event kind {e.kind!r}")
        getattr(self, handler)(proc, inst, i, e)

    # -- control flow --------------------------------------------------------------------------
    def noop(self, proc: _Proc, inst: _Inst, i: int, e: Event) -> None:
        """Lockdep assertions and inline assembly: nothing."""

    def label(self, proc: _Proc, inst: _Inst, i: int, e: Event) -> None:
        """A label: nothing (every event has a label of its own)."""

    def jump(self, proc: _Proc, inst: _Inst, i: int, e: Event) -> None:
        proc.emit(f"goto {self._lab(inst, e.target if e.target >= 0 else len(inst.fn.events))}")

    def loop_end(self, proc: _Proc, inst: _Inst, i: int, e: Event) -> None:
        proc.emit(f"goto {self._lab(inst, e.target)}")

    def return_(self, proc: _Proc, inst: _Inst, i: int, e: Event) -> None:
        value, shared = self._value(inst, e.value) if e.value else ("V_OK", False)
        self._return(proc, inst, value, shared)

    def assign(self, proc: _Proc, inst: _Inst, i: int, e: Event) -> None:
        """`x = v`: a global that exists is written (shared), else the local slot."""
        value, shared = self._value(inst, e.value)
        if e.scope == "vm":
            self._field_assign(proc, inst, e, value)
            return
        slot = inst.slots[e.name]
        var = self.globals.get(e.name) if e.scope != "local" else None
        if var is None:
            proc.emit(self._shared(proc, inst.cpu, inst.ctx, [f"{slot} = {value}"], writes=False)
                      if shared else f"{slot} = {value}")
            return
        if e.name in self.p.init_local:
            proc.emit(f"{var} = {value}")
            return
        written = [f"{var} = {value}"] + self._hook("shared_write", self._site(proc, inst))
        gd = self.defined.get(e.name)
        if gd is None:
            proc.emit(self._shared(proc, inst.cpu, inst.ctx, written))
            return
        proc.emit(self._shared(proc, inst.cpu, inst.ctx, [
            f"if :: {gd} -> {'; '.join(written)} :: else -> {slot} = {value} fi"]))

    def _field_assign(self, proc: _Proc, inst: _Inst, e: Event, value: str) -> None:
        """`kvm->x = v`: a field of the VM the model follows is written (the
        field_write hook first sees whether that changes it), any other
        field is not modelled."""
        var = self.globals.get(e.name)
        if var is None:
            proc.emit("skip")
            return
        changes = f"{var} == V_UNK || tv[1] == V_UNK || {var} != tv[1]"
        stmts = [f"tv[1] = {value}"]
        stmts += self._hook("field_write", self._field_site(proc, inst, e.name, changes))
        stmts += [f"{var} = tv[1]"] + self._hook("shared_write", self._site(proc, inst))
        stmts.append("tv[1] = 0")
        proc.scratch = max(proc.scratch, 2)
        proc.emit(self._shared(proc, inst.cpu, inst.ctx, stmts))

    def branch(self, proc: _Proc, inst: _Inst, i: int, e: Event) -> None:
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
            "br == 2 -> br = 0" + (f"; {jump}" if _unknown_jumps(side, e) else ""),
        ]
        if inst.ctx == VM_IOCTL and (inst.key, i) in self.p.vm_forks \
                and not any(n in self.globals for n in cond_globals(e.cond)):
            # in an ioctl on the VM the user's arguments decide: both ways;
            # on the error side (Program.vm_errors) the slots say so
            jumps = not _unknown_jumps(side, e)
            error, values = self.p.vm_errors.get((inst.key, i), ("", ()))
            flows = self._failure_flows(inst, values) if error and (error == "else") == jumps else []
            options.append("; ".join(["br == 2 -> br = 0"] + flows + ([jump] if jumps else [])))
        unknown = self._unknown_slots(inst, e.cond)
        if self.bounds.failures > 0 and side and proc.me in (INIT, USER) and unknown:
            flows = self._failure_flows(inst, self.p.failure_values.get((inst.key, i), ()))
            options.append(f"br == 2 && failures_left > 0 && ({' || '.join(unknown)}) -> br = 0; "
                           + "; ".join(["failures_left--"] + flows)
                           + (f"; {jump}" if side == "else" else ""))
            shared = True
        resets = [f"tv[{n}] = 0" for n in range(len(lines))]
        decide = "if " + " ".join(f":: {o}" for o in options) + " fi"
        stmts = lines + [f"br = {truth}"] + resets + [decide]
        if shared:
            proc.emit(self._shared(proc, inst.cpu, inst.ctx, stmts, writes=False))
        else:
            proc.emit(_step(None, stmts))

    def _failure_flows(self, inst: _Inst, values: tuple[tuple[str, object], ...]) -> list[str]:
        """On the error side of a branch: the failed call's result says so
        to the slots the model doesn't know (`values`: slot → value)."""
        return [f"if :: ({var} == V_UNK || {var} == V_ABSENT) -> {var} = "
                f"{'V_ERR' if value == 'err' else value} :: else -> skip fi"
                for slot, value in values for var in [inst.slots.get(slot)] if var]

    def loop(self, proc: _Proc, inst: _Inst, i: int, e: Event) -> None:
        """for_each_*_cpu: each CPU (online ones: those online at the first
        visit) in turn, the loop variable set to it (see _cpu_loop). A walk of
        vm_list: the thread is a walker from its first visit until it comes
        back to the loop head; the body runs once if it touches lifecycle
        state (else the walk ends at the next step). Other loops: the body
        runs once if it touches lifecycle state, else is skipped."""
        var = f"{inst.prefix}_lp{i}"
        proc.decls.append(f"int {var} = -1;  /* loop state: -1 not started */")
        inst.resets.append(f"{var} = -1")
        exit_label = self._lab(inst, e.target)
        if e.mode == "cpus":
            self._cpu_loop(proc, inst, i, e, var, exit_label)
            return
        matters = self.p.body_matters[(inst.key, i)]
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

    def _cpu_loop(self, proc: _Proc, inst: _Inst, i: int, e: Event, var: str,
                  exit_label: str) -> None:
        """for_each_online_cpu / for_each_possible_cpu with loop state `var`:
        a pass over the online CPUs whose body does per-CPU enabling work
        runs the cpu_pass hooks at its first visit."""
        start = "ONLINE_MASK" if e.name == "online" else "ALL_CPUS"
        loop_var = inst.slots[e.args[0]] if e.args else None
        take = (f"{loop_var} = LOWEST({var}); {var} = {var} & ~BIT({loop_var})" if loop_var
                else f"{var} = {var} & ~BIT(LOWEST({var}))")
        first = [f"{var} = {start}"]
        work = enabling_work_in(self.p, inst.key, i + 1, e.target) if e.name == "online" else ""
        if work:
            first += self._hook("cpu_pass", dataclasses.replace(
                self._site(proc, inst), work=work, covered=var))
        stmts = [f"if :: {var} == -1 -> {'; '.join(first)} :: else -> skip fi",
                 f"if :: {var} == 0 -> {var} = -1; goto {exit_label} :: else -> {take} fi"]
        if e.name == "online":
            proc.emit(self._shared(proc, inst.cpu, inst.ctx, stmts, writes=False))
        else:
            proc.emit(_step(None, stmts))

    # -- calls --------------------------------------------------------------------------
    def call(self, proc: _Proc, inst: _Inst, i: int, e: Event) -> None:
        """A call (direct or indirect): atomic_*() on a global, ERR_PTR(),
        WARN_ON()/likely() by name, else what the Program resolved it to
        (code outside the lifecycle is "skip"); its row of the semantics
        table names the method."""
        target = self.p.targets.get((inst.key, i)) or _SKIP
        kind = call_kind(e, target.kind)
        handler = CALLS.get(kind)
        if handler is None:
            raise Unsupported(f"{inst.fn.name}(): {e.name}() is a {kind} primitive, not "
                              "modelled in Promela")
        getattr(self, handler)(proc, inst, i, e, target)

    def code(self, proc: _Proc, inst: _Inst, i: int, e: Event, target: Target) -> None:
        """Lifecycle code is inlined (same CPU and context); a call outside
        the lifecycle is skipped and returns unknown."""
        if target.kind == "skip":
            slot = self._slot(inst, e)
            if slot:
                proc.emit(f"{slot} = V_UNK")
            return
        if self.p.functions[target.function].name in self.p.setup_fns:
            begun = self._hook("setup_begin", self._site(proc, inst))
            if begun:
                proc.emit(_step(None, begun))
        self._expand(proc, target.function, inst.cpu, inst.ctx, self._slot(inst, e),
                     self._lab(inst, i + 1), inst)

    def error_pointer(self, proc: _Proc, inst: _Inst, i: int, e: Event, target: Target) -> None:
        """ERR_PTR() / ERR_CAST(): an error."""
        slot = self._slot(inst, e)
        if slot:
            proc.emit(f"{slot} = V_ERR")

    def transparent(self, proc: _Proc, inst: _Inst, i: int, e: Event, target: Target) -> None:
        """WARN_ON() / likely()...: the value of the first argument."""
        slot = self._slot(inst, e)
        if slot:
            value, shared = self._value(inst, e.args[0])
            proc.emit(self._shared(proc, inst.cpu, inst.ctx, [f"{slot} = {value}"], writes=False)
                      if shared else f"{slot} = {value}")

    def atomic(self, proc: _Proc, inst: _Inst, i: int, e: Event, target: Target) -> None:
        """atomic_inc/dec/set/read(&g): g (0 if absent or not a number) changed,
        g exists from now on, the call's value is the new one."""
        slot = self._slot(inst, e)
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

    def vendor(self, proc: _Proc, inst: _Inst, i: int, e: Event, target: Target) -> None:
        """The vendor per-CPU enable/disable, on the caller's CPU."""
        self._vendor_step(proc, target.kind, self._site(proc, inst), self._slot(inst, e), None)

    def _vendor_step(self, proc: _Proc, kind: str, site: Site, slot: str | None,
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

    def tdx(self, proc: _Proc, inst: _Inst, i: int, e: Event, target: Target) -> None:
        """tdx_cpu_enable(): on a CPU with virtualization on, TDX per-CPU init
        is done there (ok), else it fails (err). tdx_enable(): TDX is enabled
        (ok)."""
        slot = self._slot(inst, e)
        c = inst.cpu
        if target.kind == "tdx_cpu":
            ok = f"{slot} = V_OK" if slot else "skip"
            err = f"{slot} = V_ERR" if slot else "skip"
            stmts = self._hook("tdx_cpu", self._site(proc, inst)) + [
                f"if :: virt[{c}] -> tdx_done[{c}] = 1; {ok} :: else -> {err} fi"]
            proc.emit(self._shared(proc, c, inst.ctx, stmts))
        else:
            stmts = ["tdx_enabled = 1"] + ([f"{slot} = V_OK"] if slot else [])
            proc.emit(self._shared(proc, c, inst.ctx, stmts))

    def uret(self, proc: _Proc, inst: _Inst, i: int, e: Event, target: Target) -> None:
        """A user-return MSR snapshot/drop: only its context matters; its
        value is unknown."""
        slot = self._slot(inst, e)
        stmts = self._hook("uret", self._site(proc, inst)) + ([f"{slot} = V_UNK"] if slot else [])
        if stmts:
            proc.emit(self._shared(proc, inst.cpu, inst.ctx, stmts, writes=False))

    def in_context(self, proc: _Proc, inst: _Inst, i: int, e: Event, target: Target) -> None:
        """in_task(), preemptible(), irqs_disabled()...: true or false where
        the caller runs (interp.Runner.in_context)."""
        slot = self._slot(inst, e)
        if not slot:
            return
        if inst.ctx == "IPI":
            interrupt = f"(({inst.cpu}) != ({inst.origin}))" if inst.origin else "1"
        else:
            interrupt = "0"
        irqs_off = "1" if inst.ctx in IRQS_OFF else "0"
        value = {"in_task": f"!{interrupt}", "irqs_disabled": irqs_off,
                 "preemptible": f"(!{irqs_off} && hdepth[{proc.me}] == 0)"}.get(e.name, interrupt)
        proc.emit(_step(None, [f"{slot} = (({value}) -> V_T : V_F)"]))

    def cross_call(self, proc: _Proc, inst: _Inst, i: int, e: Event) -> None:
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
        stmts = self._cross_mask(proc, inst, e, mask)
        work = "enable" if target.kind == "enable" else (
            self.p.work.get(target.function, "") if target.kind == "code" else "")
        if e.mode != "single" and work:
            stmts += self._hook("cpu_pass", dataclasses.replace(
                self._site(proc, inst), work=work, covered=mask))
        # on_each_cpu() runs with preemption off on the caller's CPU
        stmts.append(f"ENTER_ATOMIC({proc.me}, {inst.cpu})")
        proc.emit(self._shared(proc, inst.cpu, inst.ctx, stmts, writes=False))
        loop = f"{inst.prefix}_x{i}"
        proc.label(loop)
        back = self._hook("cross_return", Site(proc.me, cur, "IPI", self.ncpus, dropped=flag,
                                               chain=inst.chain + (flag,)))
        # the IPIs go out before the caller runs its own call
        step = back + [f"if :: {mask} == 0 -> {cur} = 0; LEAVE_ATOMIC({proc.me}); "
                       f"goto {self._lab(inst, i + 1)} "
                       f":: else -> {cur} = LOCAL_LAST({mask}, {inst.cpu}); "
                       f"{mask} = {mask} & ~BIT({cur}) fi"]
        proc.emit(self._shared(proc, inst.cpu, inst.ctx, step, writes=False) if back
                  else _step(None, step))
        if target.kind in ("enable", "disable"):
            site = Site(proc.me, cur, "IPI", self.ncpus, direct=True, dropped=flag,
                        chain=inst.chain + (flag,))
            self._vendor_step(proc, target.kind, site, None, loop)
            return
        self._expand(proc, target.function, cur, "IPI", None, loop, self._callee(inst, flag))

    def _cross_mask(self, proc: _Proc, inst: _Inst, e: Event, mask: str) -> list[str]:
        """Statements setting `mask` to the CPUs a cross call runs on."""
        if e.mode == "single":
            value, _ = self._value(inst, e.args[0] if e.args else "")
            proc.scratch = max(proc.scratch, 1)
            return [f"tv[0] = {value}",
                    ("if :: IS_INT(tv[0]) && tv[0] >= 0 && tv[0] < NCPUS -> "
                     f"if :: online[tv[0]] -> {mask} = BIT(tv[0]) :: else -> {mask} = 0 fi "
                     f":: else -> {mask} = 0 fi"), "tv[0] = 0"]
        if e.mode == "others":
            return [f"{mask} = ONLINE_MASK & ~BIT({inst.cpu})"]
        return [f"{mask} = ONLINE_MASK"]

    # -- shared state -------------------------------------------------------------------
    def count(self, proc: _Proc, inst: _Inst, i: int, e: Event) -> None:
        """g++ / g-- / g = v on a global counter: g (0 if absent or not a
        number) changes, exists from now on; the slot sees the old value when
        the code reads it before the change, else the new one."""
        slot = self._slot(inst, e)
        if e.scope == "vm" and e.name not in self.globals:
            proc.emit(f"{slot} = V_UNK" if slot else "skip")    # a field not modelled
            return
        stmts = [f"tv[0] = {self._current(e.name)}"]
        if e.scope == "vm":         # an increment changes it
            stmts += self._hook("field_write", self._field_site(proc, inst, e.name, "1"))
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

    def percpu(self, proc: _Proc, inst: _Inst, i: int, e: Event) -> None:
        """KVM's per-CPU flag of the CPU the code runs on: read as true/false,
        or written (set/true/1 sets it, anything else clears it)."""
        var = f"{self.percpu_vars[e.name]}[{inst.cpu}]"
        if e.kind == ev.PERCPU_READ:
            slot = self._slot(inst, e)
            if slot:
                proc.emit(self._shared(proc, inst.cpu, inst.ctx,
                                       [f"{slot} = ({var} -> V_T : V_F)"], writes=False))
            return
        value = "1" if e.value in ("set", "true", "1") else "0"
        proc.emit(self._shared(proc, inst.cpu, inst.ctx, [f"{var} = {value}"]
                               + self._hook("shared_write", self._site(proc, inst))))

    def list_op(self, proc: _Proc, inst: _Inst, i: int, e: Event) -> None:
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

    def register(self, proc: _Proc, inst: _Inst, i: int, e: Event) -> None:
        """A registration (misc_register of /dev/kvm, register_syscore_ops,
        register_reboot_notifier...) or its undoing: the (kind, object) is
        registered or not; the user thread may start while a misc device is
        registered; the system events run the callbacks of the registrations
        in force. A registration other than /dev/kvm is lifecycle work. One
        whose result the caller keeps can fail (an injected failure):
        nothing is registered and the result is an error."""
        site = dataclasses.replace(self._site(proc, inst), kind=e.mode)
        stmts = []
        if e.kind == ev.REGISTER:
            stmts += self._hook("register", site)
            if e.mode != "misc":
                stmts += self._hook("init_work", site)
        stmts.append(f"{self.regs[(e.mode, e.name)]} = {1 if e.kind == ev.REGISTER else 0}")
        slot = self._slot(inst, e)
        if slot:
            stmts.append(f"{slot} = V_OK")
        if slot and e.kind == ev.REGISTER and self.bounds.failures > 0 and proc.me in (INIT, USER):
            # an injected failure: nothing registered, an error returned
            stmts = [f"if :: failures_left > 0 -> failures_left--; {slot} = V_ERR "
                     f":: true -> {'; '.join(stmts)} fi"]
        proc.emit(self._shared(proc, inst.cpu, inst.ctx, stmts))

    def lock(self, proc: _Proc, inst: _Inst, i: int, e: Event) -> None:
        """Take a lock: for read (cpus_read_lock, down_read) or exclusively;
        waits while another thread holds it in a conflicting way; a spinlock
        counts against stop_machine()."""
        if self._not_a_lock(e):
            return
        more = [f"spins[{proc.me}] = spins[{proc.me}] + 1", f"ENTER_ATOMIC({proc.me}, {inst.cpu})"] \
            if e.mode in SPIN_LOCK_MODES else []
        self._take(proc, inst.cpu, inst.ctx, e.name, e.mode in SHARED_LOCK_MODES, more,
                   sleeps=e.mode in SLEEPING_LOCK_MODES)

    def _take(self, proc: _Proc, cpu: str, ctx: str, name: str, shared: bool,
              more: list[str], goto: str | None = None, sleeps: bool = True) -> None:
        lock = self.locks[name]
        site = Site(proc.me, cpu, ctx, self.ncpus, lock=name, lock_id=lock, shared=shared,
                    sleeps=sleeps, locks=tuple(sorted(self.locks.items())))
        stmts = self._hook("lock", site)
        if shared:
            stmts.append(f"take_shared({lock}, {proc.me})")
            guard = f"CAN_SHARED({lock}, {proc.me})"
        else:
            stmts.append(f"take_excl({lock}, {proc.me})")
            guard = f"CAN_EXCL({lock}, {proc.me})"
        proc.emit(self._shared(proc, cpu, ctx, stmts + more, extra_guard=guard, goto=goto))

    def unlock(self, proc: _Proc, inst: _Inst, i: int, e: Event) -> None:
        stmts = []
        lock = self.locks.get(e.name)
        if lock is not None:        # never taken as a lock: releasing it changes nothing
            stmts.append(f"release({lock}, {proc.me})")
        if e.mode in SPIN_LOCK_MODES:
            stmts.append(f"if :: spins[{proc.me}] > 0 -> spins[{proc.me}] = spins[{proc.me}] - 1; "
                         f"LEAVE_ATOMIC({proc.me}) :: else -> skip fi")
        if stmts:
            proc.emit(self._shared(proc, inst.cpu, inst.ctx, stmts))

    # -- cpuhp registration ---------------------------------------------------------------
    def cpuhp(self, proc: _Proc, inst: _Inst, i: int, e: Event) -> None:
        """cpuhp_setup_state*() or cpuhp_remove_state*()."""
        if e.kind == ev.CPUHP_SETUP:
            self._cpuhp_setup(proc, inst, i, e)
        else:
            self._cpuhp_remove(proc, inst, i, e)

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
        slot = self._slot(inst, e)
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
        slot = self._slot(inst, e)
        if slot:
            done.append(f"{slot} = V_OK")
        done += [f"{todo} = 0", f"{cur} = 0", f"{rv} = 0"]
        proc.emit(self._shared(proc, inst.cpu, inst.ctx, done))


def _unknown_jumps(side: str, e: Event) -> bool:
    """Does a branch the model can't evaluate jump (interp.branch): away
    from the error path, else the way the front-end chose (mode "fall")."""
    return side == "then" if side else e.mode != "fall"
