"""Render the lifecycle view as text, JSON, Graphviz DOT or mermaid."""

from __future__ import annotations

import json
import re

from kvmplan.graph.hooks import HookGraph
from kvmplan.graph.view import Lifecycle

_KIND_NOTE = {"static_call": "static_call", "ops_call": "kvm_x86_call", "ptr": "ops pointer",
              "cross_call": "on CPUs", "cpuhp": "cpuhp callback"}


def render_text(graph: HookGraph, view: Lifecycle) -> str:
    out: list[str] = [f"tree: {graph.root}", f"vendor: {graph.vendor}", ""]
    out.append("cpuhp states")
    for r in view.cpuhp:
        out.append(f"  {r.state} [{r.section}] startup={r.startup or '-'} teardown={r.teardown or '-'}"
                   f" ({r.variant}) registered by {r.registered_by} at {r.file}:{r.line}"
                   + (f" holding {', '.join(r.locks_held)}" if r.locks_held else ""))
    for entry, steps in view.sequences:
        out.append("")
        label = f"{entry.kind}: {entry.function} ({entry.file}:{entry.line})"
        if entry.via:
            label += f" via {entry.via}"
        if entry.section:
            label += f" [{entry.section}]"
        out.append(label)
        for s in steps:
            note = _KIND_NOTE.get(s.kind, "")
            extra = f" [{note}{': ' + s.via if s.via else ''}]" if note else ""
            locks = f"  holding {', '.join(s.locks_held)}" if s.locks_held else ""
            arrow = "*" if s.kind == "event" else "->"
            out.append(f"{'  ' * (s.depth + 1)}{arrow} {s.callee}  {s.file}:{s.line}{extra}{locks}")
    if graph.errors:
        shown = {f.name for f in view.functions}
        mine = sorted((p for p in graph.errors if p.function in shown or not p.function),
                      key=lambda p: (p.file, p.line))
        out.append("")
        out.append(f"parse diagnostics: {len(graph.errors)} places tree-sitter could not read "
                   f"were skipped ({len(mine)} in the functions above or at file scope; "
                   "all are listed by --format json)")
        for p in mine:
            where = f" in {p.function}()" if p.function else ""
            out.append(f"  {p.file}:{p.line}{where}: {p.text}")
    return "\n".join(out) + "\n"


def render_json(graph: HookGraph, view: Lifecycle) -> str:
    data = {
        "tree": graph.root,
        "vendor": graph.vendor,
        "entries": [
            {"kind": e.kind, "function": e.function, "file": e.file, "line": e.line,
             "via": e.via, "section": e.section} for e in view.entries
        ],
        "functions": [
            {"name": f.name, "file": f.file, "line": f.line, "static": f.static, "weak": f.weak,
             "init": f.init} for f in view.functions
        ],
        "calls": [
            {"caller": c.caller, "callee": c.callee, "file": c.file, "line": c.line,
             "locks_held": list(c.locks_held), "kind": c.kind, "via": c.via} for c in view.calls
        ],
        "cpuhp": [
            {"state": r.state, "section": r.section, "startup": r.startup, "teardown": r.teardown,
             "variant": r.variant, "name": r.name, "registered_by": r.registered_by,
             "file": r.file, "line": r.line, "locks_held": list(r.locks_held)} for r in view.cpuhp
        ],
        "sequences": [
            {"entry": e.function, "kind": e.kind, "steps": [
                {"depth": s.depth, "caller": s.caller, "callee": s.callee, "file": s.file,
                 "line": s.line, "kind": s.kind, "via": s.via, "locks_held": list(s.locks_held)}
                for s in steps]}
            for e, steps in view.sequences
        ],
        "parse_errors": [
            {"file": p.file, "line": p.line, "function": p.function, "text": p.text}
            for p in sorted(graph.errors, key=lambda p: (p.file, p.line))
        ],
    }
    return json.dumps(data, indent=2, sort_keys=False) + "\n"


def _id(name: str) -> str:
    return re.sub(r"\W", "_", name)


def _edge_label(kind: str, via: str, locks: tuple[str, ...]) -> str:
    parts = []
    if kind != "direct":
        parts.append(via or kind)
    if locks:
        parts.append("holding " + ",".join(locks))
    return " | ".join(parts)


def _unique_calls(view: Lifecycle) -> list:
    """One edge per (caller, callee, kind): a graph drawing needs no repeats."""
    seen: set[tuple[str, str, str]] = set()
    out = []
    for c in view.calls:
        key = (c.caller, c.callee, c.kind)
        if key not in seen:
            seen.add(key)
            out.append(c)
    return out


def render_dot(graph: HookGraph, view: Lifecycle) -> str:
    out = ["digraph kvm_lifecycle {", "  rankdir=LR;", '  node [shape=box, fontname="monospace"];']
    entry_names = {e.function for e in view.entries}
    for fn in view.functions:
        style = ', style=bold' if fn.name in entry_names else ""
        out.append(f'  {_id(fn.name)} [label="{fn.name}\\n{fn.file}:{fn.line}"{style}];')
    for c in _unique_calls(view):
        label = _edge_label(c.kind, c.via, c.locks_held).replace('"', "'")
        style = ", style=dashed" if c.kind in ("cpuhp", "cross_call") else ""
        out.append(f'  {_id(c.caller)} -> {_id(c.callee)} [label="{label}"{style}];')
    out.append("}")
    return "\n".join(out) + "\n"


def render_mermaid(graph: HookGraph, view: Lifecycle) -> str:
    out = ["flowchart LR"]
    for fn in view.functions:
        out.append(f'  {_id(fn.name)}["{fn.name}<br/><small>{fn.file}:{fn.line}</small>"]')
    for c in _unique_calls(view):
        label = _edge_label(c.kind, c.via, c.locks_held).replace('"', "'").replace("|", "/")
        arrow = "-.->" if c.kind in ("cpuhp", "cross_call") else "-->"
        out.append(f"  {_id(c.caller)} {arrow}{'|' + label + '|' if label else ''} {_id(c.callee)}")
    return "\n".join(out) + "\n"


RENDERERS = {"text": render_text, "json": render_json, "dot": render_dot, "mermaid": render_mermaid}
