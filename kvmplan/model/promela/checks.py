"""Each rule's Promela check: statements placed at hook points of the export,
assertions named by the rule code, the globals they keep."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass

from kvmplan.graph.hooks import STARTING
from kvmplan.model.kernel import HOTPLUG_LOCK, THREADS

# The environment threads, by Promela thread id (kernel.THREADS).
INIT, USER, HOTPLUG, SYSTEM = (THREADS.index(t) for t in ("init", "user", "hotplug", "system"))


class Unsupported(Exception):
    """The scenario needs a construct, rule or bound the exporter does not
    model; the message is one line naming it."""



def _comment(text: str) -> str:
    return text.replace("*/", "* /").replace("\n", " ")


# --- rules ---------------------------------------------------------------------

@dataclass(frozen=True)
class Facts:
    """What a rule's statements may name about the scenario (fixed for one
    export): the hotplug lock's id, the usage counters (vocabulary) with their
    variables, tests that the counters the code changes are not 0 and that a
    module parameter asks to enable virtualization at load, the registration
    bits (kind/object), the number of cpuhp states, whether a reboot notifier
    or syscore .shutdown callback can run (a reboot is a system event and the
    code registers one)."""

    ncpus: int
    hotplug_lock: str = "L0"
    counters: tuple[tuple[str, str], ...] = ()
    usage: tuple[str, ...] = ()
    params: tuple[str, ...] = ()
    regs: tuple[tuple[str, str], ...] = ()
    nstates: int = 0
    shutdown_callbacks: bool = False


@dataclass(frozen=True)
class Site:
    """Where the generator places a rule's statements.

    thread, cpu (a Promela expression), ctx (the frame's context: init,
    ioctl, exit, hotplug, IPI, setup, PREPARE, STARTING, ONLINE, reboot,
    shutdown, syscore). At a lock hook: the lock, its id, whether it is taken
    for read, and every lock (name, id) the thread may hold. At enable and
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


Hook = Callable[[Site], list[str]]

# Hook points: where the generator runs a rule's statements (Promela, in the
# same indivisible step as the action).
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
    "vm_create_begin": "in the step that starts a VM creation",
    "vm_create_end": "in the step where VM creation returns",
    "unloaded": "in the step where module exit has returned and the module is gone",
}


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


def _any_cpu(ncpus: int, test: Callable[[int], str]) -> str:
    return " || ".join(f"({test(c)})" for c in range(ncpus))


def _enable_fails(s: Site) -> str:
    return f"!virt[{s.cpu}] && bad == {s.cpu}"


def _enable_succeeds(s: Site) -> str:
    return f"!virt[{s.cpu}] && bad != {s.cpu}"


def _facts(s: Site) -> Facts:
    assert s.facts is not None, "the generator fills in Site.facts"
    return s.facts


def _leftovers(f: Facts, state: bool) -> str:
    """Something a module that is gone left behind (explorer.leftovers): a
    registration, a cpuhp state, a VM; with `state` also a usage counter not
    0 or virtualization on somewhere."""
    parts = [bit for _, bit in f.regs] + [f"reg[{i}] != 0" for i in range(f.nstates)] + ["vms > 0"]
    if state:
        parts += [f"{var} != 0" for _, var in f.counters]
        parts += [f"virt[{c}]" for c in range(f.ncpus)]
    return " || ".join(f"({p})" for p in parts)


def _kvm001_state(s: Site) -> list[str]:
    """Not while tasks are frozen for suspend or once a reboot has begun."""
    cpus = _any_cpu(s.ncpus, lambda c: f"cpu_active[{c}] && !virt[{c}]")
    return broken("KVM001", f"vms > 0 && !frozen && sys_phase != PH_REBOOT && ({cpus})")


def _kvm002_idle(s: Site) -> list[str]:
    """Every thread idle, the usage counters the code changes all 0, no
    module parameter asking for virtualization at load, and virtualization
    on somewhere. (No check when the code changes no usage counter.)"""
    f = _facts(s)
    if not f.usage:
        return []
    idle = " && ".join(f"!busy[{t}]" for t in range(len(THREADS)))
    unused = " && ".join(f"!({u})" for u in f.usage)
    params = "".join(f" && !({p})" for p in f.params)
    virt = _any_cpu(s.ncpus, lambda c: f"virt[{c}]")
    return broken("KVM002", f"{idle} && {unused}{params} && ({virt})")


def _kvm003_enable(s: Site) -> list[str]:
    return broken("KVM003", f"virt[{s.cpu}]")


