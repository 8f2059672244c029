"""Judge a series against its base: apply it patch by patch, run the model
after every prefix, and tell which findings the series introduces, fixes,
or leaves as they were, with the first patch responsible for each.

Model runs are cached by a hash of what the model reads (the Program built
from the graph), so a patch that leaves the lifecycle code alone costs no
run at all.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, replace
from typing import Callable, Protocol, Sequence

from kvmplan.analyze.base import BaseChoice
from kvmplan.analyze.config import Config
from kvmplan.analyze.coverage import (IDENTIFIER, Coverage, Verdict, decide, patch_coverage,
                                      spans_of)
from kvmplan.analyze.hunks import HunkRef, pick_hunk
from kvmplan.analyze.provenance import History, line_origin
from kvmplan.diagnostics import Diagnostic
from kvmplan.cparse.events import Function
from kvmplan.cparse.hunk import section_function
from kvmplan.cparse.tables import annotations
from kvmplan.diff import FilePatch, Hunk
from kvmplan.diff.apply import FileOutcome
from kvmplan.graph import HookGraph
from kvmplan.mail import Series
from kvmplan.model import Bounds, Finding, Program, build_program
from kvmplan.model.cache import cached_result, explore_cached, program_key
from kvmplan.model.rules import RULE_NAMES, STATE_RULES

# progress(phase, done, total): how far "apply", "parse" and "model" are.
Progress = Callable[[str, int, int], None]


class Base(Protocol):
    """A kernel tree or a baseline after some prefix of the series."""

    def apply(self, files: Sequence[FilePatch], label: str = "") -> tuple[
        "Base", tuple[FileOutcome, ...], tuple[Diagnostic, ...]]: ...

    def graph(self, vendor: str = "vmx") -> HookGraph: ...

    def key(self) -> str: ...

    def refused(self) -> dict[str, str]: ...


@dataclass(frozen=True)
class TraceStep:
    step: int
    thread: str
    cpu: int
    event: str
    function: str
    file: str
    line: int
    patch: int | None      # k of the patch that wrote this line; None: the base
    irq: bool = False      # it ran with IRQs off (model.trace.Step)
    holds: tuple[tuple[int, str], ...] = ()   # CPUs its thread keeps afterwards


@dataclass(frozen=True)
class Tracked:
    """One finding followed across the series.

    status: "introduced" (absent at the base, present after the series),
    "fixed" (the reverse), "pre-existing" (present at both ends) or
    "transient" (absent at both ends but present after some prefix: the
    series breaks bisection). `introduced_by`/`fixed_by` are patch numbers
    (k); `shown_at` is the prefix whose run the location and trace come from,
    so their lines are those of the text after `shown_at` patches: the base
    for pre-existing findings, the prefix just before the fixing patch for
    fixed ones (the last where the finding holds), the introducing patch
    otherwise."""

    rule: str
    name: str
    severity: str
    message: str
    function: str
    file: str
    line: int
    line_patch: int | None
    trace: tuple[TraceStep, ...]
    details: tuple[str, ...]
    status: str
    introduced_by: int | None
    fixed_by: int | None
    shown_at: int
    accepted: str = ""
    # why the finding may come from the way the series was applied rather
    # than from the code: a hunk in a file of its trace did not apply at or
    # before the patch it is attributed to, or its location or trace passes
    # through a function the series defines twice, so that which definition
    # the model ran is arbitrary ("" when neither)
    uncertain: str = ""
    # the hunk of its patch the finding is about (analyze.hunks.pick_hunk)
    hunk: HunkRef | None = None

    @property
    def patch(self) -> int | None:
        """The patch this finding is reported against (None: the base)."""
        if self.status == "fixed":
            return self.fixed_by
        return self.introduced_by


@dataclass(frozen=True)
class PatchResult:
    index: int
    subject: str
    title: str
    message_id: str
    author: str
    files: tuple[FileOutcome, ...]
    findings_after: int       # findings after this patch (-1: no run, unchanged graph)
    coverage: Coverage = Coverage()

    def count(self, status: str) -> int:
        return sum(1 for f in self.files for h in f.hunks if h.status == status)


@dataclass(frozen=True)
class ModelRun:
    prefix: int
    key: str
    cached: bool
    states: int
    seconds: float
    bound_reached: bool


@dataclass(frozen=True)
class Review:
    series: Series
    base: str              # e.g. "tree /path (linux 6.1.x)" or "baseline linux-6.12"
    base_reason: str
    mode: str              # "tree" or "baseline"
    bounds: Bounds
    patches: tuple[PatchResult, ...]
    findings: tuple[Tracked, ...]
    runs: tuple[ModelRun, ...]
    diagnostics: tuple[Diagnostic, ...]
    base_lines: str = ""   # the release the line numbers belong to
    base_note: str = ""    # --tree is another release than the bundled baseline
    coverage: Coverage = Coverage()
    verdict: Verdict = Verdict("inconclusive", "not analysed")
    vendor: str = "vmx"
    vendor_reason: str = ""

    def hunks(self, status: str) -> int:
        return sum(p.count(status) for p in self.patches)

    @property
    def skipped_files(self) -> int:
        return sum(1 for p in self.patches for f in p.files if f.skipped)

    def of(self, status: str) -> tuple[Tracked, ...]:
        return tuple(f for f in self.findings if f.status == status)


def line_map(old: Program, new: Program) -> dict[tuple[str, int], int]:
    """(file, line) in `old` → line in `new`, for two programs with the same
    program_key: event by event, function by function. A line that would map
    to two different lines (a line split in two) is left out, so findings
    that mention it are computed afresh."""
    pairs: list[tuple[str, int, int]] = []
    news = _run_functions(new)
    for k, fa in _run_functions(old).items():
        fb = news[k]
        pairs.append((fa.file, fa.line, fb.line))
        pairs.extend((fa.file, ea.line, eb.line) for ea, eb in zip(fa.events, fb.events))
    for xs, ys in ((old.graph.entries, new.graph.entries), (old.graph.cpuhp, new.graph.cpuhp)):
        for x, y in zip(sorted(xs, key=lambda e: repr(replace(e, line=0))),
                        sorted(ys, key=lambda e: repr(replace(e, line=0)))):
            pairs.append((x.file, x.line, y.line))
    out: dict[tuple[str, int], int] = {}
    split: set[tuple[str, int]] = set()
    for file, a, b in pairs:
        if out.setdefault((file, a), b) != b:
            split.add((file, a))
    for key in split:
        del out[key]
    return out


def _remap(findings: list[Finding], lmap: dict[tuple[str, int], int]) -> list[Finding] | None:
    """`findings` with every file:line moved by `lmap`; None if one is unknown."""
    def where(file: str, line: int) -> int | None:
        return line if not file or line <= 0 else lmap.get((file, line))

    def text(t: str) -> str | None:
        bad = False

        def sub(m: re.Match[str]) -> str:
            nonlocal bad
            got = lmap.get((m.group(1), int(m.group(2))))
            if got is None:
                bad = True
                return m.group(0)
            return f"{m.group(1)}:{got}"
        out = _FILE_LINE_PARTS.sub(sub, t)
        return None if bad else out

    moved: list[Finding] = []
    for f in findings:
        line = where(f.file, f.line)
        msg = text(f.message)
        details = [text(d) for d in f.details]
        steps = []
        for st in f.trace:
            sl = where(st.file, st.line)
            ev = text(st.event)
            if sl is None or ev is None:
                return None
            steps.append(replace(st, line=sl, event=ev))
        if line is None or msg is None or any(d is None for d in details):
            return None
        moved.append(replace(f, line=line, message=msg, trace=steps,
                             details=[d for d in details if d is not None]))
    return moved


_FILE_LINE = re.compile(r"\S+\.[ch]:\d+")
_FILE_LINE_PARTS = re.compile(r"([\w./-]+\.[ch]):(\d+)")
_CPU = re.compile(r"\bCPUs? ?\[?[\d, ]*\]?|\bCPU\d+")


def identity(f: Finding) -> tuple[str, str, str]:
    """The tracking key of a model finding; see finding_key."""
    return finding_key(f.rule, f.function, f.message)


def finding_key(rule: str, function: str, message: str) -> tuple[str, str, str]:
    """What makes two runs' findings the same one. A state property (KVM001,
    KVM002, KVM014) is one finding per rule: where its trace ends depends on
    which interleaving the search met first. An action's violation is its
    rule, function and message, with line numbers and CPU numbers taken out
    (both move between prefixes)."""
    if rule in STATE_RULES:
        return (rule, "", "")
    msg = _CPU.sub("CPU", _FILE_LINE.sub("FILE", message))
    return (rule, function, msg)


def analyze(series: Series, base: BaseChoice, *, bounds: Bounds, config: Config,
            vendor: str = "vmx", jobs: int = 1, progress: Progress | None = None,
            vendor_reason: str = "--vendor") -> Review:
    """`progress(phase, done, total)` is told how far each phase is: "apply"
    (patches), "parse" (the hook graph after each prefix), "model" (runs)."""
    tell: Progress = progress or (lambda phase, done, total: None)
    diags: list[Diagnostic] = list(series.diagnostics)
    if not series.patches:
        # replies only (or an empty series): nothing changes the base
        diags.append(Diagnostic("info", f"no patches in the input ({len(series.replies)} "
                                "replies): nothing to analyze"))
        return Review(series, base.name, base.reason, base.mode, bounds, (), (), (),
                      tuple(diags), base.lines, base.note, Coverage(),
                      decide(0, Coverage(), False, base.name), vendor, vendor_reason)
    states: list[Base] = [base.state]
    patch_files: list[tuple[FileOutcome, ...]] = []
    history: History = []
    tell("apply", 0, len(series.patches))
    for p in series.patches:
        label = f"patch {p.index}/{p.expected}"
        nxt, outcomes, pd = states[-1].apply(p.files, label)
        diags.extend(d.for_message(p.message_id) for d in pd)
        states.append(nxt)
        patch_files.append(outcomes)
        history.append((p.index, p.files, outcomes))
        tell("apply", len(history), len(series.patches))

    programs = []
    tell("parse", 0, len(states))
    for state in states:
        programs.append(build_program(state.graph(vendor)))
        tell("parse", len(programs), len(states))
    keys = [program_key(p) for p in programs]
    for path, why in sorted(states[-1].refused().items()):
        diags.append(Diagnostic("warning", f"{path}: {why}; not read"))
    per_prefix, runs, notes = _run_all(programs, keys, bounds, set(config.rules), jobs, tell)
    diags.extend(notes)
    changed = [i == 0 or keys[i] != keys[i - 1] for i in range(len(keys))]

    twice = _defined_twice(series, programs)
    diags.extend(d for d, _ in twice.values())
    tracked = _track(series, per_prefix, history, config,
                     {name: why for name, (_, why) in twice.items()})
    lifecycle = frozenset(name for prog in programs for name in _run_functions(prog))
    patches = []
    total = Coverage()
    for i, p in enumerate(series.patches, 1):
        cov = patch_coverage(p.files, patch_files[i - 1], lifecycle,
                             spans_of(_run_functions(programs[i - 1]).values()))
        total = total + cov
        patches.append(PatchResult(p.index, p.subject, p.title, p.message_id, p.author,
                                   patch_files[i - 1],
                                   len(per_prefix[i]) if changed[i] else -1, cov))
    tracked = tuple(replace(t, hunk=pick_hunk(series.patches, patches, t)) for t in tracked)
    introduced = any(t.status in ("introduced", "transient") and not t.accepted
                     and not t.uncertain for t in tracked)
    return Review(series, base.name, base.reason, base.mode, bounds, tuple(patches),
                  tracked, tuple(runs), tuple(diags), base.lines, base.note, total,
                  decide(len(series.patches), total, introduced, base.name), vendor,
                  vendor_reason)


def _explore(program: Program, bounds: Bounds, rules: set[str]) -> tuple[list[Finding], int, float, bool]:
    t0 = time.perf_counter()
    result = explore_cached(program, bounds, rules)
    return result.findings, result.states, time.perf_counter() - t0, result.bound_reached


def _run_functions(program: Program) -> dict[str, Function]:
    """The functions the model runs for a program: its own and those of its
    VM-operations program."""
    vm = program.vm_program
    return {**(vm.functions if vm is not None else {}), **program.functions}


def _run_all(programs: list[Program], keys: list[str], bounds: Bounds, rules: set[str], jobs: int,
             tell: Progress) -> tuple[
                 list[list[Finding]], tuple[ModelRun, ...], list[Diagnostic]]:
    """Findings after every prefix. A program whose key an earlier one shares
    reuses that run with its lines mapped; the others run, `jobs` at a time."""
    n = len(programs)
    found: list[list[Finding] | None] = [None] * n
    runs: list[ModelRun | None] = [None] * n
    done: dict[str, int] = {}          # key → prefix whose run it was
    todo = list(range(n))
    total = len(set(keys))         # runs at least; an ambiguous line map adds one
    finished = 0
    tell("model", 0, total)
    while todo:
        # one run per key this round; the rest wait for it and are mapped
        lead: dict[str, int] = {}
        for i in todo:
            if keys[i] not in done:
                lead.setdefault(keys[i], i)
        batch = sorted(lead.values())
        total = max(total, finished + len(batch))

        def ran(_: int) -> None:
            nonlocal finished
            finished += 1
            tell("model", finished, total)

        for i, (findings, states, secs, bound) in zip(batch, _map_runs(
                [programs[i] for i in batch], bounds, rules, jobs, ran)):
            found[i] = findings
            runs[i] = ModelRun(i, keys[i], False, states, secs, bound)
            done[keys[i]] = i
        left = []
        for i in todo:
            if found[i] is not None:
                continue
            j = done[keys[i]]
            moved = _remap(found[j] or [], line_map(programs[j], programs[i]))
            if moved is None:
                del done[keys[i]]      # a line moved ambiguously: run this one too
                left.append(i)
                continue
            found[i] = moved
            run = runs[j]
            assert run is not None
            runs[i] = replace(run, prefix=i, cached=True, seconds=0.0)
        todo = left
    notes = [Diagnostic("warning", f"model bound reached after {r.prefix} patches "
                        f"({r.states} states): findings may be missing")
             for r in runs if r is not None and r.bound_reached and not r.cached]
    return [f or [] for f in found], tuple(r for r in runs if r is not None), notes


def _map_runs(programs: list[Program], bounds: Bounds, rules: set[str], jobs: int,
              ran: Callable[[int], None]) -> list[tuple[list[Finding], int, float, bool]]:
    # Results already on disk are read here: a process pool for them would
    # cost more than the lookups.
    out: list[tuple[list[Finding], int, float, bool] | None] = []
    for p in programs:
        hit = cached_result(p, bounds, rules)
        out.append(None if hit is None else
                   (hit.findings, hit.states, hit.seconds, hit.bound_reached))
        if hit is not None:
            ran(len(out) - 1)
    misses = [i for i, r in enumerate(out) if r is None]
    if jobs <= 1 or len(misses) <= 1:
        for i in misses:
            out[i] = _explore(programs[i], bounds, rules)
            ran(i)
    else:
        from concurrent.futures import ProcessPoolExecutor, as_completed

        with ProcessPoolExecutor(max_workers=min(jobs, len(misses))) as pool:
            futures = {pool.submit(_explore, programs[i], bounds, rules): i for i in misses}
            for f in as_completed(futures):
                out[futures[f]] = f.result()
                ran(futures[f])
    return [r for r in out if r is not None]


def _defined_twice(series: Series, programs: list[Program]) -> dict[str, tuple[Diagnostic, str]]:
    """Lifecycle functions the series leaves with two strong definitions
    that the graph's rules do not choose between (HookGraph.ambiguous): the
    graph takes one by file name, so which code the model ran, and any
    finding through the function, may follow from that choice rather than
    from the code. For each function the model runs (Program.functions) at
    any prefix (the definition the graph took may be one the model leaves
    out, a stub) whose defining files after some patch differ from the
    base's: the diagnostic naming the first such patch, and the reason its
    findings are uncertain. An ambiguity the base already has is left out:
    the graph makes the same choice at every prefix, so it cannot change a
    finding's status."""
    lifecycle = {name for program in programs for name in program.functions}
    base = {name: _files(where) for name, where in programs[0].graph.ambiguous.items()}
    out: dict[str, tuple[Diagnostic, str]] = {}
    for i, program in enumerate(programs[1:], 1):
        for name, where in sorted(program.graph.ambiguous.items()):
            if name in out or name not in lifecycle or base.get(name) == _files(where):
                continue
            p = series.patches[i - 1]
            places = "; ".join(f"{file}:{line}" for file, line in where)
            what = "a second definition" if len(where) == 2 else "another definition"
            text = (f"patch {p.index}/{p.expected} adds {what} of {name}() ({places}): the "
                    f"kernel would not link both (or they belong to different configs) and "
                    f"which one the model runs is arbitrary; findings through {name}() are "
                    "uncertain")
            why = (f"{name}() has {len(where)} definitions after patch {p.index} ({places}) "
                   "and which one the model ran is arbitrary")
            out[name] = (Diagnostic("warning", text, p.message_id), why)
    return out


