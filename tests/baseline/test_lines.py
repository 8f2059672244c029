"""Line fingerprints, code states and the data file's encoding."""

from __future__ import annotations

from pathlib import Path

from baseline_helpers import tiny_baseline

from kvmplan.baseline import lines as ln
from kvmplan.baseline.codec import loads
from kvmplan.baseline.conditionals import directives
from kvmplan.baseline.state import baseline_from_bytes


def test_fingerprint_drops_trailing_blanks_and_keeps_indentation() -> None:
    assert ln.fingerprint("\treturn 0;  \t") == ln.fingerprint("\treturn 0;")
    assert ln.fingerprint("}") != ln.fingerprint("\t}")
    assert 0 <= ln.fingerprint("x") < 1 << ln.FINGERPRINT_BITS


def test_scan_tracks_braces_comments_and_strings() -> None:
    lines = ["int f(void)", "{", "\t/* { not code", "\t   } */ if (x) {", '\t\ts = "}";',
             "\t}  // }", "}"]
    states, end = ln.scan(lines)
    assert [ln.depth_of(s) for s in states] == [0, 0, 1, 1, 2, 2, 1]
    assert [ln.in_comment(s) for s in states] == [False, False, False, True, False, False, False]
    assert end == ln.state(0, False)


def test_encodings_round_trip() -> None:
    keys = (0, 1, (1 << 24) - 1, 12345)
    assert ln.decode_keys(ln.encode_keys(keys)) == keys
    assert ln.decode_states(ln.encode_states((0, 3, 255))) == (0, 3, 255)
    assert ln.decode_ranges(ln.encode_ranges([5, 1, 2, 3, 9])) == frozenset({1, 2, 3, 5, 9})


def test_directives_keep_conditions_not_code() -> None:
    lines = ["#ifdef CONFIG_X86_64 /* why */", "int a;", "#if defined(A) && \\", "    defined(B)",
             "#define FOO(x) (x + 1)", "#define BAR 3", "#define BAZ (1 << 2)", "#endif", "#endif"]
    assert directives(lines) == ((1, "#ifdef CONFIG_X86_64"), (3, "#if defined(A) && defined(B)"),
                                 (4, ""), (6, "#define BAR 3"), (7, "#define BAZ"),
                                 (8, "#endif"), (9, "#endif"))


def test_data_file_round_trips_byte_for_byte(tmp_path: Path) -> None:
    baseline = tiny_baseline(tmp_path)
    data = baseline.dumps()
    again = baseline_from_bytes(data)
    assert again.dumps() == data
    info, files = loads(data)
    assert info == baseline.info
    assert {f.path: f.unit for f in files} == {p: f.unit for p, f in baseline.files.items()}
    assert data.startswith(b"\x1f\x8b")
