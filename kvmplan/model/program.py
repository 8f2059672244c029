"""What the model runs: the graph's functions, with call targets resolved once
and each function's events marked visible (they touch lifecycle state and
so are interleaving points) or local (run without interleaving)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from functools import lru_cache

from kvmplan.cparse import events as ev
from kvmplan.cparse.compile import successors
from kvmplan.cparse.events import Event, Function
from kvmplan.graph.build import (
    VENDOR_DIRS,
    function_ref,
    registration_callbacks,
    resolve_indirect,
)
from kvmplan.graph.hooks import HookGraph
from kvmplan.graph.view import relevant_functions, vocabulary
from kvmplan.model.kernel import ERROR_POINTERS

_ERR_LABEL = re.compile(r"(err|out|fail|unwind|free|undo|bail|abort|cleanup|exit|put|uninit|unreg)",
                        re.I)


@dataclass(frozen=True)
class Target:
    """Where a call goes in the model."""

    # "code" (interpret), "skip", or a primitive of the model: "enable", "disable"
    # (vendor per-CPU virtualization), "tdx_cpu", "tdx_enable" (TDX per-CPU and
    # module init), "uret" (user-return MSR snapshot/drop), "context" (in_task()...)
    kind: str
    function: str = ""  # key into Program.functions (or the primitive's name)


# Calls the model treats as primitives, by vocabulary role (grammars/lifecycle.txt).
PRIMITIVE_ROLES = {"fn_tdx_cpu": "tdx_cpu", "fn_tdx_enable": "tdx_enable", "fn_uret": "uret",
                   "fn_context": "context"}


@dataclass(frozen=True, eq=False)
class Program:
    """Everything the engines need, computed once by build_program (nothing
    is added while a model runs)."""

    graph: HookGraph
    functions: dict[str, Function]          # key → function (key: name or file::name)
    targets: dict[tuple[str, int], Target]  # (function key, event index) → call target
    failure_side: dict[tuple[str, int], str]  # (key, branch index) → "then" | "else" | ""
    relevant: frozenset[str]
    enable_fns: frozenset[str]
    disable_fns: frozenset[str]
    vocab: dict[str, frozenset[str]]
    # (registration kind, object) → callbacks it installs: ((kind, function key), ...)
    callbacks: dict[tuple[str, str], tuple[tuple[str, str], ...]]
    # usage counters (grammars/lifecycle.txt) the code changes
    counters: frozenset[str]
    # function key → the per-CPU enabling work it (transitively) does: "tdx", "enable" or ""
    work: dict[str, str]
    # (function key, loop index) → does the loop body touch lifecycle state?
    body_matters: dict[tuple[str, int], bool]
    # the globals the model tracks, with their value at the start (world.Value):
    # see initial_globals()
    initial: dict[str, object]
    # tracked scalars only __init code writes: a read of one is not an
    # interleaving point (its writes are), and a trace shows a branch on one
    # only once the code has changed it from its value at load
    settled: frozenset[str] = frozenset()
    # settled scalars only __init code reads too: module init's own state, no
    # other thread sees it; a write of one is neither an interleaving point
    # nor a step of the trace
    init_local: frozenset[str] = frozenset()
    # read-only boolean module parameters that decide whether the code runs
    # lifecycle work: the model starts from each of their values
    # (parameter_choices)
    choices: tuple[str, ...] = ()
    # the functions bound to the vendor's hardware_setup op (vocab op_setup)
    setup_fns: frozenset[str] = frozenset()
    # (function key, event index) → the globals the event reads that the
    # vendor's hardware_setup writes (produced_by_setup)
    consumes: dict[tuple[str, int], tuple[str, ...]] = field(default_factory=dict)
    # (key, branch index) → the values an injected failure gives the
    # condition's slots the model doesn't know, so that the failed call's
    # result says so to the code that tests it again (`return r;`):
    # ((slot, "err" | 0), ...) (failure_values)
    failure_values: dict[tuple[str, int], tuple[tuple[str, object], ...]] = \
        field(default_factory=dict)
    # The VM-operations program (build_program(graph, vm_ops=True)), run by
    # its own pass: the user's VM, once created, gets VM ioctls. The fields
    # of the VM it follows (vm_state; they start at 0, the VM being
    # allocated zeroed), the events of code that runs only at vCPU creation
    # (creation_only) that read them, the functions
    # that create a vCPU (vocab vcpu_create) and the VM ioctl entry (vocab
    # vm_ioctl). Empty in the main program.
    vm_fields: tuple[str, ...] = ()
    vm_reads: dict[tuple[str, int], tuple[str, ...]] = field(default_factory=dict)
    vcpu_entries: frozenset[str] = frozenset()
    vm_ioctl: str = ""
    # the branches that decide whether a followed field is written
    # (_deciding_branches): in an ioctl on the VM, the ones that go both
    # ways when the model can't evaluate them
    vm_forks: frozenset[tuple[str, int]] = frozenset()
    # (key, branch index) → the error side of a branch of vm_forks and the
    # values its slots take there (_fork_errors)
    vm_errors: dict[tuple[str, int], tuple[str, tuple[tuple[str, object], ...]]] = \
        field(default_factory=dict)
    # the main program's VM-operations program, None when the files read
    # have no VM ioctl writing a field vCPU creation reads
    vm_program: "Program | None" = None

    def key_of(self, fn: Function) -> str:
        return _key(fn, self.graph)

    def done_at(self, item: tuple[str, str]) -> tuple[str, str, int] | None:
        """Where the code first does `item` (world.left_items): registers it,
        sets up the cpuhp state, changes the counter; None when no single
        event does it (virtualization, VMs)."""
        kind, name = item
        for key in sorted(self.functions):
            fn = self.functions[key]
            for e in fn.events:
                if (kind == "cpuhp" and e.kind == ev.CPUHP_SETUP and e.name == name) \
                        or (kind == "count" and e.kind == ev.COUNT and e.name == name) \
                        or (e.kind == ev.REGISTER and (e.mode, e.name) == item):
                    return (fn.name, fn.file, e.line)
        return None

    def site_of(self, key: str) -> tuple[str, str, int]:
        """Where a finding about an operation with no step of its own points:
        the function that runs it (module_init, module_exit, VM creation)."""
        fn = self.functions.get(key)
        return (fn.name, fn.file, fn.line) if fn else ("", "", 0)

    def entry(self, kind: str = "module_init") -> str:
        """The vendor module's module_init (or module_exit) when the model runs
        it, else "" (none, or it touches nothing of the lifecycle)."""
        key = vendor_entry(self.graph, kind)
        return key if key in self.functions else ""


def _key(fn: Function, graph: HookGraph) -> str:
    if graph.functions.get(fn.name) is fn:
        return fn.name
    return f"{fn.file}::{fn.name}"


def build_program(graph: HookGraph, vm_ops: bool = False) -> Program:
    """The program of the main passes; with `vm_ops`, the program of the
    VM-operations pass, which runs VM ioctls too (the functions that touch
    the VM fields it follows, see vm_state)."""
    vocab = vocabulary()
    setup_names = {b.function for (_, field_name), binds in graph.bindings.items()
                   if field_name in vocab.get("op_setup", frozenset()) for b in binds}
    produced, producer = produced_by_setup(graph, setup_names)
    relevant = relevant_functions(graph, (readers_of(graph, produced) - producer)
                                  & called_from(graph, vendor_entry(graph)))
    fields, vm_code, creation = vm_state(graph, vocab) if vm_ops else ((), set(), set())
    relevant |= vm_code
    enable_fields = vocab.get("op_enable", frozenset())
    disable_fields = vocab.get("op_disable", frozenset())
    enable_fns: set[str] = set()
    disable_fns: set[str] = set()
    for (struct, field_name), binds in graph.bindings.items():
        for b in binds:
            if field_name in enable_fields:
                enable_fns.add(b.function)
            elif field_name in disable_fields:
                disable_fns.add(b.function)
    functions: dict[str, Function] = {}
    targets: dict[tuple[str, int], Target] = {}
    failure: dict[tuple[str, int], str] = {}
    seen: set[str] = set()
    for name in sorted(relevant):
        fn = graph.functions.get(name)
        if fn is None:
            continue
        _add(graph, fn, functions, targets, failure, relevant, enable_fns, disable_fns, seen)
    counters = frozenset(e.name for fn in functions.values() for e in fn.events
                         if e.kind == ev.COUNT and e.name in vocab.get("counter", ()))
    callbacks: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {}
    for key, fn in sorted(functions.items()):
        for e in fn.events:
            if e.kind != ev.REGISTER:
                continue
            found = []
            for kind, cb in registration_callbacks(graph, fn, e):
                cb_key = _key(cb, graph)
                if cb_key not in functions and cb.name in relevant:
                    _add(graph, cb, functions, targets, failure, relevant, enable_fns, disable_fns,
                         seen)
                if cb_key in functions:
                    found.append((kind, cb_key))
            callbacks[(e.mode, e.name)] = tuple(sorted(set(found)))
    initial = initial_globals(graph, vocab)
    scalars, settled, read_after_init = tracked_scalars(graph, functions, targets, callbacks,
                                                        vocab)
    settled = {name for name in settled if name not in initial}
    for name, value in scalars.items():
        initial.setdefault(name, value)
    program = Program(graph, functions, targets, failure, frozenset(relevant),
                   frozenset(enable_fns), frozenset(disable_fns), vocab, callbacks, counters,
                   _enabling_work(functions, targets), _loop_bodies(functions, targets),
                   dict(sorted(initial.items())), frozenset(settled),
                   frozenset(settled - read_after_init),
                   parameter_choices(graph, functions, targets, initial), frozenset(setup_names),
                   _consumers(functions, produced, producer),
                   failure_values(functions, failure),
                   *_vm_program(functions, targets, fields, creation, vocab))
    if vm_ops:
        return program
    vm = build_program(graph, vm_ops=True)
    return replace(program, vm_program=vm if vm.vm_fields and vm.vm_ioctl else None)


# how the front-end names a field of the VM (grammars/objects.txt)
_VM_FIELD = re.compile(r"kvm->[A-Za-z_][\w.]*")


def vm_state(graph: HookGraph, vocab: dict[str, frozenset[str]]
             ) -> tuple[tuple[str, ...], set[str], set[str]]:
    """The fields of the VM the VM-operations pass follows, and the code it
    runs for them.

    A field counts when vCPU creation (vocab vcpu_create, and what it
    calls only then: creation_only) reads it, in a condition or a value,
    and another VM ioctl
    (vocab vm_ioctl, and what it calls) writes it; or vCPU creation writes
    it and another VM ioctl tests it (kvm->created_vcpus). The code: in
    vCPU creation, the functions that read or write a field and their
    callers there; in VM creation and the other ioctls, the functions that
    write one, their callers there and what they call that reads one (a
    guard in a helper); the calls from the ioctl entry to vCPU creation.
    Also returns the creation_only functions. Nothing when the files read
    have no VM ioctl or no vCPU creation."""
    creators = {n for n in vocab.get("vcpu_create", ()) if n in graph.functions}
    ioctls = {n for n in vocab.get("vm_ioctl", ()) if n in graph.functions}
    if not creators or not ioctls:
        return (), set(), set()
    creation = called_from(graph, *sorted(creators)) | creators
    others = (called_from(graph, *sorted(ioctls)) | ioctls) - creation
    only = creation_only(graph, creators, creation)
    read, written = _vm_fields_used(graph, only)
    read_elsewhere, written_elsewhere = _vm_fields_used(graph, others)
    fields = (read & written_elsewhere) | (written & read_elsewhere)
    if not fields:
        return (), set(), set()
    makers = {n for n in vocab.get("vm_create", ()) if n in graph.functions}
    making = called_from(graph, *sorted(makers)) | makers
    in_creation = {n for n in only if _uses(graph, n, fields, reads=True)} | creators
    writers = {n for n in others | making if _uses(graph, n, fields, reads=False)}
    code = in_creation | reached(graph, in_creation, creation, callers=True)
    code |= writers | reached(graph, writers, others | making, callers=True)
    code |= reached(graph, creators, others | creators, callers=True)
    guards = {n for n in others | making if _uses(graph, n, fields, reads=True)}
    code |= reached(graph, code & (others | making), guards)
    return tuple(sorted(fields)), code, only


def creation_only(graph: HookGraph, creators: set[str], creation: set[str]) -> set[str]:
    """The functions that run only when a vCPU is created: `creators` and
    the functions of `creation` all of whose callers are such functions. A
    value they read shapes the vCPU once; one code also reads later (a
    reset, an MSR write, KVM_RUN) takes effect again when it changes."""
    callers: dict[str, set[str]] = {}
    for edge in graph.edges:
        callers.setdefault(edge.callee, set()).add(edge.caller)
    only = set(creation)
    changed = True
    while changed:
        changed = False
        for name in sorted(only - creators):
            if not callers.get(name, set()) <= only:
                only.discard(name)
                changed = True
    return only


def _uses(graph: HookGraph, name: str, fields: tuple[str, ...] | set[str], reads: bool) -> bool:
    """Does function `name` write one of `fields` (with `reads`: or read one)?"""
    read, written = _vm_fields_used(graph, {name})
    return bool((written | (read if reads else set())) & set(fields))


def _vm_fields_used(graph: HookGraph, names: set[str]) -> tuple[set[str], set[str]]:
    """The fields of the VM the functions `names` read, and those they write."""
    read: set[str] = set()
    written: set[str] = set()
    for name in names:
        fn = graph.functions.get(name)
        for e in fn.events if fn is not None else ():
            read |= vm_fields_read(e)
            if e.scope == "vm" and e.kind in (ev.ASSIGN, ev.COUNT):
                written.add(e.name)
    return read, written


def vm_fields_read(e: Event) -> set[str]:
    """The fields of the VM an event reads: in its condition, as its value,
    as a call's argument."""
    names = _names_read(e)
    if e.kind in (ev.CALL, ev.ICALL):
        names |= set(e.args)
    return {n for n in names if _VM_FIELD.fullmatch(n)}


