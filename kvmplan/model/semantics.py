"""The model's semantics of kernel primitives, in one table.

Read this as the specification of what each primitive does in the model;
kvmplan/model/interp.py implements each row (the handler named here)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Semantics:
    primitive: str
    handler: str
    meaning: str


SEMANTICS: tuple[Semantics, ...] = (
    Semantics("mutex_lock / raw_spin_lock / spin_lock / guard(mutex)", "lock",
              "exclusive; a thread waits while another holds it; guard() releases at "
              "every exit of its scope, scoped_guard at the end of its block"),
    Semantics("cpus_read_lock", "lock",
              "read side of cpu_hotplug_lock: waits while hotplug holds it for write"),
    Semantics("cpu_up / cpu_down (environment)", "hotplug",
              "take cpu_hotplug_lock for write; up: PREPARE, STARTING callbacks on the "
              "target CPU with IRQs off and errors ignored, CPU marked online, ONLINE "
              "callbacks whose failure rolls the CPU back offline, CPU active; down: "
              "inactive, ONLINE teardowns, then under stop_machine() (no other thread "
              "runs; it starts once none holds a spinlock or runs with IRQs off) offline "
              "and DYING teardowns"),
    Semantics("suspend / resume (environment, system thread)", "suspend",
              "once module init is done and no VM ioctl or hotplug runs: tasks frozen (no "
              "new VM operation or hotplug), non-boot CPUs taken down, syscore .suspend "
              "callbacks on CPU0 with IRQs off (reverse order), the platform sleeps and CPU0 "
              "comes back with virtualization off, .resume callbacks, CPUs brought up again"),
    Semantics("reboot (environment, system thread)", "reboot",
              "at any time: reboot notifiers, system_state = SYSTEM_RESTART, no new hotplug "
              "(cpu_hotplug_disable() waits for one in flight), syscore .shutdown callbacks, "
              "firmware handoff (everything stops); KVM forgives a faulting disable from then "
              "on (kvm_rebooting)"),
    Semantics("module unload (environment, system thread)", "unload",
              "once init is done, no VM exists and no VM ioctl runs (the fds hold module "
              "references): the vendor module_exit runs, no new VM operation starts, and "
              "when it returns the module's code is gone"),
    Semantics("at most one system event per execution", "explorer",
              "suspend/resume, reboot or unload; each can be switched off (--system)"),
    Semantics("cpuhp_setup_state(S, name, up, down)", "cpuhp_setup",
              "takes cpus_read_lock (not with _cpuslocked), registers S, runs up on every "
              "online CPU; a failure runs down on the CPUs done, unregisters, returns it. "
              "_nocalls only registers"),
    Semantics("cpuhp_remove_state(S)", "cpuhp_remove",
              "takes cpus_read_lock, runs down on every online CPU, unregisters; _nocalls "
              "only unregisters"),
    Semantics("on_each_cpu(fn) / smp_call_function_single(c, fn)", "cross_call",
              "runs fn on each CPU online at that moment (on c, if online) in IPI "
              "context; no hotplug exclusion; fn's return value is lost"),
    Semantics("vendor per-CPU enable (kvm_x86_ops hardware_enable / "
              "enable_virtualization_cpu implementation)", "enable",
              "fallible: fails on a CPU that can't enable virtualization, -EBUSY if "
              "virtualization is already on; on success sets virt on that CPU"),
    Semantics("vendor per-CPU disable", "disable", "clears virt on that CPU"),
    Semantics("register_syscore_ops / register_syscore / register_reboot_notifier / "
              "cpu_emergency_register_virt_callback", "register",
              "records the registration; its callbacks become reachable"),
    Semantics("misc_register(/dev/kvm)", "register", "from now on the user thread may run"),
    Semantics("list_add / list_del on vm_list", "list",
              "a VM exists from its list_add to its list_del"),
    Semantics("kvm_usage_count++/--, atomic_inc/dec/set/read on a global", "count",
              "shared counters, read and written as they are"),
    Semantics("__this_cpu_read/write, cpumask_test/set/clear_cpu on a per-CPU flag",
              "percpu", "KVM's per-CPU bookkeeping of the CPU the code runs on"),
    Semantics("IRQs-off contexts (IPI callbacks, STARTING/DYING callbacks, syscore "
              "callbacks)", "scheduler",
              "run to completion on their CPU: no other code runs on that CPU meanwhile"),
    Semantics("tdx_enable() / tdx_cpu_enable()", "tdx",
              "TDX module init marks TDX enabled; per-CPU init needs virtualization on "
              "that CPU (else it fails) and marks the CPU"),
    Semantics("kvm_user_return_msr_cpu_online() / drop_user_return_notifiers()", "uret",
              "snapshot / restore the CPU's user-return MSRs; only the context they run in "
              "matters to the model"),
    Semantics("list_for_each_entry over vm_list", "walk",
              "the walk is an interleaving point: the thread is a walker of vm_list until "
              "the loop ends"),
    Semantics("a call into code of the lifecycle", "call",
              "interpreted; calls that touch no lifecycle state are skipped and succeed"),
    Semantics("a branch the model can't evaluate", "branch",
              "takes the side that is not the error path (an -E... return, an error "
              "label); with failure injection, a fallible call of module init or VM "
              "creation may take the error path instead (bounded)"),
    Semantics("starting an environment operation (module init, a VM ioctl, cpu_up, a "
              "system event)", "explorer",
              "changes only the starting thread, so it runs on to its first visible event "
              "in the same step"),
)
