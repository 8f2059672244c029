"""Hunk placement like patch: exact, offset, fuzz, previously applied, failed;
and line provenance through placed hunks."""

from __future__ import annotations

from kvmplan.analyze.provenance import line_origin
from kvmplan.diff import parse_diff
from kvmplan.diff.apply import FileOutcome, apply_file

BASE = "".join(f"line {i}\n" for i in range(1, 41))


def _patch(text: str):
    files, diags = parse_diff(text)
    assert not diags
    return files[0]


HUNK = """\
--- a/f.c
+++ b/f.c
@@ -10,7 +10,8 @@ int f(void)
 line 10
 line 11
 line 12
-line 13
+line 13 changed
+line 13b
 line 14
 line 15
 line 16
"""


def test_exact_offset_and_provenance():
    fp = _patch(HUNK)
    r = apply_file(fp, BASE)
    assert [h.status for h in r.hunks] == ["exact"]
    assert "line 13 changed\nline 13b\nline 14\n" in r.text
    shifted = "".join(f"extra {i}\n" for i in range(5)) + BASE
    r2 = apply_file(fp, shifted)
    assert [(h.status, h.offset, h.line) for h in r2.hunks] == [("offset", 5, 15)]
    history = [(3, (fp,), (FileOutcome(fp.path, r2.hunks),))]
    # new text: 5 extra lines, then line 1..12, "13 changed" at 18, "13b" at 19
    assert line_origin(history, "f.c", 18) == 3
    assert line_origin(history, "f.c", 19) == 3
    assert line_origin(history, "f.c", 17) is None
    assert line_origin(history, "f.c", 30) is None


def test_fuzz_drops_outer_context():
    text = BASE.replace("line 10\n", "line ten\n")
    r = apply_file(_patch(HUNK), text)
    assert [(h.status, h.fuzz) for h in r.hunks] == [("fuzz", 1)]
    assert "line ten\nline 11\nline 12\nline 13 changed\n" in r.text


def test_previously_applied_file_is_left_alone():
    once = apply_file(_patch(HUNK), BASE).text
    r = apply_file(_patch(HUNK), once)
    assert [h.status for h in r.hunks] == ["present"]
    assert r.text == once


def test_unplaceable_hunk_fails_and_others_apply():
    two = HUNK + """\
@@ -30,3 +31,3 @@
 line 30
-line 31
+line 31 changed
 line 32
"""
    text = BASE.replace("line 12\n", "other 12\n").replace("line 13\n", "other 13\n")
    r = apply_file(_patch(two), text)
    assert [h.status for h in r.hunks] == ["failed", "exact"]
    assert "line 31 changed" in r.text and "line 13 changed" not in r.text


def test_a_hunk_that_only_drops_static_changes_no_behaviour() -> None:
    """Uncertainty comes from hunks that change what code does: a failed
    hunk that only drops `static` (or adds `__init`) does not make a finding
    on that function uncertain; one that changes a call does."""
    from kvmplan.analyze.run import _touches
    from kvmplan.diff import parse_diff

    def hunk(minus: str, plus: str):
        text = (f"--- a/virt/kvm/kvm_main.c\n+++ b/virt/kvm/kvm_main.c\n"
                f"@@ -10,3 +10,3 @@ void f(void)\n {{\n-{minus}\n+{plus}\n }}\n")
        (fp,), _ = parse_diff(text)
        return fp.hunks[0]

    names = {"kvm_online_cpu", "hardware_enable_all"}
    assert not _touches(hunk("static int kvm_online_cpu(unsigned int cpu)",
                             "int kvm_online_cpu(unsigned int cpu)"), names)
    assert not _touches(hunk("static int kvm_online_cpu(unsigned int cpu)",
                             "static int __init kvm_online_cpu(unsigned int cpu)"), names)
    assert _touches(hunk("\tr = hardware_enable_all();", "\tr = 0;"), names)


def test_fuzz_needs_a_context_line_that_says_something():
    """patch would place this with fuzz 2 wherever a blank line precedes a
    `/*`; kvmplan refuses: the surviving context anchors nothing."""
    hunk = """\
--- a/f.c
+++ b/f.c
@@ -2,6 +2,9 @@ static int __init f_init(void)
 {
 \tint r, cpu;
 
+\tif (!supported())
+\t\treturn -EOPNOTSUPP;
+
 \t/*
 \t * Note, setup() touches only local knobs, i.e. there's nothing
 \t * to unwind if a later step fails.
"""
    text = "int g(void)\n{\n\treturn h();\n}\n\n\t/*\n\t * something else\n\t */\n"
    r = apply_file(_patch(hunk), text)
    assert [h.status for h in r.hunks] == ["failed"]
    assert r.text == text
    # with a line that says something left, fuzz places it
    strong = ("int g(void)\n{\n\tint r, cpu;\n\n\t/*\n\t * Note, setup() touches only local "
              "knobs, i.e. there's nothing\n\t * something else\n\t */\n")
    assert [h.status for h in apply_file(_patch(hunk), strong).hunks] == ["fuzz"]
