"""A plan as JSON (the data), and as markdown or text (jinja2 templates in
templates/ that read the same data). Same plan, same bytes.

JSON ("schema": "kvmplan.plan/1"), keys in this order:
  tree, vendor, seed {author, date, message_id, subject},
  series: null | {title, version, base_commit, patches[{index, expected, title,
      message_id, steps[], advances[{step, before, after, criteria[]}], regresses[...],
      files[{path, outcome, note}]}]},
  steps[{id, title, intent, status, summary, requires[], excludes[],
      criteria[{key, text, met}], evidence[{function, file, line, text}]}],
  model: null | {bounds{...}, findings[issue], hazards[hazard]},
  stages[{number, steps[], title, alternative, variant, modelled, reason,
      resolves[issue], introduces[issue], hazards[hazard], findings_after[issue],
      states, statuses_after{id: status}, shortlogs[], touch[{kind, function, file,
      line}], also_touch[], risks[], trials[{variant, text, modelled, reason,
      resolves[], introduces[], hazards[]}], first_alternative}],
  recommendation: null | {step, reason}, remaining[issue + help], seconds (--timing).
An issue is {rule, name, function, file, line, message, details[]}; a hazard
{function, file, line, text}. A stage's resolves/introduces are those of the
variant it chose; trials[0] is the step as proposed ("literal")."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from typing import Any

import jinja2

from kvmplan.plan.build import Plan
from kvmplan.plan.checks import Hazard, Issue
from kvmplan.plan.stages import Stage, Trial
from kvmplan.plan.steps import STEP_BY_ID, STEPS
from kvmplan.resources import templates_dir
from kvmplan.source import kernel_release
from kvmplan.model.rules import RULES

SCHEMA = "kvmplan.plan/1"


SEED = {
    "author": "Sean Christopherson",
    "date": "2022-08-11",
    "message_id": "YvU+6fdkHaqQiKxp@google.com",
    "subject": "Re: [PATCH v8 003/103] KVM: Refactor CPU compatibility check on module "
               "initialization",
}


def _issue(i: Issue) -> dict[str, Any]:
    return {"rule": i.rule, "name": i.name, "function": i.function, "file": i.file,
            "line": i.line, "message": i.message, "details": list(i.details)}


def _hazard(h: Hazard) -> dict[str, Any]:
    return {"function": h.function, "file": h.file, "line": h.line, "text": h.text}


def _trial(t: Trial) -> dict[str, Any]:
    return {"variant": t.variant, "text": t.text, "modelled": t.modelled, "reason": t.reason,
            "resolves": [_issue(i) for i in t.resolves],
            "introduces": [_issue(i) for i in t.introduces],
            "hazards": [_hazard(h) for h in t.hazards]}


def _stage(number: int, stage: Stage) -> dict[str, Any]:
    step = STEP_BY_ID[stage.steps[0]]
    chosen = stage.trial()
    literal = stage.trials[0] if stage.trials else None
    shown = chosen or literal
    return {
        "number": number,
        "steps": list(stage.steps),
        "title": step.title,
        "alternative": stage.alternative,
        "variant": stage.chosen,
        "modelled": chosen is not None,
        "reason": "" if chosen is not None else (literal.reason if literal else ""),
        "resolves": [_issue(i) for i in chosen.resolves] if chosen else [],
        "introduces": [_issue(i) for i in chosen.introduces] if chosen else [],
        "hazards": [_hazard(h) for h in chosen.hazards] if chosen else [],
        "findings_after": [_issue(i) for i in chosen.issues] if chosen else [],
        "states": chosen.states if chosen else 0,
        "statuses_after": dict(chosen.statuses) if chosen else {},
        "shortlogs": list(step.shortlogs),
        "touch": [{"kind": c.kind, "function": c.function, "file": c.file, "line": c.line}
                  for c in (shown.changes if shown else ())],
        "also_touch": list(step.also),
        "risks": list(step.risks),
        "trials": [_trial(t) for t in stage.trials],
    }


def to_dict(plan: Plan, timing: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"schema": SCHEMA, "tree": plan.tree, "vendor": plan.vendor,
                           "seed": SEED, "series": None}
    if plan.series is not None:
        s = plan.series
        out["series"] = {
            "title": s.title, "version": s.version, "base_commit": s.base_commit,
            "patches": [{
                "index": p.index, "expected": p.expected, "title": p.title,
                "message_id": p.message_id,
                "steps": [a.step for a in p.advances],
                "advances": [{"step": a.step, "before": a.before, "after": a.after,
                              "criteria": list(a.criteria)} for a in p.advances],
                "regresses": [{"step": a.step, "before": a.before, "after": a.after,
                               "criteria": list(a.criteria)} for a in p.regresses],
                "files": [{"path": f.path, "outcome": f.outcome, "note": f.note}
                          for f in p.files],
            } for p in s.patches],
        }
    out["steps"] = [{
        "id": step.id, "title": step.title, "intent": step.intent,
        "status": plan.statuses[step.id].status, "summary": plan.statuses[step.id].summary,
        "requires": list(step.requires), "excludes": list(step.excludes),
        "criteria": [{"key": c.key, "text": c.text, "met": c.met}
                     for c in plan.statuses[step.id].criteria],
        "evidence": [{"function": e.function, "file": e.file, "line": e.line, "text": e.text}
                     for e in plan.statuses[step.id].evidence],
    } for step in STEPS]
    v = plan.validation
    out["model"] = None
    out["stages"] = []
    out["recommendation"] = None
    out["remaining"] = []
    if v is not None:
        b = v.bounds
        out["model"] = {
            "bounds": {"cpus": b.cpus, "hotplug_events": b.hotplug_events,
                       "failures": b.failures, "max_states": b.max_states,
                       "system": list(b.system)},
            "findings": [_issue(i) for i in v.base],
            "hazards": [_hazard(h) for h in v.base_hazards],
        }
        number = 0
        first_alternative = True
        for stage in v.stages:
            data = _stage(number + 1 if not stage.alternative or first_alternative else number,
                          stage)
            data["first_alternative"] = stage.alternative and first_alternative
            if stage.alternative:
                first_alternative = False
            number = data["number"]
            out["stages"].append(data)
        if v.recommend:
            out["recommendation"] = {"step": v.recommend, "reason": v.reason}
        out["remaining"] = [{**_issue(i), "help": " ".join(RULES[i.rule].fix.split())
                             if i.rule in RULES else ""} for i in v.remaining]
    if timing:
        out["seconds"] = round(plan.seconds, 2)
    return out


def render_json(plan: Plan, timing: bool = False) -> str:
    return json.dumps(to_dict(plan, timing), indent=2, ensure_ascii=False) + "\n"


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates_dir())),
                             undefined=jinja2.StrictUndefined, autoescape=False,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["label"] = _label
    env.filters["labels"] = lambda items: ", ".join(_label(i) for i in items) or "nothing"
    env.filters["where"] = lambda d: f"{d['file']}:{d['line']}" if d.get("file") else "(kernel)"
    env.filters["mark"] = lambda met: "x" if met else (" " if met is False else "?")
    env.filters["cap"] = lambda text: text[:1].upper() + text[1:]
    return env


def _label(issue: dict[str, Any]) -> str:
    state = issue["rule"] in ("KVM001", "KVM002", "KVM014")
    where = "" if state or not issue["function"] else f" in {issue['function']}()"
    return f"{issue['rule']} {issue['name']}{where}"


def _kernel_version(tree: str) -> str:
    """The tree's release from its Makefile, for the reader only."""
    return kernel_release(Path(tree))[1]


def _touch_by_file(touch: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Changes grouped by file, then kind: what a reader edits file by file."""
    out: dict[str, dict[str, list[str]]] = {}
    for t in touch:
        kinds = out.setdefault(t["file"], {})
        kinds.setdefault(t["kind"], []).append(f"{t['function']}() ({t['line']})")
    return [{"file": f, "kinds": [{"kind": k, "functions": sorted(v)}
                                  for k, v in sorted(kinds.items())]}
            for f, kinds in sorted(out.items())]


def render_template(name: str, plan: Plan, timing: bool = False) -> str:
    data = to_dict(plan, timing)
    for stage in data["stages"]:
        stage["touch_by_file"] = _touch_by_file(stage["touch"])
    return _environment().get_template(name).render(
        plan=data, tree_name=Path(plan.tree).name, kernel=_kernel_version(plan.tree))


def render_markdown(plan: Plan, timing: bool = False) -> str:
    return render_template("plan.md.j2", plan, timing)


def render_text(plan: Plan, timing: bool = False) -> str:
    return render_template("plan.txt.j2", plan, timing)


RENDERERS = {"json": render_json, "markdown": render_markdown, "text": render_text}
