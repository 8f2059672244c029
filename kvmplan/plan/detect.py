"""Detectors: where a graph stands on each refactor step of the seed thread.

Each detector checks a few named criteria on the graph (calls, locks held,
counters, per-CPU flags, cpuhp sections) and derives the status from them:
DONE when the step's own criteria hold, SUPERSEDED when the problem the step
addresses was solved another way, PARTIAL when some criteria hold, NOT DONE
when none do. Every status comes with the code that shows it."""

from __future__ import annotations

from kvmplan.cparse import events as ev
from kvmplan.cparse.events import Event, Function
from kvmplan.graph.hooks import ONLINE, HookGraph
from kvmplan.plan.roles import (
    HOTPLUG_LOCK,
    NAMES,
    PM_KINDS,
    Facts,
    is_common,
    locks_text,
)
from kvmplan.plan.status import (
    DONE,
    NOT_DONE,
    PARTIAL,
    SUPERSEDED,
    Assessment,
    Criterion,
    Evidence,
    Status,
)


def at(fn: Function, e: Event | None, text: str) -> Evidence:
    return Evidence(fn.name, fn.file, e.line if e is not None else fn.line, text)


def of(f: Facts, name: str, text: str) -> Evidence:
    fn = f.fn(name)
    return Evidence(name, fn.file if fn else "", fn.line if fn else 0, text)


def _status(own: list[bool | None], superseded: bool = False) -> Status:
    if own and all(own):
        return DONE
    if superseded:
        return SUPERSEDED
    return PARTIAL if any(own) else NOT_DONE


def _assess(step: str, status: Status, summary: str, criteria: list[Criterion],
            evidence: list[Evidence]) -> Assessment:
    seen: set[Evidence] = set()
    unique = [e for e in evidence if not (e in seen or seen.add(e))]  # type: ignore[func-returns-value]
    return Assessment(step, status, summary, tuple(criteria), tuple(unique))


def _conditional(fn: Function, index: int) -> bool:
    """Is event `index` inside an if (a branch before it jumps past it)?"""
    return any(e.kind == ev.BRANCH and j < index < e.target for j, e in enumerate(fn.events))


def _guarded(fn: Function) -> bool:
    """Does the function start with `if (flag) return;` (a once-only guard)?"""
    head = fn.events[:6]
    return any(e.kind == ev.BRANCH and i + 1 < len(head) and head[i + 1].kind == ev.RETURN
               for i, e in enumerate(head))


def _call_sites(f: Facts, callee: str) -> list[tuple[Function, int, Event]]:
    out = []
    callers = sorted({id(fn): fn for fn, e in f.mentions(callee)}.values(),
                     key=lambda fn: (fn.file, fn.line, fn.name))
    for fn in callers:
        for i, e in enumerate(fn.events):
            if e.kind in (ev.CALL, ev.ICALL, ev.CROSS_CALL) and e.name == callee:
                out.append((fn, i, e))
    return out


