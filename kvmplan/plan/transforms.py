"""Each step performed in the model: a change to the code the graph is built from.

A transform finds its targets by role (kvmplan.plan.roles), so it applies to
any tree in the shape the step starts from; when the code is in a shape it
does not know, it raises CannotModel saying why, and the stage is reported
as not modelled instead of guessed.

Some steps have variants: "literal" is the step as the seed thread states it;
another variant is what a stage should do instead when the literal one
breaks something (kvmplan.plan.stages decides that by running the model)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from kvmplan.cparse import events as ev
from kvmplan.cparse.events import Cond, Event, Function
from kvmplan.graph.hooks import ONLINE, STARTING, CpuhpState
from kvmplan.plan.edit import Code, inner, insert, lock, noop, relock, unlock
from kvmplan.plan.roles import HOTPLUG_LOCK, NAMES, Facts, is_common


class CannotModel(Exception):
    """The code is not in a shape this step's transformation knows."""


Apply = Callable[[Code, Facts], Code]


@dataclass(frozen=True)
class Variant:
    """One way of performing a step in the model."""

    step: str
    name: str            # "literal" or the variant's name
    text: str            # what it does to the code, for the plan
    apply: Apply


def _fill(template: str, **names: str) -> str:
    """C text with each {name} replaced (C's own braces stay as they are)."""
    for key, value in names.items():
        template = template.replace("{" + key + "}", value)
    return template


def _fn(code: Code, f: Facts, name: str) -> Function:
    fn = f.fn(name)
    found = code.find(name, fn.file) if fn is not None else None
    if found is None:
        raise CannotModel(f"no function {name}()")
    return found


def _edit(code: Code, f: Facts, name: str,
          change: Callable[[tuple[Event, ...]], tuple[Event, ...]]) -> Code:
    """Change the events of the code's current version of function `name`."""
    fn = _fn(code, f, name)
    events = change(fn.events)
    return code if events == fn.events else code.put(replace(fn, events=relock(events)))


def _cond_global_eq(name: str, value: str) -> Cond:
    return ("cmp", "==", ("global", name), ("const", value))


# --- step 1: user-return MSRs snapshotted on first use ------------------------------
def uret_first_use(code: Code, f: Facts) -> Code:
    snap = next((n for n in NAMES.uret_snapshot if n in f.graph.functions), "")
    setter = f.fn(NAMES.uret_setter)
    if not snap or setter is None:
        raise CannotModel(f"no {NAMES.uret_snapshot[0]}() or {NAMES.uret_setter}()")
    for fn in f.all_functions:
        if fn.name != setter.name and any(e.kind == ev.CALL and e.name == snap for e in fn.events):
            code = _edit(code, f, fn.name, lambda events: tuple(
                noop(e, f"{snap}() moved to first use") if e.kind == ev.CALL and e.name == snap
                else e for e in events))
    line = setter.events[0].line if setter.events else setter.line
    block = [
        Event(ev.BRANCH, line, cond=("not", ("unknown", "msrs->initialized")), target=inner(2)),
        Event(ev.CALL, line, name=snap),
    ]
    fn = _fn(code, f, setter.name)
    return code.put(replace(fn, events=insert(fn.events, 0, block)))


# --- step 2: kvm_usage_count under kvm_lock and cpus_read_lock() ---------------------
def _irqs_off_callbacks(f: Facts) -> set[str]:
    """Common cpuhp callbacks that run in the STARTING/DYING section (IRQs off)."""
    out: set[str] = set()
    for reg in f.graph.cpuhp:
        if reg.section == STARTING and f.fn(reg.registered_by) is not None \
                and is_common(f.fn(reg.registered_by).file):   # type: ignore[union-attr]
            out |= {reg.startup, reg.teardown} - {""}
    return out


def _writes_counter(f: Facts, name: str) -> bool:
    for callee in f.reach(name, "virt/kvm"):
        fn = f.fn(callee)
        if fn is not None and any(e.kind == ev.COUNT and e.name == f.counter and e.mode != "read"
                                  for e in fn.events):
            return True
    return False


