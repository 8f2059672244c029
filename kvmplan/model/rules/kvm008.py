"""KVM008 unwind, warning: A failed init or VM creation undoes everything it did.

## What it checks

Any fallible step of module init or VM creation may fail (one at a time,
in the failure pass that every check runs; with --failures N, also among
the interleavings). When a failed module init (or a failed
kvm_create_vm()) returns, nothing it did may remain: no registration
(cpuhp state, syscore ops, reboot notifier, emergency callback, a debugfs
directory kept in a global, /dev/kvm), no change of kvm_usage_count, no
VM on vm_list, no CPU with virtualization it turned on.

## Why it matters

After a failed init the module's text and data are freed, so a leftover
registration is a call into freed memory at the next CPU hotplug,
suspend or reboot. A leaked usage count keeps virtualization on for good
(KVM002), and a freed struct kvm still on vm_list is a use-after-free
for every walker. Sean, 2022
(https://lore.kernel.org/r/YvU+6fdkHaqQiKxp@google.com):
commit 5f6de5cbebee ("KVM: Prevent module exit until all VMs are freed")
added a try_module_get() failure exit to kvm_create_vm() after the VM
was already on vm_list and kvm_arch_post_init_vm() had run, and unwound
neither. Later trees take the reference unconditionally with
__module_get(): the open /dev/kvm file already pins the module.

## Example

    struct kvm *kvm_create_vm(unsigned long type)
    {
        ...
        mutex_lock(&kvm_lock);
        list_add(&kvm->vm_list, &vm_list);
        mutex_unlock(&kvm_lock);

        if (!try_module_get(kvm_chardev_ops.owner)) {
            r = -ENODEV;
            goto out_err;        /* kvm freed, still on vm_list */
        }

Trace shape: init completes; the user thread creates a VM; the injected
failure takes the -ENODEV exit; the finding points at the return and
lists what is left: the VM on vm_list.

## How to fix

Unwind in exact reverse order, one label per completed step. Put
fallible steps before the step that publishes the object (list_add(),
misc_register()), or make their failure path withdraw the publication
first.

## How kvmplan checks it

model: checked when a failing module init or VM creation returns. The
failure pass runs module init and then VM creation and destruction alone
(no hotplug, no system event) with one injected failure: a registration
whose result the caller keeps (misc_register(), ...), a cpuhp callback, the
vendor enable on one CPU, or a branch on an unknown value that leads to an
error exit.

## What it cannot see

Failures only where the model injects them; a failure during a
concurrent hotplug or system event unless --failures N asks for it; what
init leaves in sysfs, in allocated memory or in a debugfs entry not kept
in a global (only registrations, cpuhp states, VMs, usage counts and
virtualization are checked).

## Messages

- create: VM creation failed but leaves behind: {changed}
- init: module init failed but leaves behind: {left}
"""

from __future__ import annotations

from kvmplan.model.rules.base import (
    At, Check, Facts, Report, Rule, RuleCheck, Site, broken, comment, facts, leftovers,
)
from kvmplan.model.world import counters
from kvmplan.model.world import left_items


RULE: Rule = Rule.from_doc(__doc__)

# Bookkeeping: Thread.snap of the user thread, the usage counters when its VM
# creation began.


def init_done(at: At) -> list[Report]:
    """Module init failed (the module is gone) and left something behind:
    one report per thing left, where the code does it (so that a series
    that undoes one of them fixes that one), else at module init."""
    if at.world.module != "gone":
        return []
    return [Report(RULE.say("init", left=text), site=at.program.done_at(item))
            for text, item in left_items(at.program, at.world)]


def vm_create_begin(at: At) -> list[Report]:
    assert at.thread is not None
    at.thread.snap = counters(at.program, at.world)
    return []


def vm_create_end(at: At) -> list[Report]:
    """VM creation failed (once module init is done) and left a usage
    counter changed or a VM of its own on vm_list."""
    t, w = at.thread, at.world
    assert t is not None
    if t.retval != "err" or not w.thread("init").done:
        return []
    changed = [f"{name} {before} -> {w.globals.get(name, 0)}"
               for name, before in t.snap if w.globals.get(name, 0) != before]
    if t.owns_vm:
        changed.append("the VM stays on vm_list")
    return [Report(RULE.say("create", changed="; ".join(changed)))] if changed else []


CHECK = Check({"init_done": init_done, "vm_create_begin": vm_create_begin,
               "vm_create_end": vm_create_end})


def _promela_decls(f: Facts) -> list[str]:
    return [f"int snap_{var};  /* KVM008: {comment(name)} when the VM creation began */"
            for name, var in f.counters]


def _promela_create_begin(s: Site) -> list[str]:
    return [f"snap_{var} = {var}" for _, var in facts(s).counters]


def _promela_create_end(s: Site) -> list[str]:
    counters = facts(s).counters
    changed = " || ".join([f"{var} != snap_{var}" for _, var in counters] + [f"{s.owned} > 0"])
    return (broken("KVM008", f"{s.result} == V_ERR && module_state != MOD_LOADING && ({changed})")
            + [f"snap_{var} = 0" for _, var in counters])


def _promela_init_done(s: Site) -> list[str]:
    return broken("KVM008", f"{s.result} == V_ERR && ({leftovers(facts(s), True)})")


PROMELA = RuleCheck("KVM008", "a failed module init leaves nothing behind; a failed VM "
                    "creation (after init) leaves the usage counters as they were and no VM "
                    "of its own on vm_list",
                    (("vm_create_begin", _promela_create_begin),
                     ("vm_create_end", _promela_create_end), ("init_done", _promela_init_done)),
                    decls=_promela_decls)
