"""Build the hook graph of a tree: parse the lifecycle's files, bind ops tables,
resolve calls (direct, static_call, kvm_x86_call, ops pointers), find entries."""

from __future__ import annotations

import gc
import re
from dataclasses import dataclass, replace

from kvmplan.cparse import events as ev
from kvmplan.cparse.cache import parse_cached
from kvmplan.cparse.compile import strip_ref
from kvmplan.cparse.config import KernelConfig, default_config
from kvmplan.cparse.events import FileUnit, Function, Table
from kvmplan.cparse.mask import mask_source
from kvmplan.graph.hooks import (
    ONLINE, OTHER, PREPARE, STARTING, CallEdge, CpuhpRegistration, CpuhpState, Entry,
    HookGraph, OpBinding,
)
from kvmplan.source.tree import SourceTree

# What the x86 lifecycle graph is built from (the tree's own files).
X86_PARTS = (
    "virt/kvm",
    "arch/x86/kvm",
    "arch/x86/virt",
    "arch/x86/kernel/reboot.c",
    "arch/x86/include/asm/kvm_host.h",
    "include/linux/kvm_host.h",
)
VENDOR_DIRS = {"vmx": "arch/x86/kvm/vmx/", "svm": "arch/x86/kvm/svm/"}
_STATIC_CALL_PREFIX = (("kvm_x86_pmu_", "kvm_pmu_ops"), ("kvm_x86_", "kvm_x86_ops"))


@dataclass(frozen=True)
class GraphOptions:
    vendor: str = "vmx"
    parts: tuple[str, ...] = X86_PARTS
    use_cache: bool = True


def parse_units(tree: SourceTree, config: KernelConfig, options: GraphOptions) -> list[FileUnit]:
    units = []
    for rel in tree.files(options.parts):
        data = tree.read(rel)
        if data is None:
            continue
        units.append(parse_cached(rel, data, config, options.use_cache))
    return units


def build_graph(tree: SourceTree, config: KernelConfig | None = None,
                options: GraphOptions | None = None) -> HookGraph:
    config = config or default_config()
    options = options or GraphOptions()
    config = config.with_defines(arch_defines(tree, config))
    # Building allocates ~100k objects (cached units, edges) and makes no
    # garbage cycles; the cyclic GC would otherwise rescan them over and over.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        units = parse_units(tree, config, options)
        return graph_from_units(str(tree.root), units, _cpuhp_states(tree, config),
                                _x86_ops(tree), options.vendor)
    finally:
        if was_enabled:
            gc.enable()


# Headers every KVM file sees, whose plain `#define NAME` lines steer `#if`s
# in common code (e.g. KVM_ARCH_WANT_MMU_NOTIFIER in 6.1's x86 kvm_host.h).
ARCH_HEADERS = ("arch/x86/include/asm/kvm_host.h", "arch/x86/include/asm/kvm_types.h")
_PLAIN_DEFINE = re.compile(r"^#\s*define\s+([A-Za-z_]\w*)(?:[ \t]+(\S[^\n]*))?$", re.M)


def arch_defines(tree: SourceTree, config: KernelConfig) -> dict[str, str]:
    """Object-like macros the arch headers define (in their active branches)."""
    found: dict[str, str] = {}
    for rel in ARCH_HEADERS:
        data = tree.read(rel)
        if data is None:
            continue
        text = mask_source(data, config).text.decode("utf-8", "replace")
        for m in _PLAIN_DEFINE.finditer(text):
            name, value = m.group(1), (m.group(2) or "").strip()
            if name.startswith("_ASM") or name.endswith("_H"):
                continue
            found.setdefault(name, value or "1")
    return found


def _with_dynamic_states(states: dict[str, CpuhpState],
                         units: list[FileUnit]) -> dict[str, CpuhpState]:
    """A dynamically allocated cpuhp state, named by where its number is
    kept (cparse.compile.name_dynamic_states), takes the place and section
    of its range (CPUHP_AP_ONLINE_DYN, CPUHP_BP_PREPARE_DYN)."""
    out = dict(states)
    for unit in units:
        for fn in unit.functions:
            for e in fn.events:
                if e.kind == ev.CPUHP_SETUP and e.value in states and e.name not in out:
                    dyn = states[e.value]
                    out[e.name] = CpuhpState(e.name, dyn.index, dyn.section)
    return out


