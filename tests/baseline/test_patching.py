"""Patching a baseline gives what parsing the patched file gives (tiny tree)."""

from __future__ import annotations

from pathlib import Path

import pytest
from baseline_helpers import (
    CPUHOTPLUG,
    KVM_HOST,
    KVM_MAIN,
    TREE,
    VMX,
    X86_OPS,
    file_patches,
    structure,
    tiny_baseline,
    write_tree,
)

from kvmplan.baseline import NOT_IN_BASELINE, extract
from kvmplan.baseline.state import BaselineState
from kvmplan.diff import parse_diff
from kvmplan.graph import build_graph
from kvmplan.source import SourceTree

MAIN = "virt/kvm/kvm_main.c"
VMX_C = "arch/x86/kvm/vmx/vmx.c"


def _apply(tmp_path: Path, changes: dict[str, tuple[str | None, str | None]],
           before: dict[str, str] | None = None) -> tuple[BaselineState, Path]:
    """The baseline of `before` with the diff applied, and a tree holding the result."""
    files = dict(TREE, **(before or {}))
    state, outcomes, diags = tiny_baseline(tmp_path / "a", files).start().apply(
        file_patches(changes), "patch 1/1")
    assert diags == ()
    assert all(h.status == "exact" for o in outcomes for h in o.hunks), outcomes
    after = dict(files)
    for path, (_, text) in changes.items():
        if text is None:
            after.pop(path, None)
        else:
            after[path] = text
    return state, write_tree(tmp_path / "b", after)


def _same_as_parsed(state: BaselineState, tree: Path, *paths: str) -> None:
    real = extract(tree)
    for path in paths:
        assert structure(state.files[path].unit) == structure(real.files[path].unit), path
    graph, want = state.graph(), build_graph(SourceTree(tree))
    assert graph.functions == want.functions
    assert graph.statics == want.statics
    assert graph.cpuhp == want.cpuhp
    assert graph.entries == want.entries
    assert graph.edges == want.edges
    assert graph.bindings == want.bindings
    assert graph.x86_ops == want.x86_ops


def test_unpatched_baseline_graph_is_the_tree_graph(tmp_path: Path) -> None:
    baseline = tiny_baseline(tmp_path)
    graph, want = baseline.start().graph(), build_graph(SourceTree(tmp_path))
    assert graph.functions == want.functions and graph.edges == want.edges
    assert graph.cpuhp == want.cpuhp and graph.entries == want.entries


def test_cpuhp_state_moved_from_starting_to_online(tmp_path: Path) -> None:
    main = (KVM_MAIN.replace('cpuhp_setup_state_nocalls(CPUHP_AP_KVM_STARTING, "kvm/cpu:starting"',
                             'cpuhp_setup_state(CPUHP_AP_KVM_ONLINE, "kvm/cpu:online"')
            .replace("cpuhp_remove_state_nocalls(CPUHP_AP_KVM_STARTING)",
                     "cpuhp_remove_state_nocalls(CPUHP_AP_KVM_ONLINE)"))
    hotplug = (CPUHOTPLUG.replace("\tCPUHP_AP_KVM_STARTING,\n", "")
               .replace("\tCPUHP_AP_X86_KVM_CLK_ONLINE,\n",
                        "\tCPUHP_AP_KVM_ONLINE,\n\tCPUHP_AP_X86_KVM_CLK_ONLINE,\n"))
    state, tree = _apply(tmp_path, {MAIN: (KVM_MAIN, main),
                                    "include/linux/cpuhotplug.h": (CPUHOTPLUG, hotplug)})
    [reg] = state.graph().cpuhp
    assert (reg.state, reg.section, reg.variant) == ("CPUHP_AP_KVM_ONLINE", "ONLINE", "calls")
    _same_as_parsed(state, tree, MAIN)


def test_break_and_goto_added_inside_a_loop_outside_the_window(tmp_path: Path) -> None:
    main = KVM_MAIN.replace("\t\tprepare_cpu(cpu);\n",
                            "\t\tif (cpu_is_offline(cpu))\n\t\t\tbreak;\n"
                            "\t\tif (cpu_is_bad(cpu))\n\t\t\tgoto out_fail;\n"
                            "\t\tprepare_cpu(cpu);\n")
    state, tree = _apply(tmp_path, {MAIN: (KVM_MAIN, main)})
    _same_as_parsed(state, tree, MAIN)


