"""Export a scenario's model to Promela, so SPIN can check it independently
of the explorer.

The export is built from the Program (the functions' event streams and their
resolved call targets) and an environment written here and in
kvmplan/model/promela/env.pml from the model's specification
(kvmplan/model/semantics.py, docs/model.md). Nothing of the explorer or the
interpreter runs: the Promela text is a second implementation of the same
semantics, so SPIN confirms (or contradicts) the explorer's verdicts.

Modules (the vocabulary, lock modes, contexts, atomic ops, threads, comes
from kvmplan/model/kernel.py; the semantics of each event and call from
kvmplan/model/semantics.py):
- checks.py: the rules' Promela checks as the exporter reads them (RULES:
  each rule's statements at hook points), the Site and Facts they read,
  Unsupported;
- program.py: the static picture (Picture): the Promela names of what the
  program touches, the text of a process (_Proc) and of an inlined
  activation (_Inst), the encoding of values and three-valued conditions,
  the rules' statements at a hook and a step on shared state;
- events.py: Emitter inlines activations of lifecycle code, one statement
  per event, dispatched through the semantics table: handlers("event")
  names its method (lock, unlock, branch, ..., cpuhp, noop) and a call's
  target goes through handlers("call") (code, atomic, error_pointer,
  transparent, vendor, tdx, uret), the names of the interpreter's Runner;
- threads.py: the environment threads (init, user, hotplug, system) and the
  kernel procedures they run: cpu_up/cpu_down, reboot, suspend/resume,
  module unload;
- export.py: the whole text (header, env.pml, globals, the processes, init)
  and export_promela;
- spin.py: running SPIN on it and reading the rules it finds broken;
- env.pml: the fixed Promela environment (values, CPUs, TDX, VMs and the
  module, threads' operations, IRQs-off contexts and stop_machine, locks).

Shape of the Promela model:
- four processes, the environment threads: `init` runs the vendor
  module_init; `user` creates a VM once /dev/kvm is registered (and the
  module is neither unloading nor gone, tasks not frozen), then destroys it
  if it got one; `hotplug` performs up to Bounds.hotplug_events
  cpu_up/cpu_down of non-boot CPUs (none once a reboot has begun or while
  tasks are frozen); `system` performs at most one of the system events of
  Bounds.system: reboot (at any time), suspend/resume or module unload
  (once the module is live and no VM operation or hotplug runs; unload also
  needs no VM). Before they start, one CPU other than CPU0 is chosen that
  can't enable virtualization, or none. In the VM-operations pass
  (Bounds.vm_ops, exported from Program.vm_program) `user` makes up to that
  many ioctls on its VM through the VM ioctl entry before destroying it,
  the VM's followed fields are globals starting at 0, and only the rules
  of that pass's hook points (rules.VM_RULES) place statements.
- every call of interpreted code is inlined at its call site (its own labels
  and locals), so a thread is one process whose control state is its call
  stack; recursion is refused. Callbacks (IPI, cpuhp startup/teardown,
  reboot notifiers, syscore ops) are inlined where the environment runs
  them.
- one statement per event; SPIN interleaves threads between statements, a
  finer grain than the explorer's visible events, which reaches the same
  shared states. Statements touching shared state run only while no other
  thread is IRQs-off on their CPU or inside stop_machine(); once a reboot
  has handed the machine to the firmware the system thread stays the
  stopper, so no other thread touches shared state again.
- an operation of a thread (module init, a VM ioctl, a cpu_up/cpu_down, a
  system event) starts at a step of its own that marks the thread busy (the
  explorer: its frames are not empty) and ends at the step that returns from
  it. The explorer runs a start on to the operation's first visible event
  in the same transition (semantics.py: the start changes only the starting
  thread); the two differ only when that first event waits for a lock held
  by an idle thread, or another thread changes a usage counter in between
  (VM creation's KVM008 snapshot is taken at the start).
- each rule is a row of RULES: statements placed at hook points, assertions
  named by the rule code (`assertion violated KVM003`), and the global
  variables its statements keep; with `pan -c0` the search goes on after a
  violation, so one run finds every broken rule. A rule about the whole
  state space (lock-order cycles) asserts named probes instead and decides
  from the set SPIN reached.
"""

from kvmplan.model.kernel import SYSTEM_EVENTS
from kvmplan.model.promela.checks import RULES, Unsupported, check_rules
from kvmplan.model.promela.export import export_promela
from kvmplan.model.promela.spin import SpinError, SpinResult, run_spin, spin_check

__all__ = ["RULES", "SYSTEM_EVENTS", "SpinError", "SpinResult", "Unsupported", "check_rules",
           "export_promela", "run_spin", "spin_check"]