def graph_from_units(root: str, units: list[FileUnit], states: dict[str, CpuhpState],
                     x86_ops: dict[str, str], vendor: str) -> HookGraph:
    vendor_dir = VENDOR_DIRS.get(vendor, "")
    other_vendor_dirs = tuple(d for v, d in VENDOR_DIRS.items() if v != vendor)
    functions: dict[str, Function] = {}
    definitions: dict[str, list[Function]] = {}    # name → its global definitions
    statics: dict[tuple[str, str], Function] = {}
    tables: dict[str, list[Table]] = {}
    global_types: dict[str, str] = {}
    per_cpu: set[str] = set()
    errors = []
    for unit in units:
        errors.extend(unit.errors)
        for g in unit.globals:
            if g.per_cpu:
                per_cpu.add(g.name)
            global_types.setdefault(g.name, g.type)
        for table in unit.tables:
            tables.setdefault(table.name, []).append(table)
        for fn in unit.functions:
            if fn.static:
                statics[(fn.file, fn.name)] = fn
            else:
                definitions.setdefault(fn.name, []).append(fn)
            prev = functions.get(fn.name)
            if prev is None or _better(fn, prev, vendor_dir, other_vendor_dirs):
                functions[fn.name] = fn
    bindings = _bindings(tables)
    states = _with_dynamic_states(states, units)
    graph = HookGraph(
        root=root, vendor=vendor, functions=functions, statics=statics, tables=tables,
        bindings=bindings, x86_ops=x86_ops, global_types=global_types,
        per_cpu=frozenset(per_cpu), cpuhp_states=states, entries=[], cpuhp=[], edges=[],
        errors=errors, files=sorted(u.path for u in units), params=_module_params(units),
        scalars=_scalars(units),
        ambiguous=_ambiguous(definitions, other_vendor_dirs),
    )
    graph = replace(graph, entries=_entries(graph, units))
    edges, cpuhp = _edges(graph)
    graph = replace(graph, edges=edges, cpuhp=cpuhp)
    entries = graph.entries + _registered_entries(graph)
    return replace(graph, entries=sorted(set(entries),
                                         key=lambda e: (e.kind, e.function, e.file, e.line)))


def _module_params(units: list[FileUnit]) -> dict[str, str]:
    """Module parameters (module_param*) whose variable has a literal default."""
    params: dict[str, str] = {}
    for unit in units:
        inits = {g.name: g.init for g in unit.globals if g.init}
        for call in unit.top_calls:
            if call.name == "module_param" and call.args:
                var = call.args[0]
            elif call.name in ("module_param_named", "module_param_cb") and len(call.args) > 1:
                var = strip_ref(call.args[1])
            else:
                continue
            if var in inits:
                params[var] = inits[var]
    return dict(sorted(params.items()))


def _scalars(units: list[FileUnit]) -> dict[str, str]:
    """Plain scalar variables (GlobalVar.scalar) defined once in the files
    read, with their value at load. A module parameter keeps its default
    unless it can change later: writable through sysfs (a write bit in its
    permission) or set through parameter ops of its own (module_param_cb)."""
    found: dict[str, list[str]] = {}
    for unit in units:
        for g in unit.globals:
            if g.scalar:
                found.setdefault(g.name, []).append(g.init)
    changing: set[str] = set()
    for unit in units:
        for call in unit.top_calls:
            var, perm = _param_of(call.name, call.args)
            if var and ("_cb" in call.name or "_call" in call.name or _writable(perm)):
                changing.add(var)
    return {name: inits[0] for name, inits in sorted(found.items())
            if len(inits) == 1 and name not in changing}


def _param_of(macro: str, args: tuple[str, ...]) -> tuple[str, str]:
    """The variable a module_param*() statement declares, and its permission."""
    if not macro.startswith("module_param") or "array" in macro or not args:
        return "", ""
    if macro == "module_param" or macro == "module_param_unsafe":
        index = 0
    elif "_cb" in macro:
        index = 2
    elif "_call" in macro:
        index = 3
    else:
        index = 1
    return (strip_ref(args[index]) if index < len(args) else ""), args[-1]


