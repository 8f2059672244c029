"""KVM008 unwind: a failure path leaves nothing behind."""

from __future__ import annotations

from kvmplan.rules import Rule

_WHAT = """\
With failure injection (--failures N), any fallible call in module init
or VM creation may fail. When a failed module init (or a failed
kvm_create_vm()) returns, nothing it did may remain: no registration
(cpuhp state, syscore ops, reboot notifier, /dev/kvm), no change of
kvm_usage_count, no VM on vm_list, no CPU with virtualization it turned
on."""

_WHY = """\
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
__module_get(): the open /dev/kvm file already pins the module."""

_EXAMPLE = """\
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
lists what is left: the VM on vm_list."""

_FIX = """\
Unwind in exact reverse order, one label per completed step. Put
fallible steps before the step that publishes the object (list_add(),
misc_register()), or make their failure path withdraw the publication
first."""

RULE: Rule = Rule(
    code="KVM008",
    name="unwind",
    severity="warning",
    summary="A failed init or VM creation undoes everything it did.",
    what=_WHAT,
    why=_WHY,
    example=_EXAMPLE,
    fix=_FIX,
    checked="model, with --failures N: checked when a failing module init "
    "or VM creation returns; only calls the model treats as fallible fail.",
)
