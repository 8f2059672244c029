"""Renderers of a Review: markdown and reply mails through jinja2 templates
(templates/), checkpatch-style text lines, JSON and SARIF 2.1.0.

All output is deterministic: sorted, no timestamps (seconds only with
timing=True), mail Message-IDs derived from the content.
"""

from __future__ import annotations

import hashlib
import json
import textwrap
from email.utils import formataddr, getaddresses
from typing import Any

import jinja2

from kvmplan.analyze.run import Review
from kvmplan.mail.series import format_ranges
from kvmplan.resources import templates_dir
from kvmplan.report.view import markdown_text, review_dict
from kvmplan.model.rules import RULES

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
FORMATS = ("markdown", "email", "text", "json", "sarif")


def _env() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates_dir())),
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                             autoescape=False)
    env.filters["ranges"] = format_ranges      # [1, 2, 4, 5, 6] -> "1-2, 4-6"
    env.filters["md"] = markdown_text          # text from mail, inert in markdown
    return env


def render_markdown(review: Review, timing: bool = False, plan: dict[str, Any] | None = None,
                    diagrams: bool = False) -> str:
    text = _env().get_template("review.md.j2").render(
        **review_dict(review, timing, plan, diagrams))
    # templates leave runs of blank lines where blocks are skipped
    out: list[str] = []
    for line in text.split("\n"):
        if line.strip() == "" and out and out[-1] == "":
            continue
        out.append(line.rstrip())
    return "\n".join(out).strip("\n") + "\n"


def render_json(review: Review, timing: bool = False, plan: dict[str, Any] | None = None,
                diagrams: bool = False) -> str:
    data = review_dict(review, timing, plan)
    for key in ("introduced", "fixed", "pre_existing"):
        data.pop(key)          # views of findings[], for the templates
    for p in data["patches"]:
        p["findings"] = [f["fingerprint"] for f in p["findings"]]
    for f in data["findings"]:
        f.pop("mermaid")       # a picture of the trace, which is here already
        if f["hunk"]:
            f["hunk"].pop("fence")     # markdown's concern
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def render_text(review: Review, timing: bool = False, plan: dict[str, Any] | None = None,
                diagrams: bool = False) -> str:
    """checkpatch --terse style: FILE:LINE: SEVERITY: CODE: message."""
    data = review_dict(review, timing)
    out = []
    for f in data["findings"]:
        loc = f["location"]
        tag = {"introduced": f"introduced by {f['patch_label']}",
               "transient": f"introduced by {f['introduced_label']}, fixed by {f['fixed_label']}",
               "fixed": f"fixed by {f['patch_label']}",
               "pre-existing": "pre-existing"}[f["status"]]
        acc = ("; accepted" if f["accepted"] else "") + ("; uncertain" if f["uncertain"] else "")
        out.append(f"{loc['file']}:{loc['line']}: {f['severity']}: {f['rule']}: "
                   f"[{tag}{acc}] {f['message']}")
    a = data["apply"]
    out.append(f"verdict: {data['verdict_text']}")
    c = data["counts"]
    aside = ", ".join(f"{c[k]} {k}" for k in ("uncertain", "accepted") if c[k])
    out.append(f"total: {c['introduced'] + c['transient']} introduced, "
               f"{c['fixed']} fixed, {c['pre-existing']} pre-existing"
               + (f" ({aside})" if aside else "") + "; "
               f"hunks {a['exact']} exact, {a['offset']} offset, {a['fuzz']} fuzz, "
               f"{a['present']} present, {a['failed']} failed; base {data['base']['name']}")
    return "\n".join(out) + "\n"


# --- SARIF 2.1.0 --------------------------------------------------------

_LEVEL = {"error": "error", "warning": "warning", "note": "note"}
_BASELINE = {"introduced": "new", "transient": "absent", "fixed": "absent",
             "pre-existing": "unchanged"}
# Findings absent after the series are not alerts for code scanning: a
# fixed one passes, one introduced and fixed again within the series is
# information (bisection). Their level is "none", as SARIF requires for a
# kind other than "fail".
_KIND = {"fixed": "pass", "transient": "informational"}