def _writable(perm: str) -> bool:
    """A sysfs permission that lets root write the parameter (unknown: yes)."""
    perm = perm.strip()
    if re.fullmatch(r"0[0-7]*", perm):
        return int(perm, 8) & 0o222 != 0
    return not re.fullmatch(r"[S_IRUGOXUSRGRPOTH|\s]+", perm) or "W" in perm


def _rank(fn: Function, other_dirs: tuple[str, ...]) -> tuple[int, int, int, int]:
    """How strongly a definition claims its name; the highest is linked."""
    return (
        0 if fn.weak else 1,                      # strong overrides __weak
        0 if fn.file.startswith(other_dirs) else 1,  # the chosen vendor's code
        1 if fn.file.endswith(".c") else 0,       # a definition over a header stub
        0 if fn.static else 1,
    )


def _better(new: Function, old: Function, vendor_dir: str, other_dirs: tuple[str, ...]) -> bool:
    """Which of two same-named definitions a call binds to. When the rank
    does not decide (two strong definitions in the same kind of place, see
    _ambiguous), the one whose file, then line, sorts first: stable, and
    independent of the order the files were read in, but arbitrary (a new
    file of a series can sort first), so the graph records the name in
    HookGraph.ambiguous and the analyze stage marks findings through it
    uncertain."""
    a, b = _rank(new, other_dirs), _rank(old, other_dirs)
    if a != b:
        return a > b
    return (new.file, new.line) < (old.file, old.line)


def _ambiguous(definitions: dict[str, list[Function]],
               other_dirs: tuple[str, ...]) -> dict[str, tuple[tuple[str, int], ...]]:
    """Global functions with two or more strong definitions of the highest
    rank: (file, line) of each, sorted. Not ambiguous: a __weak default and
    its override, VMX and SVM code (the other vendor ranks lower), a header
    stub and its .c definition, static functions (`definitions` holds none)."""
    out: dict[str, tuple[tuple[str, int], ...]] = {}
    for name in sorted(definitions):
        fns = definitions[name]
        if len(fns) < 2:
            continue
        top = max(_rank(fn, other_dirs) for fn in fns)
        tied = sorted((fn.file, fn.line) for fn in fns
                      if not fn.weak and _rank(fn, other_dirs) == top)
        if len(tied) > 1:
            out[name] = tuple(tied)
    return out


def _bindings(tables: dict[str, list[Table]]) -> dict[tuple[str, str], list[OpBinding]]:
    out: dict[tuple[str, str], list[OpBinding]] = {}
    for name in sorted(tables):
        for table in tables[name]:
            for b in table.bindings:
                value = strip_ref(b.value)
                if not re.fullmatch(r"[A-Za-z_]\w*", value) or value in ("NULL",):
                    continue
                out.setdefault((table.struct, b.field), []).append(
                    OpBinding(table.struct, b.field, value, table.name, table.file, b.line))
    return out


def resolve_indirect(graph: HookGraph, caller: Function, event: ev.Event) -> list[tuple[Function, str]]:
    """Implementations an indirect call may reach, with the binding that says so."""
    struct, field_name = _indirect_target(graph, caller, event)
    if not struct:
        return []
    vendor_dir = VENDOR_DIRS.get(graph.vendor, "")
    found = graph.bindings.get((struct, field_name), [])
    preferred = [b for b in found if vendor_dir and b.file.startswith(vendor_dir)]
    chosen = preferred or [b for b in found if not b.file.startswith(tuple(VENDOR_DIRS.values()))]
    out: list[tuple[Function, str]] = []
    for b in chosen:
        fn = graph.function(b.function, b.file)
        if fn is not None:
            out.append((fn, f"{b.table}.{b.field}"))
    return out


def _indirect_target(graph: HookGraph, caller: Function, event: ev.Event) -> tuple[str, str]:
    name = event.name
    if event.mode == "static_call":
        for prefix, struct in _STATIC_CALL_PREFIX:
            if name.startswith(prefix):
                return struct, name[len(prefix):]
        return "", ""
    if "." not in name:
        return "", ""
    owner, field_name = name.rsplit(".", 1)
    owner = owner.split("->")[-1] if "->" in owner else owner
    locals_ = dict(caller.local_types)
    if owner in locals_:
        return locals_[owner], field_name
    if owner in graph.global_types:
        return graph.global_types[owner].replace("const ", "").strip(), field_name
    return owner, field_name


