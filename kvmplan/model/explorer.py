"""Bounded exhaustive exploration of the model: breadth-first over
interleavings of the environment threads, with state hashing; the first
(shortest) counterexample of each rule is kept with its trace."""

from __future__ import annotations

import gc
import itertools
import time
from collections import deque
from dataclasses import dataclass, field, replace

from kvmplan.graph.hooks import HookGraph
from kvmplan.model.interp import Outcome, Runner
from kvmplan.model.kernel import VM_IOCTL
from kvmplan.model.program import Program, build_program
from kvmplan.model.rules import CHECKS, STATE_RULES, VM_RULES, fire, violations
from kvmplan.model.rules.base import At
from kvmplan.model.semantics import handlers
from kvmplan.model.trace import LockEdge, Step, Violation
from kvmplan.model.world import (
    NO_CPU,
    REBOOT,
    SUSPEND,
    UNLOAD,
    Blocked,
    Frame,
    Thread,
    World,
    free_cpu,
    rebooting,
    where,
)


@dataclass(frozen=True)
class Bounds:
    cpus: int = 2
    hotplug_events: int = 2
    failures: int = 0          # injected failures of fallible init / VM-creation calls
    # with failures = 0: injected failures of the failure pass, which runs
    # module init and VM creation/destruction alone (no hotplug, no system
    # event) to judge error paths, whose interleavings would not fit the
    # state bound; 0: no failure pass
    failure_pass: int = 1
    max_states: int = 300_000
    # ioctls on the user's VM after its creation (the VM-operations pass
    # sets it): vCPU creation, KVM_ENABLE_CAP... through the VM ioctl entry
    vm_ops: int = 0
    # the VM-operations pass: that many VM ioctls, module init and one VM
    # alone (no hotplug, no system event, no injected failure); 0: none.
    # It runs the program build_program(graph, vm_ops=True) gives, when the
    # files read have VM ioctls that write a field vCPU creation reads.
    vm_pass: int = 2
    # system events, at most one per execution: suspend/resume, reboot, module unload
    system: tuple[str, ...] = ("suspend", "reboot", "unload")


@dataclass(frozen=True)
class Finding:
    rule: str
    message: str
    function: str
    file: str
    line: int
    trace: list[Step]
    details: list[str] = field(default_factory=list)   # e.g. a lock-order chain


@dataclass(frozen=True)
class Result:
    findings: list[Finding]
    states: int
    transitions: int
    seconds: float
    bound_reached: bool
    notes: list[str] = field(default_factory=list)
    # the shortest complete execution, see _complete() (for `model run`)
    example: list[Step] = field(default_factory=list)


def initial_worlds(program: Program, bounds: Bounds) -> list[World]:
    """One world per choice of the environment: the CPU that can't enable
    virtualization (or none), each value of the module parameters the
    program lets the user choose (Program.choices)."""
    worlds = []
    for values in itertools.product(("t", "f"), repeat=len(program.choices)):
        chosen = dict(zip(program.choices, values))
        worlds += _worlds(program, bounds, {**program.initial, **chosen})
    return worlds


def _worlds(program: Program, bounds: Bounds, values: dict[str, object]) -> list[World]:
    init_entry = program.entry()
    worlds = []
    for bad in [None] + list(range(1, bounds.cpus)):
        threads = [Thread("init", [Frame(init_entry, 0, NO_CPU, "init")] if init_entry else [])]
        threads.append(Thread("user"))
        threads.append(Thread("hotplug"))
        threads.append(Thread("system"))
        # the VM-operations pass follows fields of the user's VM, allocated zeroed
        fields = {name: 0 for name in program.vm_fields} if bounds.vm_ops else {}
        worlds.append(World(
            ncpus=bounds.cpus, online=[True] * bounds.cpus, active=[True] * bounds.cpus,
            virt=[False] * bounds.cpus, bad=[c == bad for c in range(bounds.cpus)], percpu={},
            globals={**values, **fields},
            locks={}, cpuhp={}, regs=set(), module="loading", vms=0, threads=threads,
            hotplug_left=bounds.hotplug_events, failures_left=bounds.failures,
            system_left=1 if bounds.system else 0, vm_ops_left=bounds.vm_ops,
        ))
    return worlds


