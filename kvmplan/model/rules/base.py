"""What a rule module is made of.

A rule is one module kvmplan/model/rules/kvmNNN.py holding:
- RULE: its document (severity, summary, what, why, example, fix, what it
  cannot see, messages), the module's docstring, which `kvmplan rules` prints;
- CHECK: its check in the Python engine: for each hook point it watches, a
  function of the hook's `At` (what the engine knows there) that returns the
  violations as `Report`s, with messages written as format strings in the
  document's "## Messages" (RULE.say), and keeps the rule's own bookkeeping in the named World fields
  the module documents;
- PROMELA: the same check for the SPIN cross-check: statements the exporter
  places at the same hook points (see kvmplan/model/promela).

Both engines fire the hook points of HOOKS and nothing else: they never name
a rule. A rule the model cannot check yet has CHECK = None and PROMELA = None
and says so in RULE.checked."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

from kvmplan.model.kernel import THREADS
from kvmplan.model.program import Program
from kvmplan.model.trace import LockEdge, Step
from kvmplan.model.trace import Site as Where   # (function, file, line)
from kvmplan.model.world import Frame, Thread, World

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Rule:
    """One property with a stable code and the text `kvmplan rules` prints."""

    code: str
    name: str
    severity: Severity
    summary: str
    what: str
    why: str
    example: str
    fix: str
    checked: str
    # what the check cannot see: constructs the front-end drops, files and
    # paths outside the model, bounds
    blind: str

    # its messages: format strings by key, the "## Messages" section
    messages: tuple[tuple[str, str], ...] = ()

    def say(self, key: str, **values: object) -> str:
        """The message `key`, filled with `values`."""
        return dict(self.messages)[key].format(**values)

    @classmethod
    def from_doc(cls, doc: str | None) -> "Rule":
        """A rule from its module's docstring: "CODE name, severity: summary"
        on the first line, then the sections of DOC_SECTIONS as "## Title"
        headings, in that order (what kvmplan rules prints), and last, when
        the rule reports anything, "## Messages": one "- key: format string"
        item per message, wrapped lines indented. "How kvmplan checks it" and
        "What it cannot see" are one line each (paragraph breaks are wrapped
        text)."""
        lines = (doc or "").strip("\n").splitlines()
        head, summary = lines[0].split(": ", 1)
        code_name, severity = head.split(", ")
        code, name = code_name.split()
        if severity not in ("error", "warning"):
            raise ValueError(f"{code}: severity {severity!r}, expected error or warning")
        sections: dict[str, list[str]] = {}
        current: list[str] | None = None
        for line in lines[1:]:
            if line.startswith("## "):
                current = sections.setdefault(line[3:].strip(), [])
            elif current is not None:
                current.append(line)
        text = {title: "\n".join(body).strip("\n") for title, body in sections.items()}
        messages = _messages(text.pop(MESSAGES_SECTION, ""))
        if list(text) != [title for title, _ in DOC_SECTIONS]:
            raise ValueError(f"{code}: docstring sections {list(text)}, expected "
                             f"{[title for title, _ in DOC_SECTIONS]}")
        fields = {key: text[title] for title, key in DOC_SECTIONS}
        for key in ONE_LINE:
            fields[key] = " ".join(fields[key].split())
        return cls(code=code, name=name, severity=severity,  # type: ignore[arg-type]
                   summary=summary, messages=messages, **fields)


def _messages(section: str) -> tuple[tuple[str, str], ...]:
    """The "- key: text" items of a Messages section, continuation lines
    joined by one space."""
    items: list[list[str]] = []
    for line in section.splitlines():
        if line.startswith("- "):
            key, text = line[2:].split(": ", 1)
            items.append([key, text])
        elif line.strip():
            items[-1][1] += " " + line.strip()
    return tuple((key, text) for key, text in items)


MESSAGES_SECTION = "Messages"
# the sections written as one paragraph (wrapped text)
ONE_LINE = ("checked", "blind")

# The sections of a rule module's docstring, in order: (heading, Rule field).
DOC_SECTIONS = (("What it checks", "what"), ("Why it matters", "why"), ("Example", "example"),
                ("How to fix", "fix"), ("How kvmplan checks it", "checked"),
                ("What it cannot see", "blind"))


# Hook points: where both engines run the rules' checks. The Python engine
# (interp.py, builtins.py, explorer.py) fires each with an `At`; the Promela
# exporter places each rule's statements there, in the same indivisible step
# as the action. "step" and "idle" exist only in Promela, whose statements
# are finer than the explorer's transitions (the explorer checks "state",
# which covers "idle", after every transition); the Python engine does not
# fire "suspend_begin" (its suspend procedure keeps the CPUs' state itself).
HOOKS: dict[str, str] = {
    "state": "after every step that changes shared state: a property of every reachable state",
    "step": "at the start of every step of a thread on shared state (the explorer's visible "
            "events: what a thread's transition does first)",
    "idle": "in the step where a thread's operation ends (module init, a VM ioctl, module exit, "
            "a cpu_up/cpu_down, a system event), after the thread is marked idle",
    "enable": "just before a vendor per-CPU enable acts, on the CPU it runs on",
    "disable": "just before a vendor per-CPU disable acts, on the CPU it runs on",
    "tdx_cpu": "just before TDX per-CPU init (tdx_cpu_enable) acts, on the CPU it runs on",
    "uret": "where a user-return MSR snapshot or drop runs",
    "lock": "in the step that takes a lock, before it is taken (code's locks, the "
            "cpus_read_lock of cpuhp_setup/remove_state, cpu_up/cpu_down's write lock)",
    "shared_write": "in a step that writes a global, an atomic, a counter or a per-CPU flag",
    "cross_return": "when a cross call goes on to its next CPU (after a callback returned, "
                    "and at its start)",
    "cpu_pass": "when a pass over the online CPUs that does per-CPU enabling work starts (a "
                "for_each_online_cpu loop, a cross call to all or all other online CPUs)",
    "cpu_active": "in the step where cpu_up makes its CPU active (schedulable)",
    "cpu_rollback": "in the step where a failed cpu_up takes its CPU offline again",
    "walk_begin": "when a thread starts walking vm_list",
    "walk_end": "when that walk ends",
    "list_op": "in the step that adds a VM to vm_list or deletes one from it",
    "register": "in the step of a registration (misc_register, register_syscore_ops...)",
    "init_work": "in a step of lifecycle work (a count, a vm_list change, a registration other "
                 "than /dev/kvm, a cpuhp state registration)",
    "kernel_callback_return": "after a reboot notifier or syscore .shutdown callback returned",
    "suspend_begin": "in the step that starts suspend (tasks frozen)",
    "resume_done": "in the step that ends resume (tasks thawed)",
    "init_done": "in the step where the environment sees module init's return value",
    "setup_begin": "when a thread calls the vendor's hardware_setup() (an op_setup binding)",
    "consume": "at an event that reads a variable the vendor's hardware_setup() writes "
               "(Program.consumes), before the event acts",
    "vm_create_begin": "in the step that starts a VM creation",
    "vm_create_end": "in the step where VM creation returns",
    "unloaded": "in the step where module exit has returned and the module is gone",
    "field_read": "at an event that reads a field of the VM the model follows (Program.vm_reads), "
                  "before the event acts; `kind` is vcpu_create inside a vCPU creation",
    "field_write": "in the step that writes a field of the VM the model follows, before the "
                   "write: `outcome` says whether it changes the value (changes, same)",
    "vcpu_create_end": "in the step where a vCPU creation (Program.vcpu_entries) returns: "
                       "`outcome` done or fails",
}


# The hook points only the VM-operations pass reaches: that pass checks the
# rules that watch one of them (rules.VM_RULES), the other passes the rest.
VM_HOOKS = frozenset({"field_read", "field_write", "vcpu_create_end"})


# --- the Python engine -----------------------------------------------------------

class At:
    """What the Python engine knows at a hook point.

    Always: the world (which checks may update for their bookkeeping), the
    program, the thread (None at "state"), the CPU, the innermost context
    and the site of the step (both computed when first read). Depending on
    the hook: `name` (the primitive's function, the lock, the list),
    `outcome` (enable: "on", "busy", "fails"; tdx_cpu: "done", "fails";
    lock: "taken", "again"), `lock`/`shared`/`sleeps`/`first` (lock: may it
    sleep; `first` is where the thread first took it), `cpus`/`work`/`how` (cpu_pass: the CPUs
    covered, "enable" or "tdx"), `verb` (list_op, init_work), `kind`
    (register), `frame` (the frame that runs the step: at cross_return the
    cross call's), `before` (resume_done: virtualization before suspend)."""

    __slots__ = ("world", "program", "thread", "cpu", "name", "outcome", "lock", "shared",
                 "sleeps", "first", "cpus", "work", "how", "verb", "kind", "frame", "before",
                 "_ctx", "_site", "_where")

    def __init__(self, world: World, program: Program, thread: Thread | None = None,
                 cpu: int = 0, *, ctx: str | None = None, site: Where | None = None,
                 where: Callable[[], Where] | None = None, name: str = "", outcome: str = "",
                 lock: str = "", shared: bool = False, sleeps: bool = False,
                 first: Where = ("", "", 0),
                 cpus: tuple[int, ...] = (), work: str = "", how: str = "", verb: str = "",
                 kind: str = "", frame: Frame | None = None,
                 before: tuple[bool, ...] = ()) -> None:
        self.world, self.program, self.thread, self.cpu = world, program, thread, cpu
        self.name, self.outcome, self.lock, self.shared, self.first = name, outcome, lock, shared, first
        self.sleeps = sleeps
        self.cpus, self.work, self.how, self.verb, self.kind = cpus, work, how, verb, kind
        self.frame, self.before = frame, before
        self._ctx, self._site, self._where = ctx, site, where

    @property
    def ctx(self) -> str:
        """The innermost callback context of the thread (kernel.CONTEXTS), or ""."""
        if self._ctx is None:
            self._ctx = self.thread.context() if self.thread is not None else ""
        return self._ctx

    @property
    def site(self) -> Where:
        """(function, file, line) of the step."""
        if self._site is None:
            self._site = self._where() if self._where is not None else ("", "", 0)
        return self._site


@dataclass(frozen=True)
class Report:
    """A violation found at a hook point: at the hook's site unless `site`
    says where the bug is; a state property names the CPU it is about."""

    message: str
    site: Where | None = None
    cpu: int = -1


@dataclass(frozen=True)
class Found:
    """A violation found after the search, from what it reached (a post check)."""

    message: str
    site: Where
    trace: list[Step]
    details: list[str] = field(default_factory=list)


# For KVM007's post check: edges by (held, lock, thread, held_mode, mode) →
# (the edge, the state it was reached from, the steps that took it) and a
# function giving the trace to a state.
Edges = dict[tuple, tuple[LockEdge, tuple, list[Step]]]
TraceOf = Callable[[tuple], list[Step]]


@dataclass(frozen=True)
class Check:
    """A rule's Python check: the function run at each hook point it watches,
    and optionally a check over the whole search (lock-order edges)."""

    hooks: dict[str, Callable[[At], Iterable[Report]]]
    post: Callable[[Edges, TraceOf], list[Found]] | None = None


# --- the Promela export ------------------------------------------------------------

# The environment threads, by Promela thread id (kernel.THREADS).
INIT, USER, HOTPLUG, SYSTEM = (THREADS.index(t) for t in ("init", "user", "hotplug", "system"))


@dataclass(frozen=True)
class Facts:
    """What a rule's statements may name about the scenario (fixed for one
    export): the hotplug lock's id, the usage counters (vocabulary) with their
    variables, tests that the counters the code changes are not 0 and that a
    module parameter asks to enable virtualization at load, the registration
    bits (kind/object), the number of cpuhp states, whether a reboot notifier
    or syscore .shutdown callback can run (a reboot is a system event and the
    code registers one), and the test that /dev/kvm is registered."""

    ncpus: int
    hotplug_lock: str = "L0"
    counters: tuple[tuple[str, str], ...] = ()
    usage: tuple[str, ...] = ()
    params: tuple[str, ...] = ()
    regs: tuple[tuple[str, str], ...] = ()
    nstates: int = 0
    shutdown_callbacks: bool = False
    # /dev/kvm is registered now: a misc registration's bit is set ("0": none)
    dev_kvm: str = "0"
    # the fields of the VM the model follows (Program.vm_fields), in order
    vm_fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class Site:
    """Where the Promela generator places a rule's statements.

    thread, cpu (a Promela expression), ctx (the frame's context: init,
    ioctl, exit, hotplug, IPI, setup, PREPARE, STARTING, ONLINE, reboot,
    shutdown, syscore). At a lock hook: the lock, its id, whether it is taken
    for read and whether it may sleep, and every lock (name, id) the thread
    may hold. At enable and
    cross-call hooks: whether a cross call runs the vendor enable directly,
    the innermost cross call's flag "a callback failure not recorded yet",
    and the flags of all enclosing cross calls. At a cpu_pass hook: the
    per-CPU work ("enable" or "tdx") and the mask of the CPUs the pass
    covers. At a register hook: the registration's kind. At the end of an
    operation: the variable holding its return value and, for VM creation,
    the thread's count of VMs it put on vm_list. `facts` is filled in by the
    generator."""

    thread: int
    cpu: str
    ctx: str
    ncpus: int
    lock: str = ""
    lock_id: str = ""
    shared: bool = False
    sleeps: bool = False
    locks: tuple[tuple[str, str], ...] = ()
    direct: bool = False
    dropped: str = ""
    chain: tuple[str, ...] = ()
    work: str = ""
    covered: str = ""
    kind: str = ""
    result: str = ""
    owned: str = ""
    facts: Facts | None = None
    # in a cross call's callback: the CPU of the caller (a Promela
    # expression), whose own call is direct, not an interrupt
    origin: str = ""
    # at field_read/field_write: the VM's field, whether the thread is
    # creating a vCPU, and (field_write) a Promela test that the write
    # changes the value; at vcpu_create_end: `result`
    field: str = ""
    creating: bool = False
    changes: str = "0"


Hook = Callable[[Site], list[str]]


@dataclass(frozen=True)
class RuleCheck:
    code: str
    statement: str
    hooks: tuple[tuple[str, Hook], ...]
    # a rule about the whole state space: decides from the probes (assertions
    # named P_<code>_...) SPIN reached
    post: Callable[[frozenset[str]], bool] | None = None
    # global declarations the rule's statements keep (its own bookkeeping)
    decls: Callable[[Facts], list[str]] | None = None


def broken(code: str, cond: str) -> list[str]:
    """Statements asserting that rule `code` holds: fail when `cond` is true."""
    return [f"if :: ({cond}) -> assert({code}) :: else -> skip fi"]


def when(cond: str, stmts: list[str]) -> list[str]:
    """Statements run only when `cond` holds."""
    return [f"if :: ({cond}) -> {'; '.join(stmts)} :: else -> skip fi"]


def any_cpu(ncpus: int, test: Callable[[int], str]) -> str:
    return " || ".join(f"({test(c)})" for c in range(ncpus))


def enable_fails(s: Site) -> str:
    return f"!virt[{s.cpu}] && bad == {s.cpu}"


def enable_succeeds(s: Site) -> str:
    return f"!virt[{s.cpu}] && bad != {s.cpu}"


def facts(s: Site) -> Facts:
    assert s.facts is not None, "the generator fills in Site.facts"
    return s.facts


def leftovers(f: Facts, state: bool) -> str:
    """Something a module that is gone left behind (world.leftovers): a
    registration, a cpuhp state, a VM; with `state` also a usage counter not
    0 or virtualization on somewhere."""
    parts = [bit for _, bit in f.regs] + [f"reg[{i}] != 0" for i in range(f.nstates)] + ["vms > 0"]
    if state:
        parts += [f"{var} != 0" for _, var in f.counters]
        parts += [f"virt[{c}]" for c in range(f.ncpus)]
    return " || ".join(f"({p})" for p in parts)


def comment(text: str) -> str:
    """Text made safe inside a Promela /* comment */."""
    return text.replace("*/", "* /").replace("\n", " ")