def function_ref(graph: HookGraph, expr: str, caller: Function) -> list[tuple[Function, str]]:
    """A function named by an expression: `kvm_online_cpu`, `kvm_x86_ops.emergency_...`."""
    expr = strip_ref(expr)
    if not expr or expr == "NULL":
        return []
    if re.fullmatch(r"[A-Za-z_]\w*", expr):
        fn = graph.function(expr, caller.file)
        return [(fn, "")] if fn is not None else []
    if "." in expr or "->" in expr:
        fake = ev.Event(kind=ev.ICALL, line=0, name=expr.replace("->", "."), mode="ptr")
        return resolve_indirect(graph, caller, fake)
    return []


def _entries(graph: HookGraph, units: list[FileUnit]) -> list[Entry]:
    entries: list[Entry] = []
    vendor_dir = VENDOR_DIRS.get(graph.vendor, "")
    other = tuple(d for d in VENDOR_DIRS.values() if d != vendor_dir)
    for unit in units:
        if unit.path.startswith(other):
            continue
        for call in unit.top_calls:
            if call.name in ("module_init", "module_exit") and call.args:
                fn = graph.function(call.args[0], call.file)
                if fn is not None:
                    entries.append(Entry(call.name, fn.name, fn.file, fn.line, via=f"{call.file}:{call.line}"))
    for tables in graph.tables.values():
        for table in tables:
            if table.struct != "file_operations":
                continue
            for b in table.bindings:
                if b.field in ("unlocked_ioctl", "compat_ioctl", "release", "open"):
                    fn = graph.function(strip_ref(b.value), table.file)
                    if fn is not None and table.file.startswith("virt/kvm"):
                        entries.append(Entry("ioctl" if "ioctl" in b.field else b.field, fn.name,
                                             fn.file, fn.line, via=f"{table.name}.{b.field}"))
    return entries


def _edges(graph: HookGraph) -> tuple[list[CallEdge], list[CpuhpRegistration]]:
    edges: list[CallEdge] = []
    cpuhp: list[CpuhpRegistration] = []
    for name in sorted(graph.functions):
        fn = graph.functions[name]
        _function_edges(graph, fn, edges, cpuhp)
    for (file, name), fn in sorted(graph.statics.items()):
        if graph.functions.get(name) is not fn:
            _function_edges(graph, fn, edges, cpuhp)
    return edges, cpuhp


def _function_edges(graph: HookGraph, fn: Function, edges: list[CallEdge],
                    cpuhp: list[CpuhpRegistration]) -> None:
    for e in fn.events:
        if e.kind == ev.CALL:
            callee = graph.function(e.name, fn.file)
            if callee is not None:
                edges.append(CallEdge(fn.name, callee.name, fn.file, e.line, e.locks))
        elif e.kind == ev.ICALL:
            for callee, via in resolve_indirect(graph, fn, e):
                edges.append(CallEdge(fn.name, callee.name, fn.file, e.line, e.locks, e.mode, via))
        elif e.kind == ev.CROSS_CALL:
            for callee, via in function_ref(graph, e.name, fn):
                edges.append(CallEdge(fn.name, callee.name, fn.file, e.line, e.locks, "cross_call",
                                      e.mode))
        elif e.kind == ev.CPUHP_SETUP:
            state, label, up, down = (list(e.args) + ["", "", "", ""])[:4]
            section = graph.section_of(state)
            cpuhp.append(CpuhpRegistration(state, section, strip_ref(up) if up != "NULL" else "",
                                           strip_ref(down) if down != "NULL" else "", e.mode,
                                           fn.name, fn.file, e.line, e.locks, label))
            for cb in (up, down):
                for callee, _ in function_ref(graph, cb, fn):
                    edges.append(CallEdge(fn.name, callee.name, fn.file, e.line, e.locks, "cpuhp", state))


