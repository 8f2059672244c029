"""KVM015 vcpu-config-frozen, warning: VM-wide vCPU parameters freeze once the first vCPU exists.

## What it checks

A field of the VM that vCPU creation reads, and so sizes or shapes the
vCPU by (kvm->arch.max_vcpu_ids bounds the vCPU IDs and sizes per-VM
tables indexed by them), is not changed by another VM ioctl once a vCPU
that read it exists: the ioctl refuses once a vCPU exists
(kvm->created_vcpus), or accepts the value only once.

## Why it matters

Kai Huang, 2025, "KVM: x86: Reject KVM_SET_TSC_KHZ VM ioctl when vCPUs
have been created" (merged for 6.17): "The VM scope KVM_SET_TSC_KHZ ioctl
is used to set up the default TSC frequency that all subsequently created
vCPUs can use. It is only intended to be called before any vCPU is
created." kvm_arch_vcpu_create() reads kvm->arch.default_tsc_khz; before
the fix the VM ioctl could change it at any time.

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

    case KVM_CAP_MAX_VCPU_ID:
        r = -EINVAL;
        if (cap->args[0] <= KVM_MAX_VCPU_IDS) {
            kvm->arch.max_vcpu_ids = cap->args[0];   /* vCPUs may exist */
            r = 0;
        }
        break;

Trace shape: the user creates a VM, creates a vCPU (kvm_arch_vcpu_precreate()
reads kvm->arch.max_vcpu_ids), then KVM_ENABLE_CAP(KVM_CAP_MAX_VCPU_ID)
writes a new value; the finding points at that write and names the read.

## How to fix

Accept the parameter only before the first vCPU, or only once, checked
under kvm->lock (as KVM_CAP_MAX_VCPU_ID is now set once). Allocate state
sized by it in kvm_arch_vcpu_precreate(), which runs under kvm->lock.

## How kvmplan checks it

model, VM-operations pass: after module init, the user creates a VM and
makes up to two ioctls on it through the VM ioctl entry (kvm_vm_ioctl: any
of its cases, vCPU creation included), a condition the model can't
evaluate on nothing it tracks going both ways (the user's arguments). The
model follows the fields of the VM that vCPU creation reads and some
other VM ioctl writes (Program.vm_fields, from 0: the VM is allocated
zeroed) and reports a write by an ioctl other than vCPU creation that
changes one a created vCPU has read.

## What it cannot see

Fields of the vendor's VM struct (to_kvm_vmx(kvm)->x) and of objects the
VM points to; reads inside a larger expression (`kvm->x - 1`, a call's
argument that is not the field itself: only conditions, plain
assignments and arguments count); reads by code that also runs after
vCPU creation (a reset, an MSR write, KVM_RUN: the new value takes effect
there, so only code that runs just at vCPU creation counts); values of
named constants
(an unknown value, so a write of one counts as a change); two ioctls
racing on the VM (the pass runs them one after the other: a missing
kvm->lock is not seen); vCPU ioctls (KVM_RUN, KVM_SET_CPUID) and
userspace-visible state other than the VM's fields.

## Messages

- changed: a VM ioctl changes {field} after a vCPU was created that read it
  at {fn}() {file}:{line}: the vCPUs created before keep what the old value
  made them
"""

from __future__ import annotations

from kvmplan.model.rules.base import At, Check, Facts, Report, Rule, RuleCheck, Site, broken, facts


RULE: Rule = Rule.from_doc(__doc__)

# Bookkeeping: World.vcpu_pending, the fields (with the site of their first
# read) the vCPU creation in progress has read; World.vcpu_frozen, those a
# created vCPU has read.


def field_read(at: At) -> list[Report]:
    w = at.world
    if at.kind == "vcpu_create" and all(item[0] != at.name for item in w.vcpu_pending):
        w.vcpu_pending = tuple(sorted(w.vcpu_pending + ((at.name, *at.site),)))
    return []


def vcpu_create_end(at: At) -> list[Report]:
    """A vCPU exists once its creation returned success: what it read is frozen."""
    w = at.world
    if at.outcome == "done":
        known = {item[0] for item in w.vcpu_frozen}
        w.vcpu_frozen = tuple(sorted(w.vcpu_frozen + tuple(
            item for item in w.vcpu_pending if item[0] not in known)))
    w.vcpu_pending = ()
    return []


def field_write(at: At) -> list[Report]:
    if at.kind == "vcpu_create" or at.outcome != "changes":
        return []
    for name, fn, file, line in at.world.vcpu_frozen:
        if name == at.name:
            return [Report(RULE.say("changed", field=name, fn=fn, file=file, line=line))]
    return []


CHECK = Check({"field_read": field_read, "vcpu_create_end": vcpu_create_end,
               "field_write": field_write})


def _promela_decls(f: Facts) -> list[str]:
    n = max(len(f.vm_fields), 1)
    return [f"bit vcpu_read[{n}];  /* KVM015: the vCPU creation in progress read this field */",
            f"bit vcpu_frozen[{n}];  /* KVM015: a created vCPU read this field */"]


def _index(s: Site) -> int:
    return facts(s).vm_fields.index(s.field)


def _promela_read(s: Site) -> list[str]:
    return [f"vcpu_read[{_index(s)}] = 1"] if s.creating else []


def _promela_create_end(s: Site) -> list[str]:
    n = len(facts(s).vm_fields)
    keep = [f"if :: {s.result} != V_ERR -> vcpu_frozen[{i}] = vcpu_frozen[{i}] | vcpu_read[{i}] "
            ":: else -> skip fi" for i in range(n)]
    return keep + [f"vcpu_read[{i}] = 0" for i in range(n)]


def _promela_write(s: Site) -> list[str]:
    if s.creating:
        return []
    return broken("KVM015", f"vcpu_frozen[{_index(s)}] && ({s.changes})")


PROMELA = RuleCheck("KVM015", "no VM ioctl other than vCPU creation changes a field of the VM "
                    "a created vCPU has read",
                    (("field_read", _promela_read), ("vcpu_create_end", _promela_create_end),
                     ("field_write", _promela_write)), decls=_promela_decls)
