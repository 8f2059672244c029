"""Litmus scenarios: a small C file of our own, run in the model like a tree.

Header comments declare what the file needs and what it must give:
    // litmus: one-line description
    // cpuhp: CPUHP_AP_KVM_STARTING STARTING     (one line per state used)
    // expect: KVM004 KVM001                      (rules; "clean" for none)
    // system: suspend reboot unload              (system events it exercises;
                                                   none when the line is absent)
    // failures: 1                                (injected failures; 0 when absent)
    // cpus: 1                                    (CPUs; 2 when absent)
    // twin: kvm004-starting-enable               (in a clean scenario: the
                                                   violating scenario(s) it fixes)
    // prelude: kvm-6.12                          (prelude/kvm-6.12.c beside it)
    // use: decls vendor-ops online-cpu           (the prelude blocks it takes)
The file is parsed as if it were arch/x86/kvm/vmx/litmus.c, so its
module_init (and module_exit) is the vendor's: they stay in the scenario.

The prelude. Most of a scenario would be a mini-KVM that many scenarios
share: declarations, the vendor ops, per-CPU enable/disable, VM creation.
prelude/NAME.c, beside the scenarios, holds one mini-KVM per kernel era
(kvm-6.1, kvm-6.3, kvm-6.12) as named blocks: a block starts at a
`// block: NAME` line and runs to the next one. A scenario selects blocks
with `// use:` and defines the rest itself, so it shows only the code it is
about; a twin pair uses the same blocks (unless the fix spans several
functions or eras), so the diff of the two files is the bug and its fix.
C has no overriding: a scenario that needs another body of a function does
not use the block that defines it (a name defined twice is an error, as is
an unknown block).

Line numbers stay true. The scenario and its prelude are two units of the
graph, each parsed with its own line numbers: the scenario's code is
reported as arch/x86/kvm/vmx/litmus.c at the scenario file's own lines, a
block's code as prelude/NAME.c (the path from the scenario's directory:
tests/litmus/prelude/kvm-6.12.c) at the prelude file's lines; the blocks
not used are parsed as blank lines. Declarations are shared both ways (the
C front-end compiles `count++` as a counter update only for a global of its
own unit): each unit's one-line file-scope declarations are repeated
after the other's last line, where they move no line."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from kvmplan.cparse.config import default_config
from kvmplan.cparse.events import FileUnit
from kvmplan.cparse.unit import parse_file
from kvmplan.graph.build import graph_from_units
from kvmplan.graph.hooks import CpuhpState, HookGraph
from kvmplan.model.explorer import Bounds

LITMUS_PATH = "arch/x86/kvm/vmx/litmus.c"
PRELUDE_DIR = "prelude"
_HEADER = re.compile(
    r"^//\s*(litmus|cpuhp|expect|system|failures|cpus|twin|prelude|use):\s*(.*)$", re.M)
_BLOCK = re.compile(r"^//\s*block:\s*(\S+)\s*$")


@dataclass(frozen=True)
class Litmus:
    name: str
    title: str
    expect: frozenset[str]
    graph: HookGraph
    bounds: Bounds
    twins: tuple[str, ...] = ()     # the violating scenarios a clean one is the twin of


def load_litmus(path: Path) -> Litmus:
    text = path.read_text(encoding="utf-8")
    title = ""
    expect: set[str] = set()
    states: dict[str, CpuhpState] = {}
    system: tuple[str, ...] = ()
    failures = 0
    cpus = Bounds().cpus
    twins: tuple[str, ...] = ()
    prelude = ""
    use: list[str] = []
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
        elif kind == "cpus":
            cpus = int(value.strip())
        elif kind == "cpuhp":
            name, section = value.split()[:2]
            states[name] = CpuhpState(name, len(states) + 100, section)
        elif kind == "twin":
            twins += tuple(value.split())
        elif kind == "prelude":
            prelude = value.strip()
        elif kind == "use":
            use += value.split()
        else:
            expect |= {v for v in value.split() if v != "clean"}
    if use and not prelude:
        raise ValueError(f"{path.name}: '// use:' without a '// prelude:' line")
    units = [_parse(LITMUS_PATH, text)]
    if prelude:
        units = _with_prelude(path, text, prelude, use)
    graph = graph_from_units(str(path), units, states, {}, "vmx")
    return Litmus(path.stem, title, frozenset(expect), graph,
                  Bounds(cpus=cpus, system=system, failures=failures), twins)


def _parse(unit_path: str, text: str) -> FileUnit:
    return parse_file(unit_path, text.encode(), default_config())


def _with_prelude(path: Path, text: str, prelude: str, use: list[str]) -> list[FileUnit]:
    """The scenario's unit and its prelude blocks' unit, each seeing the
    other's declarations (appended after its last line)."""
    file = path.parent / PRELUDE_DIR / f"{prelude}.c"
    if not file.is_file():
        raise ValueError(f"{path.name}: no prelude {file}")
    prelude_path = f"{PRELUDE_DIR}/{file.name}"
    blocks = select_blocks(file.read_text(encoding="utf-8"), use, prelude_path)
    own, shared = _parse(LITMUS_PATH, text), _parse(prelude_path, blocks)
    _check_defined_once(path.name, prelude_path, own, shared)
    return [_parse(LITMUS_PATH, _append(text, _declarations(shared, blocks))),
            _parse(prelude_path, _append(blocks, _declarations(own, text)))]


def select_blocks(text: str, use: list[str], name: str) -> str:
    """The prelude's text with every line outside the blocks named in `use`
    blanked, so that the lines kept keep their numbers."""
    found: set[str] = set()
    keep = False
    out: list[str] = []
    for line in text.splitlines():
        block = _BLOCK.match(line)
        if block:
            keep = block.group(1) in use
            found.add(block.group(1))
        out.append(line if keep else "")
    unknown = [b for b in use if b not in found]
    if unknown:
        raise ValueError(f"{name}: no block(s) {' '.join(unknown)} "
                         f"(blocks: {' '.join(sorted(found))})")
    return "\n".join(out) + "\n"


def _check_defined_once(scenario: str, prelude: str, own: FileUnit, shared: FileUnit) -> None:
    """C has no overriding: a function, ops table or variable is defined once."""
    counts = Counter(_defined(own)) + Counter(_defined(shared))
    twice = sorted(name for name, n in counts.items() if n > 1)
    if twice:
        raise ValueError(f"{scenario}: {' '.join(twice)} defined twice (by the scenario and a "
                         f"block of {prelude}, or by two blocks): drop the block from '// use:'")


def _defined(unit: FileUnit) -> list[str]:
    tables = {t.name for t in unit.tables}
    return ([f.name for f in unit.functions] + sorted(tables)
            + [g.name for g in unit.globals if g.name not in tables])


def _declarations(unit: FileUnit, text: str) -> list[str]:
    """A unit's file-scope declarations that fit on one line, as written
    (variables, locks, lists; not ops tables, which the graph binds once);
    a plain scalar as an extern declaration, so that it stays defined once."""
    lines = text.splitlines()
    found = {g.line: g for g in unit.globals if lines[g.line - 1].rstrip().endswith(";")}
    return [f"extern {g.type} {g.name};" if g.scalar else lines[n - 1]
            for n, g in sorted(found.items())]


def _append(text: str, lines: list[str]) -> str:
    return text.rstrip("\n") + "\n" + "".join(f"{line}\n" for line in lines)
