"""Litmus scenarios: a small C file of our own, run in the model like a tree.

Header comments declare what the file needs and what it must give:
    // litmus: one-line description
    // cpuhp: CPUHP_AP_KVM_STARTING STARTING     (one line per state used)
    // expect: KVM004 KVM001                      (rules; "clean" for none)
    // system: suspend reboot unload              (system events it exercises;
                                                   none when the line is absent)
    // failures: 1                                (injected failures; 0 when absent)
The file is parsed as if it were arch/x86/kvm/vmx/litmus.c, so its
module_init is the vendor's."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from kvmplan.cparse.config import default_config
from kvmplan.cparse.unit import parse_file
from kvmplan.graph.build import graph_from_units
from kvmplan.graph.hooks import CpuhpState, HookGraph
from kvmplan.model.explorer import Bounds

LITMUS_PATH = "arch/x86/kvm/vmx/litmus.c"
_HEADER = re.compile(r"^//\s*(litmus|cpuhp|expect|system|failures):\s*(.*)$", re.M)


@dataclass(frozen=True)
class Litmus:
    name: str
    title: str
    expect: frozenset[str]
    graph: HookGraph
    bounds: Bounds


def load_litmus(path: Path) -> Litmus:
    text = path.read_text(encoding="utf-8")
    title = ""
    expect: set[str] = set()
    states: dict[str, CpuhpState] = {}
    system: tuple[str, ...] = ()
    failures = 0
    for kind, value in _HEADER.findall(text):
        if kind == "litmus":
            title = value.strip()
        elif kind == "system":
            system = tuple(sorted(set(value.split()) - {"none"}))
            unknown = set(system) - {"suspend", "reboot", "unload"}
            if unknown:
                raise ValueError(f"{path.name}: unknown system event(s) {sorted(unknown)}")
        elif kind == "failures":
            failures = int(value.strip())
        elif kind == "cpuhp":
            name, section = value.split()[:2]
            states[name] = CpuhpState(name, len(states) + 100, section)
        else:
            expect |= {v for v in value.split() if v != "clean"}
    unit = parse_file(LITMUS_PATH, text.encode(), default_config())
    graph = graph_from_units(str(path), [unit], states, {}, "vmx")
    return Litmus(path.stem, title, frozenset(expect), graph,
                  Bounds(system=system, failures=failures))