def test_new_function_sees_the_file_globals(tmp_path: Path) -> None:
    new = ("static void hardware_disable_all(void)\n{\n\tmutex_lock(&kvm_lock);\n"
           "\tkvm_usage_count--;\n\tif (!kvm_usage_count)\n"
           "\t\ton_each_cpu(hardware_disable_nolock, NULL, 1);\n\tmutex_unlock(&kvm_lock);\n}\n\n")
    main = KVM_MAIN.replace("void kvm_exit(void)\n{\n",
                            new + "void kvm_exit(void)\n{\n\thardware_disable_all();\n")
    state, tree = _apply(tmp_path, {MAIN: (KVM_MAIN, main)})
    fn = state.graph().functions["hardware_disable_all"]
    assert any(e.kind == "count" and e.name == "kvm_usage_count" for e in fn.events)
    _same_as_parsed(state, tree, MAIN)


def test_function_removed_renamed_and_made_init(tmp_path: Path) -> None:
    main = (KVM_MAIN.replace("static int kvm_dying_cpu(unsigned int cpu)\n{\n\tmutex_lock(&kvm_lock);"
                             "\n\tmutex_unlock(&kvm_lock);\n\treturn 0;\n}\n\n", "")
            .replace("static int hardware_enable_all(void)",
                     "static int __init hardware_enable_everything(void)"))
    state, tree = _apply(tmp_path, {MAIN: (KVM_MAIN, main)})
    graph = state.graph()
    assert "kvm_dying_cpu" not in graph.functions and "hardware_enable_all" not in graph.functions
    assert graph.functions["hardware_enable_everything"].init
    _same_as_parsed(state, tree, MAIN)


def test_hunk_splits_a_function_in_two(tmp_path: Path) -> None:
    main = KVM_MAIN.replace("\tint cpu;\n\n\tr = cpuhp_setup_state_nocalls(",
                            "\tint cpu;\n\n\tr = setup_early();\n\treturn r;\n}\n\n"
                            "int kvm_init_late(void)\n{\n\tint r, cpu;\n\n"
                            "\tr = cpuhp_setup_state_nocalls(")
    state, tree = _apply(tmp_path, {MAIN: (KVM_MAIN, main)})
    assert state.graph().functions["kvm_init_late"].end_line > state.graph().functions[
        "kvm_init"].end_line
    _same_as_parsed(state, tree, MAIN)


def test_hunk_joins_two_functions(tmp_path: Path) -> None:
    main = KVM_MAIN.replace("\treturn 0;\n}\n\nstatic int hardware_enable_all(void)\n{\n"
                            "\tint r = 0;\n", "\tint r = 0;\n")
    assert main != KVM_MAIN
    state, tree = _apply(tmp_path, {MAIN: (KVM_MAIN, main)})
    assert "hardware_enable_all" not in state.graph().functions
    _same_as_parsed(state, tree, MAIN)


def test_else_branch_at_the_window_start(tmp_path: Path) -> None:
    before = KVM_MAIN.replace(
        "\tif (kvm_usage_count == 1) {\n\t\ton_each_cpu(hardware_enable_nolock, NULL, 1);\n\t}\n",
        "\tif (kvm_usage_count == 1) {\n\t\ton_each_cpu(hardware_enable_nolock, NULL, 1);\n"
        + "".join(f"\t\tx{i}();\n" for i in range(4))
        + "\t} else {\n" + "".join(f"\t\ty{i}();\n" for i in range(4)) + "\t}\n")
    after = before.replace("\t\ty2();\n", "\t\ty2();\n\t\tnew_call();\n")
    state, tree = _apply(tmp_path, {MAIN: (before, after)}, {MAIN: before})
    _same_as_parsed(state, tree, MAIN)


def test_ops_table_bindings_and_module_init(tmp_path: Path) -> None:
    vmx = (VMX.replace(".hardware_enable = vmx_hardware_enable,",
                       ".hardware_enable = vt_hardware_enable,\n\t.vm_destroy = vmx_vm_destroy,")
           .replace("module_init(vmx_init);", "module_init(vt_init);")
           .replace("static int __init vmx_init(void)", "static int __init vt_init(void)")
           .replace("static void vmx_hardware_disable(void)\n{\n}",
                    "static void vmx_hardware_disable(void)\n{\n\tcpu_vmxoff();\n}"))
    state, tree = _apply(tmp_path, {VMX_C: (VMX, vmx)})
    graph = state.graph()
    assert [b.function for b in graph.bindings[("kvm_x86_ops", "hardware_enable")]] == [
        "vt_hardware_enable"]
    assert ("module_init", "vt_init") in {(e.kind, e.function) for e in graph.entries}
    _same_as_parsed(state, tree, VMX_C)


