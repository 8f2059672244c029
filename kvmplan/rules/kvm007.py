"""KVM007 lock-order: no lock cycle, no recursive cpus_read_lock()."""

from __future__ import annotations

from kvmplan.rules import Rule

_WHAT = """\
Three ways to deadlock:
  (a) cpus_read_lock() taken again by a thread that already holds it;
  (b) a mutex or spinlock taken again by the thread holding it, e.g. a
      cpuhp callback taking a lock its registrant holds while
      cpuhp_setup_state() runs the callback;
  (c) a cycle in the lock-order graph recorded over all explored
      executions: edge A -> B when B is acquired with A held, where
      cpu_up()/cpu_down() hold cpu_hotplug_lock for write around every
      callback they run.
A cycle is printed lockdep-style: each edge with the function and
file:line where each lock was taken, then the two-CPU scenario (CPU0
holds A and wants B, CPU1 holds B and wants A)."""

_WHY = """\
cpu_hotplug_lock is a percpu rwsem: once a writer (cpu_up/cpu_down)
waits, new readers block, so a thread that takes cpus_read_lock() twice
deadlocks with any hotplug attempt. The hotplug core holds it for write
while it runs every callback, so any lock a cpuhp callback takes ranks
below cpu_hotplug_lock and must never be held while taking
cpus_read_lock(), directly or through cpuhp_setup_state(),
static_call_update() or a static key update. In the 2024 TDX review
(https://lore.kernel.org/r/461b78c38ffb3e59229caa806b6ed22e2c847b77.camel@intel.com),
holding cpus_read_lock() across all of vt_init() was rejected because
static_call_update() takes it again. In 2024 KVM stopped taking kvm_lock
in the hotplug path and gave kvm_usage_count its own kvm_usage_lock
("KVM: Add a dedicated mutex to manage kvm_usage_count to avoid
deadlock")."""

_EXAMPLE = """\
    /* cpu_up() runs this holding cpu_hotplug_lock for write */
    static int kvm_online_cpu(unsigned int cpu)
    {
        mutex_lock(&kvm_lock);    /* cpu_hotplug_lock -> kvm_lock */
        ...
    }

    static int kvm_enable_all(void)
    {
        mutex_lock(&kvm_lock);
        cpus_read_lock();         /* kvm_lock -> cpu_hotplug_lock */
        ...
    }

Shape of the report:

    x.c:11: error: KVM007 lock-order: cycle kvm_lock -> cpu_hotplug_lock
      -> kvm_lock
      kvm_lock -> cpu_hotplug_lock
        kvm_lock taken in kvm_enable_all() x.c:10
        cpu_hotplug_lock taken in kvm_enable_all() x.c:11
      cpu_hotplug_lock -> kvm_lock
        cpu_hotplug_lock taken for write by cpu_up (kernel: cpu hotplug core)
        kvm_lock taken in kvm_online_cpu() x.c:4
      scenario:
        CPU0: lock(kvm_lock); lock(cpu_hotplug_lock)
        CPU1: lock(cpu_hotplug_lock); lock(kvm_lock)"""

_FIX = """\
Keep one order. Take cpus_read_lock() before any lock the cpuhp
callbacks take, and use the _cpuslocked variants
(cpuhp_setup_state_cpuslocked(), static_branch_enable_cpuslocked()) when
it is already held. A lock held around cpuhp_setup_state() (as 6.12
holds kvm_usage_lock) must not be taken by the callbacks it registers."""

RULE: Rule = Rule(
    code="KVM007",
    name="lock-order",
    severity="error",
    summary="One lock order; no recursive cpus_read_lock() or self-deadlock.",
    what=_WHAT,
    why=_WHY,
    example=_EXAMPLE,
    fix=_FIX,
    checked="model: (a) and (b) at each acquisition; (c) as a cycle search "
    "over the lock-order graph of all explored executions.",
)
