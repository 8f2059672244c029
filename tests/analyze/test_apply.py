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