def test_ifdef_opened_and_closed_in_two_hunks(tmp_path: Path) -> None:
    main = (KVM_MAIN.replace("static int kvm_dying_cpu(unsigned int cpu)\n",
                             "#ifdef CONFIG_KVM_NOT_SET\nstatic int kvm_dying_cpu(unsigned int cpu)\n")
            .replace("int kvm_init(unsigned", "#endif\n\nint kvm_init(unsigned"))
    state, tree = _apply(tmp_path, {MAIN: (KVM_MAIN, main)})
    functions = state.graph().functions
    assert "kvm_dying_cpu" not in functions and "hardware_enable_all" not in functions
    assert "kvm_starting_cpu" in functions
    _same_as_parsed(state, tree, MAIN)


def test_header_facts_follow_the_patch(tmp_path: Path) -> None:
    ops = X86_OPS + "KVM_X86_OP(check_processor_compatibility)\n"
    host = KVM_HOST.replace("#define KVM_ARCH_WANT_MMU_NOTIFIER\n",
                            "#define KVM_ARCH_WANT_MMU_NOTIFIER\n#define KVM_HAVE_NEW_THING 1\n")
    state, tree = _apply(tmp_path, {"arch/x86/include/asm/kvm-x86-ops.h": (X86_OPS, ops),
                                    "arch/x86/include/asm/kvm_host.h": (KVM_HOST, host)})
    assert state.graph().x86_ops["check_processor_compatibility"] == "KVM_X86_OP"
    assert state.configs.parse.values.get("KVM_HAVE_NEW_THING") == "1"
    _same_as_parsed(state, tree, "arch/x86/include/asm/kvm_host.h")


def test_new_and_deleted_files(tmp_path: Path) -> None:
    new = "static int __init vt_init(void)\n{\n\treturn vmx_init();\n}\nmodule_init(vt_init);\n"
    state, tree = _apply(tmp_path, {"arch/x86/kvm/vmx/main.c": (None, new),
                                    VMX_C: (VMX, None)})
    assert VMX_C not in state.files and "arch/x86/kvm/vmx/main.c" in state.files
    _same_as_parsed(state, tree, "arch/x86/kvm/vmx/main.c")


def test_what_is_not_applied_is_said(tmp_path: Path) -> None:
    start = tiny_baseline(tmp_path).start()
    vmx = VMX.replace("\tkvm_exit();\n", "\tkvm_exit();\n\tvmx_cleanup();\n")
    stale = VMX.replace("static void vmx_exit(void)\n{\n", "static void vmx_exit(void)\n{\n\tgone();\n")
    patches = file_patches({
        "arch/arm64/kvm/arm.c": ("int a;\n", "int b;\n"),
        VMX_C: (stale, vmx),
    })
    traversal, _ = parse_diff("--- a/../../etc/passwd\n+++ b/../../etc/passwd\n@@ -1 +1 @@\n-x\n+y\n")
    state, outcomes, diags = start.apply(patches + traversal, "patch 2/5")
    skipped = {o.path: o.skipped for o in outcomes}
    assert skipped["arch/arm64/kvm/arm.c"] == NOT_IN_BASELINE
    assert skipped["../../etc/passwd"] == "unsafe path"
    [vmx_outcome] = [o for o in outcomes if o.path == VMX_C]
    assert [h.status for h in vmx_outcome.hunks] == ["failed"]
    texts = [d.text for d in diags]
    assert any(d.severity == "error" and "etc/passwd" in d.text for d in diags)
    assert any(t.startswith(f"patch 2/5: {VMX_C}:") and "hunk #1 does not apply" in t
               for t in texts), texts
    assert state.key() == start.key()


def test_key_is_a_content_hash(tmp_path: Path) -> None:
    start = tiny_baseline(tmp_path).start()
    vmx = VMX.replace("\tkvm_exit();\n", "\tkvm_exit();\n\tvmx_cleanup();\n")
    one, _, _ = start.apply(file_patches({VMX_C: (VMX, vmx)}))
    other, _, _ = start.apply(file_patches({VMX_C: (VMX, vmx)}, context=1))
    assert one.key() == other.key() != start.key()
    doc_only, _, _ = one.apply(file_patches({"Documentation/virt/kvm/api.rst": ("a\n", "b\n")}))
    assert doc_only.key() == one.key()


@pytest.mark.parametrize("text", ["", "garbage", "@@ -1,3 +1,3 @@\n-}\n+{\n"])
def test_garbage_diffs_do_not_raise(tmp_path: Path, text: str) -> None:
    start = tiny_baseline(tmp_path).start()
    patches, _ = parse_diff(f"--- a/{MAIN}\n+++ b/{MAIN}\n{text}")
    start.apply(patches)