def _kvm003_disable(s: Site) -> list[str]:
    """Once a reboot has begun KVM expects (and forgives) a faulting disable."""
    return broken("KVM003", f"!virt[{s.cpu}] && sys_phase != PH_REBOOT")


def _kvm004_enable(s: Site) -> list[str]:
    """A failing enable in a STARTING callback, or run directly by a cross
    call, is dropped; inside an IPI callback it is dropped unless the
    callback writes shared state before it returns."""
    if s.ctx == STARTING or (s.ctx == "IPI" and s.direct):
        return broken("KVM004", _enable_fails(s))
    if s.ctx == "IPI" and s.dropped:
        return [f"if :: ({_enable_fails(s)}) -> {s.dropped} = 1 :: else -> skip fi"]
    return []


def _kvm004_shared_write(s: Site) -> list[str]:
    return [f"{flag} = 0" for flag in s.chain]


def _kvm004_cross_return(s: Site) -> list[str]:
    return broken("KVM004", s.dropped) + [f"{s.dropped} = 0"]


# KVM005 marks: miss_<work>[c] is the union of the CPUs covered by passes that
# missed CPU c while its cpu_up was in PREPARE/STARTING.
_MISS = {"enable": "miss_enable", "tdx": "miss_tdx"}


def _kvm005_decls(f: Facts) -> list[str]:
    return [f"byte {var}[NCPUS];  /* KVM005: CPUs covered by passes over the online CPUs "
            f"({work}) that missed this CPU coming up */" for work, var in _MISS.items()]


def _kvm005_pass(s: Site) -> list[str]:
    """A pass that does not exclude hotplug (the thread holds no side of
    cpu_hotplug_lock) misses every CPU whose cpu_up is past taking the
    hotplug lock and not online yet: mark it with the CPUs covered."""
    var = _MISS[s.work]
    hp = _facts(s).hotplug_lock
    out: list[str] = []
    for c in range(s.ncpus):
        out += when(f"!HOLDS({hp}, {s.thread}) && (up_early & BIT({c})) != 0 && "
                    f"({s.covered} & BIT({c})) == 0",
                    [f"{var}[{c}] = {var}[{c}] | {s.covered}"])
    return out


def _kvm005_enable(s: Site) -> list[str]:
    return when(_enable_succeeds(s), [f"miss_enable[{s.cpu}] = 0"])


def _kvm005_tdx(s: Site) -> list[str]:
    return when(f"virt[{s.cpu}]", [f"miss_tdx[{s.cpu}] = 0"])


def _kvm005_active(s: Site) -> list[str]:
    """The CPU becomes active without the work a pass missed it for, while
    that work stands on a CPU the pass covered."""
    c = s.cpu
    return broken("KVM005", f"(miss_enable[{c}] & VIRT_MASK) != 0 || "
                  f"(miss_tdx[{c}] & TDX_MASK) != 0") + _kvm005_forget(s)


def _kvm005_forget(s: Site) -> list[str]:
    return [f"miss_enable[{s.cpu}] = 0", f"miss_tdx[{s.cpu}] = 0"]


def _kvm006_decls(f: Facts) -> list[str]:
    return ["byte walkers;  /* KVM006: threads walking vm_list */"]


def _kvm006_list(s: Site) -> list[str]:
    return broken("KVM006", f"(walkers & ~BIT({s.thread})) != 0")


def _lock_token(name: str, lock_id: str) -> str:
    return "HP" if name == HOTPLUG_LOCK else lock_id


def _kvm007_lock(s: Site) -> list[str]:
    """Taking a lock the thread holds; and a probe per lock-order edge: the
    lock taken while the thread holds another one (mode r or x)."""
    out = broken("KVM007", f"HOLDS({s.lock_id}, {s.thread})")
    mode = "r" if s.shared else "x"
    for name, lock_id in s.locks:
        if name == s.lock:
            continue
        for held, test in (("r", "IS_READER"), ("x", "IS_OWNER")):
            probe = (f"P_KVM007_{_lock_token(name, lock_id)}{held}_"
                     f"{_lock_token(s.lock, s.lock_id)}{mode}_{s.thread}")
            out.append(f"if :: {test}({lock_id}, {s.thread}) -> assert({probe}) :: else -> skip fi")
    return out


_EDGE = re.compile(r"P_KVM007_(HP|L\d+)([rx])_(HP|L\d+)([rx])_(\d+)$")


