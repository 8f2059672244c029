"""The hook graph's data: what the model runs and what `kvmplan graph` shows."""

from __future__ import annotations

from dataclasses import dataclass, field

from kvmplan.cparse.events import Function, ParseError, Table

# cpuhp sections, in the order a CPU passes them coming up.
PREPARE = "PREPARE"
STARTING = "STARTING"
ONLINE = "ONLINE"
OTHER = "OTHER"


@dataclass(frozen=True)
class CpuhpState:
    name: str
    index: int       # position in enum cpuhp_state (order of callbacks)
    section: str


@dataclass(frozen=True)
class Entry:
    """A way into the code: module_init, an ioctl, a cpuhp or syscore callback..."""

    kind: str        # module_init, module_exit, ioctl, cpuhp_startup, cpuhp_teardown,
                     # syscore_suspend, syscore_resume, syscore_shutdown, reboot,
                     # emergency, pm_notifier
    function: str
    file: str
    line: int
    via: str = ""    # the registration or table that makes it an entry
    section: str = ""


@dataclass(frozen=True)
class CpuhpRegistration:
    state: str
    section: str
    startup: str
    teardown: str
    variant: str
    registered_by: str
    file: str
    line: int
    locks_held: tuple[str, ...]
    name: str = ""


@dataclass(frozen=True)
class CallEdge:
    caller: str
    callee: str
    file: str
    line: int
    locks_held: tuple[str, ...]
    kind: str = "direct"   # direct, static_call, ops_call, ptr, cross_call, cpuhp, register
    via: str = ""          # ops field or table that bound an indirect call


@dataclass(frozen=True)
class OpBinding:
    """`struct.field` bound to a function by a table, e.g. kvm_x86_ops.hardware_enable."""

    struct: str
    field: str
    function: str
    table: str
    file: str
    line: int


@dataclass(frozen=True)
class HookGraph:
    """Functions by name (strong over weak, vendor-selected), ops bindings,
    cpuhp states of the tree, entries and resolved call edges. Frozen: the
    stages after graph read it and build their own structures beside it.

    `ambiguous` names the global functions with two or more strong
    definitions that the selection rules (graph.build._better: strong over
    __weak, the chosen vendor's directory over the other's, a .c file over
    a header) do not choose between: name → (file, line) of each of those
    definitions, sorted. The kernel would not link both (or they belong to
    different configs); `functions[name]` holds the first of them, so the
    choice is stable but arbitrary, and a verdict must not rest on it."""

    root: str
    vendor: str
    functions: dict[str, Function]
    statics: dict[tuple[str, str], Function]       # (file, name) → static function
    tables: dict[str, list[Table]]
    bindings: dict[tuple[str, str], list[OpBinding]]
    x86_ops: dict[str, str]                         # op → KVM_X86_OP kind
    global_types: dict[str, str]
    per_cpu: frozenset[str]
    cpuhp_states: dict[str, CpuhpState]
    entries: list[Entry]
    cpuhp: list[CpuhpRegistration]
    edges: list[CallEdge]
    errors: list[ParseError] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    # module parameter variable → its default (literal initializer) value
    params: dict[str, str] = field(default_factory=dict)
    # plain scalar variable defined once in the files read, and not a module
    # parameter that can change after load → its value at load (build._scalars)
    scalars: dict[str, str] = field(default_factory=dict)
    # name → (file, line) of each strong definition no rule chooses between
    ambiguous: dict[str, tuple[tuple[str, int], ...]] = field(default_factory=dict)

    def function(self, name: str, from_file: str = "") -> Function | None:
        """Resolve a direct call: a static in the caller's file first, then global."""
        if from_file:
            fn = self.statics.get((from_file, name))
            if fn is not None:
                return fn
        return self.functions.get(name)

    def section_of(self, state: str) -> str:
        st = self.cpuhp_states.get(state)
        return st.section if st else OTHER
