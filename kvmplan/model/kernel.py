"""The kernel's vocabulary as the model sees it: lock names and kinds, the
contexts code runs in, atomic operations, error pointers, the environment's
threads and system events.

One place for every engine: the interpreter and explorer (Python), the
Promela exporter and the planner import these names instead of spelling
them again."""

from __future__ import annotations

from kvmplan.graph.hooks import ONLINE, PREPARE, STARTING

# cpus_read_lock()/cpus_read_unlock() and cpu_up()/cpu_down() take this
# percpu rwsem: read side for the former, write side for the latter.
HOTPLUG_LOCK = "cpu_hotplug_lock"

# Lock events that are scopes, not locks (rcu_read_lock, preempt_disable,
# local_irq_save...): the front-end names them by their mode.
NOT_LOCKS = frozenset({"rcu", "srcu", "preempt", "irq", "irqsave", "spinlock_irqsave"})
# Lock modes taken for read (shared).
SHARED_LOCK_MODES = frozenset({"read", "rwsem_read"})
# Lock modes of a spinlock: the holder can't be preempted, stop_machine()
# waits for it.
SPIN_LOCK_MODES = frozenset({"raw_spin", "spin"})
# Lock modes whose holder may sleep.
SLEEPING_LOCK_MODES = frozenset({"mutex", "rwsem_read", "rwsem_write", "read"})

# The context of an ioctl on an existing VM (the VM-operations pass): its
# arguments are the user's, so a condition the model can't evaluate there,
# on nothing it tracks, may go either way.
VM_IOCTL = "vm_ioctl"

# Callback contexts; the innermost one a thread runs in decides what a
# primitive means there.
CONTEXTS = frozenset({STARTING, ONLINE, PREPARE, "setup", "IPI", "syscore", "reboot", "shutdown"})
# Contexts that run with IRQs off: nothing else runs on that CPU meanwhile.
IRQS_OFF = frozenset({"IPI", STARTING, "syscore"})
# Contexts of a task the scheduler may run on any CPU: module init and exit,
# a VM ioctl, the task calling cpu_up()/cpu_down() (and the PREPARE callbacks
# it runs), the reboot notifier chain, the suspend sequence. Such a step runs
# on the lowest-numbered online, active CPU no other thread holds with
# preemption or IRQs off, and waits while there is none; a task holding its
# CPU itself (a spinlock, a cross call) stays where it is. Every other
# context is bound to its CPU: an ONLINE callback or a cpuhp_setup_state()
# callback in the CPU's hotplug thread, syscore_shutdown() after
# migrate_to_reboot_cpu(), and the IRQs-off contexts above.
TASK_CONTEXTS = frozenset({"init", "exit", "ioctl", VM_IOCTL, "hotplug", PREPARE, "reboot", "pm"})

# atomic_*() on a global: the operation each performs.
ATOMIC_OPS = {"atomic_inc": "inc", "atomic_dec": "dec", "atomic_set": "set", "atomic_read": "read",
              "atomic_inc_return": "inc", "atomic_dec_return": "dec"}
# Calls whose value is an error pointer (`return ERR_PTR(r)`).
ERROR_POINTERS = frozenset({"ERR_PTR", "ERR_CAST"})
# Wrappers whose value is their first argument's.
TRANSPARENT = frozenset({"WARN_ON", "WARN_ON_ONCE", "WARN", "WARN_ONCE", "unlikely", "likely"})

# The environment threads, in the order the explorer and the Promela export
# number them.
THREADS: tuple[str, ...] = ("init", "user", "hotplug", "system")
# The system events, at most one per execution, in the order they are offered.
SYSTEM_EVENTS: tuple[str, ...] = ("reboot", "suspend", "unload")