def _vm_program(functions: dict[str, Function], targets: dict[tuple[str, int], Target],
                fields: tuple[str, ...], creation: set[str], vocab: dict[str, frozenset[str]]
                ) -> tuple[tuple[str, ...], dict[tuple[str, int], tuple[str, ...]],
                           frozenset[str], str, frozenset[tuple[str, int]],
                           dict[tuple[str, int], tuple[str, tuple[tuple[str, object], ...]]]]:
    """Program.vm_fields, vm_reads, vcpu_entries, vm_ioctl, vm_forks and vm_errors."""
    if not fields:
        return (), {}, frozenset(), "", frozenset(), {}
    reads = {(key, i): found for key, fn in sorted(functions.items()) if fn.name in creation
             for i, e in enumerate(fn.events)
             for found in [tuple(sorted(vm_fields_read(e) & set(fields)))] if found}
    entries = frozenset(n for n in vocab.get("vcpu_create", ()) if n in functions)
    ioctl = next((n for n in sorted(vocab.get("vm_ioctl", ())) if n in functions), "")
    forks = _deciding_branches(functions, targets, set(fields))
    return fields, reads, entries, ioctl, forks, _fork_errors(functions, forks)


def _fork_errors(functions: dict[str, Function], forks: frozenset[tuple[str, int]]
                 ) -> dict[tuple[str, int], tuple[str, tuple[tuple[str, object], ...]]]:
    """For each branch of `forks` with an error side: that side ("then" or
    "else") and the values its condition's slots take there (as
    failure_values gives them). The error side is the one _failure_side
    says, or the one that returns a slot the condition tests
    (`if (r) { ...; return r; }`)."""
    out: dict[tuple[str, int], tuple[str, tuple[tuple[str, object], ...]]] = {}
    for key, i in sorted(forks):
        events = functions[key].events
        cond = events[i].cond
        side = _failure_side(events, i) or _returns_tested(events, i, set(cond_slots(cond)))
        values = side_values(cond, side)
        if values:
            out[(key, i)] = (side, values)
    return out


