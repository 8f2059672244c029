"""Facts the graph builder reads from headers, kept line by line.

The builder takes three things from headers rather than from parsed
functions: the cpuhp states and their sections (enum cpuhp_state in
include/linux/cpuhotplug.h), the KVM_X86_OP list (kvm-x86-ops.h) and the
plain `#define`s of the x86 KVM headers that steer `#if`s. The baseline keeps
each as a line-anchored item, so a hunk can drop the items on its removed
lines and add those its new lines declare; the builder's own functions then
read the items back through a small synthetic header.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from kvmplan.cparse.config import KernelConfig
from kvmplan.cparse.mask import mask_source
from kvmplan.graph.build import (
    _ENUM_ITEM,
    _PLAIN_DEFINE,
    _X86_OP,
    ARCH_HEADERS,
    _cpuhp_states,
    _x86_ops,
    arch_defines,
)
from kvmplan.graph.hooks import CpuhpState
from kvmplan.source.tree import SourceTree

CPUHP_HEADER = "include/linux/cpuhotplug.h"
X86_OPS_HEADER = "arch/x86/include/asm/kvm-x86-ops.h"
HEADERS = (CPUHP_HEADER, X86_OPS_HEADER) + ARCH_HEADERS

# Item kinds
ENUM_OPEN = "enum_open"    # the `enum cpuhp_state {` line
ENUM_CLOSE = "enum_close"  # its `};`
CPUHP = "cpuhp"            # an enumerator; value: the state it aliases, or ""
X86_OP = "x86_op"          # name: the op; value: KVM_X86_OP, KVM_X86_OP_OPTIONAL...
DEFINE = "define"          # an object-like macro of an arch header


@dataclass(frozen=True)
class HeaderItem:
    line: int
    kind: str
    name: str
    value: str = ""


def blank_comments(text: str) -> str:
    """Comments replaced by blanks, newlines kept (so line numbers hold)."""
    return re.sub(r"/\*.*?\*/|//[^\n]*", lambda m: re.sub(r"[^\n]", " ", m.group()), text,
                  flags=re.DOTALL)


def header_items(path: str, lines: list[str], first_line: int, config: KernelConfig,
                 in_enum: bool = False) -> tuple[HeaderItem, ...]:
    """The items `lines` (numbered from `first_line`) declare in header `path`.

    `in_enum`: the lines start inside enum cpuhp_state (for a hunk's window).
    """
    if path not in HEADERS:
        return ()
    raw = "\n".join(lines)
    # Read as the builder reads each header: the ops list unmasked, the
    # others masked; only the cpuhp enum without its comments.
    if path == X86_OPS_HEADER:
        text = raw
    else:
        text = mask_source(raw.encode("utf-8", "replace"), config).text.decode("utf-8", "replace")
    if path == CPUHP_HEADER:
        text = blank_comments(text)
    items: list[HeaderItem] = []
    for i, line in enumerate(text.split("\n")):
        at = first_line + i
        if path == CPUHP_HEADER:
            if "enum cpuhp_state {" in line:
                items.append(HeaderItem(at, ENUM_OPEN, "cpuhp_state"))
                in_enum = True
                continue
            if in_enum and "};" in line:
                items.append(HeaderItem(at, ENUM_CLOSE, "cpuhp_state"))
                in_enum = False
                continue
            m = _ENUM_ITEM.match(line)
            if in_enum and m:
                target = m.group(2) or ""
                items.append(HeaderItem(at, CPUHP, m.group(1),
                                        target if target.startswith("CPUHP_") else ""))
        elif path == X86_OPS_HEADER:
            m = _X86_OP.match(line)
            if m:
                items.append(HeaderItem(at, X86_OP, m.group(2), m.group(1)))
        else:
            m = _PLAIN_DEFINE.match(line)
            if m:
                items.append(HeaderItem(at, DEFINE, m.group(1), (m.group(2) or "").strip()))
    return tuple(items)


def in_cpuhp_enum(items: tuple[HeaderItem, ...], line: int) -> bool:
    """Is `line` between the enum's opening and closing lines?"""
    opened = [i.line for i in items if i.kind == ENUM_OPEN]
    closed = [i.line for i in items if i.kind == ENUM_CLOSE]
    return bool(opened) and opened[0] < line and (not closed or line <= closed[0])


def _synthetic_tree(items: dict[str, tuple[HeaderItem, ...]]) -> SourceTree:
    """A tree holding only the headers, rebuilt from their items."""
    overlay: dict[str, bytes | None] = {path: None for path in HEADERS}
    cpuhp = items.get(CPUHP_HEADER)
    if cpuhp is not None:
        body = [f"{i.name} = {i.value}," if i.value else f"{i.name},"
                for i in cpuhp if i.kind == CPUHP]
        overlay[CPUHP_HEADER] = ("enum cpuhp_state {\n" + "\n".join(body) + "\n};\n").encode()
    ops = items.get(X86_OPS_HEADER)
    if ops is not None:
        overlay[X86_OPS_HEADER] = "".join(f"{i.value}({i.name})\n" for i in ops).encode()
    for path in ARCH_HEADERS:
        defines = items.get(path)
        if defines is not None:
            overlay[path] = "".join(f"#define {i.name} {i.value}".rstrip() + "\n"
                                    for i in defines if i.kind == DEFINE).encode()
    return SourceTree(Path("/nonexistent/kvmplan-baseline"), overlay)


def cpuhp_states(items: dict[str, tuple[HeaderItem, ...]],
                 config: KernelConfig) -> dict[str, CpuhpState]:
    return _cpuhp_states(_synthetic_tree(items), config)


def x86_ops(items: dict[str, tuple[HeaderItem, ...]]) -> dict[str, str]:
    return _x86_ops(_synthetic_tree(items))


def defines(items: dict[str, tuple[HeaderItem, ...]], config: KernelConfig) -> dict[str, str]:
    return arch_defines(_synthetic_tree(items), config)
