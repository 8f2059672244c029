"""Fields of the VM: the front-end names a field reached through the VM
(a `struct kvm *`, or a vCPU's `kvm` member: grammars/objects.txt) by the
VM, so the model can follow it; a field of anything else, or of an object
the VM points to, is not one."""

from __future__ import annotations

from kvmplan.cparse import events as ev
from kvmplan.cparse.config import default_config
from kvmplan.cparse.unit import parse_file

SRC = """
struct kvm_vcpu { struct kvm *kvm; };

static int f(struct kvm *kvm, struct kvm_vcpu *vcpu, struct kvm_enable_cap *cap,
	     struct other *o)
{
	struct kvm *k = vcpu->kvm;

	if (!kvm->arch.max_vcpu_ids)
		kvm->arch.max_vcpu_ids = KVM_MAX_VCPU_IDS;
	if (vcpu->vcpu_id >= vcpu->kvm->arch.max_vcpu_ids)
		return -EINVAL;
	kvm->created_vcpus++;
	k->arch.y |= 3;
	kvm->arch.x = g(kvm);
	cap->args[0] = 1;
	o->kvm = 0;
	kvm->mmu->root = 0;
	if (k->dirty_ring_size > cap->args[0])
		return 1;
	return 0;
}
"""


def _events() -> list[ev.Event]:
    [fn] = parse_file("virt/kvm/x.c", SRC.encode(), default_config()).functions
    return list(fn.events)


def test_fields_of_the_vm_are_named_by_the_vm() -> None:
    events = _events()
    writes = [(e.kind, e.name, e.value, e.mode) for e in events if e.scope == "vm"]
    assert writes[:3] == [
        (ev.ASSIGN, "kvm->arch.max_vcpu_ids", "KVM_MAX_VCPU_IDS", ""),
        (ev.COUNT, "kvm->created_vcpus", "old", "inc"),
        (ev.ASSIGN, "kvm->arch.y", "?", ""),
    ]
    # a call's result, through its temporary
    [call] = [e for e in events if e.kind == ev.CALL and e.name == "g"]
    assert writes[3] == (ev.ASSIGN, "kvm->arch.x", call.slot, "") and call.args == ("kvm",)
    assert len(writes) == 4
    conds = [e.cond for e in events if e.kind == ev.BRANCH]
    assert conds[0] == ("not", ("global", "kvm->arch.max_vcpu_ids"))
    assert conds[1][:2] == ("cmp", ">=") and conds[1][3] == ("global", "kvm->arch.max_vcpu_ids")
    assert conds[2][2] == ("global", "kvm->dirty_ring_size")


def test_write_once_is_an_assignment_and_arguments_name_fields_by_the_vm() -> None:
    src = """
static void h(struct kvm_vcpu *vcpu, unsigned long arg)
{
	WRITE_ONCE(vcpu->kvm->arch.default_tsc_khz, arg);
	kvm_set_tsc_khz(vcpu, vcpu->kvm->arch.default_tsc_khz);
}
"""
    [fn] = parse_file("arch/x86/kvm/x86.c", (SRC.split("static int f")[0] + src).encode(),
                      default_config()).functions
    kinds = [(e.kind, e.name, e.value, e.scope, e.args) for e in fn.events[:2]]
    assert kinds == [(ev.ASSIGN, "kvm->arch.default_tsc_khz", "arg", "vm", ()),
                     (ev.CALL, "kvm_set_tsc_khz", "", "", ("vcpu", "kvm->arch.default_tsc_khz"))]


def test_other_fields_are_not_the_vms() -> None:
    events = _events()
    names = {e.name for e in events if e.kind in (ev.ASSIGN, ev.COUNT)}
    # a field of the ioctl's argument, of another struct, of an object the VM points to
    assert not names & {"cap->args[0]", "kvm->args[0]", "kvm->kvm", "kvm->mmu->root", "kvm->root"}
    assert not any(e.scope == "vm" and "mmu" in e.name for e in events)
