"""KVM015 vcpu-config-frozen, warning: VM-wide vCPU parameters freeze once the first vCPU exists.

## What it checks

A VM-wide parameter that sizes or shapes per-vCPU state, such as
max_vcpu_id (KVM_CAP_MAX_VCPU_ID), does not change once the first vCPU
exists, and per-VM state sized by it is allocated under kvm->lock,
serialized with vCPU creation.

## Why it matters

Sean, 2022, reviewing VMX IPI virtualization
(https://lore.kernel.org/r/YksxiAnNmdR2q65S@google.com):
"max_vcpu_id absolutely needs to be constant after the first vCPU is
created". The PID table is indexed by vCPU ID and sized from
max_vcpu_id, which userspace sets after VM creation, so it could only be
allocated at vCPU creation; there kvm_arch_vcpu_precreate() was not
under kvm->lock, and two vCPU creations, or a late KVM_ENABLE_CAP, could
race on the table and its size. kvm_arch_vcpu_precreate() was then moved
under kvm->lock, and the table is allocated from it.

## Example

    static int vmx_create_vcpu(struct kvm_vcpu *vcpu)
    {
        ...
        /* every vCPU, sized by max_vcpu_ids, no kvm->lock */
        if (vmx_can_use_ipiv(vcpu->kvm))
            vmx_alloc_pid_table(to_kvm_vmx(vcpu->kvm));
        ...
    }

The model reports nothing here: it does not run vCPU creation.

## How to fix

Accept the parameter only before the first vCPU, or only once, checked
under kvm->lock (as KVM_CAP_MAX_VCPU_ID is now set once). Allocate state
sized by it in kvm_arch_vcpu_precreate(), which runs under kvm->lock.

## How kvmplan checks it

not checked: the model has no vCPU-creation ioctls; planned for series
analysis of diffs (a VM-wide parameter such as max_vcpu_id written after
vCPUs exist or without kvm->lock).

## What it cannot see

Everything: the model runs no VM ioctl and no vCPU creation yet.
"""

from __future__ import annotations

from kvmplan.model.rules.base import Rule


RULE: Rule = Rule.from_doc(__doc__)

# Not checked yet: the model runs no vCPU-creation ioctl (RULE.checked).
CHECK = None
PROMELA = None