def successors(program: Program, w: World, inject: bool,
               system: tuple[str, ...] = ()) -> list[Outcome]:
    """Every transition from `w`: a step of each thread that can run now (on
    the CPU world.where() gives it), or the start of an idle environment
    thread's next operation, on the CPU the scheduler would run that task on."""
    out: list[Outcome] = []
    stopper = w.stopper
    for t in w.threads:
        if t.done or (stopper and t.name != stopper):
            continue
        if t.frames:
            if where(w, t) is None:
                continue
            nw = w.copy()
            try:
                out.extend(Runner(program, nw, t.name, inject).run())
            except Blocked:
                pass
            continue
        cpu = free_cpu(w, t)
        if cpu is None:
            continue
        for o in _environment(program, w, t, system):
            o.steps = [replace(s, cpu=cpu, task=True) if s.thread == t.name else s
                       for s in o.steps]
            out.extend(start(program, o, t.name, inject))
    for o in out:
        _finish_threads(program, o)
    return out


def start(program: Program, o: Outcome, name: str, inject: bool) -> list[Outcome]:
    """Starting an operation only changes the starting thread, so it runs on
    to its first visible event in the same transition (if it can't, because
    it waits for a lock, it starts later instead)."""
    t = o.world.thread(name)
    if not t.frames or t.done:
        return [o]
    try:
        runs = Runner(program, o.world, name, inject).run()
    except Blocked:
        return []
    for run in runs:
        run.steps[:0] = o.steps
        run.violations[:0] = o.violations
    return runs


def _environment(program: Program, w: World, t: Thread, system: tuple[str, ...]) -> list[Outcome]:
    """What an idle environment thread may start now: its operation's row of
    the semantics table (source "environment")."""
    return _STARTS[OPERATION[t.name]](program, w, t, system)


def start_init(program: Program, w: World, t: Thread, system: tuple[str, ...]) -> list[Outcome]:
    """Module init returned (it started with the world): the module is live,
    or gone if it failed."""
    nw = w.copy()
    nt = nw.mutable("init")
    nt.done = True
    nw.module = "gone" if nt.retval == "err" else "live"
    out = Outcome(nw, [Step("init", 0, f"module_init returned: module {nw.module}", "", "", 0)])
    _fire(out, "init_done", At(nw, program, nt, where=lambda: program.site_of(program.entry())))
    return [out]


def start_user(program: Program, w: World, t: Thread, system: tuple[str, ...]) -> list[Outcome]:
    """The user thread creates a VM, then destroys it if it got one; in the
    VM-operations pass it may make ioctls on the VM in between (phase 3:
    the VM exists and has had one)."""
    vocab = program.vocab
    if w.frozen:
        return []
    if w.module in ("gone", "unloading") or not any(k == "misc" for k, _ in w.regs):
        return []
    exists = t.phase in (1, 3)
    names = vocab.get("vm_destroy" if exists else "vm_create", frozenset())
    key = next((n for n in sorted(names) if n in program.functions), "")
    if t.phase == 2 or not key:
        return []
    outs = []
    if exists and w.vm_ops_left > 0 and program.vm_ioctl:
        ioctl = program.functions[program.vm_ioctl]
        nw = w.copy()
        nw.vm_ops_left -= 1
        nt = nw.mutable("user")
        nt.frames.append(Frame(program.vm_ioctl, 0, NO_CPU, VM_IOCTL))
        nt.phase = 3
        outs.append(Outcome(nw, [Step("user", 0, f"user: an ioctl on the VM ({ioctl.name})",
                                      ioctl.name, ioctl.file, ioctl.line)]))
    nw = w.copy()
    nt = nw.mutable("user")
    nt.frames.append(Frame(key, 0, NO_CPU, "ioctl"))
    nt.phase = 2 if exists else 1
    verb = "destroy" if exists else "create"
    out = Outcome(nw, [Step("user", 0, f"user: {verb} a VM ({key})", key,
                            program.functions[key].file, program.functions[key].line)])
    if verb == "create":
        _fire(out, "vm_create_begin", At(nw, program, nt, site=program.site_of(key)))
    return outs + [out]