def _files(where: tuple[tuple[str, int], ...]) -> tuple[str, ...]:
    return tuple(file for file, _ in where)


def _track(series: Series, per_prefix: list[list[Finding]], history: History,
           config: Config, twice: dict[str, str]) -> tuple[Tracked, ...]:
    """Each finding across the prefixes; `twice`: function → why findings
    through it are uncertain (see _defined_twice)."""
    n = len(per_prefix) - 1
    seen: dict[tuple[str, str, str], list[Finding | None]] = {}
    for i, findings in enumerate(per_prefix):
        for f in findings:
            seen.setdefault(identity(f), [None] * (n + 1))[i] = f
    out: list[Tracked] = []
    for ident, row in seen.items():
        present = [f is not None for f in row]
        first = present.index(True)
        if present[0] and present[n]:
            status, intro, fixed, shown = "pre-existing", None, None, 0
        elif present[0]:
            # shown as it last held, just before the patch that fixes it, so
            # the trace runs through the code that patch changes
            last = max(i for i in range(n + 1) if present[i])
            status, intro, fixed, shown = "fixed", None, last + 1, last
        elif present[n]:
            # the patch after which it is present for good
            gone = max(i for i in range(n + 1) if not present[i])
            status, intro, fixed, shown = "introduced", gone + 1, None, gone + 1
        else:
            last = max(i for i in range(n + 1) if present[i])
            status, intro, fixed, shown = "transient", first, last + 1, first
        f = row[shown]
        assert f is not None
        prefix_patches = shown
        trace = tuple(
            TraceStep(i, s.thread, s.cpu, s.event, s.function, s.file, s.line,
                      _patch_k(history, prefix_patches, s.file, s.line), s.irq, s.holds)
            for i, s in enumerate(f.trace, 1))
        out.append(Tracked(
            f.rule, RULE_NAMES.get(f.rule, ""), config.severity_of(f.rule), f.message,
            f.function, f.file, f.line, _patch_k(history, prefix_patches, f.file, f.line),
            trace, tuple(f.details), status,
            None if intro is None else series.patches[intro - 1].index,
            None if fixed is None else series.patches[fixed - 1].index,
            shown, config.accepted(f.rule, f.function),
            "; ".join(r for r in (_uncertain(history, f, status, intro, fixed),
                                  _through(row, twice)) if r)))
    order = {"introduced": 0, "transient": 1, "fixed": 2, "pre-existing": 3}
    out.sort(key=lambda t: (order[t.status], t.patch or 0, t.rule, t.file, t.line, t.message))
    return tuple(out)