# --- step 1 ---------------------------------------------------------------------
def detect_uret(f: Facts) -> Assessment:
    """1: user-return MSRs are snapshotted on first use, not when enabling."""
    snap = next((n for n in NAMES.uret_snapshot if n in f.graph.functions), "")
    setter = f.fn(NAMES.uret_setter)
    evidence: list[Evidence] = []
    enable_path = f.reach(f.arch_enable) if f.arch_enable else set()
    sites = _call_sites(f, snap) if snap else []
    in_enable = [(fn, i, e) for fn, i, e in sites if fn.name in enable_path]
    snap_fn = f.fn(snap)
    guarded = snap_fn is not None and _guarded(snap_fn)
    first_use = [(fn, i, e) for fn, i, e in sites if setter is not None
                 and fn.name == setter.name and (_conditional(fn, i) or guarded)]
    if snap == "" and setter is not None:
        # the snapshot may have been folded into the setter itself
        first_use = [(setter, i, e) for i, e in enumerate(setter.events)
                     if e.kind == ev.CALL and e.name.startswith("rdmsr") and _conditional(setter, i)]
    for fn, _, e in in_enable:
        how = _enable_contexts(f)
        evidence.append(at(fn, e, f"{snap}() is called from the per-CPU enable hook "
                           f"{f.arch_enable}(), which runs {how}"))
    for fn, _, e in first_use:
        evidence.append(at(fn, e, f"{fn.name}() snapshots the host values on this CPU's first "
                           "use (guarded by a per-CPU flag)"))
    others = [(fn, e) for fn, i, e in sites if (fn, i, e) not in in_enable + first_use]
    for fn, e in others:
        evidence.append(at(fn, e, f"{snap}() is called from {fn.name}()"))
    if setter is not None and not first_use:
        evidence.append(at(setter, None, f"{setter.name}() uses the snapshot without taking it "
                           "(no first-use snapshot)"))
    criteria = [
        Criterion("not-in-enable", "the snapshot is not taken in the per-CPU enable path",
                  not in_enable),
        Criterion("first-use", f"{NAMES.uret_setter}() snapshots on a CPU's first use",
                  bool(first_use)),
    ]
    superseded = not in_enable and not first_use and bool(others)
    status = _status([c.met for c in criteria], superseded)
    summary = {
        DONE: "user-return MSRs are snapshotted on first use",
        PARTIAL: "snapshotted on first use, but still also in the enable path" if in_enable
        else "no longer snapshotted in the enable path, but not on first use either",
        SUPERSEDED: "no longer snapshotted in the enable path, nor on first use",
        NOT_DONE: "user-return MSRs are still snapshotted by the per-CPU enable hook",
    }[status]
    return _assess("1", status, summary, criteria, evidence)


def _enable_contexts(f: Facts) -> str:
    """Where the per-CPU enable hook runs: IPIs, cpuhp sections, syscore."""
    where: list[str] = []
    if not f.arch_enable:
        return "nowhere"
    for e in f.graph.edges:
        if e.kind == "cross_call" and f.arch_enable in f.reach(e.callee):
            where.append(f"in IPI context (on_each_cpu from {e.caller}())")
    for reg in f.hotplug:
        where.append(f"in the cpuhp {reg.section} callback {reg.startup}()")
    for en in f.pm_entries:
        if en.kind == "syscore_resume" and f.arch_enable in f.reach(en.function):
            where.append(f"in syscore resume ({en.function}(), IRQs off)")
    return ", ".join(sorted(set(where))) or "from task context"


# --- step 2 ---------------------------------------------------------------------
def detect_usage_lock(f: Facts) -> Assessment:
    """2: kvm_count_lock is gone; kvm_usage_count is under kvm_lock + cpus_read_lock()."""
    evidence: list[Evidence] = []
    old = f.events(ev.LOCK, NAMES.count_lock)
    for fn, e in old[:4]:
        evidence.append(at(fn, e, f"{fn.name}() takes {NAMES.count_lock} ({e.mode})"))
    writes = f.counter_writes()
    held = [(fn, e, f.held_at(fn, e)) for fn, e in writes]
    for fn, e, locks in held:
        op = "++" if e.mode == "inc" else "--" if e.mode == "dec" else " = ..."
        evidence.append(at(fn, e, f"{f.counter}{op} under {locks_text(locks)}"))
    under_kvm_lock = bool(held) and all(NAMES.kvm_lock in locks for _, _, locks in held)
    excl = bool(held) and all(HOTPLUG_LOCK in locks for _, _, locks in held)
    common = frozenset.intersection(*(locks for _, _, locks in held)) if held else frozenset()
    criteria = [
        Criterion("no-count-lock", f"{NAMES.count_lock} is gone", not old),
        Criterion("kvm-lock", f"every write of {f.counter} holds {NAMES.kvm_lock}", under_kvm_lock),
        Criterion("cpus-read-lock", f"every write of {f.counter} holds cpus_read_lock()", excl),
    ]
    other = sorted(common - {NAMES.kvm_lock, HOTPLUG_LOCK})
    superseded = not old and not under_kvm_lock and bool(other)
    status = _status([c.met for c in criteria], superseded)
    if status == SUPERSEDED:
        summary = (f"{NAMES.count_lock} is gone, but {f.counter} is protected by "
                   f"{', '.join(other)} instead of {NAMES.kvm_lock}")
    else:
        summary = {
            DONE: f"{f.counter} is protected by {NAMES.kvm_lock} and cpus_read_lock()",
            PARTIAL: "part of the locking change is in place",
            NOT_DONE: f"{f.counter} is still protected by {NAMES.count_lock}",
        }[status]
    return _assess("2", status, summary, criteria, evidence)


