"""KVM006 vm-list-race: vm_list is never changed under a walker's feet."""

from __future__ import annotations

from kvmplan.rules import Rule

_WHAT = """\
A list_add() or list_del() on vm_list by one thread while another thread
is inside a list_for_each_entry() walk of vm_list. The pair is a race
when the two threads hold no common lock that excludes each other (in
KVM, that lock is kvm_lock)."""

_WHY = """\
vm_list is a plain list_head guarded by kvm_lock. A walker racing with
list_del() follows pointers into a struct kvm that is being freed; one
racing with list_add() can see a half-linked entry. Sean, 2022
(https://lore.kernel.org/r/YvU+6fdkHaqQiKxp@google.com):
kvm_arch_hardware_enable() walks vm_list to fix up unstable TSCs for
existing VMs, and it runs from the CPU-hotplug callback, which held only
the kvm_count_lock spinlock (a STARTING callback cannot take the
kvm_lock mutex); if CPU (un)plug collided with kvm_create_vm() or
kvm_destroy_vm(), it "could explode due to vm_list being modified while
it's being walked"."""

_EXAMPLE = """\
    static int kvm_starting_cpu(unsigned int cpu)    /* no kvm_lock */
    {
        struct kvm *kvm;

        list_for_each_entry(kvm, &vm_list, vm_list)
            kvm_fixup_tsc(kvm);
        return 0;
    }

    /* kvm_destroy_vm(): */
    mutex_lock(&kvm_lock);
    list_del(&kvm->vm_list);
    mutex_unlock(&kvm_lock);

Trace shape: the hotplug thread is inside the walk on CPU1 when the user
thread's list_del() runs; the finding points at the list_del() and names
the walk's location."""

_FIX = """\
Walk vm_list only with kvm_lock held (an ONLINE-section callback may
sleep and can take it), the same lock kvm_create_vm() and
kvm_destroy_vm() hold around list_add()/list_del(). Better still, keep
per-VM fixups out of the per-CPU enable path."""

RULE: Rule = Rule(
    code="KVM006",
    name="vm-list-race",
    severity="error",
    summary="vm_list is not changed while another thread walks it.",
    what=_WHAT,
    why=_WHY,
    example=_EXAMPLE,
    fix=_FIX,
    checked="model: checked at each list_add/list_del on vm_list against "
    "the walks in progress in other threads.",
)