def _returns_tested(events: tuple[Event, ...], i: int, slots: set[str]) -> str:
    """The side of branch i that soon returns a slot its condition tests,
    when only one does: "then", "else" or ""."""
    def returns(start: int) -> bool:
        j, budget = start, 8
        while 0 <= j < len(events) and budget > 0:
            e = events[j]
            if e.kind == ev.RETURN:
                return e.value in slots
            if e.kind in (ev.BRANCH, ev.LOOP, ev.ASSIGN) and (e.kind != ev.ASSIGN or e.name in slots):
                return False
            j = e.target if e.kind == ev.JUMP else j + 1
            budget -= 1
        return False
    then, other = returns(i + 1), returns(events[i].target)
    return "then" if then and not other else "else" if other and not then else ""


def _deciding_branches(functions: dict[str, Function], targets: dict[tuple[str, int], Target],
                       fields: set[str]) -> frozenset[tuple[str, int]]:
    """The branches that decide whether a field of `fields` is written: an
    event that writes one, or calls code that does, is reachable from one
    of their sides and not from the other. In an ioctl on the VM, only
    these go both ways when the model can't evaluate them (Program.vm_forks);
    the others take the side the front-end chose, as everywhere else."""
    writes: dict[str, set[int]] = {}
    for key, fn in functions.items():
        writes[key] = {i for i, e in enumerate(fn.events)
                       if e.scope == "vm" and e.kind in (ev.ASSIGN, ev.COUNT) and e.name in fields}
    changed = True
    while changed:                    # a call of code that writes one writes one
        changed = False
        for key, fn in functions.items():
            for i in range(len(fn.events)):
                t = targets.get((key, i))
                if t is not None and t.kind == "code" and writes.get(t.function) \
                        and i not in writes[key]:
                    writes[key].add(i)
                    changed = True
    out: set[tuple[str, int]] = set()
    for key, fn in sorted(functions.items()):
        if not writes[key]:
            continue
        events = list(fn.events)
        for i, e in enumerate(events):
            if e.kind == ev.BRANCH and 0 <= e.target < len(events) and \
                    (_reachable(events, i + 1) ^ _reachable(events, e.target)) & writes[key]:
                out.add((key, i))
    return frozenset(out)