# --- step 3 ---------------------------------------------------------------------
def _dedicated_hooks(f: Facts) -> dict[str, list[tuple[str, str]]]:
    """PM operation → (entry, arch hook) pairs: kvm_arch_* functions a PM
    callback reaches through common code that are its own (not the generic
    per-CPU enable/disable, not reached from VM creation)."""
    generic = {f.arch_enable, f.arch_disable}
    shared = f.reach(f.vm_create, "virt/kvm") if f.vm_create else set()
    if f.enable_all:
        shared |= f.reach(f.enable_all, "virt/kvm")
    out: dict[str, list[tuple[str, str]]] = {}
    for en in f.pm_entries:
        for name in sorted(f.reach(en.function, "virt/kvm")):
            fn = f.fn(name)
            if (name.startswith("kvm_arch_") and fn is not None and not is_common(fn.file)
                    and name not in generic and name not in shared):
                out.setdefault(PM_KINDS[en.kind], []).append((en.function, name))
    return out


def _returns_value(fn: Function) -> bool:
    return any(e.kind == ev.RETURN and e.value and not e.value.lstrip("-").isdigit()
               for e in fn.events)


def detect_pm_hooks(f: Facts) -> Assessment:
    """3: arch hooks for "power management" transitions (hotplug, suspend, reboot)."""
    evidence: list[Evidence] = []
    hooks = _dedicated_hooks(f)
    groups = sorted({PM_KINDS[en.kind] for en in f.pm_entries})
    for group in groups:
        for entry, hook in hooks.get(group, []):
            evidence.append(of(f, hook, f"{group}: {entry}() calls the arch hook {hook}()"))
    for en in f.pm_entries:
        if not any(entry == en.function for pairs in hooks.values() for entry, _ in pairs):
            target = ("per-CPU enable" if f.cpu_enable and f.cpu_enable in f.reach(en.function)
                      else "per-CPU disable" if f.cpu_disable in f.reach(en.function) else "")
            via = f" through the common {target} ({f.cpu_enable if 'enable' in target else f.cpu_disable}())" \
                if target else ""
            evidence.append(Evidence(en.function, en.file, en.line,
                                     f"{en.kind.replace('_', ' ')} callback {en.function}() has no "
                                     f"arch hook of its own{via}"))
    online = [r for r in f.hotplug if r.section == ONLINE and (fn := f.fn(r.startup)) is not None
              and _returns_value(fn)]
    for r in f.hotplug:
        fn = f.fn(r.startup)
        can_fail = fn is not None and _returns_value(fn)
        evidence.append(Evidence(r.registered_by, r.file, r.line,
                                 f"{r.state} [{r.section}]: {r.startup}() "
                                 + ("returns the enable result, so a failure aborts onlining"
                                    if r.section == ONLINE and can_fail else
                                    "cannot fail the CPU's onlining" if r.section != ONLINE else
                                    "ignores the enable result")))
    excl, why = _enable_all_excludes_hotplug(f)
    if why is not None:
        evidence.append(why)
    reboot_ok, reboot = _reboot(f)
    evidence.extend(reboot)
    have = [g for g in groups if g in hooks]
    criteria = [
        Criterion("hooks", "each PM transition (hotplug, suspend/resume, reboot) calls an arch "
                  "hook of its own", bool(groups) and len(have) == len(groups)),
        Criterion("online", "the hotplug enable runs in the ONLINE section and can fail",
                  bool(online)),
        Criterion("excl", "enabling on all CPUs excludes CPU hotplug", excl),
        Criterion("reboot", "the reboot disable runs after system_state is set (syscore "
                  ".shutdown) and enabling checks system_state", reboot_ok),
    ]
    own = [criteria[0].met]
    superseded = not criteria[0].met and bool(online) and excl and reboot_ok
    status = _status(own, superseded)
    if status == NOT_DONE and (have or online or excl or reboot_ok):
        status = PARTIAL
    summary = {
        DONE: "each PM transition calls an arch hook of its own",
        SUPERSEDED: "no per-transition arch hooks: common code handles hotplug (ONLINE, can "
                    "fail), suspend/resume and reboot itself around generic per-CPU hooks",
        PARTIAL: "some PM transitions are handled the new way",
        NOT_DONE: "PM transitions go through the generic per-CPU enable/disable only",
    }[status]
    return _assess("3", status, summary, criteria, evidence)