def _usage_lock(code: Code, f: Facts, outside: bool) -> Code:
    old = NAMES.count_lock
    users = [fn for fn in f.all_functions
             if any(e.kind in (ev.LOCK, ev.UNLOCK, ev.ASSERT) and e.name == old for e in fn.events)]
    if not users:
        raise CannotModel(f"no {old} to replace")
    irqs_off = _irqs_off_callbacks(f)
    for fn in users:
        events = tuple(
            replace(e, name=NAMES.kvm_lock, mode="mutex" if e.kind != ev.ASSERT else e.mode)
            if e.kind in (ev.LOCK, ev.UNLOCK, ev.ASSERT) and e.name == old else e
            for e in _fn(code, f, fn.name).events)
        if outside and fn.name in irqs_off:
            # cpu_up/cpu_down hold cpu_hotplug_lock for write around these
            # callbacks, which excludes every writer: no lock needed (and a
            # mutex can't be taken with IRQs off)
            events = tuple(noop(e, f"{fn.name}() relies on cpu_hotplug_lock")
                           if e.kind in (ev.LOCK, ev.UNLOCK) and e.name == NAMES.kvm_lock else e
                           for e in events)
        elif _writes_counter(f, fn.name):
            events = _add_hotplug_lock(events, outside)
        code = code.put(replace(_fn(code, f, fn.name), events=relock(events)))
    return code


def _add_hotplug_lock(events: tuple[Event, ...], outside: bool) -> tuple[Event, ...]:
    """cpus_read_lock() around (outside) or inside every kvm_lock section."""
    for i in reversed(range(len(events))):
        e = events[i]
        if e.name != NAMES.kvm_lock:
            continue
        if e.kind == ev.LOCK:
            if outside:
                events = insert(events, i, [lock(e.line, HOTPLUG_LOCK, "read")])
            else:
                events = insert(events, i + 1, [lock(e.line, HOTPLUG_LOCK, "read")], land=False)
        elif e.kind == ev.UNLOCK:
            if outside:
                events = insert(events, i + 1, [unlock(e.line, HOTPLUG_LOCK, "read")], land=False)
            else:
                events = insert(events, i, [unlock(e.line, HOTPLUG_LOCK, "read")])
    return events


def usage_lock_literal(code: Code, f: Facts) -> Code:
    return _usage_lock(code, f, outside=False)


def usage_lock_outside(code: Code, f: Facts) -> Code:
    return _usage_lock(code, f, outside=True)


# --- step 4: kvm_arch_add_vm(kvm, kvm_usage_count) under kvm_lock -------------------
def _post_init_call(create: Function) -> tuple[int, Event]:
    for i, e in enumerate(create.events):
        if e.kind == ev.CALL and e.name in (NAMES.post_init, NAMES.add_vm):
            return i, e
    raise CannotModel(f"{create.name}() calls no {NAMES.post_init}()")


def _error_target(create: Function, i: int, slot: str) -> int:
    """Where the code went when the post-init hook failed (`if (r) goto out_err;`)."""
    ev_ = create.events
    if slot and i + 2 < len(ev_) and ev_[i + 1].kind == ev.BRANCH \
            and ev_[i + 1].cond == ("slot", slot) and ev_[i + 2].kind == ev.JUMP:
        return ev_[i + 2].target
    return -1


def _add_vm(code: Code, f: Facts, outside: bool) -> Code:
    create = _fn(code, f, f.vm_create)
    i, call = _post_init_call(create)
    err = _error_target(create, i, call.slot)
    adds = [j for j, e in enumerate(create.events) if e.kind == ev.LIST_ADD]
    if not adds:
        raise CannotModel(f"{create.name}() adds no VM to vm_list")
    j = adds[0]
    locks = [k for k in range(j) if create.events[k].kind == ev.LOCK
             and create.events[k].name == NAMES.kvm_lock]
    ends = [k for k in range(j, len(create.events)) if create.events[k].kind == ev.UNLOCK
            and create.events[k].name == NAMES.kvm_lock]
    if not locks or not ends:
        raise CannotModel(f"{create.name}() does not add the VM under {NAMES.kvm_lock}")
    lk, uk = locks[-1], ends[0]
    line = create.events[lk].line
    slot = call.slot or "r"
    call_ev = Event(ev.CALL, line, name=NAMES.add_vm, args=("kvm", f.counter), slot=slot)
    if outside:
        unwind = [unlock(line, NAMES.kvm_lock, "mutex"), unlock(line, HOTPLUG_LOCK, "read")]
    else:
        unwind = [unlock(line, HOTPLUG_LOCK, "read"), unlock(line, NAMES.kvm_lock, "mutex")]
    block: list[Event] = [] if outside else [lock(line, HOTPLUG_LOCK, "read")]
    block.append(call_ev)
    if err >= 0:
        # if (r) { unlock; goto out_err; }: the branch skips the unwind on success
        block.append(Event(ev.BRANCH, line, cond=("slot", slot),
                           target=inner(len(block) + 1 + len(unwind) + 1)))
        block += unwind + [Event(ev.JUMP, line, name="plan_out_err", target=err)]
    events = create.events
    # from the end backwards, so earlier indices stay valid
    if outside:
        events = insert(events, uk + 1, [unlock(events[uk].line, HOTPLUG_LOCK, "read")], land=False)
        events = insert(events, lk + 1, block, land=False)
        events = insert(events, lk, [lock(line, HOTPLUG_LOCK, "read")])
    else:
        events = insert(events, uk, [unlock(events[uk].line, HOTPLUG_LOCK, "read")])
        events = insert(events, lk + 1, block, land=False)
    old = events[i]
    events = events[:i] + (noop(old, f"{call.name}() moved under {NAMES.kvm_lock}"),) \
        + events[i + 1:]
    if err >= 0:
        # the old `if (r) goto out_err;` now tests nothing new: make it a no-op too
        events = events[:i + 1] + (noop(events[i + 1], "old error check"),
                                   noop(events[i + 2], "old error check")) + events[i + 3:]
    code = code.put(replace(create, events=relock(events)))
    for hook in code.functions(NAMES.post_init):
        params = hook.params + (ev.Param("usage_count", "int"),)
        renamed = replace(hook, name=NAMES.add_vm, params=params)
        code = code.put(renamed, old_name=NAMES.post_init)
    return code


