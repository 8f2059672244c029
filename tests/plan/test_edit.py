"""The edits stages make: event-stream insertion, lock recomputation, code
compiled from C, and the graph rebuilt from edited code."""

from __future__ import annotations

from kvmplan.cparse import events as ev
from kvmplan.cparse.events import Event
from kvmplan.graph import build_graph
from kvmplan.plan.edit import inner, insert, load_code, lock, noop, relock, unlock
from kvmplan.source import SourceTree


def _stream() -> tuple[Event, ...]:
    # 0 lock a; 1 if (r) goto 3; 2 call f; 3 unlock a; 4 return
    return relock((
        lock(1, "a", "mutex"),
        Event(ev.BRANCH, 2, cond=("slot", "r"), target=3),
        Event(ev.CALL, 3, name="f"),
        unlock(4, "a", "mutex"),
        Event(ev.RETURN, 5),
    ))


def test_relock_is_a_must_analysis() -> None:
    events = _stream()
    assert [e.locks for e in events] == [(), ("a",), ("a",), ("a",), ()]


def test_insert_lands_jumps_on_the_block_and_resolves_inner_targets() -> None:
    block = [Event(ev.BRANCH, 9, cond=("slot", "x"), target=inner(2)), Event(ev.CALL, 9, name="g")]
    out = insert(_stream(), 3, block)
    assert [e.kind for e in out] == ["lock", "branch", "call", "branch", "call", "unlock", "return"]
    assert out[1].target == 3          # the old jump to the unlock now runs the block
    assert out[3].target == 5          # inner(2): the event after the block
    assert out[4].locks == ("a",)


def test_insert_without_landing_keeps_jumps_past_the_block() -> None:
    out = insert(_stream(), 3, [Event(ev.CALL, 9, name="g")], land=False)
    assert out[1].target == 4 and out[4].kind == "unlock"


def test_noop_keeps_indices() -> None:
    events = _stream()
    e = noop(events[2], "gone")
    assert e.kind == ev.LABEL and e.line == 3 and "gone" in e.name


def test_code_graph_is_the_graph_build_graph_gives(kernel_tree) -> None:
    tree = SourceTree(kernel_tree("6.12"))
    _, graph = load_code(tree)
    ref = build_graph(tree)
    assert graph.entries == ref.entries
    assert sorted(map(repr, graph.edges)) == sorted(map(repr, ref.edges))
    assert graph.cpuhp == ref.cpuhp and graph.cpuhp_states == ref.cpuhp_states


def test_incremental_load_matches_a_full_load(kernel_tree) -> None:
    tree = SourceTree(kernel_tree("6.12"))
    code, _ = load_code(tree)
    path = "virt/kvm/kvm_main.c"
    data = tree.read(path)
    assert data is not None
    changed = tree.with_overlay({path: data.replace(b"guard(mutex)(&kvm_usage_lock);",
                                                    b"guard(mutex)(&kvm_lock);")})
    _, incremental = load_code(changed, base=code, changed=frozenset({path}))
    _, full = load_code(changed)
    fn, ref = incremental.functions["kvm_enable_virtualization"], full.functions[
        "kvm_enable_virtualization"]
    assert fn == ref and fn.events[0].name == "kvm_lock"


def test_compiled_functions_move_to_their_anchor(kernel_tree) -> None:
    code, _ = load_code(SourceTree(kernel_tree("6.12")))
    unit = code.compile("virt/kvm/kvm_main.c", "static int kvm_usage_count;\n"
                        "static int f(void)\n{\n\tkvm_usage_count++;\n\treturn 0;\n}\n",
                        {"f": 100})
    (fn,) = unit.functions
    assert fn.line == 100 and fn.events[0].kind == ev.COUNT and fn.events[0].line == 102