def _enable_all_excludes_hotplug(f: Facts) -> tuple[bool, Evidence | None]:
    fn = f.fn(f.enable_all)
    if fn is None:
        return False, None
    for e in fn.events:
        if e.kind == ev.CPUHP_SETUP and "nocalls" not in e.mode:
            return True, at(fn, e, f"{fn.name}() enables through cpuhp_setup_state(), which "
                            "holds cpus_read_lock() while it runs the callbacks")
        if e.kind == ev.CROSS_CALL and e.mode != "single":
            locks = f.held_at(fn, e)
            ok = HOTPLUG_LOCK in locks
            return ok, at(fn, e, f"{fn.name}() sends on_each_cpu({e.name}) under "
                          f"{locks_text(locks)}" + ("" if ok else ": a CPU coming online can be "
                                                    "missed"))
    return False, None


def _reboot(f: Facts) -> tuple[bool, list[Evidence]]:
    """Can an enable race past KVM's reboot-time disable? Not when the disable
    runs from syscore .shutdown (after system_state is set) and the enable
    path checks system_state."""
    out = []
    shutdown = False
    for en in f.pm_entries:
        if PM_KINDS[en.kind] == "reboot":
            shutdown = shutdown or en.kind == "syscore_shutdown"
            how = "a reboot notifier (runs before system_state changes)" if en.kind == "reboot" \
                else "syscore .shutdown (runs after system_state is set)"
            out.append(Evidence(en.function, en.file, en.line,
                                f"reboot: {en.function}() is {how}"))
    fn = f.fn(f.enable_all)
    checks = [e for e in fn.events if e.kind == ev.BRANCH and "system_state" in str(e.cond)] \
        if fn is not None else []
    if fn is not None:
        out.append(at(fn, checks[0], f"{fn.name}() refuses to enable once the system is going "
                      "down (system_state)") if checks else
                   at(fn, None, f"{fn.name}() does not check system_state: an enable can run "
                      "after the reboot-time disable"))
    return shutdown and bool(checks), out