def _reachable(events: list[Event], start: int) -> set[int]:
    """The events reachable from `start` in a function's control flow."""
    seen: set[int] = set()
    work = [start] if start < len(events) else []
    while work:
        i = work.pop()
        if i in seen:
            continue
        seen.add(i)
        work.extend(successors(events, i))
    return seen


def produced_by_setup(graph: HookGraph, setup_fns: set[str]) -> tuple[frozenset[str], frozenset[str]]:
    """The variables the vendor's hardware_setup() writes, itself or through
    the code it calls (kvm_configure_mmu()'s tdp_enabled, the MMU masks...),
    following the graph's calls: values module init must not use before
    that setup has run (only file-scope variables count). Also returns that
    code: the producer, whose own reads are no consumer's."""
    producer = called_from(graph, *sorted(setup_fns)) | (set(setup_fns) & set(graph.functions))
    out: set[str] = set()
    for name in sorted(producer):
        fn = graph.functions.get(name)
        for e in fn.events if fn is not None else ():
            if writes_global(e) and e.name in graph.global_types:
                out.add(e.name)
    return frozenset(out), frozenset(producer)


def called_from(graph: HookGraph, *roots: str) -> set[str]:
    """The functions `roots` call, directly or not (the graph's edges)."""
    return reached(graph, {root for root in roots if root})


