"""Who plays which part in a tree's hardware enabling, found from the graph's
behaviour (calls, locks, counters), never from a kernel version.

The names the seed thread talks about (kvm_count_lock, kvm_arch_post_init_vm,
cpus_hardware_enabled...) are data in NAMES; the parts whose names changed
over time (the arch per-CPU enable hook, the "enable all" pass) are found by
what they do."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from kvmplan.cparse import events as ev
from kvmplan.cparse.events import Event, Function
from kvmplan.graph.build import VENDOR_DIRS
from kvmplan.graph.hooks import CallEdge, CpuhpRegistration, Entry, HookGraph
from kvmplan.graph.view import vocabulary
from kvmplan.model.kernel import HOTPLUG_LOCK

COMMON_DIR = "virt/kvm/"
ARCH_DIR = "arch/x86/kvm/"


@dataclass(frozen=True)
class Names:
    """Names the refactor steps are stated in (the seed thread's vocabulary)."""

    kvm_lock: str = "kvm_lock"
    count_lock: str = "kvm_count_lock"
    cpumask: str = "cpus_hardware_enabled"
    post_init: str = "kvm_arch_post_init_vm"
    add_vm: str = "kvm_arch_add_vm"
    remove_vm: str = "kvm_arch_remove_vm"
    # snapshot of the host's user-return MSRs (older and newer names)
    uret_snapshot: tuple[str, ...] = ("kvm_user_return_msr_cpu_online",
                                      "kvm_user_return_msr_init_cpu")
    uret_setter: str = "kvm_set_user_return_msr"
    # per-operation arch hooks the seed's step 3 asks for
    pm_hooks: tuple[str, ...] = ("kvm_arch_online_cpu", "kvm_arch_offline_cpu",
                                 "kvm_arch_suspend", "kvm_arch_resume", "kvm_arch_reboot",
                                 "kvm_arch_shutdown")
    # the Kconfig symbol that lets an arch opt out of the common enabling code
    opt_out: str = "CONFIG_KVM_GENERIC_HARDWARE_ENABLING"


NAMES = Names()

# Kinds of entries that are "power management" transitions (seed, step 3).
PM_KINDS = {
    "cpuhp_startup": "hotplug", "cpuhp_teardown": "hotplug",
    "syscore_suspend": "suspend", "syscore_resume": "suspend",
    "syscore_shutdown": "reboot", "reboot": "reboot",
}


def is_common(file: str) -> bool:
    return file.startswith(COMMON_DIR)


def is_core(file: str) -> bool:
    if is_common(file):
        return True
    return file.startswith(ARCH_DIR) and "/" not in file[len(ARCH_DIR):]


def is_vendor(file: str) -> bool:
    return file.startswith(tuple(VENDOR_DIRS.values()))


def lock_text(lock: str) -> str:
    return "cpus_read_lock()" if lock == HOTPLUG_LOCK else lock


def locks_text(locks: frozenset[str] | tuple[str, ...]) -> str:
    return ", ".join(lock_text(x) for x in sorted(locks)) or "no lock"


class Facts:
    """Queries over one graph, computed once: callers, reachability, locks
    held on entry to a function, and the roles of the enabling code."""

    def __init__(self, graph: HookGraph):
        self.graph = graph
        self.vocab = vocabulary()
        self.counter = min(self.vocab.get("counter", frozenset({"kvm_usage_count"})))
        self._held: dict[str, frozenset[str]] = {}
        self._mentions: dict[str, list[tuple[Function, Event]]] = {}

    # --- plain graph queries ---------------------------------------------------
    @cached_property
    def callers(self) -> dict[str, tuple[CallEdge, ...]]:
        out: dict[str, list[CallEdge]] = {}
        for e in self.graph.edges:
            out.setdefault(e.callee, []).append(e)
        return {k: tuple(sorted(v, key=lambda e: (e.file, e.line, e.caller)))
                for k, v in out.items()}

    @cached_property
    def callees(self) -> dict[str, tuple[CallEdge, ...]]:
        out: dict[str, list[CallEdge]] = {}
        for e in self.graph.edges:
            out.setdefault(e.caller, []).append(e)
        return {k: tuple(sorted(v, key=lambda e: (e.line, e.callee))) for k, v in out.items()}

    def fn(self, name: str) -> Function | None:
        return self.graph.functions.get(name) if name else None

    def reach(self, start: str, through: str = "") -> set[str]:
        """Functions `start` reaches through calls (itself included); with
        `through`, only through functions whose file starts with it."""
        seen = {start}
        work = [start]
        while work:
            name = work.pop()
            for e in self.callees.get(name, ()):
                if e.kind == "cpuhp" or e.callee in seen:
                    continue
                seen.add(e.callee)
                fn = self.fn(e.callee)
                if through and fn is not None and not fn.file.startswith(through):
                    continue
                work.append(e.callee)
        return seen

    def held_on_entry(self, name: str) -> frozenset[str]:
        """Locks every path into `name` holds: the intersection over its call
        sites of the locks held there (and by the callers). A cpuhp callback
        runs with cpu_hotplug_lock held (cpu_up/cpu_down take it for write,
        cpuhp_setup_state for read); registration callbacks start with none."""
        if name in self._held:
            return self._held[name]
        self._held[name] = frozenset()          # cycles: assume nothing held
        sets: list[frozenset[str]] = []
        for e in self.callers.get(name, ()):
            if e.kind == "cpuhp":
                sets.append(frozenset({HOTPLUG_LOCK}))
            else:
                sets.append(frozenset(e.locks_held) | self.held_on_entry(e.caller))
        if any(en.function == name and en.kind.startswith("cpuhp") for en in self.graph.entries):
            sets.append(frozenset({HOTPLUG_LOCK}))
        result = frozenset.intersection(*sets) if sets else frozenset()
        self._held[name] = result
        return result

    def held_at(self, fn: Function, e: Event) -> frozenset[str]:
        return frozenset(e.locks) | self.held_on_entry(fn.name)

    def mentions(self, name: str) -> list[tuple[Function, Event]]:
        """Events that name `name` (as their object or in an argument), in file/line order."""
        if name not in self._mentions:
            # one pass over the core code for every name the detectors ask about
            wanted = ({name, self.counter, NAMES.count_lock, NAMES.cpumask}
                      | set(NAMES.uret_snapshot)) - set(self._mentions)
            found: dict[str, list[tuple[Function, Event]]] = {n: [] for n in wanted}
            for fn in self.core_functions:
                for e in fn.events:
                    text = " ".join((e.name, *e.args))
                    for n in wanted:
                        if n in text and (e.name == n or any(n in a for a in e.args)):
                            found[n].append((fn, e))
            for n, hits in found.items():
                self._mentions[n] = sorted(hits, key=lambda t: (t[0].file, t[1].line, t[0].name))
        return self._mentions[name]

    def events(self, kind: str, name: str) -> list[tuple[Function, Event]]:
        """Events of a kind about `name`, in file/line order."""
        return [(fn, e) for fn, e in self.mentions(name) if e.kind == kind and e.name == name]

    @cached_property
    def all_functions(self) -> tuple[Function, ...]:
        seen: dict[tuple[str, str], Function] = {}
        for fn in self.graph.functions.values():
            seen[(fn.file, fn.name)] = fn
        for (file, name), fn in self.graph.statics.items():
            seen.setdefault((file, name), fn)
        return tuple(seen[k] for k in sorted(seen))

    @cached_property
    def core_functions(self) -> tuple[Function, ...]:
        """Functions of common KVM code and of x86's own top-level files (not
        the vendor modules, not the MMU): where the seed's names live."""
        return tuple(fn for fn in self.all_functions if is_core(fn.file))

    # --- roles -------------------------------------------------------------------
    def _op_callers(self, role: str) -> str:
        fields = self.vocab.get(role, frozenset())
        found = sorted({e.caller for e in self.graph.edges
                        if e.via.rsplit(".", 1)[-1] in fields and not is_vendor(e.file)})
        return found[0] if found else ""

    @cached_property
    def arch_enable(self) -> str:
        """The arch hook that turns virtualization on on this CPU (calls the vendor op)."""
        return self._op_callers("op_enable")

    @cached_property
    def arch_disable(self) -> str:
        return self._op_callers("op_disable")

    def _common_callers(self, callee: str) -> list[str]:
        return sorted({e.caller for e in self.callers.get(callee, ()) if is_common(e.file)})

    @cached_property
    def cpu_enable(self) -> str:
        """Common code's per-CPU enable: the common function that calls the arch hook."""
        found = self._common_callers(self.arch_enable) if self.arch_enable else []
        return found[0] if found else ""

    @cached_property
    def cpu_disable(self) -> str:
        found = self._common_callers(self.arch_disable) if self.arch_disable else []
        return found[0] if found else ""

    def _all_pass(self, target: str, remove: bool) -> str:
        """The common function that runs `target` on every CPU: an IPI to all
        CPUs, or cpuhp_setup_state()/cpuhp_remove_state() with callbacks."""
        if not target:
            return ""
        pm = {en.function for en in self.graph.entries if en.kind in PM_KINDS}
        found: list[tuple[int, str]] = []
        for fn in self.all_functions:
            if not is_common(fn.file) or fn.name in pm:
                continue
            for e in fn.events:
                hit = False
                if e.kind == ev.CROSS_CALL and e.mode != "single":
                    hit = target in self.reach(e.name)
                elif e.kind == ev.CPUHP_SETUP and not remove and "nocalls" not in e.mode:
                    up = e.args[2] if len(e.args) > 2 else ""
                    hit = bool(up) and target in self.reach(up)
                elif e.kind == ev.CPUHP_REMOVE and remove and "nocalls" not in e.mode:
                    hit = True
                if hit:
                    counts = any(x.kind == ev.COUNT and x.name == self.counter for x in fn.events)
                    found.append((0 if counts else 1, fn.name))
                    break
        return min(found)[1] if found else ""

    @cached_property
    def enable_all(self) -> str:
        return self._all_pass(self.cpu_enable, remove=False)

    @cached_property
    def disable_all(self) -> str:
        return self._all_pass(self.cpu_disable, remove=True)

    @cached_property
    def hotplug(self) -> tuple[CpuhpRegistration, ...]:
        """Common code's cpuhp states whose startup enables virtualization."""
        out = []
        for reg in self.graph.cpuhp:
            fn = self.fn(reg.registered_by)
            if fn is None or not is_common(fn.file) or not reg.startup:
                continue
            if self.cpu_enable and self.cpu_enable in self.reach(reg.startup):
                out.append(reg)
        return tuple(sorted(set(out), key=lambda r: (r.file, r.line)))

    @cached_property
    def pm_entries(self) -> tuple[Entry, ...]:
        """Common code's callbacks for hotplug, suspend/resume and reboot."""
        hot = {r.startup for r in self.hotplug} | {r.teardown for r in self.hotplug}
        out = []
        for en in self.graph.entries:
            if en.kind not in PM_KINDS or not is_common(en.file):
                continue
            if en.kind.startswith("cpuhp") and en.function not in hot:
                continue
            out.append(en)
        return tuple(sorted(set(out), key=lambda e: (e.kind, e.function)))

    @cached_property
    def vm_create(self) -> str:
        names = sorted(n for n in self.vocab.get("vm_create", ()) if n in self.graph.functions)
        return names[0] if names else ""

    @cached_property
    def vm_destroy(self) -> str:
        names = sorted(n for n in self.vocab.get("vm_destroy", ()) if n in self.graph.functions)
        return names[0] if names else ""

    def counter_writes(self) -> list[tuple[Function, Event]]:
        return [(fn, e) for fn, e in self.events(ev.COUNT, self.counter) if e.mode != "read"]

