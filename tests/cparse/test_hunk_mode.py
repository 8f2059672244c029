"""Hunk-only mode: events visible in a hunk window, at the patched file's lines."""

from __future__ import annotations

from pathlib import Path

from kvmplan.cparse import events as ev
from kvmplan.cparse.config import default_config
from kvmplan.cparse.hunk import hunk_functions, section_function

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "c"


def _window() -> list[str]:
    lines = (FIXTURES / "hunk-kvm-online.txt").read_text().splitlines()
    return [line for line in lines if not line.startswith("#")]


def test_section_names_the_function() -> None:
    assert section_function("int kvm_init(void *opaque, unsigned vcpu_size,") == "kvm_init"
    assert section_function("static int __init vmx_init(void)") == "vmx_init"
    assert section_function("struct kvm_x86_ops vt_x86_ops __initdata = {") == ""
    assert section_function("") == ""
    assert section_function("static struct kvm *kvm_create_vm(unsigned long type)") == "kvm_create_vm"


def test_window_inside_function_keeps_real_lines() -> None:
    fns = hunk_functions("virt/kvm/kvm_main.c", "static int kvm_online_cpu(unsigned int cpu)",
                         5120, _window(), default_config())
    assert [f.name for f in fns] == ["kvm_online_cpu"]
    events = fns[0].events
    setup = [e for e in events if e.kind == ev.CPUHP_SETUP]
    assert setup and setup[0].line == 5125
    assert setup[0].args[0] == "CPUHP_AP_KVM_ONLINE" and setup[0].mode == "nocalls"
    unlock = [e for e in events if e.kind == ev.UNLOCK]
    assert unlock and unlock[0].name == "kvm_lock" and unlock[0].line == 5128
    branches = [e for e in events if e.kind == ev.BRANCH]
    assert branches[0].cond == ("global", "kvm_usage_count")


def test_whole_function_in_hunk_is_parsed_as_is() -> None:
    lines = [
        "static int kvm_offline_cpu(unsigned int cpu)",
        "{",
        "\tmutex_lock(&kvm_lock);",
        "\tmutex_unlock(&kvm_lock);",
        "\treturn 0;",
        "}",
    ]
    fns = hunk_functions("virt/kvm/kvm_main.c", "", 40, lines, default_config())
    assert [(f.name, f.line) for f in fns] == [("kvm_offline_cpu", 40)]
    assert fns[0].static


def test_garbage_window_does_not_raise() -> None:
    for lines in ([], ["}}}}"], ["{{{ (("], ["\x00\xff junk"]):
        hunk_functions("x.c", "void f(void)", 1, lines, default_config())