def start_hotplug(program: Program, w: World, t: Thread, system: tuple[str, ...]) -> list[Outcome]:
    """cpu_up or cpu_down of a non-boot CPU. Bound: once a reboot has begun no
    new hotplug operation starts (one in flight finishes; cpu_hotplug_disable()
    soon forbids them anyway)."""
    if w.frozen or w.hotplug_left <= 0 or rebooting(w):
        return []
    outs = []
    for c in range(1, w.ncpus):
        nw = w.copy()
        nw.hotplug_left -= 1
        nt = nw.mutable("hotplug")
        key = "@down" if w.online[c] else "@up"
        nt.frames.append(Frame(key, 0, NO_CPU, "hotplug", {"cpu": c, "fn": "cpu_down" if w.online[c]
                                                               else "cpu_up"}))
        outs.append(Outcome(nw, []))
    return outs


def start_system(program: Program, w: World, t: Thread, system: tuple[str, ...]) -> list[Outcome]:
    """One system event per execution: reboot at any time; suspend/resume or
    module unload once the module is live, no VM ioctl is running and (for
    unload) no VM holds a module reference."""
    if t.phase == UNLOAD and w.module == "unloading":           # module_exit returned
        nw = w.copy()
        nw.module = "gone"
        nw.mutable("system").done = True
        out = Outcome(nw, [Step("system", 0, "module_exit returned: module text and data freed",
                                "", "", 0)])
        _fire(out, "unloaded", At(nw, program, nw.thread("system"),
                                  where=lambda: program.site_of(program.entry("module_exit"))))
        return [out]
    if w.system_left <= 0:
        return []
    quiet = not w.thread("user").frames and not w.thread("hotplug").frames \
        and w.thread("init").done and w.module == "live"
    outs = []
    for event in program_system_events(program, w, quiet, system):
        nw = w.copy()
        nw.system_left -= 1
        nt = nw.mutable("system")
        if event == "reboot":
            nt.phase = REBOOT
            nt.frames.append(Frame("@reboot", 0, NO_CPU, "reboot", {"fn": "kernel_restart"}))
            text = "reboot -f: kernel_restart() begins"
        elif event == "suspend":
            nt.phase = SUSPEND
            nw.frozen = True                       # tasks freeze before anything else
            nt.frames.append(Frame("@suspend", 0, NO_CPU, "pm", {"fn": "suspend_devices_and_enter"}))
            text = "suspend to RAM begins"
        else:
            nt.phase = UNLOAD
            nw.module = "unloading"
            exit_key = program.entry("module_exit")
            nt.frames.append(Frame(exit_key, 0, NO_CPU, "exit"))
            text = f"rmmod: module_exit {exit_key}() begins"
        outs.append(Outcome(nw, [Step("system", 0, text, "", "", 0)]))
    return outs


def program_system_events(program: Program, w: World, quiet: bool,
                          bounds_events: tuple[str, ...]) -> list[str]:
    events = []
    if "reboot" in bounds_events:
        events.append("reboot")
    if quiet and "suspend" in bounds_events:
        events.append("suspend")
    exit_key = program.entry("module_exit")
    if quiet and "unload" in bounds_events and w.vms == 0 and exit_key in program.functions:
        events.append("unload")
    return events


def _finish_threads(program: Program, o: Outcome) -> None:
    w = o.world
    for t in list(w.threads):
        if t.name == "user" and not t.frames and t.phase == 1 and not t.done \
                and (t.owns_vm == 0 or t.retval == "err"):
            nt = w.mutable(t.name)
            nt.done = True
            key = next((n for n in sorted(program.vocab.get("vm_create", ()))
                        if n in program.functions), "")
            _fire(o, "vm_create_end", At(w, program, nt, site=program.site_of(key)))
        if t.name == "user" and not t.frames and t.phase == 2 and not t.done:
            w.mutable(t.name).done = True
        if t.name == "system" and not t.frames and t.phase in (REBOOT, SUSPEND) and not t.done:
            w.mutable(t.name).done = True