def _registered_entries(graph: HookGraph) -> list[Entry]:
    """Callbacks that registrations make reachable: cpuhp, syscore, reboot, emergency."""
    out: list[Entry] = []
    for reg in graph.cpuhp:
        for kind, name in (("cpuhp_startup", reg.startup), ("cpuhp_teardown", reg.teardown)):
            fn = graph.function(name, reg.file) if name else None
            if fn is not None:
                out.append(Entry(kind, fn.name, fn.file, fn.line, via=reg.state, section=reg.section))
    for fn in list(graph.functions.values()):
        for e in fn.events:
            if e.kind != ev.REGISTER:
                continue
            for kind, target in registration_callbacks(graph, fn, e):
                out.append(Entry(kind, target.name, target.file, target.line, via=e.name))
    return out


def registration_callbacks(graph: HookGraph, fn: Function, e: ev.Event) -> list[tuple[str, Function]]:
    """The callbacks a REGISTER event installs, by kind (syscore_resume, reboot...)."""
    out: list[tuple[str, Function]] = []
    if e.mode == "emergency":
        return [("emergency", f) for f, _ in function_ref(graph, e.name, fn)]
    table = _table(graph, e.name, fn.file)
    if table is None:
        return out
    if e.mode == "syscore":
        if any(b.field == "ops" for b in table.bindings):
            inner = _table(graph, strip_ref(next(b.value for b in table.bindings if b.field == "ops")), fn.file)
            table = inner or table
        for b in table.bindings:
            if b.field in ("suspend", "resume", "shutdown"):
                for f, _ in function_ref(graph, b.value, fn):
                    out.append((f"syscore_{b.field}", f))
    elif e.mode in ("reboot", "pm", "cpu_pm"):
        for b in table.bindings:
            if b.field == "notifier_call":
                for f, _ in function_ref(graph, b.value, fn):
                    out.append((e.mode if e.mode != "pm" else "pm_notifier", f))
    return out


def _table(graph: HookGraph, name: str, prefer_file: str) -> Table | None:
    cands = graph.tables.get(strip_ref(name), [])
    for t in cands:
        if t.file == prefer_file:
            return t
    return cands[0] if cands else None


_ENUM_ITEM = re.compile(r"^\s*(CPUHP_[A-Z0-9_]+)\s*(?:=\s*([A-Z0-9_]+))?\s*,?", re.M)


def _cpuhp_states(tree: SourceTree, config: KernelConfig) -> dict[str, CpuhpState]:
    """Sections of the cpuhp states, read from the tree's own include/linux/cpuhotplug.h."""
    data = tree.read("include/linux/cpuhotplug.h")
    if data is None:
        return {}
    text = mask_source(data, config).text.decode("utf-8", "replace")
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    start = text.find("enum cpuhp_state {")
    end = text.find("};", start)
    if start < 0 or end < 0:
        return {}
    names: list[str] = []
    aliases: dict[str, str] = {}
    for m in _ENUM_ITEM.finditer(text[start:end]):
        if m.group(2) and m.group(2).startswith("CPUHP_"):
            aliases[m.group(1)] = m.group(2)
        else:
            names.append(m.group(1))
    index = {n: i for i, n in enumerate(names)}

    def at(name: str) -> int:
        return index.get(name, -1)

    bringup, ap_online = at("CPUHP_BRINGUP_CPU"), at("CPUHP_AP_ONLINE")
    online_idle, active = at("CPUHP_AP_ONLINE_IDLE"), at("CPUHP_AP_ACTIVE")
    states: dict[str, CpuhpState] = {}
    for name, i in index.items():
        if 0 <= i < bringup:
            section = PREPARE
        elif bringup < i < ap_online:
            section = STARTING
        elif online_idle < i < active:
            section = ONLINE
        else:
            section = OTHER
        states[name] = CpuhpState(name, i, section)
    for alias, target in aliases.items():
        if target in states:
            states[alias] = CpuhpState(alias, states[target].index, states[target].section)
    return states


_X86_OP = re.compile(r"^\s*(KVM_X86_OP(?:_OPTIONAL(?:_RET0)?)?)\(\s*(\w+)\s*\)", re.M)


def _x86_ops(tree: SourceTree) -> dict[str, str]:
    """The ops of the KVM_X86_OP X-macro list (arch/x86/include/asm/kvm-x86-ops.h)."""
    data = tree.read("arch/x86/include/asm/kvm-x86-ops.h")
    if data is None:
        return {}
    return {m.group(2): m.group(1) for m in _X86_OP.finditer(data.decode("utf-8", "replace"))}