def render_sarif(review: Review, timing: bool = False, plan: dict[str, Any] | None = None,
                 diagrams: bool = False) -> str:
    data = review_dict(review, timing)
    used = sorted({f["rule"] for f in data["findings"]})
    rules = []
    for code in used:
        r = RULES[code]
        rules.append({
            "id": code, "name": r.name,
            "shortDescription": {"text": r.summary},
            "fullDescription": {"text": r.what},
            "help": {"text": r.fix},
            "defaultConfiguration": {"level": _LEVEL.get(r.severity, "warning")},
        })
    index = {code: i for i, code in enumerate(used)}
    results = []
    for f in data["findings"]:
        loc = f["location"]
        threads: dict[str, list[dict[str, Any]]] = {}
        for s in f["trace"]:
            step: dict[str, Any] = {"executionOrder": s["step"],
                                    "location": {"message": {"text": s["event"]}}}
            if s["file"]:
                step["location"]["physicalLocation"] = {
                    "artifactLocation": {"uri": s["file"], "uriBaseId": "SRCROOT"},
                    "region": {"startLine": max(s["line"], 1)}}
                step["location"]["logicalLocations"] = [{"name": s["function"],
                                                         "kind": "function"}]
            threads.setdefault(f"{s['thread']}", []).append(step)
        result: dict[str, Any] = {
            "ruleId": f["rule"], "ruleIndex": index[f["rule"]],
            "kind": _KIND.get(f["status"], "fail"),
            "level": ("none" if f["status"] in _KIND else
                      "note" if f["uncertain"] else _LEVEL.get(f["severity"], "warning")),
            "message": {"text": f"[{f['status_text']}] {f['message']}"},
            "locations": [{
                "physicalLocation": {
                    "artifactLocation": {"uri": loc["file"], "uriBaseId": "SRCROOT"},
                    "region": {"startLine": max(loc["line"], 1)}},
                "logicalLocations": [{"name": loc["function"], "kind": "function"}]}],
            "codeFlows": [{"threadFlows": [{"id": name, "locations": steps}
                                           for name, steps in threads.items()]}],
            "partialFingerprints": {"kvmplanFinding/v1": f["fingerprint"]},
            "baselineState": _BASELINE[f["status"]],
            "properties": {"status": f["status"], "introducedBy": f["introduced_by"],
                           "fixedBy": f["fixed_by"], "linesAfterPatch": f["lines_after"],
                           "uncertain": f["uncertain"]},
        }
        if f["accepted"]:
            result["suppressions"] = [{"kind": "external", "status": "accepted",
                                       "justification": f["accepted"]}]
        results.append(result)
    sarif = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "kvmplan", "version": data["tool"]["version"],
                                "informationUri": "https://example.invalid/kvmplan",
                                "rules": rules}},
            "originalUriBaseIds": {"SRCROOT": {"description": {
                "text": f"the kernel tree: {data['base']['name']}"}}},
            "automationDetails": {"id": _automation_id(data["series"])},
            "invocations": [_invocation(data)],
            "results": results,
            "properties": {"apply": data["apply"], "base": data["base"],
                           "series": data["series"]},
        }],
    }
    return json.dumps(sarif, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _automation_id(series: dict[str, Any]) -> str:
    """Stable across the versions of one series, so code scanning compares
    v2 with v1: its change-id when it has one, else its title."""
    key = series.get("change_id") or " ".join(str(series["title"]).split())
    return f"kvmplan/{key}/"


def _invocation(data: dict[str, Any]) -> dict[str, Any]:
    """An inconclusive verdict is a run that did not judge the series."""
    inv: dict[str, Any] = {"executionSuccessful": data["verdict"] != "inconclusive"}
    if data["verdict"] == "inconclusive":
        inv["toolExecutionNotifications"] = [{
            "level": "warning", "descriptor": {"id": "inconclusive"},
            "message": {"text": f"inconclusive: {data['verdict_reason']}"}}]
    return inv


# --- reply mails -------------------------------------------------------

def _wrap(text: str, width: int = 72) -> str:
    out: list[str] = []
    for line in text.split("\n"):
        if len(line) <= width or line.startswith(">") or line == "-- ":
            out.append(line)
            continue
        indent = len(line) - len(line.lstrip(" "))
        lead = " " * indent
        # numbered trace steps hang under their text
        hang = lead + "   " if line.lstrip()[:1].isdigit() else lead
        out.extend(textwrap.wrap(line, width=width, initial_indent="", subsequent_indent=hang,
                                 break_long_words=False, break_on_hyphens=False) or [""])
    return "\n".join(out)


def _header_list(addrs: list[str]) -> str:
    seen: list[tuple[str, str]] = []
    for name, addr in getaddresses(addrs):
        if addr and all(addr.lower() != a.lower() for _, a in seen):
            seen.append((name, addr))
    return ",\n ".join(formataddr(p) for p in seen)


def render_emails(review: Review, sender: str = "kvmplan <kvmplan@localhost>") -> list[tuple[str, str]]:
    """(file name, .eml text) for each reply: one per patch with findings, one
    to the cover letter (or the first patch) for series-level results."""
    data = review_dict(review)
    env = _env()
    body_t = env.get_template("reply.txt.j2")
    s = review.series
    mails: list[tuple[str, str]] = []
    for p, pd in zip(s.patches, data["patches"]):
        findings = pd["findings"]
        if not findings:
            continue
        body = body_t.render({**data, "findings": findings, "summary": "",
                              "attribution": f"On {p.date}, {p.sender or p.author} wrote:"})
        mails.append((f"{p.index:04d}-reply.eml",
                      _mail(sender, p.subject, p.message_id, p.references, p.sender or p.author,
                            list(p.to) + list(p.cc) + ([p.author] if p.author != p.sender else []),
                            body)))
    # series-level reply
    summary = _series_summary(data)
    if s.cover is not None:
        c = s.cover
        target = (c.subject, c.message_id, c.references, c.author, list(c.to) + list(c.cc), c.date)
    elif s.patches:
        p = s.patches[0]
        target = (p.subject, p.message_id, p.references, p.sender or p.author,
                  list(p.to) + list(p.cc), p.date)
    else:
        return mails
    body = body_t.render({**data, "findings": [], "summary": summary,
                          "attribution": f"On {target[5]}, {target[3]} wrote:\n> {target[0]}"})
    mails.insert(0, ("0000-series.eml", _mail(sender, target[0], target[1], target[2],
                                              target[3], target[4], body)))
    return mails


def _series_summary(data: dict[str, Any]) -> str:
    a = data["apply"]
    n = data["series"]["patches"]
    lines = [
        "kvmplan ran the series through its model of KVM's virtualization "
        "lifecycle, " + (f"after each of the {n} patches." if n != 1 else "after its one patch."),
        "",
        f"Verdict: {data['verdict_text']}.",
        f"Base: {data['base']['name']} ({data['base']['reason']}); lines as of "
        f"{data['base']['lines']}." + (f" {data['base']['note']}" if data['base']['note'] else ""),
        f"Hunks: {a['exact']} exact, {a['offset']} at an offset, {a['fuzz']} with fuzz, "
        f"{a['present']} already present, {a['failed']} failed.",
        "",
    ]
    missing = data["series"]["missing"]
    if missing:
        lines[-1:-1] = [f"Incomplete: patch{'es' if len(missing) != 1 else ''} "
                        f"{format_ranges(missing)} of {data['series']['expected']} did not "
                        f"arrive; the series was judged without them."]
    for title, key in (("Introduced", "introduced"), ("Fixed", "fixed"),
                       ("Pre-existing (unchanged by the series)", "pre_existing")):
        items = data[key]
        if not items:
            continue
        lines.append(f"{title}:")
        for f in items:
            where = f"patch {f['patch_label']}" if f["patch"] else "base"
            lines.append(f"  {f['rule']} {f['name']} in {f['location']['function']}() "
                         f"({where}): {f['message']}")
        lines.append("")
    return "\n".join(lines).rstrip("\n")


def _encoded(value: str) -> str:
    if value.isascii():
        return value
    from email.header import Header
    return Header(value, "utf-8").encode()


def _mail(sender: str, subject: str, in_reply_to: str, references: tuple[str, ...],
          to: str, cc: list[str], body: str) -> str:
    subj = subject if subject.lower().startswith("re:") else f"Re: {subject}"
    refs = list(references) + ([in_reply_to] if in_reply_to not in references else [])
    text = _wrap(body)
    digest = hashlib.sha256(f"{in_reply_to}\0{text}".encode()).hexdigest()[:24]
    domain = sender.rsplit("@", 1)[-1].rstrip(">") if "@" in sender else "localhost"
    cc_list = [c for c in cc if c and getaddresses([c])[0][1].lower()
               != getaddresses([to])[0][1].lower()]
    headers = [
        f"From: {sender}",
        f"To: {_header_list([to])}",
    ]
    if cc_list:
        headers.append(f"Cc: {_header_list(cc_list)}")
    headers += [
        f"Subject: {_encoded(subj)}",
        f"Message-ID: <kvmplan-{digest}@{domain}>",
        f"In-Reply-To: <{in_reply_to}>",
        "References: " + "\n ".join(f"<{r}>" for r in refs),
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
        "X-Mailer: kvmplan",
    ]
    return "\n".join(headers) + "\n\n" + text.rstrip("\n") + "\n"


RENDERERS = {"markdown": render_markdown, "text": render_text, "json": render_json,
             "sarif": render_sarif}
