"""Detectors on hand-edited copies of the 6.1 tree (in memory): the shapes
the steps take when written as the seed and the later patches wrote them,
not as our stages rewrite them."""

from __future__ import annotations

from kvmplan.graph import build_graph
from kvmplan.plan import DONE, NOT_DONE, PARTIAL
from kvmplan.plan.detect import detect_add_vm, detect_uret
from kvmplan.plan.roles import Facts
from kvmplan.source import SourceTree


def _edit(tree: SourceTree, path: str, *pairs: tuple[str, str]) -> SourceTree:
    data = tree.read(path)
    assert data is not None
    text = data.decode()
    for old, new in pairs:
        assert old in text, old
        text = text.replace(old, new, 1)
    return tree.with_overlay({path: text.encode()})


def _facts(tree: SourceTree) -> Facts:
    return Facts(build_graph(tree))


def test_step1_guard_inside_the_snapshot_counts_as_first_use(kernel_tree) -> None:
    """"KVM: x86: Drop kvm_user_return_msr_cpu_online()" (TDX v8 prep) shape:
    the setter always calls the snapshot, which returns early once done."""
    tree = _edit(SourceTree(kernel_tree("6.1")), "arch/x86/kvm/x86.c", (
        ("static void kvm_user_return_msr_cpu_online(void)\n{\n"
         "\tunsigned int cpu = smp_processor_id();\n"
         "\tstruct kvm_user_return_msrs *msrs = per_cpu_ptr(user_return_msrs, cpu);\n"
         "\tu64 value;\n\tint i;\n"),
        ("static void kvm_user_return_msr_init_cpu(struct kvm_user_return_msrs *msrs)\n{\n"
         "\tu64 value;\n\tint i;\n\n\tif (msrs->initialized)\n\t\treturn;\n")), (
        ("\tstruct kvm_user_return_msrs *msrs = per_cpu_ptr(user_return_msrs, cpu);\n"
         "\tint err;\n"),
        ("\tstruct kvm_user_return_msrs *msrs = per_cpu_ptr(user_return_msrs, cpu);\n"
         "\tint err;\n\n\tkvm_user_return_msr_init_cpu(msrs);\n")), (
        "\tkvm_user_return_msr_cpu_online();\n", ""))
    a = detect_uret(_facts(tree))
    assert a.status == DONE, a
    assert "first use" in a.evidence[0].text


def test_step1_snapshot_in_both_places_is_partial(kernel_tree) -> None:
    tree = _edit(SourceTree(kernel_tree("6.1")), "arch/x86/kvm/x86.c", (
        ("\tstruct kvm_user_return_msrs *msrs = per_cpu_ptr(user_return_msrs, cpu);\n"
         "\tint err;\n"),
        ("\tstruct kvm_user_return_msrs *msrs = per_cpu_ptr(user_return_msrs, cpu);\n"
         "\tint err;\n\n\tif (!msrs->initialized)\n\t\tkvm_user_return_msr_cpu_online();\n")))
    assert detect_uret(_facts(tree)).status == PARTIAL


def test_step4_as_the_seed_sketches_it(kernel_tree) -> None:
    tree = SourceTree(kernel_tree("6.1"))
    tree = _edit(tree, "virt/kvm/kvm_main.c", (
        ("\tr = kvm_arch_post_init_vm(kvm);\n\tif (r)\n\t\tgoto out_err;\n\n"
         "\tmutex_lock(&kvm_lock);\n\tlist_add(&kvm->vm_list, &vm_list);\n"
         "\tmutex_unlock(&kvm_lock);\n"),
        ("\tmutex_lock(&kvm_lock);\n\tcpus_read_lock();\n"
         "\tr = kvm_arch_add_vm(kvm, kvm_usage_count);\n\tif (r)\n\t\tgoto out_final;\n"
         "\tlist_add(&kvm->vm_list, &vm_list);\n\tcpus_read_unlock();\n"
         "\tmutex_unlock(&kvm_lock);\n")), (
        "int __weak kvm_arch_post_init_vm(struct kvm *kvm)\n",
        "int __weak kvm_arch_add_vm(struct kvm *kvm, int usage_count)\n"))
    tree = _edit(tree, "arch/x86/kvm/x86.c", (
        "int kvm_arch_post_init_vm(struct kvm *kvm)\n",
        "int kvm_arch_add_vm(struct kvm *kvm, int usage_count)\n"))
    a = detect_add_vm(_facts(tree))
    assert a.status == DONE, a
    assert any("under cpus_read_lock(), kvm_lock" in e.text for e in a.evidence)


def test_step4_renamed_only_is_partial(kernel_tree) -> None:
    tree = SourceTree(kernel_tree("6.1"))
    tree = _edit(tree, "virt/kvm/kvm_main.c",
                 ("\tr = kvm_arch_post_init_vm(kvm);\n", "\tr = kvm_arch_add_vm(kvm);\n"),
                 ("int __weak kvm_arch_post_init_vm(struct kvm *kvm)\n",
                  "int __weak kvm_arch_add_vm(struct kvm *kvm)\n"))
    a = detect_add_vm(_facts(tree))
    assert a.status == PARTIAL and [c.met for c in a.criteria] == [True, False, False]
    assert detect_add_vm(_facts(SourceTree(kernel_tree("6.1")))).status == NOT_DONE