def _uncertain(history: History, f: Finding, status: str, intro: int | None,
               fixed: int | None) -> str:
    """A hunk that did not apply, at or before the patch that changed the
    finding, in the finding's function or a function the violating thread
    ran (the other threads only set the scene: init, typically)."""
    upto = fixed if status == "fixed" else intro
    if upto is None:
        return ""
    actor = f.trace[-1].thread if f.trace else ""
    steps = [s for s in f.trace if s.thread == actor and s.function]
    files = {f.file} | {s.file for s in steps}
    names = {f.function} | {s.function for s in steps}
    misses = []
    for k, fps, outcomes in history[:upto]:
        for fp, outcome in zip(fps, outcomes):
            if fp.path not in files:
                continue
            for h in outcome.hunks:
                if h.status == "failed" and _touches(fp.hunks[h.index], names):
                    misses.append(f"patch {k} hunk #{h.index + 1} in {fp.path}")
    if not misses:
        return ""
    more = f" and {len(misses) - 3} more" if len(misses) > 3 else ""
    return (f"{', '.join(misses[:3])}{more} did not apply to the base, so the code the model "
            "ran is not the code the series makes")


def _through(row: list[Finding | None], twice: dict[str, str]) -> str:
    """Why a finding is uncertain because its location or trace, after any
    prefix where it holds, passes through a function defined twice; ""
    when none does."""
    names = {name for f in row if f is not None
             for name in (f.function, *(s.function for s in f.trace))}
    return "; ".join(twice[name] for name in sorted(names & twice.keys()))


def _touches(hunk: Hunk, names: set[str]) -> bool:
    """Does a hunk sit in, or change a call of, one of the functions `names`,
    and change what the code does?"""
    if not _changes_behaviour(hunk):
        return False
    if section_function(hunk.section) in names:
        return True
    words = set()
    for ln in hunk.lines:
        if ln.kind in "+-":
            words.update(IDENTIFIER.findall(ln.text))
    return bool(words & names)


_TOKEN = re.compile(r"[A-Za-z_]\w*|\S")
# Words that change how code is linked or placed, not what it does.
_STORAGE = frozenset({"static", "inline", "extern"})


def _changes_behaviour(hunk: Hunk) -> bool:
    """False when what the hunk removes and what it adds differ only in
    storage class or kernel annotations (a dropped `static`, an added
    `__init`): the model runs the same code either way."""
    quiet = _STORAGE | annotations().words

    def tokens(kind: str) -> list[str]:
        return [t for ln in hunk.lines if ln.kind == kind
                for t in _TOKEN.findall(ln.text) if t not in quiet]
    return tokens("-") != tokens("+")


def _patch_k(history: History, prefix: int, file: str, line: int) -> int | None:
    if not file or line <= 0:
        return None
    return line_origin(history[:prefix], file, line)
