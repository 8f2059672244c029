"""The Review seen by a reader: plain dicts for the templates and the JSON,
with the hunk each finding is about, its trace and a mermaid diagram.

Everything here is derived from the Review; nothing is recomputed.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from kvmplan import __version__
from kvmplan.analyze.coverage import Coverage
from kvmplan.analyze.run import Review, Tracked, finding_key
from kvmplan.diff import Hunk
from kvmplan.diff.apply import STATUSES
from kvmplan.model.rules import RULES

STATUS_TEXT = {
    "introduced": "introduced",
    "transient": "introduced, then fixed later in the series (breaks bisection)",
    "fixed": "fixed",
    "pre-existing": "pre-existing",
}
MAX_QUOTE = 24


def fingerprint(t: Tracked) -> str:
    """Stable across runs and line moves: the key that tracks a finding
    across the series' prefixes (analyze.run.finding_key), hashed."""
    key = "\0".join(finding_key(t.rule, t.function, t.message))
    return hashlib.sha256(key.encode()).hexdigest()[:32]


# What would make text from a mail markup: HTML (tags, entities), links and
# images, code spans, table cells, escapes.
_MARKDOWN = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "[": "\\[", "]": "\\]", "`": "\\`",
             "|": "\\|", "\\": "\\\\"}


def markdown_text(text: object) -> str:
    """Text from a mail (a subject, a Message-ID, a path) as inert markdown:
    rendered, it reads as the same characters; nothing becomes a tag, a
    link, an image, a code span or a table cell."""
    return "".join(_MARKDOWN.get(c, c) for c in str(text))


def _quoted(path: str, lines: list[str]) -> dict[str, Any]:
    """A hunk to quote in a fenced block whose fence no line can close."""
    longest = max((len(run) for ln in lines + [path] for run in re.findall(r"`+", ln)), default=0)
    return {"file": path, "lines": lines, "fence": "`" * max(3, longest + 1)}


