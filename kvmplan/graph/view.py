"""The lifecycle as a reader wants it: only functions that matter to hardware
virtualization, reached from the entries, with the locks held on the way."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from kvmplan.cparse import events as ev
from kvmplan.cparse.events import Function
from kvmplan.cparse.tables import rows
from kvmplan.graph.build import VENDOR_DIRS
from kvmplan.graph.hooks import CallEdge, CpuhpRegistration, Entry, HookGraph

_ENTRY_ORDER = ("module_init", "ioctl", "cpuhp_startup", "cpuhp_teardown", "syscore_suspend",
                "syscore_resume", "syscore_shutdown", "reboot", "emergency", "module_exit")


@lru_cache(maxsize=1)
def vocabulary() -> dict[str, frozenset[str]]:
    """Role → names, from grammars/lifecycle.txt."""
    roles: dict[str, set[str]] = {}
    for role, name in rows("lifecycle.txt", 2):
        roles.setdefault(role, set()).add(name)
    return {role: frozenset(names) for role, names in roles.items()}


def own_lifecycle_events(fn: Function) -> bool:
    """Does the function itself touch lifecycle state (see grammars/lifecycle.txt)?"""
    vocab = vocabulary()
    for e in fn.events:
        if e.kind in (ev.CPUHP_SETUP, ev.CPUHP_REMOVE, ev.REGISTER, ev.UNREGISTER):
            return True
        if e.kind in (ev.LOCK, ev.UNLOCK) and e.name in vocab.get("lock", ()):
            return True
        if e.kind == ev.COUNT and e.name in vocab.get("counter", ()):
            return True
        if e.kind in (ev.LIST_ADD, ev.LIST_DEL) and e.name in vocab.get("list", ()):
            return True
        if e.kind == ev.LOOP and e.mode == "list" and e.name in vocab.get("list", ()):
            return True
        if e.kind in (ev.PERCPU_READ, ev.PERCPU_WRITE) and e.name in vocab.get("percpu_flag", ()):
            return True
        if e.kind == ev.ASM and e.name in vocab.get("asm_enable", set()) | vocab.get("asm_disable", set()):
            return True
        if e.kind == ev.CALL and e.name in (vocab.get("fn_tdx_cpu", set()) | vocab.get("fn_tdx_enable", set())
                                            | vocab.get("fn_uret", set())):
            return True
    return False


def relevant_functions(graph: HookGraph, also: set[str] | frozenset[str] = frozenset()) -> set[str]:
    """Functions with lifecycle events (and the functions `also` names), and
    every function that reaches one."""
    callers: dict[str, set[str]] = {}
    for edge in graph.edges:
        callers.setdefault(edge.callee, set()).add(edge.caller)
    vocab = vocabulary()
    op_fields = set().union(*(names for role, names in vocab.items() if role.startswith("op_")))
    relevant = {name for name, fn in graph.functions.items() if own_lifecycle_events(fn)}
    relevant |= set(also) & set(graph.functions)
    # implementations bound to the enable/disable/setup ops are lifecycle code
    relevant |= {e.callee for e in graph.edges if e.via.rsplit(".", 1)[-1] in op_fields}
    relevant |= {fn.name for fn in graph.statics.values() if own_lifecycle_events(fn)}
    work = list(relevant)
    while work:
        name = work.pop()
        for caller in callers.get(name, ()):
            if caller not in relevant:
                relevant.add(caller)
                work.append(caller)
    return relevant


@dataclass(frozen=True)
class Step:
    """One call in the ordered lifecycle tree."""

    depth: int
    caller: str
    callee: str
    file: str
    line: int
    kind: str
    via: str
    locks_held: tuple[str, ...]   # locks held at the call, including the callers'


@dataclass(frozen=True)
class Lifecycle:
    entries: tuple[Entry, ...]
    functions: tuple[Function, ...]
    calls: tuple[CallEdge, ...]
    cpuhp: tuple[CpuhpRegistration, ...]
    sequences: tuple[tuple[Entry, tuple[Step, ...]], ...]


def lifecycle(graph: HookGraph, entry: str | None = None, max_depth: int = 12) -> Lifecycle:
    relevant = relevant_functions(graph)
    vendor_dir = VENDOR_DIRS.get(graph.vendor, "")
    other = tuple(d for d in VENDOR_DIRS.values() if d != vendor_dir)
    if entry:
        fn = graph.functions.get(entry)
        roots = [Entry("entry", fn.name, fn.file, fn.line)] if fn else []
    else:
        roots = [e for e in graph.entries
                 if e.function in relevant and not e.file.startswith(other)
                 and e.kind in _ENTRY_ORDER]
        roots.sort(key=lambda e: (_ENTRY_ORDER.index(e.kind), e.function))
    by_caller: dict[str, list[CallEdge]] = {}
    for edge in graph.edges:
        if edge.callee in relevant:
            by_caller.setdefault(edge.caller, []).append(edge)
    for edges in by_caller.values():
        edges.sort(key=lambda e: (e.line, e.callee))
    sequences = []
    reached: set[str] = set()
    for root in roots:
        steps: list[Step] = []
        _walk(graph, root.function, (), 0, by_caller, steps, set(), reached, max_depth)
        reached.add(root.function)
        sequences.append((root, tuple(steps)))
    names = sorted(reached)
    functions = tuple(graph.functions[n] for n in names if n in graph.functions)
    calls = tuple(sorted(
        (e for e in graph.edges if e.caller in reached and e.callee in reached),
        key=lambda e: (e.file, e.line, e.caller, e.callee)))
    cpuhp = tuple(r for r in graph.cpuhp if r.registered_by in reached or not entry)
    entries = tuple(roots)
    return Lifecycle(entries, functions, calls, cpuhp, tuple(sequences))


_SHOWN_EVENTS = (ev.REGISTER, ev.UNREGISTER, ev.CPUHP_SETUP, ev.CPUHP_REMOVE, ev.COUNT,
                 ev.LIST_ADD, ev.LIST_DEL)


def describe(e: ev.Event) -> str:
    """One line for an event, as the text view and traces show it."""
    if e.kind == ev.CPUHP_SETUP:
        state, _, up, down = (list(e.args) + ["", "", "", ""])[:4]
        return f"cpuhp_setup_state{'_' + e.mode if e.mode != 'calls' else ''}({state}, {up}, {down})"
    if e.kind == ev.CPUHP_REMOVE:
        return f"cpuhp_remove_state{'_' + e.mode if e.mode != 'calls' else ''}({e.name})"
    if e.kind in (ev.REGISTER, ev.UNREGISTER):
        return f"{e.kind} {e.mode} {e.name}"
    if e.kind == ev.COUNT:
        return f"{e.name} {'++' if e.mode == 'inc' else '--' if e.mode == 'dec' else '= ' + e.value}"
    if e.kind in (ev.LIST_ADD, ev.LIST_DEL):
        return f"{e.kind}({', '.join(e.args)})"
    if e.kind in (ev.LOCK, ev.UNLOCK):
        return f"{e.kind} {e.name}" + (f" ({e.scope})" if e.scope and e.scope != "call" else "")
    return f"{e.kind} {e.name}".strip()


def _walk(graph: HookGraph, name: str, held: tuple[str, ...], depth: int,
          by_caller: dict[str, list[CallEdge]], steps: list[Step], stack: set[str],
          reached: set[str], max_depth: int) -> None:
    if depth >= max_depth or name in stack:
        return
    stack.add(name)
    seen_here: set[tuple[str, str]] = set()
    fn = graph.functions.get(name)
    vocab = vocabulary()
    shown = [e for e in (fn.events if fn else ()) if e.kind in _SHOWN_EVENTS and (
        e.kind not in (ev.COUNT, ev.LIST_ADD, ev.LIST_DEL)
        or e.name in vocab.get("counter", set()) | vocab.get("list", set()))]
    items: list[tuple[int, int, object]] = [(e.line, 0, e) for e in shown]
    items += [(edge.line, 1, edge) for edge in by_caller.get(name, [])]
    items.sort(key=lambda t: (t[0], t[1]))
    for _, is_edge, item in items:
        if not is_edge:
            e = item  # type: ignore[assignment]
            assert isinstance(e, ev.Event)
            locks = held + tuple(x for x in e.locks if x not in held)
            steps.append(Step(depth, name, describe(e), fn.file if fn else "", e.line, "event", "", locks))
            continue
        edge = item  # type: ignore[assignment]
        assert isinstance(edge, CallEdge)
        key = (edge.callee, edge.kind)
        if key in seen_here:
            continue
        seen_here.add(key)
        locks = held + tuple(x for x in edge.locks_held if x not in held)
        steps.append(Step(depth, name, edge.callee, edge.file, edge.line, edge.kind, edge.via, locks))
        reached.add(edge.callee)
        if edge.kind != "cpuhp":   # callbacks are shown under their own entry
            _walk(graph, edge.callee, locks, depth + 1, by_caller, steps, stack, reached, max_depth)
    stack.discard(name)