def add_vm_literal(code: Code, f: Facts) -> Code:
    return _add_vm(code, f, outside=False)


def add_vm_outside(code: Code, f: Facts) -> Code:
    return _add_vm(code, f, outside=True)


# --- step 3: arch hooks for "power management" transitions -------------------------
ONLINE_STATE = "CPUHP_AP_KVM_ONLINE"


def _enable_one(f: Facts) -> tuple[str, str]:
    """C that enables this CPU through the common per-CPU helper and leaves
    0 or an error in r; and the helper's failure counter, if it has one."""
    cpu = f.fn(f.cpu_enable)
    if cpu is None:
        raise CannotModel("no common per-CPU enable")
    if any(e.kind == ev.RETURN and e.value.startswith("-E") for e in cpu.events):
        arg = "NULL" if cpu.params else ""
        return f"r = {cpu.name}({arg});", ""
    counters = [e.args[0].lstrip("&") for e in cpu.events
                if e.kind == ev.CALL and e.name == "atomic_inc" and e.args]
    if not counters:
        raise CannotModel(f"{cpu.name}() reports no failure")
    failed = counters[0]
    return ((f"{cpu.name}(NULL);\n\t\tif (atomic_read(&{failed})) {{\n"
             f"\t\t\tatomic_set(&{failed}, 0);\n\t\t\tr = -EIO;\n\t\t}}"), failed)


_COMMON_PM = """\
static int {counter};
static int {failed};

static int kvm_online_cpu(unsigned int cpu)
{
\tint r = 0;

\tif ({counter}) {
\t\t{enable_one}
\t}
\tif (!r)
\t\tr = kvm_arch_online_cpu(cpu, {counter});
\treturn r;
}

static int kvm_offline_cpu(unsigned int cpu)
{
\tkvm_arch_offline_cpu(cpu, {counter});
\tif ({counter})
\t\t{cpu_disable}(NULL);
\treturn 0;
}

static int {suspend}(void)
{
\tkvm_arch_suspend({counter});
\tif ({counter})
\t\t{cpu_disable}(NULL);
\treturn 0;
}

static void {resume}(void)
{
\tint r = 0;

\tif ({counter}) {
\t\t{enable_one}
\t\tWARN_ON_ONCE(r);
\t\tkvm_arch_resume({counter});
\t}
}

static void kvm_shutdown(void)
{
\tkvm_rebooting = true;
\tkvm_arch_shutdown({counter});
\ton_each_cpu({cpu_disable}, NULL, 1);
}
"""

# What x86 does on every CPU coming (back) online: both x86 stages keep it.
_TSC_FIXUP = """\
static void kvm_x86_tsc_fixup(void)
{
\tstruct kvm *kvm;
\tstruct kvm_vcpu *vcpu;
\tunsigned long i;

\tlist_for_each_entry(kvm, &vm_list, vm_list) {
\t\tkvm_for_each_vcpu(i, vcpu, kvm)
\t\t\tkvm_make_request(KVM_REQ_CLOCK_UPDATE, vcpu);
\t}
}
"""

_X86_PM = _TSC_FIXUP + """\

int kvm_arch_online_cpu(unsigned int cpu, int usage_count)
{
\tmutex_lock(&kvm_lock);
\tkvm_x86_tsc_fixup();
\tmutex_unlock(&kvm_lock);
\treturn 0;
}

void kvm_arch_offline_cpu(unsigned int cpu, int usage_count)
{
}

void kvm_arch_suspend(int usage_count)
{
}

void kvm_arch_resume(int usage_count)
{
\tkvm_x86_tsc_fixup();
}

void kvm_arch_shutdown(int usage_count)
{
}
"""


