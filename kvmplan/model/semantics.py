"""The model's semantics of kernel primitives, in one table.

Read this as the specification of what each primitive does in the model.
Each row names what the C front-end or the environment emits (`key`), its
effect on the world, when it can fail and the context it runs in, and the
`handler` that implements it. Both engines dispatch from this table:

- the interpreter (kvmplan/model/interp.py) runs row.handler, a method of
  `Runner` for events and calls, a procedure of kvmplan/model/builtins.py
  for the kernel's own procedures, a function of explorer.py for the
  environment's operations;
- the Promela exporter (kvmplan/model/promela) emits each event and call
  through its emitter method of the same name.

tests/model/test_semantics.py keeps it whole: every event kind the front-end
can emit and every call target kind has a row, and every row's handler
exists in each engine that dispatches it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from kvmplan.cparse import events as ev
from kvmplan.cparse.events import Event
from kvmplan.model.kernel import ATOMIC_OPS, ERROR_POINTERS, TRANSPARENT

# event: an event of a function's stream (kvmplan/cparse/events.py);
# call: what a call resolves to (program.Target.kind, or a kernel helper by name);
# kernel: a procedure the kernel runs around KVM's code (a builtin frame);
# environment: an operation an environment thread starts (explorer.py).
Source = Literal["event", "call", "kernel", "environment"]


@dataclass(frozen=True)
class Primitive:
    key: str
    source: Source
    handler: str
    effect: str
    fallible: str = ""          # when it can fail ("" = never)
    context: str = ""           # where it runs, when that matters

    def __post_init__(self) -> None:
        # the texts are written as wrapped prose: one line each
        for name in ("effect", "fallible", "context"):
            object.__setattr__(self, name, " ".join(getattr(self, name).split()))


SEMANTICS: tuple[Primitive, ...] = (
    # --- events of a function's stream -------------------------------------------------
    Primitive(ev.LOCK, "event", "lock", """
        mutex_lock / raw_spin_lock / spin_lock / guard(mutex) / down_read...: exclusive, or
        shared for read modes; a thread waits while another holds it in a conflicting mode;
        cpus_read_lock is the read side of cpu_hotplug_lock, whose writers are cpu_up/cpu_down;
        guard() releases at every exit of its scope, scoped_guard at the end of its block;
        rcu/preempt/irq scopes are not locks
        """, context="a spinlock holder is not preemptible: stop_machine() waits for it"),
    Primitive(ev.UNLOCK, "event", "unlock", "releases the lock"),
    Primitive(ev.BRANCH, "event", "branch", """
        evaluates the condition on the values the model knows (an error value is a negative
        number: below 0, not equal to 0); a condition it can't evaluate takes the side that is
        not the error path (an -E... return, an error label), else the whole condition is false
        (an unknown `if (!a || b)` skips its block as `if (a)` does); a branch on shared state
        is an interleaving point
        """, fallible="""
        with failure injection, an unknown condition of module init or VM creation may take the
        error path instead (bounded); the slots it tests that the model doesn't know then hold
        the value that takes that path (an error for `if (r < 0)`, NULL for `if (!p)`:
        program.failure_values), so that `return r;` returns the failure
        """, context="""
        in an ioctl on the VM (the VM-operations pass) the user's arguments decide: an unknown
        condition on nothing the model tracks that decides whether a followed field of the VM
        is written (program.vm_forks) goes both ways, the error side with the values of
        program.vm_errors
        """),
    Primitive(ev.JUMP, "event", "jump", "goto, break, continue, the end of a then-block"),
    Primitive(ev.LABEL, "event", "label", "nothing"),
    Primitive(ev.RETURN, "event", "return_", """
        the caller's slot gets the value; locks and guards a function leaves held stay held
        """),
    Primitive(ev.ASSIGN, "event", "assign", """
        a write to a global the model tracks (shared), else to a local slot; the globals it
        tracks are the usage counters, system_state, and each plain scalar variable the code
        it runs reads and alone writes, never through its address (program.tracked_scalars),
        from its value at load (its initializer, C's zero, a read-only module parameter's
        default); `x = a && !f()` is the branches of `if (a && !f()) x = 1; else x = 0;`,
        `x = c ? a : b` those of an if/else; `x |= y` on another file's variable is unknown;
        a field of the VM (`kvm->x`, `vcpu->kvm->x`: grammars/objects.txt) is followed in the
        VM-operations pass when vCPU creation and another VM ioctl use it (program.vm_state),
        from 0 (the VM is allocated zeroed), and not modelled otherwise
        """),
    Primitive(ev.LOOP, "event", "loop", """
        for_each_online_cpu / for_each_possible_cpu: the thread's CPU iterates over the CPUs
        online (possible) at the loop's start; a walk of vm_list is an interleaving point and
        the thread is a walker until it ends; other loops run their body at most once, or not
        at all when it touches no lifecycle state
        """),
    Primitive(ev.LOOP_END, "event", "loop_end", "back to the loop head"),
    Primitive(ev.CALL, "event", "call", """
        resolved once by program.py into a call target (rows of source 'call')
        """),
    Primitive(ev.ICALL, "event", "call", """
        static_call / kvm_x86_call / a function pointer: resolved through the ops tables the
        graph binds, then like a direct call
        """),
    Primitive(ev.CROSS_CALL, "event", "cross_call", """
        on_each_cpu(fn) / smp_call_function_single(c, fn) / ..._many: runs fn on each CPU
        online at that moment (on c, if online) in IPI context, the other CPUs first, then
        on the caller's own CPU directly (IRQs off, not an interrupt); the caller keeps its
        CPU with preemption off throughout; no hotplug exclusion; fn's return value is lost
        """, context="IPI: IRQs off on the target CPU"),
    Primitive(ev.COUNT, "event", "count", """
        kvm_usage_count++/--/= on a usage counter: shared, read and written as it is; `kvm->x++`
        on a followed field of the VM likewise
        """),
    Primitive(ev.PERCPU_READ, "event", "percpu", """
        __this_cpu_read / cpumask_test_cpu of KVM's per-CPU flag on the running CPU
        """),
    Primitive(ev.PERCPU_WRITE, "event", "percpu", """
        __this_cpu_write / cpumask_set/clear_cpu of KVM's per-CPU flag on the running CPU
        """),
    Primitive(ev.LIST_ADD, "event", "list_op", "list_add on vm_list: a VM exists from now on"),
    Primitive(ev.LIST_DEL, "event", "list_op", "list_del on vm_list: the VM is gone"),
    Primitive(ev.REGISTER, "event", "register", """
        register_syscore_ops / register_reboot_notifier / cpu_emergency_register_virt_callback /
        misc_register(/dev/kvm)...: records the registration, its callbacks become reachable;
        /dev/kvm lets the user thread run; a registration whose handle the caller keeps in a
        global (debugfs_create_dir) is named by that global
        """, fallible="""
        with failure injection, a registration whose result the caller keeps may fail instead:
        nothing is registered and the result is an error
        """),
    Primitive(ev.UNREGISTER, "event", "register", "removes the registration"),
    Primitive(ev.CPUHP_SETUP, "event", "cpuhp", """
        cpuhp_setup_state(S, name, up, down): the kernel procedure @cpuhp_setup
        """),
    Primitive(ev.CPUHP_REMOVE, "event", "cpuhp", """
        cpuhp_remove_state(S): the kernel procedure @cpuhp_remove
        """),
    Primitive(ev.ASSERT, "event", "noop", "lockdep assertions: nothing (documentation)"),
    Primitive(ev.ASM, "event", "noop", "inline assembly: nothing; asm goto targets are branches"),
    # --- what a call resolves to ---------------------------------------------------------
    Primitive("code", "call", "code", """
        a function of the lifecycle: interpreted (pushed as a frame on the same CPU and
        context)
        """),
    Primitive("skip", "call", "code", """
        code that touches no lifecycle state: skipped; its value is unknown
        """),
    Primitive("atomic", "call", "atomic", """
        atomic_inc/dec/set/read(_return) on a global: shared counter, read and written as it is
        """),
    Primitive("error_pointer", "call", "error_pointer", "ERR_PTR()/ERR_CAST(): an error value"),
    Primitive("transparent", "call", "transparent", """
        WARN_ON()/unlikely()...: the value of the first argument
        """),
    Primitive("enable", "call", "vendor", """
        the vendor per-CPU enable (kvm_x86_ops hardware_enable / enable_virtualization_cpu
        implementation): sets virtualization on on its CPU
        """, fallible="""
        fails on a CPU that can't enable virtualization; -EBUSY if virtualization is already on
        """),
    Primitive("disable", "call", "vendor", """
        the vendor per-CPU disable: clears virtualization on its CPU
        """),
    Primitive("tdx_cpu", "call", "tdx",
        "tdx_cpu_enable(): TDX per-CPU init; marks the CPU",
        fallible="fails when virtualization is off on that CPU"),
    Primitive("tdx_enable", "call", "tdx", "tdx_enable(): the TDX module is initialized"),
    Primitive("uret", "call", "uret", """
        kvm_user_return_msr_cpu_online() / drop_user_return_notifiers(): snapshot or restore
        the CPU's user-return MSRs; only the context they run in matters
        """),
    Primitive("context", "call", "in_context", """
        in_task() / in_interrupt() / in_hardirq() / in_irq() / irqs_disabled() /
        preemptible(): the context the caller runs in. A cross call's callback on another
        CPU is in an interrupt (not in_task()); its local call, a STARTING/DYING callback
        and a syscore suspend/resume callback are tasks with IRQs off; a spinlock or a cross
        call in progress makes a task not preemptible
        """),
    # --- the kernel's own procedures around KVM's code --------------------------------------
    Primitive("@cross", "kernel", "cross", """
        the cross call in flight: fn on the next CPU of those online at its start (the
        caller's own CPU last); an IPI waits while its CPU runs something else with IRQs off
        """, context="IPI"),
    Primitive("@cpuhp_setup", "kernel", "setup", """
        takes cpus_read_lock (not with _cpuslocked), registers S, runs up on every online CPU;
        a failure runs down on the CPUs done, unregisters, returns it; _nocalls only registers
        """, fallible="when `up` fails on a CPU", context="setup: the CPU's hotplug thread"),
    Primitive("@cpuhp_remove", "kernel", "remove", """
        takes cpus_read_lock, runs down on every online CPU, unregisters; _nocalls only
        unregisters
        """, context="setup"),
    Primitive("@up", "kernel", "up", """
        cpu_up(c): cpu_hotplug_lock for write; PREPARE callbacks on the control CPU, STARTING
        callbacks on c with IRQs off (errors ignored), c online, ONLINE callbacks (a failure
        rolls c back offline), c active
        """, fallible="an ONLINE callback fails"),
    Primitive("@down", "kernel", "down", """
        cpu_down(c): c inactive, ONLINE teardowns, then under stop_machine() (no other thread
        runs; it starts once none holds a spinlock or runs with IRQs off) c offline and DYING
        teardowns
        """),
    Primitive("@reboot", "kernel", "reboot", """
        reboot notifiers, system_state = SYSTEM_RESTART, cpu_hotplug_disable() (waits for a
        hotplug in flight), syscore .shutdown callbacks (reverse order), firmware handoff:
        everything stops; KVM forgives a faulting disable from then on
        """),
    Primitive("@suspend", "kernel", "suspend", """
        tasks frozen (no new VM operation or hotplug), non-boot CPUs taken down, syscore
        .suspend callbacks on CPU0 with IRQs off (reverse order), the platform sleeps and CPU0
        comes back with virtualization off, .resume callbacks, CPUs brought up again, tasks
        thawed
        """, context="syscore: IRQs off on CPU0"),
    # --- the environment's operations ----------------------------------------------------------
    Primitive("initial state", "environment", "initial_worlds", """
        every CPU online and active, virtualization off; one CPU other than CPU0 can't enable
        virtualization, or none; each read-only boolean module parameter that decides whether
        lifecycle work runs takes either value (program.parameter_choices, at most 3); other
        tracked globals start at their value at load
        """),
    Primitive("module_init", "environment", "start_init", """
        the vendor module_init runs at the start on CPU0; when it returns the module is live,
        or gone if it failed
        """),
    Primitive("vm_create", "environment", "start_user", """
        once /dev/kvm is registered (and the module is neither unloading nor gone, tasks not
        frozen): the user thread creates a VM, then destroys it if it got one; in the
        VM-operations pass (module init and one VM, no hotplug, no system event, no injected
        failure: Bounds.vm_pass) it first makes up to that many ioctls on the VM through the
        VM ioctl entry (vocab vm_ioctl, context vm_ioctl: any of its cases, vCPU creation
        included), one after the other; that pass checks only the rules of its hook points
        (rules.VM_RULES)
        """),
    Primitive("cpu_up / cpu_down", "environment", "start_hotplug", """
        up to Bounds.hotplug_events hotplug operations of non-boot CPUs; none once a reboot has
        begun or while tasks are frozen
        """),
    Primitive("system event", "environment", "start_system", """
        at most one per execution, each can be switched off (--system): reboot at any time;
        suspend/resume or module unload once the module is live and no VM ioctl or hotplug runs
        (unload: no VM exists either, the fds hold module references; when module_exit returns
        the module's code is gone)
        """),
    Primitive("start", "environment", "start", """
        starting an operation changes only the starting thread, so it runs on to its first
        visible event in the same step
        """),
)

BY_KEY: dict[tuple[Source, str], Primitive] = {(p.source, p.key): p for p in SEMANTICS}


def handlers(source: Source) -> dict[str, str]:
    """key → handler name, for the rows of one source."""
    return {p.key: p.handler for p in SEMANTICS if p.source == source}


def call_kind(e: Event, target_kind: str) -> str:
    """The row of a call (source "call"): a kernel helper known by name
    (atomic_*, ERR_PTR, WARN_ON/likely), else what the program resolved the
    call to ("code", "skip", "enable"...)."""
    if e.kind == ev.CALL:
        if e.name in ATOMIC_OPS and e.args:
            return "atomic"
        if e.name in ERROR_POINTERS:
            return "error_pointer"
        if e.name in TRANSPARENT and e.args:
            return "transparent"
    return target_kind
