"""One series analysis, in its own process: `python -m kvmplan.bot.worker JOBDIR`.

The bot runs each analysis here so that a time limit can kill it, a crash
can't take the bot down, and a killed bot takes its analysis with it. The
job is `JOBDIR/job.json`; the series is `JOBDIR/series.mbox`. The result,
`JOBDIR/result.json`, holds every file the bot will put in its outbox:

    {"status": "ok", "name": ..., "summary": {...},
     "outputs": [{"path": "maildir/new/...", "kind": "reply", "msgid": ..., "text": ...}, ...]}
    {"status": "nothing", "reason": "..."}     # no patch to review

Nothing here reads the state or writes the outbox.
"""

from __future__ import annotations

import email
import json
import os
import re
import signal
import sys
import urllib.parse
from email.policy import compat32
from pathlib import Path
from typing import Any

CONTEXT = "kvmplan"
CHECK_SCHEMA = "kvmplan.check/1"


def die_with_parent() -> None:
    """Be killed when the parent dies (Linux PR_SET_PDEATHSIG): the bot's
    worker when the bot dies, the worker's model-run processes when it does,
    so a kill -9 of the bot leaves nothing running."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


def limit_resources(memory_mb: int | None, cpu_seconds: float | None) -> None:
    """Bound what one hostile series can cost: address space (MemoryError
    instead of the machine swapping) and CPU time (SIGXCPU), for this
    process and the model-run processes it forks."""
    import resource

    if memory_mb:
        size = int(memory_mb) << 20
        resource.setrlimit(resource.RLIMIT_AS, (size, size))
    if cpu_seconds:
        secs = int(cpu_seconds) + 1
        resource.setrlimit(resource.RLIMIT_CPU, (secs, secs + 5))


def slug(title: str) -> str:
    words = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
    return words[:48].rstrip("-") or "series"


def outbox_name(title: str, version: int, key: str) -> str:
    return f"{slug(title)}-v{version}-{key[:10]}"


def _state(patch: dict[str, Any]) -> tuple[str, str]:
    """patchwork state and one-line description for one patch of the review."""
    from kvmplan.report.view import check_state

    idx = patch["index"]
    mine = patch["findings"]
    new = [f for f in mine if f["status"] in ("introduced", "transient")
           and f["introduced_by"] == idx]
    counted = [f for f in new if not f["accepted"] and not f["uncertain"]]
    uncertain = [f for f in new if f["uncertain"]]
    fixed = sorted({f["rule"] for f in mine if f["status"] == "fixed"})
    failed = patch["hunks"].get("failed", 0)

    def names(fs: list[dict[str, Any]]) -> str:
        return ", ".join(sorted({f"{f['rule']} {f['name']}" for f in fs}))

    parts: list[str] = []
    if counted:
        parts.append(f"introduces {names(counted)}")
    if uncertain:
        parts.append(f"uncertain: {names(uncertain)}")
    if failed:
        parts.append(f"{failed} hunk{'s' if failed != 1 else ''} did not apply")
    if fixed:
        parts.append(f"fixes {', '.join(fixed)}")
    if not counted and not uncertain:
        parts.insert(0, "no new lifecycle findings")
    return check_state(new, failed), "; ".join(parts)


def checks(data: dict[str, Any], name: str, target_url: str) -> list[tuple[str, str]]:
    """(path, JSON text) of a patchwork check per patch: the `check` member
    is the body of patchwork's POST /api/patches/{id}/checks/."""
    s = data["series"]
    missing = s["missing"]
    out = []
    for p in data["patches"]:
        state, description = _state(p)
        if missing:
            description += f" (series incomplete: {len(missing)} of {s['expected']} patches missing)"
        url = target_url.format(series=name, index=p["index"], version=s["version"],
                                msgid=urllib.parse.quote(p["message_id"], safe="@")) \
            if target_url else None
        doc = {
            "schema": CHECK_SCHEMA,
            "message_id": p["message_id"],
            "patch": p["label"],
            "subject": p["subject"],
            "series": name,
            "check": {"state": state, "target_url": url, "context": CONTEXT,
                      "description": description},
        }
        out.append((f"checks/{name}/{p['index']:04d}.json",
                    json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"))
    return out


def _message_id(text: str) -> str:
    msg = email.message_from_string(text, policy=compat32)
    return str(msg.get("Message-ID", "")).strip().strip("<>")


def run(job: dict[str, Any]) -> dict[str, Any]:
    from kvmplan.analyze import analyze, load_config, open_base
    from kvmplan.analyze.base import series_vendor
    from kvmplan.analyze.config import Config
    from kvmplan.mail import InputError, assemble, load_messages
    from kvmplan.model import Bounds
    from kvmplan.report import render_emails, render_json, render_markdown
    from kvmplan.report.view import review_dict

    try:
        messages, diagnostics = load_messages(job["mbox"])
        series = assemble(messages, version=job["version"], diagnostics=diagnostics)
    except InputError as exc:
        return {"status": "nothing", "reason": str(exc)}
    if not series.patches:
        return {"status": "nothing", "reason": "no patch of the series arrived"}
    base = open_base(job.get("tree"), series, job.get("baseline"))
    vendor, why = job["vendor"], "configured"
    if vendor == "auto":
        vendor, why = series_vendor(series)
    cfg = load_config(Path(job["config"])) if job.get("config") else Config()
    review = analyze(series, base, bounds=Bounds(cpus=job["cpus"], failures=job["failures"]), config=cfg,
                     vendor=vendor, jobs=job["jobs"], vendor_reason=why)
    name = outbox_name(series.title, series.version, job["key"])
    data = review_dict(review)
    outputs: list[dict[str, str]] = []
    for filename, text in render_emails(review, job["sender"]):
        stem = filename.rsplit(".", 1)[0]
        outputs.append({"path": f"maildir/new/{name}-{stem}", "kind": "reply",
                        "msgid": _message_id(text), "text": text})
    for path, text in checks(data, name, job.get("target_url", "")):
        outputs.append({"path": path, "kind": "check", "msgid": "", "text": text})
    outputs.append({"path": f"reviews/{name}.md", "kind": "review", "msgid": "",
                    "text": render_markdown(review, False, None)})
    outputs.append({"path": f"reviews/{name}.json", "kind": "review", "msgid": "",
                    "text": render_json(review, False, None)})
    summary = {"title": series.title, "version": series.version, "patches": len(series.patches),
               "missing": list(series.missing), "base": base.name, "verdict": data["verdict_text"],
               "counts": data["counts"], "replies": sum(o["kind"] == "reply" for o in outputs)}
    return {"status": "ok", "name": name, "summary": summary, "outputs": outputs}


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        sys.stderr.write("usage: python -m kvmplan.bot.worker JOBDIR\n")
        return 2
    jobdir = Path(argv[0])
    os.register_at_fork(after_in_child=die_with_parent)
    job = json.loads((jobdir / "job.json").read_text(encoding="utf-8"))
    limit_resources(job.get("max_memory_mb"), job.get("cpu_seconds"))
    result = run(job)
    tmp = jobdir / "result.json.tmp"
    tmp.write_text(json.dumps(result, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, jobdir / "result.json")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
