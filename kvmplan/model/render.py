"""Model results as text, JSON or markdown (traces numbered, lockdep-like)."""

from __future__ import annotations

import json

from kvmplan.model.explorer import Result
from kvmplan.model.rules import RULE_NAMES, SEVERITY


def _where(step) -> str:
    if step.file:
        return f"{step.file}:{step.line}"
    if step.thread == "env":
        return "(model: initial state)"
    if step.thread == "init" and step.event.startswith("module_init"):
        return "(kernel: module loader)"
    if step.thread == "system":
        return "(kernel: reboot / suspend / module unload)"
    return "(kernel: cpu hotplug core)" if step.thread == "hotplug" else "(kernel)"


def _steps(trace) -> list[dict]:
    return [{"step": i + 1, "thread": s.thread, "cpu": s.cpu, "event": s.event,
             "function": s.function, "file": s.file, "line": s.line,
             "irqs_off": s.irq, "holds": [list(h) for h in s.holds]}
            for i, s in enumerate(trace)]


def _text_steps(trace) -> list[str]:
    out = []
    for i, s in enumerate(trace, 1):
        fn = f" {s.function}()" if s.function and s.file else ""
        out.append(f"  {i:3}. [{s.thread} CPU{s.cpu}] {s.event}  --{fn} {_where(s)}")
    return out


def to_dict(result: Result, tree: str, cpus: int) -> dict:
    return {
        "tree": tree,
        "cpus": cpus,
        "findings": [
            {
                "rule": f.rule, "name": RULE_NAMES.get(f.rule, ""),
                "severity": SEVERITY.get(f.rule, "warning"), "message": f.message,
                "location": {"file": f.file, "line": f.line, "function": f.function},
                "details": list(f.details),
                "trace": _steps(f.trace),
            }
            for f in result.findings
        ],
        "example": _steps(result.example),
        "stats": {"states": result.states, "transitions": result.transitions,
                  "seconds": round(result.seconds, 3), "bound_reached": result.bound_reached},
    }


def render_json(result: Result, tree: str, cpus: int, timing: bool = False,
                example: bool = False) -> str:
    data = to_dict(result, tree, cpus)
    if not example:
        del data["example"]
    if not timing:
        del data["stats"]["seconds"]   # byte-identical output for the same input
    return json.dumps(data, indent=2) + "\n"


def render_text(result: Result, tree: str, cpus: int, timing: bool = False,
                example: bool = False) -> str:
    out = []
    for f in result.findings:
        sev = SEVERITY.get(f.rule, "warning")
        out.append(f"{f.file}:{f.line}: {sev}: {f.rule} {RULE_NAMES.get(f.rule, '')}: {f.message}")
        out.append(f"  in {f.function}()")
        out += [f"  {d}" for d in f.details]
        out += _text_steps(f.trace)
    if example and not result.findings and result.example:
        out.append("a complete execution (the shortest in which every thread finishes):")
        out += _text_steps(result.example)
    stats = (f"{result.states} states, {result.transitions} transitions"
             + (f", {result.seconds:.2f}s" if timing else "")
             + (", BOUND REACHED: exploration incomplete" if result.bound_reached else ", exhaustive"))
    out.append(f"{len(result.findings)} finding(s) on {tree} with {cpus} CPUs ({stats})")
    return "\n".join(out) + "\n"


def render_markdown(result: Result, tree: str, cpus: int, timing: bool = False,
                    example: bool = False) -> str:
    out = [f"# kvmplan model check: `{tree}` ({cpus} CPUs)", ""]
    if not result.findings:
        out.append("No property of the model is broken within the bounds.")
    for f in result.findings:
        out.append(f"## {f.rule} {RULE_NAMES.get(f.rule, '')} ({SEVERITY.get(f.rule, 'warning')})")
        out.append("")
        out.append(f"**{f.message}** at `{f.file}:{f.line}` in `{f.function}()`.")
        out.append("")
        if f.details:
            out += ["```"] + f.details + ["```", ""]
        out.append("| # | thread | CPU | event | where |")
        out.append("|---|---|---|---|---|")
        for i, s in enumerate(f.trace, 1):
            where = f"`{s.function}()` {_where(s)}" if s.file else _where(s)
            out.append(f"| {i} | {s.thread} | {s.cpu} | {s.event.replace('|', '/')} | {where} |")
        out.append("")
    out.append(f"_{result.states} states, {result.transitions} transitions"
               + (", bound reached" if result.bound_reached else ", exhaustive within bounds") + "._")
    return "\n".join(out) + "\n"


RENDERERS = {"text": render_text, "json": render_json, "markdown": render_markdown}
