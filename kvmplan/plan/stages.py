"""Stage validation: perform the remaining steps in order on the model's copy
of the code, re-run the model after each, and say what each stage resolves
and what it introduces.

A step is tried as the seed thread states it first ("literal"); when that
introduces a finding or a hazard, its other variants are tried and the first
clean one is what the next stage builds on. 5a and 5b are exclusive: both
are tried from the same code and one is recommended."""

from __future__ import annotations

from dataclasses import dataclass

from kvmplan.graph.hooks import HookGraph
from kvmplan.model import Bounds
from kvmplan.plan.checks import Hazard, Issue, hazards, verdict
from kvmplan.plan.edit import Code
from kvmplan.plan.roles import Facts
from kvmplan.plan.status import SETTLED, Assessment, Status
from kvmplan.plan.steps import STEPS, Step, assess
from kvmplan.plan.transforms import CannotModel


@dataclass(frozen=True)
class Change:
    """A function a stage changes, adds or removes (where it is before the stage)."""

    kind: str        # "changed", "added", "removed"
    function: str
    file: str
    line: int


@dataclass(frozen=True)
class Trial:
    """One variant of a step, run in the model on top of the stages before it."""

    step: str
    variant: str
    text: str
    modelled: bool
    reason: str                          # why it could not be modelled
    issues: tuple[Issue, ...] = ()
    resolves: tuple[Issue, ...] = ()
    introduces: tuple[Issue, ...] = ()
    hazards: tuple[Hazard, ...] = ()     # introduced by this variant
    statuses: tuple[tuple[str, Status], ...] = ()   # every step's status afterwards
    changes: tuple[Change, ...] = ()
    states: int = 0

    @property
    def clean(self) -> bool:
        return self.modelled and not self.introduces and not self.hazards


@dataclass(frozen=True)
class Stage:
    steps: tuple[str, ...]
    trials: tuple[Trial, ...]
    chosen: str                          # the variant later stages build on ("" if none)
    alternative: bool = False            # one of the exclusive 5a/5b stages

    def trial(self) -> Trial | None:
        return next((t for t in self.trials if t.variant == self.chosen), None)


@dataclass(frozen=True)
class Validation:
    bounds: Bounds
    base: tuple[Issue, ...]
    base_hazards: tuple[Hazard, ...]
    stages: tuple[Stage, ...]
    recommend: str                       # "5a", "5b" or ""
    reason: str
    remaining: tuple[Issue, ...]         # findings no stage resolves


def remaining_steps(assessments: dict[str, Assessment]) -> list[Step]:
    """Steps still to do, in an order that honours their prerequisites."""
    todo = [s for s in STEPS if assessments[s.id].status not in SETTLED]
    settled_alt = any(assessments[x].status in SETTLED for x in ("5a", "5b"))
    if settled_alt:
        todo = [s for s in todo if s.id not in ("5a", "5b")]
    done: set[str] = {s.id for s in STEPS if assessments[s.id].status in SETTLED}
    ordered: list[Step] = []
    while todo:
        ready = [s for s in todo if all(r in done or r not in {t.id for t in todo}
                                        for r in s.requires)]
        step = ready[0] if ready else todo[0]
        ordered.append(step)
        todo.remove(step)
        done.add(step.id)
    return ordered


def _changes(before: Code, after: Code) -> tuple[Change, ...]:
    old = {(fn.file, fn.name): fn for u in before.units for fn in u.functions}
    new = {(fn.file, fn.name): fn for u in after.units for fn in u.functions}
    out: list[Change] = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if a is None and b is not None:
            out.append(Change("added", b.name, b.file, b.line))
        elif b is None and a is not None:
            out.append(Change("removed", a.name, a.file, a.line))
        elif a is not None and b is not None and a != b:
            out.append(Change("changed", a.name, a.file, a.line))
    return tuple(out)


def _diff(before: tuple[Issue, ...], after: tuple[Issue, ...]) -> tuple[tuple[Issue, ...],
                                                                         tuple[Issue, ...]]:
    keys_before = {i.key() for i in before}
    keys_after = {i.key() for i in after}
    resolves = tuple(i for i in before if i.key() not in keys_after)
    introduces = tuple(i for i in after if i.key() not in keys_before)
    return resolves, introduces