def reached(graph: HookGraph, starts: set[str], within: set[str] | None = None,
            callers: bool = False) -> set[str]:
    """The functions `starts` call, directly or not (with `callers`: those
    that call one of them), through functions of `within` only (None: any);
    `starts` themselves only when reached again."""
    step: dict[str, set[str]] = {}
    for edge in graph.edges:
        a, b = (edge.callee, edge.caller) if callers else (edge.caller, edge.callee)
        step.setdefault(a, set()).add(b)
    out: set[str] = set()
    work = sorted(starts)
    while work:
        found = step.get(work.pop(), set()) - out
        for name in sorted(found if within is None else found & within):
            out.add(name)
            work.append(name)
    return out


def readers_of(graph: HookGraph, names: frozenset[str]) -> set[str]:
    """The functions that read one of `names` (a condition, a value, a
    call's argument); those module init calls are run by the model, so
    that it sees the reads."""
    if not names:
        return set()
    out = set()
    for fn in graph.functions.values():
        locals_ = {p.name for p in fn.params}
        for e in fn.events:
            if _reads(e) & names - locals_:
                out.add(fn.name)
                break
    return out


def _reads(e: Event) -> set[str]:
    names = _names_read(e)
    if e.kind in (ev.CALL, ev.ICALL, ev.CROSS_CALL):
        for arg in e.args:
            names.update(_ARG_NAME.findall(arg))
    return names


_IDENT = re.compile(r"[A-Za-z_]\w*")
# a name read in an argument: not a field (->x, .x), not a call (x(...))
_ARG_NAME = re.compile(r"(?<![\w.>])([A-Za-z_]\w*)\b(?!\s*\()")


def _consumers(functions: dict[str, Function], produced: frozenset[str],
               producer: frozenset[str]) -> dict[tuple[str, int], tuple[str, ...]]:
    """For each event outside the producer's code that reads variables in
    `produced` (in its condition, its value, or a call's arguments), which."""
    out: dict[tuple[str, int], tuple[str, ...]] = {}
    if not produced:
        return out
    for key, fn in functions.items():
        if fn.name in producer:
            continue
        locals_ = {p.name for p in fn.params} | {e.name for e in fn.events
                                                 if e.kind == ev.ASSIGN and e.scope == "local"}
        for i, e in enumerate(fn.events):
            found = tuple(sorted((_reads(e) & produced) - locals_))
            if found:
                out[(key, i)] = found
    return out


# At most this many module parameters are explored with both values (each
# doubles the initial states); the others keep their defaults.
MAX_CHOICES = 3


def parameter_choices(graph: HookGraph, functions: dict[str, Function],
                      targets: dict[tuple[str, int], Target],
                      initial: dict[str, object]) -> tuple[str, ...]:
    """The boolean module parameters (read-only, tracked at their default)
    a branch tests to decide whether lifecycle work runs: its block calls
    code that touches lifecycle state, or returns early before such code.
    The user chooses them at load, so the model starts from both values
    (the first MAX_CHOICES by name)."""
    found: set[str] = set()
    for key, fn in functions.items():
        events = fn.events
        for i, e in enumerate(events):
            if e.kind != ev.BRANCH or not 0 <= e.target <= len(events):
                continue
            names = {n for n in _names_read(e)
                     if n in graph.params and initial.get(n) in ("t", "f")}
            if not names - found:
                continue
            block = range(i + 1, e.target) if e.target > i else range(0)
            gated = list(block)
            if any(events[j].kind == ev.RETURN for j in block):
                gated += list(range(e.target, len(events)))
            if any(_touches(targets, key, j, events[j]) for j in gated):
                found |= names
    return tuple(sorted(found))[:MAX_CHOICES]


