"""Parse one C file into a FileUnit: functions (as event streams), ops tables,
file-scope variables and macro statements such as module_init()."""

from __future__ import annotations

import re
from functools import lru_cache

import tree_sitter_c
from tree_sitter import Language, Node, Parser, Query, QueryCursor, Range

from kvmplan.cparse import events as ev
from kvmplan.cparse.compile import FunctionCompiler, declared_name, text
from kvmplan.cparse.config import KernelConfig
from kvmplan.cparse.mask import mask_source
from kvmplan.cparse.tables import query_text

_HEADER_WORDS = re.compile(r"\b(__weak|__init|__exit|inline|__always_inline|static)\b")
_WEAK_ATTRIBUTE = re.compile(r"__attribute__\s*\(\(\s*(?:__)?weak(?:__)?\s*\)\)")


@lru_cache(maxsize=1)
def language() -> Language:
    return Language(tree_sitter_c.language())


@lru_cache(maxsize=None)
def query(name: str) -> Query:
    return Query(language(), query_text(name))


def _captures(name: str, node: Node) -> list[dict[str, list[Node]]]:
    return [caps for _, caps in QueryCursor(query(name)).matches(node)]


def parse_file(path: str, source: bytes, config: KernelConfig) -> ev.FileUnit:
    masked = mask_source(source, config)
    tree = Parser(language()).parse(masked.text)
    root = tree.root_node
    globals_, per_cpu = _globals(path, root, masked.records)
    global_names = frozenset(g.name for g in globals_) | per_cpu
    functions: list[ev.Function] = []
    errors: list[ev.ParseError] = []
    seen: set[int] = set()
    spans: list[tuple[int, int]] = []
    found = [(c["function"][0], c["declarator"][0], c["body"][0])
             for c in _captures("functions.scm", root)]
    for fn_node, declarator, body in found + _recovered(masked.text, root):
        if fn_node.start_byte in seen:
            continue
        if any(a < fn_node.end_byte and fn_node.start_byte < b for a, b in spans):
            continue
        seen.add(fn_node.start_byte)
        fn = _function(path, fn_node, declarator, body, source, global_names)
        if fn is None:
            continue
        spans.append((fn_node.start_byte, fn_node.end_byte))
        functions.append(fn)
        if body.has_error and _real_errors(body):
            line = _real_errors(body)[0]
            errors.append(ev.ParseError(path, line, fn.name, "partially parsed: unreadable code skipped"))
    for node in _top_errors(root):
        errors.append(ev.ParseError(path, node.start_point[0] + 1, "",
                                    "unparsable code at file scope skipped"))
    functions.sort(key=lambda f: (f.line, f.name))
    return ev.FileUnit(
        path=path,
        functions=tuple(functions),
        tables=tuple(_tables(path, root)),
        globals=tuple(globals_),
        top_calls=tuple(_top_calls(path, root, masked.records)),
        errors=tuple(errors),
    )


def _function(path: str, node: Node, declarator: Node, body: Node, source: bytes,
              global_names: frozenset[str]) -> ev.Function | None:
    fdecl = declarator
    while fdecl is not None and fdecl.type != "function_declarator":
        fdecl = fdecl.child_by_field_name("declarator")
    if fdecl is None:
        return None
    name = declared_name(fdecl.child_by_field_name("declarator"))
    if not name or not re.fullmatch(r"[A-Za-z_]\w*", name):
        return None
    # from the start of its first line: the masker blanks annotations the
    # grammar can't read, so a leading `__weak` is before the node
    start = source.rfind(b"\n", 0, node.start_byte) + 1
    header = source[start:body.start_byte].decode("utf-8", "replace")
    words = set(_HEADER_WORDS.findall(header))
    if _WEAK_ATTRIBUTE.search(header):
        words.add("__weak")
    params: list[ev.Param] = []
    plist = fdecl.child_by_field_name("parameters")
    for p in (plist.named_children if plist else []):
        if p.type != "parameter_declaration":
            continue
        pname = declared_name(p.child_by_field_name("declarator"))
        ptype = text(p.child_by_field_name("type"))
        if pname and pname != ptype:
            params.append(ev.Param(pname, ptype))
    compiler = FunctionCompiler(global_names, {p.name: p.type for p in params})
    events = compiler.compile_body(body)
    local_types = tuple(sorted(
        (k, v.replace("struct ", "").strip()) for k, v in compiler.locals.items() if "struct" in v
    ))
    return ev.Function(
        name=name, file=path, line=node.start_point[0] + 1, end_line=node.end_point[0] + 1,
        static="static" in words, weak="__weak" in words, init="__init" in words,
        exit="__exit" in words, inline="inline" in words or "__always_inline" in words,
        returns=text(node.child_by_field_name("type")), params=tuple(params), events=events,
        local_types=local_types,
    )


def _real_errors(body: Node) -> list[int]:
    """Lines of ERROR nodes that are not iterator macros missing their ';'."""
    lines: list[int] = []
    stack = [body]
    while stack:
        n = stack.pop()
        if n.type == "ERROR":
            lines.append(n.start_point[0] + 1)
            continue
        if n.has_error:
            stack.extend(n.children)
    return sorted(lines)


def _top_errors(root: Node) -> list[Node]:
    return [c for c in root.children if c.type == "ERROR" and not _has_function(c)]


_RESYNC = re.compile(rb"(?:\A|\n[ \t]*\n|[;}]\s*?\n)(?=[A-Za-z_])")
_MAX_RESYNCS = 8