def pm_hooks(code: Code, f: Facts) -> Code:
    regs = [r for r in f.hotplug if r.startup and r.teardown]
    if not regs:
        raise CannotModel("no common cpuhp state that enables virtualization")
    pm = {en.kind: en for en in f.pm_entries}
    if "syscore_suspend" not in pm or "syscore_resume" not in pm:
        raise CannotModel("no common syscore suspend/resume callbacks")
    if not f.cpu_disable or not f.enable_all or not f.arch_enable:
        raise CannotModel("no common per-CPU disable or enable-all pass")
    enable_one, failed = _enable_one(f)
    kvm_main = f.fn(f.cpu_enable).file                      # type: ignore[union-attr]
    reg = regs[0]
    old_up, old_down = f.fn(reg.startup), f.fn(reg.teardown)
    susp, res = pm["syscore_suspend"], pm["syscore_resume"]
    text = _fill(_COMMON_PM, counter=f.counter, failed=failed or "kvm_plan_unused",
                 enable_one=enable_one, cpu_disable=f.cpu_disable,
                 suspend=susp.function, resume=res.function)
    anchors = {"kvm_online_cpu": old_up.line if old_up else 0,
               "kvm_offline_cpu": old_down.line if old_down else 0,
               susp.function: susp.line, res.function: res.line}
    reboot = [en for en in f.pm_entries if en.kind == "reboot"]
    anchors["kvm_shutdown"] = reboot[0].line if reboot else susp.line
    unit = code.compile(kvm_main, text, anchors)
    for name in (reg.startup, reg.teardown):
        code = code.drop(kvm_main, name)
    for fn in unit.functions:
        code = code.put(fn)
    # the hotplug state moves to the ONLINE section, where a callback can fail
    code = _move_state(code, f, reg.state, reg.startup, reg.teardown)
    # reboot: KVM's hook runs from syscore .shutdown (after system_state is
    # set) instead of a reboot notifier (before it)
    code = _reboot_to_shutdown(code, f)
    # the enable-all pass undoes itself when the system started going down
    # meanwhile (else it could enable after kvm_shutdown() ran)
    code = _refuse_when_going_down(code, f)
    # x86: the TSC fix-up for existing VMs leaves the per-CPU enable (where it
    # walked vm_list unlocked, from IPIs and hotplug alike) for the PM hooks
    arch = _fn(code, f, f.arch_enable)
    events = arch.events
    for i, e in enumerate(arch.events):
        if e.kind == ev.LOOP and e.mode == "list" and e.name == "vm_list":
            for k in range(i, min(e.target, len(events))):
                if events[k].kind != ev.LABEL:
                    events = events[:k] + (noop(events[k], "TSC fix-up moved to PM hooks"),) \
                        + events[k + 1:]
    code = code.put(replace(arch, events=relock(events)))
    x86 = code.compile(arch.file, _X86_PM, {n: arch.end_line + 1 for n in (
        "kvm_x86_tsc_fixup", "kvm_arch_online_cpu", "kvm_arch_offline_cpu", "kvm_arch_suspend",
        "kvm_arch_resume", "kvm_arch_shutdown")})
    for fn in x86.functions:
        code = code.put(fn)
    return code


def _move_state(code: Code, f: Facts, state: str, up: str, down: str) -> Code:
    section = {s.name: s for s in code.states}.get(state)
    if section is not None and section.section == ONLINE:
        target = state
    else:
        target = ONLINE_STATE
        idle = {s.name: s for s in code.states}.get("CPUHP_AP_ONLINE_IDLE")
        index = idle.index if idle is not None else 10_000
        code = code.with_state(CpuhpState(ONLINE_STATE, index, ONLINE))
    rename = {state: target, up: "kvm_online_cpu", down: "kvm_offline_cpu"}
    for fn in f.all_functions:
        if not any(e.kind in (ev.CPUHP_SETUP, ev.CPUHP_REMOVE) and e.name == state
                   for e in fn.events):
            continue
        code = _edit(code, f, fn.name, lambda events: tuple(
            replace(e, name=rename.get(e.name, e.name), args=tuple(rename.get(a, a) for a in e.args))
            if e.kind in (ev.CPUHP_SETUP, ev.CPUHP_REMOVE) and e.name == state else e
            for e in events))
    return code