# The environment thread that runs each operation of the semantics table.
OPERATION = {"init": "module_init", "user": "vm_create", "hotplug": "cpu_up / cpu_down",
             "system": "system event"}


def explore(program: Program, bounds: Bounds, rules: set[str] | None = None) -> Result:
    """Breadth-first search of the interleavings (see the module docstring).

    The search makes no reference cycles, only a great many small tuples it
    keeps: the cyclic garbage collector is paused meanwhile, since each of
    its passes would walk every state kept so far."""
    paused = gc.isenabled()
    gc.disable()
    try:
        (prog, first), *more = searches(program, bounds)
        result = _explore(prog, first, rules)
        for prog, extra in more:
            checked = pass_rules(extra, rules)
            if checked is None or checked:
                result = _merged(result, _explore(prog, extra, checked))
        return result
    finally:
        if paused:
            gc.enable()


def passes(bounds: Bounds) -> tuple[Bounds, ...]:
    """The searches a check runs: the interleavings within `bounds`, then,
    when it injects no failure itself, the failure pass (module init and VM
    creation alone, `failure_pass` injected failures). Each is one search
    of one model (and one Promela model)."""
    main = replace(bounds, failure_pass=0, vm_pass=0)
    out = [main]
    if not bounds.failures and bounds.failure_pass and not bounds.vm_ops:
        out.append(replace(main, failures=bounds.failure_pass, hotplug_events=0, system=()))
    if bounds.vm_pass and not bounds.vm_ops:
        out.append(replace(main, vm_ops=bounds.vm_pass, hotplug_events=0, system=(), failures=0))
    return tuple(out)


def pass_rules(bounds: Bounds, rules: set[str] | None) -> set[str] | None:
    """The rules a pass checks (None: all): the VM-operations pass checks
    the rules that watch its hook points (VM_RULES), which no other pass
    reaches; it runs code the others don't, for them alone."""
    if not bounds.vm_ops:
        return rules
    return set(VM_RULES & rules) if rules else set(VM_RULES)


def searches(program: Program, bounds: Bounds) -> list[tuple[Program, Bounds]]:
    """The passes a check runs, each with the program it runs (a pass with
    nothing to run is left out)."""
    out = []
    for each in passes(bounds):
        prog = pass_program(program, each)
        if prog is not None:
            out.append((prog, each))
    return out


def pass_program(program: Program, bounds: Bounds) -> Program | None:
    """The program a pass runs: the VM-operations program for the
    VM-operations pass (None when there are no VM operations to run)."""
    if not bounds.vm_ops or program.vm_fields:
        return program
    return program.vm_program


def _merged(main: Result, failing: Result) -> Result:
    """The findings of the main search, then those of the failure pass that
    it lacks (a state property once per rule, others once per location)."""
    def key(f: Finding) -> tuple:
        return (f.rule,) if f.rule in STATE_RULES else (f.rule, f.file, f.line)
    seen = {key(f) for f in main.findings}
    extra = [f for f in failing.findings if key(f) not in seen]
    ordered = sorted(main.findings + extra, key=lambda f: (f.rule, f.file, f.line, f.message))
    return Result(ordered, main.states + failing.states, main.transitions + failing.transitions,
                  main.seconds + failing.seconds, main.bound_reached or failing.bound_reached,
                  main.notes + failing.notes, example=main.example)


def _start_steps(program: Program, w: World) -> list[Step]:
    """A trace's first steps: the environment's choices it starts from."""
    steps = [Step("env", 0, f"module parameter {name} = "
                  f"{'true' if w.globals.get(name) == 't' else 'false'} (chosen at load)", "", "", 0)
             for name in program.choices]
    return steps + [Step("env", c, f"CPU{c} can't enable virtualization", "", "", 0)
                    for c in range(w.ncpus) if w.bad[c]]


