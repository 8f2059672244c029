"""Unreadable C never aborts parsing: valid functions around it are kept and
the unreadable part is reported with its file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from kvmplan.cparse.config import default_config
from kvmplan.cparse.unit import parse_file

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "c"


def parse(name: str):
    path = f"fixtures/c/{name}"
    return parse_file(path, (FIXTURES / name).read_bytes(), default_config())


def test_garbage_at_file_scope_keeps_functions_before_and_after():
    unit = parse("broken.c")
    assert [(f.name, f.line) for f in unit.functions] == [
        ("before_garbage", 7), ("after_garbage", 19), ("last_function", 24)]
    after = next(f for f in unit.functions if f.name == "after_garbage")
    assert any(e.name == "before_garbage" for e in after.events)
    assert [(e.file, e.line, e.function) for e in unit.errors] == [("fixtures/c/broken.c", 16, "")]
    assert "unparsable" in unit.errors[0].text


def test_garbage_in_a_body_keeps_that_function_and_names_the_line():
    unit = parse("garbage_in_body.c")
    assert [f.name for f in unit.functions] == ["first", "middle", "last"]
    assert [(e.file, e.line, e.function) for e in unit.errors] == [
        ("fixtures/c/garbage_in_body.c", 12, "middle")]


@pytest.mark.parametrize("data", [
    b"",
    b"\n\n\n",
    b"\x00\x01\xff\xfe" * 200,
    bytes(range(256)) * 40,
    b"\xff\xfe\x00i\x00n\x00t\x00",              # UTF-16 with BOM
    "int f(void) { return 'é'; }".encode("latin-1"),  # not UTF-8
    b"int f(",
    b"{{{{{{{{",
    b"}}}}}}}}",
    b"/* never closed",
    b'"never closed',
    b"#if\n#else\n#endif\n#endif\n#else\n#elif\n",
    b"#if CONFIG_X86 ? : (\nint f(void) { return 0; }\n#endif\n",
    b"EXPORT_SYMBOL(\nstatic DEFINE_MUTEX(\nFOO(((\n",
    b"int f(void) { (((((( }",
    b"\\\n" * 50,
    b"\r\n\r\nint f(void)\r\n{\r\n\treturn 0;\r\n}\r\n",
], ids=lambda d: repr(d[:16]))
def test_junk_never_raises(data):
    unit = parse_file("junk.c", data, default_config())
    assert isinstance(unit.functions, tuple)
    assert all(e.file == "junk.c" and e.line >= 1 for e in unit.errors)


def test_non_utf8_function_is_still_found():
    data = b"int f(void)\n{\n\treturn '\xe9';\n}\n\xff\xfe\nint g(void)\n{\n\treturn f();\n}\n"
    unit = parse_file("latin1.c", data, default_config())
    assert [f.name for f in unit.functions] == ["f", "g"]


def test_crlf_lines_are_counted_like_lf():
    data = b"/* x */\r\n\r\nint f(void)\r\n{\r\n\treturn 0;\r\n}\r\n"
    unit = parse_file("crlf.c", data, default_config())
    assert [(f.name, f.line) for f in unit.functions] == [("f", 3)]