def initial_globals(graph: HookGraph, vocab: dict[str, frozenset[str]]) -> dict[str, object]:
    """The globals the model tracks and their values at the start: the usage
    counters (grammars/lifecycle.txt) at 0, system_state SYSTEM_RUNNING, the
    lifecycle's module parameters at the defaults their declarations give.
    (atomic_*() and counts on other globals create them as they run.)"""
    values: dict[str, object] = {name: 0 for name in vocab.get("counter", ())}
    values["system_state"] = "SYSTEM_RUNNING"
    wanted = vocab.get("param", frozenset())
    for name, init in graph.params.items():
        if name not in wanted:
            continue
        if init in ("true", "false"):
            values[name] = "t" if init == "true" else "f"
        elif init.lstrip("-").isdigit():
            values[name] = int(init)
    return values


def tracked_scalars(graph: HookGraph, functions: dict[str, Function],
                    targets: dict[tuple[str, int], Target],
                    callbacks: dict[tuple[str, str], tuple[tuple[str, str], ...]],
                    vocab: dict[str, frozenset[str]]
                    ) -> tuple[dict[str, object], set[str], set[str]]:
    """The plain scalar variables (graph.scalars) whose value the model can
    follow, with their value at load: read in a condition or a value of
    the code the model runs, and written only by that code, by assignment or
    count (never through its address: `&x` anywhere in the files read, a
    table included). A variable some other code writes (an ioctl, a sysfs
    handler, code the model doesn't run) stays unknown. Also returns those
    that only __init code writes (Program.settled), and the names code other
    than __init code reads."""
    run = _run_by_model(graph, functions, targets, callbacks, vocab)
    read: set[str] = set()
    read_after_init: set[str] = set()
    for key in run:
        for e in functions[key].events:
            names = _names_read(e)
            read |= names
            if not functions[key].init:
                read_after_init |= names
    written_elsewhere: set[str] = set()
    written_after_init: set[str] = set()
    addressed: set[str] = set()
    everything = {id(f): f for f in list(graph.functions.values()) + list(graph.statics.values())}
    for fn in everything.values():
        mine = _key(fn, graph) in run
        for e in fn.events:
            if writes_global(e):
                if not mine:
                    written_elsewhere.add(e.name)
                if not fn.init:
                    written_after_init.add(e.name)
            for text in e.args + (e.value,):
                if "&" in text:
                    addressed.update(_ADDRESS.findall(text))
    for tables in graph.tables.values():
        for table in tables:
            for b in table.bindings:
                addressed.update(_ADDRESS.findall(b.value))
    out: dict[str, object] = {}
    for name, init in graph.scalars.items():
        if name in read and name not in written_elsewhere and name not in addressed:
            out[name] = _load_value(init)
    return out, set(out) - written_after_init, read_after_init


_ADDRESS = re.compile(r"&\s*\(?\s*([A-Za-z_]\w*)\b(?!\s*(?:->|\.|\[))")


def _load_value(init: str) -> object:
    if init in ("true", "false"):
        return "t" if init == "true" else "f"
    return int(init.rstrip("uUlL"), 0)


def writes_global(e: Event) -> bool:
    """Does the event write a variable that is not a local (an assignment or a count)?"""
    return (e.kind == ev.ASSIGN and e.scope != "local") or e.kind == ev.COUNT


def cond_globals(c: object) -> set[str]:
    """The globals a condition reads."""
    if not isinstance(c, tuple) or not c:
        return set()
    if c[0] == "global":
        return {str(c[1])} if len(c) > 1 else set()
    return {name for x in c[1:] for name in cond_globals(x)}


def cond_slots(c: object) -> list[str]:
    """The local slots a condition reads, in order."""
    if not isinstance(c, tuple) or not c:
        return []
    if c[0] == "slot":
        return [str(c[1])]
    return [s for x in c[1:] for s in cond_slots(x)]


def _names_read(e: Event) -> set[str]:
    """Global names an event reads: in its condition, or as its value."""
    out = cond_globals(e.cond)
    if e.kind in (ev.ASSIGN, ev.RETURN) and e.value:
        out.add(e.value)
    return out


def _run_by_model(graph: HookGraph, functions: dict[str, Function],
                  targets: dict[tuple[str, int], Target],
                  callbacks: dict[tuple[str, str], tuple[tuple[str, str], ...]],
                  vocab: dict[str, frozenset[str]]) -> set[str]:
    """The functions the model's threads run: module init and exit, VM
    creation and destruction, the callbacks of registrations and cpuhp
    states, and everything they call."""
    roots = {vendor_entry(graph, "module_init"), vendor_entry(graph, "module_exit")}
    roots |= set(vocab.get("vm_create", ())) | set(vocab.get("vm_destroy", ()))
    roots |= {key for cbs in callbacks.values() for _, key in cbs}
    for key, fn in functions.items():
        for e in fn.events:
            if e.kind == ev.CPUHP_SETUP:
                for expr in e.args[2:4]:
                    for target, _ in function_ref(graph, expr, fn):
                        roots.add(_key(target, graph))
                        break
    run: set[str] = set()
    work = sorted(k for k in roots if k in functions)
    while work:
        key = work.pop()
        if key in run:
            continue
        run.add(key)
        for i in range(len(functions[key].events)):
            t = targets.get((key, i))
            if t is not None and t.kind == "code" and t.function not in run:
                work.append(t.function)
    return run


