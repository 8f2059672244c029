"""Function-definition recall of the C front-end against Universal Ctags.

Over virt/kvm and arch/x86/kvm (.c and .h) of each extracted tree, every
function ctags finds should be found by parse_file, except functions whose
line sits in an `#if` branch the default configuration switches off: the
masker blanks those on purpose, so they are excluded from the denominator
(and counted, so the figure stays honest). Also excluded: "functions" ctags
reports at a file-scope macro invocation such as
`BUILD_KVM_GPR_ACCESSORS(rax, RAX)` (no definition is written there; ctags
glues the invocation to the next function and reports the macro's name), which
the masker records as a macro instead.

Run `python -m pytest -rA tests/cparse/test_recall.py -s` to see the misses.
"""

from __future__ import annotations

import shutil
import subprocess
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from kvmplan.cparse.config import default_config
from kvmplan.cparse.mask import inactive_lines, mask_source
from kvmplan.graph.build import arch_defines
from kvmplan.source import SourceTree
from kvmplan.cparse.unit import parse_file

SUBTREES = ("virt/kvm", "arch/x86/kvm")
THRESHOLD = 0.99


@dataclass
class Recall:
    tree: str
    found: int = 0
    expected: int = 0
    excluded: int = 0
    invocations: list[tuple[str, int, str]] = field(default_factory=list)
    misses: list[tuple[str, int, str]] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return self.found / self.expected if self.expected else 1.0

    def report(self) -> str:
        lines = [
            f"{self.tree}: recall {self.found}/{self.expected} = {self.ratio:.4f} "
            f"({self.excluded} ctags functions excluded: in #if branches the default "
            f"config switches off, which the masker blanks on purpose; "
            f"{len(self.invocations)} excluded: macro invocations ctags reports as functions)"
        ]
        lines += [f"  macro invocation {f}:{n} {name}" for f, n, name in self.invocations]
        lines += [f"  miss {f}:{n} {name}" for f, n, name in self.misses]
        return "\n".join(lines)


def ctags_functions(root: Path) -> list[tuple[str, str, int]]:
    """(file, name, line) of every C function definition ctags sees (.h read as C)."""
    out = subprocess.run(
        ["ctags", "--languages=C", "--map-C=+.h", "--kinds-C=f", "-R", "-x",
         "--_xformat=%F %n %N", *SUBTREES],
        cwd=root, capture_output=True, check=True, text=True, errors="replace",
    ).stdout
    tags = []
    for row in out.splitlines():
        parts = row.split(" ", 2)
        if len(parts) == 3 and parts[1].isdigit():
            tags.append((parts[0], parts[2], int(parts[1])))
    return tags


def measure(root: Path) -> Recall:
    # the configuration the graph itself parses with: defaults + arch #defines
    config = default_config()
    config = config.with_defines(arch_defines(SourceTree(root), config))
    result = Recall(root.name)
    by_file: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for file, name, line in ctags_functions(root):
        by_file[file].append((name, line))
    for file, tags in sorted(by_file.items()):
        source = (root / file).read_bytes()
        off = inactive_lines(source, config)
        unit = parse_file(file, source, config)
        macros = {(r.name, r.line) for r in mask_source(source, config).records}
        spans: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for fn in unit.functions:
            spans[fn.name].append((fn.line, fn.end_line))
        for name, line in sorted(tags, key=lambda t: t[1]):
            if line in off:
                result.excluded += 1
                continue
            if (name, line) in macros:
                result.invocations.append((file, line, name))
                continue
            result.expected += 1
            hit = next((s for s in spans[name] if s[0] <= line <= s[1]), None)
            if hit is None:
                result.misses.append((file, line, name))
            else:
                spans[name].remove(hit)
                result.found += 1
    return result


@pytest.fixture(scope="module")
def ctags_available() -> None:
    if shutil.which("ctags") is None:
        pytest.skip("Universal Ctags (ctags) not installed")
    version = subprocess.run(["ctags", "--version"], capture_output=True, text=True).stdout
    if "Universal Ctags" not in version:
        pytest.skip("ctags is not Universal Ctags")


@pytest.mark.parametrize("version", ["6.1", "6.12"])
def test_function_recall_against_ctags(version, kernel_tree, ctags_available):
    result = measure(kernel_tree(version))
    print()
    print(result.report())
    assert result.expected > 1000, "ctags found suspiciously few functions"
    assert result.ratio >= THRESHOLD, result.report()


if __name__ == "__main__":  # python tests/cparse/test_recall.py [TREE...]
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from conftest import KERNEL_VERSIONS, kernel_tree_path

    roots = [Path(a) for a in sys.argv[1:]] or [
        p for v in KERNEL_VERSIONS if (p := kernel_tree_path(v)) is not None]
    for r in roots:
        print(measure(r).report())