def _explore(program: Program, bounds: Bounds, rules: set[str] | None) -> Result:
    start = time.perf_counter()
    inject = bounds.failures > 0
    parents: dict[tuple, tuple[tuple | None, list[Step]]] = {}
    queue: deque[tuple[tuple, World]] = deque()
    for w in initial_worlds(program, bounds):
        key = w.freeze()
        if key not in parents:
            parents[key] = (None, _start_steps(program, w))
            queue.append((key, w))
    # a state property once (by rule), an action's violation once per location
    findings: dict[object, Finding] = {}
    # first occurrence of each lock-order edge, per thread and lock modes
    edges: dict[tuple, tuple[LockEdge, tuple, list[Step]]] = {}
    transitions = 0
    bound = False
    example: list[Step] = []
    while queue:
        key, w = queue.popleft()
        for o in successors(program, w, inject, bounds.system):
            transitions += 1
            nkey = o.world.freeze()
            for code, report in fire("state", At(o.world, program)):
                if code in findings or (rules and code not in rules):
                    continue
                trace = _trace(parents, key) + o.steps
                v = _locate(code, report.message, report.cpu, trace)
                findings[code] = Finding(v.rule, v.message, v.function, v.file, v.line, trace)
            for v in o.violations:
                if rules and v.rule not in rules:
                    continue
                fkey = (v.rule, v.file, v.line)
                if fkey not in findings:
                    findings[fkey] = Finding(v.rule, v.message, v.function, v.file, v.line,
                                             _trace(parents, key) + o.steps)
            for edge in o.edges:
                edges.setdefault((edge.held, edge.lock, edge.thread, edge.held_mode, edge.mode),
                                 (edge, key, o.steps))
            if nkey in parents:
                continue
            parents[nkey] = (key, o.steps)
            if not example and _complete(o.world):
                example = _trace(parents, nkey)
            if len(parents) >= bounds.max_states:
                bound = True
                queue.clear()
                break
            queue.append((nkey, o.world))
    for code, check in CHECKS.items():
        if check.post is None or (rules and code not in rules):
            continue
        for found in check.post(edges, lambda k: _trace(parents, k)):
            fn, file, line = found.site
            findings.setdefault((code, file, line), Finding(code, found.message, fn, file, line,
                                                            found.trace, found.details))
    seconds = time.perf_counter() - start
    ordered = sorted(findings.values(), key=lambda f: (f.rule, f.file, f.line, f.message))
    return Result(ordered, len(parents), transitions, seconds, bound, example=example)


def _complete(w: World) -> bool:
    """Module init and the user's VM create/destroy finished, nothing in flight."""
    return w.thread("init").done and w.thread("user").done and not any(t.frames for t in w.threads)


def _trace(parents: dict[tuple, tuple[tuple | None, list[Step]]], key: tuple) -> list[Step]:
    chunks: list[list[Step]] = []
    cur: tuple | None = key
    while cur is not None:
        parent, steps = parents[cur]
        chunks.append(steps)
        cur = parent
    out: list[Step] = []
    for chunk in reversed(chunks):
        out.extend(chunk)
    return out


def _locate(rule: str, message: str, cpu: int, trace: list[Step]) -> Violation:
    """Point a state property at the last step of KVM code run for the CPU
    concerned: code bound to it (a callback, an IPI) or a task keeping it,
    else a task the scheduler ran there, else the last step of KVM code."""
    def on_cpu(s: Step) -> bool:
        return not s.task or any(c == cpu for c, _ in s.holds)

    for wanted in (on_cpu, lambda s: True):
        for s in reversed(trace):
            if s.file and s.cpu == cpu and s.thread != "env" and wanted(s):
                return Violation(rule, message, s.function, s.file, s.line)
    for s in reversed(trace):
        if s.file:
            return Violation(rule, message, s.function, s.file, s.line)
    return Violation(rule, message, "", "", 0)


def check(graph: HookGraph, bounds: Bounds | None = None, rules: set[str] | None = None) -> Result:
    return explore(build_program(graph), bounds or Bounds(), rules)


# The semantics table's environment operations, bound to the functions above.
_STARTS = {key: globals()[name] for key, name in handlers("environment").items()}


def _fire(o: Outcome, hook: str, at: At) -> None:
    """Run the rules' checks of a hook point the environment reaches; their
    violations join the outcome."""
    o.violations.extend(violations(hook, at))