def vendor_entry(graph: HookGraph, kind: str = "module_init") -> str:
    """The vendor module's module_init (or module_exit) function."""
    vdir = VENDOR_DIRS.get(graph.vendor, "")
    for e in graph.entries:
        if e.kind == kind and e.file.startswith(vdir):
            return e.function
    return ""


# Per-CPU enabling work, ordered: TDX per-CPU init (which needs virtualization
# on, so it stands for both) above the vendor enable above none.
_WORK_ORDER = {"": 0, "enable": 1, "tdx": 2}
_DIRECT_WORK = {"enable": "enable", "tdx_cpu": "tdx"}


def _enabling_work(functions: dict[str, Function],
                   targets: dict[tuple[str, int], Target]) -> dict[str, str]:
    """For each function, the per-CPU enabling work it runs directly or
    through its callees (a fixpoint over the call graph, so recursion is
    handled)."""
    work = {key: "" for key in functions}
    changed = True
    while changed:
        changed = False
        for key in sorted(functions):
            new = _work_of(functions, targets, work, key, 0, len(functions[key].events))
            if new != work[key]:
                work[key], changed = new, True
    return work


def _work_of(functions: dict[str, Function], targets: dict[tuple[str, int], Target],
             work: dict[str, str], key: str, start: int, end: int) -> str:
    found = ""
    for i in range(start, min(end, len(functions[key].events))):
        t = targets.get((key, i))
        if t is None:
            continue
        w = work.get(t.function, "") if t.kind == "code" else _DIRECT_WORK.get(t.kind, "")
        if _WORK_ORDER[w] > _WORK_ORDER[found]:
            found = w
    return found


def enabling_work_in(p: Program, key: str, start: int, end: int) -> str:
    """The per-CPU enabling work ("tdx", "enable" or "") the events
    start..end-1 of function `key` run, directly or through their callees."""
    return _work_of(p.functions, p.targets, p.work, key, start, end)


# Events of a loop body that touch no lifecycle state by themselves.
_LOCAL_EVENTS = frozenset({ev.BRANCH, ev.JUMP, ev.LABEL, ev.LOOP, ev.LOOP_END, ev.ASSIGN,
                           ev.RETURN, ev.ASSERT, ev.ASM})


def _loop_bodies(functions: dict[str, Function],
                 targets: dict[tuple[str, int], Target]) -> dict[tuple[str, int], bool]:
    """For each loop, whether its body touches lifecycle state: an
    interpreted or primitive call, or any event other than control flow,
    assignments and asserts."""
    out = {}
    for key, fn in functions.items():
        for start, e in enumerate(fn.events):
            if e.kind == ev.LOOP:
                out[(key, start)] = any(_touches(targets, key, i, fn.events[i])
                                        for i in range(start + 1, min(e.target, len(fn.events))))
    return out


def _touches(targets: dict[tuple[str, int], Target], key: str, i: int, e: Event) -> bool:
    if e.kind in (ev.CALL, ev.ICALL, ev.CROSS_CALL):
        t = targets.get((key, i))
        return t is not None and t.kind != "skip"
    return e.kind not in _LOCAL_EVENTS


def _add(graph: HookGraph, fn: Function, functions: dict[str, Function],
         targets: dict[tuple[str, int], Target], failure: dict[tuple[str, int], str],
         relevant: frozenset[str] | set[str], enable_fns: set[str], disable_fns: set[str],
         seen: set[str]) -> str:
    key = _key(fn, graph)
    if key in seen:
        return key
    seen.add(key)
    functions[key] = fn
    primitives = _primitives()
    for i, e in enumerate(fn.events):
        if e.kind == ev.CALL and e.name in primitives:
            targets[(key, i)] = Target(primitives[e.name], e.name)
        elif e.kind in (ev.CALL, ev.ICALL, ev.CROSS_CALL):
            if e.kind == ev.CALL:
                callee = graph.function(e.name, fn.file)
                found = [callee] if callee is not None else []
            elif e.kind == ev.ICALL:
                found = [f for f, _ in resolve_indirect(graph, fn, e)]
            else:
                found = [f for f, _ in function_ref(graph, e.name, fn)]
            targets[(key, i)] = _target(graph, found, functions, targets, failure, relevant,
                                        enable_fns, disable_fns, seen)
        elif e.kind == ev.BRANCH:
            failure[(key, i)] = _failure_side(fn.events, i)
    return key