def _reboot_to_shutdown(code: Code, f: Facts) -> Code:
    notifiers = {e.name for fn in f.all_functions for e in fn.events
                 if e.kind == ev.REGISTER and e.mode == "reboot" and is_common(fn.file)}
    syscore = sorted({e.name for fn in f.all_functions for e in fn.events
                      if e.kind == ev.REGISTER and e.mode == "syscore" and is_common(fn.file)})
    if not syscore:
        raise CannotModel("no common syscore registration to hang the shutdown hook on")
    for fn in f.all_functions:
        if not any(e.kind in (ev.REGISTER, ev.UNREGISTER) and e.name in notifiers
                   for e in fn.events):
            continue
        code = _edit(code, f, fn.name, lambda events: tuple(
            noop(e, "reboot notifier replaced by syscore .shutdown")
            if e.kind in (ev.REGISTER, ev.UNREGISTER) and e.name in notifiers else e
            for e in events))
    for name in syscore:
        code = code.bind(name, "shutdown", "kvm_shutdown")
    for en in f.pm_entries:
        if en.kind == "reboot":
            code = code.drop(en.file, en.function)
    return code


def _refuse_when_going_down(code: Code, f: Facts) -> Code:
    fn = _fn(code, f, f.enable_all)
    counts = [i for i, e in enumerate(fn.events) if e.kind == ev.COUNT and e.name == f.counter]
    if not counts:
        raise CannotModel(f"{fn.name}() does not count users")
    ends = [i for i in range(counts[0], len(fn.events)) if fn.events[i].kind == ev.UNLOCK]
    if not ends or not f.disable_all:
        raise CannotModel(f"{fn.name}() has no unlock to undo before")
    u = ends[0]
    line = fn.events[u].line
    cond: Cond = ("and", _cond_global_eq("system_state", "SYSTEM_RESTART"),
                  ("not", ("slot", "r")))
    block = [
        Event(ev.BRANCH, line, cond=cond, target=inner(3)),
        Event(ev.CALL, line, name=f.disable_all),
        Event(ev.ASSIGN, line, name="r", value="-EBUSY"),
    ]
    return code.put(replace(fn, events=insert(fn.events, u, block)))


# --- steps 5a / 5b: arch code decides when to enable ----------------------------------
# Both move the decision to x86's hooks (kvm_arch_add_vm/remove_vm and the PM
# hooks); kvm_create_vm()/kvm_destroy_vm() only count users, under the locks
# stage 4 takes. 5a: x86 keeps its own per-CPU flag and error handling and the
# common code is gone. 5b: common code keeps them and exports helpers.
# The model does not pass arguments, so the hooks read kvm_usage_count, whose
# value at the call is the argument the caller passes.

_X86_OWN = """\
static DEFINE_PER_CPU(bool, x86_virt_enabled);

static int kvm_x86_enable_cpu(void)
{
\tif (__this_cpu_read(x86_virt_enabled))
\t\treturn 0;
\tif ({arch_enable}())
\t\treturn -EIO;
\t__this_cpu_write(x86_virt_enabled, true);
\treturn 0;
}

static void kvm_x86_enable_cpu_ipi(void *failed)
{
\tif (kvm_x86_enable_cpu())
\t\tatomic_inc(failed);
}

static void kvm_x86_disable_cpu(void *ign)
{
\tif (!__this_cpu_read(x86_virt_enabled))
\t\treturn;
\t{arch_disable}();
\t__this_cpu_write(x86_virt_enabled, false);
}

static int kvm_x86_enable_all(void)
{
\tatomic_t failed = ATOMIC_INIT(0);

\tatomic_set(&failed, 0);
\ton_each_cpu(kvm_x86_enable_cpu_ipi, &failed, 1);
\tif (atomic_read(&failed) || system_state == SYSTEM_RESTART) {
\t\ton_each_cpu(kvm_x86_disable_cpu, NULL, 1);
\t\treturn -EBUSY;
\t}
\treturn 0;
}

static void kvm_x86_disable_all(void)
{
\ton_each_cpu(kvm_x86_disable_cpu, NULL, 1);
}
"""