# --- step 4 ---------------------------------------------------------------------
def detect_add_vm(f: Facts) -> Assessment:
    """4: kvm_arch_post_init_vm() → kvm_arch_add_vm(kvm, kvm_usage_count) under kvm_lock."""
    create = f.fn(f.vm_create)
    evidence: list[Evidence] = []
    calls = [(i, e) for i, e in enumerate(create.events) if e.kind == ev.CALL
             and e.name in (NAMES.post_init, NAMES.add_vm)] if create else []
    renamed = bool(calls) and all(e.name == NAMES.add_vm for _, e in calls)
    locked = bool(calls) and all(NAMES.kvm_lock in f.held_at(create, e) for _, e in calls) \
        if create else False
    counted = bool(calls) and all(f.counter in e.args for _, e in calls)
    if create is not None:
        for _, e in calls:
            locks = f.held_at(create, e)
            evidence.append(at(create, e, f"{create.name}() calls {e.name}({', '.join(e.args)}) "
                               f"under {locks_text(locks)}"))
        adds = [e for e in create.events if e.kind == ev.LIST_ADD]
        for e in adds:
            evidence.append(at(create, e, f"the VM joins vm_list under "
                               f"{locks_text(f.held_at(create, e))}"))
    for hook in sorted({e.name for _, e in calls}):
        fn = f.fn(hook)
        if fn is not None and not fn.weak:
            callees = sorted({e.name for e in fn.events if e.kind in (ev.CALL, ev.ICALL)})
            evidence.append(at(fn, None, f"the arch's {hook}() calls "
                               + (", ".join(f"{c}()" for c in callees) or "nothing")))
    if NAMES.post_init in f.graph.functions and not calls:
        evidence.append(of(f, NAMES.post_init, f"{NAMES.post_init}() exists but is not called"))
    criteria = [
        Criterion("renamed", f"{NAMES.post_init}() is now {NAMES.add_vm}()", renamed),
        Criterion("locked", f"it is called under {NAMES.kvm_lock}", locked),
        Criterion("count", f"it is passed {f.counter}", counted),
    ]
    superseded = create is not None and not calls and NAMES.post_init not in f.graph.functions
    if superseded:
        evidence.append(of(f, f.vm_create, f"{f.vm_create}() calls no post-init arch hook"))
    status = _status([c.met for c in criteria], superseded)
    summary = {
        DONE: f"{NAMES.add_vm}(kvm, {f.counter}) is called under {NAMES.kvm_lock}",
        PARTIAL: "part of the change is in place",
        SUPERSEDED: "VM creation no longer has a post-init arch hook",
        NOT_DONE: f"{NAMES.post_init}() is still called outside {NAMES.kvm_lock}, without the "
                  "usage count",
    }[status]
    return _assess("4", status, summary, criteria, evidence)


# --- step 5a / 5b ---------------------------------------------------------------
def _mask(f: Facts) -> list[tuple[Function, Event]]:
    """Uses of the cpumask, one per function."""
    out: dict[str, tuple[Function, Event]] = {}
    for fn, e in f.mentions(NAMES.cpumask):
        out.setdefault(fn.name, (fn, e))
    return sorted(out.values(), key=lambda t: (t[0].file, t[1].line))


def common_enabling_optional(f: Facts, opt_out: HookGraph | None) -> bool | None:
    """With the arch opt-out symbol off, does common code stop enabling?"""
    if opt_out is None or not f.arch_enable:
        return None
    if not f.cpu_enable:
        return None
    for fn in opt_out.functions.values():
        if is_common(fn.file) and any(e.kind == ev.CALL and e.name == f.arch_enable
                                      for e in fn.events):
            return False
    return True


def detect_drop_common(f: Facts, opt_out: HookGraph | None = None) -> Assessment:
    """5a: cpus_hardware_enabled and the common enable/disable code are gone."""
    evidence: list[Evidence] = []
    mask = _mask(f)
    for fn, e in mask[:3]:
        evidence.append(at(fn, e, f"{fn.name}() uses the global cpumask {NAMES.cpumask}"))
    if not mask and NAMES.cpumask not in f.graph.global_types:
        cpu = f.fn(f.cpu_enable)
        flag = [e for e in cpu.events if e.kind == ev.PERCPU_WRITE] if cpu else []
        if cpu is not None and flag:
            evidence.append(at(cpu, flag[0], f"{NAMES.cpumask} is gone; {cpu.name}() tracks "
                               f"enabled CPUs in the per-CPU variable {flag[0].name}"))
    common = f.fn(f.cpu_enable)
    if common is not None:
        evidence.append(at(common, None, f"common code still enables each CPU: {common.name}() "
                           f"calls {f.arch_enable}()"))
    optional = common_enabling_optional(f, opt_out)
    if optional:
        evidence.append(of(f, f.cpu_enable, f"the common enabling code is compiled only when the "
                           f"arch selects {NAMES.opt_out.removeprefix('CONFIG_')}"))
    b = detect_expose_common(f, opt_out, exclusive=False)
    criteria = [
        Criterion("no-cpumask", f"{NAMES.cpumask} is gone",
                  not mask and NAMES.cpumask not in f.graph.global_types),
        Criterion("no-common-enable", "common code no longer enables CPUs (arch code does)",
                  common is None and bool(f.arch_enable)),
        Criterion("optional", "an arch can opt out of the common enabling code", optional),
    ]
    superseded = b.status == DONE
    if superseded:
        evidence.append(of(f, f.enable_all, f"5b instead: common {f.enable_all}() is kept and "
                           "callable by arch code"))
    status = _status([criteria[0].met, criteria[1].met], superseded)
    if status == NOT_DONE and optional:
        status = PARTIAL
    summary = {
        DONE: "the cpumask and the common enable/disable code are gone",
        SUPERSEDED: "the common enabling code was kept and exposed instead (5b)",
        PARTIAL: "part of it: " + ", ".join(c.text for c in criteria if c.met),
        NOT_DONE: f"common code still owns enabling, tracked in {NAMES.cpumask}",
    }[status]
    return _assess("5a", status, summary, criteria, evidence)