def _kvm007_cycles(probes: frozenset[str]) -> bool:
    """A cycle of two or three locks in the lock-order edges reached, with
    edges from at least two threads that can block each other at every lock
    (readers share, except on cpu_hotplug_lock, a percpu rwsem)."""
    variants: dict[tuple[str, str], list[tuple[str, str, str]]] = {}
    for probe in sorted(probes):
        m = _EDGE.match(probe)
        if m:
            held, held_mode, lock, mode, thread = m.groups()
            variants.setdefault((held, lock), []).append((held_mode, mode, thread))
    succ: dict[str, list[str]] = {}
    for held, lock in sorted(variants):
        succ.setdefault(held, []).append(lock)
    cycles: list[tuple[str, ...]] = []
    for a in sorted(succ):
        for b in succ[a]:
            if a in succ.get(b, ()):
                cycles.append((a, b))
            for c in succ.get(b, ()):
                if c not in (a, b) and a in succ.get(c, ()):
                    cycles.append((a, b, c))
    for cycle in cycles:
        pairs = [(cycle[i], cycle[(i + 1) % len(cycle)]) for i in range(len(cycle))]
        for chain in itertools.product(*(variants[p] for p in pairs)):
            if len({thread for _, _, thread in chain}) < 2:
                continue
            # at lock cycle[i]: chain[i] holds it, chain[i - 1] wants it
            if all(not (chain[i][0] == "r" and chain[i - 1][1] == "r") or cycle[i] == "HP"
                   for i in range(len(cycle))):
                return True
    return False


def _kvm008_decls(f: Facts) -> list[str]:
    return [f"int snap_{var};  /* KVM008: {_comment(name)} when the VM creation began */"
            for name, var in f.counters]


def _kvm008_create_begin(s: Site) -> list[str]:
    return [f"snap_{var} = {var}" for _, var in _facts(s).counters]


def _kvm008_create_end(s: Site) -> list[str]:
    """VM creation failed (once module init is done) and left a usage
    counter changed or a VM of its own on vm_list."""
    counters = _facts(s).counters
    changed = " || ".join([f"{var} != snap_{var}" for _, var in counters] + [f"{s.owned} > 0"])
    return (broken("KVM008", f"{s.result} == V_ERR && module_state != MOD_LOADING && ({changed})")
            + [f"snap_{var} = 0" for _, var in counters])


def _kvm008_init_done(s: Site) -> list[str]:
    """Module init failed and left something behind."""
    return broken("KVM008", f"{s.result} == V_ERR && ({_leftovers(_facts(s), True)})")


def _kvm009_decls(f: Facts) -> list[str]:
    return ["bit virt_final;  /* KVM009: a reboot/shutdown callback of KVM has run */",
            ("bit virt_final_next;  /* KVM009: one has returned; virt_final from the system "
             "thread's next step on shared state */")]


def _kvm009_step(s: Site) -> list[str]:
    """The explorer notes a returned reboot/shutdown callback when the system
    thread goes on (its next transition, whose visible event may be the
    firmware handoff itself)."""
    if s.thread != SYSTEM or not _facts(s).shutdown_callbacks:
        return []
    return when("virt_final_next", ["virt_final = 1", "virt_final_next = 0"])


def _kvm009_enable(s: Site) -> list[str]:
    return broken("KVM009", f"virt_final && {_enable_succeeds(s)}")


def _kvm010_decls(f: Facts) -> list[str]:
    return ["byte virt_before;  /* KVM010: the CPUs with virtualization on before suspend */"]


def _kvm010_resume(s: Site) -> list[str]:
    lost = _any_cpu(s.ncpus, lambda c: f"online[{c}] && (virt_before & BIT({c})) != 0 && !virt[{c}]")
    return broken("KVM010", lost) + ["virt_before = 0"]


def _kvm011_decls(f: Facts) -> list[str]:
    return ["bit exposed;  /* KVM011: module init has registered /dev/kvm */"]


def _kvm011_register(s: Site) -> list[str]:
    return ["exposed = 1"] if s.kind == "misc" and s.thread == INIT else []


def _kvm011_work(s: Site) -> list[str]:
    return broken("KVM011", "exposed") if s.thread == INIT else []


def _kvm011_enable(s: Site) -> list[str]:
    return broken("KVM011", f"exposed && {_enable_succeeds(s)}") if s.thread == INIT else []


def _kvm012_unloaded(s: Site) -> list[str]:
    return broken("KVM012", _leftovers(_facts(s), False))


def _kvm013_uret(s: Site) -> list[str]:
    return broken("KVM013", "1") if s.ctx == "IPI" else []


def _kvm014_tdx(s: Site) -> list[str]:
    return broken("KVM014", f"!virt[{s.cpu}]")


def _kvm014_state(s: Site) -> list[str]:
    cpus = _any_cpu(s.ncpus, lambda c: f"cpu_active[{c}] && !tdx_done[{c}]")
    return broken("KVM014", f"tdx_enabled && vms > 0 && ({cpus})")