_COMMON_HELPERS = """\
static DEFINE_PER_CPU(bool, hardware_enabled);

int kvm_hardware_enable(void)
{
\tif (__this_cpu_read(hardware_enabled))
\t\treturn 0;
\tif ({arch_enable}())
\t\treturn -EIO;
\t__this_cpu_write(hardware_enabled, true);
\treturn 0;
}

void kvm_hardware_disable(void)
{
\tif (!__this_cpu_read(hardware_enabled))
\t\treturn;
\t{arch_disable}();
\t__this_cpu_write(hardware_enabled, false);
}

static void kvm_hardware_enable_ipi(void *failed)
{
\tif (kvm_hardware_enable())
\t\tatomic_inc(failed);
}

static void kvm_hardware_disable_ipi(void *ign)
{
\tkvm_hardware_disable();
}

int kvm_hardware_enable_all(void)
{
\tatomic_t failed = ATOMIC_INIT(0);

\tlockdep_assert_cpus_held();
\tatomic_set(&failed, 0);
\ton_each_cpu(kvm_hardware_enable_ipi, &failed, 1);
\tif (atomic_read(&failed) || system_state == SYSTEM_RESTART) {
\t\ton_each_cpu(kvm_hardware_disable_ipi, NULL, 1);
\t\treturn -EBUSY;
\t}
\treturn 0;
}

void kvm_hardware_disable_all(void)
{
\tlockdep_assert_cpus_held();
\ton_each_cpu(kvm_hardware_disable_ipi, NULL, 1);
}
"""

_X86_HOOKS = "static int {counter};\n\n" + _TSC_FIXUP + """\

int kvm_arch_add_vm(struct kvm *kvm, int usage_count)
{
\tint r;

\tr = kvm_x86_post_init_vm(kvm);
\tif (r)
\t\treturn r;
\tif ({counter})
\t\treturn 0;
\treturn {enable_all}();
}

void kvm_arch_remove_vm(struct kvm *kvm, int usage_count)
{
\tif (!{counter})
\t\t{disable_all}();
}

int kvm_arch_online_cpu(unsigned int cpu, int usage_count)
{
\tint r = 0;

\tmutex_lock(&kvm_lock);
\tif ({counter})
\t\tr = {enable}();
\tkvm_x86_tsc_fixup();
\tmutex_unlock(&kvm_lock);
\treturn r;
}

void kvm_arch_offline_cpu(unsigned int cpu, int usage_count)
{
\t{disable}({disable_arg});
}

void kvm_arch_suspend(int usage_count)
{
\t{disable}({disable_arg});
}

void kvm_arch_resume(int usage_count)
{
\tif ({counter}) {
\t\tWARN_ON_ONCE({enable}());
\t\tkvm_x86_tsc_fixup();
\t}
}

void kvm_arch_shutdown(int usage_count)
{
\t{disable_all}();
}
"""

# the common PM callbacks, by entry kind: they only hand the transition to the arch
_PM_CALLBACK = {
    "cpuhp_startup": "static int {name}(unsigned int cpu)\n{\n\treturn kvm_arch_online_cpu(cpu, "
                     "{counter});\n}\n",
    "cpuhp_teardown": "static int {name}(unsigned int cpu)\n{\n\tkvm_arch_offline_cpu(cpu, "
                      "{counter});\n\treturn 0;\n}\n",
    "syscore_suspend": "static int {name}(void)\n{\n\tkvm_arch_suspend({counter});\n\treturn 0;\n}\n",
    "syscore_resume": "static void {name}(void)\n{\n\tkvm_arch_resume({counter});\n}\n",
    "syscore_shutdown": "static void {name}(void)\n{\n\tkvm_rebooting = true;\n"
                        "\tkvm_arch_shutdown({counter});\n}\n",
    "reboot": "static int {name}(struct notifier_block *nb, unsigned long val, void *v)\n{\n"
              "\tkvm_rebooting = true;\n\tkvm_arch_shutdown({counter});\n\treturn NOTIFY_OK;\n}\n",
}


def _common_enabling(f: Facts) -> set[str]:
    """Common helpers that exist to enable/disable CPUs for common code."""
    keep = {f.vm_create, f.vm_destroy} | {en.function for en in f.graph.entries}
    found = {n for n in (f.cpu_enable, f.cpu_disable, f.enable_all, f.disable_all) if n}
    if not found:
        raise CannotModel("no common enabling code")
    changed = True
    while changed:
        changed = False
        for fn in f.all_functions:
            if not is_common(fn.file) or fn.name in found or fn.name in keep:
                continue
            calls = {e.callee for e in f.callees.get(fn.name, ())}
            callers = {e.caller for e in f.callers.get(fn.name, ())}
            only_ours = bool(callers) and callers <= found | keep
            helper = fn.static and bool(callers) and callers <= found
            if (calls & found and only_ours) or helper:
                found.add(fn.name)
                changed = True
    return found


