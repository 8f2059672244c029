"""Functions defined more than once: the graph records the strong global
definitions its selection rules do not choose between (HookGraph.ambiguous),
takes the one whose file sorts first whatever order the files come in, and
records none of the ways the kernel links a name twice (VMX and SVM, a
__weak default and its override, a header stub, static functions)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kvmplan.cparse.config import default_config
from kvmplan.cparse.events import FileUnit
from kvmplan.cparse.unit import parse_file
from kvmplan.graph import GraphOptions, HookGraph, build_graph
from kvmplan.graph.build import graph_from_units
from kvmplan.model import build_program
from kvmplan.source import SourceTree

ROOT = Path(__file__).resolve().parents[2]
TREE = ROOT / "fixtures" / "trees" / "dup-defs"


def _unit(path: str, text: str) -> FileUnit:
    return parse_file(path, text.encode(), default_config())


def _graph(units: list[FileUnit], vendor: str = "vmx") -> HookGraph:
    return graph_from_units("test", units, {}, {}, vendor)


STUB = "// a stub\n\nint kvm_init(void)\n{\n\treturn 0;\n}\n"


@pytest.mark.parametrize("vendor", ["vmx", "svm"])
def test_the_fixture_tree_links_every_name_it_defines_twice(vendor: str) -> None:
    """VMX and SVM both define vendor_setup(); kvm_arch_post_init() is
    __weak in virt/kvm and strong in x86.c; check_processor() is static in
    two files. None is ambiguous, and each call binds as the kernel links."""
    g = build_graph(SourceTree(TREE), options=GraphOptions(vendor=vendor, use_cache=False))
    assert g.ambiguous == {}
    assert g.functions["vendor_setup"].file == f"arch/x86/kvm/{vendor}/{vendor}.c"
    assert g.functions["kvm_arch_post_init"].file == "arch/x86/kvm/x86.c"
    assert {f for f, n in g.statics if n == "check_processor"} == {
        "arch/x86/kvm/x86.c", "virt/kvm/kvm_main.c"}


def test_a_second_strong_definition_is_ambiguous_and_the_choice_is_by_file() -> None:
    main = _unit("virt/kvm/kvm_main.c", (TREE / "virt/kvm/kvm_main.c").read_text())
    stub = _unit("arch/x86/kvm/foo.c", STUB)
    g = _graph([main, stub])
    assert g.ambiguous == {"kvm_init": (("arch/x86/kvm/foo.c", 3), ("virt/kvm/kvm_main.c", 80))}
    # the file that sorts first, whichever came first
    assert g.functions["kvm_init"].file == "arch/x86/kvm/foo.c"
    again = _graph([stub, main])
    assert again.functions["kvm_init"].file == "arch/x86/kvm/foo.c"
    assert again.ambiguous == g.ambiguous
    later = _graph([main, _unit("virt/kvm/zz.c", STUB)])
    assert later.functions["kvm_init"].file == "virt/kvm/kvm_main.c"
    assert set(later.ambiguous) == {"kvm_init"}


def test_the_ambiguous_function_is_a_lifecycle_function_of_the_base() -> None:
    main = _unit("virt/kvm/kvm_main.c", (TREE / "virt/kvm/kvm_main.c").read_text())
    assert "kvm_init" in build_program(_graph([main])).functions


def test_linkable_repeats_are_not_ambiguous() -> None:
    units = [
        _unit("arch/x86/kvm/vmx/vmx.c", "int vendor_hook(void)\n{\n\treturn 0;\n}\n"),
        _unit("arch/x86/kvm/svm/svm.c", "int vendor_hook(void)\n{\n\treturn 1;\n}\n"),
        _unit("virt/kvm/kvm_main.c", "int __weak arch_hook(void)\n{\n\treturn 0;\n}\n"
                                     "static int helper(void)\n{\n\treturn 0;\n}\n"),
        _unit("arch/x86/kvm/x86.c", "int arch_hook(void)\n{\n\treturn 1;\n}\n"
                                    "static int helper(void)\n{\n\treturn 1;\n}\n"),
        _unit("arch/x86/kvm/stub.h", "int stubbed(void)\n{\n\treturn 0;\n}\n"),
        _unit("arch/x86/kvm/stub.c", "int stubbed(void)\n{\n\treturn 1;\n}\n"),
    ]
    for vendor in ("vmx", "svm"):
        g = _graph(units, vendor)
        assert g.ambiguous == {}, vendor
        assert g.functions["vendor_hook"].file.startswith(f"arch/x86/kvm/{vendor}/")
        assert g.functions["arch_hook"].file == "arch/x86/kvm/x86.c"
        assert g.functions["stubbed"].file == "arch/x86/kvm/stub.c"


def test_two_strong_definitions_in_one_vendor_are_ambiguous() -> None:
    g = _graph([_unit("arch/x86/kvm/vmx/a.c", "int hook(void)\n{\n\treturn 0;\n}\n"),
                _unit("arch/x86/kvm/vmx/b.c", "int hook(void)\n{\n\treturn 1;\n}\n"),
                _unit("arch/x86/kvm/svm/c.c", "int hook(void)\n{\n\treturn 2;\n}\n")])
    assert g.ambiguous == {"hook": (("arch/x86/kvm/vmx/a.c", 1), ("arch/x86/kvm/vmx/b.c", 1))}


def test_every_spelling_of_weak_is_weak() -> None:
    g = _graph([
        _unit("virt/kvm/kvm_main.c", "__weak void leading(void)\n{\n}\n"
                                     "int __attribute__((weak)) attribute(void)\n{\n\treturn 0;\n}\n"),
        _unit("arch/x86/kvm/x86.c", "void leading(void)\n{\n}\n"
                                    "int attribute(void)\n{\n\treturn 1;\n}\n"),
    ])
    assert g.ambiguous == {}


@pytest.mark.parametrize(("version", "vendor"), [
    ("6.1", "vmx"), ("6.1", "svm"), ("6.12", "vmx"), ("6.12", "svm"),
])
def test_the_real_trees_define_each_lifecycle_function_once(kernel_tree, version: str,
                                                            vendor: str) -> None:
    g = build_graph(SourceTree(kernel_tree(version)), options=GraphOptions(vendor=vendor))
    program = build_program(g)
    assert sorted(n for n in g.ambiguous if n in program.functions) == []