def _recovered(text: bytes, root: Node) -> list[tuple[Node, Node, Node]]:
    """Functions hidden in file-scope ERROR nodes, found by parsing again after the junk.

    When tree-sitter meets unreadable code at file scope it may fold the valid
    functions that follow into one ERROR node holding no function_definition.
    For each such node, parsing restarts (same buffer, so offsets and lines are
    unchanged) at the first line that could open a declaration: a line starting
    at column 0 after a blank line or after a line ending in ';' or '}'.
    """
    out: list[tuple[Node, Node, Node]] = []
    pending = [(c.start_byte, c.end_byte) for c in _top_errors(root)]
    tries = 0
    while pending and tries < _MAX_RESYNCS:
        start, end = pending.pop(0)
        m = _RESYNC.search(text, text.find(b"\n", start) + 1 if b"\n" in text[start:end] else end)
        if m is None or m.end() >= end:
            continue
        tries += 1
        at = m.end()
        parser = Parser(language())
        parser.included_ranges = [Range(_point(text, at), _point(text, len(text)), at, len(text))]
        sub = parser.parse(text).root_node
        for caps in _captures("functions.scm", sub):
            out.append((caps["function"][0], caps["declarator"][0], caps["body"][0]))
        pending += [(c.start_byte, c.end_byte) for c in _top_errors(sub) if c.start_byte >= at]
    return out


def _point(text: bytes, offset: int) -> tuple[int, int]:
    row = text.count(b"\n", 0, offset)
    return (row, offset - (text.rfind(b"\n", 0, offset) + 1))


def _has_function(node: Node) -> bool:
    return any(c.type == "function_definition" or _has_function(c) for c in node.named_children)


def _tables(path: str, root: Node) -> list[ev.Table]:
    tables: list[ev.Table] = []
    for caps in _captures("tables.scm", root):
        init = caps["init"][0]
        bindings: list[ev.Binding] = []
        for pair in init.named_children:
            if pair.type != "initializer_pair":
                continue
            designators = pair.child_by_field_name("designator")
            fields = [text(d).lstrip(".") for d in pair.children_by_field_name("designator")]
            value = pair.child_by_field_name("value")
            if not fields and designators is not None:
                fields = [text(designators).lstrip(".")]
            if fields and value is not None:
                bindings.append(ev.Binding(".".join(fields), text(value), pair.start_point[0] + 1))
        tables.append(ev.Table(
            name=declared_name(caps["name"][0]), struct=text(caps["struct"][0]), file=path,
            line=caps["table"][0].start_point[0] + 1, bindings=tuple(bindings),
        ))
    return tables


# Plain scalar types: a variable of one holds a number (or a truth) the model can follow.
_SCALAR_TYPE = re.compile(
    r"bool|_Bool|(?:(?:unsigned|signed) )?(?:char|short|int|long|long long)(?: int)?"
    r"|unsigned|signed|[us](?:8|16|32|64)|__[us](?:8|16|32|64)|size_t|ssize_t")


def _literal(init: str) -> bool:
    """true, false or a number: a value the model can start from."""
    return init in ("true", "false") or re.fullmatch(r"-?(?:0[xX][0-9a-fA-F]+|\d+)[uUlL]*", init) is not None


def _globals(path: str, root: Node, records: tuple) -> tuple[list[ev.GlobalVar], frozenset[str]]:
    out: list[ev.GlobalVar] = []
    for caps in _captures("globals.scm", root):
        decl = caps["declaration"][0]
        type_text = text(decl.child_by_field_name("type"))
        storage = {text(c) for c in decl.children if c.type == "storage_class_specifier"}
        static = "static" in storage
        for d in decl.children_by_field_name("declarator"):
            inner = d.child_by_field_name("declarator") if d.type == "init_declarator" else d
            if inner is not None and inner.type == "function_declarator":
                continue
            name = declared_name(inner)
            value = d.child_by_field_name("value") if d.type == "init_declarator" else None
            init = text(value) if value is not None and value.type in (
                "true", "false", "number_literal", "unary_expression", "identifier") else ""
            scalar = (inner is not None and inner.type == "identifier" and "extern" not in storage
                      and _SCALAR_TYPE.fullmatch(type_text) is not None
                      and (value is None or _literal(init)))
            if scalar and value is None:
                init = "false" if type_text in ("bool", "_Bool") else "0"
            if name and re.fullmatch(r"[A-Za-z_]\w*", name):
                out.append(ev.GlobalVar(name, type_text.replace("struct ", ""), path,
                                        decl.start_point[0] + 1, static, init=init, scalar=scalar))
    per_cpu: set[str] = set()
    for rec in records:
        if rec.name.startswith(("DEFINE_PER_CPU", "DECLARE_PER_CPU")) and len(rec.args) >= 2:
            per_cpu.add(rec.args[-1])
            out.append(ev.GlobalVar(rec.args[-1], rec.args[0], path, rec.line, True, per_cpu=True))
        elif rec.name.startswith(("DEFINE_", "DECLARE_")) and rec.args:
            out.append(ev.GlobalVar(rec.args[0], rec.name, path, rec.line, True))
        elif rec.name in ("LIST_HEAD", "HLIST_HEAD") and rec.args:
            out.append(ev.GlobalVar(rec.args[0], "list_head", path, rec.line, True))
    return out, frozenset(per_cpu)


def _top_calls(path: str, root: Node, records: tuple) -> list[ev.TopCall]:
    calls: list[ev.TopCall] = []
    for caps in _captures("top_calls.scm", root):
        args = tuple(text(a) for a in caps["args"][0].named_children)
        calls.append(ev.TopCall(text(caps["name"][0]), args, path,
                                caps["statement"][0].start_point[0] + 1))
    for rec in records:
        calls.append(ev.TopCall(rec.name, rec.args, path, rec.line))
    calls.sort(key=lambda c: (c.line, c.name))
    return calls
