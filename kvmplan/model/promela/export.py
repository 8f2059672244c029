"""The Promela text of a scenario: the header (bounds, rules, sizes), the
fixed environment (env.pml), the scenario's globals, the environment
threads with the program's functions inlined, and the init process that
starts them (see the package docstring)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from kvmplan.model.explorer import Bounds, pass_program
from kvmplan.model.kernel import SYSTEM_EVENTS, THREADS
from kvmplan.model.program import Program
from kvmplan.model.promela.checks import HOTPLUG, INIT, RULES, SYSTEM, USER, Unsupported, _comment
from kvmplan.model.promela.threads import Threads

ENV_PML = Path(__file__).with_name("env.pml")

# Bounds fields the exporter honours; any other field set is something it
# does not model.
# failure_pass is not a bound of this search: it asks for a second search
# (explorer.passes), a model of its own (promela.spin_check runs both)
MODELLED_BOUNDS = frozenset({"cpus", "hotplug_events", "failures", "max_states", "system",
                             "failure_pass", "vm_ops", "vm_pass"})


class _Exporter(Threads):
    """The whole model: the threads' processes between the header, the
    environment and the globals they name."""

    def export(self) -> str:
        init = self.init_thread()
        user = self.user_thread()
        hotplug = self.hotplug_thread() if self.ncpus > 1 and self.bounds.hotplug_events > 0 else None
        system = self.system_thread()
        procs = [p for p in (init, user, hotplug, system) if p is not None]
        out = [self._header(), ENV_PML.read_text(encoding="utf-8"), self._globals()]
        out += [p.text() for p in procs]
        bad = " ".join([":: bad = NO_CPU"] + [f":: bad = {c}" for c in range(1, self.ncpus)])
        busy = f"busy[{INIT}] = 1; " if self.p.entry() else ""
        runs = "; ".join(f"run {p.name}()" for p in procs)
        chosen = "".join(f"\t\tif :: {self.globals[name]} = V_T :: {self.globals[name]} = V_F fi;"
                         f"  /* module parameter {_comment(name)}, chosen at load */\n"
                         for name in self.p.choices)
        out.append("init {\n\tatomic {\n"
                   "\t\t/* one CPU other than CPU0 can't enable virtualization, or none */\n"
                   f"\t\tif {bad} fi;\n{chosen}\t\t{busy}{runs}\n\t}}\n}}")
        return "\n\n".join(out) + "\n"

    def _header(self) -> str:
        rules = "\n".join(f" *   {r.code}: {r.statement}" for r in RULES.values())
        system = ", ".join(e for e in SYSTEM_EVENTS if e in self.bounds.system) or "none"
        lines = [
            "/* kvmplan model export (Promela, for SPIN): kvmplan model export --format promela",
            (f" * bounds: {self.ncpus} CPUs, {self.bounds.hotplug_events} hotplug events, "
             f"{self.bounds.failures} injected failures, system events: {system}"),
            " * rules (a broken one prints `assertion violated <code>`; P_<code>_... are probes",
            " * its post-analysis reads):",
            rules,
            " * check: spin -a model.pml && gcc -DSAFETY -DNOCLAIM -o pan pan.c && ./pan -E -c0 -n",
            " */",
            f"#define NCPUS {self.ncpus}",
            f"#define NTHREADS {len(THREADS)}",
            f"#define INIT {INIT}",
            f"#define USER {USER}",
            f"#define HOTPLUG {HOTPLUG}",
            f"#define SYSTEM {SYSTEM}",
            "#define NO_CPU 255",
            "#define NO_THREAD 255",
            f"#define NLOCKS {len(self.locks)}",
            f"#define NSTATES {max(len(self.states), 1)}",
            f"#define HOTPLUG_EVENTS {self.bounds.hotplug_events}",
        ]
        return "\n".join(lines)

    def _globals(self) -> str:
        lines = ["/* ---- the scenario's shared objects ---- */"]
        threads = range(len(THREADS))
        free = " && ".join(f"(((me) == {t}) || (irqcpu[{t}] != (c)))" for t in threads)
        lines.append(f"#define FREE(me, c) (NOSTOP(me) && {free})")
        kept = " && ".join(f"(((me) == {t}) || (hcpu[{t}] != (c)))" for t in threads)
        lines.append(f"#define FREE_TASK(me, c) (FREE(me, c) && {kept})")
        taken = " | ".join(f"(((me) != {t} && hcpu[{t}] != NO_CPU) -> BIT(hcpu[{t}]) : 0) | "
                           f"(((me) != {t} && irqcpu[{t}] != NO_CPU) -> BIT(irqcpu[{t}]) : 0)"
                           for t in threads)
        lines.append(f"#define TAKEN_MASK(me) ({taken})")
        quiet = " && ".join(f"(((me) == {t}) || (hdepth[{t}] == 0 && irqcpu[{t}] == NO_CPU))"
                            for t in threads)
        lines.append(f"#define STOP_OK(me) ({quiet})")
        online = " | ".join(f"(online[{c}] << {c})" for c in range(self.ncpus))
        lines.append(f"#define ONLINE_MASK ({online})")
        active = " | ".join(f"(cpu_active[{c}] << {c})" for c in range(self.ncpus))
        lines.append(f"#define ACTIVE_MASK ({active})")
        virt = " | ".join(f"(virt[{c}] << {c})" for c in range(self.ncpus))
        lines.append(f"#define VIRT_MASK ({virt})")
        tdx = " | ".join(f"(tdx_done[{c}] << {c})" for c in range(self.ncpus))
        lines.append(f"#define TDX_MASK ({tdx})")
        lines.append(f"#define ALL_CPUS {(1 << self.ncpus) - 1}")
        for name, lock in sorted(self.locks.items(), key=lambda kv: int(kv[1][1:])):
            lines.append(f"#define {lock} {lock[1:]}  /* {_comment(name)} */")
        lines += self.global_decls
        for name, var in sorted(self.percpu_vars.items(), key=lambda kv: kv[1]):
            lines.append(f"bit {var}[NCPUS];  /* per-CPU {_comment(name)} */")
        regs = sorted(self.regs.items())
        for (kind, name), bit in regs:
            lines.append(f"bit {bit};  /* {_comment(kind)} registration {_comment(name)} */")
        mask = " | ".join(f"({bit} << {i})" for i, (_, bit) in enumerate(regs)) or "0"
        lines.append(f"#define REG_MASK ({mask})")
        lines.append("byte reg[NSTATES];  /* cpuhp state -> registered callback pair, 0 none */")
        for st in self.states.values():
            pairs = ", ".join(f"{vid}: {up or '-'}/{down or '-'}"
                              for vid, (up, down) in enumerate(st.variants, 1))
            lines.append(f"/* state {st.id} {_comment(st.name)} [{st.section}, {st.index}]: "
                         f"{_comment(pairs) or 'never registered'} */")
        for text, k in sorted(self.named.items(), key=lambda kv: kv[1]):
            lines.append(f"/* named constant {k}: {_comment(text)} */")
        lines.append(f"byte failures_left = {self.bounds.failures};")
        for code in sorted(RULES):
            if RULES[code].decls is not None:
                lines += RULES[code].decls(self.facts)  # type: ignore[misc]
        lines += [f"hidden byte {code};  /* 0: assert({code}) fails when the rule breaks */"
                  for code in sorted(RULES)]
        lines += [f"hidden byte {probe};  /* a probe: assert({probe}) fails when it is reached */"
                  for probe in sorted(self.probes)]
        return "\n".join(lines)


def _check_bounds(bounds: Bounds) -> None:
    if not 1 <= bounds.cpus <= 4:
        raise Unsupported(f"{bounds.cpus} CPUs: the export models 1 to 4")
    if bounds.hotplug_events < 0 or bounds.failures < 0:
        raise Unsupported("negative bounds")
    unknown = sorted(set(bounds.system) - set(SYSTEM_EVENTS))
    if unknown:
        raise Unsupported(f"system event(s) {', '.join(unknown)}: the export models "
                          f"{', '.join(SYSTEM_EVENTS)}")
    for f in dataclasses.fields(bounds):
        if f.name in MODELLED_BOUNDS:
            continue
        value = getattr(bounds, f.name)
        if value:
            raise Unsupported(f"Bounds.{f.name}={value!r} is not modelled in Promela")


def export_promela(program: Program, bounds: Bounds) -> str:
    """The Promela model of `program` within `bounds` (deterministic text).

    Raises Unsupported (one line) when the scenario needs a construct or a
    bound the exporter does not model."""
    _check_bounds(bounds)
    prog = pass_program(program, bounds)
    if prog is None:
        raise Unsupported("the VM-operations pass: the files read have no VM ioctl that writes "
                          "a field vCPU creation reads")
    return _Exporter(prog, bounds).export()