def detect_expose_common(f: Facts, opt_out: HookGraph | None = None,
                         exclusive: bool = True) -> Assessment:
    """5b: common enable helpers exposed; per-CPU flag and error handling common."""
    evidence: list[Evidence] = []
    all_fn = f.fn(f.enable_all)
    cpu = f.fn(f.cpu_enable)
    exposed = all_fn is not None and not all_fn.static
    if all_fn is not None:
        evidence.append(at(all_fn, None, f"{all_fn.name}() is "
                           + ("not static: arch code can call it" if exposed
                              else "static to kvm_main.c")))
    flag = [e for e in cpu.events if e.kind == ev.PERCPU_WRITE] if cpu else []
    percpu = bool(flag) and all(e.name in f.graph.per_cpu for e in flag)
    if cpu is not None and flag:
        kind = "a per-CPU variable" if percpu else "a global cpumask"
        evidence.append(at(cpu, flag[0], f"{cpu.name}() records enabled CPUs in {kind} "
                           f"({flag[0].name})"))
    errs = [e for e in cpu.events if e.kind == ev.RETURN and e.value.startswith("-E")] if cpu else []
    atomics = [e for e in cpu.events if e.kind == ev.CALL and e.name.startswith("atomic_")
               and e.args] if cpu else []
    error_return = bool(errs)
    if cpu is not None:
        if errs:
            evidence.append(at(cpu, errs[0], f"{cpu.name}() returns the failure to its caller"))
        elif atomics:
            evidence.append(at(cpu, atomics[0], f"{cpu.name}() reports a failure through the "
                               f"global {atomics[0].args[0].lstrip('&')}"))
        else:
            evidence.append(at(cpu, None, f"{cpu.name}() does not report a failure"))
    arch = f.fn(f.arch_enable)
    if arch is not None:
        own = [e for e in arch.events if e.kind in (ev.PERCPU_READ, ev.PERCPU_WRITE)]
        if own:
            evidence.append(at(arch, own[0], f"the arch hook {arch.name}() keeps a per-CPU flag "
                               f"of its own ({own[0].name})"))
    criteria = [
        Criterion("exposed", "the common enable-all helper is callable by arch code", exposed),
        Criterion("percpu", "enabled CPUs are tracked in a common per-CPU variable", percpu),
        Criterion("errors", "the common per-CPU enable returns failures (no arch error handling)",
                  error_return),
    ]
    superseded = False
    if exclusive:
        a = detect_drop_common(f, opt_out)
        superseded = a.status == DONE
    status = _status([c.met for c in criteria], superseded)
    summary = {
        DONE: "common enable helpers are exposed; per-CPU flag and error handling are common",
        SUPERSEDED: "the common enabling code was dropped instead (5a)",
        PARTIAL: "part of it: " + ", ".join(c.text for c in criteria if c.met),
        NOT_DONE: "common enabling is private to kvm_main.c, with a global cpumask and no error "
                  "return",
    }[status]
    return _assess("5b", status, summary, criteria, evidence)
