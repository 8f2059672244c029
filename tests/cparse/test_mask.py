"""The masker keeps every offset and line, evaluates `#if` against the
configuration, and blanks kernel annotations (recording declaration macros)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kvmplan.cparse.config import default_config
from kvmplan.cparse.mask import MacroRecord, inactive_lines, mask_source

SAMPLE = b"""\
// SPDX-License-Identifier: GPL-2.0
#include <linux/kvm_host.h>

static DEFINE_MUTEX(kvm_lock);
DEFINE_PER_CPU(struct kvm_vcpu *, kvm_running_vcpu);

#ifdef CONFIG_X86_64
static int only_64(void) { return 64; }
#else
static int only_32(void) { return 32; }
#endif

#if IS_ENABLED(CONFIG_KVM_INTEL) && !defined(CONFIG_X86_32)
int intel_on(void) { return 1; }
#elif defined(CONFIG_KVM_AMD)
int amd_on(void) { return 1; }
#endif

#ifdef CONFIG_KVMPLAN_NOT_SET
int never(void) { return 0; }
#endif

static void unlock(struct kvm *kvm)
	__releases(kvm->lock)
{
	mutex_unlock(&kvm->lock);
}

int __init kvm_x_init(void)
{
	return 0;
}
EXPORT_SYMBOL_GPL(kvm_x_init);
"""


def text_of(masked) -> str:
    return masked.text.decode()


def lines_of(masked) -> list[str]:
    return masked.text.decode().split("\n")


def test_length_and_newlines_are_kept():
    masked = mask_source(SAMPLE, default_config())
    assert len(masked.text) == len(SAMPLE)
    assert [i for i, b in enumerate(masked.text) if b == 10] == \
        [i for i, b in enumerate(SAMPLE) if b == 10]
    # Every byte either stays or becomes a space.
    assert all(a == b or b == 32 for a, b in zip(SAMPLE, masked.text))


@pytest.mark.parametrize("data", [
    b"#if 0\r\nint a;\r\n#endif\r\nint b;\r\n",
    b"#define X(a) \\\n  a + \\\n  a\n#if X\nint c;\n#endif\n",
    b"#ifdef CONFIG_SMP /* comment */\nint x;\n#else\nint y;\n#endif\n",
    b"\xff\xfe #if \xe9\n\x00\n#endif",
    b"EXPORT_SYMBOL(\xe9\xff);\n__releases(\n",
    b"",
])
def test_length_kept_on_odd_input(data):
    masked = mask_source(data, default_config())
    assert len(masked.text) == len(data)
    assert masked.text.count(b"\n") == data.count(b"\n")
    assert masked.text.count(b"\r") == data.count(b"\r")


def test_ifdef_else_with_default_config():
    out = text_of(mask_source(SAMPLE, default_config()))
    assert "only_64" in out
    assert "only_32" not in out
    assert "never" not in out
    assert "#ifdef" not in out and "#else" not in out and "#endif" not in out


def test_is_enabled_and_defined():
    config = default_config()
    assert config.values.get("CONFIG_KVM_INTEL") in ("y", "m")
    out = text_of(mask_source(SAMPLE, config))
    assert "intel_on" in out
    assert "amd_on" not in out  # the #elif after a taken #if


def test_config_override_switches_branches():
    config = default_config().with_defines(
        {"CONFIG_X86_64": "n", "CONFIG_KVM_INTEL": "n", "CONFIG_KVMPLAN_NOT_SET": "y"})
    out = text_of(mask_source(SAMPLE, config))
    assert "only_32" in out and "only_64" not in out
    assert "intel_on" not in out and "amd_on" in out
    assert "never" in out


def test_is_builtin_and_is_module():
    src = b"#if IS_MODULE(CONFIG_KVM)\nint mod;\n#endif\n#if IS_BUILTIN(CONFIG_KVM)\nint builtin;\n#endif\n"
    as_module = text_of(mask_source(src, default_config().with_defines({"CONFIG_KVM": "m"})))
    assert "mod" in as_module and "builtin" not in as_module
    builtin = text_of(mask_source(src, default_config().with_defines({"CONFIG_KVM": "y"})))
    assert "builtin" in builtin and "mod;" not in builtin


def test_local_define_counts_for_ifdef():
    src = b"#define HAVE_THING 1\n#ifdef HAVE_THING\nint yes;\n#endif\n#undef HAVE_THING\n#ifdef HAVE_THING\nint no;\n#endif\n"
    out = text_of(mask_source(src, default_config()))
    assert "yes" in out and "no;" not in out


def test_export_symbol_blanked_and_recorded():
    masked = mask_source(SAMPLE, default_config())
    lines = lines_of(masked)
    line = SAMPLE.decode().split("\n").index("EXPORT_SYMBOL_GPL(kvm_x_init);") + 1
    assert lines[line - 1].strip() == ""
    assert MacroRecord("EXPORT_SYMBOL_GPL", ("kvm_x_init",), line) in masked.records


def test_static_define_mutex_blanked_with_its_static():
    masked = mask_source(SAMPLE, default_config())
    assert lines_of(masked)[3].strip() == ""  # "static DEFINE_MUTEX(kvm_lock);"
    assert MacroRecord("DEFINE_MUTEX", ("kvm_lock",), 4) in masked.records
    assert MacroRecord("DEFINE_PER_CPU", ("struct kvm_vcpu *", "kvm_running_vcpu"), 5) \
        in masked.records


def test_define_mutex_inside_expression_is_left_alone():
    masked = mask_source(b"x = DEFINE_MUTEX(a);\n", default_config())
    assert masked.records == ()
    assert masked.text == b"x = DEFINE_MUTEX(a);\n"


def test_releases_and_word_annotations_blanked():
    out = lines_of(mask_source(SAMPLE, default_config()))
    src = SAMPLE.decode().split("\n")
    i = src.index("\t__releases(kvm->lock)")
    assert out[i].strip() == ""
    j = src.index("int __init kvm_x_init(void)")
    assert out[j] == "int        kvm_x_init(void)"


def test_file_scope_macro_invocations_blanked_and_recorded():
    src = (b"#define BUILD(n) static int get_##n(void) { return 0; }\n"
           b"BUILD(a)\n"
           b"BUILD(b)\n"
           b"\n"
           b"static int\n"
           b"real(void)\n"
           b"{\n"
           b"\treturn 0;\n"
           b"}\n"
           b"module_init(real)\n")
    masked = mask_source(src, default_config())
    out = lines_of(masked)
    assert out[1].strip() == "" and out[2].strip() == ""
    assert out[5] == "real(void)"  # a function header split over lines stays
    assert out[9].strip() == ""
    assert [(r.name, r.args, r.line) for r in masked.records] == [
        ("BUILD", ("a",), 2), ("BUILD", ("b",), 3), ("module_init", ("real",), 10)]


def test_column_zero_call_inside_a_body_is_kept():
    src = b"int f(void)\n{\nfoo(1)\n}\n"
    assert mask_source(src, default_config()).text == src


def test_inactive_lines():
    lines = inactive_lines(SAMPLE, default_config())
    src = SAMPLE.decode().split("\n")
    assert src.index("static int only_32(void) { return 32; }") + 1 in lines
    assert src.index("int never(void) { return 0; }") + 1 in lines
    assert src.index("static int only_64(void) { return 64; }") + 1 not in lines
    assert all(src[n - 1].strip() for n in lines)


_PIECES = [
    "#if ", "#ifdef ", "#ifndef ", "#elif ", "#else", "#endif", "#define X ", "\\\n", "\n", "\r\n",
    "CONFIG_X86_64", "CONFIG_NOPE", "IS_ENABLED(", "defined(", ")", "(", "{", "}", ";", "static ",
    "DEFINE_MUTEX(", "EXPORT_SYMBOL_GPL(", "__releases(", "__init ", "/*", "*/", "//", '"', "'",
    "int f(void)", "FOO(", "\xe9", " ", "0", "1", "&&", "||", "!",
]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=60))
def test_length_and_lines_kept_for_any_token_soup(pieces):
    data = "".join(pieces).encode("utf-8")
    masked = mask_source(data, default_config())
    assert len(masked.text) == len(data)
    assert [i for i, b in enumerate(masked.text) if b in (10, 13)] == \
        [i for i, b in enumerate(data) if b in (10, 13)]
    assert all(a == b or b == 32 for a, b in zip(data, masked.text))
