"""KVM006 vm-list-race, error: vm_list is not changed while another thread walks it.

## What it checks

A list_add() or list_del() on vm_list by one thread while another thread
is inside a list_for_each_entry() walk of vm_list. The pair is a race
when the two threads hold no common lock that excludes each other (in
KVM, that lock is kvm_lock).

## Why it matters

vm_list is a plain list_head guarded by kvm_lock. A walker racing with
list_del() follows pointers into a struct kvm that is being freed; one
racing with list_add() can see a half-linked entry. Sean, 2022
(https://lore.kernel.org/r/YvU+6fdkHaqQiKxp@google.com):
kvm_arch_hardware_enable() walks vm_list to fix up unstable TSCs for
existing VMs, and it runs from the CPU-hotplug callback, which held only
the kvm_count_lock spinlock (a STARTING callback cannot take the
kvm_lock mutex); if CPU (un)plug collided with kvm_create_vm() or
kvm_destroy_vm(), it "could explode due to vm_list being modified while
it's being walked".

## Example

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
the walk's location.

## How to fix

Walk vm_list only with kvm_lock held (an ONLINE-section callback may
sleep and can take it), the same lock kvm_create_vm() and
kvm_destroy_vm() hold around list_add()/list_del(). Better still, keep
per-VM fixups out of the per-CPU enable path.

## How kvmplan checks it

model: checked at each list_add/list_del on vm_list against the walks in
progress in other threads.

## What it cannot see

Walks and updates of other VM collections (an xarray, an idr, an RCU list
walked under rcu_read_lock only); a second VM (the model has one); walks
over per-VM state.

## Messages

- race: {verb} {list} while the {walker} thread walks it in {fn}() at
  {file}:{line} with no lock in common
"""

from __future__ import annotations

from kvmplan.model.rules.base import At, Check, Facts, Report, Rule, RuleCheck, Site, broken


RULE: Rule = Rule.from_doc(__doc__)

# Bookkeeping: World.walkers, (thread, function, file, line) of each walk of
# vm_list in progress.


def walk_begin(at: At) -> list[Report]:
    assert at.thread is not None
    walkers = tuple(at.world.walkers or ())
    at.world.walkers = tuple(sorted(walkers + ((at.thread.name,) + at.site,)))
    return []


def walk_end(at: At) -> list[Report]:
    assert at.thread is not None
    me = at.thread.name
    at.world.walkers = tuple(x for x in (at.world.walkers or ()) if x[0] != me)
    return []


def list_op(at: At) -> list[Report]:
    assert at.thread is not None
    for walker, fn, file, line in at.world.walkers or ():
        if walker != at.thread.name:
            return [Report(RULE.say("race", verb=at.verb, list=at.name, walker=walker,
                                                   fn=fn, file=file, line=line))]
    return []


CHECK = Check({"walk_begin": walk_begin, "walk_end": walk_end, "list_op": list_op})


def _promela_decls(f: Facts) -> list[str]:
    return ["byte walkers;  /* KVM006: threads walking vm_list */"]


def _promela_walk_begin(s: Site) -> list[str]:
    return [f"walkers = walkers | BIT({s.thread})"]


def _promela_walk_end(s: Site) -> list[str]:
    return [f"walkers = walkers & ~BIT({s.thread})"]


def _promela_list(s: Site) -> list[str]:
    return broken("KVM006", f"(walkers & ~BIT({s.thread})) != 0")


PROMELA = RuleCheck("KVM006", "no thread adds to or deletes from vm_list while another one "
                    "walks it",
                    (("walk_begin", _promela_walk_begin), ("walk_end", _promela_walk_end),
                     ("list_op", _promela_list)), decls=_promela_decls)