# Every rule's Promela check, in one place: a new rule is a row here (and, for
# a new kind of place, an entry in HOOKS that the generator runs).
RULES: dict[str, RuleCheck] = {
    "KVM001": RuleCheck("KVM001", "while a VM exists, every active (schedulable) CPU has "
                        "virtualization on (not while tasks are frozen or once a reboot began)",
                        (("state", _kvm001_state),)),
    "KVM002": RuleCheck("KVM002", "when no thread is inside an operation, virtualization is on only "
                        "while a usage counter is not 0 (or a parameter enables it at load)",
                        (("idle", _kvm002_idle),)),
    "KVM003": RuleCheck("KVM003", "enable never runs where virtualization is on, disable only "
                        "where it is on (until a reboot begins)",
                        (("enable", _kvm003_enable), ("disable", _kvm003_disable))),
    "KVM004": RuleCheck("KVM004", "a vendor enable never fails where the failure is dropped: a "
                        "STARTING callback, a cross call, an IPI callback that records it nowhere",
                        (("enable", _kvm004_enable), ("shared_write", _kvm004_shared_write),
                         ("cross_return", _kvm004_cross_return))),
    "KVM005": RuleCheck("KVM005", "a pass of per-CPU enabling work over the online CPUs that does "
                        "not exclude hotplug never leaves a CPU coming up without the work while "
                        "it stands on a CPU the pass covered",
                        (("cpu_pass", _kvm005_pass), ("enable", _kvm005_enable),
                         ("tdx_cpu", _kvm005_tdx), ("cpu_active", _kvm005_active),
                         ("cpu_rollback", _kvm005_forget)), decls=_kvm005_decls),
    "KVM006": RuleCheck("KVM006", "no thread adds to or deletes from vm_list while another one "
                        "walks it", (("walk_begin", lambda s: [f"walkers = walkers | BIT({s.thread})"]),
                                     ("walk_end", lambda s: [f"walkers = walkers & ~BIT({s.thread})"]),
                                     ("list_op", _kvm006_list)), decls=_kvm006_decls),
    "KVM007": RuleCheck("KVM007", "no thread takes a lock it holds; no cycle in the lock order "
                        "whose edges can block each other", (("lock", _kvm007_lock),),
                        post=_kvm007_cycles),
    "KVM008": RuleCheck("KVM008", "a failed module init leaves nothing behind; a failed VM "
                        "creation (after init) leaves the usage counters as they were and no VM "
                        "of its own on vm_list",
                        (("vm_create_begin", _kvm008_create_begin),
                         ("vm_create_end", _kvm008_create_end), ("init_done", _kvm008_init_done)),
                        decls=_kvm008_decls),
    "KVM009": RuleCheck("KVM009", "no vendor enable succeeds after a reboot notifier or syscore "
                        ".shutdown callback ran",
                        (("kernel_callback_return", lambda s: ["virt_final_next = 1"]),
                         ("step", _kvm009_step), ("enable", _kvm009_enable)),
                        decls=_kvm009_decls),
    "KVM010": RuleCheck("KVM010", "after resume every online CPU that had virtualization on before "
                        "suspend has it on",
                        (("suspend_begin", lambda s: ["virt_before = VIRT_MASK"]),
                         ("resume_done", _kvm010_resume)), decls=_kvm010_decls),
    "KVM011": RuleCheck("KVM011", "module init does no lifecycle work after it registered /dev/kvm",
                        (("register", _kvm011_register), ("init_work", _kvm011_work),
                         ("enable", _kvm011_enable)), decls=_kvm011_decls),
    "KVM012": RuleCheck("KVM012", "module unload leaves no registration, cpuhp state or VM behind",
                        (("unloaded", _kvm012_unloaded),)),
    "KVM013": RuleCheck("KVM013", "user-return MSRs are never snapshotted or dropped in IPI context",
                        (("uret", _kvm013_uret),)),
    "KVM014": RuleCheck("KVM014", "TDX per-CPU init runs only with VMXON; while TDX is enabled and "
                        "a VM exists every active CPU has done it",
                        (("tdx_cpu", _kvm014_tdx), ("state", _kvm014_state))),
}


def check_rules(rules: set[str] | frozenset[str]) -> None:
    """Raise Unsupported naming the rules the exporter has no check for."""
    missing = sorted(set(rules) - set(RULES))
    if missing:
        raise Unsupported(f"rule(s) {', '.join(missing)}: no Promela check in "
                          "kvmplan/model/promela/checks.py RULES")
