"""What the model actually judged of a series, and the verdict that follows.

A clean verdict is a claim: it is only made when the series was judged.
Coverage counts, per patch and for the series, how the hunks went (placed
exactly, at an offset, with fuzz, already present, failed), which file
changes the model reads, which lie in kernel code of the lifecycle that the
model does not read, and which lifecycle functions the series touches.

The verdict is one of:
- `findings`: the series introduces a finding that counts;
- `clean`: it does not, and the model judged the series;
- `inconclusive`, with the reason: nothing was assembled; most hunks are
  already in the base (the series appears to be merged there); most hunks do
  not apply; the series changes no code the model reads; or a fifth or more
  of the lines it changes in the lifecycle's kernel code (x86, virt/, the
  hotplug, reboot and syscore core) lie in files the model does not read or
  the base does not hold.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Sequence

from kvmplan.baseline.extract import is_tracked
from kvmplan.cparse.hunk import section_function
from kvmplan.diff import FilePatch, Hunk
from kvmplan.diff.apply import FileOutcome, HunkResult, context_ends

PLACED = ("exact", "offset", "fuzz")

# Kernel code where the virtualization lifecycle lives besides the files the
# model reads: a series whose changes are mostly here was not judged.
LIFECYCLE_CODE = (
    "arch/x86/", "virt/", "kernel/cpu.c", "kernel/reboot.c", "kernel/smp.c",
    "kernel/stop_machine.c", "drivers/base/syscore.c", "include/linux/cpuhotplug.h",
    "include/linux/kvm", "include/uapi/linux/kvm.h",
)
_SOURCE = (".c", ".h")
# A series with at least this share of its changed lifecycle lines where the
# model does not read them was only partly judged.
OUTSIDE_SHARE = 0.2


@dataclass(frozen=True)
class Coverage:
    """Counts for one patch or for the whole series."""

    exact: int = 0
    offset: int = 0
    fuzz: int = 0
    present: int = 0
    failed: int = 0
    files_in_model: int = 0        # file changes in files the model reads
    files_outside: int = 0         # lifecycle kernel code the model does not read
    files_other: int = 0           # anything else (other architectures, tools, docs)
    lines_in_model: int = 0        # changed lines of placed hunks in files the model reads
    lines_outside: int = 0         # changed lines in lifecycle code outside the model
    functions: tuple[str, ...] = ()        # lifecycle functions whose hunks placed
    outside: tuple[str, ...] = ()          # those files, for the reason
    # hunks in files the model reads that change a lifecycle function: placed
    # ones, and failed ones (their header or changed lines name the function)
    lifecycle_placed: int = 0
    lifecycle_failed: int = 0

    @property
    def placed(self) -> int:
        return self.exact + self.offset + self.fuzz

    @property
    def hunks(self) -> int:
        return self.placed + self.present + self.failed

    def __add__(self, other: "Coverage") -> "Coverage":
        return Coverage(
            self.exact + other.exact, self.offset + other.offset, self.fuzz + other.fuzz,
            self.present + other.present, self.failed + other.failed,
            self.files_in_model + other.files_in_model, self.files_outside + other.files_outside,
            self.files_other + other.files_other, self.lines_in_model + other.lines_in_model,
            self.lines_outside + other.lines_outside,
            tuple(sorted(set(self.functions) | set(other.functions))),
            tuple(sorted(set(self.outside) | set(other.outside))),
            self.lifecycle_placed + other.lifecycle_placed,
            self.lifecycle_failed + other.lifecycle_failed)


@dataclass(frozen=True)
class Verdict:
    kind: str            # findings | clean | inconclusive
    reason: str          # one line; "" for findings and clean


def is_lifecycle_code(path: str) -> bool:
    return path.endswith(_SOURCE) and path.startswith(LIFECYCLE_CODE)


# file -> (first line, last line, name) of the lifecycle functions in it
Spans = dict[str, list[tuple[int, int, str]]]


def spans_of(functions: Iterable[object]) -> Spans:
    """Where each function of a program lies (cparse Function: file, line,
    end_line, name), by file."""
    out: Spans = {}
    for fn in functions:
        out.setdefault(getattr(fn, "file"), []).append(
            (getattr(fn, "line"), getattr(fn, "end_line"), getattr(fn, "name")))
    return out


def patch_coverage(files: Sequence[FilePatch], outcomes: Sequence[FileOutcome],
                   lifecycle: frozenset[str], before: Spans | None = None) -> Coverage:
    """One patch's coverage: `outcomes` are how its `files` went, in order;
    `lifecycle` the functions the model runs (at any prefix); `before` where
    they lie in the text the patch applies to."""
    counts = {s: 0 for s in (*PLACED, "present", "failed")}
    in_model = outside = other = lines_in = lines_out = placed_lc = failed_lc = 0
    functions: set[str] = set()
    outside_files: set[str] = set()
    for fp, outcome in zip(files, outcomes):
        tracked = is_tracked(fp.path) and not outcome.skipped
        if tracked:
            in_model += 1
        elif is_lifecycle_code(fp.path):
            outside += 1
            lines_out += fp.added + fp.removed
            outside_files.add(fp.path)
        else:
            other += 1
        for hunk, result in zip(fp.hunks, outcome.hunks):
            counts[result.status] = counts.get(result.status, 0) + 1
            if tracked and result.status in PLACED:
                lines_in += hunk.added + hunk.removed
                touched = (_named(hunk) | _enclosing(before, fp.path, hunk, result)) & lifecycle
                functions |= touched
                placed_lc += bool(touched)
            elif tracked and result.status == "failed":
                failed_lc += bool(_named(hunk) & lifecycle)
    return Coverage(counts["exact"], counts["offset"], counts["fuzz"], counts["present"],
                    counts["failed"], in_model, outside, other, lines_in, lines_out,
                    tuple(sorted(functions)), tuple(sorted(outside_files)), placed_lc, failed_lc)


IDENTIFIER = re.compile(r"[A-Za-z_]\w*")


def _named(hunk: Hunk) -> set[str]:
    """Functions a hunk touches: the one its header names (git's guess of the
    enclosing function) and every name on the lines it removes or adds (a
    definition, a call)."""
    names = {w for ln in hunk.lines if ln.kind in "+-" for w in IDENTIFIER.findall(ln.text)}
    found = section_function(hunk.section)
    return names | ({found} if found else set())


def _enclosing(spans: Spans | None, path: str, hunk: Hunk, result: HunkResult) -> set[str]:
    """Functions whose body holds a line the hunk removes, or the line after
    which it adds some (context lines alone touch nothing), where the hunk
    landed (its header's line is only where it was written against)."""
    if not spans or path not in spans:
        return set()
    changed: set[int] = set()
    old = result.line - min(result.fuzz, context_ends(hunk)[0])
    for ln in hunk.lines:
        if ln.kind == " ":
            old += 1
        elif ln.kind == "-":
            changed.add(old)
            old += 1
        elif ln.kind == "+":
            changed.add(old - 1)
    return {name for first, last, name in spans[path]
            if any(first <= n <= last for n in changed)}


def _files(paths: Sequence[str]) -> str:
    shown = ", ".join(paths[:3])
    return shown + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")


def decide(patches: int, coverage: Coverage, introduced: bool, base: str) -> Verdict:
    """The verdict on a series of `patches` patches with this coverage;
    `introduced`: a counted finding is introduced (or transient)."""
    c = coverage
    if patches == 0:
        return Verdict("inconclusive", "nothing assembled: no patch of the series is in the input")
    if introduced:
        return Verdict("findings", "")
    in_base = c.present + c.placed + c.failed
    if in_base and c.present * 2 >= in_base and c.present > c.placed:
        return Verdict("inconclusive", f"already in the base: {c.present} of {in_base} hunks are "
                       f"already present in {base}; the series appears to be merged in that "
                       "release")
    if in_base and c.failed * 2 > in_base:
        return Verdict("inconclusive", f"does not apply: {c.failed} of {in_base} hunks do not "
                       f"apply to {base}")
    lc = c.lifecycle_placed + c.lifecycle_failed
    if c.lifecycle_failed and c.lifecycle_failed * 2 >= lc:
        return Verdict("inconclusive", f"does not apply: {c.lifecycle_failed} of {lc} hunks that "
                       f"change lifecycle functions do not apply to {base}")
    if c.files_in_model == 0:
        if c.files_outside:
            return Verdict("inconclusive", f"outside the model: the series changes lifecycle "
                           f"code the model does not read ({_files(c.outside)})")
        return Verdict("inconclusive", "outside the model: the series changes no code the "
                       "model reads")
    if c.lines_outside and c.lines_outside >= OUTSIDE_SHARE * (c.lines_outside + c.lines_in_model):
        return Verdict("inconclusive", f"outside the model: {c.lines_outside} of "
                       f"{c.lines_outside + c.lines_in_model} changed lines of lifecycle code are "
                       f"in files the model does not read ({_files(c.outside)})")
    if not c.functions:
        return Verdict("inconclusive", "judged nothing: the hunks that applied change no "
                       "function the lifecycle model runs, so its run says nothing about them")
    return Verdict("clean", "")