def _try(step: Step, code: Code, graph: HookGraph, base: tuple[Issue, ...],
         base_hazards: tuple[Hazard, ...], bounds: Bounds, use_cache: bool,
         opt_out: HookGraph | None) -> list[tuple[Trial, Code, HookGraph]]:
    """The step's variants in order, until one is clean."""
    out: list[tuple[Trial, Code, HookGraph]] = []
    for variant in step.variants:
        try:
            new_code = variant.apply(code, Facts(graph))
            new_graph = new_code.graph()
        except CannotModel as exc:
            out.append((Trial(step.id, variant.name, variant.text, False, str(exc)), code, graph))
            continue
        result = verdict(new_graph, bounds, use_cache)
        resolves, introduces = _diff(base, result.issues)
        seen = {h.key() for h in base_hazards}
        # a static hazard where the model itself reports a new finding is
        # said once, by the model (its trace shows how the line is reached)
        found = {(i.file, i.line) for i in introduces}
        new_hazards = tuple(h for h in hazards(new_graph)
                            if h.key() not in seen and (h.file, h.line) not in found)
        statuses = tuple((k, a.status) for k, a in assess(new_graph, opt_out).items())
        trial = Trial(step.id, variant.name, variant.text, True, "", result.issues, resolves,
                      introduces, new_hazards, statuses, _changes(code, new_code), result.states)
        out.append((trial, new_code, new_graph))
        if trial.clean:
            break
    return out


def validate(code: Code, graph: HookGraph, assessments: dict[str, Assessment],
             bounds: Bounds, use_cache: bool = True,
             opt_out: HookGraph | None = None) -> Validation:
    base = verdict(graph, bounds, use_cache).issues
    base_hazards = hazards(graph)
    stages: list[Stage] = []
    issues = base
    cur_hazards = base_hazards
    blocked: set[str] = set()
    order = remaining_steps(assessments)
    linear = [s for s in order if s.id not in ("5a", "5b")]
    alternatives = [s for s in order if s.id in ("5a", "5b")]
    for step in linear:
        if any(r in blocked for r in step.requires):
            trial = Trial(step.id, "literal", step.variants[0].text, False,
                          "a step it needs could not be modelled")
            stages.append(Stage((step.id,), (trial,), ""))
            blocked.add(step.id)
            continue
        tried = _try(step, code, graph, issues, cur_hazards, bounds, use_cache, opt_out)
        chosen = next((t for t in tried if t[0].clean), None)
        if chosen is None:
            modelled = [t for t in tried if t[0].modelled]
            chosen = min(modelled, key=lambda t: (len(t[0].introduces) + len(t[0].hazards))) \
                if modelled else None
        if chosen is None:
            blocked.add(step.id)
            stages.append(Stage((step.id,), tuple(t[0] for t in tried), ""))
            continue
        trial, code, graph = chosen
        issues = trial.issues
        cur_hazards = tuple(sorted(set(cur_hazards) | set(trial.hazards),
                                   key=lambda h: (h.file, h.line, h.text)))
        stages.append(Stage((step.id,), tuple(t[0] for t in tried), trial.variant))
    alt_results: list[Trial] = []
    for step in alternatives:
        if any(r in blocked for r in step.requires):
            trial = Trial(step.id, "literal", step.variants[0].text, False,
                          "a step it needs could not be modelled")
        else:
            tried = _try(step, code, graph, issues, cur_hazards, bounds, use_cache, opt_out)
            trial = tried[-1][0]
        alt_results.append(trial)
        stages.append(Stage((step.id,), (trial,), trial.variant if trial.modelled else "",
                            alternative=True))
    recommend, reason = _recommend(alt_results)
    final = issues
    for t in alt_results:
        if t.modelled and t.step == recommend:
            final = t.issues
    return Validation(bounds, base, base_hazards, tuple(stages), recommend, reason,
                      tuple(i for i in final if i.key() in {b.key() for b in base}))


def _recommend(trials: list[Trial]) -> tuple[str, str]:
    modelled = [t for t in trials if t.modelled]
    if not modelled:
        return "", ""
    if len(modelled) == 1:
        t = modelled[0]
        return t.step, f"only {t.step} could be modelled on this code"
    a, b = sorted(modelled, key=lambda t: t.step)
    score = {t.step: (len(t.introduces) + len(t.hazards), len(t.issues)) for t in modelled}
    if score[a.step] != score[b.step]:
        best = min(modelled, key=lambda t: score[t.step])
        other = b if best is a else a
        return best.step, (f"{best.step} leaves fewer findings in the model "
                           f"({len(best.issues)} against {len(other.issues)} for {other.step})")
    step = next(s for s in STEPS if s.id == "5b")
    return "5b", ("the model gives both the same verdict, so the choice is about code: "
                  + step.rationale)