def _arch_decides(code: Code, f: Facts, common_helpers: bool) -> Code:
    if not f.arch_enable or not f.arch_disable or not f.vm_create or not f.vm_destroy:
        raise CannotModel("no arch per-CPU hooks or VM create/destroy")
    if NAMES.add_vm not in f.graph.functions:
        raise CannotModel(f"needs {NAMES.add_vm}() (step 4) first")
    drop = _common_enabling(f)
    kvm_main = f.fn(f.vm_create).file                      # type: ignore[union-attr]
    arch = f.fn(f.arch_enable)
    assert arch is not None
    # common code: callers of the dropped helpers lose those calls
    for fn in f.all_functions:
        if not is_common(fn.file) or fn.name in drop:
            continue
        if fn.name == f.vm_destroy:
            code = _destroy_counts(code, f, drop)
            continue
        if any(_mentions(e, drop) for e in fn.events):
            code = _edit(code, f, fn.name, lambda events: tuple(
                noop(e, "common enabling code removed") if _mentions(e, drop) else e
                for e in events))
    code = _create_counts(code, f)
    for name in sorted(drop):
        gone = f.fn(name)
        if gone is not None:
            code = code.drop(gone.file, name)
    code = code.drop_global(kvm_main, NAMES.cpumask)
    # common PM callbacks hand each transition to the arch
    pm_text = "".join(_fill(_PM_CALLBACK[en.kind], name=en.function, counter=f.counter)
                      for en in f.pm_entries if en.kind in _PM_CALLBACK)
    pm_text = f"static int {f.counter};\n" + pm_text
    unit = code.compile(kvm_main, pm_text, {en.function: en.line for en in f.pm_entries})
    for fn in unit.functions:
        code = code.put(fn)
    # the enabling code itself
    if common_helpers:
        helpers = code.compile(kvm_main, _fill(
            _COMMON_HELPERS, arch_enable=f.arch_enable, arch_disable=f.arch_disable),
            {n: (f.fn(f.cpu_enable) or arch).line for n in (
                "kvm_hardware_enable", "kvm_hardware_disable", "kvm_hardware_enable_ipi",
                "kvm_hardware_disable_ipi", "kvm_hardware_enable_all", "kvm_hardware_disable_all")})
        names = {"enable": "kvm_hardware_enable", "disable": "kvm_hardware_disable",
                 "disable_arg": "", "enable_all": "kvm_hardware_enable_all",
                 "disable_all": "kvm_hardware_disable_all"}
        where = kvm_main
    else:
        helpers = code.compile(arch.file, _fill(
            _X86_OWN, arch_enable=f.arch_enable, arch_disable=f.arch_disable),
            {n: arch.line for n in ("kvm_x86_enable_cpu", "kvm_x86_enable_cpu_ipi",
                                    "kvm_x86_disable_cpu", "kvm_x86_enable_all",
                                    "kvm_x86_disable_all")})
        names = {"enable": "kvm_x86_enable_cpu", "disable": "kvm_x86_disable_cpu",
                 "disable_arg": "NULL", "enable_all": "kvm_x86_enable_all",
                 "disable_all": "kvm_x86_disable_all"}
        where = arch.file
    code = code.put_globals(where, helpers)
    for fn in helpers.functions:
        code = code.put(fn)
    # x86: the old post-init work stays, renamed, in front of the new hook
    add = code.find(NAMES.add_vm, arch.file)
    if add is None:
        raise CannotModel(f"no x86 {NAMES.add_vm}()")
    code = code.put(replace(add, name="kvm_x86_post_init_vm", static=True), old_name=NAMES.add_vm)
    hooks = code.compile(arch.file, _fill(_X86_HOOKS, counter=f.counter, **names),
                         {n: arch.end_line + 1 for n in (
                             "kvm_x86_tsc_fixup", NAMES.add_vm, NAMES.remove_vm,
                             "kvm_arch_online_cpu", "kvm_arch_offline_cpu", "kvm_arch_suspend",
                             "kvm_arch_resume", "kvm_arch_shutdown")})
    for fn in hooks.functions:
        code = code.put(fn)
    return code


def _mentions(e: Event, names: set[str]) -> bool:
    if e.kind in (ev.CALL, ev.CROSS_CALL) and e.name in names:
        return True
    return any(NAMES.cpumask in a for a in e.args) or e.name == NAMES.cpumask


def _create_counts(code: Code, f: Facts) -> Code:
    """kvm_create_vm(): count the user once kvm_arch_add_vm() succeeded (seed's sketch)."""
    create = _fn(code, f, f.vm_create)
    adds = [j for j, e in enumerate(create.events) if e.kind == ev.LIST_ADD]
    if not adds:
        raise CannotModel(f"{create.name}() adds no VM to vm_list")
    j = adds[0]
    line = create.events[j].line
    count = Event(ev.COUNT, line, name=f.counter, mode="inc", value="new")
    return code.put(replace(create, events=insert(create.events, j, [count], land=True)))


