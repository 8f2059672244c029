"""Random edits of a small file: the patched baseline is the parsed file.

Edits are valid C at statement level (insert, delete or replace whole
statements, a few per diff, anywhere in a function), so every difference
would be a splicing error. Garbage edits must only never raise.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from baseline_helpers import (
    KVM_MAIN,
    TREE,
    file_patches,
    structure,
    tiny_baseline,
    write_tree,
)

from kvmplan.baseline import extract

MAIN = "virt/kvm/kvm_main.c"
STATEMENTS = [
    "\tfoo();", "\tr = bar(a, b);", "\tgoto out_fail;", "\tkvm_usage_count++;", "",
    "\tif (x)\n\t\tbaz();", "\tif (y) {\n\t\tqux();\n\t\treturn 1;\n\t}",
    "\tmutex_lock(&kvm_lock);\n\tmutex_unlock(&kvm_lock);", "\t/* note */",
]
GARBAGE = STATEMENTS + ["\t}", "}", "{", "\t} else {", "#ifdef CONFIG_FOO", "#endif", "/* open",
                        " */", "\tfor_each_online_cpu(cpu) {", "static int f(void)", "\tbreak;"]


def _edited(rng: random.Random, garbage: bool) -> str:
    lines = KVM_MAIN.split("\n")
    for _ in range(rng.randint(1, 4)):
        body = [k for k, line in enumerate(lines) if line.startswith("\t")
                and line.rstrip().endswith((";", "{", "}")) and not line.startswith("\t\t\t")]
        simple = [k for k, line in enumerate(lines)
                  if line.startswith("\t") and line.rstrip().endswith(";") and "(" not in line
                  and not lines[k - 1].rstrip().endswith((",", "("))
                  and not lines[k - 1].strip().startswith(("if", "for", "else"))
                  and not line.strip().startswith(("int ", "static "))]
        if garbage:
            simple = list(range(len(lines)))
        op = rng.random()
        pool = GARBAGE if garbage else STATEMENTS
        if op < 0.5 or not simple:
            lines.insert(rng.choice(body) + 1, rng.choice(pool))
        elif op < 0.75:
            del lines[rng.choice(simple)]
        else:
            lines[rng.choice(simple)] = rng.choice(pool)
    return "\n".join(lines)


@pytest.mark.parametrize("seed", range(4))
def test_statement_edits_splice_exactly(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    start = tiny_baseline(tmp_path / "a").start()
    for n in range(25):
        after = _edited(rng, garbage=False)
        state, _, diags = start.apply(file_patches({MAIN: (KVM_MAIN, after)}))
        assert not diags
        real = extract(write_tree(tmp_path / f"b{n}", dict(TREE, **{MAIN: after})))
        assert structure(state.files[MAIN].unit) == structure(real.files[MAIN].unit), after


@pytest.mark.parametrize("seed", range(2))
def test_garbage_edits_never_raise(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    start = tiny_baseline(tmp_path).start()
    for _ in range(40):
        for context in (0, 1, 3):
            state, _, _ = start.apply(file_patches({MAIN: (KVM_MAIN, _edited(rng, True))},
                                                   context))
            state.graph()
