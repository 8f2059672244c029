"""The baseline data file: deterministic, gzip-compressed JSON.

    {"schema": SCHEMA, "fingerprint": ..., "info": {...},
     "files": [{"path", "keys", "states", "inactive", "items", "directives", "unit"}, ...]}

Functions, events and tables are stored as arrays whose trailing default
fields are left out (events: kind, line, name, args, slot, cond, target,
mode, scope, value, locks); conditions are nested arrays. An event's line
is stored as the step from the line before it (the function's line for the
first), a function's end as its length in lines: small numbers compress.
"""

from __future__ import annotations

import gc
import gzip
import json
from typing import Any

from kvmplan.baseline import lines as ln
from kvmplan.baseline.headers import HeaderItem
from kvmplan.baseline.snapshot import BaselineInfo, FileState, Placed, StoredLines
from kvmplan.cparse.events import (
    Binding,
    Event,
    Function,
    GlobalVar,
    Param,
    ParseError,
    Table,
    TopCall,
)

SCHEMA = "kvmplan-baseline/1"
FINGERPRINT = f"crc32 of the line without trailing blanks, low {ln.FINGERPRINT_BITS} bits"

_FLAGS = ("static", "weak", "init", "exit", "inline")


class BaselineDataError(ValueError):
    """A baseline data file that is not one this version reads."""


def _trim(values: list[Any], defaults: tuple[Any, ...], keep: int) -> list[Any]:
    n = len(values)
    while n > keep and values[n - 1] == defaults[n - 1 - keep]:
        n -= 1
    return values[:n]


def _cond_out(c: Any) -> Any:
    return [_cond_out(x) for x in c] if isinstance(c, tuple) else c


def _cond_in(c: Any) -> Any:
    return tuple(_cond_in(x) for x in c) if isinstance(c, list) else c


def encode_event(e: Event, line: int) -> list[Any]:
    values = [e.kind, line, e.name, list(e.args), e.slot, _cond_out(e.cond), e.target, e.mode,
              e.scope, e.value, list(e.locks)]
    return _trim(values, ("", [], "", None, -1, "", "", "", []), 2)


def decode_event(v: list[Any], line: int) -> Event:
    n = len(v)
    if n == 2:
        return Event(v[0], line)
    return Event(
        v[0], line, v[2],
        tuple(v[3]) if n > 3 and v[3] else (),
        v[4] if n > 4 else "",
        _cond_in(v[5]) if n > 5 and v[5] is not None else None,
        v[6] if n > 6 else -1,
        v[7] if n > 7 else "",
        v[8] if n > 8 else "",
        v[9] if n > 9 else "",
        tuple(v[10]) if n > 10 and v[10] else (),
    )


def encode_function(f: Function) -> list[Any]:
    flags = sum(1 << i for i, name in enumerate(_FLAGS) if getattr(f, name))
    events = []
    prev = f.line
    for e in f.events:
        events.append(encode_event(e, e.line - prev))
        prev = e.line
    return [f.name, f.line, f.end_line - f.line, flags, f.returns,
            [[p.name, p.type] for p in f.params], [list(t) for t in f.local_types], events]


def decode_function(path: str, v: list[Any]) -> Function:
    name, line, length, flags, returns, params, local_types, stored = v
    on = {n: bool(flags & (1 << i)) for i, n in enumerate(_FLAGS)}
    events = []
    prev = line
    for e in stored:
        prev += e[1]
        events.append(decode_event(e, prev))
    return Function(name, path, line, line + length, on["static"], on["weak"], on["init"],
                    on["exit"], on["inline"], returns, tuple(Param(p, t) for p, t in params),
                    tuple(events), tuple((k, t) for k, t in local_types))


def encode_file(fs: FileState) -> dict[str, Any]:
    lines = fs.lines()
    out: dict[str, Any] = {
        "path": fs.path,
        "keys": ln.encode_keys(lines.keys),
        "states": ln.encode_states(lines.states),
        "inactive": ln.encode_ranges(lines.inactive),
        "items": [[i.line, i.kind, i.name, i.value] for i in fs.items],
        "directives": [[line, text] for line, text in fs.directives],
    }
    unit = fs.unit
    if unit is not None:
        out["unit"] = {
            "functions": [encode_function(f) for f in unit.functions],
            "tables": [[t.name, t.struct, t.line, [[b.field, b.value, b.line] for b in t.bindings]]
                       for t in unit.tables],
            "globals": [[g.name, g.type, g.line, g.static, g.per_cpu, g.init, g.scalar]
                        for g in unit.globals],
            "top_calls": [[c.name, list(c.args), c.line] for c in unit.top_calls],
            "errors": [[e.line, e.function, e.text] for e in unit.errors],
        }
    return out


def decode_file(v: dict[str, Any]) -> FileState:
    path = v["path"]
    unit = v.get("unit")
    stored = StoredLines(v["keys"], v["states"], tuple((a, b) for a, b in v["inactive"]))
    items = tuple(HeaderItem(line, kind, name, value) for line, kind, name, value in v["items"])
    directives = tuple((line, text) for line, text in v["directives"])
    if unit is None:
        return FileState(path, False, (), (), (), (), (), items, directives, stored)
    return FileState(
        path=path, parsed=True,
        functions=tuple(Placed(decode_function(path, f)) for f in unit["functions"]),
        tables=tuple(Table(name, struct, path, line, tuple(Binding(f, val, bl) for f, val, bl in bs))
                     for name, struct, line, bs in unit["tables"]),
        globals=tuple(GlobalVar(name, typ, path, line, static, per_cpu, init, scalar)
                      for name, typ, line, static, per_cpu, init, scalar in unit["globals"]),
        top_calls=tuple(TopCall(name, tuple(args), path, line) for name, args, line in unit["top_calls"]),
        errors=tuple(ParseError(path, line, fn, text) for line, fn, text in unit["errors"]),
        items=items, directives=directives, stored=stored,
    )


def _dumps(value: Any) -> bytes:
    # Keys keep the order the encoders build them in (info before files, so
    # a catalogue can read a file's info from its first bytes).
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def dumps(info: BaselineInfo, files: list[FileState]) -> bytes:
    """The compressed data file (byte-identical for the same content)."""
    doc = {
        "schema": SCHEMA,
        "fingerprint": FINGERPRINT,
        "info": {"name": info.name, "release": info.release, "commit": info.commit,
                 "source": info.source},
        "files": [encode_file(fs) for fs in sorted(files, key=lambda f: f.path)],
    }
    return gzip.compress(_dumps(doc), compresslevel=9, mtime=0)


def loads(data: bytes) -> tuple[BaselineInfo, list[FileState]]:
    try:
        doc = json.loads(gzip.decompress(data))
    except (OSError, EOFError, ValueError) as exc:
        raise BaselineDataError(f"not a baseline data file: {exc}") from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        found = doc.get("schema") if isinstance(doc, dict) else None
        raise BaselineDataError(f"baseline schema {found!r}, this kvmplan reads {SCHEMA!r}")
    info = BaselineInfo(**doc["info"])
    # Decoding makes ~200k objects and no garbage cycles; the cyclic GC
    # would rescan them over and over (as in graph.build).
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return info, [decode_file(f) for f in doc["files"]]
    finally:
        if was_enabled:
            gc.enable()