def _destroy_counts(code: Code, f: Facts, drop: set[str]) -> Code:
    """kvm_destroy_vm(): the common disable call becomes count-- and kvm_arch_remove_vm()."""
    destroy = _fn(code, f, f.vm_destroy)
    sites = [i for i, e in enumerate(destroy.events) if _mentions(e, drop)]
    if not sites:
        raise CannotModel(f"{destroy.name}() does not disable through common code")
    i = sites[-1]
    line = destroy.events[i].line
    block = [
        lock(line, HOTPLUG_LOCK, "read"),
        lock(line, NAMES.kvm_lock, "mutex"),
        Event(ev.COUNT, line, name=f.counter, mode="dec", value="new"),
        Event(ev.CALL, line, name=NAMES.remove_vm, args=("kvm", f.counter)),
        unlock(line, NAMES.kvm_lock, "mutex"),
        unlock(line, HOTPLUG_LOCK, "read"),
    ]
    events = destroy.events
    for k in sites[:-1]:
        events = events[:k] + (noop(events[k], "common enabling code removed"),) + events[k + 1:]
    events = events[:i] + (noop(events[i], "common enabling code removed"),) + events[i + 1:]
    return code.put(replace(destroy, events=insert(events, i, block)))


def drop_common(code: Code, f: Facts) -> Code:
    return _arch_decides(code, f, common_helpers=False)


def expose_common(code: Code, f: Facts) -> Code:
    return _arch_decides(code, f, common_helpers=True)


VARIANTS: dict[str, tuple[Variant, ...]] = {
    "1": (Variant("1", "literal", "drop the snapshot from the per-CPU enable hook; "
                  f"{NAMES.uret_setter}() snapshots the host values the first time a CPU "
                  "uses them (a flag in struct kvm_user_return_msrs)", uret_first_use),),
    "2": (Variant("2", "literal", f"replace {NAMES.count_lock} with {NAMES.kvm_lock} everywhere; "
                  f"the enable/disable-all paths also take cpus_read_lock() inside "
                  f"{NAMES.kvm_lock} (the order of Sean's kvm_create_vm() sketch)",
                  usage_lock_literal),
          Variant("2", "cpus_read_lock() outside kvm_lock", "take cpus_read_lock() outside "
                  f"{NAMES.kvm_lock} in the enable/disable-all paths; hotplug callbacks that "
                  "run with IRQs off (STARTING/DYING) take no lock: cpu_up()/cpu_down() hold "
                  "cpu_hotplug_lock for write, which already excludes every writer",
                  usage_lock_outside)),
    "3": (Variant("3", "literal", "common hotplug, suspend/resume and reboot callbacks call "
                  "kvm_arch_online_cpu/offline_cpu/suspend/resume/shutdown(); the hotplug "
                  "state moves to the ONLINE section so the hook's failure aborts onlining; "
                  "reboot is hooked from syscore .shutdown and the enable-all pass undoes "
                  "itself once system_state says the system is going down; x86 does its TSC "
                  "fix-up for existing VMs from the online/resume hooks, under kvm_lock",
                  pm_hooks),),
    "4": (Variant("4", "literal", f"rename {NAMES.post_init}() to {NAMES.add_vm}(kvm, "
                  f"{'kvm_usage_count'}) and call it where the VM joins vm_list, under "
                  f"{NAMES.kvm_lock} then cpus_read_lock() (Sean's sketch)", add_vm_literal),
          Variant("4", "cpus_read_lock() outside kvm_lock", f"the same, with cpus_read_lock() taken "
                  f"outside {NAMES.kvm_lock}", add_vm_outside)),
    "5a": (Variant("5a", "literal", f"drop {NAMES.cpumask} and the common enable/disable code; "
                   f"{NAMES.add_vm}()/{NAMES.remove_vm}() and the PM hooks enable and disable "
                   "hardware in x86 code, which keeps its own per-CPU flag and error handling; "
                   f"kvm_create_vm()/kvm_destroy_vm() only count users", drop_common),),
    "5b": (Variant("5b", "literal", "keep the common per-CPU flag (a per-CPU bool instead of "
                   f"{NAMES.cpumask}) and error handling, exported as kvm_hardware_enable(), "
                   "kvm_hardware_enable_all() and their disable twins; x86's "
                   f"{NAMES.add_vm}()/{NAMES.remove_vm}() and PM hooks decide when to call them",
                   expose_common),),
}
