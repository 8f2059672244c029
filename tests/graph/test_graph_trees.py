"""The hook graph on the real Debian kernel trees (issue: C front-end, points 1-2)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import pytest

from kvmplan.cparse import events as ev
from kvmplan.graph import HookGraph, build_graph
from kvmplan.graph.render import render_dot, render_json, render_mermaid
from kvmplan.graph.view import lifecycle
from kvmplan.source import SourceTree


@lru_cache(maxsize=None)
def _graph(root: str) -> HookGraph:
    return build_graph(SourceTree(Path(root)))


@pytest.fixture(scope="module")
def g61(kernel_tree) -> HookGraph:
    return _graph(str(kernel_tree("6.1")))


@pytest.fixture(scope="module")
def g612(kernel_tree) -> HookGraph:
    return _graph(str(kernel_tree("6.12")))


def _edge(g: HookGraph, caller: str, callee: str):
    found = [e for e in g.edges if e.caller == caller and e.callee == callee]
    assert found, f"no call edge {caller} -> {callee}"
    return found[0]


def test_61_init_registers_starting_state(g61: HookGraph) -> None:
    view = lifecycle(g61)
    init = [steps for entry, steps in view.sequences if entry.function == "vmx_init"]
    assert init, "vmx_init is not a module_init entry"
    callees = [s.callee for s in init[0]]
    assert "kvm_x86_vendor_init" in callees and "kvm_init" in callees
    regs = [r for r in g61.cpuhp if r.state == "CPUHP_AP_KVM_STARTING"]
    assert len(regs) == 1
    reg = regs[0]
    assert (reg.section, reg.startup, reg.teardown) == ("STARTING", "kvm_starting_cpu", "kvm_dying_cpu")
    assert reg.registered_by == "kvm_init" and reg.variant == "nocalls"
    assert reg.file == "virt/kvm/kvm_main.c"


def test_61_starting_callback_reaches_vmx_enable_through_static_call(g61: HookGraph) -> None:
    assert _edge(g61, "kvm_starting_cpu", "hardware_enable_nolock").locks_held == ("kvm_count_lock",)
    _edge(g61, "hardware_enable_nolock", "kvm_arch_hardware_enable")
    sc = _edge(g61, "kvm_arch_hardware_enable", "vmx_hardware_enable")
    assert sc.kind == "static_call" and sc.via == "vmx_x86_ops.hardware_enable"
    vmxon = g61.functions["kvm_cpu_vmxon"]
    assert any(e.kind == ev.ASM and e.name == "vmxon" for e in vmxon.events)


def test_61_vm_list_walk_inside_x86_enable(g61: HookGraph) -> None:
    fn = g61.functions["kvm_arch_hardware_enable"]
    walks = [e for e in fn.events if e.kind == ev.LOOP and e.mode == "list" and e.name == "vm_list"]
    assert walks, "no list_for_each_entry over vm_list"
    assert fn.file == "arch/x86/kvm/x86.c"


def test_612_enable_virtualization_registers_online_state_under_guard(g612: HookGraph) -> None:
    regs = [r for r in g612.cpuhp if r.state == "CPUHP_AP_KVM_ONLINE"]
    assert len(regs) == 1
    reg = regs[0]
    assert (reg.section, reg.startup, reg.teardown) == ("ONLINE", "kvm_online_cpu", "kvm_offline_cpu")
    assert reg.registered_by == "kvm_enable_virtualization"
    assert reg.locks_held == ("kvm_usage_lock",)
    fn = g612.functions["kvm_enable_virtualization"]
    guard = [e for e in fn.events if e.kind == ev.LOCK and e.name == "kvm_usage_lock"]
    assert guard and guard[0].scope == "guard"
    # the guard is released on every return
    returns = [i for i, e in enumerate(fn.events) if e.kind == ev.RETURN]
    for i in returns:
        assert "kvm_usage_lock" not in fn.events[i].locks


def test_612_reached_from_kvm_init_and_down_to_vt_ops(g612: HookGraph) -> None:
    _edge(g612, "vmx_init", "kvm_init")
    _edge(g612, "kvm_init", "kvm_init_virtualization")
    _edge(g612, "kvm_init_virtualization", "kvm_enable_virtualization")
    _edge(g612, "kvm_online_cpu", "kvm_enable_virtualization_cpu")
    _edge(g612, "kvm_enable_virtualization_cpu", "kvm_arch_enable_virtualization_cpu")
    call = _edge(g612, "kvm_arch_enable_virtualization_cpu", "vmx_enable_virtualization_cpu")
    assert call.kind == "ops_call"
    assert call.via == "vt_x86_ops.enable_virtualization_cpu"
    table = g612.tables["vt_x86_ops"][0]
    assert table.file == "arch/x86/kvm/vmx/main.c"


def test_cpuhp_sections_come_from_the_trees_header(g61: HookGraph, g612: HookGraph) -> None:
    assert g61.section_of("CPUHP_AP_KVM_STARTING") == "STARTING"
    assert "CPUHP_AP_KVM_ONLINE" not in g61.cpuhp_states
    assert g612.section_of("CPUHP_AP_KVM_ONLINE") == "ONLINE"
    assert g612.section_of("CPUHP_AP_ONLINE_DYN") == "ONLINE"
    assert g612.section_of("CPUHP_BP_PREPARE_DYN") == "PREPARE"


def test_weak_default_overridden_by_strong_definition(g612: HookGraph) -> None:
    fn = g612.functions["kvm_arch_enable_virtualization"]
    assert not fn.weak and fn.file == "arch/x86/kvm/x86.c"


def test_entries_of_both_trees(g61: HookGraph, g612: HookGraph) -> None:
    kinds61 = {(e.kind, e.function) for e in g61.entries}
    assert ("module_init", "vmx_init") in kinds61
    assert ("reboot", "kvm_reboot") in kinds61
    assert ("syscore_resume", "kvm_resume") in kinds61
    assert ("ioctl", "kvm_dev_ioctl") in kinds61
    kinds612 = {(e.kind, e.function) for e in g612.entries}
    assert ("syscore_shutdown", "kvm_shutdown") in kinds612
    assert ("emergency", "vmx_emergency_disable_virtualization_cpu") in kinds612


def test_json_schema_fields(g612: HookGraph) -> None:
    data = json.loads(render_json(g612, lifecycle(g612)))
    for key in ("functions", "calls", "cpuhp", "entries"):
        assert data[key], key
    assert set(data["functions"][0]) >= {"name", "file", "line"}
    assert set(data["calls"][0]) >= {"caller", "callee", "file", "line", "locks_held"}
    assert set(data["cpuhp"][0]) >= {"state", "section", "startup", "teardown", "variant",
                                     "registered_by", "file", "line", "locks_held"}


@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz (dot) not installed")
def test_dot_renders_with_graphviz(g61: HookGraph) -> None:
    out = subprocess.run(["dot", "-Tsvg"], input=render_dot(g61, lifecycle(g61)),
                         capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert "<svg" in out.stdout and "kvm_starting_cpu" in out.stdout


def test_mermaid_is_a_flowchart(g612: HookGraph) -> None:
    text = render_mermaid(g612, lifecycle(g612))
    assert text.startswith("flowchart LR\n")
    assert "kvm_online_cpu" in text


def test_cli_graph_entry_and_formats(kernel_tree) -> None:
    tree = kernel_tree("6.12")
    run = subprocess.run([sys.executable, "-m", "kvmplan", "graph", "--tree", str(tree),
                          "--entry", "kvm_online_cpu", "--format", "json"],
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    assert [e["function"] for e in data["entries"]] == ["kvm_online_cpu"]
    names = {f["name"] for f in data["functions"]}
    assert "vmx_enable_virtualization_cpu" in names
    again = subprocess.run([sys.executable, "-m", "kvmplan", "graph", "--tree", str(tree),
                            "--entry", "kvm_online_cpu", "--format", "json"],
                           capture_output=True, text=True, check=False)
    assert again.stdout == run.stdout


def test_cli_graph_bad_tree_is_one_line(tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, "-m", "kvmplan", "graph", "--tree", str(tmp_path)],
                         capture_output=True, text=True, check=False)
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1 and "Traceback" not in run.stderr


def test_text_view_reports_skipped_code(g612: HookGraph) -> None:
    from kvmplan.graph.render import render_text

    text = render_text(g612, lifecycle(g612))
    assert "cpuhp states" in text and "module_init: vmx_init" in text
    tail = text.split("parse diagnostics:", 1)
    assert len(tail) == 2, "skipped code must be reported"
    assert "virt/kvm/kvm_main.c:" in tail[1]