def quote(hunk: Hunk) -> list[str]:
    """The hunk as diff lines, cut to MAX_QUOTE lines from its first change."""
    rows = [f"@@ -{hunk.old_start},{hunk.old_len} +{hunk.new_start},{hunk.new_len} @@"
            + (f" {hunk.section}" if hunk.section else "")]
    body = [ln for ln in hunk.lines if ln.kind in (" ", "+", "-")]
    texts = [f"{ln.kind}{ln.text}" for ln in body]
    if len(texts) <= MAX_QUOTE:
        return rows + texts
    changed = [i for i, ln in enumerate(body) if ln.kind != " "]
    centre = changed[0] if changed else 0
    lo = max(0, min(centre - MAX_QUOTE // 3, len(texts) - MAX_QUOTE))
    hi = lo + MAX_QUOTE
    return rows + (["[...]"] if lo else []) + texts[lo:hi] + (["[...]"] if hi < len(texts) else [])


# what mermaid's sequence-diagram parser would read: statement ends, arrows
# (`->`, `--`), entities, brackets, markup, `%%` comments
_MERMAID_SPECIAL = re.compile(r"[;#<>{}\[\]\"`&|\\]|-(?=[->])|%(?=%)")


def _mermaid_text(s: str) -> str:
    """Text for a mermaid note: characters its parser reads (`->`, `[`,
    `;`, `#`...) as entity codes (`#62;`), which it renders as the character."""
    s = re.sub(r"\s+", " ", s).strip()
    return _MERMAID_SPECIAL.sub(lambda m: f"#{ord(m.group())};", s)


def mermaid(t: Tracked) -> str:
    """A sequence diagram: one lifeline per model thread, one note per step."""
    threads = list(dict.fromkeys(s.thread for s in t.trace))
    lines = ["sequenceDiagram"]
    for th in threads:
        lines.append(f"    participant {th}")
    last = ""
    for s in t.trace:
        where = f" ({s.function}, {s.file.rsplit('/', 1)[-1]}:{s.line})" if s.file else ""
        text = _mermaid_text(f"{s.step}. CPU{s.cpu} {s.event}{where}")
        if last and last != s.thread:
            lines.append(f"    {last}-->>{s.thread}: then")
        lines.append(f"    Note over {s.thread}: {text}")
        last = s.thread
    return "\n".join(lines)


def patch_label(review: Review, k: int | None) -> str:
    if k is None:
        return "the base"
    n = review.series.expected or len(review.series.patches)
    return f"{k}/{n}"


def finding_dict(review: Review, t: Tracked, diagrams: bool = False) -> dict[str, Any]:
    rule = RULES.get(t.rule)
    return {
        "rule": t.rule,
        "name": t.name,
        "severity": t.severity,
        "status": t.status,
        "status_text": STATUS_TEXT[t.status],
        "introduced_by": t.introduced_by,
        "fixed_by": t.fixed_by,
        "patch": t.patch,
        "patch_label": patch_label(review, t.patch),
        "introduced_label": patch_label(review, t.introduced_by) if t.introduced_by else "",
        "fixed_label": patch_label(review, t.fixed_by) if t.fixed_by else "",
        "lines_after": t.shown_at,
        "lines_after_label": ("the base" if t.shown_at == 0 else
                              f"after patch {patch_label(review, t.shown_at)}"),
        "accepted": t.accepted,
        "uncertain": t.uncertain,
        "message": t.message,
        "location": {"file": t.file, "line": t.line, "function": t.function,
                     "patch": t.line_patch},
        "trace": [{"step": s.step, "thread": s.thread, "cpu": s.cpu, "event": s.event,
                   "function": s.function, "file": s.file, "line": s.line, "patch": s.patch,
                   "irqs_off": s.irq, "holds": [list(h) for h in s.holds]}
                  for s in t.trace],
        "details": list(t.details),
        "why": rule.summary if rule else "",
        "fix": rule.fix if rule else "",
        "fix_hint": " ".join((rule.fix if rule else "").strip().split("\n\n")[0].split()),
        "hunk": None if t.hunk is None else _quoted(t.hunk.path, quote(t.hunk.hunk)),
        "mermaid": mermaid(t) if diagrams else "",
        "fingerprint": fingerprint(t),
    }


def coverage_dict(c: Coverage) -> dict[str, Any]:
    """What the model judged (kvmplan.analyze.coverage.Coverage) as data."""
    return {"hunks": {"exact": c.exact, "offset": c.offset, "fuzz": c.fuzz,
                      "present": c.present, "failed": c.failed},
            "files": {"in_model": c.files_in_model, "outside_model": c.files_outside,
                      "other": c.files_other},
            "lines": {"in_model": c.lines_in_model, "outside_model": c.lines_outside},
            "lifecycle_functions": list(c.functions),
            "outside_model_files": list(c.outside)}


def check_state(introduced: list[dict[str, Any]], failed_hunks: int) -> str:
    """success, warning or fail: the one rule behind every verdict a machine
    reads (the bot's patchwork checks, b4's external checker). `introduced`
    are finding dicts a patch or series introduces (transient ones too).
    Fail: one that counts (not accepted, not uncertain) is an error.
    Warning: one counts at a lower severity, one is uncertain, or a hunk
    did not apply."""
    counted = [f for f in introduced if not f["accepted"] and not f["uncertain"]]
    if any(f["severity"] == "error" for f in counted):
        return "fail"
    if counted or any(f["uncertain"] for f in introduced) or failed_hunks:
        return "warning"
    return "success"


def plan_summary(plan: dict[str, Any] | None) -> dict[str, Any] | None:
    """The refactor plan's step statuses after the series and the patches
    that advance each (from kvmplan.plan.to_dict), for the review."""
    if not plan:
        return None
    by_step: dict[str, list[int]] = {}
    for p in (plan.get("series") or {}).get("patches", []):
        for sid in p.get("steps", []):
            by_step.setdefault(str(sid), []).append(p["index"])
    thread = (plan.get("seed") or {}).get("message_id", "")
    return {"thread": f"https://lore.kernel.org/r/{thread}" if thread else "the refactor thread",
            "steps": [{"id": st["id"], "title": st["title"], "status": st["status"],
                       "summary": st.get("summary", ""),
                       "patches": by_step.get(str(st["id"]), [])}
                      for st in plan.get("steps", [])]}


def review_dict(review: Review, timing: bool = False,
                plan: dict[str, Any] | None = None, diagrams: bool = False) -> dict[str, Any]:
    """Everything a renderer needs, sorted and free of timestamps. `plan` is
    kvmplan.plan.to_dict() of the series over the same tree, when there is
    one; `diagrams` adds a mermaid sequence diagram to each finding."""
    s = review.series
    findings = [finding_dict(review, t, diagrams) for t in review.findings]
    counted = [f for f in findings if not f["accepted"] and not f["uncertain"]]
    introduced = [f for f in counted if f["status"] in ("introduced", "transient")]
    fixed = [f for f in findings if f["status"] == "fixed"]
    v = review.verdict
    if v.kind == "findings":
        verdict = ("the series introduces lifecycle ordering bugs"
                   if any(f["severity"] == "error" for f in introduced)
                   else "the series introduces lifecycle warnings")
    elif v.kind == "clean":
        verdict = "no new lifecycle findings"
    else:
        verdict = f"inconclusive: {v.reason}"
    patches = []
    for p, r in zip(s.patches, review.patches):
        mine = [f for f in findings if f["patch"] == p.index and f["status"] != "pre-existing"]
        patches.append({
            "index": p.index, "label": patch_label(review, p.index), "subject": p.subject,
            "title": p.title, "message_id": p.message_id, "author": p.author,
            "hunks": {k: r.count(k) for k in STATUSES},
            "files": [{"path": o.path, "skipped": o.skipped,
                       "hunks": [{"index": h.index + 1, "status": h.status, "line": h.line,
                                  "fuzz": h.fuzz, "offset": h.offset} for h in o.hunks]}
                      for o in r.files],
            "findings": mine,
            "coverage": coverage_dict(r.coverage),
        })
    runs = [{"prefix": r.prefix, "cached": r.cached, "states": r.states,
             "bound_reached": r.bound_reached} | ({"seconds": round(r.seconds, 3)} if timing else {})
            for r in review.runs]
    return {
        "schema": "kvmplan.analyze/1",
        "tool": {"name": "kvmplan", "version": __version__},
        "series": {"title": s.title, "version": s.version, "expected": s.expected,
                   "author": s.author, "base_commit": s.base_commit, "change_id": s.change_id,
                   "cover": None if s.cover is None else s.cover.message_id,
                   "patches": len(s.patches), "missing": list(s.missing)},
        "base": {"mode": review.mode, "name": review.base, "reason": review.base_reason,
                 "lines": review.base_lines, "note": review.base_note},
        "vendor": {"name": review.vendor, "reason": review.vendor_reason},
        "bounds": {"cpus": review.bounds.cpus, "hotplug_events": review.bounds.hotplug_events,
                   "failures": review.bounds.failures, "system": list(review.bounds.system)},
        "apply": {k: review.hunks(k) for k in STATUSES}
        | {"files_skipped": review.skipped_files},
        "verdict": v.kind,
        "verdict_reason": v.reason,
        "verdict_text": verdict,
        "coverage": coverage_dict(review.coverage),
        # every finding by status, so each format's totals are the lines it
        # lists; uncertain and accepted ones are counted apart as well
        "counts": {st: sum(1 for f in findings if f["status"] == st)
                   for st in ("introduced", "transient", "fixed", "pre-existing")}
        | {"uncertain": sum(1 for f in findings if f["uncertain"]),
           "accepted": sum(1 for f in findings if f["accepted"])},
        "patches": patches,
        "findings": findings,
        "introduced": introduced,
        "fixed": fixed,
        "pre_existing": [f for f in findings if f["status"] == "pre-existing"],
        "runs": runs,
        "model_runs": sum(1 for r in review.runs if not r.cached),
        "plan": plan_summary(plan),
        "diagnostics": [{"severity": d.severity, "message_id": d.message_id, "text": d.text}
                        for d in review.diagnostics],
    }