def _target(graph: HookGraph, found: list[Function], functions: dict[str, Function],
            targets: dict[tuple[str, int], Target], failure: dict[tuple[str, int], str],
            relevant: frozenset[str] | set[str], enable_fns: set[str], disable_fns: set[str],
            seen: set[str]) -> Target:
    if not found:
        return Target("skip")
    callee = found[0]
    if callee.name in enable_fns:
        return Target("enable", callee.name)
    if callee.name in disable_fns:
        return Target("disable", callee.name)
    if callee.name not in relevant:
        return Target("skip", callee.name)
    key = _add(graph, callee, functions, targets, failure, relevant, enable_fns, disable_fns, seen)
    return Target("code", key)


def failure_values(functions: dict[str, Function], failure: dict[tuple[str, int], str]
                   ) -> dict[tuple[str, int], tuple[tuple[str, object], ...]]:
    """For each branch with an error side: the value (an error, "err", or
    0, a NULL pointer) that makes its condition take that side when given
    to every slot of the condition, e.g. `r` in `if (r < 0)` an error, `p`
    in `if (!p)` 0. An injected failure gives it to the slots it doesn't
    know, so the failure flows on: `return r;` returns an error."""
    out: dict[tuple[str, int], tuple[tuple[str, object], ...]] = {}
    for (key, i), side in failure.items():
        values = side_values(functions[key].events[i].cond, side)
        if values:
            out[(key, i)] = values
    return out


def side_values(cond: object, side: str) -> tuple[tuple[str, object], ...]:
    """The value ("err" or 0) that, given to every slot of `cond`, makes
    the branch take `side` ("then": the condition true), as (slot, value)
    pairs; () when none does or the condition has no slot."""
    slots = sorted(set(cond_slots(cond)))
    if not side or not slots:
        return ()
    for value in ("err", 0):
        if _static_truth(cond, value) is (side == "then"):
            return tuple((slot, value) for slot in slots)
    return ()


def _static_truth(c: object, value: object) -> bool | None:
    """The truth of a condition when each of its slots holds `value` ("err":
    an error, negative and non-zero; or 0), or None."""
    if not isinstance(c, tuple) or not c:
        return None
    op = c[0]
    if op == "slot":
        return value != 0
    if op == "not":
        inner = _static_truth(c[1], value)
        return None if inner is None else not inner
    if op in ("and", "or"):
        a, b = _static_truth(c[1], value), _static_truth(c[2], value)
        if op == "and":
            return False if False in (a, b) else (None if None in (a, b) else True)
        return True if True in (a, b) else (None if None in (a, b) else False)
    if op == "cmp":
        a, b = _static_number(c[2], value), _static_number(c[3], value)
        if a is None or b is None:
            return None
        return {"==": a == b, "!=": a != b, "<": a < b, ">": a > b, "<=": a <= b,
                ">=": a >= b}.get(str(c[1]))
    return None


def _static_number(c: object, value: object) -> int | None:
    """A comparison operand: a slot holding `value` (an error as -1, which
    compares as interp.order does against 0 and up), or a number."""
    if not isinstance(c, tuple) or not c:
        return None
    if c[0] == "slot":
        return -1 if value == "err" else 0
    if c[0] == "const" and str(c[1]).lstrip("-").isdigit():
        number = int(str(c[1]))
        return number if number >= 0 else None
    return None


def _failure_side(events: tuple[Event, ...], i: int) -> str:
    """Which side of a branch is the error path: "then" (fall through), "else"
    (the jump), or "" when the code does not say."""
    then_fail = _leads_to_failure(events, i + 1)
    else_fail = _leads_to_failure(events, events[i].target)
    if then_fail and not else_fail:
        return "then"
    if else_fail and not then_fail:
        return "else"
    return ""


def _leads_to_failure(events: tuple[Event, ...], start: int, budget: int = 8) -> bool:
    j = start
    while 0 <= j < len(events) and budget > 0:
        e = events[j]
        if e.kind == ev.ASSIGN and e.value.startswith("-E"):
            return True
        if e.kind == ev.CALL and e.name in ERROR_POINTERS:
            return True
        if e.kind == ev.RETURN:
            return e.value.startswith("-E") or e.value.startswith("ERR_PTR")
        if e.kind == ev.JUMP:
            if e.name not in ("endif", "break", "continue", "switch") and _ERR_LABEL.search(e.name):
                return True
            j = e.target
        elif e.kind in (ev.BRANCH, ev.LOOP):
            return False
        else:
            j += 1
        budget -= 1
    return False


@lru_cache(maxsize=1)
def _primitives() -> dict[str, str]:
    vocab = vocabulary()
    return {name: kind for role, kind in PRIMITIVE_ROLES.items() for name in vocab.get(role, ())}


@lru_cache(maxsize=None)
def errno_like(value: str) -> bool:
    return value.startswith("-E") or value.startswith("ERR_PTR")
